"""The live instrument (wavenet.live_voices, live_sound, live_engine,
live_server) on a tiny untrained pitch-conditioned autoencoder.

What is checked: voices start, sustain (the frame before the note-off is
held while the key is down) and release, and are freed after it; the
frames given to the generator are the corners mixed by the pad's bilinear
weights with the key's pitch two-hot, and a pad move changes the next
block; the latent controls act as `wavenet.latent_ops` says; a new note's
row starts from the generator's initial state; every message is checked,
bad ones are refused, counted and never stop the sound; the server serves
only its routes and stops on SIGTERM.

`FakeGenerator` (a sine per row at its frames' pitch, through the
generator interface) stands in for a model where the decoding itself is
not the point (the browser test, tests/test_wavenet_live_browser.py).
"""

import http.client
import json
import os
import signal
import threading
import time

import numpy as np
import pytest

from common import generator as generator_lib
from common import quantization
from common import state_rows
from conftest import tone, write_audio
import test_live_server
from wavenet import latent_ops
from wavenet import live_corners
from wavenet import live_engine
from wavenet import live_server
from wavenet import live_sound
from wavenet import live_voices
from wavenet.live_sound import ControlError

RATE = 16000
BINS, MIN_MIDI = 12, 54
SECONDS, NOTE_OFF = 0.256, 0.128  # 128 frames of 32 samples, 64 held
CORNER_HZ = (220.0, 330.0, 440.0, 550.0)  # MIDI 57, 64, 69 (out), 73 (out)


# ---------------------------------------------------------------------------
# Stand-ins and fixtures.
# ---------------------------------------------------------------------------


class FakeGenerator(generator_lib.Generator):
  """The generator interface over a sine per row: at each frame's pitch
  (the argmax of its two-hot; silence when unvoiced), its phase carried in
  the state. Fast enough for any real-time test."""

  def __init__(self, hop=32, width=4 + BINS, sample_rate=RATE, delay=0.0):
    self.sample_rate, self.q_levels, self.quantization = sample_rate, 256, "mu_law"
    self.samples_per_frame = self.block_multiple = hop
    self.embedding_width = width
    self.delay = delay  # seconds of pretend work per block
    self.calls = []     # (position, embeddings) of every block

  def start(self, request):
    return generator_lib.State(0, request.seeds, request.temperatures,
                               dict(phase=np.zeros([request.num_seqs])))

  def next_block(self, state, num_samples, embeddings=None):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    self.calls.append((state.position, np.array(embeddings)))
    pitch = embeddings[..., -BINS:]
    voiced = pitch.sum(-1) > 0.5
    hz = 440.0 * 2 ** ((MIN_MIDI + pitch.argmax(-1) - 69) / 12)
    step = np.repeat(np.where(voiced, hz, 0.0), self.samples_per_frame, 1)
    phase = np.asarray(state.tensors["phase"])[:, None] + np.cumsum(
        2 * np.pi * step / self.sample_rate, axis=1)
    audio = 0.4 * np.sin(phase) * np.repeat(voiced, self.samples_per_frame, 1)
    codes = quantization.encode(audio, "mu_law", 256)
    time.sleep(self.delay)
    return np.asarray(codes, np.int32), state.replace(
        position=state.position + num_samples,
        tensors=dict(phase=tf.constant(phase[:, -1])))


def fake_corners(frames=128, held=64, timbre=4):
  """Corners of distinct constant timbres, voiced at MIDI 60 but for the
  last 8 frames (unvoiced: the end of a release)."""
  z = np.zeros([4, 1, frames, timbre + BINS], np.float32)
  for c in range(4):
    z[c, 0, :, :timbre] = np.arange(timbre) + 10 * c + 1
    z[c, 0, :frames - 8, timbre + 60 - MIN_MIDI] = 1.0
  return live_sound.Corners(
      names=("a", "b", "c", "d"), pitches=(60,), embeddings=z,
      held_frames=held, mean=z.reshape(-1, z.shape[-1]).mean(0),
      std=z.reshape(-1, z.shape[-1]).std(0) + 0.5, pitch_bins=BINS,
      min_midi=MIN_MIDI, frame_rate=RATE / 32)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
  """(model, config, corners) of an untrained tiny autoencoder with pitch
  conditioning and the period input (as the shipped one)."""
  import keras  # pylint: disable=g-import-not-at-top
  from common import config as config_lib  # pylint: disable=g-import-not-at-top
  from common import model_api  # pylint: disable=g-import-not-at-top
  from wavenet import model as model_lib  # pylint: disable=g-import-not-at-top
  keras.utils.set_random_seed(0)
  config = config_lib.load("wavenet", "tiny", dict(
      pitch_bins=BINS, pitch_min_midi=MIN_MIDI, pitch_period_input=True))
  config["sample_rate"] = RATE
  model = model_api.build(model_lib.build_model(config))
  folder = tmp_path_factory.mktemp("corners")
  sources = []
  for i, hz in enumerate(CORNER_HZ):
    path = str(folder / f"corner{i}.wav")
    write_audio(path, tone((hz,), SECONDS), RATE)
    sources.append(path)
  corners = live_corners.load_corners(model, config, sources, [60],
                                      SECONDS, NOTE_OFF)
  return model, config, corners


