"""Embedding maths of the latent tools and the instrument (NumPy, no model).

Embeddings are float32 `[frames, d]` (d = the embedding width) at
`sample_rate / hop_length` frames per second.

Formulas (after the NSynth paper, its instruments and the "Making a
Neural Synthesizer Instrument" post):

- interpolate: `z = (1 - a) zA + a zB`.
- scale: `z = F zA`.
- caricature: `z = mean + F (zA - mean)`.
- noise: `z = mean + std ((zA - mean) / std + N(0, sigma))`, i.e.
  `zA + std N(0, sigma)`.
- oscillate: `z(t) = (1 - a(t)) zA + a(t) zB`, `a(t) = (1 - cos(2 pi hz t))
  / 2` with `t = frame / frame_rate` in seconds.
- analogy: `z = zC + (zB - zA)`.
- grid: corners top-left A, top-right B, bottom-left C, bottom-right D; a
  point `(x, y)` of the unit square (x rightwards, y downwards) mixes them
  with the bilinear weights `((1-x)(1-y), x(1-y), (1-x)y, xy)`.
- multigrid: instruments on the vertices of a lattice of squares, each
  point mixing the 4 corners of its square bilinearly.

Pitch (`pitch_bins > 0`): a frame is `[timbre | pitch]`, the pitch a
two-hot over semitones (`wavenet.pitch.two_hot`; all zeros when unvoiced).
The formulas act on the timbre; the pitch is never scaled, noised or
blended: `mix` gives each frame the whole pitch part of its heaviest input.

Alignment of inputs of different lengths (`align_all`): "crop" to the
shortest, "pad" (repeat the last frame) or "stretch" (linear time
interpolation) to the longest.
"""

from __future__ import annotations

from typing import Sequence, Union

import numpy as np

GridSize = Union[int, Sequence[int]]  # G (G x G points) or (rows, cols)


class LatentError(ValueError):
  """Embeddings, a layout or a pitch the latent tools cannot use (one line)."""


ALIGN_MODES = ("crop", "pad", "stretch")
MAX_INSTRUMENTS = 64
CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right")


# ---------------------------------------------------------------------------
# Alignment.
# ---------------------------------------------------------------------------


def _as_embedding(z: np.ndarray, name: str = "z") -> np.ndarray:
  z = np.asarray(z)
  if z.ndim != 2:
    raise LatentError(f"{name} must be [frames, d], got shape "
                      f"{list(z.shape)}")
  return z


def stretch(z: np.ndarray, frames: int, pitch_bins: int = 0) -> np.ndarray:
  """Linear time interpolation of `z` `[n, d]` to `[frames, d]`.

  Output frame `j` sits at input position `j (n - 1) / (frames - 1)`, so the
  first and last frames are kept. The timbre is interpolated; the pitch
  part is the nearer input frame's (the earlier halfway), as `mix` does.
  """
  z = _as_embedding(z)
  n, frames = len(z), int(frames)
  if frames < 1:
    raise LatentError(f"cannot stretch to {frames} frames")
  if n == frames:
    return z.copy()
  if n == 1 or frames == 1:
    return np.repeat(z[:1], frames, axis=0)
  position = np.arange(frames) * ((n - 1) / (frames - 1))
  lo = np.minimum(np.floor(position).astype(np.int64), n - 2)
  w = position - lo
  return mix(np.stack([z[lo], z[lo + 1]]), np.stack([1 - w, w]), pitch_bins)


def align_all(embeddings: Sequence[np.ndarray], mode: str = "crop",
              pitch_bins: int = 0) -> list[np.ndarray]:
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
    raise LatentError(f"align mode must be one of {ALIGN_MODES}, got "
                      f"{mode!r}")
  zs = [_as_embedding(z, f"embeddings {i}") for i, z in enumerate(embeddings)]
  if not zs:
    return []
  widths = {z.shape[1] for z in zs}
  if len(widths) > 1:
    raise LatentError(f"embeddings have different widths {sorted(widths)}")
  lengths = [len(z) for z in zs]
  if mode == "crop":
    target = min(lengths)
    return [z[:target] for z in zs]
  target = max(lengths)
  if mode == "pad":
    return [np.pad(z, [(0, target - len(z)), (0, 0)], mode="edge")
            for z in zs]
  return [stretch(z, target, pitch_bins) for z in zs]


