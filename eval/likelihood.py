"""One likelihood protocol for every model, and likelihood against context.

Every model in a comparison is scored on exactly the same samples: the
test files, each from a fixed warm-up offset W (`Protocol.warmup_seconds`,
the same for all models) to its end. Each model has its full context:

- a recurrent model (SampleRNN) reads the whole file from its start with its
  state carried, and is scored from W;
- a stateless model with a receptive field of R samples (WaveNet) sees the R
  samples before every scored sample (zeros before the file's start);
- an autoencoder encodes the whole file once, and its decoder reads the
  embeddings of the whole file.

Files no longer than W are left out, for every model alike.

Likelihood against context (`Protocol.contexts`): at context c every scored
sample sees at least c and less than 2c of the past. The scored samples are
cut into segments of c; each segment is read from a fresh model (reset
state; a stateless model's input starts there) that first reads the c
samples before the segment, unscored. A stateless model's input is capped
at its receptive field, so its NLL is flat for c >= R (exactly: the same
logits as with full context). A recurrent model needs its `context_length`
(the top frame) as input before its first prediction, so its smallest c is
that. Every c scores the same samples (those of the whole-file NLL, or the
first `curve_seconds` after W of each file), so the curve measures how much
of the past a model uses (Mehri et al. 2017, table 2; Goel et al. 2022).

The models are called through `common.model_api` (teacher forcing); a
conditioned model (attribute `conditioned`, e.g. the WaveNet autoencoder)
also provides `encode(codes)` and `decode_logits(codes, embeddings,
first_sample)`.

`evaluate(model, config, files, protocol)` returns the numbers.
"""

from __future__ import annotations

import dataclasses
import math
import weakref
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np
import tensorflow as tf

from common import train_step

LN2 = math.log(2.0)
DEFAULT_CONTEXTS: tuple[float | None, ...] = (0.004, 0.016, 0.064, 0.25, 1.0,
                                              4.0, None)
# Samples (rows x length) per model call: bounds the logits and
# activations held at once (256 levels x 2^17 samples x 4 B = 128 MiB).
CALL_SAMPLES = 1 << 17
# Targets per call of a recurrent model (rounded down to its frame); the
# state is carried between calls, so this changes speed, not the NLL.
RECURRENT_WINDOW = 8192
# Scored targets per segment of a stateless model at full context.
STATELESS_STRIDE = 8192


class LikelihoodError(ValueError):
  """The test files cannot be scored (none longer than the warm-up)."""


@dataclasses.dataclass(frozen=True)
class Protocol:
  """The samples scored and the contexts of the curve.

  warmup_seconds: W; every file is scored from W to its end.
  contexts: the curve's contexts c in seconds (None: the whole file).
  curve_seconds: the curve scores the first `curve_seconds` after W of
    each file (None: to the end, the samples of the headline NLL).
  score_seconds: the headline scores only the first `score_seconds` after
    W of each file (None: to the end; a quick look at a large split).
  """
  warmup_seconds: float = 1.0
  contexts: tuple[float | None, ...] = DEFAULT_CONTEXTS
  curve_seconds: float | None = None
  score_seconds: float | None = None


def protocol_sentence(protocol: Protocol) -> str:
  """The protocol in one sentence, for the report."""
  span = ("to the end" if protocol.curve_seconds is None else
          f"over the first {protocol.curve_seconds:g} s after it")
  scored = ("to its end" if protocol.score_seconds is None else
            f"for {protocol.score_seconds:g} s")
  return (f"Every model is scored on the same samples: each test file from "
          f"{protocol.warmup_seconds:g} s {scored}, with its full context "
          f"(SampleRNN carries its state from the file's start, a WaveNet "
          f"sees its whole receptive field, an autoencoder encodes the whole "
          f"file); at context c (the curve, {span}) every scored sample "
          f"sees at least c and less than 2c of the past.")


class Segment(NamedTuple):
  """Samples `[input_start, end)` of file `file` read from a fresh model;
  the targets in `[score_start, end)` are scored."""
  file: int
  input_start: int
  score_start: int
  end: int


