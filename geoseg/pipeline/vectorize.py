"""``vectorize``: polygons of one class of a class raster, window by window, on Dask."""

import json
import shutil
from pathlib import Path

import rasterio
from distributed import Client, Future, wait

from geoseg import __version__
from geoseg.cluster import connect
from geoseg.errors import ConfigError
from geoseg.grid import Grid
from geoseg.manifest import MANIFEST
from geoseg.models.spectral import SpectralForestModel
from geoseg.scenes import acquisition_date
from geoseg.tasks import merge_polygon_row, vectorize_window, write_polygons
from geoseg.tiling import TileGrid
from geoseg.vectorizing import PolygonInfo, VectorizeOptions


def vectorize(classes: str | Path, out: str | Path, options: VectorizeOptions,
              info: PolygonInfo, *, probability: str | Path | None = None,
              client: Client | None = None, scheduler: str | None = None,
              n_workers: int | None = None) -> int:
    """Polygons of ``options.target`` in a class raster, window by window, into a GeoPackage.

    Args:
        classes: a single-band class raster (for example ``classes.tif`` from ``process``).
        out: the GeoPackage to write (atomically).
        options: target class and polygon options.
        info: the scene, date and model written on every polygon.
        probability: a raster with one band per class; gives ``mean_probability``.
        client, scheduler, n_workers: where to run, as for ``process``.

    Returns:
        The number of polygons written.
    """
    if client is None:
        with connect(scheduler, n_workers) as own:
            return vectorize(classes, out, options, info, probability=probability, client=own)
    classes, out = Path(classes), Path(out)
    probability = Path(probability) if probability else None
    grid = _raster_grid(classes)
    parts_dir = out.parent / f".{out.stem}-parts"
    shutil.rmtree(parts_dir, ignore_errors=True)
    blocks = TileGrid(grid.height, grid.width, 16, 0, options.polygons.window_size).blocks()
    rows = sorted({b.row for b in blocks})
    metadata = {"description": f"{options.class_name} polygons of {info.label} "
                               f"(geoseg {__version__})",
                **{column: value or "" for column, value in info.attributes},
                "class": options.class_name, "source": str(classes.resolve()),
                "min_area_ha": str(options.polygons.min_area_ha),
                "simplify_m": str(options.polygons.simplify_m),
                "sieve_pixels": str(options.polygons.sieve_pixels)}
    parts: list[Path] = []
    frontier, previous = None, None
    try:
        for row in rows:
            row_blocks = [b for b in blocks if b.row == row]
            row_parts = [parts_dir / f"{b.key}.gpkg" for b in row_blocks]
            windows = [client.submit(vectorize_window, classes, probability, b, grid, options,
                                     info, part, pure=False)
                       for b, part in zip(row_blocks, row_parts, strict=True)]
            parts += [*row_parts, parts_dir / f"merged_r{row:05d}.gpkg"]
            frontier = client.submit(merge_polygon_row, frontier, windows, row == rows[-1], grid,
                                     options, info, parts[-1], pure=False)
            if previous is not None:
                # At most two rows of windows in flight. wait(), not result(): the frontier
                # stays on its worker instead of travelling to this process.
                wait([previous])
                _raise_if_failed(previous)
            previous = frontier
        wait([frontier])
        _raise_if_failed(frontier)
        return client.submit(write_polygons, parts, grid, options, info, out, metadata,
                             pure=False).result()
    finally:
        shutil.rmtree(parts_dir, ignore_errors=True)


def _raise_if_failed(future: Future) -> None:
    if future.status == "error":
        future.result()  # re-raises the task's error


def _raster_grid(path: Path) -> Grid:
    try:
        with rasterio.open(path) as src:
            if src.count != 1:
                raise ConfigError(f"{path}: a class raster has one band, this one has {src.count}")
            return Grid(src.crs, src.transform, src.width, src.height)
    except rasterio.errors.RasterioIOError as exc:
        raise ConfigError(f"{path}: cannot read the class raster ({exc})") from None


def class_raster_inputs(classes: str | Path, class_spec: str
                        ) -> tuple[int, str, PolygonInfo, Path | None]:
    """What ``vectorize`` needs to know about a class raster, from its geoseg manifest if any.

    ``class_spec`` is a class name (looked up in the ``manifest.json`` beside the raster) or an
    index. Returns the class index, its name, the polygon attributes and the probability raster
    beside it (or None).
    """
    classes = Path(classes)
    manifest_path = classes.parent / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else None
    names = list(manifest["model"]["card"]["classes"]) if manifest else []
    if class_spec.isdigit():
        target = int(class_spec)
        name = names[target] if target < len(names) else class_spec
    elif class_spec in names:
        target, name = names.index(class_spec), class_spec
    else:
        known = f"classes in {manifest_path}: {names}" if names else "no manifest.json beside it"
        raise ConfigError(f"{classes}: unknown class {class_spec!r} ({known}); pass an index")
    probability = classes.parent / "probability.tif"
    if manifest:
        info = PolygonInfo.for_scene(manifest["scene"], manifest["scene_info"]["date"],
                                     manifest["model"]["id"])
    else:
        date, _ = acquisition_date(classes.stem)
        info = PolygonInfo.for_scene(classes.stem, date.isoformat() if date else None, "")
    return target, name, info, probability if manifest and probability.exists() else None




def class_raster_names(classes: str | Path) -> tuple[str, ...]:
    """Class names of a geoseg class raster (from the manifest beside it), else the built-in
    model's."""
    manifest_path = Path(classes).parent / MANIFEST
    if manifest_path.exists():
        return tuple(json.loads(manifest_path.read_text())["model"]["card"]["classes"])
    return SpectralForestModel.card.classes
