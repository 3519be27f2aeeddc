"""The one checkpoint format: TF checkpoints beside config.json.

A model directory written by `common.trainer` holds:

    config.json            the full config (model, training, data settings)
    checkpoints/ckpt-N.*   the last `keep_checkpoints` training checkpoints
                           (model, optimizer, step, best-validation record,
                           corpus fingerprint)
    best/ckpt-N.*          the checkpoint with the best validation NLL
    best.json              its step and validation NLL
    train/, val/           TensorBoard event files

TF writes checkpoint files under temporary names and renames them, then
updates the `checkpoint` state file. Checkpoints are looked up by their
`.index` files as well as in the state file (`checkpoint_paths`), so a
missing or garbled state file hides none; one left incomplete by a crash
fails to read and the next older one is used.

A pretrained model directory (see `export`) needs only config.json and
`weights/` (the model's variables alone); `data_settings.json` beside them
(written by `pretrained/recipes/export.py`) names the data it expects.

Loading is all or nothing (`restore`): a checkpoint must hold exactly the
variables of the object it is restored into (below each of that object's
names, e.g. `model`; a training checkpoint's optimizer and bookkeeping are
ignored by an object that holds only `model`), with the same shapes, or it
is refused naming them. A checkpoint that cannot be read (a truncated or
garbled file: TF checks a CRC32C of the index blocks and of every tensor)
is reported and the next older one is used (`restore_newest`).
"""

from __future__ import annotations

import collections
import json
import os
import re
import sys
from typing import Any, Callable, NamedTuple

import keras
import tensorflow as tf
from google.protobuf import message as proto_message
from tensorflow.core.protobuf import trackable_object_graph_pb2

from common import config as config_lib
from common import files
from common import model_api

CHECKPOINTS = "checkpoints"
BEST = "best"
WEIGHTS = "weights"
DATA_SETTINGS = "data_settings.json"
_OBJECT_GRAPH = "_CHECKPOINTABLE_OBJECT_GRAPH"
# tf.train.Checkpoint's own counter, saved by `save` but not by `write`.
_SAVE_COUNTER = "save_counter"
_NAMES_SHOWN = 3


class CheckpointError(ValueError):
  """A checkpoint that cannot be used; the message starts with its path."""


class UnreadableCheckpointError(CheckpointError):
  """A checkpoint whose files are missing, truncated or garbled."""


def _stderr(line: str) -> None:
  print(line, file=sys.stderr)


def checkpoint_paths(directory: str) -> list[str]:
  """Prefixes of the checkpoints in a `tf.train.CheckpointManager` directory.

  The union of those its `checkpoint` state file lists and those with an
  `.index` file there (the state file may be missing or garbled, or name
  another directory's paths after a move), newest first: ordered by the
  number ending each prefix (`ckpt-N`; the step or the save count).
  """
  if not tf.io.gfile.isdir(directory):
    return []
  try:
    state = tf.train.get_checkpoint_state(directory)  # None if unparsable
  except (UnicodeDecodeError, tf.errors.OpError):
    state = None
  names = {os.path.basename(p) for p in (
      state.all_model_checkpoint_paths if state else ())}
  names.update(n[:-len(".index")] for n in tf.io.gfile.listdir(directory)
               if n.endswith(".index"))
  return [os.path.join(directory, n)
          for n in sorted(names, key=_number, reverse=True)]


def _number(name: str) -> tuple[int, str]:
  match = re.search(r"-(\d+)$", name)
  return (int(match.group(1)), name) if match else (-1, name)


def _candidates(model_dir: str, which: str) -> list[str]:
  """Checkpoint prefixes to try for `which`, in order (see `latest`)."""
  if which not in ("last", "best"):
    return [which]
  order = {"best": [BEST, CHECKPOINTS, WEIGHTS],
           "last": [CHECKPOINTS, BEST, WEIGHTS]}[which]
  return [path for sub in order
          for path in checkpoint_paths(os.path.join(model_dir, sub))]


def latest(model_dir: str, which: str = "last") -> str | None:
  """Path prefix of a checkpoint: "last", "best", or an explicit prefix.

  Falls back from "best" to "last" and from "last" to exported weights.
  Returns None if the directory has none. The newest is named even if it
  turns out unreadable (`load` then uses an older one: `Loaded.path`).
  """
  paths = _candidates(model_dir, which)
  return paths[0] if paths else None


