"""Remote input: ``geoseg process`` with the built-in spectral model on a COG read over HTTP from
nginx, against the same file on local disk.

The scene is benchmarks/memory.py's generated 4-band uint16 scene, 8,192² pixels by default,
converted once with GDAL's COG driver (deflate + predictor, 512² tiles, pixel interleaved,
overviews) to ``benchmarks/data/synthetic_<size>_cog.tif``. Both sides process that one file on
one warm embedded cluster (the machine's default; cluster start-up is not timed), polygons off:

- **local**: the file's path on local disk.
- **http**: the same file served by Debian's nginx on 127.0.0.1 (``geoseg.testing.nginx``; the
  file is hard-linked into its folder, so both sides read the same pages of the page cache), read
  by GDAL's /vsicurl with range requests, with the embedded workers' settings
  (``geoseg.cluster.connect.WORKER_ENV``). Each HTTP round reads the file under a name of its own,
  so no round finds the previous one's blocks in GDAL's /vsicurl caches (they live as long as the
  worker process): every round reads the file as a first job on it would.

The sides alternate (local, http, local, http, ...) because these machines slow down under
sustained load. Printed:

- the ratio of medians ``local seconds / http seconds``: the HTTP run's throughput as a share of
  the local one's. Goal: ≥ 0.8.
- per HTTP round, from nginx's access log (combined format: the body bytes follow the status
  code): the requests, their status codes (206: a range; 200: a whole file; HEAD requests send no
  body), and the body bytes sent ÷ the file's size. Goal: ≤ 1.1 in every round (nothing read
  twice). A pass at full resolution never needs the overviews, so the bytes are also shown ÷ the
  full-resolution tiles' bytes (from the TIFF's tile byte counts), a stricter measure.

    python benchmarks/remote_io.py                  # 8,192², 3 rounds
    python benchmarks/remote_io.py --size 4096 --rounds 2
    python benchmarks/remote_io.py --gdal-config CPL_VSIL_CURL_CHUNK_SIZE=1048576

``--gdal-config KEY=VALUE`` (repeatable) sets GDAL configuration options in the environment the
embedded workers start from (``WORKER_ENV`` still wins for the keys it sets), to try settings.
Prints a table and writes ``benchmarks/results/remote_io.json``.
"""

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from distributed import Client
from memory import (
    BANDS,
    MIB,
    ensure,
    generate_scene,
    git_revision,
    provenance,
    scene_path,
    temporary_path,
)

