"""eval.score (the CLI, in a subprocess) and its library eval.scoring, end to
end on tiny synthetic folders.

Folders (16 kHz): real = three 10 s chord progressions with repeats; chords =
two more of the same kind (real-like); noise = white noise (+ one text file
named .wav, which must be skipped with a note); silence = zeros; recon = two
1.5 s files named like the two originals in orig/ (one close, one wrong
chord).
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import tone, write_audio
from eval import report
from eval import scoring

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SR = 16000
C, F, G, AM = ((261.6, 329.6, 392.0), (349.2, 440.0, 523.3),
               (392.0, 493.9, 587.3), (220.0, 261.6, 329.6))


def _piece(chords, seconds):
  per = seconds / len(chords)
  return np.concatenate([tone(c, per, SR, 0.5) for c in chords])


def _make_folders(root):
  def put(folder, name, x):
    os.makedirs(os.path.join(root, folder), exist_ok=True)
    write_audio(os.path.join(root, folder, name), np.asarray(x, np.float32),
                SR)

  put("real", "a.wav", _piece([C, F, G, C] * 2, 10.0))
  put("real", "b.wav", _piece([AM, F, C, G] * 2, 10.0))
  put("real", "c.wav", _piece([C, AM, F, G] * 2, 8.0))
  put("chords", "x.wav", _piece([F, G, C, AM] * 2, 10.0))
  put("chords", "y.wav", _piece([G, C, F, C] * 2, 8.0))
  rng = np.random.default_rng(0)
  put("noise", "n1.wav", 0.2 * rng.standard_normal(8 * SR))
  put("noise", "n2.wav", 0.2 * rng.standard_normal(6 * SR))
  with open(os.path.join(root, "noise", "broken.wav"), "w") as f:
    f.write("not audio\n" * 50)
  put("silence", "s.wav", np.zeros(6 * SR))
  put("orig", "p.wav", _piece([C, G], 1.5))
  put("orig", "q.wav", _piece([F, AM], 1.5))
  put("recon", "p.wav", _piece([C, G], 1.5)
      + 0.003 * rng.standard_normal(int(1.5 * SR)))
  put("recon", "q.wav", _piece([F, C], 1.5))


def _cli(*args):
  return subprocess.run([sys.executable, "-m", "eval.score", *args],
                        cwd=ROOT, capture_output=True, text=True, timeout=300,
                        env={**os.environ, "PYTHONPATH": ROOT})


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
  root = str(tmp_path_factory.mktemp("score"))
  _make_folders(root)
  out = os.path.join(root, "report")
  d = lambda name: os.path.join(root, name)
  args = [f"--real={d('real')}", f"--generated=chords={d('chords')}",
          f"--generated=noise={d('noise')}",
          f"--generated=silence={d('silence')}",
          f"--generated=recon={d('recon')}",
          f"--reconstructions_of={d('orig')}", f"--report_dir={out}",
          "--max_audio=1", "--seed=0"]
  run = _cli(*args)
  assert run.returncode == 0, run.stderr[-3000:]
  with open(os.path.join(out, "metrics.json")) as f:
    metrics = json.load(f)
  return {"root": root, "out": out, "args": args, "run": run,
          "metrics": metrics}


def test_metrics_json_has_every_folder(scored):
  data = scored["metrics"]
  assert list(data["metrics"]) == ["real", "chords", "noise", "silence",
                                   "recon"]
  assert data["families"]["real"] == "real"
  assert data["families"]["noise"] == "folder"
  for name, row in data["metrics"].items():
    for key in ("structure_z", "collapse_fraction", "fd_logmel", "fd_mfcc",
                "drift_slope_db_per_min", "sim_lag_0.5s"):
      assert key in row, (name, key)
  assert data["settings"]["sample_rate"] == SR
  assert data["versions"]["numpy"] == np.__version__
  assert data["info"]["noise"]["num_files"] == 2
  assert data["info"]["noise"]["skipped_files"] == 1
  assert any("broken.wav" in n for n in data["notes"])
  assert "broken.wav" in scored["run"].stderr


def test_collapse_separates_noise_from_music(scored):
  m = scored["metrics"]["metrics"]
  assert m["real"]["collapse_fraction"] == 0.0
  assert m["chords"]["collapse_fraction"] == 0.0
  assert m["noise"]["collapse_fraction"] == 1.0
  assert m["silence"]["collapse_fraction"] == 1.0
  # Real-like audio is far closer to the real folder than noise is.
  assert m["chords"]["fd_logmel"] < m["noise"]["fd_logmel"] / 10
  assert m["chords"]["drift_mean_vs_reference_db"] < (
      m["noise"]["drift_mean_vs_reference_db"])
  # Structure z exists for the 10 s music clips, with a CI.
  assert m["real"]["structure_z"] is not None
  assert len(m["real"]["structure_z_ci"]) == 2
  assert m["silence"]["structure_z"] is None


def test_reconstructions_paired_by_name(scored):
  m = scored["metrics"]["metrics"]
  recon = m["recon"]
  for key in ("lsd_db", "mstft_sc_db", "f0_rpa", "snr_db"):
    assert recon[key] is not None, key
  assert len(recon["lsd_db_ci"]) == 2
  assert "lsd_db" not in m["chords"]  # No matching names.
  results = json.load(open(os.path.join(scored["out"], "results.json")))
  audio = results["models"]["recon"]["audio"]
  assert [e["label"] for e in audio["originals"]] == ["p.wav", "q.wav"]
  assert [e["label"] for e in audio["reconstructions"]] == ["p.wav", "q.wav"]


def test_report_is_self_contained(scored):
  out = scored["out"]
  for name in ("index.html", "report.md", "results.json"):
    assert os.path.isfile(os.path.join(out, name))
  assert report.check_links(out) == []
  # Every scored file was copied, shown or not.
  copied = [os.path.join(dp, f) for dp, _, fs in
            os.walk(os.path.join(out, "audio")) for f in fs]
  assert len(copied) == 3 + 2 + 2 + 1 + 2 + 2
  assert "report:" in scored["run"].stdout


def test_refuses_to_overwrite(scored):
  run = _cli(*scored["args"])
  assert run.returncode == 1
  lines = [l for l in run.stderr.splitlines() if l.strip()]
  assert len(lines) == 1 and "--overwrite" in lines[0], run.stderr


def test_overwrite_clears_only_report_files(tmp_path):
  out = tmp_path / "out"
  (out / "audio" / "old").mkdir(parents=True)
  (out / "audio" / "old" / "x.wav").write_bytes(b"x")
  (out / "metrics.json").write_text("{}")
  (out / "keep.txt").write_text("mine")
  with pytest.raises(FileExistsError):
    scoring.check_report_dir(str(out), overwrite=False)
  scoring.check_report_dir(str(out), overwrite=True)
  assert sorted(os.listdir(out)) == ["keep.txt"]


def test_overwrite_deletes_nothing_in_a_folder_without_a_report(tmp_path):
  out = tmp_path / "mine"
  (out / "audio").mkdir(parents=True)
  (out / "audio" / "take1.wav").write_bytes(b"x")
  with pytest.raises(scoring.ScoreError, match="holds no report"):
    scoring.check_report_dir(str(out), overwrite=True)
  assert (out / "audio" / "take1.wav").read_bytes() == b"x"


def test_bad_arguments(tmp_path):
  assert scoring.parse_generated(["a=/x", "/y/b"]) == {"a": "/x", "b": "/y/b"}
  for bad in (["=x"], ["a=/x", "a=/y"], ["real=/x"]):
    with pytest.raises(scoring.ScoreError):
      scoring.parse_generated(bad)
  run = _cli(f"--real={tmp_path}/missing", f"--generated=a={tmp_path}",
             f"--report_dir={tmp_path}/out")
  assert run.returncode == 1
  assert run.stderr.strip().count("\n") == 0 and "missing" in run.stderr


def test_help():
  run = _cli("--help")
  assert run.returncode in (0, 1)  # absl exits 1 after --help.
  assert "--generated" in run.stdout and "--reconstructions_of" in run.stdout
