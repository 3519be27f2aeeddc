"""The training step: the learning-rate schedule, the loss and the compiled
optimizer step on one truncated-BPTT window (see `common.trainer`).

The step runs under any `tf.distribute` strategy; it returns tensors and
never waits for the device, so the loop reads them only when it logs
(`common.trainer`).
"""

from __future__ import annotations

from typing import Any, Callable

import tensorflow as tf

from common import model_api

# (window, state, key) -> (loss nats, grad norm, finite flag, new state).
TrainStep = Callable[[Any, Any, tf.Tensor], tuple[Any, Any, Any, Any]]


def learning_rate(config: dict, step: int | tf.Tensor) -> tf.Tensor:
  """The learning rate at `step` (a scalar float32 tensor), from config.

  Linear warm-up over `lr_warmup_steps`, then either "exponential"
  (`learning_rate * lr_decay_rate ** (step / lr_decay_steps)`, no decay when
  lr_decay_steps is 0) or "piecewise" (`lr_values[i]` after
  `lr_boundaries[i-1]`), never below `min_learning_rate`.
  """
  step = tf.cast(step, tf.float32)
  base = float(config["learning_rate"])
  if config["lr_schedule"] == "piecewise":
    bounds = [float(b) for b in config["lr_boundaries"]]
    values = [float(v) for v in config["lr_values"]] or [base]
    lr = tf.constant(values[0])
    for bound, value in zip(bounds, values[1:]):
      lr = tf.where(step >= bound, value, lr)
  elif config["lr_schedule"] == "exponential" and config["lr_decay_steps"]:
    lr = base * tf.pow(float(config["lr_decay_rate"]),
                       step / float(config["lr_decay_steps"]))
  else:
    lr = tf.constant(base)
  warmup = float(config["lr_warmup_steps"])
  if warmup:
    lr = lr * tf.minimum(1.0, (step + 1.0) / warmup)
  return tf.maximum(lr, float(config["min_learning_rate"]))


class Schedule(tf.keras.optimizers.schedules.LearningRateSchedule):
  """Keras wrapper of `learning_rate` (the optimizer calls it with its step)."""

  def __init__(self, config: dict):
    super().__init__()
    self.config = config

  def __call__(self, step: Any) -> tf.Tensor:
    return learning_rate(self.config, step)

  def get_config(self) -> dict:
    return {"config": self.config}


class SummedGradientsAdam(tf.keras.optimizers.Adam):
  """Adam that applies the gradients it is given as they are: already summed
  over the replicas (and clipped) by `make_train_step`.

  Under `tf.distribute`, a Keras 3 optimizer called in a replica context
  sums the replicas' gradients itself (`_all_reduce_sum_gradients`), after
  any clipping could see them; Keras 3 has no switch to skip that (Keras 2's
  `experimental_aggregate_gradients=False` is gone: keras-team/keras#19308),
  and summing R copies of a sum would scale the gradient by R.
  """

  def _all_reduce_sum_gradients(self, grads_and_vars: Any) -> Any:
    return grads_and_vars


def make_optimizer(config: dict, model: tf.keras.Model
                   ) -> tf.keras.optimizers.Optimizer:
  """Adam on the schedule of `config`, its slots built for `model`; it
  expects gradients summed over the replicas (`SummedGradientsAdam`)."""
  optimizer = SummedGradientsAdam(Schedule(config))
  optimizer.build(model.trainable_variables)
  return optimizer


