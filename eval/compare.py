r"""Compare trained models side by side: `python -m eval.compare`.

    python -m eval.compare --model=srnn=runs/srnn --model=wn=runs/wavenet \
        --data_dir=data/mine --report_dir=reports/mine \
        [--seconds=60 --num_seqs=2 --clips=4 --seed=0]
    python -m eval.compare --suite=bench.json --report_dir=reports/bench \
        [--work_dir=runs/bench]

Any number of models of either family; the real test audio is the reference
row. A model may be evaluated on its own corpus with `--model_data=NAME=DIR`
(e.g. an autoencoder trained on notes beside music models). Or a suite file
(`eval.suite`) declares a named benchmark: models x corpora x settings, one
report; the setting flags given replace the suite's settings, and audio
corpora are prepared into `--work_dir`. `--suite` and `--model`,
`--model_data`, `--data_dir` are exclusive.

For every model it computes and saves:

- likelihood (`eval.likelihood`): every model is scored on the same
  samples: the whole test files from `--warmup_seconds` W (the same for
  all) to their end, each model with its full context (SampleRNN carries
  its state over the whole file, a WaveNet sees its whole receptive field,
  the autoencoder encodes the whole file). NLL in bits per sample with a
  95 % interval over files, in nats, and in bits per 16-bit sample (the
  bins' widths in 16-bit steps added, so mu-law and linear models compare);
  the order-0 entropy of the same samples (the histogram baseline); the
  scored sample count and each file's NLL;
- likelihood against context: the NLL of those samples when the model may
  see only the last c of audio, for c in `--contexts` (`whole`: the whole
  file): every scored sample sees at least c and less than 2c of the past
  (SampleRNN's state is reset, a WaveNet's input cut, so its curve is flat
  past its receptive field), over the first `--curve_seconds` after W of
  each file (0: all of it); plotted with intervals, one line per model
  (`--score_seconds` likewise shortens the headline, for a quick look);
- reconstructions (an autoencoder): `--clips` test clips of up to
  `--clip_seconds`, encoded and decoded, scored against the originals;
- continuations (a model that can be primed, e.g. SampleRNN): the same
  clips' first `--prime_seconds` prime the model, which continues for the
  rest; the spectral, chroma and f0 metrics cover the continued part only;
- long unconditional generations (any model that needs no conditioning):
  `--num_seqs` of `--seconds` each, scored for long-range coherence against
  equal-length crops of the real test audio;
- speed: samples/s over `--speed_batches`, time to first block, peak memory
  of the model's run, FLOPs per sample against the arithmetic limit
  (`eval.throughput`).

All audio is made by each model's generator (`common.generator`; sequence
`i` has the seed `--seed + i`, as in every tool), streamed to wav files
(`common.generation.stream_to_wavs`), and those files are scored by
`eval.scoring`, the code behind `eval.score`, which scores folders of audio
made elsewhere.

The report (index.html, report.md, metrics.json) goes to `--report_dir`, with
all the audio it made. The same seed gives the same numbers (speed aside).
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
from typing import TYPE_CHECKING, Any

from eval import comparison

if TYPE_CHECKING:
  from absl import flags as absl_flags

_DEFAULTS = comparison.Settings()
# The flags that set `comparison.Settings` fields: flag -> field.
SETTING_FLAGS = {
    "seconds": "seconds", "num_seqs": "num_seqs", "clips": "clips",
    "clip_seconds": "clip_seconds", "prime_seconds": "prime_seconds",
    "seed": "seed", "temperature": "temperature",
    "warmup_seconds": "warmup_seconds", "contexts": "contexts",
    "curve_seconds": "curve_seconds", "score_seconds": "score_seconds",
    "speed_batches": "speed_batches",
    "speed_seconds": "speed_seconds", "checkpoint": "checkpoint",
    "f0": "with_f0"}
WHOLE = "whole"  # --contexts: the whole file


def parse_contexts(text: str) -> tuple[float | None, ...]:
  """--contexts "0.004,1,whole" -> (0.004, 1.0, None): seconds > 0, `whole`
  for the whole file; FlagError otherwise."""
  from common import cli  # pylint: disable=g-import-not-at-top
  try:
    values = tuple(None if part.strip() == WHOLE else float(part)
                   for part in str(text).split(","))
  except ValueError:
    values = ()
  if not values or any(v is not None and not 0 < v < math.inf
                       for v in values):
    raise cli.FlagError(f"--contexts={text}: expected seconds > 0 or "
                        f"{WHOLE}, separated by commas, e.g. 0.25,1,whole")
  return values


def _format_contexts(contexts: tuple[float | None, ...]) -> str:
  return ",".join(WHOLE if c is None else f"{c:g}" for c in contexts)


def settings_from_flags(f: absl_flags.FlagValues) -> dict[str, Any]:
  """{Settings field: value} of the setting flags given on the command line
  (`f`: parsed absl FlagValues)."""
  from common import cli  # pylint: disable=g-import-not-at-top
  given: dict[str, Any] = {field: f[flag].value for flag, field
                           in SETTING_FLAGS.items() if f[flag].present}
  if "speed_batches" in given:
    given["speed_batches"] = tuple(cli.positive_ints(given["speed_batches"],
                                                     "speed_batches"))
  if "contexts" in given:
    given["contexts"] = parse_contexts(given["contexts"])
  for key in ("curve_seconds", "score_seconds"):
    if key in given:
      if given[key] < 0:
        raise cli.FlagError(f"--{key}={given[key]}: expected seconds >= 0 "
                            f"(0: whole files)")
      given[key] = given[key] or None
  return given


def compare_from_flags(f: absl_flags.FlagValues) -> dict:
  """Runs the comparison the parsed flags `f` ask for; returns its results.

  Raises:
    cli.FlagError: --suite with --model/--model_data/--data_dir, or neither
      --suite nor --data_dir, or --work_dir without --suite.
  """
  from common import cli  # pylint: disable=g-import-not-at-top
  from eval import suite  # pylint: disable=g-import-not-at-top
  settings = settings_from_flags(f)
  if f.suite is not None:
    if f.model or f.model_data or f.data_dir is not None:
      raise cli.FlagError("--suite and --model, --model_data, --data_dir are "
                          "exclusive: a suite names its models and corpora")
    return suite.run(suite.load(f.suite), f.report_dir, f.work_dir, settings,
                     overwrite=f.overwrite, title=f.title)
  if f.data_dir is None:
    raise cli.FlagError("--data_dir: required (or --suite); see --help")
  if f.work_dir is not None:
    raise cli.FlagError("--work_dir: only for --suite (where a suite's "
                        "audio corpora are prepared)")
  return comparison.compare(
      comparison.parse_named(f.model, "--model"), f.data_dir, f.report_dir,
      model_data=comparison.parse_named(f.model_data, "--model_data"),
      settings=dataclasses.replace(_DEFAULTS, **settings),
      overwrite=f.overwrite, title=f.title)


def main(argv: list[str]) -> int:
  from absl import flags  # pylint: disable=g-import-not-at-top
  from absl import logging  # pylint: disable=g-import-not-at-top
  del argv
  logging.set_verbosity(logging.WARNING)
  warnings.filterwarnings("ignore", category=UserWarning, module="librosa")
  f = flags.FLAGS
  results = compare_from_flags(f)
  print(comparison.summary_text(results))
  print(f"report: {os.path.abspath(os.path.join(f.report_dir, 'index.html'))}")
  return 0


def define_flags(flag_values: absl_flags.FlagValues | None = None) -> None:
  """Defines the flags in `flag_values` (default: absl's global FLAGS)."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  fv = flags.FLAGS if flag_values is None else flag_values
  d = _DEFAULTS
  flags.DEFINE_multi_string("model", [], "NAME=MODEL_DIR (repeatable): a "
                            "trained or pretrained model of either family.",
                            flag_values=fv)
  flags.DEFINE_string("data_dir", None, "Prepared corpus: its test split is "
                      "the real reference.", flag_values=fv)
  flags.DEFINE_multi_string("model_data", [], "NAME=DATA_DIR: evaluate this "
                            "model's likelihood/reconstructions on another "
                            "prepared corpus.", flag_values=fv)
  flags.DEFINE_string("suite", None, "A suite file (JSON, see eval.suite): "
                      "models x corpora x settings, instead of --model, "
                      "--model_data and --data_dir.", flag_values=fv)
  flags.DEFINE_string("work_dir", None, "With --suite: where its audio "
                      "corpora are prepared (WORK_DIR/corpora/NAME).",
                      flag_values=fv)
  flags.DEFINE_string("report_dir", None, "Where the report goes.",
                      flag_values=fv)
  flags.DEFINE_float("seconds", d.seconds, "Length of each long generation.",
                     flag_values=fv)
  flags.DEFINE_integer("num_seqs", d.num_seqs, "Long generations per model.",
                       flag_values=fv)
  flags.DEFINE_integer("clips", d.clips, "Test clips to reconstruct / "
                       "continue.", flag_values=fv)
  flags.DEFINE_float("clip_seconds", d.clip_seconds, "Length of those clips.",
                     flag_values=fv)
  flags.DEFINE_float("prime_seconds", d.prime_seconds, "Prime of each "
                     "continuation.", flag_values=fv)
  flags.DEFINE_integer("seed", d.seed, "Seed of crops, sampling and "
                       "statistics.", flag_values=fv)
  flags.DEFINE_float("temperature", d.temperature, "Sampling temperature.",
                     flag_values=fv)
  flags.DEFINE_float("warmup_seconds", d.warmup_seconds, "Likelihood: every "
                     "test file is scored from this offset to its end (the "
                     "same for every model).", flag_values=fv)
  flags.DEFINE_string("contexts", _format_contexts(d.contexts), "Likelihood "
                      "against context: the contexts in seconds, `whole` "
                      "for the whole file.", flag_values=fv)
  flags.DEFINE_float("curve_seconds", d.curve_seconds or 0.0, "Likelihood "
                     "against context over the first this many seconds "
                     "after the warm-up of each file (0: whole files).",
                     flag_values=fv)
  flags.DEFINE_float("score_seconds", d.score_seconds or 0.0, "Likelihood: "
                     "score only this many seconds after the warm-up of "
                     "each file, for a quick look at a large test split "
                     "(0: to the end).", flag_values=fv)
  flags.DEFINE_string("speed_batches", ",".join(map(str, d.speed_batches)),
                      "Batch sizes of the speed sweep.", flag_values=fv)
  flags.DEFINE_float("speed_seconds", d.speed_seconds, "Seconds per timed "
                     "speed run.", flag_values=fv)
  flags.DEFINE_string("checkpoint", d.checkpoint, "best, last or a path "
                      "prefix.", flag_values=fv)
  flags.DEFINE_bool("f0", d.with_f0, "pYIN f0 metrics (slow).",
                    flag_values=fv)
  flags.DEFINE_bool("overwrite", False, "Replace an existing report.",
                    flag_values=fv)
  flags.DEFINE_string("title", None, "Report title (with --suite: replaces "
                      "the suite's).", flag_values=fv)
  flags.mark_flags_as_required(["report_dir"], flag_values=fv)


def run() -> None:
  """Console-script entry point (`neuralsynth-compare`)."""
  from common import cli  # pylint: disable=g-import-not-at-top
  from common import corpus  # pylint: disable=g-import-not-at-top
  from eval import suite  # pylint: disable=g-import-not-at-top
  cli.run(main, define_flags, __doc__, user_errors=(
      *comparison.USER_ERRORS, suite.SuiteError, corpus.PrepareError))


if __name__ == "__main__":
  run()
