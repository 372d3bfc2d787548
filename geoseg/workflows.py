"""Workflow files: which scenes, which options, which outputs, which date pairs — declared in YAML.

A workflow is loaded with ``yaml.safe_load`` and validated once by the schema below, which is
made of the option classes themselves (``geoseg.options``): its ``process`` section *is* a
``ProcessConfig`` and its ``change`` section a ``ChangeOptions`` (plus ``pairs``), handed as they
are to ``process`` and ``change``. Every problem is reported as ``FILE:LINE: field: message`` (all
of them, not just the first). A file that cannot be read as a workflow at all (missing, a folder,
not UTF-8 text, not a mapping, nested too deep) is one line naming it: ``UnreadableWorkflow``.
``workflows/schema.json`` is this schema for editors: ``geoseg schema workflows/schema.json``
writes it again.

Relative paths are relative to the workflow file. A shared cluster runs other people's workflow
files, so a workflow's local scenes and outputs must stay inside its *project root*
(``project_root``): the workflow file's folder and below, or, when that folder is named
``workflows``, its parent and below (the bundled ``workflows/samples.yaml`` reads ``../samples/``
and writes ``../out/``). Paths are compared with their symlinks resolved; remote scenes are never
outside. ``check_workflow`` lists the paths that leave it (``geoseg validate`` warns);
``load_workflow`` and so ``run_workflow`` refuse them unless ``allow_outside``.
"""

import glob
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from geoseg.errors import ConfigError, GeosegError
from geoseg.locations import absolute, is_remote
from geoseg.models import resolve_model
from geoseg.options import DEFAULT_MODEL, ChangeOptions, ClusterOptions, ProcessConfig
from geoseg.scenes import acquisition_date

# Deeper YAML is refused before it is built: PyYAML composes and constructs by recursion, a few
# frames per level, so a 1 KB file nested 500 deep ends in a RecursionError. A workflow needs 4.
MAX_DEPTH = 32


class UnreadableWorkflow(ConfigError):
    """The file cannot be read as a workflow at all (missing, a folder, not UTF-8 text, not a
    mapping, nested too deep), as opposed to a workflow with problems: ``geoseg validate`` exits
    2 for it, and 1 for problems."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Outputs(_Strict):
    dir: str = Field(description="Output directory (relative to the workflow file).")


class ChangeStep(ChangeOptions):
    """The ``change`` section: ``ChangeOptions``' fields, and which date pairs to compare."""

    pairs: Literal["consecutive"] | list[tuple[str, str]] = Field(
        default="consecutive",
        description="'consecutive' (every consecutive date pair per place), or "
        "[before, after] scene files.",
    )


class Workflow(_Strict):
    """The schema of a workflow file."""

    name: str
    scenes: list[str] = Field(
        min_length=1,
        description="Scene directories, files or globs (relative to the workflow file), "
        "http(s):// files, s3:// objects or prefixes, STAC files (.json, local or remote).",
    )
    process: ProcessConfig = Field(
        default_factory=ProcessConfig,
        description="Options of the segmentation (the process step, and each date of the change "
        "step): ProcessConfig's fields. A model path is relative to the workflow file.",
    )
    outputs: Outputs
    steps: list[Literal["process", "change"]] = Field(default=["process"], min_length=1)
    change: ChangeStep | None = None
    cluster: ClusterOptions = Field(
        default_factory=ClusterOptions,
        description="Where to run: ClusterOptions' fields (a scheduler, or the embedded "
        "cluster's size); the command line's --scheduler and --workers override them.",
    )

    @field_validator("steps")
    @classmethod
    def _unique(cls, steps: list[str]) -> list[str]:
        if len(set(steps)) != len(steps):
            raise ValueError("each step at most once")
        return steps


def load_workflow(path: str | Path, *, allow_outside: bool = False) -> tuple[Workflow, Path]:
    """The validated workflow and its folder; ``ConfigError`` lists every problem with its line,
    and, unless ``allow_outside``, every local path that leads outside its project root."""
    workflow, base, outside = check_workflow(path)
    if outside and not allow_outside:
        raise ConfigError(
            "\n".join(
                f"{line} (run it with --allow-outside, or allow_outside=True)" for line in outside
            )
        )
    return workflow, base


