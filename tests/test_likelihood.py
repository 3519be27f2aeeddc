"""The one likelihood protocol (`eval.likelihood`): whole files from W with
each model's full context, and the NLL-against-context curve."""

import math

import numpy as np
import pytest
import tensorflow as tf

from common import config as config_lib
from common import train_step
from eval import likelihood
from samplernn import model as samplernn_model
from wavenet import model as wavenet_model

Q = 256
RATE = 1000  # Hz: contexts in the tests are then whole milliseconds


def _files(seed=0, lengths=(700, 913, 1200)):
  """Smooth random signals as mu-law-ish codes, one per length."""
  rng = np.random.default_rng(seed)
  out = []
  for i, n in enumerate(lengths):
    walk = np.cumsum(rng.normal(0, 6, n))
    out.append((f"file{i}", np.clip(128 + walk, 0, Q - 1).astype(np.int32)))
  return out


@pytest.fixture(autouse=True)
def small_calls(monkeypatch):
  """Small windows, strides and calls, so that every test crosses window,
  segment and batch boundaries (the NLL must not depend on them)."""
  monkeypatch.setattr(likelihood, "RECURRENT_WINDOW", 48)
  monkeypatch.setattr(likelihood, "STATELESS_STRIDE", 70)
  monkeypatch.setattr(likelihood, "CALL_SAMPLES", 600)


def _samplernn():
  cfg = config_lib.load("samplernn", "tiny", dict(sample_rate=RATE))
  model = samplernn_model.build_model(cfg)
  model(tf.zeros([1, 32], tf.int32), model.initial_state(1))
  return model


def _wavenet(preset, **overrides):
  cfg = config_lib.load("wavenet", preset, dict(sample_rate=16000,
                                                **overrides))
  model = wavenet_model.build_model(cfg)
  model(tf.zeros([1, 64], tf.int32))
  return model


def _one_pass_bits(model, files, first):
  """NLL (bits) from one call over each whole file, scored from `first`."""
  nats, count = 0.0, 0
  for _, codes in files:
    codes = tf.constant(codes[None])
    if getattr(model, "conditioned", False):
      logits = model.decode_logits(codes, model.encode(codes))
    else:
      logits, _ = model(codes, model.initial_state(1))
    targets = codes[:, model.context_length:]
    per_sample = train_step.nll_nats(logits, targets).numpy()[0]
    scored = per_sample[first - model.context_length:]
    nats, count = nats + scored.sum(), count + scored.size
  return nats / count / math.log(2.0)


@pytest.mark.parametrize("build", [
    _samplernn,
    lambda: _wavenet("tiny_unconditional"),
    lambda: _wavenet("tiny"),
    lambda: _wavenet("tiny", pitch_bins=12, pitch_period_input=True,
                     hop_length=64),
], ids=["samplernn", "wavenet", "autoencoder", "autoencoder_pitch"])
def test_whole_files_score_as_one_pass_with_full_context(build):
  model = build()
  files = _files()
  result = likelihood.evaluate(model, RATE, files,
                               likelihood.Protocol(0.3, contexts=(None,)))
  # Windows, segments and batches give the logits of one pass over each
  # whole file: equal to float32 rounding (measured: < 2e-6 bits).
  assert result["nll_bits_per_sample"] == pytest.approx(
      _one_pass_bits(model, files, 300), abs=1e-5)
  assert [f["samples"] for f in result["files"]] == [400, 613, 900]
  assert result["samples"] == 1913
  assert all(f["first_sample"] == 300 for f in result["files"])
  assert result["context"][0]["nll_bits"] == result["nll_bits_per_sample"]


def test_files_no_longer_than_the_warmup_are_left_out_for_every_model():
  files = _files(lengths=(300, 301, 900))
  for model in (_samplernn(), _wavenet("tiny_unconditional")):
    result = likelihood.evaluate(model, RATE, files,
                                 likelihood.Protocol(0.3, contexts=()))
    assert result["skipped"] == ["file0"]
    assert [f["samples"] for f in result["files"]] == [1, 600]
  with pytest.raises(likelihood.LikelihoodError, match="longer than the "
                     "warm-up"):
    likelihood.evaluate(_samplernn(), RATE, files[:1],
                        likelihood.Protocol(0.3))


def test_a_stateless_model_is_exactly_flat_beyond_its_receptive_field():
  model = _wavenet("tiny_unconditional")
  field = model.receptive_field  # 31 samples = 31 ms at RATE
  assert field == 31
  contexts = (0.004, 0.016, 0.031, 0.05, 0.2, None)
  result = likelihood.evaluate(model, RATE, _files(),
                               likelihood.Protocol(0.3, contexts))
  bits = {p["context_seconds"]: p["nll_bits"] for p in result["context"]}
  for c in (0.031, 0.05, 0.2, None):
    # The logits of one pass over each whole file (float32 rounding only).
    assert bits[c] == pytest.approx(_one_pass_bits(model, _files(), 300),
                                    abs=1e-5)
  assert abs(bits[0.004] - bits[None]) > 1e-3  # less context, other NLL
  assert [p["context_samples"] for p in result["context"]] == [
      4, 16, field, field, field, field]
  assert len({p["samples"] for p in result["context"]}) == 1


