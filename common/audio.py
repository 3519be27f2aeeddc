"""Audio I/O: any file soundfile reads -> float32 mono at a target rate; wav out.

Decoding uses soundfile (libsndfile: wav, flac, ogg/vorbis, opus, mp3 and
more) and resampling uses soxr (band-limited, "HQ" quality). tensorflow-io is
deliberately not used: its last release cannot load its ops on TF >= 2.18.

Nothing here imports TensorFlow, so worker processes stay light.
"""

from __future__ import annotations

import contextlib
import os
import struct
from types import TracebackType
from typing import Iterable, Iterator

import numpy as np
import soundfile as sf
import soxr

from common import files

DEFAULT_SAMPLE_RATE = 16000
BLOCK_SECONDS = 10.0


class AudioError(ValueError):
  """A file that cannot be used as audio; the message names file and reason."""


def _open(path: str) -> sf.SoundFile:
  if not os.path.exists(path):
    raise AudioError(f"{path}: file not found")
  if os.path.getsize(path) == 0:
    raise AudioError(f"{path}: empty file (0 bytes)")
  try:
    return sf.SoundFile(path)
  except (sf.LibsndfileError, RuntimeError, TypeError) as e:
    reason = str(e).split(":")[-1].strip() or "unreadable"
    raise AudioError(f"{path}: not a readable audio file ({reason})") from None


def _wav_truncation(path: str) -> str | None:
  """For RIFF/WAVE files: a reason string if the data chunk is cut short."""
  with open(path, "rb") as f:
    header = f.read(12)
    if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
      return None
    size = os.path.getsize(path)
    while True:
      chunk = f.read(8)
      if len(chunk) < 8:
        return None
      name, length = chunk[:4], struct.unpack("<I", chunk[4:])[0]
      if name == b"data":
        have = size - f.tell()
        if length != 0xFFFFFFFF and have < length:
          return (f"truncated: header declares {length} bytes of audio, "
                  f"file holds {have}")
        return None
      f.seek(length + (length & 1), os.SEEK_CUR)


def info(path: str) -> dict:
  """Returns dict(sample_rate, channels, frames, seconds, format, subtype)."""
  with _open(path) as f:
    return dict(sample_rate=f.samplerate, channels=f.channels,
                frames=f.frames, seconds=f.frames / f.samplerate,
                format=f.format, subtype=f.subtype)


def stream(path: str, sample_rate: int = DEFAULT_SAMPLE_RATE,
           block_seconds: float = BLOCK_SECONDS) -> Iterator[np.ndarray]:
  """Yields float32 mono blocks `[samples]` of a file at `sample_rate` Hz.

  Memory stays bounded by one block whatever the file's length: the file is
  read `block_seconds` at a time as float32, channels averaged, and resampled
  by a streaming soxr resampler.

  Raises:
    AudioError: unreadable, empty, truncated, or NaN/Inf samples.
  """
  reason = _wav_truncation(path) if os.path.exists(path) else None
  if reason:
    raise AudioError(f"{path}: {reason}")
  with _open(path) as f:
    if f.frames == 0:
      raise AudioError(f"{path}: no samples (0 frames)")
    resampler = None
    if f.samplerate != sample_rate:
      resampler = soxr.ResampleStream(f.samplerate, sample_rate, 1,
                                      dtype="float32", quality="HQ")
    block = max(1, int(block_seconds * f.samplerate))
    position = 0
    while True:
      try:
        data = f.read(block, dtype="float32", always_2d=True)
      except (sf.LibsndfileError, RuntimeError) as e:
        raise AudioError(f"{path}: decoding failed at frame {position} ({e})"
                         ) from None
      last = len(data) < block
      position += len(data)
      mono = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else (
          data[:, 0])
      if not np.all(np.isfinite(mono)):
        raise AudioError(f"{path}: NaN or Inf samples near "
                         f"{position / f.samplerate:.2f} s")
      if resampler is not None:
        mono = resampler.resample_chunk(mono, last=last)
      if len(mono):
        yield np.ascontiguousarray(mono, np.float32)
      if last:
        break
    if position == 0:
      raise AudioError(f"{path}: no samples could be decoded")
    if position < f.frames:
      raise AudioError(f"{path}: truncated: header declares {f.frames} "
                       f"frames, only {position} could be decoded")


