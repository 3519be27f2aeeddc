r"""Encode audio into NSynth embeddings: `python -m wavenet.encode`.

    python -m wavenet.encode --model_dir=runs/nsynth --input=notes/ \
        --output_dir=embeddings [--batch_size=8 --checkpoint=best --overwrite]

Every audio file (any format `common.audio` reads, mixed to mono and
resampled to the model's sample rate) becomes `OUT/<relative stem>.npy`, a
float32 array `[frames, width]` at `sample_rate / hop_length` frames per
second (`width` = `bottleneck_width`, plus `pitch_bins` for a
pitch-conditioned model: its last values are each frame's measured pitch as
a two-hot over semitones, see `wavenet.pitch`), and a JSON sidecar
`OUT/<relative stem>.json` (source file, samples, seconds, sample_rate,
hop_length, frames, model_dir, checkpoint step, ...). The relative stem is
the file's path under the `--input` folder without its extension (just the
name for a single file).

`frames = ceil(samples / hop_length)`; files of the same length are encoded
together (a file's embeddings do not depend on its batch) and files longer
than `--window_seconds` in windows with enough context to give the same
result (`wavenet.embeddings`). The model must be an autoencoder
(`conditioning: encoder`).
"""

from __future__ import annotations

import sys

from wavenet import embeddings


def _define_flags() -> None:
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string("model_dir", None, "A trained WaveNet autoencoder.")
  flags.DEFINE_multi_string("input", None, "Audio file or folder "
                            "(recursive); repeat the flag for more.")
  flags.DEFINE_string("output_dir", None, "Where <stem>.npy and <stem>.json "
                      "go.")
  flags.DEFINE_integer("batch_size", 8, "Files of equal length encoded "
                       "together.")
  flags.DEFINE_string("checkpoint", "best", "best, last, or a checkpoint "
                      "path prefix.")
  flags.DEFINE_float("window_seconds", embeddings.DEFAULT_WINDOW_SECONDS,
                     "Longer files are encoded in windows of this length "
                     "(same result, bounded memory); 0: never.")
  flags.DEFINE_boolean("skip_bad", False, "Skip unreadable files (reported) "
                       "instead of stopping at the first.")
  flags.DEFINE_boolean("overwrite", False, "Replace existing outputs.")
  flags.mark_flags_as_required(["model_dir", "input", "output_dir"])


def main(argv: list[str]) -> int:
  from absl import flags  # pylint: disable=g-import-not-at-top
  if len(argv) > 1:
    print(f"error: unexpected arguments {' '.join(argv[1:])}",
          file=sys.stderr)
    return 1
  f = flags.FLAGS
  skipped: list[tuple[str, str]] = []
  paths = embeddings.encode_files(
      f.model_dir, f.input, f.output_dir, batch_size=f.batch_size,
      checkpoint=f.checkpoint, overwrite=f.overwrite,
      window_seconds=f.window_seconds or None, skip_bad=f.skip_bad,
      skipped=skipped)
  for path in paths:
    print(path)
  for _, reason in skipped:
    print(f"skipped {reason}", file=sys.stderr)
  return 1 if skipped else 0


def run() -> None:
  """Console-script entry point (`wavenet-encode`)."""
  # pylint: disable=g-import-not-at-top
  from common import checkpoint
  from common import cli
  cli.run(main, _define_flags, __doc__,
          user_errors=(embeddings.EmbeddingsError, checkpoint.CheckpointError))


if __name__ == "__main__":
  run()