def segments(ends: Sequence[int], first_scored: int, warmup: int,
             stride: int) -> list[Segment]:
  """Cuts the scored samples `[first_scored, ends[i])` of every file into
  segments of `stride` scored samples, each read from `warmup` samples
  before it (from the file's start at most).

  Args:
    ends: per file, the end of its scored samples.
    first_scored: W, the first scored sample of every file.
    warmup: samples read before each segment (0: none).
    stride: scored samples per segment.

  Returns:
    The segments, file by file in time order.
  """
  out = []
  for index, end in enumerate(ends):
    for start in range(first_scored, end, stride):
      out.append(Segment(index, max(0, start - warmup), start,
                         min(start + stride, end)))
  return out


def receptive_field(model: Any) -> int | None:
  """R of a stateless model (`model.receptive_field`), None for a
  recurrent one (its state carries the whole past)."""
  value = getattr(model, "receptive_field", None)
  return None if value is None else int(value)


def context_segments(model: Any, ends: Sequence[int], first_scored: int,
                     context: int | None) -> tuple[list[Segment], int]:
  """The segments that score `[first_scored, ends[i])` at a context.

  Args:
    model: a `common.model_api` model.
    ends: per file, the end of the scored samples.
    first_scored: W.
    context: c in samples, or None for the whole file.

  Returns:
    (segments, the context the model effectively has in samples: at least
    its `context_length`, at most its receptive field; for the whole file
    the longest past a scored sample has).
  """
  span = max(ends)
  field = receptive_field(model)
  if field is None:  # recurrent: reset the state every c
    if context is None or context >= span:
      return segments(ends, first_scored, first_scored, span), span
    context = max(context, int(model.context_length))
    return segments(ends, first_scored, context, context), context
  if context is None or context >= field:
    return segments(ends, first_scored, field, STATELESS_STRIDE), field
  return segments(ends, first_scored, context, context), context


# ----------------------------------------------------------------------------
# Running the model.


def _compiled(model: Any) -> dict[str, Callable[..., Any]]:
  """Each model's compiled per-sample NLL functions (traced once)."""
  if model not in _COMPILED:
    ref, context = weakref.ref(model), int(model.context_length)

    def step(codes: tf.Tensor, state: Any) -> tuple[tf.Tensor, Any]:
      logits, state = ref()(codes, state, training=False)  # type: ignore
      return train_step.nll_nats(logits, codes[:, context:]), state

    recurrent = tf.function(step, reduce_retracing=True)
    # Whole windows of a long segment, one shape per row count: XLA pays
    # there (2-2.5x for a small SampleRNN on 2 CPU cores, measured).
    window = tf.function(step, jit_compile=True)

    @tf.function(reduce_retracing=True)
    def conditioned(codes: tf.Tensor, embeddings: tf.Tensor,
                    first_sample: tf.Tensor) -> tf.Tensor:
      logits = ref().decode_logits(codes, embeddings,  # type: ignore
                                   first_sample)
      return train_step.nll_nats(logits, codes)

    @tf.function(reduce_retracing=True)
    def encode(codes: tf.Tensor) -> tf.Tensor:
      return ref().encode(codes)  # type: ignore

    _COMPILED[model] = dict(recurrent=recurrent, window=window,
                            conditioned=conditioned, encode=encode)
  return _COMPILED[model]


