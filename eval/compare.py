r"""Compare trained models side by side: `python -m eval.compare`.

    python -m eval.compare --model=srnn=runs/srnn --model=wn=runs/wavenet \
        --data_dir=data/mine --report_dir=reports/mine \
        [--seconds=60 --num_seqs=2 --clips=4 --seed=0]

Any number of models of either family; the real test audio is the reference
row. For every model it computes and saves:

- likelihood: teacher-forced test-split NLL in bits per sample (and nats),
  over at most `--nll_batches` batches of sequential windows (all by
  default), plus the same converted to bits per 16-bit sample (the bins'
  widths in 16-bit steps added, so mu-law and linear models compare), and
  the order-0 entropy of the test codes (the histogram baseline);
- reconstructions (WaveNet autoencoder): `--clips` test clips of up to
  `--clip_seconds`, encoded and decoded with the fast generator, scored
  against the originals (`eval.metrics`);
- continuations (SampleRNN, which has no encoder): the same clips' first
  `--prime_seconds` prime the model, which continues for the rest; the
  spectral, chroma and f0 metrics are computed over the continued part only;
- long unconditional generations (SampleRNN, unconditional WaveNet):
  `--num_seqs` of `--seconds` each, scored for long-range coherence against
  equal-length crops of the real test audio (`eval.coherence` through
  `eval.score`, the same code that scores folders of audio);
- speed: samples/s over `--speed_batches`, time to first block, peak memory,
  FLOPs per sample against the machine's matmul rate (`eval.speed`).

The report (index.html, report.md, metrics.json) goes to `--report_dir`, with
all the audio it made. The same seed gives the same numbers (speed aside).
A model may be evaluated on its own corpus with `--model_data=NAME=DIR`
(e.g. an autoencoder trained on notes beside music models).
"""

import os
import shutil
import tempfile
import time
import warnings

import numpy as np

from common import audio as audio_io
from common import config as config_lib
from common import data as data_lib
from common import quantization
from eval import report
from eval import score as score_lib

class CompareError(ValueError):
  """A user error; the message is one line."""


def parse_named(values, what):
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


def _decode(codes, config):
  return quantization.decode(np.asarray(codes), config["quantization"],
                             config["q_levels"])


def _test_files(data_dir, max_files=None):
  files_ = data_lib.read_files(data_dir, "test", max_files)
  if not files_:
    raise CompareError(f"{data_dir}: the test split is empty; prepare the "
                       f"corpus with --test_fraction > 0")
  return files_


def real_crops(test_files, num, length, seed):
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


def likelihood(loaded, data_dir, nll_batches, test_codes):
  """Test NLL (bits, nats, bits per 16-bit sample) over the test split.

  Raises:
    CompareError: the NLL is not finite (the model's logits are NaN or
      infinite: broken weights), rather than a report with a NaN in it.
  """
  from common import trainer  # pylint: disable=g-import-not-at-top
  from eval import metrics  # pylint: disable=g-import-not-at-top
  cfg = loaded.config
  result = trainer.evaluate_nll(loaded.model, cfg, data_dir, "test",
                                max_batches=nll_batches or None)
  if not np.isfinite(result["nll_nats"]):
    raise CompareError(f"{loaded.name} ({loaded.model_dir}): the test NLL is "
                       f"{result['nll_nats']}: the model's logits are not "
                       f"finite (broken weights?)")
  return {
      "nll_bits_per_sample": result["nll_bits"],
      "nll_nats_per_sample": result["nll_nats"],
      "nll_bits_per_16bit_sample": metrics.nll_bits_per_16bit_sample(
          result["nll_bits"], test_codes, cfg["quantization"],
          cfg["q_levels"]),
      "nll_samples": result["samples"],
  }


