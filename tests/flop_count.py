"""Counts the matrix arithmetic TensorFlow code really performs (FLOP tests).

    with flop_count.matmul_flops() as counted:
      generator.block(...)
    counted.flops  # 2 per multiply-add of every product that ran

Inside the block, `tf.function`s run eagerly (their `tf.while_loop`s become
Python loops), and every matrix product (`tf.matmul`, `@`, batched matmuls)
and two-operand `tf.einsum` adds `2 * multiply-adds` from its operands'
actual shapes. The count is thus independent of the formulas it checks
(`flops_per_sample`): it sees what runs, not what a config says should run.
Elementwise work (biases, gates, sampling) is not counted.
"""

import contextlib
import dataclasses
import math

import tensorflow as tf
from tensorflow.python.ops import gen_linalg_ops  # pylint: disable=g-direct-tensorflow-import
from tensorflow.python.ops import gen_math_ops  # pylint: disable=g-direct-tensorflow-import


@dataclasses.dataclass
class Count:
  flops: float = 0.0


def einsum_flops(equation: str, shapes: list) -> float:
  """FLOPs of a one- or two-operand einsum without ellipsis: each output
  element multiplies (and, with a contracted index, adds) once per
  combination of the indices it does not keep."""
  inputs, output = equation.replace(" ", "").split("->")
  if "." in equation:
    raise NotImplementedError(f"einsum with an ellipsis: {equation}")
  sizes = {}
  for labels, shape in zip(inputs.split(","), shapes):
    sizes.update(zip(labels, shape))
  contracted = set(sizes) - set(output)
  if len(inputs.split(",")) == 1:
    return 0.0  # a transpose or a sum: no multiply
  return (2.0 if contracted else 1.0) * math.prod(sizes.values())


@contextlib.contextmanager
def matmul_flops():
  """Runs the block eagerly and yields a `Count` of its matrix FLOPs."""
  count = Count()
  originals = {}

  def patch(module, name, flops_of):
    original = getattr(module, name)
    originals[(module, name)] = original

    def counted(*args, **kwargs):
      out = original(*args, **kwargs)
      count.flops += flops_of(out, *args, **kwargs)
      return out

    setattr(module, name, counted)

  def mat_mul(out, a, b, transpose_a=False, **_):
    return 2.0 * math.prod(out.shape) * a.shape[-2 if transpose_a else -1]

  def batch_mat_mul(out, x, y, adj_x=False, **_):
    return 2.0 * math.prod(out.shape) * x.shape[-2 if adj_x else -1]

  def einsum(out, inputs, equation, **_):
    return einsum_flops(equation.decode() if isinstance(equation, bytes)
                        else equation, [list(t.shape) for t in inputs])

  eager = tf.config.functions_run_eagerly()
  patch(gen_math_ops, "mat_mul", mat_mul)
  for name in ("batch_mat_mul", "batch_mat_mul_v2", "batch_mat_mul_v3"):
    patch(gen_math_ops, name, batch_mat_mul)
  patch(gen_linalg_ops, "einsum", einsum)
  tf.config.run_functions_eagerly(True)
  try:
    yield count
  finally:
    tf.config.run_functions_eagerly(eager)
    for (module, name), original in originals.items():
      setattr(module, name, original)
