"""The option models: one declaration, checked the same from Python and nested in a workflow."""

import pickle

import pytest
from pydantic import BaseModel, ValidationError

from geoseg import models, stitching, store
from geoseg.errors import ConfigError, GeosegError, ModelError, OutputError, SceneError
from geoseg.options import (
    BLEND_MODES,
    DEFAULT_MODEL,
    PRECISIONS,
    PROBABILITY_DTYPES,
    ChangeOptions,
    LossRule,
    PolygonOptions,
    ProcessConfig,
    SceneOptions,
)


# Some values are of the wrong type on purpose (mypy: arg-type, call-arg); dicts for nested
# options are what a workflow file gives.
@pytest.mark.parametrize(
    ("options", "message", "named"),
    [
        (
            lambda: ProcessConfig(tile_size=8),
            "tile_size: Input should be greater than or equal to 16 (got 8)",
            ("tile_size",),
        ),
        (
            lambda: ProcessConfig(blend="median"),  # type: ignore[arg-type]
            "blend: Input should be 'cosine' or 'mean' (got 'median')",
            ("blend",),
        ),
        (
            lambda: ProcessConfig(block_size=1000),
            "block_size: Input should be a multiple of 16 (got 1000)",
            ("block_size",),
        ),
        (
            lambda: ProcessConfig(tile_size=64, overlap=40),
            "`overlap` (40) must be at most half of `tile_size` (64)",
            ("overlap", "tile_size"),
        ),
        (
            lambda: ProcessConfig(polygons={"min_area_ha": -1}),  # type: ignore[arg-type]
            "polygons.min_area_ha: Input should be greater than or equal to 0 (got -1)",
            ("polygons.min_area_ha",),
        ),
        (
            lambda: ProcessConfig(scene_options={"offset": 0.1}),  # type: ignore[arg-type]
            "`scene_options.offset` needs `scene_options.scale` as well",
            ("scene_options.offset", "scene_options.scale"),
        ),
        (
            lambda: ProcessConfig(tile="256"),  # type: ignore[call-arg]
            "tile: Extra inputs are not permitted",
            ("tile",),
        ),
        (lambda: SceneOptions(offset=0.1), "`offset` needs `scale` as well", ("offset", "scale")),
        (lambda: SceneOptions(sensor="modis"), "sensor: unknown sensor 'modis'", ("sensor",)),
        (
            lambda: PolygonOptions(window_size=8, sieve_pixels=-1),
            (
                "sieve_pixels: Input should be greater than or equal to 0 (got -1); "
                "window_size: Input should be greater than or equal to 16 (got 8)"
            ),
            ("sieve_pixels", "window_size"),
        ),
        (
            lambda: LossRule(forest_threshold=1.5),
            "forest_threshold: Input should be less than 1 (got 1.5)",
            ("forest_threshold",),
        ),
        (
            lambda: ChangeOptions(rule={"min_drop": 2}),  # type: ignore[arg-type]
            "rule.min_drop: Input should be less than or equal to 1 (got 2)",
            ("rule.min_drop",),
        ),
    ],
)
def test_a_bad_option_is_a_one_line_config_error_naming_the_field(
    options, message: str, named: tuple
) -> None:
    with pytest.raises(ConfigError) as info:
        options()
    assert str(info.value).startswith(message) and "\n" not in str(info.value)
    assert info.value.options == named
    assert isinstance(info.value, ValueError) and info.value.__cause__ is None


def test_nested_in_another_model_the_errors_keep_their_location() -> None:
    """What the workflow loader needs: pydantic's errors, each with its path."""

    class Outer(BaseModel):
        process: ProcessConfig
        change: ChangeOptions

    with pytest.raises(ValidationError) as info:
        Outer.model_validate(
            {
                "process": {"tile_size": 8, "scene_options": {"offset": 1}},
                "change": {"rule": {"forest_threshold": 0}},
            }
        )
    assert [e["loc"] for e in info.value.errors()] == [
        ("process", "tile_size"),
        ("process", "scene_options"),
        ("change", "rule", "forest_threshold"),
    ]


def test_defaults_and_equality() -> None:
    config = ProcessConfig()
    assert (config.model, config.block_size, config.blend, config.precision) == (
        DEFAULT_MODEL,
        1024,
        "cosine",
        "auto",
    )
    assert config.polygons == PolygonOptions() and config.scene_options == SceneOptions()
    assert ChangeOptions().rule == LossRule(forest_threshold=0.5, min_drop=0.3)
    assert hash(config) == hash(ProcessConfig()) and pickle.loads(pickle.dumps(config)) == config
    with pytest.raises(ValidationError):
        config.tile_size = 256  # frozen


def test_replace_validates() -> None:
    config = ProcessConfig(tile_size=256)
    changed = config.replace(polygons=None, quicklook=True)
    assert (changed.polygons, changed.quicklook, changed.tile_size) == (None, True, 256)
    assert config.polygons is not None  # the original is unchanged
    with pytest.raises(ConfigError, match="overlap"):
        config.replace(overlap=200)


def test_positional_arguments_are_refused() -> None:
    with pytest.raises(TypeError):
        LossRule(0.5, 0.3)  # type: ignore[misc]


def test_constants_have_one_definition() -> None:
    """The modules that use the constants agree with the options' Literal types."""
    assert BLEND_MODES == ("cosine", "mean") == tuple(stitching.BLEND_MODES)
    assert PRECISIONS == ("auto", "fp32", "bf16") == tuple(models.PRECISIONS)
    assert PROBABILITY_DTYPES == ("float32", "uint8") == tuple(store.PROBABILITY_DTYPES)
    assert DEFAULT_MODEL == models.DEFAULT_MODEL


@pytest.mark.parametrize("kind", [GeosegError, ConfigError, SceneError, ModelError, OutputError])
def test_errors_keep_their_options_through_pickling(kind: type[GeosegError]) -> None:
    """Dask ships a task's exception between processes by pickling it."""
    error = kind("x.tif: name them with `bands`", options=("bands",))
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.args, copy.options) == (kind, error.args, ("bands",))
    assert kind("no options").options == ()
