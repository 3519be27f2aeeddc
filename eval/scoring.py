"""Scoring folders of audio against a folder of real audio (the library of
`eval.score`, whose docstring says what is measured, and of `eval.compare`).

`score(real_dir, generated, report_dir, ...)` scores every folder and writes
the report; `pair_scores` scores generated audio against the real audio it
reconstructs or continues (the one path for both); `check_report_dir`,
`parse_generated`, `aggregate` and `load_folder` are its parts.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
from typing import Any, Iterable, Mapping, Sequence, TypeVar

import numpy as np

from common import audio as audio_io
from common import files
from eval import report

T = TypeVar("T")
# (path, path relative to its folder, float32 audio [samples])
Clip = tuple[str, str, np.ndarray]

MIN_SECONDS = 1.0
CHUNK_SECONDS = 5.0
REAL_NAME = "real"
# Keys of coherence_metrics that are averaged over files (+ sim_lag_*).
COHERENCE_KEYS = ("structure_z", "structure_score", "collapse_fraction",
                  "drift_slope_db_per_min", "drift_max_vs_first_db",
                  "drift_mean_vs_reference_db")
# Keys of reconstruction_metrics scored for continuations (as continuation_*):
# SNR and SI-SDR compare waveforms, which a free continuation need not match.
CONTINUATION_KEYS = ("mstft_sc_db", "mstft_logmag_l1", "lsd_db", "mcd_db",
                     "chroma_cos", "f0_rpa", "voicing_recall",
                     "voicing_false_alarm")
REPORT_ENTRIES = ("audio", "plots", "metrics.json", "results.json",
                  "report.md", "index.html")


class ScoreError(ValueError):
  """A user error; the message is one line."""


def parse_generated(values: Sequence[str] | None) -> dict[str, str]:
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


def check_report_dir(report_dir: str, overwrite: bool) -> None:
  """Makes sure a report may be written to `report_dir`.

  An absent or empty folder is fine; an earlier report (of score, compare
  or the demo) is removed, its files only, with `overwrite`.

  Raises:
    FileExistsError: not empty and not `overwrite`.
    ScoreError: a file, or a non-empty folder that holds no report.
  """
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


def _check_folder(path: str, what: str) -> None:
  if not os.path.isdir(path):
    raise ScoreError(f"{path}: {what} folder not found")


def _tqdm(iterable: Iterable[T], progress: bool, **kwargs: Any
          ) -> Iterable[T]:
  if not progress:
    return iterable
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  return tqdm(iterable, file=sys.stderr, leave=False, **kwargs)


def load_folder(folder: str, sample_rate: int, progress: bool = True,
                desc: str | None = None
                ) -> tuple[list[Clip], list[str]]:
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

  def __init__(self, report_dir: str):
    self.report_dir = report_dir
    self.done: dict[str, str] = {}
    self.taken: set[str] = set()

  def __call__(self, source: str, folder_name: str, rel: str) -> str:
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


def aggregate(per_file: Sequence[dict], keys: Sequence[str], seed: int
              ) -> tuple[dict, dict]:
  """Mean over files of each key, and its 95% bootstrap interval when
  more than one value is finite -> ({key: mean or None}, {key: [low,
  high]})."""
  from eval import metrics as metrics_lib  # pylint: disable=g-import-not-at-top
  means, cis = {}, {}
  for key in keys:
    values = [m.get(key, np.nan) for m in per_file]
    mean, low, high = metrics_lib.bootstrap_ci(values, seed=seed)
    means[key] = mean if np.isfinite(mean) else None
    if np.isfinite(mean) and sum(np.isfinite(values)) > 1:
      cis[key] = [low, high]
  return means, cis


def _fd(real_audios: list[np.ndarray], audios: list[np.ndarray],
        sample_rate: int) -> tuple[dict, list[str]]:
  from eval import coherence  # pylint: disable=g-import-not-at-top
  out: dict[str, float | None] = {}
  notes: list[str] = []
  for key, fn in (("fd_logmel", coherence.fd_logmel),
                  ("fd_mfcc", coherence.fd_mfcc)):
    try:
      out[key] = fn(real_audios, audios, sample_rate)
    except ValueError as e:
      out[key] = None
      notes.append(f"{key} not computed: {e}")
  return out, notes


def _real_halves(real_audios: list[np.ndarray]
                 ) -> tuple[list[np.ndarray], list[np.ndarray]]:
  if len(real_audios) >= 2:
    return real_audios[::2], real_audios[1::2]
  clip = real_audios[0]
  return [clip[:clip.size // 2]], [clip[clip.size // 2:]]


def _coherence_rows(clips: list[Clip], sample_rate: int,
                    reference_ltas: np.ndarray,
                    flatness_range: tuple[float, float], seed: int,
                    progress: bool, desc: str
                    ) -> tuple[list[dict], list[np.ndarray]]:
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


def _plots(rows: list[dict], curves: list[np.ndarray]) -> dict:
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
    times.append((i + 0.5) * CHUNK_SECONDS)
    drift_db.append(float(np.mean([c[i] for c in curves if len(c) > i])))
  plots = {"similarity_vs_lag": {"lags_s": lags, "values": values}}
  if longest >= 2:
    plots["drift"] = {"times_s": times, "drift_db": drift_db}
  return plots


@dataclasses.dataclass(frozen=True)
class Continuations:
  """A model's continuations of real clips, scored past the prime.

  Attributes:
    prompts: folder of the real clips.
    folder: folder of the continued clips, each named as its real clip;
      its first `prime_samples` are the real clip's own.
    prime_samples: samples (at the scoring rate) each file takes from its
      real clip; metrics cover the samples after them only.
  """
  prompts: str
  folder: str
  prime_samples: int


def pair_scores(pairs: Sequence[tuple[np.ndarray, np.ndarray]],
                sample_rate: int, seed: int, with_f0: bool,
                keys: Sequence[str] | None = None, start: int = 0,
                progress: bool = True, desc: str = ""
                ) -> tuple[dict, dict]:
  """The one scoring of generated audio against the real audio it remakes.

  Reconstructions (`start=0`) and continuations (`start` = the prime) are
  both scored here, from the files a user gets.

  Args:
    pairs: (real, generated) float audio `[samples]` each.
    sample_rate: Hz.
    seed: seed of the bootstrap.
    with_f0: compute pYIN f0 agreement (slow).
    keys: the `metrics.reconstruction_metrics` keys kept (None: all).
    start: samples skipped at the start of both.

  Returns:
    (means, 95% intervals) over pairs (`aggregate`).
  """
  from eval import metrics as metrics_lib  # pylint: disable=g-import-not-at-top
  rows = [metrics_lib.reconstruction_metrics(ref[start:], est[start:],
                                             sample_rate, with_f0=with_f0)
          for ref, est in _tqdm(pairs, progress, desc=desc, unit="pair")]
  return aggregate(rows, list(keys or rows[0]), seed)


def _originals_by_stem(folder: str, sample_rate: int, progress: bool,
                       desc: str) -> tuple[dict[str, Clip], list[str]]:
  """{stem: (path, rel, clip)} of a folder's audio, [skip notes]."""
  clips, skipped = load_folder(folder, sample_rate, progress, desc)
  by_stem: dict[str, Clip] = {}
  notes = list(skipped)
  for path, rel, clip in clips:
    stem = _stem(path)
    if stem in by_stem:
      notes.append(f"original {rel}: duplicate name {stem!r}, using "
                   f"{by_stem[stem][1]}")
      continue
    by_stem[stem] = (path, rel, clip)
  return by_stem, notes


