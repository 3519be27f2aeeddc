"""Quantizers: round trips, properties, the standard curves, NumPy == TF."""

import math

import librosa
import numpy as np
import pytest
import tensorflow as tf

from common import quantization as q

KINDS = ("mu_law", "a_law", "linear")
LEVELS = (256, 16, 1024)
CASES = [(kind, levels) for kind in KINDS for levels in LEVELS]


def audio_values(seed=0):
  """Values spread over [-1, 1]: a fine grid, uniform, small and tiny ones."""
  rng = np.random.default_rng(seed)
  return np.concatenate([
      np.linspace(-1.0, 1.0, 20001),
      rng.uniform(-1, 1, 20000),
      np.clip(rng.normal(0, 0.05, 20000), -1, 1),
      rng.uniform(-1e-3, 1e-3, 5000),
      [0.0, -0.0, 1.0, -1.0, 1 / q.A_LAW_A, -1 / q.A_LAW_A],
  ])


@pytest.mark.parametrize("kind,levels", CASES)
def test_round_trip_within_half_a_step_of_the_companded_curve(kind, levels):
  x = audio_values()
  codes = q.encode(x, kind, levels)
  back = q.decode(codes, kind, levels)
  err = np.abs(q.compress(back, kind, levels) - q.compress(x, kind, levels))
  assert err.max() <= 1.0 / (levels - 1) + 1e-6
  # Rounding to the nearest level: errors reach (almost) the half step.
  assert err.max() > 0.9 / (levels - 1)
  assert np.all(np.abs(back) <= 1.0)


@pytest.mark.parametrize("kind,levels", CASES)
def test_decoding_every_code_then_encoding_gives_the_code_back(kind, levels):
  codes = np.arange(levels)
  values = q.decode(codes, kind, levels)
  np.testing.assert_array_equal(q.encode(values, kind, levels), codes)
  # Decoded levels are strictly increasing and span [-1, 1].
  assert np.all(np.diff(values) > 0)
  assert values[0] == pytest.approx(-1.0, abs=1e-6)
  assert values[-1] == pytest.approx(1.0, abs=1e-6)
  # Levels are evenly spaced on the companded curve.
  np.testing.assert_allclose(q.compress(values, kind, levels),
                             np.linspace(-1, 1, levels), atol=1e-6)


@pytest.mark.parametrize("kind,levels", CASES)
def test_codes_are_int32_in_range_and_monotonic(kind, levels):
  x = np.sort(audio_values(1))
  codes = q.encode(x, kind, levels)
  assert isinstance(codes, np.ndarray) and codes.dtype == np.int32
  assert codes.shape == x.shape
  assert codes.min() == 0 and codes.max() == levels - 1
  assert np.all(np.diff(codes) >= 0)
  assert len(np.unique(codes)) == levels  # every code is reachable


@pytest.mark.parametrize("levels", LEVELS)
def test_mu_law_curve_is_librosas(levels):
  x = audio_values(2)
  np.testing.assert_allclose(
      q.compress(x, "mu_law", levels),
      librosa.mu_compress(x, mu=levels - 1, quantize=False), atol=1e-12)
  # Decoding expands the code's evenly spaced level with librosa's inverse.
  codes = np.arange(levels)
  np.testing.assert_allclose(
      q.decode(codes, "mu_law", levels),
      librosa.mu_expand(2.0 * codes / (levels - 1) - 1, mu=levels - 1,
                        quantize=False), atol=1e-6)


def test_mu_law_8_bit_known_codes():
  # y = ln(1 + 255 |x|) / ln 256; code = floor((y + 1) / 2 * 255 + 0.5).
  for x in (0.5, -0.5, 0.01, -0.25, 0.9):
    y = math.copysign(math.log1p(255 * abs(x)) / math.log(256), x)
    want = math.floor((y + 1) / 2 * 255 + 0.5)
    assert q.encode(np.array([x]))[0] == want
  assert q.encode(np.array([0.5]))[0] == 239
  assert q.silence_code() == 128


def test_a_law_curve_is_the_g711_formula():
  a = 87.6
  x = audio_values(3)
  ax = np.abs(x)
  ref = np.where(ax < 1 / a, a * ax / (1 + np.log(a)),
                 (1 + np.log(np.maximum(a * ax, 1e-300))) / (1 + np.log(a)))
  np.testing.assert_allclose(q.compress(x, "a_law", 256), np.sign(x) * ref,
                             atol=1e-12)
  # Continuous at the knee, and decode inverts the curve.
  knee = 1 / a
  left = q.compress(np.array([knee * (1 - 1e-12)]), "a_law")[0]
  right = q.compress(np.array([knee]), "a_law")[0]
  assert left == pytest.approx(right, abs=1e-9)


def test_linear_curve_is_identity():
  x = audio_values(4)
  np.testing.assert_array_equal(q.compress(x, "linear", 256), x)
  codes = q.encode(x, "linear", 256)
  np.testing.assert_array_equal(codes, np.floor((x + 1) / 2 * 255 + 0.5))


@pytest.mark.parametrize("kind,levels", CASES)
def test_values_outside_the_range_clip_to_the_end_codes(kind, levels):
  x = np.array([-100.0, -1.5, -1.0000001, 1.0000001, 2.0, 1e30, -1e30])
  np.testing.assert_array_equal(
      q.encode(x, kind, levels), [0, 0, 0, levels - 1, levels - 1,
                                  levels - 1, 0])
  t = q.encode(tf.constant(x), kind, levels)
  np.testing.assert_array_equal(t.numpy(), q.encode(x, kind, levels))
  # Out-of-range codes decode to the ends as well.
  np.testing.assert_allclose(q.decode(np.array([-3, levels + 7]), kind, levels),
                             [-1.0, 1.0], atol=1e-6)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("kind", KINDS)
