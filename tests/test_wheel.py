"""The package installed from its wheel, without the checkout.

The wheel is built from a copy of the source (so the build leaves nothing in
the checkout) and installed into a fresh virtual environment in a temporary
folder. To stay fast, the environment does not install the dependencies
(TensorFlow takes minutes): a `.pth` file puts the test interpreter's
site-packages (this venv's, where they are installed) after its own, and
that site-packages' `.pth` files, among them the editable install of the
checkout, are not run. The test then checks that neuralsynth's modules come
from the new environment, and runs the console scripts from a folder
outside the checkout.
"""

import configparser
import glob
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import numpy as np
import pytest
import soundfile as sf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The packages the wheel must hold.
PACKAGES = ("common", "samplernn", "wavenet", "eval", "pretrained")
# Besides the top-level packages, what the build reads (setup.cfg:
# long_description).
BUILD_FILES = ("setup.cfg", "setup.py", "README.md")
TIMEOUT = 300


def _setup_cfg():
  parser = configparser.ConfigParser()
  parser.read(os.path.join(ROOT, "setup.cfg"))
  return parser


def _package_data():
  """[(package, glob)] of setup.cfg's [options.package_data], split as
  setuptools splits them: one per line if the value has several lines,
  else by commas."""
  section = _setup_cfg()["options.package_data"]
  return [(package, pattern.strip()) for package, value in section.items()
          for pattern in (value.strip().splitlines() if "\n" in value.strip()
                          else value.split(","))
          if pattern.strip()]


def _run(args, **kwargs):
  result = subprocess.run(args, capture_output=True, text=True,
                          timeout=TIMEOUT, check=False, **kwargs)
  assert result.returncode == 0, (args, result.stdout[-2000:],
                                  result.stderr[-3000:])
  return result.stdout


def _clean_env(venv):
  env = {k: v for k, v in os.environ.items()
         if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
  env["VIRTUAL_ENV"] = venv
  env["PATH"] = os.path.join(venv, "bin") + os.pathsep + env.get("PATH", "")
  return env


def _site_packages(venv):
  version = f"python{sys.version_info.major}.{sys.version_info.minor}"
  return os.path.join(venv, "lib", version, "site-packages")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
  """Path of the wheel built from a copy of the source tree."""
  tmp = tmp_path_factory.mktemp("wheel")
  source = tmp / "source"
  for package in os.listdir(ROOT):  # what setuptools' find: can find
    if os.path.isfile(os.path.join(ROOT, package, "__init__.py")):
      shutil.copytree(os.path.join(ROOT, package), source / package,
                      ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
  for name in BUILD_FILES:
    shutil.copy(os.path.join(ROOT, name), source / name)
  # No build isolation: the build uses this venv's setuptools instead of
  # downloading one.
  _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-index",
        "--no-build-isolation", "-q", "-w", str(tmp / "dist"), str(source)],
       cwd=str(tmp))
  (built,) = glob.glob(str(tmp / "dist" / "neuralsynth-*.whl"))
  return built


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory):
  """A fresh venv outside the checkout with the wheel installed in it."""
  path = str(tmp_path_factory.mktemp("venv") / "env")
  _run([sys.executable, "-m", "venv", "--without-pip", path])
  site = _site_packages(path)
  assert os.path.isdir(site), site
  # This venv's dependencies, after the new venv's own site-packages.
  with open(os.path.join(site, "zz_dependencies.pth"), "w") as f:
    f.write(sysconfig.get_paths()["purelib"] + "\n")
  # pip itself comes from this venv through the .pth; --force-reinstall, as
  # the editable install's metadata is visible there too.
  _run([os.path.join(path, "bin", "python"), "-m", "pip", "install", "-q",
        "--no-deps", "--no-index", "--force-reinstall", wheel],
       env=_clean_env(path), cwd=path)
  return path


