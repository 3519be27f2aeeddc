"""Timing helpers shared by the benchmarks: medians and this machine's
matrix-product rate (the arithmetic limit generation is compared with), and
its physical limits: the peak rate of a large product and the rate at which
it reads memory (`physical_limits`)."""

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


def square_matmul_gflops(size: int = 1024, repeats: int = 5) -> float:
  """Float32 GFLOP/s of one `[size, size] x [size, size]` product (the
  machine's arithmetic peak as large products reach it, on this process's
  intra-op threads: one core's with `--threads=1`).
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  a = tf.random.normal([size, size])
  b = tf.random.normal([size, size])
  product = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
  seconds = median_seconds(lambda: product().numpy(), repeats=repeats)
  return 2.0 * size**3 / seconds / 1e9


def read_gbps(megabytes: int = 512, repeats: int = 5) -> float:
  """GB/s (10^9 bytes) at which this machine reads memory: the sum of a
  float32 buffer of `megabytes` MiB (far larger than any cache), on this
  process's intra-op threads."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  buffer = tf.ones([megabytes * (1 << 20) // 4])
  total = tf.function(lambda: tf.reduce_sum(buffer))
  seconds = median_seconds(lambda: total().numpy(), repeats=repeats)
  return megabytes * (1 << 20) / seconds / 1e9


def physical_limits(flops_per_sample: float, batch_size: int,
                    matmul_gflops_per_second: float,
                    read_gb_per_second: float) -> dict[str, float]:
  """The two limits of a generator at `batch_size` (samples/s, all
  sequences together) from the machine's measured rates:

  - arithmetic: the peak matmul rate (`square_matmul_gflops`) over the FLOPs
    per sample;
  - memory: every weight read from memory once per step, for all the
    batch's sequences at once: a float32 weight is 4 bytes and 2 FLOPs per
    sequence, so a step reads `2 * flops_per_sample` bytes
    (`read_gbps` over that, times the batch).

  Returns:
    dict(arithmetic_limit, memory_limit, limit: the smaller), samples/s.
  """
  arithmetic = matmul_gflops_per_second * 1e9 / flops_per_sample
  memory = batch_size * read_gb_per_second * 1e9 / (2.0 * flops_per_sample)
  return dict(arithmetic_limit=arithmetic, memory_limit=memory,
              limit=min(arithmetic, memory))
