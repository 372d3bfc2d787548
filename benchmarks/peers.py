"""geoseg beside a real peer, geoai (``geoai.inference.predict_geotiff``), on the same scenes and model.

**The peer.** ``geoai-py`` is installed by this script into its own virtual environment,
``benchmarks/data/peers-venv`` (created only when missing; ``--peer-spec`` picks the release), with
the project's torch pin (torch 2.14.1, torchvision 0.29.1) installed first and held by a
constraints file, so pip never swaps torch. Its side runs in a subprocess with that environment's
Python (a driver script written to ``benchmarks/data/geoai_driver.py``): the two environments never
mix. geoai's tiled GeoTIFF inference is ``predict_geotiff(model, input_raster, output_raster,
tile_size, overlap, batch_size, num_classes, blend_mode, preprocess_fn, ...)``: it takes an
``nn.Module``, reads each tile with a rasterio window (tiles start every ``tile_size - overlap``
pixels; the last tile of a row or column is pulled back to end on the scene's edge, as geoseg's
are), blends with a "spline" window (a squared raised cosine over the whole ``overlap`` at every
tile side, scene edges included), but accumulates the sums in two float64 arrays the size of the
whole scene (plus float64 temporaries when it divides), so its memory grows with the scene's area.
It has no reduced-precision option (geoai bf16 is not measured).

**The same function on both sides.** One smp U-Net (encoder resnet34, ``encoder_weights=None``,
4 input bands, 2 classes, random weights drawn with ``torch.manual_seed(0)``) is saved once with
``geoseg.models.torch_models.save_checkpoint`` (safetensors + card: stride 32, tile 256, overlap
64, edge margin 16). A random U-Net fed raw reflectance saturates, so, as in ``seams.py``, the card
normalises each band by the band mean and standard deviation of the 4,096² scene (streamed strip
by strip). geoseg applies the card itself (reflectance = DN × the file's scale, then
``(r - mean) / std``); geoai gets the identical arithmetic as its ``preprocess_fn`` (float32 DN ×
scale, minus mean, over std) and the same weights, wrapped in a module that applies the softmax,
so that both blend class probabilities (geoseg blends probabilities too). Where only one tile
covers a pixel on both sides, the two maps must then agree to float precision ("single-tile |Δ|"
in the report): the check that both compute the same function. Elsewhere they differ by their
blending windows. Both use batches of 8 tiles and each its own default threading: geoai one
process with torch's default threads (one per core); geoseg its embedded Dask cluster (one
worker process with a thread per core, each task's forward pass single-threaded), and once at the
smallest size with one single-threaded worker process per core (``--workers N``, N = cores), the
layout geoseg used before, for its memory and speed.

**Scenes.** 4-band uint16 GeoTIFFs (tiled 512², deflate, EPSG:32722, scale 0.0001) from
``benchmarks/memory.py``'s streaming generator (``generate_scene``, imported, not copied), under
``benchmarks/data/synthetic_SIZE.tif``, kept between runs.

**Measured.** For each compared size (4,096² and 8,192²) and repeat, in alternating order: geoai
fp32, geoseg fp32, geoseg bf16 (``--precision bf16``). Each is a fresh process (start-up, imports
and the embedded cluster included, as a user runs it): wall seconds, and peak memory summed over
the process tree (Dask workers included), sampled every 0.2 s, as RSS (shared libraries counted in
every process: conservative for geoseg's several processes) and as PSS (``benchmarks/memory.py``'s
sampler: shared pages split between processes); geoai also reports its own exact peak RSS
(``ru_maxrss``), used when larger than the sampled one. Then geoseg bf16 alone on a 20,000² scene,
which geoai cannot hold in 24 GB (its bytes per pixel, fitted on the two compared sizes, project
its peak there). Agreement: max and mean |geoseg − geoai| of the target-class probability over the
whole scene, over single-tile pixels away from the scene edge, over overlaps and over the outer
64 pixels, read strip by strip; and how far geoai's class probabilities stray from summing to 1
(it divides by its weight sum + 1e-8, and its window's weights at the scene's edge are far below
1e-8 in the corners: those pixels are dragged towards 0). Seams: one whole-image forward pass over
the 4,096² scene (a multiple of 32, no padding) is the reference for ``geoseg.seam_excess`` of
each tool's map with its own tile grid (``TileGrid(h, w, 256, 64, align=32)`` for geoseg; geoai's
tile starts, as its loop makes them, for geoai). A random U-Net's output depends strongly on how
much context it sees (mean |tiled − whole| is reported beside the excess), so the seam excess says
more about the two blends side by side than about either alone.

Goals (from the project's issue): geoseg's peak memory ≤ ¼ of geoai's at 8,192²; geoseg fp32 at
least 0.95× geoai's speed, bf16 at least 1.8× (on a GPU: at least 2×); the 20,000² scene completes.

Run from the repository root with the project's environment (about 40 minutes on an idle 2-core
machine, a few times that when other work shares the cores; the first run also spends a few
minutes building the peer environment, about 7 GB)::

    python benchmarks/peers.py
    python benchmarks/peers.py --repeats 1 --large-repeats 1 --no-big   # a quicker look

On a busy machine it can be run in parts: ``--reuse`` keeps every run of the last ``peers.json``
and adds the new ones (further repeats of a size continue its alternation), e.g. ``--sizes 4096
--no-big``, then ``--sizes 8192 --reuse --no-workers-check --large-repeats 1`` (8,192² and the
20,000² run), then ``--sizes 8192 --reuse --no-workers-check --large-repeats 1 --no-big`` (a
second 8,192² repeat, in the other order).

Prints a table and the ratios, and writes ``benchmarks/results/peers.json``.
"""

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import rasterio
from rasterio.windows import Window

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import memory  # benchmarks/memory.py: the scene generator and the process-tree sampler

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no weights are ever fetched

