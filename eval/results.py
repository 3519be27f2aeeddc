"""The results dict: what `eval.compare` and `eval.score` hand the report.

Both build the same plain, JSON-serialisable dict; `normalise` validates and
cleans it (and places its audio inside the report folder), `best_models`
ranks a metric across rows, `fmt` shows a number, `metrics_json` is the
machine-readable summary. `eval.report` writes the files from it.

The results dict
----------------

    {
      "title": str,                      # page title
      "created": str,                    # ISO 8601 time; filled in if absent
      "notes": [str],                    # report-level notes (Summary section)
      "settings": {                      # anything; rendered flattened
        "seed": int, "seconds": float, "sample_rate": int, ...,
        "likelihood_protocol": str,      # optional: one sentence, shown
                                         # under the Likelihood heading
        "versions": {"python": .., "numpy": .., "tensorflow": .., ...},
        "machine": {"cpu_count": .., "platform": .., ...},
      },                                 # `environment()` returns the last two
      "models": {                        # display order = insertion order,
        NAME: {                          # except that "real" rows come first
          "family": "samplernn" | "wavenet" | "real" | "folder",
          "description": str,            # optional, one line
          "info": {"num_files": int, "total_seconds": float, ...,  # optional
                   "likelihood": {"protocol": str, ...}},  # (eval.likelihood)
          "metrics": {KEY: float | int | None},  # None / NaN / inf render
                                         # as "—"; ints (counts) stay ints
          "ci": {KEY: [low, high]},      # optional 95% CI of metrics[KEY]
          "audio": {                     # lists of entries; entry = path str
                                         # or {"path": str, "label": str}
            "clips": [...],              # real clips (family "real")
            "generations": [...],        # long unconditional generations
            "continuations": [...],      # continuations of prompts[i]
            "prompts": [...],            # aligned with continuations
            "reconstructions": [...],    # reconstructions of originals[i]
            "originals": [...],          # aligned with reconstructions
          },
          "plots": {                     # all optional; None values allowed
            "similarity_vs_lag": {"lags_s": [..], "values": [..]},
            "drift": {"times_s": [..], "drift_db": [..]},
            "speed": {"batch_sizes": [..], "samples_per_second": [..],
                      "limit_samples_per_second": [..],  # arithmetic limit
                      "sample_rate": int},               # of the model
            "context": {"context_seconds": [.., None],  # None: whole file
                        "nll_bits": [..], "low": [..], "high": [..]},
          },
          "notes": [str],
        },
      },
      "metric_info": {KEY: {"label": str, "unit": str,
                            "better": "lower" | "higher" | None,
                            "help": str, "read": str, "group": str}},
      "anchors": [{"source": str, "dataset": str, "quantization": str,
                   "model": str, "nll_bits_per_sample": float,
                   "note": str}],  # optional: published NLLs shown as
    }                              # context (`eval.anchors`), never ranked

Audio paths are relative to the report folder (use "/" separators). An
absolute path outside the report folder is copied into
`audio/<model>/<kind>/` and rewritten; a path that does not exist is dropped
with a note on the model. `metric_info` is merged over the catalogue
(`eval.catalogue`, so callers only describe new keys); "group" is one of
`GROUPS` and decides the section of a metric's table (unknown keys go to
"other"). Original and reconstruction (prompt and continuation) rows are
matched across models by the original's (prompt's) path, so models that
reconstructed the same file play side by side.

metrics.json (`metrics_json`)
-----------------------------

    {"title", "created", "settings", "versions", "machine",
     "families": {NAME: family}, "info": {NAME: info},
     "metrics": {NAME: {KEY: number | null, KEY + "_ci": [low, high], ...}},
     "metric_info", "anchors", "notes"}

NaN is written as null.
"""

from __future__ import annotations

import datetime
import math
import os
import platform
import re
import shutil
from collections.abc import Mapping
from importlib import metadata
from typing import Any

import numpy as np

from common import files
from eval import anchors as anchors_lib
from eval import catalogue
from eval.catalogue import metric_info
from eval.links import inside

AUDIO_KINDS = ("clips", "generations", "continuations", "prompts",
               "reconstructions", "originals")

Results = dict[str, Any]  # A normalised results dict (module docstring).


def environment() -> dict[str, dict[str, Any]]:
  """{"versions": {...}, "machine": {...}} of this process (no TF import)."""
  versions: dict[str, str | None] = {"python": platform.python_version()}
  for package in ("tensorflow", "numpy", "scipy", "librosa", "soundfile",
                  "soxr", "matplotlib", "jinja2"):
    try:
      versions[package] = metadata.version(package)
    except metadata.PackageNotFoundError:
      versions[package] = None
  machine = {"cpu_count": os.cpu_count(), "platform": platform.platform(),
             "processor": platform.processor() or platform.machine()}
  return {"versions": versions, "machine": machine}


