"""Rich terminal output for the CLI: per-scene progress bars and result tables."""

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from geoseg.locations import printable
from geoseg.results import ChangeResult, EvaluationReport, SceneResult
from geoseg.scenes import Scene, SceneError, SceneSource

STATUS_STYLE = {"done": "green", "skipped": "cyan", "failed": "bold red"}


class TileRateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f} tiles/s" if speed else "", style="progress.data.speed")


@contextmanager
def scene_progress(console: Console, enabled: bool = True) -> Iterator:
    """A progress callback ``(scene, done, total)`` that draws one bar per scene."""
    if not enabled:
        yield None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("tiles"),
        TileRateColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as bars:
        tasks: dict[str, TaskID] = {}

        def update(scene: str, done: int, total: int) -> None:
            if scene not in tasks:
                tasks[scene] = bars.add_task(scene, total=total)
            bars.update(tasks[scene], completed=done, total=total)

        yield update


def results_table(results: list[SceneResult]) -> Table:
    table = Table(title="geoseg process")
    for column in ("scene", "result", "tiles", "nodata tiles", "reused blocks", "seconds", "note"):
        table.add_column(column, overflow="fold")
    for r in results:
        table.add_row(
            printable(r.name),
            Text(r.status, style=STATUS_STYLE[r.status]),
            str(r.tiles),
            str(r.tiles_skipped),
            str(r.blocks_reused),
            f"{r.seconds:.1f}",
            r.message if len(r.message) <= 40 else r.message[:39] + "…",
        )
    return table


def scenes_table(found: list[tuple[SceneSource, Scene | SceneError]]) -> Table:
    """One row per scene: what geoseg will read, or the problem that stops it."""
    table = Table(title="geoseg info", show_lines=True)
    table.add_column("scene", overflow="fold", max_width=32)
    table.add_column("what geoseg sees", overflow="fold")
    for source, scene in found:
        if isinstance(scene, SceneError):
            table.add_row(source.name, Text(f"problem: {scene}", style="red"))
            continue
        grid = scene.grid
        date = (
            f"{scene.date:%Y-%m-%d}"
            if scene.date_precision == "day"
            else (f"{scene.date:%Y}" if scene.date else "unknown")
        )
        bands = "  ".join(f"{b.label}→{b.name}" for b in scene.bands)
        if scene.unmapped:
            bands += f"  (unnamed: {', '.join(scene.unmapped)})"
        res_x, res_y = grid.resolution
        lines = [
            f"sensor {scene.sensor or 'unknown'}, date {date}, {len(scene.paths)} file(s)",
            f"{grid.width}×{grid.height} px of {res_x:.6g}×{res_y:.6g}, {grid.crs.to_string()}",
            f"bands: {bands}",
            f"nodata: {_nodata(scene)}",
            f"reflectance scale: {scene.scale_source}",
        ]
        table.add_row(scene.name, "\n".join(lines))
    return table


def _nodata(scene: Scene) -> str:
    """The bands' nodata values, once when they share one ("none": every pixel is data, unless
    outside a band's footprint)."""
    values = {b.nodata for b in scene.bands}
    if len(values) == 1:
        [value] = values
        text = "none" if value is None else f"{value:g}"
    else:
        text = ", ".join(
            f"{b.name} {'none' if b.nodata is None else f'{b.nodata:g}'}" for b in scene.bands
        )
    if 0 in values:
        # Composites often declare 0 as nodata although 0 is also a real (dark) value.
        text += (
            " (a pixel whose value is 0 is not data; if 0 is a real value in this file, "
            "unset it: gdal_edit.py -unsetnodata FILE)"
        )
    return text


def change_table(results: list[ChangeResult]) -> Table:
    """One row per date pair: the summary in hectares, or that the pair failed."""
    table = Table(title="geoseg change")
    for column in (
        "before",
        "after",
        "forest before ha",
        "forest after ha",
        "loss ha",
        "gain ha",
        "observed both",
    ):
        table.add_column(column, overflow="fold")
    for result in results:
        s = result.summary
        if s is None:
            table.add_row(
                result.name,
                Text(result.status, style=STATUS_STYLE[result.status]),
                "",
                "",
                "",
                "",
                "",
            )
            continue
        table.add_row(
            f"{s.scene_before} ({s.date_before})",
            f"{s.scene_after} ({s.date_after})",
            f"{s.forest_before_ha:,.1f}",
            f"{s.forest_after_ha:,.1f}",
            f"{s.loss_ha:,.1f}",
            f"{s.gain_ha:,.1f}",
            f"{s.observed_share:.1%}",
        )
    return table


def evaluation_table(report: EvaluationReport) -> Table:
    """Per-class scores, then the target class's boundary F1, object recall and area error."""
    table = Table(title=f"geoseg evaluate (target: {report.target})")
    for column in ("class", "precision", "recall", "F1", "IoU", "labelled pixels"):
        table.add_column(column)
    for name, s in report.scores.items():
        table.add_row(
            name, *(f"{v:.3f}" for v in (s.precision, s.recall, s.f1, s.iou)), str(s.support)
        )
    extras = [f"area error {report.area_error:+.1%}"]
    if report.boundary_f1 is not None:
        extras.append(f"boundary F1 {report.boundary_f1:.3f}")
    extras += [
        f"object recall {k}: {v.recall:.2f} of {v.patches}"
        for k, v in (report.object_recall or {}).items()
    ]
    table.caption = "; ".join(extras)
    return table
