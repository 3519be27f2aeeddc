"""The errors of a training run (`common.trainer` and its pieces)."""

from __future__ import annotations


class TrainingError(RuntimeError):
  """A run that cannot start or had to stop (the message says why)."""


class Interrupted(TrainingError):
  """SIGINT or SIGTERM stopped the run after it saved a checkpoint."""
