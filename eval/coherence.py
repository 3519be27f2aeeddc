"""Long-range coherence of long generations (tens of seconds to minutes).

All functions are pure functions of NumPy arrays (no file I/O). Audio is float32
mono in [-1, 1], shape [samples], at `sample_rate` Hz. Levels are in dBFS
relative to a full-scale amplitude of 1 (a full-scale sine is -3 dBFS).

Metric definitions
------------------

Chroma windows (`chroma_features`). Power STFT (n_fft 4096 = 256 ms at 16 kHz,
hop 512) -> librosa chroma filterbank (12 pitch classes, no per-frame
normalisation) -> mean over windows of `window_seconds` (0.5 s) starting every
`hop_seconds` (0.25 s) -> L2 normalisation per window. Windows quieter than
-60 dBFS RMS are set to zero. Result: F, [windows, 12].

Structure (`structure_score`). Measures *sequential* repetition: a passage
that comes back, in the same order, at least `min_lag_seconds` (5 s) later.
For a lag l >= min_lag and a start i (in windows), the stripe correlation

    D[l, i] = corr(F[i : i+m], F[i+l : i+l+m]),   m = stripe_seconds / hop
                                                  (4 s = 16 windows),

is the Pearson correlation of the two [m, 12] chroma sequences, each centred
on its own mean vector: it is high only when 4 s of windows match 4 s of
windows l later *in order* (a diagonal stripe of the self-similarity matrix),
and a segment's average chroma (its key or timbre) cannot produce it. Per
lag, the passage score P[l] is the mean of D[l, i] over the best run of
r = run_seconds / hop consecutive starts (8 s; all starts if the lag offers
fewer, lags offering fewer than min_run_seconds = 1 s are skipped), i.e. the
best-matching 12 s passage pair at that lag. structure_score = max over lags
of P[l] (a correlation; `structure_lag_s` is the arg-max lag). The null is
the same statistic after permuting the order of 1 s blocks of windows
(`null_block_seconds`; `num_shuffles` = 50 seeded permutations), which keeps
every window's content (timbre, key, chords, loudness distribution) and all
structure shorter than 1 s but destroys longer sequences; structure_z =
(structure_score - mean_null) / std_null. Design notes, from the synthetic
A-B-A-B test music (30 s): the repeat scores P ~0.8-0.93 (z 10-16) while
shuffled 1 s blocks, 5 s splices of different pieces, white noise and
phase-randomised music all give z <= ~3.5. Blocks rather than single windows
because windows overlap and notes last: a single-window shuffle removes that
short-range correlation too and gave white noise z > 3. Runs of sequence
correlations rather than the single best 2-4 s match because chance matches
(a recurring chord, two pieces in the same key) are short, whereas repetition
is sustained. nan when the null has zero spread (e.g. silence) or the clip is
shorter than min_lag + stripe + min_run (10 s with the defaults). Cost grows
with the square of the duration (~0.1 s for 30 s, a few seconds for 5 min).

Similarity vs lag (`similarity_vs_lag`). For each lag tau (0.5, 1, 2, 5, 10,
20, 30 s): the mean over t of cos(G[t], G[t + tau]) on the clip-mean-centred
chroma windows G (a chroma autocorrelation: stationary noise ~0 at every lag,
music high at short lags, decaying, with peaks at repetitions; the average
over all pairs is ~0 by construction, so long lags go slightly negative);
nan when the clip is shorter than the lag plus one window. `centre=False`
gives raw chroma cosines instead (~1 for any stationary signal).

Drift (`drift`). The clip is cut into non-overlapping chunks of
`chunk_seconds` (5 s; a trailing partial chunk is dropped unless it is the only
one). LTAS of a chunk (`ltas_db`): 10 log10 of the time-average of a 32-band
mel power spectrogram (n_fft 1024, hop 256, 0..sample_rate/2) + 1e-10, [bins],
dB; 32 bands (not 64) so that the LTAS follows the spectral envelope and level
rather than which notes are playing (with 64 bands a change of chords alone
moved it by ~10 dB on the test music). drift_vs_first_db[k] =
sqrt(mean_bins (LTAS_k - LTAS_0)^2) (RMS dB difference, loudness changes
included); drift_vs_reference_db[k] likewise against a reference LTAS (e.g.
`ltas_db` of the concatenated training clips). drift_slope_db_per_min =
least-squares slope of drift_vs_first_db against chunk centre time in minutes,
over chunks 1.. (chunk 0 is 0 by construction and would bias the slope of any
varying clip upwards; nan with fewer than three chunks).

Collapse (`collapse`). Same chunking. A chunk is collapsed if its RMS after
removing its mean (DC is inaudible) is below `silence_dbfs` (-60 dBFS), or if
its spectral flatness (librosa spectral_flatness, n_fft 1024, hop 256, mean
over the frames whose own RMS is at least silence_dbfs) lies outside
`flatness_range`. Calibrate the range on real data with `flatness_percentiles`
(1st and 99th percentile of chunk flatness over real chunks, optionally
widened by a factor `margin` on each side: an 8-bit mu-law output's noise floor
raises flatness ~4x over a clean render). The default (1e-5, 0.1) only catches
near-pure tones and noise-like output (white noise ~0.56, pink noise ~0.15, a
sine ~2e-6, the tonal test music ~1e-4..4e-4, with 30 dB SNR white noise added
~4e-3). collapse_fraction = fraction of collapsed chunks;
time_to_first_collapse_s = start time of the first collapsed chunk (nan if
none).

Distribution distance (`window_features`, `frechet_distance`). Each clip is cut
into non-overlapping `window_seconds` (1 s) windows; per window, the mean and
standard deviation over frames (n_fft 1024, hop 256) of a 64-band log-mel
spectrogram (10 log10(power + 1e-10), dB) -> 128 values, and of 20 MFCCs
(DCT-II of that log-mel) -> 40 values. fd_logmel / fd_mfcc: Frechet distance
between Gaussians fitted to the pooled windows of the real and generated sets,
||mu_a - mu_b||^2 + tr(C_a + C_b - 2 (C_a C_b)^{1/2}), with eps = 1e-6 added to
the covariance diagonals (few windows make them singular) and the trace of the
square root taken from symmetric eigendecompositions. Like FAD, the value is
biased upwards with few windows: only compare numbers computed from the same
number of windows. No pretrained-embedding distance (VGGish/OpenL3 FAD) is
provided: no PyPI package ships such weights inside its wheel (openl3 is an
sdist whose setup.py downloads them), and nothing can be fetched from a model
hub here.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import librosa
import numpy as np
from numpy.typing import ArrayLike

from common import collapse as collapse_lib

_POWER_EPS = 1e-10
_CHROMA_N_FFT = 4096
_CHROMA_HOP = 512
_FRAME_N_FFT = 1024
_FRAME_HOP = 256
DEFAULT_LAGS_SECONDS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0)
DEFAULT_FLATNESS_RANGE = collapse_lib.DEFAULT_FLATNESS_RANGE


def _as_audio(audio: ArrayLike) -> np.ndarray:
  return np.asarray(audio, dtype=np.float32).reshape(-1)


def _dbfs(rms: ArrayLike) -> Any:
  return 20.0 * np.log10(np.maximum(rms, 1e-12))


# ----------------------------------------------------------------------------
# Chroma windows and structure.


def chroma_features(audio: ArrayLike, sample_rate: int = 16000,
                    hop_seconds: float = 0.25, window_seconds: float = 0.5,
                    silence_dbfs: float = -60.0) -> np.ndarray:
  """Chroma of `window_seconds` windows every `hop_seconds`, L2-normalised.

  Args:
    audio: Audio, [samples].
    sample_rate: Sample rate in Hz.
    hop_seconds: Window hop in seconds.
    window_seconds: Window length in seconds (chroma frames are averaged over
      it).
    silence_dbfs: Windows with RMS below this level get an all-zero vector.

  Returns:
    Chroma, [windows, 12], each row unit-norm or zero. windows = 0 if the clip
    is shorter than one window.
  """
  audio = _as_audio(audio)
  window = int(round(window_seconds * sample_rate))
  hop = int(round(hop_seconds * sample_rate))
  if audio.size < window:
    return np.zeros((0, 12), dtype=np.float64)
  num_windows = (audio.size - window) // hop + 1
  power = np.abs(librosa.stft(audio, n_fft=_CHROMA_N_FFT,
                              hop_length=_CHROMA_HOP)) ** 2
  # tuning=0: A4 = 440 Hz for every clip (no per-clip tuning estimate).
  chroma = librosa.feature.chroma_stft(S=power, sr=sample_rate,
                                       n_fft=_CHROMA_N_FFT, norm=None,
                                       tuning=0.0).T
  # Frame f is centred at f * _CHROMA_HOP; pool frames centred in each window.
  cumulative = np.concatenate([np.zeros((1, 12)), np.cumsum(chroma, axis=0)])
  starts = np.arange(num_windows) * hop
  first = np.clip(np.ceil(starts / _CHROMA_HOP).astype(int), 0,
                  chroma.shape[0] - 1)
  last = np.clip(np.ceil((starts + window) / _CHROMA_HOP).astype(int),
                 first + 1, chroma.shape[0])
  pooled = (cumulative[last] - cumulative[first]) / (last - first)[:, None]
  # Silence gate on the window's RMS.
  squares = np.concatenate([[0.0], np.cumsum(audio.astype(np.float64) ** 2)])
  rms = np.sqrt((squares[starts + window] - squares[starts]) / window)
  norms = np.linalg.norm(pooled, axis=1)
  live = (_dbfs(rms) >= silence_dbfs) & (norms > 0)
  features = np.zeros_like(pooled)
  features[live] = pooled[live] / norms[live, None]
  return features


def _centred(features: np.ndarray) -> np.ndarray:
  """Subtracts the mean of the non-zero rows and re-normalises them."""
  live = np.linalg.norm(features, axis=1) > 0
  centred = np.zeros_like(features)
  if np.any(live):
    centred[live] = features[live] - np.mean(features[live], axis=0)
  norms = np.linalg.norm(centred, axis=1)
  ok = norms > 1e-8
  centred[ok] /= norms[ok, None]
  centred[~ok] = 0.0
  return centred


def _diagonals(matrix: np.ndarray) -> np.ndarray:
  """Rows of diagonals of a square matrix: out[l, i] = matrix[i, i + l].

  Entries with i + l >= n are garbage (the caller masks them). Returns a
  C-contiguous [n, n] array built from a zero-copy strided view.
  """
  n = matrix.shape[0]
  flat = np.concatenate([np.ascontiguousarray(matrix, dtype=np.float64).ravel(),
                         np.zeros(n)])
  step = flat.strides[0]
  view = np.lib.stride_tricks.as_strided(flat, shape=(n, n),
                                         strides=((n + 1) * step, step))
  return np.ascontiguousarray(view.T)  # [lags, starts]


def _stripe_correlations(features: np.ndarray, min_lag: int, stripe: int
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Pearson correlations of stripe-long window sequences at every lag.

  Args:
    features: Windows, [n, dims].
    min_lag: Smallest lag, in windows.
    stripe: Sequence length m, in windows.

  Returns:
    (lags [lags], correlation [lags, n - m + 1], valid [lags, n - m + 1]):
    correlation[j, i] = corr(features[i:i+m], features[i+l:i+l+m]) with
    l = lags[j], each sequence centred on its own mean vector so that only the
    order of the windows, not a segment's average chroma (its key), can
    correlate; valid where i + l + m <= n. Constant or silent sequences give 0.
  """
  n = features.shape[0]
  num_starts = n - stripe + 1
  lags = np.arange(min_lag, num_starts)
  starts = np.arange(num_starts)
  # sum_k <x_{i+k}, x_{i+l+k}>: moving sums along the diagonals of F F^T.
  diagonal = _diagonals(features @ features.T)[lags]  # [lags, n]
  cumulative = np.zeros((lags.size, n + 1))
  np.cumsum(diagonal, axis=1, out=cumulative[:, 1:])
  cross = cumulative[:, stripe:] - cumulative[:, :num_starts]
  summed = np.concatenate([np.zeros((1, features.shape[1])),
                           np.cumsum(features, axis=0)])
  means = (summed[stripe:] - summed[:-stripe]) / stripe  # [num_starts, dims]
  energy = np.concatenate([[0.0], np.cumsum(np.sum(features ** 2, axis=1))])
  # Sum of squared deviations of each sequence from its mean, [num_starts].
  spread = np.maximum((energy[stripe:] - energy[:-stripe]) -
                      stripe * np.sum(means ** 2, axis=1), 0.0)
  covariance = cross - stripe * _diagonals(means @ means.T)[lags]
  valid = starts[None, :] + lags[:, None] < num_starts
  # spread of the second sequence, spread[i + l], as a zero-copy view.
  padded = np.concatenate([spread, np.zeros(num_starts)])
  step = padded.strides[0]
  spread_second = np.lib.stride_tricks.as_strided(
      padded[min_lag:], shape=(lags.size, num_starts), strides=(step, step))
  norm = np.sqrt(spread[None, :] * spread_second)
  defined = valid & (norm > 1e-6 * stripe)
  correlation = np.where(defined, covariance / np.where(defined, norm, 1.0),
                         0.0)
  return lags, correlation, valid