# ----------------------------------------------------------------------------
# Normalisation.


def finite_number(value: Any) -> float | None:
  """float, or None for None/NaN/inf/non-numbers."""
  if value is None or isinstance(value, bool):
    return None
  try:
    value = float(value)
  except (TypeError, ValueError):
    return None
  return value if math.isfinite(value) else None


def _jsonable(value: Any) -> Any:
  """Deep copy with NumPy types converted and NaN/inf replaced by None."""
  if isinstance(value, dict):
    return {str(k): _jsonable(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_jsonable(v) for v in value]
  if isinstance(value, np.ndarray):
    return _jsonable(value.tolist())
  if isinstance(value, (bool, np.bool_)):
    return bool(value)
  if isinstance(value, (int, np.integer)):
    return int(value)
  if isinstance(value, (float, np.floating)):
    return finite_number(value)
  return value


def slug(text: object) -> str:
  """A file-name-safe version of `text`."""
  return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("._") or "x"


def _copy_in(report_dir: str, model: str, kind: str, path: str,
             taken: set[str]) -> str:
  """Copies audio file `path` to a fresh audio/<model>/<kind>/<name> of
  report_dir; returns that relative path."""
  base, ext = os.path.splitext(os.path.basename(path))
  rel = f"audio/{slug(model)}/{kind}/{slug(base)}{ext.lower()}"
  n = 1
  while rel in taken:
    n += 1
    rel = f"audio/{slug(model)}/{kind}/{slug(base)}_{n}{ext.lower()}"
  taken.add(rel)
  with files.atomic_path(os.path.join(report_dir, rel)) as tmp:
    shutil.copyfile(path, tmp)
  return rel


def _place_audio(report_dir: str, model: str, kind: str, path: str,
                 notes: list[str], taken: set[str]) -> str | None:
  """Relative path of audio file `path` (absolute, or relative to
  report_dir) inside report_dir, copying it in if it lies outside; None, with
  a note, if the file does not exist."""
  full = os.path.join(report_dir, path)  # `path` itself when absolute.
  if not os.path.isfile(full):
    notes.append(f"missing audio file {path}")
    return None
  if inside(full, report_dir):
    return os.path.relpath(full, report_dir).replace(os.sep, "/")
  return _copy_in(report_dir, model, kind, os.path.abspath(full), taken)


def _label(path: str) -> str:
  return os.path.splitext(os.path.basename(path))[0]


def _audio_entries(entries: list[Any], report_dir: str | None, name: str,
                   kind: str, notes: list[str],
                   taken: set[str]) -> list[dict[str, Any]]:
  """[{"path": relative path | None, "label": str}] of one audio kind.

  A missing file keeps a placeholder ({"path": None}) so that aligned lists
  (originals/reconstructions) stay aligned; it shows as empty.
  """
  placed = []
  for entry in entries or []:
    if isinstance(entry, str):
      entry = {"path": entry}
    if not isinstance(entry, dict):
      entry = {}
    rel = entry.get("path") or None
    if rel and report_dir is not None:
      rel = _place_audio(report_dir, name, kind, rel, notes, taken)
    placed.append({"path": rel, "label": entry.get("label") or (
        _label(entry["path"]) if entry.get("path") else "")})
  return placed


def _plot_series(data: dict[str, Any]) -> dict[str, Any]:
  """A plot's data with every list's non-numbers (and NaN, inf) made None."""
  return {key: [v if finite_number(v) is not None else None for v in value]
          if isinstance(value, list) else value
          for key, value in data.items()}


def _metric_value(value: Any) -> int | float | None:
  """A metric as a number: counts (ints) stay ints, the rest
  `finite_number`."""
  if isinstance(value, int) and not isinstance(value, bool):
    return value
  return finite_number(value)


def _model(name: str, model: dict[str, Any], report_dir: str | None,
           taken: set[str]) -> dict[str, Any]:
  """One normalised row of results["models"]."""
  notes = [str(n) for n in (model.get("notes") or [])]
  metrics = {key: _metric_value(value)
             for key, value in (model.get("metrics") or {}).items()
             if not key.endswith("_ci")}
  cis = {key: [float(value[0]), float(value[1])]
         for key, value in (model.get("ci") or {}).items()
         if isinstance(value, list) and len(value) == 2
         and all(finite_number(v) is not None for v in value)}
  audio = {kind: _audio_entries(entries, report_dir, name, kind, notes, taken)
           for kind, entries in (model.get("audio") or {}).items()}
  plot_data = {kind: _plot_series(data)
               for kind, data in (model.get("plots") or {}).items()
               if isinstance(data, dict)}
  return {"family": model.get("family") or "folder",
          "description": model.get("description") or "",
          "info": dict(model.get("info") or {}),
          "metrics": metrics, "ci": cis, "audio": audio, "plots": plot_data,
          "notes": notes}


def _anchors(entries: Any) -> list[dict[str, Any]]:
  """results["anchors"] with the fields of `eval.anchors.Anchor` only (text
  fields as strings, the NLL as a finite number or None); non-dicts
  dropped."""
  out = []
  for entry in entries if isinstance(entries, list) else []:
    if isinstance(entry, dict):
      row: dict[str, Any] = {field: str(entry.get(field) or "")
                             for field in anchors_lib.Anchor._fields}
      row["nll_bits_per_sample"] = finite_number(
          entry.get("nll_bits_per_sample"))
      out.append(row)
  return out


def _notes(*extras: Any) -> list[str]:
  """Strings and lists of strings, flattened."""
  out: list[str] = []
  for extra in extras:
    if isinstance(extra, str):
      out.append(extra)
    elif extra:
      out.extend(str(n) for n in extra)
  return out


def normalise(results: Mapping[str, Any] | None, report_dir: str | None = None,
              title: str | None = None,
              notes: str | list[str] | None = None) -> Results:
  """Validated, JSON-clean copy of a results dict (see module docstring).

  With `report_dir`, audio paths are resolved against it (absolute paths
  outside it are copied in; missing files are dropped with a note).
  """
  results = _jsonable(dict(results or {}))
  models = results.get("models") or {}
  order = ([n for n, m in models.items() if (m or {}).get("family") == "real"]
           + [n for n, m in models.items()
              if (m or {}).get("family") != "real"])
  taken: set[str] = set()
  out: Results = {
      "title": title or results.get("title") or "neuralsynth report",
      "created": results.get("created") or datetime.datetime.now(
          datetime.timezone.utc).replace(microsecond=0).isoformat(),
      "notes": _notes(results.get("notes"), notes),
      "settings": dict(results.get("settings") or {}),
      "models": {name: _model(name, models[name] or {}, report_dir, taken)
                 for name in order},
      "metric_info": {},
      "anchors": _anchors(results.get("anchors")),
  }
  present = list(dict.fromkeys(key for model in out["models"].values()
                               for key in model["metrics"]))
  keys = catalogue.display_order(present)
  given = results.get("metric_info") or {}
  for key in keys + [k for k in given if k not in keys]:
    out["metric_info"][key] = metric_info(key, given)
  return out


def best_models(results: Results, key: str) -> set[str]:
  """Names holding the best value of `key` (empty if undefined).

  Direction from metric_info[key]["better"]; rows of family "real" are the
  reference and never win; at least two rows must have a finite value.
  """
  better = (results["metric_info"].get(key) or metric_info(key))["better"]
  if better not in ("lower", "higher"):
    return set()
  values = {name: model["metrics"].get(key)
            for name, model in results["models"].items()
            if model["family"] != "real"}
  values = {n: v for n, v in values.items() if v is not None}
  if len(values) < 2:
    return set()
  target = min(values.values()) if better == "lower" else max(values.values())
  tolerance = 1e-9 * max(1.0, abs(target))
  return {n for n, v in values.items() if abs(v - target) <= tolerance}


# ----------------------------------------------------------------------------
# Formatting and metrics.json.


def fmt(value: Any) -> str:
  """A number for people: "—" for missing, an int with thousands
  separators (a count), else ~3-4 significant digits."""
  if isinstance(value, int) and not isinstance(value, bool):
    return f"{value:,}"
  value = finite_number(value)
  if value is None:
    return "\u2014"
  magnitude = abs(value)
  if magnitude == 0:
    return "0"
  if magnitude >= 1e4:
    return f"{value:,.0f}"
  if magnitude >= 100:
    return f"{value:.1f}"
  if magnitude >= 1:
    return f"{value:.2f}"
  if magnitude >= 0.01:
    return f"{value:.3f}"
  return f"{value:.2e}"


def all_notes(results: Results) -> list[str]:
  """The report's notes, then each model's as "NAME: note"."""
  return results["notes"] + [f"{name}: {note}"
                             for name, model in results["models"].items()
                             for note in model["notes"]]


def metrics_json(results: Results) -> dict[str, Any]:
  """The machine-readable summary (see module docstring)."""
  flat: dict[str, dict[str, Any]] = {}
  for name, model in results["models"].items():
    row: dict[str, Any] = {}
    for key in results["metric_info"]:
      if key in model["metrics"]:
        row[key] = model["metrics"][key]
        if key in model["ci"]:
          row[f"{key}_ci"] = model["ci"][key]
    flat[name] = row
  settings = results["settings"]
  return {
      "title": results["title"], "created": results["created"],
      "settings": settings,
      "versions": settings.get("versions") or {},
      "machine": settings.get("machine") or {},
      "families": {n: m["family"] for n, m in results["models"].items()},
      "info": {n: m["info"] for n, m in results["models"].items()},
      "metrics": flat,
      "metric_info": results["metric_info"],
      "anchors": results["anchors"],
      "notes": all_notes(results),
  }
