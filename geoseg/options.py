"""The options of every run, declared once: for the Python API, the CLI and workflow files.

Each option class is a frozen pydantic model; each field carries its default, its constraint and a
description. The same descriptions are the CLI's help and the workflow JSON Schema's text, and
the same checks run wherever an option is set:

- from Python, ``ProcessConfig(tile_size=8)`` raises a one-line ``ConfigError`` naming the field
  as the caller wrote it (``tile_size: Input should be greater than or equal to 16 (got 8)``), and
  the error's ``options`` attribute names the field paths it is about (``("tile_size",)``);
- nested in the workflow schema (``geoseg.workflows``), the same models report pydantic's
  per-field errors with their location, so a workflow problem is reported at its file and line.

Messages name options by field, in backquotes inside a sentence (`` `scale` ``) or as the prefix
of a field's own error (``tile_size: ...``), never by a client's spelling: the CLI rewrites those
names into its flags (``geoseg.cli``).

This module imports only ``geoseg.bands`` and ``geoseg.errors``: every other module may import it.
"""

import re
from typing import Any, ClassVar, Literal, Self, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from geoseg import bands as bandnames
from geoseg.errors import ConfigError

DEFAULT_MODEL = "builtin:spectral-forest"
DEFAULT_BLOCK_SIZE = 1024  # output blocks and vectorizing windows, pixels a side

# 10^11 pixels: a 316,000² grid, far beyond any real scene (a Sentinel-2 tile is 10,980²).
MAX_PIXELS = 10**11
# A batch holds batch_size × bands × tile² floats: past this side one tile alone is gigabytes.
MAX_TILE_SIZE = 4096
# How overlapping tiles are blended into a block (``geoseg.stitching``).
Blend = Literal["cosine", "mean"]
# How a torch model computes: "auto" is float32 on CPU and float16 autocast (AMP) on CUDA; "bf16"
# is bfloat16 autocast on either (about 2× faster on CPUs with AVX-512 BF16 / AMX, at a small cost
# in agreement: see benchmarks/model_bound.py); "fp32" never autocasts. Weightless models ignore it.
Precision = Literal["auto", "fp32", "bf16"]
# How probability.tif stores probabilities: float32, or uint8 as p × 254 (``geoseg.store``).
ProbabilityDtype = Literal["float32", "uint8"]

BLEND_MODES: tuple[str, ...] = get_args(Blend)
PRECISIONS: tuple[str, ...] = get_args(Precision)
PROBABILITY_DTYPES: tuple[str, ...] = get_args(ProbabilityDtype)

_NAMED = re.compile(r"`([\w.]+)`")  # an option named inside a message


class Options(BaseModel):
    """Base of the option classes: frozen, unknown fields refused, one-line ``ConfigError``s."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise config_error(exc) from None

    # Not a custom __init__ to pydantic: validated nested in another model (a workflow), these
    # classes keep pydantic's per-field errors, with their location.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes``, validated (``model_copy(update=...)`` does not validate)."""
        return type(self)(**{**dict(self), **changes})


def config_error(exc: ValidationError) -> ConfigError:
    """One ``ConfigError`` line for every problem pydantic found, naming each field by its path
    (``polygons.min_area_ha: ...``); ``options`` holds those paths."""
    texts, options = [], []
    for error in exc.errors():
        loc = ".".join(map(str, error["loc"]))
        message = error["msg"].removeprefix("Value error, ")
        named = _NAMED.findall(message)
        if named:  # a check across fields: name them from where the caller stands
            prefix = f"{loc}." if loc else ""
            texts.append(_NAMED.sub(rf"`{prefix}\1`", message))  # field names: no backslashes
            options += [prefix + name for name in named]
            continue
        if error["type"] not in ("missing", "extra_forbidden", "value_error") and isinstance(
            error["input"], str | int | float | bool
        ):
            message += f" (got {error['input']!r})"
        texts.append(f"{loc}: {message}" if loc else message)
        options += [loc] if loc else []
    return ConfigError("; ".join(texts), options=tuple(dict.fromkeys(options)))


class SceneOptions(Options):
    """How to read scenes whose files do not say it themselves."""

    bands: tuple[str, ...] | None = Field(
        default=None,
        description="Canonical names of a multi-band file's bands, in order (e.g. red, "
        "green, blue, nir); overrides the file's band descriptions.",
    )
    sensor: str | None = Field(
        default=None,
        description="Sensor, for band codes that differ by sensor (B4, ...): "
        f"{', '.join(bandnames.SENSORS)}.",
        json_schema_extra={"enum": [*bandnames.SENSORS, None]},
    )
    scale: float | None = Field(
        default=None,
        description="Reflectance = DN × scale + offset, overriding metadata and defaults "
        "(quality bands such as SCL and QA_PIXEL keep their codes).",
    )
    offset: float | None = Field(default=None, description="Reflectance offset (needs scale).")

    @field_validator("sensor")
    @classmethod
    def _known_sensor(cls, sensor: str | None) -> str | None:
        if sensor is not None and sensor not in bandnames.SENSORS:
            raise ValueError(
                f"unknown sensor {sensor!r}; use one of {', '.join(bandnames.SENSORS)}"
            )
        return sensor

    @field_validator("bands")
    @classmethod
    def _canonical(cls, names: tuple[str, ...] | None) -> tuple[str, ...] | None:
        unknown = sorted(set(names or ()) - bandnames.CANONICAL)
        if unknown:
            raise ValueError(
                f"unknown band names {unknown}; use canonical names such as blue, "
                "green, red, nir, swir16, swir22"
            )
        return names

    @model_validator(mode="after")
    def _offset_with_scale(self) -> Self:
        if self.offset is not None and self.scale is None:
            raise ValueError("`offset` needs `scale` as well")
        return self


