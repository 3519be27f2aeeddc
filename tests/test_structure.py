"""The house rules a reading of the code can check (docs/design.md).

- `common/` names no model family: it imports none, and none of its code
  names a family or a family's config key (docstrings and comments may, as
  examples);
- no module imports a command-line module (a CLI is flags -> one library
  call; a module others import is a library);
- the families never import each other;
- no command passes a bare `ValueError` (or `Exception`) to `common.cli.run`
  as a user error: that would turn bugs into one-line "user errors".

The source is parsed with `ast`, nothing is run: the tests are fast and need
no TensorFlow. Each checker takes the tree's root, so the tests at the end
run it on tiny trees in a temporary folder: a clean one passes, a planted
violation is caught.
"""

from __future__ import annotations

import ast
import functools
import os
import re
from typing import Iterator

from common import schema
from common import trainer_keys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The suite's code besides the model families (`common.schema.families`);
# tests/ aside: tests may import anything.
PACKAGES = ("common", "eval", "pretrained")
# CLI modules that exist to be shared by other commands, and may be
# imported by CLI modules only: the flags and runner of the family training
# commands (`samplernn.train`, `wavenet.train`).
SHARED_CLI = ("common.train_cli", "common.live.command", "common.threads")
# Too broad to report a user's mistake: they hide bugs.
BROAD_ERRORS = ("ValueError", "Exception", "BaseException")


# ---------------------------------------------------------------------------
# Reading the tree.


def modules(root: str, packages: tuple[str, ...] | None = None
            ) -> dict[str, str]:
  """{dotted module name: path} of every .py file under `packages` (all
  the suite's: `PACKAGES` and the families)."""
  if packages is None:
    packages = PACKAGES + tuple(schema.families(root))
  found = {}
  for package in packages:
    for folder, dirs, names in os.walk(os.path.join(root, package)):
      dirs[:] = sorted(d for d in dirs if d != "__pycache__")
      for name in sorted(names):
        if name.endswith(".py"):
          path = os.path.join(folder, name)
          dotted = os.path.relpath(path, root)[:-3].replace(os.sep, ".")
          found[dotted.removesuffix(".__init__")] = path
  return found


@functools.cache
def parse(path: str) -> ast.Module:
  """The syntax tree of a file (read once: the trees are not changed)."""
  with open(path, encoding="utf-8") as f:
    return ast.parse(f.read(), path)


def package_of(module: str, path: str) -> str:
  """The package a module's relative imports start from."""
  if os.path.basename(path) == "__init__.py":
    return module
  return module.rpartition(".")[0]


def imported(tree: ast.Module, package: str) -> Iterator[tuple[int, str]]:
  """(line, dotted name) of everything `tree` (of a module in `package`)
  imports: for `from a import b` both `a` and `a.b` (b may be a module),
  and the constant names given to `importlib.import_module`."""
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      for alias in node.names:
        yield node.lineno, alias.name
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:  # relative: `.` is `package`, `..` its parent
        parts = package.split(".")
        parent = parts[:len(parts) - node.level + 1]
        base = ".".join(parent + ([base] if base else []))
      yield node.lineno, base
      for alias in node.names:
        yield node.lineno, f"{base}.{alias.name}"
    elif (isinstance(node, ast.Call) and _called_name(node) == (
        "importlib", "import_module") and node.args and isinstance(
            node.args[0], ast.Constant) and isinstance(node.args[0].value,
                                                       str)):
      yield node.lineno, node.args[0].value


def _called_name(call: ast.Call) -> tuple[str, str] | None:
  """("cli", "run") for `cli.run(...)`; None for other calls."""
  func = call.func
  if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
    return func.value.id, func.attr
  return None


def _runners(shared_cli: tuple[str, ...]) -> set[tuple[str, str]]:
  """The calls that run a command: `cli.run` and the shared CLIs' `run`."""
  return {("cli", "run")} | {(m.rpartition(".")[2], "run")
                             for m in shared_cli}


def is_cli(tree: ast.Module, shared_cli: tuple[str, ...] = SHARED_CLI
           ) -> bool:
  """A command-line module: it defines absl flags (`flags.DEFINE_*`) or
  runs a command (`cli.run(...)`, or a shared CLI's `run`)."""
  runners = _runners(shared_cli)
  for node in ast.walk(tree):
    if not isinstance(node, ast.Call):
      continue
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else (
        func.id if isinstance(func, ast.Name) else "")
    if name.startswith("DEFINE") or _called_name(node) in runners:
      return True
  return False