def test_every_package_data_glob_matches_a_file():
  for package, pattern in _package_data():
    found = [p for p in glob.glob(os.path.join(ROOT, package, pattern))
             if os.path.isfile(p)]
    assert found, f"setup.cfg: {package} = {pattern} matches no file"


def _data_files(package):
  """Non-Python files below `ROOT/package` that belong to it (not to a
  subpackage), relative to ROOT."""
  found = []
  for root, dirs, names in os.walk(os.path.join(ROOT, package)):
    dirs[:] = [d for d in dirs if d != "__pycache__" and not os.path.exists(
        os.path.join(root, d, "__init__.py"))]
    found += [os.path.relpath(os.path.join(root, n), ROOT) for n in names
              if not n.endswith((".py", ".pyc"))]
  return found


def test_wheel_ships_every_data_file_of_its_packages(wheel):
  with zipfile.ZipFile(wheel) as z:
    shipped = set(z.namelist())
  packages = {os.path.dirname(n).replace("/", ".") for n in shipped
              if n.endswith("/__init__.py")}
  assert set(PACKAGES) <= packages
  missing = [f for package in sorted(packages)
             for f in _data_files(package.replace(".", os.sep))
             if f.replace(os.sep, "/") not in shipped]
  assert not missing, f"not in the wheel (setup.cfg package_data): {missing}"


def test_installed_commands_run_the_shipped_model_outside_the_checkout(
    venv, tmp_path):
  env = _clean_env(venv)
  site = os.path.realpath(_site_packages(venv))
  where = json.loads(_run(
      [os.path.join(venv, "bin", "python"), "-c",
       "import json, sys, common, samplernn, wavenet, eval, pretrained; "
       "print(json.dumps(dict(files=[m.__file__ for m in (common, samplernn,"
       " wavenet, eval, pretrained)], meta_path=[repr(f) for f in "
       "sys.meta_path], path=sys.path)))"],
      env=env, cwd=str(tmp_path)))
  for path in where["files"]:
    assert os.path.realpath(path).startswith(site + os.sep), path
  assert not any("editable" in f for f in where["meta_path"])
  dependencies = sysconfig.get_paths()["purelib"]
  for entry in where["path"]:  # "" is the cwd, tmp_path
    entry = os.path.realpath(os.path.join(str(tmp_path), entry))
    assert entry == os.path.realpath(dependencies) or not (
        entry + os.sep).startswith(os.path.realpath(ROOT) + os.sep), entry

  bin_dir = os.path.join(venv, "bin")
  model_dir = _run([os.path.join(bin_dir, "neuralsynth-pretrained"),
                    "--name=samplernn_bach"], env=env,
                   cwd=str(tmp_path)).strip()
  assert model_dir == os.path.join(site, "pretrained", "samplernn_bach")
  _run([os.path.join(bin_dir, "samplernn-generate"),
        f"--model_dir={model_dir}", "--output_dir=out", "--seconds=0.1",
        "--seed=3"], env=env, cwd=str(tmp_path))
  audio, rate = sf.read(str(tmp_path / "out" / "samplernn_0.wav"))
  assert rate == 16000 and audio.shape == (1600,)
  assert np.all(np.isfinite(audio))
  with open(tmp_path / "out" / "samplernn_0.json") as f:
    sidecar = json.load(f)
  assert sidecar["model_dir"] == model_dir and sidecar["seed"] == 3


def test_missing_package_data_is_one_clear_line(tmp_path, monkeypatch):
  from pretrained import paths  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(paths, "ROOT", str(tmp_path))
  (tmp_path / "wavenet_bach").mkdir()
  (tmp_path / "wavenet_bach" / "config.json").write_text("{}")
  with pytest.raises(paths.PretrainedError) as e:
    paths.path("wavenet_bach")
  message = str(e.value)
  assert "\n" not in message
  assert message.startswith(
      os.path.join(str(tmp_path), "wavenet_bach", "weights", "checkpoint") +
      ": not installed")
  with pytest.raises(paths.PretrainedError, match="^nope: not a shipped"):
    paths.path("nope")