def align(z_a: np.ndarray, z_b: np.ndarray, mode: str = "crop",
          pitch_bins: int = 0) -> tuple[np.ndarray, ...]:
  """Two `[frames, d]` embeddings to a common length; see `align_all`."""
  return tuple(align_all([z_a, z_b], mode, pitch_bins))


# ---------------------------------------------------------------------------
# Timbre and pitch.
# ---------------------------------------------------------------------------


def split_embedding(z: np.ndarray,
                    pitch_bins: int) -> tuple[np.ndarray, np.ndarray]:
  """`[..., d]` -> (timbre `[..., d - pitch_bins]`, pitch `[..., pitch_bins]`).

  A pitch-conditioned autoencoder's frame is its learned values (the timbre)
  followed by the frame's pitch as a two-hot over `pitch_bins` semitones
  (`wavenet.model.WaveNet.encode`); with `pitch_bins` 0 the pitch part is
  empty.
  """
  z = np.asarray(z)
  bins = int(pitch_bins)
  if not 0 <= bins <= z.shape[-1]:
    raise LatentError(f"cannot split {bins} pitch bins off embeddings of "
                      f"width {z.shape[-1]}")
  cut = z.shape[-1] - bins
  return z[..., :cut], z[..., cut:]


def join_embedding(timbre: np.ndarray, pitch: np.ndarray) -> np.ndarray:
  """(timbre `[..., t]`, pitch `[..., bins]`) -> float32 `[..., t + bins]`.

  The pitch is broadcast over the timbre's leading axes (one two-hot
  `[bins]` for every frame, say).
  """
  timbre = np.asarray(timbre, np.float32)
  pitch = np.asarray(pitch, np.float32)
  pitch = np.broadcast_to(pitch, timbre.shape[:-1] + pitch.shape[-1:])
  return np.concatenate([timbre, pitch], axis=-1)


def is_two_hot(pitch: np.ndarray, atol: float = 1e-5) -> np.ndarray:
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


def check_pitch(midi: float, pitch_bins: int, min_midi: int) -> None:
  """Raises LatentError unless MIDI pitch `midi` is in a model's pitch bins."""
  if not pitch_bins:
    raise LatentError("--pitch needs a pitch-conditioned autoencoder "
                      "(pitch_bins > 0); this model has no pitch input")
  top = int(min_midi) + int(pitch_bins) - 1
  if not int(min_midi) <= float(midi) <= top:
    raise LatentError(f"--pitch={float(midi):g} is outside the model's pitch "
                      f"bins, MIDI {int(min_midi)} .. {top}")


def set_pitch(z: np.ndarray, midi: float, pitch_bins: int,
              min_midi: int) -> np.ndarray:
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


