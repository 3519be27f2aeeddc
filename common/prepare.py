r"""Corpus preparation: audio files -> TFRecord shards of codes + manifest.json.

    python -m common.prepare --input=~/music --input=extra.flac \
        --output_dir=data/my_corpus [--sample_rate=16000 --quantization=mu_law]

What it does, file by file (in parallel over `--workers` processes):
decode (any format soundfile reads), average channels, resample to
`sample_rate` with soxr, optionally drop long silences, quantize, and cut into
chunks of `chunk_seconds`. Each source file goes wholly into one split
(train/val/test), chosen by a hash of its path relative to its input, so the
split is deterministic and stays put when files are added.

Output layout of `output_dir`:

    manifest.json                settings, every file (split, duration,
                                 samples, chunks, shard), skipped files
    train-00000.tfrecord ...     one tf.train.Example per chunk:
    val-00000.tfrecord ...         codes (bytes: uint8, or uint16 LE when
    test-00000.tfrecord ...        q_levels > 256), file_index, offset

Memory stays bounded: workers stream each file in blocks and write raw codes
to a scratch file; the main process cuts chunks from it with a memory map.

Re-running into the same `output_dir` with the same settings adds the new
files (existing shards are kept as they are); other settings are refused.
"""

import hashlib
import multiprocessing
import os
import re
import shutil
import sys
import tempfile
import time

import numpy as np

from common import audio as audio_lib
from common import files
from common import quantization

MANIFEST = "manifest.json"
SPLITS = ("train", "val", "test")
SETTING_KEYS = ("sample_rate", "quantization", "q_levels", "chunk_seconds",
                "trim_silence_db", "val_fraction", "test_fraction", "seed",
                "split_by")
TRIM_FRAME_SECONDS = 0.05
TRIM_KEEP_SECONDS = 0.5


class PrepareError(RuntimeError):
  """Nothing usable, or an output directory holding other settings."""


def default_settings(**overrides):
  settings = dict(sample_rate=16000, quantization="mu_law", q_levels=256,
                  chunk_seconds=4.0, trim_silence_db=None, val_fraction=0.1,
                  test_fraction=0.1, seed=0, split_by=None)
  settings.update({k: v for k, v in overrides.items() if v is not None})
  return settings


def code_dtype(q_levels):
  """The NumPy dtype codes are stored as in the shards."""
  return np.uint8 if q_levels <= 256 else np.dtype("<u2")


def group_of(key, settings):
  """The group a file is split with: `key`, or the first group of the
  `split_by` regular expression searched in it (e.g. `(.*)-\\d+\\.wav$`
  keeps every velocity of an instrument-pitch together)."""
  pattern = settings.get("split_by")
  if pattern:
    match = re.search(pattern, key)
    if match:
      return match.group(1) if match.groups() else match.group(0)
  return key


def split_of(key, settings):
  """The split of a file, from a hash of its group (see `group_of`) and seed.

  Returns "test" if u < test_fraction, "val" if u < test+val, else "train",
  with u uniform in [0, 1) from SHA-1 of f"{seed}:{group}".
  """
  return _split_for_score(_hash_score(key, settings), settings)


def _split_for_score(u, settings):
  if u < settings["test_fraction"]:
    return "test"
  if u < settings["test_fraction"] + settings["val_fraction"]:
    return "val"
  return "train"


def _hash_score(key, settings):
  group = group_of(key, settings)
  digest = hashlib.sha1(f"{settings['seed']}:{group}".encode()).digest()
  return int.from_bytes(digest[:8], "big") / 2.0**64


