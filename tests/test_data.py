"""tf.data pipelines: shapes, determinism, eval windows, split disjointness."""

import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from common import audio
from common import corpus
from common import data
from common import quantization
from conftest import FORMATS, tone, write_audio

DC_LEVELS = np.linspace(-0.7, 0.7, 9)


@pytest.fixture(scope="module")
def aligned_corpus(tmp_path_factory):
  """Files whose lengths are whole chunks (0.5 s), so no chunk overlaps."""
  src = tmp_path_factory.mktemp("aligned") / "aligned"
  src.mkdir()
  for i, (seconds, kind) in enumerate([(1.0, "wav_int16"), (1.5, "flac"),
                                       (0.5, "wav_float32"), (2.0, "wav_int24"),
                                       (1.0, "wav_int16")]):
    write_audio(src / f"{i}{FORMATS[kind][0]}",
                tone((200.0 + 70 * i, 310.0), seconds), 16000, kind)
  out = str(tmp_path_factory.mktemp("aligned_out"))
  corpus.prepare([str(src)], out, workers=1, progress=False,
                 chunk_seconds=0.5)
  return out


@pytest.fixture(scope="module")
def dc_corpus(tmp_path_factory):
  """Nine 1 s files, each a constant level, so a code names its file.

  16 kHz float wavs (no resampling, so every code of file i is code i);
  one shard per file (shard_megabytes=0), chunks of 0.25 s.
  """
  src = tmp_path_factory.mktemp("dc") / "dc"
  src.mkdir()
  for i, level in enumerate(DC_LEVELS):
    write_audio(src / f"level{i}.wav", np.full(16000, level, np.float32),
                16000, "wav_float32")
  out = str(tmp_path_factory.mktemp("dc_out"))
  man = corpus.prepare([str(src)], out, workers=1, progress=False,
                       chunk_seconds=0.25, shard_megabytes=0)
  codes = {}
  for f in man["files"]:
    level = DC_LEVELS[int(os.path.basename(f["path"])[5])]
    codes.setdefault(f["split"], set()).add(
        int(quantization.encode(np.array([level]))[0]))
  return out, codes


def file_codes(data_dir):
  """{split: [int32 codes of each file, in manifest order]}."""
  man = data.manifest(data_dir)
  out = {s: [] for s in corpus.SPLITS}
  for f in man["files"]:
    out[f["split"]].append(quantization.encode(audio.load(f["path"])))
  return out


def expected_eval_windows(data_dir, split, length):
  """What eval mode should give, from the source files: files in order, each
  chunk's consecutive windows, chunks in order; a window starting inside the
  part of a file's last chunk that overlaps the chunk before is left out."""
  chunk = data.chunk_samples(data_dir)
  windows = []
  for codes in file_codes(data_dir)[split]:
    covered = 0
    for offset in corpus._chunk_offsets(len(codes), chunk):
      for w in range(chunk // length):
        start = offset + w * length
        if start >= covered:
          windows.append(codes[start:start + length])
      covered = offset + chunk
  return np.array(windows)


def take(ds, n):
  return [b.numpy() for b in ds.take(n)]


def test_train_batches_have_the_requested_shape_and_dtype(prepared_corpus):
  ds = data.dataset(prepared_corpus, "train", 4, 300, seed=0)
  assert ds.element_spec.dtype == tf.int32
  assert ds.element_spec.shape.is_compatible_with([4, 300])
  batches = take(ds, 20)  # several epochs of the 13 train chunks
  assert len(batches) == 20
  for b in batches:
    assert b.shape == (4, 300) and b.dtype == np.int32
    assert b.min() >= 0 and b.max() <= 255


def test_train_crops_are_contiguous_pieces_of_train_files(prepared_corpus):
  codes = file_codes(prepared_corpus)
  haystacks = {s: [c.astype(np.uint8).tobytes() for c in codes[s]]
               for s in corpus.SPLITS}
  starts = set()
  for batch in take(data.dataset(prepared_corpus, "train", 8, 500, seed=1),
                    10):
    for row in batch:
      needle = row.astype(np.uint8).tobytes()
      hits = [(i, h.find(needle)) for i, h in enumerate(haystacks["train"])
              if h.find(needle) >= 0]
      assert hits, "a crop that is not a piece of any train file"
      starts.add(hits[0])
      assert not any(needle in h for s in ("val", "test")
                     for h in haystacks[s])
  assert len(starts) > 40  # random offsets, not always the chunk start


def test_same_seed_same_batches_other_seed_other_batches(prepared_corpus):
  make = lambda seed: data.dataset(prepared_corpus, "train", 4, 200,
                                   seed=seed)
  a, b = take(make(3), 12), take(make(3), 12)
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x, y)
  c = take(make(4), 12)
  assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_train_stream_started_at_batch_k_is_the_rest_of_the_stream(
    dc_corpus):
  """A resumed run reads exactly what an uninterrupted one would: from any
  batch, across blocks, shards and epochs, per input pipeline too."""
  out, _ = dc_corpus
  assert len(data.shard_paths(out, "train")) > 2
  contexts = [None] + [tf.distribute.InputContext(2, i) for i in range(2)]
  for ctx in contexts:
    make = lambda k, ctx=ctx: data.dataset(out, "train", 3, 700, seed=4,
                                           shuffle_buffer=5, input_context=ctx,
                                           start_batch=k)
    full = take(make(0), 30)  # several epochs of 4 chunks per file
    for k in (2, 11, 19):
      for want, got in zip(full[k:], take(make(k), 30 - k)):
        np.testing.assert_array_equal(got, want)


