"""Fast cached sample-by-sample generation for the WaveNet decoder.

After Paine et al. 2016, "Fast Wavenet Generation Algorithm": every causal
convolution keeps a queue of its past inputs, so one sample costs one
matrix product per layer instead of recomputing the receptive field.

- The per-sample loop is one graph per block of samples (`tf.function` +
  `tf.while_loop`), batched over sequences with one temperature per
  sequence. The queues persist from block to block, so memory does not grow
  with the length generated; `on_block` receives each block as it is made
  (e.g. to stream to disk).
- Queues are `tf.Variable`s updated in place (one gather and one scatter of
  a single slot per layer and sample; see `new_queue`).
- Conditioning: the embedding of the current frame (constant for
  `hop_length` samples; nearest-neighbour upsampling) is appended to each
  layer's taps, its 1x1 projection folded into the layer's matrix as
  `bottleneck` extra rows (+1% FLOPs at NSynth size, no extra op). This
  measured the same speed as adding per-frame projections precomputed
  outside the loop, and is simpler.
- Pitch period input (`pitch_period_input`): the decoder's start conv also
  reads the output one pitch period back; a ring buffer of the last outputs
  (longer than the lowest pitch bin's period) serves it, with the same
  linear interpolation as `wavenet.pitch.one_period_ago` in training.
- Sampling is `common.sampling.sample_logits` keyed by (seed, absolute
  sample `t`, sequence), so the codes do not depend on the block size or the
  batch size, and `naive_generate` (full recomputation, the baseline) draws
  exactly the same codes.
- Not XLA: under `jit_compile=True` the queues must be loop-carried tensors,
  and XLA:CPU (TF 2.21) copies every carried buffer on every iteration
  (~200 MB per sample at NSynth size: 44 samples/s) unless
  `--xla_cpu_copy_insertion_use_region_analysis=true` is set; even then its
  batch-16 matmuls ran at ~43 GFLOP/s against ~73 for TF's oneDNN kernels
  on the 2-core test machine. So plain graph mode it is.
- The 1x1 skip convs of all layers are one matrix product per sample over
  the concatenated gate outputs; the last layer has no residual 1x1.

Weights are read into tensors once per `generate` call (so a model being
trained can be sampled with its current weights).

Example:

  model = wavenet.model.build_model(config)   # trained weights restored
  embeddings = model.encode(codes)             # [batch, frames, bottleneck]
  audio_codes = fastgen.generate(model, num_samples=64000,
                                 embeddings=embeddings, seed=1,
                                 temperature=[1.0, 0.9])
"""

import statistics
import time
import weakref

import numpy as np
import tensorflow as tf

from common import config as config_lib
from common import model_api
from common import quantization
from common import sampling
from common import timing
from wavenet import layers
from wavenet import encode as encode_lib
from wavenet import model as model_lib
from wavenet import pitch

DEFAULT_BLOCK_SAMPLES = 4096


# ---------------------------------------------------------------------------
# Weights as plain tensors.
# ---------------------------------------------------------------------------


def _tensor(variable):
  return tf.convert_to_tensor(variable, tf.float32)


def _one_by_one(conv):
  return _tensor(conv.kernel)[0]


def _taps_kernel(conv, cond_proj=None):
  """A causal conv as one matrix over `[x_t, x_{t-d}, ..., cond]` rows.

  Conv kernel `[k, in, out]` (tap `k - 1` is the current sample) ->
  `[k * in (+ bottleneck), out]`, rows newest tap first, then the 1x1
  conditioning projection if given; bias `[out]` (conv + projection).
  """
  kernel = _tensor(conv.kernel)[::-1]
  rows = [tf.reshape(kernel, [-1, kernel.shape[-1]])]
  bias = _tensor(conv.bias)
  if cond_proj is not None:
    rows.append(_one_by_one(cond_proj))
    bias += _tensor(cond_proj.bias)
  return tf.concat(rows, axis=0), bias


