"""The one training loop both model families use.

`train(config, data_dir, model_dir, build_model, ...)` trains any model that
follows `common.model_api`:

- truncated BPTT: each training crop (`num_windows * seq_len +
  context_length` samples) is cut into `num_windows` windows; the model's
  state starts from `initial_state` at the start of a crop and is carried
  from window to window; every window is one optimizer step;
- Adam with a learning-rate schedule (warm-up, then exponential decay or
  piecewise constant) and gradient clipping by global norm;
- validation on the `val` split every `validate_every` steps (NLL in bits and
  nats per sample), the best checkpoint kept in `best/`, early stopping after
  `early_stopping_patience` validations without improvement (0: never);
- checkpoints every `checkpoint_every` steps (the last `keep_checkpoints`
  kept) holding model, optimizer, step, the best-validation bookkeeping and
  the corpus fingerprint, so re-running the same command resumes where it
  stopped and `num_steps` is the step to train *to*;
- a NaN/Inf loss skips the update, stops the run with a message and leaves
  the last good checkpoint as it was; so does a full disk (one line naming
  the last checkpoint, which stays intact);
- SIGINT (Ctrl-C) or SIGTERM: the run finishes the current crop (and its
  validation, if due), saves a checkpoint and raises `Interrupted` (the
  train commands print its one line and exit with status 1); a second
  signal ends the process at once, losing only what the first would have
  saved;
- TensorBoard scalars (loss in bits/sample, learning rate, gradient norm,
  steps/s, samples/s), validation NLL and audio summaries from the family's
  `audio_summary` hook; a tqdm bar with rate and ETA;
- `strategy`: "default", "mirrored", "multi_worker" (TF_CONFIG) or "tpu".

Exact resume. Checkpoints are written at crop boundaries (the step is
rounded up to a multiple of `num_windows`), so no recurrent state needs
saving. All training randomness is a pure function of (seed, step): the
data (`common.data.dataset(..., start_batch=crop)` yields the crops an
uninterrupted pipeline yields from there, per input pipeline under any
strategy) and the model's own (the trainer passes each step an int64 `[2]`
key drawn from (seed, step, replica); see `common.model_api`). So a run
killed at any moment (`kill -9`, power loss) and re-run with the same
command ends with the same weights, bit for bit, as a run never stopped,
given the same machine and TF build (tests/test_resume.py kills both
families at set and random moments). A checkpoint records the corpus it was
trained on (`common.data.corpus_fingerprint`): resuming on another corpus is
refused (fine-tune with `init_from` instead). `config.json` is written once
the first step has run, and compared only when a checkpoint exists, so a
start that failed does not block a corrected one. A run stopped by
`num_steps` inside a crop abandons the rest of that crop: continuing it is
deterministic but differs from a run that never stopped there (choose
`num_steps` a multiple of `num_windows`).
"""

import errno
import json
import math
import os
import signal
import sys
import threading
import time
import weakref

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from common import checkpoint as ckpt_lib
from common import config as config_lib
from common import data as data_lib
from common import files
from common import model_api

LN2 = math.log(2.0)
INIT_NAME = "init.json"


class TrainingError(RuntimeError):
  """A run that cannot start or had to stop (message says why)."""


class Interrupted(TrainingError):
  """SIGINT or SIGTERM stopped the run after it saved a checkpoint."""


class _StopRequest:
  """Context manager: the first SIGINT/SIGTERM sets `signal_name` (the loop
  then stops at the end of the crop); the handlers then go back to the
  system default, so a second signal ends the process at once. Handlers can
  only be installed in the main thread; elsewhere signals act as usual."""

  SIGNALS = (signal.SIGINT, signal.SIGTERM)

  def __init__(self):
    self.signal_name = None
    self._previous = {}

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      self._previous = {s: signal.signal(s, self._handle)
                        for s in self.SIGNALS}
    return self

  def _handle(self, signum, frame):
    del frame
    self.signal_name = signal.Signals(signum).name
    for s in self.SIGNALS:
      signal.signal(s, signal.SIG_DFL)

  def __exit__(self, *exc_info):
    for s, handler in self._previous.items():
      signal.signal(s, handler)


