"""Where a live stream's blocks go besides the web server: a byte stream
(standard output) or the sound card.

- `to_stdout(blocks, out)`: 16-bit little-endian mono PCM, after a WAV
  header (`format="wav"`) or bare (`"raw"`), so `| aplay`, `| ffplay -` or
  `| sox -t wav - -d` play it. An endless stream's header declares the
  largest size a WAV can (players read on until the stream ends); a stream
  of `num_samples` declares exactly that many.
- `to_device(blocks, sample_rate)`: the default output device through
  `sounddevice` (PortAudio), an optional extra.
"""

from __future__ import annotations

import importlib
import struct
from typing import Any, BinaryIO, Iterable

import numpy as np

FORMATS = ("wav", "raw")
# The largest RIFF and data chunk sizes; the stream's length is unknown.
ENDLESS_SIZE = 0xFFFFFFFF


class OutputError(Exception):
  """An output that cannot be used (a user error: one line)."""


def wav_header(sample_rate: int, num_samples: int | None = None) -> bytes:
  """The 44-byte header of a 16-bit mono PCM WAV of `num_samples` samples
  (None: an endless stream)."""
  if num_samples is None:
    data_size = riff_size = ENDLESS_SIZE
  else:
    data_size = 2 * int(num_samples)
    riff_size = 36 + data_size
  return (b"RIFF" + struct.pack("<I", riff_size) + b"WAVE" +
          b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, int(sample_rate),
                                2 * int(sample_rate), 2, 16) +
          b"data" + struct.pack("<I", data_size))


def limited(blocks: Iterable[np.ndarray], num_samples: int | None
            ) -> Iterable[np.ndarray]:
  """The blocks up to `num_samples` samples in all (the last one cut);
  all of them when None."""
  if num_samples is None:
    yield from blocks
    return
  left = int(num_samples)
  if left <= 0:
    return
  for block in blocks:  # not one block more than needed
    yield block[:left]
    left -= len(block)
    if left <= 0:
      return


def to_stdout(blocks: Iterable[np.ndarray], out: BinaryIO,
              sample_rate: int, format: str = "wav",  # pylint: disable=redefined-builtin
              num_samples: int | None = None) -> int:
  """Writes int16 blocks `[samples]` to the binary stream `out` as they come
  (flushed after each); returns the samples written.

  Args:
    blocks: int16 mono PCM blocks.
    out: e.g. `sys.stdout.buffer`.
    sample_rate: Hz (for the WAV header).
    format: "wav" (a header first) or "raw".
    num_samples: stop after this many samples (the header says so); None:
      until `blocks` ends.
  """
  if format not in FORMATS:
    raise OutputError(f"format {format!r} is not one of {', '.join(FORMATS)}")
  if format == "wav":
    out.write(wav_header(sample_rate, num_samples))
  written = 0
  for block in limited(blocks, num_samples):
    out.write(np.asarray(block, "<i2").tobytes())
    out.flush()
    written += len(block)
  return written


def sounddevice_module() -> Any:
  """The `sounddevice` module (no type stubs).

  Raises:
    OutputError: it or the PortAudio library is not installed.
  """
  try:
    return importlib.import_module("sounddevice")
  except (ImportError, OSError) as e:
    raise OutputError(f"--to=device needs the optional sounddevice package "
                      f"and the PortAudio library (pip install sounddevice; "
                      f"apt install libportaudio2): {e}") from None


def to_device(blocks: Iterable[np.ndarray], sample_rate: int,
              num_samples: int | None = None) -> int:
  """Plays int16 blocks on the default output device; returns the samples
  played. Writing blocks until the device has room, so it keeps time.

  Raises:
    OutputError: sounddevice or PortAudio is missing, or there is no
      output device.
  """
  sounddevice = sounddevice_module()
  try:
    sounddevice.query_devices(kind="output")
    device = sounddevice.RawOutputStream(samplerate=sample_rate, channels=1,
                                         dtype="int16")
  except (sounddevice.PortAudioError, ValueError) as e:
    raise OutputError(f"no sound output device to play on ({e}); use "
                      f"--to=stdout or --to=http") from None
  played = 0
  with device:
    for block in limited(blocks, num_samples):
      device.write(np.asarray(block, np.int16).tobytes())
      played += len(block)
  return played
