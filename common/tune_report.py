"""The results of a hyperparameter search (`common.tuning`).

Written into the study directory, atomically, whenever a trial ends:

- `trials.csv`: one row per trial: number, status (complete, pruned,
  failed, running, waiting), best validation NLL (bits per sample) and the
  step it was reached at, the steps trained, one column per searched key
  (lists as JSON), the trial it retries, seconds, the worker (host:pid),
  its model directory and a note (why it failed);
- `summary.html`: the best trial, the same table (best first), the
  validation curves (`curves.png`), the space and the base config; rendered
  from `common/templates/tune.html.j2` in the report's style
  (`eval/templates/report.css`), autoescaped.

`export_best` writes the best complete trial's whole config as JSON, for a
full training run (`<family>.train --config=FILE.json`).
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import math
import os
from typing import TYPE_CHECKING, Any, Sequence

import jinja2
import optuna
import sqlalchemy.engine

from common import files

if TYPE_CHECKING:
  from common.tuning import Search

State = optuna.trial.TrialState
FrozenTrial = optuna.trial.FrozenTrial
CSV_NAME = "trials.csv"
HTML_NAME = "summary.html"
CURVES_NAME = "curves.png"
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEMPLATE_DIRS = (os.path.join(_ROOT, "common", "templates"),
                 os.path.join(_ROOT, "eval", "templates"))
_STATUS = {State.COMPLETE: "complete", State.PRUNED: "pruned",
           State.FAIL: "failed", State.RUNNING: "running",
           State.WAITING: "waiting"}


def safe_url(url: str) -> str:
  """A storage URL with its password hidden."""
  return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)


def result_paths(study_dir: str) -> tuple[str, str]:
  """(trials.csv, summary.html) of a study directory."""
  return (os.path.join(study_dir, CSV_NAME),
          os.path.join(study_dir, HTML_NAME))


# ---------------------------------------------------------------------------
# Trials as rows.


def best_trial(trials: Sequence[FrozenTrial]) -> FrozenTrial | None:
  """The complete trial with the lowest value (earliest on a tie)."""
  complete = [t for t in trials if t.state == State.COMPLETE
              and t.value is not None]
  return min(complete, key=lambda t: (t.value, t.number), default=None)


def best_validation(trial: FrozenTrial) -> tuple[float | None, int | None]:
  """(lowest reported validation NLL in bits/sample, its step), or Nones."""
  if not trial.intermediate_values:
    return None, None
  step = min(trial.intermediate_values,
             key=lambda s: (trial.intermediate_values[s], s))
  return trial.intermediate_values[step], step


def steps(trial: FrozenTrial) -> int | None:
  """Training steps done: the run's last step once it ended, else the step
  of its last validation."""
  if "steps" in trial.user_attrs:
    return int(trial.user_attrs["steps"])
  return max(trial.intermediate_values, default=None)


def note(trial: FrozenTrial) -> str:
  """Why a trial failed, else how it ended (and if it is the base)."""
  base = "the base config's values; " if trial.user_attrs.get("base") else ""
  if trial.user_attrs.get("surplus"):
    return "not run: enough trials were done or running when it started"
  if "error" in trial.user_attrs:
    return str(trial.user_attrs["error"])
  if trial.state == State.FAIL:
    return base + "stopped (killed or interrupted); queued again"
  return base + str(trial.user_attrs.get("stop_reason", ""))


def _param(value: Any) -> str:
  """A value as a CSV cell or in a line: strings as they are (list choices
  are stored as JSON text), other values as JSON (`false`, `0.001`)."""
  return value if isinstance(value, str) else json.dumps(value)


def trial_row(trial: FrozenTrial, names: Sequence[str]) -> dict[str, Any]:
  """One trial as a flat dict (the CSV's columns)."""
  nll, at = best_validation(trial)
  seconds = None
  if trial.datetime_start is not None:
    end = trial.datetime_complete or datetime.datetime.now()
    seconds = round((end - trial.datetime_start).total_seconds(), 1)
  row: dict[str, Any] = dict(
      number=trial.number, status=_STATUS.get(trial.state, trial.state.name),
      best_val_nll_bits=None if nll is None else round(nll, 6),
      best_step=at, steps=steps(trial))
  for name in names:
    row[name] = trial.params.get(name)
  row.update(retry_of=trial.system_attrs.get("failed_trial"),
             seconds=seconds, worker=trial.user_attrs.get("worker"),
             model_dir=trial.user_attrs.get("model_dir"), note=note(trial))
  return row


def trial_line(trial: FrozenTrial) -> str:
  """One line for a trial that ended, e.g. "trial 3 pruned at step 400:
  best 6.1234 bits/sample (learning_rate=0.001, ...)"."""
  nll, at = best_validation(trial)
  status = _STATUS.get(trial.state, trial.state.name)
  text = f"trial {trial.number} {status}"
  if trial.state != State.COMPLETE:
    text += f" at step {steps(trial)}" if steps(trial) is not None else ""
  if nll is not None:
    text += f": best {nll:.4f} bits/sample at step {at}"
  params = ", ".join(f"{k}={_fmt(v)}" for k, v in trial.params.items())
  text += f" ({params})" if params else ""
  if trial.state == State.FAIL:
    text += f"; {note(trial)}"
  return text


def csv_text(rows: Sequence[dict[str, Any]]) -> str:
  """The rows as CSV (a header of their keys; empty cells for None)."""
  out = io.StringIO()
  if rows:
    writer = csv.DictWriter(out, fieldnames=list(rows[0]),
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if v is None else _param(v)
                      for k, v in row.items()} for row in rows)
  return out.getvalue()


