"""Spatial validation split: whole blocks of the scene are held out, with a gap around them.

Random pixels or overlapping tiles would leak: neighbouring pixels are nearly the same, so a model
would be validated on what it trained on. Instead the scene is cut into square blocks; a seeded
draw of about ``val_fraction`` of them are validation blocks (they choose the best epoch), and
optionally ``test_fraction`` more are test blocks (scored once, at the end, so the reported score
is not the one early stopping maximised). A training tile may not come within ``gap`` pixels of
any held-out block. Pure arithmetic, no I/O.
"""

from dataclasses import dataclass

import numpy as np
from rasterio.windows import Window

from geoseg import tiling
from geoseg.errors import ConfigError


@dataclass(frozen=True)
class SpatialSplit:
    """Validation and test blocks of a ``height × width`` scene and the gap kept around them."""

    height: int
    width: int
    validation: tuple[Window, ...]
    gap: int
    test: tuple[Window, ...] = ()

    def clear_of_held_out(self, window: Window) -> bool:
        """Does ``window``, grown by the gap, stay off every validation and test block?"""
        grown = (
            window.row_off - self.gap,
            window.col_off - self.gap,
            window.row_off + window.height + self.gap,
            window.col_off + window.width + self.gap,
        )
        return not any(
            grown[0] < v.row_off + v.height
            and v.row_off < grown[2]
            and grown[1] < v.col_off + v.width
            and v.col_off < grown[3]
            for v in self.validation + self.test
        )

    def training_tiles(self, tile: int, stride: int) -> list[Window]:
        """Tile windows inside the scene that are clear of the validation blocks and the gap."""
        return [
            w
            for r in range(0, self.height - tile + 1, stride)
            for c in range(0, self.width - tile + 1, stride)
            if self.clear_of_held_out(w := Window(c, r, tile, tile))
        ]


def spatial_split(
    height: int,
    width: int,
    block: int,
    val_fraction: float,
    gap: int,
    seed: int = 0,
    test_fraction: float = 0.0,
) -> SpatialSplit:
    """Hold out about ``val_fraction`` of the ``block``-sized blocks for validation (at least
    one) and about ``test_fraction`` more for testing."""
    if not 0 < val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise ConfigError(
            f"validation fraction {val_fraction} and test fraction {test_fraction} "
            "must lie between 0 and 1 and leave blocks to train on"
        )
    if block < 16 or gap < 0:
        raise ConfigError("validation blocks need at least 16 px and a gap of 0 or more")
    blocks = [b.window for b in tiling.blocks(height, width, block)]
    order = np.random.default_rng(seed).permutation(len(blocks))
    n_val = max(1, round(val_fraction * len(blocks)))
    n_test = round(test_fraction * len(blocks))
    if n_val + n_test >= len(blocks):
        raise ConfigError(
            f"{len(blocks)} blocks of {block} px cannot hold out {n_val} for "
            f"validation and {n_test} for testing and still train; use smaller blocks"
        )
    return SpatialSplit(
        height,
        width,
        tuple(blocks[i] for i in sorted(order[:n_val])),
        gap,
        tuple(blocks[i] for i in sorted(order[n_val : n_val + n_test])),
    )
