"""Scores folders of audio against a folder of real audio; no model needed.

    python -m eval.score --real=DIR --generated=NAME=DIR [--generated=...] \\
        --report_dir=OUT [--reconstructions_of=DIR] [--sample_rate=16000] \\
        [--seed=0] [--overwrite] [--nof0] [--flatness_margin=10]

For every folder (the real one included, as the reference row):

* coherence metrics per file (`eval.coherence.coherence_metrics`:
  structure_z, collapse_fraction, drift, similarity at each lag), averaged
  over files with a 95% percentile-bootstrap interval (`metrics.bootstrap_ci`,
  1000 resamples, seeded). The collapse flatness range is the 1st..99th
  percentile of the real folder's 5 s chunks widened by `flatness_margin`
  (default 10: model output with an 8-bit mu-law noise floor is not called
  collapsed; white noise still is); the drift reference is the real folder's
  long-term spectrum.
* fd_logmel / fd_mfcc of the folder's pooled 1 s windows against the real
  folder's (no CI). For the real row: between alternate files of the real
  folder (or the two halves of a single real file), for scale (with half
  the windows it reads high).
* with --reconstructions_of=DIR: files whose stem (file name without
  extension) matches an original's are scored as reconstructions of it
  (`metrics.reconstruction_metrics`, mean + CI); they appear as
  reconstructions on the page, the rest as generations. pYIN f0 is slow
  (~1 s per second of audio); --nof0 skips it (f0_rpa is then null).
* (library only, as `eval.compare` uses it) `continuations`: files that
  continue real clips after a prime, paired with them by name and scored
  past the prime as `continuation_*` metrics.

Reconstructions and continuations are scored by one function,
`pair_scores`, on the audio files as written: all generated audio of
`eval.compare` is scored here, from disk.

Files are found with `common.audio.find_audio_files` (recursive, known
extensions) and loaded with `common.audio.load` (mono, resampled). A file
that cannot be decoded, or is shorter than 1 s, is skipped with a warning on
stderr and a note in the report; a folder with no usable file is an error.
The scored audio is copied into OUT/audio/ so the report is self-contained;
then `eval.report.write_report` writes metrics.json, results.json, report.md
and index.html. An existing non-empty OUT is refused unless --overwrite (which
removes the previous report's files, and nothing else, first).
"""

from __future__ import annotations

import os
import sys
import warnings

from absl import flags

from eval import report
from eval import scoring

FLAGS = flags.FLAGS


def define_flags() -> None:
  """The CLI's flags (defined only when run as a script)."""
  flags.DEFINE_string("real", None, "Folder of real audio: the reference.")
  flags.DEFINE_multi_string(
      "generated", [], "NAME=DIR of audio to score (repeatable); a bare DIR is "
      "named after its folder.")
  flags.DEFINE_string("report_dir", None, "Output folder of the report.")
  flags.DEFINE_string("reconstructions_of", None,
                      "Folder of originals: generated files with the same stem "
                      "are scored as their reconstructions.")
  flags.DEFINE_integer("sample_rate", 16000, "Rate audio is loaded at (Hz).")
  flags.DEFINE_integer("seed", 0, "Seed of the structure null and bootstrap.")
  flags.DEFINE_bool("overwrite", False,
                    "Replace an existing report in --report_dir.")
  flags.DEFINE_bool("f0", True, "pYIN f0 agreement of reconstructions (slow).")
  flags.DEFINE_float("flatness_margin", 10.0,
                     "Widening of the real flatness range for collapse.")
  flags.DEFINE_integer("max_audio", 8, "Most players per folder on the page.")
  flags.DEFINE_string("title", None, "Page title.")


def main(argv: list[str]) -> int:
  warnings.filterwarnings("ignore", category=UserWarning, module="librosa")
  warnings.filterwarnings("ignore", message="Trying to estimate tuning")
  if len(argv) > 1:
    print(f"error: unexpected arguments {' '.join(argv[1:])}",
          file=sys.stderr)
    return 2
  if not FLAGS.real or not FLAGS.report_dir or not FLAGS.generated:
    print("error: --real, --generated and --report_dir are required; see "
          "--help", file=sys.stderr)
    return 2
  results = scoring.score(
      FLAGS.real, scoring.parse_generated(FLAGS.generated), FLAGS.report_dir,
      FLAGS.reconstructions_of, FLAGS.sample_rate, FLAGS.seed,
      FLAGS.overwrite, FLAGS.f0, FLAGS.flatness_margin, FLAGS.title,
      progress=True, max_audio=FLAGS.max_audio)
  for name, model in results["models"].items():
    m = model["metrics"]
    print(f"{name:>16}: structure_z {report.fmt(m.get('structure_z'))}  "
          f"collapse {report.fmt(m.get('collapse_fraction'))}  "
          f"fd_logmel {report.fmt(m.get('fd_logmel'))}"
          + (f"  lsd {report.fmt(m['lsd_db'])} dB" if "lsd_db" in m else ""))
  print(f"report: {os.path.abspath(results['paths']['index'])}")
  return 0


def run() -> None:
  """Console-script entry point (`neuralsynth-score`)."""
  from common import cli  # pylint: disable=g-import-not-at-top
  cli.run(main, define_flags, __doc__, user_errors=(scoring.ScoreError,))


if __name__ == "__main__":
  run()
