"""Report writer: one results dict -> metrics.json, results.json, report.md,
index.html (+ plots/*.png) in a report folder.

Used by `eval.compare` (models) and `eval.score` (folders of audio); both build
the same plain, JSON-serialisable dict and call `write_report`.

The results dict
----------------

    {
      "title": str,                      # page title
      "created": str,                    # ISO 8601 time; filled in if absent
      "notes": [str],                    # report-level notes (Summary section)
      "settings": {                      # anything; rendered flattened
        "seed": int, "seconds": float, "sample_rate": int, ...,
        "versions": {"python": .., "numpy": .., "tensorflow": .., ...},
        "machine": {"cpu_count": .., "platform": .., ...},
      },                                 # `environment()` returns the last two
      "models": {                        # display order = insertion order,
        NAME: {                          # except that "real" rows come first
          "family": "samplernn" | "wavenet" | "real" | "folder",
          "description": str,            # optional, one line
          "info": {"num_files": int, "total_seconds": float, ...},  # optional
          "metrics": {KEY: float | None},  # None / NaN / inf render as "—"
          "ci": {KEY: [low, high]},      # optional 95% CI of metrics[KEY]
          "audio": {                     # lists of entries; entry = path str
                                         # or {"path": str, "label": str}
            "clips": [...],              # real clips (family "real")
            "generations": [...],        # long unconditional generations
            "continuations": [...],      # continuations of prompts[i]
            "prompts": [...],            # aligned with continuations
            "reconstructions": [...],    # reconstructions of originals[i]
            "originals": [...],          # aligned with reconstructions
          },
          "plots": {                     # all optional; None values allowed
            "similarity_vs_lag": {"lags_s": [..], "values": [..]},
            "drift": {"times_s": [..], "drift_db": [..]},
            "speed": {"batch_sizes": [..], "samples_per_second": [..]},
          },
          "notes": [str],
        },
      },
      "metric_info": {KEY: {"label": str, "unit": str,
                            "better": "lower" | "higher" | None,
                            "help": str, "group": str}},
    }

Audio paths are relative to the report folder (use "/" separators). An
absolute path outside the report folder is copied into
`audio/<model>/<kind>/` and rewritten; a path that does not exist is dropped
with a note on the model. `metric_info` is merged over `DEFAULT_METRIC_INFO`
(so callers only describe new keys); "group" is one of `GROUPS` and decides
the section of a metric's table (unknown keys go to "other"). Original and
reconstruction (prompt and continuation) rows are matched across models by
the original's (prompt's) path, so models that reconstructed the same file
play side by side.

Files written (all atomically: temporary file + os.replace)
-----------------------------------------------------------

* `metrics.json`: {"title", "created", "settings", "versions", "machine",
  "families": {NAME: family}, "info": {NAME: info},
  "metrics": {NAME: {KEY: number | null, KEY + "_ci": [low, high], ...}},
  "metric_info", "notes"}. NaN is written as null.
* `results.json`: the normalised results dict (re-render with
  `write_report(dir, json.load(open(dir + "/results.json")))`).
* `report.md`: headline table (best in bold), notes, full metric list.
* `index.html`: one static page, inline CSS, no scripts, nothing external;
  sections Summary, Likelihood, Reconstructions, Long generations,
  Coherence, Speed, Settings. Best values (per metric, by its "better"
  direction, among non-"real" rows, only when at least two rows have a
  value) are highlighted and starred. Every audio entry gets a player
  (`preload="none"`) and a waveform + log-mel PNG in `plots/audio/`.
* `plots/*.png`: similarity vs lag, drift, speed vs batch size.

`check_links(report_dir)` lists every href/src of index.html that does not
resolve to a file inside the report folder (or points outside it).
"""

import datetime
import html
import json
import math
import os
import platform
import re
import shutil
import sys
import urllib.parse
from html.parser import HTMLParser
from importlib import metadata

import numpy as np

from common import files

GROUPS = {
    "likelihood": "Likelihood",
    "reconstruction": "Reconstruction",
    "coherence": "Coherence",
    "distribution": "Distribution distance",
    "speed": "Speed",
    "other": "Other",
}

# Shown in the Summary's headline table (when any row has them).
HEADLINE = ("nll_bits_per_sample", "lsd_db", "mstft_sc_db", "f0_rpa",
            "structure_z", "collapse_fraction", "drift_slope_db_per_min",
            "fd_logmel", "fd_mfcc", "samples_per_second")

AUDIO_KINDS = ("clips", "generations", "continuations", "prompts",
               "reconstructions", "originals")


def _info(label, unit, better, group, text):
  return {"label": label, "unit": unit, "better": better, "group": group,
          "help": text}


