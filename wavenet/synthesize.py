r"""Decode NSynth embeddings or audio to audio: `python -m wavenet.synthesize`.

    python -m wavenet.synthesize --model_dir=runs/nsynth --output_dir=out \
        --embeddings=embeddings/            # .npy file or folder: decode
    python -m wavenet.synthesize --model_dir=runs/nsynth --output_dir=out \
        --input=notes/                      # audio: encode, then decode
    python -m wavenet.synthesize --model_dir=runs/uncond --output_dir=out \
        --seconds=4 --num_seqs=2            # unconditional WaveNet
    [--batch_size=8 --temperature=T or T1,T2,... --seed=K --checkpoint=best
     --transpose=SEMITONES --overwrite]

Outputs: `OUT/<relative stem>.wav` for each `.npy` (from `wavenet.encode`:
float32 `[frames, width]`) or audio file, or `OUT/<name>_<i>.wav`
for unconditional sequences; each with a JSON sidecar `<stem>.json` (source,
frames, samples, temperature, seed, model, speed).

Lengths: `frames` embedding frames decode to `frames * hop_length` samples
(so a resynthesis is `ceil(samples / hop) * hop` samples long, up to
`hop_length - 1` more than its source). `--seconds` is in seconds of audio.

Batching: embeddings with the same number of frames are generated together,
`--batch_size` at a time, in one compiled graph (`wavenet.fastgen`); blocks
are streamed to disk as they are made (`common.generation.stream_to_wavs`),
so memory does not grow with length. `--temperature` is one value or one
per output (in the order the inputs are listed). Sampling noise depends on
the seed, the batch and the item's place in it: batch `k` (in generation
order) uses seed `seed + k`; the same inputs, seed and batch size give the
same audio.
"""

import os
import queue
import sys
import threading

import numpy as np

from common import config as config_lib
from common import files
from common import generation
from wavenet import encode as encode_lib


# ---------------------------------------------------------------------------
# Embeddings files.
# ---------------------------------------------------------------------------


def find_embeddings(inputs):
  """`.npy` files of `inputs` (files or folders, recursive), sorted."""
  inputs = [inputs] if isinstance(inputs, str) else list(inputs)
  found = []
  for path in inputs:
    if os.path.isdir(path):
      for root, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [os.path.join(root, n) for n in names
                  if n.endswith(".npy") and not n.startswith(".")]
    elif os.path.exists(path):
      found.append(path)
    else:
      raise ValueError(f"{path}: no such file or folder")
  if not found:
    raise ValueError(f"{', '.join(inputs)}: no .npy embeddings found")
  return sorted(set(os.path.abspath(p) for p in found))


def load_embeddings(path, width):
  """Reads one `.npy` of embeddings -> float32 `[frames, width]`.

  `[1, frames, d]` is accepted too. Raises ValueError naming the file if it
  is not a `.npy`, has the wrong shape, or holds NaN/Inf.
  """
  try:
    z = np.load(path, allow_pickle=False)
  except (OSError, ValueError, EOFError) as e:
    reason = str(e).split("\n")[0] or type(e).__name__
    raise ValueError(f"{path}: not a NumPy .npy file ({reason})") from None
  if z.ndim == 3 and z.shape[0] == 1:
    z = z[0]
  if z.ndim != 2 or z.shape[1] != width or z.shape[0] < 1:
    raise ValueError(f"{path}: embeddings must be [frames, "
                     f"{width}] for this model, got shape "
                     f"{list(z.shape)}")
  if not np.issubdtype(z.dtype, np.number) or not np.all(np.isfinite(z)):
    raise ValueError(f"{path}: embeddings hold NaN, Inf or non-numbers")
  return z.astype(np.float32)


# ---------------------------------------------------------------------------
# Streaming the generator's blocks.
# ---------------------------------------------------------------------------


class _Stopped(Exception):
  """Raised in the generating thread when the consumer has gone away."""


def stream_blocks(generate_fn, max_pending=2):
  """Turns `generate_fn(on_block)` (a callback API) into an iterator.

  `generate_fn` runs in a thread and calls `on_block(start, codes)` per
  block; the blocks are yielded here as they come. Errors in the thread are
  re-raised; if the consumer stops early, the thread is stopped too.
  """
  blocks = queue.Queue(maxsize=max_pending)
  stop = threading.Event()
  done = object()

  def put(item):
    while not stop.is_set():
      try:
        blocks.put(item, timeout=0.1)
        return
      except queue.Full:
        continue
    raise _Stopped()

  def work():
    try:
      generate_fn(lambda start, codes: put(codes))
      put((done, None))
    except _Stopped:
      pass
    except BaseException as e:  # pylint: disable=broad-except
      try:
        put((done, e))
      except _Stopped:
        pass

  thread = threading.Thread(target=work, daemon=True)
  thread.start()
  try:
    while True:
      item = blocks.get()
      if isinstance(item, tuple) and item[0] is done:
        if item[1] is not None:
          raise item[1]
        return
      yield item
  finally:
    stop.set()
    thread.join()


