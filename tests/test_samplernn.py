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
from common import family
from common import generation
from common import generator as generator_lib
from common import model_api
from common import quantization
from common import sampling
from samplernn import flops
from samplernn import generator as srnn_gen
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
  assert flops.flops_per_sample(config_lib.load("samplernn", "default")) > (
      flops.flops_per_sample(config_lib.load("samplernn", "small")))


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


def make(num_seqs, seed=0, temperature=1.0, prime_codes=None):
  return generator_lib.Request.make(num_seqs, seed, temperature, prime_codes)


def generate(gen, request, num_samples, block_samples=32):
  return generator_lib.generate(gen, request, num_samples, block_samples)


def test_implements_the_generator_interface(model, config):
  gen = family.get("samplernn").generator(model, config)
  assert isinstance(gen, generator_lib.Generator)
  assert gen.block_multiple == model.frame_sizes[0] and gen.can_prime
  assert gen.block_samples % gen.block_multiple == 0
  assert (gen.sample_rate, gen.quantization, gen.q_levels) == (
      16000, "mu_law", 256)
  assert not gen.conditioned and gen.samples_per_frame is None
  with pytest.raises(generator_lib.RequestError, match="multiple of 16"):
    gen.next_block(gen.start(make(1)), 24)


def test_second_generator_call_rereads_the_weights(config):
  """One generator per model, its weights re-read on every call (training
  changes them between audio summaries)."""
  model = build(config, seed=5)
  gen = family.get("samplernn").generator(model, config)
  model.sample_mlp.output_bias.assign(tf.fill([256], 3.0))
  assert family.get("samplernn").generator(model, config) is gen
  np.testing.assert_array_equal(gen.weights["sample"]["output_bias"],
                                np.full([256], 3.0))


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
  step_logits, step_state = srnn_gen.step_logits(test_model, codes)
  assert np.max(np.abs(probs(step_logits) - expected)) <= 1e-4
  for a, b in zip(step_state, state):
    np.testing.assert_allclose(a, b, atol=1e-4)
  if overrides:
    return
  # And in two halves, carrying the state through the step graph.
  half, half_state = srnn_gen.step_logits(test_model,
                                          codes[:, :context + split])
  rest, _ = srnn_gen.step_logits(test_model, codes[:, split:], half_state)
  got = probs(np.concatenate([half, rest], axis=1))
  assert np.max(np.abs(got - expected)) <= 1e-4


# Float rounding allowed between the XLA and the plain step graph: XLA
# reassociates sums (fused matmuls, the folded tables). Measured on this
# tiny model: at most 4.8e-7 on logits of magnitude <= 1.3 (20 seeds of 512
# samples); 2e-6 (about 17 float32 ulps at 1) leaves 4x room.
XLA_LOGITS_TOLERANCE = 2e-6


def gumbel_scores(logits, seeds, temperatures=1.0):
  """`logits / temperature + noise` as the generator's sampler sees them:
  the noise of sample `t` of a sequence is keyed by its seed and `t`.

  Args:
    logits: float `[batch, n, q_levels]`, the first n generated samples.
    seeds: `[batch]` ints.
    temperatures: float or `[batch]`, > 0.
  """
  _, length, q_levels = logits.shape
  noise = sampling.gumbel_noise(np.asarray(seeds, np.uint32), 0, length,
                                q_levels).numpy()
  scale = np.reshape(temperatures, [-1, 1, 1])
  return logits / scale + noise


def assert_no_near_ties(scores, tolerance):
  """Rounding of `tolerance` cannot change any sample's argmax."""
  top2 = np.sort(scores, axis=-1)[..., -2:]
  assert np.min(top2[..., 1] - top2[..., 0]) > 2 * tolerance


def teacher_forced_logits(gen, codes):
  """The step graph's logits of the generated int32 `[b, n]` codes (after
  the silence they start from)."""
  silence = np.full([len(codes), gen.top], gen.silence_code(), np.int32)
  return gen.step_logits(np.concatenate([silence, codes], 1))[0].numpy()


