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

import math
import sys

import numpy as np

KINDS = ("mu_law", "a_law", "linear")
A_LAW_A = 87.6


def _check_kind(kind, q_levels):
  if kind not in KINDS:
    raise ValueError(f"unknown quantization {kind!r}; expected one of {KINDS}")
  if int(q_levels) < 2:
    raise ValueError(f"q_levels must be at least 2, got {q_levels}")


class _NumpyOps:
  """The handful of math ops the curves need, for NumPy float64 arrays."""
  sign, abs, log1p, log, exp, floor = (np.sign, np.abs, np.log1p, np.log,
                                       np.exp, np.floor)
  where = staticmethod(np.where)
  maximum = staticmethod(np.maximum)


def _tf_if_tensor(value):
  """The tensorflow module if `value` is a tf.Tensor, else None.

  TensorFlow is not imported here: if it is not loaded yet, `value` cannot be
  a tensor (so corpus-preparation workers stay light).
  """
  tf = sys.modules.get("tensorflow")
  return tf if tf is not None and tf.is_tensor(value) else None


class _TFOps:
  """The same ops for TF float64 tensors (filled in on first use)."""

  @classmethod
  def get(cls, tf):
    cls.sign, cls.abs, cls.log1p, cls.log, cls.exp, cls.floor = (
        tf.sign, tf.abs, tf.math.log1p, tf.math.log, tf.exp, tf.floor)
    cls.where = staticmethod(tf.where)
    cls.maximum = staticmethod(tf.maximum)
    return cls


def _compress(x, kind, q_levels, ops):
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


def _expand(y, kind, q_levels, ops):
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


def compress(audio, kind="mu_law", q_levels=256):
  """The companding curve alone (no rounding), float64 in [-1, 1].

  Args:
    audio: float array or tensor, any shape, values in [-1, 1].
  """
  _check_kind(kind, q_levels)
  tf = _tf_if_tensor(audio)
  if tf:
    x = tf.clip_by_value(tf.cast(audio, tf.float64), -1.0, 1.0)
    return _compress(x, kind, q_levels, _TFOps.get(tf))
  x = np.clip(np.asarray(audio, np.float64), -1.0, 1.0)
  return _compress(x, kind, q_levels, _NumpyOps)


def encode(audio, kind="mu_law", q_levels=256):
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
                  _TFOps.get(tf))
    return tf.cast(tf.floor((y + 1.0) / 2.0 * steps + 0.5), tf.int32)
  x = np.asarray(audio, np.float64)
  if not np.all(np.isfinite(x)):
    raise ValueError("audio contains NaN or Inf")
  y = _compress(np.clip(x, -1.0, 1.0), kind, q_levels, _NumpyOps)
  return np.floor((y + 1.0) / 2.0 * steps + 0.5).astype(np.int32)


def decode(codes, kind="mu_law", q_levels=256):
  """Integer codes -> float32 audio in [-1, 1] (same shape, same kind)."""
  _check_kind(kind, q_levels)
  steps = float(q_levels - 1)
  tf = _tf_if_tensor(codes)
  if tf:
    c = tf.clip_by_value(tf.cast(codes, tf.float64), 0.0, steps)
    return tf.cast(
        _expand(2.0 * c / steps - 1.0, kind, q_levels, _TFOps.get(tf)),
        tf.float32)
  c = np.clip(np.asarray(codes, np.float64), 0.0, steps)
  return _expand(2.0 * c / steps - 1.0, kind, q_levels,
                 _NumpyOps).astype(np.float32)


def codes_to_unit(codes, q_levels):
  """Codes -> evenly spaced values in [-1, 1] (the companded domain).

  This is the network input scaling both families use (NSynth feeds mu-law
  codes scaled to [-1, 1]). TF only; float32 `[...]` like `codes`.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf.cast(codes, tf.float32) * (2.0 / (q_levels - 1)) - 1.0


def silence_code(kind="mu_law", q_levels=256):
  """The code that digital silence (0.0) encodes to."""
  return int(encode(np.zeros([1]), kind, q_levels)[0])
