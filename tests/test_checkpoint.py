"""Loading is all or nothing; an unreadable newest checkpoint falls back.

Tiny models of both families, saved the way the trainer saves them (model,
optimizer and step in `checkpoints/`), then loaded with `common.checkpoint`.
"""

import gc
import os
import re

import numpy as np
import pytest
import tensorflow as tf

from common import checkpoint
from common import config as config_lib
from common import files
from common import model_api
from samplernn import model as samplernn_model
from wavenet import model as wavenet_model

DATA = dict(sample_rate=16000, quantization="mu_law", q_levels=256)
BUILD = {"samplernn": samplernn_model.build_model,
         "wavenet": wavenet_model.build_model}
# The tiny presets, the WaveNet autoencoder cut to 2 layers per stack (its
# build costs ~0.5 s per layer on the shared 2-core machine).
SMALLER = {"samplernn": {},
           "wavenet": dict(num_layers=2, num_stages=1, ae_num_layers=2,
                           ae_num_stages=1)}
# A config with one more layer than `SMALLER`.
DEEPER = {"samplernn": dict(num_rnn_layers=2),
          "wavenet": dict(num_layers=3)}
SHIPPED = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "pretrained")
VALUE_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"


def tiny_config(family, **overrides):
  return config_lib.with_data_settings(
      config_lib.load(family, "tiny", {**SMALLER[family], **overrides}), DATA)


def build(config):
  return model_api.build(BUILD[config["family"]](config))


def weights(model):
  return [v.numpy() for v in model.trainable_variables]


def save_run(model_dir, config, steps=(4, 8), model=None):
  """Writes config.json and one training checkpoint per step, as the
  trainer does; the weights differ from one checkpoint to the next.

  Returns:
    [(checkpoint path prefix, the model's weights in it)], oldest first.
  """
  model = model or build(config)
  optimizer = tf.keras.optimizers.Adam(1e-3)
  optimizer.build(model.trainable_variables)
  step = tf.Variable(0, dtype=tf.int64, name="step")
  manager = tf.train.CheckpointManager(
      tf.train.Checkpoint(model=model, optimizer=optimizer, step=step),
      os.path.join(model_dir, checkpoint.CHECKPOINTS), max_to_keep=5)
  os.makedirs(model_dir, exist_ok=True)
  config_lib.save(config, model_dir)
  saved = []
  for s in steps:
    step.assign(s)
    for v in model.trainable_variables:
      v.assign(v + 0.01)
    saved.append((manager.save(checkpoint_number=s), weights(model)))
  return saved


def model_keys(model, directory):
  """The names TF gives `model`'s variables in a checkpoint of it alone."""
  path = tf.train.Checkpoint(model=model).write(os.path.join(directory,
                                                             "keys"))
  return {k[:-len(VALUE_SUFFIX)] for k, _ in tf.train.list_variables(path)
          if k.startswith("model/")}


@pytest.fixture(scope="module")
def wavenet_pair():
  """The small WaveNet autoencoder and one with a decoder layer more."""
  return (build(tiny_config("wavenet")),
          build(tiny_config("wavenet", **DEEPER["wavenet"])))


def test_samplernn_checkpoint_missing_a_layer_is_refused_naming_it(tmp_path):
  # Saved from the 1-layer model; config.json asks for 2 layers (a config
  # changed after saving). Today the second layer kept its random weights.
  shallow = build(tiny_config("samplernn"))
  (path, _), = save_run(str(tmp_path), tiny_config("samplernn"), steps=(4,),
                        model=shallow)
  deep_config = tiny_config("samplernn", **DEEPER["samplernn"])
  config_lib.save(deep_config, str(tmp_path))
  missing = sorted(model_keys(build(deep_config), str(tmp_path / "deep")) -
                   model_keys(shallow, str(tmp_path / "shallow")))
  assert missing
  with pytest.raises(checkpoint.CheckpointError) as error:
    checkpoint.load(str(tmp_path), samplernn_model.build_model, "last")
  message = str(error.value)
  assert message.startswith(f"{path}: does not fit the model: ")
  assert f"{len(missing)} of the " in message
  assert f"not in the checkpoint ({missing[0]}, " in message
  assert "\n" not in message


