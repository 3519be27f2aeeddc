"""eval.compare and eval.speed end to end on two tiny trained models."""

import json
import os
import subprocess
import sys

import pytest

from common import config as config_lib
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


def test_metrics_json_has_every_model_and_metric(compared):
  report_dir, _ = compared
  metrics = json.load(open(os.path.join(report_dir, "metrics.json")))["metrics"]
  assert set(metrics) == {"real", "srnn", "wn_ae", "wn_uncond"}
  for name in ("srnn", "wn_ae", "wn_uncond"):
    row = metrics[name]
    for key in ("nll_bits_per_sample", "nll_bits_per_16bit_sample",
                "samples_per_second", "flops_per_sample"):
      assert isinstance(row[key], float), (name, key, row.get(key))
    assert 0 < row["nll_bits_per_sample"] < 9
    # mu-law bins are at least one 16-bit step wide: 16-bit NLL is larger.
    assert row["nll_bits_per_16bit_sample"] > row["nll_bits_per_sample"]
  for name in ("srnn", "wn_uncond"):
    assert "collapse_fraction" in metrics[name]
    assert "fd_logmel" in metrics[name]
  for key in ("lsd_db", "mstft_sc_db", "f0_rpa"):
    assert key in metrics["wn_ae"]
  assert "continuation_lsd_db" in metrics["srnn"]
  assert metrics["real"]["order0_entropy_bits"] > 0


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
