"""A model as the eval tools see it: restored weights, its generator, its cost.

`load(model_dir)` restores any model directory (trained or pretrained) of
any family (`common.family`) as a `LoadedModel`. All its audio is made by
the family's generator through `common.generator`, with the seeding rule
of every tool (sequence `i` of a call with `seed=s` has the seed `s + i`):

- `generation_request`: unconditional generation (`can_generate`);
- `continuation_request`: continuation of primed codes (`can_continue`);
- `reconstruction_request`: encode and decode (`can_reconstruct`: an
  autoencoder);

each run with `common.generator.stream` or `generate` (`generate` and
`reconstruct` here do that).

What a model can do is read from its generator, not from its family's name.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from common import checkpoint
from common import config as config_lib
from common import family as family_lib
from common import generator as generator_lib
from common import model_api


@dataclasses.dataclass
class LoadedModel:
  """A restored model with the generator that makes its audio.

  Attributes:
    name: what the reports call it.
    model_dir: where it was loaded from ("" for a freshly built model).
    family: its family plug-in.
    model: the Keras model.
    config: its config.
    step: the checkpoint's training step.
    generator: the family's generator of `model`.
  """
  name: str
  model_dir: str
  family: family_lib.Family
  model: Any
  config: dict
  step: int
  generator: generator_lib.Generator

  @property
  def sample_rate(self) -> int:
    return int(self.generator.sample_rate)

  @property
  def can_generate(self) -> bool:
    """Unconditional generation (no embeddings needed)."""
    return not self.generator.conditioned

  @property
  def can_continue(self) -> bool:
    return bool(self.generator.can_prime)

  @property
  def can_reconstruct(self) -> bool:
    """An autoencoder: its generator decodes embeddings of its encoder."""
    return self.generator.conditioned

  @property
  def description(self) -> str:
    """One line: family, kind, step."""
    kind = " autoencoder" if self.generator.conditioned else ""
    return f"{self.family.name}{kind}, step {self.step}"

  def generation_request(self, num_seqs: int, seed: int = 0,
                         temperature: float = 1.0) -> generator_lib.Request:
    """The request of `num_seqs` unconditional sequences."""
    return generator_lib.Request.make(num_seqs, seed, temperature)

  def continuation_request(self, prime_codes: np.ndarray, seed: int = 0,
                           temperature: float = 1.0
                           ) -> generator_lib.Request:
    """The request continuing int32 `[batch, prime]` codes."""
    return generator_lib.Request.make(seed=seed, temperature=temperature,
                                      prime_codes=prime_codes)

  def reconstruction_request(self, codes: np.ndarray, seed: int = 0,
                             temperature: float = 1.0
                             ) -> generator_lib.Request:
    """The request decoding the embeddings of int32 `[batch, samples]`."""
    codes = np.asarray(codes, np.int32)
    return generator_lib.Request.make(
        seed=seed, temperature=temperature,
        embeddings=self.generator.encode(codes))

  def generate(self, num_seqs: int, num_samples: int, seed: int = 0,
               temperature: float = 1.0) -> np.ndarray:
    """Unconditional codes, int32 `[num_seqs, num_samples]`."""
    return generator_lib.generate(
        self.generator, self.generation_request(num_seqs, seed, temperature),
        num_samples)

  def reconstruct(self, codes: np.ndarray, seed: int = 0,
                  temperature: float = 1.0) -> np.ndarray:
    """Encodes int32 `[batch, samples]` and decodes as many samples."""
    codes = np.asarray(codes, np.int32)
    return generator_lib.generate(
        self.generator, self.reconstruction_request(codes, seed, temperature),
        codes.shape[1])

  def flops_per_sample(self) -> float:
    """Matmul FLOPs of one generated sample per sequence."""
    return float(self.family.flops_per_sample(self.config))


def from_model(model: Any, config: dict, name: str, model_dir: str = "",
               step: int = 0) -> LoadedModel:
  """A `LoadedModel` of a built model (e.g. random weights, for timing)."""
  family = family_lib.of_config(config)
  return LoadedModel(name, model_dir, family, model, config, step,
                     family.generator(model, config))


def build_random(family_name: str, preset: str,
                 sample_rate: int = 16000) -> LoadedModel:
  """A randomly initialised model of a family's preset (speed does not
  depend on the weights)."""
  config = config_lib.load(family_name, preset)
  config["sample_rate"] = config.get("sample_rate") or sample_rate
  family = family_lib.get(family_name)
  model = model_api.build(family.build_model(config))
  return from_model(model, config, f"{family_name}:{preset}")


def load(model_dir: str, name: str | None = None,
         which: str = "best") -> LoadedModel:
  """Restores any model directory (trained or pretrained).

  Raises:
    FileNotFoundError, config.ConfigError, checkpoint.CheckpointError: see
      `common.checkpoint.load`.
  """
  family = family_lib.of_config(config_lib.load_saved(model_dir))
  loaded = checkpoint.load(model_dir, family.build_model, which)
  return from_model(loaded.model, loaded.config, name or model_dir,
                    model_dir, loaded.step)
