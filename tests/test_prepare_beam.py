"""Corpus preparation on Apache Beam (`common.corpus_beam`): the same corpus
as the default path, on the DirectRunner in multi-process mode; extending a
corpus; URL inputs and outputs; the CLI's --runner and --pipeline_options."""

import collections
import json
import os
import shutil
import subprocess
import sys

from apache_beam.io import filesystem
from apache_beam.io import localfilesystem
import numpy as np
import pytest
import tensorflow as tf

from common import corpus
from common import corpus_beam
from common import data
from conftest import ROOT, tone, write_audio, write_bad_files

CHUNK_SECONDS = 0.25
SHARD_MEGABYTES = 0.02  # a shard rolls over after a file of > 1.3 s
GOOD = (  # name, kind, sample rate, channels, seconds
    ("a.wav", "wav_int16", 16000, 1, 1.3),
    ("b.flac", "flac", 22050, 1, 0.9),
    ("c.wav", "wav_float32", 44100, 2, 1.1),
    ("d.flac", "flac_int24", 48000, 2, 1.0),  # (not ogg: its bytes vary)
    ("e.wav", "wav_int24", 16000, 1, 1.6),
    # Longer than audio.BLOCK_SECONDS (10 s): decoded in 3 blocks.
    ("long.wav", "wav_int16", 22050, 2, 25.0),
)
FEATURES = {"codes": tf.io.FixedLenFeature([], tf.string),
            "file_index": tf.io.FixedLenFeature([], tf.int64),
            "offset": tf.io.FixedLenFeature([], tf.int64)}


def write_sources(directory, names=None):
  os.makedirs(directory, exist_ok=True)
  for i, (name, kind, sr, channels, seconds) in enumerate(GOOD):
    if names is None or name in names:
      x = tone((200.0 + 37.0 * i, 310.0 + 11.0 * i), seconds, sr)
      write_audio(os.path.join(directory, name),
                  x if channels == 1 else np.stack([x, 0.6 * x], 1), sr, kind)


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
  """Good files, a long one, a duplicate and every kind of bad input."""
  src = tmp_path_factory.mktemp("beam") / "input"
  write_sources(str(src))
  shutil.copy(src / "a.wav", src / "a_copy.wav")  # same bytes: a duplicate
  write_bad_files(str(src / "bad"))
  return str(src)


def prepare_local(inputs, out):
  return corpus.prepare(inputs, str(out), workers=1, progress=False,
                        chunk_seconds=CHUNK_SECONDS,
                        shard_megabytes=SHARD_MEGABYTES)


def prepare_beam(inputs, out, mode="in_memory"):
  return corpus_beam.prepare(
      inputs, str(out), runner="DirectRunner", workers=2,
      pipeline_args=[f"--direct_running_mode={mode}"],
      chunk_seconds=CHUNK_SECONDS, shard_megabytes=SHARD_MEGABYTES)


def untimed_manifest(out):
  man = json.load(open(os.path.join(out, corpus.MANIFEST)))
  del man["seconds_taken"]  # the only run-specific field
  return man


def examples_per_split(out):
  """{split: Counter of (file_index, offset, codes bytes)} of the shards."""
  found = collections.defaultdict(collections.Counter)
  for name in os.listdir(out):
    if corpus.is_shard_name(name):
      for record in tf.data.TFRecordDataset(os.path.join(out, name)):
        ex = tf.io.parse_single_example(record, FEATURES)
        found[name.split("-")[0]][(int(ex["file_index"]), int(ex["offset"]),
                                   ex["codes"].numpy())] += 1
  return found


def shard_bytes(out):
  return {n: open(os.path.join(out, n), "rb").read()
          for n in sorted(os.listdir(out)) if corpus.is_shard_name(n)}


@pytest.fixture(scope="module")
def local_out(sources, tmp_path_factory):
  out = tmp_path_factory.mktemp("local")
  prepare_local([sources], out)
  return str(out)


