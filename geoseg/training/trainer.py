"""Train an smp segmentation model on one scene and its labels, validated on held-out blocks.

Tiles come from the training part of a spatial split (``split.py``); normalisation statistics are
computed from them and stored in the card. Each step takes a seeded random batch of tiles under a
random D4 transform (flips and quarter turns), and minimises Dice + focal loss. After each epoch
the validation blocks are predicted whole and scored; the weights with the best F1 of the target
class are kept (early stopping after ``patience`` epochs without improvement), written as
safetensors with a card that ``process`` loads.
"""

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from rasterio.windows import Window

from geoseg.errors import ConfigError, SceneError
from geoseg.evaluation import class_scores, confusion_matrix
from geoseg.inference import predict_whole
from geoseg.models.base import ModelCard, Normalisation
from geoseg.models.torch_models import TorchModel, build_smp_module, pick_device, save_checkpoint
from geoseg.scenes import Scene
from geoseg.training.inputs import require_utf8_name
from geoseg.training.labels import Labels
from geoseg.training.losses import IGNORE, DiceFocalLoss
from geoseg.training.split import SpatialSplit, spatial_split
from geoseg.version import __version__

# (epoch from 1, batches done in it, batches per epoch, its mean loss so far)
StepFn = Callable[[int, int, int, float], None]


@dataclass(frozen=True)
class TrainConfig:
    architecture: str = "Unet"
    encoder: str = "resnet18"
    encoder_depth: int = 5  # fewer stages, a narrower receptive field: tiles then match the whole
    bands: tuple[str, ...] = ("blue", "green", "red", "nir")
    classes: tuple[str, ...] = ("non_forest", "forest")
    target_class: str = "non_forest"
    tile: int = 256
    batch_size: int = 4
    epochs: int = 10
    steps_per_epoch: int = 20
    learning_rate: float = 1e-3
    seed: int = 0
    val_fraction: float = 0.2
    test_fraction: float = 0.0  # blocks scored once at the end, untouched by early stopping
    val_block: int = 256
    gap: int = 32
    patience: int = 3
    class_balanced: bool = True  # half of the draws favour tiles rich in the target class
    loss: DiceFocalLoss = field(default_factory=DiceFocalLoss)

    def __post_init__(self) -> None:
        if self.tile % 32:
            raise ConfigError(f"tile {self.tile} must be a multiple of 32 for smp networks")
        if self.target_class not in self.classes:
            raise ConfigError(f"target class {self.target_class!r} is not in {self.classes}")


@dataclass
class TrainResult:
    checkpoint: Path
    card: ModelCard
    history: list[dict]


def _read(
    scene: Scene, labels: Labels, window: Window, bands: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray]:
    x, valid = scene.read(window, bands)
    y = labels.read(scene, window)
    y[~valid] = IGNORE
    return x, y


