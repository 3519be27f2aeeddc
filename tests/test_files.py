"""Files and outputs: durable atomic writes, refusing to delete what is not
ours, and the fault matrix rows for streamed generation and the instrument
build (`kill -9`, then the same command again: the outputs of an
uninterrupted run, byte for byte).

The SampleRNN rows use the shipped model (`pretrained/samplernn_bach`) for
0.5 s; the instrument rows the tiny untrained autoencoder and clips of
`test_instrument.py`. A TensorFlow start costs ~5 s, so each killed command
is one subprocess and re-runs run in-process where the subprocess adds
nothing.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

from common import files
from common import generation
from eval import demo
from wavenet import instrument_build
from wavenet import instrument_journal
# The instrument's test model and corner clips (module-scoped fixtures).
from test_instrument import BATCH, GRID, PITCHES, SECONDS  # pylint: disable=g-bad-import-order
from test_instrument import corners, model_dir  # pylint: disable=unused-import,g-bad-import-order

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLERNN = os.path.join(ROOT, "pretrained", "samplernn_bach")
# 0.5 s in blocks of 10 ms: the first block is on disk ~2 s before the end.
GENERATE = dict(num_seqs=2, seconds=0.5, seed=3, temperature="0.9,1.0",
                block_seconds=0.01)
# What TensorFlow prints on a CPU machine at start-up unless quietened.
TF_NOISE = ("cuInit", "cudart_stub", "cuda drivers", "absl::InitializeLog",
            "cpu_feature_guard", "oneDNN", "XLA service", "StreamExecutor")


# ---------------------------------------------------------------------------
# Atomic writes.


def test_atomic_write_is_durable(tmp_path, monkeypatch):
  """fsync of the new file, then the rename, then fsync of its folder."""
  events = []
  real_fsync, real_replace = os.fsync, os.replace

  def fsync(fd):
    events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
    real_fsync(fd)

  def replace(src, dst):
    events.append(("replace", os.path.abspath(src), os.path.abspath(dst)))
    real_replace(src, dst)

  monkeypatch.setattr(os, "fsync", fsync)
  monkeypatch.setattr(os, "replace", replace)
  path = str(tmp_path / "out.json")
  files.write_json(path, {"a": 1})
  assert [e[0] for e in events] == ["fsync", "replace", "fsync"], events
  tmp = events[1][1]
  assert events[0][1] == tmp and events[1][2] == path
  assert events[2][1] == str(tmp_path)
  assert files.read_json(path) == {"a": 1}
  assert os.listdir(tmp_path) == ["out.json"]


def test_stale_temporaries_of_a_path_are_removed(tmp_path):
  keep = ["a.wav", ".a.wav", ".b.abcd1234.tmp.wav", ".a.abcd1234.tmp.json",
          ".a.x.abcd1234.tmp.wav", "mine.txt"]
  stale = [".a.abcd1234.tmp.wav", ".a.k_9z0qwe.tmp.wav"]
  for name in keep + stale:
    (tmp_path / name).write_text("x")
  removed = files.remove_stale_temporaries(str(tmp_path / "a.wav"))
  assert sorted(os.path.basename(p) for p in removed) == sorted(stale)
  assert sorted(os.listdir(tmp_path)) == sorted(keep)
  removed = files.remove_stale_temporaries_in(str(tmp_path))
  assert sorted(os.path.basename(p) for p in removed) == sorted(
      [".b.abcd1234.tmp.wav", ".a.abcd1234.tmp.json",
       ".a.x.abcd1234.tmp.wav"])
  assert sorted(os.listdir(tmp_path)) == [".a.wav", "a.wav", "mine.txt"]


def test_claim_outputs(tmp_path):
  wav, sidecar = str(tmp_path / "x_0.wav"), str(tmp_path / "x_0.json")
  request = dict(seed=1, temperature=0.9)
  outputs = lambda r=request: [(wav, sidecar, r)]
  assert not files.claim_outputs(outputs())  # nothing there yet
  files.write_json(sidecar, dict(request, complete=False))
  (tmp_path / ".x_0.abcd1234.tmp.wav").write_text("partial")
  assert not files.claim_outputs(outputs())  # started, not finished
  assert os.listdir(tmp_path) == ["x_0.json"]  # the partial file is gone
  open(wav, "w").close()
  assert not files.claim_outputs(outputs())  # renamed, sidecar not final
  files.write_json(sidecar, dict(request, complete=True, seconds_taken=2.0))
  assert files.claim_outputs(outputs())  # done: nothing to do
  assert not files.claim_outputs(outputs(), overwrite=True)
  with pytest.raises(FileExistsError, match="x_0.wav"):
    files.claim_outputs(outputs(dict(seed=2, temperature=0.9)))
  os.remove(wav)
  with pytest.raises(FileExistsError, match="x_0.json"):  # not ours either
    files.claim_outputs(outputs(dict(seed=2, temperature=0.9)))


# ---------------------------------------------------------------------------
# Deleting only what is ours: eval.demo's report folder.


def test_demo_refuses_a_folder_that_is_no_earlier_report(tmp_path):
  report = tmp_path / "report"
  (report / "photos").mkdir(parents=True)
  (report / "photos" / "cat.jpg").write_bytes(b"a user's file")
  with pytest.raises(FileExistsError, match="not a report of eval.demo"):
    demo.run_demo(str(tmp_path / "work"), str(report))
  assert (report / "photos" / "cat.jpg").read_bytes() == b"a user's file"
  assert sorted(os.listdir(report)) == ["photos"]
  assert not os.path.exists(tmp_path / "work")  # refused before any work

  fresh = str(tmp_path / "fresh")
  assert not demo.claim_report_dir(fresh, {})  # new: claimed
  (tmp_path / "fresh" / "index.html").write_text("an earlier report")
  assert demo.claim_report_dir(fresh, {})  # its own: claimed again
  legacy = tmp_path / "legacy"  # a report from before demo.json
  legacy.mkdir()
  files.write_json(str(legacy / "metrics.json"), dict(title=demo.TITLE))
  assert demo.claim_report_dir(str(legacy), {})
  assert os.path.exists(legacy / demo.MARKER)


# ---------------------------------------------------------------------------
# Fault matrix: streamed generation (samplernn.generate).


def _generate_args(output_dir):
  return [f"--model_dir={SAMPLERNN}", f"--output_dir={output_dir}",
          f"--num_seqs={GENERATE['num_seqs']}",
          f"--seconds={GENERATE['seconds']}", f"--seed={GENERATE['seed']}",
          f"--temperature={GENERATE['temperature']}",
          f"--block_seconds={GENERATE['block_seconds']}"]


def _listing(directory):
  return sorted(os.path.relpath(os.path.join(root, name), directory)
                for root, _, names in os.walk(directory) for name in names)


def _wait_for(condition, proc, timeout=300):
  """Polls `condition()` every 5 ms; fails if `proc` ends first."""
  deadline = time.time() + timeout
  while not condition():
    assert proc.poll() is None, proc.communicate()[1][-3000:]
    assert time.time() < deadline
    time.sleep(0.005)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
  """An uninterrupted run's output folder."""
  out = str(tmp_path_factory.mktemp("uninterrupted"))
  generation.generate_files(SAMPLERNN, out, progress=False, **GENERATE)
  return out


