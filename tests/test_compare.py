"""eval.compare and eval.speed end to end on two tiny trained models."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from common import config as config_lib
from common import data as data_lib
from common import quantization
from common import trainer
from eval import compare
from eval import families
from eval import report
from eval import speed

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _train(family, preset, data_dir, model_dir, steps=4):
  cfg = config_lib.load(family, preset, dict(
      num_steps=steps, checkpoint_every=steps, validate_every=steps,
      val_batches=1, audio_summary_every=0))
  trainer.train(cfg, data_dir, model_dir, families.build_fn(family),
                progress=False, log=lambda *_: None)
  return model_dir


@pytest.fixture(scope="module")
def tiny_models(prepared_corpus, tmp_path_factory):
  root = tmp_path_factory.mktemp("models")
  return {
      "srnn": _train("samplernn", "tiny", prepared_corpus,
                     str(root / "srnn")),
      "wn_ae": _train("wavenet", "tiny", prepared_corpus, str(root / "ae")),
      "wn_uncond": _train("wavenet", "tiny_unconditional", prepared_corpus,
                          str(root / "uncond")),
  }


@pytest.fixture(scope="module")
def compared(tiny_models, prepared_corpus, tmp_path_factory):
  report_dir = str(tmp_path_factory.mktemp("report"))
  results = compare.compare(
      tiny_models, prepared_corpus, report_dir, seconds=1.2, num_seqs=2,
      clips=2, clip_seconds=1.0, prime_seconds=0.25, speed_batches=(1, 2),
      speed_seconds=0.05, progress=False, log=lambda *_: None)
  return report_dir, results


def test_report_files_exist_and_links_resolve(compared):
  report_dir, _ = compared
  for name in ("index.html", "report.md", "metrics.json"):
    assert os.path.getsize(os.path.join(report_dir, name)) > 0
  assert report.check_links(report_dir) == []
  assert sorted(os.listdir(report_dir)) == [
      "audio", "index.html", "metrics.json", "plots", "report.md",
      "results.json"]


def _test_codes(data_dir):
  return np.concatenate([c for _, c in data_lib.read_files(data_dir, "test")])


def _log2_bin_widths_16bit(kind, q_levels):
  """Each code's bin width in 16-bit steps, counted: the share of a fine
  uniform grid over [-1, 1] (64 points per 16-bit step) that encodes to it.
  Independent of `eval.metrics.bin_widths_16bit`'s closed-form edges; off
  by at most one grid point per edge (1/32 step): measured at most 0.0023
  bits from it on any 8-bit mu-law bin (the narrowest is 5.7 steps)."""
  grid = np.linspace(-1.0, 1.0, 64 * 65536 + 1)
  counts = np.bincount(quantization.encode(grid, kind, q_levels),
                       minlength=q_levels)
  return np.log2(counts / 64.0)


def test_metrics_are_finite_and_match_independent_counts(compared,
                                                         prepared_corpus):
  report_dir, _ = compared
  metrics = json.load(open(os.path.join(report_dir, "metrics.json")))["metrics"]
  assert set(metrics) == {"real", "srnn", "wn_ae", "wn_uncond"}
  test_codes = _test_codes(prepared_corpus)
  cfg = data_lib.manifest(prepared_corpus)["settings"]
  log2_widths = _log2_bin_widths_16bit(cfg["quantization"], cfg["q_levels"])
  # Order-0 entropy of the test codes, counted here.
  counts = np.bincount(test_codes, minlength=cfg["q_levels"])
  p = counts[counts > 0] / test_codes.size
  assert metrics["real"]["order0_entropy_bits"] == pytest.approx(
      -np.sum(p * np.log2(p)), abs=1e-9)
  for name in ("srnn", "wn_ae", "wn_uncond"):
    row = metrics[name]
    # metrics.json writes NaN as null: the always-defined ones are numbers.
    for key in ("nll_bits_per_sample", "nll_nats_per_sample",
                "nll_bits_per_16bit_sample", "order0_entropy_bits",
                "samples_per_second", "flops_per_sample"):
      assert isinstance(row[key], float) and np.isfinite(row[key]), (name,
                                                                     key)
    assert row["order0_entropy_bits"] == metrics["real"]["order0_entropy_bits"]
    # 4 steps from a random start leave logits near 0: a uniform guess, 8
    # bits (measured 8.00-8.06); nats reported as bits would give 5.5.
    assert row["nll_bits_per_sample"] == pytest.approx(8.0, abs=0.25)
    assert row["nll_nats_per_sample"] == pytest.approx(
        row["nll_bits_per_sample"] * np.log(2.0), rel=1e-6)
    assert row["nll_bits_per_16bit_sample"] == pytest.approx(
        row["nll_bits_per_sample"] + np.mean(log2_widths[test_codes]),
        abs=0.01)
  for name in ("srnn", "wn_uncond"):
    assert np.isfinite(metrics[name]["collapse_fraction"])
    assert np.isfinite(metrics[name]["fd_logmel"])
  for key in ("lsd_db", "mstft_sc_db", "f0_rpa"):
    assert key in metrics["wn_ae"]
  assert "continuation_lsd_db" in metrics["srnn"]


def _srnn_with_output_bias(model_dir, bias):
  """The tiny SampleRNN with logits `bias` for every sample."""
  loaded = families.load(model_dir, "known")
  mlp = loaded.model.sample_mlp
  mlp.output_kernel.assign(np.zeros(mlp.output_kernel.shape, np.float32))
  mlp.output_bias.assign(np.full(mlp.output_bias.shape, bias, np.float32))
  return loaded


def test_likelihood_of_a_known_model(tiny_models, prepared_corpus):
  # Uniform logits: exactly log2(256) = 8 bits on any data.
  test_codes = _test_codes(prepared_corpus)
  cfg = data_lib.manifest(prepared_corpus)["settings"]
  uniform = _srnn_with_output_bias(tiny_models["srnn"], 0.0)
  result = compare.likelihood(uniform, prepared_corpus, 0, test_codes)
  assert result["nll_bits_per_sample"] == pytest.approx(8.0, abs=1e-5)
  assert result["nll_nats_per_sample"] == pytest.approx(8.0 * np.log(2.0),
                                                        abs=1e-5)
  log2_widths = _log2_bin_widths_16bit(cfg["quantization"], cfg["q_levels"])
  assert result["nll_bits_per_16bit_sample"] == pytest.approx(
      8.0 + np.mean(log2_widths[test_codes]), abs=0.01)
  # NaN logits: refused, naming the model.
  broken = _srnn_with_output_bias(tiny_models["srnn"], np.nan)
  with pytest.raises(compare.CompareError, match="known.*NLL is nan"):
    compare.likelihood(broken, prepared_corpus, 0, test_codes)


def test_audio_of_every_kind_is_saved(compared):
  report_dir, results = compared
  audio = {n: m.get("audio", {}) for n, m in results["models"].items()}
  assert audio["srnn"]["generations"] and audio["srnn"]["continuations"]
  assert audio["wn_uncond"]["generations"]
  assert audio["wn_ae"]["reconstructions"] and audio["wn_ae"]["originals"]
  assert audio["real"]["clips"]


def test_same_seed_same_numbers(compared, tiny_models, prepared_corpus,
                                tmp_path):
  _, first = compared
  models = {"srnn": tiny_models["srnn"]}
  again = compare.compare(
      models, prepared_corpus, str(tmp_path), seconds=1.2, num_seqs=2,
      clips=2, clip_seconds=1.0, prime_seconds=0.25, speed_batches=(1,),
      speed_seconds=0.05, progress=False, log=lambda *_: None)
  for key in ("nll_bits_per_sample", "fd_logmel", "continuation_lsd_db"):
    assert again["models"]["srnn"]["metrics"][key] == pytest.approx(
        first["models"]["srnn"]["metrics"][key], rel=1e-6), key


def test_existing_report_is_not_overwritten(compared, tiny_models,
                                            prepared_corpus):
  report_dir, _ = compared
  with pytest.raises(FileExistsError):
    compare.compare({"srnn": tiny_models["srnn"]}, prepared_corpus,
                    report_dir, progress=False, log=lambda *_: None)


def test_bad_model_dir_is_one_clear_error(prepared_corpus, tmp_path):
  out = subprocess.run(
      [sys.executable, "-m", "eval.compare", f"--model=x={tmp_path}",
       f"--data_dir={prepared_corpus}", f"--report_dir={tmp_path / 'r'}"],
      capture_output=True, text=True, cwd=ROOT, timeout=300)
  assert out.returncode == 1
  assert out.stderr.strip().splitlines()[-1].startswith("error: ")
  assert str(tmp_path) in out.stderr


def test_speed_sweep_reports_limit(tiny_models):
  loaded = families.load(tiny_models["srnn"])
  rows = speed.sweep(loaded, (1, 2), seconds=0.05, repeats=1,
                     matmul_rate=10.0)
  assert [r["batch_size"] for r in rows] == [1, 2]
  for row in rows:
    assert row["samples_per_second"] > 0
    assert row["limit_samples_per_second"] == pytest.approx(
        10.0e9 / row["flops_per_sample"], rel=1e-3)
    assert row["peak_rss_mb"] > 0
