"""SampleRNN (Mehri et al., ICLR 2017): frame-level RNN tiers over a sample MLP.

A model with `frame_sizes = [16, 64]` has three tiers:

- a frame tier over 64-sample frames: the previous frame (codes scaled to
  [-1, 1]) -> linear -> multi-layer GRU/LSTM -> learned upsampling to one
  conditioning vector per 16-sample frame;
- a frame tier over 16-sample frames: the previous frame -> linear, plus the
  conditioning from above -> RNN -> learned upsampling to one vector per
  sample;
- the sample-level MLP: the previous 16 codes through a learned embedding and
  a linear map of the concatenated window, plus the conditioning from above,
  -> 2 ReLU layers -> logits over `q_levels` codes.

`frame_sizes = [16]` gives the two-tier model. The upsampling is a linear
layer `dim -> ratio * dim` reshaped to `ratio` vectors, which equals the
strided transposed convolution of prism-samplernn and the original code.

The sample MLP's first layer never materialises the embeddings: the linear
map of the concatenated window equals a sum of per-position lookup tables,
`sum_j T_j[code_j]` with `T_j = embedding @ W_j` (`[frame_size, q_levels,
dim]`), so it costs `frame_size * dim` adds per sample instead of
`frame_size * emb_size * dim` multiply-adds.

Recurrent state (one `[batch, dim]` tensor per layer, two for an LSTM) starts
from learned vectors and is carried between the windows of a crop
(truncated BPTT); see `common/model_api.py` for the interface.

The cell math (`gru_step`, `lstm_step`) and the tier pieces are small pure
functions of explicit weights, so `samplernn.generator` runs exactly the same
arithmetic one step at a time, on weights read out as tensors.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import tensorflow as tf

from common import config as config_lib
from common import quantization
from samplernn import config_schema

State = tuple[tf.Tensor, ...]  # flat RNN state, top tier first


# --------------------------------------------------------------------------
# Config.


def frame_sizes_of(config: dict) -> tuple[int, ...]:
  """The frame sizes, largest (top tier) first, e.g. (64, 16), checked by
  the schema (`samplernn.config_schema.frame_sizes_top_down`)."""
  return config_schema.frame_sizes_top_down(config["frame_sizes"])


def upsample_ratios(frame_sizes: tuple[int, ...]) -> tuple[int, ...]:
  """Lower-tier steps per frame of each frame tier (the last: samples)."""
  return tuple(upper // lower for upper, lower in
               zip(frame_sizes, frame_sizes[1:] + (1,)))


# --------------------------------------------------------------------------
# Pure functions (shared by training and step-by-step generation).


def gru_step(x_proj: tf.Tensor, h: tf.Tensor, recurrent_kernel: tf.Tensor,
             recurrent_bias: tf.Tensor) -> tf.Tensor:
  """One GRU step ("reset after" form, as Keras/cuDNN).

  Args:
    x_proj: `[batch, 3 * dim]` input projection `x @ W + b` (gates z, r, h).
    h: `[batch, dim]` previous output.
    recurrent_kernel: `[dim, 3 * dim]`.
    recurrent_bias: `[dim]`, added to the candidate's recurrent term.

  Returns:
    `[batch, dim]` new output (= new state).
  """
  xz, xr, xh = tf.split(x_proj, 3, axis=-1)
  hz, hr, hh = tf.split(tf.matmul(h, recurrent_kernel), 3, axis=-1)
  z = tf.sigmoid(xz + hz)
  r = tf.sigmoid(xr + hr)
  candidate = tf.tanh(xh + r * (hh + recurrent_bias))
  return z * h + (1.0 - z) * candidate


def lstm_step(x_proj: tf.Tensor, h: tf.Tensor, c: tf.Tensor,
              recurrent_kernel: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
  """One LSTM step (gates i, f, g, o, as Keras).

  Args:
    x_proj: `[batch, 4 * dim]` input projection `x @ W + b`.
    h, c: `[batch, dim]` previous output and cell.
    recurrent_kernel: `[dim, 4 * dim]`.

  Returns:
    (h, c), each `[batch, dim]`.
  """
  gates = x_proj + tf.matmul(h, recurrent_kernel)
  i, f, g, o = tf.split(gates, 4, axis=-1)
  c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
  h = tf.sigmoid(o) * tf.tanh(c)
  return h, c


def rnn_layer_step(rnn_type: str, layer: dict[str, Any], x: tf.Tensor,
                   state: State) -> tuple[tf.Tensor, State]:
  """One step of one RNN layer.

  Args:
    rnn_type: "gru" or "lstm".
    layer: dict of weight tensors `kernel`, `bias`, `recurrent_kernel` (and
      `recurrent_bias` for a GRU).
    x: `[batch, input_dim]`.
    state: tuple `(h,)` (GRU) or `(h, c)` (LSTM), each `[batch, dim]`.

  Returns:
    (output `[batch, dim]`, new state tuple).
  """
  x_proj = tf.matmul(x, layer["kernel"]) + layer["bias"]
  if rnn_type == "gru":
    h = gru_step(x_proj, state[0], layer["recurrent_kernel"],
                 layer["recurrent_bias"])
    return h, (h,)
  h, c = lstm_step(x_proj, state[0], state[1], layer["recurrent_kernel"])
  return h, (h, c)


def rnn_layer_sequence(rnn_type: str, layer: dict[str, Any], x: tf.Tensor,
                       state: State) -> tuple[tf.Tensor, State]:
  """One RNN layer over a sequence of frames.

  The input projection is one matmul over all frames; only the recurrent
  matmul runs inside the loop.

  Args:
    x: `[batch, frames, input_dim]`.
    state: tuple of `[batch, dim]` (see `rnn_layer_step`).

  Returns:
    (outputs `[batch, frames, dim]`, final state tuple).
  """
  x_proj = tf.einsum("bti,ig->btg", x, layer["kernel"]) + layer["bias"]
  x_proj = tf.transpose(x_proj, [1, 0, 2])  # [frames, batch, gates]
  if rnn_type == "gru":
    def step(carry: State, xp: tf.Tensor) -> State:
      return (gru_step(xp, carry[0], layer["recurrent_kernel"],
                       layer["recurrent_bias"]),)
  else:
    def step(carry: State, xp: tf.Tensor) -> State:
      return lstm_step(xp, carry[0], carry[1], layer["recurrent_kernel"])
  states = tf.scan(step, x_proj, initializer=tuple(state))
  outputs = tf.transpose(states[0], [1, 0, 2])
  return outputs, tuple(s[-1] for s in states)


def frames_to_unit(frames: tf.Tensor, q_levels: int) -> tf.Tensor:
  """Codes `[..., frame_size]` int -> float32 in [-1, 1] (network input)."""
  return quantization.codes_to_unit(frames, q_levels)


def upsample(h: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor,
             ratio: int) -> tf.Tensor:
  """Learned upsampling: `[batch, n, d_in]` -> `[batch, n * ratio, dim]`.

  One linear map `d_in -> ratio * dim`, reshaped so that frame `k` gives the
  conditioning vectors of lower-tier steps `k * ratio .. k * ratio + ratio-1`.
  """
  out = tf.einsum("bni,io->bno", h, kernel) + bias
  batch, frames = tf.shape(h)[0], tf.shape(h)[1]
  return tf.reshape(out, [batch, frames * ratio, -1])


# --------------------------------------------------------------------------
# Layers.


def _uniform(limit: float) -> keras.initializers.Initializer:
  return keras.initializers.RandomUniform(-limit, limit)


def _glorot(fan_in: int, fan_out: int) -> keras.initializers.Initializer:
  """Glorot-uniform for a linear map `fan_in -> fan_out`, any stored shape."""
  return _uniform(math.sqrt(6.0 / (fan_in + fan_out)))


class RNNStack(keras.layers.Layer):
  """`num_layers` GRU or LSTM layers over frames, with learned initial states.

  State: a flat tuple with one `[batch, dim]` tensor per GRU layer, or two
  (h, c) per LSTM layer.
  """

  def __init__(self, input_dim: int, dim: int, rnn_type: str = "gru",
               num_layers: int = 1, learned_initial_state: bool = True,
               **kwargs: Any):
    """`rnn_type` "gru" or "lstm" (checked by the config schema)."""
    super().__init__(**kwargs)
    self.dim, self.rnn_type, self.num_layers = dim, rnn_type, num_layers
    gates = 3 if rnn_type == "gru" else 4
    self.state_size = 1 if rnn_type == "gru" else 2
    self.learned_initial_state = bool(learned_initial_state)
    # Every variable is a named attribute so that tf.train.Checkpoint tracks
    # it (it does not look inside lists or dicts of a Keras 3 layer).
    for i in range(num_layers):
      fan_in = input_dim if i == 0 else dim
      setattr(self, f"layer{i}_kernel", self.add_weight(
          name=f"layer{i}_kernel", shape=[fan_in, gates * dim],
          initializer=_glorot(fan_in, dim)))
      setattr(self, f"layer{i}_recurrent_kernel", self.add_weight(
          name=f"layer{i}_recurrent_kernel", shape=[dim, gates * dim],
          initializer=keras.initializers.Orthogonal()))
      setattr(self, f"layer{i}_bias", self.add_weight(
          name=f"layer{i}_bias", shape=[gates * dim],
          initializer=self._bias_init(rnn_type, dim)))
      if rnn_type == "gru":
        setattr(self, f"layer{i}_recurrent_bias", self.add_weight(
            name=f"layer{i}_recurrent_bias", shape=[dim],
            initializer="zeros"))
    for i in range(num_layers * self.state_size):
      setattr(self, f"initial_state{i}", self.add_weight(
          name=f"initial_state{i}", shape=[dim], initializer="zeros",
          trainable=self.learned_initial_state))
    self.built = True  # all weights exist from __init__

  @property
  def cells(self) -> list[dict[str, Any]]:
    """Per-layer dicts of variables: kernel, bias, recurrent_kernel(, _bias)."""
    keys = ["kernel", "recurrent_kernel", "bias"] + (
        ["recurrent_bias"] if self.rnn_type == "gru" else [])
    return [{k: getattr(self, f"layer{i}_{k}") for k in keys}
            for i in range(self.num_layers)]

  @property
  def initial_vectors(self) -> list[Any]:
    return [getattr(self, f"initial_state{i}")
            for i in range(self.num_layers * self.state_size)]

  @staticmethod
  def _bias_init(rnn_type: str, dim: int) -> Any:
    if rnn_type == "gru":
      return "zeros"
    # LSTM: forget-gate bias 1 (Jozefowicz).
    def init(shape: Any, dtype: Any = None) -> tf.Tensor:
      return tf.concat([tf.zeros([dim]), tf.ones([dim]), tf.zeros([2 * dim])],
                       0)
    return init

  def initial_state(self, batch_size: int) -> State:
    """The learned start state, a tuple of `[batch_size, dim]` tensors."""
    return tuple(tf.broadcast_to(tf.convert_to_tensor(v)[None],
                                 [batch_size, self.dim])
                 for v in self.initial_vectors)

  def step_weights(self) -> list[dict[str, tf.Tensor]]:
    """The weights as a list of per-layer dicts of tensors."""
    return [{k: tf.identity(v) for k, v in cell.items()}
            for cell in self.cells]

  def call(self, x: tf.Tensor, state: State) -> tuple[list[tf.Tensor], State]:
    """Runs the stack over frames.

    Args:
      x: `[batch, frames, input_dim]`.
      state: the flat state tuple.

    Returns:
      (list of per-layer outputs `[batch, frames, dim]`, new state tuple).
    """
    outputs: list[tf.Tensor] = []
    new_state: list[tf.Tensor] = []
    n = self.state_size
    for i, cell in enumerate(self.cells):
      x, layer_state = rnn_layer_sequence(self.rnn_type, cell, x,
                                          state[i * n:(i + 1) * n])
      outputs.append(x)
      new_state.extend(layer_state)
    return outputs, tuple(new_state)


def stack_step(rnn_type: str, cells: list[dict[str, Any]], x: tf.Tensor,
               state: State) -> tuple[list[tf.Tensor], State]:
  """One step of a whole RNN stack on weight tensors (see `RNNStack`).

  Args:
    cells: `RNNStack.step_weights()`.
    x: `[batch, input_dim]`.
    state: flat state tuple.

  Returns:
    (list of per-layer outputs `[batch, dim]`, new flat state tuple).
  """
  n = 1 if rnn_type == "gru" else 2
  outputs: list[tf.Tensor] = []
  new_state: list[tf.Tensor] = []
  for i, cell in enumerate(cells):
    x, layer_state = rnn_layer_step(rnn_type, cell, x, state[i * n:(i + 1) * n])
    outputs.append(x)
    new_state.extend(layer_state)
  return outputs, tuple(new_state)


class FrameTier(keras.layers.Layer):
  """One frame-level tier.

  Input: the previous frame of `frame_size` codes for each step, plus the
  conditioning from the tier above. Output: `ratio` conditioning vectors of
  size `dim` per step, for the tier below (or the sample MLP).
  """

  def __init__(self, frame_size: int, ratio: int, dim: int, q_levels: int,
               rnn_type: str = "gru", num_rnn_layers: int = 2,
               skip_connections: bool = False,
               learned_initial_state: bool = True, **kwargs: Any):
    super().__init__(**kwargs)
    self.frame_size, self.ratio, self.dim = frame_size, ratio, dim
    self.q_levels, self.rnn_type = q_levels, rnn_type
    self.skip_connections = bool(skip_connections)
    self.input_kernel = self.add_weight(
        name="input_kernel", shape=[frame_size, dim],
        initializer=_glorot(frame_size, dim))
    self.input_bias = self.add_weight(name="input_bias", shape=[dim],
                                      initializer="zeros")
    self.rnn = RNNStack(dim, dim, rnn_type, num_rnn_layers,
                        learned_initial_state, name=f"{self.name}_rnn")
    upsample_in = dim * (num_rnn_layers if self.skip_connections else 1)
    self.upsample_kernel = self.add_weight(
        name="upsample_kernel", shape=[upsample_in, ratio * dim],
        initializer=_glorot(upsample_in, dim))
    self.upsample_bias = self.add_weight(
        name="upsample_bias", shape=[ratio * dim], initializer="zeros")
    self.built = True  # all weights exist from __init__

  def initial_state(self, batch_size: int) -> State:
    return self.rnn.initial_state(batch_size)

  @property
  def state_length(self) -> int:
    return len(self.rnn.initial_vectors)

  def rnn_output(self, outputs: list[tf.Tensor]) -> tf.Tensor:
    """What the upsampling reads: the top layer, or all layers (skip)."""
    return tf.concat(outputs, -1) if self.skip_connections else outputs[-1]

  def call(self, frames: tf.Tensor, conditioning: tf.Tensor | None,
           state: State) -> tuple[tf.Tensor, State]:
    """Runs the tier over a window.

    Args:
      frames: int `[batch, steps, frame_size]` codes; step `k` holds the frame
        before the one it conditions.
      conditioning: float `[batch, steps, dim]` from the tier above, or None.
      state: this tier's flat RNN state tuple.

    Returns:
      (conditioning for the tier below `[batch, steps * ratio, dim]`,
       new state tuple).
    """
    x = tf.einsum("bsf,fd->bsd", frames_to_unit(frames, self.q_levels),
                  self.input_kernel) + self.input_bias
    if conditioning is not None:
      x = x + conditioning
    outputs, state = self.rnn(x, state)
    return upsample(self.rnn_output(outputs), self.upsample_kernel,
                    self.upsample_bias, self.ratio), state


class SampleMLP(keras.layers.Layer):
  """The sample-level tier: previous `frame_size` codes -> logits.

  `window = embedding[codes]` concatenated over the frame, `h0 = window @ W1
  + conditioning` (W1 has no bias), then two ReLU layers of `dim` and a
  linear output over `q_levels` codes. `W1` is stored per position,
  `[frame_size, emb_size, dim]`, and applied as lookup tables
  (`position_tables`).
  """

  def __init__(self, frame_size: int, dim: int, q_levels: int, emb_size: int,
               **kwargs: Any):
    super().__init__(**kwargs)
    self.frame_size, self.dim, self.q_levels = frame_size, dim, q_levels
    self.emb_size = emb_size
    self.embedding = self.add_weight(
        name="embedding", shape=[q_levels, emb_size],
        initializer=keras.initializers.RandomNormal(stddev=1.0))
    self.window_kernel = self.add_weight(
        name="window_kernel", shape=[frame_size, emb_size, dim],
        initializer=_glorot(frame_size * emb_size, dim))
    self.hidden0_kernel, self.hidden0_bias = self._dense(0, dim)
    self.hidden1_kernel, self.hidden1_bias = self._dense(1, dim)
    self.output_kernel = self.add_weight(
        name="output_kernel", shape=[dim, q_levels],
        initializer=_glorot(dim, q_levels))
    self.output_bias = self.add_weight(
        name="output_bias", shape=[q_levels], initializer="zeros")
    self.built = True  # all weights exist from __init__

  def _dense(self, index: int, dim: int) -> tuple[Any, Any]:
    return (self.add_weight(name=f"hidden{index}_kernel", shape=[dim, dim],
                            initializer=_glorot(dim, dim)),
            self.add_weight(name=f"hidden{index}_bias", shape=[dim],
                            initializer="zeros"))

  @property
  def hidden_layers(self) -> list[tuple[Any, Any]]:
    """[(kernel, bias)] of the two ReLU layers."""
    return [(self.hidden0_kernel, self.hidden0_bias),
            (self.hidden1_kernel, self.hidden1_bias)]

  def position_tables(self) -> tf.Tensor:
    """`T_j = embedding @ W1_j`: float32 `[frame_size, q_levels, dim]`."""
    return tf.einsum("qe,fed->fqd", self.embedding, self.window_kernel)

  def call(self, codes: tf.Tensor, conditioning: tf.Tensor) -> tf.Tensor:
    """Logits for every target of a window (teacher forcing).

    Args:
      codes: int `[batch, frame_size - 1 + T]`; target `t` is predicted from
        `codes[:, t:t + frame_size]`.
      conditioning: float `[batch, T, dim]` from the bottom frame tier.

    Returns:
      float32 logits `[batch, T, q_levels]`.
    """
    tables = self.position_tables()
    steps = tf.shape(conditioning)[1]
    h = conditioning
    for j in range(self.frame_size):  # sum_j T_j[code_{t+j}]
      h = h + tf.gather(tables[j], codes[:, j:j + steps])
    for kernel, bias in self.hidden_layers:
      h = tf.nn.relu(tf.einsum("btd,de->bte", h, kernel) + bias)
    return tf.einsum("btd,dq->btq", h, self.output_kernel) + self.output_bias


def pad_to_frames(codes: tf.Tensor, frame_size: int) -> tf.Tensor:
  """Right-pads `[batch, n]` codes with zeros to a multiple of `frame_size`.

  Padding after the last target never changes its logits (the model is
  causal); it only lets the frame tiers see whole frames.
  """
  length = tf.shape(codes)[1]
  pad = (-length) % frame_size
  return tf.pad(codes, [[0, 0], [0, pad]])


class SampleRNN(keras.Model):
  """The tiered SampleRNN; implements `common/model_api.py`.

  Attributes:
    frame_sizes: tuple, top tier first, e.g. (64, 16).
    context_length: the top frame size.
    tiers: the `FrameTier`s, top first; `sample_mlp`: the `SampleMLP`.
  """

  def __init__(self, frame_sizes: tuple[int, ...], dim: int, q_levels: int,
               emb_size: int, rnn_type: str = "gru", num_rnn_layers: int = 2,
               skip_connections: bool = False,
               learned_initial_state: bool = True, **kwargs: Any):
    super().__init__(**kwargs)
    self.frame_sizes = tuple(frame_sizes)
    self.q_levels, self.dim, self.rnn_type = q_levels, dim, rnn_type
    self.context_length = self.frame_sizes[0]
    for i, (size, ratio) in enumerate(zip(self.frame_sizes,
                                          upsample_ratios(self.frame_sizes))):
      setattr(self, f"tier{i}", FrameTier(
          size, ratio, dim, q_levels, rnn_type, num_rnn_layers,
          skip_connections, learned_initial_state, name=f"tier{size}"))
    self.sample_mlp = SampleMLP(self.frame_sizes[-1], dim, q_levels,
                                emb_size, name="sample_mlp")
    self.built = True  # all weights exist from __init__

  @property
  def tiers(self) -> list[FrameTier]:
    """The frame tiers, top (largest frame) first."""
    return [getattr(self, f"tier{i}") for i in range(len(self.frame_sizes))]

  def initial_state(self, batch_size: int) -> State:
    """Learned start states of all tiers, one flat tuple (top tier first)."""
    return tuple(s for tier in self.tiers
                 for s in tier.initial_state(batch_size))

  def split_state(self, state: State) -> list[State]:
    """Flat state tuple -> list of per-tier tuples."""
    out, start = [], 0
    for tier in self.tiers:
      out.append(tuple(state[start:start + tier.state_length]))
      start += tier.state_length
    return out

  def _frame_tiers(self, codes: Any, state: State | None
                   ) -> tuple[tf.Tensor, State]:
    """Runs the frame tiers; returns (conditioning `[b, T, dim]`, state)."""
    codes = tf.convert_to_tensor(codes, tf.int32)
    batch = tf.shape(codes)[0]
    if state is None or len(state) == 0:
      state = self.initial_state(batch)
    context = self.context_length
    steps = tf.shape(codes)[1] - context
    conditioning, new_state = None, []
    for tier, tier_state in zip(self.tiers, self.split_state(state)):
      size = tier.frame_size
      frames = tf.reshape(codes[:, context - size:context - size + steps],
                          [batch, steps // size, size])
      conditioning, tier_state = tier(frames, conditioning, tier_state)
      new_state.extend(tier_state)
    return conditioning, tuple(new_state)

  def advance(self, codes: Any, state: State = ()) -> State:
    """The state after a window, without the sample MLP (for priming).

    Args:
      codes: int `[batch, context_length + T]`, T a multiple of
        `context_length`.
      state: flat state tuple, or () for the initial state.
    """
    return self._frame_tiers(codes, state)[1]

  def call(self, codes: Any, state: State = (), training: bool = False
           ) -> tuple[tf.Tensor, State]:
    """Teacher-forced logits for a window; see `common/model_api.py`.

    Args:
      codes: int32 `[batch, context_length + T]`. T should be a multiple of
        the top frame size (`seq_len` must be): other T give exact logits,
        but the returned state then includes the zero-padded rest of the
        last top frame and is not meant to be carried.
      state: flat state tuple from `initial_state` or a previous window;
        () means the initial state.

    Returns:
      (logits float32 `[batch, T, q_levels]`, new state tuple).
    """
    codes = tf.convert_to_tensor(codes, tf.int32)
    targets = tf.shape(codes)[1] - self.context_length
    padded = pad_to_frames(codes, self.context_length)
    conditioning, new_state = self._frame_tiers(padded, state)
    bottom = self.frame_sizes[-1]
    logits = self.sample_mlp(codes[:, self.context_length - bottom:-1],
                             conditioning[:, :targets])
    return logits, new_state


def build_model(config: dict) -> SampleRNN:
  """A SampleRNN from a config dict, checked by its schema (see
  docs/config.md)."""
  config = config_lib.validated(config)
  frame_sizes = frame_sizes_of(config)
  rnn_type = str(config["rnn_type"])
  return SampleRNN(
      frame_sizes=frame_sizes,
      dim=int(config["dim"]),
      q_levels=int(config["q_levels"] or 256),
      emb_size=int(config["emb_size"]),
      rnn_type=rnn_type,
      num_rnn_layers=int(config["num_rnn_layers"]),
      skip_connections=bool(config["skip_connections"]),
      learned_initial_state=bool(config["learned_initial_state"]),
      name="samplernn")
