"""Exports (`common.exporting`, `python -m common.export`): SavedModels that
TensorFlow alone runs with exactly neuralsynth's codes, and TFLite steps.

The three shipped models are exported once (SavedModel); one child process
in which neuralsynth cannot be imported (no checkout on its path, the
editable install's finder removed; it checks) loads them with TensorFlow and
NumPy only and generates: streamed SampleRNN blocks of two sequences with
their own temperatures, a primed SampleRNN, an unconditional WaveNet in
uneven blocks, the autoencoder's encode, decode and block-wise generate with
the pitch given apart. Its codes must equal the library's for the same seed
and temperature, its audio must not be silent. `saved_model_cli show --all`
runs beside it. The TFLite steps are the small presets' (random weights):
one second of generation in the LiteRT interpreter, whose logits must match
the TensorFlow step's on the same inputs.
"""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert import interpreter as litert

from common import audio
from common import checkpoint
from common import config as config_lib
from common import exporting
from common import generator as generator_lib
from common import model_api
from common import quantization
from eval import models
from samplernn import export as samplernn_export
from samplernn import model as samplernn_model
from wavenet import export as wavenet_export
from wavenet import fastgen
from wavenet import model as wavenet_model
from wavenet import pitch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRETRAINED = os.path.join(ROOT, "pretrained")
SEED = 11
RATE = 16000

# The README's example, run by the child on the exported shipped SampleRNN
# (its path put in place of this one).
README_EXAMPLE = textwrap.dedent('''
    import json
    import os

    import numpy as np
    import tensorflow as tf

    path = "exports/samplernn_bach/saved_model"
    rate = json.load(open(os.path.join(path, "assets", "export.json")))[
        "sample_rate"]
    model = tf.saved_model.load(path)
    generate = model.signatures["generate"]
    state = model.signatures["initial_state"](batch_size=tf.constant(1))
    blocks = []
    for _ in range(8):  # 8 blocks of 4096 samples, about 2 s at 16 kHz
      out = generate(**state, num_samples=tf.constant(4096),
                     temperature=tf.constant([1.0]),
                     seed=tf.constant(7, tf.int64))
      state = {name: out[name] for name in state}  # rnn, history, position
      blocks.append(out["audio"][0])  # float32 in [-1, 1]: play it, or
    wav = tf.audio.encode_wav(tf.concat(blocks, 0)[:, None], rate)
    tf.io.write_file("samplernn.wav", wav)
''')

