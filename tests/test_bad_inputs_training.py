"""Bad inputs of ``train``, ``evaluate`` and ``info`` (issue 16, hardening), run as a user runs
them: each is one line naming the file and the reason, exit code 2, never a traceback; ``train``
fails before its first epoch.

Files whose names are not valid UTF-8 are made the way Python sees them: a lone surrogate
(``"\\udcff"``) stands for the byte 0xff on disk, and the messages write it ``\\xff``.
"""

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from click.testing import Result
from rasterio.errors import NotGeoreferencedWarning
from typer.testing import CliRunner

from geoseg.cli import app

from .conftest import BGRN, SAMPLES, forest_scene, write_raster

runner = CliRunner()
NOT_UTF8 = "\udcff"  # the byte 0xff in a file name, as Python decodes it

# The default grid of ``write_raster``: 10 m pixels from (500000, 9000000), EPSG:32720.
LEFT, TOP = 500_000.0, 9_000_000.0


def one_line(result: Result) -> str:
    """The one line a refused input prints (exit code 2: a ``GeosegError``, no traceback)."""
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2, (result.exception, result.output)
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def polygons(rows: int = 96, cols: int = 80) -> gpd.GeoDataFrame:
    """Forest over the whole grid of a ``rows`` × ``cols`` scene, a non-forest square inside."""
    whole = shapely.box(LEFT, TOP - 10 * rows, LEFT + 10 * cols, TOP)
    square = shapely.box(LEFT + 200, TOP - 480, LEFT + 400, TOP - 240)
    return gpd.GeoDataFrame(
        {"class": ["forest", "non_forest"]}, geometry=[whole, square], crs="EPSG:32720"
    )


def label_raster(path: Path, **profile: object) -> Path:
    """Label values 1 (non-forest) and 2 (forest) on the default grid."""
    data = np.full((1, 96, 80), 2, np.uint8)
    data[0, 24:48, 20:40] = 1
    return write_raster(path, data, **profile)


# --- the bad label files: each writes one into a folder and names it there ---


def folder_named_gpkg(folder: Path) -> Path:
    (folder / "folder.gpkg").mkdir()
    return folder / "folder.gpkg"


