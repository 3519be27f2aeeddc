"""Corpus preparation: audio files -> TFRecord shards of codes + manifest.json.

The library behind `python -m common.prepare` (`prepare` makes or extends a
corpus; `read_manifest` reads one, for `common.data`):

    manifest = corpus.prepare(["~/music"], "data/my_corpus",
                              sample_rate=16000, quantization="mu_law")

What it does, file by file (in parallel over `--workers` processes):
decode (any format soundfile reads), average channels, resample to
`sample_rate` with soxr, optionally drop long silences, quantize, and cut into
chunks of `chunk_seconds`.

A source file is identified by its content: the SHA-256 of its bytes, not its
path. Each file goes wholly into one split (train/val/test), chosen by a hash
of that content hash (and `seed`), so the split does not depend on the file's
name or folder and stays put when files are added. With `split_by`, the group
that regular expression finds in the file's path relative to its input's
parent folder is hashed instead (as named, e.g. `notes_wav/piano-060`), so all
files of a group share a split; files it does not match fall back to their
content hash.

The same bytes under another name (in one run, or in a later one) are used
once: the copy is listed in `skipped` as a duplicate of the file it repeats,
so it never lands in a second split.

Output layout of `output_dir`:

    manifest.json                settings, every file (path, sha256, split,
                                 duration, samples, chunks, shard), skipped
                                 files with the reason
    train-00000.tfrecord ...     one tf.train.Example per chunk:
    val-00000.tfrecord ...         codes (bytes: uint8, or uint16 LE when
    test-00000.tfrecord ...        q_levels > 256), file_index, offset

Memory stays bounded: workers stream each file in blocks and write raw codes
to a scratch file; the main process cuts chunks from it with a memory map.

Re-running into the same `output_dir` with the same settings adds only content
it does not hold yet (existing shards are kept as they are); other settings
are refused. A file found under another path than the one recorded for its
bytes adds nothing: if the recorded file is gone, it was moved or renamed (said
once per run); if it is still there, the new one is a duplicate. A file whose
bytes changed is new content. Manifests of version 1 (written before files
were identified by content) are refused: adding to them could add the same
audio twice, so prepare into a new directory (training on them still works).

The steps are small pieces that `common.corpus_beam` (the same preparation
as an Apache Beam pipeline) runs too, so both give the same corpus:
`hash_file`, `plan_files` (duplicates and splits, over all files at once),
`decode_file` (one file to raw codes, block by block), `file_chunks`,
`record_results` (manifest entries, file indices and shards by `ShardPlan`),
`ShardWriter`, `finish_manifest`.

The manifest is written last. A run that is interrupted (even by SIGKILL)
leaves scratch folders, temporary files and shards the manifest does not
list; the next run into the same `output_dir` removes them (and says so)
before it starts, and so ends with the same shards and manifest as a run that
was never interrupted. Only one run at a time may write into an `output_dir`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import multiprocessing
import os
import re
import shutil
import sys
import tempfile
import time
from typing import Any, BinaryIO, Callable, Iterable, Iterator

import numpy as np

from common import audio as audio_lib
from common import files
from common import quantization

MANIFEST = "manifest.json"
MANIFEST_VERSION = 2
SPLITS = ("train", "val", "test")
SETTING_KEYS = ("sample_rate", "quantization", "q_levels", "chunk_seconds",
                "trim_silence_db", "val_fraction", "test_fraction", "seed",
                "split_by")
TRIM_FRAME_SECONDS = 0.05
TRIM_KEEP_SECONDS = 0.5
HASH_BLOCK_BYTES = 1 << 20
SCRATCH_PREFIX = ".scratch-"
_SHARD_NAME = re.compile(r"^(train|val|test)-\d{5}\.tfrecord$")


def is_shard_name(name: str) -> bool:
  """True for the file name of a shard (e.g. `train-00003.tfrecord`)."""
  return bool(_SHARD_NAME.match(name))


class PrepareError(RuntimeError):
  """Nothing usable, or an output directory holding other settings."""


def default_settings(**overrides: Any) -> dict:
  settings = dict(sample_rate=16000, quantization="mu_law", q_levels=256,
                  chunk_seconds=4.0, trim_silence_db=None, val_fraction=0.1,
                  test_fraction=0.1, seed=0, split_by=None)
  settings.update({k: v for k, v in overrides.items() if v is not None})
  return settings


def code_dtype(q_levels: int) -> np.dtype:
  """The NumPy dtype codes are stored as in the shards."""
  return np.dtype(np.uint8) if q_levels <= 256 else np.dtype("<u2")


def stream_sha256(stream: BinaryIO, block_bytes: int = HASH_BLOCK_BYTES
                  ) -> str:
  """Hex SHA-256 of the bytes left in a binary stream, read `block_bytes`
  at a time."""
  digest = hashlib.sha256()
  for block in iter(lambda: stream.read(block_bytes), b""):
    digest.update(block)
  return digest.hexdigest()


def file_sha256(path: str, block_bytes: int = HASH_BLOCK_BYTES) -> str:
  """Hex SHA-256 of a file's bytes, read `block_bytes` at a time."""
  with open(path, "rb") as f:
    return stream_sha256(f, block_bytes)


