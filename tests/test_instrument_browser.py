"""The instrument page in a real headless Chromium (Playwright for Python).

The instrument is made by `wavenet.instrument_build.finish_build` (the
build's finishing step: compression, audio mixes, manifest, samples.js,
index.html) from synthetic renders, so no model is needed here
(tests/test_instrument.py covers rendering). The page is opened from file://, played through its test
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
from wavenet import instrument_build
from wavenet import instrument_grid
from wavenet import instrument_journal
from wavenet import latent_ops

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
  layout = instrument_grid.multigrid_layout(4)
  weights = instrument_grid.point_weights(GRID, layout)
  partials = np.array([[1, 2, 3], [1, 3.01, 5.2], [1, 2, 4], [1, 1.5, 2]])
  sounds = {p: np.stack([_note(_hz(p) * k) for k in partials])
            for p in PITCHES}
  records = []
  for pitch in PITCHES:
    for point, w in enumerate(weights):
      # "Latent" renders morph the partials (not the same as mixing audio).
      note = _note(_hz(pitch) * (w @ partials), decay=1.0 + w[1])
      rel = os.path.join("renders", instrument_journal.render_stem(
          point, pitch, 9) + ".flac")
      audio.save(os.path.join(out, rel), note, SR)
      records.append(dict(point=point, pitch=pitch, file=rel,
                          peak=float(np.abs(note).max()),
                          rms=float(np.sqrt(np.mean(note ** 2)))))
  with open(os.path.join(out, instrument_journal.RECORDS), "w") as f:
    f.writelines(json.dumps(r) + "\n" for r in records)
  settings = dict(
      title="reed · glass · string · horn", corners=list(NAMES),
      sounds=[dict(name=n, source=n + ".wav", corner=c, x=float(x),
                   y=float(y), files={})
              for n, c, (x, y) in zip(NAMES, instrument_grid.CORNER_NAMES,
                                      instrument_grid.sound_positions(layout))],
      layout=layout, grid=GRID, seconds=SECONDS, temperature=1.0, seed=0,
      model=dict(model_dir="synthetic", step=0, checkpoint="none"))
  instrument_build.finish_build(out, settings, list(PITCHES), weights,
                                sounds, SR, int(SECONDS * SR), progress=False)
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
  points, weights = latent_ops.nearest_grid_points(x, y, GRID)
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
  # Move within the cell: each GainNode ramps linearly over FADE seconds to
  # its new weight. The page's automation calls during the move (logged from
  # AudioParam) are replayed, shifted to start at 0, onto a constant source
  # in an OfflineAudioContext at the page's rate: Web Audio renders every
  # sample of each gain curve, so the whole ramp is checked, however late a
  # loaded machine runs the live audio thread.
  result = page.evaluate("""async () => {
      const ctx = instrument.audioContext();
      const proto = AudioParam.prototype;
      // The methods rampTo uses; the time is the last argument of each.
      const names = ['cancelScheduledValues', 'setValueAtTime',
                     'linearRampToValueAtTime'];
      const originals = names.map((n) => proto[n]);
      const calls = new Map();  // AudioParam -> [[method, args]]
      names.forEach((name, i) => {
        proto[name] = function (...args) {
          if (!calls.has(this)) calls.set(this, []);
          calls.get(this).push([name, args]);
          return originals[i].apply(this, args);
        };
      });
      let before, after;
      try {
        before = ctx.currentTime;
        instrument.setPosition(0.4, 0.4);
        after = ctx.currentTime;
      } finally {
        names.forEach((name, i) => { proto[name] = originals[i]; });
      }
      const fade = instrument.fadeSeconds, rate = ctx.sampleRate;
      const curves = [];
      for (const list of calls.values()) {
        const start = list[0][1][list[0][1].length - 1];
        const offline = new OfflineAudioContext(
            1, Math.ceil((fade + 0.01) * rate), rate);
        const one = offline.createConstantSource();
        const gain = offline.createGain();
        one.connect(gain).connect(offline.destination);
        for (const [name, args] of list) {
          const shifted = args.slice();
          shifted[args.length - 1] -= start;
          gain.gain[name](...shifted);
        }
        one.start(0);
        const rendered = await offline.startRendering();
        curves.push({calls: list, start,
                     samples: Array.from(rendered.getChannelData(0))});
      }
      return {curves, before, after, fade, rate}; }""")
  fade, rate = result["fade"], result["rate"]
  assert 0.03 <= fade <= 0.05
  # One curve per point, from its gain before the move (the settled weight
  # at (0.1, 0.1)) to its weight at (0.4, 0.4), with no jump.
  before, after = _python_mix(0.1, 0.1), _python_mix(0.4, 0.4)
  curves = result["curves"]
  np.testing.assert_allclose(
      sorted((c["samples"][0], c["samples"][-1]) for c in curves),
      sorted((before[p], after[p]) for p in after), atol=2e-3)
  t = np.arange(len(curves[0]["samples"])) / rate
  for curve in curves:
    samples = np.array(curve["samples"])
    first, last = samples[0], samples[-1]
    # Linear over exactly FADE seconds. Measured error of the float32
    # rendering: 8.4e-7; a ramp one sample late would be off by
    # |last - first| / (fade * rate) ~ 1e-3.
    np.testing.assert_allclose(
        samples, first + (last - first) * np.minimum(t / fade, 1.0),
        atol=1e-5)
    if abs(last - first) > 0.1:  # the two points whose weight changes
      between = (samples - min(first, last)) * (samples - max(first, last))
      assert np.sum(between < 0) >= fade * rate - 2
    # Each ramp starts at the move (the audio clock read just before and
    # just after it bounds that: a loaded machine may advance the clock in
    # between, so no fixed tolerance) and ends FADE later.
    assert (result["before"] - 1e-6 <= curve["start"] <=
            result["after"] + 1e-6), curve["calls"]
    for name, args in curve["calls"]:
      if name == "linearRampToValueAtTime":
        assert args[1] == pytest.approx(curve["start"] + fade, abs=1e-9)
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
