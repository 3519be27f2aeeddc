"""Fast SampleRNN generation: one compiled graph per block of audio.

    python -m samplernn.generate --model_dir=runs/piano --output_dir=out \\
        --num_seqs=4 --seconds=10 --temperature=0.9,1.0,1.1,1.2 --seed=7

The library (no flags needed):

    gen = Generator(model)                       # or generate(model, ...)
    for codes in gen.stream(num_seqs=2, num_samples=16000, seed=1):
      ...                                        # int32 [2, block]

How it is fast:

- The whole per-sample loop runs inside one `tf.function` per block (by
  default ~1 s of audio), compiled with XLA when that pays
  (`default_jit_compile`): nested `tf.while_loop`s over top frames and over
  the lower tiers' steps, with the samples of one bottom frame (e.g. 16)
  unrolled in Python, so there is no Python per sample and the unrolled
  ops fuse, yet the graph stays small enough to compile in seconds.
- Weights are read out of the variables once (`step_weights`) and passed in
  as tensors (XLA cannot gather from a resource variable inside a loop).
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
- All state (RNN states, the last top frame of codes, the position) is
  carried between blocks, so memory does not grow with length and each
  block can be streamed to disk.

Sampling is Gumbel-max, like `common.sampling.sample_logits` (same
temperature rule: below 1e-6 means argmax), with noise that depends only
on (seed, sample index, sequence index): the same seed gives the same codes
whatever the block size. XLA and the plain graph draw the same noise but
round the logits differently (tiny test model: <= 5e-7; shipped model:
<= 1.5e-4 on logits up to ~90), as do matrix products of another batch size;
the codes then agree until a sample whose two best noisy logits are closer
than that (about one sample in a million on the shipped model), after
which the sequences differ.
"""

import os
import statistics
import sys
import time
import weakref

import numpy as np
import tensorflow as tf

from common import model_api
from common import quantization
from common import sampling
from common import timing
from samplernn import model as model_lib

DEFAULT_BLOCK_SAMPLES = 16384
MAX_ROWWISE_BATCH = 8  # see `lookahead_update` (more: slow to compile)


# --------------------------------------------------------------------------
# Step weights.


def step_weights(model):
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


def lookahead_update(lookahead, tables, codes, rowwise=False):
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


def lookahead_from(window, tables, rowwise=False):
  """The lookahead for the sample after `window` (`[batch, frame_size]`)."""
  batch, size = tf.shape(window)[0], window.shape[1]
  lookahead = tf.zeros([batch, size, tables.shape[-1]])
  for p in range(size):
    lookahead = lookahead_update(lookahead, tables, window[:, p], rowwise)
  return lookahead


def sample_logits_step(sample_weights, first_layer, conditioning):
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

  def start_frame(self, frame):
    pass

  def pick(self, i, logits):
    raise NotImplementedError

  def record(self, outputs, frame, codes, logits):
    raise NotImplementedError


def _sample_frame(weights, spec, conditioning, loop, policy):
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


