"""WaveNet's exports (`common.exporting`): the signatures, built on the
cached generator's own compiled chunk (`wavenet.fastgen`,
`wavenet.decoder_step`).

The state is the decoder's queues (`decoder_step.zero_state`) and the
position, passed in and returned by every call:

    x           float32 [batch]                 the next (shifted) input
    start_past  float32 [batch, (k - 1) inputs] the start conv's older taps
    queues      float32 [sum(dilations), batch, (k - 1) width]
    history     float32 [H, batch]              past outputs (the pitch
                                                period input; H = 0 without)
    position    int32 []                        samples generated so far:
                                                the index the next sample's
                                                noise is keyed by

SavedModel signatures (batch 1 .. max_batch), an unconditional WaveNet:

    initial_state(batch_size) -> state
    generate(**state, num_samples, temperature [1 or batch], seed)
        -> audio [batch, num_samples], codes, **state

an autoencoder (`hop` = hop_length samples per frame; with pitch
conditioning each frame's pitch is its own input, a two-hot over
semitones from MIDI `pitch_min_midi`, `pitch_from_midi` makes it):

    encode(audio [batch, samples]) -> embeddings [batch, frames, bottleneck]
        (, pitch [batch, frames, bins])
    decode(embeddings (, pitch), temperature, seed) -> audio, codes
        ([batch, frames * hop])
    initial_state(batch_size) -> state
    generate(**state, embeddings (, pitch), temperature, seed)
        -> audio, codes, **state     (the block's frames; whole frames)
    pitch_from_midi(midi [batch, frames]) -> pitch (0 or out of range:
        unvoiced)

The block loop runs the generator's chunk (one XLA computation per
`fastgen.CHUNK_SAMPLES`) inside the graph; the conditioning terms are
computed once per frame (`decoder_step.frame_terms`), as the generator does.

TFLite (batch 1, one sample per call; no variables):

    initial_state() -> state
    condition(embeddings [1, bottleneck] (, pitch [1, bins]))
        -> layer_terms, out_terms (, period)     (an autoencoder, per frame)
    step(**state, temperature [1], seed (, layer_terms, out_terms
        (, period))) -> codes [1], logits [1, q_levels], audio [1], **state
"""

from __future__ import annotations

# The generator's compiled functions and step weights are reused as they
# are (its public attributes for that; see the module doc).

from typing import Any, Callable

import tensorflow as tf

from common import exporting
from common import quantization
from common import sampling
from wavenet import decoder_step
from wavenet import fastgen
from wavenet import pitch as pitch_lib

STATE = ("x", "start_past", "queues", "history", "position")
# The batch axis of each decoder state tensor.
_BATCH_AXIS = dict(x=0, start_past=0, queues=1, history=1)


def _state_specs(lay: decoder_step.Layout, batch: int | None
                 ) -> list[tf.TensorSpec]:
  zero = decoder_step.zero_state(lay, 1)
  specs = []
  for name, axis in _BATCH_AXIS.items():
    shape = zero[name].shape.as_list()
    shape[axis] = batch
    specs.append(tf.TensorSpec(shape, tf.float32, name=name))
  return specs + [tf.TensorSpec([], tf.int32, name="position")]


def _sampling_specs(batch: int | None) -> list[tf.TensorSpec]:
  return [tf.TensorSpec([batch], tf.float32, name="temperature"),
          tf.TensorSpec([], tf.int64, name="seed")]


def _conditioning_specs(model: Any, frames: bool, batch: int | None
                        ) -> list[tf.TensorSpec]:
  """The autoencoder's inputs: the learned embedding and (with pitch
  conditioning) the pitch two-hot, per frame (`frames`) or of one frame."""
  if not model.conditioned:
    return []
  middle = [None] if frames else []
  specs = [tf.TensorSpec([batch, *middle, model.bottleneck_width],
                         tf.float32, name="embeddings")]
  if model.pitch_bins:
    specs.append(tf.TensorSpec([batch, *middle, model.pitch_bins],
                               tf.float32, name="pitch"))
  return specs