def _docstrings(tree: ast.Module) -> set[int]:
  """ids of the string constants that are docstrings (a bare string
  statement anywhere: a comment in all but name)."""
  return {id(node.value) for node in ast.walk(tree)
          if isinstance(node, ast.Expr) and isinstance(node.value,
                                                       ast.Constant)
          and isinstance(node.value.value, str)}


def identifiers(tree: ast.Module) -> Iterator[tuple[int, str]]:
  """(line, name) of every name the code binds or reads: variables,
  attributes, parameters, keyword arguments, functions, classes, imports."""
  for node in ast.walk(tree):
    names: list[str | None] = []
    if isinstance(node, ast.Name):
      names = [node.id]
    elif isinstance(node, ast.Attribute):
      names = [node.attr]
    elif isinstance(node, ast.arg):
      names = [node.arg]
    elif isinstance(node, ast.keyword):
      names = [node.arg]
    elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                           ast.ClassDef)):
      names = [node.name]
    elif isinstance(node, (ast.Import, ast.ImportFrom)):
      names = [a.asname or a.name for a in node.names]
    for name in names:
      if name:
        yield getattr(node, "lineno", 0), name


def code_strings(tree: ast.Module) -> Iterator[tuple[int, str]]:
  """(line, text) of the string constants of the code (f-string parts
  included), docstrings left out."""
  docs = _docstrings(tree)
  for node in ast.walk(tree):
    if (isinstance(node, ast.Constant) and isinstance(node.value, str)
        and id(node) not in docs):
      yield node.lineno, node.value


def names_in_string(text: str, name: str, is_key: bool) -> bool:
  """True if the string `text` names `name`, a package or a config key.

  A package, and a key with an underscore (`pitch_bins`), count wherever
  they stand as a word. A key that is also an English word (`width`,
  `conditioning`) counts only where it reads as a key: the whole string,
  quoted or back-quoted, followed by `=` (`--set=dim=512`), or starting the
  string before a colon (an error message "dim: ...").
  """
  word = re.escape(name)
  if "_" in name or not is_key:
    return re.search(rf"(?<!\w){word}(?!\w)", text) is not None
  return text == name or re.search(
      rf"[`'\"]{word}[`'\"]|(?<![\w.-]){word}=|^{word}:", text) is not None


# ---------------------------------------------------------------------------
# The rules.


def common_naming_hits(root: str, families: set[str],
                       keys: set[str]) -> list[str]:
  """Where `common/` code names a family or one of their `keys`: an import
  of a family, an identifier, a string (docstrings aside)."""
  hits = []
  for module, path in modules(root, ("common",)).items():
    tree = parse(path)
    where = os.path.relpath(path, root)
    for line, name in imported(tree, package_of(module, path)):
      if name.split(".")[0] in families:
        hits.append(f"{where}:{line}: imports {name.split('.')[0]}")
    for line, name in identifiers(tree):
      if name in families | keys:
        hits.append(f"{where}:{line}: identifier {name}")
    for line, text in code_strings(tree):
      for name in sorted(families | keys):
        if names_in_string(text, name, is_key=name in keys):
          hits.append(f"{where}:{line}: string names {name}: {text[:60]!r}")
  return sorted(set(hits))


def cli_import_hits(root: str, shared_cli: tuple[str, ...] = SHARED_CLI
                    ) -> list[str]:
  """Where a module imports a command-line module (a shared one only from a
  CLI module)."""
  found = modules(root)
  trees = {module: parse(path) for module, path in found.items()}
  clis = {module for module, tree in trees.items()
          if is_cli(tree, shared_cli)}
  hits = []
  for module, tree in trees.items():
    package = package_of(module, found[module])
    for line, name in sorted(set(imported(tree, package))):
      if name in clis and name != module and not (
          name in shared_cli and module in clis):
        hits.append(f"{os.path.relpath(found[module], root)}:{line}: "
                    f"{module} imports the command-line module {name}")
  return sorted(hits)


def family_import_hits(root: str) -> list[str]:
  """Where a family's package imports another family."""
  families = schema.families(root)
  hits = []
  for family in families:
    for module, path in modules(root, (family,)).items():
      for line, name in imported(parse(path), package_of(module, path)):
        other = name.split(".")[0]
        if other in families and other != family:
          hits.append(f"{os.path.relpath(path, root)}:{line}: {module} "
                      f"imports {other}")
  return sorted(set(hits))


