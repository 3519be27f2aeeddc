"""The SampleRNN family's plug-in (`common.family`): its model, generator
and FLOP model. TensorFlow loads only when a model or generator is made."""

from __future__ import annotations

from typing import Any

from common import family
from common import generator as generator_lib
from samplernn import flops


def build_model(config: dict) -> Any:
  """`samplernn.model.build_model`."""
  from samplernn import model  # pylint: disable=g-import-not-at-top
  return model.build_model(config)


def generator(model: Any, config: dict | None = None
              ) -> generator_lib.Generator:
  """`samplernn.generator.generator`: cached per model (a second call
  re-reads the weights)."""
  # pylint: disable=g-import-not-at-top
  from samplernn import generator as generator_module
  return generator_module.generator(model, config)


FAMILY = family.Family(name="samplernn", build_model=build_model,
                       generator=generator,
                       flops_per_sample=flops.flops_per_sample,
                       step_matmuls=flops.step_matmuls)
