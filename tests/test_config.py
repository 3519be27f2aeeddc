"""Configs: one schema per family, presets, overrides, saved configs."""

import glob
import json
import os
import re

import pytest

from common import config
from common import schema
from common import trainer_keys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAMILIES = ("samplernn", "wavenet")
PRETRAINED = sorted(glob.glob(os.path.join(ROOT, "pretrained", "*",
                                           config.CONFIG_NAME)))


def write_json(path, data):
  path.write_text(json.dumps(data))
  return str(path)


def saved_dir(tmp_path, data):
  """A model directory whose config.json holds `data`."""
  write_json(tmp_path / config.CONFIG_NAME, data)
  return str(tmp_path)


# --- presets, files, overrides --------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_every_preset_loads_over_the_schema_defaults(family):
  names = config.list_presets(family)
  assert "tiny" in names and names == sorted(names)
  defaults = schema.defaults(family)
  assert set(config.train_defaults()) <= set(defaults)
  for name in names:
    cfg = config.load(family, name)
    preset = json.load(open(f"{config.preset_dir(family)}/{name}.json"))
    assert cfg["family"] == family
    assert set(cfg) == set(config.keys(family))
    for key, value in preset.items():
      assert cfg[key] == value, (name, key)
    for key in set(defaults) - set(preset):
      assert cfg[key] == defaults[key], (name, key)


@pytest.mark.parametrize("path", PRETRAINED,
                         ids=[p.split(os.sep)[-2] for p in PRETRAINED])
def test_every_shipped_model_config_validates(path):
  from pretrained import paths  # pylint: disable=g-import-not-at-top
  models = {n for n, need in paths.SHIPPED.items() if "config.json" in need}
  assert {p.split(os.sep)[-2] for p in PRETRAINED} == models
  model_dir = os.path.dirname(path)
  cfg = config.load_saved(model_dir)
  assert set(cfg) == set(config.keys(cfg["family"]))
  assert config.validated(cfg) == cfg


def test_default_preset_and_presets_on_disk():
  assert config.load("samplernn")["family"] == "samplernn"
  assert "default" in config.list_presets("samplernn")


def test_overrides_apply_and_make_copies():
  cfg = config.load("samplernn", "tiny", {"dim": 8, "learning_rate": 0.01})
  assert cfg["dim"] == 8 and cfg["learning_rate"] == 0.01
  base = config.load("wavenet", "tiny")
  changed = config.apply_overrides(base, {"width": 4})
  assert changed["width"] == 4 and base["width"] == 16  # a copy
  # Lists are the config's own, not shared with the schema's defaults.
  cfg["lr_values"].append(1.0)
  assert config.load("samplernn", "tiny")["lr_values"] == []


def test_null_override_sets_a_nullable_key_and_refuses_others():
  cfg = config.load("wavenet", "tiny", {"q_levels": None})
  assert cfg["q_levels"] is None
  with pytest.raises(config.ConfigError,
                     match=r"^dim: must be an integer >= 1, got null$"):
    config.load("samplernn", "tiny", config.parse_overrides(["dim=null"]))


def test_parse_overrides():
  assert config.parse_overrides(["dim=8", "lr=1e-3", "rnn_type=lstm",
                                 "frame_sizes=[2, 8]", "skip=true",
                                 "name=a=b"]) == {
                                     "dim": 8, "lr": 1e-3, "rnn_type": "lstm",
                                     "frame_sizes": [2, 8], "skip": True,
                                     "name": "a=b"}
  assert config.parse_overrides(None) == {}
  with pytest.raises(config.ConfigError, match="not key=value"):
    config.parse_overrides(["dim"])