def _assert_same_generation(out, reference):
  assert _listing(out) == _listing(reference)  # no temporary files left
  for name in _listing(reference):
    if name.endswith(".wav"):
      with open(os.path.join(out, name), "rb") as a, open(
          os.path.join(reference, name), "rb") as b:
        assert a.read() == b.read(), name
    else:
      sidecar = files.read_json(os.path.join(out, name))
      assert sidecar["complete"] is True
      timing = ("seconds_taken", "samples_per_second")
      assert {k: v for k, v in sidecar.items() if k not in timing} == {
          k: v for k, v in files.read_json(os.path.join(reference, name))
          .items() if k not in timing}


def test_generation_killed_mid_stream_then_rerun(generated, tmp_path):
  """SIGKILL once the first block is on disk; the same command again.

  The re-run is also the check that a real command prints no TensorFlow
  start-up noise: its stderr holds only the progress bar.
  """
  out = str(tmp_path / "out")
  command = [sys.executable, "-m", "samplernn.generate", *_generate_args(out)]
  proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)

  def first_block_written():
    partial = [n for n in (os.listdir(out) if os.path.isdir(out) else [])
               if n.endswith(".tmp.wav")]
    return any(os.path.getsize(os.path.join(out, n)) > 44 + 2 * 160
               for n in partial)

  _wait_for(first_block_written, proc)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert not [n for n in os.listdir(out) if n.endswith("_0.wav")]
  rerun = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                         timeout=600, check=False)
  assert rerun.returncode == 0, rerun.stderr[-3000:]
  _assert_same_generation(out, generated)
  lines = [l for l in rerun.stderr.replace("\r", "\n").splitlines()
           if l.strip()]
  assert all(l.startswith("generated:") for l in lines), rerun.stderr[-3000:]
  assert not any(noise in rerun.stderr for noise in TF_NOISE)


