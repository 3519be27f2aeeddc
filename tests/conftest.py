"""Shared fixtures: synthetic audio in many formats, bad inputs, small corpora.

Fixtures
- `make_audio`: function writing a synthetic tone/chord file into tmp_path.
- `prepared_corpus` (session; alias `tiny_corpus`): path of a corpus of six
  short files in mixed formats, prepared with chunk_seconds=0.5; train, val and
  test splits are all non-empty.
- `periodic_clip` (session): float32 `[16000]`, a 1 s waveform at 16 kHz that
  repeats exactly every `PERIOD` (80) samples, for overfit tests.
- `periodic_corpus` (session): a prepared corpus (chunk_seconds=0.5) of four
  2 s files, each the periodic waveform; all three splits non-empty.

Helpers (import from conftest): `tone`, `write_audio`, `write_bad_files`,
`FORMATS`, `PERIOD`.
"""

import os
import sys

import numpy as np
import pytest
import soundfile as sf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

from common import corpus  # pylint: disable=g-import-not-at-top,wrong-import-position

# kind -> (extension, soundfile format, subtype)
FORMATS = {
    "wav_int16": (".wav", "WAV", "PCM_16"),
    "wav_int24": (".wav", "WAV", "PCM_24"),
    "wav_int32": (".wav", "WAV", "PCM_32"),
    "wav_float32": (".wav", "WAV", "FLOAT"),
    "flac": (".flac", "FLAC", "PCM_16"),
    "flac_int24": (".flac", "FLAC", "PCM_24"),
    "ogg": (".ogg", "OGG", "VORBIS"),
    "mp3": (".mp3", "MP3", "MPEG_LAYER_III"),
}
LOSSY = ("ogg", "mp3")
PERIOD = 80  # samples at 16 kHz: 200 Hz


def tone(freqs=(440.0,), seconds=1.0, sample_rate=16000, amplitude=0.5,
         envelope=True):
  """float32 `[samples]`: a chord of sines (equal weights), peak <= amplitude.

  With `envelope`, a 10 ms attack then a decay towards 40 % (a plucked note).
  """
  t = np.arange(int(round(seconds * sample_rate))) / sample_rate
  x = sum(np.sin(2 * np.pi * f * t + 0.3 * i) for i, f in enumerate(freqs))
  x = x / len(freqs)
  if envelope:
    x = x * np.minimum(1.0, t / 0.01) * (0.4 + 0.6 * np.exp(-2.0 * t))
  return (amplitude * x).astype(np.float32)


def write_audio(path, data, sample_rate, kind="wav_int16"):
  """Writes `data` (`[samples]` or `[samples, channels]`) as `kind`."""
  _, fmt, subtype = FORMATS[kind]
  sf.write(str(path), data, int(sample_rate), format=fmt, subtype=subtype)
  _zero_peak_timestamp(str(path))
  return str(path)


def _zero_peak_timestamp(path):
  """libsndfile stamps a float WAV's PEAK chunk with the time of writing, so
  the same audio written a second later has other bytes (another content
  hash, maybe another split): zero that stamp (`PEAK`, size, version, time)."""
  with open(path, "r+b") as f:
    head = f.read(4096)
    at = head.find(b"PEAK") if head[:4] == b"RIFF" else -1
    if at >= 0:
      f.seek(at + 12)
      f.write(b"\0\0\0\0")


@pytest.fixture
def make_audio(tmp_path):
  """make(name, seconds, sample_rate, channels, kind, freqs, ...) -> path.

  Channel c holds the same chord scaled by (1 - 0.25 c), so the mono average
  has the same pitch. `name` gets the kind's extension if it has none.
  """

  def make(name, seconds=1.0, sample_rate=16000, channels=1,
           kind="wav_int16", freqs=(440.0,), amplitude=0.5, envelope=True,
           directory=None):
    directory = str(directory or tmp_path)
    os.makedirs(directory, exist_ok=True)
    if not os.path.splitext(name)[1]:
      name += FORMATS[kind][0]
    x = tone(freqs, seconds, sample_rate, amplitude, envelope)
    data = x if channels == 1 else np.stack(
        [x * (1 - 0.25 * c) for c in range(channels)], axis=1)
    return write_audio(os.path.join(directory, name), data, sample_rate, kind)

  return make


