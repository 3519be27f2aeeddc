"""eval.compare and eval.throughput (eval.speed's library) end to end on two
tiny trained models."""

import copy
import dataclasses
import json
import os
import subprocess
import sys
import threading
import types

import numpy as np
import pytest

from common import config as config_lib
from common import data as data_lib
from common import family as family_lib
from common import quantization
from common import timing
from common import trainer
from eval import comparison
from eval import models as models_lib
from eval import report
from eval import scoring
from eval import throughput

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _train(family, preset, data_dir, model_dir, steps=4):
  cfg = config_lib.load(family, preset, dict(
      num_steps=steps, checkpoint_every=steps, validate_every=steps,
      val_batches=1, audio_summary_every=0))
  trainer.train(cfg, data_dir, model_dir, family_lib.get(family).build_model,
                progress=False, log=lambda *_: None)
  return model_dir


# Short everything; the test files are 1-1.6 s long, scored from 0.25 s.
SETTINGS = comparison.Settings(
    seconds=1.2, num_seqs=2, clips=2, clip_seconds=1.0, prime_seconds=0.25,
    warmup_seconds=0.25, contexts=(0.004, 0.016, None), speed_batches=(1, 2),
    speed_seconds=0.05, progress=False)
WARMUP = 4000  # samples: 0.25 s at 16 kHz


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
  """One comparison, recording each `scoring.score` result as returned and
  every Python thread started meanwhile."""
  report_dir = str(tmp_path_factory.mktemp("report"))
  scored, started = [], []
  score_fn, start_fn = scoring.score, threading.Thread.start

  def recording_score(*args, **kwargs):
    results = score_fn(*args, **kwargs)
    scored.append(copy.deepcopy(results))
    return results

  def recording_start(thread):
    started.append(thread.name)
    start_fn(thread)

  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(scoring, "score", recording_score)
    patch.setattr(threading.Thread, "start", recording_start)
    results = comparison.compare(
        tiny_models, prepared_corpus, report_dir, settings=SETTINGS,
        log=lambda *_: None)
  return types.SimpleNamespace(report_dir=report_dir, results=results,
                               scored=scored, threads_started=started)


def test_report_files_exist_and_links_resolve(compared):
  report_dir = compared.report_dir
  for name in ("index.html", "report.md", "metrics.json"):
    assert os.path.getsize(os.path.join(report_dir, name)) > 0
  assert report.check_links(report_dir) == []
  assert sorted(os.listdir(report_dir)) == [
      "audio", "index.html", "metrics.json", "plots", "report.md",
      "results.json"]


def _test_codes(data_dir):
  """The scored test codes: every test file from the warm-up on."""
  return np.concatenate([c[WARMUP:] for _, c in
                         data_lib.read_files(data_dir, "test")])


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
  report_dir = compared.report_dir
  metrics = json.load(open(os.path.join(report_dir, "metrics.json")))["metrics"]
  assert set(metrics) == {"real", "srnn", "wn_ae", "wn_uncond"}
  test_codes = _test_codes(prepared_corpus)
  cfg = data_lib.manifest(prepared_corpus)["settings"]
  log2_widths = _log2_bin_widths_16bit(cfg["quantization"], cfg["q_levels"])
  # Order-0 entropy of the scored test codes, counted here.
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
  loaded = models_lib.load(model_dir, "known")
  mlp = loaded.model.sample_mlp
  mlp.output_kernel.assign(np.zeros(mlp.output_kernel.shape, np.float32))
  mlp.output_bias.assign(np.full(mlp.output_bias.shape, bias, np.float32))
  return loaded


