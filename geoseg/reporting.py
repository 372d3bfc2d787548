"""Rich terminal output for the CLI: per-scene progress bars and result tables."""

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from geoseg.locations import printable
from geoseg.results import ChangeResult, EvaluationReport, Result, SceneResult
from geoseg.scenes import Scene, SceneError, SceneSource

STATUS_STYLE = {"done": "green", "skipped": "cyan", "failed": "bold red"}


# Widest scene name in a progress bar or table: at 80 columns longer ones would fold over lines
# (a change table shows two names a row).
NAME_WIDTH = 22
CHANGE_NAME_WIDTH = 18


def shortened(name: str, width: int = NAME_WIDTH) -> str:
    """``name`` within ``width`` characters, its middle left out (``aberystwyth…2021-05-27``):
    scene names differ at both ends (place and date), so both are kept."""
    if len(name) <= width:
        return name
    head = (width - 1) // 2
    return f"{name[:head]}…{name[len(name) - (width - 1 - head) :]}"


class TileRateColumn(ProgressColumn):
    """Tiles per second while tiles run; once every tile of a scene is done, what still runs
    (``tail``): assembling COGs and polygons takes seconds after the bar is full."""

    def __init__(self, tail: str) -> None:
        super().__init__()
        self.tail = tail

    def render(self, task: Task) -> Text:
        if task.total and task.completed >= task.total and not task.fields.get("closed"):
            return Text(self.tail, style="progress.description")
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f} tiles/s" if speed else "", style="progress.data.speed")


class WhileRunning(SpinnerColumn):
    """A spinner while a scene's tiles run or its outputs are written; blank once closed."""

    def render(self, task: Task) -> RenderableType:
        if task.fields.get("closed"):
            return Text(" ")
        return super().render(task)


@contextmanager
def scene_progress(
    console: Console, enabled: bool = True, tail: str = "assembling COGs, polygons…"
) -> Iterator:
    """A progress callback ``(scene, done, total)`` that draws one bar per scene; a scene whose
    tiles are all done says ``tail`` until the command is over (the bars are marked closed
    then, so the last frame left on screen does not claim work still runs)."""
    if not enabled:
        yield None
        return
    columns = (
        WhileRunning(),
        TextColumn("{task.description}"),
        BarColumn(bar_width=8),
        MofNCompleteColumn(),
        TextColumn("tiles"),
        TileRateColumn(tail),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as bars:
        tasks: dict[str, TaskID] = {}

        def update(scene: str, done: int, total: int) -> None:
            if scene not in tasks:
                tasks[scene] = bars.add_task(shortened(scene), total=total)
            bars.update(tasks[scene], completed=done, total=total)

        try:
            yield update
        finally:
            for task in tasks.values():
                bars.update(task, closed=True)


@contextmanager
def epoch_progress(
    console: Console, enabled: bool = True
) -> Iterator[Callable[[int, int, int, float], None] | None]:
    """A training step callback ``(epoch, batch, batches, loss)`` drawing one bar per epoch:
    batches done, mean loss so far, time left; then "validating" until the epoch's line."""
    if not enabled:
        yield None
        return
    columns = (
        TextColumn("epoch {task.fields[epoch]}"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        TextColumn("batches  loss {task.fields[loss]:.3f}"),
        TimeRemainingColumn(),
        TextColumn("{task.description}"),
    )
    with Progress(*columns, console=console, transient=True) as bars:
        current: dict[int, TaskID] = {}

        def step(epoch: int, batch: int, batches: int, loss: float) -> None:
            if epoch not in current:
                for task in current.values():
                    bars.remove_task(task)
                current.clear()
                current[epoch] = bars.add_task("", total=batches, epoch=epoch, loss=loss)
            note = "validating…" if batch >= batches else ""
            bars.update(current[epoch], completed=batch, loss=loss, description=note)

        yield step


def results_table(results: list[SceneResult]) -> Table:
    """One row per scene, readable at 80 columns: long names shortened in the middle (the full
    names are in ``output_lines``), a failure's note said in full below the table."""
    table = Table(title="geoseg process")
    # Reused blocks are said on a line of their own (``SceneResult.reuse_note``).
    for column in ("scene", "result", "tiles", "nodata", "polygons", "s", "note"):
        table.add_column(column, overflow="fold", no_wrap=column != "note")
    for r in results:
        table.add_row(
            printable(shortened(r.name)),
            Text(r.status, style=STATUS_STYLE[r.status]),
            str(r.tiles),
            str(r.tiles_skipped),
            "" if r.polygons is None else str(r.polygons),
            f"{r.seconds:.0f}",
            _note(r),
        )
    return table


def _note(result: Result) -> str:
    """A row's note: a failure's message is printed in full below the table, not cut here."""
    if result.failed:
        return "see below"
    return result.message if len(result.message) <= 20 else result.message[:19] + "…"


def output_lines(results: Sequence[Result]) -> list[str]:
    """Where the outputs went: ``outputs: ROOT/<scene>/`` when every item wrote into a folder
    of one root, else a folder per item; and the full name of each name the table shortened."""
    folders = {r.name: _folder(r) for r in results if r.outputs}
    roots = {folder.parent for folder in folders.values() if folder is not None}
    lines = []
    if len(folders) == 1:
        [folder] = folders.values()
        lines.append(f"outputs: {printable(str(folder))}/")
    elif len(roots) == 1:
        [root] = roots
        lines.append(f"outputs: {printable(str(root))}/<name>/")
    else:
        lines += [f"outputs: {printable(str(f))}/" for f in folders.values() if f is not None]
    names = dict.fromkeys(r.name for r in results)
    names |= dict.fromkeys(
        name
        for r in results
        if isinstance(r, ChangeResult) and r.summary is not None
        for name in (r.summary.scene_before, r.summary.scene_after)
    )
    width = CHANGE_NAME_WIDTH if any(isinstance(r, ChangeResult) for r in results) else NAME_WIDTH
    lines += [
        f"{printable(shortened(name, width))} = {printable(name)}"
        for name in names
        if shortened(name, width) != name
    ]
    return lines


def _folder(result: Result) -> Path | None:
    """The folder an item's outputs are in (the one holding them all: a change's outputs include
    each date's, in subfolders)."""
    parents = [str(Path(path).parent) for path in result.outputs.values()]
    return Path(os.path.commonpath(parents)) if parents else None


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
        date = scene.date_text or "unknown"
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
    """One row per date pair: the summary in hectares, or that the pair failed; names
    shortened in the middle to fit 80 columns (``output_lines`` gives them in full)."""
    table = Table(title="geoseg change")
    for column in ("before", "after", "forest ha", "loss ha", "gain ha", "observed"):
        table.add_column(column, overflow="fold", no_wrap=column in ("before", "after"))
    for result in results:
        s = result.summary
        if s is None:
            table.add_row(
                printable(shortened(result.name, CHANGE_NAME_WIDTH)),
                Text(result.status, style=STATUS_STYLE[result.status]),
                _note(result),
                "",
                "",
                "",
            )
            continue
        table.add_row(
            f"{shortened(s.scene_before, CHANGE_NAME_WIDTH)}\n{s.date_before or 'no date'}",
            f"{shortened(s.scene_after, CHANGE_NAME_WIDTH)}\n{s.date_after or 'no date'}",
            f"{s.forest_before_ha:,.1f}\n→ {s.forest_after_ha:,.1f}",
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
