"""Named benchmarks (`eval.suite`): suite files, `eval.compare --suite`, and
the demo as a suite file. Parsing and expansion are tested against a
recording stand-in for `comparison.compare`; one tiny suite runs end to
end."""

import configparser
import fnmatch
import json
import os

import pytest
from absl import flags

from common import cli
from common import data as data_lib
from common import files
from conftest import ROOT, tone, write_audio
from eval import compare
from eval import comparison
from eval import demo
from eval import suite
from test_compare import _train  # pylint: disable=g-bad-import-order


def _suite_dict():
  """Three models on two prepared corpora; `ae` runs on both."""
  return {
      "title": "a bench",
      "corpora": {"mine": {"data_dir": "data/mine"},
                  "notes": {"data_dir": "/abs/notes"}},
      "models": {"srnn": "runs/srnn", "wn": "runs/wn", "ae": "~/runs/ae"},
      "runs": [{"models": ["srnn", "wn"], "corpora": ["mine"]},
               {"models": ["ae"], "corpora": ["mine", "notes"]}],
      "settings": {"seconds": 3, "contexts": [0.5, None],
                   "curve_seconds": None, "speed_batches": [1, 2],
                   "with_f0": False},
  }


def _write(path, data):
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(json.dumps(data))
  return str(path)


@pytest.fixture
def recorded(monkeypatch):
  """Calls of `comparison.compare` (recorded, not run): their arguments."""
  calls = []

  def record(models, data_dir, report_dir, **kwargs):
    calls.append(dict(models=dict(models), data_dir=data_dir,
                      report_dir=report_dir, **kwargs))
    return {"models": {}}

  monkeypatch.setattr(comparison, "compare", record)
  return calls


def test_runs_become_rows_with_paths_from_the_suite_folder(
    tmp_path, monkeypatch, recorded):
  _write(tmp_path / "bench" / "suite.json", _suite_dict())
  monkeypatch.chdir(tmp_path)  # not the suite's folder
  bench = str(tmp_path / "bench")
  loaded = suite.load("bench/suite.json")
  assert [(r.name, r.model, r.corpus) for r in loaded.runs] == [
      ("srnn", "srnn", "mine"), ("wn", "wn", "mine"),
      ("ae@mine", "ae", "mine"), ("ae@notes", "ae", "notes")]
  suite.run(loaded, str(tmp_path / "report"), log=lambda *_: None)
  [call] = recorded
  assert call["models"] == {
      "srnn": os.path.join(bench, "runs", "srnn"),
      "wn": os.path.join(bench, "runs", "wn"),
      "ae@mine": os.path.expanduser("~/runs/ae"),
      "ae@notes": os.path.expanduser("~/runs/ae")}
  # The first corpus gives the real row; a model on another is scored there.
  assert call["data_dir"] == os.path.join(bench, "data", "mine")
  assert call["model_data"] == {"ae@notes": "/abs/notes"}
  assert call["title"] == "a bench"
  assert call["overwrite"] is False
  assert call["settings"] == comparison.Settings(
      seconds=3.0, contexts=(0.5, None), curve_seconds=None,
      speed_batches=(1, 2), with_f0=False)
  assert isinstance(call["settings"].seconds, float)


def test_overrides_replace_the_suites_settings(tmp_path, recorded):
  loaded = suite.parse(_suite_dict(), str(tmp_path / "s.json"))
  suite.run(loaded, str(tmp_path / "report"), overrides=dict(
      seconds=7.5, curve_seconds=2.0), title="other", log=lambda *_: None)
  [call] = recorded
  assert call["settings"] == comparison.Settings(
      seconds=7.5, contexts=(0.5, None), curve_seconds=2.0,
      speed_batches=(1, 2), with_f0=False)
  assert call["title"] == "other"


def test_without_runs_every_model_runs_on_every_corpus(tmp_path):
  data = _suite_dict()
  del data["runs"], data["settings"]
  loaded = suite.parse(data, str(tmp_path / "s.json"))
  assert [r.name for r in loaded.runs] == [
      "srnn@mine", "srnn@notes", "wn@mine", "wn@notes", "ae@mine",
      "ae@notes"]
  assert loaded.settings == comparison.Settings()


def _set(keys, value):
  def change(data):
    *parents, last = keys
    for key in parents:
      data = data[key]
    data[last] = value
  return change


def _drop(*keys):
  def change(data):
    *parents, last = keys
    for key in parents:
      data = data[key]
    del data[last]
  return change


