"""Inference: run the model on one batch of tiles, read from the scene by the worker itself.

A batch is consecutive tiles of one tile row, so it is read as one strip (no pixel read twice
within a batch). Tiles without a single valid pixel are skipped. Output probabilities are cropped
to each tile's window and NaN where the input had no data, which is how nodata travels through
blending into the outputs.
"""

from dataclasses import dataclass
from typing import Literal

import numpy as np
from rasterio import windows
from rasterio.windows import Window

from geoseg.models import Model, ModelRef, load_model
from geoseg.scenes import Scene
from geoseg.tiling import Tile


@dataclass(frozen=True)
class TileBatch:
    """Model output for the tiles of a batch that had data: ``probs[i]`` is ``(classes, h, w)``."""

    tiles: tuple[Tile, ...]
    probs: tuple[np.ndarray, ...]
    skipped: int


def in_worker() -> bool:
    """Is this code running in a Dask worker?"""
    try:
        from distributed import get_worker

        get_worker()
    except (ImportError, ValueError):
        return False
    return True


def as_model(model: ModelRef | Model) -> Model:
    """A loaded model: a reference is loaded (once per process), a model object is used as is.

    In a Dask worker each task computes single-threaded: the worker's threads are the parallelism
    (two single-threaded forward passes side by side beat one two-threaded pass, and one pass at a
    time on two threads from alternating tasks was slower still: measured on 2 cores).
    """
    if not isinstance(model, ModelRef):
        return model
    return load_model(model, 1 if in_worker() else None)


def strip_window(tiles: tuple[Tile, ...]) -> Window:
    """The smallest window holding every tile of a batch."""
    return windows.union(*(t.window for t in tiles))


def pad_to(x: np.ndarray, size: int) -> np.ndarray:
    """Pad ``(bands, h, w)`` at the bottom/right to ``size × size`` by reflection (for scenes
    smaller than a tile; a one-pixel axis is repeated instead)."""
    pad_h, pad_w = size - x.shape[1], size - x.shape[2]
    if pad_h == 0 and pad_w == 0:
        return x
    mode: Literal["reflect", "edge"] = "reflect" if min(x.shape[1:]) > 1 else "edge"
    return np.pad(x, ((0, 0), (0, pad_h), (0, pad_w)), mode=mode)


def predict_whole(
    model: Model, x: np.ndarray, bands: tuple[str, ...], multiple: int = 32
) -> np.ndarray:
    """Probabilities ``(classes, h, w)`` from one pass over all of ``x`` ``(bands, h, w)``,
    padded by reflection at the bottom/right to a multiple of ``multiple`` (a U-Net's sides must
    be) and cropped back: whole-image inference, the reference tiled output is held to."""
    rows, cols = x.shape[1:]
    padded = np.pad(x, ((0, 0), (0, -rows % multiple), (0, -cols % multiple)), mode="reflect")
    return model.predict(padded[None], bands)[0, :, :rows, :cols]


def predict_batch(
    scene: Scene, tiles: tuple[Tile, ...], model: ModelRef | Model, tile_size: int
) -> TileBatch:
    """Read the batch's strip, run the model on its tiles that have data, return probabilities."""
    net = as_model(model)
    bands = net.input_bands(scene.band_names, scene.sensor)
    strip = strip_window(tiles)
    data, valid = scene.read(strip, bands)
    kept, inputs, masks = [], [], []
    for tile in tiles:
        rows = slice(
            int(tile.window.row_off - strip.row_off),
            int(tile.window.row_off - strip.row_off + tile.window.height),
        )
        cols = slice(
            int(tile.window.col_off - strip.col_off),
            int(tile.window.col_off - strip.col_off + tile.window.width),
        )
        mask = valid[rows, cols]
        if not mask.any():
            continue
        kept.append(tile)
        masks.append(mask)
        inputs.append(pad_to(data[:, rows, cols], tile_size))
    if not kept:
        return TileBatch((), (), len(tiles))
    out = net.predict(np.stack(inputs), bands)
    probs = []
    for tile, mask, p in zip(kept, masks, out, strict=True):
        p = np.array(p[:, : int(tile.window.height), : int(tile.window.width)], np.float32)
        p[:, ~mask] = np.nan
        probs.append(p)
    return TileBatch(tuple(kept), tuple(probs), len(tiles) - len(kept))
