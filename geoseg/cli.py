"""The ``geoseg`` command: a thin Typer layer over the Python API.

Options are the option models of ``geoseg.options``: each flag's help is its field's description
with the model's default, a flag left out is not passed (the model's default holds), and an error
about an option names it by the flag that sets it (``FLAGS``).
"""

import functools
import inspect
import re
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, TypeVar, get_args

import typer
import typer.core
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape

from geoseg.cluster import connect
from geoseg.errors import ConfigError, GeosegError, GeosegNote
from geoseg.locations import output_folder, printable, redact
from geoseg.models import model_card, require_torch, resolve_model
from geoseg.options import (
    ChangeOptions,
    ClusterOptions,
    LossRule,
    PolygonOptions,
    ProcessConfig,
    SceneOptions,
)
from geoseg.pipeline import change as run_change
from geoseg.pipeline import change_pairs as run_change_pairs
from geoseg.pipeline import class_names, class_raster_options, run_workflow
from geoseg.pipeline import evaluate as run_evaluate
from geoseg.pipeline import process as run_process
from geoseg.pipeline import vectorize as run_vectorize
from geoseg.plan import check_tiling
from geoseg.reporting import (
    change_table,
    epoch_progress,
    evaluation_table,
    output_lines,
    results_table,
    scene_progress,
    scenes_table,
)
from geoseg.results import Result, SceneResult
from geoseg.scenes import find_scenes, inspect_scenes, open_scene
from geoseg.store import saved_blocks
from geoseg.version import __version__
from geoseg.workflows import (
    UnreadableWorkflow,
    check_workflow,
    cluster_options,
    json_schema_text,
    load_workflow,
    write_json_schema,
)

E = TypeVar("E", bound=GeosegError)


# A value's metavar by its type, as click spells them.
TYPE_METAVARS = {"<int>": "INTEGER", "<float>": "FLOAT", "<str>": "TEXT", "<path>": "PATH"}


def conventional_metavars(params: list[Any], ctx: Any) -> list[Any]:
    """``params`` with the metavars a shell user expects: an argument by its name in capitals
    (``SCENES``), an option's value by its type (``--tile INTEGER``; ``--out OUT``, which the
    help texts name), nothing after a switch (typer's own ``{scenes}`` and ``<bool>`` read like
    placeholders to fill in)."""
    for param in params:
        if param.metavar is not None:
            continue
        if isinstance(param, typer.core.TyperArgument):
            param.metavar = str(param.name).upper()
            # The name says what it is; a "<str>" beside it reads as a second value.
            setattr(param, "display_type_rich", lambda ctx: None)  # noqa: B010
        elif getattr(param, "is_flag", False):
            param.metavar = ""
        elif param.name == "out":
            param.metavar = "OUT"
        else:
            shown = str(param.display_type_rich(ctx=ctx) or "")
            param.metavar = TYPE_METAVARS.get(shown, shown.strip("<>").upper())
    return params


class ConventionalCommand(typer.core.TyperCommand):
    """A command whose help and usage show conventional metavars (``conventional_metavars``):
    ``geoseg process [OPTIONS] SCENES``, not ``{scenes}``."""

    def get_params(self, ctx: Any) -> list[Any]:
        return conventional_metavars(super().get_params(ctx), ctx)

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return [re.sub(r"^\{(.*)\}$", r"\1", piece) for piece in super().collect_usage_pieces(ctx)]


class ConventionalGroup(typer.core.TyperGroup):
    """The ``geoseg`` group, with conventional metavars (``conventional_metavars``)."""

    def get_params(self, ctx: Any) -> list[Any]:
        return conventional_metavars(super().get_params(ctx), ctx)


def examples(*lines: str) -> str:
    """A command's ``Examples:`` block for its ``--help`` (one paragraph per example, so that
    the help formatter keeps each on its own line); brackets are escaped from rich markup."""
    return "\n\n".join(["[bold]Examples:[/]", *(f"  {escape(line)}" for line in lines)])


