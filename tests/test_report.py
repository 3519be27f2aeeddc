"""eval/report.py (+ eval/results.py, eval/plots.py, eval/links.py): files
written, metrics.json content, links, best marking, HTML escaping, the log-mel.

`sample_results(audio_dir, report_dir)` builds a synthetic results dict with
every piece the writer handles (real clips, generations, prompts and
continuations, originals and reconstructions, likelihood with its protocol,
context curves and published anchors, speed with arithmetic limits,
coherence plots, a null metric, a missing audio file, a row without audio);
it is also used to render the sample report by hand:

    python -c "import sys; sys.path.insert(0, 'tests'); import test_report; \\
        test_report.render_sample('/tmp/sample_report')"
"""

import html
import json
import os
import re
import shutil
from html.parser import HTMLParser

import librosa
import numpy as np
import pytest

from conftest import tone, write_audio
from eval import anchors
from eval import catalogue
from eval import plots
from eval import report
from eval import results as results_dict

SAMPLE_RATE = 16000
PROTOCOL = ("Every model is scored on the same samples: each test file from "
            "1 s to its end.")
C, F, G, AM = ((261.6, 329.6, 392.0), (349.2, 440.0, 523.3),
               (392.0, 493.9, 587.3), (220.0, 261.6, 329.6))


def _piece(chords, seconds, noise=0.0, seed=0):
  per = seconds / len(chords)
  x = np.concatenate([tone(c, per, SAMPLE_RATE, 0.5) for c in chords])
  if noise:
    x = x + noise * np.random.default_rng(seed).standard_normal(x.size)
  return np.clip(x, -1, 1).astype(np.float32)


