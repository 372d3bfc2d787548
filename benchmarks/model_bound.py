"""Compute bound: geoseg's pipeline throughput with an smp U-Net/ResNet-34 against the model alone.

Scene: benchmarks/memory.py's generated 4-band uint16 scene, 3,072² by default. Model: smp U-Net
with a ResNet-34 encoder, seeded random weights (nothing downloaded), inputs normalised by the
scene's band statistics so activations are realistic, saved as safetensors + card; tile 256,
overlap 64, batch 8 (the issue's setting).

- **pipeline**: ``geoseg.process`` with that checkpoint, polygons off, on one warm embedded
  cluster (the machine's default: one worker process with a thread per core, each task's forward
  pass single-threaded, in passes of ``CPU_FORWARD_TILES`` tiles): reading, normalising,
  inference, blending and writing both COGs, probabilities as uint8 (``--probability-dtype``;
  float32 probabilities take about twice as long to write, all of it in the serial tail after
  the last tile).
- **model alone**: the same number of tiles as the pipeline runs (its ``TileGrid``), real tiles of
  the scene already in memory, ``TorchModel.forward`` (normalise, network on channels_last tensors,
  softmax) over whole batches of 8, nothing else. Timed in three layouts, the fastest being the
  limit: one process with as many torch threads as cores, and one single-threaded process per core
  splitting the batches (the compute of the pipeline's threads), both set up as geoseg sets up its
  workers (one malloc arena, heap kept: ``torch_models.prepare_process``); and the latter with
  glibc's defaults, as a plain Python process runs, which shows what that setup gains.

Sides alternate, round by round (pipeline, model, pipeline, ...): these machines throttle under
sustained load. The ratio is ``model-alone seconds / pipeline seconds`` of the medians, the
pipeline's throughput as a share of the model's. Goal: ≥ 0.95 on CPU.

On a CPU without native bfloat16 (AVX-512 BF16 or AMX) bf16 is skipped: torch emulates it there,
many times slower than fp32. ``--precision bf16`` runs both sides under bfloat16 autocast as well
(``geoseg process --precision bf16``), and reports the speed-up over fp32 and the share of pixels
whose class agrees with the fp32 pipeline's output (goal ≥ 99 %) — for the random network above,
whose outputs sit near 0.5 where any rounding flips a class, and for the trained model shipped with
geoseg on the Sentinel-2 sample (whole image), which is what the goal is about. On a machine with
CUDA the same runs use the GPU ("auto" is then float16 autocast).

    python benchmarks/model_bound.py                       # fp32 and bf16, 3 rounds, 3,072²
    python benchmarks/model_bound.py --precision fp32 --size 4096 --rounds 2

Prints a table and writes ``benchmarks/results/model_bound.json``.
"""

import argparse
import json
import multiprocessing
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
import segmentation_models_pytorch as smp
import torch
from distributed import Client
from memory import BANDS, SCALE, ensure, generate_scene, provenance, scene_path
from rasterio.windows import Window

from geoseg import ProcessConfig, TileGrid, process
from geoseg.cluster.connect import WORKER_ENV, local_cluster
from geoseg.inference import predict_whole
from geoseg.models.base import ModelCard, Normalisation
from geoseg.models.torch_models import (
    bf16_emulated,
    cpu_has_bf16,
    load_checkpoint,
    pick_device,
    prepare_process,
    save_checkpoint,
)

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "model_bound.json"
TILE, OVERLAP, BATCH, STRIDE = 256, 64, 8, 32
GOAL_RATIO, GOAL_AGREEMENT = 0.95, 0.99
CLASSES = ("non_forest", "forest")


