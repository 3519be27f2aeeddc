"""The instrument page in a real headless Chromium (Playwright for Python).

The instrument is made by `wavenet.instrument.finish` (the build's finishing
step: compression, audio mixes, manifest, samples.js, index.html) from
synthetic renders, so no model is needed here (tests/test_instrument.py
covers rendering). The page is opened from file://, played through its test
hook `window.instrument`, the mouse and the computer keyboard, and the Web
Audio graph (sources, GainNode gains) is checked against the Python
bilinear weights.

Chromium comes from the system (Debian's `chromium`), never from
`playwright install`; the test is skipped only when no Chromium executable
exists.
"""

import json
import os
import shutil

import numpy as np
import pytest

from common import audio
from wavenet import instrument
from wavenet import latent

SR = 16000
GRID = 3
PITCHES = (60, 67)
SECONDS = 6.0  # long enough for every check while a note sounds
NAMES = ("reed", "glass", "string", "horn")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required"]


def _chromium():
  for candidate in (shutil.which("chromium"), "/usr/bin/chromium",
                    shutil.which("chromium-browser")):
    if candidate and os.path.exists(candidate):
      return candidate
  return None


CHROMIUM = _chromium()
playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install "
    "playwright; the browser is the system's chromium)")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium executable found (apt-get install "
    "chromium); the browser test needs a real browser")


def _note(freqs, seconds=SECONDS, decay=1.5):
  t = np.arange(int(seconds * SR)) / SR
  x = sum(np.sin(2 * np.pi * f * t) / (i + 1) for i, f in enumerate(freqs))
  return (0.4 * x * np.minimum(1, t / 0.01) * np.exp(-decay * t)).astype(
      np.float32)


def _hz(midi):
  return 440.0 * 2 ** ((midi - 69) / 12)


@pytest.fixture(scope="module")
def page_dir(tmp_path_factory):
  """A finished 3 x 3 instrument from synthetic renders."""
  out = str(tmp_path_factory.mktemp("instrument_page"))
  layout = instrument.multigrid_layout(4)
  weights = instrument.point_weights(GRID, layout)
  partials = np.array([[1, 2, 3], [1, 3.01, 5.2], [1, 2, 4], [1, 1.5, 2]])
  sounds = {p: np.stack([_note(_hz(p) * k) for k in partials])
            for p in PITCHES}
  records = []
  for pitch in PITCHES:
    for point, w in enumerate(weights):
      # "Latent" renders morph the partials (not the same as mixing audio).
      note = _note(_hz(pitch) * (w @ partials), decay=1.0 + w[1])
      rel = os.path.join("renders", instrument.file_stem(point, pitch, 9) +
                         ".flac")
      audio.save(os.path.join(out, rel), note, SR)
      records.append(dict(point=point, pitch=pitch, file=rel,
                          peak=float(np.abs(note).max()),
                          rms=float(np.sqrt(np.mean(note ** 2)))))
  with open(os.path.join(out, instrument.RECORDS), "w") as f:
    f.writelines(json.dumps(r) + "\n" for r in records)
  settings = dict(
      title="reed · glass · string · horn", corners=list(NAMES),
      sounds=[dict(name=n, source=n + ".wav", corner=c, x=float(x),
                   y=float(y), files={})
              for n, c, (x, y) in zip(NAMES, instrument.CORNER_NAMES,
                                      instrument.sound_positions(layout))],
      layout=layout, grid=GRID, seconds=SECONDS, temperature=1.0, seed=0,
      model=dict(model_dir="synthetic", step=0, checkpoint="none"))
  instrument.finish(out, settings, list(PITCHES), weights, sounds, SR,
                    int(SECONDS * SR), progress=False)
  return out


@pytest.fixture(scope="module")
def browser():
  with playwright_api.sync_playwright() as p:
    b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield b
    b.close()


@pytest.fixture
def page(browser, page_dir):
  context = browser.new_context(viewport={"width": 1200, "height": 820})
  pg = context.new_page()
  problems, requests = [], []
  pg.on("console", lambda m: problems.append(f"console.{m.type}: {m.text}")
        if m.type == "error" else None)
  pg.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
  pg.on("request", lambda r: requests.append(r.url))
  pg.goto("file://" + os.path.join(page_dir, "index.html"))
  pg.wait_for_function("window.instrument && instrument.state().decoded >= 8",
                       timeout=15000)
  pg.problems, pg.requests = problems, requests
  yield pg
  context.close()


def _state(pg):
  return pg.evaluate("instrument.state()")


