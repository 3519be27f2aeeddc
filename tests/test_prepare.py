"""Corpus preparation: manifest, shards, bad inputs, splits, re-runs, CLI,
bounded memory on a long file."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf

from common import audio
from common import prepare
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
  return prepare.prepare([str(i) for i in inputs], str(out), workers=kwargs.pop(
      "workers", 1), progress=False, **kwargs)


def read_shards(out):
  """[(shard name, file_index, offset, codes)] of every record, in order."""
  man = prepare.read_manifest(str(out))
  dtype = prepare.code_dtype(man["settings"]["q_levels"])
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
  text = prepare.summary_text(man)
  for s in man["skipped"]:
    assert s["path"] in text and s["reason"] in text
  assert "files used: 3, skipped: 8" in text


def test_manifest_on_disk_holds_settings_files_and_splits(mixed):
  man = mixed["manifest"]
  disk = json.load(open(os.path.join(mixed["out"], "manifest.json")))
  assert disk == {k: v for k, v in man.items() if k != "_new_source_seconds"}
  assert disk["settings"] == prepare.default_settings(
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
    assert f["split"] in prepare.SPLITS
    assert f["key"] == os.path.join("input", os.path.basename(f["path"]))
    assert os.path.exists(os.path.join(mixed["out"], f["shard"]))
  for split in prepare.SPLITS:
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
    assert offsets == prepare._chunk_offsets(f["num_samples"], CHUNK)
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
                     if k not in ("seconds_taken", "_new_source_seconds")}
  assert strip(other) == strip(mixed["manifest"])
  for name in listing(mixed["out"]):
    if name.endswith(".tfrecord"):
      assert (open(os.path.join(mixed["out"], name), "rb").read() ==
              open(tmp_path / "again" / name, "rb").read())


def test_chunk_offsets_cover_the_file():
  assert prepare._chunk_offsets(10, 4) == [0, 4, 6]
  assert prepare._chunk_offsets(8, 4) == [0, 4]
  assert prepare._chunk_offsets(4, 4) == [0]
  assert prepare._chunk_offsets(3, 4) == []


# ---- splits ----------------------------------------------------------------


def names_by_split(prefix, wants, settings=None, group="corpus"):
  """File names whose hash split (for key group/name) is as wanted, in
  order: e.g. wants=("val", "train") -> [a val name, a train name]."""
  settings = settings or prepare.default_settings()
  names, i = [], 0
  for want in wants:
    while prepare.split_of(f"{group}/{prefix}{i:03d}.wav", settings) != want:
      i += 1
    names.append(f"{prefix}{i:03d}.wav")
    i += 1
  return names


def test_split_function_is_deterministic_seeded_and_roughly_fractional():
  keys = [f"corpus/{i}.wav" for i in range(2000)]
  settings = prepare.default_settings()
  splits = prepare.assign_splits(keys, settings)
  assert splits == prepare.assign_splits(list(reversed(keys)), settings)
  counts = {s: list(splits.values()).count(s) for s in prepare.SPLITS}
  assert 140 < counts["val"] < 260 and 140 < counts["test"] < 260
  other = prepare.assign_splits(keys, prepare.default_settings(seed=1))
  assert sum(splits[k] != other[k] for k in keys) > 300
  # Adding files never moves the ones there before (hash-only regime).
  more = prepare.assign_splits(keys + [f"corpus/new{i}.wav" for i in range(500)],
                               settings)
  assert all(more[k] == splits[k] for k in keys)


def test_small_corpora_get_non_empty_val_and_test():
  settings = prepare.default_settings()
  keys = [f"corpus/{n}" for n in names_by_split("t", ["train"] * 4)]
  splits = prepare.assign_splits(keys, settings)
  assert sorted(splits.values()) == ["test", "train", "train", "val"]


def test_split_is_by_whole_file_and_stable_when_files_are_added(tmp_path):
  first = names_by_split("f", ["train", "val", "train", "test", "train"])
  extra = names_by_split("g", ["val", "train", "test", "train"])
  src = tmp_path / "a" / "corpus"
  write_good(str(src), first)
  before = run([src], tmp_path / "out1")
  split_before = {f["key"]: f["split"] for f in before["files"]}
  assert sorted(split_before.values()) == ["test", "train", "train", "train",
                                           "val"]
  write_good(str(src), extra)
  after = run([src], tmp_path / "out2")  # a new output dir
  split_after = {f["key"]: f["split"] for f in after["files"]}
  assert len(split_after) == 9
  assert all(split_after[k] == v for k, v in split_before.items())
  # Same split from a different location of the same folder.
  moved = tmp_path / "b" / "corpus"
  shutil.copytree(src, moved)
  again = run([moved], tmp_path / "out3")
  assert {f["key"]: f["split"] for f in again["files"]} == split_after
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
  # The group is what is hashed.
  keys = [f"x/inst7-{p}.wav" for p in range(20)]
  settings = prepare.default_settings(split_by=pattern)
  assert len(set(prepare.assign_splits(keys, settings).values())) == 1
  assert prepare.group_of("x/inst7-3.wav", settings) == "inst7"
  assert prepare.group_of("x/other.wav", settings) == "x/other.wav"
  # Other split_by in the same output dir is refused.
  with pytest.raises(prepare.PrepareError, match="split_by"):
    run([src], tmp_path / "out")


# ---- re-runs ---------------------------------------------------------------


def test_rerun_with_same_settings_adds_only_new_files(tmp_path):
  src = tmp_path / "corpus"
  old_names = names_by_split("r", ["train", "train", "val", "test"])
  write_good(str(src), old_names)
  write_bad_files(str(src / "bad"))
  out = tmp_path / "out"
  first = run([src], out)
  shards = {n: open(out / n, "rb").read() for n in listing(out)
            if n.endswith(".tfrecord")}
  assert len(first["skipped"]) == 8

  write_good(str(src), names_by_split("s", ["train", "val"]))
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
  assert third["_new_source_seconds"] == 0
  assert listing(out) == sorted(list(shards) + list(new_shards) +
                                ["manifest.json"])


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
  with pytest.raises(prepare.PrepareError) as e:
    run([src], out, **change)
  key = next(iter(change))
  assert "other settings" in str(e.value) and key in str(e.value)
  assert {n: open(out / n, "rb").read() for n in listing(out)} == before


def test_nothing_usable_raises(tmp_path):
  write_bad_files(str(tmp_path / "bad"))
  with pytest.raises(prepare.PrepareError, match="no usable audio"):
    run([tmp_path / "bad"], tmp_path / "out")
  skipped = prepare.read_manifest(str(tmp_path / "out"))["skipped"]
  assert len(skipped) == 8  # still reported on disk
  (tmp_path / "nothing").mkdir()
  with pytest.raises(prepare.PrepareError, match="no usable audio"):
    run([tmp_path / "nothing"], tmp_path / "out2")
  with pytest.raises(audio.AudioError, match="no such file or folder"):
    run([tmp_path / "missing"], tmp_path / "out3")


def test_missing_manifest_is_a_clear_error(tmp_path):
  with pytest.raises(prepare.PrepareError, match="no manifest.json"):
    prepare.read_manifest(str(tmp_path))


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
  with pytest.raises(ValueError, match="unknown quantization"):
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
  state, whole = {}, prepare.trim_silence(data, 16000, -60.0, {})
  parts = [prepare.trim_silence(b, 16000, -60.0, state)
           for b in np.array_split(data, 7)]
  np.testing.assert_array_equal(np.concatenate(parts), whole)


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
  assert "Corpus preparation" in out.stdout
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
  man = prepare.read_manifest(str(tmp_path / "out"))
  assert abs(man["files"][0]["num_samples"] - 600 * 16000) <= 4
  assert man["files"][0]["num_chunks"] == 150
  memory = json.load(open(report))
  growth = memory["peak"] - memory["base"]
  assert growth < 150e6, f"peak RSS grew by {growth / 1e6:.0f} MB"
