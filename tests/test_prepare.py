"""Corpus preparation: manifest, shards, bad inputs, splits, re-runs, CLI,
bounded memory on a long file."""

import hashlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf

from common import audio
from common import corpus
from common import quantization
from conftest import ROOT, tone, write_audio, write_bad_files

CHUNK_SECONDS = 0.25
CHUNK = 4000
GOOD = {  # name -> (kind, sample rate, channels, seconds)
    "good_float16k.wav": ("wav_float32", 16000, 1, 1.2),
    "good_stereo44k.wav": ("wav_int16", 44100, 2, 1.0),
    "good_22k.flac": ("flac", 22050, 1, 0.8),
}


def write_good(directory, names=GOOD):
  os.makedirs(directory, exist_ok=True)
  paths = {}
  for i, name in enumerate(names):
    kind, sr, channels, seconds = GOOD.get(name, ("wav_float32", 16000, 1,
                                                  0.6))
    x = tone((220.0 * (1 + i / 4),), seconds, sr)
    data = x if channels == 1 else np.stack([x, 0.5 * x], axis=1)
    paths[name] = write_audio(os.path.join(directory, name), data, sr, kind)
  return paths


def run(inputs, out, **kwargs):
  kwargs.setdefault("chunk_seconds", CHUNK_SECONDS)
  return corpus.prepare([str(i) for i in inputs], str(out), workers=kwargs.pop(
      "workers", 1), progress=False, **kwargs)


def read_shards(out):
  """[(shard name, file_index, offset, codes)] of every record, in order."""
  man = corpus.read_manifest(str(out))
  dtype = corpus.code_dtype(man["settings"]["q_levels"])
  features = {"codes": tf.io.FixedLenFeature([], tf.string),
              "file_index": tf.io.FixedLenFeature([], tf.int64),
              "offset": tf.io.FixedLenFeature([], tf.int64)}
  records = []
  for name in sorted(n for n in os.listdir(out) if n.endswith(".tfrecord")):
    for raw in tf.data.TFRecordDataset(os.path.join(out, name)):
      ex = tf.io.parse_single_example(raw, features)
      records.append((name, int(ex["file_index"]), int(ex["offset"]),
                      np.frombuffer(ex["codes"].numpy(), dtype)))
  return records


def listing(directory):
  return sorted(os.listdir(directory))


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
  """Good files + every kind of bad input, prepared once."""
  src = tmp_path_factory.mktemp("mixed") / "input"
  paths = write_good(str(src))
  bad = write_bad_files(str(src))
  (src / "notes.txt").write_text("not audio, not an audio extension")
  out = tmp_path_factory.mktemp("mixed_out")
  manifest = run([src], out)
  return dict(src=str(src), out=str(out), manifest=manifest, good=paths,
              bad=bad)


def test_good_files_used_and_every_bad_file_skipped_with_reason(mixed):
  man = mixed["manifest"]
  used = sorted(os.path.basename(f["path"]) for f in man["files"])
  assert used == sorted(GOOD)
  skipped = {os.path.basename(s["path"]): s["reason"] for s in man["skipped"]}
  assert sorted(skipped) == sorted(mixed["bad"])  # notes.txt is not listed
  for name, reason in mixed["bad"].items():
    assert reason in skipped[name], (name, skipped[name])
  text = corpus.summary_text(man)
  for s in man["skipped"]:
    assert s["path"] in text and s["reason"] in text
  assert "files used: 3, skipped: 8" in text


