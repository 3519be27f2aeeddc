"""The live instrument's web server: its page, its audio, its messages.

`serve(instrument, ...)` runs until SIGINT/SIGTERM or a stop event, on
127.0.0.1 unless told otherwise, with the machinery of the live stream
(`common.live.server.serve_app` and its `App` and `Handler`: one producer
thread, the loopback Host check, the chunked PCM response, /status). Its
routes, and nothing else:

  GET  /            the page (the Jinja2 template `live_page/index.html`
                    with the instrument page's look, `instrument.css`)
  GET  /keys.js     the keyboard, pad pointer and MIDI of the instrument
                    page (`instrument_page/keys.js`)
  GET  /live.js     the page's script
  GET  /reader.js   the worker that reads /stream into the player
  GET  /worklet.js  the AudioWorklet player of `common.live` (unchanged)
  GET  /stream      the audio: endless chunked raw PCM, int16 little
                    endian, mono, at the model's rate (`X-Sample-Rate`)
  GET  /status      JSON: the engine's `status()`, listeners, messages
                    refused
  POST /control     one JSON message (`wavenet.live_engine`)

A malformed or unknown message gets HTTP 400 and `{"error": "<one
line>"}`, is ignored and counted (`bad_messages` in /status); the
instrument plays on.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any, Callable

import jinja2
import markupsafe

from common.live import broadcast
from common.live import server as live_server
from wavenet import instrument_html
from wavenet import live_engine
from wavenet import live_sound
from wavenet import live_voices
from wavenet.live_sound import ControlError

PAGE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "live_page")
INSTRUMENT_CSS = os.path.join(instrument_html.PAGE_DIR, "instrument.css")
KEYS_JS = os.path.join(instrument_html.PAGE_DIR, "keys.js")
WORKLET = os.path.join(live_server.PAGE_DIR, "worklet.js")
MAX_CONTROL_BYTES = 4096


def _read(path: str) -> bytes:
  with open(path, "rb") as f:
    return f.read()


def parse_message(body: bytes) -> Any:
  """A /control body -> the decoded JSON (checked by the engine).

  Raises:
    ControlError: not UTF-8 JSON.
  """
  try:
    return json.loads(body)
  except (ValueError, UnicodeDecodeError, RecursionError):
    raise ControlError("message: not JSON") from None


def page_html(status: dict[str, Any]) -> str:
  """The page: the instrument's look and the settings its script reads."""
  environment = jinja2.Environment(
      loader=jinja2.FileSystemLoader(PAGE_DIR), autoescape=True,
      undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
  style = (_read(INSTRUMENT_CSS) + b"\n" +
           _read(os.path.join(PAGE_DIR, "live.css"))).decode("utf-8")
  settings = dict(
      sampleRate=status["sample_rate"], pitchRange=status["pitch_range"],
      corners=status["corners"], blockSamples=status["block_samples"],
      controls=status["controls"],
      controlRanges={k: [low, high] for k, (_, low, high) in
                     live_sound.CONTROL_RANGES.items()})
  return environment.get_template("index.html").render(
      title=" \u00b7 ".join(status["corners"]),
      model=str(status.get("model", "")),
      checkpoint=str(status.get("checkpoint", "")),
      sample_rate=status["sample_rate"], style=markupsafe.Markup(style),
      settings=json.dumps(settings))


class App(live_server.App):
  """What the request handlers share: the stream server's, plus the
  instrument's message counts."""

  exposure = "play the instrument and listen"
  stream: live_engine.LiveInstrument

  def __init__(self, instrument: live_engine.LiveInstrument,
               broadcaster: broadcast.Broadcaster,
               log: Callable[[str], None]) -> None:
    super().__init__(instrument, broadcaster, {
        "/": ("text/html; charset=utf-8",
              page_html(instrument.status()).encode("utf-8")),
        "/keys.js": live_server.script_asset(_read(KEYS_JS)),
        "/live.js": live_server.script_asset(
            _read(os.path.join(PAGE_DIR, "live.js"))),
        "/reader.js": live_server.script_asset(
            _read(os.path.join(PAGE_DIR, "reader.js"))),
        "/worklet.js": live_server.script_asset(_read(WORKLET)),
    }, log)
    self.bad_messages = 0
    self.last_error: str | None = None
    self._lock = threading.Lock()

  def status(self) -> dict[str, Any]:
    with self._lock:
      bad, last = self.bad_messages, self.last_error
    return dict(super().status(), bad_messages=bad, last_bad_message=last)

  def message(self, body: bytes) -> str | None:
    """Applies a /control body; the error (counted) or None."""
    try:
      self.stream.receive(parse_message(body))
      return None
    except ControlError as e:
      self.count_bad(str(e))
      return str(e)

  def count_bad(self, reason: str) -> None:
    """Counts a refused control message (before it is answered)."""
    with self._lock:
      self.bad_messages += 1
      self.last_error = reason


class _Handler(live_server.Handler):
  """The stream server's handler with the instrument's /control."""

  def routes(self) -> dict[str, tuple[str, Callable[[], None]]]:
    return dict(super().routes(), **{"/control": ("POST", self._control)})

  def _control(self) -> None:
    app = self.server.app
    assert isinstance(app, App)
    body = self._body("application/json", MAX_CONTROL_BYTES,
                      refused=app.count_bad)
    if body is None:
      return
    error = app.message(body)
    if error is not None:
      self._error(400, error)
      return
    self._json({"ok": True})


def serve(instrument: live_engine.LiveInstrument, host: str = "127.0.0.1",
          port: int = 8000, log: Callable[[str], None] = print,
          ready: Callable[[str], None] | None = None,
          stop: threading.Event | None = None) -> None:
  """Serves the instrument until SIGINT/SIGTERM, `stop` is set, or its
  blocks fail; then stops the producer and returns.

  Args:
    host, port: where to listen (port 0: a free port). A host other than
      the loopback gets a warning: anyone who can reach it can play.
    log: one line per event.
    ready: called with the page's URL once the server listens.

  Raises:
    live_server.ServerError: the address cannot be used.
    Whatever the instrument's blocks raised.
  """
  broadcaster = broadcast.Broadcaster(instrument.blocks(),
                                      instrument.sample_rate)
  live_server.serve_app(App(instrument, broadcaster, log), _Handler, host,
                        port, log, ready, stop)


# `processes=0` (auto): the fewest decoding processes that decode four
# voices at least this much faster than real time. Each process takes a
# core that the browser playing the stream and the rest of the machine
# need: on the slower of the 2-core machines here, with headless Chromium
# on them, the shipped live model (four voices at 1.5-1.75x in one
# process, 2.1x in two) underran 0-36 times a minute with one process
# (four runs) and about 110 with two; on the faster one (4.6-4.9x in one)
# eleven runs with one had none (README, "Live"). A heavier model, below
# this in one process, gets more.
AUTO_REAL_TIME = 1.25


def default_processes() -> int:
  """The most decoding processes worth trying: one per core, at most one
  per voice."""
  from common import process_generator  # pylint: disable=g-import-not-at-top
  return process_generator.default_processes(live_voices.MAX_VOICES)


def fewest_processes(start: Callable[[int], tuple[Any, dict[int, float]]],
                     most: int, log: Callable[[str], None] = print,
                     wanted: float = AUTO_REAL_TIME
                     ) -> tuple[Any, dict[int, float]]:
  """Decoders with 1, 2, ... `most` processes (`start(count)` makes one
  and measures its real-time factors, `{voices: factor}`) until four
  voices reach `wanted`; else the fastest. The others are closed.

  Returns:
    (generator, factors) of the one kept.
  """
  best: tuple[Any, dict[int, float]] | None = None
  for count in range(1, most + 1):
    gen, factors = start(count)
    if best is None or factors[live_voices.MAX_VOICES] > best[1][
        live_voices.MAX_VOICES]:
      if best is not None:
        getattr(best[0], "close", lambda: None)()
      best = gen, factors
    else:
      getattr(gen, "close", lambda: None)()
    if best[1][live_voices.MAX_VOICES] >= wanted:
      break
  assert best is not None, most
  kept = getattr(best[0], "processes", 1)
  log(f"decoding with {kept} process{'es' * (kept > 1)}: four voices "
      f"{best[1][live_voices.MAX_VOICES]:.2f}x real time"
      + (f" (>= {wanted}x: fewer processes leave cores to the browser)"
         if best[1][live_voices.MAX_VOICES] >= wanted else
         " (the fastest tried)"))
  return best


def load_instrument(model_dir: str, corners: list[str], pitches: list[int],
                    seconds: float = 4.0, note_off: float = 3.0,
                    stats: str | None = None, seed: int = 0,
                    temperature: float = 1.0,
                    lead_seconds: float = live_engine.LEAD_SECONDS,
                    max_lead_seconds: float | None = None,
                    checkpoint: str = "best", processes: int = 1,
                    threads: int = 1,
                    log: Callable[[str], None] = print
                    ) -> live_engine.LiveInstrument:
  """Loads an autoencoder, encodes the corners and measures (and logs) the
  real-time factor of 1 to 4 voices, which compiles every batch size.

  With `processes` > 1 the sounding voices are decoded by that many
  processes (`common.process_generator`, `threads` intra-op threads each):
  the instrument's `gen` then has a `close` to call when done. With 0, the
  fewest that decode four voices at `AUTO_REAL_TIME` (`fewest_processes`,
  up to `default_processes()`).

  Raises:
    EmbeddingsError: not an autoencoder.
    InstrumentError: no pitch conditioning, or bad corners
      (`live_corners.load_corners`).
    ConfigError, CheckpointError, AudioError, LatentError.
  """
  # pylint: disable=g-import-not-at-top
  from wavenet import embeddings as embeddings_lib
  from wavenet import fastgen
  from wavenet import live_corners
  live_corners.check_sources(corners, pitches)
  loaded = embeddings_lib.load_autoencoder(model_dir, checkpoint)
  encoded = live_corners.load_corners(loaded.model, loaded.config, corners,
                                      pitches, seconds, note_off, stats)

  def start(count: int) -> tuple[Any, dict[int, float]]:
    if count > 1:
      from common import process_generator
      log(f"starting {count} decoding processes")
      gen: Any = process_generator.ProcessGenerator(
          loaded.model, loaded.config, count, threads)
    else:
      gen = fastgen.generator(loaded.model, loaded.config)
    try:
      factors = live_engine.measure_real_time(
          gen, live_engine.block_frames(gen.samples_per_frame or 1),
          repeats=7)
    except BaseException:
      getattr(gen, "close", lambda: None)()
      raise
    log(f"decoding speed with {count} process{'es' * (count > 1)} (real-"
        "time factor): " + ", ".join(
            f"{n} voice{'s' * (n > 1)} {f:.2f}x" for n, f in factors.items())
        + ("" if min(factors.values()) >= 1 else
           "; below 1x, that many voices at once underrun"))
    return gen, factors

  if processes:
    gen, factors = start(processes)
  else:
    gen, factors = fewest_processes(start, default_processes(), log)
  info = dict(model=os.path.basename(os.path.normpath(model_dir)),
              checkpoint=os.path.basename(loaded.path),
              checkpoint_step=loaded.step,
              decoding_processes=getattr(gen, "processes", 1),
              measured_real_time_factors={
                  str(n): round(f, 3) for n, f in factors.items()})
  return live_engine.LiveInstrument(
      gen, encoded, info, seed=seed, temperature=temperature,
      lead_seconds=lead_seconds, max_lead_seconds=max_lead_seconds,
      frames_per_block=live_engine.block_frames(gen.samples_per_frame or 1))
