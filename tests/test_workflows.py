"""Workflow files: validation with file:line and field, the JSON Schema, and a run."""

import json
import re
from pathlib import Path

import pytest
from distributed import Client
from typer.testing import CliRunner

from geoseg.cli import app
from geoseg.errors import ConfigError
from geoseg.options import ChangeOptions, LossRule, PolygonOptions, ProcessConfig, SceneOptions
from geoseg.pipeline import run_workflow
from geoseg.workflows import (
    change_options,
    json_schema,
    json_schema_text,
    load_workflow,
    process_config,
)

from .conftest import BGRN, forest_scene, write_raster
from .test_models import tiny_checkpoint

WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"
GOOD = """name: t
scenes: [scenes/]
outputs: {dir: out}
"""


def problems(tmp_path: Path, text: str) -> list[str]:
    (tmp_path / "scenes").mkdir(exist_ok=True)
    path = tmp_path / "w.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_workflow(path)
    return str(info.value).splitlines()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD + "colour: red\n", "w.yaml:4: colour: Extra inputs are not permitted"),
        (GOOD + "process:\n  tile_size: big\n", "w.yaml:5: process.tile_size: Input should be"),
        (GOOD + "tiling:\n  tile_size: 256\n", "w.yaml:4: tiling: Extra inputs are not permitted"),
        (GOOD.replace("scenes/", "nowhere/"), "w.yaml:2: scenes.0: no such path 'nowhere/'"),
        (GOOD + "process:\n  model: models/none.safetensors\n", "w.yaml:5: process.model: "),
        (
            GOOD + "process:\n  tile_size: 8\n",
            "w.yaml:5: process.tile_size: Input should be greater than or equal to 16",
        ),
        (
            GOOD + "process:\n  tile_size: 64\n  overlap: 40\n",
            "w.yaml:4: process: Value error, `overlap` (40) must be at most half of `tile_size` (64)",
        ),
        (
            GOOD + "process:\n  scene_options:\n    offset: 0.1\n",
            "w.yaml:5: process.scene_options: Value error, `offset` needs `scale` as well",
        ),
        (
            GOOD + "process:\n  scene_options:\n    bands: [red, infrared]\n",
            "w.yaml:6: process.scene_options.bands: Value error, unknown band names ['infrared']",
        ),
        (
            GOOD + "process:\n  polygons:\n    min_area_ha: -1\n",
            "w.yaml:6: process.polygons.min_area_ha: Input should be greater than or equal to 0",
        ),
        (
            GOOD + "process:\n  precision: fp16\n",
            "w.yaml:5: process.precision: Input should be 'auto', 'fp32' or 'bf16'",
        ),
        (
            GOOD + "process:\n  block_size: 1000\n",
            "w.yaml:5: process.block_size: Input should be a multiple of 16",
        ),
        (
            GOOD + "steps: [process, change]\nchange:\n  rule: {forest_threshold: 1.5}\n",
            "w.yaml:6: change.rule.forest_threshold: Input should be less than 1",
        ),
        (GOOD + "change:\n  pairs: all\n", "w.yaml:5: change.pairs.literal['consecutive']: Input"),
        (
            GOOD + "steps: [change]\nchange:\n  pairs:\n    - [a_2020.tif, b_2010.tif]\n",
            "w.yaml:7: change.pairs.0: a_2020.tif is not older than b_2010.tif",
        ),
        (
            GOOD + "steps: [process, process]\n",
            "w.yaml:4: steps: Value error, each step at most once",
        ),
        ("name: t\nscenes: [scenes/]\n", "w.yaml:1: outputs: Field required"),
    ],
)
def test_validation_names_file_line_and_field(tmp_path: Path, text: str, expected: str) -> None:
    found = problems(tmp_path, text)
    assert any(line.endswith(expected) or expected in line for line in found), found
    assert all(line.startswith(str(tmp_path / "w.yaml") + ":") for line in found)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        GOOD.replace("scenes/", "nowhere/") + "colour: red\n"
        "process:\n  model: builtin:nothing\n  tile_size: 8\n  sieve: 2\n",
    )
    assert len(found) == 5, found  # path, colour, model, tile_size and sieve (not sieve_pixels)


