"""Builds a playable NSynth instrument: `build_instrument` (the library of
`python -m wavenet.instrument`; its docstring describes the build for
users).

The steps: check the settings (`instrument_sounds`, `instrument_grid`);
start or resume the output folder (`instrument_journal`); encode every
sound at every pitch and mix the embeddings over the grid; render the
missing notes (`instrument_render`, through the generator interface);
then, from the stored renders, the finishing step, redone on every run:
levels (`instrument_levels`), compressed notes and audio mixes, SFZ
(`sfz`), `manifest.json` and the page (`instrument_html`).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import time
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from common import audio
from common import files
from wavenet import instrument_grid
from wavenet import instrument_html
from wavenet import instrument_journal as journal
from wavenet import instrument_levels
from wavenet import instrument_render
from wavenet import instrument_sounds
from wavenet import sfz as sfz_lib
from wavenet.instrument_grid import Layout
from wavenet.instrument_sounds import InstrumentError

if TYPE_CHECKING:
  from common import checkpoint as checkpoint_lib

FORMATS = {"ogg": ("OGG", "VORBIS"), "mp3": ("MP3", "MPEG_LAYER_III")}


# ---------------------------------------------------------------------------
# Settings.
# ---------------------------------------------------------------------------


def _check_settings(corners: Sequence[str], multigrid: Sequence[str],
                    grid: int, seconds: float, batch_size: int,
                    audio_format: str, quality: float, normalize: str,
                    sfz: str) -> tuple[list[str], Layout]:
  """(the sounds, corners first; their layout), or InstrumentError."""
  if len(corners) != 4:
    raise InstrumentError(f"--corners needs 4 sounds (top-left, top-right, "
                          f"bottom-left, bottom-right), got {len(corners)}")
  sources = list(corners) + list(multigrid)
  layout = instrument_grid.multigrid_layout(len(sources))
  if grid < 2:
    raise InstrumentError(f"--grid must be at least 2, got {grid}")
  if len(sources) > 4:
    instrument_grid.multigrid_resolution(grid, layout)
  if seconds <= 0 or batch_size < 1:
    raise InstrumentError("--seconds must be > 0 and --batch_size >= 1")
  if not 0 <= quality <= 1:
    raise InstrumentError(f"--quality must be in [0, 1], got {quality}")
  if normalize not in instrument_levels.NORMALIZE or (
      sfz not in sfz_lib.SFZ_CHOICES) or audio_format not in FORMATS:
    raise InstrumentError(f"--normalize in {instrument_levels.NORMALIZE}, "
                          f"--sfz in {sfz_lib.SFZ_CHOICES}, --format in "
                          f"{tuple(FORMATS)}")
  return sources, layout


def _warn_single_files(sources: Sequence[str], pitches: list[int]) -> None:
  singles = [instrument_sounds.sound_name(s) for s in sources
             if os.path.isfile(s)]
  if singles and len(pitches) > 1:
    verb = "is a file" if len(singles) == 1 else "are files"
    print(f"warning: {', '.join(singles)} {verb}: one note for every pitch, "
          f"so all {len(pitches)} pitches render at the file's own pitch. "
          f"Give one folder per sound (a note per pitch) or --pitches=<its "
          f"pitch>.", file=sys.stderr)


def _check_autoencoder(model_dir: str) -> None:
  """Raises InstrumentError unless `model_dir` holds an autoencoder."""
  from common import config as config_lib  # pylint: disable=g-import-not-at-top
  config = config_lib.load_saved(model_dir)
  if config.get("conditioning", "encoder") != "encoder":
    raise InstrumentError(f"{model_dir}: an unconditional WaveNet has no "
                          f"encoder; an instrument needs an autoencoder")


_MODEL_CACHE: dict = {}  # the last model loaded: key -> checkpoint.Loaded


def load_model(model_dir: str, checkpoint: str = "best"
               ) -> checkpoint_lib.Loaded:
  """`common.checkpoint.load` of a WaveNet, reusing the last model if the
  checkpoint `latest` names is unchanged (repeated builds in one process
  skip the rebuild, and the generator of the same model its retrace).

  Returns:
    `(model, config, step, path)`: `path` is the checkpoint restored (an
    older one if the newest is unreadable).
  """
  # pylint: disable=g-import-not-at-top
  from common import checkpoint as checkpoint_lib
  from wavenet import model as model_lib
  newest = checkpoint_lib.latest(model_dir, checkpoint)
  if newest is None:
    raise InstrumentError(f"{model_dir}: no checkpoint ({checkpoint}) found")
  key = (os.path.abspath(model_dir), checkpoint, os.path.abspath(newest),
         os.path.getmtime(newest + ".index"))
  if key not in _MODEL_CACHE:
    _MODEL_CACHE.clear()
    _MODEL_CACHE[key] = checkpoint_lib.load(model_dir, model_lib.build_model,
                                            checkpoint)
  return _MODEL_CACHE[key]


def _sounds(sources: Sequence[str], layout: Layout, pitches: list[int],
            note_files: list[list[str]]) -> list[dict]:
  """The manifest's description of each sound."""
  positions = instrument_grid.sound_positions(layout)
  return [dict(name=instrument_sounds.sound_name(source),
               source=os.path.basename(os.path.normpath(source)),
               corner=instrument_grid.CORNER_NAMES[i] if i < 4 else None,
               x=float(positions[i][0]), y=float(positions[i][1]),
               files={str(p): os.path.basename(f)
                      for p, f in zip(pitches, note_files[i])})
          for i, source in enumerate(sources)]