@pytest.fixture(scope="module")
def beam_run(sources, tmp_path_factory):
  """(output dir, returned manifest, Prism runners made) of an in-process
  DirectRunner run (in_memory: the multi-process run is the CLI test's)."""
  from apache_beam.runners.portability import prism_runner  # pylint: disable=g-import-not-at-top
  out = str(tmp_path_factory.mktemp("beam_out"))
  prism_made = []
  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(prism_runner.PrismRunner, "__init__",
                  lambda self, *a, **k: prism_made.append(1))
    man = prepare_beam([sources], out)
  return out, man, prism_made


def assert_same_corpus(out, reference):
  """The same examples per split (order aside), the same manifest but for
  its timing, and in fact the same shard bytes."""
  assert untimed_manifest(out) == untimed_manifest(reference)
  assert examples_per_split(out) == examples_per_split(reference)
  assert shard_bytes(out) == shard_bytes(reference)


def test_beam_gives_the_default_paths_corpus(sources, local_out, beam_run):
  out, man, prism_made = beam_run
  assert not prism_made  # it would download its binary at run time
  assert_same_corpus(out, local_out)
  assert set(examples_per_split(out)) == set(corpus.SPLITS)
  assert len(shard_bytes(out)) > 3  # several shards, rolled over by size
  skipped = {os.path.basename(s["path"]): s["reason"] for s in man["skipped"]}
  assert "duplicate of" in skipped.pop("a_copy.wav")
  assert sorted(skipped) == sorted(os.listdir(os.path.join(sources, "bad")))
  long = next(f for f in man["files"] if f["path"].endswith("long.wav"))
  assert long["num_chunks"] == 100
  counts = man.pop("_counters")
  assert counts == dict(
      files_found=len(man["files"]) + 9, files_used=len(man["files"]),
      files_skipped=9, files_moved=0,
      chunks=sum(f["num_chunks"] for f in man["files"]),
      audio_ms=counts["audio_ms"])
  # Each file's milliseconds are rounded (0.5 ms) and its source_seconds
  # too (0.05 ms): at most 0.55 ms per file apart.
  assert counts["audio_ms"] == pytest.approx(
      1000 * sum(f["source_seconds"] for f in man["files"]),
      abs=0.55 * len(man["files"]))


def test_the_trainer_reads_the_beam_corpus(beam_run):
  out = beam_run[0]
  batch = next(iter(data.dataset(out, "train", 2, 1000)))
  assert batch.shape == (2, 1000)
  long = [(f, codes) for f, codes in data.read_files(out, "train")
          if f["path"].endswith("long.wav")]
  assert len(long) == 1 and len(long[0][1]) == 25 * 16000


def run_cli(args):
  env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
  return subprocess.run([sys.executable, "-m", "common.prepare", *args],
                        capture_output=True, text=True, cwd=ROOT, env=env,
                        timeout=300)


def test_cli_runs_the_pipeline_on_two_worker_processes(sources, local_out,
                                                       tmp_path):
  """`--runner=DirectRunner`: multi_processing mode, one process per
  --workers; the corpus of the default path."""
  out = run_cli([f"--input={sources}", f"--output_dir={tmp_path}",
                 f"--chunk_seconds={CHUNK_SECONDS}",
                 f"--shard_megabytes={SHARD_MEGABYTES}", "--workers=2",
                 "--runner=DirectRunner"])
  assert out.returncode == 0, out.stderr[-3000:]
  assert_same_corpus(str(tmp_path), local_out)
  assert "files used: 6, skipped: 9" in out.stdout
  assert "beam counters: files_found=15, files_used=6" in out.stdout


def test_options_default_to_worker_processes_and_unknown_runners_fail():
  options = corpus_beam.pipeline_options("DirectRunner", "", workers=3)
  assert options.get_all_options()["direct_running_mode"] == (
      "multi_processing")
  assert options.get_all_options()["direct_num_workers"] == 3
  options = corpus_beam.pipeline_options(
      "DirectRunner", "--direct_running_mode=in_memory --direct_num_workers=1")
  assert options.get_all_options()["direct_running_mode"] == "in_memory"
  options = corpus_beam.pipeline_options(
      "DataflowRunner", '--project=p --region=r --temp_location="gs://b/t"')
  assert options.get_all_options()["temp_location"] == "gs://b/t"
  with pytest.raises(corpus.PrepareError,
                     match="--pipeline_options: unknown Beam option.* --no_"):
    corpus_beam.pipeline_options("DirectRunner", "--no_such=1")
  with pytest.raises(corpus.PrepareError, match="--runner=NoSuchRunner"):
    corpus_beam.runner_for("NoSuchRunner", options)


