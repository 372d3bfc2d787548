"""Seam metrics: does a tiled output jump where tiles meet?

- ``seam_ratio``: mean |difference| between neighbouring pixels across tile borders (each pair of
  pixels either side of a tile edge, rows and columns), divided by the same mean over neighbour
  pairs at least ``away`` pixels from any tile edge. A seamless map scores about 1 — but so can a
  map whose content changes a lot at borders by chance, hence:
- ``seam_excess``: the tiled output's seam ratio ÷ the whole-image output's seam ratio measured at
  the same positions. 1.0 means the tiling adds no seam.
"""

import numpy as np

from geoseg.tiling import TileGrid


def _pair_masks(n: int, edges: list[int], away: int) -> tuple[np.ndarray, np.ndarray]:
    """Over neighbour pairs (k-1, k), k = 1..n-1: which straddle an edge, which are far from all."""
    k = np.arange(1, n)
    at_edge = np.isin(k, edges)
    if edges:
        distance = np.min(np.abs(k[:, None] - np.asarray(edges)[None, :]), axis=1)
        far = distance >= away
    else:
        far = np.ones_like(at_edge)
    return at_edge, far


def seam_ratio(raster: np.ndarray, tiling: TileGrid, away: int = 4) -> float:
    """Seam ratio of a ``(rows, cols)`` raster tiled by ``tiling`` (NaN pixels are ignored)."""
    if raster.shape != (tiling.height, tiling.width):
        raise ValueError(
            f"raster shape {raster.shape} is not the tiling's {(tiling.height, tiling.width)}"
        )
    row_edges, col_edges = tiling.tile_border_offsets()
    dx = np.abs(np.diff(raster, axis=1))  # pairs along columns
    dy = np.abs(np.diff(raster, axis=0))  # pairs along rows
    col_at, col_far = _pair_masks(tiling.width, col_edges, away)
    row_at, row_far = _pair_masks(tiling.height, row_edges, away)
    border = np.concatenate([dx[:, col_at].ravel(), dy[row_at, :].ravel()])
    interior = np.concatenate([dx[:, col_far].ravel(), dy[row_far, :].ravel()])
    if border.size == 0 or np.all(np.isnan(border)):
        raise ValueError("the tiling has no inner tile border")
    return float(np.nanmean(border) / np.nanmean(interior))


def seam_excess(tiled: np.ndarray, whole: np.ndarray, tiling: TileGrid, away: int = 4) -> float:
    """How much more seam the tiled output has than whole-image inference at the same borders."""
    return seam_ratio(tiled, tiling, away) / seam_ratio(whole, tiling, away)
