"""Workflow files: which scenes, which model, which outputs, which date pairs — declared in YAML.

A workflow is loaded with ``yaml.safe_load``, validated once by the pydantic schema below, and
mapped straight onto the arguments of ``process`` and ``change``. Every problem is reported as
``FILE:LINE: field: message`` (all of them, not just the first). Relative paths are relative to
the workflow file. ``workflows/schema.json`` is this schema for editors.
"""

import glob
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from geoseg.change import ChangeOptions, LossRule
from geoseg.errors import ConfigError, GeosegError
from geoseg.models import resolve_model
from geoseg.plan import ProcessConfig
from geoseg.scenes import SceneOptions, acquisition_date
from geoseg.vectorizing import PolygonOptions


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tiling(_Strict):
    tile_size: int | None = Field(None, ge=16, description="Tile size (default: the model's).")
    overlap: int | None = Field(None, ge=0, description="Tile overlap (default: the model's).")
    batch_size: int = Field(8, ge=1)
    block_size: int = Field(1024, ge=16, multiple_of=16)
    blend: Literal["cosine", "mean"] = "cosine"


class Polygons(_Strict):
    min_area_ha: float = Field(0.5, ge=0)
    simplify_m: float = Field(0.0, ge=0)
    sieve_pixels: int = Field(0, ge=0)


class Outputs(_Strict):
    dir: str = Field(description="Output directory (relative to the workflow file).")
    polygons: Polygons | None = Field(default_factory=Polygons,
                                      description="Polygon options; null for no polygons.")
    quicklook: bool = False
    overwrite: bool = False
    probability_dtype: Literal["float32", "uint8"] = Field(
        "float32", description="probability.tif as float32, or uint8 (p × 254, a quarter of the "
                               "bytes, faster to write).")


class Rule(_Strict):
    forest_threshold: float = Field(0.5, gt=0, lt=1)
    min_drop: float = Field(0.3, ge=0, le=1)


class Change(_Strict):
    pairs: Literal["consecutive"] | list[tuple[str, str]] = Field(
        "consecutive", description="'consecutive', or [before, after] scene files.")
    rule: Rule = Field(default_factory=Rule)
    normalise: bool = True
    allow_reversed: bool = False


class Resources(_Strict):
    workers: int | None = Field(None, ge=1, description=(
        "Local cluster worker processes, sharing the cores (default: one per 8 cores)."))


class Workflow(_Strict):
    """The schema of a workflow file."""

    name: str
    scenes: list[str] = Field(min_length=1, description="Scene directories, files or globs.")
    model: str = "builtin:spectral-forest"
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="Torch models: fp32 on CPU / AMP on GPU (auto), fp32, or bf16.")
    bands: list[str] | None = None
    sensor: str | None = None
    tiling: Tiling = Field(default_factory=Tiling)
    outputs: Outputs
    steps: list[Literal["process", "change"]] = Field(["process"], min_length=1)
    change: Change | None = None
    resources: Resources = Field(default_factory=Resources)

    @field_validator("steps")
    @classmethod
    def _unique(cls, steps: list[str]) -> list[str]:
        if len(set(steps)) != len(steps):
            raise ValueError("each step at most once")
        return steps


