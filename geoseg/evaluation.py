"""Evaluation metrics of a class map against reference labels: pure functions of arrays, and
``evaluate_raster`` at the edge, which reads a class raster and labels onto its grid.

- ``confusion_matrix``: rows are the reference class, columns the predicted class; pixels whose
  reference is ``ignore`` (unlabelled) are left out.
- ``class_scores``: per class precision, recall, F1 and IoU from a confusion matrix.
- ``boundary_f1``: boundaries are the mask pixels with a 4-neighbour outside the mask; a predicted
  boundary pixel is correct when a reference boundary pixel lies within ``tolerance`` pixels
  (chessboard distance), and the other way round for recall.
- ``object_recall``: reference patches (4-connected) are sorted into size classes by area; a patch
  is found when at least half of its pixels are predicted as the class.
- ``area_error``: (predicted area − reference area) / reference area of a class.
- ``error_classes``: each pixel's outcome for one class (``ERROR_CLASSES``), which
  ``write_error_raster`` writes window by window as ``errors.tif``: a class raster like any
  other, so ``geoseg vectorize`` turns its misses or false alarms into polygons.
"""

from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import Protocol

import numpy as np
import rasterio
from rasterio.windows import Window
from scipy import ndimage

from geoseg.errors import ConfigError
from geoseg.grid import Grid
from geoseg.results import EvaluationReport

IGNORE = 255
ERROR_CLASSES = ("true_negative", "hit", "false_alarm", "miss")  # errors.tif's values 0 … 3


class GridLabels(Protocol):
    """Reference labels that can be read onto any grid (``training.labels`` raster or polygons)."""

    def check(self, grid: Grid, target: str) -> None:
        """Fail in one line unless the labels can be read onto ``grid`` (of ``target``)."""

    def read_grid(self, grid: Grid, window: Window) -> np.ndarray: ...


_CROSS = ndimage.generate_binary_structure(2, 1)