def _engine(gen, corners, **kwargs):
  return live_engine.LiveInstrument(gen, corners, dict(model="m"),
                                    pace=False, **kwargs)


# ---------------------------------------------------------------------------
# Voices.
# ---------------------------------------------------------------------------


def test_voice_sustains_while_held_then_releases_and_frees_its_row():
  voices = live_voices.Voices(frames=10, held_frames=4, rows=2)
  row = voices.note_on(60)
  index, sounding = voices.advance(6)
  # Attack frames 0..3, then the frame before the note-off (3) is held.
  assert row == 0 and index[0].tolist() == [0, 1, 2, 3, 3, 3]
  assert sounding[0].all() and not sounding[1].any()
  assert voices.note_off(60) and not voices.note_off(60)
  index, sounding = voices.advance(8)
  # The release frames 4..9, then the row is free (silent).
  assert index[0, :6].tolist() == [4, 5, 6, 7, 8, 9]
  assert sounding[0].tolist() == [True] * 6 + [False] * 2
  assert voices.rows == [None, None]


def test_key_up_during_the_attack_jumps_to_the_release():
  voices = live_voices.Voices(frames=10, held_frames=6)
  voices.note_on(60)
  voices.advance(2)
  voices.note_off(60)
  assert voices.advance(3)[0][0].tolist() == [6, 7, 8]


def test_a_fifth_note_steals_the_oldest_released_then_the_oldest_held():
  voices = live_voices.Voices(frames=10, held_frames=6)
  rows = [voices.note_on(p) for p in (60, 62, 64, 65)]
  assert rows == [0, 1, 2, 3]
  voices.note_off(64)
  assert voices.note_on(67) == 2  # the released one
  assert voices.note_on(69) == 0  # then the oldest held (60)
  assert [v.pitch for v in voices.rows] == [69, 62, 67, 65]
  # The same key again: its voice is released, so its row is the one
  # taken (a retrigger in place).
  assert voices.note_on(62) == 1 and voices.rows[1].held
  assert voices.rows[1].frame == 0


# ---------------------------------------------------------------------------
# The engine on the tiny autoencoder.
# ---------------------------------------------------------------------------


def test_corners_encode_with_the_note_off(tiny):
  _, _, corners = tiny
  assert corners.embeddings.shape == (4, 1, 128, 4 + BINS)
  assert corners.held_frames == 64 and corners.pitch_range == (54, 65)
  with pytest.raises(live_corners.InstrumentError, match="--note_off"):
    live_corners.held_frames(0.256, 0.3, RATE / 32)


def test_notes_sound_sustain_release_and_go_silent(tiny):
  model, config, corners = tiny
  from wavenet import fastgen  # pylint: disable=g-import-not-at-top
  live = _engine(fastgen.generator(model, config), corners)
  blocks = live.blocks()
  assert live.block_samples == 512  # 16 frames of 32 samples
  assert not next(blocks).any()  # no voice: exact silence
  live.receive({"type": "note_on", "pitch": 60})
  live.receive({"type": "note_on", "pitch": 64})
  for _ in range(6):  # 96 frames: past the 64 held ones
    assert next(blocks).any()
  assert [v["frame"] for v in live.status()["voices"][:2]] == [63, 63]
  live.receive({"type": "note_off", "pitch": 60})
  live.receive({"type": "all_off"})
  for _ in range(4):  # the release: frames 64..127
    assert next(blocks).any()
  assert live.status()["voices"] == [None] * 4
  assert not next(blocks).any()


