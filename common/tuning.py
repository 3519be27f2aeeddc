"""Hyperparameter search with Optuna: every trial a real training run.

`tune(search)` runs a study (`Search`: a family, a corpus, a base config and
a search space, `common.tune_space`) until it holds `trials` finished
(complete or pruned) trials:

- each trial draws a value for every key of the space (Optuna's TPE sampler,
  random for the first `startup_trials`), and trains the base config with
  those values by `common.trainer.train` in its own model directory,
  `STUDY_DIR/trials/00007`; its value is its best validation NLL (bits per
  sample, lower is better);
- the trial reports the validation NLL at every validation (`trial.report`,
  step = training step), and the pruner (median, or Hyperband) may stop it
  there: the training run ends at that validation;
- the study lives in a storage: SQLite in `STUDY_DIR/study.db` by default,
  or any SQLAlchemy URL (`postgresql+psycopg://user@host/db`), which
  processes on several machines share: each runs trials until the study
  holds `trials` finished ones, then writes the results; a new study's
  first trial trains the base config's own values (`base_trial`);
- it survives `kill -9`: a running trial records a heartbeat every
  `heartbeat_seconds`; one without a heartbeat for twice that is failed and
  queued again with the same values (Optuna's `fail_stale_trials` and
  `RetryHeartbeatStaleTrialCallback`), and the retry trains in the same
  model directory, so it resumes from its last checkpoint (on another
  machine, from scratch unless the study directory is shared). Re-running
  the same command goes on; Ctrl-C or SIGTERM stops the running trials at a
  checkpoint and queues them again;
- `workers` > 1 runs that many trials at once, each in its own process
  (TensorFlow: processes, not threads), with the machine's cores split
  between them;
- results (`common.tune_report`): `STUDY_DIR/trials.csv`,
  `STUDY_DIR/summary.html`, and the best trial's config with `export_best`.

A study remembers its family, base config and space; a command that gives
other ones is refused (use another study name). Changing `trials` is
allowed (e.g. to extend a search).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import json
import multiprocessing
import os
import signal
import socket
import sys
import time
import warnings
from typing import Any, Callable, Iterator, NoReturn, Sequence

from absl import logging as absl_logging
import optuna
import sqlalchemy.engine
import sqlalchemy.exc
from tqdm import tqdm

from common import cli
from common import config as config_lib
from common import corpus
from common import signals
from common import tune_report
from common import tune_space
from common.train_errors import Interrupted
from common.train_errors import TrainingError

DONE = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
RUNNING = optuna.trial.TrialState.RUNNING
WAITING = optuna.trial.TrialState.WAITING
TRIALS_DIR = "trials"
# Study user attribute holding what the study searches (`Search.identity`).
IDENTITY_ATTR = "neuralsynth_search"
POLL_SECONDS = 2.0


class TuneError(RuntimeError):
  """A search that cannot go on (the message says why)."""


class TrialFailed(Exception):
  """A trial's config or training failed; recorded, the study goes on."""


class _Surplus(Exception):
  """Enough trials were done or running when this one started."""


@dataclasses.dataclass(frozen=True)
class Search:
  """What a study searches and how.

  Attributes:
    family: the model family.
    data_dir: the prepared corpus every trial trains on.
    study_dir: where trial model directories and results go.
    space: the keys searched (`common.tune_space`).
    base_config: the checked config every trial starts from.
    trials: finished (complete or pruned) trials to reach.
    storage: an SQLAlchemy URL; None: SQLite in `study_dir`.
    study_name: None: the study directory's name.
    pruner: "median" or "hyperband".
    startup_trials: random trials before TPE; the median pruner prunes
      nothing until this many are complete.
    heartbeat_seconds: a running trial's heartbeat period; one silent for
      twice that is failed and queued again.
    base_trial: a new study's first trial trains the base config's own
      values (if the space holds them), so the search is compared with the
      base config at equal steps.
  """
  family: str
  data_dir: str
  study_dir: str
  space: tune_space.Space
  base_config: dict
  trials: int
  storage: str | None = None
  study_name: str | None = None
  pruner: str = "median"
  startup_trials: int = 4
  heartbeat_seconds: int = 30
  base_trial: bool = True

  @property
  def url(self) -> str:
    return self.storage or "sqlite:///" + os.path.join(
        os.path.abspath(self.study_dir), "study.db")

  @property
  def name(self) -> str:
    return self.study_name or os.path.basename(
        os.path.normpath(os.path.abspath(self.study_dir)))

  @property
  def identity(self) -> dict:
    """What must be the same for every command that runs this study."""
    return json.loads(json.dumps(dict(
        family=self.family, base_config=self.base_config,
        space=tune_space.to_json(self.space))))