def _python_mix(x, y):
  points, weights = latent.nearest_grid_points(x, y, GRID)
  return {int(p): float(w) for p, w in zip(points, weights)}


def _page_mix(state, key="weights"):
  return {p: w for p, w in zip(state["points"], state[key])}


def _assert_mix(state, x, y, key="weights", tol=1e-6):
  expected = _python_mix(x, y)
  got = _page_mix(state, key)
  assert set(got) == set(expected), (got, expected)
  for p in expected:
    assert got[p] == pytest.approx(expected[p], abs=tol), (key, got, expected)


def _wait_gains(pg, tol=2e-3, timeout=5000):
  """Waits until the newest voice's GainNode gains equal the weights."""
  pg.wait_for_function(
      """tol => { const s = instrument.state();
                  return s.gains && s.gains.every(
                      (g, i) => g !== null && Math.abs(g - s.weights[i]) < tol); }""",
      arg=tol, timeout=timeout)
  return _state(pg)


def test_page_loads_clean(page):
  state = _state(page)
  assert state["position"] == {"x": 0.5, "y": 0.5}
  assert state["mode"] == "latent" and state["activeSources"] == 0
  labels = [page.inner_text(f"#label-{i}").strip() for i in range(4)]
  assert labels == list(NAMES)
  assert page.locator(".key").count() > 24
  assert all(u.startswith(("file://", "data:")) for u in page.requests)
  assert not page.problems


def test_pad_by_hook_and_mouse(page):
  for x, y in ((0.3, 0.8), (0.0, 0.0), (1.0, 0.25), (0.71, 0.49)):
    state = page.evaluate(f"instrument.setPosition({x}, {y})")
    _assert_mix(state, x, y)
  box = page.locator("#pad").bounding_box()
  for fx, fy in ((0.7, 0.2), (0.15, 0.9)):
    page.mouse.click(box["x"] + fx * box["width"],
                     box["y"] + fy * box["height"])
    state = _state(page)
    pos = state["position"]
    assert pos["x"] == pytest.approx(fx, abs=2 / box["width"])
    assert pos["y"] == pytest.approx(fy, abs=2 / box["height"])
    _assert_mix(state, pos["x"], pos["y"])
  # A drag ends where the mouse lets go; outside the pad clamps to the edge.
  page.mouse.move(box["x"] + 0.5 * box["width"], box["y"] + 0.5 * box["height"])
  page.mouse.down()
  page.mouse.move(box["x"] + 0.6 * box["width"], box["y"] + 0.4 * box["height"],
                  steps=4)
  page.mouse.move(box["x"] + 1.3 * box["width"], box["y"] + 0.4 * box["height"],
                  steps=4)
  page.mouse.up()
  pos = _state(page)["position"]
  assert pos["x"] == 1.0 and pos["y"] == pytest.approx(0.4, abs=0.01)
  # The page's weight function agrees with Python's everywhere.
  grid = np.random.default_rng(0).uniform(0, 1, (25, 2)).tolist()
  page_mixes = page.evaluate(
      "pts => pts.map(([x, y]) => instrument.weightsAt(x, y))", grid)
  for (x, y), mix in zip(grid, page_mixes):
    expected = _python_mix(x, y)
    got = dict(zip(mix["points"], mix["weights"]))
    assert got == pytest.approx(expected, abs=1e-9)
  assert not page.problems