def assign_splits(keys, settings):
  """Splits for many files: `split_of`, but never an empty val/test split.

  With at least 3 groups, a requested val or test split that the hash left
  empty gets the train group with the lowest hash score (so the choice is
  still deterministic and changes little when files are added).
  """
  splits = {k: split_of(k, settings) for k in keys}
  for split, wanted in (("test", settings["test_fraction"]),
                        ("val", settings["val_fraction"])):
    train = sorted({group_of(k, settings) for k in keys
                    if splits[k] == "train"})
    groups = {group_of(k, settings) for k in keys}
    if (wanted > 0 and len(groups) >= 3 and len(train) > 1 and
        split not in splits.values()):
      pick = min(train, key=lambda g: _hash_score(g, {**settings,
                                                       "split_by": None}))
      for k in keys:
        if group_of(k, settings) == pick:
          splits[k] = split
  return splits


def trim_silence(block, sample_rate, threshold_db, state):
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


def _process_file(job):
  """Worker: one source file -> raw codes in a scratch file + its facts.

  Returns a dict: path, key, and either `error` or `num_samples`,
  `source_seconds`, `raw` (scratch path).
  """
  path, key, raw_path, settings = job
  result = dict(path=path, key=key)
  try:
    sr = settings["sample_rate"]
    trim_state = {}
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


def _chunk_offsets(num_samples, chunk):
  """Start offsets of fixed-length chunks covering a file.

  Chunks tile the file; the last one ends at the file's end (overlapping the
  one before it) so no audio is lost and every chunk is `chunk` long.
  """
  starts = list(range(0, num_samples - chunk + 1, chunk))
  if starts and starts[-1] + chunk < num_samples:
    starts.append(num_samples - chunk)
  return starts


class _ShardWriter:
  """Rolling TFRecord shards for one split, written atomically."""

  def __init__(self, output_dir, split, first_index, max_bytes):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    self._tf = tf
    self.output_dir, self.split = output_dir, split
    self.index, self.max_bytes = first_index, max_bytes
    self._writer = None
    self._bytes = 0
    self.written = []

  @property
  def name(self):
    return f"{self.split}-{self.index:05d}.tfrecord"

  def _open(self):
    self._tmp = os.path.join(self.output_dir, "." + self.name + ".tmp")
    self._writer = self._tf.io.TFRecordWriter(self._tmp)
    self._bytes = 0

  def _close(self):
    if self._writer is not None:
      self._writer.close()
      os.replace(self._tmp, os.path.join(self.output_dir, self.name))
      self.written.append(self.name)
      self._writer = None
      self.index += 1

  def write(self, codes_bytes, file_index, offset):
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
    self._writer.write(example.SerializeToString())
    self._bytes += len(codes_bytes)
    return self.name

  def end_file(self):
    """Shards only roll over between files, so a file sits in one shard."""
    if self._bytes >= self.max_bytes:
      self._close()

  def close(self):
    self._close()


def read_manifest(data_dir):
  path = os.path.join(data_dir, MANIFEST)
  if not os.path.exists(path):
    raise PrepareError(f"{data_dir}: no {MANIFEST}; prepare a corpus with "
                       f"`python -m common.prepare --input=... "
                       f"--output_dir={data_dir}`")
  return files.read_json(path)


def _input_keys(inputs):
  """Maps each audio file found under `inputs` to a stable relative key."""
  keys = {}
  for root in inputs:
    root_abs = os.path.abspath(root)
    for path in audio_lib.find_audio_files([root]):
      base = os.path.dirname(root_abs) if os.path.isdir(root_abs) else (
          os.path.dirname(root_abs))
      keys[path] = os.path.relpath(path, base)
  return keys


