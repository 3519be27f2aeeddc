"""Tests of the SampleRNN model and its fast generator (tiny configs)."""

import json
import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import flop_count
from common import config as config_lib
from common import model_api
from common import quantization
from common import sampling
from samplernn import generate as gen_lib
from samplernn import model as model_lib


def tiny_config(**overrides):
  config = config_lib.load("samplernn", "tiny", overrides)
  config["sample_rate"] = 16000
  return config


def build(config, seed=0):
  keras.utils.set_random_seed(seed)
  return model_api.build(model_lib.build_model(config))


@pytest.fixture(scope="module")
def config():
  return tiny_config()


@pytest.fixture(scope="module")
def model(config):
  return build(config)


def random_codes(batch, length, seed=0):
  return np.random.default_rng(seed).integers(0, 256, [batch, length],
                                              dtype=np.int32)


def probs(logits):
  return tf.nn.softmax(logits).numpy()


# --------------------------------------------------------------------------
# Model.


@pytest.mark.parametrize("overrides", [
    dict(),                                        # 3 tiers, GRU
    dict(rnn_type="lstm"),                         # 3 tiers, LSTM
    dict(frame_sizes=[4]),                         # 2 tiers
    dict(frame_sizes=[4], rnn_type="lstm", num_rnn_layers=2),
    dict(frame_sizes=[2, 4, 16]),                  # 4 tiers
    dict(skip_connections=True, num_rnn_layers=2),
    dict(learned_initial_state=False),
])
def test_variants_build_and_run(overrides):
  config = tiny_config(**overrides)
  model = build(config)
  context = model.context_length
  assert context == max(config["frame_sizes"])
  codes = random_codes(2, context + 2 * context)
  logits, state = model(codes, model.initial_state(2))
  assert logits.shape == (2, 2 * context, 256)
  assert np.all(np.isfinite(logits.numpy()))
  assert len(state) == len(model.initial_state(2))
  # A window that is not whole top frames still gives exact logits.
  short, _ = model(codes[:, :context + 3], ())
  np.testing.assert_allclose(short.numpy(), logits.numpy()[:, :3], atol=1e-5)


def test_presets_load():
  for name in ("default", "small", "tiny"):
    config = config_lib.load("samplernn", name)
    assert config["quantization"] == "mu_law" and config["q_levels"] == 256
    assert config["sample_rate"] is None
    assert config["seq_len"] % max(config["frame_sizes"]) == 0
    model_lib.frame_sizes_of(config)
  assert gen_lib.flops_per_sample(config_lib.load("samplernn", "default")) > (
      gen_lib.flops_per_sample(config_lib.load("samplernn", "small")))


def test_bad_frame_sizes():
  with pytest.raises(ValueError, match="multiple"):
    model_lib.frame_sizes_of(dict(frame_sizes=[16, 24]))


def test_tbptt_carry_equals_one_long_window(model):
  context = model.context_length
  codes = random_codes(3, context + 4 * context, seed=1)
  whole, whole_state = model(codes, ())
  split = 2 * context
  first, state = model(codes[:, :context + split], model.initial_state(3))
  second, state = model(codes[:, split:], state)
  np.testing.assert_allclose(np.concatenate([first, second], 1), whole,
                             atol=1e-5)
  for a, b in zip(state, whole_state):
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_checkpoint_holds_every_variable(model, config, tmp_path):
  path = tf.train.Checkpoint(model=model).write(str(tmp_path / "ckpt"))
  saved = [name for name, _ in tf.train.list_variables(path)
           if name.startswith("model/")]
  assert len(saved) == len(model.variables)
  copy = build(config, seed=1)
  codes = random_codes(1, 3 * model.context_length)
  assert not np.allclose(copy(codes)[0], model(codes)[0])
  tf.train.Checkpoint(model=copy).read(path).expect_partial()
  np.testing.assert_allclose(copy(codes)[0], model(codes)[0], atol=1e-6)


# --------------------------------------------------------------------------
# Generator against the model.