def test_unknown_preset_family_and_bad_files_raise(tmp_path):
  with pytest.raises(config.ConfigError, match="unknown samplernn preset "
                     "'huge'; presets: .*tiny"):
    config.load("samplernn", "huge")
  with pytest.raises(config.ConfigError, match="config file not found"):
    config.load("samplernn", str(tmp_path / "missing.json"))
  bad = tmp_path / "bad.json"
  bad.write_text("{not json")
  with pytest.raises(config.ConfigError, match="not valid JSON"):
    config.load("samplernn", str(bad))
  with pytest.raises(config.ConfigError, match="is a wavenet config"):
    config.load("samplernn", f"{config.preset_dir('wavenet')}/tiny.json")
  for family in ("nope", "../wavenet", "common", "os"):
    with pytest.raises(config.ConfigError, match="family: .*samplernn, "
                       "wavenet"):
      config.load(family, "tiny")


def test_load_from_a_json_file_fills_defaults(tmp_path):
  path = write_json(tmp_path / "mine.json",
                    {"family": "samplernn", "dim": 7, "frame_sizes": [2, 4]})
  cfg = config.load("samplernn", path, {"seq_len": 32})
  assert cfg["dim"] == 7 and cfg["seq_len"] == 32
  assert cfg["num_steps"] == config.train_defaults()["num_steps"]
  assert cfg["rnn_type"] == schema.defaults("samplernn")["rnn_type"]


# --- refused before any work starts ---------------------------------------


def test_unknown_key_in_a_json_file_is_refused_naming_the_file(tmp_path):
  path = write_json(tmp_path / "mine.json", {"dimm": 8})
  with pytest.raises(config.ConfigError) as e:
    config.load("samplernn", path)
  assert str(e.value) == f"{path}: unknown key 'dimm' (did you mean 'dim'?)"
  path = write_json(tmp_path / "far.json", {"xyzzy": 8})
  with pytest.raises(config.ConfigError, match=r"unknown key 'xyzzy'; the "
                     r"keys are audio_summary_every, .*, dim, "):
    config.load("samplernn", path)


def test_unknown_key_in_an_override_is_refused():
  overrides = config.parse_overrides(["dimm=8"])
  with pytest.raises(config.ConfigError) as e:
    config.load("samplernn", "tiny", overrides)
  assert str(e.value) == "unknown key 'dimm' (did you mean 'dim'?)"
  with pytest.raises(config.ConfigError, match=r"unknown key 'widht' \(did "
                     r"you mean 'width'\?\)"):
    config.apply_overrides(config.load("wavenet", "tiny"), {"widht": 4})


def test_unknown_key_in_a_saved_config_is_refused(tmp_path):
  saved = dict(config.load("wavenet", "tiny"), hop_lenght=32)
  model_dir = saved_dir(tmp_path, saved)
  with pytest.raises(config.ConfigError) as e:
    config.load_saved(model_dir)
  assert str(e.value) == (f"{os.path.join(model_dir, 'config.json')}: "
                          f"unknown key 'hop_lenght' (did you mean "
                          f"'hop_length'?)")


def test_a_key_set_twice_in_a_file_is_refused(tmp_path):
  path = tmp_path / "twice.json"
  path.write_text('{"dim": 8, "dim": 16}')
  with pytest.raises(config.ConfigError, match="twice.json: key 'dim' is "
                     "set twice"):
    config.load("samplernn", str(path))


@pytest.mark.parametrize("key,value,message", [
    # JSON true is not 1, nor 1 true.
    ("dim", True, "dim: must be an integer, got True"),
    ("skip_connections", 1, "skip_connections: must be true or false, got 1"),
    ("dim", 8.0, "dim: must be an integer, got 8.0"),
    ("rnn_type", 1, "rnn_type: must be a string, got 1"),
    ("frame_sizes", 16, "frame_sizes: must be a list of integers, got 16"),
    ("frame_sizes", [16, "64"], "frame_sizes: must be a list of integers"),
    ("lr_values", [1e-3, True], "lr_values: must be a list of numbers"),
    ("learning_rate", "fast", "learning_rate: must be a number, got 'fast'"),
    ("learning_rate", float("nan"), "learning_rate: must be a number"),
])
def test_a_value_of_the_wrong_type_is_refused(key, value, message):
  with pytest.raises(config.ConfigError) as e:
    config.load("samplernn", "tiny", {key: value})
  assert str(e.value).startswith(message)