# ---------------------------------------------------------------------------
# The summary page.


def draw_curves(path: str, trials: Sequence[FrozenTrial]) -> bool:
  """Validation NLL (bits/sample) against step, a line per trial (pruned
  dashed, the best thick) into a PNG; False if no trial reported."""
  reported = [t for t in trials if t.intermediate_values]
  if not reported:
    return False
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg", force=False)
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  fig = Figure(figsize=(8, 4.2), dpi=100)
  ax = fig.add_subplot(1, 1, 1)
  best = best_trial(trials)
  for trial in reported:
    points = sorted(trial.intermediate_values.items())
    is_best = best is not None and trial.number == best.number
    ax.plot([s for s, _ in points], [v for _, v in points],
            linestyle="--" if trial.state == State.PRUNED else "-",
            linewidth=2.6 if is_best else 1.2, marker=".",
            label=f"{trial.number}" + (" (best)" if is_best else ""))
  from matplotlib import ticker  # pylint: disable=g-import-not-at-top
  ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
  ax.set_xlabel("training step")
  ax.set_ylabel("validation NLL (bits/sample)")
  ax.grid(alpha=0.3)
  if len(reported) <= 16:
    ax.legend(title="trial", fontsize="small", ncol=2)
  fig.tight_layout()
  with files.atomic_path(path) as tmp:
    fig.savefig(tmp, format="png", facecolor="white")
  return True


def _templates() -> jinja2.Environment:
  return jinja2.Environment(
      loader=jinja2.FileSystemLoader(list(TEMPLATE_DIRS)),
      autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",),
                                          default_for_string=True),
      undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
      keep_trailing_newline=True)


def _fmt(value: Any, digits: str = ".4g") -> str:
  """A table cell: floats to `digits`, None as a dash, others as JSON."""
  if value is None:
    return "\u2014"
  if isinstance(value, float) and math.isfinite(value):
    return format(value, digits)
  return _param(value)


