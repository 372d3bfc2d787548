"""The trained model shipped in the package: found by its built-in name, honest about its scores,
and seamless when tiled (tiles reproduce whole-image inference on the Sentinel-2 sample)."""

import contextlib
from pathlib import Path

import numpy as np
import pytest
import rasterio
from distributed import Client
from rasterio.windows import Window

from geoseg import ProcessConfig, TileGrid, find_scenes, open_scene, process, seam_excess
from geoseg.errors import ModelError
from geoseg.inference import predict_whole
from geoseg.models import load_model, resolve_model, shipped_models
from geoseg.models.torch_models import TorchModel, cpu_has_bf16

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "aberystwyth_s2_2021-05-27.tif"
NAME = "unet-mobilenetv2-aberystwyth"


@pytest.fixture(scope="module")
def shipped() -> TorchModel:
    return load_model(resolve_model(f"builtin:{NAME}"))


def target_probability(model: TorchModel, path: Path) -> np.ndarray:
    """Whole-image inference of the target class over the scene at ``path``."""
    scene = open_scene(find_scenes(path)[0])
    x, _ = scene.read(Window(0, 0, scene.grid.width, scene.grid.height), model.card.bands)
    target = model.card.classes.index(model.card.target_class)
    return predict_whole(model, x, model.card.bands)[target]


def tiled_probability(model: TorchModel | str, client: Client, out: Path) -> np.ndarray:
    """``process`` at the model's default tile size and overlap; ``model`` a spec or an object."""
    if isinstance(model, str):
        [result] = process(SAMPLE, out, ProcessConfig(model=model), client=client)
        card = load_model(resolve_model(model)).card
    else:
        [result] = process(SAMPLE, out, ProcessConfig(), client=client, model=model)
        card = model.card
    assert result.status == "done", result.message
    with rasterio.open(result.outputs["probability"]) as src:
        return src.read(card.classes.index(card.target_class) + 1)


def test_builtin_name_finds_the_packaged_checkpoint_pinned_by_content() -> None:
    ref = resolve_model(f"builtin:{NAME}")
    assert Path(ref.spec) == shipped_models()[NAME] and ref.sha256 and len(ref.sha256) == 64
    assert Path(ref.spec).stat().st_size < 15 * 2**20
    with pytest.raises(ModelError, match=f"builtin:{NAME}"):  # the error lists what exists
        resolve_model("builtin:no-such-model")


def test_card_reports_held_out_scores_for_it_and_the_spectral_model(shipped: TorchModel) -> None:
    card = shipped.card
    assert card.stride == 2**card.encoder_depth == 8
    training = card.training
    assert training["date"] == "2021-05-27" and "hand-drawn polygons" in training["labels"]
    assert training["split"]["test_fraction"] > 0  # scored on blocks early stopping never saw
    for scores in (training["test"], training["spectral_model_on_test"]):
        assert 0 <= scores["f1"] <= 1 and 0 <= scores["iou"] <= 1
        assert sum(s["support"] for s in scores["scores"]) > 1000
    assert training["test"]["f1"] > training["spectral_model_on_test"]["f1"]


def test_tiled_output_matches_whole_image_inference(
    shipped: TorchModel, client: Client, tmp_path: Path
) -> None:
    whole = target_probability(shipped, SAMPLE)
    tiled = tiled_probability(f"builtin:{NAME}", client, tmp_path / "aligned")
    card = shipped.card
    tiling = TileGrid(*whole.shape, card.tile_size, card.overlap, align=card.stride)
    assert tiling.n_tiles > 1 and whole.std() > 0.2  # several tiles, and a map with contrast
    assert np.nanmean(np.abs(tiled - whole)) <= 0.01
    assert seam_excess(tiled, whole, tiling) <= 1.05


def test_tiles_off_the_stride_would_not_match(
    shipped: TorchModel, client: Client, tmp_path: Path
) -> None:
    """Why tiles start on multiples of the stride: placed anywhere (stride 1), the last tiles
    sample the scene at another phase than whole-image inference, and the maps disagree."""
    whole = target_probability(shipped, SAMPLE)
    unaligned = TorchModel(shipped.module, shipped.card.model_copy(update={"stride": 1}))
    tiled = tiled_probability(unaligned, client, tmp_path / "unaligned")
    assert np.nanmean(np.abs(tiled - whole)) > 0.01


def test_bf16_precision_agrees_with_fp32_on_classes(shipped: TorchModel) -> None:
    """``--precision bf16`` (autocast to bfloat16) is a speed lever; it must keep the classes."""
    from geoseg.models.torch_models import load_checkpoint

    ref = resolve_model(f"builtin:{NAME}", "bf16")
    assert ref.id.endswith("~bf16") and ref.id != resolve_model(f"builtin:{NAME}").id
    with (
        contextlib.nullcontext()
        if cpu_has_bf16()
        else pytest.warns(RuntimeWarning, match="emulated")
    ):
        bf16 = load_checkpoint(ref.spec, ref.precision)
    assert bf16.autocast is not None
    fp32 = target_probability(shipped, SAMPLE)
    low = target_probability(bf16, SAMPLE)
    assert not np.array_equal(fp32, low)  # it really computed in another precision
    assert ((fp32 >= 0.5) == (low >= 0.5)).mean() >= 0.99
    with pytest.raises(ModelError, match="precision"):
        resolve_model(f"builtin:{NAME}", "fp8")
