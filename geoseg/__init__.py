"""geoseg: seamless tiled segmentation of huge satellite scenes into forest maps, on Dask.

The Python API is the product; the ``geoseg`` command is a thin layer over it::

    from geoseg import ProcessConfig, process
    results = process("samples/", "out/", ProcessConfig(tile_size=512, overlap=128))
"""

__version__ = "0.1.0"

from geoseg.errors import ConfigError, GeosegError, ModelError, OutputError, SceneError
from geoseg.pipeline import SceneResult, process
from geoseg.plan import ProcessConfig
from geoseg.scenes import Scene, SceneOptions, find_scenes, open_scene
from geoseg.seams import seam_excess, seam_ratio
from geoseg.tiling import TileGrid

__all__ = [
    "ConfigError", "GeosegError", "ModelError", "OutputError", "ProcessConfig", "Scene",
    "SceneError", "SceneOptions", "SceneResult", "TileGrid", "__version__", "find_scenes",
    "open_scene", "process", "seam_excess", "seam_ratio",
]