def _passage_scores(correlation: np.ndarray, valid: np.ndarray, run: int,
                    min_run: int) -> np.ndarray:
  """Per lag: mean stripe correlation over the best run of starts, [lags].

  The run is `run` consecutive starts, or all valid starts where the lag
  offers fewer; lags with fewer than `min_run` valid starts get nan.
  """
  num_lags, num_starts = correlation.shape
  count = np.sum(valid, axis=1)  # Valid starts form a prefix of each row.
  cumulative = np.zeros((num_lags, num_starts + 1))
  np.cumsum(np.where(valid, correlation, 0.0), axis=1, out=cumulative[:, 1:])
  # Lags with a full run: best moving mean over windows inside the prefix.
  scores = cumulative[np.arange(num_lags), count] / np.maximum(count, 1)
  if num_starts >= run:
    moving = (cumulative[:, run:] - cumulative[:, :-run]) / run
    inside = np.arange(num_starts - run + 1)[None, :] + run <= count[:, None]
    best = np.max(np.where(inside, moving, -np.inf), axis=1)
    scores = np.where(count >= run, best, scores)
  return np.where(count >= min_run, scores, np.nan)


def _structure_statistic(features: np.ndarray, min_lag: int, stripe: int,
                         run: int, min_run: int) -> float:
  """Best passage score over lags >= min_lag (nan if no lag qualifies)."""
  _, correlation, valid = _stripe_correlations(features, min_lag, stripe)
  scores = _passage_scores(correlation, valid, run, min_run)
  return float(np.nanmax(scores)) if np.any(np.isfinite(scores)) else math.nan


