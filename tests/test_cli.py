"""The ``geoseg`` command, run in-process with Typer's runner (and once as ``python -m geoseg``)."""

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyogrio
import pytest
from distributed import Client
from typer.testing import CliRunner

from geoseg import __version__, cli
from geoseg.cli import FLAGS, app, with_flags
from geoseg.options import (
    ChangeOptions,
    ClusterOptions,
    LossRule,
    PolygonOptions,
    ProcessConfig,
    SceneOptions,
)

from .conftest import BGRN, SAMPLES, forest_scene, write_raster

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"geoseg {__version__}"


def test_python_dash_m_runs_the_cli() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "geoseg", "--version"], capture_output=True, text=True, check=True
    )
    assert __version__ in out.stdout


def test_shell_completion_completes_commands() -> None:
    """Typer's completion: the script installs, and the completer answers a partial command."""
    script = subprocess.run(
        [sys.executable, "-m", "geoseg", "--show-completion", "bash"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert script.returncode == 0, script.stderr
    assert "_geoseg_completion" in script.stdout or "complete" in script.stdout
    env = {
        **os.environ,
        "COMP_WORDS": "geoseg pro",
        "COMP_CWORD": "1",
        "_GEOSEG_COMPLETE": "complete_bash",
    }
    geoseg = Path(sys.executable).parent / "geoseg"
    answer = subprocess.run([str(geoseg)], capture_output=True, text=True, env=env, check=False)
    assert answer.stdout.split() == ["process"]


def test_process_on_an_embedded_cluster(tmp_path: Path) -> None:
    write_raster(tmp_path / "in" / "forest.tif", forest_scene(), descriptions=BGRN)
    result = runner.invoke(
        app,
        [
            "process",
            str(tmp_path / "in"),
            "-o",
            str(tmp_path / "out"),
            "--workers",
            "1",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Dask dashboard: http" in result.output
    assert (tmp_path / "out" / "forest" / "classes.tif").exists()


def test_process_on_a_running_scheduler_reports_a_bad_scene(client: Client, tmp_path: Path) -> None:
    write_raster(tmp_path / "in" / "forest.tif", forest_scene(), descriptions=BGRN)
    (tmp_path / "in" / "broken.tif").write_bytes(b"not a tiff at all")
    result = runner.invoke(
        app,
        [
            "process",
            str(tmp_path / "in"),
            "-o",
            str(tmp_path / "out"),
            "--scheduler",
            client.scheduler.address,
            "--no-progress",
            "--tile",
            "64",
            "--overlap",
            "16",
        ],
    )
    assert result.exit_code == 1, result.output
    failed = [line for line in result.output.splitlines() if line.startswith("failed:")]
    assert len(failed) == 1 and "broken.tif: cannot read" in failed[0]
    assert (tmp_path / "out" / "forest" / "probability.tif").exists()
    assert not (tmp_path / "out" / "broken").exists() or not any(
        (tmp_path / "out" / "broken").glob("*.tif")
    )


def test_bad_options_and_paths_are_one_line_errors(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["process", str(tmp_path / "nowhere"), "-o", str(tmp_path)])
    assert missing.exit_code == 2
    assert missing.output.strip().splitlines()[-1].startswith("error: ")
    assert "no such scene file or directory" in missing.output
    bad_blend = runner.invoke(
        app, ["process", str(SAMPLES), "-o", str(tmp_path), "--blend", "median"]
    )
    assert bad_blend.exit_code == 2
    assert "error: --blend: Input should be 'cosine' or 'mean' (got 'median')" in bad_blend.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--tile", "8"], "error: --tile: Input should be greater than or equal to 16 (got 8)"),
        (
            ["--tile", "64", "--overlap", "40"],
            "error: --overlap (40) must be at most half of --tile (64)",
        ),
        (["--offset", "0.1"], "error: --offset needs --scale as well"),
        (["--bands", "red,infrared"], "error: --bands: unknown band names ['infrared']"),
        (["--sensor", "modis"], "error: --sensor: unknown sensor 'modis'"),
        (
            ["--min-area-ha", "-1", "--sieve", "-2"],
            "error: --min-area-ha: Input should be greater than or equal to 0 (got -1.0); --sieve: ",
        ),
        (["--block-size", "1000"], "error: --block-size: Input should be a multiple of 16"),
        (["--precision", "fp16"], "error: --precision: Input should be 'auto', 'fp32' or 'bf16'"),
    ],
)
def test_option_errors_name_the_flags(tmp_path: Path, args: list[str], expected: str) -> None:
    result = runner.invoke(app, ["process", str(SAMPLES), "-o", str(tmp_path), *args])
    assert result.exit_code == 2
    [line] = result.output.strip().splitlines()
    assert line.startswith(expected), line


def test_change_option_errors_name_the_flags(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "change",
            str(SAMPLES),
            "--pairs",
            "consecutive",
            "-o",
            str(tmp_path),
            "--forest-threshold",
            "1.5",
        ],
    )
    assert result.exit_code == 2
    assert "error: --forest-threshold: Input should be less than 1 (got 1.5)" in result.output
    window = runner.invoke(
        app,
        [
            "vectorize",
            str(SAMPLES / "nowhere.tif"),
            "-o",
            str(tmp_path / "x.gpkg"),
            "--window",
            "8",
        ],
    )
    assert window.exit_code == 2 and "error: --window: Input should be greater" in window.output


def test_messages_name_flags_for_field_names() -> None:
    assert with_flags("tile_size: too small (got 8)", ("tile_size",)) == "--tile: too small (got 8)"
    assert (
        with_flags(
            "polygons.min_area_ha: negative; scene_options.bands: unknown",
            ("polygons.min_area_ha", "scene_options.bands"),
        )
        == "--min-area-ha: negative; --bands: unknown"
    )
    assert (
        with_flags("x.tif: several bands map to ['nir']; name them with `bands`", ("bands",))
        == "x.tif: several bands map to ['nir']; name them with --bands"
    )
    assert with_flags(
        "a.tif is later than b.tif; swap them, or allow it with `allow_reversed`"
    ).endswith("allow it with --allow-reversed")
    assert with_flags("`max_blocks_in_flight` has no flag") == "`max_blocks_in_flight` has no flag"
    assert (
        with_flags("a label raster needs `mapping` VALUE=CLASS", ("mapping",))
        == "a label raster needs --map VALUE=CLASS"
    )


def test_every_flag_of_an_option_is_in_the_table() -> None:
    """Each flag the table names exists on a command, and each option field it names exists."""
    fields = {
        name
        for model in (
            ProcessConfig,
            SceneOptions,
            PolygonOptions,
            LossRule,
            ChangeOptions,
            ClusterOptions,
        )
        for name in model.model_fields
    }
    assert set(FLAGS) - fields == {"mapping"}
    helps = "\n".join(
        runner.invoke(app, [command, "--help"], env={"COLUMNS": "300"}).output
        for command in ("process", "change", "vectorize", "info")
    )
    assert all(flag in helps for flag in FLAGS.values() if flag != "--map")


def test_help_is_the_models_description_and_default() -> None:
    help_text = runner.invoke(app, ["process", "--help"], env={"COLUMNS": "300"}).output
    for field, default in (
        ("batch_size", "8"),
        ("block_size", "1024"),
        ("blend", "cosine"),
        ("precision", "auto"),
        ("quicklook", "--no-quicklook"),
    ):
        line = next(line for line in help_text.splitlines() if f" {FLAGS[field]} " in line)
        assert str(ProcessConfig.model_fields[field].description) in line, line
        assert f"[default: {default}]" in line, line
    change_help = runner.invoke(app, ["change", "--help"], env={"COLUMNS": "300"}).output
    assert str(LossRule.model_fields["min_drop"].description) in change_help
    assert "[default: 0.3]" in change_help


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list:
    """The options ``process`` hands the API (no cluster, no run)."""
    calls: list = []

    @contextmanager
    def no_cluster(options):
        yield type("Client", (), {"dashboard_link": "-"})()

    def run_process(scenes, out, config, **kwargs) -> list:
        calls.append(config)
        return []

    monkeypatch.setattr(cli, "connect", no_cluster)
    monkeypatch.setattr(cli, "run_process", run_process)
    monkeypatch.setattr(cli, "results_table", lambda results: "")
    return calls


def test_options_not_given_are_the_models_defaults(captured: list, tmp_path: Path) -> None:
    args = ["process", str(SAMPLES), "-o", str(tmp_path), "--no-progress"]
    assert runner.invoke(app, args).exit_code == 0
    assert (
        runner.invoke(
            app, [*args, "--tile", "64", "--bands", "red, nir", "--sieve", "4", "--quicklook"]
        ).exit_code
        == 0
    )
    assert runner.invoke(app, [*args, "--no-polygons", "--block-size", "512"]).exit_code == 0
    assert captured == [
        ProcessConfig(),
        ProcessConfig(
            tile_size=64,
            scene_options=SceneOptions(bands=("red", "nir")),
            polygons=PolygonOptions(sieve_pixels=4),
            quicklook=True,
        ),
        ProcessConfig(polygons=None, block_size=512),
    ]
    assert captured[0].model_fields_set == set()


def test_info_names_the_bands_flag(tmp_path: Path) -> None:
    write_raster(tmp_path / "plain.tif", np.ones((3, 8, 8), np.uint16))
    result = runner.invoke(app, ["info", str(tmp_path)], env={"COLUMNS": "300"})
    assert result.exit_code == 1
    assert "name them with --bands" in result.output and "`bands`" not in result.output


def test_info_shows_band_mapping_and_problems(tmp_path: Path) -> None:
    ok = runner.invoke(app, ["info", str(SAMPLES)])
    assert ok.exit_code == 0, ok.output
    assert "B4→red" in ok.output and "sentinel2" in ok.output and "SWIR1→swir16" in ok.output
    assert "EPSG:27700" in ok.output and "nodata: none" in ok.output
    write_raster(tmp_path / "good.tif", forest_scene(), descriptions=BGRN, nodata=0)
    (tmp_path / "broken.tif").write_bytes(b"garbage")
    bad = runner.invoke(app, ["info", str(tmp_path)], env={"COLUMNS": "300"})
    assert bad.exit_code == 1
    assert "cannot read" in bad.output and "broken" in bad.output
    assert "nodata: 0" in bad.output  # the good scene beside it is still described
    assert "if 0 is a real value in this file, unset it" in bad.output


def test_vectorize_command_names_the_class_from_the_manifest(sample_run, tmp_path: Path) -> None:
    out, _ = sample_run
    classes = out / "pucallpa_2000" / "classes.tif"
    gpkg = tmp_path / "clearings.gpkg"
    result = runner.invoke(
        app,
        [
            "vectorize",
            str(classes),
            "-o",
            str(gpkg),
            "--class",
            "non_forest",
            "--min-area-ha",
            "5",
            "--window",
            "256",
            "--workers",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    table = pyogrio.read_dataframe(gpkg, layer="polygons")
    assert len(table) > 0 and (table["area_ha"] >= 5).all()
    assert set(table["scene"]) == {"pucallpa_2000"} and set(table["date"]) == {
        "2000"
    }  # a composite: its year, as everywhere
    unknown = runner.invoke(app, ["vectorize", str(classes), "-o", str(gpkg), "--class", "cloud"])
    assert unknown.exit_code == 2 and "unknown class 'cloud'" in unknown.output


def test_every_command_help_shows_an_example_and_describes_every_option() -> None:
    import typer.core

    group = typer.main.get_command(app)
    commands = group.commands  # type: ignore[attr-defined]
    for name, command in commands.items():
        for param in command.params:
            assert param.help, f"geoseg {name} {param.name}: no description"
        shown = CliRunner().invoke(app, [name, "--help"], env={"COLUMNS": "100"}).output
        assert "Examples:" in shown and f"geoseg {name} " in shown.split("Examples:")[1], name
        usage = shown.split("\n\n")[0] + shown.split("Usage:")[1].splitlines()[0]
        assert "{" not in usage, usage
        assert "<bool>" not in shown, name
        for param in command.params:
            if isinstance(param, typer.core.TyperArgument):
                assert str(param.name).upper() in usage, (name, usage)


def test_tables_fit_80_columns_with_names_shortened_in_the_middle(tmp_path: Path) -> None:
    from rich.console import Console

    from geoseg.reporting import output_lines, results_table
    from geoseg.results import SceneResult

    long = "costarica_landsat5_1986-02-06"
    results = [
        SceneResult(
            long, "done", "", {"classes": tmp_path / long / "classes.tif"}, 3.0, 4, polygons=52
        ),
        SceneResult(
            "pucallpa_2000",
            "failed",
            "a long message " * 5,
            {"classes": tmp_path / "pucallpa_2000" / "classes.tif"},
        ),
    ]
    console = Console(width=80, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(results_table(results))
    text = console.export_text()
    assert "costarica_…_1986-02-06" in text and "polygons" in text and "52" in text
    assert "see below" in text and max(map(len, text.splitlines())) <= 80
    lines = output_lines(results)
    assert lines[0] == f"outputs: {tmp_path}/<name>/"
    assert f"costarica_…_1986-02-06 = {long}" in lines


def test_a_scene_with_every_tile_done_says_what_still_runs() -> None:
    from rich.console import Console

    from geoseg.reporting import scene_progress

    console = Console(width=80, record=True, file=open(os.devnull, "w"), force_terminal=True)  # noqa: SIM115
    with scene_progress(console, True, "assembling COGs, polygons…") as update:
        update("aberystwyth_s2_2021-05-27", 4, 4)
        live = console._live_stack[-1]
        progress_text = Console(width=80, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
        progress_text.print(live.get_renderable())
        assert "assembling COGs, polygons…" in progress_text.export_text()
