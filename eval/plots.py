"""The report's figures as PNG files: an audio clip's waveform above its log-mel
spectrogram, and plots of per-model series (similarity versus lag, drift,
speed versus batch size with the arithmetic limit and real time, NLL versus
context length).

Matplotlib draws with its Agg backend on `Figure` objects (no pyplot state);
spectra come from librosa. Every PNG is written atomically (`common.files`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

import librosa
import numpy as np

from common import audio as audio_io
from common import files

PALETTE = ("#2456c5", "#d9622b", "#2a9d5c", "#9b4dca", "#c23b5a", "#8c6d1f",
           "#1b9aaa", "#6b7280")
REAL_COLOUR = "#111111"
SPECTROGRAM_RANGE_DB = (-85.0, 0.0)  # 0 dB ~ a full-scale sine.
N_MELS = 80
_TEXT = "#39404f"


class LinePlot(NamedTuple):
  """A per-model line plot: model["plots"][kind][x_key] against [y_key]."""
  kind: str
  x_key: str
  y_key: str
  xlabel: str
  ylabel: str
  log_base_x: int | None = None  # None: linear x axis
  log_y: bool = False


SIMILARITY = LinePlot("similarity_vs_lag", "lags_s", "values", "lag (s)",
                      "chroma similarity (cosine)", log_base_x=10)
DRIFT = LinePlot("drift", "times_s", "drift_db", "time (s)",
                 "LTAS distance to first chunk (dB)")
SPEED = LinePlot("speed", "batch_sizes", "samples_per_second", "batch size",
                 "samples / second", log_base_x=2, log_y=True)

# The report's summary figures, plots/<kind>.png (`summary_figures`).
FIGURES = ("similarity_vs_lag", "drift", "speed", "context")

# Where the context plot puts "whole file": this many times the longest
# finite context, on its log x axis.
WHOLE_FILE_FACTOR = 4.0


# ----------------------------------------------------------------------------
# Spectra.


def log_mel_db(audio: np.ndarray, sample_rate: int, n_fft: int = 1024,
               hop: int = 256, n_mels: int = N_MELS,
               block_frames: int = 2048) -> np.ndarray:
  """Log-mel power in dB, [n_mels, frames]; 0 dB ~ a full-scale sine.

  librosa's mel power spectrogram (centred frames with reflect padding,
  periodic Hann window of n_fft, triangular filters of peak 1 on the HTK mel
  scale from 0 Hz to sample_rate / 2), divided by the power a full-scale
  sine puts in its peak bin, in dB (floor -120 dB). Frames are computed
  `block_frames` at a time, so memory stays bounded for long clips.

  Args:
    audio: Float audio, [samples].
    sample_rate: Hz.
    n_fft, hop: Frame and hop in samples.
    n_mels: Mel bands.
    block_frames: Frames per librosa call.
  """
  audio = np.asarray(audio, np.float32).reshape(-1)
  if audio.size == 0:
    return np.zeros((n_mels, 0), np.float32)
  pad = n_fft // 2
  padded = np.pad(audio, pad,
                  mode="reflect" if audio.size > pad else "constant")
  num_frames = 1 + (padded.size - n_fft) // hop
  blocks = []
  for start in range(0, num_frames, block_frames):
    stop = min(start + block_frames, num_frames)
    blocks.append(librosa.feature.melspectrogram(
        y=padded[start * hop:(stop - 1) * hop + n_fft], sr=sample_rate,
        n_fft=n_fft, hop_length=hop, window="hann", center=False,
        n_mels=n_mels, htk=True, norm=None))
  # A full-scale sine's peak bin holds (sum of the window / 2)^2.
  full_scale = float(np.sum(librosa.filters.get_window("hann", n_fft)) / 2) ** 2
  return librosa.power_to_db(np.concatenate(blocks, axis=1) / full_scale,
                             ref=1.0, amin=1e-12, top_db=None)


# ----------------------------------------------------------------------------
# Figures.


def _figure(width: float, height: float) -> Any:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg", force=False)
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  fig = Figure(figsize=(width, height), dpi=100)
  fig.patch.set_facecolor("white")
  return fig


def _save(fig: Any, path: str) -> None:
  with files.atomic_path(path) as tmp:
    fig.savefig(tmp, format="png", facecolor="white")


def _draw_waveform(ax: Any, audio: np.ndarray, sample_rate: int) -> None:
  """Min/max envelope over at most 1,400 columns, y from -1 to 1."""
  columns = min(audio.size, 1400)
  if columns > 0:
    edges = np.linspace(0, audio.size, columns + 1).astype(int)
    starts = np.unique(edges[:-1])
    ax.fill_between(starts / sample_rate,
                    np.minimum.reduceat(audio, starts),
                    np.maximum.reduceat(audio, starts),
                    color=PALETTE[0], linewidth=0.4, step="post")
  ax.axhline(0.0, color="#c9cfdb", linewidth=0.6, zorder=0)
  ax.set_ylim(-1.0, 1.0)
  ax.set_yticks([])
  ax.tick_params(labelbottom=False, bottom=False)
  for side in ("top", "right", "left", "bottom"):
    ax.spines[side].set_visible(False)


def _draw_log_mel(ax: Any, audio: np.ndarray, sample_rate: int,
                  seconds: float) -> None:
  """Log-mel image on the fixed SPECTROGRAM_RANGE_DB scale, Hz ticks."""
  db = log_mel_db(audio, sample_rate)
  if db.shape[1] == 0:
    db = np.full((N_MELS, 1), SPECTROGRAM_RANGE_DB[0])
  ax.imshow(db, origin="lower", aspect="auto", cmap="magma",
            extent=(0, seconds, 0, N_MELS), interpolation="nearest",
            vmin=SPECTROGRAM_RANGE_DB[0], vmax=SPECTROGRAM_RANGE_DB[1])
  top_mel = librosa.hz_to_mel(sample_rate / 2.0, htk=True)
  ticks = [f for f in (100, 500, 1000, 2000, 4000, 8000, 16000)
           if f < sample_rate / 2.0]
  ax.set_yticks([librosa.hz_to_mel(f, htk=True) / top_mel * N_MELS
                 for f in ticks])
  ax.set_yticklabels([f"{f // 1000}k" if f >= 1000 else str(f)
                      for f in ticks])
  ax.set_xlim(0, seconds)
  ax.tick_params(labelsize=8, colors=_TEXT)
  ax.set_xlabel("time (s)", fontsize=8, color=_TEXT, labelpad=1)


def audio_figure(audio: np.ndarray, sample_rate: int, path: str) -> None:
  """Writes a PNG of `audio` ([samples], in [-1, 1]): its waveform (min/max
  envelope) above its log-mel spectrogram, 480 x 230 pixels."""
  audio = np.asarray(audio, np.float32).reshape(-1)
  seconds = max(audio.size / sample_rate, 1.0 / sample_rate)
  fig = _figure(4.8, 2.3)
  grid = fig.add_gridspec(2, 1, height_ratios=(1, 2.4), hspace=0.05,
                          left=0.1, right=0.97, top=0.97, bottom=0.17)
  ax_wave = fig.add_subplot(grid[0])
  ax_spec = fig.add_subplot(grid[1], sharex=ax_wave)
  _draw_waveform(ax_wave, audio, sample_rate)
  _draw_log_mel(ax_spec, audio, sample_rate, seconds)
  _save(fig, path)


def audio_figures(report_dir: str, pngs: Mapping[str, str],
                  sample_rate: int, progress: bool = False
                  ) -> tuple[dict[str, str], list[str]]:
  """Draws `audio_figure` of each audio file into its PNG.

  Args:
    report_dir: Folder the paths are relative to.
    pngs: {audio path: png path}, both relative to report_dir.
    sample_rate: Hz to load the audio at.
    progress: Show a tqdm bar.

  Returns:
    ({audio path: png path} of the PNGs drawn; notes naming the audio files
    that could not be read).
  """
  items: Iterable[tuple[str, str]] = list(pngs.items())
  if progress:
    from tqdm import tqdm  # pylint: disable=g-import-not-at-top
    items = tqdm(items, desc="spectrograms", unit="file")
  drawn, notes = {}, []
  for rel, png in items:
    try:
      clip = audio_io.load(os.path.join(report_dir, rel), sample_rate)
    except (audio_io.AudioError, OSError, ValueError) as e:
      notes.append(f"no spectrogram for {rel}: {e}")
      continue
    audio_figure(clip, sample_rate, os.path.join(report_dir, png))
    drawn[rel] = png
  return drawn, notes


def model_colours(models: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
  """A line colour per model: real rows black, the others from PALETTE in
  order (the same colour in every plot)."""
  colours, i = {}, 0
  for name, model in models.items():
    if model["family"] == "real":
      colours[name] = REAL_COLOUR
    else:
      colours[name] = PALETTE[i % len(PALETTE)]
      i += 1
  return colours


def _pairs(data: Mapping[str, Any], x_key: str, y_key: str
           ) -> tuple[list[float], list[float]]:
  """(x, y) of two aligned lists of `data`, pairs with a None dropped."""
  pairs = [(float(x), float(y)) for x, y in zip(data.get(x_key) or [],
                                                data.get(y_key) or [])
           if x is not None and y is not None]
  return [x for x, _ in pairs], [y for _, y in pairs]


def _series(model: Mapping[str, Any], spec: LinePlot
            ) -> tuple[list[float], list[float]]:
  """(x, y) of a model's plot, pairs with a missing value dropped."""
  return _pairs(model["plots"].get(spec.kind) or {}, spec.x_key, spec.y_key)


