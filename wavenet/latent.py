r"""Latent-space tools of the NSynth instruments: `python -m wavenet.latent`.

    python -m wavenet.latent interpolate A B --steps=5 ...
    python -m wavenet.latent grid A B C D --grid=3 [--pitches=48,60,72] ...
    python -m wavenet.latent multigrid F1 ... F9 --layout=2x2 [--resolution=3]
    python -m wavenet.latent scale A --factor=0.5,1.5 ...
    python -m wavenet.latent caricature A --factor=2 --stats=mean.npz ...
    python -m wavenet.latent mean --data_dir=PREPARED --output=mean.npz ...
    python -m wavenet.latent noise A --sigma=0.5,1 --stats=mean.npz ...
    python -m wavenet.latent oscillate A B --hz=1 ...
    python -m wavenet.latent analogy A B C ...
    common: --model_dir=DIR --output_dir=OUT [--align=crop|pad|stretch
            --pitch=MIDI --seed=K --temperature=T or T1,T2,...
            --batch_size=8 --checkpoint=best --name=NAME --overwrite]

A, B, C, D, Fi are audio files (encoded first with the model, at its sample
rate) or `.npy` embeddings from `wavenet.encode`. Each command decodes its
embeddings with the batched fast generator and writes
`OUT/<name>_<i>.wav` (name defaults to the command; `<name>_p<pitch>_<i>`
with `--pitches`) plus `OUT/<name>.json` describing what was made: inputs,
formula, parameters, alignment and one entry per output (its file,
parameters, weights, frames and samples). `mean` writes a `.npz` of the
corpus's mean and std embedding (and a `.json` beside it).

Embeddings are NumPy float32 `[frames, d]` (d = the embedding width) at
`sample_rate / hop_length` frames per second; a result of `frames` frames
decodes to `frames * hop_length` samples.

Formulas (after the NSynth paper, its instruments and the "Making a
Neural Synthesizer Instrument" post):

- interpolate: `z = (1 - a) zA + a zB`, `a` in `linspace(0, 1, steps)`;
  beside each output the plain audio mix `(1 - a) xA + a xB` (when A and B
  are audio; each cut or zero-padded to the output length) for comparison.
- scale: `z = F zA`.
- caricature: `z = mean + F (zA - mean)` (exaggerates what sets A apart from
  the average sound; stats from `mean`).
- noise: `z = mean + std ((zA - mean) / std + N(0, sigma))`, i.e.
  `zA + std N(0, sigma)`: noise of `sigma` corpus standard deviations. The
  draws depend on `--seed` only, so a sigma sweep moves along one direction.
- oscillate: `z(t) = (1 - a(t)) zA + a(t) zB`, `a(t) = (1 - cos(2 pi hz t))
  / 2` with `t = frame / frame_rate` in seconds: starts at A, reaches B
  after `1 / (2 hz)` s.
- analogy: `z = zC + (zB - zA)` ("A is to B as C is to ?").
- grid: the NSynth Super grid. Corners in the order top-left A, top-right
  B, bottom-left C, bottom-right D; a point `(x, y)` in the unit square
  (x rightwards, y downwards) mixes them with the bilinear weights
  `((1-x)(1-y), x(1-y), (1-x)y, xy)`; `--grid=G` renders G x G points,
  row-major from the top-left.
- multigrid: n <= 64 instruments on the vertices of a `(rows + 1) x (cols +
  1)` lattice of `rows x cols` squares (`--layout=RxC`; 9 instruments ->
  2x2 squares sharing edges), listed row-major; each square is rendered at
  `--resolution` points per edge (shared edges once) and every point mixes
  the 4 corners of its square bilinearly.

Pitch (models with pitch conditioning, `pitch_bins > 0`): a frame is
`[timbre | pitch]`, the learned values then the frame's pitch as a two-hot
over semitones (`wavenet.pitch.two_hot`; all zeros when unvoiced). The
formulas above act on the timbre only. The pitch is never scaled, noised or
blended (0.4 times a two-hot, or half of two two-hots, is no pitch: the
decoder would play an unvoiced or ambiguous note); each output keeps a whole
two-hot (`PITCH_RULES`): scale, caricature and noise keep A's; analogy keeps
C's; interpolate, oscillate, grid and multigrid take, frame by frame, the
pitch of the input with the largest weight (the nearest corner; A while
`a <= 0.5`; on a tie the first in corner order), voicing included.
`--pitch=P` (MIDI, fractional allowed, within the model's bins) then sets
every voiced frame of every output to pitch P; unvoiced frames stay
unvoiced.

Alignment of inputs of different lengths (`--align`, default "crop"):

- "crop": every input is cut to the shortest (the common part).
- "pad": every input is extended to the longest by repeating its last frame
  (edge padding: a note's tail is held).
- "stretch": every input is linearly interpolated in time to the longest
  (first and last frames kept), changing its duration, not its pitch (a
  pitch-conditioned frame takes the pitch of the nearer input frame).

`nearest_grid_points` is what the playable instrument (wavenet/instrument.py)
uses: a touch at `(x, y)` mixes the 4 nearest rendered grid points with
bilinear weights.
"""

import os
import sys
import time

import numpy as np

from common import audio
from common import config as config_lib
from common import files
from common import generation
from wavenet import encode as encode_lib
from wavenet import synthesize as synthesize_lib

ALIGN_MODES = ("crop", "pad", "stretch")
MAX_INSTRUMENTS = 64
CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right")


# ---------------------------------------------------------------------------
# Alignment.
# ---------------------------------------------------------------------------


def _as_embedding(z, name="z"):
  z = np.asarray(z)
  if z.ndim != 2:
    raise ValueError(f"{name} must be [frames, d], got shape {list(z.shape)}")
  return z


def stretch(z, frames, pitch_bins=0):
  """Linear time interpolation of `z` `[n, d]` to `[frames, d]`.

  Output frame `j` sits at input position `j (n - 1) / (frames - 1)`, so the
  first and last frames are kept. The timbre is interpolated; the pitch
  part is the nearer input frame's (the earlier halfway), as `mix` does.
  """
  z = _as_embedding(z)
  n, frames = len(z), int(frames)
  if frames < 1:
    raise ValueError(f"cannot stretch to {frames} frames")
  if n == frames:
    return z.copy()
  if n == 1 or frames == 1:
    return np.repeat(z[:1], frames, axis=0)
  position = np.arange(frames) * ((n - 1) / (frames - 1))
  lo = np.minimum(np.floor(position).astype(np.int64), n - 2)
  w = position - lo
  return mix(np.stack([z[lo], z[lo + 1]]), np.stack([1 - w, w]), pitch_bins)


