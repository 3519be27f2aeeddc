"""Tests of common.live: the paced endless stream (controls, crossfade,
watchdog, pacing), the record, the stdout and device outputs, and the
stream command (one subprocess: SIGTERM leaves a complete record)."""

import io
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

from common import collapse
from common import generator as gen_lib
from common import quantization
from common.live import engine
from common.live import outputs
from common.live import record

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRNN_BACH = os.path.join(ROOT, "pretrained", "samplernn_bach")


class ToneGenerator(gen_lib.Generator):
  """A stand-in family: a chord (not collapsed by `common.collapse`) whose
  phase jumps at every `start`, so a new sequence would click; silent from
  `silent_after` samples after a start on (a forced collapse). Records
  every call."""
  sample_rate = 8000
  q_levels = 256
  quantization = "mu_law"
  block_multiple = 8
  block_samples = 800
  can_prime = True

  def __init__(self, silent_after=None):
    self.silent_after = silent_after
    self.starts = []  # requests
    self.calls = []  # (position, seeds, temperatures, num_samples)

  def start(self, request):
    self.starts.append(request)
    return gen_lib.State(position=0, seeds=request.seeds,
                         temperatures=request.temperatures,
                         tensors=dict(age=0, phase=7 * len(self.starts)))

  def next_block(self, state, num_samples, embeddings=None):
    assert num_samples % self.block_multiple == 0
    self.calls.append((state.position, state.seeds, state.temperatures,
                       num_samples))
    age = state.tensors["age"] + np.arange(num_samples)
    n = state.tensors["phase"] + age
    x = (0.4 * np.sin(2 * np.pi * 440 * n / self.sample_rate) +
         0.2 * np.sin(2 * np.pi * 660 * n / self.sample_rate))
    if self.silent_after is not None:
      x[age >= self.silent_after] = 0.0
    codes = quantization.encode(x, self.quantization, self.q_levels)
    return codes[None].astype(np.int32), state.replace(
        position=state.position + num_samples,
        tensors=dict(state.tensors, age=state.tensors["age"] + num_samples))


def _stream(gen=None, **settings):
  settings.setdefault("pace", False)
  return engine.LiveStream(gen or ToneGenerator(),
                           engine.LiveSettings(**settings),
                           dict(model="tone"), log=lambda line: None)


def _take(blocks, count):
  return [next(blocks) for _ in range(count)]


def test_blocks_are_int16_of_the_generators_block():
  blocks = _take(_stream().blocks(), 3)
  assert all(b.dtype == np.int16 and b.shape == (800,) for b in blocks)


def test_controls_apply_at_the_next_block():
  gen = ToneGenerator()
  stream = _stream(gen, temperature=1.0, seed=3)
  blocks = stream.blocks()
  _take(blocks, 2)
  stream.set_temperature(0.5)
  stream.set_seed(9)
  assert gen.calls[-1][1:3] == ((3,), (1.0,))  # nothing generated yet
  _take(blocks, 1)
  assert [c[1:3] for c in gen.calls] == [((3,), (1.0,))] * 2 + [((9,),
                                                                 (0.5,))]
  assert [c[0] for c in gen.calls] == [0, 800, 1600]  # one sequence goes on
  assert stream.status()["temperature"] == 0.5
  assert stream.status()["seed"] == 9


@pytest.mark.parametrize("bad", [2.5, -0.1, float("nan"), "hot", True, None])
def test_bad_temperatures_are_refused(bad):
  stream = _stream()
  with pytest.raises(gen_lib.RequestError, match="temperature"):
    stream.set_temperature(bad)
  assert stream.status()["temperature"] == 1.0


@pytest.mark.parametrize("bad", [-1, 2**32, 1.5, "7", True])
def test_bad_seeds_are_refused(bad):
  with pytest.raises(gen_lib.RequestError, match="seed"):
    _stream().set_seed(bad)


def _largest_step(pcm):
  return np.max(np.abs(np.diff(pcm.astype(np.float64) / 32767)))


