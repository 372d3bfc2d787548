"""``change`` and ``change_pairs``: forest loss between dates, reusing ``process``'s stages.

Per date pair, one job: describe both scenes, check they can be compared, put the after scene on
the before scene's grid, segment both dates (side by side, as ``process`` would), compare them
block by block, assemble the loss COGs, vectorize the loss, and write summary and manifest.
"""

import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Unpack

from geoseg import locks
from geoseg.change import (
    CHANGE_CLASSES,
    CHANGE_LAYERS,
    LOSS,
    LOSS_LAYER,
    ChangeOptions,
    check_dates,
    consecutive_pairs,
    normalised_to,
    summary,
    total,
)
from geoseg.cluster import Done, Job, Slot, Spawn, Task, Wait, call, run_jobs, tasks, using
from geoseg.cluster.connect import ProgressFn, RunArgs
from geoseg.cluster.preflight import preflight, readable
from geoseg.errors import ConfigError, GeosegNote, ModelError, SceneError
from geoseg.locations import output_folder
from geoseg.manifest import ClassRaster, Manifest, ModelRecord, SceneRecord, write_json
from geoseg.models import ModelRef, model_card, resolve_model
from geoseg.pipeline.process import assemble_job, describe_job, segment_job
from geoseg.pipeline.vectorize import vectorize_job
from geoseg.plan import WORK_DIR, ProcessConfig, SceneInfo, ScenePlan, check_tiling, make_plan
from geoseg.results import ChangeResult, ChangeSummary
from geoseg.scenes import Scene, SceneSource, aligned, find_scenes, inspect_scenes
from geoseg.store import BlockStore
from geoseg.tiling import blocks
from geoseg.vectorizing import PolygonInfo, VectorizeOptions


def change(
    before: str | Path,
    after: str | Path,
    out_dir: str | Path,
    config: ProcessConfig | None = None,
    options: ChangeOptions | None = None,
    **run: Unpack[RunArgs],
) -> ChangeResult:
    """Forest loss and gain between two acquisitions of one place, into ``out_dir``.

    Writes ``loss.tif`` (0 unchanged, 1 loss, 2 gain, 255 unknown), ``probability_drop.tif``,
    ``loss.gpkg`` (one polygon per loss patch), ``summary.json``, ``quicklook.png``, and each
    date's segmentation under ``out_dir/dates/``. A pair that cannot be compared gives a
    ``ChangeResult`` with status "failed" and the one-line reason.
    """
    sources = (_one_scene(before), _one_scene(after))
    [result] = _run_pairs([sources], [output_folder(out_dir)], config, options, run)
    return result


def change_pairs(
    scenes: str | Path | list[str] | list[Path],
    out_dir: str | Path,
    config: ProcessConfig | None = None,
    options: ChangeOptions | None = None,
    **run: Unpack[RunArgs],
) -> list[ChangeResult]:
    """``change`` for every consecutive date pair per place among the scenes of ``scenes`` (a
    directory, or a list of directories and files), each into ``out_dir/<before>__<after>/``.
    One ``ChangeResult`` per pair; one bad pair does not stop the others."""
    config = config or ProcessConfig()
    out_root = output_folder(out_dir)
    paths = [scenes] if isinstance(scenes, str | Path) else scenes
    inspected = [found for path in paths for found in inspect_scenes(path, config.scene_options)]
    opened = [(source, scene) for source, scene in inspected if isinstance(scene, Scene)]
    by_name = {scene.name: source for source, scene in opened}
    paired = consecutive_pairs([scene for _, scene in opened])
    pairs = [(by_name[a.name], by_name[b.name]) for a, b in paired]
    left_out = _left_out(inspected, {s.name for pair in paired for s in pair})
    if not pairs:
        raise ConfigError(
            f"{scenes}: no two dated scenes of one place to compare ({'; '.join(left_out)})"
        )
    for line in left_out:
        warnings.warn(line, GeosegNote, stacklevel=2)
    outs = [out_root / f"{a.name}__{b.name}" for a, b in pairs]
    return _run_pairs(pairs, outs, config, options, run)


def _left_out(
    inspected: list[tuple[SceneSource, Scene | SceneError]], paired: set[str]
) -> list[str]:
    """One line per scene in no pair, saying why."""
    lines = []
    for source, scene in inspected:
        if isinstance(scene, SceneError):
            why = str(scene)
        elif scene.date is None:
            why = "no acquisition date in its name or tags (e.g. name_2021-05-27.tif)"
        elif scene.name not in paired:
            why = "no other date of its place"
        else:
            continue
        lines.append(f"{source.name}: left out of the comparison ({why})")
    return lines


def _run_pairs(
    pairs: list[tuple[SceneSource, SceneSource]],
    outs: list[Path],
    config: ProcessConfig | None,
    options: ChangeOptions | None,
    run: RunArgs,
) -> list[ChangeResult]:
    config = (config or ProcessConfig()).replace(polygons=None, quicklook=False)
    options = options or ChangeOptions()
    ref = resolve_model(config.model, config.precision)
    check_tiling(config, model_card(ref))
    with using(run) as own:
        preflight(own, readable(p for pair in pairs for s in pair for p in s.paths), outs)
        outcomes = run_jobs(
            own,
            [
                (out.name, change_job(pair, out, config, options, ref, run.get("progress")))
                for pair, out in zip(pairs, outs, strict=True)
            ],
            config.max_blocks_in_flight,
        )
    return [
        o.value if isinstance(o, Done) else ChangeResult(o.name, "failed", o.error)
        for o in outcomes
    ]


def _one_scene(path: str | Path) -> SceneSource:
    found = find_scenes(path)
    if len(found) != 1:
        raise ConfigError(f"{path}: holds {len(found)} scenes; give one scene per date")
    return found[0]