def test_new_note_starts_its_row_from_the_initial_state(tiny):
  model, config, corners = tiny
  from wavenet import fastgen  # pylint: disable=g-import-not-at-top
  gen = fastgen.generator(model, config)
  request = generator_lib.Request.make(4, embeddings=np.zeros(
      [4, 1, 4 + BINS], np.float32))
  axes = state_rows.batch_axes(gen, request)
  fresh = gen.start(request)
  state = fresh
  frames = corners.embeddings[:, 0, :16]
  _, state = gen.next_block(state, 512, frames)
  reset = state_rows.reset_rows(state, fresh, [2], axes)
  for name, axis in axes.items():
    old, new = np.asarray(state.tensors[name]), np.asarray(reset.tensors[name])
    zero = np.asarray(fresh.tensors[name])
    if old.size == 0:
      continue
    assert np.any(old != zero), name  # the decoder moved
    np.testing.assert_array_equal(np.take(new, 2, axis), np.take(zero, 2, axis))
    for row in (0, 1, 3):
      np.testing.assert_array_equal(np.take(new, row, axis),
                                    np.take(old, row, axis))
  assert reset.position == state.position


def test_rows_taken_decoded_and_put_back_match_the_whole_batch(tiny):
  """Decoding only some rows (what the engine does with the sounding
  voices) gives those rows the codes and state of decoding all four."""
  model, config, corners = tiny
  from wavenet import fastgen  # pylint: disable=g-import-not-at-top
  gen = fastgen.generator(model, config)
  request = generator_lib.Request.make(4, seed=3, embeddings=np.zeros(
      [4, 1, 4 + BINS], np.float32))
  axes = state_rows.batch_axes(gen, request)
  frames = corners.embeddings[:, 0, :16]
  _, state = gen.next_block(gen.start(request), 512, frames)
  whole_codes, whole = gen.next_block(state, 512, frames)
  rows = [1, 3]
  part = state_rows.take_rows(state, rows, axes)
  assert part.seeds == (4, 6) and part.num_seqs == 2
  part_codes, part = gen.next_block(part, 512, frames[rows])
  np.testing.assert_array_equal(part_codes, whole_codes[rows])
  merged = state_rows.put_rows(state, part, rows, axes)
  assert merged.position == whole.position
  for name, axis in axes.items():
    if axis is None:
      continue
    got, want = np.asarray(merged.tensors[name]), np.asarray(
        whole.tensors[name])
    before = np.asarray(state.tensors[name])
    for row in rows:  # decoded: as in the whole batch, up to float
      # rounding (a batch of 2 sums some products in another order than a
      # batch of 4: measured at most 3.6e-7 on values near 1)
      np.testing.assert_allclose(np.take(got, row, axis),
                                 np.take(want, row, axis), rtol=0, atol=2e-6)
    for row in (0, 2):  # not taken: untouched
      np.testing.assert_array_equal(np.take(got, row, axis),
                                    np.take(before, row, axis))


def test_only_sounding_voices_are_decoded():
  gen = FakeGenerator()
  live = _engine(gen, fake_corners())
  blocks = live.blocks()
  next(blocks)
  assert gen.calls == []  # silence costs no decoding
  live.receive({"type": "note_on", "pitch": 60})
  next(blocks)
  live.receive({"type": "note_on", "pitch": 62})
  next(blocks)
  assert [len(embeddings) for _, embeddings in gen.calls] == [1, 2]


# ---------------------------------------------------------------------------
# What is decoded: the pad's mix, the key's pitch, the controls.
# ---------------------------------------------------------------------------


def _played(live, gen, messages, blocks=1):
  """Sends `messages`, runs `blocks` blocks; the embeddings of the last."""
  for message in messages:
    live.receive(message)
  stream = live.blocks() if not hasattr(live, "_it") else live._it
  live._it = stream
  for _ in range(blocks):
    next(stream)
  return gen.calls[-1][1]


def test_frames_are_the_corners_mixed_by_the_pad_at_the_keys_pitch():
  corners, gen = fake_corners(), FakeGenerator()
  live = _engine(gen, corners)
  frames = _played(live, gen, [{"type": "pad", "x": 0.25, "y": 0.75},
                               {"type": "note_on", "pitch": 57}])
  weights = latent_ops.bilinear_weights(0.25, 0.75)
  mixed = latent_ops.mix(corners.embeddings[:, 0, :16],
                         np.repeat(weights[:, None], 16, 1), BINS)
  np.testing.assert_allclose(frames[0, :, :4], mixed[:, :4], rtol=1e-6)
  two_hot = np.zeros(BINS)
  two_hot[57 - MIN_MIDI] = 1
  np.testing.assert_array_equal(frames[0, :, 4:], np.tile(two_hot, (16, 1)))
  assert not frames[1:].any()  # free rows: silence frames
  # The pad moves under the held note: the next block has the new mix.
  frames = _played(live, gen, [{"type": "pad", "x": 1.0, "y": 0.0}])
  np.testing.assert_allclose(frames[0, :, :4],
                             corners.embeddings[1, 0, 16:32, :4])