def align_all(embeddings, mode="crop", pitch_bins=0):
  """Brings `[frames_i, d]` embeddings to one length (see module doc).

  Args:
    embeddings: list of `[frames_i, d]` arrays (same d).
    mode: "crop" (to the shortest), "pad" (repeat the last frame up to the
      longest) or "stretch" (linear time interpolation to the longest).
    pitch_bins: the pitch part's width (`stretch`).

  Returns:
    a list of `[frames, d]` arrays.
  """
  if mode not in ALIGN_MODES:
    raise ValueError(f"align mode must be one of {ALIGN_MODES}, got {mode!r}")
  zs = [_as_embedding(z, f"embeddings {i}") for i, z in enumerate(embeddings)]
  if not zs:
    return []
  widths = {z.shape[1] for z in zs}
  if len(widths) > 1:
    raise ValueError(f"embeddings have different widths {sorted(widths)}")
  lengths = [len(z) for z in zs]
  if mode == "crop":
    target = min(lengths)
    return [z[:target] for z in zs]
  target = max(lengths)
  if mode == "pad":
    return [np.pad(z, [(0, target - len(z)), (0, 0)], mode="edge")
            for z in zs]
  return [stretch(z, target, pitch_bins) for z in zs]


def align(z_a, z_b, mode="crop", pitch_bins=0):
  """Two `[frames, d]` embeddings to a common length; see `align_all`."""
  return tuple(align_all([z_a, z_b], mode, pitch_bins))


# ---------------------------------------------------------------------------
# Timbre and pitch.
# ---------------------------------------------------------------------------


def split_embedding(z, pitch_bins: int):
  """`[..., d]` -> (timbre `[..., d - pitch_bins]`, pitch `[..., pitch_bins]`).

  A pitch-conditioned autoencoder's frame is its learned values (the timbre)
  followed by the frame's pitch as a two-hot over `pitch_bins` semitones
  (`wavenet.model.WaveNet.encode`); with `pitch_bins` 0 the pitch part is
  empty.
  """
  z = np.asarray(z)
  bins = int(pitch_bins)
  if not 0 <= bins <= z.shape[-1]:
    raise ValueError(f"cannot split {bins} pitch bins off embeddings of "
                     f"width {z.shape[-1]}")
  cut = z.shape[-1] - bins
  return z[..., :cut], z[..., cut:]


def join_embedding(timbre, pitch):
  """(timbre `[..., t]`, pitch `[..., bins]`) -> float32 `[..., t + bins]`.

  The pitch is broadcast over the timbre's leading axes (one two-hot
  `[bins]` for every frame, say).
  """
  timbre = np.asarray(timbre, np.float32)
  pitch = np.asarray(pitch, np.float32)
  pitch = np.broadcast_to(pitch, timbre.shape[:-1] + pitch.shape[-1:])
  return np.concatenate([timbre, pitch], axis=-1)


def is_two_hot(pitch, atol: float = 1e-5):
  """Whether each pitch part `[..., bins]` is a valid two-hot -> bool `[...]`.

  Valid: all zeros (unvoiced), or non-negative weights on at most two
  adjacent bins summing to 1 (`wavenet.pitch.two_hot`), within `atol`.
  """
  p = np.asarray(pitch, np.float64)
  if p.shape[-1] == 0:
    return np.ones(p.shape[:-1], bool)
  support = np.abs(p) > atol
  first = np.argmax(support, axis=-1)
  last = p.shape[-1] - 1 - np.argmax(support[..., ::-1], axis=-1)
  voiced = ((last - first <= 1) & np.all(p >= -atol, axis=-1) &
            (np.abs(p.sum(axis=-1) - 1.0) <= atol))
  return ~np.any(support, axis=-1) | voiced


def check_pitch(midi, pitch_bins: int, min_midi: int) -> None:
  """Raises ValueError unless MIDI pitch `midi` is in a model's pitch bins."""
  if not pitch_bins:
    raise ValueError("--pitch needs a pitch-conditioned autoencoder "
                     "(pitch_bins > 0); this model has no pitch input")
  top = int(min_midi) + int(pitch_bins) - 1
  if not int(min_midi) <= float(midi) <= top:
    raise ValueError(f"--pitch={float(midi):g} is outside the model's pitch "
                     f"bins, MIDI {int(min_midi)} .. {top}")


def set_pitch(z, midi, pitch_bins: int, min_midi: int):
  """Sets the pitch of every voiced frame of `z` to MIDI pitch `midi`.

  Args:
    z: `[frames, d]` pitch-conditioned embeddings.
    midi: MIDI pitch, fractional allowed (60.5 is a quarter tone above
      middle C), within the bins (`check_pitch`).
    pitch_bins, min_midi: the model's pitch bins (`pitch_min_midi`).

  Returns:
    float32 `[frames, d]`: the timbre unchanged; each frame whose pitch part
    is not all zeros gets `wavenet.pitch.two_hot(midi)`; unvoiced frames
    (silence) stay unvoiced.
  """
  check_pitch(midi, pitch_bins, min_midi)
  from wavenet import pitch as pitch_lib  # pylint: disable=g-import-not-at-top
  timbre, pitch = split_embedding(_as_embedding(z), pitch_bins)
  wanted = np.asarray(pitch_lib.two_hot(float(midi), int(pitch_bins),
                                        int(min_midi)))
  voiced = np.any(pitch != 0, axis=-1, keepdims=True)
  return join_embedding(timbre, np.where(voiced, wanted, 0.0))


