"""The NSynth WaveNet autoencoder and the unconditional WaveNet.

`build_model(config)` returns a `WaveNet` implementing `common.model_api`:
`context_length = 0` (the decoder pads causally), `initial_state(batch) ->
()`, and `call(codes, state=(), training=False, seed=None) -> (logits, ())`
(`seed`: the trainer's per-step key of the input jitter's stateless draws).

Design (after magenta/models/nsynth/wavenet/h512_bo16.py):

- Input scaling: both encoder and decoder see the quantized codes (mu-law by
  default) mapped evenly to [-1, 1] by `common.quantization.codes_to_unit`;
  NSynth likewise feeds the mu-law-encoded signal to both. So `encode` takes
  codes, not audio: quantize audio with the config's quantization first.
- Encoder (`conditioning: "encoder"`), non-causal: start conv, `ae_num_layers`
  residual layers `x + 1x1(relu(dilated_conv(relu(x))))` with dilation
  `2 ** (i % ae_num_stages)`, a 1x1 bottleneck to `bottleneck_width`, then
  the mean over non-overlapping frames of `hop_length` samples. A window of
  `T` samples gives `ceil(T / hop_length)` frames (the end is padded; a
  partial last frame averages only its own samples), so sample `t` is
  described by frame `t // hop_length`.
- Decoder, causal: the codes shifted right one sample, a causal start conv to
  `width`, `num_layers` gated residual layers (dilation
  `2 ** (i % num_stages)`; the last has no unused residual 1x1) whose skip
  outputs are summed, then
  relu -> 1x1 -> + cond -> relu -> 1x1 to `q_levels` logits. Each layer and
  the output stack add a 1x1 projection of the embeddings, repeated over the
  `hop_length` samples of each frame.
- During training (`call`) the autoencoder encodes the very window it
  decodes, as NSynth trains.
- Pitch conditioning (optional, `pitch_bins > 0`; NSynth's paper optionally
  conditions on pitch): `encode` appends to each frame's learned
  `bottleneck_width` values the frame's pitch as a two-hot over `pitch_bins`
  semitone bins from MIDI `pitch_min_midi` (`wavenet.pitch`: YIN measured on
  the input itself, zeros when unvoiced). The decoder sees the whole
  `embedding_width = bottleneck_width + pitch_bins` vector like any
  embedding, so every tool that edits embeddings can also set the pitch.
  With `pitch_period_input` the decoder also reads, as a second input
  channel, its signal one pitch period before each sample (the period from
  the embedding's pitch; `wavenet.pitch.one_period_ago`), as the pitch
  predictor of a speech codec does: a note sustains its period by copying
  its own last cycle, so the pitch it plays is the one the embedding says.

Presets (wavenet/configs/):

- `nsynth`: the paper's h512_bo16 (30 + 30 layers in stages of 10, width
  512, skip 256, encoder width 128, hop 512, bottleneck 16, 6144-sample
  windows, NSynth's piecewise learning rate from 2e-4). NSynth trained with
  a total batch of 32 over 32 GPUs; batch 8 here fits one large GPU.
- `small` / `small_unconditional`: for a 2-core CPU: 20 layers (2 stages),
  width 64, skip 64, encoder 10 layers of width 64, hop 512, bottleneck 16,
  4096-sample windows (= the decoder's receptive field), batch 8.
- `tiny` / `tiny_unconditional`: for tests (2 x 3 layers, width 16, hop 32).
- Unconditional presets keep the encoder keys; they are ignored.
"""

from __future__ import annotations

from typing import Any, Sequence

import keras
import tensorflow as tf

from common import quantization
from common import config as config_lib
from wavenet import frames as frames_lib
from wavenet import layers
from wavenet import pitch



def dilations(num_layers: int, num_stages: int) -> list[int]:
  """Dilation of each layer: `2 ** (i % num_stages)` (stages of doubling)."""
  return [2 ** (i % num_stages) for i in range(num_layers)]