def step_of(path: str) -> int:
  """The training step a checkpoint prefix was written at (-1 if unknown)."""
  reader = tf.train.load_checkpoint(path)
  for key in reader.get_variable_to_shape_map():
    if key.startswith("step/"):
      return int(reader.get_tensor(key))
  try:
    return int(os.path.basename(path).rsplit("-", 1)[1])
  except (IndexError, ValueError):
    return -1


def _paths_below(children: Callable[[Any], dict[str, Any]], root: Any,
                 names: list[str]) -> dict[Any, str]:
  """Breadth-first names of the nodes below `root`'s children `names`.

  Args:
    children: node -> {local name: child node} (nodes: hashable keys).
    root: the root node.
    names: the root's children to walk below, in order; a node reached
      from an earlier one keeps that name.

  Returns:
    {node: "name/child/grandchild"} for every node below them.
  """
  paths = {}
  for name in names:
    child = children(root).get(name)
    if child is None or child in paths:
      continue
    paths[child] = name
    queue = collections.deque([child])
    while queue:
      node = queue.popleft()
      for local, sub in children(node).items():
        if sub not in paths and sub != root:
          paths[sub] = f"{paths[node]}/{local}"
          queue.append(sub)
  return paths


def _listed(names: list[str]) -> str:
  shown = ", ".join(names[:_NAMES_SHOWN])
  return shown + (", ..." if len(names) > _NAMES_SHOWN else "")


def _unreadable(path: str, error: BaseException
                ) -> UnreadableCheckpointError:
  """UnreadableCheckpointError with the gist of TF's message."""
  lines = str(error).strip().splitlines() or [type(error).__name__]
  # TF prefixes the reason with the op (`{{function_node ...}}`) and, for a
  # bad tensor, `TensorBundle at <path> shard 0 (32768 bytes): `.
  reason = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", lines[0])
  reason = re.sub(r"^TensorBundle at .* shard \d+ \(\d+ bytes\):\s*", "",
                  reason)
  if len(reason) > 160:
    reason = reason[:160] + "..."
  return UnreadableCheckpointError(f"{path}: unreadable ({reason})")


def _fit(checkpoint: tf.train.Checkpoint, path: str, reader: Any
         ) -> tuple[list[str], list[str]]:
  """How checkpoint `path` fits `checkpoint`, below the names it holds.

  Matches the two object graphs the way `tf.train.Checkpoint.restore` does
  (`tf.train.CheckpointView.match`), below the names `checkpoint` holds
  (not its own `save_counter`).

  Returns:
    (problems, keys): one-line descriptions of what does not fit ([] when
    every variable of `checkpoint` has a value of its shape in the
    checkpoint and the checkpoint holds no other value below those names),
    and the checkpoint keys of the values a restore reads (but variants,
    e.g. a tf.data iterator's state, which only the restore op can read).
  """
  graph = trackable_object_graph_pb2.TrackableObjectGraph.FromString(
      reader.get_tensor(_OBJECT_GRAPH))
  view = tf.train.TrackableView(checkpoint)
  names = [n for n in view.children(checkpoint) if n != _SAVE_COUNTER]
  matched = tf.train.CheckpointView(path).match(checkpoint)
  matched_ids = {id(obj) for obj in matched.values()}

  by_id = {id(checkpoint): checkpoint}

  def python_children(key: int) -> dict[str, int]:
    kids = view.children(by_id[key])
    by_id.update((id(obj), obj) for obj in kids.values())
    return {name: id(obj) for name, obj in kids.items()}

  python_paths = _paths_below(python_children, id(checkpoint), names)
  variables = {key: by_id[key] for key in python_paths
               if isinstance(by_id[key], (tf.Variable, keras.Variable))}
  missing = sorted(python_paths[key] for key in variables
                   if key not in matched_ids)

  node_paths = _paths_below(
      lambda node: {c.local_name: c.node_id
                    for c in graph.nodes[node].children}, 0, names)
  unexpected = sorted(node_paths[node] for node in node_paths
                      if graph.nodes[node].attributes
                      and node not in matched)
  shapes = reader.get_variable_to_shape_map()
  reshaped, prefixes = [], []
  for node, obj in matched.items():
    if node not in node_paths:
      continue
    for attribute in graph.nodes[node].attributes:
      # A saveable may store its value under a longer key (ITERATOR_STATE).
      prefixes.append(attribute.checkpoint_key)
      saved = shapes.get(attribute.checkpoint_key)
      if (id(obj) in variables and saved is not None and
          list(saved) != list(obj.shape)):
        reshaped.append(f"{node_paths[node]} is {list(saved)} in the "
                        f"checkpoint, {list(obj.shape)} in the model")
  problems = []
  if missing:
    problems.append(f"{len(missing)} of the {len(variables)} variables are "
                    f"not in the checkpoint ({_listed(missing)})")
  if unexpected:
    problems.append(f"{len(unexpected)} checkpoint values have no variable "
                    f"to go to ({_listed(unexpected)})")
  if reshaped:
    problems.append(f"{len(reshaped)} variables have another shape "
                    f"({_listed(sorted(reshaped))})")
  keys = [key for key, dtype in reader.get_variable_to_dtype_map().items()
          if key.startswith(tuple(prefixes)) and dtype != tf.variant]
  return problems, keys


