"""Torch models: any segmentation-models-pytorch architecture from a local checkpoint + card.

Imported only when a torch model is asked for: the built-in spectral model never loads torch.
Checkpoints are ``.safetensors`` (preferred) or a plain state dict in a ``.pt``/``.pth`` file read
with ``torch.load(weights_only=True)``, which refuses pickled code objects. Nothing is downloaded:
encoders are built with ``encoder_weights=None`` and filled from the checkpoint.
"""

import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import safetensors.torch
import torch
from torch import nn

from geoseg import heap
from geoseg.errors import ModelError
from geoseg.models.base import PRECISIONS, ModelCard, require_bands

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # smp/timm must never wait on a hub


def pick_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def cpu_has_bf16() -> bool:
    """Does this CPU compute bfloat16 natively (AVX-512 BF16 or AMX)?"""
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def bf16_emulated(device: torch.device) -> str | None:
    """Why bf16 autocast on ``device`` would be emulated, or None where it is native (a GPU, or a
    CPU with AVX-512 BF16 / AMX). Emulated, U-Net/ResNet-34 ran ≥ 40× slower than fp32 on an AVX2
    EPYC."""
    if device.type != "cpu" or cpu_has_bf16():
        return None
    return (
        f"this CPU ({torch.backends.cpu.get_cpu_capability()}) has no native bfloat16 "
        "(AVX-512 BF16 or AMX): torch runs it emulated, many times slower than fp32"
    )


# Tiles per forward pass on a CPU. A pass's activations grow with its tiles (U-Net/ResNet-34 on
# 256² tiles: +75 MiB for one, +364 MiB for eight) while the time per tile barely does, since one
# tile already keeps a core's convolutions busy: `geoseg process` with that network peaked at
# 1,189 MiB with passes of 2 tiles against 1,678 MiB with 8, at 1.08x the time (3,072², 2 cores).
# A batch of tiles is split into passes of this many; a GPU takes the whole batch in one pass.
CPU_FORWARD_TILES = 2


class TorchModel:
    """A torch module behind the ``Model`` interface: normalise, forward, activate, to numpy.

    The network runs on ``channels_last`` tensors: oneDNN's and cuDNN's convolutions are fastest
    on that layout (U-Net/ResNet-34 and U-Net/MobileNetV2 1.23-1.25× faster on an AVX2 CPU).
    """

    def __init__(
        self,
        module: nn.Module,
        card: ModelCard,
        device: torch.device | None = None,
        precision: str = "auto",
        forward_tiles: int | None = None,
    ) -> None:
        if precision not in PRECISIONS:
            raise ModelError(f"precision {precision!r} is not one of {PRECISIONS}")
        self.card = card
        self.device = device or pick_device()
        # Two calls: torch's stubs type no .to(device, memory_format=...) (the runtime takes it).
        self.module = module.to(self.device).to(memory_format=torch.channels_last).eval()
        self.autocast = {
            "bf16": torch.bfloat16,
            "auto": torch.float16 if self.device.type == "cuda" else None,
        }.get(precision)
        if self.autocast is torch.bfloat16 and (why := bf16_emulated(self.device)):
            warnings.warn(
                f"bf16: {why}; set `precision` to fp32 here", RuntimeWarning, stacklevel=2
            )
        self.forward_tiles = forward_tiles or (
            None if self.device.type == "cuda" else CPU_FORWARD_TILES
        )
        norm = card.normalisation
        shape = (1, len(card.bands), 1, 1)
        self._mean = torch.tensor(norm.mean if norm else [0.0] * len(card.bands)).view(shape)
        self._std = torch.tensor(norm.std if norm else [1.0] * len(card.bands)).view(shape)

    def input_bands(self, available: tuple[str, ...]) -> tuple[str, ...]:
        return require_bands(self.card, available, self.card.bands)

    def predict(self, x: np.ndarray, bands: tuple[str, ...]) -> np.ndarray:
        batch = torch.from_numpy(np.ascontiguousarray(x))
        passes = batch.split(self.forward_tiles) if self.forward_tiles else (batch,)
        return torch.cat([self.forward(tiles) for tiles in passes]).numpy()

    @torch.inference_mode()
    def forward(self, tiles: torch.Tensor) -> torch.Tensor:
        """Class probabilities (on the CPU) of reflectance ``tiles`` ``(N, bands, H, W)``, in one
        pass of the network."""
        batch = ((tiles - self._mean) / self._std).to(self.device, non_blocking=True)
        with torch.autocast(
            self.device.type, dtype=self.autocast, enabled=self.autocast is not None
        ):
            logits = self.module(batch.contiguous(memory_format=torch.channels_last)).float()
        probs = (
            torch.softmax(logits, dim=1)
            if self.card.activation == "softmax"
            else torch.cat([1 - torch.sigmoid(logits), torch.sigmoid(logits)], dim=1)
        )
        return probs.cpu().contiguous()


