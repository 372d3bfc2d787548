"""Scenes: finding them, naming their bands, grids, reflectance scale, dates and bad input."""

import datetime as dt
import os
import pickle
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.errors import NotGeoreferencedWarning
from rasterio.windows import Window

from geoseg.errors import ConfigError, GeosegNote, SceneError
from geoseg.scenes import (
    Scene,
    SceneOptions,
    SceneSource,
    acquisition_date,
    find_scenes,
    inspect_scenes,
    open_scene,
)

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
UTM = "EPSG:32720"  # WGS 84 / UTM 20S (Amazon)
T10 = Affine(10.0, 0.0, 552_000.0, 0.0, -10.0, 8_950_000.0)
T20 = Affine(20.0, 0.0, 552_000.0, 0.0, -20.0, 8_950_000.0)
T30 = Affine(30.0, 0.0, 552_000.0, 0.0, -30.0, 8_950_000.0)
LC08 = "LC08_L2SP_224063_20200801_20200807_02_T1"
LT05 = "LT05_L2SP_015053_19860206_20200917_02_T1"


def tif(
    path: Path,
    data: np.ndarray,
    *,
    crs: str | None = UTM,
    transform: Affine | None = T10,
    descriptions: Sequence[str] | None = None,
    nodata: float | None = None,
    scales: Sequence[float] | None = None,
    offsets: Sequence[float] | None = None,
    tags: dict[str, str] | None = None,
    **profile: object,
) -> Path:
    """Write ``data`` (bands, rows, cols) as a small GeoTIFF."""
    data = data if data.ndim == 3 else data[None]
    meta = {
        "driver": "GTiff",
        "count": data.shape[0],
        "height": data.shape[1],
        "width": data.shape[2],
        "dtype": data.dtype,
        "crs": crs,
        "transform": transform,
        "nodata": nodata,
    } | profile
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", **{k: v for k, v in meta.items() if v is not None}) as dst:
        dst.write(data)
        if descriptions:
            dst.descriptions = tuple(descriptions)
        if scales:
            dst.scales = tuple(scales)
        if offsets:
            dst.offsets = tuple(offsets)
        if tags:
            dst.update_tags(**tags)
    return path


def const(value: float, shape: tuple[int, int] = (8, 8), dtype: str = "uint16") -> np.ndarray:
    return np.full(shape, value, dtype)


def bgrn(path: Path, **kw: Any) -> Path:
    """A 4-band uint16 file with band descriptions blue, green, red, nir (values 100..400)."""
    data = np.stack([const(100 * (i + 1)) for i in range(4)])
    return tif(path, data, descriptions=("blue", "green", "red", "nir"), **kw)


def s2_folder(folder: Path, prefix: str = "", suffix: bool = False) -> Path:
    """Sentinel-2 per-band files: 10 m B02 B03 B04 B08 (16 × 16), 20 m B8A B11 B12 SCL (8 × 8)."""
    for k, code in enumerate(("B02", "B03", "B04", "B08")):
        tif(
            folder / f"{prefix}{code}{'_10m' if suffix else ''}.tif",
            const(1000 * (k + 1), (16, 16)),
        )
    for k, code in enumerate(("B8A", "B11", "B12")):
        tif(
            folder / f"{prefix}{code}{'_20m' if suffix else ''}.tif",
            const(5000 + 1000 * k),
            transform=T20,
        )
    tif(
        folder / f"{prefix}SCL{'_20m' if suffix else ''}.tif",
        np.arange(64, dtype=np.uint8).reshape(8, 8),
        transform=T20,
    )
    return folder


def landsat_folder(
    folder: Path,
    product: str = LC08,
    codes: Sequence[int] = (2, 3, 4, 5, 6, 7),
    extra: Sequence[str] = (),
) -> Path:
    """Landsat Collection-2 L2 files: SR_B* (DN 10000 + 1000 × band), QA_PIXEL, extra layers."""
    for code in codes:
        tif(
            folder / f"{product}_SR_B{code}.TIF",
            const(10_000 + 1000 * code),
            transform=T30,
            nodata=0,
        )
    tif(folder / f"{product}_QA_PIXEL.TIF", const(21824), transform=T30, nodata=1)
    for layer in extra:
        tif(folder / f"{product}_{layer}.TIF", const(7), transform=T30)
    return folder


def one_line_error(excinfo: pytest.ExceptionInfo, *parts: str) -> str:
    message = str(excinfo.value)
    assert "\n" not in message, message
    for part in parts:
        assert part in message, message
    return message


def open_one(path: Path, options: SceneOptions | None = None) -> Scene:
    """Open one file as its own scene."""
    return open_scene(SceneSource(path.stem, (str(path),)), options or SceneOptions())


def names(scene: Scene) -> dict[str, str]:
    return {b.label: b.name for b in scene.bands}


# --- finding scenes ----------------------------------------------------------------------------


