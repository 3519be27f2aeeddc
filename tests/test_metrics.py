"""Known-answer tests of the reconstruction metrics (eval/metrics.py)."""

import math

import numpy as np
import pytest

from common import quantization
from eval import metrics

SAMPLE_RATE = 16000


def harmonic_tone(freq_hz, seconds=2.0, sample_rate=SAMPLE_RATE):
  """Five-partial tone with a slow amplitude swell, [samples] float32."""
  t = np.arange(int(seconds * sample_rate)) / sample_rate
  tone = sum(np.sin(2 * np.pi * freq_hz * k * t) / k for k in range(1, 6))
  envelope = 0.3 * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t))
  return (envelope * tone / 2.3).astype(np.float32)


def noisy(audio, noise_rms, seed=0):
  noise = np.random.default_rng(seed).standard_normal(audio.size)
  return (audio + noise_rms * noise).astype(np.float32)


@pytest.fixture(scope="module")
def chord():
  """A three-note chord (C4, E4, G4) of harmonic tones, 3 s."""
  return sum(harmonic_tone(f, 3.0) for f in (261.63, 329.63, 392.0)) / 2


def test_crop_to_common_length():
  ref, est = metrics.crop_to_common_length(np.ones(10), np.zeros(7))
  assert ref.shape == est.shape == (7,)


def test_identical_audio_gives_perfect_scores(chord):
  result = metrics.reconstruction_metrics(chord, chord, SAMPLE_RATE,
                                          with_f0=False)
  assert set(result) == {"mstft_sc_db", "mstft_logmag_l1", "lsd_db", "mcd_db",
                         "snr_db", "si_sdr_db", "f0_rpa", "voicing_recall",
                         "voicing_false_alarm", "chroma_cos"}
  assert result["mstft_sc_db"] <= -150.0
  assert result["mstft_logmag_l1"] == pytest.approx(0.0, abs=1e-12)
  assert result["lsd_db"] == pytest.approx(0.0, abs=1e-9)
  assert result["mcd_db"] == pytest.approx(0.0, abs=1e-9)
  assert result["snr_db"] == math.inf
  assert result["si_sdr_db"] == math.inf
  assert result["chroma_cos"] == pytest.approx(1.0)
  assert np.isnan(result["f0_rpa"])  # with_f0=False


def test_more_noise_is_monotonically_worse(chord):
  results = [metrics.reconstruction_metrics(chord, noisy(chord, rms),
                                            SAMPLE_RATE, with_f0=False)
             for rms in (1e-3, 1e-2, 1e-1)]
  for key in ("mstft_sc_db", "mstft_logmag_l1", "lsd_db", "mcd_db"):
    values = [r[key] for r in results]
    assert values[0] < values[1] < values[2], (key, values)
  for key in ("snr_db", "si_sdr_db", "chroma_cos"):
    values = [r[key] for r in results]
    assert values[0] > values[1] > values[2], (key, values)
  # White noise at rms 0.01 on a signal of rms ~0.13: SNR ~22 dB.
  signal_db = 10 * np.log10(np.mean(chord.astype(np.float64) ** 2))
  assert results[1]["snr_db"] == pytest.approx(signal_db + 40.0, abs=0.5)


def test_snr_and_si_sdr_conventions(chord):
  assert metrics.si_sdr_db(chord, 0.5 * chord) == math.inf  # Scale-invariant.
  assert metrics.snr_db(chord, 0.5 * chord) == pytest.approx(
      20 * np.log10(2.0), abs=1e-4)
  # Free phase: a sign flip is inaudible but a disaster for waveform metrics.
  assert metrics.snr_db(chord, -chord) < -5.0
  assert metrics.multi_resolution_stft(chord, -chord)["mstft_sc_db"] < -150.0


def test_f0_agreement():
  tone = harmonic_tone(220.0)
  same = metrics.f0_agreement(tone, tone, SAMPLE_RATE)
  assert same["f0_rpa"] == 1.0
  assert same["voicing_recall"] == 1.0
  semitone_up = metrics.f0_agreement(tone, harmonic_tone(220.0 * 2 ** (1 / 12)),
                                     SAMPLE_RATE)
  assert semitone_up["f0_rpa"] < 0.1  # 100 cents is outside 50 cents.
  assert semitone_up["voicing_recall"] > 0.9
  silent = metrics.f0_agreement(tone, np.zeros_like(tone), SAMPLE_RATE)
  assert silent["f0_rpa"] == 0.0  # An unvoiced estimate is a miss.
  assert silent["voicing_recall"] == 0.0