app = typer.Typer(
    cls=ConventionalGroup,
    help="Seamless tiled segmentation of satellite scenes into forest maps.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)

# The flag that sets each option, by field name (a nested field by its last part: the error of
# ``scene_options.bands`` names ``--bands``).
FLAGS = {
    "model": "--model",
    "precision": "--precision",
    "tile_size": "--tile",
    "overlap": "--overlap",
    "batch_size": "--batch-size",
    "block_size": "--block-size",
    "blend": "--blend",
    "probability_dtype": "--probability-dtype",
    "overwrite": "--overwrite",
    "max_pixels": "--max-pixels",
    "quicklook": "--quicklook",
    "polygons": "--polygons",
    "bands": "--bands",
    "sensor": "--sensor",
    "scale": "--scale",
    "offset": "--offset",
    "min_area_ha": "--min-area-ha",
    "simplify_m": "--simplify",
    "sieve_pixels": "--sieve",
    "window_size": "--window",
    "forest_threshold": "--forest-threshold",
    "min_drop": "--min-drop",
    "allow_reversed": "--allow-reversed",
    "mapping": "--map",  # training.labels.labels_from_option
    "scheduler": "--scheduler",
    "workers": "--workers",
    "dashboard_address": "--dashboard-address",
}


def flag_of(option: str) -> str | None:
    """The flag setting ``option`` (a field path such as ``scene_options.bands``), if any."""
    return FLAGS.get(option) or FLAGS.get(option.rsplit(".", 1)[-1])


def with_flags(message: str, options: Iterable[str] = ()) -> str:
    """``message`` with the options it names written as flags: those in ``options`` where a
    field's own error starts (``tile_size: ...``), and every option named in backquotes."""
    named = set(options) | set(re.findall(r"`([\w.]+)`", message))
    for option in sorted(named, key=len, reverse=True):
        flag = flag_of(option)
        if flag is not None:
            message = message.replace(f"`{option}`", flag)
            message = re.sub(rf"(^|; ){re.escape(option)}(?=: )", rf"\g<1>{flag}", message)
    return message


@contextmanager
def one_line_errors() -> Iterator[None]:
    """A ``GeosegError`` becomes one red line on stderr and exit code 2, without a traceback;
    the options it names are named by their flags."""
    try:
        yield
    except GeosegError as exc:
        console.print(
            f"[bold red]error:[/] {escape(redact(with_flags(str(exc), exc.options)))}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(2) from None


@contextmanager
def resumable(out: Path) -> Iterator[None]:
    """Ctrl-C becomes one line saying what was saved under ``out`` and how to resume, exit 130
    (the embedded workers ignore the terminal's SIGINT: only this process is interrupted)."""
    try:
        yield
    except KeyboardInterrupt:
        saved, planned = saved_blocks(out) if out.is_dir() else (0, 0)
        console.print(
            f"interrupted: {saved} of {planned} blocks saved under {out}; run the same "
            "command again to resume",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(130) from None


def _help(model: type[BaseModel], field: str, extra: str = "", switch: bool = False) -> str:
    """A flag's help: the field's description (and ``extra``), with the model's default (for a
    ``switch``, which of its two flags the default is)."""
    info = model.model_fields[field]
    default = info.get_default(call_default_factory=True)
    text = " ".join(filter(None, [info.description, extra]))
    flag = str(flag_of(field))
    if switch:
        shown = flag if default else f"--no-{flag[2:]}"
    elif isinstance(default, str | int | float) and not isinstance(default, bool):
        shown = str(default)
    else:
        return text
    return f"{text} {escape(f'[default: {shown}]')}"


def _option(model: type[BaseModel], field: str, extra: str = "", switch: bool = False) -> Any:
    """A ``typer.Option`` for a model field: its flag (and ``--no-`` flag for a ``switch``) and
    help from the model. Its default must be None: an option not given is not passed on."""
    flag = str(flag_of(field))
    return typer.Option(
        f"{flag}/--no-{flag[2:]}" if switch else flag, help=_help(model, field, extra, switch)
    )


def _given(**values: Any) -> dict[str, Any]:
    """The options the user gave: None (not given) and empty groups are left to the model."""
    return {key: value for key, value in values.items() if value is not None and value != {}}


def _version(value: bool) -> None:
    if value:
        print(f"geoseg {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """geoseg: satellite scenes in, forest maps out."""
    warnings.showwarning = _show_warning
    warnings.filterwarnings("always", category=GeosegNote)  # shown as notes, never raised


def _show_warning(message: Warning | str, category: type[Warning], *args: Any, **kw: Any) -> None:
    """geoseg's notes as one line; other libraries' warnings as Python shows them."""
    if issubclass(category, GeosegNote):
        text = escape(printable(with_flags(str(message))))
        console.print(f"[yellow]note:[/] {text}", highlight=False, soft_wrap=True)
    else:
        _python_showwarning(message, category, *args, **kw)


_python_showwarning = warnings.showwarning


def _bands(names: str) -> tuple[str, ...]:
    return tuple(b.strip() for b in names.split(","))


def _flag_type(model: type[BaseModel], name: str) -> type:
    """What a flag reads for a model field: a bool, int or float where the field is one, else a
    string (the model checks choices; ``FlagGroup.parse`` splits lists)."""
    annotation = model.model_fields[name].annotation
    kinds = set(get_args(annotation)) or {annotation}
    return next((kind for kind in (bool, int, float) if kind in kinds), str)


@dataclass(frozen=True)
class FlagGroup:
    """Flags that together fill one option model, declared once for every command using them:
    one flag per field of ``model`` in ``fields`` (spelled as ``FLAGS`` says); ``parse`` turns a
    given value into the field's (comma-separated band names into a tuple); ``extra`` adds to a
    flag's help."""

    model: type[BaseModel]
    fields: tuple[str, ...]
    parse: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def params(self) -> dict[str, tuple[str, Any]]:
        """Each flag's parameter name, with its field and its annotation."""
        return {
            str(flag_of(name))[2:].replace("-", "_"): (
                name,
                Annotated[
                    _flag_type(self.model, name) | None,
                    _option(
                        self.model,
                        name,
                        self.extra.get(name, ""),
                        switch=_flag_type(self.model, name) is bool,
                    ),
                ],
            )
            for name in self.fields
        }

    def given(self, values: dict[str, Any]) -> dict[str, Any]:
        """The fields the user gave, by field name."""
        return {
            name: self.parse.get(name, lambda v: v)(values[param])
            for param, (name, _) in self.params.items()
            if values[param] is not None
        }


SEGMENT_FLAGS = FlagGroup(ProcessConfig, ("model", "precision", "tile_size", "overlap"))
OUTPUT_FLAGS = FlagGroup(
    ProcessConfig,
    (
        "batch_size",
        "block_size",
        "blend",
        "quicklook",
        "probability_dtype",
        "overwrite",
        "max_pixels",
    ),
)
SCENE_FLAGS = FlagGroup(
    SceneOptions,
    ("bands", "sensor", "scale", "offset"),
    parse={"bands": _bands},
    extra={"bands": "Comma-separated: red,green,..."},
)
POLYGON_FLAGS = FlagGroup(PolygonOptions, ("min_area_ha", "simplify_m", "sieve_pixels"))
CLUSTER_FLAGS = FlagGroup(ClusterOptions, ("scheduler", "workers", "dashboard_address"))


def with_flags_of(**groups: FlagGroup) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """A command whose parameter ``NAME`` (for each ``NAME=group``) is replaced, on the command
    line, by the group's flags; the command gets the fields the user gave, as a dict."""

    def wrap(command: Callable[..., None]) -> Callable[..., None]:
        signature = inspect.signature(command)
        params = []
        for param in signature.parameters.values():
            group = groups.get(param.name)
            params += (
                [param]
                if group is None
                else [
                    inspect.Parameter(
                        flag, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation
                    )
                    for flag, (_, annotation) in group.params.items()
                ]
            )

        @functools.wraps(command)
        def with_groups(**values: Any) -> None:
            for name, group in groups.items():
                values[name] = group.given({p: values.pop(p) for p in group.params})
            command(**values)

        with_groups.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        with_groups.__annotations__ = {p.name: p.annotation for p in params}
        return with_groups

    return wrap


@app.command(
    cls=ConventionalCommand,
    epilog=examples(
        "geoseg process samples/ -o out/ --quicklook",
        "geoseg process samples/aberystwyth_s2_2021-05-27.tif -o out/ "
        "--model builtin:unet-mobilenetv2-aberystwyth",
        "geoseg process scenes/ -o out/ --scheduler tcp://10.0.0.5:8786",
    ),
)
@with_flags_of(
    segment=SEGMENT_FLAGS,
    output=OUTPUT_FLAGS,
    scene=SCENE_FLAGS,
    polygon=POLYGON_FLAGS,
    cluster=CLUSTER_FLAGS,
)
def process(
    scenes: Annotated[str, typer.Argument(help="Scene directory, scene file, or http(s):// URL.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")],
    *,
    segment: dict[str, Any],
    output: dict[str, Any],
    scene: dict[str, Any],
    polygons: Annotated[
        bool | None, _option(ProcessConfig, "polygons", "--no-polygons: none.", switch=True)
    ] = None,
    polygon: dict[str, Any],
    cluster: dict[str, Any],
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Segment every scene in SCENES into probability and class COGs, and polygons of the
    model's target class, under OUT/<scene>/."""
    with one_line_errors(), resumable(out):
        options = _given(**segment, **output, scene_options=scene, polygons=polygon)
        if polygons is False:
            options["polygons"] = None
        config = ProcessConfig(**options)
        # Bad paths and models are found before a cluster starts.
        output_folder(out)
        if not find_scenes(scenes):
            raise ConfigError(f"{scenes}: no scenes found (looked for .tif/.tiff files)")
        check_tiling(config, model_card(resolve_model(config.model, config.precision)))
        with connect(ClusterOptions(**cluster)) as client:
            console.print(f"Dask dashboard: {client.dashboard_link}")
            with scene_progress(console, progress) as update:
                results = run_process(scenes, out, config, client=client, progress=update)
    console.print(results_table(results))
    _print_outputs(results)
    _report_failures(results)


def _print_outputs(results: Sequence[Result]) -> None:
    """Where the outputs went, and the full names the table shortened."""
    for line in output_lines(results):
        console.print(line, highlight=False, soft_wrap=True, markup=False)


def _report_failures(results: Sequence[Result]) -> None:
    """What was reused, one line per failed scene or pair, and exit code 1 if any failed."""
    for note in (r.reuse_note for r in results if isinstance(r, SceneResult) and r.reuse_note):
        console.print(note, highlight=False, soft_wrap=True)
    failed = [(r.name, r.message) for r in results if r.failed]
    for name, message in failed:
        console.print(
            f"[red]failed:[/] {escape(printable(name))}: {escape(printable(with_flags(message)))}",
            highlight=False,
            soft_wrap=True,
        )
    if failed:
        raise typer.Exit(1)


@app.command(
    cls=ConventionalCommand,
    epilog=examples(
        "geoseg vectorize out/aberystwyth_s2_2021-05-27/classes.tif -o clearings.gpkg "
        "--class non_forest",
        "geoseg vectorize out/change/loss.tif -o loss.gpkg --class loss",
    ),
)
@with_flags_of(polygon=POLYGON_FLAGS, cluster=CLUSTER_FLAGS)
def vectorize(
    classes: Annotated[Path, typer.Argument(help="A class raster (e.g. OUT/<scene>/classes.tif).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="GeoPackage to write.")],
    class_: Annotated[
        str,
        typer.Option(
            "--class",
            help="Class to vectorize: a name from the manifest beside the raster, or an index.",
        ),
    ] = "0",
    *,
    polygon: dict[str, Any],
    window: Annotated[int | None, _option(PolygonOptions, "window_size")] = None,
    cluster: dict[str, Any],
) -> None:
    """Polygons of one class of any class raster, merged across windows, into a GeoPackage."""
    with one_line_errors():
        polygons = PolygonOptions(**polygon, **_given(window_size=window))
        options, info, probability = class_raster_options(classes, class_, polygons)
        result = run_vectorize(
            classes,
            out,
            options,
            info,
            probability=probability,
            cluster=ClusterOptions(**cluster),
        )
    _report_failures([result])
    console.print(f"{result.count} {options.class_name} polygons → {out}", highlight=False)


@app.command(
    cls=ConventionalCommand,
    epilog=examples(
        "geoseg change samples/pucallpa_2000.tif samples/pucallpa_2020.tif -o out/change/",
        "geoseg change samples/ -o out/change/ --pairs consecutive",
    ),
)
@with_flags_of(
    segment=SEGMENT_FLAGS, scene=SCENE_FLAGS, polygon=POLYGON_FLAGS, cluster=CLUSTER_FLAGS
)
def change(
    before: Annotated[str, typer.Argument(help="The earlier scene, or a directory of scenes.")],
    after: Annotated[
        str | None, typer.Argument(help="The later scene (omit with --pairs).")
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")] = Path("change"),
    *,
    pairs: Annotated[
        str | None,
        typer.Option(
            help="'consecutive': every consecutive date pair per place in BEFORE (a directory)."
        ),
    ] = None,
    segment: dict[str, Any],
    forest_threshold: Annotated[float | None, _option(LossRule, "forest_threshold")] = None,
    min_drop: Annotated[float | None, _option(LossRule, "min_drop")] = None,
    polygon: dict[str, Any],
    allow_reversed: Annotated[bool | None, _option(ChangeOptions, "allow_reversed")] = None,
    scene: dict[str, Any],
    cluster: dict[str, Any],
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Forest loss and gain between two dates: loss.tif, loss.gpkg, summary.json, quicklook.png.
    The model needs a 'forest' class."""
    with one_line_errors(), resumable(out):
        config = ProcessConfig(**segment, **_given(scene_options=scene))
        options = ChangeOptions(
            **_given(
                rule=_given(forest_threshold=forest_threshold, min_drop=min_drop),
                polygons=polygon,
                allow_reversed=allow_reversed,
            )
        )
        if pairs is not None and (pairs != "consecutive" or after is not None):
            raise ConfigError("--pairs consecutive takes one directory and no AFTER scene")
        if pairs is None and after is None:
            raise ConfigError("give BEFORE and AFTER scenes, or a directory with --pairs")
        run_args = ClusterOptions(**cluster)
        tail = "comparing, assembling COGs…"
        with scene_progress(console, progress, tail) as update:
            on = {"cluster": run_args} | ({"progress": update} if update else {})
            if pairs is not None:
                results = run_change_pairs(before, out, config, options, **on)
            else:
                results = [run_change(before, str(after), out, config, options, **on)]
    Console().print(change_table(results))
    _print_outputs(results)
    _report_failures(results)


@app.command(
    cls=ConventionalCommand,
    epilog=examples(
        "geoseg run workflows/samples.yaml",
        "geoseg run workflows/samples.yaml --scheduler tcp://localhost:8786",
    ),
)
@with_flags_of(cluster=CLUSTER_FLAGS)
def run(
    workflow: Annotated[Path, typer.Argument(help="A workflow YAML file.")],
    *,
    cluster: dict[str, Any],
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    allow_outside: Annotated[
        bool,
        typer.Option(
            "--allow-outside",
            help="Run it even where its scenes or outputs lead outside its project root (its "
            "folder, or the parent of a workflows/ folder).",
        ),
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Redo scenes whose outputs are up to date.")
    ] = False,
) -> None:
    """Run a workflow file's steps (process, change) on a Dask cluster."""
    with one_line_errors():
        # A refused workflow stops here, before a cluster is started.
        loaded, base = load_workflow(workflow, allow_outside=allow_outside)
        with (
            resumable(base / loaded.outputs.dir),
            connect(cluster_options(loaded, ClusterOptions(**cluster))) as client,
        ):
            console.print(f"Dask dashboard: {client.dashboard_link}")
            with scene_progress(console, progress) as update:
                result = run_workflow(
                    workflow,
                    client=client,
                    progress=update,
                    allow_outside=allow_outside,
                    overwrite=overwrite,
                )
    if result.scenes:
        console.print(results_table(result.scenes))
        _print_outputs(result.scenes)
    if result.changes:
        Console().print(change_table(result.changes))
        _print_outputs(result.changes)
    _report_failures([*result.scenes, *result.changes])


@app.command(cls=ConventionalCommand, epilog=examples("geoseg validate workflows/samples.yaml"))
def validate(workflow: Annotated[Path, typer.Argument(help="A workflow YAML file.")]) -> None:
    """Check a workflow file: every problem as FILE:LINE: field: message (exit 1; exit 2 when
    the file cannot be read as a workflow at all); a warning for each path outside its project
    root, which run refuses without --allow-outside."""
    try:
        _, _, outside = check_workflow(workflow)
    except GeosegError as exc:
        console.print(str(exc), highlight=False, soft_wrap=True, markup=False)
        raise typer.Exit(2 if isinstance(exc, UnreadableWorkflow) else 1) from None
    for line in outside:
        console.print(
            f"warning: {line}; geoseg run refuses it without --allow-outside",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
    console.print(f"{workflow}: valid", highlight=False, soft_wrap=True, markup=False)


@app.command(
    cls=ConventionalCommand,
    epilog=examples(
        "geoseg train samples/aberystwyth_s2_2021-05-27.tif --labels spectral -o models/weak "
        "--epochs 5 --threads 2",
        "geoseg train scene.tif --labels prodes.tif --map 1=forest,3=non_forest -o models/prodes",
    ),
)
def train(
    scene: Annotated[Path, typer.Argument(help="The scene to train on (one file or folder).")],
    labels: Annotated[
        str, typer.Option(help="'spectral' (weak labels), a polygon file, or a class raster.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for model.safetensors + card.")],
    label_column: Annotated[str, typer.Option(help="Polygon column holding the class.")] = "class",
    map_: Annotated[
        str | None, typer.Option("--map", help="VALUE=CLASS,... label mapping.")
    ] = None,
    arch: Annotated[str, typer.Option(help="smp architecture.")] = "Unet",
    encoder: Annotated[str, typer.Option(help="smp encoder (no pretrained weights).")] = "resnet18",
    bands: Annotated[
        str, typer.Option(help="Input bands, canonical names.")
    ] = "blue,green,red,nir",
    encoder_depth: Annotated[
        int, typer.Option(help="Encoder stages (3-5); fewer see less context and tile seamlessly.")
    ] = 5,
    epochs: Annotated[
        int, typer.Option(help="Most epochs; training stops earlier when validation F1 stalls.")
    ] = 10,
    tile: Annotated[
        int, typer.Option(help="Training tile size in pixels (a multiple of 32).")
    ] = 256,
    test_fraction: Annotated[
        float,
        typer.Option(help="Share of blocks held out as a test set, scored once after training."),
    ] = 0.0,
    seed: Annotated[
        int, typer.Option(help="Seed of the split, the sampling and the weights: reruns match.")
    ] = 0,
    threads: Annotated[
        int | None,
        typer.Option(help="CPU threads torch may use (default: torch's own, all cores)."),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar per epoch.")] = True,
) -> None:
    """Train an smp model on one scene and its labels, validated on held-out blocks."""
    # Imported here: torch is heavy, and the other commands never need it.
    from geoseg.training.inputs import one_scene
    from geoseg.training.labels import labels_from_option

    with one_line_errors():
        require_torch("geoseg train")  # one line, not an ImportError, without the torch extra
        from geoseg.training.trainer import TrainConfig
        from geoseg.training.trainer import train as run_train

        config = TrainConfig(
            arch,
            encoder,
            encoder_depth,
            tuple(b.strip() for b in bands.split(",")),
            tile=tile,
            epochs=epochs,
            test_fraction=test_fraction,
            seed=seed,
        )
        source = labels_from_option(labels, label_column, map_, config.classes)
        opened = open_scene(one_scene(scene))
        if threads is not None:
            set_threads(threads)
        with epoch_progress(console, progress) as on_step:
            result = run_train(
                opened,
                source,
                out,
                config,
                labels,
                on_epoch=lambda row: console.print(epoch_line(row), highlight=False),
                on_step=on_step,
            )
    console.print(stopping_line(result.history, config.epochs, result.card), highlight=False)
    test = (result.card.training or {}).get("test")
    if test:
        console.print(f"test blocks: F1 {test['f1']:.3f}, IoU {test['iou']:.3f}", highlight=False)
    console.print(f"model → {result.checkpoint}", highlight=False)


def set_threads(threads: int) -> None:
    """Let torch use ``threads`` CPU threads: on a shared machine training otherwise takes
    every core."""
    import torch

    if threads < 1:
        raise ConfigError(f"--threads {threads}: give 1 or more")
    torch.set_num_threads(threads)


def epoch_line(row: dict) -> str:
    """One finished epoch: its mean loss, validation scores and time."""
    return (
        f"epoch {row['epoch']}: loss {row['loss']:.3f}, validation F1 {row['val_f1']:.3f}, "
        f"IoU {row['val_iou']:.3f} ({row['seconds']} s)"
    )


def stopping_line(history: list[dict], epochs: int, card: Any) -> str:
    """Whether training ran all its epochs or stopped early, and which epoch's weights were
    kept: the last epoch printed is not necessarily the model written."""
    best = (card.training or {}).get("best_epoch")
    ran = len(history)
    if ran < epochs:
        return (
            f"stopped after epoch {ran} of {epochs} (validation F1 no longer improving); "
            f"best epoch {best} kept"
        )
    return f"ran all {epochs} epochs; best epoch {best} kept"


@app.command(
    cls=ConventionalCommand,
    epilog=examples(
        "geoseg evaluate out/aberystwyth_s2_2021-05-27/classes.tif --labels "
        "samples/aberystwyth_s2_2021-05-27_training_polygons.gpkg --map "
        "forest=forest,grass=non_forest,urban=non_forest,water=non_forest --report eval/",
    ),
)
def evaluate(
    classes: Annotated[Path, typer.Argument(help="A class raster (e.g. OUT/<scene>/classes.tif).")],
    labels: Annotated[str, typer.Option(help="Reference labels: a polygon file or class raster.")],
    report: Annotated[Path, typer.Option(help="Folder for report.json and errors.png.")],
    label_column: Annotated[str, typer.Option(help="Polygon column holding the class.")] = "class",
    map_: Annotated[
        str | None, typer.Option("--map", help="VALUE=CLASS,... label mapping.")
    ] = None,
    class_: Annotated[
        str, typer.Option("--class", help="The class to score in detail.")
    ] = "non_forest",
    tolerance: Annotated[int, typer.Option(help="Boundary F1 tolerance in pixels.")] = 2,
) -> None:
    """Score a class raster against reference labels: confusion matrix, per-class precision,
    recall, F1 and IoU, boundary F1, object recall by patch size, area error."""
    from geoseg.training.labels import RasterLabels, VectorLabels, labels_from_option

    with one_line_errors():
        reference = labels_from_option(labels, label_column, map_, class_names(classes))
        if not isinstance(reference, RasterLabels | VectorLabels):
            raise ConfigError(
                "--labels: evaluation needs reference labels (a polygon file or a "
                "class raster), not model-made ones"
            )
        result = run_evaluate(classes, reference, report, class_, tolerance)
    if result.report is not None:
        Console().print(evaluation_table(result.report))
    console.print(f"report → {', '.join(str(p) for p in result.outputs.values())}", highlight=False)


@app.command(
    cls=ConventionalCommand,
    epilog=examples("geoseg info samples/", "geoseg info scene.tif --bands blue,green,red,nir"),
)
@with_flags_of(scene=SCENE_FLAGS)
def info(
    scenes: Annotated[str, typer.Argument(help="Scene directory, scene file, or http(s):// URL.")],
    *,
    scene: dict[str, Any],
) -> None:
    """Show what geoseg sees in SCENES: bands mapped, grid, dates, CRS, nodata, problems."""
    with one_line_errors():
        found = inspect_scenes(scenes, SceneOptions(**scene))
    # A name that is not UTF-8 is written with \xNN escapes: a strict terminal refuses it.
    found = [
        (
            replace(source, name=printable(source.name)),
            _flagged(type(scene)(printable(str(scene)), options=scene.options))
            if isinstance(scene, GeosegError)
            else scene,
        )
        for source, scene in found
    ]
    Console().print(scenes_table(found))
    if any(not hasattr(scene, "grid") for _, scene in found):
        raise typer.Exit(1)


@app.command(
    cls=ConventionalCommand, epilog=examples("geoseg schema", "geoseg schema workflows/schema.json")
)
def schema(
    path: Annotated[Path | None, typer.Argument(help="File to write (default: print it).")] = None,
) -> None:
    """The JSON Schema of workflow files: geoseg schema workflows/schema.json writes it again."""
    if path is None:
        print(json_schema_text(), end="")
    else:
        write_json_schema(path)


def _flagged(error: E) -> E:
    """``error`` with the options it names written as flags (for a table of problems)."""
    return type(error)(with_flags(str(error), error.options), options=error.options)