def test_manifest_on_disk_holds_settings_files_and_splits(mixed):
  man = mixed["manifest"]
  disk = json.load(open(os.path.join(mixed["out"], "manifest.json")))
  assert disk == {k: v for k, v in man.items() if not k.startswith("_")}
  assert disk["version"] == corpus.MANIFEST_VERSION
  assert disk["settings"] == corpus.default_settings(
      chunk_seconds=CHUNK_SECONDS)
  assert disk["settings"]["sample_rate"] == 16000
  assert disk["settings"]["quantization"] == "mu_law"
  assert disk["settings"]["q_levels"] == 256
  for f in disk["files"]:
    kind, sr, channels, seconds = GOOD[os.path.basename(f["path"])]
    assert f["source_seconds"] == pytest.approx(seconds, abs=1e-3)
    assert f["duration_seconds"] == pytest.approx(seconds, abs=1e-3)
    assert abs(f["num_samples"] - seconds * 16000) <= 4
    assert f["num_chunks"] == -(-f["num_samples"] // CHUNK)
    assert f["split"] in corpus.SPLITS
    assert f["key"] == os.path.join("input", os.path.basename(f["path"]))
    assert f["sha256"] == hashlib.sha256(open(f["path"], "rb").read(
        )).hexdigest()
    assert os.path.exists(os.path.join(mixed["out"], f["shard"]))
  for split in corpus.SPLITS:
    chosen = [f for f in disk["files"] if f["split"] == split]
    s = disk["splits"][split]
    assert s["num_files"] == len(chosen)
    assert s["num_chunks"] == sum(f["num_chunks"] for f in chosen)
    assert s["num_samples"] == sum(f["num_samples"] for f in chosen)
    assert s["shards"] == sorted({f["shard"] for f in chosen})
  # No scratch or temporary files are left.
  assert all(n == "manifest.json" or n.endswith(".tfrecord")
             for n in listing(mixed["out"]))


def test_shards_parse_and_hold_every_files_codes(mixed):
  man = mixed["manifest"]
  records = read_shards(mixed["out"])
  assert len(records) == sum(f["num_chunks"] for f in man["files"])
  for index, f in enumerate(man["files"]):
    mine = [r for r in records if r[1] == index]
    # The whole file sits in shards of its own split.
    assert {r[0] for r in mine} == {f["shard"]}
    assert f["shard"].startswith(f["split"] + "-")
    offsets = [r[2] for r in mine]
    assert offsets == corpus._chunk_offsets(f["num_samples"], CHUNK)
    assert offsets[0] == 0 and offsets[-1] + CHUNK == f["num_samples"]
    # Every chunk is CHUNK codes: the file's own codes at that offset.
    want = quantization.encode(audio.load(f["path"]))
    assert len(want) == f["num_samples"]
    for _, _, offset, codes in mine:
      assert codes.dtype == np.uint8 and len(codes) == CHUNK
      np.testing.assert_array_equal(codes, want[offset:offset + CHUNK])
  # A 16 kHz float file is not resampled: codes of the original samples.
  f = next(f for f in man["files"] if f["path"].endswith("float16k.wav"))
  data, _ = sf.read(f["path"], dtype="float32")
  first = next(r for r in records if r[1] == man["files"].index(f))
  np.testing.assert_array_equal(first[3], quantization.encode(data[:CHUNK]))


def test_preparation_is_deterministic_and_parallel_gives_the_same(
    mixed, tmp_path):
  other = run([mixed["src"]], tmp_path / "again", workers=2)
  strip = lambda m: {k: v for k, v in m.items()
                     if k != "seconds_taken" and not k.startswith("_")}
  assert strip(other) == strip(mixed["manifest"])
  for name in listing(mixed["out"]):
    if name.endswith(".tfrecord"):
      assert (open(os.path.join(mixed["out"], name), "rb").read() ==
              open(tmp_path / "again" / name, "rb").read())


def test_chunk_offsets_cover_the_file():
  assert corpus._chunk_offsets(10, 4) == [0, 4, 6]
  assert corpus._chunk_offsets(8, 4) == [0, 4]
  assert corpus._chunk_offsets(4, 4) == [0]
  assert corpus._chunk_offsets(3, 4) == []


# ---- splits ----------------------------------------------------------------

_PITCHES = itertools.count()


def write_tones(directory, prefix, wants, settings=None):
  """Writes one 0.6 s float wav per wanted split (e.g. ("val", "train")).

  Files are named f"{prefix}000.wav", ...; each is a tone of its own pitch
  (never repeated in this module), drawn until its content hash gives the
  wanted split under `settings`. Returns the paths (str), in order.
  """
  settings = settings or corpus.default_settings()
  os.makedirs(directory, exist_ok=True)
  paths = []
  for i, want in enumerate(wants):
    path = os.path.join(directory, f"{prefix}{i:03d}.wav")
    for _ in range(200):  # P(never) = 0.9**200 for a 10 % split
      write_audio(path, tone((100.0 + 3.0 * next(_PITCHES),), 0.6), 16000,
                  "wav_float32")
      if corpus.split_of(path, settings, corpus.file_sha256(path)) == want:
        break
    else:
      raise AssertionError(f"no tone of the 200 tried falls in {want}")
    paths.append(path)
  return paths


def test_file_sha256_hashes_the_bytes_in_blocks(tmp_path):
  data = np.random.default_rng(1).bytes(5000)
  (tmp_path / "x.bin").write_bytes(data)
  want = hashlib.sha256(data).hexdigest()
  assert corpus.file_sha256(str(tmp_path / "x.bin")) == want
  assert corpus.file_sha256(str(tmp_path / "x.bin"), block_bytes=7) == want


def test_split_function_is_deterministic_seeded_and_roughly_fractional():
  groups = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(2000)]
  settings = corpus.default_settings()
  splits = corpus.assign_splits(groups, settings)
  assert splits == corpus.assign_splits(list(reversed(groups)), settings)
  # Without split_by a file's group is its content hash, whatever its name.
  assert splits == {g: corpus.split_of(f"any/{i}.wav", settings, g)
                    for i, g in enumerate(groups)}
  counts = {s: list(splits.values()).count(s) for s in corpus.SPLITS}
  assert 140 < counts["val"] < 260 and 140 < counts["test"] < 260
  other = corpus.assign_splits(groups, corpus.default_settings(seed=1))
  assert sum(splits[g] != other[g] for g in groups) > 300
  # Adding groups never moves the ones there before (hash-only regime).
  more = corpus.assign_splits(groups + [f"new{i}" for i in range(500)],
                              settings)
  assert all(more[g] == splits[g] for g in groups)


