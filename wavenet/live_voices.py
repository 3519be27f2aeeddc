"""The live instrument's voices: which embedding frame each one plays.

Up to `MAX_VOICES` notes sound at once, one per row of the generator's
batch. A note walks through the frames of its corner notes: frames `0 ..
held - 1` while the key is down, then it holds frame `held - 1` (the last
frame before the corner notes' note-off: their sustain) for as long as the
key stays down; on key-up it jumps to frame `held` (if not past it) and
plays the release frames `held .. frames - 1`, after which its row is free.
Only the rows that sound are decoded (`common.state_rows`): a free row
costs nothing, and its state is reset when a note takes it.

Pure bookkeeping (no model, no clock): `Voices.note_on` / `note_off` apply
at a block boundary, `Voices.advance(k)` says which frame each row plays in
the next `k` frames and which of them sound.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np


MAX_VOICES = 4


@dataclasses.dataclass
class Voice:
  """A sounding note.

  Attributes:
    pitch: MIDI note number of the key.
    frame: the next frame of the corner notes it plays.
    held: True while the key is down.
    order: when it started (a counter: the oldest is stolen first).
    requested: the clock time its key-down arrived (seconds), for latency.
  """
  pitch: int
  frame: int = 0
  held: bool = True
  order: int = 0
  requested: float = 0.0


class Voices:
  """`MAX_VOICES` rows, each free or playing a `Voice`.

  Args:
    frames: frames of a corner note (all have the same length).
    held_frames: frames before the note-off (`1 .. frames - 1`).
    rows: voices (the generator's batch).
  """

  def __init__(self, frames: int, held_frames: int,
               rows: int = MAX_VOICES) -> None:
    if not 1 <= held_frames < frames:
      raise ValueError(f"held_frames {held_frames} must be in 1..{frames - 1}")
    self.frames = int(frames)
    self.held_frames = int(held_frames)
    self.rows: list[Voice | None] = [None] * rows
    self._started = 0

  def note_on(self, pitch: int, requested: float = 0.0) -> int:
    """Starts a note in a free row (else steals the oldest released one,
    else the oldest held one); a key already down is released first.
    Returns the row, whose decoder state the caller resets."""
    self.note_off(pitch)
    free = [i for i, v in enumerate(self.rows) if v is None]
    if free:
      row = free[0]
    else:
      def age(i: int) -> tuple[bool, int]:
        voice = self.rows[i]
        assert voice is not None
        return voice.held, voice.order
      row = min(range(len(self.rows)), key=age)
    self._started += 1
    self.rows[row] = Voice(int(pitch), order=self._started,
                           requested=requested)
    return row

  def note_off(self, pitch: int) -> bool:
    """Releases the held voice of `pitch`; False if none holds it."""
    for voice in self.rows:
      if voice is not None and voice.held and voice.pitch == pitch:
        voice.held = False
        voice.frame = max(voice.frame, self.held_frames)
        return True
    return False

  def all_off(self) -> None:
    for voice in self.rows:
      if voice is not None and voice.held:
        self.note_off(voice.pitch)

  def advance(self, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The next `count` frames of every row, then frees finished voices.

    Returns:
      (frame indices int `[rows, count]` into the corner notes (0 where
      silent), sounding bool `[rows, count]`).
    """
    index = np.zeros([len(self.rows), count], np.int64)
    sounding = np.zeros([len(self.rows), count], bool)
    for row, voice in enumerate(self.rows):
      if voice is None:
        continue
      for k in range(count):
        if voice.frame >= self.frames:
          break
        index[row, k], sounding[row, k] = voice.frame, True
        voice.frame += 1
        if voice.held:  # the sustain: the frame before the note-off
          voice.frame = min(voice.frame, self.held_frames - 1)
      if voice.frame >= self.frames:
        self.rows[row] = None
    return index, sounding

  def describe(self) -> list[dict[str, Any] | None]:
    """Each row's voice as JSON-ready data (None when free)."""
    return [None if v is None else dict(
        pitch=v.pitch, frame=v.frame, held=v.held) for v in self.rows]
