"""Tile and block arithmetic: pure functions of sizes, no I/O.

Two grids cover a scene of ``height × width`` pixels:

- **tiles** (what the model sees): windows of ``tile_size`` with ``overlap`` pixels shared between
  neighbours, stride ``S = tile_size - overlap``. Along an axis of ``n`` pixels there are
  ``ceil((n - T) / S) + 1`` tiles (one when ``n <= T``). Tile ``i`` starts at ``i * S``, except the
  last, which is moved back to start at ``n - T``: every tile then lies inside the scene, so the model
  never sees invented pixels. Only a scene smaller than one tile is padded (by reflection, in
  ``inference``), and then only along that axis.
- **alignment**: a CNN that downsamples by ``A`` (its stride, 8 or 32 for smp encoders) gives the
  same output for a shifted input only when the shift is a multiple of ``A``; a tile starting
  anywhere else samples its pixels at another phase than whole-image inference does (measured on
  the shipped U-Net: a 2-px shift changes probabilities by 0.08 on average). With ``align = A``,
  ``S`` and ``T`` must be multiples of ``A`` and the last tile starts at the first multiple of ``A``
  at or after ``n - T``: it may reach up to ``A - 1`` pixels past the scene's edge, which inference
  fills by reflection, as whole-image inference pads a scene to a multiple of ``A``.
- **blocks** (what the output is written in): non-overlapping windows of ``block_size``, clipped at
  the scene edge. A block's value blends every tile that intersects it.

Tiles are numbered row-major; a *batch* is a run of up to ``batch_size`` consecutive tiles of one
tile row, so a batch reads one strip of the scene and the plan does not depend on timing.
"""

import bisect
import math
from dataclasses import dataclass
from functools import cached_property

from rasterio import windows
from rasterio.windows import Window

from geoseg.errors import ConfigError


@dataclass(frozen=True)
class Tile:
    """One model input window, inside the scene, and which of its sides lie on the scene's edge."""

    index: int
    row: int
    col: int
    window: Window
    edges: tuple[bool, bool, bool, bool]  # top, bottom, left, right


@dataclass(frozen=True)
class Block:
    """One output window (no overlap with other blocks)."""

    row: int
    col: int
    window: Window

    @property
    def key(self) -> str:
        return f"r{self.row:05d}_c{self.col:05d}"


def blocks(height: int, width: int, size: int) -> list[Block]:
    """Non-overlapping windows of ``size`` pixels covering a ``height × width`` raster, row-major,
    clipped at its edge; a block's row and column count blocks, not pixels."""
    if height < 1 or width < 1:
        raise ConfigError(f"raster size {height}×{width} is empty")
    if size < 16:
        raise ConfigError(f"block size {size} is below 16 pixels")
    return [
        Block(int(w.row_off) // size, int(w.col_off) // size, w)
        for w in windows.subdivide(Window(0, 0, width, height), size, size)
    ]


def tile_starts(n: int, tile_size: int, stride: int, align: int = 1) -> list[int]:
    """Start offsets of the tiles along one axis of ``n`` pixels (see the module docstring)."""
    if n <= tile_size:
        return [0]
    count = math.ceil((n - tile_size) / stride) + 1
    last = -(-(n - tile_size) // align) * align
    return [i * stride for i in range(count - 1)] + [last]


@dataclass(frozen=True)
class TileGrid:
    """Tiles and blocks over a ``height × width`` scene."""

    height: int
    width: int
    tile_size: int
    overlap: int
    block_size: int = 1024
    align: int = 1  # tiles start on multiples of this: the model's stride (module docstring)

    def __post_init__(self) -> None:
        if self.height < 1 or self.width < 1:
            raise ConfigError(f"scene size {self.height}×{self.width} is empty")
        if self.tile_size < 16:
            raise ConfigError(f"tile size {self.tile_size} is below 16 pixels")
        if not 0 <= self.overlap <= self.tile_size // 2:
            raise ConfigError(f"overlap {self.overlap} must be in [0, tile_size / 2]")
        if self.block_size < 16 or self.block_size % 16:
            raise ConfigError(f"block size {self.block_size} must be a positive multiple of 16")
        if self.align < 1 or self.tile_size % self.align or self.stride % self.align:
            raise ConfigError(
                f"tile size {self.tile_size} and tile size minus overlap "
                f"({self.stride}) must be multiples of the model's stride "
                f"{self.align}"
            )

    @property
    def stride(self) -> int:
        return self.tile_size - self.overlap

    @cached_property
    def row_starts(self) -> list[int]:
        return tile_starts(self.height, self.tile_size, self.stride, self.align)

    @cached_property
    def col_starts(self) -> list[int]:
        return tile_starts(self.width, self.tile_size, self.stride, self.align)

    @property
    def n_tiles(self) -> int:
        return len(self.row_starts) * len(self.col_starts)

    def tile(self, row: int, col: int) -> Tile:
        y0, x0 = self.row_starts[row], self.col_starts[col]
        h, w = min(self.tile_size, self.height - y0), min(self.tile_size, self.width - x0)
        edges = (y0 == 0, y0 + h == self.height, x0 == 0, x0 + w == self.width)
        return Tile(row * len(self.col_starts) + col, row, col, Window(x0, y0, w, h), edges)

    def tiles(self) -> list[Tile]:
        return [
            self.tile(r, c)
            for r in range(len(self.row_starts))
            for c in range(len(self.col_starts))
        ]

    def tiles_touching(self, window: Window) -> list[Tile]:
        """Tiles that intersect ``window``, row-major (the fixed order blending sums them in)."""
        rows = _spans_touching(
            self.row_starts, min(self.tile_size, self.height), window.row_off, window.height
        )
        cols = _spans_touching(
            self.col_starts, min(self.tile_size, self.width), window.col_off, window.width
        )
        return [self.tile(r, c) for r in rows for c in cols]

    def blocks(self) -> list[Block]:
        return blocks(self.height, self.width, self.block_size)

    def batches(self, batch_size: int) -> list[tuple[Tile, ...]]:
        """Runs of up to ``batch_size`` consecutive tiles of one tile row."""
        if batch_size < 1:
            raise ConfigError(f"batch size {batch_size} must be at least 1")
        n_cols = len(self.col_starts)
        return [
            tuple(self.tile(r, c) for c in range(c0, min(c0 + batch_size, n_cols)))
            for r in range(len(self.row_starts))
            for c0 in range(0, n_cols, batch_size)
        ]

    def batch_of(self, tile: Tile, batch_size: int) -> int:
        """Index (in ``batches(batch_size)``) of the batch holding ``tile``."""
        per_row = math.ceil(len(self.col_starts) / batch_size)
        return tile.row * per_row + tile.col // batch_size

    def tile_border_offsets(self) -> tuple[list[int], list[int]]:
        """Rows and columns where a tile edge lies inside the scene (for the seam metric).

        An offset ``k`` means the edge runs between pixel ``k - 1`` and pixel ``k``.
        """
        return (
            _inner_edges(self.row_starts, self.tile_size, self.height),
            _inner_edges(self.col_starts, self.tile_size, self.width),
        )


def _spans_touching(starts: list[int], size: int, offset: float, length: float) -> range:
    """Indices of the spans ``[start, start + size)`` that intersect ``[offset, offset + length)``."""
    first = bisect.bisect_right(starts, offset - size)  # first span ending after offset
    last = bisect.bisect_left(starts, offset + length)  # spans starting before the end
    return range(first, last)


def _inner_edges(starts: list[int], size: int, n: int) -> list[int]:
    edges = {s for s in starts if s > 0} | {s + size for s in starts if s + size < n}
    return sorted(edges)
