"""End to end on a real LocalCluster: the bundled samples in, valid COGs on the scene grid out;
bad scenes fail alone with one line each and leave nothing at final paths."""

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from distributed import Client
from rasterio.errors import NotGeoreferencedWarning
from rio_cogeo.cogeo import cog_validate

from geoseg import ProcessConfig, SceneResult, process
from geoseg.manifest import MANIFEST, Manifest
from geoseg.plan import WORK_DIR
from geoseg.stac import ITEM_FILE

from .conftest import BGRN, SAMPLES, forest_scene, write_huge_sparse, write_raster

# Each raster has its QGIS style beside it (``.qml``, loaded by QGIS with the same name).
OUTPUTS = (
    "probability.tif",
    "probability.qml",
    "classes.tif",
    "classes.qml",
    "polygons.gpkg",
    ITEM_FILE,
    MANIFEST,
)


def by_name(results: list[SceneResult]) -> dict[str, SceneResult]:
    return {r.name: r for r in results}


def test_every_sample_scene_gives_valid_cogs(sample_run: tuple[Path, list[SceneResult]]) -> None:
    out, results = sample_run
    assert {r.name for r in results} == {p.stem for p in SAMPLES.glob("*.tif")}
    assert all(r.status == "done" for r in results), [(r.name, r.message) for r in results]
    for result in results:
        for layer in ("probability", "classes"):
            valid, errors, _ = cog_validate(str(result.outputs[layer]))
            assert valid, errors
        assert sorted(p.name for p in (out / result.name).iterdir()) == sorted(OUTPUTS)


def test_outputs_sit_on_the_scene_grid_with_its_nodata(
    sample_run: tuple[Path, list[SceneResult]],
) -> None:
    out, results = sample_run
    for result in results:
        manifest = Manifest.read(out / result.name)
        assert manifest is not None
        [scene] = manifest.scenes
        used = [scene.bands[b].index for b in scene.bands_used]
        with rasterio.open(SAMPLES / f"{result.name}.tif") as src:
            crs, transform, shape = src.crs, src.transform, src.shape
            values = src.read(used)
            # Input nodata: the nodata value in any band the model reads.
            invalid = (
                (values == src.nodata).any(axis=0)
                if src.nodata is not None
                else np.zeros(shape, bool)
            )
        for layer in ("probability", "classes"):
            with rasterio.open(result.outputs[layer]) as dst:
                assert dst.crs == crs
                assert dst.transform.almost_equals(transform)
                assert dst.shape == shape
                data = dst.read()
            nodata = np.isnan(data).any(axis=0) if layer == "probability" else data[0] == 255
            np.testing.assert_array_equal(nodata, invalid)


def test_probabilities_and_classes_agree(sample_run: tuple[Path, list[SceneResult]]) -> None:
    _, results = sample_run
    result = by_name(results)["aberystwyth_s2_2021-05-27"]
    with (
        rasterio.open(result.outputs["probability"]) as p,
        rasterio.open(result.outputs["classes"]) as c,
    ):
        probs, classes = p.read(), c.read(1)
        assert p.descriptions == ("non_forest", "forest")
    np.testing.assert_allclose(probs.sum(axis=0), 1.0, atol=1e-5)
    np.testing.assert_array_equal(classes, probs.argmax(axis=0))
    assert 0.05 < (classes == 0).mean() < 0.6  # coast, town and fields are not forest


