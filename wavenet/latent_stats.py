"""A corpus's mean and std embedding (`wavenet.latent mean`), for
`caricature` and `noise`.

Every file of a prepared corpus split is encoded whole (in windows,
`wavenet.embeddings.encode_codes`); the statistics are over all their
frames. They are stored as a `.npz` (`mean`, `std` `[d]` float32 and scalar
metadata) with a `.json` beside it describing how they were made.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np

from common import config as config_lib
from common import files
from wavenet import embeddings as embeddings_lib
from wavenet.latent_ops import LatentError

FORMULA = "mean and std embedding over all frames of a corpus split"


def _corpus_moments(model: Any, config: dict, data_dir: str,
                    split: str = "train", max_files: int | None = None,
                    progress: bool = False
                    ) -> tuple[np.ndarray, np.ndarray, int, int]:
  """(mean `[d]`, std `[d]`, frames, files) over all frames of a split."""
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  from common import data  # pylint: disable=g-import-not-at-top
  man = data.manifest(data_dir)
  config_lib.check_data_settings(config, man["settings"], data_dir)
  entries = data.read_files(data_dir, split, max_files)
  if not entries:
    raise LatentError(f"{data_dir}: the {split!r} split has no files")
  window = embeddings_lib.window_samples(
      config, embeddings_lib.DEFAULT_WINDOW_SECONDS)
  total = np.zeros([embeddings_lib.embedding_width(config)])
  total_sq = np.zeros_like(total)
  frames = 0
  for _, codes in tqdm(entries, desc="encoding", unit="file",
                       disable=not progress, file=sys.stderr):
    z = embeddings_lib.encode_codes(model, config, codes, window).astype(
        np.float64)
    total += z.sum(0)
    total_sq += (z * z).sum(0)
    frames += len(z)
  mean = total / frames
  std = np.sqrt(np.maximum(total_sq / frames - mean * mean, 0.0))
  return mean.astype(np.float32), std.astype(np.float32), frames, len(entries)


def mean_std(model: Any, config: dict, data_dir: str, split: str = "train",
             max_files: int | None = None,
             progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
  """Mean and (population) std embedding of a corpus split.

  Every file of the split (`common.data.read_files`, at most `max_files`)
  is encoded whole; the statistics are over all their frames.

  Returns:
    (mean `[d]`, std `[d]`) float32.
  """
  mean, std, _, _ = _corpus_moments(model, config, data_dir, split,
                                    max_files, progress)
  return mean, std


def save_stats(path: str, mean: np.ndarray, std: np.ndarray,
               **metadata: Any) -> None:
  """Writes `mean`, `std` (and scalar metadata) to a `.npz` atomically."""
  with files.atomic_path(path) as tmp:
    with open(tmp, "wb") as f:
      arrays = {k: np.asarray(v) for k, v in metadata.items()}
      arrays.update(mean=np.asarray(mean, np.float32),
                    std=np.asarray(std, np.float32))
      np.savez(f, **arrays)  # type: ignore[arg-type]  # numpy's stub


def load_stats(path: str | None,
               width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
  """(mean `[d]`, std `[d]`) from a `.npz` written by `mean`.

  Raises:
    LatentError: no path, not such a file, or not `[width]`.
  """
  if not path:
    raise LatentError("this command needs --stats=mean.npz (make it with "
                      "`wavenet.latent mean`)")
  try:
    with np.load(path, allow_pickle=False) as stats:
      mean, std = stats["mean"], stats["std"]
  except (OSError, ValueError, KeyError, EOFError) as e:
    reason = str(e).split("\n")[0] or type(e).__name__
    raise LatentError(f"{path}: not a stats .npz with mean and std "
                      f"({reason})") from None
  if mean.ndim != 1 or mean.shape != std.shape or (
      width is not None and len(mean) != width):
    raise LatentError(f"{path}: mean/std must be [{width}] for this model, "
                      f"got {list(mean.shape)} and {list(std.shape)}")
  return mean.astype(np.float32), std.astype(np.float32)


def make_mean(model_dir: str, data_dir: str | None, output: str | None,
              split: str = "train", max_files: int | None = None,
              checkpoint: str = "best", overwrite: bool = False,
              progress: bool = True,
              loaded: tuple[Any, dict, int, str] | None = None) -> dict:
  """The `mean` command: writes `output` (.npz) and a `.json` beside it.

  Args:
    loaded: optional `(model, config, step, checkpoint_path)` from
      `wavenet.embeddings.load_autoencoder`, to reuse a model in memory.

  Returns:
    the description written to the `.json`.
  """
  if not data_dir or not output:
    raise LatentError("mean needs --data_dir=PREPARED and --output=mean.npz")
  sidecar = files.sidecar_path(output)
  files.refuse_overwrite(output, overwrite)
  files.refuse_overwrite(sidecar, overwrite)
  embeddings_lib.check_autoencoder(config_lib.load_saved(model_dir),
                                   model_dir)
  model, config, step, ckpt = loaded or embeddings_lib.load_autoencoder(
      model_dir, checkpoint)
  mean, std, frames, count = _corpus_moments(model, config, data_dir, split,
                                             max_files, progress)
  save_stats(output, mean, std, frames=frames, files=count)
  info = dict(command="mean", formula=FORMULA,
              data_dir=os.path.abspath(data_dir), split=split,
              max_files=max_files, files=count, frames=frames,
              model_dir=os.path.abspath(model_dir), checkpoint=checkpoint,
              checkpoint_path=ckpt, checkpoint_step=step,
              output=os.path.abspath(output), mean=mean.tolist(),
              std=std.tolist())
  files.write_json(sidecar, info)
  return info
