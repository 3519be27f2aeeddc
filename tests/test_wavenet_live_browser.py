"""The live instrument's page played in a real headless Chromium.

The server (`wavenet.live_server.serve`) runs the real engine
(`wavenet.live_engine.LiveInstrument`: voices, pad, controls, pacing) on
`FakeGenerator` (tests/test_wavenet_live.py: a sine per voice at its
frames' pitch, through the generator interface, faster than real time), so
what is measured is the instrument's own path: key-down in the page, the
message, the block it starts in, the PCM stream, the AudioWorklet. The
decoding speed of a real model is the real-time factor the server measures
(tests/test_wavenet_live.py runs the tiny autoencoder).

A scripted performance (single keys, a chord of 4, pad drags, a latent
control) must play with the page's audio clock advancing, no underrun
counted by the page's player, every key heard, and the key-to-first-sample
latency the page measures under `MAX_LATENCY_SECONDS`.
`NEURALSYNTH_LIVE_SECONDS=60` plays it for a minute (the README's figures).
"""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from test_instrument_browser import CHROMIUM, CHROMIUM_ARGS
from test_live_browser import _status, _wait
from test_wavenet_live import FakeGenerator, Served, fake_corners
from wavenet import live_engine

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install "
    "playwright; the browser is the system's chromium)")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium executable found (apt-get install "
    "chromium); the browser test needs a real browser")

PERFORMANCE_SECONDS = float(os.environ.get("NEURALSYNTH_LIVE_SECONDS", "8"))
# NEURALSYNTH_LIVE_MODEL=pretrained/wavenet_live plays the performance on
# that model (corners: four of the bundled notes) instead of FakeGenerator,
# served by `python -m wavenet.live` as a user starts it (its defaults: one
# decoding process per core, one thread each).
MODEL_DIR = os.environ.get("NEURALSYNTH_LIVE_MODEL")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIPS = os.path.join(ROOT, "pretrained", "clips", "notes")
CORNER_CLIPS = ("piano_000-040-127.flac", "organ_church_019-060-100.flac",
                "flute_073-078-100.flac", "lead_square_080-056-100.flac")
# In the suite the other test worker shares the 2 cores (load 5 and more):
# threads wake tens of ms late, and a lead of 0.15 s had the page run dry
# once in a 8-s run at load 5.5; 0.4 s leaves room for that. The latency
# aim (the default lead, 0.1 s) is measured by the 60-s run on a free
# machine (NEURALSYNTH_LIVE_SECONDS=60 NEURALSYNTH_LIVE_LEAD=0.1), whose
# figures the README gives.
LEAD_SECONDS = float(os.environ.get("NEURALSYNTH_LIVE_LEAD", "0.4"))
# What is ahead (the lead minus a block to the lead) + up to a block (32
# ms) waiting for the next block + a block's work + the page's share
# (messages, the player's start-up buffer, a quantum, ~40 ms): the lead +
# 0.15 s bounds it (measured 0.10-0.14 s at lead 0.15).
MAX_LATENCY_SECONDS = LEAD_SECONDS + 0.15
# The longest a released note may take to end: FakeGenerator's corners end
# 0.128 s after their note-off (64 frames of 32 samples); the real corners'
# release is wavenet.live's --seconds minus --note_off (4 - 3 s), heard a
# lead and a block or two later. A key is timed only when played from
# silence, so each waits for it (`_until_silent`).
RELEASE_SECONDS = 1.0 if MODEL_DIR else 0.3


def _until_silent(page, url):
  """Waits until no voice sounds (the server's view) and the page has
  played all of it: it heard the last key's first sample (no latency
  pending: the server may finish a short note before the page hears it)
  and its player's last quanta are exactly 0."""
  deadline = time.monotonic() + RELEASE_SECONDS + 5.0
  while any(_status(url)["voices"]):
    assert time.monotonic() < deadline, "a released voice still sounds"
    time.sleep(0.1)
  _wait(page, "(() => { const s = live.state(); "
              "return s.silent && !s.pending; })()", 5.0)


def _phrase(page, url, pad_box, step):
  """One bar of the performance: a key from silence, a chord of 4 held
  while the pad is dragged, a latent control, silence."""
  keys = ["a", "s", "d", "f"]
  page.keyboard.down(keys[step % 4])
  time.sleep(0.3)
  page.keyboard.up(keys[step % 4])
  _until_silent(page, url)
  for key in keys:
    page.keyboard.down(key)
  x0, y0 = pad_box["x"], pad_box["y"]
  w, h = pad_box["width"], pad_box["height"]
  page.mouse.move(x0 + 0.1 * w, y0 + 0.1 * h)
  page.mouse.down()
  for i in range(10):
    page.mouse.move(x0 + (0.1 + 0.08 * i) * w, y0 + (0.9 - 0.08 * i) * h)
    time.sleep(0.03)
  page.mouse.up()
  page.evaluate(f"live.setControls({{scale: {0.8 + 0.1 * (step % 4)}}})")
  for key in keys:
    page.keyboard.up(key)
  _until_silent(page, url)


