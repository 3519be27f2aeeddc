"""Exact resume, whatever stops a run: the training rows of the fault matrix.

A run is stopped (SIGKILL inside a crop, at a crop boundary and at a seeded
random moment; SIGTERM; a crash; a full disk; a corrupted newest checkpoint)
and run again; its final checkpoint must hold, bit for bit, what an
uninterrupted run of the same seed holds (model, optimizer, step, best
validation). The signals come from inside the training process (`DRIVER`,
the train command with a hook): after its k-th training window it sends
itself the signal, at once or after a seeded random delay from a timer
thread, so the moment falls inside training however fast the machine is.
The stopped runs are subprocesses; the reference and the final, completing
run train in the test's process (saving a TensorFlow start each).
"""

import concurrent.futures
import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from common import checkpoint
from common import config as config_lib
from common import data
from common import train_step
from common import trainer
import toy_model
from test_trainer import toy_config, train_quietly

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAMILIES = {"samplernn": "samplernn.train", "wavenet": "wavenet.train"}
# Short runs of the tiny presets: crops of two windows, a checkpoint every
# 4 steps, a validation every 6 (so some validations fall between
# checkpoints), no audio summaries.
RUN = dict(num_steps=12, num_windows=2, checkpoint_every=4, validate_every=6,
           val_batches=1, audio_summary_every=0, keep_checkpoints=10)
OVERRIDES = {"samplernn": {}, "wavenet": {"input_jitter": 2}}

# Runs a train command; after its KILL_AFTER-th training window (counted in
# this process) it sends itself KILL_SIGNAL, KILL_DELAY seconds later (from
# a timer thread, so the main thread goes on meanwhile).
DRIVER = textwrap.dedent("""
    import os, signal, sys, threading
    sys.path.insert(0, {root!r})
    from common import train_step
    after = int(os.environ.get("KILL_AFTER", 0))
    sig = getattr(signal, os.environ.get("KILL_SIGNAL", "SIGKILL"))
    delay = float(os.environ.get("KILL_DELAY", 0))
    make_train_step = train_step.make_train_step

    def counting_step(*args):
      step_fn, calls = make_train_step(*args), []

      def step(*inputs):
        out = step_fn(*inputs)
        calls.append(1)
        if len(calls) == after:
          kill = lambda: os.kill(os.getpid(), sig)
          threading.Timer(delay, kill).start() if delay else kill()
        return out
      return step

    train_step.make_train_step = counting_step
    import importlib
    module = importlib.import_module(sys.argv[1])
    sys.argv = sys.argv[1:]
    module.run()
""").format(root=ROOT)


def command(family, data_dir, model_dir, **changes):
  """argv of the train command of a family's test run (`RUN`, changed)."""
  sets = [f"--set={k}={json.dumps(v)}"
          for k, v in {**RUN, **OVERRIDES[family], **changes}.items()]
  return [FAMILIES[family], f"--data_dir={data_dir}",
          f"--model_dir={model_dir}", "--config=tiny"] + sets


def run(family, data_dir, model_dir, kill_after=0, signal_name="SIGKILL",
        delay=0.0):
  """Runs the train command in a subprocess; returns (returncode, stderr)."""
  env = dict(os.environ, KILL_AFTER=str(kill_after), KILL_SIGNAL=signal_name,
             KILL_DELAY=str(delay))
  out = subprocess.run(
      [sys.executable, "-c", DRIVER] + command(family, data_dir, model_dir),
      capture_output=True, text=True, env=env, timeout=300)
  return out.returncode, out.stderr


def train_in_process(family, data_dir, model_dir):
  """The same run in this process (e.g. the uninterrupted reference)."""
  config = config_lib.load(family, "tiny", {**RUN, **OVERRIDES[family]})
  build = __import__(f"{family}.model", fromlist=["build_model"]).build_model
  trainer.train(config, data_dir, str(model_dir), build, progress=False,
                log=lambda *_: None)
  return last_checkpoint(model_dir)


def last_checkpoint(model_dir):
  return tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints"))