def structure_score(audio: ArrayLike, sample_rate: int = 16000,
                    min_lag_seconds: float = 5.0,
                    stripe_seconds: float = 4.0, run_seconds: float = 8.0,
                    min_run_seconds: float = 1.0, num_shuffles: int = 50,
                    seed: int = 0, null_block_seconds: float = 1.0,
                    hop_seconds: float = 0.25,
                    window_seconds: float = 0.5) -> dict[str, Any]:
  """Sequential-repetition score of a clip and its z-score against shuffling.

  See the module docstring for the definition. Cost grows with the square of
  the duration: ~0.1 s for 30 s, ~5-15 s for 5 minutes (50 shuffles).

  Args:
    audio: Audio, [samples].
    sample_rate: Sample rate in Hz.
    min_lag_seconds: Shortest lag counted as long-range, in seconds.
    stripe_seconds: Length of the sequences that are correlated, in seconds.
    run_seconds: Length of the run of sequence starts averaged per lag, in
      seconds (a lag is scored by its best run_seconds + stripe_seconds
      passage).
    min_run_seconds: Lags offering a shorter run of starts are skipped.
    num_shuffles: Number of block permutations in the null.
    seed: Seed of the permutations.
    null_block_seconds: Length of the blocks of windows the null permutes, in
      seconds (1 s = 4 windows).
    hop_seconds, window_seconds: Chroma window hop and length in seconds.

  Returns:
    Dict with `structure_score` (raw, a correlation in [-1, 1]),
    `structure_z`, `structure_null_mean`, `structure_null_std` and
    `structure_lag_s` (lag of the best passage, seconds).
  """
  features = chroma_features(audio, sample_rate, hop_seconds, window_seconds)
  return structure_score_from_features(
      features, hop_seconds, min_lag_seconds, stripe_seconds, run_seconds,
      min_run_seconds, num_shuffles, seed, null_block_seconds)