def test_small_corpora_get_non_empty_val_and_test():
  settings = corpus.default_settings()
  hash_train = [g for g in (f"g{i}" for i in range(100))
                if corpus.assign_splits([g], settings)[g] == "train"][:4]
  splits = corpus.assign_splits(hash_train, settings)
  assert sorted(splits.values()) == ["test", "train", "train", "val"]


def test_split_follows_the_content_and_stays_put_when_files_are_added(
    tmp_path):
  src = tmp_path / "a" / "corpus"
  write_tones(src, "f", ["train", "val", "train", "test", "train"])
  before = run([src], tmp_path / "out1")
  split_before = {f["sha256"]: f["split"] for f in before["files"]}
  assert sorted(split_before.values()) == ["test", "train", "train", "train",
                                           "val"]
  write_tones(src, "g", ["val", "train", "test", "train"])
  after = run([src], tmp_path / "out2")  # a new output dir
  split_after = {f["sha256"]: f["split"] for f in after["files"]}
  assert len(split_after) == 9
  assert all(split_after[k] == v for k, v in split_before.items())
  # Other names in another folder layout: the same bytes, the same split.
  moved = tmp_path / "b" / "elsewhere"
  for i, f in enumerate(after["files"]):
    dest = moved / f"sub{i % 2}" / f"renamed{8 - i}.wav"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(f["path"], dest)
  again = run([moved], tmp_path / "out3")
  assert {f["sha256"]: f["split"] for f in again["files"]} == split_after
  # No file's chunks in two splits.
  for f_index, f in enumerate(after["files"]):
    shards = {r[0] for r in read_shards(tmp_path / "out2") if r[1] == f_index}
    assert shards == {f["shard"]}


