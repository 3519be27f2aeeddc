r"""Decode NSynth embeddings or audio to audio: `python -m wavenet.synthesize`.

    python -m wavenet.synthesize --model_dir=runs/nsynth --output_dir=out \
        --embeddings=embeddings/            # .npy file or folder: decode
    python -m wavenet.synthesize --model_dir=runs/nsynth --output_dir=out \
        --input=notes/                      # audio: encode, then decode
    python -m wavenet.synthesize --model_dir=runs/uncond --output_dir=out \
        --seconds=4 --num_seqs=2            # unconditional WaveNet
    [--batch_size=8 --temperature=T or T1,T2,... --seed=K --checkpoint=best
     --transpose=SEMITONES --overwrite]

Outputs: `OUT/<relative stem>.wav` for each `.npy` (from `wavenet.encode`:
float32 `[frames, width]`) or audio file, or `OUT/<name>_<i>.wav`
for unconditional sequences; each with a JSON sidecar `<stem>.json` (source,
frames, samples, temperature, seed, model, speed).

Lengths: `frames` embedding frames decode to `frames * hop_length` samples
(so a resynthesis is `ceil(samples / hop) * hop` samples long, up to
`hop_length - 1` more than its source). `--seconds` is in seconds of audio.

Seeding: output `i` (in the order the inputs are listed, or the `i` of
`<name>_<i>.wav`) has the seed `--seed + i` and its own temperature
(`--temperature` is one value or one per output), whatever batch it is
generated in: the same model, embeddings, seed and temperature give the same
audio in every tool. Embeddings with the same number of frames are
generated together, `--batch_size` at a time, and streamed to disk
(`wavenet.synthesis`).
"""

from __future__ import annotations

import sys

from common import threads
from wavenet import synthesis


def _define_flags() -> None:
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string("model_dir", None, "A trained WaveNet.")
  flags.DEFINE_string("output_dir", None, "Where the wavs and JSON sidecars "
                      "go.")
  flags.DEFINE_multi_string("embeddings", None, ".npy embeddings file or "
                            "folder (recursive) to decode; repeatable.")
  flags.DEFINE_multi_string("input", None, "Audio file or folder to encode "
                            "and decode (resynthesis); repeatable.")
  flags.DEFINE_float("seconds", None, "Unconditional generation: seconds per "
                     "sequence (model with conditioning none).")
  flags.DEFINE_integer("num_seqs", 1, "Unconditional sequences.")
  flags.DEFINE_integer("batch_size", 8, "Sequences generated together.")
  flags.DEFINE_string("temperature", "1.0", "Sampling temperature, or one "
                      "per output: T1,T2,... (0 = argmax).")
  flags.DEFINE_integer("seed", 0, "Output i (input order) has the "
                       "seed seed + i.")
  flags.DEFINE_float("transpose", 0.0, "Semitones to move the pitch by, up "
                     "if positive (autoencoders with pitch conditioning).")
  flags.DEFINE_string("checkpoint", "best", "best, last, or a checkpoint "
                      "path prefix.")
  flags.DEFINE_string("name", "wavenet", "Unconditional outputs: "
                      "<name>_<i>.wav.")
  flags.DEFINE_boolean("overwrite", False, "Replace existing outputs.")
  threads.define_flag(default=1)
  flags.mark_flags_as_required(["model_dir", "output_dir"])


def main(argv: list[str]) -> int:
  from absl import flags  # pylint: disable=g-import-not-at-top
  if len(argv) > 1:
    print(f"error: unexpected arguments {' '.join(argv[1:])}",
          file=sys.stderr)
    return 1
  f = flags.FLAGS
  threads.apply(f.threads)
  paths = synthesis.synthesize_files(
      f.model_dir, f.output_dir, embeddings=f.embeddings, inputs=f.input,
      seconds=f.seconds, num_seqs=f.num_seqs, batch_size=f.batch_size,
      temperature=f.temperature, seed=f.seed, checkpoint=f.checkpoint,
      name=f.name, overwrite=f.overwrite, transpose=f.transpose)
  for path in paths:
    print(path)
  return 0


def run() -> None:
  """Console-script entry point (`wavenet-synthesize`)."""
  # pylint: disable=g-import-not-at-top
  from common import checkpoint
  from common import cli
  from common import generator
  from wavenet import embeddings
  cli.run(main, _define_flags, __doc__, user_errors=(
      synthesis.SynthesisError, embeddings.EmbeddingsError,
      generator.RequestError, checkpoint.CheckpointError))


if __name__ == "__main__":
  run()