def _set_axes(ax: Any, spec: LinePlot, xs: list[float]) -> None:
  """Scales (log axes ticked at the data's x values), labels, legend."""
  if spec.log_base_x:
    from matplotlib import ticker  # pylint: disable=g-import-not-at-top
    ax.set_xscale("log", base=spec.log_base_x)
    ax.xaxis.set_major_locator(ticker.FixedLocator(sorted(set(xs))))
    ax.xaxis.set_minor_locator(ticker.NullLocator())
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
  if spec.log_y:
    ax.set_yscale("log")
  ax.set_xlabel(spec.xlabel, fontsize=10, color=_TEXT)
  ax.set_ylabel(spec.ylabel, fontsize=10, color=_TEXT)
  ax.legend(fontsize=9, frameon=False, loc="best")


def draw_lines(ax: Any, models: Mapping[str, Mapping[str, Any]],
               spec: LinePlot) -> list[float]:
  """Draws one line per model that has data for `spec` (real rows dashed
  and thicker); returns every x drawn (empty: nothing drawn)."""
  colours = model_colours(models)
  all_xs: list[float] = []
  for name, model in models.items():
    xs, ys = _series(model, spec)
    if not xs:
      continue
    all_xs += xs
    real = model["family"] == "real"
    ax.plot(xs, ys, marker="o", markersize=4 if real else 3.5,
            linewidth=2.4 if real else 1.7, color=colours[name],
            linestyle="--" if real else "-", label=name,
            zorder=3 if real else 2)
  return all_xs


