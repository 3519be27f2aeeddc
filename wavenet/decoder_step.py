"""One cached WaveNet decoder step, and a chunk of them compiled by XLA.

The math of `wavenet.fastgen`'s generator (see its module doc for why):
every causal conv keeps a queue of its past inputs (Paine et al. 2016), so a
sample costs a few small matrix products per layer. Arranged so that few,
larger operations run per sample:

- The dilated taps of every layer (its inputs `d` and `2 d` samples ago,
  ...) are known when a sample starts, so their contribution to all layers
  is one batched product `[layers, batch, (k - 1) * W] x [layers, (k - 1) *
  W, 2 W]`, read from one queue buffer by one gather and written back by one
  scatter. Only the current tap (`[batch, W] x [W, 2 W]`) and the residual
  1x1 run layer after layer.
- Conditioning is constant over a frame: the embedding's projections for
  every layer and the output stack (with the biases) are one product per
  block, `[frames * batch, E] x [E, layers * 2 W + S]` (`frame_terms`),
  outside the per-sample loop.
- The Gumbel noise of a whole chunk is one wide elementwise op before the
  loop (`common.sampling.gumbel_noise`); the loop only adds it
  (`sample_with_noise`), so the codes are those of `sample_logits`.
- At batch > 1 the layer-by-layer products are one vector-matrix product
  per sequence (`[batch, 1, in] x [batch, in, out]`, the kernels broadcast
  once per chunk): XLA:CPU emits those inline as at batch 1, where a
  `[batch, in] x [in, out]` product is a call to Eigen's gemm costing
  1-3 us (its thread pool) at these sizes: 2x faster per sample at batch 4.
- A chunk (`frames * hop` samples at most) is one XLA computation (a
  `tf.while_loop` whose state is loop-carried tensors) with static shapes:
  one compile per batch size.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import tensorflow as tf

from common import quantization
from common import sampling
from wavenet import pitch


def _tensor(variable: Any) -> tf.Tensor:
  return tf.convert_to_tensor(variable, tf.float32)


def _one_by_one(conv: Any) -> tf.Tensor:
  return _tensor(conv.kernel)[0]


class Layout(NamedTuple):
  """The static shape of a decoder's step (Python ints).

  filter_length `k`; dilations per layer; width `W`; inputs of the start
  conv (1, or 2 with the period input); embedding_width `E` (0 if
  unconditioned); hop (samples per frame; an unconditioned model's one
  "frame" of biases covers a whole chunk); history
  (ring of past outputs for the period input, 0 without); q_levels.
  """
  filter_length: int
  dilations: tuple[int, ...]
  width: int
  inputs: int
  embedding_width: int
  hop: int
  history: int
  q_levels: int

  @property
  def offsets(self) -> np.ndarray:
    """Row of each layer's first slot in the queue buffer `[layers]`."""
    return np.cumsum([0, *self.dilations[:-1]]).astype(np.int32)

  @property
  def past_width(self) -> int:
    """Channels of one queue slot: the `k - 1` past taps of a layer."""
    return (self.filter_length - 1) * self.width


def layout(model: Any, chunk_samples: int) -> Layout:
  """The step layout of a built `wavenet.model.WaveNet` generated in
  chunks of `chunk_samples` (the hop of an unconditioned model)."""
  dec = model.decoder
  history = 0
  if model.pitch_period_input:  # > the longest period (the lowest bin's)
    longest = float(model.sample_rate) / pitch.midi_to_hz(
        model.pitch_min_midi)
    history = 1 << (int(longest) + 2).bit_length()
  return Layout(
      filter_length=int(model.filter_length),
      dilations=tuple(int(b.dilation) for b in dec.blocks),
      width=int(dec.blocks[0].width),
      inputs=2 if model.pitch_period_input else 1,
      embedding_width=int(model.embedding_width or 0),
      hop=int(model.hop_length or chunk_samples), history=history,
      q_levels=int(model.q_levels))


