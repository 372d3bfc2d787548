"""``process``: every scene of a directory to probability and class COGs, on a Dask cluster.

Steps: find the scenes; open each on a worker and check it fits the model; plan its batches and
blocks; skip scenes whose manifest already matches; stream the rest through the cluster; write
each scene's manifest last. A scene that fails is reported with a one-line reason and the others
complete.
"""

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from distributed import Client

from geoseg.cluster import connect, has_gpu_workers, stream_plans
from geoseg.cluster.streaming import ProgressFn, SceneOutcome, error_line
from geoseg.errors import ConfigError, OutputError
from geoseg.manifest import MANIFEST, build_manifest, is_up_to_date, write_manifest
from geoseg.models import Model, ModelRef, resolve_model
from geoseg.plan import ProcessConfig, ScenePlan, input_fingerprint, make_plan
from geoseg.scenes import SceneSource, find_scenes
from geoseg.store import class_counts
from geoseg.tasks import describe_scene


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
    described = [client.submit(describe_scene, s, config.scene_options, task_model, pure=False)
                 for s in sources]
    results: dict[str, SceneResult] = {}
    plans: list[ScenePlan] = []
    for source, future in zip(sources, described, strict=True):
        try:
            plan = make_plan(future.result(), ref, config, out_root,
                             input_fingerprint(source.paths))
            if not config.overwrite and is_up_to_date(plan.out_dir, plan.fingerprint):
                results[source.name] = SceneResult(source.name, "skipped", "up to date")
                continue
            _prepare_output(plan, keep_blocks=not config.overwrite)
        except Exception as exc:  # noqa: BLE001 (a task error arrives as whatever it raised)
            results[source.name] = SceneResult(source.name, "failed", error_line(exc))
            continue
        plans.append(plan)
    threads = sum(client.nthreads().values()) or 1
    outcomes = stream_plans(client, [(p, task_model) for p in plans],
                            max_blocks=config.max_blocks_in_flight or 2 * threads,
                            gpu=has_gpu_workers(client), progress=progress)
    for outcome in outcomes:
        results[outcome.plan.scene.name] = _finish(client, outcome, config)
    return [results[s.name] for s in sources]


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
        params = {"batch_size": config.batch_size, "model_spec": config.model,
                  "scene_options": asdict(config.scene_options)}
        write_manifest(plan.out_dir, build_manifest(outcome, counts, params))
        plan.store.remove()
    except Exception as exc:  # noqa: BLE001 (one scene must not sink the batch)
        return SceneResult(name, "failed", error_line(exc), seconds=outcome.seconds)
    return SceneResult(name, "done", "", outcome.outputs, outcome.tiles_done,
                       outcome.tiles_skipped, outcome.blocks_reused, outcome.seconds)
