"""Generation utilities both families share: streaming codes to wav files.

A generator yields int32 code blocks `[num_seqs, block_samples]`; `stream_to_wavs`
decodes each block and appends it to one wav per sequence as it arrives (memory
does not grow with length), shows a progress bar in generated seconds with
samples/s, renames the files into place at the end, and writes a JSON sidecar
beside each wav.
"""

import contextlib
import os
import sys
import time

import numpy as np

from common import audio
from common import files
from common import quantization


def output_paths(output_dir, name, count, overwrite=False, ext=".wav"):
  """`output_dir/name_i.wav` for i < count; refuses existing files."""
  paths = [os.path.join(output_dir, f"{name}_{i}{ext}") for i in range(count)]
  for path in paths:
    files.refuse_overwrite(path, overwrite)
  return paths


def parse_temperatures(text, count):
  """"0.9" or "0.9,1.0,..." (one per sequence) -> list of `count` floats."""
  values = [float(v) for v in str(text).split(",") if v.strip()]
  if len(values) == 1:
    values = values * count
  if len(values) != count:
    raise ValueError(f"--temperature has {len(values)} values for {count} "
                     f"sequences; give one value or one per sequence")
  if any(v < 0 for v in values):
    raise ValueError("temperatures must be >= 0")
  return values


def stream_to_wavs(paths, blocks, num_samples, sample_rate, kind, q_levels,
                   sidecar=None, progress=True, prefix_audio=None):
  """Decodes code blocks and streams them to one wav per sequence.

  Args:
    paths: one output path per sequence.
    blocks: iterable of int32 codes `[len(paths), block]`.
    num_samples: samples expected per sequence (for the progress bar).
    sample_rate: Hz.
    kind, q_levels: the quantization of the codes.
    sidecar: dict written as `<path>.json` beside every wav (plus `seconds`,
      `seconds_taken`, `samples_per_second` and `index`), a list of one dict
      per path, or None.
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
      extra = sidecar[i] if isinstance(sidecar, (list, tuple)) else sidecar
      files.write_json(os.path.splitext(path)[0] + ".json",
                       dict(extra, index=i,
                            seconds=round(done / sample_rate, 4), **stats))
  return stats