def sample_results(audio_dir, report_dir, seconds=4.0):
  """A results dict; audio under report_dir (relative) and audio_dir (abs)."""
  def rel(name, x):
    write_audio(os.path.join(report_dir, "audio", name), x, SAMPLE_RATE)
    return "audio/" + name

  def absolute(name, x):
    return write_audio(os.path.join(audio_dir, name), x, SAMPLE_RATE)

  os.makedirs(os.path.join(report_dir, "audio"), exist_ok=True)
  os.makedirs(audio_dir, exist_ok=True)
  real_a = rel("real a.wav", _piece([C, F, G, C], seconds))  # space: quoting
  real_b = rel("real_b.wav", _piece([AM, F, C, G], seconds))
  prompt = rel("prompt.wav", _piece([C, G], seconds / 2))
  lags = [0.5, 1.0, 2.0, 5.0, 10.0, 20.0]
  contexts = [0.004, 0.016, 0.064, 0.25, 1.0, 4.0, None]
  return {
      "title": "Sample report",
      "created": "2026-01-01T00:00:00+00:00",
      "notes": ["Synthetic numbers for the tests."],
      "settings": {"seed": 0, "seconds": seconds, "sample_rate": SAMPLE_RATE,
                   "prompt_seconds": seconds / 2,
                   "likelihood_protocol": PROTOCOL,
                   **report.environment()},
      "anchors": anchors.rows(),
      "models": {
          "samplernn": {
              "family": "samplernn",
              "description": "3-tier SampleRNN, 256 mu-law levels",
              "info": {"likelihood": {"protocol": PROTOCOL}},
              "metrics": {"nll_bits_per_sample": 4.1,
                          "nll_bits_per_16bit_sample": 11.2,
                          "nll_samples": 96000, "nll_files": 3,
                          "peak_rss_mb": 812.0,
                          "structure_z": 1.2, "collapse_fraction": 0.25,
                          "drift_slope_db_per_min": 3.4,
                          "fd_logmel": 410.0, "fd_mfcc": float("nan"),
                          "samples_per_second": 2.0e4},
              "ci": {"structure_z": [0.4, 2.0],
                     "collapse_fraction": [0.0, 0.5]},
              "audio": {
                  "generations": [
                      absolute("srnn_gen0.wav", _piece([C, AM, F, G],
                                                       seconds, 0.02, 1)),
                      {"path": absolute("srnn_gen1.wav",
                                        _piece([G, C], seconds, 0.05, 2)),
                       "label": "generation 1"},
                  ],
                  "prompts": [prompt],
                  "continuations": [absolute("srnn_cont0.wav", _piece(
                      [C, G, F, C], seconds, 0.02, 3))],
              },
              "plots": {
                  "similarity_vs_lag": {"lags_s": lags, "values": [
                      0.3, 0.1, 0.0, -0.05, None, float("nan")]},
                  "drift": {"times_s": [2.5, 7.5, 12.5, 17.5],
                            "drift_db": [0.0, 1.5, 2.5, 4.0]},
                  "speed": {"batch_sizes": [1, 4, 16],
                            "samples_per_second": [3000, 9000, 20000],
                            "limit_samples_per_second": [None, 6.0e4, 2.0e5],
                            "sample_rate": SAMPLE_RATE},
                  "context": {"context_seconds": contexts,
                              "nll_bits": [5.9, 5.2, 4.8, 4.5, 4.3, 4.2, 4.1],
                              "low": [5.7, 5.0, 4.6, 4.3, 4.1, 4.0, 3.9],
                              "high": [6.1, 5.4, 5.0, 4.7, 4.5, 4.4, 4.3]},
              },
              "notes": ["trained 2k steps"],
          },
          "wavenet": {
              "family": "wavenet",
              "info": {"likelihood": {"protocol": PROTOCOL}},
              "metrics": {"nll_bits_per_sample": 3.6,
                          "nll_bits_per_16bit_sample": 10.9,
                          "nll_samples": 96000, "nll_files": 3,
                          "peak_rss_mb": 640.0,
                          "lsd_db": 9.5, "mstft_sc_db": -6.0, "f0_rpa": None,
                          "structure_z": 0.4, "collapse_fraction": 0.0,
                          "drift_slope_db_per_min": 1.0, "fd_logmel": 380.0,
                          "fd_mfcc": 120.0, "samples_per_second": 900.0},
              "ci": {"lsd_db": [8.0, 11.0], "mstft_sc_db": [-7.0, -5.0]},
              "audio": {
                  "originals": [real_a, real_b],
                  "reconstructions": [
                      absolute("wn_rec_a.wav", _piece([C, F, G, C], seconds,
                                                      0.03, 4)),
                      "audio/does_not_exist.wav"],
                  "prompts": [prompt],
                  "continuations": [absolute("wn_cont0.wav", _piece(
                      [C, G, AM, F], seconds, 0.01, 5))],
              },
              "plots": {
                  "similarity_vs_lag": {"lags_s": lags, "values": [
                      0.2, 0.05, -0.02, -0.04, -0.05, -0.06]},
                  "drift": {"times_s": [2.5, 7.5, 12.5, 17.5],
                            "drift_db": [0.0, 0.8, 1.0, 1.2]},
                  "speed": {"batch_sizes": [1, 4, 16],
                            "samples_per_second": [120, 400, 900],
                            "limit_samples_per_second": [2.0e3, 8.0e3, 3.0e4],
                            "sample_rate": SAMPLE_RATE},
                  # Flat past its receptive field (0.25 s).
                  "context": {"context_seconds": contexts,
                              "nll_bits": [5.0, 4.4, 3.9, 3.6, 3.6, 3.6, 3.6],
                              "low": [4.8, 4.2, 3.7, 3.4, 3.4, 3.4, 3.4],
                              "high": [5.2, 4.6, 4.1, 3.8, 3.8, 3.8, 3.8]},
              },
          },
          "real": {  # Listed last: must be displayed first.
              "family": "real",
              "metrics": {"structure_z": 3.5, "collapse_fraction": 0.0,
                          "drift_slope_db_per_min": 0.2, "fd_logmel": 150.0,
                          "fd_mfcc": 60.0},
              "audio": {"clips": [real_a, real_b]},
              "plots": {"similarity_vs_lag": {"lags_s": lags, "values": [
                  0.5, 0.3, 0.2, 0.25, 0.1, 0.0]},
                        "drift": {"times_s": [2.5, 7.5, 12.5, 17.5],
                                  "drift_db": [0.0, 0.5, 0.6, 0.5]}},
          },
          "empty folder": {"family": "folder", "metrics": {
              "structure_z": None, "collapse_fraction": 1.0}},
      },
      "metric_info": {"custom_score": {"label": "Custom", "unit": "pts",
                                       "better": "higher", "help": "x"}},
  }


