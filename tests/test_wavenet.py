"""Tests for the WaveNet autoencoder (wavenet/) on the tiny presets.

tiny: 2 stages x 3 layers (dilations 1, 2, 4, 1, 2, 4; receptive field 31
samples), width 16, hop 32, bottleneck 4. "tiny+pitch" adds pitch
conditioning (12 semitone bins from MIDI 60, at 16 kHz).
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import flop_count
from common import config as config_lib
from common import family
from common import generator as generator_lib
from common import model_api
from common import quantization
from common import sampling
from wavenet import fastgen
from wavenet import flops
from wavenet import frames as frames_lib
from wavenet import layers
from wavenet import model as model_lib

# The generic model tests run "tiny+period" (pitch conditioning and the period
# input); "tiny+pitch" is only built by the pitch tests below.
PRESETS = ("tiny", "tiny_unconditional", "tiny+period")
PITCH = dict(pitch_bins=12, pitch_min_midi=60, sample_rate=16000)
EXTRAS = {"": None, "pitch": PITCH,
          "period": dict(PITCH, pitch_period_input=True)}


def _config(preset):
  """A preset's config; "<preset>+pitch" adds pitch conditioning, "+period"
  also the input one pitch period back."""
  name, _, extra = preset.partition("+")
  return config_lib.load("wavenet", name, EXTRAS[extra])


def _build(preset, seed=0):
  keras.utils.set_random_seed(seed)
  return model_api.build(model_lib.build_model(_config(preset)))


_MODELS = {}


def _shared(preset):
  """One untrained model per preset for the tests that do not train it."""
  if preset not in _MODELS:
    _MODELS[preset] = _build(preset)
  return _MODELS[preset]


@pytest.fixture(scope="module", params=PRESETS)
def model(request):
  return _shared(request.param)


@pytest.fixture(scope="module")
def autoencoder():
  return _shared("tiny")


def _embeddings(model, batch, num_samples, seed=0):
  if not model.conditioned:
    return None
  frames = frames_lib.num_frames(num_samples, model.hop_length)
  return tf.random.stateless_normal([batch, frames, model.embedding_width],
                                    [seed, 7])


def _random_codes(batch, num_samples, seed=0):
  return tf.random.stateless_uniform([batch, num_samples], [seed, 3], 0, 256,
                                     tf.int32)


# --- model API --------------------------------------------------------------


def test_presets_load_and_tiny_builds():
  assert {"nsynth", "small", "small_unconditional", "tiny",
          "tiny_unconditional"} <= set(config_lib.list_presets("wavenet"))
  nsynth = config_lib.load("wavenet", "nsynth")
  assert (nsynth["width"], nsynth["skip_width"], nsynth["num_layers"],
          nsynth["ae_width"], nsynth["hop_length"],
          nsynth["bottleneck_width"]) == (512, 256, 30, 128, 512, 16)
  for preset in config_lib.list_presets("wavenet"):
    config = config_lib.load("wavenet", preset)
    assert config["sample_rate"] is None
    assert (config["quantization"], config["q_levels"]) == ("mu_law", 256)


def test_call_follows_model_api(model):
  codes = _random_codes(2, 100)
  logits, state = model(codes, model.initial_state(2), training=True)
  assert model.context_length == 0
  assert state == () and model.initial_state(5) == ()
  assert logits.shape == (2, 100, 256) and logits.dtype == tf.float32
  # The autoencoder's call encodes the same window.
  expected = model.decode_logits(
      codes, model.encode(codes) if model.conditioned else None)
  np.testing.assert_allclose(logits, expected, atol=1e-6)


def test_receptive_field(autoencoder):
  assert autoencoder.receptive_field == 1 + 2 + 2 * 2 * (1 + 2 + 4)


# --- causality and the encoder ----------------------------------------------


def test_decoder_is_causal(model):
  codes = _random_codes(1, 120).numpy()
  embeddings = _embeddings(model, 1, 120)
  before = model.decode_logits(codes, embeddings).numpy()
  changed = codes.copy()
  changed[0, 70] = (changed[0, 70] + 128) % 256
  after = model.decode_logits(changed, embeddings).numpy()
  # logits[:, t] predicts codes[:, t] from codes[:, :t]: up to and including
  # t = 70 nothing may change, and sample 71 must see the change.
  np.testing.assert_allclose(after[:, :71], before[:, :71], atol=1e-6)
  assert np.abs(after[:, 71] - before[:, 71]).max() > 1e-4


@pytest.mark.parametrize("num_samples", [1, 31, 32, 33, 100, 256, 257])
def test_encoder_frames_are_ceil_of_samples_over_hop(autoencoder,
                                                     num_samples):
  embeddings = autoencoder.encode(_random_codes(2, num_samples))
  frames = -(-num_samples // 32)
  assert embeddings.shape == (2, frames, 4)
  assert frames_lib.num_frames(num_samples, 32) == frames


def test_frame_average_counts_only_real_samples():
  x = tf.reshape(tf.range(10, dtype=tf.float32), [1, 10, 1])
  means = layers.frame_average(x, 4)[0, :, 0].numpy()
  np.testing.assert_allclose(means, [1.5, 5.5, 8.5])
  up = layers.upsample_frames(tf.constant([[[1.0], [2.0], [3.0]]]), 4, 10)
  np.testing.assert_array_equal(up[0, :, 0], [1] * 4 + [2] * 4 + [3] * 2)


def test_embeddings_scale_with_length_and_frames_are_local(autoencoder):
  codes = _random_codes(1, 32 * 8).numpy()
  short = autoencoder.encode(codes[:, :32 * 4]).numpy()
  long = autoencoder.encode(codes).numpy()
  assert long.shape[1] == 2 * short.shape[1] == 8
  # The non-causal encoder sees a few samples across frame edges only: the
  # frames well inside both windows agree.
  np.testing.assert_allclose(long[:, :3], short[:, :3], atol=1e-5)


def _tone_codes(midi, num_samples):
  t = np.arange(num_samples) / 16000.0
  hz = 440.0 * 2 ** ((midi - 69) / 12)
  x = 0.5 * np.sin(2 * np.pi * hz * t) + 0.2 * np.sin(4 * np.pi * hz * t)
  return quantization.encode(x.astype(np.float32), "mu_law", 256)[None]


def test_pitch_conditioned_embeddings_end_with_the_measured_pitch():
  model = _shared("tiny+pitch")
  assert (model.bottleneck_width, model.embedding_width) == (4, 16)
  codes = _tone_codes(64.5, 32 * 40)  # between bins 4 and 5 (MIDI 64, 65)
  embeddings = model.encode(codes).numpy()
  assert embeddings.shape == (1, 40, 16)
  learned, pitches = embeddings[0, :, :4], embeddings[0, :, 4:]
  np.testing.assert_allclose(learned, model.encoder(
      model._unit(tf.constant(codes)))[0], atol=1e-6)
  # Frames whose YIN window lies inside the tone: half on 64, half on 65.
  inner = pitches[20:24]
  np.testing.assert_allclose(inner.sum(axis=1), 1.0, atol=1e-3)
  np.testing.assert_allclose(inner[:, 4:6], 0.5, atol=0.05)
  silent = model.encode(np.full([1, 32 * 8], 128, np.int32)).numpy()
  np.testing.assert_array_equal(silent[0, :, 4:], 0.0)


def test_decoder_reads_the_pitch_channels():
  model = _shared("tiny+pitch")
  codes = _random_codes(1, 64)
  embeddings = np.zeros([1, 2, 16], np.float32)
  low, high = embeddings.copy(), embeddings.copy()
  low[..., 4 + 2], high[..., 4 + 9] = 1.0, 1.0
  assert np.abs(model.decode_logits(codes, low) -
                model.decode_logits(codes, high)).max() > 1e-3


def test_pitch_conditioning_needs_an_autoencoder_and_a_sample_rate():
  with pytest.raises(ValueError, match="needs conditioning=encoder"):
    model_lib.build_model(config_lib.load("wavenet", "tiny_unconditional",
                                          PITCH))
  with pytest.raises(ValueError, match="sample_rate"):
    model_lib.build_model(config_lib.load("wavenet", "tiny",
                                          dict(pitch_bins=12)))


def test_input_jitter_moves_codes_by_at_most_k_inside_the_range():
  codes = tf.constant([[0, 1, 128, 254, 255] * 2000])
  moved = model_lib.jitter_codes(codes, 2, 256).numpy()
  offsets = moved - codes.numpy()
  assert moved.min() >= 0 and moved.max() <= 255
  assert np.abs(offsets).max() == 2
  middle = offsets[0, 2::5]                 # code 128: no clipping
  counts = np.bincount(middle + 2, minlength=5) / middle.size
  np.testing.assert_allclose(counts, 0.2, atol=0.03)  # uniform over -2..2


def test_input_jitter_only_touches_the_decoder_in_training():
  """Inference and evaluation read clean codes; training reads jittered
  codes for the decoder (the embeddings come from the clean codes)."""
  config = config_lib.load("wavenet", "tiny", dict(input_jitter=3))
  keras.utils.set_random_seed(0)
  model = model_api.build(model_lib.build_model(config))
  clean = model_api.build(model_lib.build_model(_config("tiny")))
  clean.set_weights(model.get_weights())
  codes = tf.random.stateless_uniform([2, 256], [3, 4], 0, 256, tf.int32)
  np.testing.assert_array_equal(model(codes)[0], clean(codes)[0])
  tf.random.set_seed(7)
  trained = model(codes, training=True)[0]
  assert not np.allclose(trained, clean(codes)[0])
  tf.random.set_seed(7)
  jittered = model_lib.jitter_codes(codes, 3, 256)
  np.testing.assert_allclose(
      trained, model.decode_logits(jittered, model.encode(codes)), atol=1e-5)
  with pytest.raises(ValueError, match="input_jitter"):
    model_lib.build_model(config_lib.load("wavenet", "tiny",
                                          dict(input_jitter=-1)))


# --- fast generation ----------------------------------------------------------


def _request(model, batch, num_samples, seed=5, temperature=1.0):
  """Sequence i has the seed `seed + i`."""
  return generator_lib.Request.make(
      batch, seed, temperature,
      embeddings=_embeddings(model, batch, num_samples))


def _generate(model, request, num_samples, block_samples=None):
  return generator_lib.generate(fastgen.generator(model, _config_of(model)),
                                request, num_samples, block_samples)


def _config_of(model):
  return dict(quantization="mu_law", q_levels=model.q_levels)


def _resampled(logits, request):
  """The codes `common.sampling` draws from teacher-forced logits `[batch,
  n, q]` with the request's per-sequence seeds and temperatures."""
  batch, n, q = logits.shape
  noise = sampling.gumbel_noise(np.asarray(request.seeds, np.uint32), 0, n, q)
  temperature = np.repeat(np.asarray(request.temperatures, np.float32), n)
  codes = sampling.sample_with_noise(
      tf.reshape(logits, [-1, q]), temperature[:, None],
      tf.reshape(noise, [-1, q]))
  return codes.numpy().reshape(batch, n)


