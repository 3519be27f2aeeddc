"""SFZ instruments of a built NSynth instrument (`--sfz`).

`position` (default): one instrument for `--sfz_position=x,y`, the four
nearest grid points' latent renders mixed by their bilinear weights as the
page plays them (just the point's own samples when the position is a grid
point); `all` adds one per grid point; `none` writes none. One `<region>`
per rendered pitch: `sample=samples/...wav pitch_keycenter=P lokey hikey`,
key ranges split halfway between rendered pitches and extended
`KEY_EXTEND` semitones past the ends (`instrument_sounds.key_ranges`, the
page uses the same ranges); 16-bit wav samples in `sfz/samples/`.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Sequence

import numpy as np

from common import audio
from common import files
from wavenet import instrument_grid
from wavenet import instrument_journal as journal
from wavenet import instrument_sounds
from wavenet.instrument_sounds import InstrumentError

SFZ_CHOICES = ("position", "all", "none")
Region = tuple[str, int, int, int]  # (sample, pitch, lokey, hikey)


def sfz_text(title: str, regions: Sequence[Region],
             comments: Sequence[str] = ()) -> str:
  """An SFZ instrument: `regions` = [(sample, pitch, lokey, hikey)]."""
  lines = [f"// {title}"] + [f"// {c}" for c in comments]
  lines += ["// Made by neuralsynth (python -m wavenet.instrument).", "",
            "<global>", "loop_mode=no_loop", "ampeg_release=0.25", ""]
  for sample, pitch, lo, hi in regions:
    lines.append(f"<region> sample={sample} pitch_keycenter={pitch} "
                 f"lokey={lo} hikey={hi}")
  return "\n".join(lines) + "\n"


@dataclasses.dataclass(frozen=True)
class SfzPlan:
  """Which SFZ files a build writes and which notes they need.

  Attributes:
    choice: one of `SFZ_CHOICES`.
    position: (x, y) of the position instrument.
    position_points: the grid points it mixes (weight > 0, as the page).
    position_weights: their weights.
    own_points: grid points with an SFZ of their own (`all`).
  """
  choice: str
  position: tuple[float, float]
  position_points: list[int]
  position_weights: list[float]
  own_points: list[int]

  @property
  def wav_points(self) -> set[int]:
    """Points whose normalised notes are copied to `sfz/samples/`."""
    own = set(self.own_points)
    if self.choice != "none" and len(self.position_points) == 1:
      own |= set(self.position_points)
    return own

  @property
  def mix_points(self) -> set[int]:
    """Points whose normalised notes the position instrument mixes."""
    if self.choice == "none" or len(self.position_points) == 1:
      return set()
    return set(self.position_points)


def plan_sfz(choice: str, position: tuple[float, float],
             grid: int) -> SfzPlan:
  """The SFZ files of `--sfz=choice` on a `grid` x `grid` build."""
  if choice not in SFZ_CHOICES:
    raise InstrumentError(f"--sfz must be one of {SFZ_CHOICES}")
  near, near_weights = instrument_grid.nearest_points(*position, grid)
  return SfzPlan(
      choice, (float(position[0]), float(position[1])),
      [p for p, w in zip(near, near_weights) if w > 1e-9],
      [w for w in near_weights if w > 1e-9],
      list(range(grid * grid)) if choice == "all" else [])


def sample_path(point: int, pitch: int, num_points: int) -> str:
  """A grid point's sample, relative to `sfz/`."""
  return f"samples/{journal.render_stem(point, pitch, num_points)}.wav"


def _describe(names: Sequence[str], weights: np.ndarray) -> str:
  return ", ".join(f"{n} {v:.2f}" for n, v in zip(names, weights)
                   if v > 5e-3)


def _write_position(output_dir: str, plan: SfzPlan, title: str,
                    names: Sequence[str], weights: np.ndarray,
                    pitches: list[int],
                    latent_notes: dict[tuple[int, int], np.ndarray],
                    sample_rate: int, num_points: int) -> dict:
  x, y = plan.position
  name = f"position_x{x:.2f}_y{y:.2f}"
  points = plan.position_points
  samples = {}
  for q in pitches:
    if len(points) == 1:
      samples[q] = sample_path(points[0], q, num_points)
    else:
      samples[q] = f"samples/{name}_n{q:03d}.wav"
      notes = np.stack([latent_notes[(p, q)] for p in points])
      audio.save(os.path.join(output_dir, "sfz", samples[q]),
                 instrument_grid.mix(notes, plan.position_weights),
                 sample_rate)
  ranges = instrument_sounds.key_ranges(pitches)
  sounds = instrument_grid.mix(weights[points], plan.position_weights)
  rel = f"sfz/{name}.sfz"
  files.write_text(os.path.join(output_dir, rel), sfz_text(
      f"{title}: pad position x={x:.2f}, y={y:.2f}",
      [(samples[q], q, lo, hi) for q, (lo, hi) in zip(pitches, ranges)],
      [f"sounds: {_describe(names, sounds)}",
       f"grid point {points[0]}" if len(points) == 1 else
       f"grid points {points} mixed with weights "
       f"{[round(w, 3) for w in plan.position_weights]}"]))
  return dict(file=rel, x=x, y=y, points=points,
              weights=plan.position_weights)


def _write_point(output_dir: str, point: int, grid: int, title: str,
                 names: Sequence[str], weights: np.ndarray,
                 pitches: list[int]) -> dict:
  num_points = grid * grid
  row, col = divmod(point, grid)
  x, y = col / (grid - 1), row / (grid - 1)
  rel = f"sfz/point_{point:0{max(2, len(str(num_points - 1)))}d}.sfz"
  ranges = instrument_sounds.key_ranges(pitches)
  files.write_text(os.path.join(output_dir, rel), sfz_text(
      f"{title}: grid point {point} (x={x:.2f}, y={y:.2f})",
      [(sample_path(point, q, num_points), q, lo, hi)
       for q, (lo, hi) in zip(pitches, ranges)],
      [f"sounds: {_describe(names, weights[point])}"]))
  return dict(file=rel, x=x, y=y, points=[point], weights=[1.0])


def write_sfz(output_dir: str, plan: SfzPlan, grid: int, title: str,
              names: Sequence[str], weights: np.ndarray, pitches: list[int],
              latent_notes: dict[tuple[int, int], np.ndarray],
              sample_rate: int) -> tuple[list[dict], dict[int, str]]:
  """Writes the planned `.sfz` files (the grid points' samples are already
  in `sfz/samples/`: `SfzPlan.wav_points`).

  Args:
    weights: `[points, n]` sound weights per grid point.
    latent_notes: `{(point, pitch): normalised note}` of
      `SfzPlan.mix_points`.

  Returns:
    (one dict per file (file, x, y, points, weights), the position first;
    `{point: file}` of the points with their own).
  """
  written = []
  if plan.choice != "none":
    written.append(_write_position(output_dir, plan, title, names, weights,
                                   pitches, latent_notes, sample_rate,
                                   grid * grid))
  own = {point: _write_point(output_dir, point, grid, title, names, weights,
                             pitches) for point in plan.own_points}
  return written + list(own.values()), {p: w["file"] for p, w in own.items()}
