"""Tests of common.timing."""

import types

import pytest

import flop_count
from common import timing


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
