r"""The main job behind `make demo`: compare the shipped pretrained models.

    python -m eval.demo [--seconds=12] [--long] [--report_dir=runs/demo/report]

Runs the benchmark `eval/suites/demo.json` (a suite file, `eval.suite`):

1. Prepares the bundled clips in `pretrained/clips/` (Bach chorale excerpts
   and single notes, held out from training) as two small test corpora in
   WORK_DIR/corpora/.
2. Runs `eval.compare` on the models in `pretrained/` — a SampleRNN and an
   unconditional WaveNet trained on the same Bach corpus, and a WaveNet
   autoencoder trained on single notes (evaluated on the notes) — with the
   suite's settings: 12 s generations (`--long` for 60 s ones, as in the
   model cards), the likelihood of every clip from 1 s to its end, and the
   likelihood against context over the first 2 s of that.
3. Prints the key numbers and where the report is.

The flags given replace the suite's settings. Models missing from
`pretrained/` are left out with a message.

The report folder is remade on every run, but only if it is empty or an
earlier report of this command (it holds `demo.json`, written before the
report): any other non-empty `--report_dir` is refused, never deleted.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
  from eval import suite as suite_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUITE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "suites",
                     "demo.json")
# The title of this command's reports (recognises one from before MARKER).
TITLE = "neuralsynth: the shipped SampleRNN and WaveNet models compared"
# Marks a report folder as this command's own (see `claim_report_dir`).
MARKER = "demo.json"


def load_suite(path: str = SUITE) -> suite_lib.Suite:
  """The demo's suite: its models, corpora and settings."""
  from eval import suite  # pylint: disable=g-import-not-at-top
  return suite.load(path)


def available_models(demo: suite_lib.Suite | None = None
                     ) -> dict[str, tuple[str, str]]:
  """{name: (model_dir, corpus name)} of the suite's runs whose model is
  there (a directory with a config.json)."""
  demo = demo or load_suite()
  return {run.name: (run.model_dir, run.corpus) for run in demo.runs
          if os.path.exists(os.path.join(run.model_dir, "config.json"))}


def claim_report_dir(report_dir: str, settings: dict) -> bool:
  """Makes `report_dir` this command's: True if it holds an earlier report.

  An empty or missing folder is claimed by writing `MARKER` (with
  `settings`) into it; a folder with the marker (or, from before the marker
  existed, a `metrics.json` with this command's title) is an earlier report
  and is claimed again. Any other non-empty folder raises FileExistsError:
  the demo replaces only its own reports.
  """
  from common import files  # pylint: disable=g-import-not-at-top
  marker = os.path.join(report_dir, MARKER)
  files.remove_stale_temporaries(marker)  # a start killed mid-write
  earlier = False
  if os.path.isdir(report_dir) and os.listdir(report_dir):
    earlier = os.path.exists(marker)
    if not earlier:
      try:
        metrics = files.read_json(os.path.join(report_dir, "metrics.json"))
        earlier = isinstance(metrics, dict) and metrics.get("title") == TITLE
      except (OSError, ValueError):
        earlier = False
    if not earlier:
      raise FileExistsError(
          f"{report_dir}: not empty and not a report of eval.demo (no "
          f"{MARKER}); choose another --report_dir or empty it")
  files.write_json(marker, dict(made_by="eval.demo", settings=settings))
  return earlier


def run_demo(work_dir: str, report_dir: str,
             log: Callable[[str], None] = print, suite_path: str = SUITE,
             **settings: Any) -> dict:
  """The whole main job; returns the comparison's results dict.

  Args:
    work_dir: where the clips are prepared.
    report_dir: where the report goes. Refused (FileExistsError) if not
      empty and no earlier report of this function (`claim_report_dir`).
    log: progress messages.
    suite_path: the suite to run (the demo's).
    **settings: `eval.comparison.Settings` fields that replace the
      suite's, e.g. seconds=60.

  Raises:
    suite.SuiteError: none of the suite's models is there.
  """
  claim_report_dir(report_dir, dict(settings, suite=suite_path))
  from eval import suite  # pylint: disable=g-import-not-at-top
  demo = suite.load(suite_path)
  found = available_models(demo)
  for run in demo.runs:
    if run.name not in found:
      log(f"note: {os.path.relpath(run.model_dir, ROOT)} is not there; "
          f"{run.name} is left out")
  if not found:
    raise suite.SuiteError(f"{suite_path}: none of its models is there")
  # `overwrite` replaces only what a report writes (the marker stays).
  return suite.run(
      dataclasses.replace(demo, runs=tuple(r for r in demo.runs
                                           if r.name in found)),
      report_dir, work_dir, settings, overwrite=True, log=log)


# The flags that replace the suite's settings: flag -> Settings field.
SETTING_FLAGS = {"seconds": "seconds", "num_seqs": "num_seqs",
                 "clips": "clips", "speed_batches": "speed_batches",
                 "f0": "with_f0"}


def main(argv: list[str]) -> int:
  from absl import flags  # pylint: disable=g-import-not-at-top
  from absl import logging  # pylint: disable=g-import-not-at-top
  from common import cli  # pylint: disable=g-import-not-at-top
  from eval import comparison  # pylint: disable=g-import-not-at-top
  if len(argv) > 1:
    print(f"error: unexpected arguments {' '.join(argv[1:])}",
          file=sys.stderr)
    return 2
  logging.set_verbosity(logging.WARNING)
  f = flags.FLAGS
  settings: dict[str, Any] = {field: f[name].value for name, field
                              in SETTING_FLAGS.items() if f[name].present}
  if "speed_batches" in settings:
    settings["speed_batches"] = tuple(cli.positive_ints(
        settings["speed_batches"], "speed_batches"))
  if f.long:
    settings["seconds"] = 60.0
  report_dir = f.report_dir or os.path.join(f.work_dir, "report")
  results = run_demo(f.work_dir, report_dir, **settings)
  print(comparison.summary_text(results))
  print(f"\nreport: {os.path.abspath(os.path.join(report_dir, 'index.html'))}")
  return 0


def define_flags() -> None:
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string("work_dir", os.path.join("runs", "demo"),
                      "Where the prepared clips go (relative: to the "
                      "current folder).")
  flags.DEFINE_string("report_dir", None, "Where the report goes (default "
                      "WORK_DIR/report). Remade on every run; a non-empty "
                      "folder that is no earlier demo report is refused.")
  flags.DEFINE_float("seconds", None, "Length of each long generation "
                     "(default: the suite's).")
  flags.DEFINE_bool("long", False, "60 s generations (as the model cards).")
  flags.DEFINE_integer("num_seqs", None, "Generations per model (default: "
                       "the suite's).")
  flags.DEFINE_integer("clips", None, "Clips to reconstruct / continue "
                       "(default: the suite's).")
  flags.DEFINE_string("speed_batches", None, "Batch sizes of the speed "
                      "sweep (default: the suite's).")
  flags.DEFINE_bool("f0", True, "pYIN f0 metrics (slow).")


def run() -> None:
  """Console-script entry point."""
  from common import cli  # pylint: disable=g-import-not-at-top
  from common import corpus  # pylint: disable=g-import-not-at-top
  from eval import comparison  # pylint: disable=g-import-not-at-top
  from eval import suite  # pylint: disable=g-import-not-at-top
  cli.run(main, define_flags, __doc__, user_errors=(
      *comparison.USER_ERRORS, suite.SuiteError, corpus.PrepareError))


if __name__ == "__main__":
  run()
