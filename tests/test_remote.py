"""Inputs over HTTP: a real nginx (Debian's nginx-light) on 127.0.0.1 serves the bundled
Sentinel-2 sample; geoseg reads it window by window with range requests, and the outputs equal
those of the same file read from disk."""

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio
from distributed import Client

from geoseg import process, testing
from geoseg.manifest import Manifest

from .conftest import S2_SAMPLE


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    """(base URL, the folder it serves, its access log)."""
    if shutil.which("nginx") is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    with testing.nginx(tmp_path_factory.mktemp("nginx")) as server:
        yield server.url, server.www, server.access_log


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