def draw_line_plot(ax: Any, models: Mapping[str, Mapping[str, Any]],
                   spec: LinePlot) -> bool:
  """`draw_lines` with `spec`'s axes; whether anything was drawn."""
  xs = draw_lines(ax, models, spec)
  if not xs:
    return False
  if spec.kind == "similarity_vs_lag":
    ax.axhline(0.0, color="#9aa1ad", linewidth=0.8)
  _set_axes(ax, spec, xs)
  return True


def draw_speed(ax: Any, models: Mapping[str, Mapping[str, Any]],
               sample_rate: int) -> bool:
  """Samples/s against batch size per model (`SPEED`), each model's
  arithmetic limit dashed in its colour, and real time for b streams
  (b * sample rate, thin grey) over the batch sizes.

  Args:
    ax: Matplotlib axes.
    models: Normalised results["models"]; plots["speed"] holds
      "batch_sizes", "samples_per_second", optionally
      "limit_samples_per_second" (None entries skipped) and "sample_rate"
      (Hz; `sample_rate` if absent).
    sample_rate: Hz of the report.

  Returns:
    Whether anything was drawn.
  """
  xs = draw_lines(ax, models, SPEED)
  if not xs:
    return False
  colours = model_colours(models)
  rates, limits = [], False
  for name, model in models.items():
    data = model["plots"].get("speed") or {}
    if not _series(model, SPEED)[0]:
      continue
    rates.append(int(data.get("sample_rate") or sample_rate))
    batch, limit = _pairs(data, "batch_sizes", "limit_samples_per_second")
    if batch:
      ax.plot(batch, limit, color=colours[name], linestyle="--",
              linewidth=1.2, zorder=1)
      limits = True
  if limits:  # One legend entry for all the dashed lines.
    ax.plot([], [], color="#6b7280", linestyle="--", linewidth=1.2,
            label="arithmetic limit")
  batch = sorted(set(xs))
  for rate in dict.fromkeys(rates):
    ax.plot(batch, [b * rate for b in batch], color="#9aa1ad",
            linewidth=1.0, zorder=1,
            label="real time (b streams)" if len(set(rates)) == 1
            else f"real time at {rate} Hz (b streams)")
  _set_axes(ax, SPEED, xs)
  return True