def truncated_gpkg(folder: Path) -> Path:
    whole = folder / "whole.gpkg"
    polygons().to_file(whole)
    data = whole.read_bytes()
    (folder / "truncated.gpkg").write_bytes(data[: len(data) // 3])
    return folder / "truncated.gpkg"


def text_named_gpkg(folder: Path) -> Path:
    (folder / "text.gpkg").write_text("class,geometry\nforest,nowhere\n")
    return folder / "text.gpkg"


def gpkg_without_crs(folder: Path) -> Path:
    with pytest.warns(UserWarning, match="crs"):
        polygons().set_crs(None, allow_override=True).to_file(folder / "no_crs.gpkg")
    return folder / "no_crs.gpkg"


def empty_gpkg(folder: Path) -> Path:
    polygons().iloc[:0].to_file(folder / "empty.gpkg")
    return folder / "empty.gpkg"


def gpkg_elsewhere(folder: Path) -> Path:
    far = polygons()
    far.geometry = far.geometry.translate(100_000, 0)
    far.to_file(folder / "elsewhere.gpkg")
    return folder / "elsewhere.gpkg"


def good_gpkg(folder: Path) -> Path:
    polygons(320, 320).to_file(folder / "labels.gpkg")
    return folder / "labels.gpkg"


def gpkg_not_utf8(folder: Path) -> Path:
    return Path(shutil.copy(good_gpkg(folder), folder / f"l{NOT_UTF8}abels.gpkg"))


def folder_named_tif(folder: Path) -> Path:
    (folder / "folder.tif").mkdir()
    return folder / "folder.tif"


def text_named_tif(folder: Path) -> Path:
    (folder / "text.tif").write_text("not a raster\n")
    return folder / "text.tif"


def truncated_tif(folder: Path) -> Path:
    whole = label_raster(folder / "whole.tif", tiled=True)
    data = whole.read_bytes()
    (folder / "truncated.tif").write_bytes(data[: int(len(data) * 0.6)])
    return folder / "truncated.tif"


def tif_without_crs(folder: Path) -> Path:
    path = folder / "no_crs.tif"
    with (
        pytest.warns(NotGeoreferencedWarning),
        rasterio.open(path, "w", driver="GTiff", width=80, height=96, count=1, dtype="uint8") as f,
    ):
        f.write(np.ones((1, 96, 80), np.uint8))
    return path


def tif_elsewhere(folder: Path) -> Path:
    return label_raster(folder / "elsewhere.tif", crs="EPSG:32633")  # same numbers, UTM 33N


def complex_tif(folder: Path) -> Path:
    path = label_raster(folder / "whole.tif")
    with rasterio.open(path) as src:
        profile, data = src.profile | {"dtype": "complex_int16"}, src.read()
    with rasterio.open(folder / "complex.tif", "w", **profile) as dst:
        dst.write(data.astype(np.complex64))
    return folder / "complex.tif"


def good_tif(folder: Path) -> Path:
    return label_raster(folder / "labels.tif")


def tif_not_utf8(folder: Path) -> Path:
    return good_tif(folder).rename(folder / f"l{NOT_UTF8}abels.tif")  # GDAL cannot write it


MAP = ["--map", "1=non_forest,2=forest"]

# (a bad label file, the options given with it, what the line must say)
BAD_LABELS: dict[str, tuple[Callable[[Path], Path], list[str], str]] = {
    "folder named .gpkg": (folder_named_gpkg, [], "a folder, not a label file"),
    "truncated GeoPackage": (truncated_gpkg, [], "cannot read the label polygons"),
    "text named .gpkg": (text_named_gpkg, [], "cannot read the label polygons"),
    "polygons without CRS": (gpkg_without_crs, [], "have no CRS"),
    "empty GeoPackage": (empty_gpkg, [], "holds no label polygons"),
    "polygons elsewhere": (gpkg_elsewhere, [], "no label polygon overlaps"),
    "no such label column": (good_gpkg, ["--label-column", "kind"], "no label column 'kind'"),
    "no value mapped": (good_gpkg, ["--map", "Forest=forest"], "is mapped to a class"),
    "--map without =": (good_gpkg, ["--map", "forest"], "give VALUE=CLASS pairs"),
    "--map to an unknown class": (good_gpkg, ["--map", "forest=trees"], "VALUE=CLASS pairs"),
    "GeoPackage name not UTF-8": (gpkg_not_utf8, [], "not valid UTF-8"),
    "folder named .tif": (folder_named_tif, MAP, "a folder, not a label raster"),
    "text named .tif": (text_named_tif, MAP, "cannot read the label raster"),
    "truncated raster": (truncated_tif, MAP, "Read error"),
    "raster without CRS": (tif_without_crs, MAP, "no CRS"),
    "raster elsewhere (other CRS)": (tif_elsewhere, MAP, "does not overlap"),
    "complex raster": (complex_tif, MAP, "complex values"),
    "raster name not UTF-8": (tif_not_utf8, MAP, "not valid UTF-8"),
    "--map value not an integer": (good_tif, ["--map", "1=non_forest,x=forest"], "integers"),
}


def shown(path: Path) -> str:
    """A file's name as a message writes it (a byte that is not UTF-8 as ``\\xff``)."""
    return path.name.replace(NOT_UTF8, "\\xff")


@pytest.fixture(scope="module")
def training_scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 320 × 320 px scene: large enough that training would go on to its first epoch."""
    return write_raster(
        tmp_path_factory.mktemp("scene") / "forest_2020-01-01.tif",
        forest_scene(320, 320),
        descriptions=BGRN,
    )


def train(scene: Path, labels: str, out: Path, *options: str) -> Result:
    command = ["train", str(scene), "--labels", labels, "-o", str(out)]
    return runner.invoke(app, [*command, "--tile", "64", "--epochs", "1", *options])


def evaluate(classes: Path, labels: Path, report: Path, *options: str) -> Result:
    command = ["evaluate", str(classes), "--labels", str(labels), "--report", str(report)]
    return runner.invoke(app, [*command, *options])


@pytest.mark.parametrize("kind", BAD_LABELS)
def test_train_refuses_bad_labels_in_one_line_before_any_epoch(
    kind: str, training_scene: Path, tmp_path: Path
) -> None:
    make, options, reason = BAD_LABELS[kind]
    labels = make(tmp_path)
    line = one_line(train(training_scene, str(labels), tmp_path / "model", *options))
    assert reason in line
    assert shown(labels) in line or "--map" in line
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize("kind", BAD_LABELS)
def test_evaluate_refuses_bad_labels_in_one_line(kind: str, tmp_path: Path) -> None:
    make, options, reason = BAD_LABELS[kind]
    labels = make(tmp_path)
    classes = write_raster(tmp_path / "classes.tif", np.zeros((1, 96, 80), np.uint8))
    line = one_line(evaluate(classes, labels, tmp_path / "r", *options))
    assert reason in line
    assert shown(labels) in line or "--map" in line
    assert not (tmp_path / "r").exists()


# --- the class raster and the report of ``evaluate`` ---


def class_raster_not_utf8(folder: Path) -> Path:
    classes = write_raster(folder / "classes.tif", np.zeros((1, 96, 80), np.uint8))
    return classes.rename(folder / f"cl{NOT_UTF8}asses.tif")


def complex_class_raster(folder: Path) -> Path:
    return write_raster(
        folder / "classes.tif", np.zeros((1, 96, 80), np.complex64), dtype="complex_int16"
    )


def probability_raster(folder: Path) -> Path:
    return write_raster(folder / "probability.tif", np.zeros((2, 96, 80), np.float32))


BAD_CLASS_RASTERS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "name not UTF-8": (class_raster_not_utf8, "not valid UTF-8"),
    "complex (CInt16)": (complex_class_raster, "complex values (complex_int16)"),
    "probabilities, not classes": (probability_raster, "not class indices"),
    "text named .tif": (text_named_tif, "cannot read the class raster"),
    "truncated": (truncated_tif, "Read error"),
    "missing": (lambda folder: folder / "missing.tif", "no such class raster"),
}


@pytest.mark.parametrize("kind", BAD_CLASS_RASTERS)
def test_evaluate_refuses_a_bad_class_raster_in_one_line(kind: str, tmp_path: Path) -> None:
    make, reason = BAD_CLASS_RASTERS[kind]
    classes = make(tmp_path)
    polygons().to_file(tmp_path / "labels.gpkg")
    line = one_line(evaluate(classes, tmp_path / "labels.gpkg", tmp_path / "r"))
    assert reason in line and shown(classes) in line
    assert not (tmp_path / "r").exists()


def test_evaluate_refuses_a_report_folder_named_not_in_utf8(tmp_path: Path) -> None:
    classes = write_raster(tmp_path / "classes.tif", np.zeros((1, 96, 80), np.uint8))
    polygons().to_file(tmp_path / "labels.gpkg")
    report = tmp_path / f"rep{NOT_UTF8}ort"
    line = one_line(evaluate(classes, tmp_path / "labels.gpkg", report))
    assert "rep\\xffort" in line and "not valid UTF-8" in line
    assert not report.exists()


def test_evaluate_says_when_no_pixel_is_labelled(tmp_path: Path) -> None:
    """Labels that cover the raster but whose values are not the ones mapped: no score."""
    classes = write_raster(tmp_path / "classes.tif", np.zeros((1, 96, 80), np.uint8))
    labels = label_raster(tmp_path / "labels.tif")
    line = one_line(evaluate(classes, labels, tmp_path / "r", "--map", "7=forest"))
    assert "classes.tif: no pixel has both a class and a label" in line and "--map" in line


# --- scenes given to ``train`` and ``info`` ---


def complex_scene(folder: Path) -> Path:
    return write_raster(
        folder / "cint_2020-01-01.tif",
        forest_scene().astype(np.complex64),
        dtype="complex_int16",
        descriptions=BGRN,
    )


def scene_not_utf8(folder: Path) -> Path:
    return Path(shutil.copy(SAMPLES / "pucallpa_2000.tif", folder / f"sc{NOT_UTF8}ene_2020.tif"))


def test_train_refuses_a_complex_scene_in_one_line(tmp_path: Path) -> None:
    scene = complex_scene(tmp_path)
    line = one_line(train(scene, "spectral", tmp_path / "model"))
    assert f"{scene}: complex values (complex_int16)" in line


def test_train_refuses_a_scene_named_not_in_utf8_in_one_line(tmp_path: Path) -> None:
    scene = scene_not_utf8(tmp_path)
    line = one_line(train(scene, "spectral", tmp_path / "model"))
    assert shown(scene) in line and "UTF-8" in line


def test_train_takes_one_scene_and_says_what_a_folder_holds(tmp_path: Path) -> None:
    for name in ("a_2020-01-01", "b_2021-01-01"):
        write_raster(tmp_path / "two" / f"{name}.tif", forest_scene(), descriptions=BGRN)
    (tmp_path / "none").mkdir()
    line = one_line(train(tmp_path / "two", "spectral", tmp_path / "model"))
    assert "two: holds 2 scenes (a_2020-01-01, b_2021-01-01)" in line
    line = one_line(train(tmp_path / "none", "spectral", tmp_path / "model"))
    assert "none: no scenes found" in line


def test_train_refuses_missing_bands_and_a_model_folder_named_not_in_utf8(
    training_scene: Path, tmp_path: Path
) -> None:
    line = one_line(train(training_scene, "spectral", tmp_path / "m", "--bands", "red,nir,swir16"))
    assert "forest_2020-01-01: no band swir16 to train on" in line and "--bands" in line
    line = one_line(train(training_scene, "spectral", tmp_path / f"m{NOT_UTF8}"))
    assert "m\\xff: the name of this model folder is not valid UTF-8" in line


def test_info_shows_a_complex_scene_as_its_problem(tmp_path: Path) -> None:
    scene = complex_scene(tmp_path)
    result = runner.invoke(app, ["info", str(tmp_path)])
    assert result.exit_code == 1, (result.exception, result.output)
    assert "complex values" in result.output and scene.stem in result.output


def test_info_shows_a_scene_named_not_in_utf8_as_its_problem(tmp_path: Path) -> None:
    scene_not_utf8(tmp_path)
    result = runner.invoke(app, ["info", str(tmp_path)])
    assert result.exit_code == 1, (result.exception, result.output)
    assert "sc\\xffene_2020" in result.output and "UTF-8" in result.output


# --- ``process`` ---


def test_process_names_a_scene_file_named_not_in_utf8(tmp_path: Path) -> None:
    """Dask's messages cannot carry the name (its task keys are escaped), and the file is named
    with escapes in one line (it was "UnicodeEncodeError: " naming no file)."""
    (tmp_path / "in").mkdir()
    scene_not_utf8(tmp_path / "in")
    command = ["process", str(tmp_path / "in"), "-o", str(tmp_path / "out")]
    result = runner.invoke(app, [*command, "--workers", "1", "--no-progress"])
    assert result.exit_code == 1, (result.exception, result.output)
    failed = [line for line in result.output.splitlines() if line.startswith("failed: ")]
    assert len(failed) == 1 and "sc\\xffene_2020" in failed[0] and "UTF-8" in failed[0]


def test_a_label_file_this_user_may_not_read_is_named_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """chmod 000 cannot stop root, who runs these tests: the permission is denied by hand."""
    labels = good_tif(tmp_path)
    access = os.access
    monkeypatch.setattr(
        os, "access", lambda path, mode: str(path) != str(labels) and access(path, mode)
    )
    classes = write_raster(tmp_path / "classes.tif", np.zeros((1, 96, 80), np.uint8))
    line = one_line(evaluate(classes, labels, tmp_path / "r", *MAP))
    assert f"{labels}: cannot read the label raster (permission denied)" in line
