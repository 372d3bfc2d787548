"""Seams on a real scene: plain averaging of tiles shows them, geoseg's cosine blend does not.

A U-Net (resnet18 encoder, random weights, three seeds) segments the Sentinel-2 sample through
``geoseg.process`` with tiles of 256 px overlapping by 64; each tiled target-class map is compared
with one whole-image pass by ``seam_excess`` (1.0 = no seam added by tiling). Random networks are
chaotic, so tiled and whole maps disagree everywhere and single seeds are noisy: the assertions are
on the mean over seeds. Measured here: mean blend 4.1 / 86.6 / 4.8, cosine 1.07 / 1.17 / 1.24
(mean 1.16); the cosine bound 1.3 leaves room for that noise and is far below any mean-blend seed.
``benchmarks/seams.py`` runs the same measurement with resnet34 and explains the choices.
"""

import statistics
from pathlib import Path

import numpy as np
import pytest
import rasterio
import segmentation_models_pytorch as smp
import torch
from distributed import Client
from rasterio.windows import Window

from geoseg import ProcessConfig, TileGrid, find_scenes, open_scene, process, seam_excess
from geoseg.models.base import ModelCard, Normalisation
from geoseg.models.torch_models import TorchModel

SCENE = Path(__file__).resolve().parent.parent / "samples" / "aberystwyth_s2_2021-05-27.tif"
BANDS = ("blue", "green", "red", "nir")
CLASSES = ("other", "forest")
TARGET = 1
TILE, OVERLAP = 256, 64
EDGE_MARGIN = 16  # half the largest margin (overlap / 2): drops the worst edge pixels, keeps a ramp
SEEDS = (0, 1, 2)
COSINE_BOUND = 1.3


def random_unet(seed: int, x: np.ndarray) -> TorchModel:
    """A resnet18 U-Net with random weights from ``seed``; inputs normalised by ``x``'s bands."""
    torch.manual_seed(seed)
    module = smp.create_model(
        "Unet",
        encoder_name="resnet18",
        encoder_weights=None,
        in_channels=len(BANDS),
        classes=len(CLASSES),
    )
    normalisation = Normalisation(
        mean=tuple(float(v) for v in x.mean(axis=(1, 2))),
        std=tuple(float(v) for v in x.std(axis=(1, 2))),
    )
    card = ModelCard(
        name=f"random-unet-seed{seed}",
        architecture="Unet",
        encoder="resnet18",
        bands=BANDS,
        classes=CLASSES,
        target_class=CLASSES[TARGET],
        normalisation=normalisation,
        edge_margin=EDGE_MARGIN,
        tile_size=TILE,
        overlap=OVERLAP,
    )
    return TorchModel(module, card, device=torch.device("cpu"))


def whole_image(model: TorchModel, x: np.ndarray) -> np.ndarray:
    """One pass over the scene, reflection-padded at the bottom/right to a multiple of 32."""
    rows, cols = x.shape[1:]
    padded = np.pad(x, ((0, 0), (0, -rows % 32), (0, -cols % 32)), mode="reflect")
    return model.predict(padded[None], BANDS)[0, TARGET, :rows, :cols]


def tiled(model: TorchModel, client: Client, blend: str, out_dir: Path) -> np.ndarray:
    config = ProcessConfig(tile_size=TILE, overlap=OVERLAP, blend=blend, overwrite=True)
    [result] = process(SCENE, out_dir, config, client=client, model=model)
    assert result.status == "done", result.message
    with rasterio.open(result.outputs["probability"]) as src:
        return src.read(TARGET + 1)


@pytest.fixture(scope="module")
def excess(client: Client, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[float]]:
    """Seam excess per seed of each blend mode."""
    scene = open_scene(find_scenes(SCENE)[0])
    x, _ = scene.read(Window(0, 0, scene.grid.width, scene.grid.height), BANDS)
    tiling = TileGrid(scene.grid.height, scene.grid.width, TILE, OVERLAP)
    out = tmp_path_factory.mktemp("seams")
    found: dict[str, list[float]] = {"mean": [], "cosine": []}
    for seed in SEEDS:
        model = random_unet(seed, x)
        whole = whole_image(model, x)
        for blend, values in found.items():
            values.append(
                seam_excess(tiled(model, client, blend, out / f"{seed}-{blend}"), whole, tiling)
            )
    return found


@pytest.mark.slow
def test_plain_averaging_leaves_seams(excess: dict[str, list[float]]) -> None:
    assert statistics.fmean(excess["mean"]) > 1.5, excess


@pytest.mark.slow
def test_cosine_blend_adds_almost_no_seam(excess: dict[str, list[float]]) -> None:
    assert statistics.fmean(excess["cosine"]) <= COSINE_BOUND, excess
    assert all(c < m for c, m in zip(excess["cosine"], excess["mean"], strict=True)), excess
