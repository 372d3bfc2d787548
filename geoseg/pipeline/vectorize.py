"""``vectorize``: polygons of one class of a class raster, window by window, on Dask."""

import shutil
from pathlib import Path
from typing import Unpack

import rasterio

from geoseg.cluster import Done, Job, RunArgs, Task, Wait, call, run_jobs, tasks, using
from geoseg.cluster.preflight import preflight, readable
from geoseg.errors import ConfigError
from geoseg.grid import Grid
from geoseg.locations import absolute
from geoseg.manifest import ClassRaster, Manifest
from geoseg.models.spectral import SpectralForestModel
from geoseg.results import PolygonsResult
from geoseg.scenes import acquisition_date, date_text
from geoseg.tiling import blocks
from geoseg.vectorizing import PolygonInfo, PolygonOptions, VectorizeOptions
from geoseg.version import __version__


def vectorize(
    classes: str | Path,
    out: str | Path,
    options: VectorizeOptions,
    info: PolygonInfo,
    *,
    probability: str | Path | None = None,
    **run: Unpack[RunArgs],
) -> PolygonsResult:
    """Polygons of ``options.target`` in a class raster, window by window, into a GeoPackage.

    Args:
        classes: a single-band class raster (``classes.tif`` from ``process``, ``loss.tif`` from
            ``change``, ``errors.tif`` from ``evaluate``, or any other).
        out: the GeoPackage to write (atomically).
        options: target class and polygon options.
        info: the attributes written on every polygon.
        probability: a raster with a band per class (``options.probability_band``, default the
            target's): gives each polygon its mean.
        run: where to run (``client`` or ``cluster``), as for ``process``.
    """
    classes, out = absolute(classes), absolute(out)
    probs = absolute(probability) if probability else None
    with using(run) as own:
        preflight(own, readable(str(p) for p in (classes, probs) if p), [out.parent])
        [outcome] = run_jobs(
            own, [(classes.stem, vectorize_job(classes, out, options, info, probs))]
        )
    if isinstance(outcome, Done):
        return PolygonsResult(outcome.name, "done", outputs={"polygons": out}, count=outcome.value)
    return PolygonsResult(outcome.name, "failed", outcome.error)


def vectorize_job(
    classes: Path, out: Path, options: VectorizeOptions, info: PolygonInfo, probability: Path | None
) -> Job[int]:
    """Polygonize windows row by row and merge each row's open pieces into the patches above
    (``vectorizing.merge_row``); at most two rows of windows are in flight. Returns the number
    of polygons written."""
    grid = raster_grid(classes)
    parts_dir = out.parent / f".{out.stem}-parts"
    shutil.rmtree(parts_dir, ignore_errors=True)
    windows = blocks(grid.height, grid.width, options.polygons.window_size)
    rows = sorted({w.row for w in windows})
    parts: list[Path] = []
    frontier, previous = None, None
    try:
        for row in rows:
            row_windows = []
            for w in (w for w in windows if w.row == row):
                parts.append(parts_dir / f"{w.key}.gpkg")
                row_windows.append(
                    (
                        yield Task(
                            tasks.vectorize_window,
                            (classes, probability, w, grid, options, info, parts[-1]),
                            "vectorize",
                        )
                    )
                )
            parts.append(parts_dir / f"merged_r{row:05d}.gpkg")
            frontier = yield Task(
                tasks.merge_polygon_row,
                (frontier, row_windows, row == rows[-1], grid, options, info, parts[-1]),
                "merge",
            )
            if previous is not None:
                # The frontier stays on its worker instead of travelling to this process.
                yield Wait((previous,), fetch=False)
            previous = frontier
        if frontier is not None:
            yield Wait((frontier,), fetch=False)
        metadata = _layer_metadata(classes, options, info)
        return (
            yield from call(
                Task(tasks.write_polygons, (parts, grid, options, info, out, metadata), "polygons")
            )
        )
    finally:
        shutil.rmtree(parts_dir, ignore_errors=True)


def _layer_metadata(classes: Path, options: VectorizeOptions, info: PolygonInfo) -> dict[str, str]:
    return {
        "description": f"{options.class_name} polygons of {info.label} (geoseg {__version__})",
        **{column: value or "" for column, value in info.attributes},
        "class": options.class_name,
        "source": str(classes.resolve()),
        "min_area_ha": str(options.polygons.min_area_ha),
        "simplify_m": str(options.polygons.simplify_m),
        "sieve_pixels": str(options.polygons.sieve_pixels),
    }


def raster_grid(path: Path) -> Grid:
    """The grid of a single-band class raster."""
    try:
        with rasterio.open(path) as src:
            if src.count != 1:
                raise ConfigError(f"{path}: a class raster has one band, this one has {src.count}")
            return Grid(src.crs, src.transform, src.width, src.height)
    except rasterio.errors.RasterioIOError as exc:
        raise ConfigError(f"{path}: cannot read the class raster ({exc})") from None


def described_raster(classes: str | Path) -> tuple[ClassRaster, PolygonInfo, Path | None]:
    """What the manifest beside a class raster says of it: class names, the attributes its
    polygons carry, and its probability raster (or None). A raster without a manifest has the
    built-in model's classes, and its name gives its scene and date."""
    classes = Path(classes)
    manifest = Manifest.read(classes.parent)
    if manifest is None:
        date, precision = acquisition_date(classes.stem)
        return (
            ClassRaster(classes=SpectralForestModel.card.classes),
            PolygonInfo.for_scene(classes.stem, date_text(date, precision), ""),
            None,
        )
    raster = manifest.class_raster(classes)
    probability = classes.parent / raster.probability if raster.probability else None
    return (
        raster,
        PolygonInfo(manifest.polygon_attributes, raster.mean_column),
        probability if probability and probability.exists() else None,
    )


def class_raster_options(
    classes: str | Path, class_spec: str, polygons: PolygonOptions
) -> tuple[VectorizeOptions, PolygonInfo, Path | None]:
    """``vectorize``'s arguments for one class of a class raster: ``class_spec`` is a class
    name known to the manifest beside it, or an index."""
    raster, info, probability = described_raster(classes)
    names = raster.classes
    if class_spec.isdigit():
        target = int(class_spec)
        name = names[target] if target < len(names) else class_spec
    elif class_spec in names:
        target, name = names.index(class_spec), class_spec
    else:
        raise ConfigError(
            f"{classes}: unknown class {class_spec!r} (classes: {list(names)}); "
            "give a name or an index"
        )
    band = raster.probability_bands.get(name)
    options = VectorizeOptions(target, name, polygons, probability_band=band)
    return options, info, probability if band is not None else None
