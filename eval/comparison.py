"""Comparing trained models side by side (the library of `eval.compare`,
whose docstring says what is measured, and of `eval.demo`).

`compare(models, data_dir, report_dir, ...)` makes every model's audio
through its generator, scores it with `eval.scoring` and writes the report;
`likelihood`, `real_crops`, `summary_text` and `USER_ERRORS` are its parts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import tempfile
import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from common import audio as audio_io
from common import checkpoint as checkpoint_lib
from common import config as config_lib
from common import data as data_lib
from common import generation
from common import generator as generator_lib
from common import quantization
from eval import likelihood as likelihood_lib
from eval import models as models_lib
from eval import report
from eval import scoring as score_lib


class CompareError(ValueError):
  """A user error; the message is one line."""


@dataclasses.dataclass(frozen=True)
class Settings:
  """What `compare` makes and measures.

  seconds, num_seqs: each model's long unconditional generations.
  clips, clip_seconds, prime_seconds: test clips reconstructed or continued
    (continuations are primed on their first `prime_seconds`).
  seed, temperature: of every generation (sequence i gets seed + i).
  warmup_seconds, contexts, curve_seconds, score_seconds: the likelihood
    protocol (`eval.likelihood.Protocol`): every model is scored on the test
    files from `warmup_seconds` to their end (or for `score_seconds`); the
    context curve at `contexts` (seconds, None = the whole file) over at
    most `curve_seconds` per file (None: whole files).
  speed_batches, speed_seconds: the speed sweep.
  checkpoint: "best" or "last".
  with_f0: pYIN f0 metrics (slow).
  progress: progress bars.
  """
  seconds: float = 60.0
  num_seqs: int = 2
  clips: int = 4
  clip_seconds: float = 4.0
  prime_seconds: float = 1.0
  seed: int = 0
  temperature: float = 1.0
  warmup_seconds: float = 1.0
  contexts: tuple[float | None, ...] = (0.004, 0.016, 0.064, 0.25, 1.0, 4.0,
                                        None)
  curve_seconds: float | None = None
  score_seconds: float | None = None
  speed_batches: tuple[int, ...] = (1, 4)
  speed_seconds: float = 0.5
  checkpoint: str = "best"
  with_f0: bool = True
  progress: bool = True


def parse_named(values: Sequence[str] | None, what: str) -> dict[str, str]:
  """["NAME=PATH", ...] -> {NAME: PATH} (a bare PATH is named after it)."""
  out = {}
  for value in values or []:
    name, sep, path = value.partition("=")
    if not sep:
      name, path = os.path.basename(os.path.normpath(value)), value
    if not name or not path:
      raise CompareError(f"{what} {value!r} is not NAME=PATH")
    if name in out or name == score_lib.REAL_NAME:
      raise CompareError(f"{what}: the name {name!r} is used twice or "
                         f"reserved")
    out[name] = path
  return out


def _decode(codes: np.ndarray, config: dict) -> np.ndarray:
  return quantization.decode(np.asarray(codes), config["quantization"],
                             config["q_levels"])


def _test_files(data_dir: str) -> list[tuple[dict, np.ndarray]]:
  files_ = data_lib.read_files(data_dir, "test")
  if not files_:
    raise CompareError(f"{data_dir}: the test split is empty; prepare the "
                       f"corpus with --test_fraction > 0")
  return files_


def real_crops(test_files: Sequence[tuple[dict, np.ndarray]], num: int,
               length: int, seed: int) -> list[tuple[dict, np.ndarray]]:
  """Up to `num` crops of `length` samples of the test files (deterministic).

  Files longer than `length` give a seeded random crop; shorter files are
  used whole (so the real row is as long as the data allows).
  """
  rng = np.random.default_rng(seed)
  crops = []
  order = rng.permutation(len(test_files))
  for i in order[:num] if len(order) >= num else np.resize(order, num):
    entry, codes = test_files[i]
    if len(codes) > length:
      start = int(rng.integers(0, len(codes) - length + 1))
      codes = codes[start:start + length]
    crops.append((entry, codes))
  return crops


def protocol_of(s: Settings) -> likelihood_lib.Protocol:
  """The likelihood protocol of the settings."""
  return likelihood_lib.Protocol(s.warmup_seconds, tuple(s.contexts),
                                 s.curve_seconds, s.score_seconds)


def likelihood(loaded: models_lib.LoadedModel,
               test_files: Sequence[tuple[dict, np.ndarray]],
               protocol: likelihood_lib.Protocol, progress: bool = False
               ) -> dict[str, Any]:
  """A model's test NLL by the one protocol (`eval.likelihood`).

  Returns the row parts: dict(metrics: nll_bits_per_sample,
  nll_nats_per_sample, nll_bits_per_16bit_sample, nll_samples, nll_files,
  order0_entropy_bits (of the same samples), warmup_seconds; ci:
  {nll_bits_per_sample: [low, high]}; plot: the context curve; info: the
  per-file and per-context numbers).

  Raises:
    CompareError: no test file is longer than the warm-up, or the NLL is
      not finite (the model's logits are NaN or infinite: broken weights),
      rather than a report with a NaN in it.
  """
  from eval import metrics  # pylint: disable=g-import-not-at-top
  cfg = loaded.config
  files = [(entry["key"], codes) for entry, codes in test_files]
  try:
    result = likelihood_lib.evaluate(loaded.model, loaded.sample_rate, files,
                                     protocol, progress=progress,
                                     desc=f"{loaded.name} likelihood")
  except likelihood_lib.LikelihoodError as e:
    raise CompareError(f"{loaded.name}: {e}") from None
  if not np.isfinite(result["nll_nats_per_sample"]):
    raise CompareError(f"{loaded.name} ({loaded.model_dir}): the test NLL is "
                       f"{result['nll_nats_per_sample']}: the model's logits "
                       f"are not finite (broken weights?)")
  scored = likelihood_lib.scored_codes(files, loaded.sample_rate, protocol)
  bits = result["nll_bits_per_sample"]
  curve = result["context"]
  return dict(
      metrics={
          "nll_bits_per_sample": bits,
          "nll_nats_per_sample": result["nll_nats_per_sample"],
          "nll_bits_per_16bit_sample": metrics.nll_bits_per_16bit_sample(
              bits, scored, cfg["quantization"], cfg["q_levels"]),
          "nll_samples": result["samples"],
          "nll_files": len(result["files"]),
          "order0_entropy_bits": metrics.order0_entropy_bits(
              scored, cfg["q_levels"]),
          "warmup_seconds": protocol.warmup_seconds,
      },
      ci={"nll_bits_per_sample": [result["low"], result["high"]]},
      plot={"context_seconds": [p["context_seconds"] for p in curve],
            "nll_bits": [p["nll_bits"] for p in curve],
            "low": [p["low"] for p in curve],
            "high": [p["high"] for p in curve]},
      info={key: result[key] for key in (
          "protocol", "warmup_seconds", "first_sample", "files", "skipped",
          "context")})


def compare(models: Mapping[str, str], data_dir: str, report_dir: str,
            model_data: Mapping[str, str] | None = None,
            settings: Settings = Settings(), overwrite: bool = False,
            title: str | None = None,
            log: Callable[[str], None] = print) -> dict:
  """Evaluates `models` ({name: model_dir}) and writes the report.

  Models are scored on the test split of `data_dir` (which also gives the
  real reference row), or on the corpus `model_data[name]`. Returns the
  results dict (see `eval.report`).

  Raises:
    CompareError: no model, unknown names, an empty test split, different
      sample rates, a non-finite NLL.
    FileExistsError, score.ScoreError: `report_dir` holds something else.
    FileNotFoundError, config.ConfigError, checkpoint.CheckpointError: a
      model directory that cannot be loaded.
  """
  if not models:
    raise CompareError("no --model given")
  model_data = dict(model_data or {})
  for name in model_data:
    if name not in models:
      raise CompareError(f"--model_data names {name!r}, which is no --model")
  score_lib.check_report_dir(report_dir, overwrite)
  # Audio is made in a scratch folder; the report copies what it shows.
  stage = tempfile.mkdtemp(prefix="neuralsynth-compare-")
  try:
    return _compare(dict(models), data_dir, report_dir, model_data, settings,
                    title, log, stage)
  finally:
    shutil.rmtree(stage, ignore_errors=True)


def _load_models(models: Mapping[str, str], model_data: Mapping[str, str],
                 data_dir: str, which: str
                 ) -> tuple[dict[str, models_lib.LoadedModel], int]:
  loaded = {}
  for name, model_dir in models.items():
    loaded[name] = models_lib.load(model_dir, name, which)
    corpus = model_data.get(name, data_dir)
    config_lib.check_data_settings(
        loaded[name].config, data_lib.manifest(corpus)["settings"],
        os.path.join(corpus, "manifest.json"))
  rates = {lm.sample_rate for lm in loaded.values()}
  if len(rates) != 1:
    raise CompareError(f"models use different sample rates {sorted(rates)}")
  return loaded, rates.pop()


def _compare(models: dict[str, str], data_dir: str, report_dir: str,
             model_data: dict[str, str], s: Settings, title: str | None,
             log: Callable[[str], None], stage: str) -> dict:
  from eval import metrics  # pylint: disable=g-import-not-at-top
  started = time.time()
  loaded, sample_rate = _load_models(models, model_data, data_dir,
                                     s.checkpoint)
  main_cfg = data_lib.manifest(data_dir)["settings"]
  test = _test_files(data_dir)
  # The reference row: crops of real test audio as long as the generations.
  real_dir = os.path.join(stage, score_lib.REAL_NAME)
  for i, (entry, codes) in enumerate(real_crops(
      test, s.num_seqs, int(s.seconds * sample_rate), s.seed)):
    audio_io.save(os.path.join(real_dir, f"{_key_stem(entry)}_{i}.wav"),
                  _decode(codes, main_cfg), sample_rate)

  extra, generated_dirs, continuations = {}, {}, {}
  originals_dir = os.path.join(stage, "originals")
  for name, lm in loaded.items():
    corpus = model_data.get(name, data_dir)
    corpus_test = test if corpus == data_dir else _test_files(corpus)
    extra[name], made = _evaluate_model(name, lm, corpus, corpus != data_dir,
                                        corpus_test, s, stage, log)
    if made.get("folder"):
      generated_dirs[name] = made["folder"]
    if made.get("continuations"):
      continuations[name] = made["continuations"]

  log("scoring audio")
  results = score_lib.score(
      real_dir, generated_dirs, report_dir,
      reconstructions_of=originals_dir if os.path.isdir(originals_dir)
      else None, sample_rate=sample_rate, seed=s.seed, with_f0=s.with_f0,
      progress=s.progress, write=False, continuations=continuations)
  _merge_rows(results, loaded, extra, models)
  real_row = results["models"][score_lib.REAL_NAME]
  real_row["description"] = (f"crops of the test split of "
                             f"{os.path.abspath(data_dir)}")
  real_row["metrics"]["order0_entropy_bits"] = metrics.order0_entropy_bits(
      likelihood_lib.scored_codes(
          [(e["key"], c) for e, c in test], sample_rate, protocol_of(s)),
      main_cfg["q_levels"])
  results["title"] = title or ("Comparison: " + ", ".join(models))
  from eval import anchors  # pylint: disable=g-import-not-at-top
  results["anchors"] = anchors.rows()
  results["notes"] = results.get("notes", []) + [
      "NLL in bits per sample compares models only at the same quantization;"
      " bits per 16-bit sample adds each bin's width (uniform within a bin) "
      "and compares across quantizers.",
      "A model without an encoder (SampleRNN) shows continuations of primed "
      "test clips, scored over the continued part only.",
  ]
  results["settings"].update(
      tool="eval.compare", data_dir=os.path.abspath(data_dir),
      models={n: os.path.abspath(d) for n, d in models.items()},
      model_data={n: os.path.abspath(d) for n, d in model_data.items()},
      seconds=s.seconds, num_seqs=s.num_seqs, clips=s.clips,
      clip_seconds=s.clip_seconds, prime_seconds=s.prime_seconds,
      temperature=s.temperature, warmup_seconds=s.warmup_seconds,
      contexts=["whole" if c is None else c for c in s.contexts],
      curve_seconds=s.curve_seconds or "whole files",
      score_seconds=s.score_seconds or "whole files",
      likelihood_protocol=likelihood_lib.protocol_sentence(protocol_of(s)),
      speed_batches=list(s.speed_batches), checkpoint=s.checkpoint,
      seconds_taken=round(time.time() - started, 1))
  report.write_report(report_dir, results, progress=s.progress)
  return results


def _evaluate_model(name: str, lm: models_lib.LoadedModel, corpus: str,
                    own_corpus: bool,
                    corpus_test: list[tuple[dict, np.ndarray]], s: Settings,
                    stage: str, log: Callable[[str], None]
                    ) -> tuple[dict[str, Any], dict[str, Any]]:
  """Likelihood and speed of one model, and the audio it makes (on disk).

  Returns (extra row parts, {"folder": its reconstructions and generations,
  "continuations": score.Continuations}, each when made).
  """
  from eval import memory  # pylint: disable=g-import-not-at-top
  notes: list[str] = []
  made: dict[str, Any] = {}
  with memory.PeakRSS() as usage:  # the model's whole run
    log(f"[{name}] {lm.description}: test likelihood")
    scored = likelihood(lm, corpus_test, protocol_of(s), s.progress)
    metrics_row: dict[str, Any] = scored["metrics"]
    if own_corpus:
      notes.append(f"likelihood and reconstructions on its own corpus "
                   f"{corpus}")
    out = os.path.join(stage, report.slug(name))
    chosen = real_crops(corpus_test, s.clips,
                        int(s.clip_seconds * lm.sample_rate), s.seed + 1)
    stems = _clip_stems(chosen, corpus, own_corpus)
    if lm.can_reconstruct:
      log(f"[{name}] reconstructing {len(chosen)} clips")
      _reconstructions(lm, chosen, stems, os.path.join(stage, "originals"),
                       out, s)
      notes.append("reconstructions: encoded and decoded by the "
                   "generator with free phase (sampled), so SNR and "
                   "SI-SDR are low even when it sounds right")
      made["folder"] = out
    if lm.can_continue:
      log(f"[{name}] continuing {len(chosen)} primed clips")
      made["continuations"] = _continuations(
          lm, chosen, stems, s, os.path.join(stage, "continuations",
                                      report.slug(name)), notes)
    if lm.can_generate:
      log(f"[{name}] generating {s.num_seqs} x {s.seconds:g} s")
      _generations(lm, out, s)
      made["folder"] = out
    else:
      notes.append("no unconditional generation (an autoencoder "
                   "decodes embeddings)")
    log(f"[{name}] speed over batch sizes {list(s.speed_batches)}")
    speed_rows = _speed(lm, s, metrics_row)
  metrics_row.update(usage.figures())
  if not usage.per_section:
    notes.append("peak memory: the process's peak so far (this system "
                 "cannot reset its resident high-water mark)")
  return dict(metrics=metrics_row, notes=notes, speed_rows=speed_rows,
              ci=scored["ci"], context_plot=scored["plot"],
              likelihood=scored["info"]), made


def _key_stem(entry: dict) -> str:
  return os.path.splitext(os.path.basename(entry["key"]))[0]


def _clip_stems(chosen: Sequence[tuple[dict, np.ndarray]], corpus: str,
                own_corpus: bool) -> list[str]:
  """`clip<i>_<file stem>`, tagged with the corpus when it is a model's own
  (the originals of every corpus share one folder, paired by name)."""
  tag = ""
  if own_corpus:
    path = os.path.abspath(corpus)
    tag = (f"{report.slug(os.path.basename(path))}-"
           f"{hashlib.sha1(path.encode()).hexdigest()[:6]}_")
  return [f"{tag}clip{i}_{_key_stem(entry)}" for i, (entry, _) in
          enumerate(chosen)]


def _equal_length(chosen: Sequence[tuple[dict, np.ndarray]]) -> np.ndarray:
  """Crops clips to the shortest so they decode as one batch."""
  shortest = min(len(c) for _, c in chosen)
  return np.stack([c[:shortest] for _, c in chosen])


def _to_wavs(lm: models_lib.LoadedModel, paths: list[str],
             request: generator_lib.Request, num_samples: int, s: Settings,
             prefix_audio: np.ndarray | None = None) -> dict:
  """Streams the generator's codes for `request` into one wav per row."""
  cfg = lm.config
  return generation.stream_to_wavs(
      paths, generator_lib.stream(lm.generator, request, num_samples),
      num_samples, lm.sample_rate, cfg["quantization"], cfg["q_levels"],
      progress=s.progress, prefix_audio=prefix_audio)


def _reconstructions(lm: models_lib.LoadedModel,
                     chosen: Sequence[tuple[dict, np.ndarray]],
                     stems: Sequence[str], originals_dir: str, out: str,
                     s: Settings) -> None:
  """Writes each clip to `originals_dir` and its reconstruction to `out`,
  both named `<stem>.wav` (score pairs them by name)."""
  codes = _equal_length(chosen)
  for stem, original in zip(stems, codes):
    audio_io.save(os.path.join(originals_dir, stem + ".wav"),
                  _decode(original, lm.config), lm.sample_rate)
  _to_wavs(lm, [os.path.join(out, stem + ".wav") for stem in stems],
           lm.reconstruction_request(codes, s.seed, s.temperature),
           codes.shape[1], s)


def _continuations(lm: models_lib.LoadedModel,
                   chosen: Sequence[tuple[dict, np.ndarray]],
                   stems: Sequence[str], s: Settings,
                   folder: str, notes: list[str]
                   ) -> score_lib.Continuations | None:
  """Primes on each clip's start and writes prime + continuation.

  The prime is a multiple of the generator's `block_multiple` (SampleRNN:
  its top frame). Returns the `score.Continuations` to score, or None when
  the clips are too short.
  """
  codes = _equal_length(chosen)
  rate, multiple = lm.sample_rate, lm.generator.block_multiple
  prime = max(multiple, int(s.prime_seconds * rate) // multiple * multiple)
  if codes.shape[1] < max(prime + rate // 2,
                          score_lib.MIN_SECONDS * rate):
    notes.append("clips too short to continue (a prime, 0.5 s more and "
                 f"{score_lib.MIN_SECONDS:g} s in all are needed)")
    return None
  prompts, continued = (os.path.join(folder, "prompts"),
                        os.path.join(folder, "continued"))
  for stem, real in zip(stems, codes):
    audio_io.save(os.path.join(prompts, stem + ".wav"),
                  _decode(real, lm.config), rate)
  _to_wavs(lm, [os.path.join(continued, stem + ".wav") for stem in stems],
           lm.continuation_request(codes[:, :prime], s.seed, s.temperature),
           codes.shape[1] - prime, s,
           prefix_audio=_decode(codes[:, :prime], lm.config))
  return score_lib.Continuations(prompts, continued, prime)


def _generations(lm: models_lib.LoadedModel, out: str, s: Settings) -> None:
  """Writes `num_seqs` generations (their speed is the sweep's)."""
  length = int(s.seconds * lm.sample_rate)
  paths = [os.path.join(out, f"generation_{i}.wav")
           for i in range(s.num_seqs)]
  _to_wavs(lm, paths, lm.generation_request(s.num_seqs, s.seed,
                                            s.temperature), length, s)


def _speed(lm: models_lib.LoadedModel, s: Settings,
           metrics: dict[str, Any]) -> list[dict[str, Any]]:
  """The speed sweep's rows; its headline figures go into `metrics`."""
  from eval import throughput  # pylint: disable=g-import-not-at-top
  # (an autoencoder is timed decoding embeddings: the same loop)
  rows = throughput.sweep(lm, s.speed_batches, s.speed_seconds, repeats=3)
  best = max(rows, key=lambda r: r["samples_per_second"])
  metrics.update(
      samples_per_second=best["samples_per_second"],
      samples_per_second_one_stream=rows[0]["samples_per_second_per_stream"],
      real_time_factor=rows[0]["real_time_factor"],
      first_block_seconds=rows[0]["first_block_seconds"],
      flops_per_sample=best["flops_per_sample"],
      fraction_of_limit=best["fraction_of_limit"])
  return rows


def _merge_rows(results: dict, loaded: Mapping[str, models_lib.LoadedModel],
               extra: Mapping[str, dict], models: Mapping[str, str]) -> None:
  """Adds each model's likelihood, speed and notes to its scored row."""
  for name, lm in loaded.items():
    row = results["models"].setdefault(name, {
        "metrics": {}, "ci": {}, "audio": {}, "plots": {}, "notes": []})
    ex = extra[name]
    row["family"] = lm.family.name
    row["description"] = f"{lm.description}, {models[name]}"
    row["metrics"].update(ex["metrics"])
    row.setdefault("ci", {}).update(ex["ci"])
    row.setdefault("plots", {})["context"] = ex["context_plot"]
    row.setdefault("notes", []).extend(ex["notes"])
    rows = ex["speed_rows"]
    row.setdefault("plots", {})["speed"] = {
        "batch_sizes": [r["batch_size"] for r in rows],
        "samples_per_second": [r["samples_per_second"] for r in rows],
        "limit_samples_per_second": [r.get("limit_samples_per_second")
                                     for r in rows],
        "sample_rate": lm.sample_rate}
    row["info"] = dict(row.get("info") or {}, checkpoint_step=lm.step,
                       model_dir=os.path.abspath(models[name]),
                       speed=rows, likelihood=ex["likelihood"])


def summary_text(results: dict) -> str:
  """A plain-text table of the key metrics, one row per model."""
  keys = ("nll_bits_per_sample", "order0_entropy_bits", "structure_z",
          "collapse_fraction", "fd_logmel", "f0_rpa",
          "continuation_f0_rpa", "samples_per_second")
  lines = [f"{'':16s}" + "".join(f"{k[:18]:>20s}" for k in keys)]
  for name, row in results["models"].items():
    values = row.get("metrics", {})
    lines.append(f"{name[:16]:16s}" + "".join(
        f"{report.fmt(values.get(k)):>20s}" for k in keys))
  return "\n".join(lines)


# The user errors of comparing (the common ones aside: `common.cli.run`).
USER_ERRORS = (CompareError, score_lib.ScoreError,
               checkpoint_lib.CheckpointError, generator_lib.RequestError)
