"""The live stream's web server: one page, the audio, its status, controls.

`serve(stream, ...)` runs a standard-library `ThreadingHTTPServer` (on
127.0.0.1 unless told otherwise) until SIGINT/SIGTERM or a stop event. Its
routes, and nothing else (no file is served from the disk by its path):

  GET  /            the page (the Jinja2 template `page/index.html`)
  GET  /app.js      the page's script
  GET  /worklet.js  the AudioWorklet that plays the stream
  GET  /stream      the live audio: endless chunked raw PCM, int16 little
                    endian, mono, at the stream's sample rate
                    (`X-Sample-Rate`); a listener joins at the live point
  GET  /status      JSON: the stream's `status()` plus listeners
  GET  /clips       JSON: the clips of the stream's prime folder
  POST /control     JSON, one of {"temperature": t}, {"seed": s},
                    {"clip": name from /clips}
  POST /prime       an uploaded audio file (the request body, at most
                    `max_upload_bytes`; its name in `X-Clip-Name`)

A control or upload a user got wrong gets HTTP 400 (413 when too large)
and `{"error": "<one line>"}`; the stream plays on. Uploads are decoded by
`common.audio` (the checks corpus preparation uses) to float32 at the
stream's rate.

Transport: the page reads `/stream` with `fetch()` as a byte stream and
posts the samples to an AudioWorklet's ring buffer in an AudioContext
created at the stream's sample rate (the browser resamples to the sound
card). No codec, no media element: the delay is the worklet's small
start-up buffer plus the network, Chromium and Firefox both play it, and
the server needs nothing beyond the standard library.

Another server (a family's live tool) reuses this machinery: its app
subclasses `App`, its handler subclasses `Handler` and adds routes in
`routes()`, and `serve_app` runs it (the Host check, the signals, the
producer and the shutdown live only here).
"""

from __future__ import annotations

import contextlib
import http.server
import ipaddress
import json
import math
import os
import socket
import sys
import tempfile
import threading
import urllib.parse
from typing import Any, Callable, Iterator, Protocol

import jinja2
import markupsafe
import numpy as np

from common import audio
from common import signals
from common.generator import RequestError
from common.live import broadcast
from common.live import engine

PAGE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "page")
MAX_UPLOAD_BYTES = 16 * 2**20
MAX_CONTROL_BYTES = 4096
# A connection idle (or a listener not reading) this long is closed.
SOCKET_TIMEOUT_SECONDS = 30.0
# A listener's kernel send buffer (about 2 s of 16 kHz audio): a listener
# that stops reading fills it in seconds, its queue then overflows and it is
# dropped. The kernel's own (auto-tuned to megabytes on loopback) hid a
# stalled listener for the whole 60-s load test.
SEND_BUFFER_BYTES = 64 * 2**10
LOOPBACK_NAMES = ("localhost",)


class ServerError(ValueError):
  """The server cannot start (the address is in use or not this host's)."""


class ControlError(ValueError):
  """A control request a user got wrong; the message is one line."""


class Source(Protocol):
  """What any served app's stream has: its blocks, rate and status."""

  sample_rate: int

  def blocks(self) -> Iterator[np.ndarray]:
    """Endless int16 [samples] blocks, paced to real time."""

  def status(self) -> dict[str, Any]:
    """model, checkpoint, temperature, seed, uptime_seconds, health..."""


class Stream(Source, Protocol):
  """What this module's `serve` needs of `common.live.engine.LiveStream`."""

  def set_temperature(self, temperature: float) -> None:
    """From the next block; RequestError when out of range."""

  def set_seed(self, seed: int) -> None:
    """From the next block; RequestError when out of range."""

  def prime(self, audio: np.ndarray, source: str) -> None:
    """Continues from float32 [samples] audio at the stream's rate."""

  def clip_names(self) -> list[str]:
    """The clips of the prime folder, sorted."""

  def prime_clip(self, name: str) -> None:
    """`prime` from a clip of `clip_names()`; RequestError for another."""