def decoder_weights(model):
  """Reads the decoder's weights into tensors shaped for one-sample steps.

  Each step multiplies `[x_t, x_{t-d}, ..., x_{t-(k-1)d}, embedding_t]` by
  one matrix per layer (the conditioning projection is folded in). With
  `W` width, `S` skip width, `E` bottleneck (0 if unconditioned), `k` filter
  length, `L` layers, returns a dict of tensors:
    start_kernel `[k, W]`, start_bias `[W]`;
    layer_kernels: per layer `[k * W + E, 2 * W]`; layer_biases: `[2 * W]`;
    res_kernels: per layer but the last `[W, W]`; res_biases `[W]`;
    skip_kernel `[(L + 1) * W, S]` over `[start conv output, z_1 .. z_L]`,
    skip_bias `[S]` (all skip 1x1s summed);
    out1_kernel `[S + E, S]` (with the output conditioning), out1_bias `[S]`;
    logits_kernel `[S, q_levels]`, logits_bias `[q_levels]`.
  """
  dec = model.decoder
  conditioned = model.conditioned
  start_kernel, start_bias = _taps_kernel(dec.start_conv)
  layer_kernels, layer_biases = zip(*[
      _taps_kernel(b.dilated_conv, b.cond_proj if conditioned else None)
      for b in dec.blocks])
  skips = [dec.skip_start] + [b.skip for b in dec.blocks]
  out1_kernel, out1_bias = _one_by_one(dec.out1), _tensor(dec.out1.bias)
  if conditioned:
    out1_kernel = tf.concat([out1_kernel, _one_by_one(dec.cond_out)], axis=0)
    out1_bias += _tensor(dec.cond_out.bias)
  return {
      "start_kernel": start_kernel,
      "start_bias": start_bias,
      "layer_kernels": list(layer_kernels),
      "layer_biases": list(layer_biases),
      "res_kernels": [_one_by_one(b.res) for b in dec.blocks[:-1]],
      "res_biases": [_tensor(b.res.bias) for b in dec.blocks[:-1]],
      "skip_kernel": tf.concat([_one_by_one(c) for c in skips], axis=0),
      "skip_bias": tf.add_n([_tensor(c.bias) for c in skips]),
      "out1_kernel": out1_kernel,
      "out1_bias": out1_bias,
      "logits_kernel": _one_by_one(dec.logits),
      "logits_bias": _tensor(dec.logits.bias),
  }


# ---------------------------------------------------------------------------
# Queues: the past inputs of one causal conv, updated in place.
# ---------------------------------------------------------------------------


def new_queue(filter_length, dilation, batch_size, channels):
  """The zero queue of a causal conv (zeros = the causal padding).

  A variable `[dilation, batch, (filter_length - 1) * channels]`: slot
  `t mod dilation` holds the conv's inputs at `t - d, t - 2d, ...,
  t - (k - 1) d`, newest first and side by side, so one step reads and
  rewrites a single slot, in place.
  """
  return tf.Variable(
      tf.zeros([dilation, batch_size, (filter_length - 1) * channels]),
      trainable=False)


def _conv_step(queue, t, dilation, x, kernel, bias, cond=None):
  """One output sample of a causal dilated conv (+ conditioning).

  Args:
    queue: the conv's queue (see `new_queue`), or None if `filter_length` 1.
    t: absolute sample index, int32 scalar.
    dilation: the conv's dilation, in samples.
    x: the conv's input at `t`, `[batch, channels]`.
    kernel, bias: from `_taps_kernel`.
    cond: the embedding at `t`, `[batch, bottleneck]`, or None.

  Returns:
    `[batch, out]`; the queue now holds `x` as the input at `t`.
  """
  inputs = [x]
  if queue is not None:
    slot = t % dilation
    past = tf.gather(queue, slot)  # [batch, (k - 1) * channels]
    inputs.append(past)
    queue.scatter_update(tf.IndexedSlices(
        tf.concat([x, past[:, :-x.shape[-1]]], axis=-1)[None], slot[None]))
  if cond is not None:
    inputs.append(cond)
  taps = tf.concat(inputs, axis=-1) if len(inputs) > 1 else x
  return tf.nn.bias_add(tf.matmul(taps, kernel), bias)