DEFAULT_METRIC_INFO = {
    # Likelihood.
    "nll_bits_per_sample": _info(
        "NLL", "bits/sample", "lower", "likelihood",
        "Negative log-likelihood of held-out test audio per quantised sample "
        "(code), in bits. Comparable only between models with the same "
        "quantiser (q levels, companding)."),
    "nll_bits_per_16bit_sample": _info(
        "NLL per 16-bit sample", "bits/sample", "lower", "likelihood",
        "NLL converted to bits per 16-bit linear sample, assuming a uniform "
        "density inside each quantiser bin: comparable across quantisers."),
    "order0_entropy_bits": _info(
        "Order-0 entropy", "bits/sample", None, "likelihood",
        "Entropy of the histogram of the test codes: the NLL of a model that "
        "ignores all context (a baseline, not a score)."),
    # Reconstruction.
    "mstft_sc_db": _info(
        "Multi-res. spectral convergence", "dB", "lower", "reconstruction",
        "20 log10(||S_ref - S_est|| / ||S_ref||) averaged over three STFT "
        "resolutions (2048/1024/512). Lower is closer to the original."),
    "mstft_logmag_l1": _info(
        "Multi-res. log-magnitude L1", "", "lower", "reconstruction",
        "Mean |ln S_ref - ln S_est| over the three STFT resolutions."),
    "lsd_db": _info(
        "Log-spectral distance", "dB", "lower", "reconstruction",
        "RMS over frequency of the dB difference of power spectra, averaged "
        "over frames (n_fft 2048)."),
    "mcd_db": _info(
        "Mel-cepstral distortion", "dB", "lower", "reconstruction",
        "Frame-by-frame distance of mel cepstra (c0 excluded, no alignment)."),
    "snr_db": _info(
        "SNR", "dB", "higher", "reconstruction",
        "Waveform signal-to-noise ratio. Low for any sampled autoregressive "
        "decoder (free phase) even when it sounds right."),
    "si_sdr_db": _info(
        "SI-SDR", "dB", "higher", "reconstruction",
        "Scale-invariant signal-to-distortion ratio (waveform matching, like "
        "SNR)."),
    "f0_rpa": _info(
        "F0 raw pitch accuracy", "", "higher", "reconstruction",
        "Fraction of the original's voiced frames (pYIN, C2-C7) in which the "
        "reconstruction is voiced and within 50 cents."),
    "voicing_recall": _info(
        "Voicing recall", "", "higher", "reconstruction",
        "Fraction of the original's voiced frames voiced in the "
        "reconstruction."),
    "voicing_false_alarm": _info(
        "Voicing false alarm", "", "lower", "reconstruction",
        "Fraction of the original's unvoiced frames voiced in the "
        "reconstruction."),
    "chroma_cos": _info(
        "Chroma similarity", "", "higher", "reconstruction",
        "Mean cosine similarity of chroma frames (same notes)."),
    # Coherence.
    "structure_z": _info(
        "Structure z", "", "higher", "coherence",
        "Sequential repetition (4 s of chroma coming back >= 5 s later) as a "
        "z-score against 1 s block shuffles of the same clip. ~0 for noise "
        "or structureless audio; real music with repeats scores well above "
        "2. Needs clips of at least 10 s."),
    "structure_score": _info(
        "Structure score", "correlation", None, "coherence",
        "The raw repetition statistic behind structure z."),
    "collapse_fraction": _info(
        "Collapse fraction", "", "lower", "coherence",
        "Fraction of 5 s chunks that are silent (< -60 dBFS) or whose "
        "spectral flatness is outside the range of the real clips (a stuck "
        "tone or noise)."),
    "drift_slope_db_per_min": _info(
        "Drift slope", "dB/min", None, "coherence",
        "Slope of the long-term spectrum's distance to the first 5 s chunk, "
        "per minute. Near 0 for stationary material; large positive values "
        "mean the timbre wanders away."),
    "drift_max_vs_first_db": _info(
        "Max drift", "dB", None, "coherence",
        "Largest RMS dB distance of a chunk's long-term spectrum to the first "
        "chunk's."),
    "drift_mean_vs_reference_db": _info(
        "Spectral distance to real", "dB", "lower", "coherence",
        "Mean RMS dB distance of each chunk's long-term spectrum to that of "
        "all real clips together."),
    # Distribution distance.
    "fd_logmel": _info(
        "FD log-mel", "", "lower", "distribution",
        "Frechet distance between Gaussians fitted to 1 s window statistics "
        "(mean and std of a 64-band log-mel) of these clips and of the real "
        "clips. For the real row: between two halves of the real clips, for "
        "scale (halves hold fewer windows, so it reads high). Biased upwards "
        "with few windows: compare rows with similar amounts of audio."),
    "fd_mfcc": _info(
        "FD MFCC", "", "lower", "distribution",
        "As FD log-mel, on 20 MFCCs (mean and std per 1 s window)."),
    # Speed.
    "samples_per_second": _info(
        "Generation speed", "samples/s", "higher", "speed",
        "Audio samples generated per second of wall time at the best batch "
        "size (all sequences counted)."),
    "real_time_factor": _info(
        "Real-time factor", "x", "higher", "speed",
        "Generated audio seconds per wall second (>= 1 is faster than real "
        "time)."),
}

# Short column titles of the headline table.
_SHORT = {"nll_bits_per_sample": "NLL", "nll_bits_per_16bit_sample":
          "NLL 16-bit", "lsd_db": "LSD", "mstft_sc_db": "Spectral conv.",
          "f0_rpa": "F0 accuracy", "structure_z": "Structure z",
          "collapse_fraction": "Collapse", "drift_slope_db_per_min":
          "Drift slope", "fd_logmel": "FD log-mel", "fd_mfcc": "FD MFCC",
          "samples_per_second": "Speed"}

_SIM_LAG = re.compile(r"^sim_lag_([0-9.]+)s$")


def metric_info(key, overrides=None):
  """Info dict (label, unit, better, group, help) of a metric key."""
  overrides = overrides or {}
  info = dict(DEFAULT_METRIC_INFO.get(key, {}))
  match = _SIM_LAG.match(key)
  if not info and match:
    info = _info(f"Similarity at {match.group(1)} s", "cosine", None,
                 "coherence",
                 f"Mean cosine similarity of clip-centred chroma windows "
                 f"{match.group(1)} s apart: ~0 for noise, high at short lags "
                 f"for music, with peaks at repetitions.")
  info.update(overrides.get(key) or {})
  info.setdefault("label", key)
  info.setdefault("unit", "")
  info.setdefault("better", None)
  info.setdefault("help", "")
  info.setdefault("short", _SHORT.get(key, info["label"]))
  if info.get("group") not in GROUPS:
    info["group"] = "other"
  return info


def environment():
  """{"versions": {...}, "machine": {...}} of this process (no TF import)."""
  versions = {"python": platform.python_version()}
  for package in ("tensorflow", "numpy", "scipy", "librosa", "soundfile",
                  "soxr", "matplotlib"):
    try:
      versions[package] = metadata.version(package)
    except metadata.PackageNotFoundError:
      versions[package] = None
  machine = {"cpu_count": os.cpu_count(), "platform": platform.platform(),
             "processor": platform.processor() or platform.machine()}
  return {"versions": versions, "machine": machine}


# ----------------------------------------------------------------------------
# Normalisation.


def _number(value):
  """float, or None for None/NaN/inf/non-numbers."""
  if value is None or isinstance(value, bool):
    return None
  try:
    value = float(value)
  except (TypeError, ValueError):
    return None
  return value if math.isfinite(value) else None