def test_an_integer_is_accepted_for_a_number():
  cfg = config.load("samplernn", "tiny", {"learning_rate": 1,
                                          "lr_schedule": "piecewise",
                                          "lr_boundaries": [5],
                                          "lr_values": [1, 0]})
  assert cfg["learning_rate"] == 1.0 and type(cfg["learning_rate"]) is float
  assert [type(v) for v in cfg["lr_values"]] == [float, float]


@pytest.mark.parametrize("family,key,value,message", [
    ("samplernn", "learning_rate", -1,
     "learning_rate: must be >= 0, got -1"),
    ("samplernn", "batch_size", 0, "batch_size: must be >= 1, got 0"),
    ("samplernn", "audio_summary_seconds", 0,
     "audio_summary_seconds: must be > 0, got 0"),
    ("samplernn", "frame_sizes", [16, 0],
     "frame_sizes: items must be >= 1, got [16, 0]"),
    ("wavenet", "pitch_min_midi", 128,
     "pitch_min_midi: must be in [0, 127], got 128"),
    ("wavenet", "q_levels", 1, "q_levels: must be in [2, 65536], got 1"),
    ("samplernn", "rnn_type", "rnnn",
     "rnn_type: must be one of gru, lstm, got 'rnnn'"),
    ("wavenet", "quantization", "mulaw",
     "quantization: must be one of mu_law, a_law, linear, got 'mulaw'"),
    ("samplernn", "lr_schedule", "cosine", "lr_schedule: must be one of "
     "exponential, piecewise, constant, got 'cosine'"),
])
def test_a_value_out_of_range_or_choices_is_refused(family, key, value,
                                                    message):
  with pytest.raises(config.ConfigError) as e:
    config.load(family, "tiny", {key: value})
  assert str(e.value) == message


def test_a_bad_value_in_a_file_or_saved_config_names_the_file(tmp_path):
  path = write_json(tmp_path / "mine.json", {"rnn_type": "rnnn"})
  with pytest.raises(config.ConfigError, match=re.escape(
      f"{path}: rnn_type: must be one of gru, lstm, got 'rnnn'")):
    config.load("samplernn", path)
  model_dir = saved_dir(tmp_path, dict(config.load("samplernn", "tiny"),
                                       num_rnn_layers=0))
  with pytest.raises(config.ConfigError, match=re.escape(
      f"{model_dir}{os.sep}config.json: num_rnn_layers: must be >= 1")):
    config.load_saved(model_dir)


@pytest.mark.parametrize("family,overrides,message", [
    ("samplernn", dict(frame_sizes=[16, 24]),
     "frame_sizes: 24 is not a multiple of 16"),
    ("samplernn", dict(frame_sizes=[4, 4]), "frame_sizes: must be distinct"),
    ("samplernn", dict(frame_sizes=[]), "frame_sizes: must hold at least"),
    ("samplernn", dict(seq_len=40), "seq_len: must be a multiple of the top "
     "frame size 16, got 40"),
    ("samplernn", dict(lr_boundaries=[100]), "lr_boundaries, lr_values: only "
     "lr_schedule piecewise reads them"),
    ("samplernn", dict(lr_schedule="piecewise", lr_boundaries=[100]),
     "lr_values: 1 lr_boundaries need 2 values, got 0"),
    ("samplernn", dict(lr_schedule="piecewise", lr_boundaries=[100, 50],
                       lr_values=[1.0, 0.5, 0.1]),
     "lr_boundaries: must increase, got [100, 50]"),
    ("wavenet", dict(conditioning="none", pitch_bins=12),
     "pitch_bins: pitch conditioning (pitch_bins > 0) needs "
     "conditioning=encoder"),
    ("wavenet", dict(pitch_period_input=True),
     "pitch_period_input: needs pitch conditioning"),
])
def test_rules_across_keys_are_checked_at_load(family, overrides, message):
  with pytest.raises(config.ConfigError) as e:
    config.load(family, "tiny", overrides)
  assert str(e.value).startswith(message)