def render_sample(report_dir, seconds=12.0):
  """Writes the sample report to report_dir (for looking at it)."""
  report_dir = os.path.abspath(report_dir)
  source = os.path.join(os.path.dirname(report_dir), "sample_audio_src")
  results = sample_results(source, report_dir, seconds)
  return report.write_report(report_dir, results)


class _Parser(HTMLParser):

  def __init__(self):
    super().__init__()
    self.tags = []
    self.text = []

  def handle_starttag(self, tag, attrs):
    self.tags.append((tag, dict(attrs)))

  def handle_data(self, data):
    self.text.append(data)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
  root = tmp_path_factory.mktemp("report")
  report_dir = str(root / "out")
  results = sample_results(str(root / "elsewhere"), report_dir)
  paths = report.write_report(report_dir, results, notes="an extra note")
  with open(paths["index"], encoding="utf-8") as f:
    page = f.read()
  parser = _Parser()
  parser.feed(page)
  return {"dir": report_dir, "paths": paths, "page": page,
          "tags": parser.tags, "results": results}


def test_files_exist(written):
  for name in ("index.html", "metrics.json", "results.json", "report.md",
               "plots/similarity_vs_lag.png", "plots/drift.png",
               "plots/speed.png", "plots/context.png"):
    assert os.path.isfile(os.path.join(written["dir"], name)), name
  assert not [f for f in os.listdir(written["dir"]) if ".tmp" in f]


def _strict_json(path):
  """The JSON in `path`; fails on NaN/Infinity (not JSON, though Python's
  json module reads them)."""
  def refuse(constant):
    raise AssertionError(f"{constant} in {path}")
  with open(path) as f:
    return json.load(f, parse_constant=refuse)


def test_metrics_json_has_every_model_and_metric(written):
  data = _strict_json(os.path.join(written["dir"], "metrics.json"))
  assert set(data["metrics"]) == set(written["results"]["models"])
  for name, model in written["results"]["models"].items():
    for key in model["metrics"]:
      assert key in data["metrics"][name], (name, key)
  assert data["metrics"]["samplernn"]["fd_mfcc"] is None
  assert data["metrics"]["wavenet"]["f0_rpa"] is None
  assert data["metrics"]["samplernn"]["structure_z_ci"] == [0.4, 2.0]
  assert data["metrics"]["wavenet"]["lsd_db"] == 9.5
  assert data["families"]["real"] == "real"
  assert data["versions"]["numpy"] == np.__version__
  assert data["settings"]["seed"] == 0
  assert data["machine"]["cpu_count"] == os.cpu_count()
  assert data["metric_info"]["lsd_db"]["better"] == "lower"
  # results.json re-renders.
  again = _strict_json(os.path.join(written["dir"], "results.json"))
  assert list(again["models"])[0] == "real"


def test_every_link_resolves(written):
  assert report.check_links(written["dir"]) == []
  assert written["paths"]["missing_links"] == []
  srcs = [a.get("src") or a.get("href") for tag, a in written["tags"]
          if tag in ("img", "audio", "source", "a", "link", "script")]
  assert srcs
  for link in srcs:
    assert not re.match(r"^[a-z]+:", link or ""), link  # Nothing external.
  audios = [a for tag, a in written["tags"] if tag == "audio"]
  assert audios and all(a.get("preload") == "none" for a in audios)
  assert all("controls" in a for a in audios)
  images = [a["src"] for tag, a in written["tags"] if tag == "img"]
  assert len(images) >= 9  # 3 plots + one per shown audio file.
  assert not [t for t, _ in written["tags"] if t == "script"]