def _jsonable(value):
  """Deep copy with NumPy types converted and NaN/inf replaced by None."""
  if isinstance(value, dict):
    return {str(k): _jsonable(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_jsonable(v) for v in value]
  if isinstance(value, np.ndarray):
    return _jsonable(value.tolist())
  if isinstance(value, (bool, np.bool_)):
    return bool(value)
  if isinstance(value, (int, np.integer)):
    return int(value)
  if isinstance(value, (float, np.floating)):
    return _number(value)
  return value


def _umask():
  mask = os.umask(0)
  os.umask(mask)
  return mask


_FILE_MODE = 0o666 & ~_umask()


def _readable(path):
  """mkstemp files are 0600; give written report files the usual mode."""
  os.chmod(path, _FILE_MODE)


def slug(text):
  """A file-name-safe version of `text`."""
  return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("._") or "x"


def _inside(path, root):
  path, root = os.path.realpath(path), os.path.realpath(root)
  return path == root or path.startswith(root + os.sep)


def _place_audio(report_dir, model, kind, path, notes, taken):
  """Relative path of `path` inside report_dir (copying it in if needed)."""
  if not os.path.isabs(path):
    full = os.path.join(report_dir, path)
    if _inside(full, report_dir):
      if os.path.isfile(full):
        return os.path.relpath(full, report_dir).replace(os.sep, "/")
      notes.append(f"missing audio file {path}")
      return None
    path = os.path.abspath(full)
  if not os.path.isfile(path):
    notes.append(f"missing audio file {path}")
    return None
  if _inside(path, report_dir):
    return os.path.relpath(path, report_dir).replace(os.sep, "/")
  base, ext = os.path.splitext(os.path.basename(path))
  rel = f"audio/{slug(model)}/{kind}/{slug(base)}{ext.lower()}"
  n = 1
  while rel in taken:
    n += 1
    rel = f"audio/{slug(model)}/{kind}/{slug(base)}_{n}{ext.lower()}"
  taken.add(rel)
  dest = os.path.join(report_dir, rel)
  os.makedirs(os.path.dirname(dest), exist_ok=True)
  with files.atomic_path(dest) as tmp:
    shutil.copyfile(path, tmp)
    _readable(tmp)
  return rel


def _label(path):
  return os.path.splitext(os.path.basename(path))[0]


def normalise(results, report_dir=None, title=None, notes=None):
  """Validated, JSON-clean copy of a results dict (see module docstring).

  With `report_dir`, audio paths are resolved against it (absolute paths
  outside it are copied in; missing files are dropped with a note).
  """
  results = _jsonable(results or {})
  out = {
      "title": title or results.get("title") or "neuralsynth report",
      "created": results.get("created") or datetime.datetime.now(
          datetime.timezone.utc).replace(microsecond=0).isoformat(),
      "notes": [],
      "settings": dict(results.get("settings") or {}),
      "models": {},
      "metric_info": {},
  }
  for extra in (results.get("notes"), notes):
    if isinstance(extra, str):
      out["notes"].append(extra)
    elif extra:
      out["notes"].extend(str(n) for n in extra)
  models = results.get("models") or {}
  order = ([n for n, m in models.items() if (m or {}).get("family") == "real"]
           + [n for n, m in models.items()
              if (m or {}).get("family") != "real"])
  taken = set()
  for name in order:
    model = models[name] or {}
    model_notes = [str(n) for n in (model.get("notes") or [])]
    metrics = {}
    for key, value in (model.get("metrics") or {}).items():
      if key.endswith("_ci"):
        continue
      metrics[key] = _number(value)
    cis = {}
    for key, value in (model.get("ci") or {}).items():
      if (isinstance(value, (list, tuple)) and len(value) == 2 and
          all(_number(v) is not None for v in value)):
        cis[key] = [float(value[0]), float(value[1])]
    audio = {}
    for kind, entries in (model.get("audio") or {}).items():
      placed = []
      for entry in entries or []:
        if isinstance(entry, str):
          entry = {"path": entry}
        if not isinstance(entry, dict):
          entry = {}
        rel = entry.get("path") or None
        if rel and report_dir is not None:
          rel = _place_audio(report_dir, name, kind, rel, model_notes, taken)
        # A missing file keeps a placeholder ({"path": None}) so that aligned
        # lists (originals/reconstructions) stay aligned; it shows as empty.
        placed.append({"path": rel, "label": entry.get("label") or (
            _label(entry["path"]) if entry.get("path") else "")})
      audio[kind] = placed
    plots = {}
    for kind, data in (model.get("plots") or {}).items():
      if isinstance(data, dict):
        plots[kind] = data
    out["models"][str(name)] = {
        "family": model.get("family") or "folder",
        "description": model.get("description") or "",
        "info": dict(model.get("info") or {}),
        "metrics": metrics, "ci": cis, "audio": audio, "plots": plots,
        "notes": model_notes,
    }
  keys = _metric_keys(out["models"])
  given = results.get("metric_info") or {}
  for key in keys + [k for k in given if k not in keys]:
    out["metric_info"][key] = metric_info(key, given)
  return out


def _metric_keys(models):
  """All metric keys in display order: known keys first, then the rest."""
  present = []
  for model in models.values():
    for key in model["metrics"]:
      if key not in present:
        present.append(key)
  known = [k for k in DEFAULT_METRIC_INFO if k in present]
  lags = sorted((k for k in present if _SIM_LAG.match(k)),
                key=lambda k: float(_SIM_LAG.match(k).group(1)))
  rest = sorted(k for k in present if k not in known and k not in lags)
  return known + lags + rest


def best_models(results, key):
  """Names holding the best value of `key` (empty if undefined).

  Direction from metric_info[key]["better"]; rows of family "real" are the
  reference and never win; at least two rows must have a finite value.
  """
  better = (results["metric_info"].get(key) or metric_info(key))["better"]
  if better not in ("lower", "higher"):
    return set()
  values = {name: model["metrics"].get(key)
            for name, model in results["models"].items()
            if model["family"] != "real"}
  values = {n: v for n, v in values.items() if v is not None}
  if len(values) < 2:
    return set()
  target = min(values.values()) if better == "lower" else max(values.values())
  tolerance = 1e-9 * max(1.0, abs(target))
  return {n for n, v in values.items() if abs(v - target) <= tolerance}


# ----------------------------------------------------------------------------
# Formatting.


def fmt(value):
  """A number for people: "—" for missing, ~3-4 significant digits."""
  value = _number(value)
  if value is None:
    return "\u2014"
  magnitude = abs(value)
  if magnitude == 0:
    return "0"
  if magnitude >= 1e4:
    return f"{value:,.0f}"
  if magnitude >= 100:
    return f"{value:.1f}"
  if magnitude >= 1:
    return f"{value:.2f}"
  if magnitude >= 0.01:
    return f"{value:.3f}"
  return f"{value:.2e}"


def _arrow(better):
  return {"lower": " \u2193", "higher": " \u2191"}.get(better, "")


def _direction_text(better):
  return {"lower": "lower is better", "higher": "higher is better"}.get(
      better, "no better direction (compare with the real row)")


def _unit(info):
  return f" ({info['unit']})" if info.get("unit") else ""


# ----------------------------------------------------------------------------
# Figures (matplotlib Agg, no pyplot state).

_PALETTE = ("#2456c5", "#d9622b", "#2a9d5c", "#9b4dca", "#c23b5a", "#8c6d1f",
            "#1b9aaa", "#6b7280")
SPECTROGRAM_RANGE_DB = (-85.0, 0.0)  # 0 dB ~ a full-scale sine.


def _figure(width, height):
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg", force=False)
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  fig = Figure(figsize=(width, height), dpi=100)
  fig.patch.set_facecolor("white")
  return fig


def _style(ax):
  for side in ("top", "right"):
    ax.spines[side].set_visible(False)
  ax.grid(True, color="#e3e6ec", linewidth=0.8)
  ax.set_axisbelow(True)
  ax.tick_params(labelsize=9, colors="#39404f")


def _save(fig, path):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with files.atomic_path(path) as tmp:
    fig.savefig(tmp, format="png", facecolor="white")
    _readable(tmp)


def _colours(results):
  colours, i = {}, 0
  for name, model in results["models"].items():
    if model["family"] == "real":
      colours[name] = "#111111"
    else:
      colours[name] = _PALETTE[i % len(_PALETTE)]
      i += 1
  return colours


def _hz_to_mel(hz):
  return 2595.0 * np.log10(1.0 + np.asarray(hz, np.float64) / 700.0)


def _mel_filterbank(sample_rate, n_fft, n_mels):
  """Triangular filters (peak 1) on the HTK mel scale, [n_mels, bins]."""
  edges_mel = np.linspace(0.0, _hz_to_mel(sample_rate / 2.0), n_mels + 2)
  edges = 700.0 * (10.0 ** (edges_mel / 2595.0) - 1.0)
  freqs = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
  low, centre, high = edges[:-2, None], edges[1:-1, None], edges[2:, None]
  rising = (freqs[None, :] - low) / (centre - low)
  falling = (high - freqs[None, :]) / (high - centre)
  return np.maximum(0.0, np.minimum(rising, falling))


def log_mel_db(audio, sample_rate, n_fft=1024, hop=256, n_mels=80,
               block_frames=2048):
  """Log-mel power in dB, [n_mels, frames]; 0 dB ~ a full-scale sine.

  NumPy only (no librosa import: keeps the report writer light): centred
  frames (reflect padding), periodic Hann window, power normalised so that a
  full-scale sine's peak bin is 1, summed under triangular mel filters.
  """
  audio = np.asarray(audio, np.float32).reshape(-1)
  pad = n_fft // 2
  if audio.size == 0:
    return np.zeros((n_mels, 0))
  padded = np.pad(audio, pad, mode="reflect" if audio.size > pad else
                  "constant")
  frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
  window = np.hanning(n_fft + 1)[:-1].astype(np.float32)
  scale = (np.sum(window) / 2.0) ** 2
  bank = _mel_filterbank(sample_rate, n_fft, n_mels).astype(np.float32)
  out = np.empty((n_mels, frames.shape[0]), np.float32)
  for start in range(0, frames.shape[0], block_frames):
    block = frames[start:start + block_frames] * window
    power = np.abs(np.fft.rfft(block, axis=1)) ** 2 / scale
    out[:, start:start + block.shape[0]] = (power @ bank.T).T
  return 10.0 * np.log10(out + 1e-12)


def audio_figure(audio, sample_rate, path):
  """Waveform (min/max envelope) above a log-mel spectrogram, as a PNG."""
  audio = np.asarray(audio, np.float32).reshape(-1)
  seconds = max(audio.size / sample_rate, 1.0 / sample_rate)
  fig = _figure(4.8, 2.3)
  grid = fig.add_gridspec(2, 1, height_ratios=(1, 2.4), hspace=0.05,
                          left=0.1, right=0.97, top=0.97, bottom=0.17)
  ax_wave = fig.add_subplot(grid[0])
  ax_spec = fig.add_subplot(grid[1], sharex=ax_wave)
  columns = min(audio.size, 1400)
  if columns > 0:
    edges = np.linspace(0, audio.size, columns + 1).astype(int)
    starts = np.unique(edges[:-1])
    lows = np.minimum.reduceat(audio, starts)
    highs = np.maximum.reduceat(audio, starts)
    times = starts / sample_rate
    ax_wave.fill_between(times, lows, highs, color="#2456c5", linewidth=0.4,
                         step="post")
  ax_wave.axhline(0.0, color="#c9cfdb", linewidth=0.6, zorder=0)
  ax_wave.set_ylim(-1.0, 1.0)
  ax_wave.set_yticks([])
  ax_wave.tick_params(labelbottom=False, bottom=False)
  for side in ("top", "right", "left", "bottom"):
    ax_wave.spines[side].set_visible(False)
  n_mels = 80
  db = log_mel_db(audio, sample_rate, n_mels=n_mels)
  if db.shape[1] == 0:
    db = np.full((n_mels, 1), SPECTROGRAM_RANGE_DB[0])
  ax_spec.imshow(db, origin="lower", aspect="auto", cmap="magma",
                 extent=(0, seconds, 0, n_mels), interpolation="nearest",
                 vmin=SPECTROGRAM_RANGE_DB[0], vmax=SPECTROGRAM_RANGE_DB[1])
  top_mel = _hz_to_mel(sample_rate / 2.0)
  ticks = [f for f in (100, 500, 1000, 2000, 4000, 8000, 16000)
           if f < sample_rate / 2.0]
  ax_spec.set_yticks([_hz_to_mel(f) / top_mel * n_mels for f in ticks])
  ax_spec.set_yticklabels([f"{f // 1000}k" if f >= 1000 else str(f)
                           for f in ticks])
  ax_spec.set_xlim(0, seconds)
  ax_spec.tick_params(labelsize=8, colors="#39404f")
  ax_spec.set_xlabel("time (s)", fontsize=8, color="#39404f", labelpad=1)
  _save(fig, path)


def _line_plot(results, kind, x_key, y_key, path, xlabel, ylabel, logx=False,
               logy=False, reference=None):
  """One line per model that has plots[kind]; returns True if drawn."""
  colours = _colours(results)
  fig = _figure(6.4, 3.5)
  ax = fig.add_subplot(111)
  _style(ax)
  drawn = False
  xs_all = set()
  for name, model in results["models"].items():
    data = model["plots"].get(kind) or {}
    xs, ys = data.get(x_key) or [], data.get(y_key) or []
    pairs = [(float(x), float(y)) for x, y in zip(xs, ys)
             if _number(x) is not None and _number(y) is not None]
    if not pairs:
      continue
    x, y = zip(*pairs)
    xs_all.update(x)
    real = model["family"] == "real"
    ax.plot(x, y, marker="o", markersize=4 if real else 3.5,
            linewidth=2.4 if real else 1.7, color=colours[name],
            linestyle="-" if not real else "--", label=name,
            zorder=3 if real else 2)
    drawn = True
  if not drawn:
    return False
  if reference is not None:
    value, text = reference
    ax.axhline(value, color="#9aa1ad", linewidth=1, linestyle=":")
    ax.annotate(text, xy=(0.01, value), xycoords=("axes fraction", "data"),
                fontsize=8, color="#6b7280", va="bottom")
  if logx:
    ax.set_xscale("log", base=2 if kind == "speed" else 10)
  if logy:
    ax.set_yscale("log")
  if logx:
    from matplotlib import ticker  # pylint: disable=g-import-not-at-top
    ax.xaxis.set_major_locator(ticker.FixedLocator(sorted(xs_all)))
    ax.xaxis.set_minor_locator(ticker.NullLocator())
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
  if kind == "similarity_vs_lag":
    ax.axhline(0.0, color="#9aa1ad", linewidth=0.8)
  ax.set_xlabel(xlabel, fontsize=10, color="#39404f")
  ax.set_ylabel(ylabel, fontsize=10, color="#39404f")
  ax.legend(fontsize=9, frameon=False, loc="best")
  fig.tight_layout()
  _save(fig, path)
  return True


# ----------------------------------------------------------------------------
# HTML.

_CSS = """
:root{--fg:#1d2330;--muted:#5f6878;--line:#e3e6ec;--soft:#f6f7f9;
--accent:#2456c5;--best:#e2f3e7;--bestfg:#145c33}
*{box-sizing:border-box}
body{margin:0;background:var(--soft);color:var(--fg);
font:15px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",
Arial,sans-serif}
header{background:#1d2330;color:#fff;padding:26px 0 0}
header h1{margin:0 0 4px;font-size:1.7rem;font-weight:650;letter-spacing:-.01em}
header .meta{color:#aab4c8;font-size:.88rem}
nav{margin-top:16px;display:flex;flex-wrap:wrap;gap:2px}
nav a{color:#d3dbed;text-decoration:none;padding:8px 12px 10px;
border-bottom:3px solid transparent;font-size:.93rem}
nav a:hover{border-bottom-color:#7ea2f0;color:#fff}
.wrap{max-width:1280px;margin:0 auto;padding:0 28px}
main{padding:8px 0 40px}
section{background:#fff;border:1px solid var(--line);border-radius:10px;
padding:20px 26px 24px;margin:20px 0}
h2{font-size:1.3rem;margin:0 0 .5em;font-weight:650}
h3{font-size:1.02rem;margin:1.4em 0 .5em;font-weight:620}
p{margin:.4em 0 .8em;max-width:78ch}
.muted{color:var(--muted)}
.small{font-size:.86rem}
.tablewrap{overflow-x:auto;margin:.4em 0 .6em}
table{border-collapse:collapse;font-variant-numeric:tabular-nums;
font-size:.92rem}
th,td{padding:7px 12px;border-bottom:1px solid var(--line);text-align:right;
vertical-align:top;white-space:nowrap}
th{font-weight:600;background:#fafbfc;border-bottom:2px solid #d5d9e1}
th:first-child,td:first-child{text-align:left}
tr.group td{background:var(--soft);font-weight:600;color:var(--muted);
font-size:.8rem;text-transform:uppercase;letter-spacing:.04em;padding-top:9px}
td.best{background:var(--best);color:var(--bestfg);font-weight:650}
td.best .star{color:#1f8a4c}
tr.real td{color:#39404f;background:#fcfcfd}
table.headline th,table.headline td{padding:7px 8px}
table.headline th{white-space:normal;vertical-align:bottom;min-width:64px}
table.headline td .desc{white-space:normal;max-width:230px}
.figs{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));
gap:8px 24px}
.settings-cols{display:flex;flex-wrap:wrap;gap:0 32px;align-items:flex-start}
th .unit{display:block;font-weight:400;color:var(--muted);font-size:.76rem}
.ci{display:block;color:var(--muted);font-size:.76rem;font-weight:400}
[title]{cursor:help}
.metric{border-bottom:1px dotted #9aa1ad}
.tag{display:inline-block;font-size:.72rem;padding:1px 7px;border-radius:9px;
background:#eef1f6;color:#4a5365;margin-left:6px;vertical-align:1px;
font-weight:500}
.tag.real{background:#1d2330;color:#fff}
.tag.samplernn{background:#fde9dc;color:#8a3b0f}
.tag.wavenet{background:#e1eafc;color:#1b3f91}
.tag.folder{background:#e7f4ec;color:#1d6b3d}
.notes{background:#fffaf0;border:1px solid #f1e2bd;border-radius:8px;
padding:10px 16px;margin:12px 0}
.notes ul{margin:.2em 0;padding-left:1.2em}
details{margin:.8em 0}
summary{cursor:pointer;font-weight:600;color:var(--accent)}
dl.legend{display:grid;grid-template-columns:minmax(180px,260px) 1fr;
gap:6px 18px;margin:.8em 0}
dl.legend dt{font-weight:600}
dl.legend dd{margin:0;color:#39404f}
.cols{display:grid;grid-auto-flow:column;grid-auto-columns:minmax(230px,1fr);
gap:16px;overflow-x:auto;padding-bottom:6px}
.col h4{margin:0 0 8px;font-size:.95rem}
.rowgrid{display:grid;gap:14px;overflow-x:auto;padding-bottom:6px}
.colhead{font-weight:650;font-size:.92rem;padding:0 2px}
.card{border:1px solid var(--line);border-radius:8px;padding:8px 10px 10px;
margin-bottom:12px;background:#fff;min-width:0}
.card .label{font-size:.82rem;color:#39404f;margin-bottom:4px;
overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.card img{display:block;width:100%;height:auto;margin-top:6px;
border-radius:4px}
.card.empty{display:flex;align-items:center;justify-content:center;
color:var(--muted);font-size:.85rem;min-height:60px;background:var(--soft)}
audio{width:100%;height:34px}
figure{margin:10px 0 4px}
figure img{max-width:100%;height:auto;border:1px solid var(--line);
border-radius:6px}
figcaption{font-size:.86rem;color:var(--muted);margin-top:4px;max-width:90ch}
table.settings td{white-space:normal;text-align:left}
table.settings td:first-child{color:var(--muted);white-space:nowrap}
footer{color:var(--muted);font-size:.8rem;text-align:center;padding:10px}
"""

_SECTIONS = (("summary", "Summary"), ("likelihood", "Likelihood"),
             ("reconstructions", "Reconstructions"),
             ("generations", "Long generations"), ("coherence", "Coherence"),
             ("speed", "Speed"), ("settings", "Settings"))


def _e(text):
  return html.escape(str(text), quote=True)


def _url(rel):
  return urllib.parse.quote(rel.replace(os.sep, "/"))


def _tag(family):
  cls = family if family in ("real", "samplernn", "wavenet", "folder") else ""
  return f'<span class="tag {cls}">{_e(family)}</span>'


def _metric_head(key, info, short=False):
  tip = (f"{info['label']}: {info['help']} "
         f"({_direction_text(info['better'])}) [{key}]")
  label = info["short"] if short else info["label"]
  unit = (f'<span class="unit">{_e(info["unit"])}</span>'
          if short and info.get("unit") else _e(_unit(info)))
  return (f'<span class="metric" title="{_e(tip)}">{_e(label)}'
          f'{"" if short else unit}{_arrow(info["better"])}</span>'
          + (unit if short else ""))


def _cell(results, name, key, best):
  model = results["models"][name]
  value = model["metrics"].get(key)
  ci = model["ci"].get(key)
  classes = ["best"] if name in best else []
  star = ' <span class="star" title="best">\u2605</span>' if classes else ""
  ci_html = (f'<span class="ci">[{fmt(ci[0])}, {fmt(ci[1])}]</span>'
             if ci and value is not None else "")
  cls = f' class="{" ".join(classes)}"' if classes else ""
  return f"<td{cls}>{_e(fmt(value))}{star}{ci_html}</td>"


def _headline_table(results):
  keys = [k for k in HEADLINE if k in results["metric_info"]]
  if not results["models"]:
    return '<p class="muted">No models or folders in this report.</p>'
  if not keys:
    keys = list(results["metric_info"])[:8]
  has_info = any(m["info"] for m in results["models"].values())
  head = ["<th>Model</th>"]
  if has_info:
    head.append("<th>Audio</th>")
  head += [f"<th>{_metric_head(k, results['metric_info'][k], short=True)}"
           "</th>" for k in keys]
  best = {k: best_models(results, k) for k in keys}
  rows = []
  for name, model in results["models"].items():
    cells = [f"<td><b>{_e(name)}</b>{_tag(model['family'])}"
             + (f'<div class="muted small desc">{_e(model["description"])}'
                "</div>" if model["description"] else "") + "</td>"]
    if has_info:
      info = model["info"]
      parts = []
      if info.get("num_files") is not None:
        n = info["num_files"]
        parts.append(f"{n} file{'' if n == 1 else 's'}")
      if _number(info.get("total_seconds")) is not None:
        parts.append(f"{info['total_seconds']:.0f} s")
      cells.append(f"<td>{_e(', '.join(parts)) or '—'}</td>")
    cells += [_cell(results, name, k, best[k]) for k in keys]
    cls = ' class="real"' if model["family"] == "real" else ""
    rows.append(f"<tr{cls}>{''.join(cells)}</tr>")
  return (f'<div class="tablewrap"><table class="headline"><thead><tr>'
          f'{"".join(head)}</tr></thead><tbody>{"".join(rows)}</tbody>'
          "</table></div>")


def _metric_table(results, groups):
  """Metrics as rows (grouped), models as columns; '' if no metric."""
  keys = [k for k, info in results["metric_info"].items()
          if info["group"] in groups and any(
              k in m["metrics"] for m in results["models"].values())]
  if not keys:
    return ""
  names = [n for n, m in results["models"].items()
           if any(k in m["metrics"] for k in keys)]
  head = "<th>Metric</th>" + "".join(
      f"<th>{_e(n)}{_tag(results['models'][n]['family'])}</th>"
      for n in names)
  rows = []
  for group in groups:
    group_keys = [k for k in keys
                  if results["metric_info"][k]["group"] == group]
    if not group_keys:
      continue
    if len(groups) > 1:
      rows.append(f'<tr class="group"><td colspan="{len(names) + 1}">'
                  f"{_e(GROUPS[group])}</td></tr>")
    for key in group_keys:
      best = best_models(results, key)
      cells = "".join(_cell(results, n, key, best) for n in names)
      rows.append(f"<tr><td>{_metric_head(key, results['metric_info'][key])}"
                  f"</td>{cells}</tr>")
  return (f'<div class="tablewrap"><table><thead><tr>{head}</tr></thead>'
          f'<tbody>{"".join(rows)}</tbody></table></div>')


def _legend(results):
  items = []
  for key, info in results["metric_info"].items():
    items.append(f"<dt>{_e(info['label'])}{_e(_unit(info))}"
                 f"{_arrow(info['better'])}<div class=\"muted small\">"
                 f"<code>{_e(key)}</code></div></dt>"
                 f"<dd>{_e(info['help'])} <i>"
                 f"{_e(_direction_text(info['better']).capitalize())}.</i>"
                 "</dd>")
  if not items:
    return ""
  return ("<details><summary>What the metrics mean</summary>"
          '<p class="small muted">Values are means over files with a 95% '
          "bootstrap confidence interval below them where one was computed. "
          "\u2605 marks the best row (by the metric's direction, among "
          "the non-real rows); \u2014 means not available. Hover a metric "
          "name for its definition.</p>"
          f'<dl class="legend">{"".join(items)}</dl></details>')


def _card(entry, image, empty_text="—"):
  if entry is None or not entry.get("path"):
    return f'<div class="card empty">{_e(empty_text)}</div>'
  img = (f'<img src="{_url(image)}" alt="waveform and log-mel spectrogram of '
         f'{_e(entry["label"])}" loading="lazy">' if image else "")
  return (f'<div class="card"><div class="label" title="{_e(entry["path"])}">'
          f'{_e(entry["label"])}</div><audio controls preload="none" '
          f'src="{_url(entry["path"])}"></audio>{img}</div>')


def _paired_grid(results, images, source_kind, target_kind, source_title,
                 limit):
  """Rows keyed by source path: source | each model's target (aligned lists)."""
  rows, columns = {}, []
  for name, model in results["models"].items():
    sources = model["audio"].get(source_kind) or []
    targets = model["audio"].get(target_kind) or []
    if not any(t.get("path") for t in targets):
      continue
    columns.append(name)
    for i, target in enumerate(targets):
      source = sources[i] if i < len(sources) else None
      key = (source or {}).get("path") or f"{name}:{i}"
      row = rows.setdefault(key, {"source": source, "targets": {}})
      row["targets"].setdefault(name, target)
  if not columns:
    return ""
  keys = list(rows)[:limit]
  template = (f"grid-template-columns:repeat({len(columns) + 1},"
              "minmax(260px,1fr))")
  cells = [f'<div class="colhead">{_e(source_title)}</div>'] + [
      f'<div class="colhead">{_e(n)}{_tag(results["models"][n]["family"])}'
      "</div>" for n in columns]
  for key in keys:
    row = rows[key]
    source = row["source"]
    cells.append(_card(source, images.get((source or {}).get("path")),
                       "no original given"))
    for name in columns:
      target = row["targets"].get(name)
      cells.append(_card(target, images.get((target or {}).get("path")),
                         "audio file missing" if target else
                         f"no {target_kind[:-1]} by this model"))
  more = (f'<p class="muted small">Showing {len(keys)} of {len(rows)} '
          "rows.</p>" if len(rows) > len(keys) else "")
  return f'<div class="rowgrid" style="{template}">{"".join(cells)}</div>{more}'


def _generation_columns(results, images, limit):
  columns = []
  for name, model in results["models"].items():
    entries = []
    for kind in ("clips", "generations"):
      entries += [e for e in model["audio"].get(kind) or [] if e.get("path")]
    for kind, more in model["audio"].items():
      if kind not in AUDIO_KINDS:
        entries += [e for e in more if e.get("path")]
    if not entries:
      continue
    cards = "".join(_card(e, images.get(e["path"])) for e in entries[:limit])
    extra = (f'<p class="muted small">Showing {limit} of {len(entries)}; all '
             "files are in the audio folder.</p>"
             if len(entries) > limit else "")
    title = "real clips" if model["family"] == "real" else "generations"
    columns.append(f'<div class="col"><h4>{_e(name)}{_tag(model["family"])}'
                   f' <span class="muted small">{title}</span></h4>{cards}'
                   f"{extra}</div>")
  if not columns:
    return ""
  return f'<div class="cols">{"".join(columns)}</div>'


def _figure_html(path, caption, alt):
  return (f'<figure><img src="{_url(path)}" alt="{_e(alt)}">'
          f"<figcaption>{_e(caption)}</figcaption></figure>")


def _flatten(prefix, value, out):
  if isinstance(value, dict):
    for k, v in value.items():
      _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
  elif isinstance(value, list):
    if all(not isinstance(v, (dict, list)) for v in value):
      out.append((prefix, ", ".join(f"{v:.6g}" if isinstance(v, float)
                                    else str(v) for v in value)))
    else:
      for i, v in enumerate(value):
        _flatten(f"{prefix}[{i}]", v, out)
  elif isinstance(value, float):
    out.append((prefix, f"{value:.6g}"))
  else:
    out.append((prefix, "—" if value is None else str(value)))


def _notes_html(results):
  items = [f"<li>{_e(n)}</li>" for n in results["notes"]]
  for name, model in results["models"].items():
    items += [f"<li><b>{_e(name)}</b>: {_e(n)}</li>" for n in model["notes"]]
  if not items:
    return ""
  return f'<div class="notes"><b>Notes</b><ul>{"".join(items)}</ul></div>'


def _muted(text):
  return f'<p class="muted">{_e(text)}</p>'


def render_html(results, images, figures, max_audio):
  """The page as a string. images: audio path -> png; figures: kind -> png."""
  sample_rate = int(results["settings"].get("sample_rate") or 16000)
  nav = "".join(f'<a href="#{sid}">{_e(title)}</a>'
                for sid, title in _SECTIONS)
  body = []

  # Summary.
  full = _metric_table(results, tuple(GROUPS))
  body.append(
      '<section id="summary"><h2>Summary</h2>'
      '<p class="muted small">Headline metrics: means over files, 95% '
      "bootstrap interval below. Arrows give the better direction; "
      "\u2605 marks the best non-real row. The real row is the reference "
      "the others should resemble.</p>"
      + _headline_table(results) + _notes_html(results)
      + (f"<details><summary>All metrics</summary>{full}</details>"
         if full else "")
      + _legend(results) + "</section>")

  # Likelihood.
  table = _metric_table(results, ("likelihood",))
  body.append(
      '<section id="likelihood"><h2>Likelihood</h2>'
      "<p>Negative log-likelihood of held-out test audio under each model "
      "(teacher forcing). Per-code NLL is only comparable between models "
      "with the same quantiser; the 16-bit figure is.</p>"
      + (table or _muted("No likelihood numbers: scoring folders of audio "
                         "needs no model, and NLL needs one."))
      + "</section>")

  # Reconstructions.
  table = _metric_table(results, ("reconstruction",))
  grid = _paired_grid(results, images, "originals", "reconstructions",
                      "Original", max_audio)
  body.append(
      '<section id="reconstructions"><h2>Reconstructions</h2>'
      "<p>Each original next to its reconstruction by every model. Spectral "
      "metrics (spectral convergence, LSD, MCD) rank models; waveform "
      "metrics (SNR, SI-SDR) are low for any sampled decoder.</p>"
      + (table or _muted("No reconstruction metrics."))
      + (grid or _muted("No reconstructions to play.")) + "</section>")

  # Long generations.
  continuations = _paired_grid(results, images, "prompts", "continuations",
                               "Prompt", max_audio)
  columns = _generation_columns(results, images, max_audio)
  body.append(
      '<section id="generations"><h2>Long generations</h2>'
      "<p>Real clips beside each model's output. Each image: waveform "
      "(top) and log-mel spectrogram on a fixed scale (0 dB = full-scale "
      f"sine, {abs(SPECTROGRAM_RANGE_DB[0]):.0f} dB range, "
      f"{sample_rate // 2000} kHz top).</p>"
      + (f"<h3>Continuations</h3>{continuations}" if continuations else "")
      + (f"<h3>Generations</h3>{columns}" if columns else "")
      + ("" if continuations or columns else _muted("No audio."))
      + "</section>")

  # Coherence.
  table = _metric_table(results, ("coherence", "distribution"))
  plots = ""
  if "similarity_vs_lag" in figures:
    plots += _figure_html(
        figures["similarity_vs_lag"],
        "Mean cosine similarity of clip-centred chroma windows against lag "
        "(mean over files). Music decays with lag and peaks where material "
        "repeats; noise stays near 0.", "similarity versus lag")
  if "drift" in figures:
    plots += _figure_html(
        figures["drift"],
        "Distance of each 5 s chunk's long-term spectrum to the first "
        "chunk's (mean over files). A rising line means the sound wanders "
        "away from where it started.", "drift over time")
  body.append(
      '<section id="coherence"><h2>Coherence</h2>'
      "<p>Long-range behaviour: repetition structure, collapse into silence, "
      "a stuck tone or noise, spectral drift, and distance of the sound "
      "distribution to the real clips.</p>"
      + (table or _muted("No coherence metrics."))
      + (f'<div class="figs">{plots}</div>' if plots
         else _muted("No coherence plots.")) + "</section>")

  # Speed.
  table = _metric_table(results, ("speed",))
  plot = (_figure_html(figures["speed"],
                       "Generated samples per wall-clock second against batch "
                       "size (all sequences counted); the dotted line is real "
                       "time.", "speed versus batch size")
          if "speed" in figures else "")
  body.append('<section id="speed"><h2>Speed</h2>'
              + (table or _muted("No speed measurements."))
              + plot + "</section>")

  # Settings.
  pairs = []
  _flatten("", results["settings"], pairs)
  half = (len(pairs) + 1) // 2
  tables = "".join(
      '<table class="settings"><tbody>' + "".join(
          f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in part)
      + "</tbody></table>" for part in (pairs[:half], pairs[half:]) if part)
  body.append('<section id="settings"><h2>Settings</h2>'
              + (f'<div class="settings-cols">{tables}</div>' if pairs
                 else _muted("No settings recorded."))
              + '<p class="muted small">Machine-readable: '
              '<a href="metrics.json">metrics.json</a>, '
              '<a href="results.json">results.json</a>, '
              '<a href="report.md">report.md</a>.</p></section>')

  return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          '<meta name="viewport" content="width=device-width,initial-scale=1">'
          f"<title>{_e(results['title'])}</title><style>{_CSS}</style></head>"
          f'<body><header><div class="wrap"><h1>{_e(results["title"])}</h1>'
          f'<div class="meta">{_e(results["created"])} \u00b7 '
          f"{len(results['models'])} rows \u00b7 {sample_rate} Hz</div>"
          f"<nav>{nav}</nav></div></header>"
          f'<main class="wrap">{"".join(body)}</main>'
          "<footer>neuralsynth \u00b7 static report, no scripts</footer>"
          "</body></html>\n")


