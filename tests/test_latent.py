"""Tests for wavenet/latent*.py: the embedding formulas, grids and commands.

The formulas are checked on small integer-valued embeddings (exact in
float32); the commands run in-process on an untrained tiny autoencoder
(hop 32) with 0.1-0.15 s clips, sharing one loaded model.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from common import files
from conftest import ROOT, tone, write_audio
from wavenet import latent_commands
from wavenet import latent_ops
from wavenet import latent_stats
from wavenet.latent_ops import LatentError

HOP = 32
RATE = 16000


def _z(frames, d=4, start=0):
  """`[frames, d]` float32 with distinct integer values."""
  return np.arange(start, start + frames * d, dtype=np.float32).reshape(
      frames, d)


# --- alignment ---------------------------------------------------------------


def test_align_crop_pad_stretch():
  a, b = _z(3), _z(5, start=100)
  ca, cb = latent_ops.align(a, b)  # default crop
  assert ca.shape == cb.shape == (3, 4)
  np.testing.assert_array_equal(cb, b[:3])
  pa, pb = latent_ops.align(a, b, "pad")
  assert pa.shape == (5, 4)
  np.testing.assert_array_equal(pa[3:], [a[-1], a[-1]])
  np.testing.assert_array_equal(pb, b)
  sa, sb = latent_ops.align(a, b, "stretch")
  assert sa.shape == (5, 4)
  # frames 0..4 at input positions 0, 0.5, 1, 1.5, 2
  np.testing.assert_allclose(sa, [a[0], (a[0] + a[1]) / 2, a[1],
                                  (a[1] + a[2]) / 2, a[2]])
  np.testing.assert_array_equal(sb, b)
  assert latent_ops.stretch(a[:1], 3).shape == (3, 4)
  with pytest.raises(LatentError, match="align mode"):
    latent_ops.align(a, b, "warp")
  with pytest.raises(LatentError, match="widths"):
    latent_ops.align(a, _z(3, d=5))


# --- formulas ----------------------------------------------------------------


def test_formulas_exact():
  a, b, c = _z(4), _z(4, start=50), _z(4, start=200)
  np.testing.assert_array_equal(latent_ops.interpolate(a, b, 0.25),
                                0.75 * a + 0.25 * b)
  np.testing.assert_array_equal(latent_ops.interpolate(a, b, 0.0), a)
  np.testing.assert_array_equal(latent_ops.interpolate(a, b, 1.0), b)
  np.testing.assert_array_equal(latent_ops.scale(a, 2.0), 2 * a)
  mean = np.array([1.0, 2.0, 3.0, 4.0], np.float32)
  np.testing.assert_array_equal(latent_ops.caricature(a, mean, 3.0),
                                mean + 3 * (a - mean))
  np.testing.assert_array_equal(latent_ops.caricature(a, mean, 1.0), a)
  np.testing.assert_array_equal(latent_ops.analogy(a, b, c), c + b - a)
  # analogy aligns all three (crop by default)
  assert latent_ops.analogy(a, _z(6), _z(5)).shape == (4, 4)


def test_interpolate_with_per_frame_weights_and_oscillate():
  a, b = _z(8), _z(8, start=40)
  w = np.linspace(0, 1, 8).astype(np.float32)
  np.testing.assert_allclose(latent_ops.interpolate(a, b, w),
                             (1 - w[:, None]) * a + w[:, None] * b)
  # 2 Hz at 8 frames/s: a(t) = (1 - cos(2 pi 2 t)) / 2 -> 0, .5, 1, .5, 0 ...
  weights = latent_ops.oscillation_weights(8, 2.0, 8.0)
  np.testing.assert_allclose(weights, [0, .5, 1, .5, 0, .5, 1, .5],
                             atol=1e-6)
  np.testing.assert_allclose(latent_ops.oscillate(a, b, 2.0, 8.0),
                             (1 - weights[:, None]) * a +
                             weights[:, None] * b, atol=1e-4)


def test_noise_formula_and_seed():
  z = _z(5)
  mean = np.full(4, 3.0, np.float32)
  std = np.array([1.0, 2.0, 0.5, 0.0], np.float32)
  got = latent_ops.add_noise(z, mean, std, 0.7, seed=3)
  noise = np.random.default_rng(3).normal(0.0, 0.7, z.shape)
  with np.errstate(divide="ignore", invalid="ignore"):
    want = mean + std * ((z - mean) / std + noise)  # the NSynth form
  np.testing.assert_allclose(got[:, :3], want[:, :3], rtol=1e-5, atol=1e-4)
  np.testing.assert_array_equal(got[:, 3], z[:, 3])  # zero std: no noise
  np.testing.assert_array_equal(got, latent_ops.add_noise(z, mean, std, 0.7, 3))
  assert not np.allclose(got, latent_ops.add_noise(z, mean, std, 0.7, 4))
  np.testing.assert_array_equal(latent_ops.add_noise(z, mean, std, 0.0, 3), z)


# --- grids -------------------------------------------------------------------


def test_bilinear_weights():
  for x, y in [(0, 0), (1, 0), (0, 1), (1, 1), (0.3, 0.8), (0.5, 0.5)]:
    assert latent_ops.bilinear_weights(x, y).sum() == pytest.approx(1.0)
  np.testing.assert_array_equal(latent_ops.bilinear_weights(0, 0), [1, 0, 0, 0])
  np.testing.assert_array_equal(latent_ops.bilinear_weights(1, 0), [0, 1, 0, 0])
  np.testing.assert_array_equal(latent_ops.bilinear_weights(0, 1), [0, 0, 1, 0])
  np.testing.assert_array_equal(latent_ops.bilinear_weights(1, 1), [0, 0, 0, 1])
  np.testing.assert_array_equal(latent_ops.bilinear_weights(0.5, 0.5),
                                [0.25] * 4)
  np.testing.assert_allclose(latent_ops.bilinear_weights(0.25, 0.5),
                             [0.375, 0.125, 0.375, 0.125])
  with pytest.raises(LatentError, match="unit square"):
    latent_ops.bilinear_weights(1.5, 0)


def test_grid_points_and_embeddings():
  np.testing.assert_array_equal(
      latent_ops.grid_points(3),
      [[0, 0], [.5, 0], [1, 0], [0, .5], [.5, .5], [1, .5], [0, 1], [.5, 1],
       [1, 1]])
  corners = np.stack([_z(2, start=s) for s in (0, 10, 20, 30)])
  mixed, weights = latent_ops.grid_embeddings(corners, 3)
  assert mixed.shape == (9, 2, 4) and weights.shape == (9, 4)
  np.testing.assert_allclose(weights.sum(1), 1.0)
  for i, k in [(0, 0), (2, 1), (6, 2), (8, 3)]:  # corners exact
    np.testing.assert_array_equal(mixed[i], corners[k])
  np.testing.assert_array_equal(weights[4], [.25] * 4)
  np.testing.assert_allclose(mixed[4], corners.mean(0))
  np.testing.assert_allclose(mixed[1], (corners[0] + corners[1]) / 2)


def test_multigrid_nine_instruments_on_two_by_two_squares():
  instruments = np.stack([np.full((2, 4), i, np.float32) for i in range(9)])
  points, mixed, corners, weights = latent_ops.multigrid_embeddings(
      instruments, "2x2", resolution=3)
  assert latent_ops.multigrid_shape((2, 2), 3) == (5, 5)
  assert points.shape == (25, 2) and mixed.shape == (25, 2, 4)
  np.testing.assert_allclose(weights.sum(1), 1.0)
  # lattice vertices (every 2nd point) are the instruments themselves
  for r in range(3):
    for c in range(3):
      p = (2 * r) * 5 + 2 * c
      np.testing.assert_array_equal(mixed[p], instruments[3 * r + c])
      np.testing.assert_allclose(points[p], [c / 2, r / 2])
  # centre of the top-right square: instruments 1, 2, 4, 5 equally
  p = 1 * 5 + 3
  np.testing.assert_array_equal(corners[p], [1, 2, 4, 5])
  np.testing.assert_array_equal(weights[p], [.25] * 4)
  np.testing.assert_allclose(mixed[p], 3.0)
  # a shared-edge point mixes only the two instruments on that edge
  p = 1 * 5 + 2  # x = 0.5, y = 0.25: between instruments 1 and 4
  used = {int(i) for i, w in zip(corners[p], weights[p]) if w > 0}
  assert used == {1, 4}
  np.testing.assert_allclose(mixed[p], 2.5)
  assert latent_ops.parse_layout(None, 9) == (2, 2)
  assert latent_ops.parse_layout("1x3") == (1, 3)
  with pytest.raises(LatentError, match="vertices"):
    latent_ops.multigrid_embeddings(instruments[:8], "2x2")
  with pytest.raises(LatentError, match="layout"):
    latent_ops.parse_layout(None, 8)


def test_nearest_grid_points():
  idx, w = latent_ops.nearest_grid_points(0.5, 0.5, 3)
  np.testing.assert_array_equal(idx, [4, 5, 7, 8])
  np.testing.assert_array_equal(w, [1, 0, 0, 0])  # exactly on point 4
  idx, w = latent_ops.nearest_grid_points(0.25, 0.75, 3)
  np.testing.assert_array_equal(idx, [3, 4, 6, 7])
  np.testing.assert_allclose(w, [.25] * 4)
  idx, w = latent_ops.nearest_grid_points(1.0, 1.0, 3)
  np.testing.assert_array_equal(idx, [4, 5, 7, 8])
  np.testing.assert_array_equal(w, [0, 0, 0, 1])
  idx, w = latent_ops.nearest_grid_points(0.1, 0.0, (2, 5))  # rows, cols
  np.testing.assert_array_equal(idx, [0, 1, 5, 6])
  np.testing.assert_allclose(w, [.6, .4, 0, 0])
  # mixing the rendered grid reproduces the continuous bilinear mix
  corners = np.stack([_z(2, start=s) for s in (0, 10, 20, 30)])
  grid, _ = latent_ops.grid_embeddings(corners, 5)
  idx, w = latent_ops.nearest_grid_points(0.3, 0.6, 5)
  direct = np.einsum("k,kfd->fd", latent_ops.bilinear_weights(0.3, 0.6),
                     corners)
  np.testing.assert_allclose(np.einsum("k,kfd->fd", w, grid[idx]), direct,
                             rtol=1e-5)


# --- commands on a tiny model ------------------------------------------------


def _make_model_dir(path, preset="tiny"):
  import keras  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from common import config as config_lib  # pylint: disable=g-import-not-at-top
  from common import model_api  # pylint: disable=g-import-not-at-top
  from wavenet import model as model_lib  # pylint: disable=g-import-not-at-top
  keras.utils.set_random_seed(0)
  config = config_lib.load("wavenet", preset)
  config["sample_rate"] = RATE
  model = model_api.build(model_lib.build_model(config))
  os.makedirs(path, exist_ok=True)
  config_lib.save(config, path)
  ckpt = tf.train.CheckpointManager(
      tf.train.Checkpoint(model=model, step=tf.Variable(0, dtype=tf.int64)),
      os.path.join(path, "checkpoints"), 1).save()
  return model, config, ckpt


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
  """(model_dir, loaded, clips dir) with four short clips."""
  root = tmp_path_factory.mktemp("latent")
  model_dir = str(root / "model")
  model, config, ckpt = _make_model_dir(model_dir)
  clips = root / "clips"
  clips.mkdir()
  for name, f, seconds in [("a", 220, 0.1), ("b", 330, 0.15), ("c", 440, 0.1),
                           ("d", 550, 0.1)]:
    write_audio(clips / f"{name}.wav", tone((f,), seconds), RATE)
  return model_dir, (model, config, 0, ckpt), clips


def _check_outputs(info, out, count, frames):
  assert len(info["outputs"]) == count
  for entry in info["outputs"]:
    data, rate = sf.read(os.path.join(out, entry["file"]))
    assert rate == RATE and len(data) == frames * HOP == entry["samples"]
  saved = files.read_json(os.path.join(out, f"{info['command']}.json"))
  assert saved["formula"] == info["formula"]
  assert len(saved["outputs"]) == count


def test_commands_write_wavs_of_frames_times_hop_and_json(tiny, tmp_path):
  model_dir, loaded, clips = tiny
  a, b, c, d = (str(clips / f"{n}.wav") for n in "abcd")
  out = str(tmp_path / "out")
  run = lambda cmd, args, **kw: latent_commands.run_command(
      cmd, args, model_dir, out, loaded=loaded, progress=False,
      batch_size=4, **kw)

  # a: 1600 samples = 50 frames; b: 2400 = 75 frames.
  info = run("interpolate", [a, b], steps=3)
  _check_outputs(info, out, 3, 50)
  group = info["groups"][0]
  assert group["alignment"] == dict(mode="crop", input_frames=[50, 75],
                                    frames=50)
  assert [o["alpha"] for o in info["outputs"]] == [0.0, 0.5, 1.0]
  mix, _ = sf.read(os.path.join(out, info["outputs"][1]["mix_file"]))
  assert len(mix) == 50 * HOP

  info = run("interpolate", [a, b], steps=2, align="pad", name="padded")
  assert info["groups"][0]["alignment"]["frames"] == 75
  assert len(sf.read(os.path.join(out, "padded_0.wav"))[0]) == 75 * HOP

  info = run("grid", [a, c, d, b], grid=2)
  _check_outputs(info, out, 4, 50)
  assert info["outputs"][0]["weights"]["top_left"] == 1.0
  assert info["corner_order"] == list(latent_ops.CORNERS)

  np.save(str(tmp_path / "z.npy"), _z(10) / 40.0)  # an embeddings input
  info = run("scale", [str(tmp_path / "z.npy")], factor="0.5,2")
  _check_outputs(info, out, 2, 10)
  assert info["groups"][0]["inputs"][0]["kind"] == "embeddings"

  info = run("oscillate", [a, c], hz="2")
  _check_outputs(info, out, 1, 50)
  info = run("analogy", [a, b, c])
  _check_outputs(info, out, 1, 50)

  with pytest.raises(FileExistsError, match="already exists"):
    run("analogy", [a, b, c])


def test_multigrid_and_pitches(tiny, tmp_path):
  model_dir, loaded, clips = tiny
  out = str(tmp_path / "out")
  paths = [str(clips / f"{n}.wav") for n in "abcdabcda"]
  info = latent_commands.run_command(
      "multigrid", paths, model_dir, out, loaded=loaded, layout="2x2",
      resolution=2, progress=False, batch_size=4)
  _check_outputs(info, out, 9, 50)
  assert info["outputs"][4]["corners"] == [4, 5, 7, 8]
  # grid with one file per pitch: {pitch} in the paths
  for pitch in (60, 62):
    for n, f in zip("abcd", (220, 330, 440, 550)):
      write_audio(tmp_path / f"{n}_{pitch}.wav", tone((f,), 0.1), RATE)
  templ = [str(tmp_path / f"{n}_{{pitch}}.wav") for n in "abcd"]
  info = latent_commands.run_command(
      "grid", templ, model_dir, out, loaded=loaded, grid=2, pitches="60,62",
      progress=False, batch_size=4)
  assert [o["pitch"] for o in info["outputs"]] == [60] * 4 + [62] * 4
  assert os.path.exists(os.path.join(out, "grid_p62_3.wav"))


def test_mean_caricature_noise(tiny, tmp_path, prepared_corpus):
  model_dir, loaded, clips = tiny
  a = str(clips / "a.wav")
  stats = str(tmp_path / "mean.npz")
  info = latent_commands.run_command("mean", [], model_dir, loaded=loaded,
                            data_dir=prepared_corpus, output=stats,
                            max_files=2, progress=False)
  mean, std = latent_stats.load_stats(stats, 4)
  assert mean.shape == std.shape == (4,) and np.all(std > 0)
  assert info["files"] == 2 and info["frames"] > 0
  assert os.path.exists(str(tmp_path / "mean.json"))
  out = str(tmp_path / "out")
  info = latent_commands.run_command(
      "caricature", [a], model_dir, out, loaded=loaded, factor="2",
      stats=stats, progress=False, batch_size=4)
  _check_outputs(info, out, 1, 50)
  info = latent_commands.run_command(
      "noise", [a], model_dir, out, loaded=loaded, sigma="0.5,1",
      stats=stats, progress=False, batch_size=4)
  _check_outputs(info, out, 2, 50)
  with pytest.raises(LatentError, match="--stats"):
    latent_commands.run_command("noise", [a], model_dir, out, loaded=loaded,
                       name="x", progress=False)


def test_cli_errors_and_help(tiny, tmp_path):
  model_dir, _, clips = tiny
  base = [sys.executable, "-m", "wavenet.latent"]
  run = lambda args: subprocess.run(base + args, cwd=ROOT, text=True,
                                    capture_output=True, timeout=120)
  result = run(["--help"])
  assert "wavenet.latent interpolate A B" in result.stdout + result.stderr
  # Positional files between flags; a missing file: one line naming it
  # (before TensorFlow is even imported).
  missing = str(tmp_path / "nope.wav")
  result = run(["interpolate", str(clips / "a.wav"), f"--model_dir={model_dir}",
                missing, f"--output_dir={tmp_path / 'o'}"])
  assert result.returncode == 1
  assert result.stderr.strip().startswith("error: ")
  assert missing in result.stderr and len(result.stderr.splitlines()) == 1
  out = str(tmp_path / "o")
  with pytest.raises(LatentError, match="takes A B input files, got 1"):
    latent_commands.run_command("interpolate", [str(clips / "a.wav")],
                                model_dir, out)
  with pytest.raises(LatentError, match="unknown command"):
    latent_commands.run_command("warp", [], model_dir, out)
  with pytest.raises(LatentError, match="no --pitches"):
    latent_commands.run_command("grid", ["{pitch}.wav"] * 4, model_dir, out)


# --- pitch-conditioned embeddings: the formulas act on the timbre ------------

BINS, MIN_MIDI = 12, 48  # pitch two-hots over MIDI 48 .. 59


def _pitched(midi, timbre_start=0, timbre_width=4):
  """`[frames, timbre_width + BINS]`: distinct timbre values, then the
  two-hot of `midi[f]` per frame (None: unvoiced)."""
  from wavenet import pitch  # pylint: disable=g-import-not-at-top
  frames = len(midi)
  voiced = np.array([m is not None for m in midi])
  two_hots = pitch.two_hot(np.array([m or 0.0 for m in midi], np.float32),
                           BINS, MIN_MIDI).numpy() * voiced[:, None]
  return latent_ops.join_embedding(
      _z(frames, timbre_width, timbre_start) / 40.0, two_hots)


def _pitch(z):
  return latent_ops.split_embedding(z, BINS)[1]


def _assert_two_hots(z):
  assert np.all(latent_ops.is_two_hot(_pitch(z))), _pitch(z)


def test_is_two_hot():
  good = _pitch(_pitched([50.0, 50.3, None, 59.0]))
  assert latent_ops.is_two_hot(good).all()
  bad = np.stack([0.4 * good[0],              # a scaled note: not unvoiced
                  0.5 * good[0] + 0.5 * good[3],  # a blend of two pitches
                  good[1] + 0.1 * np.eye(BINS)[7]])  # noise off the two bins
  assert not latent_ops.is_two_hot(bad).any()


def test_scale_noise_caricature_analogy_keep_the_pitch():
  """scale=0.4 used to turn a note unvoiced (0.4 times its two-hot) and
  noise to give pitch vectors that are no two-hot."""
  a = _pitched([50.0, 50.3, 50.6, None, 51.0])
  b, c = (_pitched([55.0] * 5, start) for start in (100, 200))
  scaled = latent_ops.scale(a, 0.4, pitch_bins=BINS)
  np.testing.assert_array_equal(_pitch(scaled), _pitch(a))
  np.testing.assert_allclose(scaled[:, :4], 0.4 * a[:, :4])
  mean = np.linspace(-1.0, 1.0, 4 + BINS).astype(np.float32)
  std = np.full(4 + BINS, 2.0, np.float32)
  for sigma in (0.5, 3.0):
    noisy = latent_ops.add_noise(a, mean, std, sigma, seed=1, pitch_bins=BINS)
    np.testing.assert_array_equal(_pitch(noisy), _pitch(a))
    assert not np.allclose(noisy[:, :4], a[:, :4])
  exaggerated = latent_ops.caricature(a, mean, 3.0, pitch_bins=BINS)
  np.testing.assert_array_equal(_pitch(exaggerated), _pitch(a))
  np.testing.assert_allclose(exaggerated[:, :4],
                             mean[:4] + 3 * (a[:, :4] - mean[:4]))
  analog = latent_ops.analogy(b, a, c, pitch_bins=BINS)  # b : a :: c : ?
  np.testing.assert_array_equal(_pitch(analog), _pitch(c))
  np.testing.assert_allclose(analog[:, :4], c[:, :4] + a[:, :4] - b[:, :4])


def test_mixes_take_the_pitch_of_the_heaviest_input():
  """Interpolating, oscillating or gridding notes of different pitch gives
  valid two-hots: the nearest input's, never a blend."""
  notes = [_pitched([m] * 3, 10 * i)
           for i, m in enumerate([48.0, 52.5, None, 59.0])]
  for alpha, nearest in [(0.0, 0), (0.3, 0), (0.5, 0), (0.7, 1), (1.0, 1)]:
    z = latent_ops.interpolate(notes[0], notes[1], alpha, pitch_bins=BINS)
    np.testing.assert_array_equal(_pitch(z), _pitch(notes[nearest]))
    # Both sides round the weights and the sum to float32 (measured 1.1e-7
    # relative).
    np.testing.assert_allclose(z[:, :4], (1 - alpha) * notes[0][:, :4] +
                               alpha * notes[1][:, :4], rtol=1e-6)
  z = latent_ops.oscillate(notes[0], notes[1], 2.0, 6.0, pitch_bins=BINS)
  # a(t) = 0, 0.75, 0.75: A's pitch, then B's
  np.testing.assert_array_equal(_pitch(z), np.concatenate(
      [_pitch(notes[0])[:1], _pitch(notes[1])[1:]]))
  grid, weights = latent_ops.grid_embeddings(np.stack(notes), 5,
                                             pitch_bins=BINS)
  _assert_two_hots(grid)
  for z, w in zip(grid, weights):
    np.testing.assert_array_equal(_pitch(z), _pitch(notes[int(np.argmax(w))]))
  # A float64 sum rounded to float32: half an ulp, 6e-8 (measured 4.4e-8).
  np.testing.assert_allclose(grid[:, :, :4], np.einsum(
      "pk,kfd->pfd", weights, np.stack(notes)[:, :, :4]), rtol=1e-7)
  nine = np.stack([_pitched([48.0 + i] * 2, 10 * i) for i in range(9)])
  _, mixed, corners, weights = latent_ops.multigrid_embeddings(
      nine, "2x2", resolution=3, pitch_bins=BINS)
  _assert_two_hots(mixed)
  for z, idx, w in zip(mixed, corners, weights):
    np.testing.assert_array_equal(_pitch(z), _pitch(nine[idx[np.argmax(w)]]))


