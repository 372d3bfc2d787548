"""Peak memory of ``geoseg process`` with the built-in model, on synthetic scenes of growing size.

For each size (default 5,000² and 20,000² pixels) this generates a 4-band uint16 scene
(blue, green, red, nir; band scale 0.0001; EPSG:32722 at 10 m; tiled 512 x 512, deflate +
predictor 2) of smooth forest and cleared patches under ``benchmarks/data/`` (kept between runs),
then runs ``geoseg process`` on it and samples, every 0.2 s, the PSS of the command and all its
descendants (``/proc/PID/smaps_rollup``: shared libraries counted once, not once per worker).
It prints the peak of that sum per size, the wall time, whether any process of the tree had torch
loaded, and the ratio of the largest size's peak to the smallest's, against the goals:
at most 1.5 GiB at 20,000² and a ratio of at most 1.3. Results go to
``benchmarks/results/memory.json``.

PSS splits shared pages among every process that maps them, so other Python processes using the
same environment (a test run, say) lower the numbers: measure on an otherwise idle machine.

Run from the repository root::

    python benchmarks/memory.py
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import psutil
import rasterio
from affine import Affine
from rasterio.windows import Window

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE / "data"
RESULTS = HERE / "results" / "memory.json"

PEAK_GOAL_MIB = 1.5 * 1024  # at the largest size
RATIO_GOAL = 1.3  # peak at the largest size / peak at the smallest

BANDS = ("blue", "green", "red", "nir")
SCALE = 1e-4  # reflectance = DN x SCALE
# Reflectance of closed canopy (NDVI ≈ 0.87) and of cleared land (NDVI ≈ 0.29), per band.
FOREST = np.array([0.020, 0.040, 0.025, 0.350], np.float32)
CLEARED = np.array([0.060, 0.090, 0.120, 0.220], np.float32)
NOISE_DN = 25  # uniform noise amplitude, in DN
STRIP = 512  # rows generated and written at once (one row of the file's 512 x 512 tiles)
PIXEL_M = 10.0
CRS = "EPSG:32722"

MIB = 1024 * 1024
# Environment variables that change the numbers (workers inherit them), recorded with the results.
MEMORY_ENV = ("GDAL_CACHEMAX", "GDAL_MAX_DATASET_POOL_SIZE", "GDAL_NUM_THREADS", "MALLOC_ARENA_MAX",
              "MALLOC_TRIM_THRESHOLD_")


# --- synthetic scenes ---------------------------------------------------------------------------


def scene_path(size: int) -> Path:
    return DATA_DIR / f"synthetic_{size}.tif"


def is_complete(path: Path, size: int) -> bool:
    """Does ``path`` hold a readable scene of ``size`` x ``size`` pixels and 4 bands?"""
    try:
        with rasterio.open(path) as src:
            return (src.width, src.height, src.count) == (size, size, len(BANDS))
    except rasterio.errors.RasterioError:
        return False


def forest_cover(rows: np.ndarray, cols: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Forest fraction in [0, 1] at pixel ``rows x cols``: a smooth field of 1.5-12 km features.

    The field is a sum of plane waves ``sin(a·x + b·y + φ)``, each expanded into two outer
    products of 1-D sines, so a window costs a few multiply-adds per pixel. A steep logistic turns
    it into mostly-forest and mostly-cleared patches with short transitions. ``rng`` must be seeded
    the same for every window so that all windows see the same waves.
    """
    x, y = cols.astype(np.float64) * PIXEL_M, rows.astype(np.float64) * PIXEL_M
    field = np.full((len(rows), len(cols)), 0.35, np.float32)  # bias: about two thirds forest
    for _ in range(8):
        wavelength = rng.uniform(1500.0, 12000.0)
        angle, phase = rng.uniform(0.0, np.pi), rng.uniform(0.0, 2 * np.pi)
        a = 2 * np.pi / wavelength * np.cos(angle)
        b = 2 * np.pi / wavelength * np.sin(angle)
        amplitude = np.float32(rng.uniform(0.2, 0.5))
        sx, cx = np.sin(a * x + phase).astype(np.float32), np.cos(a * x + phase).astype(np.float32)
        sy, cy = np.sin(b * y).astype(np.float32), np.cos(b * y).astype(np.float32)
        field += amplitude * (np.outer(cy, sx) + np.outer(sy, cx))
    return 1.0 / (1.0 + np.exp(-field / np.float32(0.08)))


