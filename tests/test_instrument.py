"""Tests for the playable instrument builder (wavenet/instrument*.py).

One tiny untrained autoencoder (the `tiny` preset at 16 kHz), four 0.2 s
corner clips, pitches 60 and 64, a 3 x 3 grid. The module's main build is
interrupted after a few notes and resumed; later tests read its output.
"""

import base64
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from conftest import tone
from wavenet import instrument_build
from wavenet import instrument_grid
from wavenet import instrument_html
from wavenet import instrument_journal
from wavenet import instrument_levels
from wavenet import instrument_render
from wavenet import instrument_sounds
from wavenet import latent_ops
from wavenet.instrument_sounds import InstrumentError

SR = 16000
PITCHES = (60, 64)
GRID = 3
SECONDS = 0.2
BATCH = 9  # 18 notes: 2 full batches; every batch 9 rows: one trace


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
  import keras  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from common import config as config_lib  # pylint: disable=g-import-not-at-top
  from common import model_api  # pylint: disable=g-import-not-at-top
  from wavenet import model as model_lib  # pylint: disable=g-import-not-at-top
  keras.utils.set_random_seed(0)
  config = config_lib.load("wavenet", "tiny")
  config["sample_rate"] = SR
  model = model_api.build(model_lib.build_model(config))
  path = str(tmp_path_factory.mktemp("instrument_model"))
  config_lib.save(config, path)
  tf.train.CheckpointManager(
      tf.train.Checkpoint(model=model, step=tf.Variable(0, dtype=tf.int64)),
      path + "/checkpoints", 1).save()
  return path


def _clips(directory, seconds=SECONDS):
  """Four corner files: two tones, noise and a chord."""
  os.makedirs(directory, exist_ok=True)
  n = int(seconds * SR)
  noise = (0.3 * np.random.default_rng(0).standard_normal(n)).astype(
      np.float32)
  clips = {"sine": tone((220.0,), seconds), "bright": tone((330.0, 990.0),
                                                           seconds),
           "noise": noise, "chord": tone((261.6, 329.6, 392.0), seconds)}
  paths = []
  for name, x in clips.items():
    paths.append(os.path.join(directory, name + ".wav"))
    sf.write(paths[-1], x, SR)
  return paths


@pytest.fixture(scope="module")
def corners(tmp_path_factory):
  return _clips(str(tmp_path_factory.mktemp("corners")))


class Interrupt(Exception):
  pass


@pytest.fixture(scope="module")
def built(model_dir, corners, tmp_path_factory):
  """Builds with an interruption after 5 notes, then resumes.

  Returns dict(out, first=notes recorded before the interruption,
  result=the resumed build's result).
  """
  out = str(tmp_path_factory.mktemp("instrument") / "out")
  seen = []

  def stop_after_five(point, pitch):
    seen.append((point, pitch))
    if len(seen) == 5:
      raise Interrupt()

  kwargs = dict(seconds=SECONDS, batch_size=BATCH, sfz="all", progress=False)
  with pytest.raises(Interrupt):
    instrument_build.build_instrument(model_dir, corners, PITCHES, GRID, out,
                                on_render=stop_after_five, **kwargs)
  first = len(instrument_journal.read_records(out))
  rendered = []
  result = instrument_build.build_instrument(
      model_dir, corners, PITCHES, GRID, out,
      on_render=lambda *job: rendered.append(job), **kwargs)
  return dict(out=out, first=first, result=result, rendered=rendered,
              interrupted=seen)


# ---------------------------------------------------------------------------
# The mixing logic the page uses.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("x,y", [(0.0, 0.0), (0.5, 0.5), (0.3, 0.8),
                                 (1.0, 1.0), (0.99, 0.01), (0.25, 0.75)])