def is_loopback(host: str) -> bool:
  """True for a host name or address only this machine can reach."""
  if host in LOOPBACK_NAMES:
    return True
  try:
    return ipaddress.ip_address(host).is_loopback
  except ValueError:
    return False


def _shown(value: Any) -> str:
  """A value for an error message: its repr, at most 40 characters."""
  text = repr(value)
  return text if len(text) <= 40 else text[:37] + "..."


def parse_control(body: bytes) -> tuple[str, Any]:
  """A /control request body -> (name, value), checked for shape and type.

  Raises:
    ControlError: not a JSON object with exactly one of temperature (a
      finite number), seed (an integer) or clip (a string).
  """
  try:
    request = json.loads(body)
  except (ValueError, UnicodeDecodeError):
    raise ControlError("control: not JSON") from None
  if not isinstance(request, dict) or len(request) != 1:
    raise ControlError("control: expected a JSON object with one key: "
                       "temperature, seed or clip")
  (name, value), = request.items()
  if name == "temperature":
    if isinstance(value, (int, float)) and not isinstance(value, bool):
      with contextlib.suppress(OverflowError):  # an integer past float's
        if math.isfinite(float(value)):
          return name, value
    raise ControlError(f"temperature: {_shown(value)} is not a number")
  if name == "seed":
    if isinstance(value, float) and value.is_integer():
      value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
      raise ControlError(f"seed: {_shown(value)} is not an integer")
    return name, value
  if name == "clip":
    if not isinstance(value, str):
      raise ControlError(f"clip: {_shown(value)} is not a clip name")
    return name, value
  raise ControlError(f"control: unknown key {_shown(name)} (temperature, seed or "
                     "clip)")


def upload_name(header: str | None) -> str:
  """A display name from the X-Clip-Name header (URL-encoded by the page):
  the file name only, printable, at most 100 characters."""
  name = os.path.basename(urllib.parse.unquote(header or "").replace(
      "\\", "/"))
  name = "".join(c for c in name if c.isprintable())[:100]
  return name or "upload"


def decode_upload(data: bytes, name: str, sample_rate: int) -> np.ndarray:
  """An uploaded file's bytes -> float32 mono [samples] at `sample_rate`.

  Raises:
    audio.AudioError: `name: reason` (empty, unreadable, truncated, NaN).
  """
  suffix = os.path.splitext(name)[1].lower()
  if suffix not in audio.AUDIO_EXTENSIONS:
    suffix = ""
  with tempfile.TemporaryDirectory(prefix="neuralsynth-upload-") as folder:
    path = os.path.join(folder, "upload" + suffix)
    with open(path, "wb") as f:
      f.write(data)
    try:
      return audio.load(path, sample_rate)
    except audio.AudioError as e:
      raise audio.AudioError(str(e).replace(path, name)) from None


