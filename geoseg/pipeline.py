"""The API: ``process`` (scenes → COGs and polygons) and ``vectorize`` (class raster → polygons).

``process`` steps: find the scenes; open each on a worker and check it fits the model; plan its
batches and blocks; skip scenes whose manifest already matches; stream the rest through the
cluster; vectorize the target class; write each scene's manifest last. A scene that fails is
reported with a one-line reason and the others complete.
"""

import json
import shutil
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Literal

import rasterio
from distributed import Client, Future

from geoseg import __version__
from geoseg.change import (
    CHANGE_LAYERS,
    LOSS,
    ChangeOptions,
    change_block,
    check_dates,
    date_text,
    summary,
    total,
)
from geoseg.cluster import connect, has_gpu_workers, stream_plans
from geoseg.cluster.streaming import ProgressFn, SceneOutcome, error_line
from geoseg.errors import ConfigError, ModelError, OutputError, SceneError
from geoseg.grid import Grid
from geoseg.manifest import MANIFEST, build_manifest, is_up_to_date, write_json, write_manifest
from geoseg.models import Model, ModelRef, resolve_model
from geoseg.plan import WORK_DIR, ProcessConfig, SceneInfo, ScenePlan, input_fingerprint, make_plan
from geoseg.quicklook import write_change_quicklook, write_quicklook
from geoseg.scenes import SceneSource, acquisition_date, aligned, find_scenes
from geoseg.store import BlockStore, class_counts
from geoseg.tasks import describe_scene, finish_polygons, vectorize_window
from geoseg.tiling import TileGrid
from geoseg.vectorizing import PolygonInfo, VectorizeOptions


@dataclass
class SceneResult:
    """What happened to one scene."""

    name: str
    status: Literal["done", "skipped", "failed"]
    message: str = ""
    outputs: dict[str, Path] = field(default_factory=dict)
    tiles: int = 0
    tiles_skipped: int = 0
    blocks_reused: int = 0
    seconds: float = 0.0


def process(scenes: str | Path, out_dir: str | Path, config: ProcessConfig | None = None, *,
            client: Client | None = None, scheduler: str | None = None,
            n_workers: int | None = None, model: Model | None = None,
            progress: ProgressFn | None = None) -> list[SceneResult]:
    """Segment every scene in ``scenes`` (a directory or one file) into ``out_dir/<scene>/``.

    Args:
        scenes: a scene directory (see ``scenes.find_scenes``) or one raster file.
        out_dir: where ``<scene>/probability.tif``, ``classes.tif`` and ``manifest.json`` go.
        config: tiling, model and output options.
        client: an existing Dask client; else ``scheduler`` is connected to, or, when that is
            None too, a local cluster of ``n_workers`` processes is started for this call.
        model: a model object to use instead of ``config.model`` (scattered once to workers).
        progress: called with (scene, tiles done, tiles planned) as tiles finish.

    Returns:
        One ``SceneResult`` per scene found, sorted by name.
    """
    config = config or ProcessConfig()
    sources = find_scenes(scenes)
    if not sources:
        raise ConfigError(f"{scenes}: no scenes found (looked for .tif/.tiff files)")
    ref = ModelRef(f"object:{model.card.name}") if model is not None else resolve_model(config.model)
    out_root = Path(out_dir)
    if client is None:
        with connect(scheduler, n_workers) as own:
            return _process(own, sources, out_root, config, ref, model, progress)
    return _process(client, sources, out_root, config, ref, model, progress)


def _process(client: Client, sources: list[SceneSource], out_root: Path, config: ProcessConfig,
             ref: ModelRef, model: Model | None, progress: ProgressFn | None) -> list[SceneResult]:
    task_model = client.scatter(model, broadcast=True, hash=False) if model is not None else ref
    described = describe_scenes(client, sources, config, task_model)
    return segment(client, described, out_root, config, ref, task_model, progress)


Described = list[tuple[SceneSource, SceneInfo | BaseException]]


def describe_scenes(client: Client, sources: list[SceneSource], config: ProcessConfig,
                    task_model: ModelRef | Future) -> Described:
    """Open every scene on a worker: its ``SceneInfo``, or the error that stops it."""
    futures = [client.submit(describe_scene, s, config.scene_options, task_model, pure=False)
               for s in sources]
    described: Described = []
    for source, future in zip(sources, futures, strict=True):
        try:
            described.append((source, future.result()))
        except Exception as exc:  # noqa: BLE001 (a task error arrives as whatever it raised)
            described.append((source, exc))
    return described