ROOT = HERE.parent
DATA = HERE / "data"
RESULTS = HERE / "results" / "peers.json"
PEER_VENV = DATA / "peers-venv"
PEER_READY = PEER_VENV / "geoseg-peers-complete"  # written once the installs have succeeded
PEER_SPEC = "geoai-py==0.40.1"
TORCH_PINS = ("torch==2.14.1", "torchvision==0.29.1")
DRIVER = DATA / "geoai_driver.py"
CHECKPOINT = DATA / "peers-model" / "model.safetensors"
OUTPUTS = DATA / "peers-out"

BANDS = memory.BANDS  # blue, green, red, nir
CLASSES = ("other", "forest")
TARGET = 1  # index of the target class
TILE, OVERLAP, EDGE_MARGIN, STRIDE, BATCH = 256, 64, 16, 32, 8
SEED = 0
STATS_SIZE = 4096  # the scene whose band statistics normalise the model's inputs
MIB = 1024 * 1024

MEMORY_GOAL = 0.25  # geoseg peak / geoai peak at the largest compared size
SPEED_GOAL = {"fp32": 0.95, "bf16": 1.8}  # geoai seconds / geoseg seconds (CPU)
GPU_SPEED_GOAL = 2.0


# --- the peer's environment and driver -----------------------------------------------------------


def ensure_peer_venv(spec: str) -> Path:
    """The peer environment's Python, creating the environment first when it is not complete."""
    python = PEER_VENV / "bin" / "python"
    if PEER_READY.exists():
        return python
    print(
        f"creating {PEER_VENV.relative_to(ROOT)} ({spec}; {' '.join(TORCH_PINS)}) ...", flush=True
    )
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(PEER_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*pip, *TORCH_PINS], check=True)
    constraints = PEER_VENV / "constraints.txt"
    constraints.write_text("\n".join(TORCH_PINS) + "\n")
    subprocess.run([*pip, "-c", str(constraints), spec], check=True)
    PEER_READY.write_text(spec + "\n")
    return python


DRIVER_SOURCE = '''\
"""geoai's side of benchmarks/peers.py, run with the peer environment's Python (written by it).

argv[1]: JSON with checkpoint, scene, output, tile, overlap, batch, scale, mean, std, classes,
blend, report. Writes the report JSON: versions, threads, seconds, peak RSS (ru_maxrss).
"""
import json
import resource
import sys
import time

started = time.perf_counter()
args = json.loads(sys.argv[1])

import numpy as np
import safetensors.torch
import segmentation_models_pytorch as smp
import torch
import geoai
from geoai.inference import predict_geotiff


class Probabilities(torch.nn.Module):
    """The U-Net followed by a softmax over classes: geoai then blends probabilities."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return torch.softmax(self.net(x), dim=1)


net = smp.create_model("Unet", encoder_name="resnet34", encoder_weights=None,
                       in_channels=len(args["mean"]), classes=args["classes"])
net.load_state_dict(safetensors.torch.load_file(args["checkpoint"]), strict=True)
scale = np.float32(args["scale"])
mean = np.asarray(args["mean"], np.float32)[:, None, None]
std = np.asarray(args["std"], np.float32)[:, None, None]


def preprocess(tile):
    """geoseg's arithmetic: reflectance = DN x scale (float32), then (r - mean) / std."""
    return (tile.astype(np.float32) * scale - mean) / std


imported = time.perf_counter()
predict_geotiff(Probabilities(net), args["scene"], args["output"], tile_size=args["tile"],
                overlap=args["overlap"], batch_size=args["batch"], num_classes=args["classes"],
                blend_mode=args["blend"], preprocess_fn=preprocess, verbose=False)
done = time.perf_counter()
report = {"geoai": geoai.__version__, "torch": torch.__version__, "smp": smp.__version__,
          "threads": torch.get_num_threads(), "device": "cuda" if torch.cuda.is_available() else "cpu",
          "startup_s": imported - started, "predict_s": done - imported,
          "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
with open(args["report"], "w") as f:
    json.dump(report, f)
'''