def _block_permutation(n: int, block: int, rng: np.random.Generator
                       ) -> np.ndarray:
  """Indices [n] that permute consecutive blocks of `block` windows."""
  blocks = np.array_split(np.arange(n), np.arange(block, n, block))
  return np.concatenate([blocks[i] for i in rng.permutation(len(blocks))])


def structure_score_from_features(features: np.ndarray,
                                  hop_seconds: float = 0.25,
                                  min_lag_seconds: float = 5.0,
                                  stripe_seconds: float = 4.0,
                                  run_seconds: float = 8.0,
                                  min_run_seconds: float = 1.0,
                                  num_shuffles: int = 50, seed: int = 0,
                                  null_block_seconds: float = 1.0
                                  ) -> dict[str, Any]:
  """`structure_score` on precomputed windows, features [windows, dims]."""
  nan = float("nan")
  n = features.shape[0]
  min_lag = int(round(min_lag_seconds / hop_seconds))
  stripe = max(2, int(round(stripe_seconds / hop_seconds)))
  run = max(1, int(round(run_seconds / hop_seconds)))
  min_run = max(1, int(round(min_run_seconds / hop_seconds)))
  block = max(1, int(round(null_block_seconds / hop_seconds)))
  result = {"structure_score": nan, "structure_z": nan,
            "structure_null_mean": nan, "structure_null_std": nan,
            "structure_lag_s": nan}
  if n - stripe + 1 - min_lag < min_run:
    return result
  lags, correlation, valid = _stripe_correlations(features, min_lag, stripe)
  scores = _passage_scores(correlation, valid, run, min_run)
  if not np.any(np.isfinite(scores)):
    return result
  best = int(np.nanargmax(scores))
  rng = np.random.default_rng(seed)
  null = np.array([
      _structure_statistic(features[_block_permutation(n, block, rng)],
                           min_lag, stripe, run, min_run)
      for _ in range(num_shuffles)])
  null_mean, null_std = float(np.mean(null)), float(np.std(null, ddof=1))
  result.update(structure_score=float(scores[best]),
                structure_lag_s=float(lags[best] * hop_seconds),
                structure_null_mean=null_mean, structure_null_std=null_std)
  if null_std > 1e-9:
    result["structure_z"] = (result["structure_score"] - null_mean) / null_std
  return result


