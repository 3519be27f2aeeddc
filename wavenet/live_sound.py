"""What the live instrument decodes: the corners' embeddings, the pad's mix,
the key's pitch and the latent controls (NumPy, no model).

A voice's frame is made, frame by frame, from the four corners' notes
nearest its key (`Corners.embeddings [4, pitches, frames, d]`):

    z = mix(corner frames, bilinear weights of the pad (x, y), moved
            toward an oscillation between two corners by `osc_depth`)
    z = set_pitch(z, key)        # voiced frames only (its two-hot cached)
    z = caricature(z, mean, F_c); z = scale(z, F_s); z = z + std N(0, sigma)

all through `wavenet.latent_ops` (the timbre only: the pitch two-hot is
never scaled, noised or blended).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import numpy as np

from wavenet import latent_ops


class ControlError(ValueError):
  """A control message that is malformed or out of range (one line)."""


# Each latent control: (default, low, high). Defaults change nothing.
CONTROL_RANGES = {
    "scale": (1.0, 0.0, 2.0),
    "caricature": (1.0, 0.0, 3.0),
    "noise": (0.0, 0.0, 2.0),
    "osc_hz": (1.0, 0.0, 10.0),
    "osc_depth": (0.0, 0.0, 1.0),
}
CORNERS = 4


@dataclasses.dataclass(frozen=True)
class Controls:
  """The page's latent controls.

  Attributes:
    scale: factor on the timbre (1: unchanged).
    caricature: factor away from the mean embedding (1: unchanged).
    noise: sigma of the added noise, in standard deviations (0: none).
    osc_hz: the oscillation's frequency (Hz).
    osc_depth: how far the mix moves from the pad's weights toward the
      oscillation between corners `osc_a` and `osc_b` (0: not at all).
    osc_a, osc_b: the two corners (0..3: top-left, top-right, bottom-left,
      bottom-right), different.
  """
  scale: float = 1.0
  caricature: float = 1.0
  noise: float = 0.0
  osc_hz: float = 1.0
  osc_depth: float = 0.0
  osc_a: int = 0
  osc_b: int = 3

  def changed(self, values: dict[str, Any]) -> Controls:
    """A copy with `values` (names of this class) checked and set.

    Raises:
      ControlError: an unknown name, a value not a finite number in its
        range, or two equal oscillation corners.
    """
    new: dict[str, Any] = {}
    for name, value in values.items():
      if name in CONTROL_RANGES:
        _, low, high = CONTROL_RANGES[name]
        new[name] = check_number(name, value, low, high)
      elif name in ("osc_a", "osc_b"):
        new[name] = int(check_number(name, value, 0, CORNERS - 1,
                                     integer=True))
      else:
        raise ControlError(f"controls: unknown control {shown(name)}")
    result = dataclasses.replace(self, **new)
    if result.osc_a == result.osc_b:
      raise ControlError("controls: osc_a and osc_b must be two different "
                         "corners")
    return result


def shown(value: Any) -> str:
  """A value for an error message: its repr, at most 40 characters."""
  text = repr(value)
  return text if len(text) <= 40 else text[:37] + "..."


def check_number(name: str, value: Any, low: float, high: float,
                 integer: bool = False) -> float:
  """`value` as a float in `[low, high]` (a whole number if `integer`).

  Raises:
    ControlError: not a finite JSON number (booleans are not), out of
      range, or not whole.
  """
  if isinstance(value, bool) or not isinstance(value, (int, float)):
    raise ControlError(f"{name}: {shown(value)} is not a number")
  number = float(value) if abs(value) < 1e300 else math.inf
  if not (math.isfinite(number) and low <= number <= high):
    raise ControlError(f"{name}: {shown(value)} is not in {low:g}..{high:g}")
  if integer and not number.is_integer():
    raise ControlError(f"{name}: {shown(value)} is not a whole number")
  return number


@dataclasses.dataclass(frozen=True)
class Corners:
  """The four corner sounds, encoded.

  Attributes:
    names: the corners' display names (top-left, top-right, bottom-left,
      bottom-right).
    pitches: the MIDI pitches their notes were taken at, sorted.
    embeddings: float32 `[4, pitches, frames, d]`.
    held_frames: frames before the notes' note-off.
    mean, std: float32 `[d]`: the mean and standard deviation of the
      embeddings (from the corners' frames, or `--stats`).
    pitch_bins, min_midi: the model's pitch conditioning.
    frame_rate: frames per second.
  """
  names: tuple[str, ...]
  pitches: tuple[int, ...]
  embeddings: np.ndarray
  held_frames: int
  mean: np.ndarray
  std: np.ndarray
  pitch_bins: int
  min_midi: int
  frame_rate: float

  @property
  def frames(self) -> int:
    return int(self.embeddings.shape[2])

  @property
  def pitch_range(self) -> tuple[int, int]:
    """The lowest and highest MIDI key the model's pitch bins hold."""
    return self.min_midi, self.min_midi + self.pitch_bins - 1

  def nearest(self, pitch: int) -> int:
    """The index of the encoded pitch nearest `pitch` (the lower of two)."""
    return int(np.argmin(np.abs(np.asarray(self.pitches) - pitch)))


def oscillation_at(frames: np.ndarray, hz: float,
                   frame_rate: float) -> np.ndarray:
  """`a(t) = (1 - cos(2 pi hz t)) / 2` at absolute frames `[n]`, `t =
  frame / frame_rate` s (`latent_ops.oscillation_weights` from any frame,
  not only 0)."""
  t = np.asarray(frames, np.float64) / float(frame_rate)
  return (1 - np.cos(2 * np.pi * float(hz) * t)) / 2


def corner_weights(x: float, y: float, controls: Controls,
                   frames: np.ndarray, frame_rate: float) -> np.ndarray:
  """The corners' weights `[4, n]` at absolute stream frames `[n]`: the
  pad's bilinear weights moved by `osc_depth` toward `(1 - a(t)) corner A
  + a(t) corner B`. They sum to 1."""
  pad = latent_ops.bilinear_weights(x, y)[:, None]
  a = oscillation_at(frames, controls.osc_hz, frame_rate)
  between = np.zeros([CORNERS, len(a)])
  between[controls.osc_a] += 1 - a
  between[controls.osc_b] += a
  depth = controls.osc_depth
  return (1 - depth) * pad + depth * between


@functools.lru_cache(maxsize=512)
def pitch_two_hot(pitch: int, bins: int, min_midi: int) -> np.ndarray:
  """The pitch part `[bins]` that `latent_ops.set_pitch` gives a voiced
  frame at MIDI `pitch` (made once per key: it runs a TensorFlow op)."""
  voiced = np.zeros([1, bins], np.float32)
  voiced[0, 0] = 1.0
  return latent_ops.set_pitch(voiced, pitch, bins, min_midi)[0]


def voice_frames(corners: Corners, pitch: int, index: np.ndarray,
                 weights: np.ndarray, controls: Controls,
                 noise_seed: int) -> np.ndarray:
  """One voice's embedding frames float32 `[n, d]` (the module doc).

  Args:
    pitch: the key (MIDI, within `corners.pitch_range`).
    index: `[n]` frames of the corner notes.
    weights: `[4, n]` corner weights (`corner_weights`).
    noise_seed: the noise's draws depend only on it.
  """
  bins = corners.pitch_bins
  zs = corners.embeddings[:, corners.nearest(pitch)][:, index]  # [4, n, d]
  z = latent_ops.mix(zs, weights, bins)
  timbre, voicing = latent_ops.split_embedding(z, bins)
  voiced = np.any(voicing != 0, axis=-1, keepdims=True)
  z = latent_ops.join_embedding(timbre, np.where(
      voiced, pitch_two_hot(pitch, bins, corners.min_midi), 0.0))
  if controls.caricature != 1.0:
    z = latent_ops.caricature(z, corners.mean, controls.caricature, bins)
  if controls.scale != 1.0:
    z = latent_ops.scale(z, controls.scale, bins)
  if controls.noise > 0.0:
    z = latent_ops.add_noise(z, corners.mean, corners.std, controls.noise,
                             noise_seed, bins)
  return z.astype(np.float32)