class CopyOracle:
  """A recurrent model that knows its data repeats every `period` samples:
  it predicts code t as code t - period when it has read that sample since
  its last reset (logits `confidence` on it), else it says nothing (uniform
  logits). `common.model_api` without Keras: context_length 1, state (the
  last `period` codes read, samples read)."""

  context_length = 1

  def __init__(self, period, confidence=12.0):
    self.period, self.confidence = period, confidence

  def initial_state(self, batch_size):
    return (tf.zeros([batch_size, self.period], tf.int32),
            tf.zeros([batch_size], tf.int32))

  def __call__(self, codes, state, training=False):
    history, read = state
    full = tf.concat([history, codes], axis=1)
    targets = tf.shape(codes)[1] - 1
    guess = full[:, 1:1 + targets]  # the code `period` before each target
    seen = read[:, None] + 1 + tf.range(targets)[None]  # read before it
    known = tf.cast(seen >= self.period, tf.float32)[..., None]
    logits = known * self.confidence * tf.one_hot(guess, Q)
    # The next window starts at this window's last code.
    return logits, (full[:, -self.period - 1:-1], read + targets)


def _expected_bits(files, first, context, period, confidence=12.0):
  """The definition, sample by sample: at context c, sample t is read
  from the start of its segment of c (the segments tile [W, end) from W)
  minus c (at most from the file's start), so it sees t - start samples."""
  known_nats = math.log1p((Q - 1) * math.exp(-confidence))
  nats, count = 0.0, 0
  for _, codes in files:
    for t in range(first, len(codes)):
      if context is None:
        seen = t
      else:
        segment = first + (t - first) // context * context
        seen = t - max(0, segment - context)
      nats += known_nats if seen >= period else math.log(Q)
      count += 1
  return nats / count / math.log(2.0)


def _repeating(period, lengths, seed=0):
  rng = np.random.default_rng(seed)
  return [(f"file{i}", np.resize(rng.integers(0, Q, period), n).astype(
      np.int32)) for i, n in enumerate(lengths)]


def test_context_curve_follows_its_definition_and_finds_a_repeat():
  period, first = 100, 250
  files = _repeating(period, (700, 1000, 555))
  contexts = (0.004, 0.05, 0.06, 0.08, 0.1, 0.2, 1.0, None)
  result = likelihood.evaluate(CopyOracle(period), RATE, files,
                               likelihood.Protocol(0.25, contexts))
  for point in result["context"]:
    c = point["context_seconds"]
    # The model's softmax is float32 (and XLA-fused for long segments):
    # measured within 1.1e-6 bits of the float64 expectation.
    assert point["nll_bits"] == pytest.approx(_expected_bits(
        files, first, None if c is None else round(c * RATE), period),
        abs=1e-5), c
  bits = [p["nll_bits"] for p in result["context"]]
  # Nothing up to half the period; everything from the period on.
  assert bits[0] == bits[1] == pytest.approx(8.0)
  assert bits[1] > bits[2] > bits[3] > bits[4]
  # (a known sample costs log2(1 + 255 exp(-12)) = 0.0023 bits)
  assert max(bits[4:]) < 0.003


def test_the_curve_can_score_the_first_seconds_of_each_file():
  period = 100
  files = _repeating(period, (700, 1000))
  protocol = likelihood.Protocol(0.25, (0.03, 0.1, None), curve_seconds=0.2)
  result = likelihood.evaluate(CopyOracle(period), RATE, files, protocol)
  assert result["samples"] == 450 + 750  # the headline: to the end
  assert [p["samples"] for p in result["context"]] == [400, 400, 400]
  capped = [(k, c[:450]) for k, c in files]
  for point, c in zip(result["context"], (30, 100, None)):
    assert point["nll_bits"] == pytest.approx(
        _expected_bits(capped, 250, c, period), abs=1e-5)


def test_interval_is_over_files():
  nats = np.array([1.0, 2.0, 3.0, 10.0]) * math.log(2.0)
  counts = np.array([1, 1, 1, 1])
  low, high = likelihood.ratio_interval(nats, counts)
  assert 1.0 <= low < 4.0 < high <= 10.0
  assert likelihood.ratio_interval(nats[:1], counts[:1]) == (1.0, 1.0)


def test_the_headline_can_score_the_first_seconds_of_each_file():
  period = 100
  files = _repeating(period, (700, 1000))
  protocol = likelihood.Protocol(0.25, (0.03,), score_seconds=0.3)
  result = likelihood.evaluate(CopyOracle(period), RATE, files, protocol)
  assert [f["samples"] for f in result["files"]] == [300, 300]
  assert result["context"][0]["samples"] == 450 + 750  # the curve: all
  capped = [(k, c[:550]) for k, c in files]
  assert result["nll_bits_per_sample"] == pytest.approx(
      _expected_bits(capped, 250, None, period), abs=1e-5)
  assert len(likelihood.scored_codes(files, RATE, protocol)) == 600
