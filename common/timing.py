"""Timing helpers shared by the benchmarks: medians and this machine's
matrix-product rate (the arithmetic limit generation is compared with)."""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable, Sequence


def median_seconds(fn: Callable[[], object], repeats: int = 3, warmup: int = 1) -> float:
  """Median wall time in seconds of `repeats` calls of `fn()` after `warmup`
  untimed calls (which compile any graph)."""
  for _ in range(warmup):
    fn()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def matmul_gflops(shapes: Sequence[tuple[int, int]], batch_size: int,
                  steps: int = 50, repeats: int = 3,
                  jit_compile: bool = False) -> float:
  """Float32 GFLOP/s of this machine on a chain of matrix products.

  Each of `steps` loop iterations (a `tf.while_loop` in one `tf.function`,
  as a generator runs) multiplies `[batch_size, rows]` activations by one
  matrix per `(rows, cols)` in `shapes`, each product feeding the next.
  Entries of the same shape share one matrix, as a generator reuses its
  weights (a SampleRNN's tiers repeat the same matrices every step), so the
  weights are read from cache as they are in generation.

  Args:
    shapes: sequence of `(rows, cols)` matrix shapes per step.
    batch_size: rows of the activations (sequences generated at once).
    steps: loop iterations.
    repeats: timed runs; the median is used.
    jit_compile: compile the loop with XLA.

  Returns:
    float GFLOP/s (2 FLOPs per multiply-add).
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  by_shape = {shape: tf.random.normal(shape, stddev=shape[0] ** -0.5)
              for shape in map(tuple, shapes)}
  kernels = [by_shape[tuple(shape)] for shape in shapes]

  @tf.function(jit_compile=jit_compile or None)
  def chain(x: Any) -> Any:
    def body(i: Any, x: Any) -> tuple[Any, Any]:
      for kernel in kernels:
        rows = kernel.shape[0]
        x = tf.tile(x, [1, -(-rows // x.shape[1])])[:, :rows]
        x = tf.tanh(tf.matmul(x, kernel))
      return i + 1, x[:, :1]
    return tf.while_loop(lambda i, x: i < steps, body, (0, x))[1]

  x = tf.random.normal([batch_size, 1])
  seconds = median_seconds(lambda: chain(x).numpy(), repeats=repeats)
  flops = 2.0 * steps * batch_size * sum(r * c for r, c in shapes)
  return flops / seconds / 1e9


def arithmetic_limit(shapes: Sequence[tuple[int, int]],
                     flops_per_sample: float, batch_size: int,
                     repeats: int = 3) -> dict[str, float]:
  """The most samples/s this machine's matrix products allow a generator.

  The matmul rate is the better of the chain in a plain graph and under XLA
  (`matmul_gflops`): at small batches per-op overhead, not arithmetic,
  bounds the plain graph, and a generator may compile with either.

  Args:
    shapes: the `(rows, cols)` matrices one generated sample multiplies by
      (a family's `step_matmuls`), in order.
    flops_per_sample: the generator's FLOPs per sample per sequence.
    batch_size: sequences generated at once.

  Returns:
    dict(matmul_gflops_per_second, limit_samples_per_second): the limit
    counts all sequences together.
  """
  gflops = max(matmul_gflops(shapes, batch_size, repeats=repeats,
                             jit_compile=jit) for jit in (False, True))
  return dict(matmul_gflops_per_second=gflops,
              limit_samples_per_second=gflops * 1e9 / flops_per_sample)