def test_find_multiband_files_one_scene_each(tmp_path: Path) -> None:
    bgrn(tmp_path / "site_a_2021-05-27.tif")
    bgrn(tmp_path / "site_b.TIFF")
    (tmp_path / "notes.txt").write_text("not a raster")
    bgrn(tmp_path / ".hidden.tif")
    found = find_scenes(tmp_path)
    assert [(s.name, len(s.paths), s.per_band) for s in found] == [
        ("site_a_2021-05-27", 1, False),
        ("site_b", 1, False),
    ]
    assert find_scenes(tmp_path / "site_b.TIFF") == [found[1]]
    with pytest.raises(ConfigError, match="no such scene file or directory"):
        find_scenes(tmp_path / "missing")


def test_find_sentinel2_subfolder_is_one_scene(tmp_path: Path) -> None:
    s2_folder(tmp_path / "S2A_20210527_amazon")
    bgrn(tmp_path / "other.tif")
    found = find_scenes(tmp_path)
    assert [s.name for s in found] == ["S2A_20210527_amazon", "other"]
    s2 = found[0]
    assert s2.per_band
    assert [Path(p).stem for p in s2.paths] == [
        "B02",
        "B03",
        "B04",
        "B08",
        "B11",
        "B12",
        "B8A",
        "SCL",
    ]


def test_find_landsat_files_grouped_by_product_id(tmp_path: Path) -> None:
    landsat_folder(tmp_path, extra=("ST_QA", "SR_QA_AEROSOL", "QA_RADSAT"))
    [scene] = find_scenes(tmp_path)
    assert scene.name == LC08
    assert len(scene.paths) == 6 + 1 + 3


def test_find_two_groups_in_one_folder_are_two_scenes(tmp_path: Path) -> None:
    s2_folder(tmp_path / "tiles", "T20LNR_20210601_", suffix=True)
    s2_folder(tmp_path / "tiles", "T20LNR_20210611_", suffix=True)
    found = find_scenes(tmp_path)
    assert [(s.name, len(s.paths)) for s in found] == [
        ("T20LNR_20210601", 8),
        ("T20LNR_20210611", 8),
    ]
    assert all("20210601" in p for p in found[0].paths)
    dates = [open_scene(s).date for s in found]
    assert dates == [dt.date(2021, 6, 1), dt.date(2021, 6, 11)]


def test_find_per_band_files_in_root_named_by_prefix_or_folder(tmp_path: Path) -> None:
    landsat_folder(tmp_path / "batch", LC08)
    landsat_folder(tmp_path / "batch", LT05, codes=(1, 2, 3, 4, 5, 7))
    s2_folder(tmp_path / "plain")
    assert [s.name for s in find_scenes(tmp_path / "batch")] == [LC08, LT05]
    assert [s.name for s in find_scenes(tmp_path / "plain")] == ["plain"]


def test_find_gives_scenes_with_one_name_their_folder_in_front(tmp_path: Path) -> None:
    bgrn(tmp_path / "2020" / "composite.tif")
    bgrn(tmp_path / "2021" / "composite.tif")
    bgrn(tmp_path / "composite_2022.tif")
    assert [s.name for s in find_scenes(tmp_path)] == [
        "2020-composite",
        "2021-composite",
        "composite_2022",
    ]


def test_find_refuses_names_it_cannot_tell_apart(tmp_path: Path) -> None:
    bgrn(tmp_path / "x.tif")
    bgrn(tmp_path / "x.TIF")
    with pytest.raises(ConfigError) as excinfo:
        find_scenes(tmp_path)
    one_line_error(excinfo, "x.TIF and ", "x.tif", "would both be scene")


# --- band mapping and sensor -------------------------------------------------------------------


def test_open_sentinel2_per_band_scene(tmp_path: Path) -> None:
    [source] = find_scenes(s2_folder(tmp_path / "s2"))
    scene = open_scene(source)
    assert scene.sensor == "sentinel2"
    assert names(scene) == {
        "B02": "blue",
        "B03": "green",
        "B04": "red",
        "B08": "nir",
        "B8A": "nir08",
        "B11": "swir16",
        "B12": "swir22",
        "SCL": "scl",
    }
    assert scene.grid.transform == T10 and scene.grid.shape == (16, 16)
    assert scene.grid.crs == rasterio.CRS.from_string(UTM)
    assert {b.name for b in scene.bands if b.on_grid} == {"blue", "green", "red", "nir"}
    assert scene.band("red").path.endswith("B04.tif") and scene.band("red").index == 1
    assert scene.band("red").scale == pytest.approx(1e-4)
    assert (scene.band("scl").scale, scene.band("scl").offset) == (1.0, 0.0)  # codes kept
    assert scene.scale_source == "default-integer-1e4"
    assert scene.unmapped == ()
    assert len(scene.paths) == 8
    assert pickle.loads(pickle.dumps(scene)) == scene


