"""Peak resident memory of a section of code, measured without threads.

    with memory.PeakRSS() as usage:
      run_one_model()
    usage.peak_mb, usage.increase_mb

On Linux the kernel keeps the process's resident-set high-water mark
(`VmHWM` in /proc/self/status, what `ru_maxrss` reports) and lets the
process reset it to the current resident size (writing 5 to
/proc/self/clear_refs, Linux >= 4.0). `PeakRSS` resets the mark on entry and
reads it on exit, so a section's peak counts every page that was resident
during it, however briefly (no sampling interval to miss a peak, no thread
taking the GIL from the code being timed), and a later section does not
inherit an earlier one's peak. Sections may nest: resetting the mark first
folds its value into every open section.

Where the mark cannot be reset (macOS; /proc absent or not writable), the
peak is the process's peak so far (`ru_maxrss`: bytes on macOS, KiB on
Linux), and `PeakRSS.per_section` is False to say so.

Sizes are in MB of 2**20 bytes. Not for use from several threads at once.
"""

from __future__ import annotations

import os
import resource
import sys
from typing import Any

_PROC = "/proc/self"
_MB = float(2**20)


def maxrss_mb(maxrss: int, platform: str = sys.platform) -> float:
  """`ru_maxrss` in MB: the kernel reports bytes on macOS, KiB elsewhere."""
  return maxrss / (_MB if platform == "darwin" else 1024.0)


def current_rss_mb() -> float | None:
  """This process's resident set size now, MB (None without /proc)."""
  try:
    with open(os.path.join(_PROC, "statm")) as f:
      resident_pages = int(f.read().split()[1])
  except OSError:
    return None
  return resident_pages * os.sysconf("SC_PAGE_SIZE") / _MB


def process_peak_mb() -> float:
  """The resident high-water mark, MB: since the last reset on Linux
  (`VmHWM`), else the process's peak so far (`ru_maxrss`)."""
  try:
    with open(os.path.join(_PROC, "status")) as f:
      for line in f:
        if line.startswith("VmHWM:"):
          return int(line.split()[1]) / 1024.0  # kB
  except OSError:
    pass
  return maxrss_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _reset_peak() -> bool:
  """Resets the high-water mark to the current resident size; False if
  this system cannot."""
  try:
    with open(os.path.join(_PROC, "clear_refs"), "w") as f:
      f.write("5")
  except OSError:
    return False
  return True


# The sections inside `with PeakRSS()` now, outermost first.
_OPEN: list[PeakRSS] = []


def _fold_peak() -> None:
  """Raises every open section's peak to the high-water mark."""
  peak = process_peak_mb()
  for section in _OPEN:
    section._peak = max(section._peak, peak)  # pylint: disable=protected-access


class PeakRSS:
  """Resident memory of the code inside `with` (see the module docstring).

  Attributes:
    start_mb: resident size on entry (where /proc is absent: the process's
      peak so far).
    peak_mb: the largest resident size while inside (read inside the
      section: so far).
    increase_mb: `peak_mb - start_mb`, what the section added at its peak.
    per_section: False where the high-water mark cannot be reset: then
      `peak_mb` is the process's peak so far, earlier sections included.
  """

  def __init__(self) -> None:
    self.start_mb = 0.0
    self.per_section = False
    self._peak = 0.0

  def __enter__(self) -> PeakRSS:
    _fold_peak()
    self.per_section = _reset_peak()
    current = current_rss_mb()
    self.start_mb = process_peak_mb() if current is None else current
    self._peak = self.start_mb
    _OPEN.append(self)
    return self

  def __exit__(self, *exc: Any) -> None:
    _fold_peak()
    _OPEN.remove(self)

  @property
  def peak_mb(self) -> float:
    if self in _OPEN:
      _fold_peak()
    return self._peak

  @property
  def increase_mb(self) -> float:
    return self.peak_mb - self.start_mb

  def figures(self) -> dict[str, float]:
    """{"peak_rss_mb", "rss_increase_mb"}, rounded to 0.1 MB."""
    return dict(peak_rss_mb=round(self.peak_mb, 1),
                rss_increase_mb=round(self.increase_mb, 1))