def test_split_by_keeps_groups_together(tmp_path):
  src = tmp_path / "nsynth"
  names = [f"inst{i}-{p:03d}-{v:03d}.wav" for i in range(4) for p in (60, 64)
           for v in (25, 127)]
  write_good(str(src), names)
  pattern = r"(inst\d+)-"
  man = run([src], tmp_path / "out", split_by=pattern)
  assert man["settings"]["split_by"] == pattern
  by_group = {}
  for f in man["files"]:
    by_group.setdefault(os.path.basename(f["path"])[:5], set()).add(f["split"])
  assert len(by_group) == 4
  assert all(len(s) == 1 for s in by_group.values())
  assert len(set().union(*by_group.values())) == 3  # train, val and test
  # The group named in the relative path is what is hashed, not the content.
  settings = corpus.default_settings(split_by=pattern)
  assert len({corpus.split_of(f"x/inst7-{p}.wav", settings, f"{p:064x}")
              for p in range(20)}) == 1
  assert corpus.group_of("x/inst7-3.wav", settings, "ab12") == "inst7"
  # A file the pattern does not match is its own group: its content.
  assert corpus.group_of("x/other.wav", settings, "ab12") == "ab12"
  with pytest.raises(ValueError, match="x/other.wav.*sha256"):
    corpus.group_of("x/other.wav", settings)
  # Other split_by in the same output dir is refused.
  with pytest.raises(corpus.PrepareError, match="split_by"):
    run([src], tmp_path / "out")
  # So is a pattern that is no regular expression, before any work.
  with pytest.raises(corpus.PrepareError,
                     match=r"split_by: '\(' is not a regular expression"):
    run([src], tmp_path / "new", split_by="(")
  assert not (tmp_path / "new").exists()


def test_the_notes_recipes_split_by_groups_keep_their_splits():
  # The shipped autoencoder's corpus (pretrained/recipes/wavenet_notes.sh):
  # 702 notes split by instrument-pitch, 573/63/66 as its model card says.
  # Its groups are named in the paths, so hashing content for files outside
  # split_by groups leaves its test split as it was.
  from pretrained.recipes import notes  # pylint: disable=g-import-not-at-top
  jobs = notes._note_jobs(  # pylint: disable=protected-access
      (0, 4, 11, 19, 24, 32, 40, 42, 56, 65, 73, 80), range(36, 85),
      (75, 100, 127), 2)
  keys = ["notes_wav/" + notes.note_filename(*job) for job in jobs]
  settings = corpus.default_settings(chunk_seconds=4,
                                     split_by=r"(.*)-\d+\.wav$")
  groups = corpus.assign_splits(
      [corpus.group_of(k, settings) for k in keys], settings)
  splits = [groups[corpus.group_of(k, settings)] for k in keys]
  assert [splits.count(s) for s in corpus.SPLITS] == [573, 63, 66]
  assert all(corpus.split_of(k, settings) == s for k, s in zip(keys, splits))
  assert splits[keys.index("notes_wav/organ_church_019-060-100.wav")] == "test"


# ---- re-runs and duplicates -----------------------------------------------


def test_rerun_with_same_settings_adds_only_new_files(tmp_path):
  src = tmp_path / "corpus"
  write_tones(src, "r", ["train", "train", "val", "test"])
  write_bad_files(str(src / "bad"))
  out = tmp_path / "out"
  first = run([src], out)
  shards = {n: open(out / n, "rb").read() for n in listing(out)
            if n.endswith(".tfrecord")}
  assert len(first["skipped"]) == 8

  write_tones(src, "s", ["train", "val"])
  second = run([src], out)
  assert second["files"][:4] == first["files"]  # old entries untouched
  assert len(second["files"]) == 6
  assert second["skipped"] == first["skipped"]  # not retried, not repeated
  assert second["_new_source_seconds"] == pytest.approx(1.2, abs=1e-3)
  for name, data in shards.items():  # old shards kept as they are
    assert open(out / name, "rb").read() == data
  new_shards = {f["shard"] for f in second["files"][4:]}
  assert not new_shards & set(shards)
  assert all(os.path.exists(out / n) for n in new_shards)
  records = read_shards(out)
  assert len(records) == sum(f["num_chunks"] for f in second["files"])
  assert sorted({r[1] for r in records}) == list(range(6))
  assert json.load(open(out / "manifest.json"))["splits"] == second["splits"]

  third = run([src], out)  # nothing new
  assert third["files"] == second["files"]
  assert third["skipped"] == second["skipped"]
  assert third["_new_source_seconds"] == 0
  assert third["_already_prepared"] == 0
  assert listing(out) == sorted(list(shards) + list(new_shards) +
                                ["manifest.json"])


