"""Config schemas as data: every key's type, allowed values, default, meaning.

A config (see `common.config`) is one flat JSON object. Its keys are declared
in key modules, each a tuple `KEYS` of `Key`s plus two optional functions:

- `common/trainer_keys.py`: the keys every config holds (its family, the
  data settings, the trainer's recipe);
- `<family>/config_schema.py` (e.g. `samplernn/config_schema.py`): the
  family's model keys. Families are plug-ins: any package with such a module
  is one, and `common/` names none of their keys.

A key module may define `check(config)`, rules across keys every config
obeys (checked whenever a config is loaded), and `check_training(config)`,
rules that apply only when training; both raise `ConfigError`.

The reference page of all keys is generated from the declarations:

    python -m common.config_reference --write_reference   # docs/config.md
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import importlib
import math
import os
import re
import typing
from types import ModuleType
from typing import Any, Iterable

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMON_MODULE = "common.trainer_keys"
REFERENCE_PATH = os.path.join(_ROOT, "docs", "config.md")
REFERENCE_COMMAND = "python -m common.config_reference --write_reference"

# How a key may change between two runs of one model (`Key.changes`).
FIXED = "fixed"              # never: the model, and the codes it reads
RESUME = "resume"            # when a run resumes: bookkeeping, schedule
FINE_TUNE = "fine_tune"      # also when fine-tuning (`--init_from`): feeding
ADDED_INPUT = "added_input"  # a fine-tuned model may switch on this input
FEWER = "fewer"              # a fine-tuned model may keep fewer of these
#                              (layers): the first ones, with their weights
CHANGES = {FIXED: "never", RESUME: "resume", FINE_TUNE: "fine-tune",
           ADDED_INPUT: "fine-tune: add", FEWER: "fine-tune: fewer"}


class ConfigError(ValueError):
  """A config that cannot be used (unknown preset, bad key, data mismatch)."""


class _Marker:
  """A named sentinel (prints its name in reprs and the reference)."""

  def __init__(self, name: str) -> None:
    self.name = name

  def __repr__(self) -> str:
    return self.name


REQUIRED = _Marker("required")        # `Key.default`: every config sets it
NOT_IMPLIED = _Marker("not_implied")  # `Key.implied`: saved configs hold it


@dataclasses.dataclass(frozen=True)
class Key:
  """One config key.

  Attributes:
    name: the JSON key.
    type: int, float (an int is accepted and stored as a float), bool (JSON
      true/false only, never 0/1), str, list[int] or list[float].
    default: the value a config that does not set the key gets; REQUIRED:
      none (the command sets it).
    help: one line: what the key means, with its unit.
    choices: the allowed values (str keys).
    min, max: inclusive bounds of a number (of each item of a list).
    min_exclusive: `min` itself is not allowed (e.g. a rate > 0).
    nullable: null is allowed (e.g. a data setting taken from the corpus).
    changes: how the key may change between runs of one model (FIXED,
      RESUME, FINE_TUNE, ADDED_INPUT, FEWER).
    with_key: for an ADDED_INPUT key read only with another key's input
      (e.g. `pitch_min_midi` with `pitch_bins`): that key. It may change
      only together with it: the input is on when that key is truthy.
    implied: the value a saved config that lacks the key implies (a key
      added after models were saved without it); NOT_IMPLIED: a saved
      config must hold it.
  """

  name: str
  type: Any
  default: Any
  help: str
  choices: tuple[str, ...] | None = None
  min: float | None = None
  max: float | None = None
  min_exclusive: bool = False
  nullable: bool = False
  changes: str = FIXED
  with_key: str | None = None
  implied: Any = NOT_IMPLIED

  def __post_init__(self) -> None:
    if self.changes not in CHANGES:
      raise ValueError(f"{self.name}: changes must be one of {set(CHANGES)}")
    for value in (self.default, self.implied):
      if value is not REQUIRED and value is not NOT_IMPLIED:
        check_value(self, value)


# ---------------------------------------------------------------------------
# Values.


def _item_type(key: Key) -> tuple[Any, bool]:
  """(item type, is a list) of a key's declared type."""
  if typing.get_origin(key.type) is list:
    return typing.get_args(key.type)[0], True
  return key.type, False


_TYPE_NAMES = {int: "integer", float: "number", bool: "boolean",
               str: "string"}


def type_name(key: Key) -> str:
  """The JSON type a key takes, e.g. "integer", "list of numbers"."""
  item, is_list = _item_type(key)
  return f"list of {_TYPE_NAMES[item]}s" if is_list else _TYPE_NAMES[item]


def _a_type(key: Key) -> str:
  """"an integer", "true or false", "a list of numbers": for messages."""
  if key.type is bool:
    return "true or false"
  name = type_name(key)
  return ("an " if name[0] in "aeiou" else "a ") + name


