"""The instrument's levels (`--normalize`): one gain per rendered pitch.

`instrument` (default) scales everything by one gain so the loudest peak is
-1 dBFS, keeping the model's own balance between points and pitches;
`pitch` first matches the median RMS of each pitch (over all points) to the
median over pitches, then applies one peak gain; `none` keeps the raw
levels. The audio mix is normalised by the same rule on its own, so the
page's two modes play at comparable levels.
"""

from __future__ import annotations

import numpy as np

from wavenet.instrument_sounds import InstrumentError

NORMALIZE = ("instrument", "pitch", "none")
PEAK = 10 ** (-1 / 20)  # -1 dBFS
# {(point, pitch): (peak, rms)}
Levels = dict[tuple[int, int], tuple[float, float]]


def note_levels(note: np.ndarray) -> tuple[float, float]:
  """(peak, RMS) of a note `[samples]`."""
  note = np.asarray(note, np.float64)
  return float(np.max(np.abs(note))), float(np.sqrt(np.mean(note ** 2)))


def level_gains(stats: Levels, pitches: list[int],
                rule: str) -> dict[int, float]:
  """Gain per pitch from `{(point, pitch): (peak, rms)}` and a rule.

  `instrument`: one gain, loudest peak -> -1 dBFS. `pitch`: each pitch's
  median RMS matched to the median over pitches, then one peak gain.
  `none`: 1.
  """
  if rule not in NORMALIZE:
    raise InstrumentError(f"--normalize must be one of {NORMALIZE}")
  gains = {p: 1.0 for p in pitches}
  if rule == "none":
    return gains
  if rule == "pitch":
    medians = {p: float(np.median([s[1] for (_, q), s in stats.items()
                                   if q == p])) for p in pitches}
    target = float(np.median([m for m in medians.values() if m > 0] or [0]))
    gains = {p: (target / medians[p] if medians[p] > 0 else 1.0)
             for p in pitches}
  loudest = max(s[0] * gains[q] for (_, q), s in stats.items())
  scale = PEAK / loudest if loudest > 0 else 1.0
  return {p: g * scale for p, g in gains.items()}
