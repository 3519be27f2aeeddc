"""Report writer: one results dict -> metrics.json, results.json, report.md,
index.html (+ plots/*.png) in a report folder.

Used by `eval.compare` (models) and `eval.score` (folders of audio); both build
the same plain, JSON-serialisable results dict (described in `eval.results`,
which also normalises and ranks it) and call `write_report`. This module turns
it into files: plain view data for the Jinja2 templates in `eval/templates/`
(page and Markdown), the figures from `eval.plots`, the link check from
`eval.links`. What a metric key means comes from `eval.catalogue`.

Files written (all atomically: temporary file + rename)
-------------------------------------------------------

* `metrics.json`: the machine-readable summary (`eval.results.metrics_json`).
* `results.json`: the normalised results dict (re-render with
  `write_report(dir, json.load(open(dir + "/results.json")))`).
* `report.md`: headline table (best in bold), the likelihood protocol and
  published anchors, notes, full metric list, how to read each metric.
* `index.html`: one static page, inline CSS, no scripts, nothing external;
  sections Summary, Likelihood, Reconstructions, Long generations,
  Coherence, Speed, Settings. Every value is HTML-escaped (a model named
  `<script>` shows as text). Best values (per metric, by its "better"
  direction, among non-"real" rows, only when at least two rows have a
  value) are highlighted and starred; results["anchors"] (published NLLs,
  `eval.anchors`) are context rows of the Likelihood section, never ranked.
  Every audio entry gets a player (`preload="none"`) and a waveform +
  log-mel PNG in `plots/audio/`.
* `plots/*.png`: similarity vs lag, drift, speed vs batch size, NLL vs
  context (`eval.plots.FIGURES`).

`check_links(report_dir)` lists every href/src of index.html that does not
resolve to a file inside the report folder (or points outside it).
"""

from __future__ import annotations

import functools
import os
import sys
import urllib.parse
from collections.abc import Mapping
from typing import Any

import jinja2

from common import files
from eval import anchors as anchors_lib
from eval import plots
# Re-exported: the names callers know as `eval.report.*`.
from eval.catalogue import GROUPS, HEADLINE, metric_info
from eval.links import check_links
from eval.results import (AUDIO_KINDS, Results, all_notes, best_models,
                          environment, finite_number, fmt, metrics_json,
                          normalise, slug)

__all__ = ["AUDIO_KINDS", "GROUPS", "HEADLINE", "best_models", "check_links",
           "environment", "fmt", "metric_info", "metrics_json", "normalise",
           "render_html", "render_markdown", "slug", "write_report"]

SECTIONS = (("summary", "Summary"), ("likelihood", "Likelihood"),
            ("reconstructions", "Reconstructions"),
            ("generations", "Long generations"), ("coherence", "Coherence"),
            ("speed", "Speed"), ("settings", "Settings"))

def _arrow(better: str | None) -> str:
  return {"lower": " \u2193", "higher": " \u2191"}.get(better or "", "")


def _direction_text(better: str | None) -> str:
  return {"lower": "lower is better", "higher": "higher is better"}.get(
      better or "", "no better direction (compare with the real row)")


def _unit(info: Mapping[str, Any]) -> str:
  return f" ({info['unit']})" if info.get("unit") else ""


def _url(rel: str) -> str:
  return urllib.parse.quote(rel.replace(os.sep, "/"))


# ----------------------------------------------------------------------------
# The page's view: plain data for templates/report.html.j2.


def _cell(model: Mapping[str, Any], key: str, best: bool) -> dict[str, Any]:
  """A metric value as text, its CI as two texts (or None), best or not."""
  value = model["metrics"].get(key)
  ci = model["ci"].get(key)
  return {"text": fmt(value), "best": best,
          "ci": [fmt(ci[0]), fmt(ci[1])] if ci and value is not None else None}


def _audio_summary(info: Mapping[str, Any]) -> str:
  """"3 files, 36 s" from a model's info, or "—"."""
  parts = []
  if info.get("num_files") is not None:
    n = info["num_files"]
    parts.append(f"{n} file{'' if n == 1 else 's'}")
  if finite_number(info.get("total_seconds")) is not None:
    parts.append(f"{info['total_seconds']:.0f} s")
  return ", ".join(parts) or "\u2014"


def _headline(results: Results) -> dict[str, Any] | None:
  """The Summary's table: a row per model, a column per HEADLINE metric."""
  if not results["models"]:
    return None
  info = results["metric_info"]
  keys = [k for k in HEADLINE if k in info] or list(info)[:8]
  best = {k: best_models(results, k) for k in keys}
  rows = [{"name": name, "family": model["family"],
           "description": model["description"],
           "audio": _audio_summary(model["info"]),
           "cells": [_cell(model, k, name in best[k]) for k in keys]}
          for name, model in results["models"].items()]
  return {"metrics": [(k, info[k]) for k in keys], "rows": rows,
          "has_info": any(m["info"] for m in results["models"].values())}