def test_every_epoch_reads_each_chunk_once_in_a_new_order(prepared_corpus):
  chunk = data.chunk_samples(prepared_corpus)  # crops are whole chunks
  count = data.manifest(prepared_corpus)["splits"]["train"]["num_chunks"]
  rows = [b[0].tobytes() for b in take(data.dataset(
      prepared_corpus, "train", 1, chunk, seed=2, shuffle_buffer=4),
                                       3 * count)]
  epochs = [rows[i * count:(i + 1) * count] for i in range(3)]
  assert all(len(set(e)) == count for e in epochs)
  assert set(epochs[0]) == set(epochs[1]) == set(epochs[2])
  assert epochs[0] != epochs[1] != epochs[2]


def test_corpus_fingerprint_names_the_stream_not_the_directory(
    prepared_corpus, tmp_path):
  man = data.manifest(prepared_corpus)
  fingerprint = data.corpus_fingerprint(man)
  assert len(fingerprint) == 16
  copy = tmp_path / "copy"
  shutil.copytree(prepared_corpus, copy)
  assert data.corpus_fingerprint(data.manifest(str(copy))) == fingerprint
  # A file is its content hash when the manifest has one (not its name)...
  hashed = copy_manifest(man, sha256=True)
  renamed = copy_manifest(hashed)
  renamed["files"][0].update(key="renamed.wav", path="/elsewhere.wav")
  assert data.corpus_fingerprint(renamed) == data.corpus_fingerprint(hashed)
  renamed["files"][0]["sha256"] = "f" * 64
  assert data.corpus_fingerprint(renamed) != data.corpus_fingerprint(hashed)
  # ... else its key and sample count. Settings, splits and shards count.
  plain = copy_manifest(man, sha256=False)
  changes = [
      lambda m: m["settings"].update(chunk_seconds=0.25),
      lambda m: m["files"][0].update(
          split="val" if m["files"][0]["split"] == "train" else "train"),
      lambda m: m["files"][0].update(shard="train-00009.tfrecord"),
      lambda m: m["files"][0].update(num_chunks=7),
      lambda m: m["files"][0].update(key="renamed.wav"),
      lambda m: m["files"][0].update(num_samples=7),
      lambda m: m["files"].append(dict(m["files"][0], key="new.wav")),
  ]
  for change in changes:
    other = copy_manifest(plain)
    change(other)
    assert data.corpus_fingerprint(other) != data.corpus_fingerprint(plain)


def copy_manifest(man, sha256=None):
  """A deep copy; with `sha256` True/False every file gets a made-up
  content hash / loses it."""
  man = json.loads(json.dumps(man))
  for i, f in enumerate(man["files"]):
    if sha256:
      f["sha256"] = f"{i:064x}"
    elif sha256 is False:
      f.pop("sha256", None)
  return man


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_eval_windows_are_sequential_and_reproduce_the_codes(aligned_corpus,
                                                             split):
  length = 1000
  man = data.manifest(aligned_corpus)
  assert not any(f["num_samples"] % 8000 for f in man["files"])
  want = expected_eval_windows(aligned_corpus, split, length)
  assert len(want) == 8 * sum(f["num_chunks"] for f in man["files"]
                              if f["split"] == split)
  ds = data.dataset(aligned_corpus, split, 3, length, mode="eval",
                    drop_remainder=False)
  assert ds.element_spec == tf.TensorSpec([None, length], tf.int32)
  got = np.concatenate(take(ds, -1))
  assert got.dtype == np.int32
  np.testing.assert_array_equal(got, want)
  # Consecutive and non-overlapping: the windows tile the files in order.
  np.testing.assert_array_equal(
      got.reshape(-1), np.concatenate(file_codes(aligned_corpus)[split]))
  # drop_remainder (the default) gives whole batches only.
  kept = np.concatenate(take(data.dataset(aligned_corpus, split, 3, length,
                                          mode="eval"), -1))
  assert len(kept) == len(want) // 3 * 3
  np.testing.assert_array_equal(kept, want[:len(kept)])


