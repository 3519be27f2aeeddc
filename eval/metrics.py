"""Reconstruction metrics: a reference clip against an estimate of it.

All functions are pure functions of NumPy arrays (no file I/O). Audio is float32
mono in [-1, 1] with shape [samples] at `sample_rate` Hz. Every pairwise metric
first crops both signals to the shorter length (`crop_to_common_length`), so a
decoder that emits a few extra samples is not penalised for it.

Metric definitions (S = STFT magnitude, F = Frobenius norm):

* `mstft_sc_db`: multi-resolution spectral convergence,
  20*log10(||S_ref - S_est||_F / ||S_ref||_F), in dB, averaged (in dB) over the
  three STFT resolutions of Parallel WaveGAN's loss: n_fft 2048/1024/512, hop
  240/120/50, Hann window 1200/600/240 zero-padded (centred) to n_fft, centred
  frames with reflect padding, |S| = sqrt(max(|X|^2, 1e-7)). Lower is better;
  identical inputs give the floor of -200 dB.
* `mstft_logmag_l1`: mean |ln S_ref - ln S_est| over all bins and frames,
  averaged over the same three resolutions. 0 for identical inputs.
* `lsd_db`: log-spectral distance, mean over frames of
  sqrt(mean over bins of (10*log10 P_ref - 10*log10 P_est)^2),
  P = |X|^2 + 1e-10,
  n_fft 2048, hop 512.
* `mcd_db`: mel-cepstral distortion, mean over frames of
  (10/ln 10) * sqrt(2 * sum_{k=1..K-1} (c_ref[k] - c_est[k])^2), c0 excluded,
  where c = DCT-II (orthonormal) of the natural log of the mel *amplitude*
  spectrum (80 mels, n_fft 1024, hop 256). Frames are compared one to one (no
  DTW): both signals have the same length and timing, so alignment would only
  hide errors. Absolute values are comparable within this project, not with
  SPTK-based MCD numbers from papers.
* `snr_db` = 10*log10(sum ref^2 / sum (ref - est)^2) and `si_sdr_db` (scale
  invariant SDR of zero-mean signals, Le Roux et al. 2019). Both are
  waveform-matching metrics: a sampled autoregressive decoder (WaveNet,
  SampleRNN) has free phase, so they are low (often <= 0 dB) even when the
  reconstruction sounds right. Report them, but rank models by the spectral
  ones.
* `f0_rpa`, `voicing_recall`, `voicing_false_alarm`: pYIN (librosa.pyin) f0
  tracks of both signals, C2..C7, frame_length 2048, hop 512 (pYIN is slow; a
  hop of 32 ms at 16 kHz keeps it usable). Raw pitch accuracy is the fraction of
  reference-voiced frames in which the estimate is voiced *and* within 50 cents
  (an unvoiced estimate is a miss, as in mir_eval). Voicing recall: fraction of
  reference-voiced frames voiced in the estimate; false alarm: fraction of
  reference-unvoiced frames voiced in the estimate (nan when undefined).
* `chroma_cos`: mean over frames of the cosine similarity of chroma vectors
  (librosa.feature.chroma_stft, n_fft 2048, hop 512, tuning 0); frames silent
  in both signals are skipped, a frame silent in only one scores 0.

Code statistics for quantised models:

* `order0_entropy_bits`: -sum p_c log2 p_c of the code histogram, bits/sample.
* `nll_bits_per_16bit_sample`: converts an NLL in bits per q-level code into
  bits per 16-bit linear sample by assuming a uniform density inside each
  quantiser bin: nll16 = nll_code + E_codes[log2(bin width / (2/65536))].
  Bin edges are the decision boundaries of the rounding quantiser
  code = floor((y + 1)/2 * (q - 1) + 0.5) applied to the companded value y
  (`common.quantization.compress`: mu-law with mu = q - 1, A-law, or linear
  y = x), mapped back to amplitudes through that same curve.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import librosa
import numpy as np
import scipy.fft
from numpy.typing import ArrayLike

from common import quantization

# Parallel WaveGAN's multi-resolution STFT loss settings (at 24 kHz there;
# used unchanged at 16 kHz).
MSTFT_FFT_SIZES = (2048, 1024, 512)
MSTFT_HOP_SIZES = (240, 120, 50)
MSTFT_WIN_LENGTHS = (1200, 600, 240)

# Pitch range for f0 tracking: C2 .. C7.
C2_HZ = 65.40639
C7_HZ = 2093.0045

_MAG_FLOOR_POWER = 1e-7  # as in Parallel WaveGAN: sqrt(clamp(power, 1e-7)).
_POWER_EPS = 1e-10
_LOG_EPS = 1e-5
_RATIO_EPS = 1e-10  # spectral convergence floor: 20*log10(1e-10) = -200 dB.


# ----------------------------------------------------------------------------
# Helpers.


def crop_to_common_length(ref: np.ndarray, est: np.ndarray
                          ) -> tuple[np.ndarray, np.ndarray]:
  """Crops two signals to the shorter of their lengths.

  Args:
    ref: Reference audio, [samples_ref].
    est: Estimated audio, [samples_est].

  Returns:
    (ref, est) as float64 arrays, both [min(samples_ref, samples_est)].
  """
  ref = np.asarray(ref, dtype=np.float64).reshape(-1)
  est = np.asarray(est, dtype=np.float64).reshape(-1)
  length = min(ref.shape[0], est.shape[0])
  return ref[:length], est[:length]


def _stft_magnitude(audio: np.ndarray, n_fft: int, hop: int,
                    win_length: int) -> np.ndarray:
  """|STFT| as in Parallel WaveGAN: [frames, n_fft // 2 + 1], floored."""
  spec = librosa.stft(audio, n_fft=n_fft, hop_length=hop, win_length=win_length,
                      window="hann", center=True, pad_mode="reflect")
  power = np.maximum(np.abs(spec) ** 2, _MAG_FLOOR_POWER)
  return np.sqrt(power).T


def _power_spectrogram(audio: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
  """|STFT|^2 with a Hann window of n_fft: [frames, n_fft // 2 + 1]."""
  spec = librosa.stft(audio, n_fft=n_fft, hop_length=hop, window="hann",
                      center=True, pad_mode="constant")
  return (np.abs(spec) ** 2).T


# ----------------------------------------------------------------------------
# Spectral distances.


def multi_resolution_stft(ref: np.ndarray, est: np.ndarray,
                          sample_rate: int = 16000,
                          fft_sizes: Sequence[int] = MSTFT_FFT_SIZES,
                          hop_sizes: Sequence[int] = MSTFT_HOP_SIZES,
                          win_lengths: Sequence[int] = MSTFT_WIN_LENGTHS
                          ) -> dict[str, float]:
  """Multi-resolution STFT distance (Parallel WaveGAN's loss, as a metric).

  Args:
    ref: Reference audio, [samples].
    est: Estimated audio, [samples].
    sample_rate: Sample rate in Hz (the resolutions are in samples, so it is
      only recorded for symmetry with the other metrics).
    fft_sizes, hop_sizes, win_lengths: One entry per resolution, in samples.

  Returns:
    Dict with `mstft_sc_db` (spectral convergence in dB, mean over resolutions;
    lower is better, -200 dB floor) and `mstft_logmag_l1` (mean absolute
    difference of natural-log magnitudes, mean over resolutions).
  """
  del sample_rate  # The resolutions are given in samples.
  ref, est = crop_to_common_length(ref, est)
  sc_db, logmag = [], []
  for n_fft, hop, win in zip(fft_sizes, hop_sizes, win_lengths):
    mag_ref = _stft_magnitude(ref, n_fft, hop, win)
    mag_est = _stft_magnitude(est, n_fft, hop, win)
    ratio = (float(np.linalg.norm(mag_ref - mag_est)) /
             max(float(np.linalg.norm(mag_ref)), _RATIO_EPS))
    sc_db.append(20.0 * np.log10(max(ratio, _RATIO_EPS)))
    logmag.append(np.mean(np.abs(np.log(mag_ref) - np.log(mag_est))))
  return {"mstft_sc_db": float(np.mean(sc_db)),
          "mstft_logmag_l1": float(np.mean(logmag))}


def log_spectral_distance_db(ref: np.ndarray, est: np.ndarray,
                             sample_rate: int = 16000, n_fft: int = 2048,
                             hop: int = 512) -> float:
  """Log-spectral distance in dB.

  LSD = mean_frames sqrt(mean_bins (10 log10 P_ref - 10 log10 P_est)^2) with
  P = |STFT|^2 + 1e-10 (Hann window of n_fft samples).

  Args:
    ref: Reference audio, [samples].
    est: Estimated audio, [samples].
    sample_rate: Sample rate in Hz (unused; sizes are in samples).
    n_fft: FFT size in samples.
    hop: Hop size in samples.

  Returns:
    LSD in dB (0 for identical inputs).
  """
  del sample_rate
  ref, est = crop_to_common_length(ref, est)
  db_ref = 10.0 * np.log10(_power_spectrogram(ref, n_fft, hop) + _POWER_EPS)
  db_est = 10.0 * np.log10(_power_spectrogram(est, n_fft, hop) + _POWER_EPS)
  per_frame = np.sqrt(np.mean((db_ref - db_est) ** 2, axis=1))
  return float(np.mean(per_frame))


def mel_cepstrum(audio: np.ndarray, sample_rate: int = 16000, n_mfcc: int = 13,
                 n_fft: int = 1024, hop: int = 256,
                 n_mels: int = 80) -> np.ndarray:
  """Mel cepstrum: DCT-II (ortho) of the natural-log mel amplitude spectrum.

  Args:
    audio: Audio, [samples].
    sample_rate: Sample rate in Hz.
    n_mfcc: Number of coefficients kept (including c0).
    n_fft: FFT size in samples.
    hop: Hop size in samples.
    n_mels: Number of mel bands (fmax = sample_rate / 2).

  Returns:
    Cepstra, [frames, n_mfcc].
  """
  mel_amplitude = librosa.feature.melspectrogram(
      y=np.asarray(audio, dtype=np.float64), sr=sample_rate, n_fft=n_fft,
      hop_length=hop, n_mels=n_mels, power=1.0)
  log_mel = np.log(mel_amplitude + _LOG_EPS)
  return scipy.fft.dct(log_mel, type=2, norm="ortho", axis=0)[:n_mfcc].T


def mel_cepstral_distortion_db(ref: np.ndarray, est: np.ndarray,
                               sample_rate: int = 16000, n_mfcc: int = 13,
                               n_fft: int = 1024, hop: int = 256,
                               n_mels: int = 80) -> float:
  """Mel-cepstral distortion in dB, c0 excluded, frames compared one to one.

  MCD = mean_frames (10 / ln 10) * sqrt(2 * sum_{k>=1} (c_ref[k] - c_est[k])^2)
  with cepstra from `mel_cepstrum`. No DTW: the two signals have equal length
  and timing (a reconstruction), so frame t is compared with frame t.

  Args:
    ref: Reference audio, [samples].
    est: Estimated audio, [samples].
    sample_rate: Sample rate in Hz.
    n_mfcc: Number of cepstral coefficients including c0 (c1..c_{n-1} used).
    n_fft, hop, n_mels: Analysis parameters of `mel_cepstrum`.

  Returns:
    MCD in dB (0 for identical inputs).
  """
  ref, est = crop_to_common_length(ref, est)
  c_ref = mel_cepstrum(ref, sample_rate, n_mfcc, n_fft, hop, n_mels)[:, 1:]
  c_est = mel_cepstrum(est, sample_rate, n_mfcc, n_fft, hop, n_mels)[:, 1:]
  per_frame = np.sqrt(2.0 * np.sum((c_ref - c_est) ** 2, axis=1))
  return float(10.0 / np.log(10.0) * np.mean(per_frame))


# ----------------------------------------------------------------------------
# Waveform distances.


def snr_db(ref: np.ndarray, est: np.ndarray) -> float:
  """Signal-to-noise ratio of an estimate, 10 log10(sum ref^2 / sum err^2).

  A sampled decoder has free phase, so this is low even for reconstructions
  that sound right; use it for deterministic (teacher-forced / vocoder-like)
  paths or as a sanity check.

  Args:
    ref: Reference audio, [samples].
    est: Estimated audio, [samples].

  Returns:
    SNR in dB; +inf when est == ref exactly.
  """
  ref, est = crop_to_common_length(ref, est)
  error_energy = np.sum((ref - est) ** 2)
  signal_energy = np.sum(ref ** 2)
  if error_energy == 0.0:
    return math.inf
  if signal_energy == 0.0:
    return -math.inf
  return float(10.0 * np.log10(signal_energy / error_energy))


def si_sdr_db(ref: np.ndarray, est: np.ndarray) -> float:
  """Scale-invariant signal-to-distortion ratio (Le Roux et al., 2019).

  Both signals are made zero-mean; target = (<est, ref> / ||ref||^2) ref,
  SI-SDR = 10 log10(||target||^2 / ||est - target||^2). Like `snr_db`, it needs
  phase agreement, so it is low for sampled (free-phase) decoders.

  Args:
    ref: Reference audio, [samples].
    est: Estimated audio, [samples].

  Returns:
    SI-SDR in dB; +inf when est is an exact scaled copy of ref.
  """
  ref, est = crop_to_common_length(ref, est)
  ref = ref - np.mean(ref)
  est = est - np.mean(est)
  ref_energy = np.sum(ref ** 2)
  if ref_energy == 0.0:
    return -math.inf
  target = np.dot(est, ref) / ref_energy * ref
  distortion_energy = np.sum((est - target) ** 2)
  target_energy = np.sum(target ** 2)
  if distortion_energy <= 1e-20 * max(target_energy, 1e-300):
    return math.inf
  if target_energy == 0.0:
    return -math.inf
  return float(10.0 * np.log10(target_energy / distortion_energy))


# ----------------------------------------------------------------------------
# Pitch and harmony.


def f0_track(audio: np.ndarray, sample_rate: int = 16000, fmin: float = C2_HZ,
             fmax: float = C7_HZ, frame_length: int = 2048,
             hop: int = 512) -> tuple[np.ndarray, np.ndarray]:
  """pYIN f0 track.

  pYIN is slow (Viterbi over a fine pitch grid); a hop of 512 samples (32 ms at
  16 kHz) keeps it to roughly real time or faster on one core.

  Args:
    audio: Audio, [samples].
    sample_rate: Sample rate in Hz.
    fmin, fmax: Pitch search range in Hz (default C2..C7).
    frame_length: Analysis frame in samples (2048 = 128 ms at 16 kHz, enough
      for two periods of C2).
    hop: Hop in samples.

  Returns:
    (f0_hz [frames] with nan where unvoiced, voiced_flag [frames] bool).
  """
  f0_hz, voiced_flag, _ = librosa.pyin(
      np.asarray(audio, dtype=np.float64), fmin=fmin, fmax=fmax,
      sr=sample_rate, frame_length=frame_length, hop_length=hop)
  voiced_flag = np.asarray(voiced_flag, dtype=bool) & np.isfinite(f0_hz)
  return np.asarray(f0_hz, dtype=np.float64), voiced_flag


def f0_agreement(ref: np.ndarray, est: np.ndarray, sample_rate: int = 16000,
                 fmin: float = C2_HZ, fmax: float = C7_HZ,
                 frame_length: int = 2048, hop: int = 512,
                 tolerance_cents: float = 50.0) -> dict[str, float]:
  """Pitch and voicing agreement of two signals (mir_eval-style).

  Args:
    ref: Reference audio, [samples].
    est: Estimated audio, [samples].
    sample_rate: Sample rate in Hz.
    fmin, fmax: pYIN search range in Hz.
    frame_length, hop: pYIN frame and hop in samples.
    tolerance_cents: Pitch tolerance for raw pitch accuracy.

  Returns:
    Dict with `f0_rpa` (fraction of reference-voiced frames where the estimate
    is voiced and within tolerance; nan if the reference is never voiced),
    `voicing_recall` and `voicing_false_alarm` (nan when undefined).
  """
  ref, est = crop_to_common_length(ref, est)
  f0_ref, voiced_ref = f0_track(ref, sample_rate, fmin, fmax, frame_length, hop)
  f0_est, voiced_est = f0_track(est, sample_rate, fmin, fmax, frame_length, hop)
  frames = min(f0_ref.shape[0], f0_est.shape[0])
  f0_ref, voiced_ref = f0_ref[:frames], voiced_ref[:frames]
  f0_est, voiced_est = f0_est[:frames], voiced_est[:frames]
  both = voiced_ref & voiced_est
  cents = np.full(frames, np.inf)
  cents[both] = np.abs(1200.0 * np.log2(f0_est[both] / f0_ref[both]))
  num_ref_voiced = int(np.sum(voiced_ref))
  num_ref_unvoiced = frames - num_ref_voiced
  nan = float("nan")
  return {
      "f0_rpa": (float(np.sum(both & (cents <= tolerance_cents))) /
                 num_ref_voiced if num_ref_voiced else nan),
      "voicing_recall": (float(np.sum(both)) / num_ref_voiced
                         if num_ref_voiced else nan),
      "voicing_false_alarm": (float(np.sum(~voiced_ref & voiced_est)) /
                              num_ref_unvoiced if num_ref_unvoiced else nan),
  }


def chroma_similarity(ref: np.ndarray, est: np.ndarray,
                      sample_rate: int = 16000, n_fft: int = 2048,
                      hop: int = 512) -> float:
  """Mean cosine similarity of chroma frames (librosa.feature.chroma_stft).

  Frames where both signals are silent are skipped; a frame silent in only one
  of them scores 0.

  Args:
    ref: Reference audio, [samples].
    est: Estimated audio, [samples].
    sample_rate: Sample rate in Hz.
    n_fft, hop: STFT sizes in samples.

  Returns:
    Mean cosine similarity in [0, 1] (nan if both are silent throughout).
  """
  ref, est = crop_to_common_length(ref, est)

  def chroma(audio: np.ndarray) -> np.ndarray:
    power = np.abs(librosa.stft(audio, n_fft=n_fft, hop_length=hop)) ** 2
    # norm=None: keep silent frames at zero instead of normalising noise up.
    # tuning=0 so both signals share one chroma filterbank (A4 = 440 Hz).
    return librosa.feature.chroma_stft(S=power, sr=sample_rate, n_fft=n_fft,
                                       norm=None, tuning=0.0).T

  chroma_ref, chroma_est = chroma(ref), chroma(est)
  norm_ref = np.linalg.norm(chroma_ref, axis=1)
  norm_est = np.linalg.norm(chroma_est, axis=1)
  floor = 1e-8 * max(norm_ref.max(initial=0.0), norm_est.max(initial=0.0),
                     1e-30)
  live_ref, live_est = norm_ref > floor, norm_est > floor
  keep = live_ref | live_est
  if not np.any(keep):
    return float("nan")
  both = live_ref & live_est
  cosine = np.zeros(chroma_ref.shape[0])
  cosine[both] = (np.sum(chroma_ref[both] * chroma_est[both], axis=1) /
                  (norm_ref[both] * norm_est[both]))
  return float(np.mean(cosine[keep]))


# ----------------------------------------------------------------------------
# Everything at once.


def reconstruction_metrics(ref: np.ndarray, est: np.ndarray,
                           sample_rate: int = 16000,
                           with_f0: bool = True) -> dict[str, float]:
  """All reconstruction metrics as one flat dict of floats.

  Args:
    ref: Reference audio, [samples].
    est: Estimated audio, [samples].
    sample_rate: Sample rate in Hz.
    with_f0: Whether to run pYIN (slow); if False the f0 keys are nan.

  Returns:
    Dict with keys mstft_sc_db, mstft_logmag_l1, lsd_db, mcd_db, snr_db,
    si_sdr_db, f0_rpa, voicing_recall, voicing_false_alarm, chroma_cos.
  """
  ref, est = crop_to_common_length(ref, est)
  metrics = dict(multi_resolution_stft(ref, est, sample_rate))
  metrics["lsd_db"] = log_spectral_distance_db(ref, est, sample_rate)
  metrics["mcd_db"] = mel_cepstral_distortion_db(ref, est, sample_rate)
  metrics["snr_db"] = snr_db(ref, est)
  metrics["si_sdr_db"] = si_sdr_db(ref, est)
  if with_f0:
    metrics.update(f0_agreement(ref, est, sample_rate))
  else:
    metrics.update({"f0_rpa": float("nan"), "voicing_recall": float("nan"),
                    "voicing_false_alarm": float("nan")})
  metrics["chroma_cos"] = chroma_similarity(ref, est, sample_rate)
  return metrics


# ----------------------------------------------------------------------------
# Aggregation.


def bootstrap_ci(values: ArrayLike, num_resamples: int = 1000,
                 confidence: float = 0.95,
                 seed: int = 0) -> tuple[float, float, float]:
  """Mean and percentile-bootstrap confidence interval of the mean.

  Args:
    values: Per-clip or per-chunk values, [n]; non-finite values are dropped.
    num_resamples: Number of bootstrap resamples.
    confidence: Two-sided coverage, e.g. 0.95.
    seed: Seed of the resampling generator (deterministic output).

  Returns:
    (mean, low, high) as floats; (nan, nan, nan) if no finite value; low ==
    high == mean for a single value.
  """
  flat = np.asarray(values, dtype=np.float64).reshape(-1)
  finite = flat[np.isfinite(flat)]
  if finite.size == 0:
    nan = float("nan")
    return nan, nan, nan
  mean = float(np.mean(finite))
  if finite.size == 1:
    return mean, mean, mean
  rng = np.random.default_rng(seed)
  indices = rng.integers(0, finite.size, size=(num_resamples, finite.size))
  means = np.mean(finite[indices], axis=1)
  alpha = (1.0 - confidence) / 2.0
  low, high = np.quantile(means, [alpha, 1.0 - alpha])
  return mean, float(min(low, mean)), float(max(high, mean))


# ----------------------------------------------------------------------------
# Code statistics.


def order0_entropy_bits(codes: ArrayLike, q_levels: int) -> float:
  """Order-0 (histogram) entropy of integer codes in bits per sample.

  Args:
    codes: Integer codes in [0, q_levels), any shape.
    q_levels: Number of quantisation levels.

  Returns:
    -sum_c p_c log2 p_c, in [0, log2(q_levels)].
  """
  flat = np.asarray(codes).reshape(-1).astype(np.int64)
  if flat.size == 0:
    return float("nan")
  if flat.min() < 0 or flat.max() >= q_levels:
    raise ValueError(f"codes must lie in [0, {q_levels}).")
  counts = np.bincount(flat, minlength=q_levels).astype(np.float64)
  probs = counts[counts > 0] / flat.size
  return float(max(-np.sum(probs * np.log2(probs)), 0.0))


def _bin_edges(kind: str, q_levels: int) -> tuple[np.ndarray, np.ndarray]:
  """Decision boundaries of the rounding quantiser in the linear domain.

  Code c covers companded values [(2c - 1)/(q - 1) - 1, (2c + 1)/(q - 1) - 1]
  clipped to [-1, 1] (code = floor((y + 1)/2 * (q - 1) + 0.5)); the edges are
  the amplitudes where the companding curve reaches these values
  (`common.quantization.expand`, the one inverse curve).

  Returns:
    (low, high), each [q_levels], linear amplitudes in [-1, 1].
  """
  boundaries = np.clip(
      (2.0 * np.arange(q_levels + 1, dtype=np.float64) - 1.0) / (q_levels - 1)
      - 1.0, -1.0, 1.0)
  edges = np.asarray(quantization.expand(boundaries, kind, q_levels))
  return edges[:-1], edges[1:]


def bin_widths_16bit(kind: str = "mu_law", q_levels: int = 256) -> np.ndarray:
  """Width of each code's bin in 16-bit linear steps (units of 2/65536).

  Args:
    kind: "mu_law", "a_law" or "linear".
    q_levels: Number of quantisation levels.

  Returns:
    Widths, [q_levels] (e.g. ~257 for every inner bin of 8-bit linear).
  """
  low, high = _bin_edges(kind, q_levels)
  return (high - low) / (2.0 / 65536.0)


def nll_bits_per_16bit_sample(nll_bits_per_sample: float, codes: ArrayLike,
                              kind: str = "mu_law",
                              q_levels: int = 256) -> float:
  """Converts a code-level NLL into bits per 16-bit linear sample.

  Assumes the model's density is uniform inside each quantiser bin, so a code
  of probability p spread over w 16-bit steps gives each step p / w:
  nll16 = nll_bits_per_sample + mean over observed codes of log2(w(code)).
  Bins narrower than one 16-bit step (the innermost mu-law bins) contribute a
  negative term, as they should for a density.

  Args:
    nll_bits_per_sample: Model NLL in bits per code (per sample).
    codes: Observed integer codes the NLL was measured on, any shape.
    kind: "mu_law", "a_law" or "linear".
    q_levels: Number of quantisation levels.

  Returns:
    NLL in bits per 16-bit linear sample.
  """
  flat = np.asarray(codes).reshape(-1).astype(np.int64)
  if flat.size == 0:
    raise ValueError("codes must not be empty.")
  log2_widths = np.log2(bin_widths_16bit(kind, q_levels))
  return float(nll_bits_per_sample + np.mean(log2_widths[flat]))
