"""Training on several workers: `--strategy=multi_worker` run for real, as two
worker processes on this machine (TF_CONFIG on localhost ports, CPU
collectives), and the rows of each global batch every worker reads.

The reference is one process training the same global batch on two
replicas (MirroredStrategy over two logical CPUs): each replica computes
what one worker computes, so the two runs agree bit for bit, and a
two-worker run that lost a worker and was started again must end with the
reference's checkpoint exactly. (One replica on the whole batch differs
from two by float rounding only: tests/test_train_step.py.)
"""

import json
import os
import re
import resource
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import tensorflow as tf

from common import data
from test_resume import DRIVER, assert_same_values, steps_saved

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Crops of one window (one traced step), a checkpoint every 2 steps, a
# validation every 4, the training scalars at every step.
RUN = dict(num_steps=8, num_windows=1, checkpoint_every=2, validate_every=4,
           val_batches=1, summary_every=1, audio_summary_every=0,
           keep_checkpoints=10)
# The train command in one process whose CPU is two logical devices.
MIRRORED = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from samplernn import train
    sys.argv = sys.argv[1:]
    train.run()
""").format(root=ROOT)


def train_args(data_dir, model_dir, strategy):
  return (["samplernn.train", f"--data_dir={data_dir}",
           f"--model_dir={model_dir}", "--config=tiny",
           f"--strategy={strategy}"] +
          [f"--set={k}={json.dumps(v)}" for k, v in RUN.items()])


def free_ports(count):
  sockets = [socket.socket() for _ in range(count)]
  for s in sockets:
    s.bind(("localhost", 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


def start_workers(ports, data_dir, model_dir, tmp_dir, kill_worker_1_after=0):
  """The train command as worker 0 and 1 of a cluster on `ports` (Popen
  objects); worker 1 kills itself (SIGKILL) after that many steps if > 0.
  The workers' temporary files go into `tmp_dir`."""
  cluster = {"worker": [f"localhost:{p}" for p in ports]}
  workers = []
  for index in range(2):
    env = dict(os.environ, TMPDIR=str(tmp_dir), TF_CONFIG=json.dumps(
        {"cluster": cluster, "task": {"type": "worker", "index": index}}),
               KILL_AFTER=str(kill_worker_1_after if index else 0))
    workers.append(subprocess.Popen(
        [sys.executable, "-c", DRIVER] +
        train_args(data_dir, model_dir, "multi_worker"), env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
  return workers


def wait_all(processes, timeout=240):
  """{index: (returncode, stdout, stderr, seconds to exit from now)}."""
  start, out = time.monotonic(), {}
  while len(out) < len(processes):
    for i, p in enumerate(processes):
      if i not in out and p.poll() is not None:
        out[i] = (p.returncode, *p.communicate(), time.monotonic() - start)
    assert time.monotonic() - start < timeout, "the workers hang"
    time.sleep(0.05)
  return out


@pytest.fixture
def started():
  """A list for the test's processes: those still running at its end (it
  failed) are killed."""
  processes = []
  yield processes
  for process in processes:
    if process.poll() is None:
      process.kill()
      process.communicate()


def train_scalars(model_dir, tag):
  """{step: value} of a TensorBoard train scalar (a resumed run's last)."""
  values = {}
  paths = sorted(tf.io.gfile.glob(os.path.join(model_dir, "train", "*")))
  for path in paths:
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        if value.tag == tag:
          values[event.step] = float(tf.make_ndarray(value.tensor))
  return values


def test_two_workers_train_like_one_process_and_resume_a_lost_worker(
    prepared_corpus, tmp_path, started):
  model_dir, reference = tmp_path / "run", tmp_path / "reference"
  (tmp_path / "tmp").mkdir()
  start = time.monotonic()
  usage = resource.getrusage(resource.RUSAGE_CHILDREN)
  cpu_before = usage.ru_utime + usage.ru_stime
  mirrored = subprocess.Popen(
      [sys.executable, "-c", MIRRORED] +
      train_args(prepared_corpus, reference, "mirrored"),
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  started.append(mirrored)
  ports = free_ports(2)
  # Worker 1 dies after its 5th step (the chief has saved step 4): the
  # chief stops with one line naming it, after its 5th step (or in it, if
  # worker 1 died before sending the chief its part of the sum).
  workers = start_workers(ports, prepared_corpus, model_dir, tmp_path / "tmp",
                          kill_worker_1_after=5)
  started.extend(workers)
  first = wait_all(workers)
  assert first[1][0] == -9, first[1][2][-2000:]
  code, _, err, exited = first[0]
  assert code == 1, err[-3000:]
  assert re.fullmatch(
      rf"error: lost worker 1 \(localhost:{ports[1]}\) at step [45], so "
      rf"every worker stops; the last checkpoint is "
      rf"{re.escape(str(model_dir))}/checkpoints/ckpt-4: start every worker "
      rf"again with the same command to resume",
      err.strip().splitlines()[-1]), err[-3000:]
  # Not a hang: measured 1-19 s here (at once if a transfer from the dead
  # worker was under way, else after the coordination service's heartbeat
  # timeout, 10 s; the most on a machine loaded 2.5 times over).
  detection = exited - first[1][3]
  assert detection < 60
  assert steps_saved(str(model_dir)) == [2, 4]
  # The same two commands again: both resume from the chief's step 4.
  chief_pids = {workers[0].pid}
  workers = start_workers(ports, prepared_corpus, model_dir, tmp_path / "tmp")
  started.extend(workers)
  chief_pids.add(workers[0].pid)
  for code, out, err, _ in wait_all(workers).values():
    assert code == 0, err[-3000:]
    assert out.splitlines()[0] == (
        f"resumed from {model_dir}/checkpoints/ckpt-4 (step 4)")
    assert out.splitlines()[-2] == (
        f"stopped at step 8 (reached num_steps); last checkpoint "
        f"{model_dir}/checkpoints/ckpt-8")
  code, out, err = mirrored.wait(240), *mirrored.communicate()
  assert code == 0, err[-3000:]
  usage = resource.getrusage(resource.RUSAGE_CHILDREN)
  print(f"two-worker test: {time.monotonic() - start:.1f} s, its processes "
        f"{usage.ru_utime + usage.ru_stime - cpu_before:.0f} CPU-s; lost "
        f"worker detected in {detection:.1f} s")

  # Bit for bit the one-process run's checkpoint, best and loss curve.
  assert_same_values(str(model_dir / "checkpoints" / "ckpt-8"),
                     str(reference / "checkpoints" / "ckpt-8"))
  assert ((model_dir / "best.json").read_text() ==
          (reference / "best.json").read_text())
  for tag in ("loss_nats_per_sample", "grad_norm"):
    curve = train_scalars(model_dir, tag)
    assert sorted(curve) == list(range(1, 9))
    assert curve == train_scalars(reference, tag)
  # Only the chief (worker 0) wrote the model directory: TensorBoard's
  # file names end with the writer's process id.
  assert sorted(os.listdir(model_dir)) == [
      "best", "best.json", "checkpoints", "config.json", "train", "val"]
  events = [name for sub in ("train", "val")
            for name in os.listdir(model_dir / sub)]
  assert {int(name.split(".")[-3]) for name in events} == chief_pids


def test_each_worker_reads_its_own_rows_of_the_global_batch(
    prepared_corpus):
  """Two input pipelines (workers) with one or two replicas each: together
  their batches are the rows of the batches one pipeline reads, in
  replica order, each row read by one worker only; from any batch on."""
  length = 300
  whole = [b.numpy() for b in data.dataset(
      prepared_corpus, "train", 4, length, seed=3).take(5)]
  for local in (1, 2):
    parts = []
    for worker in range(2):
      context = tf.distribute.InputContext(2, worker, 2 * local)
      make = lambda k, c=context: data.dataset(
          prepared_corpus, "train", 2 // local, length, seed=3,
          input_context=c, start_batch=k)
      batches = [b.numpy() for b in make(0).take(5 * local)]
      later = [b.numpy() for b in make(3).take(5 * local - 3)]
      for want, got in zip(batches[3:], later):
        np.testing.assert_array_equal(got, want)
      # A worker's batches 2k, 2k + 1 (its replicas) are its rows of step k.
      parts.append(np.stack(batches).reshape([5, 4 // 2, length]))
    np.testing.assert_array_equal(np.concatenate(parts, axis=1),
                                  np.stack(whole))