def group_of(key: str, settings: dict, sha256: str | None = None) -> str:
  """The group a file is split with.

  Args:
    key: the file's path relative to its input's parent folder.
    settings: see `default_settings`; `split_by` is used.
    sha256: the file's content hash (`file_sha256`); needed unless
      `split_by` matches `key`.

  Returns:
    The first group of the `split_by` regular expression searched in `key`
    (e.g. `(.*)-\\d+\\.wav$` keeps every velocity of an instrument-note
    together) if it matches, else `sha256`.
  """
  pattern = settings.get("split_by")
  if pattern:
    match = re.search(pattern, key)
    if match:
      return match.group(1) if match.groups() else match.group(0)
  if sha256 is None:
    raise ValueError(f"{key}: not a split_by group; the split of a file "
                     f"comes from its content: pass its sha256")
  return sha256


def split_of(key: str, settings: dict, sha256: str | None = None) -> str:
  """The split of a file, from a hash of its group (see `group_of`) and seed.

  Returns "test" if u < test_fraction, "val" if u < test+val, else "train",
  with u uniform in [0, 1) from SHA-1 of f"{seed}:{group}".
  """
  group = group_of(key, settings, sha256)
  return _split_for_score(_group_score(group, settings), settings)


def _split_for_score(u: float, settings: dict) -> str:
  if u < settings["test_fraction"]:
    return "test"
  if u < settings["test_fraction"] + settings["val_fraction"]:
    return "val"
  return "train"


def _group_score(group: str, settings: dict) -> float:
  digest = hashlib.sha1(f"{settings['seed']}:{group}".encode()).digest()
  return int.from_bytes(digest[:8], "big") / 2.0**64


def assign_splits(groups: Iterable[str], settings: dict) -> dict:
  """Splits of many groups (see `group_of`), never an empty val/test split.

  Each group's split is its hash split (as in `split_of`); with at least 3
  groups, a requested val or test split that the hash left empty gets the
  train group with the lowest hash score (so the choice is still
  deterministic and changes little when groups are added).

  Returns:
    {group: split}.
  """
  groups = sorted(set(groups))
  score = lambda group: _group_score(group, settings)
  splits = {g: _split_for_score(score(g), settings) for g in groups}
  for split, wanted in (("test", settings["test_fraction"]),
                        ("val", settings["val_fraction"])):
    train = [g for g in groups if splits[g] == "train"]
    if (wanted > 0 and len(groups) >= 3 and len(train) > 1 and
        split not in splits.values()):
      splits[min(train, key=score)] = split
  return splits


