"""The one generator interface: a model makes codes block by block.

Every tool that makes audio goes through it: `samplernn.generate`,
`wavenet.synthesize`, the latent tools, the instrument, `eval`, the
TensorBoard audio summaries, and streams and exports. A family implements
`Generator` in its own package and names it in its plug-in
(`common.family`):

    gen = family.get("samplernn").generator(model, config)
    request = Request.make(num_seqs=2, seed=7, temperature=[0.9, 1.0])
    for codes in stream(gen, request, num_samples=48000):
      ...                                   # int32 [2, block]

or, one block at a time from an explicit state (what a live stream or an
export does):

    state = gen.start(request)
    codes, state = gen.next_block(state, gen.block_samples)

The seeding rule: sequence `i` of `Request.make(seed=s)` has the seed
`s + i`, and the noise of its sample `t` depends only on (its seed, `t`)
(`common.sampling`). So the same model, conditioning, seed and temperature
give the same codes in every tool, whatever batch a sequence is generated
in, its place in the batch and the block size. (The logits themselves are
computed in float32, and matrix products of another batch size or compile
mode may round differently; codes then agree until a sample whose two best
noisy logits lie closer than that rounding, rare enough not to meet in
tests but possible in hours of audio: see the README's "Sampling".)

A state carries the seeds and temperatures, so a stream may change them
between blocks (`state.replace(temperatures=...)`): the next block uses
them, nothing already generated changes.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, Iterator, Sequence

import numpy as np


class RequestError(ValueError):
  """A request a generator cannot serve (a user error: one line)."""


MAX_SEED = 2**32 - 1


@dataclasses.dataclass(frozen=True, eq=False)
class Request:
  """What to generate: one row per sequence.

  Attributes:
    seeds: one int per sequence, in [0, 2**32).
    temperatures: one float >= 0 per sequence (0 = argmax).
    prime_codes: int32 `[num_seqs, n]` codes to continue, or None.
    embeddings: float32 `[num_seqs, frames, width]` conditioning frames at
      `sample_rate / samples_per_frame` Hz (an autoencoder's decoder; pitch
      conditioning is part of the frame: `wavenet.latent`), or None.
  """
  seeds: tuple[int, ...]
  temperatures: tuple[float, ...]
  prime_codes: np.ndarray | None = None
  embeddings: np.ndarray | None = None

  def __post_init__(self) -> None:
    count = len(self.seeds)
    if count < 1:
      raise RequestError("a request needs at least one sequence")
    if len(self.temperatures) != count:
      raise RequestError(f"{len(self.temperatures)} temperatures for "
                         f"{count} sequences; give one or one per sequence")
    for seed in self.seeds:
      if not 0 <= int(seed) <= MAX_SEED:
        raise RequestError(f"seed {seed} is outside 0..{MAX_SEED}")
    for temperature in self.temperatures:
      if not np.isfinite(temperature) or temperature < 0:
        raise RequestError(f"temperature {temperature} must be a finite "
                           f"number >= 0")
    for name, value, rank in (("prime_codes", self.prime_codes, 2),
                              ("embeddings", self.embeddings, 3)):
      if value is not None and (value.ndim != rank or len(value) != count):
        raise RequestError(f"{name} must have rank {rank} and {count} rows, "
                           f"got shape {list(value.shape)}")

  @classmethod
  def make(cls, num_seqs: int | None = None, seed: int = 0,
           temperature: float | Sequence[float] = 1.0,
           prime_codes: Any = None, embeddings: Any = None) -> Request:
    """A request whose sequence `i` has the seed `seed + i`.

    Args:
      num_seqs: sequences; taken from `prime_codes` or `embeddings` when
        None.
      seed: the first sequence's seed.
      temperature: one float for all, or one per sequence.
      prime_codes: int `[num_seqs, n]` (or `[n]`, shared by all) codes.
      embeddings: float `[num_seqs, frames, width]`.
    """
    if prime_codes is not None:
      prime_codes = np.asarray(prime_codes, np.int32)
    if embeddings is not None:
      embeddings = np.asarray(embeddings, np.float32)
    if num_seqs is None:
      given = prime_codes if prime_codes is not None else embeddings
      if given is None:
        raise RequestError("num_seqs is needed without prime codes or "
                           "embeddings")
      num_seqs = len(given) if given.ndim > 1 else 1
    num_seqs = int(num_seqs)
    if prime_codes is not None and prime_codes.ndim == 1:
      prime_codes = np.broadcast_to(prime_codes, (num_seqs,) +
                                    prime_codes.shape).copy()
    temperatures = np.asarray(temperature, np.float64).reshape(-1)
    if temperatures.size == 1:
      temperatures = np.repeat(temperatures, num_seqs)
    return cls(seeds=tuple(int(seed) + i for i in range(num_seqs)),
               temperatures=tuple(float(t) for t in temperatures),
               prime_codes=prime_codes, embeddings=embeddings)

  @property
  def num_seqs(self) -> int:
    return len(self.seeds)

  def rows(self, index: Sequence[int] | slice) -> Request:
    """The sub-request of some sequences (their seeds stay theirs)."""
    picked = np.arange(self.num_seqs)[index]
    pick = lambda a: None if a is None else a[picked]  # noqa: E731
    return Request(seeds=tuple(self.seeds[i] for i in picked),
                   temperatures=tuple(self.temperatures[i] for i in picked),
                   prime_codes=pick(self.prime_codes),
                   embeddings=pick(self.embeddings))

  @staticmethod
  def concat(requests: Sequence[Request]) -> Request:
    """One request of all the sequences of `requests`, in order."""
    def join(name: str) -> np.ndarray | None:
      parts = [getattr(r, name) for r in requests]
      if all(p is None for p in parts):
        return None
      if any(p is None for p in parts):
        raise RequestError(f"cannot batch requests with and without {name}")
      return np.concatenate(parts)
    return Request(seeds=sum((r.seeds for r in requests), ()),
                   temperatures=sum((r.temperatures for r in requests), ()),
                   prime_codes=join("prime_codes"),
                   embeddings=join("embeddings"))


def parse_temperatures(text: str | float, count: int) -> tuple[float, ...]:
  """`"0.9"` or `"0.9,1.0,..."` (one per sequence) -> `count` floats.

  Raises:
    RequestError: not numbers, a count other than 1 or `count`, or < 0.
  """
  try:
    values = [float(v) for v in str(text).split(",") if v.strip()]
  except ValueError:
    raise RequestError(f"temperature {text!r} is not a number or a "
                       f"comma-separated list of numbers") from None
  if len(values) == 1:
    values = values * count
  if len(values) != count:
    raise RequestError(f"{len(values)} temperatures for {count} sequences; "
                       f"give one value or one per sequence")
  if any(not np.isfinite(v) or v < 0 for v in values):
    raise RequestError(f"temperatures must be finite and >= 0, got {text}")
  return tuple(values)


@dataclasses.dataclass(frozen=True)
class State:
  """Where a batch of sequences stands between two blocks.

  Attributes:
    position: samples generated so far per sequence (the index of the next
      sample: its noise is keyed by it).
    seeds: the sequences' seeds, `[num_seqs]` ints.
    temperatures: `[num_seqs]` floats, used by the next block.
    tensors: the family's loop state (a `tf.nest` structure of tensors:
      RNN states and the last frame of codes; a WaveNet's queues), opaque to
      everyone but its generator.
  """
  position: int
  seeds: tuple[int, ...]
  temperatures: tuple[float, ...]
  tensors: Any

  @property
  def num_seqs(self) -> int:
    return len(self.seeds)

  def replace(self, **changes: Any) -> State:
    """A copy with some fields changed (e.g. new temperatures)."""
    return dataclasses.replace(self, **changes)


class Generator(abc.ABC):
  """A family's generator for one model (subclasses fill in the blanks).

  Attributes:
    sample_rate: Hz.
    q_levels: codes per sample.
    quantization: the companding of the codes (`common.quantization`).
    block_multiple: a block's length (but the last of a `stream`) is a
      multiple of this (SampleRNN: the top frame size; an autoencoder: its
      hop length; 1 otherwise).
    block_samples: the default block length (about a second or less), a
      multiple of `block_multiple`.
    samples_per_frame: samples per conditioning frame (autoencoder), else None.
    embedding_width: width of a conditioning frame, or None (unconditional).
    can_prime: whether `Request.prime_codes` is supported.
  """
  sample_rate: int
  q_levels: int
  quantization: str
  block_multiple: int = 1
  block_samples: int = 4096
  samples_per_frame: int | None = None
  embedding_width: int | None = None
  can_prime: bool = False

  @property
  def conditioned(self) -> bool:
    """True if every request needs `embeddings` (an autoencoder)."""
    return self.embedding_width is not None

  @abc.abstractmethod
  def start(self, request: Request) -> State:
    """The state before the first generated sample (primed if asked).

    Raises:
      RequestError: the request does not fit this model.
    """

  @abc.abstractmethod
  def next_block(self, state: State, num_samples: int,
                 embeddings: np.ndarray | None = None
                 ) -> tuple[np.ndarray, State]:
    """Generates the next `num_samples` samples of every sequence.

    Args:
      state: from `start` or the previous `next_block`.
      num_samples: a multiple of `block_multiple`.
      embeddings: for a conditioned model, the frames covering this
        block's samples (`frame_span`), float32 `[num_seqs, frames,
        width]`: `num_samples // samples_per_frame` frames when the block
        starts on a frame boundary.

    Returns:
      (int32 codes `[num_seqs, num_samples]`, the state after them). The
      given state stays valid (a caller may go on from it again).
    """

  def refresh(self) -> None:
    """Re-reads the model's weights (after training changed them)."""

  def encode(self, codes: np.ndarray) -> np.ndarray:
    """An autoencoder's embeddings `[batch, frames, width]` of int32 codes
    `[batch, samples]`."""
    raise RequestError("this model has no encoder")

  def check(self, request: Request, num_samples: int) -> None:
    """Raises RequestError unless this generator can serve the request."""
    if request.prime_codes is not None and not self.can_prime:
      raise RequestError("this model cannot continue primed audio")
    if self.conditioned:
      if request.embeddings is None:
        raise RequestError(f"this model decodes embeddings [num_seqs, "
                           f"frames, {self.embedding_width}]; none given")
      hop = self.samples_per_frame or 1
      frames = -(-num_samples // hop)
      if request.embeddings.shape[2] != self.embedding_width:
        raise RequestError(f"embeddings are {request.embeddings.shape[2]} "
                           f"wide; this model's are {self.embedding_width}")
      if request.embeddings.shape[1] < frames:
        raise RequestError(f"{num_samples} samples need {frames} frames of "
                           f"embeddings ({hop} samples each), got "
                           f"{request.embeddings.shape[1]}")
    elif request.embeddings is not None:
      raise RequestError("an unconditional model takes no embeddings")


def frame_span(position: int, num_samples: int,
               samples_per_frame: int) -> tuple[int, int]:
  """The conditioning frames `[first, end)` that samples `position ..
  position + num_samples - 1` fall in (frame `f` covers samples `f * hop ..
  (f + 1) * hop - 1`)."""
  first = position // samples_per_frame
  end = -(-(position + num_samples) // samples_per_frame)
  return first, end


def block_lengths(num_samples: int, block_samples: int,
                  multiple: int) -> list[int]:
  """Lengths of the blocks that make `num_samples`, each a multiple of
  `multiple` (the last rounded up: `stream` trims what is past the end)."""
  if block_samples < multiple or block_samples % multiple:
    raise RequestError(f"block_samples {block_samples} must be a positive "
                       f"multiple of {multiple}")
  total = -(-int(num_samples) // multiple) * multiple
  return [min(block_samples, total - start)
          for start in range(0, total, block_samples)]


def stream(gen: Generator, request: Request, num_samples: int,
           block_samples: int | None = None) -> Iterator[np.ndarray]:
  """Yields int32 codes `[num_seqs, block]` until `num_samples` are out.

  Memory does not grow with `num_samples`. An autoencoder's block gets its
  slice of `request.embeddings`.
  """
  gen.check(request, num_samples)
  state = gen.start(request)
  hop = gen.samples_per_frame or 1
  embeddings = request.embeddings
  remaining = int(num_samples)
  for length in block_lengths(num_samples, block_samples or gen.block_samples,
                              gen.block_multiple):
    frames = None
    if embeddings is not None:
      first, end = frame_span(state.position, length, hop)
      frames = embeddings[:, first:end]
    codes, state = gen.next_block(state, length, frames)
    yield codes[:, :remaining]
    remaining -= length


def generate(gen: Generator, request: Request, num_samples: int,
             block_samples: int | None = None) -> np.ndarray:
  """All codes at once, int32 `[num_seqs, num_samples]` (see `stream`)."""
  return np.concatenate(list(stream(gen, request, num_samples,
                                    block_samples)), axis=1)
