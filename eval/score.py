"""Scores folders of audio against a folder of real audio; no model needed.

    python -m eval.score --real=DIR --generated=NAME=DIR [--generated=...] \\
        --report_dir=OUT [--reconstructions_of=DIR] [--sample_rate=16000] \\
        [--seed=0] [--overwrite] [--nof0] [--flatness_margin=10]

For every folder (the real one included, as the reference row):

* coherence metrics per file (`eval.coherence.coherence_metrics`:
  structure_z, collapse_fraction, drift, similarity at each lag), averaged
  over files with a 95% percentile-bootstrap interval (`metrics.bootstrap_ci`,
  1000 resamples, seeded). The collapse flatness range is the 1st..99th
  percentile of the real folder's 5 s chunks widened by `flatness_margin`
  (default 10: model output with an 8-bit mu-law noise floor is not called
  collapsed; white noise still is); the drift reference is the real folder's
  long-term spectrum.
* fd_logmel / fd_mfcc of the folder's pooled 1 s windows against the real
  folder's (no CI). For the real row: between alternate files of the real
  folder (or the two halves of a single real file), for scale (with half
  the windows it reads high).
* with --reconstructions_of=DIR: files whose stem (file name without
  extension) matches an original's are scored as reconstructions of it
  (`metrics.reconstruction_metrics`, mean + CI); they appear as
  reconstructions on the page, the rest as generations. pYIN f0 is slow
  (~1 s per second of audio); --nof0 skips it (f0_rpa is then null).

Files are found with `common.audio.find_audio_files` (recursive, known
extensions) and loaded with `common.audio.load` (mono, resampled). A file
that cannot be decoded, or is shorter than 1 s, is skipped with a warning on
stderr and a note in the report; a folder with no usable file is an error.
The scored audio is copied into OUT/audio/ so the report is self-contained;
then `eval.report.write_report` writes metrics.json, results.json, report.md
and index.html. An existing non-empty OUT is refused unless --overwrite (which
removes the previous report's files, and nothing else, first).
"""

import os
import shutil
import sys
import warnings

from absl import flags
import numpy as np

from common import audio as audio_io
from common import files
from eval import report

MIN_SECONDS = 1.0
CHUNK_SECONDS = 5.0
REAL_NAME = "real"
# Keys of coherence_metrics that are averaged over files (+ sim_lag_*).
COHERENCE_KEYS = ("structure_z", "structure_score", "collapse_fraction",
                  "drift_slope_db_per_min", "drift_max_vs_first_db",
                  "drift_mean_vs_reference_db")
REPORT_ENTRIES = ("audio", "plots", "metrics.json", "results.json",
                  "report.md", "index.html")


class ScoreError(ValueError):
  """A user error; the message is one line."""


def parse_generated(values):
  """["NAME=DIR" or "DIR", ...] -> {name: dir} (ordered); ScoreError if bad."""
  out = {}
  for value in values or []:
    name, sep, path = value.partition("=")
    if not sep:
      name, path = os.path.basename(os.path.normpath(value)), value
    name, path = name.strip(), path.strip()
    if not name or not path:
      raise ScoreError(f"--generated={value!r}: expected NAME=DIR")
    if name in out or name == REAL_NAME:
      raise ScoreError(f"--generated: name {name!r} used twice (or is the "
                       f"reserved name {REAL_NAME!r})")
    out[name] = path
  return out


def _check_report_dir(report_dir, overwrite):
  if os.path.isfile(report_dir):
    raise ScoreError(f"{report_dir}: is a file, not a folder")
  if os.path.isdir(report_dir) and os.listdir(report_dir):
    if not overwrite:
      raise FileExistsError(f"{report_dir}: not empty; pass --overwrite to "
                            "replace the report in it")
    # An earlier report (of score or compare), or a folder eval.demo claimed.
    if not any(os.path.isfile(os.path.join(report_dir, marker))
               for marker in ("metrics.json", "results.json", "demo.json")):
      raise ScoreError(f"{report_dir}: not empty and holds no report "
                       f"(no metrics.json); --overwrite only replaces an "
                       f"earlier report: choose an empty --report_dir")
    for entry in REPORT_ENTRIES:
      path = os.path.join(report_dir, entry)
      if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
      elif os.path.lexists(path):
        os.remove(path)