def tier_step(weights, spec, k, conditioning, loop, policy):
  """One frame of tier `k`, then all of its lower-tier steps and samples.

  The lower tier's steps run in a `tf.while_loop` (a small graph to
  compile); only the samples of one bottom frame are unrolled.

  Args:
    weights: `step_weights(model)`.
    spec: dict(frame_sizes, ratios, q_levels, dim, rnn_type,
      skip_connections, rowwise_lookahead); see `Generator._spec_for`.
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

  def body(m, *loop):
    return (m + 1,) + tuple(tier_step(
        weights, spec, k + 1, tf.gather(up, m, axis=1), loop, policy))

  return tf.while_loop(lambda m, *_: m < ratio, body, (tf.constant(0),) + loop,
                       maximum_iterations=ratio)[1:]


def run_top_frames(weights, spec, states, history, num_frames, outputs,
                   policy):
  """`num_frames` (int32 scalar, may be dynamic) top frames in a while loop.

  Returns:
    (states, history, lookahead, bottom frames produced, outputs).
  """
  states = tuple(tuple(s) for s in states)
  bottom = spec["frame_sizes"][-1]
  lookahead = lookahead_from(history[:, history.shape[1] - bottom:],
                             weights["sample"]["lookahead_tables"],
                             spec["rowwise_lookahead"])

  def body(f, *loop):
    return (f + 1,) + tuple(tier_step(weights, spec, 0, None, loop, policy))

  loop = (states, history, lookahead, tf.constant(0), outputs)
  return tf.while_loop(lambda f, *_: f < num_frames, body,
                       (tf.constant(0),) + loop)[1:]


# --------------------------------------------------------------------------
# Generator.


def _spec(model):
  return dict(frame_sizes=model.frame_sizes,
              ratios=model_lib.upsample_ratios(model.frame_sizes),
              q_levels=model.q_levels, dim=model.dim,
              rnn_type=model.rnn_type,
              skip_connections=model.tiers[0].skip_connections)


class _SamplePolicy(_Policy):
  """Samples; a bottom frame's noise comes from one seed, keyed by the
  index of its first sample (so it does not depend on the block size)."""

  def __init__(self, seed, temperature, position, batch, bottom, q_levels):
    self.seed, self.position = seed, position
    self.batch, self.bottom, self.q_levels = batch, bottom, q_levels
    self.temperature = tf.reshape(temperature, [-1, 1])
    self.noise = None

  def start_frame(self, frame):
    self.noise = sampling.gumbel_noise(
        self.seed, self.position + frame * self.bottom, self.batch,
        self.bottom, self.q_levels)

  def pick(self, i, logits):
    return sampling.sample_with_noise(logits, self.temperature,
                                      self.noise[:, i])

  def record(self, outputs, frame, codes, logits):
    return (outputs[0].write(frame, codes),)


class _ForcedPolicy(_Policy):
  """Teacher forcing: takes the given codes, records codes and logits."""

  def __init__(self, frames):
    self.frames = frames  # int32 [bottom frames, batch, bottom]
    self.target = None

  def start_frame(self, frame):
    self.target = tf.gather(self.frames, frame)

  def pick(self, i, logits):
    return self.target[:, i]

  def record(self, outputs, frame, codes, logits):
    return (outputs[0].write(frame, codes),
            outputs[1].write(frame, tf.stack(logits, axis=1)))


def default_jit_compile(model, batch_size):
  """XLA pays when per-op overhead dominates (small `dim * batch`).

  Measured on 2 CPU cores: `small` (dim 256), 1-8 sequences: XLA 2-4x
  faster than the plain graph; `default` (dim 1024) with 32 sequences is
  matmul bound and the plain graph's (oneDNN) matmuls do better.
  """
  return model.dim * batch_size <= 8192


class Generator:
  """Block-wise generation for one model; traces are cached and reused.

  Call `refresh()` after the model's weights change (e.g. during training);
  the module-level `generate` does this for you.
  """

  def __init__(self, model, config=None, jit_compile=None):
    self.model = model
    self.config = dict(config or {})
    self.spec = _spec(model)
    self.top = model.frame_sizes[0]
    self.bottom = model.frame_sizes[-1]
    self.q_levels = model.q_levels
    self._jit_compile = jit_compile
    self._functions = {}
    self.refresh()

  def refresh(self):
    """Re-reads the model's weights (cheap; no retracing)."""
    self.weights = step_weights(self.model)

  def jit_compile(self, batch_size):
    if self._jit_compile is not None:
      return bool(self._jit_compile)
    return default_jit_compile(self.model, batch_size)

  def _function(self, kind, batch_size):
    jit = self.jit_compile(batch_size)
    key = (kind, jit)
    if key not in self._functions:
      impl = {"sample": self._sample_block, "forced": self._forced_block}[kind]
      self._functions[key] = tf.function(
          lambda *args, impl=impl, jit=jit: impl(*args, jit=jit),
          jit_compile=jit)
    return self._functions[key]

  def _spec_for(self, batch, jit):
    """The static spec for one traced block (batch size, XLA or not)."""
    return dict(self.spec, rowwise_lookahead=bool(
        jit and batch is not None and batch <= MAX_ROWWISE_BATCH))

  def _split_states(self, states):
    return tuple(self.model.split_state(states))

  # -- traced bodies ---------------------------------------------------------

  def _sample_block(self, weights, states, history, position, seed,
                    temperature, num_frames, max_frames, jit):
    """Up to `max_frames` (static) top frames, `num_frames` (dynamic) run.

    Returns:
      (codes int32 `[batch, max_frames * top]`, of which the first
      `num_frames * top` are valid; states; history; position).
    """
    batch = history.shape[0]
    per_top = self.top // self.bottom
    policy = _SamplePolicy(seed, temperature, position, batch, self.bottom,
                           self.q_levels)
    out = tf.TensorArray(tf.int32, size=max_frames * per_top,
                         element_shape=[batch, self.bottom])
    states, history, _, produced, (out,) = run_top_frames(
        weights, self._spec_for(batch, jit), self._split_states(states),
        history, num_frames, (out,), policy)
    # XLA needs a static shape (unwritten entries are zeros); a plain graph
    # cannot read unwritten entries.
    frames = out.stack() if jit else out.gather(tf.range(produced))
    codes = tf.reshape(tf.transpose(frames, [1, 0, 2]), [batch, -1])
    states = tuple(s for tier in states for s in tier)
    return codes, states, history, position + num_frames * self.top

  def _forced_block(self, weights, states, history, forced, jit):
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
        weights, self._spec_for(batch, jit), self._split_states(states),
        history, length // self.top, outputs, _ForcedPolicy(frames))
    logits = tf.reshape(tf.transpose(logits.stack(), [1, 0, 2, 3]),
                        [batch, length, self.q_levels])
    return logits, tuple(s for tier in states for s in tier)

  # -- public API ------------------------------------------------------------

  def silence_code(self):
    return quantization.silence_code(
        self.config.get("quantization") or "mu_law", self.q_levels)

  def start(self, num_seqs, prime_codes=None):
    """The carry before the first generated sample.

    Args:
      num_seqs: batch size.
      prime_codes: None (start from silence and the learned initial state),
        or int `[num_seqs, n]` / `[n]` codes to continue: they are
        left-padded with silence to whole top frames and run through the
        frame tiers (teacher forcing, one graph call).

    Returns:
      dict(states, history `[num_seqs, top]`, position).
    """
    model = self.model
    if prime_codes is None:
      history = tf.fill([num_seqs, self.top], self.silence_code())
      return dict(states=model.initial_state(num_seqs), history=history,
                  position=tf.constant(0))
    prime = np.asarray(prime_codes, np.int32)
    if prime.ndim == 1:
      prime = np.broadcast_to(prime, [num_seqs, prime.shape[0]])
    if prime.shape[0] != num_seqs or prime.shape[1] < 1:
      raise ValueError(f"prime_codes must be [num_seqs={num_seqs}, n>=1], "
                       f"got {list(prime.shape)}")
    length = max(self.top, -(-prime.shape[1] // self.top) * self.top)
    padded = np.full([num_seqs, length], self.silence_code(), np.int32)
    padded[:, length - prime.shape[1]:] = prime
    states = model.initial_state(num_seqs)
    if length > self.top:
      if "advance" not in self._functions:
        self._functions["advance"] = tf.function(model.advance)
      states = self._functions["advance"](tf.constant(padded), states)
    return dict(states=tuple(states),
                history=tf.constant(padded[:, length - self.top:]),
                position=tf.constant(0))

  def block(self, carry, num_frames, seed, temperature, max_frames=None):
    """Samples `num_frames` top frames; returns (codes np `[b, n]`, carry).

    `max_frames` (default `num_frames`) fixes the traced block size, so
    shorter blocks (the last one) reuse the same compiled graph.
    """
    batch = int(carry["history"].shape[0])
    fn = self._function("sample", batch)
    codes, states, history, position = fn(
        self.weights, tuple(carry["states"]), carry["history"],
        carry["position"], tf.constant(int(seed), tf.int32),
        _temperatures(temperature, batch), tf.constant(int(num_frames)),
        int(max_frames or num_frames))
    codes = codes.numpy()[:, :num_frames * self.top]
    return codes, dict(states=states, history=history, position=position)

  def stream(self, num_seqs, num_samples, seed=0, temperature=1.0,
             prime_codes=None, block_samples=DEFAULT_BLOCK_SAMPLES):
    """Yields int32 codes `[num_seqs, block]` until `num_samples` are out.

    Args:
      num_seqs: sequences generated side by side (one batch).
      num_samples: samples per sequence.
      seed: int; the same seed gives the same codes for any block size.
      temperature: float, or one per sequence (list / array `[num_seqs]`);
        0 gives greedy (argmax) decoding.
      prime_codes: optional codes to continue, see `start`.
      block_samples: samples per compiled call (rounded to whole top
        frames); each distinct block length is traced once.
    """
    carry = self.start(num_seqs, prime_codes)
    total_frames = -(-int(num_samples) // self.top)
    block_frames = max(1, int(round(block_samples / self.top)))
    remaining, done = int(num_samples), 0
    while done < total_frames:
      frames = min(block_frames, total_frames - done)
      codes, carry = self.block(carry, frames, seed, temperature,
                                max_frames=min(block_frames, total_frames))
      done += frames
      codes = codes[:, :remaining]
      remaining -= codes.shape[1]
      yield codes

  def generate(self, num_seqs, num_samples, **kwargs):
    """All codes at once, int32 `[num_seqs, num_samples]` (see `stream`)."""
    blocks = list(self.stream(num_seqs, num_samples, **kwargs))
    return np.concatenate(blocks, axis=1)

  def step_logits(self, codes, state=()):
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
      raise ValueError(f"step_logits needs top + a multiple of {self.top} "
                       f"codes, got {codes.shape[1]}")
    if not state:
      state = self.model.initial_state(batch)
    fn = self._function("forced", batch)
    return fn(self.weights, tuple(state), codes[:, :self.top],
              codes[:, self.top:])


def _temperatures(temperature, batch):
  """Float or per-sequence list -> float32 `[batch]` tensor."""
  values = np.asarray(temperature, np.float32).reshape(-1)
  if values.size == 1:
    values = np.full([batch], values[0], np.float32)
  if values.size != batch:
    raise ValueError(f"got {values.size} temperatures for {batch} sequences")
  if np.any(values < 0):
    raise ValueError(f"temperatures must be >= 0, got {values.tolist()}")
  return tf.constant(values)


_GENERATORS = weakref.WeakKeyDictionary()


def generator_for(model, config=None):
  """The cached `Generator` of `model`, with its weights re-read."""
  gen = _GENERATORS.get(model)
  if gen is None:
    gen = _GENERATORS[model] = Generator(model, config)
  else:
    gen.config = dict(config or gen.config)
    gen.refresh()
  return gen


def generate(model, config, num_seqs, num_samples, seed=0, temperature=1.0,
             prime_codes=None, block_samples=DEFAULT_BLOCK_SAMPLES,
             on_block=None):
  """Generates codes with a (trained) SampleRNN.

  Args:
    model: a `samplernn.model.SampleRNN`.
    config: its config (for `quantization`: the silence code to start from).
    num_seqs, num_samples, seed, temperature, prime_codes, block_samples: see
      `Generator.stream`.
    on_block: optional `on_block(codes int32 [num_seqs, n])`, called per
      block as soon as it is ready. If given, nothing is accumulated and
      None is returned (memory stays flat for any length).

  Returns:
    int32 codes `[num_seqs, num_samples]`, or None with `on_block`.
  """
  gen = generator_for(model, config)
  blocks = gen.stream(num_seqs, num_samples, seed=seed,
                      temperature=temperature, prime_codes=prime_codes,
                      block_samples=block_samples)
  if on_block is None:
    return np.concatenate(list(blocks), axis=1)
  for codes in blocks:
    on_block(codes)
  return None


def step_logits(model, codes, state=()):
  """Teacher-forced per-sample logits from the generation step graph.

  See `Generator.step_logits`; for tests of generation against `model.call`.
  """
  return generator_for(model).step_logits(codes, state)


# --------------------------------------------------------------------------
# Speed.


def flops_per_sample(config, folded=True):
  """Floating-point operations per generated sample (per sequence).

  Counts multiply-adds as 2 FLOPs for every matmul, and `frame_size * dim`
  adds for the table lookup. `folded=True` counts what `Generator` runs
  (first hidden layer folded into the tables and the bottom upsampling);
  `folded=False` counts the plain architecture.
  """
  sizes = model_lib.frame_sizes_of(config)
  dim, q = int(config["dim"]), int(config["q_levels"] or 256)
  layers = int(config["num_rnn_layers"])
  gates = 3 if config["rnn_type"] == "gru" else 4
  skip = layers if config["skip_connections"] else 1
  flops = 0.0
  for size, ratio in zip(sizes, model_lib.upsample_ratios(sizes)):
    per_frame = 2 * size * dim                      # input projection
    per_frame += layers * 2 * (2 * dim * gates * dim)  # input + recurrent
    per_frame += 2 * skip * dim * ratio * dim          # upsampling
    flops += per_frame / size
  flops += sizes[-1] * dim                          # table lookup (adds)
  flops += 2 * dim * dim * (1 if folded else 2)     # hidden layers
  flops += 2 * dim * q                              # output layer
  return flops


def measure_matmul_gflops(batch=32, dim=1024, steps=200, repeats=3):
  """This machine's float32 GFLOP/s on `[batch, dim] x [dim, dim]` products
  in a loop: the better of a plain graph and XLA (`common.timing`)."""
  return max(timing.matmul_gflops([(dim, dim)], batch, steps, repeats, jit)
             for jit in (False, True))


def benchmark(config, batch_size=1, num_samples=32768, warmup=1, repeats=3,
              jit_compile=None, block_samples=DEFAULT_BLOCK_SAMPLES,
              seed=0, measure_matmul=False):
  """Times generation with a randomly initialised model.

  Args:
    config: a preset name ("small", "default", ...) or a config dict.
    batch_size: sequences generated side by side.
    num_samples: samples per sequence in each timed run.
    warmup: untimed runs first (the first one traces and compiles).
    repeats: timed runs; the median is reported.
    jit_compile: None (automatic, see `default_jit_compile`), True or False.
    measure_matmul: also measure the machine's matmul rate and report how
      far generation is from the arithmetic limit.

  Returns:
    dict(samples_per_second (aggregate over the batch, median),
    per_sequence_samples_per_second, runs_seconds, compile_seconds,
    jit_compile, flops_per_sample, gflops_per_second, ...).
  """
  from common import config as config_lib
  if isinstance(config, str):
    config = config_lib.load("samplernn", config)
  config = dict(config)
  config["q_levels"] = config.get("q_levels") or 256
  config["quantization"] = config.get("quantization") or "mu_law"
  tf.random.set_seed(seed)
  model = model_api.build(model_lib.build_model(config))
  gen = Generator(model, config, jit_compile=jit_compile)

  def run():
    start = time.perf_counter()
    for _ in gen.stream(batch_size, num_samples, seed=seed,
                        block_samples=block_samples):
      pass
    return time.perf_counter() - start

  compile_seconds = None
  for i in range(max(1, int(warmup))):
    seconds = run()
    if i == 0:
      compile_seconds = seconds
  times = [run() for _ in range(max(1, int(repeats)))]
  median = statistics.median(times)
  rate = batch_size * num_samples / median
  flops = flops_per_sample(config)
  result = dict(
      samples_per_second=rate,
      per_sequence_samples_per_second=rate / batch_size,
      runs_seconds=times, first_run_seconds=compile_seconds,
      batch_size=batch_size, num_samples=num_samples,
      jit_compile=gen.jit_compile(batch_size),
      block_samples=block_samples,
      flops_per_sample=flops,
      flops_per_sample_unfolded=flops_per_sample(config, folded=False),
      gflops_per_second=rate * flops / 1e9)
  if config.get("sample_rate"):
    result["real_time_factor"] = rate / batch_size / config["sample_rate"]
  if measure_matmul:
    gflops = measure_matmul_gflops(batch=32, dim=1024)
    result.update(matmul_gflops=gflops,
                  arithmetic_limit_samples_per_second=gflops * 1e9 / flops,
                  fraction_of_limit=rate * flops / (gflops * 1e9))
  return result


# --------------------------------------------------------------------------
# Command line.


def _define_flags():
  from absl import flags
  flags.DEFINE_string("model_dir", None, "A trained model directory.")
  flags.DEFINE_string("output_dir", None, "Where to write the wav files.")
  flags.DEFINE_integer("num_seqs", 1, "Sequences to generate (one batch).")
  flags.DEFINE_float("seconds", 5.0, "Seconds of audio per sequence.")
  flags.DEFINE_string("temperature", "1.0",
                      "Sampling temperature, or one per sequence: T1,T2,...")
  flags.DEFINE_integer("seed", 0, "Random seed.")
  flags.DEFINE_string("prime", None, "Audio file to continue.")
  flags.DEFINE_boolean("include_prime", False,
                       "Write the prime before the continuation.")
  flags.DEFINE_string("checkpoint", "best", "best, last, or a checkpoint path.")
  flags.DEFINE_string("name", "samplernn", "Output files: <name>_<i>.wav.")
  flags.DEFINE_float("block_seconds", 1.0, "Seconds per compiled call.")
  flags.DEFINE_boolean("overwrite", False, "Replace existing output files.")
  flags.mark_flags_as_required(["model_dir", "output_dir"])
  return flags.FLAGS


def generate_files(model_dir, output_dir, num_seqs=1, seconds=5.0,
                   temperature="1.0", seed=0, prime=None, include_prime=False,
                   checkpoint="best", name="samplernn", block_seconds=1.0,
                   overwrite=False, progress=True):
  """Loads a model and streams `num_seqs` wavs (+ JSON sidecars) to disk.

  Each wav is written under a temporary name and renamed into place when
  complete; its sidecar (the request: model, checkpoint, seed, temperature,
  seconds, prime) is written before that rename, so a wav is never left
  without it. Re-running the same request after an interruption, at any
  moment, makes the same files (outputs it already finished are made
  again, identical); when all are finished there is nothing to do. Outputs
  made otherwise are refused unless `overwrite`.

  Returns the list of wav paths.
  """
  from common import audio
  from common import checkpoint as checkpoint_lib
  from common import config as config_lib
  from common import files
  from common import generation

  family = config_lib.load_saved(model_dir).get("family")
  if family != "samplernn":
    raise ValueError(f"{model_dir}: is a {family} model; samplernn.generate "
                     f"needs a SampleRNN")
  try:
    temperatures = generation.parse_temperatures(temperature, num_seqs)
  except ValueError as e:
    raise ValueError(f"--temperature: {e}") from None
  # Names only: `files.claim_outputs` decides what may be replaced.
  paths = generation.output_paths(output_dir, name, num_seqs, overwrite=True)
  sidecar_paths = [os.path.splitext(p)[0] + ".json" for p in paths]
  checkpoint_path = checkpoint_lib.latest(model_dir, checkpoint)
  requests = [dict(
      model_dir=os.path.abspath(model_dir), checkpoint=checkpoint,
      checkpoint_path=checkpoint_path and os.path.abspath(checkpoint_path),
      temperature=temperatures[i], seed=seed, sequence=i, num_seqs=num_seqs,
      seconds_requested=float(seconds),
      prime=os.path.abspath(prime) if prime else None,
      include_prime=bool(prime and include_prime)) for i in range(num_seqs)]
  if files.claim_outputs(zip(paths, sidecar_paths, requests), overwrite):
    if progress:
      print(f"{output_dir}: {', '.join(os.path.basename(p) for p in paths)} "
            f"already made by the same command; nothing to do",
            file=sys.stderr)
    return paths
  model, config, step = checkpoint_lib.load_model(
      model_dir, model_lib.build_model, checkpoint)
  rate = int(config.get("sample_rate") or audio.DEFAULT_SAMPLE_RATE)
  kind, q_levels = config.get("quantization") or "mu_law", model.q_levels
  prime_codes = prefix = None
  if prime:
    prime_audio = audio.load(prime, rate)
    prime_codes = np.broadcast_to(
        quantization.encode(prime_audio, kind, q_levels),
        [num_seqs, len(prime_audio)])
    if include_prime:
      prefix = quantization.decode(prime_codes, kind, q_levels)
  num_samples = int(round(seconds * rate))
  blocks = Generator(model, config).stream(
      num_seqs, num_samples, seed=seed, temperature=temperatures,
      prime_codes=prime_codes, block_samples=max(1, block_seconds * rate))
  os.makedirs(output_dir, exist_ok=True)
  for sidecar_path, request in zip(sidecar_paths, requests):
    files.write_json(sidecar_path, dict(request, complete=False))
  sidecars = [dict(request, checkpoint_step=step, sample_rate=rate,
                   complete=True) for request in requests]
  generation.stream_to_wavs(paths, blocks, num_samples, rate, kind, q_levels,
                            sidecar=sidecars, progress=progress,
                            prefix_audio=prefix)
  return paths


def main(argv):
  del argv
  from absl import flags
  f = flags.FLAGS
  paths = generate_files(
      f.model_dir, f.output_dir, num_seqs=f.num_seqs, seconds=f.seconds,
      temperature=f.temperature, seed=f.seed, prime=f.prime,
      include_prime=f.include_prime, checkpoint=f.checkpoint, name=f.name,
      block_seconds=f.block_seconds, overwrite=f.overwrite)
  for path in paths:
    print(path)
  return 0


def run():
  """Console-script entry point (`samplernn-generate`)."""
  from common import cli
  cli.run(main, _define_flags, __doc__, user_errors=(ValueError,))


if __name__ == "__main__":
  run()
