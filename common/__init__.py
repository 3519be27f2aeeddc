"""neuralsynth's shared data layer and machinery (see README.md).

Importing `common` (every package of the suite does, first thing: see
`samplernn/__init__.py`) keeps TensorFlow's start-up chatter off the console
of every command: CUDA probing on a machine without a GPU ("Could not find
cuda drivers", "failed call to cuInit"), CPU-feature and oneDNN notices and
absl's "log messages before absl::InitializeLog()". TensorFlow prints these
from C++ while it loads, before `TF_CPP_MIN_LOG_LEVEL` is honoured, so the
first `import tensorflow` runs with the process's stderr (file descriptor 2)
captured; C++ log records are dropped and anything else is passed on. Later
messages below WARNING are hidden with `TF_CPP_MIN_LOG_LEVEL=2`.
Set `NEURALSYNTH_TF_LOGS=1` to see everything TensorFlow prints.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import os
import re
import sys
import tempfile
import types
from typing import Any, Iterator, Sequence

TF_LOGS_ENV = "NEURALSYNTH_TF_LOGS"

# A C++ log record at INFO, WARNING or ERROR (absl's and TSL's formats), the
# note absl prints before its first one, and the second line of TensorFlow's
# CPU-feature notice. FATAL records are kept.
_TF_NOISE = re.compile(
    rb"^([IWE]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\] "
    rb"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWE] "
    rb"|WARNING: All log messages before absl::InitializeLog\(\) "
    rb"|To enable the following instructions: )")


def tf_logs_wanted() -> bool:
  """True if the user asked for TensorFlow's own logs (`NEURALSYNTH_TF_LOGS`)."""
  return os.environ.get(TF_LOGS_ENV, "").strip() not in ("", "0")


def drop_tf_noise(text: bytes) -> bytes:
  """`text` (what went to stderr) without TensorFlow's start-up log lines."""
  lines = text.splitlines(keepends=True)
  return b"".join(line for line in lines if not _TF_NOISE.match(line))


@contextlib.contextmanager
def _stderr_without_tf_noise() -> Iterator[None]:
  """Captures file descriptor 2; on exit writes back what is not noise
  (everything, if the body raised)."""
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile() as captured:
    os.dup2(captured.fileno(), 2)
    failed = True
    try:
      yield
      failed = False
    finally:
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)
      captured.seek(0)
      text = captured.read()
      kept = text if failed else drop_tf_noise(text)
      if kept:
        os.write(2, kept)


class _QuietLoader(importlib.abc.Loader):
  """Runs TensorFlow's own loader, then lists its devices (the CUDA probe),
  with stderr captured."""

  def __init__(self, loader: importlib.abc.Loader) -> None:
    self._loader = loader

  def __getattr__(self, name: str) -> Any:
    """Resource readers etc.: the real loader's."""
    return getattr(self._loader, name)

  def create_module(self, spec: importlib.machinery.ModuleSpec
                    ) -> types.ModuleType | None:
    return self._loader.create_module(spec)

  def exec_module(self, module: types.ModuleType) -> None:
    with _stderr_without_tf_noise():
      self._loader.exec_module(module)
      module.config.list_physical_devices()
    module.__loader__ = self._loader
    if module.__spec__ is not None:  # always, for an imported module
      module.__spec__.loader = self._loader


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
  """Hands the first `import tensorflow` to `_QuietLoader`, then leaves."""

  def find_spec(self, name: str, path: Sequence[str] | None = None,
                target: types.ModuleType | None = None
                ) -> importlib.machinery.ModuleSpec | None:
    if name != "tensorflow":
      return None
    sys.meta_path.remove(self)
    spec = importlib.machinery.PathFinder.find_spec(name, path)
    if spec is not None and spec.loader is not None:
      spec.loader = _QuietLoader(spec.loader)
    return spec


if not tf_logs_wanted():
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  if "tensorflow" not in sys.modules and not any(
      isinstance(f, _QuietTensorFlowFinder) for f in sys.meta_path):
    sys.meta_path.insert(0, _QuietTensorFlowFinder())