def test_moved_and_renamed_input_adds_nothing_and_says_so(tmp_path, capsys):
  src = tmp_path / "corpus"
  write_tones(src, "m", ["train", "val", "test", "train"])
  out = tmp_path / "out"
  first = run([src], out)
  before = {n: open(out / n, "rb").read() for n in listing(out)
            if n != "manifest.json"}
  renamed = tmp_path / "moved" / "corpus_renamed"
  renamed.parent.mkdir()
  os.rename(src, renamed)
  os.rename(renamed / "m000.wav", renamed / "first.wav")
  capsys.readouterr()
  again = run([renamed], out)
  assert again["files"] == first["files"]
  assert again["skipped"] == first["skipped"] == []
  assert again["_new_source_seconds"] == 0
  assert again["_already_prepared"] == 4
  assert "4 file(s) already prepared from another path" in (
      capsys.readouterr().err)
  assert {n: open(out / n, "rb").read() for n in listing(out)
          if n != "manifest.json"} == before


def test_a_test_file_copied_under_a_new_name_does_not_reach_training(
    tmp_path):
  src = tmp_path / "corpus"
  held_out = write_tones(src, "c", ["train", "test", "val", "train"])[1]
  sha256 = corpus.file_sha256(held_out)
  out = tmp_path / "out"
  run([src], out)
  # A name whose path hash is "train": where path-keyed preparation put it.
  copy = src / "extra" / "new_name.wav"
  copy.parent.mkdir()
  shutil.copy(held_out, copy)
  codes = quantization.encode(audio.load(held_out)).astype(np.uint8)
  held_out_chunks = {codes[o:o + CHUNK].tobytes()
                     for o in corpus._chunk_offsets(len(codes), CHUNK)}
  later = run([src], out)  # the copy added later
  in_one_run = run([src], tmp_path / "fresh")  # both found in one run
  for directory, man in ((out, later), (tmp_path / "fresh", in_one_run)):
    train = [r for r in read_shards(directory) if r[0].startswith("train-")]
    assert len(held_out_chunks) == 3 and not any(
        r[3].tobytes() in held_out_chunks for r in train)
    assert len(train) == 6  # two 0.6 s train files, 3 chunks each
    assert [(f["path"], f["split"]) for f in man["files"]
            if f["sha256"] == sha256] == [(held_out, "test")]
    assert man["skipped"] == [dict(
        path=str(copy), sha256=sha256,
        reason=f"duplicate of {held_out} (same bytes)",
        duplicate_of=held_out)]
  assert run([src], out)["skipped"] == later["skipped"]  # listed once


def test_rerun_on_a_version_1_manifest_is_refused(tmp_path):
  src = tmp_path / "corpus"
  write_tones(src, "v", ["train", "val", "test"])
  out = tmp_path / "out"
  run([src], out)
  disk = json.load(open(out / "manifest.json"))
  disk["version"] = 1  # as written before files were identified by content
  for f in disk["files"]:
    del f["sha256"]
  (out / "manifest.json").write_text(json.dumps(disk))
  before = {n: open(out / n, "rb").read() for n in listing(out)}
  with pytest.raises(corpus.PrepareError,
                    match=r"version 1.*by path.*new --output_dir"):
    run([src], out)
  assert {n: open(out / n, "rb").read() for n in listing(out)} == before


@pytest.mark.parametrize("change", [dict(q_levels=16), dict(sample_rate=8000),
                                    dict(quantization="a_law"),
                                    dict(chunk_seconds=0.5), dict(seed=3),
                                    dict(val_fraction=0.3)])
def test_rerun_with_other_settings_is_refused(tmp_path, change):
  src = tmp_path / "corpus"
  write_good(str(src), ["one.wav", "two.wav", "three.wav"])
  out = tmp_path / "out"
  run([src], out)
  before = {n: open(out / n, "rb").read() for n in listing(out)}
  write_good(str(src), ["four.wav"])
  with pytest.raises(corpus.PrepareError) as e:
    run([src], out, **change)
  key = next(iter(change))
  assert "other settings" in str(e.value) and key in str(e.value)
  assert {n: open(out / n, "rb").read() for n in listing(out)} == before


def test_nothing_usable_raises(tmp_path):
  write_bad_files(str(tmp_path / "bad"))
  with pytest.raises(corpus.PrepareError, match="no usable audio"):
    run([tmp_path / "bad"], tmp_path / "out")
  skipped = corpus.read_manifest(str(tmp_path / "out"))["skipped"]
  assert len(skipped) == 8  # still reported on disk
  (tmp_path / "nothing").mkdir()
  with pytest.raises(corpus.PrepareError, match="no usable audio"):
    run([tmp_path / "nothing"], tmp_path / "out2")


