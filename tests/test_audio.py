"""Audio I/O: every format -> float32 mono 16 kHz; save; WavWriter; errors."""

import os

import numpy as np
import pytest
import soundfile as sf
import soxr

from common import audio
from conftest import FORMATS, LOSSY, tone, write_audio


def peak_hz(x, sample_rate=16000):
  spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
  return np.argmax(spectrum) * sample_rate / len(x)


def reference(path, sample_rate=16000):
  """What `load` should give: soundfile's float data, averaged, resampled."""
  data, sr = sf.read(path, dtype="float64", always_2d=True)
  mono = data.mean(axis=1)
  return mono if sr == sample_rate else soxr.resample(mono, sr, sample_rate,
                                                      quality="HQ")


LOAD_CASES = [
    ("wav_int16", 44100, 2),
    ("wav_int16", 16000, 1),
    ("wav_int24", 48000, 1),
    ("wav_int24", 22050, 2),
    ("wav_int32", 22050, 2),
    ("wav_float32", 16000, 1),
    ("wav_float32", 48000, 2),
    ("flac", 44100, 2),
    ("flac_int24", 16000, 1),
    ("ogg", 48000, 2),
    ("ogg", 22050, 1),
    ("mp3", 44100, 2),
    ("mp3", 16000, 1),
]


@pytest.mark.parametrize("kind,sample_rate,channels", LOAD_CASES)
def test_load_any_format_to_float32_mono_16k(make_audio, kind, sample_rate,
                                             channels):
  seconds = 1.5
  path = make_audio("clip", seconds, sample_rate, channels, kind,
                    freqs=(440.0,), envelope=False)
  x = audio.load(path)
  assert x.dtype == np.float32 and x.ndim == 1
  assert abs(len(x) - seconds * 16000) <= 4
  assert peak_hz(x) == pytest.approx(440.0, abs=1.5)
  # Level: the mean of channels scaled 1 and 0.75 -> 0.875 * 0.5 peak.
  mean_gain = np.mean([1 - 0.25 * c for c in range(channels)])
  rms = np.sqrt(np.mean(x[800:-800].astype(np.float64)**2))
  assert rms == pytest.approx(0.5 * mean_gain / np.sqrt(2), rel=0.05)
  if kind not in LOSSY:
    ref = reference(path)
    assert abs(len(ref) - len(x)) <= 4
    n = min(len(ref), len(x))
    np.testing.assert_allclose(x[:n], ref[:n], atol=2e-3)
    # Direct comparison with the synthesized tone, away from the edges.
    want = tone((440.0,), seconds, 16000, 0.5 * mean_gain, envelope=False)
    np.testing.assert_allclose(x[200:n - 200], want[200:n - 200], atol=3e-3)


def test_every_format_in_the_table_is_covered():
  assert {kind for kind, _, _ in LOAD_CASES} == set(FORMATS)


def test_load_to_other_sample_rates(make_audio):
  path = make_audio("clip", 1.0, 44100, 2, "wav_int16", envelope=False)
  for rate in (8000, 22050, 48000):
    x = audio.load(path, rate)
    assert abs(len(x) - rate) <= 4
    assert peak_hz(x, rate) == pytest.approx(440.0, abs=1.5)


def test_no_resampling_when_rates_match(tmp_path):
  x = tone(seconds=0.7)
  path = write_audio(tmp_path / "a.wav", x, 16000, "wav_float32")
  np.testing.assert_array_equal(audio.load(path), x)


@pytest.mark.parametrize("kind", ["wav_float32", "wav_int16", "flac"])
def test_stereo_is_averaged(tmp_path, kind):
  x = tone(seconds=1.0, sample_rate=44100)
  path = write_audio(tmp_path / ("opposite" + FORMATS[kind][0]),
                     np.stack([x, -x], axis=1), 44100, kind)
  assert np.max(np.abs(audio.load(path))) < 1e-4
  path = write_audio(tmp_path / ("left" + FORMATS[kind][0]),
                     np.stack([x, np.zeros_like(x)], axis=1), 16000, kind)
  np.testing.assert_allclose(audio.load(path), x / 2, atol=1e-4)


def test_many_channels_are_averaged(tmp_path):
  x = tone(seconds=0.5)
  data = np.stack([x, 2 * x, -x, 0 * x], axis=1) * 0.5
  path = write_audio(tmp_path / "quad.wav", data, 16000, "wav_float32")
  np.testing.assert_allclose(audio.load(path), x * 0.25, atol=1e-7)


