"""Tests for the encode and synthesize CLIs and libraries (wavenet/embeddings.py,
embeddings.py, synthesize.py, synthesis.py) on the tiny presets.

An untrained tiny autoencoder (hop 32, bottleneck 4) saved as a model
directory; clips of 0.1-0.3 s. The round trip runs the real CLIs in
subprocesses; error paths fail before TensorFlow is imported, so they are
quick.
"""

import math
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from common import files
from conftest import ROOT, tone, write_audio
from common import generator as generator_lib
from wavenet import embeddings
from wavenet import synthesis

HOP = 32
RATE = 16000


def _make_model_dir(path, preset="tiny", **overrides):
  """Writes config.json + checkpoints/ for an untrained model; returns it."""
  import keras  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from common import config as config_lib  # pylint: disable=g-import-not-at-top
  from common import model_api  # pylint: disable=g-import-not-at-top
  from wavenet import model as model_lib  # pylint: disable=g-import-not-at-top
  keras.utils.set_random_seed(0)
  config = config_lib.load("wavenet", preset, overrides or None)
  config["sample_rate"] = RATE
  model = model_api.build(model_lib.build_model(config))
  os.makedirs(path, exist_ok=True)
  config_lib.save(config, path)
  tf.train.CheckpointManager(
      tf.train.Checkpoint(model=model, step=tf.Variable(0, dtype=tf.int64)),
      os.path.join(path, "checkpoints"), 1).save()
  return model, config


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
  """(model_dir, model, config, clips dir): a.wav and c.wav are 0.1 s at
  16 kHz (batched together), sub/b.flac 0.15 s stereo at 22.05 kHz."""
  root = tmp_path_factory.mktemp("encsyn")
  model_dir = str(root / "model")
  model, config = _make_model_dir(model_dir)
  clips = root / "clips"
  (clips / "sub").mkdir(parents=True)
  write_audio(clips / "a.wav", tone((220.0,), 0.1), RATE)
  write_audio(clips / "c.wav", tone((440.0,), 0.1), RATE)
  x = tone((330.0,), 0.15, 22050)
  write_audio(clips / "sub" / "b.flac", np.stack([x, 0.5 * x], 1), 22050,
              "flac")
  return model_dir, model, config, clips


def _cli(module, *args):
  return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT,
                        text=True, capture_output=True, timeout=300)


def _one_line_error(result, *needles):
  assert result.returncode == 1, result.stderr
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
  for needle in needles:
    assert needle in lines[0]


def test_encode_then_synthesize_round_trip_cli(tiny, tmp_path):
  model_dir, _, _, clips = tiny
  emb, wavs = str(tmp_path / "emb"), str(tmp_path / "wav")
  result = _cli("wavenet.encode", f"--model_dir={model_dir}",
                f"--input={clips}", f"--output_dir={emb}", "--batch_size=2")
  assert result.returncode == 0, result.stderr
  frames = {}
  for stem in ("a", "c", "sub/b"):
    z = np.load(os.path.join(emb, stem + ".npy"))
    meta = files.read_json(os.path.join(emb, stem + ".json"))
    assert z.dtype == np.float32 and z.shape == (meta["frames"], 4)
    assert meta["frames"] == math.ceil(meta["samples"] / HOP)
    assert (meta["sample_rate"], meta["hop_length"]) == (RATE, HOP)
    assert meta["source"].endswith(stem + (".flac" if "b" in stem else
                                           ".wav"))
    assert meta["checkpoint_step"] == 0 and meta["model_dir"]
    frames[stem] = meta["frames"]
  assert frames["a"] == 50 and abs(frames["sub/b"] - 75) <= 1

  result = _cli("wavenet.synthesize", f"--model_dir={model_dir}",
                f"--embeddings={emb}", f"--output_dir={wavs}",
                "--temperature=0.9,1.0,1.1", "--seed=3", "--batch_size=2")
  assert result.returncode == 0, result.stderr
  for i, (stem, temperature) in enumerate((("a", 0.9), ("c", 1.0),
                                           ("sub/b", 1.1))):
    data, rate = sf.read(os.path.join(wavs, stem + ".wav"))
    assert rate == RATE and len(data) == frames[stem] * HOP
    meta = files.read_json(os.path.join(wavs, stem + ".json"))
    assert meta["frames"] == frames[stem]
    assert meta["samples"] == frames[stem] * HOP
    assert meta["temperature"] == temperature
    assert meta["seed"] == 3 + i  # output i (input order): seed + i
    assert meta["source"].endswith(stem + ".npy")

  # Nothing is overwritten silently (these fail before TF is imported).
  _one_line_error(_cli("wavenet.encode", f"--model_dir={model_dir}",
                       f"--input={clips}", f"--output_dir={emb}"),
                  "already exists", "--overwrite")
  _one_line_error(_cli("wavenet.synthesize", f"--model_dir={model_dir}",
                       f"--embeddings={emb}", f"--output_dir={wavs}"),
                  "already exists")