def compare(models, data_dir, report_dir, model_data=None, seconds=60.0,
            num_seqs=2, clips=4, clip_seconds=4.0, prime_seconds=1.0,
            seed=0, temperature=1.0, nll_batches=0, speed_batches=(1, 4),
            speed_seconds=0.5, checkpoint="best", with_f0=True,
            overwrite=False, progress=True, title=None, log=print):
  """Evaluates `models` ({name: model_dir}) and writes the report.

  Returns the results dict (see `eval.report`).
  """
  if not models:
    raise CompareError("no --model given")
  model_data = dict(model_data or {})
  for name in model_data:
    if name not in models:
      raise CompareError(f"--model_data names {name!r}, which is no --model")
  score_lib._check_report_dir(report_dir, overwrite)  # pylint: disable=protected-access
  # Audio is made in a scratch folder; the report copies what it shows.
  stage = tempfile.mkdtemp(prefix="neuralsynth-compare-")
  try:
    return _compare(models, data_dir, report_dir, model_data, seconds,
                    num_seqs, clips, clip_seconds, prime_seconds, seed,
                    temperature, nll_batches, speed_batches, speed_seconds,
                    checkpoint, with_f0, progress, title, log, stage)
  finally:
    shutil.rmtree(stage, ignore_errors=True)