# Runs in a process where neuralsynth cannot be imported: TensorFlow and
# NumPy only, as a user of an export has.
CHILD = textwrap.dedent(r'''
    import importlib.util
    import json
    import sys
    sys.meta_path = [f for f in sys.meta_path if not getattr(
        f, "__module__", "").startswith("__editable__")]
    for name in ("common", "samplernn", "wavenet", "eval"):
      if importlib.util.find_spec(name) is not None:
        raise SystemExit(f"neuralsynth is importable here ({name})")
    import numpy as np
    import tensorflow as tf

    plan = json.load(open(sys.argv[1]))
    seed = tf.constant(plan["seed"], tf.int64)
    out = {}

    def signatures(name):
      return tf.saved_model.load(plan["exports"][name]).signatures

    def stream(sigs, state, blocks, temperature, prefix):
      codes, audio = [], []
      for block in blocks:
        made = sigs["generate"](**state, **block, seed=seed,
                                temperature=tf.constant(temperature))
        state = {k: made[k] for k in state}
        codes.append(made["codes"].numpy())
        audio.append(made["audio"].numpy())
      out[prefix + "codes"] = np.concatenate(codes, 1)
      out[prefix + "audio"] = np.concatenate(audio, 1)
      out[prefix + "position"] = state["position"].numpy()

    srnn = signatures("samplernn_bach")
    state = srnn["initial_state"](batch_size=tf.constant(2))
    stream(srnn, state, [dict(num_samples=tf.constant(n)) for n in (1024, 512)],
           [1.0, 0.9], "srnn_")
    state = srnn["initial_state"](batch_size=tf.constant(2))
    state = srnn["prime"](**state, audio=tf.constant(plan["prime"]))
    stream(srnn, state, [dict(num_samples=tf.constant(1024))], [1.0, 0.9],
           "primed_")

    bach = signatures("wavenet_bach")
    state = bach["initial_state"](batch_size=tf.constant(1))
    stream(bach, state, [dict(num_samples=tf.constant(n)) for n in (300, 212)],
           [0.9], "bach_")

    notes = signatures("wavenet_notes")
    encoded = {k: v.numpy() for k, v in notes["encode"](
        audio=tf.constant(plan["note"])).items()}
    out.update(("encoded_" + k, v) for k, v in encoded.items())
    made = notes["decode"](**encoded, temperature=tf.constant([1.0]),
                           seed=seed)
    out["decoded_codes"] = made["codes"].numpy()
    out["decoded_audio"] = made["audio"].numpy()
    state = notes["initial_state"](batch_size=tf.constant(1))
    stream(notes, state, [{k: v[:, f:g] for k, v in encoded.items()}
                          for f, g in ((0, 3), (3, None))], [1.0], "notes_")
    out["pitch"] = notes["pitch_from_midi"](
        midi=tf.constant([[57.25, 0.0]]))["pitch"].numpy()
    np.savez(sys.argv[2], **out)

    exec(compile(plan["readme_example"], "README example", "exec"), {})

    # `saved_model_cli show --all`: the command's own main, in this process
    # (TensorFlow is loaded already).
    import contextlib
    import io
    from tensorflow.python.tools import saved_model_cli
    listing = io.StringIO()
    sys.argv = ["saved_model_cli", "show", "--dir",
                plan["exports"]["samplernn_bach"], "--all"]
    with contextlib.redirect_stdout(listing):
      try:
        saved_model_cli.main()
      except SystemExit as e:
        assert not e.code, e.code
    with open(plan["listing"], "w") as f:
      f.write(listing.getvalue())
''')


def _clip(folder, name, seconds):
  return audio.load(os.path.join(PRETRAINED, "clips", folder, name),
                    sample_rate=RATE)[:int(seconds * RATE)]


@pytest.fixture(scope="module", autouse=True)
def child(tmp_path_factory):
  """The three shipped models, loaded and exported; the TensorFlow-only
  child started on the exports (it runs while the TFLite tests do).

  Yields:
    (their `checkpoint.load`s, the export paths, the plan, the child
    process, where it writes its results).
  """
  root = tmp_path_factory.mktemp("export")
  loads, paths = {}, {}
  for name, max_batch in (("samplernn_bach", 2), ("wavenet_bach", 1),
                          ("wavenet_notes", 1)):
    model_dir = os.path.join(PRETRAINED, name)
    loads[name] = checkpoint.load(model_dir)
    paths[name] = exporting.write_export(
        loads[name], model_dir, str(root / name),
        max_batch=max_batch)["saved_model"]
  prime = _clip("music", "bwv394_piano.flac", 0.25)
  plan = dict(exports=paths, seed=SEED, listing=str(root / "listing.txt"),
              readme_example=README_EXAMPLE.replace(
                  "exports/samplernn_bach/saved_model",
                  paths["samplernn_bach"]),
              prime=[prime.tolist(), prime[::-1].tolist()],
              note=_clip("notes", "guitar_nylon_024-060-100.flac",
                         0.25)[None].tolist())
  with open(root / "plan.json", "w") as f:
    json.dump(plan, f)
  (root / "child.py").write_text(CHILD)
  results = str(root / "results.npz")
  outside = str(tmp_path_factory.mktemp("outside"))  # not the checkout
  plan["readme_wav"] = os.path.join(outside, "samplernn.wav")
  process = subprocess.Popen(
      [sys.executable, "-I", str(root / "child.py"), str(root / "plan.json"),
       results], cwd=outside, stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT, text=True)
  yield loads, paths, plan, process, results
  if process.poll() is None:
    process.kill()
  process.communicate()