def test_audio_copied_and_missing_noted(written):
  results = json.load(open(os.path.join(written["dir"], "results.json")))
  gens = results["models"]["samplernn"]["audio"]["generations"]
  assert gens[0]["path"].startswith("audio/samplernn/generations/")
  assert gens[1]["label"] == "generation 1"
  assert any("does_not_exist" in n
             for n in results["models"]["wavenet"]["notes"])
  # Aligned lists stay aligned: the missing reconstruction is a placeholder.
  recon = results["models"]["wavenet"]["audio"]["reconstructions"]
  assert len(recon) == 2 and recon[1]["path"] is None
  assert "real%20a.wav" in written["page"]


def test_rerender_from_results_json(written, tmp_path):
  copy = str(tmp_path / "copy")
  shutil.copytree(written["dir"], copy)
  with open(os.path.join(copy, "results.json")) as f:
    saved = json.load(f)
  paths = report.write_report(copy, saved, max_audio=0)
  assert paths["missing_links"] == []
  with open(paths["results"]) as f:
    again = json.load(f)
  assert again["models"] == saved["models"]


def _row_cells(page, key):
  """Cells of the full-table row whose metric tooltip ends with [key]."""
  match = re.search(r"<tr><td><span class=\"metric\" title=\"[^\"]*\[" +
                    re.escape(key) + r"\]\">.*?</tr>", page)
  assert match, key
  return re.findall(r"<td( class=\"best\")?>(.*?)</td>", match.group(0))[1:]


def test_best_marking_respects_direction(written):
  results = report.normalise(written["results"])
  assert report.best_models(results, "nll_bits_per_sample") == {"wavenet"}
  assert report.best_models(results, "samples_per_second") == {"samplernn"}
  assert report.best_models(results, "fd_logmel") == {"wavenet"}  # not real
  assert report.best_models(results, "structure_z") == {"samplernn"}
  assert report.best_models(results, "collapse_fraction") == {"wavenet"}
  assert report.best_models(results, "drift_slope_db_per_min") == set()
  assert report.best_models(results, "lsd_db") == set()  # one row only
  # In the page: columns are real, samplernn, wavenet, empty folder.
  cells = _row_cells(written["page"], "nll_bits_per_sample")
  assert [bool(best) for best, _ in cells] == [False, False, True, False]
  cells = _row_cells(written["page"], "samples_per_second")
  assert [bool(best) for best, _ in cells] == [False, True, False, False]


def test_null_metrics_render_as_dash(written):
  cells = _row_cells(written["page"], "fd_mfcc")
  assert cells[1][1].startswith("\u2014")  # samplernn: NaN
  cells = _row_cells(written["page"], "f0_rpa")
  assert cells[2][1].startswith("\u2014")  # wavenet: None
  with open(os.path.join(written["dir"], "report.md"), encoding="utf-8") as f:
    markdown = f.read()
  assert "\u2014" in markdown and "**3.60**" in markdown
  assert "an extra note" in markdown and "an extra note" in written["page"]


def test_sections_and_legend(written):
  for section in ("summary", "likelihood", "reconstructions", "generations",
                  "coherence", "speed", "settings"):
    assert f'<section id="{section}">' in written["page"]
  assert "What the metrics mean" in written["page"]
  assert "Custom" in written["page"]  # caller's metric_info is used.


def test_empty_results_and_check_links(tmp_path):
  paths = report.write_report(str(tmp_path / "empty"), {})
  assert paths["missing_links"] == []
  with open(paths["metrics"]) as f:
    assert json.load(f)["metrics"] == {}
  page = tmp_path / "page"
  page.mkdir()
  (page / "index.html").write_text(
      '<a href="#x">a</a><img src="data:image/png;base64,AA">'
      '<img src="gone.png"><a href="https://example.com/">e</a>'
      '<audio src="../outside.wav"></audio>')
  (tmp_path / "outside.wav").write_bytes(b"x")
  assert report.check_links(str(page)) == [
      "gone.png", "https://example.com/", "../outside.wav"]


