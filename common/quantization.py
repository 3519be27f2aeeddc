"""Quantization of audio to integer codes: mu-law (default), A-law and linear.

Every function accepts a NumPy array or a `tf.Tensor` and returns the same
kind. Both paths compute in float64 so that they give the same codes.

Conventions, for `q_levels` codes `0 .. q_levels - 1`:

- Audio is float in [-1, 1]; values outside are clipped; NaN/Inf raise.
- A companding curve `compress` maps [-1, 1] to y in [-1, 1]:
  - mu-law (mu = q_levels - 1): `y = sign(x) * ln(1 + mu|x|) / ln(1 + mu)`,
    the curve `librosa.mu_compress(x, quantize=False)` computes.
  - A-law (A = 87.6): `y = sign(x) * A|x| / (1 + ln A)` for `|x| < 1/A`,
    else `sign(x) * (1 + ln(A|x|)) / (1 + ln A)`.
  - linear: `y = x`.
- y is rounded to the nearest of `q_levels` evenly spaced values:
  `code = floor((y + 1) / 2 * (q_levels - 1) + 0.5)`; decoding maps a code back
  to `y = 2 * code / (q_levels - 1) - 1` and expands it. So encode→decode is
  within half a step (1 / (q_levels - 1)) of x on the companded curve, and
  decode→encode returns the code.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import sys
from typing import Any, Callable

import numpy as np

KINDS = ("mu_law", "a_law", "linear")
A_LAW_A = 87.6

# A NumPy array or a `tf.Tensor` (TensorFlow has no type stubs).
Signal = Any


def _check_kind(kind: str, q_levels: int) -> None:
  if kind not in KINDS:
    raise ValueError(f"unknown quantization {kind!r}; expected one of {KINDS}")
  if int(q_levels) < 2:
    raise ValueError(f"q_levels must be at least 2, got {q_levels}")


@dataclasses.dataclass(frozen=True)
class _Ops:
  """The handful of math ops the curves need: NumPy's or TensorFlow's."""
  sign: Callable[..., Any]
  abs: Callable[..., Any]
  log1p: Callable[..., Any]
  log: Callable[..., Any]
  exp: Callable[..., Any]
  where: Callable[..., Any]
  maximum: Callable[..., Any]


_NUMPY_OPS = _Ops(sign=np.sign, abs=np.abs, log1p=np.log1p, log=np.log,
                  exp=np.exp, where=np.where, maximum=np.maximum)


@functools.cache
def _tf_ops(tf: Any) -> _Ops:
  """The same ops for TF float64 tensors (`tf`: the tensorflow module)."""
  return _Ops(sign=tf.sign, abs=tf.abs, log1p=tf.math.log1p, log=tf.math.log,
              exp=tf.exp, where=tf.where, maximum=tf.maximum)


def _tf_if_tensor(value: Any) -> Any:
  """The tensorflow module if `value` is a tf.Tensor, else None.

  TensorFlow is not imported here: if it is not loaded yet, `value` cannot be
  a tensor (so corpus-preparation workers stay light).
  """
  tf = sys.modules.get("tensorflow")
  return tf if tf is not None and tf.is_tensor(value) else None


def _compress(x: Signal, kind: str, q_levels: int, ops: _Ops) -> Signal:
  """Companding curve: x in [-1, 1] -> y in [-1, 1] (float64)."""
  if kind == "mu_law":
    mu = float(q_levels - 1)
    return ops.sign(x) * ops.log1p(mu * ops.abs(x)) / math.log1p(mu)
  if kind == "a_law":
    a = A_LAW_A
    ax = ops.abs(x)
    small = a * ax / (1.0 + math.log(a))
    large = (1.0 + ops.log(ops.maximum(a * ax, 1.0))) / (1.0 + math.log(a))
    return ops.sign(x) * ops.where(ax < 1.0 / a, small, large)
  return x


def _expand(y: Signal, kind: str, q_levels: int, ops: _Ops) -> Signal:
  """Inverse of `_compress`: y in [-1, 1] -> x in [-1, 1] (float64)."""
  if kind == "mu_law":
    mu = float(q_levels - 1)
    return ops.sign(y) * (ops.exp(ops.abs(y) * math.log1p(mu)) - 1.0) / mu
  if kind == "a_law":
    a = A_LAW_A
    ay = ops.abs(y)
    lna1 = 1.0 + math.log(a)
    small = ay * lna1 / a
    large = ops.exp(ay * lna1 - 1.0) / a
    return ops.sign(y) * ops.where(ay < 1.0 / lna1, small, large)
  return y


def _curve(curve: Callable[[Signal, str, int, _Ops], Signal], values: Signal,
           kind: str, q_levels: int) -> Signal:
  """`curve` on float64 `values` clipped to [-1, 1], NumPy or TF alike."""
  _check_kind(kind, q_levels)
  tf = _tf_if_tensor(values)
  if tf:
    x = tf.clip_by_value(tf.cast(values, tf.float64), -1.0, 1.0)
    return curve(x, kind, q_levels, _tf_ops(tf))
  x = np.clip(np.asarray(values, np.float64), -1.0, 1.0)
  return curve(x, kind, q_levels, _NUMPY_OPS)


def compress(audio: Signal, kind: str = "mu_law",
             q_levels: int = 256) -> Signal:
  """The companding curve alone (no rounding), float64 in [-1, 1].

  Args:
    audio: float array or tensor, any shape, values in [-1, 1].
  """
  return _curve(_compress, audio, kind, q_levels)


def expand(companded: Signal, kind: str = "mu_law",
           q_levels: int = 256) -> Signal:
  """The inverse of `compress`, float64 amplitudes in [-1, 1].

  Args:
    companded: float array or tensor, any shape, values in [-1, 1].
  """
  return _curve(_expand, companded, kind, q_levels)


def encode(audio: Signal, kind: str = "mu_law",
           q_levels: int = 256) -> Signal:
  """Audio -> integer codes.

  Args:
    audio: float array or `tf.Tensor` of any shape (e.g. `[samples]` or
      `[batch, samples]`), nominally in [-1, 1]; values outside are clipped.
    kind: "mu_law", "a_law" or "linear".
    q_levels: number of codes.

  Returns:
    int32 codes in `[0, q_levels)`, same shape and same kind (NumPy/TF).

  Raises:
    ValueError (NumPy) / InvalidArgumentError (TF): audio has NaN or Inf.
  """
  _check_kind(kind, q_levels)
  steps = float(q_levels - 1)
  tf = _tf_if_tensor(audio)
  if tf:
    x = tf.cast(audio, tf.float64)
    x = tf.debugging.assert_all_finite(x, "audio contains NaN or Inf")
    y = _compress(tf.clip_by_value(x, -1.0, 1.0), kind, q_levels,
                  _tf_ops(tf))
    return tf.cast(tf.floor((y + 1.0) / 2.0 * steps + 0.5), tf.int32)
  x = np.asarray(audio, np.float64)
  if not np.all(np.isfinite(x)):
    raise ValueError("audio contains NaN or Inf")
  y = _compress(np.clip(x, -1.0, 1.0), kind, q_levels, _NUMPY_OPS)
  return np.floor((y + 1.0) / 2.0 * steps + 0.5).astype(np.int32)


def decode(codes: Signal, kind: str = "mu_law",
           q_levels: int = 256) -> Signal:
  """Integer codes -> float32 audio in [-1, 1] (same shape, same kind)."""
  _check_kind(kind, q_levels)
  steps = float(q_levels - 1)
  tf = _tf_if_tensor(codes)
  if tf:
    c = tf.clip_by_value(tf.cast(codes, tf.float64), 0.0, steps)
    return tf.cast(
        _expand(2.0 * c / steps - 1.0, kind, q_levels, _tf_ops(tf)),
        tf.float32)
  c = np.clip(np.asarray(codes, np.float64), 0.0, steps)
  return _expand(2.0 * c / steps - 1.0, kind, q_levels,
                 _NUMPY_OPS).astype(np.float32)


def codes_to_unit(codes: Any, q_levels: int) -> Any:
  """Codes -> evenly spaced values in [-1, 1] (the companded domain).

  This is the network input scaling both families use (NSynth feeds mu-law
  codes scaled to [-1, 1]). TF only; float32 `[...]` like `codes`.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf.cast(codes, tf.float32) * (2.0 / (q_levels - 1)) - 1.0


def silence_code(kind: str = "mu_law", q_levels: int = 256) -> int:
  """The code that digital silence (0.0) encodes to."""
  return int(encode(np.zeros([1]), kind, q_levels)[0])