def _check_folder(path, what):
  if not os.path.isdir(path):
    raise ScoreError(f"{path}: {what} folder not found")


def _tqdm(iterable, progress, **kwargs):
  if not progress:
    return iterable
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  return tqdm(iterable, file=sys.stderr, leave=False, **kwargs)


def load_folder(folder, sample_rate, progress=True, desc=None):
  """[(path, relative path, audio)], [skip notes] of a folder's audio files."""
  clips, skipped = [], []
  paths = audio_io.find_audio_files([folder])
  for path in _tqdm(paths, progress, desc=f"loading {desc or folder}",
                    unit="file"):
    rel = os.path.relpath(path, folder)
    try:
      clip = audio_io.load(path, sample_rate)
    except audio_io.AudioError as e:
      skipped.append(f"skipped {e}")
      continue
    if clip.size < MIN_SECONDS * sample_rate:
      skipped.append(f"skipped {path}: shorter than {MIN_SECONDS:g} s "
                     f"({clip.size / sample_rate:.2f} s)")
      continue
    clips.append((path, rel, clip))
  for note in skipped:
    print(f"warning: {note}", file=sys.stderr)
  if not clips:
    reason = f" ({len(skipped)} unusable)" if skipped else ""
    raise ScoreError(f"{folder}: no usable audio files{reason}")
  return clips, skipped


class _Copier:
  """Copies scored files into report_dir/audio/, each source once."""

  def __init__(self, report_dir):
    self.report_dir = report_dir
    self.done = {}
    self.taken = set()

  def __call__(self, source, folder_name, rel):
    source = os.path.abspath(source)
    if source in self.done:
      return self.done[source]
    parts = [report.slug(p) for p in rel.replace(os.sep, "/").split("/")]
    stem, ext = os.path.splitext(parts[-1])
    base = "/".join(["audio", report.slug(folder_name)] + parts[:-1] + [stem])
    dest, n = f"{base}{ext.lower()}", 1
    while dest in self.taken:
      n += 1
      dest = f"{base}_{n}{ext.lower()}"
    self.taken.add(dest)
    full = os.path.join(self.report_dir, dest)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with files.atomic_path(full) as tmp:
      shutil.copyfile(source, tmp)
    self.done[source] = dest
    return dest


def _aggregate(per_file, keys, seed):
  """Mean and CI of each key over files -> (metrics, ci)."""
  from eval import metrics as metrics_lib  # pylint: disable=g-import-not-at-top
  means, cis = {}, {}
  for key in keys:
    values = [m.get(key, np.nan) for m in per_file]
    mean, low, high = metrics_lib.bootstrap_ci(values, seed=seed)
    means[key] = mean if np.isfinite(mean) else None
    if np.isfinite(mean) and sum(np.isfinite(values)) > 1:
      cis[key] = [low, high]
  return means, cis


def _fd(real_audios, audios, sample_rate):
  from eval import coherence  # pylint: disable=g-import-not-at-top
  out, notes = {}, []
  for key, fn in (("fd_logmel", coherence.fd_logmel),
                  ("fd_mfcc", coherence.fd_mfcc)):
    try:
      out[key] = fn(real_audios, audios, sample_rate)
    except ValueError as e:
      out[key] = None
      notes.append(f"{key} not computed: {e}")
  return out, notes


