r"""A playable NSynth instrument from pre-rendered grids: `python -m wavenet.instrument`.

    python -m wavenet.instrument --model_dir=runs/nsynth \
        --corners=flute/,bass/,organ/,bell.wav --pitches=36,40,...,84 \
        --grid=5 --output_dir=instruments/fbob [--seconds=4 --seed=0]
    # then open instruments/fbob/index.html (from disk or any static server)

After the NSynth post's Max for Live device: the autoencoder is too slow to
play live on a laptop, so every point of a grid over the corner sounds is
rendered ahead of time at every pitch, and playing mixes the four grid points
nearest to the x-y pad position by their bilinear weights, in real time.

Sounds (`--corners`, in the order top-left, top-right, bottom-left,
bottom-right; `--multigrid` for more):

- a file: that one note is encoded for every pitch, so every "pitch" is
  rendered at whatever pitch the file plays (`--pitches` then only says
  which keys each render is played from). Give such a corner's own pitch
  alone (e.g. `--pitches=60` for a middle C) and the page repitches that
  one render over the keys around it; the build warns otherwise;
- a folder: one note per pitch. For pitch 60 the folder's audio file whose
  name without extension is the number (`60.wav`, `060.flac`), else a file
  whose first dash-separated numeric field is the pitch, as NSynth names
  `instrument-pitch-velocity` (`piano_000-060-100.wav`); when several match
  (NSynth velocities) the one whose next field is closest to 100. A missing
  pitch is an error that lists the pitches the folder has.

Each note is its first `--seconds` (shorter ones padded with silence),
mixed to mono at the model's sample rate.

`--multigrid=a,b,c,...`: more sounds (4 + n = K * K of them, K = 3 .. 8, so up
to 64) laid out on a K x K lattice: the four corners stay at the pad's
corners, the others fill the remaining lattice nodes row by row. A grid point
mixes the four instruments of its lattice cell bilinearly
(`wavenet.latent.multigrid_embeddings`).

What is rendered: for each of `--grid` x `--grid` points (row-major, x left
to right, y top to bottom, both in [0, 1]) and each pitch, the decoder
(through the generator interface, `common.generator`, batched over
`--batch_size` notes) conditioned on
the weighted sum of the corner embeddings (with a pitch-conditioned model,
of their timbre: each frame keeps the pitch two-hot of the heaviest corner,
as `wavenet.latent.mix` does). Besides this "latent mix" the
build writes the "audio mix": the corners' audio summed with the same
weights, so the page can switch between them (the post's point: mixing
embeddings is not mixing audio).

Resuming: every rendered (point, pitch) is written to `renders/` atomically
as soon as its batch is done and then appended to `renders.jsonl`. Running
the same command again renders only what is missing (interrupted builds of
a large grid go on where they stopped); `build.json` holds the settings that
determine the renders (model checkpoint, sound files' contents, grid,
pitches, seconds, temperature, seed), and a run with different ones refuses
unless `--overwrite` (which starts over). The other flags (format, quality,
normalisation, SFZ) only change the finishing step, which is redone on every
run from the stored renders.

Seeds: the notes, pitch by pitch from the lowest and each pitch's grid
points row-major, are outputs 0, 1, 2, ... of the build; note `i` samples
with the seed `--seed + i` at `--temperature`, and its audio does not
depend on the batch it is rendered in or on `--batch_size`. So a resumed
build (even after `kill -9`) renders exactly the notes of an uninterrupted
one, and any tool given the same model, embeddings, seed and temperature
makes the same codes. Each note's record in `renders.jsonl` (and its
point's `seeds` in `manifest.json`) holds its seed and temperature.

Levels (`--normalize`): `instrument` (default) scales everything by one gain
so the loudest peak is -1 dBFS, keeping the model's own balance between
points and pitches; `pitch` first matches the median RMS of each pitch (over
all points) to the median over pitches, then applies one peak gain; `none`
keeps the raw levels. The audio mix is normalised by the same rule on its
own, so the two modes play at comparable levels.

Output (OUT):

    index.html      the instrument (one file; opens from file:// too)
    samples.js      every compressed note as base64 (`window.NEURALSYNTH_
                    SAMPLES`), decoded by Web Audio's decodeAudioData
    manifest.json   sounds, grid, pitches, key ranges, sample rate, and per
                    point its x, y, sound weights and files per pitch
    audio/latent/pNN_nPPP.ogg, audio/mix/pNN_nPPP.ogg  (or .mp3)
    sfz/*.sfz, sfz/samples/*.wav   SFZ instruments (16-bit wav samples)
    renders/pNN_nPPP.flac, renders.jsonl, build.json   (raw renders, resume)

Why samples.js: Chromium forbids fetch/XHR from file:// pages, but a
`<script src>` beside the page loads; base64 decoded to an ArrayBuffer goes
through `decodeAudioData` the same from disk or from a server. The page
decodes notes lazily (the 4 nearest points first) at the build's sample
rate, so memory stays bounded on large grids. Ogg Vorbis decodes in
Chromium and Firefox; for Safari build with `--format=mp3`.

SFZ: one instrument for `--sfz_position=x,y` (default the centre), the four
nearest points' latent renders mixed by their bilinear weights as the page
plays them (just the point's own samples when the position is a grid
point); `--sfz=all` adds one per grid point. One `<region>` per rendered
pitch: `sample=samples/...wav pitch_keycenter=P lokey hikey loop_mode=
no_loop`, key ranges split halfway between rendered pitches and extended
`KEY_EXTEND` semitones past the ends (the page uses the same ranges).

The library: `wavenet.instrument_build` (`build_instrument`, the finishing
step), `instrument_sounds` (settings, note files), `instrument_grid` (pad
layout, mixing weights), `instrument_journal` (build.json, renders.jsonl),
`instrument_render` (the render loop), `instrument_levels`, `wavenet.sfz`,
`instrument_html` (the page, a Jinja2 template in `instrument_page/`).
"""