def saved_values(path):
  """{key: value} of every tensor a training checkpoint holds except TF's
  own save counter and object graph: model, optimizer, step, best, corpus."""
  reader = tf.train.load_checkpoint(path)
  return {key: reader.get_tensor(key)
          for key in reader.get_variable_to_shape_map()
          if not key.startswith(("save_counter", "_CHECKPOINTABLE"))}


def assert_same_values(path, reference):
  got, want = saved_values(path), saved_values(reference)
  assert sorted(got) == sorted(want)
  # (A variable is saved once, under the first path to it: WaveNet's
  # weights appear under optimizer/_trainable_variables.)
  assert any(k.startswith("optimizer/_trainable_variables/") for k in want)
  differ = [k for k in want if not np.array_equal(got[k], want[k])]
  assert not differ, f"{len(differ)} values differ, e.g. {differ[:3]}"


def steps_saved(model_dir):
  names = os.listdir(os.path.join(model_dir, "checkpoints"))
  return sorted(int(n[5:-6]) for n in names
                if n.startswith("ckpt-") and n.endswith(".index"))


def stopped_and_resumed_like_uninterrupted(family, data_dir, tmp_path, stop):
  """Runs `stop(model_dir)` (train commands stopped in subprocesses, in a
  thread) while this process trains the uninterrupted reference, then
  finishes the stopped run here and compares the two."""
  model_dir = str(tmp_path / "run")
  with concurrent.futures.ThreadPoolExecutor(1) as pool:
    runs = pool.submit(stop, model_dir)
    reference = train_in_process(family, data_dir, tmp_path / "ref")
    runs.result()
  assert_same_values(train_in_process(family, data_dir, model_dir), reference)
  assert (json.loads((tmp_path / "run" / "best.json").read_text()) ==
          json.loads((tmp_path / "ref" / "best.json").read_text()))


def test_samplernn_killed_and_terminated_resumes_bit_for_bit(prepared_corpus,
                                                             tmp_path):

  def stop(model_dir):
    # SIGTERM inside the crop of steps 4-5: the run finishes the crop (and
    # the validation due at step 6), saves step 6, says so, exits 1.
    code, err = run("samplernn", prepared_corpus, model_dir, kill_after=5,
                    signal_name="SIGTERM")
    assert code == 1, err[-2000:]
    assert err.strip().splitlines()[-1] == (
        f"error: SIGTERM at step 6: saved {model_dir}/checkpoints/ckpt-6; "
        f"run the same command to resume")
    assert steps_saved(model_dir) == [4, 6]
    # SIGKILL inside a crop: after the first window of the crop of steps
    # 8-9 (the checkpoint of step 8 is saved), before the second.
    code, _ = run("samplernn", prepared_corpus, model_dir, kill_after=3)
    assert code == -9 and steps_saved(model_dir) == [4, 6, 8]
    # SIGKILL at a seeded random moment: after a random window, a random
    # delay of up to 0.3 s later (inside a step, a validation, a save...).
    rng = random.Random(16)
    after, delay = rng.randint(1, 4), rng.uniform(0.0, 0.3)
    code, err = run("samplernn", prepared_corpus, model_dir,
                    kill_after=after, delay=delay)
    assert code in (-9, 0), err[-2000:]

  stopped_and_resumed_like_uninterrupted("samplernn", prepared_corpus,
                                         tmp_path, stop)


def test_wavenet_with_input_jitter_killed_resumes_bit_for_bit(
    prepared_corpus, tmp_path):

  def stop(model_dir):
    # SIGKILL at a crop boundary: after the second window of the crop of
    # steps 4-5, before that crop's validation (due at step 6).
    code, _ = run("wavenet", prepared_corpus, model_dir, kill_after=6)
    assert code == -9 and steps_saved(model_dir) == [4]
    # SIGKILL at a seeded random moment (see above).
    rng = random.Random(17)
    after, delay = rng.randint(1, 8), rng.uniform(0.0, 0.3)
    code, err = run("wavenet", prepared_corpus, model_dir, kill_after=after,
                    delay=delay)
    assert code in (-9, 0), err[-2000:]

  stopped_and_resumed_like_uninterrupted("wavenet", prepared_corpus, tmp_path,
                                         stop)