def test_validated_fills_defaults_and_checks_a_config_made_in_code():
  cfg = config.validated(dict(family="samplernn", dim=8, frame_sizes=[4]))
  assert cfg["dim"] == 8 and cfg["rnn_type"] == "gru"
  assert cfg["num_steps"] == config.train_defaults()["num_steps"]
  with pytest.raises(config.ConfigError, match="did you mean 'dim'"):
    config.validated(dict(family="samplernn", dimm=8))
  with pytest.raises(config.ConfigError, match="family: must be a model "
                     "family name"):
    config.validated(dict(dim=8))


def test_check_training_calls_the_families_hooks(monkeypatch):
  from wavenet import config_schema  # pylint: disable=g-import-not-at-top
  cfg = config.load("wavenet", "tiny")
  config.check_training(cfg)  # no hook: nothing to refuse
  seen = []

  def hook(c):
    seen.append(c)
    raise config.ConfigError("seq_len: too short for the pitch window")

  monkeypatch.setattr(config_schema, "check_training", hook, raising=False)
  with pytest.raises(config.ConfigError, match="too short"):
    config.check_training(cfg)
  assert seen == [cfg]


# --- data settings ----------------------------------------------------------


def test_with_data_settings_fills_unset_keys_and_refuses_conflicts():
  cfg = config.load("samplernn", "tiny")
  assert cfg["sample_rate"] is None
  settings = dict(sample_rate=16000, quantization="mu_law", q_levels=256,
                  chunk_seconds=4.0)
  filled = config.with_data_settings(cfg, settings)
  assert filled["sample_rate"] == 16000
  assert filled["quantization"] == "mu_law" and filled["q_levels"] == 256
  assert cfg["sample_rate"] is None  # a copy
  assert "chunk_seconds" not in filled
  with pytest.raises(config.ConfigError) as e:
    config.with_data_settings(cfg, dict(settings, q_levels=1024),
                              source="data/x")
  message = str(e.value)
  assert message.startswith("data/x:")
  assert "q_levels=1024" in message and "q_levels=256" in message
  assert "--q_levels=256" in message
  with pytest.raises(config.ConfigError, match="quantization='a_law'"):
    config.with_data_settings(cfg, dict(settings, quantization="a_law"))
  # Keys the corpus does not state keep the config's values.
  kept = config.with_data_settings(dict(cfg, sample_rate=22050), {})
  assert kept["sample_rate"] == 22050 and kept["q_levels"] == 256


def test_check_data_settings():
  cfg = config.with_data_settings(config.load("wavenet", "tiny"),
                                  dict(sample_rate=16000, quantization="mu_law",
                                       q_levels=256))
  config.check_data_settings(cfg, dict(sample_rate=16000, q_levels=256),
                             "corpus")
  with pytest.raises(config.ConfigError, match="corpus: .*sample_rate=8000"):
    config.check_data_settings(cfg, dict(sample_rate=8000), "corpus")


# --- saved configs ----------------------------------------------------------


def test_save_and_load_saved(tmp_path):
  cfg = config.load("wavenet", "tiny", {"width": 8})
  config.save(cfg, str(tmp_path))
  assert config.load_saved(str(tmp_path)) == cfg
  with pytest.raises(config.ConfigError, match="no config.json"):
    config.load_saved(str(tmp_path / "elsewhere"))


