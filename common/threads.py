"""How many threads TensorFlow gives each operation: the generating commands' `--threads`.

A compiled generation step of a small model is a chain of small operations.
With TensorFlow's default (an intra-op pool with a thread per core), XLA:CPU
splits the larger ones across the pool and runs independent ones on it, and
each hand-off costs more than the work it moves: one thread runs the shipped
WaveNets' steps 1.3-1.8x faster at batch 1 and 4 on 2 cores (README,
"Performance"), and leaves the other cores to the rest of the process (a
live server's threads) or to other processes. Large products (the `nsynth`
preset, large batches) gain from the pool: `--threads=0` keeps TensorFlow's
default.

The setting is process-wide and must be made before TensorFlow runs its
first operation, so commands apply it first thing in `main`.
"""

from __future__ import annotations

from common import cli

FLAG_HELP = ("Threads per TensorFlow operation (intra-op): 1 runs each "
             "compiled generation step on one thread, fastest for small "
             "models on CPU; 0 is TensorFlow's default (one per core), for "
             "large presets and batches.")


def define_flag(default: int = 1) -> None:
  """Defines `--threads` (see the module doc)."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_integer("threads", default, FLAG_HELP, lower_bound=0)


def apply(threads: int) -> None:
  """Sets TensorFlow's intra-op threads (0: its default).

  Raises:
    cli.FlagError: TensorFlow already ran an operation in this process
      with another setting (it can no longer change).
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if tf.config.threading.get_intra_op_parallelism_threads() == threads:
    return
  try:
    tf.config.threading.set_intra_op_parallelism_threads(threads)
  except RuntimeError as e:
    raise cli.FlagError(f"--threads={threads}: TensorFlow has already "
                        f"started with another setting ({e})") from e
