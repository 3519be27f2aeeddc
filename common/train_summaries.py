"""TensorBoard summaries of a training run: scalars and audio.

The audio is made through the family's generator (`common.generator`), the
one way every tool makes audio: an autoencoder reconstructs the first
training crops from their embeddings, any other model generates two short
unconditional sequences. Sequence `i` of the summary at step `s` has the
seed `s + i`.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from common import generator as generator_lib
from common import quantization
from common import validation

AUDIO_SEQUENCES = 2


class Writers:
  """The run's event files: `model_dir/train` and `model_dir/val`."""

  def __init__(self, model_dir: str):
    self.train = tf.summary.create_file_writer(os.path.join(model_dir,
                                                            "train"))
    self.val = tf.summary.create_file_writer(os.path.join(model_dir, "val"))

  def flush(self) -> None:
    self.train.flush()
    self.val.flush()


def write_train_scalars(writer: tf.summary.SummaryWriter, step: int,
                        loss_nats: float, grad_norm: float,
                        learning_rate: float, steps_per_second: float,
                        samples_per_second: float) -> None:
  """The training scalars of `step` (loss in bits and nats per sample)."""
  with writer.as_default(step=step):
    tf.summary.scalar("loss_bits_per_sample", loss_nats / validation.LN2)
    tf.summary.scalar("loss_nats_per_sample", loss_nats)
    tf.summary.scalar("learning_rate", learning_rate)
    tf.summary.scalar("grad_norm", grad_norm)
    tf.summary.scalar("steps_per_second", steps_per_second)
    tf.summary.scalar("samples_per_second", samples_per_second)


def write_val_scalars(writer: tf.summary.SummaryWriter, step: int,
                      val: dict) -> None:
  """A validation's NLL (`validation.evaluate_nll`) at `step`."""
  with writer.as_default(step=step):
    tf.summary.scalar("nll_bits_per_sample", val["nll_bits"])
    tf.summary.scalar("nll_nats_per_sample", val["nll_nats"])


def summary_request(gen: generator_lib.Generator, crops: np.ndarray,
                    num_samples: int, step: int) -> generator_lib.Request:
  """What the audio summary of `step` asks the generator for.

  Args:
    gen: the family's generator of the model being trained.
    crops: int32 codes `[n, >= num_samples]` of training crops.
    num_samples: the summary's length (a multiple of
      `gen.samples_per_frame` for an autoencoder).
    step: the training step, the first sequence's seed.

  Returns:
    An autoencoder (`gen.conditioned`): the embeddings of the first
    `AUDIO_SEQUENCES` crops (reconstructions); else `AUDIO_SEQUENCES`
    unconditional sequences.
  """
  if gen.conditioned:
    codes = np.asarray(crops, np.int32)[:AUDIO_SEQUENCES, :num_samples]
    return generator_lib.Request.make(seed=step,
                                      embeddings=gen.encode(codes))
  return generator_lib.Request.make(num_seqs=AUDIO_SEQUENCES, seed=step)


def summary_length(gen: generator_lib.Generator, config: dict,
                   crop_samples: int) -> int:
  """Samples per audio summary: `audio_summary_seconds`; an autoencoder's
  at most a crop, whole frames, at least one."""
  num_samples = max(1, int(config["audio_summary_seconds"] *
                           config["sample_rate"]))
  if gen.conditioned:
    frame = int(gen.samples_per_frame or 1)
    num_samples = max(frame, min(num_samples, crop_samples) // frame * frame)
  return num_samples


def summary_audio(gen: generator_lib.Generator, config: dict,
                  crops: np.ndarray, step: int) -> np.ndarray:
  """The audio summary of `step`: float32 `[n, samples]` in [-1, 1]
  (see `summary_request`)."""
  crops = np.asarray(crops)
  num_samples = summary_length(gen, config, crops.shape[1])
  codes = generator_lib.generate(
      gen, summary_request(gen, crops, num_samples, step), num_samples)
  return np.asarray(quantization.decode(codes, config["quantization"],
                                        config["q_levels"]), np.float32)


def write_audio(writer: tf.summary.SummaryWriter, audio: np.ndarray,
                config: dict, step: int) -> None:
  """Writes float32 `[n, samples]` audio as the summary "audio"."""
  seconds = float(config["audio_summary_seconds"])
  with writer.as_default(step=step):
    tf.summary.audio("audio", np.asarray(audio, np.float32)[:, :, None],
                     int(config["sample_rate"]),
                     max_outputs=AUDIO_SEQUENCES, description=f"{seconds} s")