def test_invalid_yaml_has_a_line(tmp_path: Path) -> None:
    [line] = problems(tmp_path, "name: t\nscenes: [a\n  b: c\n")
    assert ": not valid YAML" in line and line.split(":")[1].isdigit()


def test_shipped_workflows_are_valid() -> None:
    for path in WORKFLOWS.glob("*.yaml"):
        load_workflow(path)


def test_the_schema_file_is_current() -> None:
    committed = (WORKFLOWS / "schema.json").read_text(encoding="utf-8")
    assert committed == json_schema_text(), (
        "workflows/schema.json is not the schema of geoseg.options / geoseg.workflows; "
        "regenerate it: geoseg schema workflows/schema.json"
    )


def test_schema_command_writes_the_schema(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["schema", str(tmp_path / "schema.json")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "schema.json").read_text()) == json_schema()
    printed = CliRunner().invoke(app, ["schema"])
    assert json.loads(printed.stdout) == json_schema()


def test_the_schema_is_made_of_the_option_models() -> None:
    """One declaration: the workflow schema's sections are the option classes, with their
    constraints and descriptions."""
    defs = json_schema()["$defs"]
    assert {"ProcessConfig", "SceneOptions", "PolygonOptions", "LossRule"} <= set(defs)
    tile = defs["ProcessConfig"]["properties"]["tile_size"]
    assert tile["description"] == ProcessConfig.model_fields["tile_size"].description
    assert {"minimum": 16, "maximum": 4096, "type": "integer"} in tile["anyOf"]
    assert defs["ProcessConfig"]["properties"]["precision"]["enum"] == ["auto", "fp32", "bf16"]
    assert defs["LossRule"]["properties"]["forest_threshold"]["exclusiveMaximum"] == 1
    change = defs["ChangeStep"]["properties"]
    assert set(ChangeOptions.model_fields) | {"pairs"} == set(change)


def test_sections_are_the_option_objects(tmp_path: Path) -> None:
    (tmp_path / "scenes").mkdir()
    tiny_checkpoint(tmp_path)  # a real checkpoint: the model is checked where it is named
    (tmp_path / "w.yaml").write_text(
        GOOD + "process:\n  model: model.safetensors\n  tile_size: 256\n"
        "  scene_options: {bands: [red, green, blue, nir], scale: 0.0001}\n"
        "  polygons: {min_area_ha: 2}\n  precision: bf16\n"
        "steps: [process, change]\nchange:\n  pairs: consecutive\n  rule: {min_drop: 0.4}\n"
        "  allow_reversed: true\n"
    )
    workflow, base = load_workflow(tmp_path / "w.yaml")
    assert isinstance(workflow.process, ProcessConfig) and isinstance(
        workflow.change, ChangeOptions
    )
    config = process_config(workflow, base)
    assert config == ProcessConfig(
        model=str(tmp_path / "model.safetensors"),
        tile_size=256,
        precision="bf16",
        scene_options=SceneOptions(bands=("red", "green", "blue", "nir"), scale=1e-4),
        polygons=PolygonOptions(min_area_ha=2),
    )
    assert change_options(workflow) == ChangeOptions(
        rule=LossRule(min_drop=0.4), allow_reversed=True
    )
    assert type(change_options(workflow)) is ChangeOptions


def test_no_polygons_and_the_defaults(tmp_path: Path) -> None:
    (tmp_path / "scenes").mkdir()
    (tmp_path / "w.yaml").write_text(GOOD + "process: {polygons: null, model: spectral}\n")
    workflow, base = load_workflow(tmp_path / "w.yaml")
    assert process_config(workflow, base) == ProcessConfig(model="spectral", polygons=None)
    (tmp_path / "w.yaml").write_text(GOOD)
    workflow, base = load_workflow(tmp_path / "w.yaml")
    assert process_config(workflow, base) == ProcessConfig()
    assert change_options(workflow) == ChangeOptions()


