"""Seam benchmark: does tiling leave seams in a U-Net's output, with and without geoseg's blend?

What it measures, on the bundled Sentinel-2 scene (930 × 947 px, bands blue, green, red, nir):

- the **whole-image** output: one forward pass over the entire scene, reflection-padded at the
  bottom/right to a multiple of 32 (a U-Net's input must be) and cropped back;
- the **tiled** outputs: ``geoseg.process`` with tiles of 256 px overlapping by 64, blended by
  plain averaging (``blend="mean"``) and by geoseg's cosine ramp (``blend="cosine"``);
- for each tiled output, the **seam excess** (``geoseg.seam_excess``): the tiled map's seam ratio
  (mean |difference| of neighbour pixels across tile borders ÷ the same away from borders) divided
  by the whole-image map's seam ratio at the same positions; 1.0 means tiling adds no seam;
- the mean |tiled − whole|, and the standard deviation of the whole-image map (a value near 0 flags
  a seed whose softmax saturates: its map is almost flat and the seam ratio becomes a ratio of tiny
  numbers, so that seed's excess says little).

The model is an smp U-Net with *random* weights (nothing is downloaded), one per seed, in eval
mode, on the target-class probability. Random networks are chaotic: their tiled and whole outputs
disagree everywhere, so single values are noisy and three seeds are reported with their mean and
median. Inputs are normalised per band by the scene's own mean and standard deviation, as a real
model card's ``normalisation`` would, so the random network sees unit-scale inputs.

``edge_margin = 16``: a U-Net's receptive field is wider than a 256-px tile, so no margin makes the
tiled output exact; the outermost pixels, where zero padding weighs most, are the worst. 16 px is
half the largest margin blending allows (overlap / 2 = 32): it drops those pixels and still leaves
a 32-px cosine ramp. A margin of 32 would turn the ramp into a hard cut in the middle of the
overlap, a seam that this metric, measured at tile borders only, cannot see.

Scene edges: geoseg's tiles never leave the scene (the last tile of a row or column is moved back
inside), so at the scene's edges tiles and whole image both meet the network's zero padding, except
at the bottom and right, where the whole image first gets 13 and 30 reflected rows and columns.
That changes the whole-image map near those edges (the receptive field is wide), borders of the
last tiles included, by the same amount for every blend: it blurs the comparison with the whole
image a little but not the comparison between blends.

Run: ``python benchmarks/seams.py`` (``--encoder resnet18`` for a smaller network). Prints a table
and writes ``benchmarks/results/seams.json``.
"""

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
import segmentation_models_pytorch as smp
import torch
from distributed import Client
from rasterio.windows import Window

from geoseg import ProcessConfig, TileGrid, find_scenes, open_scene, process, seam_excess
from geoseg.cluster.connect import local_cluster
from geoseg.inference import predict_whole
from geoseg.models.base import ModelCard, Normalisation
from geoseg.models.torch_models import TorchModel

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never wait on a model hub; no weights are fetched

ROOT = Path(__file__).resolve().parents[1]
SCENE = ROOT / "samples" / "aberystwyth_s2_2021-05-27.tif"
RESULTS = ROOT / "benchmarks" / "results" / "seams.json"
BANDS = ("blue", "green", "red", "nir")
CLASSES = ("other", "forest")
TARGET = 1  # index of the target class "forest"
TILE, OVERLAP, EDGE_MARGIN = 256, 64, 16
SEEDS = (0, 1, 2)
BLENDS = ("mean", "cosine")
UNET_MULTIPLE = 32  # a U-Net with five poolings needs sides divisible by 2**5


def read_scene() -> np.ndarray:
    """The whole sample scene's reflectance ``(bands, rows, cols)`` (it is small)."""
    scene = open_scene(find_scenes(SCENE)[0])
    data, _ = scene.read(Window(0, 0, scene.grid.width, scene.grid.height), BANDS)
    return data


def random_unet(seed: int, encoder: str, x: np.ndarray) -> TorchModel:
    """A U-Net with random weights drawn from ``seed``, normalising inputs by ``x``'s band stats."""
    torch.manual_seed(seed)
    module = smp.create_model(
        "Unet",
        encoder_name=encoder,
        encoder_weights=None,
        in_channels=len(BANDS),
        classes=len(CLASSES),
    )
    normalisation = Normalisation(
        mean=tuple(float(v) for v in x.mean(axis=(1, 2))),
        std=tuple(float(v) for v in x.std(axis=(1, 2))),
    )
    card = ModelCard(
        name=f"random-unet-{encoder}-seed{seed}",
        architecture="Unet",
        encoder=encoder,
        bands=BANDS,
        classes=CLASSES,
        target_class=CLASSES[TARGET],
        normalisation=normalisation,
        edge_margin=EDGE_MARGIN,
        tile_size=TILE,
        overlap=OVERLAP,
    )
    return TorchModel(module, card, device=torch.device("cpu"))


