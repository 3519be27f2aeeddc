"""A training run's checkpoints: what they hold, where they go, resuming.

A training checkpoint holds the model, the optimizer, the step, the best
validation so far (`validation.BestVariables`) and the corpus it was
trained on (`common.data.corpus_fingerprint`); `best/` holds the model of
the best validation.

Under a multi-worker strategy only the chief (`is_chief`) writes the model
directory: checkpoints, `best/`, `best.json`, `config.json` and TensorBoard
files. Every worker resumes from the chief's checkpoints, so the model
directory must be the same shared one on every host (a network file system
mounted at the same path; `check_same_start` verifies it). The other
workers save their checkpoints (tf.distribute wants every worker to save)
into a temporary directory of their own, deleted when the process ends.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Callable

import tensorflow as tf

from common import checkpoint as ckpt_lib
from common import config as config_lib
from common import files
from common import validation
from common.train_errors import TrainingError

BEST_JSON = "best.json"


def check_resume_config(model_dir: str, config: dict) -> None:
  """Refuses to continue a model directory with a different model or data
  (for one that holds a training checkpoint; only the keys the schemas mark
  `changes=RESUME` may differ).

  Raises:
    TrainingError: names up to 6 keys that differ.
  """
  if not os.path.exists(os.path.join(model_dir, config_lib.CONFIG_NAME)):
    return
  detail = config_lib.diff(config_lib.load_saved(model_dir), config,
                           config_lib.resumable_keys(config["family"]))
  if detail:
    raise TrainingError(
        f"{model_dir}: holds a model trained with another config ({detail}); "
        f"use a new --model_dir, or the same settings to resume")


def has_checkpoint(model_dir: str) -> bool:
  """True if `model_dir` holds a training checkpoint (a run resumes)."""
  return bool(ckpt_lib.checkpoint_paths(
      os.path.join(model_dir, ckpt_lib.CHECKPOINTS)))


def is_chief(strategy: tf.distribute.Strategy) -> bool:
  """True for the one worker that writes the model directory."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not getattr(resolver, "task_type", None):
    return True
  return resolver.task_type in ("chief", None) or (
      resolver.task_type == "worker" and resolver.task_id == 0)


class RunCheckpoints:
  """The checkpoints of one run in `model_dir`.

  Attributes:
    step: the int64 step variable saved with them (assigned at each save).
    best: the best-validation variables saved with them.
    chief: whether this worker writes the model directory.
    output_dir: where this worker writes (its TensorBoard files too): the
      model directory for the chief, else a temporary directory.
  """

  def __init__(self, model_dir: str, model: tf.keras.Model,
               optimizer: tf.keras.optimizers.Optimizer, corpus: dict,
               keep: int, strategy: tf.distribute.Strategy):
    self.model_dir = model_dir
    self.corpus = corpus
    # Host-side bookkeeping: plain (not mirrored) variables.
    self.step = tf.Variable(0, dtype=tf.int64, name="step", trainable=False)
    self.best = validation.BestVariables()
    self._corpus_var = tf.Variable("", dtype=tf.string, trainable=False)
    self.checkpoint = tf.train.Checkpoint(
        model=model, optimizer=optimizer, step=self.step,
        best=self.best.checkpoint, corpus=self._corpus_var)
    self.chief = is_chief(strategy)
    # Where every worker resumes from: the chief's checkpoints.
    self.directory = os.path.join(model_dir, ckpt_lib.CHECKPOINTS)
    self.output_dir = model_dir
    if not self.chief:
      self._scratch = tempfile.TemporaryDirectory(prefix="neuralsynth-worker-")
      self.output_dir = self._scratch.name
      keep = 1
    self._manager = tf.train.CheckpointManager(
        self.checkpoint, os.path.join(self.output_dir, ckpt_lib.CHECKPOINTS),
        max_to_keep=keep, step_counter=self.step)
    self._best_manager = tf.train.CheckpointManager(
        tf.train.Checkpoint(model=model, step=self.step),
        os.path.join(self.output_dir, ckpt_lib.BEST), max_to_keep=1,
        step_counter=self.step)

  @property
  def latest(self) -> str | None:
    """The newest training checkpoint of the run (None before the first),
    as the chief wrote it."""
    latest = self._manager.latest_checkpoint
    return latest and os.path.join(self.directory, os.path.basename(latest))

  def restore(self, log: Callable[[str], None]) -> str | None:
    """Resumes from the newest readable checkpoint, if any.

    Returns:
      The path restored, or None (a new run).

    Raises:
      TrainingError: the checkpoints predate corpus fingerprints, or were
        trained on another corpus.
      checkpoint.CheckpointError: none can be read, or one does not fit.
    """
    self._refuse_checkpoints_without_corpus()
    restored = ckpt_lib.restore_newest(self.checkpoint, self.directory,
                                       log=log)
    if restored:
      _check_corpus(self._corpus_var.numpy().decode(), self.corpus,
                    self.model_dir)
    self._corpus_var.assign(json.dumps(self.corpus))
    return restored

  def save(self, step: int) -> str:
    """Writes the training checkpoint of `step`; returns its path."""
    self.step.assign(step)
    return self._manager.save(checkpoint_number=step)

  def record_best(self, best: dict, improved: bool) -> None:
    """Keeps the best-validation record (saved with the next checkpoint;
    best.json, its report, now); `improved`: also saves the model to
    `best/`."""
    if improved:
      self.step.assign(best["step"])
      self._best_manager.save(checkpoint_number=best["step"])
    self.best.assign(best)
    if self.chief:
      files.write_json(os.path.join(self.model_dir, BEST_JSON), best)

  def _refuse_checkpoints_without_corpus(self) -> None:
    """Refuses, in one line, checkpoints written before they recorded their
    corpus (they cannot resume exactly, and would not fit the checkpoint)."""
    paths = ckpt_lib.checkpoint_paths(self.directory)
    if not paths:
      return
    try:
      names = [name for name, _ in tf.train.list_variables(paths[0])]
    except (tf.errors.OpError, ValueError):
      return  # unreadable: restore_newest reports it and falls back
    if not any(name.startswith("corpus/") for name in names):
      raise TrainingError(
          f"{paths[0]}: made by an older neuralsynth (it records no corpus), "
          f"so the run cannot resume exactly; fine-tune from it into a new "
          f"directory: --init_from={self.model_dir} --model_dir=NEW_DIR")


