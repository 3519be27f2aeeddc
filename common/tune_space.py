"""The search space of a hyperparameter search, as data (`common.tuning`).

A space file is one JSON object: config keys of the searched family (every
key of `common/trainer_keys.py` and `<family>/config_schema.py`, see
docs/config.md), each with a distribution:

    {
      "learning_rate": {"type": "float", "low": 0.0003, "high": 0.003,
                        "log": true},
      "dim": {"type": "int", "low": 128, "high": 512, "step": 128},
      "rnn_type": {"type": "categorical", "choices": ["gru", "lstm"]},
      "frame_sizes": {"type": "categorical", "choices": [[16, 64], [8, 32]]}
    }

- `int` (integer keys): whole numbers from `low` to `high`, both included,
  every `step` (default 1), or log-uniform with `"log": true` (no step);
- `float` (number keys): from `low` to `high`, uniform or log-uniform;
- `categorical` (any key): one of `choices`, each a value the key accepts
  (lists too, e.g. frame sizes).

Every value is checked against the schema when the file is read, so a
typo or a value out of range is one line naming the file and the key. The
family and the data settings are not searched (they come from the command
and the corpus); rules across keys (e.g. a window of whole frames) are
checked per trial, and a sampled config that breaks one fails that trial.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from typing import Any

from common import schema
from common import trainer_keys

TYPES = ("int", "float", "categorical")
_FIELDS = {"int": ("type", "low", "high", "step", "log"),
           "float": ("type", "low", "high", "log"),
           "categorical": ("type", "choices")}
# Keys a space may not hold: the command and the corpus set them.
NOT_SEARCHED = ("family",) + trainer_keys.DATA_KEYS


class SpaceError(schema.ConfigError):
  """A space file that cannot be searched (the message names file and key)."""


@dataclasses.dataclass(frozen=True)
class Dimension:
  """One searched key and its distribution.

  Attributes:
    name: the config key.
    type: "int", "float" or "categorical".
    low, high: the range (int, float), both included.
    step: int: the spacing of the values from `low` (None: 1).
    log: int, float: log-uniform.
    choices: categorical: the values, as the config takes them.
  """
  name: str
  type: str
  low: float | None = None
  high: float | None = None
  step: int | None = None
  log: bool = False
  choices: tuple[Any, ...] = ()

  @property
  def lists(self) -> bool:
    """True if the choices are lists (Optuna stores them as JSON text)."""
    return any(isinstance(c, list) for c in self.choices)

  def to_json(self) -> dict[str, Any]:
    """The distribution as in a space file."""
    if self.type == "categorical":
      return dict(type=self.type, choices=list(self.choices))
    out: dict[str, Any] = dict(type=self.type, low=self.low, high=self.high)
    if self.step is not None:
      out["step"] = self.step
    if self.log:
      out["log"] = True
    return out

  def describe(self) -> str:
    """E.g. "float in [0.0003, 0.003], log" or "one of gru, lstm"."""
    if self.type == "categorical":
      return "one of " + ", ".join(json.dumps(c) for c in self.choices)
    text = f"{self.type} in [{self.low!r}, {self.high!r}]"
    if self.step is not None:
      text += f", step {self.step}"
    return text + (", log" if self.log else "")


Space = dict[str, Dimension]


def read(path: str, family: str) -> Space:
  """The space in the JSON file `path`, checked against `family`'s keys.

  Raises:
    SpaceError: "<path>: <key>: <reason>" (one line).
    OSError: the file cannot be read.
  """
  with open(path) as f:
    try:
      data = json.load(f)
    except json.JSONDecodeError as e:
      raise SpaceError(f"{path}: not valid JSON ({e})") from None
  return parse(data, family, path)


def parse(data: Any, family: str, source: str) -> Space:
  """A space from its JSON value (`source` names it in errors)."""
  if not isinstance(data, dict) or not data:
    raise SpaceError(f"{source}: must hold a JSON object of config keys, "
                     f"each with a distribution, got {data!r}")
  known = schema.keys(family)
  space = {}
  for name, spec in data.items():
    if name not in known:
      raise SpaceError(f"{source}: {schema.unknown_key_message(name, known)}")
    if name in NOT_SEARCHED:
      raise SpaceError(f"{source}: {name}: not searched (set by the command "
                       f"or the corpus)")
    try:
      space[name] = dimension(known[name], spec)
    except schema.ConfigError as e:
      raise SpaceError(f"{source}: {e}") from None
  return space


def _allowed_types(key: schema.Key) -> tuple[str, ...]:
  if key.type is int:
    return ("int", "categorical")
  if key.type is float:
    return ("float", "categorical")
  return ("categorical",)


def _check_fields(key: schema.Key, spec: Any) -> str:
  """The distribution's type, after checking its fields are known."""
  if not isinstance(spec, dict) or spec.get("type") not in TYPES:
    raise schema.ConfigError(
        f"{key.name}: expected a distribution {{\"type\": \"int\", "
        f"\"float\" or \"categorical\", ...}}, got {json.dumps(spec)}")
  kind = spec["type"]
  allowed = _allowed_types(key)
  if kind not in allowed:
    raise schema.ConfigError(
        f"{key.name}: a key of type {schema.type_name(key)} takes a "
        f"{' or '.join(allowed)} distribution, got {kind!r}")
  for field in spec:
    if field not in _FIELDS[kind]:
      close = difflib.get_close_matches(field, _FIELDS[kind], n=1)
      hint = (f" (did you mean {close[0]!r}?)" if close else
              f"; a {kind} distribution has {', '.join(_FIELDS[kind])}")
      raise schema.ConfigError(f"{key.name}: unknown field {field!r}{hint}")
  return kind


