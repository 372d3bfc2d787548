"""Quicklook PNGs: a scene in natural (or false) colour with its polygons outlined, and the
before / after / change panels of a change run.

Reads the scene decimated to at most ``max_size`` pixels a side, so it costs the same for any
scene size. Colours: red/green/blue when the scene has them, else SWIR1/NIR/red (forest green,
clearings pink-brown), else NIR/red/green.
"""

from pathlib import Path

import numpy as np
import pyogrio
import rasterio
import shapely
from PIL import Image, ImageDraw, ImageFont
from rasterio.enums import Resampling
from rasterio.windows import Window

from geoseg.change import GAIN, LOSS, UNKNOWN
from geoseg.evaluation import IGNORE, GridLabels
from geoseg.geopackage import LAYER
from geoseg.grid import Grid
from geoseg.scenes import Scene
from geoseg.styles import CLASS_COLOURS

COMPOSITES = (("red", "green", "blue"), ("swir16", "nir", "red"), ("nir", "red", "green"))
OUTLINE = (255, 40, 0)


def composite_bands(scene: Scene) -> tuple[str, str, str]:
    for bands in COMPOSITES:
        if set(bands) <= set(scene.band_names):
            return bands
    raise ValueError(f"{scene.name}: no three bands for a colour composite")


def stretch(band: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """2–98 % linear stretch to uint8."""
    if not valid.any():
        return np.zeros(band.shape, np.uint8)
    low, high = np.percentile(band[valid], (2, 98))
    scaled = (band - low) / max(high - low, 1e-12) * 255
    return np.clip(scaled, 0, 255).astype(np.uint8)


def read_composite(scene: Scene, shape: tuple[int, int]) -> np.ndarray:
    """An 8-bit colour composite of the scene, decimated to ``shape`` (rows, cols)."""
    grid = scene.grid
    data, valid = scene.read(Window(0, 0, grid.width, grid.height), composite_bands(scene), shape)
    return np.dstack([stretch(band.astype(np.float64), valid) for band in data])


def write_quicklook(scene: Scene, polygons: Path | None, out: Path, max_size: int = 1024) -> Path:
    grid = scene.grid
    shape = scene.grid.preview_shape(max_size, enlarge=True)
    image = Image.fromarray(read_composite(scene, shape))
    if polygons is not None:
        draw = ImageDraw.Draw(image)
        to_pixel = ~grid.transform
        sx, sy = shape[1] / grid.width, shape[0] / grid.height
        for geom in pyogrio.read_dataframe(polygons, layer=LAYER).geometry:
            for ring in _rings(geom):
                xy = [(c * sx, r * sy) for c, r in (to_pixel @ (x, y) for x, y in ring.coords)]
                draw.line(xy, fill=OUTLINE, width=1)
    return _save(image, out)


# Change overlay colours: the class colours of loss.tif (geoseg.styles), unknown grey.
CHANGE_COLOURS = {
    LOSS: CLASS_COLOURS["loss"],
    GAIN: CLASS_COLOURS["gain"],
    UNKNOWN: (128, 128, 128),
}
CHANGE_LEGEND = ((LOSS, "loss"), (GAIN, "gain"), (UNKNOWN, "unknown (no data, cloud)"))
PANEL_GAP = 8
TEXT_SIZE = 14
BAND_HEIGHT = 24  # the title strip above the panels and the legend strip below


def write_change_quicklook(
    before: Scene, after: Scene, loss: Path, out: Path, max_size: int = 700
) -> Path:
    """Three titled panels: before, after, and after with loss, gain and unknown in their
    colours, above a legend of those colours: the PNG is read without the README."""
    shape = before.grid.preview_shape(max_size, enlarge=True)
    panels = [read_composite(before, shape), read_composite(after, shape)]
    with rasterio.open(loss) as src:
        change = src.read(1, out_shape=shape, resampling=Resampling.nearest)
    overlay = panels[1].copy()
    for value, colour in CHANGE_COLOURS.items():
        overlay[change == value] = colour
    gap = np.full((shape[0], PANEL_GAP, 3), 255, np.uint8)
    row = Image.fromarray(np.hstack([panels[0], gap, panels[1], gap, overlay]))
    titles = (f"before: {_when(before)}", f"after: {_when(after)}", "change, on after")
    return _save(_with_legend(_with_titles(row, shape[1], titles), CHANGE_LEGEND), out)


def _when(scene: Scene) -> str:
    """A panel's date and scene name (the date first: it is what tells the panels apart)."""
    return f"{scene.date_text}  {scene.name}" if scene.date else scene.name


def _with_titles(row: Image.Image, panel_width: int, titles: tuple[str, ...]) -> Image.Image:
    """``row`` (panels ``panel_width`` wide, ``PANEL_GAP`` apart) under a strip of titles, each
    cut to its panel's width."""
    image = Image.new("RGB", (row.width, row.height + BAND_HEIGHT), "white")
    image.paste(row, (0, BAND_HEIGHT))
    draw, font = ImageDraw.Draw(image), _font()
    for i, title in enumerate(titles):
        text = _fitted(title, panel_width - 8, font)
        draw.text((i * (panel_width + PANEL_GAP) + 4, 4), text, fill="black", font=font)
    return image


def _with_legend(image: Image.Image, entries: tuple[tuple[int, str], ...]) -> Image.Image:
    """``image`` above a strip of colour swatches and their names."""
    framed = Image.new("RGB", (image.width, image.height + BAND_HEIGHT), "white")
    framed.paste(image, (0, 0))
    draw, font = ImageDraw.Draw(framed), _font()
    x, top = 4, image.height + 5
    for value, name in entries:
        draw.rectangle((x, top, x + 14, top + 14), fill=CHANGE_COLOURS[value], outline="black")
        draw.text((x + 20, top), name, fill="black", font=font)
        x += 20 + int(draw.textlength(name, font=font)) + 16
    return framed


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=TEXT_SIZE)