def test_full_disk_ends_with_one_line_and_the_last_checkpoint_intact(
    prepared_corpus, tmp_path):
  """The run's directory is on a 1.2 MB tmpfs (mounted in a private mount
  namespace, so it needs root and vanishes with the process; its content is
  copied out before). SampleRNN tiny checkpoints are about 0.5 MB: the
  second or third one fills the disk."""
  disk, kept = tmp_path / "disk", tmp_path / "kept"
  disk.mkdir()
  model_dir = str(disk / "run")
  argv = [sys.executable, "-c", DRIVER] + command(
      "samplernn", prepared_corpus, model_dir, num_steps=1000,
      checkpoint_every=2)
  script = (f"mount -t tmpfs -o size=1200k tmpfs {shlex.quote(str(disk))} "
            f"&& {shlex.join(argv)}; code=$?; cp -a {shlex.quote(str(disk))} "
            f"{shlex.quote(str(kept))}; exit $code")
  out = subprocess.run(["unshare", "--mount", "sh", "-c", script],
                       capture_output=True, text=True, timeout=300)
  lines = out.stderr.strip().splitlines()
  assert out.returncode == 1, out.stderr[-3000:]
  assert "Traceback" not in out.stderr
  saved = steps_saved(str(kept / "run"))
  assert saved and saved[-1] < 1000
  newest = f"{model_dir}/checkpoints/ckpt-{saved[-1]}"
  assert lines[-1].startswith(f"error: {model_dir}: no space left on device "
                              f"at step "), lines[-1]
  assert f"the last checkpoint, {newest}, is intact" in lines[-1]
  from samplernn import model as samplernn_model  # pylint: disable=g-import-not-at-top
  _, _, step, _ = checkpoint.load(str(kept / "run"),
                                  samplernn_model.build_model, "last")
  assert step == saved[-1]


