"""Prints the config reference, or writes it to docs/config.md.

    python -m common.config_reference [--write_reference]

The reference lists every config key of every family, generated from the
schemas (`common.schema.reference_markdown`); a test keeps docs/config.md
current.
"""

from __future__ import annotations

import sys

from absl import flags

from common import cli
from common import schema


def _define_flags() -> None:
  flags.DEFINE_bool("write_reference", False, "Write the config reference "
                    "to docs/config.md (without it: print it).")


def main(argv: list[str]) -> int:
  del argv
  if not flags.FLAGS.write_reference:
    sys.stdout.write(schema.reference_markdown())
    return 0
  schema.write_reference()
  print(f"wrote {schema.REFERENCE_PATH}")
  return 0


def run() -> None:
  """`python -m common.config_reference [--write_reference]`."""
  cli.run(main, _define_flags, __doc__)


if __name__ == "__main__":
  run()