def broad_user_error_hits(root: str,
                          shared_cli: tuple[str, ...] = SHARED_CLI
                          ) -> list[str]:
  """Where `cli.run` (or a shared CLI's `run`) is given a broad exception
  class as a user error (in place or by a module-level name)."""
  runners = _runners(shared_cli)
  hits = []
  for path in modules(root).values():
    tree = parse(path)
    for node in ast.walk(tree):
      if not (isinstance(node, ast.Call) and _called_name(node) in runners):
        continue
      for keyword in node.keywords:
        if keyword.arg != "user_errors":
          continue
        for error in ast.walk(_resolved(tree, keyword.value)):
          if isinstance(error, ast.Name) and error.id in BROAD_ERRORS:
            hits.append(f"{os.path.relpath(path, root)}:{node.lineno}: "
                        f"user_errors holds {error.id}")
  return sorted(hits)


def _resolved(tree: ast.Module, value: ast.expr) -> ast.expr:
  """`value`, or for a name assigned at the top of the module
  (`user_errors=USER_ERRORS`) what it is assigned."""
  if isinstance(value, ast.Name):
    for node in tree.body:
      if isinstance(node, ast.Assign) and any(
          isinstance(t, ast.Name) and t.id == value.id for t in node.targets):
        return node.value
  return value


def family_keys(families: list[str]) -> set[str]:
  """The keys the families declare (`<family>/config_schema.py`) that
  `common` does not (`common/trainer_keys.py`)."""
  own = {key.name for key in trainer_keys.KEYS}
  return {key.name for family in families
          for key in schema.family_module(family).KEYS} - own


def _report(hits: list[str]) -> str:
  return f"{len(hits)} found:\n" + "\n".join(hits)


# ---------------------------------------------------------------------------
# The rules on this tree.


def test_common_names_no_family_nor_family_key():
  families = schema.families(ROOT)
  keys = family_keys(families)
  assert {"samplernn", "wavenet"} <= set(families)
  assert {"pitch_bins", "frame_sizes", "dim"} <= keys
  assert not keys & {"sample_rate", "q_levels", "seq_len", "family"}
  hits = common_naming_hits(ROOT, set(families), keys)
  assert not hits, _report(hits)


def test_no_module_imports_a_command_line_module():
  hits = cli_import_hits(ROOT)
  assert not hits, _report(hits)


def test_families_never_import_each_other():
  assert len(schema.families(ROOT)) >= 2
  hits = family_import_hits(ROOT)
  assert not hits, _report(hits)


def test_no_command_reports_broad_errors_as_user_errors():
  hits = broad_user_error_hits(ROOT)
  assert not hits, _report(hits)


# ---------------------------------------------------------------------------
# The checkers on tiny trees: a clean tree passes, each violation is caught.


_CLEAN = {
    "common/__init__.py": "",
    "common/lib.py": ('"""Reads `alpha_beta` of alpha (a docstring)."""\n'
                      "import numpy as np\n"
                      "from common import other\n"
                      "class LibError(ValueError):\n"
                      "  '''a `width` and `alpha_beta` here are fine'''\n"
                      "def size(config, embedding_width):\n"
                      "  return config['sample_rate'], 'the width of a frame'\n"),
    "common/other.py": "",
    "common/tool.py": ("from absl import flags\nfrom common import cli\n"
                       "from common import lib\n"
                       "flags.DEFINE_string('x', None, 'x')\n"
                       "def run():\n"
                       "  cli.run(main, user_errors=(lib.LibError,))\n"),
    "common/shared_cli.py": ("from absl import flags\nfrom common import cli\n"
                             "def run(main):\n"
                             "  flags.DEFINE_bool('y', False, 'y')\n"
                             "  cli.run(main)\n"),
    "alpha/__init__.py": "", "alpha/config_schema.py": "KEYS = ()\n",
    "alpha/train.py": ("from common import shared_cli\nfrom common import lib\n"
                       "def run():\n  shared_cli.run(lib.size)\n"),
    "beta/__init__.py": "", "beta/config_schema.py": "KEYS = ()\n",
    "beta/model.py": "from common import lib\nimport numpy\n",
    "eval/__init__.py": "",
    "eval/both.py": "from alpha import config_schema\nimport beta.model\n",
}
_FAMILIES = {"alpha", "beta"}
_KEYS = {"alpha_beta", "dim", "width"}
_SHARED = ("common.shared_cli",)


