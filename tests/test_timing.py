"""Tests of common.timing."""

import math

from common import timing


def test_median_seconds_runs_warmup_then_repeats():
  calls = []
  seconds = timing.median_seconds(lambda: calls.append(1), repeats=3,
                                  warmup=2)
  assert len(calls) == 5 and 0 <= seconds < 0.1


def test_matmul_rate_is_a_plausible_figure():
  small = timing.matmul_gflops([(64, 64)], batch_size=4, steps=5, repeats=1)
  chained = timing.matmul_gflops([(64, 128), (128, 32)], batch_size=4,
                                 steps=5, repeats=1, jit_compile=True)
  for rate in (small, chained):
    assert math.isfinite(rate) and 0.001 < rate < 10000
