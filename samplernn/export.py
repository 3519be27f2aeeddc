"""SampleRNN's exports (`common.exporting`): the signatures, built on the
generator's own compiled block (`samplernn.generator`).

The state is three tensors, passed in and returned by every call:

    rnn       float32 [states, batch, dim]  the tiers' RNN states, top tier
                                            first (`model.initial_state`)
    history   int32 [batch, top]            the last top frame of codes
    position  int32 []                      samples generated so far: the
                                            index the next sample's noise is
                                            keyed by

SavedModel signatures (batch 1 .. max_batch):

    initial_state(batch_size) -> state
    generate(**state, num_samples, temperature [1 or batch], seed)
        -> audio [batch, num_samples], codes, **state
    prime(**state, audio [batch, n]) -> state

`generate` runs the generator's compiled block (one XLA computation per
block of up to `DEFAULT_BLOCK_SAMPLES`) in a loop inside the graph;
`num_samples` is a multiple of the top frame. `prime` is the generator's
primed start generalised to any state: the audio is quantized, left-padded
with the state's last codes (silence for a new state) to whole top frames,
and run through the frame tiers; its first top frame is context only,
as in training. The position does not move: priming generates nothing.

TFLite (batch 1; no variables: the state goes in and out):

    initial_state() -> state
    step(**state, temperature [1], seed) -> codes [1, top], logits [1, top,
        q_levels], audio [1, top], **state

one top frame per call, sampled like `generate`.
"""

from __future__ import annotations

# The generator's compiled functions and step weights are reused as they
# are (its public attributes for that; see the module doc).

from typing import Any

import tensorflow as tf

from common import exporting
from common import quantization
from samplernn import generator as generator_lib
from samplernn import model as model_lib

STATE = ("rnn", "history", "position")


def _state_specs(model: model_lib.SampleRNN, batch: int | None
                 ) -> list[tf.TensorSpec]:
  count = len(model.initial_state(1))
  return [tf.TensorSpec([count, batch, model.dim], tf.float32, name="rnn"),
          tf.TensorSpec([batch, model.frame_sizes[0]], tf.int32,
                        name="history"),
          tf.TensorSpec([], tf.int32, name="position")]


def _sampling_specs(batch: int | None) -> list[tf.TensorSpec]:
  return [tf.TensorSpec([batch], tf.float32, name="temperature"),
          tf.TensorSpec([], tf.int64, name="seed")]


def _interface(gen: generator_lib.SampleRNNGenerator) -> dict[str, Any]:
  return dict(kind="unconditional", state=list(STATE),
              top_frame=gen.top, silence_code=gen.silence_code())


def _sample(gen: generator_lib.SampleRNNGenerator, weights: Any,
            rnn: tf.Tensor, history: tf.Tensor, position: tf.Tensor,
            seeds: tf.Tensor, temperatures: tf.Tensor,
            num_frames: tf.Tensor, batch: int) -> dict[str, tf.Tensor]:
  """`num_frames` top frames for a static batch size, in the generator's
  blocks: its compiled function (XLA or not as it decides for `batch`),
  called in a loop inside the graph.

  Returns:
    dict(codes int32 `[batch, num_frames * top]`, rnn, history).
  """
  top = gen.top
  block = gen.compiled("sample", gen.jit_compile(batch))
  block_frames = gen.block_samples // top
  states = tuple(exporting.with_batch(s, batch) for s in tf.unstack(rnn))
  history = exporting.with_batch(history, batch)
  seeds = exporting.with_batch(seeds, batch)
  temperatures = exporting.with_batch(temperatures, batch)
  codes = tf.TensorArray(tf.int32, size=0, dynamic_size=True,
                         infer_shape=False, element_shape=[None, batch])

  def body(done: tf.Tensor, states: tuple, history: tf.Tensor,
           codes: tf.TensorArray) -> tuple:
    count = tf.minimum(block_frames, num_frames - done)
    made, states, history = block(weights, states, history,
                                  position + done * top, seeds, temperatures,
                                  count, block_frames)
    codes = codes.write(done // block_frames,
                        tf.transpose(made[:, :count * top]))
    return done + count, tuple(states), history, codes

  _, states, history, codes = tf.while_loop(
      lambda done, *_: done < num_frames, body,
      (tf.constant(0), states, history, codes))
  return dict(codes=tf.transpose(codes.concat()), rnn=tf.stack(states),
              history=history)