def test_nearest_points_are_bilinear(x, y):
  for grid in (2, 3, 5):
    points, weights = instrument_grid.nearest_points(x, y, grid)
    assert len(points) == 4 and len(set(points)) == 4
    assert abs(sum(weights) - 1) < 1e-9 and min(weights) >= 0
    xy = latent_ops.grid_points(grid)[points]
    # The 4 points span one cell, ordered TL, TR, BL, BR.
    assert xy[0][0] == xy[2][0] < xy[1][0] == xy[3][0]
    assert xy[0][1] == xy[1][1] < xy[2][1] == xy[3][1]
    # The weights interpolate the position exactly.
    np.testing.assert_allclose(np.asarray(weights) @ xy, [x, y], atol=1e-9)
    cell = grid - 1
    local = (x * cell - round(xy[0][0] * cell), y * cell - round(
        xy[0][1] * cell))
    np.testing.assert_allclose(weights, latent_ops.bilinear_weights(*local),
                               atol=1e-12)


def test_grid_point_gets_full_weight():
  for index, (x, y) in enumerate(latent_ops.grid_points(GRID)):
    points, weights = instrument_grid.nearest_points(x, y, GRID)
    mix = {p: w for p, w in zip(points, weights) if w > 1e-12}
    assert mix == pytest.approx({index: 1.0})


def test_point_weights_corners_and_multigrid():
  corners = instrument_grid.point_weights(
      GRID, instrument_grid.multigrid_layout(4))
  assert corners.shape == (9, 4)
  np.testing.assert_allclose(corners.sum(axis=1), 1)
  np.testing.assert_allclose(corners[4], [0.25] * 4)
  np.testing.assert_allclose(corners[[0, 2, 6, 8]], np.eye(4))
  layout = instrument_grid.multigrid_layout(9)
  assert [layout[0][0], layout[0][2], layout[2][0], layout[2][2]] == [0, 1, 2,
                                                                      3]
  weights = instrument_grid.point_weights(5, layout)
  assert weights.shape == (25, 9)
  np.testing.assert_allclose(weights.sum(axis=1), 1)
  positions = instrument_grid.sound_positions(layout)
  points = latent_ops.grid_points(5)
  for sound, xy in enumerate(positions):  # every sound on a grid point
    point = int(np.argmin(np.abs(points - xy).sum(axis=1)))
    assert weights[point, sound] == pytest.approx(1.0)
  with pytest.raises(InstrumentError, match="grid=3, 5"):
    instrument_grid.multigrid_resolution(4, layout)
  with pytest.raises(InstrumentError, match="square"):
    instrument_grid.multigrid_layout(6)


def test_key_ranges_split_halfway():
  ranges = instrument_sounds.key_ranges([36, 40, 43, 84])
  assert ranges == [(24, 38), (39, 41), (42, 63), (64, 96)]
  assert instrument_sounds.key_ranges([60]) == [(48, 72)]
  assert instrument_sounds.key_ranges([2, 125]) == [(0, 63), (64, 127)]


def test_parse_pitches():
  assert instrument_sounds.parse_pitches("36,40,...,84") == list(
      range(36, 85, 4))
  assert instrument_sounds.parse_pitches("64, 60,60") == [60, 64]
  for bad in ("36,40,...,83", "60,...,72", "a", "200", ""):
    with pytest.raises(InstrumentError):
      instrument_sounds.parse_pitches(bad)


def test_note_file_rule(tmp_path):
  single = tmp_path / "one.wav"
  sf.write(single, tone(seconds=0.05), SR)
  assert instrument_sounds.note_file(str(single), 72) == str(single)
  folder = tmp_path / "piano"
  folder.mkdir()
  for name in ("060.wav", "piano_000-064-025.wav", "piano_000-064-100.wav",
               "piano_000-064-127.wav", "notes.txt", "67.flac"):
    (folder / name).write_bytes(b"")
  assert instrument_sounds.note_file(str(folder), 60).endswith("060.wav")
  assert instrument_sounds.note_file(str(folder), 64).endswith("-064-100.wav")
  assert instrument_sounds.note_file(str(folder), 67).endswith("67.flac")
  with pytest.raises(InstrumentError, match="found: 60, 64, 67"):
    instrument_sounds.note_file(str(folder), 62)
  assert instrument_sounds.sound_name(str(folder) + "/") == "piano"


