"""The arithmetic of SampleRNN generation (no TensorFlow at import).

`samplernn.generator` makes a top frame of samples (e.g. 64) with one step
of the top tier, `ratio` steps of the tier below per step above, and one
step of the sample MLP per sample. These are the matrices it multiplies by
and their FLOPs, for `eval.speed` and `common.timing.arithmetic_limit`.
"""

from __future__ import annotations

from samplernn import config_schema


def _tiers(config: dict) -> tuple[tuple[int, ...], tuple[int, ...]]:
  """(frame sizes top first, each frame tier's lower steps per step)."""
  sizes = config_schema.frame_sizes_top_down(config["frame_sizes"])
  ratios = tuple(upper // lower
                 for upper, lower in zip(sizes, sizes[1:] + (1,)))
  return sizes, ratios


def step_matmuls(config: dict) -> list[tuple[int, int]]:
  """`(rows, cols)` of each matrix the generator multiplies by to make one
  top frame (`max(frame_sizes)` samples), in the order it does.

  The per-frame tiers are amortised honestly: a tier appears once per step
  it takes in that frame (the top tier once, the next `ratio` times, ...),
  the sample MLP once per sample, so the list has the generator's mix of
  matrix shapes and `2 * sum(rows * cols) / top frame size` is the matmul
  FLOPs per sample (`flops_per_sample`). A tier step: its input projection
  (`frame_size -> dim`), per RNN layer the input and recurrent products
  (`dim -> gates * dim`, 3 gates for a GRU, 4 for an LSTM), the upsampling
  (`dim` (times the layers with skip connections) `-> ratio * dim`; the
  bottom tier's has the sample MLP's first hidden layer folded in). A
  sample: the second hidden layer (`dim -> dim`) and the output layer
  (`dim -> q_levels`); the window's first layer is table rows (adds, not
  listed).
  """
  sizes, ratios = _tiers(config)
  dim, q_levels = int(config["dim"]), int(config["q_levels"] or 256)
  layers = int(config["num_rnn_layers"])
  gates = 3 if config["rnn_type"] == "gru" else 4
  skip = layers if config["skip_connections"] else 1

  def tier(k: int) -> list[tuple[int, int]]:
    shapes = [(sizes[k], dim)] + [(dim, gates * dim)] * (2 * layers)
    shapes.append((skip * dim, ratios[k] * dim))
    below = tier(k + 1) if k + 1 < len(sizes) else [(dim, dim),
                                                     (dim, q_levels)]
    return shapes + below * ratios[k]

  return tier(0)


def flops_per_sample(config: dict, folded: bool = True) -> float:
  """Floating-point operations per generated sample, per sequence.

  Multiply-adds count 2 FLOPs for every matmul (`step_matmuls` over a top
  frame), plus `frame_size * dim` adds for the sample MLP's table lookup.
  `folded=True` counts what the generator runs (the first hidden layer
  folded into the tables and the bottom upsampling); `folded=False` the
  plain architecture (one more `dim x dim` layer per sample). The `small`
  preset: ~0.53 MFLOP.
  """
  sizes, _ = _tiers(config)
  dim = int(config["dim"])
  matmuls = 2 * sum(rows * cols for rows, cols in step_matmuls(config))
  flops = matmuls / sizes[0] + sizes[-1] * dim
  if not folded:
    flops += 2 * dim * dim
  return float(flops)