@pytest.mark.parametrize("change, message", [
    (_set(["setings"], {}), "s.json: unknown key 'setings' (did you mean "
     "'settings'?)"),
    (_drop("corpora"), "s.json: lacks the key 'corpora'"),
    (_set(["settings", "nll_batches"], 1), "s.json: settings: unknown key "
     "'nll_batches'"),
    (_set(["settings", "seconds"], "12"), "s.json: settings.seconds: must be "
     "a number, got '12'"),
    (_set(["settings", "with_f0"], 1), "s.json: settings.with_f0: must be "
     "true or false, got 1"),
    (_set(["settings", "num_seqs"], 2.0), "s.json: settings.num_seqs: must "
     "be an integer, got 2.0"),
    (_set(["settings", "contexts"], [0.5, "whole"]), "s.json: "
     "settings.contexts: must be a list, each a number or null, got [0.5, "
     "'whole']"),
    (_set(["settings", "curve_seconds"], [2]), "s.json: "
     "settings.curve_seconds: must be a number or null, got [2]"),
    (_set(["runs", 0, "models"], ["srnn", "wn2"]), "s.json: runs.0.models: "
     "'wn2' is not declared in \"models\""),
    (_set(["runs", 0, "models"], ["srnn"]), "s.json: runs: models wn "
     "declared but in no run"),
    (_set(["runs", 1, "models"], ["ae", "srnn"]), "s.json: runs.1: runs "
     "'srnn' on 'mine' a second time"),
    (_set(["runs", 0, "corpora"], []), "s.json: runs.0.corpora: is empty"),
    (_set(["runs", 0, "model"], ["srnn"]), "s.json: runs.0: unknown key "
     "'model' (did you mean 'models'?)"),
    (_set(["models", "a@b"], "x"), "s.json: models: 'a@b' is not a name"),
    (_set(["models", "real"], "x"), "s.json: models: 'real' is not a name"),
    (_set(["models", "wn"], 3), "s.json: models.wn: must be a string, got "
     "3"),
    (_set(["corpora", "mine", "audio"], ["a"]), "s.json: corpora.mine: "
     "needs either \"data_dir\""),
    (_set(["corpora", "notes"], {"audio": ["a"],
                                 "prepare": {"chunk_secs": 1}}),
     "s.json: corpora.notes.prepare: unknown key 'chunk_secs' (did you "
     "mean 'chunk_seconds'?)"),
    (_set(["corpora", "notes"], {"audio": ["a"],
                                 "prepare": {"quantization": "ulaw"}}),
     "s.json: corpora.notes.prepare.quantization: must be one of "),
    (_set(["corpora", "notes"], {"audio": ["a"],
                                 "prepare": {"test_fraction": 2}}),
     "s.json: corpora.notes.prepare.test_fraction: must be in [0, 1], got 2"),
])
def test_a_mistake_is_one_line_naming_the_file_and_key(change, message):
  data = _suite_dict()
  change(data)
  with pytest.raises(suite.SuiteError) as raised:
    suite.parse(data, "s.json")
  assert str(raised.value).startswith(message), str(raised.value)
  assert "\n" not in str(raised.value)


def test_not_json_is_one_line(tmp_path):
  path = tmp_path / "s.json"
  path.write_text('{"corpora": {,}}')
  with pytest.raises(suite.SuiteError, match=f"^{path}: not JSON: "):
    suite.load(str(path))


def _audio_folder(root, name, count=2):
  folder = root / name
  folder.mkdir(parents=True)
  for i in range(count):  # distinct bytes: prepare drops duplicates
    write_audio(folder / f"{name}{i}.wav", tone((220.0 * (i + 1),), 1.5),
                16000, "wav_int16")
  return folder


def test_audio_corpora_are_prepared_in_the_work_dir(tmp_path, recorded):
  _audio_folder(tmp_path / "suite", "clips")
  data = _suite_dict()
  data["corpora"]["notes"] = {"audio": ["clips"], "prepare": {
      "chunk_seconds": 0.5, "val_fraction": 0.0, "test_fraction": 1.0}}
  loaded = suite.parse(data, str(tmp_path / "suite" / "s.json"))
  report_dir = str(tmp_path / "report")
  with pytest.raises(suite.SuiteError, match="corpora.notes is audio to "
                     "prepare: give a work folder for it"):
    suite.run(loaded, report_dir, log=lambda *_: None)
  work = tmp_path / "work"
  suite.run(loaded, report_dir, str(work), log=lambda *_: None)
  prepared = str(work / "corpora" / "notes")
  assert recorded[0]["model_data"] == {"ae@notes": prepared}
  manifest = data_lib.manifest(prepared)
  assert manifest["settings"]["chunk_seconds"] == 0.5
  assert {f["split"] for f in manifest["files"]} == {"test"}
  assert len(manifest["files"]) == 2