def test_open_landsat8_collection2_scene(tmp_path: Path) -> None:
    [source] = find_scenes(landsat_folder(tmp_path, extra=("ST_QA",)))
    scene = open_scene(source)
    assert scene.sensor == "landsat-oli"
    assert names(scene) == {
        "SR_B2": "blue",
        "SR_B3": "green",
        "SR_B4": "red",
        "SR_B5": "nir",
        "SR_B6": "swir16",
        "SR_B7": "swir22",
        "QA_PIXEL": "qa_pixel",
    }
    assert scene.unmapped == ("ST_QA",)
    assert (scene.band("nir").scale, scene.band("nir").offset) == (2.75e-5, -0.2)
    assert (scene.band("qa_pixel").scale, scene.band("qa_pixel").offset) == (1.0, 0.0)
    assert scene.scale_source == "landsat-c2"
    assert (scene.date, scene.date_precision) == (dt.date(2020, 8, 1), "day")
    data, valid = scene.read(Window(0, 0, 8, 8), ("red", "nir", "qa_pixel"))
    assert valid.all()
    np.testing.assert_allclose(data[0], 14_000 * 2.75e-5 - 0.2, rtol=1e-6)
    np.testing.assert_allclose(data[1], 15_000 * 2.75e-5 - 0.2, rtol=1e-6)
    np.testing.assert_array_equal(data[2], 21824)


def test_open_landsat5_collection2_scene_b4_is_nir(tmp_path: Path) -> None:
    [source] = find_scenes(landsat_folder(tmp_path, LT05, codes=(1, 2, 3, 4, 5, 7)))
    scene = open_scene(source)
    assert scene.sensor == "landsat-tm"
    assert names(scene)["SR_B4"] == "nir" and names(scene)["SR_B3"] == "red"
    assert names(scene)["SR_B5"] == "swir16"
    assert scene.date == dt.date(1986, 2, 6)


def test_landsat_codes_without_product_id_use_sr_b6_to_tell_oli(tmp_path: Path) -> None:
    for code in (2, 3, 4, 5, 6, 7):
        tif(tmp_path / "scene" / f"SR_B{code}.tif", const(9000), transform=T30)
    scene = open_scene(find_scenes(tmp_path)[0])
    assert scene.sensor == "landsat-oli"
    assert names(scene)["SR_B5"] == "nir"


@pytest.mark.parametrize(
    ("descriptions", "stem", "sensor", "expected"),
    [
        (
            ("B2", "B3", "B4", "B8", "B8A", "B11"),
            "mosaic",
            "sentinel2",
            ("blue", "green", "red", "nir", "nir08", "swir16"),
        ),
        (
            ("B1", "B2", "B3", "B4"),
            "area_landsat5_1990",
            "landsat-tm",
            ("blue", "green", "red", "nir"),
        ),
        (
            ("B2", "B3", "B4", "B5"),
            "LC08_L2SP_224063_20200801_20200807_02_T1",
            "landsat-oli",
            ("blue", "green", "red", "nir"),
        ),
        (("SWIR1", "NIR", "Red", "Green"), "composite", None, ("swir16", "nir", "red", "green")),
        (("B1_blue", "B2_green", "B3_red", "B4_nir"), "x", None, ("blue", "green", "red", "nir")),
    ],
)
def test_multiband_descriptions(
    tmp_path: Path,
    descriptions: tuple[str, ...],
    stem: str,
    sensor: str | None,
    expected: tuple[str, ...],
) -> None:
    path = tif(
        tmp_path / f"{stem}.tif",
        np.ones((len(descriptions), 4, 4), np.uint16),
        descriptions=descriptions,
    )
    scene = open_scene(SceneSource(stem, (str(path),)))
    assert scene.sensor == sensor
    assert scene.band_names == expected
    assert tuple(b.index for b in scene.bands) == tuple(range(1, len(expected) + 1))


def test_sensor_from_tags_and_from_option(tmp_path: Path) -> None:
    data = np.ones((4, 4, 4), np.uint16)
    tagged = tif(
        tmp_path / "area.tif",
        data,
        descriptions=("B1", "B2", "B3", "B4"),
        tags={"SPACECRAFT_ID": "LANDSAT_5", "SENSOR_ID": "TM"},
    )
    assert open_scene(SceneSource("area", (str(tagged),))).band_names == (
        "blue",
        "green",
        "red",
        "nir",
    )
    plain = tif(tmp_path / "plain.tif", data, descriptions=("B1", "B2", "B3", "B4"))
    scene = open_scene(SceneSource("plain", (str(plain),)), SceneOptions(sensor="landsat-oli"))
    assert (scene.sensor, scene.band_names) == ("landsat-oli", ("coastal", "blue", "green", "red"))


def test_bands_option_names_a_file_without_descriptions(tmp_path: Path) -> None:
    path = tif(tmp_path / "nodesc.tif", np.ones((3, 4, 4), np.uint16))
    scene = open_scene(
        SceneSource("nodesc", (str(path),)), SceneOptions(bands=("red", "nir", "swir16"))
    )
    assert scene.band_names == ("red", "nir", "swir16")
    assert [b.label for b in scene.bands] == ["band1", "band2", "band3"]
    with pytest.raises(ConfigError, match="unknown band names"):
        SceneOptions(bands=("red", "infrared"))
    with pytest.raises(ConfigError, match="unknown sensor"):
        SceneOptions(sensor="modis")


