"""Remote inputs from real servers on 127.0.0.1: nginx (Debian's nginx-light) serves files and
STAC items over HTTP, moto's server serves an S3 bucket. geoseg reads them window by window with
range requests, and the outputs equal those of the same files read from disk."""

import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
from distributed import Client

from geoseg import ProcessConfig, change_pairs, process
from geoseg.manifest import Manifest

from .conftest import S2_SAMPLE, SAMPLES, SECRET, band_item, split_bands


def test_a_scene_over_http_equals_the_same_file_on_disk(
    nginx: tuple[str, Path, Path], client: Client, tmp_path: Path
) -> None:
    base, www, log = nginx
    shutil.copy(S2_SAMPLE, www / S2_SAMPLE.name)
    url = f"{base}/{S2_SAMPLE.name}"
    [remote] = process(url, tmp_path / "remote", client=client)
    [local] = process(S2_SAMPLE, tmp_path / "local", client=client)
    assert remote.status == local.status == "done", remote.message
    assert remote.name == local.name == S2_SAMPLE.stem
    for layer in ("probability", "classes"):
        with rasterio.open(remote.outputs[layer]) as a, rasterio.open(local.outputs[layer]) as b:
            np.testing.assert_array_equal(a.read(), b.read())
    requests = log.read_text().splitlines()
    assert any(" 206 " in line for line in requests)  # range requests, not whole downloads
    manifest = Manifest.read(tmp_path / "remote" / S2_SAMPLE.stem)
    assert manifest is not None
    assert manifest.inputs[0].path == url and manifest.inputs[0].size == S2_SAMPLE.stat().st_size
    [again] = process(url, tmp_path / "remote", client=client)
    assert (again.status, again.message) == ("skipped", "up to date")


def test_a_missing_url_fails_alone_in_one_line(
    nginx: tuple[str, Path, Path], client: Client, tmp_path: Path
) -> None:
    base, _, _ = nginx
    [result] = process(f"{base}/missing_2020-01-01.tif", tmp_path / "out", client=client)
    assert result.status == "failed"
    assert "missing_2020-01-01.tif: not found on the server" in result.message
    assert "corrupt" not in result.message and "\n" not in result.message


def test_the_command_line_takes_a_url(
    nginx: tuple[str, Path, Path], client: Client, tmp_path: Path
) -> None:
    """``geoseg process http://...``: the URL reaches the API whole (not as a path)."""
    from typer.testing import CliRunner

    from geoseg.cli import app

    base, www, _ = nginx
    shutil.copy(S2_SAMPLE, www / S2_SAMPLE.name)
    args = ["process", f"{base}/{S2_SAMPLE.name}", "-o", str(tmp_path), "--no-progress"]
    result = CliRunner().invoke(app, [*args, "--scheduler", client.scheduler.address])
    assert result.exit_code == 0, result.output
    assert (tmp_path / S2_SAMPLE.stem / "classes.tif").exists()


def same_rasters(a: dict[str, Path], b: dict[str, Path]) -> None:
    for layer in ("probability", "classes"):
        with rasterio.open(a[layer]) as left, rasterio.open(b[layer]) as right:
            np.testing.assert_array_equal(left.read(), right.read(), err_msg=layer)


def test_scenes_in_s3_equal_the_same_files_on_disk_and_no_secret_is_written(
    s3: dict[str, str], client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in s3.items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "s3"
    remote = process("s3://scenes/peru/", out, ProcessConfig(block_size=256), client=client)
    local = process(
        SAMPLES / "pucallpa_2000.tif",
        tmp_path / "local",
        ProcessConfig(block_size=256),
        client=client,
    )
    assert [(r.name, r.status) for r in remote] == [
        ("pucallpa_2000", "done"),
        ("pucallpa_2020", "done"),
    ], [r.message for r in remote]
    same_rasters(remote[0].outputs, local[0].outputs)
    manifest = Manifest.read(out / "pucallpa_2000")
    assert manifest is not None and manifest.inputs[0].path == "s3://scenes/peru/pucallpa_2000.tif"
    again = process("s3://scenes/peru/", out, ProcessConfig(block_size=256), client=client)
    assert [r.message for r in again] == ["up to date"] * 2
    [missing] = process("s3://scenes/peru/none_2021.tif", out, client=client)
    assert missing.status == "failed" and "not found in the bucket" in missing.message
    logs = [client.get_scheduler_logs(), *client.get_worker_logs().values()]
    for text in [r.message for r in (*remote, missing)] + [
        p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file()
    ]:
        assert SECRET not in text
    assert SECRET not in repr(logs)


def test_a_stac_item_collection_of_band_files_over_http_equals_the_local_file(
    nginx: tuple[str, Path, Path], client: Client, tmp_path: Path
) -> None:
    """Per-band files listed by STAC items, served by nginx: read window by window, and the
    outputs equal those of the multi-band file on disk; change pairs work over the items."""
    base, www, _ = nginx
    items = []
    for year in (2000, 2020):
        files = split_bands(SAMPLES / f"pucallpa_{year}.tif", www / "bands")
        hrefs = {name: f"{base}/bands/{path.name}" for name, path in files.items()}
        items.append(band_item(f"pucallpa-{year}", dt.datetime(year, 7, 1, tzinfo=dt.UTC), hrefs))
    collection = www / "items.json"
    collection.write_text(json.dumps(pystac.ItemCollection(items).to_dict()))
    url = f"{base}/items.json"
    config = ProcessConfig(block_size=256)
    remote = process(url, tmp_path / "remote", config, client=client)
    local = process(SAMPLES / "pucallpa_2000.tif", tmp_path / "local", config, client=client)
    assert [r.status for r in remote] == ["done", "done"], [r.message for r in remote]
    same_rasters(remote[0].outputs, local[0].outputs)
    [pair] = change_pairs(url, tmp_path / "change", config, client=client)
    assert pair.status == "done", pair.message
    assert pair.name == "pucallpa-2000__pucallpa-2020"
    assert pair.summary is not None and pair.summary.loss_ha > 0
