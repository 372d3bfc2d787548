"""The built-in spectral forest model: vegetation indices, no weights, no torch.

Forest probability is a product of logistic ramps over spectral indices of surface reflectance:

- NDVI = (nir − red) / (nir + red): ``σ((NDVI − 0.60) / 0.05)``; dense canopy sits above 0.7,
  bare soil, water, towns and most pasture in the dry season below 0.5;
- NBR = (nir − swir22) / (nir + swir22), when the scene has ``swir22``: ``σ((NBR − 0.30) / 0.05)``;
  burnt and freshly cleared land has low NBR even where regrowth lifts NDVI.

Both indices are ratios, so the model works on reflectance and on display-stretched composites
alike. Classes: ``non_forest`` (0, the target class for clearing polygons) and ``forest`` (1).
It cannot tell forest from other dense green vegetation (irrigated crops, lush grassland):
that is what trained models are for.
"""

import numpy as np

from geoseg.models.base import ModelCard, require_bands

NDVI_THRESHOLD, NDVI_SOFTNESS = 0.60, 0.05
NBR_THRESHOLD, NBR_SOFTNESS = 0.30, 0.05

CARD = ModelCard(
    name="spectral-forest",
    architecture="spectral-indices",
    bands=("red", "nir", "swir22"),
    classes=("non_forest", "forest"),
    target_class="non_forest",
    edge_margin=0,
    tile_size=512,
    overlap=0,  # a pixelwise model needs no context: overlap would only re-read pixels
    description="NDVI (and NBR where swir22 exists) logistic thresholds; see geoseg.models.spectral",
)


def normalized_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(a − b) / (a + b)``, 0 where the sum is not positive."""
    total = a + b
    out = np.zeros_like(a)
    np.divide(a - b, total, out=out, where=total > 0)
    return out


def _logistic(x: np.ndarray, threshold: float, softness: float) -> np.ndarray:
    # Clipped: far from the threshold the answer is 0 or 1 either way, without overflow.
    return 1.0 / (1.0 + np.exp(np.clip(-(x - threshold) / softness, -60.0, 60.0)))


class SpectralForestModel:
    """Forest / non-forest from NDVI (and NBR); a pure numpy function of each pixel."""

    card = CARD

    def input_bands(self, available: tuple[str, ...], sensor: str | None = None) -> tuple[str, ...]:
        optional = ("swir22",) if "swir22" in available else ()
        return require_bands(self.card, available, ("red", "nir"), sensor) + optional

    def predict(self, x: np.ndarray, bands: tuple[str, ...]) -> np.ndarray:
        band = {name: x[:, i] for i, name in enumerate(bands)}
        forest = _logistic(
            normalized_difference(band["nir"], band["red"]), NDVI_THRESHOLD, NDVI_SOFTNESS
        )
        if "swir22" in band:
            forest *= _logistic(
                normalized_difference(band["nir"], band["swir22"]), NBR_THRESHOLD, NBR_SOFTNESS
            )
        return np.stack([1.0 - forest, forest], axis=1).astype(np.float32)