def test_unnamed_band_of_a_multiband_file_is_left_out(tmp_path: Path) -> None:
    path = tif(
        tmp_path / "x.tif", np.ones((3, 4, 4), np.uint16), descriptions=("red", "nir", "ndvi")
    )
    scene = open_scene(SceneSource("x", (str(path),)))
    assert scene.band_names == ("red", "nir") and scene.unmapped == ("ndvi",)


def test_multiband_file_with_a_band_code_in_its_name_is_multiband(tmp_path: Path) -> None:
    bgrn(tmp_path / "farm_b2_stack.tif")
    [source] = find_scenes(tmp_path)
    assert open_scene(source).band_names == ("blue", "green", "red", "nir")


def test_per_band_copies_at_several_resolutions_use_the_finest(tmp_path: Path) -> None:
    folder = s2_folder(tmp_path / "s2", "T20LNR_20210601_", suffix=True)
    tif(folder / "T20LNR_20210601_B04_20m.tif", const(1), transform=T20)
    tif(
        folder / "T20LNR_20210601_B02_60m.tif",
        const(1, (3, 3)),
        transform=Affine(60.0, 0.0, 552_000.0, 0.0, -60.0, 8_950_000.0),
    )
    [source] = find_scenes(tmp_path)
    scene = open_scene(source)
    assert len(source.paths) == 10
    assert scene.band("red").path.endswith("B04_10m.tif")
    assert scene.band("blue").path.endswith("B02_10m.tif")
    assert scene.unmapped == ()


# --- reading windows ---------------------------------------------------------------------------


def test_read_20m_band_onto_10m_grid(tmp_path: Path) -> None:
    folder = tmp_path / "s2"
    for code in ("B02", "B04", "B08"):
        tif(folder / f"{code}.tif", const(1000, (20, 20)))
    # 20 m SWIR: a west-east gradient (DN = 1000 + 100 × column), covering 12 of the 20 columns.
    tif(
        folder / "B11.tif",
        (1000 + 100 * np.arange(6) + np.zeros((10, 1))).astype(np.uint16),
        transform=T20,
    )
    tif(folder / "SCL.tif", np.arange(100, dtype=np.uint8).reshape(10, 10), transform=T20)
    scene = open_scene(find_scenes(folder)[0])
    assert scene.grid.transform == T10 and scene.grid.shape == (20, 20)
    assert not scene.band("swir16").on_grid

    window = Window(2, 4, 8, 6)
    data, valid = scene.read(window, ("red", "swir16", "scl"))
    assert data.shape == (3, 6, 8) and data.dtype == np.float32 and valid.all()
    # Bilinear: 10 m column c lies at 20 m pixel coordinate c/2 - 1/4, so DN = 975 + 50 c.
    cols = np.arange(2, 10)
    np.testing.assert_allclose(data[1] * 1e4, np.broadcast_to(975 + 50 * cols, (6, 8)), rtol=1e-5)
    # Nearest for the class layer, and georeferencing agrees: each pixel centre of the window,
    # looked up in the 20 m file, gives the class read there.
    to_xy = scene.grid.window_transform(window)
    with rasterio.open(folder / "SCL.tif") as scl:
        raw = scl.read(1)
        for r in range(6):
            for c in range(8):
                x, y = to_xy * (c + 0.5, r + 0.5)
                assert data[2, r, c] == raw[scl.index(x, y)]

    # Outside the 20 m footprint (columns 12..19) nothing is valid, and values are 0.
    data, valid = scene.read(Window(8, 0, 12, 20), ("red", "swir16"))
    assert valid[:, :4].all() and not valid[:, 4:].any()
    assert (data[:, :, 4:] == 0).all()
    data, valid = scene.read(Window(8, 0, 12, 20), ("red",))
    assert valid.all()


