"""Generate audio with a trained SampleRNN: one wav (+ JSON sidecar) per
sequence.

    python -m samplernn.generate --model_dir=runs/piano --output_dir=out \\
        --num_seqs=4 --seconds=10 --temperature=0.9,1.0,1.1,1.2 --seed=7

Sequence `i` has the seed `--seed + i` and its own temperature, both
recorded in its sidecar. `--prime=x.wav` continues that audio. Re-running
the same command after an interruption finishes the job.

The work is `common.generation.generate_files`; the generator is
`samplernn.generator`.
"""

from __future__ import annotations


def _define_flags() -> None:
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string("model_dir", None, "A trained model directory.")
  flags.DEFINE_string("output_dir", None, "Where to write the wav files.")
  flags.DEFINE_integer("num_seqs", 1, "Sequences to generate (one batch).")
  flags.DEFINE_float("seconds", 5.0, "Seconds of audio per sequence.")
  flags.DEFINE_string("temperature", "1.0",
                      "Sampling temperature, or one per sequence: T1,T2,...")
  flags.DEFINE_integer("seed", 0, "Random seed of the first sequence "
                       "(sequence i: seed + i).")
  flags.DEFINE_string("prime", None, "Audio file to continue.")
  flags.DEFINE_boolean("include_prime", False,
                       "Write the prime before the continuation.")
  flags.DEFINE_string("checkpoint", "best", "best, last, or a checkpoint path.")
  flags.DEFINE_string("name", "samplernn", "Output files: <name>_<i>.wav.")
  flags.DEFINE_float("block_seconds", 1.0, "Seconds per compiled call.")
  flags.DEFINE_boolean("overwrite", False, "Replace existing output files.")
  flags.mark_flags_as_required(["model_dir", "output_dir"])


def main(argv: list[str]) -> int:
  del argv
  # pylint: disable=g-import-not-at-top
  from absl import flags
  from common import generation
  f = flags.FLAGS
  paths = generation.generate_files(
      f.model_dir, f.output_dir, num_seqs=f.num_seqs, seconds=f.seconds,
      temperature=f.temperature, seed=f.seed, prime=f.prime,
      include_prime=f.include_prime, checkpoint=f.checkpoint, name=f.name,
      block_seconds=f.block_seconds, overwrite=f.overwrite,
      family="samplernn")
  for path in paths:
    print(path)
  return 0


def run() -> None:
  """Console-script entry point (`samplernn-generate`)."""
  # pylint: disable=g-import-not-at-top
  from common import checkpoint
  from common import cli
  from common import generator
  cli.run(main, _define_flags, __doc__,
          user_errors=(generator.RequestError, checkpoint.CheckpointError))


if __name__ == "__main__":
  run()
