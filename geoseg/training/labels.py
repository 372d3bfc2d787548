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
from pyogrio.errors import DataLayerError, DataSourceError
from rasterio.enums import Resampling
from rasterio.features import rasterize
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from geoseg.errors import ConfigError
from geoseg.evaluation import IGNORE
from geoseg.grid import Grid, bounds_intersect
from geoseg.models.spectral import SpectralForestModel
from geoseg.scenes import Scene, grids_overlap
from geoseg.training.inputs import open_raster, raster_grid, reason_of, require_file


@dataclass(frozen=True)
class RasterLabels:
    path: str
    mapping: tuple[tuple[int, int], ...]  # (raster value, class index)

    def check(self, grid: Grid, target: str) -> None:
        """Fail in one line, before any work, unless the raster can be read onto ``grid`` (of
        ``target``, which the message names): readable, georeferenced, overlapping it."""
        with open_raster(self.path, "label raster") as src:
            labels = raster_grid(src, "label raster")
        if not grids_overlap(labels, grid):
            raise ConfigError(f"{self.path}: the label raster does not overlap {target}")

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
    mapping: tuple[tuple[str, int], ...]  # (column value as text, class index)

    def check(self, grid: Grid, target: str) -> None:
        """Fail in one line, before any work, unless some polygon labels ``grid`` (of
        ``target``, which the message names): a readable file with a CRS, the label column,
        a value of it that is mapped to a class, and polygons over the grid."""
        polygons = _read_polygons(self.path)
        if polygons.crs is None:
            raise ConfigError(
                f"{self.path}: the label polygons have no CRS; assign one "
                "(ogr2ogr -a_srs EPSG:... out.gpkg in.gpkg)"
            )
        if polygons.empty:
            raise ConfigError(f"{self.path}: holds no label polygons")
        if self.column not in polygons.columns:
            columns = ", ".join(c for c in polygons.columns if c != polygons.geometry.name)
            raise ConfigError(
                f"{self.path}: no label column {self.column!r} (columns: {columns or 'none'})"
            )
        values = sorted({str(v) for v in polygons[self.column]})
        if not set(values) & {value for value, _ in self.mapping}:
            shown = ", ".join(values[:5]) + (", ..." if len(values) > 5 else "")
            raise ConfigError(
                f"{self.path}: no value of column {self.column!r} ({shown}) is mapped to a "
                "class; map them with `mapping` VALUE=CLASS,...",
                options=("mapping",),
            )
        bounds = _polygons(self.path, grid.crs.to_wkt()).total_bounds
        if not bounds_intersect(tuple(map(float, bounds)), grid.bounds):
            raise ConfigError(f"{self.path}: no label polygon overlaps {target}")

    def read(self, scene: Scene, window: Window) -> np.ndarray:
        return self.read_grid(scene.grid, window)

    def read_grid(self, grid: Grid, window: Window) -> np.ndarray:
        """Class indices of ``window`` of ``grid`` (IGNORE outside every polygon)."""
        polygons = _polygons(self.path, grid.crs.to_wkt())
        classes = dict(self.mapping)
        shapes = [
            (geom, classes[str(value)])
            for geom, value in zip(polygons.geometry, polygons[self.column], strict=True)
            if str(value) in classes
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
    return _read_polygons(path).to_crs(crs_wkt)


@lru_cache(maxsize=4)
def _read_polygons(path: str) -> gpd.GeoDataFrame:
    """Label polygons as the file holds them, or one line saying why they cannot be read (a
    folder, a truncated or foreign file, a table without geometries)."""
    require_file(path, "label file")
    try:
        polygons = gpd.read_file(path)
    except (DataSourceError, DataLayerError) as exc:
        raise ConfigError(
            f"{path}: cannot read the label polygons ({reason_of(exc)}); the file is corrupt, "
            "truncated or not a vector file"
        ) from None
    if not isinstance(polygons, gpd.GeoDataFrame):
        raise ConfigError(f"{path}: a table without geometries, not label polygons")
    return polygons


@dataclass(frozen=True)
class SpectralLabels:
    confidence: float = 0.9
    classes: tuple[str, ...] = field(default=("non_forest", "forest"))

    def check(self, grid: Grid, target: str) -> None:
        """Nothing to check: these labels come from the scene itself."""

    def read(self, scene: Scene, window: Window) -> np.ndarray:
        model = SpectralForestModel()
        bands = model.input_bands(scene.band_names, scene.sensor)
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
    pairs = _mapping_pairs(mapping, classes)
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
    if not all(v.lstrip("-").isdigit() for v, _ in pairs):
        raise ConfigError(
            f"`mapping` {mapping!r}: a label raster's values are integers (VALUE=CLASS,...)",
            options=("mapping",),
        )
    return RasterLabels(spec, tuple((int(v), classes.index(c)) for v, c in pairs))


def _mapping_pairs(mapping: str | None, classes: tuple[str, ...]) -> list[tuple[str, str]]:
    """``VALUE=CLASS,...`` as (value, class) pairs, each class one of ``classes``; a malformed
    item (no ``=``) is the same one-line error as an unknown class."""
    items = [item.split("=", 1) for item in mapping.split(",")] if mapping else []
    if any(len(item) != 2 for item in items) or {c for _, c in items} - set(classes):
        raise ConfigError(
            f"`mapping` {mapping!r}: give VALUE=CLASS pairs with classes from {classes}",
            options=("mapping",),
        )
    return [(value, name) for value, name in items]
