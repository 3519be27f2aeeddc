"""Model families as plug-ins.

A family is a package (`samplernn`, `wavenet`) with two modules `common/`
imports by name and nothing else:

- `<family>.config_schema`: its config keys and rules, including how they
  may change on resume and fine-tuning and what old configs imply
  (`common.config`);
- `<family>.family`: `FAMILY`, a `Family` naming what else is particular
  to it (below).

`common/` never names a family or one of its keys; a new family is a new
package with these two modules.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Callable

from common import generator as generator_lib
from common import schema


@dataclasses.dataclass(frozen=True)
class Family:
  """What a model family supplies to the shared machinery.

  Attributes:
    name: the package name, also the config's `family` value.
    build_model: `build_model(config) -> keras.Model` (`common.model_api`).
    generator: `generator(model, config) -> common.generator.Generator`,
      cached per model (a second call re-reads the weights).
    flops_per_sample: `flops_per_sample(config) -> float`, matmul FLOPs of
      one generated sample per sequence (what the generator runs).
    step_matmuls: `step_matmuls(config) -> [(rows, cols), ...]`, the matrix
      shapes one generated sample multiplies by (the arithmetic limit of
      `common.timing.arithmetic_limit` is timed on them).
  """
  name: str
  build_model: Callable[[dict], Any]
  generator: Callable[[Any, dict], generator_lib.Generator]
  flops_per_sample: Callable[[dict], float]
  step_matmuls: Callable[[dict], list[tuple[int, int]]]


def get(name: str) -> Family:
  """The family called `name` (its package's `family.FAMILY`).

  Raises:
    schema.ConfigError: no such family.
  """
  try:
    module = importlib.import_module(f"{name}.family")
  except ModuleNotFoundError as e:
    if e.name not in (name, f"{name}.family"):
      raise
    raise schema.ConfigError(f"unknown model family {name!r}") from None
  return module.FAMILY


def of_config(config: dict) -> Family:
  """The family a config names (its `family` key)."""
  return get(str(config["family"]))


def export_module(family: Family) -> Any:
  """The family's export functions: its module `<name>.export`
  (`common.exporting` says what it provides).

  Raises:
    schema.ConfigError: the family has no export module.
  """
  try:
    return importlib.import_module(f"{family.name}.export")
  except ModuleNotFoundError as e:
    if e.name != f"{family.name}.export":
      raise
    raise schema.ConfigError(f"the {family.name} family cannot be "
                             f"exported (no {family.name}.export)") from None
