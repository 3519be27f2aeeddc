r"""Validating the likelihood-against-context curve: `python -m eval.context_validation`.

    python -m eval.context_validation --output_dir=runs/context_validation

Does the context curve of `eval.likelihood` (the NLL when every scored
sample sees at least c and less than 2c of the past) show how much of the
past a model uses? This benchmark builds a case where the answer is known:

- two synthetic corpora made by code (`melody`) at
  `Melodies.sample_rate`: melodies of held notes, each note holding one of
  `Melodies.levels` values (a sample-and-hold melody). In the *repeating*
  corpus every file repeats its own random phrase back to back: 2-4 notes
  of distinct levels at the file's own steady tempo, 1-2 s in all, so once
  the phrase has been heard both the next level and the moment it comes
  are known. In the *control* corpus every note's level is drawn afresh
  (only never the same twice in a row) and its length independently from
  one geometric distribution for the whole corpus (mean
  `Melodies.control_note_seconds`, about the repeating corpus's mean note;
  a memoryless rhythm: a note ends at the next sample with the same chance
  whenever it started, in every file), so nothing but the current sample
  tells what comes next;
- on each corpus, through the real trainer (`common.trainer`), a tiny
  SampleRNN trained with long truncated BPTT (windows longer than a phrase,
  crops of several phrases) and a tiny unconditional WaveNet whose
  receptive field is far shorter than a phrase;
- each model's context curve on its corpus's test split
  (`eval.likelihood.evaluate`).

The verdicts (`verdicts`): the SampleRNN on the repeating corpus scores
lower at a context of at least twice the longest phrase
(`Settings.long_context`) than at one well below the shortest
(`Settings.short_context`), by more than the 95 % intervals; on the control
it does not; every WaveNet's curve is flat (the same numbers) at every
context beyond its receptive field.

Everything goes to `--output_dir` (new or empty): the wav files, the
prepared corpora, the four models and `context_validation.json` (the
settings, every curve, the verdicts).
"""

from __future__ import annotations

import dataclasses
import os
import platform
import time
from typing import Any, Callable

import numpy as np

KINDS = ("repeating", "control")
# (name, family, preset) of the models trained on each corpus.
MODELS = (("samplernn", "samplernn", "tiny"),
          ("wavenet", "wavenet", "tiny_unconditional"))
RESULT_NAME = "context_validation.json"
Log = Callable[[str], None]


class ValidationError(ValueError):
  """The output folder is not new or empty, or the settings contradict
  each other; the message is one line."""


@dataclasses.dataclass(frozen=True)
class Melodies:
  """The synthetic corpora.

  sample_rate: Hz.
  quantization, q_levels: the codes (`common.quantization`); the held
    levels are exact code values, spread evenly over the codes.
  levels: distinct held levels (at most `q_levels`).
  notes_per_phrase: (min, max) notes of a phrase, each of another level.
  phrase_seconds: (min, max) length of a phrase (its notes equally long).
  control_note_seconds: mean note length of the control corpus, the same
    in every file (a per-file tempo would be a cue older than the note).
  file_seconds: length of every file.
  num_files: files per corpus (split by `common.corpus` into train, val,
    test).
  """
  sample_rate: int = 250
  quantization: str = "linear"
  q_levels: int = 16
  levels: int = 16
  notes_per_phrase: tuple[int, int] = (2, 4)
  phrase_seconds: tuple[float, float] = (1.0, 2.0)
  control_note_seconds: float = 0.5
  file_seconds: float = 10.0
  num_files: int = 1200


@dataclasses.dataclass(frozen=True)
class Settings:
  """The whole benchmark.

  melodies: the corpora.
  test_fraction: share of files in the test split (`common.corpus`).
  samplernn, wavenet: overrides of the `tiny` SampleRNN and the
    `tiny_unconditional` WaveNet presets (model and training keys).
  warmup_seconds, contexts: the likelihood protocol (`eval.likelihood`).
  short_context, long_context: the contexts the verdicts compare (seconds;
    both in `contexts`).
  seed: of the corpora and of training.
  """
  melodies: Melodies = Melodies()
  test_fraction: float = 0.25
  samplernn: dict = dataclasses.field(default_factory=lambda: dict(
      frame_sizes=[4, 32], dim=64, emb_size=16, batch_size=8, seq_len=512,
      num_windows=4, learning_rate=0.003, num_steps=3000))
  wavenet: dict = dataclasses.field(default_factory=lambda: dict(
      batch_size=8, seq_len=512, num_steps=500))
  warmup_seconds: float = 1.0
  contexts: tuple[float | None, ...] = (0.004, 0.016, 0.064, 0.25, 1.0, 4.0,
                                        None)
  short_context: float = 0.25
  long_context: float = 4.0
  seed: int = 0


