"""Tests of common.timing and of eval.throughput's sweep rows."""

import types

import numpy as np
import pytest

import flop_count
from common import generator as generator_lib
from common import timing
from eval import throughput


def test_median_seconds_runs_warmup_then_repeats():
  calls = []
  seconds = timing.median_seconds(lambda: calls.append(1), repeats=3,
                                  warmup=2)
  assert len(calls) == 5 and 0 <= seconds < 0.1


def _stub_clock(monkeypatch, readings, on_read):
  """Replaces `timing`'s clock with `readings` (seconds, in call order);
  `on_read()` runs at each reading."""
  readings = iter(readings)

  def perf_counter():
    on_read()
    return next(readings)

  monkeypatch.setattr(timing, "time", types.SimpleNamespace(
      perf_counter=perf_counter))


def test_matmul_rate_is_counted_flops_over_the_median_time(monkeypatch):
  # Three timed runs of 0.25, 0.5 and 2 s on a stubbed clock: the median is
  # 0.5 s. The FLOPs of each timed run are counted from the products that
  # really ran between its two clock readings (`flop_count`), so the rate
  # is checked against work the loop did, not against the formula.
  for shapes in ([(64, 64)], [(64, 128), (128, 32)]):
    marks = []
    with flop_count.matmul_flops() as counted:
      _stub_clock(monkeypatch, [0.0, 0.25, 1.0, 1.5, 2.0, 4.0],
                  lambda: marks.append(counted.flops))
      rate = timing.matmul_gflops(shapes, batch_size=4, steps=5, repeats=3)
    run_flops = {end - start for start, end in zip(marks[::2], marks[1::2])}
    assert len(run_flops) == 1 and run_flops != {0.0}  # every run the same
    assert rate == pytest.approx(run_flops.pop() / 0.5 / 1e9, rel=1e-12)


MB_PER_SEQUENCE = 100
# Measured on Linux 6.18: each row's increase is within 0.3 MB of
# MB_PER_SEQUENCE x batch size (see tests/test_memory.py for the slack).
SLACK_MB = 5.0


class _MemoryHungryGenerator(generator_lib.Generator):
  """Zeros; each block holds `MB_PER_SEQUENCE` MB per sequence while it is
  made, so generating batch b peaks near b x that above its start."""
  sample_rate = 1000
  q_levels = 256
  quantization = "linear"
  block_samples = 100

  def start(self, request):
    return generator_lib.State(position=0, seeds=request.seeds,
                               temperatures=request.temperatures, tensors=())

  def next_block(self, state, num_samples, embeddings=None):
    work = np.ones(state.num_seqs * MB_PER_SEQUENCE * 2**20 // 8)
    assert work[-1] == 1.0  # resident (ones, not empty)
    return (np.zeros([state.num_seqs, num_samples], np.int32),
            state.replace(position=state.position + num_samples))


def test_sweep_rows_have_their_own_peak_memory_and_limit(monkeypatch):
  # The larger batch first: with the process's cumulative peak (ru_maxrss)
  # the batch-1 row would report batch 3's 300 MB.
  monkeypatch.setattr(timing, "matmul_gflops",
                      lambda shapes, batch_size, **kwargs: 2.0 * batch_size)
  family = types.SimpleNamespace(step_matmuls=lambda config: [(8, 8)],
                                 flops_per_sample=lambda config: 1e6)
  loaded = types.SimpleNamespace(
      generator=_MemoryHungryGenerator(), sample_rate=1000, config={},
      family=family, flops_per_sample=lambda: 1e6)
  rows = throughput.sweep(loaded, (3, 1), seconds=0.2, repeats=1)
  by_batch = {row["batch_size"]: row for row in rows}
  assert (by_batch[1]["peak_rss_mb"] < by_batch[3]["peak_rss_mb"]
          - 2 * MB_PER_SEQUENCE + SLACK_MB)
  for batch_size, row in by_batch.items():
    assert row["peak_rss_per_section"]
    assert row["rss_increase_mb"] == pytest.approx(
        MB_PER_SEQUENCE * batch_size, abs=SLACK_MB)
    # 2 GFLOP/s per sequence over 1 MFLOP per sample.
    assert row["limit_samples_per_second"] == 2000.0 * batch_size


# ---------------------------------------------------------------------------
# Physical limits (`eval.speed --physical_limits`).


def test_peak_and_read_rates_are_the_work_over_the_median_time(monkeypatch):
  # Timed runs of 0.25, 0.5 and 2 s on a stubbed clock: median 0.5 s.
  _stub_clock(monkeypatch, [0.0, 0.25, 1.0, 1.5, 2.0, 4.0], lambda: None)
  assert timing.square_matmul_gflops(size=64, repeats=3) == pytest.approx(
      2 * 64**3 / 0.5 / 1e9, rel=1e-12)
  _stub_clock(monkeypatch, [0.0, 0.25, 1.0, 1.5, 2.0, 4.0], lambda: None)
  assert timing.read_gbps(megabytes=2, repeats=3) == pytest.approx(
      2 * 2**20 / 0.5 / 1e9, rel=1e-12)


def test_the_limits_of_a_large_model_are_arithmetic_or_memory():
  # 100 MFLOP per sample: 2 FLOPs per weight per sequence, so 50 M float32
  # weights, 200 MB read per step.
  rates = dict(matmul_gflops_per_second=200.0, read_gb_per_second=50.0)
  one = timing.physical_limits(100e6, 1, **rates)
  assert one["arithmetic_limit"] == pytest.approx(2000.0)  # 200e9 / 100e6
  assert one["memory_limit"] == pytest.approx(250.0)  # 50e9 / 200e6 steps/s
  assert one["limit"] == one["memory_limit"]
  sixteen = timing.physical_limits(100e6, 16, **rates)
  assert sixteen["memory_limit"] == pytest.approx(4000.0)  # a step: 16
  assert sixteen["limit"] == sixteen["arithmetic_limit"] == pytest.approx(
      2000.0)


def test_speed_rows_get_their_fraction_of_the_smaller_limit(monkeypatch):
  monkeypatch.setattr(timing, "square_matmul_gflops", lambda repeats: 200.0)
  monkeypatch.setattr(timing, "read_gbps", lambda repeats: 50.0)
  loaded = types.SimpleNamespace(flops_per_sample=lambda: 100e6)
  rows = [dict(batch_size=1, samples_per_second=125.0),
          dict(batch_size=16, samples_per_second=1000.0)]
  physical = throughput.add_physical_limits(loaded, rows)
  assert physical == dict(matmul_gflops_per_second=200.0,
                          read_gb_per_second=50.0, weight_mb_per_step=200.0)
  assert [r["fraction_of_physical_limit"] for r in rows] == [0.5, 0.5]
  assert rows[1]["memory_limit_samples_per_second"] == 4000.0
  lines = throughput.format_physical_limits(physical, rows).splitlines()
  assert lines[1].endswith("50.0% of the smaller (memory)")
  assert lines[2].endswith("50.0% of the smaller (arithmetic)")
