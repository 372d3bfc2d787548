"""Peak memory of ``geoseg process`` and ``geoseg vectorize`` on synthetic rasters of growing size.

``process``: for each size (default 5,000² and 20,000² pixels) this generates a 4-band uint16
scene (blue, green, red, nir; band scale 0.0001; EPSG:32722 at 10 m; tiled 512 x 512, deflate +
predictor 2) of smooth forest and cleared patches, then runs ``geoseg process`` with the built-in
model on it.

``vectorize``: for each size (default 5,000² and 20,000²) this generates a single-band uint8 class
raster (same grid and tiling, deflate): class 1 where a smooth field of 150 m-20 km features is
positive, class 0 elsewhere, 4 pixels in a thousand flipped (one-pixel patches and holes), and no
data (255) along the left edge: about 794,000 patches of class 1 at 20,000² (49,000 at 5,000²),
some spanning many windows, the largest of 46 million pixels with 185,000 holes. Then it runs
``geoseg vectorize --class 1 --min-area-ha 0`` on it, which writes one polygon per patch.

Rasters are written under ``benchmarks/data/`` (kept between runs). Each command runs with its own
embedded Dask cluster while this script samples, every 0.2 s, the PSS of the command and all its
descendants (``/proc/PID/smaps_rollup``: shared libraries counted once, not once per worker).
It prints, per command and size, the peak of that sum, the wall time, whether any process of the
tree had torch loaded (and, for ``vectorize``, the polygons written and the GeoPackage's size),
each process's own peak, and the ratio of the largest size's peak to the smallest's, against the
goals: at most 1.5 GiB at 20,000² for both commands and, for ``process``, a ratio of at most 1.3.
Results go to ``benchmarks/results/memory.json``.

PSS splits shared pages among every process that maps them, so other Python processes using the
same environment (a test run, say) lower the numbers: measure on an otherwise idle machine.

Run from the repository root::

    python benchmarks/memory.py                    # both commands
    python benchmarks/memory.py --only vectorize --vectorize-sizes 5000 20000
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import psutil
import pyogrio
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
# Class raster: pixels flipped to the other class (one-pixel patches of class 1 and holes in its
# patches), and no-data columns along the left edge.
SPECKLE = 0.004
NODATA_COLS = 100
CLASS_NODATA = 255

MIB = 1024 * 1024
# Environment variables that change the numbers (workers inherit them), recorded with the results.
MEMORY_ENV = (
    "GDAL_CACHEMAX",
    "GDAL_MAX_DATASET_POOL_SIZE",
    "GDAL_NUM_THREADS",
    "MALLOC_ARENA_MAX",
    "MALLOC_TRIM_THRESHOLD_",
)


# --- synthetic rasters ---------------------------------------------------------------------------


def scene_path(size: int) -> Path:
    return DATA_DIR / f"synthetic_{size}.tif"


def classes_path(size: int) -> Path:
    return DATA_DIR / f"classes_{size}.tif"


def is_complete(path: Path, size: int, count: int) -> bool:
    """Does ``path`` hold a readable raster of ``size`` x ``size`` pixels and ``count`` bands?"""
    try:
        with rasterio.open(path) as src:
            return (src.width, src.height, src.count) == (size, size, count)
    except rasterio.errors.RasterioError:
        return False


def plane_waves(
    rows: np.ndarray,
    cols: np.ndarray,
    rng: np.random.Generator,
    count: int,
    wavelengths_m: tuple[float, float],
    amplitudes: tuple[float, float],
    bias: float = 0.0,
) -> np.ndarray:
    """``bias`` plus ``count`` random plane waves ``A sin(a·x + b·y + φ)`` at ``rows x cols``.

    Each wave is expanded into two outer products of 1-D sines, so a window costs a few
    multiply-adds per pixel and wave. ``rng`` must be seeded the same for every window so that all
    windows see the same waves.
    """
    x, y = cols.astype(np.float64) * PIXEL_M, rows.astype(np.float64) * PIXEL_M
    field = np.full((len(rows), len(cols)), bias, np.float32)
    for _ in range(count):
        wavelength = rng.uniform(*wavelengths_m)
        angle, phase = rng.uniform(0.0, np.pi), rng.uniform(0.0, 2 * np.pi)
        a = 2 * np.pi / wavelength * np.cos(angle)
        b = 2 * np.pi / wavelength * np.sin(angle)
        amplitude = np.float32(rng.uniform(*amplitudes))
        sx, cx = np.sin(a * x + phase).astype(np.float32), np.cos(a * x + phase).astype(np.float32)
        sy, cy = np.sin(b * y).astype(np.float32), np.cos(b * y).astype(np.float32)
        field += amplitude * (np.outer(cy, sx) + np.outer(sy, cx))
    return field


def forest_cover(rows: np.ndarray, cols: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Forest fraction in [0, 1] at pixel ``rows x cols``: a smooth field of 1.5-12 km features.

    A steep logistic turns the waves into mostly-forest and mostly-cleared patches with short
    transitions; the bias makes about two thirds forest.
    """
    field = plane_waves(rows, cols, rng, 8, (1500.0, 12000.0), (0.2, 0.5), bias=0.35)
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