def confusion_matrix(
    reference: np.ndarray, predicted: np.ndarray, n_classes: int, ignore: int = IGNORE
) -> np.ndarray:
    keep = (reference != ignore) & (predicted < n_classes)
    index = reference[keep].astype(np.int64) * n_classes + predicted[keep].astype(np.int64)
    return np.bincount(index, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def class_scores(matrix: np.ndarray) -> list[dict[str, float]]:
    """Precision, recall, F1 and IoU of every class (NaN where undefined)."""
    scores = []
    for c in range(matrix.shape[0]):
        tp = matrix[c, c]
        fp = matrix[:, c].sum() - tp
        fn = matrix[c, :].sum() - tp
        precision = tp / (tp + fp) if tp + fp else float("nan")
        recall = tp / (tp + fn) if tp + fn else float("nan")
        f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
        iou = tp / (tp + fp + fn) if tp + fp + fn else float("nan")
        scores.append(
            {
                "precision": float(precision),
                "recall": float(recall),
                "f1": float(f1),
                "iou": float(iou),
                "support": int(matrix[c, :].sum()),
            }
        )
    return scores


def boundary(mask: np.ndarray) -> np.ndarray:
    """Mask pixels with a 4-neighbour outside the mask (the raster edge does not count)."""
    inner = ndimage.binary_erosion(mask, structure=_CROSS, border_value=1)
    return mask & ~inner


def boundary_f1(reference: np.ndarray, predicted: np.ndarray, tolerance: int = 2) -> float:
    ref_edge, pred_edge = boundary(reference), boundary(predicted)
    if not ref_edge.any() and not pred_edge.any():
        return 1.0
    if not ref_edge.any() or not pred_edge.any():
        return 0.0
    size = 2 * tolerance + 1
    near_ref = ndimage.maximum_filter(ref_edge, size=size)
    near_pred = ndimage.maximum_filter(pred_edge, size=size)
    precision = (pred_edge & near_ref).sum() / pred_edge.sum()
    recall = (ref_edge & near_pred).sum() / ref_edge.sum()
    return float(2 * precision * recall / (precision + recall)) if precision + recall else 0.0


def object_recall(
    reference: np.ndarray,
    predicted: np.ndarray,
    pixel_ha: float,
    edges_ha: Sequence[float] = (1.0, 6.25),
) -> dict[str, dict[str, float]]:
    """Share of reference patches found, per size class (``< 1 ha``, ``1–6.25 ha``, ``≥ 6.25 ha``)."""
    labels, count = ndimage.label(reference, structure=_CROSS)
    if count == 0:
        return {}
    index = np.arange(1, count + 1)
    sizes = ndimage.sum_labels(np.ones_like(labels), labels, index) * pixel_ha
    hits = ndimage.sum_labels(predicted.astype(np.int64), labels, index)
    found = hits >= 0.5 * sizes / pixel_ha
    bounds = [0.0, *edges_ha, float("inf")]
    result = {}
    for low, high in pairwise(bounds):
        in_class = (sizes >= low) & (sizes < high)
        name = (
            f"< {high:g} ha"
            if low == 0
            else (f">= {low:g} ha" if high == float("inf") else f"{low:g}-{high:g} ha")
        )
        if in_class.any():
            result[name] = {"patches": int(in_class.sum()), "recall": float(found[in_class].mean())}
    return result


def error_classes(reference: np.ndarray, predicted: np.ndarray, target: int) -> np.ndarray:
    """Each pixel's outcome for class ``target``, as an index into ``ERROR_CLASSES``; ``IGNORE``
    where the reference is unlabelled or the prediction has no data."""
    truth, guess = reference == target, predicted == target
    out = np.select([truth & guess, guess, truth], [1, 2, 3], 0).astype(np.uint8)
    out[(reference == IGNORE) | (predicted == IGNORE)] = IGNORE
    return out


def area_error(matrix: np.ndarray, cls: int) -> float:
    reference, predicted = matrix[cls, :].sum(), matrix[:, cls].sum()
    return float((predicted - reference) / reference) if reference else float("nan")


# Whole-raster metrics (boundary F1, object recall) read the class raster whole; above this size
# only the windowed confusion-matrix metrics are computed.
WHOLE_RASTER_LIMIT = 64_000_000


def evaluate_raster(
    classes_path: Path,
    labels: GridLabels,
    class_names: Sequence[str],
    target: str,
    tolerance: int = 2,
    window_size: int = 1024,
) -> EvaluationReport:
    """Scores of a class raster against labels read onto its grid.

    The confusion matrix (and so precision, recall, F1, IoU, area error) is accumulated window by
    window; boundary F1 and object recall need whole patches and are computed for rasters up to
    ``WHOLE_RASTER_LIMIT`` pixels.
    """
    from geoseg.tiling import blocks  # local: tiling is not an evaluation concern elsewhere

    with rasterio.open(classes_path) as src:
        grid = Grid(src.crs, src.transform, src.width, src.height)
    n, t = len(class_names), list(class_names).index(target)
    matrix = np.zeros((n, n), np.int64)
    with rasterio.open(classes_path) as src:
        for block in blocks(grid.height, grid.width, window_size):
            predicted = src.read(1, window=block.window)
            matrix += confusion_matrix(labels.read_grid(grid, block.window), predicted, n)
    if not matrix.any():
        raise ConfigError(
            f"{classes_path}: no pixel has both a class and a label; check that the labels "
            "cover the raster and that `mapping` names their values",
            options=("mapping",),
        )
    report = {
        "classes": tuple(class_names),
        "target": target,
        "confusion": matrix.tolist(),
        "scores": dict(zip(class_names, class_scores(matrix), strict=True)),
        "area_error": area_error(matrix, t),
    }
    if grid.width * grid.height <= WHOLE_RASTER_LIMIT:
        whole = Window(0, 0, grid.width, grid.height)
        with rasterio.open(classes_path) as src:
            predicted = src.read(1) == t
        reference = labels.read_grid(grid, whole)
        labelled = reference != IGNORE
        pixel_ha = abs(grid.transform.a * grid.transform.e) / 1e4
        report["boundary_f1"] = boundary_f1(reference == t, predicted & labelled, tolerance)
        report["object_recall"] = object_recall(reference == t, predicted, pixel_ha)
    return EvaluationReport.model_validate(report)


def write_error_raster(
    classes_path: Path, labels: GridLabels, target: int, out: Path, window_size: int = 1024
) -> Path:
    """``error_classes`` of a class raster against labels, written window by window to ``out``
    (a tiled GeoTIFF on the class raster's grid; temporary name, then rename)."""
    from geoseg.tiling import blocks  # local: tiling is not an evaluation concern elsewhere

    tmp = out.with_name(f".{out.name}.tmp")
    with rasterio.open(classes_path) as src:
        grid = Grid(src.crs, src.transform, src.width, src.height)
        profile = {
            "driver": "GTiff",
            "width": grid.width,
            "height": grid.height,
            "count": 1,
            "dtype": "uint8",
            "nodata": IGNORE,
            "crs": grid.crs,
            "transform": grid.transform,
            "tiled": True,
            "blockxsize": 256,
            "blockysize": 256,
            "compress": "deflate",
        }
        with rasterio.open(tmp, "w", **profile) as dst:
            for block in blocks(grid.height, grid.width, window_size):
                reference = labels.read_grid(grid, block.window)
                predicted = src.read(1, window=block.window)
                dst.write(error_classes(reference, predicted, target)[None], window=block.window)
    tmp.replace(out)
    return out