def page_view(search: Search, trials: Sequence[FrozenTrial],
              curves: str | None) -> dict[str, Any]:
  """Everything templates/tune.html.j2 shows, as plain data."""
  names = list(search.space)
  rows = [trial_row(t, names) for t in trials]
  order = sorted(rows, key=lambda r: (r["best_val_nll_bits"] is None,
                                      r["best_val_nll_bits"] or 0.0,
                                      r["number"]))
  best = best_trial(trials)
  counts: dict[str, int] = {}
  for row in rows:
    counts[row["status"]] = counts.get(row["status"], 0) + 1
  columns = (["number", "status", "best_val_nll_bits", "best_step", "steps"]
             + names + ["retry_of", "seconds", "worker", "note"])
  return dict(
      title=f"Hyperparameter search: {search.name}",
      family=search.family, storage=safe_url(search.url),
      done=counts.get("complete", 0) + counts.get("pruned", 0),
      wanted=search.trials, counts=sorted(counts.items()),
      updated=datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
      pruner=search.pruner,
      param_names=names,
      highlights=[_highlight(label, trial, names) for label, trial in (
          ("best", best), ("base config", _base_trial(trials)))
                  if trial is not None],
      columns=columns,
      rows=[dict(cells=[_fmt(r[c], ".4f" if c == "best_val_nll_bits"
                             else ".4g") for c in columns],
                 best=best is not None and r["number"] == best.number)
            for r in order],
      curves=curves,
      space=[(name, dist.describe()) for name, dist in search.space.items()],
      base_config=json.dumps(search.base_config, indent=2))


def _base_trial(trials: Sequence[FrozenTrial]) -> FrozenTrial | None:
  """The trial of the base config's own values (the last retry of it)."""
  return max((t for t in trials if t.user_attrs.get("base")),
             key=lambda t: t.number, default=None)


def _highlight(label: str, trial: FrozenTrial,
               names: Sequence[str]) -> dict[str, Any]:
  """A row of the summary's table: the best or the base trial."""
  nll, at = best_validation(trial)
  return dict(label=label, number=trial.number,
              status=_STATUS.get(trial.state, trial.state.name),
              value=_fmt(nll, ".4f"), step=at, steps=steps(trial),
              params=[_fmt(trial.params.get(n)) for n in names])


def render_html(view: dict[str, Any]) -> str:
  return _templates().get_template("tune.html.j2").render(page=view)


def write_results(search: Search, trials: Sequence[FrozenTrial]) -> None:
  """Writes trials.csv, curves.png and summary.html into the study dir."""
  csv_path, html_path = result_paths(search.study_dir)
  files.write_text(csv_path, csv_text(
      [trial_row(t, list(search.space)) for t in trials]))
  curves = draw_curves(os.path.join(search.study_dir, CURVES_NAME), trials)
  files.write_text(html_path, render_html(
      page_view(search, trials, CURVES_NAME if curves else None)))


# ---------------------------------------------------------------------------
# The best config.


class ExportError(RuntimeError):
  """The best config cannot be exported (the message says why)."""


def best_config(trials: Sequence[FrozenTrial]) -> dict:
  """The whole config the best complete trial trained.

  Raises:
    ExportError: no trial is complete.
  """
  best = best_trial(trials)
  if best is None:
    raise ExportError("no trial is complete yet: nothing to export")
  return dict(best.user_attrs["config"])


def _holds(path: str, config: dict) -> bool:
  try:
    return files.read_json(path) == json.loads(json.dumps(config))
  except (OSError, ValueError):
    return False


def check_export(path: str, trials: Sequence[FrozenTrial]) -> None:
  """Refuses (FileExistsError) an existing `path` that does not already
  hold the current best config (so a finished search may be re-run)."""
  best = best_trial(trials)
  if os.path.exists(path) and (best is None or not _holds(
      path, best_config(trials))):
    files.refuse_overwrite(path)


def export_best(trials: Sequence[FrozenTrial], path: str,
                overwrite: bool = False) -> str:
  """Writes the best complete trial's config to `path` (atomically) and
  returns the path. An existing file holding the same config is left as
  it is; one holding anything else is replaced only with `overwrite`.

  Raises:
    ExportError: no trial is complete.
    FileExistsError: `path` holds something else and not `overwrite`.
  """
  config = best_config(trials)
  if os.path.exists(path) and _holds(path, config):
    return path
  files.refuse_overwrite(path, overwrite)
  files.write_json(path, config)
  return path