def segment(client: Client, described: Described, out_root: Path, config: ProcessConfig,
            ref: ModelRef, task_model: ModelRef | Future, progress: ProgressFn | None = None
            ) -> list[SceneResult]:
    """Plan, stream and finish described scenes; one result each, in order."""
    results: dict[str, SceneResult] = {}
    order: list[str] = []
    plans: list[ScenePlan] = []
    for source, info in described:
        name = source.name if isinstance(info, BaseException) else info.scene.name
        order.append(name)
        try:
            if isinstance(info, BaseException):
                raise info
            plan = make_plan(info, ref, config, out_root, input_fingerprint(source.paths))
            if not config.overwrite and is_up_to_date(plan.out_dir, plan.fingerprint):
                results[name] = SceneResult(name, "skipped", "up to date", _outputs(plan.out_dir))
                continue
            _prepare_output(plan, keep_blocks=not config.overwrite)
        except Exception as exc:  # noqa: BLE001 (one scene must not sink the batch)
            results[name] = SceneResult(name, "failed", error_line(exc))
            continue
        plans.append(plan)
    threads = sum(client.nthreads().values()) or 1
    outcomes = stream_plans(client, [(p, task_model) for p in plans],
                            max_blocks=config.max_blocks_in_flight or 2 * threads,
                            gpu=has_gpu_workers(client), progress=progress)
    for outcome in outcomes:
        results[outcome.plan.scene.name] = _finish(client, outcome, config)
    return [results[name] for name in order]


def _outputs(out_dir: Path) -> dict[str, Path]:
    manifest = json.loads((out_dir / MANIFEST).read_text())
    return {layer: out_dir / name for layer, name in manifest["outputs"].items()}


def _prepare_output(plan: ScenePlan, keep_blocks: bool) -> None:
    """Make the scene's output folder, drop a stale manifest, keep only still-valid blocks."""
    try:
        plan.out_dir.mkdir(parents=True, exist_ok=True)
        (plan.out_dir / MANIFEST).unlink(missing_ok=True)
        plan.store.reset(plan.fingerprint, keep_blocks)
    except OSError as exc:
        raise OutputError(f"{plan.out_dir}: output directory not writable "
                          f"({exc.strerror or exc})") from exc


def _finish(client: Client, outcome: SceneOutcome, config: ProcessConfig) -> SceneResult:
    plan = outcome.plan
    name = plan.scene.name
    if outcome.error is not None:
        return SceneResult(name, "failed", outcome.error, seconds=outcome.seconds)
    try:
        counts = client.submit(class_counts, outcome.outputs["classes"],
                               len(plan.info.card.classes), pure=False).result()
        if config.polygons is not None:
            outcome.outputs["polygons"] = _scene_polygons(client, plan, outcome, config)
        if config.quicklook:
            outcome.outputs["quicklook"] = client.submit(
                write_quicklook, plan.scene, outcome.outputs.get("polygons"),
                plan.out_dir / "quicklook.png", pure=False).result()
        params = {"batch_size": config.batch_size, "model_spec": config.model,
                  "scene_options": asdict(config.scene_options)}
        write_manifest(plan.out_dir, build_manifest(outcome, counts, params))
        plan.store.remove()
    except Exception as exc:  # noqa: BLE001 (one scene must not sink the batch)
        return SceneResult(name, "failed", error_line(exc), seconds=outcome.seconds)
    return SceneResult(name, "done", "", outcome.outputs, outcome.tiles_done,
                       outcome.tiles_skipped, outcome.blocks_reused, outcome.seconds)


def _scene_polygons(client: Client, plan: ScenePlan, outcome: SceneOutcome,
                    config: ProcessConfig) -> Path:
    card, scene = plan.info.card, plan.scene
    options = VectorizeOptions(card.classes.index(card.target_class), card.target_class,
                               config.polygons)
    info = PolygonInfo.for_scene(scene.name, scene.date.isoformat() if scene.date else None,
                                 plan.model.id)
    out = plan.out_dir / "polygons.gpkg"
    vectorize(outcome.outputs["classes"], out, options, info,
              probability=outcome.outputs["probability"], client=client)
    return out