# ---------------------------------------------------------------------------
# The study.


def _quiet_logs() -> None:
  """Optuna's own log lines off (the bar and our lines say what happens),
  its experimental-feature warnings too (heartbeats, the retry callback),
  and absl's INFO lines (one per checkpoint), as in the train commands."""
  optuna.logging.set_verbosity(optuna.logging.ERROR)
  warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
  absl_logging.set_verbosity(absl_logging.WARNING)


def _retry() -> Callable[[optuna.Study, optuna.trial.FrozenTrial], None]:
  """Queues a failed trial again with its values, reports and user
  attributes (so the retry trains in the same model directory)."""
  return optuna.storages.RetryHeartbeatStaleTrialCallback(
      inherit_intermediate_values=True)


class _SQLiteStorage(optuna.storages.RDBStorage):
  """An SQLite study whose trial state changes are atomic across processes.

  A state change reads the trial's state, checks it, then writes: on
  PostgreSQL the read locks the row (`SELECT ... FOR UPDATE`), but SQLite
  ignores that and reads outside any transaction, so two workers could both
  fail one stale trial (and queue it again twice) or both take one queued
  trial. A lock file beside the database (`study.db.lock`) serialises the
  change; SQLite studies live on one machine, where `flock` holds.
  """

  def __init__(self, url: str, lock_path: str, **kwargs: Any):
    super().__init__(url, **kwargs)
    self._lock_path = lock_path

  def set_trial_state_values(self, trial_id: int,
                             state: optuna.trial.TrialState,
                             values: Sequence[float] | None = None) -> bool:
    # Opened per call: a lock shared by forked processes would not exclude.
    with open(self._lock_path, "a") as lock:
      fcntl.flock(lock, fcntl.LOCK_EX)
      return super().set_trial_state_values(trial_id, state, values)


def _storage(search: Search) -> optuna.storages.RDBStorage:
  engine: dict[str, Any] = {}
  storage: Callable[..., optuna.storages.RDBStorage] = (
      optuna.storages.RDBStorage)
  database = sqlalchemy.engine.make_url(search.url).database
  if search.url.startswith("sqlite") and database not in (None, "",
                                                          ":memory:"):
    # Several processes write one file: wait for its lock.
    engine["connect_args"] = {"timeout": 60}
    storage = functools.partial(_SQLiteStorage, lock_path=f"{database}.lock")
  try:
    return storage(
        search.url, engine_kwargs=engine,
        heartbeat_interval=search.heartbeat_seconds,
        grace_period=2 * search.heartbeat_seconds,
        heartbeat_stale_trial_callback=_retry())
  except ImportError:
    raise TuneError(f"{tune_report.safe_url(search.url)}: no database "
                    f"driver for it is installed (PostgreSQL: pip install "
                    f"'psycopg[binary]', postgresql+psycopg://...)") from None


def _pruner(search: Search) -> optuna.pruners.BasePruner:
  if search.pruner == "median":
    return optuna.pruners.MedianPruner(n_startup_trials=search.startup_trials)
  if search.pruner == "hyperband":
    steps = int(search.base_config["num_steps"])
    every = int(search.base_config["validate_every"]) or steps
    return optuna.pruners.HyperbandPruner(min_resource=min(every, steps),
                                          max_resource=steps)
  raise TuneError(f"unknown pruner {search.pruner!r}; expected median or "
                  f"hyperband")


