"""Generation and training speed (the library of `eval.speed`, whose
docstring says what is measured, and of `eval.compare`).

`generation_speed` times a model over batch sizes through the one generator
interface, with the arithmetic limit; `training_speed` times a preset's
training step; `sweep`, `time_generation`, `arithmetic_limit`,
`naive_speed` and `format_table` are their parts.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from typing import Any, Sequence

import numpy as np

from common import config as config_lib
from common import family as family_lib
from common import generator as generator_lib
from common import timing
from eval import memory
from eval import models as models_lib

# The preset timed when a family is named without --config.
DEFAULT_PRESETS = {"samplernn": "small", "wavenet": "nsynth"}
DEFAULT_TRAIN_PRESET = "small"


class SpeedError(ValueError):
  """A user error of the speed command (one line)."""


def timing_request(gen: generator_lib.Generator, batch_size: int,
                   num_samples: int, seed: int = 0) -> generator_lib.Request:
  """`batch_size` sequences for `gen`: unconditional, or decoding zero
  embeddings `[batch, frames, width]` (the same loop as real ones)."""
  embeddings = None
  if gen.samples_per_frame and gen.embedding_width:  # conditioned
    frames = -(-num_samples // gen.samples_per_frame)
    embeddings = np.zeros([batch_size, frames, gen.embedding_width],
                          np.float32)
  return generator_lib.Request.make(batch_size, seed, embeddings=embeddings)


def whole_blocks(gen: generator_lib.Generator, num_samples: int) -> int:
  """`num_samples` rounded up to a multiple of `gen.block_multiple` (what
  `stream` computes anyway)."""
  multiple = gen.block_multiple
  return max(1, -(-int(num_samples) // multiple)) * multiple


def time_generation(gen: generator_lib.Generator, batch_size: int,
                    num_samples: int, repeats: int = 3, seed: int = 0,
                    warmup_samples: int | None = None) -> dict[str, Any]:
  """Times `common.generator.stream`; medians of `repeats` after a warm-up.

  Args:
    gen: the generator.
    batch_size: sequences generated together.
    num_samples: samples per sequence per run, rounded up to whole blocks
      (`whole_blocks`).
    repeats: timed runs.
    seed: the request's first seed.
    warmup_samples: length of the untimed warm-up run that traces and
      compiles (default: `num_samples`).

  Returns:
    dict(batch_size, num_samples, samples_per_second (aggregate),
    samples_per_second_per_stream, real_time_factor, first_block_seconds
    (until `stream` yields its first block), seconds, and the resident
    memory of this call, warm-up included (`eval.memory.PeakRSS.figures`:
    peak_rss_mb, rss_increase_mb, peak_rss_per_section)).
  """
  num_samples = whole_blocks(gen, num_samples)
  request = timing_request(gen, batch_size, num_samples, seed)

  def run(length: int) -> tuple[float, float]:
    first = None
    start = time.perf_counter()
    for _ in generator_lib.stream(gen, request, length):
      if first is None:
        first = time.perf_counter() - start
    seconds = time.perf_counter() - start
    return seconds, seconds if first is None else first

  with memory.PeakRSS() as usage:
    run(whole_blocks(gen, warmup_samples or num_samples))
    runs = [run(num_samples) for _ in range(repeats)]
  seconds = statistics.median(r[0] for r in runs)
  first = statistics.median(r[1] for r in runs)
  per_stream = num_samples / seconds
  return dict(batch_size=batch_size, num_samples=num_samples,
              samples_per_second=round(per_stream * batch_size, 1),
              samples_per_second_per_stream=round(per_stream, 1),
              real_time_factor=round(per_stream / gen.sample_rate, 4),
              first_block_seconds=round(first, 4), seconds=round(seconds, 4),
              **usage.figures(), peak_rss_per_section=usage.per_section)


def arithmetic_limit(loaded: models_lib.LoadedModel,
                     batch_size: int) -> dict[str, float]:
  """`common.timing.arithmetic_limit` of a model's family and config."""
  family, config = loaded.family, loaded.config
  return timing.arithmetic_limit(family.step_matmuls(config),
                                 family.flops_per_sample(config), batch_size)


