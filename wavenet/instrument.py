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
(`wavenet.fastgen.generate`, batched over `--batch_size` notes) conditioned on
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
run from the stored renders. Batches are cut from the whole list of notes
and a batch samples with one seed (from `--seed` and its first note), so a
resumed build (even after `kill -9`) renders exactly the notes of an
uninterrupted one: a batch left incomplete is rendered again whole.

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
"""

import hashlib
import html
import json
import os
import re
import shutil
import sys
import time

import numpy as np

from common import audio
from common import files

CORNER_NAMES = ("top-left", "top-right", "bottom-left", "bottom-right")
FORMATS = {"ogg": ("OGG", "VORBIS"), "mp3": ("MP3", "MPEG_LAYER_III")}
NORMALIZE = ("instrument", "pitch", "none")
SFZ_CHOICES = ("position", "all", "none")
PEAK = 10 ** (-1 / 20)  # -1 dBFS
KEY_EXTEND = 12  # semitones playable past the lowest/highest rendered pitch
MAX_INSTRUMENTS = 64
PAGE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "instrument_page")
SAMPLES_GLOBAL = "NEURALSYNTH_SAMPLES"
RECORDS = "renders.jsonl"
BUILD = "build.json"
MANIFEST = "manifest.json"
# What this module writes in OUT (and removes on --overwrite).
OWN_PATHS = ("renders", "audio", "sfz", RECORDS, BUILD, MANIFEST, "index.html",
             "samples.js")


class InstrumentError(ValueError):
  """A bad setting or sound; the message says which and why."""


# ---------------------------------------------------------------------------
# Settings.
# ---------------------------------------------------------------------------


def parse_pitches(text):
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


def parse_position(text):
  """"x,y" in [0, 1] -> (x, y) floats."""
  try:
    x, y = (float(v) for v in str(text).split(","))
  except ValueError:
    raise InstrumentError(f"position {text!r}: expected x,y such as 0.5,0.5"
                          ) from None
  if not (0 <= x <= 1 and 0 <= y <= 1):
    raise InstrumentError(f"position {text!r}: x and y must be in [0, 1]")
  return x, y


def key_ranges(pitches, extend=KEY_EXTEND):
  """`[(lokey, hikey)]` per sorted pitch: split halfway between neighbours.

  An even gap's middle key goes to the lower pitch (40 and 44 split at 42 |
  43); the ends reach `extend` semitones past the outer pitches (in 0..127).
  """
  pitches = sorted(pitches)
  ranges = []
  for i, p in enumerate(pitches):
    lo = max(0, p - extend) if i == 0 else ranges[-1][1] + 1
    hi = (min(127, p + extend) if i == len(pitches) - 1
          else (p + pitches[i + 1]) // 2)
    ranges.append((lo, hi))
  return ranges


def sound_name(source):
  """A short display name: the file's stem or the folder's name."""
  return os.path.splitext(os.path.basename(os.path.normpath(source)))[0]


_PITCH_FIELD = re.compile(r"-(\d{1,3})(?=-|$)")


def _velocity_distance(stem, match):
  rest = stem[match.end():]
  velocity = re.match(r"-(\d{1,3})", rest)
  return abs(int(velocity.group(1)) - 100) if velocity else 1000


def note_file(source, pitch):
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


def multigrid_layout(count):
  """The K x K lattice of instrument indices for `count = K * K` sounds.

  Sounds 0-3 (the corners, in CORNER_NAMES order) sit at the lattice's
  corners; sounds 4.. fill the other nodes row by row. Returns a list of K
  rows of indices.
  """
  k = int(round(count ** 0.5))
  if k * k != count or not 2 <= k <= 8:
    raise InstrumentError(
        f"a multigrid needs 4 corners + more sounds making a square of 4, 9, "
        f"16, ..., 64 in all; got {count}")
  corners = {(0, 0): 0, (0, k - 1): 1, (k - 1, 0): 2, (k - 1, k - 1): 3}
  layout, extra = [], 4
  for r in range(k):
    row = []
    for c in range(k):
      if (r, c) in corners:
        row.append(corners[(r, c)])
      else:
        row.append(extra)
        extra += 1
    layout.append(row)
  return layout


def sound_positions(layout):
  """`[n, 2]` (x, y) of each instrument on the pad, from its lattice node."""
  k = len(layout)
  positions = np.zeros([k * k, 2])
  for r, row in enumerate(layout):
    for c, index in enumerate(row):
      positions[index] = (c / (k - 1), r / (k - 1))
  return positions


def file_stem(point, pitch, num_points):
  width = max(2, len(str(num_points - 1)))
  return f"p{point:0{width}d}_n{pitch:03d}"


# ---------------------------------------------------------------------------
# Mixing weights (the page does the same in JavaScript).
# ---------------------------------------------------------------------------


def _latent():
  from wavenet import latent  # pylint: disable=g-import-not-at-top
  return latent


def nearest_points(x, y, grid):
  """The 4 grid points around (x, y) and their bilinear weights.

  `wavenet.latent.nearest_grid_points`, as plain lists: `(points, weights)`
  ordered top-left, top-right, bottom-left, bottom-right.
  """
  points, weights = _latent().nearest_grid_points(x, y, grid)
  return ([int(p) for p in np.asarray(points).reshape(-1)],
          [float(w) for w in np.asarray(weights).reshape(-1)])


def multigrid_resolution(grid, layout):
  """Points per lattice-square edge so that `grid` points span the lattice.

  A K x K lattice has K - 1 squares per side; `grid - 1` must be a multiple
  of `K - 1` so that every sound sits on a grid point.
  """
  squares = len(layout) - 1
  if (grid - 1) % squares:
    good = ", ".join(str(squares * r + 1) for r in range(1, 5))
    raise InstrumentError(
        f"--grid={grid} does not fit a {len(layout)} x {len(layout)} "
        f"multigrid: the sounds must fall on grid points, so use "
        f"--grid={good}, ...")
  return (grid - 1) // squares + 1


def grid_mix(sounds, layout, grid, pitch_bins=0):
  """Mixes the sounds' embeddings over the grid, as `wavenet.latent` does.

  Args:
    sounds: `[n, frames, d]` in sound order (corners first).
    layout: `multigrid_layout(n)`.
    grid: points per side.
    pitch_bins: width of the pitch two-hot ending each frame: the timbre is
      mixed, the pitch is the heaviest sound's (`wavenet.latent.mix`).

  Returns:
    (embeddings `[grid * grid, frames, d]`, weights `[grid * grid, n]` of
    the sounds at each point, row-major from the top-left).
  """
  latent = _latent()
  sounds = np.asarray(sounds, np.float32)
  n = len(sounds)
  if n == 4:
    embeddings, weights = latent.grid_embeddings(sounds, grid, pitch_bins)
    return np.asarray(embeddings), np.asarray(weights, np.float64)
  order = np.asarray(layout).reshape(-1)  # lattice vertex -> sound index
  squares = len(layout) - 1
  _, embeddings, corners, corner_weights = latent.multigrid_embeddings(
      sounds[order], (squares, squares), multigrid_resolution(grid, layout),
      pitch_bins)
  weights = np.zeros([len(embeddings), n])
  for j in range(4):
    np.add.at(weights, (np.arange(len(weights)), order[corners[:, j]]),
              corner_weights[:, j])
  return np.asarray(embeddings), weights


def point_weights(grid, layout):
  """`[grid * grid, n]` weights of the n sounds at each grid point."""
  n = sum(len(row) for row in layout)
  return grid_mix(np.eye(n, dtype=np.float32)[:, None, :], layout, grid)[1]


def mix(sounds, weights):
  """Weighted sum over the first axis: `sounds [n, ...]`, `weights [n]`."""
  return np.tensordot(np.asarray(weights, np.float64),
                      np.asarray(sounds, np.float64), axes=1)


# ---------------------------------------------------------------------------
# Build state: build.json and the render records.
# ---------------------------------------------------------------------------


def _sha1(path):
  digest = hashlib.sha1()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      digest.update(chunk)
  return digest.hexdigest()


def read_records(output_dir):
  """The valid render records: {(point, pitch): record}.

  A record counts only if its file exists (a crash between writing a file
  and recording it, or a deleted file, means render again); a torn last
  line is ignored.
  """
  path = os.path.join(output_dir, RECORDS)
  records = {}
  if not os.path.exists(path):
    return records
  with open(path) as f:
    for line in f:
      try:
        record = json.loads(line)
      except json.JSONDecodeError:
        continue
      if os.path.exists(os.path.join(output_dir, record["file"])):
        records[(record["point"], record["pitch"])] = record
  return records


def _end_records_line(output_dir):
  """Ends a torn last line (a crash mid-append) so new records parse."""
  path = os.path.join(output_dir, RECORDS)
  if os.path.exists(path) and os.path.getsize(path):
    with open(path, "rb+") as f:
      f.seek(-1, os.SEEK_END)
      if f.read(1) != b"\n":
        f.write(b"\n")


def _append_record(output_dir, record):
  with open(os.path.join(output_dir, RECORDS), "a") as f:
    f.write(json.dumps(record) + "\n")
    f.flush()
    os.fsync(f.fileno())


def _prepare_output(output_dir, fingerprint, overwrite):
  """Starts or resumes OUT; refuses a mismatched or foreign folder.

  A folder is an instrument's if it holds `BUILD` (written first, before
  anything else); only then does `overwrite` remove what a build wrote. A
  non-empty folder without it is refused, `overwrite` or not: the build
  deletes only folders it made.
  """
  build_path = os.path.join(output_dir, BUILD)
  files.remove_stale_temporaries(build_path)  # a start killed mid-write
  if not os.path.exists(build_path) and os.path.isdir(output_dir) and (
      os.listdir(output_dir)):
    raise InstrumentError(
        f"{output_dir}: exists and is not an instrument folder (no {BUILD}); "
        f"choose an empty or new --output_dir")
  if overwrite:
    for name in OWN_PATHS:
      path = os.path.join(output_dir, name)
      if os.path.isdir(path):
        shutil.rmtree(path)
      elif os.path.exists(path):
        os.remove(path)
  elif os.path.exists(build_path):
    previous = files.read_json(build_path)
    changed = [k for k in fingerprint if previous.get(k) != fingerprint[k]]
    if changed:
      raise InstrumentError(
          f"{output_dir}: already holds an instrument built with other "
          f"settings ({', '.join(changed)} differ); pass --overwrite to "
          f"start over, or use another --output_dir")
  files.write_json(build_path, fingerprint)
  os.makedirs(os.path.join(output_dir, "renders"), exist_ok=True)
  for folder in (output_dir, os.path.join(output_dir, "renders")):
    files.remove_stale_temporaries_in(folder)  # left by a killed build


# ---------------------------------------------------------------------------
# Encoding and rendering.
# ---------------------------------------------------------------------------


def load_note(path, sample_rate, num_samples):
  """A note's first `num_samples` samples (zero-padded), float32."""
  x = audio.load(path, sample_rate)[:num_samples]
  return np.pad(x, (0, num_samples - len(x))).astype(np.float32)


