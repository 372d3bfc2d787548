"""The ``geoseg`` command: a thin Typer layer over the Python API."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from geoseg import __version__
from geoseg.change import ChangeOptions, LossRule
from geoseg.cluster import connect
from geoseg.errors import ConfigError, GeosegError
from geoseg.pipeline import change as run_change
from geoseg.pipeline import change_pairs as run_change_pairs
from geoseg.pipeline import class_raster_inputs, class_raster_names, run_workflow
from geoseg.pipeline import evaluate as run_evaluate
from geoseg.pipeline import process as run_process
from geoseg.pipeline import vectorize as run_vectorize
from geoseg.plan import ProcessConfig
from geoseg.reporting import (
    change_table,
    evaluation_table,
    results_table,
    scene_progress,
    scenes_table,
)
from geoseg.scenes import SceneOptions, find_scenes, inspect_scenes, open_scene
from geoseg.vectorizing import PolygonOptions, VectorizeOptions
from geoseg.workflows import load_workflow

app = typer.Typer(help="Seamless tiled segmentation of satellite scenes into forest maps.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
console = Console(stderr=True)


@contextmanager
def one_line_errors() -> Iterator[None]:
    """A ``GeosegError`` becomes one red line on stderr and exit code 2, without a traceback."""
    try:
        yield
    except GeosegError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def _version(value: bool) -> None:
    if value:
        print(f"geoseg {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Print the version and exit.")] = False
         ) -> None:
    """geoseg: satellite scenes in, forest maps out."""


BandsOpt = Annotated[str | None, typer.Option(
    help="Canonical names of a multi-band file's bands, in order: 'red,green,blue,nir'.")]
SensorOpt = Annotated[str | None, typer.Option(
    help="Sensor for ambiguous band codes: sentinel2, landsat-tm, landsat-oli.")]
ScaleOpt = Annotated[float | None, typer.Option(
    help="Reflectance = DN × scale + offset (default: from metadata, else by data type).")]
OffsetOpt = Annotated[float | None, typer.Option(help="Reflectance offset (with --scale).")]
MinAreaOpt = Annotated[float, typer.Option(help="Minimum mapping unit of polygons, hectares.")]
SimplifyOpt = Annotated[float, typer.Option(help="Polygon simplification tolerance, metres.")]
SieveOpt = Annotated[int, typer.Option(
    help="Merge patches smaller than this many pixels into their neighbours first (0: off).")]
SchedulerOpt = Annotated[str | None, typer.Option(
    help="Dask scheduler address (tcp://host:8786); default: an embedded local cluster.")]
WorkersOpt = Annotated[int | None, typer.Option(
    help="Local cluster worker processes, sharing the cores (default: one per 8 cores).")]
PrecisionOpt = Annotated[str, typer.Option(
    help="Torch models: auto (fp32 on CPU, AMP on GPU), fp32, or bf16 (faster on recent CPUs).")]


def _scene_options(bands: str | None, sensor: str | None, scale: float | None,
                   offset: float | None) -> SceneOptions:
    names = tuple(b.strip() for b in bands.split(",")) if bands else None
    return SceneOptions(names, sensor, scale, offset)


@app.command()
def process(
    scenes: Annotated[Path, typer.Argument(help="Scene directory, or one scene file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")],
    model: Annotated[str, typer.Option(
        help="builtin:spectral-forest, builtin:unet-mobilenetv2-aberystwyth, or a .safetensors "
             "checkpoint with its .json card.")
    ] = "builtin:spectral-forest",
    precision: PrecisionOpt = "auto",
    tile: Annotated[int | None, typer.Option(help="Tile size (default: the model's).")] = None,
    overlap: Annotated[int | None, typer.Option(help="Tile overlap (default: the model's).")
                       ] = None,
    batch_size: Annotated[int, typer.Option(help="Tiles per inference batch.")] = 8,
    block_size: Annotated[int, typer.Option(help="Output block size (multiple of 16).")] = 1024,
    blend: Annotated[str, typer.Option(help="cosine (seamless) or mean (plain averaging).")
                     ] = "cosine",
    bands: BandsOpt = None, sensor: SensorOpt = None, scale: ScaleOpt = None,
    offset: OffsetOpt = None,
    polygons: Annotated[bool, typer.Option(help="Vectorize the target class to polygons.gpkg.")
                        ] = True,
    min_area_ha: MinAreaOpt = 0.5, simplify: SimplifyOpt = 0.0, sieve: SieveOpt = 0,
    quicklook: Annotated[bool, typer.Option(help="Write quicklook.png with polygons outlined.")
                         ] = False,
    probability_dtype: Annotated[str, typer.Option(
        help="probability.tif as float32, or uint8 (p × 254; a quarter of the bytes, faster).")
    ] = "float32",
    scheduler: SchedulerOpt = None, workers: WorkersOpt = None,
    overwrite: Annotated[bool, typer.Option(help="Redo scenes whose outputs are up to date.")
                         ] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Segment every scene in SCENES into probability and class COGs, and polygons of the
    model's target class, under OUT/<scene>/."""
    with one_line_errors():
        config = ProcessConfig(
            model, tile, overlap, batch_size, block_size, blend,
            _scene_options(bands, sensor, scale, offset), overwrite,
            polygons=PolygonOptions(min_area_ha, simplify, sieve) if polygons else None,
            quicklook=quicklook, precision=precision, probability_dtype=probability_dtype)
        with connect(scheduler, workers) as client:
            console.print(f"Dask dashboard: {client.dashboard_link}")
            with scene_progress(console, progress) as update:
                results = run_process(scenes, out, config, client=client, progress=update)
    console.print(results_table(results))
    _report_failures(results, [])


