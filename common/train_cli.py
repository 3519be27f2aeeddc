"""The train command of every model family: flags, `main` and `run`.

A family's train module (`<family>/train.py`) is one line,
`train_cli.run(family, default_preset, __doc__)`: the flags are defined
here (listed by `--help`), user errors reported by `common.cli`, and all the
work is in `common.trainer.train` (the model and its audio summaries come
from the family plug-in, `common.family`).
"""

from __future__ import annotations

import functools

from absl import flags

from common import checkpoint as ckpt_lib
from common import cli
from common import config as config_lib
from common import corpus
from common import data as data_lib
from common import train_errors

# Flags that override a config key of the same name when given.
OVERRIDE_FLAGS = ("batch_size", "seq_len", "num_windows", "learning_rate",
                  "num_steps", "checkpoint_every", "keep_checkpoints",
                  "validate_every", "val_batches", "early_stopping_patience",
                  "grad_clip_norm", "seed", "jit_compile")
# The errors a user can cause (`common.cli.run` prints them in one line).
USER_ERRORS = (train_errors.TrainingError, corpus.PrepareError,
               data_lib.DataError, ckpt_lib.CheckpointError)


def quiet_logs() -> None:
  """Only warnings from absl/TF Python logging (no per-checkpoint INFO)."""
  from absl import logging  # pylint: disable=g-import-not-at-top
  logging.set_verbosity(logging.WARNING)


def define_flags(family: str, default_preset: str) -> None:
  flags.DEFINE_string("data_dir", None, "A corpus made by common.prepare.")
  flags.DEFINE_string("model_dir", None, "Where the config, checkpoints and "
                      "TensorBoard logs go. Re-running the same command "
                      "resumes from the last checkpoint here.")
  flags.DEFINE_string("config", default_preset, "A preset name (one of: "
                      f"{', '.join(config_lib.list_presets(family))}) or a "
                      "path to a JSON config file.")
  flags.DEFINE_multi_string("set", [], "Override any config key: "
                            "--set=seq_len=2048 (value parsed as JSON; every "
                            "key: docs/config.md)")
  flags.DEFINE_integer("batch_size", None, "Sequences per step (all replicas "
                       "together).")
  flags.DEFINE_integer("seq_len", None, "Samples predicted per training "
                       "window (the truncated-BPTT length).")
  flags.DEFINE_integer("num_windows", None, "Consecutive windows per crop "
                       "(state carried across them).")
  flags.DEFINE_float("learning_rate", None, "Peak learning rate (Adam).")
  flags.DEFINE_integer("num_steps", None, "Train until this total step.")
  flags.DEFINE_integer("checkpoint_every", None, "Steps between checkpoints.")
  flags.DEFINE_integer("keep_checkpoints", None, "Checkpoints kept.")
  flags.DEFINE_integer("validate_every", None, "Steps between validations.")
  flags.DEFINE_integer("val_batches", None, "Batches per validation (0: all).")
  flags.DEFINE_integer("early_stopping_patience", None, "Stop after this many "
                       "validations without improvement (0: never).")
  flags.DEFINE_float("grad_clip_norm", None, "Clip gradients to this global "
                     "norm (0: off).")
  flags.DEFINE_integer("seed", None, "Seed of data order and weights.")
  flags.DEFINE_bool("jit_compile", None, "Compile the training step with XLA "
                    "(single replica only; some presets turn it on).")
  flags.DEFINE_string("init_from", None, "Fine-tune: start a new run from the "
                      "weights of this model (a model directory or a "
                      "pretrained/ one; its best checkpoint) at step 0. The "
                      "model must be the same; batch, windows and learning "
                      "rate may differ, and the inputs a family allows "
                      "may be added (docs/config.md, 'fine-tune: add'). "
                      "Ignored when --model_dir already holds a checkpoint "
                      "(the run resumes).")
  flags.DEFINE_enum("strategy", "default",
                    ["default", "mirrored", "multi_worker", "tpu"],
                    "tf.distribute strategy (multi_worker reads TF_CONFIG).")
  flags.DEFINE_string("tpu", None, "TPU name or address, for --strategy=tpu.")
  flags.mark_flags_as_required(["data_dir", "model_dir"])


def config_from_flags(family: str) -> dict:
  """The config of `--config`, `--set` and the override flags."""
  f = flags.FLAGS
  overrides = config_lib.parse_overrides(f.set)
  for name in OVERRIDE_FLAGS:
    if getattr(f, name) is not None:
      overrides[name] = getattr(f, name)
  return config_lib.load(family, f.config, overrides)


def main(family: str, argv: list[str]) -> int:
  """Parses the flags into a config and trains; returns the exit code."""
  del argv
  from common import trainer  # pylint: disable=g-import-not-at-top (TF)
  quiet_logs()
  f = flags.FLAGS
  result = trainer.train(config_from_flags(family), f.data_dir, f.model_dir,
                         strategy=f.strategy, tpu=f.tpu,
                         init_from=f.init_from)
  best = result["best"]
  print(f"stopped at step {result['step']} ({result['stop_reason']}); "
        f"last checkpoint {result['checkpoint']}")
  if best:
    print(f"best validation: {best['nll_bits']:.4f} bits/sample at step "
          f"{best['step']}")
  return 0


def run(family: str, default_preset: str, doc: str | None) -> None:
  """Runs a family's train command through `common.cli.run`."""
  cli.run(functools.partial(main, family),
          lambda: define_flags(family, default_preset), doc,
          user_errors=USER_ERRORS)
