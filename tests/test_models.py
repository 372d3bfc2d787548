"""Models: the spectral model's thresholds, smp checkpoints through safetensors, unsafe pickles refused."""

import json
import os
import platform
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import dask
import numpy as np
import pytest
import rasterio
import safetensors.torch
import segmentation_models_pytorch as smp
import torch
from dask.system import CPU_COUNT
from distributed import Client
from rasterio.windows import Window
from typer.testing import CliRunner

from geoseg import ProcessConfig, process
from geoseg.cli import app
from geoseg.cluster.connect import cluster_shape, local_cluster
from geoseg.cluster.tasks import describe_scene
from geoseg.errors import ModelError
from geoseg.models import DEFAULT_MODEL, ModelRef, load_model, resolve_model
from geoseg.models.base import ModelCard, require_bands
from geoseg.models.spectral import SpectralForestModel
from geoseg.models.torch_models import (
    CPU_FORWARD_TILES,
    TorchModel,
    build_smp_module,
    card_path,
    load_checkpoint,
    save_checkpoint,
)
from geoseg.scenes import SceneOptions, find_scenes, open_scene

from .conftest import S2_SAMPLE, SAMPLES, write_raster

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


def test_band_message_says_what_the_model_reads_and_what_the_scene_is() -> None:
    """A Sentinel-2 model on a Landsat composite: `bands` cannot help, so the message says the
    model reads Sentinel-2's bands, what the scene is, and which model fits it (issue 17)."""
    card = ModelCard(
        name="s2-net",
        architecture="Unet",
        bands=("blue", "green", "red", "rededge1", "nir", "swir16"),
        classes=("non_forest", "forest"),
        target_class="non_forest",
    )
    landsat = ("swir16", "nir", "red", "green")
    with pytest.raises(ModelError) as unknown:
        require_bands(card, landsat, card.bands)
    message = str(unknown.value)
    assert message.startswith("model s2-net needs bands ['blue', 'rededge1'] the scene lacks: ")
    assert "it reads Sentinel-2's bands (blue, green, red, rededge1, nir, swir16)" in message
    assert "this scene has 4 bands (swir16, nir, red, green), not Sentinel-2's" in message
    assert "builtin:spectral-forest (red and nir) on this one" in message
    assert unknown.value.options == ("bands",)
    with pytest.raises(ModelError, match="this scene is Landsat TM/ETM\\+ with 4 bands \\(swir16"):
        require_bands(card, landsat, card.bands, sensor="landsat-tm")
    with pytest.raises(ModelError) as spectral:
        SpectralForestModel().input_bands(("red", "green"))
    assert "it reads red, nir, and this scene has 2 bands (red, green);" in str(spectral.value)
    assert "spectral-forest (red and nir) on this one" not in str(spectral.value)


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
    with pytest.raises(ModelError, match="does not fit its card") as info:
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


# Checkpoints that do not work: each is refused in one line naming the file, where the user names
# the model (``resolve_model``, on the client, before any task), and again by ``load_checkpoint``
# (in a worker). The networks are tiny (a timm ResNet-10-T at depth 3: 0.5 M parameters).


def tiny_card(**overrides: object) -> ModelCard:
    fields: dict[str, object] = {
        "name": "tiny",
        "encoder": "tu-resnet10t",
        "encoder_depth": 3,
        "stride": 8,
    }
    return unet_card(**(fields | overrides))


def tiny_checkpoint(
    folder: Path, card: ModelCard | None = None, weights_of: ModelCard | None = None
) -> Path:
    """``folder/model.safetensors``: the weights of ``weights_of``'s network (by default the
    card's own), with ``card`` beside them."""
    card = card or tiny_card()
    torch.manual_seed(0)
    module = build_smp_module(weights_of or card)
    return save_checkpoint(module, card, folder.resolve() / "model.safetensors")


