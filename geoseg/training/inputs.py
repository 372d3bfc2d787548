"""Up-front checks of the files ``train`` and ``evaluate`` read and write.

Each problem is one ``ConfigError`` naming the file and the reason, raised before any work (a
training epoch, a report): otherwise the same problems surface later as a library's traceback
(rasterio, pyogrio), or as a run that "succeeds" with nothing to score.

File names are checked too: Python keeps a name that is not valid UTF-8 as text with lone
surrogates, which GDAL (and the other libraries geoseg hands names to) cannot take; their
``UnicodeEncodeError`` names no file. ``printable`` writes such a name so that any terminal and
JSON take it (``sc\\xffene.tif``).
"""

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import CRSError, NotGeoreferencedWarning, RasterioError
from rasterio.io import DatasetReader
from rasterio.windows import Window

from geoseg.errors import ConfigError
from geoseg.grid import Grid
from geoseg.locations import gdal_path, is_remote, printable
from geoseg.scenes import SceneSource, find_scenes


def require_utf8_name(path: str | Path, what: str) -> None:
    """Refuse a file name that is not valid UTF-8, naming it: GDAL cannot open it, nor JSON
    (a model card, a manifest) hold it, and their ``UnicodeEncodeError`` says no file."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(
            f"{printable(path)}: the name of this {what} is not valid UTF-8 (GDAL and JSON "
            "take only UTF-8 names); rename it"
        ) from None


def require_file(path: str | Path, what: str) -> None:
    """A local ``path`` must name a file that exists (not a folder) and that this process may
    read; a remote one is checked when it is opened."""
    require_utf8_name(path, what)
    if is_remote(path):
        return
    if os.path.isdir(path):
        raise ConfigError(f"{path}: a folder, not a {what}")
    if not os.path.exists(path):
        raise ConfigError(f"{path}: no such {what}")
    if not os.access(path, os.R_OK):  # GDAL would call it corrupt or not a raster
        raise ConfigError(f"{path}: cannot read the {what} (permission denied)")


def reason_of(exc: BaseException) -> str:
    """The gist of a library's error, in GDAL's own words: its first line and clause (pyogrio
    joins GDAL's messages with "; ", the later ones hints such as naming a driver), without the
    call that failed (SQLite's query before " failed: "), from the innermost cause (rasterio's
    "Read failed" wraps GDAL's "Read error at ...")."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    text = str(exc).strip()
    if not text:
        return type(exc).__name__
    first = text.splitlines()[0].split("; ")[0]
    return first.rsplit(" failed: ", 1)[-1]


@contextmanager
def open_raster(path: str | Path, what: str) -> Iterator[DatasetReader]:
    """``path`` opened with rasterio, or one line saying why it cannot be (the error GDAL gives
    for a text file, a folder or a truncated header, and its warning for a file without
    georeferencing, which ``raster_grid`` then refuses in words of its own)."""
    require_file(path, what)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            src = rasterio.open(gdal_path(str(path)))
    except (RasterioError, CRSError) as exc:
        raise ConfigError(
            f"{path}: cannot read the {what} ({reason_of(exc)}); the file is corrupt, truncated "
            "or not a raster"
        ) from None
    with src:
        yield src


def raster_grid(src: DatasetReader, what: str) -> Grid:
    """The grid of an open raster that geoseg can read onto another grid: georeferenced, real
    valued, readable to its last pixel (a truncated file fails here, not halfway through)."""
    if src.crs is None or src.transform.is_identity:
        raise ConfigError(
            f"{src.name}: the {what} has no CRS or no georeferencing; assign them "
            "(gdal_edit.py -a_srs EPSG:... -a_ullr ...)"
        )
    if any("complex" in dtype for dtype in src.dtypes):  # complex64/128, GDAL's CInt16/CInt32
        raise ConfigError(
            f"{src.name}: the {what} holds complex values ({src.dtypes[0]}), not classes"
        )
    try:
        src.read(1, window=Window(src.width - 1, src.height - 1, 1, 1))
    except RasterioError as exc:
        raise ConfigError(
            f"{src.name}: cannot read the {what} ({reason_of(exc)}); the file is corrupt or "
            "truncated"
        ) from None
    return Grid(src.crs, src.transform, src.width, src.height)


def class_raster_grid(path: str | Path) -> Grid:
    """The grid of a class raster to evaluate, checked: it must hold integer class indices (a
    probability raster, of floats, is the usual mistake)."""
    with open_raster(path, "class raster") as src:
        grid = raster_grid(src, "class raster")
        if not np.issubdtype(np.dtype(src.dtypes[0]), np.integer):
            raise ConfigError(
                f"{path}: holds {src.dtypes[0]} values, not class indices; give a class raster "
                "(such as OUT/<scene>/classes.tif)"
            )
    return grid


def one_scene(path: str | Path) -> SceneSource:
    """The one scene at ``path`` (training uses one): a folder holding none or several is one
    line, naming the scenes it found."""
    found = find_scenes(path)
    if not found:
        raise ConfigError(f"{path}: no scenes found (looked for .tif/.tiff files)")
    if len(found) > 1:
        names = ", ".join(printable(s.name) for s in found[:5]) + (
            ", ..." if len(found) > 5 else ""
        )
        raise ConfigError(
            f"{path}: holds {len(found)} scenes ({names}); train on one of them (give its file "
            "or folder)"
        )
    return found[0]
