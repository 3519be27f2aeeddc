"""The stream command of every model family: flags, `main` and `run`.

A family's stream module (`<family>/stream.py`) is one line,
`command.run(family, __doc__)`: the flags are defined here, user errors
reported by `common.cli`, and the work is `common.live.engine` (the paced
stream), `common.live.outputs` (stdout, sound card), `common.live.server`
(the page) and `common.live.record` (the record).

SIGINT (Ctrl-C) and SIGTERM stop the stream cleanly: the record's current
file is completed, and the command exits 0.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import threading
from typing import Iterable

import numpy as np
from absl import flags

from common import cli
from common import signals
from common import threads
from common.live import engine
from common.live import outputs
from common.live import record
from common.live import server

# With RequestError and CheckpointError, which `common.cli` catches once
# their modules are loaded (loading them here would start TensorFlow before
# the flags are checked).
USER_ERRORS = (engine.LiveError, outputs.OutputError, record.RecordError,
               server.ServerError)


def define_flags() -> None:
  defaults = engine.LiveSettings()
  flags.DEFINE_string("model_dir", None, "A trained (or pretrained) model "
                      "directory of an unconditional model.")
  flags.DEFINE_string("checkpoint", "best", "best, last, or a checkpoint "
                      "path.")
  flags.DEFINE_enum("to", "http", ["http", "stdout", "device"], "Where the "
                    "audio goes: a web page (--host, --port), standard output "
                    "(a WAV or raw 16-bit PCM stream: | aplay), or the sound "
                    "card (needs the sounddevice package).")
  flags.DEFINE_string("host", "127.0.0.1", "--to=http: the address to listen "
                      "on; another than the loopback lets anyone on the "
                      "network listen and change the controls.")
  flags.DEFINE_integer("port", 8000, "--to=http: the port (0: a free one).")
  low, high = engine.TEMPERATURE_RANGE
  flags.DEFINE_float("temperature", defaults.temperature, f"Sampling "
                     f"temperature at the start, {low:g}..{high:g}.")
  flags.DEFINE_integer("seed", defaults.seed, "Seed of the stream.")
  flags.DEFINE_string("prime_dir", None, "A folder of clips: the watchdog "
                      "re-primes from a random one after a collapse (else "
                      "it resets the model), and the page primes from them.")
  flags.DEFINE_string("record", None, "Also write what is played to "
                      "NAME.flac or NAME.ogg: NAME-YYYYmmdd-HHMM.<ext>, a new "
                      "file every hour.")
  flags.DEFINE_enum("format", "wav", list(outputs.FORMATS), "--to=stdout: a "
                    "WAV header first, or raw PCM.")
  flags.DEFINE_boolean("no_pace", False, "--to=stdout: generate as fast as "
                       "possible (into a file) instead of in real time.")
  flags.DEFINE_float("seconds", None, "Stop after this much audio (default: "
                     "never).")
  flags.DEFINE_float("ahead_seconds", defaults.ahead_seconds, "The most "
                     "audio generated ahead of real time (at least two "
                     "blocks).")
  flags.DEFINE_float("buffer_seconds", defaults.buffer_seconds, "Audio "
                     "generated before playback starts: lets a model slower "
                     "than real time play (until the buffer runs dry).")
  flags.DEFINE_float("watchdog_seconds", defaults.watchdog_seconds,
                     "Collapsed (silent, a stuck tone or noise) this long, "
                     "the stream starts again; 0: never.")
  flags.DEFINE_float("crossfade_seconds", defaults.crossfade_seconds,
                     "The crossfade when the stream starts again (a prime, a "
                     "reset, a recovery).")
  threads.define_flag(default=0)
  flags.mark_flags_as_required(["model_dir"])


class _Stopped(Exception):
  """SIGINT or SIGTERM arrived."""


def _raise_stopped(name: str) -> None:
  raise _Stopped(name)


def _check_flags(f: flags.FlagValues) -> None:
  if f.seconds is not None and not f.seconds > 0:
    raise cli.FlagError(f"--seconds={f.seconds}: must be > 0")
  if f.no_pace and f.to != "stdout":
    raise cli.FlagError("--no_pace: only with --to=stdout (listeners and "
                        "sound cards play in real time)")
  if f.to == "stdout" and sys.stdout.isatty():
    raise cli.FlagError("--to=stdout: standard output is a terminal; pipe it "
                        "(| aplay) or redirect it to a file")
  # Checked before the model loads:
  if f.to == "device":
    outputs.sounddevice_module()
  if f.record:
    record.Recorder(f.record, 1)  # the name and folder


def _log(line: str) -> None:
  print(line, file=sys.stderr, flush=True)


def _play(stream: engine.LiveStream, blocks: Iterable[np.ndarray],
          f: flags.FlagValues, num_samples: int | None) -> None:
  """Sends the blocks to standard output or the sound card until they end
  or a signal stops them."""
  with signals.on_stop_signals(_raise_stopped):
    try:
      if f.to == "stdout":
        outputs.to_stdout(blocks, sys.stdout.buffer, stream.sample_rate,
                          f.format, num_samples)
      else:
        outputs.to_device(blocks, stream.sample_rate, num_samples)
    except _Stopped as e:
      _log(f"stopped ({e})")
    except BrokenPipeError:
      # The reader went away: stop; no error at exit when Python flushes.
      os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
      _log("stopped (the reader closed the pipe)")


def _serve(stream: engine.LiveStream, f: flags.FlagValues,
           recorder: record.Recorder | None, seconds: float | None) -> None:
  stop = threading.Event()
  timer = None
  if seconds is not None:
    timer = threading.Timer(seconds, stop.set)
    timer.daemon = True
    timer.start()
  server.serve(stream, host=f.host, port=f.port, recorder=recorder,
               log=_log, stop=stop)
  if timer is not None:
    timer.cancel()


def main(family: str, argv: list[str]) -> int:
  """Loads the model and streams until stopped; returns the exit code."""
  del argv
  f = flags.FLAGS
  _check_flags(f)
  threads.apply(f.threads)
  settings = engine.LiveSettings(
      temperature=f.temperature, seed=f.seed, ahead_seconds=f.ahead_seconds,
      pace=not f.no_pace, buffer_seconds=f.buffer_seconds,
      watchdog_seconds=f.watchdog_seconds,
      crossfade_seconds=f.crossfade_seconds, prime_dir=f.prime_dir)
  stream = engine.load_stream(f.model_dir, settings, f.checkpoint, family,
                              log=_log)
  rate = stream.sample_rate
  num_samples = None if f.seconds is None else int(round(f.seconds * rate))
  with contextlib.ExitStack() as stack:
    recorder = None
    if f.record:
      recorder = stack.enter_context(record.Recorder(f.record, rate))
    if f.to == "http":
      _serve(stream, f, recorder, f.seconds)
    else:
      blocks: Iterable[np.ndarray] = outputs.limited(stream.blocks(),
                                                     num_samples)
      if recorder is not None:
        blocks = recorder.passing(blocks)
      _play(stream, blocks, f, num_samples)
  if recorder is not None:
    for path in recorder.paths:
      _log(f"recorded {path}")
  return 0


def run(family: str, doc: str | None) -> None:
  """Runs a family's stream command through `common.cli.run`."""
  cli.run(functools.partial(main, family), define_flags, doc,
          user_errors=USER_ERRORS)