def test_samplernn_checkpoint_with_an_extra_layer_is_refused(tmp_path):
  deep_config = tiny_config("samplernn", **DEEPER["samplernn"])
  deep = build(deep_config)
  (path, _), = save_run(str(tmp_path), deep_config, steps=(4,), model=deep)
  shallow = build(tiny_config("samplernn"))
  config_lib.save(tiny_config("samplernn"), str(tmp_path))
  extra = sorted(model_keys(deep, str(tmp_path / "deep")) -
                 model_keys(shallow, str(tmp_path / "shallow")))
  with pytest.raises(checkpoint.CheckpointError,
                     match=re.escape(f"{path}: does not fit the model: "
                                     f"{len(extra)} checkpoint values have "
                                     f"no variable to go to ({extra[0]}, ")):
    checkpoint.load(str(tmp_path), samplernn_model.build_model, "last")


def test_samplernn_checkpoint_of_another_width_is_refused(tmp_path):
  (path, _), = save_run(str(tmp_path), tiny_config("samplernn"), steps=(4,))
  config_lib.save(tiny_config("samplernn", dim=48), str(tmp_path))
  with pytest.raises(checkpoint.CheckpointError,
                     match=re.escape(f"{path}: does not fit the model: ") +
                     r".*variables have another shape \(model/\S+ is \[32\] "
                     r"in the checkpoint, \[48\] in the model"):
    checkpoint.load(str(tmp_path), samplernn_model.build_model, "last")


def test_wavenet_checkpoint_missing_or_adding_a_layer_is_refused(
    tmp_path, wavenet_pair):
  shallow, deep = wavenet_pair
  extra = sorted(model_keys(deep, str(tmp_path / "deep_keys")) -
                 model_keys(shallow, str(tmp_path / "shallow_keys")))
  assert extra
  for name, saved_model, loaded_model, reason in [
      ("shallow", shallow, deep, f"{len(extra)} of the "
       f"{len(deep.variables) + 1} variables are not in the checkpoint"),
      ("deep", deep, shallow,
       f"{len(extra)} checkpoint values have no variable to go to")]:
    step = tf.Variable(3, dtype=tf.int64, name="step")
    path = tf.train.CheckpointManager(
        tf.train.Checkpoint(model=saved_model, step=step),
        str(tmp_path / name), max_to_keep=1).save()
    before = weights(loaded_model)
    with pytest.raises(checkpoint.CheckpointError, match=re.escape(
        f"{path}: does not fit the model: {reason} ({extra[0]}, ")):
      checkpoint.restore(tf.train.Checkpoint(
          model=loaded_model, step=tf.Variable(0, dtype=tf.int64)), path)
    # Refused before anything was read into the model.
    for old, new in zip(before, weights(loaded_model)):
      np.testing.assert_array_equal(old, new)


def test_a_fitting_training_checkpoint_restores_exactly(tmp_path,
                                                       wavenet_pair):
  # Model variables reached first through the optimizer are keyed under
  # `optimizer/` in a training checkpoint; they still belong to the model.
  shallow, _ = wavenet_pair
  config = tiny_config("wavenet")
  saved = save_run(str(tmp_path), config, steps=(4,), model=shallow)
  keys = [k for k, _ in tf.train.list_variables(saved[0][0])]
  assert sum(k.startswith("model/") for k in keys) < len(shallow.variables)
  target = build(config)
  step = tf.Variable(0, dtype=tf.int64)
  checkpoint.restore(tf.train.Checkpoint(model=target, step=step),
                     saved[0][0])
  assert int(step) == 4
  for want, got in zip(saved[0][1], weights(target)):
    np.testing.assert_array_equal(want, got)


def test_shipped_model_fits_exactly():
  # (tests/test_pretrained.py loads all three shipped models; the WaveNets
  # take 5-30 s each to build on the shared machine, depending on load.)
  model_dir = os.path.join(SHIPPED, "samplernn_bach")
  config = config_lib.load_saved(model_dir)
  model = build(config)
  step = tf.Variable(0, dtype=tf.int64)
  path = checkpoint.latest(model_dir, "best")
  checkpoint.restore(tf.train.Checkpoint(model=model, step=step), path)
  assert int(step) == checkpoint.step_of(path) > 0