def test_every_model_is_scored_on_the_same_samples(compared,
                                                  prepared_corpus):
  metrics = json.load(open(os.path.join(compared.report_dir,
                                        "metrics.json")))
  names = ("srnn", "wn_ae", "wn_uncond")
  test = data_lib.read_files(prepared_corpus, "test")
  expected = [dict(key=e["key"], first_sample=WARMUP,
                   samples=len(c) - WARMUP) for e, c in test]
  for name in names:
    row, info = metrics["metrics"][name], metrics["info"][name]["likelihood"]
    assert row["nll_samples"] == sum(len(c) - WARMUP for _, c in test)
    assert row["nll_files"] == len(test)
    assert [{k: f[k] for k in ("key", "first_sample", "samples")}
            for f in info["files"]] == expected
    # Each file's NLL, pooled, is the headline.
    pooled = sum(f["nll_bits"] * f["samples"] for f in info["files"])
    assert pooled / row["nll_samples"] == pytest.approx(
        row["nll_bits_per_sample"], rel=1e-9)
    low, high = row["nll_bits_per_sample_ci"]
    assert low <= row["nll_bits_per_sample"] <= high
    # The curve: the same samples at every context, whole file last.
    assert [p["context_seconds"] for p in info["context"]] == [
        0.004, 0.016, None]
    assert {p["samples"] for p in info["context"]} == {row["nll_samples"]}
    assert info["context"][-1]["nll_bits"] == row["nll_bits_per_sample"]
  assert "same samples" in metrics["settings"]["likelihood_protocol"]


def test_likelihood_of_a_known_model(tiny_models, prepared_corpus):
  # Uniform logits: exactly log2(256) = 8 bits on any data.
  test = data_lib.read_files(prepared_corpus, "test")
  test_codes = _test_codes(prepared_corpus)
  cfg = data_lib.manifest(prepared_corpus)["settings"]
  protocol = comparison.protocol_of(SETTINGS)
  uniform = _srnn_with_output_bias(tiny_models["srnn"], 0.0)
  result = comparison.likelihood(uniform, test, protocol)["metrics"]
  assert result["nll_bits_per_sample"] == pytest.approx(8.0, abs=1e-5)
  assert result["nll_nats_per_sample"] == pytest.approx(8.0 * np.log(2.0),
                                                        abs=1e-5)
  log2_widths = _log2_bin_widths_16bit(cfg["quantization"], cfg["q_levels"])
  assert result["nll_bits_per_16bit_sample"] == pytest.approx(
      8.0 + np.mean(log2_widths[test_codes]), abs=0.01)
  # NaN logits: refused, naming the model.
  broken = _srnn_with_output_bias(tiny_models["srnn"], np.nan)
  with pytest.raises(comparison.CompareError, match="known.*NLL is nan"):
    comparison.likelihood(broken, test, protocol)


def test_audio_of_every_kind_is_saved(compared):
  results = compared.results
  audio = {n: m.get("audio", {}) for n, m in results["models"].items()}
  assert audio["srnn"]["generations"] and audio["srnn"]["continuations"]
  assert audio["wn_uncond"]["generations"]
  assert audio["wn_ae"]["reconstructions"] and audio["wn_ae"]["originals"]
  assert audio["real"]["clips"]


def test_same_seed_same_numbers(compared, tiny_models, prepared_corpus,
                                tmp_path):
  first = compared.results
  models = {"srnn": tiny_models["srnn"]}
  again = comparison.compare(
      models, prepared_corpus, str(tmp_path), settings=dataclasses.replace(
          SETTINGS, speed_batches=(1,)), log=lambda *_: None)
  for key in ("nll_bits_per_sample", "fd_logmel", "continuation_lsd_db"):
    assert again["models"]["srnn"]["metrics"][key] == pytest.approx(
        first["models"]["srnn"]["metrics"][key], rel=1e-6), key


def test_existing_report_is_not_overwritten(compared, tiny_models,
                                            prepared_corpus):
  report_dir = compared.report_dir
  with pytest.raises(FileExistsError):
    comparison.compare({"srnn": tiny_models["srnn"]}, prepared_corpus,
                       report_dir, settings=SETTINGS, log=lambda *_: None)