@pytest.mark.parametrize("restart", ["prime", "reset"])
def test_a_new_sequence_is_crossfaded_without_a_click(restart):
  gen = ToneGenerator()
  stream = _stream(gen, crossfade_seconds=0.05)
  blocks = stream.blocks()
  before = _take(blocks, 2)
  clip = 0.3 * np.sin(np.arange(1001) / 5.0)
  if restart == "prime":
    stream.prime(clip, source="a clip")
  else:
    stream.reset()
  after = _take(blocks, 2)
  # The new sequence started from the clip's codes, cut to whole frames
  # (its last 1000 samples), at the old sequence's position.
  assert len(gen.starts) == 2
  if restart == "prime":
    np.testing.assert_array_equal(
        gen.starts[1].prime_codes,
        quantization.encode(clip[-1000:], "mu_law", 256)[None])
    assert stream.status()["playing"] == "a clip"
  else:
    assert gen.starts[1].prime_codes is None
  assert gen.calls[-2][0] == 1600  # the new sequence's first block
  # Without the crossfade the phase jump (~140 degrees) makes a step of
  # 0.58; the chord's own largest step is 0.24. The equal-power fade over
  # 400 samples adds at most ~0.01 to it.
  normal = _largest_step(np.concatenate(before))
  switch = _largest_step(np.concatenate([before[-1], after[0]]))
  assert normal < 0.3
  assert switch < normal + 0.02


def test_prime_refuses_what_it_cannot_use():
  stream = _stream()
  with pytest.raises(gen_lib.RequestError, match="too short"):
    stream.prime(np.zeros(7, np.float32), source="tiny.wav")
  gen = ToneGenerator()
  gen.can_prime = False
  with pytest.raises(gen_lib.RequestError, match="cannot continue"):
    _stream(gen).prime(np.zeros(800, np.float32), source="x.wav")
  with pytest.raises(gen_lib.RequestError, match="not a clip"):
    stream.prime_clip("../etc/passwd")


def _seconds(pcm, rate=8000):
  return len(pcm) / rate


def test_watchdog_reprimes_from_a_clip_after_a_forced_collapse(tmp_path):
  clips = tmp_path / "clips"
  clips.mkdir()
  sf.write(str(clips / "a.wav"), 0.3 * np.sin(np.arange(8000) / 3.0), 8000)
  # Silent 1 s after every start; collapsed for 1 s (two 0.5 s chunks) the
  # stream must start again from the clip.
  gen = ToneGenerator(silent_after=8000)
  stream = _stream(gen, watchdog_seconds=1.0, prime_dir=str(clips),
                   chunk_seconds=0.5)
  audio = np.concatenate(_take(stream.blocks(), 40)) / 32767  # 4 s
  # Sound for 1 s, silence from 1 s; collapsed chunks 1-1.5 s and 1.5-2 s:
  # the next block (2 s) starts again from the clip, with sound until 3 s;
  # the second recovery, due at 4 s, is asked for and not yet played.
  status = stream.status()
  assert status["collapses"] == 2 and status["recoveries"] == 2
  assert status["playing"] == "a.wav"
  assert len(gen.starts) == 2 and gen.starts[1].prime_codes is not None
  loud = [not collapse.is_collapsed(audio[i:i + 2000])
          for i in range(0, len(audio), 2000)]  # 0.25 s pieces
  assert loud == ([True] * 4 + [False] * 4) * 2


def test_watchdog_resets_without_clips_and_can_be_off():
  gen = ToneGenerator(silent_after=4000)
  stream = _stream(gen, watchdog_seconds=1.0, chunk_seconds=0.5)
  _take(stream.blocks(), 40)
  assert stream.status()["recoveries"] >= 1
  assert stream.status()["playing"] == "initial state"
  assert gen.starts[1].prime_codes is None
  off = _stream(ToneGenerator(silent_after=4000), watchdog_seconds=0)
  _take(off.blocks(), 40)
  assert off.status()["recoveries"] == 0


class FakeClock:
  """A wall clock that moves only when slept on or told to."""

  def __init__(self):
    self.now = 100.0
    self.slept = 0.0

  def __call__(self):
    return self.now

  def sleep(self, seconds):
    assert seconds > 0
    self.now += seconds
    self.slept += seconds