def sweep(loaded: models_lib.LoadedModel, batch_sizes: Sequence[int] = (1, 4,
                                                                        16),
          seconds: float = 1.0, repeats: int = 3) -> list[dict[str, Any]]:
  """Speed over batch sizes (`time_generation` rows), with the FLOP count
  and the arithmetic limit measured at each batch size
  (`limit_samples_per_second`, all sequences together like
  `samples_per_second`)."""
  flops = loaded.flops_per_sample()
  rows = []
  for batch_size in batch_sizes:
    row = time_generation(loaded.generator, batch_size,
                          int(seconds * loaded.sample_rate), repeats)
    limit = arithmetic_limit(loaded, batch_size)
    row.update(flops_per_sample=flops,
               matmul_gflops=round(limit["matmul_gflops_per_second"], 2),
               limit_samples_per_second=round(
                   limit["limit_samples_per_second"], 1))
    row["fraction_of_limit"] = round(
        row["samples_per_second"] / row["limit_samples_per_second"], 4)
    rows.append(row)
  return rows


def add_physical_limits(loaded: models_lib.LoadedModel,
                        rows: list[dict[str, Any]],
                        repeats: int = 5) -> dict[str, float]:
  """Measures the machine's peak matmul rate and memory read rate (once,
  after the sweep, so its memory figures stay the generator's) and adds to
  every row its two physical limits and the fraction of the smaller
  (`common.timing.physical_limits`).

  The rates are this process's (its intra-op threads): with `--processes`
  > 1 the generation runs on more cores than they count, and the fraction
  may pass 1.

  Returns:
    the rates: matmul_gflops_per_second (1024^3 float32 product),
    read_gb_per_second, and weight_mb_per_step (the weight bytes a step
    reads per sequence-sample: weights used once per frame, as the
    conditioning's, spread over the frame's samples).
  """
  flops = loaded.flops_per_sample()
  rates = dict(matmul_gflops_per_second=timing.square_matmul_gflops(
      repeats=repeats), read_gb_per_second=timing.read_gbps(repeats=repeats))
  for row in rows:
    limits = timing.physical_limits(flops, row["batch_size"], **rates)
    row.update(arithmetic_limit_samples_per_second=round(
        limits["arithmetic_limit"], 1), memory_limit_samples_per_second=round(
            limits["memory_limit"], 1), fraction_of_physical_limit=round(
                row["samples_per_second"] / limits["limit"], 4))
  return dict({k: round(v, 2) for k, v in rates.items()},
              weight_mb_per_step=round(2 * flops / 1e6, 1))


def format_physical_limits(physical: dict[str, float],
                           rows: Sequence[dict[str, Any]]) -> str:
  """`add_physical_limits`' figures as lines under the table."""
  lines = [f"physical limits (measured in this run): a 1024x1024x1024 "
           f"float32 matmul at {physical['matmul_gflops_per_second']:,.1f} "
           f"GFLOP/s; memory read at {physical['read_gb_per_second']:.1f} "
           f"GB/s, {physical['weight_mb_per_step']:,.1f} MB of weights read "
           f"per step"]
  for r in rows:
    arithmetic = r["arithmetic_limit_samples_per_second"]
    memory = r["memory_limit_samples_per_second"]
    lines.append(
        f"batch {r['batch_size']}: arithmetic limit {arithmetic:,.0f}, "
        f"memory limit {memory:,.0f} samples/s; "
        f"{100 * r['fraction_of_physical_limit']:.1f}% of the smaller "
        f"({'memory' if memory < arithmetic else 'arithmetic'})")
  return "\n".join(lines)


