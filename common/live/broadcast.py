"""One producer, many listeners: a live stream's blocks fanned out.

A producer thread pulls the stream's blocks (`LiveStream.blocks()`: endless,
paced to real time) and hands each one to the recorder, if any, and to every
listener's bounded queue. Nothing the listeners do can stall it: a listener
whose queue is full (it stopped reading) is dropped. A new listener starts
at the live point: it first gets the recent audio not yet due for playback
(the stream runs a little ahead of the wall clock), so its player starts
with that cushion and hears what every other listener hears at the same
moment.

    broadcaster = Broadcaster(stream.blocks(), sample_rate, recorder)
    broadcaster.start()
    with broadcaster.listen() as listener:
      for block in listener:       # int16 [samples] until dropped or stopped
        ...
    broadcaster.stop()
"""

from __future__ import annotations

import collections
import threading
import time
from types import TracebackType
from typing import Callable, Iterable, Iterator, Protocol

import numpy as np

# A listener may fall this far behind the producer before it is dropped.
QUEUE_SECONDS = 10.0
# The most recent audio kept for a listener who joins (at least the stream's
# lead over the wall clock).
BACKLOG_SECONDS = 5.0


class Recorder(Protocol):
  """What the broadcaster needs of `common.live.record.Recorder`."""

  def write(self, block: np.ndarray) -> None:
    """Appends one played block (int16 [samples])."""


class Listener:
  """A listener's queue of blocks: filled by the producer, read by one
  reader (an HTTP response) by iterating it."""

  def __init__(self, max_samples: int) -> None:
    self._max_samples = max_samples
    self._blocks: collections.deque[np.ndarray] = collections.deque()
    self._samples = 0
    self._closed = False
    self._ready = threading.Condition()
    self._owner: Broadcaster | None = None
    self.dropped = False

  def push(self, block: np.ndarray) -> bool:
    """Queues a block; False (and nothing queued) if the queue is full."""
    with self._ready:
      if self._closed:
        return True
      if self._samples + len(block) > self._max_samples:
        return False
      self._blocks.append(block)
      self._samples += len(block)
      self._ready.notify()
    return True

  def close(self, dropped: bool = False) -> None:
    """Ends the listener: a dropped one at once, else after its queue."""
    with self._ready:
      self._closed = True
      self.dropped = self.dropped or dropped
      if dropped:
        self._blocks.clear()
        self._samples = 0
      self._ready.notify_all()

  def __iter__(self) -> Iterator[np.ndarray]:
    """The queued blocks as they come, until the listener is closed."""
    while True:
      with self._ready:
        while not self._blocks and not self._closed:
          self._ready.wait()
        if not self._blocks:
          return
        block = self._blocks.popleft()
        self._samples -= len(block)
      yield block

  def __enter__(self) -> Listener:
    return self

  def __exit__(self, exc_type: type[BaseException] | None,
               exc: BaseException | None, tb: TracebackType | None) -> None:
    if self._owner is not None:
      self._owner.remove(self)
    self.close()


class Broadcaster:
  """Runs `blocks` in a producer thread and fans them out to listeners.

  Args:
    blocks: the stream's blocks, int16 [samples] each, paced to real time.
    sample_rate: Hz, to turn queue and backlog lengths into samples.
    recorder: gets every block, in order, before any listener.
    queue_seconds: how far a listener may fall behind before it is dropped.
    backlog_seconds: the most recent audio kept for new listeners.
    clock: seconds, monotonic (tests pass a fake).
  """

  def __init__(self, blocks: Iterable[np.ndarray], sample_rate: int,
               recorder: Recorder | None = None,
               queue_seconds: float = QUEUE_SECONDS,
               backlog_seconds: float = BACKLOG_SECONDS,
               clock: Callable[[], float] = time.monotonic) -> None:
    self._blocks = blocks
    self._sample_rate = sample_rate
    self._recorder = recorder
    self._queue_samples = int(queue_seconds * sample_rate)
    self._backlog_samples = int(backlog_seconds * sample_rate)
    self._clock = clock
    self._lock = threading.Lock()
    self._listeners: set[Listener] = set()
    self._backlog: collections.deque[np.ndarray] = collections.deque()
    self._backlog_length = 0
    self._produced = 0  # samples
    self._origin: float | None = None  # clock time of the stream's sample 0
    self._stopping = threading.Event()
    self._thread = threading.Thread(target=self._produce, daemon=True,
                                    name="live-producer")
    self.finished = threading.Event()
    self.error: BaseException | None = None
    self.dropped = 0  # listeners dropped for not reading
    self.peak_listeners = 0  # the most listening at once

  @property
  def listeners(self) -> int:
    with self._lock:
      return len(self._listeners)

  def start(self) -> None:
    self._thread.start()

  def stop(self, timeout: float | None = None) -> None:
    """Ends the producer after its current block and every listener."""
    self._stopping.set()
    if self._thread.is_alive():
      self._thread.join(timeout)

  def listen(self) -> Listener:
    """A new listener, starting at the live point (see the module doc)."""
    listener = Listener(self._queue_samples)
    listener._owner = self  # pylint: disable=protected-access
    with self._lock:
      if self.finished.is_set():
        listener.close()
        return listener
      for block in self._ahead_of_clock():
        listener.push(block)
      self._listeners.add(listener)
      self.peak_listeners = max(self.peak_listeners, len(self._listeners))
    return listener

  def remove(self, listener: Listener) -> None:
    with self._lock:
      self._listeners.discard(listener)

  def _ahead_of_clock(self) -> list[np.ndarray]:
    """The backlog from the sample playing now: the blocks that end after
    it, the first cut to start there (a listener joining mid-block hears
    the rest of it, not its played part: that would delay everything it
    hears by as much)."""
    if self._origin is None:
      return []
    playing = round((self._clock() - self._origin) * self._sample_rate)
    blocks, end = [], self._produced
    for block in reversed(self._backlog):
      if end <= playing:
        break
      start = end - len(block)
      blocks.append(block[max(0, playing - start):])
      end = start
    return blocks[::-1]

  def _publish(self, block: np.ndarray) -> None:
    """Recorder first, then backlog and listeners; drops full listeners."""
    if self._recorder is not None:
      self._recorder.write(block)
    now = self._clock()
    with self._lock:
      if self._origin is None:
        self._origin = now
      # After a stall (the stream fell behind real time) playback resumes
      # with this block: the live point moves back to it.
      self._origin = max(self._origin,
                         now - self._produced / self._sample_rate)
      self._produced += len(block)
      self._backlog.append(block)
      self._backlog_length += len(block)
      while self._backlog_length - len(self._backlog[0]) >= (
          self._backlog_samples):
        self._backlog_length -= len(self._backlog.popleft())
      for listener in list(self._listeners):
        if not listener.push(block):
          self._listeners.discard(listener)
          listener.close(dropped=True)
          self.dropped += 1

  def _produce(self) -> None:
    blocks = iter(self._blocks)
    try:
      for block in blocks:
        self._publish(block)
        if self._stopping.is_set():
          break
    except BaseException as e:  # pylint: disable=broad-except
      self.error = e  # the server reports it and shuts down
    finally:
      close = getattr(blocks, "close", None)
      if close is not None:
        close()
      with self._lock:
        self.finished.set()
        listeners, self._listeners = self._listeners, set()
      for listener in listeners:
        listener.close()