def _d4(
    x: torch.Tensor, y: torch.Tensor, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    k = int(rng.integers(4))
    x, y = torch.rot90(x, k, (-2, -1)), torch.rot90(y, k, (-2, -1))
    if rng.random() < 0.5:
        x, y = torch.flip(x, (-1,)), torch.flip(y, (-1,))
    return x, y


def _normalisation(tiles: list[tuple[np.ndarray, np.ndarray]]) -> Normalisation:
    stack = np.concatenate([x.reshape(x.shape[0], -1) for x, _ in tiles], axis=1)
    std = np.maximum(stack.std(axis=1), 1e-6)
    return Normalisation(mean=tuple(map(float, stack.mean(axis=1))), std=tuple(map(float, std)))


def validate(
    predict: Callable[[np.ndarray], np.ndarray],
    bands: tuple[str, ...],
    classes: tuple[str, ...],
    target_class: str,
    scene: Scene,
    labels: Labels,
    blocks: tuple[Window, ...],
) -> dict:
    """Confusion matrix and scores over held-out ``blocks``, each predicted whole.

    ``predict`` maps reflectance ``(bands, rows, cols)`` to a class map ``(rows, cols)``: any
    model can be scored on the same held-out blocks.
    """
    matrix = np.zeros((len(classes),) * 2, np.int64)
    for window in blocks:
        x, y = _read(scene, labels, window, bands)
        matrix += confusion_matrix(y, predict(x), len(classes))
    scores = class_scores(matrix)
    target = classes.index(target_class)
    return {
        "f1": scores[target]["f1"],
        "iou": scores[target]["iou"],
        "scores": scores,
        "confusion": matrix.tolist(),
    }


def torch_predictor(module: torch.nn.Module, card: ModelCard) -> Callable[[np.ndarray], np.ndarray]:
    """Class maps from a network in training, by whole-image inference (``predict_whole``)."""
    model = TorchModel(module, card, device=next(module.parameters()).device, precision="fp32")
    return lambda x: predict_whole(model, x, card.bands).argmax(0)


def tile_weights(
    tiles: list[tuple[np.ndarray, np.ndarray]], target: int, balanced: bool
) -> np.ndarray:
    """Sampling probability of each tile: uniform, or (class-balanced) half uniform and half in
    proportion to the tile's labelled pixels of the target class, which is usually the rare one."""
    uniform = np.full(len(tiles), 1 / len(tiles))
    rich = np.array([(y == target).sum() for _, y in tiles], np.float64)
    if not balanced or rich.sum() == 0:
        return uniform
    return 0.5 * uniform + 0.5 * rich / rich.sum()


def split_of(height: int, width: int, config: TrainConfig) -> SpatialSplit:
    """The held-out blocks ``config`` asks for on a ``height × width`` scene."""
    return spatial_split(
        height,
        width,
        config.val_block,
        config.val_fraction,
        config.gap,
        config.seed,
        config.test_fraction,
    )


def check_inputs(scene: Scene, labels: Labels, out: Path, config: TrainConfig) -> None:
    """Every input problem as one line before the first epoch (not a traceback hours in): the
    bands the model takes, labels that cannot be read onto the scene, an output folder whose
    name the libraries writing the model cannot take."""
    missing = [band for band in config.bands if band not in scene.band_names]
    if missing:
        raise SceneError(
            f"{scene.name}: no band {', '.join(missing)} to train on (has "
            f"{', '.join(scene.band_names)}); choose the model's `bands`",
            options=("bands",),
        )
    labels.check(scene.grid, f"scene {scene.name}")
    require_utf8_name(out, "model folder")


def train(
    scene: Scene,
    labels: Labels,
    out: Path,
    config: TrainConfig,
    labels_note: str = "",
    half: bool = False,
    on_epoch: Callable[[dict], None] | None = None,
    on_step: StepFn | None = None,
) -> TrainResult:
    """Train, validate each epoch, keep the best weights; write ``out/model.safetensors`` + card
    (float16 weights when ``half``). ``on_epoch`` receives each epoch's row of the history;
    ``on_step`` each batch, as (epoch, batches done, batches per epoch, mean loss so far): an
    epoch on a CPU takes minutes, and a progress display needs more than one call per epoch.

    On CUDA the forward pass runs under autocast (AMP) with a gradient scaler; CPU runs float32.
    """
    check_inputs(scene, labels, out, config)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    grid = scene.grid
    split = split_of(grid.height, grid.width, config)
    tiles = [
        _read(scene, labels, w, config.bands)
        for w in split.training_tiles(config.tile, config.tile // 2)
    ]
    tiles = [(x, y) for x, y in tiles if (y != IGNORE).any()]
    if not tiles:
        raise ConfigError(f"{scene.name}: no labelled training tile outside the validation blocks")
    stride = 2**config.encoder_depth
    norm = _normalisation(tiles)
    card = ModelCard(
        name=out.name,
        architecture=config.architecture,
        encoder=config.encoder,
        encoder_depth=config.encoder_depth,
        bands=config.bands,
        classes=config.classes,
        target_class=config.target_class,
        normalisation=norm,
        edge_margin=16,
        stride=stride,
        tile_size=config.tile,
        overlap=max(stride, config.tile // 4 // stride * stride),
    )
    device = pick_device()
    module = build_smp_module(card).to(device)
    optimiser = torch.optim.Adam(module.parameters(), lr=config.learning_rate)
    scaler = torch.amp.GradScaler(device.type, enabled=device.type == "cuda")
    weights = tile_weights(tiles, config.classes.index(config.target_class), config.class_balanced)
    mean = torch.tensor(norm.mean).view(-1, 1, 1)
    std = torch.tensor(norm.std).view(-1, 1, 1)
    history: list[dict] = []
    best: tuple[float, dict] = (-1.0, {})

    def score_on(windows: tuple[Window, ...]) -> dict:
        """The network as it is now, scored on ``windows`` of the scene."""
        return validate(
            torch_predictor(module, card),
            card.bands,
            card.classes,
            card.target_class,
            scene,
            labels,
            windows,
        )

    for epoch in range(config.epochs):
        module.train()
        losses = []
        start = time.perf_counter()
        for _ in range(config.steps_per_epoch):
            pairs = [
                _d4(
                    (torch.from_numpy(tiles[i][0]) - mean) / std,
                    torch.from_numpy(tiles[i][1]).long(),
                    rng,
                )
                for i in rng.choice(len(tiles), size=config.batch_size, p=weights)
            ]
            x = torch.stack([p[0] for p in pairs]).to(device)
            y = torch.stack([p[1] for p in pairs]).to(device)
            with torch.autocast(device.type, enabled=device.type == "cuda"):
                loss = config.loss(module(x).float(), y)
            optimiser.zero_grad()
            scaler.scale(loss).backward()
            scaler.step(optimiser)
            scaler.update()
            losses.append(loss.item())
            if on_step:
                on_step(epoch + 1, len(losses), config.steps_per_epoch, float(np.mean(losses)))
        metrics = score_on(split.validation)
        history.append(
            {
                "epoch": epoch + 1,
                "loss": float(np.mean(losses)),
                "val_f1": metrics["f1"],
                "val_iou": metrics["iou"],
                "seconds": round(time.perf_counter() - start, 1),
            }
        )
        if on_epoch:
            on_epoch(history[-1])
        score = metrics["f1"] if np.isfinite(metrics["f1"]) else 0.0
        if score > best[0]:
            best = (
                score,
                {
                    "state": {k: v.clone() for k, v in module.state_dict().items()},
                    "metrics": metrics,
                    "epoch": epoch + 1,
                },
            )
        elif epoch + 1 - best[1]["epoch"] >= config.patience:
            break
    module.load_state_dict(best[1]["state"])
    test = score_on(split.test) if split.test else None
    module.cpu()
    card = card.model_copy(
        update={
            "training": {
                "scene": scene.name,
                "date": scene.date_text,
                "labels": labels_note,
                "seed": config.seed,
                "best_epoch": best[1]["epoch"],
                "validation": {k: best[1]["metrics"][k] for k in ("f1", "iou", "scores")},
                "test": test and {k: test[k] for k in ("f1", "iou", "scores")},
                "split": {
                    "val_block": config.val_block,
                    "val_fraction": config.val_fraction,
                    "test_fraction": config.test_fraction,
                    "gap": config.gap,
                },
                "config": {k: v for k, v in asdict(config).items() if k != "loss"},
                "history": history,
                "geoseg": __version__,
                "torch": torch.__version__,
            }
        }
    )
    path = save_checkpoint(module, card, out / "model.safetensors", half=half)
    return TrainResult(path, card, history)