def mix(zs: np.ndarray, weights: np.ndarray, pitch_bins: int = 0) -> np.ndarray:
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
    raise LatentError(f"weights {list(weights.shape)} do not give one weight "
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


def interpolate(z_a: np.ndarray, z_b: np.ndarray, alpha: float | np.ndarray,
                align_mode: str = "crop", pitch_bins: int = 0) -> np.ndarray:
  """`(1 - alpha) zA + alpha zB` on the timbre (aligned first).

  `alpha` is a scalar or one weight per frame `[frames]`. The pitch is the
  heavier input's in each frame (`mix`): A's while `alpha <= 0.5`, else B's.
  """
  a, b = align(z_a, z_b, align_mode, pitch_bins)
  alpha = np.asarray(alpha, np.float32)
  if alpha.ndim == 1 and len(alpha) != len(a):
    raise LatentError(f"{len(alpha)} weights for {len(a)} frames")
  weights = np.stack([1 - alpha, alpha]).reshape(2, -1)
  return mix(np.stack([a, b]), weights, pitch_bins)


def scale(z: np.ndarray, factor: float, pitch_bins: int = 0) -> np.ndarray:
  """`F z` on the timbre; the pitch is kept."""
  timbre, pitch = split_embedding(_as_embedding(z), pitch_bins)
  return join_embedding(timbre * np.float32(factor), pitch)


def caricature(z: np.ndarray, z_mean: np.ndarray, factor: float,
               pitch_bins: int = 0) -> np.ndarray:
  """`mean + F (z - mean)` on the timbre; the pitch is kept.

  `z_mean` `[d]` (or `[frames, d]`), the whole embedding's mean.
  """
  timbre, pitch = split_embedding(_as_embedding(z), pitch_bins)
  mean, _ = split_embedding(np.asarray(z_mean, timbre.dtype), pitch_bins)
  return join_embedding(mean + np.float32(factor) * (timbre - mean), pitch)


def add_noise(z: np.ndarray, z_mean: np.ndarray, z_std: np.ndarray,
              sigma: float, seed: int = 0, pitch_bins: int = 0) -> np.ndarray:
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


def oscillation_weights(frames: int, hz: float,
                        frame_rate: float) -> np.ndarray:
  """`a(t) = (1 - cos(2 pi hz t)) / 2` at `t = frame / frame_rate` s."""
  t = np.arange(int(frames)) / float(frame_rate)
  return ((1 - np.cos(2 * np.pi * float(hz) * t)) / 2).astype(np.float32)


def oscillate(z_a: np.ndarray, z_b: np.ndarray, hz: float, frame_rate: float,
              align_mode: str = "crop", pitch_bins: int = 0) -> np.ndarray:
  """Moves between A and B at `hz`: `(1 - a(t)) zA + a(t) zB` on the timbre;
  the pitch is A's while `a(t) <= 0.5`, else B's (`interpolate`).

  `frame_rate` is embedding frames per second (`sample_rate / hop_length`).
  """
  a, b = align(z_a, z_b, align_mode, pitch_bins)
  return interpolate(a, b, oscillation_weights(len(a), hz, frame_rate),
                     pitch_bins=pitch_bins)


def analogy(z_a: np.ndarray, z_b: np.ndarray, z_c: np.ndarray,
            align_mode: str = "crop", pitch_bins: int = 0) -> np.ndarray:
  """`zC + (zB - zA)` on the timbre, the three aligned to one length first;
  the pitch is C's."""
  a, b, c = (split_embedding(z, pitch_bins)
             for z in align_all([z_a, z_b, z_c], align_mode, pitch_bins))
  return join_embedding(c[0] + (b[0] - a[0]), c[1])


# ---------------------------------------------------------------------------
# Grids.
# ---------------------------------------------------------------------------


def bilinear_weights(x: float | np.ndarray,
                     y: float | np.ndarray) -> np.ndarray:
  """Weights of the 4 corners of the unit square for a point `(x, y)`.

  `x` grows rightwards and `y` downwards, both in [0, 1]; the corners come
  in the order (top-left, top-right, bottom-left, bottom-right):
  `((1-x)(1-y), x(1-y), (1-x)y, xy)`. They sum to 1. `x` and `y` may be
  arrays (same shape): the result is `[..., 4]`.
  """
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  eps = 1e-9
  if np.any((x < -eps) | (x > 1 + eps) | (y < -eps) | (y > 1 + eps)):
    raise LatentError(f"point outside the unit square: x={x}, y={y}")
  x, y = np.clip(x, 0, 1), np.clip(y, 0, 1)
  return np.stack([(1 - x) * (1 - y), x * (1 - y), (1 - x) * y, x * y],
                  axis=-1)


def _grid_shape(grid: GridSize) -> tuple[int, int]:
  """An int G or (rows, cols) of points -> (rows, cols), each >= 2."""
  if isinstance(grid, (int, np.integer)):
    rows = cols = int(grid)
  else:
    rows, cols = (int(v) for v in grid)
  if rows < 2 or cols < 2:
    raise LatentError(f"a grid needs at least 2 points per side, got "
                      f"{rows} x {cols}")
  return rows, cols


def grid_points(grid: GridSize) -> np.ndarray:
  """`[rows * cols, 2]` points `(x, y)` in [0, 1]^2, row-major from top-left.

  `grid` is G (G x G points) or (rows, cols); point `r * cols + c` is
  `(c / (cols - 1), r / (rows - 1))`.
  """
  rows, cols = _grid_shape(grid)
  y, x = np.meshgrid(np.linspace(0, 1, rows), np.linspace(0, 1, cols),
                     indexing="ij")
  return np.stack([x.ravel(), y.ravel()], axis=1)


def grid_embeddings(corners: np.ndarray, grid: GridSize, pitch_bins: int = 0
                    ) -> tuple[np.ndarray, np.ndarray]:
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
    raise LatentError(f"corners must be [4, frames, d], got "
                      f"{list(corners.shape)}")
  points = grid_points(grid)
  weights = bilinear_weights(points[:, 0], points[:, 1])
  return mix(corners, weights[:, :, None], pitch_bins), weights


def parse_layout(layout: str | tuple[int, int] | None,
                 count: int | None = None) -> tuple[int, int]:
  """"RxC" (squares) -> (rows, cols); None infers a square layout from
  `count` instruments (k^2 instruments -> (k-1) x (k-1) squares)."""
  if layout is None or layout == "":
    k = int(round(np.sqrt(count or 0)))
    if count is None or k * k != count or k < 2:
      raise LatentError(f"give --layout=RxC for {count} instruments (they "
                        f"must fill a (R+1) x (C+1) lattice)")
    return k - 1, k - 1
  if isinstance(layout, str):
    try:
      rows, cols = (int(v) for v in layout.lower().split("x"))
    except ValueError:
      raise LatentError(f"--layout must look like 2x2, got {layout!r}"
                        ) from None
  else:
    rows, cols = layout
  if rows < 1 or cols < 1:
    raise LatentError(f"a layout needs at least 1x1 squares, got "
                      f"{rows}x{cols}")
  return int(rows), int(cols)


def multigrid_shape(layout: str | tuple[int, int],
                    resolution: int) -> tuple[int, int]:
  """Points (rows, cols) of a multigrid of `layout` squares at `resolution`
  points per square edge (shared edges counted once)."""
  rows, cols = parse_layout(layout)
  res = int(resolution)
  if res < 2:
    raise LatentError(f"resolution must be >= 2 points per edge, got {res}")
  return rows * (res - 1) + 1, cols * (res - 1) + 1


def multigrid_embeddings(
    instruments: np.ndarray, layout: str | tuple[int, int], resolution: int = 3,
    pitch_bins: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
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
    raise LatentError(f"instruments must be [n, frames, d], got "
                      f"{list(instruments.shape)}")
  if n > MAX_INSTRUMENTS:
    raise LatentError(f"at most {MAX_INSTRUMENTS} instruments, got {n}")
  if n != (rows + 1) * (cols + 1):
    raise LatentError(f"a {rows}x{cols} layout has {(rows + 1) * (cols + 1)} "
                      f"vertices, got {n} instruments")
  res = int(resolution)
  point_rows, point_cols = multigrid_shape((rows, cols), res)
  grid_r, grid_c = np.meshgrid(np.arange(point_rows), np.arange(point_cols),
                               indexing="ij")
  r, c = grid_r.ravel(), grid_c.ravel()
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


def nearest_grid_points(x: float, y: float,
                        grid: GridSize) -> tuple[np.ndarray, np.ndarray]:
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
