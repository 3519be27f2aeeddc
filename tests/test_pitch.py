"""Tests for wavenet/pitch.py: YIN f0 per embedding frame and pitch two-hots."""

import numpy as np
import pytest
import tensorflow as tf

from common import quantization
from wavenet import frames as frames_lib
from wavenet import pitch

SR = 16000


def _harmonic(hz, seconds=0.5, sample_rate=SR):
  """A bright tone (up to 5 harmonics below Nyquist): YIN must not lock onto
  an overtone."""
  t = np.arange(int(seconds * sample_rate)) / sample_rate
  x = sum(np.sin(2 * np.pi * k * hz * t) / k for k in range(1, 6)
          if k * hz < sample_rate / 2)
  return (0.5 * x / np.abs(x).max()).astype(np.float32)


def _cents(a, b):
  return 1200 * np.abs(np.log2(np.asarray(a) / np.asarray(b)))


@pytest.mark.parametrize("midi", [24, 36, 48, 60, 69, 84, 96])
def test_yin_finds_the_pitch_of_harmonic_tones(midi):
  hz = pitch.midi_to_hz(midi)
  f0 = pitch.yin_f0(_harmonic(hz)[None], SR, 512, fmin=30.0,
                    fmax=2200.0).numpy()[0]
  assert f0.shape == (frames_lib.num_frames(8000, 512),)
  inner = f0[1:-1]  # the edge frames see zeros beyond the signal
  assert np.all(inner > 0)
  assert _cents(inner, hz).max() < 10


def test_yin_reads_mu_law_codes_scaled_to_unit():
  """The model measures pitch on its input, codes mapped to [-1, 1]."""
  hz = pitch.midi_to_hz(57)
  codes = quantization.encode(_harmonic(hz), "mu_law", 256)
  unit = quantization.codes_to_unit(tf.constant(codes[None]), 256)
  f0 = pitch.yin_f0(unit, SR, 512, 30.0, 2200.0).numpy()[0, 1:-1]
  assert _cents(f0, hz).max() < 10


def test_quiet_decays_keep_their_pitch():
  """A note's release, read from mu-law codes, stays voiced down to about
  -70 dBFS (the eval's pYIN hears it there, so the decoder must be told)."""
  hz = pitch.midi_to_hz(48)
  seconds = 1.5
  tone = _harmonic(hz, seconds=seconds) * 2.0  # peak 1.0
  db = np.linspace(-20.0, -70.0, tone.size)
  faded = (tone * 10.0 ** (db / 20.0)).astype(np.float32)
  codes = quantization.encode(faded, "mu_law", 256)
  unit = quantization.codes_to_unit(tf.constant(codes[None]), 256)
  f0 = pitch.yin_f0(unit, SR, 512, 30.0, 2200.0).numpy()[0, 1:-1]
  assert np.all(f0 > 0)
  assert _cents(f0, hz).max() < 20


def test_deepest_dip_is_the_period_when_none_is_below_the_threshold():
  """A tone in noise (SNR about 6 dB): YIN's CMND dip sits between the
  absolute threshold (0.15) and the voicing threshold (0.4)."""
  hz = 220.0
  rng = np.random.default_rng(1)
  x = np.sin(2 * np.pi * hz * np.arange(8192) / SR)
  noisy = (0.4 * x + 0.15 * rng.standard_normal(x.size)).astype(np.float32)
  f0 = pitch.yin_f0(noisy[None], SR, 512, 30.0, 2200.0).numpy()[0, 1:-1]
  strict = pitch.yin_f0(noisy[None], SR, 512, 30.0, 2200.0,
                        voicing_threshold=0.0).numpy()[0, 1:-1]
  assert np.mean(strict > 0) < 0.5    # the absolute threshold alone fails
  assert np.all(f0 > 0)
  # Noise scatters single frames by tens of cents; none by a semitone.
  assert _cents(f0, hz).max() < 100
  assert np.median(_cents(f0, hz)) < 25


def test_silence_and_noise_are_unvoiced():
  silence = np.zeros([1, 4096], np.float32)
  noise = np.random.default_rng(0).uniform(-0.5, 0.5, [1, 4096])
  for audio in (silence, noise.astype(np.float32)):
    np.testing.assert_array_equal(
        pitch.yin_f0(audio, SR, 512, 30.0, 2200.0), np.zeros([1, 8]))


def test_frames_are_centred_on_embedding_frames():
  """A tone that starts at frame 4 is voiced from about frame 4 on."""
  x = np.zeros(16 * 512, np.float32)
  x[4 * 512:] = _harmonic(220.0, seconds=12 * 512 / SR)
  f0 = pitch.yin_f0(x[None], SR, 512, 30.0, 2200.0).numpy()[0]
  assert np.all(f0[:3] == 0) and np.all(f0[5:] > 0)


def test_two_hot_splits_weight_between_neighbouring_semitones():
  hz = pitch.midi_to_hz(np.array([60.0, 60.25, 71.0, 59.0, 72.5, 0.0]))
  hz[-1] = 0.0  # unvoiced
  bins = pitch.pitch_bins(hz, bins=12, min_midi=60).numpy()
  assert bins.shape == (6, 12)
  np.testing.assert_allclose(bins[0], np.eye(12)[0], atol=1e-4)
  np.testing.assert_allclose(bins[1, :2], [0.75, 0.25], atol=1e-4)
  np.testing.assert_allclose(bins[2], np.eye(12)[11], atol=1e-4)
  # Below or above the bins, and unvoiced: all zeros.
  np.testing.assert_array_equal(bins[3:], 0.0)


