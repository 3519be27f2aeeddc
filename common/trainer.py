"""The one training loop every model family uses.

`train(config, data_dir, model_dir)` trains any model that follows
`common.model_api` (built by the config's family plug-in, `common.family`):

- truncated BPTT: each training crop (`num_windows * seq_len +
  context_length` samples) is cut into `num_windows` windows; the model's
  state starts from `initial_state` at the start of a crop and is carried
  from window to window; every window is one optimizer step
  (`common.train_step`);
- Adam with a learning-rate schedule (warm-up, then exponential decay or
  piecewise constant) and gradient clipping by global norm;
- validation on the `val` split every `validate_every` steps (NLL in bits and
  nats per sample), the best checkpoint kept in `best/`, early stopping after
  `early_stopping_patience` validations without improvement (0: never)
  (`common.validation`);
- checkpoints every `checkpoint_every` steps (the last `keep_checkpoints`
  kept) holding model, optimizer, step, the best-validation bookkeeping and
  the corpus fingerprint (`common.train_checkpoints`), so re-running the
  same command resumes where it stopped and `num_steps` is the step to train
  *to*; `init_from` fine-tunes from another model (`common.fine_tune`);
- a NaN/Inf loss or gradient applies no update and stops the run with a
  message naming the step, leaving the last good checkpoint as it was; so
  does a full disk (one line naming the last checkpoint, which stays
  intact). The step's finite flag is read on the host only when the run
  logs or is about to write anything (a summary, a validation, a
  checkpoint), never once per step;
- SIGINT (Ctrl-C) or SIGTERM: the run finishes the current crop (and its
  validation, if due), saves a checkpoint and raises `Interrupted` (the
  train commands print its one line and exit with status 1); a second
  signal ends the process at once, losing only what the first would have
  saved;
- TensorBoard scalars (loss in bits/sample, learning rate, gradient norm,
  steps/s, samples/s), validation NLL and audio made by the family's
  generator (`common.train_summaries`); a tqdm bar with rate and ETA;
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

from __future__ import annotations

import dataclasses
import errno
import os
import re
import sys
import time
from typing import Any, Callable, Iterator

import tensorflow as tf
from tqdm import tqdm

from common import config as config_lib
from common import data as data_lib
from common import family as family_lib
from common import files
from common import fine_tune
from common import signals
from common import model_api
from common import train_checkpoints
from common import train_step
from common import train_summaries
from common import validation
from common.train_errors import Interrupted
from common.train_errors import TrainingError

BuildModel = Callable[[dict], tf.keras.Model]
Log = Callable[[str], None]

class _StopRequest:
  """Context manager: the first SIGINT/SIGTERM sets `signal_name` (the loop
  then stops at the end of the crop); the handlers then go back to the
  system default, so a second signal ends the process at once. Handlers can
  only be installed in the main thread; elsewhere signals act as usual."""

  def __init__(self) -> None:
    self.signal_name: str | None = None
    self._handlers = signals.on_stop_signals(self._handle)

  def __enter__(self) -> _StopRequest:
    self._handlers.__enter__()
    return self

  def _handle(self, name: str) -> None:
    self.signal_name = name
    signals.restore_defaults()

  def __exit__(self, *exc_info: Any) -> None:
    self._handlers.__exit__(*exc_info)


def make_strategy(name: str = "default",
                  tpu: str | None = None) -> tf.distribute.Strategy:
  """The tf.distribute strategy for a flag value.

  Raises:
    TrainingError: an unknown name.
  """
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


def lost_worker(error: tf.errors.OpError, strategy: tf.distribute.Strategy
                ) -> str | None:
  """What a multi-worker run lost, e.g. "worker 1 (host:port)", if `error`
  says that another worker died or cannot be reached (TensorFlow names its
  task, "/job:worker/replica:0/task:1"); None for any other error.

  A dead worker's peers learn it at once if its host closes the
  connections, else from the coordination service, which declares a task
  lost after about 10 s without a heartbeat; either way every collective
  then fails with UnavailableError (DeadlineExceededError on a timeout).
  """
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not isinstance(
      error, (tf.errors.UnavailableError, tf.errors.DeadlineExceededError)):
    return None
  tasks = re.findall(r"/job:(\w+)/replica:\d+/task:(\d+)", error.message)
  own = (resolver.task_type, str(resolver.task_id))
  for job, task in tasks:
    if (job, task) != own:
      address = resolver.cluster_spec().task_address(job, int(task))
      return f"{job} {task} ({address})"
  return "a worker"


# ---------------------------------------------------------------------------
# Setup and restore.


def checked_config(config: dict, data_dir: str) -> tuple[dict, dict]:
  """(the config checked for training with the corpus's data settings
  filled in, the corpus manifest).

  Raises:
    config.ConfigError: a key, a rule or a data setting is refused.
  """
  config = config_lib.validated(config)
  manifest = data_lib.manifest(data_dir)
  config = config_lib.with_data_settings(
      config, manifest["settings"], os.path.join(data_dir, "manifest.json"))
  config_lib.check_training(config)
  return config, manifest


@dataclasses.dataclass
class Setup:
  """What a run trains: the strategy, the model and optimizer built in its
  scope, and the compiled step (`train_step.make_train_step`)."""
  strategy: tf.distribute.Strategy
  model: tf.keras.Model
  optimizer: tf.keras.optimizers.Optimizer
  step_fn: train_step.TrainStep


def set_up(config: dict, build_model: BuildModel, strategy: str = "default",
           tpu: str | None = None) -> Setup:
  """Seeds the weights, makes the strategy, builds model, optimizer, step.

  Raises:
    TrainingError: the batch does not split evenly over the replicas.
  """
  tf.keras.utils.set_random_seed(int(config["seed"]))
  strat = make_strategy(strategy, tpu)
  replicas = strat.num_replicas_in_sync
  batch = int(config["batch_size"])
  if batch % replicas:
    raise TrainingError(f"batch_size {batch} is not divisible by the "
                        f"{replicas} replicas of the {strategy} strategy")
  with strat.scope():
    model = model_api.build(build_model(config))
    optimizer = train_step.make_optimizer(config, model)
  return Setup(strat, model, optimizer,
               train_step.make_train_step(model, optimizer, config, strat))


def restore(checkpoints: train_checkpoints.RunCheckpoints,
            model: tf.keras.Model, config: dict, build_model: BuildModel,
            source: fine_tune.Source | None, log: Log) -> int:
  """Resumes from the run's newest checkpoint, else fine-tunes from
  `source` (`fine_tune.fine_tune_source(config, init_from)`) if given.

  Returns:
    The step the run goes on from (0 for a new or fine-tuned run).
  """
  restored = checkpoints.restore(log)
  if restored:
    log(f"resumed from {restored} (step {int(checkpoints.step)})")
    return int(checkpoints.step)
  if source is not None:
    started = fine_tune.start_from(model, source, config, build_model)
    if checkpoints.chief:
      files.write_json(
          os.path.join(checkpoints.model_dir, fine_tune.INIT_NAME), started)
    log(f"fine-tuning from {started['checkpoint']} (its step "
        f"{started['step']}); this run starts at step 0")
  return 0


def train_crops(strategy: tf.distribute.Strategy, config: dict,
                data_dir: str, crop_samples: int,
                first_crop: int) -> Iterator[Any]:
  """The distributed training crops `[batch, crop_samples]` from crop
  `first_crop` on: those an uninterrupted pipeline yields from there (see
  `common.data`), per input pipeline."""
  batch = int(config["batch_size"])

  def dataset_fn(input_context: tf.distribute.InputContext
                 ) -> tf.data.Dataset:
    local_replicas = (input_context.num_replicas_in_sync //
                      input_context.num_input_pipelines)
    return data_lib.dataset(
        data_dir, "train", input_context.get_per_replica_batch_size(batch),
        crop_samples, mode="train", seed=int(config["seed"]),
        shuffle_buffer=int(config["shuffle_buffer"]),
        input_context=input_context,
        start_batch=first_crop * local_replicas)

  return iter(strategy.distribute_datasets_from_function(dataset_fn))


# ---------------------------------------------------------------------------
# The loop.


class FiniteGuard:
  """The steps' finite flags (`train_step.make_train_step`), kept as
  tensors and read on the host only by `check` (when the run logs or is
  about to write something): no device sync per step. A non-finite step
  applied no update, and the run never writes after one (it checks first),
  so the last checkpoint stays the last good one."""

  def __init__(self) -> None:
    self._pending: list[tuple[int, Any, Any]] = []

  def add(self, step: int, loss: Any, finite: Any) -> None:
    """Keeps the (loss, finite flag) tensors of step number `step`."""
    self._pending.append((step, loss, finite))

  def check(self, last_checkpoint: str | None) -> None:
    """Raises TrainingError naming the first non-finite step kept since the
    last check, if any."""
    pending, self._pending = self._pending, []
    for step, loss, finite in pending:
      if float(finite) < 1.0:
        raise TrainingError(
            f"step {step}: loss or gradient is NaN/Inf (loss "
            f"{float(loss):.4g}); stopped without saving. The last good "
            f"checkpoint is {last_checkpoint}. Try a lower --learning_rate "
            f"or grad_clip_norm.")


def crossed(every: int, step: int, done_steps: int) -> bool:
  """True if a multiple of `every` (0: never) lies in (step - done_steps,
  step]: it was reached during the last `done_steps` steps."""
  return bool(every) and step // every > (step - done_steps) // every


class _Loop:
  """One run of the loop over crops (state between the pieces)."""

  # Called after each validation with (step, validation NLL in bits per
  # sample): `train(..., on_validation=...)`.
  on_validation: Callable[[int, float], None] | None = None

  def __init__(self, config: dict, data_dir: str, model_dir: str,
               setup: Setup, checkpoints: train_checkpoints.RunCheckpoints,
               step: int, progress: bool):
    self.config, self.data_dir, self.model_dir = config, data_dir, model_dir
    self.setup, self.checkpoints = setup, checkpoints
    self.step = step
    self.num_steps = int(config["num_steps"])
    self.guard = FiniteGuard()
    self.best = checkpoints.best.read()
    self.stop_reason = "reached num_steps"
    self.last_loss: Any = None  # the last step's loss tensor (nats)
    self.summary_crop: Any = None
    self.config_saved = False
    self.writers = train_summaries.Writers(checkpoints.output_dir)
    self.timer, self.timed_steps = time.time(), 0
    self.bar = tqdm(total=self.num_steps, initial=step, unit="step",
                    dynamic_ncols=True, disable=not progress,
                    file=sys.stderr,
                    desc=os.path.basename(os.path.normpath(model_dir)))

  def every(self, key: str, done_steps: int) -> bool:
    return crossed(int(self.config[key] or 0), self.step, done_steps)

  @property
  def train_bits(self) -> float:
    """The last step's loss in bits per sample (nan before any)."""
    return (float("nan") if self.last_loss is None
            else float(self.last_loss) / validation.LN2)

  def run(self, stop: _StopRequest) -> None:
    """Trains crop by crop until `num_steps`, early stopping or a signal."""
    model = self.setup.model
    # The data from the crop this step starts (a run stopped by num_steps
    # inside a crop goes on with the next one).
    crops = train_crops(
        self.setup.strategy, self.config, self.data_dir,
        model_api.crop_length(self.config, model.context_length),
        -(-self.step // int(self.config["num_windows"])))
    while self.step < self.num_steps:
      dist_crop = next(crops)
      if self.summary_crop is None:
        self.summary_crop = self.setup.strategy.experimental_local_results(
            dist_crop)[0]
      done = self.train_crop(dist_crop)
      if self.every("validate_every", done) or self.step >= self.num_steps:
        self.validate()
      if (self.checkpoints.chief and not stop.signal_name and
          self.every("audio_summary_every", done)):
        self.audio_summary()
      # (Read once: a signal arriving from here on waits for the next
      # crop's end.)
      stopping = stop.signal_name
      early = self.stop_reason == "early stopping"
      if (self.every("checkpoint_every", done) or
          self.step >= self.num_steps or early or stopping):
        self.save()
      if stopping:
        self.stop_reason = "interrupted"
        raise Interrupted(
            f"{stopping} at step {self.step}: saved "
            f"{self.checkpoints.latest}; run the same command to resume")
      if early:
        self.bar.write(
            f"early stopping: no improvement in "
            f"{self.config['early_stopping_patience']} validations (best "
            f"{self.best['nll_bits']:.3f} bits/sample at step "
            f"{self.best['step']})")
        break
    self.guard.check(self.checkpoints.latest)

  def train_crop(self, dist_crop: Any) -> int:
    """The steps of one crop's windows (up to `num_steps`); returns how
    many ran. The first window starts from the model's (learned) initial
    state, built inside the gradient tape so that it trains: `()`."""
    context = self.setup.model.context_length
    seq_len = int(self.config["seq_len"])
    windows = self.setup.strategy.run(
        lambda c: tuple(model_api.windows(c, seq_len, context)), (dist_crop,))
    state, done = (), 0
    for window in windows:
      if self.step >= self.num_steps:
        break
      loss, norm, finite, state = self.setup.step_fn(
          window, state, train_step.step_key(self.config["seed"], self.step))
      self.guard.add(self.step, loss, finite)
      self.step += 1
      done += 1
      self.timed_steps += 1
      self.last_loss = loss
      self.bar.update(1)
      if not self.config_saved:
        self.save_config()
      if self.every("summary_every", 1):
        self.log_scalars(loss, norm)
    return done

  def save_config(self) -> None:
    """Writes config.json once the first step has run well: only now is
    the run really started, so a start that failed earlier leaves nothing
    that blocks a corrected retry."""
    self.guard.check(self.checkpoints.latest)
    if self.checkpoints.chief:
      config_lib.save(self.config, self.model_dir)
    self.config_saved = True

  def log_scalars(self, loss: Any, norm: Any) -> None:
    """The training scalars and the bar's loss (a logging step)."""
    self.guard.check(self.checkpoints.latest)
    elapsed = max(time.time() - self.timer, 1e-9)
    samples_per_step = int(self.config["batch_size"]) * int(
        self.config["seq_len"])
    train_summaries.write_train_scalars(
        self.writers.train, self.step, float(loss), float(norm),
        float(train_step.learning_rate(self.config, self.step)),
        self.timed_steps / elapsed,
        self.timed_steps * samples_per_step / elapsed)
    self.bar.set_postfix(bits=f"{float(loss) / validation.LN2:.3f}",
                         refresh=False)
    self.timer, self.timed_steps = time.time(), 0

  def validate(self) -> None:
    """Validates; keeps the best model; decides early stopping."""
    self.guard.check(self.checkpoints.latest)
    val = validation.evaluate_nll(self.setup.model, self.config,
                                  self.data_dir, "val",
                                  max_batches=int(self.config["val_batches"]))
    train_summaries.write_val_scalars(self.writers.val, self.step, val)
    self.best, improved = validation.record_validation(self.best, val,
                                                       self.step)
    self.bar.write(f"step {self.step}: train {self.train_bits:.3f} "
                   f"bits/sample, val {val['nll_bits']:.3f} bits/sample"
                   + (" (best)" if improved else ""))
    self.checkpoints.record_best(self.best, improved)
    if validation.patience_exhausted(
        self.best, int(self.config["early_stopping_patience"] or 0)):
      self.stop_reason = "early stopping"
    if self.on_validation is not None:
      self.on_validation(self.step, val["nll_bits"])

  def audio_summary(self) -> None:
    """Audio from the family's generator (`train_summaries.summary_audio`)."""
    self.guard.check(self.checkpoints.latest)
    family = family_lib.of_config(self.config)
    gen = family.generator(self.setup.model, self.config)
    audio = train_summaries.summary_audio(
        gen, self.config, self.summary_crop.numpy(), self.step)
    train_summaries.write_audio(self.writers.train, audio, self.config,
                                self.step)

  def save(self) -> None:
    self.guard.check(self.checkpoints.latest)
    self.checkpoints.save(self.step)

  def close(self) -> None:
    self.bar.close()
    self.writers.flush()


def train_throughput(config: dict, build_model: BuildModel, steps: int = 10,
                     warmup: int = 2) -> dict:
  """Training samples/s of a config on random codes (no data, no I/O).

  Runs `steps` optimizer steps over TBPTT windows exactly as `train` does
  (state carried across `num_windows` windows) after `warmup` untimed steps;
  returns dict(samples_per_second, seconds_per_step, batch_size, seq_len).
  """
  model = model_api.build(build_model(config))
  optimizer = tf.keras.optimizers.Adam(float(config["learning_rate"]))
  optimizer.build(model.trainable_variables)
  step_fn = train_step.make_train_step(model, optimizer, config,
                                       tf.distribute.get_strategy())
  batch, seq_len = int(config["batch_size"]), int(config["seq_len"])
  length = model_api.crop_length(config, model.context_length)
  codes = tf.random.uniform([batch, length], 0, int(config["q_levels"]),
                            tf.int32, seed=0)
  windows = model_api.windows(codes, seq_len, model.context_length)

  def run(count: int) -> None:
    state: Any = ()
    done, loss = 0, None
    while done < count:
      for window in windows:
        if done == count:
          break
        loss, _, _, state = step_fn(
            window, state, train_step.step_key(config["seed"], done))
        done += 1
      state = ()
    float(loss)  # type: ignore[arg-type]  # (waits for the device)

  run(warmup)
  start = time.perf_counter()
  run(steps)
  seconds = (time.perf_counter() - start) / steps
  return dict(samples_per_second=round(batch * seq_len / seconds, 1),
              seconds_per_step=round(seconds, 4), batch_size=batch,
              seq_len=seq_len)


def train(config: dict, data_dir: str, model_dir: str,
          build_model: BuildModel | None = None, *, strategy: str = "default",
          tpu: str | None = None, progress: bool = True, log: Log = print,
          init_from: str | None = None,
          on_validation: Callable[[int, float], None] | None = None) -> dict:
  """Trains (or resumes) a model; returns a dict of final figures.

  Args:
    config: the config dict (see `common.config`); data settings are taken
      from the corpus manifest and must agree with the config.
    data_dir: a prepared corpus (`common.corpus`).
    model_dir: where config, checkpoints and TensorBoard logs go.
    build_model: `build_model(config) -> keras.Model` (`common.model_api`);
      None: the config's family's (`common.family`). The audio summaries
      come from the family's generator.
    strategy: see `make_strategy`.
    progress: show a tqdm bar.
    log: a function that prints a line.
    init_from: fine-tune: a new run starts from this model's weights (see
      `fine_tune.fine_tune_source`; recorded in `model_dir/init.json`) at
      step 0 with a fresh optimizer. Ignored when `model_dir` holds a
      checkpoint: the run resumes.
    on_validation: called after each validation with (step, validation
      NLL in bits per sample); an exception it raises stops the run there,
      without saving (e.g. a hyperparameter search pruning the run).

  Returns:
    dict(step, stop_reason: "reached num_steps", "early stopping";
    train_bits: the last step's loss in bits per sample; best: best.json's
    record ({} if none); checkpoint: the last checkpoint; config: the
    config trained).

  Raises:
    TrainingError, config.ConfigError: with a one-line reason.
    Interrupted: SIGINT/SIGTERM, after saving a checkpoint.
  """
  config, manifest = checked_config(config, data_dir)
  build_model = build_model or family_lib.of_config(config).build_model
  resuming = train_checkpoints.has_checkpoint(model_dir)
  if resuming:
    train_checkpoints.check_resume_config(model_dir, config)
  source = (fine_tune.fine_tune_source(config, init_from)
            if init_from and not resuming else None)
  os.makedirs(model_dir, exist_ok=True)
  setup = set_up(config, build_model, strategy, tpu)
  corpus = dict(fingerprint=data_lib.corpus_fingerprint(manifest),
                data_dir=os.path.abspath(data_dir))
  checkpoints = train_checkpoints.RunCheckpoints(
      model_dir, setup.model, setup.optimizer, corpus,
      int(config["keep_checkpoints"]), setup.strategy)
  step = restore(checkpoints, setup.model, config, build_model, source, log)
  train_checkpoints.check_same_start(setup.strategy, step, corpus, model_dir)
  loop = _Loop(config, data_dir, model_dir, setup, checkpoints, step,
               progress)
  loop.on_validation = on_validation
  try:
    try:
      with _StopRequest() as stop:
        loop.run(stop)
    finally:
      loop.close()
  except (OSError, tf.errors.OpError) as e:
    lost = isinstance(e, tf.errors.OpError) and lost_worker(e, setup.strategy)
    if lost:
      raise TrainingError(
          f"lost {lost} at step {loop.step}, so every worker stops; the last "
          f"checkpoint is {checkpoints.latest}: start every worker again with "
          f"the same command to resume") from None
    if not _disk_full(e):
      raise
    raise TrainingError(
        f"{model_dir}: no space left on device at step {loop.step}; the "
        f"last checkpoint, {checkpoints.latest}, is intact: free space and "
        f"run the same command to resume") from None
  return dict(step=loop.step, stop_reason=loop.stop_reason,
              train_bits=loop.train_bits, best=loop.best,
              checkpoint=checkpoints.latest, config=config)


def _disk_full(error: BaseException) -> bool:
  """True if an OS or TF error says the disk (or the quota) is full."""
  codes = (errno.ENOSPC, errno.EDQUOT)
  if isinstance(error, OSError):
    return error.errno in codes
  return any(os.strerror(code) in str(error) for code in codes)
