r"""Render NSynth-like single notes through the FluidR3 General MIDI soundfont.

Each note is ``--seconds`` long (default 4 s) at 16 kHz, mono, 16-bit: note-on at
0 s, note-off at ``--note_off`` (default 3 s), then the release.  This matches the
NSynth layout.  Rendering is done in-process with pyfluidsynth (the soundfont is
loaded once), dry (reverb and chorus off), at 44.1 kHz in float, mixed to mono and
resampled to 16 kHz with soxr (band-limited, so high notes do not alias).

Levels: notes are NOT normalised one by one.  Every note gets the same global gain
(``--gain``, linear, default 2.5 on top of a fluidsynth gain of 0.5), so velocity
and instrument loudness differences are kept (with FluidR3 this gives peaks of
about 0.5-0.75 at velocity 127 and 0.15-0.25 at velocity 75).  If a note would clip, that note alone
is scaled down to a peak of 0.99 and the applied scale is recorded as ``scale`` in
``notes.json`` (1.0 for almost all notes).  Notes that come out silent (no sample
mapped in the soundfont) are skipped and not listed.

Output: ``DIR/<instrument>_<program:03d>-<pitch:03d>-<velocity:03d>.wav``
(e.g. ``guitar_nylon_024-060-100.wav``) and ``DIR/notes.json`` listing every note
(file, program, instrument, family, pitch, velocity, scale).  Writes are atomic
(temp file + os.replace) and notes already on disk are skipped, so a run can be
resumed.

Default program table (GM program: instrument name, NSynth-like family, MIDI
pitch range rendered by default); print it with ``--list_programs``:

    0 piano            keyboard    21-108      48 strings_ensemble string   28-96
    4 epiano           keyboard    28-96       52 choir_aahs       vocal    40-81
    6 harpsichord      keyboard    29-89       56 trumpet          brass    52-84
   11 vibraphone       mallet      53-89       57 trombone         brass    40-72
   12 marimba          mallet      45-96       60 french_horn      brass    34-77
   19 organ_church     organ       24-96       65 sax_alto         reed     49-81
   21 accordion        organ       53-89       68 oboe             reed     58-91
   24 guitar_nylon     guitar      40-84       70 bassoon          reed     34-75
   27 guitar_electric  guitar      40-86       71 clarinet         reed     50-91
   32 bass_acoustic    bass        28-60       73 flute            flute    60-96
   33 bass_electric    bass        28-67       75 pan_flute        flute    60-96
   40 violin           string      55-100      80 lead_square      synth_lead 36-96
   42 cello            string      36-76       81 lead_saw         synth_lead 36-96
   46 harp             string      24-103

Examples (run from the repository root):

    # the training corpus (702 notes, 47 min): 12 programs x even pitches
    # 36-84 within each range x 3 velocities
    python -m pretrained.recipes.render_notes --output_dir=/work/data/notes_wav \
        --programs=0,4,11,19,24,32,40,42,56,65,73,80 --pitch_step=2 \
        --pitches=36-84 --velocities=75,100,127
    # regenerate the small bundled clips (FLAC) in pretrained/clips/notes
    python -m pretrained.recipes.render_notes --clips_dir=pretrained/clips/notes

Requires the ``recipes`` extra (pyfluidsynth, music21) and the Debian packages
``fluidsynth fluid-soundfont-gm``.
"""

from __future__ import annotations

from pretrained.recipes import notes
from pretrained.recipes.notes import DEFAULT_GAIN
from pretrained.recipes.notes import DEFAULT_PROGRAMS
from pretrained.recipes.notes import DEFAULT_VELOCITIES


def main(argv):
  del argv
  from absl import flags  # pylint: disable=g-import-not-at-top
  f = flags.FLAGS
  if f.list_programs:
    print(notes.format_program_table())
    return
  if f.clips_dir:
    notes.render_note_clips(f.clips_dir, soundfont=f.soundfont, gain=f.gain)
    return
  if not f.output_dir:
    raise SystemExit('error: --output_dir (or --clips_dir / --list_programs) '
                     'is required; see --help')
  notes.render_notes(
      f.output_dir,
      programs=notes.parse_int_list(f.programs) or DEFAULT_PROGRAMS,
      pitches=notes.parse_int_list(f.pitches),
      velocities=notes.parse_int_list(f.velocities) or DEFAULT_VELOCITIES,
      pitch_step=f.pitch_step, seconds=f.seconds, note_off=f.note_off,
      sample_rate=f.sample_rate, gain=f.gain, soundfont=f.soundfont,
      ext='.' + f.format, overwrite=f.overwrite)


def _define_flags():
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string('output_dir', None, 'Where to write the notes.')
  flags.DEFINE_string('clips_dir', None,
                      'Instead: regenerate the bundled FLAC clips here.')
  flags.DEFINE_bool('list_programs', False, 'Print the program table and exit.')
  flags.DEFINE_string('programs', ','.join(map(str, DEFAULT_PROGRAMS)),
                      'Comma-separated GM programs (0-127).')
  flags.DEFINE_string('pitches', '',
                      'MIDI pitches, e.g. "36-84" or "48,60,72"; intersected '
                      'with each program\'s range (default: the whole range).')
  flags.DEFINE_integer('pitch_step', 1,
                       'Keep pitches with (pitch - 60) % pitch_step == 0.')
  flags.DEFINE_string('velocities', ','.join(map(str, DEFAULT_VELOCITIES)),
                      'Comma-separated MIDI velocities.')
  flags.DEFINE_float('seconds', 4.0, 'Note length in seconds.')
  flags.DEFINE_float('note_off', 3.0, 'Note-off time in seconds.')
  flags.DEFINE_integer('sample_rate', 16000, 'Output sample rate.')
  flags.DEFINE_float('gain', DEFAULT_GAIN,
                     'Global linear gain applied to every note.')
  flags.DEFINE_string('soundfont', None, 'Path to the .sf2 (default FluidR3_GM).')
  flags.DEFINE_enum('format', 'wav', ['wav', 'flac'], 'Audio file format.')
  flags.DEFINE_bool('overwrite', False, 'Re-render files that already exist.')


if __name__ == '__main__':
  from common import cli  # pylint: disable=g-import-not-at-top
  cli.run(main, _define_flags, __doc__)