def test_release_frames_past_the_voicing_stay_unvoiced():
  corners, gen = fake_corners(), FakeGenerator()
  live = _engine(gen, corners)
  _played(live, gen, [{"type": "note_on", "pitch": 65}])
  frames = _played(live, gen, [{"type": "note_off", "pitch": 65}], blocks=4)
  # Frames 112..127: voiced until 120, then unvoiced (the corners' own).
  assert (frames[0, :8, 4 + 65 - MIN_MIDI] == 1).all()
  assert not frames[0, 8:, 4:].any()


def test_latent_controls_act_on_the_mixed_embedding():
  corners, gen = fake_corners(), FakeGenerator()
  live = _engine(gen, corners)
  plain = _played(live, gen, [{"type": "pad", "x": 0.1, "y": 0.2},
                              {"type": "note_on", "pitch": 60}])[0]
  controls = {"type": "controls", "caricature": 2.0, "scale": 0.5}
  changed = _played(live, gen, [controls])[0]
  # Held frames are constant here, so block 2 equals block 1 plainly.
  expected = latent_ops.scale(latent_ops.caricature(
      plain, corners.mean, 2.0, BINS), 0.5, BINS)
  np.testing.assert_allclose(changed, expected, rtol=1e-6)
  noisy = _played(live, gen, [{"type": "controls", "noise": 1.0,
                               "caricature": 1.0, "scale": 1.0}])[0]
  spread = (noisy[:, :4] - plain[:, :4]) / corners.std[:4]
  assert 0.5 < spread.std() < 1.5 and (noisy[:, 4:] == plain[:, 4:]).all()
  # A full-depth oscillation between corners 0 and 1 at 2 Hz.
  osc = _played(live, gen, [{"type": "controls", "noise": 0.0,
                             "osc_depth": 1.0, "osc_hz": 2.0, "osc_a": 0,
                             "osc_b": 1}])[0]
  position = gen.calls[-1][0] // 32 + np.arange(16)
  a = (1 - np.cos(2 * np.pi * 2.0 * position / corners.frame_rate)) / 2
  expected = ((1 - a)[:, None] * corners.embeddings[0, 0, 0, :4] +
              a[:, None] * corners.embeddings[1, 0, 0, :4])
  np.testing.assert_allclose(osc[:, :4], expected, rtol=1e-5)


@pytest.mark.parametrize("message,error", [
    ([], "JSON object"),
    ({"pitch": 60}, "JSON object"),
    ({"type": "sing"}, "unknown type"),
    ({"type": "note_on"}, "expected pitch"),
    ({"type": "note_on", "pitch": 60, "velocity": 3}, "expected pitch"),
    ({"type": "note_on", "pitch": 53}, r"not in 54\.\.65"),
    ({"type": "note_on", "pitch": 60.5}, "not a whole number"),
    ({"type": "note_on", "pitch": True}, "not a number"),
    ({"type": "note_on", "pitch": "60"}, "not a number"),
    ({"type": "pad", "x": 1.5, "y": 0}, r"x: 1\.5 is not in"),
    ({"type": "pad", "x": float("nan"), "y": 0}, "x: nan"),
    ({"type": "pad", "x": 10**400, "y": 0}, "is not in"),
    ({"type": "controls"}, "no control"),
    ({"type": "controls", "volume": 1}, "unknown control"),
    ({"type": "controls", "scale": 9}, r"scale: 9 is not in 0\.\.2"),
    ({"type": "controls", "osc_a": 3}, "two different corners"),
    ({"type": "controls", "osc_b": 4}, "osc_b"),
])
def test_malformed_messages_are_refused_and_change_nothing(message, error):
  live = _engine(FakeGenerator(), fake_corners())
  before = live.status()
  with pytest.raises(ControlError, match=error):
    live.receive(message)
  after = live.status()
  for key in ("pad", "controls", "messages"):
    assert after[key] == before[key]
  assert not live._events  # pylint: disable=protected-access


# ---------------------------------------------------------------------------
# The server.
# ---------------------------------------------------------------------------


