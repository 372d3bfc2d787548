"""``evaluate``: score a class raster against reference labels and write the report."""

from pathlib import Path

from geoseg.errors import ConfigError
from geoseg.evaluation import ERROR_CLASSES, GridLabels, evaluate_raster, write_error_raster
from geoseg.locations import FileStamp
from geoseg.manifest import ClassRaster, Manifest, manifest_kind, write_json
from geoseg.pipeline.vectorize import described_raster
from geoseg.quicklook import write_error_map
from geoseg.results import EvaluationResult
from geoseg.training.inputs import class_raster_grid, require_utf8_name


def evaluate(
    classes: str | Path,
    labels: GridLabels,
    report: str | Path,
    target_class: str = "non_forest",
    tolerance: int = 2,
) -> EvaluationResult:
    """Scores of ``classes`` (e.g. ``OUT/<scene>/classes.tif``) against ``labels`` (see
    ``geoseg.training.labels``): confusion matrix, per-class precision / recall / F1 / IoU,
    boundary F1 at ``tolerance`` pixels, object recall by patch size and area error of
    ``target_class``. Writes ``report/report.json``, ``report/errors.tif`` (each pixel's outcome
    for the class: ``evaluation.ERROR_CLASSES``), ``report/errors.png`` and the manifest.
    """
    classes, report = Path(classes), Path(report)
    check_inputs(classes, labels, report)
    names = class_names(classes)
    if target_class not in names:
        raise ConfigError(f"class {target_class!r} is not one of {names}")
    if (kind := manifest_kind(report)) not in (None, "evaluation"):
        raise ConfigError(
            f"{report} holds the outputs of a {kind} run; write the report to a folder of its own"
        )
    scores = evaluate_raster(classes, labels, names, target_class, tolerance)
    report.mkdir(parents=True, exist_ok=True)
    target = names.index(target_class)
    outputs = {
        "report": write_json(report / "report.json", scores.model_dump(mode="json")),
        "errors": write_error_raster(classes, labels, target, report / "errors.tif"),
        "error_map": write_error_map(classes, labels, target, report / "errors.png"),
    }
    Manifest.new(
        kind="evaluation",
        name=classes.stem,
        inputs=(FileStamp.of(str(classes)),),
        parameters={"target_class": target_class, "tolerance": tolerance},
        outputs={name: path.name for name, path in outputs.items()},
        class_rasters={"errors": ClassRaster(classes=ERROR_CLASSES)},
        polygon_attributes=(("raster", str(classes.resolve())), ("evaluated_class", target_class)),
    ).write(report)
    return EvaluationResult(classes.stem, "done", outputs=outputs, report=scores)


def check_inputs(classes: Path, labels: GridLabels, report: Path) -> None:
    """Every input problem as one line before anything is scored or written: a class raster
    that cannot be read, labels that cannot be read onto it, a report folder GDAL cannot
    write to (a name that is not UTF-8)."""
    grid = class_raster_grid(classes)
    labels.check(grid, str(classes))
    require_utf8_name(report, "report folder")


def class_names(classes: str | Path) -> tuple[str, ...]:
    """Class names of a class raster (from the manifest beside it), else the built-in model's."""
    return described_raster(classes)[0].classes