def write_bad_files(directory, sample_rate=16000):
  """Writes every kind of bad input into `directory`.

  Returns {file name: substring the skip reason must contain}.
  """
  os.makedirs(directory, exist_ok=True)
  path = lambda name: os.path.join(directory, name)
  expected = {}
  # 0 bytes.
  open(path("empty.wav"), "wb").close()
  expected["empty.wav"] = "empty"
  # Text named .wav / random bytes named .flac.
  with open(path("not_audio.wav"), "w") as f:
    f.write("this is a text file, not audio\n" * 20)
  expected["not_audio.wav"] = "not a readable audio file"
  with open(path("garbage.flac"), "wb") as f:
    f.write(np.random.default_rng(0).bytes(5000))
  expected["garbage.flac"] = "not a readable audio file"
  # A dangling symlink: listed in the folder, cannot be opened.
  os.symlink(path("does_not_exist.wav"), path("dangling.wav"))
  expected["dangling.wav"] = "not found"
  # A valid wav with its last bytes cut off.
  write_audio(path("truncated.wav"), tone(seconds=1.0), sample_rate)
  with open(path("truncated.wav"), "r+b") as f:
    f.truncate(os.path.getsize(path("truncated.wav")) - 3001)
  expected["truncated.wav"] = "truncated"
  # NaN samples (float wav).
  x = tone(seconds=1.0)
  x[5000:5010] = np.nan
  write_audio(path("nan.wav"), x, sample_rate, "wav_float32")
  expected["nan.wav"] = "NaN"
  # A header and no samples.
  write_audio(path("zero_frames.wav"), np.zeros(0, np.float32), sample_rate)
  expected["zero_frames.wav"] = "no samples"
  # Valid but shorter than one chunk (callers use chunks >= 0.25 s).
  write_audio(path("too_short.wav"), tone(seconds=0.1), sample_rate)
  expected["too_short.wav"] = "shorter than one chunk"
  return expected


CORPUS_FILES = (  # name, kind, sample rate, channels, seconds, chord
    ("a_tone.wav", "wav_int16", 16000, 1, 1.3, (220.0,)),
    ("b_chord.wav", "wav_int24", 44100, 2, 1.6, (261.6, 329.6, 392.0)),
    ("c_chord.flac", "flac", 22050, 1, 1.1, (293.7, 370.0, 440.0)),
    ("d_tone.ogg", "ogg", 48000, 2, 1.2, (330.0,)),
    ("e_chord.wav", "wav_float32", 16000, 1, 1.5, (196.0, 246.9, 293.7)),
    ("f_tone.wav", "wav_int32", 22050, 2, 1.0, (523.3, 659.3)),
)


@pytest.fixture(scope="session")
def prepared_corpus(tmp_path_factory):
  """A prepared corpus dir (str): six 1-1.6 s files, chunk_seconds=0.5."""
  src = tmp_path_factory.mktemp("corpus_src") / "corpus"
  src.mkdir()
  for name, kind, sr, channels, seconds, freqs in CORPUS_FILES:
    x = tone(freqs, seconds, sr)
    data = x if channels == 1 else np.stack([x, 0.7 * x], axis=1)
    write_audio(src / name, data, sr, kind)
  out = str(tmp_path_factory.mktemp("corpus_prepared"))
  corpus.prepare([str(src)], out, chunk_seconds=0.5, workers=1,
                  progress=False)
  return out


@pytest.fixture(scope="session")
def tiny_corpus(prepared_corpus):
  return prepared_corpus


def periodic_wave(seconds=1.0, sample_rate=16000):
  """Exactly periodic (PERIOD samples): a bright, saw-like 200 Hz wave."""
  n = np.arange(int(round(seconds * sample_rate)))
  phase = 2 * np.pi * (n % PERIOD) / PERIOD
  x = sum(np.sin(k * phase) / k for k in range(1, 6))
  return (0.5 * x / np.max(np.abs(x))).astype(np.float32)


@pytest.fixture(scope="session")
def periodic_clip():
  return periodic_wave()


@pytest.fixture(scope="session")
def periodic_corpus(tmp_path_factory):
  src = tmp_path_factory.mktemp("periodic_src") / "periodic"
  src.mkdir()
  for i in range(4):
    # Distinct bytes (prepare drops duplicates), the same period.
    write_audio(src / f"loop{i}.wav", np.roll(periodic_wave(2.0), 20 * i), 16000,
                "wav_float32")
  out = str(tmp_path_factory.mktemp("periodic_prepared"))
  corpus.prepare([str(src)], out, chunk_seconds=0.5, workers=1,
                  progress=False)
  return out


# The files that take longest (measured with `pytest --durations`, the
# longest first). `make test` hands whole files to its workers in collection
# order (`--dist=loadfile --no-loadscope-reorder`), so the long ones start
# first and the short ones fill in at the end; ordered by their number of
# tests instead, a long file could start last while the other worker idled.
LONGEST_FILES = ("test_multi_worker.py", "test_notebook.py", "test_trainer.py",
                 "test_tune.py", "test_export.py", "test_wheel.py",
                 "test_pretrained.py", "test_resume.py", "test_compare.py",
                 "test_files.py", "test_prepare_beam.py",
                 "test_process_generator.py", "test_threads.py",
                 "test_encode_synthesize.py", "test_live.py", "test_suite.py",
                 "test_prepare.py", "test_likelihood.py", "test_cli.py",
                 "test_instrument.py", "test_wavenet.py",
                 "test_context_validation.py", "test_samplernn.py",
                 "test_wavenet_live.py", "test_train_step.py")


def pytest_collection_modifyitems(items):
  rank = {name: i for i, name in enumerate(LONGEST_FILES)}
  items.sort(key=lambda item: rank.get(
      os.path.basename(str(item.path)), len(LONGEST_FILES)))
