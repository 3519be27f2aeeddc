"""Configs as data: JSON presets, flag overrides, saved beside checkpoints.

A config is one flat JSON object. It holds the model's hyper-parameters, the
training recipe and the data settings the model was built for:

- `family`: "samplernn" or "wavenet".
- data settings (`DATA_KEYS`): `sample_rate` (Hz), `quantization`
  ("mu_law", "a_law", "linear") and `q_levels`. At training time they are
  taken from the prepared corpus's manifest and checked against the config;
  at load time a model refuses data prepared with other settings.
- everything else is read by the family's model or by `common.trainer`.

Presets live in `<family>/configs/<name>.json`; the trainer's defaults in
`common/train_defaults.json` are filled in under every preset.
"""

import json
import os

from common import files

DATA_KEYS = ("sample_rate", "quantization", "q_levels")
# Keys a family's presets gained after models were saved without them, with
# the value such an older config implies (see `load_saved`).
IMPLIED_KEYS = {"wavenet": {"pitch_bins": 0, "pitch_min_midi": 24,
                            "pitch_period_input": False, "input_jitter": 0}}
CONFIG_NAME = "config.json"
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ConfigError(ValueError):
  """A config that cannot be used (unknown preset, bad key, data mismatch)."""


def preset_dir(family):
  return os.path.join(_ROOT, family, "configs")


def list_presets(family):
  """Names of the presets shipped for `family`, sorted."""
  return sorted(name[:-5] for name in os.listdir(preset_dir(family))
                if name.endswith(".json"))


def train_defaults():
  return files.read_json(os.path.join(_ROOT, "common", "train_defaults.json"))


def load(family, spec="default", overrides=None):
  """Returns the config dict for a preset name or a JSON file.

  Args:
    family: "samplernn" or "wavenet".
    spec: a preset name (see `list_presets`) or a path to a .json file.
    overrides: dict of key -> value applied last. Unknown keys raise.
  """
  if spec.endswith(".json") or os.path.sep in spec:
    if not os.path.exists(spec):
      raise ConfigError(f"{spec}: config file not found")
    try:
      preset = files.read_json(spec)
    except json.JSONDecodeError as e:
      raise ConfigError(f"{spec}: not valid JSON ({e})") from None
  else:
    path = os.path.join(preset_dir(family), spec + ".json")
    if not os.path.exists(path):
      raise ConfigError(f"unknown {family} preset {spec!r}; presets: "
                        f"{', '.join(list_presets(family))}")
    preset = files.read_json(path)
  config = dict(train_defaults())
  config.update(preset)
  config["family"] = family
  if preset.get("family", family) != family:
    raise ConfigError(f"{spec}: is a {preset['family']} config, not {family}")
  return apply_overrides(config, overrides or {})


def apply_overrides(config, overrides):
  """Returns a copy of `config` with `overrides`; unknown keys raise."""
  config = dict(config)
  for key, value in overrides.items():
    if value is None:
      continue
    if key not in config:
      raise ConfigError(f"unknown config key {key!r}; known: "
                        f"{', '.join(sorted(config))}")
    config[key] = value
  return config


def parse_overrides(items):
  """Parses ["key=value", ...] (values as JSON, else strings) into a dict."""
  out = {}
  for item in items or []:
    if "=" not in item:
      raise ConfigError(f"override {item!r} is not key=value")
    key, raw = item.split("=", 1)
    try:
      out[key.strip()] = json.loads(raw)
    except json.JSONDecodeError:
      out[key.strip()] = raw
  return out


def with_data_settings(config, settings, source="the corpus manifest"):
  """Fills the data settings into `config`, refusing a conflict.

  A preset may leave a data key unset (null): it is taken from `settings`.
  A key set in both must agree.
  """
  config = dict(config)
  for key in DATA_KEYS:
    want = config.get(key)
    have = settings.get(key)
    if want is not None and have is not None and want != have:
      raise ConfigError(
          f"{source}: data was prepared with {key}={have!r} but the model "
          f"config needs {key}={want!r}; prepare the corpus again with "
          f"--{key}={want} or train a new model")
    config[key] = have if have is not None else want
  return config


def check_data_settings(config, settings, source):
  """Raises ConfigError if `settings` (e.g. a manifest's) differ from config."""
  for key in DATA_KEYS:
    if key in settings and config.get(key) != settings[key]:
      raise ConfigError(
          f"{source}: data was prepared with {key}={settings[key]!r} but the "
          f"model was trained with {key}={config.get(key)!r}")


def save(config, model_dir):
  files.write_json(os.path.join(model_dir, CONFIG_NAME), config)


def load_saved(model_dir):
  """Reads `model_dir/config.json`, with a clear error when it is missing.

  Keys added to the family's presets since it was saved are filled in with
  the value the older config implies (`IMPLIED_KEYS`), so it compares equal
  to the config the same command makes today (e.g. to resume).
  """
  path = os.path.join(model_dir, CONFIG_NAME)
  if not os.path.exists(path):
    raise ConfigError(f"{model_dir}: no {CONFIG_NAME}; is this a model "
                      f"directory made by a neuralsynth train command?")
  saved = files.read_json(path)
  return {**IMPLIED_KEYS.get(saved.get("family"), {}), **saved}
