"""The bad-input corpus (issue 16, hardening): each kind of bad input a user can hand geoseg,
met as a user meets it (the real CLI), gives exactly one line naming the offending file or
option, with the exit code the CLI documents (2: refused before anything runs; 1: a scene or
pair failed, the others ran), and never a traceback. One table; one line printed per kind
(``KIND: <the message>``, shown with ``pytest -s``, and again as a table when the module ends).

Bad scenes do not each start a run: they are written together into one folder beside one good
scene and go through ONE ``geoseg process`` on the session's cluster (``--scheduler``), which
prints ``failed: NAME: MESSAGE`` for each; the good scene still comes out done. Every other
kind is one command of its own, on the same cluster where it gets that far. Bad label files,
class rasters and scenes given to ``train``, ``evaluate`` and ``info`` are their own corpus in
tests/test_bad_inputs_training.py and are not repeated here.
"""

import json
import os
import shutil
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import rasterio
from affine import Affine
from click.testing import Result
from distributed import Client
from rasterio.control import GroundControlPoint
from rasterio.errors import NotGeoreferencedWarning
from typer.testing import CliRunner

from geoseg.cli import app
from geoseg.manifest import MANIFEST

from .conftest import BGRN, SAMPLES, forest_scene, write_huge_sparse, write_raster
from .test_pipeline import _bad_scenes

runner = CliRunner()
ENV = {"COLUMNS": "400"}  # rich never wraps a line


@dataclass(frozen=True)
class At:
    """Where a kind is built: a folder of its own (for a bad scene, the folder of the shared
    run), the session cluster's address, a finished scene's output folder, and the test's
    fixtures (a kind that needs a server asks for it, and is skipped where there is none)."""

    folder: Path
    scheduler: str
    processed: Path
    request: pytest.FixtureRequest


@dataclass(frozen=True)
class Kind:
    """One kind of bad input. ``build`` writes it under ``At.folder`` and returns the command
    that meets it; a bad scene (``scene``: its name as ``failed:`` lines print it) returns None
    and is met by the shared run. The one line must hold ``names`` (the file or option it is
    about) and ``expect`` (why), and the command exit with ``exit_code``."""

    name: str
    build: Callable[[At], list[str] | None]
    names: str
    expect: str
    exit_code: int
    scene: str = ""


def process(scenes: Path | str, at: At, *options: str) -> list[str]:
    out = ["-o", str(at.folder / "out"), "--scheduler", at.scheduler, "--no-progress"]
    return ["process", str(scenes), *out, *options]


# --- bad scenes, met together by one `geoseg process` ---------------------------------------
# test_pipeline._bad_scenes writes good.tif and: corrupt.tif (a TIFF header, then random bytes),
# truncated.tif (a tiled GeoTIFF cut in half), nocrs.tif, no_nir.tif (blue, green, red only),
# all_nodata.tif, and split/B04.tif + split/B08.tif on grids that do not overlap.


def by_bad_scenes(at: At) -> None:
    """Written by ``test_pipeline._bad_scenes`` (called once for the shared folder)."""


def zero_bytes(at: At) -> None:
    (at.folder / "empty.tif").write_bytes(b"")


def text_named_tif(at: At) -> None:
    (at.folder / "text.tif").write_text("scene,date\nforest,2020-01-01\n")


def folder_named_tif(at: At) -> None:
    (at.folder / "x.tif").mkdir()


