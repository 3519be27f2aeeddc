"""The command line a person meets (`common.cli`): `--help` lists every flag,
errors a user causes end in one line, TensorFlow keeps quiet.

Every command-line module is found by itself (setup.cfg's console scripts,
and every module with a `__main__` block), so a new command is checked too.
A TensorFlow start costs ~5 s, so `--help` runs in forked children of one
process that imported TensorFlow once, and the error cases that load a model
run side by side.
"""

import configparser
import glob
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

from common import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = sys.executable
PACKAGES = ("common", "samplernn", "wavenet", "eval", "pretrained")


def _console_scripts():
  """{script name: "module:function"} from setup.cfg."""
  parser = configparser.ConfigParser()
  parser.read(os.path.join(ROOT, "setup.cfg"))
  lines = parser["options.entry_points"]["console_scripts"].strip()
  return dict(tuple(part.strip() for part in line.split("="))
              for line in lines.splitlines())


def _main_modules():
  """Dotted names of the modules with a `__main__` block."""
  found = []
  for package in PACKAGES:
    for path in glob.glob(os.path.join(ROOT, package, "**", "*.py"),
                          recursive=True):
      with open(path, encoding="utf-8") as f:
        text = f.read()
      if re.search(r"^if __name__ == ['\"]__main__['\"]:", text,
                   re.MULTILINE):
        rel = os.path.relpath(path, ROOT)[:-3]
        found.append(rel.replace(os.sep, "."))
  return sorted(found)


def _run(args, env=None, **kwargs):
  return subprocess.run([PYTHON, *args], cwd=ROOT, capture_output=True,
                        text=True, env=env, timeout=300, check=False,
                        **kwargs)


# ---------------------------------------------------------------------------
# --help


# Runs in one process: imports TensorFlow and the commands' libraries once,
# then forks a child per command that runs `--help` exactly as the shell
# would (`python -m module --help`, or the console script's function with
# sys.argv[0] the script) and records its output and the flags it defined.
_HELP_DRIVER = textwrap.dedent("""
    import importlib, importlib.util, json, os, runpy, sys
    import tensorflow  # once, before forking
    from absl import flags
    from common import cli
    for name in json.loads(sys.argv[2]):
      importlib.import_module(name)  # libraries: they define no flags
    for i, (kind, target, argv0) in enumerate(json.loads(sys.argv[1])):
      out = os.path.join(sys.argv[3], str(i))
      pid = os.fork()
      if pid == 0:
        fd = os.open(out + ".txt", os.O_WRONLY | os.O_CREAT)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        sys.argv = [argv0, "--help"]
        # absl files a `__main__`'s flags under sys.argv[0]: under runpy,
        # the module's path.
        main_name = (importlib.util.find_spec(target).origin
                     if kind == "module" else argv0)
        code = None
        try:
          if kind == "module":
            runpy.run_module(target, run_name="__main__", alter_sys=True)
          else:
            module, function = target.split(":")
            getattr(importlib.import_module(module), function)()
        except SystemExit as e:
          code = e.code
        sys.stdout.flush()
        # The command's own flags (absl's and TensorFlow's: --helpfull).
        defined = sorted(
            flag.name
            for module, module_flags in flags.FLAGS.flags_by_module_dict(
            ).items() if cli.is_own_module(module, main_name)
            for flag in module_flags)
        with open(out + ".json", "w") as f:
          json.dump(dict(code=code, flags=defined), f)
        os._exit(0)
      os.waitpid(pid, 0)
""")
# Libraries imported before forking (none defines flags on import).
_PRELOAD = ["keras", "common.trainer", "common.checkpoint", "common.prepare",
            "samplernn.generate", "wavenet.fastgen", "wavenet.synthesize",
            "wavenet.latent", "wavenet.instrument", "eval.compare",
            "eval.score", "eval.speed", "eval.demo"]


