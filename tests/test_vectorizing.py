"""Vectorizing: windowed polygons equal whole-raster polygons; areas in true ground units;
the GeoPackage is valid, versioned, indexed and styled."""

import sqlite3
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
from affine import Affine
from distributed import Client
from rasterio.features import shapes

from geoseg.geopackage import GPKG_VERSION, LAYER
from geoseg.pipeline import vectorize
from geoseg.vectorizing import PolygonInfo, PolygonOptions, VectorizeOptions

from .conftest import write_raster

INFO = PolygonInfo.for_scene("test-scene", "2021-05-27", "builtin:spectral-forest")
UTM = Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 9_000_000.0)


def shapes_raster() -> np.ndarray:
    """Class 1 shapes that cross window borders at 16/32/48 px windows."""
    a = np.zeros((70, 90), np.uint8)
    a[10:40, 14:20] = 1  # an L over four 16-px windows ...
    a[34:40, 14:50] = 1  # ... with its foot
    a[20:44, 56:80] = 1  # a ring with a hole on the 32 and 48 px borders
    a[26:38, 62:74] = 0
    a[29:33, 66:70] = 1  # an island inside the hole: its own polygon
    a[50, 20], a[51, 21], a[52, 22] = 1, 1, 1  # diagonal neighbours: three polygons
    a[60:70, 0:12] = 1  # touching the raster edge
    a[0:5, 85:90] = 1  # a corner patch
    a[45:60, 40:42] = 1  # a thin line crossing the 48 px border
    return a


def reference_polygons(classes: np.ndarray, transform: Affine) -> list[shapely.Geometry]:
    return [
        shapely.geometry.shape(g)
        for g, v in shapes(classes, mask=classes == 1, transform=transform)
        if v == 1
    ]


def run(
    client: Client, path: Path, out: Path, window: int, min_area_ha: float = 0.0, **kwargs
) -> list[shapely.Geometry]:
    options = VectorizeOptions(
        1, "non_forest", PolygonOptions(min_area_ha=min_area_ha, window_size=window, **kwargs)
    )
    vectorize(path, out, options, INFO, client=client)
    return list(pyogrio.read_dataframe(out, layer=LAYER).geometry)


def same_polygons(got: list[shapely.Geometry], expected: list[shapely.Geometry]) -> None:
    assert len(got) == len(expected)
    unmatched = list(expected)
    for g in got:
        match = next((e for e in unmatched if e.equals(g)), None)
        assert match is not None, f"no reference polygon equals {g.wkt[:120]}"
        assert abs(g.area - match.area) <= 1e-9 * match.area
        assert len(shapely.get_parts(g)) == 1  # one polygon per patch
        unmatched.remove(match)


@pytest.mark.parametrize("window", [16, 32, 48, 1024])
def test_windowed_polygons_equal_whole_raster_polygons(
    client: Client, tmp_path: Path, window: int
) -> None:
    classes = shapes_raster()
    path = write_raster(tmp_path / "classes.tif", classes[None], transform=UTM)
    got = run(client, path, tmp_path / "out.gpkg", window)
    same_polygons(got, reference_polygons(classes, UTM))


def test_ring_keeps_its_hole_across_windows(client: Client, tmp_path: Path) -> None:
    classes = shapes_raster()
    path = write_raster(tmp_path / "classes.tif", classes[None], transform=UTM)
    got = run(client, path, tmp_path / "out.gpkg", 16)
    ring = [g for g in got if shapely.get_num_interior_rings(shapely.get_parts(g)[0]) == 1]
    assert len(ring) == 1
    assert ring[0].area == pytest.approx((24 * 24 - 12 * 12) * 100)


