"""Named benchmarks: a suite file declares models x corpora x settings.

    python -m eval.compare --suite=bench.json --report_dir=reports/bench \
        [--work_dir=runs/bench] [--seconds=12 ...]

A suite file is one JSON object; `run` makes one report of it (one call of
`eval.comparison.compare`). `eval/suites/demo.json` is `make demo`'s.

    {
      "title": "SampleRNN against WaveNet on my corpus",
      "corpora": {
        "mine": {"data_dir": "data/mine"},
        "notes": {"audio": ["audio/notes"],
                  "prepare": {"chunk_seconds": 1.0, "val_fraction": 0.0,
                              "test_fraction": 1.0}}
      },
      "models": {"srnn": "runs/srnn", "wn": "runs/wn", "ae": "runs/ae"},
      "runs": [
        {"models": ["srnn", "wn"], "corpora": ["mine"]},
        {"models": ["ae"], "corpora": ["mine", "notes"]}
      ],
      "settings": {"seconds": 12, "contexts": [0.004, 0.25, null],
                   "curve_seconds": 2.0}
    }

- `title` (optional): the report's title.
- `corpora` (required): name -> a prepared corpus `{"data_dir": DIR}`
  (`common.prepare`), or audio to prepare `{"audio": [files or folders],
  "prepare": {...}}`, where "prepare" holds settings of
  `common.corpus.prepare` (sample_rate, quantization, q_levels,
  chunk_seconds, trim_silence_db, val_fraction, test_fraction, seed,
  split_by; the rest take its defaults). Audio is prepared into
  WORK_DIR/corpora/NAME, which is kept: a later run adds only new files and
  refuses other settings; it is prepared in one process, for small test
  sets (prepare a big corpus with `common.prepare`). Models are scored on a
  corpus's test split.
- `models` (required): name -> a model directory (trained or pretrained, of
  either family).
- `runs` (optional; default: every model on every corpus): a list of
  `{"models": [...], "corpora": [...]}`, each running every model it lists
  on every corpus it lists. A model run on one corpus is shown as its name,
  one run on several as `name@corpus`. Every model and corpus declared must
  be in a run, and no (model, corpus) pair twice.
- `settings` (optional): what is made and measured, by the field names of
  `eval.comparison.Settings` (its defaults for the rest): e.g. seconds,
  num_seqs, clips, clip_seconds, prime_seconds, seed, temperature,
  warmup_seconds, contexts (seconds; null: the whole file), curve_seconds
  (null: whole files), speed_batches, speed_seconds, checkpoint, with_f0.

The first corpus of `corpora` that a run uses is the reference: its test
audio is the report's "real" row; models run on another corpus are scored
on theirs. Names are letters, digits, `_`, `.` and `-` (`real` is the
reference row's). Relative paths are relative to the suite file's folder,
not the working directory, so a suite moves with what it names (`~` is
expanded). Every mistake in a file (unknown key, wrong type, unknown name)
is one `SuiteError` line naming the file and the key, before any work.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import types
import typing
from collections import abc
from typing import Any, Callable, Iterable, Mapping

from common import corpus as corpus_lib
from common import files
from common import quantization
from common import schema
from eval import comparison
from eval import scoring


class SuiteError(ValueError):
  """A suite file that cannot be run; the message is one line."""


@dataclasses.dataclass(frozen=True)
class Corpus:
  """A corpus of a suite: a prepared one, or audio to prepare.

  data_dir: the prepared corpus (absolute), or None.
  audio: else the audio files and folders to prepare (absolute).
  prepare: their `common.corpus.prepare` settings (checked).
  """
  data_dir: str | None = None
  audio: tuple[str, ...] = ()
  prepare: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Run:
  """One model on one corpus: a row of the report.

  name: the row's name (the model's, or `model@corpus`).
  model: the model's name in the suite; model_dir: its directory
    (absolute).
  corpus: the corpus's name in the suite.
  """
  name: str
  model: str
  model_dir: str
  corpus: str


@dataclasses.dataclass(frozen=True)
class Suite:
  """A parsed suite file (see the module docstring).

  path: the file; title: the report's title (None: compare's default);
  corpora: name -> Corpus, in the file's order; runs: the report's rows;
  settings: what is made and measured.
  """
  path: str
  title: str | None
  corpora: Mapping[str, Corpus]
  runs: tuple[Run, ...]
  settings: comparison.Settings


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
_TOP_KEYS = ("title", "corpora", "models", "runs", "settings")
_RUN_KEYS = ("models", "corpora")
_TITLE = schema.Key("title", str, None, "The report's title.", nullable=True)
_NAMES = schema.Key("names", list[str], [], "Names of models or corpora.")
_PATHS = schema.Key("paths", list[str], [], "Audio files or folders.")
_PATH = schema.Key("path", str, "", "A directory.")


def _prepare_key(name: str, kind: type, **limits: Any) -> schema.Key:
  """A `common.corpus.prepare` setting, its default prepare's own."""
  default = corpus_lib.default_settings()[name]
  return schema.Key(name, kind, default, f"common.prepare --{name}",
                    nullable=default is None, **limits)