# ----------------------------------------------------------------------------
# Markdown.


def render_markdown(results):
  keys = [k for k in HEADLINE if k in results["metric_info"]]
  lines = [f"# {results['title']}", "", f"Created {results['created']}.", ""]
  if results["models"]:
    head = ["Model", "Family"] + [
        f"{results['metric_info'][k]['label']}"
        f"{_unit(results['metric_info'][k])}"
        f"{_arrow(results['metric_info'][k]['better'])}" for k in keys]
    lines += ["| " + " | ".join(head) + " |",
              "|" + "|".join(["---"] * 2 + ["---:"] * len(keys)) + "|"]
    best = {k: best_models(results, k) for k in keys}
    for name, model in results["models"].items():
      cells = [name, model["family"]]
      for k in keys:
        text = fmt(model["metrics"].get(k))
        ci = model["ci"].get(k)
        if ci and model["metrics"].get(k) is not None:
          text += f" [{fmt(ci[0])}, {fmt(ci[1])}]"
        cells.append(f"**{text}**" if name in best[k] else text)
      lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells)
                   + " |")
    lines += ["", "Bold: best non-real row. Brackets: 95% bootstrap "
              "interval. \u2014: not available.", ""]
  notes = list(results["notes"]) + [
      f"{name}: {n}" for name, m in results["models"].items()
      for n in m["notes"]]
  if notes:
    lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
  others = [k for k in results["metric_info"] if k not in keys]
  if others and results["models"]:
    lines += ["## All metrics", "",
              "| Metric | " + " | ".join(results["models"]) + " |",
              "|---|" + "---:|" * len(results["models"])]
    for k in results["metric_info"]:
      info = results["metric_info"][k]
      best = best_models(results, k)
      cells = []
      for name, model in results["models"].items():
        text = fmt(model["metrics"].get(k))
        cells.append(f"**{text}**" if name in best else text)
      lines.append(f"| {info['label']}{_unit(info)}{_arrow(info['better'])} "
                   f"(`{k}`) | " + " | ".join(cells) + " |")
    lines.append("")
  lines += ["See index.html for audio, spectrograms and plots; metrics.json "
            "for numbers.", ""]
  return "\n".join(lines)


