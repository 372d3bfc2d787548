"""Stream scene plans through a Dask cluster with bounded memory.

Dask would happily run every ``predict`` first and hold every tile's probabilities. Instead, blocks
are submitted row-major, scene after scene, and at most ``max_blocks`` of them are in flight. A
block's task depends on the predict tasks of the batches touching it; a batch's future is dropped
(so Dask frees its result) as soon as the last block needing it is written. Peak memory is then
about (blocks in flight + one row of tile batches along a block border) × their size: it depends on
tile, block and batch sizes and the scene's width, never its height.

A scene whose task fails is cancelled and reported; the other scenes go on.
"""

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import uuid4

from distributed import Client, Future, as_completed

from geoseg.errors import GeosegError, SceneError
from geoseg.inference import TileBatch
from geoseg.plan import ScenePlan
from geoseg.tasks import assemble_layer, predict_batch, stitch_block
from geoseg.tiling import Block

ProgressFn = Callable[[str, int, int], None]  # scene name, tiles done, tiles total


@dataclass
class SceneOutcome:
    """How one scene's stream ended: written outputs, or the one-line reason it failed."""

    plan: ScenePlan
    outputs: dict[str, Path] = field(default_factory=dict)
    tiles_planned: int = 0
    tiles_done: int = 0
    tiles_skipped: int = 0
    blocks_reused: int = 0
    valid_pixels: int = 0
    error: str | None = None
    seconds: float = 0.0


@dataclass
class _Run:
    """Book-keeping for one scene in the stream."""

    plan: ScenePlan
    model: Any
    outcome: SceneOutcome
    todo: list[Block]
    needs: dict[tuple[int, int], list[int]]
    refcount: Counter
    tiles: list  # the plan's batches of tiles, computed once
    batches: dict[int, Future] = field(default_factory=dict)
    futures: set[Future] = field(default_factory=set)
    blocks_left: int = 0
    layers_left: int = 2  # probability and classes
    started: float = field(default_factory=time.perf_counter)


def error_line(exc: BaseException) -> str:
    """A one-line message for an exception raised in a task."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text if isinstance(exc, GeosegError) else f"{type(exc).__name__}: {text}"


def stream_plans(client: Client, plans: list[tuple[ScenePlan, Any]], *, max_blocks: int,
                 gpu: bool = False, progress: ProgressFn | None = None) -> list[SceneOutcome]:
    """Run ``(plan, model)`` pairs (``model`` a ``ModelRef`` or a scattered model future) to the
    end and return one outcome per plan, in order."""
    runs = [_start(plan, model) for plan, model in plans]
    pending = _iter_blocks(runs)
    ac = as_completed()
    roles: dict[Future, tuple[str, _Run, Any]] = {}
    in_flight = 0

    def submit(fn: Callable, run: _Run, role: str, payload: Any, *args: Any, **kw: Any) -> Future:
        future = client.submit(fn, *args, key=f"{role}-{run.plan.scene.name}-{uuid4().hex[:12]}",
                               pure=False, **kw)
        roles[future] = (role, run, payload)
        run.futures.add(future)
        ac.add(future)
        return future

    def feed() -> None:
        nonlocal in_flight
        while in_flight < max_blocks:
            item = next(pending, None)
            if item is None:
                return
            run, block = item
            for b in run.needs[block.row, block.col]:
                if b not in run.batches:
                    run.batches[b] = submit(
                        predict_batch, run, "predict", b, run.plan.scene, run.tiles[b],
                        run.model, run.plan.tiling.tile_size,
                        resources={"GPU": 1} if gpu else None)
            batches = [run.batches[b] for b in run.needs[block.row, block.col]]
            submit(stitch_block, run, "stitch", block, run.plan, block, batches)
            in_flight += 1

    for run in runs:
        if not run.todo:
            _blocks_done(run, client, submit)
    feed()
    for future in ac:
        role, run, payload = roles.pop(future)
        run.futures.discard(future)
        if run.outcome.error is not None:
            in_flight -= role == "stitch"
            continue
        if future.status != "finished":
            _fail(run, client, future.exception())
            in_flight -= role == "stitch"
        elif role == "predict":
            batch: TileBatch = future.result()
            run.outcome.tiles_done += len(batch.tiles) + batch.skipped
            run.outcome.tiles_skipped += batch.skipped
            if progress:
                progress(run.plan.scene.name, run.outcome.tiles_done, run.outcome.tiles_planned)
        elif role == "stitch":
            in_flight -= 1
            run.outcome.valid_pixels += future.result()
            _release(run, payload)
            if run.blocks_left == 0:
                _blocks_done(run, client, submit)
        else:
            run.outcome.outputs[role.removeprefix("assemble-")] = future.result()
            run.layers_left -= 1
            if run.layers_left == 0:
                run.outcome.seconds = time.perf_counter() - run.started
        feed()
    return [run.outcome for run in runs]


def _start(plan: ScenePlan, model: Any) -> _Run:
    store = plan.store
    stored = {b.key: store.has(b) for b in plan.tiling.blocks()}
    todo = [b for b in plan.tiling.blocks() if not stored[b.key]]
    reused = [b for b in plan.tiling.blocks() if stored[b.key]]
    needs = {(b.row, b.col): plan.batches_for(b) for b in todo}
    refcount = Counter(i for ids in needs.values() for i in ids)
    batches = plan.batches
    outcome = SceneOutcome(plan, blocks_reused=len(reused),
                           tiles_planned=sum(len(batches[b]) for b in refcount),
                           valid_pixels=sum(store.valid_pixels(b) for b in reused))
    return _Run(plan, model, outcome, todo, needs, refcount, batches, blocks_left=len(todo))


def _iter_blocks(runs: list[_Run]) -> Iterator[tuple[_Run, Block]]:
    for run in runs:
        for block in run.todo:
            if run.outcome.error is None:
                yield run, block


def _release(run: _Run, block: Block) -> None:
    """A block is written: drop batch futures no other block needs, so Dask frees them."""
    run.blocks_left -= 1
    for b in run.needs.pop((block.row, block.col)):
        run.refcount[b] -= 1
        if run.refcount[b] == 0:
            del run.batches[b]


def _blocks_done(run: _Run, client: Client, submit: Callable) -> None:
    """Every block is stored: assemble the outputs, unless there is nothing to show."""
    if run.outcome.valid_pixels == 0:
        _fail(run, client, SceneError(f"{run.plan.scene.name}: no valid pixels (the scene is "
                                      "all nodata)"))
        return
    for layer in run.plan.store.layers:
        final = run.plan.out_dir / f"{layer.name}.tif"
        submit(assemble_layer, run, f"assemble-{layer.name}", None, run.plan, layer.name, final)


def _fail(run: _Run, client: Client, exc: BaseException | None) -> None:
    run.outcome.error = error_line(exc) if exc is not None else "task cancelled"
    client.cancel(list(run.futures))
    run.batches.clear()
    run.outcome.seconds = time.perf_counter() - run.started