def environment() -> dict[str, Any]:
  """Versions and thread settings the figures were taken with."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return dict(
      tensorflow=tf.__version__, numpy=np.__version__,
      python=platform.python_version(), machine=platform.machine(),
      processor=platform.processor(), cpu_count=os.cpu_count(),
      intra_op_threads=tf.config.threading.get_intra_op_parallelism_threads(),
      inter_op_threads=tf.config.threading.get_inter_op_parallelism_threads())


# Samples per sequence the naive baseline is timed on (it is quadratic).
NAIVE_SAMPLES = 16


def naive_generator(loaded: models_lib.LoadedModel
                    ) -> generator_lib.Generator:
  """WaveNet's naive recomputation baseline of a model
  (`wavenet.fastgen.NaiveGenerator`).

  Raises:
    SpeedError: the model has no naive baseline.
  """
  if loaded.family.name != "wavenet":
    raise SpeedError(f"--naive: {loaded.name} is a {loaded.family.name}; "
                     f"only WaveNet has a naive recomputation baseline")
  from wavenet import fastgen  # pylint: disable=g-import-not-at-top
  return fastgen.NaiveGenerator(loaded.model, loaded.config)


def naive_speed(gen: generator_lib.Generator, batch_size: int,
                repeats: int = 3) -> float:
  """Aggregate samples/s of a naive generator over `NAIVE_SAMPLES` samples,
  timed by the same loop as the cached one (`time_generation`)."""
  return time_generation(gen, batch_size, NAIVE_SAMPLES, repeats,
                         warmup_samples=2)["samples_per_second"]


def format_table(rows: Sequence[dict[str, Any]]) -> str:
  """The sweep's rows as a plain-text table."""
  head = (f"{'batch':>5} {'samples/s':>11} {'per stream':>11} {'RTF':>7} "
          f"{'first block':>11} {'limit':>9} {'of limit':>8} {'peak MB':>8} "
          f"{'+MB':>6}")
  lines = [head]
  for r in rows:
    lines.append(
        f"{r['batch_size']:>5} {r['samples_per_second']:>11,.0f} "
        f"{r['samples_per_second_per_stream']:>11,.0f} "
        f"{r['real_time_factor']:>7.3f} {r['first_block_seconds']:>10.3f}s "
        f"{r['limit_samples_per_second']:>9,.0f} "
        f"{100 * r['fraction_of_limit']:>7.1f}% {r['peak_rss_mb']:>8.0f} "
        f"{r['rss_increase_mb']:>6.0f}")
  return "\n".join(lines)


def generation_speed(loaded: models_lib.LoadedModel,
                     batch_sizes: Sequence[int], seconds: float,
                     repeats: int, naive: bool = False,
                     physical: bool = False) -> dict[str, Any]:
  """`sweep` of a model with the environment (and with `naive`, the naive
  recomputation's speed at each batch size and the speed-up over it; with
  `physical`, `add_physical_limits`)."""
  naive_gen = naive_generator(loaded) if naive else None
  rows = sweep(loaded, batch_sizes, seconds, repeats)
  limits = add_physical_limits(loaded, rows) if physical else None
  if naive_gen is not None:
    for row in rows:
      rate = naive_speed(naive_gen, row["batch_size"], repeats)
      row["naive_samples_per_second"] = round(rate, 2)
      row["speedup_over_naive"] = round(row["samples_per_second"] / rate, 1)
  return dict(model=loaded.name, family=loaded.family.name,
              sample_rate=loaded.sample_rate, rows=rows,
              environment=environment(), command=" ".join(sys.argv),
              **({} if limits is None else {"physical_limits": limits}))


def training_speed(family: str, preset: str, batch_size: int | None,
                   steps: int, repeats: int) -> dict[str, Any]:
  """Training samples/s of a preset: the median of `repeats` runs of
  `steps` optimizer steps (`common.trainer.train_throughput`)."""
  from common import trainer  # pylint: disable=g-import-not-at-top
  overrides = {} if batch_size is None else {"batch_size": batch_size}
  config = config_lib.load(family, preset, overrides)
  config["sample_rate"] = config.get("sample_rate") or 16000
  build_model = family_lib.get(family).build_model
  rates = sorted(trainer.train_throughput(config, build_model,
                                          steps=steps)["samples_per_second"]
                 for _ in range(repeats))
  return dict(family=family, preset=preset, batch_size=config["batch_size"],
              seq_len=config["seq_len"],
              samples_per_second=statistics.median(rates), runs=rates,
              environment=environment(), command=" ".join(sys.argv))
