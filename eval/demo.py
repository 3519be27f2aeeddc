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
"""

import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRETRAINED = os.path.join(ROOT, "pretrained")
CLIPS = os.path.join(PRETRAINED, "clips")
# name -> (model directory under pretrained/, corpus it is evaluated on)
MODELS = {
    "samplernn": ("samplernn_bach", "music"),
    "wavenet_unconditional": ("wavenet_bach", "music"),
    "wavenet_autoencoder": ("wavenet_notes", "notes"),
}


def prepare_clips(work_dir, progress=True):
  """Prepares the bundled clips as test-only corpora; returns {kind: dir}."""
  from common import prepare  # pylint: disable=g-import-not-at-top
  out = {}
  for kind in ("music", "notes"):
    data_dir = os.path.join(work_dir, f"clips_{kind}")
    if not os.path.exists(os.path.join(data_dir, prepare.MANIFEST)):
      prepare.prepare([os.path.join(CLIPS, kind)], data_dir,
                      chunk_seconds=1.0, val_fraction=0.0, test_fraction=1.0,
                      workers=1, progress=progress)
    out[kind] = data_dir
  return out


def available_models(pretrained_dir=PRETRAINED):
  """{name: (model_dir, corpus kind)} of the shipped models that exist."""
  found = {}
  for name, (sub, kind) in MODELS.items():
    path = os.path.join(pretrained_dir, sub)
    if os.path.exists(os.path.join(path, "config.json")):
      found[name] = (path, kind)
  return found


def run_demo(work_dir, report_dir, seconds=12.0, num_seqs=2, clips=4,
             speed_batches=(1, 4), with_f0=True, progress=True,
             pretrained_dir=PRETRAINED, nll_batches=0, speed_seconds=0.5,
             clip_seconds=4.0, log=print):
  """The whole main job; returns the comparison's results dict."""
  from eval import compare  # pylint: disable=g-import-not-at-top
  models = available_models(pretrained_dir)
  for name, (sub, _) in MODELS.items():
    if name not in models:
      log(f"note: pretrained/{sub} is not there; {name} is left out")
  if not models:
    raise compare.CompareError(f"{pretrained_dir}: no pretrained models")
  corpora = prepare_clips(work_dir, progress)
  music = any(kind == "music" for _, kind in models.values())
  data_dir = corpora["music" if music else "notes"]
  if os.path.exists(report_dir):
    shutil.rmtree(report_dir)  # the demo's own output, remade every run
  return compare.compare(
      {n: d for n, (d, _) in models.items()}, data_dir, report_dir,
      model_data={n: corpora[k] for n, (_, k) in models.items()
                  if corpora[k] != data_dir},
      seconds=seconds, num_seqs=num_seqs, clips=clips, seed=0,
      clip_seconds=clip_seconds, nll_batches=nll_batches,
      speed_batches=speed_batches, speed_seconds=speed_seconds,
      with_f0=with_f0, progress=progress,
      title="neuralsynth: the shipped SampleRNN and WaveNet models compared",
      log=log)


def main(argv):
  from absl import flags  # pylint: disable=g-import-not-at-top
  from absl import logging  # pylint: disable=g-import-not-at-top
  from eval import compare  # pylint: disable=g-import-not-at-top
  del argv
  logging.set_verbosity(logging.WARNING)
  f = flags.FLAGS
  report_dir = f.report_dir or os.path.join(f.work_dir, "report")
  try:
    results = run_demo(f.work_dir, report_dir,
                       seconds=60.0 if f.long else f.seconds,
                       num_seqs=f.num_seqs, clips=f.clips,
                       speed_batches=[int(b) for b in
                                      f.speed_batches.split(",")],
                       with_f0=f.f0)
  except (compare.CompareError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  print(compare.summary_text(results))
  print(f"\nreport: {os.path.abspath(os.path.join(report_dir, 'index.html'))}")
  return 0


def define_flags():
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string("work_dir", os.path.join(ROOT, "runs", "demo"),
                      "Where the prepared clips go.")
  flags.DEFINE_string("report_dir", None, "Where the report goes (default "
                      "WORK_DIR/report; remade on every run).")
  flags.DEFINE_float("seconds", 12.0, "Length of each long generation.")
  flags.DEFINE_bool("long", False, "60 s generations (as the model cards).")
  flags.DEFINE_integer("num_seqs", 2, "Generations per model.")
  flags.DEFINE_integer("clips", 4, "Clips to reconstruct / continue.")
  flags.DEFINE_string("speed_batches", "1,4", "Batch sizes of the speed "
                      "sweep.")
  flags.DEFINE_bool("f0", True, "pYIN f0 metrics (slow).")


def run():
  from absl import app  # pylint: disable=g-import-not-at-top
  define_flags()
  app.run(lambda argv: sys.exit(main(argv)))


if __name__ == "__main__":
  run()
