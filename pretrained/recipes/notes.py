"""NSynth-like single notes rendered through the FluidR3 General MIDI soundfont.

The library behind `pretrained.recipes.render_notes` (its docstring has the
layout, levels and program table) and `pretrained.recipes.render_bach`: a dry
in-process FluidSynth (`DrySynth`), the program table, note file names, and
`render_notes` / `render_note_clips`.
"""

from __future__ import annotations

import ctypes
import json
import os
from typing import Iterable, Sequence

import numpy as np

from common import files

# ---------------------------------------------------------------------------
# Shared helpers (render_bach imports these).
# ---------------------------------------------------------------------------

SOUNDFONT_CANDIDATES = (
    '/usr/share/sounds/sf2/FluidR3_GM.sf2',
    '/usr/share/soundfonts/FluidR3_GM.sf2',
    '/usr/share/sounds/sf2/default-GM.sf2',
)
RENDER_RATE = 44100   # fluidsynth runs here; we resample to the target rate
SYNTH_GAIN = 0.5      # fluidsynth's own gain; float output, so nothing clips inside


def find_soundfont(path: str | None = None) -> str:
  """Returns a usable FluidR3 GM soundfont path (``path`` if given)."""
  if path:
    if not os.path.exists(path):
      raise FileNotFoundError(path)
    return path
  for cand in SOUNDFONT_CANDIDATES:
    if os.path.exists(cand):
      return os.path.realpath(cand)
  raise FileNotFoundError(
      'No FluidR3 GM soundfont found; install it with '
      '`apt-get install fluid-soundfont-gm` or pass --soundfont.')


class DrySynth:
  """In-process fluidsynth with reverb and chorus off and float output."""

  def __init__(self, soundfont: str | None = None, gain: float = SYNTH_GAIN,
               sample_rate: int = RENDER_RATE):
    import fluidsynth  # pylint: disable=g-import-not-at-top
    self._fs = fluidsynth
    self.sample_rate = sample_rate
    settings = {
        'synth.reverb.active': 0,
        'synth.chorus.active': 0,
        'synth.polyphony': 256,
    }
    self.synth = fluidsynth.Synth(gain=float(gain), samplerate=sample_rate,
                                  channels=16, **settings)
    self.soundfont = find_soundfont(soundfont)
    self.sfid = self.synth.sfload(self.soundfont)
    if self.sfid < 0:
      raise RuntimeError(f'fluidsynth could not load {self.soundfont}')
    self._write_float = getattr(fluidsynth._fl, 'fluid_synth_write_float',  # pylint: disable=protected-access
                                None)
    if self._write_float is not None:
      self._write_float.restype = ctypes.c_int
      self._write_float.argtypes = [
          ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int,
          ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_int]

  def reset(self):
    """Silences everything and resets controllers and programs."""
    for chan in range(16):
      self.synth.all_sounds_off(chan)
    self.synth.system_reset()

  def program(self, chan: int, program: int, bank: int = 0):
    """Selects a GM program; call again after every ``reset``."""
    self.synth.program_select(chan, self.sfid, bank, program)

  def noteon(self, chan: int, key: int, vel: int):
    self.synth.noteon(chan, int(key), int(vel))

  def noteoff(self, chan: int, key: int):
    self.synth.noteoff(chan, int(key))

  def render(self, num_frames: int) -> np.ndarray:
    """Renders ``num_frames`` stereo frames as float32 of shape [n, 2]."""
    num_frames = int(num_frames)
    if num_frames <= 0:
      return np.zeros((0, 2), np.float32)
    if self._write_float is None:
      s16 = self.synth.get_samples(num_frames).astype(np.float32) / 32768.0
      return s16.reshape(-1, 2)
    buf = np.zeros(2 * num_frames, np.float32)
    ptr = buf.ctypes.data_as(ctypes.c_void_p)
    # Interleaved: left at even indices, right at odd ones.
    self._write_float(self.synth.synth, num_frames, ptr, 0, 2, ptr, 1, 2)
    return buf.reshape(-1, 2)

  def close(self):
    self.synth.delete()


