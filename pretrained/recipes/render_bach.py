r"""Render the Bach chorales that music21 ships through the FluidR3 GM soundfont.

Pieces: the 371-entry Riemenschneider order of ``music21.corpus.chorales.Iterator``
with repeated files dropped (350 distinct chorales).  The LAST 6 of that order are
held out (``HELD_OUT_BACH`` / ``held_out_bach_names()``): they are never rendered
into a training corpus and are the source of the bundled demo/test clips in
``pretrained/clips/music``.  ``--num_pieces=N`` renders the first N pieces that are
not held out.

How a chorale is rendered (in-process with pyfluidsynth; the soundfont is loaded
once, reverb and chorus are off):
- every part (S, A, T, B, and any instrumental parts) is played on its own MIDI
  channel with one GM program for the whole piece, chosen deterministically from
  ``--programs`` (default piano 0, church organ 19, string ensemble 48, choir 52) by
  a hash of (seed, piece name), so the choice does not depend on which pieces are
  rendered;
- the tempo is drawn the same way from ``--tempo_min``..``--tempo_max`` quarter
  notes per minute (default 60-76; most chorales last 35-75 s); each fermata holds
  the chord one extra beat, then a short breath;
- soprano velocity 90, bass 80, inner voices 72; notes are released slightly
  early (at most 40 ms) so repeated notes are articulated;
- rendered at 44.1 kHz in float, mixed to mono, resampled to ``--sample_rate``
  with soxr, leading/trailing silence trimmed (-60 dB re peak, after the release),
  peak-normalised to ``--peak_db`` (-1 dBFS), written as 16-bit WAV.

Output: ``DIR/<name>.wav`` with ``name`` the corpus file name with dots replaced by
underscores (``bach/bwv248.42-4`` -> ``bwv248_42-4``), and ``DIR/bach.json`` (name,
corpus path, program, instrument, tempo, seconds).  Writes are atomic and pieces
already on disk are skipped, so a run can be resumed.

Examples (run from the repository root):

    # the training corpus (110 pieces, 96.8 min): first 110 non-held-out chorales
    python -m pretrained.recipes.render_bach --output_dir=/work/data/bach_wav \
        --num_pieces=110
    # regenerate the bundled clips (15 s FLAC excerpts of the held-out pieces)
    python -m pretrained.recipes.render_bach --clips_dir=pretrained/clips/music

Requires the ``recipes`` extra (music21, pyfluidsynth) and the Debian packages
``fluidsynth fluid-soundfont-gm``.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
from typing import Sequence

import numpy as np

from pretrained.recipes import notes as _rn

# The last 6 distinct entries of music21.corpus.chorales.Iterator() (Riemenschneider
# order, music21 9.x/10.x).  Never used for training; source of the bundled clips.
HELD_OUT_BACH = ('bwv394', 'bwv271', 'bwv248_42-4', 'bwv354', 'bwv74_8', 'bwv278')
NUM_HELD_OUT = len(HELD_OUT_BACH)

DEFAULT_PROGRAMS = (0, 19, 48, 52)
INSTRUMENT_NAMES = {0: 'piano', 19: 'organ', 48: 'strings', 52: 'choir'}
CLIP_SECONDS = 15.0
_CHANNELS = tuple(c for c in range(16) if c != 9)  # skip the GM drum channel


def held_out_bach_names() -> tuple[str, ...]:
  """Names (file stems) of the chorales that training corpora must exclude."""
  return HELD_OUT_BACH


def piece_name(corpus_path: str) -> str:
  """'bach/bwv248.42-4' (or a full path with extension) -> 'bwv248_42-4'."""
  base = os.path.basename(str(corpus_path))
  for ext in ('.mxl', '.xml', '.musicxml', '.krn', '.mid'):
    if base.endswith(ext):
      base = base[:-len(ext)]
  return base.replace('.', '_')


def chorale_paths() -> list[str]:
  """Distinct chorale corpus paths in music21's Riemenschneider order."""
  from music21.corpus import chorales  # pylint: disable=g-import-not-at-top
  seen, out = set(), []
  for path in chorales.Iterator(returnType='filename'):
    if path not in seen:
      seen.add(path)
      out.append(path)
  return out