def _has_type(value: Any, item: type) -> bool:
  if item is bool:
    return isinstance(value, bool)
  if isinstance(value, bool):
    return False
  if item is float:
    return isinstance(value, (int, float)) and math.isfinite(value)
  return isinstance(value, item)


def _bounds(key: Key) -> str:
  """"> 0", ">= 1", "in [0, 127]" or "" for a key's range."""
  low = None if key.min is None else (
      f"{'>' if key.min_exclusive else '>='} {key.min!r}")
  if key.max is None:
    return low or ""
  if low is None:
    return f"<= {key.max!r}"
  if key.min_exclusive:
    return f"{low} and <= {key.max!r}"
  return f"in [{key.min!r}, {key.max!r}]"


def _in_bounds(key: Key, number: float) -> bool:
  if key.min is not None and (number < key.min or (
      key.min_exclusive and number == key.min)):
    return False
  return key.max is None or number <= key.max


def check_value(key: Key, value: Any) -> Any:
  """`value` checked against `key`; a float key's ints become floats.

  Raises:
    ConfigError: "name: must be ..., got ..." (one line).
  """
  if value is None:
    if key.nullable:
      return None
    expected = (f"one of {', '.join(key.choices)}" if key.choices
                else f"{_a_type(key)} {_bounds(key)}".rstrip())
    raise ConfigError(f"{key.name}: must be {expected}, got null")
  item, is_list = _item_type(key)
  items = value if is_list else [value]
  if (is_list and not isinstance(value, list)) or not all(
      _has_type(v, item) for v in items):
    raise ConfigError(f"{key.name}: must be {_a_type(key)}, got {value!r}")
  if key.choices is not None and any(v not in key.choices for v in items):
    raise ConfigError(f"{key.name}: must be one of "
                      f"{', '.join(key.choices)}, got {value!r}")
  if item in (int, float) and not all(_in_bounds(key, v) for v in items):
    what = "items must be" if is_list else "must be"
    raise ConfigError(f"{key.name}: {what} {_bounds(key)}, got {value!r}")
  if item is float:
    items = [float(v) for v in items]
  return items if is_list else items[0]


def allowed(key: Key) -> str:
  """What a key accepts, in words (the reference's "allowed" column)."""
  if key.choices is not None:
    text = ", ".join(key.choices)
  elif key.type is bool:
    text = "true, false"
  else:
    text = type_name(key)
    bounds = _bounds(key)
    if bounds:
      text += (", items " if _item_type(key)[1] else " ") + bounds
  return text + (", or null" if key.nullable else "")


# ---------------------------------------------------------------------------
# Key modules.

_FAMILY_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")


def families(root: str = _ROOT) -> list[str]:
  """The model families installed beside `common/` (in `root`), sorted."""
  return sorted(name for name in os.listdir(root) if _FAMILY_NAME.match(name)
                and os.path.exists(os.path.join(root, name,
                                                "config_schema.py")))


def family_module(family: str) -> ModuleType:
  """The module `<family>.config_schema` that declares a family's keys.

  Raises:
    ConfigError: not a family name, or no such family.
  """
  if not isinstance(family, str) or not _FAMILY_NAME.match(family):
    raise ConfigError(f"family: must be a model family name (one of "
                      f"{', '.join(families())}), got {family!r}")
  name = f"{family}.config_schema"
  try:
    return importlib.import_module(name)
  except ModuleNotFoundError as e:
    if e.name not in (family, name):
      raise
    raise ConfigError(f"family: unknown family {family!r}; families: "
                      f"{', '.join(families())}") from None


def _modules(family: str) -> tuple[ModuleType, ModuleType]:
  """The key modules of a family's configs: the common one, the family's."""
  return importlib.import_module(COMMON_MODULE), family_module(family)


def keys(family: str) -> dict[str, Key]:
  """Every key of a family's configs, by name, in declaration order."""
  out = {}
  for module in _modules(family):
    for key in module.KEYS:
      if key.name in out:
        raise ValueError(f"{module.__name__}: declares {key.name!r} again")
      out[key.name] = key
  return out


def check_known(config: dict, family: str) -> dict:
  """A copy of a (possibly partial) config with every value checked.

  Raises:
    ConfigError: an unknown key ("unknown key 'dimm' (did you mean
      'dim'?)"), or a value of the wrong type, out of range or not one of the
      choices.
  """
  known = keys(family)
  out = {}
  for name, value in config.items():
    if name not in known:
      raise ConfigError(unknown_key_message(name, known))
    out[name] = check_value(known[name], value)
  return out


def unknown_key_message(name: str, known: Iterable[str]) -> str:
  """"unknown key 'dimm' (did you mean 'dim'?)", else the known keys."""
  close = difflib.get_close_matches(str(name), list(known), n=1)
  if close:
    return f"unknown key {name!r} (did you mean {close[0]!r}?)"
  return f"unknown key {name!r}; the keys are {', '.join(sorted(known))}"


