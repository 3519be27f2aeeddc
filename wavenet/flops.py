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
  input -> `width`), per layer the dilated conv (`filter_length * width ->
  2 * width`) and the residual 1x1 (`width -> width`, none in the last
  layer), all skip 1x1s as one product (`(layers + 1) * width ->
  skip_width`), and the output stack (`skip_width -> skip_width ->
  q_levels`). The conditioning projections are not per sample: they run
  once per embedding frame (`flops_per_sample` adds their share).
  """
  k, w, s = config["filter_length"], config["width"], config["skip_width"]
  n, q = config["num_layers"], config["q_levels"]
  inputs = 2 if config.get("pitch_period_input") else 1
  shapes = [(k * inputs, w)]
  for i in range(n):
    shapes.append((k * w, 2 * w))
    if i < n - 1:
      shapes.append((w, w))
  return shapes + [((n + 1) * w, s), (s, s), (s, q)]


def flops_per_sample(config: dict) -> float:
  """Matmul FLOPs (2 per multiply-add) of one cached step, per sequence:
  `step_matmuls`, plus the conditioning projections (`embedding_width`
  rows into every layer's `2 * width` gate inputs and the output stack's
  `skip_width`), made once per frame and so shared by `hop_length`
  samples.

  Elementwise work (gates, biases, sampling) is left out.
  """
  per_sample = 2 * sum(rows * cols for rows, cols in step_matmuls(config))
  if config["conditioning"] != "encoder":
    return float(per_sample)
  e, hop = embeddings.embedding_width(config), config["hop_length"]
  per_frame = 2 * e * (config["num_layers"] * 2 * config["width"] +
                       config["skip_width"])
  return float(per_sample + per_frame / hop)
