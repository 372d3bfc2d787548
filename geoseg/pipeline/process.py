"""``process``: every scene of a directory to probability and class COGs and polygons, on Dask.

Find the scenes; then, per scene, one job: describe it on a worker (and check it fits the
model), plan its batches and blocks, skip it if its manifest already matches, stream its blocks,
assemble the COGs, count classes, vectorize the target class, and write the manifest last. The
engine runs the scenes' jobs side by side, so one scene's polygons are made while the next is
inferred; a scene that fails is reported with a one-line reason and the others complete.
"""

import datetime as dt
import time
from pathlib import Path
from typing import Unpack

from geoseg import locks
from geoseg.cluster import (
    Done,
    Handle,
    Job,
    RunArgs,
    Task,
    Wait,
    call,
    run_jobs,
    share,
    tasks,
    using,
)
from geoseg.cluster.connect import ProgressFn
from geoseg.cluster.preflight import preflight, readable
from geoseg.cluster.streaming import stream_blocks
from geoseg.errors import ConfigError, OutputError, SceneError
from geoseg.locations import output_folder
from geoseg.manifest import (
    MANIFEST,
    ClassCount,
    ClassRaster,
    Manifest,
    ModelRecord,
    SceneRecord,
    TileCounts,
    listed_outputs,
)
from geoseg.models import Model, ModelRef, model_card, resolve_model
from geoseg.pipeline.vectorize import vectorize_job
from geoseg.plan import ProcessConfig, SceneInfo, ScenePlan, check_tiling, make_plan
from geoseg.results import SceneResult
from geoseg.scenes import SceneSource, find_scenes
from geoseg.stac import ITEM_FILE, scene_item
from geoseg.store import BlockStore
from geoseg.vectorizing import PolygonInfo, VectorizeOptions

ModelArg = ModelRef | Handle  # what tasks get: a reference, or a model object copied to workers


def process(
    scenes: str | Path,
    out_dir: str | Path,
    config: ProcessConfig | None = None,
    *,
    model: Model | None = None,
    **run: Unpack[RunArgs],
) -> list[SceneResult]:
    """Segment every scene in ``scenes`` (a directory or one file) into ``out_dir/<scene>/``.

    Args:
        scenes: a scene directory (see ``scenes.find_scenes``) or one raster file.
        out_dir: where ``<scene>/probability.tif``, ``classes.tif`` and ``manifest.json`` go.
        config: tiling, model and output options.
        model: a model object to use instead of ``config.model`` (copied once to each worker).
        run: ``client``, ``cluster`` (``ClusterOptions``: a scheduler, or an embedded cluster's
            size) and ``progress``, called with (scene, tiles done, tiles planned) as tiles
            finish (``geoseg.cluster.RunArgs``).

    Returns:
        One ``SceneResult`` per scene found, sorted by name.
    """
    config = config or ProcessConfig()
    out_root = output_folder(out_dir)
    sources = find_scenes(scenes)
    if not sources:
        raise ConfigError(f"{scenes}: no scenes found (looked for .tif/.tiff files)")
    ref = (
        ModelRef(f"object:{model.card.name}")
        if model is not None
        else resolve_model(config.model, config.precision)
    )
    check_tiling(config, model.card if model is not None else model_card(ref))
    with using(run) as own:
        preflight(own, readable(p for s in sources for p in s.paths), [out_root])
        model_arg = share(own, model) if model is not None else ref
        jobs = [
            (s.name, scene_job(s, config, ref, model_arg, out_root, run.get("progress")))
            for s in sources
        ]
        outcomes = run_jobs(own, jobs, config.max_blocks_in_flight)
    return [
        o.value if isinstance(o, Done) else SceneResult(o.name, "failed", o.error) for o in outcomes
    ]


def describe_job(
    sources: list[SceneSource], config: ProcessConfig, model: ModelArg
) -> Job[list[SceneInfo]]:
    """Open scenes on workers: their ``SceneInfo``, or the first scene's error."""
    handles = []
    for source in sources:
        handles.append(
            (yield Task(tasks.describe_scene, (source, config.scene_options, model), "describe"))
        )
    return (yield Wait(tuple(handles)))


def scene_job(
    source: SceneSource,
    config: ProcessConfig,
    ref: ModelRef,
    model: ModelArg,
    out_root: Path,
    progress: ProgressFn | None,
) -> Job[SceneResult]:
    """One scene from its files to its outputs (the module docstring's steps)."""
    [info] = yield from describe_job([source], config, model)
    plan = make_plan(info, ref, config, out_root)
    return (yield from segment_job(plan, config, model, progress))


