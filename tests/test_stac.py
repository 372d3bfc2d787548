"""STAC as a scene source (Item, ItemCollection, Catalog; bands from ``eo:bands``, scale from
``raster:bands``, date from the item) and a STAC Item written beside each scene's outputs."""

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
from distributed import Client
from rasterio.windows import Window
from typer.testing import CliRunner

from geoseg import ProcessConfig, process
from geoseg.cli import app
from geoseg.errors import ConfigError, SceneError
from geoseg.scenes import find_scenes, open_scene

from .conftest import SAMPLES, band_item, split_bands

PUCALLPA = SAMPLES / "pucallpa_2000.tif"
WHEN = dt.datetime(2000, 8, 15, tzinfo=dt.UTC)


def item_collection(folder: Path, scale: float | None = 1 / 255) -> Path:
    """An ItemCollection file whose one item lists PUCALLPA's bands as files beside it, by
    relative hrefs."""
    files = split_bands(PUCALLPA, folder / "bands")
    item = band_item(
        "pucallpa:2000", WHEN, {n: f"bands/{p.name}" for n, p in files.items()}, scale=scale
    )
    path = folder / "items.json"
    path.write_text(json.dumps(pystac.ItemCollection([item]).to_dict(transform_hrefs=False)))
    return path


def test_an_item_collection_lists_scenes_with_bands_named_by_common_names(tmp_path: Path) -> None:
    [source] = find_scenes(item_collection(tmp_path))
    assert source.name == "pucallpa_2000"  # the item's id, made a folder name
    assert len(source.paths) == 4  # the visual asset and the thumbnail are not bands
    scene = open_scene(source)
    assert scene.band_names == ("swir16", "nir", "red", "green")
    assert scene.band("nir").label == "NIR"
    assert (scene.date, scene.date_precision) == (WHEN.date(), "day")
    assert scene.scale_source == "stac"
    assert scene.item == str(tmp_path / "items.json")
    [whole] = find_scenes(PUCALLPA)
    window = Window(100, 50, 64, 48)
    expected, _ = open_scene(whole).read(window, scene.band_names)
    np.testing.assert_array_equal(scene.read(window, scene.band_names)[0], expected)


def test_raster_bands_scale_and_offset_apply(tmp_path: Path) -> None:
    files = split_bands(PUCALLPA, tmp_path)
    item = band_item("x", WHEN, {n: str(p) for n, p in files.items()}, scale=0.002)
    item.assets["asset-red"].extra_fields["raster:bands"][0]["offset"] = -0.1
    path = tmp_path / "item.json"
    item.save_object(include_self_link=False, dest_href=str(path))
    scene = open_scene(find_scenes(path)[0])
    assert (scene.band("red").scale, scene.band("red").offset) == (0.002, -0.1)
    with rasterio.open(files["red"]) as src:
        raw = src.read(1, window=Window(0, 0, 8, 8)).astype(np.float32)
    data, _ = scene.read(Window(0, 0, 8, 8), ("red",))
    np.testing.assert_allclose(data[0], raw * 0.002 - 0.1, rtol=1e-6)


def test_stac_1_1_bands_are_read(tmp_path: Path) -> None:
    """STAC 1.1 puts ``eo:common_name`` and ``raster:scale`` in an asset's ``bands``."""
    files = split_bands(PUCALLPA, tmp_path)
    item = band_item("x", WHEN, {}, scale=None)
    for key, (name, path) in enumerate(files.items()):
        item.add_asset(
            f"B{key}",
            pystac.Asset(
                str(path),
                media_type=pystac.MediaType.GEOTIFF,
                extra_fields={
                    "bands": [{"name": f"b{key}", "eo:common_name": name, "raster:scale": 0.5}]
                },
            ),
        )
    path = tmp_path / "item.json"
    item.save_object(include_self_link=False, dest_href=str(path))
    scene = open_scene(find_scenes(path)[0])
    assert scene.band_names == ("swir16", "nir", "red", "green")
    assert scene.band("green").scale == 0.5 and scene.scale_source == "stac"


