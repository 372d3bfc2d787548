"""Workflows on a real Dask cluster: a `dask scheduler` and two `dask worker` processes on
127.0.0.1, one advertising GPU=1. Outputs equal the embedded cluster's; inference runs on the GPU
worker; a worker killed with SIGKILL mid-run, or a client killed mid-run, changes nothing."""

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyogrio
import pystac
import pytest
import rasterio
import shapely
from distributed import Client, get_task_stream

from geoseg import ClusterOptions, ProcessConfig, process, testing
from geoseg.cluster.connect import cluster_shape
from geoseg.geopackage import LAYER
from geoseg.pipeline import run_workflow
from geoseg.plan import WORK_DIR

from .conftest import BGRN, SAMPLES, SECRET, band_item, forest_scene, split_bands, write_raster

DASK = [sys.executable, "-m", "dask"]
GEOSEG = [sys.executable, "-m", "geoseg"]


@pytest.mark.parametrize(
    ("cores", "n_workers", "threads", "shape"),
    [
        (1, None, None, (1, 1)),
        (2, None, None, (1, 2)),
        (8, None, None, (1, 8)),
        (9, None, None, (2, 5)),
        (16, None, None, (2, 8)),
        (64, None, None, (8, 8)),
        (2, 2, None, (2, 1)),
        (8, 3, None, (3, 3)),
        (2, 4, None, (4, 1)),
        (8, None, 2, (4, 2)),
    ],
)
def test_cluster_shape_gives_every_core_a_thread(
    cores: int, n_workers: int | None, threads: int | None, shape: tuple
) -> None:
    assert cluster_shape(cores, n_workers, threads) == shape


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A scheduler and two worker processes (each under its nanny); GPU=1 on one of them."""
    tmp = tmp_path_factory.mktemp("cluster")
    scheduler_file = tmp / "scheduler.json"
    procs = [start_scheduler(scheduler_file)]
    try:
        with Client(scheduler_file=str(_wait_for(scheduler_file)), timeout="30s") as client:
            for name, extra in (("gpu", ["--resources", "GPU=1"]), ("cpu", [])):
                procs.append(
                    subprocess.Popen(
                        [
                            *DASK,
                            "worker",
                            client.scheduler.address,
                            "--name",
                            name,
                            "--nthreads",
                            "1",
                            "--no-dashboard",
                            "--local-directory",
                            str(tmp / name),
                            *extra,
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
            client.wait_for_workers(2, timeout=60)
            yield {"address": client.scheduler.address, "client": client}
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


def start_scheduler(scheduler_file: Path, *extra: str) -> subprocess.Popen:
    """A ``dask scheduler`` on 127.0.0.1 and a free port, writing its address to
    ``scheduler_file``."""
    command = [*DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
    return subprocess.Popen(
        [*command, "--scheduler-file", str(scheduler_file), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_for(path: Path, timeout: float = 30) -> Path:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear")
        time.sleep(0.1)
    return path


def worker_address(client: Client, name: str) -> str:
    workers = client.scheduler_info(n_workers=-1)["workers"]
    return next(addr for addr, w in workers.items() if w["name"] == name)


def write_workflow(root: Path, scenes: str, out: str, steps: str = "[process]") -> Path:
    path = root / "workflow.yaml"
    path.write_text(
        f"name: test\nscenes: [{scenes}]\n"
        "process: {tile_size: 128, overlap: 16, block_size: 256, batch_size: 4, "
        "polygons: {min_area_ha: 0}}\n"
        f"outputs: {{dir: {out}}}\nsteps: {steps}\n"
    )
    return path


@pytest.fixture(scope="module")
def big_scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Large enough (1,600² px, ~200 tiles) that a run is still going when a process is killed."""
    root = tmp_path_factory.mktemp("big")
    write_raster(
        root / "scenes" / "big_2020-01-01.tif",
        forest_scene(1600, 1600, seed=5),
        descriptions=BGRN,
        tiled=True,
        blockxsize=256,
        blockysize=256,
    )
    return root


def rasters(out: Path, scene: str) -> dict[str, np.ndarray]:
    found = {}
    for layer in ("probability", "classes"):
        with rasterio.open(out / "scenes" / scene / f"{layer}.tif") as src:
            found[layer] = src.read()
    return found


def polygons(out: Path, scene: str) -> list[shapely.Geometry]:
    table = pyogrio.read_dataframe(out / "scenes" / scene / "polygons.gpkg", layer=LAYER)
    return sorted(table.geometry, key=lambda g: (g.bounds, g.area))


def assert_same_outputs(a: Path, b: Path, scene: str) -> None:
    for layer, data in rasters(a, scene).items():
        np.testing.assert_array_equal(data, rasters(b, scene)[layer], err_msg=layer)
    left, right = polygons(a, scene), polygons(b, scene)
    assert len(left) == len(right)
    assert all(x.equals(y) for x, y in zip(left, right, strict=True))


