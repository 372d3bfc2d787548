"""Model registry: a ``ModelRef`` names a model; ``load_model`` turns it into a ``Model`` once per process.

References are small and hashable, so tasks carry them instead of the model; each worker process
loads a model the first time a task needs it and keeps it (keyed by the checkpoint's hash).

- ``builtin:spectral-forest`` (also ``spectral``, the default): the weightless index model;
- ``builtin:NAME`` for a trained model shipped inside the package (``weights/NAME/``);
- a path to ``*.safetensors`` / ``*.pt`` with a JSON card beside it: an smp model.

``resolve_model`` checks a checkpoint where the user names it (on the client): its card, and
that its weights fit the network the card describes, so a bad model fails in one line before any
task starts rather than once per scene in the workers. That check imports torch; the built-in
spectral model never does. Torch is an optional extra (``pip install 'geoseg[torch]'``): a
trained model named where it is missing fails in one line saying so.
"""

import hashlib
import os
import threading
from dataclasses import dataclass, replace
from functools import cache, lru_cache
from pathlib import Path

from geoseg.errors import ModelError
from geoseg.models.base import PRECISIONS, Model, ModelCard
from geoseg.models.spectral import SpectralForestModel

BUILTIN = {"spectral-forest": SpectralForestModel}
DEFAULT_MODEL = "builtin:spectral-forest"
WEIGHTS = Path(__file__).parent / "weights"  # trained models shipped with the package
# What the ``torch`` extra installs (and what those import): missing, a trained model cannot run.
TORCH_EXTRA = {"torch", "torchvision", "segmentation_models_pytorch", "safetensors", "timm"}


def shipped_models() -> dict[str, Path]:
    """Trained models inside the package, by name: ``builtin:NAME`` runs one."""
    return {p.parent.name: p for p in sorted(WEIGHTS.glob("*/model.safetensors"))}


def builtin_names() -> list[str]:
    return [f"builtin:{name}" for name in [*BUILTIN, *shipped_models()]]


@dataclass(frozen=True)
class ModelRef:
    """Which model to run: a built-in name, or a checkpoint path pinned by its sha256, and the
    precision a torch model computes at (``PRECISIONS``)."""

    spec: str
    sha256: str | None = None
    precision: str = "auto"

    @property
    def id(self) -> str:
        """The model as manifests, fingerprints and polygon attributes record it: valid UTF-8
        even for a path that is not (its stray bytes as ``\\xff``), which GDAL cannot write."""
        spec = os.fsencode(self.spec).decode("utf-8", "backslashreplace")
        pinned = spec if self.sha256 is None else f"{spec}@sha256:{self.sha256[:16]}"
        return pinned if self.precision == "auto" else f"{pinned}~{self.precision}"


def resolve_model(spec: str, precision: str = "auto") -> ModelRef:
    """Check a model spec where the user gave it, and pin a checkpoint to its content."""
    if precision not in PRECISIONS:
        raise ModelError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    ref = _resolve(spec)
    return ref if ref.sha256 is None else replace(ref, precision=precision)


def _resolve(spec: str) -> ModelRef:
    if spec in {"spectral", "builtin:spectral"}:
        return ModelRef(DEFAULT_MODEL)
    name = spec.removeprefix("builtin:")
    if name in BUILTIN:
        return ModelRef(f"builtin:{name}")
    if spec.startswith("builtin:"):
        if name not in shipped_models():
            raise ModelError(f"{spec}: no such built-in model (have: {', '.join(builtin_names())})")
        require_torch(spec)
        return pinned(shipped_models()[name])
    path = Path(spec).expanduser()
    if not path.is_file():
        raise ModelError(
            f"{spec}: no such checkpoint, and not a built-in model ({', '.join(builtin_names())})"
        )
    require_torch(spec)
    return pinned(path)


def require_torch(spec: str) -> None:
    """Import ``geoseg.models.torch_models`` for the trained model ``spec``: a ``ModelError`` in
    one line where torch (the ``torch`` extra) is not installed."""
    try:
        import geoseg.models.torch_models  # noqa: F401
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] not in TORCH_EXTRA:
            raise
        raise ModelError(f"{spec}: needs torch; pip install 'geoseg[torch]'") from None


def pinned(path: Path) -> ModelRef:
    """A checkpoint's reference, pinned by its content so a changed file is never mistaken, once
    its card and weights are known to fit each other (``torch_models.check_checkpoint``)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    ref = ModelRef(str(path.resolve()), digest.hexdigest())
    _check_checkpoint(ref.spec, digest.hexdigest())
    return ref


@lru_cache(maxsize=8)
def _check_checkpoint(path: str, sha256: str) -> None:
    """Refuse a checkpoint its card does not describe here, where the user named it (once per
    content: ``sha256`` keys the cache), not in every worker task that would load it."""
    require_torch(path)
    from geoseg.models.torch_models import check_checkpoint

    check_checkpoint(path)


def model_card(ref: ModelRef) -> ModelCard:
    """The card of ``ref``'s model, read without loading the model (no torch): what options are
    checked against before anything starts."""
    name = ref.spec.removeprefix("builtin:")
    if ref.spec.startswith("builtin:") and name in BUILTIN:
        return BUILTIN[name].card
    return ModelCard.from_json(Path(ref.spec).with_suffix(".json"))


_loading = threading.Lock()  # a worker's threads ask for the model at once: load it once


def load_model(ref: ModelRef, threads: int | None = None) -> Model:
    """The model ``ref`` names, loaded once per process.

    ``threads``: set this process up to run a torch model on that many threads per task (Dask
    workers: ``torch_models.prepare_process``, which also tunes the heap); None leaves the
    process as it is.
    """
    with _loading:
        if not ref.spec.startswith("builtin:"):
            require_torch(ref.spec)
            if threads is not None:
                _prepare_process(threads)
        return _load_model(ref)


@cache
def _prepare_process(threads: int) -> None:
    """``torch_models.prepare_process``, once per process (not on every task's call)."""
    from geoseg.models.torch_models import prepare_process

    prepare_process(threads)


@lru_cache(maxsize=4)
def _load_model(ref: ModelRef) -> Model:
    if ref.spec.startswith("builtin:"):
        return BUILTIN[ref.spec.removeprefix("builtin:")]()
    from geoseg.models.torch_models import load_checkpoint

    return load_checkpoint(ref.spec, ref.precision)


__all__ = [
    "DEFAULT_MODEL",
    "PRECISIONS",
    "Model",
    "ModelCard",
    "ModelRef",
    "builtin_names",
    "load_model",
    "model_card",
    "require_torch",
    "resolve_model",
    "shipped_models",
]
