"""The live page plays the HTTP stream in a real headless Chromium.

The server (`common.live.server.serve`) runs in a thread on the test's
`FakeStream` (tests/test_live_server.py: LiveStream's methods over a
deterministic paced signal, so no model loads); the page is opened from
it, its Play button pressed, and its audio clock (`AudioContext.
currentTime`) must advance for at least 10 s with the AudioWorklet
counting no underrun; the temperature slider must change /status.

Chromium comes from the system (Debian's `chromium`, see
scripts/system_deps.sh), as in tests/test_instrument_browser.py.
"""

import json
import time
import urllib.request

import pytest

from test_instrument_browser import CHROMIUM, CHROMIUM_ARGS
from test_live_server import FakeStream, SR, Served

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install "
    "playwright; the browser is the system's chromium)")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium executable found (apt-get install "
    "chromium); the browser test needs a real browser")

PLAY_SECONDS = 10.0


def _wait(page, condition, timeout):
  """Polls `condition` (JavaScript) until true. Not `page.wait_for_function`:
  Playwright evaluates its string with eval, which the page's Content
  Security Policy forbids (as it should)."""
  deadline = time.monotonic() + timeout
  while not page.evaluate(condition):
    assert time.monotonic() < deadline, f"timed out: {condition}"
    time.sleep(0.1)


def _status(url):
  with urllib.request.urlopen(url + "status", timeout=10) as r:
    return json.load(r)


def test_page_plays_the_stream_without_underruns():
  served = Served(FakeStream(ahead_seconds=2.0))
  problems = []
  try:
    with playwright_api.sync_playwright() as p:
      browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
      page = browser.new_page()
      page.on("console", lambda m: problems.append(m.text)
              if m.type == "error" else None)
      page.on("pageerror", lambda e: problems.append(str(e)))
      page.goto(served.url)
      assert page.inner_text("h1").startswith("fake <model>")
      page.click("#play")
      _wait(page, "live.state().playing", 10)
      start = page.evaluate("live.state()")
      assert start["contextRate"] == SR and start["contextState"] == "running"
      # The slider, as a user moves it: input then change.
      page.eval_on_selector(
          "#temperature-input", """(el) => { el.value = '0.35';
          el.dispatchEvent(new Event('input'));
          el.dispatchEvent(new Event('change')); }""")
      _wait(page, "document.getElementById('message').textContent"
            ".includes('0.35')", 5)
      assert _status(served.url)["temperature"] == 0.35
      assert served.stream.temperature == 0.35
      _wait(page, f"live.state().audioTime >= "
            f"{start['audioTime'] + PLAY_SECONDS}", PLAY_SECONDS + 8)
      end = page.evaluate("live.state()")
      assert end["underruns"] == 0 and end["error"] is None, end
      assert end["playing"] and end["droppedSamples"] == 0
      # What played came from the stream: samples moved through the worklet.
      assert end["playedSamples"] >= PLAY_SECONDS * SR
      assert end["received"] >= end["playedSamples"]
      # The page shows the health it polls.
      _wait(page, "document.getElementById('listeners').textContent === '1'",
            5)
      assert page.inner_text("#underruns-client") == "0"
      assert page.inner_text("#temperature") == "0.35"
      browser.close()
  finally:
    served.stop()
  assert not problems and served.error is None
