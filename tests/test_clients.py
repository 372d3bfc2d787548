"""The outputs open in the tools analysts use: GDAL's command-line tools and QGIS.

Each test runs when its tool is installed (``apt-get install gdal-bin``; ``apt-get install
--no-install-recommends qgis``; CI's .ci/run installs both) and is skipped otherwise.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pyogrio
import pytest

from geoseg import SceneResult
from geoseg.geopackage import LAYER

SCENE = "aberystwyth_s2_2021-05-27"
QGIS_PROCESS = Path("/usr/bin/qgis_process.bin")  # Debian's qgis_process wrapper adds a bad flag
# QGIS embeds the system Python and finds its standard library through the `python3` on PATH: an
# activated virtual environment (or pyenv) there hands it another Python's, and it crashes.
QGIS_ENV = {
    k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH"}
} | {
    "QT_QPA_PLATFORM": "offscreen",
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
}


def polygons(sample_run: tuple[Path, list[SceneResult]]) -> Path:
    out, _ = sample_run
    return out / SCENE / "polygons.gpkg"


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="gdal-bin is not installed")
def test_ogrinfo_shows_crs_count_and_spatial_index(sample_run) -> None:
    path = polygons(sample_run)
    summary = subprocess.run(
        ["ogrinfo", "-so", str(path), LAYER], capture_output=True, text=True, check=True
    ).stdout
    count = pyogrio.read_info(path, layer=LAYER)["features"]
    assert count > 10
    assert f"Feature Count: {count}" in summary
    assert "British National Grid" in summary and "Geometry: Multi Polygon" in summary
    index = subprocess.run(
        ["ogrinfo", str(path), "-sql", f"SELECT HasSpatialIndex('{LAYER}', 'geom')"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "HasSpatialIndex (Integer) = 1" in index


@pytest.mark.skipif(shutil.which("gdalinfo") is None, reason="gdal-bin is not installed")
def test_gdalinfo_reads_the_cogs(sample_run) -> None:
    out, _ = sample_run
    info = json.loads(
        subprocess.run(
            ["gdalinfo", "-json", str(out / SCENE / "classes.tif")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert info["metadata"]["IMAGE_STRUCTURE"]["LAYOUT"] == "COG"
    assert info["bands"][0]["noDataValue"] == 255
    assert len(info["bands"][0]["overviews"]) >= 1
    # Class colours and names inside the TIFF (no .aux.xml beside it)
    band = info["bands"][0]
    assert band["colorInterpretation"] == "Palette"
    assert band["colorTable"]["entries"][:2] == [[230, 200, 120, 255], [34, 139, 34, 255]]
    assert band["metadata"][""] == {"CLASS_0": "non_forest", "CLASS_1": "forest"}
    assert not list((out / SCENE).glob("*.aux.xml"))


@pytest.mark.skipif(not QGIS_PROCESS.exists(), reason="QGIS is not installed")
def test_qgis_loads_the_layer_valid_with_every_feature(sample_run) -> None:
    path = polygons(sample_run)
    run = subprocess.run(
        [
            str(QGIS_PROCESS),
            "--json",
            "run",
            "qgis:checkvalidity",
            f"--INPUT_LAYER={path}|layername={LAYER}",
            "--METHOD=2",
            "--VALID_OUTPUT=TEMPORARY_OUTPUT",
            "--INVALID_OUTPUT=TEMPORARY_OUTPUT",
            "--ERROR_OUTPUT=TEMPORARY_OUTPUT",
        ],
        capture_output=True,
        text=True,
        env=QGIS_ENV,
        check=True,
        timeout=120,
    )
    results = json.loads(run.stdout)["results"]
    assert results["VALID_COUNT"] == pyogrio.read_info(path, layer=LAYER)["features"]
    assert results["INVALID_COUNT"] == results["ERROR_COUNT"] == 0
    assert "GeoPackage" not in run.stderr  # no version warning from older QGIS


QGIS_STYLE_CHECK = """
import sys
from qgis.core import QgsApplication, QgsVectorLayer
app = QgsApplication([], False)
app.initQgis()
layer = QgsVectorLayer(sys.argv[1] + "|layername=polygons", "polygons", "ogr")
message, loaded = layer.loadDefaultStyle()
symbol = layer.renderer().symbol()
print(layer.isValid(), loaded, symbol.color().getRgb(), symbol.symbolLayer(0).strokeColor().getRgb())
"""


def _system_python_has_qgis() -> bool:
    python = shutil.which("python3", path="/usr/bin")
    return (
        python is not None
        and subprocess.run(
            [python, "-c", "import qgis.core"], check=False, capture_output=True, env=QGIS_ENV
        ).returncode
        == 0
    )


@pytest.mark.skipif(not _system_python_has_qgis(), reason="python3-qgis is not installed")
def test_qgis_opens_the_layer_with_its_stored_default_style(sample_run) -> None:
    out = subprocess.run(
        ["/usr/bin/python3", "-c", QGIS_STYLE_CHECK, str(polygons(sample_run))],
        capture_output=True,
        text=True,
        env=QGIS_ENV,
        check=True,
        timeout=120,
    )
    assert out.stdout.split("\n")[-2] == "True True (255, 120, 0, 110) (200, 30, 0, 255)"


# Renders each raster as QGIS opens it (its default style) to a PNG; reports the renderer, its
# classes, and the most common colours of the picture.
QGIS_RENDER = """
import json, sys
from qgis.core import QgsApplication, QgsMapRendererSequentialJob, QgsMapSettings, QgsRasterLayer
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor
app = QgsApplication([], False)
app.initQgis()
report = {}
for raster, png in zip(sys.argv[1::2], sys.argv[2::2]):
    layer = QgsRasterLayer(raster, "layer")
    renderer = layer.renderer()
    entry = {"renderer": renderer.type(), "bands": renderer.usesBands()}
    if renderer.type() == "paletted":
        entry["classes"] = [[int(c.value), c.label, list(c.color.getRgb()[:3])]
                            for c in renderer.classes()]
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(layer.crs())
    settings.setExtent(layer.extent())
    settings.setOutputSize(QSize(400, 400))
    settings.setBackgroundColor(QColor(255, 255, 255))
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    image.save(png)
    counts = {}
    for x in range(0, image.width(), 4):
        for y in range(0, image.height(), 4):
            rgb = str(list(QColor(image.pixel(x, y)).getRgb()[:3]))
            counts[rgb] = counts.get(rgb, 0) + 1
    entry["colours"] = counts
    report[raster] = entry
