"""Models: the spectral model's thresholds, smp checkpoints through safetensors, unsafe pickles refused."""

import json
import os
import platform
import subprocess
import sys
import textwrap
from pathlib import Path

import dask
import numpy as np
import pytest
import rasterio
import segmentation_models_pytorch as smp
import torch
from dask.system import CPU_COUNT
from distributed import Client
from rasterio.windows import Window

from geoseg import ProcessConfig, process
from geoseg.cluster.connect import cluster_shape, local_cluster
from geoseg.errors import ModelError
from geoseg.models import DEFAULT_MODEL, ModelRef, load_model, resolve_model
from geoseg.models.base import ModelCard
from geoseg.models.spectral import SpectralForestModel
from geoseg.models.torch_models import (
    CPU_FORWARD_TILES,
    TorchModel,
    card_path,
    load_checkpoint,
    save_checkpoint,
)
from geoseg.scenes import find_scenes, open_scene

from .conftest import S2_SAMPLE, write_raster

BANDS = ("blue", "green", "red", "nir")


def test_spectral_model_separates_canopy_from_soil_and_water() -> None:
    #                 red   nir   swir22
    pixels = np.array(
        [
            [0.03, 0.40, 0.08],  # dense canopy
            [0.20, 0.25, 0.30],  # bare soil
            [0.05, 0.02, 0.01],
        ],  # water
        np.float32,
    ).T.reshape(1, 3, 1, 3)
    probs = SpectralForestModel().predict(pixels, ("red", "nir", "swir22"))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    forest = probs[0, 1, 0]
    assert forest[0] > 0.95 and forest[1] < 0.05 and forest[2] < 0.05


def test_spectral_model_uses_swir22_only_when_present() -> None:
    model = SpectralForestModel()
    assert model.input_bands(("red", "nir", "green")) == ("red", "nir")
    assert model.input_bands(("red", "nir", "swir22")) == ("red", "nir", "swir22")
    with pytest.raises(ModelError, match="needs bands \\['nir'\\]"):
        model.input_bands(("red", "green"))


def test_builtin_model_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from geoseg.models import load_model, ModelRef; "
        "load_model(ModelRef('builtin:spectral-forest')); import geoseg.pipeline, geoseg.cli; "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_resolve_model_names_and_errors(tmp_path: Path) -> None:
    assert resolve_model("spectral") == ModelRef(DEFAULT_MODEL)
    assert resolve_model("builtin:spectral-forest") == ModelRef(DEFAULT_MODEL)
    with pytest.raises(ModelError, match="no such built-in model"):
        resolve_model("builtin:nope")
    with pytest.raises(ModelError, match="no such checkpoint"):
        resolve_model(str(tmp_path / "missing.safetensors"))


def unet_card(**overrides: object) -> ModelCard:
    fields = {
        "name": "unet-r18-test",
        "architecture": "Unet",
        "encoder": "resnet18",
        "bands": BANDS,
        "classes": ("non_forest", "forest"),
        "target_class": "non_forest",
        "normalisation": {"mean": (0.05, 0.07, 0.06, 0.25), "std": (0.03, 0.03, 0.04, 0.1)},
        "edge_margin": 16,
        "tile_size": 256,
        "overlap": 64,
    }
    return ModelCard(**(fields | overrides))