class Served(test_live_server.Served):
  """`live_server.serve` in a thread; `stop()` ends it."""

  def __init__(self, instrument):
    super().__init__(instrument, serve=live_server.serve)
    self.instrument = instrument

  def send(self, message, content_type="application/json"):
    body = message if isinstance(message, bytes) else json.dumps(
        message).encode()
    return self.request("POST", "/control", body,
                        {"Content-Type": content_type})


def test_server_counts_bad_messages_and_plays_on(monkeypatch):
  # Each refusal is counted before it is answered: a client that reads
  # the answer, then /status, sees it (it raced once: 6 of 7 counted).
  counted_when_answered = []
  reply = live_server._Handler._error  # pylint: disable=protected-access

  def error(handler, code, message):
    if handler.command == "POST":
      counted_when_answered.append(handler.server.app.bad_messages)
    reply(handler, code, message)

  monkeypatch.setattr(live_server._Handler, "_error", error)  # pylint: disable=protected-access
  corners = fake_corners()
  corners = live_sound.Corners(**dict(vars(corners), names=(
      "<script>x</script>", "b", "c", "d")))
  served = Served(live_engine.LiveInstrument(FakeGenerator(), corners,
                                             dict(model="fake")))
  try:
    status, page = served.request("GET", "/")
    assert status == 200 and b"<script>x</script>" not in page
    assert b"&lt;script&gt;x&lt;/script&gt;" in page
    for path in ("/keys.js", "/live.js", "/worklet.js"):
      assert served.request("GET", path)[0] == 200
    for path in ("/../setup.cfg", "/live_page/live.js", "/clips", "/prime"):
      assert served.request("GET", path)[0] == 404
    assert served.request("GET", "/control")[0] == 405
    assert served.request("GET", "/", headers={"Host": "evil.example"}
                          )[0] == 403
    assert served.send({"type": "note_on", "pitch": 60}) == (200, {"ok": True})
    bad = [b"{", b"\xff\xfe", {"type": "note_on", "pitch": 99},
           {"type": "boom"}, [1, 2], b"[" * 100000]
    for message in bad:
      status, answer = served.send(message)
      assert status in (400, 413) and answer["error"], message
    assert served.send({"type": "pad", "x": 0, "y": 0},
                       content_type="text/plain")[0] == 400
    status = served.request("GET", "/status")[1]
    assert status["bad_messages"] == len(bad) + 1 and status["messages"] == 1
    assert counted_when_answered == list(range(1, len(bad) + 2))
    deadline = time.monotonic() + 5  # the note starts at the next block
    while status["voices"][0] is None and time.monotonic() < deadline:
      time.sleep(0.02)
      status = served.request("GET", "/status")[1]
    assert status["voices"][0]["pitch"] == 60
    # Still playing: the stream sends audio of the held note.
    c = http.client.HTTPConnection(served.host, served.port, timeout=10)
    c.request("GET", "/stream")
    r = c.getresponse()
    assert r.getheader("X-Sample-Rate") == str(RATE)
    pcm = np.frombuffer(r.read(4096), "<i2")
    c.close()
    assert pcm.any()
  finally:
    served.stop()
  assert served.error is None


def test_sigterm_stops_the_server_cleanly():
  live = live_engine.LiveInstrument(FakeGenerator(), fake_corners(),
                                    dict(model="fake"))
  lines = []

  def ready(url):
    lines.append(url)
    threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM)).start()

  before = signal.getsignal(signal.SIGTERM)
  started = time.monotonic()
  live_server.serve(live, port=0, log=lines.append, ready=ready)
  assert time.monotonic() - started < 5
  assert signal.getsignal(signal.SIGTERM) is before
  assert any(line.startswith("listening on http://127.0.0.1:") for line in lines)


def paced_on_a_fake_clock(max_lead_seconds):
  """A paced instrument (lead 0.1 s) on FakeGenerator and a fake clock,
  which sleeps advance and each decoded block advances by `work[0]`
  seconds of pretend work: (instrument, generator, now, work)."""
  now, work = [0.0], [0.0]
  gen = FakeGenerator()
  decode = gen.next_block

  def slow_next_block(*args, **kwargs):
    now[0] += work[0]
    return decode(*args, **kwargs)

  def sleep(seconds):
    now[0] += seconds

  gen.next_block = slow_next_block
  inst = live_engine.LiveInstrument(
      gen, fake_corners(), lead_seconds=0.1,
      max_lead_seconds=max_lead_seconds, clock=lambda: now[0], sleep=sleep)
  return inst, gen, now, work