def test_stretch_keeps_two_hots():
  """Stretching in time blends neighbouring frames' timbre only: a blend of
  51.8's and 52.3's two-hots would spread over three bins, and one of a
  voiced and an unvoiced frame would be a half-weight note."""
  a = _pitched([51.8, 52.3, None])
  stretched, _ = latent_ops.align(a, _z(5, 4 + BINS), "stretch",
                                  pitch_bins=BINS)
  # Output frames at input positions 0, 0.5, 1, 1.5, 2: halfway, the earlier.
  np.testing.assert_array_equal(_pitch(stretched), _pitch(a)[[0, 0, 1, 1, 2]])
  np.testing.assert_allclose(stretched[1, :4], (a[0, :4] + a[1, :4]) / 2)


def test_set_pitch_replaces_the_pitch_of_voiced_frames():
  a = _pitched([50.0, None, 53.7])
  got = latent_ops.set_pitch(a, 57.25, BINS, MIN_MIDI)
  np.testing.assert_array_equal(got[:, :4], a[:, :4])
  want = np.zeros(BINS, np.float32)
  want[57 - MIN_MIDI:59 - MIN_MIDI] = [0.75, 0.25]
  np.testing.assert_allclose(_pitch(got), [want, np.zeros(BINS), want])
  with pytest.raises(LatentError, match=r"--pitch=60 is outside .* 48 \.\. 59"):
    latent_ops.set_pitch(a, 60, BINS, MIN_MIDI)
  with pytest.raises(LatentError, match="pitch-conditioned"):
    latent_ops.set_pitch(a, 50, 0, MIN_MIDI)


