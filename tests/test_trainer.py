"""The shared trainer, on a toy model that follows common.model_api."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from common import checkpoint
from common import model_api
from common import config as config_lib
from common import trainer
import toy_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def toy_config(**overrides):
  """A valid SampleRNN config (so configs check) read by `toy_model`."""
  cfg = config_lib.load("samplernn", "tiny")
  cfg.update(dim=8, quantization="mu_law", q_levels=256,
             batch_size=2, seq_len=16, num_windows=2, num_steps=8,
             checkpoint_every=4, validate_every=4, val_batches=1,
             summary_every=2, audio_summary_every=0, shuffle_buffer=8)
  cfg.update(overrides)
  return cfg


def weights(model):
  return [v.numpy() for v in model.trainable_variables]


def train_quietly(cfg, data_dir, model_dir, **kwargs):
  return trainer.train(cfg, data_dir, str(model_dir), toy_model.build_model,
                       progress=False, log=lambda *_: None, **kwargs)


def test_resume_matches_uninterrupted_run(prepared_corpus, tmp_path):
  straight = train_quietly(toy_config(), prepared_corpus, tmp_path / "a")
  train_quietly(toy_config(num_steps=4), prepared_corpus, tmp_path / "b")
  resumed = train_quietly(toy_config(), prepared_corpus, tmp_path / "b")
  assert straight["step"] == resumed["step"] == 8
  model_a, _, step_a = checkpoint.load_model(
      str(tmp_path / "a"), toy_model.build_model, "last")
  model_b, _, step_b = checkpoint.load_model(
      str(tmp_path / "b"), toy_model.build_model, "last")
  assert step_a == step_b == 8
  for wa, wb in zip(weights(model_a), weights(model_b)):
    np.testing.assert_array_equal(wa, wb)
  assert straight["train_bits"] == resumed["train_bits"]


def test_xla_step_trains_like_the_plain_graph(prepared_corpus, tmp_path):
  plain = train_quietly(toy_config(), prepared_corpus, tmp_path / "plain")
  xla = train_quietly(toy_config(jit_compile=True), prepared_corpus,
                      tmp_path / "xla")
  assert xla["step"] == plain["step"] == 8
  np.testing.assert_allclose(xla["train_bits"], plain["train_bits"],
                             rtol=1e-3)
  model_p, _, _ = checkpoint.load_model(str(tmp_path / "plain"),
                                        toy_model.build_model, "last")
  model_x, _, _ = checkpoint.load_model(str(tmp_path / "xla"),
                                        toy_model.build_model, "last")
  for wp, wx in zip(weights(model_p), weights(model_x)):
    np.testing.assert_allclose(wx, wp, atol=1e-4)
  # The switch may change on resume: it does not change the model.
  train_quietly(toy_config(num_steps=10), prepared_corpus, tmp_path / "xla")


def test_jit_compile_switch_reaches_the_step():
  model = model_api.build(toy_model.build_model(toy_config()))
  optimizer = tf.keras.optimizers.Adam(1e-3)
  strategy = tf.distribute.get_strategy()
  on = trainer.make_train_step(model, optimizer, toy_config(jit_compile=True),
                               strategy)
  off = trainer.make_train_step(model, optimizer, toy_config(), strategy)
  cfg = toy_config()
  window = tf.zeros([2, model.context_length + cfg["seq_len"]], tf.int32)
  state = model.initial_state(2)
  key = trainer.step_key(0, 0)

  def must_compile(step):
    attrs = step.get_concrete_function(window, state, key).function_def.attr
    return "_XlaMustCompile" in attrs and attrs["_XlaMustCompile"].b

  assert must_compile(on) and not must_compile(off)


def test_checkpoints_best_and_config_are_written(prepared_corpus, tmp_path):
  result = train_quietly(toy_config(keep_checkpoints=1), prepared_corpus,
                         tmp_path)
  names = os.listdir(tmp_path / "checkpoints")
  assert [n for n in names if n.endswith(".index")] == ["ckpt-8.index"]
  assert os.listdir(tmp_path / "best")
  best = json.loads((tmp_path / "best.json").read_text())
  assert best["nll_bits"] == result["best"]["nll_bits"] > 0
  saved = config_lib.load_saved(str(tmp_path))
  assert saved["sample_rate"] == 16000 and saved["q_levels"] == 256
  assert os.listdir(tmp_path / "train") and os.listdir(tmp_path / "val")


def test_training_loss_falls_below_uniform(periodic_corpus, tmp_path):
  result = train_quietly(toy_config(num_steps=40, learning_rate=0.01,
                                    validate_every=40), periodic_corpus,
                         tmp_path)
  assert result["train_bits"] < 7.5  # uniform over 256 codes is 8


class NanAfter(toy_model.ToyRNN):
  """Produces NaN logits once its step counter passes a threshold."""

  def __init__(self, config):
    super().__init__(config)
    self.calls = tf.Variable(0, trainable=False)

  def call(self, codes, state=(), training=False):
    logits, state = super().call(codes, state, training)
    if training:
      self.calls.assign_add(1)
      logits = tf.cond(self.calls > 5, lambda: logits * np.nan,
                       lambda: logits)
    return logits, state


def test_nan_loss_stops_and_keeps_last_good_checkpoint(prepared_corpus,
                                                       tmp_path):
  with pytest.raises(trainer.TrainingError, match="NaN"):
    trainer.train(toy_config(num_steps=20), prepared_corpus, str(tmp_path),
                  NanAfter, progress=False, log=lambda *_: None)
  latest = tf.train.latest_checkpoint(str(tmp_path / "checkpoints"))
  assert latest.endswith("ckpt-4")
  model, _, _ = checkpoint.load_model(str(tmp_path), NanAfter, "last")
  assert all(np.all(np.isfinite(w)) for w in weights(model))


def test_other_config_in_same_model_dir_is_refused(prepared_corpus, tmp_path):
  train_quietly(toy_config(num_steps=2), prepared_corpus, tmp_path)
  with pytest.raises(trainer.TrainingError, match="dim"):
    train_quietly(toy_config(num_steps=4, dim=12), prepared_corpus, tmp_path)


def test_resume_may_lower_the_learning_rate(prepared_corpus, tmp_path):
  train_quietly(toy_config(num_steps=4), prepared_corpus, tmp_path)
  lower = dict(lr_schedule="piecewise", lr_boundaries=[6],
               lr_values=[1e-3, 1e-4])
  result = train_quietly(toy_config(num_steps=8, **lower), prepared_corpus,
                         tmp_path)
  assert result["step"] == 8
  saved = config_lib.load_saved(str(tmp_path))
  assert saved["lr_values"] == [1e-3, 1e-4]
  assert float(trainer.learning_rate(saved, 7)) == pytest.approx(1e-4)


def test_fine_tuning_starts_from_another_models_weights(prepared_corpus,
                                                        tmp_path):
  source_dir, tuned_dir = str(tmp_path / "source"), str(tmp_path / "tuned")
  train_quietly(toy_config(num_steps=4), prepared_corpus, source_dir)
  source, _, source_step = checkpoint.load_model(
      source_dir, toy_model.build_model, "best")
  # Fed differently, with a zero learning rate: the weights stay the source's.
  frozen = dict(batch_size=4, seq_len=32, learning_rate=0.0,
                min_learning_rate=0.0, checkpoint_every=2, validate_every=2)
  result = train_quietly(toy_config(num_steps=2, **frozen), prepared_corpus,
                         tuned_dir, init_from=source_dir)
  assert result["step"] == 2
  tuned, _, _ = checkpoint.load_model(tuned_dir, toy_model.build_model, "last")
  for ws, wt in zip(weights(source), weights(tuned)):
    np.testing.assert_array_equal(ws, wt)
  init = json.loads((tmp_path / "tuned" / trainer.INIT_NAME).read_text())
  assert init["step"] == source_step > 0
  assert init["checkpoint"].startswith(os.path.join(source_dir, "best"))
  # Re-running the command resumes the fine-tuned run.
  result = train_quietly(toy_config(num_steps=4, **frozen), prepared_corpus,
                         tuned_dir, init_from=source_dir)
  assert result["step"] == 4


def test_fine_tuning_refuses_another_model(prepared_corpus, tmp_path):
  source_dir = str(tmp_path / "source")
  train_quietly(toy_config(num_steps=2), prepared_corpus, source_dir)
  with pytest.raises(trainer.TrainingError, match="another model.*dim"):
    train_quietly(toy_config(num_steps=2, dim=12), prepared_corpus,
                  tmp_path / "wider", init_from=source_dir)
  assert not os.path.exists(tmp_path / "wider")  # nothing left to trip on
  with pytest.raises(trainer.TrainingError, match="no such model directory"):
    train_quietly(toy_config(num_steps=2), prepared_corpus,
                  tmp_path / "orphan", init_from=str(tmp_path / "nothing"))


def test_fine_tuning_may_add_pitch_conditioning(prepared_corpus, tmp_path):
  """An autoencoder gains pitch inputs: the weights that read them start at
  zero, so the new model first computes exactly what the source did."""
  from wavenet import model as wavenet_model  # pylint: disable=g-import-not-at-top
  base = dict(num_steps=2, checkpoint_every=2, validate_every=2,
              audio_summary_every=0)
  source_dir, tuned_dir = str(tmp_path / "ae"), str(tmp_path / "ae_pitch")
  build = wavenet_model.build_model
  trainer.train(config_lib.load("wavenet", "tiny", base), prepared_corpus,
                source_dir, build, progress=False, log=lambda *_: None)
  # Input jitter (training only) may be switched on at the same time.
  # Pitch training windows must hold a whole YIN window (2,064 at hop 32).
  pitch = dict(base, pitch_bins=12, pitch_min_midi=60, learning_rate=0.0,
               min_learning_rate=0.0, input_jitter=1, seq_len=2064)
  trainer.train(config_lib.load("wavenet", "tiny", pitch), prepared_corpus,
                tuned_dir, build, progress=False, log=lambda *_: None,
                init_from=source_dir)
  source, _, _ = checkpoint.load_model(source_dir, build, "best")
  tuned, _, _ = checkpoint.load_model(tuned_dir, build, "last")
  assert tuned.embedding_width == source.embedding_width + 12
  assert tuned.input_jitter == 1 and source.input_jitter == 0
  kernel = tuned.decoder.block_1.cond_proj.kernel.numpy()
  np.testing.assert_array_equal(
      kernel[:, :4], source.decoder.block_1.cond_proj.kernel.numpy())
  np.testing.assert_array_equal(kernel[:, 4:], 0.0)
  codes = tf.random.stateless_uniform([1, 300], [1, 2], 0, 256, tf.int32)
  np.testing.assert_allclose(tuned(codes)[0], source(codes)[0], atol=1e-5)
  # A pitch-conditioned model cannot change or drop its pitch bins.
  for bins in (24, 0):
    with pytest.raises(trainer.TrainingError, match="pitch"):
      trainer.train(config_lib.load("wavenet", "tiny", dict(
          pitch, pitch_bins=bins)), prepared_corpus, tmp_path / f"b{bins}",
                    build, progress=False, log=lambda *_: None,
                    init_from=tuned_dir)


def test_runs_saved_before_pitch_keys_existed_still_resume(prepared_corpus,
                                                           tmp_path):
  """A config.json written without the later pitch keys reads as having
  them off, so the same command resumes it."""
  from wavenet import model as wavenet_model  # pylint: disable=g-import-not-at-top
  model_dir = tmp_path / "old_ae"
  base = dict(num_steps=2, checkpoint_every=2, validate_every=2,
              audio_summary_every=0)
  run = lambda steps: trainer.train(
      config_lib.load("wavenet", "tiny", dict(base, num_steps=steps)),
      prepared_corpus, str(model_dir), wavenet_model.build_model,
      progress=False, log=lambda *_: None)
  run(2)
  path = model_dir / config_lib.CONFIG_NAME
  old = json.loads(path.read_text())
  del old["pitch_bins"], old["pitch_min_midi"]
  path.write_text(json.dumps(old))
  assert config_lib.load_saved(str(model_dir))["pitch_bins"] == 0
  assert run(4)["step"] == 4


def test_data_prepared_with_other_settings_is_refused(prepared_corpus,
                                                      tmp_path):
  with pytest.raises(config_lib.ConfigError, match="q_levels"):
    train_quietly(toy_config(q_levels=512), prepared_corpus, tmp_path)


def test_early_stopping(prepared_corpus, tmp_path):
  result = train_quietly(
      toy_config(num_steps=400, learning_rate=0.0, min_learning_rate=0.0,
                 validate_every=2, early_stopping_patience=2),
      prepared_corpus, tmp_path)
  assert result["stop_reason"] == "early stopping"
  assert result["step"] < 400


def test_learning_rate_schedules():
  cfg = toy_config(learning_rate=1.0, lr_decay_steps=10, lr_decay_rate=0.5,
                   lr_warmup_steps=0, min_learning_rate=0.1)
  assert float(trainer.learning_rate(cfg, 10)) == pytest.approx(0.5)
  assert float(trainer.learning_rate(cfg, 1000)) == pytest.approx(0.1)
  cfg = toy_config(lr_schedule="piecewise", lr_boundaries=[5, 10],
                   lr_values=[1.0, 0.5, 0.25], min_learning_rate=0.0)
  assert [float(trainer.learning_rate(cfg, s)) for s in (0, 5, 12)] == [
      1.0, 0.5, 0.25]
  cfg = toy_config(learning_rate=1.0, lr_warmup_steps=4, min_learning_rate=0)
  assert float(trainer.learning_rate(cfg, 1)) == pytest.approx(0.5)


def test_evaluate_nll_on_whole_split(prepared_corpus, tmp_path):
  train_quietly(toy_config(num_steps=2), prepared_corpus, tmp_path)
  model, cfg, _ = checkpoint.load_model(str(tmp_path), toy_model.build_model)
  result = trainer.evaluate_nll(model, cfg, prepared_corpus, "test")
  assert 0 < result["nll_bits"] < 9
  assert result["nll_nats"] == pytest.approx(result["nll_bits"] * np.log(2))


def test_mirrored_strategy_on_two_logical_cpus_resumes_exactly(
    prepared_corpus, tmp_path):
  """MirroredStrategy over two logical CPUs (each replica half the batch):
  a run stopped at step 4 and continued ends with the same checkpoint
  values, bit for bit, as a run never stopped."""
  script = textwrap.dedent(f"""
      import sys
      sys.path[:0] = [{ROOT!r}, {os.path.join(ROOT, 'tests')!r}]
      import tensorflow as tf
      cpu = tf.config.list_physical_devices("CPU")[0]
      tf.config.set_logical_device_configuration(
          cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
      from common import trainer
      import test_trainer, toy_model

      def train(steps, model_dir):
        return trainer.train(
            test_trainer.toy_config(num_steps=steps, validate_every=4),
            {prepared_corpus!r}, model_dir, toy_model.build_model,
            strategy="mirrored", progress=False)

      result = train(8, {str(tmp_path / "straight")!r})
      assert result["step"] == 8, result
      assert 0 < result["train_bits"] < 9, result
      train(4, {str(tmp_path / "resumed")!r})
      train(8, {str(tmp_path / "resumed")!r})
      print("replicas", tf.distribute.MirroredStrategy().num_replicas_in_sync)
  """)
  out = subprocess.run([sys.executable, "-c", script], capture_output=True,
                       text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-3000:]
  assert "replicas 2" in out.stdout
  read = lambda run: tf.train.load_checkpoint(
      str(tmp_path / run / "checkpoints" / "ckpt-8"))
  straight, resumed = read("straight"), read("resumed")
  keys = [k for k in straight.get_variable_to_shape_map()
          if not k.startswith(("save_counter", "_CHECKPOINTABLE"))]
  assert any(k.startswith("model/") for k in keys)
  for key in keys:
    np.testing.assert_array_equal(resumed.get_tensor(key),
                                  straight.get_tensor(key), err_msg=key)


class ListHeldLayers(toy_model.ToyRNN):
  """Holds an extra layer only inside a list: Keras 3 sees its weights, but
  tf.train.Checkpoint would not save them (the bug WaveNet once had)."""

  def __init__(self, config):
    super().__init__(config)
    self.extra = [keras.layers.Dense(config["q_levels"])]

  def call(self, codes, state=(), training=False):
    logits, state = super().call(codes, state, training)
    return self.extra[0](logits), state


def test_models_whose_weights_a_checkpoint_misses_are_refused():
  with pytest.raises(ValueError, match="not reachable by tf.train.Checkpoint"):
    model_api.build(ListHeldLayers(toy_config()))
  model_api.build(toy_model.ToyRNN(toy_config()))  # the plain one is fine