class SlowToneGenerator(ToneGenerator):
  """Takes `seconds_per_block` of the fake clock per block."""

  def __init__(self, clock, seconds_per_block):
    super().__init__()
    self.clock, self.seconds_per_block = clock, seconds_per_block

  def next_block(self, state, num_samples, embeddings=None):
    self.clock.now += self.seconds_per_block
    return super().next_block(state, num_samples, embeddings)


def _paced(gen, clock, **settings):
  return engine.LiveStream(gen, engine.LiveSettings(pace=True, **settings),
                           {}, clock=clock, sleep=clock.sleep,
                           log=lambda line: None)


def test_pacing_stays_a_bounded_time_ahead_and_sleeps_otherwise():
  clock = FakeClock()
  stream = _paced(SlowToneGenerator(clock, 0.01), clock, ahead_seconds=0.5)
  start = clock.now
  handed = 0
  for block in _take(stream.blocks(), 100):  # 10 s of audio
    # Handed out up to now (the block included) minus the wall clock:
    assert (handed + len(block)) / 8000 - (clock.now - start - 0.01) <= 0.5
    handed += len(block)
  assert 10.0 - 0.5 <= clock.now - start <= 10.0
  assert clock.slept > 8.0  # asleep most of the time
  status = stream.status()
  assert status["underruns"] == 0
  assert status["real_time_factor"] == pytest.approx(10.0)  # 0.1 s / 0.01 s
  assert 0 < status["ahead_seconds"] <= 0.5


def test_a_late_block_is_an_underrun_and_the_clock_starts_again():
  clock = FakeClock()
  stream = _paced(SlowToneGenerator(clock, 0.15), clock)  # 0.1 s blocks
  _take(stream.blocks(), 11)
  assert stream.status()["underruns"] == 10
  assert clock.slept == 0


class OnceLateToneGenerator(SlowToneGenerator):
  """Block 5 takes 1 s of the fake clock, the others none."""

  def next_block(self, state, num_samples, embeddings=None):
    self.clock.now += 1.0 if len(self.calls) == 5 else 0.0
    return ToneGenerator.next_block(self, state, num_samples, embeddings)


def test_one_late_block_is_one_underrun():
  clock = FakeClock()
  stream = _paced(OnceLateToneGenerator(clock, 0), clock, ahead_seconds=0.5)
  _take(stream.blocks(), 30)
  status = stream.status()
  assert status["underruns"] == 1
  assert 0.4 <= status["ahead_seconds"] <= 0.5  # back ahead


def test_a_buffer_is_generated_before_the_first_block_is_handed_out():
  clock = FakeClock()
  stream = _paced(SlowToneGenerator(clock, 0.15), clock, buffer_seconds=1.0)
  blocks = stream.blocks()
  start = clock.now
  next(blocks)
  assert clock.now - start == pytest.approx(1.5)  # 10 blocks generated
  _take(blocks, 9)
  assert stream.status()["underruns"] == 0  # played from the buffer


def test_the_position_wraps_to_the_next_seed(monkeypatch):
  monkeypatch.setattr(engine, "POSITION_LIMIT", 4000)
  gen = ToneGenerator()
  stream = _stream(gen, seed=5)
  _take(stream.blocks(), 6)
  # A block and a crossfade's tail must fit below the limit.
  assert [(c[0], c[1]) for c in gen.calls] == [
      (0, (5,)), (800, (5,)), (1600, (5,)), (2400, (5,)), (0, (6,)),
      (800, (6,))]
  assert stream.status()["seed"] == 6


def test_an_autoencoder_is_refused():
  gen = ToneGenerator()
  gen.embedding_width = 16
  with pytest.raises(engine.LiveError, match="autoencoder"):
    _stream(gen)


def test_a_model_of_another_family_is_refused():
  with pytest.raises(engine.LiveError, match="not a wavenet"):
    engine.load_stream(SRNN_BACH, engine.LiveSettings(), family="wavenet")