def split_pieces() -> tuple[list[str], list[str]]:
  """(training candidates, held-out) corpus paths."""
  paths = chorale_paths()
  held = [p for p in paths if piece_name(p) in HELD_OUT_BACH]
  train = [p for p in paths if piece_name(p) not in HELD_OUT_BACH]
  rule = [piece_name(p) for p in paths[-NUM_HELD_OUT:]]
  if tuple(rule) != HELD_OUT_BACH:
    print('warning: this music21 orders the chorales differently; the fixed '
          f'HELD_OUT_BACH list {HELD_OUT_BACH} is still excluded.')
  return train, held


def _unit(seed: int, name: str, what: str) -> float:
  digest = hashlib.sha256(f'{seed}/{name}/{what}'.encode()).digest()
  return int.from_bytes(digest[:8], 'big') / 2.0**64


def piece_settings(name: str, seed: int = 0,
                   programs: Sequence[int] = DEFAULT_PROGRAMS,
                   tempo_min: float = 60.0, tempo_max: float = 76.0):
  """Deterministic (program, tempo in quarter notes per minute) for a piece."""
  program = programs[int(_unit(seed, name, 'program') * len(programs))]
  tempo = tempo_min + (tempo_max - tempo_min) * _unit(seed, name, 'tempo')
  return program, round(tempo, 1)


def chorale_events(score, tempo: float, fermata_beats: float = 1.0,
                   articulation: float = 0.04):
  """Note list [(on_s, off_s, part_index, midi_pitch, velocity)] of a score."""
  from music21 import expressions  # pylint: disable=g-import-not-at-top
  spb = 60.0 / tempo
  parts = list(score.parts)
  part_notes = []
  fermata_ends = set()
  for part in parts:
    notes = [n for n in part.flatten().stripTies().notes
             if float(n.quarterLength) > 0]
    part_notes.append(notes)
    for n in notes:
      if any(isinstance(e, expressions.Fermata) for e in n.expressions):
        fermata_ends.add(round(float(n.offset + n.quarterLength), 4))
  ends = sorted(fermata_ends)
  extra = fermata_beats * spb

  def t_on(q):  # fermatas that ended at or before q have added their pause
    return q * spb + extra * bisect.bisect_right(ends, q + 1e-6)

  events = []
  n_parts = len(parts)
  for idx, notes in enumerate(part_notes):
    if idx == 0:
      vel = 90
    elif idx == n_parts - 1:
      vel = 80
    else:
      vel = 72
    for n in notes:
      q0 = float(n.offset)
      q1 = q0 + float(n.quarterLength)
      on = t_on(q0)
      held = bisect.bisect_left(ends, q1 - 1e-6)  # fermatas strictly before q1
      off = q1 * spb + extra * held
      if held < len(ends) and abs(ends[held] - q1) < 1e-4:
        off += 0.8 * extra          # hold through most of the fermata pause
      off -= min(articulation, 0.1 * (off - on))
      for p in n.pitches:
        events.append((on, off, idx, int(p.midi), vel))
  events.sort()
  return events


def render_events(synth: _rn.DrySynth, events, program: int,
                  tail: float = 2.5) -> np.ndarray:
  """Plays note events through ``synth``; returns float32 stereo [n, 2]."""
  sr = synth.sample_rate
  synth.reset()
  for chan in _CHANNELS:
    synth.program(chan, program)
  msgs = []  # (sample, order, kind, chan, key, vel); note-offs before note-ons
  for on, off, part, key, vel in events:
    chan = _CHANNELS[part % len(_CHANNELS)]
    msgs.append((int(round(on * sr)), 1, 'on', chan, key, vel))
    msgs.append((int(round(off * sr)), 0, 'off', chan, key, 0))
  msgs.sort()
  chunks, now = [], 0
  for sample, _, kind, chan, key, vel in msgs:
    if sample > now:
      chunks.append(synth.render(sample - now))
      now = sample
    if kind == 'on':
      synth.noteon(chan, key, vel)
    else:
      synth.noteoff(chan, key)
  chunks.append(synth.render(int(tail * sr)))
  synth.reset()
  return np.concatenate(chunks)


def trim_silence(audio: np.ndarray, sample_rate: int, threshold_db: float = -60.0,
                 pad: float = 0.05, fade: float = 0.02) -> np.ndarray:
  """Trims leading/trailing audio quieter than ``threshold_db`` re the peak."""
  peak = float(np.max(np.abs(audio))) if audio.size else 0.0
  if peak <= 0:
    return audio
  loud = np.flatnonzero(np.abs(audio) > peak * 10 ** (threshold_db / 20))
  start = max(0, loud[0] - int(pad * sample_rate))
  end = min(len(audio), loud[-1] + 1 + int(pad * sample_rate))
  out = audio[start:end].copy()
  n = min(int(fade * sample_rate), len(out))
  if n > 0:
    out[-n:] *= np.linspace(1.0, 0.0, n, dtype=np.float32)
  return out