def open_study(search: Search) -> optuna.Study:
  """The study (created if new), checked to search what `search` does.

  Raises:
    TuneError: the study searches another family, config or space.
  """
  _quiet_logs()
  os.makedirs(search.study_dir, exist_ok=True)
  sampler = optuna.samplers.TPESampler(n_startup_trials=search.startup_trials,
                                       constant_liar=True)
  for attempt in range(3):
    try:
      study = optuna.create_study(
          storage=_storage(search), study_name=search.name, sampler=sampler,
          pruner=_pruner(search), direction="minimize", load_if_exists=True)
      break
    except sqlalchemy.exc.SQLAlchemyError as e:
      # Two processes creating the tables of a new database at once: the
      # loser sees the winner's tables on its next attempt.
      if attempt == 2:
        reason = str(e).strip().splitlines()[0]
        raise TuneError(f"{tune_report.safe_url(search.url)}: cannot open "
                        f"the study ({reason})") from None
      time.sleep(1.0)
  if _check_identity(study, search) and search.base_trial:
    base = tune_space.fixed_params(search.space, search.base_config)
    if base is not None:
      study.enqueue_trial(base, user_attrs=dict(base=True),
                          skip_if_exists=True)
  return study


def _check_identity(study: optuna.Study, search: Search) -> bool:
  """Records what a new study searches (returns True), or checks that an
  existing one searches the same (returns False)."""
  saved = study.user_attrs.get(IDENTITY_ATTR)
  wanted = search.identity
  if saved is None:
    study.set_user_attr(IDENTITY_ATTR, wanted)
    return True
  where = f"study {search.name!r} in {tune_report.safe_url(search.url)}"
  if saved["family"] != wanted["family"]:
    raise TuneError(f"{where} searches {saved['family']}, not "
                    f"{wanted['family']}")
  if saved["space"] != wanted["space"]:
    differ = sorted(k for k in set(saved["space"]) | set(wanted["space"])
                    if saved["space"].get(k) != wanted["space"].get(k))
    raise TuneError(f"{where} was started with another space (differs in "
                    f"{', '.join(differ)}); give the same --space or another "
                    f"--study_name")
  if saved["base_config"] != wanted["base_config"]:
    keys = config_lib.diff(saved["base_config"], wanted["base_config"], ())
    raise TuneError(f"{where} was started with another config ({keys}); "
                    f"give the same --config and --set or another "
                    f"--study_name")
  return False


# How long a trial failed by a kill or a signal holds its place while its
# retry is queued (the retry is added right after the failure, by the same
# process, milliseconds later). A process killed in between leaves the trial
# without a retry: after this long another trial takes its place.
REQUEUE_SECONDS = 60.0
# When this process first saw each such trial ((storage trial id, start
# time: one study's row, even if the process opened others) -> its monotonic
# clock): counted on this process's own clock, never against the time
# another host recorded (its clock and time zone may differ).
_FIRST_SEEN: dict[tuple[int, Any], float] = {}


def awaiting_retry(trial: optuna.trial.FrozenTrial,
                   retried: set[int], now: float) -> bool:
  """True if `trial` failed with no recorded reason (not its config or
  training, not surplus: a kill or a signal, as a stale heartbeat or SIGINT
  fail it) and its retry is not queued yet, for `REQUEUE_SECONDS` after
  this process first saw it so.

  Without this, another process counting the trials in that moment sees one
  trial fewer, starts a new one, and the retry is then found surplus: the
  killed trial is never resumed. (A trial failed otherwise without a reason,
  by a crash its worker did not survive, holds its place that long too.)

  Args:
    trial: any trial of the study.
    retried: the numbers of the trials already queued again (every
      retry's `retry_history`).
    now: this process's `time.monotonic()`.
  """
  if (trial.state != optuna.trial.TrialState.FAIL or trial.number in retried
      or "error" in trial.user_attrs or "surplus" in trial.user_attrs):
    return False
  key = (trial._trial_id,  # pylint: disable=protected-access
         trial.datetime_start)
  first_seen = _FIRST_SEEN.setdefault(key, now)
  return now - first_seen < REQUEUE_SECONDS


def retried_numbers(trials: list[optuna.trial.FrozenTrial]) -> set[int]:
  """The numbers of the trials queued again (by kill, signal or staleness)."""
  return {n for t in trials for n in t.system_attrs.get("retry_history", [])}