def encode_notes(model, config, notes, batch_size):
  """float32 `[count, samples]` audio -> embeddings `[count, frames, d]`."""
  from common import quantization  # pylint: disable=g-import-not-at-top
  codes = quantization.encode(notes, config["quantization"],
                              config["q_levels"])
  out = [np.asarray(model.encode(codes[i:i + batch_size]))
         for i in range(0, len(codes), batch_size)]
  return np.concatenate(out, axis=0)


def balanced_width(num_jobs, batch_size):
  """Rows per batch when `num_jobs` notes run in batches of at most
  `batch_size`, as evenly as possible: (325, 128) -> 109 (3 batches)."""
  num_batches = max(1, -(-num_jobs // batch_size))
  return max(1, -(-num_jobs // num_batches))


def _batches(jobs, batch_size):
  """Splits jobs into consecutive batches of at most `batch_size`."""
  return [jobs[i:i + batch_size] for i in range(0, len(jobs), batch_size)]


def _batch_seed(seed, job):
  digest = hashlib.sha1(f"{seed}:{job[0]}:{job[1]}".encode()).digest()
  return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def _progress_bar(total, initial, progress):
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  return tqdm(total=total, initial=initial, unit="note", disable=not progress,
              file=sys.stderr, dynamic_ncols=True, desc="rendering",
              bar_format="{l_bar}{bar}| {n:.1f}/{total} notes "
              "[{elapsed}<{remaining}{postfix}]")


def render_missing(model, config, embeddings, pitches, output_dir, num_samples,
                   temperature, seed, batch_size, progress=True,
                   on_render=None):
  """Renders every (point, pitch) without a valid record; returns the count.

  Args:
    embeddings: `{pitch: [points, frames, d]}`.
    on_render: optional `fn(point, pitch)` called after each note is written
      and recorded (tests raise from it to simulate an interruption).
  """
  from common import quantization  # pylint: disable=g-import-not-at-top
  from wavenet import fastgen  # pylint: disable=g-import-not-at-top
  sample_rate = int(config["sample_rate"])
  num_points = len(next(iter(embeddings.values())))
  _end_records_line(output_dir)
  done = read_records(output_dir)
  jobs = [(point, pitch) for pitch in pitches for point in range(num_points)]
  missing = [job for job in jobs if job not in done]
  total = len(jobs)
  # Every batch has the same number of rows (a short one is padded with
  # copies of its last note), so the generator compiles once per build; on
  # a CPU a few more rows cost little next to a new trace.
  # Batches are balanced: 325 notes at --batch_size=128 run as 3 x 109.
  # They are cut from all the notes, rendered or not, so a note is always
  # made in the same batch, row and seed: a resumed build writes the notes
  # of an uninterrupted one. A batch with a missing note is rendered again
  # whole and only its missing notes are written.
  width = balanced_width(total, batch_size)
  bar = _progress_bar(total, total - len(missing), progress)
  rendered = 0
  try:
    for batch in _batches(jobs, width):
      todo = [job for job in batch if job not in done]
      if not todo:
        continue
      started = time.time()
      rows = batch + [batch[-1]] * (width - len(batch))
      emb = np.stack([embeddings[pitch][point] for point, pitch in rows])
      blocks = []

      def on_block(start, codes, todo=todo, blocks=blocks):
        blocks.append(codes)
        bar.update(len(todo) * codes.shape[1] / num_samples * 0.999)

      bar.set_postfix_str(f"batch of {len(todo)}", refresh=True)
      fastgen.generate(model, num_samples, embeddings=emb,
                       seed=_batch_seed(seed, batch[0]),
                       temperature=temperature, on_block=on_block)
      codes = np.concatenate(blocks, axis=1)[:len(batch)]
      notes = quantization.decode(codes, config["quantization"],
                                  config["q_levels"])
      taken = (time.time() - started) / len(todo)
      for (point, pitch), note in zip(batch, notes):
        if (point, pitch) in done:
          continue
        rel = os.path.join("renders",
                           file_stem(point, pitch, num_points) + ".flac")
        audio.save(os.path.join(output_dir, rel), note, sample_rate)
        _append_record(output_dir, dict(
            point=point, pitch=pitch, file=rel,
            peak=float(np.max(np.abs(note))),
            rms=float(np.sqrt(np.mean(np.square(note, dtype=np.float64)))),
            seconds_taken=round(taken, 3)))
        rendered += 1
        if on_render is not None:
          on_render(point, pitch)
      bar.n = total - len(missing) + rendered
      bar.refresh()
  finally:
    bar.close()
  return rendered


# ---------------------------------------------------------------------------
# Levels.
# ---------------------------------------------------------------------------


def level_gains(stats, pitches, rule):
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


# ---------------------------------------------------------------------------
# SFZ.
# ---------------------------------------------------------------------------


def sfz_text(title, regions, comments=()):
  """An SFZ instrument: `regions` = [(sample, pitch, lokey, hikey)]."""
  lines = [f"// {title}"] + [f"// {c}" for c in comments]
  lines += ["// Made by neuralsynth (python -m wavenet.instrument).", "",
            "<global>", "loop_mode=no_loop", "ampeg_release=0.25", ""]
  for sample, pitch, lo, hi in regions:
    lines.append(f"<region> sample={sample} pitch_keycenter={pitch} "
                 f"lokey={lo} hikey={hi}")
  return "\n".join(lines) + "\n"


def _write_text(path, text):
  with files.atomic_path(path) as tmp:
    with open(tmp, "w", encoding="utf-8") as f:
      f.write(text)


# ---------------------------------------------------------------------------
# The page.
# ---------------------------------------------------------------------------


def _inline_json(data):
  """JSON safe inside a <script> element."""
  return (json.dumps(data, separators=(",", ":"))
          .replace("<", "\\u003c").replace(">", "\\u003e")
          .replace("&", "\\u0026"))


def page_html(manifest):
  """index.html: the template with CSS, JS and the manifest inlined."""
  read = lambda name: open(os.path.join(PAGE_DIR, name),
                           encoding="utf-8").read()
  values = {"TITLE": html.escape(manifest["title"]),
            "STYLE": read("instrument.css"),
            "MANIFEST": _inline_json(manifest),
            "SCRIPT": read("instrument.js").replace("</script", "<\\/script")}
  return re.sub(r"\{\{(TITLE|STYLE|MANIFEST|SCRIPT)\}\}",
                lambda m: values[m.group(1)], read("index.html"))


def write_samples_js(path, output_dir, relpaths):
  """samples.js: `window.NEURALSYNTH_SAMPLES = {relpath: base64, ...}`."""
  import base64  # pylint: disable=g-import-not-at-top
  with files.atomic_path(path) as tmp:
    with open(tmp, "w", encoding="ascii") as f:
      f.write(f"// Generated by neuralsynth: the instrument's notes, base64.\n"
              f"window.{SAMPLES_GLOBAL} = {{\n")
      for i, rel in enumerate(relpaths):
        with open(os.path.join(output_dir, rel), "rb") as g:
          data = base64.b64encode(g.read()).decode("ascii")
        comma = "," if i < len(relpaths) - 1 else ""
        f.write(f"{json.dumps(rel)}: \"{data}\"{comma}\n")
      f.write("};\n")


# ---------------------------------------------------------------------------
# The build.
# ---------------------------------------------------------------------------


def _save_compressed(path, note, sample_rate, audio_format, quality):
  fmt, subtype = FORMATS[audio_format]
  note = np.clip(np.asarray(note, np.float32), -1.0, 1.0)
  extra = dict(compression_level=float(np.clip(1.0 - quality, 0.0, 1.0)))
  if audio_format == "mp3":
    extra["bitrate_mode"] = "VARIABLE"
  import soundfile as sf  # pylint: disable=g-import-not-at-top
  with files.atomic_path(path) as tmp:
    sf.write(tmp, note, int(sample_rate), subtype=subtype, format=fmt, **extra)


def finish(output_dir, settings, pitches, weights, sound_notes, sample_rate,
           num_samples, audio_format="ogg", quality=0.5,
           normalize="instrument", sfz="position", sfz_position=(0.5, 0.5),
           progress=True):
  """Writes compressed notes, audio mixes, SFZ, manifest, samples.js, page.

  Args:
    settings: dict merged into the manifest (title, sounds, grid, ...).
    weights: `[points, n]` sound weights per grid point.
    sound_notes: `{pitch: [n, samples]}` the sounds' own audio.
  Returns the manifest.
  """
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  if audio_format not in FORMATS:
    raise InstrumentError(f"--format must be one of {tuple(FORMATS)}")
  num_points = len(weights)
  grid = settings["grid"]
  records = read_records(output_dir)
  missing = [(p, q) for q in pitches for p in range(num_points)
             if (p, q) not in records]
  if missing:
    raise InstrumentError(f"{len(missing)} notes are not rendered yet")
  latent_stats = {k: (r["peak"], r["rms"]) for k, r in records.items()}
  mix_stats = {}
  for pitch in pitches:
    mixes = weights.astype(np.float64) @ sound_notes[pitch].astype(np.float64)
    for point, note in enumerate(mixes):
      mix_stats[(point, pitch)] = (float(np.max(np.abs(note))),
                                   float(np.sqrt(np.mean(note ** 2))))
  latent_gain = level_gains(latent_stats, pitches, normalize)
  mix_gain = level_gains(mix_stats, pitches, normalize)

  ext = "." + audio_format
  sfz_points = []
  if sfz == "all":
    sfz_points = list(range(num_points))
  elif sfz not in SFZ_CHOICES:
    raise InstrumentError(f"--sfz must be one of {SFZ_CHOICES}")
  near, near_weights = nearest_points(*sfz_position, grid)
  # The points that the SFZ position mixes (weight > 0), as the page would.
  sfz_pos_points = [p for p, w in zip(near, near_weights) if w > 1e-9]
  sfz_pos_weights = [w for w in near_weights if w > 1e-9]
  # Points whose normalised notes the SFZ files name (wav copies) or mix.
  wav_points = set(sfz_points)
  mix_points = set()
  if sfz != "none":
    if len(sfz_pos_points) == 1:
      wav_points |= set(sfz_pos_points)
    else:
      mix_points = set(sfz_pos_points)
  for name in ("audio", "sfz"):
    shutil.rmtree(os.path.join(output_dir, name), ignore_errors=True)

  points = []
  bar = tqdm(total=num_points * len(pitches), disable=not progress,
             file=sys.stderr, dynamic_ncols=True, unit="note",
             desc="writing notes")
  latent_notes = {}  # (point, pitch) -> normalised note, for SFZ mixes
  for point in range(num_points):
    row, col = divmod(point, grid)
    entry = dict(index=point, row=row, col=col, x=col / (grid - 1),
                 y=row / (grid - 1),
                 weights=[round(float(w), 6) for w in weights[point]],
                 files={"latent": {}, "mix": {}})
    for pitch in pitches:
      stem = file_stem(point, pitch, num_points)
      raw = audio.load(os.path.join(output_dir, records[(point, pitch)]
                                    ["file"]), sample_rate)
      note = raw * latent_gain[pitch]
      mixed = mix(sound_notes[pitch], weights[point]) * mix_gain[pitch]
      for mode, data in (("latent", note), ("mix", mixed)):
        rel = f"audio/{mode}/{stem}{ext}"
        _save_compressed(os.path.join(output_dir, rel), data, sample_rate,
                         audio_format, quality)
        entry["files"][mode][str(pitch)] = rel
      if point in mix_points:
        latent_notes[(point, pitch)] = note
      if point in wav_points:
        audio.save(os.path.join(output_dir, "sfz", "samples", stem + ".wav"),
                   note, sample_rate)
      bar.update(1)
    points.append(entry)
  bar.close()

  ranges = key_ranges(pitches)
  sfz_files = []
  names = [s["name"] for s in settings["sounds"]]

  def describe(w):
    return ", ".join(f"{n} {v:.2f}" for n, v in zip(names, w) if v > 5e-3)

  if sfz != "none":
    x, y = sfz_position
    name = f"position_x{x:.2f}_y{y:.2f}"
    if len(sfz_pos_points) == 1:
      samples = {q: f"samples/{file_stem(sfz_pos_points[0], q, num_points)}"
                    f".wav" for q in pitches}
    else:
      samples = {}
      for q in pitches:
        data = mix([latent_notes[(p, q)] for p in sfz_pos_points],
                   sfz_pos_weights)
        rel = f"samples/{name}_n{q:03d}.wav"
        audio.save(os.path.join(output_dir, "sfz", rel), data, sample_rate)
        samples[q] = rel
    pos_weights = mix(weights[sfz_pos_points], sfz_pos_weights)
    rel = f"sfz/{name}.sfz"
    _write_text(os.path.join(output_dir, rel), sfz_text(
        f"{settings['title']}: pad position x={x:.2f}, y={y:.2f}",
        [(samples[q], q, lo, hi) for q, (lo, hi) in zip(pitches, ranges)],
        [f"sounds: {describe(pos_weights)}",
         f"grid point {sfz_pos_points[0]}" if len(sfz_pos_points) == 1 else
         f"grid points {sfz_pos_points} mixed with weights "
         f"{[round(w, 3) for w in sfz_pos_weights]}"]))
    sfz_files.append(dict(file=rel, x=x, y=y, points=sfz_pos_points,
                          weights=sfz_pos_weights))
  for point in sfz_points:
    rel = f"sfz/point_{point:0{max(2, len(str(num_points - 1)))}d}.sfz"
    entry = points[point]
    _write_text(os.path.join(output_dir, rel), sfz_text(
        f"{settings['title']}: grid point {point} (x={entry['x']:.2f}, "
        f"y={entry['y']:.2f})",
        [(f"samples/{file_stem(point, q, num_points)}.wav", q, lo, hi)
         for q, (lo, hi) in zip(pitches, ranges)],
        [f"sounds: {describe(weights[point])}"]))
    entry["sfz"] = rel
    sfz_files.append(dict(file=rel, x=entry["x"], y=entry["y"],
                          points=[point], weights=[1.0]))

  manifest = dict(
      format="neuralsynth-instrument", version=1, **settings,
      sample_rate=int(sample_rate), num_samples=int(num_samples),
      pitches=list(pitches),
      key_ranges=[dict(pitch=q, lokey=lo, hikey=hi)
                  for q, (lo, hi) in zip(pitches, ranges)],
      audio_format=audio_format, quality=quality,
      normalize=dict(rule=normalize,
                     latent_gain={str(q): round(g, 6)
                                  for q, g in latent_gain.items()},
                     mix_gain={str(q): round(g, 6)
                               for q, g in mix_gain.items()}),
      modes=dict(latent="latent mix: decoded from mixed embeddings",
                 mix="audio mix: the sounds' audio mixed"),
      points=points, sfz=sfz_files, samples_js="samples.js")
  files.write_json(os.path.join(output_dir, MANIFEST), manifest)
  write_samples_js(os.path.join(output_dir, "samples.js"), output_dir,
                   [rel for entry in points for mode in ("latent", "mix")
                    for rel in entry["files"][mode].values()])
  _write_text(os.path.join(output_dir, "index.html"), page_html(manifest))
  return manifest


_MODEL_CACHE = {}  # the last model loaded: key -> (model, config, step)


def _load_model(model_dir, ckpt):
  """`checkpoint.load_model`, reusing the last model if the checkpoint is
  unchanged (repeated builds in one process skip the rebuild and retrace)."""
  from common import checkpoint as checkpoint_lib  # pylint: disable=g-import-not-at-top
  from wavenet import model as model_lib  # pylint: disable=g-import-not-at-top
  key = (os.path.abspath(model_dir), os.path.abspath(ckpt),
         os.path.getmtime(ckpt + ".index"))
  if key not in _MODEL_CACHE:
    _MODEL_CACHE.clear()
    _MODEL_CACHE[key] = checkpoint_lib.load_model(
        model_dir, model_lib.build_model, ckpt)
  return _MODEL_CACHE[key]


def build_instrument(model_dir, corners, pitches, grid, output_dir,
                     multigrid=(), seconds=4.0, temperature=1.0, seed=0,
                     batch_size=128, audio_format="ogg", quality=0.5,
                     normalize="instrument", sfz="position",
                     sfz_position=(0.5, 0.5), checkpoint="best", title=None,
                     overwrite=False, progress=True, on_render=None):
  """Builds (or resumes) a playable instrument in `output_dir`.

  Args:
    model_dir: a trained WaveNet autoencoder's model directory.
    corners: 4 sound files or folders (top-left, top-right, bottom-left,
      bottom-right); see the module doc for the folder naming rule.
    pitches: MIDI notes to render (ints, or text for `parse_pitches`).
    grid: points per side (>= 2).
    multigrid: more sounds for a K x K lattice (see `multigrid_layout`).
    seconds: length of every note.
    temperature, seed: sampling (see `wavenet.fastgen.generate`).
    batch_size: notes rendered together.
    audio_format, quality: "ogg" (Vorbis) or "mp3"; quality in [0, 1].
    normalize: "instrument", "pitch" or "none" (see the module doc).
    sfz: "position" (one SFZ at `sfz_position`), "all" (also one per grid
      point) or "none".
    checkpoint: "best", "last" or a checkpoint prefix.
    title: the page's title (default: the corner names).
    overwrite: start over (removes what a previous build wrote in OUT).
    on_render: optional `fn(point, pitch)` after each note is recorded.

  Returns:
    dict(manifest=..., rendered=notes rendered by this run, skipped=notes
    already there, seconds_taken=...).
  """
  started = time.time()
  if isinstance(pitches, str):
    pitches = parse_pitches(pitches)
  pitches = sorted(set(int(p) for p in pitches))
  corners, multigrid = list(corners), list(multigrid)
  if len(corners) != 4:
    raise InstrumentError(f"--corners needs 4 sounds (top-left, top-right, "
                          f"bottom-left, bottom-right), got {len(corners)}")
  sources = corners + multigrid
  layout = multigrid_layout(len(sources))
  grid = int(grid)
  if grid < 2:
    raise InstrumentError(f"--grid must be at least 2, got {grid}")
  if len(sources) > 4:
    multigrid_resolution(grid, layout)
  if seconds <= 0 or batch_size < 1:
    raise InstrumentError("--seconds must be > 0 and --batch_size >= 1")
  if not 0 <= quality <= 1:
    raise InstrumentError(f"--quality must be in [0, 1], got {quality}")
  if normalize not in NORMALIZE or sfz not in SFZ_CHOICES or (
      audio_format not in FORMATS):
    raise InstrumentError(f"--normalize in {NORMALIZE}, --sfz in "
                          f"{SFZ_CHOICES}, --format in {tuple(FORMATS)}")
  note_files = [[note_file(s, p) for p in pitches] for s in sources]
  singles = [sound_name(s) for s in sources if os.path.isfile(s)]
  if singles and len(pitches) > 1:
    verb = "is a file" if len(singles) == 1 else "are files"
    print(f"warning: {', '.join(singles)} {verb}: one note for every pitch, "
          f"so all {len(pitches)} pitches render at the file's own pitch. "
          f"Give one folder per sound (a note per pitch) or --pitches=<its "
          f"pitch>.", file=sys.stderr)

  from common import checkpoint as checkpoint_lib  # pylint: disable=g-import-not-at-top
  from common import config as config_lib  # pylint: disable=g-import-not-at-top
  config = config_lib.load_saved(model_dir)
  if config.get("conditioning", "encoder") != "encoder":
    raise InstrumentError(f"{model_dir}: an unconditional WaveNet has no "
                          f"encoder; an instrument needs an autoencoder")
  ckpt = checkpoint_lib.latest(model_dir, checkpoint)
  if ckpt is None:
    raise InstrumentError(f"{model_dir}: no checkpoint ({checkpoint}) found")
  sample_rate = int(config["sample_rate"])
  num_samples = max(1, int(round(seconds * sample_rate)))
  names = [sound_name(s) for s in sources]
  positions = sound_positions(layout)
  sounds = [dict(name=names[i], source=os.path.basename(
                     os.path.normpath(sources[i])),
                 corner=CORNER_NAMES[i] if i < 4 else None,
                 x=float(positions[i][0]), y=float(positions[i][1]),
                 files={str(p): os.path.basename(f)
                        for p, f in zip(pitches, note_files[i])})
            for i in range(len(sources))]
  fingerprint = dict(
      model_dir=os.path.abspath(model_dir),
      checkpoint=os.path.abspath(ckpt), step=checkpoint_lib.step_of(ckpt),
      sounds=[[os.path.basename(f) + ":" + _sha1(f) for f in row]
              for row in note_files],
      layout=layout, grid=grid, pitches=pitches, seconds=float(seconds),
      sample_rate=sample_rate, temperature=float(temperature), seed=int(seed))
  _prepare_output(output_dir, fingerprint, overwrite)

  # Encode every sound at every pitch.
  model, config, step = _load_model(model_dir, ckpt)
  notes = np.stack([np.stack([load_note(f, sample_rate, num_samples)
                              for f in row]) for row in note_files])
  flat = encode_notes(model, config, notes.reshape(-1, num_samples),
                      batch_size)
  encoded = flat.reshape(len(sources), len(pitches), *flat.shape[1:])
  embeddings = {}
  for i, pitch in enumerate(pitches):
    embeddings[pitch], weights = grid_mix(encoded[:, i], layout, grid,
                                          int(config.get("pitch_bins") or 0))

  before = len(read_records(output_dir))
  rendered = render_missing(model, config, embeddings, pitches, output_dir,
                            num_samples, temperature, seed, batch_size,
                            progress, on_render)
  settings = dict(
      title=title or " \u00b7 ".join(names[:4]) +
      (f" + {len(names) - 4} more" if len(names) > 4 else ""),
      sounds=sounds, corners=names[:4], layout=layout, grid=grid,
      seconds=float(seconds), temperature=float(temperature), seed=int(seed),
      model=dict(model_dir=os.path.basename(os.path.normpath(model_dir)),
                 step=int(step), checkpoint=os.path.basename(ckpt)))
  manifest = finish(output_dir, settings, pitches, weights,
                    {p: notes[:, i] for i, p in enumerate(pitches)},
                    sample_rate, num_samples, audio_format, quality,
                    normalize, sfz, sfz_position, progress)
  return dict(manifest=manifest, rendered=rendered, skipped=before,
              seconds_taken=round(time.time() - started, 3))


# ---------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------


def _define_flags():
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
  flags.DEFINE_integer("seed", 0, "Sampling seed.")
  flags.DEFINE_integer("batch_size", 128, "Notes rendered together (at most; "
                       "batches are balanced). On a CPU a step of 128 notes "
                       "costs little more than one of 16.")
  flags.DEFINE_enum("format", "ogg", list(FORMATS), "Compressed format for "
                    "the page: ogg (Vorbis) or mp3.")
  flags.DEFINE_float("quality", 0.5, "Compression quality in [0, 1] (Vorbis "
                     "quality; mp3 VBR quality).")
  flags.DEFINE_enum("normalize", "instrument", list(NORMALIZE), "Levels: one "
                    "gain for all (instrument), per-pitch loudness match "
                    "(pitch), or none.")
  flags.DEFINE_enum("sfz", "position", list(SFZ_CHOICES), "SFZ output: one "
                    "instrument at --sfz_position, all (plus one per grid "
                    "point), or none.")
  flags.DEFINE_string("sfz_position", "0.5,0.5", "x,y in [0, 1] of the SFZ "
                      "instrument (0,0 is top-left).")
  flags.DEFINE_string("checkpoint", "best", "best, last or a checkpoint "
                      "prefix.")
  flags.DEFINE_string("title", None, "Page title (default: the corners).")
  flags.DEFINE_bool("overwrite", False, "Start over in --output_dir.")
  flags.DEFINE_bool("progress", True, "Show progress bars.")
  flags.mark_flags_as_required(["model_dir", "corners", "output_dir"])


def main(argv):
  from absl import flags  # pylint: disable=g-import-not-at-top
  if len(argv) > 1:
    print(f"error: unexpected arguments {' '.join(argv[1:])}",
          file=sys.stderr)
    return 2
  f = flags.FLAGS
  try:
    result = build_instrument(
        f.model_dir, f.corners, parse_pitches(f.pitches), f.grid,
        f.output_dir, multigrid=f.multigrid, seconds=f.seconds,
        temperature=f.temperature, seed=f.seed, batch_size=f.batch_size,
        audio_format=f.format, quality=f.quality, normalize=f.normalize,
        sfz=f.sfz, sfz_position=parse_position(f.sfz_position),
        checkpoint=f.checkpoint, title=f.title, overwrite=f.overwrite,
        progress=f.progress)
  except KeyboardInterrupt:
    done = len(read_records(f.output_dir)) if os.path.isdir(
        f.output_dir) else 0
    raise SystemExit(f"\ninterrupted with {done} notes rendered; run the "
                     f"same command again to resume") from None
  out = os.path.abspath(f.output_dir)
  print(f"rendered {result['rendered']} notes ({result['skipped']} already "
        f"there) in {result['seconds_taken']:.0f} s\n"
        f"play: file://{os.path.join(out, 'index.html')}")
  return 0


def run():
  """Console-script entry point (`wavenet-instrument`)."""
  from common import cli  # pylint: disable=g-import-not-at-top
  cli.run(main, _define_flags, __doc__, user_errors=(InstrumentError,))


if __name__ == "__main__":
  run()
