"""The keys every config holds: its family, data settings and training recipe.

Declared as data for `common.schema`; `common.trainer` reads the training
keys, every model the data settings. The data settings (`DATA_KEYS`) are
taken from the prepared corpus's manifest at training time (null in a
preset: whatever the corpus has) and checked against it whenever a model
meets data.
"""

from common import quantization
from common.schema import ConfigError
from common.schema import FINE_TUNE
from common.schema import Key
from common.schema import REQUIRED
from common.schema import RESUME

DATA_KEYS = ("sample_rate", "quantization", "q_levels")

KEYS = (
    Key("family", str, REQUIRED,
        "The model family: the package that declares the model's keys "
        "(set by the command)."),
    # The data settings.
    Key("sample_rate", int, None, "Samples per second of the audio (Hz); "
        "null: the corpus's.", min=1, nullable=True),
    Key("quantization", str, None, "How audio becomes codes "
        "(`common.quantization`); null: the corpus's.",
        choices=quantization.KINDS, nullable=True),
    Key("q_levels", int, None, "Number of codes, the classes of the "
        "softmax; null: the corpus's.", min=2, max=65536, nullable=True),
    # How the model is fed.
    Key("batch_size", int, 16, "Sequences per optimizer step (all replicas "
        "together).", min=1, changes=FINE_TUNE),
    Key("seq_len", int, 1024, "Samples predicted per training window (the "
        "truncated-BPTT length).", min=1, changes=FINE_TUNE),
    Key("num_windows", int, 1, "Consecutive windows per training crop; the "
        "model's state is carried across them.", min=1, changes=FINE_TUNE),
    Key("seed", int, 0, "Seed of the initial weights, the data order "
        "(files, shuffling, crops) and the model's training randomness, all "
        "drawn per step.",
        min=0, max=2**32 - 1, changes=FINE_TUNE),
    Key("shuffle_buffer", int, 64, "Training chunks permuted together "
        "(each epoch in consecutive blocks of this many).", min=1, changes=FINE_TUNE),
    # Bookkeeping.
    Key("num_steps", int, 100000, "The step to train to (re-running the "
        "command resumes towards it).", min=1, changes=RESUME),
    Key("checkpoint_every", int, 500, "Steps between checkpoints (0: only "
        "at the end).", min=0, changes=RESUME),
    Key("keep_checkpoints", int, 3, "Latest checkpoints kept.", min=1,
        changes=RESUME),
    Key("validate_every", int, 500, "Steps between validations on the val "
        "split (0: only at the end).", min=0, changes=RESUME),
    Key("val_batches", int, 16, "Batches per validation (0: the whole val "
        "split).", min=0, changes=RESUME),
    Key("early_stopping_patience", int, 0, "Stop after this many "
        "validations without improvement (0: never).", min=0,
        changes=RESUME),
    Key("summary_every", int, 100, "Steps between TensorBoard scalar "
        "summaries (0: none).", min=0, changes=RESUME),
    Key("audio_summary_every", int, 2000, "Steps between TensorBoard audio "
        "summaries (0: none).", min=0, changes=RESUME),
    Key("audio_summary_seconds", float, 1.0, "Length of each audio summary "
        "(s).", min=0, min_exclusive=True, changes=RESUME),
    Key("jit_compile", bool, False, "Compile the training step with XLA "
        "(single replica only).", changes=RESUME, implied=False),
    # The optimization schedule.
    Key("learning_rate", float, 0.001, "Adam's learning rate (the peak, "
        "after warm-up).", min=0, changes=RESUME),
    Key("lr_schedule", str, "exponential", "After warm-up: exponential "
        "decay (`lr_decay_steps`, `lr_decay_rate`), piecewise constant "
        "(`lr_boundaries`, `lr_values`) or constant `learning_rate`.",
        choices=("exponential", "piecewise", "constant"), changes=RESUME),
    Key("lr_boundaries", list[int], [], "piecewise: the steps at which the "
        "rate changes, increasing.", min=1, changes=RESUME),
    Key("lr_values", list[float], [], "piecewise: the rate up to the first "
        "boundary, between them and after the last.", min=0,
        changes=RESUME),
    Key("lr_decay_steps", int, 0, "exponential: steps per decay by "
        "`lr_decay_rate` (0: no decay).", min=0, changes=RESUME),
    Key("lr_decay_rate", float, 0.5, "exponential: factor of the rate per "
        "`lr_decay_steps` steps.", min=0, min_exclusive=True,
        changes=RESUME),
    Key("lr_warmup_steps", int, 0, "Steps of linear warm-up from 0 (0: "
        "none).", min=0, changes=RESUME),
    Key("min_learning_rate", float, 1e-5, "Floor of the learning rate.",
        min=0, changes=RESUME),
    Key("grad_clip_norm", float, 1.0, "Clip gradients to this global norm "
        "(0: no clipping).", min=0, changes=RESUME),
)


def check(config: dict) -> None:
  """Rules across keys: with `lr_schedule` "piecewise", `lr_values` holds one
  rate more than `lr_boundaries` (or both are empty: `learning_rate`
  throughout) and the boundaries increase; the other schedules take
  neither."""
  bounds, values = config["lr_boundaries"], config["lr_values"]
  if config["lr_schedule"] != "piecewise":
    if bounds or values:
      raise ConfigError(f"lr_boundaries, lr_values: only lr_schedule "
                        f"piecewise reads them, and it is "
                        f"{config['lr_schedule']!r}")
    return
  if (bounds or values) and len(values) != len(bounds) + 1:
    raise ConfigError(f"lr_values: {len(bounds)} lr_boundaries need "
                      f"{len(bounds) + 1} values, got {len(values)}")
  if any(b >= c for b, c in zip(bounds, bounds[1:])):
    raise ConfigError(f"lr_boundaries: must increase, got {bounds}")