def peer_env() -> dict[str, str]:
    """This environment's variables without its virtual environment (the peer's comes first)."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")
    }
    env["PATH"] = f"{PEER_VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["HF_HUB_OFFLINE"] = "1"
    return env


# --- scenes and the model ------------------------------------------------------------------------


def ensure_scene(size: int) -> Path:
    path = memory.scene_path(size)
    seconds = memory.ensure(path, size, len(BANDS), memory.generate_scene, False)
    print(f"scene {memory.provenance(path, seconds)}", flush=True)
    return path


def band_statistics(scene: Path) -> tuple[list[float], list[float]]:
    """Per-band mean and standard deviation of the scene's reflectance, strip by strip."""
    with rasterio.open(scene) as src:
        scales = np.asarray(src.scales, np.float64)[:, None]
        total = np.zeros(src.count)
        squares = np.zeros(src.count)
        for window in memory.strips(src.height):
            values = src.read(window=Window(0, window.row_off, src.width, window.height))
            values = values.reshape(src.count, -1).astype(np.float64) * scales
            total += values.sum(axis=1)
            squares += (values**2).sum(axis=1)
        n = src.width * src.height
    mean = total / n
    return mean.tolist(), np.sqrt(squares / n - mean**2).tolist()


def make_checkpoint(mean: list[float], std: list[float]) -> dict:
    """Save the seeded random U-Net with its card; the card as a dict."""
    import segmentation_models_pytorch as smp
    import torch

    from geoseg.models.base import ModelCard, Normalisation
    from geoseg.models.torch_models import save_checkpoint

    torch.manual_seed(SEED)
    module = smp.create_model(
        "Unet",
        encoder_name="resnet34",
        encoder_weights=None,
        in_channels=len(BANDS),
        classes=len(CLASSES),
    )
    card = ModelCard(
        name=f"peers-random-unet-resnet34-seed{SEED}",
        architecture="Unet",
        encoder="resnet34",
        bands=BANDS,
        classes=CLASSES,
        target_class=CLASSES[TARGET],
        normalisation=Normalisation(mean=tuple(mean), std=tuple(std)),
        activation="softmax",
        edge_margin=EDGE_MARGIN,
        stride=STRIDE,
        tile_size=TILE,
        overlap=OVERLAP,
        description="random weights (seed 0), for benchmarks/peers.py",
    )
    save_checkpoint(module, card, CHECKPOINT)
    return card.model_dump()


# --- measured runs -------------------------------------------------------------------------------


def rss_mib(pid: int) -> float | None:
    try:
        return psutil.Process(pid).memory_info().rss / MIB
    except psutil.Error:
        return None


def measure(cmd: list[str], env: dict[str, str], interval: float = 0.2) -> dict:
    """Run ``cmd``; its wall time and the peak RSS and PSS summed over its process tree.

    PSS and each process's own peak come from ``memory.sample`` (``/proc/PID/smaps_rollup``).
    """
    seen: dict[int, memory.ProcessPeak] = {}
    peak_pss = peak_rss = 0.0
    with tempfile.TemporaryFile("w+") as log:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        root = psutil.Process(proc.pid)
        while proc.poll() is None:
            tree = memory.process_tree(root)
            current = memory.sample(tree, seen, time.perf_counter() - start)
            peak_pss = max(peak_pss, sum(current.values()))
            peak_rss = max(peak_rss, sum(filter(None, (rss_mib(pid) for pid in current))))
            time.sleep(interval)
        wall = time.perf_counter() - start
        log.seek(0)
        tail = log.read()[-3000:]
    if proc.returncode != 0:
        print(tail, file=sys.stderr)
    processes = sorted(
        (
            {"role": memory.role(p.command), "peak_pss_mib": round(p.peak_mib, 1), "torch": p.torch}
            for p in seen.values()
        ),
        key=lambda p: -p["peak_pss_mib"],
    )
    return {
        "returncode": proc.returncode,
        "seconds": wall,
        "peak_rss_mib": peak_rss,
        "peak_pss_mib": peak_pss,
        "processes": processes,
        "output_tail": tail[-800:],
    }


def run_geoai(python: Path, scene: Path, card: dict, blend: str) -> dict:
    out = OUTPUTS / f"geoai-{scene.stem}.tif"
    out.parent.mkdir(parents=True, exist_ok=True)
    report = OUTPUTS / f"geoai-{scene.stem}.json"
    report.unlink(missing_ok=True)
    with rasterio.open(scene) as src:
        scale = src.scales[0]
    args = {
        "checkpoint": str(CHECKPOINT),
        "scene": str(scene),
        "output": str(out),
        "tile": TILE,
        "overlap": OVERLAP,
        "batch": BATCH,
        "scale": scale,
        "mean": card["normalisation"]["mean"],
        "std": card["normalisation"]["std"],
        "classes": len(CLASSES),
        "blend": blend,
        "report": str(report),
    }
    record = measure([str(python), str(DRIVER), json.dumps(args)], peer_env())
    if record["returncode"] == 0:
        record["driver"] = json.loads(report.read_text())
        # The exact peak of geoai's one process: a 0.2 s sampler can miss its last spike.
        record["peak_rss_mib"] = max(record["peak_rss_mib"], record["driver"]["max_rss_mib"])
    record["probability"] = str(out)
    return record