def class_window(window: Window, seed: int) -> np.ndarray:
    """The class raster in ``window``: ``(rows, cols)`` uint8, the same whatever the order.

    Class 1 where broad waves (3-20 km: patches across many windows) plus short ones (150-800 m:
    ragged edges, islands and lakes) are positive, 0 elsewhere; then a fraction ``SPECKLE`` of
    the pixels flips class, and the ``NODATA_COLS`` leftmost columns are no data.
    """
    rows = np.arange(window.row_off, window.row_off + window.height)
    cols = np.arange(window.col_off, window.col_off + window.width)
    rng = np.random.default_rng(seed)
    field = plane_waves(rows, cols, rng, 6, (3000.0, 20000.0), (0.3, 0.6)) + plane_waves(
        rows, cols, rng, 12, (150.0, 800.0), (0.05, 0.15)
    )
    speckle_rng = np.random.default_rng([seed, int(window.row_off), int(window.col_off)])
    flipped = speckle_rng.random(field.shape, dtype=np.float32) < SPECKLE
    classes = ((field > 0) ^ flipped).astype(np.uint8)
    classes[:, cols < NODATA_COLS] = CLASS_NODATA
    return classes


def strips(size: int) -> Iterator[Window]:
    for row in range(0, size, STRIP):
        yield Window(0, row, size, min(STRIP, size - row))


def geotiff_profile(size: int) -> dict:
    """Creation options shared by the scenes and class rasters (add count and dtype)."""
    return {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "crs": CRS,
        "transform": Affine(PIXEL_M, 0.0, 500_000.0, 0.0, -PIXEL_M, 8_000_000.0),
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
        "bigtiff": "IF_SAFER",
        "num_threads": "ALL_CPUS",
    }


def temporary_path(path: Path) -> Path:
    """Where ``path`` is written before it is renamed into place, once complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.tmp")


def generate_scene(path: Path, size: int, seed: int = 0) -> None:
    """Write a ``size`` x ``size`` synthetic scene to ``path``, one strip of tiles at a time."""
    profile = geotiff_profile(size) | {"count": len(BANDS), "dtype": "uint16", "predictor": 2}
    tmp = temporary_path(path)
    with rasterio.open(tmp, "w", **profile) as dst:
        dst.descriptions = BANDS
        dst.scales = (SCALE,) * len(BANDS)
        dst.offsets = (0.0,) * len(BANDS)
        for window in strips(size):
            dst.write(scene_window(window, seed), window=window)
    os.replace(tmp, path)


def generate_classes(path: Path, size: int, seed: int = 1) -> None:
    """Write a ``size`` x ``size`` class raster to ``path``, one strip of tiles at a time."""
    profile = geotiff_profile(size) | {"count": 1, "dtype": "uint8", "nodata": CLASS_NODATA}
    tmp = temporary_path(path)
    with rasterio.open(tmp, "w", **profile) as dst:
        for window in strips(size):
            dst.write(class_window(window, seed), 1, window=window)
    os.replace(tmp, path)


def ensure(
    path: Path, size: int, count: int, generate: Callable[[Path, int], None], regenerate: bool
) -> float | None:
    """Generate the raster at ``path`` unless already there; how long that took (None: kept)."""
    if not regenerate and is_complete(path, size, count):
        return None
    start = time.perf_counter()
    generate(path, size)
    return time.perf_counter() - start


def provenance(path: Path, generation_s: float | None) -> str:
    made = "already there" if generation_s is None else f"generated in {generation_s:.0f} s"
    return f"{path.name} ({path.stat().st_size / MIB:.0f} MiB, {made})"


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


def sample(
    tree: list[psutil.Process], seen: dict[int, ProcessPeak], elapsed: float
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
    return Measurement(
        cmd, proc.returncode, wall, peak, peak_at, samples, list(seen.values()), tail
    )


# --- geoseg process and geoseg vectorize ----------------------------------------------------------


def geoseg(*args: str, options: argparse.Namespace) -> list[str]:
    """A ``geoseg`` command line from this interpreter's environment, with ``--workers``."""
    cmd = [str(Path(sys.executable).parent / "geoseg"), *args]
    return cmd if options.workers is None else [*cmd, "--workers", str(options.workers)]