UNET_DECODER_CHANNELS = (256, 128, 64, 32, 16)  # smp's default, deepest stage first


def build_smp_module(card: ModelCard) -> nn.Module:
    """The untrained smp network a card describes (no weights fetched)."""
    import segmentation_models_pytorch as smp

    out = 1 if card.activation == "sigmoid" else len(card.classes)
    depth: dict[str, int | tuple[int, ...]] = {}
    if card.encoder_depth != 5:
        depth["encoder_depth"] = card.encoder_depth
        if card.architecture.lower() in {"unet", "unetplusplus"}:  # one decoder width per stage
            depth["decoder_channels"] = UNET_DECODER_CHANNELS[-card.encoder_depth :]
    try:
        return smp.create_model(
            card.architecture,
            encoder_name=card.encoder or "resnet34",
            encoder_weights=None,
            in_channels=len(card.bands),
            classes=out,
            **depth,
        )
    except (KeyError, ValueError) as exc:
        raise ModelError(
            f"model card {card.name}: unknown smp architecture or encoder "
            f"({card.architecture}/{card.encoder}): {exc}"
        ) from exc


def card_path(checkpoint: Path) -> Path:
    """The card beside a checkpoint: ``model.safetensors`` → ``model.json``."""
    return checkpoint.with_suffix(".json")


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        try:
            return safetensors.torch.load_file(str(path))
        except Exception as exc:  # safetensors raises its own untyped errors on corrupt files
            raise ModelError(f"{path}: not a readable safetensors file ({exc})") from exc
    if path.suffix in {".pt", ".pth", ".ckpt"}:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            raise ModelError(
                f"{path}: holds pickled objects, refused for safety; save a plain "
                "state dict or convert it to .safetensors"
            ) from exc
        if not isinstance(state, dict) or not all(
            isinstance(v, torch.Tensor) for v in state.values()
        ):
            raise ModelError(f"{path}: not a plain state dict of tensors")
        return state
    raise ModelError(f"{path}: unknown checkpoint type; use .safetensors (or .pt/.pth state dict)")


def load_checkpoint(path: str | Path, precision: str = "auto") -> TorchModel:
    """An smp model from ``path`` and the card beside it, computing at ``precision``."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: checkpoint not found")
    card = ModelCard.from_json(card_path(path))
    module = build_smp_module(card)
    try:
        module.load_state_dict(read_state_dict(path), strict=True)
    except RuntimeError as exc:
        raise ModelError(
            f"{path}: weights do not fit {card.architecture}/{card.encoder} "
            f"({str(exc).splitlines()[0]})"
        ) from exc
    return TorchModel(module, card, precision=precision)


def save_checkpoint(
    module: nn.Module, card: ModelCard, path: str | Path, half: bool = False
) -> Path:
    """Write ``module``'s weights as safetensors and its card beside them.

    ``half`` stores floating-point tensors as float16 (half the file; loading casts them back).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    safetensors.torch.save_file(state, str(path))
    card.to_json(card_path(path))
    return path


def prepare_process(threads: int) -> None:
    """Set this process up to run networks: ``threads`` torch threads, and a heap that keeps the
    memory of freed activations for the next batch.

    glibc hands every allocation above its mmap threshold (32 MiB at most; 128 KiB in a Dask
    worker, whose ``MALLOC_TRIM_THRESHOLD_`` pins it there) to a fresh ``mmap`` and unmaps it on
    free, so each forward pass page-faults its activations in again: ~425,000 page faults per
    batch of 8 tiles of 256² for a U-Net/ResNet-34 under Dask's setting. With mmap off and the top
    of the heap kept (up to 1 GiB: two threads' batches outgrew 256 MiB), and one malloc arena
    (``MALLOC_ARENA_MAX=1``, set for the embedded cluster's workers: a thread's own arena kept
    unmapping), it ran 2× faster than under Dask's setting and 1.33× (fp32; 1.21× bf16) faster
    than with glibc's defaults, at no higher peak memory. Memory-heavy tasks still hand their
    freed heap back (``heap.release``).
    """
    torch.set_num_threads(threads)
    heap.keep_freed(1 << 30)