def page_html(status: dict[str, Any], sample_rate: int) -> str:
  """The page: what plays (from `status`) and the player's settings."""
  environment = jinja2.Environment(
      loader=jinja2.FileSystemLoader(PAGE_DIR), autoescape=True,
      undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
  style = _asset("live.css").decode("utf-8")
  settings = dict(sampleRate=sample_rate,
                  temperatureRange=engine.TEMPERATURE_RANGE)
  return environment.get_template("index.html").render(
      model=str(status.get("model", "")),
      checkpoint=str(status.get("checkpoint", "")),
      sample_rate=sample_rate, style=markupsafe.Markup(style),
      settings=json.dumps(settings))


def _json_default(value: Any) -> Any:
  """NumPy scalars in a status dict -> Python numbers."""
  if isinstance(value, np.generic):
    return value.item()
  raise TypeError(f"{type(value).__name__} is not JSON serializable")


class App:
  """What a server's request handlers share; a server's own app adds its
  state and controls.

  Args:
    stream: what plays (its blocks feed `broadcaster`).
    broadcaster: fans the stream's blocks out to /stream's listeners.
    assets: path -> (content type, body), each served by GET.
    log: one line per event.
  """

  # What anyone who reaches a server not on the loopback can do.
  exposure = "listen and change the controls"

  def __init__(self, stream: Source, broadcaster: broadcast.Broadcaster,
               assets: dict[str, tuple[str, bytes]],
               log: Callable[[str], None]) -> None:
    self.stream = stream
    self.broadcaster = broadcaster
    self.assets = assets
    self.log = log

  def status(self) -> dict[str, Any]:
    """The stream's status plus its listeners and sample rate."""
    return dict(self.stream.status(), listeners=self.broadcaster.listeners,
                dropped_listeners=self.broadcaster.dropped,
                peak_listeners=self.broadcaster.peak_listeners,
                sample_rate=self.stream.sample_rate)


def script_asset(source: bytes) -> tuple[str, bytes]:
  """An asset entry (content type, body) for a script."""
  return "text/javascript; charset=utf-8", source


class _StreamApp(App):
  """`serve`'s app: the stream's controls and the upload limit."""

  stream: Stream

  def __init__(self, stream: Stream, broadcaster: broadcast.Broadcaster,
               max_upload_bytes: int, log: Callable[[str], None]) -> None:
    page = page_html(stream.status(), stream.sample_rate)
    super().__init__(stream, broadcaster, {
        "/": ("text/html; charset=utf-8", page.encode("utf-8")),
        "/app.js": script_asset(_asset("app.js")),
        "/worklet.js": script_asset(_asset("worklet.js")),
    }, log)
    self.max_upload_bytes = max_upload_bytes

  def control(self, name: str, value: Any) -> None:
    """Applies a parsed control (the stream raises RequestError for a
    value out of range or a clip not in its prime folder)."""
    if name == "temperature":
      self.stream.set_temperature(value)
    elif name == "seed":
      self.stream.set_seed(value)
    else:
      self.stream.prime_clip(value)


def _asset(name: str) -> bytes:
  with open(os.path.join(PAGE_DIR, name), "rb") as f:
    return f.read()


class _Server(http.server.ThreadingHTTPServer):
  daemon_threads = True
  app: App
  loopback_only: bool

  def handle_error(self, request: Any, client_address: Any) -> None:
    """A client that went away is no error; anything else is (traceback)."""
    if not isinstance(sys.exc_info()[1], (ConnectionError, socket.timeout)):
      super().handle_error(request, client_address)


# The errors of a control a user got wrong: HTTP 400 with the message.
_USER_ERRORS = (ControlError, RequestError, audio.AudioError)


class Handler(http.server.BaseHTTPRequestHandler):
  """Routes a request by `routes()`; anything not routed is 404. A
  server's handler adds its routes (its methods may use `_body`, `_json`
  and `_error`)."""

  protocol_version = "HTTP/1.1"
  timeout = SOCKET_TIMEOUT_SECONDS
  server_version = "neuralsynth-live"
  sys_version = ""
  server: _Server

  def log_message(self, format: str, *args: Any) -> None:  # pylint: disable=redefined-builtin
    """Quiet: the status is polled every second."""

  def do_GET(self) -> None:  # pylint: disable=invalid-name
    self._route("GET")

  def do_POST(self) -> None:  # pylint: disable=invalid-name
    self._route("POST")

  def routes(self) -> dict[str, tuple[str, Callable[[], None]]]:
    """path -> (HTTP method, handler): the app's assets, /stream, /status."""
    routes: dict[str, tuple[str, Callable[[], None]]] = {
        name: ("GET", self._asset) for name in self.server.app.assets}
    routes.update({"/stream": ("GET", self._stream),
                   "/status": ("GET", self._status)})
    return routes

  def _route(self, method: str) -> None:
    path = urllib.parse.urlsplit(self.path).path
    routes = self.routes()
    if self.server.loopback_only and not self._host_is_loopback():
      self._error(403, "this server answers only requests to the loopback "
                  "address (Host header)")
    elif path not in routes:
      self._error(404, f"{path}: not found")
    elif routes[path][0] != method:
      self._error(405, f"{path}: use {routes[path][0]}")
    else:
      routes[path][1]()

  def _host_is_loopback(self) -> bool:
    """Guards a loopback server against DNS rebinding: a page of another
    site that made its name resolve to 127.0.0.1 sends its own Host."""
    host = urllib.parse.urlsplit("//" + self.headers.get("Host", "")).hostname
    return host is not None and is_loopback(host)

  def _send(self, code: int, content_type: str, body: bytes) -> None:
    self.send_response(code)
    self.send_header("Content-Type", content_type)
    self.send_header("Content-Length", str(len(body)))
    self.send_header("Cache-Control", "no-store")
    self.send_header("X-Content-Type-Options", "nosniff")
    if content_type.startswith("text/html"):
      self.send_header("Content-Security-Policy",
                       "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                       "img-src 'self' data:; frame-ancestors 'none'")
    self.end_headers()
    self.wfile.write(body)

  def _json(self, data: dict[str, Any], code: int = 200) -> None:
    self._send(code, "application/json",
               json.dumps(data, default=_json_default).encode("utf-8"))

  def _error(self, code: int, message: str) -> None:
    self.close_connection = True  # a request body may be left unread
    self._json({"error": " ".join(message.split())}, code)

  def _asset(self) -> None:
    path = urllib.parse.urlsplit(self.path).path
    self._send(200, *self.server.app.assets[path])

  def _status(self) -> None:
    self._json(self.server.app.status())

  def _body(self, content_type: str, max_bytes: int,
            refused: Callable[[str], None] | None = None) -> bytes | None:
    """The request body, or None after answering why it is refused.

    `refused(reason)`, if given, is called before that answer is sent (so
    a client that reads the answer then /status sees the refusal counted).
    """
    given = self.headers.get("Content-Type", "").split(";")[0].strip()
    length = self.headers.get("Content-Length", "")
    if given != content_type:
      # Also keeps other sites' pages out: a cross-site request with this
      # type needs a CORS preflight, which this server never grants.
      code, reason = 400, (f"{self.path}: send {content_type} (got "
                           f"{given or 'no Content-Type'})")
    elif not length.isdigit():
      code, reason = 411, f"{self.path}: a Content-Length is needed"
    elif int(length) > max_bytes:
      code, reason = 413, (f"{self.path}: {int(length)} bytes is more than "
                           f"the limit of {max_bytes} bytes")
    else:
      return self.rfile.read(int(length))
    if refused is not None:
      refused(reason)
    self._error(code, reason)
    return None

  def _stream(self) -> None:
    app = self.server.app
    self.send_response(200)
    self.send_header("Content-Type", "application/octet-stream")
    self.send_header("Transfer-Encoding", "chunked")
    self.send_header("Cache-Control", "no-store")
    self.send_header("X-Content-Type-Options", "nosniff")
    self.send_header("X-Sample-Rate", str(app.stream.sample_rate))
    self.send_header("Connection", "close")
    self.end_headers()
    self.close_connection = True
    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF,
                               SEND_BUFFER_BYTES)
    with app.broadcaster.listen() as listener:
      app.log(f"listener joined ({app.broadcaster.listeners} listening)")
      try:
        for block in listener:
          data = np.asarray(block).astype("<i2", copy=False).tobytes()
          self.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))
        self.wfile.write(b"0\r\n\r\n")
      except (OSError, socket.timeout):
        pass  # the listener went away (closed, reset, or stopped reading)
    why = " (dropped: not reading)" if listener.dropped else ""
    app.log(f"listener left{why} ({app.broadcaster.listeners} listening)")