def test_bad_inputs_give_one_line_errors(tiny, tmp_path):
  model_dir = tiny[0]
  bad = tmp_path / "bad.wav"
  bad.write_text("not audio at all\n" * 10)
  _one_line_error(_cli("wavenet.encode", f"--model_dir={model_dir}",
                       f"--input={bad}", f"--output_dir={tmp_path / 'o'}"),
                  str(bad), "not a readable audio file")
  np.save(str(tmp_path / "wrong.npy"), np.zeros([5, 7], np.float32))
  with pytest.raises(embeddings.EmbeddingsError,
                     match=r"wrong.npy: embeddings must be "
                     r"\[frames, 4\]"):
    synthesis.synthesize_files(model_dir, str(tmp_path / "o"),
                                embeddings=str(tmp_path / "wrong.npy"))
  (tmp_path / "junk.npy").write_bytes(b"junk")
  with pytest.raises(embeddings.EmbeddingsError,
                     match="junk.npy: not a NumPy"):
    embeddings.load_embeddings(str(tmp_path / "junk.npy"), 4)
  with pytest.raises(synthesis.SynthesisError, match="is an autoencoder"):
    synthesis.synthesize_files(model_dir, str(tmp_path / "o"), seconds=1.0)


def test_help():
  for module, needle in (("wavenet.encode", "--input=notes/"),
                         ("wavenet.synthesize", "--embeddings=embeddings/")):
    result = _cli(module, "--help")
    assert needle in result.stdout + result.stderr
    assert "--model_dir" in result.stdout + result.stderr


def test_windowed_and_batched_encoding_equal_whole(tiny):
  _, model, config, _ = tiny
  x = tone((220.0, 330.0), 0.3)  # 4800 samples = 150 frames
  whole = embeddings.encode_audio(model, config, x)
  assert whole.shape == (150, 4)
  assert embeddings.encoder_context(config) == 32  # (3 - 1) * (1 + 14) -> 32
  for window in (640, 1600):
    np.testing.assert_allclose(embeddings.encode_audio(model, config, x, window),
                               whole, atol=1e-5)
  odd = x[:1000]  # 1000 samples -> ceil(1000 / 32) = 32 frames
  assert embeddings.encode_audio(model, config, odd).shape == (32, 4)
  np.testing.assert_allclose(embeddings.encode_audio(model, config, odd, 320),
                             embeddings.encode_audio(model, config, odd),
                             atol=1e-5)
  batch = embeddings.encode_batch(model, np.stack([
      embeddings.audio_to_codes(config, x), embeddings.audio_to_codes(config, -x)]))
  np.testing.assert_allclose(batch[0], whole, atol=1e-5)


def test_pitch_conditioned_model_encodes_and_synthesizes(tiny, tmp_path):
  """Embeddings gain the pitch two-hot; long files still encode in windows,
  with the YIN window's reach as context; the synthesizer reads them. (The
  library functions behind the CLIs: the round-trip test runs the CLIs.)"""
  _, _, _, clips = tiny
  model_dir = str(tmp_path / "pitch_model")
  model, config = _make_model_dir(model_dir, pitch_bins=12, pitch_min_midi=48)
  assert embeddings.embedding_width(config) == 16
  assert embeddings.encoder_context(config) == 1024  # 2048 / 2 - 16 -> 32 frames
  x = tone((220.0,), 0.3)  # MIDI 57: bin 9
  whole = embeddings.encode_audio(model, config, x)
  assert whole.shape == (150, 16)
  assert np.all(np.argmax(whole[20:130, 4:], axis=1) == 9)
  np.testing.assert_allclose(embeddings.encode_audio(model, config, x, 1280),
                             whole, atol=1e-5)
  emb, wavs = str(tmp_path / "emb"), str(tmp_path / "wav")
  embeddings.encode_files(model_dir, str(clips / "a.wav"), emb, progress=False)
  meta = files.read_json(os.path.join(emb, "a.json"))
  assert (meta["bottleneck_width"], meta["pitch_bins"]) == (4, 12)
  assert np.load(os.path.join(emb, "a.npy")).shape == (50, 16)
  synthesis.synthesize_files(model_dir, wavs, embeddings=emb, transpose=-2,
                              progress=False)
  assert len(sf.read(os.path.join(wavs, "a.wav"))[0]) == 50 * HOP
  assert files.read_json(os.path.join(wavs, "a.json"))["transpose"] == -2
  # Embeddings of the model without pitch do not fit it.
  np.save(tmp_path / "narrow.npy", np.zeros([50, 4], np.float32))
  with pytest.raises(embeddings.EmbeddingsError,
                     match=r"narrow\.npy.*\[frames, 16\]"):
    synthesis.synthesize_files(model_dir, str(tmp_path / "out"),
                                embeddings=str(tmp_path / "narrow.npy"),
                                progress=False)