# ---------------------------------------------------------------------------
# Synthesis.
# ---------------------------------------------------------------------------


def _per_item(value, count, what):
  values = np.asarray(value, np.float64).reshape(-1)
  if values.size == 1:
    values = np.full([count], values[0])
  if values.size != count:
    raise ValueError(f"got {values.size} {what} for {count} outputs")
  return [float(v) for v in values]


def frame_batches(frame_counts, batch_size):
  """Indices grouped by equal frame count, `batch_size` at most per batch.

  Groups come in order of first appearance; returns a list of index lists.
  """
  groups = {}
  for i, frames in enumerate(frame_counts):
    groups.setdefault(int(frames), []).append(i)
  size = max(1, int(batch_size))
  return [idx[j:j + size] for idx in groups.values()
          for j in range(0, len(idx), size)]


def _write_sidecars(paths, sidecars, common, stats, temperatures, seeds,
                    rate):
  for i, path in enumerate(paths):
    data = dict(common)
    data.update(sidecars[i] if sidecars else {})
    data.update(temperature=temperatures[i], seed=seeds[i],
                seconds=round(stats["samples"] / rate, 6), **stats)
    files.write_json(os.path.splitext(path)[0] + ".json", data)


def synthesize_embeddings(model, config, embeddings_list, paths, seed=0,
                          temperature=1.0, batch_size=8, sidecars=None,
                          common=None, progress=True):
  """Decodes embeddings to wav files through the batched fast generator.

  Args:
    model: a built WaveNet autoencoder.
    config: its config (sample_rate, quantization, q_levels, hop_length).
    embeddings_list: float `[frames_i, bottleneck_width]` arrays.
    paths: one output wav path per item; a JSON sidecar is written beside
      each unless `sidecars` is False.
    seed: int; batch `k` (in generation order) uses `seed + k`.
    temperature: float or one per item.
    batch_size: items of equal frame count generated together.
    sidecars: per-item dicts merged into the sidecars, None (common fields
      only) or False (no sidecars).
    common: dict merged into every sidecar (e.g. model_dir).
    progress: tqdm bars.

  Returns:
    per item: dict(path, frames, samples, seed, temperature, seconds_taken,
    samples_per_second); `samples = frames * hop_length`.
  """
  from wavenet import fastgen  # pylint: disable=g-import-not-at-top
  if len(embeddings_list) != len(paths):
    raise ValueError(f"{len(embeddings_list)} embeddings for {len(paths)} "
                     f"output paths")
  hop, rate = int(config["hop_length"]), int(config["sample_rate"])
  temperatures = _per_item(temperature, len(paths), "temperatures")
  results = [None] * len(paths)
  for k, batch in enumerate(frame_batches(
      [len(z) for z in embeddings_list], batch_size)):
    frames = len(embeddings_list[batch[0]])
    num_samples = frames * hop
    z = np.stack([embeddings_list[i] for i in batch]).astype(np.float32)
    temps = [temperatures[i] for i in batch]
    batch_seed = int(seed) + k
    blocks = stream_blocks(lambda on_block, z=z, temps=temps, s=batch_seed, n=(
        num_samples): fastgen.generate(model, n, embeddings=z, seed=s,
                                       temperature=temps, on_block=on_block))
    batch_paths = [paths[i] for i in batch]
    stats = generation.stream_to_wavs(
        batch_paths, blocks, num_samples, rate,
        config.get("quantization") or "mu_law", int(config["q_levels"]),
        sidecar=None, progress=progress)
    if sidecars is not False:
      _write_sidecars(
          batch_paths, [sidecars[i] for i in batch] if sidecars else None,
          dict(common or {}, frames=frames, hop_length=hop, sample_rate=rate,
               batch=k, batch_size=len(batch)),
          stats, temps, [batch_seed] * len(batch), rate)
    for j, i in enumerate(batch):
      results[i] = dict(path=paths[i], frames=frames, samples=num_samples,
                        seed=batch_seed, temperature=temps[j],
                        seconds_taken=stats["seconds_taken"],
                        samples_per_second=stats["samples_per_second"])
  return results


