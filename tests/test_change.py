"""Change between dates: the loss rule and masks, a semi-synthetic clearing test built from the
real Sentinel-2 sample, and bad pairs."""

import json
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
from affine import Affine
from distributed import Client
from PIL import Image
from rasterio.crs import CRS
from rasterio.windows import Window
from scipy import ndimage

from geoseg import ProcessConfig
from geoseg.change import (
    GAIN,
    LOSS,
    LOSS_LAYER,
    UNCHANGED,
    UNKNOWN,
    LossRule,
    change_classes,
    is_forest,
    usable,
)
from geoseg.errors import ConfigError
from geoseg.grid import Grid
from geoseg.models.spectral import SpectralForestModel
from geoseg.pipeline import change, change_pairs
from geoseg.scenes import find_scenes, open_scene
from geoseg.store import BlockStore, segmentation_layers
from geoseg.tiling import blocks

from .conftest import BGRN, S2_SAMPLE, forest_scene, write_raster


def test_loss_rule() -> None:
    before = np.array([0.9, 0.9, 0.9, 0.2, 0.2, 0.55, 0.9])
    after = np.array([0.1, 0.8, 0.45, 0.9, 0.3, 0.45, 0.1])
    known = np.array([True, True, True, True, True, True, False])
    classes = change_classes(before, after, known, LossRule(forest_threshold=0.5, min_drop=0.3))
    assert classes.tolist() == [LOSS, UNCHANGED, LOSS, GAIN, UNCHANGED, UNCHANGED, UNKNOWN]


def test_a_probability_of_exactly_one_half_is_not_forest_in_classes_or_change(
    tmp_path: Path,
) -> None:
    """One tie rule: the class raster's argmax gives a tie to non_forest (listed first), and the
    loss rule's forest is above the threshold, not at it."""
    grid = Grid(CRS.from_epsg(32720), Affine(10, 0, 0, 0, -10, 0), 4, 4)
    store = BlockStore(tmp_path, grid, segmentation_layers(("non_forest", "forest")))
    [block] = blocks(4, 4, 16)
    store.write_segmentation(block, np.full((2, 4, 4), 0.5, np.float32))
    with rasterio.open(store.path("classes", block)) as src:
        assert (src.read(1) == 0).all()  # non_forest
    rule = LossRule()
    half = np.full(3, 0.5)
    assert not is_forest(half, rule).any()
    classes = change_classes(np.array([0.5, 0.81]), np.array([0.2, 0.5]), np.ones(2, bool), rule)
    assert classes.tolist() == [UNCHANGED, LOSS]  # 0.5 before was not forest; 0.5 after is not


def test_quality_masks() -> None:
    scl = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
    assert usable(scl, "scl").tolist() == [
        False,
        False,
        True,
        False,
        True,
        True,
        True,
        True,
        False,
        False,
        False,
        False,
    ]
    qa = np.array([0b0, 0b1, 0b10, 0b100, 0b1000, 0b10000, 0b1000000, 21824])
    assert usable(qa, "qa_pixel").tolist() == [
        True,
        False,
        False,
        False,
        False,
        False,
        True,
        True,
    ]  # 21824: Landsat 8 clear land


# Painted clearings (hectares → square sides at 10 m) and the tile size of the run.
CLEARINGS_HA = (0.5, 1, 3, 10, 50)
TILE = 256


