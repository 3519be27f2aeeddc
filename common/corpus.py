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

The manifest is written last. A run that is interrupted (even by SIGKILL)
leaves scratch folders, temporary files and shards the manifest does not
list; the next run into the same `output_dir` removes them (and says so)
before it starts, and so ends with the same shards and manifest as a run that
was never interrupted. Only one run at a time may write into an `output_dir`.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import re
import shutil
import sys
import tempfile
import time
from typing import Any, Iterable

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


def file_sha256(path: str, block_bytes: int = HASH_BLOCK_BYTES) -> str:
  """Hex SHA-256 of a file's bytes, read `block_bytes` at a time."""
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(block_bytes), b""):
      digest.update(block)
  return digest.hexdigest()


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


def _hash_file(path: str) -> tuple[str, str | None, str | None]:
  """Worker: (path, sha256, None), or (path, None, reason) if unreadable."""
  try:
    return path, file_sha256(path), None
  except FileNotFoundError:
    return path, None, "file not found"
  except OSError as e:
    return path, None, f"unreadable ({e.strerror or e})"


def _process_file(job: tuple[str, str, str, str, dict]) -> dict:
  """Worker: one source file -> raw codes in a scratch file + its facts.

  Returns a dict: path, key, sha256, and either `error` or `num_samples`,
  `source_seconds`, `raw` (scratch path).
  """
  path, key, sha256, raw_path, settings = job
  result: dict[str, Any] = dict(path=path, key=key, sha256=sha256)
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
    info = audio_lib.info(path)
    result.update(num_samples=count, source_seconds=info["seconds"],
                  raw=raw_path)
    if count == 0:
      result["error"] = "no audio left (empty, or all silence)"
  except audio_lib.AudioError as e:
    result["error"] = str(e).split(": ", 1)[-1]
  except Exception as e:  # pylint: disable=broad-except
    result["error"] = f"{type(e).__name__}: {e}"
  return result


def _chunk_offsets(num_samples: int, chunk: int) -> list[int]:
  """Start offsets of fixed-length chunks covering a file.

  Chunks tile the file; the last one ends at the file's end (overlapping the
  one before it) so no audio is lost and every chunk is `chunk` long.
  """
  starts = list(range(0, num_samples - chunk + 1, chunk))
  if starts and starts[-1] + chunk < num_samples:
    starts.append(num_samples - chunk)
  return starts


class _ShardWriter:
  """Rolling TFRecord shards for one split, each written atomically."""

  def __init__(self, output_dir: str, split: str, first_index: int,
               max_bytes: int):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    self._tf = tf
    self.output_dir, self.split = output_dir, split
    self.index, self.max_bytes = first_index, max_bytes
    self._writer: Any = None
    self._atomic: Any = None
    self._bytes = 0

  @property
  def name(self) -> str:
    return f"{self.split}-{self.index:05d}.tfrecord"

  def _open(self) -> None:
    self._atomic = files.atomic_path(os.path.join(self.output_dir, self.name))
    self._writer = self._tf.io.TFRecordWriter(self._atomic.__enter__())
    self._bytes = 0

  def _close(self) -> None:
    if self._writer is not None:
      self._writer.close()
      self._atomic.__exit__(None, None, None)
      self._writer = self._atomic = None
      self.index += 1

  def write(self, codes_bytes: bytes, file_index: int, offset: int) -> str:
    tf = self._tf
    if self._writer is None:
      self._open()
    example = tf.train.Example(features=tf.train.Features(feature={
        "codes": tf.train.Feature(bytes_list=tf.train.BytesList(
            value=[codes_bytes])),
        "file_index": tf.train.Feature(int64_list=tf.train.Int64List(
            value=[file_index])),
        "offset": tf.train.Feature(int64_list=tf.train.Int64List(
            value=[offset])),
    }))
    # Deterministic: map fields in key order (else the order of the three
    # features can differ from one process to the next).
    self._writer.write(example.SerializeToString(deterministic=True))
    self._bytes += len(codes_bytes)
    return self.name

  def end_file(self) -> None:
    """Shards only roll over between files, so a file sits in one shard."""
    if self._bytes >= self.max_bytes:
      self._close()

  def close(self) -> None:
    self._close()


def read_manifest(data_dir: str) -> dict:
  path = os.path.join(data_dir, MANIFEST)
  if not os.path.exists(path):
    raise PrepareError(f"{data_dir}: no {MANIFEST}; prepare a corpus with "
                       f"`python -m common.prepare --input=... "
                       f"--output_dir={data_dir}`")
  return files.read_json(path)