def synthesize_unconditional(model, config, paths, num_samples, seed=0,
                             temperature=1.0, batch_size=8, common=None,
                             progress=True):
  """Generates `len(paths)` sequences of `num_samples` samples (no
  conditioning) in batches of `batch_size`; batch `k` uses `seed + k`."""
  from wavenet import fastgen  # pylint: disable=g-import-not-at-top
  if config.get("conditioning") != "none":
    raise ValueError("an autoencoder needs embeddings to decode; give "
                     "--embeddings or --input")
  rate = int(config["sample_rate"])
  temperatures = _per_item(temperature, len(paths), "temperatures")
  size = max(1, int(batch_size))
  results = []
  for k, first in enumerate(range(0, len(paths), size)):
    batch_paths = paths[first:first + size]
    temps = temperatures[first:first + size]
    blocks = stream_blocks(lambda on_block, temps=temps, s=int(seed) + k: (
        fastgen.generate(model, num_samples, batch_size=len(temps), seed=s,
                         temperature=temps, on_block=on_block)))
    stats = generation.stream_to_wavs(
        batch_paths, blocks, num_samples, rate,
        config.get("quantization") or "mu_law", int(config["q_levels"]),
        sidecar=None, progress=progress)
    _write_sidecars(batch_paths, [dict(index=first + j) for j in range(
        len(batch_paths))], dict(common or {}, source=None,
                                 sample_rate=rate, batch=k), stats, temps,
                    [int(seed) + k] * len(batch_paths), rate)
    results += [dict(path=p, samples=num_samples, seed=int(seed) + k,
                     temperature=t) for p, t in zip(batch_paths, temps)]
  return results


def parse_temperatures(text, count):
  """`common.generation.parse_temperatures` with errors naming the flag."""
  try:
    return generation.parse_temperatures(text, count)
  except ValueError as e:
    if "--temperature" in str(e):
      raise
    raise ValueError(f"--temperature={text}: {e}") from None


def _load_model(model_dir, checkpoint, loaded=None):
  if loaded is not None:
    return loaded
  # pylint: disable=g-import-not-at-top
  from common import checkpoint as checkpoint_lib
  from wavenet import model as model_lib  # pylint: disable=g-import-not-at-top
  path = checkpoint_lib.latest(model_dir, checkpoint)
  model, config, step = checkpoint_lib.load_model(
      model_dir, model_lib.build_model, checkpoint)
  return model, config, step, path


def synthesize_files(model_dir, output_dir, embeddings=None, inputs=None,
                     seconds=None, num_seqs=1, batch_size=8, temperature="1.0",
                     seed=0, checkpoint="best", name="wavenet",
                     overwrite=False, progress=True, loaded=None,
                     transpose=0.0):
  """The CLI as a function: give exactly one of embeddings/inputs/seconds.

  Args:
    model_dir: a trained WaveNet (autoencoder for embeddings/inputs,
      unconditional for seconds).
    output_dir: where the wavs and JSON sidecars go.
    embeddings: `.npy` file or folder (or a list): decode them.
    inputs: audio file or folder (or a list): encode, then decode.
    seconds: unconditional generation of `num_seqs` sequences.
    temperature: "T" or "T1,T2,..." (one per output, in input order).
    loaded: optional `(model, config, step, checkpoint_path)` of the model
      in `model_dir`, already in memory (reuses its compiled generator).
    transpose: semitones to move the pitch by (pitch-conditioned
      autoencoders only; see `wavenet.encode.transpose`).

  Returns:
    the wav paths written, in input order.
  """
  given = [x is not None for x in (embeddings, inputs, seconds)]
  if sum(given) != 1:
    raise ValueError("give exactly one of --embeddings, --input or "
                     "--seconds")
  saved = config_lib.load_saved(model_dir)
  if saved.get("family", "wavenet") != "wavenet":
    raise ValueError(f"{model_dir}: is a {saved.get('family')} model; "
                     f"wavenet.synthesize needs a WaveNet")
  conditioned = saved.get("conditioning") == "encoder"
  if seconds is not None and conditioned:
    raise ValueError(f"{model_dir}: is an autoencoder; it decodes "
                     f"embeddings: give --embeddings or --input, not "
                     f"--seconds")
  if seconds is None:
    encode_lib.check_autoencoder(saved, model_dir)
  if transpose and not saved.get("pitch_bins"):
    raise ValueError(f"{model_dir}: --transpose needs an autoencoder with "
                     f"pitch conditioning (pitch_bins > 0); this one has none")

  common = dict(model_dir=os.path.abspath(model_dir), checkpoint=checkpoint)
  if seconds is not None:
    if seconds <= 0 or num_seqs < 1:
      raise ValueError("--seconds must be > 0 and --num_seqs >= 1")
    temperatures = parse_temperatures(temperature, num_seqs)
    paths = generation.output_paths(output_dir, name, num_seqs, overwrite)
    for path in paths:
      files.refuse_overwrite(os.path.splitext(path)[0] + ".json", overwrite)
    model, config, step, ckpt = _load_model(model_dir, checkpoint, loaded)
    num_samples = int(round(seconds * int(config["sample_rate"])))
    synthesize_unconditional(
        model, config, paths, num_samples, seed, temperatures, batch_size,
        dict(common, checkpoint_path=ckpt, checkpoint_step=step), progress)
    return paths

  as_list = lambda x: [x] if isinstance(x, str) else list(x)
  if embeddings is not None:
    sources = find_embeddings(embeddings)
    paths = encode_lib.relative_outputs(as_list(embeddings), sources,
                                        output_dir, ".wav")
  else:
    sources = encode_lib.find_inputs(inputs)
    paths = encode_lib.relative_outputs(as_list(inputs), sources, output_dir,
                                        ".wav")
  temperatures = parse_temperatures(temperature, len(paths))
  for path in paths:
    files.refuse_overwrite(path, overwrite)
    files.refuse_overwrite(os.path.splitext(path)[0] + ".json", overwrite)

  width = encode_lib.embedding_width(saved)
  sidecars = []
  if embeddings is not None:
    zs = [load_embeddings(p, width) for p in sources]
    sidecars = [dict(source=p, source_kind="embeddings") for p in sources]
    model, config, step, ckpt = _load_model(model_dir, checkpoint, loaded)
  else:
    encode_lib.length_groups(sources)  # unreadable files: fail before loading
    model, config, step, ckpt = _load_model(model_dir, checkpoint, loaded)
    zs, sidecars = [None] * len(sources), [None] * len(sources)
    window = encode_lib.window_samples(config,
                                       encode_lib.DEFAULT_WINDOW_SECONDS)
    for i, z, samples in encode_lib.iter_encoded(
        model, config, sources, batch_size, window, progress=progress):
      zs[i] = z
      sidecars[i] = dict(source=sources[i], source_kind="audio",
                         source_samples=samples)
  if transpose:
    zs = [encode_lib.transpose(z, transpose, saved["bottleneck_width"])
          for z in zs]
    for sidecar in sidecars:
      sidecar["transpose"] = transpose
  synthesize_embeddings(
      model, config, zs, paths, seed=seed, temperature=temperatures,
      batch_size=batch_size, sidecars=sidecars,
      common=dict(common, checkpoint_path=ckpt, checkpoint_step=step),
      progress=progress)
  return paths