@pytest.mark.parametrize("overrides", [dict(), dict(rnn_type="lstm"),
                                       dict(frame_sizes=[4])])
def test_step_graph_matches_teacher_forcing(overrides, model):
  """Same per-sample distributions, across tiers and a TBPTT carry."""
  test_model = build(tiny_config(**overrides)) if overrides else model
  context = test_model.context_length
  codes = random_codes(2, context + 4 * context, seed=2)
  split = 2 * context
  first, state = test_model(codes[:, :context + split], ())
  second, state = test_model(codes[:, split:], state)
  expected = probs(np.concatenate([first, second], axis=1))
  step_logits, step_state = gen_lib.step_logits(test_model, codes)
  assert np.max(np.abs(probs(step_logits) - expected)) <= 1e-4
  for a, b in zip(step_state, state):
    np.testing.assert_allclose(a, b, atol=1e-4)
  if overrides:
    return
  # And in two halves, carrying the state through the step graph.
  half, half_state = gen_lib.step_logits(test_model,
                                         codes[:, :context + split])
  rest, _ = gen_lib.step_logits(test_model, codes[:, split:], half_state)
  got = probs(np.concatenate([half, rest], axis=1))
  assert np.max(np.abs(got - expected)) <= 1e-4


# Float rounding allowed between the XLA and the plain step graph: XLA
# reassociates sums (fused matmuls, the folded tables). Measured on this
# tiny model: at most 4.8e-7 on logits of magnitude <= 1.3 (20 seeds of 512
# samples); 2e-6 (about 17 float32 ulps at 1) leaves 4x room.
XLA_LOGITS_TOLERANCE = 2e-6


def gumbel_scores(logits, seed, bottom):
  """`logits + noise` as the generator's sampler sees them (temperature 1):
  each bottom frame's noise is keyed by its first sample (`_SamplePolicy`).

  Args:
    logits: float `[batch, n, q_levels]`, n a multiple of `bottom`.
  """
  batch, length, q_levels = logits.shape
  noise = [sampling.gumbel_noise(seed, start, batch, bottom, q_levels)
           for start in range(0, length, bottom)]
  return logits + np.concatenate(noise, axis=1)


def test_plain_graph_matches_xla(model, config):
  """What the README promises across compile modes, exactly."""
  jit = gen_lib.generator_for(model, config)  # compiled traces are reused
  assert jit.jit_compile(2)
  plain = gen_lib.Generator(model, config, jit_compile=False)
  # Teacher-forced logits agree to float rounding.
  codes = random_codes(2, 5 * model.context_length, seed=3)
  assert np.max(np.abs(jit.step_logits(codes)[0] - plain.step_logits(
      codes)[0])) <= XLA_LOGITS_TOLERANCE
  # Sampled codes are the same while no sample's two best scores lie within
  # 2 x tolerance of each other (rounding could then pick either, and the
  # sequences go their own ways). This seed has no such near-tie, so every
  # code must be equal. Within one mode the codes do not depend on the block
  # size (the plain graph here; XLA in test_determinism_and_block_sizes).
  seed, length = 4, 4 * model.context_length  # forced: same shape as codes
  a = jit.generate(2, length, seed=seed, block_samples=32)
  b = plain.generate(2, length, seed=seed, block_samples=32)
  np.testing.assert_array_equal(
      b, plain.generate(2, length, seed=seed, block_samples=48))
  forced = np.concatenate(
      [np.full([2, model.frame_sizes[0]], jit.silence_code(), np.int32), a],
      axis=1)
  forced_jit = jit.step_logits(forced)[0].numpy()
  forced_plain = plain.step_logits(forced)[0].numpy()
  assert np.max(np.abs(forced_jit - forced_plain)) <= XLA_LOGITS_TOLERANCE
  scores = np.sort(gumbel_scores(forced_plain, seed, model.frame_sizes[-1]),
                   axis=-1)
  assert np.min(scores[..., -1] - scores[..., -2]) > 2 * XLA_LOGITS_TOLERANCE
  np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------
