"""Train the model shipped as ``builtin:unet-mobilenetv2-aberystwyth`` and score it.

Data: the bundled Sentinel-2 scene of Aberystwyth (2021-05-27, all 10 bands) and the hand-drawn
polygons digitised on it (``samples/aberystwyth_s2_2021-05-27_training_polygons.gpkg``, from
rsgislib): ``forest`` polygons → forest, ``grass``, ``urban`` and ``water`` → non_forest.
Held out (see ``geoseg.training.split``), never trained on: validation blocks, which choose the
best epoch, and separate test blocks, scored once at the end; the built-in spectral model is scored
on the same test blocks and labels. The numbers land in the card (``model.json``) and in
``models/evaluation.json``. The weights go into the package (``geoseg/models/weights/``), so
``--model builtin:unet-mobilenetv2-aberystwyth`` finds them in any install.

    python models/make_model.py        # a few minutes on 2 CPU cores
"""

from pathlib import Path

import numpy as np

from geoseg.manifest import write_json
from geoseg.models.spectral import SpectralForestModel
from geoseg.models.torch_models import card_path
from geoseg.scenes import find_scenes, open_scene
from geoseg.training.labels import VectorLabels
from geoseg.training.trainer import TrainConfig, split_of, train, validate

ROOT = Path(__file__).resolve().parent.parent
SCENE = ROOT / "samples" / "aberystwyth_s2_2021-05-27.tif"
POLYGONS = ROOT / "samples" / "aberystwyth_s2_2021-05-27_training_polygons.gpkg"
OUT = ROOT / "geoseg" / "models" / "weights" / "unet-mobilenetv2-aberystwyth"
BANDS = (
    "blue",
    "green",
    "red",
    "rededge1",
    "rededge2",
    "rededge3",
    "nir",
    "nir08",
    "swir16",
    "swir22",
)
LABELS = VectorLabels(
    str(POLYGONS), "class", (("forest", 1), ("grass", 0), ("urban", 0), ("water", 0))
)
# Three encoder stages (stride 8) rather than five: the network then sees a few dozen pixels
# around each one, not the whole tile, so tiles reproduce whole-image inference (with five, mean
# |tiled - whole| was 0.018 whatever the tiling).
CONFIG = TrainConfig(
    architecture="Unet",
    encoder="mobilenet_v2",
    encoder_depth=3,
    bands=BANDS,
    tile=128,
    batch_size=8,
    epochs=30,
    steps_per_epoch=20,
    learning_rate=2e-3,
    val_fraction=0.2,
    test_fraction=0.2,
    val_block=192,
    gap=32,
    patience=10,
    seed=0,
)
NOTE = (
    "hand-drawn polygons (rsgislib, digitised on the 2021-05-27 image): forest -> forest; "
    "grass, urban, water -> non_forest. No weak labels."
)


def spectral_predict(x: np.ndarray) -> np.ndarray:
    model = SpectralForestModel()
    bands = model.input_bands(BANDS)
    picked = np.stack([x[BANDS.index(b)] for b in bands])[None]
    return model.predict(picked, bands)[0].argmax(0)


# Inference defaults for process. With tiles on multiples of the network's stride (8), tiled output
# matches whole-image inference on the sample: mean |tiled - whole| 0.0012, seam excess 1.00 at
# 512/128 with a 32-px edge margin (tests/test_shipped_model.py checks it).
INFERENCE = {"tile_size": 512, "overlap": 128, "edge_margin": 32}
DESCRIPTION = (
    "Forest / non-forest U-Net for Sentinel-2 L2A reflectance (10 bands), trained on one "
    "temperate scene (Aberystwyth, 2021-05-27) and its hand-drawn polygons: a small "
    "demonstration model, not a tropical deforestation model."
)


def main() -> None:
    scene = open_scene(find_scenes(SCENE)[0])
    result = train(scene, LABELS, OUT, CONFIG, NOTE, half=True, on_epoch=print)
    split = split_of(scene.grid.height, scene.grid.width, CONFIG)
    spectral = validate(
        spectral_predict, BANDS, CONFIG.classes, CONFIG.target_class, scene, LABELS, split.test
    )
    spectral = {k: spectral[k] for k in ("f1", "iou", "scores")}
    training = {**result.card.training, "spectral_model_on_test": spectral}
    card = result.card.model_copy(
        update={**INFERENCE, "description": DESCRIPTION, "training": training}
    )
    card.to_json(card_path(result.checkpoint))
    trained = training["test"]
    report = {
        "test_blocks": [[int(v) for v in w.flatten()] for w in split.test],
        "target_class": CONFIG.target_class,
        "trained": trained,
        "spectral": spectral,
        "history": result.history,
    }
    write_json(ROOT / "models" / "evaluation.json", report)
    for name, scores in (("trained", trained), ("spectral", spectral)):
        print(
            f"{name:9s} non_forest F1 {scores['f1']:.3f} IoU {scores['iou']:.3f}; "
            f"forest F1 {scores['scores'][1]['f1']:.3f}"
        )


if __name__ == "__main__":
    main()