def test_report_reexports_the_results_dict_api():
  # Callers know these as eval.report.*; they live in eval.results (the
  # results dict), eval.catalogue and eval.links.
  for name in report.__all__:
    assert hasattr(report, name), name
  for name in ("AUDIO_KINDS", "best_models", "environment", "fmt",
               "metrics_json", "normalise", "slug"):
    assert getattr(report, name) is getattr(results_dict, name), name


def test_fmt():
  assert report.fmt(None) == report.fmt(float("nan")) == "\u2014"
  assert report.fmt(12345.6) == "12,346"
  assert report.fmt(0.5) == "0.500"
  assert report.fmt(-6.0) == "-6.00"
  # Counts (ints, e.g. nll_samples, nll_files) stay whole numbers.
  assert report.fmt(3) == "3" and report.fmt(96000) == "96,000"
  row = report.normalise({"models": {"a": {"metrics": {
      "nll_files": 3, "nll_bits_per_sample": np.float32(2.5)}}}})
  assert row["models"]["a"]["metrics"] == {"nll_files": 3,
                                           "nll_bits_per_sample": 2.5}
  assert isinstance(row["models"]["a"]["metrics"]["nll_files"], int)


def test_html_escapes_names_and_text(tmp_path):
  name = '<script>alert("x")</script>'
  results = {
      "title": "A & <i>B</i>", "notes": ["<img src=x onerror=alert(1)>"],
      "settings": {"<k>": "<u>v</u>"},
      "models": {
          name: {"family": "samplernn", "description": "<u>described</u>",
                 "metrics": {"nll_bits_per_sample": 1.0},
                 "notes": ["<u>noted</u>"]},
          "other": {"family": "<u>family</u>",
                    "metrics": {"nll_bits_per_sample": 2.0}}},
      "metric_info": {"nll_bits_per_sample": {"help": 'say "hi" <now>',
                                              "read": "<b>read</b>"}},
  }
  paths = report.write_report(str(tmp_path / "out"), results)
  with open(paths["index"], encoding="utf-8") as f:
    page = f.read()
  parser = _Parser()
  parser.feed(page)
  tags = [tag for tag, _ in parser.tags]
  assert "script" not in tags and "img" not in tags and "u" not in tags
  assert "&lt;script&gt;" in page
  text = "".join(parser.text)
  for shown in (name, "A & <i>B</i>", "<img src=x onerror=alert(1)>",
                "<u>described</u>", "<u>noted</u>", "<u>family</u>", "<k>",
                "<u>v</u>"):
    assert shown in text, shown
  titles = [a["title"] for tag, a in parser.tags
            if tag == "span" and a.get("class") == "metric"]
  assert ('NLL: say "hi" <now> <b>read</b> (lower is better) '
          '[nll_bits_per_sample]') in titles
  assert paths["missing_links"] == []


def test_log_mel_matches_librosa():
  rng = np.random.default_rng(0)
  t = np.arange(int(1.3 * SAMPLE_RATE)) / SAMPLE_RATE
  x = (0.5 * np.sin(2 * np.pi * 440 * t) +
       0.05 * rng.standard_normal(t.size)).astype(np.float32)
  # Blocks of 7 frames (82 frames: 11 full blocks and a partial one) against
  # one librosa call over the whole clip, centred with reflect padding.
  blocked = plots.log_mel_db(x, SAMPLE_RATE, block_frames=7)
  whole = librosa.feature.melspectrogram(
      y=x, sr=SAMPLE_RATE, n_fft=1024, hop_length=256, center=True,
      pad_mode="reflect", n_mels=80, htk=True, norm=None)
  full_scale = (1024 / 4) ** 2  # A unit sine's peak bin, periodic Hann.
  want = librosa.power_to_db(whole / full_scale, ref=1.0, amin=1e-12,
                             top_db=None)
  assert blocked.shape == want.shape == (80, 82)
  # float32 FFTs of the same frames: measured at most 7.6e-6 dB apart.
  np.testing.assert_allclose(blocked, want, rtol=0, atol=1e-4)
  # 0 dB ~ a full-scale sine: its peak band reads -1.1 dB at 1 kHz (its
  # power spreads over a few bins under the triangular filters).
  sine = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
  peak = np.median(plots.log_mel_db(sine, SAMPLE_RATE).max(axis=0))
  assert -3.0 < peak < 0.0