def test_a_run_that_found_nothing_usable_does_not_block_the_retry(tmp_path):
  """Files shorter than a chunk: nothing usable. The corrected retry with a
  shorter chunk is accepted and prepares them."""
  write_good(str(tmp_path / "src"), ["one.wav", "two.wav", "three.wav"])
  with pytest.raises(corpus.PrepareError, match="no usable audio"):
    run([tmp_path / "src"], tmp_path / "out", chunk_seconds=60.0)
  manifest = run([tmp_path / "src"], tmp_path / "out", chunk_seconds=0.25)
  assert len(manifest["files"]) == 3 and not manifest["skipped"]
  with pytest.raises(audio.AudioError, match="no such file or folder"):
    run([tmp_path / "missing"], tmp_path / "out3")


def test_missing_manifest_is_a_clear_error(tmp_path):
  with pytest.raises(corpus.PrepareError, match="no manifest.json"):
    corpus.read_manifest(str(tmp_path))


def test_other_quantizers_and_levels_store_their_codes(tmp_path):
  src = tmp_path / "c"
  paths = write_good(str(src), ["a.wav", "b.wav", "c.wav"])
  man = run([src], tmp_path / "out", quantization="a_law", q_levels=1024)
  records = read_shards(tmp_path / "out")
  for index, f in enumerate(man["files"]):
    data, _ = sf.read(paths[os.path.basename(f["path"])], dtype="float32")
    want = quantization.encode(data, "a_law", 1024)
    for _, _, offset, codes in (r for r in records if r[1] == index):
      assert codes.dtype == np.dtype("<u2")
      np.testing.assert_array_equal(codes, want[offset:offset + CHUNK])
  assert max(int(r[3].max()) for r in records) > 255
  with pytest.raises(corpus.PrepareError, match="unknown quantization"):
    run([src], tmp_path / "bad", quantization="ulaw")


def test_trim_silence_shortens_long_silences(tmp_path):
  x = tone(seconds=0.5, envelope=False)
  gap = np.zeros(2 * 16000, np.float32)
  data = np.concatenate([x, gap, x])
  (tmp_path / "src").mkdir()
  path = write_audio(tmp_path / "src" / "gappy.wav", data, 16000,
                     "wav_float32")
  trimmed = run([path], tmp_path / "out", trim_silence_db=-60.0,
                val_fraction=0, test_fraction=0)["files"][0]
  # 0.5 s tone + 0.5 s of the 2 s gap kept + 0.5 s tone.
  assert abs(trimmed["num_samples"] - 1.5 * 16000) <= 800
  assert trimmed["source_seconds"] == pytest.approx(3.0)
  full = run([path], tmp_path / "out2", val_fraction=0,
             test_fraction=0)["files"][0]
  assert full["num_samples"] == 3 * 16000
  # Block by block gives the same as all at once.
  state, whole = {}, corpus.trim_silence(data, 16000, -60.0, {})
  parts = [corpus.trim_silence(b, 16000, -60.0, state)
           for b in np.array_split(data, 7)]
  np.testing.assert_array_equal(np.concatenate(parts), whole)


# ---- interrupted runs (the fault matrix row of common.prepare) ------------


def untimed_manifest(out):
  man = json.load(open(out / "manifest.json"))
  del man["seconds_taken"]
  return man


def outputs(out):
  """(manifest without its timing, {name: bytes} of every other file)."""
  return untimed_manifest(out), {n: open(out / n, "rb").read()
                                 for n in listing(out) if n != "manifest.json"}


