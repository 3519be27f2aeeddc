"""Building blocks of the NSynth WaveNet autoencoder (Engel et al. 2017).

Every tensor here is `[batch, time, channels]`; time is in samples unless it
says frames. The layers mirror magenta's `nsynth/wavenet/masked.py` and
`h512_bo16.py`: dilated 1-D convolutions (causal for the decoder, centred for
the encoder), gated residual blocks with a conditioning projection added
before the gate, and 1x1 convolutions.

Conditioning runs at the frame rate (`sample_rate / hop_length` Hz): a
projection is computed per frame and repeated `hop_length` times (nearest
neighbour upsampling, as NSynth does). Projecting before repeating is
identical to repeating before projecting, and `hop_length` times cheaper.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf


def kernel_initializer() -> keras.initializers.Initializer:
  """NSynth's `uniform_unit_scaling_initializer(1.0)`: U(+-sqrt(3 / fan_in))."""
  return keras.initializers.VarianceScaling(
      scale=1.0, mode="fan_in", distribution="uniform")


def shift_right(x: tf.Tensor) -> tf.Tensor:
  """Delays a sequence by one sample: `y[:, t] = x[:, t - 1]`, `y[:, 0] = 0`.

  Args:
    x: `[batch, time, channels]`.

  Returns:
    `[batch, time, channels]`.
  """
  return tf.pad(x, [[0, 0], [1, 0], [0, 0]])[:, :-1]


def frame_average(x: tf.Tensor, hop_length: int) -> tf.Tensor:
  """Averages consecutive, non-overlapping frames of `hop_length` samples.

  Frame `f` is the mean of samples `[f * hop, (f + 1) * hop)`. If `time` is
  not a multiple of `hop_length` the last frame is the mean of the samples
  it has (the end is padded, the padding is not counted).

  Args:
    x: `[batch, time, channels]`, time in samples.
    hop_length: samples per frame.

  Returns:
    `[batch, ceil(time / hop_length), channels]`.
  """
  time = tf.shape(x)[1]
  frames = (time + hop_length - 1) // hop_length
  padding = frames * hop_length - time
  padded = tf.pad(x, [[0, 0], [0, padding], [0, 0]])
  sums = tf.reduce_sum(
      tf.reshape(padded, [tf.shape(x)[0], frames, hop_length, x.shape[-1]]),
      axis=2)
  counts = tf.minimum(time - tf.range(frames) * hop_length, hop_length)
  return sums / tf.cast(counts, x.dtype)[None, :, None]