# ----------------------------------------------------------------------------
# metrics.json.


def metrics_json(results):
  """The machine-readable summary (see module docstring)."""
  flat = {}
  for name, model in results["models"].items():
    row = {}
    for key in results["metric_info"]:
      if key in model["metrics"]:
        row[key] = model["metrics"][key]
        if key in model["ci"]:
          row[f"{key}_ci"] = model["ci"][key]
    flat[name] = row
  settings = results["settings"]
  return {
      "title": results["title"], "created": results["created"],
      "settings": settings,
      "versions": settings.get("versions") or {},
      "machine": settings.get("machine") or {},
      "families": {n: m["family"] for n, m in results["models"].items()},
      "info": {n: m["info"] for n, m in results["models"].items()},
      "metrics": flat,
      "metric_info": results["metric_info"],
      "notes": results["notes"] + [
          f"{n}: {note}" for n, m in results["models"].items()
          for note in m["notes"]],
  }


def _write_text(path, text):
  with files.atomic_path(path) as tmp:
    with open(tmp, "w", encoding="utf-8") as f:
      f.write(text)
    _readable(tmp)


def _write_json(path, data):
  _write_text(path, json.dumps(data, indent=2, allow_nan=False,
                               ensure_ascii=False) + "\n")


# ----------------------------------------------------------------------------
# Entry point.


