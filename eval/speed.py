r"""Generation speed: samples/s, real-time factor, distance to the machine's limit.

    python -m eval.speed samplernn --config=small --batch_sizes=1,8
    python -m eval.speed samplernn --config=default --batch_sizes=32
    python -m eval.speed wavenet --config=nsynth --batch_sizes=16 --naive
    python -m eval.speed --model_dir=pretrained/samplernn_bach --batch_sizes=1,4
    python -m eval.speed samplernn --config=small --train   # training samples/s

With a family and `--config`, a randomly initialised model of that preset is
timed (speed does not depend on the weights); with `--model_dir`, a trained
one. Generation is timed through the one generator interface
(`common.generator.stream`, the loop every tool runs; an autoencoder decodes
zero embeddings). For every batch size it reports aggregate and per-stream
samples/s, the real-time factor (generated seconds per wall-clock second,
per stream), the time to the first block (the first block `stream` yields,
the generator's start included), the peak resident memory while that batch
size was timed and how much it rose (`eval.memory`), the FLOPs per
generated sample and the arithmetic limit (`common.timing.arithmetic_limit`:
the machine's float32 rate on the matrix shapes the family's generator
multiplies by, over the FLOPs per sample) and the fraction of it reached.
`--physical_limits` adds the machine's two physical limits, measured in the
same run: its peak (a 1024x1024x1024 float32 product) over the FLOPs per
sample, and reading every weight from memory once per step (a large
model's bound at small batches).
Every time is the median of `--repeats` runs after one warm-up run that
compiles the graphs. `--processes=K` splits each batch over K processes
(this one and K - 1 workers, `common.process_generator`). `--train` times training instead:
optimizer steps on TBPTT windows of random codes, exactly as
`common.trainer` runs them, at the preset's batch size (or the first of
`--batch_sizes` given explicitly).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

from common import checkpoint as checkpoint_lib
from common import generator as generator_lib
from common import schema
from common import threads
from eval import models as models_lib
from eval import throughput


def _family_arg(argv: Sequence[str], what: str) -> str:
  """The one positional argument: a family name."""
  names = schema.families()
  if len(argv) != 2 or argv[1] not in names:
    raise throughput.SpeedError(f"{what} ({' or '.join(names)})")
  return argv[1]


def main(argv: list[str]) -> int:
  from absl import flags  # pylint: disable=g-import-not-at-top
  from common import cli  # pylint: disable=g-import-not-at-top
  f = flags.FLAGS
  threads.apply(f.threads)
  if f.train:
    return train_main(argv, f)
  if f.model_dir:
    loaded = models_lib.load(f.model_dir)
  else:
    family = _family_arg(argv, "name a family with --config, or give "
                               "--model_dir")
    loaded = models_lib.build_random(
        family, f.config or throughput.DEFAULT_PRESETS[family])
  batch_sizes = cli.positive_ints(f.batch_sizes, "batch_sizes")
  if f.processes > 1:
    from common import process_generator  # pylint: disable=g-import-not-at-top
    loaded = dataclasses.replace(
        loaded, generator=process_generator.ProcessGenerator(
            loaded.model, loaded.config, f.processes, f.threads))
  try:
    result = throughput.generation_speed(loaded, batch_sizes, f.seconds,
                                         f.repeats, naive=f.naive,
                                         physical=f.physical_limits)
  finally:
    getattr(loaded.generator, "close", lambda: None)()
  result["processes"] = f.processes
  env, rows = result["environment"], result["rows"]
  print(f"{loaded.name}: {loaded.flops_per_sample() / 1e6:.2f} MFLOP per "
        f"sample; TF {env['tensorflow']}, {env['cpu_count']} CPUs"
        + (f"; {f.processes} processes, each with --threads="
           f"{f.threads}" if f.processes > 1 else ""))
  print(throughput.format_table(rows))
  if f.physical_limits:
    print(throughput.format_physical_limits(result["physical_limits"], rows))
  for row in rows if f.naive else ():
    print(f"batch {row['batch_size']}: naive recomputation "
          f"{row['naive_samples_per_second']:,.1f} samples/s; cached is "
          f"{row['speedup_over_naive']}x faster")
  _write(f.output, result)
  return 0


def train_main(argv: list[str], f: Any) -> int:
  """`--train`: training throughput of a preset (median of --repeats)."""
  from common import cli  # pylint: disable=g-import-not-at-top
  family = _family_arg(argv, "--train needs a family")
  batch_size = (cli.positive_ints(f.batch_sizes, "batch_sizes")[0]
                if f["batch_sizes"].present else None)
  result = throughput.training_speed(
      family, f.config or throughput.DEFAULT_TRAIN_PRESET, batch_size,
      f.train_steps, f.repeats)
  rates = result["runs"]
  print(f"{family}:{result['preset']} training, batch "
        f"{result['batch_size']} x {result['seq_len']}: "
        f"{result['samples_per_second']:,.0f} samples/s (median of "
        f"{len(rates)}: {', '.join(f'{r:,.0f}' for r in rates)})")
  _write(f.output, result)
  return 0


def _write(path: str | None, result: dict[str, Any]) -> None:
  if path:
    from common import files  # pylint: disable=g-import-not-at-top
    files.write_json(path, result)
    print(f"wrote {path}")


def define_flags() -> None:
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string("config", None, "Preset to time (random weights); "
                      "default small (samplernn) or nsynth (wavenet).")
  flags.DEFINE_string("model_dir", None, "Time a trained model instead.")
  flags.DEFINE_string("batch_sizes", "1,4,16", "Comma-separated batch sizes.")
  flags.DEFINE_float("seconds", 1.0, "Seconds generated per timed run "
                     "(rounded up to whole blocks).")
  flags.DEFINE_integer("repeats", 3, "Timed runs per batch size (median).")
  flags.DEFINE_bool("naive", False, "WaveNet: also time naive recomputation.")
  flags.DEFINE_bool(
      "physical_limits", False, "Also measure the machine's physical limits "
      "(after the sweep) and report each batch's fraction of the smaller: "
      "the arithmetic one (a 1024x1024x1024 float32 matmul's rate over the "
      "FLOPs per sample) and the memory one (every weight read once per "
      "step, at the rate a 512 MiB buffer is summed), both on this "
      "process's --threads (one core's with --threads=1).")
  flags.DEFINE_string("output", None, "Write the figures as JSON here.")
  flags.DEFINE_bool("train", False, "Time training instead of generation.")
  flags.DEFINE_integer("train_steps", 20, "Timed optimizer steps per run "
                       "with --train.")
  threads.define_flag(default=0)
  flags.DEFINE_integer(
      "processes", 1, "Split each batch's sequences over this many "
      "processes, this one included (common.process_generator), each with "
      "--threads threads: --processes=2 --threads=1 uses both cores of a "
      "2-core machine for batch 4. Memory figures are this process's only.",
      lower_bound=1)


def run() -> None:
  """Console-script entry point (`neuralsynth-speed`)."""
  from common import cli  # pylint: disable=g-import-not-at-top
  cli.run(main, define_flags, __doc__,
          user_errors=(throughput.SpeedError, checkpoint_lib.CheckpointError,
                       generator_lib.RequestError))


if __name__ == "__main__":
  run()