def prepare(inputs, output_dir, workers=None, shard_megabytes=64,
            progress=True, **settings):
  """Prepares a corpus; returns the manifest dict (also written to disk).

  Args:
    inputs: list of files and folders (searched recursively).
    output_dir: where shards and manifest.json go.
    workers: processes decoding in parallel (default: the CPU count).
    shard_megabytes: a shard is closed after this many MB of codes.
    progress: show a tqdm progress bar over seconds of source audio.
    **settings: see `default_settings` (sample_rate, quantization, q_levels,
      chunk_seconds, trim_silence_db, val_fraction, test_fraction, seed).

  Raises:
    PrepareError: nothing usable was found, or output_dir was prepared with
      other settings.
  """
  settings = default_settings(**settings)
  quantization.encode(np.zeros(1), settings["quantization"],
                      settings["q_levels"])  # validates kind and q_levels
  os.makedirs(output_dir, exist_ok=True)
  manifest_path = os.path.join(output_dir, MANIFEST)
  if os.path.exists(manifest_path):
    manifest = files.read_json(manifest_path)
    old = manifest["settings"]
    diff = [k for k in SETTING_KEYS if old.get(k) != settings.get(k)]
    if diff:
      raise PrepareError(
          f"{output_dir}: already holds a corpus prepared with other settings "
          f"({', '.join(f'{k}={old.get(k)!r}' for k in diff)}; now "
          f"{', '.join(f'{k}={settings.get(k)!r}' for k in diff)}); "
          f"use another --output_dir or delete it")
  else:
    manifest = dict(version=1, settings=settings, files=[], skipped=[])

  keys = _input_keys(inputs)
  done = {f["path"] for f in manifest["files"]} | {
      s["path"] for s in manifest["skipped"]}
  todo = [p for p in keys if p not in done]
  all_keys = [f["key"] for f in manifest["files"]] + [keys[p] for p in todo]
  splits = assign_splits(all_keys, settings)
  for f in manifest["files"]:  # earlier files keep their split
    splits[f["key"]] = f["split"]

  chunk = int(round(settings["chunk_seconds"] * settings["sample_rate"]))
  dtype = code_dtype(settings["q_levels"])
  next_shard = {s: 1 + max([int(n.split("-")[1][:5]) for f in manifest["files"]
                            for n in [f["shard"]] if n.startswith(s + "-")],
                           default=-1) for s in SPLITS}
  writers = {s: _ShardWriter(output_dir, s, next_shard[s],
                             shard_megabytes * 2**20) for s in SPLITS}
  started = time.time()
  scratch = tempfile.mkdtemp(prefix=".scratch-", dir=output_dir)
  source_seconds = 0.0
  try:
    jobs = [(p, keys[p], os.path.join(scratch, f"{i}.raw"), settings)
            for i, p in enumerate(todo)]
    total_seconds = 0.0
    for p in todo:
      try:
        total_seconds += audio_lib.info(p)["seconds"]
      except audio_lib.AudioError:
        pass
    bar = _progress_bar(total_seconds, progress)
    workers = workers or os.cpu_count() or 1
    ctx = multiprocessing.get_context("spawn")
    pool = ctx.Pool(workers) if workers > 1 and len(jobs) > 1 else None
    results = (pool.imap(_process_file, jobs) if pool else
               map(_process_file, jobs))
    try:
      for result in results:
        if "error" not in result and result["num_samples"] < chunk:
          result["error"] = (
              f"shorter than one chunk ({result['num_samples']} samples < "
              f"{chunk} = chunk_seconds {settings['chunk_seconds']} s)")
        if "error" in result:
          manifest["skipped"].append(dict(path=result["path"],
                                          reason=result["error"]))
          bar.write(f"skipped {result['path']}: {result['error']}")
        else:
          _write_chunks(result, splits[result["key"]], writers, manifest,
                        chunk, dtype, settings)
          source_seconds += result["source_seconds"]
        bar.update(min(result.get("source_seconds", 0.0),
                       bar_left(bar)))
        if result.get("raw") and os.path.exists(result["raw"]):
          os.remove(result["raw"])
    finally:
      if pool:
        pool.terminate()
      bar.close()
    for writer in writers.values():
      writer.close()
  finally:
    shutil.rmtree(scratch, ignore_errors=True)
  manifest["splits"] = _split_summary(manifest)
  manifest["seconds_taken"] = round(time.time() - started, 3)
  files.write_json(manifest_path, manifest)
  if not manifest["files"]:
    raise PrepareError(
        f"{output_dir}: no usable audio in {', '.join(inputs)} "
        f"({len(manifest['skipped'])} file(s) skipped)")
  manifest["_new_source_seconds"] = source_seconds
  return manifest