def similarity_vs_lag(audio: ArrayLike, sample_rate: int = 16000,
                      lags_seconds: Sequence[float] = DEFAULT_LAGS_SECONDS,
                      centre: bool = True, hop_seconds: float = 0.25,
                      window_seconds: float = 0.5) -> np.ndarray:
  """Mean cosine similarity of chroma windows at each lag.

  Args:
    audio: Audio, [samples].
    sample_rate: Sample rate in Hz.
    lags_seconds: Lags in seconds, [lags].
    centre: Whether to subtract the clip's mean chroma first (as in
      `structure_score`). Centred, stationary noise scores ~0 at every lag and
      music decays with lag, peaking again at repetitions; uncentred, every
      stationary signal (noise, a held chord) scores ~1 at every lag.
    hop_seconds, window_seconds: Chroma window hop and length in seconds.

  Returns:
    Mean cosine similarity per lag, [lags] (in [-1, 1]; nan where the clip is
    shorter than lag + one window, or no pair of windows is non-silent).
  """
  features = chroma_features(audio, sample_rate, hop_seconds, window_seconds)
  if centre:
    features = _centred(features)
  n = features.shape[0]
  live = np.linalg.norm(features, axis=1) > 0
  profile = []
  for lag_seconds in lags_seconds:
    lag = int(round(lag_seconds / hop_seconds))
    if lag < 1 or lag >= n:
      profile.append(float("nan"))
      continue
    both = live[:-lag] & live[lag:]
    if not np.any(both):
      profile.append(float("nan"))
      continue
    cosine = np.sum(features[:-lag] * features[lag:], axis=1)
    profile.append(float(np.mean(cosine[both])))
  return np.asarray(profile, dtype=np.float64)


# ----------------------------------------------------------------------------
# Chunking, drift and collapse.


def _chunks(audio: np.ndarray, sample_rate: int, chunk_seconds: float
            ) -> tuple[np.ndarray, np.ndarray]:
  """Non-overlapping chunks, [chunks, chunk_samples] (+ start times, s)."""
  chunk = int(round(chunk_seconds * sample_rate))
  num_chunks = audio.size // chunk
  if num_chunks == 0:
    return audio[None, :], np.zeros(1)
  chunks = audio[:num_chunks * chunk].reshape(num_chunks, chunk)
  return chunks, np.arange(num_chunks) * chunk / sample_rate


def ltas_db(audio: ArrayLike, sample_rate: int = 16000, n_bands: int = 32,
            n_fft: int = _FRAME_N_FFT, hop: int = _FRAME_HOP) -> np.ndarray:
  """Long-term average spectrum in dB on mel bands.

  For a corpus reference, pass the concatenation of the real clips.

  Args:
    audio: Audio, [samples].
    sample_rate: Sample rate in Hz.
    n_bands: Number of mel bands (0 Hz .. sample_rate / 2).
    n_fft, hop: STFT sizes in samples.

  Returns:
    10 log10(mean over frames of mel power + 1e-10), [n_bands], dB.
  """
  mel_power = librosa.feature.melspectrogram(
      y=_as_audio(audio), sr=sample_rate, n_fft=n_fft, hop_length=hop,
      n_mels=n_bands, power=2.0)
  return 10.0 * np.log10(np.mean(mel_power, axis=1) + _POWER_EPS)


def _rms_db_difference(a: np.ndarray, b: np.ndarray) -> Any:
  return np.sqrt(np.mean((a - b) ** 2, axis=-1))


def _slope_per_minute(times_seconds: np.ndarray, values: np.ndarray) -> float:
  if len(values) < 2:
    return float("nan")
  return float(np.polyfit(np.asarray(times_seconds) / 60.0, values, 1)[0])