def test_catalogue_rows_are_consistent():
  keys = [row.key for row in catalogue.CATALOGUE]
  assert len(keys) == len(set(keys))
  for row in catalogue.CATALOGUE:
    assert row.group in catalogue.GROUPS, row.key
    assert row.better in ("lower", "higher", None), row.key
    assert row.label and row.text, row.key
  assert set(catalogue.HEADLINE) <= set(keys)
  assert report.metric_info("lsd_db")["short"] == "LSD"
  assert report.metric_info("mcd_db")["short"] == "Mel-cepstral distortion"
  lag = report.metric_info("sim_lag_2.5s")
  assert (lag["label"], lag["group"]) == ("Similarity at 2.5 s", "coherence")
  assert report.metric_info("x", {"x": {"group": "y"}})["group"] == "other"
  assert catalogue.display_order(["b", "sim_lag_10s", "sim_lag_2s", "a",
                                  "lsd_db", "nll_bits_per_sample"]) == [
      "nll_bits_per_sample", "lsd_db", "sim_lag_2s", "sim_lag_10s", "a", "b"]
  # Continuations of reconstruction metrics follow them, in their order.
  assert catalogue.display_order([
      "sim_lag_2s", "continuation_mcd_db", "continuation_lsd_db", "lsd_db",
      "continuation_x"]) == ["lsd_db", "continuation_lsd_db",
                             "continuation_mcd_db", "sim_lag_2s",
                             "continuation_x"]
  cont = report.metric_info("continuation_f0_rpa")
  assert (cont["group"], cont["better"]) == ("continuation", "higher")
  assert report.metric_info("continuation_x")["group"] == "other"


# ----------------------------------------------------------------------------
# Issue 18: published anchors, the context plot, the speed plot's limits and
# real time, how to read each metric, the likelihood protocol.


def _markdown(written):
  with open(os.path.join(written["dir"], "report.md"), encoding="utf-8") as f:
    return f.read()


def _section(page, name):
  return re.search(f'<section id="{name}">(.*?)</section>', page,
                   re.S).group(1)


def test_anchors_are_context_rows_never_best(written):
  likelihood = _section(written["page"], "likelihood")
  markdown = _markdown(written)
  assert anchors.CAVEAT in likelihood and anchors.CAVEAT in markdown
  rows = re.findall(r'<tr class="anchor">(.*?)</tr>', likelihood)
  assert len(rows) == len(anchors.ANCHORS) == 6
  for row, anchor in zip(rows, anchors.ANCHORS):
    assert anchor.model in row and report.fmt(
        anchor.nll_bits_per_sample) in row and "published" in row
    assert "best" not in row and "\u2605" not in row, row
  # 1.076 is below every model's NLL, yet the model columns keep the star.
  cells = _row_cells(written["page"], "nll_bits_per_sample")
  assert [bool(best) for best, _ in cells] == [False, False, True, False]
  for anchor in anchors.ANCHORS:
    text = report.fmt(anchor.nll_bits_per_sample)
    assert f"| {anchor.model} (published) | {text} |" in markdown
    assert f"**{text}**" not in markdown
  data = _strict_json(os.path.join(written["dir"], "metrics.json"))
  assert data["anchors"] == anchors.rows()
  assert {"source", "dataset", "quantization", "model",
          "nll_bits_per_sample", "note"} == set(data["anchors"][0])


def test_no_anchors_unless_given(tmp_path):
  # eval.score's folder reports: no "anchors" key, no anchor rows.
  results = {"models": {"a": {"family": "samplernn",
                              "metrics": {"nll_bits_per_sample": 3.0}}}}
  paths = report.write_report(str(tmp_path / "out"), results)
  with open(paths["index"], encoding="utf-8") as f:
    page = f.read()
  with open(paths["markdown"], encoding="utf-8") as f:
    markdown = f.read()
  assert anchors.CAVEAT not in page and anchors.CAVEAT not in markdown
  assert 'class="anchor"' not in page
  assert _strict_json(paths["metrics"])["anchors"] == []