def test_an_old_saved_config_loads_with_the_values_it_implies(tmp_path):
  """Keys added since a model was saved take the value the old config
  implies (the first WaveNets had no pitch inputs, jitter or XLA); a key
  that every saved config holds cannot be missing."""
  cfg = config.load("wavenet", "tiny")
  later = ("pitch_bins", "pitch_min_midi", "pitch_period_input",
           "input_jitter", "jit_compile")
  old = {k: v for k, v in cfg.items() if k not in later}
  loaded = config.load_saved(saved_dir(tmp_path, old))
  assert loaded == dict(cfg, jit_compile=False)
  assert (loaded["pitch_bins"], loaded["pitch_min_midi"],
          loaded["pitch_period_input"], loaded["input_jitter"]) == (
              0, 24, False, 0)
  del old["width"]
  with pytest.raises(config.ConfigError, match="config.json: lacks key "
                     "width$"):
    config.load_saved(saved_dir(tmp_path, old))


# --- how keys may change between runs ---------------------------------------

# Before the schema, common/trainer.py declared these tuples.
RESUMABLE_KEYS = ("num_steps", "checkpoint_every", "keep_checkpoints",
                  "validate_every", "val_batches", "early_stopping_patience",
                  "summary_every", "audio_summary_every",
                  "audio_summary_seconds", "jit_compile", "learning_rate",
                  "lr_schedule", "lr_boundaries", "lr_values",
                  "lr_decay_steps", "lr_decay_rate", "lr_warmup_steps",
                  "min_learning_rate", "grad_clip_norm")
FINE_TUNE_KEYS = RESUMABLE_KEYS + ("batch_size", "seq_len", "num_windows",
                                   "seed", "shuffle_buffer", "input_jitter")
ADDED_INPUT_KEYS = ("pitch_bins", "pitch_min_midi", "pitch_period_input")


def test_keys_that_may_change_between_runs():
  for family in FAMILIES:
    assert config.resumable_keys(family) == RESUMABLE_KEYS
  assert config.fine_tune_keys("wavenet") == FINE_TUNE_KEYS
  assert config.fine_tune_keys("samplernn") == FINE_TUNE_KEYS[:-1]
  assert config.added_input_keys("wavenet") == ADDED_INPUT_KEYS
  assert config.added_input_keys("samplernn") == ()
  # `pitch_min_midi` may change only together with `pitch_bins`.
  keys = config.keys("wavenet")
  assert keys["pitch_min_midi"].with_key == "pitch_bins"
  assert [k for k in ADDED_INPUT_KEYS if keys[k].with_key] == [
      "pitch_min_midi"]


# --- the schema itself ------------------------------------------------------


def test_common_declares_no_family_key():
  common = {k.name for k in trainer_keys.KEYS}
  for family in FAMILIES:
    family_keys = set(config.keys(family)) - common
    assert family_keys and not family_keys & common
    assert not re.search(r"\b(%s)\b" % "|".join(sorted(family_keys)),
                         open(os.path.join(ROOT, "common",
                                           "trainer_keys.py")).read())
  assert set(config.DATA_KEYS) <= common


def test_every_key_the_code_reads_is_declared():
  """`config["key"]` / `config.get("key"...)` anywhere in the packages reads
  a declared key (a typo in code is as silent as one in a config)."""
  declared = set().union(*(config.keys(f) for f in FAMILIES))
  reads = re.compile(r"\b(?:config|cfg)(?:\[|\.get\()\s*[\"'](\w+)[\"']")
  undeclared = []
  for package in ("common", "samplernn", "wavenet", "eval", "pretrained"):
    for path in glob.glob(os.path.join(ROOT, package, "**", "*.py"),
                          recursive=True):
      for n, line in enumerate(open(path), 1):
        undeclared += [f"{os.path.relpath(path, ROOT)}:{n}: {key}"
                       for key in reads.findall(line) if key not in declared]
  assert not undeclared


def test_config_reference_is_up_to_date():
  with open(schema.REFERENCE_PATH) as f:
    on_disk = f.read()
  assert on_disk == schema.reference_markdown(), (
      f"docs/config.md is stale; regenerate it: {schema.REFERENCE_COMMAND}")
  for family in FAMILIES:
    for name in config.keys(family):
      assert f"| `{name}` |" in on_disk