@pytest.fixture(scope="module")
def reference(big_scene: Path) -> Path:
    """The big scene processed on an embedded local cluster: what every other run must equal."""
    result = run_workflow(
        write_workflow(big_scene, "scenes/", "out-embedded"), cluster=ClusterOptions(workers=2)
    )
    assert not result.failed
    return big_scene / "out-embedded"


def test_workflow_on_a_real_cluster_equals_the_embedded_run_and_uses_the_gpu_worker(
    cluster: dict, big_scene: Path, reference: Path
) -> None:
    client = cluster["client"]
    path = write_workflow(big_scene, "scenes/", "out-cluster")
    with get_task_stream(client=client) as stream:
        result = run_workflow(path, client=client)
    assert not result.failed
    assert_same_outputs(reference, big_scene / "out-cluster", "big_2020-01-01")
    predicted = {t["worker"] for t in stream.data if t["key"].startswith("predict")}
    assert predicted == {worker_address(client, "gpu")}
    assert any(t["key"].startswith("stitch") for t in stream.data)


@pytest.mark.parametrize("where", ["disk", "http"])
def test_a_worker_killed_mid_run_changes_nothing(
    cluster: dict, big_scene: Path, reference: Path, where: str, request: pytest.FixtureRequest
) -> None:
    client = cluster["client"]
    scenes = "scenes/"
    if where == "http":
        base, www, _ = request.getfixturevalue("nginx")
        shutil.copy(big_scene / "scenes" / "big_2020-01-01.tif", www / "big_2020-01-01.tif")
        scenes = f"{base}/big_2020-01-01.tif"
    pid = client.run(os.getpid)[worker_address(client, "cpu")]
    killed = threading.Event()

    def kill_when_a_third_is_done(scene: str, done: int, total: int) -> None:
        if not killed.is_set() and done >= total // 3:
            os.kill(pid, signal.SIGKILL)
            killed.set()

    path = write_workflow(big_scene, scenes, f"out-killed-{where}")
    result = run_workflow(path, client=client, progress=kill_when_a_third_is_done)
    assert killed.is_set()
    assert not result.failed, [(r.name, r.message) for r in result.scenes]
    assert_same_outputs(reference, big_scene / f"out-killed-{where}", "big_2020-01-01")
    client.wait_for_workers(2, timeout=60)  # the nanny restarted it


def test_a_server_gone_mid_run_fails_its_scene_and_a_rerun_resumes(
    cluster: dict, big_scene: Path, reference: Path, tmp_path: Path
) -> None:
    """nginx stopped mid-run: the scene fails with one line once GDAL's retries are spent;
    nginx back and the run again: finished blocks are reused and the outputs equal the
    embedded run's."""
    client = cluster["client"]
    with testing.nginx(tmp_path / "nginx") as server:
        shutil.copy(big_scene / "scenes" / "big_2020-01-01.tif", server.www)
        url = f"{server.url}/big_2020-01-01.tif"
        path = write_workflow(big_scene, url, "out-server-gone")
        stopped = threading.Event()

        def stop_when_a_third_is_done(scene: str, done: int, total: int) -> None:
            if not stopped.is_set() and done >= total // 3:
                server.stop()
                stopped.set()

        started = time.monotonic()
        result = run_workflow(path, client=client, progress=stop_when_a_third_is_done)
        assert stopped.is_set()
        [scene] = result.scenes
        assert scene.status == "failed" and url in scene.message and "\n" not in scene.message
        assert time.monotonic() - started < 120
        server.start()
        again = run_workflow(path, client=client)
    [scene] = again.scenes
    assert scene.status == "done", scene.message
    assert 0 < scene.blocks_reused < scene.blocks
    assert_same_outputs(reference, big_scene / "out-server-gone", "big_2020-01-01")


