r"""Prepare a corpus: audio files -> TFRecord shards of codes + manifest.json.

    python -m common.prepare --input=~/music --input=extra.flac \
        --output_dir=data/my_corpus [--sample_rate=16000 --quantization=mu_law]

Decodes every audio file found (in parallel over `--workers` processes),
resamples, quantizes and cuts it into chunks; each file goes wholly into
one split (train/val/test), chosen by a hash of its bytes (or of the group
`--split_by` finds in its path). Re-running into the same `--output_dir`
with the same settings adds only new content; an interrupted run is
cleaned up and completed by the next. All the work is in `common.corpus`.
"""

from __future__ import annotations

import os

from absl import flags

from common import cli
from common import corpus
from common import quantization

def main(argv: list[str]) -> int:
  """Prepares the corpus the flags describe; prints its summary."""
  del argv
  f = flags.FLAGS
  manifest = corpus.prepare(
      f.input, f.output_dir, workers=f.workers, progress=True,
      shard_megabytes=f.shard_megabytes, sample_rate=f.sample_rate,
      quantization=f.quantization, q_levels=f.q_levels,
      chunk_seconds=f.chunk_seconds, trim_silence_db=f.trim_silence_db,
      val_fraction=f.val_fraction, test_fraction=f.test_fraction,
      seed=f.seed, split_by=f.split_by)
  seconds = manifest.pop("_new_source_seconds")
  taken = manifest["seconds_taken"]
  print(corpus.summary_text(manifest))
  if seconds:
    print(f"prepared {seconds / 60:.1f} min of audio in {taken:.1f} s "
          f"({seconds / max(taken, 1e-9):.0f}x real time)")
  print(f"wrote {os.path.join(f.output_dir, corpus.MANIFEST)}")
  return 0


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
  flags.DEFINE_integer("workers", None, "Decoding processes (default: CPUs).")
  flags.DEFINE_integer("shard_megabytes", 64, "Shard size in MB of codes.")
  flags.mark_flags_as_required(["input", "output_dir"])


def run() -> None:
  """Console-script entry point (`neuralsynth-prepare`)."""
  cli.run(main, define_flags, __doc__, user_errors=(corpus.PrepareError,))


if __name__ == "__main__":
  run()