def _input_keys(inputs: Iterable[str]) -> dict[str, str]:
  """Maps each audio file found under `inputs` to a stable relative key."""
  keys = {}
  for root in inputs:
    root_abs = os.path.abspath(root)
    for path in audio_lib.find_audio_files([root]):
      keys[path] = os.path.relpath(path, os.path.dirname(root_abs))
  return keys


def _manifest_to_extend(output_dir: str, settings: dict) -> dict:
  """The manifest already in `output_dir` (checked), or a new empty one."""
  path = os.path.join(output_dir, MANIFEST)
  fresh = dict(version=MANIFEST_VERSION, settings=settings, files=[],
               skipped=[])
  if not os.path.exists(path):
    return fresh
  manifest = files.read_json(path)
  if not manifest.get("files"):
    # An earlier run found nothing usable (its manifest only reports what
    # was skipped): start afresh, so a corrected retry is not refused.
    return fresh
  if manifest.get("version") != MANIFEST_VERSION:
    raise PrepareError(
        f"{path}: version {manifest.get('version')}, written by an older "
        f"common.prepare that identified files by path, not content; adding "
        f"to it could add the same audio twice, so prepare into a new "
        f"--output_dir or delete this one (training on it still works)")
  old = manifest["settings"]
  diff = [k for k in SETTING_KEYS if old.get(k) != settings.get(k)]
  if diff:
    raise PrepareError(
        f"{output_dir}: already holds a corpus prepared with other settings "
        f"({', '.join(f'{k}={old.get(k)!r}' for k in diff)}; now "
        f"{', '.join(f'{k}={settings.get(k)!r}' for k in diff)}); "
        f"use another --output_dir or delete it")
  return manifest


def _remove_leftovers(output_dir: str, manifest: dict) -> list[str]:
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
    elif _SHARD_NAME.match(name) and name not in listed:
      os.remove(path)
    else:
      continue
    removed.append(name)
  return sorted(removed)


def _sort_out(found: list[tuple[str, str | None, str | None]],
              manifest: dict) -> tuple[list, list, list]:
  """Decides, by content, what to do with each file found in the inputs.

  Args:
    found: [(path, sha256, error)] as `_hash_file` returns them, in input
      order (the first of several files with the same bytes is used).
    manifest: the manifest being extended.

  Returns:
    todo: [(path, sha256)], content not prepared yet.
    skipped: new skipped entries: unreadable files, and duplicates (same
      bytes as a file used or skipped before, which is still at its path).
    moved: [(path, recorded path)], content prepared before from a path that
      no longer exists (a moved or renamed file): nothing to add.
  """
  recorded = {(e["path"], e.get("sha256"))
              for e in manifest["files"] + manifest["skipped"]}
  first: dict[str, str] = {}  # sha256 -> the path its content is known by
  for entry in manifest["files"] + manifest["skipped"]:
    if entry.get("sha256") and "duplicate_of" not in entry:
      first.setdefault(entry["sha256"], entry["path"])
  todo, skipped, moved = [], [], []
  for path, sha256, error in found:
    if (path, sha256) in recorded:
      continue
    if error or sha256 is None:  # (`_hash_file` gives one or the other)
      skipped.append(dict(path=path, sha256=None, reason=error))
    elif sha256 not in first:
      first[sha256] = path
      todo.append((path, sha256))
    elif os.path.exists(first[sha256]):
      skipped.append(dict(path=path, sha256=sha256,
                          reason=f"duplicate of {first[sha256]} (same bytes)",
                          duplicate_of=first[sha256]))
    else:
      moved.append((path, first[sha256]))
  return todo, skipped, moved


