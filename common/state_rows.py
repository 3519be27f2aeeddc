"""A generator state's sequences (rows): find their axes, take, put, reset.

A `common.generator.State` holds a family's tensors, opaque to everyone but
its generator; what every family's tensors share is that each has at most
one batch axis. `batch_axes` finds it (by comparing the states of 1 and 2
sequences), and then any caller can decode some rows of a batch only (the
live instrument's sounding voices), restart some (a new note), or split a
batch over processes (`common.process_generator`), whatever the family.
The rows are moved with numpy (a few hundred microseconds for a WaveNet's
1 MB of queues, where eager TensorFlow ops took milliseconds): the tensors
of the states these functions return are numpy arrays, which a family's
generator takes as it takes its own tensors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from common import generator as generator_lib


def batch_axes(gen: generator_lib.Generator, request: generator_lib.Request
               ) -> Any:
  """The batch axis of each tensor of the generator's state (a structure
  like `State.tensors`: an int, or None for a tensor without one), found
  by comparing the states of 1 and 2 sequences."""
  one = gen.start(request.rows([0]))
  two = gen.start(request.rows([0, 0]))

  def axis(a: Any, b: Any) -> int | None:
    differ = [i for i, (m, n) in enumerate(zip(np.shape(a), np.shape(b)))
              if m != n]
    return differ[0] if differ else None
  return tf.nest.map_structure(axis, one.tensors, two.tensors)


def reset_rows(state: generator_lib.State, fresh: generator_lib.State,
               rows: list[int], axes: Any) -> generator_lib.State:
  """`state` with the decoder state of `rows` taken from `fresh` (a
  generator's `start` state of the same batch): those sequences start
  anew, the others go on. The position stays (noise is keyed by it).

  `axes` from `batch_axes`.
  """
  if not rows:
    return state

  def reset(current: Any, zero: Any, axis: int | None) -> Any:
    if axis is None:
      return current
    mask = np.zeros(np.shape(current)[axis], bool)
    mask[rows] = True
    shape = [1] * len(np.shape(current))
    shape[axis] = len(mask)
    return np.where(mask.reshape(shape), np.asarray(zero), np.asarray(current))
  return state.replace(tensors=tf.nest.map_structure(
      reset, state.tensors, fresh.tensors, axes))


def take_rows(state: generator_lib.State, rows: list[int], axes: Any
              ) -> generator_lib.State:
  """The sequences `rows` of `state` as a state of `len(rows)` sequences
  (`axes` from `batch_axes`); the position is shared."""

  def take(tensor: Any, axis: int | None) -> Any:
    return tensor if axis is None else np.take(np.asarray(tensor), rows, axis)
  return state.replace(
      seeds=tuple(state.seeds[r] for r in rows),
      temperatures=tuple(state.temperatures[r] for r in rows),
      tensors=tf.nest.map_structure(take, state.tensors, axes))


def put_rows(state: generator_lib.State, part: generator_lib.State,
             rows: list[int], axes: Any) -> generator_lib.State:
  """`state` with the sequences `rows` replaced by those of `part` (as
  `take_rows` gave them, then advanced), at `part`'s position: the rows
  not taken keep their tensors (they are silent, and reset before they
  sound again)."""

  def put(whole: Any, some: Any, axis: int | None) -> Any:
    if axis is None:
      return some
    updated = np.array(whole)  # a copy: `state` stays as it was
    np.moveaxis(updated, axis, 0)[rows] = np.moveaxis(np.asarray(some), axis,
                                                      0)
    return updated
  return state.replace(position=part.position, tensors=tf.nest.map_structure(
      put, state.tensors, part.tensors, axes))


def concat_rows(parts: list[generator_lib.State], axes: Any
                ) -> generator_lib.State:
  """One state of the sequences of `parts`, in order (`axes` from
  `batch_axes`; all parts at one position, as `take_rows` of one state
  advanced alike). A tensor without a batch axis is taken from the first.
  """
  def join(*tensors: Any, axis: int | None = None) -> Any:
    return tensors[0] if axis is None else np.concatenate(
        [np.asarray(t) for t in tensors], axis)
  return parts[0].replace(
      seeds=sum((p.seeds for p in parts), ()),
      temperatures=sum((p.temperatures for p in parts), ()),
      tensors=tf.nest.map_structure(
          lambda axis, *t: join(*t, axis=axis), axes,
          *[p.tensors for p in parts]))