@pytest.fixture(scope="module")
def shipped(child):  # pylint: disable=redefined-outer-name
  """(the library's generators of the shipped models, the child's results,
  the export paths, `saved_model_cli show --all` of the SampleRNN, the
  plan)."""
  loads, paths, plan, process, results = child
  library = {name: models.from_model(loaded.model, loaded.config, name)
             for name, loaded in loads.items()}
  log = process.communicate(timeout=600)[0]
  assert process.returncode == 0, log[-3000:]
  with open(plan["listing"]) as f:
    listing = f.read()
  return library, dict(np.load(results)), paths, listing, plan


def _library_codes(loaded, request, num_samples):
  return generator_lib.generate(loaded.generator, request, num_samples)


def _not_silent(audio_out, codes):
  """Audio that is the codes' (decoded) and not silence."""
  np.testing.assert_array_equal(audio_out, quantization.decode(codes))
  assert np.std(audio_out) > 0.01 and len(np.unique(codes)) > 20


# ---------------------------------------------------------------------------
# TFLite: the small presets' steps.
# ---------------------------------------------------------------------------


def _random_model(build, family, preset, **overrides):
  keras.utils.set_random_seed(0)
  config = config_lib.load(family, preset, overrides or None)
  config["sample_rate"] = RATE
  return model_api.build(build(config)), config


def _interpreter(exportable):
  """The LiteRT interpreter of the exported functions."""
  return litert.Interpreter(model_content=exporting.tflite_model(exportable))


def _no_hidden_state(runner, inputs):
  """The same inputs give the same outputs: the state is all explicit."""
  first, again = runner(**inputs), runner(**inputs)
  for name in first:
    np.testing.assert_array_equal(again[name], first[name])


def _tensorflow(function, inputs):
  """A signature function called in TensorFlow with named inputs."""
  return {k: v.numpy() for k, v in function(*[
      tf.constant(inputs[spec.name]) for spec in function.input_signature
  ]).items()}