def test_rerun_removes_what_an_interrupted_run_left(tmp_path):
  src = tmp_path / "corpus"
  write_tones(src, "k", ["train", "val", "test", "train"])
  run([src], tmp_path / "reference")
  out = tmp_path / "out"
  # What a run killed before writing its manifest leaves: a scratch folder,
  # temporary shards and manifest (files.atomic_path's names), and a shard
  # no manifest lists, here one this re-run does not write again.
  (out / ".scratch-abc123").mkdir(parents=True)
  (out / ".scratch-abc123" / "0.raw").write_bytes(b"\0" * 10)
  (out / ".val-00000.x1y2z3ab.tmp.tfrecord").write_bytes(b"partial")
  (out / ".manifest.a1b2c3d4.tmp.json").write_text("{")
  (out / "train-00007.tfrecord").write_bytes(b"stray")
  (out / "notes.txt").write_text("not ours: kept")
  run([src], out)
  manifest, shards = outputs(out)
  assert shards.pop("notes.txt") == b"not ours: kept"
  assert (manifest, shards) == outputs(tmp_path / "reference")


KILL_FILES = 24  # 2 s of 44.1 kHz stereo each: about 1 s of work after start


def write_kill_corpus(directory, first, count):
  directory.mkdir(parents=True, exist_ok=True)
  for i in range(first, first + count):
    x = tone((150.0 + 11.0 * i, 330.0 + 7.0 * i), 2.0, 44100)
    write_audio(directory / f"piece{i:02d}.wav", np.stack([x, 0.5 * x], 1),
                44100, "wav_int16")


def start_cli(src, out, log, workers=1):
  """`python -m common.prepare` in its own session (so that the pool workers
  it leaves orphaned when killed can be ended after it), output to `log`."""
  env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
  with open(log, "a") as log_file:
    return subprocess.Popen(
        [sys.executable, "-m", "common.prepare", f"--input={src}",
         f"--output_dir={out}", "--chunk_seconds=0.1", "--shard_megabytes=0",
         f"--workers={workers}"], cwd=ROOT, env=env, stdout=log_file,
        stderr=subprocess.STDOUT, start_new_session=True)


def kill_when(proc, out, moment, timeout=120):
  """SIGKILLs `proc` as soon as `moment(names in out)` holds (polled every
  millisecond); fails if the run ends before."""
  deadline = time.monotonic() + timeout
  while not moment(os.listdir(out) if os.path.isdir(out) else []):
    assert proc.poll() is None, "the run ended before its kill moment"
    assert time.monotonic() < deadline, "the kill moment never came"
    time.sleep(0.001)
  proc.kill()
  assert proc.wait() == -signal.SIGKILL
  try:
    os.killpg(proc.pid, signal.SIGKILL)  # orphaned pool workers, if any
  except ProcessLookupError:
    pass


def shards_in(names):
  return [n for n in names if corpus._SHARD_NAME.match(n)]


def test_sigkill_at_any_moment_then_rerun_gives_the_uninterrupted_result(
    tmp_path):
  """Three kill moments; each later run is the same command again.

  The re-runs that finish run in-process (the same call the CLI makes) to
  spare a TensorFlow start; the shards the killed CLI runs completed are
  checked against the in-process reference, byte for byte.
  """
  src = tmp_path / "corpus"
  write_kill_corpus(src, 0, KILL_FILES)
  settings = dict(chunk_seconds=0.1, shard_megabytes=0)
  reference_dir = tmp_path / "reference"
  run([src], reference_dir, **settings)
  reference = outputs(reference_dir)
  log = tmp_path / "cli.log"
  out = tmp_path / "out"
  # 1. Early: hashing the inputs in 2 pool workers, or importing TensorFlow.
  kill_when(start_cli(src, out, log, workers=2), out,
            lambda names: any(n.startswith(".scratch-") for n in names))
  assert listing(out) and not (out / "manifest.json").exists()
  # 2. Half the shards written, one being written.
  kill_when(start_cli(src, out, log), out,
            lambda names: len(shards_in(names)) >= KILL_FILES // 2 and any(
                n.endswith(".tmp.tfrecord") for n in names))
  assert not (out / "manifest.json").exists()
  written = shards_in(listing(out))
  assert len(written) >= KILL_FILES // 2
  for name in written:
    assert open(out / name, "rb").read() == reference[1][name], name
  run([src], out, **settings)
  assert outputs(out) == reference

  # 3. Killed while adding files to that corpus, once a new shard is written:
  # the manifest and the shards it lists stay as they were.
  write_kill_corpus(src / "more", KILL_FILES, 8)
  run([src], reference_dir, **settings)
  kill_when(start_cli(src, out, log), out,
            lambda names: len(shards_in(names)) > KILL_FILES)
  assert untimed_manifest(out) == reference[0]
  run([src], out, **settings)
  assert outputs(out) == outputs(reference_dir)