class _StreamHandler(Handler):
  """`serve`'s handler: the stream's clips, controls and uploads."""

  def routes(self) -> dict[str, tuple[str, Callable[[], None]]]:
    return dict(super().routes(), **{
        "/clips": ("GET", self._clips), "/control": ("POST", self._control),
        "/prime": ("POST", self._prime)})

  @property
  def app(self) -> _StreamApp:
    app = self.server.app
    assert isinstance(app, _StreamApp)
    return app

  def _clips(self) -> None:
    self._json({"clips": self.app.stream.clip_names()})

  def _apply(self, action: Callable[[], None]) -> None:
    """Runs a control; a user's mistake is a 400 and the stream plays on."""
    try:
      action()
    except _USER_ERRORS as e:
      self._error(400, str(e))
      return
    self._json({"ok": True})

  def _control(self) -> None:
    body = self._body("application/json", MAX_CONTROL_BYTES)
    if body is not None:
      self._apply(lambda: self.app.control(*parse_control(body)))

  def _prime(self) -> None:
    app = self.app
    body = self._body("application/octet-stream", app.max_upload_bytes)
    if body is None:
      return
    name = upload_name(self.headers.get("X-Clip-Name"))
    self._apply(lambda: app.stream.prime(
        decode_upload(body, name, app.stream.sample_rate),
        source=f"upload {name}"))


