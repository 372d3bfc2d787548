"""One run per output folder: the lock names its holder; a dead holder's lock is taken over."""

import json
import subprocess
import sys
import threading
from dataclasses import asdict
from pathlib import Path

import pytest
import rasterio
from distributed import Client

from geoseg import ProcessConfig, process
from geoseg.errors import OutputError
from geoseg.locks import LOCK, acquire, release

from .conftest import BGRN, forest_scene, write_raster


def test_a_held_folder_is_refused_naming_its_holder(tmp_path: Path) -> None:
    holder = acquire(tmp_path)
    try:
        with pytest.raises(OutputError, match=f"in use by another geoseg run \\(pid {holder.pid}"):
            acquire(tmp_path)
    finally:
        release(tmp_path, holder)
    assert not (tmp_path / LOCK).exists()
    release(tmp_path, acquire(tmp_path))  # free again


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    taken = acquire(tmp_path)
    release(tmp_path, taken)
    lock = asdict(taken) | {"pid": int(gone.stdout), "token": "old"}
    (tmp_path / LOCK).write_text(json.dumps(lock))
    holder = acquire(tmp_path)
    assert json.loads((tmp_path / LOCK).read_text())["token"] == holder.token
    release(tmp_path, holder)


def test_a_lock_held_from_another_host_is_respected(tmp_path: Path) -> None:
    lock = {
        "host": "elsewhere.example",
        "pid": 1,
        "since": "2026-01-01T00:00:00+00:00",
        "token": "x",
    }
    (tmp_path / LOCK).write_text(json.dumps(lock))
    with pytest.raises(OutputError, match=r"pid 1 on elsewhere\.example"):
        acquire(tmp_path)


def test_a_second_run_into_the_same_folder_reports_the_scene_in_use(
    client: Client, tmp_path: Path
) -> None:
    """Two runs of one scene into one folder with different parameters: the second leaves the
    scene alone, and the first finishes with its own outputs and manifest."""
    scene = write_raster(tmp_path / "forest.tif", forest_scene(300, 300), descriptions=BGRN)
    out, started, second = tmp_path / "out", threading.Event(), []

    def start_the_second_run(name: str, done: int, total: int) -> None:
        if not started.is_set():
            started.set()
            second.extend(
                process(scene, out, ProcessConfig(probability_dtype="uint8"), client=client)
            )

    config = ProcessConfig(tile_size=64, overlap=16, block_size=128, max_blocks_in_flight=1)
    [first] = process(scene, out, config, client=client, progress=start_the_second_run)
    [other] = second
    assert other.status == "failed" and "in use by another geoseg run" in other.message
    assert first.status == "done", first.message
    with rasterio.open(first.outputs["probability"]) as src:
        assert src.dtypes[0] == "float32"
    assert not (out / "forest" / LOCK).exists()
    [again] = process(scene, out, config, client=client)
    assert again.message == "up to date"
    changed = bytearray(first.outputs["probability"].read_bytes())  # same size, other bytes
    changed[-100] ^= 0xFF
    first.outputs["probability"].write_bytes(changed)
    [redone] = process(scene, out, config, client=client)
    assert redone.status == "done"
