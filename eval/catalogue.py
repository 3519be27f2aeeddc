"""The metric catalogue, as data: what each metric key means and how to show it.

One `Metric` row per known key (label, unit, better direction, group, help
text, and the short column title of the headline table). `metric_info(key,
overrides)` reads the table; keys `sim_lag_<s>s` (similarity at a lag) are a
rule, not rows. The report writer (`eval.report`) uses it to title, order,
explain and rank every number it shows.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

# Section of a metric's table, in display order: group key -> title.
GROUPS: dict[str, str] = {
    "likelihood": "Likelihood",
    "reconstruction": "Reconstruction",
    "coherence": "Coherence",
    "distribution": "Distribution distance",
    "speed": "Speed",
    "other": "Other",
}

# Shown in the Summary's headline table (when any row has them).
HEADLINE: tuple[str, ...] = (
    "nll_bits_per_sample", "lsd_db", "mstft_sc_db", "f0_rpa", "structure_z",
    "collapse_fraction", "drift_slope_db_per_min", "fd_logmel", "fd_mfcc",
    "samples_per_second")


class Metric(NamedTuple):
  """One catalogue row. better: "lower", "higher" or None (no direction)."""
  key: str
  label: str
  unit: str
  better: str | None
  group: str
  text: str
  short: str | None = None  # headline column title; the label if None


CATALOGUE: tuple[Metric, ...] = (
    # Likelihood.
    Metric("nll_bits_per_sample", "NLL", "bits/sample", "lower", "likelihood",
           "Negative log-likelihood of held-out test audio per quantised "
           "sample (code), in bits. Comparable only between models with the "
           "same quantiser (q levels, companding).", "NLL"),
    Metric("nll_bits_per_16bit_sample", "NLL per 16-bit sample",
           "bits/sample", "lower", "likelihood",
           "NLL converted to bits per 16-bit linear sample, assuming a "
           "uniform density inside each quantiser bin: comparable across "
           "quantisers.", "NLL 16-bit"),
    Metric("order0_entropy_bits", "Order-0 entropy", "bits/sample", None,
           "likelihood",
           "Entropy of the histogram of the test codes: the NLL of a model "
           "that ignores all context (a baseline, not a score)."),
    # Reconstruction.
    Metric("mstft_sc_db", "Multi-res. spectral convergence", "dB", "lower",
           "reconstruction",
           "20 log10(||S_ref - S_est|| / ||S_ref||) averaged over three STFT "
           "resolutions (2048/1024/512). Lower is closer to the original.",
           "Spectral conv."),
    Metric("mstft_logmag_l1", "Multi-res. log-magnitude L1", "", "lower",
           "reconstruction",
           "Mean |ln S_ref - ln S_est| over the three STFT resolutions."),
    Metric("lsd_db", "Log-spectral distance", "dB", "lower", "reconstruction",
           "RMS over frequency of the dB difference of power spectra, "
           "averaged over frames (n_fft 2048).", "LSD"),
    Metric("mcd_db", "Mel-cepstral distortion", "dB", "lower",
           "reconstruction",
           "Frame-by-frame distance of mel cepstra (c0 excluded, no "
           "alignment)."),
    Metric("snr_db", "SNR", "dB", "higher", "reconstruction",
           "Waveform signal-to-noise ratio. Low for any sampled "
           "autoregressive decoder (free phase) even when it sounds right."),
    Metric("si_sdr_db", "SI-SDR", "dB", "higher", "reconstruction",
           "Scale-invariant signal-to-distortion ratio (waveform matching, "
           "like SNR)."),
    Metric("f0_rpa", "F0 raw pitch accuracy", "", "higher", "reconstruction",
           "Fraction of the original's voiced frames (pYIN, C2-C7) in which "
           "the reconstruction is voiced and within 50 cents.", "F0 accuracy"),
    Metric("voicing_recall", "Voicing recall", "", "higher", "reconstruction",
           "Fraction of the original's voiced frames voiced in the "
           "reconstruction."),
    Metric("voicing_false_alarm", "Voicing false alarm", "", "lower",
           "reconstruction",
           "Fraction of the original's unvoiced frames voiced in the "
           "reconstruction."),
    Metric("chroma_cos", "Chroma similarity", "", "higher", "reconstruction",
           "Mean cosine similarity of chroma frames (same notes)."),
    # Coherence.
    Metric("structure_z", "Structure z", "", "higher", "coherence",
           "Sequential repetition (4 s of chroma coming back >= 5 s later) as "
           "a z-score against 1 s block shuffles of the same clip. ~0 for "
           "noise or structureless audio; real music with repeats scores "
           "well above 2. Needs clips of at least 10 s."),
    Metric("structure_score", "Structure score", "correlation", None,
           "coherence", "The raw repetition statistic behind structure z."),
    Metric("collapse_fraction", "Collapse fraction", "", "lower", "coherence",
           "Fraction of 5 s chunks that are silent (< -60 dBFS) or whose "
           "spectral flatness is outside the range of the real clips (a "
           "stuck tone or noise).", "Collapse"),
    Metric("drift_slope_db_per_min", "Drift slope", "dB/min", None,
           "coherence",
           "Slope of the long-term spectrum's distance to the first 5 s "
           "chunk, per minute. Near 0 for stationary material; large "
           "positive values mean the timbre wanders away."),
    Metric("drift_max_vs_first_db", "Max drift", "dB", None, "coherence",
           "Largest RMS dB distance of a chunk's long-term spectrum to the "
           "first chunk's."),
    Metric("drift_mean_vs_reference_db", "Spectral distance to real", "dB",
           "lower", "coherence",
           "Mean RMS dB distance of each chunk's long-term spectrum to that "
           "of all real clips together."),
    # Distribution distance.
    Metric("fd_logmel", "FD log-mel", "", "lower", "distribution",
           "Frechet distance between Gaussians fitted to 1 s window "
           "statistics (mean and std of a 64-band log-mel) of these clips and "
           "of the real clips. For the real row: between two halves of the "
           "real clips, for scale (halves hold fewer windows, so it reads "
           "high). Biased upwards with few windows: compare rows with similar "
           "amounts of audio."),
    Metric("fd_mfcc", "FD MFCC", "", "lower", "distribution",
           "As FD log-mel, on 20 MFCCs (mean and std per 1 s window)."),
    # Speed.
    Metric("samples_per_second", "Generation speed", "samples/s", "higher",
           "speed",
           "Audio samples generated per second of wall time at the best batch "
           "size (all sequences counted).", "Speed"),
    Metric("real_time_factor", "Real-time factor", "x", "higher", "speed",
           "Generated audio seconds per wall second (>= 1 is faster than real "
           "time)."),
)

_BY_KEY: dict[str, Metric] = {m.key: m for m in CATALOGUE}

SIMILARITY_AT_LAG = re.compile(r"^sim_lag_([0-9.]+)s$")


def _similarity_at_lag(key: str) -> Metric | None:
  """The row of a `sim_lag_<seconds>s` key, or None for other keys."""
  match = SIMILARITY_AT_LAG.match(key)
  if not match:
    return None
  lag = match.group(1)
  return Metric(key, f"Similarity at {lag} s", "cosine", None, "coherence",
                f"Mean cosine similarity of clip-centred chroma windows {lag} "
                f"s apart: ~0 for noise, high at short lags for music, with "
                f"peaks at repetitions.")


def metric_info(key: str,
                overrides: dict[str, dict[str, Any]] | None = None
                ) -> dict[str, Any]:
  """How to show metric `key`: {"label", "unit", "better", "group", "help",
  "short"}.

  The catalogue row (or the similarity-at-lag rule) with the fields of
  `overrides[key]` on top; an unknown key gets its own name as label, no unit
  and no direction; a group outside `GROUPS` becomes "other".
  """
  row = _BY_KEY.get(key) or _similarity_at_lag(key)
  info: dict[str, Any] = {}
  if row is not None:
    info = {"label": row.label, "unit": row.unit, "better": row.better,
            "group": row.group, "help": row.text}
    if row.short:
      info["short"] = row.short
  info.update((overrides or {}).get(key) or {})
  info.setdefault("label", key)
  info.setdefault("unit", "")
  info.setdefault("better", None)
  info.setdefault("help", "")
  info.setdefault("short", info["label"])
  if info.get("group") not in GROUPS:
    info["group"] = "other"
  return info


def _lag_seconds(key: str) -> float:
  match = SIMILARITY_AT_LAG.match(key)
  return float(match.group(1)) if match else 0.0


def display_order(keys: list[str]) -> list[str]:
  """Metric keys in display order: catalogue rows first (in catalogue order),
  then similarity at each lag (by lag), then the rest (by name)."""
  known = [m.key for m in CATALOGUE if m.key in keys]
  lags = sorted((k for k in keys if SIMILARITY_AT_LAG.match(k)),
                key=_lag_seconds)
  rest = sorted(k for k in keys if k not in known and k not in lags)
  return known + lags + rest
