"""Generated codes to wav files, for every family.

- `stream_to_wavs`: decodes code blocks `[num_seqs, block]` as they arrive
  and appends them to one wav per sequence (memory does not grow with
  length), with a progress bar in generated seconds and samples/s; renames
  the files into place at the end and writes a JSON sidecar beside each.
- `write_request`: a `common.generator.Generator` and a `Request` to one wav
  per sequence, each sidecar holding that sequence's seed and temperature.
- `generate_files`: a model directory's unconditional (or primed)
  generation to files, safe to re-run after an interruption: what
  `samplernn.generate` runs, and any family's generator that needs no
  embeddings can serve it.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import Iterable, Sequence

import numpy as np

from common import audio
from common import files
from common import generator as generator_lib
from common import quantization


def output_paths(output_dir: str, name: str, count: int,
                 overwrite: bool = False, ext: str = ".wav") -> list[str]:
  """`output_dir/name_i.wav` for i < count; refuses existing files."""
  paths = [os.path.join(output_dir, f"{name}_{i}{ext}") for i in range(count)]
  for path in paths:
    files.refuse_overwrite(path, overwrite)
  return paths


def stream_to_wavs(paths: Sequence[str], blocks: Iterable[np.ndarray],
                   num_samples: int, sample_rate: int, kind: str,
                   q_levels: int, sidecar: dict | Sequence[dict] | None = None,
                   progress: bool = True,
                   prefix_audio: np.ndarray | None = None) -> dict:
  """Decodes code blocks and streams them to one wav per sequence.

  Args:
    paths: one output path per sequence.
    blocks: iterable of int32 codes `[len(paths), block]`.
    num_samples: samples expected per sequence (for the progress bar).
    sample_rate: Hz.
    kind, q_levels: the quantization of the codes.
    sidecar: dict written as `<path>.json` beside every wav (plus `seconds`,
      `seconds_taken`, `samples_per_second`, and `index`, the position in
      `paths`, unless the dict has one), a list of one dict per path, or
      None.
    progress: show a tqdm bar in seconds of audio.
    prefix_audio: optional float32 `[len(paths), n]` written before the
      generated audio (e.g. the prime of a continuation).

  Returns:
    dict(seconds_taken, samples_per_second, samples) — samples per sequence,
    samples_per_second counts all sequences together.
  """
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  started = time.time()
  done = 0
  bar = tqdm(total=num_samples, unit="s", unit_scale=1.0 / sample_rate,
             disable=not progress, file=sys.stderr, dynamic_ncols=True,
             desc="generated", bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f}"
             " s [{elapsed}<{remaining}{postfix}]")
  with contextlib.ExitStack() as stack:
    writers = [stack.enter_context(audio.WavWriter(p, sample_rate))
               for p in paths]
    if prefix_audio is not None:
      for writer, prefix in zip(writers, prefix_audio):
        writer.write(prefix)
    for block in blocks:
      block = np.asarray(block)
      decoded = quantization.decode(block, kind, q_levels)
      for writer, row in zip(writers, decoded):
        writer.write(row)
      done += block.shape[1]
      rate = done * len(paths) / max(time.time() - started, 1e-9)
      bar.set_postfix_str(f"{rate:,.0f} samples/s", refresh=False)
      bar.update(block.shape[1])
  bar.close()
  taken = time.time() - started
  stats = dict(seconds_taken=round(taken, 3), samples=done,
               samples_per_second=round(done * len(paths) / max(taken, 1e-9),
                                        1))
  if sidecar is not None:
    for i, path in enumerate(paths):
      extra = sidecar if isinstance(sidecar, dict) else sidecar[i]
      files.write_json(files.sidecar_path(path),
                       {"index": i, **extra,
                        "seconds": round(done / sample_rate, 4), **stats})
  return stats


def write_request(gen: generator_lib.Generator,
                  request: generator_lib.Request, num_samples: int,
                  paths: Sequence[str], sidecars: Sequence[dict] | None,
                  block_samples: int | None = None,
                  prefix_audio: np.ndarray | None = None,
                  progress: bool = True) -> dict:
  """Generates `request` and streams sequence `i` to `paths[i]`.

  Each wav's sidecar is `sidecars[i]` plus the sequence's `seed` and
  `temperature` (so it can be re-made by any tool), written with
  `"complete": false` before generation starts and `"complete": true` (and
  the timing of `stream_to_wavs`) once the wav is in place: a wav is never
  left without its sidecar.

  Args:
    gen, request: what to generate (`common.generator`).
    num_samples: samples per sequence.
    paths: one wav path per sequence of `request`.
    sidecars: one dict per path, or None: no sidecars.
    block_samples: samples per block (a multiple of `gen.block_multiple`),
      or None for the generator's.
    prefix_audio: float32 `[num_seqs, n]` written before the generated audio.
    progress: a tqdm bar.

  Returns:
    `stream_to_wavs`'s stats.

  Raises:
    RequestError: the generator cannot serve the request.
  """
  gen.check(request, num_samples)
  finished = None
  if sidecars is not None:
    sidecars = [dict(sidecar, seed=seed, temperature=temperature)
                for sidecar, seed, temperature in zip(
                    sidecars, request.seeds, request.temperatures)]
    for path, sidecar in zip(paths, sidecars):
      files.write_json(files.sidecar_path(path),
                       dict(sidecar, complete=False))
    finished = [dict(sidecar, complete=True) for sidecar in sidecars]
  return stream_to_wavs(
      paths, generator_lib.stream(gen, request, num_samples, block_samples),
      num_samples, gen.sample_rate, gen.quantization, gen.q_levels,
      sidecar=finished, progress=progress, prefix_audio=prefix_audio)


def block_samples_of(seconds: float, gen: generator_lib.Generator) -> int:
  """`seconds` of audio in samples, rounded to a whole number (at least
  one) of the generator's `block_multiple`."""
  multiple = gen.block_multiple
  return max(1, round(seconds * gen.sample_rate / multiple)) * multiple


