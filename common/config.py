"""Configs as data: JSON presets, flag overrides, saved beside checkpoints.

A config is one flat JSON object. It holds the model's hyper-parameters, the
training recipe and the data settings the model was built for. Every key is
declared, with its type, allowed values, default and meaning, in
`common/trainer_keys.py` (the keys of every config) or the family's
`<family>/config_schema.py` (see `common.schema`; the reference is
docs/config.md). Whatever loads a config checks it against them before any
work starts: an unknown key, a value of the wrong type, out of range or
breaking a rule across keys is refused with one line naming the file and
the key.

- `family`: the name of a model family: a package with a `config_schema`
  (`common.family`).
- data settings (`DATA_KEYS`): `sample_rate` (Hz), `quantization`
  ("mu_law", "a_law", "linear") and `q_levels`. At training time they are
  taken from the prepared corpus's manifest and checked against the config;
  at load time a model refuses data prepared with other settings.
- everything else is read by the family's model or by `common.trainer`.

Presets live in `<family>/configs/<name>.json`; keys a preset or a JSON file
does not set take their defaults.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any, Iterable, Iterator, cast

from common import files
from common import schema
from common import trainer_keys

DATA_KEYS = trainer_keys.DATA_KEYS
CONFIG_NAME = "config.json"
ConfigError = schema.ConfigError
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def preset_dir(family: str) -> str:
  return os.path.join(_ROOT, family, "configs")


def list_presets(family: str) -> list[str]:
  """Names of the presets shipped for `family`, sorted."""
  schema.family_module(family)
  return sorted(name[:-5] for name in os.listdir(preset_dir(family))
                if name.endswith(".json"))


def train_defaults() -> dict:
  """Defaults of the keys every config holds (the data settings: null)."""
  return schema.defaults_of(trainer_keys.KEYS)


@contextlib.contextmanager
def _source(name: str) -> Iterator[None]:
  """Prefixes a ConfigError raised inside with `name: `."""
  try:
    yield
  except ConfigError as e:
    raise ConfigError(f"{name}: {e}") from None


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
  keys = [key for key, _ in pairs]
  for key in keys:
    if keys.count(key) > 1:
      raise ConfigError(f"key {key!r} is set twice")
  return dict(pairs)


def _read_object(path: str) -> dict[str, Any]:
  """The JSON object in `path`; one-line ConfigErrors naming the file."""
  with _source(path):
    try:
      with open(path) as f:
        data = json.load(f, object_pairs_hook=_refuse_duplicates)
    except json.JSONDecodeError as e:
      raise ConfigError(f"not valid JSON ({e})") from None
    if not isinstance(data, dict):
      raise ConfigError(f"must hold a JSON object of keys, got "
                        f"{type(data).__name__}")
  return data


def load(family: str, spec: str = "default",
         overrides: dict | None = None) -> dict:
  """Returns the checked config for a preset name or a JSON file.

  Keys the preset or file does not set take their defaults.

  Args:
    family: a model family's name (`common.schema.families`).
    spec: a preset name (see `list_presets`) or a path to a .json file.
    overrides: dict of key -> value applied last (None is JSON null: it
      sets a nullable key such as `sample_rate` to null).

  Raises:
    ConfigError: no such preset or file, or a key or value the schema
      refuses (the message names the file and the key).
  """
  schema.family_module(family)
  if spec.endswith(".json") or os.path.sep in spec:
    path = spec
    if not os.path.exists(path):
      raise ConfigError(f"{spec}: config file not found")
  else:
    path = os.path.join(preset_dir(family), spec + ".json")
    if not os.path.exists(path):
      raise ConfigError(f"unknown {family} preset {spec!r}; presets: "
                        f"{', '.join(list_presets(family))}")
  preset = _read_object(path)
  if preset.get("family", family) != family:
    raise ConfigError(f"{spec}: is a {preset['family']} config, not {family}")
  with _source(path):
    config = {**schema.defaults(family), **schema.check_known(preset, family),
              "family": family}
    if not overrides:
      schema.check(config, family)
  return apply_overrides(config, overrides) if overrides else config


def apply_overrides(config: dict, overrides: dict) -> dict:
  """Returns a checked copy of `config` with `overrides` set.

  Raises:
    ConfigError: an unknown key or a value the schema refuses.
  """
  family = cast(str, config.get("family"))  # the schema refuses a bad one
  config = {**config, **schema.check_known(overrides, family)}
  schema.check(config, family)
  return config


def parse_overrides(items: Iterable[str] | None) -> dict[str, Any]:
  """Parses ["key=value", ...] (values as JSON, else strings) into a dict."""
  out: dict[str, Any] = {}
  for item in items or []:
    if "=" not in item:
      raise ConfigError(f"override {item!r} is not key=value")
    key, raw = item.split("=", 1)
    try:
      out[key.strip()] = json.loads(raw)
    except json.JSONDecodeError:
      out[key.strip()] = raw
  return out


def validated(config: dict) -> dict:
  """A checked copy of a config dict made in code (it names its family):
  defaults filled in, every value and rule across keys checked.

  Raises:
    ConfigError: an unknown key or a value the schema refuses.
  """
  family = cast(str, config.get("family"))  # the schema refuses a bad one
  checked = {**schema.defaults(family), **schema.check_known(config, family)}
  schema.check(checked, family)
  return checked


def check_training(config: dict) -> None:
  """Raises ConfigError if a checked config cannot be trained (the rules
  that apply only to training: the key modules' `check_training`)."""
  schema.check_training(config, config["family"])


def keys(family: str) -> dict[str, schema.Key]:
  """The declared keys (`schema.Key`) of a family's configs, by name."""
  return schema.keys(family)


def resumable_keys(family: str) -> tuple[str, ...]:
  """Keys that may change when a run resumes: bookkeeping and the
  optimization schedule (e.g. resume with a lower learning rate)."""
  return schema.keys_that_change(family, schema.RESUME)


def fine_tune_keys(family: str) -> tuple[str, ...]:
  """Keys a fine-tuned run (`--init_from`) may change: the resumable ones
  and how the model is fed; not its shape or the codes it reads."""
  return resumable_keys(family) + schema.keys_that_change(
      family, schema.FINE_TUNE)


def diff(saved: dict, config: dict, may_differ: Iterable[str]) -> str:
  """"key: saved X, now Y" for (up to 6) keys outside `may_differ` that
  differ between two configs; "" when none do."""
  may_differ = set(may_differ)
  differ = sorted(k for k in set(saved) | set(config)
                  if k not in may_differ and saved.get(k) != config.get(k))
  return ", ".join(f"{k}: saved {saved.get(k)!r}, now {config.get(k)!r}"
                   for k in differ[:6])


def added_input_keys(family: str) -> tuple[str, ...]:
  """Keys a fine-tuned run may switch on because they only add inputs to
  the model (the weights reading them start at zero). A key with a
  `with_key` may change only together with that key."""
  return schema.keys_that_change(family, schema.ADDED_INPUT)


def fewer_keys(family: str) -> tuple[str, ...]:
  """Keys a fine-tuned run may lower (layers): the model keeps the
  source's first ones and their weights, and drops the rest."""
  return schema.keys_that_change(family, schema.FEWER)


def with_data_settings(config: dict, settings: dict,
                       source: str = "the corpus manifest") -> dict:
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


def check_data_settings(config: dict, settings: dict, source: str) -> None:
  """Raises ConfigError if `settings` (e.g. a manifest's) differ from config."""
  for key in DATA_KEYS:
    if key in settings and config.get(key) != settings[key]:
      raise ConfigError(
          f"{source}: data was prepared with {key}={settings[key]!r} but the "
          f"model was trained with {key}={config.get(key)!r}")


def save(config: dict, model_dir: str) -> None:
  files.write_json(os.path.join(model_dir, CONFIG_NAME), config)


def load_saved(model_dir: str) -> dict:
  """Reads and checks `model_dir/config.json`.

  A key added to the schema since the config was saved takes the value the
  older config implies (`schema.Key.implied`), so it compares equal to the
  config the same command makes today (e.g. to resume); any other missing
  key is refused.

  Raises:
    ConfigError: no config.json, or a key or value the schema refuses (the
      message names the file).
  """
  path = os.path.join(model_dir, CONFIG_NAME)
  if not os.path.exists(path):
    raise ConfigError(f"{model_dir}: no {CONFIG_NAME}; is this a model "
                      f"directory made by a neuralsynth train command?")
  saved = _read_object(path)
  with _source(path):
    family = cast(str, saved.get("family"))  # the schema refuses a bad one
    config = schema.check_known(saved, family)
    for key, value in schema.implied(family).items():
      config.setdefault(key, value)
    schema.check(config, family)
  return config
