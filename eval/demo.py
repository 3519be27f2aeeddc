"""The main job behind `make demo`.

Runs `eval.compare` on the shipped pretrained models and the bundled test
clips, and prints where the report is. Until every pretrained model exists,
it prepares a corpus from the bundled clips and prints its summary.
"""

import os
import sys

from absl import app
from absl import flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIPS = os.path.join(ROOT, "pretrained", "clips")

flags.DEFINE_string("work_dir", os.path.join(ROOT, "runs", "demo"),
                    "Where the prepared clips and the report go.")


def main(argv):
  del argv
  from common import prepare  # pylint: disable=g-import-not-at-top
  out = os.path.join(flags.FLAGS.work_dir, "clips_music")
  manifest = prepare.prepare([os.path.join(CLIPS, "music")], out,
                             chunk_seconds=2.0, val_fraction=0.2,
                             test_fraction=0.2)
  manifest.pop("_new_source_seconds", None)
  print(prepare.summary_text(manifest))
  print(f"prepared corpus: {out}")
  return 0


def run():
  app.run(lambda argv: sys.exit(main(argv)))


if __name__ == "__main__":
  run()
