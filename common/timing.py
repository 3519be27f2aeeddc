"""Timing helpers shared by the benchmarks: medians and this machine's
matrix-product rate (the arithmetic limit generation is compared with)."""

import statistics
import time


def median_seconds(fn, repeats=3, warmup=1):
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


def matmul_gflops(shapes, batch_size, steps=50, repeats=3, jit_compile=False):
  """Float32 GFLOP/s of this machine on a chain of matrix products.

  Each of `steps` loop iterations (a `tf.while_loop` in one `tf.function`,
  as a generator runs) multiplies `[batch_size, rows]` activations by one
  matrix per `(rows, cols)` in `shapes`, each product feeding the next, so
  the weights stream from memory as in generation.

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
  kernels = [tf.random.normal([rows, cols], stddev=rows ** -0.5)
             for rows, cols in shapes]

  @tf.function(jit_compile=jit_compile or None)
  def chain(x):
    def body(i, x):
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
