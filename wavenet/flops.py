"""The arithmetic of one cached WaveNet step (no TensorFlow at import).

`wavenet.fastgen` makes a sample with one matrix product per layer and a
few more; these are their shapes and FLOPs, for `eval.speed` and
`common.timing.arithmetic_limit`.
"""

from __future__ import annotations

from wavenet import embeddings


def step_matmuls(config: dict) -> list[tuple[int, int]]:
  """`(rows, cols)` of each matrix one cached decoder step multiplies by.

  The start conv (`filter_length` taps of 1 input, 2 with the pitch period
  input -> `width`), per layer the dilated conv with its conditioning rows
  (`filter_length * width + embedding_width -> 2 * width`) and the residual
  1x1 (`width -> width`, none in the last layer), all skip 1x1s as one
  product (`(layers + 1) * width -> skip_width`), and the output stack
  (`skip_width (+ embedding_width) -> skip_width -> q_levels`).
  """
  k, w, s = config["filter_length"], config["width"], config["skip_width"]
  n, q = config["num_layers"], config["q_levels"]
  e = (embeddings.embedding_width(config)
       if config["conditioning"] == "encoder" else 0)
  inputs = 2 if config.get("pitch_period_input") else 1
  shapes = [(k * inputs, w)]
  for i in range(n):
    shapes.append((k * w + e, 2 * w))
    if i < n - 1:
      shapes.append((w, w))
  return shapes + [((n + 1) * w, s), (s + e, s), (s, q)]


def flops_per_sample(config: dict) -> float:
  """Matmul FLOPs (2 per multiply-add) of one cached step, per sequence.

  Elementwise work (gates, biases, sampling) is left out; see
  `step_matmuls`. NSynth preset: ~119 MFLOP.
  """
  return float(2 * sum(rows * cols for rows, cols in step_matmuls(config)))