# Sampling.


def test_determinism_and_block_sizes(model, config):
  kwargs = dict(num_seqs=2, num_samples=100, seed=7)
  a = gen_lib.generate(model, config, block_samples=32, **kwargs)
  b = gen_lib.generate(model, config, block_samples=32, **kwargs)
  c = gen_lib.generate(model, config, block_samples=64, **kwargs)
  assert a.shape == (2, 100) and a.dtype == np.int32
  assert a.min() >= 0 and a.max() < 256
  np.testing.assert_array_equal(a, b)
  np.testing.assert_array_equal(a, c)
  d = gen_lib.generate(model, config, num_seqs=2, num_samples=100, seed=8,
                       block_samples=32)
  assert np.mean(a != d) > 0.5
  # A sequence gets the same codes alone as in a batch.
  alone = gen_lib.generate(model, config, num_seqs=1, num_samples=100,
                           seed=7, block_samples=32)
  np.testing.assert_array_equal(alone[0], a[0])


def test_streaming_calls_back_per_block(model, config):
  blocks = []
  out = gen_lib.generate(model, config, num_seqs=2, num_samples=100, seed=7,
                         block_samples=32, on_block=blocks.append)
  assert out is None
  assert [b.shape[1] for b in blocks] == [32, 32, 32, 4]
  np.testing.assert_array_equal(
      np.concatenate(blocks, 1),
      gen_lib.generate(model, config, num_seqs=2, num_samples=100, seed=7,
                       block_samples=32))


def test_per_sequence_temperatures(model, config):
  greedy = gen_lib.generate(model, config, num_seqs=2, num_samples=64,
                            seed=1, temperature=[0.0, 0.0], block_samples=32)
  np.testing.assert_array_equal(greedy[0], greedy[1])
  mixed = gen_lib.generate(model, config, num_seqs=2, num_samples=64, seed=1,
                           temperature=[0.0, 1.0], block_samples=32)
  np.testing.assert_array_equal(mixed[0], greedy[0])
  assert np.mean(mixed[1] != greedy[1]) > 0.3
  with pytest.raises(ValueError, match="temperatures"):
    gen_lib.generate(model, config, num_seqs=2, num_samples=16,
                     temperature=[1.0, 1.0, 1.0])


def test_priming(model, config):
  context = model.context_length
  prime = random_codes(2, 2 * context + 5, seed=4)
  kwargs = dict(num_seqs=2, num_samples=40, seed=3, block_samples=32)
  a = gen_lib.generate(model, config, prime_codes=prime, **kwargs)
  b = gen_lib.generate(model, config, prime_codes=prime, **kwargs)
  assert a.shape == (2, 40)
  np.testing.assert_array_equal(a, b)
  # The primed state is the teacher-forced state over the silence-padded
  # prime; the next sample's distribution is the model's.
  gen = gen_lib.generator_for(model, config)
  carry = gen.start(2, prime)
  pad = (-prime.shape[1]) % context
  padded = np.concatenate(
      [np.full([2, pad], gen.silence_code(), np.int32), prime], 1)
  _, state = model(padded, ())
  for x, y in zip(carry["states"], state):
    np.testing.assert_allclose(x, y, atol=1e-5)
  np.testing.assert_array_equal(carry["history"], padded[:, -context:])
  # A prime shorter than one frame works too.
  short = gen_lib.generate(model, config, prime_codes=prime[:, :3], **kwargs)
  assert short.shape == (2, 40)


# --------------------------------------------------------------------------
# Training sanity.


