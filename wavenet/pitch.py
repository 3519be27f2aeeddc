"""Frame-rate pitch features for the autoencoder's optional pitch conditioning.

NSynth (Engel et al. 2017, section 3) optionally conditions the decoder on
pitch as well as on the learned embedding. Its pitch is a label from the
dataset; here it is measured from the audio itself, so any corpus of notes
works and `encode` needs nothing but audio:

- `yin_f0`: the YIN estimator (de Cheveigne & Kawahara 2002) in TensorFlow,
  one estimate per embedding frame: the cumulative mean normalised
  difference over a window centred on the frame, the first dip below a
  threshold (else the deepest dip, if it is below a voicing threshold),
  refined by parabolic interpolation.
- `pitch_bins`: f0 in Hz -> a "two-hot" vector over semitone bins (MIDI
  pitches `min_midi .. min_midi + bins - 1`): the two nearest bins share the
  weight linearly, so the vector sums to 1 and keeps cents; unvoiced frames
  and pitches out of range are all zeros (`two_hot` does the same from MIDI
  pitches).
- `check_training_window`: refuses training windows too short for the YIN
  window, so that training measures pitch as inference does.

The signal functions are pure TensorFlow (graph and XLA friendly). Audio may
be any memoryless transform of the waveform (e.g. mu-law codes scaled to
[-1, 1]): that keeps the period, which is all YIN measures.
"""

from __future__ import annotations

import math
from typing import Callable

import tensorflow as tf

from common import config as config_lib
from wavenet.frames import YIN_FRAME_LENGTH

DEFAULT_THRESHOLD = 0.15      # YIN's absolute threshold on the CMND
DEFAULT_VOICING_THRESHOLD = 0.4   # else the deepest dip, if below this
_NEAR_DEEPEST = 0.1           # a dip this close to the deepest may be the period
# Frames quieter than this (RMS of the [-1, 1] signal YIN reads; for mu-law
# codes 0.001 is about -90 dBFS) are unvoiced: only digital silence, so that
# note releases and decays keep their pitch.
DEFAULT_MIN_RMS = 0.001


def midi_to_hz(midi: float) -> float:
  """MIDI pitch (A4 = 69) -> Hz."""
  return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


def hz_to_midi(hz: tf.Tensor | float) -> tf.Tensor:
  """Hz (> 0) -> fractional MIDI pitch; float32 tensor."""
  hz = tf.convert_to_tensor(hz, tf.float32)
  return 69.0 + 12.0 * tf.math.log(hz / 440.0) / math.log(2.0)


def yin_reach(hop_length: int,
              frame_length: int = YIN_FRAME_LENGTH) -> int:
  """Samples a frame's YIN window reaches before the frame's first sample.

  Frame `f` (samples `[f * hop, (f + 1) * hop)`) is measured over samples
  `[f * hop - reach, f * hop - reach + frame_length)`, `reach =
  frame_length // 2 - hop_length // 2` (negative if the window starts
  inside the frame).
  """
  return int(frame_length) // 2 - int(hop_length) // 2


