"""Embedding frames: how samples map to frames (no TensorFlow at import).

An autoencoder's embeddings run at `sample_rate / hop_length` frames per
second; frame `f` describes samples `[f * hop, (f + 1) * hop)`, the last
frame may be partial. The pitch of a frame (`wavenet.pitch`) is measured
over a `YIN_FRAME_LENGTH`-sample window centred on it.
"""

from __future__ import annotations

YIN_FRAME_LENGTH = 2048  # samples of the YIN pitch window (128 ms at 16 kHz)


def num_frames(num_samples: int, hop_length: int) -> int:
  """Frames of `num_samples` samples: `ceil(num_samples / hop_length)`."""
  return -(-int(num_samples) // int(hop_length))
