"""Evaluation metrics against values worked out by hand on small arrays."""

import json

import numpy as np
import pytest

from geoseg.evaluation import (
    IGNORE,
    area_error,
    boundary,
    boundary_f1,
    class_scores,
    confusion_matrix,
    object_recall,
)


def test_confusion_matrix_and_scores_by_hand() -> None:
    reference = np.array([[0, 0, 1, 1], [0, 1, 1, IGNORE]])
    predicted = np.array([[0, 1, 1, 1], [0, 0, 1, 1]])
    matrix = confusion_matrix(reference, predicted, 2)
    # reference 0: predicted 0 twice, 1 once; reference 1: predicted 0 once, 1 three times
    np.testing.assert_array_equal(matrix, [[2, 1], [1, 3]])
    one = class_scores(matrix)[1]
    assert one["precision"] == pytest.approx(3 / 4) and one["recall"] == pytest.approx(3 / 4)
    assert one["f1"] == pytest.approx(3 / 4) and one["iou"] == pytest.approx(3 / 5)
    assert one["support"] == 4
    assert area_error(matrix, 1) == pytest.approx(0.0)
    assert area_error(matrix, 0) == pytest.approx(0.0)


def test_boundary_pixels() -> None:
    mask = np.zeros((5, 5), bool)
    mask[1:4, 1:4] = True
    expected = mask.copy()
    expected[2, 2] = False  # the centre has all four neighbours inside
    np.testing.assert_array_equal(boundary(mask), expected)


def test_boundary_f1_by_hand() -> None:
    reference = np.zeros((10, 10), bool)
    reference[2:8, 2:8] = True  # boundary: the 20-pixel ring of a 6 × 6 square
    shifted = np.zeros_like(reference)
    shifted[2:8, 4:10] = True  # the same square 2 px to the right
    assert boundary_f1(reference, reference, tolerance=0) == 1.0
    assert boundary_f1(reference, shifted, tolerance=2) == 1.0
    # Tolerance 1, by hand. The predicted ring has 16 pixels (its right side is the raster
    # edge, not a boundary): rows 2 and 7 have 5 of 6 within one pixel of the reference ring,
    # its left side (column 4, rows 3-6) 2 of 4: precision 12/16. Of the reference ring's 20,
    # rows 2 and 7 have 5 of 6, its left side 0 of 4, its right side (column 7) 2 of 4: recall
    # 12/20. F1 = 2 · 0.75 · 0.6 / 1.35 = 2/3.
    assert boundary_f1(reference, shifted, tolerance=1) == pytest.approx(2 / 3)


def test_object_recall_by_size() -> None:
    reference = np.zeros((40, 40), bool)
    reference[0:2, 0:2] = True  # 4 px = 0.04 ha at 10 m: < 1 ha
    reference[10:20, 10:20] = True  # 100 px = 1 ha: 1–6.25 ha
    reference[25:40, 25:40] = True  # 225 px = 2.25 ha
    predicted = np.zeros_like(reference)
    predicted[10:20, 10:16] = True  # 60 % of the 1 ha patch: found
    predicted[25:40, 25:30] = True  # 33 % of the 2.25 ha patch: missed
    recall = object_recall(reference, predicted, pixel_ha=0.01)
    assert recall == {
        "< 1 ha": {"patches": 1, "recall": 0.0},
        "1-6.25 ha": {"patches": 2, "recall": 0.5},
    }


def test_evaluate_raster_and_command_agree_with_the_array_metrics(tmp_path) -> None:
    from typer.testing import CliRunner

    from geoseg.cli import app
    from geoseg.evaluation import evaluate_raster
    from geoseg.training.labels import RasterLabels

    from .conftest import write_raster

    reference = np.zeros((60, 70), np.uint8)
    reference[10:30, 10:40] = 1
    reference[45:55, 50:60] = 1
    predicted = np.zeros_like(reference)
    predicted[12:30, 10:44] = 1  # the first patch, a little off
    classes = write_raster(tmp_path / "classes.tif", predicted[None])
    labels_path = write_raster(tmp_path / "labels.tif", (reference + 1)[None])  # 1, 2 on disk
    labels = RasterLabels(str(labels_path), ((1, 0), (2, 1)))
    report = evaluate_raster(
        classes, labels, ("other", "clearing"), "clearing", tolerance=1, window_size=32
    )
    matrix = confusion_matrix(reference, predicted, 2)
    assert report.confusion == matrix.tolist()
    assert report.scores["clearing"].model_dump() == class_scores(matrix)[1]
    assert report.boundary_f1 == boundary_f1(reference == 1, predicted == 1, 1)
    assert report.object_recall is not None
    assert {k: v.model_dump() for k, v in report.object_recall.items()} == object_recall(
        reference == 1, predicted == 1, 0.01
    )
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            str(classes),
            "--labels",
            str(labels_path),
            "--map",
            "1=non_forest,2=forest",
            "--class",
            "forest",
            "--report",
            str(tmp_path / "report"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "report" / "errors.png").exists()
    written = json.loads((tmp_path / "report" / "report.json").read_text())
    assert written["confusion"] == matrix.tolist()


def test_error_classes_by_hand() -> None:
    from geoseg.evaluation import ERROR_CLASSES, IGNORE, error_classes

    reference = np.array([[1, 1, 0, 0, IGNORE, 1]])
    predicted = np.array([[1, 0, 1, 0, 1, IGNORE]])
    got = error_classes(reference, predicted, target=1)
    assert [ERROR_CLASSES[v] if v != IGNORE else None for v in got[0]] == [
        "hit",
        "miss",
        "false_alarm",
        "true_negative",
        None,
        None,
    ]


def test_a_report_never_replaces_the_manifest_of_other_outputs(tmp_path) -> None:
    """``--report`` pointing at a scene's output folder: refused, the scene's manifest kept."""
    from geoseg.errors import ConfigError
    from geoseg.manifest import MANIFEST, Manifest
    from geoseg.pipeline import evaluate
    from geoseg.training.labels import RasterLabels

    from .conftest import write_raster

    classes = write_raster(tmp_path / "classes.tif", np.zeros((1, 20, 20), np.uint8))
    labels = write_raster(tmp_path / "labels.tif", np.ones((1, 20, 20), np.uint8))
    scene_out = tmp_path / "out" / "s"
    scene_out.mkdir(parents=True)
    Manifest.new(kind="scene", name="s", inputs=(), outputs={}).write(scene_out)
    before = (scene_out / MANIFEST).read_text()
    with pytest.raises(ConfigError, match="outputs of a scene run"):
        evaluate(classes, RasterLabels(str(labels), ((1, 0),)), scene_out)
    assert (scene_out / MANIFEST).read_text() == before
    older = tmp_path / "report"  # a report of an older layout is replaced, not refused
    older.mkdir()
    (older / MANIFEST).write_text('{"kind": "evaluation", "inputs": "older layout"}')
    evaluate(classes, RasterLabels(str(labels), ((1, 0),)), older)
    assert Manifest.read(older) is not None