def test_a_catalog_is_searched_for_items_and_a_cog_preferred_to_its_jpeg2000_copy(
    tmp_path: Path,
) -> None:
    files = split_bands(PUCALLPA, tmp_path / "data")
    catalog = pystac.Catalog("root", "test catalog")
    collection = pystac.Collection(
        "pucallpa",
        "one place",
        pystac.Extent(
            pystac.SpatialExtent([[-74.72, -8.59, -74.16, -8.28]]),
            pystac.TemporalExtent([[WHEN, WHEN]]),
        ),
    )
    item = band_item("p2000", WHEN, {n: str(p) for n, p in files.items()})
    # The same red band as JPEG 2000 (never opened: the COG is read).
    jp2 = pystac.Asset(str(tmp_path / "missing.jp2"), media_type="image/jp2", roles=["data"])
    jp2.extra_fields["eo:bands"] = [{"name": "B04", "common_name": "red"}]
    item.add_asset("red-jp2", jp2)
    collection.add_item(item)
    catalog.add_child(collection)
    catalog.normalize_hrefs(str(tmp_path / "catalog"))
    catalog.save(pystac.CatalogType.SELF_CONTAINED)
    [source] = find_scenes(tmp_path / "catalog" / "catalog.json")
    assert source.name == "p2000"
    assert not any(p.endswith(".jp2") for p in source.paths)
    assert open_scene(source).band_names == ("swir16", "nir", "red", "green")


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ('{"type": "FeatureCollection", "features": []}', "lists no items"),
        ('{"hello": "world"}', "not a readable STAC file"),
        ("not json", "not a readable STAC file"),
        (None, "not a readable STAC file"),
    ],
)
def test_a_bad_stac_file_is_one_line(tmp_path: Path, document: str | None, says: str) -> None:
    path = tmp_path / "items.json"
    if document is not None:
        path.write_text(document)
    with pytest.raises(ConfigError) as error:
        find_scenes(path)
    assert says in str(error.value) and "\n" not in str(error.value)


def test_process_writes_a_stac_item_beside_the_outputs_linked_to_its_input(
    client: Client, tmp_path: Path
) -> None:
    items = item_collection(tmp_path)
    config = ProcessConfig(block_size=256)
    [result] = process(items, tmp_path / "out", config, client=client)
    [local] = process(PUCALLPA, tmp_path / "local", config, client=client)
    assert result.status == local.status == "done", result.message
    for layer in ("probability", "classes"):
        with rasterio.open(result.outputs[layer]) as a, rasterio.open(local.outputs[layer]) as b:
            np.testing.assert_array_equal(a.read(), b.read())
    item = pystac.Item.from_file(str(result.outputs["stac_item"]))
    assert item.id == "pucallpa_2000" and item.datetime == WHEN.replace(hour=0, minute=0)
    assert {"probability", "classes", "polygons"} <= set(item.assets)
    assert Path(item.assets["classes"].get_absolute_href() or "") == result.outputs["classes"]
    [link] = item.get_links("derived_from")
    assert link.href == str(items)
    assert item.properties["proj:shape"] == [377, 697]
    np.testing.assert_allclose(item.bbox or [], [-74.7225, -8.5869, -74.1590, -8.2821], atol=1e-4)


def test_info_shows_how_the_catalog_bands_map(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["info", str(item_collection(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "SWIR1→swir16" in result.output and "stac" in result.output
    assert "2000-08-15" in result.output


def test_a_missing_asset_file_fails_its_scene_in_one_line(tmp_path: Path) -> None:
    [source] = find_scenes(item_collection(tmp_path))
    Path(source.paths[2]).unlink()
    with pytest.raises(SceneError) as error:
        open_scene(source)
    assert f"{source.paths[2]}: not found" in str(error.value)
