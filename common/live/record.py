"""A record of what a live stream played: FLAC or Ogg Vorbis, rotated.

    with Recorder("live.flac", 16000) as recorder:
      for block in recorder.passing(stream.blocks()):
        ...

writes `live-YYYYmmdd-HHMM.flac` (the local time its first sample was
played; `-2`, `-3`, ... if that name is taken: nothing is overwritten), a
new file every `rotate_seconds` of audio (an hour). Each file is written
under a temporary name and renamed into place when complete
(`common.audio.WavWriter`), so a listed file is always whole; closing the
recorder (also on an error or a signal) completes the current one.
"""

from __future__ import annotations

import os
import threading
import time
from types import TracebackType
from typing import Callable, Iterable, Iterator

import numpy as np

from common import audio

EXTENSIONS = (".flac", ".ogg")
ROTATE_SECONDS = 3600.0


class RecordError(Exception):
  """A record file that cannot be written (a user error: one line)."""


class Recorder:
  """Writes int16 blocks to rotated audio files (see the module doc).

  Attributes:
    paths: the completed files, in order.
  """

  def __init__(self, path: str, sample_rate: int,
               rotate_seconds: float = ROTATE_SECONDS,
               now: Callable[[], float] = time.time) -> None:
    """
    Args:
      path: `NAME.flac` or `NAME.ogg` (Vorbis); the files are
        `NAME-YYYYmmdd-HHMM.<ext>` beside it.
      sample_rate: Hz.
      rotate_seconds: audio per file.
      now: the wall clock (seconds since the epoch) the names are made of.

    Raises:
      RecordError: another extension, or a missing folder.
    """
    self._base, self._ext = os.path.splitext(path)
    if self._ext.lower() not in EXTENSIONS:
      raise RecordError(f"{path}: a record is {' or '.join(EXTENSIONS)}, "
                        f"chosen by the extension")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
      raise RecordError(f"{path}: no folder {folder}")
    self.sample_rate = int(sample_rate)
    self._per_file = max(1, int(round(rotate_seconds * self.sample_rate)))
    self._now = now
    self._writer: audio.WavWriter | None = None
    self._lock = threading.Lock()
    self.paths: list[str] = []

  def _new_path(self) -> str:
    stamp = time.strftime("%Y%m%d-%H%M", time.localtime(self._now()))
    path, n = f"{self._base}-{stamp}{self._ext}", 1
    while os.path.exists(path) or path in self.paths:
      n += 1
      path = f"{self._base}-{stamp}-{n}{self._ext}"
    return path

  def _finish(self) -> None:
    if self._writer is not None:
      writer, self._writer = self._writer, None
      writer.__exit__(None, None, None)
      self.paths.append(writer.path)

  def write(self, block: np.ndarray) -> None:
    """Appends int16 samples `[samples]`, starting a new file at every
    `rotate_seconds` of audio."""
    block = np.asarray(block, np.int16).reshape(-1)
    with self._lock:
      while len(block):
        if self._writer is None:
          self._writer = audio.WavWriter(self._new_path(), self.sample_rate)
          self._writer.__enter__()
        room = self._per_file - self._writer.samples_written
        # int16 / 32768 is what libsndfile turns back into the same int16.
        self._writer.write(block[:room].astype(np.float32) / 32768.0)
        block = block[room:]
        if self._writer.samples_written >= self._per_file:
          self._finish()

  def passing(self, blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    """Yields `blocks`, writing each one first."""
    for block in blocks:
      self.write(block)
      yield block

  def close(self) -> None:
    """Completes the current file (renamed into place)."""
    with self._lock:
      self._finish()

  def __enter__(self) -> Recorder:
    return self

  def __exit__(self, exc_type: type[BaseException] | None,
               exc: BaseException | None, tb: TracebackType | None) -> None:
    self.close()