# ---- CLI and memory --------------------------------------------------------


def run_cli(args, timeout=120):
  env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
  return subprocess.run([sys.executable, "-m", "common.prepare", *args],
                        capture_output=True, text=True, cwd=ROOT, env=env,
                        timeout=timeout)


def test_cli_help():
  # absl's --help prints usage to stdout and exits (with status 1, absl's
  # convention) before the required flags are checked.
  out = run_cli(["--help"])
  assert "Traceback" not in out.stderr
  assert "Prepare a corpus: audio files" in out.stdout
  for flag in ("--input", "--output_dir", "--sample_rate", "--quantization",
               "--q_levels", "--chunk_seconds", "--split_by", "--workers"):
    assert flag in out.stdout


def test_cli_exits_non_zero_when_nothing_is_usable(tmp_path):
  bad = write_bad_files(str(tmp_path / "bad"))
  out = run_cli([f"--input={tmp_path / 'bad'}",
                 f"--output_dir={tmp_path / 'out'}", "--chunk_seconds=0.25",
                 "--workers=1"])
  assert out.returncode != 0
  assert "error:" in out.stderr and "no usable audio" in out.stderr
  assert "8 file(s) skipped" in out.stderr
  # Each skipped file is reported with its reason (tqdm.write: stdout).
  for name, reason in bad.items():
    line = next(l for l in out.stdout.splitlines() if name in l)
    assert line.startswith("skipped ") and reason in line


def write_long_wav(path, minutes=10, sample_rate=44100):
  """int16 stereo, written 10 s at a time (never held whole)."""
  block = 10 * sample_rate
  with sf.SoundFile(str(path), "w", samplerate=sample_rate, channels=2,
                    subtype="PCM_16") as f:
    for i in range(minutes * 6):
      t = np.arange(i * block, (i + 1) * block) / sample_rate
      x = (0.3 * np.sin(2 * np.pi * (220 + i) * t)).astype(np.float32)
      f.write(np.stack([x, 0.5 * x], axis=1))


def test_cli_on_a_long_file_streams_with_bounded_memory(tmp_path):
  """10 min of 44.1 kHz stereo int16 (~106 MB; 423 MB as float64)."""
  path = tmp_path / "src" / "long.wav"
  path.parent.mkdir()
  write_long_wav(path)
  assert os.path.getsize(path) > 100e6
  report = tmp_path / "memory.json"
  # The CLI, after importing TensorFlow (the baseline): peak RSS via VmHWM.
  script = textwrap.dedent(f"""
      import atexit, json, runpy, sys
      def hwm():
        for line in open("/proc/self/status"):
          if line.startswith("VmHWM"):
            return int(line.split()[1]) * 1024
      import numpy, soxr, soundfile, tensorflow
      base = hwm()
      atexit.register(lambda: json.dump(dict(base=base, peak=hwm()),
                                        open({str(report)!r}, "w")))
      sys.argv = ["prepare", "--input={path}",
                  "--output_dir={tmp_path / 'out'}", "--workers=1",
                  "--val_fraction=0", "--test_fraction=0"]
      runpy.run_module("common.prepare", run_name="__main__")
  """)
  env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
  try:
    out = subprocess.run([sys.executable, "-c", script], capture_output=True,
                         text=True, cwd=ROOT, env=env, timeout=180)
  finally:
    path.unlink()  # pytest keeps recent tmp dirs: do not leave 100 MB behind
  assert out.returncode == 0, out.stderr[-3000:]
  assert "files used: 1, skipped: 0" in out.stdout
  assert "prepared 10.0 min of audio" in out.stdout
  assert "manifest.json" in out.stdout
  man = corpus.read_manifest(str(tmp_path / "out"))
  assert abs(man["files"][0]["num_samples"] - 600 * 16000) <= 4
  assert man["files"][0]["num_chunks"] == 150
  memory = json.load(open(report))
  growth = memory["peak"] - memory["base"]
  assert growth < 150e6, f"peak RSS grew by {growth / 1e6:.0f} MB"