from __future__ import annotations

import os
import sys

from common import generator
from wavenet import instrument_build
from wavenet import instrument_journal
from wavenet import instrument_levels
from wavenet import instrument_sounds
from wavenet import sfz


def _define_flags() -> None:
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string("model_dir", None, "A trained WaveNet autoencoder.")
  flags.DEFINE_list("corners", None, "4 sound files or folders: top-left, "
                    "top-right, bottom-left, bottom-right. A file is used "
                    "at every pitch; a folder holds one note per pitch "
                    "(60.wav, 060.wav or NSynth's name-060-100.wav).")
  flags.DEFINE_list("multigrid", [], "More sounds (files or folders) for a "
                    "K x K multigrid of 4 + n = 9, 16, ..., 64 sounds.")
  flags.DEFINE_string("pitches", "36,40,...,84", "MIDI notes to render: "
                      "60,64,67 or an arithmetic run 36,40,...,84.")
  flags.DEFINE_integer("grid", 5, "Grid points per side.")
  flags.DEFINE_string("output_dir", None, "Where the instrument goes.")
  flags.DEFINE_float("seconds", 4.0, "Length of every note.")
  flags.DEFINE_float("temperature", 1.0, "Sampling temperature (0: argmax).")
  flags.DEFINE_integer("seed", 0, "Sampling seed: note i of the build uses "
                       "seed + i.")
  flags.DEFINE_integer("batch_size", 128, "Notes rendered together (at most; "
                       "batches are balanced). On a CPU a step of 128 notes "
                       "costs little more than one of 16.")
  flags.DEFINE_enum("format", "ogg", list(instrument_build.FORMATS),
                    "Compressed format for the page: ogg (Vorbis) or mp3.")
  flags.DEFINE_float("quality", 0.5, "Compression quality in [0, 1] (Vorbis "
                     "quality; mp3 VBR quality).")
  flags.DEFINE_enum("normalize", "instrument",
                    list(instrument_levels.NORMALIZE), "Levels: one gain for "
                    "all (instrument), per-pitch loudness match (pitch), or "
                    "none.")
  flags.DEFINE_enum("sfz", "position", list(sfz.SFZ_CHOICES), "SFZ output: "
                    "one instrument at --sfz_position, all (plus one per "
                    "grid point), or none.")
  flags.DEFINE_string("sfz_position", "0.5,0.5", "x,y in [0, 1] of the SFZ "
                      "instrument (0,0 is top-left).")
  flags.DEFINE_string("checkpoint", "best", "best, last or a checkpoint "
                      "prefix.")
  flags.DEFINE_string("title", None, "Page title (default: the corners).")
  flags.DEFINE_bool("overwrite", False, "Start over in --output_dir.")
  flags.DEFINE_bool("progress", True, "Show progress bars.")
  flags.mark_flags_as_required(["model_dir", "corners", "output_dir"])


def main(argv: list[str]) -> int:
  from absl import flags  # pylint: disable=g-import-not-at-top
  if len(argv) > 1:
    print(f"error: unexpected arguments {' '.join(argv[1:])}",
          file=sys.stderr)
    return 2
  f = flags.FLAGS
  try:
    result = instrument_build.build_instrument(
        f.model_dir, f.corners, instrument_sounds.parse_pitches(f.pitches),
        f.grid, f.output_dir, multigrid=f.multigrid, seconds=f.seconds,
        temperature=f.temperature, seed=f.seed, batch_size=f.batch_size,
        audio_format=f.format, quality=f.quality, normalize=f.normalize,
        sfz=f.sfz,
        sfz_position=instrument_sounds.parse_position(f.sfz_position),
        checkpoint=f.checkpoint, title=f.title, overwrite=f.overwrite,
        progress=f.progress)
  except KeyboardInterrupt:
    done = (len(instrument_journal.read_records(f.output_dir))
            if os.path.isdir(f.output_dir) else 0)
    raise SystemExit(f"\ninterrupted with {done} notes rendered; run the "
                     f"same command again to resume") from None
  out = os.path.abspath(f.output_dir)
  print(f"rendered {result['rendered']} notes ({result['skipped']} already "
        f"there) in {result['seconds_taken']:.0f} s\n"
        f"play: file://{os.path.join(out, 'index.html')}")
  return 0


def run() -> None:
  """Console-script entry point (`wavenet-instrument`)."""
  from common import cli  # pylint: disable=g-import-not-at-top
  cli.run(main, _define_flags, __doc__,
          user_errors=(instrument_sounds.InstrumentError,
                       generator.RequestError))


if __name__ == "__main__":
  run()
