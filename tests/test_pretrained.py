"""The shipped pretrained models and the main job (`make demo`), shortened."""

import json
import os

import numpy as np
import pytest

from common import config as config_lib
from common import files
from common import quantization
from eval import demo
from eval import models as models_lib
from eval import report

SHIPPED = demo.available_models()
SUITE_MODELS = sorted(run.name for run in demo.load_suite().runs)
CLIPS = os.path.join(demo.ROOT, "pretrained", "clips")


def test_all_three_models_are_shipped():
  assert set(SHIPPED) == set(SUITE_MODELS)


def test_shipped_weights_are_small():
  total = 0
  for model_dir, _ in SHIPPED.values():
    for root, _, names in os.walk(model_dir):
      total += sum(os.path.getsize(os.path.join(root, n)) for n in names)
  assert total < 40 * 2**20


@pytest.mark.parametrize("name", SUITE_MODELS)
def test_model_loads_and_matches_its_data_settings(name):
  model_dir, _ = SHIPPED[name]
  loaded = models_lib.load(model_dir, name)
  settings = files.read_json(os.path.join(model_dir, "data_settings.json"))
  config_lib.check_data_settings(loaded.config, settings, model_dir)
  assert loaded.sample_rate == 16000
  assert loaded.step > 0


@pytest.mark.parametrize("name", ["samplernn", "wavenet_unconditional"])
def test_short_generation_is_not_silent(name):
  # Like the music it learned, a generation may open with a rest (the
  # SampleRNN's sometimes lasts a few seconds), so four 2 s sequences are
  # checked: together they are clearly audible, and so are most of them.
  loaded = models_lib.load(SHIPPED[name][0], name)
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
  from common import corpus  # pylint: disable=g-import-not-at-top
  from pretrained.recipes import notes  # pylint: disable=g-import-not-at-top
  settings = files.read_json(os.path.join(SHIPPED["wavenet_autoencoder"][0],
                                          "data_settings.json"))
  clips = sorted(n for n in os.listdir(os.path.join(CLIPS, "notes"))
                 if n.endswith(".flac"))
  assert clips == sorted(notes.note_filename(*job, ext=".flac")
                         for job in notes.CLIP_NOTES)
  splits = {n: corpus.split_of("notes_wav/" + n[:-len(".flac")] + ".wav",
                               settings) for n in clips}
  assert set(splits.values()) == {"test"}, splits


# Pitch of the shipped autoencoder: two held-out notes (low cello, high
# flute) resynthesised, and one transposed through `wavenet.synthesize`, 1 s
# each (the decoder makes ~1,600 samples/s per sequence). pYIN f0 within 50
# cents (`eval.metrics`, mir_eval's raw pitch accuracy). Measured, 1 s and
# 1.5 s crops, seeds 0 and 1: raw pitch accuracy 1.0 on both notes, and every
# frame of the transposed note voiced within 50 cents of the asked pitch
# (median 10 cents flat); over all 16 bundled notes the worst was 0.06 (a
# trumpet that slipped to a harmonic). 0.9 fails a note that loses its pitch
# for more than 3 of its ~32 frames.
MIN_PITCH_ACCURACY = 0.9


def _live_dir():
  from pretrained import paths  # pylint: disable=g-import-not-at-top
  return paths.path("wavenet_live")


# The shipped autoencoder and its faster `live` cut (10 decoder layers).
@pytest.fixture(scope="module", params=["wavenet_notes", "wavenet_live"])
def autoencoder(request):
  if request.param == "wavenet_live":
    return models_lib.load(_live_dir())
  return models_lib.load(SHIPPED["wavenet_autoencoder"][0])