def test_cached_generation_equals_naive_recomputation(model):
  num_samples = 80  # > receptive field (31) and several frames (hop 32)
  request = _request(model, 2, num_samples, temperature=[1.0, 0.7])
  np.testing.assert_array_equal(
      _generate(model, request, num_samples, block_samples=32),
      fastgen.naive_generate(model, request, num_samples))


def test_naive_generation_takes_blocks_across_frame_boundaries(model):
  """The naive baseline times a few samples (`eval.speed --naive`): its
  blocks need not be whole frames, and a frame split over two blocks is
  the same frame."""
  num_samples = 50
  request = _request(model, 1, num_samples)
  naive = fastgen.NaiveGenerator(model, _config_of(model))
  blocks = list(generator_lib.stream(naive, request, num_samples,
                                     block_samples=20))
  assert [b.shape[1] for b in blocks] == [20, 20, 10]
  np.testing.assert_array_equal(np.concatenate(blocks, 1),
                                _generate(model, request, num_samples))


def test_period_input_in_cached_generation_and_teacher_forcing():
  """Voiced frames (periods 14 to 30 samples, fractional) over 600 samples:
  the cached generator's history buffer gives the teacher-forced logits
  (resampled with the same noise, they give the same codes)."""
  model = _shared("tiny+period")
  frames, num_samples = 19, 600
  two_hot = np.zeros([2, frames, 12], np.float32)
  for f in range(frames):  # MIDI 60.0 .. 71.0, and one unvoiced frame
    pitch_bin = 11.0 * f / (frames - 1)
    low = int(pitch_bin)
    two_hot[:, f, low] = 1.0 - (pitch_bin - low)
    if low < 11:
      two_hot[:, f, low + 1] = pitch_bin - low
  two_hot[1, 7] = 0.0
  learned = np.random.default_rng(0).normal(size=[2, frames, 4])
  embeddings = np.concatenate([learned, two_hot], -1).astype(np.float32)
  request = generator_lib.Request.make(seed=2, embeddings=embeddings)
  codes = _generate(model, request, num_samples, block_samples=64)
  forced = model.decode_logits(codes, embeddings)
  np.testing.assert_array_equal(_resampled(forced, request), codes)


