"""Tests of eval.memory (peak resident memory of a section of code)."""

import numpy as np
import pytest

from eval import memory

BIG_MB = 300
# The slack of every comparison below, MB. Measured (Linux 6.18, 20 runs
# each): a section holding the 300 MB array peaks 299.87-299.93 MB above its
# start (the kernel syncs its per-CPU resident counters in batches), one
# allocating 1 MB peaks 0.0-1.0 MB above it, an empty one 0.0. 5 MB is five
# times the largest deviation and 60 times smaller than the effect.
SLACK_MB = 5.0


def _hold_big_array():
  """Makes BIG_MB of pages resident (ones, not empty: untouched pages are
  not resident), then frees them."""
  big = np.ones(BIG_MB * 2**20 // 8)
  assert big[-1] == 1.0
  del big


def test_a_later_section_does_not_inherit_an_earlier_peak():
  # With the process's cumulative peak (ru_maxrss) the second section would
  # report the first one's 300 MB.
  with memory.PeakRSS() as first:
    _hold_big_array()
  with memory.PeakRSS() as second:
    small = np.ones(2**20 // 8)  # 1 MB
    del small
  assert first.per_section and second.per_section
  assert first.increase_mb == pytest.approx(BIG_MB, abs=SLACK_MB)
  assert second.increase_mb < SLACK_MB
  assert second.peak_mb < first.peak_mb - BIG_MB + SLACK_MB


def test_an_outer_section_keeps_the_peak_an_inner_one_reset():
  # The inner section resets the kernel's mark on entry; the outer one must
  # still count the array freed before it.
  with memory.PeakRSS() as outer:
    _hold_big_array()
    with memory.PeakRSS() as inner:
      pass
  assert inner.increase_mb < SLACK_MB
  assert outer.increase_mb == pytest.approx(BIG_MB, abs=SLACK_MB)


def test_peak_read_inside_a_section_is_the_peak_so_far():
  with memory.PeakRSS() as section:
    _hold_big_array()
    assert section.increase_mb == pytest.approx(BIG_MB, abs=SLACK_MB)
  assert section.figures() == {
      "peak_rss_mb": round(section.peak_mb, 1),
      "rss_increase_mb": round(section.increase_mb, 1)}


def test_without_proc_the_peak_is_the_process_peak_and_says_so(monkeypatch):
  _hold_big_array()
  monkeypatch.setattr(memory, "_PROC", "/nonexistent")
  with memory.PeakRSS() as section:
    pass
  assert not section.per_section
  # ru_maxrss: the process's peak so far, the array freed before included.
  assert section.peak_mb >= BIG_MB


def test_ru_maxrss_unit_is_bytes_on_macos_and_kib_on_linux():
  assert memory.maxrss_mb(300 * 2**20, "darwin") == 300.0
  assert memory.maxrss_mb(300 * 2**10, "linux") == 300.0