# ---------------------------------------------------------------------------
# The generator.
# ---------------------------------------------------------------------------


class FastGenerator:
  """Cached generation for one `WaveNet`.

  Args:
    model: a built `wavenet.model.WaveNet`.
    block_size: samples per compiled call (and per `on_block` call); for an
      autoencoder a multiple of `hop_length`. Default: about 4096 samples.
  """

  def __init__(self, model, block_size=None):
    self.model = model
    dec = model.decoder
    self.filter_length = model.filter_length
    self.dilations = [b.dilation for b in dec.blocks]
    self.width = dec.blocks[0].width
    self.q_levels = model.q_levels
    hop = model.hop_length
    if block_size is None:
      block_size = (max(1, DEFAULT_BLOCK_SAMPLES // hop) * hop
                    if model.conditioned else DEFAULT_BLOCK_SAMPLES)
    block_size = int(block_size)
    if block_size < 1 or (model.conditioned and block_size % hop):
      raise ValueError(f"block_size must be a positive multiple of "
                       f"hop_length={hop}, got {block_size}")
    self.block_size = block_size
    # Samples per embedding frame (the whole block if unconditioned).
    self.frame_length = hop if model.conditioned else block_size
    self.frames_per_block = block_size // self.frame_length
    # With a period input, the last `history` outputs (> the longest pitch
    # period the embeddings can name, the lowest bin's) in a ring buffer.
    self.period_input = bool(getattr(model, "pitch_period_input", False))
    self.history = 0
    if self.period_input:
      longest = float(model.sample_rate) / pitch.midi_to_hz(
          model.pitch_min_midi)
      self.history = 1 << (int(longest) + 2).bit_length()
    self._queues = {}  # batch_size -> queues, kept for the next call
    self._block_fns = {}  # (batch_size, return_logits) -> tf.function

  def queues(self, batch_size):
    """Zeroed queues for the start conv and every layer (see `new_queue`).

    Made once per batch size and kept for later calls (~200 MB at NSynth
    size and batch 16), which zero them again.
    """
    k = self.filter_length
    if batch_size not in self._queues:
      inputs = 2 if self.period_input else 1
      queues = ([None] * (1 + len(self.dilations)) if k == 1 else
                [new_queue(k, 1, batch_size, inputs)] +
                [new_queue(k, d, batch_size, self.width)
                 for d in self.dilations])
      if self.period_input:  # past outputs: slot `t mod history`
        queues.append(tf.Variable(tf.zeros([self.history, batch_size]),
                                  trainable=False))
      self._queues[batch_size] = queues
    queues = self._queues[batch_size]
    for queue in queues:
      if queue is not None:
        queue.assign(tf.zeros_like(queue))
    return queues

  def _period_ago(self, history, x, t, cond):
    """Stores sample `t - 1` (`x`, `[batch]`) in the history; returns the
    output one pitch period before `t` (`wavenet.pitch.one_period_ago`)."""
    size = self.history
    history.scatter_update(tf.IndexedSlices(x[None], ((t - 1) % size)[None]))
    period = self.model.periods(cond[:, None])[:, 0]
    columns = tf.range(tf.shape(x)[0])

    def at(index):
      value = tf.gather_nd(history, tf.stack([index % size, columns], -1))
      return tf.where(index >= 0, value, 0.0)

    return pitch.period_back(at, tf.cast(t, tf.float32), period)

  # -- one block -----------------------------------------------------------

  def _sample_step(self, w, queues, x, cond, t, temperature, seed):
    """Makes sample `t` of every sequence.

    Args:
      x: the decoder's (shifted) input at `t`: the unit-scaled code of
        sample `t - 1`, `[batch]`.
      cond: the embedding of sample `t`'s frame `[batch, bottleneck]`, or
        None.

    Returns:
      codes int32 `[batch]` and logits `[batch, q_levels]`.
    """
    start_input = x[:, None]
    if self.period_input:
      start_input = tf.stack(
          [x, self._period_ago(queues[-1], x, t, cond)], axis=-1)
    h = _conv_step(queues[0], t, 1, start_input, w["start_kernel"],
                   w["start_bias"])
    skip_inputs = [h]
    for i, dilation in enumerate(self.dilations):
      pre = _conv_step(queues[i + 1], t, dilation, h, w["layer_kernels"][i],
                       w["layer_biases"][i], cond)
      sigmoid_half, tanh_half = tf.split(pre, 2, axis=-1)
      z = tf.sigmoid(sigmoid_half) * tf.tanh(tanh_half)  # layers.gate
      skip_inputs.append(z)
      if i < len(w["res_kernels"]):  # the last layer has no residual
        h += tf.nn.bias_add(tf.matmul(z, w["res_kernels"][i]),
                            w["res_biases"][i])
    # All skip 1x1s at once: [h_0, z_1 .. z_L] @ [skip_start; skip_1 ..].
    skip = tf.nn.bias_add(
        tf.matmul(tf.concat(skip_inputs, axis=-1), w["skip_kernel"]),
        w["skip_bias"])
    out = tf.nn.relu(skip)
    if cond is not None:
      out = tf.concat([out, cond], axis=-1)
    out = tf.nn.relu(tf.nn.bias_add(tf.matmul(out, w["out1_kernel"]),
                                    w["out1_bias"]))
    logits = tf.nn.bias_add(tf.matmul(out, w["logits_kernel"]),
                            w["logits_bias"])
    codes = sampling.sample_logits(logits, temperature, seed, t)
    return codes, logits

  def _block(self, w, queues, x, embeddings, start, num_steps, temperature,
             seed, return_logits):
    """Runs `num_steps <= block_size` samples from absolute sample `start`.

    Args:
      embeddings: this block's frames `[frames_per_block, batch,
        bottleneck]`, or None.

    Returns codes `[block_size, batch]` (rows past `num_steps` are zeros),
    logits `[block_size, batch, q_levels]` (or None) and the next input `x`.
    """
    codes_out = tf.TensorArray(tf.int32, size=self.block_size,
                               element_shape=[None])
    logits_out = tf.TensorArray(tf.float32, size=self.block_size,
                                element_shape=[None, self.q_levels])

    def body(i, x, codes_out, logits_out):
      cond = None
      if embeddings is not None:
        cond = tf.gather(embeddings, i // self.frame_length)
      codes, logits = self._sample_step(w, queues, x, cond, start + i,
                                        temperature, seed)
      codes_out = codes_out.write(i, codes)
      if return_logits:
        logits_out = logits_out.write(i, logits)
      x = quantization.codes_to_unit(codes, self.q_levels)
      return i + 1, x, codes_out, logits_out

    # One iteration at a time: the queues are updated in place.
    _, x, codes_out, logits_out = tf.while_loop(
        lambda i, *_: i < num_steps, body,
        (tf.constant(0), x, codes_out, logits_out), parallel_iterations=1)
    logits = logits_out.stack() if return_logits else None
    return codes_out.stack(), logits, x

  def _block_fn(self, queues, batch_size, return_logits):
    """The compiled block for a batch size; it updates `queues` in place."""
    key = (batch_size, return_logits)
    if key not in self._block_fns:
      def run(w, x, embeddings, start, num_steps, temperature, seed):
        return self._block(w, queues, x, embeddings, start, num_steps,
                           temperature, seed, return_logits)
      self._block_fns[key] = tf.function(run)
    return self._block_fns[key]

  # -- public --------------------------------------------------------------

  def generate(self, num_samples, batch_size=None, embeddings=None, seed=0,
               temperature=1.0, on_block=None, return_logits=False):
    """Generates `num_samples` codes per sequence; see `generate`."""
    model = self.model
    embeddings = _check_embeddings(model, num_samples, embeddings)
    batch_size = _batch_size(batch_size, embeddings)
    temperature = _temperatures(temperature, batch_size)
    seed = tf.cast(seed, tf.int32)
    if embeddings is not None:  # zeros past the end: equal-shaped slices
      embeddings = tf.pad(embeddings,
                          [[0, 0], [0, self.frames_per_block], [0, 0]])
    w = decoder_weights(model)
    queues = self.queues(batch_size)
    x = tf.zeros([batch_size])  # layers.shift_right's zero at sample 0
    run = self._block_fn(queues, batch_size, bool(return_logits))
    codes, logits = [], []
    for start in range(0, num_samples, self.block_size):
      steps = min(self.block_size, num_samples - start)
      frames = None
      if embeddings is not None:
        first = start // self.frame_length
        frames = tf.transpose(
            embeddings[:, first:first + self.frames_per_block], [1, 0, 2])
      block_codes, block_logits, x = run(
          w, x, frames, tf.constant(start, tf.int32),
          tf.constant(steps, tf.int32), temperature, seed)
      block_codes = np.transpose(block_codes.numpy()[:steps])
      if return_logits:
        logits.append(np.transpose(block_logits.numpy()[:steps], [1, 0, 2]))
      if on_block is not None:
        on_block(start, block_codes)
      else:
        codes.append(block_codes)
    if on_block is not None:
      return None
    codes = np.concatenate(codes, axis=1)
    if return_logits:
      return codes, np.concatenate(logits, axis=1)
    return codes


def _check_embeddings(model, num_samples, embeddings):
  """Validates embeddings; returns them as a float32 tensor (or None)."""
  if not model.conditioned:
    if embeddings is not None:
      raise ValueError("an unconditional WaveNet takes no embeddings")
    return None
  if embeddings is None:
    raise ValueError("this autoencoder needs embeddings [batch, frames, "
                     f"{model.embedding_width}] to generate")
  embeddings = tf.convert_to_tensor(embeddings, tf.float32)
  if embeddings.shape.rank != 3 or embeddings.shape[-1] != (
      model.embedding_width):
    raise ValueError(f"embeddings must be [batch, frames, "
                     f"{model.embedding_width}], got {embeddings.shape}")
  need = layers.num_frames(num_samples, model.hop_length)
  if embeddings.shape[1] < need:
    raise ValueError(f"{num_samples} samples need {need} frames of "
                     f"embeddings (hop {model.hop_length}), got "
                     f"{embeddings.shape[1]}")
  return embeddings


def _batch_size(batch_size, embeddings):
  if embeddings is not None:
    if batch_size is not None and batch_size != embeddings.shape[0]:
      raise ValueError(f"batch_size {batch_size} != embeddings batch "
                       f"{embeddings.shape[0]}")
    return int(embeddings.shape[0])
  if batch_size is None:
    raise ValueError("batch_size is needed without embeddings")
  return int(batch_size)


def _temperatures(temperature, batch_size):
  """A float scalar or one per sequence -> float32 `[batch]`."""
  t = np.asarray(temperature, np.float32)
  if t.ndim == 0:
    t = np.full([batch_size], t, np.float32)
  if t.shape != (batch_size,):
    raise ValueError(f"temperature must be a scalar or [{batch_size}], got "
                     f"shape {t.shape}")
  return tf.constant(t)


_GENERATORS = weakref.WeakKeyDictionary()  # model -> {block_size: generator}


def _cached_generator(model, block_size):
  """One `FastGenerator` per model and block size, so traces are reused."""
  generators = _GENERATORS.setdefault(model, {})
  if block_size not in generators:
    generators[block_size] = FastGenerator(model, block_size)
  return generators[block_size]


def generate(model, num_samples, batch_size=None, embeddings=None, seed=0,
             temperature=1.0, on_block=None, block_size=None,
             return_logits=False):
  """Generates codes sample by sample with cached (queued) layer inputs.

  Args:
    model: a `wavenet.model.WaveNet` (autoencoder or unconditional).
    num_samples: samples to generate per sequence.
    batch_size: sequences; taken from `embeddings` when given.
    embeddings: float `[batch, frames, bottleneck]` at `sample_rate /
      hop_length` Hz with `frames >= ceil(num_samples / hop_length)`
      (autoencoder only; sample `t` is conditioned on frame `t // hop`).
    seed: int; sample `t` of sequence `b` uses the noise of `(seed, t, b)`.
    temperature: float or `[batch]` floats (0 = argmax).
    on_block: optional `fn(start, codes)` called after each block with the
      first sample index and int32 codes `[batch, block_samples]`; when
      given, nothing is accumulated and `None` is returned.
    block_size: samples per compiled call (multiple of `hop_length`).
    return_logits: also return the logits `[batch, num_samples, q_levels]`
      (for tests; memory grows with the length).

  Returns:
    int32 codes `[batch, num_samples]` (and logits if asked), or None with
    `on_block`.
  """
  generator = _cached_generator(model, block_size)
  return generator.generate(num_samples, batch_size, embeddings, seed,
                            temperature, on_block, return_logits)


class NaiveGenerator:
  """The slow baseline: recomputes the decoder over the whole prefix per sample.

  Same arguments, sampling and seeds as `FastGenerator`, so the codes agree
  (up to float rounding in the logits). Sample `t` costs a decoder pass over
  `t + 1` samples, so the total grows with the square of the length: for
  tests and the benchmark only.
  """

  def __init__(self, model):
    self.model = model
    self._last_logits = tf.function(self._last_logits_eager, input_signature=[
        tf.TensorSpec([None, None], tf.int32),
        tf.TensorSpec([None, None, None], tf.float32)])

  def _last_logits_eager(self, codes, embeddings):
    """Logits `[batch, q_levels]` for the last sample of `codes`."""
    model = self.model
    return model.decode_logits(
        codes, embeddings if model.conditioned else None)[:, -1]

  def generate(self, num_samples, batch_size=None, embeddings=None, seed=0,
               temperature=1.0, return_logits=False):
    """See `naive_generate`."""
    embeddings = _check_embeddings(self.model, num_samples, embeddings)
    batch_size = _batch_size(batch_size, embeddings)
    temperature = _temperatures(temperature, batch_size)
    if embeddings is None:
      embeddings = tf.zeros([batch_size, 1, 1])  # not used
    codes = np.zeros([batch_size, num_samples], np.int32)
    logits = []
    for t in range(num_samples):
      # codes[:, t] is a placeholder here; causality means it is not seen.
      step_logits = self._last_logits(tf.constant(codes[:, :t + 1]),
                                      embeddings)
      codes[:, t] = sampling.sample_logits(step_logits, temperature, seed,
                                           t).numpy()
      if return_logits:
        logits.append(step_logits.numpy())
    if return_logits:
      return codes, np.stack(logits, axis=1)
    return codes


def naive_generate(model, num_samples, batch_size=None, embeddings=None,
                   seed=0, temperature=1.0, return_logits=False):
  """Generation by full recomputation of the prefix at every sample.

  Arguments and results as `generate` (without streaming); the codes equal
  `generate`'s for the same seed. Slow (quadratic in `num_samples`).
  """
  return NaiveGenerator(model).generate(num_samples, batch_size, embeddings,
                                        seed, temperature, return_logits)


# ---------------------------------------------------------------------------
# Benchmark.
# ---------------------------------------------------------------------------


def _load_config(config):
  if isinstance(config, str):
    return config_lib.load("wavenet", config)
  return dict(config)


def step_matmuls(config):
  """`(rows, cols)` of each matrix one cached decoder step multiplies by.

  The start conv (`filter_length` taps of 1 input, 2 with the pitch period
  input -> `width`), per layer the
  dilated conv with its conditioning rows (`filter_length * width +
  bottleneck -> 2 * width`) and the residual 1x1 (`width -> width`, none in
  the last layer), all skip 1x1s as one product (`(layers + 1) * width ->
  skip_width`), and the output stack (`skip_width (+ bottleneck) ->
  skip_width -> q_levels`).
  """
  k, w, s = config["filter_length"], config["width"], config["skip_width"]
  n, q = config["num_layers"], config["q_levels"]
  e = (encode_lib.embedding_width(config)
       if config["conditioning"] == "encoder" else 0)
  inputs = 2 if config["pitch_period_input"] else 1
  shapes = [(k * inputs, w)]
  for i in range(n):
    shapes.append((k * w + e, 2 * w))
    if i < n - 1:
      shapes.append((w, w))
  return shapes + [((n + 1) * w, s), (s + e, s), (s, q)]


def flops_per_sample(config):
  """Matmul FLOPs (2 per multiply-add) of one cached step, per sequence.

  Elementwise work (gates, biases, sampling) is left out; see
  `step_matmuls`. NSynth preset: ~119 MFLOP.
  """
  return 2 * sum(rows * cols for rows, cols in step_matmuls(config))


def matmul_rate(config, batch_size, repeats=3, steps=20):
  """Float32 GFLOP/s of this machine on the cached step's matrix products:
  the `step_matmuls(config)` shapes chained as in `steps` cached steps
  (`common.timing.matmul_gflops`; plain TF, as generation, see the module
  doc). This is the arithmetic limit generation is compared with."""
  return timing.matmul_gflops(step_matmuls(config), batch_size, steps,
                              repeats)


def benchmark(config, batch_size=16, num_samples=None, naive=False,
              repeats=3, block_size=None, seed=0,
              measure_matmul=False):
  """Times generation with a randomly initialised model.

  Args:
    config: a wavenet preset name (e.g. "nsynth") or a config dict.
    batch_size: sequences generated together.
    num_samples: samples per sequence per run (default 1024 cached, 16
      naive: a naive NSynth-size sample takes seconds at batch 16).
    naive: time `naive_generate` (full recomputation) instead.
    repeats: timed runs; the median is reported (a short untimed warm-up run
      traces first).
    measure_matmul: also measure `matmul_rate` (mean of one measurement
      before and one after the timed runs, as other load drifts) and the
      arithmetic limit `matmul_rate / flops_per_sample`.

  Returns:
    dict: samples_per_second (aggregate over the batch), seconds (median),
    run_seconds, warmup_seconds, flops_per_sample, gflops_per_second, and
    the settings; with `measure_matmul` also matmul_gflops_per_second,
    limit_samples_per_second and fraction_of_limit.
  """
  config = _load_config(config)
  if config.get("q_levels") is None:
    config["q_levels"] = 256
  model = model_api.build(model_lib.build_model(config))
  if num_samples is None:
    num_samples = 16 if naive else 1024
  embeddings = None
  if model.conditioned:
    frames = layers.num_frames(num_samples, model.hop_length)
    embeddings = tf.random.stateless_normal(
        [batch_size, frames, model.embedding_width], [seed, 1])

  if naive:
    generator = NaiveGenerator(model)
    run = lambda n: generator.generate(n, batch_size, embeddings, seed=seed)
  else:
    generator = FastGenerator(model, block_size)
    run = lambda n: generator.generate(n, batch_size, embeddings, seed=seed)

  gflops_before = matmul_rate(config, batch_size) if measure_matmul else None
  begin = time.perf_counter()
  run(min(num_samples, 2 if naive else 64))  # traces; the length is free
  warmup = time.perf_counter() - begin
  times = []
  for _ in range(repeats):
    begin = time.perf_counter()
    run(num_samples)
    times.append(time.perf_counter() - begin)
  seconds = statistics.median(times)
  rate = batch_size * num_samples / seconds
  flops = flops_per_sample(config)
  result = {
      "samples_per_second": rate,
      "seconds": seconds,
      "run_seconds": times,
      "warmup_seconds": warmup,
      "flops_per_sample": flops,
      "gflops_per_second": rate * flops / 1e9,
      "batch_size": batch_size,
      "num_samples": num_samples,
      "naive": naive,
      "block_size": None if naive else generator.block_size,
  }
  if measure_matmul:
    gflops_after = matmul_rate(config, batch_size)
    gflops = (gflops_before + gflops_after) / 2
    limit = gflops * 1e9 / flops
    result.update(matmul_gflops_per_second=gflops,
                  matmul_gflops_before_after=[gflops_before, gflops_after],
                  limit_samples_per_second=limit,
                  fraction_of_limit=rate / limit)
  return result
