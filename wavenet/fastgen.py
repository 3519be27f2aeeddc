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

- The per-sample math is `wavenet.decoder_step`: a chunk of up to
  `CHUNK_SAMPLES` samples (whole frames if conditioned) is one XLA
  computation (`tf.function(jit_compile=True)` over a `tf.while_loop`),
  compiled once per batch size (static shapes; the last, shorter chunk of
  a block runs fewer steps of the same computation). XLA runs the ~110
  small operations of a step with far less overhead than graph mode did
  (~1,400 samples/s at batch 1 for the shipped autoencoder).
- Batched over sequences, each with its own seed and temperature from the
  `State`; `common.sampling` keys the noise by (the sequence's seed,
  absolute sample `t`, code), so the codes do not depend on the batch, a
  sequence's place in it or the block size, and `NaiveGenerator` (full
  recomputation, the baseline) draws the same codes. A chunk's noise is
  drawn at once before its loop (`gumbel_noise` over the chunk), the loop
  samples with `sample_with_noise`.
- Explicit state: the queues of all layers in one buffer, the start
  conv's last inputs, the pitch-period history and the last output are
  the tensors of `State.tensors` (`decoder_step.zero_state`), carried
  through the loop and returned, so `next_block` is a function: a state
  stays valid. XLA updates the carried buffers in place (the optimized
  HLO has no copy of them inside the loop).
- Conditioning: the embedding of the current frame (constant for
  `hop_length` samples; nearest-neighbour upsampling) enters every layer
  and the output stack through 1x1 projections computed once per frame
  of the chunk inside its computation (`decoder_step.frame_terms`), not
  per sample. `next_block`
  takes the embedding frames of its block only (a real-time player feeds
  them as they come).
- Pitch period input (`pitch_period_input`): the decoder's start conv also
  reads the output one pitch period back; a ring buffer of the last outputs
  (longer than the lowest pitch bin's period) serves it, with the same
  linear interpolation as `wavenet.pitch.one_period_ago` in training.

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
from common import sampling
from wavenet import decoder_step

DEFAULT_BLOCK_SAMPLES = 4096
# Samples per XLA call (whole frames if conditioned): short enough for a
# live player's blocks, long enough that a call's overhead (~2-4 ms) is
# small.
CHUNK_SAMPLES = 512

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

  Attributes (also what `wavenet.export` builds its signatures from):
    layout: the step's static shape (`decoder_step.Layout`).
    frames_per_chunk: embedding frames per compiled chunk.
    step_weights: `decoder_step.weights` as variables the chunks capture.
  """

  def __init__(self, model: Any, config: dict | None = None):
    super().__init__(model, config)
    self.layout = decoder_step.layout(model, CHUNK_SAMPLES)
    self.frames_per_chunk = max(1, CHUNK_SAMPLES // self.layout.hop)
    # The step-shaped weights live in variables the compiled chunks
    # capture: a call passes only the state and the block's inputs (as
    # arguments, the ~80 weight tensors cost ~5 ms of Python per call).
    self.step_weights = tf.nest.map_structure(
        lambda t: tf.Variable(t, trainable=False),
        decoder_step.weights(model))
    self._chunk_fns: dict[int, Any] = {}  # batch size -> compiled chunk

  def refresh(self) -> None:
    """Re-reads the model's weights (the compiled chunks are kept)."""
    tf.nest.map_structure(lambda v, t: v.assign(t), self.step_weights,
                          decoder_step.weights(self.model))

  def start(self, request: generator_lib.Request) -> generator_lib.State:
    """Zero queues; the decoder's first input is 0 (`layers.shift_right`)."""
    self._check_start(request)
    return _state(request, decoder_step.zero_state(self.layout,
                                                   request.num_seqs))

  def next_block(self, state: generator_lib.State, num_samples: int,
                 embeddings: np.ndarray | None = None
                 ) -> tuple[np.ndarray, generator_lib.State]:
    """See `common.generator.Generator.next_block`."""
    frames = self._check_block(state, num_samples, embeddings)
    temperatures, seeds = _sampling_args(state)
    run = self.chunk_fn(state.num_seqs)
    chunk_embeddings = self._chunk_embeddings(frames, num_samples,
                                              state.num_seqs)
    tensors, blocks = state.tensors, []
    for index, chunk in enumerate(chunk_embeddings):
      done = index * self.frames_per_chunk * self.layout.hop
      steps = min(self.frames_per_chunk * self.layout.hop, num_samples - done)
      codes, tensors = run(
          tensors, chunk, tf.constant(state.position + done, tf.int32),
          tf.constant(steps, tf.int32), temperatures, seeds)
      blocks.append(codes.numpy()[:, :steps])
    return np.concatenate(blocks, axis=1), state.replace(
        position=state.position + num_samples, tensors=tensors)

  def _chunk_embeddings(self, frames: np.ndarray | None, num_samples: int,
                        batch: int) -> list[np.ndarray]:
    """A block's embedding frames per chunk, `[frames, batch, E]` each,
    the last zero-padded to whole chunks (an unconditional model: one
    frame of width 0 per chunk)."""
    chunks = -(-num_samples // (self.frames_per_chunk * self.layout.hop))
    if frames is None:
      return [np.zeros([1, batch, 0], np.float32)] * chunks
    embeddings = np.transpose(frames, [1, 0, 2])
    padded = np.zeros([chunks * self.frames_per_chunk, *embeddings.shape[1:]],
                      np.float32)
    padded[:len(embeddings)] = embeddings
    return np.split(padded, chunks)

  def chunk_fn(self, batch_size: int) -> Any:
    """A chunk compiled by XLA for a batch size: its frames' inputs
    (`decoder_step.chunk_frames`), then `decoder_step.chunk`; called with
    (state, embeddings `[frames, batch, E]`, start, num_steps,
    temperatures, seeds)."""
    if batch_size not in self._chunk_fns:
      layout, variables, model = self.layout, self.step_weights, self.model
      # (through `model`, a weak proxy: a bound method would hold the model)
      periods_of = lambda e: model.periods(e)  # noqa: E731

      def run(state: dict, embeddings: tf.Tensor, start: tf.Tensor,
              num_steps: tf.Tensor, temperatures: tf.Tensor,
              seeds: tf.Tensor) -> tuple:
        w = tf.nest.map_structure(tf.convert_to_tensor, variables)
        terms = decoder_step.chunk_frames(layout, w, embeddings, periods_of)
        return decoder_step.chunk(layout, w, state, *terms, start,
                                  num_steps, temperatures, seeds)

      self._chunk_fns[batch_size] = tf.function(run, jit_compile=True)
    return self._chunk_fns[batch_size]


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