def normalise(audio: np.ndarray, peak_db: float = -1.0) -> np.ndarray:
  peak = float(np.max(np.abs(audio))) if audio.size else 0.0
  if peak <= 0:
    return audio
  return (audio * (10 ** (peak_db / 20) / peak)).astype(np.float32)


def render_chorale(synth: _rn.DrySynth, corpus_path: str, program: int,
                   tempo: float, sample_rate: int = 16000,
                   peak_db: float = -1.0) -> np.ndarray:
  """Parses, plays and post-processes one chorale; float32 mono audio."""
  from music21 import corpus  # pylint: disable=g-import-not-at-top
  score = corpus.parse(corpus_path)
  events = chorale_events(score, tempo)
  if not events:
    raise ValueError(f'{corpus_path}: no notes')
  stereo = render_events(synth, events, program)
  mono = _rn.to_mono(stereo, synth.sample_rate, sample_rate)
  return normalise(trim_silence(mono, sample_rate), peak_db)


def render_bach(output_dir: str,
                num_pieces: int = 0,
                sample_rate: int = 16000,
                seed: int = 0,
                programs: Sequence[int] = DEFAULT_PROGRAMS,
                tempo_min: float = 60.0,
                tempo_max: float = 76.0,
                peak_db: float = -1.0,
                pieces: Sequence[str] | None = None,
                soundfont: str | None = None,
                overwrite: bool = False,
                progress: bool = True) -> list[dict]:
  """Renders chorales into ``output_dir`` as ``<name>.wav``; writes bach.json.

  Args:
    output_dir: destination folder.
    num_pieces: render the first N non-held-out chorales (0: all 344).
    sample_rate: output sample rate.
    seed: picks each piece's program and tempo (hash of seed and name).
    programs: GM programs to choose from.
    tempo_min, tempo_max: tempo range in quarter notes per minute.
    peak_db: peak level after normalisation, dBFS.
    pieces: explicit corpus paths (overrides num_pieces; may include held-out
      pieces, which is how the clips are made).
    soundfont: .sf2 path (default FluidR3_GM).
    overwrite: re-render pieces already on disk.
    progress: show a tqdm bar and print a summary.

  Returns:
    One record per piece in the corpus folder's manifest.
  """
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  import soundfile as sf  # pylint: disable=g-import-not-at-top
  if pieces is None:
    train, _ = split_pieces()
    pieces = train[:num_pieces] if num_pieces > 0 else train
  os.makedirs(output_dir, exist_ok=True)
  manifest_path = os.path.join(output_dir, 'bach.json')
  synth = None
  records, rendered, failed = [], 0, []
  for path in tqdm(pieces, desc='chorales', unit='piece', disable=not progress):
    name = piece_name(path)
    program, tempo = piece_settings(name, seed, programs, tempo_min, tempo_max)
    out = os.path.join(output_dir, name + '.wav')
    rec = dict(file=name + '.wav', name=name, corpus_path=str(path),
               program=program,
               instrument=INSTRUMENT_NAMES.get(program, f'program{program}'),
               tempo_qpm=tempo)
    if os.path.exists(out) and not overwrite:
      rec['seconds'] = round(sf.info(out).duration, 3)
      records.append(rec)
      continue
    if synth is None:
      synth = _rn.DrySynth(soundfont)
    try:
      audio = render_chorale(synth, path, program, tempo, sample_rate, peak_db)
    except Exception as e:  # pylint: disable=broad-except
      failed.append(f'{name}: {e}')
      continue
    _rn.write_audio_atomic(out, audio, sample_rate)
    rec['seconds'] = round(len(audio) / sample_rate, 3)
    records.append(rec)
    rendered += 1
  if synth is not None:
    synth.close()
  _rn.write_json_atomic(manifest_path, dict(
      sample_rate=sample_rate, seed=seed, programs=list(programs),
      peak_db=peak_db, held_out=list(HELD_OUT_BACH),
      soundfont='FluidR3_GM.sf2 (MIT)', pieces=records))
  if progress:
    minutes = sum(r['seconds'] for r in records) / 60
    by_prog = {}
    for r in records:
      by_prog[r['instrument']] = by_prog.get(r['instrument'], 0) + 1
    print(f'bach: {len(records)} pieces in {output_dir} ({rendered} rendered '
          f'now), {minutes:.1f} min total, by instrument {by_prog}')
    if failed:
      print('failed:', '; '.join(failed))
  return records


