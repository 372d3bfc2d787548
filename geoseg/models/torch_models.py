"""Torch models: any segmentation-models-pytorch architecture from a local checkpoint + card.

Imported only when a torch model is asked for: the built-in spectral model never loads torch.
Checkpoints are ``.safetensors`` (preferred) or a plain state dict in a ``.pt``/``.pth`` file read
with ``torch.load(weights_only=True)``, which refuses pickled code objects. Nothing is downloaded:
encoders are built with ``encoder_weights=None`` and filled from the checkpoint.
"""

import difflib
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

    def input_bands(self, available: tuple[str, ...], sensor: str | None = None) -> tuple[str, ...]:
        return require_bands(self.card, available, self.card.bands, sensor)

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
DEFAULT_ENCODER = "resnet34"  # smp's default: what a card naming no encoder gets


def encoder_of(card: ModelCard) -> str:
    return card.encoder or DEFAULT_ENCODER


def build_smp_module(card: ModelCard, where: str | Path | None = None) -> nn.Module:
    """The untrained smp network a card describes (no weights fetched).

    ``where`` is what errors name: the card's file where there is one (else the card's name).
    """
    import segmentation_models_pytorch as smp

    where = where or f"model card {card.name}"
    check_smp_names(card, where)
    out = 1 if card.activation == "sigmoid" else len(card.classes)
    depth: dict[str, int | tuple[int, ...]] = {}
    if card.encoder_depth != 5:
        depth["encoder_depth"] = card.encoder_depth
        if card.architecture.lower() in {"unet", "unetplusplus"}:  # one decoder width per stage
            depth["decoder_channels"] = UNET_DECODER_CHANNELS[-card.encoder_depth :]
    try:
        return smp.create_model(
            card.architecture,
            encoder_name=encoder_of(card),
            encoder_weights=None,
            in_channels=len(card.bands),
            classes=out,
            **depth,
        )
    except Exception as exc:  # smp's and timm's constructors raise any type on combinations
        # they cannot build (a ViT encoder under a U-Net: ValueError; too deep: AssertionError)
        raise ModelError(
            f"{where}: smp cannot build {card.architecture}/{encoder_of(card)} "
            f"at depth {card.encoder_depth} ({named(exc)})"
        ) from exc


def first_line(exc: BaseException, limit: int = 120) -> str:
    """The first line of an exception's message, cut to ``limit`` characters."""
    lines = str(exc).strip().splitlines() or [""]
    return lines[0] if len(lines[0]) <= limit else lines[0][: limit - 1] + "…"


def named(exc: BaseException, limit: int = 120) -> str:
    """An exception's type and first line: ``EOFError``, ``ValueError: Unsupported model``."""
    line = first_line(exc, limit)
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__


NOT_AN_ENCODER = "neither an smp encoder nor 'tu-' + a timm model"


def check_smp_names(card: ModelCard, where: str | Path) -> None:
    """Refuse an architecture or encoder smp does not have, naming a few close ones.

    smp's own errors do not name the card, and list every name it has (1,486 characters of
    encoders), and timm's (for ``tu-`` encoders) say only "Unknown model".
    """
    import segmentation_models_pytorch as smp
    import timm

    architectures = [cls.__name__ for cls in smp.MODEL_ARCHITECTURES_MAPPING.values()]
    if card.architecture.lower() not in smp.MODEL_ARCHITECTURES_MAPPING:
        close = difflib.get_close_matches(card.architecture, architectures, n=3)
        raise ModelError(
            f"{where}: unknown architecture {card.architecture!r} "
            f"({did_you_mean(close) if close else 'smp has ' + ', '.join(architectures)})"
        )
    encoder = encoder_of(card)
    timm_name = encoder.removeprefix("tu-")
    if encoder in smp.encoders.encoders or (encoder != timm_name and timm.is_model(timm_name)):
        return
    known = [*smp.encoders.encoders, *(f"tu-{name}" for name in timm.list_models())]
    close = difflib.get_close_matches(encoder, known, n=3)
    raise ModelError(
        f"{where}: unknown encoder {encoder!r} ({did_you_mean(close) if close else NOT_AN_ENCODER})"
    )


def did_you_mean(names: list[str]) -> str:
    quoted = [repr(name) for name in names]
    return (
        "did you mean "
        + (quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}")
        + "?"
    )


def meta_module(card: ModelCard, where: str | Path) -> nn.Module:
    """The card's network with shapes but no storage (the meta device): what a checkpoint must
    hold, known in milliseconds and no memory. An encoder that reads tensor values while it is
    built cannot be built there, and is built on the CPU instead."""
    try:
        with torch.device("meta"):
            return build_smp_module(card, where)
    except ModelError:
        return build_smp_module(card, where)


