r"""Hyperparameter search with Optuna: `python -m common.tune`.

    python -m common.tune --family=samplernn --data_dir=data/bach \
        --study_dir=runs/tune --space=samplernn/spaces/small.json \
        --trials=12 --set=num_steps=800 --set=validate_every=200 \
        [--workers=2] [--storage=postgresql+psycopg://user@host/db] \
        [--pruner=median|hyperband] [--export_best=best.json]

Every trial trains the base config (`--config`, `--set`) with its own values
of the keys in the space file, in its own model directory under
`--study_dir`/trials/, and reports its validation NLL at every validation;
the pruner stops the trials that lag. The study is kept in
`--study_dir`/study.db (SQLite), or in `--storage`, which commands on
several machines share. Re-running the same command resumes, after Ctrl-C
or `kill -9`. Results: `--study_dir`/trials.csv and summary.html. All the
work is in `common.tuning`.
"""

from __future__ import annotations

from absl import flags

from common import cli
from common import config as config_lib
from common import corpus
from common import tune_report
from common import tune_space
from common import tuning
from common.train_errors import TrainingError

USER_ERRORS = (tuning.TuneError, tune_report.ExportError, TrainingError,
               corpus.PrepareError)


def define_flags() -> None:
  flags.DEFINE_string("family", None, "The model family searched.")
  flags.DEFINE_string("data_dir", None, "A corpus made by common.prepare.")
  flags.DEFINE_string("study_dir", None, "Where the trials' model "
                      "directories, the SQLite study and the results go.")
  flags.DEFINE_string("space", None, "The search space: a JSON file of "
                      "config keys, each with a distribution.")
  flags.DEFINE_integer("trials", None, "Finished (complete or pruned) "
                       "trials the study should hold.", lower_bound=1)
  flags.DEFINE_string("config", "small", "The base config: a preset name "
                      "or a JSON file.")
  flags.DEFINE_multi_string("set", [], "Override a key of the base config: "
                            "--set=num_steps=800 (value parsed as JSON).")
  flags.DEFINE_string("storage", None, "An SQLAlchemy URL of the study's "
                      "database, shared by every command that runs the "
                      "study (e.g. postgresql+psycopg://user@host:5432/db); "
                      "default: SQLite in --study_dir.")
  flags.DEFINE_string("study_name", None, "The study's name in the "
                      "storage; default: the study directory's name.")
  flags.DEFINE_integer("workers", 1, "Trials run at once, each in its own "
                       "process.", lower_bound=1)
  flags.DEFINE_enum("pruner", "median", ["median", "hyperband"],
                    "Which trials stop early at a validation.")
  flags.DEFINE_integer("startup_trials", 4, "Random trials before the TPE "
                       "sampler; the median pruner prunes nothing until "
                       "this many are complete.", lower_bound=0)
  flags.DEFINE_integer("heartbeat_seconds", 30, "A running trial's "
                       "heartbeat period; one silent for twice that (a "
                       "killed process) is queued again.", lower_bound=1)
  flags.DEFINE_bool("base_trial", True, "A new study's first trial trains "
                    "the base config's own values (when the space holds "
                    "them): the search against the base at equal steps.")
  flags.DEFINE_string("export_best", None, "Write the best trial's whole "
                      "config to this JSON file.")
  flags.DEFINE_bool("overwrite", False, "Replace an --export_best file that "
                    "holds another config.")
  flags.mark_flags_as_required(["family", "data_dir", "study_dir", "space",
                                "trials"])


def main(argv: list[str]) -> int:
  """Reads the flags into a search and runs it; returns the exit code."""
  del argv
  f = flags.FLAGS
  space = tune_space.read(f.space, f.family)
  base = config_lib.load(f.family, f.config,
                         config_lib.parse_overrides(f.set))
  search = tuning.Search(
      family=f.family, data_dir=f.data_dir, study_dir=f.study_dir,
      space=space, base_config=base, trials=f.trials, storage=f.storage,
      study_name=f.study_name, pruner=f.pruner,
      startup_trials=f.startup_trials,
      heartbeat_seconds=f.heartbeat_seconds, base_trial=f.base_trial)
  result = tuning.tune(search, workers=f.workers, export_best=f.export_best,
                       overwrite=f.overwrite)
  best = result["best"]
  if best is not None:
    print(f"best: trial {best.number}, {best.value:.4f} bits/sample")
  print(f"results: {result['csv']}, {result['html']}")
  if result["exported"]:
    print(f"best config: {result['exported']}")
  return 0


def run() -> None:
  cli.run(main, define_flags, __doc__, user_errors=USER_ERRORS)


if __name__ == "__main__":
  run()