def segment_job(
    plan: ScenePlan, config: ProcessConfig, model: ModelArg, progress: ProgressFn | None
) -> Job[SceneResult]:
    """A planned scene to its COGs, polygons and manifest (or "up to date"), holding the scene
    folder's lock throughout (a second run into the same folder reports it in use)."""
    return (yield from locks.holding(plan.out_dir, _segment(plan, config, model, progress)))


def _segment(
    plan: ScenePlan, config: ProcessConfig, model: ModelArg, progress: ProgressFn | None
) -> Job[SceneResult]:
    name = plan.scene.name
    try:
        done = Manifest.read(plan.out_dir)
    except ConfigError:  # an older or foreign manifest: the outputs are written again
        done = None
    files = planned_outputs(plan, config)
    if (
        not config.overwrite
        and done is not None
        and done.is_complete(plan.out_dir, plan.fingerprint, files)
    ):
        return SceneResult(name, "skipped", "up to date", done.output_paths(plan.out_dir))
    _prepare_output(plan, keep_blocks=not config.overwrite, files=files)
    started = time.perf_counter()
    stats = yield from stream_blocks(plan, model, progress)
    if stats.valid_pixels == 0:
        raise SceneError(f"{name}: no valid pixels (the scene is all nodata)")
    outputs = yield from assemble_job(plan.store, plan.tiling.blocks(), plan.out_dir)
    counts = yield Task(
        tasks.count_classes, (outputs["classes"], len(plan.info.card.classes)), "counts"
    )
    n_polygons = None
    if config.polygons is not None:
        outputs["polygons"] = plan.out_dir / files["polygons"]
        n_polygons = yield from vectorize_job(
            outputs["classes"],
            outputs["polygons"],
            _polygon_options(plan, config),
            polygon_info(plan),
            outputs["probability"],
        )
    if config.quicklook:
        outputs["quicklook"] = yield from call(
            Task(
                tasks.write_quicklook,
                (plan.scene, outputs.get("polygons"), plan.out_dir / files["quicklook"]),
                "quicklook",
            )
        )
    [pixels] = yield Wait((counts,))
    seconds = time.perf_counter() - started
    item = {"stac_item": plan.out_dir / files["stac_item"]}
    manifest = scene_manifest(
        plan,
        config,
        stats.tiles_done,
        stats.tiles_skipped,
        stats.blocks_reused,
        pixels,
        outputs | item,
        seconds,
    )
    created = dt.datetime.fromisoformat(manifest.created)
    stac = scene_item(plan.scene, created, outputs, plan.info.card.classes)
    yield from call(
        Task(
            tasks.finish_outputs,
            (manifest, plan.out_dir, plan.store, {ITEM_FILE: stac.to_dict()}),
            "manifest",
        )
    )
    outputs |= item
    return SceneResult(
        name,
        "done",
        "",
        outputs,
        seconds,
        stats.tiles_done,
        stats.tiles_skipped,
        stats.blocks_reused,
        len(plan.tiling.blocks()),
        n_polygons,
    )


def assemble_job(store: BlockStore, blocks: list, out_dir: Path) -> Job[dict[str, Path]]:
    """Every layer of ``store`` assembled into ``out_dir/<layer>.tif``, side by side."""
    handles = []
    for layer in store.layers:
        handles.append(
            (
                yield Task(
                    tasks.assemble_layer,
                    (store, layer.name, blocks, out_dir / f"{layer.name}.tif"),
                    "assemble",
                )
            )
        )
    paths = yield Wait(tuple(handles))
    outputs = {layer.name: path for layer, path in zip(store.layers, paths, strict=True)}
    # Each layer with a QGIS style got it beside its raster (``BlockStore.assemble``).
    return outputs | {
        f"{layer.name}_style": path.with_suffix(".qml")
        for layer, path in zip(store.layers, paths, strict=True)
        if layer.style() is not None
    }


# Every file a scene run may write beside its manifest (``planned_outputs`` says which a given
# run writes): the only names a run ever removes as an earlier run's leftovers.
SCENE_FILES = {
    "probability": "probability.tif",
    "classes": "classes.tif",
    "probability_style": "probability.qml",
    "classes_style": "classes.qml",
    "polygons": "polygons.gpkg",
    "quicklook": "quicklook.png",
    "stac_item": ITEM_FILE,
}


