"""Stitching: blend overlapping tile probabilities into one output block.

A block's value at each pixel is ``Σ w·p / Σ w`` over the tiles covering it, summed in the fixed
row-major tile order so that the bytes do not depend on which worker ran what or when.

Blend weights are separable, ``w(y, x) = v(y) · u(x)``. Along an axis, a tile side that is an inner
border (a neighbour tile continues past it) gets this ramp over its first ``overlap`` pixels,
counted by the distance ``d`` from the side:

- ``w = 0`` for ``d < m``: the outer ``m`` pixels are where a model's edge effects live (``m`` is
  the model's declared ``edge_margin``, at most ``overlap / 2``); they never reach the output;
- ``w = sin²(π/2 · (d − m + 1) / (L + 1))`` for ``m <= d < overlap − m``, with ``L = overlap − 2m``;
- ``w = 1`` beyond.

Two neighbours at stride ``tile_size − overlap`` then sum to exactly 1 across their overlap
(``sin² + cos²``), so a pixelwise model is reproduced exactly, a CNN whose receptive field fits in
``m`` is reproduced to float precision, and a model with wider context fades smoothly from one tile
to the next instead of jumping. A side on the scene's edge keeps ``w = 1``: no neighbour exists there.
``mode="mean"`` gives every pixel weight 1 (plain averaging, for comparison).
"""

from collections.abc import Iterable
from functools import lru_cache

import numpy as np
from rasterio import windows
from rasterio.windows import Window

from geoseg.tiling import Tile

BLEND_MODES = ("cosine", "mean")


def edge_ramp(overlap: int, margin: int) -> np.ndarray:
    """The weight of the first ``overlap`` pixels inward from an inner tile border."""
    m = min(margin, overlap // 2)
    d = np.arange(overlap, dtype=np.float64)
    width = overlap - 2 * m
    ramp = np.sin(np.pi / 2 * np.clip((d - m + 1) / (width + 1), 0.0, 1.0)) ** 2
    ramp[d < m] = 0.0
    return ramp


def axis_weights(
    length: int, overlap: int, margin: int, lo_edge: bool, hi_edge: bool
) -> np.ndarray:
    """Weights along one tile axis of ``length`` pixels; ``*_edge`` marks a side on the scene edge."""
    weights = np.ones(length, np.float32)
    ramp = edge_ramp(min(overlap, length), margin)
    if not lo_edge:
        weights[: len(ramp)] = ramp
    if not hi_edge:
        weights[length - len(ramp) :] = np.minimum(weights[length - len(ramp) :], ramp[::-1])
    return weights


@lru_cache(maxsize=64)
def blend_weights(
    height: int,
    width: int,
    overlap: int,
    margin: int,
    edges: tuple[bool, bool, bool, bool],
    mode: str = "cosine",
) -> np.ndarray:
    """The ``(height, width)`` weight window of a tile whose sides ``edges`` = (top, bottom, left,
    right) lie on the scene edge. Read-only: it is cached and shared."""
    if mode == "mean":
        weights = np.ones((height, width), np.float32)
    else:
        top, bottom, left, right = edges
        weights = np.outer(
            axis_weights(height, overlap, margin, top, bottom),
            axis_weights(width, overlap, margin, left, right),
        )
    weights.flags.writeable = False
    return weights


def blend_block(
    window: Window,
    tiles: Iterable[tuple[Tile, np.ndarray]],
    n_classes: int,
    overlap: int,
    margin: int,
    mode: str = "cosine",
) -> np.ndarray:
    """Blend tile probabilities ``(classes, h, w)`` over ``window`` into ``(classes, H, W)`` float32.

    Tiles are summed in the order given; pass them row-major. A pixel no tile covers with positive
    weight, or that is NaN (nodata) in the tiles, comes out NaN.
    """
    rows, cols = int(window.height), int(window.width)
    # float32 sums (a pixel has at most four terms): 2-3x faster than float64, within 2e-7 of it
    total = np.zeros((n_classes, rows, cols), np.float32)
    weight_sum = np.zeros((rows, cols), np.float32)
    for tile, probs in tiles:
        tw = tile.window
        if not windows.intersect(tw, window):
            continue
        weights = blend_weights(int(tw.height), int(tw.width), overlap, margin, tile.edges, mode)
        both = windows.intersection(tw, window)
        src, dst = _within(both, tw), _within(both, window)
        w = weights[src]
        total[(slice(None), *dst)] += w * probs[(slice(None), *src)]
        weight_sum[dst] += w
    with np.errstate(invalid="ignore", divide="ignore"):
        blended = total / weight_sum
    blended[:, weight_sum == 0] = np.nan
    return blended


def _within(inner: Window, outer: Window) -> tuple[slice, slice]:
    """Array slices of ``inner`` in an array that holds ``outer``."""
    return Window(
        inner.col_off - outer.col_off, inner.row_off - outer.row_off, inner.width, inner.height
    ).toslices()