_PREPARE_KEYS = {key.name: key for key in (
    _prepare_key("sample_rate", int, min=1),
    _prepare_key("quantization", str, choices=quantization.KINDS),
    _prepare_key("q_levels", int, min=2, max=65536),
    _prepare_key("chunk_seconds", float, min=0, min_exclusive=True),
    _prepare_key("trim_silence_db", float),
    _prepare_key("val_fraction", float, min=0, max=1),
    _prepare_key("test_fraction", float, min=0, max=1),
    _prepare_key("seed", int, min=0),
    _prepare_key("split_by", str))}


# ---------------------------------------------------------------------------
# Reading a suite file.


def load(path: str) -> Suite:
  """Reads and checks the suite file `path`.

  Raises:
    SuiteError: not JSON, or not a valid suite (the message names the key).
    OSError: the file cannot be read.
  """
  try:
    data = files.read_json(path)
  except json.JSONDecodeError as e:
    raise SuiteError(f"{path}: not JSON: {e}") from None
  return parse(data, path)


def parse(data: Any, path: str) -> Suite:
  """The suite the JSON value `data` (of the file `path`) declares.

  Relative paths are made absolute against `path`'s folder.

  Raises:
    SuiteError: one line naming `path` and the key.
  """
  where = _Where(path)
  _check_object(data, where, _TOP_KEYS, required=("corpora", "models"))
  folder = os.path.dirname(os.path.abspath(path))
  corpora = {name: _corpus(value, where.at("corpora", name), folder)
             for name, value in _named(data["corpora"],
                                       where.at("corpora")).items()}
  models = {name: _path(value, where.at("models", name), folder)
            for name, value in _named(data["models"],
                                      where.at("models")).items()}
  pairs = _pairs(data.get("runs"), where.at("runs"), list(models),
                 list(corpora))
  return Suite(
      path=path, title=_value(data.get("title"), _TITLE, where.at("title")),
      corpora=corpora, runs=_runs(pairs, models),
      settings=_settings(data.get("settings", {}), where.at("settings")))


class _Where:
  """A place in a suite file, for messages: `file: key.key`."""

  def __init__(self, path: str, keys: tuple[str, ...] = ()) -> None:
    self.path, self.keys = path, keys

  def at(self, *keys: str) -> _Where:
    return _Where(self.path, self.keys + keys)

  def error(self, reason: str) -> SuiteError:
    place = ".".join(self.keys)
    return SuiteError(f"{self.path}: {place + ': ' if place else ''}{reason}")


def _check_object(value: Any, where: _Where, keys: Iterable[str],
                  required: Iterable[str] = ()) -> None:
  """`value` is a JSON object with only `keys`, and all of `required`."""
  if not isinstance(value, dict):
    raise where.error(f"must be an object, got {value!r}")
  keys = list(keys)
  for key in value:
    if key not in keys:
      raise where.error(schema.unknown_key_message(key, keys))
  for key in required:
    if key not in value:
      raise where.error(f"lacks the key {key!r}")


def _named(value: Any, where: _Where) -> dict[str, Any]:
  """A non-empty JSON object whose keys are names (see `_NAME`)."""
  if not isinstance(value, dict) or not value:
    raise where.error(f"must be an object of names, got {value!r}")
  for name in value:
    if not _NAME.match(name) or name == scoring.REAL_NAME:
      raise where.error(
          f"{name!r} is not a name: letters, digits, _ . - (and not "
          f"{scoring.REAL_NAME!r}, the reference row)")
  return value