def _check_settings(settings: dict) -> None:
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
  settings = default_settings(**settings)
  _check_settings(settings)
  os.makedirs(output_dir, exist_ok=True)
  manifest = _manifest_to_extend(output_dir, settings)
  keys = _input_keys(inputs)
  removed = _remove_leftovers(output_dir, manifest)
  chunk = int(round(settings["chunk_seconds"] * settings["sample_rate"]))
  dtype = code_dtype(settings["q_levels"])
  started = time.time()
  workers = workers or os.cpu_count() or 1
  ctx = multiprocessing.get_context("spawn")
  pool = ctx.Pool(workers) if workers > 1 and len(keys) > 1 else None
  scratch = tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=output_dir)
  source_seconds = 0.0
  try:
    found = list(pool.imap(_hash_file, keys) if pool else
                 map(_hash_file, keys))
    todo, skipped, moved = _sort_out(found, manifest)
    splits = _new_file_splits(todo, keys, manifest, settings)
    writers = _shard_writers(output_dir, manifest, shard_megabytes)
    jobs = [(path, keys[path], sha256, os.path.join(scratch, f"{i}.raw"),
             settings) for i, (path, sha256) in enumerate(todo)]
    bar = _progress_bar(_seconds_of(path for path, _ in todo), progress)
    try:
      if removed:
        bar.write(f"removed {len(removed)} file(s) left by an interrupted "
                  f"run: {', '.join(removed)}")
      if moved:
        bar.write(f"{len(moved)} file(s) already prepared from another path "
                  f"(moved or renamed; same bytes), nothing added: e.g. "
                  f"{moved[0][0]} (was {moved[0][1]})")
      for entry in skipped:
        manifest["skipped"].append(entry)
        bar.write(f"skipped {entry['path']}: {entry['reason']}")
      results = (pool.imap(_process_file, jobs) if pool and len(jobs) > 1
                 else map(_process_file, jobs))
      for result in results:
        if "error" not in result and result["num_samples"] < chunk:
          result["error"] = (
              f"shorter than one chunk ({result['num_samples']} samples < "
              f"{chunk} = chunk_seconds {settings['chunk_seconds']} s)")
        if "error" in result:
          manifest["skipped"].append(dict(path=result["path"],
                                          sha256=result["sha256"],
                                          reason=result["error"]))
          bar.write(f"skipped {result['path']}: {result['error']}")
        else:
          _write_chunks(result, splits[result["path"]], writers, manifest,
                        chunk, dtype, settings)
          source_seconds += result["source_seconds"]
        bar.update(min(result.get("source_seconds", 0.0), bar_left(bar)))
        if result.get("raw") and os.path.exists(result["raw"]):
          os.remove(result["raw"])
    finally:
      bar.close()
    for writer in writers.values():
      writer.close()
  finally:
    if pool:
      pool.terminate()
    shutil.rmtree(scratch, ignore_errors=True)
  manifest["splits"] = _split_summary(manifest)
  manifest["seconds_taken"] = round(time.time() - started, 3)
  files.write_json(os.path.join(output_dir, MANIFEST), manifest)
  if not manifest["files"]:
    raise PrepareError(
        f"{output_dir}: no usable audio in {', '.join(inputs)} "
        f"({len(manifest['skipped'])} file(s) skipped)")
  manifest["_new_source_seconds"] = source_seconds
  manifest["_already_prepared"] = len(moved)
  return manifest


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


def _shard_writers(output_dir: str, manifest: dict,
                   shard_megabytes: float) -> dict[str, _ShardWriter]:
  """A `_ShardWriter` per split, numbering on after the recorded shards."""
  writers = {}
  for split in SPLITS:
    first = 1 + max([int(f["shard"].split("-")[1][:5])
                     for f in manifest["files"]
                     if f["shard"].startswith(split + "-")], default=-1)
    writers[split] = _ShardWriter(output_dir, split, first,
                                  int(shard_megabytes * 2**20))
  return writers


def _seconds_of(paths: Iterable[str]) -> float:
  """Seconds of audio in the files (unreadable ones count 0)."""
  total = 0.0
  for path in paths:
    try:
      total += audio_lib.info(path)["seconds"]
    except audio_lib.AudioError:
      pass
  return total


def _write_chunks(result: dict, split: str, writers: dict[str, _ShardWriter],
                  manifest: dict, chunk: int, dtype: np.dtype,
                  settings: dict) -> None:
  """Appends a prepared file's chunks to its split's shards and its entry
  to the manifest."""
  codes = np.memmap(result["raw"], dtype=dtype, mode="r")
  file_index = len(manifest["files"])
  writer = writers[split]
  offsets = _chunk_offsets(len(codes), chunk)
  shard = None
  for offset in offsets:
    shard = writer.write(np.asarray(codes[offset:offset + chunk]).tobytes(),
                         file_index, offset)
  writer.end_file()
  del codes
  manifest["files"].append(dict(
      path=result["path"], key=result["key"], sha256=result["sha256"],
      split=split,
      duration_seconds=round(result["num_samples"] / settings["sample_rate"],
                             4),
      source_seconds=round(result["source_seconds"], 4),
      num_samples=int(result["num_samples"]), num_chunks=len(offsets),
      shard=shard))


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
