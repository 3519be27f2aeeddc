"""Configs: presets, overrides, data settings."""

import json

import pytest

from common import config


@pytest.mark.parametrize("family", ["samplernn", "wavenet"])
def test_every_preset_loads_over_the_train_defaults(family):
  names = config.list_presets(family)
  assert "tiny" in names and names == sorted(names)
  defaults = config.train_defaults()
  for name in names:
    cfg = config.load(family, name)
    preset = json.load(open(f"{config.preset_dir(family)}/{name}.json"))
    assert cfg["family"] == family
    assert set(defaults) <= set(cfg)
    for key, value in preset.items():
      assert cfg[key] == value, (name, key)
    for key in set(defaults) - set(preset):
      assert cfg[key] == defaults[key], (name, key)
    for key in config.DATA_KEYS:
      assert key in cfg


def test_default_preset_and_presets_on_disk():
  assert config.load("samplernn")["family"] == "samplernn"
  assert "default" in config.list_presets("samplernn")


def test_overrides_apply_and_unknown_keys_raise():
  cfg = config.load("samplernn", "tiny", {"dim": 8, "learning_rate": 0.01,
                                          "batch_size": None})
  assert cfg["dim"] == 8 and cfg["learning_rate"] == 0.01
  assert cfg["batch_size"] == config.load("samplernn", "tiny")["batch_size"]
  with pytest.raises(config.ConfigError, match="unknown config key 'dimm'"):
    config.load("samplernn", "tiny", {"dimm": 8})
  base = config.load("wavenet", "tiny")
  changed = config.apply_overrides(base, {"width": 4})
  assert changed["width"] == 4 and base["width"] == 16  # a copy
  with pytest.raises(config.ConfigError, match="unknown config key"):
    config.apply_overrides(base, {"nope": 1})


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


def test_unknown_preset_and_bad_files_raise(tmp_path):
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


def test_load_from_a_json_file(tmp_path):
  path = tmp_path / "mine.json"
  path.write_text(json.dumps({"family": "samplernn", "dim": 7,
                              "frame_sizes": [2, 4]}))
  cfg = config.load("samplernn", str(path), {"seq_len": 32})
  assert cfg["dim"] == 7 and cfg["seq_len"] == 32
  assert cfg["num_steps"] == config.train_defaults()["num_steps"]


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


def test_save_and_load_saved(tmp_path):
  cfg = config.load("wavenet", "tiny", {"width": 8})
  config.save(cfg, str(tmp_path))
  assert config.load_saved(str(tmp_path)) == cfg
  with pytest.raises(config.ConfigError, match="no config.json"):
    config.load_saved(str(tmp_path / "elsewhere"))