def test_period_input_reaches_beyond_the_receptive_field():
  """At MIDI 24 (period 489.3 samples, receptive field 31) a sample changes
  the logits one period later, interpolated over two samples, and nothing
  in between."""
  keras.utils.set_random_seed(0)
  model = model_api.build(model_lib.build_model(config_lib.load(
      "wavenet", "tiny", dict(PITCH, pitch_min_midi=24,
                              pitch_period_input=True))))
  embeddings = np.zeros([1, 32, 16], np.float32)
  embeddings[..., 4] = 1.0  # bin 0: MIDI 24
  codes = _random_codes(1, 1000).numpy()
  before = model.decode_logits(codes, embeddings).numpy()
  changed = codes.copy()
  changed[0, 100] = (changed[0, 100] + 128) % 256
  after = model.decode_logits(changed, embeddings).numpy()
  moved = np.abs(after - before).max(axis=-1)[0]
  assert np.all(moved[132:589] < 1e-6)
  assert moved[589:591].min() > 1e-4  # 100 + 489.3: samples 589 and 590


def test_cached_codes_equal_teacher_forcing_on_long_output(model):
  num_samples = 700  # many receptive fields and frames
  request = _request(model, 3, num_samples, seed=1)
  codes = _generate(model, request, num_samples)
  assert codes.shape == (3, num_samples) and codes.dtype == np.int32
  assert codes.min() >= 0 and codes.max() < 256
  forced = model.decode_logits(codes, request.embeddings)
  np.testing.assert_array_equal(_resampled(forced, request), codes)