def test_a_run_whose_client_died_is_resumed_from_its_finished_blocks(
    cluster: dict, big_scene: Path, reference: Path
) -> None:
    path = write_workflow(big_scene, "scenes/", "out-resumed")
    command = [*GEOSEG, "run", str(path), "--scheduler", cluster["address"], "--no-progress"]
    work = big_scene / "out-resumed" / "scenes" / "big_2020-01-01" / WORK_DIR / "classes"
    run = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while len(list(work.glob("r*_c*.tif"))) < 10:  # of 7 × 7 = 49 blocks
        assert run.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert not (work.parent.parent / "classes.tif").exists()
    again = subprocess.run(
        command,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    note = next(line for line in again.stderr.splitlines() if ": reused " in line)
    reused = int(note.split("reused ")[1].split(" of ")[0])
    assert 10 <= reused < 49 and "of 49 blocks" in note, note
    assert_same_outputs(reference, big_scene / "out-resumed", "big_2020-01-01")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_tls_cluster_with_certificates_from_dask_config(tmp_path: Path) -> None:
    """A tls:// scheduler and worker; geoseg connects with certificates set in Dask's config."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    tls = ["--tls-ca-file", str(cert), "--tls-cert", str(cert), "--tls-key", str(key)]
    scheduler_file = tmp_path / "scheduler.json"
    procs = [start_scheduler(scheduler_file, "--protocol", "tls", *tls)]
    try:
        address = json.loads(_wait_for(scheduler_file).read_text())["address"]
        assert address.startswith("tls://")
        procs.append(
            subprocess.Popen(
                [*DASK, "worker", address, "--nthreads", "1", "--no-dashboard", *tls],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        scene = write_raster(tmp_path / "s.tif", forest_scene(), descriptions=BGRN)
        command = [
            sys.executable,
            "-m",
            "geoseg",
            "process",
            str(scene),
            "-o",
            str(tmp_path / "out"),
            "--scheduler",
            address,
            "--no-progress",
        ]
        env = os.environ | {
            "DASK_DISTRIBUTED__COMM__TLS__CA_FILE": str(cert),
            "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT": str(cert),
            "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY": str(key),
        }
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stderr
        assert (tmp_path / "out" / "s" / "classes.tif").exists()
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)


@pytest.mark.parametrize("address", [None, "127.0.0.1:0"])
def test_embedded_dashboard_listens_where_the_options_say(address: str | None) -> None:
    """Default and explicit ``dashboard_address``: the dashboard's socket is bound to 127.0.0.1,
    the address its printed link names."""
    import psutil

    from geoseg.cluster import connect

    options = ClusterOptions(workers=1, **({"dashboard_address": address} if address else {}))
    with connect(options) as client:
        link = client.dashboard_link
        port = int(link.split(":")[2].split("/")[0])
        listening = {
            c.laddr.ip
            for c in psutil.Process().net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == port
        }
    assert link.startswith("http://127.0.0.1:")
    assert listening == {"127.0.0.1"}


def _can_unshare() -> bool:
    try:
        unshare = subprocess.run(["unshare", "--mount", "true"], check=False, capture_output=True)
        return unshare.returncode == 0
    except FileNotFoundError:
        return False


def start_hidden(command: list[str], workdir: Path, hidden: Path) -> subprocess.Popen:
    """``command`` as on another host: in its own mount namespace where ``hidden`` (the client's
    private folder) is an empty tmpfs, started in ``workdir``."""
    script = f'mount -t tmpfs none "{hidden}" && cd "{workdir}" && exec "$@"'
    return subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def separated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A scheduler and two workers that see what another host would: their own working
    directory, the client's private folder hidden, and the shared folder at the same path. They
    are started without any S3 or HTTP settings: those come from the client."""
    if not _can_unshare():
        pytest.skip("unshare --mount is not allowed here (it needs root)")
    root = tmp_path_factory.mktemp("separated")
    shared, private, home = root / "shared", root / "client", root / "worker-home"
    for folder in (shared, private, home):
        folder.mkdir()
    scheduler_file = shared / "scheduler.json"
    dask = [*DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
    procs = [start_hidden([*dask, "--scheduler-file", str(scheduler_file)], home, private)]
    try:
        address = json.loads(_wait_for(scheduler_file).read_text())["address"]
        worker = [*DASK, "worker", address, "--nthreads", "1", "--no-dashboard"]
        procs += [start_hidden(worker, home, private) for _ in range(2)]
        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        yield {"address": address, "shared": shared, "private": private}
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)


def geoseg_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*GEOSEG, *args],
        cwd=cwd,
        env=os.environ | (env or {}),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_relative_paths_work_on_workers_in_another_directory(separated: dict) -> None:
    """Paths are made absolute before any task leaves the client: a worker started elsewhere
    reads the scenes and writes the outputs of ``geoseg process scenes -o out`` run from the
    shared folder (before, every scene failed as "corrupt")."""
    shared = separated["shared"]
    write_raster(shared / "scenes" / "forest_2020-01-01.tif", forest_scene(), descriptions=BGRN)
    done = geoseg_cli(
        "process",
        "scenes",
        "-o",
        "out",
        "--scheduler",
        separated["address"],
        "--no-progress",
        cwd=shared,
    )
    assert done.returncode == 0, done.stderr
    assert (shared / "out" / "forest_2020-01-01" / "classes.tif").exists()
    done = geoseg_cli(
        "vectorize",
        "out/forest_2020-01-01/classes.tif",
        "-o",
        "nf.gpkg",
        "--class",
        "non_forest",
        "--scheduler",
        separated["address"],
        cwd=shared,
    )
    assert done.returncode == 0, done.stderr
    assert (shared / "nf.gpkg").exists()
    (shared / "workflows").mkdir()
    workflow = write_workflow(shared / "workflows", "../scenes/", "../out-wf")
    done = geoseg_cli(
        "run",
        os.path.relpath(workflow, separated["private"]),
        "--scheduler",
        separated["address"],
        "--no-progress",
        cwd=separated["private"],
    )
    assert done.returncode == 0, done.stderr
    assert (shared / "out-wf" / "scenes" / "forest_2020-01-01" / "classes.tif").exists()


