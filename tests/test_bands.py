"""Band names: words, sensor codes, sensors from names, band labels from per-band file names."""

import pytest

from geoseg.bands import (
    CANONICAL,
    SENSORS,
    band_label_from_filename,
    canonical_name,
    canonical_names,
    sensor_from_codes,
    sensor_from_text,
)


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("NIR", "nir"),
        ("nir", "nir"),
        ("SWIR1", "swir16"),
        ("SWIR2", "swir22"),
        ("SWIR 1", "swir16"),
        ("swir-2", "swir22"),
        ("Red", "red"),
        ("red", "red"),
        ("Green", "green"),
        ("B1_blue", "blue"),
        ("B4_nir", "nir"),
        ("B2_green", "green"),
        ("Red Edge 1", "rededge1"),
        ("B5 (Red Edge 1)", "rededge1"),
        ("Near Infrared", "nir"),
        ("Coastal aerosol", "coastal"),
        ("thermal", "lwir"),
        ("QA_PIXEL", "qa_pixel"),
        ("scl", "scl"),
    ],
)
def test_words_need_no_sensor(label: str, expected: str) -> None:
    assert canonical_name(label, None) == expected
    for sensor in SENSORS:  # a word wins over any sensor's codes
        assert canonical_name(label, sensor) == expected


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("B01", "coastal"),
        ("B02", "blue"),
        ("B2", "blue"),
        ("B03", "green"),
        ("B04", "red"),
        ("B4", "red"),
        ("B05", "rededge1"),
        ("B06", "rededge2"),
        ("B07", "rededge3"),
        ("B08", "nir"),
        ("B8", "nir"),
        ("B8A", "nir08"),
        ("b8a", "nir08"),
        ("B09", "nir09"),
        ("B10", "cirrus"),
        ("B11", "swir16"),
        ("B12", "swir22"),
        ("SCL", "scl"),
        ("B04_10m", "red"),
    ],
)
def test_sentinel2_codes(label: str, expected: str) -> None:
    assert canonical_name(label, "sentinel2") == expected


@pytest.mark.parametrize(
    ("label", "tm", "oli", "s2"),
    [
        ("B4", "nir", "red", "red"),
        ("B5", "swir16", "nir", "rededge1"),
        ("B3", "red", "green", "green"),
        ("B7", "swir22", "swir22", "rededge3"),
        ("SR_B4", "nir", "red", "red"),
        ("SR_B5", "swir16", "nir", "rededge1"),
        ("B6", "lwir", "swir16", "rededge2"),
        ("ST_B10", None, "lwir11", "cirrus"),
        ("ST_B6", "lwir", "swir16", "rededge2"),
    ],
)
def test_codes_differ_by_sensor(label: str, tm: str | None, oli: str | None, s2: str) -> None:
    assert canonical_name(label, "landsat-tm") == tm
    assert canonical_name(label, "landsat-oli") == oli
    assert canonical_name(label, "sentinel2") == s2


@pytest.mark.parametrize("label", ["B4", "B04", "SR_B5", "B8A", "B11", "band1", "layer", "1"])
def test_codes_without_sensor_are_none(label: str) -> None:
    assert canonical_name(label, None) is None


def test_unknown_labels_are_none_whatever_the_sensor() -> None:
    for sensor in (None, *SENSORS):
        assert canonical_name("band1", sensor) is None
        assert canonical_name("ST_QA", sensor) is None
        assert canonical_name("SR_QA_AEROSOL", sensor) is None
    assert canonical_name("B8A", "landsat-oli") is None  # no such band on Landsat
    assert canonical_name("B13", "sentinel2") is None


