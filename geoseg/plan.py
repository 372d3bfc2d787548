"""The plan of a run: options validated once, and per scene the fixed set of batches and blocks.

Everything here is a small value computed before any pixel is read; the same plan run on a laptop
or a cluster, in any order, computes the same bytes.
"""

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from geoseg import __version__
from geoseg.errors import ConfigError
from geoseg.models import DEFAULT_MODEL, PRECISIONS, ModelCard, ModelRef
from geoseg.scenes import Scene, SceneOptions
from geoseg.stitching import BLEND_MODES
from geoseg.store import PROBABILITY_DTYPES, BlockStore, segmentation_layers
from geoseg.tiling import Block, Tile, TileGrid
from geoseg.vectorizing import PolygonOptions

WORK_DIR = ".geoseg-work"


@dataclass(frozen=True)
class ProcessConfig:
    """Options of ``process``; ``None`` tile size / overlap take the model card's defaults."""

    model: str = DEFAULT_MODEL
    tile_size: int | None = None
    overlap: int | None = None
    batch_size: int = 8
    block_size: int = 1024
    blend: str = "cosine"
    scene_options: SceneOptions = field(default_factory=SceneOptions)
    overwrite: bool = False
    max_blocks_in_flight: int | None = None  # None: two per worker thread
    polygons: PolygonOptions | None = field(default_factory=PolygonOptions)  # None: no vectors
    quicklook: bool = False  # also write quicklook.png (scene colours, polygons outlined)
    precision: str = "auto"  # torch models: "auto", "fp32" or "bf16" (see models.base.PRECISIONS)
    probability_dtype: str = "float32"  # or "uint8": a quarter of the bytes (see geoseg.store)

    def __post_init__(self) -> None:
        if self.blend not in BLEND_MODES:
            raise ConfigError(f"blend {self.blend!r} is not one of {BLEND_MODES}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision {self.precision!r} is not one of {PRECISIONS}")
        if self.probability_dtype not in PROBABILITY_DTYPES:
            raise ConfigError(f"probability dtype {self.probability_dtype!r} is not one of "
                              f"{PROBABILITY_DTYPES}")
        if self.batch_size < 1:
            raise ConfigError(f"batch size {self.batch_size} must be at least 1")
        if self.max_blocks_in_flight is not None and self.max_blocks_in_flight < 1:
            raise ConfigError("max_blocks_in_flight must be at least 1")


@dataclass(frozen=True)
class SceneInfo:
    """What a worker found when it opened a scene for a model."""

    scene: Scene
    bands: tuple[str, ...]
    card: ModelCard


@dataclass(frozen=True)
class ScenePlan:
    """One scene's work: tiles grouped in batches, output blocks, and where blocks go."""

    info: SceneInfo
    model: ModelRef
    tiling: TileGrid
    batch_size: int
    blend: str
    out_dir: Path
    fingerprint: str
    probability_dtype: str = "float32"

    @property
    def scene(self) -> Scene:
        return self.info.scene

    @property
    def store(self) -> BlockStore:
        return BlockStore(self.out_dir / WORK_DIR, self.scene.grid,
                          segmentation_layers(self.info.card.classes, self.probability_dtype))

    @property
    def batches(self) -> list[tuple[Tile, ...]]:
        return self.tiling.batches(self.batch_size)

    def batches_for(self, block: Block) -> list[int]:
        """Indices of the batches whose tiles touch ``block``, ascending."""
        touching = self.tiling.tiles_touching(block.window)
        return sorted({self.tiling.batch_of(t, self.batch_size) for t in touching})

    @property
    def edge_margin(self) -> int:
        return self.info.card.edge_margin


def make_plan(info: SceneInfo, model: ModelRef, config: ProcessConfig, out_root: Path,
              input_fingerprint: dict) -> ScenePlan:
    card = info.card
    tile = config.tile_size or card.tile_size
    overlap = card.overlap if config.overlap is None else config.overlap
    grid = info.scene.grid
    tiling = TileGrid(grid.height, grid.width, tile, overlap, config.block_size, align=card.stride)
    params = {"model": model.id, "tile_size": tile, "overlap": overlap,
              "polygons": asdict(config.polygons) if config.polygons else None,
              "block_size": config.block_size, "blend": config.blend,
              "probability_dtype": config.probability_dtype,
              "edge_margin": card.edge_margin, "stride": card.stride, "bands": list(info.bands),
              "scene_options": asdict(config.scene_options), "geoseg": __version__,
              "grid": [grid.crs.to_wkt(), list(grid.transform)[:6], grid.width, grid.height],
              "reflectance": [(b.name, b.scale, b.offset) for b in info.scene.bands]}
    fingerprint = _digest({"inputs": input_fingerprint, "params": params})
    return ScenePlan(info, model, tiling, config.batch_size, config.blend,
                     out_root / info.scene.name, fingerprint, config.probability_dtype)


def input_fingerprint(paths: tuple[str, ...]) -> dict:
    """What identifies input files cheaply: resolved path, size and modification time."""
    files = []
    for path in paths:
        stat = os.stat(path)
        files.append({"path": str(Path(path).resolve()), "size": stat.st_size,
                      "mtime_ns": stat.st_mtime_ns})
    return {"files": files}


def _digest(value: dict) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()
