"""Manifests are trusted only as written: their own checksum, their outputs' digests, and output
names that stay inside their folder."""

import json
from pathlib import Path

import pytest
from distributed import Client

from geoseg import ProcessConfig, process
from geoseg.errors import ConfigError
from geoseg.manifest import MANIFEST, Manifest, listed_outputs
from geoseg.pipeline.vectorize import described_raster

from .conftest import BGRN, forest_scene, write_raster


@pytest.fixture
def processed(client: Client, tmp_path: Path) -> Path:
    scene = write_raster(tmp_path / "forest.tif", forest_scene(), descriptions=BGRN)
    [result] = process(scene, tmp_path / "out", ProcessConfig(), client=client)
    assert result.status == "done", result.message
    return tmp_path / "out" / "forest"


def edit(folder: Path, change: dict) -> None:
    manifest = json.loads((folder / MANIFEST).read_text())
    (folder / MANIFEST).write_text(json.dumps(manifest | change))


def test_a_manifest_records_its_outputs_digests_and_its_own_checksum(processed: Path) -> None:
    manifest = Manifest.read(processed)
    assert manifest is not None and manifest.checksum == manifest.own_checksum()
    assert set(manifest.files) == set(manifest.outputs.values())
    assert manifest.files["classes.tif"].size == (processed / "classes.tif").stat().st_size


@pytest.mark.parametrize(
    "change",
    [
        {"parameters": {"tile_size": 1}},
        {"fingerprint": "0" * 64},
        {"checksum": None},
    ],
)
def test_an_edited_manifest_is_not_trusted(processed: Path, client: Client, change: dict) -> None:
    edit(processed, change)
    with pytest.raises(ConfigError, match="edited or damaged"):
        Manifest.read(processed)
    [again] = process(processed.parent.parent / "forest.tif", processed.parent, client=client)
    assert again.status == "done"  # written again, not "up to date"
    assert Manifest.read(processed) is not None


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/hostname", "..", "sub/classes.tif"])
def test_output_names_never_leave_the_folder(processed: Path, name: str) -> None:
    manifest = json.loads((processed / MANIFEST).read_text())
    manifest["outputs"]["probability"] = name
    manifest["class_rasters"]["classes"]["probability"] = name
    (processed / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ConfigError, match="not a manifest this geoseg reads"):
        Manifest.read(processed)
    with pytest.raises(ConfigError):
        described_raster(processed / "classes.tif")


def test_vectorize_refuses_a_class_raster_whose_manifest_was_edited(processed: Path) -> None:
    """What ``geoseg vectorize`` reads beside a class raster: an edited manifest is refused,
    not followed (class names swapped here)."""
    edit(processed, {"class_rasters": {"classes": {"classes": ["forest", "non_forest"]}}})
    with pytest.raises(ConfigError, match="edited or damaged"):
        described_raster(processed / "classes.tif")


def test_listed_outputs_reads_any_manifest_loosely_and_keeps_plain_names(tmp_path: Path) -> None:
    """What a rerun may remove as an earlier run's outputs: the file names a manifest lists, of
    any layout (an older geoseg's too), never a path leading out of the folder."""
    assert listed_outputs(tmp_path) == set()
    (tmp_path / MANIFEST).write_text(
        json.dumps({"outputs": {"quicklook": "quicklook.png", "x": "../elsewhere.tif", "y": 3}})
    )
    assert listed_outputs(tmp_path) == {"quicklook.png"}
    (tmp_path / MANIFEST).write_text("not json")
    assert listed_outputs(tmp_path) == set()