# ---------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------


def _define_flags():
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string("model_dir", None, "A trained WaveNet.")
  flags.DEFINE_string("output_dir", None, "Where the wavs and JSON sidecars "
                      "go.")
  flags.DEFINE_multi_string("embeddings", None, ".npy embeddings file or "
                            "folder (recursive) to decode; repeatable.")
  flags.DEFINE_multi_string("input", None, "Audio file or folder to encode "
                            "and decode (resynthesis); repeatable.")
  flags.DEFINE_float("seconds", None, "Unconditional generation: seconds per "
                     "sequence (model with conditioning none).")
  flags.DEFINE_integer("num_seqs", 1, "Unconditional sequences.")
  flags.DEFINE_integer("batch_size", 8, "Sequences generated together.")
  flags.DEFINE_string("temperature", "1.0", "Sampling temperature, or one "
                      "per output: T1,T2,... (0 = argmax).")
  flags.DEFINE_integer("seed", 0, "Random seed (batch k uses seed + k).")
  flags.DEFINE_float("transpose", 0.0, "Semitones to move the pitch by, up "
                     "if positive (autoencoders with pitch conditioning).")
  flags.DEFINE_string("checkpoint", "best", "best, last, or a checkpoint "
                      "path prefix.")
  flags.DEFINE_string("name", "wavenet", "Unconditional outputs: "
                      "<name>_<i>.wav.")
  flags.DEFINE_boolean("overwrite", False, "Replace existing outputs.")
  flags.mark_flags_as_required(["model_dir", "output_dir"])


def main(argv):
  from absl import flags  # pylint: disable=g-import-not-at-top
  if len(argv) > 1:
    print(f"error: unexpected arguments {' '.join(argv[1:])}",
          file=sys.stderr)
    return 1
  f = flags.FLAGS
  paths = synthesize_files(
      f.model_dir, f.output_dir, embeddings=f.embeddings, inputs=f.input,
      seconds=f.seconds, num_seqs=f.num_seqs, batch_size=f.batch_size,
      temperature=f.temperature, seed=f.seed, checkpoint=f.checkpoint,
      name=f.name, overwrite=f.overwrite, transpose=f.transpose)
  for path in paths:
    print(path)
  return 0


def run():
  """Console-script entry point (`wavenet-synthesize`)."""
  from common import cli  # pylint: disable=g-import-not-at-top
  cli.run(main, _define_flags, __doc__, user_errors=(ValueError,))


if __name__ == "__main__":
  run()
