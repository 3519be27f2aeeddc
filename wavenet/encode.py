r"""Encode audio into NSynth embeddings: `python -m wavenet.encode`.

    python -m wavenet.encode --model_dir=runs/nsynth --input=notes/ \
        --output_dir=embeddings [--batch_size=8 --checkpoint=best --overwrite]

Every audio file (any format `common.audio` reads, mixed to mono and
resampled to the model's sample rate) becomes `OUT/<relative stem>.npy`, a
float32 array `[frames, width]` at `sample_rate / hop_length` frames per
second (`width` = `bottleneck_width`, plus `pitch_bins` for a
pitch-conditioned model: its last values are each frame's measured pitch as
a two-hot over semitones, see `wavenet.pitch`), and a JSON sidecar `OUT/<relative stem>.json` (source
file, samples, seconds, sample_rate, hop_length, frames, model_dir,
checkpoint step, ...). The relative stem is the file's path under the
`--input` folder without its extension (just the name for a single file).

Frames: the encoder (`wavenet.model.Encoder`) averages non-overlapping
frames of `hop_length` samples and pads the end, so a file of `samples`
samples gives `frames = ceil(samples / hop_length)`; frame `f` describes
samples `[f * hop, (f + 1) * hop)` (the last frame may be partial). Decoding
`frames` frames gives `frames * hop_length` samples: up to `hop_length - 1`
more than the source.

Batching: files of exactly the same length (in samples, after resampling)
are encoded together, `--batch_size` at a time; no padding, because the
non-causal encoder would see a shorter file's padding near its end and its
embeddings would depend on its batch. So a file's embeddings are the same
whether it is encoded alone or in a batch (up to float rounding).

Long files: a file longer than `--window_seconds` is encoded in windows of
that length, each with `encoder_context(config)` samples of context on both
sides (the encoder's receptive field rounded up to whole frames), so memory
stays bounded and the result equals encoding the whole file at once (up to
float rounding).

The model must be an autoencoder (`conditioning: encoder`).
"""

import collections
import math
import os
import sys

import numpy as np

from common import audio
from common import config as config_lib
from common import files
from common import quantization

DEFAULT_WINDOW_SECONDS = 10.0


# ---------------------------------------------------------------------------
# Frames and the encoder's context.
# ---------------------------------------------------------------------------