def vectorize(classes: str | Path, out: str | Path, options: VectorizeOptions,
              info: PolygonInfo, *, probability: str | Path | None = None,
              client: Client | None = None, scheduler: str | None = None,
              n_workers: int | None = None) -> int:
    """Polygons of ``options.target`` in a class raster, window by window, into a GeoPackage.

    Args:
        classes: a single-band class raster (for example ``classes.tif`` from ``process``).
        out: the GeoPackage to write (atomically).
        options: target class and polygon options.
        info: the scene, date and model written on every polygon.
        probability: a raster with one band per class; gives ``mean_probability``.
        client, scheduler, n_workers: where to run, as for ``process``.

    Returns:
        The number of polygons written.
    """
    if client is None:
        with connect(scheduler, n_workers) as own:
            return vectorize(classes, out, options, info, probability=probability, client=own)
    classes, out = Path(classes), Path(out)
    probability = Path(probability) if probability else None
    grid = _raster_grid(classes)
    parts_dir = out.parent / f".{out.stem}-parts"
    shutil.rmtree(parts_dir, ignore_errors=True)
    blocks = TileGrid(grid.height, grid.width, 16, 0, options.polygons.window_size).blocks()
    parts = [parts_dir / f"{b.key}.gpkg" for b in blocks]
    windows = [client.submit(vectorize_window, classes, probability, b, grid, options, info, part,
                             pure=False) for b, part in zip(blocks, parts, strict=True)]
    metadata = {"description": f"{options.class_name} polygons of {info.label} "
                               f"(geoseg {__version__})",
                **{column: value or "" for column, value in info.attributes},
                "class": options.class_name, "source": str(classes.resolve()),
                "min_area_ha": str(options.polygons.min_area_ha),
                "simplify_m": str(options.polygons.simplify_m),
                "sieve_pixels": str(options.polygons.sieve_pixels)}
    try:
        return client.submit(finish_polygons, windows, parts, grid, options, info, out, metadata,
                             pure=False).result()
    finally:
        shutil.rmtree(parts_dir, ignore_errors=True)


def _raster_grid(path: Path) -> Grid:
    try:
        with rasterio.open(path) as src:
            if src.count != 1:
                raise ConfigError(f"{path}: a class raster has one band, this one has {src.count}")
            return Grid(src.crs, src.transform, src.width, src.height)
    except rasterio.errors.RasterioIOError as exc:
        raise ConfigError(f"{path}: cannot read the class raster ({exc})") from None


def class_raster_inputs(classes: str | Path, class_spec: str
                        ) -> tuple[int, str, PolygonInfo, Path | None]:
    """What ``vectorize`` needs to know about a class raster, from its geoseg manifest if any.

    ``class_spec`` is a class name (looked up in the ``manifest.json`` beside the raster) or an
    index. Returns the class index, its name, the polygon attributes and the probability raster
    beside it (or None).
    """
    classes = Path(classes)
    manifest_path = classes.parent / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else None
    names = list(manifest["model"]["card"]["classes"]) if manifest else []
    if class_spec.isdigit():
        target = int(class_spec)
        name = names[target] if target < len(names) else class_spec
    elif class_spec in names:
        target, name = names.index(class_spec), class_spec
    else:
        known = f"classes in {manifest_path}: {names}" if names else "no manifest.json beside it"
        raise ConfigError(f"{classes}: unknown class {class_spec!r} ({known}); pass an index")
    probability = classes.parent / "probability.tif"
    if manifest:
        info = PolygonInfo.for_scene(manifest["scene"], manifest["scene_info"]["date"],
                                     manifest["model"]["id"])
    else:
        date, _ = acquisition_date(classes.stem)
        info = PolygonInfo.for_scene(classes.stem, date.isoformat() if date else None, "")
    return target, name, info, probability if manifest and probability.exists() else None


@dataclass
class ChangeResult:
    """What a change run between two dates wrote, and its summary (hectares)."""

    before: str
    after: str
    outputs: dict[str, Path]
    summary: dict