def _value(value: Any, key: schema.Key, where: _Where) -> Any:
  """`value` checked against a `schema.Key` (its name aside)."""
  try:
    return schema.check_value(key, value)
  except schema.ConfigError as e:
    raise where.error(str(e).removeprefix(f"{key.name}: ")) from None


def _path(value: Any, where: _Where, folder: str) -> str:
  """A path of the file, absolute (relative ones are to `folder`)."""
  text = _value(value, _PATH, where)
  if not text:
    raise where.error("must be a path, got ''")
  return os.path.normpath(os.path.join(folder, os.path.expanduser(text)))


def _corpus(value: Any, where: _Where, folder: str) -> Corpus:
  _check_object(value, where, ("data_dir", "audio", "prepare"))
  if ("data_dir" in value) == ("audio" in value):
    raise where.error("needs either \"data_dir\" (a prepared corpus) or "
                      "\"audio\" (files or folders to prepare)")
  if "data_dir" in value:
    if "prepare" in value:
      raise where.error("\"prepare\" is for \"audio\"; a \"data_dir\" is "
                        "prepared already")
    return Corpus(data_dir=_path(value["data_dir"], where.at("data_dir"),
                                 folder))
  audio = _value(value["audio"], _PATHS, where.at("audio"))
  if not audio:
    raise where.at("audio").error("must list audio files or folders")
  settings = value.get("prepare", {})
  _check_object(settings, where.at("prepare"), _PREPARE_KEYS)
  return Corpus(
      audio=tuple(_path(p, where.at("audio"), folder) for p in audio),
      prepare={name: _value(v, _PREPARE_KEYS[name], where.at("prepare", name))
               for name, v in settings.items()})


def _pairs(value: Any, where: _Where, models: list[str],
           corpora: list[str]) -> list[tuple[str, str]]:
  """(model, corpus) of every run, in order (default: all x all)."""
  if value is None:
    return [(m, c) for m in models for c in corpora]
  if not isinstance(value, list) or not value:
    raise where.error(f"must be a list of runs, got {value!r}")
  pairs: list[tuple[str, str]] = []
  for i, run in enumerate(value):
    at = where.at(str(i))
    _check_object(run, at, _RUN_KEYS, required=_RUN_KEYS)
    names = {}
    for key, known in zip(_RUN_KEYS, (models, corpora)):
      names[key] = _value(run[key], _NAMES, at.at(key))
      if not names[key]:
        raise at.at(key).error("is empty")
      for name in names[key]:
        if name not in known:
          raise at.at(key).error(f"{name!r} is not declared in \"{key}\"")
    for pair in ((m, c) for m in names["models"] for c in names["corpora"]):
      if pair in pairs:
        raise at.error(f"runs {pair[0]!r} on {pair[1]!r} a second time")
      pairs.append(pair)
  for key, known, used in (("models", models, {m for m, _ in pairs}),
                           ("corpora", corpora, {c for _, c in pairs})):
    unused = [name for name in known if name not in used]
    if unused:
      raise where.error(f"{key} {', '.join(unused)} declared but in no run")
  return pairs


def _runs(pairs: list[tuple[str, str]], models: Mapping[str, str]
          ) -> tuple[Run, ...]:
  """The report's rows: a model on several corpora is `model@corpus`."""
  corpora_of: dict[str, int] = {}
  for model, _ in pairs:
    corpora_of[model] = corpora_of.get(model, 0) + 1
  return tuple(
      Run(model if corpora_of[model] == 1 else f"{model}@{corpus}", model,
          models[model], corpus) for model, corpus in pairs)


# ---------------------------------------------------------------------------
# Settings: the fields of `eval.comparison.Settings`, typed by its hints.


class _WrongType(Exception):
  """A settings value that does not have its field's type."""


def _settings(values: Any, where: _Where) -> comparison.Settings:
  """`comparison.Settings` with the fields `values` (a JSON object) sets.

  Field names and types come from the dataclass: a number where a float is
  declared, a JSON list for a tuple, null for an optional value.
  """
  fields = {f.name for f in dataclasses.fields(comparison.Settings)}
  hints = typing.get_type_hints(comparison.Settings)
  _check_object(values, where, fields)
  checked = {}
  for name, value in values.items():
    try:
      checked[name] = _typed(value, hints[name])
    except _WrongType:
      raise where.at(name).error(
          f"must be {_describe(hints[name])}, got {value!r}") from None
  return comparison.Settings(**checked)


