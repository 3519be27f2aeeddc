"""Fine-tuning: a new run starts from another model's weights.

`fine_tune_source` checks that the source model may be fine-tuned into the
config (the keys that may differ come from the schemas: `changes` FINE_TUNE,
ADDED_INPUT and FEWER, see `common.schema`); `init_weights` copies its
weights, growing the kernels that read added inputs and dropping the layers
a smaller model does not have (`carry_weights`).
"""

from __future__ import annotations

import os
from typing import Callable, NamedTuple

import numpy as np
import tensorflow as tf

from common import checkpoint as ckpt_lib
from common import config as config_lib
from common import model_api
from common.train_errors import TrainingError

INIT_NAME = "init.json"


class Source(NamedTuple):
  """The model a fine-tuned run starts from (`fine_tune_source`).

  Attributes:
    init_from: as given (a model directory or a checkpoint prefix).
    path: the checkpoint path prefix read.
    config: the source model's saved config.
  """
  init_from: str
  path: str
  config: dict


def fine_tune_source(config: dict, init_from: str) -> Source:
  """The checkpoint a fine-tuned run starts from, and its model's config.

  Args:
    config: the new run's checked config.
    init_from: a model directory (its best checkpoint, else its last) or a
      checkpoint path prefix inside one (`<dir>/checkpoints/ckpt-N`).


  Raises:
    TrainingError: no such model or checkpoint, or a model that differs in
      a key fine-tuning may not change (an added input may be switched on,
      never changed or dropped; a FEWER key may be lowered, not raised).
  """
  is_dir = os.path.isdir(init_from)
  if not (is_dir or tf.io.gfile.exists(init_from + ".index")):
    raise TrainingError(f"{init_from}: no such model directory or checkpoint "
                        f"to fine-tune from")
  source_dir = init_from if is_dir else os.path.dirname(
      os.path.dirname(init_from))
  try:
    source = config_lib.load_saved(source_dir)
  except (OSError, config_lib.ConfigError) as e:
    raise TrainingError(f"{init_from}: cannot fine-tune from it: {e}") from e
  family = config["family"]
  fine_tune_keys = config_lib.fine_tune_keys(family)
  added_input_keys = config_lib.added_input_keys(family)
  fewer_keys = config_lib.fewer_keys(family)
  detail = config_lib.diff(source, config,
                           fine_tune_keys + added_input_keys + fewer_keys)
  if detail:
    raise TrainingError(f"{init_from}: holds another model ({detail}); "
                        f"fine-tuning needs the same model and codes")
  keys = config_lib.keys(family)
  switched = [k for k in added_input_keys
              if source[k] != config[k] and source[keys[k].with_key or k]]
  if switched:
    raise TrainingError(
        f"{init_from}: {config_lib.diff(source, config, fine_tune_keys)}: an "
        f"input the model has cannot change; fine-tuning can only add inputs")
  more = [f"{k}: saved {source[k]!r}, now {config[k]!r}" for k in fewer_keys
          if config[k] > source[k]]
  if more:
    raise TrainingError(f"{init_from}: {', '.join(more)}: fine-tuning can "
                        f"keep fewer, not add more")
  path = ckpt_lib.latest(init_from, "best") if is_dir else init_from
  if path is None or not tf.io.gfile.exists(path + ".index"):
    raise TrainingError(f"{init_from}: no checkpoint to fine-tune from")
  return Source(init_from, path, source)


def needs_source_model(source_config: dict, config: dict) -> bool:
  """True if the source's model has another architecture than `config`'s
  (`config` adds inputs or has fewer layers), so its weights are read into
  a model of its own and carried over (`init_weights`)."""
  return bool(config_lib.diff(
      source_config, config, config_lib.fine_tune_keys(config["family"])))


def init_weights(model: tf.keras.Model, path: str,
                 source_model: tf.keras.Model | None = None) -> dict:
  """Copies the model weights of checkpoint `path` into `model`.

  With `source_model` (the source's own architecture, when `model` adds
  inputs or has fewer layers: see `needs_source_model`) the checkpoint is
  read into it and copied weight by weight (`carry_weights`): a model that
  only adds inputs starts out computing exactly what the source did; one
  with fewer layers starts from the source's first layers.

  Returns dict(checkpoint: absolute path, step: the source's step).

  Raises:
    TrainingError: the checkpoint lacks some of the model's weights, or a
      weight cannot be carried over.
  """
  step = tf.Variable(0, dtype=tf.int64, name="step")
  target = model if source_model is None else source_model
  try:
    ckpt_lib.restore(tf.train.Checkpoint(model=target, step=step), path)
  except ckpt_lib.CheckpointError as e:
    raise TrainingError(str(e)) from None
  if source_model is not None:
    carry_weights(source_model, model, path)
  return dict(checkpoint=os.path.abspath(path), step=int(step.numpy()))


def grown(old: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
  """`old` grown to `shape` by zero input rows, or None if it cannot be.

  A kernel `[..., inputs, outputs]` that gained input rows (axis -2) keeps
  its rows first, and zeros for the new ones, so what the added inputs
  contribute starts at zero. Any other change of shape cannot be carried.
  """
  if old.shape == tuple(shape):
    return old
  if (len(shape) < 2 or old.shape[:-2] != tuple(shape[:-2]) or
      old.shape[-1] != shape[-1] or old.shape[-2] > shape[-2]):
    return None
  out = np.zeros(shape, old.dtype)
  out[..., :old.shape[-2], :] = old
  return out


def carry_weights(source: tf.keras.Model, model: tf.keras.Model,
                  path: str) -> None:
  """Copies `source`'s weights into `model` by name (`grown` where shapes
  differ); weights `model` lacks (the layers it dropped) are left behind.

  Raises:
    TrainingError: `model` has a weight `source` lacks, or one cannot be
      grown.
  """
  weights = {v.path: v for v in source.weights}
  missing = [v.path for v in model.weights if v.path not in weights]
  if missing:
    raise TrainingError(f"{path}: its model lacks weight {missing[0]} of "
                        f"this one ({len(missing)} in all)")
  for v in model.weights:
    old = weights[v.path].numpy()
    value = grown(old, tuple(v.shape))
    if value is None:
      raise TrainingError(f"{path}: weight {v.path} is {old.shape}, this "
                          f"model's is {tuple(v.shape)}; only added inputs "
                          f"can differ")
    v.assign(value)


def start_from(model: tf.keras.Model, source: Source, config: dict,
               build_model: Callable[[dict], tf.keras.Model]) -> dict:
  """Fine-tuning's restore: `model` (of `config`) gets the weights of
  `source`, grown if it adds inputs. Returns dict(init_from: absolute,
  checkpoint, step: the source's), what `init.json` records."""
  source_model = None
  if needs_source_model(source.config, config):
    source_model = model_api.build(build_model(source.config))
  started = init_weights(model, source.path, source_model)
  return dict(init_from=os.path.abspath(source.init_from), **started)