from geoseg import ProcessConfig, process
from geoseg.cluster.connect import WORKER_ENV, local_cluster
from geoseg.testing import nginx

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE / "data"
RESULTS = HERE / "results" / "remote_io.json"
SPEED_GOAL = 0.8  # http throughput / local throughput
BYTES_GOAL = 1.1  # body bytes sent by nginx / file size
COG_OPTIONS = {
    "driver": "COG",
    "compress": "DEFLATE",
    "predictor": "YES",
    "blocksize": 512,
    "overviews": "AUTO",
    "bigtiff": "IF_SAFER",
    "num_threads": "ALL_CPUS",
}
# nginx's combined format: ... "GET /path HTTP/1.1" status body_bytes_sent "referer" "agent"
LOG_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+)[^"]*" (?P<status>\d{3}) (?P<sent>\d+|-)')


def cog_path(size: int) -> Path:
    return DATA_DIR / f"synthetic_{size}_cog.tif"


def is_cog(path: Path, size: int) -> bool:
    """Does ``path`` hold a complete COG of the scene's size and bands?"""
    try:
        with rasterio.open(path) as src:
            layout = src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT")
            return (src.width, src.height, src.count, layout) == (size, size, len(BANDS), "COG")
    except rasterio.errors.RasterioError:
        return False


def ensure_cog(size: int) -> tuple[Path, str]:
    """The scene of ``size`` as a COG (generated and converted unless already there), and a line
    saying where it came from."""
    cog = cog_path(size)
    if is_cog(cog, size):
        return cog, provenance(cog, None)
    scene = scene_path(size)
    made = ensure(scene, size, len(BANDS), generate_scene, regenerate=False)
    print(f"scene: {provenance(scene, made)}; converting to a COG ...", flush=True)
    start = time.perf_counter()
    tmp = temporary_path(cog)
    rasterio.shutil.copy(scene, tmp, **COG_OPTIONS)
    os.replace(tmp, cog)
    return cog, provenance(cog, time.perf_counter() - start)


def full_resolution_bytes(path: Path) -> int:
    """Bytes of the full-resolution tiles (pixel interleaved: one tile holds every band)."""
    with rasterio.open(path) as src:
        rows, cols = (-(-n // b) for n, b in zip(src.shape, src.block_shapes[0], strict=True))
        return sum(src.block_size(1, i, j) for i in range(rows) for j in range(cols))


def requests_since(log: Path, offset: int, path: str) -> list[tuple[str, int, int]]:
    """``(method, status, body bytes)`` of each request for ``path`` logged after ``offset``."""
    with open(log, "rb") as f:
        f.seek(offset)
        lines = f.read().decode(errors="replace").splitlines()
    found = []
    for line in lines:
        m = LOG_LINE.search(line)
        if m and m["path"] == path:
            sent = 0 if m["sent"] == "-" else int(m["sent"])
            found.append((m["method"], int(m["status"]), sent))
    return found


def run(scene: str, out: Path, client: Client) -> float:
    """Seconds ``process`` takes on ``scene`` (a path or URL) into ``out``."""
    start = time.perf_counter()
    [result] = process(scene, out, ProcessConfig(polygons=None, overwrite=True), client=client)
    seconds = time.perf_counter() - start
    if result.status != "done":
        raise RuntimeError(f"geoseg failed on {scene}: {result.message}")
    return seconds


def classes_of(out: Path) -> np.ndarray:
    [classes] = out.rglob("classes.tif")
    with rasterio.open(classes) as src:
        return src.read(1)


def cpu() -> dict:
    """The CPU as lscpu names it, and whether it has AVX2 and AVX-512 BF16."""
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        text = ""
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    flags = fields.get("Flags", "").split()
    return {
        "model": fields.get("Model name", platform.processor() or platform.machine()).strip(),
        "cpus": os.cpu_count(),
        "avx2": "avx2" in flags,
        "avx512_bf16": "avx512_bf16" in flags,
    }


def gdal_config(pairs: list[str]) -> dict[str, str]:
    config = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--gdal-config {pair!r}: expected KEY=VALUE")
        config[key] = value
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=8192, help="scene side, pixels")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    parser.add_argument(
        "--gdal-config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="GDAL configuration option for the workers (repeatable)",
    )
    args = parser.parse_args()
    revision = git_revision()  # before the runs: the checkout may move while they go
    extra = gdal_config(args.gdal_config)
    os.environ.update(extra)  # worker processes start from this environment
    cog, made = ensure_cog(args.size)
    file_bytes = cog.stat().st_size
    tile_bytes = full_resolution_bytes(cog)
    machine = cpu()
    print(
        f"scene: {made}; full-resolution tiles {tile_bytes / MIB:.0f} MiB\n"
        f"CPU: {machine['model']}, {machine['cpus']} cores, avx2 {machine['avx2']}, "
        f"avx512_bf16 {machine['avx512_bf16']}; GDAL {rasterio.__gdal_version__}; "
        f"geoseg {revision}" + (f"; extra GDAL config {extra}" if extra else ""),
        flush=True,
    )
    rows: list[dict] = []
    same_classes = None
    with (
        tempfile.TemporaryDirectory(dir=DATA_DIR) as work,
        nginx(Path(work) / "nginx") as server,
        local_cluster() as cluster,
        Client(cluster) as client,
    ):
        workers = len(client.scheduler_info()["workers"])
        for round_ in range(args.rounds):
            name = f"{cog.stem}_r{round_ + 1}.tif"  # a new URL: no /vsicurl cache carried over
            try:
                os.link(cog, server.www / name)
            except OSError:
                shutil.copyfile(cog, server.www / name)
            for side, scene in (("local", str(cog)), ("http", f"{server.url}/{name}")):
                out = Path(work) / f"{side}{round_ + 1}"
                offset = server.access_log.stat().st_size if server.access_log.exists() else 0
                seconds = run(scene, out, client)
                row: dict = {"round": round_ + 1, "side": side, "seconds": seconds}
                line = (
                    f"round {round_ + 1}  {side:5s} {seconds:6.1f} s  "
                    f"{args.size**2 / seconds / 1e6:6.2f} Mpx/s"
                )
                if side == "http":
                    requests = requests_since(server.access_log, offset, f"/{name}")
                    sent = sum(b for _, _, b in requests)
                    statuses = Counter(f"{m} {s}" for m, s, _ in requests)
                    row |= {
                        "requests": len(requests),
                        "statuses": dict(sorted(statuses.items())),
                        "bytes_sent": sent,
                        "bytes_ratio": sent / file_bytes,
                        "bytes_ratio_full_resolution": sent / tile_bytes,
                    }
                    line += (
                        f"  {len(requests):5d} requests "
                        f"({', '.join(f'{k}: {v}' for k, v in sorted(statuses.items()))})  "
                        f"{sent / MIB:6.1f} MiB = {row['bytes_ratio']:.3f} × file, "
                        f"{row['bytes_ratio_full_resolution']:.3f} × full-res tiles"
                    )
                rows.append(row)
                print(line, flush=True)
            if round_ == 0:  # the two sides' classes, pixel for pixel
                same_classes = bool(
                    np.array_equal(
                        classes_of(Path(work) / "local1"), classes_of(Path(work) / "http1")
                    )
                )
                print(f"classes identical local vs http: {same_classes}", flush=True)
            for side in ("local", "http"):
                shutil.rmtree(Path(work) / f"{side}{round_ + 1}")
            (server.www / name).unlink()
    http = [r for r in rows if r["side"] == "http"]
    median = {
        side: statistics.median(r["seconds"] for r in rows if r["side"] == side)
        for side in ("local", "http")
    }
    per_round = [
        loc["seconds"] / rem["seconds"] for loc, rem in zip(rows[::2], rows[1::2], strict=True)
    ]
    ratio = median["local"] / median["http"]
    worst = max(r["bytes_ratio"] for r in http)
    fetched = ", ".join(f"{r['bytes_ratio']:.3f}" for r in http)
    fetched_full = ", ".join(f"{r['bytes_ratio_full_resolution']:.3f}" for r in http)
    print(
        f"\nmedian: local {median['local']:.1f} s, http {median['http']:.1f} s; over HTTP geoseg "
        f"runs at {ratio:.2f} of its local speed (per round: "
        f"{', '.join(f'{r:.2f}' for r in per_round)}); goal ≥ {SPEED_GOAL}: "
        f"{'met' if ratio >= SPEED_GOAL else 'NOT met'}\n"
        f"bytes fetched ÷ file size ({file_bytes / MIB:.1f} MiB): "
        f"{fetched} (÷ full-resolution tiles: "
        f"{fetched_full}); goal ≤ "
        f"{BYTES_GOAL} in every round: {'met' if worst <= BYTES_GOAL else 'NOT met'}"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "revision": revision,
                "size": args.size,
                "scene": cog.name,
                "file_bytes": file_bytes,
                "full_resolution_tile_bytes": tile_bytes,
                "workers": workers,
                "worker_env": WORKER_ENV,
                "gdal_config": extra,
                "rows": rows,
                "median_seconds": median,
                "ratio": ratio,
                "per_round_ratio": per_round,
                "worst_bytes_ratio": worst,
                "classes_identical": same_classes,
                "goals": {"ratio": SPEED_GOAL, "bytes_ratio": BYTES_GOAL},
                "machine": machine | {"gdal": rasterio.__gdal_version__},
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