def test_uint8_probabilities_match_float32_within_one_step(client: Client, tmp_path: Path) -> None:
    """``probability_dtype="uint8"``: p × 254 rounded, 255 = nodata, the scale in the metadata;
    read back (``read_probability``) it is the float32 output to half a step, same nodata, same
    classes and polygons."""
    import pyogrio

    from geoseg.store import PROBABILITY_STEPS, read_probability

    data = forest_scene(200, 180)
    data[:, :, :12] = 0  # a nodata collar
    scene = write_raster(tmp_path / "forest.tif", data, descriptions=BGRN, nodata=0)
    exact, compact = (
        process(
            scene,
            tmp_path / dtype,
            ProcessConfig(tile_size=64, overlap=16, block_size=64, probability_dtype=dtype),
            client=client,
        )[0]
        for dtype in ("float32", "uint8")
    )
    assert compact.status == exact.status == "done", compact.message
    assert cog_validate(str(compact.outputs["probability"]))[0]
    with rasterio.open(compact.outputs["probability"]) as src:
        assert src.dtypes == ("uint8", "uint8") and src.nodata == 255
        assert src.scales == (1 / PROBABILITY_STEPS,) * 2
        window = rasterio.windows.Window(0, 0, src.width, src.height)
        raw = src.read(1)
    assert raw[raw != 255].max() <= PROBABILITY_STEPS
    for band in (1, 2):
        a = read_probability(exact.outputs["probability"], band, window)
        b = read_probability(compact.outputs["probability"], band, window)
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
        assert np.isnan(a[:, :12]).all() and not np.isnan(a[:, 12:]).any()
        assert np.nanmax(np.abs(a - b)) <= 0.5 / PROBABILITY_STEPS + 1e-6
    with (
        rasterio.open(exact.outputs["classes"]) as e,
        rasterio.open(compact.outputs["classes"]) as c,
    ):
        np.testing.assert_array_equal(e.read(), c.read())
    polygons = [
        pyogrio.read_dataframe(r.outputs["polygons"], layer="polygons") for r in (exact, compact)
    ]
    assert len(polygons[0]) == len(polygons[1]) > 0
    np.testing.assert_allclose(
        polygons[0].mean_probability, polygons[1].mean_probability, atol=0.5 / PROBABILITY_STEPS
    )


def test_manifest_records_inputs_model_parameters_and_counts(
    sample_run: tuple[Path, list[SceneResult]],
) -> None:
    out, _ = sample_run
    folder = out / "aberystwyth_s2_2021-05-27"
    manifest = Manifest.read(folder)
    assert manifest is not None and manifest.kind == "scene"
    assert json.loads((folder / MANIFEST).read_text())["name"] == "aberystwyth_s2_2021-05-27"
    assert manifest.inputs[0].size == os.path.getsize(SAMPLES / "aberystwyth_s2_2021-05-27.tif")
    assert manifest.model is not None and manifest.model.id == "builtin:spectral-forest"
    [scene] = manifest.scenes
    assert scene.date == "2021-05-27"
    assert scene.sensor == "sentinel2"
    assert scene.bands["red"].label == "B4"
    assert manifest.parameters["tile_size"] == 512
    assert manifest.tiles is not None and manifest.tiles.total == 4
    assert manifest.tiles.predicted == 4 and manifest.tiles.skipped_nodata == 0
    assert sum(c.pixels for c in manifest.classes.values()) == 930 * 947
    assert {"geoseg", "rasterio", "gdal", "dask"} <= manifest.versions.keys()
    assert manifest.class_raster(folder / "classes.tif").classes == ("non_forest", "forest")


def test_rerun_skips_up_to_date_scenes_and_overwrite_redoes_them(
    client: Client, tmp_path: Path
) -> None:
    scene = write_raster(tmp_path / "in" / "forest.tif", forest_scene(), descriptions=BGRN)
    out = tmp_path / "out"
    [first] = process(scene.parent, out, client=client)
    assert first.status == "done"
    before = (out / "forest" / "classes.tif").read_bytes()
    [second] = process(scene.parent, out, client=client)
    assert (second.status, second.message) == ("skipped", "up to date")
    [changed] = process(scene.parent, out, ProcessConfig(tile_size=32, overlap=8), client=client)
    assert changed.status == "done"  # other parameters: not up to date
    [forced] = process(
        scene.parent, out, ProcessConfig(tile_size=32, overlap=8, overwrite=True), client=client
    )
    assert forced.status == "done"
    assert (out / "forest" / "classes.tif").read_bytes() == before  # pixelwise: same classes


