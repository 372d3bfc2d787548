"""Tiled output equals whole-image inference: exactly for pixelwise models, to 0.01 for a small CNN
whose receptive field fits in the blend margin; and the seam metric sees seams that exist."""

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from distributed import Client
from rasterio.windows import Window
from torch import nn

from geoseg import ProcessConfig, TileGrid, process, seam_excess, seam_ratio
from geoseg.models.base import ModelCard
from geoseg.models.spectral import SpectralForestModel
from geoseg.models.torch_models import TorchModel
from geoseg.scenes import find_scenes, open_scene

from .conftest import BGRN, S2_SAMPLE, forest_scene, write_raster


def whole_image(path: Path, model, bands: tuple[str, ...] | None = None) -> np.ndarray:
    """The model run once on the whole (small) scene, NaN where the input has no data."""
    scene = open_scene(find_scenes(path)[0])
    bands = bands or model.input_bands(scene.band_names)
    data, valid = scene.read(Window(0, 0, scene.grid.width, scene.grid.height), bands)
    probs = model.predict(data[None], bands)[0]
    probs[:, ~valid] = np.nan
    return probs


def tiled(client: Client, path: Path, out: Path, model=None, **config) -> np.ndarray:
    [result] = process(
        path, out, ProcessConfig(overwrite=True, **config), client=client, model=model
    )
    assert result.status == "done", result.message
    with rasterio.open(result.outputs["probability"]) as src:
        return src.read()


@pytest.mark.parametrize(
    ("tile", "overlap", "block"),
    [(64, 0, 1024), (100, 20, 128), (256, 64, 256), (300, 50, 1024), (512, 0, 512)],
)
def test_spectral_tiled_equals_whole_image(
    client: Client, tmp_path: Path, tile: int, overlap: int, block: int
) -> None:
    whole = whole_image(S2_SAMPLE, SpectralForestModel())
    out = tiled(client, S2_SAMPLE, tmp_path, tile_size=tile, overlap=overlap, block_size=block)
    np.testing.assert_allclose(out, whole, atol=1e-6, rtol=0)


def test_spectral_tiled_equals_whole_image_with_nodata(client: Client, tmp_path: Path) -> None:
    data = forest_scene(300, 260)
    data[:, 40:110, 150:] = 0  # a nodata collar crossing tile borders
    data[2, 200, :] = 0  # and a line where one band is missing
    path = write_raster(tmp_path / "with_nodata.tif", data, descriptions=BGRN, nodata=0)
    whole = whole_image(path, SpectralForestModel())
    out = tiled(client, path, tmp_path / "out", tile_size=64, overlap=16, block_size=96)
    assert np.isnan(whole).any()
    np.testing.assert_array_equal(np.isnan(out), np.isnan(whole))
    np.testing.assert_allclose(out, whole, atol=1e-6, rtol=0)


class SmallCNN(nn.Module):
    """Three 3 × 3 convolutions with zero padding: receptive-field radius 3."""

    radius = 3

    def __init__(self, bands: int, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.net = nn.Sequential(
            nn.Conv2d(bands, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 2, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x) * 4.0  # sharpen the softmax so edge errors would show


def small_cnn_model(seed: int = 0) -> TorchModel:
    bands = ("blue", "green", "red", "nir")
    card = ModelCard(
        name="small-cnn",
        architecture="test-cnn",
        bands=bands,
        classes=("a", "b"),
        target_class="a",
        edge_margin=SmallCNN.radius,
        normalisation={"mean": (0.05, 0.08, 0.06, 0.3), "std": (0.05,) * 4},
    )
    return TorchModel(SmallCNN(len(bands), seed), card, device=torch.device("cpu"))


@pytest.mark.parametrize(("tile", "overlap"), [(64, 6), (64, 16), (96, 20), (128, 32)])
def test_cnn_tiled_equals_whole_image_when_overlap_covers_receptive_field(
    client: Client, tmp_path: Path, tile: int, overlap: int
) -> None:
    model = small_cnn_model()
    whole = whole_image(S2_SAMPLE, model)
    out = tiled(
        client, S2_SAMPLE, tmp_path, model=model, tile_size=tile, overlap=overlap, block_size=256
    )
    assert np.abs(out - whole).max() <= 0.01


def test_cnn_without_margin_shows_seams(client: Client, tmp_path: Path) -> None:
    """The same CNN with plain averaging: edge effects leak in and the seam metric sees them."""
    model = small_cnn_model()
    whole = whole_image(S2_SAMPLE, model)
    out = tiled(
        client,
        S2_SAMPLE,
        tmp_path,
        model=model,
        tile_size=64,
        overlap=6,
        block_size=256,
        blend="mean",
    )
    assert np.abs(out - whole).max() > 0.05
    grid = TileGrid(whole.shape[1], whole.shape[2], 64, 6)
    assert seam_excess(out[0], whole[0], grid) > 1.2


def test_seam_ratio_of_a_step_at_tile_borders() -> None:
    grid = TileGrid(128, 128, 64, 16)
    rng = np.random.default_rng(0)
    smooth = rng.normal(0, 0.01, (128, 128))
    stepped = smooth.copy()
    stepped[:, 48:] += 1.0  # a jump exactly at the second tile's left edge
    assert seam_ratio(smooth, grid) == pytest.approx(1.0, abs=0.2)
    assert seam_ratio(stepped, grid) > 10
    assert seam_excess(stepped, smooth, grid) > 10
