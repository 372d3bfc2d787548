"""The task functions Dask runs: each composes stages on small arguments and does its own I/O.

- ``describe_scene``: open a scene on a worker (where the files are) and check it fits the model;
- ``inference.predict_batch``: tiles → probabilities;
- ``stitch_block``: blend the tiles touching one block and write the block to the store;
- ``assemble_layer``: stream a layer's blocks into its final COG;
- ``vectorize_window``, ``merge_polygon_row``, ``write_polygons``: class raster → GeoPackage.
"""

import functools
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

import pyogrio

from geoseg import heap, inference, vectorizing
from geoseg.errors import GeosegError
from geoseg.geopackage import write_geopackage
from geoseg.grid import Grid
from geoseg.inference import TileBatch, as_model
from geoseg.models import Model, ModelRef
from geoseg.plan import SceneInfo, ScenePlan
from geoseg.scenes import SceneOptions, SceneSource, open_scene
from geoseg.stitching import blend_block
from geoseg.tiling import Block
from geoseg.vectorizing import Frontier, PolygonInfo, VectorizeOptions, WindowPieces

P = ParamSpec("P")
R = TypeVar("R")


def portable_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Re-raise geoseg errors without their exception chain.

    Dask pickles a task's exception with its context chain; GDAL's exception classes do not
    unpickle, and Dask then hands the client a bare ``Exception(repr)`` instead of ours. The copy
    raised here, outside the ``except`` block, has no chain: the client gets the real class.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except GeosegError as exc:
            error = exc
        raise type(error)(*error.args)

    return wrapper


predict_batch = portable_errors(inference.predict_batch)


def released(fn: Callable[P, R]) -> Callable[P, R]:
    """Run ``fn``, then hand its freed heap back to the system (``heap.release``)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        finally:
            heap.release()

    return wrapper


vectorize_window = portable_errors(released(vectorizing.vectorize_window))


@portable_errors
def describe_scene(source: SceneSource, options: SceneOptions, model: ModelRef | Model
                   ) -> SceneInfo:
    scene = open_scene(source, options)
    net = as_model(model)
    return SceneInfo(scene, net.input_bands(scene.band_names), net.card)


@portable_errors
def stitch_block(plan: ScenePlan, block: Block, batches: list[TileBatch]) -> int:
    """Blend ``block`` from the batches touching it (in plan order), store it, count valid pixels."""
    pairs = ((tile, probs) for batch in batches for tile, probs in zip(batch.tiles, batch.probs,
                                                                       strict=True))
    blended = blend_block(block.window, pairs, len(plan.info.card.classes), plan.tiling.overlap,
                          plan.edge_margin, plan.blend)
    return plan.store.write_segmentation(block, blended)


@portable_errors
@released
def assemble_layer(plan: ScenePlan, layer: str, final: Path, threads: int = 1) -> Path:
    return plan.store.assemble(layer, plan.tiling.blocks(), final, threads)


@portable_errors
@released
def merge_polygon_row(frontier: Frontier | None, windows: list[WindowPieces], last: bool,
                      grid: Grid, options: VectorizeOptions, info: PolygonInfo, part: Path
                      ) -> Frontier:
    """Merge one row of windows' open pieces (``vectorizing.merge_row``); write what closes."""
    frontier, closed = vectorizing.merge_row(frontier, windows, last)
    table = vectorizing.polygon_table(closed, grid, options, info, repair=False)
    if len(table):
        vectorizing.write_part(table, part)
    return frontier


@portable_errors
@released
def write_polygons(parts: list[Path], grid: Grid, options: VectorizeOptions, info: PolygonInfo,
                   out: Path, metadata: dict[str, str]) -> int:
    """Stream every part file, in order, into the GeoPackage ``out``."""
    finished = (pyogrio.read_dataframe(p) for p in parts if p.exists())
    empty = vectorizing.polygon_table([], grid, options, info)
    return write_geopackage(finished, out, grid.crs.to_wkt(), empty, metadata)