def whole_image(model: TorchModel, x: np.ndarray) -> np.ndarray:
    """Target-class probability from one pass over the scene, padded by reflection to a multiple
    of 32 at the bottom/right and cropped back."""
    return predict_whole(model, x, BANDS, UNET_MULTIPLE)[TARGET]


def tiled(model: TorchModel, client: Client, blend: str, out_dir: Path) -> np.ndarray:
    """Target-class probability from ``geoseg.process`` with ``blend``."""
    config = ProcessConfig(tile_size=TILE, overlap=OVERLAP, blend=blend, overwrite=True)
    [result] = process(SCENE, out_dir, config, client=client, model=model)
    if result.status != "done":
        raise RuntimeError(f"geoseg failed on {SCENE.name}: {result.message}")
    with rasterio.open(result.outputs["probability"]) as src:
        return src.read(TARGET + 1)


def measure_seed(seed: int, encoder: str, x: np.ndarray, client: Client, work: Path) -> dict:
    """Seam excess and mean |tiled − whole| of every blend for one random network."""
    started = time.perf_counter()
    model = random_unet(seed, encoder, x)
    whole = whole_image(model, x)
    tiling = TileGrid(whole.shape[0], whole.shape[1], TILE, OVERLAP)
    row: dict = {
        "seed": seed,
        "whole_std": float(np.std(whole)),
        "seam_excess": {},
        "mean_abs_diff": {},
    }
    for blend in BLENDS:
        out = tiled(model, client, blend, work / f"seed{seed}-{blend}")
        row["seam_excess"][blend] = seam_excess(out, whole, tiling)
        row["mean_abs_diff"][blend] = float(np.nanmean(np.abs(out - whole)))
    row["seconds"] = time.perf_counter() - started
    return row


def summarise(rows: list[dict]) -> dict:
    """Mean and median over seeds of each blend's seam excess and mean |tiled − whole|."""
    return {
        stat: {
            metric: {blend: fn([r[metric][blend] for r in rows]) for blend in BLENDS}
            for metric in ("seam_excess", "mean_abs_diff")
        }
        for stat, fn in (("mean", statistics.fmean), ("median", statistics.median))
    }


def print_table(rows: list[dict], summary: dict) -> None:
    header = "seed  whole std  excess mean  excess cosine  |Δ| mean  |Δ| cosine  seconds"
    print(header)
    print("-" * len(header))
    for r in rows:
        ex, mad = r["seam_excess"], r["mean_abs_diff"]
        print(
            f"{r['seed']:>4}  {r['whole_std']:9.3f}  {ex['mean']:11.3f}  {ex['cosine']:13.3f}  "
            f"{mad['mean']:8.4f}  {mad['cosine']:10.4f}  {r['seconds']:7.1f}"
        )
    for stat, values in summary.items():
        ex, mad = values["seam_excess"], values["mean_abs_diff"]
        print(
            f"{stat:>6} {'':9}  {ex['mean']:11.3f}  {ex['cosine']:13.3f}  "
            f"{mad['mean']:8.4f}  {mad['cosine']:10.4f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default="resnet34", help="smp encoder of the U-Net")
    args = parser.parse_args()
    x = read_scene()
    started = time.perf_counter()
    with (
        local_cluster(n_workers=2, threads_per_worker=1) as cluster,
        Client(cluster) as client,
        tempfile.TemporaryDirectory() as work,
    ):
        rows = [measure_seed(seed, args.encoder, x, client, Path(work)) for seed in SEEDS]
    summary = summarise(rows)
    print_table(rows, summary)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    config = {
        "scene": SCENE.name,
        "bands": BANDS,
        "architecture": "Unet",
        "encoder": args.encoder,
        "tile_size": TILE,
        "overlap": OVERLAP,
        "edge_margin": EDGE_MARGIN,
        "seeds": SEEDS,
        "normalisation": "scene band mean/std",
    }
    RESULTS.write_text(
        json.dumps(
            {
                "config": config,
                "seeds": rows,
                "summary": summary,
                "seconds": time.perf_counter() - started,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
