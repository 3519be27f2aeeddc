"""The WaveNet's generator: fast cached sample-by-sample generation.

After Paine et al. 2016, "Fast Wavenet Generation Algorithm": every causal
convolution keeps a queue of its past inputs, so one sample costs one
matrix product per layer instead of recomputing the receptive field.
`FastGenerator` implements `common.generator.Generator` for the autoencoder
(blocks of whole embedding frames) and the unconditional WaveNet:

    gen = fastgen.generator(model, config)        # cached per model
    request = Request.make(seed=1, temperature=[1.0, 0.9],
                           embeddings=embeddings)  # [2, frames, width]
    codes = common.generator.generate(gen, request, num_samples)

- The per-sample loop is one graph per block (`tf.function` +
  `tf.while_loop`), batched over sequences, each with its own seed and
  temperature from the `State`; `common.sampling.sample_logits` keys the
  noise by (the sequence's seed, absolute sample `t`), so the codes do not
  depend on the batch, a sequence's place in it or the block size, and
  `NaiveGenerator` (full recomputation, the baseline) draws the same codes.
- Explicit state: the queues, the pitch-period history and the last output
  are tensors of `State.tensors`. A block copies them into in-place
  `tf.Variable` queues (one per batch size) at its start and reads them out
  at its end, one copy per block (~0.1 % of a 4096-sample block at the
  README's settings), so `next_block` is a function: a state stays valid.
- Queues are updated in place within a block (one gather and one scatter of
  a single slot per layer and sample; see `new_queue`).
- Conditioning: the embedding of the current frame (constant for
  `hop_length` samples; nearest-neighbour upsampling) is appended to each
  layer's taps, its 1x1 projection folded into the layer's matrix as
  `embedding_width` extra rows (no extra op). This measured the same speed
  as adding per-frame projections precomputed outside the loop, and is
  simpler. `next_block` takes the embedding frames of its block only (a
  real-time player feeds them as they come).
- Pitch period input (`pitch_period_input`): the decoder's start conv also
  reads the output one pitch period back; a ring buffer of the last outputs
  (longer than the lowest pitch bin's period) serves it, with the same
  linear interpolation as `wavenet.pitch.one_period_ago` in training.
- Not XLA: under `jit_compile=True` the queues must be loop-carried tensors,
  and XLA:CPU (TF 2.21) copies every carried buffer on every iteration
  (~200 MB per sample at NSynth size: 44 samples/s) unless
  `--xla_cpu_copy_insertion_use_region_analysis=true` is set; even then its
  batch-16 matmuls ran at ~43 GFLOP/s against ~73 for TF's oneDNN kernels
  on the 2-core test machine. So plain graph mode it is.
- The 1x1 skip convs of all layers are one matrix product per sample over
  the concatenated gate outputs; the last layer has no residual 1x1.

Weights are read into tensors when the generator is made and by `refresh`
(`generator(model, config)` refreshes a cached one), so a model being
trained is sampled with its current weights.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np
import tensorflow as tf

from common import generator as generator_lib
from common import quantization
from common import sampling
from wavenet import pitch

DEFAULT_BLOCK_SAMPLES = 4096

# ---------------------------------------------------------------------------
# Weights as plain tensors.
# ---------------------------------------------------------------------------


def _tensor(variable: Any) -> tf.Tensor:
  return tf.convert_to_tensor(variable, tf.float32)


def _one_by_one(conv: Any) -> tf.Tensor:
  return _tensor(conv.kernel)[0]


def _taps_kernel(conv: Any,
                 cond_proj: Any = None) -> tuple[tf.Tensor, tf.Tensor]:
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


def decoder_weights(model: Any) -> dict[str, Any]:
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


def new_queue(filter_length: int, dilation: int, batch_size: int,
              channels: int) -> tf.Tensor:
  """The zero queue of a causal conv (zeros = the causal padding).

  `[dilation, batch, (filter_length - 1) * channels]`: slot `t mod
  dilation` holds the conv's inputs at `t - d, t - 2d, ..., t - (k - 1) d`,
  newest first and side by side, so one step reads and rewrites a single
  slot (in place, in the block's `tf.Variable` copy).
  """
  return tf.zeros([dilation, batch_size, (filter_length - 1) * channels])


def _conv_step(queue: tf.Variable | None, t: tf.Tensor, dilation: int,
               x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor,
               cond: tf.Tensor | None = None) -> tf.Tensor:
  """One output sample of a causal dilated conv (+ conditioning).

  Args:
    queue: the conv's queue variable (see `new_queue`), or None if
      `filter_length` is 1.
    t: absolute sample index, int32 scalar.
    dilation: the conv's dilation, in samples.
    x: the conv's input at `t`, `[batch, channels]`.
    kernel, bias: from `_taps_kernel`.
    cond: the embedding at `t`, `[batch, embedding_width]`, or None.

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
# The generators.
# ---------------------------------------------------------------------------


class _WaveNetGenerator(generator_lib.Generator):
  """What both WaveNet generators share: the description and the checks."""

  def __init__(self, model: Any, config: dict | None = None):
    self.model = model
    self.sample_rate = int(model.sample_rate or 0)  # 0: a bare preset's
    self.q_levels = int(model.q_levels)
    self.quantization = (config or {}).get("quantization") or "mu_law"
    if model.conditioned:
      hop = int(model.hop_length)
      self.samples_per_frame = self.block_multiple = hop
      self.embedding_width = int(model.embedding_width)
      self.block_samples = max(1, DEFAULT_BLOCK_SAMPLES // hop) * hop
    else:
      self.block_samples = DEFAULT_BLOCK_SAMPLES

  def encode(self, codes: np.ndarray) -> np.ndarray:
    """Embeddings float32 `[batch, frames, width]` of int32 codes
    `[batch, samples]` (`wavenet.model.WaveNet.encode`)."""
    if not self.conditioned:
      return super().encode(codes)
    return np.asarray(self.model.encode(np.asarray(codes, np.int32)),
                      np.float32)

  def _check_start(self, request: generator_lib.Request) -> None:
    if request.prime_codes is not None:
      raise generator_lib.RequestError("a WaveNet cannot continue primed "
                                       "audio")
    if request.embeddings is not None:
      self.check(request, 0)  # the width, or no embeddings at all

  def _check_block(self, state: generator_lib.State, num_samples: int,
                   embeddings: Any) -> np.ndarray | None:
    """Validates a block; returns its embeddings as float32 (or None)."""
    if num_samples < 1 or num_samples % self.block_multiple:
      raise generator_lib.RequestError(
          f"a block of {num_samples} samples: must be a positive multiple "
          f"of {self.block_multiple}")
    if not self.conditioned:
      if embeddings is not None:
        raise generator_lib.RequestError("an unconditional model takes no "
                                         "embeddings")
      return None
    first, end = generator_lib.frame_span(state.position, num_samples,
                                          self.samples_per_frame or 1)
    want = (state.num_seqs, end - first, self.embedding_width)
    if embeddings is None or np.shape(embeddings) != want:
      raise generator_lib.RequestError(
          f"a block of {num_samples} samples needs embeddings of shape "
          f"{list(want)}, got "
          f"{None if embeddings is None else list(np.shape(embeddings))}")
    return np.asarray(embeddings, np.float32)


def _state(request: generator_lib.Request, tensors: Any
           ) -> generator_lib.State:
  return generator_lib.State(position=0, seeds=request.seeds,
                             temperatures=request.temperatures,
                             tensors=tensors)


def _sampling_args(state: generator_lib.State) -> tuple[tf.Tensor, tf.Tensor]:
  """The state's temperatures float32 `[b]` and seeds uint32 `[b]`."""
  return (tf.constant(state.temperatures, tf.float32),
          tf.constant(np.asarray(state.seeds, np.uint32)))


class FastGenerator(_WaveNetGenerator):
  """Cached generation for one `WaveNet` (see the module doc).

  Args:
    model: a built `wavenet.model.WaveNet`.
    config: its config (the quantization of its codes).
  """

  def __init__(self, model: Any, config: dict | None = None):
    super().__init__(model, config)
    dec = model.decoder
    self.filter_length = model.filter_length
    self.dilations = [b.dilation for b in dec.blocks]
    self.width = dec.blocks[0].width
    # With a period input, the last `history` outputs (> the longest pitch
    # period the embeddings can name, the lowest bin's) in a ring buffer.
    self.period_input = bool(model.pitch_period_input)
    self.history = 0
    if self.period_input:
      longest = float(model.sample_rate) / pitch.midi_to_hz(
          model.pitch_min_midi)
      self.history = 1 << (int(longest) + 2).bit_length()
    self._weights = decoder_weights(model)
    self._block_fns: dict[int, Any] = {}  # batch size -> tf.function

  def refresh(self) -> None:
    """Re-reads the model's weights (the compiled blocks are kept)."""
    self._weights = decoder_weights(self.model)

  def zero_queues(self, batch_size: int) -> list[tf.Tensor]:
    """The queues of the start conv and every layer (none if
    `filter_length` is 1), then the pitch-period history `[history,
    batch]` if the model reads one: all zeros, the state before sample 0."""
    k = self.filter_length
    queues = []
    if k > 1:
      queues = ([new_queue(k, 1, batch_size, 2 if self.period_input else 1)]
                + [new_queue(k, d, batch_size, self.width)
                   for d in self.dilations])
    if self.period_input:  # past outputs: slot `t mod history`
      queues.append(tf.zeros([self.history, batch_size]))
    return queues

  def start(self, request: generator_lib.Request) -> generator_lib.State:
    """Zero queues; the decoder's first input is 0 (`layers.shift_right`)."""
    self._check_start(request)
    return _state(request, dict(x=tf.zeros([request.num_seqs]),
                                queues=self.zero_queues(request.num_seqs)))

  def next_block(self, state: generator_lib.State, num_samples: int,
                 embeddings: np.ndarray | None = None
                 ) -> tuple[np.ndarray, generator_lib.State]:
    """See `common.generator.Generator.next_block`."""
    frames = self._check_block(state, num_samples, embeddings)
    batch = state.num_seqs
    if frames is None:
      frames = np.zeros([0, batch, 0], np.float32)
    else:
      frames = np.transpose(frames, [1, 0, 2])  # [frames, batch, width]
    temperatures, seeds = _sampling_args(state)
    codes, x, queues = self._block_fn(batch)(
        self._weights, state.tensors["x"], state.tensors["queues"], frames,
        tf.constant(state.position, tf.int32),
        tf.constant(num_samples, tf.int32), temperatures, seeds)
    return codes.numpy(), state.replace(
        position=state.position + num_samples,
        tensors=dict(x=x, queues=list(queues)))

  # -- one block -----------------------------------------------------------

  def _period_ago(self, history: tf.Variable, x: tf.Tensor, t: tf.Tensor,
                  cond: tf.Tensor) -> tf.Tensor:
    """Stores sample `t - 1` (`x`, `[batch]`) in the history; returns the
    output one pitch period before `t` (`wavenet.pitch.one_period_ago`)."""
    size = self.history
    history.scatter_update(tf.IndexedSlices(x[None], ((t - 1) % size)[None]))
    period = self.model.periods(cond[:, None])[:, 0]
    columns = tf.range(tf.shape(x)[0])

    def at(index: tf.Tensor) -> tf.Tensor:
      value = tf.gather_nd(history, tf.stack([index % size, columns], -1))
      return tf.where(index >= 0, value, 0.0)

    return pitch.period_back(at, tf.cast(t, tf.float32), period)

  def _sample_step(self, w: dict, queues: list, x: tf.Tensor,
                   cond: tf.Tensor | None, t: tf.Tensor,
                   temperatures: tf.Tensor, seeds: tf.Tensor) -> tf.Tensor:
    """Makes sample `t` of every sequence.

    Args:
      w: `decoder_weights`.
      queues: the block's variables (`zero_queues` order).
      x: the decoder's (shifted) input at `t`: the unit-scaled code of
        sample `t - 1`, `[batch]`.
      cond: the embedding of sample `t`'s frame `[batch, width]`, or None.
      t: int32 scalar.
      temperatures: float32 `[batch]`; seeds: uint32 `[batch]`.

    Returns:
      codes int32 `[batch]`.
    """
    conv_queues = (queues[:1 + len(self.dilations)] if self.filter_length > 1
                   else [None] * (1 + len(self.dilations)))
    start_input = x[:, None]
    if self.period_input:
      start_input = tf.stack(
          [x, self._period_ago(queues[-1], x, t, cond)], axis=-1)
    h = _conv_step(conv_queues[0], t, 1, start_input, w["start_kernel"],
                   w["start_bias"])
    skip_inputs = [h]
    for i, dilation in enumerate(self.dilations):
      pre = _conv_step(conv_queues[i + 1], t, dilation, h,
                       w["layer_kernels"][i], w["layer_biases"][i], cond)
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
    return sampling.sample_logits(logits, temperatures, seeds, t)

  def _block(self, w: dict, queues: list, x: tf.Tensor,
             embeddings: tf.Tensor, start: tf.Tensor, num_steps: tf.Tensor,
             temperatures: tf.Tensor, seeds: tf.Tensor
             ) -> tuple[tf.Tensor, tf.Tensor]:
    """Runs `num_steps` samples from absolute sample `start`.

    Args:
      queues: the block's variables, holding the state at `start`.
      embeddings: this block's frames `[frames, batch, width]` (`[0, batch,
        0]` if unconditioned).

    Returns codes int32 `[batch, num_steps]` and the next input `x`.
    """
    codes_out = tf.TensorArray(tf.int32, size=num_steps,
                               element_shape=x.shape)

    def body(i: tf.Tensor, x: tf.Tensor, codes_out: tf.TensorArray
             ) -> tuple:
      cond = None
      if self.conditioned:
        cond = tf.gather(embeddings, i // self.block_multiple)
      codes = self._sample_step(w, queues, x, cond, start + i, temperatures,
                                seeds)
      x = quantization.codes_to_unit(codes, self.q_levels)
      return i + 1, x, codes_out.write(i, codes)

    # One iteration at a time: the queues are updated in place.
    _, x, codes_out = tf.while_loop(
        lambda i, *_: i < num_steps, body, (tf.constant(0), x, codes_out),
        parallel_iterations=1)
    return tf.transpose(codes_out.stack()), x

  def _block_fn(self, batch_size: int) -> Any:
    """The compiled block for a batch size: copies the state's queues into
    its variables, runs `_block`, reads them out (a new state)."""
    if batch_size not in self._block_fns:
      variables = [tf.Variable(q, trainable=False)
                   for q in self.zero_queues(batch_size)]
      width = self.embedding_width if self.conditioned else 0
      signature = [
          tf.nest.map_structure(tf.TensorSpec.from_tensor, self._weights),
          tf.TensorSpec([batch_size], tf.float32),
          [tf.TensorSpec.from_tensor(v.value()) for v in variables],
          tf.TensorSpec([None, batch_size, width], tf.float32),
          tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int32),
          tf.TensorSpec([batch_size], tf.float32),
          tf.TensorSpec([batch_size], tf.uint32)]

      def run(w: dict, x: tf.Tensor, queues: list, embeddings: tf.Tensor,
              start: tf.Tensor, num_steps: tf.Tensor,
              temperatures: tf.Tensor, seeds: tf.Tensor) -> tuple:
        for variable, value in zip(variables, queues):
          variable.assign(value)
        codes, x = self._block(w, variables, x, embeddings, start, num_steps,
                               temperatures, seeds)
        return codes, x, [v.read_value() for v in variables]

      self._block_fns[batch_size] = tf.function(run,
                                                input_signature=signature)
    return self._block_fns[batch_size]


_GENERATORS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def generator(model: Any, config: dict | None = None) -> FastGenerator:
  """The model's `FastGenerator`, made once per model so its compiled
  blocks are reused; a second call re-reads the weights (`refresh`). The
  cache holds the model weakly: a model dropped elsewhere is freed."""
  if model in _GENERATORS:
    gen = _GENERATORS[model]
    gen.refresh()
    return gen
  proxy: Any = weakref.proxy(model)
  gen = _GENERATORS[model] = FastGenerator(proxy, config)
  return gen


class NaiveGenerator(_WaveNetGenerator):
  """The slow baseline: recomputes the decoder over the whole prefix per
  sample.

  The same sampling as `FastGenerator` (per-sequence seeds), so the codes
  agree. Sample `t` costs a decoder pass over `t + 1` samples, so the total
  grows with the square of the length: for tests and the benchmark only.
  Its state is the codes and embeddings so far.
  """

  def __init__(self, model: Any, config: dict | None = None):
    super().__init__(model, config)
    self.block_multiple = 1  # any block: each sample is computed alone
    self._last_logits = tf.function(self._last_logits_eager, input_signature=[
        tf.TensorSpec([None, None], tf.int32),
        tf.TensorSpec([None, None, None], tf.float32)])

  def _last_logits_eager(self, codes: tf.Tensor,
                         embeddings: tf.Tensor) -> tf.Tensor:
    """Logits `[batch, q_levels]` for the last sample of `codes`."""
    model = self.model
    return model.decode_logits(
        codes, embeddings if model.conditioned else None)[:, -1]

  def start(self, request: generator_lib.Request) -> generator_lib.State:
    self._check_start(request)
    batch = request.num_seqs
    return _state(request, dict(
        codes=np.zeros([batch, 0], np.int32),
        embeddings=np.zeros([batch, 0, self.embedding_width or 1],
                            np.float32)))

  def next_block(self, state: generator_lib.State, num_samples: int,
                 embeddings: np.ndarray | None = None
                 ) -> tuple[np.ndarray, generator_lib.State]:
    frames = self._check_block(state, num_samples, embeddings)
    batch, first = state.num_seqs, state.position
    past = state.tensors["embeddings"]
    if frames is None:  # not read: one frame of zeros
      frames = np.zeros([batch, 1, 1], np.float32)
      past = past[:, :0]
    else:  # the block's first frame may continue the last block's
      past = past[:, :first // (self.samples_per_frame or 1)]
    frames = np.concatenate([past, frames], axis=1)
    codes = np.concatenate(
        [state.tensors["codes"], np.zeros([batch, num_samples], np.int32)],
        axis=1)
    temperatures, seeds = _sampling_args(state)
    for t in range(first, first + num_samples):
      # codes[:, t] is a placeholder here; causality means it is not seen.
      logits = self._last_logits(tf.constant(codes[:, :t + 1]), frames)
      codes[:, t] = sampling.sample_logits(logits, temperatures, seeds,
                                           t).numpy()
    return codes[:, first:], state.replace(
        position=first + num_samples,
        tensors=dict(codes=codes, embeddings=frames))


def naive_generate(model: Any, request: generator_lib.Request,
                   num_samples: int) -> np.ndarray:
  """Codes int32 `[num_seqs, num_samples]` by full recomputation of the
  prefix at every sample: the same codes as `FastGenerator` for the same
  request. Slow (quadratic in `num_samples`)."""
  return generator_lib.generate(NaiveGenerator(model), request, num_samples)