def trim_silence(block: np.ndarray, sample_rate: int, threshold_db: float,
                 state: dict) -> np.ndarray:
  """Drops silent stretches longer than TRIM_KEEP_SECONDS from a stream block.

  Args:
    block: float32 `[samples]`.
    threshold_db: frames (TRIM_FRAME_SECONDS long) with RMS below this dBFS
      count as silent.
    state: dict carried across the blocks of one file ("silent_run": seconds
      of silence kept so far, "tail": samples not yet framed).

  Returns:
    float32 `[samples']`, the kept audio.
  """
  frame = max(1, int(TRIM_FRAME_SECONDS * sample_rate))
  data = np.concatenate([state.get("tail", np.zeros(0, np.float32)), block])
  usable = len(data) // frame * frame
  state["tail"] = data[usable:]
  frames = data[:usable].reshape(-1, frame)
  rms_db = 10 * np.log10(np.mean(frames.astype(np.float64)**2, axis=1) + 1e-20)
  keep = np.ones(len(frames), bool)
  run = state.get("silent_run", 0.0)
  for i, level in enumerate(rms_db):
    if level < threshold_db:
      run += TRIM_FRAME_SECONDS
      keep[i] = run <= TRIM_KEEP_SECONDS
    else:
      run = 0.0
  state["silent_run"] = run
  return frames[keep].reshape(-1)


def hash_file(path: str) -> tuple[str, str | None, str | None]:
  """(path, sha256, None), or (path, None, reason) if the file is unreadable."""
  try:
    return path, file_sha256(path), None
  except FileNotFoundError:
    return path, None, "file not found"
  except OSError as e:
    return path, None, f"unreadable ({e.strerror or e})"


def chunk_samples(settings: dict) -> int:
  """Length of a stored chunk in samples (`chunk_seconds` at the rate)."""
  return int(round(settings["chunk_seconds"] * settings["sample_rate"]))


def decode_file(path: str, raw_path: str, settings: dict) -> dict:
  """Decodes one audio file to codes in a raw file, a block at a time.

  Memory stays bounded by one block (`common.audio.stream`) whatever the
  file's length: each block is resampled, optionally trimmed of silence,
  quantized and appended to `raw_path` (`code_dtype` values, no header).

  Returns:
    dict(num_samples, source_seconds), or dict(error=reason) for a file
    that cannot be used (unreadable, no audio left, shorter than a chunk).
  """
  try:
    sr = settings["sample_rate"]
    trim_state: dict = {}
    count = 0
    dtype = code_dtype(settings["q_levels"])
    with open(raw_path, "wb") as out:
      for block in audio_lib.stream(path, sr):
        if settings["trim_silence_db"] is not None:
          block = trim_silence(block, sr, settings["trim_silence_db"],
                               trim_state)
        codes = quantization.encode(block, settings["quantization"],
                                    settings["q_levels"])
        out.write(codes.astype(dtype).tobytes())
        count += len(codes)
    source_seconds = audio_lib.info(path)["seconds"]
  except audio_lib.AudioError as e:
    return dict(error=str(e).split(": ", 1)[-1])
  except Exception as e:  # pylint: disable=broad-except
    return dict(error=f"{type(e).__name__}: {e}")
  chunk = chunk_samples(settings)
  if count == 0:
    return dict(error="no audio left (empty, or all silence)")
  if count < chunk:
    return dict(error=f"shorter than one chunk ({count} samples < {chunk} = "
                f"chunk_seconds {settings['chunk_seconds']} s)")
  return dict(num_samples=count, source_seconds=source_seconds)


def _process_file(job: tuple[str, str, str, str, dict]) -> dict:
  """Pool worker: `decode_file` of one job (path, key, sha256, raw path,
  settings); the result also holds path, key, sha256 and raw."""
  path, key, sha256, raw_path, settings = job
  return dict(path=path, key=key, sha256=sha256, raw=raw_path,
              **decode_file(path, raw_path, settings))