def planned_outputs(plan: ScenePlan, config: ProcessConfig) -> dict[str, str]:
    """The outputs (manifest key → file name) a run of ``config`` writes for ``plan``. Earlier
    outputs are up to date only when their manifest lists exactly these: a rerun with
    ``quicklook`` (or without polygons) writes (or removes) files, not only the fingerprint's."""
    wanted = {layer.name for layer in plan.store.layers} | {"stac_item"}
    wanted |= {f"{layer.name}_style" for layer in plan.store.layers if layer.style() is not None}
    if config.polygons is not None:
        wanted.add("polygons")
    if config.quicklook:
        wanted.add("quicklook")
    return {key: SCENE_FILES[key] for key in SCENE_FILES if key in wanted}


def remove_earlier_outputs(out_dir: Path, files: dict[str, str]) -> list[str]:
    """Remove the files an earlier run wrote into ``out_dir`` that this run (``files``) does not
    write, so that one folder never mixes two runs' outputs (another model's quicklook.png, the
    polygons of a run with them). Only a file both the earlier manifest lists and geoseg names
    (``SCENE_FILES``) is removed: a user's own files in the folder are never touched."""
    stale = (listed_outputs(out_dir) & set(SCENE_FILES.values())) - set(files.values())
    for name in sorted(stale):
        (out_dir / name).unlink(missing_ok=True)
    return sorted(stale)


def _prepare_output(plan: ScenePlan, keep_blocks: bool, files: dict[str, str]) -> None:
    """Make the scene's output folder, remove an earlier run's outputs this run does not write,
    drop the stale manifest (last: it names what to remove), keep only still-valid blocks."""
    try:
        plan.out_dir.mkdir(parents=True, exist_ok=True)
        remove_earlier_outputs(plan.out_dir, files)
        (plan.out_dir / MANIFEST).unlink(missing_ok=True)
        plan.store.reset(plan.fingerprint, len(plan.tiling.blocks()), keep_blocks)
    except OSError as exc:
        raise OutputError(
            f"{plan.out_dir}: output directory not writable ({exc.strerror or exc})"
        ) from exc


def _polygon_options(plan: ScenePlan, config: ProcessConfig) -> VectorizeOptions:
    card = plan.info.card
    assert config.polygons is not None
    return VectorizeOptions(
        card.classes.index(card.target_class), card.target_class, config.polygons
    )


def polygon_info(plan: ScenePlan) -> PolygonInfo:
    """The attributes each polygon of a scene carries: scene, date and model."""
    scene = plan.scene
    return PolygonInfo.for_scene(scene.name, scene.date_text, plan.model.id)


def scene_manifest(
    plan: ScenePlan,
    config: ProcessConfig,
    predicted: int,
    skipped: int,
    reused: int,
    class_pixels: list[int],
    outputs: dict[str, Path],
    seconds: float,
) -> Manifest:
    """The manifest of a processed scene."""
    scene, card = plan.scene, plan.info.card
    res_x, res_y = scene.grid.resolution
    return Manifest.new(
        kind="scene",
        name=scene.name,
        fingerprint=plan.fingerprint,
        inputs=plan.inputs,
        scenes=(SceneRecord.of(scene, plan.info.bands),),
        model=ModelRecord(id=plan.model.id, card=card.model_dump(mode="json")),
        parameters=plan.parameters
        | {
            "batch_size": config.batch_size,
            "model_spec": config.model,
            "quicklook": config.quicklook,
        },
        outputs={layer: path.name for layer, path in outputs.items()},
        class_rasters={
            "classes": ClassRaster(
                classes=card.classes,
                probability=outputs["probability"].name,
                probability_bands={c: i + 1 for i, c in enumerate(card.classes)},
            )
        },
        polygon_attributes=polygon_info(plan).attributes,
        tiles=TileCounts(
            total=plan.tiling.n_tiles,
            predicted=predicted,
            skipped_nodata=skipped,
            blocks_total=len(plan.tiling.blocks()),
            blocks_reused=reused,
        ),
        classes={
            c: ClassCount(pixels=n, area_crs_units2=n * res_x * res_y)
            for c, n in zip(card.classes, class_pixels, strict=True)
        },
        timings={"seconds": round(seconds, 3)},
    )
