"""What every model is to geoseg: bands in, class probabilities out, described by a model card."""

import json
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from geoseg.bands import CANONICAL, CODES
from geoseg.errors import ModelError


class Normalisation(BaseModel):
    """Per-band ``(reflectance - mean) / std`` applied before the network."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    mean: tuple[float, ...]
    std: tuple[float, ...]


# How a torch model computes: "auto" is float32 on CPU and float16 autocast (AMP) on CUDA; "bf16"
# is bfloat16 autocast on either (about 2× faster on CPUs with AVX-512 BF16 / AMX, at a small cost
# in agreement: see benchmarks/model_bound.py); "fp32" never autocasts. Weightless models ignore it.
PRECISIONS = ("auto", "fp32", "bf16")


class ModelCard(BaseModel):
    """The JSON card beside a checkpoint (and the description of built-in models).

    ``edge_margin`` is how many pixels at a tile's inner border the model's output is unreliable
    for (its receptive-field radius, or a guess); blending gives them no weight. ``stride`` is how
    much the network downsamples (``2 ** encoder_depth`` for smp encoders): a CNN's output shifts
    with its input only by multiples of it, so tiles are placed on them (see ``geoseg.tiling``).
    ``tile_size`` and ``overlap`` are the defaults ``process`` uses for this model.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    architecture: str
    encoder: str | None = None
    encoder_depth: int = Field(
        5, ge=3, le=5
    )  # smp encoder stages; fewer = narrower receptive field
    bands: tuple[str, ...]
    classes: tuple[str, ...]
    target_class: str
    normalisation: Normalisation | None = None
    activation: Literal["softmax", "sigmoid"] = "softmax"
    edge_margin: int = 0
    stride: int = Field(1, ge=1)  # the network's total downsampling: tiles start on multiples of it
    tile_size: int = 512
    overlap: int = 128
    description: str = ""
    training: dict | None = None  # how a trained model was made: data, labels, split, metrics

    @model_validator(mode="after")
    def _consistent(self) -> "ModelCard":
        unknown = sorted(set(self.bands) - CANONICAL)
        if unknown:
            raise ValueError(f"unknown band names {unknown}")
        if self.target_class not in self.classes:
            raise ValueError(f"target_class {self.target_class!r} is not one of {self.classes}")
        if self.normalisation and not (
            len(self.normalisation.mean) == len(self.normalisation.std) == len(self.bands)
        ):
            raise ValueError("normalisation needs one mean and one std per band")
        if self.activation == "sigmoid" and len(self.classes) != 2:
            raise ValueError("sigmoid activation needs exactly two classes")
        return self

    @classmethod
    def from_json(cls, path: str | Path) -> "ModelCard":
        """The card in the JSON file at ``path``; any fault is one line naming the file."""
        try:
            return cls.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))
        except FileNotFoundError as exc:
            raise ModelError(f"{path}: model card not found; put it beside the checkpoint") from exc
        except OSError as exc:  # a directory, no permission, ...
            raise ModelError(f"{path}: model card unreadable ({exc.strerror})") from exc
        except UnicodeDecodeError as exc:
            raise ModelError(f"{path}: invalid model card (not UTF-8 text: {exc.reason})") from exc
        except json.JSONDecodeError as exc:
            raise ModelError(f"{path}: invalid model card (not JSON: {exc})") from exc
        except ValidationError as exc:
            raise ModelError(f"{path}: invalid model card ({first_problem(exc)})") from exc

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(self.model_dump_json(indent=2) + "\n")


def first_problem(error: ValidationError) -> str:
    """Pydantic's first complaint in a few words, and how many more there are: its own message
    runs to several lines per problem, with links (368 characters for a card holding only a name).
    """
    problems = error.errors(include_url=False)
    first = problems[0]
    where = ".".join(str(part) for part in first["loc"])
    what = first["msg"].removeprefix("Value error, ")
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{where}: {what}{more}" if where else f"{what}{more}"


