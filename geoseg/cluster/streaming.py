"""Stream one scene's blocks through the cluster with bounded memory.

Dask would happily run every ``predict`` first and hold every tile's probabilities. Instead the
blocks are taken row-major; a block waits for a free engine slot (``Slot``) before the batches it
needs are submitted, and its ``stitch`` task holds that slot until the block is written. A batch's
handle is dropped as soon as the last block needing it has been submitted (Dask keeps the result
exactly as long as those stitch tasks need it). Peak memory is then about (blocks in flight + one
row of tile batches along a block border) × their size: it depends on tile, block and batch sizes
and the scene's width, never its height.
"""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from geoseg.cluster import tasks
from geoseg.cluster.connect import ProgressFn
from geoseg.cluster.engine import Handle, Job, Slot, Task, Wait
from geoseg.models import ModelRef
from geoseg.plan import ScenePlan
from geoseg.tiling import Block


@dataclass
class StreamStats:
    """What streaming one scene did: tiles planned and run, nodata tiles, reused blocks."""

    tiles_planned: int = 0
    tiles_done: int = 0
    tiles_skipped: int = 0
    blocks_reused: int = 0
    valid_pixels: int = 0


def stream_blocks(
    plan: ScenePlan, model: ModelRef | Handle, progress: ProgressFn | None = None
) -> Job[StreamStats]:
    """Predict and stitch every block of ``plan`` not already in its store (see the module
    docstring); blocks an interrupted run stored are reused."""
    store, batches = plan.store, plan.batches
    reused: list[Block] = []
    todo: list[Block] = []
    for block in plan.tiling.blocks():
        (reused if store.has(block) else todo).append(block)
    needs = {b.key: plan.batches_for(b) for b in todo}
    left = Counter(i for ids in needs.values() for i in ids)
    stats = StreamStats(
        tiles_planned=sum(len(batches[i]) for i in left),
        blocks_reused=len(reused),
        valid_pixels=sum(store.valid_pixels(b) for b in reused),
    )
    if progress is not None:  # every scene is listed with its size as soon as it is planned
        progress(plan.scene.name, 0, stats.tiles_planned)

    def predicted(n_tiles: int) -> Callable[[], None]:
        def done() -> None:
            stats.tiles_done += n_tiles
            if progress is not None:
                progress(plan.scene.name, stats.tiles_done, stats.tiles_planned)

        return done

    running: dict[int, Handle] = {}
    stitched: list[Handle] = []
    size = plan.scene.grid.width * plan.scene.grid.height
    for block in todo:
        yield Slot(size)
        owned = [pos for pos, i in enumerate(needs[block.key]) if i not in running]
        for i in needs[block.key]:
            if i not in running:
                running[i] = yield Task(
                    tasks.predict_batch,
                    (plan.scene, batches[i], model, plan.tiling.tile_size),
                    "predict",
                    gpu=True,
                    done=predicted(len(batches[i])),
                )
        stitched.append(
            (
                yield Task(
                    tasks.stitch_block,
                    (plan, block, [running[i] for i in needs[block.key]], owned),
                    "stitch",
                    slot=True,
                )
            )
        )
        for i in needs[block.key]:
            left[i] -= 1
            if left[i] == 0:
                del running[i]
    for valid, skipped in (yield Wait(tuple(stitched))):
        stats.valid_pixels += valid
        stats.tiles_skipped += skipped
    # Every planned batch has run once every block is written, whether or not the engine has
    # called each predict task's ``done`` yet.
    stats.tiles_done = stats.tiles_planned
    return stats