def make_strategy(name="default", tpu=None):
  """The tf.distribute strategy for a flag value."""
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    return tf.distribute.MirroredStrategy()
  if name == "multi_worker":
    return tf.distribute.MultiWorkerMirroredStrategy()
  if name == "tpu":
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "")
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)
  raise TrainingError(f"unknown strategy {name!r}; expected default, "
                      f"mirrored, multi_worker or tpu")


def learning_rate(config, step):
  """The learning rate at `step` (a float or scalar tensor), from config.

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


class _Schedule(tf.keras.optimizers.schedules.LearningRateSchedule):
  """Keras wrapper of `learning_rate` (the optimizer calls it with its step)."""

  def __init__(self, config):
    super().__init__()
    self.config = config

  def __call__(self, step):
    return learning_rate(self.config, step)

  def get_config(self):
    return {"config": self.config}


def _config_diff(saved, config, may_differ):
  """"key: saved X, now Y" for (up to 6) keys outside `may_differ` that
  differ between two configs; "" when none do."""
  diff = sorted(k for k in set(saved) | set(config)
                if k not in may_differ and saved.get(k) != config.get(k))
  return ", ".join(f"{k}: saved {saved.get(k)!r}, now {config.get(k)!r}"
                   for k in diff[:6])


def _check_resume_config(model_dir, config):
  """Refuses to continue a model directory with a different model/data
  (called only when it holds a training checkpoint)."""
  if not os.path.exists(os.path.join(model_dir, config_lib.CONFIG_NAME)):
    return
  detail = _config_diff(config_lib.load_saved(model_dir), config,
                        config_lib.resumable_keys(config["family"]))
  if detail:
    raise TrainingError(
        f"{model_dir}: holds a model trained with another config ({detail}); "
        f"use a new --model_dir, or the same settings to resume")


def nll_nats(logits, targets):
  """Per-sample negative log-likelihood in nats.

  Args:
    logits: float `[batch, time, q_levels]`.
    targets: int32 `[batch, time]`.

  Returns:
    float32 `[batch, time]`.
  """
  return tf.nn.sparse_softmax_cross_entropy_with_logits(
      labels=targets, logits=tf.cast(logits, tf.float32))


def evaluate_nll(model, config, data_dir, split="val", max_batches=None,
                 batch_size=None):
  """Teacher-forced NLL of a model on a split (whole split by default).

  Windows are processed crop by crop with the state carried (as in
  training). Returns dict(nll_bits, nll_nats, samples).
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
_WINDOW_NLL = weakref.WeakKeyDictionary()


def _window_nll(model):
  """The compiled `(window, state) -> (summed NLL in nats, new state)` of a
  model in inference mode (teacher forcing; see `evaluate_nll`)."""
  if model not in _WINDOW_NLL:
    context, model_ref = model.context_length, weakref.ref(model)

    @tf.function(reduce_retracing=True)
    def window_nll(window, state):
      logits, state = model_ref()(window, state, training=False)
      return tf.reduce_sum(nll_nats(logits, window[:, context:])), state

    _WINDOW_NLL[model] = window_nll
  return _WINDOW_NLL[model]


def step_key(seed, step):
  """The int64 `[2]` random key of a training step (see `make_train_step`)."""
  return tf.constant([int(seed), int(step)], tf.int64)