def test_canonical_names_keeps_order_and_only_canonical_values() -> None:
    assert canonical_names(["B4", "NIR", "x"], "landsat-tm") == ["nir", "nir", None]
    assert canonical_names(["SWIR1", "NIR", "Red", "Green"], None) == [
        "swir16",
        "nir",
        "red",
        "green",
    ]
    labels = [
        "B1",
        "B2",
        "B3",
        "B4",
        "B5",
        "B6",
        "B7",
        "B8",
        "B8A",
        "B9",
        "B10",
        "B11",
        "B12",
        "SCL",
        "QA_PIXEL",
        "SR_B1",
        "ST_B10",
        "ST_B6",
    ]
    for sensor in SENSORS:
        assert {n for n in canonical_names(labels, sensor) if n} <= CANONICAL


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("S2A_MSIL2A_20210527T113321_N0300_R080_T30UVD_20210527T134040", "sentinel2"),
        ("S2B_MSIL1C_20200101T000000_N0208_R001_T20LNR_20200101T000001.SAFE", "sentinel2"),
        ("T20LNR_20210601_B04_10m", "sentinel2"),
        ("scene T20LNR_20210601_B04_10m", "sentinel2"),
        ("aberystwyth_s2_2021-05-27", "sentinel2"),
        ("sentinel-2 composite", "sentinel2"),
        ("sentinel2_l2a", "sentinel2"),
        ("LC08_L2SP_224063_20200801_20200807_02_T1_SR_B4", "landsat-oli"),
        ("LC09_L2SP_224063_20220801_20220803_02_T1", "landsat-oli"),
        ("landsat8_mosaic", "landsat-oli"),
        ("Landsat-9 OLI", "landsat-oli"),
        ("LT05_L2SP_015053_19860206_20200917_02_T1_SR_B3", "landsat-tm"),
        ("LE07_L2SP_015053_20010114_20200917_02_T1", "landsat-tm"),
        ("landsat5_costarica", "landsat-tm"),
        ("costarica_landsat5_1986-02-06", "landsat-tm"),
        ("landsat_7 ETM+", "landsat-tm"),
        ("pucallpa_2000", None),
        ("uint8 display stretch (not reflectance) opengeos/data landsat/2000.tif", None),
        ("forest_stm0_scenes", None),
        ("", None),
    ],
)
def test_sensor_from_text(text: str, expected: str | None) -> None:
    assert sensor_from_text(text) == expected


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (["B02", "B03", "B04", "B08"], "sentinel2"),  # two-digit codes
        (["B2", "B3", "B4", "B8", "B8A", "B11", "B12"], "sentinel2"),  # B8A / B11 / B12
        (["B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12"], "sentinel2"),
        (["SR_B2", "SR_B3", "SR_B4", "SR_B5", "SR_B6", "SR_B7", "QA_PIXEL"], "landsat-oli"),
        (["SR_B1", "SR_B2", "SR_B3", "SR_B4", "SR_B5", "SR_B7", "QA_PIXEL"], "landsat-tm"),
        (["SR_B4", "ST_B10"], "landsat-oli"),
        (["QA_PIXEL"], "landsat-tm"),
        (["B1", "B2", "B3", "B4"], None),  # ambiguous
        (["SWIR1", "NIR", "Red", "Green"], None),
        ([], None),
    ],
)
def test_sensor_from_codes(labels: list[str], expected: str | None) -> None:
    assert sensor_from_codes(labels) == expected


@pytest.mark.parametrize(
    ("stem", "expected"),
    [
        ("B04", "B04"),
        ("B8A", "B8A"),
        ("b8a", "b8a"),
        ("B12", "B12"),
        ("SCL", "SCL"),
        ("T20LNR_20210601_B04_10m", "B04"),
        ("T20LNR_20210601_B8A_20m", "B8A"),
        ("T20LNR_20210601_SCL_20m", "SCL"),
        ("T30UVD_20210527T113321_B11_20m", "B11"),
        ("LC08_L2SP_224063_20200801_20200807_02_T1_SR_B4", "SR_B4"),
        ("LC08_L2SP_224063_20200801_20200807_02_T1_QA_PIXEL", "QA_PIXEL"),
        ("LC08_L2SP_224063_20200801_20200807_02_T1_ST_B10", "ST_B10"),
        ("LC08_L2SP_224063_20200801_20200807_02_T1_ST_QA", "ST_QA"),
        ("LC08_L2SP_224063_20200801_20200807_02_T1_SR_QA_AEROSOL", "SR_QA_AEROSOL"),
        ("LT05_L2SP_015053_19860206_20200917_02_T1_SR_B7", "SR_B7"),
        ("scene_SR_B5", "SR_B5"),
        ("x_qa_pixel", "qa_pixel"),
        ("S2_B02", "B02"),
        ("scene-B3", "B3"),
        ("aberystwyth_s2_2021-05-27", None),
        ("pucallpa_2000", None),
        ("costarica_landsat5_1986-02-06", None),
        ("LC08_L2SP_224063_20200801_20200807_02_T1", None),
        ("T20LNR_20210601_TCI_10m", None),
        ("forest", None),
    ],
)
def test_band_label_from_filename(stem: str, expected: str | None) -> None:
    assert band_label_from_filename(stem) == expected