def test_validate_command(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("name: t\nscenes: [nowhere/]\noutputs: {dir: out}\n")
    bad = CliRunner().invoke(app, ["validate", str(tmp_path / "bad.yaml")])
    assert bad.exit_code == 1 and "bad.yaml:2: scenes.0: no such path" in bad.output
    good = CliRunner().invoke(app, ["validate", str(WORKFLOWS / "samples.yaml")])
    assert good.exit_code == 0 and "valid" in good.output


def test_run_processes_and_compares_dates(client: Client, tmp_path: Path) -> None:
    for name, seed in (("site_2001-01-01", 0), ("site_2004-01-01", 1)):
        write_raster(
            tmp_path / "scenes" / f"{name}.tif", forest_scene(seed=seed), descriptions=BGRN
        )
    (tmp_path / "w.yaml").write_text(
        GOOD + "steps: [process, change]\nchange:\n  pairs: consecutive\n  normalise: false\n"
    )
    result = run_workflow(tmp_path / "w.yaml", client=client)
    assert not result.failed
    assert [r.name for r in result.scenes] == ["site_2001-01-01", "site_2004-01-01"]
    assert (tmp_path / "out" / "scenes" / "site_2001-01-01" / "polygons.gpkg").exists()
    [pair] = result.changes
    assert not isinstance(pair, tuple), pair
    assert pair.summary is not None and pair.summary.date_before == "2001-01-01"
    assert (tmp_path / "out" / "change" / "site_2001-01-01__site_2004-01-01" / "loss.tif").exists()


NOT_WORKFLOWS = {
    "empty": b"",
    "a list": b"- name: t\n- scenes: [scenes/]\n",
    "binary": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "control characters": b"name: t\x00\x01\n",
    "latin-1": "name: café\n".encode("latin-1"),
    "nested 500 deep": b"name: " + b"[" * 500 + b"]" * 500 + b"\n",
    "mappings 500 deep": b"name: t\nx:\n" + b"".join(b"  " * i + b"a:\n" for i in range(1, 500)),
}


@pytest.mark.parametrize("content", [*NOT_WORKFLOWS, "missing", "a directory"])
def test_a_file_that_is_not_a_workflow_is_one_line_naming_it(tmp_path: Path, content: str) -> None:
    """``validate`` and ``run``: one line with the file name and exit 2, never a traceback (a
    1 KB file nested 500 deep was a 3,000-line RecursionError)."""
    path = tmp_path / "w.yaml"
    if content == "a directory":
        path.mkdir()
    elif content != "missing":
        path.write_bytes(NOT_WORKFLOWS[content])
    for command in (["validate"], ["run", "--no-progress"]):
        result = CliRunner().invoke(app, [*command, str(path)])
        assert result.exit_code == 2, (command, result.output, result.exception)
        [line] = result.output.splitlines()
        assert str(path) in line, line


def test_nesting_a_workflow_could_need_is_read_as_usual(tmp_path: Path) -> None:
    """Only nesting far beyond a workflow's (4 levels) is refused, with the line it starts on."""
    deep = "x: " + "[" * 500 + "]" * 500 + "\n"
    assert problems(tmp_path, GOOD + deep) == [
        f"{tmp_path / 'w.yaml'}:4: nested deeper than 32 levels"
    ]
    found = problems(tmp_path, GOOD + "x: " + "[" * 30 + "]" * 30 + "\n")
    assert found == [f"{tmp_path / 'w.yaml'}:4: x: Extra inputs are not permitted"]


def outside_fields(tmp_path: Path, folder: str, body: str) -> list[str]:
    """The fields ``load_workflow`` refuses as outside the project root, for a workflow in
    ``project/FOLDER/w.yaml``, with ``project/scenes/``, ``project/FOLDER/scenes/`` and
    ``elsewhere/`` (beside ``project``) holding a dated scene each."""
    project = tmp_path / "project"
    for scenes in (project / "scenes", project / folder / "scenes", tmp_path / "elsewhere"):
        scenes.mkdir(parents=True, exist_ok=True)
        (scenes / "a_2001-01-01.tif").touch()
        (scenes / "a_2004-01-01.tif").touch()
    path = project / folder / "w.yaml"
    path.write_text(body)
    try:
        load_workflow(path)
    except ConfigError as exc:
        return re.findall(
            r"^\S+:\d+: ([\w.]+): .* is outside .*--allow-outside", str(exc), re.MULTILINE
        )
    return []


def test_outputs_and_scenes_must_stay_in_the_project_root(tmp_path: Path) -> None:
    """The project root is the workflow's folder, or the parent of a ``workflows/`` folder;
    symlinks are resolved; remote scenes are never outside."""
    elsewhere = tmp_path / "elsewhere"
    (tmp_path / "project" / "wf").mkdir(parents=True)
    (tmp_path / "project" / "wf" / "linked").symlink_to(elsewhere, target_is_directory=True)
    (tmp_path / "project" / "wf" / "one.tif").symlink_to(elsewhere / "a_2001-01-01.tif")
    pair = "steps: [change]\nchange:\n  pairs: [[{}, scenes/a_2004-01-01.tif]]\n"
    cases = [
        ("wf", "scenes/", "out", "", []),
        ("wf", "scenes/", "../../../../../../tmp/x", "", ["outputs.dir"]),
        ("wf", "scenes/", str(elsewhere / "out"), "", ["outputs.dir"]),
        ("wf", "scenes/", "linked/out", "", ["outputs.dir"]),
        ("wf", "../scenes/", "../out", "", ["scenes.0", "outputs.dir"]),
        ("wf", str(elsewhere), "out", "", ["scenes.0"]),
        ("wf", "'*.tif'", "out", "", ["scenes.0"]),  # one.tif leads to elsewhere/
        ("wf", "scenes/, https://example.com/a.tif, s3://b/k/", "out", "", []),
        ("wf", "scenes/", "out", pair.format("scenes/a_2001-01-01.tif"), []),
        (
            "wf",
            "scenes/",
            "out",
            pair.format("../../elsewhere/a_2001-01-01.tif"),
            ["change.pairs.0.0"],
        ),
        ("workflows", "../scenes/", "../out", "", []),
        ("workflows", "../scenes/", "../../out", "", ["outputs.dir"]),
        ("workflows", "../../elsewhere/", "out", "", ["scenes.0"]),
    ]
    for folder, scenes, out, more, expected in cases:
        body = f"name: t\nscenes: [{scenes}]\noutputs: {{dir: {out}}}\n{more}"
        assert outside_fields(tmp_path, folder, body) == expected, body


def test_validate_warns_and_run_refuses_outside_paths_unless_allowed(
    client: Client, tmp_path: Path
) -> None:
    """A shared cluster runs other people's workflow files: ``validate`` warns (exit 0), ``run``
    refuses in one line naming the field and the path (exit 2, nothing written), and runs it
    with ``--allow-outside``."""
    write_raster(tmp_path / "mine" / "scenes" / "site.tif", forest_scene(), descriptions=BGRN)
    path = tmp_path / "mine" / "w.yaml"
    path.write_text("name: t\nscenes: [scenes/]\noutputs: {dir: ../theirs/out}\n")
    says = f"{path}:3: outputs.dir: '../theirs/out' ({tmp_path / 'theirs' / 'out'}) is outside"
    checked = CliRunner().invoke(app, ["validate", str(path)])
    assert checked.exit_code == 0, checked.output
    warning, valid = checked.output.splitlines()
    assert warning.startswith(f"warning: {says}") and "--allow-outside" in warning
    assert valid.endswith(": valid")
    run = ["run", str(path), "--scheduler", client.scheduler.address, "--no-progress"]
    refused = CliRunner().invoke(app, run)
    assert refused.exit_code == 2, refused.output
    [line] = refused.output.splitlines()
    assert line.startswith(f"error: {says}") and line.endswith(
        "(run it with --allow-outside, or allow_outside=True)"
    )
    with pytest.raises(ConfigError, match=re.escape("outputs.dir: '../theirs/out'")):
        run_workflow(path, client=client)
    assert not (tmp_path / "theirs").exists()
    allowed = CliRunner().invoke(app, [*run, "--allow-outside"])
    assert allowed.exit_code == 0, allowed.output
    assert (tmp_path / "theirs" / "out" / "scenes" / "site" / "classes.tif").exists()
