"""STAC: the items of a catalog as scenes, and a STAC Item describing each scene's outputs.

A STAC Item, an ItemCollection (GeoJSON FeatureCollection), or a static Catalog / Collection
(local file or URL, read with pystac) lists scenes: one per item, named by the item's id, dated by
its datetime. Its raster assets become bands: named by their ``eo:bands`` common names (else the
band's or the asset's name, ``B04``, ``SR_B4``, ``red``, read with the item's sensor), rescaled by
their ``raster:bands`` scale and offset. Outputs get an Item of their own (``item.json``: the
probability and class COGs and the polygons as assets, the input item linked as
``derived_from``), so results drop into a catalog.
"""

import datetime as dt
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pystac
from pystac.extensions.eo import EOExtension
from pystac.extensions.raster import RasterExtension
from pystac.utils import make_absolute_href
from rasterio.warp import transform_bounds

from geoseg import bands as bandnames
from geoseg.errors import ConfigError
from geoseg.scenes import RASTER_SUFFIXES, AssetBand, CatalogEntry, Scene, SceneSource

# Assets that are not bands of the scene: previews, true-colour renderings, metadata.
_NOT_BANDS = {"thumbnail", "overview", "visual", "metadata", "rendered_preview"}
_RASTERS = (*RASTER_SUFFIXES, ".jp2", ".JP2")
ITEM_FILE = "item.json"


def stac_scenes(location: str) -> list[SceneSource]:
    """One scene per item of the STAC file at ``location`` (Item, ItemCollection, Catalog or
    Collection, searched recursively), sorted by name."""
    try:
        document = pystac.StacIO.default().read_json(location)
        if document.get("type") == "FeatureCollection":
            items: Iterable[pystac.Item] = pystac.ItemCollection.from_dict(document).items
        else:
            stac = pystac.read_dict(document, href=location)
            if isinstance(stac, pystac.Item):
                items = [stac]
            elif isinstance(stac, pystac.Catalog):
                items = stac.get_items(recursive=True)
            else:
                raise ConfigError(f"{location}: a STAC {type(stac).__name__} lists no scenes")
        sources = [item_scene(item, location) for item in items]
    except (OSError, ValueError, KeyError, pystac.STACError, pystac.STACTypeError) as exc:
        raise ConfigError(f"{location}: not a readable STAC file ({_first_line(exc)})") from None
    if not sources:
        raise ConfigError(f"{location}: the STAC file lists no items")
    names = [s.name for s in sources]
    if len(set(names)) < len(names):
        raise ConfigError(f"{location}: item ids repeat; each item is a scene named by its id")
    return sorted(sources, key=lambda s: s.name)


def item_scene(item: pystac.Item, location: str) -> SceneSource:
    """An item as a scene: its raster assets as bands (relative hrefs against ``location``
    when the item has no link to itself)."""
    props = item.properties
    sensor = bandnames.sensor_from_text(
        " ".join(str(props.get(k, "")) for k in ("platform", "constellation", "instruments"))
    )
    when = item.datetime or item.common_metadata.start_datetime
    bands = []
    for key, asset in sorted(item.assets.items(), key=lambda kv: _preference(*kv)):
        href = asset.get_absolute_href() or make_absolute_href(asset.href, location)
        if _is_band_asset(key, asset, href):
            bands += _asset_bands(key, asset, href, sensor)
    taken: set[str] = set()
    kept = []
    for band in bands:  # a band offered as COG and JPEG 2000: the first (the COG) is read
        if band.name is None or band.name not in taken:
            kept.append(band)
            taken.add(band.name or "")
    return SceneSource(
        _safe_name(item.id),
        tuple(dict.fromkeys(b.path for b in kept)),
        CatalogEntry(
            tuple(kept),
            sensor,
            when.date() if when else None,
            item.get_self_href() or location,
        ),
    )


def _preference(key: str, asset: pystac.Asset) -> int:
    """GeoTIFFs first, then other rasters; the item's order within each (a stable sort)."""
    return 0 if "tiff" in (asset.media_type or "") else 1