def test_random_patches_at_several_window_sizes(client: Client, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    classes = (rng.random((100, 120)) < 0.45).astype(np.uint8)  # many touching patches
    path = write_raster(tmp_path / "classes.tif", classes[None], transform=UTM)
    expected = reference_polygons(classes, UTM)
    for window in (16, 48, 64):
        same_polygons(run(client, path, tmp_path / f"out{window}.gpkg", window), expected)


def test_area_in_hectares_agrees_between_utm_and_geographic(client: Client, tmp_path: Path) -> None:
    # One 600 m × 400 m clearing in Rondônia on a 10 m UTM 20S grid, and on a ~10 m EPSG:4674
    # grid over the same ground (on the zone's central meridian, where UTM's grid north is true
    # north, so the bounding box in degrees covers exactly the same ground).
    classes = np.zeros((100, 100), np.uint8)
    classes[30:70, 20:80] = 1
    utm = write_raster(
        tmp_path / "utm.tif",
        classes[None],
        crs="EPSG:32720",
        transform=Affine(10, 0, 499_500, 0, -10, 9_020_000),
    )
    [utm_poly] = pyogrio.read_dataframe(
        _vectorize(client, utm, tmp_path / "utm.gpkg"), layer=LAYER
    )[["area_ha", "perimeter_m"]].itertuples(index=False)
    assert utm_poly.area_ha == pytest.approx(40 * 60 * 100 / 1e4, rel=1e-3)  # pixels × pixel area
    assert utm_poly.perimeter_m == pytest.approx(2 * (400 + 600))
    with rasterio.open(utm) as src:
        left, bottom, right, top = rasterio.warp.transform_bounds(src.crs, "EPSG:4674", *src.bounds)
    geo = write_raster(
        tmp_path / "geo.tif",
        classes[None],
        crs="EPSG:4674",
        transform=rasterio.transform.from_bounds(left, bottom, right, top, 100, 100),
    )
    [geo_poly] = pyogrio.read_dataframe(
        _vectorize(client, geo, tmp_path / "geo.gpkg"), layer=LAYER
    )[["area_ha", "perimeter_m"]].itertuples(index=False)
    assert geo_poly.area_ha == pytest.approx(utm_poly.area_ha, rel=0.005)
    assert geo_poly.perimeter_m == pytest.approx(utm_poly.perimeter_m, rel=0.005)


def _vectorize(client: Client, path: Path, out: Path) -> Path:
    vectorize(
        path,
        out,
        VectorizeOptions(1, "non_forest", PolygonOptions(min_area_ha=0)),
        INFO,
        client=client,
    )
    return out


def test_minimum_mapping_unit_and_attributes(client: Client, tmp_path: Path) -> None:
    classes = np.zeros((40, 40), np.uint8)
    classes[2:4, 2:4] = 1  # 4 px = 0.04 ha: dropped at 0.05 ha
    classes[10:20, 10:20] = 1  # 100 px = 1 ha
    probability = np.zeros((2, 40, 40), np.float32)
    probability[1] = 0.8
    path = write_raster(tmp_path / "classes.tif", classes[None], transform=UTM)
    prob = write_raster(tmp_path / "probability.tif", probability, transform=UTM)
    out = tmp_path / "out.gpkg"
    vectorize(
        path,
        out,
        VectorizeOptions(1, "non_forest", PolygonOptions(min_area_ha=0.05, window_size=16)),
        INFO,
        probability=prob,
        client=client,
    )
    table = pyogrio.read_dataframe(out, layer=LAYER)
    assert list(table.columns) == [
        "id",
        "class",
        "area_ha",
        "perimeter_m",
        "mean_probability",
        "scene",
        "date",
        "model",
        "geometry",
    ]
    [row] = table.itertuples()
    assert (row.id, row.area_ha, row.perimeter_m) == (1, 1.0, 400.0)
    assert row.mean_probability == pytest.approx(0.8)
    assert (row.scene, row.date, row.model) == (
        "test-scene",
        "2021-05-27",
        "builtin:spectral-forest",
    )


def test_simplify_keeps_polygons_valid(client: Client, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    classes = (rng.random((80, 80)) < 0.5).astype(np.uint8)
    path = write_raster(tmp_path / "classes.tif", classes[None], transform=UTM)
    got = run(client, path, tmp_path / "out.gpkg", 32, simplify_m=15.0)
    assert got and all(g.is_valid for g in got)


def test_geopackage_is_version_1_2_indexed_styled_and_empty_when_nothing_found(
    client: Client, tmp_path: Path
) -> None:
    path = write_raster(tmp_path / "classes.tif", np.zeros((1, 30, 30), np.uint8), transform=UTM)
    out = tmp_path / "empty.gpkg"
    assert not run(client, path, out, 16)
    info = pyogrio.read_info(out, layer=LAYER)
    assert info["features"] == 0 and info["geometry_type"] == "MultiPolygon"
    assert info["crs"] == "EPSG:32720"
    with sqlite3.connect(out) as db:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        assert GPKG_VERSION == "1.2" and version == 10200  # GeoPackage 1.2.0
        assert (
            db.execute(
                "SELECT count(*) FROM gpkg_extensions WHERE table_name = ? AND "
                "extension_name = 'gpkg_rtree_index'",
                (LAYER,),
            ).fetchone()[0]
            == 1
        )
        name, qml, default = db.execute(
            "SELECT f_table_name, styleQML, useAsDefault FROM layer_styles"
        ).fetchone()
    assert name == LAYER and "SimpleFill" in qml and default == 1
    assert not list(tmp_path.glob(".*parts*")) and not list(tmp_path.glob(".*tmp*"))


def test_patches_filling_a_whole_window_border(client: Client, tmp_path: Path) -> None:
    """Every pixel along the window borders belongs to a patch (no background on a border)."""
    classes = np.ones((40, 40), np.uint8)
    classes[5:10, 5:10] = 0  # a hole, away from the 16-px window borders
    path = write_raster(tmp_path / "classes.tif", classes[None], transform=UTM)
    same_polygons(run(client, path, tmp_path / "out.gpkg", 16), reference_polygons(classes, UTM))


def test_vectorize_command_reads_class_loss_and_error_rasters(
    client: Client, tmp_path: Path
) -> None:
    """``geoseg vectorize`` takes its class names, probability band and polygon attributes from
    the manifest beside any geoseg class raster: ``classes.tif``, ``loss.tif``, ``errors.tif``."""
    from typer.testing import CliRunner

    from geoseg import change, evaluate, process
    from geoseg.cli import app
    from geoseg.training.labels import RasterLabels

    from .conftest import BGRN, forest_scene

    before = write_raster(tmp_path / "a_2001-01-01.tif", forest_scene(), descriptions=BGRN)
    cleared = forest_scene(seed=1)
    cleared[2, 60:80, 40:70], cleared[3, 60:80, 40:70] = 2200, 2600  # bare soil
    after = write_raster(tmp_path / "a_2005-01-01.tif", cleared, descriptions=BGRN)
    [scene] = process(before, tmp_path / "out", client=client)
    pair = change(before, after, tmp_path / "change", client=client)
    assert pair.status == "done", pair.message
    reference = np.full((96, 80), 2, np.uint8)  # 2: forest
    reference[20:50, 20:45] = 1  # non-forest, larger than the cleared square: misses around it
    labels = write_raster(tmp_path / "labels.tif", reference[None])
    report = tmp_path / "report"
    evaluated = evaluate(
        scene.outputs["classes"], RasterLabels(str(labels), ((1, 0), (2, 1))), report
    )
    with rasterio.open(scene.outputs["classes"]) as src:
        misses = int(((reference == 1) & (src.read(1) == 1)).sum())
    assert misses > 0
    cases = [
        (scene.outputs["classes"], "non_forest", {"scene": "a_2001-01-01"}),
        (pair.outputs["loss"], "loss", {"date_before": "2001-01-01", "date_after": "2005-01-01"}),
        (evaluated.outputs["errors"], "miss", {"evaluated_class": "non_forest"}),
    ]
    for raster, name, attributes in cases:
        out = tmp_path / f"{name}.gpkg"
        result = CliRunner().invoke(
            app,
            [
                "vectorize",
                str(raster),
                "-o",
                str(out),
                "--class",
                name,
                "--min-area-ha",
                "0",
                "--scheduler",
                client.scheduler.address,
            ],
        )
        assert result.exit_code == 0, result.output
        table = pyogrio.read_dataframe(out, layer=LAYER)
        assert len(table) > 0 and set(table["class"]) == {name}, name
        for column, value in attributes.items():
            assert set(table[column]) == {value}, (name, column)
        if name == "miss":
            assert table.area_ha.sum() == pytest.approx(misses * 0.01)


def test_polygons_name_a_checkpoint_by_file_and_checksum_not_by_its_folder() -> None:
    """The ``model`` attribute travels with the polygons: a local folder means nothing there."""
    info = PolygonInfo.for_scene(
        "s", None, "/home/ana/models/unet.safetensors@sha256:0123456789abcdef~fp16"
    )
    assert dict(info.attributes)["model"] == "unet.safetensors@sha256:0123456789abcdef~fp16"
    builtin = PolygonInfo.for_scene("s", None, "builtin:unet-mobilenetv2-aberystwyth")
    assert dict(builtin.attributes)["model"] == "builtin:unet-mobilenetv2-aberystwyth"
