r"""Compare trained models side by side: `python -m eval.compare`.

    python -m eval.compare --model=srnn=runs/srnn --model=wn=runs/wavenet \
        --data_dir=data/mine --report_dir=reports/mine \
        [--seconds=60 --num_seqs=2 --clips=4 --seed=0]

Any number of models of either family; the real test audio is the reference
row. For every model it computes and saves:

- likelihood: teacher-forced test-split NLL in bits per sample (and nats),
  over at most `--nll_batches` batches of sequential windows (all by
  default), plus the same converted to bits per 16-bit sample (the bins'
  widths in 16-bit steps added, so mu-law and linear models compare), and
  the order-0 entropy of the test codes (the histogram baseline);
- reconstructions (an autoencoder): `--clips` test clips of up to
  `--clip_seconds`, encoded and decoded, scored against the originals;
- continuations (a model that can be primed, e.g. SampleRNN): the same
  clips' first `--prime_seconds` prime the model, which continues for the
  rest; the spectral, chroma and f0 metrics cover the continued part only;
- long unconditional generations (any model that needs no conditioning):
  `--num_seqs` of `--seconds` each, scored for long-range coherence against
  equal-length crops of the real test audio;
- speed: samples/s over `--speed_batches`, time to first block, peak memory,
  FLOPs per sample against the arithmetic limit (`eval.throughput`).

All audio is made by each model's generator (`common.generator`; sequence
`i` has the seed `--seed + i`, as in every tool), streamed to wav files
(`common.generation.stream_to_wavs`), and those files are scored by
`eval.scoring`, the code behind `eval.score`, which scores folders of audio
made elsewhere.

The report (index.html, report.md, metrics.json) goes to `--report_dir`, with
all the audio it made. The same seed gives the same numbers (speed aside).
A model may be evaluated on its own corpus with `--model_data=NAME=DIR`
(e.g. an autoencoder trained on notes beside music models).
"""

from __future__ import annotations

import os
import warnings

from eval import comparison


def main(argv: list[str]) -> int:
  from absl import flags  # pylint: disable=g-import-not-at-top
  from absl import logging  # pylint: disable=g-import-not-at-top
  from common import cli  # pylint: disable=g-import-not-at-top
  del argv
  logging.set_verbosity(logging.WARNING)
  warnings.filterwarnings("ignore", category=UserWarning, module="librosa")
  f = flags.FLAGS
  results = comparison.compare(
      comparison.parse_named(f.model, "--model"), f.data_dir, f.report_dir,
      model_data=comparison.parse_named(f.model_data, "--model_data"),
      seconds=f.seconds, num_seqs=f.num_seqs, clips=f.clips,
      clip_seconds=f.clip_seconds, prime_seconds=f.prime_seconds,
      seed=f.seed, temperature=f.temperature, nll_batches=f.nll_batches,
      speed_batches=cli.positive_ints(f.speed_batches, "speed_batches"),
      speed_seconds=f.speed_seconds, checkpoint=f.checkpoint,
      with_f0=f.f0, overwrite=f.overwrite, title=f.title)
  print(comparison.summary_text(results))
  print(f"report: {os.path.abspath(os.path.join(f.report_dir, 'index.html'))}")
  return 0


def define_flags() -> None:
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_multi_string("model", [], "NAME=MODEL_DIR (repeatable): a "
                            "trained or pretrained model of either family.")
  flags.DEFINE_string("data_dir", None, "Prepared corpus: its test split is "
                      "the real reference.")
  flags.DEFINE_multi_string("model_data", [], "NAME=DATA_DIR: evaluate this "
                            "model's likelihood/reconstructions on another "
                            "prepared corpus.")
  flags.DEFINE_string("report_dir", None, "Where the report goes.")
  flags.DEFINE_float("seconds", 60.0, "Length of each long generation.")
  flags.DEFINE_integer("num_seqs", 2, "Long generations per model.")
  flags.DEFINE_integer("clips", 4, "Test clips to reconstruct / continue.")
  flags.DEFINE_float("clip_seconds", 4.0, "Length of those clips.")
  flags.DEFINE_float("prime_seconds", 1.0, "Prime of each continuation.")
  flags.DEFINE_integer("seed", 0, "Seed of crops, sampling and statistics.")
  flags.DEFINE_float("temperature", 1.0, "Sampling temperature.")
  flags.DEFINE_integer("nll_batches", 0, "Batches of test windows for the "
                       "NLL (0: the whole test split).")
  flags.DEFINE_string("speed_batches", "1,4", "Batch sizes of the speed "
                      "sweep.")
  flags.DEFINE_float("speed_seconds", 0.5, "Seconds per timed speed run.")
  flags.DEFINE_string("checkpoint", "best", "best, last or a path prefix.")
  flags.DEFINE_bool("f0", True, "pYIN f0 metrics (slow).")
  flags.DEFINE_bool("overwrite", False, "Replace an existing report.")
  flags.DEFINE_string("title", None, "Report title.")
  flags.mark_flags_as_required(["data_dir", "report_dir"])


def run() -> None:
  """Console-script entry point (`neuralsynth-compare`)."""
  from common import cli  # pylint: disable=g-import-not-at-top
  cli.run(main, define_flags, __doc__, user_errors=comparison.USER_ERRORS)


if __name__ == "__main__":
  run()