def test_pitch_features_compile_with_xla():
  """The trainer compiles the autoencoder's step with XLA."""
  audio = tf.constant(_harmonic(440.0)[None])
  plain = pitch.pitch_features(audio, SR, 512, bins=73, min_midi=24)
  compiled = tf.function(
      lambda a: pitch.pitch_features(a, SR, 512, bins=73, min_midi=24),
      jit_compile=True)(audio)
  np.testing.assert_allclose(compiled, plain, atol=1e-3)
  assert int(np.argmax(plain[0, 5])) == 69 - 24


def test_periods_of_two_hots():
  two_hot = pitch.pitch_bins(pitch.midi_to_hz(np.array([69.0, 69.5, 0.0])),
                             bins=24, min_midi=60)
  got = pitch.periods(two_hot, SR, min_midi=60).numpy()
  np.testing.assert_allclose(got[:2], [SR / 440.0, SR / pitch.midi_to_hz(69.5)],
                             rtol=1e-4)
  assert got[2] == 0.0  # unvoiced
  # Edited embeddings are kept within the bins: at most the lowest's period.
  wild = np.zeros([1, 24], np.float32)
  wild[0, 0], wild[0, 5] = 3.0, -2.5
  assert pitch.periods(wild, SR, 60).numpy()[0] == pytest.approx(
      SR / pitch.midi_to_hz(60), rel=1e-4)


def test_one_period_ago_interpolates_and_is_causal():
  x = tf.constant(np.arange(1.0, 11.0, dtype=np.float32)[None])  # 1 .. 10
  period = tf.constant([[0, 1, 1.5, 2, 2, 2, 4, 4, 0, 9.5]], tf.float32)
  got = pitch.one_period_ago(x, period).numpy()[0]
  # t - period: -, 0, 0.5, 1, 2, 3, 2, 3, -, -0.5 (before the start: 0)
  np.testing.assert_allclose(got, [0, 1, 1.5, 2, 3, 4, 3, 4, 0, 0.5 * 1])


def test_two_hot_of_midi_pitches():
  got = pitch.two_hot(np.array([60.0, 60.25, 71.0, 59.0, 71.5]), bins=12,
                      min_midi=60).numpy()
  np.testing.assert_array_equal(got[0], np.eye(12)[0])  # exact, no Hz trip
  np.testing.assert_allclose(got[1, :2], [0.75, 0.25])
  np.testing.assert_array_equal(got[2], np.eye(12)[11])
  np.testing.assert_array_equal(got[3:], 0.0)  # outside the bins


# --- training windows long enough for the YIN window --------------------------


def _recipe_pitch_stage(**overrides):
  """The config of pretrained/recipes/wavenet_notes.sh's pitch stages
  (--config=small --set=batch_size=16 --set=seq_len=1024
  --set=pitch_bins=73 ...)."""
  from common import config as config_lib  # pylint: disable=g-import-not-at-top
  return config_lib.load("wavenet", "small", dict(
      dict(batch_size=16, seq_len=1024, pitch_bins=73,
           pitch_period_input=True), **overrides))


@pytest.mark.parametrize("hop", [32, 512])
def test_min_training_window_holds_exactly_one_whole_yin_window(hop):
  """At the minimum, one frame's YIN window reads no padding; one sample
  less and every frame's does (the framing YIN itself uses)."""
  need = pitch.min_training_window(hop)
  assert need == {32: 2064, 512: 2304}[hop]

  def whole_windows(samples):
    # pylint: disable-next=protected-access
    frames = pitch._frames(tf.ones([1, samples]), hop,
                           frames_lib.YIN_FRAME_LENGTH)
    return int(tf.reduce_sum(tf.cast(
        tf.reduce_all(frames[0] == 1.0, axis=-1), tf.int32)))

  assert whole_windows(need) == 1
  assert whole_windows(need - 1) == 0
  assert whole_windows(1024) == 0  # the shipped model's seq_len


def test_training_window_check_refuses_short_pitch_crops():
  from common import config as config_lib  # pylint: disable=g-import-not-at-top
  with pytest.raises(config_lib.ConfigError) as refused:
    pitch.check_training_window(_recipe_pitch_stage())
  message = str(refused.value)
  assert "\n" not in message
  assert message.startswith("seq_len=1024 is too short for pitch")
  assert "--seq_len=2304 or more" in message
  with pytest.raises(ValueError, match="seq_len=2303"):
    pitch.check_training_window(_recipe_pitch_stage(seq_len=2303))
  # The minimum passes: a fine-tune of the shipped model sets seq_len.
  pitch.check_training_window(_recipe_pitch_stage(seq_len=2304))
  # Without pitch conditioning nothing is refused (recipe stage 2).
  pitch.check_training_window(_recipe_pitch_stage(pitch_bins=0,
                                                  pitch_period_input=False))
