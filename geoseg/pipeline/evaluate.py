"""``evaluate``: score a class raster against reference labels and write the report."""

from pathlib import Path

from geoseg.errors import ConfigError
from geoseg.evaluation import GridLabels, evaluate_raster
from geoseg.manifest import write_json
from geoseg.pipeline.vectorize import class_raster_names
from geoseg.quicklook import write_error_map


def evaluate(classes: str | Path, labels: GridLabels, report: str | Path,
             target_class: str = "non_forest", tolerance: int = 2) -> dict:
    """Scores of ``classes`` (e.g. ``OUT/<scene>/classes.tif``) against ``labels`` (see
    ``geoseg.training.labels``): confusion matrix, per-class precision / recall / F1 / IoU,
    boundary F1 at ``tolerance`` pixels, object recall by patch size and area error of
    ``target_class``. Writes ``report/report.json`` and ``report/errors.png``; returns the scores.
    """
    classes, report = Path(classes), Path(report)
    names = class_raster_names(classes)
    if target_class not in names:
        raise ConfigError(f"class {target_class!r} is not one of {names}")
    result = evaluate_raster(classes, labels, names, target_class, tolerance)
    report.mkdir(parents=True, exist_ok=True)
    write_json(report / "report.json", result)
    write_error_map(classes, labels, names.index(target_class), report / "errors.png")
    return result