def test_a_rerun_writes_exactly_its_outputs_and_the_manifest_lists_every_file(
    client: Client, tmp_path: Path
) -> None:
    """Issue 17: `--quicklook` after a run without it is not "up to date"; a rerun without it (or
    without polygons) removes the earlier run's quicklook.png (polygons.gpkg) instead of leaving
    it beside outputs it does not belong to; a user's own file in the folder stays."""
    scene = write_raster(tmp_path / "in" / "forest.tif", forest_scene(), descriptions=BGRN)
    out, folder = tmp_path / "out", tmp_path / "out" / "forest"

    def run(**options: object) -> SceneResult:
        [result] = process(scene, out, ProcessConfig(**options), client=client)
        return result

    def written() -> set[str]:
        return {p.name for p in folder.iterdir()}

    assert run().status == "done"
    (folder / "notes.txt").write_text("mine")
    with_quicklook = run(quicklook=True)
    assert with_quicklook.status == "done"
    assert "quicklook" in with_quicklook.outputs
    assert written() == {*OUTPUTS, "quicklook.png", "notes.txt"}
    assert run(quicklook=True).message == "up to date"
    assert run().status == "done"  # without the quicklook: not the same outputs
    assert written() == {*OUTPUTS, "notes.txt"}
    assert run(polygons=None).status == "done"
    assert written() == set(OUTPUTS) - {"polygons.gpkg"} | {"notes.txt"}
    manifest = Manifest.read(folder)
    assert manifest is not None
    # every file the run wrote, item.json included, is in the manifest (which lists all but itself)
    assert set(manifest.outputs.values()) == written() - {MANIFEST, "notes.txt"}
    assert set(manifest.files) == set(manifest.outputs.values())
    assert (folder / "notes.txt").read_text() == "mine"


def test_run_workflow_overwrites_on_request_and_writes_where_told(
    client: Client, tmp_path: Path
) -> None:
    """Issue 17: `run` takes --overwrite like `process` (run_workflow's ``overwrite``), and a
    caller (tests, notebooks) can send a workflow's outputs elsewhere than its outputs.dir."""
    from geoseg.pipeline import run_workflow

    write_raster(tmp_path / "in" / "forest.tif", forest_scene(), descriptions=BGRN)
    workflow = tmp_path / "wf.yaml"
    workflow.write_text("name: t\nscenes: [in/]\noutputs: {dir: out}\nsteps: [process]\n")
    assert [r.status for r in run_workflow(workflow, client=client).scenes] == ["done"]
    again = run_workflow(workflow, client=client).scenes
    assert [(r.status, r.message) for r in again] == [("skipped", "up to date")]
    redone = run_workflow(workflow, overwrite=True, client=client).scenes
    assert [r.status for r in redone] == ["done"]
    elsewhere = run_workflow(workflow, out_dir=tmp_path / "elsewhere", client=client)
    assert elsewhere.out_dir == tmp_path / "elsewhere"
    assert [r.status for r in elsewhere.scenes] == ["done"]
    assert (tmp_path / "elsewhere" / "scenes" / "forest" / MANIFEST).is_file()


class Interrupt(Exception):
    """Stands for the client dying part-way through a run."""


def test_finished_blocks_are_reused_after_an_interruption(client: Client, tmp_path: Path) -> None:
    scene = write_raster(tmp_path / "in" / "forest.tif", forest_scene(200, 150), descriptions=BGRN)
    config = ProcessConfig(tile_size=32, overlap=8, block_size=64, max_blocks_in_flight=1)
    [reference] = process(scene, tmp_path / "reference", config, client=client)

    def die_after_some_tiles(scene: str, done: int, total: int) -> None:
        if done >= total // 2:
            raise Interrupt

    out = tmp_path / "out"
    with pytest.raises(Interrupt):
        process(scene, out, config, client=client, progress=die_after_some_tiles)
    assert not (out / "forest" / "probability.tif").exists()
    assert any((out / "forest" / WORK_DIR / "classes").glob("*.tif"))
    [resumed] = process(scene, out, config, client=client)
    assert resumed.status == "done"
    assert 0 < resumed.blocks_reused < 12  # 4 × 3 blocks in all
    for layer in ("probability", "classes"):
        with (
            rasterio.open(reference.outputs[layer]) as a,
            rasterio.open(resumed.outputs[layer]) as b,
        ):
            np.testing.assert_array_equal(a.read(), b.read())
    assert not (out / "forest" / WORK_DIR).exists()  # removed once outputs are complete