def dimension(key: schema.Key, spec: Any) -> Dimension:
  """A key's distribution checked against its declaration.

  Raises:
    schema.ConfigError: "<key>: <reason>".
  """
  kind = _check_fields(key, spec)
  if kind == "categorical":
    choices = spec.get("choices")
    if not isinstance(choices, list) or len(choices) < 2:
      raise schema.ConfigError(
          f"{key.name}: choices must be a list of at least two values (fix "
          f"one value with --set instead), got {json.dumps(choices)}")
    checked = [schema.check_value(key, c) for c in choices]
    if len({json.dumps(c) for c in checked}) < len(checked):
      raise schema.ConfigError(f"{key.name}: choices repeat a value: "
                               f"{json.dumps(choices)}")
    return Dimension(key.name, kind, choices=tuple(checked))
  return _range(key, kind, spec)


def _range(key: schema.Key, kind: str, spec: dict) -> Dimension:
  """An int or float range checked against the key's declaration."""
  if "low" not in spec or "high" not in spec:
    raise schema.ConfigError(f"{key.name}: a {kind} distribution needs low "
                             f"and high")
  low = schema.check_value(key, spec["low"])
  high = schema.check_value(key, spec["high"])
  if not low < high:
    raise schema.ConfigError(f"{key.name}: low must be below high, got "
                             f"{low!r} and {high!r}")
  log = spec.get("log", False)
  if not isinstance(log, bool):
    raise schema.ConfigError(f"{key.name}: log must be true or false, got "
                             f"{log!r}")
  if log and low <= 0:
    raise schema.ConfigError(f"{key.name}: a log range needs low > 0, got "
                             f"{low!r}")
  step = spec.get("step")
  if step is not None:
    if isinstance(step, bool) or not isinstance(step, int) or step < 1:
      raise schema.ConfigError(f"{key.name}: step must be a whole number "
                               f">= 1, got {step!r}")
    if log:
      raise schema.ConfigError(f"{key.name}: step and log cannot be "
                               f"combined")
    if (high - low) % step:
      raise schema.ConfigError(f"{key.name}: high - low must be a multiple "
                               f"of step {step}, got {low!r}..{high!r}")
  return Dimension(key.name, kind, low=low, high=high, step=step, log=log)


def to_json(space: Space) -> dict[str, Any]:
  """The space as a space file's JSON value."""
  return {name: dist.to_json() for name, dist in space.items()}


def contains(dist: Dimension, value: Any) -> bool:
  """True if `value` is one the distribution can draw."""
  if dist.type == "categorical":
    return any(json.dumps(value) == json.dumps(c) for c in dist.choices)
  low, high = float(dist.low or 0), float(dist.high or 0)
  if isinstance(value, bool) or not isinstance(value, (int, float)):
    return False
  return low <= value <= high and (dist.step is None or
                                   (value - low) % dist.step == 0)


def fixed_params(space: Space, config: dict) -> dict[str, Any] | None:
  """A config's values of the space's keys as Optuna takes them (to queue
  a trial with them: lists as JSON text), or None if one lies outside."""
  if not all(contains(dist, config[name]) for name, dist in space.items()):
    return None
  return {name: json.dumps(config[name]) if dist.lists else config[name]
          for name, dist in space.items()}


def suggest(trial: Any, space: Space) -> dict[str, Any]:
  """Draws a value of every key of `space` from an `optuna.Trial`; returns
  them as config values (lists for list choices)."""
  params = {}
  for name, dist in space.items():
    if dist.type == "int":
      params[name] = trial.suggest_int(name, int(dist.low or 0),
                                       int(dist.high or 0),
                                       step=dist.step or 1, log=dist.log)
    elif dist.type == "float":
      params[name] = trial.suggest_float(name, float(dist.low or 0),
                                         float(dist.high or 0), log=dist.log)
    elif dist.lists:
      params[name] = json.loads(trial.suggest_categorical(
          name, [json.dumps(c) for c in dist.choices]))
    else:
      params[name] = trial.suggest_categorical(name, list(dist.choices))
  return params
