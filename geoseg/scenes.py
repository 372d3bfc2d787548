"""Scenes: find them in a directory, open them as small values, read windows of them.

A scene is one acquisition of one place, stored either as one multi-band GeoTIFF/COG or as a
folder (or group of files sharing a prefix) with one file per band. ``open_scene`` turns its files
into a ``Scene``: the pixel grid (the finest band's), each band's canonical name, reflectance scale
and offset, sensor and date. ``Scene.read`` reads one window of chosen bands onto that grid; a band
stored at another resolution is resampled window by window, never read whole.
"""

import datetime as dt
import os
import re
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

import numpy as np
import rasterio
from rasterio.enums import MaskFlags, Resampling
from rasterio.errors import CRSError, NodataShadowWarning, NotGeoreferencedWarning, RasterioError
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from geoseg import bands as bandnames
from geoseg.errors import ConfigError, GeosegNote, SceneError
from geoseg.grid import Grid, bounds_intersect, is_north_up
from geoseg.locations import (
    absolute,
    gdal_path,
    is_remote,
    is_s3,
    list_s3,
    location,
    name_of,
    parent_name,
    printable,
    redact,
)
from geoseg.options import SceneOptions

RASTER_SUFFIXES = (".tif", ".tiff", ".TIF", ".TIFF")
_READ_ERRORS = (RasterioError, CRSError)


@dataclass(frozen=True)
class AssetBand:
    """One band as a catalog describes it: its file, its index there, its label and canonical
    name (None: not used), and the scale and offset the catalog gives (None: the file's own)."""

    path: str
    index: int
    label: str
    name: str | None
    scale: float | None = None
    offset: float | None = None


@dataclass(frozen=True)
class CatalogEntry:
    """What a catalog (a STAC item) says of a scene: its bands, sensor, date, and the item's
    address (linked from the outputs' item)."""

    bands: tuple[AssetBand, ...]
    sensor: str | None
    date: dt.date | None
    item: str


@dataclass(frozen=True)
class SceneSource:
    """The files of one scene, as found on disk, in a bucket or in a catalog (nothing opened
    yet)."""

    name: str
    paths: tuple[str, ...]
    entry: CatalogEntry | None = None

    @property
    def per_band(self) -> bool:
        return (
            len(self.paths) > 1
            or bandnames.band_label_from_filename(Path(self.paths[0]).stem) is not None
        )


@dataclass(frozen=True)
class BandSource:
    """Where one band of a scene lives and how its numbers become reflectance."""

    name: str
    label: str
    path: str
    index: int
    scale: float
    offset: float
    nodata: float | None
    on_grid: bool