def make_train_step(model, optimizer, config, strategy):
  """The compiled step on one TBPTT window: `(window, state, key) -> (loss
  nats, grad norm, finite flag, new state)`; the loss is the mean over all
  replicas' predicted samples. `key` (int64 `[2]`, `step_key`) keys the
  model's training randomness: each replica passes the model `key` folded
  with its replica id (if the model takes a seed, `model_api.takes_seed`).
  With `config["jit_compile"]` and one replica the step is compiled with
  XLA."""
  clip = float(config["grad_clip_norm"] or 0.0)
  context = model.context_length
  replicas = strategy.num_replicas_in_sync
  # XLA fuses the many small ops of a WaveNet step (about 1.5x on CPU); the
  # cross-replica reduction of a distributed step stays outside it, so only a
  # single-replica step is compiled.
  jit = bool(config["jit_compile"]) and replicas == 1
  takes_seed = model_api.takes_seed(model)

  def replica_step(window, state, key):
    kwargs = {}
    if takes_seed:
      replica = tf.distribute.get_replica_context().replica_id_in_sync_group
      kwargs["seed"] = tf.random.experimental.stateless_fold_in(
          key, tf.cast(replica, tf.int64))
    with tf.GradientTape() as tape:
      logits, new_state = model(window, state, training=True, **kwargs)
      per_sample = nll_nats(logits, window[:, context:])
      loss = tf.reduce_sum(per_sample) / tf.cast(
          tf.size(per_sample) * replicas, tf.float32)
    grads = tape.gradient(loss, model.trainable_variables)
    grads = [tf.zeros_like(v) if g is None else g
             for g, v in zip(grads, model.trainable_variables)]
    grad_norm = tf.linalg.global_norm(grads)
    finite = tf.math.is_finite(loss) & tf.math.is_finite(grad_norm)
    if clip:
      grads, _ = tf.clip_by_global_norm(grads, clip, use_norm=grad_norm)
    # A non-finite step applies zero gradients; the run then stops without
    # saving, so the last checkpoint stays the last good one.
    grads = [tf.where(finite, g, tf.zeros_like(g)) for g in grads]
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return loss, grad_norm, tf.cast(finite, tf.float32), new_state

  @tf.function(reduce_retracing=True, jit_compile=jit or None)
  def train_window(window, state, key):
    loss, norm, finite, new_state = strategy.run(replica_step,
                                                 (window, state, key))
    loss = strategy.reduce("SUM", loss, axis=None)
    norm = strategy.reduce("MEAN", norm, axis=None)
    finite = strategy.reduce("SUM", finite, axis=None) / replicas
    return loss, norm, finite, new_state

  return train_window


def train_throughput(config, build_model, steps=10, warmup=2):
  """Training samples/s of a config on random codes (no data, no I/O).

  Runs `steps` optimizer steps over TBPTT windows exactly as `train` does
  (state carried across `num_windows` windows) after `warmup` untimed steps;
  returns dict(samples_per_second, seconds_per_step, batch_size, seq_len).
  """
  model = model_api.build(build_model(config))
  optimizer = tf.keras.optimizers.Adam(float(config["learning_rate"]))
  optimizer.build(model.trainable_variables)
  step_fn = make_train_step(model, optimizer, config,
                            tf.distribute.get_strategy())
  batch, seq_len = int(config["batch_size"]), int(config["seq_len"])
  length = model_api.crop_length(config, model.context_length)
  codes = tf.random.uniform([batch, length], 0, int(config["q_levels"]),
                            tf.int32, seed=0)
  windows = model_api.windows(codes, seq_len, model.context_length)

  def run(count):
    state, done = (), 0
    while done < count:
      for window in windows:
        if done == count:
          break
        loss, _, _, state = step_fn(window, state,
                                    step_key(config["seed"], done))
        done += 1
      state = ()
    float(loss)

  run(warmup)
  start = time.perf_counter()
  run(steps)
  seconds = (time.perf_counter() - start) / steps
  return dict(samples_per_second=round(batch * seq_len / seconds, 1),
              seconds_per_step=round(seconds, 4), batch_size=batch,
              seq_len=seq_len)


