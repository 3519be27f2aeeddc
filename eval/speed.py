r"""Generation speed: samples/s, real-time factor, distance to the machine's limit.

    python -m eval.speed samplernn --config=small --batch_sizes=1,8
    python -m eval.speed samplernn --config=default --batch_sizes=32
    python -m eval.speed wavenet --config=nsynth --batch_sizes=16 --naive
    python -m eval.speed --model_dir=pretrained/samplernn_bach --batch_sizes=1,4
    python -m eval.speed samplernn --config=small --train   # training samples/s

With a family and `--config`, a randomly initialised model of that preset is
timed (speed does not depend on the weights); with `--model_dir`, a trained
one. For every batch size it reports aggregate and per-stream samples/s, the
real-time factor (generated seconds per wall-clock second, per stream), the
time to the first block, the process's peak memory, the FLOPs per generated
sample and the machine's measured float32 matmul rate, hence the arithmetic
limit (matmul GFLOP/s / FLOPs per sample) and the fraction of it reached.
Every figure is the median of `--repeats` runs after one warm-up run that
compiles the graphs. `--train` times training instead: optimizer steps on
TBPTT windows of random codes, exactly as `common.trainer` runs them, at the
preset's batch size (or the first of `--batch_sizes` given explicitly).
"""

import os
import platform
import resource
import statistics
import sys
import time

import numpy as np

from common import config as config_lib