def test_key_plays_four_weighted_sources_and_crossfades(page):
  page.evaluate("instrument.setPosition(0.1, 0.1)")
  page.keyboard.down("a")  # KeyA: C of the current octave (60)
  state = _wait_gains(page)
  assert state["activeSources"] == 4
  assert state["audio"] == "running"
  voice = state["voices"][0]
  assert voice["midi"] == 60 and voice["pitch"] == 60 and voice["rate"] == 1
  _assert_mix(state, 0.1, 0.1, key="gains", tol=2e-3)
  # Move within the cell: each GainNode gets a linear ramp of FADE seconds
  # to its new weight (logged from AudioParam), and the audio thread's gain
  # values pass through values in between.
  result = page.evaluate("""async () => {
      const ramps = [];
      const proto = AudioParam.prototype;
      const original = proto.linearRampToValueAtTime;
      const ctx = instrument.audioContext();
      proto.linearRampToValueAtTime = function (value, time) {
        ramps.push({value, time});
        return original.call(this, value, time);
      };
      let values, times, before, after;
      try {
        before = ctx.currentTime;
        instrument.setPosition(0.4, 0.4);
        after = ctx.currentTime;
        values = [instrument.state().gains[0]];
        times = [ctx.currentTime];
      } finally {
        proto.linearRampToValueAtTime = original;
      }
      const t0 = performance.now();
      while (performance.now() - t0 < 1500 &&
             Math.abs(values[values.length - 1] - 0.04) > 1e-3) {
        await new Promise(r => setTimeout(r, 2));
        values.push(instrument.state().gains[0]);
        times.push(ctx.currentTime);
      }
      return {ramps, values, times, before, after,
              fade: instrument.fadeSeconds}; }""")
  fade = result["fade"]
  assert 0.03 <= fade <= 0.05
  expected = sorted(_python_mix(0.4, 0.4).values())
  assert sorted(r["value"] for r in result["ramps"]) == pytest.approx(
      expected, abs=1e-6)
  # Each ramp ends FADE after the move: the audio clock read just before and
  # just after it bounds that end (a loaded machine may advance the clock in
  # between, so no fixed tolerance).
  for ramp in result["ramps"]:
    assert (result["before"] + fade - 1e-6 <= ramp["time"] <=
            result["after"] + fade + 1e-6), (ramp, result)
  values = result["values"]
  # Top-left weight: 0.64 at (0.2, 0.2) in the cell -> 0.04 at (0.8, 0.8);
  # right after the move the gain has not jumped.
  assert values[0] > 0.3, values
  # Values read while the audio clock was inside the ramp lie in between (a
  # loaded machine may render no quantum inside it: then none is checked).
  inside = [v for v, t in zip(values, result["times"])
            if result["after"] < t < result["before"] + fade]
  assert all(0.04 - 1e-3 < v < 0.64 + 1e-3 for v in inside), result
  if inside:
    assert any(0.04 + 1e-3 < v < 0.64 - 1e-3 for v in inside), result
  state = _wait_gains(page)
  _assert_mix(state, 0.4, 0.4, key="gains", tol=2e-3)
  # Move to another cell: new points fade in, old ones fade out and stop.
  page.evaluate("instrument.setPosition(0.9, 0.7)")
  state = _wait_gains(page)
  _assert_mix(state, 0.9, 0.7, key="gains", tol=2e-3)
  assert set(state["voices"][0]["points"]) == set(_python_mix(0.9, 0.7))
  page.wait_for_function("instrument.state().activeSources === 4",
                         timeout=5000)
  page.keyboard.up("a")
  page.wait_for_function("instrument.state().activeSources === 0",
                         timeout=5000)
  assert not page.problems


def test_repitch_range_and_polyphony(page):
  page.evaluate("instrument.setPosition(0.5, 0.5)")
  assert page.evaluate("instrument.noteOn(62)") is True
  assert page.evaluate("instrument.noteOn(65)") is True
  page.wait_for_function("instrument.state().voices.length === 2",
                         timeout=5000)
  voices = {v["midi"]: v for v in _state(page)["voices"]}
  # Key ranges split halfway between 60 and 67: 62 plays 60 up, 65 plays 67
  # down, at playbackRate 2^(semitones / 12).
  assert voices[62]["pitch"] == 60
  assert voices[62]["rate"] == pytest.approx(2 ** (2 / 12))
  assert voices[65]["pitch"] == 67
  assert voices[65]["rate"] == pytest.approx(2 ** (-2 / 12))
  assert _state(page)["activeSources"] == 8
  assert page.evaluate("instrument.noteOn(20)") is False  # out of range
  page.evaluate("instrument.noteOff(62); instrument.noteOff(65)")
  page.wait_for_function("instrument.state().activeSources === 0",
                         timeout=5000)
  assert not page.problems


def test_audio_mix_toggle(page):
  page.evaluate("instrument.setPosition(0.3, 0.6)")
  page.keyboard.down("d")  # E above C: 64, from the rendered 67
  _wait_gains(page)
  page.click("#mode-mix")
  state = _wait_gains(page)
  assert state["mode"] == "mix"
  assert page.get_attribute("#mode-mix", "aria-pressed") == "true"
  _assert_mix(state, 0.3, 0.6, key="gains", tol=2e-3)
  # The latent sources fade out and stop: 4 audio-mix sources remain.
  page.wait_for_function("instrument.state().activeSources === 4",
                         timeout=5000)
  page.keyboard.up("d")
  page.keyboard.press("m")  # back to the latent mix
  assert _state(page)["mode"] == "latent"
  page.keyboard.press("x")  # octave up: C5
  assert _state(page)["octave"] == 72
  page.keyboard.press("z")
  page.keyboard.press("z")
  assert _state(page)["octave"] == 48
  page.wait_for_function("instrument.state().activeSources === 0",
                         timeout=5000)
  assert not page.problems
