"""``process``: every scene of a directory to probability and class COGs and polygons, on Dask.

Steps: find the scenes; open each on a worker and check it fits the model; plan its batches and
blocks; skip scenes whose manifest already matches; stream the rest through the cluster;
vectorize the target class; write each scene's manifest last. A scene that fails is reported with
a one-line reason and the others complete.
"""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from distributed import Client, Future

from geoseg.cluster import connect, has_gpu_workers, stream_plans
from geoseg.cluster.streaming import ProgressFn, SceneOutcome, error_line
from geoseg.errors import ConfigError, OutputError
from geoseg.manifest import MANIFEST, build_manifest, is_up_to_date, write_manifest
from geoseg.models import Model, ModelRef, resolve_model
from geoseg.pipeline.vectorize import vectorize
from geoseg.plan import ProcessConfig, SceneInfo, ScenePlan, input_fingerprint, make_plan
from geoseg.quicklook import write_quicklook
from geoseg.scenes import SceneSource, find_scenes
from geoseg.store import class_counts
from geoseg.tasks import describe_scene
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
    blocks: int = 0

    @property
    def reuse_note(self) -> str:
        """What an interrupted earlier run saved, or ""."""
        if not self.blocks_reused:
            return ""
        return (f"{self.name}: reused {self.blocks_reused} of {self.blocks} blocks "
                f"({self.blocks_reused / self.blocks:.0%}) finished by an interrupted run")


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
    ref = ModelRef(f"object:{model.card.name}") if model is not None else resolve_model(config.model, config.precision)
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
                       outcome.tiles_skipped, outcome.blocks_reused, outcome.seconds,
                       len(plan.tiling.blocks()))


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