def weights(model: Any) -> dict[str, Any]:
  """The decoder's weights as tensors shaped for one-sample steps.

  With `W` width, `S` skip width, `E` embedding width (0 unconditioned),
  `k` filter length, `L` layers:
    start_kernel `[k * inputs, W]` (rows newest tap first), start_bias `[W]`;
    now_kernels: per layer `[W, 2 W]` (its current tap);
    past_kernels `[L, (k - 1) W, 2 W]` (its older taps, newest first);
    cond_kernel `[E, L * 2 W + S]`: every layer's conditioning projection,
      then the output stack's; cond_bias `[L * 2 W + S]`: the layers' conv
      and projection biases, then out1's and its projection's;
    res_kernels: per layer but the last `[W, W]`, res_biases `[W]` (the
      last layer has no residual);
    skip_kernel `[(L + 1) W, S]` over `[start conv output, z_1 .. z_L]`,
      skip_bias `[S]`; out1_kernel `[S, S]`;
    logits_kernel `[S, q_levels]`, logits_bias `[q_levels]`.
  """
  dec = model.decoder
  blocks = dec.blocks
  width = int(blocks[0].width)
  start = _tensor(dec.start_conv.kernel)[::-1]
  taps = [_tensor(b.dilated_conv.kernel)[::-1] for b in blocks]  # [k, W, 2W]
  cond_bias = [_tensor(b.dilated_conv.bias) for b in blocks]
  cond_bias.append(_tensor(dec.out1.bias))
  if model.conditioned:
    cond_bias = ([bias + _tensor(b.cond_proj.bias)
                  for bias, b in zip(cond_bias, blocks)]
                 + [cond_bias[-1] + _tensor(dec.cond_out.bias)])
    cond_kernel = tf.concat([_one_by_one(b.cond_proj) for b in blocks]
                            + [_one_by_one(dec.cond_out)], axis=-1)
  else:
    cond_kernel = tf.zeros([0, sum(int(b.shape[0]) for b in cond_bias)])
  skips = [dec.skip_start] + [b.skip for b in blocks]
  res = [_one_by_one(b.res) for b in blocks[:-1]]
  return {
      "start_kernel": tf.reshape(start, [-1, width]),
      "start_bias": _tensor(dec.start_conv.bias),
      "now_kernels": [t[0] for t in taps],
      "past_kernels": tf.stack([tf.reshape(t[1:], [-1, 2 * width])
                                for t in taps]),
      "cond_kernel": cond_kernel,
      "cond_bias": tf.concat(cond_bias, axis=0),
      "res_kernels": res,
      "res_biases": [_tensor(b.res.bias) for b in blocks[:-1]],
      "skip_kernel": tf.concat([_one_by_one(c) for c in skips], axis=0),
      "skip_bias": tf.add_n([_tensor(c.bias) for c in skips]),
      "out1_kernel": _one_by_one(dec.out1),
      "logits_kernel": _one_by_one(dec.logits),
      "logits_bias": _tensor(dec.logits.bias),
  }


def zero_state(lay: Layout, batch_size: int) -> dict[str, tf.Tensor]:
  """The state before sample 0 (zeros = the causal padding).

  x `[batch]`: the decoder's next (shifted) input; start_past `[batch, (k -
  1) * inputs]`: the start conv's older taps; queues `[sum(dilations),
  batch, (k - 1) W]`: layer `l`'s slot `t mod d_l` (row `offsets[l] + t mod
  d_l`) holds its inputs at `t - d_l, t - 2 d_l, ...`; history `[H, batch]`:
  past outputs, slot `t mod H` (H = 0 without the period input).
  """
  k = lay.filter_length
  return dict(
      x=tf.zeros([batch_size]),
      start_past=tf.zeros([batch_size, (k - 1) * lay.inputs]),
      queues=tf.zeros([sum(lay.dilations), batch_size, lay.past_width]),
      history=tf.zeros([lay.history, batch_size]))


# A kernel is broadcast per row (`_per_row`) only up to this size: a large
# kernel makes a `[batch, in] x [in, out]` product worth Eigen's gemm, and
# its copies would cost memory (the `nsynth` preset at batch 16: 2.1 GB
# more, and 132 instead of 234 samples/s).
PER_ROW_MAX_BYTES = 4 << 20  # the shipped WaveNets' all are, to batch 16


def _per_row(kernel: tf.Tensor, batch: int) -> tf.Tensor:
  """A kernel `[in, out]` as `[batch, in, out]` (batch > 1 and small
  kernels; see `_dot`), else itself."""
  if batch == 1 or batch * kernel.shape.num_elements() * 4 > (
      PER_ROW_MAX_BYTES):
    return kernel
  return tf.broadcast_to(kernel, [batch, *kernel.shape])