def generate_files(model_dir: str, output_dir: str, num_seqs: int = 1,
                   seconds: float = 5.0, temperature: str | float = "1.0",
                   seed: int = 0, prime: str | None = None,
                   include_prime: bool = False, checkpoint: str = "best",
                   name: str | None = None, block_seconds: float = 1.0,
                   overwrite: bool = False, progress: bool = True,
                   family: str | None = None) -> list[str]:
  """Loads a model and streams `num_seqs` wavs (+ JSON sidecars) to disk.

  Output `i` (`<name>_<i>.wav`) has the seed `seed + i` and its own
  temperature, recorded in its sidecar with the rest of the request (model,
  checkpoint, seconds, prime). Each wav is written under a temporary name
  and renamed into place when complete; its sidecar is written before that
  rename, so a wav is never left without it. Re-running the same request
  after an interruption, at any moment, makes the same files (outputs it
  already finished are made again, identical); when all are finished there
  is nothing to do. Outputs made otherwise are refused unless `overwrite`.

  Args:
    model_dir: a trained (or pretrained) model directory.
    output_dir: where the wavs go.
    num_seqs: sequences, generated side by side.
    seconds: of audio per sequence (after the prime).
    temperature: one value, or one per sequence ("0.9,1.0").
    seed: the first sequence's seed.
    prime: an audio file every sequence continues (a family whose
      generator `can_prime`), or None.
    include_prime: write the prime before the continuation.
    checkpoint: "best", "last" or a checkpoint path prefix.
    name: file names `<name>_<i>.wav`; None: the model's family name.
    block_seconds: audio per compiled call (rounded to whole blocks).
    overwrite: replace outputs made otherwise.
    progress: a progress bar on stderr.
    family: the family the model must be of (a family's own command), or
      None for any.

  Returns:
    the wav paths.

  Raises:
    RequestError: a model of another family, or a request it cannot serve
      (e.g. an autoencoder, which needs embeddings).
    FileExistsError: an output exists and was made otherwise.
    ConfigError, CheckpointError, FileNotFoundError: see
      `common.checkpoint.load`.
  """
  # pylint: disable=g-import-not-at-top
  from common import checkpoint as checkpoint_lib
  from common import config as config_lib
  from common import family as family_lib
  saved = config_lib.load_saved(model_dir)
  if family is not None and saved.get("family") != family:
    raise generator_lib.RequestError(
        f"{model_dir}: is a {saved.get('family')} model, not a {family} one")
  if not seconds > 0:
    raise generator_lib.RequestError(f"seconds must be > 0, got {seconds}")
  every = generator_lib.Request.make(
      num_seqs, seed, generator_lib.parse_temperatures(temperature, num_seqs))
  # Names only: `files.claim_outputs` decides what may be replaced.
  paths = output_paths(output_dir, name or str(saved["family"]), num_seqs,
                       overwrite=True)
  plugin = family_lib.of_config(saved)
  # Loaded first: the request names the checkpoint actually restored (an
  # older one if the newest is unreadable), so a re-run after a fallback
  # is recognised, and one after a new checkpoint is not.
  loaded = checkpoint_lib.load(model_dir, plugin.build_model, checkpoint)
  requests = [dict(
      model_dir=os.path.abspath(model_dir), checkpoint=checkpoint,
      checkpoint_path=os.path.abspath(loaded.path),
      seed=every.seeds[i], temperature=every.temperatures[i],
      num_seqs=num_seqs, seconds_requested=float(seconds),
      prime=os.path.abspath(prime) if prime else None,
      include_prime=bool(prime and include_prime)) for i in range(num_seqs)]
  if files.claim_outputs(zip(paths, map(files.sidecar_path, paths), requests),
                         overwrite):
    if progress:
      print(f"{output_dir}: {', '.join(os.path.basename(p) for p in paths)} "
            f"already made by the same command; nothing to do",
            file=sys.stderr)
    return paths
  gen = plugin.generator(loaded.model, loaded.config)
  request, prefix = every, None
  if prime:
    codes = quantization.encode(audio.load(prime, gen.sample_rate),
                                gen.quantization, gen.q_levels)
    request = generator_lib.Request.make(num_seqs, seed, every.temperatures,
                                         prime_codes=codes)
    if include_prime:
      prefix = quantization.decode(request.prime_codes, gen.quantization,
                                   gen.q_levels)
  num_samples = int(round(seconds * gen.sample_rate))
  try:
    gen.check(request, num_samples)
  except generator_lib.RequestError as e:
    raise generator_lib.RequestError(f"{model_dir}: {e}") from None
  os.makedirs(output_dir, exist_ok=True)
  write_request(gen, request, num_samples, paths,
                [dict(r, checkpoint_step=loaded.step,
                      sample_rate=gen.sample_rate) for r in requests],
                block_samples_of(block_seconds, gen), prefix, progress)
  return paths