def test_block_size_does_not_change_output(model):
  num_samples = 200  # not a multiple of any block size below
  request = _request(model, 2, num_samples, seed=3)
  reference = _generate(model, request, num_samples, block_samples=32)
  for block_samples in (96, 256):
    np.testing.assert_array_equal(
        _generate(model, request, num_samples, block_samples), reference)
  blocks = list(generator_lib.stream(
      fastgen.generator(model, _config_of(model)), request, num_samples, 64))
  assert [c.shape for c in blocks] == [(2, 64)] * 3 + [(2, 8)]
  np.testing.assert_array_equal(np.concatenate(blocks, 1), reference)


def test_codes_do_not_depend_on_the_batch_or_place_in_it(model):
  """A sequence (its seed, temperature, embeddings) makes the same codes
  alone, and at another place in a batch of another size."""
  num_samples = 96
  request = _request(model, 3, num_samples, seed=10,
                     temperature=[1.0, 0.8, 1.0])
  together = _generate(model, request, num_samples)
  for i in range(3):
    np.testing.assert_array_equal(
        _generate(model, request.rows([i]), num_samples)[0], together[i])
  np.testing.assert_array_equal(
      _generate(model, request.rows([2, 0]), num_samples),
      together[[2, 0]])


def test_next_block_is_a_function_of_its_state(model):
  """A state stays valid: going on from it twice gives the same block, even
  after another batch of the same size ran in between."""
  gen = fastgen.generator(model, _config_of(model))
  request = _request(model, 2, 128, seed=4)
  frames = (lambda a, b: None) if not gen.conditioned else (
      lambda a, b: request.embeddings[:, a // 32:b // 32])
  state = gen.start(request)
  first, after_first = gen.next_block(state, 64, frames(0, 64))
  again, _ = gen.next_block(state, 64, frames(0, 64))
  np.testing.assert_array_equal(again, first)
  second, _ = gen.next_block(after_first, 64, frames(64, 128))
  other = gen.start(_request(model, 2, 128, seed=99))
  gen.next_block(other, 64, frames(0, 64))  # leaves other queues behind
  second_again, _ = gen.next_block(after_first, 64, frames(64, 128))
  np.testing.assert_array_equal(second_again, second)
  np.testing.assert_array_equal(np.concatenate([first, second], 1),
                                _generate(model, request, 128))


def test_temperature_per_sequence_and_seeds(model):
  num_samples = 64
  embeddings = _embeddings(model, 3, num_samples)
  run = lambda seed, temperature: _generate(model, generator_lib.Request.make(
      3, seed, temperature, embeddings=embeddings), num_samples)
  mixed = run(1, [0.0, 1.0, 0.5])
  np.testing.assert_array_equal(run(1, [0.0, 1.0, 0.5]), mixed)
  # Each row is what it would be with that temperature for the whole batch.
  np.testing.assert_array_equal(mixed[0], run(1, 0.0)[0])
  np.testing.assert_array_equal(mixed[1], run(1, 1.0)[1])
  np.testing.assert_array_equal(mixed[2], run(1, 0.5)[2])
  other_seed = run(2, [0.0, 1.0, 0.5])
  np.testing.assert_array_equal(other_seed[0], mixed[0])  # argmax: no noise
  assert (other_seed[1] != mixed[1]).mean() > 0.5


def test_generator_is_cached_per_model_and_rereads_weights():
  model = _build("tiny_unconditional", seed=3)
  wavenet_family = family.get("wavenet")
  config = _config("tiny_unconditional")
  gen = wavenet_family.generator(model, config)
  request = generator_lib.Request.make(1, seed=0, temperature=0.0)
  before = generator_lib.generate(gen, request, 32)
  logits_bias = model.decoder.logits.bias
  logits_bias.assign(tf.one_hot(7, 256) * 100.0)
  assert wavenet_family.generator(model, config) is gen
  np.testing.assert_array_equal(generator_lib.generate(gen, request, 32), 7)
  assert not np.all(before == 7)


def test_decode_logits_needs_enough_frames(autoencoder):
  with pytest.raises(ValueError, match="frames"):
    autoencoder.decode_logits(tf.zeros([1, 65], tf.int32), tf.zeros([1, 2, 4]))
  with pytest.raises(ValueError, match="needs embeddings"):
    autoencoder.decode_logits(tf.zeros([1, 8], tf.int32))


def test_generation_request_errors(autoencoder):
  gen = fastgen.generator(autoencoder, _config_of(autoencoder))
  error = generator_lib.RequestError
  one = generator_lib.Request.make(1)
  with pytest.raises(error, match="needs embeddings"):
    gen.next_block(gen.start(one), 32)
  with pytest.raises(error, match="frames"):
    generator_lib.generate(gen, generator_lib.Request.make(
        embeddings=np.zeros([1, 3, 4])), 100)
  with pytest.raises(error, match="multiple of 32"):
    generator_lib.generate(gen, generator_lib.Request.make(
        embeddings=np.zeros([1, 2, 4])), 64, block_samples=48)
  with pytest.raises(error, match="prime"):
    gen.start(generator_lib.Request.make(prime_codes=np.zeros([1, 4]),
                                         embeddings=np.zeros([1, 1, 4])))
  with pytest.raises(error, match="3 temperatures for 2 sequences"):
    generator_lib.Request.make(2, temperature=[1.0, 1.0, 1.0])


@pytest.mark.parametrize("preset", PRESETS)
def test_flops_per_sample_counts_what_generation_runs(preset, monkeypatch):
  """`flops_per_sample` against the products the cached step really runs
  (`flop_count`): two blocks minus one (per-block work cancels), per sample
  and sequence. Blocks of whole chunks (a shorter block pads its chunk's
  frame terms, one product per frame of the chunk, computed in it), short
  ones here: counting runs every step eagerly."""
  monkeypatch.setattr(fastgen, "CHUNK_SAMPLES", 64)
  model, batch, chunk = _shared(preset), 2, 64
  gen = fastgen.FastGenerator(model, _config_of(model))
  request = _request(model, batch, 2 * chunk)

  def counted(num_samples):
    with flop_count.matmul_flops() as count:
      generator_lib.generate(gen, request, num_samples, chunk)
    return count.flops

  per_sample = (counted(2 * chunk) - counted(chunk)) / (chunk * batch)
  assert per_sample == flops.flops_per_sample(_config(preset))


# --- training ---------------------------------------------------------------


class _Adam:
  """Plain Adam on tf.Variables (Keras's optimizer takes ~10 s to trace)."""

  def __init__(self, variables, learning_rate, beta1=0.9, beta2=0.999):
    self.variables = variables
    self.learning_rate, self.beta1, self.beta2 = learning_rate, beta1, beta2
    self.m = [tf.Variable(tf.zeros_like(v)) for v in variables]
    self.v = [tf.Variable(tf.zeros_like(v)) for v in variables]
    self.step = tf.Variable(0.0)

  def apply(self, grads):
    self.step.assign_add(1.0)
    scale = (self.learning_rate * tf.sqrt(1 - self.beta2 ** self.step) /
             (1 - self.beta1 ** self.step))
    for var, grad, m, v in zip(self.variables, grads, self.m, self.v):
      m.assign(self.beta1 * m + (1 - self.beta1) * grad)
      v.assign(self.beta2 * v + (1 - self.beta2) * grad * grad)
      var.assign_sub(scale * m / (tf.sqrt(v) + 1e-8))


def test_autoencoder_overfits_a_short_clip():
  model = _build("tiny", seed=1)
  t = np.arange(256)
  audio = 0.6 * np.sin(2 * np.pi * t / 40) * np.sin(2 * np.pi * t / 512)
  codes = tf.constant(quantization.encode(audio, "mu_law", 256)[None])
  variables = model.trainable_variables
  optimizer = _Adam(variables, 0.01)

  @tf.function
  def train_step():
    with tf.GradientTape() as tape:
      logits, _ = model(codes, (), training=True)
      loss = tf.reduce_mean(
          tf.nn.sparse_softmax_cross_entropy_with_logits(codes, logits))
    optimizer.apply(tape.gradient(loss, variables))
    return loss

  first = float(train_step())
  for _ in range(150):
    loss = float(train_step())
  bits = loss / np.log(2)
  assert first / np.log(2) > 7.5  # ~uniform over 256 codes at the start
  assert bits < 1.0, f"NLL {bits:.2f} bits/sample after overfitting"
