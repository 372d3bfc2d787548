"""Train the model shipped in ``models/unet-mobilenetv2-aberystwyth/`` and score it.

Data: the bundled Sentinel-2 scene of Aberystwyth (2021-05-27, all 10 bands) and the hand-drawn
polygons digitised on it (``samples/aberystwyth_s2_2021-05-27_training_polygons.gpkg``, from
rsgislib): ``forest`` polygons → forest, ``grass``, ``urban`` and ``water`` → non_forest.
Validation: held-out blocks of a spatial split (see ``geoseg.training.split``), never trained on;
the built-in spectral model is scored on the same blocks and labels. The numbers land in the card
(``model.json``) and in ``models/evaluation.json``.

    python models/make_model.py        # a few minutes on 2 CPU cores
"""

import json
from pathlib import Path

import numpy as np

from geoseg.models.spectral import SpectralForestModel
from geoseg.models.torch_models import card_path
from geoseg.scenes import find_scenes, open_scene
from geoseg.training.labels import VectorLabels
from geoseg.training.split import spatial_split
from geoseg.training.trainer import TrainConfig, train, validate

ROOT = Path(__file__).resolve().parent.parent
SCENE = ROOT / "samples" / "aberystwyth_s2_2021-05-27.tif"
POLYGONS = ROOT / "samples" / "aberystwyth_s2_2021-05-27_training_polygons.gpkg"
OUT = ROOT / "models" / "unet-mobilenetv2-aberystwyth"
BANDS = ("blue", "green", "red", "rededge1", "rededge2", "rededge3", "nir", "nir08", "swir16",
         "swir22")
LABELS = VectorLabels(str(POLYGONS), "class", (("forest", 1), ("grass", 0), ("urban", 0),
                                               ("water", 0)))
CONFIG = TrainConfig(architecture="Unet", encoder="mobilenet_v2", bands=BANDS, tile=128,
                     batch_size=8, epochs=25, steps_per_epoch=20, learning_rate=2e-3,
                     val_fraction=0.25, val_block=192, gap=32, patience=8, seed=0)
NOTE = ("hand-drawn polygons (rsgislib, digitised on the 2021-05-27 image): forest -> forest; "
        "grass, urban, water -> non_forest. No weak labels.")


def spectral_predict(x: np.ndarray) -> np.ndarray:
    model = SpectralForestModel()
    bands = model.input_bands(BANDS)
    picked = np.stack([x[BANDS.index(b)] for b in bands])[None]
    return model.predict(picked, bands)[0].argmax(0)


# Inference defaults for process: the network sees far beyond a 128-px training tile, so it runs on
# larger tiles with wide overlaps (measured on the sample: mean |tiled - whole| 0.018, seam excess
# 0.93 at 512/256 with a 64-px edge margin; 0.021 and 1.01 at 512/128 with 16).
INFERENCE = {"tile_size": 512, "overlap": 256, "edge_margin": 64}


def main() -> None:
    scene = open_scene(find_scenes(SCENE)[0])
    result = train(scene, LABELS, OUT, CONFIG, NOTE, half=True)
    result.card.model_copy(update=INFERENCE).to_json(card_path(result.checkpoint))
    split = spatial_split(scene.grid.height, scene.grid.width, CONFIG.val_block,
                          CONFIG.val_fraction, CONFIG.gap, CONFIG.seed)
    spectral = validate(spectral_predict, BANDS, CONFIG.classes, CONFIG.target_class, scene,
                        LABELS, split)
    trained = result.card.training["validation"]
    report = {"held_out_blocks": len(split.validation), "target_class": CONFIG.target_class,
              "trained": trained, "spectral": {k: spectral[k] for k in ("f1", "iou", "scores")},
              "history": result.history}
    (ROOT / "models" / "evaluation.json").write_text(json.dumps(report, indent=2) + "\n")
    for name, scores in (("trained", trained), ("spectral", spectral)):
        print(f"{name:9s} non_forest F1 {scores['f1']:.3f} IoU {scores['iou']:.3f}; "
              f"forest F1 {scores['scores'][1]['f1']:.3f}")


if __name__ == "__main__":
    main()