def restore(checkpoint: tf.train.Checkpoint, path: str) -> None:
  """Restores every variable of `checkpoint` from the checkpoint `path`.

  All or nothing: the checkpoint must fit exactly (see `_fit`); its other
  top-level names (e.g. a training checkpoint's `optimizer` when
  `checkpoint` holds only `model` and `step`) are ignored. Every value is
  read (and its CRC32C checked by TF) before the first variable changes,
  so after a refusal `checkpoint` is as it was.

  Raises:
    UnreadableCheckpointError: a file is missing, truncated or garbled.
    CheckpointError: it does not fit (names the variables).
  """
  try:
    reader = tf.train.load_checkpoint(path)
    if not reader.has_tensor(_OBJECT_GRAPH):
      raise UnreadableCheckpointError(
          f"{path}: unreadable (no object graph: not a TF2 checkpoint)")
    problems, keys = _fit(checkpoint, path, reader)
    if not problems:
      for key in keys:
        reader.get_tensor(key)
  except (tf.errors.OpError, IndexError, proto_message.DecodeError) as e:
    raise _unreadable(path, e) from None
  if problems:
    raise CheckpointError(f"{path}: does not fit the model: "
                          f"{'; '.join(problems)}")
  try:
    # expect_partial: values beside `checkpoint`'s names stay unread.
    checkpoint.restore(path).expect_partial().assert_existing_objects_matched()
  except (tf.errors.OpError, IndexError) as e:
    raise _unreadable(path, e) from None
  except AssertionError as e:
    raise CheckpointError(f"{path}: does not fit: "
                          f"{str(e).splitlines()[0]}") from None


def _restore_first(checkpoint: tf.train.Checkpoint, paths: list[str],
                   where: str, log: Callable[[str], None]) -> str:
  """Restores the first readable of `paths` (not empty); see
  `restore_newest`."""
  newest_error = None
  for path, older in zip(paths, paths[1:] + [None]):
    try:
      restore(checkpoint, path)
      return path
    except UnreadableCheckpointError as e:
      newest_error = newest_error or e
      if older:
        log(f"{e}; falling back to {older}")
  raise CheckpointError(
      f"{where}: none of its {len(paths)} checkpoint(s) can be read; the "
      f"newest: {newest_error}")


def restore_newest(checkpoint: tf.train.Checkpoint, directory: str,
                   log: Callable[[str], None] = _stderr) -> str | None:
  """Restores the newest readable checkpoint of a CheckpointManager directory.

  Tries `checkpoint_paths(directory)` newest first; an unreadable one is
  reported with one line, `<path>: unreadable (<reason>); falling back to
  <older path>`, and the next is tried. A checkpoint that does not fit is
  refused at once: the older ones of the same run hold the same variables.

  Returns:
    The path prefix restored, or None if the directory holds no checkpoint.

  Raises:
    CheckpointError: checkpoints exist but none can be read, or the newest
      readable one does not fit `checkpoint` (see `restore`).
  """
  paths = checkpoint_paths(directory)
  return _restore_first(checkpoint, paths, directory, log) if paths else None


