"""SIGINT and SIGTERM as a request to stop: the one handler the trainer and
the live commands install."""

from __future__ import annotations

import contextlib
import signal
import threading
import types
from typing import Callable, Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def on_stop_signals(handle: Callable[[str], None]) -> Iterator[None]:
  """While inside, SIGINT and SIGTERM call `handle(name)` ("SIGINT" or
  "SIGTERM") instead of their usual action; the previous handlers come back
  on leaving. Python installs handlers only in the main thread; elsewhere
  this does nothing and signals act as usual.

  `handle` runs in the main thread between two bytecodes: it may set a flag
  or an event, or raise to interrupt what the main thread is doing.
  """
  if threading.current_thread() is not threading.main_thread():
    yield
    return

  def handler(signum: int, frame: types.FrameType | None) -> None:
    del frame
    handle(signal.Signals(signum).name)

  previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
  try:
    yield
  finally:
    for s, h in previous.items():
      signal.signal(s, h)


def restore_defaults() -> None:
  """SIGINT and SIGTERM end the process at once again (a second signal after
  a first asked politely)."""
  for s in STOP_SIGNALS:
    signal.signal(s, signal.SIG_DFL)
