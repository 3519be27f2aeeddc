"""tf.data pipelines over a prepared corpus (see `common.corpus`).

`dataset(data_dir, split, batch_size, length, mode)` yields int32 code
batches `[batch, length]`:

- mode "train": random crops of `length` samples from the chunks of the
  split, shuffled, repeated forever. The stream is a pure function of the
  seed and the corpus (see `corpus_fingerprint`): epoch `e` reads the
  split's shards in an order drawn from (seed, e), interleaved, and permutes
  the records in consecutive blocks of `shuffle_buffer` drawn from (seed, e,
  block); record `r` of the stream (counted from the start of training) is
  cropped at an offset drawn from (seed, r). All draws are stateless, so
  `dataset(..., start_batch=k)` yields exactly the batches k, k+1, ... of an
  uninterrupted pipeline: a resumed run (`common.trainer`) gets the data it
  would have seen, with no iterator to save. Starting mid-epoch reads (but
  does not decode) the records of that epoch before batch k.
- mode "eval": consecutive, non-overlapping windows of `length` samples from
  every chunk, in order, once (no shuffle, no repeat).

For truncated BPTT, ask for crops of
`num_windows * seq_len + context_length` samples and cut each crop into its
windows (`common.model_api.windows`).

Under `tf.distribute`, pass the `tf.distribute.InputContext`. In train mode
every input pipeline (worker) walks the same stream and keeps its own rows
of each global batch (`_pipeline_rows`): whatever the number of workers, a
step trains on the batch one process would, and each worker crops and
decodes only its rows (it reads, but does not parse, the others'). In eval
mode the pipelines split the shard files.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Callable, NamedTuple

import numpy as np
import tensorflow as tf

from common import corpus

_FEATURES = {
    "codes": tf.io.FixedLenFeature([], tf.string),
    "file_index": tf.io.FixedLenFeature([], tf.int64),
    "offset": tf.io.FixedLenFeature([], tf.int64),
}


class DataError(ValueError):
  """A corpus that cannot feed the request (an empty split, chunks shorter
  than the crops, too few shards): the message names the corpus."""


# What each stateless random draw of the train stream is for (see `_key`).
_FILE_ORDER, _BLOCK_ORDER, _CROP_START = 1, 2, 3


def manifest(data_dir: str) -> dict:
  """The corpus's manifest.json as a dict (clear error if missing)."""
  return corpus.read_manifest(data_dir)


def shard_paths(data_dir: str, split: str) -> list[str]:
  """Paths of a split's TFRecord shards, sorted; raises if there are none."""
  if split not in corpus.SPLITS:
    raise ValueError(f"split must be one of {corpus.SPLITS}, got {split!r}")
  man = manifest(data_dir)
  names = man["splits"][split]["shards"]
  if not names:
    raise DataError(f"{data_dir}: the {split!r} split is empty "
                    f"(add files, or change --val_fraction/--test_fraction "
                    f"when preparing)")
  return [os.path.join(data_dir, n) for n in names]


def corpus_fingerprint(man: dict) -> str:
  """A short hex digest naming the training stream a manifest gives.

  Hashes the corpus settings and, for every file in manifest order, its
  content (`sha256` when the manifest has it, else its key and sample
  count), split, shard and chunk count: two corpora with the same
  fingerprint yield the same `dataset(..., mode="train")` for a seed, even
  from another directory.
  """
  entries = [[f.get("sha256") or [f["key"], f["num_samples"]], f["split"],
              f["shard"], f["num_chunks"]] for f in man["files"]]
  text = json.dumps([man["settings"], entries], sort_keys=True)
  return hashlib.sha256(text.encode()).hexdigest()[:16]


def _records_per_shard(man: dict, split: str) -> dict[str, int]:
  """{shard name: records (chunks) it holds} for a split."""
  counts: dict[str, int] = {}
  for f in man["files"]:
    if f["split"] == split:
      counts[f["shard"]] = counts.get(f["shard"], 0) + f["num_chunks"]
  return counts


def chunk_samples(data_dir: str) -> int:
  """Length of every stored chunk, in samples."""
  st = manifest(data_dir)["settings"]
  return int(round(st["chunk_seconds"] * st["sample_rate"]))


def _decoder(q_levels: int) -> Callable[[tf.Tensor], tf.Tensor]:
  dtype = tf.uint8 if q_levels <= 256 else tf.uint16

  def parse(record: tf.Tensor) -> tf.Tensor:
    ex = tf.io.parse_single_example(record, _FEATURES)
    return tf.cast(tf.io.decode_raw(ex["codes"], dtype, little_endian=True),
                   tf.int32)
  return parse