def scene_window(window: Window, seed: int) -> np.ndarray:
    """The scene's DNs in ``window``: ``(4, rows, cols)`` uint16, the same whatever the order."""
    rows = np.arange(window.row_off, window.row_off + window.height)
    cols = np.arange(window.col_off, window.col_off + window.width)
    cover = forest_cover(rows, cols, np.random.default_rng(seed))[None]
    reflectance = cover * FOREST[:, None, None] + (1.0 - cover) * CLEARED[:, None, None]
    noise_rng = np.random.default_rng([seed, int(window.row_off), int(window.col_off)])
    noise = noise_rng.integers(-NOISE_DN, NOISE_DN + 1, reflectance.shape, dtype=np.int16)
    return np.clip(reflectance / SCALE + noise, 1, 10_000).astype(np.uint16)


def strips(size: int) -> Iterator[Window]:
    for row in range(0, size, STRIP):
        yield Window(0, row, size, min(STRIP, size - row))


def generate_scene(path: Path, size: int, seed: int = 0) -> None:
    """Write a ``size`` x ``size`` synthetic scene to ``path``, one strip of tiles at a time."""
    profile = {
        "driver": "GTiff", "width": size, "height": size, "count": len(BANDS), "dtype": "uint16",
        "crs": CRS, "transform": Affine(PIXEL_M, 0.0, 500_000.0, 0.0, -PIXEL_M, 8_000_000.0),
        "tiled": True, "blockxsize": 512, "blockysize": 512, "compress": "deflate",
        "predictor": 2, "bigtiff": "IF_SAFER", "num_threads": "ALL_CPUS",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with rasterio.open(tmp, "w", **profile) as dst:
        dst.descriptions = BANDS
        dst.scales = (SCALE,) * len(BANDS)
        dst.offsets = (0.0,) * len(BANDS)
        for window in strips(size):
            dst.write(scene_window(window, seed), window=window)
    os.replace(tmp, path)


def ensure_scene(size: int, regenerate: bool) -> tuple[Path, float | None]:
    """The scene of ``size`` pixels, generated unless already there; and how long that took."""
    path = scene_path(size)
    if not regenerate and is_complete(path, size):
        return path, None
    start = time.perf_counter()
    generate_scene(path, size)
    return path, time.perf_counter() - start


# --- memory of a process tree -------------------------------------------------------------------


@dataclass
class ProcessPeak:
    """One process of the measured tree: its command, its own peak PSS and its PSS at the tree's."""

    pid: int
    command: str = ""
    peak_mib: float = 0.0
    peak_at_s: float = 0.0  # seconds after the start
    at_tree_peak_mib: float = 0.0
    torch: bool = False


@dataclass
class Measurement:
    """Peak PSS summed over a command's process tree, sampled while it ran."""

    command: list[str]
    returncode: int
    wall_s: float
    peak_mib: float
    peak_at_s: float
    samples: int
    processes: list[ProcessPeak] = field(default_factory=list)
    output_tail: str = ""

    @property
    def torch_loaded(self) -> bool:
        return any(p.torch for p in self.processes)


def pss_kib(pid: int) -> int | None:
    """Proportional set size of ``pid`` in KiB, or None once it has gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return None


def has_torch(pid: int) -> bool:
    """Is a torch library (``libtorch*.so``) mapped into ``pid``?"""
    try:
        with open(f"/proc/{pid}/maps") as f:
            return any("libtorch" in line for line in f)
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False


def process_tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def command_line(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:
        return ""


def sample(tree: list[psutil.Process], seen: dict[int, ProcessPeak], elapsed: float
           ) -> dict[int, float]:
    """PSS in MiB of each process of ``tree`` still alive; updates ``seen`` (peaks, torch)."""
    current: dict[int, float] = {}
    for process in tree:
        kib = pss_kib(process.pid)
        if kib is None:
            continue
        current[process.pid] = mib = kib / 1024
        peak = seen.setdefault(process.pid, ProcessPeak(process.pid))
        # Read every time: until it execs, the command's process is a copy of this one.
        peak.command = command_line(process) or peak.command
        if mib > peak.peak_mib:
            peak.peak_mib, peak.peak_at_s = mib, elapsed
        peak.torch = peak.torch or has_torch(process.pid)
    return current


def measure_peak_pss(cmd: list[str], interval: float = 0.2) -> Measurement:
    """Run ``cmd`` and sample the PSS of it and all its descendants every ``interval`` s."""
    seen: dict[int, ProcessPeak] = {}
    peak, peak_at, at_peak, samples = 0.0, 0.0, {}, 0
    with tempfile.TemporaryFile("w+") as log:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        root = psutil.Process(proc.pid)
        while proc.poll() is None:
            elapsed = time.perf_counter() - start
            current = sample(process_tree(root), seen, elapsed)
            samples += 1
            if sum(current.values()) > peak:
                peak, peak_at, at_peak = sum(current.values()), elapsed, current
            time.sleep(interval)
        wall = time.perf_counter() - start
        log.seek(0)
        tail = log.read()[-4000:]
    for pid, mib in at_peak.items():
        seen[pid].at_tree_peak_mib = mib
    return Measurement(cmd, proc.returncode, wall, peak, peak_at, samples, list(seen.values()),
                       tail)


# --- geoseg process ------------------------------------------------------------------------------


def geoseg_command(scene: Path, out: Path, options: argparse.Namespace) -> list[str]:
    """``geoseg process`` from this interpreter's environment, with the pass-through options."""
    cmd = [str(Path(sys.executable).parent / "geoseg"), "process", str(scene), "-o", str(out),
           "--overwrite", "--no-progress"]
    if options.workers is not None:
        cmd += ["--workers", str(options.workers)]
    return cmd + options.geoseg_args


def role(command: str) -> str:
    """What a process of a ``geoseg process`` tree is, from its command line."""
    if "spawn_main" in command:
        return "dask worker"
    if "resource_tracker" in command:
        return "multiprocessing resource tracker"
    if "geoseg" in command:
        return "geoseg (client, scheduler, nannies)"
    return command[:60]


def file_sizes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in sorted(folder.rglob("*"))
            if p.is_file()}