def drift(audio: ArrayLike, sample_rate: int = 16000,
          chunk_seconds: float = 5.0,
          reference_ltas: np.ndarray | None = None,
          n_bands: int = 32) -> dict[str, Any]:
  """Spectral drift of a long clip, chunk by chunk.

  Args:
    audio: Audio, [samples].
    sample_rate: Sample rate in Hz.
    chunk_seconds: Chunk length in seconds.
    reference_ltas: Optional reference LTAS in dB, [n_bands] (from `ltas_db`
      of real data).
    n_bands: Number of mel bands of the LTAS.

  Returns:
    Dict with `ltas_db` [chunks, n_bands] (dB), `chunk_start_s` [chunks],
    `drift_vs_first_db` [chunks] (RMS dB difference to chunk 0),
    `drift_vs_reference_db` [chunks] (None without a reference) and
    `drift_slope_db_per_min` (float: slope over chunks 1.. -- chunk 0 is 0
    by construction and would bias any varying clip upwards; nan with fewer
    than three chunks).
  """
  chunks, starts = _chunks(_as_audio(audio), sample_rate, chunk_seconds)
  spectra = np.stack([ltas_db(chunk, sample_rate, n_bands) for chunk in chunks])
  vs_first = _rms_db_difference(spectra, spectra[0])
  centres = starts + chunks.shape[1] / sample_rate / 2.0
  vs_reference = None
  if reference_ltas is not None:
    vs_reference = _rms_db_difference(spectra, np.asarray(reference_ltas))
  return {"ltas_db": spectra, "chunk_start_s": starts,
          "drift_vs_first_db": vs_first,
          "drift_vs_reference_db": vs_reference,
          "drift_slope_db_per_min": _slope_per_minute(centres[1:],
                                                      vs_first[1:])}


def _chunk_level_and_flatness(chunk: np.ndarray, sample_rate: int,
                              silence_dbfs: float) -> tuple[float, float]:
  """(RMS in dBFS, mean flatness over non-silent frames or nan)."""
  del sample_rate  # Frame sizes are in samples.
  return collapse_lib.level_and_flatness(chunk, silence_dbfs)


def collapse(audio: ArrayLike, sample_rate: int = 16000,
             chunk_seconds: float = 5.0, silence_dbfs: float = -60.0,
             flatness_range: tuple[float, float] = DEFAULT_FLATNESS_RANGE
             ) -> dict[str, Any]:
  """Detects chunks that collapsed into silence, a stuck tone, or noise.

  Args:
    audio: Audio, [samples].
    sample_rate: Sample rate in Hz.
    chunk_seconds: Chunk length in seconds.
    silence_dbfs: Chunks with RMS below this level (dBFS) are silent.
    flatness_range: (low, high) allowed mean spectral flatness; calibrate with
      `flatness_percentiles` on real data.

  Returns:
    Dict with per-chunk `chunk_start_s`, `rms_dbfs`, `flatness`, `silent`,
    `flatness_out_of_range`, `collapsed` ([chunks] arrays), plus
    `collapse_fraction` and `time_to_first_collapse_s` (nan if never).
  """
  chunks, starts = _chunks(_as_audio(audio), sample_rate, chunk_seconds)
  stats = np.array([_chunk_level_and_flatness(c, sample_rate, silence_dbfs)
                    for c in chunks])
  levels, flatness = stats[:, 0], stats[:, 1]
  silent, out_of_range = collapse_lib.verdict(levels, flatness, silence_dbfs,
                                              flatness_range)
  collapsed = silent | out_of_range
  first = np.flatnonzero(collapsed)
  return {"chunk_start_s": starts, "rms_dbfs": levels, "flatness": flatness,
          "silent": silent, "flatness_out_of_range": out_of_range,
          "collapsed": collapsed,
          "collapse_fraction": float(np.mean(collapsed)),
          "time_to_first_collapse_s": (float(starts[first[0]]) if first.size
                                       else float("nan"))}