def run_geoseg(scene: Path, precision: str, workers: int | None) -> dict:
    out = OUTPUTS / f"geoseg-{precision}-w{workers or 'default'}-{scene.stem}"
    cmd = [
        str(Path(sys.executable).parent / "geoseg"),
        "process",
        str(scene),
        "-o",
        str(out),
        "--model",
        str(CHECKPOINT),
        "--tile",
        str(TILE),
        "--overlap",
        str(OVERLAP),
        "--batch-size",
        str(BATCH),
        "--precision",
        precision,
        "--no-polygons",
        "--no-progress",
        "--overwrite",
    ]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    record = measure(cmd, os.environ | {"HF_HUB_OFFLINE": "1"})
    manifest = out / scene.stem / "manifest.json"
    if record["returncode"] == 0 and manifest.exists():
        record["scene_seconds"] = json.loads(manifest.read_text())["timings"]["seconds"]
    record["probability"] = str(out / scene.stem / "probability.tif")
    return record


# Each measured configuration: tool, precision, geoseg workers (None: the default cluster).
CONFIGS = {
    "geoai fp32": ("geoai", "fp32", None),
    "geoseg fp32": ("geoseg", "fp32", None),
    "geoseg bf16": ("geoseg", "bf16", None),
    "geoseg fp32 process per core": ("geoseg", "fp32", os.cpu_count() or 1),
}


def run_config(
    name: str, scene: Path, size: int, repeat: int, python: Path, card: dict, blend: str
) -> dict:
    tool, precision, workers = CONFIGS[name]
    print(f"  {size}² #{repeat + 1}: {name} ...", end=" ", flush=True)
    record = (
        run_geoai(python, scene, card, blend)
        if tool == "geoai"
        else run_geoseg(scene, precision, workers)
    )
    record |= {
        "config": name,
        "tool": tool,
        "precision": precision,
        "workers": workers,
        "size": size,
        "repeat": repeat,
        "mpx_per_s": size * size / 1e6 / record["seconds"],
    }
    status = "" if record["returncode"] == 0 else f" FAILED (exit {record['returncode']})"
    print(
        f"{record['seconds']:.1f} s, peak RSS {record['peak_rss_mib']:.0f} MiB, "
        f"PSS {record['peak_pss_mib']:.0f} MiB{status}",
        flush=True,
    )
    return record


def order(repeat: int, names: list[str]) -> list[str]:
    """The configurations in alternating order: forwards on even repeats, backwards on odd."""
    return names if repeat % 2 == 0 else names[::-1]


# --- comparing outputs ---------------------------------------------------------------------------


def geoai_starts(n: int) -> list[int]:
    """Tile starts along an axis as ``predict_geotiff`` makes them (its loop, deduplicated)."""
    starts = [max(0, min(s + TILE, n) - TILE) for s in range(0, n, TILE - OVERLAP)]
    return list(dict.fromkeys(starts))


class Borders:
    """The part of a tiling that ``geoseg.seam_ratio`` reads, for a tile grid given by its starts."""

    def __init__(self, height: int, width: int, row_starts: list[int], col_starts: list[int]):
        self.height, self.width = height, width
        self.row_starts, self.col_starts = row_starts, col_starts

    def tile_border_offsets(self) -> tuple[list[int], list[int]]:
        def inner(starts: list[int], n: int) -> list[int]:
            return sorted({s for s in starts if s > 0} | {s + TILE for s in starts if s + TILE < n})

        return inner(self.row_starts, self.height), inner(self.col_starts, self.width)


def geoseg_tiling(size: int):
    from geoseg import TileGrid

    return TileGrid(size, size, TILE, OVERLAP, align=STRIDE)


def single_cover(n: int, starts: list[int]) -> np.ndarray:
    """Pixels along an axis that exactly one tile covers."""
    cover = np.zeros(n, np.int32)
    for s in starts:
        cover[s : s + TILE] += 1
    return cover == 1


def read_target(path: str, window: Window) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(TARGET + 1, window=window).astype(np.float32)


def agreement(a: str, b: str, size: int, starts: list[int]) -> dict:
    """max and mean |a − b| of the target probability, read 512 rows at a time: everywhere; on
    single-tile pixels (one tile on both sides: they must agree to float precision); on overlaps;
    and on the scene's outer ``OVERLAP`` pixels (where geoai's window tapers at the scene edge)."""
    single = single_cover(size, starts)
    near = np.zeros(size, bool)
    near[:OVERLAP] = near[-OVERLAP:] = True
    stats = {key: [0.0, 0, 0.0] for key in ("all", "single_tile", "overlap", "scene_edge")}
    moments = [0.0, 0.0, 0]  # of a: sum, sum of squares, saturated pixels (p < 0.01 or > 0.99)
    for strip in memory.strips(size):
        rows = slice(strip.row_off, strip.row_off + strip.height)
        window = Window(0, strip.row_off, size, strip.height)
        pa, pb = read_target(a, window), read_target(b, window)
        diff = np.abs(pa.astype(np.float64) - pb)
        edge = near[rows, None] | near[None, :]
        one = single[rows, None] & single[None, :] & ~edge
        for key, mask in (
            ("all", None),
            ("single_tile", one),
            ("overlap", ~one & ~edge),
            ("scene_edge", edge),
        ):
            values = diff if mask is None else diff[mask]
            if values.size:
                stats[key][0] += values.sum()
                stats[key][1] += values.size
                stats[key][2] = max(stats[key][2], float(values.max()))
        moments[0] += pa.sum(dtype=np.float64)
        moments[1] += (pa.astype(np.float64) ** 2).sum()
        moments[2] += int(np.count_nonzero((pa < 0.01) | (pa > 0.99)))
    n = size * size
    mean_a = moments[0] / n
    return {
        **{f"{key}_max": s[2] for key, s in stats.items()},
        **{f"{key}_mean": s[0] / s[1] if s[1] else math.nan for key, s in stats.items()},
        "first_mean": mean_a,
        "first_std": math.sqrt(max(moments[1] / n - mean_a**2, 0.0)),
        "first_saturated_fraction": moments[2] / n,
    }