def test_samplernn_tflite_step_matches_tensorflow():
  """One second of generation, a top frame per call, from the state the
  model's `initial_state` gives; TensorFlow's step checked on every
  tenth call (it is slow to call from Python)."""
  model, config = _random_model(samplernn_model.build_model, "samplernn",
                                "small")
  exportable = samplernn_export.tflite(model, config)
  interpreter = _interpreter(exportable)
  step = interpreter.get_signature_runner("step")
  state = interpreter.get_signature_runner("initial_state")()
  sampling = dict(temperature=np.ones(1, np.float32),
                  seed=np.array(SEED, np.int64))
  _no_hidden_state(step, dict(state, **sampling))
  codes, worst = [], 0.0
  for call in range(RATE // 64):
    inputs = dict(state, **sampling)
    made = step(**inputs)
    if call % 10 == 0:
      want = _tensorflow(exportable.functions["step"], inputs)
      worst = max(worst, np.abs(made["logits"] - want["logits"]).max())
      np.testing.assert_array_equal(made["codes"], want["codes"])
    codes.append(made["codes"])
    state = {k: made[k] for k in state}
  assert worst < 1e-4, worst  # measured: 2.4e-6 (logits up to ~3)
  np.testing.assert_array_equal(np.concatenate(codes, 1), _library_codes(
      models.from_model(model, config, "small"),
      generator_lib.Request.make(1, SEED, 1.0), RATE))


@pytest.mark.parametrize("preset,samples,check_every,library",
                         [("tiny", RATE, 64, True),
                          ("small", 128, 16, False)])
def test_wavenet_tflite_step_matches_tensorflow(preset, samples, check_every,
                                                library):
  """The autoencoder with pitch conditioning and the period input: its
  conditioning (`condition`) once per frame, then a step per sample. One
  second of the tiny preset; of the small preset, whose per-sample call
  copies its 1 MB of queues in and out (~1,000 samples/s from Python), the
  first 128 samples. TensorFlow's step is checked every `check_every`
  samples (it is slow to call from Python); the tiny preset's second must
  be the library's codes (`library`)."""
  model, config = _random_model(wavenet_model.build_model, "wavenet", preset,
                                pitch_bins=73, pitch_period_input=True)
  exportable = wavenet_export.tflite(model, config)
  interpreter = _interpreter(exportable)
  condition = interpreter.get_signature_runner("condition")
  step = interpreter.get_signature_runner("step")
  state = interpreter.get_signature_runner("initial_state")()
  hop, width = int(config["hop_length"]), int(config["bottleneck_width"])
  frames = -(-samples // hop)
  embeddings = np.random.default_rng(0).normal(
      0.0, 0.5, [frames, 1, width]).astype(np.float32)
  pitches = pitch.two_hot(tf.fill([frames, 1], 57.0), 73, 24).numpy()
  sampling = dict(temperature=np.ones(1, np.float32),
                  seed=np.array(SEED, np.int64))
  codes, worst = [], 0.0
  for t in range(samples):
    if t % hop == 0:
      given = dict(embeddings=embeddings[t // hop], pitch=pitches[t // hop])
      terms = condition(**given)
      want = _tensorflow(exportable.functions["condition"], given)
      for name in terms:
        np.testing.assert_allclose(terms[name], want[name], atol=1e-4)
    inputs = dict(state, **sampling, **terms)
    if t == 0:
      _no_hidden_state(step, inputs)
    made = step(**inputs)
    if t % check_every == 0:
      want = _tensorflow(exportable.functions["step"], inputs)
      worst = max(worst, np.abs(made["logits"] - want["logits"]).max())
      np.testing.assert_array_equal(made["codes"], want["codes"])
    codes.append(made["codes"])
    state = {k: made[k] for k in state}
  assert worst < 1e-4, worst  # measured: 4e-6 (small), 1e-6 (tiny)
  if not library:
    return
  loaded = models.from_model(model, config, preset)
  assert isinstance(loaded.generator, fastgen.FastGenerator)
  want = _library_codes(loaded, generator_lib.Request.make(
      seed=SEED, temperature=1.0, embeddings=np.concatenate(
          [embeddings, pitches], -1).transpose(1, 0, 2)), frames * hop)
  np.testing.assert_array_equal(np.stack(codes, 1), want[:, :samples])


# ---------------------------------------------------------------------------
# SavedModels of the shipped models, run without neuralsynth.
# ---------------------------------------------------------------------------


def test_samplernn_export_streams_the_library_codes(shipped):
  """Two sequences (seeds SEED and SEED + 1) with their own temperatures,
  in two blocks. (From a new state the shipped model starts in digital
  silence and stays near it for a while: its sound is checked primed.)"""
  library, got, _, _, _ = shipped
  loaded = library["samplernn_bach"]
  want = _library_codes(loaded, generator_lib.Request.make(
      2, SEED, [1.0, 0.9]), 1536)
  np.testing.assert_array_equal(got["srnn_codes"], want)
  np.testing.assert_array_equal(got["srnn_audio"],
                                quantization.decode(got["srnn_codes"]))
  assert got["srnn_position"] == 1536


def test_samplernn_export_primes_as_the_library(shipped):
  library, got, _, _, plan = shipped
  prime = quantization.encode(np.asarray(plan["prime"], np.float32))
  want = _library_codes(library["samplernn_bach"], generator_lib.Request.make(
      seed=SEED, temperature=[1.0, 0.9], prime_codes=prime), 1024)
  np.testing.assert_array_equal(got["primed_codes"], want)
  _not_silent(got["primed_audio"], got["primed_codes"])


def test_unconditional_wavenet_export_gives_the_library_codes(shipped):
  library, got, _, _, _ = shipped
  want = _library_codes(library["wavenet_bach"],
                        generator_lib.Request.make(1, SEED, 0.9), 512)
  np.testing.assert_array_equal(got["bach_codes"], want)
  _not_silent(got["bach_audio"], got["bach_codes"])


def test_autoencoder_export_encodes_and_decodes_as_the_library(shipped):
  library, got, _, _, plan = shipped
  loaded = library["wavenet_notes"]
  note = quantization.encode(np.asarray(plan["note"], np.float32))
  frames = np.concatenate([got["encoded_embeddings"], got["encoded_pitch"]],
                          axis=-1)
  # The encoder in a graph rounds a little otherwise than eagerly
  # (measured: at most 4e-6 on values up to ~3).
  np.testing.assert_allclose(frames, loaded.generator.encode(note),
                             atol=1e-4)
  assert got["encoded_pitch"].shape[-1] == 73
  want = _library_codes(loaded, generator_lib.Request.make(
      seed=SEED, temperature=1.0, embeddings=frames), frames.shape[1] * 512)
  np.testing.assert_array_equal(got["decoded_codes"], want)
  np.testing.assert_array_equal(got["notes_codes"], want)
  _not_silent(got["decoded_audio"], got["decoded_codes"])
  np.testing.assert_array_equal(got["pitch"], pitch.two_hot(
      tf.constant([[57.25, 0.0]]), 73, 24).numpy())


def test_readme_example_streams_audio(shipped):
  """The README's example, run without neuralsynth: two seconds of 16 kHz
  audio. (The shipped model starts in near-silence: its sound comes after
  about a second.)"""
  _, _, _, _, plan = shipped
  wav = tf.audio.decode_wav(tf.io.read_file(plan["readme_wav"]))
  assert int(wav.sample_rate) == RATE and wav.audio.shape == (8 * 4096, 1)
  assert np.std(wav.audio.numpy()[-RATE // 2:]) > 0.01


def test_exports_describe_themselves(shipped):
  """`saved_model_cli show --all` lists the signatures with their shapes;
  export.json says the same and the data settings; the assets read
  without neuralsynth (plain JSON and Markdown)."""
  _, _, paths, listing, _ = shipped
  for name in ("initial_state", "generate", "prime"):
    assert f"signature_def['{name}']" in listing
  assert "inputs['rnn'] tensor_info:\n        dtype: DT_FLOAT\n        " \
         "shape: (4, -1, 256)" in listing
  signatures = {"samplernn_bach": {"initial_state", "generate", "prime"},
                "wavenet_bach": {"initial_state", "generate"},
                "wavenet_notes": {"initial_state", "generate", "encode",
                                  "decode", "pitch_from_midi"}}
  for name, path in paths.items():
    assets = os.path.join(path, "assets")
    with open(os.path.join(assets, "export.json")) as f:
      described = json.load(f)
    assert set(described["signatures"]) == signatures[name]
    assert (described["sample_rate"], described["quantization"],
            described["q_levels"]) == (16000, "mu_law", 256)
    with open(os.path.join(assets, "config.json")) as f:
      assert json.load(f)["family"] == described["family"]
    assert os.path.isfile(os.path.join(assets, "data_settings.json"))
    with open(os.path.join(assets, "MODEL_CARD.md")) as f:
      assert name in f.read()
  with open(os.path.join(paths["wavenet_notes"], "assets",
                         "export.json")) as f:
    described = json.load(f)
  assert (described["hop_length"], described["block_multiple"],
          described["pitch_bins"]) == (512, 512, 73)
  assert described["signatures"]["decode"]["inputs"]["pitch"]["shape"] == [
      None, None, 73]


def test_an_export_is_never_overwritten_silently(shipped, tmp_path):
  _, _, paths, _, _ = shipped
  existing = os.path.dirname(paths["wavenet_bach"])
  with pytest.raises(FileExistsError, match="already exists"):
    exporting.export(os.path.join(PRETRAINED, "wavenet_bach"), existing)
  with pytest.raises(exporting.ExportError, match="--format=onnx"):
    exporting.export(os.path.join(PRETRAINED, "wavenet_bach"),
                     str(tmp_path / "new"), formats=("onnx",))


def test_a_killed_export_leaves_no_directory(tmp_path):
  """The directory appears whole or not at all; a killed run's scratch
  folder is removed by the next run."""
  target = tmp_path / "out"

  def fail(folder):
    with open(os.path.join(folder, "part"), "w") as f:
      f.write("half")
    raise KeyboardInterrupt

  with pytest.raises(KeyboardInterrupt):
    exporting.write_new_directory(str(target), fail)
  assert os.listdir(tmp_path) == []
  (tmp_path / ".out.abcd1234.tmp").mkdir()  # as a kill -9 leaves it
  exporting.write_new_directory(str(target), lambda d: None)
  assert os.listdir(tmp_path) == ["out"]
