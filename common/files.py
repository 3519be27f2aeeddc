"""Small file helpers: atomic writes and refusing to overwrite silently."""

import contextlib
import json
import os
import tempfile


@contextlib.contextmanager
def atomic_path(path):
  """Yields a temporary path beside `path`; renames it onto `path` on success.

  The temporary file keeps the extension of `path` (so libraries that pick a
  format from the name still work). On an exception the temporary is removed
  and `path` is untouched.
  """
  directory = os.path.dirname(os.path.abspath(path)) or "."
  os.makedirs(directory, exist_ok=True)
  base, ext = os.path.splitext(os.path.basename(path))
  fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=f".tmp{ext}",
                             dir=directory)
  os.close(fd)
  # mkstemp makes the file private (0600); give it the usual permissions.
  umask = os.umask(0)
  os.umask(umask)
  os.chmod(tmp, 0o666 & ~umask)
  try:
    yield tmp
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def write_json(path, data):
  """Writes `data` as indented JSON to `path` atomically."""
  with atomic_path(path) as tmp:
    with open(tmp, "w") as f:
      json.dump(data, f, indent=2, sort_keys=False, default=_jsonable)
      f.write("\n")


def read_json(path):
  with open(path) as f:
    return json.load(f)


def _jsonable(value):
  """Lets NumPy scalars and arrays through `json.dump`."""
  if hasattr(value, "tolist"):
    return value.tolist()
  raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def refuse_overwrite(path, overwrite=False):
  """Raises FileExistsError if `path` exists and `overwrite` is False."""
  if os.path.exists(path) and not overwrite:
    raise FileExistsError(
        f"{path}: already exists; pass --overwrite to replace it")