def _tree(root, changes: dict[str, str] | None = None) -> str:
  """Writes `_CLEAN` with `changes` (file: text) under `root`."""
  for name, text in dict(_CLEAN, **(changes or {})).items():
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
  return str(root)


def test_checkers_pass_a_clean_tree(tmp_path):
  root = _tree(tmp_path)
  assert schema.families(root) == ["alpha", "beta"]
  assert common_naming_hits(root, _FAMILIES, _KEYS) == []
  assert cli_import_hits(root, _SHARED) == []
  assert family_import_hits(root) == []
  assert broad_user_error_hits(root) == []


def test_common_naming_catches_each_kind(tmp_path):
  cases = {
      "import alpha.model\n": "imports alpha",
      "from alpha import config_schema\n": "imports alpha",
      "import importlib\nm = importlib.import_module('beta.family')\n":
          "imports beta",
      "PACKAGES = ('common', 'alpha')\n": "string names alpha",
      "PATH = 'beta/configs'\n": "string names beta",
      "def f(config):\n  return config['alpha_beta']\n":
          "string names alpha_beta",
      "E = f'{1} needs alpha_beta > 0'\n": "string names alpha_beta",
      "def f(config):\n  return config.get('dim')\n": "string names dim",
      "E = 'width: must be positive'\n": "string names width",
      "H = '--set=dim=512 overrides a key'\n": "string names dim",
      "class G:\n  alpha_beta: int = 1\n": "identifier alpha_beta",
      "def f(width=1):\n  return width\n": "identifier width",
      "x = dict(alpha_beta=1)\n": "identifier alpha_beta",
      # An English word is not a key:
      "E = f'{1}: frames of width {2}'\n": None,
  }
  for i, (source, expected) in enumerate(cases.items()):
    root = _tree(tmp_path / str(i), {"common/x.py": source})
    hits = common_naming_hits(root, _FAMILIES, _KEYS)
    if expected is None:
      assert hits == [], source
    else:
      assert any(expected in h for h in hits), (source, hits)


def test_cli_import_catches_a_module_importing_a_command(tmp_path):
  for i, source in enumerate(("from common import tool\n",
                              "import common.tool\n",
                              "from common.tool import run\n",
                              "def f():\n  from common import tool\n")):
    root = _tree(tmp_path / str(i), {"beta/model.py": source})
    assert cli_import_hits(root, _SHARED) == [
        f"beta/model.py:{source.count(chr(10))}: beta.model imports the "
        f"command-line module common.tool"], source
  for i, source in enumerate(("from . import tool\n",
                              "from .tool import run\n")):
    root = _tree(tmp_path / f"relative{i}", {"common/x.py": source})
    assert cli_import_hits(root, _SHARED) == [
        "common/x.py:1: common.x imports the command-line module "
        "common.tool"], source
  # A shared CLI is for commands only; a command run by a shared CLI's
  # `run` (no flags of its own) is a command too.
  root = _tree(tmp_path / "shared", {
      "beta/model.py": "from common import shared_cli\n",
      "eval/both.py": "from alpha import train\n"})
  assert cli_import_hits(root, _SHARED) == [
      "beta/model.py:1: beta.model imports the command-line module "
      "common.shared_cli",
      "eval/both.py:1: eval.both imports the command-line module alpha.train"]


def test_family_import_catches_either_direction(tmp_path):
  for name, source, other in (("alpha/x.py", "from beta import model\n",
                               "beta"),
                              ("beta/x.py", "import alpha.train\n", "alpha")):
    root = _tree(tmp_path / other, {name: source})
    assert family_import_hits(root) == [
        f"{name}:1: {name[:-3].replace('/', '.')} imports {other}"]


def test_broad_user_errors_are_caught(tmp_path):
  for i, (errors, broad) in enumerate((
      ("ValueError", "ValueError"), ("(ValueError,)", "ValueError"),
      ("(lib.LibError, Exception)", "Exception"))):
    root = _tree(tmp_path / str(i), {
        "common/tool.py": f"from common import cli\n"
                          f"ERRORS = {errors}\n"
                          f"cli.run(main, user_errors={errors})\n"
                          f"cli.run(main, user_errors=ERRORS)\n"})
    assert broad_user_error_hits(root) == [
        f"common/tool.py:{line}: user_errors holds {broad}"
        for line in (3, 4)], errors