def test_help_lists_every_flag_of_every_command(tmp_path):
  commands = [("module", name, name) for name in _main_modules()]
  commands += [("script", target, os.path.join(os.path.dirname(PYTHON), name))
               for name, target in _console_scripts().items()]
  assert len(commands) >= 20
  result = _run(["-c", _HELP_DRIVER, json.dumps(commands),
                 json.dumps(_PRELOAD), str(tmp_path)])
  assert result.returncode == 0, result.stderr[-3000:]
  for i, (kind, target, argv0) in enumerate(commands):
    what = f"{kind} {target}"
    with open(tmp_path / f"{i}.txt") as f:
      text = f.read()
    with open(tmp_path / f"{i}.json") as f:
      info = json.load(f)
    assert info["code"] in (0, 1), f"{what}: {text[-2000:]}"  # absl: 1
    assert info["flags"], f"{what} defines no flags"
    listed = set(re.findall(r"^  --(?:\[no\])?(\w+):", text, re.MULTILINE))
    missing = sorted(set(info["flags"]) - listed)
    assert not missing, f"{what} --help does not list {missing}"
    if kind == "script":  # the module's own usage text, not absl's stub
      assert "USAGE:" not in text.split("flags:")[0], f"{what}: {text[:500]}"
  train_help = next(i for i, c in enumerate(commands)
                    if c[:2] == ("module", "samplernn.train"))
  with open(tmp_path / f"{train_help}.txt") as f:
    text = f.read()
  # Help texts come along (a flag defined in common/train_cli.py).
  assert "Train until this total step." in text


# ---------------------------------------------------------------------------
# Errors a user causes.


def _assert_one_error_line(result, *needles):
  lines = [l for l in result.stderr.splitlines() if l.strip()]
  assert result.returncode not in (0, None), result.stderr[-3000:]
  assert "Traceback" not in result.stderr, result.stderr[-3000:]
  assert len(lines) == 1, result.stderr[-3000:]
  assert lines[0].startswith("error: "), lines[0]
  for needle in needles:
    assert needle in lines[0], lines[0]


def test_user_errors_without_a_model_end_in_one_line(tmp_path):
  cases = [
      (["-m", "common.prepare", f"--input={tmp_path}/missing",
        f"--output_dir={tmp_path}/data"], f"{tmp_path}/missing"),
      (["-m", "common.prepare", "--input=a", "--output_dir=b",
        "--sample_rate=fast"], "--sample_rate=fast"),
      (["-m", "common.prepare", "--input=a"], "--output_dir", "required"),
      (["-m", "common.prepare", "--inptu=a"], "--inptu", "--input"),
      (["-m", "eval.score", f"--real={tmp_path}/nothing",
        f"--generated={tmp_path}", f"--report_dir={tmp_path}/r"],
       f"{tmp_path}/nothing"),
      (["-m", "wavenet.instrument", "--model_dir=pretrained/wavenet_notes",
        f"--corners={tmp_path}/a.wav", f"--output_dir={tmp_path}/i"],
       "--corners"),
  ]
  for args, *needles in cases:
    _assert_one_error_line(_run(args), *needles)