def _stem(path: str) -> str:
  return os.path.splitext(os.path.basename(path))[0]


def _folder_row(name: str, folder: str, clips: list[Clip],
                skipped: list[str], real_audios: list[np.ndarray],
                originals: dict[str, Clip], copy: _Copier, sample_rate: int,
                calibration: tuple[np.ndarray, tuple[float, float]],
                seed: int, with_f0: bool, progress: bool) -> dict:
  """The row of one folder: coherence, FD, and its reconstructions."""
  from eval import coherence  # pylint: disable=g-import-not-at-top
  reference_ltas, flatness_range = calibration
  is_real = name == REAL_NAME
  notes = list(skipped)
  rows, curves = _coherence_rows(clips, sample_rate, reference_ltas,
                                 flatness_range, seed, progress, name)
  lag_keys = [f"sim_lag_{lag:g}s" for lag in coherence.DEFAULT_LAGS_SECONDS]
  values, cis = aggregate(rows, COHERENCE_KEYS + tuple(lag_keys), seed)
  usable = sum(np.isfinite(r["structure_z"]) for r in rows)
  if usable < len(rows):
    notes.append(f"structure_z defined for {usable} of {len(rows)} files "
                 "(needs >= 10 s of non-silent, varying audio)")
  audios = [clip for _, _, clip in clips]
  if is_real:
    halves = _real_halves(real_audios)
    fd, fd_notes = _fd(halves[0], halves[1], sample_rate)
    notes.append("fd_logmel/fd_mfcc: between two halves of the real "
                 "folder, for scale")
  else:
    fd, fd_notes = _fd(real_audios, audios, sample_rate)
  values.update(fd)
  notes += fd_notes
  kind = "clips" if is_real else "generations"
  audio: dict[str, list[dict]] = {kind: []}
  pairs: list[tuple[Clip, Clip]] = []
  for path, rel, clip in clips:
    if not is_real and _stem(path) in originals:
      pairs.append((originals[_stem(path)], (path, rel, clip)))
    else:
      audio[kind].append({"path": copy(path, name, rel), "label": rel})
  if pairs:
    recon_values, recon_cis = pair_scores(
        [(ref, est) for (_, _, ref), (_, _, est) in pairs], sample_rate,
        seed, with_f0, progress=progress, desc=f"reconstruction {name}")
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
  return {
      "family": "real" if is_real else "folder",
      "description": os.path.abspath(folder),
      "info": {"num_files": len(clips),
               "total_seconds": float(sum(a.size for a in audios)
                                      / sample_rate),
               "skipped_files": len(skipped)},
      "metrics": values, "ci": cis, "audio": audio,
      "plots": _plots(rows, curves), "notes": notes,
  }