def saved_model(model: model_lib.SampleRNN, config: dict,
                max_batch: int) -> exporting.Exportable:
  """The SavedModel's signatures (see the module doc)."""
  gen = generator_lib.generator(model, config)
  weights = exporting.variables_of(gen.weights)
  top, kind, q_levels = gen.top, gen.quantization, gen.q_levels
  state_specs = _state_specs(model, None)

  @exporting.signature([tf.TensorSpec([], tf.int32,
                                              name="batch_size")])
  def initial_state(batch_size: tf.Tensor) -> dict[str, tf.Tensor]:
    return dict(rnn=tf.stack(model.initial_state(batch_size)),
                history=tf.fill([batch_size, top], gen.silence_code()),
                position=tf.constant(0))

  @exporting.signature(state_specs + [
      tf.TensorSpec([], tf.int32, name="num_samples")] + _sampling_specs(
          None))
  def generate(rnn: tf.Tensor, history: tf.Tensor, position: tf.Tensor,
               num_samples: tf.Tensor, temperature: tf.Tensor,
               seed: tf.Tensor) -> dict[str, tf.Tensor]:
    exporting.check_multiple(num_samples, top, "num_samples")
    batch = tf.shape(history)[0]
    seeds = exporting.sequence_seeds(seed, batch)
    temperatures = exporting.per_sequence(temperature, batch)
    values = exporting.read(weights)
    made = exporting.by_batch_size(batch, max_batch, lambda b: _sample(
        gen, values, rnn, history, position, seeds, temperatures,
        num_samples // top, b))
    return dict(made, position=position + num_samples,
                audio=exporting.decoded(made["codes"], kind, q_levels))

  @exporting.signature(state_specs + [
      tf.TensorSpec([None, None], tf.float32, name="audio")])
  def prime(rnn: tf.Tensor, history: tf.Tensor, position: tf.Tensor,
            audio: tf.Tensor) -> dict[str, tf.Tensor]:
    codes = quantization.encode(audio, kind, q_levels)
    length = tf.maximum(top, -(-tf.shape(codes)[1] // top) * top)
    joined = tf.concat([history, codes], axis=1)
    window = joined[:, tf.shape(joined)[1] - length:]
    rnn = tf.cond(length > top,
                  lambda: tf.stack(model.advance(window, tuple(
                      tf.unstack(rnn)))),
                  lambda: rnn)
    return dict(rnn=rnn, history=window[:, length - top:], position=position)

  return exporting.Exportable(
      functions=dict(initial_state=initial_state, generate=generate,
                     prime=prime),
      trackables=dict(model_variables=exporting.keras_variables(model),
                      step_weights=weights),
      interface=_interface(gen))


class _LogitsPolicy(generator_lib._SamplePolicy):
  """Samples as the generator does and records every sample's logits."""

  def record(self, outputs: tuple, frame: tf.Tensor, codes: tf.Tensor,
             logits: list[tf.Tensor]) -> tuple:
    return (outputs[0].write(frame, codes),
            outputs[1].write(frame, tf.stack(logits, axis=1)))


def tflite(model: model_lib.SampleRNN, config: dict) -> exporting.Exportable:
  """The TFLite step: one top frame per call, batch 1 (module doc)."""
  gen = generator_lib.generator(model, config)
  weights = exporting.variables_of(gen.weights)
  top, bottom, q_levels = gen.top, gen.bottom, gen.q_levels
  spec = gen.spec_for(1, False)

  @exporting.signature([])
  def initial_state() -> dict[str, tf.Tensor]:
    return dict(rnn=tf.stack(model.initial_state(1)),
                history=tf.fill([1, top], gen.silence_code()),
                position=tf.constant(0))

  @exporting.signature(_state_specs(model, 1) + _sampling_specs(1))
  def step(rnn: tf.Tensor, history: tf.Tensor, position: tf.Tensor,
           temperature: tf.Tensor, seed: tf.Tensor) -> dict[str, tf.Tensor]:
    frames = top // bottom
    policy = _LogitsPolicy(exporting.sequence_seeds(seed, 1), temperature,
                           position, bottom, q_levels)
    outputs = (tf.TensorArray(tf.int32, size=frames,
                              element_shape=[1, bottom]),
               tf.TensorArray(tf.float32, size=frames,
                              element_shape=[1, bottom, q_levels]))
    states, history, _, _, (codes, logits) = generator_lib.run_top_frames(
        exporting.read(weights), spec,
        tuple(model.split_state(tuple(tf.unstack(rnn)))), history,
        tf.constant(1), outputs, policy)
    codes = tf.reshape(tf.transpose(codes.stack(), [1, 0, 2]), [1, top])
    return dict(
        codes=codes, audio=exporting.decoded(codes, gen.quantization,
                                               q_levels),
        logits=tf.reshape(tf.transpose(logits.stack(), [1, 0, 2, 3]),
                          [1, top, q_levels]),
        rnn=tf.stack([s for tier in states for s in tier]), history=history,
        position=position + top)

  return exporting.Exportable(
      functions=dict(initial_state=initial_state, step=step),
      trackables=dict(model_variables=exporting.keras_variables(model),
                      step_weights=weights),
      interface=_interface(gen))
