"""The report's figures as PNG files: an audio clip's waveform above its log-mel
spectrogram, and line plots of per-model series (similarity versus lag, drift,
speed versus batch size).

Matplotlib draws with its Agg backend on `Figure` objects (no pyplot state);
spectra come from librosa. Every PNG is written atomically (`common.files`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
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


LINE_PLOTS = (
    LinePlot("similarity_vs_lag", "lags_s", "values", "lag (s)",
             "chroma similarity (cosine)", log_base_x=10),
    LinePlot("drift", "times_s", "drift_db", "time (s)",
             "LTAS distance to first chunk (dB)"),
    LinePlot("speed", "batch_sizes", "samples_per_second", "batch size",
             "samples / second", log_base_x=2, log_y=True),
)


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


def _series(model: Mapping[str, Any], spec: LinePlot
            ) -> tuple[list[float], list[float]]:
  """(x, y) of a model's plot, pairs with a missing value dropped."""
  data = model["plots"].get(spec.kind) or {}
  pairs = [(float(x), float(y)) for x, y in zip(data.get(spec.x_key) or [],
                                                data.get(spec.y_key) or [])
           if x is not None and y is not None]
  return [x for x, _ in pairs], [y for _, y in pairs]


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


def line_plot(models: Mapping[str, Mapping[str, Any]], spec: LinePlot,
              path: str, horizontal: tuple[float, str] | None = None) -> bool:
  """Writes one line per model that has data for `spec` to a PNG.

  Args:
    models: Normalised results["models"] (`eval.report.normalise`).
    spec: What to plot.
    path: PNG to write.
    horizontal: (y, label) of a dotted reference line, e.g. real time.

  Returns:
    Whether anything was drawn (no file is written otherwise).
  """
  colours = model_colours(models)
  fig = _figure(6.4, 3.5)
  ax = fig.add_subplot(111)
  for side in ("top", "right"):
    ax.spines[side].set_visible(False)
  ax.grid(True, color="#e3e6ec", linewidth=0.8)
  ax.set_axisbelow(True)
  ax.tick_params(labelsize=9, colors=_TEXT)
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
  if not all_xs:
    return False
  if horizontal is not None:
    ax.axhline(horizontal[0], color="#9aa1ad", linewidth=1, linestyle=":")
    ax.annotate(horizontal[1], xy=(0.01, horizontal[0]),
                xycoords=("axes fraction", "data"), fontsize=8,
                color="#6b7280", va="bottom")
  if spec.kind == "similarity_vs_lag":
    ax.axhline(0.0, color="#9aa1ad", linewidth=0.8)
  _set_axes(ax, spec, all_xs)
  fig.tight_layout()
  _save(fig, path)
  return True


def summary_figures(models: Mapping[str, Mapping[str, Any]], report_dir: str,
                    sample_rate: int) -> dict[str, str]:
  """Draws each of LINE_PLOTS that has data into report_dir/plots/.

  Returns:
    {kind: png path relative to report_dir} of the plots drawn.
  """
  figures = {}
  for spec in LINE_PLOTS:
    rel = f"plots/{spec.kind}.png"
    real_time = ((sample_rate, f"real time ({sample_rate} Hz)")
                 if spec.kind == "speed" else None)
    if line_plot(models, spec, os.path.join(report_dir, rel), real_time):
      figures[spec.kind] = rel
  return figures
