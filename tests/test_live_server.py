"""The live stream's broadcaster and web server (common.live.broadcast, .server).

The server is tested on `FakeStream`, a stand-in with LiveStream's methods
whose blocks are deterministic and paced like the real stream's, so no
model is needed (tests/test_live.py covers the engine); one test serves
the real engine on a tiny untrained SampleRNN.
"""

import http.client
import json
import os
import signal
import threading
import time
import urllib.parse

import numpy as np
import pytest
import soundfile as sf

from common import audio
from common.generator import RequestError
from common.live import broadcast
from common.live import engine
from common.live import server

SR = 16000
BLOCK = 800  # 50 ms


class FakeStream:
  """LiveStream's interface over a deterministic signal.

  Block k is a tone (its pitch set by the seed, its level by the
  temperature) plus noise drawn from `default_rng(k)`, so any run of
  samples is found at one place only in the whole stream. Paced like
  LiveStream: at most `ahead_seconds` ahead of the wall clock since the
  first block. Controls are checked by the engine's own checks.
  """

  def __init__(self, ahead_seconds=1.0, fail_after=None, prime_dir=None):
    self.sample_rate = SR
    self.clips = engine.clip_paths(prime_dir)
    self.ahead_seconds = ahead_seconds
    self.fail_after = fail_after
    self.temperature = 1.0
    self.seed = 0
    self.primes = []  # (samples float32, source)
    self.playing = "initial state"
    self.produced = 0
    self.closed = False
    self._start = time.monotonic()

  def blocks(self):
    self._start = time.monotonic()
    try:
      for k in range(10**9):
        if k == self.fail_after:
          raise RuntimeError("the model broke")
        while (self.produced / SR - (time.monotonic() - self._start) >
               self.ahead_seconds):
          time.sleep(0.01)
        t = np.arange(self.produced, self.produced + BLOCK) / SR
        tone = np.sin(2 * np.pi * (220 + self.seed % 500) * t)
        noise = np.random.default_rng(k).uniform(-1, 1, BLOCK)
        block = (0.2 * self.temperature * tone + 0.05 * noise) * 32767
        self.produced += BLOCK
        yield block.astype(np.int16)
    finally:
      self.closed = True

  def status(self):
    elapsed = time.monotonic() - self._start
    return dict(model="fake <model>", checkpoint=12, temperature=self.temperature,
                seed=self.seed, playing=self.playing, uptime_seconds=elapsed,
                samples_generated=self.produced,
                samples_played=min(self.produced, int(elapsed * SR)),
                real_time_factor=3.0,
                ahead_seconds=self.produced / SR - elapsed, underruns=0,
                collapses=0, recoveries=0)

  def set_temperature(self, temperature):
    self.temperature = engine.check_temperature(temperature)

  def set_seed(self, seed):
    self.seed = engine.check_seed(seed)

  def prime(self, samples, source):
    self.primes.append((samples, source))
    self.playing = source

  def clip_names(self):
    return sorted(self.clips)

  def prime_clip(self, name):
    if name not in self.clips:
      raise RequestError(f"{name!r} is not a clip of the prime folder")
    self.prime(audio.load(self.clips[name], SR), name)


class ListRecorder:

  def __init__(self):
    self.blocks = []

  def write(self, block):
    self.blocks.append(block.copy())

  def audio(self):
    return np.concatenate(self.blocks)


class Served:
  """`serve` (default `server.serve`) of `stream` running in a thread;
  `stop()` ends it."""

  def __init__(self, stream, serve=server.serve, **kwargs):
    self.stream = stream
    self.lines = []
    self.error = None
    self._stop = threading.Event()
    ready = threading.Event()
    self.url = None

    def on_ready(url):
      self.url = url
      ready.set()

    def run():
      try:
        serve(stream, port=0, log=self.lines.append, ready=on_ready,
              stop=self._stop, **kwargs)
      except BaseException as e:  # pylint: disable=broad-except
        self.error = e
        ready.set()

    self.thread = threading.Thread(target=run, daemon=True)
    self.thread.start()
    assert ready.wait(10) and self.url, self.error
    parts = urllib.parse.urlsplit(self.url)
    self.host, self.port = parts.hostname, parts.port

  def connection(self):
    return http.client.HTTPConnection(self.host, self.port, timeout=10)

  def request(self, method, path, body=None, headers=None):
    """(status, parsed JSON or bytes) of one request."""
    c = self.connection()
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    if r.getheader("Content-Type") == "application/json":
      return r.status, json.loads(data)
    return r.status, data

  def control(self, request):
    return self.request("POST", "/control", json.dumps(request),
                        {"Content-Type": "application/json"})

  def status(self):
    return self.request("GET", "/status")[1]

  def stop(self):
    self._stop.set()
    self.thread.join(10)
    assert not self.thread.is_alive()