def _dot(x: tf.Tensor, kernel: tf.Tensor) -> tf.Tensor:
  """`x [batch, in]` times a kernel `[in, out]`, or `[batch, in, out]`
  (`_per_row`): then one vector-matrix product per row, which XLA:CPU
  emits inline as it does at batch 1, where a `[batch > 1, in] x [in,
  out]` product is a call to Eigen's gemm that costs microseconds (its
  thread pool) at these sizes."""
  if kernel.shape.rank == 2:
    return tf.matmul(x, kernel)
  return tf.matmul(x[:, None], kernel)[:, 0]


def _gate(pre: tf.Tensor) -> tf.Tensor:
  sigmoid_half, tanh_half = tf.split(pre, 2, axis=-1)
  return tf.sigmoid(sigmoid_half) * tf.tanh(tanh_half)  # layers.gate


def frame_terms(lay: Layout, w: dict, embeddings: tf.Tensor
                ) -> tuple[tf.Tensor, tf.Tensor]:
  """Per-frame conditioning: `[frames, L, batch, 2 W]` added before each
  layer's gate and `[frames, batch, S]` before the output stack's relu
  (projections plus biases) from embeddings `[frames, batch, E]`."""
  frames, batch = tf.shape(embeddings)[0], tf.shape(embeddings)[1]
  if lay.embedding_width:
    terms = tf.nn.bias_add(
        tf.matmul(tf.reshape(embeddings, [-1, lay.embedding_width]),
                  w["cond_kernel"]), w["cond_bias"])
    terms = tf.reshape(terms, [frames, batch, -1])
  else:  # the biases alone (no product over zero columns: unreliable in
    # a graph, where it may be fused with its bias)
    terms = tf.broadcast_to(w["cond_bias"],
                            [frames, batch, w["cond_bias"].shape[0]])
  layers_width = len(lay.dilations) * 2 * lay.width
  per_layer = tf.reshape(terms[..., :layers_width],
                         [frames, batch, len(lay.dilations), 2 * lay.width])
  return tf.transpose(per_layer, [0, 2, 1, 3]), terms[..., layers_width:]


def chunk_frames(lay: Layout, w: dict, embeddings: tf.Tensor,
                 periods_of: Any) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  """A chunk's per-frame inputs from its embedding frames `[frames, batch,
  E]` (E = 0 unconditioned): `frame_terms` and the pitch periods `[frames,
  batch]` (`periods_of(embeddings)`; zeros without the period input)."""
  periods = (periods_of(embeddings) if lay.history
             else tf.zeros(tf.shape(embeddings)[:2]))
  return (*frame_terms(lay, w, embeddings), periods)


def _period_ago(lay: Layout, history: tf.Tensor, t: tf.Tensor,
                period: tf.Tensor) -> tf.Tensor:
  """The output one pitch period before `t` (`[batch]`) from the history
  (`wavenet.pitch.one_period_ago`); `period` `[batch]` in samples."""
  size = lay.history
  columns = tf.range(tf.shape(period)[0])

  def at(index: tf.Tensor) -> tf.Tensor:
    value = tf.gather_nd(history, tf.stack([index % size, columns], -1))
    return tf.where(index >= 0, value, 0.0)

  return pitch.period_back(at, tf.cast(t, tf.float32), period)


def step(lay: Layout, w: dict, state: dict, t: tf.Tensor,
         layer_terms: tf.Tensor, out_terms: tf.Tensor, period: tf.Tensor,
         temperatures: tf.Tensor, noise: tf.Tensor
         ) -> tuple[tf.Tensor, dict]:
  """Makes sample `t` of every sequence: `step_logits`, then Gumbel-max
  sampling with `noise` (`[batch, q_levels]`, `common.sampling`) at
  `temperatures` (float32 `[batch, 1]`).

  Returns:
    codes int32 `[batch]` and the state at `t + 1`.
  """
  logits, state = step_logits(lay, w, state, t, layer_terms, out_terms,
                              period)
  codes = sampling.sample_with_noise(logits, temperatures, noise)
  return codes, dict(state, x=quantization.codes_to_unit(codes,
                                                         lay.q_levels))


