"""Spatial validation split: whole blocks of the scene are held out, with a gap around them.

Random pixels or overlapping tiles would leak: neighbouring pixels are nearly the same, so a model
would be validated on what it trained on. Instead the scene is cut into square blocks; every
``1 / val_fraction``-th block (in a seeded order) is a validation block, and a training tile may
not come within ``gap`` pixels of any validation block. Pure arithmetic, no I/O.
"""

from dataclasses import dataclass

import numpy as np
from rasterio.windows import Window

from geoseg.errors import ConfigError


@dataclass(frozen=True)
class SpatialSplit:
    """Validation blocks of a ``height × width`` scene and the gap kept around them."""

    height: int
    width: int
    validation: tuple[Window, ...]
    gap: int

    def clear_of_validation(self, window: Window) -> bool:
        """Does ``window``, grown by the gap, stay off every validation block?"""
        grown = (window.row_off - self.gap, window.col_off - self.gap,
                 window.row_off + window.height + self.gap, window.col_off + window.width + self.gap)
        return not any(grown[0] < v.row_off + v.height and v.row_off < grown[2]
                       and grown[1] < v.col_off + v.width and v.col_off < grown[3]
                       for v in self.validation)

    def training_tiles(self, tile: int, stride: int) -> list[Window]:
        """Tile windows inside the scene that are clear of the validation blocks and the gap."""
        return [w for r in range(0, self.height - tile + 1, stride)
                for c in range(0, self.width - tile + 1, stride)
                if self.clear_of_validation(w := Window(c, r, tile, tile))]


def spatial_split(height: int, width: int, block: int, val_fraction: float, gap: int,
                  seed: int = 0) -> SpatialSplit:
    """Hold out about ``val_fraction`` of the ``block``-sized blocks (at least one)."""
    if not 0 < val_fraction < 1:
        raise ConfigError(f"validation fraction {val_fraction} must be between 0 and 1")
    if block < 16 or gap < 0:
        raise ConfigError("validation blocks need at least 16 px and a gap of 0 or more")
    blocks = [Window(c, r, min(block, width - c), min(block, height - r))
              for r in range(0, height, block) for c in range(0, width, block)]
    order = np.random.default_rng(seed).permutation(len(blocks))
    count = max(1, round(val_fraction * len(blocks)))
    return SpatialSplit(height, width, tuple(blocks[i] for i in sorted(order[:count])), gap)