def test_nan_and_inf_raise_in_numpy(kind, bad):
  x = np.array([0.1, bad, 0.2])
  with pytest.raises(ValueError, match="NaN or Inf"):
    q.encode(x, kind)
  with pytest.raises(ValueError, match="NaN or Inf"):
    q.encode(x.astype(np.float32), kind)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("kind", KINDS)
def test_nan_and_inf_raise_in_tensorflow(kind, bad):
  x = tf.constant([0.1, bad, 0.2], tf.float32)
  with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or Inf"):
    q.encode(x, kind)
  with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or Inf"):
    tf.function(lambda a: q.encode(a, kind))(x)


@pytest.mark.parametrize("kind,levels", CASES)
def test_numpy_and_tensorflow_give_identical_numbers(kind, levels):
  rng = np.random.default_rng(7)
  x = np.concatenate([rng.uniform(-1.2, 1.2, 50000),
                      rng.normal(0, 0.02, 20000)]).astype(np.float32)
  codes_np = q.encode(x, kind, levels)
  codes_tf = q.encode(tf.constant(x), kind, levels)
  np.testing.assert_array_equal(codes_tf.numpy(), codes_np)
  # float64 input too.
  x64 = x.astype(np.float64) * 0.999
  np.testing.assert_array_equal(q.encode(tf.constant(x64), kind, levels).numpy(),
                                q.encode(x64, kind, levels))
  all_codes = np.arange(levels, dtype=np.int32)
  np.testing.assert_array_equal(
      q.decode(tf.constant(all_codes), kind, levels).numpy(),
      q.decode(all_codes, kind, levels))
  np.testing.assert_array_equal(
      q.decode(tf.constant(codes_np), kind, levels).numpy(),
      q.decode(codes_np, kind, levels))
  np.testing.assert_allclose(
      q.compress(tf.constant(x64), kind, levels).numpy(),
      q.compress(x64, kind, levels), rtol=0, atol=1e-15)
  # Inside tf.function too.
  graph = tf.function(lambda a: q.encode(a, kind, levels))
  np.testing.assert_array_equal(graph(tf.constant(x)).numpy(), codes_np)


@pytest.mark.parametrize("kind", KINDS)
def test_tensors_in_tensors_out_arrays_in_arrays_out(kind):
  x = np.random.default_rng(0).uniform(-1, 1, [3, 50]).astype(np.float32)
  codes = q.encode(x, kind)
  assert isinstance(codes, np.ndarray) and codes.dtype == np.int32
  assert codes.shape == (3, 50)
  back = q.decode(codes, kind)
  assert isinstance(back, np.ndarray) and back.dtype == np.float32
  assert back.shape == (3, 50)
  assert isinstance(q.compress(x, kind), np.ndarray)

  t_codes = q.encode(tf.constant(x), kind)
  assert tf.is_tensor(t_codes) and t_codes.dtype == tf.int32
  assert t_codes.shape == (3, 50)
  t_back = q.decode(t_codes, kind)
  assert tf.is_tensor(t_back) and t_back.dtype == tf.float32
  assert t_back.shape == (3, 50)
  assert tf.is_tensor(q.compress(tf.constant(x), kind))
  # int64 tensors and Python lists work too.
  assert q.decode(tf.cast(t_codes, tf.int64), kind).dtype == tf.float32
  np.testing.assert_array_equal(q.encode([0.0, 1.0, -1.0], kind),
                                [q.silence_code(kind), 255, 0])


def test_silence_code_decodes_near_zero():
  for kind in KINDS:
    for levels in LEVELS:
      code = q.silence_code(kind, levels)
      assert code == levels // 2  # (levels - 1) / 2 rounds half up
      y = q.compress(q.decode(np.array([code]), kind, levels), kind, levels)
      assert abs(y[0]) <= 1.0 / (levels - 1) + 1e-6


def test_invalid_kind_or_levels_raise():
  with pytest.raises(ValueError, match="unknown quantization"):
    q.encode(np.zeros(3), "ulaw")
  with pytest.raises(ValueError, match="unknown quantization"):
    q.decode(np.zeros(3, np.int32), "alaw")
  with pytest.raises(ValueError, match="q_levels"):
    q.encode(np.zeros(3), "mu_law", 1)


def test_codes_to_unit_spans_minus_one_to_one():
  out = q.codes_to_unit(tf.constant([0, 128, 255]), 256).numpy()
  np.testing.assert_allclose(out, [-1.0, 2 * 128 / 255 - 1, 1.0], atol=1e-6)
  assert q.codes_to_unit(tf.constant([[0]]), 16).dtype == tf.float32


@pytest.mark.parametrize("kind", ["mu_law", "a_law", "linear"])
def test_expand_inverts_compress(kind):
  x = np.linspace(-1.0, 1.0, 1001)
  np.testing.assert_allclose(
      q.expand(q.compress(x, kind), kind), x,
      atol=1e-12)  # float64 round trip: measured <= 4e-16
  tensor = q.expand(tf.constant(q.compress(x, kind)),
                               kind)
  np.testing.assert_allclose(tensor.numpy(), x, atol=1e-12)