def write_report(report_dir, results, title=None, notes=None, max_audio=8,
                 progress=False):
  """Writes metrics.json, results.json, report.md, index.html and plots.

  Args:
    report_dir: Output folder (created). Audio must be inside it already or
      is copied in (absolute paths); see the module docstring.
    results: The results dict (module docstring).
    title: Overrides results["title"].
    notes: A string or list of strings appended to results["notes"].
    max_audio: Most audio players (and spectrograms) per model and kind.
    progress: Show a tqdm bar while drawing spectrograms.

  Returns:
    Dict with the paths written ("index", "metrics", "results", "markdown")
    and "missing_links" (should be empty; see `check_links`).
  """
  os.makedirs(report_dir, exist_ok=True)
  results = normalise(results, report_dir, title=title, notes=notes)
  sample_rate = int(results["settings"].get("sample_rate") or 16000)
  results["settings"].setdefault("sample_rate", sample_rate)

  # Spectrograms of the audio that the page shows.
  shown = []
  for model in results["models"].values():
    for kind, entries in model["audio"].items():
      shown += [e["path"] for e in entries[:max_audio] if e.get("path")]
  shown = list(dict.fromkeys(shown))
  images = {}
  if shown:
    from common import audio as audio_io  # pylint: disable=g-import-not-at-top
    iterator = shown
    if progress:
      from tqdm import tqdm  # pylint: disable=g-import-not-at-top
      iterator = tqdm(shown, desc="spectrograms", unit="file")
    for rel in iterator:
      png = "plots/audio/" + slug(os.path.splitext(rel)[0]) + ".png"
      try:
        clip = audio_io.load(os.path.join(report_dir, rel), sample_rate)
      except (audio_io.AudioError, OSError, ValueError) as e:
        results["notes"].append(f"no spectrogram for {rel}: {e}")
        continue
      audio_figure(clip, sample_rate, os.path.join(report_dir, png))
      images[rel] = png

  figures = {}
  plots_dir = os.path.join(report_dir, "plots")
  if _line_plot(results, "similarity_vs_lag", "lags_s", "values",
                os.path.join(plots_dir, "similarity_vs_lag.png"), "lag (s)",
                "chroma similarity (cosine)", logx=True):
    figures["similarity_vs_lag"] = "plots/similarity_vs_lag.png"
  if _line_plot(results, "drift", "times_s", "drift_db",
                os.path.join(plots_dir, "drift.png"), "time (s)",
                "LTAS distance to first chunk (dB)"):
    figures["drift"] = "plots/drift.png"
  if _line_plot(results, "speed", "batch_sizes", "samples_per_second",
                os.path.join(plots_dir, "speed.png"), "batch size",
                "samples / second", logx=True, logy=True,
                reference=(sample_rate, f"real time ({sample_rate} Hz)")):
    figures["speed"] = "plots/speed.png"

  paths = {"metrics": os.path.join(report_dir, "metrics.json"),
           "results": os.path.join(report_dir, "results.json"),
           "markdown": os.path.join(report_dir, "report.md"),
           "index": os.path.join(report_dir, "index.html")}
  _write_json(paths["metrics"], metrics_json(results))
  _write_json(paths["results"], results)
  _write_text(paths["markdown"], render_markdown(results))
  _write_text(paths["index"], render_html(results, images, figures,
                                          max_audio))
  paths["missing_links"] = check_links(report_dir)
  if paths["missing_links"]:
    print(f"warning: {len(paths['missing_links'])} broken links in "
          f"{paths['index']}: {paths['missing_links'][:3]}", file=sys.stderr)
  return paths