def run_size(size: int, options: argparse.Namespace) -> dict:
    """Generate (if needed) and process the scene of ``size`` pixels; the run's record."""
    scene, generation_s = ensure_scene(size, options.regenerate)
    made = "already there" if generation_s is None else f"generated in {generation_s:.0f} s"
    print(f"{size}²: {scene.name} ({scene.stat().st_size / MIB:.0f} MiB, {made}); processing ...",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="geoseg-memory-") as tmp:
        measurement = measure_peak_pss(geoseg_command(scene, Path(tmp), options))
        outputs = file_sizes(Path(tmp))
    if measurement.returncode != 0:
        print(measurement.output_tail, file=sys.stderr)
    return {
        "size": size, "scene": str(scene), "scene_bytes": scene.stat().st_size,
        "generation_s": generation_s, "peak_pss_mib": measurement.peak_mib,
        "torch_loaded": measurement.torch_loaded, "output_bytes": outputs,
        "processes": [asdict(p) | {"role": role(p.command)} for p in measurement.processes],
        **{k: v for k, v in asdict(measurement).items() if k not in ("peak_mib", "processes")},
    }


# --- report --------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def summarize(runs: list[dict]) -> dict:
    """Goals checked on the largest and smallest sizes measured."""
    small, large = min(runs, key=lambda r: r["size"]), max(runs, key=lambda r: r["size"])
    ratio = large["peak_pss_mib"] / small["peak_pss_mib"] if small["peak_pss_mib"] else math.nan
    return {
        "largest": large["size"], "smallest": small["size"],
        "largest_peak_mib": large["peak_pss_mib"], "ratio": ratio,
        "peak_goal_mib": PEAK_GOAL_MIB, "ratio_goal": RATIO_GOAL,
        "peak_ok": large["peak_pss_mib"] <= PEAK_GOAL_MIB,
        "ratio_ok": ratio <= RATIO_GOAL,
        "torch_ok": not any(r["torch_loaded"] for r in runs),
        "all_succeeded": all(r["returncode"] == 0 for r in runs),
    }