def test_bad_model_dir_is_one_clear_error(prepared_corpus, tmp_path):
  out = subprocess.run(
      [sys.executable, "-m", "eval.compare", f"--model=x={tmp_path}",
       f"--data_dir={prepared_corpus}", f"--report_dir={tmp_path / 'r'}"],
      capture_output=True, text=True, cwd=ROOT, timeout=300)
  assert out.returncode == 1
  assert out.stderr.strip().splitlines()[-1].startswith("error: ")
  assert str(tmp_path) in out.stderr


def test_generated_audio_of_every_kind_is_scored_in_one_pass(compared):
  # Generations, reconstructions and continuations are all scored by the
  # one `scoring.score` call, from the wav files compare wrote (the files are
  # in the report: score copied them), not in memory beside it.
  assert len(compared.scored) == 1
  [scored] = compared.scored
  srnn = scored["models"]["srnn"]
  assert np.isfinite(srnn["metrics"]["fd_logmel"])  # its generations
  assert np.isfinite(srnn["metrics"]["continuation_lsd_db"])
  assert np.isfinite(scored["models"]["wn_ae"]["metrics"]["lsd_db"])
  for kind in ("continuations", "prompts", "generations"):
    for entry in srnn["audio"][kind]:
      assert os.path.isfile(os.path.join(compared.report_dir,
                                         entry["path"])), entry
  assert (compared.results["models"]["srnn"]["metrics"]
          ["continuation_lsd_db"] == srnn["metrics"]["continuation_lsd_db"])


def test_compare_starts_no_threads(compared):
  # Generation streams through `common.generator.stream`, an iterator.
  assert compared.threads_started == []


def test_speed_sweep_reports_the_families_arithmetic_limit(tiny_models,
                                                           monkeypatch):
  loaded = models_lib.load(tiny_models["srnn"])
  timed = []

  def fake_rate(shapes, batch_size, jit_compile=False, **kwargs):
    timed.append((list(shapes), batch_size, jit_compile))
    return 10.0 if jit_compile else 7.0  # GFLOP/s: the better one counts

  monkeypatch.setattr(timing, "matmul_gflops", fake_rate)
  rows = throughput.sweep(loaded, (1, 2), seconds=0.05, repeats=1)
  shapes = loaded.family.step_matmuls(loaded.config)
  assert timed == [(shapes, b, jit) for b in (1, 2) for jit in (False, True)]
  assert [r["batch_size"] for r in rows] == [1, 2]
  for row in rows:
    assert row["flops_per_sample"] == loaded.family.flops_per_sample(
        loaded.config)
    assert row["samples_per_second"] > 0
    assert row["limit_samples_per_second"] == pytest.approx(
        10.0e9 / row["flops_per_sample"], rel=1e-3)
    assert 0 < row["first_block_seconds"] <= row["seconds"]
    assert row["peak_rss_mb"] > 0


def test_clips_of_a_models_own_corpus_are_named_apart():
  # The originals of every corpus share one folder and are paired with
  # reconstructions by name: two corpora with equal file names must not
  # write to the same original.
  chosen = [({"key": "a/note.wav"}, None), ({"key": "b/note.wav"}, None)]
  main = comparison._clip_stems(chosen, "/data/main", own_corpus=False)
  one = comparison._clip_stems(chosen, "/x/notes", own_corpus=True)
  two = comparison._clip_stems(chosen, "/y/notes", own_corpus=True)
  assert main == ["clip0_note", "clip1_note"]
  assert len(set(main) | set(one) | set(two)) == 6
  assert all(stem.startswith("notes-") for stem in one + two)


def test_each_models_memory_is_its_own_run(compared):
  metrics = compared.results["models"]
  for name in ("srnn", "wn_ae", "wn_uncond"):
    row = metrics[name]["metrics"]
    assert row["peak_rss_mb"] >= row["rss_increase_mb"] >= 0, name
