"""Validation: teacher-forced NLL on a split, and the best-so-far record
that decides `best/` and early stopping (see `common.trainer`)."""

from __future__ import annotations

import math
import weakref
from typing import Any, Callable

import tensorflow as tf

from common import data as data_lib
from common import model_api
from common import train_step
from common.train_errors import TrainingError

LN2 = math.log(2.0)


def evaluate_nll(model: tf.keras.Model, config: dict, data_dir: str,
                 split: str = "val", max_batches: int | None = None,
                 batch_size: int | None = None) -> dict[str, float]:
  """Teacher-forced NLL of a model on a split (whole split by default).

  Windows are processed crop by crop with the state carried (as in
  training). Returns dict(nll_bits, nll_nats: per sample, samples: how
  many were predicted).

  Raises:
    TrainingError: the split holds no whole crop.
  """
  context = model.context_length
  length = model_api.crop_length(config, context)
  length = min(length, data_lib.chunk_samples(data_dir))
  batch_size = batch_size or config["batch_size"]
  ds = data_lib.dataset(data_dir, split, batch_size, length, mode="eval",
                        drop_remainder=False)
  if max_batches:
    ds = ds.take(max_batches)
  seq_len = config["seq_len"]
  window_nll = _window_nll(model)
  total, count = 0.0, 0
  for crop in ds:
    state = model.initial_state(tf.shape(crop)[0])
    for window in model_api.windows(crop, min(seq_len, length - context),
                                    context):
      nats, state = window_nll(window, state)
      total += float(nats)
      count += int(window.shape[0]) * (int(window.shape[1]) - context)
  if not count:
    raise TrainingError(f"{data_dir}: the {split} split has no window of "
                        f"{length} samples")
  return dict(nll_nats=total / count, nll_bits=total / count / LN2,
              samples=count)


# Each model's compiled `_window_nll`, traced once (not at every validation).
_WINDOW_NLL: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _window_nll(model: tf.keras.Model) -> Callable[[Any, Any], Any]:
  """The compiled `(window, state) -> (summed NLL in nats, new state)` of a
  model in inference mode (teacher forcing; see `evaluate_nll`)."""
  if model not in _WINDOW_NLL:
    context, model_ref = model.context_length, weakref.ref(model)

    @tf.function(reduce_retracing=True)
    def window_nll(window: tf.Tensor, state: Any) -> tuple[tf.Tensor, Any]:
      logits, state = model_ref()(window, state,  # type: ignore[misc]
                                  training=False)
      return tf.reduce_sum(train_step.nll_nats(
          logits, window[:, context:])), state

    _WINDOW_NLL[model] = window_nll
  return _WINDOW_NLL[model]


def record_validation(best: dict, val: dict, step: int) -> tuple[dict, bool]:
  """The best-so-far record after a validation at `step`.

  Args:
    best: the record so far, dict(step, nll_bits, nll_nats,
      validations_since), or {} before the first validation.
    val: `evaluate_nll`'s result.
    step: the step validated.

  Returns:
    (the new record, True if this validation is the new best). A tie is
    not an improvement; `validations_since` counts validations since the
    best one.
  """
  if not best or val["nll_bits"] < best["nll_bits"]:
    return dict(step=int(step), nll_bits=val["nll_bits"],
                nll_nats=val["nll_nats"], validations_since=0), True
  return dict(best, validations_since=best.get("validations_since", 0) + 1
              ), False


def patience_exhausted(best: dict, patience: int) -> bool:
  """True if early stopping is due: `patience` (> 0) validations in a row
  without improvement (0: never)."""
  return bool(patience) and best.get("validations_since", 0) >= patience


class BestVariables:
  """The best validation so far as checkpointed variables (`checkpoint`),
  read and written as the dict best.json holds ({} for none yet). Saved
  with every training checkpoint, so a replayed validation decides as the
  first one did (best.json is only a report)."""

  def __init__(self) -> None:
    self.step = tf.Variable(-1, dtype=tf.int64, trainable=False)
    self.nll_bits = tf.Variable(0.0, dtype=tf.float64, trainable=False)
    self.nll_nats = tf.Variable(0.0, dtype=tf.float64, trainable=False)
    self.since = tf.Variable(0, dtype=tf.int64, trainable=False)
    self.checkpoint = tf.train.Checkpoint(
        step=self.step, nll_bits=self.nll_bits, nll_nats=self.nll_nats,
        validations_since=self.since)

  def read(self) -> dict:
    if int(self.step) < 0:
      return {}
    return dict(step=int(self.step), nll_bits=float(self.nll_bits),
                nll_nats=float(self.nll_nats),
                validations_since=int(self.since))

  def assign(self, best: dict) -> None:
    self.step.assign(best["step"])
    self.nll_bits.assign(best["nll_bits"])
    self.nll_nats.assign(best["nll_nats"])
    self.since.assign(best["validations_since"])