def test_a_model_too_slow_for_real_time_is_refused(monkeypatch):
  monkeypatch.setattr(engine, "check_real_time", lambda gen: 0.4)
  with pytest.raises(engine.LiveError, match=r"0\.40x real time"):
    engine.load_stream(SRNN_BACH, engine.LiveSettings())
  stream = engine.load_stream(SRNN_BACH,
                              engine.LiveSettings(buffer_seconds=30))
  assert stream.info["measured_real_time_factor"] == 0.4


# ---------------------------------------------------------------------------
# The record and the outputs.


def test_record_rotates_and_writes_each_file_atomically(tmp_path):
  path = str(tmp_path / "live.flac")
  stamp = time.strftime("%Y%m%d-%H%M", time.localtime(1e9))
  taken = tmp_path / f"live-{stamp}.flac"
  taken.write_bytes(b"not ours")
  rng = np.random.default_rng(0)
  played = rng.integers(-32768, 32767, 10000).astype(np.int16)
  recorder = record.Recorder(path, 8000, rotate_seconds=0.5,
                             now=lambda: 1e9)
  for block in np.split(played, [1500, 3000, 4500, 6000, 7500, 9000]):
    recorder.write(block)
  # Two whole files (4000 samples each); the third is still being written,
  # under a hidden temporary name only.
  assert [os.path.basename(p) for p in recorder.paths] == [
      f"live-{stamp}-2.flac", f"live-{stamp}-3.flac"]
  assert sorted(os.listdir(tmp_path))[-1] == f"live-{stamp}.flac"
  assert not os.path.exists(tmp_path / f"live-{stamp}-4.flac")
  recorder.close()
  assert len(recorder.paths) == 3
  assert taken.read_bytes() == b"not ours"
  recorded = np.concatenate([sf.read(p, dtype="int16")[0]
                             for p in recorder.paths])
  np.testing.assert_array_equal(recorded, played)
  assert [sf.info(p).frames for p in recorder.paths] == [4000, 4000, 2000]
  assert sorted(os.listdir(tmp_path)) == sorted(
      [f"live-{stamp}.flac"] + [os.path.basename(p) for p in recorder.paths])


def test_record_refuses_other_formats(tmp_path):
  with pytest.raises(record.RecordError, match=".flac or .ogg"):
    record.Recorder(str(tmp_path / "live.mp3"), 8000)
  with pytest.raises(record.RecordError, match="no folder"):
    record.Recorder(str(tmp_path / "nowhere" / "live.ogg"), 8000)


def test_stdout_stream_is_a_wav_of_the_requested_length():
  out = io.BytesIO()
  blocks = _stream().blocks()
  assert outputs.to_stdout(blocks, out, 8000, "wav", num_samples=2000) == (
      2000)
  audio, rate = sf.read(io.BytesIO(out.getvalue()), dtype="int16")
  assert rate == 8000 and audio.shape == (2000,)
  raw = io.BytesIO()
  outputs.to_stdout(_stream().blocks(), raw, 8000, "raw", num_samples=2000)
  assert raw.getvalue() == out.getvalue()[44:]
  np.testing.assert_array_equal(
      np.frombuffer(raw.getvalue(), "<i2"),
      np.concatenate(_take(_stream().blocks(), 3))[:2000])


def test_an_endless_wav_header_is_read_to_the_end_of_the_stream():
  data = (outputs.wav_header(8000) +
          np.arange(1000, dtype="<i2").tobytes())
  audio, _ = sf.read(io.BytesIO(data), dtype="int16")
  np.testing.assert_array_equal(audio, np.arange(1000))


def test_device_output_without_sounddevice_is_one_clear_error(monkeypatch):
  monkeypatch.setitem(sys.modules, "sounddevice", None)
  with pytest.raises(outputs.OutputError, match="pip install sounddevice"):
    outputs.to_device(iter([]), 8000)