@dataclass(frozen=True)
class Scene:
    """An opened scene: small, picklable, cheap to send to any worker."""

    name: str
    grid: Grid
    bands: tuple[BandSource, ...]
    sensor: str | None
    date: dt.date | None
    date_precision: str | None
    scale_source: str
    unmapped: tuple[str, ...] = field(default=())
    item: str | None = None  # the STAC item the scene was listed by

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(b.path for b in self.bands))

    @property
    def date_text(self) -> str | None:
        """The date as precise as it is known: ``2021-05-27``, or ``2000`` for a composite."""
        return date_text(self.date, self.date_precision)

    @property
    def band_names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.bands)

    def band(self, name: str) -> BandSource:
        for source in self.bands:
            if source.name == name:
                return source
        raise SceneError(f"{self.name}: no band {name!r} (has {', '.join(self.band_names)})")

    def read(
        self, window: Window, names: tuple[str, ...], shape: tuple[int, int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Reflectance of ``names`` in ``window`` as float32 (bands, rows, cols), and the valid mask.

        A pixel is valid when every band read has data there (not nodata, inside the band's
        footprint, finite). Invalid pixels hold 0 in the returned array. ``shape`` (rows, cols)
        reads the window decimated (averaged) to that size: a preview of any size of scene.
        """
        sources = [self.band(n) for n in names]
        shape = shape or (int(window.height), int(window.width))
        data = np.empty((len(sources), *shape), np.float32)
        valid = np.ones(shape, bool)
        by_path: dict[str, list[int]] = defaultdict(list)
        for i, source in enumerate(sources):
            by_path[source.path].append(i)
        for path, positions in by_path.items():
            self._read_file(path, [sources[i] for i in positions], window, data, positions, valid)
        data[:, ~valid] = 0.0
        return data, valid

    def _read_file(
        self,
        path: str,
        sources: list[BandSource],
        window: Window,
        out: np.ndarray,
        positions: list[int],
        valid: np.ndarray,
    ) -> None:
        indexes = [s.index for s in sources]
        decimated = out.shape[1:] != (int(window.height), int(window.width))
        quality = sources[0].name in bandnames.QUALITY_BANDS
        resampling = (
            Resampling.nearest
            if quality
            else (Resampling.average if decimated else Resampling.bilinear)
        )
        args = {
            "window": window,
            "out_shape": (len(indexes), *out.shape[1:]),
            "resampling": resampling,
        }
        try:
            with rasterio.open(gdal_path(path)) as src, warnings.catch_warnings():
                # A 4-band file with nodata: GDAL may call band 4 alpha; nodata is what counts.
                warnings.simplefilter("ignore", NodataShadowWarning)
                if sources[0].on_grid:
                    raw, masks = src.read(indexes, **args), _masks(src, indexes, args)
                else:
                    # The alpha band marks pixels outside this band's footprint as invalid.
                    with WarpedVRT(
                        src,
                        crs=self.grid.crs,
                        transform=self.grid.transform,
                        width=self.grid.width,
                        height=self.grid.height,
                        resampling=resampling,
                        add_alpha=True,
                    ) as vrt:
                        raw = vrt.read(indexes, **args)
                        alpha = vrt.read(vrt.count, window=window, out_shape=out.shape[1:])
                        masks = vrt.read_masks(indexes, **args) & alpha[None]
        except _READ_ERRORS as exc:
            raise SceneError(
                f"{path}: read failed ({_reason(exc)}); the file is corrupt or truncated"
            ) from exc
        for k, (pos, source) in enumerate(zip(positions, sources, strict=True)):
            values = raw[k].astype(np.float32) * np.float32(source.scale) + np.float32(
                source.offset
            )
            out[pos] = values
            valid &= (masks[k] > 0) & np.isfinite(values)


def _masks(src: rasterio.DatasetReader, indexes: list[int], args: dict) -> np.ndarray:
    """Validity of each band read with ``args``: GDAL's masks, skipped when all pixels are valid."""
    flags = [src.mask_flag_enums[i - 1] for i in indexes]
    if all(f == [MaskFlags.all_valid] for f in flags):
        return np.ones(args["out_shape"], np.uint8)
    return src.read_masks(indexes, **args)


def find_scenes(path: str | Path) -> list[SceneSource]:
    """The scenes in a directory or an S3 prefix (or the one scene a file is), sorted by name.

    - a multi-band raster file is one scene, named after its stem;
    - files whose names carry a band code (``B04.tif``, ``T20LNR_..._B04_10m.tif``,
      ``LC08_..._SR_B4.TIF``, ``..._QA_PIXEL.TIF``) are grouped by the rest of their name into
      one scene per group, named by that rest (``LC08_L2SP_..._T1``); a group alone in a
      sub-folder, or whose rest is empty (``B04.tif``), takes the folder's name;
    - sub-folders are searched one level down; hidden files and folders are skipped;
    - scenes that would share a name (``2020/scene.tif``, ``2021/scene.tif``) get their folder's
      name in front (``2020-scene``);
    - an ``http(s)://`` URL is one scene file; an ``s3://bucket/prefix/`` is searched like a
      folder (its objects are listed), an ``s3://`` object is one scene file. Remote files are
      read window by window with range requests.
    - a STAC Item, ItemCollection, Catalog or Collection (``.json``, local or remote) lists its
      items as scenes (``geoseg.stac``).
    """
    text = str(path)
    if text.lower().split("?", 1)[0].endswith(".json"):
        from geoseg.stac import stac_scenes  # pystac is imported only for catalogs

        return stac_scenes(location(text))
    if is_remote(text) and (not is_s3(text) or text.endswith(RASTER_SUFFIXES)):
        return [SceneSource(PurePosixPath(name_of(text)).stem, (text,))]
    if not is_remote(text) and absolute(path).is_file():
        return [SceneSource(absolute(path).stem, (str(absolute(path)),))]
    folders = _s3_folders(text) if is_s3(text) else _local_folders(absolute(path))
    found = [
        scene
        for index, (folder, files) in enumerate(folders.items())
        for scene in _scenes_in_folder(folder, files, in_subfolder=index > 0)
    ]
    return sorted(_unique_names(text, found), key=lambda s: s.name)


def _local_folders(root: Path) -> dict[str, list[str]]:
    """``root``'s raster files, and those of each visible sub-folder, by folder name (root
    first). Folders of geoseg outputs are left out (with one note); a file reached twice (by a
    link) counts once; a broken or looping link is kept, to fail as its own entry."""
    if not root.is_dir():
        raise ConfigError(f"{root}: no such scene file or directory")
    subfolders: list[Path] = []
    outputs: list[Path] = []
    misnamed: list[str] = []  # a folder named like a raster file: an entry that fails as such
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if sub.suffix in RASTER_SUFFIXES and not any(sub.glob("*.tif*")):
            misnamed.append(str(sub))
        else:
            (outputs if holds_outputs(sub) else subfolders).append(sub)
    if outputs:
        names = ", ".join(p.name for p in outputs[:3]) + (", ..." if len(outputs) > 3 else "")
        warnings.warn(
            f"{root}: {len(outputs)} folder(s) of geoseg outputs are not scenes ({names})",
            GeosegNote,
            stacklevel=2,
        )
    seen: set[str] = set()
    folders = {}
    for folder in [root, *subfolders]:
        files = []
        for path in sorted(folder.iterdir()):
            real = os.path.realpath(path)
            if (path.is_file() or (path.is_symlink() and not path.exists())) and real not in seen:
                seen.add(real)
                files.append(str(path))
        folders[folder.name] = files
    folders[root.name] += misnamed
    return folders


def holds_outputs(folder: Path) -> bool:
    """Is ``folder`` one of geoseg's output folders (a manifest, a run's work folder or lock)?"""
    from geoseg.locks import LOCK
    from geoseg.manifest import MANIFEST  # imported here: both modules import this one
    from geoseg.plan import WORK_DIR

    return (folder / MANIFEST).is_file() or (folder / WORK_DIR).is_dir() or (folder / LOCK).exists()


def _s3_folders(prefix: str) -> dict[str, list[str]]:
    """The objects of an S3 prefix and of its sub-prefixes one level down, by folder name."""
    prefix = prefix.rstrip("/") + "/"
    folders: dict[str, list[str]] = {name_of(prefix): []}
    for key in list_s3(prefix):
        parts = key[len(prefix) :].split("/")
        if len(parts) == 1:
            folders[name_of(prefix)].append(key)
        elif len(parts) == 2 and not parts[0].startswith("."):
            folders.setdefault(parts[0], []).append(key)
    if not any(folders.values()):
        raise ConfigError(f"{prefix}: no objects under this S3 prefix")
    return folders


def _scenes_in_folder(folder: str, files: list[str], in_subfolder: bool) -> list[SceneSource]:
    groups: dict[str, list[str]] = defaultdict(list)
    scenes = []
    for file in files:
        name = PurePosixPath(name_of(file))
        if name.suffix not in RASTER_SUFFIXES or name.name.startswith("."):
            continue
        label = bandnames.band_label_from_filename(name.stem)
        if label is None:
            scenes.append(SceneSource(name.stem, (file,)))
        else:
            groups[_group_key(name.stem, label)].append(file)
    for key, paths in groups.items():
        scene = folder if not key or (in_subfolder and len(groups) == 1) else key
        scenes.append(SceneSource(scene, tuple(paths)))
    return scenes


def _group_key(stem: str, label: str) -> str:
    """A per-band file's name without its band code and resolution suffix."""
    key = re.sub(rf"(^|[_\-.]){re.escape(label)}(?=[_\-.]|$)", "", stem, count=1)
    key = re.sub(r"[_\-.]?\d{2}m$", "", key)
    return key.strip("_-.")


def _unique_names(root: str, scenes: list[SceneSource]) -> list[SceneSource]:
    """Scenes sharing a name get their folder's name in front; a clash left is a ``ConfigError``."""
    counts = Counter(s.name for s in scenes)
    renamed = [
        SceneSource(f"{parent_name(s.paths[0])}-{s.name}", s.paths) if counts[s.name] > 1 else s
        for s in scenes
    ]
    seen: dict[str, SceneSource] = {}
    for scene in renamed:
        if scene.name in seen:
            raise ConfigError(
                f"{root}: {seen[scene.name].paths[0]} and {scene.paths[0]} would both "
                f"be scene {scene.name!r}; rename one of them"
            )
        seen[scene.name] = scene
    return renamed


def open_scene(source: SceneSource, options: SceneOptions | None = None) -> Scene:
    """Open and check a scene's files; every problem is a one-line ``SceneError``.

    A single file holding several bands is read as a multi-band file even when its name carries
    a band code; otherwise each file is one band, labelled by its name. ``options``: how to read
    files that do not say it themselves (default: ``SceneOptions()``).
    """
    options = options or SceneOptions()
    files = [_inspect(path) for path in source.paths]
    where = source.paths[0] if len(source.paths) == 1 else source.name
    entry = source.entry
    per_band = entry is None and (len(files) > 1 or (source.per_band and files[0].count == 1))
    if entry is not None:
        by_path = {f.path: f for f in files}
        located = [(by_path[b.path], b.index) for b in entry.bands]
        for (f, index), described in zip(located, entry.bands, strict=True):
            if index > f.count:
                raise SceneError(
                    f"{f.path}: the catalog describes band {index} ({described.label}) but the "
                    f"file holds {f.count}"
                )
        labels = [b.label for b in entry.bands]
    elif per_band:
        for f in files:
            if f.count != 1:
                raise SceneError(
                    f"{f.path}: holds {f.count} bands, but a scene of one file per "
                    "band needs one band in each file"
                )
        labels = [
            bandnames.band_label_from_filename(Path(f.path).stem)
            or f.descriptions[0]
            or Path(f.path).stem
            for f in files
        ]
        located = [(f, 1) for f in files]
    else:
        labels = [d or f"band{i + 1}" for i, d in enumerate(files[0].descriptions)]
        located = [(files[0], i + 1) for i in range(files[0].count)]
    names_text = " ".join([source.name, *(Path(p).stem for p in source.paths)])
    tags = files[0].tags
    sensor = (
        options.sensor
        or (entry and entry.sensor)
        or bandnames.sensor_from_text(names_text)
        or bandnames.sensor_from_text(" ".join(map(str, tags.values())))
        or bandnames.sensor_from_codes(labels)
    )
    if entry is not None and options.bands is None:
        names = [b.name for b in entry.bands]
    else:
        names = _band_names(where, labels, sensor, options)
    unmapped = tuple(lab for lab, n in zip(labels, names, strict=True) if n is None)
    if per_band or entry is not None:
        names = _drop_coarser_copies(names, [f for f, _ in located])
    _check_unique(where, names)
    grid = _finest_grid(source.name, [f for (f, _), n in zip(located, names, strict=True) if n])
    band_sources, origins = [], []
    given: list[AssetBand | None] = list(entry.bands) if entry else [None] * len(labels)
    for (f, index), label, name, band in zip(located, labels, names, given, strict=True):
        if name is None:
            continue
        scale, offset, origin = _band_scale(f, index, label, name, options, band)
        band_sources.append(
            BandSource(
                name=name,
                label=label,
                path=f.path,
                index=index,
                scale=scale,
                offset=offset,
                nodata=f.nodata,
                on_grid=f.grid.same_as(grid),
            )
        )
        if name not in bandnames.QUALITY_BANDS:
            origins.append(origin)
    date: dt.date | None
    precision: str | None
    if entry is not None and entry.date is not None:
        date, precision = entry.date, "day"
    else:
        date, precision = acquisition_date(
            " ".join([names_text, *(str(tags[k]) for k in _DATE_TAGS if k in tags)])
        )
    return Scene(
        source.name,
        grid,
        tuple(band_sources),
        sensor,
        date,
        precision,
        "+".join(dict.fromkeys(origins)) or "codes",
        unmapped,
        entry.item if entry is not None else None,
    )


@dataclass(frozen=True)
class _FileInfo:
    path: str
    count: int
    dtype: str
    grid: Grid
    descriptions: tuple[str | None, ...]
    scales: tuple[float, ...]
    offsets: tuple[float, ...]
    nodata: float | None
    tags: dict


def _inspect(path: str) -> _FileInfo:
    if os.path.isdir(path):
        raise SceneError(f"{path}: a folder, not a scene file")
    if not is_remote(path) and printable(path) != path:
        raise SceneError(
            f"{printable(path)}: the file name is not valid UTF-8 (GDAL opens only UTF-8 "
            "names); rename it"
        )
    try:
        with warnings.catch_warnings():
            # A file without georeferencing gets the one-line error below, not GDAL's warning.
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            src = rasterio.open(gdal_path(path))
        with src:
            if src.crs is None and src.gcps[0]:
                raise SceneError(
                    f"{path}: georeferenced by ground control points only; warp it first "
                    "(gdalwarp -t_srs EPSG:... in.tif out.tif)"
                )
            if src.crs is None:
                raise SceneError(f"{path}: no CRS; assign one (gdal_edit.py -a_srs EPSG:...)")
            if any("complex" in dtype for dtype in src.dtypes):  # complex64/128, complex_int16
                raise SceneError(
                    f"{path}: complex values ({src.dtypes[0]}) are not reflectance; convert "
                    "the bands to real numbers first (e.g. their amplitude)"
                )
            if not is_north_up(src.transform) or src.transform.is_identity:
                raise SceneError(
                    f"{path}: not a north-up georeferenced grid "
                    f"(transform {tuple(src.transform)[:6]}); warp it first"
                )
            # Read the last pixel of every band: a truncated file fails here, not hours later.
            src.read(window=Window(src.width - 1, src.height - 1, 1, 1))
            tags = src.tags() | {
                k: v for i in range(1, src.count + 1) for k, v in src.tags(i).items()
            }
            return _FileInfo(
                path,
                src.count,
                src.dtypes[0],
                Grid(src.crs, src.transform, src.width, src.height),
                src.descriptions,
                src.scales,
                src.offsets,
                src.nodata,
                tags,
            )
    except _READ_ERRORS as exc:
        if is_remote(path):
            reason = _reason(exc)
            missing = "code: 404" in reason or "does not exist" in reason
            found = "cannot read"
            if missing:
                found = "not found in the bucket" if is_s3(path) else "not found on the server"
            raise SceneError(redact(f"{path}: {found} ({reason})")) from None
        if os.path.islink(path) and not os.path.exists(path):
            raise SceneError(
                f"{path}: a broken or looping symbolic link (to {os.readlink(path)})"
            ) from None
        if not os.path.exists(path):
            raise SceneError(
                f"{path}: not found where it was read (inputs must be on storage every worker "
                "sees: a shared filesystem at the same path)"
            ) from None
        raise SceneError(
            f"{path}: cannot read ({_reason(exc)}); the file is corrupt, truncated or not a raster"
        ) from exc


def _band_names(
    where: str, labels: list[str], sensor: str | None, options: SceneOptions
) -> list[str | None]:
    """Each label's canonical name (None: not used), from ``options.bands`` or the labels."""
    if options.bands is not None:
        if len(options.bands) != len(labels):
            raise SceneError(
                f"{where}: `bands` names {len(options.bands)} bands but the scene "
                f"has {len(labels)} ({', '.join(labels)})",
                options=("bands",),
            )
        return list(options.bands)
    names = bandnames.canonical_names(labels, sensor)
    if all(n is None for n in names):
        if sensor is None and any(
            bandnames.canonical_name(lab, s) for lab in labels for s in bandnames.SENSORS
        ):
            raise SceneError(
                f"{where}: band codes {labels} mean different bands on different "
                "sensors and names and tags do not tell which; name the sensor with "
                "`sensor`, or the bands with `bands`",
                options=("sensor", "bands"),
            )
        raise SceneError(
            f"{where}: no band could be named (labels {labels}); name them with `bands`",
            options=("bands",),
        )
    return names


def _drop_coarser_copies(names: list[str | None], files: list[_FileInfo]) -> list[str | None]:
    """Per-band files holding one band at several resolutions (``B04_10m``, ``B04_20m``): the
    finest is used, the others become None."""
    area = [f.grid.resolution[0] * f.grid.resolution[1] for f in files]
    return [
        None
        if n is not None and any(m == n and area[j] < area[k] for j, m in enumerate(names))
        else n
        for k, n in enumerate(names)
    ]


def _check_unique(where: str, names: list[str | None]) -> None:
    taken = [n for n in names if n is not None]
    duplicates = sorted({n for n in taken if taken.count(n) > 1})
    if duplicates:
        raise SceneError(
            f"{where}: several bands map to {duplicates}; name them with `bands`",
            options=("bands",),
        )


def _finest_grid(scene: str, files: list[_FileInfo]) -> Grid:
    """The finest grid among the bands' files in their most common CRS; every file must overlap it.

    Resolutions in different CRSs (metres, degrees) do not compare, so a band in another CRS is
    only ever warped onto the others' grid.
    """
    crs = Counter(f.grid.crs for f in files).most_common(1)[0][0]
    finest = min(
        (f for f in files if f.grid.crs == crs),
        key=lambda f: f.grid.resolution[0] * f.grid.resolution[1],
    ).grid
    for f in files:
        if not grids_overlap(f.grid, finest):
            raise SceneError(
                f"{scene}: band file {Path(f.path).name} lies on a grid that does not "
                "overlap the other bands"
            )
    return finest


def grids_overlap(a: Grid, b: Grid) -> bool:
    """Do two grids' footprints intersect (compared in ``b``'s CRS)?"""
    bounds = a.bounds if a.crs == b.crs else transform_bounds(a.crs, b.crs, *a.bounds)
    return bounds_intersect(bounds, b.bounds)


def aligned(scene: Scene, grid: Grid) -> Scene:
    """``scene`` read onto ``grid`` (each window warped from its own files), to compare dates."""
    if scene.grid.same_as(grid):
        return scene
    if not grids_overlap(scene.grid, grid):
        raise SceneError(
            f"{scene.name}: its footprint does not overlap the grid it should be aligned to"
        )
    return replace(scene, grid=grid, bands=tuple(replace(b, on_grid=False) for b in scene.bands))


# Landsat Collection-2 Level-2 rescaling: surface reflectance, and surface temperature in kelvin.
_LANDSAT_C2 = {"SR_B": (2.75e-5, -0.2), "ST_B": (0.00341802, 149.0)}


def _band_scale(
    f: _FileInfo,
    index: int,
    label: str,
    name: str,
    options: SceneOptions,
    catalog: AssetBand | None = None,
) -> tuple[float, float, str]:
    """(scale, offset, where they came from) turning one band's numbers into reflectance.

    Quality layers (SCL, QA_PIXEL) keep their codes (1, 0). Otherwise, in order: the options'
    ``scale`` / ``offset``; the catalog's (STAC ``raster:bands``); the band's scale/offset
    metadata; Landsat Collection-2 names (``SR_B*``:
    0.0000275, -0.2; ``ST_B*``: 0.00341802, 149); Sentinel-2 BOA_QUANTIFICATION_VALUE /
    BOA_ADD_OFFSET tags; else by data type: uint8 → 1/255 (display-stretched composites), other
    integers → 1/10000, floats → 1.
    """
    if name in bandnames.QUALITY_BANDS:
        return 1.0, 0.0, "codes"
    if options.scale is not None:
        return options.scale, options.offset or 0.0, "option"
    if catalog is not None and (catalog.scale is not None or catalog.offset is not None):
        scale = 1.0 if catalog.scale is None else catalog.scale
        return scale, catalog.offset or 0.0, "stac"
    scale, offset = f.scales[index - 1], f.offsets[index - 1]
    if scale != 1.0 or offset != 0.0:
        return scale, offset, "metadata"
    for prefix, (scale, offset) in _LANDSAT_C2.items():
        if label.upper().startswith(prefix):
            return scale, offset, "landsat-c2"
    if "BOA_QUANTIFICATION_VALUE" in f.tags:
        quant = float(f.tags["BOA_QUANTIFICATION_VALUE"])
        return 1.0 / quant, float(f.tags.get("BOA_ADD_OFFSET", 0.0)) / quant, "sentinel2-metadata"
    dtype = np.dtype(f.dtype)
    if dtype == np.uint8:
        return 1.0 / 255.0, 0.0, "default-uint8-stretch"
    if np.issubdtype(dtype, np.integer):
        return 1e-4, 0.0, "default-integer-1e4"
    return 1.0, 0.0, "default-float"


# Tags that may hold the acquisition date, most trusted first (TIFFTAG_DATETIME is left out: it
# is when the file was written, not when the scene was acquired).
_DATE_TAGS = (
    "DATE_ACQUIRED",
    "ACQUISITION_DATE",
    "SENSING_TIME",
    "DATATAKE_SENSING_START",
    "date",
    "acquisition_date",
    "year",
)
_DATE = re.compile(r"(?<!\d)(19[7-9]\d|20\d\d)([-_.]?)(0[1-9]|1[0-2])\2(0[1-9]|[12]\d|3[01])(?!\d)")
_YEAR = re.compile(r"(?<!\d)(19[7-9]\d|20\d\d)(?!\d)")


def date_text(date: dt.date | None, precision: str | None) -> str | None:
    """A date as precise as it is known, the same in every output: ``2021-05-27`` or ``2000``."""
    if date is None:
        return None
    return f"{date:%Y}" if precision == "year" else date.isoformat()


def acquisition_date(text: str) -> tuple[dt.date | None, str | None]:
    """The first full date (``2021-05-27``, ``20210527``, ``2021_05_27``) in ``text``, else a
    lone year.

    Returns the date and its precision (``"day"`` or ``"year"``; a year becomes January 1st).
    """
    for match in _DATE.finditer(text):
        year, _, month, day = match.groups()
        try:
            return dt.date(int(year), int(month), int(day)), "day"
        except ValueError:
            continue  # 2021-02-30: not a date, look further
    year_only = _YEAR.search(text)
    if year_only:
        return dt.date(int(year_only.group(1)), 1, 1), "year"
    return None, None


def _reason(exc: BaseException) -> str:
    """The first line of an error's innermost cause: GDAL's own words (``Read error at ...``)."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def inspect_scenes(
    path: str | Path, options: SceneOptions | None = None
) -> list[tuple[SceneSource, Scene | SceneError]]:
    """Open every scene under ``path``: the scene, or the error that stops it (nothing raised)."""
    found: list[tuple[SceneSource, Scene | SceneError]] = []
    for source in find_scenes(path):
        try:
            found.append((source, open_scene(source, options)))
        except SceneError as exc:
            found.append((source, exc))
    return found
