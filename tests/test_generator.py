"""Tests of common.generator: requests, the seeding rule, and streaming."""

import numpy as np
import pytest

from common import generator as gen_lib


class CountingGenerator(gen_lib.Generator):
  """A stand-in family: code `t` of a sequence is `(seed + t * temp) % q`,
  so every code shows which seed, position and temperature made it."""
  sample_rate = 100
  q_levels = 1000
  quantization = "linear"

  def __init__(self, block_multiple=1, hop_length=None, width=None):
    self.block_multiple = block_multiple
    self.block_samples = 4 * block_multiple
    self.samples_per_frame = hop_length
    self.embedding_width = width
    self.blocks = []  # (position, length, embedding frames or None)

  def start(self, request):
    return gen_lib.State(position=0, seeds=request.seeds,
                         temperatures=request.temperatures, tensors=())

  def next_block(self, state, num_samples, embeddings=None):
    assert num_samples % self.block_multiple == 0
    self.blocks.append((state.position, num_samples, None if embeddings is
                        None else embeddings.shape[1]))
    t = state.position + np.arange(num_samples)
    codes = (np.array(state.seeds)[:, None] + t[None, :] *
             np.array(state.temperatures)[:, None]).astype(np.int32)
    return codes % self.q_levels, state.replace(
        position=state.position + num_samples)


def test_make_gives_sequence_i_the_seed_plus_i():
  request = gen_lib.Request.make(num_seqs=3, seed=7, temperature=0.5)
  assert request.seeds == (7, 8, 9)
  assert request.temperatures == (0.5, 0.5, 0.5)
  assert gen_lib.Request.make(embeddings=np.zeros([2, 4, 3])).num_seqs == 2
  primed = gen_lib.Request.make(num_seqs=2, prime_codes=[1, 2, 3])
  assert primed.prime_codes.shape == (2, 3)


def test_rows_and_concat_keep_each_sequences_seed():
  request = gen_lib.Request.make(num_seqs=4, seed=10, temperature=[0, 1, 2, 3],
                                 embeddings=np.arange(4.0)[:, None, None])
  picked = request.rows([3, 1])
  assert picked.seeds == (13, 11) and picked.temperatures == (3.0, 1.0)
  assert picked.embeddings[:, 0, 0].tolist() == [3.0, 1.0]
  joined = gen_lib.Request.concat([request.rows(slice(2, 4)),
                                   request.rows(slice(0, 2))])
  assert joined.seeds == (12, 13, 10, 11)


@pytest.mark.parametrize("kwargs, message", [
    (dict(num_seqs=2, temperature=[1, 2, 3]), "3 temperatures for 2"),
    (dict(num_seqs=1, temperature=-1), "must be a finite number >= 0"),
    (dict(num_seqs=1, seed=-1), "outside"),
    (dict(), "num_seqs is needed"),
    (dict(num_seqs=3, embeddings=np.zeros([2, 4, 3])), "3 rows"),
])
def test_bad_requests_are_refused_in_one_line(kwargs, message):
  with pytest.raises(gen_lib.RequestError, match=message):
    gen_lib.Request.make(**kwargs)


def test_parse_temperatures():
  assert gen_lib.parse_temperatures("0.9", 3) == (0.9, 0.9, 0.9)
  assert gen_lib.parse_temperatures("0,1.5", 2) == (0.0, 1.5)
  for text, message in (("0.9,1", "2 temperatures for 3"), ("hot", "not a "),
                        ("-1", ">= 0"), ("nan", "finite")):
    with pytest.raises(gen_lib.RequestError, match=message):
      gen_lib.parse_temperatures(text, 3)


def test_stream_cuts_blocks_in_multiples_and_trims_the_end():
  gen = CountingGenerator(block_multiple=3)
  request = gen_lib.Request.make(num_seqs=2, seed=5, temperature=1.0)
  blocks = list(gen_lib.stream(gen, request, num_samples=20))
  assert [b.shape for b in blocks] == [(2, 12), (2, 8)]
  assert [(p, n) for p, n, _ in gen.blocks] == [(0, 12), (12, 9)]
  np.testing.assert_array_equal(np.concatenate(blocks, 1)[0], 5 + np.arange(20))
  other = gen_lib.generate(CountingGenerator(3), request, 20, block_samples=3)
  np.testing.assert_array_equal(other, np.concatenate(blocks, 1))


def test_stream_hands_each_block_its_embedding_frames():
  gen = CountingGenerator(block_multiple=2, hop_length=2, width=3)
  request = gen_lib.Request.make(embeddings=np.zeros([1, 9, 3]))
  codes = gen_lib.generate(gen, request, num_samples=17)
  assert codes.shape == (1, 17)
  assert [frames for _, _, frames in gen.blocks] == [4, 4, 1]


def test_check_refuses_what_a_generator_cannot_serve():
  conditioned = CountingGenerator(hop_length=4, width=3)
  for request, message in (
      (gen_lib.Request.make(num_seqs=1), "decodes embeddings"),
      (gen_lib.Request.make(embeddings=np.zeros([1, 2, 5])), "5 wide"),
      (gen_lib.Request.make(embeddings=np.zeros([1, 2, 3])), "need 3 frames"),
  ):
    with pytest.raises(gen_lib.RequestError, match=message):
      list(gen_lib.stream(conditioned, request, 12))
  with pytest.raises(gen_lib.RequestError, match="takes no embeddings"):
    list(gen_lib.stream(CountingGenerator(), gen_lib.Request.make(
        embeddings=np.zeros([1, 2, 3])), 4))
  with pytest.raises(gen_lib.RequestError, match="cannot continue"):
    list(gen_lib.stream(CountingGenerator(), gen_lib.Request.make(
        prime_codes=[[1, 2]]), 4))
