"""The shipped pretrained models and the main job (`make demo`), shortened."""

import json
import os

import numpy as np
import pytest

from common import config as config_lib
from common import files
from common import quantization
from eval import demo
from eval import families
from eval import report

SHIPPED = demo.available_models()


def test_all_three_models_are_shipped():
  assert set(SHIPPED) == set(demo.MODELS)


def test_shipped_weights_are_small():
  total = 0
  for model_dir, _ in SHIPPED.values():
    for root, _, names in os.walk(model_dir):
      total += sum(os.path.getsize(os.path.join(root, n)) for n in names)
  assert total < 40 * 2**20


@pytest.mark.parametrize("name", sorted(demo.MODELS))
def test_model_loads_and_matches_its_data_settings(name):
  model_dir, _ = SHIPPED[name]
  loaded = families.load(model_dir, name)
  settings = files.read_json(os.path.join(model_dir, "data_settings.json"))
  config_lib.check_data_settings(loaded.config, settings, model_dir)
  assert loaded.sample_rate == 16000
  assert loaded.step > 0


@pytest.mark.parametrize("name", ["samplernn", "wavenet_unconditional"])
def test_short_generation_is_not_silent(name):
  # Like the music it learned, a generation may open with a rest (the
  # SampleRNN's sometimes lasts a few seconds), so four 2 s sequences are
  # checked: together they are clearly audible, and so are most of them.
  loaded = families.load(SHIPPED[name][0], name)
  samples = 2 * loaded.sample_rate
  codes = loaded.generate(4, samples, seed=0)
  assert codes.shape == (4, samples)
  audio = quantization.decode(codes, loaded.config["quantization"],
                              loaded.config["q_levels"])
  level_db = lambda x: 20 * np.log10(np.sqrt(np.mean(x**2)) + 1e-12)
  assert level_db(audio) > -40
  assert sum(level_db(seq) > -40 for seq in audio) >= 3


def test_note_clips_are_held_out_from_the_autoencoders_training():
  # The recipe renders its corpus into `notes_wav/`, so prepare keys its
  # files `notes_wav/<name>.wav`; every bundled clip's instrument-pitch must
  # fall in the test split the shipped model's data settings define.
  from common import prepare  # pylint: disable=g-import-not-at-top
  from pretrained.recipes import render_notes  # pylint: disable=g-import-not-at-top
  settings = files.read_json(os.path.join(SHIPPED["wavenet_autoencoder"][0],
                                          "data_settings.json"))
  clips = sorted(n for n in os.listdir(os.path.join(demo.CLIPS, "notes"))
                 if n.endswith(".flac"))
  assert clips == sorted(render_notes.note_filename(*job, ext=".flac")
                         for job in render_notes.CLIP_NOTES)
  splits = {n: prepare.split_of("notes_wav/" + n[:-len(".flac")] + ".wav",
                                settings) for n in clips}
  assert set(splits.values()) == {"test"}, splits


def test_autoencoder_resynthesis_has_expected_length_and_sound():
  from common import audio as audio_io  # pylint: disable=g-import-not-at-top
  loaded = families.load(SHIPPED["wavenet_autoencoder"][0])
  note = os.path.join(demo.CLIPS, "notes", "organ_church_019-060-100.flac")
  x = audio_io.load(note, loaded.sample_rate)[:4096]
  codes = quantization.encode(x, loaded.config["quantization"],
                              loaded.config["q_levels"])[None]
  out = loaded.reconstruct(codes, seed=0)
  assert out.shape == codes.shape
  audio = quantization.decode(out, loaded.config["quantization"],
                              loaded.config["q_levels"])
  assert 20 * np.log10(np.sqrt(np.mean(audio**2)) + 1e-12) > -50


def test_demo_shortened_end_to_end(tmp_path):
  results = demo.run_demo(str(tmp_path / "work"), str(tmp_path / "report"),
                          seconds=1.0, num_seqs=1, clips=1, clip_seconds=1.0,
                          speed_batches=(1,), speed_seconds=0.1,
                          nll_batches=1, with_f0=False, progress=False,
                          log=lambda *_: None)
  report_dir = tmp_path / "report"
  assert report.check_links(str(report_dir)) == []
  metrics = json.load(open(report_dir / "metrics.json"))["metrics"]
  assert set(metrics) == {"real", *demo.MODELS}
  for name in demo.MODELS:
    assert metrics[name]["nll_bits_per_sample"] > 0
  assert results["models"]["samplernn"]["audio"]["generations"]