def _interface(model: Any, lay: decoder_step.Layout) -> dict[str, Any]:
  facts: dict[str, Any] = dict(
      kind="autoencoder" if model.conditioned else "unconditional",
      state=list(STATE), receptive_field=int(model.receptive_field))
  if model.conditioned:
    facts.update(hop_length=lay.hop,
                 bottleneck_width=int(model.bottleneck_width),
                 pitch_bins=int(model.pitch_bins),
                 pitch_min_midi=int(model.pitch_min_midi),
                 pitch_period_input=bool(model.pitch_period_input))
  return facts


def _frames(model: Any, conditioning: list[tf.Tensor]) -> tf.Tensor:
  """The decoder's embedding frames `[batch, frames, width]`: the learned
  values, then the pitch two-hot."""
  return tf.concat(conditioning, axis=-1) if model.pitch_bins else (
      conditioning[0])


def _block_embeddings(gen: fastgen.FastGenerator, frames: tf.Tensor | None,
                      chunks: tf.Tensor, batch: int) -> tf.Tensor:
  """A block's embedding frames in whole chunks, `[chunks * frames per
  chunk, batch, width]`, as the generator's `_chunk_embeddings` makes them:
  an autoencoder's frames `[batch, frames, width]` transposed and
  zero-padded; an unconditional model's one frame of width 0 per chunk."""
  count = chunks * gen.frames_per_chunk
  if frames is None:
    return tf.zeros([count, batch, 0])
  embeddings = tf.transpose(exporting.with_batch(frames, batch), [1, 0, 2])
  return tf.pad(embeddings, [[0, count - tf.shape(embeddings)[0]], [0, 0],
                             [0, 0]])


