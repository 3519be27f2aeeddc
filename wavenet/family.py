"""The WaveNet family's plug-in (`common.family`): its model, generator and
FLOP model. TensorFlow loads only when a model or generator is made."""

from __future__ import annotations

from typing import Any

from common import family
from common import generator as generator_lib
from wavenet import flops


def build_model(config: dict) -> Any:
  """`wavenet.model.build_model`."""
  from wavenet import model  # pylint: disable=g-import-not-at-top
  return model.build_model(config)


def generator(model: Any, config: dict) -> generator_lib.Generator:
  """`wavenet.fastgen.generator`: cached per model."""
  from wavenet import fastgen  # pylint: disable=g-import-not-at-top
  return fastgen.generator(model, config)


FAMILY = family.Family(name="wavenet", build_model=build_model,
                       generator=generator,
                       flops_per_sample=flops.flops_per_sample,
                       step_matmuls=flops.step_matmuls)