def _fitted(text: str, width: int, font: ImageFont.ImageFont | ImageFont.FreeTypeFont) -> str:
    """``text``, cut with an ellipsis to fit ``width`` pixels."""
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "…") > width:
        text = text[:-1]
    return text + "…"


def _save(image: Image.Image, out: Path) -> Path:
    tmp = out.with_name(f".{out.name}.tmp.png")
    image.save(tmp)
    tmp.replace(out)
    return out


def _rings(geom: shapely.Geometry) -> list[shapely.LinearRing]:
    rings = []
    for polygon in shapely.get_parts(geom):
        rings.append(polygon.exterior)
        rings.extend(polygon.interiors)
    return rings


# Error map colours of the target class: hit, false alarm, miss, correct rejection, unlabelled.
ERROR_COLOURS = {
    "tp": (0, 170, 0),
    "fp": (230, 0, 0),
    "fn": (30, 90, 255),
    "tn": (200, 200, 200),
    "unlabelled": (0, 0, 0),
}


def write_error_map(
    classes: Path, labels: GridLabels, target: int, out: Path, max_size: int = 1024
) -> Path:
    """The target class's hits (green), false alarms (red) and misses (blue) against labels."""
    with rasterio.open(classes) as src:
        grid = Grid(src.crs, src.transform, src.width, src.height)
        shape = grid.preview_shape(max_size)
        predicted = src.read(1, out_shape=shape, resampling=Resampling.nearest) == target
    preview = Grid(
        grid.crs,
        grid.transform * grid.transform.scale(grid.width / shape[1], grid.height / shape[0]),
        shape[1],
        shape[0],
    )
    reference = labels.read_grid(preview, Window(0, 0, shape[1], shape[0]))
    truth = reference == target
    image = np.zeros((*shape, 3), np.uint8)
    labelled = reference != IGNORE
    for name, where in (
        ("tp", truth & predicted),
        ("fp", ~truth & predicted),
        ("fn", truth & ~predicted),
        ("tn", ~truth & ~predicted),
    ):
        image[where & labelled] = ERROR_COLOURS[name]
    return _save(Image.fromarray(image), out)