@pytest.fixture
def pitch_model_dir(tmp_path, monkeypatch):
  """(model_dir, loaded, rendered) of a pitch-conditioned tiny config with
  no weights: `render` is replaced by one that records the embeddings."""
  from common import config as config_lib  # pylint: disable=g-import-not-at-top
  config = config_lib.load("wavenet", "tiny", dict(
      pitch_bins=BINS, pitch_min_midi=MIN_MIDI, sample_rate=RATE))
  model_dir = str(tmp_path / "model")
  os.makedirs(model_dir)
  config_lib.save(config, model_dir)
  rendered = []

  def render(model, config, embeddings, paths, seed=0, **_):
    del model, config
    rendered.extend(embeddings)
    return [dict(path=p, seed=seed + i, temperature=1.0)
            for i, p in enumerate(paths)]

  monkeypatch.setattr(latent_commands, "render", render)
  return model_dir, (None, config, 0, "ckpt"), rendered


def test_commands_keep_or_set_the_pitch(pitch_model_dir, tmp_path):
  model_dir, loaded, rendered = pitch_model_dir
  paths = []
  for i, midi in enumerate([50.0, 55.5, 58.0, 49.0]):
    paths.append(str(tmp_path / f"{i}.npy"))
    np.save(paths[-1], _pitched([midi, midi, None, midi], 10 * i))
  a = np.load(paths[0])
  out = str(tmp_path / "out")
  run = lambda cmd, args, **kw: latent_commands.run_command(
      cmd, args, model_dir, out, loaded=loaded, progress=False,
      name=f"{cmd}{len(rendered)}", **kw)

  info = run("scale", paths[:1], factor="0.4,2")
  assert info["pitch_conditioning"]["rule"] == (
      latent_commands.COMMANDS["scale"].pitch_rule)
  for z in rendered:
    np.testing.assert_array_equal(_pitch(z), _pitch(a))
  rendered.clear()
  run("grid", paths, grid=3)
  _assert_two_hots(np.stack(rendered))
  np.testing.assert_array_equal(_pitch(rendered[0]), _pitch(a))
  rendered.clear()
  info = run("interpolate", paths[:2], steps=3, pitch=58.5)
  assert info["pitch_conditioning"]["pitch"] == 58.5
  for z in rendered:
    np.testing.assert_allclose(_pitch(z)[[0, 1, 3], -2:], [[.5, .5]] * 3)
    np.testing.assert_array_equal(_pitch(z)[2], 0.0)  # unvoiced stays so
  with pytest.raises(LatentError, match="not both"):
    run("grid", paths, pitch=50.0, pitches="50")
  with pytest.raises(LatentError, match="outside"):
    run("scale", paths[:1], pitch=47.5)