def load_workflow(path: str | Path) -> tuple[Workflow, Path]:
    """The validated workflow and its folder; ``ConfigError`` lists every problem with its line."""
    path = Path(path)
    try:
        text = path.read_text()
        data = yaml.safe_load(text)
        root = yaml.compose(text)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise ConfigError(f"{path}:{line}: not valid YAML ({getattr(exc, 'problem', exc)})"
                          ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: a workflow is a mapping of fields")
    problems = _check_meaning(data, path, root)
    try:
        workflow = Workflow.model_validate(data)
    except ValidationError as exc:
        problems = [f"{path}:{_line(root, error['loc'])}: {'.'.join(map(str, error['loc']))}: "
                    f"{error['msg']}" for error in exc.errors()] + problems
    if problems:
        raise ConfigError("\n".join(problems))
    return workflow, path.parent


def _check_meaning(data: dict, path: Path, root: yaml.Node) -> list[str]:
    """Problems the schema cannot see — scene paths that do not exist, unknown models, date
    pairs out of order — checked on the raw data, so they are reported with schema errors."""
    base = path.parent
    problems = []
    scenes = data.get("scenes")
    for i, pattern in enumerate(scenes if isinstance(scenes, list) else []):
        if isinstance(pattern, str) and not glob.glob(str(base / pattern)):
            problems.append(f"{path}:{_line(root, ('scenes', i))}: scenes.{i}: no such path "
                            f"{pattern!r} (relative to {base})")
    model = data.get("model", "builtin:spectral-forest")
    if isinstance(model, str):
        try:
            resolve_model(_resolve(base, model))
        except GeosegError as exc:
            problems.append(f"{path}:{_line(root, ('model',))}: model: {exc}")
    change = data.get("change")
    if "change" in (data.get("steps") or []) and not change:
        problems.append(f"{path}:{_line(root, ('steps',))}: steps: 'change' needs a change "
                        "section")
    pairs = change.get("pairs") if isinstance(change, dict) else None
    reversed_ok = isinstance(change, dict) and change.get("allow_reversed") is True
    for i, pair in enumerate(pairs if isinstance(pairs, list) else []):
        where = f"{path}:{_line(root, ('change', 'pairs', i))}: change.pairs.{i}"
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str)
                                                                   for p in pair)):
            continue  # the schema reports its shape
        problems += [f"{where}: no such scene {p!r}" for p in pair if not (base / p).exists()]
        dates = [acquisition_date(Path(p).stem)[0] for p in pair]
        if None in dates:
            problems.append(f"{where}: cannot tell the dates from the names")
        elif dates[0] >= dates[1] and not reversed_ok:
            problems.append(f"{where}: {pair[0]} is not older than {pair[1]}")
    return problems


def _line(root: yaml.Node, loc: tuple) -> int:
    """The 1-based line of the deepest node of ``loc`` that exists in the YAML tree."""
    node, line = root, root.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if k.value == str(part)), None)
            if match is None:
                break
            line, node = match[0].start_mark.line + 1, match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) \
                and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _resolve(base: Path, value: str) -> str:
    return value if value.startswith("builtin:") or value == "spectral" else str(base / value)


def process_config(workflow: Workflow, base: Path) -> ProcessConfig:
    tiling, outputs = workflow.tiling, workflow.outputs
    polygons = outputs.polygons
    return ProcessConfig(
        model=_resolve(base, workflow.model), tile_size=tiling.tile_size,
        overlap=tiling.overlap, batch_size=tiling.batch_size, block_size=tiling.block_size,
        blend=tiling.blend,
        scene_options=SceneOptions(tuple(workflow.bands) if workflow.bands else None,
                                   workflow.sensor),
        overwrite=outputs.overwrite,
        polygons=PolygonOptions(polygons.min_area_ha, polygons.simplify_m, polygons.sieve_pixels)
        if polygons else None,
        quicklook=outputs.quicklook, precision=workflow.precision,
        probability_dtype=outputs.probability_dtype)


def change_options(workflow: Workflow) -> ChangeOptions:
    change = workflow.change or Change()
    polygons = workflow.outputs.polygons or Polygons()
    return ChangeOptions(LossRule(change.rule.forest_threshold, change.rule.min_drop),
                         PolygonOptions(polygons.min_area_ha, polygons.simplify_m,
                                        polygons.sieve_pixels),
                         change.allow_reversed, normalise=change.normalise)


def scene_paths(workflow: Workflow, base: Path) -> list[Path]:
    """Every path the ``scenes`` patterns match, sorted and without repeats."""
    return sorted({Path(p) for pattern in workflow.scenes for p in glob.glob(str(base / pattern))})


def json_schema() -> dict[str, Any]:
    return Workflow.model_json_schema()


def write_json_schema(path: str | Path) -> None:
    Path(path).write_text(json.dumps(json_schema(), indent=2) + "\n")
