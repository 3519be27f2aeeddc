"""A batch's sequences decoded in parallel by several processes, one per core.

A compiled generation step of a small model runs fastest on one thread
(`common.threads`), so one process uses one core; a batch of 4 WaveNet
sequences then runs at about 11-12 k samples/s per sequence on the 2 cores
here, short of real time at 16 kHz. Two Python threads in one process do
not help: XLA:CPU runs each computation's work on TensorFlow's intra-op
pool, which both calls share (measured: 1.1 cores busy, no gain). Two
processes, each with its own pool and half the rows, do: 15-18 k per
sequence (README, "Performance").

`ProcessGenerator` is a `common.generator.Generator` like the family's own,
so every tool can use it unchanged:

    gen = ProcessGenerator(model, config, processes=2)
    codes = generator.generate(gen, request, num_samples)
    gen.close()

- `processes` counts this process: it decodes the last (smallest) group
  of rows itself while `processes - 1` spawned workers (not forked:
  TensorFlow is not fork-safe) decode the others. Each worker builds the
  model from the config and the weights it is sent (no checkpoint is read
  again) and the family's generator, with `threads` intra-op threads.
- A block splits the state's rows into contiguous groups
  (`common.state_rows`; a single group is decoded here, with no transfer)
  and joins the answers. The state stays explicit, held by the caller as
  numpy arrays: a state stays valid and any row set may be decoded. It
  travels through one shared memory block per worker (the shipped
  WaveNets' queues are ~0.5 MB per sequence: pickled through the pipe,
  they cost ~5 ms per block, a sixth of a live 512-sample block); the pipe
  carries the rest.
- Codes are those of the family's generator in one process: the noise of a
  sample depends only on (seed, position), never on the batch.
- A worker that dies or fails stops the block with one line
  (`WorkerError`) and closes the generator; a `RequestError` raised in a
  worker is raised as such (the workers go on).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
from multiprocessing import shared_memory
from typing import Any

import numpy as np

from common import generator as generator_lib
from common import state_rows

START_SECONDS = 600.0  # a worker's import, build and first answer


class WorkerError(RuntimeError):
  """A generation worker died or failed (one line)."""


def default_processes(num_seqs: int) -> int:
  """One decoding process per core, at most one per sequence."""
  return max(1, min(num_seqs, os.cpu_count() or 1))


@dataclasses.dataclass(frozen=True)
class _Slot:
  """Where one array of a state lies in a shared memory block."""
  offset: int
  shape: tuple[int, ...]
  dtype: str


def _nbytes(tensors: Any) -> int:
  """Bytes `_write` needs for a structure of arrays (64-byte aligned)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return sum(-(-np.asarray(a).nbytes // 64) * 64
             for a in tf.nest.flatten(tensors))


def _write(tensors: Any, memory: Any) -> Any:
  """Copies a structure of arrays into `memory` (a SharedMemory of at least
  `_nbytes`); returns the same structure of `_Slot`s."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  slots, offset = [], 0
  for tensor in tf.nest.flatten(tensors):
    array = np.asarray(tensor)
    np.ndarray(array.shape, array.dtype, memory.buf, offset)[...] = array
    slots.append(_Slot(offset, array.shape, array.dtype.str))
    offset += -(-array.nbytes // 64) * 64
  return tf.nest.pack_sequence_as(tensors, slots)


def _read(slots: Any, memory: Any) -> Any:
  """The arrays `_write` put in `memory` (copies: the block is reused)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf.nest.map_structure(
      lambda s: np.ndarray(s.shape, np.dtype(s.dtype), memory.buf,
                           s.offset).copy(), slots)


def _worker(connection: Any, config: dict, weights: list, threads: int
            ) -> None:
  """A worker's loop: build the generator, then serve blocks. A block's
  state comes and goes through the shared memory block the parent names;
  the pipe carries only small messages."""
  # pylint: disable=g-import-not-at-top
  import signal
  # Ctrl-C reaches the whole process group: the parent stops the workers
  # (`close`; daemons end with it, and a worker whose parent is gone ends
  # at its pipe's end of file).
  signal.signal(signal.SIGINT, signal.SIG_IGN)
  import tensorflow as tf
  if threads:  # before TensorFlow's first operation (0: its default)
    tf.config.threading.set_intra_op_parallelism_threads(threads)
  from common import family as family_lib
  from common import model_api
  try:
    family = family_lib.of_config(config)
    model = model_api.build(family.build_model(config))
    model.set_weights(weights)
    gen = family.generator(model, config)
    connection.send(("ready", None))
  except Exception as e:  # pylint: disable=broad-except
    connection.send(("error", f"{type(e).__name__}: {e}"))
    return
  memory = None
  while True:
    try:
      kind, payload = connection.recv()
    except (EOFError, KeyboardInterrupt):
      return
    if kind == "stop":
      return
    try:
      if kind == "weights":
        model.set_weights(payload)
        gen.refresh()
        connection.send(("ok", None))
        continue
      name, state, num_samples, embeddings = payload
      if memory is None or memory.name != name:
        if memory is not None:
          memory.close()
        memory = shared_memory.SharedMemory(name=name)  # the parent's
      state = state.replace(tensors=_read(state.tensors, memory))
      codes, state = gen.next_block(state, num_samples, embeddings)
      if _nbytes(state.tensors) > memory.size:
        raise RuntimeError("the state grew beyond its shared memory")
      connection.send(("ok", (codes, state.replace(
          tensors=_write(state.tensors, memory)))))
    except generator_lib.RequestError as e:
      connection.send(("request_error", str(e)))
    except Exception as e:  # pylint: disable=broad-except
      connection.send(("error", f"{type(e).__name__}: {e}"))


class ProcessGenerator(generator_lib.Generator):
  """The family's generator of `model`, with each block's rows split over
  `processes` worker processes (see the module doc).

  Args:
    model: a built model of any family.
    config: its config.
    processes: decoding processes, this one included (>= 1: this one
      and `processes - 1` workers; `default_processes` is one per core).
    threads: intra-op threads of each worker (`common.threads`; 1 is
      fastest for small models); this process keeps its own setting.

  Raises:
    WorkerError: a worker could not start.
  """

  def __init__(self, model: Any, config: dict, processes: int,
               threads: int = 1):
    # pylint: disable=g-import-not-at-top
    from common import family as family_lib
    if processes < 1:
      raise ValueError(f"processes must be >= 1, got {processes}")
    self._local = family_lib.of_config(config).generator(model, config)
    for name in ("sample_rate", "q_levels", "quantization", "block_multiple",
                 "block_samples", "samples_per_frame", "embedding_width",
                 "can_prime"):
      setattr(self, name, getattr(self._local, name))
    self._model = model
    self._axes: Any = None
    context = multiprocessing.get_context("spawn")
    weights = model.get_weights()
    self._workers: list[tuple[Any, Any]] = []
    self._memories: list[Any] = [None] * (processes - 1)
    self._closed = False
    try:
      for _ in range(processes - 1):
        parent, child = context.Pipe()
        process = context.Process(target=_worker, daemon=True,
                                  args=(child, config, weights, threads))
        process.start()
        child.close()
        self._workers.append((process, parent))
      for index in range(processes - 1):
        self._answer(index, START_SECONDS)
    except BaseException:
      self.close()
      raise

  @property
  def processes(self) -> int:
    """Decoding processes, this one included."""
    return len(self._workers) + 1

  def __enter__(self) -> ProcessGenerator:
    return self

  def __exit__(self, *unused: Any) -> None:
    self.close()

  def close(self) -> None:
    """Stops the workers (idempotent)."""
    for process, connection in self._workers:
      try:
        connection.send(("stop", None))
      except (OSError, ValueError):
        pass
    for process, connection in self._workers:
      process.join(timeout=10)
      if process.is_alive():
        process.kill()
        process.join()
      connection.close()
    self._workers = []
    self._closed = True
    for memory in self._memories:
      if memory is not None:
        memory.close()
        memory.unlink()
    self._memories = []

  def __del__(self) -> None:
    try:
      self.close()
    except Exception:  # pylint: disable=broad-except
      pass

  def _answer(self, index: int, timeout: float | None = None) -> Any:
    """Worker `index`'s next answer's payload, or its error raised."""
    process, connection = self._workers[index]
    try:
      if timeout is not None and not connection.poll(timeout):
        raise WorkerError(f"generation worker {index} did not answer in "
                          f"{timeout:.0f} s")
      kind, payload = connection.recv()
    except (EOFError, OSError):
      process.join(timeout=5)
      raise WorkerError(f"generation worker {index} died (exit code "
                        f"{process.exitcode})") from None
    if kind == "request_error":
      raise generator_lib.RequestError(payload)
    if kind == "error":
      raise WorkerError(f"generation worker {index}: {payload}")
    return payload

  def start(self, request: generator_lib.Request) -> generator_lib.State:
    """The family's start state (made here: it is cheap)."""
    return self._local.start(request)

  def next_block(self, state: generator_lib.State, num_samples: int,
                 embeddings: np.ndarray | None = None
                 ) -> tuple[np.ndarray, generator_lib.State]:
    """See `common.generator.Generator.next_block`."""
    if self._closed:
      raise WorkerError("the generation workers are closed")
    # Contiguous groups, largest first: the workers take the first ones and
    # this process, which also runs its caller's Python, the last (3 rows
    # over 2 processes: 2 in the worker, 1 here).
    groups = [list(g) for g in np.array_split(
        np.arange(state.num_seqs), min(self.processes, state.num_seqs))]
    if len(groups) == 1:  # nothing to share: no transfer
      return self._local.next_block(state, num_samples, embeddings)
    axes = self._batch_axes()
    frames = [None if embeddings is None else np.asarray(embeddings)[group]
              for group in groups]
    try:
      for index, group in enumerate(groups[:-1]):  # the workers' groups
        part = state_rows.take_rows(state, group, axes)
        memory = self._memory(index, _nbytes(part.tensors))
        part = part.replace(tensors=_write(part.tensors, memory))
        try:
          self._workers[index][1].send(
              ("block", (memory.name, part, num_samples, frames[index])))
        except OSError:
          self._answer(index)  # raises: it died
      error, answers = None, []
      try:  # the last group here, while the workers decode theirs
        local = self._local.next_block(
            state_rows.take_rows(state, groups[-1], axes), num_samples,
            frames[-1])
      except generator_lib.RequestError as e:
        error, local = e, None
      for index in range(len(groups) - 1):  # every answer read, even
        try:                                # after a refused request
          codes, part = self._answer(index)
          answers.append((codes, part.replace(
              tensors=_read(part.tensors, self._memories[index]))))
        except generator_lib.RequestError as e:
          error = error or e
      if local is not None:
        answers.append(local)
    except WorkerError:
      self.close()  # the others' answers would be out of step
      raise
    if error is not None:
      raise error
    codes = np.concatenate([c for c, _ in answers], axis=0)
    return codes, state_rows.concat_rows([s for _, s in answers], axes)

  def _memory(self, index: int, nbytes: int) -> Any:
    """Worker `index`'s shared memory block, of at least `nbytes` (a
    larger one made, and the old one freed, when a state outgrows it)."""
    memory = self._memories[index]
    if memory is None or memory.size < nbytes:
      if memory is not None:
        memory.close()
        memory.unlink()  # (the worker's mapping stays until it moves on)
      memory = shared_memory.SharedMemory(create=True,
                                          size=max(nbytes, 4096) * 3 // 2)
      self._memories[index] = memory
    return memory

  def _batch_axes(self) -> Any:
    """The batch axis of each of the family's state tensors (found once)."""
    if self._axes is None:
      embeddings = None
      if self.conditioned:
        embeddings = np.zeros([1, 1, int(self.embedding_width or 0)],
                              np.float32)
      request = generator_lib.Request.make(1, embeddings=embeddings)
      self._axes = state_rows.batch_axes(self._local, request)
    return self._axes

  def refresh(self) -> None:
    """Re-reads the model's weights here and in every worker."""
    self._local.refresh()
    weights = self._model.get_weights()
    for _, connection in self._workers:
      connection.send(("weights", weights))
    for index in range(len(self._workers)):
      self._answer(index)

  def encode(self, codes: np.ndarray) -> np.ndarray:
    return self._local.encode(codes)