def tensors_of(checkpoint: Path) -> dict[str, torch.Tensor]:
    """The checkpoint's tensors in memory: safetensors maps the file, and overwriting a file
    that is still mapped crashes the process (SIGBUS)."""
    return {key: t.clone() for key, t in safetensors.torch.load_file(checkpoint).items()}


def write_card(checkpoint: Path, **fields: object) -> None:
    """Rewrite the card beside ``checkpoint`` with ``fields`` changed, unvalidated."""
    card = json.loads(card_path(checkpoint).read_text())
    card_path(checkpoint).write_text(json.dumps(card | fields))


def refusal(checkpoint: Path) -> str:
    """The error that ``resolve_model`` and ``load_checkpoint`` both raise for ``checkpoint``:
    one line, naming a file, at most 200 characters besides the file's name."""
    with pytest.raises(ModelError) as resolving:
        resolve_model(str(checkpoint))
    with pytest.raises(ModelError) as loading:
        load_checkpoint(checkpoint)
    message = str(resolving.value)
    assert str(loading.value) == message
    assert "\n" not in message and "Traceback" not in message
    named, _, problem = message.partition(": ")
    assert Path(named) in {checkpoint, card_path(checkpoint)}
    assert len(problem) <= 200, message
    return message


def test_a_fitting_tiny_checkpoint_resolves_and_loads(tmp_path: Path) -> None:
    checkpoint = tiny_checkpoint(tmp_path)
    assert load_model(resolve_model(str(checkpoint))).card == tiny_card()


@pytest.mark.parametrize(
    ("encoder", "suggested"),
    [
        ("resnet9000", "(did you mean 'resnet50', 'resnet101'"),
        ("tu-resnet10", "did you mean 'tu-resnet10t'"),
        ("tu-nonexistent_model", "did you mean"),  # timm's "Unknown model", naming no file
        ("zzz", "(neither an smp encoder nor 'tu-' + a timm model)"),
    ],
)
def test_an_unknown_encoder_names_the_card_and_a_few_close_encoders(
    tmp_path: Path, encoder: str, suggested: str
) -> None:
    """Not smp's 1,486-character list of every encoder, nor timm's "Unknown model"."""
    checkpoint = tiny_checkpoint(tmp_path)
    write_card(checkpoint, encoder=encoder)
    message = refusal(checkpoint)
    assert message.startswith(f"{card_path(checkpoint)}: unknown encoder {encoder!r} (")
    assert suggested in message


@pytest.mark.parametrize(
    ("architecture", "suggested"),
    [
        ("Unett", "(did you mean 'Unet' or 'MAnet'?)"),
        ("MaskRCNN", "(smp has Unet, UnetPlusPlus, MAnet, Linknet, FPN, PSPNet, DeepLabV3,"),
    ],
)
def test_an_unknown_architecture_names_the_card_and_smps_architectures(
    tmp_path: Path, architecture: str, suggested: str
) -> None:
    checkpoint = tiny_checkpoint(tmp_path)
    write_card(checkpoint, architecture=architecture)
    message = refusal(checkpoint)
    assert message.startswith(f"{card_path(checkpoint)}: unknown architecture {architecture!r} ")
    assert suggested in message


def test_an_encoder_smp_cannot_build_names_the_card_and_why(tmp_path: Path) -> None:
    checkpoint = tiny_checkpoint(tmp_path)
    write_card(checkpoint, encoder="tu-vit_tiny_patch16_224")  # a timm model, not a CNN
    assert refusal(checkpoint).startswith(
        f"{card_path(checkpoint)}: smp cannot build Unet/tu-vit_tiny_patch16_224 at depth 3 "
        "(ValueError: "
    )


SIX_BANDS = ("blue", "green", "red", "nir", "swir16", "swir22")
THREE_CLASSES = ("non_forest", "forest", "water")