# ---------------------------------------------------------------------------
# The melodies (pure functions).


def level_values(m: Melodies) -> np.ndarray:
  """float32 `[levels]`: the held levels in [-1, 1], each an exact code
  value (`quantization.decode` of codes spread evenly over `q_levels`)."""
  from common import quantization  # pylint: disable=g-import-not-at-top
  codes = np.round(np.linspace(0, m.q_levels - 1, m.levels)).astype(np.int32)
  return quantization.decode(codes, m.quantization, m.q_levels)


def note_levels(rng: np.random.Generator, kind: str, phrase_notes: int,
                num_notes: int, levels: int) -> np.ndarray:
  """int `[num_notes]`: the level index of every note of a melody.

  repeating: a phrase of `phrase_notes` distinct random levels, repeated.
  control: each note a random level other than the note before's.
  """
  if kind == "repeating":
    phrase = rng.permutation(levels)[:phrase_notes]
    return np.resize(phrase, num_notes)
  steps = rng.integers(1, levels, size=num_notes)  # never 0: a new level
  return (rng.integers(levels) + np.cumsum(steps)) % levels


def note_lengths(rng: np.random.Generator, kind: str, note_samples: int,
                 total: int) -> np.ndarray:
  """int `[notes]`: the length in samples of every note of a melody, at
  least `total` samples in all.

  repeating: every note `note_samples` long (a steady tempo), the first
  one cut short at a random sample (so no two files are alike).
  control: lengths drawn independently from the geometric distribution of
  mean `note_samples` (a memoryless rhythm: the chance that a note ends at
  the next sample is the same whenever it started).
  """
  count = -(-total // note_samples) + 1
  if kind == "repeating":
    lengths = np.full(count, note_samples)
    lengths[0] = rng.integers(1, note_samples + 1)
    return lengths
  lengths = rng.geometric(1.0 / note_samples, size=2 * count + 16)
  while lengths.sum() < total:  # practically never: 2x the expected count
    lengths = np.concatenate([lengths, rng.geometric(1.0 / note_samples,
                                                     size=count)])
  return lengths


def melody(rng: np.random.Generator, kind: str, m: Melodies
           ) -> tuple[np.ndarray, dict[str, Any]]:
  """One file of a corpus: float32 `[file_seconds * sample_rate]` audio and
  its description: phrase_notes, phrase_samples (drawn alike for both
  kinds; a control melody does not use them), note_samples (the mean note
  length).

  The notes per phrase and the phrase length are drawn uniformly in
  `notes_per_phrase` and `phrase_seconds`; a note is the phrase's length
  over its notes, rounded to whole samples. A control melody uses neither
  (its levels are not a phrase; its notes have the corpus's mean
  `control_note_seconds`).
  """
  total = int(round(m.file_seconds * m.sample_rate))
  notes = int(rng.integers(m.notes_per_phrase[0], m.notes_per_phrase[1] + 1))
  phrase = rng.uniform(*m.phrase_seconds) * m.sample_rate
  note_samples = max(1, int(round(phrase / notes)))
  mean_note = (note_samples if kind == "repeating" else
               max(1, int(round(m.control_note_seconds * m.sample_rate))))
  lengths = note_lengths(rng, kind, mean_note, total)
  held = note_levels(rng, kind, notes, len(lengths), m.levels)
  audio = np.repeat(level_values(m)[held], lengths)[:total]
  return audio, dict(phrase_notes=notes, note_samples=mean_note,
                     phrase_samples=notes * note_samples)


def write_corpus(kind: str, wav_dir: str, m: Melodies, seed: int
                 ) -> list[dict[str, Any]]:
  """Writes the `num_files` melodies of a corpus as float wav files
  (`<kind>-NNNN.wav`); returns each file's description (`melody`) with its
  `name`."""
  from common import audio as audio_lib  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng([seed, KINDS.index(kind)])
  described = []
  for i in range(m.num_files):
    x, about = melody(rng, kind, m)
    name = f"{kind}-{i:04d}.wav"
    audio_lib.save(os.path.join(wav_dir, name), x, m.sample_rate, "FLOAT")
    described.append(dict(name=name, **about))
  return described


# ---------------------------------------------------------------------------
# The verdicts (pure functions of the curves).


def _row(curve: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
  """The curve's row at context `seconds`."""
  for row in curve:
    if row["context_seconds"] == seconds:
      return row
  raise KeyError(f"no row at context {seconds} s")


def gain(curve: list[dict[str, Any]], short: float, long: float
         ) -> dict[str, Any]:
  """How much lower the NLL is at context `long` than at `short`.

  Returns dict(short_bits, long_bits, gain_bits (short - long),
  beyond_intervals: the 95 % intervals do not overlap, the long one
  lower).
  """
  a, b = _row(curve, short), _row(curve, long)
  return dict(short_bits=a["nll_bits"], long_bits=b["nll_bits"],
              gain_bits=a["nll_bits"] - b["nll_bits"],
              beyond_intervals=bool(b["high"] < a["low"]))


def flat_beyond(curve: list[dict[str, Any]], field: int) -> dict[str, Any]:
  """Whether a stateless model's curve is flat beyond its receptive field.

  Args:
    curve: its context rows (`eval.likelihood.evaluate`).
    field: its receptive field in samples.

  Returns:
    dict(receptive_field, contexts: the context seconds of the rows whose
    context reaches `field`, spread_bits: max - min of their NLL, flat:
    they are identical).
  """
  rows = [r for r in curve if r["context_samples"] >= field]
  values = [r["nll_bits"] for r in rows]
  spread = max(values) - min(values) if values else 0.0
  return dict(receptive_field=field,
              contexts=[r["context_seconds"] for r in rows],
              spread_bits=spread, flat=bool(len(rows) > 1 and spread == 0.0))


def verdicts(curves: dict[str, dict[str, Any]], s: Settings
             ) -> dict[str, Any]:
  """The benchmark's verdicts from the four models' results.

  Args:
    curves: {"<model>/<kind>": dict(context: the curve rows, and for a
      WaveNet receptive_field)} for model in ("samplernn", "wavenet") and
      kind in `KINDS`.
    s: the settings (`short_context`, `long_context`).

  Returns:
    dict(samplernn_repeating, samplernn_control: `gain`;
    wavenet_repeating, wavenet_control: `flat_beyond`; passed: the
    SampleRNN gains beyond the intervals on the repeating corpus and not
    on the control, and both WaveNets are flat).
  """
  out: dict[str, Any] = {}
  for kind in KINDS:
    out[f"samplernn_{kind}"] = gain(curves[f"samplernn/{kind}"]["context"],
                                    s.short_context, s.long_context)
    wavenet = curves[f"wavenet/{kind}"]
    out[f"wavenet_{kind}"] = flat_beyond(wavenet["context"],
                                         wavenet["receptive_field"])
  out["passed"] = bool(
      out["samplernn_repeating"]["beyond_intervals"] and
      not out["samplernn_control"]["beyond_intervals"] and
      out["wavenet_repeating"]["flat"] and out["wavenet_control"]["flat"])
  return out


# ---------------------------------------------------------------------------
# The pipeline.


def check_settings(s: Settings) -> None:
  """Raises ValidationError if the settings contradict each other."""
  m = s.melodies
  if not 2 <= m.levels <= m.q_levels:
    raise ValidationError(f"levels: {m.levels} must be in [2, q_levels "
                          f"{m.q_levels}]")
  if not 2 <= m.notes_per_phrase[0] <= m.notes_per_phrase[1] <= m.levels:
    raise ValidationError(f"notes_per_phrase: {m.notes_per_phrase} must be "
                          f"increasing, in [2, levels {m.levels}]")
  for context in (s.short_context, s.long_context):
    if context not in s.contexts:
      raise ValidationError(f"context {context} s: not in the contexts "
                            f"{s.contexts}")


def claim_output_dir(output_dir: str) -> None:
  """Makes `output_dir`, which must be new or empty (nothing is replaced).

  Raises:
    ValidationError: it holds files.
  """
  if os.path.isdir(output_dir) and os.listdir(output_dir):
    raise ValidationError(f"{output_dir}: not empty; give a new "
                          f"--output_dir")
  os.makedirs(output_dir, exist_ok=True)


def prepare_corpus(kind: str, output_dir: str, s: Settings
                   ) -> tuple[str, list[dict[str, Any]]]:
  """Writes and prepares a corpus; returns (its data dir, the files'
  descriptions)."""
  from common import corpus  # pylint: disable=g-import-not-at-top
  m = s.melodies
  wav_dir = os.path.join(output_dir, kind, "wav")
  data_dir = os.path.join(output_dir, kind, "data")
  described = write_corpus(kind, wav_dir, m, s.seed)
  corpus.prepare([wav_dir], data_dir, workers=1, progress=False,
                 sample_rate=m.sample_rate, quantization=m.quantization,
                 q_levels=m.q_levels, chunk_seconds=m.file_seconds,
                 test_fraction=s.test_fraction, seed=s.seed)
  return data_dir, described


def train_model(family: str, preset: str, overrides: dict, data_dir: str,
                model_dir: str, s: Settings) -> dict[str, Any]:
  """Trains a model to `overrides["num_steps"]` through `common.trainer`
  (one checkpoint and one validation, at the end); returns dict(step,
  train_bits, val_bits, seconds)."""
  # pylint: disable=g-import-not-at-top
  from common import config as config_lib
  from common import trainer
  m = s.melodies
  config = config_lib.load(family, preset, dict(
      overrides, sample_rate=m.sample_rate, quantization=m.quantization,
      q_levels=m.q_levels, seed=s.seed, checkpoint_every=0,
      validate_every=0, val_batches=4, summary_every=0,
      audio_summary_every=0))
  started = time.time()
  result = trainer.train(config, data_dir, model_dir, progress=False,
                         log=lambda *_: None)
  return dict(step=result["step"], train_bits=result["train_bits"],
              val_bits=result["best"].get("nll_bits"),
              seconds=round(time.time() - started, 1))


def score_model(model_dir: str, data_dir: str, s: Settings
                ) -> dict[str, Any]:
  """The model's likelihood on the corpus's test split by the protocol
  (`eval.likelihood.evaluate`), with its `receptive_field` (None for a
  recurrent model) and `seconds`."""
  # pylint: disable=g-import-not-at-top
  from common import checkpoint
  from common import data as data_lib
  from eval import likelihood
  model = checkpoint.load(model_dir, which="last").model
  files = [(entry["key"], codes)
           for entry, codes in data_lib.read_files(data_dir, "test")]
  started = time.time()
  result = likelihood.evaluate(
      model, s.melodies.sample_rate, files,
      likelihood.Protocol(warmup_seconds=s.warmup_seconds,
                          contexts=tuple(s.contexts)))
  return dict(result, receptive_field=likelihood.receptive_field(model),
              seconds=round(time.time() - started, 1))


def validate(output_dir: str, s: Settings = Settings(), log: Log = print
             ) -> dict[str, Any]:
  """Runs the benchmark into `output_dir` (new or empty); returns the
  result, also written to `output_dir/context_validation.json`.

  Returns:
    dict(settings, machine, corpora: {kind: dict(data_dir, files: test
    files, phrase_seconds: [min, max] of the test files' phrases, drawn
    but not used by the control)},
    models: {"<model>/<kind>": dict(model_dir, training, likelihood)},
    verdicts (`verdicts`), seconds).

  Raises:
    ValidationError: `output_dir` is not new or empty, or the settings
      contradict each other.
  """
  # pylint: disable=g-import-not-at-top
  from common import data as data_lib
  from common import files
  check_settings(s)
  claim_output_dir(output_dir)
  started = time.time()
  corpora: dict[str, Any] = {}
  models: dict[str, Any] = {}
  for kind in KINDS:
    data_dir, described = prepare_corpus(kind, output_dir, s)
    test = {os.path.basename(e["key"]) for e in data_lib.manifest(data_dir)[
        "files"] if e["split"] == "test"}
    phrases = [d["phrase_samples"] / s.melodies.sample_rate
               for d in described if d["name"] in test]
    corpora[kind] = dict(data_dir=data_dir, files=len(phrases),
                         phrase_seconds=[min(phrases), max(phrases)])
    log(f"{kind}: {len(described)} files, {len(phrases)} in the test split")
    for name, family, preset in MODELS:
      model_dir = os.path.join(output_dir, kind, name)
      training = train_model(family, preset, getattr(s, name), data_dir,
                             model_dir, s)
      log(f"{name} on {kind}: trained {training['step']} steps in "
          f"{training['seconds']} s (validation {training['val_bits']:.4f} "
          f"bits/sample)")
      models[f"{name}/{kind}"] = dict(model_dir=model_dir, training=training,
                                      likelihood=score_model(model_dir,
                                                             data_dir, s))
  result = dict(
      settings=dataclasses.asdict(s), machine=machine(), corpora=corpora,
      models=models,
      verdicts=verdicts({k: v["likelihood"] for k, v in models.items()}, s),
      seconds=round(time.time() - started, 1))
  files.write_json(os.path.join(output_dir, RESULT_NAME), result)
  return result


def machine() -> dict[str, Any]:
  """Where the benchmark ran: CPU count, platform, Python and TF versions."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return dict(cpu_count=os.cpu_count(), platform=platform.platform(),
              python=platform.python_version(), tensorflow=tf.__version__)


# ---------------------------------------------------------------------------
# The report on the console.


def _seconds(value: float | None) -> str:
  return "whole" if value is None else f"{value:g} s"


def table(result: dict[str, Any]) -> str:
  """The curves as a text table: a row per context, a column per model and
  corpus (NLL in bits/sample [95 % interval])."""
  names = list(result["models"])
  curves = [result["models"][n]["likelihood"]["context"] for n in names]
  lines = ["context  | " + " | ".join(f"{n:^26}" for n in names)]
  for i, row in enumerate(curves[0]):
    cells = [f"{c[i]['nll_bits']:.4f} [{c[i]['low']:.4f}, "
             f"{c[i]['high']:.4f}]" for c in curves]
    lines.append(f"{_seconds(row['context_seconds']):8} | " +
                 " | ".join(f"{c:^26}" for c in cells))
  return "\n".join(lines)


def verdict_lines(result: dict[str, Any]) -> list[str]:
  """One line per verdict, then PASSED or FAILED."""
  v, s = result["verdicts"], result["settings"]
  short, long = _seconds(s["short_context"]), _seconds(s["long_context"])
  lines = []
  for kind in KINDS:
    g = v[f"samplernn_{kind}"]
    lines.append(
        f"samplernn on {kind}: {g['short_bits']:.4f} bits at {short}, "
        f"{g['long_bits']:.4f} at {long}: gain {g['gain_bits']:+.4f} "
        f"({'beyond' if g['beyond_intervals'] else 'within'} the 95 % "
        f"intervals)")
  for kind in KINDS:
    f = v[f"wavenet_{kind}"]
    lines.append(
        f"wavenet on {kind}: receptive field {f['receptive_field']} "
        f"samples; {len(f['contexts'])} contexts reach it, their NLLs "
        f"{'identical' if f['flat'] else 'differ'} (spread "
        f"{f['spread_bits']:.2g} bits)")
  lines.append("PASSED" if v["passed"] else "FAILED")
  return lines


# ---------------------------------------------------------------------------
# The command line.


def main(argv: list[str]) -> int:
  from absl import flags  # pylint: disable=g-import-not-at-top
  del argv
  f = flags.FLAGS
  result = validate(f.output_dir, Settings(seed=f.seed))
  print(table(result))
  print("\n".join(verdict_lines(result)))
  print(f"{result['seconds']:.0f} s; wrote "
        f"{os.path.join(f.output_dir, RESULT_NAME)}")
  return 0 if result["verdicts"]["passed"] else 1


def define_flags() -> None:
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string("output_dir", None, "A new or empty folder for the "
                      "corpora, the models and context_validation.json.")
  flags.DEFINE_integer("seed", Settings.seed, "Seed of the corpora and of "
                       "training.")
  flags.mark_flags_as_required(["output_dir"])


def run() -> None:
  """Console-script entry point (`neuralsynth-context-validation`)."""
  from common import cli  # pylint: disable=g-import-not-at-top
  cli.run(main, define_flags, __doc__, user_errors=(ValidationError,))


if __name__ == "__main__":
  run()