def gcps_only(at: At) -> None:
    gcps = [
        GroundControlPoint(row, col, 500_000 + 10 * col, 9_000_000 - 10 * row)
        for row, col in ((0, 0), (0, 39), (39, 0), (39, 39))
    ]
    profile = {"driver": "GTiff", "count": 4, "height": 40, "width": 40, "dtype": "uint16"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # until the GCPs are set
        with rasterio.open(at.folder / "gcps.tif", "w", **profile) as dst:
            dst.write(forest_scene(40, 40))
            dst.descriptions = BGRN
            dst.gcps = (gcps, rasterio.CRS.from_epsg(32720))


def rotated(at: At) -> None:
    turned = Affine(10.0, 2.0, 500_000.0, 2.0, -10.0, 9_000_000.0)
    write_raster(at.folder / "rotated.tif", forest_scene(40, 40), transform=turned)


def complex_scene(dtype: str) -> Callable[[At], None]:
    def build(at: At) -> None:
        data = forest_scene(40, 40).astype("complex128" if dtype == "complex128" else "complex64")
        write_raster(at.folder / f"{dtype}.tif", data, descriptions=BGRN, dtype=dtype)

    return build


def unnamed_bands(at: At) -> None:
    write_raster(at.folder / "abcd.tif", forest_scene(40, 40), descriptions=("a", "b", "c", "d"))


def broken_link(at: At) -> None:
    (at.folder / "broken.tif").symlink_to("nowhere.tif")


def link_loop(at: At) -> None:
    (at.folder / "loop_a.tif").symlink_to("loop_b.tif")
    (at.folder / "loop_b.tif").symlink_to("loop_a.tif")


def name_not_utf8(at: At) -> None:
    shutil.copy(SAMPLES / "pucallpa_2000.tif", os.fsencode(at.folder) + b"/sc\xffene_2020.tif")


def huge_sparse(at: At) -> None:
    write_huge_sparse(at.folder / "huge.tif")


# --- commands of their own --------------------------------------------------------------------


def good_scene(at: At) -> Path:
    return write_raster(at.folder / "forest.tif", forest_scene(), descriptions=BGRN)


def missing_url(at: At) -> list[str]:
    url, _, _ = at.request.getfixturevalue("nginx")  # skips where nginx is not installed
    return process(f"{url}/gone_2020-01-01.tif", at)


def out_is_a_file(at: At) -> list[str]:
    (at.folder / "out").write_text("a file where the output folder should be\n")
    return process(good_scene(at), at)


def empty_folder(at: At) -> list[str]:
    (at.folder / "none").mkdir()
    return process(at.folder / "none", at)


def with_options(*options: str) -> Callable[[At], list[str]]:
    return lambda at: process(good_scene(at), at, *options)


def workflow(command: str, content: bytes) -> Callable[[At], list[str]]:
    def build(at: At) -> list[str]:
        (at.folder / "project" / "scenes").mkdir(parents=True)
        (at.folder / "project" / "w.yaml").write_bytes(content)
        more = ["--scheduler", at.scheduler, "--no-progress"] if command == "run" else []
        return [command, str(at.folder / "project" / "w.yaml"), *more]

    return build


def edited_manifest(change: Callable[[dict], None]) -> Callable[[At], list[str]]:
    """A copy of a finished scene's outputs, its manifest changed; vectorize its classes."""

    def build(at: At) -> list[str]:
        folder = Path(shutil.copytree(at.processed, at.folder / "forest"))
        manifest = json.loads((folder / MANIFEST).read_text())
        change(manifest)
        (folder / MANIFEST).write_text(json.dumps(manifest))
        out = ["-o", str(at.folder / "p.gpkg"), "--scheduler", at.scheduler]
        return ["vectorize", str(folder / "classes.tif"), "--class", "forest", *out]

    return build


def swap_classes(manifest: dict) -> None:
    manifest["class_rasters"]["classes"]["classes"] = ["forest", "non_forest"]


def outputs_to_passwd(manifest: dict) -> None:
    manifest["outputs"]["classes"] = "../../etc/passwd"


def nothing_to_compare(at: At) -> list[str]:
    """Four scenes, each left out for its own reason: no two dated scenes of one place."""
    folder = at.folder / "dates"
    write_raster(folder / "undated.tif", forest_scene(), descriptions=BGRN)
    write_raster(folder / "lone_2020-01-01.tif", forest_scene(), descriptions=BGRN)
    write_raster(folder / "plain_2021-01-01.tif", forest_scene(), descriptions=("a", "b", "c", "d"))
    (folder / "broken_2022-01-01.tif").write_bytes(b"garbage")
    out = ["-o", str(at.folder / "out"), "--scheduler", at.scheduler]
    return ["change", str(folder), "--pairs", "consecutive", *out]


NESTED = b"name: " + b"[" * 500 + b"]" * 500 + b"\n"
BINARY = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
OUTSIDE = b"name: t\nscenes: [scenes/]\noutputs: {dir: ../theirs}\n"
UNREADABLE = "; the file is corrupt, truncated or not a raster"

KINDS = [
    # bad scenes: one `geoseg process` of them all beside a good one (exit 1: some failed)
    Kind("corrupt bytes", by_bad_scenes, "scenes/corrupt.tif", UNREADABLE, 1, "corrupt"),
    Kind("truncated tiled GeoTIFF", by_bad_scenes, "scenes/truncated.tif", UNREADABLE, 1,
         "truncated"),
    Kind("zero-byte .tif", zero_bytes, "scenes/empty.tif", "not recognized as being in a "
         "supported file format", 1, "empty"),
    Kind("text file named .tif", text_named_tif, "scenes/text.tif", UNREADABLE, 1, "text"),
    Kind("folder named x.tif", folder_named_tif, "x.tif", "a folder", 1, "x"),
    Kind("no CRS", by_bad_scenes, "scenes/nocrs.tif", ": no CRS; assign one", 1, "nocrs"),
    Kind("GCPs only", gcps_only, "scenes/gcps.tif", "ground control points only; warp it", 1,
         "gcps"),
    Kind("rotated grid", rotated, "scenes/rotated.tif", "not a north-up georeferenced grid", 1,
         "rotated"),
    Kind("complex64", complex_scene("complex64"), "scenes/complex64.tif",
         "complex values (complex64) are not reflectance", 1, "complex64"),
    Kind("complex128", complex_scene("complex128"), "scenes/complex128.tif",
         "complex values (complex128) are not reflectance", 1, "complex128"),
    Kind("complex_int16", complex_scene("complex_int16"), "scenes/complex_int16.tif",
         "complex values (complex_int16) are not reflectance", 1, "complex_int16"),
    Kind("no NIR band", by_bad_scenes, "--bands", "needs bands ['nir'] the scene lacks", 1,
         "no_nir"),
    Kind("bands that cannot be named", unnamed_bands, "scenes/abcd.tif",
         "no band could be named (labels ['a', 'b', 'c', 'd']); name them with --bands", 1,
         "abcd"),
    Kind("all nodata", by_bad_scenes, "all_nodata", "no valid pixels (the scene is all nodata)",
         1, "all_nodata"),
    Kind("band files on grids apart", by_bad_scenes, "band file B08.tif",
         "lies on a grid that does not overlap the other bands", 1, "split"),
    Kind("broken symlink", broken_link, "scenes/broken.tif",
         "a broken or looping symbolic link (to nowhere.tif)", 1, "broken"),
    Kind("symlink loop", link_loop, "scenes/loop_a.tif",
         "a broken or looping symbolic link (to loop_b.tif)", 1, "loop_a"),
    Kind("file name not UTF-8", name_not_utf8, "scenes/sc\\xffene_2020.tif",
         "the file name is not valid UTF-8", 1, "sc\\xffene_2020"),
    Kind("1,000,000² sparse TIFF", huge_sparse, "huge",
         "1,000,000 × 1,000,000 pixels is more than --max-pixels", 1, "huge"),
    # scenes of their own
    Kind("missing http URL", missing_url, "/gone_2020-01-01.tif",
         "not found on the server (HTTP response code: 404)", 1),
    Kind("--bands with the wrong count", with_options("--bands", "red,nir"), "forest.tif",
         "--bands names 2 bands but the scene has 4", 1),
    # options and paths: refused before anything runs (exit 2)
    Kind("-o is a file", out_is_a_file, "/out", "is a file; the output must be a folder", 2),
    Kind("missing scene folder", lambda at: process(at.folder / "nowhere", at), "/nowhere",
         "no such scene file or directory", 2),
    Kind("scene folder with no scenes", empty_folder, "/none", "no scenes found", 2),
    Kind("--tile 16384", with_options("--tile", "16384"), "--tile",
         "less than or equal to 4096 (got 16384)", 2),
    Kind("--overlap over half --tile", with_options("--tile", "64", "--overlap", "40"),
         "--overlap (40)", "must be at most half of --tile (64)", 2),
    Kind("--overlap over half the model's tile", with_options("--overlap", "400"),
         "--overlap (400)", "half of the tile size (512, spectral-forest's)", 2),
    Kind("--model builtin:nope", with_options("--model", "builtin:nope"), "builtin:nope",
         "no such built-in model", 2),
    Kind("--probability-dtype int7", with_options("--probability-dtype", "int7"),
         "--probability-dtype", "should be 'float32' or 'uint8' (got 'int7')", 2),
    Kind("--block-size 100", with_options("--block-size", "100"), "--block-size",
         "a multiple of 16 (got 100)", 2),
    # workflow files
    Kind("workflow nested 500 deep", workflow("validate", NESTED), "w.yaml:1",
         "nested deeper than 32 levels", 2),
    Kind("workflow of binary bytes", workflow("validate", BINARY), "w.yaml:1",
         "not UTF-8 text (byte 0x89)", 2),
    Kind("workflow outputs outside its root", workflow("run", OUTSIDE), "w.yaml:3: outputs.dir",
         "is outside the workflow's project root", 2),
    # output folders
    Kind("edited manifest", edited_manifest(swap_classes), "forest/manifest.json",
         "edited or damaged", 2),
    Kind("manifest naming ../../etc/passwd", edited_manifest(outputs_to_passwd),
         "forest/manifest.json", "not a manifest this geoseg reads", 2),
    # change
    Kind("no two dated scenes of one place", nothing_to_compare, "/dates",
         "no two dated scenes of one place to compare (broken_2022-01-01: left out of the "
         "comparison (", 2),
]  # fmt: skip

SHOWN: dict[str, str] = {}  # kind → its line, for the table at the end


def failed_lines(result: Result) -> list[str]:
    """The ``failed:`` lines of a run: its last lines, each one whole (no line of a message
    follows one)."""
    lines = result.output.splitlines()
    first = next((i for i, line in enumerate(lines) if line.startswith("failed: ")), len(lines))
    assert all(line.startswith("failed: ") for line in lines[first:]), result.output
    return lines[first:]


def one_line(result: Result, kind: Kind) -> str:
    """The one line ``kind`` gives (recorded for the table before anything is asserted)."""
    if kind.exit_code == 1:
        prefix = f"failed: {kind.scene}: " if kind.scene else "failed: "
        lines = [line for line in failed_lines(result) if line.startswith(prefix)]
    else:
        lines = result.output.strip().splitlines()
    SHOWN[kind.name] = " ⏎ ".join(lines) or "(no line)"
    print(f"{kind.name}: {SHOWN[kind.name]}")
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == kind.exit_code, (result.exit_code, result.output)
    assert len(lines) == 1, lines
    return lines[0]


@pytest.fixture(scope="module", autouse=True)
def table() -> Iterator[None]:
    """Every kind's line, printed as one table when the module ends."""
    yield
    width = max(map(len, SHOWN), default=0)
    print(f"\n{len(SHOWN)} kinds of bad input, one line each:")
    for name, line in SHOWN.items():
        print(f"  {name:<{width}}  {line}")


@pytest.fixture(scope="module")
def shared_run(
    client: Client, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> tuple[Result, Path]:
    """Every bad scene and one good scene in one folder, through one ``geoseg process``."""
    root = tmp_path_factory.mktemp("corpus")
    _bad_scenes(root / "scenes")
    at = At(root / "scenes", client.scheduler.address, root / "out" / "good", request)
    for kind in KINDS:
        if kind.scene:
            assert kind.build(at) is None, kind.name
    command = process(at.folder, At(root, at.scheduler, at.processed, request))
    return runner.invoke(app, command, env=ENV), root / "out"


def test_the_good_scene_beside_the_bad_ones_is_done(shared_run: tuple[Result, Path]) -> None:
    result, out = shared_run
    assert not [line for line in failed_lines(result) if line.startswith("failed: good:")]
    assert (out / "good" / "classes.tif").is_file() and (out / "good" / MANIFEST).is_file()
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "kind",
    [pytest.param(kind, id=kind.name) for kind in KINDS],
)
def test_a_bad_input_gives_one_line_naming_it(
    kind: Kind,
    shared_run: tuple[Result, Path],
    client: Client,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    result, out = shared_run
    if not kind.scene:
        at = At(tmp_path, client.scheduler.address, out / "good", request)
        command = kind.build(at)
        assert command is not None, kind.name
        result = runner.invoke(app, command, env=ENV)
    line = one_line(result, kind)
    assert kind.names in line and kind.expect in line, line
    assert line.startswith("failed: " if kind.exit_code == 1 else ("error: ", str(tmp_path)))


def test_the_corpus_is_large_and_each_kind_is_named_once() -> None:
    names = [kind.name for kind in KINDS]
    assert len(names) >= 30 and len(set(names)) == len(names)
    assert len({kind.scene for kind in KINDS if kind.scene}) == sum(1 for k in KINDS if k.scene)
