"""One face for both model families, for the eval tools.

`load(model_dir)` reads the family from `config.json` and returns a `Loaded`
model with the same methods whatever the family:

- `generate(num_seqs, num_samples, seed, temperature, on_block)`: unconditional
  generation (SampleRNN; WaveNet with `conditioning: none`);
- `continue_from(prime_codes, num_samples, seed)`: continuation of primed
  audio (SampleRNN);
- `reconstruct(codes, seed)`: encode and decode (the WaveNet autoencoder);
- `flops_per_sample()`: arithmetic cost of one generated sample.

`samplernn/` and `wavenet/` never import each other; only `eval/` sees both.
"""

import dataclasses

import numpy as np

from common import checkpoint
from common import config as config_lib

FAMILIES = ("samplernn", "wavenet")


def build_fn(family):
  if family == "samplernn":
    from samplernn import model  # pylint: disable=g-import-not-at-top
  elif family == "wavenet":
    from wavenet import model  # pylint: disable=g-import-not-at-top
  else:
    raise ValueError(f"unknown model family {family!r}")
  return model.build_model


@dataclasses.dataclass
class Loaded:
  """A restored model with family-independent generation methods."""
  name: str
  model_dir: str
  family: str
  model: object
  config: dict
  step: int

  @property
  def sample_rate(self):
    return int(self.config["sample_rate"])

  @property
  def is_autoencoder(self):
    return (self.family == "wavenet" and
            self.config.get("conditioning", "encoder") != "none")

  @property
  def can_generate(self):
    return not self.is_autoencoder

  @property
  def can_continue(self):
    return self.family == "samplernn"

  @property
  def can_reconstruct(self):
    return self.is_autoencoder

  def generate(self, num_seqs, num_samples, seed=0, temperature=1.0,
               on_block=None, embeddings=None):
    """Codes `[num_seqs, num_samples]` (or None with on_block).

    Unconditional, or decoded from `embeddings` `[num_seqs, frames, d]` for
    the autoencoder (zeros when not given: for timing). `on_block(codes)`
    receives int32 `[num_seqs, block]` blocks in order.
    """
    if self.family == "samplernn":
      from samplernn import generate  # pylint: disable=g-import-not-at-top
      return generate.generate(self.model, self.config, num_seqs, num_samples,
                               seed=seed, temperature=temperature,
                               on_block=on_block)
    from wavenet import fastgen  # pylint: disable=g-import-not-at-top
    callback = None if on_block is None else (
        lambda start, codes: on_block(codes))
    if self.is_autoencoder and embeddings is None:
      hop = int(self.config["hop_length"])
      embeddings = np.zeros([num_seqs, -(-num_samples // hop),
                             self.model.embedding_width],
                            np.float32)
    return fastgen.generate(self.model, num_samples,
                            batch_size=None if embeddings is not None
                            else num_seqs, embeddings=embeddings, seed=seed,
                            temperature=temperature, on_block=callback)

  def continue_from(self, prime_codes, num_samples, seed=0, temperature=1.0):
    """Continues int32 `[batch, prime]` codes by `num_samples` (SampleRNN)."""
    from samplernn import generate  # pylint: disable=g-import-not-at-top
    prime_codes = np.asarray(prime_codes, np.int32)
    return generate.generate(self.model, self.config, prime_codes.shape[0],
                             num_samples, seed=seed, temperature=temperature,
                             prime_codes=prime_codes)

  def reconstruct(self, codes, seed=0, temperature=1.0):
    """Encodes int32 `[batch, samples]` and decodes the same length."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    from wavenet import fastgen  # pylint: disable=g-import-not-at-top
    codes = np.asarray(codes, np.int32)
    embeddings = self.model.encode(tf.constant(codes))
    return fastgen.generate(self.model, codes.shape[1],
                            embeddings=embeddings, seed=seed,
                            temperature=temperature)

  def flops_per_sample(self):
    if self.family == "samplernn":
      from samplernn import generate  # pylint: disable=g-import-not-at-top
      return generate.flops_per_sample(self.config)
    from wavenet import fastgen  # pylint: disable=g-import-not-at-top
    return fastgen.flops_per_sample(self.config)


def load(model_dir, name=None, which="best"):
  """Restores any model directory (trained or pretrained) as `Loaded`."""
  family = config_lib.load_saved(model_dir).get("family")
  if family not in FAMILIES:
    raise ValueError(f"{model_dir}: config.json names no known family "
                     f"({family!r})")
  model, config, step = checkpoint.load_model(model_dir, build_fn(family),
                                              which)
  return Loaded(name or model_dir, model_dir, family, model, config, step)
