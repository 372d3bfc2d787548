"""The ``geoseg`` command, run in-process with Typer's runner (and once as ``python -m geoseg``)."""

import os
import subprocess
import sys
from pathlib import Path

import pyogrio
from distributed import Client
from typer.testing import CliRunner

from geoseg import __version__
from geoseg.cli import app

from .conftest import BGRN, SAMPLES, forest_scene, write_raster

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"geoseg {__version__}"


def test_python_dash_m_runs_the_cli() -> None:
    out = subprocess.run([sys.executable, "-m", "geoseg", "--version"], capture_output=True,
                         text=True, check=True)
    assert __version__ in out.stdout


def test_shell_completion_completes_commands() -> None:
    """Typer's completion: the script installs, and the completer answers a partial command."""
    script = subprocess.run([sys.executable, "-m", "geoseg", "--show-completion", "bash"],
                            capture_output=True, text=True, check=True)
    assert "_geoseg_completion" in script.stdout or "complete" in script.stdout
    env = {**os.environ, "COMP_WORDS": "geoseg pro", "COMP_CWORD": "1",
           "_GEOSEG_COMPLETE": "complete_bash"}
    geoseg = Path(sys.executable).parent / "geoseg"
    answer = subprocess.run([str(geoseg)], capture_output=True, text=True, env=env, check=False)
    assert answer.stdout.split() == ["process"]


def test_process_on_an_embedded_cluster(tmp_path: Path) -> None:
    write_raster(tmp_path / "in" / "forest.tif", forest_scene(), descriptions=BGRN)
    result = runner.invoke(app, ["process", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                                 "--workers", "1", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "Dask dashboard: http" in result.output
    assert (tmp_path / "out" / "forest" / "classes.tif").exists()


def test_process_on_a_running_scheduler_reports_a_bad_scene(client: Client, tmp_path: Path
                                                            ) -> None:
    write_raster(tmp_path / "in" / "forest.tif", forest_scene(), descriptions=BGRN)
    (tmp_path / "in" / "broken.tif").write_bytes(b"not a tiff at all")
    result = runner.invoke(app, ["process", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                                 "--scheduler", client.scheduler.address, "--no-progress",
                                 "--tile", "64", "--overlap", "16"])
    assert result.exit_code == 1, result.output
    failed = [line for line in result.output.splitlines() if line.startswith("failed:")]
    assert len(failed) == 1 and "broken.tif: cannot read" in failed[0]
    assert (tmp_path / "out" / "forest" / "probability.tif").exists()
    assert not (tmp_path / "out" / "broken").exists() or not any(
        (tmp_path / "out" / "broken").glob("*.tif"))


def test_bad_options_and_paths_are_one_line_errors(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["process", str(tmp_path / "nowhere"), "-o", str(tmp_path)])
    assert missing.exit_code == 2
    assert missing.output.strip().splitlines()[-1].startswith("error: ")
    assert "no such scene file or directory" in missing.output
    bad_overlap = runner.invoke(app, ["process", str(SAMPLES), "-o", str(tmp_path),
                                      "--blend", "median"])
    assert bad_overlap.exit_code == 2
    assert "blend 'median' is not one of" in bad_overlap.output


def test_info_shows_band_mapping_and_problems(tmp_path: Path) -> None:
    ok = runner.invoke(app, ["info", str(SAMPLES)])
    assert ok.exit_code == 0, ok.output
    assert "B4→red" in ok.output and "sentinel2" in ok.output and "SWIR1→swir16" in ok.output
    assert "EPSG:27700" in ok.output and "nodata: none" in ok.output
    write_raster(tmp_path / "good.tif", forest_scene(), descriptions=BGRN, nodata=0)
    (tmp_path / "broken.tif").write_bytes(b"garbage")
    bad = runner.invoke(app, ["info", str(tmp_path)])
    assert bad.exit_code == 1
    assert "cannot read" in bad.output and "broken" in bad.output
    assert "nodata: 0" in bad.output  # the good scene beside it is still described


def test_vectorize_command_names_the_class_from_the_manifest(sample_run, tmp_path: Path) -> None:
    out, _ = sample_run
    classes = out / "pucallpa_2000" / "classes.tif"
    gpkg = tmp_path / "clearings.gpkg"
    result = runner.invoke(app, ["vectorize", str(classes), "-o", str(gpkg), "--class",
                                 "non_forest", "--min-area-ha", "5", "--window", "256",
                                 "--workers", "1"])
    assert result.exit_code == 0, result.output
    table = pyogrio.read_dataframe(gpkg, layer="polygons")
    assert len(table) > 0 and (table["area_ha"] >= 5).all()
    assert set(table["scene"]) == {"pucallpa_2000"} and set(table["date"]) == {"2000-01-01"}
    unknown = runner.invoke(app, ["vectorize", str(classes), "-o", str(gpkg), "--class", "cloud"])
    assert unknown.exit_code == 2 and "unknown class 'cloud'" in unknown.output