def _title(title: str | None, names: Sequence[str]) -> str:
  return title or " \u00b7 ".join(names[:4]) + (
      f" + {len(names) - 4} more" if len(names) > 4 else "")


# ---------------------------------------------------------------------------
# Embeddings.
# ---------------------------------------------------------------------------


def grid_embeddings(model: Any, config: dict, notes: np.ndarray,
                    layout: Layout, grid: int, pitches: list[int],
                    batch_size: int
                    ) -> tuple[dict[int, np.ndarray], np.ndarray]:
  """Encodes every sound at every pitch and mixes them over the grid.

  Args:
    notes: float32 `[sounds, pitches, samples]`.

  Returns:
    ({pitch: embeddings `[points, frames, d]`}, sound weights
    `[points, sounds]`).
  """
  flat = instrument_render.encode_notes(
      model, config, notes.reshape(-1, notes.shape[-1]), batch_size)
  encoded = flat.reshape(notes.shape[:2] + flat.shape[1:])
  bins = int(config.get("pitch_bins") or 0)
  embeddings, weights = {}, np.zeros([0])
  for i, pitch in enumerate(pitches):
    embeddings[pitch], weights = instrument_grid.grid_mix(
        encoded[:, i], layout, grid, bins)
  return embeddings, weights


# ---------------------------------------------------------------------------
# The finishing step.
# ---------------------------------------------------------------------------


def save_compressed(path: str, note: np.ndarray, sample_rate: int,
                    audio_format: str, quality: float) -> None:
  """Writes a note as Ogg Vorbis or MP3 (quality in [0, 1]) atomically."""
  import soundfile as sf  # pylint: disable=g-import-not-at-top
  fmt, subtype = FORMATS[audio_format]
  note = np.clip(np.asarray(note, np.float32), -1.0, 1.0)
  extra: dict[str, Any] = dict(
      compression_level=float(np.clip(1.0 - quality, 0.0, 1.0)))
  if audio_format == "mp3":
    extra["bitrate_mode"] = "VARIABLE"
  with files.atomic_path(path) as tmp:
    sf.write(tmp, note, int(sample_rate), subtype=subtype, format=fmt,
             **extra)


@dataclasses.dataclass(frozen=True)
class Finish:
  """What the finishing step does with the renders (the finishing flags).

  Attributes:
    audio_format, quality: "ogg" (Vorbis) or "mp3"; quality in [0, 1].
    normalize: one of `instrument_levels.NORMALIZE`.
    sfz: one of `sfz.SFZ_CHOICES`.
    sfz_position: (x, y) of the position SFZ.
  """
  audio_format: str = "ogg"
  quality: float = 0.5
  normalize: str = "instrument"
  sfz: str = "position"
  sfz_position: tuple[float, float] = (0.5, 0.5)


def _gains(records: dict, weights: np.ndarray,
           sound_notes: dict[int, np.ndarray], pitches: list[int],
           rule: str) -> tuple[dict[int, float], dict[int, float]]:
  """(latent gains, audio-mix gains) per pitch (`instrument_levels`)."""
  latent = {k: (r["peak"], r["rms"]) for k, r in records.items()}
  mixed = {}
  for pitch in pitches:
    mixes = weights.astype(np.float64) @ sound_notes[pitch].astype(
        np.float64)
    for point, note in enumerate(mixes):
      mixed[(point, pitch)] = instrument_levels.note_levels(note)
  return (instrument_levels.level_gains(latent, pitches, rule),
          instrument_levels.level_gains(mixed, pitches, rule))


