"""Seeded sampling from categorical distributions, shared by both generators.

Everything here is stateless: a sample depends only on the logits, the
temperature and an explicit `[2]` int32 seed, so the same seed gives the same
audio inside `tf.while_loop` and across runs (TF's stateless RNG may draw other
numbers under XLA than in a plain graph; the SampleRNN generator, which runs
under XLA, uses its own counter-based Gumbel noise for that reason).
"""

import tensorflow as tf


def step_seed(seed, step):
  """A per-step stateless seed: `[2]` int32 from a base seed and a step index.

  Args:
    seed: int or scalar int tensor, the user's seed.
    step: scalar int tensor, e.g. the sample index in a generation loop.
  """
  return tf.stack([tf.cast(seed, tf.int32), tf.cast(step, tf.int32)])


def sample_logits(logits, temperature, seed):
  """Draws one code per row from `softmax(logits / temperature)`.

  Uses the Gumbel-max trick so it compiles under XLA. A temperature of 0 (or
  below 1e-6) gives the argmax.

  Args:
    logits: float `[batch, q_levels]`.
    temperature: float scalar or `[batch]` (one per sequence).
    seed: `[2]` int32 stateless seed.

  Returns:
    int32 `[batch]` codes.
  """
  logits = tf.cast(logits, tf.float32)
  temperature = tf.cast(temperature, tf.float32)
  temperature = tf.broadcast_to(tf.reshape(temperature, [-1, 1])
                                if temperature.shape.rank else temperature,
                                [tf.shape(logits)[0], 1])
  uniform = tf.random.stateless_uniform(
      tf.shape(logits), seed, minval=1e-20, maxval=1.0)
  gumbel = -tf.math.log(-tf.math.log(uniform))
  greedy = temperature < 1e-6
  scaled = logits / tf.where(greedy, 1.0, temperature)
  noisy = tf.where(greedy, scaled, scaled + gumbel)
  return tf.argmax(noisy, axis=-1, output_type=tf.int32)