def load(path: str, sample_rate: int = DEFAULT_SAMPLE_RATE) -> np.ndarray:
  """Reads a whole audio file as float32 mono `[samples]` at `sample_rate` Hz.

  Any file soundfile reads: wav (int16/24/32, float), flac, ogg, mp3, any
  channel count (averaged) and any rate (resampled with soxr).
  """
  return np.concatenate(list(stream(path, sample_rate)))


def _subtype_for(path: str, subtype: str | None) -> str | None:
  if subtype:
    return subtype
  ext = os.path.splitext(path)[1].lower()
  return {".wav": "PCM_16", ".flac": "PCM_16", ".ogg": "VORBIS"}.get(ext)


def save(path: str, audio: np.ndarray, sample_rate: int,
         subtype: str | None = None) -> None:
  """Writes float `[samples]` (or `[samples, channels]`) audio atomically.

  The format follows the extension (.wav, .flac, .ogg); wav and flac are
  16-bit PCM unless `subtype` says otherwise. Values are clipped to [-1, 1].
  """
  audio = np.clip(np.asarray(audio, np.float32), -1.0, 1.0)
  with files.atomic_path(path) as tmp:
    sf.write(tmp, audio, int(sample_rate), subtype=_subtype_for(path, subtype),
             format=os.path.splitext(path)[1][1:].upper() or "WAV")


class WavWriter:
  """Streams float32 blocks to an audio file; renames into place on close.

  with WavWriter("out.wav", 16000) as w:
    for block in blocks:
      w.write(block)      # float32 [samples] in [-1, 1]

  If the `with` body raises, the partial file is removed and `path` is
  untouched.
  """

  def __init__(self, path: str, sample_rate: int,
               subtype: str | None = None) -> None:
    self.path = path
    self.sample_rate = int(sample_rate)
    self._subtype = _subtype_for(path, subtype)
    self._exits = contextlib.ExitStack()
    self._file: sf.SoundFile | None = None
    self.samples_written = 0

  def __enter__(self) -> WavWriter:
    with contextlib.ExitStack() as exits:
      tmp = exits.enter_context(files.atomic_path(self.path))
      self._file = exits.enter_context(sf.SoundFile(
          tmp, "w", samplerate=self.sample_rate, channels=1,
          subtype=self._subtype,
          format=os.path.splitext(self.path)[1][1:].upper() or "WAV"))
      self._exits = exits.pop_all()
    return self

  def write(self, block: np.ndarray) -> None:
    """Appends float32 samples `[samples]` (clipped to [-1, 1])."""
    if self._file is None:
      raise RuntimeError("WavWriter.write outside its `with` block")
    block = np.clip(np.asarray(block, np.float32).reshape(-1), -1.0, 1.0)
    self._file.write(block)
    self.samples_written += len(block)

  def __exit__(self, exc_type: type[BaseException] | None,
               exc: BaseException | None,
               tb: TracebackType | None) -> bool | None:
    self._file = None
    return self._exits.__exit__(exc_type, exc, tb)


AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif",
                    ".aiff", ".au", ".w64", ".caf")


def find_audio_files(paths: Iterable[str]) -> list[str]:
  """Expands files and folders (recursively) into a sorted list of files.

  Folders contribute files with a known audio extension; a file named
  explicitly is always included (and reported later if it is not audio).
  """
  found = []
  for path in paths:
    if os.path.isdir(path):
      for root, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in names:
          if name.lower().endswith(AUDIO_EXTENSIONS) and not name.startswith(
              "."):
            found.append(os.path.join(root, name))
    elif os.path.exists(path):
      found.append(path)
    else:
      raise AudioError(f"{path}: no such file or folder")
  return sorted(set(os.path.abspath(p) for p in found))
