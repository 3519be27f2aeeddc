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
from common import config as config_lib
from common import data
from common import family as family_lib
from common import fine_tune
from common import generator as generator_lib
from common import model_api
from common import quantization
from common import train_checkpoints
from common import train_step
from common import trainer
from common import validation
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
  model_a, _, step_a, _ = checkpoint.load(
      str(tmp_path / "a"), toy_model.build_model, "last")
  model_b, _, step_b, _ = checkpoint.load(
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
  model_p, _, _, _ = checkpoint.load(str(tmp_path / "plain"),
                                     toy_model.build_model, "last")
  model_x, _, _, _ = checkpoint.load(str(tmp_path / "xla"),
                                     toy_model.build_model, "last")
  for wp, wx in zip(weights(model_p), weights(model_x)):
    np.testing.assert_allclose(wx, wp, atol=1e-4)
  # The switch may change on resume: it does not change the model.
  train_quietly(toy_config(num_steps=10), prepared_corpus, tmp_path / "xla")


def test_jit_compile_switch_reaches_the_step():
  model = model_api.build(toy_model.build_model(toy_config()))
  optimizer = tf.keras.optimizers.Adam(1e-3)
  strategy = tf.distribute.get_strategy()
  on = train_step.make_train_step(model, optimizer,
                                  toy_config(jit_compile=True), strategy)
  off = train_step.make_train_step(model, optimizer, toy_config(), strategy)
  cfg = toy_config()
  window = tf.zeros([2, model.context_length + cfg["seq_len"]], tf.int32)
  state = model.initial_state(2)
  key = train_step.step_key(0, 0)

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
  model, _, _, _ = checkpoint.load(str(tmp_path), NanAfter, "last")
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
  assert float(train_step.learning_rate(saved, 7)) == pytest.approx(1e-4)


def test_fine_tuning_starts_from_another_models_weights(prepared_corpus,
                                                        tmp_path):
  source_dir, tuned_dir = str(tmp_path / "source"), str(tmp_path / "tuned")
  train_quietly(toy_config(num_steps=4), prepared_corpus, source_dir)
  source, _, source_step, _ = checkpoint.load(
      source_dir, toy_model.build_model, "best")
  # Fed differently, with a zero learning rate: the weights stay the source's.
  frozen = dict(batch_size=4, seq_len=32, learning_rate=0.0,
                min_learning_rate=0.0, checkpoint_every=2, validate_every=2)
  result = train_quietly(toy_config(num_steps=2, **frozen), prepared_corpus,
                         tuned_dir, init_from=source_dir)
  assert result["step"] == 2
  tuned, _, _, _ = checkpoint.load(tuned_dir, toy_model.build_model, "last")
  for ws, wt in zip(weights(source), weights(tuned)):
    np.testing.assert_array_equal(ws, wt)
  init = json.loads((tmp_path / "tuned" / fine_tune.INIT_NAME).read_text())
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
  source, _, _, _ = checkpoint.load(source_dir, build, "best")
  tuned, _, _, _ = checkpoint.load(tuned_dir, build, "last")
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


def test_fine_tuning_may_keep_fewer_decoder_layers(prepared_corpus, tmp_path):
  """A faster decoder starts from the source's first layers (their weights,
  the encoder's and the output stack's); the dropped layers are left behind;
  more layers than the source are refused."""
  from wavenet import model as wavenet_model  # pylint: disable=g-import-not-at-top
  base = dict(num_steps=2, checkpoint_every=2, validate_every=2,
              audio_summary_every=0)
  source_dir, tuned_dir = str(tmp_path / "ae"), str(tmp_path / "ae_short")
  build = wavenet_model.build_model
  source_config = config_lib.load("wavenet", "tiny", base)
  trainer.train(source_config, prepared_corpus, source_dir, build,
                progress=False, log=lambda *_: None)
  layers = source_config["num_layers"] - 2
  frozen = dict(base, num_layers=layers, learning_rate=0.0,
                min_learning_rate=0.0)
  trainer.train(config_lib.load("wavenet", "tiny", frozen), prepared_corpus,
                tuned_dir, build, progress=False, log=lambda *_: None,
                init_from=source_dir)
  source, _, _, _ = checkpoint.load(source_dir, build, "best")
  tuned, _, _, _ = checkpoint.load(tuned_dir, build, "last")
  assert len(tuned.decoder.blocks) == layers
  source_weights = {v.path: v.numpy() for v in source.weights}
  assert len(source_weights) > len(tuned.weights)
  for v in tuned.weights:  # every kept weight is the source's
    np.testing.assert_array_equal(v.numpy(), source_weights[v.path])
  with pytest.raises(trainer.TrainingError,
                     match="num_layers: saved .*keep fewer, not add more"):
    trainer.train(config_lib.load("wavenet", "tiny", dict(
        base, num_layers=source_config["num_layers"] + 1)), prepared_corpus,
                  tmp_path / "deeper", build, progress=False,
                  log=lambda *_: None, init_from=source_dir)


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
  assert float(train_step.learning_rate(cfg, 10)) == pytest.approx(0.5)
  assert float(train_step.learning_rate(cfg, 1000)) == pytest.approx(0.1)
  cfg = toy_config(lr_schedule="piecewise", lr_boundaries=[5, 10],
                   lr_values=[1.0, 0.5, 0.25], min_learning_rate=0.0)
  assert [float(train_step.learning_rate(cfg, s)) for s in (0, 5, 12)] == [
      1.0, 0.5, 0.25]
  cfg = toy_config(learning_rate=1.0, lr_warmup_steps=4, min_learning_rate=0)
  assert float(train_step.learning_rate(cfg, 1)) == pytest.approx(0.5)


def test_evaluate_nll_on_whole_split(prepared_corpus, tmp_path):
  train_quietly(toy_config(num_steps=2), prepared_corpus, tmp_path)
  model, cfg, _, _ = checkpoint.load(str(tmp_path), toy_model.build_model)
  result = validation.evaluate_nll(model, cfg, prepared_corpus, "test")
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


# ---------------------------------------------------------------------------
# The trainer's pieces, alone.


def test_a_validation_record_keeps_the_best_and_counts_the_others():
  best, improved = validation.record_validation(
      {}, dict(nll_bits=5.0, nll_nats=3.5), step=4)
  assert improved and best == dict(step=4, nll_bits=5.0, nll_nats=3.5,
                                   validations_since=0)
  tie, improved = validation.record_validation(
      best, dict(nll_bits=5.0, nll_nats=3.5), step=8)
  assert not improved and tie == dict(best, validations_since=1)
  assert not validation.patience_exhausted(tie, 2)
  worse, _ = validation.record_validation(
      tie, dict(nll_bits=6.0, nll_nats=4.0), step=12)
  assert worse == dict(best, validations_since=2)
  assert validation.patience_exhausted(worse, 2)
  assert not validation.patience_exhausted(worse, 0)  # 0: never
  better, improved = validation.record_validation(
      worse, dict(nll_bits=4.0, nll_nats=2.8), step=16)
  assert improved and better["step"] == 16 and best["step"] == 4


def test_the_finite_guard_names_the_first_bad_step_when_checked():
  guard = trainer.FiniteGuard()
  for step, loss in enumerate([1.0, np.nan, np.inf, 2.0]):
    finite = tf.constant(float(np.isfinite(loss)))
    guard.add(10 + step, tf.constant(loss), finite)
  with pytest.raises(trainer.TrainingError,
                     match=r"step 11: .*NaN/Inf \(loss nan\).* is ckpt-8"):
    guard.check("ckpt-8")
  guard.check("ckpt-8")  # checked steps are forgotten
  guard.add(14, tf.constant(1.0), tf.constant(1.0))
  guard.check("ckpt-8")


def test_the_loop_reads_the_device_only_when_it_logs_or_writes(
    prepared_corpus, tmp_path, monkeypatch):
  """8 steps in crops of 2 windows, no scalar summaries, a validation and a
  checkpoint at steps 4 and 8: the finite flags are read (a device sync)
  after the first step (before config.json), at the two validations and
  never else; so at most 3 reads, not one per step."""
  events = []
  check = trainer.FiniteGuard.check

  def logged_check(self, last):
    events.append(len(self._pending))
    check(self, last)

  monkeypatch.setattr(trainer.FiniteGuard, "check", logged_check)
  train_quietly(toy_config(summary_every=0), prepared_corpus, tmp_path)
  reads = [pending for pending in events if pending]
  assert reads == [1, 3, 4], events


def test_run_checkpoints_alone_save_restore_and_refuse_another_corpus(
    tmp_path):
  config = toy_config()
  strategy = tf.distribute.get_strategy()

  def fresh(fingerprint):
    model = model_api.build(toy_model.build_model(config))
    optimizer = train_step.make_optimizer(config, model)
    corpus = dict(fingerprint=fingerprint, data_dir="/corpus")
    return model, train_checkpoints.RunCheckpoints(
        str(tmp_path), model, optimizer, corpus, 3, strategy)

  model, saving = fresh("abc")
  assert saving.restore(log=print) is None and saving.latest is None
  best = dict(step=4, nll_bits=5.0, nll_nats=3.5, validations_since=0)
  saving.record_best(best, improved=True)
  assert saving.save(6).endswith("ckpt-6")
  assert json.loads((tmp_path / "best.json").read_text()) == best
  assert checkpoint.latest(str(tmp_path), "best").endswith("best/ckpt-4")

  restored_model, restoring = fresh("abc")
  assert restoring.restore(log=print).endswith("ckpt-6")
  assert int(restoring.step) == 6 and restoring.best.read() == best
  for a, b in zip(weights(model), weights(restored_model)):
    np.testing.assert_array_equal(a, b)
  with pytest.raises(trainer.TrainingError, match="fingerprint abc"):
    fresh("other")[1].restore(log=print)


class FakeGenerator(generator_lib.Generator):
  """Codes that depend on (seed, sample index) and, for an autoencoder,
  on the embedding frame (`encode`: every `hop`-th code)."""

  sample_rate, q_levels, quantization = 16000, 256, "mu_law"
  block_samples = 32

  def __init__(self, hop=None):
    self.samples_per_frame = hop
    self.block_multiple = hop or 1
    self.embedding_width = 1 if hop else None
    self.encoded = []

  def start(self, request):
    return generator_lib.State(0, request.seeds, request.temperatures, None)

  def next_block(self, state, num_samples, embeddings=None):
    t = state.position + np.arange(num_samples)
    codes = np.asarray(state.seeds)[:, None] * 7 + t[None, :]
    if embeddings is not None:
      codes += np.repeat(embeddings[:, :, 0], self.samples_per_frame,
                         axis=1).astype(np.int64)
    return (codes % 256).astype(np.int32), state.replace(
        position=state.position + num_samples)

  def encode(self, codes):
    self.encoded.append(codes)
    return codes[:, ::self.samples_per_frame, None].astype(np.float32)


def audio_events(model_dir):
  """{step: float32 audio [n, samples]} of the run's "audio" summaries."""
  out = {}
  for path in tf.io.gfile.glob(os.path.join(model_dir, "train", "*")):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        if value.tag == "audio":
          wavs = tf.make_ndarray(value.tensor)[:, 0]
          out[event.step] = np.stack([
              tf.audio.decode_wav(w).audio.numpy()[:, 0] for w in wavs])
  return out


@pytest.mark.parametrize("hop", [None, 16])
def test_audio_summaries_are_made_by_the_family_generator(
    prepared_corpus, tmp_path, monkeypatch, hop):
  """Unconditional: two sequences of seeds (step, step + 1); autoencoder:
  the reconstructions of the first training crops' embeddings."""
  gen = FakeGenerator(hop)
  family = family_lib.Family("toy", toy_model.build_model,
                             lambda model, config: gen, None, None)
  monkeypatch.setattr(family_lib, "of_config", lambda config: family)
  cfg = toy_config(audio_summary_every=4, audio_summary_seconds=0.004)
  train_quietly(cfg, prepared_corpus, tmp_path)
  audio = audio_events(str(tmp_path))
  assert sorted(audio) == [4, 8]
  crop = next(iter(data.dataset(prepared_corpus, "train", 2, 33, seed=0,
                                shuffle_buffer=8))).numpy()
  # An autoencoder's summary is whole frames of a crop (33 samples): 32.
  length = 32 if hop else 64
  for step, got in audio.items():
    if hop:
      embeddings = crop[:, :length:hop, None].astype(np.float32)
      request = generator_lib.Request.make(seed=step, embeddings=embeddings)
    else:
      request = generator_lib.Request.make(num_seqs=2, seed=step)
    codes = generator_lib.generate(FakeGenerator(hop), request, length)
    want = quantization.decode(codes, "mu_law", 256)
    # The summary stores 16-bit PCM: within half a step of 2**-15.
    np.testing.assert_allclose(got, want, atol=2**-15)
  if hop:
    assert all(np.array_equal(c, crop[:, :32]) for c in gen.encoded)