@pytest.fixture
def served(tmp_path):
  clips = tmp_path / "clips"
  (clips / "sub").mkdir(parents=True)
  t = np.arange(22050) / 22050
  audio.save(str(clips / "a.wav"), 0.3 * np.sin(2 * np.pi * 330 * t), 22050)
  audio.save(str(clips / "sub" / "b.flac"), 0.3 * np.sin(2 * np.pi * 110 * t),
             22050)
  (tmp_path / "secret.wav").write_bytes(b"not for listeners")
  recorder = ListRecorder()
  s = Served(FakeStream(prime_dir=str(clips)), recorder=recorder,
             max_upload_bytes=100_000)
  s.recorder = recorder
  yield s
  s.stop()


def _read_stream(served, seconds, started=None):
  """int16 samples of /stream over `seconds` (the HTTP chunking undone)."""
  c = served.connection()
  c.request("GET", "/stream")
  r = c.getresponse()
  assert r.status == 200
  assert r.getheader("Content-Type") == "application/octet-stream"
  assert r.getheader("X-Sample-Rate") == str(SR)
  if started is not None:
    started.set()
  data, end = b"", time.monotonic() + seconds
  while time.monotonic() < end:
    data += r.read1(65536)
  c.close()
  return np.frombuffer(data[:len(data) // 2 * 2], "<i2")


def _where(part, whole):
  """The sample offset of `part` in `whole` (asserts it is there once)."""
  whole_bytes, part_bytes = whole.tobytes(), part.tobytes()
  at = whole_bytes.find(part_bytes)
  assert at >= 0 and at % 2 == 0, "not a piece of the recorded stream"
  assert whole_bytes.find(part_bytes, at + 1) < 0
  return at // 2


# ---- the broadcaster, in process, on a fake clock ----


class Feed:
  """Blocks handed to the producer one at a time; `published(n)` waits
  until the producer has asked for block n + 1 (so block n is out)."""

  def __init__(self):
    self._blocks = []
    self._asked = 0
    self._cond = threading.Condition()

  def put(self, *blocks):
    with self._cond:
      self._blocks.extend(blocks)
      self._cond.notify_all()

  def published(self, n, timeout=10):
    with self._cond:
      assert self._cond.wait_for(lambda: self._asked > n, timeout)

  def __iter__(self):
    i = 0
    while True:
      with self._cond:
        self._asked += 1
        self._cond.notify_all()
        self._cond.wait_for(lambda: len(self._blocks) > i)
        block = self._blocks[i]
      if block is None:
        return
      yield block
      i += 1


def _blocks(n, size=100):
  return [np.full(size, k, np.int16) for k in range(n)]


def test_new_listener_joins_at_the_live_point():
  now = [100.0]
  feed, recorder = Feed(), ListRecorder()
  # 1000 Hz, blocks of 0.1 s; the stream runs 0.65 s ahead of the clock.
  b = broadcast.Broadcaster(feed, 1000, recorder, queue_seconds=5,
                            backlog_seconds=2, clock=lambda: now[0])
  b.start()
  blocks = _blocks(30)
  feed.put(blocks[0])
  feed.published(1)
  feed.put(*blocks[1:10])
  feed.published(10)
  now[0] += 0.35  # playing sample 350: block 3 (300..399) is the live one
  listener = b.listen()
  feed.put(*blocks[10:20])
  feed.published(20)
  now[0] += 0.5
  later = b.listen()  # playing 850 (block 8); the backlog reaches back there
  feed.put(*blocks[20:], None)
  b.finished.wait(10)
  heard, heard_later = list(listener), list(later)
  assert [blk[0] for blk in heard] == list(range(3, 30))
  assert [blk[0] for blk in heard_later] == list(range(8, 30))
  # From the sample playing when they joined: block 3 from 350, 8 from 850.
  assert len(heard[0]) == len(heard_later[0]) == 50
  assert all(len(blk) == 100 for blk in heard[1:] + heard_later[1:])
  assert [blk[0] for blk in recorder.blocks] == list(range(30))
  b.stop()
  assert b.error is None and b.listeners == 0


def test_stalled_stream_moves_the_live_point():
  now = [0.0]
  feed = Feed()
  b = broadcast.Broadcaster(feed, 1000, backlog_seconds=2,
                            clock=lambda: now[0])
  b.start()
  feed.put(*_blocks(5))
  feed.published(5)
  now[0] += 3.0  # the stream stalls: all it made is in the past
  feed.put(np.full(100, 5, np.int16))
  feed.published(6)
  listener = b.listen()
  feed.put(np.full(100, 6, np.int16), None)
  b.finished.wait(10)
  assert [blk[0] for blk in listener] == [5, 6]


def test_listener_that_stops_reading_is_dropped_without_stalling():
  feed = Feed()
  b = broadcast.Broadcaster(feed, 1000, queue_seconds=1.0)
  b.start()
  stuck, reader = b.listen(), b.listen()
  got = []
  thread = threading.Thread(target=lambda: got.extend(reader),
                            daemon=True)
  thread.start()
  # 4 s of audio, as fast as the reader takes it; the stuck queue holds 1 s.
  for k, block in enumerate(_blocks(40)):
    feed.put(block)
    deadline = time.monotonic() + 10
    while len(got) <= k and time.monotonic() < deadline:
      time.sleep(0.001)
  feed.published(40)  # the producer did not wait for the stuck listener
  assert stuck.dropped and b.dropped == 1 and b.listeners == 1
  assert b.peak_listeners == 2  # what the load test reports
  assert list(stuck) == []  # a dropped listener ends at once
  feed.put(None)
  thread.join(10)
  assert [blk[0] for blk in got] == list(range(40))
  assert not reader.dropped


# ---- the server over HTTP, on the fake stream ----


def test_two_listeners_hear_the_same_live_audio(served):
  started = threading.Event()
  results = {}
  first = threading.Thread(target=lambda: results.update(
      a=_read_stream(served, 2.5, started)), daemon=True)
  first.start()
  started.wait(5)
  time.sleep(0.5)
  results["b"] = _read_stream(served, 1.5)
  first.join()
  recorded = served.recorder.audio()
  a, b = results["a"], results["b"]
  # More than the 1 s the stream runs ahead: the listeners got live audio.
  assert len(a) > 1.5 * SR and len(b) > 1.2 * SR
  at_a, at_b = _where(a, recorded), _where(b, recorded)
  assert at_a < at_b < at_a + len(a)  # b joined later, inside a's audio
  overlap = min(at_a + len(a), at_b + len(b)) - at_b
  assert overlap > SR
  np.testing.assert_array_equal(a[at_b - at_a:][:overlap], b[:overlap])
  # A listener that closed is noticed at the next blocks written to it.
  deadline = time.monotonic() + 5
  while served.status()["listeners"] and time.monotonic() < deadline:
    time.sleep(0.05)
  assert served.status()["listeners"] == 0
  assert served.status()["peak_listeners"] == 2
  assert served.lines.count("listener left (1 listening)") == 1


def test_status_page_and_assets(served):
  status = served.status()
  assert status["model"] == "fake <model>" and status["listeners"] == 0
  assert status["sample_rate"] == SR and status["temperature"] == 1.0
  code, page = served.request("GET", "/")
  assert code == 200
  html = page.decode("utf-8")
  assert "fake &lt;model&gt;" in html and "<model>" not in html  # escaped
  assert 'src="/app.js"' in html
  for name in ("app.js", "worklet.js"):
    code, body = served.request("GET", "/" + name)
    with open(os.path.join(server.PAGE_DIR, name), "rb") as f:
      assert code == 200 and body == f.read()
  code, clips = served.request("GET", "/clips")
  assert code == 200 and clips == {"clips": ["a.wav", "sub/b.flac"]}


@pytest.mark.parametrize("path", [
    "/../secret.wav", "/..%2fsecret.wav", "/%2e%2e/%2e%2e/etc/passwd",
    "/clips/../secret.wav", "/clips/a.wav", "/live.css", "/index.html",
    "/page/app.js", "//etc/passwd", "/app.js/..", "/status/../../x"])
def test_only_its_own_routes_are_served(served, path):
  code, body = served.request("GET", path)
  assert code == 404 and "not found" in body["error"], path


def test_wrong_method_and_foreign_host(served):
  assert served.request("POST", "/status", b"",
                        {"Content-Type": "application/json"})[0] == 405
  assert served.request("GET", "/control")[0] == 405
  # A page of another site whose name resolves to 127.0.0.1 (DNS
  # rebinding) sends its own Host: refused.
  code, body = served.request("GET", "/status", headers={
      "Host": f"evil.example:{served.port}"})
  assert code == 403 and "loopback" in body["error"]
  assert served.request("GET", "/status", headers={
      "Host": f"localhost:{served.port}"})[0] == 200


def test_controls_apply(served):
  assert served.control({"temperature": 0.5}) == (200, {"ok": True})
  assert served.control({"seed": 7}) == (200, {"ok": True})
  status = served.status()
  assert status["temperature"] == 0.5 and status["seed"] == 7
  assert served.control({"clip": "sub/b.flac"}) == (200, {"ok": True})
  (samples, source), = served.stream.primes
  # Decoded from 22050 Hz to the stream's rate.
  assert samples.dtype == np.float32 and len(samples) == SR
  assert source == "sub/b.flac"


@pytest.mark.parametrize("request_, message", [
    ({"temperature": 2.5}, "temperature 2.5 must be a number in 0..2"),
    ({"temperature": "hot"}, "temperature: 'hot' is not a number"),
    ({"temperature": True}, "temperature: True is not a number"),
    ({"seed": 1.5}, "seed: 1.5 is not an integer"),
    ({"seed": -1}, "seed -1 must be a whole number in 0..4294967295"),
    ({"seed": 2**40}, "seed 1099511627776 must be a whole number"),
    ({"temperature": 10**400}, "temperature: 1000000000000000000000000000000000000..."),
    ({"clip": "../secret.wav"}, "'../secret.wav' is not a clip of the prime"),
    ({"clip": 3}, "clip: 3 is not a clip name"),
    ({"volume": 3}, "control: unknown key 'volume'"),
    ({"seed": 1, "temperature": 1}, "control: expected a JSON object with one"),
    ([1], "control: expected a JSON object with one"),
    ("nan", "control: not JSON"),
])
def test_bad_controls_get_one_line_errors(served, request_, message):
  body = request_ if isinstance(request_, str) else json.dumps(request_)
  before = served.status()
  code, answer = served.request("POST", "/control", body,
                                {"Content-Type": "application/json"})
  assert code == 400 and answer["error"].startswith(message), answer
  assert "\n" not in answer["error"]
  after = served.status()
  assert (after["temperature"], after["seed"]) == (1.0, 0)
  assert not served.stream.primes
  _plays_on(served, before)


def _plays_on(served, before, timeout=5):
  """The stream makes blocks after the `before` status (paced: one every
  block's length, 50 ms)."""
  deadline = time.monotonic() + timeout
  while served.status()["samples_generated"] <= before["samples_generated"]:
    assert time.monotonic() < deadline, "the stream stopped"
    time.sleep(0.02)


def test_control_needs_json_content_type(served):
  # A page of another site can post text/plain without asking; JSON needs
  # a CORS preflight this server never grants.
  code, answer = served.request("POST", "/control", '{"seed": 3}',
                                {"Content-Type": "text/plain"})
  assert code == 400 and "application/json" in answer["error"]
  assert served.status()["seed"] == 0


def _upload(served, data, name="clip.wav"):
  return served.request("POST", "/prime", data, {
      "Content-Type": "application/octet-stream",
      "X-Clip-Name": urllib.parse.quote(name)})


def test_upload_primes_the_stream(served, tmp_path):
  path = str(tmp_path / "stereo.wav")
  t = np.arange(44100 // 2) / 44100
  sf.write(path, np.stack([np.sin(2 * np.pi * 200 * t)] * 2, 1) * 0.3,
           44100, subtype="PCM_16")
  with open(path, "rb") as f:
    data = f.read()
  assert len(data) < 100_000
  assert _upload(served, data, "../../my take.wav") == (200, {"ok": True})
  (samples, source), = served.stream.primes
  assert samples.dtype == np.float32 and len(samples) == SR // 2
  assert source == "upload my take.wav"  # the name without its folders


def test_bad_uploads_get_one_line_errors(served, tmp_path):
  path = str(tmp_path / "ok.wav")
  audio.save(path, np.zeros(8000, np.float32), SR)
  with open(path, "rb") as f:
    wav = f.read()
  before = served.status()
  cases = [
      (b"", "empty.wav", 400, "empty.wav: empty file"),
      (b"RIFF garbage" * 20, "junk.mp3", 400,
       "junk.mp3: not a readable audio file"),
      (wav[:-4000], "cut.wav", 400, "cut.wav: truncated"),
      (b"\0" * 100_001, "big.wav", 413,
       "/prime: 100001 bytes is more than the limit of 100000 bytes"),
  ]
  for data, name, code, message in cases:
    got_code, answer = _upload(served, data, name)
    assert (got_code, answer["error"][:len(message)]) == (code, message), (
        answer)
    assert "neuralsynth-upload" not in answer["error"]  # no temporary path
  assert not served.stream.primes
  _plays_on(served, before)


def test_address_in_use():
  s = Served(FakeStream())
  try:
    with pytest.raises(server.ServerError, match=f"127.0.0.1:{s.port}: "
                       "cannot listen"):
      server.serve(FakeStream(), port=s.port)
  finally:
    s.stop()


def test_stream_failure_stops_the_server():
  stream = FakeStream(fail_after=3)
  s = Served(stream)
  s.thread.join(10)
  assert isinstance(s.error, RuntimeError) and stream.closed


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_shuts_down_cleanly(signum):
  """serve() in the main thread; a signal ends it: the listener's response
  ends properly, with the last recorded block; the stream is closed."""
  stream, recorder, got = FakeStream(), ListRecorder(), {}

  def listen(url):
    parts = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    c.request("GET", "/stream")
    got["data"] = c.getresponse().read()  # IncompleteRead if cut off

  def on_ready(url):
    got["thread"] = threading.Thread(target=listen, args=(url,), daemon=True)
    got["thread"].start()
    threading.Timer(1.0, os.kill, (os.getpid(), signum)).start()

  previous = signal.getsignal(signum)
  server.serve(stream, port=0, recorder=recorder, log=lambda line: None,
               ready=on_ready)
  got["thread"].join(10)
  assert signal.getsignal(signum) is previous
  assert stream.closed
  played = np.frombuffer(got["data"], "<i2")
  recorded = recorder.audio()
  assert len(played) >= SR  # the stream's 1 s lead, at least
  np.testing.assert_array_equal(played, recorded[len(recorded) - len(played):])


# ---- the real engine ----


def test_real_engine_streams_and_takes_controls(tmp_path):
  """A tiny untrained SampleRNN's LiveStream served: the listener hears
  the recorded stream, a temperature and an upload apply."""
  # pylint: disable=g-import-not-at-top
  import keras
  from common import config as config_lib
  from common import family as family_lib
  from common import model_api
  keras.utils.set_random_seed(1)
  config = config_lib.load("samplernn", "tiny", {})
  config["sample_rate"] = SR
  plugin = family_lib.get("samplernn")
  model = model_api.build(plugin.build_model(config))
  stream = engine.LiveStream(plugin.generator(model, config),
                             engine.LiveSettings(ahead_seconds=1.0),
                             dict(model="tiny", checkpoint="none"),
                             model=model)
  recorder = ListRecorder()
  served = Served(stream, recorder=recorder)
  try:
    deadline = time.monotonic() + 120  # the first block compiles the model
    while not served.status()["samples_generated"]:
      assert time.monotonic() < deadline
      time.sleep(0.2)
    played = _read_stream(served, 2.0)
    assert len(played) > SR and len(np.unique(played)) > 16
    _where(played, recorder.audio())
    assert served.control({"temperature": 0.5}) == (200, {"ok": True})
    path = str(tmp_path / "prime.wav")
    audio.save(path, 0.3 * np.sin(np.arange(SR) / 10), SR)
    with open(path, "rb") as f:
      assert _upload(served, f.read(), "prime.wav") == (200, {"ok": True})
    code, answer = served.control({"temperature": 9})
    assert code == 400 and answer["error"].startswith("temperature 9 must")
    # The prime applies at the next block (its first run compiles).
    deadline = time.monotonic() + 120
    while served.status()["playing"] != "upload prime.wav":
      assert time.monotonic() < deadline
      time.sleep(0.2)
    assert len(_read_stream(served, 1.0)) > SR // 2  # the stream plays on
    status = served.status()
    assert status["temperature"] == 0.5 and status["model"] == "tiny"
  finally:
    served.stop()