def test_context_plot_written_only_with_context_data(written, tmp_path):
  assert "plots/context.png" in _section(written["page"], "likelihood")
  assert ("each scored sample sees at least c and less than 2c of the past; "
          "the same samples for every c") in written["page"]
  # No model with plots["context"]: no file, no figure.
  results = {"models": {"a": {"family": "samplernn", "metrics": {
      "nll_bits_per_sample": 3.0}, "plots": {"speed": {
          "batch_sizes": [1, 2], "samples_per_second": [10.0, 20.0]}}}}}
  paths = report.write_report(str(tmp_path / "out"), results)
  assert os.path.isfile(str(tmp_path / "out" / "plots" / "speed.png"))
  assert not os.path.exists(str(tmp_path / "out" / "plots" / "context.png"))
  with open(paths["index"], encoding="utf-8") as f:
    assert "context.png" not in f.read()


def _axes():
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  return Figure().add_subplot(111)


def test_context_plot_puts_whole_file_past_the_longest_context(written):
  models = report.normalise(written["results"])["models"]
  ax = _axes()
  assert plots.draw_context(ax, models)
  labels = list(ax.xaxis.get_major_formatter().seq)
  assert labels == ["4 ms", "16 ms", "64 ms", "250 ms", "1 s", "4 s",
                    "whole"]
  assert ax.get_xscale() == "log"
  whole = 4.0 * plots.WHOLE_FILE_FACTOR
  assert list(ax.xaxis.get_major_locator().locs)[-1] == whole
  lines = {line.get_label(): line for line in ax.get_lines()}
  curve = lines["samplernn"]
  assert list(curve.get_xdata()) == [0.004, 0.016, 0.064, 0.25, 1.0, 4.0]
  assert list(curve.get_ydata()) == [5.9, 5.2, 4.8, 4.5, 4.3, 4.2]
  # The whole-file points: diamonds at `whole`, error bar caps at the
  # interval's ends.
  at_whole = [line for line in ax.get_lines()
              if list(line.get_xdata()) == [whole]]
  assert sorted(line.get_ydata()[0] for line in at_whole
                if line.get_marker() == "D") == [3.6, 4.1]
  assert sorted(line.get_ydata()[0] for line in at_whole
                if line.get_marker() != "D") == [3.4, 3.8, 3.9, 4.3]
  assert len(ax.collections) >= 2  # the shaded 95% bands
  # A model without a whole-file point: no "whole" tick.
  only = {"m": {"family": "wavenet", "plots": {"context": {
      "context_seconds": [0.25, 1.0, None], "nll_bits": [3.0, 2.5, None],
      "low": [None, None, None], "high": [None, None, None]}}}}
  ax = _axes()
  assert plots.draw_context(ax, only)
  assert list(ax.xaxis.get_major_formatter().seq) == [
      "250 ms", "1 s"]
  assert not plots.draw_context(_axes(), {"m": {"family": "x", "plots": {}}})


def test_speed_plot_draws_limits_and_real_time(written):
  models = report.normalise(written["results"])["models"]
  colours = plots.model_colours(models)
  ax = _axes()
  assert plots.draw_speed(ax, models, SAMPLE_RATE)
  dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--"
            and len(line.get_xdata())]
  by_colour = {line.get_color(): line for line in dashed}
  # samplernn's limit at batch 1 is None: drawn from batch 4 on.
  srnn = by_colour[colours["samplernn"]]
  assert list(srnn.get_xdata()) == [4.0, 16.0]
  assert list(srnn.get_ydata()) == [6.0e4, 2.0e5]
  assert list(by_colour[colours["wavenet"]].get_ydata()) == [2e3, 8e3, 3e4]
  labels = [t.get_text() for t in ax.get_legend().get_texts()]
  assert "arithmetic limit" in labels and "real time (b streams)" in labels
  real_time = [line for line in ax.get_lines()
               if line.get_label() == "real time (b streams)"][0]
  assert list(real_time.get_xdata()) == [1.0, 4.0, 16.0]
  assert list(real_time.get_ydata()) == [16000, 64000, 256000]
  assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
  # Two sample rates: a real-time line per rate, each labelled with its rate.
  two = {"a": {"family": "samplernn", "plots": {"speed": {
             "batch_sizes": [1, 2], "samples_per_second": [1e3, 2e3],
             "limit_samples_per_second": [None, None], "sample_rate": 8000}}},
         "b": {"family": "wavenet", "plots": {"speed": {
             "batch_sizes": [1, 2], "samples_per_second": [1e3, 2e3]}}}}
  ax = _axes()
  assert plots.draw_speed(ax, two, SAMPLE_RATE)
  labels = [t.get_text() for t in ax.get_legend().get_texts()]
  assert "real time at 8000 Hz (b streams)" in labels
  assert "real time at 16000 Hz (b streams)" in labels
  assert "arithmetic limit" not in labels  # every limit entry is None