def min_training_window(hop_length: int,
                        frame_length: int = YIN_FRAME_LENGTH) -> int:
  """The shortest window (samples) holding one frame's whole YIN window.

  Frames start at multiples of `hop_length` in the window, so the first
  frame whose YIN window starts inside it is `f = ceil(reach / hop)`
  (`yin_reach`; 0 if the reach is negative), and that window ends at `f *
  hop - reach + frame_length`. Hop 512 with the 2048-sample window: 2304
  (frame 2 reads samples 256 .. 2303); hop 32: 2064.
  """
  reach = yin_reach(hop_length, frame_length)
  first = max(0, -(-reach // int(hop_length)))
  return first * int(hop_length) - reach + int(frame_length)


def check_training_window(config: dict) -> None:
  """Refuses a pitch-conditioned config whose training windows are too short.

  A pitch-conditioned autoencoder measures each frame's pitch over a
  `YIN_FRAME_LENGTH`-sample YIN window centred on the frame (`yin_f0`).
  At inference it encodes whole notes, so inner frames read only audio; in
  training it encodes each `seq_len`-sample window alone, and where a YIN
  window reaches past the window's ends it reads zeros. Below
  `min_training_window` not one frame of a training window is measured as
  at inference (at seq_len 1,024 and hop 512, half of every YIN window is
  padding), so the decoder would learn from pitch features it never meets.
  For training only: a saved model is never refused for generation.

  Args:
    config: a flat wavenet config (`pitch_bins`, `hop_length`, `seq_len`);
      without pitch conditioning (`pitch_bins` 0 or absent) nothing is
      checked.

  Raises:
    common.config.ConfigError (a ValueError): one line naming `seq_len`,
    the minimum and the flag that fixes it.
  """
  bins = int(config.get("pitch_bins") or 0)
  if not bins:
    return
  seq_len = int(config["seq_len"])
  need = min_training_window(int(config["hop_length"]))
  if seq_len < need:
    raise config_lib.ConfigError(
        f"seq_len={seq_len} is too short for pitch conditioning "
        f"(pitch_bins={bins}): a training window needs {need} samples "
        f"(hop_length={config['hop_length']}) to hold one frame's whole "
        f"{YIN_FRAME_LENGTH}-sample YIN pitch window, else training "
        f"measures pitch on padding; set --seq_len={need} or more")


def _frames(audio: tf.Tensor, hop_length: int,
            frame_length: int) -> tf.Tensor:
  """`[batch, samples]` -> `[batch, ceil(samples / hop), frame_length]`.

  Frame `f` is centred on the middle of samples `[f * hop, (f + 1) * hop)`
  (zeros outside the signal), so it describes the same samples as embedding
  frame `f`.
  """
  samples = tf.shape(audio)[1]
  frames = (samples + hop_length - 1) // hop_length
  left = yin_reach(hop_length, frame_length)
  right = frames * hop_length + frame_length - samples - left
  # A frame longer than the hop reaches `left` samples before the start.
  pad_left = max(left, 0)
  padded = tf.pad(audio, [[0, 0], [pad_left, tf.maximum(right, 0)]])
  framed = tf.signal.frame(padded[:, pad_left - left:], frame_length,
                           hop_length)
  return framed[:, :frames]


def cmnd(frames: tf.Tensor, max_lag: int) -> tf.Tensor:
  """YIN's cumulative mean normalised difference of each frame.

  d(tau) = sum_{j < N} (x_j - x_{j + tau})^2 over `N = frame_length -
  max_lag` samples; cmnd(0) = 1, cmnd(tau) = d(tau) * tau / sum_{1..tau} d.

  Args:
    frames: `[..., frame_length]` float32.
    max_lag: the largest lag in samples (< frame_length).

  Returns:
    `[..., max_lag + 1]`, lags 0 .. max_lag.
  """
  frame_length = frames.shape[-1]
  n = frame_length - max_lag
  if n <= 0:
    raise ValueError(f"a YIN frame of {frame_length} samples cannot hold lags "
                     f"up to {max_lag}")
  size = 1 << (frame_length + n - 1).bit_length()
  head = frames[..., :n]
  cross = tf.signal.irfft(
      tf.math.conj(tf.signal.rfft(head, [size])) *
      tf.signal.rfft(frames, [size]), [size])[..., :max_lag + 1]
  power = tf.concat([tf.zeros_like(frames[..., :1]),
                     tf.cumsum(tf.square(frames), axis=-1)], axis=-1)
  shifted = power[..., n:n + max_lag + 1] - power[..., :max_lag + 1]
  diff = tf.maximum(power[..., n:n + 1] + shifted - 2.0 * cross, 0.0)
  lags = tf.range(max_lag + 1, dtype=frames.dtype)
  running = tf.cumsum(diff, axis=-1)
  normalised = diff * lags / tf.maximum(running, 1e-12)
  return tf.concat([tf.ones_like(diff[..., :1]), normalised[..., 1:]],
                   axis=-1)


def yin_f0(audio: tf.Tensor, sample_rate: float, hop_length: int,
           fmin: float, fmax: float, frame_length: int = YIN_FRAME_LENGTH,
           threshold: float = DEFAULT_THRESHOLD,
           voicing_threshold: float = DEFAULT_VOICING_THRESHOLD,
           min_rms: float = DEFAULT_MIN_RMS) -> tf.Tensor:
  """f0 of each embedding frame by YIN.

  Args:
    audio: `[batch, samples]` float, roughly in [-1, 1].
    sample_rate: Hz.
    hop_length: samples per frame.
    fmin, fmax: the pitch search range in Hz.
    frame_length: samples per analysis window; must exceed
      `sample_rate / fmin`.
    threshold: YIN's absolute threshold: the first dip of the CMND below it
      is the period.
    voicing_threshold: without such a dip, if the CMND's minimum is below
      this, the bottom of the first dip that comes within 0.1 of the
      minimum is the period; otherwise the frame is unvoiced.
    min_rms: frames whose RMS (after removing the mean) is below this are
      unvoiced.

  Returns:
    f0 in Hz `[batch, ceil(samples / hop_length)]`, 0 where unvoiced.
  """
  audio = tf.convert_to_tensor(audio, tf.float32)
  max_lag = int(math.ceil(sample_rate / fmin)) + 1
  min_lag = max(int(math.floor(sample_rate / fmax)), 2)
  frames = _frames(audio, hop_length, frame_length)
  frames -= tf.reduce_mean(frames, axis=-1, keepdims=True)
  rms = tf.sqrt(tf.reduce_mean(tf.square(frames), axis=-1))
  curve = cmnd(frames, max_lag)
  window = curve[..., min_lag:max_lag]            # lags min_lag .. max_lag-1
  following = curve[..., min_lag + 1:max_lag + 1]
  dips = (window < threshold) & (window <= following)
  has_dip = tf.reduce_any(dips, axis=-1)
  first = tf.argmax(tf.cast(dips, tf.int32), axis=-1, output_type=tf.int32)
  # Without such a dip: the bottom of the first dip that comes close to the
  # deepest (multiples of the period dip about as deep, and the CMND
  # favours long lags a little); its bottom is the minimum over the next
  # quarter of the lag (about four semitones).
  lowest = tf.reduce_min(window, axis=-1, keepdims=True)
  start = tf.argmax(tf.cast(window <= lowest + _NEAR_DEEPEST, tf.int32),
                    axis=-1, output_type=tf.int32)[..., None]
  index = tf.range(tf.shape(window)[-1], dtype=tf.int32)
  basin = (index >= start) & (index <= start + (start + min_lag) // 4)
  fallback = tf.argmin(tf.where(basin, window, 2.0 + window), axis=-1,
                       output_type=tf.int32)
  voiced = (has_dip | (lowest[..., 0] < voicing_threshold)) & (rms >= min_rms)
  lag = tf.where(has_dip, first, fallback) + min_lag
  # Parabolic interpolation of the dip between its neighbours.
  prev = tf.gather(curve, lag - 1, batch_dims=2)
  here = tf.gather(curve, lag, batch_dims=2)
  nxt = tf.gather(curve, lag + 1, batch_dims=2)
  bend = prev - 2.0 * here + nxt
  shift = tf.where(bend > 1e-9, 0.5 * (prev - nxt) / tf.maximum(bend, 1e-9),
                   0.0)
  period = tf.cast(lag, tf.float32) + tf.clip_by_value(shift, -1.0, 1.0)
  return tf.where(voiced, sample_rate / period, 0.0)


def two_hot(midi: tf.Tensor, bins: int, min_midi: float) -> tf.Tensor:
  """MIDI pitches `[...]` (fractional) -> two-hots over semitones `[..., bins]`.

  Bin `i` is MIDI pitch `min_midi + i`; a pitch between two bins splits its
  weight linearly (60.25 -> 0.75 on bin 60, 0.25 on bin 61), so the vector
  sums to 1 and keeps cents. Zeros outside the bins.
  """
  position = tf.convert_to_tensor(midi, tf.float32) - float(min_midi)
  low = tf.floor(position)
  upper = position - low
  inside = (position >= 0.0) & (position <= bins - 1.0)
  # tf.one_hot gives zeros for an index of -1 or `bins`.
  index = tf.where(inside, tf.cast(low, tf.int32), -1)
  return (tf.one_hot(index, bins) * (1.0 - upper)[..., None] +
          tf.one_hot(tf.where(inside, index + 1, -1), bins) *
          upper[..., None])


def pitch_bins(f0: tf.Tensor, bins: int, min_midi: float) -> tf.Tensor:
  """f0 in Hz `[...]` -> a two-hot over `bins` semitone bins `[..., bins]`.

  `two_hot` of the f0's MIDI pitch; zeros where `f0 <= 0` (unvoiced) or
  outside the bins.
  """
  f0 = tf.convert_to_tensor(f0, tf.float32)
  voiced = f0 > 0.0
  midi = tf.where(voiced, hz_to_midi(tf.where(voiced, f0, 1.0)),
                  float(min_midi) - 1.0)  # below the bins: zeros
  return two_hot(midi, bins, min_midi)


def periods(two_hots: tf.Tensor, sample_rate: float,
            min_midi: float) -> tf.Tensor:
  """Pitch two-hots `[..., bins]` -> pitch periods in samples `[...]`.

  The pitch is the weighted mean bin (so a two-hot gives back its cents, and
  a mix of two pitches lies between them), kept within the bins (edited
  embeddings may hold anything); 0 where the weights sum to less than 0.5
  (unvoiced). So a period is at most that of the lowest bin.
  """
  two_hots = tf.convert_to_tensor(two_hots, tf.float32)
  index = tf.cast(tf.range(tf.shape(two_hots)[-1]), tf.float32)
  weight = tf.reduce_sum(two_hots, axis=-1)
  mean = tf.reduce_sum(two_hots * index, axis=-1) / tf.maximum(weight, 1e-6)
  midi = float(min_midi) + tf.clip_by_value(mean, 0.0, index[-1])
  hz = 440.0 * tf.pow(2.0, (midi - 69.0) / 12.0)
  return tf.where(weight >= 0.5, sample_rate / hz, 0.0)


def one_period_ago(unit: tf.Tensor, period: tf.Tensor) -> tf.Tensor:
  """The signal one pitch period before each sample, for teacher forcing.

  `y[t] = x[t - period[t]]`, linearly interpolated between the two nearest
  samples (periods are fractional); 0 where `period` is 0 or reaches before
  the start. Periods of at least 1 sample keep it causal.

  Args:
    unit: `[batch, samples]` float.
    period: `[batch, samples]` float, in samples.

  Returns:
    `[batch, samples]`.
  """
  unit = tf.convert_to_tensor(unit, tf.float32)
  time = tf.cast(tf.range(tf.shape(unit)[1]), tf.float32)[None]
  last = tf.shape(unit)[1] - 1

  def at(index: tf.Tensor) -> tf.Tensor:
    # (index t + 1 only ever gets weight 0)
    value = tf.gather(unit, tf.clip_by_value(index, 0, last), batch_dims=1)
    return tf.where(index >= 0, value, 0.0)

  return period_back(at, time, period)


def period_back(at: Callable[[tf.Tensor], tf.Tensor], time: tf.Tensor,
                period: tf.Tensor) -> tf.Tensor:
  """`x[time - period]`, linearly interpolated; 0 where `period` is 0.

  `at(index)` gives the samples at int32 sample indices (0 before the
  start); teacher forcing and the cached generator's history share this.
  """
  where = time - period
  low = tf.floor(where)
  part = where - low
  low = tf.cast(low, tf.int32)
  value = (1.0 - part) * at(low) + part * at(low + 1)
  return tf.where(period > 0.0, value, 0.0)


def pitch_features(audio: tf.Tensor, sample_rate: float, hop_length: int,
                   bins: int, min_midi: float,
                   frame_length: int = YIN_FRAME_LENGTH) -> tf.Tensor:
  """Audio `[batch, samples]` -> pitch two-hots `[batch, frames, bins]`.

  YIN searches half a semitone beyond the bins on either side.
  """
  f0 = yin_f0(audio, sample_rate, hop_length,
              fmin=midi_to_hz(min_midi - 0.5),
              fmax=midi_to_hz(min_midi + bins - 0.5),
              frame_length=frame_length)
  return pitch_bins(f0, bins, min_midi)