class CliServed:
  """`python -m wavenet.live` on MODEL_DIR in a subprocess (port 0);
  `stop()` sends SIGTERM and records a bad exit in `error`."""

  def __init__(self, model_dir):
    corners = ",".join(os.path.join(CLIPS, name) for name in CORNER_CLIPS)
    self.proc = subprocess.Popen(
        [sys.executable, "-m", "wavenet.live", f"--model_dir={model_dir}",
         f"--corners={corners}", "--pitches=60", "--port=0",
         f"--lead_seconds={LEAD_SECONDS}"],
        cwd=ROOT, stderr=subprocess.PIPE, text=True)
    self.lines, self.url, self.error = [], None, None
    for line in self.proc.stderr:  # model, corners, speed, then the URL
      self.lines.append(line)
      found = re.search(r"listening on (http://\S+)", line)
      if found:
        self.url = found.group(1)
        break
    assert self.url, "".join(self.lines[-20:])
    threading.Thread(target=lambda: self.lines.extend(self.proc.stderr),
                     daemon=True).start()  # never a full pipe

  def stop(self):
    self.proc.send_signal(signal.SIGTERM)
    code = self.proc.wait(60)
    if code != 0:
      self.error = f"wavenet.live exit code {code}: {self.lines[-5:]}"


def _served():
  if MODEL_DIR is not None:
    return CliServed(MODEL_DIR)
  return Served(live_engine.LiveInstrument(
      FakeGenerator(delay=0.004), fake_corners(), dict(model="fake"),
      lead_seconds=LEAD_SECONDS))


def test_scripted_performance_plays_without_underruns():
  served = _served()
  problems = []
  try:
    with playwright_api.sync_playwright() as p:
      browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
      page = browser.new_page(viewport={"width": 1200, "height": 900})
      page.on("console", lambda m: problems.append(m.text)
              if m.type == "error" else None)
      page.on("pageerror", lambda e: problems.append(str(e)))
      page.goto(served.url)
      page.click("#start")
      _wait(page, "live.state().playing", 10)
      start = page.evaluate("live.state()")
      before = _status(served.url)  # (Chromium's start may have delayed it)
      assert start["contextRate"] == 16000 and start["contextState"] == "running"
      pad_box = page.locator("#pad").bounding_box()
      began, step, chords = time.monotonic(), 0, 0
      while time.monotonic() - began < PERFORMANCE_SECONDS:
        _phrase(page, served.url, pad_box, step)
        step += 1
        chords += 1
      time.sleep(0.3)
      end = page.evaluate("live.state()")
      status = _status(served.url)
      # The Health panel shows the server's lead (polled every 0.5 s; the
      # lead may change meanwhile, so each check reads it again).
      deadline = time.monotonic() + 2.0
      while (page.text_content("#lead")
             != f"{_status(served.url)['lead_seconds']:.3f} s"):
        assert time.monotonic() < deadline, page.text_content("#lead")
        time.sleep(0.1)
      browser.close()
  finally:
    served.stop()
  assert not problems and served.error is None, problems
  assert end["error"] is None and end["refused"] == 0
  assert end["audioTime"] - start["audioTime"] >= PERFORMANCE_SECONDS
  assert end["underruns"] == 0, (json.dumps(end), "".join(
      getattr(served, "lines", [])[-8:]))
  assert status["bad_messages"] == 0 and status["voices"] == [None] * 4
  # Every single key was played from silence and heard: one latency each.
  latencies = np.array(end["latencies"])
  assert len(latencies) == 2 * step, end  # a key and a chord per phrase
  print(f"\n{step} phrases ({chords} chords of 4) in "
        f"{end['audioTime'] - start['audioTime']:.1f} s of audio; key to "
        f"first sample as the page measured it: median "
        f"{1000 * np.median(latencies):.0f} ms, max "
        f"{1000 * latencies.max():.0f} ms; server's view: "
        f"{status['note_latency_ms']} ms; real-time factor "
        f"{status['real_time_factor']}; late blocks (server's clock) "
        f"{status['late_blocks'] - before['late_blocks']}; lead at the end "
        f"{status['lead_seconds']} s")
  # (Against the lead asked for: a lead that late blocks raised delays keys
  # as much, and that run fails here too.)
  assert latencies.max() < MAX_LATENCY_SECONDS