def _typed(value: Any, hint: Any) -> Any:
  """A JSON value as type `hint` (float, int, bool, str, X | None, a
  sequence of X); raises _WrongType."""
  origin, args = typing.get_origin(hint), typing.get_args(hint)
  if origin in (types.UnionType, typing.Union):
    if value is None and type(None) in args:
      return None
    [inner] = [a for a in args if a is not type(None)]
    return _typed(value, inner)
  if origin in (tuple, list, abc.Sequence):
    if not isinstance(value, (list, tuple)):
      raise _WrongType
    return tuple(_typed(item, args[0]) for item in value)
  if hint is float and isinstance(value, (int, float)) and not isinstance(
      value, bool) and math.isfinite(value):
    return float(value)
  if hint in (int, str, bool) and type(value) is hint:
    return value
  raise _WrongType


def _describe(hint: Any) -> str:
  """"a number", "a list, each a number or null": a type, for messages."""
  origin, args = typing.get_origin(hint), typing.get_args(hint)
  if origin in (types.UnionType, typing.Union):
    [inner] = [a for a in args if a is not type(None)]
    return f"{_describe(inner)} or null"
  if origin in (tuple, list, abc.Sequence):
    return f"a list, each {_describe(args[0])}"
  return {float: "a number", int: "an integer", bool: "true or false",
          str: "a string"}[hint]


# ---------------------------------------------------------------------------
# Running a suite.


def reference(suite: Suite) -> str:
  """The name of the corpus that gives the real row: the first of
  `suite.corpora` that a run uses."""
  used = {run.corpus for run in suite.runs}
  return next(name for name in suite.corpora if name in used)


def prepare_corpora(suite: Suite, work_dir: str | None, progress: bool = True,
                    log: Callable[[str], None] = print) -> dict[str, str]:
  """{name: prepared corpus dir} of the corpora the runs use.

  Audio corpora are prepared into `work_dir`/corpora/NAME (again only what
  is new: `common.corpus.prepare`), in this process: they are small test
  sets (a big corpus is prepared by `common.prepare` and named by its
  `data_dir`).

  Raises:
    SuiteError: an audio corpus and no `work_dir`.
    common.corpus.PrepareError: no usable audio, or other settings there.
  """
  used = {run.corpus for run in suite.runs}
  out = {}
  for name, corpus in suite.corpora.items():
    if name not in used:
      continue
    if corpus.data_dir is not None:
      out[name] = corpus.data_dir
      continue
    if work_dir is None:
      raise SuiteError(f"{suite.path}: corpora.{name} is audio to prepare: "
                       f"give a work folder for it (--work_dir)")
    out[name] = os.path.join(work_dir, "corpora", name)
    log(f"preparing corpus {name} in {out[name]}")
    corpus_lib.prepare(list(corpus.audio), out[name], workers=1,
                       progress=progress, **corpus.prepare)
  return out


def run(suite: Suite, report_dir: str, work_dir: str | None = None,
        overrides: Mapping[str, Any] | None = None, overwrite: bool = False,
        title: str | None = None, log: Callable[[str], None] = print
        ) -> dict:
  """Runs the suite: prepares its corpora, writes one report to
  `report_dir`; returns the results dict (`eval.comparison.compare`).

  Args:
    suite: what to run (`load`).
    report_dir: where the report goes (refused if it holds something and
      not `overwrite`, before any corpus is prepared).
    work_dir: where audio corpora are prepared (needed if there are any).
    overrides: `comparison.Settings` fields that replace the suite's (e.g.
      from command-line flags).
    overwrite: replace an earlier report in `report_dir`.
    title: replaces the suite's title.
    log: progress messages.
  """
  settings = dataclasses.replace(suite.settings, **(overrides or {}))
  scoring.check_report_dir(report_dir, overwrite)
  data_dirs = prepare_corpora(suite, work_dir, settings.progress, log)
  main = reference(suite)
  return comparison.compare(
      {r.name: r.model_dir for r in suite.runs}, data_dirs[main], report_dir,
      model_data={r.name: data_dirs[r.corpus] for r in suite.runs
                  if r.corpus != main},
      settings=settings, overwrite=overwrite, title=title or suite.title,
      log=log)
