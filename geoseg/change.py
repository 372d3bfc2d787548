"""Change between dates: forest loss and gain from two acquisitions of one place.

Both scenes go through the same segmentation as ``process`` — the after scene read onto the before
scene's grid, window by window — and a per-block rule then compares their forest probabilities:

- **unknown** (255) where either date has no data, or its quality band marks the pixel unusable:
  Sentinel-2 SCL classes ``SCL_UNUSABLE`` (no data, saturated, cloud shadow, medium and high
  probability cloud, thin cirrus, snow) or Landsat QA_PIXEL bits ``QA_PIXEL_UNUSABLE_BITS`` (fill,
  dilated cloud, cirrus, cloud, cloud shadow). Unknown is never loss;
- **loss** (1): forest before (probability > ``forest_threshold``), not forest after, and the
  forest probability dropped by at least ``min_drop``;
- **gain** (2): the reverse (regrowth, or a forest gain study);
- **unchanged** (0): everything else that was seen on both dates.

Requiring a minimum drop, not just a class flip, keeps pixels that hover at the threshold on both
dates (radiometric differences between dates, haze) from counting as loss.
"""

import datetime as dt
from dataclasses import replace
from itertools import pairwise

import numpy as np
from rasterio.windows import Window

from geoseg.errors import SceneError
from geoseg.options import ChangeOptions, LossRule  # noqa: F401 (ChangeOptions: re-exported)
from geoseg.results import ChangeSummary
from geoseg.scenes import Scene, grids_overlap
from geoseg.store import BlockStore, Layer, read_probability
from geoseg.styles import categories
from geoseg.tiling import Block
from geoseg.vectorizing import GroundMeasure

UNCHANGED, LOSS, GAIN, UNKNOWN = 0, 1, 2, 255
CHANGE_CLASSES = ("unchanged", "loss", "gain")  # loss.tif's values 0, 1, 2 (255: unknown)
LOSS_LAYER = "loss"  # loss.gpkg's layer
SCL_UNUSABLE = {
    0: "no data",
    1: "saturated or defective",
    3: "cloud shadow",
    8: "cloud, medium probability",
    9: "cloud, high probability",
    10: "thin cirrus",
    11: "snow or ice",
}
QA_PIXEL_UNUSABLE_BITS = {0: "fill", 1: "dilated cloud", 2: "cirrus", 3: "cloud", 4: "cloud shadow"}
CHANGE_LAYERS = (
    Layer("probability_drop", "float32", float("nan"), "AVERAGE", ("forest_probability_drop",)),
    Layer("loss", "uint8", UNKNOWN, "NEAREST", ("change",), categories=categories(CHANGE_CLASSES)),
)


def total(counts: list[dict[str, float]]) -> dict[str, float]:
    """Sum of per-block counts."""
    return {key: sum(c[key] for c in counts) for key in counts[0]} if counts else {}


def usable(quality: np.ndarray, band: str) -> np.ndarray:
    """Pixels a quality band (``scl`` or ``qa_pixel``) leaves usable."""
    if band == "scl":
        return ~np.isin(quality, list(SCL_UNUSABLE))
    bits = sum(1 << b for b in QA_PIXEL_UNUSABLE_BITS)
    return (quality.astype(np.uint32) & bits) == 0


def is_forest(probability: np.ndarray, rule: LossRule) -> np.ndarray:
    """Forest where the probability is above the threshold. At 0.5 this is the class raster's
    rule (a class wins only with more probability than the others; a tie goes to the class
    listed first, non_forest), so a pixel at exactly 0.5 is not forest anywhere."""
    return probability > rule.forest_threshold


def change_classes(
    before: np.ndarray, after: np.ndarray, known: np.ndarray, rule: LossRule
) -> np.ndarray:
    """The loss rule on forest probabilities of two dates (``known``: seen and usable on both)."""
    forest_before, forest_after = is_forest(before, rule), is_forest(after, rule)
    drop = np.where(known, before - after, 0.0)
    out = np.full(before.shape, UNKNOWN, np.uint8)
    out[known] = UNCHANGED
    out[known & forest_before & ~forest_after & (drop >= rule.min_drop)] = LOSS
    out[known & ~forest_before & forest_after & (-drop >= rule.min_drop)] = GAIN
    return out


def quality_mask(scene: Scene, window: Window) -> np.ndarray:
    """Usable pixels of ``window`` by the scene's quality band; all usable when it has none."""
    for band in ("scl", "qa_pixel"):
        if band in scene.band_names:
            codes, valid = scene.read(window, (band,))
            return valid & usable(codes[0], band)
    return np.ones((int(window.height), int(window.width)), bool)


