"""WaveNet's keys: the decoder, the autoencoder's encoder and its pitch inputs.

Declared as data for `common.schema` (the model: `wavenet/model.py`); the
defaults are the `small` preset's. The `ae_*`, `bottleneck_width` and
`hop_length` keys shape the encoder: a model with `conditioning: "none"`
has none and does not read them.
"""

from common.schema import ADDED_INPUT
from common.schema import ConfigError
from common.schema import FEWER
from common.schema import FINE_TUNE
from common.schema import Key

KEYS = (
    Key("conditioning", str, "encoder", "encoder: the autoencoder (the "
        "decoder is conditioned on the encoder's embeddings of its input); "
        "none: an unconditional WaveNet.", choices=("encoder", "none")),
    Key("num_layers", int, 20, "Gated residual layers of the causal "
        "decoder. A fine-tuned model may have fewer than its source: it "
        "starts from the source's first layers (a faster decoder, e.g. the "
        "`live` preset).", min=1, changes=FEWER),
    Key("num_stages", int, 10, "The decoder's dilation cycle: layer i has "
        "dilation 2^(i mod num_stages).", min=1),
    Key("filter_length", int, 3, "Taps of the decoder's dilated "
        "convolutions.", min=1),
    Key("width", int, 32, "Channels of the decoder's residual stream.",
        min=1),
    Key("skip_width", int, 32, "Channels of the decoder's skip outputs and "
        "output stack.", min=1),
    Key("ae_num_layers", int, 10, "Residual layers of the non-causal "
        "encoder.", min=1),
    Key("ae_num_stages", int, 10, "The encoder's dilation cycle: layer i has "
        "dilation 2^(i mod ae_num_stages).", min=1),
    Key("ae_filter_length", int, 3, "Taps of the encoder's dilated "
        "convolutions.", min=1),
    Key("ae_width", int, 32, "Channels of the encoder's residual stream.",
        min=1),
    Key("bottleneck_width", int, 16, "Learned values per embedding frame.",
        min=1),
    Key("hop_length", int, 512, "Samples per embedding frame (embeddings "
        "run at sample_rate / hop_length Hz).", min=1),
    Key("pitch_bins", int, 0, "Pitch conditioning: semitone bins of the "
        "frame's YIN pitch two-hot appended to each embedding (0: none).",
        min=0, changes=ADDED_INPUT, implied=0),
    Key("pitch_min_midi", int, 24, "Pitch conditioning: the MIDI pitch of "
        "the lowest bin.", min=0, max=127, changes=ADDED_INPUT,
        with_key="pitch_bins", implied=24),
    Key("pitch_period_input", bool, False, "The decoder also reads its "
        "signal one pitch period (from the embedding's pitch) back.",
        changes=ADDED_INPUT, implied=False),
    Key("input_jitter", int, 0, "Training only: the decoder reads each code "
        "moved by a uniform random offset in [-k, k] (0: clean codes).",
        min=0, changes=FINE_TUNE, implied=0),
)


def check(config: dict) -> None:
  """Rules across keys: pitch conditioning (`pitch_bins` > 0) needs
  `conditioning` "encoder", and `pitch_period_input` needs pitch
  conditioning."""
  if config["pitch_bins"] and config["conditioning"] != "encoder":
    raise ConfigError("pitch_bins: pitch conditioning (pitch_bins > 0) "
                      "needs conditioning=encoder")
  if config["pitch_period_input"] and not config["pitch_bins"]:
    raise ConfigError("pitch_period_input: needs pitch conditioning "
                      "(pitch_bins > 0)")


def check_training(config: dict) -> None:
  """Rules for training only: a pitch-conditioned model's training windows
  hold at least one frame's whole YIN window (`wavenet.pitch`)."""
  from wavenet import pitch  # pylint: disable=g-import-not-at-top (loads TF)
  pitch.check_training_window(config)