class ContextPoint(NamedTuple):
  """One point of a model's NLL-against-context curve."""
  seconds: float | None  # None: the whole file
  nll_bits: float
  low: float | None  # 95% interval, if known
  high: float | None


def _context_points(model: Mapping[str, Any]) -> list[ContextPoint]:
  """A model's plots["context"] as points, those without an NLL dropped."""
  data = model["plots"].get("context") or {}
  seconds = list(data.get("context_seconds") or [])

  def column(key: str) -> list[Any]:
    values = list(data.get(key) or [])
    return values + [None] * (len(seconds) - len(values))

  return [ContextPoint(None if c is None else float(c), float(y), low, high)
          for c, y, low, high in zip(seconds, column("nll_bits"),
                                     column("low"), column("high"))
          if y is not None]


def _duration(seconds: float) -> str:
  """"4 ms", "250 ms", "1 s", "4 s"."""
  return f"{seconds * 1000:g} ms" if seconds < 1 else f"{seconds:g} s"


def _draw_context_line(ax: Any, points: list[ContextPoint], whole_x: float,
                       colour: str, label: str) -> None:
  """One model's curve over the finite contexts with its interval shaded,
  and its whole-file points as diamonds with error bars at whole_x (joined
  to the curve by a dotted line)."""
  curve = sorted((p for p in points if p.seconds is not None),
                 key=lambda p: p.seconds or 0.0)
  if curve:
    ax.plot([p.seconds for p in curve], [p.nll_bits for p in curve],
            marker="o", markersize=3.5, linewidth=1.7, color=colour,
            label=label, zorder=2)
    band = [p for p in curve if p.low is not None and p.high is not None]
    if band:
      ax.fill_between([p.seconds for p in band], [p.low for p in band],
                      [p.high for p in band], color=colour, alpha=0.15,
                      linewidth=0)
  for whole in (p for p in points if p.seconds is None):
    yerr = None
    if whole.low is not None and whole.high is not None:
      yerr = [[max(0.0, whole.nll_bits - whole.low)],
              [max(0.0, whole.high - whole.nll_bits)]]
    ax.errorbar([whole_x], [whole.nll_bits], yerr=yerr, marker="D",
                markersize=5, color=colour, capsize=3, linewidth=1.2,
                label=None if curve else label, zorder=3)
    if curve:
      ax.plot([curve[-1].seconds, whole_x], [curve[-1].nll_bits,
                                             whole.nll_bits],
              color=colour, linestyle=":", linewidth=1.0)