def upsample_frames(frames: tf.Tensor, hop_length: int,
                    num_samples: int | tf.Tensor,
                    first_sample: tf.Tensor | None = None) -> tf.Tensor:
  """Repeats each frame `hop_length` times and keeps `num_samples` samples.

  Sample `t` gets frame `t // hop_length` (nearest neighbour, as NSynth).

  Args:
    frames: `[batch, num_frames, channels]` with
      `num_frames * hop_length >= first_sample + num_samples`.
    hop_length: samples per frame.
    num_samples: length of the output, in samples.
    first_sample: optional int `[batch]`: row `b` of the output starts at
      sample `first_sample[b]` of the frames' timeline (a window cut from a
      longer sequence whose frames describe the whole sequence); 0 if None.

  Returns:
    `[batch, num_samples, channels]`.
  """
  if first_sample is None:
    return tf.repeat(frames, hop_length, axis=1)[:, :num_samples]
  samples = (tf.cast(first_sample, tf.int32)[:, None] +
             tf.range(num_samples, dtype=tf.int32)[None])
  return tf.gather(frames, samples // hop_length, batch_dims=1)


class Conv1D(keras.layers.Layer):
  """A 1-D convolution that keeps the length: causal or centred, dilated.

  Causal: `y[t] = b + sum_j kernel[j] . x[t - (k - 1 - j) * dilation]`, so
  `kernel[k - 1]` sees the current sample; zeros before the start.
  Centred ('same'): the taps are centred on `t` (`(k - 1) * dilation` samples
  of zero padding, split evenly; the extra one goes to the end).

  Input `[batch, time, in_channels]`, output `[batch, time, filters]`.
  Weights: `kernel` `[filter_length, in_channels, filters]`, `bias`
  `[filters]`.
  """

  def __init__(self, filters: int, filter_length: int = 1, dilation: int = 1,
               causal: bool = True, **kwargs: Any) -> None:
    super().__init__(**kwargs)
    self.filters = int(filters)
    self.filter_length = int(filter_length)
    self.dilation = int(dilation)
    self.causal = bool(causal)

  def build(self, input_shape: tuple[int | None, ...]) -> None:
    in_channels = input_shape[-1]
    if in_channels is None:
      raise ValueError(f"{self.name}: the input's channels must be known")
    self.kernel = self.add_weight(
        name="kernel",
        shape=(self.filter_length, int(in_channels), self.filters),
        initializer=kernel_initializer())
    self.bias = self.add_weight(name="bias", shape=(self.filters,),
                                initializer="zeros")

  @property
  def padding(self) -> tuple[int, int]:
    """(before, after) zero padding in samples."""
    total = (self.filter_length - 1) * self.dilation
    if self.causal:
      return total, 0
    return total // 2, total - total // 2

  def call(self, x: tf.Tensor) -> tf.Tensor:
    kernel = tf.convert_to_tensor(self.kernel)
    if self.filter_length == 1:
      return tf.einsum("btc,cf->btf", x, kernel[0]) + self.bias
    before, after = self.padding
    padded = tf.pad(x, [[0, 0], [before, after], [0, 0]])
    y = tf.nn.convolution(padded, kernel, padding="VALID",
                          dilations=self.dilation)
    return y + self.bias


class EncoderBlock(keras.layers.Layer):
  """A non-causal residual layer of the NSynth encoder.

  `x + conv1x1(relu(dilated_conv(relu(x))))`, width kept.
  Input and output `[batch, time, width]`.
  """

  def __init__(self, width: int, filter_length: int, dilation: int,
               **kwargs: Any) -> None:
    super().__init__(**kwargs)
    self.dilated_conv = Conv1D(width, filter_length, dilation, causal=False,
                               name="dilated_conv")
    self.res = Conv1D(width, 1, name="res")

  def call(self, x: tf.Tensor) -> tf.Tensor:
    h = self.res(tf.nn.relu(self.dilated_conv(tf.nn.relu(x))))
    return x + h


def gate(pre_activation: tf.Tensor) -> tf.Tensor:
  """NSynth's gated unit: `sigmoid(first half) * tanh(second half)`.

  `[..., 2 * width]` -> `[..., width]`.
  """
  width = pre_activation.shape[-1] // 2
  return (tf.sigmoid(pre_activation[..., :width]) *
          tf.tanh(pre_activation[..., width:]))


class GatedResidualBlock(keras.layers.Layer):
  """A causal WaveNet decoder layer with optional frame-rate conditioning.

    d = dilated_causal_conv(x) + upsample(cond_proj(embeddings))   # 2 * width
    z = sigmoid(d[:width]) * tanh(d[width:])
    returns x + res(z), skip(z)

  The decoder's last block has no `res` (`residual=False`; NSynth computes
  one that nothing uses) and returns `x` unchanged.

  Inputs: `x` `[batch, time, width]`; `embeddings` `[batch, frames,
  bottleneck]` at `sample_rate / hop_length` Hz (or None when unconditioned);
  `first_sample` (optional int `[batch]`): where `x` starts in the frames'
  timeline (see `upsample_frames`).
  Outputs: residual `[batch, time, width]` and skip `[batch, time, skip_width]`.
  """

  def __init__(self, width: int, skip_width: int, filter_length: int,
               dilation: int, conditioned: bool, hop_length: int | None = None,
               residual: bool = True, **kwargs: Any) -> None:
    super().__init__(**kwargs)
    self.width = int(width)
    self.hop_length = hop_length
    self.conditioned = bool(conditioned)
    self.dilated_conv = Conv1D(2 * width, filter_length, dilation,
                               causal=True, name="dilated_conv")
    self.cond_proj = (Conv1D(2 * width, 1, name="cond_proj")
                      if conditioned else None)
    self.res = Conv1D(width, 1, name="res") if residual else None
    self.skip = Conv1D(skip_width, 1, name="skip")

  @property
  def dilation(self) -> int:
    return self.dilated_conv.dilation

  def call(self, x: tf.Tensor, embeddings: tf.Tensor | None = None,
           first_sample: tf.Tensor | None = None
           ) -> tuple[tf.Tensor, tf.Tensor]:
    d = self.dilated_conv(x)
    if self.conditioned:
      # `cond_proj` exists when conditioned; conditioning needs `hop_length`.
      assert self.cond_proj is not None and self.hop_length is not None
      d += upsample_frames(self.cond_proj(embeddings), self.hop_length,
                           tf.shape(x)[1], first_sample)
    z = gate(d)
    if self.res is None:
      return x, self.skip(z)
    return x + self.res(z), self.skip(z)