def test_generation_killed_between_its_outputs_then_rerun(generated,
                                                          tmp_path):
  """SIGKILL right after the first finished wav is renamed into place, the
  others not yet: the re-run must neither refuse that file nor keep a
  partial one."""
  out = str(tmp_path / "out")
  die_after_first_wav = (
      "import os, runpy, signal, sys\n"
      "real_replace = os.replace\n"
      "def replace(src, dst):\n"
      "  real_replace(src, dst)\n"
      "  if dst.endswith('.wav'):\n"
      "    os.kill(os.getpid(), signal.SIGKILL)\n"
      "os.replace = replace\n"
      f"sys.argv = ['samplernn.generate'] + {_generate_args(out)!r}\n"
      "runpy.run_module('samplernn.generate', run_name='__main__', "
      "alter_sys=True)\n")
  killed = subprocess.run([sys.executable, "-c", die_after_first_wav],
                          cwd=ROOT, capture_output=True, text=True,
                          timeout=600, check=False)
  assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
  names = os.listdir(out)
  assert len([n for n in names if n.endswith(".tmp.wav")]) == 1, names
  assert len([n for n in names if n.startswith("samplernn_")
              and n.endswith(".wav")]) == 1, names
  generation.generate_files(SAMPLERNN, out, progress=False, **GENERATE)
  _assert_same_generation(out, generated)
  # Once finished, the same command has nothing to do (and says so).
  before = {n: os.path.getmtime(os.path.join(out, n))
            for n in os.listdir(out)}
  generation.generate_files(SAMPLERNN, out, progress=False, **GENERATE)
  assert before == {n: os.path.getmtime(os.path.join(out, n))
                    for n in os.listdir(out)}


# ---------------------------------------------------------------------------
# Fault matrix: the instrument build (wavenet.instrument).


def _build(model_dir, corners, out, **kwargs):  # pylint: disable=redefined-outer-name
  return instrument_build.build_instrument(
      model_dir, corners, PITCHES, GRID, out, seconds=SECONDS,
      batch_size=BATCH, progress=False, **kwargs)


@pytest.fixture(scope="module")
def built(model_dir, corners, tmp_path_factory):  # pylint: disable=redefined-outer-name
  """An uninterrupted build's folder."""
  out = str(tmp_path_factory.mktemp("uninterrupted") / "instrument")
  _build(model_dir, corners, out)
  return out


def _assert_same_instrument(out, reference):
  """Every file alike; the compressed notes decode alike (Ogg streams get a
  random serial number, so their bytes and samples.js differ)."""
  assert _listing(out) == _listing(reference)
  for name in _listing(reference):
    a, b = os.path.join(out, name), os.path.join(reference, name)
    if name.endswith(".ogg"):
      np.testing.assert_array_equal(sf.read(a)[0], sf.read(b)[0])
    elif name not in ("samples.js", instrument_journal.RECORDS):
      with open(a, "rb") as f, open(b, "rb") as g:
        assert f.read() == g.read(), name


class _Interrupt(Exception):
  pass


def test_instrument_interrupted_mid_batch_then_resumed(
    built, model_dir, corners, tmp_path):  # pylint: disable=redefined-outer-name
  """Stopped after 5 of a batch's 9 notes are written: the resumed build
  renders that batch again and writes the notes an uninterrupted one does
  (before, a resumed note could differ in its noise)."""
  out = str(tmp_path / "instrument")
  seen = []

  def stop_after_five(point, pitch):
    seen.append((point, pitch))
    if len(seen) == 5:
      raise _Interrupt()

  with pytest.raises(_Interrupt):
    _build(model_dir, corners, out, on_render=stop_after_five)
  rendered = []
  _build(model_dir, corners, out,
         on_render=lambda *job: rendered.append(job))
  assert len(rendered) == GRID * GRID * len(PITCHES) - 5
  _assert_same_instrument(out, built)


def test_instrument_build_killed_then_rerun(built, model_dir, corners,
                                            tmp_path):  # pylint: disable=redefined-outer-name
  """SIGKILL once the first note is recorded, then the same command."""
  out = str(tmp_path / "instrument")
  command = [sys.executable, "-m", "wavenet.instrument",
             f"--model_dir={model_dir}", f"--corners={','.join(corners)}",
             f"--pitches={','.join(map(str, PITCHES))}", f"--grid={GRID}",
             f"--seconds={SECONDS}", f"--batch_size={BATCH}",
             f"--output_dir={out}", "--noprogress"]
  proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
  records = os.path.join(out, instrument_journal.RECORDS)
  _wait_for(lambda: os.path.exists(records) and os.path.getsize(records),
            proc)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert not os.path.exists(os.path.join(out, "index.html"))
  assert len(instrument_journal.read_records(out)) < (
      GRID * GRID * len(PITCHES))
  _build(model_dir, corners, out)  # the same command, in this process
  _assert_same_instrument(out, built)
