r"""Benchmarks of the live stream (`common.live`): memory, drift, pacing, load.

    python -m eval.live_bench --bench=endurance --hours=1 --output_dir=DIR
    python -m eval.live_bench --bench=paced --minutes=10 --output_dir=DIR
    python -m eval.live_bench --bench=listeners --listeners=50 --seconds=60 \
        --output_dir=DIR

Each run prints a table and writes `live_<bench>.json` (the figures and the
time series) and `live_<bench>.png` (the time series) into `--output_dir`,
atomically (`common.files`); an existing result is kept unless
`--overwrite`. The model is the shipped `pretrained/samplernn_bach` unless
`--model_dir` names another.

- endurance: `--hours` of audio generated as fast as possible through
  `LiveStream(pace=False)`, the watchdog off so the RNN state is carried
  for the whole run. Every `--every_seconds` of audio it records the
  resident memory (`eval.memory.current_rss_mb`), the L2 norm of each
  floating tensor of the generator's `State.tensors` (the engine keeps its
  state to itself, so the generator is wrapped in `StateTracker`, which
  records the state each `next_block` returns), and whether the last
  `collapse_seconds` of audio are collapsed (`common.collapse`: silence, a
  stuck tone or noise). It reports the RSS slope in MB per hour of audio
  and each state tensor's drift (the change of its mean norm from the
  first to the last quarter of the run, relative to its mean), both past
  `--warmup_seconds` of audio; a state *grows* when that change is a rise
  beyond `GROWTH_FRACTION` (a fall is the music getting quieter, not a
  state running away from what training saw).
- paced: the stream paced to real time for `--minutes`, served by
  `common.live.server.serve` on loopback to `--listeners` (2) plain HTTP
  clients reading `/stream` in a separate process (so the server's CPU
  share is its own): the server's underruns, each listener's underruns as
  a player starting with `--cushion_seconds` buffered would have them (the
  page's worklet starts with 0.3 s), the time from start (before the model
  loads) to the first audio byte, and the server process's CPU share
  (`os.times`).
- listeners: the same with `--listeners` (50) for `--seconds` (60), plus
  `--stalled` listeners that stop reading after their first bytes (the
  server should drop them without stalling the others): underruns of the
  reading listeners, and the server's RSS before, at peak and after.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import http.client
import json
import math
import multiprocessing
import os
import socket
import sys
import threading
import time
import urllib.parse
import urllib.request
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from common import collapse
from common import files
from common import generator as generator_lib
from common.live import engine
from eval import memory

BENCHES = ("endurance", "paced", "listeners")
DEFAULT_MODEL_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "pretrained", "samplernn_bach")
# RSS is flat when its fitted slope is below this (MB per hour of audio).
FLAT_MB_PER_HOUR = 5.0
# A state tensor grows when its mean norm over the last quarter of the run
# exceeds that over the first by more than this fraction of the mean.
GROWTH_FRACTION = 0.1
# A listener's player starts with this much audio buffered (seconds), as
# the page's worklet does (START_SECONDS in common/live/page/app.js).
CUSHION_SECONDS = 0.3
READ_BYTES = 1 << 16
# A listener that gets no byte for this long gives up (seconds).
LISTENER_TIMEOUT_SECONDS = 15.0
STALLED_RECEIVE_BUFFER = 4096  # bytes: a stalled listener's socket fills fast


class BenchError(ValueError):
  """A benchmark that cannot run as asked (a user error: one line)."""


# ----------------------------------------------------------------------------
# Small pure helpers.


def state_norms(tensors: Any, path: str = "") -> dict[str, float]:
  """{path: L2 norm} of the floating tensors in a nest of dicts, tuples and
  lists (`State.tensors`); paths like "states/0". Integer leaves (codes)
  are skipped."""
  if isinstance(tensors, dict):
    items: Iterator[tuple[Any, Any]] = iter(sorted(tensors.items()))
  elif isinstance(tensors, (tuple, list)):
    items = enumerate(tensors)
  else:
    values = np.asarray(tensors)
    if not np.issubdtype(values.dtype, np.floating):
      return {}
    return {path: float(np.linalg.norm(values.astype(np.float64)))}
  norms: dict[str, float] = {}
  for key, value in items:
    norms.update(state_norms(value, f"{path}/{key}" if path else str(key)))
  return norms


def slope(xs: Sequence[float], ys: Sequence[float]) -> float:
  """The least-squares slope of ys over xs (nan with fewer than 2 points)."""
  if len(xs) < 2 or min(xs) == max(xs):
    return math.nan
  return float(np.polyfit(np.asarray(xs, np.float64),
                          np.asarray(ys, np.float64), 1)[0])


def _duration(seconds: float) -> str:
  seconds = max(0.0, seconds)
  if seconds >= 3600:
    return f"{seconds / 3600:.1f} h"
  return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


def _rss() -> float | None:
  rss = memory.current_rss_mb()
  return None if rss is None else round(rss, 1)


def _cpu_seconds() -> float:
  """User + system CPU time of this process (all threads), seconds."""
  times = os.times()
  return times.user + times.system


# ----------------------------------------------------------------------------
# Endurance.


class StateTracker(generator_lib.Generator):
  """A generator that passes everything to `inner` and keeps the `State`
  its last `next_block` returned in `state` (the live engine keeps its own
  to itself). Without controls or the watchdog that is the stream's state;
  a crossfade's look-ahead block would also be recorded."""

  def __init__(self, inner: generator_lib.Generator) -> None:
    self.inner = inner
    for name in ("sample_rate", "q_levels", "quantization", "block_multiple",
                 "block_samples", "samples_per_frame", "embedding_width",
                 "can_prime"):
      setattr(self, name, getattr(inner, name))
    self.state: generator_lib.State | None = None

  def start(self, request: generator_lib.Request) -> generator_lib.State:
    self.state = self.inner.start(request)
    return self.state

  def next_block(self, state: generator_lib.State, num_samples: int,
                 embeddings: np.ndarray | None = None
                 ) -> tuple[np.ndarray, generator_lib.State]:
    codes, self.state = self.inner.next_block(state, num_samples, embeddings)
    return codes, self.state