@dataclasses.dataclass(frozen=True)
class Tally:
  """How many trials of a study are in each state that matters."""
  done: int      # complete or pruned
  running: int   # (a killed one too, until its heartbeat is stale)
  waiting: int   # queued again after a kill or a signal
  requeuing: int  # failed by a kill or a signal, about to be queued again
  failed: int    # failed by their config or training (not by a kill)

  @classmethod
  def of(cls, trials: list[optuna.trial.FrozenTrial]) -> Tally:
    retried, now = retried_numbers(trials), time.monotonic()
    return cls(done=sum(t.state in DONE for t in trials),
               running=sum(t.state == RUNNING for t in trials),
               waiting=sum(t.state == WAITING for t in trials),
               requeuing=sum(awaiting_retry(t, retried, now) for t in trials),
               failed=sum("error" in t.user_attrs for t in trials))


# ---------------------------------------------------------------------------
# One trial.


def worker_name() -> str:
  """This process, as trials record it: "host:pid"."""
  return f"{socket.gethostname()}:{os.getpid()}"


def _surplus(study: optuna.Study, number: int, wanted: int) -> bool:
  """True if `wanted` trials were done, or running or queued ahead of trial
  `number` (another process started one at the same moment).

  A retry (of a trial failed by a kill or a signal, or about to be queued
  again) is ahead of every new trial, and of the retries numbered after it:
  the killed trial held its place, so the new trial, not the retry, is the
  surplus one whatever order the two were numbered in.
  """
  trials = study.get_trials(deepcopy=False)
  retried, now = retried_numbers(trials), time.monotonic()

  def rank(trial: optuna.trial.FrozenTrial) -> tuple[bool, int]:
    retry = ("failed_trial" in trial.system_attrs
             or awaiting_retry(trial, retried, now))
    return (not retry, trial.number)  # (smaller is ahead)

  this = next(t for t in trials if t.number == number)
  return sum(t.state in DONE or
             ((t.state in (RUNNING, WAITING) or awaiting_retry(t, retried, now))
              and rank(t) < rank(this))
             for t in trials if t.number != number) >= wanted


def _fail(trial: optuna.Trial, reason: str) -> NoReturn:
  trial.set_user_attr("error", reason)
  raise TrialFailed(reason)


@contextlib.contextmanager
def _trial_log(model_dir: str) -> Iterator[Callable[[str], None]]:
  """The trial's log file, `MODEL_DIR/train.log` (appended to by a retry):
  the trainer's lines (and anything printed) go there."""
  os.makedirs(model_dir, exist_ok=True)
  with open(os.path.join(model_dir, "train.log"), "a", buffering=1) as f:
    with contextlib.redirect_stdout(f):
      yield lambda line: print(line, file=f)


def _start(trial: optuna.Trial, study: optuna.Study,
           search: Search) -> tuple[dict, str]:
  """Draws the trial's values; returns (its config, its model directory
  relative to the study directory) and records both on the trial.

  Raises:
    _Surplus: enough trials were already done, running or queued.
    TrialFailed: the values break a rule across keys (recorded).
  """
  params = tune_space.suggest(trial, search.space)
  if _surplus(study, trial.number, search.trials):
    trial.set_user_attr("surplus", True)
    raise _Surplus()
  try:
    config = config_lib.apply_overrides(search.base_config, params)
  except config_lib.ConfigError as e:
    _fail(trial, str(e))
  # A retry inherits the user attributes, so it trains in the same folder.
  relative = trial.user_attrs.get("model_dir") or os.path.join(
      TRIALS_DIR, f"{trial.number:05d}")
  for key, value in dict(model_dir=relative, config=config,
                         worker=worker_name()).items():
    trial.set_user_attr(key, value)
  return config, relative