def test_overfits_a_periodic_clip(config):
  model = build(config, seed=0)
  t = np.arange(4000)
  clip = 0.6 * np.sin(2 * np.pi * t / 40) + 0.2 * np.sin(2 * np.pi * t / 20)
  codes = quantization.encode(clip, "mu_law", 256)
  crop = model_api.crop_length(config, model.context_length)
  batch = config["batch_size"]
  optimizer = keras.optimizers.Adam(3e-3)

  @tf.function
  def train_step(crops):
    with tf.GradientTape() as tape:
      state, total = (), 0.0  # () = the learned initial state, in the tape
      windows = model_api.windows(crops, config["seq_len"],
                                  model.context_length)
      for window in windows:
        logits, state = model(window, state, training=True)
        total += tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            window[:, model.context_length:], logits))
      loss = total / len(windows)
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return loss / np.log(2.0), grads

  rng = np.random.default_rng(0)
  for _ in range(60):
    starts = rng.integers(0, len(codes) - crop, batch)
    bits, grads = train_step(np.stack([codes[s:s + crop] for s in starts]))
  assert all(g is not None for g in grads)  # incl. the initial states
  assert float(bits) < 2.0, float(bits)


# --------------------------------------------------------------------------
# Benchmark and command line.


@pytest.mark.parametrize("overrides", [
    dict(), dict(rnn_type="lstm", num_rnn_layers=2, skip_connections=True,
                 frame_sizes=[2, 8, 16]), dict(frame_sizes=[4])])
def test_flops_per_sample_counts_what_runs(overrides):
  """`flops_per_sample` against the products that really run, per sample:
  the difference between two and one top frames (per-call work cancels),
  per sequence, plus the one `[frame_size, dim]` table row each sample adds
  (folded: to the lookahead; plain: gathered per window position)."""
  config = tiny_config(**overrides)
  model = build(config)
  batch, top, context = 2, model.frame_sizes[0], model.context_length
  gen = gen_lib.Generator(model, config, jit_compile=False)
  table_adds = math.prod(gen.weights["sample"]["lookahead_tables"].shape[1:])

  def generated(frames):
    with flop_count.matmul_flops() as counted:
      gen.block(gen.start(batch), frames, seed=0, temperature=1.0)
    return counted.flops

  def teacher_forced(frames):
    with flop_count.matmul_flops() as counted:
      model(random_codes(batch, context + frames * top), ())
    return counted.flops

  for count, folded in ((generated, True), (teacher_forced, False)):
    per_sample = (count(2) - count(1)) / (top * batch) + table_adds
    assert per_sample == gen_lib.flops_per_sample(config, folded=folded)


def test_benchmark_smoke(config):
  result = gen_lib.benchmark(config, batch_size=2, num_samples=64, warmup=1,
                             repeats=1)
  assert result["samples_per_second"] > 0
  assert result["flops_per_sample"] == gen_lib.flops_per_sample(config)


def test_generate_files(model, config, tmp_path):
  model_dir = tmp_path / "model"
  config_lib.save(config, str(model_dir))
  step = tf.Variable(12, dtype=tf.int64, name="step")
  tf.train.CheckpointManager(tf.train.Checkpoint(model=model, step=step),
                             str(model_dir / "checkpoints"), 1).save()
  prime_path = tmp_path / "prime.wav"
  from common import audio
  audio.save(str(prime_path), 0.3 * np.sin(np.arange(800) / 5.0), 16000)
  out = tmp_path / "out"
  paths = gen_lib.generate_files(
      str(model_dir), str(out), num_seqs=2, seconds=0.01,
      temperature="0.9,1.1", seed=3, prime=str(prime_path),
      checkpoint="last", block_seconds=0.004, progress=False)
  assert [os.path.basename(p) for p in paths] == ["samplernn_0.wav",
                                                  "samplernn_1.wav"]
  for i, path in enumerate(paths):
    assert audio.info(path)["frames"] == 160
    sidecar = json.load(open(path[:-4] + ".json"))
    assert sidecar["checkpoint_step"] == 12
    assert sidecar["temperature"] == [0.9, 1.1][i]
    assert sidecar["samples_per_second"] > 0
  assert sorted(os.listdir(out)) == sorted(
      ["samplernn_0.wav", "samplernn_0.json", "samplernn_1.wav",
       "samplernn_1.json"])  # no temporary files left
  with pytest.raises(FileExistsError):
    gen_lib.generate_files(str(model_dir), str(out), seconds=0.01,
                           progress=False)