def test_info(make_audio):
  path = make_audio("clip", 1.0, 22050, 2, "flac")
  i = audio.info(path)
  assert i["sample_rate"] == 22050 and i["channels"] == 2
  assert i["frames"] == 22050 and i["seconds"] == pytest.approx(1.0)
  assert i["format"] == "FLAC" and i["subtype"] == "PCM_16"


@pytest.mark.parametrize("name,subtype,atol", [
    ("a.wav", None, 1 / 32768 + 1e-6),
    ("b.wav", "FLOAT", 0.0),
    ("c.wav", "PCM_24", 1 / 2**23 + 1e-7),
    ("d.flac", None, 1 / 32768 + 1e-6),
])
def test_save_then_load_round_trip(tmp_path, name, subtype, atol):
  x = tone((330.0, 415.3), seconds=0.8)
  path = str(tmp_path / name)
  audio.save(path, x, 16000, subtype=subtype)
  y = audio.load(path)
  assert y.dtype == np.float32 and len(y) == len(x)
  np.testing.assert_allclose(y, x, atol=atol, rtol=0)
  assert sorted(os.listdir(tmp_path)) == [name]  # no temporary left behind


def test_save_ogg_and_resampled_round_trip(tmp_path):
  x = tone((440.0,), seconds=1.0, envelope=False)
  path = str(tmp_path / "a.ogg")
  audio.save(path, x, 16000)
  assert audio.info(path)["subtype"] == "VORBIS"
  y = audio.load(path)
  assert len(y) == len(x) and peak_hz(y) == pytest.approx(440.0, abs=1.5)
  # Saved at 16 kHz, loaded at 48 kHz.
  path = str(tmp_path / "b.wav")
  audio.save(path, x, 16000, subtype="FLOAT")
  assert abs(len(audio.load(path, 48000)) - 48000) <= 2


def test_save_clips_and_accepts_channels(tmp_path):
  path = str(tmp_path / "loud.wav")
  audio.save(path, np.array([0.0, 2.0, -3.0, 0.5]), 16000, subtype="FLOAT")
  np.testing.assert_array_equal(audio.load(path), [0.0, 1.0, -1.0, 0.5])
  path = str(tmp_path / "stereo.wav")
  audio.save(path, np.array([[0.5, -0.5], [0.25, 0.75]]), 16000,
             subtype="FLOAT")
  assert audio.info(path)["channels"] == 2
  np.testing.assert_allclose(audio.load(path), [0.0, 0.5])


def test_wav_writer_streams_blocks_and_renames_on_close(tmp_path):
  path = str(tmp_path / "out.wav")
  blocks = [tone(seconds=0.1 * (i + 1), amplitude=0.3) for i in range(4)]
  with audio.WavWriter(path, 16000) as w:
    for block in blocks:
      w.write(block)
      assert not os.path.exists(path)  # nothing at `path` until close
    assert len(os.listdir(tmp_path)) == 1  # the temporary
  assert w.samples_written == sum(len(b) for b in blocks)
  assert sorted(os.listdir(tmp_path)) == ["out.wav"]
  i = audio.info(path)
  assert (i["sample_rate"], i["channels"], i["subtype"]) == (16000, 1,
                                                             "PCM_16")
  np.testing.assert_allclose(audio.load(path), np.concatenate(blocks),
                             atol=1 / 32768 + 1e-6)


def test_wav_writer_float_subtype_and_clipping(tmp_path):
  path = str(tmp_path / "out.wav")
  with audio.WavWriter(path, 16000, subtype="FLOAT") as w:
    w.write(np.array([0.25, 1.5]))
    w.write(np.array([[-2.0], [0.5]]))
  np.testing.assert_array_equal(audio.load(path), [0.25, 1.0, -1.0, 0.5])


def test_wav_writer_leaves_nothing_on_exception(tmp_path):
  path = str(tmp_path / "out.wav")
  with pytest.raises(RuntimeError, match="boom"):
    with audio.WavWriter(path, 16000) as w:
      w.write(tone(seconds=0.2))
      raise RuntimeError("boom")
  assert os.listdir(tmp_path) == []
  # An existing file at the path is left untouched.
  audio.save(path, np.full(100, 0.5), 16000, subtype="FLOAT")
  before = open(path, "rb").read()
  with pytest.raises(KeyError):
    with audio.WavWriter(path, 16000) as w:
      w.write(tone(seconds=0.2))
      raise KeyError("x")
  assert open(path, "rb").read() == before
  assert os.listdir(tmp_path) == ["out.wav"]