def run_trial(trial: optuna.Trial, study: optuna.Study,
              search: Search) -> float:
  """Trains one trial; returns its best validation NLL (bits/sample).

  Raises:
    optuna.TrialPruned: the pruner stopped it at a validation.
    TrialFailed: its config or its training failed (recorded as "error").
    _Surplus: enough trials were already done, running or queued.
    Interrupted: SIGINT/SIGTERM, after the trainer saved a checkpoint.
  """
  # pylint: disable=g-import-not-at-top (TensorFlow: only where trials run)
  import tensorflow as tf
  from common import checkpoint
  from common import data
  from common import trainer
  config, relative = _start(trial, study, search)
  reported = {step for t in study.get_trials(deepcopy=False)
              if t.number == trial.number for step in t.intermediate_values}

  def on_validation(step: int, nll_bits: float) -> None:
    if step in reported:  # (a retry re-validates a step it inherited)
      return
    trial.report(nll_bits, step)
    if trial.should_prune():
      trial.set_user_attr("steps", step)
      raise optuna.TrialPruned(f"pruned at step {step}")

  model_dir = os.path.join(search.study_dir, relative)
  try:
    with _trial_log(model_dir) as log:
      result = trainer.train(config, search.data_dir, model_dir,
                             progress=False, log=log,
                             on_validation=on_validation)
  except Interrupted:
    raise
  except (TrainingError, config_lib.ConfigError, data.DataError,
          checkpoint.CheckpointError) as e:
    _fail(trial, str(e))
  finally:
    tf.keras.backend.clear_session()  # (the next trial's model is new)
  trial.set_user_attr("steps", result["step"])
  trial.set_user_attr("stop_reason", result["stop_reason"])
  return float(result["best"]["nll_bits"])


# ---------------------------------------------------------------------------
# The loop of one process.


def run_trials(search: Search,
               on_change: Callable[[optuna.Study], None] | None = None
               ) -> None:
  """Runs trials in this process until the study holds `search.trials`
  done ones (waiting for those running elsewhere, taking over any that
  stop). `on_change(study)` is called after each trial and while waiting.

  Raises:
    TuneError: as many trials failed as were asked for.
    Interrupted: SIGINT/SIGTERM; the running trial is queued again.
  """
  study = open_study(search)
  while True:
    # Running trials whose heartbeat stopped: failed and queued again (the
    # storage's callback).
    optuna.storages.fail_stale_trials(study)
    trials = study.get_trials(deepcopy=False)
    tally = Tally.of(trials)
    if on_change is not None:
      on_change(study)
    if tally.done >= search.trials:
      return
    if tally.failed >= search.trials:
      last = max((t for t in trials if "error" in t.user_attrs),
                 key=lambda t: t.number)
      raise TuneError(f"{tally.failed} trials failed; the last, trial "
                      f"{last.number}: {last.user_attrs['error']}")
    # A queued trial is run (`optimize` takes it first); else a new one if
    # fewer than `trials` are done or running (a killed one counts until
    # its heartbeat is stale, then it is queued again, by the process that
    # found it stale: `requeuing` until then).
    if not tally.waiting and (tally.done + tally.running + tally.requeuing
                              >= search.trials):
      time.sleep(min(POLL_SECONDS, search.heartbeat_seconds))
      continue
    started: list[int] = []

    def objective(trial: optuna.Trial) -> float:
      started.append(trial.number)
      return run_trial(trial, study, search)

    try:
      study.optimize(objective, n_trials=1, catch=(TrialFailed, _Surplus))
    except (Interrupted, KeyboardInterrupt):
      _queue_again(study, started)
      raise


def _queue_again(study: optuna.Study, numbers: list[int]) -> None:
  """Queues the interrupted trials (now failed) again, as a kill would."""
  retry = _retry()
  for trial in study.get_trials(deepcopy=False):
    if trial.number in numbers and trial.state == optuna.trial.TrialState.FAIL:
      retry(study, trial)


# ---------------------------------------------------------------------------
# Several processes.


def _die_with_parent(parent: int) -> None:
  """Linux: this process gets SIGKILL when its parent dies (a `kill -9` of
  the tune command ends its workers; their trials then go stale and are
  retried). Elsewhere a worker finishes its trial."""
  try:
    import ctypes  # pylint: disable=g-import-not-at-top
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig, sigkill = 1, 9
    libc.prctl(pr_set_pdeathsig, sigkill)
  except (OSError, AttributeError):
    return
  if os.getppid() != parent:  # the parent died before the call
    os._exit(1)  # pylint: disable=protected-access


def _worker_main(search: Search, parent: int, threads: int) -> None:
  """A worker process: runs trials; errors as one line and exit status 1."""
  _die_with_parent(parent)
  os.setpgid(0, 0)  # a terminal's Ctrl-C reaches the parent, which forwards
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.config.threading.set_intra_op_parallelism_threads(threads)
  try:
    run_trials(search)
  except (TuneError, TrainingError) as e:
    print(cli.error_line(e), file=sys.stderr)
    sys.exit(cli.ERROR_EXIT)