def _compare(models, data_dir, report_dir, model_data, seconds, num_seqs,
             clips, clip_seconds, prime_seconds, seed, temperature,
             nll_batches, speed_batches, speed_seconds, checkpoint, with_f0,
             progress, title, log, stage):
  from eval import families  # pylint: disable=g-import-not-at-top
  from eval import metrics  # pylint: disable=g-import-not-at-top
  from eval import speed  # pylint: disable=g-import-not-at-top
  started = time.time()

  loaded = {}
  for name, model_dir in models.items():
    try:
      loaded[name] = families.load(model_dir, name, checkpoint)
    except (FileNotFoundError, config_lib.ConfigError, ValueError) as e:
      raise CompareError(str(e)) from None
    corpus = model_data.get(name, data_dir)
    config_lib.check_data_settings(
        loaded[name].config, data_lib.manifest(corpus)["settings"],
        os.path.join(corpus, "manifest.json"))
  rates = {l.sample_rate for l in loaded.values()}
  if len(rates) != 1:
    raise CompareError(f"models use different sample rates {sorted(rates)}")
  sample_rate = rates.pop()
  main_cfg = data_lib.manifest(data_dir)["settings"]
  test = _test_files(data_dir)
  length = int(seconds * sample_rate)
  matmul_rate = speed.matmul_gflops(batch=max(speed_batches))

  # The reference row: crops of real test audio as long as the generations.
  real_dir = os.path.join(stage, score_lib.REAL_NAME)
  for i, (entry, codes) in enumerate(real_crops(test, num_seqs, length, seed)):
    stem = os.path.splitext(os.path.basename(entry["key"]))[0]
    audio_io.save(os.path.join(real_dir, f"{stem}_{i}.wav"),
                  _decode(codes, main_cfg), sample_rate)
  test_codes = np.concatenate([c for _, c in test])

  extra = {name: {"metrics": {}, "ci": {}, "notes": [], "audio": {}}
           for name in loaded}
  generated_dirs = {}
  originals_dir = os.path.join(stage, "originals")
  for name, lm in loaded.items():
    corpus = model_data.get(name, data_dir)
    corpus_test = test if corpus == data_dir else _test_files(corpus)
    corpus_codes = (test_codes if corpus == data_dir else
                    np.concatenate([c for _, c in corpus_test]))
    out = os.path.join(stage, report.slug(name))
    os.makedirs(out, exist_ok=True)
    ex = extra[name]
    log(f"[{name}] {lm.family}, step {lm.step}: test likelihood")
    ex["metrics"].update(likelihood(lm, corpus, nll_batches, corpus_codes))
    ex["metrics"]["order0_entropy_bits"] = metrics.order0_entropy_bits(
        corpus_codes, lm.config["q_levels"])
    if corpus != data_dir:
      ex["notes"].append(f"likelihood and reconstructions on its own corpus "
                         f"{corpus}")
    clip_len = int(clip_seconds * sample_rate)
    chosen = real_crops(corpus_test, clips, clip_len, seed + 1)
    if lm.can_reconstruct:
      log(f"[{name}] reconstructing {len(chosen)} clips")
      codes = _equal_length(chosen)
      recon = lm.reconstruct(codes, seed=seed, temperature=temperature)
      for i, ((entry, _), orig, rec) in enumerate(zip(chosen, codes, recon)):
        stem = f"clip{i}_" + os.path.splitext(os.path.basename(
            entry["key"]))[0]
        audio_io.save(os.path.join(originals_dir, stem + ".wav"),
                      _decode(orig, lm.config), sample_rate)
        audio_io.save(os.path.join(out, stem + ".wav"),
                      _decode(rec, lm.config), sample_rate)
      ex["notes"].append("reconstructions: encoded and decoded by the fast "
                         "generator with free phase (sampled), so SNR and "
                         "SI-SDR are low even when it sounds right")
      generated_dirs[name] = out
    if lm.can_continue:
      log(f"[{name}] continuing {len(chosen)} primed clips")
      _continuations(lm, chosen, prime_seconds, sample_rate, seed,
                     temperature, with_f0, stage, name, ex)
    if lm.can_generate:
      log(f"[{name}] generating {num_seqs} x {seconds:g} s")
      from common import generation  # pylint: disable=g-import-not-at-top
      paths = [os.path.join(out, f"generation_{i}.wav")
               for i in range(num_seqs)]
      stats = generation.stream_to_wavs(
          paths, _blocks(lm, num_seqs, length, seed, temperature), length,
          sample_rate, lm.config["quantization"], lm.config["q_levels"],
          progress=progress)
      ex["metrics"]["generation_samples_per_second"] = stats[
          "samples_per_second"]
      generated_dirs[name] = out
    else:
      ex["notes"].append("no unconditional generation (an autoencoder "
                         "decodes embeddings)")
    log(f"[{name}] speed over batch sizes {list(speed_batches)}")
    # (an autoencoder is timed decoding embeddings: the same cached loop)
    rows = speed.sweep(lm, speed_batches, speed_seconds, repeats=3,
                       matmul_rate=matmul_rate)
    best = max(rows, key=lambda r: r["samples_per_second"])
    ex["metrics"].update(
        samples_per_second=best["samples_per_second"],
        samples_per_second_one_stream=rows[0]["samples_per_second_per_stream"],
        real_time_factor=rows[0]["real_time_factor"],
        first_block_seconds=rows[0]["first_block_seconds"],
        flops_per_sample=best["flops_per_sample"],
        fraction_of_limit=best["fraction_of_limit"],
        peak_rss_mb=speed.peak_rss_mb())
    ex["speed_rows"] = rows

  log("scoring audio")
  results = score_lib.score(
      real_dir, generated_dirs, report_dir,
      reconstructions_of=originals_dir if os.path.isdir(originals_dir)
      else None, sample_rate=sample_rate, seed=seed, with_f0=with_f0,
      progress=progress, write=False)
  for name, lm in loaded.items():
    row = results["models"].setdefault(name, {
        "metrics": {}, "ci": {}, "audio": {}, "plots": {}, "notes": []})
    ex = extra[name]
    row["family"] = lm.family
    row["description"] = (f"{lm.family} ({lm.config.get('conditioning')})"
                          if lm.family == "wavenet" else lm.family) + (
                              f", step {lm.step}, {models[name]}")
    row["metrics"].update(ex["metrics"])
    row.setdefault("ci", {}).update(ex["ci"])
    row.setdefault("audio", {}).update(ex["audio"])
    row.setdefault("notes", []).extend(ex["notes"])
    rows = ex.get("speed_rows") or []
    if rows:
      row.setdefault("plots", {})["speed"] = {
          "batch_sizes": [r["batch_size"] for r in rows],
          "samples_per_second": [r["samples_per_second"] for r in rows]}
    row["info"] = dict(row.get("info") or {}, checkpoint_step=lm.step,
                       model_dir=os.path.abspath(models[name]),
                       speed=rows)
  real_row = results["models"][score_lib.REAL_NAME]
  real_row["description"] = (f"crops of the test split of "
                             f"{os.path.abspath(data_dir)}")
  real_row["metrics"]["order0_entropy_bits"] = metrics.order0_entropy_bits(
      test_codes, main_cfg["q_levels"])
  results["title"] = title or ("Comparison: " + ", ".join(models))
  results["notes"] = results.get("notes", []) + [
      "NLL in bits per sample compares models only at the same quantization;"
      " bits per 16-bit sample adds each bin's width (uniform within a bin) "
      "and compares across quantizers. Mehri et al. (2017) report 1.076-1.464"
      " bits on their music set (8-bit linear).",
      "SampleRNN has no encoder: its row shows continuations of primed test "
      "clips, scored over the continued part only.",
  ]
  results["settings"].update(
      tool="eval.compare", data_dir=os.path.abspath(data_dir),
      models={n: os.path.abspath(d) for n, d in models.items()},
      model_data={n: os.path.abspath(d) for n, d in model_data.items()},
      seconds=seconds, num_seqs=num_seqs, clips=clips,
      clip_seconds=clip_seconds, prime_seconds=prime_seconds,
      temperature=temperature, nll_batches=nll_batches or "all",
      speed_batches=list(speed_batches), matmul_gflops=round(matmul_rate, 2),
      checkpoint=checkpoint, seconds_taken=round(time.time() - started, 1))
  report.write_report(report_dir, results, progress=progress)
  return results


