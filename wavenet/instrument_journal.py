"""The instrument build's journal: `build.json` and `renders.jsonl`.

`build.json` holds the settings that determine the renders (model
checkpoint, sound files' contents, grid, pitches, seconds, temperature,
seed and the seeding rule); it is written first, so a folder is an
instrument's only if it holds it, and a build with other settings is
refused unless it starts over. Every rendered note is written to
`renders/` atomically and then appended to `renders.jsonl` (its point,
pitch, file, seed, temperature, peak and RMS), flushed to disk: a resumed
build renders only the notes without a valid record.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil

from common import files
from wavenet.instrument_sounds import InstrumentError

RECORDS = "renders.jsonl"
BUILD = "build.json"
MANIFEST = "manifest.json"
# What a build writes in OUT (and removes on --overwrite).
OWN_PATHS = ("renders", "audio", "sfz", RECORDS, BUILD, MANIFEST,
             "index.html", "samples.js")
Job = tuple[int, int]  # (grid point, pitch)


def file_sha1(path: str) -> str:
  """The hex SHA-1 of a file's bytes."""
  digest = hashlib.sha1()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      digest.update(chunk)
  return digest.hexdigest()


def render_stem(point: int, pitch: int, num_points: int) -> str:
  """`pNN_nPPP`: a note's file name without extension."""
  width = max(2, len(str(num_points - 1)))
  return f"p{point:0{width}d}_n{pitch:03d}"


def read_records(output_dir: str) -> dict[Job, dict]:
  """The valid render records: {(point, pitch): record}.

  A record counts only if its file exists (a crash between writing a file
  and recording it, or a deleted file, means render again); a torn last
  line is ignored.
  """
  path = os.path.join(output_dir, RECORDS)
  records: dict[Job, dict] = {}
  if not os.path.exists(path):
    return records
  with open(path) as f:
    for line in f:
      try:
        record = json.loads(line)
      except json.JSONDecodeError:
        continue
      if os.path.exists(os.path.join(output_dir, record["file"])):
        records[(record["point"], record["pitch"])] = record
  return records


def end_records_line(output_dir: str) -> None:
  """Ends a torn last line (a crash mid-append) so new records parse."""
  path = os.path.join(output_dir, RECORDS)
  if os.path.exists(path) and os.path.getsize(path):
    with open(path, "rb+") as f:
      f.seek(-1, os.SEEK_END)
      if f.read(1) != b"\n":
        f.write(b"\n")


def append_record(output_dir: str, record: dict) -> None:
  """Appends one record to `renders.jsonl`, on disk when this returns."""
  with open(os.path.join(output_dir, RECORDS), "a") as f:
    f.write(json.dumps(record) + "\n")
    f.flush()
    os.fsync(f.fileno())



def _remove_own_paths(output_dir: str) -> None:
  for name in OWN_PATHS:
    path = os.path.join(output_dir, name)
    if os.path.isdir(path):
      shutil.rmtree(path)
    elif os.path.exists(path):
      os.remove(path)


def prepare_output(output_dir: str, fingerprint: dict,
                   overwrite: bool) -> None:
  """Starts or resumes OUT; refuses a mismatched or foreign folder.

  A folder is an instrument's if it holds `BUILD` (written first, before
  anything else); only then does `overwrite` remove what a build wrote. A
  non-empty folder without it is refused, `overwrite` or not: the build
  deletes only folders it made.
  """
  build_path = os.path.join(output_dir, BUILD)
  files.remove_stale_temporaries(build_path)  # a start killed mid-write
  if not os.path.exists(build_path) and os.path.isdir(output_dir) and (
      os.listdir(output_dir)):
    raise InstrumentError(
        f"{output_dir}: exists and is not an instrument folder (no {BUILD}); "
        f"choose an empty or new --output_dir")
  if overwrite:
    _remove_own_paths(output_dir)
  elif os.path.exists(build_path):
    previous = files.read_json(build_path)
    changed = [k for k in fingerprint if previous.get(k) != fingerprint[k]]
    if changed:
      raise InstrumentError(
          f"{output_dir}: already holds an instrument built with other "
          f"settings ({', '.join(changed)} differ); pass --overwrite to "
          f"start over, or use another --output_dir")
  files.write_json(build_path, fingerprint)
  os.makedirs(os.path.join(output_dir, "renders"), exist_ok=True)
  for folder in (output_dir, os.path.join(output_dir, "renders")):
    files.remove_stale_temporaries_in(folder)  # left by a killed build