def render_bach_clips(clips_dir: str, seconds: float = CLIP_SECONDS,
                      sample_rate: int = 16000, seed: int = 0,
                      programs: Sequence[int] = DEFAULT_PROGRAMS,
                      peak_db: float = -1.0,
                      soundfont: str | None = None) -> list[dict]:
  """Writes ``seconds``-long FLAC excerpts of the held-out chorales.

  Clip i uses programs[i % len(programs)] so every timbre is represented; the
  tempo follows ``piece_settings``.  Names: ``<name>_<instrument>.flac``.
  """
  _, held = split_pieces()
  synth = _rn.DrySynth(soundfont)
  records = []
  os.makedirs(clips_dir, exist_ok=True)
  for i, path in enumerate(held):
    name = piece_name(path)
    program = programs[i % len(programs)]
    _, tempo = piece_settings(name, seed, programs)
    audio = render_chorale(synth, path, program, tempo, sample_rate, peak_db)
    n = min(len(audio), int(seconds * sample_rate))
    audio = audio[:n].copy()
    fade = int(0.5 * sample_rate)
    audio[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    inst = INSTRUMENT_NAMES.get(program, f'program{program}')
    fname = f'{name}_{inst}.flac'
    _rn.write_audio_atomic(os.path.join(clips_dir, fname), audio, sample_rate)
    records.append(dict(file=fname, name=name, corpus_path=str(path),
                        program=program, instrument=inst, tempo_qpm=tempo,
                        seconds=round(n / sample_rate, 3)))
  synth.close()
  _rn.write_json_atomic(os.path.join(clips_dir, 'clips.json'), dict(
      sample_rate=sample_rate, held_out=list(HELD_OUT_BACH),
      note='first %g s of each held-out chorale, 0.5 s fade-out' % seconds,
      clips=records))
  print(f'bach clips: {len(records)} in {clips_dir}')
  return records


def main(argv):
  del argv
  from absl import flags  # pylint: disable=g-import-not-at-top
  f = flags.FLAGS
  programs = _rn.parse_int_list(f.programs) or DEFAULT_PROGRAMS
  if f.list_held_out:
    print('\n'.join(HELD_OUT_BACH))
    return
  if f.clips_dir:
    render_bach_clips(f.clips_dir, sample_rate=f.sample_rate, seed=f.seed,
                      programs=programs, peak_db=f.peak_db,
                      soundfont=f.soundfont)
    return
  if not f.output_dir:
    raise SystemExit('error: --output_dir (or --clips_dir / --list_held_out) '
                     'is required; see --help')
  render_bach(f.output_dir, num_pieces=f.num_pieces, sample_rate=f.sample_rate,
              seed=f.seed, programs=programs, tempo_min=f.tempo_min,
              tempo_max=f.tempo_max, peak_db=f.peak_db, soundfont=f.soundfont,
              overwrite=f.overwrite)


def _define_flags():
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string('output_dir', None, 'Where to write <name>.wav files.')
  flags.DEFINE_string('clips_dir', None,
                      'Instead: write FLAC excerpts of the held-out pieces here.')
  flags.DEFINE_bool('list_held_out', False, 'Print the held-out names and exit.')
  flags.DEFINE_integer('num_pieces', 0,
                       'First N non-held-out chorales (0: all 344).')
  flags.DEFINE_integer('sample_rate', 16000, 'Output sample rate.')
  flags.DEFINE_integer('seed', 0, 'Seed for per-piece program and tempo.')
  flags.DEFINE_string('programs', ','.join(map(str, DEFAULT_PROGRAMS)),
                      'GM programs to choose from, one per piece.')
  flags.DEFINE_float('tempo_min', 60.0, 'Slowest tempo, quarter notes/min.')
  flags.DEFINE_float('tempo_max', 76.0, 'Fastest tempo, quarter notes/min.')
  flags.DEFINE_float('peak_db', -1.0, 'Peak level after normalisation (dBFS).')
  flags.DEFINE_string('soundfont', None, 'Path to the .sf2 (default FluidR3_GM).')
  flags.DEFINE_bool('overwrite', False, 'Re-render pieces that already exist.')


if __name__ == '__main__':
  from common import cli  # pylint: disable=g-import-not-at-top
  cli.run(main, _define_flags, __doc__)