def _equal_length(chosen):
  """Crops clips to the shortest so they decode as one batch."""
  shortest = min(len(c) for _, c in chosen)
  return np.stack([c[:shortest] for _, c in chosen])


def _blocks(lm, num_seqs, length, seed, temperature):
  """Generation as an iterator of code blocks (for streaming to wavs)."""
  import queue  # pylint: disable=g-import-not-at-top
  import threading  # pylint: disable=g-import-not-at-top
  blocks = queue.Queue(maxsize=4)
  failure = []

  def produce():
    try:
      lm.generate(num_seqs, length, seed=seed, temperature=temperature,
                  on_block=blocks.put)
    except Exception as e:  # pylint: disable=broad-except
      failure.append(e)
    blocks.put(None)

  threading.Thread(target=produce, daemon=True).start()
  while True:
    block = blocks.get()
    if block is None:
      break
    yield block
  if failure:
    raise failure[0]


def _continuations(lm, chosen, prime_seconds, sample_rate, seed, temperature,
                   with_f0, stage, name, ex):
  """Primes on each clip's start, continues it; scores the continued part."""
  from eval import metrics  # pylint: disable=g-import-not-at-top
  codes = _equal_length(chosen)
  top = max(lm.config.get("frame_sizes") or [1])
  prime = max(top, int(prime_seconds * sample_rate) // top * top)
  if codes.shape[1] <= prime + sample_rate // 2:
    ex["notes"].append("clips too short to continue")
    return
  cont = lm.continue_from(codes[:, :prime], codes.shape[1] - prime,
                          seed=seed, temperature=temperature)
  rows = []
  prompts_dir = os.path.join(stage, "prompts")
  out = os.path.join(stage, report.slug(name) + "_continuations")
  prompts, continuations = [], []
  for i, ((entry, _), real, made) in enumerate(zip(chosen, codes, cont)):
    real_audio = _decode(real, lm.config)
    made_audio = _decode(made, lm.config)
    ref = real_audio[prime:]
    rows.append(metrics.reconstruction_metrics(
        ref, made_audio[:len(ref)], sample_rate, with_f0=with_f0))
    stem = f"clip{i}_" + os.path.splitext(os.path.basename(entry["key"]))[0]
    prompt_path = os.path.join(prompts_dir, stem + ".wav")
    audio_io.save(prompt_path, real_audio, sample_rate)
    cont_path = os.path.join(out, stem + ".wav")
    audio_io.save(cont_path, np.concatenate([real_audio[:prime], made_audio]),
                  sample_rate)
    prompts.append({"path": prompt_path, "label": f"{stem} (real)"})
    continuations.append({"path": cont_path,
                          "label": f"{stem}: {prime / sample_rate:g} s prime "
                                   f"+ continuation"})
  keys = ("mstft_sc_db", "mstft_logmag_l1", "lsd_db", "mcd_db", "chroma_cos",
          "f0_rpa", "voicing_recall", "voicing_false_alarm")
  values, cis = score_lib._aggregate(rows, keys, seed)  # pylint: disable=protected-access
  for key in keys:
    ex["metrics"]["continuation_" + key] = values.get(key)
    if key in cis:
      ex["ci"]["continuation_" + key] = cis[key]
  ex["audio"]["prompts"] = prompts
  ex["audio"]["continuations"] = continuations
  ex["notes"].append(
      f"continuations: primed on the first {prime / sample_rate:g} s of "
      f"{len(rows)} test clips; metrics over the continued part only "
      f"(continuation_* keys)")


# ---- CLI -------------------------------------------------------------------

def main(argv):
  from absl import flags  # pylint: disable=g-import-not-at-top
  from absl import logging  # pylint: disable=g-import-not-at-top
  from common import cli  # pylint: disable=g-import-not-at-top
  del argv
  logging.set_verbosity(logging.WARNING)
  warnings.filterwarnings("ignore", category=UserWarning, module="librosa")
  f = flags.FLAGS
  results = compare(
      parse_named(f.model, "--model"), f.data_dir, f.report_dir,
      model_data=parse_named(f.model_data, "--model_data"),
      seconds=f.seconds, num_seqs=f.num_seqs, clips=f.clips,
      clip_seconds=f.clip_seconds, prime_seconds=f.prime_seconds,
      seed=f.seed, temperature=f.temperature, nll_batches=f.nll_batches,
      speed_batches=cli.positive_ints(f.speed_batches, "speed_batches"),
      speed_seconds=f.speed_seconds, checkpoint=f.checkpoint,
      with_f0=f.f0, overwrite=f.overwrite, title=f.title)
  print(summary_text(results))
  print(f"report: {os.path.abspath(os.path.join(f.report_dir, 'index.html'))}")
  return 0


def summary_text(results):
  keys = ("nll_bits_per_sample", "order0_entropy_bits", "structure_z",
          "collapse_fraction", "fd_logmel", "f0_rpa",
          "continuation_f0_rpa", "samples_per_second")
  lines = [f"{'':16s}" + "".join(f"{k[:18]:>20s}" for k in keys)]
  for name, row in results["models"].items():
    values = row.get("metrics", {})
    lines.append(f"{name[:16]:16s}" + "".join(
        f"{report.fmt(values.get(k)):>20s}" for k in keys))
  return "\n".join(lines)


def define_flags():
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_multi_string("model", [], "NAME=MODEL_DIR (repeatable): a "
                            "trained or pretrained model of either family.")
  flags.DEFINE_string("data_dir", None, "Prepared corpus: its test split is "
                      "the real reference.")
  flags.DEFINE_multi_string("model_data", [], "NAME=DATA_DIR: evaluate this "
                            "model's likelihood/reconstructions on another "
                            "prepared corpus.")
  flags.DEFINE_string("report_dir", None, "Where the report goes.")
  flags.DEFINE_float("seconds", 60.0, "Length of each long generation.")
  flags.DEFINE_integer("num_seqs", 2, "Long generations per model.")
  flags.DEFINE_integer("clips", 4, "Test clips to reconstruct / continue.")
  flags.DEFINE_float("clip_seconds", 4.0, "Length of those clips.")
  flags.DEFINE_float("prime_seconds", 1.0, "Prime of each continuation.")
  flags.DEFINE_integer("seed", 0, "Seed of crops, sampling and statistics.")
  flags.DEFINE_float("temperature", 1.0, "Sampling temperature.")
  flags.DEFINE_integer("nll_batches", 0, "Batches of test windows for the "
                       "NLL (0: the whole test split).")
  flags.DEFINE_string("speed_batches", "1,4", "Batch sizes of the speed "
                      "sweep.")
  flags.DEFINE_float("speed_seconds", 0.5, "Seconds per timed speed run.")
  flags.DEFINE_string("checkpoint", "best", "best, last or a path prefix.")
  flags.DEFINE_bool("f0", True, "pYIN f0 metrics (slow).")
  flags.DEFINE_bool("overwrite", False, "Replace an existing report.")
  flags.DEFINE_string("title", None, "Report title.")
  flags.mark_flags_as_required(["data_dir", "report_dir"])


def run():
  """Console-script entry point (`neuralsynth-compare`)."""
  from common import cli  # pylint: disable=g-import-not-at-top
  cli.run(main, define_flags, __doc__,
          user_errors=(CompareError, score_lib.ScoreError, ValueError))


if __name__ == "__main__":
  run()
