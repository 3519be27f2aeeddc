"""`--threads` (common.threads): TensorFlow's intra-op threads for the
generating commands, set before TensorFlow starts, and the one-line error
once it has."""

import json
import os
import subprocess
import sys

import pytest

from common import cli
from common import threads

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_speed_runs_with_the_threads_and_processes_asked_for(tmp_path):
  """(`--processes`: the batch split over worker processes,
  `tests/test_process_generator.py`; `--physical_limits`' arithmetic,
  tests/test_timing.py.)"""
  out = tmp_path / "speed.json"
  result = subprocess.run(
      [sys.executable, "-m", "eval.speed", "wavenet", "--config=tiny",
       "--batch_sizes=2", "--repeats=1", "--seconds=0.05", "--threads=1",
       "--processes=2", "--physical_limits", f"--output={out}"], cwd=ROOT, capture_output=True,
      text=True, timeout=300, check=False)
  assert result.returncode == 0, result.stderr[-2000:]
  assert "2 processes, each with --threads=1" in result.stdout
  speed = json.loads(out.read_text())
  assert speed["environment"]["intra_op_threads"] == 1
  assert speed["processes"] == 2
  assert [row["batch_size"] for row in speed["rows"]] == [2]
  assert speed["rows"][0]["samples_per_second"] > 0
  physical = speed["physical_limits"]
  assert physical["matmul_gflops_per_second"] > 0
  assert physical["read_gb_per_second"] > 0
  assert 0 < speed["rows"][0]["fraction_of_physical_limit"]
  assert "physical limits (measured in this run)" in result.stdout
  assert "batch 2: arithmetic limit" in result.stdout


def test_a_change_after_tensorflow_started_is_a_flag_error():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.constant(1.0) + 1.0  # TensorFlow has started
  current = tf.config.threading.get_intra_op_parallelism_threads()
  threads.apply(current)  # the setting it has: nothing to change
  with pytest.raises(cli.FlagError, match=r"^--threads=\d+: TensorFlow has "
                     r"already started"):
    threads.apply(current + 1)