def _play_on_device(alsa_config, home):
  """`outputs.to_device` of 8 blocks of 4000 samples (block k all k + 1),
  limited to 20000 samples, in a child process (PortAudio reads the ALSA
  configuration once, when loaded) whose `~/.asoundrc` is `alsa_config`:
  its stdout, the samples played or the error line."""
  (home / ".asoundrc").write_text(alsa_config)
  code = ("import numpy as np\n"
          "from common.live import outputs\n"
          "blocks = (np.full(4000, k + 1, np.int16) for k in range(8))\n"
          "try:\n"
          "  print(outputs.to_device(blocks, 16000, num_samples=20000))\n"
          "except outputs.OutputError as e:\n"
          "  print('error:', e)\n")
  done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, text=True,
                        env=dict(os.environ, HOME=str(home), PYTHONPATH=ROOT),
                        capture_output=True, timeout=60)
  assert done.returncode == 0, done.stderr
  return done.stdout.strip()


def test_device_output_plays_through_portaudio(tmp_path):
  """A real PortAudio stream on ALSA's default device, made (the test
  machine has no sound card) a `file` plugin that writes what reaches the
  device to a raw file before a null sink: it gets every sample."""
  heard = tmp_path / "device.raw"
  config = ("pcm.!default {\n  type file\n  slave.pcm null\n"
            f"  file \"{heard}\"\n  format raw\n}}\n")
  assert _play_on_device(config, tmp_path) == "20000"
  np.testing.assert_array_equal(np.fromfile(heard, "<i2"),
                                np.repeat(np.arange(1, 6), 4000))


def test_no_sound_device_is_one_clear_error(tmp_path):
  """The default device is a card that does not exist."""
  line = _play_on_device("pcm.!default {\n  type hw\n  card 99\n}\n"
                         "ctl.!default {\n  type hw\n  card 99\n}\n",
                         tmp_path)
  assert line.startswith("error: no sound output device to play on"), line
  assert line.endswith("use --to=stdout or --to=http")


# ---------------------------------------------------------------------------
# A real model, and the command.


def test_the_shipped_model_streams_primes_and_records(tmp_path):
  stream = engine.load_stream(SRNN_BACH, engine.LiveSettings(pace=False))
  gen = stream.generator
  blocks = stream.blocks()
  first = next(blocks)
  assert first.shape == (gen.block_samples,) and first.dtype == np.int16
  stream.prime(first / 32767, source="itself")
  out = io.BytesIO()
  with record.Recorder(str(tmp_path / "r.ogg"), 16000) as recorder:
    outputs.to_stdout(recorder.passing(blocks), out, 16000,
                      num_samples=gen.block_samples)
  audio, _ = sf.read(io.BytesIO(out.getvalue()), dtype="int16")
  assert audio.shape == (gen.block_samples,)
  assert stream.status()["playing"] == "itself"
  assert sf.info(recorder.paths[0]).frames == gen.block_samples


def test_sigterm_stops_the_command_and_completes_the_record(tmp_path):
  """The paced command to a pipe: SIGTERM after a second of audio; the
  record holds what was played, and the exit is clean."""
  # --buffer_seconds: the command does not refuse the model when a busy
  # machine measures it slower than real time (0.37x under a load of 8).
  command = [sys.executable, "-m", "samplernn.stream",
             f"--model_dir={SRNN_BACH}", "--to=stdout", "--buffer_seconds=1",
             f"--record={tmp_path / 'live.flac'}"]
  process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
  try:
    header = process.stdout.read(44)
    played = process.stdout.read(2 * 16000)
    process.send_signal(signal.SIGTERM)
    rest, errors = process.communicate(timeout=60)
  finally:
    process.kill()
  assert process.returncode == 0, errors.decode()
  assert b"stopped (SIGTERM)" in errors
  assert header[:4] == b"RIFF" and header[36:40] == b"data"
  pcm = np.frombuffer(played + rest, "<i2")
  [path] = [os.path.join(tmp_path, n) for n in os.listdir(tmp_path)]
  recorded, rate = sf.read(path, dtype="int16")
  assert rate == 16000
  # Every block is recorded before it is written out, so the record holds
  # all that was played (and at most the block a signal cut short).
  np.testing.assert_array_equal(recorded[:len(pcm)], pcm)
  assert len(recorded) - len(pcm) <= 16384
