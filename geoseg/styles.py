"""How the output rasters look when opened: class colours, GDAL colour tables, QGIS styles.

A class raster (``classes.tif``, ``loss.tif``) carries a GDAL colour table, so every GDAL-based
viewer shows it in its class colours, and its class names as band metadata (``CLASS_<value>``),
inside the TIFF. Category names and raster attribute tables are not TIFF tags: GDAL would keep
them in a ``.aux.xml`` beside the COG, which copies and uploads lose. A TIFF colour table also
always has 256 entries, which QGIS lists as 256 legend entries. So each styled raster also gets a
``<name>.qml`` beside it, which QGIS loads as the layer's default style: a paletted renderer with
only the classes, named, or for ``probability.tif`` (one band per class, which QGIS would show as
an RGB composite) a single-band pseudocolour ramp of one class's probability from 0 to 1.
"""

from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

RGB = tuple[int, int, int]

# One colour per class name, wherever a class of that name appears (rasters, quicklooks).
CLASS_COLOURS: dict[str, RGB] = {
    "forest": (34, 139, 34),
    "non_forest": (230, 200, 120),
    "unchanged": (211, 211, 211),
    "loss": (220, 20, 20),
    "gain": (30, 90, 255),
}
# Classes without a colour of their own (other models' classes) take these, by class value.
FALLBACK_COLOURS: tuple[RGB, ...] = (
    (166, 206, 227),
    (31, 120, 180),
    (178, 223, 138),
    (51, 160, 44),
    (251, 154, 153),
    (227, 26, 28),
    (253, 191, 111),
    (255, 127, 0),
    (202, 178, 214),
    (106, 61, 154),
)
# Probability ramp (ColorBrewer YlGn): pale at 0, dark green at 1.
PROBABILITY_RAMP: tuple[tuple[float, RGB], ...] = (
    (0.0, (255, 255, 229)),
    (0.5, (120, 198, 121)),
    (1.0, (0, 69, 41)),
)


@dataclass(frozen=True)
class Category:
    """One value of a class raster: its class name and display colour."""

    value: int
    name: str
    colour: RGB


def categories(names: tuple[str, ...]) -> tuple[Category, ...]:
    """Class names in value order (0, 1, …) with their colours."""
    return tuple(
        Category(value, name, CLASS_COLOURS.get(name, FALLBACK_COLOURS[value % 10]))
        for value, name in enumerate(names)
    )


def vrt_palette(cats: tuple[Category, ...]) -> str:
    """``VRTRasterBand`` elements giving the band a colour table (256 entries, as a TIFF's;
    values without a class, nodata among them, transparent) and its class names as ``CLASS_<value>`` metadata:
    both survive GDAL's COG driver into the TIFF itself."""
    colours = {c.value: (*c.colour, 255) for c in cats}
    entries = "".join(
        '<Entry c1="{}" c2="{}" c3="{}" c4="{}"/>'.format(*colours.get(v, (0, 0, 0, 0)))
        for v in range(256)
    )
    names = "".join(
        f"<MDI key={quoteattr(f'CLASS_{c.value}')}>{escape(c.name)}</MDI>" for c in cats
    )
    return (
        f"<ColorInterp>Palette</ColorInterp><Metadata>{names}</Metadata>"
        f"<ColorTable>{entries}</ColorTable>"
    )


def paletted_qml(cats: tuple[Category, ...]) -> str:
    """A QGIS style: paletted renderer with one named entry per class (nodata left out)."""
    entries = "\n".join(
        f'        <paletteEntry value="{c.value}" alpha="255" color="{_hex(c.colour)}" '
        f"label={quoteattr(c.name)}/>"
        for c in cats
    )
    renderer = (
        '    <rasterrenderer band="1" alphaBand="-1" nodataColor="" opacity="1" type="paletted">\n'
        f"      <colorPalette>\n{entries}\n      </colorPalette>\n"
        "    </rasterrenderer>"
    )
    return _qml(renderer, resampling="nearestNeighbour")


def pseudocolour_qml(band: int) -> str:
    """A QGIS style: one band of a probability raster on a 0–1 colour ramp."""
    items = "\n".join(
        f'          <item value="{value}" alpha="255" color="{_hex(rgb)}" label="{value:g}"/>'
        for value, rgb in PROBABILITY_RAMP
    )
    renderer = (
        f'    <rasterrenderer band="{band}" alphaBand="-1" nodataColor="" opacity="1" '
        'classificationMin="0" classificationMax="1" type="singlebandpseudocolor">\n'
        "      <rastershader>\n"
        '        <colorrampshader colorRampType="INTERPOLATED" classificationMode="1" clip="0" '
        f'minimumValue="0" maximumValue="1" labelPrecision="2">\n{items}\n'
        "        </colorrampshader>\n"
        "      </rastershader>\n"
        "    </rasterrenderer>"
    )
    return _qml(renderer, resampling="bilinear")


def _qml(renderer: str, resampling: str) -> str:
    """A QGIS 3 layer style document (the subset QGIS 3.22 and later read) around a renderer."""
    return (
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
        '<qgis version="3.22.0" styleCategories="Symbology">\n'
        "  <pipe>\n"
        f'    <provider><resampling enabled="false" zoomedInResamplingMethod="{resampling}" '
        f'zoomedOutResamplingMethod="nearestNeighbour" maxOversampling="2"/></provider>\n'
        f"{renderer}\n"
        "  </pipe>\n"
        "</qgis>\n"
    )


def _hex(rgb: RGB) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)
