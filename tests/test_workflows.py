"""Workflow files: validation with file:line and field, the JSON Schema, and a run."""

import json
from pathlib import Path

import pytest
from distributed import Client
from typer.testing import CliRunner

from geoseg.cli import app
from geoseg.errors import ConfigError
from geoseg.pipeline import run_workflow
from geoseg.workflows import json_schema, load_workflow

from .conftest import BGRN, forest_scene, write_raster

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


@pytest.mark.parametrize(("text", "expected"), [
    (GOOD + "colour: red\n", "w.yaml:4: colour: Extra inputs are not permitted"),
    (GOOD + "tiling:\n  tile_size: big\n", "w.yaml:5: tiling.tile_size: Input should be"),
    (GOOD.replace("scenes/", "nowhere/"), "w.yaml:2: scenes.0: no such path 'nowhere/'"),
    (GOOD + "model: models/none.safetensors\n", "w.yaml:4: model: "),
    (GOOD + "steps: [change]\nchange:\n  pairs:\n    - [a_2020.tif, b_2010.tif]\n",
     "w.yaml:7: change.pairs.0: a_2020.tif is not older than b_2010.tif"),
    (GOOD + "steps: [process, process]\n", "w.yaml:4: steps: Value error, each step at most once"),
    ("name: t\nscenes: [scenes/]\n", "w.yaml:1: outputs: Field required"),
])
def test_validation_names_file_line_and_field(tmp_path: Path, text: str, expected: str) -> None:
    found = problems(tmp_path, text)
    assert any(line.endswith(expected) or expected in line for line in found), found
    assert all(line.startswith(str(tmp_path / "w.yaml") + ":") for line in found)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    found = problems(tmp_path, GOOD.replace("scenes/", "nowhere/") + "colour: red\n"
                     "model: builtin:nothing\n")
    assert len(found) == 3


def test_invalid_yaml_has_a_line(tmp_path: Path) -> None:
    [line] = problems(tmp_path, "name: t\nscenes: [a\n  b: c\n")
    assert ": not valid YAML" in line and line.split(":")[1].isdigit()


def test_shipped_workflows_are_valid_and_the_schema_file_is_current() -> None:
    for path in WORKFLOWS.glob("*.yaml"):
        load_workflow(path)
    assert json.loads((WORKFLOWS / "schema.json").read_text()) == json_schema()


def test_validate_command(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("name: t\nscenes: [nowhere/]\noutputs: {dir: out}\n")
    bad = CliRunner().invoke(app, ["validate", str(tmp_path / "bad.yaml")])
    assert bad.exit_code == 1 and "bad.yaml:2: scenes.0: no such path" in bad.output
    good = CliRunner().invoke(app, ["validate", str(WORKFLOWS / "samples.yaml")])
    assert good.exit_code == 0 and "valid" in good.output


def test_run_processes_and_compares_dates(client: Client, tmp_path: Path) -> None:
    for name, seed in (("site_2001-01-01", 0), ("site_2004-01-01", 1)):
        write_raster(tmp_path / "scenes" / f"{name}.tif", forest_scene(seed=seed),
                     descriptions=BGRN)
    (tmp_path / "w.yaml").write_text(GOOD + "steps: [process, change]\nchange:\n"
                                     "  pairs: consecutive\n  normalise: false\n")
    result = run_workflow(tmp_path / "w.yaml", client=client)
    assert not result.failed
    assert [r.name for r in result.scenes] == ["site_2001-01-01", "site_2004-01-01"]
    assert (tmp_path / "out" / "scenes" / "site_2001-01-01" / "polygons.gpkg").exists()
    [pair] = result.changes
    assert pair.summary["date_before"] == "2001-01-01"
    assert (tmp_path / "out" / "change" / "site_2001-01-01__site_2004-01-01" / "loss.tif").exists()
