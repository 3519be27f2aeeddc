"""The cached WaveNet generator's XLA chunks (`wavenet.decoder_step`).

Tiny presets (receptive field 31 samples, hop 32); `CHUNK_SAMPLES` (512)
samples are one compiled call, so a block of 1,100 samples spans three
chunks, the last one partial.
"""

import numpy as np
import pytest
import tensorflow as tf

import test_wavenet as wavenet_tests
from common import generator as generator_lib
from wavenet import decoder_step
from wavenet import fastgen


@pytest.mark.parametrize("preset", ["tiny_unconditional", "tiny+period"])
def test_blocks_across_chunks_equal_teacher_forcing(preset):
  """Codes made in blocks of 544 samples (chunks of 512 and 32) equal the
  teacher-forced codes resampled with the same noise: each chunk goes on
  from the last one's state at the right sample index."""
  model = wavenet_tests._shared(preset)
  num_samples = 1100
  request = wavenet_tests._request(model, 2, num_samples, seed=7,
                                   temperature=[1.0, 0.8])
  gen = fastgen.generator(model, wavenet_tests._config_of(model))
  codes = generator_lib.generate(gen, request, num_samples, 544)
  forced = model.decode_logits(codes, request.embeddings)
  np.testing.assert_array_equal(
      wavenet_tests._resampled(forced, request), codes)


def test_one_compiled_chunk_per_batch_size():
  """Blocks of any length (a live player's) reuse the batch size's one
  compiled chunk: no retracing, no recompiling."""
  model = wavenet_tests._shared("tiny")
  gen = fastgen.FastGenerator(model, wavenet_tests._config_of(model))
  request = wavenet_tests._request(model, 1, 1088)
  generator_lib.generate(gen, request, 1088, 544)
  generator_lib.generate(gen, request, 96, 32)
  assert gen._chunk_fns[1].experimental_get_tracing_count() == 1


def test_batched_chunk_has_no_matrix_matrix_products():
  """At batch > 1 every per-layer product is one vector-matrix product per
  sequence (`decoder_step._dot`), which XLA:CPU emits inline; a `[batch,
  in] x [in, out]` product would be a call to Eigen's gemm (~1-3 us each
  at these sizes, 40 per sample). Only the dilated taps' product (one per
  sample, batched over layers) stays matrix-matrix, and the frame terms'
  product, once per chunk before the loop."""
  model = wavenet_tests._shared("tiny")
  gen = fastgen.FastGenerator(model, wavenet_tests._config_of(model))
  request = wavenet_tests._request(model, 2, 32)
  state = gen.start(request)
  embeddings = gen._chunk_embeddings(request.embeddings[:, :1], 32, 2)[0]
  hlo = gen.chunk_fn(2).experimental_get_compiler_ir(
      state.tensors, embeddings, tf.constant(0), tf.constant(32),
      tf.constant([1.0, 1.0]), tf.constant([1, 2], tf.uint32))(
          stage="hlo")
  # The loop's products: those outside the entry computation (the frame
  # terms' one product per chunk is in it, before the loop).
  looped = hlo.split("\nENTRY ")[0]
  assert " while(" in hlo.split("\nENTRY ")[1]
  dots = [line for line in looped.splitlines() if " dot(" in line]
  unbatched = [line for line in dots if "lhs_batch_dims" not in line]
  assert len(dots) > len(model.decoder.blocks)
  assert not unbatched, unbatched


def test_only_small_kernels_are_copied_per_sequence():
  """A large kernel stays one `[in, out]` matrix at batch > 1 (its product
  is worth a gemm, and copies per sequence cost memory: the `nsynth`
  preset's 512 x 1024 kernels took 2.1 GB more at batch 16); small ones
  become `[batch, in, out]`."""
  small, large = tf.zeros([32, 64]), tf.zeros([512, 1024])
  assert decoder_step._per_row(small, 16).shape == (16, 32, 64)
  assert decoder_step._per_row(small, 1).shape == (32, 64)
  assert decoder_step._per_row(large, 16).shape == (512, 1024)
  assert decoder_step._per_row(large, 4).shape == (512, 1024)