def _forest(data: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    bands = ("red", "nir", "swir22")
    x = np.stack([data[names.index(b)] for b in bands])[None]
    return SpectralForestModel().predict(x, bands)[0, 1] >= 0.9


BORDERS = (256, 512, 674, 768)  # tile edges of a 930 × 947 scene at tile 256, no overlap


def _place(free: np.ndarray, side: int, near: tuple[int, int], across: bool) -> tuple[int, int]:
    """Top-left corner, closest to ``near``, of a side × side square entirely in ``free``;
    with ``across``, only squares that straddle a tile border are considered."""
    fits = ndimage.minimum_filter(free.astype(np.uint8), size=side, origin=-(side // 2)) > 0
    fits[-side:, :] = False
    fits[:, -side:] = False
    rows, cols = np.nonzero(fits)
    if across:
        straddles = np.zeros(rows.shape, bool)
        for b in BORDERS:
            straddles |= ((rows < b) & (b < rows + side)) | ((cols < b) & (b < cols + side))
        rows, cols = rows[straddles], cols[straddles]
    best = np.argmin((rows - near[0]) ** 2 + (cols - near[1]) ** 2)
    return int(rows[best]), int(cols[best])


@pytest.fixture(scope="module")
def painted(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, Path, dict, np.ndarray, np.ndarray]:
    """Before: the real scene (+ a clear SCL band). After: clearings of known areas painted with
    the scene's own bare-soil spectrum, some across tile borders, and a cloud (SCL 9)."""
    root = tmp_path_factory.mktemp("painted")
    scene = open_scene(find_scenes(S2_SAMPLE)[0])
    with rasterio.open(S2_SAMPLE) as src:
        raw, profile, labels = src.read(), src.profile, src.descriptions
    data, _ = scene.read(Window(0, 0, scene.grid.width, scene.grid.height), scene.band_names)
    forest = _forest(data, scene.band_names)
    red, nir = data[scene.band_names.index("red")], data[scene.band_names.index("nir")]
    ndvi = (nir - red) / (nir + red)
    soil = np.median(raw[:, (ndvi < 0.15) & (nir > 0.1)], axis=1).astype(np.uint16)
    after = raw.copy()
    free = ndimage.binary_erosion(forest, iterations=3)
    truth = {}
    # The 1, 3 and 10 ha clearings straddle a tile border (and so a block border too).
    for hectares, near in zip(
        CLEARINGS_HA,
        [(100, 100), (TILE, TILE), (2 * TILE, TILE), (TILE, 2 * TILE), (674, 674)],
        strict=True,
    ):
        side = round(np.sqrt(hectares * 100))
        r, c = _place(free, side, near, across=1 <= hectares <= 10)
        after[:, r : r + side, c : c + side] = soil[:, None, None]
        free[max(0, r - 5) : r + side + 5, max(0, c - 5) : c + side + 5] = False
        truth[hectares] = (r, c, side)
    cr, cc = _place(free, 40, (800, 200), across=False)
    after[:, cr : cr + 40, cc : cc + 40] = 900  # bright cloud over forest
    scl_before = np.full((1, *raw.shape[1:]), 4, np.uint16)  # 4: vegetation
    scl_after = scl_before.copy()
    scl_after[0, cr : cr + 40, cc : cc + 40] = 9  # cloud, high probability
    paths = []
    for name, bands, scl in (
        ("aber_2021-05-27", raw, scl_before),
        ("aber_2022-06-02", after, scl_after),
    ):
        path = root / f"{name}.tif"
        with rasterio.open(path, "w", **(profile | {"count": 11})) as dst:
            dst.write(np.concatenate([bands, scl]))
            dst.descriptions = (*labels, "SCL")
            dst.scales = (0.001,) * 10 + (1.0,)
        paths.append(path)
    cloud = np.zeros(raw.shape[1:], bool)
    cloud[cr : cr + 40, cc : cc + 40] = True
    return paths[0], paths[1], truth, cloud, forest


def test_painted_clearings_are_found_with_their_areas(
    client: Client, tmp_path: Path, painted
) -> None:
    before, after, truth, cloud, forest = painted
    crossing = [
        ha
        for ha, (r, c, side) in truth.items()
        if any(r < b < r + side or c < b < c + side for b in BORDERS)
    ]
    assert len(crossing) >= 3, truth  # clearings of 1 to 10 ha span tiles
    result = change(
        before,
        after,
        tmp_path,
        ProcessConfig(tile_size=TILE, overlap=0, block_size=256),
        client=client,
    )
    polygons = pyogrio.read_dataframe(result.outputs["polygons"], layer=LOSS_LAYER)
    for hectares, (r, c, side) in truth.items():
        if hectares < 1:
            continue
        t = Affine(10, 0, 0, 0, -10, 0)  # only for matching: pixel boxes vs polygon bounds
        with rasterio.open(before) as src:
            t = src.transform
        x0, y0 = t @ (c, r)
        x1, y1 = t @ (c + side, r + side)
        square = shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        hits = polygons[polygons.intersects(square.buffer(-1))]
        assert len(hits) == 1, (hectares, len(hits))
        painted_ha = side * side * 100 / 1e4
        assert hits.iloc[0]["area_ha"] == pytest.approx(painted_ha, rel=0.05)
        assert hits.iloc[0]["mean_probability_drop"] > 0.5
        assert hits.iloc[0]["date_before"] == "2021-05-27"
    with rasterio.open(result.outputs["loss"]) as src:
        loss = src.read(1)
    assert not (loss[cloud] == LOSS).any()
    assert (loss[cloud] == UNKNOWN).all()
    painted_mask = np.zeros_like(cloud)
    for r, c, side in truth.values():
        painted_mask[r : r + side, c : c + side] = True
    false_loss = ((loss == LOSS) & ~painted_mask).sum()
    assert false_loss <= 0.005 * forest.sum()
    summary = result.summary
    assert summary is not None
    expected_ha = sum(side * side for _, _, side in truth.values()) / 100
    assert summary.loss_ha == pytest.approx(expected_ha, rel=0.05)
    assert 0.99 < summary.observed_share < 1.0  # the cloud is not observed


def test_quicklook_and_summary_files(client: Client, tmp_path: Path, painted) -> None:
    before, after, *_ = painted
    result = change(before, after, tmp_path, ProcessConfig(tile_size=512, overlap=0), client=client)
    for name in ("loss", "probability_drop", "polygons", "summary", "quicklook"):
        assert result.outputs[name].parent == tmp_path
        assert result.outputs[name].exists(), name
    assert not (tmp_path / ".geoseg-work").exists()
    with Image.open(result.outputs["quicklook"]) as quicklook:
        # three panels with a title strip above and a legend strip below
        width, height = quicklook.size
        assert height > width // 3 + 40
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert result.summary is not None
    assert manifest["summary"] == result.summary.model_dump(mode="json")
    assert manifest["parameters"]["rule"] == {"forest_threshold": 0.5, "min_drop": 0.3}
    assert json.loads((tmp_path / "summary.json").read_text()) == manifest["summary"]


def _pair(tmp_path: Path, **after_kwargs) -> tuple[Path, Path]:
    before = write_raster(tmp_path / "a_2001-01-01.tif", forest_scene(), descriptions=BGRN)
    kwargs = {"descriptions": BGRN} | after_kwargs
    data = kwargs.pop("data", forest_scene(seed=1))
    name = kwargs.pop("name", "b_2005-01-01.tif")
    return before, write_raster(tmp_path / name, data, **kwargs)


def test_loss_opens_in_class_colours_with_named_layers(
    client: Client, tmp_path: Path, painted
) -> None:
    """loss.tif carries its colour table and class names; loss.qml names the classes for QGIS;
    loss.gpkg's layer is "loss"."""
    before, after, *_ = painted
    result = change(before, after, tmp_path, ProcessConfig(tile_size=512, overlap=0), client=client)
    with rasterio.open(result.outputs["loss"]) as src:
        colours = src.colormap(1)
        names = src.tags(1)
    assert colours[1][:3] == (220, 20, 20) and colours[2][:3] == (30, 90, 255)
    assert colours[0][:3] == (211, 211, 211)
    assert names["CLASS_0"] == "unchanged" and names["CLASS_1"] == "loss"
    qml = (tmp_path / "loss.qml").read_text()
    assert 'type="paletted"' in qml and 'label="gain"' in qml and 'value="255"' not in qml
    assert not list(tmp_path.glob("*.aux.xml"))
    assert pyogrio.list_layers(result.outputs["polygons"])[0][0] == "loss"


def test_pairs_that_cannot_be_compared_are_one_line_errors(client: Client, tmp_path: Path) -> None:
    cases = {
        "does not overlap": {"transform": Affine(10, 0, 900_000, 0, -10, 9_000_000)},
        "both dated": {"name": "b_2001-01-01.tif"},
        "later than": {"name": "b_1999-01-01.tif"},
        "different band sets": {
            "data": np.concatenate([forest_scene(seed=1), forest_scene(seed=2)[:1]]),
            "descriptions": (*BGRN, "swir22"),
        },
        "no acquisition date": {"name": "undated.tif"},
    }
    for i, (fragment, kwargs) in enumerate(cases.items()):
        before, after = _pair(tmp_path / str(i), **kwargs)
        result = change(before, after, tmp_path / f"out{i}", client=client)
        assert result.status == "failed" and fragment in result.message, result.message
        assert "\n" not in result.message
        assert not (tmp_path / f"out{i}" / "loss.tif").exists()


def test_reversed_pair_runs_when_allowed(client: Client, tmp_path: Path) -> None:
    from geoseg.change import ChangeOptions

    before, after = _pair(tmp_path, name="b_1999-01-01.tif")
    result = change(
        before, after, tmp_path / "out", options=ChangeOptions(allow_reversed=True), client=client
    )
    assert result.summary is not None and result.summary.date_after == "1999-01-01"


def test_everything_masked_gives_a_clean_empty_result(client: Client, tmp_path: Path) -> None:
    data = np.concatenate([forest_scene(seed=1), np.full((1, 96, 80), 9, np.uint16)])
    before, after = _pair(tmp_path, data=data, descriptions=(*BGRN, "SCL"))
    result = change(before, after, tmp_path / "out", client=client)
    assert result.summary is not None
    assert result.summary.observed_share == 0 and result.summary.loss_ha == 0
    assert pyogrio.read_info(result.outputs["polygons"], layer=LOSS_LAYER)["features"] == 0
    with rasterio.open(result.outputs["loss"]) as src:
        assert (src.read(1) == UNKNOWN).all()


def test_scenes_on_different_grids_are_aligned(client: Client, tmp_path: Path) -> None:
    """The after scene at 20 m, shifted: read onto the before scene's 10 m grid."""
    data = forest_scene(48, 40, seed=1)
    before, after = _pair(tmp_path, data=data, transform=Affine(20, 0, 500_100, 0, -20, 8_999_900))
    result = change(before, after, tmp_path / "out", client=client)
    with rasterio.open(result.outputs["loss"]) as src, rasterio.open(before) as ref:
        assert src.transform == ref.transform and src.shape == ref.shape
        loss = src.read(1)
    assert (loss[:10] == UNKNOWN).all()  # the after scene starts 100 m further south
    assert (loss[20:] != UNKNOWN).mean() > 0.5


def test_normalisation_undoes_a_calibration_difference(tmp_path: Path) -> None:
    """A copy of a scene with its visible bands ×11 (as the 1986 Costa Rica image) is brought
    back onto the original's radiometry through its bands' scale and offset."""
    from geoseg.change import normalised_to

    data = forest_scene(seed=4)
    bright = data.astype(np.float64)
    bright[:3] *= 11
    reference = write_raster(tmp_path / "ref.tif", data, descriptions=BGRN)
    scaled = write_raster(tmp_path / "bright.tif", bright.astype(np.uint16), descriptions=BGRN)
    ref_scene, bright_scene = (open_scene(find_scenes(p)[0]) for p in (reference, scaled))
    fixed = normalised_to(bright_scene, ref_scene, BGRN)
    window = Window(0, 0, 80, 96)
    expected, _ = ref_scene.read(window, BGRN)
    got, _ = fixed.read(window, BGRN)
    np.testing.assert_allclose(
        np.median(got, axis=(1, 2)), np.median(expected, axis=(1, 2)), rtol=0.02
    )


def test_change_command_runs_consecutive_pairs(client: Client, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from geoseg.cli import app

    for name, seed in (("a_2001-01-01", 0), ("a_2003-01-01", 1), ("a_2005-01-01", 2)):
        write_raster(tmp_path / "in" / f"{name}.tif", forest_scene(seed=seed), descriptions=BGRN)
    far = Affine(10, 0, 900_000, 0, -10, 9_000_000)  # another place: paired with nothing
    write_raster(
        tmp_path / "in" / "b_2002-01-01.tif", forest_scene(), descriptions=BGRN, transform=far
    )
    result = CliRunner().invoke(
        app,
        [
            "change",
            str(tmp_path / "in"),
            "-o",
            str(tmp_path / "out"),
            "--pairs",
            "consecutive",
            "--scheduler",
            client.scheduler.address,
        ],
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "a_2001-01-01__a_2003-01-01",
        "a_2003-01-01__a_2005-01-01",
    ]
    assert "geoseg change" in result.output
    assert "b_2002-01-01: left out of the comparison (no other date of its place)" in " ".join(
        result.output.split()
    )


def test_scenes_left_out_of_change_pairs_are_each_named_with_the_reason(tmp_path: Path) -> None:
    """With no pair left, the error names every scene and why (once: no notes as well); with
    pairs, each scene left out is a note."""
    write_raster(tmp_path / "undated.tif", forest_scene(), descriptions=BGRN)
    write_raster(
        tmp_path / "plain_2020-01-01.tif", forest_scene(), descriptions=("a", "b", "c", "d")
    )
    (tmp_path / "broken_2021-01-01.tif").write_bytes(b"garbage")
    with pytest.raises(ConfigError) as error:
        change_pairs(tmp_path, tmp_path / "out")
    message = str(error.value)
    assert "no two dated scenes of one place to compare (" in message
    assert "undated: left out of the comparison (no acquisition date" in message
    assert "plain_2020-01-01: left out of the comparison (" in message
    assert "broken_2021-01-01: left out of the comparison (" in message and "cannot read" in message