@pytest.mark.parametrize("sample_rate", [16000, 44100])
def test_stream_yields_bounded_blocks(make_audio, sample_rate):
  path = make_audio("long", 3.0, sample_rate, 2, "wav_int16")
  blocks = list(audio.stream(path, 16000, block_seconds=0.25))
  assert len(blocks) >= 12
  assert all(b.dtype == np.float32 and b.ndim == 1 for b in blocks)
  assert max(len(b) for b in blocks) <= 1.2 * 0.25 * 16000
  np.testing.assert_array_equal(np.concatenate(blocks), audio.load(path))
  assert abs(sum(len(b) for b in blocks) - 48000) <= 4


# ---- errors ----------------------------------------------------------------


def _truncated_wav(path):
  write_audio(path, tone(seconds=1.0), 16000)
  with open(path, "r+b") as f:
    f.truncate(os.path.getsize(path) - 1001)


def _nan_wav(path, value=np.nan):
  x = tone(seconds=1.0)
  x[8000] = value
  write_audio(path, x, 16000, "wav_float32")


BAD = {
    "missing.wav": (lambda p: None, "file not found"),
    "empty.wav": (lambda p: open(p, "wb").close(), "empty file"),
    "text.wav": (lambda p: open(p, "w").write("hello, not audio\n" * 50),
                 "not a readable audio file"),
    "header_only.wav": (
        lambda p: open(p, "wb").write(b"RIFF\x24\x00\x00\x00WAVEfmt "),
        "not a readable audio file"),
    "truncated.wav": (_truncated_wav, "truncated"),
    "nan.wav": (_nan_wav, "NaN"),
    "inf.wav": (lambda p: _nan_wav(p, np.inf), "Inf"),
    "zero_frames.wav": (lambda p: write_audio(p, np.zeros(0, np.float32),
                                              16000), "no samples"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_files_raise_audio_error_naming_the_file(tmp_path, name):
  make, reason = BAD[name]
  path = str(tmp_path / name)
  make(path)
  with pytest.raises(audio.AudioError) as e:
    audio.load(path)
  assert path in str(e.value) and reason in str(e.value)
  assert isinstance(e.value, ValueError)


def test_truncated_flac_and_ogg_raise(tmp_path):
  x = tone(seconds=2.0)
  for kind in ("flac", "ogg"):
    path = write_audio(tmp_path / ("cut" + FORMATS[kind][0]), x, 16000, kind)
    with open(path, "r+b") as f:
      f.truncate(os.path.getsize(path) * 2 // 3)
    with pytest.raises(audio.AudioError, match=str(tmp_path)):
      audio.load(path)


def test_truncated_mp3_raises(tmp_path):
  """A cut mp3 whose (Xing) header declares more frames than it holds.

  libsndfile decodes what is there without an error, so this needs a check
  that the decoded frame count reaches the declared one.
  """
  path = write_audio(tmp_path / "cut.mp3", tone(seconds=2.0), 16000, "mp3")
  declared = audio.info(path)["frames"]
  with open(path, "r+b") as f:
    f.truncate(os.path.getsize(path) // 2)
  assert audio.info(path)["frames"] == declared
  with pytest.raises(audio.AudioError, match="truncated"):
    audio.load(path)


def test_find_audio_files(tmp_path, make_audio):
  a = make_audio("a.wav")
  b = make_audio("b.flac", kind="flac", directory=tmp_path / "sub" / "deep")
  c = make_audio("C.WAV", directory=tmp_path / "sub")
  make_audio(".hidden.wav")
  make_audio("x.wav", directory=tmp_path / ".git")
  (tmp_path / "notes.txt").write_text("not audio")
  (tmp_path / "readme.md").write_text("named explicitly")
  found = audio.find_audio_files([str(tmp_path)])
  assert found == sorted([a, b, c])
  explicit = str(tmp_path / "readme.md")
  assert audio.find_audio_files([explicit, str(tmp_path / "sub"), a, a]) == (
      sorted([explicit, b, c, a]))
  with pytest.raises(audio.AudioError, match="no such file or folder"):
    audio.find_audio_files([str(tmp_path / "nope")])