def mix(zs, weights, pitch_bins: int = 0):
  """Mixes embeddings: the timbre by the weights, the pitch of the heaviest.

  Pitch two-hots are not mixed: a blend of two two-hots is no two-hot (it
  says two pitches at once, or a voiced note at half weight), so each frame
  takes the whole pitch part, voicing included, of the embedding with the
  largest weight in that frame (of equal weights, the first).

  Args:
    zs: `[..., k, frames, d]`, k embeddings.
    weights: `[..., k, frames]`, or `[..., k, 1]` for the same weights in
      every frame; leading axes broadcast against those of `zs`.
    pitch_bins: width of the pitch two-hot ending each frame (0: none).

  Returns:
    float32 `[..., frames, d]`: `sum_k w_k timbre_k`, then the pitch of the
    heaviest.
  """
  zs = np.asarray(zs, np.float64)
  weights = np.asarray(weights, np.float64)
  k, frames = zs.shape[-3], zs.shape[-2]
  if weights.ndim < 2 or weights.shape[-2] != k:
    raise ValueError(f"weights {list(weights.shape)} do not give one weight "
                     f"per frame to each of {k} embeddings")
  lead = np.broadcast_shapes(zs.shape[:-3], weights.shape[:-2])
  weights = np.broadcast_to(weights, lead + (k, frames))
  timbre, pitch = split_embedding(np.broadcast_to(zs, lead + zs.shape[-3:]),
                                  pitch_bins)
  mixed = np.einsum("...kf,...kfd->...fd", weights, timbre)
  heaviest = np.argmax(weights, axis=-2)[..., None, :, None]
  pitch = np.take_along_axis(pitch, heaviest, axis=-3)[..., 0, :, :]
  return join_embedding(mixed, pitch)


# ---------------------------------------------------------------------------
# Formulas (NumPy, `[frames, d]`). Each acts on the timbre; `pitch_bins` (0:
# no pitch part) says where the pitch two-hot starts. See the module doc.
# ---------------------------------------------------------------------------


def interpolate(z_a, z_b, alpha, align_mode="crop", pitch_bins=0):
  """`(1 - alpha) zA + alpha zB` on the timbre (aligned first).

  `alpha` is a scalar or one weight per frame `[frames]`. The pitch is the
  heavier input's in each frame (`mix`): A's while `alpha <= 0.5`, else B's.
  """
  a, b = align(z_a, z_b, align_mode, pitch_bins)
  alpha = np.asarray(alpha, np.float32)
  if alpha.ndim == 1 and len(alpha) != len(a):
    raise ValueError(f"{len(alpha)} weights for {len(a)} frames")
  weights = np.stack([1 - alpha, alpha]).reshape(2, -1)
  return mix(np.stack([a, b]), weights, pitch_bins)


def scale(z, factor, pitch_bins=0):
  """`F z` on the timbre; the pitch is kept."""
  timbre, pitch = split_embedding(_as_embedding(z), pitch_bins)
  return join_embedding(timbre * np.float32(factor), pitch)


def caricature(z, z_mean, factor, pitch_bins=0):
  """`mean + F (z - mean)` on the timbre; the pitch is kept.

  `z_mean` `[d]` (or `[frames, d]`), the whole embedding's mean.
  """
  timbre, pitch = split_embedding(_as_embedding(z), pitch_bins)
  mean, _ = split_embedding(np.asarray(z_mean, timbre.dtype), pitch_bins)
  return join_embedding(mean + np.float32(factor) * (timbre - mean), pitch)


def add_noise(z, z_mean, z_std, sigma, seed=0, pitch_bins=0):
  """`mean + std ((z - mean) / std + N(0, sigma))` = `z + std N(0, sigma)`
  on the timbre; the pitch is kept.

  Args:
    z: `[frames, d]`.
    z_mean, z_std: `[d]` corpus statistics (`mean_std`); `z_mean` cancels
      out (the second form is used, so a zero std adds no noise).
    sigma: noise level in corpus standard deviations.
    seed: the normal draws `[frames, d - pitch_bins]` depend only on the
      seed (and the shape).
    pitch_bins: the pitch part's width.
  """
  timbre, pitch = split_embedding(_as_embedding(z), pitch_bins)
  del z_mean  # cancels out
  std, _ = split_embedding(np.asarray(z_std, np.float64), pitch_bins)
  noise = np.random.default_rng(seed).normal(0.0, float(sigma), timbre.shape)
  return join_embedding((timbre + std * noise).astype(timbre.dtype), pitch)


def oscillation_weights(frames, hz, frame_rate):
  """`a(t) = (1 - cos(2 pi hz t)) / 2` at `t = frame / frame_rate` s."""
  t = np.arange(int(frames)) / float(frame_rate)
  return ((1 - np.cos(2 * np.pi * float(hz) * t)) / 2).astype(np.float32)


def oscillate(z_a, z_b, hz, frame_rate, align_mode="crop", pitch_bins=0):
  """Moves between A and B at `hz`: `(1 - a(t)) zA + a(t) zB` on the timbre;
  the pitch is A's while `a(t) <= 0.5`, else B's (`interpolate`).

  `frame_rate` is embedding frames per second (`sample_rate / hop_length`).
  """
  a, b = align(z_a, z_b, align_mode, pitch_bins)
  return interpolate(a, b, oscillation_weights(len(a), hz, frame_rate),
                     pitch_bins=pitch_bins)


def analogy(z_a, z_b, z_c, align_mode="crop", pitch_bins=0):
  """`zC + (zB - zA)` on the timbre, the three aligned to one length first;
  the pitch is C's."""
  a, b, c = (split_embedding(z, pitch_bins)
             for z in align_all([z_a, z_b, z_c], align_mode, pitch_bins))
  return join_embedding(c[0] + (b[0] - a[0]), c[1])


# ---------------------------------------------------------------------------
# Grids.
# ---------------------------------------------------------------------------


def bilinear_weights(x, y):
  """Weights of the 4 corners of the unit square for a point `(x, y)`.

  `x` grows rightwards and `y` downwards, both in [0, 1]; the corners come
  in the order (top-left, top-right, bottom-left, bottom-right):
  `((1-x)(1-y), x(1-y), (1-x)y, xy)`. They sum to 1. `x` and `y` may be
  arrays (same shape): the result is `[..., 4]`.
  """
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  eps = 1e-9
  if np.any((x < -eps) | (x > 1 + eps) | (y < -eps) | (y > 1 + eps)):
    raise ValueError(f"point outside the unit square: x={x}, y={y}")
  x, y = np.clip(x, 0, 1), np.clip(y, 0, 1)
  return np.stack([(1 - x) * (1 - y), x * (1 - y), (1 - x) * y, x * y],
                  axis=-1)


def _grid_shape(grid):
  """An int G or (rows, cols) of points -> (rows, cols), each >= 2."""
  rows, cols = (grid, grid) if np.isscalar(grid) else grid
  rows, cols = int(rows), int(cols)
  if rows < 2 or cols < 2:
    raise ValueError(f"a grid needs at least 2 points per side, got "
                     f"{rows} x {cols}")
  return rows, cols


