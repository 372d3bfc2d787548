"""The polygons GeoPackage: streamed from per-window parts, styled for QGIS, written atomically.

GeoPackage 1.2 is written (not GDAL's default 1.4), because QGIS 3.22 — Debian's — warns on 1.4.
QGIS reads a layer's default style from the ``layer_styles`` table, as it writes it itself.
"""

import datetime as dt
import os
from collections.abc import Iterable
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from geoseg.errors import OutputError

LAYER = "polygons"  # the layer of a scene's polygons.gpkg; loss.gpkg's is "loss"
GPKG_VERSION = "1.2"

STYLE_QML = """<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.22.0" styleCategories="Symbology">
 <renderer-v2 type="singleSymbol" symbollevels="0" enableorderby="0" forceraster="0">
  <symbols>
   <symbol type="fill" name="0" alpha="1" clip_to_extent="1" force_rhr="0">
    <layer class="SimpleFill" enabled="1" locked="0" pass="0">
     <prop k="color" v="255,120,0,110"/>
     <prop k="style" v="solid"/>
     <prop k="outline_color" v="200,30,0,255"/>
     <prop k="outline_style" v="solid"/>
     <prop k="outline_width" v="0.4"/>
     <prop k="outline_width_unit" v="MM"/>
    </layer>
   </symbol>
  </symbols>
 </renderer-v2>
</qgis>
"""


def style_table(layer: str = LAYER, geometry_column: str = "geom") -> pd.DataFrame:
    """A one-row ``layer_styles`` table making ``STYLE_QML`` the layer's default style."""
    return pd.DataFrame(
        {
            "f_table_catalog": [""],
            "f_table_schema": [""],
            "f_table_name": [layer],
            "f_geometry_column": [geometry_column],
            "styleName": [f"geoseg {layer}"],
            "styleQML": [STYLE_QML],
            "styleSLD": [""],
            "useAsDefault": [True],
            "description": ["geoseg default style: orange fill, red outline"],
            "owner": [""],
            "ui": [""],
            "update_time": [dt.datetime.now(dt.UTC).replace(tzinfo=None)],
        }
    )


def write_geopackage(
    parts: Iterable[gpd.GeoDataFrame],
    path: Path,
    crs: str,
    empty: gpd.GeoDataFrame,
    metadata: dict[str, str],
    layer: str = LAYER,
) -> int:
    """Stream ``parts`` into the layer ``layer`` of ``path`` with sequential ids; return the
    feature count.

    ``empty`` is a zero-row frame with the layer's columns, written when no part has rows, so an
    empty result is still a valid, typed layer. The file appears at ``path`` only when complete.
    """
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.gpkg")
    tmp.unlink(missing_ok=True)
    count = 0
    options = {
        "dataset_options": {"VERSION": GPKG_VERSION},
        "layer_options": {"DESCRIPTION": metadata.get("description", "")},
        "metadata": metadata,
    }
    try:
        for part in parts:
            if not len(part):
                continue
            pyogrio.write_dataframe(
                _with_ids(part, crs, count),
                tmp,
                layer=layer,
                promote_to_multi=True,
                append=count > 0,
                **({} if count else options),
            )
            count += len(part)
        if count == 0:
            pyogrio.write_dataframe(
                _with_ids(empty, crs, 0), tmp, layer=layer, geometry_type="MultiPolygon", **options
            )
        pyogrio.write_dataframe(style_table(layer), tmp, layer="layer_styles")
        os.replace(tmp, path)
    except (OSError, pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write ({exc})") from exc
    return count


def _with_ids(part: gpd.GeoDataFrame, crs: str, first: int) -> gpd.GeoDataFrame:
    part = part.set_crs(crs, allow_override=True)
    part.insert(
        0, "id", pd.Series(range(first + 1, first + 1 + len(part)), index=part.index, dtype="int64")
    )
    return part