def fine_tune_source(config, init_from):
  """The checkpoint a fine-tuned run starts from (see `init_weights`).

  `init_from` is a model directory (a run or a `pretrained/` export; its
  best checkpoint) or a checkpoint path prefix inside one. Its config must
  equal `config` except for the family's fine-tune keys, and it may gain the
  inputs its schema declares addable (`config.added_input_keys`).

  Returns:
    (checkpoint path prefix, the source's config).

  Raises:
    TrainingError: nothing there, or another model.
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
  detail = _config_diff(source, config, fine_tune_keys + added_input_keys)
  if detail:
    raise TrainingError(f"{init_from}: holds another model ({detail}); "
                        f"fine-tuning needs the same model and codes")
  keys = config_lib.keys(family)
  switched = [k for k in added_input_keys
              if source[k] != config[k] and source[keys[k].with_key or k]]
  if switched:
    raise TrainingError(
        f"{init_from}: {_config_diff(source, config, fine_tune_keys)}: an "
        f"input the model has cannot change; fine-tuning can only add "
        f"pitch inputs")
  path = ckpt_lib.latest(init_from, "best") if is_dir else init_from
  if path is None or not tf.io.gfile.exists(path + ".index"):
    raise TrainingError(f"{init_from}: no checkpoint to fine-tune from")
  return path, source


def init_weights(model, path, source_model=None):
  """Copies the model weights of checkpoint `path` into `model`.

  With `source_model` (the source's own architecture, when `model` adds
  inputs: see `config.added_input_keys`) the checkpoint is read into it and copied
  weight by weight: a kernel that gained input rows (axis -2) gets the
  source's rows first and zeros for the new ones, so `model` starts out
  computing exactly what the source did.

  Returns dict(checkpoint, step) of the source.

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
    _grow_weights(source_model, model, path)
  return dict(checkpoint=os.path.abspath(path), step=int(step.numpy()))


def _grow_weights(source, model, path):
  """Copies `source`'s weights into `model`, zero-filling added input rows."""
  weights = {v.path: v for v in source.weights}
  if set(weights) != {v.path for v in model.weights}:
    raise TrainingError(f"{path}: its model has other weights than this one")
  for v in model.weights:
    old = weights[v.path].numpy()
    new = tuple(v.shape)
    if old.shape == new:
      v.assign(old)
      continue
    if (len(new) < 2 or old.shape[:-2] != new[:-2] or
        old.shape[-1] != new[-1] or old.shape[-2] > new[-2]):
      raise TrainingError(f"{path}: weight {v.path} is {old.shape}, this "
                          f"model's is {new}; only added inputs can differ")
    grown = np.zeros(new, old.dtype)
    grown[..., :old.shape[-2], :] = old
    v.assign(grown)


