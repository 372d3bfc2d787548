"""A short training run on a crop of the real Sentinel-2 sample, with weak spectral labels."""

from pathlib import Path

import rasterio
from distributed import Client
from rasterio.windows import Window

from geoseg import ProcessConfig, process
from geoseg.models.torch_models import load_checkpoint
from geoseg.scenes import find_scenes, open_scene
from geoseg.training.labels import SpectralLabels
from geoseg.training.trainer import TrainConfig, train

from ..conftest import S2_SAMPLE, write_raster


def test_short_training_lowers_the_loss_and_writes_a_model_process_loads(
    client: Client, tmp_path: Path
) -> None:
    with rasterio.open(S2_SAMPLE) as src:
        window = Window(300, 300, 320, 320)
        crop = write_raster(
            tmp_path / "aber_2021-05-27.tif",
            src.read(window=window),
            crs=src.crs,
            transform=src.window_transform(window),
            descriptions=src.descriptions,
            scales=src.scales,
        )
    scene = open_scene(find_scenes(crop)[0])
    config = TrainConfig(
        tile=64,
        batch_size=4,
        epochs=4,
        steps_per_epoch=8,
        val_block=96,
        val_fraction=0.2,
        gap=16,
        patience=4,
        learning_rate=3e-3,
    )
    steps: list[tuple[int, int, int, float]] = []
    result = train(
        scene,
        SpectralLabels(),
        tmp_path / "model",
        config,
        "spectral weak labels",
        on_step=lambda *step: steps.append(step),
    )
    assert [s[:3] for s in steps[:2]] == [(1, 1, 8), (1, 2, 8)]
    assert len(steps) == 8 * len(result.history)
    losses = [h["loss"] for h in result.history]
    assert losses[-1] < losses[0], losses
    card = load_checkpoint(result.checkpoint).card
    assert card.training["labels"] == "spectral weak labels"
    assert 0 <= card.training["validation"]["f1"] <= 1
    [done] = process(
        crop, tmp_path / "out", ProcessConfig(model=str(result.checkpoint)), client=client
    )
    assert done.status == "done", done.message


def test_train_command_scores_test_blocks_once_with_a_shallow_encoder(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from geoseg.cli import app

    result = CliRunner().invoke(
        app,
        [
            "train",
            str(S2_SAMPLE),
            "--labels",
            "spectral",
            "-o",
            str(tmp_path / "m"),
            "--encoder",
            "mobilenet_v2",
            "--encoder-depth",
            "3",
            "--tile",
            "64",
            "--epochs",
            "1",
            "--test-fraction",
            "0.2",
            "--threads",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "test blocks: F1" in result.output
    assert "ran all 1 epochs; best epoch 1 kept" in result.output
    card = load_checkpoint(tmp_path / "m" / "model.safetensors").card
    assert (card.encoder_depth, card.stride) == (3, 8)
    assert card.overlap % card.stride == 0 and card.training["test"] is not None