def test_pitch_flag_needs_a_pitch_conditioned_model(tiny, tmp_path):
  model_dir, loaded, clips = tiny
  with pytest.raises(LatentError, match="pitch-conditioned"):
    latent_commands.run_command("scale", [str(clips / "a.wav")], model_dir,
                       str(tmp_path), loaded=loaded, pitch=60.0)


def test_output_i_is_the_generators_with_seed_plus_i(tiny, tmp_path):
  """Output i of a run with --seed=S is `common.generator.generate` with the
  seed S + i and its own temperature, alone; the JSON records both."""
  from common import family  # pylint: disable=g-import-not-at-top
  from common import generator  # pylint: disable=g-import-not-at-top
  from common import quantization  # pylint: disable=g-import-not-at-top
  model_dir, loaded, _ = tiny
  model, config = loaded[:2]
  z = _z(10) / 40.0
  np.save(str(tmp_path / "z.npy"), z)
  out = str(tmp_path / "out")
  info = latent_commands.run_command(
      "scale", [str(tmp_path / "z.npy")], model_dir, out, loaded=loaded,
      factor="0.5,2,1", seed=5, temperature="0.9,1.1,1", batch_size=2,
      progress=False)
  assert [(o["seed"], o["temperature"]) for o in info["outputs"]] == [
      (5, 0.9), (6, 1.1), (7, 1.0)]
  gen = family.get("wavenet").generator(model, config)
  for i, factor in [(1, 2.0), (2, 1.0)]:  # the 2nd batch's is alone in it
    codes = generator.generate(gen, generator.Request.make(
        seed=5 + i, temperature=info["outputs"][i]["temperature"],
        embeddings=latent_ops.scale(z, factor)[None]), 10 * HOP)
    got, _ = sf.read(os.path.join(out, info["outputs"][i]["file"]),
                     dtype="float32")
    # 16-bit wavs: the companded levels lie at least 5 steps apart, so the
    # codes come back exactly.
    np.testing.assert_array_equal(quantization.encode(
        got, config["quantization"], config["q_levels"]), codes[0])
