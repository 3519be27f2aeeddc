"""The instrument's settings and sounds: pitches, key ranges, note files.

A sound is a file (one note used at every pitch) or a folder of one note
per pitch: for pitch 60 the folder's audio file whose name without
extension is the number (`60.wav`, `060.flac`), else a file whose first
dash-separated numeric field is the pitch, as NSynth names
`instrument-pitch-velocity` (`piano_000-060-100.wav`); when several match
(NSynth velocities) the one whose next field is closest to 100.
"""

from __future__ import annotations

import os
import re

import numpy as np

from common import audio

KEY_EXTEND = 12  # semitones playable past the lowest/highest rendered pitch


class InstrumentError(ValueError):
  """A bad setting or sound; the message says which and why."""


def parse_pitches(text: str) -> list[int]:
  """"60,64" or "36,40,...,84" (an arithmetic run) -> sorted unique ints.

  `a,b,...,z` continues the step `b - a` up to `z` (which must be on it).
  """
  items = [t.strip() for t in str(text).split(",") if t.strip()]
  pitches = []
  for i, item in enumerate(items):
    if item in ("...", "\u2026"):
      if i < 2 or i != len(items) - 2:
        raise InstrumentError(f"--pitches: '...' needs two values before it "
                              f"and one after (as 36,40,...,84): {text!r}")
      continue
    try:
      pitches.append(int(item))
    except ValueError:
      raise InstrumentError(f"--pitches: {item!r} is not a MIDI note number"
                            ) from None
  if any(t in ("...", "\u2026") for t in items):
    first, second, last = pitches[-3], pitches[-2], pitches[-1]
    step = second - first
    if step <= 0 or (last - second) % step:
      raise InstrumentError(f"--pitches: {text!r} is not an arithmetic run "
                            f"(step {step} does not reach {last})")
    pitches = pitches[:-1] + list(range(second + step, last + 1, step))
  if not pitches:
    raise InstrumentError("--pitches: no pitch given")
  bad = [p for p in pitches if not 0 <= p <= 127]
  if bad:
    raise InstrumentError(f"--pitches: {bad} outside MIDI notes 0..127")
  return sorted(set(pitches))


def parse_position(text: str) -> tuple[float, float]:
  """"x,y" in [0, 1] -> (x, y) floats."""
  try:
    x, y = (float(v) for v in str(text).split(","))
  except ValueError:
    raise InstrumentError(f"position {text!r}: expected x,y such as 0.5,0.5"
                          ) from None
  if not (0 <= x <= 1 and 0 <= y <= 1):
    raise InstrumentError(f"position {text!r}: x and y must be in [0, 1]")
  return x, y


def key_ranges(pitches: list[int],
               extend: int = KEY_EXTEND) -> list[tuple[int, int]]:
  """`[(lokey, hikey)]` per sorted pitch: split halfway between neighbours.

  An even gap's middle key goes to the lower pitch (40 and 44 split at 42 |
  43); the ends reach `extend` semitones past the outer pitches (in 0..127).
  """
  pitches = sorted(pitches)
  ranges: list[tuple[int, int]] = []
  for i, p in enumerate(pitches):
    lo = max(0, p - extend) if i == 0 else ranges[-1][1] + 1
    hi = (min(127, p + extend) if i == len(pitches) - 1
          else (p + pitches[i + 1]) // 2)
    ranges.append((lo, hi))
  return ranges


def sound_name(source: str) -> str:
  """A short display name: the file's stem or the folder's name."""
  return os.path.splitext(os.path.basename(os.path.normpath(source)))[0]


_PITCH_FIELD = re.compile(r"-(\d{1,3})(?=-|$)")


def _velocity_distance(stem: str, match: re.Match) -> int:
  rest = stem[match.end():]
  velocity = re.match(r"-(\d{1,3})", rest)
  return abs(int(velocity.group(1)) - 100) if velocity else 1000


def note_file(source: str, pitch: int) -> str:
  """The audio file `source` plays `pitch` from (see the module doc)."""
  if os.path.isfile(source):
    return source
  if not os.path.isdir(source):
    raise InstrumentError(f"{source}: no such sound file or folder")
  exact, nsynth, available = [], [], set()
  for name in sorted(os.listdir(source)):
    stem, ext = os.path.splitext(name)
    if name.startswith(".") or ext.lower() not in audio.AUDIO_EXTENSIONS:
      continue
    if stem.isdigit():
      available.add(int(stem))
      if int(stem) == pitch:
        exact.append(name)
      continue
    match = _PITCH_FIELD.search(stem)
    if match:
      available.add(int(match.group(1)))
      if int(match.group(1)) == pitch:
        nsynth.append((_velocity_distance(stem, match), name))
  if exact:
    return os.path.join(source, exact[0])
  if nsynth:
    return os.path.join(source, min(nsynth)[1])
  have = ", ".join(str(p) for p in sorted(available)) or "none"
  raise InstrumentError(
      f"{source}: no note for pitch {pitch} (name a file {pitch:03d}.wav or "
      f"like name-{pitch:03d}-100.wav); pitches found: {have}")


def load_note(path: str, sample_rate: int, num_samples: int) -> np.ndarray:
  """A note's first `num_samples` samples (zero-padded), float32."""
  x = audio.load(path, sample_rate)[:num_samples]
  return np.pad(x, (0, num_samples - len(x))).astype(np.float32)