@pytest.mark.parametrize(
    ("weights_of", "problem"),
    [
        (
            tiny_card(bands=SIX_BANDS, normalisation=None),
            (
                "tensor 'encoder.model.conv1.0.weight' is [24, 6, 3, 3] in the file, "
                "[24, 4, 3, 3] in the model"
            ),
        ),
        (
            tiny_card(classes=THREE_CLASSES),
            (
                "tensor 'segmentation_head.0.weight' is [3, 16, 3, 3] in the file, "
                "[2, 16, 3, 3] in the model (1 more differs)"
            ),
        ),
        (
            tiny_card(encoder_depth=4, stride=16),
            (
                "tensor 'decoder.blocks.0.conv1.0.weight' is [128, 384, 3, 3] in the file, "
                "[64, 192, 3, 3] in the model (29 more differ)"
            ),
        ),
    ],
    ids=["bands", "classes", "depth"],
)
def test_weights_of_another_network_name_the_first_tensor_that_differs(
    tmp_path: Path, weights_of: ModelCard, problem: str
) -> None:
    checkpoint = tiny_checkpoint(tmp_path, weights_of=weights_of)
    assert refusal(checkpoint) == (
        f"{checkpoint}: does not fit its card (Unet/tu-resnet10t, 4 bands, 2 classes): {problem}"
    )


def test_missing_and_unexpected_tensors_are_counted_and_the_first_named(tmp_path: Path) -> None:
    checkpoint = tiny_checkpoint(tmp_path)
    state = tensors_of(checkpoint)
    last = list(state)[-3:]
    safetensors.torch.save_file({k: v for k, v in state.items() if k not in last}, checkpoint)
    assert refusal(checkpoint).endswith(
        f": the file lacks 3 of the model's tensors, first {last[0]!r}"
    )
    safetensors.torch.save_file(state | {"extra.weight": torch.zeros(2)}, checkpoint)
    assert refusal(checkpoint).endswith(": the file holds a tensor the model lacks, 'extra.weight'")


def test_integer_or_nan_weights_are_refused(tmp_path: Path) -> None:
    """torch copies integers into float weights without a word; NaN weights make NaN maps."""
    checkpoint = tiny_checkpoint(tmp_path)
    state = tensors_of(checkpoint)
    first = "encoder.model.conv1.0.weight"
    safetensors.torch.save_file(state | {first: state[first].to(torch.int32)}, checkpoint)
    assert refusal(checkpoint).endswith(
        f": tensor {first!r} is [24, 4, 3, 3] int32 in the file, [24, 4, 3, 3] in the model"
    )
    state[first][0, 0, 0, 0] = float("nan")
    safetensors.torch.save_file(state, checkpoint)
    assert refusal(checkpoint) == (
        f"{checkpoint}: tensor {first!r} holds NaN; the model would output only NaN"
    )


def truncated(checkpoint: Path) -> Path:
    checkpoint.write_bytes(checkpoint.read_bytes()[:100_000])
    return checkpoint


def emptied(checkpoint: Path) -> Path:
    checkpoint.write_bytes(b"")
    return checkpoint


def pickled(checkpoint: Path) -> Path:
    """A torch.save pickle under the safetensors name."""
    torch.save(tensors_of(checkpoint), checkpoint)
    return checkpoint


def pickled_code(checkpoint: Path) -> Path:
    """A .pt file whose unpickling would run code."""
    pt = checkpoint.with_suffix(".pt")
    torch.save({"weights": Payload()}, pt)
    return pt


def truncated_pt(checkpoint: Path) -> Path:
    pt = checkpoint.with_suffix(".pt")
    torch.save(tensors_of(checkpoint), pt)
    return truncated(pt)


def lightning_pt(checkpoint: Path) -> Path:
    """A training checkpoint, the state dict nested under ``state_dict``."""
    pt = checkpoint.with_suffix(".pt")
    torch.save({"state_dict": tensors_of(checkpoint)}, pt)
    return pt