def test_read_band_in_another_crs_is_warped(tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    tif(folder / "B04.tif", const(1000, (20, 20)))
    tif(folder / "B08.tif", const(3000, (20, 20)))
    # The same area in geographic coordinates (UTM 20S around 552 km E, 8950 km N ≈ 64.5 W 9.5 S).
    with rasterio.open(folder / "B04.tif") as src:
        left, bottom, right, top = rasterio.warp.transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    pad = 0.01
    geo = Affine(
        (right - left + 2 * pad) / 10, 0, left - pad, 0, -(top - bottom + 2 * pad) / 10, top + pad
    )
    tif(folder / "B11.tif", const(2000, (10, 10)), crs="EPSG:4326", transform=geo)
    scene = open_scene(find_scenes(folder)[0])
    assert scene.grid.crs == rasterio.CRS.from_string(UTM)
    data, valid = scene.read(Window(0, 0, 20, 20), ("red", "swir16"))
    assert valid.all()
    np.testing.assert_allclose(data[1], 0.2, rtol=1e-6)


def test_read_valid_mask_follows_nodata(tmp_path: Path) -> None:
    data = np.stack([const(100 * (i + 1)) for i in range(4)])
    data[2, 1, 1] = 0  # red missing at (1, 1)
    data[:, 5, :] = 0  # a whole row missing
    path = tif(tmp_path / "x.tif", data, descriptions=("blue", "green", "red", "nir"), nodata=0)
    scene = open_scene(SceneSource("x", (str(path),)))
    assert scene.band("red").nodata == 0
    out, valid = scene.read(Window(0, 0, 8, 8), ("red", "nir"))
    expected = np.ones((8, 8), bool)
    expected[1, 1] = expected[5, :] = False
    np.testing.assert_array_equal(valid, expected)
    assert (out[:, ~valid] == 0).all()
    np.testing.assert_allclose(out[1][valid], 0.04)
    _, valid = scene.read(Window(0, 0, 8, 8), ("nir",))
    assert valid[1, 1] and not valid[5].any()


def test_read_fails_with_one_line_when_a_file_is_damaged_later(tmp_path: Path) -> None:
    path = bgrn(
        tmp_path / "x.tif",
        compress="deflate",
        tiled=True,
        blockxsize=16,
        blockysize=16,
        nodata=None,
    )
    scene = open_scene(SceneSource("x", (str(path),)))
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(SceneError) as excinfo:
        scene.read(Window(0, 0, 8, 8), ("red",))
    one_line_error(excinfo, "x.tif", "read failed")


def test_unknown_band_in_read(tmp_path: Path) -> None:
    scene = open_scene(SceneSource("x", (str(bgrn(tmp_path / "x.tif")),)))
    with pytest.raises(SceneError) as excinfo:
        scene.read(Window(0, 0, 2, 2), ("swir16",))
    one_line_error(excinfo, "no band 'swir16'", "blue, green, red, nir")


# --- reflectance scale -------------------------------------------------------------------------


def test_scale_from_metadata(tmp_path: Path) -> None:
    path = bgrn(tmp_path / "x.tif", scales=(0.001,) * 4, offsets=(-0.1,) * 4)
    scene = open_one(path)
    assert scene.scale_source == "metadata"
    data, _ = scene.read(Window(0, 0, 4, 4), ("red",))
    np.testing.assert_allclose(data, 300 * 0.001 - 0.1, rtol=1e-6)


def test_scale_per_band_file(tmp_path: Path) -> None:
    tif(tmp_path / "scene" / "B04.tif", const(1000), scales=(2e-4,))
    tif(tmp_path / "scene" / "B08.tif", const(1000))
    scene = open_scene(find_scenes(tmp_path)[0])
    assert scene.band("red").scale == pytest.approx(2e-4)  # its own metadata
    assert scene.band("nir").scale == pytest.approx(1e-4)  # no metadata: integer default
    assert scene.scale_source == "metadata+default-integer-1e4"


def test_scale_defaults_by_data_type(tmp_path: Path) -> None:
    u8 = open_one(
        tif(tmp_path / "u8.tif", np.full((2, 4, 4), 255, np.uint8), descriptions=("red", "nir"))
    )
    assert (u8.scale_source, u8.band("nir").scale) == ("default-uint8-stretch", 1 / 255)
    assert u8.read(Window(0, 0, 4, 4), ("nir",))[0].max() == pytest.approx(1.0)
    i16 = open_one(
        tif(tmp_path / "i16.tif", np.full((2, 4, 4), 5000, np.int16), descriptions=("red", "nir"))
    )
    assert (i16.scale_source, i16.band("nir").scale) == ("default-integer-1e4", 1e-4)
    f32 = open_one(
        tif(tmp_path / "f32.tif", np.full((2, 4, 4), 0.3, np.float32), descriptions=("red", "nir"))
    )
    assert (f32.scale_source, f32.band("nir").scale) == ("default-float", 1.0)


def test_scale_from_sentinel2_boa_tags(tmp_path: Path) -> None:
    path = bgrn(
        tmp_path / "S2B_MSIL2A_20220301.tif",
        tags={"BOA_QUANTIFICATION_VALUE": "10000", "BOA_ADD_OFFSET": "-1000"},
    )
    scene = open_one(path)
    assert scene.scale_source == "sentinel2-metadata"
    assert (scene.band("red").scale, scene.band("red").offset) == (1e-4, -0.1)
    assert scene.date == dt.date(2022, 3, 1)


def test_scale_option_wins_over_metadata_but_not_over_quality_codes(tmp_path: Path) -> None:
    path = bgrn(tmp_path / "x.tif", scales=(0.001,) * 4)
    scene = open_one(path, SceneOptions(scale=0.5, offset=1.0))
    assert scene.scale_source == "option"
    data, _ = scene.read(Window(0, 0, 2, 2), ("blue",))
    np.testing.assert_allclose(data, 100 * 0.5 + 1.0)
    assert open_one(path, SceneOptions(scale=2e-5)).band("nir").offset == 0.0
    [landsat] = find_scenes(landsat_folder(tmp_path / "ls"))
    scene = open_scene(landsat, SceneOptions(scale=1e-4))
    assert scene.band("red").scale == 1e-4 and scene.band("qa_pixel").scale == 1.0
    with pytest.raises(ConfigError, match="`offset` needs `scale`"):
        SceneOptions(offset=0.1)


def test_samples(tmp_path: Path) -> None:
    s2 = open_one(SAMPLES / "aberystwyth_s2_2021-05-27.tif")
    assert s2.sensor == "sentinel2"
    assert names(s2)["B4"] == "red" and names(s2)["B8"] == "nir" and names(s2)["B8A"] == "nir08"
    assert names(s2)["B11"] == "swir16" and names(s2)["B12"] == "swir22"
    assert s2.scale_source == "metadata" and s2.band("red").scale == pytest.approx(0.001)
    assert (s2.date, s2.date_precision) == (dt.date(2021, 5, 27), "day")
    assert s2.grid.crs.to_epsg() == 27700 and s2.grid.shape == (947, 930)
    data, valid = s2.read(Window(400, 400, 16, 16), ("red", "nir"))
    assert valid.all() and 0 < data.mean() < 1

    pucallpa = open_one(SAMPLES / "pucallpa_2000.tif")
    assert pucallpa.sensor is None
    assert pucallpa.band_names == ("swir16", "nir", "red", "green")
    assert pucallpa.scale_source == "default-uint8-stretch"
    assert (pucallpa.date, pucallpa.date_precision) == (dt.date(2000, 1, 1), "year")

    costarica = open_one(SAMPLES / "costarica_landsat5_1986-02-06.tif")
    assert costarica.sensor == "landsat-tm"
    assert costarica.band_names == ("blue", "green", "red", "nir")
    assert costarica.band("nir").scale == pytest.approx(1e-4)
    assert costarica.date == dt.date(1986, 2, 6)

    found = inspect_scenes(SAMPLES)
    assert len(found) == 5 and not any(isinstance(s, SceneError) for _, s in found)


# --- dates -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "date", "precision"),
    [
        ("aberystwyth_s2_2021-05-27", dt.date(2021, 5, 27), "day"),
        ("sen2_20210527_aber_tile", dt.date(2021, 5, 27), "day"),
        (
            "S2A_MSIL2A_20210527T113321_N0300_R080_T30UVD_20210527T134040",
            dt.date(2021, 5, 27),
            "day",
        ),
        ("T20LNR_20210601_B04_10m", dt.date(2021, 6, 1), "day"),
        (f"{LC08}_SR_B4", dt.date(2020, 8, 1), "day"),  # acquired, not processed (20200807)
        (LT05, dt.date(1986, 2, 6), "day"),
        ("site_2019_07_04", dt.date(2019, 7, 4), "day"),
        ("2021-05-27T11:33:21.024Z", dt.date(2021, 5, 27), "day"),
        ("bad_20210230_then_2021-03-01", dt.date(2021, 3, 1), "day"),
        ("pucallpa_2000", dt.date(2000, 1, 1), "year"),
        ("mosaic 1999", dt.date(1999, 1, 1), "year"),
        ("forest", None, None),
        ("tile_123456789", None, None),
        ("", None, None),
    ],
)
def test_acquisition_date(text: str, date: dt.date | None, precision: str | None) -> None:
    assert acquisition_date(text) == (date, precision)