def print_report(runs: list[dict], summary: dict) -> None:
    print(f"\n{'size':>8}  {'peak PSS (MiB)':>14}  {'at (s)':>7}  {'wall (s)':>8}  {'torch':>5}  "
          f"{'exit':>4}")
    for r in runs:
        print(f"{r['size']:>7}²  {r['peak_pss_mib']:>14.0f}  {r['peak_at_s']:>7.1f}  "
              f"{r['wall_s']:>8.1f}  {'yes' if r['torch_loaded'] else 'no':>5}  {r['returncode']:>4}")
    for r in runs:
        print(f"\n{r['size']}²: per process: own peak (MiB) at (s), PSS at the tree's peak (MiB)")
        for p in sorted(r["processes"], key=lambda p: -p["peak_mib"]):
            print(f"  {p['pid']:>7}  {p['peak_mib']:>7.0f} at {p['peak_at_s']:>6.1f}  "
                  f"{p['at_tree_peak_mib']:>7.0f}  {p['role']}")
    s = summary
    print(f"\npeak at {s['largest']}²: {s['largest_peak_mib']:.0f} MiB "
          f"(goal ≤ {s['peak_goal_mib']:.0f} MiB): {verdict(s['peak_ok'])}")
    print(f"ratio {s['largest']}²/{s['smallest']}²: {s['ratio']:.2f} "
          f"(goal ≤ {s['ratio_goal']}): {verdict(s['ratio_ok'])}")
    print(f"torch loaded by the built-in model: {'no' if s['torch_ok'] else 'YES'}: "
          f"{verdict(s['torch_ok'])}")


def git_revision() -> str:
    """The checkout measured: ``git describe --always --dirty`` of this repository."""
    result = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=HERE,
                            capture_output=True, text=True, check=False)
    return result.stdout.strip() or "unknown"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Arguments after -- go to geoseg process: ... -- --tile 256 --no-polygons")
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000],
                        help="scene sizes in pixels per side (default: 5000 20000)")
    parser.add_argument("--workers", type=int, help="geoseg --workers (default: geoseg's)")
    parser.add_argument("--regenerate", action="store_true",
                        help="write the scenes again even if they exist")
    parser.add_argument("geoseg_args", nargs="*", metavar="-- GEOSEG_ARGS",
                        help="more options for geoseg process")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    revision = git_revision()  # before the runs: the checkout may move while they go
    runs = [run_size(size, options) for size in sorted(set(options.sizes))]
    summary = summarize(runs)
    print_report(runs, summary)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    env = {k: os.environ[k] for k in MEMORY_ENV if k in os.environ}
    record = {"revision": revision, "options": vars(options), "environment": env,
              "cpus": os.cpu_count(), "memory_bytes": psutil.virtual_memory().total,
              "summary": summary, "runs": runs}
    RESULTS.write_text(json.dumps(record, indent=2) + "\n")
    print(f"\nwrote {RESULTS}")
    return 0 if summary["all_succeeded"] else 1


if __name__ == "__main__":
    sys.exit(main())
