"""Exports of a model that run without neuralsynth: SavedModel and TFLite.

`python -m common.export` is the command line; `export(model_dir,
output_dir, formats)` the library call. An export is a new directory:

    OUT/saved_model/           a SavedModel (TensorFlow alone loads it)
        assets/export.json     what a caller needs: sample rate,
                               quantization, q_levels, samples per frame,
                               the block multiple, the state's tensors, the
                               seeding rule, every signature's tensors
        assets/config.json     the model's config
        assets/data_settings.json   the corpus settings (if the model has them)
        assets/MODEL_CARD.md   the model card
    OUT/tflite/model.tflite    the per-block step, state in and out
    OUT/tflite/*.json, MODEL_CARD.md   the same assets

What is family-neutral lives here: the directory (written under a
temporary name and renamed, never over an existing one unless asked), the
assets, the tf.Module that holds a family's functions and the variables
they read, TFLite conversion (TensorFlow Lite builtin ops only), and the
graph pieces every family's signatures share (per-sequence seeds, batch
dispatch). What differs per family is its module `<family>.export`
(`common.family.export_module`), which provides

    saved_model(model, config, max_batch) -> Exportable
    tflite(model, config) -> Exportable

built on the family's own generator code, so an export draws exactly the
codes neuralsynth draws for the same seed and temperature.

Seeds, as everywhere in neuralsynth (`common.generator`): sequence `i` of a
call with seed `S` has the seed `S + i`, and the noise of its sample `t`
depends only on (that seed, `t`); `t` counts from the first generated
sample and is part of every exported state (`position`).

Batch: a family's compiled step is specialised on the batch size (static
shapes), as the generator's are, so the SavedModel holds one branch per
batch size `1 .. max_batch` and runs the one that fits (`by_batch_size`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
import shutil
import tempfile
from typing import Any, Callable, Sequence

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from common import checkpoint as checkpoint_lib
from common import family as family_lib
from common import files
from common import quantization

FORMATS = ("saved_model", "tflite")
DEFAULT_MAX_BATCH = 4
SAVED_MODEL_DIR = "saved_model"
TFLITE_DIR = "tflite"
TFLITE_FILE = "model.tflite"
EXPORT_JSON = "export.json"
MODEL_CARD = "MODEL_CARD.md"
# A model directory's own card, if it has one (else the parent folder's
# README.md sections that name the directory: `pretrained/README.md`).
_CARD_NAMES = ("MODEL_CARD.md", "README.md")
SEEDING = ("sequence i of a call with seed S has the seed S + i (mod 2**32); "
           "the noise of its sample t depends only on (that seed, t), t "
           "counted from the first generated sample (the state's "
           "position): the codes are neuralsynth's for the same seed and "
           "temperature, whatever the batch and block sizes")


class ExportError(ValueError):
  """A user error: an unknown format, a bad batch limit."""


@dataclasses.dataclass(frozen=True)
class Exportable:
  """One model's functions for one format, as a family's export makes them.

  Attributes:
    functions: {signature name: `tf.function` with an `input_signature` of
      named `tf.TensorSpec`s}, each returning a dict of tensors: the
      signatures of the SavedModel or of the TFLite model.
    trackables: {name: the tf.Variables (or nests of them) the functions
      read}; saved with them (`keras_variables`, `variables_of`).
    interface: JSON-able facts a caller needs beyond the signatures (the
      state's tensor names, the kind of model, the family's data settings);
      written to export.json.
  """
  functions: dict[str, Any]
  trackables: dict[str, Any]
  interface: dict[str, Any]


# ---------------------------------------------------------------------------
# Graph pieces the families' signatures share.
# ---------------------------------------------------------------------------


def signature(specs: Sequence[tf.TensorSpec]) -> Callable[[Any], Any]:
  """Decorates a function of tensors as an export's signature: a
  `tf.function` with the `input_signature` `specs` (named `tf.TensorSpec`s).
  Written with TensorFlow's own control flow, it is traced as written (no
  autograph: that only slows the trace of a large graph)."""
  return tf.function(input_signature=list(specs), autograph=False)


def sequence_seeds(seed: tf.Tensor, batch: tf.Tensor) -> tf.Tensor:
  """uint32 `[batch]` seeds `seed + i` of a call's sequences (int64
  scalar `seed`; wraps modulo 2**32)."""
  first = tf.cast(seed, tf.int64)
  return tf.cast(first + tf.range(tf.cast(batch, tf.int64)), tf.uint32)


def per_sequence(temperature: tf.Tensor, batch: tf.Tensor) -> tf.Tensor:
  """float32 `[batch]` temperatures from `[1]` (shared) or `[batch]`."""
  return tf.broadcast_to(tf.cast(temperature, tf.float32), [batch])


def check_multiple(count: tf.Tensor, multiple: int, what: str) -> None:
  """Makes the call fail (InvalidArgumentError, with a message naming
  `what`) unless `count` is a positive multiple of `multiple`."""
  tf.debugging.assert_equal(
      (count > 0) & (count % multiple == 0), True,
      message=f"{what} must be a positive multiple of {multiple} "
              f"(export.json: block_multiple)")


def by_batch_size(batch: tf.Tensor, max_batch: int,
                  branch: Callable[[int], dict[str, tf.Tensor]]
                  ) -> dict[str, tf.Tensor]:
  """Runs `branch(b)` for the static batch size `b == batch`.

  A family's compiled step is traced for one batch size (static shapes, as
  its generator traces it), so a signature that takes any batch holds one
  branch per size `1 .. max_batch` and runs the one that fits.

  Args:
    batch: int32 scalar, the call's batch size.
    max_batch: the largest batch size served.
    branch: `branch(b) -> dict of tensors` for a Python int `b`, its
      inputs given the static batch dimension `b` (`tf.ensure_shape`).

  Returns:
    the dict of the branch that ran (batch dimensions unknown).
  """
  tf.debugging.assert_equal(
      (batch >= 1) & (batch <= max_batch), True,
      message=f"the batch size must lie in 1..{max_batch} (export.json: "
              f"max_batch; export again with --max_batch for more)")
  if max_batch == 1:
    return branch(1)
  return tf.switch_case(tf.cast(batch, tf.int32) - 1, [
      functools.partial(branch, b) for b in range(1, max_batch + 1)])


def decoded(codes: tf.Tensor, kind: str, q_levels: int) -> tf.Tensor:
  """Audio float32 in [-1, 1] of int32 codes, any shape: a lookup in the
  table `common.quantization.decode` makes of every code (the same values,
  and a table lookup is an op TFLite has)."""
  table = quantization.decode(np.arange(q_levels), kind, q_levels)
  return tf.gather(tf.constant(table, tf.float32), codes)


def with_batch(tensor: tf.Tensor, batch: int, axis: int = 0) -> tf.Tensor:
  """`tensor` with its static dimension `axis` set to `batch`."""
  shape = tensor.shape.as_list()
  shape[axis] = batch
  return tf.ensure_shape(tensor, shape)


def read(variables: Any) -> Any:
  """The values of a nest of variables as tensors (a compiled loop reads
  tensors, not variables)."""
  return tf.nest.map_structure(tf.convert_to_tensor, variables)


def keras_variables(model: Any) -> list[tf.Variable]:
  """The TensorFlow variables under a Keras model's (what its layers read
  in a graph): an export saves these, not the Keras objects."""
  return [v.value for v in model.variables]


def variables_of(tensors: Any) -> Any:
  """A nest of tensors as non-trainable variables (saved with an export)."""
  return tf.nest.map_structure(
      lambda t: tf.Variable(t, trainable=False), tensors)


# ---------------------------------------------------------------------------
# Writing the formats.
# ---------------------------------------------------------------------------


def as_module(exportable: Exportable) -> tf.Module:
  """A tf.Module holding the functions (as attributes of the same names)
  and everything they read."""
  module = tf.Module()
  for name, value in exportable.trackables.items():
    setattr(module, name, value)
  for name, function in exportable.functions.items():
    setattr(module, name, function)
  return module


def _described(dtype: tf.DType, shape: list[int | None]) -> dict[str, Any]:
  return dict(dtype=dtype.name, shape=shape)


def describe_functions(functions: dict[str, Any]) -> dict[str, Any]:
  """{name: {"inputs": {tensor: {dtype, shape}}, "outputs": {...}}} of
  traced functions; an unknown dimension is null."""
  described = {}
  for name, function in functions.items():
    outputs = function.get_concrete_function().structured_outputs
    described[name] = dict(
        inputs={s.name: _described(s.dtype, s.shape.as_list())
                for s in function.input_signature},
        outputs={k: _described(v.dtype, v.shape.as_list())
                 for k, v in sorted(outputs.items())})
  return described


def describe_saved_model(path: str) -> dict[str, Any]:
  """The signatures of the SavedModel at `path`, as `describe_functions`
  (read from saved_model.pb: what `saved_model_cli show` lists)."""
  proto = saved_model_pb2.SavedModel()
  with open(os.path.join(path, "saved_model.pb"), "rb") as f:
    proto.ParseFromString(f.read())

  def tensors(infos: Any) -> dict[str, Any]:
    return {key: _described(tf.as_dtype(info.dtype),
                            tf.TensorShape(info.tensor_shape).as_list())
            for key, info in sorted(infos.items())}

  return {name: dict(inputs=tensors(sig.inputs), outputs=tensors(sig.outputs))
          for name, sig in sorted(proto.meta_graphs[0].signature_def.items())
          if not name.startswith("__")}


def write_saved_model(exportable: Exportable, path: str) -> None:
  """Saves the functions as the SavedModel's signatures at `path` (each is
  traced once, while saving)."""
  tf.saved_model.save(as_module(exportable), path,
                      signatures=dict(exportable.functions))


def tflite_model(exportable: Exportable) -> bytes:
  """The functions converted to one TFLite model (a signature each),
  TensorFlow Lite builtin ops only.

  Raises:
    ExportError: a function uses an op TFLite has no builtin for.
  """
  module = as_module(exportable)
  functions = [getattr(module, name).get_concrete_function()
               for name in exportable.functions]
  converter = tf.lite.TFLiteConverter.from_concrete_functions(functions,
                                                              module)
  converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
  try:
    return converter.convert()
  except Exception as e:  # the converter raises its own ConverterError
    raise ExportError(f"TFLite conversion failed: {e}") from e


# ---------------------------------------------------------------------------
# Assets.
# ---------------------------------------------------------------------------


def model_card(model_dir: str) -> str:
  """The model card: `MODEL_CARD.md` or `README.md` in the model
  directory, else the parent folder's README.md (the shipped models'
  `pretrained/README.md`) if it names the directory: its introduction and
  the sections that name it; else a line saying there is none."""
  model_dir = os.path.abspath(model_dir)
  for name in _CARD_NAMES:
    path = os.path.join(model_dir, name)
    if os.path.isfile(path):
      with open(path, encoding="utf-8") as f:
        return f.read()
  name = os.path.basename(model_dir)
  parent_readme = os.path.join(os.path.dirname(model_dir), "README.md")
  if os.path.isfile(parent_readme):
    with open(parent_readme, encoding="utf-8") as f:
      sections = re.split(r"(?m)^(?=## )", f.read())
    named = [s for s in sections[1:] if re.search(
        rf"(?<![\w-]){re.escape(name)}(?![\w-])", s)]
    if named or name in sections[0]:
      return (f"<!-- {name}: from {parent_readme}, its introduction and the "
              f"sections that name the model -->\n\n" + sections[0] +
              "".join(named))
  return f"# {name}\n\nNo model card was found beside this model.\n"


def assets(loaded: checkpoint_lib.Loaded, model_dir: str, gen: Any,
           exportable: Exportable, signatures: dict[str, Any],
           max_batch: int) -> dict[str, str]:
  """{file name: text} of the files written beside a format: export.json
  (the data settings, the interface and the `signatures` described),
  config.json, data_settings.json (if the model directory has one) and
  the model card."""
  description = dict(
      format="neuralsynth export 1",
      family=str(loaded.config["family"]),
      model_dir=os.path.abspath(model_dir),
      checkpoint=os.path.abspath(loaded.path), step=int(loaded.step),
      sample_rate=int(gen.sample_rate), quantization=str(gen.quantization),
      q_levels=int(gen.q_levels), block_multiple=int(gen.block_multiple),
      samples_per_frame=gen.samples_per_frame, max_batch=max_batch,
      seeding=SEEDING, **exportable.interface, signatures=signatures)
  texts = {EXPORT_JSON: json.dumps(description, indent=2) + "\n",
           "config.json": json.dumps(loaded.config, indent=2) + "\n",
           MODEL_CARD: model_card(model_dir)}
  settings = os.path.join(model_dir, checkpoint_lib.DATA_SETTINGS)
  if os.path.isfile(settings):
    with open(settings, encoding="utf-8") as f:
      texts[checkpoint_lib.DATA_SETTINGS] = f.read()
  return texts


def write_texts(directory: str, texts: dict[str, str]) -> None:
  os.makedirs(directory, exist_ok=True)
  for name, text in texts.items():
    files.write_text(os.path.join(directory, name), text)


# ---------------------------------------------------------------------------
# The export directory.
# ---------------------------------------------------------------------------


def _fsync_tree(root: str) -> None:
  """Flushes every file and folder under `root` to the disk."""
  for folder, _, names in os.walk(root, topdown=False):
    for name in names:
      files.fsync_path(os.path.join(folder, name))
    files.fsync_path(folder, directory=True)


def _stale_pattern(base: str) -> str:
  return re.escape(f".{base}.") + r"[a-z0-9_]{8}" + re.escape(".tmp")


def write_new_directory(path: str, fill: Callable[[str], None],
                        overwrite: bool = False) -> None:
  """Makes the directory `path` whole or not at all.

  `fill(folder)` writes into a hidden temporary folder beside `path`
  (`.<name>.<random>.tmp`), which is flushed to disk and renamed to
  `path`. A killed run leaves only that folder; the next run removes it.

  Raises:
    FileExistsError: `path` exists and `overwrite` is False (with
      `overwrite` the old directory is replaced only once the new one is
      complete).
  """
  path = os.path.abspath(path)
  files.refuse_overwrite(path, overwrite)
  parent, base = os.path.split(path)
  os.makedirs(parent, exist_ok=True)
  for name in os.listdir(parent):
    if re.fullmatch(_stale_pattern(base), name):
      shutil.rmtree(os.path.join(parent, name))
  scratch = tempfile.mkdtemp(prefix=f".{base}.", suffix=".tmp", dir=parent)
  try:
    fill(scratch)
    _fsync_tree(scratch)
    if os.path.exists(path):
      old = tempfile.mkdtemp(prefix=f".{base}.", suffix=".tmp", dir=parent)
      os.replace(path, os.path.join(old, base))
      os.replace(scratch, path)
      shutil.rmtree(old)
    else:
      os.replace(scratch, path)
    files.fsync_path(parent, directory=True)
  finally:
    if os.path.exists(scratch):
      shutil.rmtree(scratch)


def parse_formats(text: str | Sequence[str]) -> tuple[str, ...]:
  """"saved_model,tflite" -> ("saved_model", "tflite").

  Raises:
    ExportError: empty or unknown.
  """
  names = text.split(",") if isinstance(text, str) else list(text)
  names = [n.strip() for n in names if n.strip()]
  unknown = [n for n in names if n not in FORMATS]
  if not names or unknown:
    raise ExportError(f"--format={','.join(names)}: expected one or more of "
                      f"{', '.join(FORMATS)} separated by commas")
  return tuple(dict.fromkeys(names))


def export(model_dir: str, output_dir: str,
           formats: Sequence[str] = ("saved_model",), which: str = "best",
           max_batch: int = DEFAULT_MAX_BATCH, overwrite: bool = False
           ) -> dict[str, str]:
  """Exports a model directory (trained or pretrained) to `output_dir`.

  Args:
    model_dir: a directory written by a train command, or a shipped model.
    output_dir: the new export directory (see the module doc).
    formats: "saved_model" and/or "tflite".
    which: the checkpoint: "best", "last" or a path prefix.
    max_batch: the SavedModel serves batches of 1 .. max_batch sequences.
    overwrite: replace an existing `output_dir`.

  Returns:
    {format: the path of its SavedModel directory or .tflite file}.

  Raises:
    ExportError, FileExistsError, CheckpointError, ConfigError.
  """
  formats = parse_formats(formats)
  if max_batch < 1:
    raise ExportError(f"--max_batch={max_batch}: must be at least 1")
  files.refuse_overwrite(os.path.abspath(output_dir), overwrite)
  return write_export(checkpoint_lib.load(model_dir, None, which), model_dir,
                      output_dir, formats, max_batch, overwrite)


def write_export(loaded: checkpoint_lib.Loaded, model_dir: str,
                 output_dir: str, formats: Sequence[str] = ("saved_model",),
                 max_batch: int = DEFAULT_MAX_BATCH, overwrite: bool = False
                 ) -> dict[str, str]:
  """`export` of a model loaded from `model_dir` (`checkpoint.load`)."""
  family = family_lib.of_config(loaded.config)
  module = family_lib.export_module(family)
  gen = family.generator(loaded.model, loaded.config)
  output_dir = os.path.abspath(output_dir)
  written = {}

  def fill(folder: str) -> None:
    if "saved_model" in formats:
      exportable = module.saved_model(loaded.model, loaded.config, max_batch)
      path = os.path.join(folder, SAVED_MODEL_DIR)
      write_saved_model(exportable, path)
      write_texts(os.path.join(path, "assets"), assets(
          loaded, model_dir, gen, exportable, describe_saved_model(path),
          max_batch))
      written["saved_model"] = os.path.join(output_dir, SAVED_MODEL_DIR)
    if "tflite" in formats:
      exportable = module.tflite(loaded.model, loaded.config)
      path = os.path.join(folder, TFLITE_DIR)
      os.makedirs(path)
      with open(os.path.join(path, TFLITE_FILE), "wb") as f:
        f.write(tflite_model(exportable))
      write_texts(path, assets(loaded, model_dir, gen, exportable,
                               describe_functions(exportable.functions), 1))
      written["tflite"] = os.path.join(output_dir, TFLITE_DIR, TFLITE_FILE)

  write_new_directory(output_dir, fill, overwrite)
  return written
