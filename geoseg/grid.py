"""The georeferenced pixel grid of a scene: CRS, affine transform and size, as one small value."""

import math
from dataclasses import dataclass

from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window


@dataclass(frozen=True)
class Grid:
    """A north-up pixel grid: ``transform`` maps (col, row) to CRS coordinates of pixel corners."""

    crs: CRS
    transform: Affine
    width: int
    height: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width

    @property
    def resolution(self) -> tuple[float, float]:
        return abs(self.transform.a), abs(self.transform.e)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in CRS units."""
        left, top = self.transform @ (0, 0)
        right, bottom = self.transform @ (self.width, self.height)
        return min(left, right), min(top, bottom), max(left, right), max(top, bottom)

    def preview_shape(self, size: int, enlarge: bool = False) -> tuple[int, int]:
        """(rows, cols) of a decimated view whose longer side is at most ``size`` pixels
        (exactly ``size`` when ``enlarge``: small grids are then scaled up)."""
        factor = max(self.width, self.height) / size
        factor = factor if enlarge else max(factor, 1.0)
        return max(1, round(self.height / factor)), max(1, round(self.width / factor))

    def window_transform(self, window: Window) -> Affine:
        """The transform of a window's own pixel grid."""
        return self.transform @ Affine.translation(window.col_off, window.row_off)

    def same_as(self, other: "Grid", tolerance: float = 1e-6) -> bool:
        """True when both grids put the same pixels in the same places."""
        return (
            self.crs == other.crs
            and self.shape == other.shape
            and self.transform.almost_equals(other.transform, precision=tolerance)
        )


def bounds_intersect(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """Do two (left, bottom, right, top) boxes overlap in more than an edge?"""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def is_north_up(transform: Affine) -> bool:
    """A transform geoseg can tile: no rotation or shear, rows going south."""
    return (
        transform.b == 0
        and transform.d == 0
        and transform.a > 0
        and transform.e < 0
        and all(math.isfinite(v) for v in transform[:6])
    )