class PolygonOptions(Options):
    """How patches of a class raster become polygons (``geoseg.vectorizing``)."""

    min_area_ha: float = Field(
        default=0.5,
        ge=0,
        description="Minimum mapping unit: polygons smaller than this many hectares are dropped.",
    )
    simplify_m: float = Field(
        default=0.0,
        ge=0,
        description="Douglas-Peucker simplification tolerance in metres (0: keep pixel edges).",
    )
    sieve_pixels: int = Field(
        default=0,
        ge=0,
        description="Before polygonizing, merge patches of fewer pixels (any class) into "
        "their largest neighbour (0: no clean-up).",
    )
    window_size: int = Field(
        default=DEFAULT_BLOCK_SIZE,
        ge=16,
        description="Pixels per side of the windows polygonized one at a time.",
    )


class LossRule(Options):
    """Thresholds of the loss rule (``geoseg.change``)."""

    forest_threshold: float = Field(
        default=0.5, gt=0, lt=1, description="Forest where the forest probability is above this."
    )
    min_drop: float = Field(
        default=0.3,
        ge=0,
        le=1,
        description="Loss (and gain) needs the forest probability to change by at least this.",
    )


class ChangeOptions(Options):
    """Options of a change run beyond the segmentation's own."""

    rule: LossRule = Field(default_factory=LossRule, description="The loss rule's thresholds.")
    polygons: PolygonOptions = Field(
        default_factory=PolygonOptions, description="How loss patches become polygons (loss.gpkg)."
    )
    allow_reversed: bool = Field(
        default=False, description="Accept an after scene older than the before scene."
    )
    quicklook: bool = Field(
        default=True,
        description="Also write quicklook.png: before, after, and loss and gain outlined.",
    )
    normalise: bool = Field(
        default=True, description="Match the before scene's radiometry to the after scene's first."
    )


class ProcessConfig(Options):
    """Options of ``process`` (and of the segmentation ``change`` runs)."""

    # Options that change how a run goes, not the probabilities, classes and polygons it
    # writes: left out of the fingerprint (which also keys the reusable blocks). `quicklook`
    # adds a file without changing the others: outputs are up to date only when their manifest
    # lists exactly the files this run writes (``geoseg.pipeline.process.planned_outputs``).
    RUN_ONLY: ClassVar[frozenset[str]] = frozenset(
        {"overwrite", "max_blocks_in_flight", "batch_size", "quicklook", "max_pixels"}
    )

    model: str = Field(
        default=DEFAULT_MODEL,
        description="builtin:spectral-forest, builtin:unet-mobilenetv2-aberystwyth, "
        "or a .safetensors checkpoint with its .json card beside it.",
    )
    tile_size: int | None = Field(
        default=None,
        ge=16,
        le=MAX_TILE_SIZE,
        description="Tile size in pixels (default: the model's; larger than a scene: the "
        "scene's size).",
    )
    overlap: int | None = Field(
        default=None,
        ge=0,
        description="Pixels neighbouring tiles share, at most half the tile size "
        "(default: the model's).",
    )
    batch_size: int = Field(default=8, ge=1, description="Tiles per inference batch.")
    block_size: int = Field(
        default=DEFAULT_BLOCK_SIZE,
        ge=16,
        multiple_of=16,
        description="Output block size in pixels (a multiple of 16).",
    )
    blend: Blend = Field(
        default="cosine",
        description="How overlapping tiles are blended: cosine (seamless) or mean "
        "(plain averaging).",
    )
    scene_options: SceneOptions = Field(
        default_factory=SceneOptions,
        description="How to read scenes whose files do not say it themselves.",
    )
    overwrite: bool = Field(default=False, description="Redo scenes whose outputs are up to date.")
    max_blocks_in_flight: int | None = Field(
        default=None,
        ge=1,
        description="Output blocks computed at once (default: two per worker thread).",
    )
    polygons: PolygonOptions | None = Field(
        default_factory=PolygonOptions,
        description="Polygons of the model's target class, made with these options, in "
        "polygons.gpkg.",
    )
    max_pixels: int = Field(
        default=MAX_PIXELS,
        ge=1,
        description="Refuse scenes of more pixels than this (width × height): a file that claims "
        "a huge grid would otherwise keep a run busy for days.",
    )
    quicklook: bool = Field(
        default=False,
        description="Also write quicklook.png: the scene in colour, polygons outlined.",
    )
    precision: Precision = Field(
        default="auto",
        description="Torch: auto (fp32 on CPU, AMP on GPU), fp32, or bf16 (faster on recent CPUs).",
    )
    probability_dtype: ProbabilityDtype = Field(
        default="float32",
        description="probability.tif as float32, or uint8 (p × 254: a quarter of the "
        "bytes, faster to write).",
    )

    @model_validator(mode="after")
    def _overlap_fits(self) -> Self:
        if (
            self.tile_size is not None
            and self.overlap is not None
            and self.overlap > self.tile_size // 2
        ):
            raise ValueError(
                f"`overlap` ({self.overlap}) must be at most half of `tile_size` ({self.tile_size})"
            )
        return self


class ClusterOptions(Options):
    """Where the work runs: a Dask scheduler's address, or an embedded cluster of this machine."""

    scheduler: str | None = Field(
        default=None,
        description="Dask scheduler address (tcp://host:8786); default: an embedded local cluster.",
    )
    workers: int | None = Field(
        default=None,
        ge=1,
        description="Local cluster worker processes, sharing the cores (default: one per 8 cores).",
    )
    dashboard_address: str = Field(
        default="127.0.0.1:0",
        description="Where the embedded cluster's Dask dashboard listens, host:port (port 0: "
        "a free one; ':8787' on every interface).",
    )