def test_late_blocks_raise_the_lead_and_quiet_minutes_lower_it(monkeypatch):
  monkeypatch.setattr(live_engine, "LEAD_RELAX_SECONDS", 5.0)  # (a minute)
  inst, gen, now, work = paced_on_a_fake_clock(max_lead_seconds=0.2)
  block = inst.block_samples / RATE  # 0.032 s
  blocks = inst.blocks()

  def play(count, seconds_of_work=0.0):
    work[0] = seconds_of_work
    for _ in range(count):
      next(blocks)
    work[0] = 0.0
    status = inst.status()
    return status["lead_seconds"], status["late_blocks"]

  assert play(20) == (0.1, 0)
  assert inst.status()["lead_range"] == [0.1, 0.2]
  # Late in silence (the machine stalled before a block; Chromium starting,
  # say): counted, the lead stays (nothing to hear, no work to make room
  # for).
  now[0] += 0.3
  assert play(1) == (0.1, 1)
  inst.receive({"type": "note_on", "pitch": 60})  # held: every block decodes
  assert play(20) == (0.1, 1)
  # A block that takes longer than what is ahead is late: a block more lead.
  assert play(1, 0.2) == (round(0.1 + block, 3), 2)
  # The stream then runs that much further ahead of the clock.
  play(10)
  assert inst.status()["ahead_seconds"] > 0.1 - block + 0.5 * block
  assert play(3, 0.3) == (0.2, 5)  # (at most the most)
  # A quiet while takes a block back, down to the start.
  assert play(int(4 / block))[0] == 0.2
  leads = [play(int(5.1 / block))[0] for _ in range(4)]
  assert leads == [round(0.2 - block, 3), round(0.2 - 2 * block, 3),
                   round(0.2 - 3 * block, 3), 0.1]
  with pytest.raises(live_engine.LiveError, match="--max_lead_seconds=0.05 "
                     "must be at least --lead_seconds"):
    live_engine.LiveInstrument(gen, fake_corners(), lead_seconds=0.1,
                               max_lead_seconds=0.05)


def test_a_late_last_block_of_a_note_raises_the_lead():
  # The block that ends a note frees its voice, yet it was decoded and is
  # heard: late, it counts like any sounding block.
  inst, gen, _, work = paced_on_a_fake_clock(max_lead_seconds=10.0)
  work[0] = 0.2  # every decoded block late
  block = inst.block_samples / RATE
  blocks = inst.blocks()
  next(blocks)
  inst.receive({"type": "note_on", "pitch": 60})
  inst.receive({"type": "note_off", "pitch": 60})  # the attack, the release
  decoded = 0
  while True:
    before = len(gen.calls)
    next(blocks)
    if len(gen.calls) == before:
      break
    decoded += 1
  assert decoded > 1 and inst.voices.rows == [None] * 4
  assert inst.status()["lead_seconds"] == round(0.1 + decoded * block, 3)


def test_auto_processes_keep_the_fewest_that_are_fast_enough():
  """`--processes=0`: 1, 2, ... decoding processes are measured until four
  voices reach the wanted real-time factor (else the fastest is kept); the
  others are closed (their workers stopped)."""
  started, closed, lines = [], [], []

  class Decoder:
    def __init__(self, count):
      self.processes = count

    def close(self):
      closed.append(self.processes)

  def start_with(four_voices):
    def start(count):
      started.append(count)
      return Decoder(count), {1: 4.0, 4: four_voices[count]}
    return start

  gen, factors = live_server.fewest_processes(
      start_with({1: 1.2, 2: 1.6, 3: 1.9}), 3, lines.append, wanted=1.4)
  assert (gen.processes, factors[4], started, closed) == (2, 1.6, [1, 2], [1])
  assert "decoding with 2 processes: four voices 1.60x" in lines[-1]
  started.clear(), closed.clear()
  gen, _ = live_server.fewest_processes(
      start_with({1: 1.5, 2: 1.9}), 2, lines.append, wanted=1.4)
  assert (gen.processes, started, closed) == (1, [1], [])
  started.clear(), closed.clear()
  gen, _ = live_server.fewest_processes(  # none fast enough: the fastest
      start_with({1: 1.2, 2: 1.1}), 2, lines.append, wanted=1.4)
  assert (gen.processes, started, closed) == (1, [1, 2], [2])
  assert lines[-1].endswith("(the fastest tried)")
