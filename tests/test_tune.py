"""Hyperparameter search (`common.tune`, `common.tuning`): the space file
checked against the schema, pruning, the results and the exported config,
`kill -9` and resume with several worker processes, and two commands
sharing one study through a real PostgreSQL server.

Every trial is a real (tiny) SampleRNN training run. The killed and the
PostgreSQL runs are subprocesses (a command must be killed, two commands
must share a study); the rest runs in this process.
"""

import csv
import dataclasses
import glob
import json
import multiprocessing
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings

import optuna
import pytest

from common import config as config_lib
from common import tune_space
from common import tuning
from conftest import ROOT

DONE = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
# A tiny run: validations (reports) at steps 2 and 4; no audio summaries.
TRIAL = dict(num_steps=4, num_windows=1, validate_every=2, checkpoint_every=2,
             val_batches=1, audio_summary_every=0, summary_every=0,
             learning_rate=0.01)
LR_SPACE = {"learning_rate": {"type": "float", "low": 1e-7, "high": 0.01,
                              "log": True}}


def write_space(path, space=None):
  with open(path, "w") as f:
    json.dump(LR_SPACE if space is None else space, f)
  return str(path)


# ---------------------------------------------------------------------------
# The space file.


def space_error(tmp_path, space):
  path = tmp_path / "space.json"
  path.write_text(space if isinstance(space, str) else json.dumps(space))
  with pytest.raises(tune_space.SpaceError) as e:
    tune_space.read(str(path), "samplernn")
  message = str(e.value)
  assert "\n" not in message and message.startswith(f"{path}: "), message
  return message[len(f"{path}: "):]


def test_space_errors_name_the_file_and_the_key(tmp_path):
  float_lr = dict(type="float", low=1e-4, high=1e-2)
  cases = {
      "unknown key 'dimm' (did you mean 'dim'?)":
          {"dimm": dict(type="int", low=64, high=128)},
      "q_levels: not searched (set by the command or the corpus)":
          {"q_levels": dict(type="categorical", choices=[256, 512])},
      "dim: must be >= 1, got 0": {"dim": dict(type="int", low=0, high=8)},
      "dim: must be an integer, got 1.5":
          {"dim": dict(type="int", low=1.5, high=8)},
      "rnn_type: must be one of gru, lstm, got 'rnn'":
          {"rnn_type": dict(type="categorical", choices=["gru", "rnn"])},
      "rnn_type: a key of type string takes a categorical distribution, "
      "got 'int'": {"rnn_type": dict(type="int", low=1, high=2)},
      "learning_rate: unknown field 'logg' (did you mean 'log'?)":
          {"learning_rate": dict(float_lr, logg=True)},
      "learning_rate: a log range needs low > 0, got 0.0":
          {"learning_rate": dict(float_lr, low=0, log=True)},
      "dim: low must be below high, got 64 and 64":
          {"dim": dict(type="int", low=64, high=64)},
      "dim: high - low must be a multiple of step 64, got 64..100":
          {"dim": dict(type="int", low=64, high=100, step=64)},
      "frame_sizes: choices repeat a value: [[16, 64], [16, 64]]":
          {"frame_sizes": dict(type="categorical",
                               choices=[[16, 64], [16, 64]])},
  }
  for expected, space in cases.items():
    assert space_error(tmp_path, space) == expected, space
  assert space_error(tmp_path, {}).startswith("must hold a JSON object")
  assert space_error(tmp_path, "{").startswith("not valid JSON")
  assert space_error(tmp_path, {"dim": 64}).startswith(
      "dim: expected a distribution")


def test_example_space_reads_and_list_choices_come_back_as_lists():
  space = tune_space.read(
      os.path.join(ROOT, "samplernn", "spaces", "small.json"), "samplernn")
  assert {"learning_rate", "dim", "rnn_type"} <= set(space)
  lists = tune_space.parse(
      {"frame_sizes": dict(type="categorical", choices=[[16, 64], [8, 32]])},
      "samplernn", "inline")
  trial = optuna.create_study().ask()
  assert tune_space.suggest(trial, lists)["frame_sizes"] in ([16, 64],
                                                             [8, 32])