def test_a_report_dir_in_use_is_refused_before_preparing(tmp_path, recorded):
  _audio_folder(tmp_path, "clips")
  data = _suite_dict()
  data["corpora"]["notes"] = {"audio": ["clips"]}
  loaded = suite.parse(data, str(tmp_path / "s.json"))
  report_dir = tmp_path / "report"
  report_dir.mkdir()
  (report_dir / "mine.txt").write_text("a user's file")
  with pytest.raises(FileExistsError):
    suite.run(loaded, str(report_dir), str(tmp_path / "work"),
              log=lambda *_: None)
  assert not (tmp_path / "work").exists()
  assert not recorded


# ---------------------------------------------------------------------------
# eval.compare's flags.


def _flags(*argv):
  values = flags.FlagValues()
  compare.define_flags(values)
  values(["eval.compare", *argv])
  return values


def test_compare_runs_a_suite_with_the_flags_given_over_its_settings(
    tmp_path, recorded):
  path = _write(tmp_path / "s.json", _suite_dict())
  report_dir = str(tmp_path / "report")
  compare.compare_from_flags(_flags(
      f"--suite={path}", f"--report_dir={report_dir}", "--seconds=5",
      "--contexts=0.25,whole", "--curve_seconds=0", "--warmup_seconds=0.5"))
  [call] = recorded
  assert call["settings"] == comparison.Settings(
      seconds=5.0, contexts=(0.25, None), curve_seconds=None,
      warmup_seconds=0.5, speed_batches=(1, 2), with_f0=False)
  assert set(call["models"]) == {"srnn", "wn", "ae@mine", "ae@notes"}


def test_compare_without_a_suite_takes_models_and_flag_settings(recorded):
  compare.compare_from_flags(_flags(
      "--model=a=runs/a", "--data_dir=data/x", "--report_dir=r",
      "--curve_seconds=2", "--contexts=0.004,1"))
  [call] = recorded
  assert call["models"] == {"a": "runs/a"}
  assert call["data_dir"] == "data/x"
  assert call["settings"] == comparison.Settings(curve_seconds=2.0,
                                                 contexts=(0.004, 1.0))
  assert _flags("--report_dir=r")["contexts"].value == (
      "0.004,0.016,0.064,0.25,1,4,whole")


@pytest.mark.parametrize("argv, message", [
    (["--suite=s.json", "--model=a=b"], "--suite and --model, --model_data, "
     "--data_dir are exclusive"),
    (["--suite=s.json", "--data_dir=d"], "--suite and --model, "),
    (["--model=a=b"], "--data_dir: required (or --suite)"),
    (["--model=a=b", "--data_dir=d", "--work_dir=w"], "--work_dir: only for "
     "--suite"),
    (["--model=a=b", "--data_dir=d", "--contexts=0,1"], "--contexts=0,1: "
     "expected seconds > 0 or whole"),
    (["--model=a=b", "--data_dir=d", "--contexts=1,all"], "--contexts=1,all"),
    (["--model=a=b", "--data_dir=d", "--curve_seconds=-1"],
     "--curve_seconds=-1.0: expected seconds >= 0"),
])
def test_compare_flag_mistakes_are_flag_errors(argv, message, recorded):
  with pytest.raises(cli.FlagError) as raised:
    compare.compare_from_flags(_flags("--report_dir=r", *argv))
  assert str(raised.value).startswith(message), str(raised.value)
  assert not recorded


def test_nll_batches_is_gone():
  with pytest.raises(flags.UnrecognizedFlagError):
    _flags("--report_dir=r", "--nll_batches=1")


# ---------------------------------------------------------------------------
# The demo: a suite file.


