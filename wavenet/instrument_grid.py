"""The instrument's pad: where the sounds sit and how grid points mix them.

Four sounds sit at the pad's corners (top-left, top-right, bottom-left,
bottom-right); a multigrid of K x K sounds (K = 3 .. 8) keeps them there
and fills the other lattice nodes row by row. A grid point mixes the four
sounds of its lattice cell bilinearly (`wavenet.latent_ops`), and the page
mixes the 4 grid points nearest to a pad position by their bilinear
weights (`nearest_points`; the page does the same in JavaScript).
"""

from __future__ import annotations

import numpy as np

from wavenet import latent_ops
from wavenet.instrument_sounds import InstrumentError

CORNER_NAMES = ("top-left", "top-right", "bottom-left", "bottom-right")
Layout = list[list[int]]  # K rows of K sound indices


def multigrid_layout(count: int) -> Layout:
  """The K x K lattice of instrument indices for `count = K * K` sounds.

  Sounds 0-3 (the corners, in CORNER_NAMES order) sit at the lattice's
  corners; sounds 4.. fill the other nodes row by row. Returns a list of K
  rows of indices.
  """
  k = int(round(count ** 0.5))
  if k * k != count or not 2 <= k <= 8:
    raise InstrumentError(
        f"a multigrid needs 4 corners + more sounds making a square of 4, 9, "
        f"16, ..., 64 in all; got {count}")
  corners = {(0, 0): 0, (0, k - 1): 1, (k - 1, 0): 2, (k - 1, k - 1): 3}
  layout, extra = [], 4
  for r in range(k):
    row = []
    for c in range(k):
      if (r, c) in corners:
        row.append(corners[(r, c)])
      else:
        row.append(extra)
        extra += 1
    layout.append(row)
  return layout


def sound_positions(layout: Layout) -> np.ndarray:
  """`[n, 2]` (x, y) of each instrument on the pad, from its lattice node."""
  k = len(layout)
  positions = np.zeros([k * k, 2])
  for r, row in enumerate(layout):
    for c, index in enumerate(row):
      positions[index] = (c / (k - 1), r / (k - 1))
  return positions


def nearest_points(x: float, y: float,
                   grid: int) -> tuple[list[int], list[float]]:
  """The 4 grid points around (x, y) and their bilinear weights.

  `wavenet.latent_ops.nearest_grid_points`, as plain lists: `(points,
  weights)` ordered top-left, top-right, bottom-left, bottom-right.
  """
  points, weights = latent_ops.nearest_grid_points(x, y, grid)
  return ([int(p) for p in np.asarray(points).reshape(-1)],
          [float(w) for w in np.asarray(weights).reshape(-1)])


def multigrid_resolution(grid: int, layout: Layout) -> int:
  """Points per lattice-square edge so that `grid` points span the lattice.

  A K x K lattice has K - 1 squares per side; `grid - 1` must be a multiple
  of `K - 1` so that every sound sits on a grid point.
  """
  squares = len(layout) - 1
  if (grid - 1) % squares:
    good = ", ".join(str(squares * r + 1) for r in range(1, 5))
    raise InstrumentError(
        f"--grid={grid} does not fit a {len(layout)} x {len(layout)} "
        f"multigrid: the sounds must fall on grid points, so use "
        f"--grid={good}, ...")
  return (grid - 1) // squares + 1


def grid_mix(sounds: np.ndarray, layout: Layout, grid: int,
             pitch_bins: int = 0) -> tuple[np.ndarray, np.ndarray]:
  """Mixes the sounds' embeddings over the grid, as `wavenet.latent` does.

  Args:
    sounds: `[n, frames, d]` in sound order (corners first).
    layout: `multigrid_layout(n)`.
    grid: points per side.
    pitch_bins: width of the pitch two-hot ending each frame: the timbre is
      mixed, the pitch is the heaviest sound's (`latent_ops.mix`).

  Returns:
    (embeddings `[grid * grid, frames, d]`, weights `[grid * grid, n]` of
    the sounds at each point, row-major from the top-left).
  """
  sounds = np.asarray(sounds, np.float32)
  n = len(sounds)
  if n == 4:
    embeddings, weights = latent_ops.grid_embeddings(sounds, grid,
                                                     pitch_bins)
    return np.asarray(embeddings), np.asarray(weights, np.float64)
  order = np.asarray(layout).reshape(-1)  # lattice vertex -> sound index
  squares = len(layout) - 1
  _, embeddings, corners, corner_weights = latent_ops.multigrid_embeddings(
      sounds[order], (squares, squares), multigrid_resolution(grid, layout),
      pitch_bins)
  weights = np.zeros([len(embeddings), n])
  for j in range(4):
    np.add.at(weights, (np.arange(len(weights)), order[corners[:, j]]),
              corner_weights[:, j])
  return np.asarray(embeddings), weights


def point_weights(grid: int, layout: Layout) -> np.ndarray:
  """`[grid * grid, n]` weights of the n sounds at each grid point."""
  n = sum(len(row) for row in layout)
  return grid_mix(np.eye(n, dtype=np.float32)[:, None, :], layout, grid)[1]


def mix(sounds: np.ndarray, weights: np.ndarray | list[float]) -> np.ndarray:
  """Weighted sum over the first axis: `sounds [n, ...]`, `weights [n]`."""
  return np.tensordot(np.asarray(weights, np.float64),
                      np.asarray(sounds, np.float64), axes=1)