def test_command_reports_a_bad_space_in_one_line(tmp_path):
  space = write_space(tmp_path / "bad.json",
                      {"dimm": dict(type="int", low=64, high=128)})
  out = subprocess.run(
      [sys.executable, "-m", "common.tune", "--family=samplernn",
       f"--data_dir={tmp_path}", f"--study_dir={tmp_path / 'study'}",
       f"--space={space}", "--trials=2"],
      cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert out.returncode == 1, out.stderr
  assert out.stderr.strip() == (f"error: {space}: unknown key 'dimm' (did "
                                f"you mean 'dim'?)")


# ---------------------------------------------------------------------------
# In this process: pruning, results, export.


def make_search(data_dir, study_dir, trials, **kwargs):
  return tuning.Search(
      family="samplernn", data_dir=data_dir, study_dir=str(study_dir),
      space=tune_space.parse(LR_SPACE, "samplernn", "space"),
      base_config=config_lib.load("samplernn", "tiny", TRIAL),
      trials=trials, **kwargs)


def test_base_trial_pruning_results_and_export_best(tiny_corpus, tmp_path):
  search = make_search(tiny_corpus, tmp_path / "study", trials=2,
                       startup_trials=1)
  study = tuning.open_study(search)  # queues the base config's values
  study.enqueue_trial({"learning_rate": 1e-7})  # learns nothing
  best_path = str(tmp_path / "best.json")
  result = tuning.tune(search, export_best=best_path, progress=False)

  good, lagging = result["trials"]
  # The first trial is the base config's (its learning rate 0.01).
  assert good.user_attrs["base"] and good.params == {"learning_rate": 0.01}
  assert good.state == optuna.trial.TrialState.COMPLETE
  assert sorted(good.intermediate_values) == [2, 4]
  # Worse than the complete trial at step 2: pruned there, and its run
  # stopped there (no checkpoint saved at or after that validation).
  assert lagging.intermediate_values[2] > good.intermediate_values[2]
  assert lagging.state == optuna.trial.TrialState.PRUNED
  assert sorted(lagging.intermediate_values) == [2]
  assert not glob.glob(os.path.join(search.study_dir, "trials", "00001",
                                    "checkpoints", "*.index"))

  with open(result["csv"]) as f:
    rows = list(csv.DictReader(f))
  assert [(r["number"], r["status"], r["steps"], r["learning_rate"])
          for r in rows] == [("0", "complete", "4", "0.01"),
                             ("1", "pruned", "2", "1e-07")]
  assert float(rows[0]["best_val_nll_bits"]) == pytest.approx(good.value)
  with open(result["html"]) as f:
    html = f.read()
  assert "pruned" in html and "base config" in html
  assert os.path.exists(os.path.join(search.study_dir, "curves.png"))

  # The best trial's whole config, ready for a full run.
  exported = config_lib.load("samplernn", best_path)
  assert exported == config_lib.validated(good.user_attrs["config"])
  assert exported["learning_rate"] == 0.01
  assert exported["num_steps"] == TRIAL["num_steps"]
  # The same command again: nothing to do; the export, the same, stays.
  before = os.stat(best_path).st_mtime_ns
  again = tuning.tune(search, export_best=best_path, progress=False)
  assert len(again["trials"]) == 2
  assert os.stat(best_path).st_mtime_ns == before
  # Never overwritten silently.
  other = tmp_path / "other.json"
  other.write_text("{}\n")
  with pytest.raises(FileExistsError, match="--overwrite"):
    tuning.tune(search, export_best=str(other), progress=False)
  assert other.read_text() == "{}\n"
  # The study remembers what it searches.
  wider = dataclasses.replace(search, base_config={**search.base_config,
                                                    "dim": 16})
  with pytest.raises(tuning.TuneError, match="another config .*dim"):
    tuning.tune(wider, progress=False)


# ---------------------------------------------------------------------------
# Subprocesses: kill -9 with two workers; two commands on PostgreSQL.


def tune_command(data_dir, study_dir, space, trials, *flags):
  sets = [f"--set={k}={json.dumps(v)}" for k, v in TRIAL.items()]
  return [sys.executable, "-m", "common.tune", "--family=samplernn",
          f"--data_dir={data_dir}", f"--study_dir={study_dir}",
          f"--space={space}", f"--trials={trials}", "--config=tiny",
          "--heartbeat_seconds=1"] + sets + list(flags)


def wait_for(condition, timeout, what, proc=None):
  end = time.time() + timeout
  while not condition():
    if proc is not None and proc.poll() is not None:
      raise AssertionError(f"exited ({proc.returncode}) before {what}")
    if time.time() > end:
      raise AssertionError(f"timed out waiting for {what}")
    time.sleep(0.2)


def worker_pids(pid):
  """The tune workers a process started (multiprocessing spawn children)."""
  path = f"/proc/{pid}/task/{pid}/children"
  with open(path) as f:
    children = [int(c) for c in f.read().split()]
  found = []
  for child in children:
    with open(f"/proc/{child}/cmdline", "rb") as f:
      if b"spawn_main" in f.read():
        found.append(child)
  return found


def alive(pid):
  try:
    with open(f"/proc/{pid}/stat") as f:
      return f.read().split(")")[-1].split()[0] != "Z"
  except FileNotFoundError:
    return False


def test_kill_9_and_the_same_command_resumes(tiny_corpus, tmp_path):
  study_dir = tmp_path / "study"
  # Trials long enough (160 steps, ~2 s) to be killed inside.
  command = tune_command(tiny_corpus, study_dir, write_space(
      tmp_path / "space.json"), 2, "--workers=2", "--set=num_steps=160",
                         "--set=checkpoint_every=4",
                         "--set=validate_every=80")
  checkpoints = [study_dir / "trials" / f"{i:05d}" / "checkpoints"
                 for i in (0, 1)]
  with open(tmp_path / "first.log", "w") as log:
    proc = subprocess.Popen(command, cwd=ROOT, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
      # Two trials at once (two workers), each has saved a checkpoint.
      wait_for(lambda: all(glob.glob(str(c / "*.index"))
                           for c in checkpoints), 240,
               "two trials with checkpoints", proc)
      workers = worker_pids(proc.pid)
      os.kill(proc.pid, signal.SIGKILL)
      proc.wait()
    finally:
      if proc.poll() is None:
        proc.kill()
  assert len(workers) == 2
  # The workers die with the command, their trials cut off mid-run.
  wait_for(lambda: not any(alive(p) for p in workers), 10, "workers to end")
  url = f"sqlite:///{study_dir}/study.db"
  killed = optuna.load_study(study_name="study", storage=url).trials
  assert len(killed) == 2
  cut = [t.number for t in killed if t.state == optuna.trial.TrialState.RUNNING]
  assert cut  # (both, unless one trial ended just before the kill)

  out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
  assert out.returncode == 0, out.stderr[-3000:]
  trials = optuna.load_study(study_name="study", storage=url).trials
  assert sum(t.state in DONE for t in trials) == 2
  for number in cut:
    # Failed, then retried with its values in its folder, resumed from its
    # checkpoint.
    assert trials[number].state == optuna.trial.TrialState.FAIL
    retry, = [t for t in trials if t.state in DONE and
              t.system_attrs.get("failed_trial") == number]
    assert retry.params == trials[number].params
    assert retry.user_attrs["model_dir"] == f"trials/{number:05d}"
    with open(study_dir / retry.user_attrs["model_dir"] / "train.log") as f:
      assert "resumed from" in f.read()


# One trial's state changed by two workers at once. The read of the state
# and its write are made 1 s apart (a slowed check), so without a lock both
# workers read "running" before either writes "failed".
SLOW_WORKER = """
import os, sys, time
import optuna
from optuna.storages import RDBStorage
from common import config as config_lib, tune_space, tuning

check = RDBStorage.check_trial_is_updatable
def slow_check(self, trial_id, state):
  check(self, trial_id, state)
  time.sleep(1.0)
RDBStorage.check_trial_is_updatable = slow_check
search = tuning.Search(
    family="samplernn", data_dir=sys.argv[1], study_dir=sys.argv[1],
    space=tune_space.parse({"dim": {"type": "int", "low": 8, "high": 16}},
                           "samplernn", "space"),
    base_config=config_lib.load("samplernn", "tiny"), trials=1,
    heartbeat_seconds=1, base_trial=False)
study = tuning.open_study(search)
print("ready", flush=True)
while not os.path.exists(os.path.join(sys.argv[1], "go")):
  time.sleep(0.01)
optuna.storages.fail_stale_trials(study)
"""


def stale_search(tmp_path, trials):
  """A study of `trials` trials drawing `dim`, heartbeats every second (a
  trial is stale after 2 s), no base trial: its trials made by hand."""
  return tuning.Search(
      family="samplernn", data_dir=str(tmp_path), study_dir=str(tmp_path),
      space=tune_space.parse({"dim": {"type": "int", "low": 8, "high": 16}},
                             "samplernn", "space"),
      base_config=config_lib.load("samplernn", "tiny"), trials=trials,
      heartbeat_seconds=1, base_trial=False)


def test_two_workers_fail_one_stale_trial_and_queue_it_once(tmp_path):
  search = stale_search(tmp_path, trials=1)
  study = tuning.open_study(search)
  # Running; its worker was killed after one heartbeat.
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # (ask without optimize)
    trial = study.ask()
  trial.suggest_int("dim", 8, 16)
  study._storage.record_heartbeat(trial._trial_id)
  time.sleep(2.5)  # stale: silent for over twice the heartbeat period
  workers = [subprocess.Popen([sys.executable, "-c", SLOW_WORKER,
                               str(tmp_path)], cwd=ROOT, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(2)]
  try:
    for worker in workers:
      assert worker.stdout.readline() == "ready\n", worker.stderr.read()
    (tmp_path / "go").touch()
    for worker in workers:
      assert worker.wait(timeout=60) == 0, worker.stderr.read()[-2000:]
  finally:
    for worker in workers:
      if worker.poll() is None:
        worker.kill()
  trials = optuna.load_study(study_name=search.name,
                             storage=search.url).trials
  assert trials[trial.number].state == optuna.trial.TrialState.FAIL
  retries = [t for t in trials
             if t.system_attrs.get("failed_trial") == trial.number]
  assert len(retries) == 1, [(t.number, t.state) for t in retries]
  assert retries[0].state == optuna.trial.TrialState.WAITING
  assert retries[0].params == trial.params


def test_a_retry_keeps_the_place_of_the_trial_a_kill_cut(tmp_path):
  # Seen in CI: two trials cut by kill -9; a worker failed one as stale and,
  # before it queued the retry, the other worker counted one trial fewer and
  # started a new one; the retry was then found surplus, the cut trial never
  # resumed.
  search = stale_search(tmp_path, trials=2)
  study = tuning.open_study(search)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # (ask without optimize)
    running, cut = study.ask(), study.ask()
    for trial in (running, cut):
      trial.suggest_int("dim", 8, 16)
    # Stale: failed by a worker, whose retry is not queued yet.
    study._storage.set_trial_state_values(
        cut._trial_id, optuna.trial.TrialState.FAIL)
    tally = tuning.Tally.of(study.trials)
    assert (tally.running, tally.waiting, tally.requeuing) == (1, 0, 1)
    new = study.ask()  # another worker's, in that moment
    assert tuning._surplus(study, new.number, search.trials)
    # The retry is queued now, numbered after the new trial: still ahead.
    tuning._retry()(study, study.trials[cut.number])
  retry = study.trials[-1]
  assert retry.system_attrs["failed_trial"] == cut.number
  assert tuning.Tally.of(study.trials).requeuing == 0
  assert not tuning._surplus(study, retry.number, search.trials)
  assert tuning._surplus(study, new.number, search.trials)
  # A trial whose retry was never queued (its worker killed in between)
  # gives its place up after a while, counted on this process's clock from
  # when it first saw the trial so.
  orphan = study.trials[cut.number]
  first = time.monotonic()
  # (first seen by the tallies above, a moment before `first`)
  assert tuning.awaiting_retry(orphan, set(), first)
  assert tuning.awaiting_retry(orphan, set(), first + 1.0)
  assert not tuning.awaiting_retry(orphan, set(),
                                   first + tuning.REQUEUE_SECONDS)


def test_the_command_waits_for_workers_that_end_while_it_reports(tmp_path):
  search = make_search(str(tmp_path), tmp_path / "study", trials=1,
                       base_trial=False)
  study = tuning.open_study(search)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # (ask without optimize)
    trial = study.ask({"learning_rate": optuna.distributions.FloatDistribution(
        1e-7, 0.01, log=True)})
  study.tell(trial, 1.0)  # the study is done: the workers end at once
  reports = []

  def report_slowly(study):
    # The first report lasts until both workers ended.
    deadline = time.monotonic() + 120
    while not reports and multiprocessing.active_children():
      assert time.monotonic() < deadline, "the workers did not end"
      time.sleep(0.1)
    reports.append(len(study.trials))

  tuning._run_workers(search, 2, report_slowly)
  assert reports == [1]


# ---------------------------------------------------------------------------
# PostgreSQL.


def postgres_bin():
  """The folder of Debian's PostgreSQL server programs (the newest)."""
  found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                 key=lambda p: int(p.split("/")[-3]))
  if not found and shutil.which("pg_ctl"):
    found = [shutil.which("pg_ctl")]
  assert found, ("PostgreSQL is not installed: run `sh scripts/system_deps.sh "
                 "test` (Debian's postgresql package)")
  return os.path.dirname(found[-1])


def free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


@pytest.fixture
def postgres_url():
  """A PostgreSQL server of its own, in a temporary folder, for this test
  (run as `nobody` when the test runs as root: the server refuses root)."""
  bin_dir = postgres_bin()
  root = tempfile.mkdtemp(prefix="tune_pg_")
  user = {}
  if os.getuid() == 0:
    nobody = pwd.getpwnam("nobody")
    os.chown(root, nobody.pw_uid, nobody.pw_gid)
    user = dict(user=nobody.pw_uid, group=nobody.pw_gid)
  port = free_port()
  data = os.path.join(root, "data")
  env = dict(os.environ, LC_ALL="C", LANG="C")

  def run(*args):
    subprocess.run([os.path.join(bin_dir, args[0])] + list(args[1:]),
                   check=True, capture_output=True, env=env, cwd=root,
                   timeout=60, **user)

  try:
    run("initdb", "-D", data, "-U", "tune", "-A", "trust", "-E", "UTF8",
        "--no-sync")
    run("pg_ctl", "-D", data, "-l", os.path.join(root, "server.log"), "-w",
        "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1 "
        f"-c fsync=off", "start")
    yield f"postgresql+psycopg://tune@127.0.0.1:{port}/postgres"
  finally:
    if os.path.exists(os.path.join(data, "postmaster.pid")):
      run("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
    shutil.rmtree(root, ignore_errors=True)


def test_two_commands_share_one_postgresql_study(tiny_corpus, tmp_path,
                                                  postgres_url):
  space = write_space(tmp_path / "space.json")
  procs = []
  for name in ("host_a", "host_b"):
    log = open(tmp_path / f"{name}.log", "w")
    procs.append((subprocess.Popen(
        tune_command(tiny_corpus, tmp_path / name, space, 2,
                     f"--storage={postgres_url}", "--study_name=shared"),
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT), log))
  for proc, log in procs:
    assert proc.wait(timeout=300) == 0, open(log.name).read()[-3000:]
    log.close()
  trials = optuna.load_study(study_name="shared", storage=postgres_url).trials
  assert len(trials) == 2 and all(t.state in DONE for t in trials)
  # One trial each: both commands ran trials of the one study.
  workers = {t.user_attrs["worker"] for t in trials}
  assert len(workers) == 2
  for name in ("host_a", "host_b"):
    with open(tmp_path / name / "trials.csv") as f:
      assert [r["number"] for r in csv.DictReader(f)] == ["0", "1"]
  ran = sorted(os.path.relpath(p, tmp_path) for p in glob.glob(
      str(tmp_path / "host_*" / "trials" / "*")))
  assert len(ran) == 2 and ran[0].split("/")[0] != ran[1].split("/")[0]
