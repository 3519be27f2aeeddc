"""tf.data pipelines over a prepared corpus (see `common.prepare`).

`dataset(data_dir, split, batch_size, length, mode)` yields int32 code
batches `[batch, length]`:

- mode "train": random crops of `length` samples from the chunks of the
  split, shuffled, repeated forever, deterministic for a seed. The random crop
  offsets come from stateless RNG keyed on (seed, example index), so the
  pipeline's position is fully described by its iterator, which
  `common.trainer` saves in every checkpoint (exact resume).
- mode "eval": consecutive, non-overlapping windows of `length` samples from
  every chunk, in order, once (no shuffle, no repeat).

For truncated BPTT (SampleRNN), ask for crops of
`num_windows * seq_len + context_length` samples and cut each crop into its
windows (`common.model_api.windows`); WaveNet uses one window per crop.

Under `tf.distribute`, pass the `tf.distribute.InputContext` to shard files
between input pipelines (workers).
"""

import os

import numpy as np
import tensorflow as tf

from common import prepare

_FEATURES = {
    "codes": tf.io.FixedLenFeature([], tf.string),
    "file_index": tf.io.FixedLenFeature([], tf.int64),
    "offset": tf.io.FixedLenFeature([], tf.int64),
}


def manifest(data_dir):
  """The corpus's manifest.json as a dict (clear error if missing)."""
  return prepare.read_manifest(data_dir)


def shard_paths(data_dir, split):
  """Paths of a split's TFRecord shards, sorted; raises if there are none."""
  if split not in prepare.SPLITS:
    raise ValueError(f"split must be one of {prepare.SPLITS}, got {split!r}")
  man = manifest(data_dir)
  names = man["splits"][split]["shards"]
  if not names:
    raise ValueError(f"{data_dir}: the {split!r} split is empty "
                     f"(add files, or change --val_fraction/--test_fraction "
                     f"when preparing)")
  return [os.path.join(data_dir, n) for n in names]


def chunk_samples(data_dir):
  """Length of every stored chunk, in samples."""
  st = manifest(data_dir)["settings"]
  return int(round(st["chunk_seconds"] * st["sample_rate"]))


def _decoder(q_levels):
  dtype = tf.uint8 if q_levels <= 256 else tf.uint16

  def parse(record):
    ex = tf.io.parse_single_example(record, _FEATURES)
    return tf.cast(tf.io.decode_raw(ex["codes"], dtype, little_endian=True),
                   tf.int32)
  return parse


def _offset(record):
  return tf.io.parse_single_example(record, _FEATURES)["offset"]


def dataset(data_dir, split, batch_size, length, mode="train", seed=0,
            shuffle_buffer=256, input_context=None, drop_remainder=True):
  """A `tf.data.Dataset` of int32 codes `[batch_size, length]`.

  Args:
    data_dir: a directory written by `common.prepare`.
    split: "train", "val" or "test".
    batch_size: sequences per batch (per input pipeline).
    length: samples per sequence; at most the corpus's chunk length.
    mode: "train" (random crops, shuffled, repeated) or "eval" (sequential
      non-overlapping windows, once).
    seed: seed of file order, shuffling and crop offsets (train mode).
    shuffle_buffer: chunks held for shuffling (train mode).
    input_context: optional `tf.distribute.InputContext` for sharding.
    drop_remainder: drop a last partial batch (always true in train mode).
  """
  man = manifest(data_dir)
  q_levels = man["settings"]["q_levels"]
  chunk = chunk_samples(data_dir)
  if length > chunk:
    raise ValueError(
        f"{data_dir}: sequences of {length} samples are longer than the "
        f"stored chunks ({chunk} samples = chunk_seconds "
        f"{man['settings']['chunk_seconds']}); prepare with a larger "
        f"--chunk_seconds or use shorter sequences")
  paths = shard_paths(data_dir, split)
  files = tf.data.Dataset.from_tensor_slices(paths)
  if input_context is not None and input_context.num_input_pipelines > 1:
    files = files.shard(input_context.num_input_pipelines,
                        input_context.input_pipeline_id)
  parse = _decoder(q_levels)

  if mode == "eval":
    count = chunk // length

    def windows(record):
      codes, offset = parse(record), _offset(record)
      # The last chunk of a file ends at the file's end and may overlap the
      # chunk before it (see common.prepare); skip windows starting inside
      # that overlap so no sample is counted twice.
      overlap = tf.cast((-offset) % chunk, tf.int32)
      first = (overlap + length - 1) // length
      return tf.data.Dataset.from_tensor_slices(
          tf.reshape(codes[:count * length], [count, length])[first:])

    ds = tf.data.TFRecordDataset(files).flat_map(windows)
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(2)

  if mode != "train":
    raise ValueError(f"mode must be 'train' or 'eval', got {mode!r}")
  files = files.shuffle(len(paths), seed=seed,
                        reshuffle_each_iteration=True).repeat()
  ds = files.interleave(tf.data.TFRecordDataset,
                        cycle_length=min(8, len(paths)), block_length=1,
                        num_parallel_calls=tf.data.AUTOTUNE,
                        deterministic=True)
  ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)

  def crop(index, record):
    codes = parse(record)
    start = tf.random.stateless_uniform(
        [], [seed, tf.cast(index, tf.int32)], 0, chunk - length + 1,
        dtype=tf.int32)
    return tf.ensure_shape(codes[start:start + length], [length])

  ds = ds.enumerate().map(crop, num_parallel_calls=tf.data.AUTOTUNE,
                          deterministic=True)
  ds = ds.batch(batch_size, drop_remainder=True)
  return ds.prefetch(tf.data.AUTOTUNE)


def read_files(data_dir, split, max_files=None):
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
