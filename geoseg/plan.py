"""The plan of a run: options validated once, and per scene the fixed set of batches and blocks.

Everything here is a small value computed before any pixel is read; the same plan run on a laptop
or a cluster, in any order, computes the same bytes.
"""

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from geoseg.errors import ConfigError, SceneError
from geoseg.grid import Grid
from geoseg.locations import FileStamp
from geoseg.models import ModelCard, ModelRef
from geoseg.options import ProcessConfig
from geoseg.scenes import Scene
from geoseg.store import BlockStore, segmentation_layers
from geoseg.tiling import Block, Tile, TileGrid
from geoseg.version import __version__

WORK_DIR = ".geoseg-work"


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
    inputs: tuple[FileStamp, ...]  # the scene's files as planned: stamped once per run
    fingerprint: str
    parameters: dict[str, Any]  # what identifies the outputs (with the inputs: the fingerprint)
    probability_dtype: str = "float32"

    @property
    def scene(self) -> Scene:
        return self.info.scene

    @property
    def store(self) -> BlockStore:
        return BlockStore(
            self.out_dir / WORK_DIR,
            self.scene.grid,
            segmentation_layers(self.info.card.classes, self.probability_dtype),
        )

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


def make_plan(info: SceneInfo, model: ModelRef, config: ProcessConfig, out_root: Path) -> ScenePlan:
    """The plan of one described scene, and the parameters that identify its outputs."""
    card = info.card
    grid = info.scene.grid
    if grid.width * grid.height > config.max_pixels:
        raise SceneError(
            f"{info.scene.name}: {grid.width:,} × {grid.height:,} pixels is more than "
            f"`max_pixels` ({config.max_pixels:,}); a file claiming such a grid is usually "
            "damaged — raise the limit if it is real",
            options=("max_pixels",),
        )
    tile, overlap = tile_for(
        config.tile_size or card.tile_size,
        card.overlap if config.overlap is None else config.overlap,
        grid,
        card.stride,
    )
    tiling = TileGrid(grid.height, grid.width, tile, overlap, config.block_size, align=card.stride)
    # Every option that shapes the outputs, with the model's defaults resolved.
    params = config.model_dump(mode="json", exclude=set(ProcessConfig.RUN_ONLY)) | {
        "model": model.id,
        "tile_size": tile,
        "overlap": overlap,
        "edge_margin": card.edge_margin,
        "stride": card.stride,
        "bands": list(info.bands),
        "geoseg": __version__,
        "grid": [grid.crs.to_wkt(), list(grid.transform)[:6], grid.width, grid.height],
        "reflectance": [(b.name, b.scale, b.offset) for b in info.scene.bands],
    }
    inputs = tuple(FileStamp.of(path) for path in info.scene.paths)
    fingerprint = _digest({"inputs": [asdict(f) for f in inputs], "params": params})
    return ScenePlan(
        info,
        model,
        tiling,
        config.batch_size,
        config.blend,
        out_root / info.scene.name,
        inputs,
        fingerprint,
        params,
        config.probability_dtype,
    )


def check_tiling(config: ProcessConfig, card: ModelCard) -> None:
    """Refuse, before anything starts, an overlap that does not fit the tile it will be used with
    (the model's, when ``tile_size`` is not given)."""
    tile = config.tile_size or card.tile_size
    overlap = card.overlap if config.overlap is None else config.overlap
    if overlap > tile // 2:
        whose = "" if config.tile_size else f", {card.name}'s"
        raise ConfigError(
            f"`overlap` ({overlap}) must be at most half of the tile size ({tile}{whose})",
            options=("overlap",),
        )


def tile_for(tile: int, overlap: int, grid: Grid, stride: int) -> tuple[int, int]:
    """Tile size and overlap for a scene: a tile larger than the scene is cut to the scene's
    larger side (rounded up to the model's stride), its overlap to at most half of it; a tile
    bigger than the scene only costs memory (its padding is computed too)."""
    side = -(-max(grid.height, grid.width) // stride) * stride
    if tile <= side:
        return tile, overlap
    return max(side, 16), min(overlap, max(side, 16) // 2)


def _digest(value: dict) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()