def _continuation_part(name: str, continued: Continuations, copy: _Copier,
                       sample_rate: int, seed: int, with_f0: bool,
                       progress: bool) -> dict:
  """Metrics (`continuation_*`), audio and notes of a model's
  continuations; files are paired with their real clips by name."""
  prompts, notes = _originals_by_stem(continued.prompts, sample_rate,
                                      progress, f"{name} prompts")
  clips, skipped = load_folder(continued.folder, sample_rate, progress,
                               f"{name} continuations")
  notes += skipped
  pairs = [(prompts[_stem(p)], (p, r, c)) for p, r, c in clips
           if _stem(p) in prompts]
  if not pairs:
    raise ScoreError(f"{continued.folder}: no file is named as a real clip "
                     f"in {continued.prompts}")
  values, cis = pair_scores(
      [(ref, est) for (_, _, ref), (_, _, est) in pairs], sample_rate, seed,
      with_f0, keys=CONTINUATION_KEYS, start=continued.prime_samples,
      progress=progress, desc=f"continuation {name}")
  prime = continued.prime_samples / sample_rate
  return {
      "metrics": {"continuation_" + k: v for k, v in values.items()},
      "ci": {"continuation_" + k: v for k, v in cis.items()},
      "audio": {
          "prompts": [{"path": copy(p, f"{name}_prompts", r),
                       "label": f"{_stem(p)} (real)"}
                      for (p, r, _), _ in pairs],
          "continuations": [
              {"path": copy(p, f"{name}_continuations", r),
               "label": f"{_stem(p)}: {prime:g} s prime + continuation"}
              for _, (p, r, _) in pairs]},
      "notes": notes + [
          f"continuations: primed on the first {prime:g} s of {len(pairs)} "
          f"real clips; metrics over the continued part only "
          f"(continuation_* keys)"],
  }


def _check_inputs(real_dir: str, generated: Mapping[str, str],
                  reconstructions_of: str | None,
                  continuations: Mapping[str, Continuations]) -> None:
  if not generated and not continuations:
    raise ScoreError("no --generated folder given")
  for name in list(generated) + list(continuations):
    if not name or name == REAL_NAME:
      raise ScoreError(f"bad folder name {name!r}")
  _check_folder(real_dir, "--real")
  for name, folder in generated.items():
    _check_folder(folder, f"--generated {name}")
  if reconstructions_of:
    _check_folder(reconstructions_of, "--reconstructions_of")
  for name, continued in continuations.items():
    _check_folder(continued.prompts, f"prompts of {name}")
    _check_folder(continued.folder, f"continuations of {name}")


