"""The ``geoseg`` command: a thin Typer layer over the Python API."""

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from geoseg import __version__
from geoseg.cluster import connect
from geoseg.errors import GeosegError
from geoseg.pipeline import process as run_process
from geoseg.plan import ProcessConfig
from geoseg.reporting import results_table, scene_progress, scenes_table
from geoseg.scenes import SceneOptions, inspect_scenes

app = typer.Typer(help="Seamless tiled segmentation of satellite scenes into forest maps.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
console = Console(stderr=True)


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


def _scene_options(bands: str | None, sensor: str | None, scale: float | None,
                   offset: float | None) -> SceneOptions:
    names = tuple(b.strip() for b in bands.split(",")) if bands else None
    return SceneOptions(names, sensor, scale, offset)


@app.command()
def process(
    scenes: Annotated[Path, typer.Argument(help="Scene directory, or one scene file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")],
    model: Annotated[str, typer.Option(
        help="builtin:spectral-forest, or a .safetensors checkpoint with its .json card.")
    ] = "builtin:spectral-forest",
    tile: Annotated[int | None, typer.Option(help="Tile size (default: the model's).")] = None,
    overlap: Annotated[int | None, typer.Option(help="Tile overlap (default: the model's).")
                       ] = None,
    batch_size: Annotated[int, typer.Option(help="Tiles per inference batch.")] = 8,
    block_size: Annotated[int, typer.Option(help="Output block size (multiple of 16).")] = 1024,
    blend: Annotated[str, typer.Option(help="cosine (seamless) or mean (plain averaging).")
                     ] = "cosine",
    bands: BandsOpt = None, sensor: SensorOpt = None, scale: ScaleOpt = None,
    offset: OffsetOpt = None,
    scheduler: Annotated[str | None, typer.Option(
        help="Dask scheduler address (tcp://host:8786); default: an embedded local cluster.")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Local cluster worker processes.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Redo scenes whose outputs are up to date.")
                         ] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Segment every scene in SCENES into probability and class COGs under OUT/<scene>/."""
    try:
        config = ProcessConfig(model, tile, overlap, batch_size, block_size, blend,
                               _scene_options(bands, sensor, scale, offset), overwrite)
        with connect(scheduler, workers) as client:
            console.print(f"Dask dashboard: {client.dashboard_link}")
            with scene_progress(console, progress) as update:
                results = run_process(scenes, out, config, client=client, progress=update)
    except GeosegError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    console.print(results_table(results))
    for result in results:
        if result.status == "failed":
            console.print(f"[red]failed:[/] {result.name}: {result.message}", highlight=False,
                          soft_wrap=True)
    if any(r.status == "failed" for r in results):
        raise typer.Exit(1)


@app.command()
def info(scenes: Annotated[Path, typer.Argument(help="Scene directory, or one scene file.")],
         bands: BandsOpt = None, sensor: SensorOpt = None, scale: ScaleOpt = None,
         offset: OffsetOpt = None) -> None:
    """Show what geoseg sees in SCENES: bands mapped, grid, dates, CRS, problems."""
    try:
        found = inspect_scenes(scenes, _scene_options(bands, sensor, scale, offset))
    except GeosegError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    Console().print(scenes_table(found))
    if any(not hasattr(scene, "grid") for _, scene in found):
        raise typer.Exit(1)
