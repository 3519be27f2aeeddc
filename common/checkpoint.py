"""The one checkpoint format: TF checkpoints beside config.json.

A model directory written by `common.trainer` holds:

    config.json            the full config (model, training, data settings)
    checkpoints/ckpt-N.*   the last `keep_checkpoints` training checkpoints
                           (model, optimizer, step, data iterator)
    best/ckpt-N.*          the checkpoint with the best validation NLL
    best.json              its step and validation NLL
    train/, val/           TensorBoard event files

TF writes checkpoint files under temporary names and renames them, and updates
the `checkpoint` index file last, so a crash never leaves a half-written
checkpoint as the latest one.

A pretrained model directory (see `export`) needs only config.json and
`weights/` (the model's variables alone).
"""

import os

import tensorflow as tf

from common import config as config_lib
from common import files
from common import model_api

CHECKPOINTS = "checkpoints"
BEST = "best"
WEIGHTS = "weights"


def latest(model_dir, which="last"):
  """Path prefix of a checkpoint: "last", "best", or an explicit prefix.

  Falls back from "best" to "last" and from "last" to exported weights.
  Returns None if the directory has none.
  """
  if which not in ("last", "best"):
    return which
  order = {"best": [BEST, CHECKPOINTS, WEIGHTS],
           "last": [CHECKPOINTS, BEST, WEIGHTS]}[which]
  for sub in order:
    path = tf.train.latest_checkpoint(os.path.join(model_dir, sub))
    if path:
      return path
  return None


def step_of(path):
  """The training step a checkpoint prefix was written at (-1 if unknown)."""
  reader = tf.train.load_checkpoint(path)
  for key in reader.get_variable_to_shape_map():
    if key.startswith("step/"):
      return int(reader.get_tensor(key))
  try:
    return int(os.path.basename(path).rsplit("-", 1)[1])
  except (IndexError, ValueError):
    return -1


def load_model(model_dir, build_model, which="best"):
  """Builds a model from `model_dir/config.json` and restores its weights.

  Args:
    model_dir: a directory written by a train command (or a pretrained one).
    build_model: the family's `build_model(config)`.
    which: "best", "last" or a checkpoint path prefix.

  Returns:
    (model, config, step).

  Raises:
    FileNotFoundError: no checkpoint found (message names the directory).
  """
  config = config_lib.load_saved(model_dir)
  path = latest(model_dir, which)
  if path is None or not tf.io.gfile.exists(path + ".index"):
    raise FileNotFoundError(
        f"{model_dir}: no checkpoint ({which}) found; train a model there "
        f"first")
  model = model_api.build(build_model(config))
  step = tf.Variable(0, dtype=tf.int64, name="step")
  ckpt = tf.train.Checkpoint(model=model, step=step)
  ckpt.read(path).expect_partial()
  return model, config, int(step.numpy()) if int(step.numpy()) else step_of(
      path)


def export(model_dir, out_dir, build_model, which="best", overwrite=False):
  """Writes config.json + weights/ (model variables only) to `out_dir`.

  This is how the small models in `pretrained/` are made: no optimizer
  state, no data iterator, so they stay small.
  """
  if os.path.exists(os.path.join(out_dir, WEIGHTS)) and not overwrite:
    raise FileExistsError(f"{out_dir}: already holds weights; pass "
                          f"overwrite=True to replace them")
  model, config, step = load_model(model_dir, build_model, which)
  os.makedirs(out_dir, exist_ok=True)
  config_lib.save(config, out_dir)
  step_var = tf.Variable(step, dtype=tf.int64, name="step")
  manager = tf.train.CheckpointManager(
      tf.train.Checkpoint(model=model, step=step_var),
      os.path.join(out_dir, WEIGHTS), max_to_keep=1)
  manager.save(checkpoint_number=step)
  files.write_json(os.path.join(out_dir, WEIGHTS, "source.json"),
                   dict(model_dir=os.path.abspath(model_dir), which=which,
                        step=step))
  return out_dir
