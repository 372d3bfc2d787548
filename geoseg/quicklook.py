"""Quicklook PNG: the scene in natural (or false) colour with the polygons outlined.

Reads the scene decimated to at most ``max_size`` pixels a side, so it costs the same for any
scene size. Colours: red/green/blue when the scene has them, else SWIR1/NIR/red (forest green,
clearings pink-brown), else NIR/red/green.
"""

from pathlib import Path

import numpy as np
import pyogrio
import rasterio
import shapely
from PIL import Image, ImageDraw
from rasterio.enums import Resampling

from geoseg.geopackage import LAYER
from geoseg.scenes import Scene

COMPOSITES = (("red", "green", "blue"), ("swir16", "nir", "red"), ("nir", "red", "green"))
OUTLINE = (255, 40, 0)


def composite_bands(scene: Scene) -> tuple[str, str, str]:
    for bands in COMPOSITES:
        if set(bands) <= set(scene.band_names):
            return bands
    raise ValueError(f"{scene.name}: no three bands for a colour composite")


def stretch(band: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """2–98 % linear stretch to uint8."""
    if not valid.any():
        return np.zeros(band.shape, np.uint8)
    low, high = np.percentile(band[valid], (2, 98))
    scaled = (band - low) / max(high - low, 1e-12) * 255
    return np.clip(scaled, 0, 255).astype(np.uint8)


def read_composite(scene: Scene, shape: tuple[int, int]) -> np.ndarray:
    channels = []
    for name in composite_bands(scene):
        source = scene.band(name)
        with rasterio.open(source.path) as src:
            data = src.read(source.index, out_shape=shape, resampling=Resampling.average,
                            masked=True)
        valid = ~np.ma.getmaskarray(data)
        channels.append(stretch(data.filled(0).astype(np.float64), valid))
    return np.dstack(channels)


def write_quicklook(scene: Scene, polygons: Path | None, out: Path, max_size: int = 1024) -> Path:
    grid = scene.grid
    factor = max(grid.width, grid.height) / max_size
    factor = max(factor, 1.0)
    shape = (max(1, round(grid.height / factor)), max(1, round(grid.width / factor)))
    image = Image.fromarray(read_composite(scene, shape))
    if polygons is not None:
        draw = ImageDraw.Draw(image)
        to_pixel = ~grid.transform
        sx, sy = shape[1] / grid.width, shape[0] / grid.height
        for geom in pyogrio.read_dataframe(polygons, layer=LAYER).geometry:
            for ring in _rings(geom):
                xy = [(c * sx, r * sy) for c, r in (to_pixel @ (x, y) for x, y in ring.coords)]
                draw.line(xy, fill=OUTLINE, width=1)
    tmp = out.with_name(f".{out.name}.tmp.png")
    image.save(tmp)
    tmp.replace(out)
    return out


def _rings(geom: shapely.Geometry) -> list[shapely.LinearRing]:
    rings = []
    for polygon in shapely.get_parts(geom):
        rings.append(polygon.exterior)
        rings.extend(polygon.interiors)
    return rings
