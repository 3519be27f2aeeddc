"""Audio to NSynth embeddings and back to files: the encode library.

`python -m wavenet.encode` is its command line; `wavenet.synthesis`,
`wavenet.latent` and the instrument use it too.

Embeddings: float32 `[frames, width]` at `sample_rate / hop_length` frames
per second (`frame_rate`); `width = embedding_width(config)` =
`bottleneck_width`, plus `pitch_bins` for a pitch-conditioned model: its
last values are each frame's measured pitch as a two-hot over semitones
(`wavenet.pitch`).

Frames: the encoder (`wavenet.model.Encoder`) averages non-overlapping
frames of `hop_length` samples and pads the end, so `samples` samples give
`frames = ceil(samples / hop_length)` (`wavenet.frames.num_frames`); frame
`f` describes samples `[f * hop, (f + 1) * hop)`. Decoding `frames` frames
gives `frames * hop_length` samples: up to `hop_length - 1` more than the
source.

Batching: files of exactly the same length (in samples, after resampling)
are encoded together; no padding, because the non-causal encoder would see
a shorter file's padding near its end and its embeddings would depend on
its batch. So a file's embeddings are the same whether it is encoded alone
or in a batch (up to float rounding).

Long files: a file longer than a window (`window_samples`) is encoded in
windows, each with `encoder_context(config)` samples of context on both
sides (the encoder's receptive field rounded up to whole frames), so memory
stays bounded and the result equals encoding the whole file at once (up to
float rounding).
"""

from __future__ import annotations

import collections
import math
import os
import sys
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np

from common import audio
from common import config as config_lib
from common import files
from common import quantization
from wavenet import frames as frames_lib

if TYPE_CHECKING:
  from common import checkpoint as checkpoint_lib

DEFAULT_WINDOW_SECONDS = 10.0


class EmbeddingsError(ValueError):
  """A user error: not an autoencoder, bad embeddings file, no inputs."""


# ---------------------------------------------------------------------------
# Frames and the encoder's context.
# ---------------------------------------------------------------------------


def frame_rate(config: dict) -> float:
  """Embedding frames per second: `sample_rate / hop_length`."""
  return float(config["sample_rate"]) / int(config["hop_length"])


def embedding_width(config: dict) -> int:
  """Values per embedding frame: the learned `bottleneck_width`, then the
  `pitch_bins` of the pitch two-hot (0 without pitch conditioning)."""
  return int(config["bottleneck_width"]) + int(config.get("pitch_bins") or 0)