def probability_sums(path: str, size: int) -> dict:
    """How far the class probabilities' sum strays from 1 (geoai divides by its weight sum + 1e-8,
    which drags pixels where the weights are tiny, at the scene's edges, towards 0)."""
    off, lowest = 0, 1.0
    with rasterio.open(path) as src:
        for strip in memory.strips(size):
            total = src.read(window=Window(0, strip.row_off, size, strip.height)).sum(axis=0)
            off += int(np.count_nonzero(np.abs(total - 1.0) > 1e-3))
            lowest = min(lowest, float(total.min()))
    return {"pixels_off_by_1e-3": off, "fraction_off": off / size**2, "lowest_sum": lowest}


def whole_image(scene: Path) -> np.ndarray:
    """Target probability from one fp32 forward pass over the whole scene (sides multiple of 32)."""
    import torch

    from geoseg import find_scenes, open_scene
    from geoseg.models.torch_models import load_checkpoint

    torch.set_num_threads(psutil.cpu_count(logical=False) or 1)
    model = load_checkpoint(CHECKPOINT, precision="fp32")
    source = open_scene(find_scenes(scene)[0])
    height, width = source.grid.height, source.grid.width
    if height % STRIDE or width % STRIDE:
        raise ValueError(f"whole-image reference needs sides that are multiples of {STRIDE}")
    x, _ = source.read(Window(0, 0, width, height), BANDS)
    return model.predict(x[None], BANDS)[0, TARGET]


def seams(scene: Path, size: int, geoseg_map: str, geoai_map: str) -> dict:
    from geoseg import seam_excess

    started = time.perf_counter()
    whole = whole_image(scene)
    whole_s = time.perf_counter() - started
    full = Window(0, 0, size, size)
    tiling = geoseg_tiling(size)
    starts = geoai_starts(size)
    borders = Borders(size, size, starts, starts)
    return {
        "size": size,
        "whole_image_seconds": whole_s,
        "whole_std": float(whole.std()),
        "geoseg": seam_excess(read_target(geoseg_map, full), whole, tiling),
        "geoai": seam_excess(read_target(geoai_map, full), whole, borders),
        "geoseg_mean_abs_vs_whole": float(np.mean(np.abs(read_target(geoseg_map, full) - whole))),
        "geoai_mean_abs_vs_whole": float(np.mean(np.abs(read_target(geoai_map, full) - whole))),
    }


# --- report --------------------------------------------------------------------------------------


def summary_rows(runs: list[dict]) -> dict[tuple[str, int], dict]:
    """Per (configuration, size): median seconds, largest peaks, number of runs."""
    rows: dict[tuple[str, int], dict] = {}
    for r in runs:
        if r["returncode"] != 0:
            continue
        row = rows.setdefault((r["config"], r["size"]), {"seconds": [], "rss": [], "pss": []})
        row["seconds"].append(r["seconds"])
        row["rss"].append(r["peak_rss_mib"])
        row["pss"].append(r["peak_pss_mib"])
    return {
        key: {
            "config": key[0],
            "size": key[1],
            "runs": len(v["seconds"]),
            "median_seconds": statistics.median(v["seconds"]),
            "peak_rss_mib": max(v["rss"]),
            "peak_pss_mib": max(v["pss"]),
            "mpx_per_s": key[1] ** 2 / 1e6 / statistics.median(v["seconds"]),
        }
        for key, v in rows.items()
    }


def paired_ratios(runs: list[dict], size: int, config: str) -> list[float]:
    """geoai seconds / ``config`` seconds within each repeat (the two ran next to each other)."""

    def seconds(name: str, repeat: int) -> float | None:
        return next(
            (
                r["seconds"]
                for r in runs
                if r["config"] == name
                and r["size"] == size
                and r["repeat"] == repeat
                and r["returncode"] == 0
            ),
            None,
        )

    repeats = sorted({r["repeat"] for r in runs if r["size"] == size})
    pairs = [(seconds("geoai fp32", k), seconds(config, k)) for k in repeats]
    return [a / b for a, b in pairs if a and b]