def test_preflight_names_each_worker_and_path_it_cannot_use(separated: dict) -> None:
    """Inputs or an output folder the workers cannot see: one line per problem naming the
    worker and the path, before anything is computed, and exit 2."""
    private, shared = separated["private"], separated["shared"]
    write_raster(private / "scenes" / "hidden.tif", forest_scene(), descriptions=BGRN)
    write_raster(shared / "seen" / "seen.tif", forest_scene(), descriptions=BGRN)
    cases = [
        (["scenes", "-o", str(shared / "out-hidden")], private, "cannot read", "hidden.tif"),
        ([str(shared / "seen"), "-o", "out-private"], private, "does not see", "out-private"),
    ]
    for args, cwd, says, path in cases:
        started = time.monotonic()
        done = geoseg_cli(
            "process", *args, "--scheduler", separated["address"], "--no-progress", cwd=cwd
        )
        assert time.monotonic() - started < 30
        assert done.returncode == 2, done.stderr
        problems = [line for line in done.stderr.splitlines() if line.startswith("tcp://")]
        assert len(problems) == 2, done.stderr  # one per worker
        assert all(says in problem and path in problem for problem in problems), done.stderr
        assert "shared filesystem" in done.stderr
    assert not (shared / "out-hidden" / "hidden").exists()
    assert not any((private / "out-private").iterdir())  # nothing but the client's folder


def test_stac_items_over_http_and_s3_objects_on_separated_workers_equal_the_embedded_run(
    separated: dict, nginx: tuple[str, Path, Path], s3: dict[str, str], client: Client
) -> None:
    """The workers see neither the client's disk nor its settings: they read per-band files
    listed by STAC items from nginx, and objects from the S3 server with the credentials the
    client passes on; the outputs equal the embedded run on the same files from disk."""
    shared, private = separated["shared"], separated["private"]
    base, www, _ = nginx
    files = split_bands(SAMPLES / "pucallpa_2000.tif", www / "separated")
    hrefs = {name: f"{base}/separated/{path.name}" for name, path in files.items()}
    item = band_item("pucallpa_2000", dt.datetime(2000, 7, 1, tzinfo=dt.UTC), hrefs)
    (www / "separated" / "items.json").write_text(
        json.dumps(pystac.ItemCollection([item]).to_dict())
    )
    config = ProcessConfig(block_size=256)
    [reference] = process(SAMPLES / "pucallpa_2000.tif", shared / "ref", config, client=client)
    scheduler = ["--scheduler", separated["address"], "--no-progress", "--block-size", "256"]
    runs = {
        "stac": (f"{base}/separated/items.json", {}),
        "s3": ("s3://scenes/peru/pucallpa_2000.tif", s3),
    }
    for name, (source, env) in runs.items():
        done = geoseg_cli(
            "process", source, "-o", str(shared / name), *scheduler, cwd=private, env=env
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert SECRET not in done.stdout + done.stderr
        for layer in ("probability", "classes"):
            with (
                rasterio.open(shared / name / "pucallpa_2000" / f"{layer}.tif") as a,
                rasterio.open(reference.outputs[layer]) as b,
            ):
                np.testing.assert_array_equal(a.read(), b.read(), err_msg=f"{name} {layer}")
    for path in (shared / "s3").rglob("*"):
        assert path.is_dir() or SECRET.encode() not in path.read_bytes()


def test_the_readme_workflow_runs_on_separated_workers(separated: dict) -> None:
    """``geoseg run workflows/samples.yaml --scheduler ...`` from another directory, with the
    repository's samples and workflow on the shared folder."""
    repo = separated["shared"] / "repo"
    shutil.copytree(SAMPLES, repo / "samples")
    (repo / "workflows").mkdir()
    shutil.copy(SAMPLES.parent / "workflows" / "samples.yaml", repo / "workflows")
    done = geoseg_cli(
        "run",
        str(repo / "workflows" / "samples.yaml"),
        "--scheduler",
        separated["address"],
        "--no-progress",
        cwd=separated["private"],
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = repo / "out" / "workflow-samples"
    assert {p.parent.name for p in (out / "scenes").glob("*/manifest.json")} == {
        p.stem for p in SAMPLES.glob("*.tif")
    }
    assert len(list((out / "change").glob("*/loss.gpkg"))) == 2