def change_block(
    before: tuple[Scene, str],
    after: tuple[Scene, str],
    forest_band: int,
    block: Block,
    rule: LossRule,
    store: BlockStore,
) -> dict[str, float]:
    """Compare one block of two dates' forest probabilities, store loss and drop, count pixels.

    ``before`` / ``after`` are (scene on the common grid, path of its probability raster).
    """
    probs, known = [], np.ones((int(block.window.height), int(block.window.width)), bool)
    for scene, path in (before, after):
        p = read_probability(path, forest_band, block.window)
        known &= np.isfinite(p) & quality_mask(scene, block.window)
        probs.append(p)
    classes = change_classes(probs[0], probs[1], known, rule)
    drop = np.where(known, probs[0] - probs[1], np.nan).astype(np.float32)
    store.write_layer("probability_drop", block, drop[None])
    store.write_layer("loss", block, classes[None], VALID_PIXELS=int(known.sum()))
    centre = (
        block.window.row_off + block.window.height / 2,
        block.window.col_off + block.window.width / 2,
    )
    # Pixel area at the block's centre: exact on projected grids, within a block's latitude span
    # of exact on geographic ones.
    pixel_ha = GroundMeasure(store.grid).pixel_area_m2(*centre) / 1e4
    pixels = {
        "valid_before": int(np.isfinite(probs[0]).sum()),
        "known": int(known.sum()),
        "forest_before": int((known & is_forest(probs[0], rule)).sum()),
        "forest_after": int((known & is_forest(probs[1], rule)).sum()),
        "loss": int((classes == LOSS).sum()),
        "gain": int((classes == GAIN).sum()),
    }
    return pixels | {f"{key}_ha": n * pixel_ha for key, n in pixels.items()}


def check_dates(before: Scene, after: Scene, allow_reversed: bool) -> None:
    """Both dates known, different, and in order (unless reversed pairs are allowed)."""
    first, second = _known_date(before), _known_date(after)
    if first == second:
        raise SceneError(
            f"{before.name} and {after.name}: both dated {first}; a change "
            "needs two different dates"
        )
    if first > second and not allow_reversed:
        raise SceneError(
            f"{before.name} ({first}) is later than {after.name} "
            f"({second}); swap them, or allow it with `allow_reversed`",
            options=("allow_reversed",),
        )


def _known_date(scene: Scene) -> dt.date:
    if scene.date is None:
        raise SceneError(
            f"{scene.name}: no acquisition date found (name the file with its "
            "date, e.g. scene_2021-05-27.tif)"
        )
    return scene.date


def summary(counts: dict[str, float], before: Scene, after: Scene, rule: LossRule) -> ChangeSummary:
    """The numbers of a change run, in hectares, as written to ``summary.json``."""
    return ChangeSummary(
        **{
            "scene_before": before.name,
            "scene_after": after.name,
            "date_before": before.date_text,
            "date_after": after.date_text,
            **{
                f"{key}_ha": round(counts.get(f"{key}_ha", 0.0), 2)
                for key in ("forest_before", "forest_after", "loss", "gain")
            },
            "observed_both_ha": round(counts.get("known_ha", 0.0), 2),
            "observed_share": round(counts["known"] / counts["valid_before"], 4)
            if counts.get("valid_before")
            else 0.0,
            "rule": rule.model_dump(),
        }
    )


def normalised_to(
    target: Scene, reference: Scene, bands: tuple[str, ...], size: int = 1024
) -> Scene:
    """``target`` with each of ``bands`` rescaled so its median and interquartile range match
    ``reference``'s over the pixels both see (both on one grid).

    A robust relative radiometric normalisation, in the spirit of teamlucc's ``normalize``: dates
    differ in calibration, haze and, for composites, display stretch, and the loss rule must not
    read that as change. It assumes most of the place did not change; medians and quartiles keep
    the real changes from steering the fit. Only the bands' scale and offset change (nothing is
    read but a decimated preview of ``size`` pixels a side).
    """
    grid = target.grid
    shape = grid.preview_shape(size)
    window = Window(0, 0, grid.width, grid.height)
    t, t_valid = target.read(window, bands, shape)
    r, r_valid = reference.read(window, bands, shape)
    both = t_valid & r_valid
    if both.sum() < 100:
        return target
    fitted = {}
    for i, name in enumerate(bands):
        t_q = np.percentile(t[i][both], (25, 50, 75))
        r_q = np.percentile(r[i][both], (25, 50, 75))
        gain = (r_q[2] - r_q[0]) / (t_q[2] - t_q[0]) if t_q[2] > t_q[0] else 1.0
        fitted[name] = (gain, r_q[1] - gain * t_q[1])
    return replace(
        target,
        bands=tuple(
            replace(
                b,
                scale=b.scale * fitted[b.name][0],
                offset=b.offset * fitted[b.name][0] + fitted[b.name][1],
            )
            if b.name in fitted
            else b
            for b in target.bands
        ),
    )


def consecutive_pairs(scenes: list[Scene]) -> list[tuple[Scene, Scene]]:
    """Every consecutive date pair per place: scenes whose footprints overlap the first scene of
    a place belong to it; each place's scenes are paired in date order. Undated scenes are left
    out (they cannot be ordered)."""
    places: list[list[Scene]] = []
    for scene in sorted((s for s in scenes if s.date is not None), key=_known_date):
        place = next((p for p in places if grids_overlap(scene.grid, p[0].grid)), None)
        if place is None:
            places.append([scene])
        else:
            place.append(scene)
    return [(a, b) for place in places for a, b in pairwise(place) if a.date != b.date]
