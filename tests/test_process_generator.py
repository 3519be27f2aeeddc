"""A batch's rows decoded by worker processes (`common.process_generator`).

The workers are real spawned processes (each imports TensorFlow: ~10 s), so
one generator per family serves every test of this file.
"""

import os
import signal

import keras
import numpy as np
import pytest

from common import config as config_lib
from common import family
from common import generator as generator_lib
from common import model_api
from common import process_generator
from common import state_rows

ROWS = 3  # split 2 (a worker) + 1 (here): both compiled batch sizes


def _build(name, preset, overrides=None, seed=0):
  config = config_lib.load(name, preset, overrides or {})
  config["sample_rate"] = 16000
  keras.utils.set_random_seed(seed)
  model = model_api.build(family.get(name).build_model(config))
  return model, config


@pytest.fixture(scope="module")
def autoencoder():
  """A tiny pitch-conditioned WaveNet autoencoder with the period input,
  its in-process generator and a 2-process one."""
  model, config = _build("wavenet", "tiny", dict(
      pitch_bins=12, pitch_min_midi=60, pitch_period_input=True))
  local = family.of_config(config).generator(model, config)
  with process_generator.ProcessGenerator(model, config, 2) as gen:
    yield model, config, local, gen


def _embeddings(gen, frames, seed=0):
  rng = np.random.default_rng(seed)
  bins = gen.embedding_width - 4
  pitch = np.zeros([ROWS, frames, bins], np.float32)
  pitch[:, :, 5] = 1.0  # voiced: the period input is used
  return np.concatenate([rng.normal(size=[ROWS, frames, 4]).astype(
      np.float32), pitch], axis=-1)


def test_rows_split_over_processes_make_the_same_codes(autoencoder):
  _, _, local, gen = autoencoder
  assert gen.processes == 2
  for name in ("sample_rate", "q_levels", "block_multiple",
               "samples_per_frame", "embedding_width"):
    assert getattr(gen, name) == getattr(local, name), name
  frames = _embeddings(local, 8)
  request = generator_lib.Request.make(ROWS, seed=4, temperature=[1.0, 0.9,
                                                                  0.0],
                                       embeddings=frames)
  hop = local.samples_per_frame
  want_state, got_state = local.start(request), gen.start(request)
  for block in (slice(0, 4), slice(4, 8)):  # two blocks: the state carries
    want, want_state = local.next_block(want_state, 4 * hop, frames[:, block])
    got, got_state = gen.next_block(got_state, 4 * hop, frames[:, block])
    np.testing.assert_array_equal(got, want)
  assert got_state.position == want_state.position == 8 * hop
  assert got_state.seeds == want_state.seeds
  axes = state_rows.batch_axes(local, request)
  for name, axis in axes.items():
    # The same products at other batch sizes: equal up to float32 rounding
    # (measured 0 difference at these sizes; 1e-6 allows reordering).
    np.testing.assert_allclose(np.asarray(got_state.tensors[name]),
                               np.asarray(want_state.tensors[name]),
                               atol=1e-6, err_msg=name)
    assert axis is None or np.shape(got_state.tensors[name])[axis] == ROWS
  # A state stays valid: the first block again from the same start state.
  again, _ = gen.next_block(gen.start(request), 4 * hop, frames[:, :4])
  np.testing.assert_array_equal(again, local.next_block(
      local.start(request), 4 * hop, frames[:, :4])[0])


def test_this_process_decodes_the_smallest_group(autoencoder, monkeypatch):
  # It also runs its caller's Python (the live engine): of 3 rows over 2
  # processes, the worker decodes 2 and this process 1.
  _, _, local, gen = autoencoder
  seen = []
  next_block = gen._local.next_block

  def spy(state, *args):
    seen.append(state.num_seqs)
    return next_block(state, *args)

  monkeypatch.setattr(gen._local, "next_block", spy)
  request = generator_lib.Request.make(ROWS, seed=1,
                                       embeddings=_embeddings(local, 4))
  gen.next_block(gen.start(request), local.samples_per_frame,
                 _embeddings(local, 1))
  assert seen == [1]


def test_a_request_error_in_a_worker_is_a_request_error(autoencoder):
  _, _, local, gen = autoencoder
  frames = _embeddings(local, 2)
  state = gen.start(generator_lib.Request.make(ROWS, embeddings=frames))
  with pytest.raises(generator_lib.RequestError, match="needs embeddings"):
    gen.next_block(state, 2 * local.samples_per_frame, frames[:, :1])
  # The workers go on.
  codes, _ = gen.next_block(state, 2 * local.samples_per_frame, frames)
  assert codes.shape == (ROWS, 2 * local.samples_per_frame)


def test_ctrl_c_is_left_to_the_parent(autoencoder):
  """SIGINT (a terminal's Ctrl-C reaches the whole process group) does not
  kill a worker mid-block with a traceback: the parent stops them."""
  _, _, local, gen = autoencoder
  worker = gen._workers[0][0]  # pylint: disable=protected-access
  os.kill(worker.pid, signal.SIGINT)
  frames = _embeddings(local, 2)
  state = gen.start(generator_lib.Request.make(ROWS, embeddings=frames))
  codes, _ = gen.next_block(state, 2 * local.samples_per_frame, frames)
  assert codes.shape == (ROWS, 2 * local.samples_per_frame)
  assert worker.is_alive()


def test_refresh_sends_the_new_weights(autoencoder):
  model, _, local, gen = autoencoder
  frames = _embeddings(local, 2)
  request = generator_lib.Request.make(ROWS, seed=9, embeddings=frames)
  n = 2 * local.samples_per_frame
  before, _ = gen.next_block(gen.start(request), n, frames)
  saved = model.get_weights()
  try:
    model.set_weights([w * 1.5 for w in saved])
    gen.refresh()  # (also refreshes `local`: the same cached generator)
    after, _ = gen.next_block(gen.start(request), n, frames)
    np.testing.assert_array_equal(
        after, local.next_block(local.start(request), n, frames)[0])
    assert (after != before).any()
  finally:
    model.set_weights(saved)
    gen.refresh()


def test_samplernn_rows_over_processes_and_a_lost_worker():
  """Any family: a primed SampleRNN. Then its worker killed: one line."""
  model, config = _build("samplernn", "tiny")
  local = family.of_config(config).generator(model, config)
  gen = process_generator.ProcessGenerator(model, config, 2)
  try:
    prime = np.random.default_rng(0).integers(0, 256, [ROWS, 32], np.int32)
    request = generator_lib.Request.make(ROWS, seed=2, prime_codes=prime)
    want = generator_lib.generate(local, request, 96, 32)
    got = generator_lib.generate(gen, request, 96, 32)
    np.testing.assert_array_equal(got, want)
    process = gen._workers[0][0]  # pylint: disable=protected-access
    os.kill(process.pid, signal.SIGKILL)
    process.join()
    with pytest.raises(process_generator.WorkerError,
                       match=r"^generation worker 0 died \(exit code -9\)$"):
      generator_lib.generate(gen, request, 32, 32)
  finally:
    gen.close()
  with pytest.raises(process_generator.WorkerError, match="closed"):
    gen.next_block(gen.start(request), 32)
  assert not gen._workers  # pylint: disable=protected-access
  assert gen.processes == 1