def _calibration(real_dir: str, real_audios: list[np.ndarray],
                 sample_rate: int, flatness_margin: float
                 ) -> tuple[np.ndarray, tuple[float, float]]:
  """(reference long-term spectrum, flatness range) of the real folder."""
  from eval import coherence  # pylint: disable=g-import-not-at-top
  try:
    flatness_range = coherence.flatness_percentiles(
        real_audios, sample_rate, CHUNK_SECONDS, margin=flatness_margin)
  except ValueError as e:
    raise ScoreError(f"{real_dir}: cannot calibrate collapse ({e})") from None
  return (coherence.ltas_db(np.concatenate(real_audios), sample_rate),
          flatness_range)


def score(real_dir: str, generated: Mapping[str, str], report_dir: str,
          reconstructions_of: str | None = None, sample_rate: int = 16000,
          seed: int = 0, overwrite: bool = False, with_f0: bool = True,
          flatness_margin: float = 10.0, title: str | None = None,
          progress: bool = True, max_audio: int = 8, write: bool = True,
          continuations: Mapping[str, Continuations] | None = None
          ) -> dict:
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
    continuations: {name: Continuations} scored into the row `name` (made
      if `generated` has no such folder) as `continuation_*` metrics, by
      the same `pair_scores` as reconstructions.

  Returns:
    The results dict passed to `report.write_report`.

  Raises:
    ScoreError: a missing folder, a folder without usable audio, bad names.
    FileExistsError: `report_dir` is not empty and not `overwrite`.
  """
  generated, continuations = dict(generated), dict(continuations or {})
  _check_inputs(real_dir, generated, reconstructions_of, continuations)
  if write:
    check_report_dir(report_dir, overwrite)

  real, real_skipped = load_folder(real_dir, sample_rate, progress, REAL_NAME)
  real_audios = [clip for _, _, clip in real]
  folders = {name: load_folder(folder, sample_rate, progress, name)
             for name, folder in generated.items()}
  originals: dict[str, Clip] = {}
  original_notes: list[str] = []
  if reconstructions_of:
    originals, original_notes = _originals_by_stem(
        reconstructions_of, sample_rate, progress, "originals")
  calibration = _calibration(real_dir, real_audios, sample_rate,
                             flatness_margin)

  os.makedirs(report_dir, exist_ok=True)
  copy = _Copier(report_dir)
  models = {}
  rows_in_order = [(REAL_NAME, real_dir, real, real_skipped)] + [
      (name, generated[name], clips, skipped)
      for name, (clips, skipped) in folders.items()]
  for name, folder, clips, skipped in rows_in_order:
    models[name] = _folder_row(name, folder, clips, skipped, real_audios,
                               originals, copy, sample_rate, calibration,
                               seed, with_f0, progress)
  for name, continued in continuations.items():
    part = _continuation_part(name, continued, copy, sample_rate, seed,
                              with_f0, progress)
    row = models.setdefault(name, {
        "family": "folder", "description": os.path.abspath(continued.folder),
        "metrics": {}, "ci": {}, "audio": {}, "plots": {}, "notes": []})
    for key in ("metrics", "ci", "audio"):
      row[key].update(part[key])
    row["notes"] += part["notes"]

  results = {
      "title": title or ("Scores: " + ", ".join(
          n for n in models if n != REAL_NAME) + " vs "
                         + os.path.basename(os.path.abspath(real_dir))),
      "notes": _result_notes(original_notes, reconstructions_of, models),
      "settings": _settings(real_dir, generated, reconstructions_of,
                            sample_rate, seed, calibration[1],
                            flatness_margin, with_f0),
      "models": models,
  }
  if not write:
    return results
  written = report.write_report(report_dir, results, max_audio=max_audio,
                                progress=progress)
  results["paths"] = {k: v for k, v in written.items()
                      if k != "missing_links"}
  return results


def _result_notes(original_notes: list[str], reconstructions_of: str | None,
                  models: dict[str, dict]) -> list[str]:
  notes = [f"originals: {n}" for n in original_notes]
  if reconstructions_of and not any(
      "reconstructions" in m["audio"] for m in models.values()):
    notes.append(f"no generated file name matches an original in "
                 f"{reconstructions_of}: no reconstruction metrics")
  return notes


def _settings(real_dir: str, generated: Mapping[str, str],
              reconstructions_of: str | None, sample_rate: int, seed: int,
              flatness_range: tuple[float, float], flatness_margin: float,
              with_f0: bool) -> dict:
  env = report.environment()
  return {
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