@pytest.mark.parametrize(
    ("spoil", "problem"),
    [
        (truncated, "not a readable safetensors file (Error while deserializing header: "),
        (emptied, "empty file, not a checkpoint"),
        (pickled, "not a readable safetensors file (Error while deserializing header: "),
        (pickled_code, "holds pickled objects, refused for safety; save a plain state dict"),
        (truncated_pt, "not a readable torch file (RuntimeError: PytorchStreamReader failed"),
        (lightning_pt, "not a plain state dict of tensors ('state_dict' holds dict, not a tensor)"),
    ],
    ids=lambda spoil: getattr(spoil, "__name__", ""),
)
def test_unreadable_weights_name_the_file(
    tmp_path: Path, spoil: Callable[[Path], Path], problem: str, capfd: pytest.CaptureFixture
) -> None:
    checkpoint = spoil(tiny_checkpoint(tmp_path))
    card_path(checkpoint).write_text(tiny_card().model_dump_json())
    assert refusal(checkpoint).startswith(f"{checkpoint}: {problem}")
    assert "pwned" not in capfd.readouterr().out  # nothing was unpickled unsafely


@pytest.mark.parametrize(
    ("card", "problem"),
    [
        (b"{not json", "invalid model card (not JSON: Expecting property name enclosed in"),
        (b'{"name": "x"}', "invalid model card (architecture: Field required (and 3 more))"),
        (b"[1, 2]", "invalid model card (Input should be a valid dictionary or instance of"),
        (b"\xff\xfe{}", "invalid model card (not UTF-8 text: invalid start byte)"),
        (None, "model card not found; put it beside the checkpoint"),
        ("folder", "model card unreadable (Is a directory)"),
    ],
    ids=["not-json", "fields", "list", "not-utf8", "missing", "folder"],
)
def test_unusable_cards_name_the_card(
    tmp_path: Path, card: bytes | str | None, problem: str
) -> None:
    checkpoint = tiny_checkpoint(tmp_path)
    card_file = card_path(checkpoint)
    card_file.unlink()
    if card == "folder":
        card_file.mkdir()
    elif isinstance(card, bytes):
        card_file.write_bytes(card)
    assert refusal(checkpoint).startswith(f"{card_file}: {problem}")


def test_a_checkpoint_under_a_path_that_is_not_utf8_loads_and_is_recorded(
    tmp_path: Path,
) -> None:
    """safetensors opens only UTF-8 paths, and GDAL writes only UTF-8 attributes."""
    folder = tmp_path / os.fsdecode(b"models-\xff")
    checkpoint = tiny_checkpoint(folder)
    ref = resolve_model(str(checkpoint))
    assert load_model(ref).card == tiny_card()
    assert ref.id.startswith(f"{tmp_path.resolve()}/models-\\xff/model.safetensors@sha256:")
    ref.id.encode("utf-8")


def test_the_cli_refuses_a_bad_checkpoint_in_one_line_before_any_scene(
    client: Client, tmp_path: Path
) -> None:
    checkpoint = tiny_checkpoint(
        tmp_path / "model", weights_of=tiny_card(bands=SIX_BANDS, normalisation=None)
    )
    expected = refusal(checkpoint)
    result = CliRunner().invoke(
        app,
        [
            "process",
            str(S2_SAMPLE),
            "-o",
            str(tmp_path / "out"),
            "--model",
            str(checkpoint),
            "--scheduler",
            client.scheduler.address,
            "--no-progress",
        ],
    )
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines()[-1] == f"error: {expected}"
    assert not (tmp_path / "out").exists()


def test_a_scene_s_sensor_reaches_the_band_message_from_the_pipeline(tmp_path: Path) -> None:
    """``describe_scene`` (what a worker runs) passes the scene's sensor to the model."""
    [source] = find_scenes(SAMPLES / "costarica_landsat5_1986-02-06.tif")
    ref = resolve_model("builtin:unet-mobilenetv2-aberystwyth")
    with pytest.raises(ModelError, match="this scene is Landsat TM/ETM\\+ with 4 bands"):
        describe_scene(source, SceneOptions(), ref)