def test_extending_a_corpus_with_beam_as_the_default_path_does(tmp_path):
  """A second run into a prepared corpus: only new content is added, the
  shards it left are kept, a stray shard (of a stopped run) is removed."""
  src = tmp_path / "input"
  write_sources(str(src), ["a.wav", "b.flac", "c.wav"])
  first = tmp_path / "first"
  prepare_local([src], first)
  write_sources(str(src), ["d.flac", "e.wav"])
  shutil.copy(src / "b.flac", src / "b_again.flac")
  for out in ("local", "beam"):
    shutil.copytree(first, tmp_path / out)
    (tmp_path / out / "train-00042.tfrecord").write_bytes(b"stray")
  prepare_local([src], tmp_path / "local")
  man = prepare_beam([src], tmp_path / "beam")
  assert_same_corpus(str(tmp_path / "beam"), str(tmp_path / "local"))
  assert len(man["files"]) == 5 and man["_counters"]["files_used"] == 2
  assert "train-00042.tfrecord" not in os.listdir(tmp_path / "beam")


class FakeRemote(localfilesystem.LocalFileSystem):
  """A Beam filesystem for URLs `fakeremote:///local/path`: what a URL input
  or output (gs://, s3://, ...) goes through, on this machine's disk."""
  PREFIX = "fakeremote://"

  @classmethod
  def scheme(cls):
    return "fakeremote"

  def _local(self, path):
    # (LocalFileSystem's own methods call each other with local paths.)
    return path[len(self.PREFIX):] if path.startswith(self.PREFIX) else path

  def _list(self, dir_or_prefix):
    for m in super()._list(self._local(dir_or_prefix)):
      yield filesystem.FileMetadata(self.PREFIX + m.path, m.size_in_bytes,
                                    m.last_updated_in_seconds)

  def metadata(self, path):
    m = super().metadata(self._local(path))
    return filesystem.FileMetadata(path, m.size_in_bytes,
                                   m.last_updated_in_seconds)

  def exists(self, path):
    return super().exists(self._local(path))

  def create(self, path, *args, **kwargs):
    return super().create(self._local(path), *args, **kwargs)

  def open(self, path, *args, **kwargs):
    return super().open(self._local(path), *args, **kwargs)

  def delete(self, paths):
    return super().delete([self._local(p) for p in paths])


def test_urls_go_through_beams_filesystems(tmp_path):
  """Input and output_dir as URLs: listed, hashed, copied to the worker
  and back through Beam's FileSystems; the same corpus, paths aside."""
  src = tmp_path / "input"
  write_sources(str(src), ["a.wav", "b.flac", "c.wav", "long.wav"])
  shutil.copy(src / "a.wav", src / "a_copy.wav")
  (src / "empty.wav").write_bytes(b"")
  (src / "notes.txt").write_text("not audio: not listed")
  prepare_local([src], tmp_path / "local")
  url = FakeRemote.PREFIX + str(tmp_path)
  (tmp_path / "remote").mkdir()
  (tmp_path / "remote" / "val-00003.tfrecord").write_bytes(b"stray")
  man = prepare_beam([url + "/input"], url + "/remote")
  assert man["files"][0]["path"].startswith(url)
  remote = json.dumps(untimed_manifest(tmp_path / "remote"))
  assert json.loads(remote.replace(FakeRemote.PREFIX, "")) == (
      untimed_manifest(tmp_path / "local"))
  assert shard_bytes(tmp_path / "remote") == shard_bytes(tmp_path / "local")
  assert "val-00003.tfrecord" not in os.listdir(tmp_path / "remote")