def change(before: str | Path, after: str | Path, out_dir: str | Path,
           config: ProcessConfig | None = None, options: ChangeOptions | None = None, *,
           client: Client | None = None, scheduler: str | None = None,
           n_workers: int | None = None, progress: ProgressFn | None = None) -> ChangeResult:
    """Forest loss and gain between two acquisitions of one place, into ``out_dir``.

    Writes ``loss.tif`` (0 unchanged, 1 loss, 2 gain, 255 unknown), ``probability_drop.tif``,
    ``loss.gpkg`` (one polygon per loss patch), ``summary.json``, ``quicklook.png``, and each
    date's segmentation under ``out_dir/dates/``. Raises ``GeosegError`` with one line when the
    pair cannot be compared.
    """
    config = replace(config or ProcessConfig(), polygons=None, quicklook=False)
    options = options or ChangeOptions()
    sources = [_one_scene(before), _one_scene(after)]
    ref = resolve_model(config.model)
    if client is None:
        with connect(scheduler, n_workers) as own:
            return _change(own, sources, Path(out_dir), config, options, ref, progress)
    return _change(client, sources, Path(out_dir), config, options, ref, progress)


def _one_scene(path: str | Path) -> SceneSource:
    found = find_scenes(path)
    if len(found) != 1:
        raise ConfigError(f"{path}: holds {len(found)} scenes; give one scene per date")
    return found[0]


def _change(client: Client, sources: list[SceneSource], out: Path, config: ProcessConfig,
            options: ChangeOptions, ref: ModelRef, progress: ProgressFn | None) -> ChangeResult:
    infos = []
    for _, info in describe_scenes(client, sources, config, ref):
        if isinstance(info, BaseException):
            raise SceneError(error_line(info))
        infos.append(info)
    first, second = infos
    check_dates(first.scene, second.scene, options.allow_reversed)
    if first.bands != second.bands:
        raise SceneError(f"{first.scene.name} and {second.scene.name} have different band sets "
                         f"for the model ({', '.join(first.bands)} vs {', '.join(second.bands)})")
    if "forest" not in first.card.classes:
        raise ModelError(f"model {first.card.name} has no 'forest' class to compare")
    moved = aligned(second.scene, first.scene.grid)
    if moved is not second.scene:
        moved = replace(moved, name=f"{second.scene.name}_on_{first.scene.name}")
    described = [(sources[0], first), (sources[1], replace(second, scene=moved))]
    dates = segment(client, described, out / "dates", config, ref, ref, progress)
    for result in dates:
        if result.status == "failed":
            raise SceneError(f"{result.name}: {result.message}")
    return _compare(client, first, replace(second, scene=moved), dates, out, config, options)


def _compare(client: Client, before: SceneInfo, after: SceneInfo, dates: list[SceneResult],
             out: Path, config: ProcessConfig, options: ChangeOptions) -> ChangeResult:
    grid = before.scene.grid
    store = BlockStore(out / WORK_DIR, grid, CHANGE_LAYERS)
    store.reset("change", keep=False)
    blocks = TileGrid(grid.height, grid.width, 16, 0, config.block_size).blocks()
    forest_band = before.card.classes.index("forest") + 1
    pair = [(info.scene, result.outputs["probability"])
            for info, result in zip((before, after), dates, strict=True)]
    counts = client.gather([client.submit(change_block, pair[0], pair[1], forest_band, block,
                                          options.rule, store, pure=False) for block in blocks])
    outputs = {layer.name: client.submit(store.assemble, layer.name, blocks,
                                         out / f"{layer.name}.tif", pure=False)
               for layer in CHANGE_LAYERS}
    outputs = {name: future.result() for name, future in outputs.items()}
    info = PolygonInfo((("scene_before", before.scene.name), ("scene_after", after.scene.name),
                        ("date_before", date_text(before.scene)),
                        ("date_after", date_text(after.scene)), ("model", before.card.name)),
                       mean_column="mean_probability_drop")
    outputs["polygons"] = out / "loss.gpkg"
    vectorize(outputs["loss"], outputs["polygons"],
              VectorizeOptions(LOSS, "forest_loss", options.polygons, probability_band=1), info,
              probability=outputs["probability_drop"], client=client)
    numbers = summary(total(counts), before.scene, after.scene, options.rule)
    outputs["summary"] = write_json(out / "summary.json", numbers)
    if options.quicklook:
        outputs["quicklook"] = client.submit(
            write_change_quicklook, before.scene, after.scene, outputs["loss"],
            out / "quicklook.png", pure=False).result()
    store.remove()
    return ChangeResult(before.scene.name, after.scene.name, outputs, numbers)