def flatness_percentiles(real_audios: Sequence[ArrayLike],
                         sample_rate: int = 16000,
                         chunk_seconds: float = 5.0,
                         percentiles: tuple[float, float] = (1.0, 99.0),
                         margin: float = 1.0, silence_dbfs: float = -60.0
                         ) -> tuple[float, float]:
  """Percentiles of chunk spectral flatness over real clips.

  Args:
    real_audios: List of real clips, each [samples].
    sample_rate: Sample rate in Hz.
    chunk_seconds: Chunk length in seconds (as in `collapse`).
    percentiles: (low, high) percentiles, in percent.
    margin: Factor (>= 1) that widens the range in the log domain:
      (p_low / margin, p_high * margin). Clean real renders have a lower
      flatness than any 8-bit mu-law output (whose quantisation noise floor
      raises it ~3-5x), so margin ~10 avoids calling a hissy but musical
      output collapsed; white noise (~0.56) stays far outside.
    silence_dbfs: Silent chunks are left out.

  Returns:
    (low, high) flatness values, to pass as `collapse(flatness_range=...)`.
  """
  values = []
  for audio in real_audios:
    chunks, _ = _chunks(_as_audio(audio), sample_rate, chunk_seconds)
    for chunk in chunks:
      level, flatness = _chunk_level_and_flatness(chunk, sample_rate,
                                                  silence_dbfs)
      if level >= silence_dbfs and np.isfinite(flatness):
        values.append(flatness)
  if not values:
    raise ValueError("no non-silent chunk in real_audios.")
  low, high = np.percentile(values, percentiles)
  return float(low) / margin, float(high) * margin


# ----------------------------------------------------------------------------
# Distribution distance.


def window_features(audio: ArrayLike, sample_rate: int = 16000,
                    window_seconds: float = 1.0, kind: str = "both",
                    n_mels: int = 64, n_mfcc: int = 20) -> np.ndarray:
  """Pooled log-mel / MFCC statistics of non-overlapping windows.

  Args:
    audio: Audio, [samples].
    sample_rate: Sample rate in Hz.
    window_seconds: Window length in seconds.
    kind: "logmel" ([windows, 2 n_mels]: mean and std over frames of the
      log-mel in dB), "mfcc" ([windows, 2 n_mfcc]) or "both" (concatenated).
    n_mels, n_mfcc: Number of mel bands and MFCCs.

  Returns:
    Features, [windows, D]; windows = 0 if the clip is shorter than a window.
  """
  audio = _as_audio(audio)
  mel_power = librosa.feature.melspectrogram(
      y=audio, sr=sample_rate, n_fft=_FRAME_N_FFT, hop_length=_FRAME_HOP,
      n_mels=n_mels, power=2.0)
  log_mel = 10.0 * np.log10(mel_power + _POWER_EPS)  # [n_mels, frames]
  frames_per_window = max(1, int(round(window_seconds * sample_rate /
                                       _FRAME_HOP)))
  num_windows = int(audio.size // int(round(window_seconds * sample_rate)))
  num_windows = min(num_windows, log_mel.shape[1] // frames_per_window)
  parts = []
  if kind in ("logmel", "both"):
    parts.append(log_mel)
  if kind in ("mfcc", "both"):
    parts.append(librosa.feature.mfcc(S=log_mel, n_mfcc=n_mfcc))
  if not parts:
    raise ValueError(f"unknown kind {kind!r}")
  pooled = []
  for part in parts:
    framed = part[:, :num_windows * frames_per_window].reshape(
        part.shape[0], num_windows, frames_per_window)
    pooled += [np.mean(framed, axis=2).T, np.std(framed, axis=2).T]
  return np.concatenate(pooled, axis=1)


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray,
                     eps: float = 1e-6) -> float:
  """Frechet distance between Gaussians fitted to two feature sets.

  FD = ||mu_a - mu_b||^2 + tr(C_a + C_b - 2 sqrtm(C_a C_b)), with eps added to
  both covariance diagonals (small sets give singular covariances). The trace
  of the matrix square root is computed as sum(sqrt(eig(S C_b S))) with
  S = sqrtm(C_a) from a symmetric eigendecomposition: the same value as
  scipy.linalg.sqrtm, about 50x faster.

  Args:
    features_a: [n_a, D] with n_a >= 2.
    features_b: [n_b, D] with n_b >= 2.
    eps: Diagonal regulariser.

  Returns:
    FD (>= 0), in squared feature units.
  """
  features_a = np.asarray(features_a, dtype=np.float64)
  features_b = np.asarray(features_b, dtype=np.float64)
  if features_a.shape[0] < 2 or features_b.shape[0] < 2:
    raise ValueError("need at least two feature vectors per set.")
  mu_a, mu_b = features_a.mean(axis=0), features_b.mean(axis=0)
  eye = np.eye(features_a.shape[1])
  cov_a = np.atleast_2d(np.cov(features_a, rowvar=False)) + eps * eye
  cov_b = np.atleast_2d(np.cov(features_b, rowvar=False)) + eps * eye
  vals_a, vecs_a = np.linalg.eigh(cov_a)
  sqrt_a = (vecs_a * np.sqrt(np.clip(vals_a, 0.0, None))) @ vecs_a.T
  inner = np.linalg.eigvalsh(sqrt_a @ cov_b @ sqrt_a)
  trace_sqrt = np.sum(np.sqrt(np.clip(inner, 0.0, None)))
  distance = (np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b)
              - 2.0 * trace_sqrt)
  return float(max(distance, 0.0))