def check_workflow(path: str | Path) -> tuple[Workflow, Path, list[str]]:
    """The validated workflow, its folder, and one ``FILE:LINE: field: ...`` line for each local
    path (``outputs.dir``, a scene, a date pair's scene) that leads outside its project root;
    ``ConfigError`` lists every problem with its line."""
    path = absolute(path)  # so are the paths relative to it, which workers get
    data, root = _parse(path, _read_text(path))
    problems = _check_meaning(data, path, root)
    try:
        workflow = Workflow.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{path}:{_line(root, error['loc'])}: {'.'.join(map(str, error['loc']))}: "
            f"{error['msg']}"
            for error in exc.errors()
        ] + problems
    if problems:
        raise ConfigError("\n".join(problems))
    return workflow, path.parent, _outside(workflow, path, root)


def _read_text(path: Path) -> str:
    """The file's text; ``UnreadableWorkflow`` where it cannot be read or is not UTF-8 text
    (a binary file, another encoding), naming the first bad byte's line."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableWorkflow(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UnreadableWorkflow(
            f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x})"
        ) from None


def _parse(path: Path, text: str) -> tuple[dict, yaml.Node]:
    """The YAML mapping ``text`` holds, and its node tree (for lines); errors name the file."""
    try:
        _check_depth(path, text)
        data = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.reader.ReaderError as exc:  # control characters: a binary file
        line = text[: exc.position].count("\n") + 1
        raise UnreadableWorkflow(
            f"{path}:{line}: not a text file (character #x{exc.character:02x})"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise ConfigError(f"{path}:{line}: not valid YAML ({problem})") from None
    if not isinstance(data, dict) or root is None:
        raise UnreadableWorkflow(
            f"{path}:1: a workflow is a mapping of fields (name, scenes, outputs, ...), "
            f"not {_kind(data)}"
        )
    return data, root


def _check_depth(path: Path, text: str) -> None:
    """``UnreadableWorkflow`` for YAML nested deeper than ``MAX_DEPTH``, found from the parser's
    events, which (unlike the composer and the constructor) do not recurse."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark else 1
                raise UnreadableWorkflow(f"{path}:{line}: nested deeper than {MAX_DEPTH} levels")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _kind(data: object) -> str:
    """What a YAML document is instead of a mapping, in words."""
    if data is None:
        return "an empty document"
    if isinstance(data, list):
        return "a list"
    return "a single value"


def project_root(path: str | Path) -> Path:
    """The folder a workflow's local paths must stay in, symlinks resolved: the workflow file's
    folder, or its parent when that folder is named ``workflows`` (a project keeps its workflows
    in ``workflows/`` beside its scenes and outputs, as this repository does)."""
    folder = absolute(path).parent
    return (folder.parent if folder.name == "workflows" else folder).resolve()


def _outside(workflow: Workflow, path: Path, root: yaml.Node) -> list[str]:
    """A line for each local path of ``workflow`` that, symlinks resolved, is not in its project
    root (in the file's order)."""
    project = project_root(path)
    found = []
    for loc, value, paths in _local_paths(workflow, path.parent):
        leaving = [p.resolve() for p in paths if not p.resolve().is_relative_to(project)]
        if leaving:
            shown = "" if str(leaving[0]) == value.rstrip("/") else f" ({leaving[0]})"
            line = _line(root, loc)
            found.append((line, f"{path}:{line}: {'.'.join(map(str, loc))}: {value!r}{shown}"))
    return [f"{text} is outside the workflow's project root {project}" for _, text in sorted(found)]


def _local_paths(
    workflow: Workflow, base: Path
) -> list[tuple[tuple[str | int, ...], str, list[Path]]]:
    """Each local path field (its location in the file, its value) and the paths it names:
    ``outputs.dir``, every path a ``scenes`` pattern matches, each scene of a date pair."""
    fields: list[tuple[tuple[str | int, ...], str, list[Path]]] = [
        (("outputs", "dir"), workflow.outputs.dir, [base / workflow.outputs.dir])
    ]
    for i, pattern in enumerate(workflow.scenes):
        if not is_remote(pattern):
            fields.append(
                (("scenes", i), pattern, [Path(p) for p in glob.glob(str(base / pattern))])
            )
    pairs = workflow.change.pairs if workflow.change is not None else "consecutive"
    for i, pair in enumerate(pairs if isinstance(pairs, list) else []):
        fields += [
            (("change", "pairs", i, j), scene, [base / scene])
            for j, scene in enumerate(pair)
            if not is_remote(scene)
        ]
    return fields


