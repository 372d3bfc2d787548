"""The task functions Dask runs: each composes stages on small arguments and does its own I/O.

- ``describe_scene``: open a scene on a worker (where the files are) and check it fits the model;
- ``inference.predict_batch``: tiles → probabilities;
- ``stitch_block``: blend the tiles touching one block and write the block to the store;
- ``assemble_layer``: stream a layer's blocks into its final COG.
"""

from pathlib import Path

from geoseg.inference import TileBatch, as_model
from geoseg.models import Model, ModelRef
from geoseg.plan import SceneInfo, ScenePlan
from geoseg.scenes import SceneOptions, SceneSource, open_scene
from geoseg.stitching import blend_block
from geoseg.tiling import Block


def describe_scene(source: SceneSource, options: SceneOptions, model: ModelRef | Model
                   ) -> SceneInfo:
    scene = open_scene(source, options)
    net = as_model(model)
    return SceneInfo(scene, net.input_bands(scene.band_names), net.card)


def stitch_block(plan: ScenePlan, block: Block, batches: list[TileBatch]) -> None:
    """Blend ``block`` from the batches touching it (in plan order) and store it."""
    pairs = ((tile, probs) for batch in batches for tile, probs in zip(batch.tiles, batch.probs,
                                                                       strict=True))
    blended = blend_block(block.window, pairs, len(plan.info.card.classes), plan.tiling.overlap,
                          plan.edge_margin, plan.blend)
    plan.store.write(block, blended)


def assemble_layer(plan: ScenePlan, layer: str, final: Path, threads: int = 1) -> Path:
    return plan.store.assemble(layer, plan.tiling.blocks(), final, threads)
