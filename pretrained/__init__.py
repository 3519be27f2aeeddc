"""The shipped models and clips (package data; see README.md here).

`pretrained.paths.path(name)` (or the `neuralsynth-pretrained` command)
gives where they are, in a checkout or an installed wheel.
"""
# First: `common` keeps TensorFlow's start-up logs off the console (see
# common/__init__.py); its modules import TensorFlow before `common`.
import common  # noqa: F401  pylint: disable=unused-import