def defaults(family: str) -> dict:
  """Every key's default (fresh copies), except REQUIRED keys."""
  return defaults_of(keys(family).values())


def defaults_of(declared: Iterable[Key]) -> dict:
  """The defaults of some `Key`s (fresh copies), except REQUIRED keys."""
  return {k.name: copy.deepcopy(k.default) for k in declared
          if k.default is not REQUIRED}


def implied(family: str) -> dict:
  """Values a saved config that lacks the key implies (fresh copies)."""
  return {k.name: copy.deepcopy(k.implied) for k in keys(family).values()
          if k.implied is not NOT_IMPLIED}


def check(config: dict, family: str) -> None:
  """Every key present and every cross-key rule of the key modules obeyed.

  `config` holds checked values (`check_known`) of a `family` config.
  """
  if config.get("family", family) != family:
    raise ConfigError(f"family: a {family} config cannot become "
                      f"{config['family']!r}")
  missing = [name for name in keys(family) if name not in config]
  if missing:
    raise ConfigError(f"lacks key{'s' if len(missing) > 1 else ''} "
                      f"{', '.join(missing)}")
  for module in _modules(family):
    if hasattr(module, "check"):
      module.check(config)


def check_training(config: dict, family: str) -> None:
  """The rules that apply only when training (`check_training` hooks)."""
  for module in _modules(family):
    if hasattr(module, "check_training"):
      module.check_training(config)


def keys_that_change(family: str, *changes: str) -> tuple[str, ...]:
  """Names of a family's keys whose `changes` is one of `changes`."""
  return tuple(k.name for k in keys(family).values() if k.changes in changes)


# ---------------------------------------------------------------------------
# The reference page.


def _cell(value: Any) -> str:
  if value is REQUIRED:
    return "(required)"
  if isinstance(value, bool) or value is None:
    return f"`{str(value).lower() if value is not None else 'null'}`"
  if isinstance(value, str):
    return f'`"{value}"`'
  return f"`{value}`"


def _table(module: ModuleType) -> str:
  rows = ["| key | type | default | allowed | may change | meaning |",
          "|---|---|---|---|---|---|"]
  for key in module.KEYS:
    change = CHANGES[key.changes]
    if key.with_key:
      change += f" (with `{key.with_key}`)"
    meaning = key.help
    if key.implied is not NOT_IMPLIED:
      meaning += f" A saved config without it means {_cell(key.implied)}."
    rows.append(f"| `{key.name}` | {type_name(key)} | {_cell(key.default)} "
                f"| {allowed(key)} | {change} | {meaning} |")
  rules = [f.__doc__.strip() for f in (getattr(module, "check", None),
                                       getattr(module, "check_training", None))
           if f is not None and f.__doc__]
  return "\n".join(rows + [""] + [" ".join(r.split()) + "\n" for r in rules])


def _summary(module: ModuleType) -> str:
  """The first paragraph of a module's docstring, on one line."""
  return " ".join((module.__doc__ or "").strip().split("\n\n")[0].split())


def reference_markdown() -> str:
  """The config reference (docs/config.md), generated from the key modules."""
  parts = [
      "# Config reference",
      "",
      f"Generated from the schemas by `{REFERENCE_COMMAND}`; do not edit by "
      "hand. A config is one flat JSON object: a preset "
      "(`<family>/configs/*.json`), a JSON file given to `--config`, "
      "`--set=key=value` overrides, or a model directory's `config.json`. "
      "Keys a config does not set take their default; an unknown key, a "
      "value of the wrong type (`true` is not `1`; an integer is accepted "
      "for a number), out of range or not one of the choices is refused "
      "before any work starts.",
      "",
      "*May change* says how a key may differ between runs of one model: "
      "*resume* when re-running a training command in the same "
      "`--model_dir`, *fine-tune* also for a new run started with "
      "`--init_from`, *fine-tune: add* a fine-tuned model may switch the "
      "input on, *never* the model and the codes it reads.",
      "",
  ]
  common = importlib.import_module(COMMON_MODULE)
  parts += [f"## Every config ({common.__name__.replace('.', '/')}.py)", "",
            _summary(common), "",
            _table(common)]
  for family in families():
    module = family_module(family)
    parts += [f"## {family} ({family}/config_schema.py)", "",
              _summary(module), "",
              _table(module)]
  return "\n".join(parts).rstrip("\n") + "\n"


def write_reference(path: str = REFERENCE_PATH) -> None:
  """Writes the config reference (`reference_markdown`) to `path`
  atomically."""
  from common import files  # pylint: disable=g-import-not-at-top
  with files.atomic_path(path) as tmp:
    with open(tmp, "w") as f:
      f.write(reference_markdown())