def change_job(
    sources: tuple[SceneSource, SceneSource],
    out: Path,
    config: ProcessConfig,
    options: ChangeOptions,
    ref: ModelRef,
    progress: ProgressFn | None,
) -> Job[ChangeResult]:
    """One date pair from its scenes to its loss outputs (the module docstring's steps), holding
    the pair folder's lock (its dates' folders have their own)."""
    return (
        yield from locks.holding(out, _compare_pair(sources, out, config, options, ref, progress))
    )


def _compare_pair(
    sources: tuple[SceneSource, SceneSource],
    out: Path,
    config: ProcessConfig,
    options: ChangeOptions,
    ref: ModelRef,
    progress: ProgressFn | None,
) -> Job[ChangeResult]:
    started = time.perf_counter()
    first, second = yield from describe_job(list(sources), config, ref)
    before, after = comparable(first, second, options)
    plans = [make_plan(info, ref, config, out / "dates") for info in (before, after)]
    dates = []
    for plan in plans:
        dates.append((yield Spawn(segment_job(plan, config, ref, progress), plan.scene.name)))
    segmented = yield Wait(tuple(dates))
    grid = before.scene.grid
    store = BlockStore(out / WORK_DIR, grid, CHANGE_LAYERS)
    layout = blocks(grid.height, grid.width, config.block_size)
    store.reset("change", len(layout), keep=False)
    forest_band = before.card.classes.index("forest") + 1
    pair = [
        (info.scene, result.outputs["probability"])
        for info, result in zip((before, after), segmented, strict=True)
    ]
    compared = []
    for block in layout:
        yield Slot(grid.width * grid.height)
        compared.append(
            (
                yield Task(
                    tasks.compare_block,
                    (pair[0], pair[1], forest_band, block, options.rule, store),
                    "compare",
                    slot=True,
                )
            )
        )
    counts = yield Wait(tuple(compared))
    outputs = yield from assemble_job(store, layout, out)
    outputs["polygons"] = out / "loss.gpkg"
    info = loss_polygon_info(before, after)
    yield from vectorize_job(
        outputs["loss"],
        outputs["polygons"],
        VectorizeOptions(
            LOSS, "forest_loss", options.polygons, probability_band=1, layer=LOSS_LAYER
        ),
        info,
        outputs["probability_drop"],
    )
    numbers = summary(total(counts), before.scene, after.scene, options.rule)
    outputs["summary"] = write_json(out / "summary.json", numbers.model_dump(mode="json"))
    if options.quicklook:
        outputs["quicklook"] = yield from call(
            Task(
                tasks.write_change_quicklook,
                (before.scene, after.scene, outputs["loss"], out / "quicklook.png"),
                "quicklook",
            )
        )
    manifest = change_manifest(out.name, plans, config, options, numbers, outputs, info)
    yield from call(Task(tasks.finish_outputs, (manifest, out, store), "manifest"))
    return ChangeResult(out.name, "done", "", outputs, time.perf_counter() - started, numbers)


def comparable(
    first: SceneInfo, second: SceneInfo, options: ChangeOptions
) -> tuple[SceneInfo, SceneInfo]:
    """The pair as compared: dates in order, the same bands, the after scene on the before
    scene's grid and, with ``options.normalise``, the before scene's radiometry matched to it."""
    check_dates(first.scene, second.scene, options.allow_reversed)
    if first.bands != second.bands:
        raise SceneError(
            f"{first.scene.name} and {second.scene.name} have different band sets "
            f"for the model ({', '.join(first.bands)} vs {', '.join(second.bands)})"
        )
    if "forest" not in first.card.classes:
        raise ModelError(f"model {first.card.name} has no 'forest' class to compare")
    moved = aligned(second.scene, first.scene.grid)
    if moved is not second.scene:
        moved = replace(moved, name=f"{second.scene.name}_on_{first.scene.name}")
    if options.normalise:
        first = replace(first, scene=normalised_to(first.scene, moved, first.bands))
    return first, replace(second, scene=moved)


def loss_polygon_info(before: SceneInfo, after: SceneInfo) -> PolygonInfo:
    """The attributes each loss polygon carries: both scenes and dates, and the model."""
    return PolygonInfo(
        (
            ("scene_before", before.scene.name),
            ("scene_after", after.scene.name),
            ("date_before", before.scene.date_text),
            ("date_after", after.scene.date_text),
            ("model", before.card.name),
        ),
        mean_column="mean_probability_drop",
    )


def change_manifest(
    name: str,
    dates: list[ScenePlan],
    config: ProcessConfig,
    options: ChangeOptions,
    numbers: ChangeSummary,
    outputs: dict[str, Path],
    info: PolygonInfo,
) -> Manifest:
    """The manifest of a compared date pair (``dates``: the plans of its two segmentations)."""
    return Manifest.new(
        kind="change",
        name=name,
        inputs=tuple(f for plan in dates for f in plan.inputs),
        scenes=tuple(SceneRecord.of(plan.scene, plan.info.bands) for plan in dates),
        model=ModelRecord(id=config.model, card=dates[0].info.card.model_dump(mode="json")),
        parameters={
            "rule": options.rule.model_dump(),
            "polygons": options.polygons.model_dump(),
            "normalise": options.normalise,
            "block_size": config.block_size,
        },
        summary=numbers.model_dump(mode="json"),
        outputs={layer: path.name for layer, path in outputs.items()},
        class_rasters={
            "loss": ClassRaster(
                classes=CHANGE_CLASSES,
                probability=outputs["probability_drop"].name,
                probability_bands={CHANGE_CLASSES[LOSS]: 1},
                mean_column=info.mean_column,
            )
        },
        polygon_attributes=info.attributes,
    )