def ratios(runs: list[dict], rows: dict, sizes: list[int], gpu: bool) -> dict:
    out: dict = {}
    for size in sizes:
        geoai = rows.get(("geoai fp32", size))
        if geoai is None:
            continue
        entry: dict = {}
        for precision in ("fp32", "bf16"):
            mine = rows.get((f"geoseg {precision}", size))
            if mine is None:
                continue
            goal = GPU_SPEED_GOAL if gpu else SPEED_GOAL[precision]
            speed = geoai["median_seconds"] / mine["median_seconds"]
            entry[f"speed_{precision}"] = {
                "ratio": speed,
                "goal": goal,
                "ok": speed >= goal,
                "paired": paired_ratios(runs, size, f"geoseg {precision}"),
            }
            entry[f"memory_{precision}"] = {
                "rss_ratio": mine["peak_rss_mib"] / geoai["peak_rss_mib"],
                "pss_ratio": mine["peak_pss_mib"] / geoai["peak_pss_mib"],
                "goal": MEMORY_GOAL,
                "ok": mine["peak_rss_mib"] / geoai["peak_rss_mib"] <= MEMORY_GOAL,
            }
        per_core = rows.get(("geoseg fp32 process per core", size))
        if per_core is not None and ("geoseg fp32", size) in rows:
            default = rows[("geoseg fp32", size)]
            entry["process_per_core_vs_default"] = {
                "seconds": per_core["median_seconds"] / default["median_seconds"],
                "pss": per_core["peak_pss_mib"] / default["peak_pss_mib"],
            }
        out[size] = entry
    return out


def geoai_projection(rows: dict, sizes: list[int], target: int) -> dict | None:
    """geoai's peak RSS at ``target``² from a line through its two compared sizes."""
    points = [
        (s * s, rows[("geoai fp32", s)]["peak_rss_mib"])
        for s in sorted(sizes)
        if ("geoai fp32", s) in rows
    ]
    if len(points) < 2:
        return None
    (x0, y0), (x1, y1) = points[0], points[-1]
    per_px = (y1 - y0) / (x1 - x0)
    projected = y0 + per_px * (target * target - x0)
    return {
        "bytes_per_pixel": per_px * MIB,
        "size": target,
        "projected_peak_mib": projected,
        "machine_mib": psutil.virtual_memory().total / MIB,
    }


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def print_report(record: dict) -> None:
    print("\nruns (in the order they ran)")
    header = (
        f"{'tool':<22} {'size':>7} {'#':>2} {'seconds':>8} {'peak RSS MiB':>12} "
        f"{'peak PSS MiB':>12} {'Mpx/s':>6}"
    )
    print(header + "\n" + "-" * len(header))
    for r in record["runs"]:
        failed = "" if r["returncode"] == 0 else f"  FAILED {r['returncode']}"
        print(
            f"{r['config']:<22} {r['size']:>6}² {r['repeat'] + 1:>2} {r['seconds']:>8.1f} "
            f"{r['peak_rss_mib']:>12.0f} {r['peak_pss_mib']:>12.0f} {r['mpx_per_s']:>6.3f}"
            f"{failed}"
        )
    print("\nsummary (median seconds, largest peaks)")
    header = (
        f"{'tool':<22} {'size':>7} {'precision':>9} {'runs':>4} {'seconds':>8} "
        f"{'peak RSS MiB':>12} {'peak PSS MiB':>12} {'Mpx/s':>6}"
    )
    print(header + "\n" + "-" * len(header))
    for row in record["summary"]:
        precision = CONFIGS[row["config"]][1]
        print(
            f"{row['config']:<22} {row['size']:>6}² {precision:>9} {row['runs']:>4} "
            f"{row['median_seconds']:>8.1f} {row['peak_rss_mib']:>12.0f} "
            f"{row['peak_pss_mib']:>12.0f} {row['mpx_per_s']:>6.3f}"
        )
    print(
        "\nratios (speed: geoai seconds / geoseg seconds, medians; paired: per repeat; "
        "memory: geoseg peak / geoai peak)"
    )
    for size, entry in record["ratios"].items():
        for precision in ("fp32", "bf16"):
            speed, mem = entry.get(f"speed_{precision}"), entry.get(f"memory_{precision}")
            if speed is None:
                continue
            paired = ", ".join(f"{p:.2f}" for p in speed["paired"])
            print(
                f"  {size}² geoseg {precision}: speed {speed['ratio']:.2f}× (paired {paired}; "
                f"goal ≥ {speed['goal']}): {verdict(speed['ok'])}; memory RSS "
                f"{mem['rss_ratio']:.3f}, PSS {mem['pss_ratio']:.3f}"
                + (
                    f" (goal ≤ {MEMORY_GOAL}): {verdict(mem['ok'])}"
                    if int(size) == record["memory_goal_size"]
                    else ""
                )
            )
        if "process_per_core_vs_default" in entry:
            check = entry["process_per_core_vs_default"]
            print(
                f"  {size}² geoseg fp32 with a process per core takes {check['seconds']:.2f}× "
                f"the default's seconds at {check['pss']:.2f}× its peak PSS"
            )
    projection = record.get("geoai_projection")
    if projection:
        print(
            f"  geoai memory: {projection['bytes_per_pixel']:.0f} bytes per pixel → "
            f"{projection['projected_peak_mib'] / 1024:.1f} GiB projected at "
            f"{projection['size']}² (machine: {projection['machine_mib'] / 1024:.1f} GiB)"
        )
    for big in record["big"]:
        ok = big["returncode"] == 0
        print(
            f"  {big['size']}² geoseg {big['precision']}: {verdict(ok)} in "
            f"{big['seconds']:.0f} s, peak RSS {big['peak_rss_mib']:.0f} MiB, "
            f"PSS {big['peak_pss_mib']:.0f} MiB ({big['mpx_per_s']:.3f} Mpx/s)"
        )
    print("\nagreement of the target probability (|Δ|: max / mean)")
    for a in record["agreement"]:
        print(
            f"  {a['size']}² {a['pair']}: all {a['all_max']:.2e} / {a['all_mean']:.2e}; "
            f"single-tile {a['single_tile_max']:.2e} / {a['single_tile_mean']:.2e}; "
            f"overlaps {a['overlap_max']:.2e} / {a['overlap_mean']:.2e}; "
            f"outer {OVERLAP} px {a['scene_edge_max']:.2e} / {a['scene_edge_mean']:.2e}  "
            f"(geoseg map mean {a['first_mean']:.3f}, std {a['first_std']:.3f}, "
            f"saturated {a['first_saturated_fraction']:.1%})"
        )
    for size, sums in record["geoai_probability_sums"].items():
        print(
            f"  {size}² geoai: class probabilities sum to 1 ± 1e-3 except on "
            f"{sums['pixels_off_by_1e-3']:,} pixels ({sums['fraction_off']:.2%}); "
            f"lowest sum {sums['lowest_sum']:.2e}"
        )
    s = record.get("seams")
    if s:
        print(
            f"\nseam excess at {s['size']}² (1.0 = none; whole-image map std "
            f"{s['whole_std']:.3f}): geoseg {s['geoseg']:.3f}, geoai {s['geoai']:.3f}; "
            f"mean |tiled − whole|: geoseg {s['geoseg_mean_abs_vs_whole']:.4f}, "
            f"geoai {s['geoai_mean_abs_vs_whole']:.4f}"
        )