def _check_meaning(data: dict, path: Path, root: yaml.Node) -> list[str]:
    """Problems the schema cannot see — scene paths that do not exist, unknown models, date
    pairs out of order — checked on the raw data, so they are reported with schema errors."""
    base = path.parent
    problems = []
    scenes = data.get("scenes")
    for i, pattern in enumerate(scenes if isinstance(scenes, list) else []):
        if (
            isinstance(pattern, str)
            and not is_remote(pattern)
            and not glob.glob(str(base / pattern))
        ):
            problems.append(
                f"{path}:{_line(root, ('scenes', i))}: scenes.{i}: no such path "
                f"{pattern!r} (relative to {base})"
            )
    process = data.get("process")
    model = process.get("model", DEFAULT_MODEL) if isinstance(process, dict) else None
    if isinstance(model, str):
        try:
            resolve_model(_resolve(base, model))
        except GeosegError as exc:
            problems.append(f"{path}:{_line(root, ('process', 'model'))}: process.model: {exc}")
    change = data.get("change")
    if "change" in (data.get("steps") or []) and not change:
        problems.append(f"{path}:{_line(root, ('steps',))}: steps: 'change' needs a change section")
    pairs = change.get("pairs") if isinstance(change, dict) else None
    reversed_ok = isinstance(change, dict) and change.get("allow_reversed") is True
    for i, pair in enumerate(pairs if isinstance(pairs, list) else []):
        where = f"{path}:{_line(root, ('change', 'pairs', i))}: change.pairs.{i}"
        if not (
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)
        ):
            continue  # the schema reports its shape
        problems += [f"{where}: no such scene {p!r}" for p in pair if not (base / p).exists()]
        first, second = (acquisition_date(Path(p).stem)[0] for p in pair)
        if first is None or second is None:
            problems.append(f"{where}: cannot tell the dates from the names")
        elif first >= second and not reversed_ok:
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
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _resolve(base: Path, value: str) -> str:
    return value if value.startswith("builtin:") or value == "spectral" else str(base / value)


def process_config(workflow: Workflow, base: Path) -> ProcessConfig:
    """The workflow's ``process`` options, with a model file's path made relative to ``base``."""
    return workflow.process.replace(model=_resolve(base, workflow.process.model))


def change_options(workflow: Workflow) -> ChangeOptions:
    """The workflow's ``change`` options without ``pairs`` (the defaults when it has none)."""
    if workflow.change is None:
        return ChangeOptions()
    return ChangeOptions.model_validate(workflow.change.model_dump(exclude={"pairs"}))


def scene_paths(workflow: Workflow, base: Path) -> list[str]:
    """Every path the ``scenes`` patterns match (absolute), and each remote location (a URL, an
    ``s3://`` prefix, a STAC file) as it is; sorted, without repeats."""
    return sorted(
        {
            found
            for pattern in workflow.scenes
            for found in (
                [pattern] if is_remote(pattern) else glob.glob(str(absolute(base / pattern)))
            )
        }
    )


def json_schema() -> dict[str, Any]:
    """The JSON Schema of workflow files (``workflows/schema.json``)."""
    return Workflow.model_json_schema()


def json_schema_text() -> str:
    """``json_schema()`` as the text of ``workflows/schema.json``."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def write_json_schema(path: str | Path) -> None:
    """Write ``json_schema_text()`` to ``path`` (``geoseg schema workflows/schema.json``)."""
    Path(path).write_text(json_schema_text(), encoding="utf-8")


def cluster_options(workflow: Workflow, given: ClusterOptions | None = None) -> ClusterOptions:
    """The workflow's ``cluster`` section, with the options ``given`` set (by the command line
    or the caller) in its place."""
    return workflow.cluster.replace(**given.model_dump(exclude_unset=True) if given else {})