def _metric_table(results: Results,
                  groups: tuple[str, ...]) -> dict[str, Any] | None:
  """Metrics as rows (grouped), models as columns; None if no metric."""
  models = results["models"]
  keys = [k for k, info in results["metric_info"].items()
          if info["group"] in groups
          and any(k in m["metrics"] for m in models.values())]
  if not keys:
    return None
  names = [n for n, m in models.items() if any(k in m["metrics"] for k in keys)]
  sections = []
  for group in groups:
    rows = []
    for key in keys:
      if results["metric_info"][key]["group"] == group:
        best = best_models(results, key)
        rows.append({"key": key, "info": results["metric_info"][key],
                     "cells": [_cell(models[n], key, n in best)
                               for n in names]})
    if rows:
      sections.append({"title": GROUPS[group] if len(groups) > 1 else None,
                       "rows": rows})
  return {"columns": [(n, models[n]["family"]) for n in names],
          "groups": sections}


def _card(entry: Mapping[str, Any] | None, images: Mapping[str, str],
          empty: str) -> dict[str, Any]:
  """An audio player card, or an empty card saying `empty`."""
  if entry is None or not entry.get("path"):
    return {"empty": empty, "path": None, "label": "", "image": None}
  return {"empty": None, "path": entry["path"], "label": entry["label"],
          "image": images.get(entry["path"])}


def _paired_grid(results: Results, images: Mapping[str, str],
                 source_kind: str, target_kind: str, source_title: str,
                 limit: int) -> dict[str, Any] | None:
  """Rows keyed by source path: source | each model's target (aligned lists);
  None if no model has a target."""
  rows: dict[str, dict[str, Any]] = {}
  columns = []
  for name, model in results["models"].items():
    sources = model["audio"].get(source_kind) or []
    targets = model["audio"].get(target_kind) or []
    if not any(t.get("path") for t in targets):
      continue
    columns.append(name)
    for i, target in enumerate(targets):
      source = sources[i] if i < len(sources) else None
      key = (source or {}).get("path") or f"{name}:{i}"
      row = rows.setdefault(key, {"source": source, "targets": {}})
      row["targets"].setdefault(name, target)
  if not columns:
    return None
  missing = f"no {target_kind[:-1]} by this model"
  cards = [[_card(row["source"], images, "no original given")]
           + [_card(row["targets"].get(n), images,
                    "audio file missing" if n in row["targets"] else missing)
              for n in columns]
           for row in list(rows.values())[:limit]]
  return {"source_title": source_title, "rows": cards, "total": len(rows),
          "columns": [(n, results["models"][n]["family"]) for n in columns]}


def _generation_columns(results: Results, images: Mapping[str, str],
                        limit: int) -> list[dict[str, Any]]:
  """A column per model of its clips, generations and other audio kinds."""
  columns = []
  for name, model in results["models"].items():
    kinds = ["clips", "generations"] + [k for k in model["audio"]
                                        if k not in AUDIO_KINDS]
    entries = [e for kind in kinds for e in model["audio"].get(kind) or []
               if e.get("path")]
    if entries:
      columns.append({"name": name, "family": model["family"],
                      "total": len(entries),
                      "cards": [_card(e, images, "\u2014")
                                for e in entries[:limit]]})
  return columns


def _flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
  """Appends (dotted key, text) of every leaf of `value` to `out`."""
  if isinstance(value, dict):
    for k, v in value.items():
      _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
  elif isinstance(value, list):
    if all(not isinstance(v, (dict, list)) for v in value):
      out.append((prefix, ", ".join(f"{v:.6g}" if isinstance(v, float)
                                    else str(v) for v in value)))
    else:
      for i, v in enumerate(value):
        _flatten(f"{prefix}[{i}]", v, out)
  elif isinstance(value, float):
    out.append((prefix, f"{value:.6g}"))
  else:
    out.append((prefix, "\u2014" if value is None else str(value)))


def _protocols(results: Results) -> list[str]:
  """The likelihood protocol, once: results["settings"]["likelihood_protocol"]
  or else each distinct info["likelihood"]["protocol"] of the rows."""
  given = results["settings"].get("likelihood_protocol")
  if given:
    return [str(given)]
  sentences = []
  for model in results["models"].values():
    likelihood = model["info"].get("likelihood")
    if isinstance(likelihood, dict) and likelihood.get("protocol"):
      sentences.append(str(likelihood["protocol"]))
  return list(dict.fromkeys(sentences))


