"""The live instrument's corner sounds, encoded once at start-up.

Corners are given as for `wavenet.instrument` (`wavenet.instrument_sounds`):
a file (one note for every key) or a folder of one note per pitch. Each
corner's notes at `pitches` are cut to `seconds` (padded with silence) and
encoded by the autoencoder; a key plays each corner's note of the nearest
of those pitches, re-pitched by pitch conditioning. `note_off` seconds
into the notes is where their release starts (NSynth notes: 3 s of 4).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from wavenet import embeddings as embeddings_lib
from wavenet import instrument_render
from wavenet import instrument_sounds
from wavenet import latent_stats
from wavenet import live_sound
from wavenet.instrument_sounds import InstrumentError


def held_frames(seconds: float, note_off: float, frame_rate: float) -> int:
  """Frames before the note-off, within `1 .. frames - 1`.

  Raises:
    InstrumentError: the note-off is not inside the note.
  """
  frames = int(round(seconds * frame_rate))
  held = int(round(note_off * frame_rate))
  if not 1 <= held < frames:
    raise InstrumentError(f"--note_off={note_off:g} must fall inside the "
                          f"notes (--seconds={seconds:g}), leaving a frame "
                          f"before and after it")
  return held


def check_sources(sources: Sequence[str], pitches: Sequence[int]) -> None:
  """Raises InstrumentError unless there are 4 sources, each with a note
  at every pitch (checked before any model loads)."""
  if len(sources) != live_sound.CORNERS:
    raise InstrumentError(f"--corners: give 4 sounds (top-left, top-right, "
                          f"bottom-left, bottom-right), got {len(sources)}")
  for source in sources:
    for pitch in pitches:
      instrument_sounds.note_file(source, pitch)


def load_corners(model: Any, config: dict, sources: Sequence[str],
                 pitches: Sequence[int], seconds: float = 4.0,
                 note_off: float = 3.0, stats: str | None = None,
                 batch_size: int = 8) -> live_sound.Corners:
  """Encodes the four corners (module doc).

  Args:
    sources: 4 files or folders: top-left, top-right, bottom-left,
      bottom-right.
    pitches: MIDI pitches to take each corner's notes at.
    stats: a `.npz` from `wavenet.latent mean` (mean and std for
      caricature and noise); None: those of the corners' frames.

  Raises:
    InstrumentError: not 4 sources, a missing note, a model without pitch
      conditioning, or a note-off outside the notes.
    audio.AudioError, LatentError: an unreadable note or stats file.
  """
  check_sources(sources, pitches)
  bins = int(config.get("pitch_bins") or 0)
  if not bins:
    raise InstrumentError("the live instrument sets each key's pitch "
                          "through pitch conditioning; this autoencoder has "
                          "none (pitch_bins 0)")
  rate = int(config["sample_rate"])
  num_samples = int(round(seconds * rate))
  frame_rate = embeddings_lib.frame_rate(config)
  held = held_frames(seconds, note_off, frame_rate)
  notes = np.stack([
      instrument_sounds.load_note(instrument_sounds.note_file(s, p), rate,
                                  num_samples)
      for s in sources for p in pitches])
  encoded = instrument_render.encode_notes(model, config, notes, batch_size)
  encoded = encoded.reshape((len(sources), len(pitches)) + encoded.shape[1:])
  width = encoded.shape[-1]
  if stats:
    mean, std = latent_stats.load_stats(stats, width)
  else:
    flat = encoded.reshape(-1, width)
    mean, std = flat.mean(axis=0), flat.std(axis=0)
  return live_sound.Corners(
      names=tuple(instrument_sounds.sound_name(s) for s in sources),
      pitches=tuple(int(p) for p in pitches),
      embeddings=encoded.astype(np.float32), held_frames=held,
      mean=np.asarray(mean, np.float32), std=np.asarray(std, np.float32),
      pitch_bins=bins, min_midi=int(config.get("pitch_min_midi") or 0),
      frame_rate=frame_rate)