def _write_notes(output_dir: str, grid: int, pitches: list[int],
                 weights: np.ndarray, sound_notes: dict[int, np.ndarray],
                 records: dict, gains: tuple[dict, dict], sample_rate: int,
                 finish: Finish, plan: sfz_lib.SfzPlan, progress: bool
                 ) -> tuple[list[dict], dict[tuple[int, int], np.ndarray]]:
  """Writes every point's compressed latent notes and audio mixes (and the
  SFZ samples of `plan`).

  Returns:
    (the manifest's points, `{(point, pitch): normalised note}` of the
    points the SFZ position mixes).
  """
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  num_points = grid * grid
  ext = "." + finish.audio_format
  points, latent_notes = [], {}
  bar = tqdm(total=num_points * len(pitches), disable=not progress,
             file=sys.stderr, dynamic_ncols=True, unit="note",
             desc="writing notes")
  for point in range(num_points):
    row, col = divmod(point, grid)
    entry: dict[str, Any] = dict(
        index=point, row=row, col=col, x=col / (grid - 1), y=row / (grid - 1),
        weights=[round(float(w), 6) for w in weights[point]],
        files={"latent": {}, "mix": {}}, seeds={})
    for pitch in pitches:
      stem = journal.render_stem(point, pitch, num_points)
      record = records[(point, pitch)]
      note = audio.load(os.path.join(output_dir, record["file"]),
                        sample_rate) * gains[0][pitch]
      mixed = instrument_grid.mix(sound_notes[pitch], weights[point]) * (
          gains[1][pitch])
      for mode, data in (("latent", note), ("mix", mixed)):
        rel = f"audio/{mode}/{stem}{ext}"
        save_compressed(os.path.join(output_dir, rel), data, sample_rate,
                        finish.audio_format, finish.quality)
        entry["files"][mode][str(pitch)] = rel
      entry["seeds"][str(pitch)] = record.get("seed")
      if point in plan.mix_points:
        latent_notes[(point, pitch)] = note
      if point in plan.wav_points:
        audio.save(os.path.join(output_dir, "sfz", sfz_lib.sample_path(
            point, pitch, num_points)), note, sample_rate)
      bar.update(1)
    points.append(entry)
  bar.close()
  return points, latent_notes


def finish_build(output_dir: str, settings: dict, pitches: list[int],
                 weights: np.ndarray, sound_notes: dict[int, np.ndarray],
                 sample_rate: int, num_samples: int,
                 finish: Finish = Finish(), progress: bool = True) -> dict:
  """Writes compressed notes, audio mixes, SFZ, manifest, samples.js, page.

  Args:
    settings: dict merged into the manifest (title, sounds, grid, ...).
    weights: `[points, n]` sound weights per grid point.
    sound_notes: `{pitch: [n, samples]}` the sounds' own audio.

  Returns:
    the manifest.
  """
  grid = settings["grid"]
  records = journal.read_records(output_dir)
  missing = [(p, q) for q in pitches for p in range(grid * grid)
             if (p, q) not in records]
  if missing:
    raise InstrumentError(f"{len(missing)} notes are not rendered yet")
  plan = sfz_lib.plan_sfz(finish.sfz, finish.sfz_position, grid)
  gains = _gains(records, weights, sound_notes, pitches, finish.normalize)
  for name in ("audio", "sfz"):
    shutil.rmtree(os.path.join(output_dir, name), ignore_errors=True)
  points, latent_notes = _write_notes(output_dir, grid, pitches, weights,
                                      sound_notes, records, gains,
                                      sample_rate, finish, plan, progress)
  sfz_files, own_sfz = sfz_lib.write_sfz(
      output_dir, plan, grid, settings["title"],
      [s["name"] for s in settings["sounds"]], weights, pitches,
      latent_notes, sample_rate)
  for point, rel in own_sfz.items():
    points[point]["sfz"] = rel
  manifest = dict(
      format="neuralsynth-instrument", version=1, **settings,
      sample_rate=int(sample_rate), num_samples=int(num_samples),
      pitches=list(pitches),
      key_ranges=[dict(pitch=q, lokey=lo, hikey=hi) for q, (lo, hi) in zip(
          pitches, instrument_sounds.key_ranges(pitches))],
      audio_format=finish.audio_format, quality=finish.quality,
      normalize=dict(rule=finish.normalize,
                     latent_gain={str(q): round(g, 6)
                                  for q, g in gains[0].items()},
                     mix_gain={str(q): round(g, 6)
                               for q, g in gains[1].items()}),
      modes=dict(latent="latent mix: decoded from mixed embeddings",
                 mix="audio mix: the sounds' audio mixed"),
      points=points, sfz=sfz_files, samples_js="samples.js")
  files.write_json(os.path.join(output_dir, journal.MANIFEST), manifest)
  instrument_html.write_samples_js(
      os.path.join(output_dir, "samples.js"), output_dir,
      [rel for entry in points for mode in ("latent", "mix")
       for rel in entry["files"][mode].values()])
  files.write_text(os.path.join(output_dir, "index.html"),
                   instrument_html.page_html(manifest))
  return manifest


