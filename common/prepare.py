r"""Prepare a corpus: audio files -> TFRecord shards of codes + manifest.json.

    python -m common.prepare --input=~/music --input=extra.flac \
        --output_dir=data/my_corpus [--sample_rate=16000 --quantization=mu_law]

Decodes every audio file found (in parallel over `--workers` processes),
resamples, quantizes and cuts it into chunks; each file goes wholly into
one split (train/val/test), chosen by a hash of its bytes (or of the group
`--split_by` finds in its path). Re-running into the same `--output_dir`
with the same settings adds only new content; an interrupted run is
cleaned up and completed by the next. All the work is in `common.corpus`.

With `--runner`, the same preparation runs as an Apache Beam pipeline
(`common.corpus_beam`; `pip install -e .[beam]`) and gives the same corpus:
on this machine with `--runner=DirectRunner` (worker processes), or on a
cluster, inputs and output on its storage:

    python -m common.prepare --input=gs://b/music --output_dir=gs://b/corpus \
        --runner=DataflowRunner --pipeline_options="--project=p \
        --region=europe-west1 --temp_location=gs://b/tmp --setup_file=./setup.py"
"""

from __future__ import annotations

import logging
import os
from typing import Any

from absl import flags

from common import cli
from common import corpus
from common import quantization

LOCAL = "local"


def main(argv: list[str]) -> int:
  """Prepares the corpus the flags describe; prints its summary."""
  del argv
  f = flags.FLAGS
  settings = dict(
      shard_megabytes=f.shard_megabytes, sample_rate=f.sample_rate,
      quantization=f.quantization, q_levels=f.q_levels,
      chunk_seconds=f.chunk_seconds, trim_silence_db=f.trim_silence_db,
      val_fraction=f.val_fraction, test_fraction=f.test_fraction,
      seed=f.seed, split_by=f.split_by)
  if f.runner == LOCAL:
    manifest = corpus.prepare(f.input, f.output_dir, workers=f.workers,
                              progress=True, **settings)
  else:
    # Beam relays its workers' logs line by line: keep warnings and errors.
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    manifest = _beam().prepare(f.input, f.output_dir, runner=f.runner,
                               pipeline_args=f.pipeline_options,
                               workers=f.workers, **settings)
  seconds = manifest.pop("_new_source_seconds")
  taken = manifest["seconds_taken"]
  print(corpus.summary_text(manifest))
  if seconds:
    print(f"prepared {seconds / 60:.1f} min of audio in {taken:.1f} s "
          f"({seconds / max(taken, 1e-9):.0f}x real time)")
  if "_counters" in manifest:
    print("beam counters: " + ", ".join(
        f"{k}={v}" for k, v in manifest["_counters"].items()))
  print(f"wrote {os.path.join(f.output_dir, corpus.MANIFEST)}")
  return 0


def _beam() -> Any:
  """`common.corpus_beam`, or a clear error if Apache Beam is missing."""
  try:
    from common import corpus_beam  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise corpus.PrepareError(
        f"--runner={flags.FLAGS.runner}: needs Apache Beam ({e}); install "
        f"it with `pip install -e .[beam]`") from None
  return corpus_beam


def define_flags() -> None:
  flags.DEFINE_multi_string("input", None, "Audio file or folder (recursive); "
                            "repeat the flag for more.")
  flags.DEFINE_string("output_dir", None, "Where shards and manifest.json go.")
  flags.DEFINE_integer("sample_rate", 16000, "Target sample rate in Hz.")
  flags.DEFINE_enum("quantization", "mu_law", list(quantization.KINDS),
                    "Quantizer.")
  flags.DEFINE_integer("q_levels", 256, "Number of quantization levels.")
  flags.DEFINE_float("chunk_seconds", 4.0, "Length of each stored chunk; "
                     "training crops are cut from chunks, so this bounds "
                     "the crop length. Files shorter than this are skipped.")
  flags.DEFINE_float("trim_silence_db", None, "If set, silent stretches "
                     "(RMS below this dBFS) longer than 0.5 s are cut to "
                     "0.5 s. Off by default (quiet note tails are music).")
  flags.DEFINE_float("val_fraction", 0.1, "Share of files in val.")
  flags.DEFINE_float("test_fraction", 0.1, "Share of files in test.")
  flags.DEFINE_integer("seed", 0, "Seed of the split hash.")
  flags.DEFINE_string("split_by", None, "Regular expression: files whose "
                      "relative paths give the same first group go to the "
                      "same split, e.g. '(.*)-\\d+\\.wav$' keeps all "
                      "velocities of an instrument's note together. Without "
                      "it, a hash of each file's bytes picks its split.")
  flags.DEFINE_integer("workers", None, "Decoding processes (default: CPUs); "
                       "with --runner=DirectRunner, Beam's worker processes.")
  flags.DEFINE_string("runner", LOCAL, f"{LOCAL!r}: this machine's process "
                      "pool. Else an Apache Beam runner (needs the [beam] "
                      "extra) running the same preparation as a pipeline: "
                      "DirectRunner (this machine, multi-process), "
                      "DataflowRunner, FlinkRunner, SparkRunner, ...")
  flags.DEFINE_string("pipeline_options", "", "Beam pipeline options, as "
                      "one string, e.g. \"--project=p --region=r "
                      "--temp_location=gs://b/tmp --setup_file=./setup.py\".")
  flags.DEFINE_float("shard_megabytes", 64, "Shard size in MB of codes.")
  flags.mark_flags_as_required(["input", "output_dir"])


def run() -> None:
  """Console-script entry point (`neuralsynth-prepare`)."""
  cli.run(main, define_flags, __doc__, user_errors=(corpus.PrepareError,))


if __name__ == "__main__":
  run()