def _pooled_features(audios: Sequence[ArrayLike], sample_rate: int,
                     window_seconds: float, kind: str) -> np.ndarray:
  return np.concatenate([window_features(a, sample_rate, window_seconds, kind)
                         for a in audios], axis=0)


def fd_logmel(real_audios: Sequence[ArrayLike],
              generated_audios: Sequence[ArrayLike], sample_rate: int = 16000,
              window_seconds: float = 1.0) -> float:
  """Frechet distance of pooled log-mel window statistics (lists of clips)."""
  return frechet_distance(
      _pooled_features(real_audios, sample_rate, window_seconds, "logmel"),
      _pooled_features(generated_audios, sample_rate, window_seconds,
                       "logmel"))


def fd_mfcc(real_audios: Sequence[ArrayLike],
            generated_audios: Sequence[ArrayLike], sample_rate: int = 16000,
            window_seconds: float = 1.0) -> float:
  """Frechet distance of pooled MFCC window statistics (lists of clips)."""
  return frechet_distance(
      _pooled_features(real_audios, sample_rate, window_seconds, "mfcc"),
      _pooled_features(generated_audios, sample_rate, window_seconds, "mfcc"))


# ----------------------------------------------------------------------------
# Everything at once.


def coherence_metrics(audio: ArrayLike, sample_rate: int = 16000,
                      reference: Sequence[ArrayLike] | None = None,
                      reference_ltas: np.ndarray | None = None,
                      flatness_range: tuple[float, float] | None = None,
                      flatness_margin: float = 10.0,
                      lags_seconds: Sequence[float] = DEFAULT_LAGS_SECONDS,
                      chunk_seconds: float = 5.0,
                      seed: int = 0) -> dict[str, float]:
  """All long-range coherence metrics of one clip as a flat dict of floats.

  Args:
    audio: Generated audio, [samples].
    sample_rate: Sample rate in Hz.
    reference: Optional list of real clips, each [samples]; used to derive
      `reference_ltas` (LTAS of their concatenation) and `flatness_range`
      (`flatness_percentiles` with `flatness_margin`) when those are not given.
    reference_ltas: Optional reference LTAS in dB, [32] (`ltas_db`).
    flatness_range: Optional (low, high) flatness range for `collapse`;
      default DEFAULT_FLATNESS_RANGE when there is no reference either.
    flatness_margin: Widening of the reference flatness range (see
      `flatness_percentiles`); 10 tolerates an 8-bit mu-law noise floor.
    lags_seconds: Lags of the similarity profile, in seconds.
    chunk_seconds: Chunk length of drift and collapse, in seconds.
    seed: Seed of the structure null.

  Returns:
    Dict with structure_z, structure_score, structure_null_mean,
    structure_null_std, structure_lag_s, collapse_fraction,
    time_to_first_collapse_s,
    drift_slope_db_per_min, drift_max_vs_first_db, drift_mean_vs_reference_db
    (nan without a reference) and sim_lag_<lag>s for each lag.
  """
  if reference is not None:
    reference = [_as_audio(r) for r in reference]
    if reference_ltas is None:
      reference_ltas = ltas_db(np.concatenate(reference), sample_rate)
    if flatness_range is None:
      flatness_range = flatness_percentiles(reference, sample_rate,
                                            chunk_seconds,
                                            margin=flatness_margin)
  if flatness_range is None:
    flatness_range = DEFAULT_FLATNESS_RANGE
  metrics = dict(structure_score(audio, sample_rate, seed=seed))
  collapsed = collapse(audio, sample_rate, chunk_seconds,
                       flatness_range=flatness_range)
  metrics["collapse_fraction"] = collapsed["collapse_fraction"]
  metrics["time_to_first_collapse_s"] = collapsed["time_to_first_collapse_s"]
  drifted = drift(audio, sample_rate, chunk_seconds, reference_ltas)
  metrics["drift_slope_db_per_min"] = drifted["drift_slope_db_per_min"]
  metrics["drift_max_vs_first_db"] = float(np.max(
      drifted["drift_vs_first_db"]))
  metrics["drift_mean_vs_reference_db"] = (
      float(np.mean(drifted["drift_vs_reference_db"]))
      if drifted["drift_vs_reference_db"] is not None else float("nan"))
  profile = similarity_vs_lag(audio, sample_rate, lags_seconds)
  for lag_seconds, value in zip(lags_seconds, profile):
    metrics[f"sim_lag_{lag_seconds:g}s"] = float(value)
  return metrics
