"""``change`` and ``change_pairs``: forest loss between dates, reusing ``process``'s stages."""

from dataclasses import asdict, dataclass, replace
from pathlib import Path

from distributed import Client

from geoseg.change import (
    CHANGE_LAYERS,
    LOSS,
    ChangeOptions,
    change_block,
    check_dates,
    consecutive_pairs,
    date_text,
    normalised_to,
    summary,
    total,
)
from geoseg.cluster import connect
from geoseg.cluster.streaming import ProgressFn, error_line
from geoseg.errors import ConfigError, GeosegError, ModelError, SceneError
from geoseg.manifest import MANIFEST, package_versions, write_json
from geoseg.models import ModelRef, resolve_model
from geoseg.pipeline.process import SceneResult, describe_scenes, segment
from geoseg.pipeline.vectorize import vectorize
from geoseg.plan import WORK_DIR, ProcessConfig, SceneInfo
from geoseg.quicklook import write_change_quicklook
from geoseg.scenes import SceneSource, aligned, find_scenes, inspect_scenes
from geoseg.store import BlockStore
from geoseg.tiling import TileGrid
from geoseg.vectorizing import PolygonInfo, VectorizeOptions


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
    ref = resolve_model(config.model, config.precision)
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
    if options.normalise:
        first = replace(first, scene=normalised_to(first.scene, moved, first.bands))
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
    write_json(out / MANIFEST, {
        "inputs": {"before": list(before.scene.paths), "after": list(after.scene.paths)},
        "model": {"id": config.model, "card": before.card.model_dump(mode="json")},
        "bands_used": list(before.bands),
        "reflectance": {info.scene.name: {b.name: [b.scale, b.offset] for b in info.scene.bands}
                        for info in (before, after)},
        "parameters": {"rule": asdict(options.rule), "polygons": asdict(options.polygons),
                       "normalise": options.normalise, "block_size": config.block_size},
        "summary": numbers, "outputs": {name: path.name for name, path in outputs.items()},
        "versions": package_versions()})
    store.remove()
    return ChangeResult(before.scene.name, after.scene.name, outputs, numbers)


def change_pairs(scenes: str | Path | list[Path], out_dir: str | Path,
                 config: ProcessConfig | None = None,
                 options: ChangeOptions | None = None, *, client: Client | None = None,
                 scheduler: str | None = None, n_workers: int | None = None,
                 progress: ProgressFn | None = None) -> list[ChangeResult | tuple[str, str]]:
    """``change`` for every consecutive date pair per place among the scenes of ``scenes`` (a
    directory, or a list of directories and files).

    Each pair goes to ``out_dir/<before>__<after>/``. Returns, per pair, its ``ChangeResult`` or
    (pair name, one-line reason) when it failed; one bad pair does not stop the others.
    """
    config = replace(config or ProcessConfig(), polygons=None, quicklook=False)
    options = options or ChangeOptions()
    paths = [scenes] if isinstance(scenes, str | Path) else scenes
    opened = [(source, scene) for path in paths
              for source, scene in inspect_scenes(path, config.scene_options)
              if not isinstance(scene, BaseException)]
    found = {scene.name: source for source, scene in opened}
    pairs = consecutive_pairs([scene for _, scene in opened])
    if not pairs:
        raise ConfigError(f"{scenes}: no two dated scenes of one place to compare")
    if client is None:
        with connect(scheduler, n_workers) as own:
            return change_pairs(scenes, out_dir, config, options, client=own, progress=progress)
    ref = resolve_model(config.model, config.precision)
    results: list[ChangeResult | tuple[str, str]] = []
    for before, after in pairs:
        name = f"{before.name}__{after.name}"
        try:
            results.append(_change(client, [found[before.name], found[after.name]],
                                   Path(out_dir) / name, config, options, ref, progress))
        except GeosegError as exc:
            results.append((name, str(exc)))
    return results