def test_user_errors_with_a_model_end_in_one_line(tmp_path):
  """Each starts TensorFlow; they run side by side."""
  (tmp_path / "out").mkdir()
  (tmp_path / "out" / "samplernn_0.wav").write_bytes(b"a user's file")
  (tmp_path / "corpus").mkdir()
  cases = [
      # A model directory of the other family.
      (["-m", "samplernn.generate", "--model_dir=pretrained/wavenet_notes",
        f"--output_dir={tmp_path}/g", "--seconds=0.01"],
       "pretrained/wavenet_notes"),
      # An existing output, not made by this command.
      (["-m", "samplernn.generate", "--model_dir=pretrained/samplernn_bach",
        f"--output_dir={tmp_path}/out", "--seconds=0.01"],
       "samplernn_0.wav", "--overwrite"),
      # A folder that is no corpus.
      (["-m", "samplernn.train", f"--data_dir={tmp_path}/corpus",
        f"--model_dir={tmp_path}/m", "--num_steps=1"], f"{tmp_path}/corpus"),
  ]
  procs = [subprocess.Popen([PYTHON, *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
           for args, *_ in cases]
  for proc, (args, *needles) in zip(procs, cases):
    stdout, stderr = proc.communicate(timeout=600)
    _assert_one_error_line(subprocess.CompletedProcess(
        args, proc.returncode, stdout, stderr), *needles)
  assert (tmp_path / "out" / "samplernn_0.wav").read_bytes() == (
      b"a user's file")


def test_a_bug_keeps_its_traceback():
  script = ("from common import cli\n"
            "def main(argv):\n"
            "  return {}['no such key']\n"
            "cli.run(main)\n")
  result = _run(["-c", script])
  assert result.returncode == 1
  assert "Traceback" in result.stderr and "KeyError" in result.stderr


def test_request_errors_are_user_errors_and_value_errors_are_bugs():
  script = ("import sys\n"
            "from common import cli\n"
            "def main(argv):\n"
            "  from common import generator\n"
            "  if sys.argv[-1] == 'bug':\n"
            "    raise ValueError('a bug')\n"
            "  generator.Request.make(num_seqs=2, temperature=[1, 2, 3])\n"
            "cli.run(main)\n")
  request = _run(["-c", script, "request"])
  assert request.returncode == 1
  assert request.stderr.strip() == (
      "error: 3 temperatures for 2 sequences; give one or one per sequence")
  bug = _run(["-c", script, "bug"])
  assert "Traceback" in bug.stderr and "ValueError: a bug" in bug.stderr


@pytest.mark.parametrize("error,line", [
    (FileNotFoundError(2, "No such file or directory", "x/y.wav"),
     "error: x/y.wav: No such file or directory"),
    (FileExistsError("out/a.wav: already exists; pass --overwrite"),
     "error: out/a.wav: already exists; pass --overwrite"),
    (ValueError("a.json: bad\n  value"), "error: a.json: bad value"),
])
def test_error_line(error, line):
  assert cli.error_line(error) == line


def test_positive_ints_name_the_flag():
  assert cli.positive_ints("1,4,16", "batch_sizes") == [1, 4, 16]
  for text in ("a", "1,,4", "0,4", ""):
    with pytest.raises(ValueError, match=f"--batch_sizes={text}: expected"):
      cli.positive_ints(text, "batch_sizes")


# ---------------------------------------------------------------------------
# TensorFlow's start-up noise.


def test_tensorflow_start_up_noise_is_dropped():
  noise = (
      b"WARNING: All log messages before absl::InitializeLog() is called are "
      b"written to STDERR\n"
      b"I0000 00:00:1796021799.147439    5666 cudart_stub.cc:31] Could not "
      b"find cuda drivers on your machine, GPU will not be used.\n"
      b"I0000 00:00:1796021799.227625    5666 cpu_feature_guard.cc:227] This "
      b"TensorFlow binary is optimized to use available CPU instructions.\n"
      b"To enable the following instructions: AVX2 FMA, in other operations, "
      b"rebuild TensorFlow with the appropriate compiler flags.\n"
      b"E0000 00:00:1796021803.813861    5666 cuda_platform.cc:52] failed "
      b"call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN "
      b"ERROR (303)\n"
      b"2025-09-17 14:44:05.176998: E external/local_xla/xla/stream_executor/"
      b"cuda/cuda_fft.cc:467] Unable to register cuFFT factory\n")
  kept = b"UserWarning: something a user should see\n"
  fatal = b"F0000 00:00:1796021803.813861    5666 x.cc:1] Check failed\n"
  import common  # pylint: disable=g-import-not-at-top
  assert common.drop_tf_noise(noise + kept + fatal) == kept + fatal


def test_tensorflow_logs_come_back_with_the_variable():
  """The switch, without starting TensorFlow: by default the level is set
  and the first `import tensorflow` is captured; with NEURALSYNTH_TF_LOGS=1
  neither."""
  script = ("import os, sys, common\n"
            "print(os.environ.get('TF_CPP_MIN_LOG_LEVEL'),\n"
            "      any(type(f).__name__ == '_QuietTensorFlowFinder'\n"
            "          for f in sys.meta_path))\n")
  env = {k: v for k, v in os.environ.items()
         if k not in ("TF_CPP_MIN_LOG_LEVEL", "NEURALSYNTH_TF_LOGS")}
  assert _run(["-c", script], env=env).stdout.split() == ["2", "True"]
  env["NEURALSYNTH_TF_LOGS"] = "1"
  assert _run(["-c", script], env=env).stdout.split() == ["None", "False"]