def test_transpose_moves_the_pitch_two_hot():
  z = np.zeros([3, 2 + 6], np.float32)
  z[:, :2] = 7.0                    # learned values stay as they are
  z[0, 2 + 1] = 1.0                 # bin 1
  z[1, 2 + 4:2 + 6] = [0.5, 0.5]    # bin 4.5
  up = embeddings.transpose(z, 1.25, 2)
  np.testing.assert_array_equal(up[:, :2], 7.0)
  np.testing.assert_allclose(up[0, 2:], [0, 0, 0.75, 0.25, 0, 0])
  np.testing.assert_allclose(up[1, 2:], [0, 0, 0, 0, 0, 0.375])  # rest: off
  np.testing.assert_array_equal(up[2, 2:], 0.0)  # unvoiced stays unvoiced
  np.testing.assert_allclose(embeddings.transpose(z, -1, 2)[0, 2:],
                             [1, 0, 0, 0, 0, 0])
  np.testing.assert_array_equal(embeddings.transpose(z, 0, 2), z)
  np.testing.assert_array_equal(embeddings.transpose(z, 9, 2)[:, 2:], 0.0)


def test_transpose_needs_pitch_conditioning(tiny, tmp_path):
  model_dir, _, _, clips = tiny
  _one_line_error(_cli("wavenet.synthesize", f"--model_dir={model_dir}",
                       f"--input={clips / 'a.wav'}", "--transpose=3",
                       f"--output_dir={tmp_path / 'out'}"),
                  model_dir, "pitch conditioning")


def test_resynthesis_and_unconditional(tiny, tmp_path):
  model_dir, model, config, clips = tiny
  out = str(tmp_path / "resynth")
  paths = synthesis.synthesize_files(model_dir, out,
                                      inputs=str(clips / "a.wav"),
                                      progress=False,
                                      loaded=(model, config, 0, None))
  assert paths == [os.path.join(out, "a.wav")]
  assert len(sf.read(paths[0])[0]) == 50 * HOP
  meta = files.read_json(os.path.join(out, "a.json"))
  assert meta["source_kind"] == "audio" and meta["source_samples"] == 1600

  uncond = str(tmp_path / "uncond")
  model, config = _make_model_dir(uncond, "tiny_unconditional")
  with pytest.raises(embeddings.EmbeddingsError, match="unconditional"):
    embeddings.encode_files(uncond, str(clips), str(tmp_path / "e"))
  paths = synthesis.synthesize_files(uncond, out, seconds=0.05, num_seqs=2,
                                      temperature="0.5,1", progress=False,
                                      loaded=(model, config, 0, None))
  assert [os.path.basename(p) for p in paths] == ["wavenet_0.wav",
                                                  "wavenet_1.wav"]
  assert all(len(sf.read(p)[0]) == 800 for p in paths)
  assert files.read_json(os.path.join(out, "wavenet_1.json"))[
      "temperature"] == 1.0


def test_outputs_keep_their_seed_whatever_their_batch(tiny, tmp_path):
  """Output i has the seed seed + i and the codes the generator makes for
  that seed alone: batched 3 together, one by one, or from another tool
  (`common.generator.generate` on a one-sequence request)."""
  _, model, config, _ = tiny
  rng = np.random.default_rng(0)
  zs = [rng.normal(size=[4, 4]).astype(np.float32) for _ in range(3)]
  runs = {}
  for batch_size in (3, 1):
    paths = [str(tmp_path / f"b{batch_size}" / f"{i}.wav") for i in range(3)]
    results = synthesis.synthesize_embeddings(
        model, config, zs, paths, seed=7, temperature=[1.0, 0.5, 1.0],
        batch_size=batch_size, progress=False)
    assert [r["seed"] for r in results] == [7, 8, 9]
    assert [files.read_json(files.sidecar_path(p))["seed"]
            for p in paths] == [7, 8, 9]
    runs[batch_size] = [sf.read(p, dtype="int16")[0] for p in paths]
  for together, alone in zip(runs[3], runs[1]):
    np.testing.assert_array_equal(together, alone)
  from wavenet import fastgen  # pylint: disable=g-import-not-at-top
  codes = generator_lib.generate(
      fastgen.generator(model, config),
      generator_lib.Request.make(seed=8, temperature=0.5,
                                 embeddings=zs[1][None]), 4 * HOP)
  decoded = sf.read(str(tmp_path / "b3" / "1.wav"), dtype="float32")[0]
  from common import quantization  # pylint: disable=g-import-not-at-top
  expected = quantization.decode(codes[0], "mu_law", 256)
  np.testing.assert_allclose(decoded, expected, atol=1 / 32768)