def _anchor_table(results: Results) -> dict[str, Any] | None:
  """The models' NLL (never starred here) above the published anchors
  (`eval.anchors`); None without anchors."""
  if not results["anchors"]:
    return None
  key = "nll_bits_per_sample"
  models = [{"name": name, "family": model["family"],
             "cell": _cell(model, key, False)}
            for name, model in results["models"].items()
            if model["metrics"].get(key) is not None]
  anchors = [dict(anchor, text=fmt(anchor["nll_bits_per_sample"]))
             for anchor in results["anchors"]]
  return {"info": results["metric_info"].get(key) or metric_info(key),
          "models": models, "anchors": anchors, "caveat": anchors_lib.CAVEAT}


def _settings_columns(settings: Mapping[str, Any]
                      ) -> list[list[tuple[str, str]]]:
  """The flattened settings in two halves (two side-by-side tables)."""
  pairs: list[tuple[str, str]] = []
  _flatten("", settings, pairs)
  half = (len(pairs) + 1) // 2
  return [part for part in (pairs[:half], pairs[half:]) if part]


def _page_view(results: Results, images: Mapping[str, str],
               figures: Mapping[str, str], max_audio: int) -> dict[str, Any]:
  """Everything templates/report.html.j2 shows, as plain data."""
  sample_rate = int(results["settings"].get("sample_rate") or 16000)
  tables = {"all": _metric_table(results, tuple(GROUPS))}
  for name, groups in (("likelihood", ("likelihood",)),
                       ("reconstruction", ("reconstruction", "continuation")),
                       ("coherence", ("coherence", "distribution")),
                       ("speed", ("speed",))):
    tables[name] = _metric_table(results, groups)
  notes = [(None, n) for n in results["notes"]] + [
      (name, n) for name, model in results["models"].items()
      for n in model["notes"]]
  return {
      "title": results["title"], "created": results["created"],
      "num_rows": len(results["models"]), "sample_rate": sample_rate,
      "sections": SECTIONS, "headline": _headline(results), "notes": notes,
      "protocols": _protocols(results), "anchors": _anchor_table(results),
      "tables": tables, "legend": list(results["metric_info"].items()),
      "reconstructions": _paired_grid(results, images, "originals",
                                      "reconstructions", "Original",
                                      max_audio),
      "continuations": _paired_grid(results, images, "prompts",
                                    "continuations", "Prompt", max_audio),
      "generations": _generation_columns(results, images, max_audio),
      "figures": {kind: figures.get(kind) for kind in plots.FIGURES},
      "settings": _settings_columns(results["settings"]),
      "range_db": f"{abs(plots.SPECTROGRAM_RANGE_DB[0]):.0f}",
      "top_khz": sample_rate // 2000,
  }


@functools.lru_cache(maxsize=1)
def _templates() -> jinja2.Environment:
  """The Jinja2 environment of eval/templates/ (HTML autoescaped)."""
  env = jinja2.Environment(
      loader=jinja2.FileSystemLoader(
          os.path.join(os.path.dirname(__file__), "templates")),
      autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",),
                                          default_for_string=True),
      undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
      keep_trailing_newline=True)
  env.filters.update(arrow=_arrow, direction=_direction_text, unit=_unit,
                     url=_url)
  return env


def render_html(results: Results, images: Mapping[str, str],
                figures: Mapping[str, str], max_audio: int) -> str:
  """The page as a string.

  Args:
    results: Normalised results (`normalise`).
    images: {audio path: png path} of the waveform + log-mel images.
    figures: {plot kind: png path} of the line plots drawn.
    max_audio: Most audio players per model and kind.
  """
  return _templates().get_template("report.html.j2").render(
      page=_page_view(results, images, figures, max_audio))


# ----------------------------------------------------------------------------
# Markdown.


def _md(text: object) -> str:
  """A Markdown table cell: "|" escaped."""
  return str(text).replace("|", "\\|")


def _md_value(results: Results, name: str, key: str, best: set[str],
              with_ci: bool) -> str:
  """A value as Markdown: bold when best, with its CI in brackets."""
  model = results["models"][name]
  text = fmt(model["metrics"].get(key))
  ci = model["ci"].get(key)
  if with_ci and ci and model["metrics"].get(key) is not None:
    text += f" [{fmt(ci[0])}, {fmt(ci[1])}]"
  return f"**{text}**" if name in best else text


def _md_head(key: str, info: Mapping[str, Any]) -> str:
  return f"{info['label']}{_unit(info)}{_arrow(info['better'])}"