def test_corrupted_newest_checkpoint_is_reported_and_the_one_before_used(
    prepared_corpus, tmp_path):
  straight = tmp_path / "straight"
  train_quietly(toy_config(num_steps=12), prepared_corpus, straight)
  model_dir = tmp_path / "run"
  train_quietly(toy_config(num_steps=8), prepared_corpus, model_dir)
  data_file = model_dir / "checkpoints" / "ckpt-8.data-00000-of-00001"
  with open(data_file, "r+b") as f:
    f.truncate(os.path.getsize(data_file) // 2)
  lines = []
  trainer.train(toy_config(num_steps=12), prepared_corpus, str(model_dir),
                toy_model.build_model, progress=False, log=lines.append)
  ckpts = str(model_dir / "checkpoints")
  assert lines[0].startswith(f"{ckpts}/ckpt-8: unreadable (")
  assert lines[0].endswith(f"; falling back to {ckpts}/ckpt-4")
  assert lines[1] == f"resumed from {ckpts}/ckpt-4 (step 4)"
  assert_same_values(last_checkpoint(model_dir), last_checkpoint(straight))


def test_another_corpus_is_refused_a_moved_one_resumes(prepared_corpus,
                                                       other_corpus,
                                                       tmp_path):
  model_dir = str(tmp_path / "run")
  train_quietly(toy_config(num_steps=2), prepared_corpus, model_dir)
  with pytest.raises(trainer.TrainingError) as refused:
    train_quietly(toy_config(num_steps=4), other_corpus, model_dir)
  fingerprint = lambda d: data.corpus_fingerprint(data.manifest(d))
  assert str(refused.value) == (
      f"{model_dir}: was trained on the corpus {prepared_corpus} "
      f"(fingerprint {fingerprint(prepared_corpus)}), not {other_corpus} "
      f"(fingerprint {fingerprint(other_corpus)}); resume with the same "
      f"corpus, or fine-tune on this one (--init_from={model_dir} and a new "
      f"--model_dir)")
  moved = str(tmp_path / "moved_corpus")
  shutil.copytree(prepared_corpus, moved)
  assert train_quietly(toy_config(num_steps=4), moved, model_dir)["step"] == 4


def test_a_failed_start_does_not_block_a_corrected_retry(prepared_corpus,
                                                         tmp_path):
  model_dir = tmp_path / "run"
  with pytest.raises(ValueError, match="longer than the stored chunks"):
    train_quietly(toy_config(seq_len=8192), prepared_corpus, model_dir)
  assert not (model_dir / config_lib.CONFIG_NAME).exists()
  # A config.json without a checkpoint (a run killed before its first one)
  # does not block a changed retry either.
  config_lib.save(toy_config(dim=12), str(model_dir))
  assert train_quietly(toy_config(num_steps=2), prepared_corpus,
                       model_dir)["step"] == 2
  assert config_lib.load_saved(str(model_dir))["dim"] == 8


def test_a_run_made_before_corpus_fingerprints_is_refused_in_one_line(
    prepared_corpus, tmp_path):
  """Its checkpoints record no corpus: refused with the way out (fine-tune),
  not a variable list."""
  model_dir = tmp_path / "old_run"
  train_quietly(toy_config(num_steps=4), prepared_corpus, model_dir)
  ckpt_dir = model_dir / checkpoint.CHECKPOINTS
  newest = checkpoint.checkpoint_paths(str(ckpt_dir))[0]
  model = toy_model.build_model(toy_config())
  from common import model_api  # pylint: disable=g-import-not-at-top
  model_api.build(model)
  old = tf.train.Checkpoint(model=model,
                            step=tf.Variable(4, dtype=tf.int64))
  checkpoint.restore(old, newest)
  shutil.rmtree(ckpt_dir)
  tf.train.CheckpointManager(old, str(ckpt_dir), 1).save(checkpoint_number=4)
  with pytest.raises(trainer.TrainingError,
                     match="older neuralsynth.*--init_from"):
    train_quietly(toy_config(), prepared_corpus, model_dir)


@pytest.fixture(scope="module")
def other_corpus(tmp_path_factory):
  """Another small corpus (two 1 s tones)."""
  from conftest import tone, write_audio  # pylint: disable=g-import-not-at-top
  from common import corpus  # pylint: disable=g-import-not-at-top
  src = tmp_path_factory.mktemp("other") / "other"
  src.mkdir()
  for i in range(3):
    write_audio(src / f"{i}.wav", tone((300.0 + 50 * i,), 1.0), 16000)
  out = str(tmp_path_factory.mktemp("other_prepared"))
  corpus.prepare([str(src)], out, chunk_seconds=0.5, workers=1,
                 progress=False, val_fraction=0.3, test_fraction=0.0)
  return out


def test_a_crash_after_a_validation_replays_the_same_decisions(
    prepared_corpus, tmp_path, monkeypatch):
  """The best-validation bookkeeping is restored with the checkpoint (not
  from best.json, which may be newer): early stopping stops where it would
  have. A zero learning rate keeps every validation equal, so the run stops
  after the 4th without improvement, at step 10."""
  frozen = toy_config(num_steps=40, learning_rate=0.0, min_learning_rate=0.0,
                      validate_every=2, checkpoint_every=6,
                      early_stopping_patience=4)
  straight = train_quietly(frozen, prepared_corpus, tmp_path / "straight")
  assert (straight["step"], straight["stop_reason"]) == (10, "early stopping")
  make_train_step = train_step.make_train_step

  def crashing_step(*args):
    step_fn, calls = make_train_step(*args), []

    def step(*inputs):
      calls.append(1)
      if len(calls) == 9:  # after the validation at step 8, before a save
        raise RuntimeError("crash")
      return step_fn(*inputs)
    return step

  monkeypatch.setattr(train_step, "make_train_step", crashing_step)
  with pytest.raises(RuntimeError, match="crash"):
    train_quietly(frozen, prepared_corpus, tmp_path / "run")
  assert steps_saved(str(tmp_path / "run")) == [6]
  monkeypatch.setattr(train_step, "make_train_step", make_train_step)
  resumed = train_quietly(frozen, prepared_corpus, tmp_path / "run")
  assert (resumed["step"], resumed["best"]) == (10, straight["best"])
  assert_same_values(last_checkpoint(tmp_path / "run"),
                     last_checkpoint(tmp_path / "straight"))