def test_eval_never_counts_a_sample_twice(prepared_corpus):
  """Eval windows must not overlap in the source file.

  A file whose length is not a multiple of the chunk has a last chunk that
  overlaps the one before it (`corpus._chunk_offsets`); eval mode must not
  evaluate that overlap twice.
  """
  length = 500
  man = data.manifest(prepared_corpus)
  assert any(f["num_samples"] % data.chunk_samples(prepared_corpus)
             for f in man["files"])  # the case that matters is present
  for split in corpus.SPLITS:
    files = [f for f in man["files"] if f["split"] == split]
    got = np.concatenate(take(data.dataset(
        prepared_corpus, split, 1, length, mode="eval"), -1))
    assert len(got) * length <= sum(f["num_samples"] for f in files), split
    np.testing.assert_array_equal(
        got, expected_eval_windows(prepared_corpus, split, length))


def test_crops_come_only_from_the_requested_split(dc_corpus):
  out, codes = dc_corpus
  assert all(codes.get(s) for s in corpus.SPLITS)
  seen = set()
  for batch in take(data.dataset(out, "train", 4, 1000, seed=0), 40):
    seen |= set(np.unique(batch).tolist())
  assert seen == codes["train"]  # every train file, nothing else
  for split in ("val", "test"):
    got = np.concatenate(take(data.dataset(out, split, 2, 1000, mode="eval"),
                              -1))
    assert set(np.unique(got).tolist()) == codes[split]
    got = np.concatenate(take(data.dataset(out, split, 2, 1000, seed=5), 10))
    assert set(np.unique(got).tolist()) <= codes[split]
  assert not (codes["train"] & codes["val"] or codes["train"] & codes["test"]
              or codes["val"] & codes["test"])


def test_input_context_shards_files_between_pipelines(dc_corpus):
  out, codes = dc_corpus
  assert len(data.shard_paths(out, "train")) == len(codes["train"]) >= 2
  parts = []
  for i in range(2):
    ctx = tf.distribute.InputContext(num_input_pipelines=2,
                                     input_pipeline_id=i)
    got = np.concatenate(take(data.dataset(out, "train", 2, 1000,
                                           mode="eval", input_context=ctx),
                              -1))
    parts.append(set(np.unique(got).tolist()))
  assert parts[0] and parts[1] and not parts[0] & parts[1]
  assert parts[0] | parts[1] == codes["train"]


def test_length_up_to_the_chunk_works_longer_raises(prepared_corpus):
  chunk = data.chunk_samples(prepared_corpus)
  assert chunk == 8000
  batch = take(data.dataset(prepared_corpus, "train", 2, chunk), 1)[0]
  assert batch.shape == (2, chunk)
  for mode in ("train", "eval"):
    with pytest.raises(data.DataError, match="longer than the stored chunks"):
      data.dataset(prepared_corpus, "train", 2, chunk + 1, mode=mode)


def test_empty_split_and_bad_arguments_raise(tmp_path, prepared_corpus):
  src = tmp_path / "two"
  src.mkdir()
  for i in range(2):
    write_audio(src / f"{i}.wav", np.full(8000, 0.1 * i, np.float32), 16000,
                "wav_float32")
  out = str(tmp_path / "out")
  corpus.prepare([str(src)], out, workers=1, progress=False,
                 chunk_seconds=0.25, val_fraction=0, test_fraction=0)
  for split in ("val", "test"):
    for mode in ("train", "eval"):
      with pytest.raises(data.DataError,
                         match=f"the '{split}' split is empty"):
        data.dataset(out, split, 2, 100, mode=mode)
  assert take(data.dataset(out, "train", 2, 100), 1)[0].shape == (2, 100)
  with pytest.raises(ValueError, match="split must be one of"):
    data.dataset(prepared_corpus, "validation", 2, 100)
  with pytest.raises(ValueError, match="mode must be"):
    data.dataset(prepared_corpus, "train", 2, 100, mode="test")
  with pytest.raises(corpus.PrepareError, match="no manifest.json"):
    data.dataset(str(tmp_path), "train", 2, 100)


def test_sixteen_bit_codes_read_back(tmp_path):
  src = tmp_path / "c"
  src.mkdir()
  x = np.sin(np.linspace(0, 300, 12000)).astype(np.float32) * 0.9
  write_audio(src / "a.wav", x, 16000, "wav_float32")
  out = str(tmp_path / "out")
  corpus.prepare([str(src)], out, workers=1, progress=False,
                 chunk_seconds=0.25, quantization="a_law", q_levels=1024,
                 val_fraction=0, test_fraction=0)
  got = np.concatenate(take(data.dataset(out, "train", 1, 4000, mode="eval"),
                            -1))
  want = quantization.encode(x, "a_law", 1024)
  np.testing.assert_array_equal(got, [want[:4000], want[4000:8000],
                                      want[8000:]])
  assert got.max() > 1000 and got.min() < 24
