"""Has a chunk of audio collapsed into silence, a stuck tone or noise?

The one per-chunk test behind `eval.coherence.collapse` (long generations
cut into chunks) and the live stream's watchdog (`common.live.engine`).
Pure functions of NumPy arrays; audio is float32 mono in [-1, 1],
`[samples]`; levels in dBFS (full scale 1).

A chunk is collapsed if its RMS after removing its mean (DC is inaudible)
is below `silence_dbfs` (-60 dBFS), or if its spectral flatness (librosa
`spectral_flatness`, n_fft 1024, hop 256, the mean over the frames whose own
RMS is at least `silence_dbfs`) lies outside `flatness_range`. The default
range (1e-5, 0.1) only catches near-pure tones and noise-like output (white
noise ~0.56, pink noise ~0.15, a sine ~2e-6, tonal music ~1e-4..4e-4; see
`eval.coherence` for calibrating it on real data).
"""

from __future__ import annotations

import math
from typing import Any

import librosa
import numpy as np
from numpy.typing import ArrayLike

N_FFT = 1024
HOP = N_FFT // 4
DEFAULT_SILENCE_DBFS = -60.0
DEFAULT_FLATNESS_RANGE = (1e-5, 0.1)


def dbfs(rms: ArrayLike) -> Any:
  """20 log10 of an RMS (floored at 1e-12), dBFS; same shape."""
  return 20.0 * np.log10(np.maximum(rms, 1e-12))


def _frame_rms(samples: np.ndarray) -> np.ndarray:
  """RMS of `N_FFT`-sample frames every `HOP`, centred (zero padding), as
  `librosa.feature.rms(y=..., frame_length=N_FFT)` at that hop; `[frames]`."""
  padded = np.pad(samples, N_FFT // 2)
  frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP]
  return np.sqrt(np.mean(np.abs(frames) ** 2, axis=-1))


def level_and_flatness(chunk: ArrayLike,
                       silence_dbfs: float = DEFAULT_SILENCE_DBFS
                       ) -> tuple[float, float]:
  """(RMS in dBFS after removing the mean, mean spectral flatness over the
  frames at least `silence_dbfs` loud, or nan if none is) of a chunk
  `[samples]`."""
  samples = np.asarray(chunk, np.float32).reshape(-1)
  samples = samples - np.mean(samples)  # A constant (DC) is inaudible.
  level = float(dbfs(np.sqrt(np.mean(samples.astype(np.float64) ** 2))))
  # librosa's STFT hop is N_FFT // 4 = HOP by default (centred, Hann).
  magnitude = np.abs(librosa.stft(samples, n_fft=N_FFT))
  flatness = librosa.feature.spectral_flatness(S=magnitude)[0]
  frame_rms = _frame_rms(samples)
  live = dbfs(frame_rms[:flatness.size]) >= silence_dbfs
  mean_flatness = float(np.mean(flatness[live])) if np.any(live) else math.nan
  return level, mean_flatness


def verdict(levels: ArrayLike, flatness: ArrayLike,
            silence_dbfs: float = DEFAULT_SILENCE_DBFS,
            flatness_range: tuple[float, float] = DEFAULT_FLATNESS_RANGE
            ) -> tuple[np.ndarray, np.ndarray]:
  """(silent, out of the flatness range) per chunk, bool `[chunks]` each,
  from `level_and_flatness`'s values `[chunks]`; collapsed is either."""
  levels = np.asarray(levels, np.float64)
  flatness = np.asarray(flatness, np.float64)
  silent = levels < silence_dbfs
  low, high = flatness_range
  with np.errstate(invalid="ignore"):
    out_of_range = ~silent & ((flatness < low) | (flatness > high))
  return silent, out_of_range


def is_collapsed(chunk: ArrayLike, silence_dbfs: float = DEFAULT_SILENCE_DBFS,
                 flatness_range: tuple[float, float] = DEFAULT_FLATNESS_RANGE
                 ) -> bool:
  """True if the chunk `[samples]` is silent, a stuck tone or noise."""
  level, flatness = level_and_flatness(chunk, silence_dbfs)
  silent, out_of_range = verdict([level], [flatness], silence_dbfs,
                                 flatness_range)
  return bool(silent[0] or out_of_range[0])
