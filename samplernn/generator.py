"""SampleRNN's generator (`common.generator.Generator`): one compiled graph
per block of audio.

    gen = generator(model, config)          # cached per model
    request = Request.make(num_seqs=2, seed=1, temperature=[0.9, 1.0])
    state = gen.start(request)              # or primed: Request.prime_codes
    codes, state = gen.next_block(state, gen.block_samples)

(`common.generator.stream(gen, request, num_samples)` does the loop.)

How it is fast:

- The whole per-sample loop runs inside one `tf.function` per block (by
  default ~1 s of audio), compiled with XLA when that pays
  (`default_jit_compile`): nested `tf.while_loop`s over top frames and over
  the lower tiers' steps, with the samples of one bottom frame (e.g. 16)
  unrolled in Python, so there is no Python per sample and the unrolled
  ops fuse, yet the graph stays small enough to compile in seconds. A
  shorter block (the last one) runs in the same compiled graph: the loop
  count is a tensor, the output is sized for the traced block.
- Weights are read out of the variables once per `refresh()`
  (`step_weights`) and passed in as tensors (XLA cannot gather from a
  resource variable inside a loop).
- The sample MLP's first layer is a table lookup, `sum_j T_j[code_j]`, kept
  as a running "lookahead" sum: each new code adds one row
  `[frame_size, dim]` to the coming samples' sums (`lookahead_update`).
  Because that layer and the conditioning are added before any
  nonlinearity, the next linear layer is folded in too: the tables become
  `T_j @ W2` and the bottom tier's upsampling `W_up @ W2` (+ `b_up @ W2 +
  b2`). Per sample that leaves one `dim x dim` layer and the output layer;
  the result equals the model up to float rounding (tested).
- Gumbel noise comes from `common.sampling.gumbel_noise` (a counter-based
  hash), one call per bottom frame: ~2 ns per number, where the stateless TF
  RNG costs 25-50 ns under XLA on CPU (more than the `small` model itself).
- The state between blocks (RNN states, the last top frame of codes) is a
  few tensors, so memory does not grow with length and each block can be
  streamed to disk.

Sampling is Gumbel-max, like `common.sampling.sample_logits` (same
temperature rule: below 1e-6 means argmax), with noise that depends only
on (the sequence's seed, the sample's index): a sequence gets the same codes
whatever the block size, batch and place in the batch. XLA and the plain
graph draw the same noise but round the logits differently (tiny test
model: <= 5e-7; shipped model: <= 1.5e-4 on logits up to ~90), as do matrix
products of another batch size; the codes then agree until a sample whose
two best noisy logits are closer than that (about one sample in a million
on the shipped model), after which the sequences differ.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np
import tensorflow as tf

from common import audio
from common import generator as generator_lib
from common import quantization
from common import sampling
from samplernn import model as model_lib

DEFAULT_BLOCK_SAMPLES = 16384
MAX_ROWWISE_BATCH = 8  # see `lookahead_update` (more: slow to compile)

Weights = dict[str, Any]  # nested dict of float32 tensors (`step_weights`)
Spec = dict[str, Any]  # static shape facts of one trace (`_spec`)


# --------------------------------------------------------------------------
# Step weights.


def step_weights(model: model_lib.SampleRNN) -> Weights:
  """Reads the model's weights into the tensors the step graph uses.

  Returns a nested dict of float32 tensors:
    tiers: per frame tier (top first) `input_kernel [frame_size, dim]`,
      `input_bias`, `rnn` (list of per-layer dicts), `upsample_kernel
      [d_in, ratio * dim]`, `upsample_bias`. The bottom tier's upsampling
      has the sample MLP's first hidden layer folded in.
    sample: `lookahead_tables [q_levels, frame_size, dim]`: row `[c, m]` is
      what code `c` adds to the first hidden layer's input `m + 1` samples
      later (the position tables with that layer folded in, positions
      reversed); `hidden_kernel`, `hidden_bias` (second hidden layer),
      `output_kernel [dim, q_levels]`, `output_bias`.
  """
  mlp = model.sample_mlp
  (w2, b2), (w3, b3) = [(tf.identity(k), tf.identity(b))
                        for k, b in mlp.hidden_layers]
  tiers = []
  for i, tier in enumerate(model.tiers):
    kernel = tf.identity(tier.upsample_kernel)
    bias = tf.identity(tier.upsample_bias)
    if i == len(model.tiers) - 1:  # fold W2 into the bottom upsampling
      d_in = kernel.shape[0]
      kernel = tf.reshape(
          tf.einsum("ird,de->ire",
                    tf.reshape(kernel, [d_in, tier.ratio, model.dim]), w2),
          [d_in, tier.ratio * model.dim])
      bias = tf.reshape(tf.reshape(bias, [tier.ratio, model.dim]) @ w2 + b2,
                        [-1])
    tiers.append(dict(input_kernel=tf.identity(tier.input_kernel),
                      input_bias=tf.identity(tier.input_bias),
                      rnn=tier.rnn.step_weights(),
                      upsample_kernel=kernel, upsample_bias=bias))
  tables = tf.einsum("fqd,de->qfe", mlp.position_tables(), w2)
  return dict(
      tiers=tiers,
      sample=dict(lookahead_tables=tf.reverse(tables, axis=[1]),
                  hidden_kernel=w3, hidden_bias=b3,
                  output_kernel=tf.identity(mlp.output_kernel),
                  output_bias=tf.identity(mlp.output_bias)))


# --------------------------------------------------------------------------
# The step graph (pure functions of weights and loop state).


def lookahead_update(lookahead: tf.Tensor, tables: tf.Tensor,
                     codes: tf.Tensor, rowwise: bool = False) -> tf.Tensor:
  """Adds new codes' contributions to the coming samples' first layer.

  The sample MLP's first layer (with the next linear layer folded in) is
  `sum_j T_j[code_{t-frame_size+j}]`. `lookahead[:, m]` accumulates it for
  the sample `m` steps ahead, so each new code costs one table row.

  Args:
    lookahead: float32 `[batch, frame_size, dim]`; `[:, 0]` is complete for
      the current sample.
    tables: `[q_levels, frame_size, dim]` (`lookahead_tables`).
    codes: int32 `[batch]`, the code just chosen for the current sample.
    rowwise: read the rows one sequence at a time (static batch only).
      Under XLA on CPU a gather of several rows compiles to a slow generic
      loop, while single-row reads become fast dynamic slices (2x faster
      generation at batch 8).

  Returns:
    the lookahead after moving one sample on.
  """
  shifted = tf.pad(lookahead[:, 1:], [[0, 0], [0, 1], [0, 0]])
  if rowwise:
    rows = tf.stack([tf.gather(tables, codes[b])
                     for b in range(codes.shape[0])])
  else:
    rows = tf.gather(tables, codes)
  return shifted + rows


def lookahead_from(window: tf.Tensor, tables: tf.Tensor,
                   rowwise: bool = False) -> tf.Tensor:
  """The lookahead for the sample after `window` (`[batch, frame_size]`)."""
  batch, size = tf.shape(window)[0], window.shape[1]
  lookahead = tf.zeros([batch, size, tables.shape[-1]])
  for p in range(size):
    lookahead = lookahead_update(lookahead, tables, window[:, p], rowwise)
  return lookahead


def sample_logits_step(sample_weights: Weights, first_layer: tf.Tensor,
                       conditioning: tf.Tensor) -> tf.Tensor:
  """Logits for one sample.

  Args:
    first_layer: float32 `[batch, dim]`, the window's table sum.
    conditioning: float32 `[batch, dim]` folded conditioning (includes the
      first hidden layer's bias).

  Returns:
    float32 `[batch, q_levels]`.
  """
  h = tf.nn.relu(first_layer + conditioning)
  h = tf.nn.relu(tf.matmul(h, sample_weights["hidden_kernel"]) +
                 sample_weights["hidden_bias"])
  return (tf.matmul(h, sample_weights["output_kernel"]) +
          sample_weights["output_bias"])


class _Policy:
  """How the step graph picks each sample and what it records.

  `start_frame(frame)` is called before bottom frame `frame` (int32 scalar,
  counted from the block start); `pick(i, logits) -> codes [batch]` chooses
  its sample `i`; `record(outputs, frame, codes, logits) -> outputs` stores
  the finished frame (`codes [batch, bottom]`, `logits` a list of
  `[batch, q_levels]`) in the loop's output TensorArrays.
  """

  def start_frame(self, frame: tf.Tensor) -> None:
    pass

  def pick(self, i: int, logits: tf.Tensor) -> tf.Tensor:
    raise NotImplementedError

  def record(self, outputs: tuple, frame: tf.Tensor, codes: tf.Tensor,
             logits: list[tf.Tensor]) -> tuple:
    raise NotImplementedError


def _sample_frame(weights: Weights, spec: Spec, conditioning: tf.Tensor,
                  loop: tuple, policy: _Policy) -> tuple:
  """One bottom frame of samples, unrolled in Python.

  Args:
    conditioning: float32 `[batch, frame_size, dim]`, one (folded) vector
      per sample.
    loop: (states, history `[batch, top]`, lookahead, frame counter,
      outputs).
  """
  states, history, lookahead, frame, outputs = loop
  top, bottom = spec["frame_sizes"][0], spec["frame_sizes"][-1]
  tables = weights["sample"]["lookahead_tables"]
  policy.start_frame(frame)
  codes, logits_list = [], []
  for i in range(bottom):
    logits = sample_logits_step(weights["sample"], lookahead[:, 0],
                                conditioning[:, i])
    code = policy.pick(i, logits)
    codes.append(code)
    logits_list.append(logits)
    lookahead = lookahead_update(lookahead, tables, code,
                                 spec["rowwise_lookahead"])
  codes = tf.stack(codes, axis=1)
  history = tf.concat([history[:, bottom:], codes], axis=1) if top > bottom \
      else codes
  outputs = policy.record(outputs, frame, codes, logits_list)
  return states, history, lookahead, frame + 1, outputs


def tier_step(weights: Weights, spec: Spec, k: int,
              conditioning: tf.Tensor | None, loop: tuple,
              policy: _Policy) -> tuple:
  """One frame of tier `k`, then all of its lower-tier steps and samples.

  The lower tier's steps run in a `tf.while_loop` (a small graph to
  compile); only the samples of one bottom frame are unrolled.

  Args:
    weights: `step_weights(model)`.
    spec: dict(frame_sizes, ratios, q_levels, dim, rnn_type,
      skip_connections, rowwise_lookahead); see `_spec`.
    k: tier index (0 = top).
    conditioning: float32 `[batch, dim]` from tier k-1, or None for the top.
    loop: (states: tuple of per-tier state tuples, history int32
      `[batch, top]` = the last `top` codes, lookahead (see
      `lookahead_update`), bottom-frame counter int32 scalar, outputs:
      tuple of TensorArrays).
    policy: a `_Policy`.

  Returns:
    the loop tuple after the frame.
  """
  states = loop[0]
  history = loop[1]
  tier = weights["tiers"][k]
  top, size, ratio = spec["frame_sizes"][0], spec["frame_sizes"][k], \
      spec["ratios"][k]
  x = tf.matmul(
      quantization.codes_to_unit(history[:, top - size:], spec["q_levels"]),
      tier["input_kernel"]) + tier["input_bias"]
  if conditioning is not None:
    x = x + conditioning
  outputs_k, state_k = model_lib.stack_step(spec["rnn_type"], tier["rnn"], x,
                                            states[k])
  states = states[:k] + (state_k,) + states[k + 1:]
  h = tf.concat(outputs_k, -1) if spec["skip_connections"] else outputs_k[-1]
  up = tf.matmul(h, tier["upsample_kernel"]) + tier["upsample_bias"]
  up = tf.reshape(up, [-1, ratio, spec["dim"]])
  loop = (states,) + tuple(loop[1:])
  if k == len(spec["frame_sizes"]) - 1:
    return _sample_frame(weights, spec, up, loop, policy)
  if ratio == 1:
    return tier_step(weights, spec, k + 1, up[:, 0], loop, policy)

  def body(m: tf.Tensor, *loop: Any) -> tuple:
    return (m + 1,) + tuple(tier_step(
        weights, spec, k + 1, tf.gather(up, m, axis=1), loop, policy))

  return tf.while_loop(lambda m, *_: m < ratio, body, (tf.constant(0),) + loop,
                       maximum_iterations=ratio)[1:]


def run_top_frames(weights: Weights, spec: Spec, states: tuple,
                   history: tf.Tensor, num_frames: tf.Tensor, outputs: tuple,
                   policy: _Policy) -> tuple:
  """`num_frames` (int32 scalar, may be dynamic) top frames in a while loop.

  Returns:
    (states, history, lookahead, bottom frames produced, outputs).
  """
  states = tuple(tuple(s) for s in states)
  bottom = spec["frame_sizes"][-1]
  lookahead = lookahead_from(history[:, history.shape[1] - bottom:],
                             weights["sample"]["lookahead_tables"],
                             spec["rowwise_lookahead"])

  def body(f: tf.Tensor, *loop: Any) -> tuple:
    return (f + 1,) + tuple(tier_step(weights, spec, 0, None, loop, policy))

  loop = (states, history, lookahead, tf.constant(0), outputs)
  return tf.while_loop(lambda f, *_: f < num_frames, body,
                       (tf.constant(0),) + loop)[1:]


class _SamplePolicy(_Policy):
  """Samples; a bottom frame's noise is keyed by each sequence's seed and
  the absolute index of its samples (`common.sampling.gumbel_noise`)."""

  def __init__(self, seeds: tf.Tensor, temperatures: tf.Tensor,
               position: tf.Tensor, bottom: int, q_levels: int):
    self.seeds, self.position = seeds, position
    self.bottom, self.q_levels = bottom, q_levels
    self.temperature = tf.reshape(temperatures, [-1, 1])
    self.noise: Any = None

  def start_frame(self, frame: tf.Tensor) -> None:
    self.noise = sampling.gumbel_noise(
        self.seeds, self.position + frame * self.bottom, self.bottom,
        self.q_levels)

  def pick(self, i: int, logits: tf.Tensor) -> tf.Tensor:
    return sampling.sample_with_noise(logits, self.temperature,
                                      self.noise[:, i])

  def record(self, outputs: tuple, frame: tf.Tensor, codes: tf.Tensor,
             logits: list[tf.Tensor]) -> tuple:
    return (outputs[0].write(frame, codes),)


class _ForcedPolicy(_Policy):
  """Teacher forcing: takes the given codes, records codes and logits."""

  def __init__(self, frames: tf.Tensor):
    self.frames = frames  # int32 [bottom frames, batch, bottom]
    self.target: Any = None

  def start_frame(self, frame: tf.Tensor) -> None:
    self.target = tf.gather(self.frames, frame)

  def pick(self, i: int, logits: tf.Tensor) -> tf.Tensor:
    return self.target[:, i]

  def record(self, outputs: tuple, frame: tf.Tensor, codes: tf.Tensor,
             logits: list[tf.Tensor]) -> tuple:
    return (outputs[0].write(frame, codes),
            outputs[1].write(frame, tf.stack(logits, axis=1)))


# --------------------------------------------------------------------------
# Generator.


def _spec(model: model_lib.SampleRNN) -> Spec:
  return dict(frame_sizes=model.frame_sizes,
              ratios=model_lib.upsample_ratios(model.frame_sizes),
              q_levels=model.q_levels, dim=model.dim,
              rnn_type=model.rnn_type,
              skip_connections=model.tiers[0].skip_connections)


def default_jit_compile(model: model_lib.SampleRNN, batch_size: int) -> bool:
  """XLA pays when per-op overhead dominates (small `dim * batch`).

  Measured on 2 CPU cores: `small` (dim 256), 1-8 sequences: XLA 2-4x
  faster than the plain graph; `default` (dim 1024) with 32 sequences is
  matmul bound and the plain graph's (oneDNN) matmuls do better.
  """
  return model.dim * batch_size <= 8192


class SampleRNNGenerator(generator_lib.Generator):
  """Block-wise generation for one model; traces are cached and reused.

  `State.tensors` is `dict(states=<flat RNN state tuple, top tier first>,
  history=int32 [num_seqs, top frame size])`: the last top frame of codes.
  Call `refresh()` after the model's weights change (e.g. during training);
  `generator(model, config)` does this for you.
  """
  can_prime = True

  def __init__(self, model: model_lib.SampleRNN, config: dict | None = None,
               jit_compile: bool | None = None,
               block_samples: int = DEFAULT_BLOCK_SAMPLES):
    """
    Args:
      model: a built `samplernn.model.SampleRNN`.
      config: its config (`sample_rate`; `quantization`: the silence code
        to start from).
      jit_compile: None (automatic, `default_jit_compile`), True or False.
      block_samples: the standard block (rounded to whole top frames): one
        trace serves every block up to this length.
    """
    self.model = model
    self.spec = _spec(model)
    self.top, self.bottom = model.frame_sizes[0], model.frame_sizes[-1]
    self.q_levels = model.q_levels
    self.block_multiple = self.top
    self.block_samples = max(1, round(block_samples / self.top)) * self.top
    self._jit_compile = jit_compile
    self._functions: dict[Any, Any] = {}
    self._traced_frames: dict[tuple[int, bool], list[int]] = {}
    self.use_config(config or {})

  def use_config(self, config: dict) -> None:
    """Takes the sample rate and quantization of `config`; re-reads the
    weights."""
    self.config = dict(config)
    self.sample_rate = int(config.get("sample_rate") or
                           audio.DEFAULT_SAMPLE_RATE)
    self.quantization = str(config.get("quantization") or "mu_law")
    self.refresh()

  def refresh(self) -> None:
    """Re-reads the model's weights (cheap; no retracing)."""
    self.weights = step_weights(self.model)

  def jit_compile(self, batch_size: int) -> bool:
    """Whether blocks of `batch_size` sequences run under XLA."""
    if self._jit_compile is not None:
      return bool(self._jit_compile)
    return default_jit_compile(self.model, batch_size)

  def silence_code(self) -> int:
    """The code a sequence starts from (digital silence)."""
    return quantization.silence_code(self.quantization, self.q_levels)

  # -- the interface ---------------------------------------------------------

  def start(self, request: generator_lib.Request) -> generator_lib.State:
    """The state before the first generated sample.

    Unprimed, the RNNs start from their learned initial state and the codes
    before the first sample are silence. `request.prime_codes` `[b, n]` are
    left-padded with silence to whole top frames and run through the frame
    tiers (teacher forcing, one graph call).

    Raises:
      RequestError: embeddings given, or prime codes outside the code range.
    """
    self.check(request, 0)
    batch = request.num_seqs
    prime = request.prime_codes
    if prime is None:
      prime = np.zeros([batch, 0], np.int32)
    if prime.size and (prime.min() < 0 or prime.max() >= self.q_levels):
      raise generator_lib.RequestError(
          f"prime codes must lie in 0..{self.q_levels - 1}, got "
          f"{prime.min()}..{prime.max()}")
    length = max(self.top, -(-prime.shape[1] // self.top) * self.top)
    padded = np.full([batch, length], self.silence_code(), np.int32)
    padded[:, length - prime.shape[1]:] = prime
    states = self.model.initial_state(batch)
    if length > self.top:
      states = self.compiled("advance", None)(tf.constant(padded), states)
    return generator_lib.State(
        position=0, seeds=request.seeds, temperatures=request.temperatures,
        tensors=dict(states=tuple(states),
                     history=tf.constant(padded[:, length - self.top:])))

  def next_block(self, state: generator_lib.State, num_samples: int,
                 embeddings: np.ndarray | None = None
                 ) -> tuple[np.ndarray, generator_lib.State]:
    """The next `num_samples` (a multiple of the top frame size) codes of
    every sequence, with the state's seeds and temperatures."""
    if embeddings is not None:
      raise generator_lib.RequestError("an unconditional model takes no "
                                       "embeddings")
    if num_samples < self.top or num_samples % self.top:
      raise generator_lib.RequestError(
          f"a block must be a positive multiple of {self.top} samples (the "
          f"top frame), got {num_samples}")
    frames, batch = num_samples // self.top, state.num_seqs
    jit = self.jit_compile(batch)
    codes, states, history = self.compiled("sample", jit)(
        self.weights, state.tensors["states"], state.tensors["history"],
        tf.constant(state.position, tf.int32),
        tf.constant(np.asarray(state.seeds, np.uint32)),
        tf.constant(np.asarray(state.temperatures, np.float32)),
        tf.constant(frames), self._trace_frames(batch, jit, frames))
    return codes.numpy()[:, :num_samples], state.replace(
        position=state.position + num_samples,
        tensors=dict(states=states, history=history))

  def step_logits(self, codes: Any, state: tuple = ()
                  ) -> tuple[tf.Tensor, tuple]:
    """Per-sample logits from the step graph, teacher-forcing `codes`.

    Args:
      codes: int `[batch, top + T]`: like a `model(codes, state)` window,
        with T a multiple of the top frame size.
      state: flat state tuple to start from; () for the initial state.

    Returns:
      (logits float32 `[batch, T, q_levels]`, new state tuple), comparable
      with `model(codes, state)`.
    """
    codes = tf.convert_to_tensor(codes, tf.int32)
    batch = int(codes.shape[0])
    if (codes.shape[1] - self.top) % self.top:
      raise generator_lib.RequestError(
          f"step_logits needs top + a multiple of {self.top} codes, got "
          f"{codes.shape[1]}")
    if not state:
      state = self.model.initial_state(batch)
    fn = self.compiled("forced", self.jit_compile(batch))
    return fn(self.weights, tuple(state), codes[:, :self.top],
              codes[:, self.top:])

  # -- traces ----------------------------------------------------------------

  def _trace_frames(self, batch: int, jit: bool, frames: int) -> int:
    """The block size (top frames) of the trace that runs `frames`: the
    smallest traced one that fits, else the larger of `frames` and the
    standard block."""
    traced = self._traced_frames.setdefault((batch, jit), [])
    fitting = [size for size in traced if size >= frames]
    if fitting:
      return min(fitting)
    size = max(frames, self.block_samples // self.top)
    traced.append(size)
    return size

  def compiled(self, kind: str, jit: bool | None) -> Any:
    """The `tf.function` of a block kind ("sample", "forced" or "advance"),
    made once per (kind, XLA or not) (`samplernn.export` traces them)."""
    key = (kind, jit)
    if key not in self._functions:
      if kind == "advance":  # not a bound method: see `generator`
        self._functions[key] = tf.function(
            lambda codes, states: self.model.advance(codes, states))
      else:
        impl = {"sample": self._sample_block,
                "forced": self._forced_block}[kind]
        self._functions[key] = tf.function(
            lambda *args, impl=impl, jit=jit: impl(*args, jit=jit),
            jit_compile=jit)
    return self._functions[key]

  def spec_for(self, batch: int, jit: bool) -> Spec:
    """The static spec for one traced block (batch size, XLA or not)."""
    return dict(self.spec, rowwise_lookahead=bool(
        jit and batch is not None and batch <= MAX_ROWWISE_BATCH))

  def _sample_block(self, weights: Weights, states: model_lib.State,
                    history: tf.Tensor, position: tf.Tensor,
                    seeds: tf.Tensor, temperatures: tf.Tensor,
                    num_frames: tf.Tensor, max_frames: int, jit: bool
                    ) -> tuple[tf.Tensor, model_lib.State, tf.Tensor]:
    """Up to `max_frames` (static) top frames, `num_frames` (dynamic) run.

    Returns:
      (codes int32 `[batch, max_frames * top]`, of which the first
      `num_frames * top` are valid; states; history).
    """
    batch = history.shape[0]
    policy = _SamplePolicy(seeds, temperatures, position, self.bottom,
                           self.q_levels)
    out = tf.TensorArray(tf.int32, size=max_frames * self.top // self.bottom,
                         element_shape=[batch, self.bottom])
    states, history, _, produced, (out,) = run_top_frames(
        weights, self.spec_for(batch, jit),
        tuple(self.model.split_state(states)), history, num_frames, (out,),
        policy)
    # XLA needs a static shape (unwritten entries are zeros); a plain graph
    # cannot read unwritten entries.
    frames = out.stack() if jit else out.gather(tf.range(produced))
    codes = tf.reshape(tf.transpose(frames, [1, 0, 2]), [batch, -1])
    return codes, tuple(s for tier in states for s in tier), history

  def _forced_block(self, weights: Weights, states: model_lib.State,
                    history: tf.Tensor, forced: tf.Tensor, jit: bool
                    ) -> tuple[tf.Tensor, model_lib.State]:
    """Teacher-forces `forced` `[batch, n * top]` through the step graph."""
    batch, length = forced.shape
    count = length // self.bottom
    frames = tf.transpose(tf.reshape(forced, [batch, count, self.bottom]),
                          [1, 0, 2])
    outputs = (tf.TensorArray(tf.int32, size=count,
                              element_shape=[batch, self.bottom]),
               tf.TensorArray(tf.float32, size=count, element_shape=[
                   batch, self.bottom, self.q_levels]))
    states, _, _, _, (_, logits) = run_top_frames(
        weights, self.spec_for(batch, jit),
        tuple(self.model.split_state(states)), history, length // self.top,
        outputs, _ForcedPolicy(frames))
    logits = tf.reshape(tf.transpose(logits.stack(), [1, 0, 2, 3]),
                        [batch, length, self.q_levels])
    return logits, tuple(s for tier in states for s in tier)


_GENERATORS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def generator(model: model_lib.SampleRNN,
              config: dict | None = None) -> SampleRNNGenerator:
  """The cached generator of `model`, with its weights re-read.

  The generator holds the model weakly (the cache would otherwise keep
  every model alive): keep the model while you use its generator.

  Args:
    model: a built SampleRNN.
    config: its config; None keeps the cached generator's.
  """
  gen = _GENERATORS.get(model)
  if gen is None:
    proxy: Any = weakref.proxy(model)
    gen = _GENERATORS[model] = SampleRNNGenerator(proxy, config)
  elif config is not None:
    gen.use_config(config)
  else:
    gen.refresh()
  return gen


def step_logits(model: model_lib.SampleRNN, codes: Any,
                state: tuple = ()) -> tuple[tf.Tensor, tuple]:
  """Teacher-forced per-sample logits from the generation step graph.

  See `SampleRNNGenerator.step_logits`; for tests of generation against
  `model.call`.
  """
  return generator(model).step_logits(codes, state)