def geoseg_command(scene: Path, out: Path, options: argparse.Namespace) -> list[str]:
    """``geoseg process`` with the pass-through options."""
    return (
        geoseg(
            "process", str(scene), "-o", str(out), "--overwrite", "--no-progress", options=options
        )
        + options.geoseg_args
    )


def vectorize_command(classes: Path, out: Path, options: argparse.Namespace) -> list[str]:
    """``geoseg vectorize``: every patch of class 1 becomes a polygon (no minimum area)."""
    return geoseg(
        "vectorize",
        str(classes),
        "-o",
        str(out),
        "--class",
        "1",
        "--min-area-ha",
        "0",
        options=options,
    )


def role(command: str) -> str:
    """What a process of a ``geoseg`` tree is, from its command line."""
    if "spawn_main" in command:
        return "dask worker"
    if "resource_tracker" in command:
        return "multiprocessing resource tracker"
    if "geoseg" in command:
        return "geoseg (client, scheduler, nannies)"
    return command[:60]


def file_sizes(folder: Path) -> dict[str, int]:
    return {
        str(p.relative_to(folder)): p.stat().st_size
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def measured(measurement: Measurement) -> dict:
    """A measurement as a run's record: peak, torch, each process with its role, the rest."""
    if measurement.returncode != 0:
        print(measurement.output_tail, file=sys.stderr)
    return {
        "peak_pss_mib": measurement.peak_mib,
        "torch_loaded": measurement.torch_loaded,
        "processes": [asdict(p) | {"role": role(p.command)} for p in measurement.processes],
        **{k: v for k, v in asdict(measurement).items() if k not in ("peak_mib", "processes")},
    }


def run_size(size: int, options: argparse.Namespace) -> dict:
    """Generate (if needed) and process the scene of ``size`` pixels; the run's record."""
    scene = scene_path(size)
    generation_s = ensure(scene, size, len(BANDS), generate_scene, options.regenerate)
    print(f"process {size}²: {provenance(scene, generation_s)}; processing ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="geoseg-memory-") as tmp:
        measurement = measure_peak_pss(geoseg_command(scene, Path(tmp), options))
        outputs = file_sizes(Path(tmp))
    return {
        "size": size,
        "scene": str(scene),
        "scene_bytes": scene.stat().st_size,
        "generation_s": generation_s,
        "output_bytes": outputs,
    } | measured(measurement)


def run_vectorize_size(size: int, options: argparse.Namespace) -> dict:
    """Generate (if needed) and vectorize the class raster of ``size`` pixels; the run's record."""
    classes = classes_path(size)
    generation_s = ensure(classes, size, 1, generate_classes, options.regenerate)
    print(f"vectorize {size}²: {provenance(classes, generation_s)}; vectorizing ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="geoseg-memory-") as tmp:
        out = Path(tmp) / "polygons.gpkg"
        measurement = measure_peak_pss(vectorize_command(classes, out, options))
        written = out.exists()
        polygons = pyogrio.read_info(out, layer="polygons")["features"] if written else None
        gpkg_bytes = out.stat().st_size if written else None
    return {
        "size": size,
        "classes": str(classes),
        "classes_bytes": classes.stat().st_size,
        "generation_s": generation_s,
        "polygons": polygons,
        "gpkg_bytes": gpkg_bytes,
    } | measured(measurement)


# --- report --------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def summarize(runs: list[dict], ratio_goal: float | None) -> dict:
    """Goals checked on the largest and smallest sizes measured (ratio_goal None: none)."""
    small, large = min(runs, key=lambda r: r["size"]), max(runs, key=lambda r: r["size"])
    ratio = large["peak_pss_mib"] / small["peak_pss_mib"] if small["peak_pss_mib"] else math.nan
    return {
        "largest": large["size"],
        "smallest": small["size"],
        "largest_peak_mib": large["peak_pss_mib"],
        "ratio": ratio,
        "peak_goal_mib": PEAK_GOAL_MIB,
        "ratio_goal": ratio_goal,
        "peak_ok": large["peak_pss_mib"] <= PEAK_GOAL_MIB,
        "ratio_ok": None if ratio_goal is None else ratio <= ratio_goal,
        "torch_ok": not any(r["torch_loaded"] for r in runs),
        "all_succeeded": all(r["returncode"] == 0 for r in runs),
    }


def polygons_written(run: dict) -> str:
    """Polygons and GeoPackage size of a ``vectorize`` run, as two report columns."""
    if run["polygons"] is None:
        return f"{'-':>10}  {'-':>9}"
    return f"{run['polygons']:>10,}  {run['gpkg_bytes'] / MIB:>9.0f}"


def print_runs(command: str, runs: list[dict]) -> None:
    """One line per size, then each process's own peak and its PSS at the tree's peak."""
    vectorizing = command == "vectorize"
    print(
        f"\ngeoseg {command}\n{'size':>8}  {'peak PSS (MiB)':>14}  {'at (s)':>7}  "
        f"{'wall (s)':>8}  {'torch':>5}  {'exit':>4}"
        + (f"  {'polygons':>10}  {'gpkg (MiB)':>9}" if vectorizing else "")
    )
    for r in runs:
        torch = "yes" if r["torch_loaded"] else "no"
        print(
            f"{r['size']:>7}²  {r['peak_pss_mib']:>14.0f}  {r['peak_at_s']:>7.1f}  "
            f"{r['wall_s']:>8.1f}  {torch:>5}  {r['returncode']:>4}"
            + (f"  {polygons_written(r)}" if vectorizing else "")
        )
    for r in runs:
        print(
            f"\n{command} {r['size']}²: per process: own peak (MiB) at (s), "
            f"PSS at the tree's peak (MiB)"
        )
        for p in sorted(r["processes"], key=lambda p: -p["peak_mib"]):
            print(
                f"  {p['pid']:>7}  {p['peak_mib']:>7.0f} at {p['peak_at_s']:>6.1f}  "
                f"{p['at_tree_peak_mib']:>7.0f}  {p['role']}"
            )


def print_summary(command: str, s: dict) -> None:
    print(
        f"{command}: peak at {s['largest']}²: {s['largest_peak_mib']:.0f} MiB "
        f"(goal ≤ {s['peak_goal_mib']:.0f} MiB): {verdict(s['peak_ok'])}"
    )
    goal = (
        "(no goal)"
        if s["ratio_goal"] is None
        else f"(goal ≤ {s['ratio_goal']}): {verdict(s['ratio_ok'])}"
    )
    print(f"{command}: ratio {s['largest']}²/{s['smallest']}²: {s['ratio']:.2f} {goal}")
    print(f"{command}: torch loaded: {'no' if s['torch_ok'] else 'YES'}: {verdict(s['torch_ok'])}")


def print_report(results: dict[str, dict]) -> None:
    for command, result in results.items():
        print_runs(command, result["runs"])
    print()
    for command, result in results.items():
        print_summary(command, result["summary"])


# The commands measured: how to measure one size, and the goal on their ratio (None: shown only).
RUNNERS: dict[str, Callable[[int, argparse.Namespace], dict]] = {
    "process": run_size,
    "vectorize": run_vectorize_size,
}
RATIO_GOALS: dict[str, float | None] = {"process": RATIO_GOAL, "vectorize": None}


def git_revision() -> str:
    """The checkout measured: ``git describe --always --dirty`` of this repository."""
    result = subprocess.run(
        ["git", "describe", "--always", "--dirty"],
        cwd=HERE,
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() or "unknown"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Arguments after -- go to geoseg process: ... -- --tile 256 --no-polygons",
    )
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[5000, 20000],
        help="scene sizes for process, pixels per side (default: 5000 20000)",
    )
    parser.add_argument(
        "--vectorize-sizes",
        type=int,
        nargs="+",
        default=[5000, 20000],
        help="class raster sizes for vectorize, pixels per side (default: 5000 20000)",
    )
    parser.add_argument(
        "--only", choices=list(RUNNERS), help="measure only this command (default: both)"
    )
    parser.add_argument("--workers", type=int, help="geoseg --workers (default: geoseg's)")
    parser.add_argument(
        "--regenerate",
        action="store_true",
        help="write the scenes and class rasters again even if they exist",
    )
    parser.add_argument(
        "geoseg_args", nargs="*", metavar="-- GEOSEG_ARGS", help="more options for geoseg process"
    )
    return parser.parse_args(argv)


def measure_command(command: str, sizes: list[int], options: argparse.Namespace) -> dict:
    """Runs of ``command`` at each size, smallest first, and their summary."""
    runs = [RUNNERS[command](size, options) for size in sorted(set(sizes))]
    return {"summary": summarize(runs, RATIO_GOALS[command]), "runs": runs}


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    revision = git_revision()  # before the runs: the checkout may move while they go
    sizes = {"process": options.sizes, "vectorize": options.vectorize_sizes}
    commands = [options.only] if options.only else list(RUNNERS)
    results = {command: measure_command(command, sizes[command], options) for command in commands}
    print_report(results)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    env = {k: os.environ[k] for k in MEMORY_ENV if k in os.environ}
    record = {
        "revision": revision,
        "options": vars(options),
        "environment": env,
        "cpus": os.cpu_count(),
        "memory_bytes": psutil.virtual_memory().total,
        **results,
    }
    RESULTS.write_text(json.dumps(record, indent=2) + "\n")
    print(f"\nwrote {RESULTS}")
    return 0 if all(r["summary"]["all_succeeded"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