def train(config, data_dir, model_dir, build_model, audio_summary=None,
          strategy="default", tpu=None, progress=True, log=print,
          init_from=None):
  """Trains (or resumes) a model; returns a dict of final figures.

  Args:
    config: the config dict (see `common.config`); data settings are taken
      from the corpus manifest and must agree with the config.
    data_dir: a prepared corpus (`common.prepare`).
    model_dir: where config, checkpoints and TensorBoard logs go.
    build_model: `build_model(config) -> keras.Model` (`common.model_api`).
    audio_summary: optional `fn(model, config, codes, seed) -> float32
      [n, samples]` audio for TensorBoard (SampleRNN generates, WaveNet
      reconstructs the given `codes` `[n, samples]`).
    strategy: see `make_strategy`.
    progress: show a tqdm bar.
    log: a function that prints a line.
    init_from: fine-tune: a new run starts from this model's weights (see
      `fine_tune_source`; recorded in `model_dir/init.json`) at step 0 with a
      fresh optimizer. Ignored when `model_dir` holds a checkpoint: the run
      resumes.

  Raises:
    TrainingError, config.ConfigError: with a one-line reason.
    Interrupted: SIGINT/SIGTERM, after saving a checkpoint.
  """
  config = config_lib.validated(config)
  manifest = data_lib.manifest(data_dir)
  config = config_lib.with_data_settings(
      config, manifest["settings"], os.path.join(data_dir, "manifest.json"))
  config_lib.check_training(config)
  resuming = bool(ckpt_lib.checkpoint_paths(
      os.path.join(model_dir, ckpt_lib.CHECKPOINTS)))
  if resuming:
    _check_resume_config(model_dir, config)
  init_path, init_config = (fine_tune_source(config, init_from)
                            if init_from and not resuming else (None, None))
  os.makedirs(model_dir, exist_ok=True)
  tf.keras.utils.set_random_seed(int(config["seed"]))
  strat = make_strategy(strategy, tpu)
  replicas = strat.num_replicas_in_sync
  batch = int(config["batch_size"])
  if batch % replicas:
    raise TrainingError(f"batch_size {batch} is not divisible by the "
                        f"{replicas} replicas of the {strategy} strategy")

  with strat.scope():
    model = model_api.build(build_model(config))
    optimizer = tf.keras.optimizers.Adam(_Schedule(config))
    optimizer.build(model.trainable_variables)
  # Host-side bookkeeping, saved with the model: plain (not mirrored)
  # variables. `best` is restored with the step it belongs to (best.json
  # is only a report), so a replayed validation decides as it did.
  step = tf.Variable(0, dtype=tf.int64, name="step", trainable=False)
  best_vars = _BestVariables()
  corpus = dict(fingerprint=data_lib.corpus_fingerprint(manifest),
                data_dir=os.path.abspath(data_dir))
  corpus_var = tf.Variable("", dtype=tf.string, trainable=False)

  context = model.context_length
  seq_len = int(config["seq_len"])
  num_windows = int(config["num_windows"])
  crop = model_api.crop_length(config, context)
  seed = int(config["seed"])

  checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer,
                                   step=step, best=best_vars.checkpoint,
                                   corpus=corpus_var)
  chief = _is_chief(strat)
  ckpt_dir = os.path.join(model_dir, ckpt_lib.CHECKPOINTS)
  if not chief:
    ckpt_dir = os.path.join(model_dir, ".worker",
                            str(strat.cluster_resolver.task_id),
                            ckpt_lib.CHECKPOINTS)
  manager = tf.train.CheckpointManager(
      checkpoint, ckpt_dir, max_to_keep=int(config["keep_checkpoints"]),
      step_counter=step)
  best_manager = tf.train.CheckpointManager(
      tf.train.Checkpoint(model=model, step=step),
      os.path.join(model_dir, ckpt_lib.BEST) if chief else os.path.join(
          ckpt_dir, "..", ckpt_lib.BEST), max_to_keep=1, step_counter=step)
  best_path = os.path.join(model_dir, "best.json")
  _refuse_checkpoints_without_corpus(ckpt_dir, model_dir)
  restored = ckpt_lib.restore_newest(checkpoint, ckpt_dir, log=log)
  if restored:
    _check_corpus(corpus_var.numpy().decode(), corpus, model_dir)
    log(f"resumed from {restored} (step {int(step)})")
  elif init_path:
    source_model = None
    if _config_diff(init_config, config,
                    config_lib.fine_tune_keys(config["family"])):
      source_model = model_api.build(build_model(init_config))
    source = init_weights(model, init_path, source_model)
    if chief:
      files.write_json(os.path.join(model_dir, INIT_NAME),
                       dict(init_from=os.path.abspath(init_from), **source))
    log(f"fine-tuning from {source['checkpoint']} (its step "
        f"{source['step']}); this run starts at step 0")
  corpus_var.assign(json.dumps(corpus))
  best = best_vars.read()

  # The data from the crop this step starts (a run stopped by num_steps
  # inside a crop goes on with the next one).
  first_crop = -(-int(step) // num_windows)

  def dataset_fn(input_context):
    local_replicas = (input_context.num_replicas_in_sync //
                      input_context.num_input_pipelines)
    return data_lib.dataset(
        data_dir, "train", input_context.get_per_replica_batch_size(batch),
        crop, mode="train", seed=seed,
        shuffle_buffer=int(config["shuffle_buffer"]),
        input_context=input_context, start_batch=first_crop * local_replicas)

  iterator = iter(strat.distribute_datasets_from_function(dataset_fn))
  train_window = make_train_step(model, optimizer, config, strat)

  def split_windows(dist_crop):
    return strat.run(lambda c: tuple(model_api.windows(c, seq_len, context)),
                     (dist_crop,))

  writer = tf.summary.create_file_writer(os.path.join(model_dir, "train"))
  val_writer = tf.summary.create_file_writer(os.path.join(model_dir, "val"))
  num_steps = int(config["num_steps"])
  samples_per_step = batch * seq_len
  bar = tqdm(total=num_steps, initial=int(step), unit="step",
             dynamic_ncols=True, disable=not progress, file=sys.stderr,
             desc=os.path.basename(os.path.normpath(model_dir)))
  summary_crop = None
  config_saved = False
  stop_reason = "reached num_steps"
  last_loss = float("nan")
  timer, timed_steps = time.time(), 0
  patience = int(config["early_stopping_patience"] or 0)

  def every(key):
    n = int(config[key] or 0)
    return n and int(step) % n == 0

  def due(key, done_steps):
    """True if a multiple of config[key] was crossed during this crop."""
    n = int(config[key] or 0)
    return n and (int(step) // n) > ((int(step) - done_steps) // n)

  try:
    try:
      with _StopRequest() as stop:
        while int(step) < num_steps:
          dist_crop = next(iterator)
          if summary_crop is None:
            summary_crop = strat.experimental_local_results(dist_crop)[0]
          # The first window starts from the model's (learned) initial
          # state, built inside the gradient tape so that it trains: `()`
          # says so.
          state = ()
          windows = split_windows(dist_crop)
          done = 0
          for window in windows:
            if int(step) >= num_steps:
              break
            loss, norm, finite, state = train_window(
                window, state, step_key(seed, int(step)))
            if float(finite) < 1.0:
              stop_reason = "nan"
              raise TrainingError(
                  f"step {int(step)}: loss or gradient is NaN/Inf "
                  f"(loss {float(loss):.4g}); stopped without saving. The "
                  f"last good checkpoint is {manager.latest_checkpoint}. Try "
                  f"a lower --learning_rate or grad_clip_norm.")
            step.assign_add(1)
            done += 1
            timed_steps += 1
            last_loss = float(loss) / LN2
            if not config_saved:
              # Only now is the run really started: a start that failed
              # earlier leaves nothing that blocks a corrected retry.
              if chief:
                config_lib.save(config, model_dir)
              config_saved = True
            bar.update(1)
            bar.set_postfix(bits=f"{last_loss:.3f}", refresh=False)
            if every("summary_every"):
              elapsed = max(time.time() - timer, 1e-9)
              with writer.as_default(step=int(step)):
                tf.summary.scalar("loss_bits_per_sample", last_loss)
                tf.summary.scalar("loss_nats_per_sample", float(loss))
                tf.summary.scalar("learning_rate",
                                  float(learning_rate(config, int(step))))
                tf.summary.scalar("grad_norm", float(norm))
                tf.summary.scalar("steps_per_second", timed_steps / elapsed)
                tf.summary.scalar("samples_per_second",
                                  timed_steps * samples_per_step / elapsed)
              timer, timed_steps = time.time(), 0
          if due("validate_every", done) or int(step) >= num_steps:
            val = evaluate_nll(model, config, data_dir, "val",
                               max_batches=int(config["val_batches"]))
            with val_writer.as_default(step=int(step)):
              tf.summary.scalar("nll_bits_per_sample", val["nll_bits"])
              tf.summary.scalar("nll_nats_per_sample", val["nll_nats"])
            improved = not best or val["nll_bits"] < best["nll_bits"]
            bar.write(f"step {int(step)}: train {last_loss:.3f} bits/sample, "
                      f"val {val['nll_bits']:.3f} bits/sample"
                      + (" (best)" if improved else ""))
            if improved:
              best_manager.save(checkpoint_number=int(step))
              best = dict(step=int(step), nll_bits=val["nll_bits"],
                          nll_nats=val["nll_nats"], validations_since=0)
            else:
              best["validations_since"] = best.get("validations_since",
                                                   0) + 1
            best_vars.assign(best)
            if chief:
              files.write_json(best_path, best)
            if patience and best.get("validations_since", 0) >= patience:
              stop_reason = "early stopping"
          if (audio_summary is not None and not stop.signal_name and
              due("audio_summary_every", done)):
            _audio_summary(writer, audio_summary, model, config,
                           summary_crop, int(step))
          # (Read once: a signal arriving from here on waits for the next
          # crop's end.)
          stopping = stop.signal_name
          if due("checkpoint_every", done) or int(step) >= num_steps or (
              stop_reason == "early stopping") or stopping:
            manager.save(checkpoint_number=int(step))
          if stopping:
            stop_reason = "interrupted"
            raise Interrupted(
                f"{stopping} at step {int(step)}: saved "
                f"{manager.latest_checkpoint}; run the same command to "
                f"resume")
          if stop_reason == "early stopping":
            bar.write(f"early stopping: no improvement in {patience} "
                      f"validations (best {best['nll_bits']:.3f} bits/sample "
                      f"at step {best['step']})")
            break
    finally:
      bar.close()
      writer.flush()
      val_writer.flush()
  except (OSError, tf.errors.OpError) as e:
    if not _disk_full(e):
      raise
    raise TrainingError(
        f"{model_dir}: no space left on device at step {int(step)}; the "
        f"last checkpoint, {manager.latest_checkpoint}, is intact: free "
        f"space and run the same command to resume") from None
  return dict(step=int(step), stop_reason=stop_reason,
              train_bits=last_loss, best=best,
              checkpoint=manager.latest_checkpoint, config=config)


class _BestVariables:
  """The best validation so far as checkpointed variables (`checkpoint`),
  read and written as the dict best.json holds ({} for none yet)."""

  def __init__(self):
    self.step = tf.Variable(-1, dtype=tf.int64, trainable=False)
    self.nll_bits = tf.Variable(0.0, dtype=tf.float64, trainable=False)
    self.nll_nats = tf.Variable(0.0, dtype=tf.float64, trainable=False)
    self.since = tf.Variable(0, dtype=tf.int64, trainable=False)
    self.checkpoint = tf.train.Checkpoint(
        step=self.step, nll_bits=self.nll_bits, nll_nats=self.nll_nats,
        validations_since=self.since)

  def read(self):
    if int(self.step) < 0:
      return {}
    return dict(step=int(self.step), nll_bits=float(self.nll_bits),
                nll_nats=float(self.nll_nats),
                validations_since=int(self.since))

  def assign(self, best):
    self.step.assign(best["step"])
    self.nll_bits.assign(best["nll_bits"])
    self.nll_nats.assign(best["nll_nats"])
    self.since.assign(best["validations_since"])


def _refuse_checkpoints_without_corpus(ckpt_dir, model_dir):
  """Refuses, in one line, checkpoints written before they recorded their
  corpus (they cannot resume exactly, and would not fit the checkpoint)."""
  paths = ckpt_lib.checkpoint_paths(ckpt_dir)
  if not paths:
    return
  try:
    names = [name for name, _ in tf.train.list_variables(paths[0])]
  except (tf.errors.OpError, ValueError):
    return  # unreadable: restore_newest reports it and falls back
  if not any(name.startswith("corpus/") for name in names):
    raise TrainingError(
        f"{paths[0]}: made by an older neuralsynth (it records no corpus), so "
        f"the run cannot resume exactly; fine-tune from it into a new "
        f"directory: --init_from={model_dir} --model_dir=NEW_DIR")


def _check_corpus(saved, corpus, model_dir):
  """Refuses to resume a checkpoint on a corpus other than the one it
  was trained on (`saved`: the JSON its `corpus` variable holds)."""
  saved = json.loads(saved)
  if saved["fingerprint"] != corpus["fingerprint"]:
    raise TrainingError(
        f"{model_dir}: was trained on the corpus {saved['data_dir']} "
        f"(fingerprint {saved['fingerprint']}), not {corpus['data_dir']} "
        f"(fingerprint {corpus['fingerprint']}); resume with the same "
        f"corpus, or fine-tune on this one (--init_from={model_dir} and a "
        f"new --model_dir)")


def _disk_full(error):
  """True if an OS or TF error says the disk (or the quota) is full."""
  codes = (errno.ENOSPC, errno.EDQUOT)
  if isinstance(error, OSError):
    return error.errno in codes
  return any(os.strerror(code) in str(error) for code in codes)


def _audio_summary(writer, audio_summary, model, config, codes, step):
  seconds = float(config["audio_summary_seconds"])
  audio = audio_summary(model, config, codes[:2], step)
  audio = np.asarray(audio, np.float32)[:, :, None]
  with writer.as_default(step=step):
    tf.summary.audio("audio", audio, int(config["sample_rate"]),
                     max_outputs=2, description=f"{seconds} s")


def _is_chief(strategy):
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not getattr(resolver, "task_type", None):
    return True
  return resolver.task_type in ("chief", None) or (
      resolver.task_type == "worker" and resolver.task_id == 0)