def to_mono(audio: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
  """Mixes [n, 2] (or [n]) audio to mono and resamples it with soxr."""
  import soxr  # pylint: disable=g-import-not-at-top
  x = np.asarray(audio, np.float32)
  if x.ndim == 2:
    x = x.mean(axis=1)
  if sr_in != sr_out:
    x = soxr.resample(x, sr_in, sr_out, quality='VHQ')
  return np.ascontiguousarray(x, dtype=np.float32)


def write_audio_atomic(path: str, audio: np.ndarray, sample_rate: int):
  """Writes 16-bit mono WAV or FLAC (by extension) atomically (fsynced)."""
  import soundfile as sf  # pylint: disable=g-import-not-at-top
  fmt = {'.wav': 'WAV', '.flac': 'FLAC'}[os.path.splitext(path)[1].lower()]
  with files.atomic_path(path) as tmp:
    sf.write(tmp, np.clip(audio, -1.0, 1.0), sample_rate, subtype='PCM_16',
             format=fmt)


def write_json_atomic(path: str, obj):
  """Writes `obj` as JSON atomically (fsynced)."""
  with files.atomic_path(path) as tmp:
    with open(tmp, 'w') as f:
      json.dump(obj, f, indent=1)
      f.write('\n')


# ---------------------------------------------------------------------------
# Program table.
# ---------------------------------------------------------------------------

# program: (instrument name, NSynth-like family, lowest pitch, highest pitch)
PROGRAMS = {
    0: ('piano', 'keyboard', 21, 108),
    4: ('epiano', 'keyboard', 28, 96),
    6: ('harpsichord', 'keyboard', 29, 89),
    11: ('vibraphone', 'mallet', 53, 89),
    12: ('marimba', 'mallet', 45, 96),
    19: ('organ_church', 'organ', 24, 96),
    21: ('accordion', 'organ', 53, 89),
    24: ('guitar_nylon', 'guitar', 40, 84),
    27: ('guitar_electric', 'guitar', 40, 86),
    32: ('bass_acoustic', 'bass', 28, 60),
    33: ('bass_electric', 'bass', 28, 67),
    40: ('violin', 'string', 55, 100),
    42: ('cello', 'string', 36, 76),
    46: ('harp', 'string', 24, 103),
    48: ('strings_ensemble', 'string', 28, 96),
    52: ('choir_aahs', 'vocal', 40, 81),
    56: ('trumpet', 'brass', 52, 84),
    57: ('trombone', 'brass', 40, 72),
    60: ('french_horn', 'brass', 34, 77),
    65: ('sax_alto', 'reed', 49, 81),
    68: ('oboe', 'reed', 58, 91),
    70: ('bassoon', 'reed', 34, 75),
    71: ('clarinet', 'reed', 50, 91),
    73: ('flute', 'flute', 60, 96),
    75: ('pan_flute', 'flute', 60, 96),
    80: ('lead_square', 'synth_lead', 36, 96),
    81: ('lead_saw', 'synth_lead', 36, 96),
}
DEFAULT_PROGRAMS = (0, 4, 11, 19, 24, 32, 40, 42, 56, 65, 73, 80)
DEFAULT_VELOCITIES = (75, 100, 127)
DEFAULT_GAIN = 2.5  # global linear gain after rendering (see module doc)

# Bundled clips: (program, pitch, velocity). All are held out from training:
# each instrument-pitch lies in the *test* split that `common.prepare` gives
# the default corpus (rendered into a directory named `notes_wav`, as the
# recipe does, split with `--split_by='(.*)-\\d+\\.wav$'` and seed 0), so the
# demo scores the autoencoder on notes it never saw (checked by
# tests/test_pretrained.py). Nine of the twelve instruments have test pitches;
# the other three (bass, epiano, violin) have none.
CLIP_NOTES = (
    (0, 52, 100), (0, 68, 100), (0, 40, 127), (0, 50, 75),
    (19, 60, 100), (19, 36, 100), (24, 60, 100), (42, 48, 100),
    (42, 70, 75), (56, 62, 100), (56, 70, 127), (65, 72, 100),
    (73, 78, 100), (73, 84, 75), (80, 56, 100), (11, 80, 100),
)


def note_filename(program: int, pitch: int, velocity: int,
                  ext: str = '.wav') -> str:
  name = PROGRAMS[program][0] if program in PROGRAMS else f'program{program}'
  return f'{name}_{program:03d}-{pitch:03d}-{velocity:03d}{ext}'


def program_pitches(program: int, pitches: Iterable[int] | None = None,
                    pitch_step: int = 1) -> list[int]:
  """Pitches to render for ``program``: its range ∩ ``pitches``, on the step grid.

  The grid is anchored at middle C (60), so pitch 60 is always on it.
  """
  lo, hi = PROGRAMS[program][2:] if program in PROGRAMS else (36, 84)
  cand = range(lo, hi + 1) if pitches is None else sorted(set(pitches))
  return [p for p in cand if lo <= p <= hi and (p - 60) % pitch_step == 0]


def render_note(synth: DrySynth, program: int, pitch: int, velocity: int,
                seconds: float = 4.0, note_off: float = 3.0,
                sample_rate: int = 16000) -> np.ndarray:
  """Renders one note; returns float32 mono audio at ``sample_rate``."""
  sr = synth.sample_rate
  synth.reset()
  synth.program(0, program)  # system_reset clears the program.
  total = int(round(seconds * sr))
  off = min(int(round(note_off * sr)), total)
  synth.noteon(0, pitch, velocity)
  first = synth.render(off)
  synth.noteoff(0, pitch)
  rest = synth.render(total - off)
  synth.reset()
  audio = to_mono(np.concatenate([first, rest]), sr, sample_rate)
  n_out = int(round(seconds * sample_rate))
  audio = audio[:n_out]
  if len(audio) < n_out:
    audio = np.pad(audio, (0, n_out - len(audio)))
  return audio


def _note_jobs(programs, pitches, velocities, pitch_step):
  jobs = []
  for prog in programs:
    for pitch in program_pitches(prog, pitches, pitch_step):
      for vel in velocities:
        jobs.append((prog, pitch, vel))
  return jobs


def render_notes(output_dir: str,
                 programs: Sequence[int] = DEFAULT_PROGRAMS,
                 pitches: Iterable[int] | None = None,
                 velocities: Sequence[int] = DEFAULT_VELOCITIES,
                 pitch_step: int = 1,
                 seconds: float = 4.0,
                 note_off: float = 3.0,
                 sample_rate: int = 16000,
                 gain: float = DEFAULT_GAIN,
                 soundfont: str | None = None,
                 jobs: Sequence[tuple[int, int, int]] | None = None,
                 ext: str = '.wav',
                 overwrite: bool = False,
                 progress: bool = True) -> list[dict]:
  """Renders single notes into ``output_dir`` and writes ``notes.json``.

  Args:
    output_dir: where the audio files and notes.json go.
    programs: GM programs (keys of PROGRAMS give default pitch ranges).
    pitches: optional set of MIDI pitches, intersected with each range.
    velocities: MIDI velocities.
    pitch_step: keep pitches with (pitch - 60) % pitch_step == 0.
    seconds, note_off: note length and note-off time in seconds.
    sample_rate: output sample rate.
    gain: one global linear gain applied to every note (no per-note norm).
    soundfont: path to an .sf2 (default: FluidR3_GM).
    jobs: explicit (program, pitch, velocity) list; overrides the grid.
    ext: '.wav' or '.flac'.
    overwrite: re-render notes already on disk.
    progress: show a tqdm bar.

  Returns:
    The list of note records written to notes.json.
  """
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  os.makedirs(output_dir, exist_ok=True)
  if jobs is None:
    jobs = _note_jobs(programs, pitches, velocities, pitch_step)
  manifest_path = os.path.join(output_dir, 'notes.json')
  previous = {}
  if os.path.exists(manifest_path):
    with open(manifest_path) as f:
      previous = {r['file']: r for r in json.load(f).get('notes', [])}

  synth = None
  records, skipped_silent, rendered = [], [], 0
  for prog, pitch, vel in tqdm(jobs, desc='notes', disable=not progress,
                               unit='note'):
    fname = note_filename(prog, pitch, vel, ext)
    path = os.path.join(output_dir, fname)
    name, family = (PROGRAMS[prog][:2] if prog in PROGRAMS
                    else (f'program{prog}', 'other'))
    rec = dict(file=fname, program=prog, instrument=name, family=family,
               pitch=pitch, velocity=vel, scale=1.0)
    if os.path.exists(path) and not overwrite:
      rec['scale'] = previous.get(fname, rec)['scale']
      records.append(rec)
      continue
    if synth is None:
      synth = DrySynth(soundfont)
    audio = render_note(synth, prog, pitch, vel, seconds, note_off,
                        sample_rate) * gain
    peak = float(np.max(np.abs(audio)))
    if peak < 1e-4:
      skipped_silent.append(fname)
      continue
    if peak > 0.99:
      rec['scale'] = round(0.99 / peak, 4)
      audio = audio * rec['scale']
    write_audio_atomic(path, audio, sample_rate)
    records.append(rec)
    rendered += 1
  if synth is not None:
    synth.close()

  write_json_atomic(manifest_path, dict(
      sample_rate=sample_rate, seconds=seconds, note_off=note_off,
      gain=gain, synth_gain=SYNTH_GAIN, soundfont='FluidR3_GM.sf2 (MIT)',
      normalisation='none: one global gain; a note that would clip is scaled '
                    'to peak 0.99 and its factor is stored in "scale"',
      notes=records))
  if progress:
    n_scaled = sum(r['scale'] != 1.0 for r in records)
    print(f'notes: {len(records)} in {output_dir} ({rendered} rendered now, '
          f'{len(records) - rendered} already there, {n_scaled} scaled to avoid '
          f'clipping, {len(skipped_silent)} silent skipped); '
          f'{len(records) * seconds / 60:.1f} min, '
          f'{len({r["program"] for r in records})} programs')
    if skipped_silent:
      print('silent (skipped):', ', '.join(skipped_silent[:20]))
  return records


def render_note_clips(clips_dir: str, soundfont: str | None = None,
                      gain: float = DEFAULT_GAIN,
                      overwrite: bool = True) -> list[dict]:
  """Renders the small bundled FLAC note clips (CLIP_NOTES)."""
  return render_notes(clips_dir, jobs=CLIP_NOTES, soundfont=soundfont,
                      gain=gain, ext='.flac', overwrite=overwrite)


def parse_int_list(text: str) -> list[int] | None:
  """'1,2,5-7' -> [1, 2, 5, 6, 7]; '' -> None."""
  if not text:
    return None
  out = []
  for part in text.split(','):
    part = part.strip()
    if not part:
      continue
    if '-' in part[1:]:
      lo, hi = part.split('-', 1)
      out.extend(range(int(lo), int(hi) + 1))
    else:
      out.append(int(part))
  return out


def format_program_table() -> str:
  lines = ['program  instrument        family      pitches']
  for prog, (name, family, lo, hi) in PROGRAMS.items():
    lines.append(f'{prog:7d}  {name:16s}  {family:10s}  {lo}-{hi}')
  return '\n'.join(lines)