def peer_versions(python: Path) -> dict:
    code = (
        "import json, importlib.metadata as m; print(json.dumps({p: m.version(p) for p in "
        "('geoai-py', 'torch', 'torchvision', 'segmentation-models-pytorch', 'rasterio')}))"
    )
    result = subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, env=peer_env(), check=True
    )
    return json.loads(result.stdout)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[4096, 8192],
        help="scene sizes both tools run (default: 4096 8192)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=2,
        help="repeats at every compared size but the largest (default: 2)",
    )
    parser.add_argument(
        "--large-repeats",
        type=int,
        default=2,
        help="repeats at the largest compared size (default: 2)",
    )
    parser.add_argument(
        "--big",
        type=int,
        default=20000,
        help="scene size geoseg alone runs, with --big-precision (default: 20000)",
    )
    parser.add_argument("--big-precision", default="bf16", choices=["fp32", "bf16"])
    parser.add_argument("--no-big", action="store_true", help="skip the geoseg-only scene")
    parser.add_argument(
        "--no-workers-check",
        action="store_true",
        help="skip the geoseg run with a process per core at the smallest size",
    )
    parser.add_argument("--blend", default="spline", help="geoai's blend_mode (default: spline)")
    parser.add_argument(
        "--peer-spec",
        default=PEER_SPEC,
        help=f"pip requirement for the peer (default: {PEER_SPEC})",
    )
    parser.add_argument(
        "--seam-size",
        type=int,
        default=STATS_SIZE,
        help=f"compared size that gets the whole-image reference for the seam "
        f"excess (default: {STATS_SIZE})",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the runs (and agreement, seams, big run) of an earlier "
        "peers.json for the sizes not measured now: a long benchmark in parts",
    )
    return parser.parse_args(argv)


def write(record: dict) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=2, default=str) + "\n")


