"""The small interface between a model family and the shared machinery.

`common.trainer`, `common.checkpoint` and `eval` know a model only through
this interface; `samplernn/` and `wavenet/` each implement it.

A family module (`samplernn.model`, `wavenet.model`) exposes
`build_model(config) -> keras.Model` whose model has:

- `context_length` (int attribute): how many leading samples of every training
  window are input only. A window holds `context_length + T` codes and the
  model predicts the last `T` of them (SampleRNN: its top frame size;
  WaveNet: 0, as it pads causally).
- `initial_state(batch_size)`: the recurrent state at the start of a crop, a
  tuple of tensors (`()` for a stateless model).
- `call(codes, state=(), training=False[, seed=None]) -> (logits,
  new_state)`: `codes` int32 `[batch, context_length + T]`; `logits` float32
  `[batch, T, q_levels]`, where `logits[:, t]` predicts
  `codes[:, context_length + t]` from earlier codes only (teacher forcing);
  `new_state` is the state after the window, carried to the next window of
  the same crop (truncated BPTT). A model with training randomness (e.g.
  WaveNet's input jitter) takes `seed`: an int64 `[2]` key for stateless
  random ops (`tf.random.stateless_*`), which the trainer draws from
  (seed, step, replica) so that a resumed run draws what an uninterrupted
  one did; it must not use stateful random ops in training. A model without
  randomness leaves `seed` out (see `takes_seed`).

Optional, for scoring whole files (`eval.likelihood`):

- `receptive_field` (int): a stateless model's R: the logits at `t` depend
  on `codes[t-R .. t-1]` only. A model without it is recurrent: its state
  carries the whole past.
- `conditioned` (bool) True: the model is conditioned on embeddings of the
  audio it predicts (an autoencoder) and has `encode(codes [batch, n]) ->
  embeddings [batch, frames, width]` and `decode_logits(codes, embeddings,
  first_sample=None) -> logits`, where `first_sample` (int `[batch]`) says
  where each row of `codes` starts in the embeddings' timeline, so that a
  window is decoded with the embeddings of its whole file.

Training crops are cut into `num_windows` consecutive windows of `seq_len`
targets each, overlapping by `context_length` samples:
`crop_length(config, context_length) = num_windows * seq_len + context_length`.
"""

from __future__ import annotations

import inspect
from typing import Any

import tensorflow as tf


def crop_length(config: dict, context_length: int) -> int:
  """Samples per training crop: `num_windows * seq_len + context_length`."""
  return int(config["num_windows"]) * int(config["seq_len"]) + int(
      context_length)


def windows(crop: tf.Tensor, seq_len: int,
            context_length: int) -> list[tf.Tensor]:
  """Splits `[batch, crop]` codes into the TBPTT windows of one crop.

  Returns a list of `[batch, context_length + seq_len]` tensors, window `i`
  starting at sample `i * seq_len`.
  """
  total = crop.shape[1]
  count = (total - context_length) // seq_len
  return [crop[:, i * seq_len:i * seq_len + seq_len + context_length]
          for i in range(count)]


def takes_seed(model: Any) -> bool:
  """True if `model.call` takes the `seed` of its training randomness."""
  return "seed" in inspect.signature(model.call).parameters


def build(model: Any) -> Any:
  """Creates the model's variables by calling it once on a tiny batch.

  Raises:
    ValueError: some variables would not be saved by tf.train.Checkpoint
      (a Keras 3 layer holds sublayers or variables only in a list/dict).
  """
  length = model.context_length + 1
  codes = tf.zeros([1, max(length, 2)], tf.int32)
  # Each sublayer builds itself on this first call. Left unbuilt, Keras
  # would first trace the whole model symbolically to infer shapes (about a
  # third of a WaveNet's load time) to create the same variables.
  model.built = True
  model(codes, model.initial_state(1), training=False)
  check_checkpointable(model)
  return model


def check_checkpointable(model: Any) -> None:
  """Raises ValueError unless tf.train.Checkpoint reaches every weight."""
  root = tf.train.Checkpoint(model=model)  # the view holds a weak reference
  reached = {id(obj) for obj in tf.train.TrackableView(root).descendants()}
  weights = model.trainable_variables  # (not e.g. Keras RNG seed states)
  missing = [v.path for v in weights if id(v) not in reached]
  if missing:
    raise ValueError(
        f"{type(model).__name__}: {len(missing)} of {len(weights)} "
        f"variables are not reachable by tf.train.Checkpoint (e.g. "
        f"{missing[0]}); hold sublayers as named attributes")