def grid_points(grid):
  """`[rows * cols, 2]` points `(x, y)` in [0, 1]^2, row-major from top-left.

  `grid` is G (G x G points) or (rows, cols); point `r * cols + c` is
  `(c / (cols - 1), r / (rows - 1))`.
  """
  rows, cols = _grid_shape(grid)
  y, x = np.meshgrid(np.linspace(0, 1, rows), np.linspace(0, 1, cols),
                     indexing="ij")
  return np.stack([x.ravel(), y.ravel()], axis=1)


def grid_embeddings(corners, grid, pitch_bins=0):
  """Bilinear mixes of 4 corner embeddings on a G x G grid.

  Args:
    corners: `[4, frames, d]` in the order (top-left, top-right,
      bottom-left, bottom-right) (already aligned).
    grid: points per side (G) or (rows, cols).
    pitch_bins: the pitch part's width: each point takes the pitch of its
      heaviest (nearest) corner, the first in corner order on a tie (`mix`).

  Returns:
    (embeddings `[G * G, frames, d]` float32, weights `[G * G, 4]`), points
    in `grid_points` order.
  """
  corners = np.asarray(corners, np.float32)
  if corners.ndim != 3 or corners.shape[0] != 4:
    raise ValueError(f"corners must be [4, frames, d], got "
                     f"{list(corners.shape)}")
  points = grid_points(grid)
  weights = bilinear_weights(points[:, 0], points[:, 1])
  return mix(corners, weights[:, :, None], pitch_bins), weights


def parse_layout(layout, count=None):
  """"RxC" (squares) -> (rows, cols); None infers a square layout from
  `count` instruments (k^2 instruments -> (k-1) x (k-1) squares)."""
  if layout is None or layout == "":
    k = int(round(np.sqrt(count or 0)))
    if count is None or k * k != count or k < 2:
      raise ValueError(f"give --layout=RxC for {count} instruments (they "
                       f"must fill a (R+1) x (C+1) lattice)")
    return k - 1, k - 1
  if isinstance(layout, str):
    try:
      rows, cols = (int(v) for v in layout.lower().split("x"))
    except ValueError:
      raise ValueError(f"--layout must look like 2x2, got {layout!r}"
                       ) from None
  else:
    rows, cols = layout
  if rows < 1 or cols < 1:
    raise ValueError(f"a layout needs at least 1x1 squares, got "
                     f"{rows}x{cols}")
  return int(rows), int(cols)


def multigrid_shape(layout, resolution):
  """Points (rows, cols) of a multigrid of `layout` squares at `resolution`
  points per square edge (shared edges counted once)."""
  rows, cols = parse_layout(layout)
  res = int(resolution)
  if res < 2:
    raise ValueError(f"resolution must be >= 2 points per edge, got {res}")
  return rows * (res - 1) + 1, cols * (res - 1) + 1