def _real_halves(real_audios):
  if len(real_audios) >= 2:
    return real_audios[::2], real_audios[1::2]
  clip = real_audios[0]
  return [clip[:clip.size // 2]], [clip[clip.size // 2:]]


def _coherence_rows(clips, sample_rate, reference_ltas, flatness_range, seed,
                    progress, desc):
  """Per-file coherence metrics and drift curves."""
  from eval import coherence  # pylint: disable=g-import-not-at-top
  rows, curves = [], []
  for _, _, clip in _tqdm(clips, progress, desc=f"coherence {desc}",
                          unit="file"):
    rows.append(coherence.coherence_metrics(
        clip, sample_rate, reference_ltas=reference_ltas,
        flatness_range=flatness_range, chunk_seconds=CHUNK_SECONDS,
        seed=seed))
    curves.append(np.asarray(coherence.drift(
        clip, sample_rate, CHUNK_SECONDS, reference_ltas)["drift_vs_first_db"]))
  return rows, curves


def _plots(rows, curves):
  from eval import coherence  # pylint: disable=g-import-not-at-top
  lags, values = [], []
  for lag in coherence.DEFAULT_LAGS_SECONDS:
    column = np.array([r.get(f"sim_lag_{lag:g}s", np.nan) for r in rows],
                      dtype=np.float64)
    if np.any(np.isfinite(column)):
      lags.append(float(lag))
      values.append(float(np.nanmean(column)))
  longest = max(len(c) for c in curves)
  times, drift_db = [], []
  for i in range(longest):
    column = [c[i] for c in curves if len(c) > i]
    times.append((i + 0.5) * CHUNK_SECONDS)
    drift_db.append(float(np.mean(column)))
  plots = {"similarity_vs_lag": {"lags_s": lags, "values": values}}
  if longest >= 2:
    plots["drift"] = {"times_s": times, "drift_db": drift_db}
  return plots


def score(real_dir, generated, report_dir, reconstructions_of=None,
          sample_rate=16000, seed=0, overwrite=False, with_f0=True,
          flatness_margin=10.0, title=None, progress=True, max_audio=8,
          write=True):
  """Scores folders against real audio and writes a report; see module doc.

  Args:
    real_dir: Folder of real audio (the reference).
    generated: {name: folder} of audio to score, in display order.
    report_dir: Output folder (must be empty or absent unless `overwrite`).
    reconstructions_of: Optional folder of originals; generated files with a
      matching stem are scored as their reconstructions.
    sample_rate: Rate everything is loaded at, Hz.
    seed: Seed of the structure null and the bootstrap.
    overwrite: Replace a previous report in `report_dir`.
    with_f0: Compute pYIN f0 agreement for reconstructions (slow).
    flatness_margin: Widening factor of the real flatness range (collapse).
    title: Page title.
    progress: tqdm bars on stderr.
    max_audio: Most players per folder on the page (all files are copied).
    write: write the report; False returns the results dict (audio already
      copied into `report_dir/audio/`) for a caller that adds to it, as
      `eval.compare` does, and skips the check that report_dir is empty.

  Returns:
    The results dict passed to `report.write_report`.

  Raises:
    ScoreError: a missing folder, a folder without usable audio, bad names.
    FileExistsError: `report_dir` is not empty and not `overwrite`.
  """
  from eval import coherence  # pylint: disable=g-import-not-at-top
  from eval import metrics as metrics_lib  # pylint: disable=g-import-not-at-top
  generated = dict(generated)
  if not generated:
    raise ScoreError("no --generated folder given")
  for name in generated:
    if not name or name == REAL_NAME:
      raise ScoreError(f"bad folder name {name!r}")
  _check_folder(real_dir, "--real")
  for name, folder in generated.items():
    _check_folder(folder, f"--generated {name}")
  if reconstructions_of:
    _check_folder(reconstructions_of, "--reconstructions_of")
  if write:
    _check_report_dir(report_dir, overwrite)

  real, real_skipped = load_folder(real_dir, sample_rate, progress, REAL_NAME)
  real_audios = [clip for _, _, clip in real]
  folders = {}
  for name, folder in generated.items():
    folders[name] = load_folder(folder, sample_rate, progress, name)
  originals, original_skipped = {}, []
  if reconstructions_of:
    loaded, original_skipped = load_folder(reconstructions_of, sample_rate,
                                           progress, "originals")
    for path, rel, clip in loaded:
      stem = os.path.splitext(os.path.basename(path))[0]
      if stem in originals:
        original_skipped.append(f"original {rel}: duplicate name {stem!r}, "
                                f"using {originals[stem][1]}")
        continue
      originals[stem] = (path, rel, clip)

  try:
    flatness_range = coherence.flatness_percentiles(
        real_audios, sample_rate, CHUNK_SECONDS, margin=flatness_margin)
  except ValueError as e:
    raise ScoreError(f"{real_dir}: cannot calibrate collapse ({e})") from None
  reference_ltas = coherence.ltas_db(np.concatenate(real_audios), sample_rate)

  os.makedirs(report_dir, exist_ok=True)
  copy = _Copier(report_dir)
  lag_keys = [f"sim_lag_{lag:g}s" for lag in coherence.DEFAULT_LAGS_SECONDS]
  models = {}
  rows_in_order = [(REAL_NAME, real_dir, real, real_skipped)] + [
      (name, generated[name], clips, skipped)
      for name, (clips, skipped) in folders.items()]
  for name, folder, clips, skipped in rows_in_order:
    is_real = name == REAL_NAME
    notes = list(skipped)
    rows, curves = _coherence_rows(clips, sample_rate, reference_ltas,
                                   flatness_range, seed, progress, name)
    values, cis = _aggregate(rows, COHERENCE_KEYS + tuple(lag_keys), seed)
    usable = sum(np.isfinite(r["structure_z"]) for r in rows)
    if usable < len(rows):
      notes.append(f"structure_z defined for {usable} of {len(rows)} files "
                   "(needs >= 10 s of non-silent, varying audio)")
    audios = [clip for _, _, clip in clips]
    if is_real:
      fd, fd_notes = _fd(*_real_halves(real_audios), sample_rate)
      notes.append("fd_logmel/fd_mfcc: between two halves of the real "
                   "folder, for scale")
    else:
      fd, fd_notes = _fd(real_audios, audios, sample_rate)
    values.update(fd)
    notes += fd_notes

    audio = {"clips" if is_real else "generations": []}
    pairs = []
    for path, rel, clip in clips:
      stem = os.path.splitext(os.path.basename(path))[0]
      if not is_real and stem in originals:
        pairs.append((originals[stem], (path, rel, clip)))
      else:
        audio["clips" if is_real else "generations"].append(
            {"path": copy(path, name, rel), "label": rel})
    if pairs:
      recon_rows = []
      for (_, _, ref), (_, _, est) in _tqdm(pairs, progress,
                                            desc=f"reconstruction {name}",
                                            unit="pair"):
        recon_rows.append(metrics_lib.reconstruction_metrics(
            ref, est, sample_rate, with_f0=with_f0))
      recon_values, recon_cis = _aggregate(recon_rows, list(recon_rows[0]),
                                           seed)
      values.update(recon_values)
      cis.update(recon_cis)
      audio["originals"] = [{"path": copy(p, "originals", r), "label": r}
                            for (p, r, _), _ in pairs]
      audio["reconstructions"] = [{"path": copy(p, name, r), "label": r}
                                  for _, (p, r, _) in pairs]
      notes.append(f"{len(pairs)} files scored as reconstructions (matched "
                   "to originals by name)")
      if not with_f0:
        notes.append("f0 not computed (--nof0)")
    models[name] = {
        "family": "real" if is_real else "folder",
        "description": os.path.abspath(folder),
        "info": {"num_files": len(clips),
                 "total_seconds": float(sum(a.size for a in audios)
                                        / sample_rate),
                 "skipped_files": len(skipped)},
        "metrics": values, "ci": cis, "audio": audio,
        "plots": _plots(rows, curves), "notes": notes,
    }

  env = report.environment()
  settings = {
      "tool": "eval.score",
      "real": os.path.abspath(real_dir),
      "generated": {n: os.path.abspath(f) for n, f in generated.items()},
      "reconstructions_of": (os.path.abspath(reconstructions_of)
                             if reconstructions_of else None),
      "sample_rate": sample_rate, "seed": seed,
      "chunk_seconds": CHUNK_SECONDS,
      "flatness_range": [float(v) for v in flatness_range],
      "flatness_margin": flatness_margin, "f0": with_f0,
      "bootstrap": "mean over files, 95% percentile bootstrap, 1000 resamples",
      "versions": env["versions"], "machine": env["machine"],
  }
  result_notes = [f"originals: {n}" for n in original_skipped]
  if reconstructions_of and not any(
      "reconstructions" in m["audio"] for m in models.values()):
    result_notes.append(f"no generated file name matches an original in "
                        f"{reconstructions_of}: no reconstruction metrics")
  results = {
      "title": title or ("Scores: " + ", ".join(generated) + " vs "
                         + os.path.basename(os.path.abspath(real_dir))),
      "notes": result_notes,
      "settings": settings, "models": models,
  }
  if not write:
    return results
  written = report.write_report(report_dir, results, max_audio=max_audio,
                                progress=progress)
  results["paths"] = {k: v for k, v in written.items()
                      if k != "missing_links"}
  return results


# ----------------------------------------------------------------------------
# Command line.

FLAGS = flags.FLAGS


def define_flags():
  """The CLI's flags (defined only when run as a script)."""
  flags.DEFINE_string("real", None, "Folder of real audio: the reference.")
  flags.DEFINE_multi_string(
      "generated", [], "NAME=DIR of audio to score (repeatable); a bare DIR is "
      "named after its folder.")
  flags.DEFINE_string("report_dir", None, "Output folder of the report.")
  flags.DEFINE_string("reconstructions_of", None,
                      "Folder of originals: generated files with the same stem "
                      "are scored as their reconstructions.")
  flags.DEFINE_integer("sample_rate", 16000, "Rate audio is loaded at (Hz).")
  flags.DEFINE_integer("seed", 0, "Seed of the structure null and bootstrap.")
  flags.DEFINE_bool("overwrite", False,
                    "Replace an existing report in --report_dir.")
  flags.DEFINE_bool("f0", True, "pYIN f0 agreement of reconstructions (slow).")
  flags.DEFINE_float("flatness_margin", 10.0,
                     "Widening of the real flatness range for collapse.")
  flags.DEFINE_integer("max_audio", 8, "Most players per folder on the page.")
  flags.DEFINE_string("title", None, "Page title.")


def main(argv):
  warnings.filterwarnings("ignore", category=UserWarning, module="librosa")
  warnings.filterwarnings("ignore", message="Trying to estimate tuning")
  if len(argv) > 1:
    print(f"error: unexpected arguments {' '.join(argv[1:])}",
          file=sys.stderr)
    return 2
  if not FLAGS.real or not FLAGS.report_dir or not FLAGS.generated:
    print("error: --real, --generated and --report_dir are required; see "
          "--help", file=sys.stderr)
    return 2
  results = score(FLAGS.real, parse_generated(FLAGS.generated),
                  FLAGS.report_dir, FLAGS.reconstructions_of,
                  FLAGS.sample_rate, FLAGS.seed, FLAGS.overwrite, FLAGS.f0,
                  FLAGS.flatness_margin, FLAGS.title,
                  progress=True, max_audio=FLAGS.max_audio)
  for name, model in results["models"].items():
    m = model["metrics"]
    print(f"{name:>16}: structure_z {report.fmt(m.get('structure_z'))}  "
          f"collapse {report.fmt(m.get('collapse_fraction'))}  "
          f"fd_logmel {report.fmt(m.get('fd_logmel'))}"
          + (f"  lsd {report.fmt(m['lsd_db'])} dB" if "lsd_db" in m else ""))
  print(f"report: {os.path.abspath(results['paths']['index'])}")
  return 0


def run():
  """Console-script entry point (`neuralsynth-score`)."""
  from common import cli  # pylint: disable=g-import-not-at-top
  cli.run(main, define_flags, __doc__, user_errors=(ScoreError,))


if __name__ == "__main__":
  run()