class Model(Protocol):
    """A segmentation model as geoseg drives it."""

    card: ModelCard

    def input_bands(self, available: tuple[str, ...], sensor: str | None = None) -> tuple[str, ...]:
        """The bands to read from a scene that has ``available`` (of ``sensor``, when known);
        raises ``ModelError`` if short."""
        ...

    def predict(self, x: np.ndarray, bands: tuple[str, ...]) -> np.ndarray:
        """Reflectance ``(N, len(bands), H, W)`` float32 → probabilities ``(N, classes, H, W)``."""
        ...


# How band-requirement messages name the sensors of ``geoseg.bands.SENSORS``.
SENSOR_NAMES = {
    "sentinel2": "Sentinel-2",
    "landsat-tm": "Landsat TM/ETM+",
    "landsat-oli": "Landsat OLI",
}


def require_bands(
    card: ModelCard,
    available: tuple[str, ...],
    needed: tuple[str, ...],
    sensor: str | None = None,
) -> tuple[str, ...]:
    """``needed`` when the scene has every band of it; else a ``ModelError`` that says what the
    model reads (a sensor's bands, when only one sensor has them all) and what the scene is, since
    `bands` only renames bands a file has: a Landsat scene can never feed a Sentinel-2 model.

    ``sensor`` is the scene's sensor when the caller knows it (``Scene.sensor``)."""
    missing = [b for b in needed if b not in available]
    if missing:
        raise ModelError(
            f"model {card.name} needs bands {missing} the scene lacks: "
            f"{_what_model_reads(needed)}, and {_what_scene_is(available, needed, sensor)}; "
            f"{_what_to_do(card, available, needed)}",
            options=("bands",),
        )
    return needed


def _sensor_of(bands: tuple[str, ...]) -> str | None:
    """The one sensor whose bands include all of ``bands`` (Sentinel-2 for red-edge bands), or
    None when several have them (red and nir: every sensor) or none does."""
    having = [name for name, codes in CODES.items() if set(bands) <= set(codes.values())]
    return having[0] if len(having) == 1 else None


def _what_model_reads(needed: tuple[str, ...]) -> str:
    """``it reads Sentinel-2's bands (blue, …)``, or ``it reads red, nir``."""
    sensor = _sensor_of(needed)
    if sensor is None:
        return f"it reads {', '.join(needed)}"
    return f"it reads {SENSOR_NAMES[sensor]}'s bands ({', '.join(needed)})"


def _what_scene_is(available: tuple[str, ...], needed: tuple[str, ...], sensor: str | None) -> str:
    """The scene's sensor (when known) and bands; a scene of unknown sensor that lacks bands only
    one sensor has is named for what it likely is (a Landsat scene or a band composite)."""
    bands = f"{len(available)} band{'s' * (len(available) != 1)} ({', '.join(available)})"
    if sensor is not None:
        return f"this scene is {SENSOR_NAMES.get(sensor, sensor)} with {bands}"
    model_sensor = _sensor_of(needed)
    if model_sensor is not None and _sensor_of(available) != model_sensor:
        return (
            f"this scene has {bands}, not {SENSOR_NAMES[model_sensor]}'s (another sensor's, or a "
            "band composite)"
        )
    return f"this scene has {bands}"


def _what_to_do(card: ModelCard, available: tuple[str, ...], needed: tuple[str, ...]) -> str:
    """Run the model on a scene it fits, or a model that fits this scene; renaming bands helps
    only when the file names them wrongly."""
    sensor = _sensor_of(needed)
    fit = f"run it on a {SENSOR_NAMES[sensor]} scene" if sensor else "run it on a scene with them"
    if card.name != "spectral-forest" and {"red", "nir"} <= set(available):
        fit += ", or builtin:spectral-forest (red and nir) on this one"
    return f"{fit}; name the scene's bands with `bands` only if the file names them wrongly"