def test_the_demo_is_a_suite_file():
  loaded = demo.load_suite()
  pretrained = os.path.join(ROOT, "pretrained")
  assert [(r.name, r.model_dir, r.corpus) for r in loaded.runs] == [
      ("samplernn", os.path.join(pretrained, "samplernn_bach"), "music"),
      ("wavenet_unconditional", os.path.join(pretrained, "wavenet_bach"),
       "music"),
      ("wavenet_autoencoder", os.path.join(pretrained, "wavenet_notes"),
       "notes")]
  for kind in ("music", "notes"):
    corpus = loaded.corpora[kind]
    assert corpus.audio == (os.path.join(pretrained, "clips", kind),)
    assert corpus.prepare["test_fraction"] == 1.0
  assert loaded.title == demo.TITLE
  s = loaded.settings
  assert (s.seconds, s.warmup_seconds, s.contexts[-1], s.curve_seconds) == (
      12.0, 1.0, None, 0.5)


def test_suite_files_ship_with_the_package():
  parser = configparser.ConfigParser()
  parser.read(os.path.join(ROOT, "setup.cfg"))
  patterns = [p.strip() for p in
              parser["options.package_data"]["eval"].split(",")]
  assert any(fnmatch.fnmatch("suites/demo.json", p) for p in patterns)


def test_demo_leaves_out_missing_models_and_its_flags_replace_settings(
    tmp_path, recorded):
  data = _suite_dict()
  (tmp_path / "runs" / "wn").mkdir(parents=True)
  files.write_json(str(tmp_path / "runs" / "wn" / "config.json"), {})
  _audio_folder(tmp_path, "clips")
  data["corpora"]["notes"] = {"audio": ["clips"], "prepare": {
      "chunk_seconds": 0.5, "test_fraction": 1.0, "val_fraction": 0.0}}
  data["runs"] = [{"models": ["srnn", "ae"], "corpora": ["mine"]},
                  {"models": ["wn"], "corpora": ["notes"]}]
  path = _write(tmp_path / "demo.json", data)
  logged = []
  report_dir = tmp_path / "report"
  demo.run_demo(str(tmp_path / "work"), str(report_dir), log=logged.append,
                suite_path=path, seconds=1.0, num_seqs=1)
  [call] = recorded
  # Only wn is there: its corpus, the second, gives the real row.
  assert call["models"] == {"wn": str(tmp_path / "runs" / "wn")}
  assert call["data_dir"] == str(tmp_path / "work" / "corpora" / "notes")
  assert call["model_data"] == {}
  assert call["settings"] == comparison.Settings(
      seconds=1.0, num_seqs=1, contexts=(0.5, None), curve_seconds=None,
      speed_batches=(1, 2), with_f0=False)
  assert call["overwrite"] is True
  assert any("srnn is left out" in line for line in logged)
  assert any("ae is left out" in line for line in logged)
  assert (report_dir / demo.MARKER).exists()


# ---------------------------------------------------------------------------
# End to end: a tiny suite, one report.


def test_a_tiny_suite_makes_one_report(prepared_corpus, tmp_path):
  _train("samplernn", "tiny", prepared_corpus, str(tmp_path / "srnn"))
  _audio_folder(tmp_path, "clips")
  path = _write(tmp_path / "bench.json", {
      "title": "tiny bench",
      "corpora": {"tones": {"data_dir": prepared_corpus},
                  "clips": {"audio": ["clips"], "prepare": {
                      "chunk_seconds": 0.5, "val_fraction": 0.0,
                      "test_fraction": 1.0}}},
      "models": {"srnn": "srnn"},
      "settings": {"seconds": 1.0, "num_seqs": 1, "clips": 1,
                   "clip_seconds": 1.0, "prime_seconds": 0.25,
                   "warmup_seconds": 0.25, "contexts": [0.004, None],
                   "curve_seconds": 0.25, "speed_batches": [1],
                   "speed_seconds": 0.05, "with_f0": False,
                   "progress": False}})
  report_dir = tmp_path / "report"
  results = suite.run(suite.load(path), str(report_dir),
                      str(tmp_path / "work"), log=lambda *_: None)
  metrics = json.load(open(report_dir / "metrics.json"))
  assert metrics["title"] == "tiny bench"
  assert set(metrics["metrics"]) == {"real", "srnn@tones", "srnn@clips"}
  # The real row is the first corpus's; the model on the clips is scored on
  # them: two 1.5 s files from the 0.25 s warm-up to their end.
  assert prepared_corpus in results["models"]["real"]["description"]
  assert metrics["metrics"]["srnn@clips"]["nll_samples"] == 2 * (24000 - 4000)
  assert results["settings"]["model_data"] == {
      "srnn@clips": str(tmp_path / "work" / "corpora" / "clips")}
  assert results["settings"]["curve_seconds"] == 0.25