def _endurance_point(audio_seconds: float, wall_seconds: float,
                     tracker: StateTracker, recent: np.ndarray,
                     sample_rate: int) -> dict[str, Any]:
  """One sample of the endurance time series; `recent` is the last int16
  PCM `[samples]` (the collapse test's chunk)."""
  assert tracker.state is not None
  level, flatness = collapse.level_and_flatness(recent / 32767.0)
  silent, noisy = collapse.verdict([level], [flatness])
  return dict(audio_seconds=round(audio_seconds, 3),
              wall_seconds=round(wall_seconds, 3), rss_mb=_rss(),
              state_norms={k: round(v, 5) for k, v in
                           state_norms(tracker.state.tensors).items()},
              level_dbfs=round(level, 2),
              flatness=None if math.isnan(flatness) else round(flatness, 6),
              collapsed=bool(silent[0] or noisy[0]))


def endurance(gen: generator_lib.Generator, info: dict[str, Any],
              audio_seconds: float, every_seconds: float = 10.0,
              warmup_seconds: float = 60.0, collapse_seconds: float = 5.0,
              settings: engine.LiveSettings | None = None, model: Any = None,
              log: Callable[[str], None] = print,
              progress_seconds: float = 30.0,
              clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
  """Generates `audio_seconds` as fast as possible through a `LiveStream`
  and records its memory and state over time (see the module doc).

  Args:
    gen: an unconditional generator.
    info: what plays (`LiveStream`'s info).
    audio_seconds: how much audio to generate.
    every_seconds: audio between two points of the time series.
    warmup_seconds: audio left out of the fits (compilation, allocator).
    collapse_seconds: the chunk the collapse test reads at each point.
    settings: temperature and seed (pace and the watchdog are turned off).
    model: kept alive for the generator (`LiveStream`'s model).
    log: progress lines (rate, ETA) every `progress_seconds` of wall time.
    clock: wall clock, seconds.

  Returns:
    JSON-ready dict: settings, "points" (the time series) and "summary".
  """
  settings = dataclasses.replace(settings or engine.LiveSettings(),
                                 pace=False, watchdog_seconds=0.0)
  tracker = StateTracker(gen)
  stream = engine.LiveStream(tracker, settings, info, clock=clock, log=log,
                             model=model)
  rate = stream.sample_rate
  total = int(round(audio_seconds * rate))
  every = max(1, int(round(every_seconds * rate)))
  recent = np.zeros([0], np.int16)
  points: list[dict[str, Any]] = []
  done, started = 0, clock()
  last_log = started
  for block in stream.blocks():
    done += len(block)
    recent = np.concatenate([recent, block])[-int(collapse_seconds * rate):]
    if done // every > (done - len(block)) // every or done >= total:
      points.append(_endurance_point(done / rate, clock() - started, tracker,
                                     recent, rate))
    if clock() - last_log >= progress_seconds or done >= total:
      last_log = clock()
      log(_progress(done / rate, audio_seconds, last_log - started,
                    points[-1]["rss_mb"] if points else None))
    if done >= total:
      break
  return dict(bench="endurance", info=stream.info,
              settings=dict(audio_seconds=audio_seconds,
                            every_seconds=every_seconds,
                            warmup_seconds=warmup_seconds,
                            collapse_seconds=collapse_seconds,
                            temperature=settings.temperature,
                            seed=settings.seed, pace=False,
                            watchdog=False),
              summary=endurance_summary(points, warmup_seconds),
              points=points)


def _progress(done: float, total: float, wall: float,
              rss_mb: float | None) -> str:
  speed = done / wall if wall > 0 else math.nan
  eta = (total - done) / speed if speed > 0 else math.nan
  rss = "" if rss_mb is None else f", RSS {rss_mb:.0f} MB"
  return (f"{_duration(done)} of {_duration(total)} of audio, "
          f"{speed:.2f}x real time{rss}, ETA {_duration(eta)}")


def endurance_summary(points: list[dict[str, Any]],
                      warmup_seconds: float) -> dict[str, Any]:
  """RSS and state-norm figures of an endurance time series, from the
  points past `warmup_seconds` (all points if fewer than 2 are): the RSS
  slope per hour of audio (flat below `FLAT_MB_PER_HOUR`), and per state
  tensor its norm's drift, the mean over the last quarter of those points
  minus the mean over the first, relative to the mean over all (it grows
  when that is a rise beyond `GROWTH_FRACTION`; the norm follows the music,
  so single points are noisy: `spread_fraction` is its standard deviation
  over its mean)."""
  fitted = [p for p in points if p["audio_seconds"] > warmup_seconds]
  fitted = fitted if len(fitted) >= 2 else points
  hours = [p["audio_seconds"] / 3600 for p in fitted]
  rss = [p["rss_mb"] for p in fitted if p["rss_mb"] is not None]
  rss_slope = slope(hours, rss) if len(rss) == len(fitted) else math.nan
  state = {}
  quarter = max(1, len(fitted) // 4)
  for name in fitted[0]["state_norms"] if fitted else ():
    norms = np.array([p["state_norms"][name] for p in fitted])
    mean = float(np.mean(norms))
    change = float(np.mean(norms[-quarter:]) - np.mean(norms[:quarter]))
    drift = change / mean if mean > 0 else math.nan
    state[name] = dict(first=norms[0], last=norms[-1], min=min(norms),
                       max=max(norms), mean=round(mean, 5),
                       spread_fraction=round(float(np.std(norms)) / mean, 4),
                       drift_fraction=round(drift, 4),
                       grows=bool(drift > GROWTH_FRACTION))
  last = points[-1] if points else {}
  return dict(
      audio_seconds=last.get("audio_seconds"),
      wall_seconds=last.get("wall_seconds"),
      real_time_factor=(round(last["audio_seconds"] / last["wall_seconds"], 3)
                        if last.get("wall_seconds") else None),
      fitted_from_seconds=fitted[0]["audio_seconds"] if fitted else None,
      rss_first_mb=rss[0] if rss else None, rss_last_mb=rss[-1] if rss else None,
      rss_peak_mb=max((p["rss_mb"] for p in points if p["rss_mb"]),
                      default=None),
      rss_slope_mb_per_hour=round(rss_slope, 2),
      rss_flat=bool(abs(rss_slope) < FLAT_MB_PER_HOUR),
      state=state, state_grows=any(s["grows"] for s in state.values()),
      collapsed_fraction=(round(float(np.mean([p["collapsed"]
                                               for p in points])), 3)
                          if points else None))


# ----------------------------------------------------------------------------
# HTTP listeners (run in a separate process: `listen_all`).


class Player:
  """A listener's player, as the page's worklet runs: it starts once
  `cushion_seconds` are buffered, plays in real time, and when it runs dry
  counts an underrun and waits for the cushion again. Fed with the arrival
  time and length of each piece of audio (`arrive`); times in seconds."""

  def __init__(self, cushion_seconds: float) -> None:
    self.cushion_seconds = cushion_seconds
    self.received = 0.0  # seconds of audio
    self.origin: float | None = None  # clock time of position 0 (playing)
    self.stopped_at = 0.0  # position where playback waits for the cushion
    self.underruns = 0
    self.lowest_buffer = math.inf  # seconds buffered, lowest while playing

  def arrive(self, now: float, seconds: float) -> None:
    """`seconds` of audio arrived at `now` (0: only check the buffer)."""
    if self.origin is not None:
      buffered = self.received - (now - self.origin)
      if buffered < 0:
        self.underruns += 1
        self.origin, self.stopped_at = None, self.received
      else:
        self.lowest_buffer = min(self.lowest_buffer, buffered)
    self.received += seconds
    if self.origin is None and (
        self.received - self.stopped_at >= self.cushion_seconds):
      self.origin = now - self.stopped_at


def _open_stream(url: str, stalled: bool) -> tuple[http.client.HTTPResponse,
                                                    int]:
  """(the response of GET /stream, its sample rate)."""
  parts = urllib.parse.urlsplit(url)
  host, port = parts.hostname or "127.0.0.1", parts.port or 80
  connection = http.client.HTTPConnection(host, port,
                                          timeout=LISTENER_TIMEOUT_SECONDS)
  if stalled:  # a small receive window: the server's writes block soon
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF,
                    STALLED_RECEIVE_BUFFER)
    sock.settimeout(LISTENER_TIMEOUT_SECONDS)
    sock.connect((host, port))
    connection.sock = sock
  connection.request("GET", "/stream")
  response = connection.getresponse()
  if response.status != 200:
    raise BenchError(f"{url}stream: HTTP {response.status}")
  return response, int(response.getheader("X-Sample-Rate") or 0)


def listen(url: str, seconds: float, cushion_seconds: float = CUSHION_SECONDS,
           stalled: bool = False) -> dict[str, Any]:
  """Reads the server's /stream for `seconds` as one listener.

  Returns:
    connected, first_byte (time.monotonic, comparable across processes on
    Linux; None if none came), received_seconds, underruns and
    lowest_buffer_seconds (`Player`), ended (the server closed it before
    the end), stalled, error (a line, or None).
  """
  player = Player(cushion_seconds)
  result: dict[str, Any] = dict(connected=time.monotonic(), first_byte=None,
                                stalled=stalled, ended=False, error=None)
  deadline = result["connected"] + seconds
  try:
    response, rate = _open_stream(url, stalled)
    while time.monotonic() < deadline:
      data = response.read1(READ_BYTES)
      now = time.monotonic()
      if not data:
        result["ended"] = True
        break
      if result["first_byte"] is None:
        result["first_byte"] = now
        if stalled:  # stop reading; hold the connection open
          time.sleep(max(0.0, deadline - now))
          break
      player.arrive(now, len(data) / 2 / rate)
    response.close()
  except (OSError, http.client.HTTPException, BenchError) as e:
    result["error"] = f"{type(e).__name__}: {e}"
  if not stalled:
    player.arrive(min(time.monotonic(), deadline), 0.0)
  result.update(received_seconds=round(player.received, 3),
                underruns=player.underruns,
                lowest_buffer_seconds=(None if math.isinf(player.lowest_buffer)
                                       else round(player.lowest_buffer, 3)))
  return result


def listen_all(url: str, count: int, seconds: float,
               cushion_seconds: float = CUSHION_SECONDS,
               stalled: int = 0) -> list[dict[str, Any]]:
  """`count` reading listeners and `stalled` stalled ones at once, each a
  thread of this process, for `seconds`; their `listen` results."""
  results: list[dict[str, Any]] = [{} for _ in range(count + stalled)]

  def run(i: int) -> None:
    results[i] = listen(url, seconds, cushion_seconds, stalled=i >= count)

  threads = [threading.Thread(target=run, args=(i,), daemon=True)
             for i in range(count + stalled)]
  for thread in threads:
    thread.start()
  for thread in threads:
    thread.join(seconds + 2 * LISTENER_TIMEOUT_SECONDS)
  return results


# ----------------------------------------------------------------------------
# Serving to listeners.


def _get_status(url: str) -> dict[str, Any]:
  with urllib.request.urlopen(url + "status", timeout=10) as response:
    return json.loads(response.read())


def _start_server(stream: Any, log: Callable[[str], None]
                  ) -> tuple[str, threading.Event, threading.Thread,
                             list[BaseException]]:
  """Serves `stream` on a free loopback port in a thread; (url, stop,
  thread, errors) once it listens."""
  # pylint: disable=g-import-not-at-top
  from common.live import server
  ready: list[str] = []
  errors: list[BaseException] = []
  stop, listening = threading.Event(), threading.Event()

  def on_ready(url: str) -> None:
    ready.append(url)
    listening.set()

  def run() -> None:
    try:
      server.serve(stream, "127.0.0.1", 0, log=log, ready=on_ready, stop=stop)
    except BaseException as e:  # pylint: disable=broad-except
      errors.append(e)
    listening.set()

  thread = threading.Thread(target=run, daemon=True, name="live-bench-server")
  thread.start()
  listening.wait()
  if errors:
    raise errors[0]
  return ready[0], stop, thread, errors


def _server_sample(url: str, started: float, cpu: float,
                   last: dict[str, Any]) -> dict[str, Any]:
  """One point of a served run's time series; `last` is the previous."""
  now, cpu_now = time.monotonic(), _cpu_seconds()
  status = _get_status(url)
  interval = now - last.get("_now", started)
  share = (cpu_now - last.get("_cpu", cpu)) / interval if interval else 0.0
  return dict(wall_seconds=round(now - started, 3), rss_mb=_rss(),
              cpu_share=round(share, 4), listeners=status["listeners"],
              dropped_listeners=status["dropped_listeners"],
              ahead_seconds=status["ahead_seconds"],
              underruns=status["underruns"], _now=now, _cpu=cpu_now)


def serve_and_listen(stream: Any, listeners: int, seconds: float,
                     stalled: int = 0, every_seconds: float = 1.0,
                     cushion_seconds: float = CUSHION_SECONDS,
                     started: float | None = None,
                     log: Callable[[str], None] = print) -> dict[str, Any]:
  """Serves `stream` on loopback to listeners in another process and
  measures the server (see the module doc).

  Args:
    stream: a paced `common.live.engine.LiveStream` (or the server's
      `Stream`).
    listeners: reading listeners; `stalled`: listeners that stop reading.
    seconds: how long each listener stays.
    every_seconds: wall time between two points of the time series.
    cushion_seconds: a listener's player start-up buffer (`Player`).
    started: time.monotonic() of the start (before the model loaded) for
      the time to first audio; default now.
    log: the server's lines.

  Returns:
    JSON-ready dict: "listeners" (each `listen` result, times made
    relative to `started`), "points" (time series) and "summary".
  """
  started = time.monotonic() if started is None else started
  url, stop, thread, errors = _start_server(stream, log)
  rss_before, cpu_before, served = _rss(), _cpu_seconds(), time.monotonic()
  points: list[dict[str, Any]] = []
  context = multiprocessing.get_context("spawn")
  try:
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
      future = pool.submit(listen_all, url, listeners, seconds,
                           cushion_seconds, stalled)
      while not future.done() and not errors:
        points.append(_server_sample(url, served, cpu_before,
                                     points[-1] if points else {}))
        future_wait(future, every_seconds)
      heard = future.result()
    status = _get_status(url)
    rss_after, cpu_after, ended = _rss(), _cpu_seconds(), time.monotonic()
  finally:
    stop.set()
    thread.join()
  if errors:
    raise errors[0]
  for point in points:
    del point["_now"], point["_cpu"]
  for listener in heard:
    for key in ("connected", "first_byte"):
      if listener[key] is not None:
        listener[key] = round(listener[key] - started, 3)
  summary = served_summary(heard, status, points)
  summary.update(
      seconds_to_serving=round(served - started, 3),
      cpu_share=round((cpu_after - cpu_before) / (ended - served), 4),
      cpu_count=os.cpu_count(), rss_before_mb=rss_before,
      rss_after_mb=rss_after)
  return dict(settings=dict(listeners=listeners, stalled=stalled,
                            seconds=seconds, cushion_seconds=cushion_seconds,
                            every_seconds=every_seconds),
              info={k: v for k, v in status.items()
                    if k in ("model", "checkpoint", "model_dir",
                             "sample_rate", "temperature", "seed")},
              summary=summary, listeners=heard, points=points)


def future_wait(future: concurrent.futures.Future, seconds: float) -> None:
  """Waits for `future` at most `seconds`."""
  concurrent.futures.wait([future], timeout=seconds)


def served_summary(heard: list[dict[str, Any]], status: dict[str, Any],
                   points: list[dict[str, Any]]) -> dict[str, Any]:
  """The figures of a served run from its listeners' results (times
  relative to the start), the server's final status and the time series."""
  reading = [h for h in heard if not h["stalled"]]
  firsts = [h["first_byte"] for h in heard if h["first_byte"] is not None]
  return dict(
      server_underruns=status["underruns"],
      listener_underruns=sum(h["underruns"] for h in reading),
      listeners_with_underruns=sum(1 for h in reading if h["underruns"]),
      listener_errors=sum(1 for h in reading if h["error"]),
      listeners_ended_early=sum(1 for h in reading if h["ended"]),
      lowest_buffer_seconds=min(
          (h["lowest_buffer_seconds"] for h in reading
           if h["lowest_buffer_seconds"] is not None), default=None),
      received_seconds_min=min((h["received_seconds"] for h in reading),
                               default=None),
      seconds_to_first_audio=min(firsts, default=None),
      max_listeners=status["peak_listeners"],
      dropped_listeners=status["dropped_listeners"],
      real_time_factor=status["real_time_factor"],
      rss_peak_mb=max((p["rss_mb"] for p in points if p["rss_mb"]),
                      default=None))


def paced(stream: Any, minutes: float = 10.0, listeners: int = 2,
          started: float | None = None, **kwargs: Any) -> dict[str, Any]:
  """The paced benchmark: `serve_and_listen` for `minutes`."""
  return dict(bench="paced", **serve_and_listen(
      stream, listeners, minutes * 60, started=started, **kwargs))


def many_listeners(stream: Any, listeners: int = 50, seconds: float = 60.0,
                   stalled: int = 1, started: float | None = None,
                   **kwargs: Any) -> dict[str, Any]:
  """The listeners benchmark: `serve_and_listen` with many listeners and
  `stalled` ones that stop reading."""
  return dict(bench="listeners", **serve_and_listen(
      stream, listeners, seconds, stalled=stalled, started=started, **kwargs))


# ----------------------------------------------------------------------------
# Reports.


def format_table(result: dict[str, Any]) -> str:
  """The summary of a result as aligned `name  value` lines."""
  rows: list[tuple[str, Any]] = []
  for key, value in result["summary"].items():
    if isinstance(value, dict):  # endurance: per state tensor
      for name, figures in value.items():
        rows.append((f"state {name} norm",
                     f"{figures['first']:.3f} -> {figures['last']:.3f} "
                     f"(min {figures['min']:.3f}, max {figures['max']:.3f}, "
                     f"spread {figures['spread_fraction']:.0%}, "
                     f"drift {figures['drift_fraction']:+.1%})"))
    else:
      rows.append((key, value))
  width = max(len(name) for name, _ in rows)
  return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def plot(result: dict[str, Any], path: str) -> None:
  """The time series of a result as a PNG (matplotlib Agg), atomically."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg", force=False)
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  points = result["points"]
  endurance_run = result["bench"] == "endurance"
  if endurance_run:
    x = [p["audio_seconds"] / 60 for p in points]
    xlabel = "audio generated (minutes)"
    panels = [("RSS (MB)", {"RSS": [p["rss_mb"] for p in points]}),
              ("state tensor L2 norm",
               {name: [p["state_norms"][name] for p in points]
                for name in (points[0]["state_norms"] if points else ())})]
  else:
    x = [p["wall_seconds"] for p in points]
    xlabel = "wall time (s)"
    panels = [("RSS (MB)", {"RSS": [p["rss_mb"] for p in points]}),
              ("CPU (% of one core)",
               {"CPU": [100 * p["cpu_share"] for p in points]}),
              ("stream ahead (s)", {"ahead": [p["ahead_seconds"]
                                              for p in points]}),
              ("listeners", {"listeners": [p["listeners"]
                                           for p in points]})]
  fig = Figure(figsize=(8, 2.4 * len(panels)), dpi=100)
  axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
  for ax, (ylabel, lines) in zip(axes, panels):
    for label, ys in lines.items():
      ax.plot(x, [math.nan if y is None else y for y in ys], label=label)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if len(lines) > 1:
      ax.legend(fontsize="small")
  axes[-1].set_xlabel(xlabel)
  axes[0].set_title(f"live {result['bench']}: "
                    f"{result['info'].get('model', '')}")
  fig.tight_layout()
  with files.atomic_path(path) as tmp:
    fig.savefig(tmp, format="png", facecolor="white")


def output_paths(output_dir: str, bench: str) -> tuple[str, str]:
  """(JSON, PNG) paths of a benchmark's result."""
  base = os.path.join(output_dir, f"live_{bench}")
  return base + ".json", base + ".png"


def write_result(result: dict[str, Any], output_dir: str) -> tuple[str, str]:
  """Writes a result's JSON and PNG (`output_paths`); returns the paths."""
  json_path, png_path = output_paths(output_dir, result["bench"])
  plot(result, png_path)
  files.write_json(json_path, result)
  return json_path, png_path


# ----------------------------------------------------------------------------
# The command.


def _log(line: str) -> None:
  """A line on stderr, whole (server threads log at once)."""
  sys.stderr.write(line + "\n")
  sys.stderr.flush()


def run_bench(f: Any) -> dict[str, Any]:
  """Runs the benchmark the flags ask for on `--model_dir`."""
  started = time.monotonic()
  settings = engine.LiveSettings(temperature=f.temperature, seed=f.seed,
                                 pace=f.bench != "endurance")
  stream = engine.load_stream(f.model_dir, settings, f.checkpoint, log=_log)
  if f.bench == "endurance":
    every = f.every_seconds or 10.0
    return endurance(stream.generator, stream.info, f.hours * 3600, every,
                     f.warmup_seconds, settings=settings, model=stream.model,
                     log=_log)
  every = f.every_seconds or 1.0
  if f.bench == "paced":
    return paced(stream, f.minutes, f.listeners or 2, started=started,
                 every_seconds=every, cushion_seconds=f.cushion_seconds,
                 log=_log)
  return many_listeners(stream, f.listeners or 50, f.seconds, f.stalled,
                        started=started, every_seconds=every,
                        cushion_seconds=f.cushion_seconds, log=_log)


def main(argv: list[str]) -> int:
  from absl import flags  # pylint: disable=g-import-not-at-top
  del argv
  f = flags.FLAGS
  json_path, png_path = output_paths(f.output_dir, f.bench)
  for path in (json_path, png_path):
    files.refuse_overwrite(path, f.overwrite)
  result = run_bench(f)
  print(format_table(result))
  for path in write_result(result, f.output_dir):
    print(f"wrote {path}")
  return 0


def define_flags() -> None:
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_enum("bench", None, BENCHES, "Which benchmark to run.")
  flags.mark_flag_as_required("bench")
  flags.DEFINE_string("output_dir", None, "Where live_<bench>.json and "
                      ".png are written.")
  flags.mark_flag_as_required("output_dir")
  flags.DEFINE_bool("overwrite", False, "Replace an existing result.")
  flags.DEFINE_string("model_dir", DEFAULT_MODEL_DIR, "The model to stream.")
  flags.DEFINE_string("checkpoint", "best", "best, last or a checkpoint "
                      "path prefix.")
  flags.DEFINE_float("temperature", 1.0, "Sampling temperature.")
  flags.DEFINE_integer("seed", 0, "The stream's seed.")
  flags.DEFINE_float("hours", 1.0, "endurance: hours of audio to generate.",
                     lower_bound=0.0)
  flags.DEFINE_float("warmup_seconds", 60.0, "endurance: audio left out of "
                     "the RSS and drift fits.", lower_bound=0.0)
  flags.DEFINE_float("minutes", 10.0, "paced: minutes of streaming.",
                     lower_bound=0.0)
  flags.DEFINE_float("seconds", 60.0, "listeners: seconds of streaming.",
                     lower_bound=0.0)
  flags.DEFINE_integer("listeners", None, "Reading listeners (default 2 for "
                       "paced, 50 for listeners).", lower_bound=1)
  flags.DEFINE_integer("stalled", 1, "listeners: listeners that stop "
                       "reading after their first bytes.", lower_bound=0)
  flags.DEFINE_float("cushion_seconds", CUSHION_SECONDS, "A listener's "
                     "player start-up buffer.", lower_bound=0.0)
  flags.DEFINE_float("every_seconds", None, "Time series interval (default "
                     "10 s of audio for endurance, 1 s otherwise).",
                     lower_bound=0.01)


def run() -> None:
  """Console-script entry point (`neuralsynth-live-bench`)."""
  # pylint: disable=g-import-not-at-top
  from common import cli
  from common.checkpoint import CheckpointError
  from common.live import command
  cli.run(main, define_flags, __doc__,
          user_errors=command.USER_ERRORS + (BenchError, CheckpointError,
                                             generator_lib.RequestError))


if __name__ == "__main__":
  run()