def _offset(record: tf.Tensor) -> tf.Tensor:
  return tf.io.parse_single_example(record, _FEATURES)["offset"]


def dataset(data_dir: str, split: str, batch_size: int, length: int,
            mode: str = "train", seed: int = 0, shuffle_buffer: int = 256,
            input_context: tf.distribute.InputContext | None = None,
            drop_remainder: bool = True,
            start_batch: int = 0) -> tf.data.Dataset:
  """A `tf.data.Dataset` of int32 codes `[batch_size, length]`.

  Args:
    data_dir: a directory written by `common.corpus.prepare`.
    split: "train", "val" or "test".
    batch_size: sequences per batch (per input pipeline).
    length: samples per sequence; at most the corpus's chunk length.
    mode: "train" (random crops, shuffled, repeated) or "eval" (sequential
      non-overlapping windows, once).
    seed: seed of file order, shuffling and crop offsets (train mode).
    shuffle_buffer: records permuted together (train mode).
    input_context: optional `tf.distribute.InputContext`: this input
      pipeline's part of the data (see the module's docstring); `batch_size`
      is then the per-replica batch.
    drop_remainder: drop a last partial batch (always true in train mode).
    start_batch: train mode: the index of the first batch to yield (0 for a
      new run); the batches are those an uninterrupted pipeline yields there
      (counted in this pipeline's batches).

  Raises:
    DataError: the corpus cannot give such batches.
    corpus.PrepareError: no corpus in `data_dir`.
  """
  man = manifest(data_dir)
  q_levels = man["settings"]["q_levels"]
  chunk = chunk_samples(data_dir)
  if length > chunk:
    raise DataError(
        f"{data_dir}: sequences of {length} samples are longer than the "
        f"stored chunks ({chunk} samples = chunk_seconds "
        f"{man['settings']['chunk_seconds']}); prepare with a larger "
        f"--chunk_seconds or use shorter sequences")
  paths = shard_paths(data_dir, split)
  parse = _decoder(q_levels)

  if mode == "eval":
    if input_context is not None and input_context.num_input_pipelines > 1:
      paths = paths[input_context.input_pipeline_id::
                    input_context.num_input_pipelines]
      if not paths:
        raise DataError(
            f"{data_dir}: the {split!r} split has fewer shards than the "
            f"{input_context.num_input_pipelines} input pipelines; prepare "
            f"it with a smaller --shard_megabytes")
    count = chunk // length

    def windows(record: tf.Tensor) -> tf.data.Dataset:
      codes, offset = parse(record), _offset(record)
      # The last chunk of a file ends at the file's end and may overlap the
      # chunk before it (see common.corpus); skip windows starting inside
      # that overlap so no sample is counted twice.
      overlap = tf.cast((-offset) % chunk, tf.int32)
      first = (overlap + length - 1) // length
      return tf.data.Dataset.from_tensor_slices(
          tf.reshape(codes[:count * length], [count, length])[first:])

    ds = tf.data.TFRecordDataset(paths).flat_map(windows)
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(2)

  if mode != "train":
    raise ValueError(f"mode must be 'train' or 'eval', got {mode!r}")
  counts = _records_per_shard(man, split)
  rows = _pipeline_rows(int(batch_size), input_context)
  # The pipeline's batch k is piece k % per_step of its rows of global batch
  # k // per_step.
  per_step = rows.size // int(batch_size)
  first_record = int(start_batch) // per_step * rows.pipelines * rows.size
  first_epoch, skip = divmod(
      first_record, sum(counts[os.path.basename(p)] for p in paths))
  block = max(1, int(shuffle_buffer))

  def epoch_records(epoch: tf.Tensor) -> tf.data.Dataset:
    """Serialized records of `epoch` in training order (the first epoch
    from record `skip`: whole blocks are skipped unread-by-the-parser)."""
    order = tf.random.experimental.stateless_shuffle(
        tf.constant(paths), _key(seed, _FILE_ORDER, epoch))
    records = tf.data.Dataset.from_tensor_slices(order).interleave(
        tf.data.TFRecordDataset, cycle_length=min(8, len(paths)),
        block_length=1, num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True)
    skipped = tf.where(epoch == first_epoch, tf.constant(skip, tf.int64),
                       tf.constant(0, tf.int64))
    first_block = skipped // block

    def permuted(index: tf.Tensor, records: tf.data.Dataset
                 ) -> tf.data.Dataset:
      return tf.data.Dataset.from_tensor_slices(
          tf.random.experimental.stateless_shuffle(
              records, _key(seed, _BLOCK_ORDER, epoch, index)))

    blocks = tf.data.Dataset.zip(
        tf.data.Dataset.counter(first_block),
        records.skip(first_block * block).batch(block))
    return blocks.flat_map(permuted).skip(skipped - first_block * block)

  def crop(index: tf.Tensor, record: tf.Tensor) -> tf.Tensor:
    codes = parse(record)
    start = tf.random.stateless_uniform(
        [], _key(seed, _CROP_START, index), 0, chunk - length + 1,
        dtype=tf.int32)
    return tf.ensure_shape(codes[start:start + length], [length])

  ds = tf.data.Dataset.zip(
      tf.data.Dataset.counter(first_record),
      tf.data.Dataset.counter(first_epoch).flat_map(epoch_records))
  if rows.pipelines > 1:
    ds = ds.filter(lambda index, _: index // rows.size % rows.pipelines ==
                   rows.pipeline)
  ds = ds.skip(int(start_batch) % per_step * int(batch_size))
  ds = ds.map(crop, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  ds = ds.batch(batch_size, drop_remainder=True)
  # Endless, and said so: a multi-worker iterator then does not all-reduce
  # at every batch whether some worker's data has ended.
  ds = ds.apply(tf.data.experimental.assert_cardinality(
      tf.data.INFINITE_CARDINALITY))
  return ds.prefetch(tf.data.AUTOTUNE)


class _PipelineRows(NamedTuple):
  """The rows of each global training batch one input pipeline takes: rows
  `[pipeline * size, (pipeline + 1) * size)` of the `pipelines * size`."""
  pipeline: int
  pipelines: int
  size: int


def _pipeline_rows(batch_size: int,
                   input_context: tf.distribute.InputContext | None
                   ) -> _PipelineRows:
  """This input pipeline's rows of a global batch.

  The global batch is the `pipelines * size` consecutive records of the
  train stream that one process would batch together; pipeline `p` takes
  the `size` = `batch_size` x (its local replicas) of them from row
  `p * size` on (its replicas `p * local, ...`: MultiWorkerMirroredStrategy
  numbers a worker's replicas so), in `batch_size` pieces, one per local
  replica.
  """
  if input_context is None:
    return _PipelineRows(0, 1, batch_size)
  pipelines = input_context.num_input_pipelines
  local = max(1, input_context.num_replicas_in_sync // pipelines)
  return _PipelineRows(input_context.input_pipeline_id, pipelines,
                      batch_size * local)


def _key(seed: int, *values: int | tf.Tensor) -> tf.Tensor:
  """The stateless RNG seed (int64 `[2]`) for `seed` and a tuple of ints
  (Python ints or int64 scalar tensors), e.g. (_CROP_START, record)."""
  key = tf.constant([int(seed), 0], tf.int64)
  for value in values:
    key = tf.random.experimental.stateless_fold_in(
        key, tf.cast(value, tf.int64))
  return key


def read_files(data_dir: str, split: str, max_files: int | None = None
               ) -> list[tuple[dict, np.ndarray]]:
  """Whole source files of a split, reassembled from their chunks.

  Returns a list of (manifest file entry, int32 codes `[num_samples]`) in
  manifest order, at most `max_files` of them. Meant for evaluation on
  modest splits (each file is held in memory).
  """
  man = manifest(data_dir)
  entries = [(i, f) for i, f in enumerate(man["files"]) if f["split"] == split]
  if max_files is not None:
    entries = entries[:max_files]
  if not entries:
    return []
  wanted = {i: f for i, f in entries}
  codes = {i: np.zeros(f["num_samples"], np.int32) for i, f in entries}
  parse = _decoder(man["settings"]["q_levels"])
  shards = sorted({f["shard"] for _, f in entries})
  for record in tf.data.TFRecordDataset(
      [os.path.join(data_dir, s) for s in shards]):
    ex = tf.io.parse_single_example(record, _FEATURES)
    index = int(ex["file_index"])
    if index in wanted:
      chunk = parse(record).numpy()
      offset = int(ex["offset"])
      codes[index][offset:offset + len(chunk)] = chunk
  return [(wanted[i], codes[i]) for i, _ in entries]