def test_f0_track_shapes():
  f0_hz, voiced = metrics.f0_track(harmonic_tone(440.0, 1.0), SAMPLE_RATE)
  assert f0_hz.shape == voiced.shape
  assert np.nanmedian(f0_hz[voiced]) == pytest.approx(440.0, rel=0.01)


def test_bootstrap_ci():
  values = np.random.default_rng(1).normal(3.0, 1.0, size=50)
  mean, low, high = metrics.bootstrap_ci(values)
  assert low < mean < high
  assert mean == pytest.approx(np.mean(values))
  assert 0.2 < high - low < 1.0  # ~2 * 1.96 / sqrt(50) = 0.55.
  assert metrics.bootstrap_ci(values) == (mean, low, high)  # Seeded.
  assert metrics.bootstrap_ci([2.0, np.nan]) == (2.0, 2.0, 2.0)
  assert all(np.isnan(metrics.bootstrap_ci([])))


def test_order0_entropy():
  assert metrics.order0_entropy_bits(np.arange(256).repeat(4), 256) == (
      pytest.approx(8.0))
  assert metrics.order0_entropy_bits(np.full(1000, 17), 256) == 0.0
  assert metrics.order0_entropy_bits([0, 1, 0, 1], 4) == pytest.approx(1.0)
  with pytest.raises(ValueError):
    metrics.order0_entropy_bits([256], 256)


@pytest.mark.parametrize("kind", ["linear", "mu_law", "a_law"])
def test_bin_widths_tile_the_amplitude_range(kind):
  widths = metrics.bin_widths_16bit(kind, 256)
  assert np.all(widths > 0)
  assert np.sum(widths) == pytest.approx(65536.0)
  np.testing.assert_allclose(widths, widths[::-1])  # Symmetric quantiser.


def _mu_law_encode(audio, q_levels=256):
  """The rounding quantiser of common/quantization.py, re-derived here."""
  mu = q_levels - 1
  companded = np.sign(audio) * np.log1p(mu * np.abs(audio)) / np.log1p(mu)
  return np.floor((companded + 1.0) / 2.0 * mu + 0.5).astype(np.int64)


def test_bin_edges_match_the_rounding_quantiser():
  audio = np.random.default_rng(2).uniform(-1, 1, 20000) ** 3
  codes = _mu_law_encode(audio)
  # pylint: disable-next=protected-access
  low, high = metrics._bin_edges("mu_law", 256)
  assert np.all(low[codes] <= audio + 1e-12)
  assert np.all(audio <= high[codes] + 1e-12)


@pytest.mark.parametrize("kind", ["linear", "mu_law", "a_law"])
def test_bin_edges_follow_common_quantization(kind, monkeypatch):
  # The edges come from the one companding curve (common.quantization): with
  # another A-law constant there, they move with it.
  monkeypatch.setattr(quantization, "A_LAW_A", 50.0)
  # pylint: disable-next=protected-access
  low, high = metrics._bin_edges(kind, 256)
  margin = 1e-6 * (high - low)  # Well inside a bin, far above rounding.
  codes = np.arange(256)
  np.testing.assert_array_equal(
      quantization.encode(low + margin, kind, 256), codes)
  np.testing.assert_array_equal(
      quantization.encode(high - margin, kind, 256), codes)
  np.testing.assert_array_equal(
      quantization.encode(low[1:] - margin[1:], kind, 256), codes[:-1])


def test_nll_bits_per_16bit_sample():
  rng = np.random.default_rng(3)
  inner = rng.integers(1, 255, size=1000)
  # 8-bit linear: inner bins are 2/255 wide = 257 16-bit steps -> +8.006 bits.
  assert metrics.nll_bits_per_16bit_sample(
      5.0, inner, kind="linear", q_levels=256) == pytest.approx(
          5.0 + np.log2(65536 / 255), abs=1e-9)
  # Mu-law: codes near silence have bins narrower than a 16-bit step.
  quiet = np.full(10, 128)
  loud = np.full(10, 255)
  assert (metrics.nll_bits_per_16bit_sample(0.0, quiet) <
          0.0 + 3.0 <
          metrics.nll_bits_per_16bit_sample(0.0, loud))
  # 16-bit linear is the identity (up to the (q - 1) vs q step convention).
  assert metrics.nll_bits_per_16bit_sample(
      2.0, rng.integers(1, 65535, 100), "linear", 65536) == pytest.approx(
          2.0, abs=1e-4)
