"""I/O bound: ``geoseg process`` with the built-in spectral model against rasterio alone doing the
same reads and writes.

The scene is benchmarks/memory.py's generated 4-band uint16 scene (tiled 512², deflate +
predictor 2), 10,000² pixels by default. Both sides produce the same outputs in the same format:

- **geoseg**: ``geoseg.process`` with the built-in model (red and nir of every tile), polygons
  off, on one warm embedded cluster (the machine's default: one single-threaded worker process per
  core), so cluster start-up is not timed: ``probability.tif`` (2 bands, float32 or, with
  ``--probability-dtype uint8``, p × 254) and ``classes.tif`` (uint8) as COGs.
- **limit**: one process with rasterio, GDAL's threads on (``GDAL_NUM_THREADS=ALL_CPUS`` for
  decoding and encoding): it reads every band of every 1024² window, computes a trivial
  probability (red / (red + nir)), in the same data type as geoseg's, writes both layers window
  by window to tiled GeoTIFFs (zstd 1,
  as geoseg's block files) and converts them with GDAL's COG driver using geoseg's creation options
  (deflate, predictor, 512² blocks, overviews). Nothing a real job could skip: it is what any tool
  must read and write for these outputs, without tiling, overlap, blending or a model.

The two sides alternate (limit, geoseg, limit, geoseg, ...) because these machines slow down under
sustained load; the ratio of medians is ``limit seconds / geoseg seconds``, i.e. geoseg's throughput
as a share of the limit's. Goal: ≥ 0.5.

    python benchmarks/io_limit.py                   # 10,000², 3 rounds, float32 probabilities
    python benchmarks/io_limit.py --probability-dtype uint8
    python benchmarks/io_limit.py --size 20000 --rounds 2

Prints a table and writes ``benchmarks/results/io_limit_<dtype>.json``.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from distributed import Client
from memory import BANDS, ensure, generate_scene, provenance, scene_path
from rasterio.windows import Window

from geoseg import ProcessConfig, process
from geoseg.cluster.connect import local_cluster
from geoseg.store import segmentation_layers

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "io_limit_{dtype}.json"  # one file per probability dtype
WINDOW = 1024  # geoseg's default output block
GOAL = 0.5
RED, NIR = BANDS.index("red"), BANDS.index("nir")
COG_OPTIONS = {
    "driver": "COG",
    "compress": "DEFLATE",
    "predictor": "YES",
    "blocksize": 512,
    "overviews": "AUTO",
    "bigtiff": "IF_SAFER",
    "num_threads": "ALL_CPUS",
}


def windows(width: int, height: int) -> list[Window]:
    return [
        Window(c, r, min(WINDOW, width - c), min(WINDOW, height - r))
        for r in range(0, height, WINDOW)
        for c in range(0, width, WINDOW)
    ]


def rasterio_limit(scene: Path, out: Path, probability_dtype: str) -> None:
    """Read every band window by window, write the two layers, convert them to COGs."""
    out.mkdir(parents=True, exist_ok=True)
    layer = segmentation_layers(("a", "b"), probability_dtype)[0]  # geoseg's encoding of p
    with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"), rasterio.open(scene) as src:
        base = {
            "driver": "GTiff",
            "width": src.width,
            "height": src.height,
            "crs": src.crs,
            "transform": src.transform,
            "tiled": True,
            "blockxsize": 512,
            "blockysize": 512,
            "compress": "zstd",
            "zstd_level": 1,
            "bigtiff": "IF_SAFER",
            "num_threads": "ALL_CPUS",
        }
        staged = {
            "probability": out / "probability.staged.tif",
            "classes": out / "classes.staged.tif",
        }
        with (
            rasterio.open(
                staged["probability"], "w", count=2, dtype=layer.dtype, nodata=layer.nodata, **base
            ) as prob,
            rasterio.open(
                staged["classes"], "w", count=1, dtype="uint8", nodata=255, **base
            ) as classes,
        ):
            for window in windows(src.width, src.height):
                data = src.read(window=window).astype(np.float32)
                p = data[RED] / (data[RED] + data[NIR] + 1.0)
                prob.write(layer.encode(np.stack([p, 1 - p])), window=window)
                classes.write((p < 0.5).astype(np.uint8), 1, window=window)
        for name, path in staged.items():
            rasterio.shutil.copy(path, out / f"{name}.tif", **COG_OPTIONS)
            path.unlink()


def geoseg_run(scene: Path, out: Path, client: Client, probability_dtype: str) -> None:
    config = ProcessConfig(polygons=None, overwrite=True, probability_dtype=probability_dtype)
    [result] = process(scene, out, config, client=client)
    if result.status != "done":
        raise RuntimeError(f"geoseg failed: {result.message}")


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def output_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*.tif"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000, help="scene side, pixels")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    parser.add_argument("--probability-dtype", choices=("float32", "uint8"), default="float32")
    args = parser.parse_args()
    dtype = args.probability_dtype
    scene = scene_path(args.size)
    made = ensure(scene, args.size, len(BANDS), generate_scene, regenerate=False)
    print(f"scene: {provenance(scene, made)}")
    rows = []
    with (
        local_cluster() as cluster,
        Client(cluster) as client,
        tempfile.TemporaryDirectory(dir=HERE / "data") as work,
    ):
        workers = len(client.scheduler_info()["workers"])
        for round_ in range(args.rounds):
            for side, run in (
                ("limit", lambda o: rasterio_limit(scene, o, dtype)),
                ("geoseg", lambda o: geoseg_run(scene, o, client, dtype)),
            ):
                out = Path(work) / f"{side}{round_}"
                seconds = timed(run, out)
                rows.append(
                    {
                        "round": round_ + 1,
                        "side": side,
                        "seconds": seconds,
                        "output_mib": output_bytes(out) / 2**20,
                    }
                )
                print(
                    f"round {round_ + 1}  {side:7s} {seconds:7.1f} s  "
                    f"{args.size**2 / seconds / 1e6:6.2f} Mpx/s  "
                    f"outputs {rows[-1]['output_mib']:.0f} MiB",
                    flush=True,
                )
                shutil.rmtree(out)
    median = {
        side: statistics.median(r["seconds"] for r in rows if r["side"] == side)
        for side in ("limit", "geoseg")
    }
    per_round = [
        lim["seconds"] / geo["seconds"] for lim, geo in zip(rows[::2], rows[1::2], strict=True)
    ]
    ratio = median["limit"] / median["geoseg"]
    print(
        f"\nmedian: limit {median['limit']:.1f} s, geoseg {median['geoseg']:.1f} s; geoseg runs "
        f"at {ratio:.2f} of the I/O limit (per round: "
        f"{', '.join(f'{r:.2f}' for r in per_round)}); goal ≥ {GOAL}: "
        f"{'met' if ratio >= GOAL else 'NOT met'}"
    )
    results = Path(str(RESULTS).format(dtype=dtype))
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(
        json.dumps(
            {
                "size": args.size,
                "scene": scene.name,
                "probability_dtype": dtype,
                "workers": workers,
                "rows": rows,
                "median_seconds": median,
                "ratio": ratio,
                "per_round_ratio": per_round,
                "goal": GOAL,
                "machine": {
                    "cpus": os.cpu_count(),
                    "processor": platform.processor() or platform.machine(),
                    "gdal": rasterio.__gdal_version__,
                },
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {results.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