def _decode(gen: fastgen.FastGenerator, state: dict,
            frames: tf.Tensor | None,
            num_samples: tf.Tensor, temperatures: tf.Tensor,
            seeds: tf.Tensor, batch: int) -> dict[str, tf.Tensor]:
  """`num_samples` from `state` for a static batch size: the generator's
  compiled chunk in a loop inside the graph.

  Args:
    state: `decoder_step.zero_state`'s tensors and `position`.
    frames: an autoencoder's embedding frames covering the samples
      `[batch, frames, width]` (the first at `position`, a frame
      boundary); None for an unconditional model.

  Returns:
    dict(codes int32 `[batch, num_samples]`, the state after them).
  """
  per_chunk = gen.frames_per_chunk
  run = gen.chunk_fn(batch)
  chunk_samples = per_chunk * gen.layout.hop
  position = state["position"]
  queues = {k: exporting.with_batch(state[k], batch, axis)
            for k, axis in _BATCH_AXIS.items()}
  chunks = -(-num_samples // chunk_samples)
  embeddings = _block_embeddings(gen, frames, chunks, batch)
  codes = tf.TensorArray(tf.int32, size=chunks, infer_shape=False,
                         element_shape=[None, batch])

  def body(c: tf.Tensor, queues: dict, codes: tf.TensorArray) -> tuple:
    index = c * per_chunk + tf.range(per_chunk)
    steps = tf.minimum(chunk_samples, num_samples - c * chunk_samples)
    made, queues = run(queues, tf.gather(embeddings, index),
                       position + c * chunk_samples, steps, temperatures,
                       seeds)
    return c + 1, queues, codes.write(c, tf.transpose(made[:, :steps]))

  _, queues, codes = tf.while_loop(lambda c, *_: c < chunks, body,
                                   (tf.constant(0), queues, codes))
  return dict(queues, codes=tf.transpose(codes.concat()),
              position=position + num_samples)


def saved_model(model: Any, config: dict, max_batch: int
                ) -> exporting.Exportable:
  """The SavedModel's signatures (see the module doc)."""
  gen = fastgen.generator(model, config)
  lay = gen.layout
  kind, q_levels = gen.quantization, gen.q_levels
  state_specs = _state_specs(lay, None)

  def run(state: dict, frames: tf.Tensor | None, num_samples: tf.Tensor,
          temperature: tf.Tensor, seed: tf.Tensor) -> dict[str, tf.Tensor]:
    batch = tf.shape(state["x"])[0]
    seeds = exporting.sequence_seeds(seed, batch)
    temperatures = exporting.per_sequence(temperature, batch)
    made = exporting.by_batch_size(batch, max_batch, lambda b: _decode(
        gen, state, frames, num_samples, exporting.with_batch(
            temperatures, b), exporting.with_batch(seeds, b), b))
    return dict(made, audio=exporting.decoded(made["codes"], kind,
                                                q_levels))

  @exporting.signature([tf.TensorSpec([], tf.int32,
                                              name="batch_size")])
  def initial_state(batch_size: tf.Tensor) -> dict[str, tf.Tensor]:
    return dict(decoder_step.zero_state(lay, batch_size),
                position=tf.constant(0))

  functions: dict[str, Any] = dict(initial_state=initial_state)
  if not model.conditioned:
    @exporting.signature(state_specs + [
        tf.TensorSpec([], tf.int32, name="num_samples")] + _sampling_specs(
            None))
    def generate(x: tf.Tensor, start_past: tf.Tensor, queues: tf.Tensor,
                 history: tf.Tensor, position: tf.Tensor,
                 num_samples: tf.Tensor, temperature: tf.Tensor,
                 seed: tf.Tensor) -> dict[str, tf.Tensor]:
      exporting.check_multiple(num_samples, 1, "num_samples")
      state = dict(x=x, start_past=start_past, queues=queues,
                   history=history, position=position)
      return run(state, None, num_samples, temperature, seed)

    functions["generate"] = generate
  else:
    functions.update(_autoencoder_functions(model, gen, run, state_specs))
  return exporting.Exportable(
      functions=functions,
      trackables=dict(model_variables=exporting.keras_variables(model),
                      step_weights=gen.step_weights),
      interface=_interface(model, lay))


def _autoencoder_functions(model: Any, gen: fastgen.FastGenerator,
                           run: Callable[..., dict[str, tf.Tensor]],
                           state_specs: list[tf.TensorSpec]
                           ) -> dict[str, Any]:
  """encode, decode, generate (and pitch_from_midi) of an autoencoder."""
  hop = int(model.hop_length)
  kind, q_levels = gen.quantization, gen.q_levels
  conditioning = _conditioning_specs(model, frames=True, batch=None)
  functions: dict[str, Any] = {}

  def split(frames: tf.Tensor) -> dict[str, tf.Tensor]:
    named = dict(embeddings=frames[..., :model.bottleneck_width])
    if model.pitch_bins:
      named["pitch"] = frames[..., model.bottleneck_width:]
    return named

  @exporting.signature([tf.TensorSpec([None, None], tf.float32,
                                              name="audio")])
  def encode(audio: tf.Tensor) -> dict[str, tf.Tensor]:
    return split(model.encode(quantization.encode(audio, kind, q_levels)))

  @exporting.signature(conditioning + _sampling_specs(None))
  def decode(*args: tf.Tensor) -> dict[str, tf.Tensor]:
    *given, temperature, seed = args
    frames = _frames(model, list(given))
    state = dict(decoder_step.zero_state(gen.layout, tf.shape(frames)[0]),
                 position=tf.constant(0))
    made = run(state, frames, tf.shape(frames)[1] * hop, temperature, seed)
    return dict(audio=made["audio"], codes=made["codes"])

  @exporting.signature(state_specs + conditioning +
               _sampling_specs(None))
  def generate(x: tf.Tensor, start_past: tf.Tensor, queues: tf.Tensor,
               history: tf.Tensor, position: tf.Tensor, *args: tf.Tensor
               ) -> dict[str, tf.Tensor]:
    *given, temperature, seed = args
    tf.debugging.assert_equal(position % hop, 0, message=(
        f"the state's position must be a whole number of frames ({hop} "
        f"samples): generate whole frames"))
    frames = _frames(model, list(given))
    state = dict(x=x, start_past=start_past, queues=queues, history=history,
                 position=position)
    return run(state, frames, tf.shape(frames)[1] * hop, temperature, seed)

  functions.update(encode=encode, decode=decode, generate=generate)
  if model.pitch_bins:
    @exporting.signature([tf.TensorSpec([None, None], tf.float32,
                                                name="midi")])
    def pitch_from_midi(midi: tf.Tensor) -> dict[str, tf.Tensor]:
      return dict(pitch=pitch_lib.two_hot(midi, model.pitch_bins,
                                          model.pitch_min_midi))

    functions["pitch_from_midi"] = pitch_from_midi
  return functions


def tflite(model: Any, config: dict) -> exporting.Exportable:
  """The TFLite step: one sample per call, batch 1 (module doc). Without
  the period input the state has no `history` (TFLite has no empty
  tensors)."""
  gen = fastgen.generator(model, config)
  lay = gen.layout
  weights = gen.step_weights
  layers, skip = len(lay.dilations), int(weights["out1_kernel"].shape[0])
  state_specs = [spec for spec in _state_specs(lay, 1)
                 if spec.name != "history" or lay.history]
  names = [spec.name for spec in state_specs]
  term_specs = [tf.TensorSpec([layers, 1, 2 * lay.width], tf.float32,
                              name="layer_terms"),
                tf.TensorSpec([1, skip], tf.float32, name="out_terms")]
  if lay.history:
    term_specs.append(tf.TensorSpec([1], tf.float32, name="period"))
  functions: dict[str, Any] = {}
  # An unconditional model's terms: its biases (one frame, batch 1).
  biases = [] if model.conditioned else decoder_step.frame_terms(
      lay, exporting.read(weights), tf.zeros([1, 1, 0]))

  @exporting.signature([])
  def initial_state() -> dict[str, tf.Tensor]:
    zero = dict(decoder_step.zero_state(lay, 1), position=tf.constant(0))
    return {name: zero[name] for name in names}

  def terms(frames: tf.Tensor) -> list[tf.Tensor]:
    """One frame's terms from its embedding frame `[1, width]`."""
    layer_terms, out_terms = decoder_step.frame_terms(
        lay, exporting.read(weights), frames[None])
    made = [layer_terms[0], out_terms[0]]
    if lay.history:
      made.append(model.periods(frames[:, None])[:, 0])
    return made

  @exporting.signature(state_specs + _sampling_specs(1) +
                       (term_specs if model.conditioned else []))
  def step(*args: tf.Tensor) -> dict[str, tf.Tensor]:
    given = dict(zip(names + ["temperature", "seed"], args))
    position = given["position"]
    state = dict(decoder_step.zero_state(lay, 1), **{
        k: v for k, v in given.items() if k in _BATCH_AXIS})
    layer_terms, out_terms, *period = (
        args[len(names) + 2:] if model.conditioned else
        [biases[0][0], biases[1][0]])
    noise = sampling.gumbel_noise(
        exporting.sequence_seeds(given["seed"], 1), position, 1,
        lay.q_levels)[:, 0]
    logits, state = decoder_step.step_logits(
        lay, exporting.read(weights), state, position, layer_terms,
        out_terms, period[0] if period else tf.zeros([1]))
    codes = sampling.sample_with_noise(
        logits, given["temperature"][:, None], noise)
    made = dict(state, position=position + 1,
                x=quantization.codes_to_unit(codes, lay.q_levels))
    return dict({name: made[name] for name in names}, codes=codes,
                logits=logits, audio=exporting.decoded(
                    codes, gen.quantization, lay.q_levels))

  functions.update(initial_state=initial_state, step=step)
  if model.conditioned:
    @exporting.signature(_conditioning_specs(model, frames=False, batch=1))
    def condition(*given: tf.Tensor) -> dict[str, tf.Tensor]:
      return dict(zip([spec.name for spec in term_specs],
                      terms(_frames(model, list(given)))))

    functions["condition"] = condition
  return exporting.Exportable(
      functions=functions, trackables=dict(step_weights=weights),
      interface=dict(_interface(model, lay), state=names))