def unet(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return smp.create_model(
        "Unet", encoder_name="resnet18", encoder_weights=None, in_channels=len(BANDS), classes=2
    )


@pytest.fixture
def crop_256(tmp_path: Path) -> Path:
    """A 256 × 256 crop of the Sentinel-2 sample: one tile at the U-Net's tile size."""
    with rasterio.open(S2_SAMPLE) as src:
        window = Window(300, 300, 256, 256)
        data = src.read(window=window)
        return write_raster(
            tmp_path / "s2_crop.tif",
            data,
            crs=src.crs,
            transform=src.window_transform(window),
            descriptions=src.descriptions,
            scales=src.scales,
        )


def test_checkpoint_roundtrip_gives_the_models_own_probabilities(
    client: Client, tmp_path: Path, crop_256: Path
) -> None:
    module = unet()
    checkpoint = save_checkpoint(module, unet_card(), tmp_path / "model" / "unet.safetensors")
    assert card_path(checkpoint).exists()
    [result] = process(
        crop_256,
        tmp_path / "out",
        ProcessConfig(model=str(checkpoint), overwrite=True),
        client=client,
    )
    assert result.status == "done", result.message
    with rasterio.open(result.outputs["probability"]) as src:
        tiled = src.read()
    direct = load_checkpoint(checkpoint)
    scene = open_scene(find_scenes(crop_256)[0])
    x, _ = scene.read(Window(0, 0, 256, 256), BANDS)
    expected = direct.predict(x[None], BANDS)[0]
    np.testing.assert_allclose(tiled, expected, atol=1e-5)
    manifest = json.loads((result.outputs["probability"].parent / "manifest.json").read_text())
    assert manifest["model"]["id"].startswith(str(checkpoint.resolve()) + "@sha256:")


def test_cpu_forward_passes_of_a_few_tiles_equal_one_pass_over_the_batch() -> None:
    """A batch split into passes of ``forward_tiles`` (bounded activations on a CPU), on
    channels_last weights, gives the probabilities of the network run on the whole batch."""
    torch.manual_seed(0)
    module = unet()
    x = np.random.default_rng(0).uniform(0, 0.4, (5, len(BANDS), 64, 64)).astype(np.float32)
    norm = unet_card().normalisation
    shape = (1, -1, 1, 1)
    normalised = (x - np.reshape(norm.mean, shape)) / np.reshape(norm.std, shape)
    with torch.inference_mode():
        expected = torch.softmax(
            module.eval()(torch.from_numpy(normalised.astype(np.float32))), dim=1
        ).numpy()
    model = TorchModel(module, unet_card(), device=torch.device("cpu"), forward_tiles=2)
    assert all(
        p.is_contiguous(memory_format=torch.channels_last)
        for p in model.module.parameters()
        if p.dim() == 4
    )
    split = model.predict(x, BANDS)
    assert split.shape == expected.shape and split.dtype == np.float32
    np.testing.assert_allclose(split, expected, atol=1e-4)
    whole = TorchModel(module, unet_card(), device=torch.device("cpu"), forward_tiles=5)
    np.testing.assert_allclose(split, whole.predict(x, BANDS), atol=1e-4)
    assert (
        TorchModel(module, unet_card(), device=torch.device("cpu")).forward_tiles
        == CPU_FORWARD_TILES
    )


def test_plain_state_dict_pt_loads_weights_only(tmp_path: Path) -> None:
    module = unet(1)
    path = tmp_path / "unet.pt"
    torch.save(module.state_dict(), path)
    unet_card().to_json(card_path(path))
    loaded = load_checkpoint(path)
    for key, value in module.state_dict().items():
        torch.testing.assert_close(loaded.module.state_dict()[key].cpu(), value)


class Payload:
    """Unpickling this would run code: exactly what a checkpoint must not do."""

    def __reduce__(self):
        return (print, ("pwned",))


def test_pickled_objects_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"weights": Payload()}, path)
    unet_card().to_json(card_path(path))
    with pytest.raises(ModelError, match="pickled objects, refused") as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value)


def test_missing_card_and_mismatched_weights_are_one_line_errors(tmp_path: Path) -> None:
    path = tmp_path / "unet.safetensors"
    save_checkpoint(unet(), unet_card(), path)
    card_path(path).unlink()
    with pytest.raises(ModelError, match="model card not found"):
        load_checkpoint(path)
    unet_card(encoder="resnet34").to_json(card_path(path))
    with pytest.raises(ModelError, match="weights do not fit") as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value)


def test_invalid_card_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    path.write_text(
        json.dumps(
            {
                "name": "x",
                "architecture": "Unet",
                "bands": ["red", "lidar"],
                "classes": ["a"],
                "target_class": "a",
            }
        )
    )
    with pytest.raises(ModelError, match="invalid model card"):
        ModelCard.from_json(path)


def test_load_model_caches_per_process() -> None:
    ref = ModelRef(DEFAULT_MODEL)
    assert load_model(ref) is load_model(ref)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's heap only")
def test_prepare_process_serves_activations_from_a_heap_that_keeps_them() -> None:
    """A 64 MiB array (above glibc's largest mmap threshold) is a fresh mmap of its own, page
    faulted in on every batch, until ``prepare_process``; after it, the array comes from the
    heap, and once freed its memory stays there for the next batch."""
    code = textwrap.dedent("""
        import ctypes
        import numpy as np
        from geoseg.models.torch_models import prepare_process

        class MallInfo2(ctypes.Structure):
            _fields_ = [(name, ctypes.c_size_t) for name in (
                "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                "uordblks", "fordblks", "keepcost")]

        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = MallInfo2

        def mapped_mib_with_a_64_mib_array():
            array = np.ones(64 << 20, np.uint8)
            return libc.mallinfo2().hblkhd >> 20

        before = mapped_mib_with_a_64_mib_array()
        prepare_process(1)
        after = mapped_mib_with_a_64_mib_array()
        print(before, after, libc.mallinfo2().fordblks >> 20)
        """)
    before, after, free_kept = map(
        int,
        subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True
        ).stdout.split(),
    )
    assert before >= 64
    assert after < 64
    assert free_kept >= 64


def test_embedded_cluster_shares_one_process_and_runs_torch_per_thread(
    tmp_path: Path, crop_256: Path
) -> None:
    """The default local cluster: a thread per core in as few processes as allowed (one model
    copy each), one torch thread per task thread, one malloc arena, no stack sampling."""
    checkpoint = save_checkpoint(unet(), unet_card(), tmp_path / "model" / "unet.safetensors")
    processes, threads = cluster_shape(CPU_COUNT)
    with local_cluster() as cluster, Client(cluster) as client:
        assert sorted(client.nthreads().values()) == [threads] * processes
        [result] = process(
            crop_256, tmp_path / "out", ProcessConfig(model=str(checkpoint)), client=client
        )
        assert result.status == "done", result.message
        state = client.run(
            lambda: (
                torch.get_num_threads(),
                os.environ.get("MALLOC_ARENA_MAX"),
                dask.config.get("distributed.worker.profile.enabled"),
            )
        )
    assert set(state.values()) == {(1, "1", False)}