def test_every_metric_says_how_to_read_it_and_shows_its_arrow(tmp_path):
  for key, better in (("nll_samples", None), ("nll_files", None),
                      ("warmup_seconds", None), ("peak_rss_mb", "lower"),
                      ("nll_nats_per_sample", "lower"),
                      ("first_block_seconds", "lower"),
                      ("samples_per_second_one_stream", "higher"),
                      ("continuation_lsd_db", "lower")):
    info = report.metric_info(key)
    assert info["group"] != "other" and info["better"] == better, key
  keys = [row.key for row in catalogue.CATALOGUE] + [
      "continuation_" + row.key for row in catalogue.CATALOGUE
      if row.group == "reconstruction"] + ["sim_lag_5s"]
  for key in keys:
    info = report.metric_info(key)
    assert info["help"] and info["read"], key
    assert info["read"].endswith(".") and info["read"].count(". ") <= 1, key
  results = {"models": {name: {"family": "samplernn", "metrics": {
      key: float(i) for i, key in enumerate(keys)}} for name in ("a", "b")}}
  paths = report.write_report(str(tmp_path / "out"), results)
  with open(paths["index"], encoding="utf-8") as f:
    page = f.read()
  with open(paths["markdown"], encoding="utf-8") as f:
    markdown = f.read()
  for key in keys:
    info = report.metric_info(key)
    arrow = {"lower": " \u2193", "higher": " \u2191"}.get(info["better"], "")
    # Every title of the metric on the page (headline, tables) and in
    # report.md ends with its arrow, and none without a direction has one.
    heads = re.findall(r'<span class="metric" title="[^"]*\[' + re.escape(key)
                       + r'\]">([^<]*)</span>', page)
    heads += re.findall(r"^- \*\*(.*)\*\* \(`" + re.escape(key) + "`\\)",
                        markdown, re.M)
    assert len(heads) >= 3, key
    for head in heads:
      assert head.endswith(arrow), (key, head)
      assert arrow or head[-1] not in "\u2191\u2193", (key, head)
    assert f"(`{key}`): {info['read']}\n" in markdown, key
    assert info["read"] in html.unescape(page), key


def test_protocol_sentence_shown_once(written, tmp_path):
  # Given in the settings and in both rows' info: shown once under the
  # heading (the Settings table lists every setting as well).
  likelihood = _section(written["page"], "likelihood")
  assert likelihood.count(PROTOCOL) == 1
  assert likelihood.index(PROTOCOL) < likelihood.index("<table")
  assert _markdown(written).count(PROTOCOL) == 1
  # Only in the rows' info: still once.
  results = {"models": {name: {
      "family": "samplernn", "info": {"likelihood": {"protocol": PROTOCOL}},
      "metrics": {"nll_bits_per_sample": 3.0}} for name in ("a", "b")}}
  paths = report.write_report(str(tmp_path / "out"), results)
  with open(paths["index"], encoding="utf-8") as f:
    assert f.read().count(PROTOCOL) == 1
  with open(paths["markdown"], encoding="utf-8") as f:
    assert f.read().count(PROTOCOL) == 1