print(json.dumps(report))
"""


@pytest.mark.skipif(not _system_python_has_qgis(), reason="python3-qgis is not installed")
def test_qgis_shows_classes_in_their_colours_and_probability_as_one_band(
    sample_run, tmp_path: Path
) -> None:
    """QGIS opens classes.tif paletted with named classes, drawn in the class colours, and
    probability.tif as one band (forest) on a ramp, not as an RGB composite of its bands."""
    out, _ = sample_run
    classes, probability = out / SCENE / "classes.tif", out / SCENE / "probability.tif"
    run = subprocess.run(
        [
            "/usr/bin/python3",
            "-c",
            QGIS_RENDER,
            *(str(classes), str(tmp_path / "classes.png")),
            *(str(probability), str(tmp_path / "probability.png")),
        ],
        capture_output=True,
        text=True,
        env=QGIS_ENV,
        check=True,
        timeout=120,
    )
    report = json.loads(run.stdout.strip().splitlines()[-1])
    shown = report[str(classes)]
    assert shown["renderer"] == "paletted"
    assert shown["classes"] == [[0, "non_forest", [230, 200, 120]], [1, "forest", [34, 139, 34]]]
    colours = shown["colours"]
    assert set(colours) <= {"[230, 200, 120]", "[34, 139, 34]", "[255, 255, 255]"}
    assert colours["[34, 139, 34]"] > colours["[230, 200, 120]"] > 0  # a mostly forested scene
    ramp = report[str(probability)]
    assert ramp["renderer"] == "singlebandpseudocolor" and ramp["bands"] == [2]