def _run_workers(search: Search, workers: int,
                 on_change: Callable[[optuna.Study], None]) -> None:
  """Runs `workers` processes of `run_trials`; returns when all ended.

  The first SIGINT/SIGTERM is passed on to the workers (each stops its
  trial at a checkpoint and queues it again); a second one ends this
  process at once (and, on Linux, the workers with it).

  Raises:
    Interrupted: after a signal, once the workers stopped.
    TuneError: a worker failed (its error line is above).
  """
  context = multiprocessing.get_context("spawn")
  threads = max(1, (os.cpu_count() or 1) // workers)
  procs = [context.Process(target=_worker_main,
                           args=(search, os.getpid(), threads))
           for _ in range(workers)]
  for p in procs:
    p.start()
  stopped: list[str] = []

  def forward(name: str) -> None:
    stopped.append(name)
    signals.restore_defaults()
    for p in procs:
      if p.is_alive() and p.pid is not None:
        os.kill(p.pid, signal.SIGTERM)

  study = open_study(search)
  with signals.on_stop_signals(forward):
    while alive := [p for p in procs if p.is_alive()]:
      on_change(study)  # (the workers may all end meanwhile)
      alive[0].join(POLL_SECONDS)
  if stopped:
    raise Interrupted(f"{stopped[0]}: the running trials saved a checkpoint "
                      f"and are queued again; run the same command to resume")
  codes = [p.exitcode for p in procs if p.exitcode]
  if codes:
    raise TuneError(f"{len(codes)} of {workers} workers failed (exit status "
                    f"{', '.join(map(str, codes))}; their errors are above)")


# ---------------------------------------------------------------------------
# The search.


class Progress:
  """The search's bar (trials done of `trials`, rate, ETA, best so far), a
  line per finished trial, and the results rewritten when a trial ends."""

  def __init__(self, search: Search, study: optuna.Study, show: bool):
    self.search = search
    done = Tally.of(study.get_trials(deepcopy=False)).done
    self.bar = tqdm(total=search.trials, initial=min(done, search.trials),
                    unit="trial", desc=search.name, disable=not show,
                    file=sys.stderr, dynamic_ncols=True)
    self.finished: set[int] | None = None

  def update(self, study: optuna.Study) -> None:
    trials = study.get_trials(deepcopy=False)
    finished = {t.number for t in trials if t.state.is_finished()}
    if finished == self.finished:
      return
    if self.finished is not None and not self.bar.disable:
      for trial in trials:
        if trial.number in finished - self.finished:
          self.bar.write(tune_report.trial_line(trial))
    self.finished = finished
    tally = Tally.of(trials)
    self.bar.update(min(tally.done, self.search.trials) - self.bar.n)
    best = tune_report.best_trial(trials)
    if best is not None:
      self.bar.set_postfix_str(
          f"best {best.value:.4f} bits/sample (trial {best.number}), "
          f"{tally.running} running")
    tune_report.write_results(self.search, trials)

  def close(self) -> None:
    self.bar.close()


def tune(search: Search, workers: int = 1, export_best: str | None = None,
         overwrite: bool = False, progress: bool = True) -> dict:
  """Runs the search until the study holds `search.trials` done trials;
  writes the results and, if asked, the best trial's config.

  Returns:
    dict(trials: the study's trials (FrozenTrial), best: the best complete
    one or None, csv, html: the result files, exported: the config file or
    None).

  Raises:
    TuneError, TrainingError (Interrupted), corpus.PrepareError, OSError
    (FileExistsError: `export_best` exists with other content).
  """
  corpus.read_manifest(search.data_dir)  # (a missing corpus: now, once)
  study = open_study(search)
  if export_best and not overwrite:
    tune_report.check_export(export_best, study.get_trials(deepcopy=False))
  bar = Progress(search, study, progress)
  try:
    if workers == 1:
      run_trials(search, bar.update)
    else:
      _run_workers(search, workers, bar.update)
  finally:
    bar.update(study)
    bar.close()
  trials = study.get_trials(deepcopy=False)
  exported = None
  if export_best:
    exported = tune_report.export_best(trials, export_best, overwrite)
  csv_path, html_path = tune_report.result_paths(search.study_dir)
  return dict(trials=trials, best=tune_report.best_trial(trials),
              csv=csv_path, html=html_path, exported=exported)
