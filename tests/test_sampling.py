"""Tests of common.sampling: Gumbel-max draws from counter-based noise."""

import numpy as np
import tensorflow as tf

from common import sampling


def softmax(x):
  e = np.exp(x - x.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def test_draws_follow_the_softmax():
  logits = tf.constant([[0.0, 1.0, 2.0, -1.0]] * 8)
  draw = tf.function(lambda i: sampling.sample_logits(logits, 1.0, [3] * 8, i))
  codes = np.concatenate([draw(tf.constant(i)).numpy() for i in range(500)])
  counts = np.bincount(codes, minlength=4)
  np.testing.assert_allclose(counts / counts.sum(),
                             softmax(logits.numpy()[0]), atol=0.03)


def test_temperature_sharpens_and_zero_is_argmax():
  logits = tf.constant([[0.0, 1.0, 2.0, -1.0]] * 64)
  hot = np.concatenate([sampling.sample_logits(logits, 2.0, range(64), i).numpy()
                        for i in range(40)])
  cold = np.concatenate([sampling.sample_logits(logits, 0.5, range(64), i).numpy()
                         for i in range(40)])
  assert np.mean(cold == 2) > np.mean(hot == 2) + 0.2
  greedy = sampling.sample_logits(logits, 0.0, range(64), 5).numpy()
  np.testing.assert_array_equal(greedy, 2)
  mixed = sampling.sample_logits(logits[:2], [0.0, 1.0], [0, 1], 5).numpy()
  assert mixed[0] == 2


def test_a_sequence_draws_the_same_whatever_its_batch_and_place():
  logits = tf.random.stateless_normal([6, 256], [1, 2])
  seeds = [7, 8, 9, 10, 11, 12]
  batched = sampling.sample_logits(logits, 1.0, seeds, 11).numpy()
  alone = sampling.sample_logits(logits[3:4], 1.0, [10], 11).numpy()
  np.testing.assert_array_equal(alone, batched[3:4])
  reversed_rows = sampling.sample_logits(logits[::-1], 1.0, seeds[::-1],
                                         11).numpy()
  np.testing.assert_array_equal(reversed_rows[::-1], batched)
  other_seed = sampling.sample_logits(logits, 1.0, [s + 6 for s in seeds],
                                      11).numpy()
  other_index = sampling.sample_logits(logits, 1.0, seeds, 12).numpy()
  assert (other_seed != batched).any() and (other_index != batched).any()


def test_noise_depends_on_the_sample_index_not_the_block_start():
  whole = sampling.gumbel_noise([5, 6], 100, 32, 16).numpy()
  pieces = np.concatenate([sampling.gumbel_noise([5, 6], 100, 8, 16),
                           sampling.gumbel_noise([5, 6], 108, 24, 16)], 1)
  np.testing.assert_array_equal(pieces, whole)


def test_noise_is_gumbel_and_the_same_under_xla():
  noise = sampling.gumbel_noise([0, 1, 2, 3], 0, 64, 256).numpy()
  assert noise.shape == (4, 64, 256)
  np.testing.assert_allclose(noise.mean(), np.euler_gamma, atol=0.02)
  np.testing.assert_allclose(noise.std(), np.pi / np.sqrt(6), atol=0.02)
  xla = tf.function(lambda: sampling.gumbel_noise([0, 1, 2, 3], 0, 64, 256),
                    jit_compile=True)()
  np.testing.assert_allclose(xla.numpy(), noise, rtol=1e-6, atol=1e-6)