def test_plain_graph_matches_xla(model, config):
  """What the README promises across compile modes, exactly."""
  jit = srnn_gen.generator(model, config)  # compiled traces are reused
  assert jit.jit_compile(2)
  plain = srnn_gen.SampleRNNGenerator(model, config, jit_compile=False)
  # Teacher-forced logits agree to float rounding.
  codes = random_codes(2, 5 * model.context_length, seed=3)
  assert np.max(np.abs(jit.step_logits(codes)[0] - plain.step_logits(
      codes)[0])) <= XLA_LOGITS_TOLERANCE
  # Sampled codes are the same while no sample's two best scores lie within
  # 2 x tolerance of each other (rounding could then pick either, and the
  # sequences go their own ways). This seed has no such near-tie, so every
  # code must be equal. Within one mode the codes do not depend on the block
  # size (the plain graph here; XLA in test_determinism_and_block_sizes).
  request, length = make(2, seed=4), 4 * model.context_length
  a = generate(jit, request, length)
  b = generate(plain, request, length)
  np.testing.assert_array_equal(b, generate(plain, request, length, 48))
  forced_jit = teacher_forced_logits(jit, a)
  forced_plain = teacher_forced_logits(plain, a)
  assert np.max(np.abs(forced_jit - forced_plain)) <= XLA_LOGITS_TOLERANCE
  assert_no_near_ties(gumbel_scores(forced_plain, request.seeds),
                      XLA_LOGITS_TOLERANCE)
  np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------
# Sampling.


def test_determinism_and_block_sizes(model, config):
  gen = srnn_gen.generator(model, config)
  a = generate(gen, make(2, seed=7), 100)
  b = generate(gen, make(2, seed=7), 100)
  c = generate(gen, make(2, seed=7), 100, block_samples=64)
  assert a.shape == (2, 100) and a.dtype == np.int32
  assert a.min() >= 0 and a.max() < 256
  np.testing.assert_array_equal(a, b)
  np.testing.assert_array_equal(a, c)
  d = generate(gen, make(2, seed=9), 100)
  assert np.mean(a != d) > 0.5


def test_a_sequence_is_its_seed_wherever_it_is_generated(model, config):
  """Sequence `i` of a request with seed `s` has the seed `s + i`, and its
  codes are the same alone, first or last in a batch."""
  gen = srnn_gen.generator(model, config)
  batch = make(3, seed=6, temperature=[0.8, 1.0, 1.2])
  together = generate(gen, batch, 64)
  alone = generate(gen, make(1, seed=7, temperature=1.0), 64)
  np.testing.assert_array_equal(alone[0], together[1])
  shuffled = generator_lib.Request.concat([batch.rows([1]),
                                           batch.rows([2, 0])])
  np.testing.assert_array_equal(generate(gen, shuffled, 64),
                                together[[1, 2, 0]])
  assert np.mean(together[0] != together[1]) > 0.5


def test_stream_yields_blocks(model, config):
  gen = srnn_gen.generator(model, config)
  blocks = list(generator_lib.stream(gen, make(2, seed=7), 100, 32))
  assert [b.shape[1] for b in blocks] == [32, 32, 32, 4]
  np.testing.assert_array_equal(np.concatenate(blocks, 1),
                                generate(gen, make(2, seed=7), 100))


def test_per_sequence_temperatures(model, config):
  gen = srnn_gen.generator(model, config)
  greedy = generate(gen, make(2, seed=1, temperature=[0.0, 0.0]), 64)
  np.testing.assert_array_equal(greedy[0], greedy[1])
  mixed = generate(gen, make(2, seed=1, temperature=[0.0, 1.0]), 64)
  np.testing.assert_array_equal(mixed[0], greedy[0])
  assert np.mean(mixed[1] != greedy[1]) > 0.3
  with pytest.raises(generator_lib.RequestError, match="temperatures"):
    make(2, temperature=[1.0, 1.0, 1.0])


def test_temperature_changed_between_blocks(model, config):
  """`state.replace(temperatures=...)` sets the temperatures of the next
  blocks only; a state stays valid after it was used."""
  gen = srnn_gen.generator(model, config)
  state = gen.start(make(2, seed=11, temperature=1.0))
  first, after_first = gen.next_block(state, 32)
  second, _ = gen.next_block(after_first, 32)
  again, _ = gen.next_block(after_first, 32)  # the same state, used again
  np.testing.assert_array_equal(again, second)
  greedy, _ = gen.next_block(after_first.replace(temperatures=(0.0, 1.0)),
                             32)
  np.testing.assert_array_equal(greedy[1], second[1])  # unchanged: same codes
  assert np.mean(greedy[0] != second[0]) > 0.3
  # Sequence 0: sampled at temperature 1 up to the change, argmax after it.
  codes = np.stack([np.concatenate([first[0], greedy[0]])])
  logits = teacher_forced_logits(gen, codes)
  assert_no_near_ties(logits[:, 32:], XLA_LOGITS_TOLERANCE)
  np.testing.assert_array_equal(greedy[0], np.argmax(logits[0, 32:], -1))
  scores = gumbel_scores(logits[:, :32], (11,))
  assert_no_near_ties(scores, XLA_LOGITS_TOLERANCE)
  np.testing.assert_array_equal(first[0], np.argmax(scores[0], -1))


