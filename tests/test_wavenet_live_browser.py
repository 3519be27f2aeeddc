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
# NEURALSYNTH_LIVE_MODEL=pretrained/wavenet_notes plays the performance on
# that model (corners: four of the bundled notes) instead of FakeGenerator.
MODEL_DIR = os.environ.get("NEURALSYNTH_LIVE_MODEL")
CLIPS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))), "pretrained", "clips", "notes")
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


def _phrase(page, pad_box, step):
  """One bar of the performance: a key from silence, a chord of 4 held
  while the pad is dragged, a latent control, silence."""
  keys = ["a", "s", "d", "f"]
  page.keyboard.down(keys[step % 4])
  time.sleep(0.3)
  page.keyboard.up(keys[step % 4])
  time.sleep(0.3 + LEAD_SECONDS)  # the release ends and is heard: silence
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
  time.sleep(0.3 + LEAD_SECONDS)


def _instrument():
  if MODEL_DIR is None:
    return live_engine.LiveInstrument(
        FakeGenerator(delay=0.004), fake_corners(), dict(model="fake"),
        lead_seconds=LEAD_SECONDS)
  from wavenet import live_server  # pylint: disable=g-import-not-at-top
  return live_server.load_instrument(
      MODEL_DIR, [os.path.join(CLIPS, name) for name in CORNER_CLIPS], [60],
      lead_seconds=LEAD_SECONDS)


def test_scripted_performance_plays_without_underruns():
  served = Served(_instrument())
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
        _phrase(page, pad_box, step)
        step += 1
        chords += 1
      time.sleep(0.3)
      end = page.evaluate("live.state()")
      status = _status(served.url)
      browser.close()
  finally:
    served.stop()
  assert not problems and served.error is None, problems
  assert end["error"] is None and end["refused"] == 0
  assert end["audioTime"] - start["audioTime"] >= PERFORMANCE_SECONDS
  assert end["underruns"] == 0, json.dumps(end)
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
        f"{status['late_blocks'] - before['late_blocks']}")
  assert latencies.max() < MAX_LATENCY_SECONDS