def peak_rss_mb():
  """Peak resident memory of this process so far, in MB."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def matmul_gflops(batch=32, dim=1024, steps=100, repeats=3):
  """Float32 GFLOP/s of `[batch, dim] x [dim, dim]` products in a TF loop
  (`common.timing.matmul_gflops`): the shape of the products a generator
  does per step (batch = sequences)."""
  from common import timing  # pylint: disable=g-import-not-at-top
  return timing.matmul_gflops([(dim, dim)] * 4, batch, steps, repeats)


def time_generation(loaded, batch_size, num_samples, repeats=3, seed=0):
  """Times `loaded.generate` (eval.families.Loaded); medians of `repeats`.

  Returns dict(batch_size, samples_per_second (aggregate),
  samples_per_second_per_stream, real_time_factor, first_block_seconds,
  seconds, peak_rss_mb).
  """
  def run():
    firsts = []
    start = time.perf_counter()
    loaded.generate(batch_size, num_samples, seed=seed,
                    on_block=lambda codes: firsts.append(time.perf_counter())
                    if not firsts else None)
    end = time.perf_counter()
    return end - start, (firsts[0] - start) if firsts else end - start

  run()  # warm-up: traces and compiles
  runs = [run() for _ in range(repeats)]
  seconds = statistics.median(r[0] for r in runs)
  first = statistics.median(r[1] for r in runs)
  per_stream = num_samples / seconds
  return dict(batch_size=batch_size, num_samples=num_samples,
              samples_per_second=round(per_stream * batch_size, 1),
              samples_per_second_per_stream=round(per_stream, 1),
              real_time_factor=round(per_stream / loaded.sample_rate, 4),
              first_block_seconds=round(first, 4), seconds=round(seconds, 4),
              peak_rss_mb=round(peak_rss_mb(), 1))


def sweep(loaded, batch_sizes=(1, 4, 16), seconds=1.0, repeats=3,
          matmul_rate=None):
  """Speed over batch sizes, with the FLOP count and the arithmetic limit."""
  flops = float(loaded.flops_per_sample())
  rows = []
  for batch_size in batch_sizes:
    row = time_generation(loaded, batch_size,
                          int(seconds * loaded.sample_rate), repeats)
    rate = matmul_rate or matmul_gflops(batch=batch_size)
    row.update(flops_per_sample=flops, matmul_gflops=round(rate, 2),
               limit_samples_per_second=round(rate * 1e9 / flops, 1))
    row["fraction_of_limit"] = round(
        row["samples_per_second"] / row["limit_samples_per_second"], 4)
    rows.append(row)
  return rows


def environment():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return dict(
      tensorflow=tf.__version__, numpy=np.__version__,
      python=platform.python_version(), machine=platform.machine(),
      processor=platform.processor(), cpu_count=os.cpu_count(),
      intra_op_threads=tf.config.threading.get_intra_op_parallelism_threads(),
      inter_op_threads=tf.config.threading.get_inter_op_parallelism_threads())


def random_model(family, preset, sample_rate=16000, overrides=None):
  """A randomly initialised model of a preset, as eval.families.Loaded."""
  from common import model_api  # pylint: disable=g-import-not-at-top
  from eval import families  # pylint: disable=g-import-not-at-top
  config = config_lib.load(family, preset, overrides)
  config["sample_rate"] = config.get("sample_rate") or sample_rate
  model = model_api.build(families.build_fn(family)(config))
  return families.Loaded(f"{family}:{preset}", "", family, model, config, 0)


def naive_wavenet_speed(loaded, batch_size, num_samples=16, repeats=3):
  """Samples/s of full recomputation (the baseline fast generation beats)."""
  from wavenet import fastgen  # pylint: disable=g-import-not-at-top
  embeddings = None
  if loaded.is_autoencoder:
    embeddings = np.zeros([batch_size, 1, loaded.model.embedding_width],
                          np.float32)
  kwargs = dict(embeddings=embeddings) if loaded.is_autoencoder else dict(
      batch_size=batch_size)
  fastgen.naive_generate(loaded.model, 4, **kwargs)
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fastgen.naive_generate(loaded.model, num_samples, **kwargs)
    times.append(time.perf_counter() - start)
  return round(num_samples * batch_size / statistics.median(times), 2)


def format_table(rows):
  head = (f"{'batch':>5} {'samples/s':>11} {'per stream':>11} {'RTF':>7} "
          f"{'first block':>11} {'limit':>9} {'of limit':>8} {'peak MB':>8}")
  lines = [head]
  for r in rows:
    lines.append(
        f"{r['batch_size']:>5} {r['samples_per_second']:>11,.0f} "
        f"{r['samples_per_second_per_stream']:>11,.0f} "
        f"{r['real_time_factor']:>7.3f} {r['first_block_seconds']:>10.3f}s "
        f"{r['limit_samples_per_second']:>9,.0f} "
        f"{100 * r['fraction_of_limit']:>7.1f}% {r['peak_rss_mb']:>8.0f}")
  return "\n".join(lines)


# ---- CLI -------------------------------------------------------------------

def main(argv):
  from absl import flags  # pylint: disable=g-import-not-at-top
  from common import cli  # pylint: disable=g-import-not-at-top
  from eval import families  # pylint: disable=g-import-not-at-top
  f = flags.FLAGS
  if f.train:
    return train_main(argv, f)
  if f.model_dir:
    loaded = families.load(f.model_dir)
  else:
    if len(argv) != 2 or argv[1] not in families.FAMILIES:
      print("error: name a family (samplernn or wavenet) with --config, or "
            "give --model_dir", file=sys.stderr)
      return 1
    preset = f.config or {"samplernn": "small", "wavenet": "nsynth"}[argv[1]]
    loaded = random_model(argv[1], preset)
  batch_sizes = cli.positive_ints(f.batch_sizes, "batch_sizes")
  rows = sweep(loaded, batch_sizes, f.seconds, f.repeats)
  result = dict(model=loaded.name, family=loaded.family, rows=rows,
                environment=environment(), command=" ".join(sys.argv))
  if f.naive and loaded.family == "wavenet":
    for row in rows:
      row["naive_samples_per_second"] = naive_wavenet_speed(
          loaded, row["batch_size"])
      row["speedup_over_naive"] = round(
          row["samples_per_second"] / row["naive_samples_per_second"], 1)
  print(f"{loaded.name}: {loaded.flops_per_sample() / 1e6:.2f} MFLOP per "
        f"sample; TF {result['environment']['tensorflow']}, "
        f"{result['environment']['cpu_count']} CPUs")
  print(format_table(rows))
  if f.naive and loaded.family == "wavenet":
    for row in rows:
      print(f"batch {row['batch_size']}: naive recomputation "
            f"{row['naive_samples_per_second']:,.1f} samples/s; cached is "
            f"{row['speedup_over_naive']}x faster")
  if f.output:
    from common import files  # pylint: disable=g-import-not-at-top
    files.write_json(f.output, result)
    print(f"wrote {f.output}")
  return 0


def train_main(argv, f):
  """`--train`: training throughput of a preset (median of --repeats)."""
  from common import cli  # pylint: disable=g-import-not-at-top
  from common import trainer  # pylint: disable=g-import-not-at-top
  from eval import families  # pylint: disable=g-import-not-at-top
  if len(argv) != 2 or argv[1] not in families.FAMILIES:
    print("error: --train needs a family (samplernn or wavenet)",
          file=sys.stderr)
    return 1
  family = argv[1]
  preset = f.config or {"samplernn": "small", "wavenet": "small"}[family]
  overrides = {}
  if f["batch_sizes"].present:
    overrides["batch_size"] = cli.positive_ints(f.batch_sizes,
                                                "batch_sizes")[0]
  config = config_lib.load(family, preset, overrides)
  config["sample_rate"] = config.get("sample_rate") or 16000
  runs = [trainer.train_throughput(config, families.build_fn(family),
                                   steps=f.train_steps)
          for _ in range(f.repeats)]
  rates = sorted(r["samples_per_second"] for r in runs)
  result = dict(family=family, preset=preset, batch_size=config["batch_size"],
                seq_len=config["seq_len"],
                samples_per_second=statistics.median(rates), runs=rates,
                environment=environment(), command=" ".join(sys.argv))
  print(f"{family}:{preset} training, batch {config['batch_size']} x "
        f"{config['seq_len']}: {result['samples_per_second']:,.0f} samples/s "
        f"(median of {len(rates)}: {', '.join(f'{r:,.0f}' for r in rates)})")
  if f.output:
    from common import files  # pylint: disable=g-import-not-at-top
    files.write_json(f.output, result)
  return 0


def define_flags():
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string("config", None, "Preset to time (random weights); "
                      "default small (samplernn) or nsynth (wavenet).")
  flags.DEFINE_string("model_dir", None, "Time a trained model instead.")
  flags.DEFINE_string("batch_sizes", "1,4,16", "Comma-separated batch sizes.")
  flags.DEFINE_float("seconds", 1.0, "Seconds generated per timed run.")
  flags.DEFINE_integer("repeats", 3, "Timed runs per batch size (median).")
  flags.DEFINE_bool("naive", False, "WaveNet: also time naive recomputation.")
  flags.DEFINE_string("output", None, "Write the figures as JSON here.")
  flags.DEFINE_bool("train", False, "Time training instead of generation.")
  flags.DEFINE_integer("train_steps", 20, "Timed optimizer steps per run "
                       "with --train.")


def run():
  """Console-script entry point (`neuralsynth-speed`)."""
  from common import cli  # pylint: disable=g-import-not-at-top
  cli.run(main, define_flags, __doc__, user_errors=(ValueError,))


if __name__ == "__main__":
  run()