# ----------------------------------------------------------------------------
# Link checking.


class _Links(HTMLParser):

  def __init__(self):
    super().__init__(convert_charrefs=True)
    self.links = []

  def handle_starttag(self, tag, attrs):
    for name, value in attrs:
      if name in ("href", "src", "poster", "data") and value is not None:
        self.links.append(value)
      elif name == "srcset" and value:
        self.links += [part.strip().split()[0] for part in value.split(",")
                       if part.strip()]


def html_links(path):
  """Every href/src/srcset/poster value in an HTML file, in order."""
  parser = _Links()
  with open(path, encoding="utf-8") as f:
    parser.feed(f.read())
  return parser.links


def check_links(report_dir, page="index.html"):
  """Links of `page` that do not resolve to a file inside report_dir.

  In-page anchors ("#x") and data: URIs are fine; anything with a scheme
  (http:, file:, ...) or a path leaving report_dir counts as missing, since
  the page must work on its own from disk.
  """
  missing = []
  for link in html_links(os.path.join(report_dir, page)):
    if not link or link.startswith("#") or link.startswith("data:"):
      continue
    parsed = urllib.parse.urlsplit(link)
    if parsed.scheme or parsed.netloc or link.startswith("/"):
      missing.append(link)
      continue
    target = os.path.join(report_dir, urllib.parse.unquote(parsed.path))
    if not _inside(target, report_dir) or not os.path.isfile(target):
      missing.append(link)
  return missing