@pytest.mark.parametrize(
    ("tags", "date", "precision"),
    [
        ({"DATE_ACQUIRED": "2019-07-04"}, dt.date(2019, 7, 4), "day"),
        ({"SENSING_TIME": "2021-05-27T11:33:21.024Z"}, dt.date(2021, 5, 27), "day"),
        ({"year": "1999"}, dt.date(1999, 1, 1), "year"),
        ({"year": "1999", "TIFFTAG_DATETIME": "2024:01:02 10:00:00"}, dt.date(1999, 1, 1), "year"),
        ({"source": "made 2024-01-02"}, None, None),  # not a date tag
    ],
)
def test_date_from_tags(
    tmp_path: Path, tags: dict[str, str], date: dt.date | None, precision: str | None
) -> None:
    scene = open_one(bgrn(tmp_path / "area.tif", tags=tags))
    assert (scene.date, scene.date_precision) == (date, precision)


def test_date_in_name_wins_over_tags(tmp_path: Path) -> None:
    scene = open_one(bgrn(tmp_path / "area_2018-03-04.tif", tags={"date": "2019-07-04"}))
    assert scene.date == dt.date(2018, 3, 4)


# --- bad input: one clear line naming the file and the reason ----------------------------------


def test_no_crs(tmp_path: Path) -> None:
    path = bgrn(tmp_path / "nocrs.tif", crs=None)
    with pytest.raises(SceneError) as excinfo:
        open_one(path)
    one_line_error(excinfo, str(path), "no CRS")


def test_not_georeferenced_at_all(tmp_path: Path) -> None:
    with pytest.warns(rasterio.errors.NotGeoreferencedWarning):
        path = bgrn(tmp_path / "plain.tif", crs=None, transform=None)
    with pytest.raises(SceneError) as excinfo:  # and no warning: pytest turns them into errors
        open_one(path)
    one_line_error(excinfo, str(path), "no CRS")


def test_rotated_grid(tmp_path: Path) -> None:
    path = bgrn(tmp_path / "rot.tif", transform=Affine(10.0, 2.0, 552_000.0, 2.0, -10.0, 8e6))
    with pytest.raises(SceneError) as excinfo:
        open_one(path)
    one_line_error(excinfo, str(path), "not a north-up")