def _name_each(layer: keras.layers.Layer,
               sublayers: Sequence[keras.layers.Layer], prefix: str) -> None:
  """Also holds each of a list of sublayers as a named attribute.

  Keras 3 tracks layers in lists for `.variables`, but tf.train.Checkpoint
  only follows attributes: without this, checkpoints would miss them.
  """
  for i, sublayer in enumerate(sublayers):
    setattr(layer, f"{prefix}_{i + 1}", sublayer)


class Encoder(keras.layers.Layer):
  """Non-causal temporal encoder: unit-scaled codes -> frame embeddings.

  Input `[batch, samples, 1]` in [-1, 1]; output `[batch, ceil(samples /
  hop_length), bottleneck_width]` at `sample_rate / hop_length` Hz.
  """

  def __init__(self, num_layers: int, num_stages: int, filter_length: int,
               width: int, bottleneck_width: int, hop_length: int,
               **kwargs: Any) -> None:
    super().__init__(**kwargs)
    self.hop_length = int(hop_length)
    self.start_conv = layers.Conv1D(width, filter_length, causal=False,
                                    name="ae_start_conv")
    self.blocks = [
        layers.EncoderBlock(width, filter_length, dilation,
                            name=f"ae_block_{i + 1}")
        for i, dilation in enumerate(dilations(num_layers, num_stages))]
    self.bottleneck = layers.Conv1D(bottleneck_width, 1, name="ae_bottleneck")
    _name_each(self, self.blocks, "ae_block")

  def call(self, x: tf.Tensor) -> tf.Tensor:
    h = self.start_conv(x)
    for block in self.blocks:
      h = block(h)
    return layers.frame_average(self.bottleneck(h), self.hop_length)


class Decoder(keras.layers.Layer):
  """Causal WaveNet decoder: unit-scaled codes (+ embeddings) -> logits.

  Inputs: `x` `[batch, samples, 1]` in [-1, 1] (not yet shifted: the logits at
  `t` see `x[:, :t]` only); `embeddings` `[batch, frames, bottleneck]` with
  `frames * hop_length >= first_sample + samples`, or None if unconditioned;
  `first_sample` (optional int `[batch]`): where `x` starts in the
  embeddings' timeline (`layers.upsample_frames`).
  Output: logits `[batch, samples, q_levels]`.
  """

  def __init__(self, num_layers: int, num_stages: int, filter_length: int,
               width: int, skip_width: int, q_levels: int, conditioned: bool,
               hop_length: int | None = None, **kwargs: Any) -> None:
    super().__init__(**kwargs)
    self.conditioned = bool(conditioned)
    self.hop_length = hop_length
    self.start_conv = layers.Conv1D(width, filter_length, causal=True,
                                    name="start_conv")
    self.skip_start = layers.Conv1D(skip_width, 1, name="skip_start")
    self.blocks = [
        layers.GatedResidualBlock(width, skip_width, filter_length, dilation,
                                  conditioned, hop_length,
                                  residual=i < num_layers - 1,
                                  name=f"block_{i + 1}")
        for i, dilation in enumerate(dilations(num_layers, num_stages))]
    self.out1 = layers.Conv1D(skip_width, 1, name="out1")
    self.cond_out = (layers.Conv1D(skip_width, 1, name="cond_out")
                     if conditioned else None)
    self.logits = layers.Conv1D(q_levels, 1, name="logits")
    _name_each(self, self.blocks, "block")

  def call(self, x: tf.Tensor, embeddings: tf.Tensor | None = None,
           period_ago: tf.Tensor | None = None,
           first_sample: tf.Tensor | None = None) -> tf.Tensor:
    """`period_ago` (optional) `[batch, samples, 1]`: the input one pitch
    period before each target sample, a second input channel."""
    h = layers.shift_right(x)
    if period_ago is not None:
      h = tf.concat([h, period_ago], axis=-1)
    h = self.start_conv(h)
    skip = self.skip_start(h)
    for block in self.blocks:
      h, s = block(h, embeddings, first_sample)
      skip += s
    out = self.out1(tf.nn.relu(skip))
    if self.conditioned:
      # `cond_out` exists when conditioned; conditioning needs `hop_length`.
      assert self.cond_out is not None and self.hop_length is not None
      out += layers.upsample_frames(self.cond_out(embeddings),
                                    self.hop_length, tf.shape(x)[1],
                                    first_sample)
    return self.logits(tf.nn.relu(out))


