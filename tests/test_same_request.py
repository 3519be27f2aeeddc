"""One request, the same audio in every tool.

The same model, conditioning, seed and temperature go through each tool that
makes audio (`samplernn.generate`'s library, `wavenet.synthesize`'s,
`eval`'s generations and reconstructions, the TensorBoard audio summaries;
the latent tools and the instrument are checked the same way in their own
test files), each at another place in another batch and block size, and
must give the codes `common.generator.generate` gives for that one sequence
alone. Written wavs are compared as codes: the companded levels lie several
16-bit steps apart, so a 16-bit file gives its codes back exactly.
"""

import gc
import json
import os
import weakref

import keras
import numpy as np
import pytest
import tensorflow as tf

from common import audio
from common import config as config_lib
from common import family as family_lib
from common import generation
from common import generator as generator_lib
from common import model_api
from common import quantization
from common import train_summaries
from eval import models as models_lib
from wavenet import synthesis

SEED, NUM_SAMPLES = 5, 256


def _model_dir(tmp_path, family, preset, overrides=None):
  """A randomly initialised model saved as a model directory."""
  keras.utils.set_random_seed(1)
  config = config_lib.load(family, preset, overrides or {})
  config["sample_rate"] = 16000
  model = model_api.build(family_lib.get(family).build_model(config))
  model_dir = tmp_path / family
  config_lib.save(config, str(model_dir))
  checkpoint = tf.train.Checkpoint(model=model,
                                   step=tf.Variable(3, dtype=tf.int64))
  tf.train.CheckpointManager(checkpoint, str(model_dir / "checkpoints"),
                             1).save()
  return str(model_dir), model, config


def _alone(model, config, num_samples=NUM_SAMPLES, temperature=1.0,
           **conditioning):
  """The reference: sequence `SEED` generated alone, in one block."""
  gen = family_lib.of_config(config).generator(model, config)
  request = generator_lib.Request.make(num_seqs=1, seed=SEED,
                                       temperature=temperature,
                                       **conditioning)
  return generator_lib.generate(gen, request, num_samples,
                                block_samples=-(-num_samples //
                                                gen.block_multiple) *
                                gen.block_multiple)[0]


def _codes_of(path, config):
  samples = audio.load(path, config["sample_rate"])
  return quantization.encode(samples, config["quantization"],
                             config["q_levels"])


def test_samplernn_tools_give_the_same_codes(tmp_path):
  model_dir, model, config = _model_dir(tmp_path, "samplernn", "tiny")
  reference = _alone(model, config, temperature=0.8)
  assert len(set(reference.tolist())) > 4  # real sampling, not silence

  # samplernn.generate: output 2 of --seed=3 has the seed 5.
  paths = generation.generate_files(
      model_dir, str(tmp_path / "out"), num_seqs=3, seconds=NUM_SAMPLES /
      16000, temperature="1.0,1.0,0.8", seed=SEED - 2, checkpoint="last",
      block_seconds=0.004, progress=False)
  sidecar = json.load(open(os.path.splitext(paths[2])[0] + ".json"))
  assert (sidecar["seed"], sidecar["temperature"]) == (SEED, 0.8)
  np.testing.assert_array_equal(_codes_of(paths[2], config), reference)

  # eval: the second of two generations with seed 4.
  loaded = models_lib.load(model_dir, which="last")
  np.testing.assert_array_equal(
      loaded.generate(2, NUM_SAMPLES, seed=SEED - 1, temperature=0.8)[1],
      reference)

  # TensorBoard: the summary of step 5 is two sequences, seeds 5 and 6.
  gen = family_lib.of_config(config).generator(model, config)
  summary = train_summaries.summary_audio(
      gen, dict(config, audio_summary_seconds=NUM_SAMPLES / 16000),
      np.zeros([2, NUM_SAMPLES], np.int32), SEED)
  np.testing.assert_array_equal(
      quantization.encode(summary[0], config["quantization"],
                          config["q_levels"]),
      _alone(model, config))


@pytest.fixture(scope="module")
def autoencoder(tmp_path_factory):
  return _model_dir(tmp_path_factory.mktemp("ae"), "wavenet", "tiny")


def test_autoencoder_tools_give_the_same_codes(autoencoder, tmp_path):
  model_dir, model, config = autoencoder
  gen = family_lib.of_config(config).generator(model, config)
  rng = np.random.default_rng(0)
  clips = quantization.encode(
      0.5 * np.sin(np.cumsum(rng.uniform(0.05, 0.3, [2, NUM_SAMPLES]), 1)),
      config["quantization"], config["q_levels"]).astype(np.int32)
  embeddings = gen.encode(clips)
  reference = _alone(model, config, embeddings=embeddings[1:])
  assert len(set(reference.tolist())) > 4

  # wavenet.synthesize: the second of two embeddings, --seed=4.
  paths = [str(tmp_path / f"clip{i}.wav") for i in range(2)]
  synthesis.synthesize_embeddings(model, config, list(embeddings), paths,
                                  seed=SEED - 1, batch_size=1,
                                  progress=False)
  np.testing.assert_array_equal(_codes_of(paths[1], config), reference)

  # eval's reconstructions: clip 1 of two, seed 4.
  loaded = models_lib.load(model_dir, which="last")
  np.testing.assert_array_equal(
      loaded.reconstruct(clips, seed=SEED - 1)[1], reference)

  # TensorBoard: step 4 reconstructs crop 1 with the seed 5.
  summary = train_summaries.summary_audio(
      gen, dict(config, audio_summary_seconds=NUM_SAMPLES / 16000), clips,
      SEED - 1)
  np.testing.assert_array_equal(
      quantization.encode(summary[1], config["quantization"],
                          config["q_levels"]), reference)


@pytest.mark.parametrize("family, preset", [("samplernn", "tiny"),
                                            ("wavenet", "tiny")])
def test_a_cached_generator_does_not_keep_its_model_alive(family, preset):
  config = dict(config_lib.load(family, preset), sample_rate=16000)
  model = model_api.build(family_lib.get(family).build_model(config))
  gen = family_lib.get(family).generator(model, config)
  request = generator_lib.Request.make(
      num_seqs=1, embeddings=gen.encode(np.zeros([1, 64], np.int32))
      if gen.conditioned else None)
  generator_lib.generate(gen, request, 64)
  alive = weakref.ref(model)
  del model, gen, request
  gc.collect()
  assert alive() is None
