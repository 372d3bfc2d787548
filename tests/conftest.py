"""Shared fixtures: the bundled samples, a writer of tiny real GeoTIFFs, and one real Dask cluster."""

import datetime as dt
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
from affine import Affine
from distributed import Client
from pystac.extensions.eo import Band, EOExtension
from pystac.extensions.raster import RasterBand, RasterExtension

from geoseg import ProcessConfig, SceneResult, process, testing
from geoseg.cluster.connect import local_cluster
from geoseg.locations import s3_client

os.environ.setdefault("HF_HUB_OFFLINE", "1")
SAMPLES = Path(__file__).resolve().parent.parent / "samples"
S2_SAMPLE = SAMPLES / "aberystwyth_s2_2021-05-27.tif"


def write_raster(
    path: Path,
    data: np.ndarray,
    *,
    crs: str = "EPSG:32720",
    transform: Affine | None = None,
    descriptions: Sequence[str] | None = None,
    nodata: float | None = None,
    scales: Sequence[float] | None = None,
    tiled: bool = False,
    **profile: object,
) -> Path:
    """Write ``data`` (bands, rows, cols) as a GeoTIFF with a real CRS and a 10 m transform."""
    transform = transform or Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 9_000_000.0)
    meta = {
        "driver": "GTiff",
        "count": data.shape[0],
        "height": data.shape[1],
        "width": data.shape[2],
        "dtype": data.dtype,
        "crs": crs,
        "transform": transform,
        "nodata": nodata,
        "compress": "deflate",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    if tiled:
        meta |= {"tiled": True, "blockxsize": 16, "blockysize": 16}
    with rasterio.open(path, "w", **(meta | profile)) as dst:
        dst.write(data)
        if descriptions:
            dst.descriptions = tuple(descriptions)
        if scales:
            dst.scales = tuple(scales)
    return path


def forest_scene(rows: int = 96, cols: int = 80, seed: int = 0) -> np.ndarray:
    """4-band (blue, green, red, nir) uint16 reflectance × 10000: forest with a cleared square."""
    rng = np.random.default_rng(seed)
    data = np.empty((4, rows, cols), np.uint16)
    data[0], data[1] = (
        300 + rng.integers(0, 50, (rows, cols)),
        600 + rng.integers(0, 50, (rows, cols)),
    )
    data[2] = 300 + rng.integers(0, 80, (rows, cols))
    data[3] = 3500 + rng.integers(0, 400, (rows, cols))
    data[2, rows // 4 : rows // 2, cols // 4 : cols // 2] = 2200  # bare soil: red up, NIR down
    data[3, rows // 4 : rows // 2, cols // 4 : cols // 2] = 2600
    return data


BGRN = ("blue", "green", "red", "nir")


@pytest.fixture(scope="session")
def client() -> Iterator[Client]:
    """A real LocalCluster with two worker processes, shared by the end-to-end tests. Plain TCP
    on 127.0.0.1: many tests hand its address to a CLI subprocess, which has no certificate (the
    embedded cluster's TLS is tested in tests/test_security.py)."""
    with local_cluster(n_workers=2, tls=False) as cluster, Client(cluster) as c:
        yield c


@pytest.fixture(scope="session")
def sample_run(
    client: Client, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[SceneResult]]:
    """Every bundled sample processed once with the built-in model (blocks of 256 px)."""
    out = tmp_path_factory.mktemp("samples_out")
    return out, process(SAMPLES, out, ProcessConfig(block_size=256), client=client)


def write_huge_sparse(path: Path) -> Path:
    """A GeoTIFF claiming 1,000,000² pixels in a few MB (tile offsets only, no data written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "GTiff",
        "count": 4,
        "height": 1_000_000,
        "width": 1_000_000,
        "dtype": "uint16",
        "crs": "EPSG:32720",
        "transform": Affine(10, 0, 500_000, 0, -10, 9_000_000),
        "tiled": True,
        "blockxsize": 2048,
        "blockysize": 2048,
        "sparse_ok": True,
        "bigtiff": "YES",
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.descriptions = BGRN
    return path


PUCALLPA_BANDS = {"swir16": "SWIR1", "nir": "NIR", "red": "Red", "green": "Green"}  # file order


def split_bands(scene: Path, folder: Path) -> dict[str, Path]:
    """Each band of a multi-band ``scene`` as a file of its own (tiled, same grid), by canonical
    name: a per-band set as STAC catalogs list them. File names carry no band code."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    with rasterio.open(scene) as src:
        profile = src.profile | {"count": 1, "tiled": True, "blockxsize": 256, "blockysize": 256}
        for index, name in enumerate(PUCALLPA_BANDS, start=1):
            files[name] = folder / f"{scene.stem}-layer{index}.tif"
            with rasterio.open(files[name], "w", **profile) as dst:
                dst.write(src.read(index), 1)
    return files


def band_item(
    item_id: str,
    when: dt.datetime,
    hrefs: dict[str, str],
    bounds: tuple[float, float, float, float] = (-74.72, -8.59, -74.16, -8.28),
    scale: float | None = 1 / 255,
) -> pystac.Item:
    """A STAC item with one asset per band (``eo:bands`` common name, ``raster:bands`` scale),
    plus a true-colour ``visual`` asset and a thumbnail that are not bands."""
    west, south, east, north = bounds
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    item = pystac.Item(item_id, {"type": "Polygon", "coordinates": [ring]}, list(bounds), when, {})
    for name, href in hrefs.items():
        asset = pystac.Asset(href, media_type=pystac.MediaType.COG, roles=["data"])
        item.add_asset(f"asset-{name}", asset)
        EOExtension.ext(asset, add_if_missing=True).bands = [
            Band.create(name=PUCALLPA_BANDS[name], common_name=name)
        ]
        if scale is not None:
            RasterExtension.ext(asset, add_if_missing=True).bands = [
                RasterBand.create(scale=scale, offset=0.0)
            ]
    # Never opened: neither file exists.
    item.add_asset(
        "visual", pystac.Asset("tci.tif", media_type=pystac.MediaType.COG, roles=["visual"])
    )
    item.add_asset("thumbnail", pystac.Asset("thumb.png", media_type=pystac.MediaType.PNG))
    return item


# --- real servers for remote inputs (geoseg.testing), started once per test module ---


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    """(base URL, the folder it serves, its access log)."""
    if shutil.which("nginx") is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    with testing.nginx(tmp_path_factory.mktemp("nginx")) as server:
        yield server.url, server.www, server.access_log


SECRET = "geoseg-test-secret-Zq8Wm3"  # must appear in no output, manifest, log or message


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """moto's S3 server with bucket ``scenes`` holding the Pucallpa samples (one in a
    sub-prefix); yields the settings that reach it."""
    pytest.importorskip("moto", reason="moto[server] is not installed")
    root = tmp_path_factory.mktemp("s3")
    with testing.s3_server(root, "geoseg-test-key", SECRET) as server:
        with pytest.MonkeyPatch.context() as env:
            for key, value in server.settings.items():
                env.setenv(key, value)
            bucket = s3_client()
            bucket.create_bucket(Bucket="scenes")
            bucket.upload_file(
                str(SAMPLES / "pucallpa_2000.tif"), "scenes", "peru/pucallpa_2000.tif"
            )
            bucket.upload_file(
                str(SAMPLES / "pucallpa_2020.tif"), "scenes", "peru/later/pucallpa_2020.tif"
            )
        yield server.settings