def transpose(embeddings: np.ndarray, semitones: float,
              bottleneck_width: int) -> np.ndarray:
  """Moves the pitch two-hots of pitch-conditioned embeddings.

  Args:
    embeddings: float `[..., frames, width]`; the values after the first
      `bottleneck_width` are the pitch bins (one per semitone).
    semitones: how far to move the pitch, up if positive; may be fractional
      (the two-hot shares the weight between neighbouring bins).
    bottleneck_width: the learned values, left unchanged.

  Returns:
    a float32 copy; weight moved past either end of the bins is dropped.
  """
  z = np.array(embeddings, np.float32)
  bins = z.shape[-1] - int(bottleneck_width)
  whole = math.floor(semitones)
  part = semitones - whole

  def moved(values: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros_like(values)
    if abs(n) < bins:
      if n >= 0:
        out[..., n:] = values[..., :bins - n]
      else:
        out[..., :n] = values[..., -n:]
    return out

  pitches = z[..., int(bottleneck_width):]
  z[..., int(bottleneck_width):] = ((1.0 - part) * moved(pitches, whole) +
                                    part * moved(pitches, whole + 1))
  return z


def encoder_context(config: dict) -> int:
  """Samples of context a window needs on each side for exact embeddings.

  The encoder's convolutions reach at most `(ae_filter_length - 1) *
  (1 + sum of the encoder dilations)` samples to either side of a sample
  (start conv + residual layers; the bottleneck and the frame average add
  nothing outside the frame), or with pitch conditioning the reach of the
  YIN window past its frame if that is larger; rounded up to whole frames.
  """
  k = int(config["ae_filter_length"])
  stages = int(config["ae_num_stages"])
  dilation_sum = sum(2 ** (i % stages) for i in range(int(
      config["ae_num_layers"])))
  radius = (k - 1) * (1 + dilation_sum)
  hop = int(config["hop_length"])
  if config.get("pitch_bins"):
    radius = max(radius, frames_lib.YIN_FRAME_LENGTH // 2 - hop // 2)
  return frames_lib.num_frames(radius, hop) * hop


def check_autoencoder(config: dict, source: str) -> None:
  """Raises EmbeddingsError unless `config` is an autoencoder's."""
  if config.get("family", "wavenet") != "wavenet":
    raise EmbeddingsError(f"{source}: is a {config.get('family')} model, not a "
                     f"WaveNet autoencoder")
  if config.get("conditioning") != "encoder":
    raise EmbeddingsError(
        f"{source}: the model is an unconditional WaveNet (conditioning="
        f"{config.get('conditioning')!r}) and has no encoder; use an "
        f"autoencoder (conditioning=encoder)")


def window_samples(config: dict,
                   window_seconds: float | None) -> int | None:
  """`window_seconds` in samples, whole frames (None: no windowing)."""
  if window_seconds is None or window_seconds <= 0:
    return None
  hop = int(config["hop_length"])
  return max(1, int(round(window_seconds * config["sample_rate"] / hop))) * hop


# ---------------------------------------------------------------------------
# Encoding arrays.
# ---------------------------------------------------------------------------


def encode_batch(model: Any, codes: np.ndarray) -> np.ndarray:
  """int32 codes `[batch, samples]` -> float32 `[batch, frames, d]` (NumPy)."""
  return np.asarray(model.encode(np.asarray(codes, np.int32)), np.float32)


def encode_codes(model: Any, config: dict, codes: np.ndarray,
                 window: int | None = None) -> np.ndarray:
  """Codes `[samples]` -> embeddings float32 `[frames, d]`.

  Args:
    model: a built WaveNet autoencoder.
    config: its config (hop_length and the encoder's shape).
    codes: int `[samples]` quantized with the config's quantization.
    window: encode in windows of this many samples (a multiple of
      hop_length) with `encoder_context` samples of context each side; None
      encodes the whole array at once. Same result up to float rounding.

  Returns:
    `[ceil(samples / hop_length), bottleneck_width]`.
  """
  codes = np.asarray(codes, np.int32).reshape(-1)
  n, hop = len(codes), int(config["hop_length"])
  if n == 0:
    raise EmbeddingsError("cannot encode 0 samples")
  if window is None or n <= window:
    return encode_batch(model, codes[None])[0]
  if window % hop:
    raise EmbeddingsError(f"window must be a multiple of hop_length={hop}, got "
                     f"{window}")
  context = encoder_context(config)
  pieces = []
  for start in range(0, n, window):
    lo, hi = max(0, start - context), min(n, start + window + context)
    z = encode_batch(model, codes[None, lo:hi])[0]
    first = (start - lo) // hop
    pieces.append(z[first:first + frames_lib.num_frames(
        min(window, n - start), hop)])
  return np.concatenate(pieces, axis=0)


def audio_to_codes(config: dict, samples: np.ndarray) -> np.ndarray:
  """float audio `[samples]` -> int32 codes with the config's quantizer."""
  return quantization.encode(np.asarray(samples, np.float32),
                             config.get("quantization") or "mu_law",
                             int(config["q_levels"]))


def encode_audio(model: Any, config: dict, samples: np.ndarray,
                 window: int | None = None) -> np.ndarray:
  """Audio float `[samples]` at the model's rate -> float32 `[frames, d]`.

  The audio is quantized with the config's quantization (the encoder reads
  codes, as in training); `frames = ceil(samples / hop_length)`. See
  `encode_codes` for `window`.
  """
  return encode_codes(model, config, audio_to_codes(config, samples), window)


# ---------------------------------------------------------------------------
# Files.
# ---------------------------------------------------------------------------


def relative_outputs(inputs: Sequence[str], found: Sequence[str],
                     output_dir: str, ext: str) -> list[str]:
  """Output paths `output_dir/<relative stem><ext>` for the files `found`.

  A file found under an input folder keeps its path relative to that folder;
  a file given directly keeps its name. Raises an error if two inputs map
  to the same output (e.g. `a.wav` and `a.flac`): EmbeddingsError.
  """
  folders = [os.path.abspath(p) for p in inputs if os.path.isdir(p)]
  outputs: list[str] = []
  seen: dict[str, str] = {}
  for path in found:
    path = os.path.abspath(path)
    rel = os.path.basename(path)
    for folder in folders:
      if path.startswith(folder + os.sep):
        rel = os.path.relpath(path, folder)
        break
    out = os.path.join(output_dir, os.path.splitext(rel)[0] + ext)
    if out in seen:
      raise EmbeddingsError(f"{path} and {seen[out]} would both be written to "
                       f"{out}; rename one of them")
    seen[out] = path
    outputs.append(out)
  return outputs


def save_npy(path: str, array: np.ndarray) -> None:
  """Writes a NumPy array atomically."""
  with files.atomic_path(path) as tmp:
    with open(tmp, "wb") as f:
      np.save(f, np.asarray(array))


def as_list(inputs: str | Sequence[str]) -> list[str]:
  """One path or several -> a list of paths."""
  return [inputs] if isinstance(inputs, str) else list(inputs)


def find_inputs(inputs: str | Sequence[str]) -> list[str]:
  """Audio files of `inputs` (files/folders); a clear error if none."""
  inputs = as_list(inputs)
  found = audio.find_audio_files(inputs)
  if not found:
    raise EmbeddingsError(f"{', '.join(inputs)}: no audio files found")
  return found


def length_groups(paths: Sequence[str], skip_bad: bool = False,
                  skipped: list | None = None) -> list[list[int]]:
  """Groups files by source length and rate (header only), in first order.

  Files with the same source frames and rate have the same length after
  resampling. Unreadable files raise `audio.AudioError` (naming the file),
  or are appended to `skipped` as (path, reason) with `skip_bad`.
  """
  skipped = [] if skipped is None else skipped
  groups: dict[tuple[int, int], list[int]] = collections.OrderedDict()
  for i, path in enumerate(paths):
    try:
      meta = audio.info(path)
    except audio.AudioError as e:
      if not skip_bad:
        raise
      skipped.append((path, str(e)))
      continue
    if meta["frames"] == 0:
      error = audio.AudioError(f"{path}: no samples (0 frames)")
      if not skip_bad:
        raise error
      skipped.append((path, str(error)))
      continue
    groups.setdefault((meta["frames"], meta["sample_rate"]), []).append(i)
  return list(groups.values())


def iter_encoded(model: Any, config: dict, paths: Sequence[str],
                 batch_size: int = 8, window: int | None = None,
                 skip_bad: bool = False, skipped: list | None = None,
                 progress: bool = True
                 ) -> Iterator[tuple[int, np.ndarray, int]]:
  """Encodes audio files; yields `(index, embeddings [frames, d], samples)`.

  Files of equal length are batched (`batch_size` at a time, no padding);
  files longer than `window` samples are encoded alone in windows (see
  `encode_codes`). Yields in batch order, not input order.

  Raises:
    audio.AudioError naming the file (unless `skip_bad`: then the file is
    appended to `skipped` as (path, reason) and left out).
  """
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  skipped = [] if skipped is None else skipped
  rate = int(config["sample_rate"])
  groups = length_groups(paths, skip_bad, skipped)
  bar = tqdm(total=sum(len(g) for g in groups), unit="file",
             desc="encoding", disable=not progress, file=sys.stderr,
             dynamic_ncols=True)
  try:
    for group in groups:
      for first in range(0, len(group), max(1, int(batch_size))):
        loaded = []
        for i in group[first:first + max(1, int(batch_size))]:
          try:
            loaded.append((i, audio.load(paths[i], rate)))
          except audio.AudioError as e:
            if not skip_bad:
              raise
            skipped.append((paths[i], str(e)))
            bar.update(1)
        by_length: dict[int, list] = collections.OrderedDict()
        for i, samples in loaded:
          by_length.setdefault(len(samples), []).append((i, samples))
        for length, items in by_length.items():
          if window is not None and length > window:
            for i, samples in items:
              z = encode_audio(model, config, samples, window)
              bar.update(1)
              yield i, z, length
            continue
          z = encode_batch(model, np.stack(
              [audio_to_codes(config, s) for _, s in items]))
          for (i, _), zi in zip(items, z):
            bar.update(1)
            yield i, zi, length
  finally:
    bar.close()


def load_autoencoder(model_dir: str, checkpoint: str = "best"
                     ) -> checkpoint_lib.Loaded:
  """A trained autoencoder, `(model, config, step, path)`: `path` is the
  checkpoint restored (an older one if the newest is unreadable)."""
  # pylint: disable=g-import-not-at-top
  from common import checkpoint as checkpoint_lib
  from wavenet import model as model_lib
  check_autoencoder(config_lib.load_saved(model_dir), model_dir)
  return checkpoint_lib.load(model_dir, model_lib.build_model, checkpoint)


def encode_files(model_dir: str, inputs: str | Sequence[str],
                 output_dir: str, batch_size: int = 8,
                 checkpoint: str = "best", overwrite: bool = False,
                 window_seconds: float | None = DEFAULT_WINDOW_SECONDS,
                 skip_bad: bool = False, skipped: list | None = None,
                 progress: bool = True) -> list[str]:
  """Encodes audio files to `.npy` embeddings plus JSON sidecars.

  Args:
    model_dir: a trained WaveNet autoencoder directory.
    inputs: an audio file or folder (recursive), or a list of them.
    output_dir: where `<relative stem>.npy` / `.json` go.
    batch_size: files of equal length encoded together.
    checkpoint: "best", "last" or a checkpoint path prefix.
    overwrite: replace existing outputs (else FileExistsError up front).
    window_seconds: longer files are encoded in windows (None: never).
    skip_bad: leave out unreadable files (listed in `skipped`) instead of
      stopping at the first.
    skipped: optional list receiving (path, reason) of skipped files.
    progress: show a tqdm bar.

  Returns:
    the `.npy` paths written, in input order.
  """
  paths = find_inputs(inputs)
  outputs = relative_outputs(as_list(inputs), paths, output_dir, ".npy")
  for out in outputs:
    files.refuse_overwrite(out, overwrite)
    files.refuse_overwrite(files.sidecar_path(out), overwrite)
  check_autoencoder(config_lib.load_saved(model_dir), model_dir)
  skipped = [] if skipped is None else skipped
  # Header pass first: an unreadable file stops us before the model loads.
  length_groups(paths, skip_bad, [])
  model, config, step, ckpt_path = load_autoencoder(model_dir, checkpoint)
  rate, hop = int(config["sample_rate"]), int(config["hop_length"])
  window = window_samples(config, window_seconds)
  written = {}
  for i, z, samples in iter_encoded(model, config, paths, batch_size, window,
                                    skip_bad, skipped, progress):
    save_npy(outputs[i], z.astype(np.float32))
    files.write_json(files.sidecar_path(outputs[i]), dict(
        source=paths[i], embeddings=os.path.abspath(outputs[i]),
        samples=samples, seconds=round(samples / rate, 6), sample_rate=rate,
        hop_length=hop, frames=int(z.shape[0]),
        frame_rate=rate / hop, bottleneck_width=int(config["bottleneck_width"]),
        pitch_bins=int(config.get("pitch_bins") or 0),
        decoded_samples=int(z.shape[0]) * hop,
        quantization=config.get("quantization"),
        q_levels=int(config["q_levels"]),
        model_dir=os.path.abspath(model_dir), checkpoint=checkpoint,
        checkpoint_path=ckpt_path, checkpoint_step=step))
    written[i] = outputs[i]
  return [written[i] for i in sorted(written)]


# ---------------------------------------------------------------------------
# Embeddings files.
# ---------------------------------------------------------------------------


def find_embeddings(inputs: str | Sequence[str]) -> list[str]:
  """`.npy` files of `inputs` (files or folders, recursive), sorted."""
  inputs = as_list(inputs)
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
      raise EmbeddingsError(f"{path}: no such file or folder")
  if not found:
    raise EmbeddingsError(f"{', '.join(inputs)}: no .npy embeddings found")
  return sorted(set(os.path.abspath(p) for p in found))


def load_embeddings(path: str, width: int) -> np.ndarray:
  """Reads one `.npy` of embeddings -> float32 `[frames, width]`.

  `[1, frames, width]` is accepted too. Raises EmbeddingsError naming the
  file if it is not a `.npy`, has the wrong shape, or holds NaN/Inf.
  """
  try:
    z = np.load(path, allow_pickle=False)
  except (OSError, ValueError, EOFError) as e:
    reason = str(e).split("\n")[0] or type(e).__name__
    raise EmbeddingsError(f"{path}: not a NumPy .npy file ({reason})"
                          ) from None
  if z.ndim == 3 and z.shape[0] == 1:
    z = z[0]
  if z.ndim != 2 or z.shape[1] != width or z.shape[0] < 1:
    raise EmbeddingsError(f"{path}: embeddings must be [frames, {width}] "
                          f"for this model, got shape {list(z.shape)}")
  if not np.issubdtype(z.dtype, np.number) or not np.all(np.isfinite(z)):
    raise EmbeddingsError(f"{path}: embeddings hold NaN, Inf or non-numbers")
  return z.astype(np.float32)
