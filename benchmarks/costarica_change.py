"""Forest loss on the real Costa Rica Landsat 5 pair (1986-02-06 → 2001-01-14) against hand labels.

The labels (``samples/costarica_landsat5_1986_2001_change_polygons.gpkg``, from teamlucc) are 30
hand-drawn 2 × 2-pixel polygons, each marked Forest or NonForest on both dates: 2 went
Forest → NonForest (loss), 2 NonForest → Forest (gain), 26 did not change. The script runs
``geoseg change`` on the bundled pair and prints, for loss, polygon-level precision and recall (a
polygon counts as detected when most of its pixels are loss), pixel-level precision and recall,
and each date's forest / non-forest accuracy over the labelled pixels. With 4 change polygons the
numbers are anecdotes, not statistics: read them with their counts.

    python benchmarks/costarica_change.py [--no-normalise]
"""

import argparse
import json
import tempfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
from rasterio.features import rasterize

from geoseg import ChangeOptions, ClusterOptions
from geoseg.change import LOSS
from geoseg.pipeline import change

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
BEFORE = SAMPLES / "costarica_landsat5_1986-02-06.tif"
AFTER = SAMPLES / "costarica_landsat5_2001-01-14.tif"
LABELS = SAMPLES / "costarica_landsat5_1986_2001_change_polygons.gpkg"


def polygon_ids(labels: gpd.GeoDataFrame, like: Path) -> np.ndarray:
    """Each pixel's label polygon ID (0 outside every polygon), on the raster ``like``'s grid."""
    with rasterio.open(like) as src:
        return rasterize(
            zip(labels.geometry, labels["ID"], strict=True),
            out_shape=src.shape,
            transform=src.transform,
            dtype="int32",
        )


def precision_recall(tp: int, fp: int, fn: int) -> dict:
    tp, fp, fn = int(tp), int(fp), int(fn)
    return {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / (tp + fn) if tp + fn else None,
    }


def evaluate(out: Path, labels: gpd.GeoDataFrame) -> dict:
    ids = polygon_ids(labels, out / "loss.tif")
    with rasterio.open(out / "loss.tif") as src:
        loss = src.read(1) == LOSS
    truth = {
        row.ID: (row.class_1986 == "Forest", row.class_2001 == "Forest")
        for row in labels.itertuples()
    }
    is_loss = {i: before and not after for i, (before, after) in truth.items()}
    detected = {i: loss[ids == i].mean() > 0.5 for i in truth}
    polygons = precision_recall(
        sum(detected[i] and is_loss[i] for i in truth),
        sum(detected[i] and not is_loss[i] for i in truth),
        sum(not detected[i] and is_loss[i] for i in truth),
    )
    labelled = ids > 0
    loss_truth = np.isin(ids, [i for i, v in is_loss.items() if v])
    pixels = precision_recall(
        int((loss & loss_truth).sum()),
        int((loss & ~loss_truth & labelled).sum()),
        int((~loss & loss_truth).sum()),
    )
    accuracy = {}
    for k, (year, scene) in enumerate((("1986", BEFORE.stem), ("2001", AFTER.stem))):
        with rasterio.open(out / "dates" / scene / "classes.tif") as src:
            forest = src.read(1) == 1
        expected = np.isin(ids, [i for i, v in truth.items() if v[k]])
        accuracy[year] = float((forest[labelled] == expected[labelled]).mean())
    return {
        "loss_polygons": polygons,
        "loss_pixels": pixels,
        "forest_accuracy": accuracy,
        "label_polygons": {"loss": sum(is_loss.values()), "total": len(truth)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--no-normalise", action="store_true", help="compare the dates' radiometry as stored"
    )
    args = parser.parse_args()
    labels = gpd.read_file(LABELS)
    with tempfile.TemporaryDirectory() as tmp:
        result = change(
            BEFORE,
            AFTER,
            Path(tmp),
            options=ChangeOptions(normalise=not args.no_normalise, quicklook=False),
            cluster=ClusterOptions(workers=2),
        )
        report = evaluate(Path(tmp), labels) | {
            "summary": result.summary.model_dump() if result.summary else None
        }
    p, px = report["loss_polygons"], report["loss_pixels"]
    print(
        f"loss polygons: precision {p['precision']}, recall {p['recall']} "
        f"(tp {p['tp']}, fp {p['fp']}, fn {p['fn']}; {report['label_polygons']['loss']} of "
        f"{report['label_polygons']['total']} label polygons are loss)"
    )
    print(
        f"loss pixels:   precision {px['precision']}, recall {px['recall']} "
        f"(tp {px['tp']}, fp {px['fp']}, fn {px['fn']})"
    )
    print(f"forest/non-forest accuracy on labelled pixels: {report['forest_accuracy']}")
    print(f"summary: {json.dumps(report['summary'])}")
    results = ROOT / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "costarica_change.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
