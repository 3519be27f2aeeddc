"""Export a model to run without neuralsynth: a SavedModel and a TFLite step.

    python -m common.export --model_dir=pretrained/samplernn_bach \\
        --output_dir=exports/samplernn_bach --format=saved_model,tflite

writes OUT/saved_model/ (TensorFlow alone loads it: block-wise generation
with an explicit state, encode/decode for an autoencoder) and
OUT/tflite/model.tflite (one step with the state as inputs and outputs),
each with export.json (sample rate, quantization, q_levels, the state,
every signature's tensors), config.json and the model card. The same seed
and temperature give exactly the codes neuralsynth gives. An existing
output directory is refused (--overwrite replaces it once the new export
is complete).

The work is `common.exporting.export`; the signatures are each family's
`<family>/export.py`.
"""

from __future__ import annotations


def _define_flags() -> None:
  # pylint: disable=g-import-not-at-top
  from absl import flags
  from common import exporting
  flags.DEFINE_string("model_dir", None, "A trained (or shipped) model "
                      "directory.")
  flags.DEFINE_string("output_dir", None, "The new export directory.")
  flags.DEFINE_string("format", "saved_model",
                      "saved_model, tflite, or both: saved_model,tflite.")
  flags.DEFINE_string("checkpoint", "best", "best, last, or a checkpoint "
                      "path.")
  flags.DEFINE_integer("max_batch", exporting.DEFAULT_MAX_BATCH,
                       "The SavedModel serves 1 .. max_batch sequences per "
                       "call.")
  flags.DEFINE_boolean("overwrite", False, "Replace an existing export.")
  flags.mark_flags_as_required(["model_dir", "output_dir"])


def main(argv: list[str]) -> int:
  del argv
  # pylint: disable=g-import-not-at-top
  from absl import flags
  from common import exporting
  f = flags.FLAGS
  written = exporting.export(
      f.model_dir, f.output_dir, exporting.parse_formats(f.format),
      which=f.checkpoint, max_batch=f.max_batch, overwrite=f.overwrite)
  for path in written.values():
    print(path)
  return 0


def run() -> None:
  """Console-script entry point (`neuralsynth-export`)."""
  # pylint: disable=g-import-not-at-top
  from common import checkpoint
  from common import cli
  from common import exporting
  cli.run(main, _define_flags, __doc__,
          user_errors=(exporting.ExportError, checkpoint.CheckpointError))


if __name__ == "__main__":
  run()
