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


def test_speed_runs_with_the_threads_asked_for(tmp_path):
  out = tmp_path / "speed.json"
  result = subprocess.run(
      [sys.executable, "-m", "eval.speed", "wavenet", "--config=tiny",
       "--batch_sizes=1", "--repeats=1", "--seconds=0.05", "--threads=1",
       f"--output={out}"], cwd=ROOT, capture_output=True, text=True,
      timeout=300, check=False)
  assert result.returncode == 0, result.stderr[-2000:]
  environment = json.loads(out.read_text())["environment"]
  assert environment["intra_op_threads"] == 1


def test_a_change_after_tensorflow_started_is_a_flag_error():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.constant(1.0) + 1.0  # TensorFlow has started
  current = tf.config.threading.get_intra_op_parallelism_threads()
  threads.apply(current)  # the setting it has: nothing to change
  with pytest.raises(cli.FlagError, match=r"^--threads=\d+: TensorFlow has "
                     r"already started"):
    threads.apply(current + 1)