def num_frames(num_samples, hop_length):
  """Embedding frames of `num_samples` samples: `ceil(samples / hop)`."""
  return -(-int(num_samples) // int(hop_length))


def frame_rate(config):
  """Embedding frames per second: `sample_rate / hop_length`."""
  return float(config["sample_rate"]) / int(config["hop_length"])


# wavenet.pitch.DEFAULT_FRAME_LENGTH (not imported: this module loads no
# TensorFlow until a model is built).
PITCH_FRAME_LENGTH = 2048


def embedding_width(config):
  """Values per embedding frame: the learned `bottleneck_width`, then the
  `pitch_bins` of the pitch two-hot (0 without pitch conditioning)."""
  return int(config["bottleneck_width"]) + int(config.get("pitch_bins") or 0)


def transpose(embeddings, semitones, bottleneck_width):
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

  def moved(values, n):
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


def encoder_context(config):
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
    radius = max(radius, PITCH_FRAME_LENGTH // 2 - hop // 2)
  return num_frames(radius, hop) * hop


def check_autoencoder(config, source):
  """Raises ValueError unless `config` is an autoencoder's."""
  if config.get("family", "wavenet") != "wavenet":
    raise ValueError(f"{source}: is a {config.get('family')} model, not a "
                     f"WaveNet autoencoder")
  if config.get("conditioning") != "encoder":
    raise ValueError(
        f"{source}: the model is an unconditional WaveNet (conditioning="
        f"{config.get('conditioning')!r}) and has no encoder; use an "
        f"autoencoder (conditioning=encoder)")


def window_samples(config, window_seconds):
  """`window_seconds` in samples, whole frames (None: no windowing)."""
  if window_seconds is None or window_seconds <= 0:
    return None
  hop = int(config["hop_length"])
  return max(1, int(round(window_seconds * config["sample_rate"] / hop))) * hop


# ---------------------------------------------------------------------------
# Encoding arrays.
# ---------------------------------------------------------------------------


def encode_batch(model, codes):
  """int32 codes `[batch, samples]` -> float32 `[batch, frames, d]` (NumPy)."""
  return np.asarray(model.encode(np.asarray(codes, np.int32)), np.float32)


def encode_codes(model, config, codes, window=None):
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
    raise ValueError("cannot encode 0 samples")
  if window is None or n <= window:
    return encode_batch(model, codes[None])[0]
  if window % hop:
    raise ValueError(f"window must be a multiple of hop_length={hop}, got "
                     f"{window}")
  context = encoder_context(config)
  pieces = []
  for start in range(0, n, window):
    lo, hi = max(0, start - context), min(n, start + window + context)
    z = encode_batch(model, codes[None, lo:hi])[0]
    first = (start - lo) // hop
    pieces.append(z[first:first + num_frames(min(window, n - start), hop)])
  return np.concatenate(pieces, axis=0)


def audio_to_codes(config, samples):
  """float audio `[samples]` -> int32 codes with the config's quantizer."""
  return quantization.encode(np.asarray(samples, np.float32),
                             config.get("quantization") or "mu_law",
                             int(config["q_levels"]))


def encode_audio(model, config, samples, window=None):
  """Audio float `[samples]` at the model's rate -> float32 `[frames, d]`.

  The audio is quantized with the config's quantization (the encoder reads
  codes, as in training); `frames = ceil(samples / hop_length)`. See
  `encode_codes` for `window`.
  """
  return encode_codes(model, config, audio_to_codes(config, samples), window)


# ---------------------------------------------------------------------------
# Files.
# ---------------------------------------------------------------------------


def relative_outputs(inputs, found, output_dir, ext):
  """Output paths `output_dir/<relative stem><ext>` for the files `found`.

  A file found under an input folder keeps its path relative to that folder;
  a file given directly keeps its name. Raises ValueError if two inputs map
  to the same output (e.g. `a.wav` and `a.flac`).
  """
  folders = [os.path.abspath(p) for p in inputs if os.path.isdir(p)]
  outputs, seen = [], {}
  for path in found:
    path = os.path.abspath(path)
    rel = os.path.basename(path)
    for folder in folders:
      if path.startswith(folder + os.sep):
        rel = os.path.relpath(path, folder)
        break
    out = os.path.join(output_dir, os.path.splitext(rel)[0] + ext)
    if out in seen:
      raise ValueError(f"{path} and {seen[out]} would both be written to "
                       f"{out}; rename one of them")
    seen[out] = path
    outputs.append(out)
  return outputs


def sidecar_path(path):
  """`x/y.npy` -> `x/y.json`."""
  return os.path.splitext(path)[0] + ".json"


def save_npy(path, array):
  """Writes a NumPy array atomically."""
  with files.atomic_path(path) as tmp:
    with open(tmp, "wb") as f:
      np.save(f, np.asarray(array))


def _as_list(inputs):
  return [inputs] if isinstance(inputs, str) else list(inputs)


def find_inputs(inputs):
  """Audio files of `inputs` (files/folders); a clear error if none."""
  inputs = _as_list(inputs)
  found = audio.find_audio_files(inputs)
  if not found:
    raise ValueError(f"{', '.join(inputs)}: no audio files found")
  return found


def length_groups(paths, skip_bad=False, skipped=None):
  """Groups files by source length and rate (header only), in first order.

  Files with the same source frames and rate have the same length after
  resampling. Unreadable files raise `audio.AudioError` (naming the file),
  or are appended to `skipped` as (path, reason) with `skip_bad`.
  """
  groups = collections.OrderedDict()
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


def iter_encoded(model, config, paths, batch_size=8, window=None,
                 skip_bad=False, skipped=None, progress=True):
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
        by_length = collections.OrderedDict()
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


def load_autoencoder(model_dir, checkpoint="best"):
  """(model, config, step, checkpoint_path) of a trained autoencoder."""
  # pylint: disable=g-import-not-at-top
  from common import checkpoint as checkpoint_lib
  from wavenet import model as model_lib  # pylint: disable=g-import-not-at-top
  check_autoencoder(config_lib.load_saved(model_dir), model_dir)
  path = checkpoint_lib.latest(model_dir, checkpoint)
  model, config, step = checkpoint_lib.load_model(
      model_dir, model_lib.build_model, checkpoint)
  return model, config, step, path


def encode_files(model_dir, inputs, output_dir, batch_size=8,
                 checkpoint="best", overwrite=False,
                 window_seconds=DEFAULT_WINDOW_SECONDS, skip_bad=False,
                 skipped=None, progress=True):
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
  outputs = relative_outputs(_as_list(inputs), paths, output_dir, ".npy")
  for out in outputs:
    files.refuse_overwrite(out, overwrite)
    files.refuse_overwrite(sidecar_path(out), overwrite)
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
    files.write_json(sidecar_path(outputs[i]), dict(
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
# Command line.
# ---------------------------------------------------------------------------


def _define_flags():
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string("model_dir", None, "A trained WaveNet autoencoder.")
  flags.DEFINE_multi_string("input", None, "Audio file or folder "
                            "(recursive); repeat the flag for more.")
  flags.DEFINE_string("output_dir", None, "Where <stem>.npy and <stem>.json "
                      "go.")
  flags.DEFINE_integer("batch_size", 8, "Files of equal length encoded "
                       "together.")
  flags.DEFINE_string("checkpoint", "best", "best, last, or a checkpoint "
                      "path prefix.")
  flags.DEFINE_float("window_seconds", DEFAULT_WINDOW_SECONDS, "Longer files "
                     "are encoded in windows of this length (same result, "
                     "bounded memory); 0: never.")
  flags.DEFINE_boolean("skip_bad", False, "Skip unreadable files (reported) "
                       "instead of stopping at the first.")
  flags.DEFINE_boolean("overwrite", False, "Replace existing outputs.")
  flags.mark_flags_as_required(["model_dir", "input", "output_dir"])


def main(argv):
  from absl import flags  # pylint: disable=g-import-not-at-top
  if len(argv) > 1:
    print(f"error: unexpected arguments {' '.join(argv[1:])}",
          file=sys.stderr)
    return 1
  f = flags.FLAGS
  skipped = []
  paths = encode_files(f.model_dir, f.input, f.output_dir,
                       batch_size=f.batch_size, checkpoint=f.checkpoint,
                       overwrite=f.overwrite,
                       window_seconds=f.window_seconds or None,
                       skip_bad=f.skip_bad, skipped=skipped)
  for path in paths:
    print(path)
  for _, reason in skipped:
    print(f"skipped {reason}", file=sys.stderr)
  return 1 if skipped else 0


def run():
  """Console-script entry point (`wavenet-encode`)."""
  from common import cli  # pylint: disable=g-import-not-at-top
  cli.run(main, _define_flags, __doc__, user_errors=(ValueError,))


if __name__ == "__main__":
  run()
