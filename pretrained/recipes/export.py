r"""Export a trained model directory as a small pretrained model.

    python -m pretrained.recipes.export --model_dir=runs/samplernn_bach \
        --output_dir=pretrained/samplernn_bach [--checkpoint=best]

Writes config.json and weights/ (model variables only: no optimizer state,
no data iterator), and copies the corpus manifest's settings beside them as
data_settings.json, so the shipped model says what data it expects.
"""

import os

from absl import flags

flags.DEFINE_string("model_dir", None, "A directory written by a train "
                    "command.")
flags.DEFINE_string("output_dir", None, "Where the pretrained model goes.")
flags.DEFINE_string("checkpoint", "best", "best, last or a path prefix.")
flags.DEFINE_string("data_dir", None, "The corpus it was trained on (its "
                    "manifest settings are recorded).")
flags.DEFINE_bool("overwrite", False, "Replace an existing export.")
flags.mark_flags_as_required(["model_dir", "output_dir"])


def main(argv):
  del argv
  from common import checkpoint  # pylint: disable=g-import-not-at-top
  from common import config as config_lib  # pylint: disable=g-import-not-at-top
  from common import family as family_lib  # pylint: disable=g-import-not-at-top
  from common import files  # pylint: disable=g-import-not-at-top
  f = flags.FLAGS
  family = config_lib.load_saved(f.model_dir)["family"]
  checkpoint.export(f.model_dir, f.output_dir,
                    family_lib.get(family).build_model, f.checkpoint,
                    overwrite=f.overwrite)
  if f.data_dir:
    manifest = files.read_json(os.path.join(f.data_dir, "manifest.json"))
    files.write_json(os.path.join(f.output_dir, "data_settings.json"),
                     dict(manifest["settings"], splits={
                         k: {kk: v[kk] for kk in ("num_files", "hours")}
                         for k, v in manifest["splits"].items()}))
  print(f"exported {f.model_dir} ({f.checkpoint}) to {f.output_dir}")
  return 0


if __name__ == "__main__":
  from common import cli  # pylint: disable=g-import-not-at-top
  cli.run(main, doc=__doc__)