def multigrid_embeddings(instruments, layout, resolution=3, pitch_bins=0):
  """A tiling of squares with an instrument on every vertex (NSynth Super).

  Args:
    instruments: `[n, frames, d]`, n = (rows + 1) (cols + 1) <= 64, listed
      row-major over the lattice vertices (already aligned).
    layout: (rows, cols) squares or "RxC".
    resolution: points per square edge, ends included (>= 2).
    pitch_bins: the pitch part's width: each point takes the pitch of the
      heaviest (nearest) corner of its square (`mix`).

  Returns:
    points `[P, 2]` (x, y) in [0, 1]^2 over the whole tiling, row-major
    (P = `multigrid_shape` rows x cols, so `nearest_grid_points(x, y,
    multigrid_shape(...))` indexes them); embeddings `[P, frames, d]`
    float32; corners int `[P, 4]`, the instrument indices of each point's
    square (top-left, top-right, bottom-left, bottom-right); weights
    `[P, 4]`, their bilinear weights. A point on a shared edge belongs to
    the square below/right of it unless it is on the last row/column; its
    weights on the far corners are then 0, so either square gives the same
    mix.
  """
  instruments = np.asarray(instruments, np.float32)
  rows, cols = parse_layout(layout)
  n = instruments.shape[0]
  if instruments.ndim != 3:
    raise ValueError(f"instruments must be [n, frames, d], got "
                     f"{list(instruments.shape)}")
  if n > MAX_INSTRUMENTS:
    raise ValueError(f"at most {MAX_INSTRUMENTS} instruments, got {n}")
  if n != (rows + 1) * (cols + 1):
    raise ValueError(f"a {rows}x{cols} layout has {(rows + 1) * (cols + 1)} "
                     f"vertices, got {n} instruments")
  res = int(resolution)
  point_rows, point_cols = multigrid_shape((rows, cols), res)
  r, c = np.meshgrid(np.arange(point_rows), np.arange(point_cols),
                     indexing="ij")
  r, c = r.ravel(), c.ravel()
  square_r = np.minimum(r // (res - 1), rows - 1)
  square_c = np.minimum(c // (res - 1), cols - 1)
  local_y = (r - square_r * (res - 1)) / (res - 1)
  local_x = (c - square_c * (res - 1)) / (res - 1)
  top_left = square_r * (cols + 1) + square_c
  corners = np.stack([top_left, top_left + 1, top_left + cols + 1,
                      top_left + cols + 2], axis=1)
  weights = bilinear_weights(local_x, local_y)
  mixed = mix(instruments[corners], weights[:, :, None], pitch_bins)
  points = np.stack([c / (point_cols - 1), r / (point_rows - 1)], axis=1)
  return points, mixed, corners, weights


def nearest_grid_points(x, y, grid):
  """The 4 rendered grid points around `(x, y)` and their bilinear weights.

  Args:
    x, y: a point in [0, 1]^2 (clipped), x rightwards, y downwards.
    grid: points per side G, or (rows, cols) (e.g. `multigrid_shape`).

  Returns:
    (indices int `[4]` into the row-major `grid_points` order, weights
    `[4]`), both in the order (top-left, top-right, bottom-left,
    bottom-right) of the grid cell holding the point; the weights sum to 1
    and a point exactly on a grid point gives it weight 1.
  """
  rows, cols = _grid_shape(grid)
  gx = float(np.clip(x, 0, 1)) * (cols - 1)
  gy = float(np.clip(y, 0, 1)) * (rows - 1)
  c0 = min(int(np.floor(gx)), cols - 2)
  r0 = min(int(np.floor(gy)), rows - 2)
  top_left = r0 * cols + c0
  indices = np.array([top_left, top_left + 1, top_left + cols,
                      top_left + cols + 1], np.int64)
  return indices, bilinear_weights(gx - c0, gy - r0)


# ---------------------------------------------------------------------------
# Corpus statistics.
# ---------------------------------------------------------------------------


def _corpus_moments(model, config, data_dir, split="train", max_files=None,
                    progress=False):
  """(mean `[d]`, std `[d]`, frames, files) over all frames of a split."""
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  from common import data  # pylint: disable=g-import-not-at-top
  man = data.manifest(data_dir)
  config_lib.check_data_settings(config, man["settings"], data_dir)
  entries = data.read_files(data_dir, split, max_files)
  if not entries:
    raise ValueError(f"{data_dir}: the {split!r} split has no files")
  window = encode_lib.window_samples(config,
                                     encode_lib.DEFAULT_WINDOW_SECONDS)
  total = total_sq = None
  frames = 0
  for _, codes in tqdm(entries, desc="encoding", unit="file",
                       disable=not progress, file=sys.stderr):
    z = encode_lib.encode_codes(model, config, codes, window).astype(
        np.float64)
    total = z.sum(0) if total is None else total + z.sum(0)
    total_sq = (z * z).sum(0) if total_sq is None else total_sq + (
        z * z).sum(0)
    frames += len(z)
  mean = total / frames
  std = np.sqrt(np.maximum(total_sq / frames - mean * mean, 0.0))
  return mean.astype(np.float32), std.astype(np.float32), frames, len(entries)


def mean_std(model, config, data_dir, split="train", max_files=None,
             progress=False):
  """Mean and (population) std embedding of a corpus split.

  Every file of the split (`common.data.read_files`, at most `max_files`)
  is encoded whole; the statistics are over all their frames.

  Returns:
    (mean `[d]`, std `[d]`) float32.
  """
  mean, std, _, _ = _corpus_moments(model, config, data_dir, split,
                                    max_files, progress)
  return mean, std


def save_stats(path, mean, std, **metadata):
  """Writes `mean`, `std` (and scalar metadata) to a `.npz` atomically."""
  with files.atomic_path(path) as tmp:
    with open(tmp, "wb") as f:
      np.savez(f, mean=np.asarray(mean, np.float32),
               std=np.asarray(std, np.float32),
               **{k: np.asarray(v) for k, v in metadata.items()})


def load_stats(path, width=None):
  """(mean `[d]`, std `[d]`) from a `.npz` written by `mean`."""
  if not path:
    raise ValueError("this command needs --stats=mean.npz (make it with "
                     "`wavenet.latent mean`)")
  try:
    with np.load(path, allow_pickle=False) as stats:
      mean, std = stats["mean"], stats["std"]
  except (OSError, ValueError, KeyError, EOFError) as e:
    reason = str(e).split("\n")[0] or type(e).__name__
    raise ValueError(f"{path}: not a stats .npz with mean and std "
                     f"({reason})") from None
  if mean.ndim != 1 or mean.shape != std.shape or (
      width is not None and len(mean) != width):
    raise ValueError(f"{path}: mean/std must be [{width}] for "
                     f"this model, got {list(mean.shape)} and "
                     f"{list(std.shape)}")
  return mean.astype(np.float32), std.astype(np.float32)


# ---------------------------------------------------------------------------
# Rendering.
# ---------------------------------------------------------------------------


def render(model, config, embeddings, paths, seed=0, temperature=1.0,
           batch_size=8, progress=True):
  """Decodes `[n, frames, d]` embeddings (or a list of `[frames_i, d]`) to
  wavs of `frames * hop_length` samples at `paths`, through the batched fast
  generator (items of equal frame count batched, `batch_size` at most).

  Returns per-item dicts (path, frames, samples, seed, temperature, ...);
  see `wavenet.synthesize.synthesize_embeddings`.
  """
  return synthesize_lib.synthesize_embeddings(
      model, config, [np.asarray(z, np.float32) for z in embeddings], paths,
      seed=seed, temperature=temperature, batch_size=batch_size,
      sidecars=False, progress=progress)


# ---------------------------------------------------------------------------
# Commands.
# ---------------------------------------------------------------------------

COMMANDS = {  # name: (number of inputs (None: several), formula)
    "interpolate": (2, "z = (1 - a) * zA + a * zB; mix x = (1 - a) * xA + "
                       "a * xB"),
    "grid": (4, "z = w_tl*zA + w_tr*zB + w_bl*zC + w_br*zD; (w_tl, w_tr, "
                "w_bl, w_br) = ((1-x)(1-y), x(1-y), (1-x)y, xy)"),
    "multigrid": (None, "z = bilinear mix of the 4 corner instruments of "
                        "the point's square: ((1-x)(1-y), x(1-y), (1-x)y, xy)"
                        " for (top-left, top-right, bottom-left, "
                        "bottom-right)"),
    "scale": (1, "z = F * zA"),
    "caricature": (1, "z = mean + F * (zA - mean)"),
    "noise": (1, "z = mean + std * ((zA - mean) / std + N(0, sigma))"),
    "oscillate": (2, "z = (1 - a(t)) * zA + a(t) * zB; a(t) = (1 - cos(2 pi "
                     "hz t)) / 2; t = frame / frame_rate"),
    "analogy": (3, "z = zC + (zB - zA)"),
    "mean": (0, "mean and std embedding over all frames of a corpus split"),
}

# What each command does with the pitch part of pitch-conditioned embeddings.
PITCH_RULES = {
    "interpolate": "the heavier input's pitch in each frame: A's while "
                   "a <= 0.5, else B's",
    "grid": "the pitch of the heaviest (nearest) corner; on a tie the first "
            "in corner order",
    "multigrid": "the pitch of the heaviest (nearest) corner of the point's "
                 "square; on a tie the first in corner order",
    "scale": "A's pitch, kept",
    "caricature": "A's pitch, kept",
    "noise": "A's pitch, kept",
    "oscillate": "the heavier input's pitch in each frame: A's while "
                 "a(t) <= 0.5, else B's",
    "analogy": "C's pitch, kept",
}

DEFAULTS = dict(steps=5, grid=3, layout=None, resolution=3, factor="1.5",
                sigma="0.5", hz="1.0", stats=None, align="crop", pitches=None,
                pitch=None,
                data_dir=None, split="train", max_files=None, output=None,
                seed=0, temperature="1.0", batch_size=8, checkpoint="best",
                name=None, overwrite=False, progress=True)


def _floats(text, flag):
  try:
    values = [float(v) for v in str(text).split(",") if v.strip()]
  except ValueError:
    raise ValueError(f"--{flag}: not a number or list: {text!r}") from None
  if not values:
    raise ValueError(f"--{flag}: no value given")
  return values


def _pitches(text):
  if text in (None, ""):
    return None
  try:
    return [int(v) for v in str(text).split(",") if v.strip()]
  except ValueError:
    raise ValueError(f"--pitches: not a list of MIDI numbers: {text!r}"
                     ) from None


def _groups(command, args, pitches):
  """[(pitch or None, input paths)]; `{pitch}` in paths is filled in."""
  templated = [a for a in args if "{pitch}" in a]
  if pitches is None:
    if templated:
      raise ValueError(f"{templated[0]}: has {{pitch}} but no --pitches")
    return [(None, list(args))]
  if command not in ("grid", "multigrid"):
    raise ValueError("--pitches is for grid and multigrid")
  if len(templated) != len(args):
    missing = [a for a in args if "{pitch}" not in a][0]
    raise ValueError(f"{missing}: with --pitches every input needs "
                     f"{{pitch}} in its path (e.g. flute_{{pitch}}.wav)")
  return [(p, [a.replace("{pitch}", str(p)) for a in args]) for p in pitches]


def _num_outputs(command, opts, num_inputs):
  if command == "interpolate":
    if int(opts["steps"]) < 2:
      raise ValueError("--steps must be >= 2")
    return int(opts["steps"])
  if command == "grid":
    rows, cols = _grid_shape(int(opts["grid"]))
    return rows * cols
  if command == "multigrid":
    rows, cols = multigrid_shape(parse_layout(opts["layout"], num_inputs),
                                 opts["resolution"])
    return rows * cols
  if command in ("scale", "caricature"):
    return len(_floats(opts["factor"], "factor"))
  if command == "noise":
    return len(_floats(opts["sigma"], "sigma"))
  if command == "oscillate":
    return len(_floats(opts["hz"], "hz"))
  return 1


def _is_embedding_file(path):
  return path.lower().endswith(".npy")


def _check_input(path, width):
  """Fails early (before the model loads) on a missing or bad input."""
  if _is_embedding_file(path):
    return synthesize_lib.load_embeddings(path, width)
  audio.info(path)
  return None


def _load_input(model, config, path, preloaded=None):
  """(z `[frames, d]`, audio `[samples]` or None, description)."""
  if _is_embedding_file(path):
    z = preloaded if preloaded is not None else (
        synthesize_lib.load_embeddings(path,
                                       encode_lib.embedding_width(config)))
    return z, None, dict(path=os.path.abspath(path), kind="embeddings",
                         frames=len(z))
  samples = audio.load(path, int(config["sample_rate"]))
  window = encode_lib.window_samples(config,
                                     encode_lib.DEFAULT_WINDOW_SECONDS)
  z = encode_lib.encode_audio(model, config, samples, window)
  return z, samples, dict(path=os.path.abspath(path), kind="audio",
                          samples=len(samples), frames=len(z))


def _fit(samples, length):
  """Cut or zero-pad audio to `length` samples."""
  out = np.zeros([length], np.float32)
  out[:min(length, len(samples))] = samples[:length]
  return out


def _make(command, zs, opts, config, stats, args):
  """Embeddings and per-output descriptions for one group of inputs.

  Every formula acts on the timbre and keeps a pitch by its rule
  (`PITCH_RULES`); `opts["pitch"]` (MIDI or None) then replaces it.

  Returns (list of `[frames, d]`, list of dicts, alignment dict).
  """
  bins = int(config["pitch_bins"])
  frame_rate = encode_lib.frame_rate(config)
  mode = opts["align"]
  aligned = align_all(zs, mode, bins) if len(zs) > 1 else list(zs)
  alignment = dict(mode=mode if len(zs) > 1 else None,
                   input_frames=[len(z) for z in zs],
                   frames=len(aligned[0]))
  outs, descriptions = [], []
  if command == "interpolate":
    for a in np.linspace(0.0, 1.0, int(opts["steps"])):
      outs.append(interpolate(aligned[0], aligned[1], a, pitch_bins=bins))
      descriptions.append(dict(alpha=float(a), description=(
          f"{1 - a:.3g} * A + {a:.3g} * B")))
  elif command == "grid":
    mixed, weights = grid_embeddings(np.stack(aligned), int(opts["grid"]),
                                     bins)
    for point, w, z in zip(grid_points(int(opts["grid"])), weights, mixed):
      outs.append(z)
      descriptions.append(dict(
          point=[float(point[0]), float(point[1])],
          weights=dict(zip(CORNERS, map(float, w))),
          description=" + ".join(f"{wi:.3g} * {name}" for wi, name in zip(
              w, "ABCD") if wi > 0)))
  elif command == "multigrid":
    layout = parse_layout(opts["layout"], len(zs))
    points, mixed, corners, weights = multigrid_embeddings(
        np.stack(aligned), layout, opts["resolution"], bins)
    for point, idx, w, z in zip(points, corners, weights, mixed):
      outs.append(z)
      descriptions.append(dict(
          point=[float(point[0]), float(point[1])],
          corners=[int(i) for i in idx],
          corner_files=[os.path.abspath(args[i]) for i in idx],
          weights=[float(v) for v in w],
          description=" + ".join(f"{wi:.3g} * F{i + 1}"
                                 for wi, i in zip(w, idx) if wi > 0)))
  elif command == "scale":
    for f in _floats(opts["factor"], "factor"):
      outs.append(scale(aligned[0], f, bins))
      descriptions.append(dict(factor=f, description=f"{f:g} * A"))
  elif command == "caricature":
    for f in _floats(opts["factor"], "factor"):
      outs.append(caricature(aligned[0], stats[0], f, bins))
      descriptions.append(dict(factor=f, description=(
          f"mean + {f:g} * (A - mean)")))
  elif command == "noise":
    for s in _floats(opts["sigma"], "sigma"):
      outs.append(add_noise(aligned[0], stats[0], stats[1], s,
                            int(opts["seed"]), bins))
      descriptions.append(dict(sigma=s, noise_seed=int(opts["seed"]),
                               description=f"A + std * N(0, {s:g})"))
  elif command == "oscillate":
    for hz in _floats(opts["hz"], "hz"):
      outs.append(oscillate(aligned[0], aligned[1], hz, frame_rate,
                            pitch_bins=bins))
      descriptions.append(dict(hz=hz, description=(
          f"A <-> B at {hz:g} Hz, starting at A")))
  elif command == "analogy":
    outs.append(analogy(*aligned, pitch_bins=bins))
    descriptions.append(dict(description="C + (B - A)"))
  if opts["pitch"] is not None:
    outs = [set_pitch(z, opts["pitch"], bins, config["pitch_min_midi"])
            for z in outs]
  return outs, descriptions, alignment


def _check_args(command, args, opts):
  if command not in COMMANDS:
    raise ValueError(f"unknown command {command!r}; commands: "
                     f"{', '.join(COMMANDS)}")
  want = COMMANDS[command][0]
  if want is None:
    if len(args) < 4:
      raise ValueError(f"{command} needs at least 4 input files, got "
                       f"{len(args)}")
  elif len(args) != want:
    names = " ".join("ABCD"[:want]) if want else "no"
    raise ValueError(f"{command} takes {names} input files, got "
                     f"{len(args)}: {' '.join(args) or '(none)'}")
  if opts["align"] not in ALIGN_MODES:
    raise ValueError(f"--align must be one of {', '.join(ALIGN_MODES)}")
  if opts["pitch"] is not None and command == "mean":
    raise ValueError("--pitch is not for mean")
  if opts["pitch"] is not None and opts["pitches"]:
    raise ValueError("give --pitch (one pitch for every output) or --pitches "
                     "(one group of inputs per pitch), not both")


def make_mean(model_dir, data_dir, output, split="train", max_files=None,
              checkpoint="best", overwrite=False, progress=True, loaded=None):
  """The `mean` command: writes `output` (.npz) and a `.json` beside it.

  `loaded`: optional `(model, config, step, checkpoint_path)` from
  `wavenet.encode.load_autoencoder`, to reuse a model already in memory.
  """
  if not data_dir or not output:
    raise ValueError("mean needs --data_dir=PREPARED and --output=mean.npz")
  sidecar = os.path.splitext(output)[0] + ".json"
  files.refuse_overwrite(output, overwrite)
  files.refuse_overwrite(sidecar, overwrite)
  encode_lib.check_autoencoder(config_lib.load_saved(model_dir), model_dir)
  model, config, step, ckpt = loaded or encode_lib.load_autoencoder(
      model_dir, checkpoint)
  mean, std, frames, count = _corpus_moments(model, config, data_dir, split,
                                             max_files, progress)
  save_stats(output, mean, std, frames=frames, files=count)
  info = dict(command="mean", formula=COMMANDS["mean"][1],
              data_dir=os.path.abspath(data_dir), split=split,
              max_files=max_files, files=count, frames=frames,
              model_dir=os.path.abspath(model_dir), checkpoint=checkpoint,
              checkpoint_path=ckpt, checkpoint_step=step,
              output=os.path.abspath(output), mean=mean.tolist(),
              std=std.tolist())
  files.write_json(sidecar, info)
  return info


def run_command(command, args, model_dir, output_dir=None, loaded=None,
                **options):
  """Runs one latent command; the CLI as a function.

  Args:
    command: one of `COMMANDS`.
    args: input paths (audio or `.npy`); with `pitches`, paths containing
      `{pitch}`.
    model_dir: a trained WaveNet autoencoder.
    output_dir: where the wavs and `<name>.json` go (not used by `mean`).
    loaded: optional `(model, config, step, checkpoint_path)` from
      `wavenet.encode.load_autoencoder` (reuses a loaded model and its
      compiled generator); else the model is loaded from `model_dir`.
    **options: see `DEFAULTS` (the CLI flags).

  Returns:
    the description written to `<name>.json` (for `mean`, its `.json`).
  """
  opts = dict(DEFAULTS)
  unknown = set(options) - set(DEFAULTS)
  if unknown:
    raise ValueError(f"unknown options {sorted(unknown)}")
  opts.update({k: v for k, v in options.items() if v is not None})
  args = list(args)
  _check_args(command, args, opts)
  if command == "mean":
    return make_mean(model_dir, opts["data_dir"], opts["output"],
                     opts["split"], opts["max_files"], opts["checkpoint"],
                     opts["overwrite"], opts["progress"], loaded)
  if not output_dir:
    raise ValueError(f"{command} needs --output_dir")
  saved = config_lib.load_saved(model_dir)
  encode_lib.check_autoencoder(saved, model_dir)
  width = encode_lib.embedding_width(saved)
  bins = int(saved.get("pitch_bins") or 0)
  if opts["pitch"] is not None:
    check_pitch(opts["pitch"], bins, saved["pitch_min_midi"])

  # Everything that can fail cheaply fails before the model loads.
  groups = _groups(command, args, _pitches(opts["pitches"]))
  count = _num_outputs(command, opts, len(args))
  temperatures = synthesize_lib.parse_temperatures(
      opts["temperature"], count)
  name = opts["name"] or command
  json_path = os.path.join(output_dir, f"{name}.json")
  files.refuse_overwrite(json_path, opts["overwrite"])
  plan = []
  for pitch, paths in groups:
    stem = name if pitch is None else f"{name}_p{pitch}"
    wavs = generation.output_paths(output_dir, stem, count,
                                   opts["overwrite"])
    mixes = None
    if command == "interpolate" and not any(map(_is_embedding_file, paths)):
      mixes = generation.output_paths(output_dir, f"{stem}_mix", count,
                                      opts["overwrite"])
    preloaded = [_check_input(p, width) for p in paths]
    plan.append((pitch, paths, preloaded, wavs, mixes))
  stats = None
  if command in ("caricature", "noise"):
    stats = load_stats(opts["stats"], width)

  model, config, step, ckpt = loaded or encode_lib.load_autoencoder(
      model_dir, opts["checkpoint"])
  rate, hop = int(config["sample_rate"]), int(config["hop_length"])
  frame_rate = encode_lib.frame_rate(config)
  all_z, all_paths, all_temps, outputs, group_info = [], [], [], [], []
  for pitch, paths, preloaded, wavs, mixes in plan:
    inputs = [_load_input(model, config, p, z)
              for p, z in zip(paths, preloaded)]
    zs = [z for z, _, _ in inputs]
    made, descriptions, alignment = _make(command, zs, opts, config, stats,
                                          paths)
    length = alignment["frames"] * hop
    for i, (z, desc) in enumerate(zip(made, descriptions)):
      entry = dict(file=os.path.basename(wavs[i]), pitch=pitch, index=i)
      entry.update(desc)
      entry.update(frames=len(z), samples=len(z) * hop,
                   seconds=round(len(z) * hop / rate, 6),
                   temperature=temperatures[i])
      if mixes:
        a = desc["alpha"]
        mix = (1 - a) * _fit(inputs[0][1], length) + a * _fit(
            inputs[1][1], length)
        audio.save(mixes[i], mix, rate)
        entry["mix_file"] = os.path.basename(mixes[i])
      outputs.append(entry)
    all_z += made
    all_paths += wavs
    all_temps += temperatures
    group_info.append(dict(pitch=pitch, inputs=[d for _, _, d in inputs],
                           alignment=alignment))

  started = time.perf_counter()
  results = render(model, config, all_z, all_paths, seed=int(opts["seed"]),
                   temperature=all_temps, batch_size=int(opts["batch_size"]),
                   progress=opts["progress"])
  taken = time.perf_counter() - started
  for entry, result in zip(outputs, results):
    entry["seed"] = result["seed"]
  parameters = {k: opts[k] for k in {
      "interpolate": ("steps",), "grid": ("grid", "pitches"),
      "multigrid": ("layout", "resolution", "pitches"),
      "scale": ("factor",), "caricature": ("factor", "stats"),
      "noise": ("sigma", "stats"), "oscillate": ("hz",),
      "analogy": ()}[command]}
  if command == "multigrid":
    parameters["layout"] = "x".join(map(str, parse_layout(
        opts["layout"], len(args))))
  info = dict(
      command=command, formula=COMMANDS[command][1],
      inputs=[os.path.abspath(a) if "{pitch}" not in a else a for a in args],
      parameters=parameters, alignment=opts["align"],
      corner_order=list(CORNERS) if command in ("grid", "multigrid")
      else None,
      model_dir=os.path.abspath(model_dir), checkpoint=opts["checkpoint"],
      checkpoint_path=ckpt, checkpoint_step=step, sample_rate=rate,
      hop_length=hop, frame_rate=frame_rate, seed=int(opts["seed"]),
      batch_size=int(opts["batch_size"]),
      seconds_taken=round(taken, 3),
      pitch_conditioning=dict(
          pitch_bins=bins, pitch_min_midi=saved["pitch_min_midi"],
          rule=PITCH_RULES[command], pitch=opts["pitch"]) if bins else None,
      groups=group_info, outputs=outputs)
  files.write_json(json_path, info)
  return info


# ---------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------


def _define_flags():
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string("model_dir", None, "A trained WaveNet autoencoder.")
  flags.DEFINE_string("output_dir", None, "Where the wavs and JSON go.")
  flags.DEFINE_integer("steps", DEFAULTS["steps"], "interpolate: points "
                       "from a=0 to a=1.")
  flags.DEFINE_integer("grid", DEFAULTS["grid"], "grid: points per side.")
  flags.DEFINE_string("layout", None, "multigrid: RxC squares (default: "
                      "square, from the number of inputs).")
  flags.DEFINE_integer("resolution", DEFAULTS["resolution"], "multigrid: "
                       "points per square edge, ends included.")
  flags.DEFINE_string("pitches", None, "grid/multigrid: MIDI pitches "
                      "P1,P2,...; every input path holds {pitch}.")
  flags.DEFINE_float("pitch", None, "Pitch-conditioned models: play every "
                     "output at this MIDI pitch (fractional allowed) instead "
                     "of the pitch its command keeps; unvoiced frames stay "
                     "unvoiced.")
  flags.DEFINE_string("factor", DEFAULTS["factor"], "scale/caricature: F or "
                      "F1,F2,... (one output each).")
  flags.DEFINE_string("sigma", DEFAULTS["sigma"], "noise: sigma(s) in "
                      "corpus standard deviations.")
  flags.DEFINE_string("hz", DEFAULTS["hz"], "oscillate: frequency(ies) in "
                      "Hz.")
  flags.DEFINE_string("stats", None, "caricature/noise: mean.npz from the "
                      "mean command.")
  flags.DEFINE_enum("align", "crop", list(ALIGN_MODES), "Inputs of "
                    "different lengths: crop to the shortest, pad (repeat "
                    "the last frame) or stretch to the longest.")
  flags.DEFINE_string("data_dir", None, "mean: a prepared corpus.")
  flags.DEFINE_string("split", "train", "mean: corpus split.")
  flags.DEFINE_integer("max_files", None, "mean: at most this many files.")
  flags.DEFINE_string("output", None, "mean: the .npz to write.")
  flags.DEFINE_integer("seed", 0, "Sampling seed (batch k uses seed + k); "
                       "also the noise draws.")
  flags.DEFINE_string("temperature", "1.0", "Sampling temperature, or one "
                      "per output: T1,T2,...")
  flags.DEFINE_integer("batch_size", 8, "Outputs generated together.")
  flags.DEFINE_string("checkpoint", "best", "best, last, or a checkpoint "
                      "path prefix.")
  flags.DEFINE_string("name", None, "Output names <name>_<i>.wav, "
                      "<name>.json (default: the command).")
  flags.DEFINE_boolean("overwrite", False, "Replace existing outputs.")
  flags.mark_flags_as_required(["model_dir"])


def main(argv):
  from absl import flags  # pylint: disable=g-import-not-at-top
  f = flags.FLAGS
  if len(argv) < 2:
    print(f"error: give a command: {', '.join(COMMANDS)} (see --help)",
          file=sys.stderr)
    return 1
  command, args = argv[1], argv[2:]
  options = {k: getattr(f, k) for k in DEFAULTS if k != "progress"}
  info = run_command(command, args, f.model_dir, f.output_dir, **options)
  if command == "mean":
    print(info["output"])
  else:
    for entry in info["outputs"]:
      print(os.path.join(f.output_dir, entry["file"]))
    print(os.path.join(f.output_dir, f"{f.name or command}.json"))
  return 0


def run():
  """Console-script entry point (`wavenet-latent`)."""
  from common import cli  # pylint: disable=g-import-not-at-top
  cli.run(main, _define_flags, __doc__, user_errors=(ValueError,))


if __name__ == "__main__":
  run()