def step_logits(lay: Layout, w: dict, state: dict, t: tf.Tensor,
                layer_terms: tf.Tensor, out_terms: tf.Tensor,
                period: tf.Tensor) -> tuple[tf.Tensor, dict]:
  """The logits of sample `t` of every sequence, and the state after it
  but for `x` (the sampled input of `t + 1`, which `step` sets).

  Args:
    lay, w: `layout`, `weights` (at batch > 1 its kernels per row, as
      `chunk` passes them: `_per_row`).
    state: `zero_state`'s structure, holding the state at `t`.
    t: absolute sample index, int32 scalar.
    layer_terms `[L, batch, 2 W]`, out_terms `[batch, S]`: the frame's
      `frame_terms`.
    period: `[batch]` pitch period of `t`'s frame (unused without the
      period input).

  Returns:
    logits float32 `[batch, q_levels]` and the state's other tensors at
    `t + 1`.
  """
  x, history = state["x"], state["history"]
  inputs = x[:, None]
  if lay.history:
    history = tf.tensor_scatter_nd_update(
        history, [[(t - 1) % lay.history]], x[None])
    inputs = tf.stack([x, _period_ago(lay, history, t, period)], axis=-1)
  start_taps = tf.concat([inputs, state["start_past"]], axis=-1)
  h = _dot(start_taps, w["start_kernel"]) + w["start_bias"]
  queues, pre_past = state["queues"], layer_terms
  if lay.past_width:
    slots = lay.offsets + t % np.asarray(lay.dilations, np.int32)
    past = tf.gather(queues, slots)  # [L, batch, (k - 1) W]
    pre_past += tf.matmul(past, w["past_kernels"])
  layer_inputs, skip_inputs = [], [h]
  for i in range(len(lay.dilations)):
    layer_inputs.append(h)
    z = _gate(_dot(h, w["now_kernels"][i]) + pre_past[i])
    skip_inputs.append(z)
    if i < len(lay.dilations) - 1:  # the last layer has no residual
      h += _dot(z, w["res_kernels"][i]) + w["res_biases"][i]
  if lay.past_width:
    new_slots = tf.concat([tf.stack(layer_inputs), past[..., :-lay.width]],
                          axis=-1)
    queues = tf.tensor_scatter_nd_update(queues, slots[:, None], new_slots)
  skip = _dot(tf.concat(skip_inputs, axis=-1), w["skip_kernel"])
  out = tf.nn.relu(skip + w["skip_bias"])
  out = tf.nn.relu(_dot(out, w["out1_kernel"]) + out_terms)
  logits = _dot(out, w["logits_kernel"]) + w["logits_bias"]
  return logits, dict(
      start_past=start_taps[:, :state["start_past"].shape[-1]],
      queues=queues, history=history)


_ROW_KERNELS = ("start_kernel", "now_kernels", "res_kernels", "skip_kernel",
                "out1_kernel", "logits_kernel")


def chunk(lay: Layout, w: dict, state: dict, layer_terms: tf.Tensor,
          out_terms: tf.Tensor, periods: tf.Tensor, start: tf.Tensor,
          num_steps: tf.Tensor, temperatures: tf.Tensor, seeds: tf.Tensor
          ) -> tuple[tf.Tensor, dict]:
  """Runs `num_steps` samples from absolute sample `start` (a frame
  boundary if conditioned).

  Args:
    layer_terms `[frames, L, batch, 2 W]`, out_terms `[frames, batch,
      S]`: the chunk's `frame_terms`.
    periods: its frames' pitch periods `[frames, batch]`.
    num_steps: int32 scalar, at most `frames * hop`.
    temperatures: float32 `[batch]`; seeds: uint32 `[batch]`.

  Returns:
    codes int32 `[batch, frames * hop]` (the first `num_steps` columns
    made, the rest 0) and the state after them.
  """
  frames, batch = periods.shape[0], periods.shape[1]
  codes = tf.zeros([frames * lay.hop, batch], tf.int32)
  # The noise of the whole chunk at once: one wide elementwise op.
  noise = tf.transpose(sampling.gumbel_noise(
      seeds, start, frames * lay.hop, lay.q_levels), [1, 0, 2])
  temperatures = sampling.temperature_column(temperatures, batch)
  w = dict(w)
  for name in _ROW_KERNELS:
    w[name] = tf.nest.map_structure(lambda k: _per_row(k, batch), w[name])

  def body(i: tf.Tensor, codes: tf.Tensor, state: dict) -> tuple:
    frame = i // lay.hop
    made, state = step(lay, w, state, start + i, layer_terms[frame],
                       out_terms[frame], periods[frame], temperatures,
                       noise[i])
    codes = tf.tensor_scatter_nd_update(codes, [[i]], made[None])
    return i + 1, codes, state

  _, codes, state = tf.while_loop(
      lambda i, *_: i < num_steps, body, (tf.constant(0), codes, state),
      parallel_iterations=1)
  return tf.transpose(codes), state
