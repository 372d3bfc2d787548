"""Every function Dask runs, each wrapped the same way (``task``), composing stages on small
arguments and doing its own I/O:

- ``describe_scene``: open a scene on a worker (where the files are) and check it fits the model;
- ``predict_batch``: tiles → probabilities (``inference``);
- ``stitch_block``: blend the tiles touching one block and write the block to the store;
- ``assemble_layer``: stream a layer's blocks into its final COG;
- ``count_classes``: pixels per class of a finished class raster;
- ``vectorize_window``, ``merge_polygon_row``, ``write_polygons``: class raster → GeoPackage;
- ``compare_block``: two dates' probabilities → loss block (``change``);
- ``write_quicklook``, ``write_change_quicklook``: preview PNGs;
- ``finish_outputs``: write the STAC item, then the manifest (last: its presence means complete),
  drop the block store.
"""

import functools
import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

import pyogrio
from rasterio.errors import NodataShadowWarning

from geoseg import change, heap, inference, quicklook, store, vectorizing
from geoseg.errors import GeosegError
from geoseg.geopackage import write_geopackage
from geoseg.grid import Grid
from geoseg.inference import TileBatch, as_model
from geoseg.manifest import Manifest, write_json
from geoseg.models import Model, ModelRef
from geoseg.plan import SceneInfo, ScenePlan
from geoseg.scenes import SceneOptions, SceneSource, open_scene
from geoseg.stitching import blend_block
from geoseg.store import BlockStore
from geoseg.tiling import Block
from geoseg.vectorizing import Frontier, PolygonInfo, VectorizeOptions, WindowPieces

P = ParamSpec("P")
R = TypeVar("R")

# A task reports its failure as one line to the client. GDAL's messages, which rasterio also
# logs, would otherwise reach the terminal raw from every worker (a logger without handlers
# prints through Python's last-resort handler): "_tiffWriteProc: No space left on device".
logging.getLogger("rasterio").addHandler(logging.NullHandler())
# A 4-band composite with nodata: GDAL may call band 4 alpha, and nodata is what geoseg uses
# (``Scene.read``). Set for the whole worker process: ``warnings.catch_warnings`` is not
# thread-safe, and a worker's threads read at once (the warning reached the terminal).
warnings.filterwarnings("ignore", category=NodataShadowWarning)


def task(keep_heap: bool = False) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Wrap a function for Dask.

    - geoseg errors leave the task without their exception chain: Dask pickles a task's exception
      with its chain, GDAL's exception classes do not unpickle, and Dask then hands the client a
      bare ``Exception(repr)`` instead of ours (the error itself, with its ``options``, is kept);
    - the worker hands its freed heap back to the system afterwards (``heap.release``: a worker
      that wrote a COG otherwise stayed ~250 MB larger), unless ``keep_heap``: inference keeps
      freed memory for its next batch.
    """

    def wrap(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return fn(*args, **kwargs)
            except GeosegError as exc:
                error = exc
            finally:
                if not keep_heap:
                    heap.release()
            error.__cause__ = error.__context__ = None
            raise error

        return wrapper

    return wrap


predict_batch = task(keep_heap=True)(inference.predict_batch)
vectorize_window = task()(vectorizing.vectorize_window)
count_classes = task()(store.class_counts)
compare_block = task()(change.change_block)
write_quicklook = task()(quicklook.write_quicklook)
write_change_quicklook = task()(quicklook.write_change_quicklook)


@task()
def describe_scene(
    source: SceneSource, options: SceneOptions, model: ModelRef | Model
) -> SceneInfo:
    scene = open_scene(source, options)
    net = as_model(model)
    return SceneInfo(scene, net.input_bands(scene.band_names, scene.sensor), net.card)


@task(keep_heap=True)
def stitch_block(
    plan: ScenePlan, block: Block, batches: list[TileBatch], owned: list[int]
) -> tuple[int, int]:
    """Blend ``block`` from the batches touching it (in plan order) and store it.

    Returns the block's valid pixels and the nodata tiles of the batches in ``owned`` (positions
    in ``batches`` whose tiles this block counts, so each batch is counted once).
    """
    pairs = (
        (tile, probs)
        for batch in batches
        for tile, probs in zip(batch.tiles, batch.probs, strict=True)
    )
    blended = blend_block(
        block.window,
        pairs,
        len(plan.info.card.classes),
        plan.tiling.overlap,
        plan.edge_margin,
        plan.blend,
    )
    return plan.store.write_segmentation(block, blended), sum(batches[i].skipped for i in owned)


@task()
def assemble_layer(blocks_store: BlockStore, layer: str, blocks: list[Block], final: Path) -> Path:
    return blocks_store.assemble(layer, blocks, final)


@task()
def merge_polygon_row(
    frontier: Frontier | None,
    windows: list[WindowPieces],
    last: bool,
    grid: Grid,
    options: VectorizeOptions,
    info: PolygonInfo,
    part: Path,
) -> Frontier:
    """Merge one row of windows' open pieces (``vectorizing.merge_row``); write what closes."""
    frontier, closed = vectorizing.merge_row(frontier, windows, last)
    table = vectorizing.polygon_table(closed, grid, options, info, repair=False)
    if len(table):
        vectorizing.write_part(table, part)
    return frontier


@task()
def write_polygons(
    parts: list[Path],
    grid: Grid,
    options: VectorizeOptions,
    info: PolygonInfo,
    out: Path,
    metadata: dict[str, str],
) -> int:
    """Stream every part file, in order, into the GeoPackage ``out``."""
    finished = (pyogrio.read_dataframe(p) for p in parts if p.exists())
    empty = vectorizing.polygon_table([], grid, options, info)
    return write_geopackage(finished, out, grid.crs.to_wkt(), empty, metadata, options.layer)


@task()
def finish_outputs(
    manifest: Manifest,
    out_dir: Path,
    blocks_store: BlockStore | None,
    documents: dict[str, dict] | None = None,
) -> Path:
    """Write ``documents`` (file name → JSON, e.g. the STAC item), then ``manifest`` into
    ``out_dir`` (last: its presence means the outputs are complete), then remove the block store
    the outputs were assembled from."""
    for name, document in (documents or {}).items():
        write_json(out_dir / name, document)
    path = manifest.write(out_dir)
    if blocks_store is not None:
        blocks_store.remove()
    return path