def card_path(checkpoint: Path) -> Path:
    """The card beside a checkpoint: ``model.safetensors`` → ``model.json``."""
    return checkpoint.with_suffix(".json")


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Every tensor of a checkpoint, or a one-line ``ModelError`` naming the file.

    Nothing pickled is unpickled: safetensors holds no code, and ``.pt`` files are read with
    ``torch.load(weights_only=True)``, which refuses anything but tensors and plain containers.
    """
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ModelError(f"{path}: checkpoint unreadable ({exc.strerror})") from exc
    if size == 0:
        raise ModelError(f"{path}: empty file, not a checkpoint")
    if path.suffix == ".safetensors":
        return read_safetensors(path)
    if path.suffix in {".pt", ".pth", ".ckpt"}:
        return read_torch_state_dict(path)
    raise ModelError(f"{path}: unknown checkpoint type; use .safetensors (or .pt/.pth state dict)")


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """A safetensors file's tensors. safetensors opens only paths that are UTF-8; another path's
    bytes are read here and parsed from memory."""
    try:
        if is_utf8(path):
            return safetensors.torch.load_file(str(path))
        return safetensors.torch.load(path.read_bytes())
    except (safetensors.SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"{path}: not a readable safetensors file ({first_line(exc)})") from exc


def is_utf8(path: Path) -> bool:
    """Is ``path`` valid UTF-8? A name that is not holds surrogates once decoded by Python."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def read_torch_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A plain state dict saved by ``torch.save``, read without running pickled code."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Weights only load failed" not in str(exc):
            raise ModelError(f"{path}: not a readable torch file ({first_line(exc)})") from exc
        raise ModelError(
            f"{path}: holds pickled objects, refused for safety; save a plain "
            "state dict or convert it to .safetensors"
        ) from exc
    except Exception as exc:  # torch.load raises EOFError, KeyError, RuntimeError, ... on junk
        raise ModelError(f"{path}: not a readable torch file ({named(exc, 80)})") from exc
    if not isinstance(state, dict):
        raise ModelError(
            f"{path}: not a plain state dict of tensors (holds {type(state).__name__})"
        )
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise ModelError(
                f"{path}: not a plain state dict of tensors "
                f"({key!r} holds {type(value).__name__}, not a tensor)"
            )
    return state


def misfit(model: dict[str, torch.Tensor], file: dict[str, torch.Tensor]) -> str | None:
    """How the tensors in a checkpoint ``file`` fail to fit a ``model``'s, in one clause, or None
    where they fit: the first tensor whose shape (or kind: weights must be floating point)
    differs, else the first the file lacks, else the first the model lacks, each with how many
    more there are. Only shapes and dtypes are read, so ``model`` may live on the meta device."""
    differ = [key for key, tensor in model.items() if key in file and not fits(file[key], tensor)]
    missing = [key for key in model if key not in file]
    unexpected = sorted(key for key in file if key not in model)  # files order by dtype first
    if differ:
        key = differ[0]
        others = len(differ) - 1
        more = f" ({others} more {'differs' if others == 1 else 'differ'})" if others else ""
        return (
            f"tensor {key!r} is {describe(file[key])} in the file, "
            f"{describe(model[key])} in the model{more}"
        )
    if missing:
        return (
            f"the file lacks the model's tensor {missing[0]!r}"
            if len(missing) == 1
            else f"the file lacks {len(missing)} of the model's tensors, first {missing[0]!r}"
        )
    if unexpected:
        return (
            f"the file holds a tensor the model lacks, {unexpected[0]!r}"
            if len(unexpected) == 1
            else f"the file holds {len(unexpected)} tensors the model lacks, "
            f"first {unexpected[0]!r}"
        )
    return None


def fits(stored: torch.Tensor, wanted: torch.Tensor) -> bool:
    """Can ``stored`` fill ``wanted``? Same shape, and floating point where ``wanted`` is (torch
    would copy integers into weights without a word)."""
    return stored.shape == wanted.shape and (
        stored.is_floating_point() or not wanted.is_floating_point()
    )


def describe(tensor: torch.Tensor) -> str:
    """A tensor's shape, ``[64, 4, 7, 7]``, and its dtype where that is not floating point."""
    shape = str(list(tensor.shape))
    return (
        shape
        if tensor.is_floating_point()
        else f"{shape} {str(tensor.dtype).removeprefix('torch.')}"
    )


def first_nan(state: dict[str, torch.Tensor]) -> str | None:
    """The first tensor holding a NaN (a diverged training): the model would map every pixel to
    NaN."""
    return next(
        (key for key, t in state.items() if t.is_floating_point() and bool(t.isnan().any())), None
    )


def fitting_state(path: Path, card: ModelCard, model: nn.Module) -> dict[str, torch.Tensor]:
    """The checkpoint's tensors, checked against ``model`` (the card's network, maybe on the meta
    device): a one-line ``ModelError`` naming the file and the first tensor that does not fit.
    torch's own error lists every key, its first line names none."""
    state = read_state_dict(path)
    problem = misfit(model.state_dict(), state)
    if problem:
        raise ModelError(
            f"{path}: does not fit its card ({card.architecture}/{encoder_of(card)}, "
            f"{len(card.bands)} bands, {len(card.classes)} classes): {problem}"
        )
    if nan := first_nan(state):
        raise ModelError(f"{path}: tensor {nan!r} holds NaN; the model would output only NaN")
    return state


def check_checkpoint(path: str | Path) -> ModelCard:
    """The card of the checkpoint at ``path``, once card and weights are known to fit: what
    ``load_checkpoint`` would refuse, refused here in one line, so that a client refuses a bad
    model before any worker loads it (once per scene). The weights are read (a client has just
    hashed every byte of them anyway); the network is built on the meta device, without storage.
    """
    path = Path(path)
    card = ModelCard.from_json(card_path(path))
    fitting_state(path, card, meta_module(card, card_path(path)))
    return card


def load_checkpoint(path: str | Path, precision: str = "auto") -> TorchModel:
    """An smp model from ``path`` and the card beside it, computing at ``precision``."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: checkpoint not found")
    card = ModelCard.from_json(card_path(path))
    module = build_smp_module(card, card_path(path))
    module.load_state_dict(fitting_state(path, card, module), strict=True)
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