# ---------------------------------------------------------------------------
# The build.
# ---------------------------------------------------------------------------


def build_instrument(model_dir: str, corners: Sequence[str],
                     pitches: str | Sequence[int], grid: int,
                     output_dir: str, multigrid: Sequence[str] = (),
                     seconds: float = 4.0, temperature: float = 1.0,
                     seed: int = 0, batch_size: int = 128,
                     audio_format: str = "ogg", quality: float = 0.5,
                     normalize: str = "instrument", sfz: str = "position",
                     sfz_position: tuple[float, float] = (0.5, 0.5),
                     checkpoint: str = "best", title: str | None = None,
                     overwrite: bool = False, progress: bool = True,
                     on_render: Callable[[int, int], None] | None = None
                     ) -> dict:
  """Builds (or resumes) a playable instrument in `output_dir`.

  Args:
    model_dir: a trained WaveNet autoencoder's model directory.
    corners: 4 sound files or folders (top-left, top-right, bottom-left,
      bottom-right); see `instrument_sounds` for the folder naming rule.
    pitches: MIDI notes to render (ints, or text for `parse_pitches`).
    grid: points per side (>= 2).
    multigrid: more sounds for a K x K lattice (see `multigrid_layout`).
    seconds: length of every note.
    temperature, seed: sampling: note `i` (`instrument_render.note_jobs`)
      has the seed `seed + i`.
    batch_size: notes rendered together (the notes do not depend on it).
    audio_format, quality, normalize, sfz, sfz_position: the finishing
      flags (`Finish`).
    checkpoint: "best", "last" or a checkpoint prefix.
    title: the page's title (default: the corner names).
    overwrite: start over (removes what a previous build wrote in OUT).
    on_render: optional `fn(point, pitch)` after each note is recorded.

  Returns:
    dict(manifest=..., rendered=notes rendered by this run, skipped=notes
    already there, seconds_taken=...).
  """
  # pylint: disable=g-import-not-at-top
  from common import checkpoint as checkpoint_lib
  from common import family
  started = time.time()
  if isinstance(pitches, str):
    pitches = instrument_sounds.parse_pitches(pitches)
  pitches = sorted(set(int(p) for p in pitches))
  grid = int(grid)
  finish = Finish(audio_format, quality, normalize, sfz, sfz_position)
  sources, layout = _check_settings(corners, multigrid, grid, seconds,
                                    batch_size, audio_format, quality,
                                    normalize, sfz)
  note_files = [[instrument_sounds.note_file(s, p) for p in pitches]
                for s in sources]
  _warn_single_files(sources, pitches)
  _check_autoencoder(model_dir)
  # Loaded first: the journal names the checkpoint actually restored.
  model, config, step, ckpt = load_model(model_dir, checkpoint)
  sample_rate = int(config["sample_rate"])
  num_samples = max(1, int(round(seconds * sample_rate)))
  journal.prepare_output(output_dir, dict(
      model_dir=os.path.abspath(model_dir),
      checkpoint=os.path.abspath(ckpt), step=checkpoint_lib.step_of(ckpt),
      sounds=[[os.path.basename(f) + ":" + journal.file_sha1(f) for f in row]
              for row in note_files],
      layout=layout, grid=grid, pitches=pitches, seconds=float(seconds),
      sample_rate=sample_rate, temperature=float(temperature), seed=int(seed),
      seeding=instrument_render.SEED_RULE), overwrite)

  notes = np.stack([np.stack([
      instrument_sounds.load_note(f, sample_rate, num_samples) for f in row])
                    for row in note_files])
  embeddings, weights = grid_embeddings(model, config, notes, layout, grid,
                                        pitches, batch_size)
  before = len(journal.read_records(output_dir))
  rendered = instrument_render.render_missing(
      family.get("wavenet").generator(model, config), embeddings, pitches,
      output_dir, num_samples, temperature, seed, batch_size, progress,
      on_render)
  names = [instrument_sounds.sound_name(s) for s in sources]
  settings = dict(
      title=_title(title, names), sounds=_sounds(sources, layout, pitches,
                                                 note_files),
      corners=names[:4], layout=layout, grid=grid, seconds=float(seconds),
      temperature=float(temperature), seed=int(seed),
      seeding=instrument_render.SEED_RULE,
      model=dict(model_dir=os.path.basename(os.path.normpath(model_dir)),
                 step=int(step), checkpoint=os.path.basename(ckpt)))
  manifest = finish_build(output_dir, settings, pitches, weights,
                          {p: notes[:, i] for i, p in enumerate(pitches)},
                          sample_rate, num_samples, finish, progress)
  return dict(manifest=manifest, rendered=rendered, skipped=before,
              seconds_taken=round(time.time() - started, 3))