def _write_chunks(result, split, writers, manifest, chunk, dtype, settings):
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
      path=result["path"], key=result["key"], split=split,
      duration_seconds=round(result["num_samples"] / settings["sample_rate"],
                             4),
      source_seconds=round(result["source_seconds"], 4),
      num_samples=int(result["num_samples"]), num_chunks=len(offsets),
      shard=shard))


def _split_summary(manifest):
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


def bar_left(bar):
  total = getattr(bar, "total", None)
  return float("inf") if total is None else max(0.0, total - bar.n)


class _NoBar:
  def update(self, _):
    pass

  def write(self, text):
    print(text, file=sys.stderr)

  def close(self):
    pass


def _progress_bar(total_seconds, enabled):
  if not enabled:
    return _NoBar()
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  return tqdm(total=total_seconds, unit="s", unit_scale=True,
              desc="audio", dynamic_ncols=True,
              bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s audio "
              "[{elapsed}<{remaining}, {rate_fmt}]")


def summary_text(manifest):
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


# ---- CLI -------------------------------------------------------------------

def main(argv):
  from absl import flags  # pylint: disable=g-import-not-at-top
  del argv
  f = flags.FLAGS
  try:
    manifest = prepare(
        f.input, f.output_dir, workers=f.workers, progress=True,
        shard_megabytes=f.shard_megabytes, sample_rate=f.sample_rate,
        quantization=f.quantization, q_levels=f.q_levels,
        chunk_seconds=f.chunk_seconds, trim_silence_db=f.trim_silence_db,
        val_fraction=f.val_fraction, test_fraction=f.test_fraction,
        seed=f.seed, split_by=f.split_by)
  except (PrepareError, audio_lib.AudioError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  seconds = manifest.pop("_new_source_seconds")
  taken = manifest["seconds_taken"]
  print(summary_text(manifest))
  if seconds:
    print(f"prepared {seconds / 60:.1f} min of audio in {taken:.1f} s "
          f"({seconds / max(taken, 1e-9):.0f}x real time)")
  print(f"wrote {os.path.join(f.output_dir, MANIFEST)}")
  return 0


def define_flags():
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_multi_string("input", None, "Audio file or folder (recursive); "
                            "repeat the flag for more.")
  flags.DEFINE_string("output_dir", None, "Where shards and manifest.json go.")
  flags.DEFINE_integer("sample_rate", 16000, "Target sample rate in Hz.")
  flags.DEFINE_enum("quantization", "mu_law", list(quantization.KINDS),
                    "Quantizer.")
  flags.DEFINE_integer("q_levels", 256, "Number of quantization levels.")
  flags.DEFINE_float("chunk_seconds", 4.0, "Length of each stored chunk; "
                     "training crops are cut from chunks, so this bounds "
                     "the crop length. Files shorter than this are skipped.")
  flags.DEFINE_float("trim_silence_db", None, "If set, silent stretches "
                     "(RMS below this dBFS) longer than 0.5 s are cut to "
                     "0.5 s. Off by default (quiet note tails are music).")
  flags.DEFINE_float("val_fraction", 0.1, "Share of files in val.")
  flags.DEFINE_float("test_fraction", 0.1, "Share of files in test.")
  flags.DEFINE_integer("seed", 0, "Seed of the split hash.")
  flags.DEFINE_string("split_by", None, "Regular expression: files whose "
                      "relative paths give the same first group go to the "
                      "same split, e.g. '(.*)-\\d+\\.wav$' keeps all "
                      "velocities of an instrument-pitch together.")
  flags.DEFINE_integer("workers", None, "Decoding processes (default: CPUs).")
  flags.DEFINE_integer("shard_megabytes", 64, "Shard size in MB of codes.")
  flags.mark_flags_as_required(["input", "output_dir"])


def run():
  from absl import app  # pylint: disable=g-import-not-at-top
  define_flags()
  app.run(lambda argv: sys.exit(main(argv)))


if __name__ == "__main__":
  run()