def test_priming(model, config):
  gen = srnn_gen.generator(model, config)
  context = model.context_length
  prime = random_codes(2, 2 * context + 5, seed=4)
  a = generate(gen, make(2, seed=3, prime_codes=prime), 40)
  b = generate(gen, make(2, seed=3, prime_codes=prime), 40)
  assert a.shape == (2, 40)
  np.testing.assert_array_equal(a, b)
  # The primed state is the teacher-forced state over the silence-padded
  # prime; the next sample's distribution is the model's.
  state = gen.start(make(2, prime_codes=prime))
  pad = (-prime.shape[1]) % context
  padded = np.concatenate(
      [np.full([2, pad], gen.silence_code(), np.int32), prime], 1)
  _, expected = model(padded, ())
  for x, y in zip(state.tensors["states"], expected):
    np.testing.assert_allclose(x, y, atol=1e-5)
  np.testing.assert_array_equal(state.tensors["history"],
                                padded[:, -context:])
  # A prime shorter than one frame works too; codes out of range do not.
  short = generate(gen, make(2, seed=3, prime_codes=prime[:, :3]), 40)
  assert short.shape == (2, 40)
  with pytest.raises(generator_lib.RequestError, match="0..255"):
    gen.start(make(1, prime_codes=[3, 256]))


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
  """`step_matmuls` and `flops_per_sample` against the products that really
  run: the difference between two and one top frames (per-call work
  cancels), per sequence, is one top frame's matrices; per sample, plus the
  one `[frame_size, dim]` table row each sample adds (folded: to the
  lookahead; plain: gathered per window position)."""
  config = tiny_config(**overrides)
  model = build(config)
  batch, top, context = 2, model.frame_sizes[0], model.context_length
  gen = srnn_gen.SampleRNNGenerator(model, config, jit_compile=False)
  table_adds = math.prod(gen.weights["sample"]["lookahead_tables"].shape[1:])

  def generated(frames):
    with flop_count.matmul_flops() as counted:
      gen.next_block(gen.start(make(batch)), frames * top)
    return counted.flops

  def teacher_forced(frames):
    with flop_count.matmul_flops() as counted:
      model(random_codes(batch, context + frames * top), ())
    return counted.flops

  frame = (generated(2) - generated(1)) / batch
  assert frame == 2 * sum(r * c for r, c in flops.step_matmuls(config))
  for count, folded in ((generated, True), (teacher_forced, False)):
    per_sample = (count(2) - count(1)) / (top * batch) + table_adds
    assert per_sample == flops.flops_per_sample(config, folded=folded)


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
  paths = generation.generate_files(
      str(model_dir), str(out), num_seqs=2, seconds=0.01,
      temperature="0.9,1.1", seed=3, prime=str(prime_path),
      checkpoint="last", block_seconds=0.004, progress=False,
      family="samplernn")
  assert [os.path.basename(p) for p in paths] == ["samplernn_0.wav",
                                                  "samplernn_1.wav"]
  for i, path in enumerate(paths):
    assert audio.info(path)["frames"] == 160
    sidecar = json.load(open(path[:-4] + ".json"))
    assert sidecar["checkpoint_step"] == 12 and sidecar["complete"]
    assert (sidecar["seed"], sidecar["temperature"]) == (3 + i,
                                                         [0.9, 1.1][i])
    assert sidecar["samples_per_second"] > 0
  assert sorted(os.listdir(out)) == sorted(
      ["samplernn_0.wav", "samplernn_0.json", "samplernn_1.wav",
       "samplernn_1.json"])  # no temporary files left
  with pytest.raises(FileExistsError):
    generation.generate_files(str(model_dir), str(out), seconds=0.01,
                              progress=False)
  with pytest.raises(generator_lib.RequestError, match="not a wavenet"):
    generation.generate_files(str(model_dir), str(tmp_path / "other"),
                              family="wavenet")
