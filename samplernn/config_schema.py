"""SampleRNN's keys: the frame tiers, their RNNs and the sample-level MLP.

Declared as data for `common.schema` (the model: `samplernn/model.py`); the
defaults are the `small` preset's.
"""

from common.schema import ConfigError
from common.schema import Key

KEYS = (
    Key("frame_sizes", list[int], [16, 64], "Samples per frame of each "
        "frame tier, in any order: [16, 64] is three tiers (64- and "
        "16-sample frames, then the sample-level MLP), [16] two.", min=1),
    Key("dim", int, 256, "Width of the RNN states, the upsampling and the "
        "sample-level MLP.", min=1),
    Key("rnn_type", str, "gru", "The frame tiers' recurrent cell.",
        choices=("gru", "lstm")),
    Key("num_rnn_layers", int, 2, "Stacked RNN layers per frame tier.",
        min=1),
    Key("emb_size", int, 256, "Width of the sample-level MLP's embedding "
        "of each code.", min=1),
    Key("skip_connections", bool, False, "Feed every RNN layer's output to "
        "the tier's upsampling (else only the last layer's)."),
    Key("learned_initial_state", bool, True, "Train the RNN states a crop "
        "starts from (else they stay zero)."),
)


def frame_sizes_top_down(frame_sizes: list[int]) -> tuple[int, ...]:
  """The frame sizes, largest (the top tier's) first, e.g. (64, 16).

  Raises:
    ConfigError: empty, repeated, or one not a multiple of the next smaller.
  """
  sizes = tuple(sorted(frame_sizes, reverse=True))
  if not sizes:
    raise ConfigError("frame_sizes: must hold at least one size, got []")
  if len(set(sizes)) != len(sizes):
    raise ConfigError(f"frame_sizes: must be distinct, got {frame_sizes}")
  for upper, lower in zip(sizes, sizes[1:]):
    if upper % lower:
      raise ConfigError(f"frame_sizes: {upper} is not a multiple of {lower}")
  return sizes


def check(config: dict) -> None:
  """Rules across keys: each frame size is a multiple of the next smaller
  one, and `seq_len` is a multiple of the largest (a training window is
  whole top frames, so the state carried to the next window is exact)."""
  top = frame_sizes_top_down(config["frame_sizes"])[0]
  if config["seq_len"] % top:
    raise ConfigError(f"seq_len: must be a multiple of the top frame size "
                      f"{top}, got {config['seq_len']}")