def _bad_scenes(root: Path) -> dict[str, str]:
    """Write one good and several bad scenes; return scene name → expected message fragment."""
    root.mkdir()
    write_raster(root / "good.tif", forest_scene(), descriptions=BGRN)
    (root / "corrupt.tif").write_bytes(b"II*\x00" + os.urandom(2000))
    full = write_raster(
        root / "full.tif", forest_scene(256, 256), descriptions=BGRN, compress=None, tiled=True
    )
    data = full.read_bytes()
    full.unlink()
    (root / "truncated.tif").write_bytes(data[: len(data) // 2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # exactly the point here
        with rasterio.open(
            root / "nocrs.tif", "w", driver="GTiff", width=20, height=20, count=4, dtype="uint16"
        ) as dst:
            dst.write(forest_scene(20, 20))
    write_raster(root / "no_nir.tif", forest_scene()[:3], descriptions=BGRN[:3])
    write_raster(
        root / "all_nodata.tif", np.zeros((4, 40, 40), np.uint16), descriptions=BGRN, nodata=0
    )
    far_away = Affine(10.0, 0.0, 800_000.0, 0.0, -10.0, 9_000_000.0)
    write_raster(root / "split" / "B04.tif", forest_scene()[2:3])
    write_raster(root / "split" / "B08.tif", forest_scene()[3:4], transform=far_away)
    return {
        "split": "B08.tif lies on a grid that does not overlap",
        "corrupt": "corrupt.tif: cannot read",
        "truncated": "truncated.tif: cannot read",
        "nocrs": "nocrs.tif: no CRS",
        "no_nir": "needs bands ['nir']",
        "all_nodata": "no valid pixels",
    }


def test_bad_scenes_fail_alone_with_one_line_and_no_partial_outputs(
    client: Client, tmp_path: Path
) -> None:
    expected = _bad_scenes(tmp_path / "scenes")
    out = tmp_path / "out"
    results = by_name(process(tmp_path / "scenes", out, client=client))
    assert results["good"].status == "done"
    for name, fragment in expected.items():
        result = results[name]
        assert result.status == "failed", name
        assert fragment in result.message, (name, result.message)
        assert "\n" not in result.message
        for output in OUTPUTS:
            assert not (out / name / output).exists(), (name, output)


def test_unwritable_output_directory_fails_that_scene(client: Client, tmp_path: Path) -> None:
    scenes = tmp_path / "scenes"
    write_raster(scenes / "a.tif", forest_scene(), descriptions=BGRN)
    write_raster(scenes / "b.tif", forest_scene(), descriptions=BGRN)
    out = tmp_path / "out"
    out.mkdir()
    (out / "a").write_text("a file where the scene's output folder should be")
    results = by_name(process(scenes, out, client=client))
    assert results["a"].status == "failed"
    assert "output directory not writable" in results["a"].message
    assert results["b"].status == "done"


def test_a_manifest_geoseg_cannot_read_means_the_scene_is_done_again(
    client: Client, tmp_path: Path
) -> None:
    """A foreign or older manifest.json beside the outputs: process writes them again, and
    vectorize says which file it cannot read instead of guessing the classes."""
    from geoseg.errors import ConfigError
    from geoseg.pipeline import class_raster_options
    from geoseg.vectorizing import PolygonOptions

    scene = write_raster(tmp_path / "in" / "forest.tif", forest_scene(), descriptions=BGRN)
    out = tmp_path / "out"
    [first] = process(scene, out, client=client)
    (out / "forest" / MANIFEST).write_text('{"scene": "forest", "outputs": {}}')
    with pytest.raises(ConfigError, match="not a manifest this geoseg reads"):
        Manifest.read(out / "forest")
    with pytest.raises(ConfigError, match=r"manifest\.json: not a manifest"):
        class_raster_options(first.outputs["classes"], "forest", PolygonOptions())
    [again] = process(scene, out, client=client)
    assert (again.status, again.blocks_reused) == ("done", 0)
    assert Manifest.read(out / "forest") is not None


def test_unknown_run_keywords_are_refused(tmp_path: Path) -> None:
    """``n_workers=`` of older releases is not silently ignored: where to run is ``cluster=``."""
    scene = write_raster(tmp_path / "in" / "forest.tif", forest_scene(), descriptions=BGRN)
    with pytest.raises(TypeError, match="n_workers"):
        process(scene, tmp_path / "out", n_workers=2)  # type: ignore[call-arg]


def test_a_scenes_outputs_are_made_while_the_next_scene_is_inferred(
    client: Client, tmp_path: Path
) -> None:
    """The engine runs a command's scenes side by side: the first scene's polygons are made on
    the workers while the second (larger) scene's tiles are still being predicted (before the
    engine, polygons waited until every scene had streamed)."""
    from distributed import get_task_stream

    write_raster(tmp_path / "in" / "a_small.tif", forest_scene(64, 64), descriptions=BGRN)
    write_raster(tmp_path / "in" / "b_large.tif", forest_scene(768, 768), descriptions=BGRN)
    config = ProcessConfig(tile_size=64, overlap=16, block_size=64, batch_size=2)
    with get_task_stream(client=client) as stream:
        results = process(tmp_path / "in", tmp_path / "out", config, client=client)
    assert [r.status for r in results] == ["done", "done"]

    def times(stage: str, scene: str) -> list[tuple[float, float]]:
        return [
            (min(s["start"] for s in t["startstops"]), max(s["stop"] for s in t["startstops"]))
            for t in stream.data
            if t["key"].startswith(f"{stage}-{scene}-")
        ]

    polygons_started = min(start for start, _ in times("vectorize", "a_small"))
    predicted_until = max(stop for _, stop in times("predict", "b_large"))
    assert polygons_started < predicted_until
    assert times("polygons", "a_small") and times("manifest", "a_small")


def test_a_full_disk_fails_the_scene_in_one_line_and_leaves_no_output_or_temporary_file(
    tmp_path: Path,
) -> None:
    """Outputs on a 2 MiB filesystem (a tmpfs in a mount namespace of its own)."""
    if subprocess.run(["unshare", "--mount", "true"], check=False).returncode != 0:
        pytest.skip("unshare --mount is not allowed here (it needs root)")
    out = tmp_path / "small"
    out.mkdir()
    command = (
        f'mount -t tmpfs -o size=2m none "{out}" && "{sys.executable}" -m geoseg process '
        f'"{SAMPLES / "aberystwyth_s2_2021-05-27.tif"}" -o "{out}" --no-progress; '
        f'status=$?; find "{out}" -name "*.tif" -o -name "*tmp*"; exit $status'
    )
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", command],
        env=os.environ | {"COLUMNS": "400"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    [line] = [x for x in done.stderr.splitlines() if x.startswith("failed:")]
    assert line.endswith("cannot write (no space left on device)"), line
    left = [x for x in done.stdout.splitlines() if x.startswith(str(out))]
    assert left == [], left  # no output at a final path, no temporary file


def test_a_scene_claiming_a_huge_grid_is_refused_and_the_good_scene_beside_it_runs(
    client: Client, tmp_path: Path
) -> None:
    """A 1,000,000² sparse TIFF (a few MB on disk: tile offsets only) beside a good scene."""
    huge = write_huge_sparse(tmp_path / "in" / "huge_2020-01-01.tif")
    assert huge.stat().st_size < 16 * 2**20
    write_raster(tmp_path / "in" / "good.tif", forest_scene(), descriptions=BGRN)
    results = by_name(process(tmp_path / "in", tmp_path / "out", client=client))
    assert results["good"].status == "done"
    refused = results["huge_2020-01-01"]
    assert refused.status == "failed"
    assert "1,000,000 × 1,000,000 pixels is more than `max_pixels`" in refused.message