_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _row_nats(model: Any, rows: np.ndarray, starts: np.ndarray,
              embeddings: np.ndarray | None) -> np.ndarray:
  """Per-target NLL (nats) of rows read from a fresh model.

  Args:
    model: a `common.model_api` model.
    rows: int32 `[rows, length]` codes.
    starts: int `[rows]`: where each row starts in its file.
    embeddings: `[rows, frames, width]` of each row's whole file for a
      conditioned model, else None.

  Returns:
    float64 `[rows, length - context_length]`: the NLL of target
    `context_length + j` of each row.
  """
  fns, context = _compiled(model), int(model.context_length)
  if embeddings is not None:
    return fns["conditioned"](tf.constant(rows), tf.constant(embeddings),
                              tf.constant(starts, tf.int32)).numpy()
  if receptive_field(model) is not None:  # stateless: one call
    return fns["recurrent"](tf.constant(rows),
                            model.initial_state(len(rows)))[0].numpy()
  window = max(context, RECURRENT_WINDOW // max(context, 1) * max(context, 1))
  targets = rows.shape[1] - context
  if targets <= window:  # a short segment: one call
    return fns["recurrent"](tf.constant(rows), model.initial_state(
        len(rows)))[0].numpy().astype(np.float64)
  # Windows of one shape with the state carried; the last is padded at the
  # end (the model is causal, and its state after the padding is unused).
  padded = np.pad(rows, [(0, 0), (0, -targets % window)])
  state = model.initial_state(len(rows))
  out = []
  for first in range(0, targets, window):
    nats, state = fns["window"](
        tf.constant(padded[:, first:first + window + context]), state)
    out.append(nats.numpy())
  return np.concatenate(out, axis=1)[:, :targets].astype(np.float64)


def _score(model: Any, codes: Sequence[np.ndarray], chosen: list[Segment],
           embeddings: Sequence[np.ndarray] | None,
           tick: Callable[[int], None]) -> tuple[np.ndarray, np.ndarray]:
  """Per-file (summed NLL in nats, scored samples) over the segments.

  Segments of one length (and file, for a conditioned model) are batched,
  at most `CALL_SAMPLES` samples per call.
  """
  nats, counts = np.zeros(len(codes)), np.zeros(len(codes), np.int64)
  context = int(model.context_length)
  groups: dict[tuple[int, int], list[Segment]] = {}
  for seg in chosen:
    key = (seg.end - seg.input_start,
           seg.file if embeddings is not None else -1)
    groups.setdefault(key, []).append(seg)
  for (length, _), group in sorted(groups.items()):
    per_call = max(1, CALL_SAMPLES // length)
    for first in range(0, len(group), per_call):
      batch = group[first:first + per_call]
      rows = np.stack([codes[s.file][s.input_start:s.end] for s in batch])
      starts = np.array([s.input_start for s in batch])
      emb = (None if embeddings is None else
             np.repeat(embeddings[batch[0].file][None], len(batch), 0))
      row_nats = _row_nats(model, rows.astype(np.int32), starts, emb)
      # Target j of a row is sample input_start + context + j of its file.
      index = starts[:, None] + context + np.arange(row_nats.shape[1])
      scored = index >= np.array([s.score_start for s in batch])[:, None]
      for s, row, mask in zip(batch, row_nats, scored):
        nats[s.file] += row[mask].sum()
        counts[s.file] += int(mask.sum())
      tick(rows.size)
  return nats, counts


def _encode_files(model: Any, codes: Sequence[np.ndarray]
                  ) -> list[np.ndarray] | None:
  """Each whole file's embeddings `[frames, width]` for a conditioned
  model, else None."""
  if not getattr(model, "conditioned", False):
    return None
  encode = _compiled(model)["encode"]
  return [encode(tf.constant(c[None].astype(np.int32)))[0].numpy()
          for c in codes]


# ----------------------------------------------------------------------------
# Statistics.


def ratio_interval(nats: np.ndarray, counts: np.ndarray, seed: int = 0,
                   resamples: int = 1000) -> tuple[float, float]:
  """95 % percentile-bootstrap interval over files of the pooled NLL in
  bits (resampling whole files: sum of nats / sum of samples)."""
  if len(nats) < 2:
    value = float(nats.sum() / counts.sum() / LN2)
    return value, value
  rng = np.random.default_rng(seed)
  pick = rng.integers(0, len(nats), size=(resamples, len(nats)))
  values = nats[pick].sum(1) / counts[pick].sum(1) / LN2
  low, high = np.percentile(values, [2.5, 97.5])
  return float(low), float(high)


def _summary(nats: np.ndarray, counts: np.ndarray) -> dict[str, Any]:
  low, high = ratio_interval(nats, counts)
  return dict(nll_bits=float(nats.sum() / counts.sum() / LN2),
              low=low, high=high, samples=int(counts.sum()))


# ----------------------------------------------------------------------------
# The protocol.


def scored_files(files: Sequence[tuple[str, np.ndarray]], first_scored: int
                 ) -> tuple[list[tuple[str, np.ndarray]], list[str]]:
  """(files longer than W, keys of those left out)."""
  kept = [(k, c) for k, c in files if len(c) > first_scored]
  return kept, [k for k, c in files if len(c) <= first_scored]


def _ends(codes: Sequence[np.ndarray], first: int, seconds: float | None,
          sample_rate: int) -> list[int]:
  """Per file, the end of the samples scored from `first` (at most
  `seconds` of them; None: to the file's end)."""
  if seconds is None:
    return [len(c) for c in codes]
  return [min(len(c), first + int(round(seconds * sample_rate)))
          for c in codes]


def evaluate(model: Any, sample_rate: int,
             files: Sequence[tuple[str, np.ndarray]],
             protocol: Protocol = Protocol(), progress: bool = False,
             desc: str = "likelihood") -> dict[str, Any]:
  """Scores a model on whole files by the protocol (module docstring).

  Args:
    model: a `common.model_api` model.
    sample_rate: of the codes, in Hz.
    files: (key, int32 codes `[samples]`) per test file.
    protocol: W, the curve's contexts and span.
    progress: a progress bar (samples read per second, ETA).
    desc: the bar's label.

  Returns:
    dict(protocol: one sentence, warmup_seconds, first_sample: W in
    samples, nll_bits_per_sample, nll_nats_per_sample, low, high (95 %
    interval over files, bits), samples, files: [dict(key, first_sample,
    samples, nll_bits)], skipped: [keys no longer than W], context:
    [dict(context_seconds (None: whole file), context_samples, nll_bits,
    low, high, samples)]).

  Raises:
    LikelihoodError: no file is longer than W, or W is shorter than the
      model's `context_length`.
  """
  first = int(round(protocol.warmup_seconds * sample_rate))
  if first < int(model.context_length):
    raise LikelihoodError(
        f"the warm-up of {first} samples is shorter than the model's first "
        f"frame ({model.context_length} samples)")
  kept, skipped = scored_files(files, first)
  if not kept:
    raise LikelihoodError(
        f"no test file is longer than the warm-up of "
        f"{protocol.warmup_seconds:g} s (lower --warmup_seconds)")
  codes = [c for _, c in kept]
  ends = _ends(codes, first, protocol.score_seconds, sample_rate)
  curve_ends = _ends(codes, first, protocol.curve_seconds, sample_rate)
  # The headline (whole files), then each context of the curve; the curve's
  # whole-file point is the headline when both score the same samples.
  jobs = [context_segments(model, ends, first, None)]
  for context in protocol.contexts:
    if context is not None or curve_ends != ends:
      samples = None if context is None else int(round(context * sample_rate))
      jobs.append(context_segments(model, curve_ends, first, samples))
  distinct = {tuple(chosen) for chosen, _ in jobs}
  total = sum(s.end - s.input_start for chosen in distinct for s in chosen)
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  with tqdm(total=total, unit="sample", unit_scale=True, desc=desc,
            disable=not progress, leave=False) as bar:
    embeddings = _encode_files(model, codes)
    # Jobs with the same segments (a stateless model at every c >= R) give
    # the same numbers: each is run once.
    done: dict[tuple[Segment, ...], tuple[np.ndarray, np.ndarray]] = {}
    for chosen, _ in jobs:
      if tuple(chosen) not in done:
        done[tuple(chosen)] = _score(model, codes, chosen, embeddings,
                                     bar.update)
    scores = [done[tuple(chosen)] for chosen, _ in jobs]
  computed = iter(zip(jobs[1:], scores[1:]))
  curve = []
  for context in protocol.contexts:
    if context is None and curve_ends == ends:
      (_, effective), (nats, counts) = jobs[0], scores[0]
    else:
      (_, effective), (nats, counts) = next(computed)
    curve.append(dict(context_seconds=context, context_samples=effective,
                      **_summary(nats, counts)))
  whole_nats, whole_counts = scores[0]
  head = _summary(whole_nats, whole_counts)
  return dict(
      protocol=protocol_sentence(protocol),
      warmup_seconds=protocol.warmup_seconds, first_sample=first,
      nll_bits_per_sample=head["nll_bits"],
      nll_nats_per_sample=head["nll_bits"] * LN2,
      low=head["low"], high=head["high"], samples=head["samples"],
      files=[dict(key=key, first_sample=first, samples=int(n),
                  nll_bits=float(t / n / LN2))
             for (key, _), t, n in zip(kept, whole_nats, whole_counts)],
      skipped=skipped, context=curve)


def scored_codes(files: Sequence[tuple[str, np.ndarray]], sample_rate: int,
                 protocol: Protocol) -> np.ndarray:
  """The codes the headline scores (every file from W), joined."""
  first = int(round(protocol.warmup_seconds * sample_rate))
  kept, _ = scored_files(files, first)
  if not kept:
    return np.zeros(0, np.int32)
  codes = [c for _, c in kept]
  ends = _ends(codes, first, protocol.score_seconds, sample_rate)
  return np.concatenate([c[first:end] for c, end in zip(codes, ends)])
