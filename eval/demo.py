r"""The main job behind `make demo`: compare the shipped pretrained models.

    python -m eval.demo [--seconds=12] [--long] [--report_dir=runs/demo/report]

1. Prepares the bundled clips in `pretrained/clips/` (Bach chorale excerpts
   and single notes, held out from training) as two small test corpora.
2. Runs `eval.compare` on the models in `pretrained/` — a SampleRNN and an
   unconditional WaveNet trained on the same Bach corpus, and a WaveNet
   autoencoder trained on single notes (evaluated on the notes) — with short
   generations by default (`--long` for 60 s ones, as in the model cards).
3. Prints the key numbers and where the report is.

Models missing from `pretrained/` are left out with a message.

The report folder is remade on every run, but only if it is empty or an
earlier report of this command (it holds `demo.json`, written before the
report): any other non-empty `--report_dir` is refused, never deleted.
"""

from __future__ import annotations

import os
import sys
from typing import Callable, Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRETRAINED = os.path.join(ROOT, "pretrained")
CLIPS = os.path.join(PRETRAINED, "clips")
# name -> (model directory under pretrained/, corpus it is evaluated on)
MODELS = {
    "samplernn": ("samplernn_bach", "music"),
    "wavenet_unconditional": ("wavenet_bach", "music"),
    "wavenet_autoencoder": ("wavenet_notes", "notes"),
}
TITLE = "neuralsynth: the shipped SampleRNN and WaveNet models compared"
# Marks a report folder as this command's own (see `claim_report_dir`).
MARKER = "demo.json"


def prepare_clips(work_dir: str, progress: bool = True) -> dict[str, str]:
  """Prepares the bundled clips as test-only corpora; returns {kind: dir}."""
  from common import corpus  # pylint: disable=g-import-not-at-top
  out = {}
  for kind in ("music", "notes"):
    data_dir = os.path.join(work_dir, f"clips_{kind}")
    if not os.path.exists(os.path.join(data_dir, corpus.MANIFEST)):
      corpus.prepare([os.path.join(CLIPS, kind)], data_dir,
                      chunk_seconds=1.0, val_fraction=0.0, test_fraction=1.0,
                      workers=1, progress=progress)
    out[kind] = data_dir
  return out


def available_models(pretrained_dir: str = PRETRAINED
                     ) -> dict[str, tuple[str, str]]:
  """{name: (model_dir, corpus kind)} of the shipped models that exist."""
  found = {}
  for name, (sub, kind) in MODELS.items():
    path = os.path.join(pretrained_dir, sub)
    if os.path.exists(os.path.join(path, "config.json")):
      found[name] = (path, kind)
  return found


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


def run_demo(work_dir: str, report_dir: str, seconds: float = 12.0,
             num_seqs: int = 2, clips: int = 4,
             speed_batches: Sequence[int] = (1, 4), with_f0: bool = True,
             progress: bool = True, pretrained_dir: str = PRETRAINED,
             nll_batches: int = 0, speed_seconds: float = 0.5,
             clip_seconds: float = 4.0,
             log: Callable[[str], None] = print) -> dict:
  """The whole main job; returns the comparison's results dict.

  Refuses (FileExistsError) a non-empty `report_dir` that is no earlier
  report of this function (see `claim_report_dir`).
  """
  claim_report_dir(report_dir, dict(
      seconds=seconds, num_seqs=num_seqs, clips=clips,
      speed_batches=list(speed_batches), with_f0=with_f0,
      nll_batches=nll_batches, speed_seconds=speed_seconds,
      clip_seconds=clip_seconds))
  from eval import comparison  # pylint: disable=g-import-not-at-top
  models = available_models(pretrained_dir)
  for name, (sub, _) in MODELS.items():
    if name not in models:
      log(f"note: pretrained/{sub} is not there; {name} is left out")
  if not models:
    raise comparison.CompareError(f"{pretrained_dir}: no pretrained models")
  corpora = prepare_clips(work_dir, progress)
  music = any(kind == "music" for _, kind in models.values())
  data_dir = corpora["music" if music else "notes"]
  # `overwrite` replaces only what a report writes (the marker stays).
  return comparison.compare(
      {n: d for n, (d, _) in models.items()}, data_dir, report_dir,
      model_data={n: corpora[k] for n, (_, k) in models.items()
                  if corpora[k] != data_dir},
      seconds=seconds, num_seqs=num_seqs, clips=clips, seed=0,
      clip_seconds=clip_seconds, nll_batches=nll_batches,
      speed_batches=speed_batches, speed_seconds=speed_seconds,
      with_f0=with_f0, progress=progress, title=TITLE, log=log,
      overwrite=True)


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
  report_dir = f.report_dir or os.path.join(f.work_dir, "report")
  results = run_demo(f.work_dir, report_dir,
                     seconds=60.0 if f.long else f.seconds,
                     num_seqs=f.num_seqs, clips=f.clips,
                     speed_batches=cli.positive_ints(f.speed_batches,
                                                     "speed_batches"),
                     with_f0=f.f0)
  print(comparison.summary_text(results))
  print(f"\nreport: {os.path.abspath(os.path.join(report_dir, 'index.html'))}")
  return 0


def define_flags() -> None:
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string("work_dir", os.path.join(ROOT, "runs", "demo"),
                      "Where the prepared clips go.")
  flags.DEFINE_string("report_dir", None, "Where the report goes (default "
                      "WORK_DIR/report). Remade on every run; a non-empty "
                      "folder that is no earlier demo report is refused.")
  flags.DEFINE_float("seconds", 12.0, "Length of each long generation.")
  flags.DEFINE_bool("long", False, "60 s generations (as the model cards).")
  flags.DEFINE_integer("num_seqs", 2, "Generations per model.")
  flags.DEFINE_integer("clips", 4, "Clips to reconstruct / continue.")
  flags.DEFINE_string("speed_batches", "1,4", "Batch sizes of the speed "
                      "sweep.")
  flags.DEFINE_bool("f0", True, "pYIN f0 metrics (slow).")


def run() -> None:
  """Console-script entry point."""
  from common import cli  # pylint: disable=g-import-not-at-top
  from eval import comparison  # pylint: disable=g-import-not-at-top
  cli.run(main, define_flags, __doc__, user_errors=comparison.USER_ERRORS)


if __name__ == "__main__":
  run()