@pytest.mark.parametrize("jobs,batch,width", [
    (325, 128, 109), (325, 16, 16), (100, 64, 50), (10, 16, 10), (1, 128, 1), (129, 128, 65),
    (256, 128, 128)])
def test_batches_are_balanced(jobs, batch, width):
  assert instrument_render.balanced_width(jobs, batch) == width
  batches = -(-jobs // width)
  assert batches == -(-jobs // batch)  # no more batches than needed


def test_level_gains():
  stats = {(0, 60): (0.5, 0.1), (1, 60): (0.25, 0.05), (0, 64): (0.1, 0.02),
           (1, 64): (0.1, 0.02)}
  one = instrument_levels.level_gains(stats, [60, 64], "instrument")
  assert one[60] == one[64] == pytest.approx(instrument_levels.PEAK / 0.5)
  per = instrument_levels.level_gains(stats, [60, 64], "pitch")
  rms = {p: np.median([s[1] for (_, q), s in stats.items() if q == p]) *
         per[p] for p in (60, 64)}
  assert rms[60] == pytest.approx(rms[64])
  assert max(s[0] * per[q] for (_, q), s in stats.items()) == pytest.approx(
      instrument_levels.PEAK)
  assert instrument_levels.level_gains(stats, [60, 64], "none") == {
      60: 1, 64: 1}


# ---------------------------------------------------------------------------
# The build.
# ---------------------------------------------------------------------------


def test_interrupted_build_resumes(built):
  total = GRID * GRID * len(PITCHES)
  assert built["first"] == 5  # written and recorded before the exception
  assert len(built["rendered"]) == total - 5
  assert not set(built["rendered"]) & set(built["interrupted"])
  assert built["result"]["rendered"] == total - 5
  assert built["result"]["skipped"] == 5
  assert len(instrument_journal.read_records(built["out"])) == total


def test_resume_renders_only_missing(built, model_dir, corners, tmp_path):
  out = str(tmp_path / "copy")
  shutil.copytree(built["out"], out)
  records_path = os.path.join(out, instrument_journal.RECORDS)
  lines = open(records_path).read().splitlines()
  # Two renders lose file and record; one only its file (the record stays,
  # pointing at nothing); a torn last line as from a crash mid-write.
  gone = [json.loads(lines[i]) for i in (2, 7, 11)]
  for record in gone:
    os.remove(os.path.join(out, record["file"]))
  kept = [l for i, l in enumerate(lines) if i not in (2, 7)]
  with open(records_path, "w") as f:
    f.write("\n".join(kept) + "\n" + '{"point": 0, "pit')
  before = {r["file"]: os.path.getmtime(os.path.join(out, r["file"]))
            for r in instrument_journal.read_records(out).values()}
  rendered = []
  result = instrument_build.build_instrument(
      model_dir, corners, PITCHES, GRID, out, seconds=SECONDS,
      batch_size=BATCH, sfz_position=(0.3, 0.7), audio_format="mp3",
      normalize="pitch", progress=False,
      on_render=lambda *job: rendered.append(job))
  assert sorted(rendered) == sorted((r["point"], r["pitch"]) for r in gone)
  assert result["rendered"] == 3
  for path, mtime in before.items():  # the others were not redone
    assert os.path.getmtime(os.path.join(out, path)) == mtime
  # The finishing flags changed: mp3 notes, per-pitch gains.
  manifest = result["manifest"]
  assert manifest["audio_format"] == "mp3"
  assert set(manifest["normalize"]["latent_gain"]) == {"60", "64"}
  for point in manifest["points"]:
    for rel in point["files"]["latent"].values():
      assert rel.endswith(".mp3")
      assert sf.info(os.path.join(out, rel)).samplerate == SR
  assert not os.path.exists(os.path.join(out, "audio", "latent",
                                         "p00_n060.ogg"))
  # An off-grid SFZ position mixes the 4 nearest points' notes.
  sfz = os.path.join(out, "sfz", "position_x0.30_y0.70.sfz")
  regions = _check_sfz(sfz)
  assert all("position_x0.30_y0.70_n" in r["sample"] for r in regions)


def test_changed_settings_refuse(built, model_dir, corners, tmp_path):
  with pytest.raises(InstrumentError, match="grid"):
    instrument_build.build_instrument(model_dir, corners, PITCHES, GRID + 1,
                                built["out"], seconds=SECONDS,
                                progress=False)
  (tmp_path / "junk.txt").write_text("not an instrument")
  with pytest.raises(InstrumentError, match="not an instrument"):
    instrument_build.build_instrument(model_dir, corners, PITCHES, GRID,
                                str(tmp_path), seconds=SECONDS,
                                progress=False)
  with pytest.raises(InstrumentError, match="4 sounds"):
    instrument_build.build_instrument(model_dir, corners[:3], PITCHES, GRID,
                                str(tmp_path / "x"), progress=False)


def test_manifest_is_complete(built):
  out = built["out"]
  manifest = json.load(open(os.path.join(out, "manifest.json")))
  assert manifest["grid"] == GRID and manifest["pitches"] == list(PITCHES)
  assert manifest["sample_rate"] == SR
  assert manifest["corners"] == ["sine", "bright", "noise", "chord"]
  assert [s["corner"] for s in manifest["sounds"]] == list(
      instrument_grid.CORNER_NAMES)
  assert len(manifest["points"]) == GRID * GRID
  expected_xy = latent_ops.grid_points(GRID)
  samples = _samples_js(os.path.join(out, "samples.js"))
  for point in manifest["points"]:
    i = point["index"]
    assert [point["x"], point["y"]] == pytest.approx(expected_xy[i])
    assert sum(point["weights"]) == pytest.approx(1)
    assert point["sfz"] and os.path.exists(os.path.join(out, point["sfz"]))
    for mode in ("latent", "mix"):
      assert sorted(point["files"][mode]) == sorted(str(p) for p in PITCHES)
      for rel in point["files"][mode].values():
        path = os.path.join(out, rel)
        data, rate = sf.read(path)
        assert rate == SR and abs(len(data) - SECONDS * SR) < 0.05 * SR
        assert base64.b64decode(samples.pop(rel)) == open(path, "rb").read()
  assert not samples  # nothing else in samples.js
  # One gain for the instrument: the loudest note peaks near -1 dBFS.
  gains = manifest["normalize"]["latent_gain"]
  assert len(set(gains.values())) == 1
  # A corner's audio mix is the corner's own sound (normalised).
  corner_mix, _ = sf.read(os.path.join(out, manifest["points"][0]["files"][
      "mix"]["60"]))
  source = tone((220.0,), SECONDS)
  assert np.corrcoef(corner_mix[:len(source)], source)[0, 1] > 0.98
  # The latent mix is not the audio mix.
  latent_note, _ = sf.read(os.path.join(out, manifest["points"][4]["files"][
      "latent"]["60"]))
  mix_note, _ = sf.read(os.path.join(out, manifest["points"][4]["files"][
      "mix"]["60"]))
  assert not np.allclose(latent_note, mix_note, atol=0.05)


def test_page_is_self_contained(built):
  page = open(os.path.join(built["out"], "index.html")).read()
  assert re.findall(r"<script[^>]*\bsrc=\"([^\"]+)\"", page) == ["samples.js"]
  assert not re.search(r"(href|src)=\"(https?:)?//", page)
  assert "{{" not in page
  inline = re.search(r'<script type="application/json" id="manifest">(.*?)'
                     r"</script>", page, re.S).group(1)
  assert json.loads(inline)["grid"] == GRID
  assert "window.instrument" in page and "requestMIDIAccess" in page


def _parse_sfz(path):
  """A tiny SFZ parser: [(header, {opcode: value})] with inheritance."""
  text = re.sub(r"//[^\n]*", "", open(path).read())
  sections, inherited = [], {}
  for token in re.findall(r"<\w+>|\w+=\S+", text):
    if token.startswith("<"):
      header = token[1:-1]
      if header in ("global", "group", "control", "master"):
        inherited = dict(inherited)
      sections.append((header, inherited if header != "region" else
                       dict(inherited)))
    else:
      key, value = token.split("=", 1)
      assert sections, f"{path}: opcode {token} before any header"
      sections[-1][1][key] = value
  return sections


def _check_sfz(path):
  sections = _parse_sfz(path)
  regions = [opcodes for header, opcodes in sections if header == "region"]
  assert [h for h, _ in sections if h != "region"] == ["global"]
  assert len(regions) == len(PITCHES)
  previous_hi = None
  for region, pitch in zip(regions, PITCHES):
    assert int(region["pitch_keycenter"]) == pitch
    assert region["loop_mode"] == "no_loop"
    lo, hi = int(region["lokey"]), int(region["hikey"])
    assert lo <= pitch <= hi
    assert previous_hi is None or lo == previous_hi + 1
    previous_hi = hi
    sample = os.path.join(os.path.dirname(path), region["sample"])
    assert os.path.exists(sample), sample
    assert sf.info(sample).samplerate == SR
  return regions


def test_sfz_parses_and_samples_exist(built):
  out = built["out"]
  manifest = json.load(open(os.path.join(out, "manifest.json")))
  paths = [entry["file"] for entry in manifest["sfz"]]
  assert "sfz/position_x0.50_y0.50.sfz" in paths
  assert len(paths) == 1 + GRID * GRID
  for rel in paths:
    _check_sfz(os.path.join(out, rel))
  # The centre is grid point 4: its SFZ plays that point's own samples.
  centre = _check_sfz(os.path.join(out, "sfz/position_x0.50_y0.50.sfz"))
  assert [r["sample"] for r in centre] == [
      f"samples/p04_n{p:03d}.wav" for p in PITCHES]


def test_multigrid_build(model_dir, corners, tmp_path):
  more = _clips(str(tmp_path / "more"))
  sounds = more + [more[0]]  # 4 corners + 5 = 9: a 3 x 3 lattice
  out = str(tmp_path / "multi")
  result = instrument_build.build_instrument(
      model_dir, corners, [60], GRID, out, multigrid=sounds, seconds=SECONDS,
      batch_size=BATCH, sfz="none", progress=False)
  assert result["rendered"] == GRID * GRID
  manifest = result["manifest"]
  assert len(manifest["sounds"]) == 9 and manifest["sfz"] == []
  for sound_index, sound in enumerate(manifest["sounds"]):
    point = manifest["points"][round(sound["y"] * 2) * GRID +
                               round(sound["x"] * 2)]
    assert point["weights"][sound_index] == pytest.approx(1)


def _samples_js(path):
  text = open(path).read()
  assert text.count(f"window.{instrument_html.SAMPLES_GLOBAL} = ") == 1
  return json.loads(text[text.index("{"):text.rindex("}") + 1])


def test_cli_help():
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  env = dict(os.environ, PYTHONPATH=root)
  proc = subprocess.run([sys.executable, "-m", "wavenet.instrument",
                         "--help"], capture_output=True, text=True, env=env,
                        timeout=60, check=False)
  assert proc.returncode in (0, 1), proc.stderr  # absl: usage, status 1
  for flag in ("--corners", "--multigrid", "--pitches", "--grid",
               "--output_dir", "--sfz_position", "--normalize", "--format"):
    assert flag in proc.stdout
  assert "tensorflow" not in proc.stderr.lower()


def test_grid_mix_keeps_the_heaviest_sounds_pitch():
  """Corner sounds at different pitches: every grid point mixes their
  timbre and plays one of its heaviest sounds' pitch two-hots, never a
  blend of them (which is no pitch)."""
  bins, frames = 12, 2
  for count, grid in [(4, 3), (9, 5)]:
    layout = instrument_grid.multigrid_layout(count)
    pitch = np.zeros([count, frames, bins], np.float32)
    pitch[np.arange(count), :, np.arange(count) % bins] = 1.0
    timbre = np.random.default_rng(count).normal(
        size=[count, frames, 3]).astype(np.float32)
    sounds = np.concatenate([timbre, pitch], axis=-1)
    mixed, weights = instrument_grid.grid_mix(sounds, layout, grid, bins)
    np.testing.assert_array_equal(weights,
                                  instrument_grid.point_weights(grid, layout))
    # A float64 sum rounded to float32: at most half an ulp, 6e-8 relative
    # (measured 5.7e-8).
    np.testing.assert_allclose(mixed[..., :3],
                               np.einsum("pk,kfd->pfd", weights, timbre),
                               rtol=1e-7)
    assert np.all(latent_ops.is_two_hot(mixed[..., 3:]))
    for point_pitch, w in zip(mixed[..., 3:], weights):
      heaviest = np.flatnonzero(w > w.max() - 1e-9)
      assert any(np.array_equal(point_pitch, pitch[k]) for k in heaviest)


# ---------------------------------------------------------------------------
# The seeding rule: note i of a build is output i of the generator interface.
# ---------------------------------------------------------------------------


def _note_embeddings(model_dir, corners):
  """(model, config, {pitch: [points, frames, d]}) as the build makes them."""
  model, config, _, _ = instrument_build.load_model(model_dir, "best")
  num_samples = int(round(SECONDS * SR))
  notes = np.stack([np.stack([instrument_sounds.load_note(
      path, SR, num_samples)] * len(PITCHES)) for path in corners])
  embeddings, _ = instrument_build.grid_embeddings(
      model, config, notes, instrument_grid.multigrid_layout(4), GRID,
      list(PITCHES), BATCH)
  return model, config, embeddings


def test_notes_are_the_generators_with_seed_plus_index(built, model_dir,
                                                       corners):
  """Note i of the build (pitch-major) is `common.generator.generate` with
  the seed 0 + i and the build's temperature, alone in its request."""
  from common import family  # pylint: disable=g-import-not-at-top
  from common import generator  # pylint: disable=g-import-not-at-top
  from common import quantization  # pylint: disable=g-import-not-at-top
  model, config, embeddings = _note_embeddings(model_dir, corners)
  gen = family.get("wavenet").generator(model, config)
  records = instrument_journal.read_records(built["out"])
  jobs = instrument_render.note_jobs(list(PITCHES), GRID * GRID)
  for i in (0, 4, 13):  # the first note of both batches and another
    point, pitch = jobs[i]
    record = records[(point, pitch)]
    assert (record["seed"], record["temperature"]) == (i, 1.0)
    codes = generator.generate(gen, generator.Request.make(
        seed=i, temperature=1.0, embeddings=embeddings[pitch][point][None]),
                               int(round(SECONDS * SR)))
    got, _ = sf.read(os.path.join(built["out"], record["file"]),
                     dtype="float32")
    # The render is stored as 16-bit FLAC; its codes come back exactly (the
    # companded levels lie at least 5 16-bit steps apart).
    np.testing.assert_array_equal(quantization.encode(
        got, config["quantization"], config["q_levels"]), codes[0])


def test_notes_do_not_depend_on_batch_size(built, model_dir, corners,
                                           tmp_path):
  out = str(tmp_path / "batch4")
  instrument_build.build_instrument(model_dir, corners, PITCHES, GRID, out,
                                    seconds=SECONDS, batch_size=4,
                                    sfz="none", progress=False)
  ours = instrument_journal.read_records(out)
  theirs = instrument_journal.read_records(built["out"])
  assert sorted(ours) == sorted(theirs)
  for job, record in theirs.items():
    assert ours[job]["seed"] == record["seed"]
    a, _ = sf.read(os.path.join(out, ours[job]["file"]), dtype="int16")
    b, _ = sf.read(os.path.join(built["out"], record["file"]), dtype="int16")
    np.testing.assert_array_equal(a, b, err_msg=str(job))