def _chunk_offsets(num_samples: int, chunk: int) -> list[int]:
  """Start offsets of fixed-length chunks covering a file.

  Chunks tile the file; the last one ends at the file's end (overlapping the
  one before it) so no audio is lost and every chunk is `chunk` long.
  """
  starts = list(range(0, num_samples - chunk + 1, chunk))
  if starts and starts[-1] + chunk < num_samples:
    starts.append(num_samples - chunk)
  return starts


def file_chunks(raw_path: str, settings: dict) -> Iterator[tuple[int, bytes]]:
  """(offset in samples, codes as stored) of each chunk of a decoded file.

  Reads the raw file `decode_file` wrote through a memory map, so a long
  file is never held whole; the chunks are `_chunk_offsets`'s.
  """
  codes = np.memmap(raw_path, dtype=code_dtype(settings["q_levels"]),
                    mode="r")
  chunk = chunk_samples(settings)
  try:
    for offset in _chunk_offsets(len(codes), chunk):
      yield offset, np.asarray(codes[offset:offset + chunk]).tobytes()
  finally:
    del codes


class ShardPlan:
  """Names the shard each file's chunks go to, file after file.

  A split's files fill one shard after another in manifest order; a shard
  is closed once it holds at least `max_bytes` of codes, so a file never
  spans two shards. Numbering goes on after the shards `manifest` records.
  """

  def __init__(self, manifest: dict, max_bytes: int):
    self.max_bytes = max_bytes
    self._bytes = {split: 0 for split in SPLITS}
    self._index = {
        split: 1 + max([int(f["shard"].split("-")[1][:5])
                        for f in manifest["files"]
                        if f["shard"].startswith(split + "-")], default=-1)
        for split in SPLITS}

  def place(self, split: str, num_bytes: int) -> str:
    """The shard name (e.g. `train-00003.tfrecord`) of a file of
    `num_bytes` bytes of codes in `split`."""
    name = f"{split}-{self._index[split]:05d}.tfrecord"
    self._bytes[split] += num_bytes
    if self._bytes[split] >= self.max_bytes:
      self._index[split] += 1
      self._bytes[split] = 0
    return name


def add_decoded(manifest: dict, result: dict, split: str, shards: ShardPlan,
                settings: dict) -> int | None:
  """Records a decoded file in `manifest` (in place).

  Args:
    result: path, key, sha256 and what `decode_file` returned.
    split: the file's split (`Plan.splits`).
    shards: where the file's chunks go (`ShardPlan.place`).

  Returns:
    The file's index in manifest["files"] (its chunks' `file_index`), or
    None for a file that could not be used, listed in manifest["skipped"]
    with the reason.
  """
  if "error" in result:
    manifest["skipped"].append(dict(path=result["path"],
                                    sha256=result["sha256"],
                                    reason=result["error"]))
    return None
  chunk = chunk_samples(settings)
  num_chunks = len(_chunk_offsets(result["num_samples"], chunk))
  shard = shards.place(
      split, num_chunks * chunk * code_dtype(settings["q_levels"]).itemsize)
  manifest["files"].append(dict(
      path=result["path"], key=result["key"], sha256=result["sha256"],
      split=split,
      duration_seconds=round(result["num_samples"] / settings["sample_rate"],
                             4),
      source_seconds=round(result["source_seconds"], 4),
      num_samples=int(result["num_samples"]), num_chunks=num_chunks,
      shard=shard))
  return len(manifest["files"]) - 1