def _md_anchors(results: Results) -> dict[str, Any] | None:
  """The models' NLL above the published anchors, as Markdown rows (no
  bold: never ranked); None without anchors."""
  table = _anchor_table(results)
  if table is None:
    return None
  rows = [[_md(row["name"]), _md(row["cell"]["text"] + (
      f" [{row['cell']['ci'][0]}, {row['cell']['ci'][1]}]"
      if row["cell"]["ci"] else "")), "this report's test files",
           "measured here"] for row in table["models"]]
  rows += [[_md(f"{a['model']} (published)"), _md(a["text"]),
            _md(f"{a['dataset']}, {a['quantization']}"),
            _md(a["source"] + (f"; {a['note']}" if a["note"] else ""))]
           for a in table["anchors"]]
  return {"head": ["Model", _md_head("nll_bits_per_sample", table["info"]),
                   "Data", "Source"],
          "rows": rows, "caveat": table["caveat"]}


def _markdown_view(results: Results) -> dict[str, Any]:
  """Everything templates/report.md.j2 shows, as plain data."""
  info, models = results["metric_info"], results["models"]
  keys = [k for k in HEADLINE if k in info]
  best = {k: best_models(results, k) for k in info}
  headline = None
  if models:
    headline = {
        "head": [_md(h) for h in ["Model", "Family"]
                 + [_md_head(k, info[k]) for k in keys]],
        "rows": [[_md(name), _md(model["family"])] + [
            _md(_md_value(results, name, k, best[k], True)) for k in keys]
                 for name, model in models.items()]}
  all_metrics = None
  if models and any(k not in keys for k in info):
    all_metrics = {
        "head": [_md(name) for name in models],
        "rows": [[_md(f"{_md_head(k, info[k])} (`{k}`)")] + [
            _md(_md_value(results, name, k, best[k], False))
            for name in models] for k in info]}
  reading = [(_md_head(k, info[k]), k, info[k]["read"] or info[k]["help"])
             for k in info]
  return {"title": results["title"], "created": results["created"],
          "headline": headline, "notes": all_notes(results),
          "protocols": _protocols(results), "anchors": _md_anchors(results),
          "all_metrics": all_metrics, "reading": reading}


def render_markdown(results: Results) -> str:
  """report.md as a string (results normalised)."""
  return _templates().get_template("report.md.j2").render(
      md=_markdown_view(results))


# ----------------------------------------------------------------------------
# Entry point.


def _shown_audio(results: Results, max_audio: int) -> dict[str, str]:
  """{audio path: png path} of the audio the page shows (first max_audio of
  each model and kind)."""
  shown = [e["path"] for model in results["models"].values()
           for entries in model["audio"].values()
           for e in entries[:max_audio] if e.get("path")]
  return {rel: "plots/audio/" + slug(os.path.splitext(rel)[0]) + ".png"
          for rel in dict.fromkeys(shown)}


def write_report(report_dir: str, results: Mapping[str, Any],
                 title: str | None = None,
                 notes: str | list[str] | None = None, max_audio: int = 8,
                 progress: bool = False) -> dict[str, Any]:
  """Writes metrics.json, results.json, report.md, index.html and plots.

  Args:
    report_dir: Output folder (created). Audio must be inside it already or
      is copied in (absolute paths); see `eval.results`.
    results: The results dict (`eval.results`).
    title: Overrides results["title"].
    notes: A string or list of strings appended to results["notes"].
    max_audio: Most audio players (and spectrograms) per model and kind.
    progress: Show a tqdm bar while drawing spectrograms.

  Returns:
    Dict with the paths written ("index", "metrics", "results", "markdown")
    and "missing_links" (should be empty; see `check_links`).
  """
  os.makedirs(report_dir, exist_ok=True)
  results = normalise(results, report_dir, title=title, notes=notes)
  sample_rate = int(results["settings"].get("sample_rate") or 16000)
  results["settings"].setdefault("sample_rate", sample_rate)
  images, failed = plots.audio_figures(
      report_dir, _shown_audio(results, max_audio), sample_rate, progress)
  results["notes"] += failed
  figures = plots.summary_figures(results["models"], report_dir, sample_rate)
  paths: dict[str, Any] = {
      name: os.path.join(report_dir, file_name) for name, file_name in (
          ("metrics", "metrics.json"), ("results", "results.json"),
          ("markdown", "report.md"), ("index", "index.html"))}
  files.write_json(paths["metrics"], metrics_json(results))
  files.write_json(paths["results"], results)
  files.write_text(paths["markdown"], render_markdown(results))
  files.write_text(paths["index"], render_html(results, images, figures,
                                               max_audio))
  paths["missing_links"] = check_links(report_dir)
  if paths["missing_links"]:
    print(f"warning: {len(paths['missing_links'])} broken links in "
          f"{paths['index']}: {paths['missing_links'][:3]}", file=sys.stderr)
  return paths