class WaveNet(keras.Model):
  """WaveNet autoencoder (`conditioning="encoder"`) or plain WaveNet ("none").

  Implements `common.model_api`. Codes are int32 `[batch, samples]` in
  `[0, q_levels)`.
  """

  context_length = 0

  def __init__(self, config: dict, **kwargs: Any) -> None:
    super().__init__(**kwargs)
    # `config` is validated by the schema (`wavenet/config_schema.py`).
    self.conditioned = config["conditioning"] == "encoder"
    self.q_levels = int(config["q_levels"])
    self.hop_length = int(config["hop_length"]) if self.conditioned else None
    self.bottleneck_width = (int(config["bottleneck_width"])
                             if self.conditioned else None)
    self.filter_length = int(config["filter_length"])
    self.pitch_bins = int(config["pitch_bins"])
    self.pitch_min_midi = int(config["pitch_min_midi"])
    self.sample_rate = config["sample_rate"]
    if self.pitch_bins and not self.sample_rate:
      raise ValueError("pitch conditioning needs the config's sample_rate")
    self.embedding_width = ((self.bottleneck_width + self.pitch_bins)
                            if self.bottleneck_width is not None else None)
    self.input_jitter = int(config["input_jitter"])
    self.pitch_period_input = bool(config["pitch_period_input"])
    self.encoder: Encoder | None = None
    if self.conditioned:
      self.encoder = Encoder(
          config["ae_num_layers"], config["ae_num_stages"],
          config["ae_filter_length"], config["ae_width"],
          config["bottleneck_width"], config["hop_length"], name="encoder")
    self.decoder = Decoder(
        config["num_layers"], config["num_stages"], config["filter_length"],
        config["width"], config["skip_width"], self.q_levels,
        self.conditioned, self.hop_length, name="decoder")

  @property
  def receptive_field(self) -> int:
    """R, the past samples that can affect the logits at `t` (`t-R .. t-1`)."""
    taps = self.filter_length - 1
    return 1 + taps + sum(taps * b.dilation for b in self.decoder.blocks)

  def initial_state(self, batch_size: int) -> tuple:
    del batch_size
    return ()

  def _unit(self, codes: tf.Tensor) -> tf.Tensor:
    """int32 `[batch, samples]` -> float32 `[batch, samples, 1]` in [-1, 1]."""
    return quantization.codes_to_unit(codes, self.q_levels)[..., None]

  def encode(self, codes: tf.Tensor) -> tf.Tensor:
    """Codes `[batch, samples]` -> embeddings `[batch, frames, width]`.

    `frames = ceil(samples / hop_length)`, at `sample_rate / hop_length` Hz;
    frame `f` describes samples `[f * hop, (f + 1) * hop)`. `width` is
    `embedding_width`: the learned `bottleneck_width` values, then (with
    pitch conditioning) the frame's `pitch_bins` pitch two-hot.
    """
    # Both are None exactly when the WaveNet is unconditioned.
    if self.encoder is None or self.hop_length is None:
      raise ValueError("an unconditional WaveNet has no encoder")
    unit = self._unit(tf.convert_to_tensor(codes, tf.int32))
    learned = self.encoder(unit)
    if not self.pitch_bins:
      return learned
    pitches = pitch.pitch_features(unit[..., 0], self.sample_rate,
                                   self.hop_length, self.pitch_bins,
                                   self.pitch_min_midi)
    return tf.concat([learned, pitches], axis=-1)

  def decode_logits(self, codes: tf.Tensor,
                    embeddings: tf.Tensor | None = None,
                    first_sample: tf.Tensor | None = None) -> tf.Tensor:
    """Teacher-forced decoding: logits `[batch, samples, q_levels]`.

    `logits[:, t]` predicts `codes[:, t]` from `codes[:, :t]` and the
    embeddings (`[batch, frames, embedding_width]`; None for an
    unconditional model). `first_sample` (optional int `[batch]`, default
    0) says where each row of `codes` starts in the embeddings' timeline:
    a window cut from a longer sequence is decoded with the embeddings of
    the whole sequence (`frames * hop_length >= first_sample + samples`).
    """
    if self.conditioned and embeddings is None:
      raise ValueError("this autoencoder needs embeddings to decode")
    codes = tf.convert_to_tensor(codes, tf.int32)
    hop_length = self.hop_length  # None exactly when unconditioned
    if hop_length is None:
      embeddings = first_sample = None
    else:
      embeddings = tf.convert_to_tensor(embeddings, tf.float32)
      frames, samples = embeddings.shape[1], codes.shape[1]
      if (first_sample is None and frames is not None and
          samples is not None and frames * hop_length < samples):
        need = frames_lib.num_frames(samples, hop_length)
        raise ValueError(f"{samples} samples need {need} frames of "
                         f"embeddings, got {frames}")
    unit = self._unit(codes)
    period_ago = None
    if self.pitch_period_input:
      # The schema allows `pitch_period_input` only with an encoder.
      assert hop_length is not None and embeddings is not None
      period = layers.upsample_frames(self.periods(embeddings), hop_length,
                                      tf.shape(codes)[1], first_sample)
      period_ago = pitch.one_period_ago(unit[..., 0], period)[..., None]
    return self.decoder(unit, embeddings, period_ago, first_sample)

  def periods(self, embeddings: tf.Tensor) -> tf.Tensor:
    """Pitch periods in samples `[batch, frames]` (0 = unvoiced) of
    pitch-conditioned embeddings `[batch, frames, embedding_width]`."""
    return pitch.periods(embeddings[..., self.bottleneck_width:],
                         float(self.sample_rate), self.pitch_min_midi)

  def call(self, codes: tf.Tensor, state: tuple = (), training: bool = False,
           seed: tf.Tensor | None = None) -> tuple[tf.Tensor, tuple]:
    """Teacher-forced logits `[batch, samples, q_levels]` and state `()`.

    The autoencoder encodes the same window it decodes. In training with
    `input_jitter = k > 0`, the decoder reads every code moved by a uniform
    random offset in `[-k, k]` (the encoder and the targets stay clean), so
    it learns to continue a past that holds errors like its own samples.
    The offsets are drawn from `seed` (int64 `[2]`, see `jitter_codes`); the
    trainer passes one per step so that a resumed run draws the same ones.
    """
    del state  # stateless
    codes = tf.convert_to_tensor(codes, tf.int32)
    embeddings = self.encode(codes) if self.conditioned else None
    if training and self.input_jitter:
      codes = jitter_codes(codes, self.input_jitter, self.q_levels, seed)
    return self.decode_logits(codes, embeddings), ()


def jitter_codes(codes: tf.Tensor, max_offset: int, q_levels: int,
                 seed: tf.Tensor | None = None) -> tf.Tensor:
  """Codes `[batch, samples]` each moved by a uniform integer offset in
  `[-max_offset, max_offset]`, kept inside `[0, q_levels)`.

  With `seed` (int `[2]`) the offsets are a pure function of it (stateless
  RNG); without, they come from TF's global random state.
  """
  shape, low, high = tf.shape(codes), -max_offset, max_offset + 1
  offsets = (tf.random.uniform(shape, low, high, dtype=tf.int32)
             if seed is None else tf.random.stateless_uniform(
                 shape, seed, low, high, dtype=tf.int32))
  return tf.clip_by_value(codes + offsets, 0, q_levels - 1)


def build_model(config: dict) -> WaveNet:
  """A `WaveNet` for a flat config, checked by its schema (see
  docs/config.md)."""
  return WaveNet(config_lib.validated(config), name="wavenet")