def corrupt(path, how, saved_weights=None):
  """Damages checkpoint `path` (a prefix) in one of the ways disks do.

  "weight_overwritten" overwrites the middle of the largest of
  `saved_weights` (found by its bytes), "..._in_the_middle" the middle of
  the file: a loader reads only the tensors it needs, e.g. not the
  optimizer's.
  """
  data = path + ".data-00000-of-00001"
  target = path + ".index" if how.startswith("index") else data
  size = os.path.getsize(target)
  if how == "data_truncated_to_half":
    os.truncate(target, size // 2)
    return
  if how == "data_missing":
    os.remove(target)
    return
  offset = size // 2
  if how == "weight_overwritten":
    largest = max(saved_weights, key=lambda w: w.size).tobytes()
    with open(target, "rb") as f:
      offset = f.read().index(largest) + len(largest) // 2
  with open(target, "r+b") as f:
    f.seek(offset)
    f.write(b"\xa5" * 16)


CORRUPTIONS = ["data_truncated_to_half", "weight_overwritten",
               "index_overwritten_in_the_middle", "data_missing"]


@pytest.mark.parametrize("how", CORRUPTIONS)
def test_unreadable_newest_checkpoint_falls_back_to_the_previous(
    tmp_path, caplog, how):
  gc.collect()  # (what an earlier test left to collect is not this one's)
  caplog.clear()
  config = tiny_config("samplernn")
  (older, older_weights), (newest, newest_weights) = save_run(str(tmp_path),
                                                             config)
  corrupt(newest, how, newest_weights)
  lines = []
  loaded = checkpoint.load(str(tmp_path), samplernn_model.build_model,
                           "last", log=lines.append)
  # The path restored, not the newest `latest` names (a sidecar records it).
  assert (loaded.step, loaded.path) == (4, older)
  assert checkpoint.latest(str(tmp_path), "last") == newest
  for want, got in zip(older_weights, weights(loaded.model)):
    np.testing.assert_array_equal(want, got)
  assert len(lines) == 1
  assert re.fullmatch(
      re.escape(f"{newest}: unreadable (") + r"[^\n]+" +
      re.escape(f"); falling back to {older}"), lines[0]), lines[0]
  # That line is all: a restore TF started and could not finish would log
  # every checkpoint value it left unread when collected.
  gc.collect()
  assert not [r for r in caplog.records if r.name == "tensorflow"]


def test_a_generation_records_the_checkpoint_it_fell_back_to(tmp_path):
  from common import generation  # pylint: disable=g-import-not-at-top
  model_dir = str(tmp_path / "model")
  (older, _), (newest, newest_weights) = save_run(
      model_dir, tiny_config("samplernn"))
  corrupt(newest, "weight_overwritten", newest_weights)
  [path] = generation.generate_files(model_dir, str(tmp_path / "out"),
                                     seconds=0.01, checkpoint="last",
                                     progress=False)
  sidecar = files.read_json(files.sidecar_path(path))
  assert (sidecar["checkpoint_path"], sidecar["checkpoint_step"]) == (
      os.path.abspath(older), 4)


def test_trainer_restore_falls_back_and_reports(tmp_path):
  # What the trainer saves: model, optimizer, step and the data iterator
  # (whose state TF stores as a variant).
  config = tiny_config("samplernn")

  def training_state():
    model = build(config)
    optimizer = tf.keras.optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)
    step = tf.Variable(0, dtype=tf.int64)
    iterator = iter(tf.data.Dataset.range(100))
    return model, step, iterator, tf.train.Checkpoint(
        model=model, optimizer=optimizer, step=step, iterator=iterator)

  model, step, iterator, saved = training_state()
  manager = tf.train.CheckpointManager(saved, str(tmp_path), max_to_keep=5)
  paths = []
  for s in (4, 8):  # each step reads one item of data
    step.assign(s)
    next(iterator)
    for v in model.trainable_variables:
      v.assign(v + 0.01)
    paths.append((manager.save(checkpoint_number=s), weights(model)))
  (older, older_weights), (newest, _) = paths
  corrupt(newest, "data_overwritten_in_the_middle")

  model, step, iterator, restored_into = training_state()
  lines = []
  restored = checkpoint.restore_newest(restored_into, str(tmp_path),
                                       log=lines.append)
  assert restored == older and int(step) == 4
  for want, got in zip(older_weights, weights(model)):
    np.testing.assert_array_equal(want, got)
  assert int(next(iterator)) == 1
  assert len(lines) == 1
  assert lines[0].startswith(f"{newest}: unreadable (Checksum does not "
                             f"match: ")
  assert lines[0].endswith(f"; falling back to {older}")
  assert checkpoint.restore_newest(
      tf.train.Checkpoint(model=model), str(tmp_path / "empty")) is None