def make_checkpoint(scene: Path, folder: Path) -> Path:
    """A seeded random U-Net/R34 normalising by ``scene``'s band statistics (from a central crop)."""
    with rasterio.open(scene) as src:
        crop = src.read(window=Window(src.width // 2 - 512, src.height // 2 - 512, 1024, 1024))
    x = crop.astype(np.float32) * SCALE
    torch.manual_seed(0)
    module = smp.create_model(
        "Unet",
        encoder_name="resnet34",
        encoder_weights=None,
        in_channels=len(BANDS),
        classes=len(CLASSES),
    )
    card = ModelCard(
        name="unet-r34-random",
        architecture="Unet",
        encoder="resnet34",
        bands=BANDS,
        classes=CLASSES,
        target_class="non_forest",
        normalisation=Normalisation(
            mean=tuple(map(float, x.mean(axis=(1, 2)))), std=tuple(map(float, x.std(axis=(1, 2))))
        ),
        edge_margin=16,
        stride=STRIDE,
        tile_size=TILE,
        overlap=OVERLAP,
    )
    return save_checkpoint(module, card, folder / "model.safetensors")


def scene_tiles(scene: Path) -> np.ndarray:
    """One batch of real tiles (reflectance) from the middle of the scene."""
    with rasterio.open(scene) as src:
        side = int(np.ceil(np.sqrt(BATCH)))
        x0, y0 = src.width // 2 - side * TILE // 2, src.height // 2 - side * TILE // 2
        tiles = [
            src.read(window=Window(x0 + (i % side) * TILE, y0 + (i // side) * TILE, TILE, TILE))
            for i in range(BATCH)
        ]
    return np.stack(tiles).astype(np.float32) * SCALE


# --- the model alone, in worker processes ----------------------------------------------------------

_worker: dict = {}


def _init(checkpoint: str, precision: str, threads: int, batch: np.ndarray, tuned: bool) -> None:
    if tuned:
        prepare_process(threads)  # torch threads and the heap, as geoseg's workers
    else:
        torch.set_num_threads(threads)
    model = load_checkpoint(checkpoint, precision)
    _worker.update(model=model, batch=torch.from_numpy(batch))


def _forward(n_batches: int) -> float:
    """``n_batches`` passes of the whole batch through ``TorchModel.forward`` (normalise,
    network, softmax): the pipeline's own forward pass, at its fastest batch."""
    model, batch = _worker["model"], _worker["batch"]
    start = time.perf_counter()
    for _ in range(n_batches):
        model.forward(batch)
    if model.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


class ModelAlone:
    """``processes`` workers with ``threads`` torch threads each, the model loaded and warm.

    ``tuned``: the process is set up as geoseg sets up its workers (one malloc arena, heap kept:
    ``torch_models.prepare_process``); otherwise glibc's defaults, as in a plain Python process.
    """

    def __init__(
        self,
        checkpoint: Path,
        precision: str,
        processes: int,
        threads: int,
        batch: np.ndarray,
        tuned: bool = True,
    ) -> None:
        self.processes = processes
        # Dask's nanny copies its worker environment into this process's environment: start
        # the pool from a plain one, plus what geoseg gives its workers when ``tuned``.
        environ = dict(os.environ)
        for name in ("MALLOC_TRIM_THRESHOLD_", "MALLOC_ARENA_MAX"):
            os.environ.pop(name, None)
        if tuned:
            os.environ["MALLOC_ARENA_MAX"] = WORKER_ENV["MALLOC_ARENA_MAX"]
        try:
            self.pool = multiprocessing.get_context("spawn").Pool(
                processes, _init, (str(checkpoint), precision, threads, batch, tuned)
            )
            self.pool.map(_forward, [1] * processes)  # load and warm up every worker
        finally:
            os.environ.clear()
            os.environ.update(environ)

    def seconds(self, n_tiles: int) -> float:
        n_batches = -(-n_tiles // BATCH)
        shares = [
            n_batches // self.processes + (i < n_batches % self.processes)
            for i in range(self.processes)
        ]
        start = time.perf_counter()
        self.pool.map(_forward, shares)
        return time.perf_counter() - start

    def close(self) -> None:
        self.pool.terminate()


# --- the pipeline ---------------------------------------------------------------------------------


def pipeline_seconds(
    scene: Path, checkpoint: Path, precision: str, out: Path, client: Client, probability_dtype: str
) -> float:
    config = ProcessConfig(
        model=str(checkpoint),
        precision=precision,
        polygons=None,
        batch_size=BATCH,
        overwrite=True,
        probability_dtype=probability_dtype,
    )
    start = time.perf_counter()
    [result] = process(scene, out, config, client=client)
    if result.status != "done":
        raise RuntimeError(f"geoseg failed: {result.message}")
    return time.perf_counter() - start


def class_agreement(a: Path, b: Path) -> float:
    """Share of pixels with the same class in two classes.tif, read window by window."""
    same = total = 0
    with rasterio.open(a) as ra, rasterio.open(b) as rb:
        for _, window in ra.block_windows(1):
            x, y = ra.read(1, window=window), rb.read(1, window=window)
            same += int((x == y).sum())
            total += x.size
    return same / total


def trained_model_agreement() -> float:
    """Class agreement of bf16 with fp32 for the shipped U-Net on the Sentinel-2 sample."""
    from geoseg import find_scenes, open_scene
    from geoseg.models import resolve_model

    sample = HERE.parent / "samples" / "aberystwyth_s2_2021-05-27.tif"
    ref = resolve_model("builtin:unet-mobilenetv2-aberystwyth")
    scene = open_scene(find_scenes(sample)[0])
    classes = []
    for precision in ("fp32", "bf16"):
        model = load_checkpoint(ref.spec, precision)
        x, _ = scene.read(Window(0, 0, scene.grid.width, scene.grid.height), model.card.bands)
        classes.append(predict_whole(model, x, model.card.bands).argmax(0))
    return float((classes[0] == classes[1]).mean())


def measure(
    precision: str,
    args: argparse.Namespace,
    scene: Path,
    checkpoint: Path,
    n_tiles: int,
    client: Client,
    work: Path,
) -> dict:
    cores = os.cpu_count() or 1
    device = pick_device()
    batch = scene_tiles(scene)
    layouts = (
        {"1 process x all threads": ModelAlone(checkpoint, precision, 1, cores, batch)}
        if device.type == "cuda"
        else {
            f"1 process x {cores} threads": ModelAlone(checkpoint, precision, 1, cores, batch),
            f"{cores} processes x 1 thread": ModelAlone(checkpoint, precision, cores, 1, batch),
            f"{cores} processes x 1 thread, glibc defaults": ModelAlone(
                checkpoint, precision, cores, 1, batch, tuned=False
            ),
        }
    )
    rows = []
    try:
        for round_ in range(args.rounds):
            out = work / f"{precision}-{round_}"
            rows.append(
                {
                    "round": round_ + 1,
                    "side": "pipeline",
                    "seconds": pipeline_seconds(
                        scene, checkpoint, precision, out, client, args.probability_dtype
                    ),
                }
            )
            if round_ < args.rounds - 1:
                shutil.rmtree(out)
            for name, alone in layouts.items():
                rows.append(
                    {
                        "round": round_ + 1,
                        "side": f"model alone, {name}",
                        "seconds": alone.seconds(n_tiles),
                    }
                )
            for row in rows[-1 - len(layouts) :]:
                print(
                    f"{precision:5s} round {row['round']}  {row['side']:48s} "
                    f"{row['seconds']:7.1f} s  {n_tiles * TILE**2 / row['seconds'] / 1e6:5.2f} "
                    f"Mpx/s of tiles",
                    flush=True,
                )
    finally:
        for alone in layouts.values():
            alone.close()
    medians = {
        side: statistics.median(r["seconds"] for r in rows if r["side"] == side)
        for side in dict.fromkeys(r["side"] for r in rows)
    }
    model_side = min((s for s in medians if s != "pipeline"), key=medians.get)
    return {
        "precision": precision,
        "device": device.type,
        "rows": rows,
        "medians": medians,
        "limit_layout": model_side,
        "ratio": medians[model_side] / medians["pipeline"],
        "pipeline_mpx_per_s": args.size**2 / medians["pipeline"] / 1e6,
        "classes": str(work / f"{precision}-{args.rounds - 1}" / scene.stem / "classes.tif"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=3072, help="scene side, pixels")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    parser.add_argument("--precision", choices=("fp32", "bf16", "both"), default="both")
    parser.add_argument("--probability-dtype", choices=("float32", "uint8"), default="uint8")
    args = parser.parse_args()
    scene = scene_path(args.size)
    made = ensure(scene, args.size, len(BANDS), generate_scene, regenerate=False)
    print(f"scene: {provenance(scene, made)}; device: {pick_device()}")
    n_tiles = TileGrid(args.size, args.size, TILE, OVERLAP, align=STRIDE).n_tiles
    precisions = ("fp32", "bf16") if args.precision == "both" else (args.precision,)
    if "bf16" in precisions and (why := bf16_emulated(pick_device())):
        print(f"bf16 skipped: {why}")
        precisions = tuple(p for p in precisions if p != "bf16")
        if not precisions:
            return
    with (
        tempfile.TemporaryDirectory(dir=HERE / "data") as work,
        local_cluster() as cluster,
        Client(cluster) as client,
    ):
        checkpoint = make_checkpoint(scene, Path(work))
        runs = [
            measure(p, args, scene, checkpoint, n_tiles, client, Path(work)) for p in precisions
        ]
        agreement = (
            class_agreement(Path(runs[0]["classes"]), Path(runs[1]["classes"]))
            if len(runs) == 2
            else None
        )
    print(
        f"\n{n_tiles} tiles of {TILE}² (overlap {OVERLAP}) over {args.size}²; "
        f"ratio = model alone (faster layout) / pipeline, goal ≥ {GOAL_RATIO}"
    )
    for run in runs:
        print(
            f"{run['precision']:5s} pipeline {run['medians']['pipeline']:6.1f} s "
            f"({run['pipeline_mpx_per_s']:.2f} Mpx/s of scene), model alone "
            f"{run['medians'][run['limit_layout']]:6.1f} s ({run['limit_layout']}): ratio "
            f"{run['ratio']:.2f} {'met' if run['ratio'] >= GOAL_RATIO else 'NOT met'}"
        )
    summary = {
        "size": args.size,
        "tiles": n_tiles,
        "tile": TILE,
        "overlap": OVERLAP,
        "probability_dtype": args.probability_dtype,
        "batch": BATCH,
        "runs": runs,
        "machine": {
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "processor": platform.processor() or platform.machine(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "native_bf16": cpu_has_bf16(),
            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        },
    }
    if agreement is not None:
        speedup = runs[0]["medians"]["pipeline"] / runs[1]["medians"]["pipeline"]
        summary |= {"bf16_speedup": speedup, "bf16_class_agreement": agreement}
        trained = trained_model_agreement()
        summary["bf16_class_agreement_trained_model"] = trained
        print(
            f"bf16 pipeline {speedup:.2f}x faster than fp32; classes agree with fp32 on "
            f"{agreement:.2%} of pixels for this random U-Net, {trained:.2%} for the shipped "
            f"trained U-Net on the Sentinel-2 sample (goal ≥ {GOAL_AGREEMENT:.0%}: "
            f"{'met' if trained >= GOAL_AGREEMENT else 'NOT met'})"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
