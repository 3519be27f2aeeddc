"""The metric catalogue, as data: what each metric key means and how to show it.

One `Metric` row per known key (label, unit, better direction, group, what
it is, one sentence on how to read it, and the short column title of the
headline table). `metric_info(key, overrides)` reads the table; keys
`sim_lag_<s>s` (similarity at a lag) and `continuation_<key>` (a
reconstruction metric of continuations) are rules, not rows. The report writer (`eval.report`) uses it to title, order,
explain and rank every number it shows.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

# Section of a metric's table, in display order: group key -> title.
GROUPS: dict[str, str] = {
    "likelihood": "Likelihood",
    "reconstruction": "Reconstruction",
    "continuation": "Continuation",
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
  text: str   # what it is
  read: str   # one sentence: how to read it (what a higher/lower value means)
  short: str | None = None  # headline column title; the label if None


CATALOGUE: tuple[Metric, ...] = (
    # Likelihood.
    Metric("nll_bits_per_sample", "NLL", "bits/sample", "lower", "likelihood",
           "Negative log-likelihood of the held-out test files per quantised "
           "sample (code), in bits; every model is scored on the same "
           "samples (each file from the warm-up to its end) with its full "
           "context. Comparable only between models with the same quantiser "
           "(q levels, companding).",
           "Lower predicts the test audio better: 1 bit less means twice the "
           "probability on the true code (geometric mean).", "NLL"),
    Metric("nll_nats_per_sample", "NLL (nats)", "nats/sample", "lower",
           "likelihood",
           "The same NLL in nats (natural logarithm): bits times ln 2.",
           "Lower predicts the test audio better, as the NLL in bits."),
    Metric("nll_bits_per_16bit_sample", "NLL per 16-bit sample",
           "bits/sample", "lower", "likelihood",
           "NLL converted to bits per 16-bit linear sample, assuming a "
           "uniform density inside each quantiser bin.",
           "Lower is a better density over the waveform itself, and unlike "
           "the NLL per code it compares models with different quantisers.",
           "NLL 16-bit"),
    Metric("order0_entropy_bits", "Order-0 entropy", "bits/sample", None,
           "likelihood",
           "Entropy of the histogram of the scored test codes: the NLL of a "
           "model that ignores all context (a baseline, not a score).",
           "The further a model's NLL lies below it, the more that model "
           "gains from context."),
    Metric("nll_samples", "Scored samples", "samples", None, "likelihood",
           "Number of test samples (codes) the NLL is averaged over: every "
           "sample of the test files from the warm-up on.",
           "Not a score: equal counts mean the models were scored on the "
           "same samples."),
    Metric("nll_files", "Scored files", "files", None, "likelihood",
           "Number of test files scored (those longer than the warm-up); the "
           "NLL's 95% interval is a bootstrap over these files.",
           "Not a score: more files give a narrower interval."),
    Metric("warmup_seconds", "Warm-up", "s", None, "likelihood",
           "Audio at the start of each test file that every model reads as "
           "context but is not scored on.",
           "Not a score: a setting of the protocol, the same for every "
           "model."),
    # Reconstruction.
    Metric("mstft_sc_db", "Multi-res. spectral convergence", "dB", "lower",
           "reconstruction",
           "20 log10(||S_ref - S_est|| / ||S_ref||) averaged over three STFT "
           "resolutions (2048/1024/512).",
           "Lower (more negative) is closer to the original's magnitude "
           "spectrum; 0 dB is an error as large as the signal.",
           "Spectral conv."),
    Metric("mstft_logmag_l1", "Multi-res. log-magnitude L1", "", "lower",
           "reconstruction",
           "Mean |ln S_ref - ln S_est| over the three STFT resolutions.",
           "Lower is closer to the original's spectrum; 0 is identical "
           "magnitudes."),
    Metric("lsd_db", "Log-spectral distance", "dB", "lower", "reconstruction",
           "RMS over frequency of the dB difference of power spectra, "
           "averaged over frames (n_fft 2048).",
           "Lower is closer to the original's spectrum; 0 dB is identical "
           "power spectra.", "LSD"),
    Metric("mcd_db", "Mel-cepstral distortion", "dB", "lower",
           "reconstruction",
           "Frame-by-frame distance of mel cepstra (c0 excluded, no "
           "alignment).",
           "Lower is closer to the original's timbre (spectral envelope)."),
    Metric("snr_db", "SNR", "dB", "higher", "reconstruction",
           "Waveform signal-to-noise ratio.",
           "Higher matches the waveform sample by sample; any sampled "
           "autoregressive decoder (free phase) scores near or below 0 dB "
           "even when it sounds right."),
    Metric("si_sdr_db", "SI-SDR", "dB", "higher", "reconstruction",
           "Scale-invariant signal-to-distortion ratio (waveform matching, "
           "like SNR).",
           "Higher matches the waveform more closely whatever the gain; low "
           "for sampled decoders, like SNR."),
    Metric("f0_rpa", "F0 raw pitch accuracy", "", "higher", "reconstruction",
           "Fraction of the original's voiced frames (pYIN, C2-C7) in which "
           "the reconstruction is voiced and within 50 cents.",
           "Higher keeps the pitch: 1 means every voiced frame is within a "
           "quarter tone.", "F0 accuracy"),
    Metric("voicing_recall", "Voicing recall", "", "higher", "reconstruction",
           "Fraction of the original's voiced frames voiced in the "
           "reconstruction.",
           "Higher loses fewer pitched frames to noise or silence."),
    Metric("voicing_false_alarm", "Voicing false alarm", "", "lower",
           "reconstruction",
           "Fraction of the original's unvoiced frames voiced in the "
           "reconstruction.",
           "Lower turns fewer unpitched frames (silence, noise) into tones."),
    Metric("chroma_cos", "Chroma similarity", "", "higher", "reconstruction",
           "Mean cosine similarity of chroma frames.",
           "Higher plays the same notes (pitch classes) at the same times; 1 "
           "is identical chroma."),
    # Coherence.
    Metric("structure_z", "Structure z", "", "higher", "coherence",
           "Sequential repetition (4 s of chroma coming back >= 5 s later) as "
           "a z-score against 1 s block shuffles of the same clip. Needs "
           "clips of at least 10 s.",
           "Higher repeats earlier material more than shuffled audio would: "
           "~0 for noise or structureless audio, well above 2 for real music "
           "with repeats."),
    Metric("structure_score", "Structure score", "correlation", None,
           "coherence", "The raw repetition statistic behind structure z.",
           "Not a score on its own (it depends on the material): read "
           "structure z, which compares it with shuffles."),
    Metric("collapse_fraction", "Collapse fraction", "", "lower", "coherence",
           "Fraction of 5 s chunks that are silent (< -60 dBFS) or whose "
           "spectral flatness is outside the range of the real clips (a "
           "stuck tone or noise).",
           "Lower has less collapsed audio: 0 means no chunk collapsed, 1 "
           "means all did.", "Collapse"),
    Metric("drift_slope_db_per_min", "Drift slope", "dB/min", None,
           "coherence",
           "Least-squares slope of the long-term spectrum's distance to the "
           "first 5 s chunk, per minute.",
           "No better direction: near 0 for stationary material, large "
           "positive values mean the timbre wanders away; compare with the "
           "real row."),
    Metric("drift_max_vs_first_db", "Max drift", "dB", None, "coherence",
           "Largest RMS dB distance of a chunk's long-term spectrum to the "
           "first chunk's.",
           "No better direction: larger means the sound moved further from "
           "where it started; compare with the real row."),
    Metric("drift_mean_vs_reference_db", "Spectral distance to real", "dB",
           "lower", "coherence",
           "Mean RMS dB distance of each chunk's long-term spectrum to that "
           "of all real clips together.",
           "Lower keeps the long-term spectrum closer to the real audio's."),
    # Distribution distance.
    Metric("fd_logmel", "FD log-mel", "", "lower", "distribution",
           "Frechet distance between Gaussians fitted to 1 s window "
           "statistics (mean and std of a 64-band log-mel) of these clips and "
           "of the real clips. For the real row: between two halves of the "
           "real clips, for scale (halves hold fewer windows, so it reads "
           "high). Biased upwards with few windows: compare rows with similar "
           "amounts of audio.",
           "Lower sounds statistically closer to the real audio; 0 is "
           "identical Gaussians."),
    Metric("fd_mfcc", "FD MFCC", "", "lower", "distribution",
           "As FD log-mel, on 20 MFCCs (mean and std per 1 s window).",
           "Lower sounds statistically closer to the real audio; 0 is "
           "identical Gaussians."),
    # Speed.
    Metric("samples_per_second", "Generation speed", "samples/s", "higher",
           "speed",
           "Audio samples generated per second of wall time at the best batch "
           "size (all sequences counted).",
           "Higher is faster; real time needs the sample rate (e.g. 16,000 "
           "samples/s) per sequence.", "Speed"),
    Metric("samples_per_second_one_stream", "Speed per stream", "samples/s",
           "higher", "speed",
           "Samples generated per second by each sequence at the smallest "
           "batch size timed (what one listener gets).",
           "Higher is faster; the sample rate is real time."),
    Metric("real_time_factor", "Real-time factor", "x", "higher", "speed",
           "Generated audio seconds per wall second of one sequence at the "
           "smallest batch size timed.",
           "Higher is faster; at least 1 is faster than real time."),
    Metric("first_block_seconds", "Time to first block", "s", "lower",
           "speed",
           "Wall time from starting a stream to its first block of audio, at "
           "the smallest batch size timed (after compilation).",
           "Lower starts the audio sooner (the latency a live player "
           "feels)."),
    Metric("flops_per_sample", "FLOPs per sample", "FLOP", None, "speed",
           "Floating-point operations of the model's generation step per "
           "generated sample.",
           "Not a score: the model's cost; the arithmetic limit is the "
           "machine's matmul rate divided by it."),
    Metric("fraction_of_limit", "Fraction of the arithmetic limit", "",
           "higher", "speed",
           "Generation speed at the best batch size over the arithmetic "
           "limit (the machine's measured matmul rate over FLOPs per "
           "sample).",
           "Higher wastes less time outside the matrix products; 1 runs at "
           "the arithmetic limit."),
    Metric("peak_rss_mb", "Peak memory", "MB", "lower", "speed",
           "Peak resident memory (RSS high-water mark) during this model's "
           "run, including everything the process already held (TensorFlow, "
           "every loaded model).",
           "Lower needs less memory."),
    Metric("rss_increase_mb", "Memory added by the run", "MB", "lower",
           "speed",
           "How far this model's run raised resident memory above its start "
           "(its own activations, caches and audio).",
           "Lower needs less memory; fairer across models than the peak."),
)

_BY_KEY: dict[str, Metric] = {m.key: m for m in CATALOGUE}

SIMILARITY_AT_LAG = re.compile(r"^sim_lag_([0-9.]+)s$")
CONTINUATION = "continuation_"


def _similarity_at_lag(key: str) -> Metric | None:
  """The row of a `sim_lag_<seconds>s` key, or None for other keys."""
  match = SIMILARITY_AT_LAG.match(key)
  if not match:
    return None
  lag = match.group(1)
  return Metric(key, f"Similarity at {lag} s", "cosine", None, "coherence",
                f"Mean cosine similarity of clip-centred chroma windows {lag} "
                f"s apart: ~0 for noise, high at short lags for music, with "
                f"peaks at repetitions.",
                "No better direction: compare with the real row at the same "
                "lag.")


def _continuation(key: str) -> Metric | None:
  """The row of a `continuation_<reconstruction key>`, or None."""
  base = _BY_KEY.get(key[len(CONTINUATION):]) if key.startswith(
      CONTINUATION) else None
  if base is None or base.group != "reconstruction":
    return None
  return base._replace(
      key=key, label=f"{base.label} (continuation)", group="continuation",
      short=f"{base.short or base.label} (cont.)",
      text=f"{base.text} Here between a model's continuation of a primed "
           f"test clip and the clip itself, over the continued part only.",
      read=f"{base.read} A continuation may wander from the clip, so these "
           f"are loose.")


def metric_info(key: str,
                overrides: dict[str, dict[str, Any]] | None = None
                ) -> dict[str, Any]:
  """How to show metric `key`: {"label", "unit", "better", "group", "help",
  "read", "short"}.

  The catalogue row (or the similarity-at-lag and continuation rules:
  `continuation_<reconstruction key>`) with the fields of
  `overrides[key]` on top; an unknown key gets its own name as label, no unit
  and no direction; a group outside `GROUPS` becomes "other".
  """
  row = _BY_KEY.get(key) or _similarity_at_lag(key) or _continuation(key)
  info: dict[str, Any] = {}
  if row is not None:
    info = {"label": row.label, "unit": row.unit, "better": row.better,
            "group": row.group, "help": row.text, "read": row.read}
    if row.short:
      info["short"] = row.short
  info.update((overrides or {}).get(key) or {})
  info.setdefault("label", key)
  info.setdefault("unit", "")
  info.setdefault("better", None)
  info.setdefault("help", "")
  info.setdefault("read", "")
  info.setdefault("short", info["label"])
  if info.get("group") not in GROUPS:
    info["group"] = "other"
  return info


def _lag_seconds(key: str) -> float:
  match = SIMILARITY_AT_LAG.match(key)
  return float(match.group(1)) if match else 0.0


def display_order(keys: list[str]) -> list[str]:
  """Metric keys in display order: catalogue rows first (in catalogue order),
  then continuations of them (in the same order), similarity at each lag (by
  lag), then the rest (by name)."""
  known = [m.key for m in CATALOGUE if m.key in keys]
  continued = [CONTINUATION + m.key for m in CATALOGUE
               if CONTINUATION + m.key in keys
               and _continuation(CONTINUATION + m.key)]
  lags = sorted((k for k in keys if SIMILARITY_AT_LAG.match(k)),
                key=_lag_seconds)
  rest = sorted(k for k in keys
                if k not in known and k not in continued and k not in lags)
  return known + continued + lags + rest