def _report_failures(scenes: list, changes: list) -> None:
    """What was reused, one line per failed scene or pair, and exit code 1 if any failed."""
    for note in filter(None, (r.reuse_note for r in scenes)):
        console.print(note, highlight=False, soft_wrap=True)
    failed = [(r.name, r.message) for r in scenes if r.status == "failed"]
    failed += [c for c in changes if isinstance(c, tuple)]
    for name, message in failed:
        console.print(f"[red]failed:[/] {name}: {message}", highlight=False, soft_wrap=True)
    if failed:
        raise typer.Exit(1)


@app.command()
def vectorize(
    classes: Annotated[Path, typer.Argument(help="A class raster (e.g. OUT/<scene>/classes.tif).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="GeoPackage to write.")],
    class_: Annotated[str, typer.Option(
        "--class", help="Class to vectorize: a name from the manifest beside the raster, or an "
                        "index.")] = "0",
    min_area_ha: MinAreaOpt = 0.5, simplify: SimplifyOpt = 0.0, sieve: SieveOpt = 0,
    window: Annotated[int, typer.Option(help="Window size in pixels.")] = 1024,
    scheduler: SchedulerOpt = None, workers: WorkersOpt = None,
) -> None:
    """Polygons of one class of any class raster, merged across windows, into a GeoPackage."""
    with one_line_errors():
        target, name, info, probability = class_raster_inputs(classes, class_)
        options = VectorizeOptions(target, name, PolygonOptions(min_area_ha, simplify, sieve,
                                                                window))
        count = run_vectorize(classes, out, options, info, probability=probability,
                              scheduler=scheduler, n_workers=workers)
    console.print(f"{count} {name} polygons → {out}", highlight=False)


@app.command()
def change(
    before: Annotated[Path, typer.Argument(help="The earlier scene, or a directory of scenes.")],
    after: Annotated[Path | None, typer.Argument(help="The later scene (omit with --pairs).")
                     ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")] = Path("change"),
    pairs: Annotated[str | None, typer.Option(
        help="'consecutive': every consecutive date pair per place in BEFORE (a directory).")
    ] = None,
    model: Annotated[str, typer.Option(help="Model with a 'forest' class.")
                     ] = "builtin:spectral-forest",
    precision: PrecisionOpt = "auto",
    tile: Annotated[int | None, typer.Option(help="Tile size (default: the model's).")] = None,
    overlap: Annotated[int | None, typer.Option(help="Tile overlap (default: the model's).")
                       ] = None,
    forest_threshold: Annotated[float, typer.Option(help="Forest when probability ≥ this.")
                                ] = 0.5,
    min_drop: Annotated[float, typer.Option(
        help="Loss needs the forest probability to drop by at least this.")] = 0.3,
    min_area_ha: MinAreaOpt = 0.5, simplify: SimplifyOpt = 0.0, sieve: SieveOpt = 0,
    allow_reversed: Annotated[bool, typer.Option(help="Accept AFTER older than BEFORE.")
                              ] = False,
    bands: BandsOpt = None, sensor: SensorOpt = None, scale: ScaleOpt = None,
    offset: OffsetOpt = None, scheduler: SchedulerOpt = None, workers: WorkersOpt = None,
) -> None:
    """Forest loss and gain between two dates: loss.tif, loss.gpkg, summary.json, quicklook.png."""
    with one_line_errors():
        config = ProcessConfig(model, tile, overlap,
                               scene_options=_scene_options(bands, sensor, scale, offset),
                               precision=precision)
        options = ChangeOptions(LossRule(forest_threshold, min_drop),
                                PolygonOptions(min_area_ha, simplify, sieve), allow_reversed)
        if pairs is not None:
            if pairs != "consecutive" or after is not None:
                raise ConfigError("--pairs consecutive takes one directory and no AFTER scene")
            results = run_change_pairs(before, out, config, options, scheduler=scheduler,
                                       n_workers=workers)
        elif after is None:
            raise ConfigError("give BEFORE and AFTER scenes, or a directory with --pairs")
        else:
            results = [run_change(before, after, out, config, options, scheduler=scheduler,
                                  n_workers=workers)]
    Console().print(change_table(results))
    _report_failures([], results)


@app.command()
def run(workflow: Annotated[Path, typer.Argument(help="A workflow YAML file.")],
        scheduler: SchedulerOpt = None, workers: WorkersOpt = None,
        progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True) -> None:
    """Run a workflow file's steps (process, change) on a Dask cluster."""
    with one_line_errors(), connect(
            scheduler, workers or load_workflow(workflow)[0].resources.workers) as client:
        console.print(f"Dask dashboard: {client.dashboard_link}")
        with scene_progress(console, progress) as update:
            result = run_workflow(workflow, client=client, progress=update)
    if result.scenes:
        console.print(results_table(result.scenes))
    if result.changes:
        Console().print(change_table(result.changes))
    _report_failures(result.scenes, result.changes)


@app.command()
def validate(workflow: Annotated[Path, typer.Argument(help="A workflow YAML file.")]) -> None:
    """Check a workflow file: every problem as FILE:LINE: field: message."""
    try:
        load_workflow(workflow)
    except GeosegError as exc:
        console.print(str(exc), highlight=False, soft_wrap=True, markup=False)
        raise typer.Exit(1) from None
    console.print(f"{workflow}: valid", highlight=False)


@app.command()
def train(
    scene: Annotated[Path, typer.Argument(help="The scene to train on (one file or folder).")],
    labels: Annotated[str, typer.Option(
        help="'spectral' (weak labels), a polygon file, or a class raster.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for model.safetensors + card.")],
    label_column: Annotated[str, typer.Option(help="Polygon column holding the class.")
                            ] = "class",
    map_: Annotated[str | None, typer.Option("--map", help="VALUE=CLASS,... label mapping.")
                    ] = None,
    arch: Annotated[str, typer.Option(help="smp architecture.")] = "Unet",
    encoder: Annotated[str, typer.Option(help="smp encoder (no pretrained weights).")
                       ] = "resnet18",
    bands: Annotated[str, typer.Option(help="Input bands, canonical names.")
                     ] = "blue,green,red,nir",
    encoder_depth: Annotated[int, typer.Option(
        help="Encoder stages (3-5); fewer see less context and tile seamlessly.")] = 5,
    epochs: Annotated[int, typer.Option()] = 10,
    tile: Annotated[int, typer.Option()] = 256,
    test_fraction: Annotated[float, typer.Option(
        help="Share of blocks held out as a test set, scored once after training.")] = 0.0,
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Train an smp model on one scene and its labels, validated on held-out blocks."""
    # Imported here: torch is heavy, and the other commands never need it.
    from geoseg.training.labels import labels_from_option
    from geoseg.training.trainer import TrainConfig
    from geoseg.training.trainer import train as run_train

    with one_line_errors():
        config = TrainConfig(arch, encoder, encoder_depth,
                             tuple(b.strip() for b in bands.split(",")), tile=tile, epochs=epochs,
                             test_fraction=test_fraction, seed=seed)
        source = labels_from_option(labels, label_column, map_, config.classes)
        [found] = find_scenes(scene)
        with console.status("training ..."):
            result = run_train(open_scene(found), source, out, config, labels,
                               on_epoch=lambda row: console.print(
                                   f"epoch {row['epoch']}: loss {row['loss']:.3f}, validation "
                                   f"F1 {row['val_f1']:.3f}, IoU {row['val_iou']:.3f} "
                                   f"({row['seconds']} s)", highlight=False))
    test = result.card.training["test"]
    if test:
        console.print(f"test blocks: F1 {test['f1']:.3f}, IoU {test['iou']:.3f}", highlight=False)
    console.print(f"model → {result.checkpoint}", highlight=False)


@app.command()
def evaluate(
    classes: Annotated[Path, typer.Argument(help="A class raster (e.g. OUT/<scene>/classes.tif).")],
    labels: Annotated[str, typer.Option(help="Reference labels: a polygon file or class raster.")],
    report: Annotated[Path, typer.Option(help="Folder for report.json and errors.png.")],
    label_column: Annotated[str, typer.Option(help="Polygon column holding the class.")
                            ] = "class",
    map_: Annotated[str | None, typer.Option("--map", help="VALUE=CLASS,... label mapping.")
                    ] = None,
    class_: Annotated[str, typer.Option("--class", help="The class to score in detail.")
                      ] = "non_forest",
    tolerance: Annotated[int, typer.Option(help="Boundary F1 tolerance in pixels.")] = 2,
) -> None:
    """Score a class raster against reference labels: confusion matrix, per-class precision,
    recall, F1 and IoU, boundary F1, object recall by patch size, area error."""
    from geoseg.training.labels import labels_from_option

    with one_line_errors():
        reference = labels_from_option(labels, label_column, map_, class_raster_names(classes))
        result = run_evaluate(classes, reference, report, class_, tolerance)
    Console().print(evaluation_table(result))
    console.print(f"report → {report / 'report.json'}, {report / 'errors.png'}", highlight=False)


@app.command()
def info(scenes: Annotated[Path, typer.Argument(help="Scene directory, or one scene file.")],
         bands: BandsOpt = None, sensor: SensorOpt = None, scale: ScaleOpt = None,
         offset: OffsetOpt = None) -> None:
    """Show what geoseg sees in SCENES: bands mapped, grid, dates, CRS, nodata, problems."""
    with one_line_errors():
        found = inspect_scenes(scenes, _scene_options(bands, sensor, scale, offset))
    Console().print(scenes_table(found))
    if any(not hasattr(scene, "grid") for _, scene in found):
        raise typer.Exit(1)
