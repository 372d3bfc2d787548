"""geoseg: seamless tiled segmentation of huge satellite scenes into forest maps, on Dask.

The Python API is the product; the ``geoseg`` command is a thin layer over it::

    from geoseg import ProcessConfig, process
    results = process("samples/", "out/", ProcessConfig(tile_size=512, overlap=128))
"""

from geoseg.errors import ConfigError, GeosegError, ModelError, OutputError, SceneError
from geoseg.options import (
    ChangeOptions,
    ClusterOptions,
    PolygonOptions,
    ProcessConfig,
    SceneOptions,
)
from geoseg.pipeline import change, change_pairs, evaluate, process, run_workflow, vectorize
from geoseg.results import ChangeResult, EvaluationResult, PolygonsResult, SceneResult
from geoseg.scenes import Scene, find_scenes, open_scene
from geoseg.seams import seam_excess, seam_ratio
from geoseg.tiling import TileGrid
from geoseg.version import __version__

__all__ = [
    "ChangeOptions",
    "ChangeResult",
    "ClusterOptions",
    "ConfigError",
    "EvaluationResult",
    "GeosegError",
    "ModelError",
    "OutputError",
    "PolygonOptions",
    "PolygonsResult",
    "ProcessConfig",
    "Scene",
    "SceneError",
    "SceneOptions",
    "SceneResult",
    "TileGrid",
    "__version__",
    "change",
    "change_pairs",
    "evaluate",
    "find_scenes",
    "open_scene",
    "process",
    "run_workflow",
    "seam_excess",
    "seam_ratio",
    "vectorize",
]
