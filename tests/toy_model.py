"""A tiny recurrent model that follows common.model_api, to test the trainer
without depending on either family."""

import keras
import tensorflow as tf

from common import quantization


class ToyRNN(keras.Model):
  """GRU over samples: predicts codes[t] from codes[:t] (context 1)."""

  context_length = 1

  def __init__(self, config):
    super().__init__()
    self.q_levels = config["q_levels"]
    self.units = config.get("dim", 16)
    self.embed = keras.layers.Embedding(self.q_levels, self.units)
    self.cell = keras.layers.GRU(self.units, return_sequences=True,
                                 return_state=True)
    self.out = keras.layers.Dense(self.q_levels)

  def initial_state(self, batch_size):
    return (tf.zeros([batch_size, self.units]),)

  def call(self, codes, state=(), training=False):
    x = self.embed(codes[:, :-1])
    if not state:
      state = self.initial_state(tf.shape(codes)[0])
    y, h = self.cell(x, initial_state=list(state), training=training)
    return self.out(y), (h,)


def build_model(config):
  return ToyRNN(config)


def silence(config):
  return quantization.silence_code(config["quantization"], config["q_levels"])