@pytest.mark.parametrize("state", ["garbled", "missing"])
def test_checkpoints_are_found_without_their_state_file(tmp_path, state):
  config = tiny_config("samplernn")
  _, (newest, newest_weights) = save_run(str(tmp_path), config)
  state_file = tmp_path / checkpoint.CHECKPOINTS / "checkpoint"
  if state == "garbled":
    state_file.write_bytes(b"\x00\xffnot a checkpoint state {{")
  else:
    state_file.unlink()
  model, _, step, _ = checkpoint.load(
      str(tmp_path), samplernn_model.build_model, "last")
  assert step == 8
  for want, got in zip(newest_weights, weights(model)):
    np.testing.assert_array_equal(want, got)


def test_no_readable_checkpoint_is_a_clear_error(tmp_path):
  config = tiny_config("samplernn")
  saved = save_run(str(tmp_path), config)
  corrupt(saved[0][0], "data_truncated_to_half")
  corrupt(saved[1][0], "index_overwritten_in_the_middle")
  lines = []
  with pytest.raises(checkpoint.CheckpointError,
                     match=re.escape(f"{tmp_path}: none of its 2 "
                                     f"checkpoint(s) can be read; the "
                                     f"newest: {saved[1][0]}: unreadable (")):
    checkpoint.load(str(tmp_path), samplernn_model.build_model,
                    "last", log=lines.append)
  assert len(lines) == 1
  with pytest.raises(checkpoint.CheckpointError, match="none of its 2"):
    checkpoint.restore_newest(
        tf.train.Checkpoint(model=build(config),
                            step=tf.Variable(0, dtype=tf.int64)),
        str(tmp_path / checkpoint.CHECKPOINTS), log=lines.append)


def test_exported_model_checks_its_data_settings(tmp_path):
  config = tiny_config("samplernn")
  _, (_, newest_weights) = save_run(str(tmp_path / "run"), config)
  out = str(tmp_path / "export")
  checkpoint.export(str(tmp_path / "run"), out, samplernn_model.build_model,
                    "last")
  settings_path = os.path.join(out, checkpoint.DATA_SETTINGS)
  files.write_json(settings_path, dict(DATA, chunk_seconds=8.0))
  model, _, step, _ = checkpoint.load(out, samplernn_model.build_model)
  assert step == 8
  for want, got in zip(newest_weights, weights(model)):
    np.testing.assert_array_equal(want, got)

  files.write_json(settings_path, dict(DATA, sample_rate=22050))
  with pytest.raises(config_lib.ConfigError,
                     match=re.escape(f"{settings_path}: data was prepared "
                                     f"with sample_rate=22050 but the model "
                                     f"was trained with sample_rate=16000")):
    checkpoint.load(out, samplernn_model.build_model)
  with open(settings_path, "w") as f:
    f.write('{"sample_rate": 16000,')
  with pytest.raises(checkpoint.CheckpointError,
                     match=re.escape(f"{settings_path}: not valid JSON (")):
    checkpoint.load(out, samplernn_model.build_model)


def test_an_unreadable_checkpoint_changes_no_variable(tmp_path):
  config = tiny_config("samplernn")
  _, (newest, newest_weights) = save_run(str(tmp_path), config)
  corrupt(newest, "weight_overwritten", newest_weights)
  model = build(config)
  before = weights(model)
  with pytest.raises(checkpoint.UnreadableCheckpointError,
                     match=re.escape(f"{newest}: unreadable (Checksum does "
                                     f"not match: ")):
    checkpoint.restore(tf.train.Checkpoint(
        model=model, step=tf.Variable(0, dtype=tf.int64)), newest)
  for old, new in zip(before, weights(model)):
    np.testing.assert_array_equal(old, new)