def test_the_live_model_is_the_shipped_autoencoder_cut_to_6_layers():
  """`pretrained/wavenet_live` was fine-tuned from `wavenet_notes` (the
  `live` preset keeps its first 6 decoder layers): the preset is still a
  valid fine-tune of the shipped model, and the shipped live model reads
  the same corpus settings."""
  from common import fine_tune  # pylint: disable=g-import-not-at-top
  notes_dir = SHIPPED["wavenet_autoencoder"][0]
  settings = files.read_json(os.path.join(notes_dir, "data_settings.json"))
  live = config_lib.with_data_settings(config_lib.load("wavenet", "live"),
                                       settings)
  source = fine_tune.fine_tune_source(live, notes_dir)
  assert (source.config["num_layers"], live["num_layers"]) == (20, 6)
  shipped = models_lib.load(_live_dir())
  assert len(shipped.model.decoder.blocks) == 6
  config_lib.check_data_settings(shipped.config, settings, _live_dir())


def _note(name, loaded, seconds=1.0):
  from common import audio as audio_io  # pylint: disable=g-import-not-at-top
  path = os.path.join(CLIPS, "notes", name + ".flac")
  return audio_io.load(path, loaded.sample_rate)[:int(seconds *
                                                      loaded.sample_rate)]


def test_autoencoder_keeps_the_pitch_of_held_out_notes(autoencoder):
  from eval import metrics  # pylint: disable=g-import-not-at-top
  cfg = autoencoder.config
  notes = np.stack([_note(n, autoencoder) for n in
                    ("cello_042-048-100", "flute_073-078-100")])
  codes = quantization.encode(notes, cfg["quantization"], cfg["q_levels"])
  out = autoencoder.reconstruct(codes, seed=0)
  assert out.shape == codes.shape
  originals, resyntheses = (
      quantization.decode(c, cfg["quantization"], cfg["q_levels"])
      for c in (codes, out))
  for original, resynthesis in zip(originals, resyntheses):
    agreement = metrics.f0_agreement(original, resynthesis,
                                     autoencoder.sample_rate)
    assert agreement["f0_rpa"] >= MIN_PITCH_ACCURACY, agreement


def test_autoencoder_transposes(autoencoder, tmp_path):
  from common import audio as audio_io  # pylint: disable=g-import-not-at-top
  from common import checkpoint  # pylint: disable=g-import-not-at-top
  from eval import metrics  # pylint: disable=g-import-not-at-top
  from wavenet import synthesis  # pylint: disable=g-import-not-at-top
  rate, semitones = autoencoder.sample_rate, 7
  source = str(tmp_path / "guitar_060.wav")
  audio_io.save(source, _note("guitar_nylon_024-060-100", autoencoder), rate)
  [path] = synthesis.synthesize_files(
      autoencoder.model_dir, str(tmp_path / "out"), inputs=source, seed=0,
      transpose=semitones, progress=False, loaded=(
          autoencoder.model, autoencoder.config, autoencoder.step,
          checkpoint.latest(autoencoder.model_dir, "best")))
  f0_hz, voiced = metrics.f0_track(audio_io.load(path, rate), rate)
  asked_hz = 440.0 * 2.0 ** ((60 + semitones - 69) / 12)
  cents = np.abs(1200 * np.log2(f0_hz[voiced] / asked_hz))
  assert np.sum(cents <= 50) / len(f0_hz) >= MIN_PITCH_ACCURACY, cents


def test_demo_shortened_end_to_end(tmp_path):
  results = demo.run_demo(str(tmp_path / "work"), str(tmp_path / "report"),
                          seconds=1.0, num_seqs=1, clips=1, clip_seconds=1.0,
                          speed_batches=(1,), speed_seconds=0.1,
                          score_seconds=0.25, curve_seconds=0.25,
                          contexts=(0.016, None), with_f0=False,
                          progress=False, log=lambda *_: None)
  report_dir = tmp_path / "report"
  assert report.check_links(str(report_dir)) == []
  metrics = json.load(open(report_dir / "metrics.json"))["metrics"]
  assert set(metrics) == {"real", *SUITE_MODELS}
  for name in SUITE_MODELS:
    assert metrics[name]["nll_bits_per_sample"] > 0
  assert results["models"]["samplernn"]["audio"]["generations"]