def draw_context(ax: Any, models: Mapping[str, Mapping[str, Any]]) -> bool:
  """NLL (bits/sample) against context c per model, log x axis.

  One line per model over the finite contexts with its 95% interval shaded;
  the whole-file point ("context_seconds" None) is a diamond with an error
  bar `WHOLE_FILE_FACTOR` times right of the longest finite context, behind
  a dashed separator, ticked "whole" (the whole file has no single length).

  Args:
    ax: Matplotlib axes.
    models: Normalised results["models"]; plots["context"] holds
      "context_seconds" (None = whole file), "nll_bits", "low", "high".

  Returns:
    Whether anything was drawn.
  """
  from matplotlib import ticker  # pylint: disable=g-import-not-at-top
  points = {name: _context_points(model) for name, model in models.items()}
  points = {name: p for name, p in points.items() if p}
  if not points:
    return False
  finite = sorted({p.seconds for ps in points.values() for p in ps
                   if p.seconds is not None})
  has_whole = any(p.seconds is None for ps in points.values() for p in ps)
  whole_x = finite[-1] * WHOLE_FILE_FACTOR if finite else 1.0
  colours = model_colours(models)
  for name, ps in points.items():
    _draw_context_line(ax, ps, whole_x, colours[name], name)
  if finite and has_whole:
    ax.axvline(float(np.sqrt(finite[-1] * whole_x)), color="#c9cfdb",
               linewidth=0.8, linestyle="--")
  ax.set_xscale("log")
  ax.xaxis.set_major_locator(ticker.FixedLocator(
      finite + ([whole_x] if has_whole else [])))
  ax.xaxis.set_minor_locator(ticker.NullLocator())
  ax.xaxis.set_major_formatter(ticker.FixedFormatter(
      [_duration(c) for c in finite] + (["whole"] if has_whole else [])))
  ax.set_title("NLL against context", fontsize=10, color=_TEXT)
  ax.set_xlabel("context c (log scale)", fontsize=10, color=_TEXT)
  ax.set_ylabel("NLL (bits / sample)", fontsize=10, color=_TEXT)
  ax.legend(fontsize=9, frameon=False, loc="best")
  return True


def _plot(path: str, draw: Callable[[Any], bool]) -> bool:
  """Writes the PNG that `draw(ax)` draws on fresh axes (6.4 x 3.5 in);
  writes nothing and returns False if it drew nothing."""
  fig = _figure(6.4, 3.5)
  ax = fig.add_subplot(111)
  for side in ("top", "right"):
    ax.spines[side].set_visible(False)
  ax.grid(True, color="#e3e6ec", linewidth=0.8)
  ax.set_axisbelow(True)
  ax.tick_params(labelsize=9, colors=_TEXT)
  if not draw(ax):
    return False
  fig.tight_layout()
  _save(fig, path)
  return True


def summary_figures(models: Mapping[str, Mapping[str, Any]], report_dir: str,
                    sample_rate: int) -> dict[str, str]:
  """Draws each of FIGURES that has data into report_dir/plots/<kind>.png.

  Args:
    models: Normalised results["models"].
    report_dir: The report folder.
    sample_rate: Hz of the report (real time, when a model's speed data
      does not give its own).

  Returns:
    {kind: png path relative to report_dir} of the plots drawn.
  """
  drawers: dict[str, Callable[[Any], bool]] = {
      "similarity_vs_lag": lambda ax: draw_line_plot(ax, models, SIMILARITY),
      "drift": lambda ax: draw_line_plot(ax, models, DRIFT),
      "speed": lambda ax: draw_speed(ax, models, sample_rate),
      "context": lambda ax: draw_context(ax, models),
  }
  figures = {}
  for kind in FIGURES:
    rel = f"plots/{kind}.png"
    if _plot(os.path.join(report_dir, rel), drawers[kind]):
      figures[kind] = rel
  return figures