def check_data_settings_file(model_dir: str, config: dict) -> None:
  """Refuses a model whose `data_settings.json` disagrees with its config.

  A shipped or exported model directory records the settings of the corpus
  it was trained on (`pretrained/recipes/export.py`); a directory without
  the file passes.

  Raises:
    CheckpointError: the file is not a JSON object.
    config.ConfigError: a data setting differs from the config's.
  """
  path = os.path.join(model_dir, DATA_SETTINGS)
  if not os.path.exists(path):
    return
  try:
    settings = files.read_json(path)
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise CheckpointError(f"{path}: not valid JSON ({e})") from None
  if not isinstance(settings, dict):
    raise CheckpointError(f"{path}: must hold a JSON object of data "
                          f"settings, got {type(settings).__name__}")
  config_lib.check_data_settings(config, settings, path)


class Loaded(NamedTuple):
  """A model restored from a model directory (`load`).

  Attributes:
    model: the built model, its weights restored.
    config: its checked `config.json`.
    step: the training step of the checkpoint (-1 if unknown).
    path: the checkpoint path prefix actually restored: after a fallback
      from an unreadable checkpoint, the older one (record this one, not
      `latest`, in what is made from the model).
  """
  model: Any
  config: dict
  step: int
  path: str


def load(model_dir: str, build_model: Callable[[dict], Any] | None = None,
         which: str = "best", log: Callable[[str], None] = _stderr) -> Loaded:
  """Builds a model from `model_dir/config.json` and restores its weights.

  All or nothing: the checkpoint must hold exactly the model's variables
  (see `restore`), and a `data_settings.json` beside the config must agree
  with it. For "best" and "last", an unreadable checkpoint is reported with
  `log` and the next in line is used (newest first in each directory, in
  the order `latest` names); `Loaded.path` says which.

  Args:
    model_dir: a directory written by a train command (or a pretrained one).
    build_model: `build_model(config)`; None: the config's family's
      (`common.family`).
    which: "best", "last" or a checkpoint path prefix.
    log: a function that prints a line.

  Raises:
    FileNotFoundError: no checkpoint found (message names the directory).
    CheckpointError: none can be read, or it does not fit the model.
    config.ConfigError: config.json or data_settings.json is refused.
  """
  config = config_lib.load_saved(model_dir)
  check_data_settings_file(model_dir, config)
  paths = _candidates(model_dir, which)
  if not paths or (which not in ("last", "best") and
                   not tf.io.gfile.exists(which + ".index")):
    raise FileNotFoundError(
        f"{model_dir}: no checkpoint ({which}) found; train a model there "
        f"first")
  if build_model is None:
    from common import family  # pylint: disable=g-import-not-at-top
    build_model = family.of_config(config).build_model
  model = model_api.build(build_model(config))
  step = tf.Variable(0, dtype=tf.int64, name="step")
  checkpoint = tf.train.Checkpoint(model=model, step=step)
  if which in ("last", "best"):
    path = _restore_first(checkpoint, paths, model_dir, log)
  else:
    path = which
    restore(checkpoint, path)
  return Loaded(model, config, int(step.numpy()) or step_of(path), path)


def export(model_dir: str, out_dir: str,
           build_model: Callable[[dict], Any] | None = None,
           which: str = "best", overwrite: bool = False) -> str:
  """Writes config.json + weights/ (model variables only) to `out_dir`.

  This is how the small models in `pretrained/` are made: no optimizer
  state, no training bookkeeping, so they stay small.
  """
  if os.path.exists(os.path.join(out_dir, WEIGHTS)) and not overwrite:
    raise FileExistsError(f"{out_dir}: already holds weights; pass "
                          f"overwrite=True to replace them")
  model, config, step, path = load(model_dir, build_model, which)
  os.makedirs(out_dir, exist_ok=True)
  config_lib.save(config, out_dir)
  step_var = tf.Variable(step, dtype=tf.int64, name="step")
  manager = tf.train.CheckpointManager(
      tf.train.Checkpoint(model=model, step=step_var),
      os.path.join(out_dir, WEIGHTS), max_to_keep=1)
  manager.save(checkpoint_number=step)
  files.write_json(os.path.join(out_dir, WEIGHTS, "source.json"),
                   dict(model_dir=os.path.abspath(model_dir), which=which,
                        checkpoint=os.path.abspath(path), step=step))
  return out_dir