def _is_band_asset(key: str, asset: pystac.Asset, href: str) -> bool:
    if key in _NOT_BANDS or _NOT_BANDS & set(asset.roles or ()):
        return False
    media = asset.media_type or ""
    return "image/tiff" in media or "image/jp2" in media or href.split("?")[0].endswith(_RASTERS)


def _asset_bands(key: str, asset: pystac.Asset, href: str, sensor: str | None) -> list[AssetBand]:
    """The bands of one asset: from ``eo:bands`` / ``raster:bands`` (STAC 1.0 extensions, read by
    pystac) or STAC 1.1's ``bands`` (``eo:common_name``, ``raster:scale``; not parsed by pystac
    1.15); an asset describing none is one band named by its key."""
    eo = EOExtension.ext(asset, add_if_missing=True).bands or []
    raster = RasterExtension.ext(asset, add_if_missing=True).bands or []
    described: list[dict[str, Any]] = asset.extra_fields.get("bands") or [
        {
            "name": eo[i].name if i < len(eo) else key,
            "eo:common_name": eo[i].common_name if i < len(eo) else None,
            "raster:scale": raster[i].scale if i < len(raster) else None,
            "raster:offset": raster[i].offset if i < len(raster) else None,
        }
        for i in range(max(len(eo), len(raster), 1))
    ]
    out = []
    for index, band in enumerate(described, start=1):
        label = str(band.get("name") or key)
        common = band.get("eo:common_name")
        name = (common and bandnames.canonical_name(str(common), sensor)) or (
            bandnames.canonical_name(label, sensor) or bandnames.canonical_name(key, sensor)
        )
        out.append(
            AssetBand(href, index, label, name, band.get("raster:scale"), band.get("raster:offset"))
        )
    return out


def _safe_name(item_id: str) -> str:
    """An item id as a folder name (ids may hold ``/`` or ``:``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", item_id).strip("._") or "item"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def scene_item(
    scene: Scene, created: dt.datetime, outputs: dict[str, Path], classes: tuple[str, ...]
) -> pystac.Item:
    """The STAC Item of a scene's outputs: footprint and projection from its grid, the scene's
    date (else when the outputs were made), one asset per output file (hrefs relative to the
    item), and a ``derived_from`` link to the item the scene was listed by."""
    grid = scene.grid
    west, south, east, north = transform_bounds(grid.crs, "EPSG:4326", *grid.bounds)
    footprint = {
        "type": "Polygon",
        "coordinates": [
            [[west, south], [east, south], [east, north], [west, north], [west, south]]
        ],
    }
    when = dt.datetime.combine(scene.date, dt.time(), dt.UTC) if scene.date else created
    item = pystac.Item(scene.name, footprint, [west, south, east, north], when, {})
    epsg = grid.crs.to_epsg()
    item.properties |= {
        **({"proj:code": f"EPSG:{epsg}"} if epsg else {"proj:wkt2": grid.crs.to_wkt()}),
        "proj:shape": [grid.height, grid.width],
        "proj:transform": list(grid.transform)[:6],
        "geoseg:classes": list(classes),
    }
    item.stac_extensions.append(PROJECTION)
    for key, path in outputs.items():
        style = (STYLE_MEDIA, ["metadata"], f"QGIS style of {key.removesuffix('_style')}")
        media, roles, title = _OUTPUT_ASSETS.get(
            key, style if key.endswith("_style") else (None, ["data"], key)
        )
        item.add_asset(key, pystac.Asset(f"./{path.name}", title, media_type=media, roles=roles))
    if scene.item is not None:
        item.add_link(pystac.Link("derived_from", scene.item, pystac.MediaType.JSON))
    return item


STYLE_MEDIA = "application/xml"  # a QGIS .qml style
PROJECTION = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
_OUTPUT_ASSETS = {
    "probability": (pystac.MediaType.COG, ["data"], "Class probabilities"),
    "classes": (pystac.MediaType.COG, ["data"], "Class of each pixel"),
    "polygons": (pystac.MediaType.GEOPACKAGE, ["data"], "Polygons of the target class"),
    "quicklook": (pystac.MediaType.PNG, ["overview"], "Quicklook"),
}