def check_same_start(strategy: tf.distribute.Strategy, step: int,
                     corpus: dict, model_dir: str) -> None:
  """Refuses to train on if the workers of a multi-worker strategy do not
  all go on from the same step on the same corpus (`corpus`: this worker's,
  as `RunCheckpoints` takes it); one collective, nothing to check under
  other strategies. A worker that did not find the chief's checkpoints
  (no shared model directory) or reads another corpus would silently train
  on other data than one process would.

  Raises:
    TrainingError: names the first worker that differs from the chief.
  """
  if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
    return
  mine = [step, int(corpus["fingerprint"][:15], 16)]  # (60 bits of it)
  values = strategy.gather(
      strategy.experimental_distribute_values_from_function(
          lambda _: tf.constant([mine], tf.int64)), axis=0).numpy()
  # Replica r is on worker r // (replicas per worker); the chief is 0.
  per_worker = values[::len(strategy.extended.worker_devices)].tolist()
  chief_step, chief_corpus = per_worker[0]
  for worker, (worker_step, worker_corpus) in enumerate(per_worker):
    if worker_corpus != chief_corpus:
      raise TrainingError(
          f"{corpus['data_dir']}: worker {worker} reads another corpus than "
          f"the chief (worker 0): every worker must read the same prepared "
          f"corpus")
    if worker_step != chief_step:
      raise TrainingError(
          f"{model_dir}: worker {worker} goes on from step {worker_step} but "
          f"the chief (worker 0) from step {chief_step}: every worker must "
          f"see the same model directory (shared storage: a network file "
          f"system mounted at the same path)")


def _check_corpus(saved: str, corpus: dict, model_dir: str) -> None:
  """Refuses to resume a checkpoint on a corpus other than the one it
  was trained on (`saved`: the JSON its `corpus` variable holds)."""
  saved_corpus = json.loads(saved)
  if saved_corpus["fingerprint"] != corpus["fingerprint"]:
    raise TrainingError(
        f"{model_dir}: was trained on the corpus {saved_corpus['data_dir']} "
        f"(fingerprint {saved_corpus['fingerprint']}), not "
        f"{corpus['data_dir']} (fingerprint {corpus['fingerprint']}); resume "
        f"with the same corpus, or fine-tune on this one "
        f"(--init_from={model_dir} and a new --model_dir)")
