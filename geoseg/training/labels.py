"""Labels for training, read window by window onto a scene's grid.

Three kinds, each giving class indices with ``IGNORE`` (255) where a pixel is unlabelled:

- ``RasterLabels``: a class raster, resampled to the scene grid with nearest neighbour, its values
  mapped to class indices (unmapped values are unlabelled);
- ``VectorLabels``: polygons (GeoPackage, shapefile …) rasterised per window, a column's values
  mapped to class indices; pixels outside every polygon are unlabelled;
- ``SpectralLabels``: weak labels from the built-in spectral model where it is confident
  (forest probability above ``confidence``, or below ``1 − confidence``).
"""

from dataclasses import dataclass, field
from functools import lru_cache

import geopandas as gpd
import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.features import rasterize
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from geoseg.errors import ConfigError
from geoseg.evaluation import IGNORE
from geoseg.grid import Grid
from geoseg.models.spectral import SpectralForestModel
from geoseg.scenes import Scene


@dataclass(frozen=True)
class RasterLabels:
    path: str
    mapping: tuple[tuple[int, int], ...]  # (raster value, class index)

    def read(self, scene: Scene, window: Window) -> np.ndarray:
        return self.read_grid(scene.grid, window)

    def read_grid(self, grid: Grid, window: Window) -> np.ndarray:
        """Class indices of ``window`` of ``grid`` (IGNORE where unlabelled)."""
        with (
            rasterio.open(self.path) as src,
            WarpedVRT(
                src,
                crs=grid.crs,
                transform=grid.transform,
                width=grid.width,
                height=grid.height,
                resampling=Resampling.nearest,
            ) as vrt,
        ):
            values = vrt.read(1, window=window)
        out = np.full(values.shape, IGNORE, np.uint8)
        for value, index in self.mapping:
            out[values == value] = index
        return out


@dataclass(frozen=True)
class VectorLabels:
    path: str
    column: str
    mapping: tuple[tuple[str, int], ...]  # (column value, class index)

    def read(self, scene: Scene, window: Window) -> np.ndarray:
        return self.read_grid(scene.grid, window)

    def read_grid(self, grid: Grid, window: Window) -> np.ndarray:
        """Class indices of ``window`` of ``grid`` (IGNORE outside every polygon)."""
        polygons = _polygons(self.path, grid.crs.to_wkt())
        classes = dict(self.mapping)
        shapes = [
            (geom, classes[value])
            for geom, value in zip(polygons.geometry, polygons[self.column], strict=True)
            if value in classes
        ]
        shape = (int(window.height), int(window.width))
        if not shapes:
            return np.full(shape, IGNORE, np.uint8)
        return rasterize(
            shapes,
            out_shape=shape,
            fill=IGNORE,
            dtype="uint8",
            transform=grid.window_transform(window),
        )


@lru_cache(maxsize=4)
def _polygons(path: str, crs_wkt: str) -> gpd.GeoDataFrame:
    """Label polygons in the scene's CRS (read once per process: label files are small)."""
    return gpd.read_file(path).to_crs(crs_wkt)


@dataclass(frozen=True)
class SpectralLabels:
    confidence: float = 0.9
    classes: tuple[str, ...] = field(default=("non_forest", "forest"))

    def read(self, scene: Scene, window: Window) -> np.ndarray:
        model = SpectralForestModel()
        bands = model.input_bands(scene.band_names)
        data, valid = scene.read(window, bands)
        forest = model.predict(data[None], bands)[0, 1]
        out = np.full(forest.shape, IGNORE, np.uint8)
        out[valid & (forest >= self.confidence)] = self.classes.index("forest")
        out[valid & (forest <= 1 - self.confidence)] = self.classes.index("non_forest")
        return out


Labels = RasterLabels | VectorLabels | SpectralLabels


def labels_from_option(
    spec: str, column: str, mapping: str | None, classes: tuple[str, ...]
) -> Labels:
    """Labels from a command-line spec: ``spectral``, a vector file, or a class raster.

    ``mapping`` is ``VALUE=CLASS,...`` (e.g. ``Forest=forest,NonForest=non_forest`` or
    ``1=forest,3=non_forest``); without it, vector values equal to a class name map to it.
    """
    if spec == "spectral":
        return SpectralLabels(classes=classes)
    pairs = [item.split("=", 1) for item in mapping.split(",")] if mapping else []
    unknown = sorted({c for _, c in pairs} - set(classes))
    if unknown or any(len(p) != 2 for p in pairs):
        raise ConfigError(
            f"`mapping` {mapping!r}: give VALUE=CLASS pairs with classes from {classes}",
            options=("mapping",),
        )
    if spec.lower().endswith((".gpkg", ".shp", ".geojson", ".json", ".fgb")):
        mapped = [(v, classes.index(c)) for v, c in pairs] or [
            (c, i) for i, c in enumerate(classes)
        ]
        return VectorLabels(spec, column, tuple(mapped))
    if not pairs:
        raise ConfigError(
            "a label raster needs `mapping` VALUE=CLASS,... (which value is which class)",
            options=("mapping",),
        )
    return RasterLabels(spec, tuple((int(v), classes.index(c)) for v, c in pairs))