def example_bytes(codes: bytes, file_index: int, offset: int) -> bytes:
  """A chunk as a serialized tf.train.Example (codes, file_index, offset)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  example = tf.train.Example(features=tf.train.Features(feature={
      "codes": tf.train.Feature(bytes_list=tf.train.BytesList(value=[codes])),
      "file_index": tf.train.Feature(int64_list=tf.train.Int64List(
          value=[file_index])),
      "offset": tf.train.Feature(int64_list=tf.train.Int64List(
          value=[offset])),
  }))
  # Deterministic: map fields in key order (else the order of the three
  # features can differ from one process to the next).
  return example.SerializeToString(deterministic=True)


class ShardWriter:
  """Writes chunks into named TFRecord shards of `output_dir`, one open at
  a time, each renamed into place (`files.atomic_path`) when closed."""

  def __init__(self, output_dir: str):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    self._tf = tf
    self.output_dir = output_dir
    self.name: str | None = None
    self._writer: Any = None
    self._atomic: Any = None

  def write(self, name: str, codes: bytes, file_index: int,
            offset: int) -> None:
    """Appends a chunk to shard `name`, closing the shard open before."""
    if name != self.name:
      self.close()
      self._atomic = files.atomic_path(os.path.join(self.output_dir, name))
      self._writer = self._tf.io.TFRecordWriter(self._atomic.__enter__())
      self.name = name
    self._writer.write(example_bytes(codes, file_index, offset))

  def close(self) -> None:
    if self._writer is not None:
      self._writer.close()
      self._atomic.__exit__(None, None, None)
    self._writer = self._atomic = self.name = None


def read_manifest(data_dir: str) -> dict:
  path = os.path.join(data_dir, MANIFEST)
  if not os.path.exists(path):
    raise PrepareError(f"{data_dir}: no {MANIFEST}; prepare a corpus with "
                       f"`python -m common.prepare --input=... "
                       f"--output_dir={data_dir}`")
  return files.read_json(path)


def input_keys(inputs: Iterable[str]) -> dict[str, str]:
  """Maps each audio file found under `inputs` to a stable relative key."""
  keys = {}
  for root in inputs:
    root_abs = os.path.abspath(root)
    for path in audio_lib.find_audio_files([root]):
      keys[path] = os.path.relpath(path, os.path.dirname(root_abs))
  return keys


def manifest_to_extend(output_dir: str, settings: dict,
                       existing: dict | None = None) -> dict:
  """The manifest a run adds to: `existing` (the manifest found in
  `output_dir`, None if there is none), checked, or a new empty one.

  Raises:
    PrepareError: `existing` was written with other settings or by an
      older version.
  """
  fresh = dict(version=MANIFEST_VERSION, settings=settings, files=[],
               skipped=[])
  if not existing or not existing.get("files"):
    # None yet, or an earlier run found nothing usable (its manifest only
    # reports what was skipped): start afresh, so a corrected retry is not
    # refused.
    return fresh
  path = os.path.join(output_dir, MANIFEST)
  if existing.get("version") != MANIFEST_VERSION:
    raise PrepareError(
        f"{path}: version {existing.get('version')}, written by an older "
        f"common.prepare that identified files by path, not content; adding "
        f"to it could add the same audio twice, so prepare into a new "
        f"--output_dir or delete this one (training on it still works)")
  old = existing["settings"]
  diff = [k for k in SETTING_KEYS if old.get(k) != settings.get(k)]
  if diff:
    raise PrepareError(
        f"{output_dir}: already holds a corpus prepared with other settings "
        f"({', '.join(f'{k}={old.get(k)!r}' for k in diff)}; now "
        f"{', '.join(f'{k}={settings.get(k)!r}' for k in diff)}); "
        f"use another --output_dir or delete it")
  return existing


def existing_manifest(output_dir: str) -> dict | None:
  """The manifest in a local `output_dir`, None if there is none."""
  path = os.path.join(output_dir, MANIFEST)
  return files.read_json(path) if os.path.exists(path) else None


def remove_leftovers(output_dir: str, manifest: dict) -> list[str]:
  """Removes what an interrupted run left in `output_dir`; returns the names.

  That is: scratch folders, the temporary files of shards and of the
  manifest (`files.atomic_path`), and shards the manifest does not list
  (written by a run killed before it wrote its manifest; the run that
  follows writes them again).
  """
  listed = {f["shard"] for f in manifest["files"]}
  removed = [os.path.basename(p)
             for p in files.remove_stale_temporaries_in(output_dir)]
  for name in sorted(os.listdir(output_dir)):
    path = os.path.join(output_dir, name)
    if name.startswith(SCRATCH_PREFIX) and os.path.isdir(path):
      shutil.rmtree(path)
    elif is_shard_name(name) and name not in listed:
      os.remove(path)
    else:
      continue
    removed.append(name)
  return sorted(removed)


@dataclasses.dataclass
class Plan:
  """What a run does with the files found in its inputs (`plan_files`).

  Attributes:
    todo: [(path, sha256)] of content not prepared yet, in input order (the
      order of the manifest's new entries).
    splits: {path: split} of the `todo` files.
    skipped: new skipped entries: unreadable files, and duplicates (same
      bytes as a file used or skipped before, which is still at its path).
    moved: [(path, recorded path)], content prepared before from a path that
      no longer exists (a moved or renamed file): nothing to add.
  """
  todo: list[tuple[str, str]]
  splits: dict[str, str]
  skipped: list[dict]
  moved: list[tuple[str, str]]


def plan_files(found: list[tuple[str, str | None, str | None]],
               keys: dict[str, str], manifest: dict, settings: dict,
               exists: Callable[[str], bool] = os.path.exists) -> Plan:
  """Decides, by content, what to do with each file found in the inputs.

  Args:
    found: [(path, sha256, error)] as `hash_file` returns them, in input
      order (the first of several files with the same bytes is used).
    keys: {path: key} (`input_keys`).
    manifest: the manifest being extended.
    settings: see `default_settings`.
    exists: tells whether a recorded path still exists.
  """
  recorded = {(e["path"], e.get("sha256"))
              for e in manifest["files"] + manifest["skipped"]}
  first: dict[str, str] = {}  # sha256 -> the path its content is known by
  for entry in manifest["files"] + manifest["skipped"]:
    if entry.get("sha256") and "duplicate_of" not in entry:
      first.setdefault(entry["sha256"], entry["path"])
  plan = Plan(todo=[], splits={}, skipped=[], moved=[])
  for path, sha256, error in found:
    if (path, sha256) in recorded:
      continue
    if error or sha256 is None:  # (`hash_file` gives one or the other)
      plan.skipped.append(dict(path=path, sha256=None, reason=error))
    elif sha256 not in first:
      first[sha256] = path
      plan.todo.append((path, sha256))
    elif exists(first[sha256]):
      plan.skipped.append(dict(
          path=path, sha256=sha256,
          reason=f"duplicate of {first[sha256]} (same bytes)",
          duplicate_of=first[sha256]))
    else:
      plan.moved.append((path, first[sha256]))
  plan.splits = _new_file_splits(plan.todo, keys, manifest, settings)
  return plan


def check_settings(settings: dict) -> None:
  """Raises PrepareError for a quantizer or a `split_by` that cannot work."""
  try:
    quantization.encode(np.zeros(1), settings["quantization"],
                        settings["q_levels"])
  except ValueError as e:
    raise PrepareError(str(e)) from None
  if settings["split_by"]:
    try:
      re.compile(settings["split_by"])
    except re.error as e:
      raise PrepareError(f"split_by: {settings['split_by']!r} is not a "
                         f"regular expression ({e})") from None


def finish_manifest(manifest: dict, started: float) -> dict:
  """Adds the per-split summary and the run's time (since `started`, a
  `time.time()`) to a manifest whose files are all recorded; returns it."""
  manifest["splits"] = _split_summary(manifest)
  manifest["seconds_taken"] = round(time.time() - started, 3)
  return manifest


def check_usable(manifest: dict, output_dir: str,
                 inputs: Iterable[str]) -> None:
  """Raises PrepareError if the finished corpus holds no file."""
  if not manifest["files"]:
    raise PrepareError(
        f"{output_dir}: no usable audio in {', '.join(inputs)} "
        f"({len(manifest['skipped'])} file(s) skipped)")


def prepare(inputs: Iterable[str], output_dir: str, workers: int | None = None,
            shard_megabytes: float = 64, progress: bool = True,
            **settings: Any) -> dict:
  """Prepares a corpus; returns the manifest dict (also written to disk).

  The returned dict also holds `_new_source_seconds` (seconds of source audio
  added by this run) and `_already_prepared` (files found whose bytes were
  prepared before from a path that no longer exists), which are not written.

  Args:
    inputs: list of files and folders (searched recursively).
    output_dir: where shards and manifest.json go.
    workers: processes hashing and decoding in parallel (default: the CPU
      count).
    shard_megabytes: a shard is closed after this many MB of codes.
    progress: show a tqdm progress bar over seconds of source audio.
    **settings: see `default_settings` (sample_rate, quantization, q_levels,
      chunk_seconds, trim_silence_db, val_fraction, test_fraction, seed,
      split_by).

  Raises:
    PrepareError: nothing usable was found, or output_dir was prepared with
      other settings or by an older version.
  """
  inputs = list(inputs)
  settings = default_settings(**settings)
  check_settings(settings)
  os.makedirs(output_dir, exist_ok=True)
  manifest = manifest_to_extend(output_dir, settings,
                                existing_manifest(output_dir))
  keys = input_keys(inputs)
  removed = remove_leftovers(output_dir, manifest)
  started = time.time()
  workers = workers or os.cpu_count() or 1
  ctx = multiprocessing.get_context("spawn")
  pool = ctx.Pool(workers) if workers > 1 and len(keys) > 1 else None
  scratch = tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=output_dir)
  try:
    found = list(pool.imap(hash_file, keys) if pool else map(hash_file, keys))
    plan = plan_files(found, keys, manifest, settings)
    jobs = [(path, keys[path], sha256, os.path.join(scratch, f"{i}.raw"),
             settings) for i, (path, sha256) in enumerate(plan.todo)]
    results = (pool.imap(_process_file, jobs) if pool and len(jobs) > 1
               else map(_process_file, jobs))
    bar = _progress_bar(_seconds_of(path for path, _ in plan.todo), progress)
    try:
      _report_start(bar, removed, plan)
      source_seconds = _write_results(results, plan, manifest, output_dir,
                                      shard_megabytes, settings, bar)
    finally:
      bar.close()
  finally:
    if pool:
      pool.terminate()
    shutil.rmtree(scratch, ignore_errors=True)
  files.write_json(os.path.join(output_dir, MANIFEST),
                   finish_manifest(manifest, started))
  check_usable(manifest, output_dir, inputs)
  manifest["_new_source_seconds"] = source_seconds
  manifest["_already_prepared"] = len(plan.moved)
  return manifest


def _report_start(bar: Any, removed: list[str], plan: Plan) -> None:
  """Says what was cleaned up, moved or skipped before decoding."""
  if removed:
    bar.write(f"removed {len(removed)} file(s) left by an interrupted "
              f"run: {', '.join(removed)}")
  if plan.moved:
    bar.write(f"{len(plan.moved)} file(s) already prepared from another path "
              f"(moved or renamed; same bytes), nothing added: e.g. "
              f"{plan.moved[0][0]} (was {plan.moved[0][1]})")
  for entry in plan.skipped:
    bar.write(f"skipped {entry['path']}: {entry['reason']}")


def record_results(results: Iterable[dict], plan: Plan, manifest: dict,
                   shard_megabytes: float, settings: dict
                   ) -> Iterator[tuple[dict, int | None]]:
  """Records a run's outcome in `manifest` (in place), file by file.

  First the plan's skipped files, then each decoded file (`add_decoded`),
  in `plan.todo` order, its shard chosen by a `ShardPlan`.

  Args:
    results: per `plan.todo` file, in order: path, key, sha256 and what
      `decode_file` returned.

  Yields:
    (result, its index in manifest["files"], or None if skipped).
  """
  manifest["skipped"].extend(plan.skipped)
  shards = ShardPlan(manifest, int(shard_megabytes * 2**20))
  for result in results:
    yield result, add_decoded(manifest, result, plan.splits[result["path"]],
                              shards, settings)


def _write_results(results: Iterable[dict], plan: Plan, manifest: dict,
                   output_dir: str, shard_megabytes: float, settings: dict,
                   bar: Any) -> float:
  """`record_results`, writing the chunks of each file used as it comes;
  returns the seconds of source audio used."""
  writers = {split: ShardWriter(output_dir) for split in SPLITS}
  source_seconds = 0.0
  try:
    for result, index in record_results(results, plan, manifest,
                                        shard_megabytes, settings):
      if index is None:
        bar.write(f"skipped {result['path']}: {result['error']}")
      else:
        entry = manifest["files"][index]
        for offset, codes in file_chunks(result["raw"], settings):
          writers[entry["split"]].write(entry["shard"], codes, index, offset)
        source_seconds += result["source_seconds"]
      bar.update(min(result.get("source_seconds", 0.0), bar_left(bar)))
      if os.path.exists(result["raw"]):
        os.remove(result["raw"])
  finally:
    for writer in writers.values():
      writer.close()
  return source_seconds


def _new_file_splits(todo: list[tuple[str, str]], keys: dict[str, str],
                     manifest: dict, settings: dict) -> dict[str, str]:
  """{path: split} of the `todo` files; a group keeps its recorded split."""
  groups = {path: group_of(keys[path], settings, sha256)
            for path, sha256 in todo}
  recorded = {group_of(f["key"], settings, f["sha256"]): f["split"]
              for f in manifest["files"]}
  splits = assign_splits(list(recorded) + list(groups.values()), settings)
  splits.update(recorded)
  return {path: splits[group] for path, group in groups.items()}


def _seconds_of(paths: Iterable[str]) -> float:
  """Seconds of audio in the files (unreadable ones count 0)."""
  total = 0.0
  for path in paths:
    try:
      total += audio_lib.info(path)["seconds"]
    except audio_lib.AudioError:
      pass
  return total


def _split_summary(manifest: dict) -> dict:
  summary = {}
  for split in SPLITS:
    chosen = [f for f in manifest["files"] if f["split"] == split]
    summary[split] = dict(
        num_files=len(chosen),
        num_chunks=sum(f["num_chunks"] for f in chosen),
        num_samples=sum(f["num_samples"] for f in chosen),
        hours=round(sum(f["duration_seconds"] for f in chosen) / 3600, 4),
        shards=sorted({f["shard"] for f in chosen}))
  return summary


def bar_left(bar: Any) -> float:
  total = getattr(bar, "total", None)
  return float("inf") if total is None else max(0.0, total - bar.n)


class _NoBar:
  def update(self, _: float) -> None:
    pass

  def write(self, text: str) -> None:
    print(text, file=sys.stderr)

  def close(self) -> None:
    pass


def _progress_bar(total_seconds: float, enabled: bool) -> Any:
  if not enabled:
    return _NoBar()
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  return tqdm(total=total_seconds, unit="s", unit_scale=True,
              desc="audio", dynamic_ncols=True,
              bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s audio "
              "[{elapsed}<{remaining}, {rate_fmt}]")


def summary_text(manifest: dict) -> str:
  """A short human summary of a manifest."""
  s = manifest["splits"]
  lines = [f"files used: {len(manifest['files'])}, skipped: "
           f"{len(manifest['skipped'])}"]
  for split in SPLITS:
    lines.append(f"  {split:5s}: {s[split]['num_files']:5d} files "
                 f"{s[split]['hours'] * 60:8.2f} min  "
                 f"{s[split]['num_chunks']} chunks")
  for skipped in manifest["skipped"]:
    lines.append(f"  skipped {skipped['path']}: {skipped['reason']}")
  st = manifest["settings"]
  lines.append(f"settings: {st['sample_rate']} Hz, {st['quantization']} "
               f"{st['q_levels']} levels, chunks of {st['chunk_seconds']} s")
  return "\n".join(lines)
