r"""Where the shipped models and clips are, in a checkout or an installed wheel.

    neuralsynth-pretrained                         # every item and its path
    neuralsynth-pretrained --name=samplernn_bach   # one path, e.g.:
    samplernn-generate --output_dir=out --seconds=5 \
        --model_dir=$(neuralsynth-pretrained --name=samplernn_bach)

The models and clips are package data of the `pretrained` package, so they
sit in `pretrained/` of the checkout and in `site-packages/pretrained/` of
an installed wheel; in Python, `pretrained.paths.path("samplernn_bach")`.
An item missing (an install without the package data) is refused with one
line that says so.
"""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.abspath(__file__))
_MODEL_FILES = ("config.json", os.path.join("weights", "checkpoint"))
# name -> the files that must be there (relative to the item's folder).
SHIPPED: dict[str, tuple[str, ...]] = {
    "samplernn_bach": _MODEL_FILES,
    "wavenet_bach": _MODEL_FILES,
    "wavenet_notes": _MODEL_FILES,
    "wavenet_live": _MODEL_FILES,
    "clips": ("LICENSE.md",),
    "clips/music": ("clips.json",),
    "clips/notes": ("notes.json",),
}


class PretrainedError(FileNotFoundError):
  """An unknown or missing shipped item; the message is one line."""


def path(name: str) -> str:
  """The absolute path of a shipped model directory or clips folder.

  Args:
    name: one of `SHIPPED`, e.g. "samplernn_bach" or "clips/notes".

  Raises:
    PretrainedError: `name` is not shipped, or its files are not there.
  """
  if name not in SHIPPED:
    raise PretrainedError(f"{name}: not a shipped model or clips folder; "
                          f"one of {', '.join(SHIPPED)}")
  where = os.path.join(ROOT, *name.split("/"))
  missing = [f for f in SHIPPED[name]
             if not os.path.isfile(os.path.join(where, f))]
  if missing:
    raise PretrainedError(
        f"{os.path.join(where, missing[0])}: not installed; this neuralsynth "
        f"install lacks the shipped models and clips (package data): install "
        f"it from its wheel or a checkout of the repository")
  return where


def main(argv: list[str]) -> int:
  """Prints the path of `--name`, or of every shipped item as
  `name<TAB>path` lines; 1 if one is missing."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  if len(argv) > 1:
    print(f"error: unexpected arguments {' '.join(argv[1:])}; see --help",
          file=sys.stderr)
    return 2
  name = flags.FLAGS.name
  if name:
    print(path(name))
    return 0
  status = 0
  for name in SHIPPED:
    try:
      print(f"{name}\t{path(name)}")
    except PretrainedError as e:
      print(f"error: {e}", file=sys.stderr)
      status = 1
  return status


def define_flags() -> None:
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_enum("name", None, list(SHIPPED), "The shipped model or clips "
                    "folder whose path to print (default: list them all).")


def run() -> None:
  """Console-script entry point (`neuralsynth-pretrained`)."""
  from common import cli  # pylint: disable=g-import-not-at-top
  cli.run(main, define_flags, __doc__, user_errors=(PretrainedError,))


if __name__ == "__main__":
  run()