def serve(stream: Stream, host: str = "127.0.0.1", port: int = 8000,
          recorder: broadcast.Recorder | None = None,
          max_upload_bytes: int = MAX_UPLOAD_BYTES,
          log: Callable[[str], None] = print,
          ready: Callable[[str], None] | None = None,
          stop: threading.Event | None = None) -> None:
  """Serves the stream until SIGINT/SIGTERM, `stop` is set, or the stream
  ends; then stops the producer (its last block recorded) and returns.

  Args:
    stream: a `common.live.engine.LiveStream` (or anything with its methods).
    host, port: where to listen; port 0 picks a free port. A host other
      than the loopback gets a warning: anyone who can reach it can listen
      and change the controls.
    recorder: gets every played block (`write(block)`); the caller closes it.
    max_upload_bytes: the largest upload /prime accepts.
    log: one line per event (listening, listeners joining and leaving).
    ready: called with the page's URL once the server listens.
    stop: set it to end the server (what the signals do).

  Raises:
    ServerError: the address cannot be used.
    Whatever the stream's blocks raised.
  """
  broadcaster = broadcast.Broadcaster(stream.blocks(), stream.sample_rate,
                                      recorder)
  serve_app(_StreamApp(stream, broadcaster, max_upload_bytes, log),
            _StreamHandler, host, port, log, ready, stop)


def serve_app(app: App, handler: type[Handler], host: str = "127.0.0.1",
              port: int = 8000, log: Callable[[str], None] = print,
              ready: Callable[[str], None] | None = None,
              stop: threading.Event | None = None) -> None:
  """Serves `app` with `handler` until SIGINT/SIGTERM, `stop` is set, or
  its broadcaster finishes; then stops the broadcaster's producer and
  returns (arguments as `serve`'s). A host other than the loopback gets a
  warning naming what anyone can do (`app.exposure`); on the loopback,
  requests naming another Host get 403.

  Raises:
    ServerError: the address cannot be used.
    Whatever the stream's blocks raised.
  """
  try:
    server = _Server((host, port), handler)
  except OSError as e:
    raise ServerError(f"{host}:{port}: cannot listen ({e.strerror or e})"
                      ) from None
  server.app = app
  server.loopback_only = is_loopback(host)
  broadcaster = app.broadcaster
  stop = stop or threading.Event()
  http_thread = threading.Thread(target=server.serve_forever,
                                 kwargs=dict(poll_interval=0.2), daemon=True,
                                 name="live-http")
  try:
    with signals.on_stop_signals(lambda name: stop.set()):
      broadcaster.start()
      http_thread.start()
      url = f"http://{host}:{server.server_address[1]}/"
      if not server.loopback_only:
        log(f"warning: listening on {host}: anyone on the network can "
            f"{app.exposure}")
      log(f"listening on {url} (Ctrl-C to stop)")
      if ready is not None:
        ready(url)
      while not stop.wait(0.2) and not broadcaster.finished.is_set():
        pass
  finally:
    broadcaster.stop()
    if http_thread.is_alive():
      server.shutdown()
    server.server_close()
  if broadcaster.error is not None:
    raise broadcaster.error