def reuse_earlier(record: dict, sizes: list[int], keep_big: bool) -> list[int]:
    """Copy into ``record`` every run of the last ``peers.json`` (runs made now at the same sizes
    add repeats after them), its agreement, sums and seams at sizes not measured now, and its big
    run when ``keep_big``; all the compared sizes, sorted."""
    if not RESULTS.exists():
        return sizes
    earlier = json.loads(RESULTS.read_text())
    if earlier.get("card") != json.loads(json.dumps(record["card"])):
        raise SystemExit(f"{RESULTS}: measured with another model card; cannot --reuse it")
    kept = sorted({r["size"] for r in earlier["runs"]})
    record["runs"] = earlier["runs"]
    record["agreement"] = [a for a in earlier["agreement"] if a["size"] not in sizes]
    record["geoai_probability_sums"] = {
        int(k): v
        for k, v in earlier.get("geoai_probability_sums", {}).items()
        if int(k) not in sizes
    }
    if earlier.get("seams") and earlier["seams"]["size"] not in sizes:
        record["seams"] = earlier["seams"]
    if keep_big:
        record["big"] = earlier.get("big", [])
    record["reused"] = {
        "sizes": kept,
        "revision": earlier.get("revision"),
        "options": earlier.get("options"),
        "reused": earlier.get("reused"),
    }
    record["memory_goal_size"] = max([*sizes, *kept])
    print(
        f"reusing the runs at {', '.join(f'{k}²' for k in kept) or 'no size'} from "
        f"{RESULTS.relative_to(ROOT)}",
        flush=True,
    )
    return sorted({*sizes, *kept})


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    import torch

    from geoseg import __version__
    from geoseg.models.torch_models import bf16_emulated, pick_device

    gpu = torch.cuda.is_available()
    precisions = ["fp32", "bf16"]
    if why := bf16_emulated(pick_device()):
        print(f"geoseg bf16 skipped: {why}")
        precisions, options.big_precision = ["fp32"], "fp32"
    sizes = sorted(set(options.sizes))
    python = ensure_peer_venv(options.peer_spec)
    DRIVER.write_text(DRIVER_SOURCE)
    scenes = {size: ensure_scene(size) for size in sorted({*sizes, STATS_SIZE})}
    mean, std = band_statistics(scenes[STATS_SIZE])
    card = make_checkpoint(mean, std)
    record: dict = {
        "revision": memory.git_revision(),
        "geoseg": __version__,
        "peer": peer_versions(python),
        "options": vars(options),
        "device": "cuda" if gpu else "cpu",
        "cpus": os.cpu_count(),
        "memory_bytes": psutil.virtual_memory().total,
        "card": card,
        "geoai_call": {
            "function": "geoai.inference.predict_geotiff",
            "blend_mode": options.blend,
            "tile_size": TILE,
            "overlap": OVERLAP,
            "batch_size": BATCH,
            "preprocess_fn": "DN x scale, (r - mean) / std (the card's)",
            "model": "smp Unet(resnet34) + softmax",
        },
        "memory_goal_size": sizes[-1],
        "runs": [],
        "agreement": [],
        "geoai_probability_sums": {},
        "big": [],
    }
    compared = sizes
    if options.reuse:
        compared = reuse_earlier(record, sizes, keep_big=options.no_big)
    started = time.perf_counter()
    for size in sizes:
        names = ["geoai fp32", *(f"geoseg {p}" for p in precisions)]
        repeats = options.large_repeats if size == sizes[-1] else options.repeats
        first = 1 + max((r["repeat"] for r in record["runs"] if r["size"] == size), default=-1)
        print(f"\n{size}² ({repeats} repeats, alternating)", flush=True)
        for repeat in range(first, first + repeats):
            for name in order(repeat, names):
                record["runs"].append(
                    run_config(name, scenes[size], size, repeat, python, card, options.blend)
                )
            if size == sizes[0] and repeat == 0 and not options.no_workers_check:
                record["runs"].append(
                    run_config(
                        "geoseg fp32 process per core",
                        scenes[size],
                        size,
                        repeat,
                        python,
                        card,
                        options.blend,
                    )
                )
        last = {
            r["config"]: r for r in record["runs"] if r["size"] == size and r["returncode"] == 0
        }
        if "geoai fp32" in last:
            record["geoai_probability_sums"][size] = probability_sums(
                last["geoai fp32"]["probability"], size
            )
            starts = geoai_starts(size)
            if starts != geoseg_tiling(size).row_starts:
                print(f"  note: geoai's tile starts differ from geoseg's at {size}²")
            for config in ("geoseg fp32", "geoseg bf16"):
                if config in last:
                    record["agreement"].append(
                        {
                            "size": size,
                            "pair": f"{config} vs geoai fp32",
                            "same_tile_starts": starts == geoseg_tiling(size).row_starts,
                        }
                        | agreement(
                            last[config]["probability"],
                            last["geoai fp32"]["probability"],
                            size,
                            starts,
                        )
                    )
            if size == options.seam_size and "geoseg fp32" in last:
                print(f"  whole-image reference at {size}² for the seam excess ...", flush=True)
                record["seams"] = seams(
                    scenes[size],
                    size,
                    last["geoseg fp32"]["probability"],
                    last["geoai fp32"]["probability"],
                )
        write(record)
    if not options.no_big:
        scene = ensure_scene(options.big)
        print(f"\n{options.big}²: geoseg {options.big_precision} alone", flush=True)
        name = f"geoseg {options.big_precision}"
        big = run_config(name, scene, options.big, 0, python, card, options.blend)
        record["big"].append(big)
        shutil.rmtree(Path(big["probability"]).parent.parent, ignore_errors=True)
    rows = summary_rows(record["runs"])
    record["summary"] = list(rows.values())
    record["ratios"] = ratios(record["runs"], rows, compared, gpu)
    record["geoai_projection"] = geoai_projection(rows, compared, options.big)
    record["seconds"] = time.perf_counter() - started
    print_report(record)
    write(record)
    print(f"\nwrote {RESULTS.relative_to(ROOT)}")
    failed = [r for r in record["runs"] + record["big"] if r["returncode"] != 0]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