def nll_nats(logits: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
  """Per-sample negative log-likelihood in nats.

  Args:
    logits: float `[batch, time, q_levels]`.
    targets: int32 `[batch, time]`.

  Returns:
    float32 `[batch, time]`.
  """
  return tf.nn.sparse_softmax_cross_entropy_with_logits(
      labels=targets, logits=tf.cast(logits, tf.float32))


def step_key(seed: int, step: int) -> tf.Tensor:
  """The int64 `[2]` random key of a training step (see `make_train_step`)."""
  return tf.constant([int(seed), int(step)], tf.int64)


def _gradients(model: tf.keras.Model, window: tf.Tensor, state: Any,
               key: tf.Tensor, replicas: int, takes_seed: bool
               ) -> tuple[tf.Tensor, list[tf.Tensor], Any]:
  """One replica's (loss, gradients, new state) on its part of a window.

  The loss is this replica's share of the mean over all replicas' predicted
  samples (so the replicas' gradients sum to the gradient of the mean)."""
  kwargs = {}
  if takes_seed:
    replica = tf.distribute.get_replica_context().replica_id_in_sync_group
    kwargs["seed"] = tf.random.experimental.stateless_fold_in(
        key, tf.cast(replica, tf.int64))
  with tf.GradientTape() as tape:
    logits, new_state = model(window, state, training=True, **kwargs)
    per_sample = nll_nats(logits, window[:, model.context_length:])
    loss = tf.reduce_sum(per_sample) / tf.cast(
        tf.size(per_sample) * replicas, tf.float32)
  grads = tape.gradient(loss, model.trainable_variables)
  grads = [tf.zeros_like(v) if g is None else g
           for g, v in zip(grads, model.trainable_variables)]
  return loss, grads, new_state


def _all_replicas_sum(loss: tf.Tensor, grads: list[tf.Tensor]
                      ) -> tuple[tf.Tensor, list[tf.Tensor]]:
  """(loss, gradients) summed over all replicas, in one all-reduce: the
  loss and gradient of the mean over the whole global batch, the same on
  every replica (identity with one replica)."""
  summed = tf.distribute.get_replica_context().all_reduce(
      tf.distribute.ReduceOp.SUM, [loss] + list(grads))
  return summed[0], summed[1:]


def _guarded(grads: list[tf.Tensor], loss: tf.Tensor, clip: float
             ) -> tuple[list[tf.Tensor], tf.Tensor, tf.Tensor]:
  """(gradients to apply, their global norm, finite flag) of a step.

  Args:
    grads: the gradients summed over all replicas (`_all_replicas_sum`).
    loss: the loss summed over all replicas (nats per sample).
    clip: the largest global norm (0: no clipping).

  Returns:
    The gradients clipped to the global norm `clip`, or all zeros if the
    loss or the norm is not finite (a NaN/Inf on any replica reaches the
    sums), so a non-finite step changes no gradient-driven weight on any
    replica; the norm before clipping; the flag (bool).
  """
  grad_norm = tf.linalg.global_norm(grads)
  finite = tf.math.is_finite(loss) & tf.math.is_finite(grad_norm)
  if clip:
    grads, _ = tf.clip_by_global_norm(grads, clip, use_norm=grad_norm)
  grads = [tf.where(finite, g, tf.zeros_like(g)) for g in grads]
  return grads, grad_norm, finite


def make_train_step(model: tf.keras.Model,
                    optimizer: tf.keras.optimizers.Optimizer, config: dict,
                    strategy: tf.distribute.Strategy) -> TrainStep:
  """The compiled step on one TBPTT window: `(window, state, key) -> (loss
  nats, grad norm, finite flag, new state)`; the loss is the mean over all
  replicas' predicted samples, the flag 1.0 if every replica's loss and
  gradient were finite (else 0.0, and no gradient was applied). `key`
  (int64 `[2]`, `step_key`) keys the model's training randomness: each
  replica passes the model `key` folded with its replica id (if the model
  takes a seed, `model_api.takes_seed`). With `config["jit_compile"]` and
  one replica the step is compiled with XLA.

  The replicas' gradients are summed (one all-reduce) before they are
  clipped, so `grad_clip_norm` bounds the global norm of the gradient of
  the whole batch, whatever the number of replicas, and the logged norm is
  that gradient's. `optimizer` must take summed gradients as they are
  (`make_optimizer`).
  """
  clip = float(config["grad_clip_norm"] or 0.0)
  replicas = strategy.num_replicas_in_sync
  # XLA fuses the many small ops of a convolutional step (about 1.5x on
  # CPU); the cross-replica reduction of a distributed step stays outside
  # it, so only a single-replica step is compiled.
  jit = bool(config["jit_compile"]) and replicas == 1
  takes_seed = model_api.takes_seed(model)

  def replica_step(window: tf.Tensor, state: Any, key: tf.Tensor
                   ) -> tuple[Any, Any, Any, Any]:
    loss, grads, new_state = _gradients(model, window, state, key, replicas,
                                        takes_seed)
    loss, grads = _all_replicas_sum(loss, grads)
    grads, grad_norm, finite = _guarded(grads, loss, clip)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return loss, grad_norm, tf.cast(finite, tf.float32), new_state

  @tf.function(reduce_retracing=True, jit_compile=jit or None)
  def train_window(window: Any, state: Any, key: tf.Tensor
                   ) -> tuple[Any, Any, Any, Any]:
    loss, norm, finite, new_state = strategy.run(replica_step,
                                                 (window, state, key))
    # (Sums: every replica holds the same values; take this worker's first.)
    loss, norm, finite = (strategy.experimental_local_results(value)[0]
                          for value in (loss, norm, finite))
    return loss, norm, finite, new_state

  return train_window
