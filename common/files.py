"""Small file helpers: durable atomic writes, and never overwriting silently.

Every output of the suite (wav and other audio, JSON, HTML, .npy, plots) is
written to a temporary file beside its final path and renamed onto it
(`atomic_path`). The temporary file is flushed to disk (fsync) before the
rename and the folder after it, so after a crash or a power loss the path
holds the old file or the new one, never a part. A killed process can leave
its temporary file behind: a hidden `.<name>.<random>.tmp<ext>` that no tool
reads as an output; `remove_stale_temporaries` clears those of a path before
it is written again.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from typing import Any, Iterable, Iterator

# The random part `tempfile.mkstemp` puts in a name.
_MKSTEMP_CHARS = r"[a-z0-9_]{8}"


def fsync_path(path: str, directory: bool = False) -> None:
  """Flushes a file's (or a folder's) data and metadata to the disk."""
  fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
  try:
    os.fsync(fd)
  finally:
    os.close(fd)


def durable_replace(tmp: str, path: str) -> None:
  """Renames the written file `tmp` onto `path` so that a crash leaves the
  old `path` or the new one: fsync `tmp`, rename, fsync the folder."""
  fsync_path(tmp)
  os.replace(tmp, path)
  fsync_path(os.path.dirname(os.path.abspath(path)), directory=True)


def _temporary_parts(path: str) -> tuple[str, str, str]:
  """(folder, prefix, suffix) of the temporary names `atomic_path` uses."""
  directory = os.path.dirname(os.path.abspath(path)) or "."
  base, ext = os.path.splitext(os.path.basename(path))
  return directory, f".{base}.", f".tmp{ext}"


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
  """Yields a temporary path beside `path`; moves it onto `path` on success.

  The temporary file keeps the extension of `path` (so libraries that pick a
  format from the name still work); write and close it inside the block. On
  success it is made durable and renamed (`durable_replace`); on an
  exception it is removed and `path` is untouched.
  """
  directory, prefix, suffix = _temporary_parts(path)
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=directory)
  os.close(fd)
  # mkstemp makes the file private (0600); give it the usual permissions.
  umask = os.umask(0)
  os.umask(umask)
  os.chmod(tmp, 0o666 & ~umask)
  try:
    yield tmp
    durable_replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def _remove_matching(directory: str, pattern: str) -> list[str]:
  if not os.path.isdir(directory):
    return []
  removed = []
  for name in sorted(os.listdir(directory)):
    if re.fullmatch(pattern, name):
      os.remove(os.path.join(directory, name))
      removed.append(os.path.join(directory, name))
  return removed


def remove_stale_temporaries(path: str) -> list[str]:
  """Removes the temporary files `atomic_path(path)` left when its process
  was killed; returns their paths. Call it only for a path this command is
  about to write (a running writer of the same path would lose its file)."""
  directory, prefix, suffix = _temporary_parts(path)
  return _remove_matching(directory, re.escape(prefix) + _MKSTEMP_CHARS +
                          re.escape(suffix))


def remove_stale_temporaries_in(directory: str) -> list[str]:
  """Removes every temporary file `atomic_path` left in `directory` (not in
  its subfolders); only for a folder the command owns."""
  return _remove_matching(directory,
                          r"\..+\." + _MKSTEMP_CHARS + r"\.tmp(\.[^.]+)?")


def write_json(path: str, data: Any) -> None:
  """Writes `data` as indented JSON to `path` atomically."""
  with atomic_path(path) as tmp:
    with open(tmp, "w") as f:
      json.dump(data, f, indent=2, sort_keys=False, default=_jsonable)
      f.write("\n")


def write_text(path: str, text: str) -> None:
  """Writes `text` to `path` as UTF-8, atomically."""
  with atomic_path(path) as tmp:
    with open(tmp, "w", encoding="utf-8") as f:
      f.write(text)


def sidecar_path(path: str) -> str:
  """The JSON written beside an output file: `x/y.wav` -> `x/y.json`."""
  return os.path.splitext(path)[0] + ".json"


def read_json(path: str) -> Any:
  """The JSON value in the file `path`."""
  with open(path) as f:
    return json.load(f)


def _jsonable(value: Any) -> Any:
  """Lets NumPy scalars and arrays through `json.dump`."""
  if hasattr(value, "tolist"):
    return value.tolist()
  raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def refuse_overwrite(path: str, overwrite: bool = False) -> None:
  """Raises FileExistsError if `path` exists and `overwrite` is False."""
  if os.path.exists(path) and not overwrite:
    raise FileExistsError(
        f"{path}: already exists; pass --overwrite to replace it")


def records_request(sidecar_path: str, request: dict) -> bool:
  """True if the JSON file `sidecar_path` exists and holds every key of
  `request` with the same value (compared as JSON)."""
  try:
    recorded = read_json(sidecar_path)
  except (OSError, ValueError):
    return False
  wanted = json.loads(json.dumps(request, default=_jsonable))
  return isinstance(recorded, dict) and all(
      k in recorded and recorded[k] == v for k, v in wanted.items())


def claim_outputs(outputs: Iterable[tuple[str, str, dict]],
                  overwrite: bool = False) -> bool:
  """Checks the outputs a command is about to write; True if all are done.

  Args:
    outputs: `(path, sidecar_path, request)` per output: the file, the JSON
      written beside it, and the settings that determine the file's content.
      A command writes the sidecar (holding `request`) before it renames the
      file into place, so an existing file whose sidecar holds the same
      request was made by an earlier run of the same command, perhaps
      interrupted before its other outputs.
    overwrite: replace outputs made otherwise.

  Returns:
    True if every output exists with a sidecar marked `"complete": true`
    holding its request (a re-run has nothing to do; never with
    `overwrite`), else False; before returning False, removes the stale
    temporaries of the outputs.

  Raises:
    FileExistsError: an output or its sidecar exists, was not made by this
      request, and `overwrite` is False.
  """
  outputs = list(outputs)
  done = not overwrite
  for path, sidecar, request in outputs:
    ours = records_request(sidecar, request)
    if not overwrite and not ours:
      refuse_overwrite(path)
      refuse_overwrite(sidecar)
    done = done and ours and os.path.exists(path) and records_request(
        sidecar, dict(complete=True))
  if not done:
    for path, sidecar, _ in outputs:
      remove_stale_temporaries(path)
      remove_stale_temporaries(sidecar)
  return done