@pytest.mark.parametrize(
    "content",
    [
        np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        b"II*\x00" + bytes(200),
        b"",
    ],
    ids=["random-bytes", "broken-header", "empty"],
)
def test_corrupt_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "corrupt.tif"
    path.write_bytes(content)
    [source] = find_scenes(tmp_path)
    with pytest.raises(SceneError) as excinfo:
        open_scene(source)
    one_line_error(excinfo, str(path), "cannot read", "corrupt")


TILED = {"tiled": True, "blockxsize": 16, "blockysize": 16}


@pytest.mark.parametrize(
    ("layout", "descriptions", "gdal_says"),
    [
        (TILED, None, "Read error"),  # header intact, last tiles cut off
        ({}, None, "Read error"),  # strips
        (TILED | {"compress": "deflate"}, None, "Read error"),
        (
            TILED,
            ("blue", "green", "red", "nir"),
            "directory",
        ),  # metadata rewritten at the end: gone
    ],
    ids=["tiled", "striped", "tiled-deflate", "directory-at-end"],
)
def test_truncated_file(
    tmp_path: Path, layout: dict, descriptions: tuple[str, ...] | None, gdal_says: str
) -> None:
    data = np.random.default_rng(1).integers(0, 10_000, (4, 64, 64)).astype(np.uint16)
    path = tif(tmp_path / "cut.tif", data, descriptions=descriptions, **layout)
    options = SceneOptions(bands=("blue", "green", "red", "nir"))
    open_one(path, options)  # whole, it opens
    with path.open("r+b") as f:
        f.truncate(path.stat().st_size // 2)
    with pytest.raises(SceneError) as excinfo:
        open_one(path, options)
    one_line_error(excinfo, str(path), "cannot read", "truncated", gdal_says)


@pytest.mark.parametrize(
    ("make", "says"),
    [(lambda p: None, "not found where it was read"), (lambda p: p.mkdir(), "a folder, not a")],
    ids=["gone", "a-folder"],
)
def test_unreadable_path(tmp_path: Path, make, says: str) -> None:
    """A missing file is "not found" (a worker that cannot see it), never "corrupt"."""
    path = tmp_path / "scene.tif"
    make(path)
    with pytest.raises(SceneError) as excinfo:
        open_scene(SceneSource("scene", (str(path),)))
    one_line_error(excinfo, str(path), says)
    assert "corrupt" not in str(excinfo.value) or says == "cannot read"


def test_inspect_scenes_reports_errors_beside_good_scenes(tmp_path: Path) -> None:
    bgrn(tmp_path / "good.tif")
    (tmp_path / "bad.tif").write_bytes(b"garbage" * 100)
    found = {s.name: r for s, r in inspect_scenes(tmp_path)}
    assert isinstance(found["bad"], SceneError) and "bad.tif" in str(found["bad"])
    good = found["good"]
    assert isinstance(good, Scene) and good.band_names == ("blue", "green", "red", "nir")


def test_band_files_that_do_not_overlap(tmp_path: Path) -> None:
    folder = tmp_path / "s2"
    tif(folder / "B04.tif", const(1000, (16, 16)))
    tif(folder / "B08.tif", const(1000, (16, 16)))
    tif(
        folder / "B11.tif", const(1000), transform=Affine(20.0, 0, 700_000.0, 0, -20.0, 8_950_000.0)
    )
    with pytest.raises(SceneError) as excinfo:
        open_scene(find_scenes(folder)[0])
    one_line_error(excinfo, "B11.tif", "does not overlap")


def test_band_file_in_another_crs_that_does_not_overlap(tmp_path: Path) -> None:
    folder = tmp_path / "s2"
    tif(folder / "B04.tif", const(1000, (16, 16)))
    tif(folder / "B08.tif", const(1000, (16, 16)))
    tif(
        folder / "B11.tif",
        const(1000),
        crs="EPSG:4326",
        transform=Affine(0.001, 0, 10.0, 0, -0.001, 50.0),
    )  # Germany, not the Amazon
    with pytest.raises(SceneError) as excinfo:
        open_scene(find_scenes(folder)[0])
    one_line_error(excinfo, "B11.tif", "does not overlap")


def test_ambiguous_band_codes_without_sensor(tmp_path: Path) -> None:
    path = tif(
        tmp_path / "area.tif", np.ones((4, 4, 4), np.uint16), descriptions=("B1", "B2", "B3", "B4")
    )
    with pytest.raises(SceneError) as excinfo:
        open_one(path)
    one_line_error(excinfo, str(path), "B4", "`sensor`", "`bands`")
    assert excinfo.value.options == ("sensor", "bands")


def test_ambiguous_per_band_files_without_sensor(tmp_path: Path) -> None:
    for code in (3, 4):
        tif(tmp_path / "scene" / f"B{code}.tif", const(1000))
    with pytest.raises(SceneError) as excinfo:
        open_scene(find_scenes(tmp_path)[0])
    one_line_error(excinfo, "scene", "`sensor`")
    scene = open_scene(find_scenes(tmp_path)[0], SceneOptions(sensor="landsat-tm"))
    assert names(scene) == {"B3": "red", "B4": "nir"}


def test_no_band_names_at_all(tmp_path: Path) -> None:
    path = tif(tmp_path / "nodesc.tif", np.ones((3, 4, 4), np.uint16))
    with pytest.raises(SceneError) as excinfo:
        open_one(path)
    one_line_error(excinfo, str(path), "no band could be named", "`bands`")
    assert excinfo.value.options == ("bands",)


def test_bands_option_with_the_wrong_count(tmp_path: Path) -> None:
    path = bgrn(tmp_path / "x.tif")
    with pytest.raises(SceneError) as excinfo:
        open_one(path, SceneOptions(bands=("red", "nir")))
    one_line_error(excinfo, str(path), "`bands` names 2 bands", "has 4")
    assert excinfo.value.options == ("bands",)


def test_two_bands_with_one_name(tmp_path: Path) -> None:
    path = tif(tmp_path / "x.tif", np.ones((2, 4, 4), np.uint16), descriptions=("NIR", "nir"))
    with pytest.raises(SceneError) as excinfo:
        open_one(path)
    one_line_error(excinfo, str(path), "several bands map to ['nir']")


def test_per_band_group_with_a_multiband_file(tmp_path: Path) -> None:
    tif(tmp_path / "scene" / "B04.tif", const(1000))
    tif(tmp_path / "scene" / "B08.tif", np.ones((2, 8, 8), np.uint16))
    with pytest.raises(SceneError) as excinfo:
        open_scene(find_scenes(tmp_path)[0])
    one_line_error(excinfo, "B08.tif", "holds 2 bands")


def test_scene_errors_are_value_errors(tmp_path: Path) -> None:
    path = tmp_path / "junk.tif"
    path.write_bytes(os.urandom(1000))
    with pytest.raises(ValueError) as excinfo:
        open_one(path)
    one_line_error(excinfo, "junk.tif", "not recognized as being in a supported file format")


@pytest.mark.parametrize("dtype", ["complex64", "complex128", "complex_int16"])
def test_a_complex_scene_is_refused_in_one_line(tmp_path: Path, dtype: str) -> None:
    path = tmp_path / "radar_2020-01-01.tif"
    data = np.ones((2, 8, 8), "complex64" if dtype == "complex_int16" else dtype)
    tif(path, data, descriptions=("red", "nir"), dtype=dtype)
    with pytest.raises(SceneError, match=f"complex values \\({dtype}\\) are not reflectance"):
        open_scene(find_scenes(path)[0])


def test_a_scene_georeferenced_by_gcps_only_says_warp_it(tmp_path: Path) -> None:
    from rasterio.control import GroundControlPoint

    path = tmp_path / "gcps.tif"
    gcps = [
        GroundControlPoint(row, col, 500_000 + 10 * col, 9_000_000 - 10 * row)
        for row, col in ((0, 0), (0, 7), (7, 0), (7, 7))
    ]
    profile = {"driver": "GTiff", "count": 2, "height": 8, "width": 8, "dtype": "uint16"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # until the GCPs are set
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(np.ones((2, 8, 8), np.uint16))
            dst.gcps = (gcps, rasterio.CRS.from_epsg(32720))
    with pytest.raises(SceneError, match="ground control points only; warp it first"):
        open_scene(find_scenes(path)[0])


def test_output_folders_are_not_scenes_and_a_note_says_so(tmp_path: Path) -> None:
    """Outputs written into the scene folder (-o equal to the input) are not read back as
    scenes on the next run, finished or not."""
    tif(tmp_path / "forest_2020-01-01.tif", np.ones((4, 8, 8), np.uint16))
    done, running = tmp_path / "forest_2020-01-01", tmp_path / "other"
    tif(done / "probability.tif", np.ones((2, 8, 8), np.float32))
    (done / "manifest.json").write_text("{}")
    tif(running / "classes.tif", np.ones((1, 8, 8), np.uint8))
    (running / ".geoseg-work").mkdir()
    with pytest.warns(GeosegNote, match="2 folder\\(s\\) of geoseg outputs are not scenes"):
        found = find_scenes(tmp_path)
    assert [s.name for s in found] == ["forest_2020-01-01"]


def test_links_count_once_and_broken_or_looping_links_fail_as_entries(tmp_path: Path) -> None:
    tif(tmp_path / "forest_2020-01-01.tif", np.ones((4, 8, 8), np.uint16))
    (tmp_path / "selfdir").symlink_to(".")  # the same files again, under another folder
    (tmp_path / "a.tif").symlink_to("b.tif")
    (tmp_path / "b.tif").symlink_to("a.tif")
    (tmp_path / "broken.tif").symlink_to("nowhere.tif")
    found = {s.name: s for s in find_scenes(tmp_path)}
    assert sorted(found) == ["a", "b", "broken", "forest_2020-01-01"]
    for name in ("a", "b", "broken"):
        with pytest.raises(SceneError, match="a broken or looping symbolic link"):
            open_scene(found[name])
