"""Scenes: find them in a directory, open them as small values, read windows of them.

A scene is one acquisition of one place, stored either as one multi-band GeoTIFF/COG or as a
folder (or group of files sharing a prefix) with one file per band. ``open_scene`` turns its files
into a ``Scene``: the pixel grid (the finest band's), each band's canonical name, reflectance scale
and offset, sensor and date. ``Scene.read`` reads one window of chosen bands onto that grid; a band
stored at another resolution is resampled window by window, never read whole.
"""

import datetime as dt
import re
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import MaskFlags, Resampling
from rasterio.errors import NodataShadowWarning, RasterioError
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from geoseg import bands as bandnames
from geoseg.errors import ConfigError, SceneError
from geoseg.grid import Grid, bounds_intersect, is_north_up

RASTER_SUFFIXES = (".tif", ".tiff", ".TIF", ".TIFF")


@dataclass(frozen=True)
class SceneSource:
    """The files of one scene, as found on disk (nothing opened yet)."""

    name: str
    paths: tuple[str, ...]

    @property
    def per_band(self) -> bool:
        return len(self.paths) > 1 or bandnames.band_label_from_filename(
            Path(self.paths[0]).stem) is not None


@dataclass(frozen=True)
class SceneOptions:
    """How to read scenes whose files do not say it themselves.

    Attributes:
        bands: canonical names of a multi-band file's bands, in order (overrides descriptions).
        sensor: one of ``bands.SENSORS``, for band codes such as ``B4`` that differ by sensor.
        scale, offset: reflectance = DN × scale + offset, overriding metadata and defaults.
    """

    bands: tuple[str, ...] | None = None
    sensor: str | None = None
    scale: float | None = None
    offset: float | None = None

    def __post_init__(self) -> None:
        if self.sensor is not None and self.sensor not in bandnames.SENSORS:
            raise ConfigError(f"unknown sensor {self.sensor!r}; use one of {bandnames.SENSORS}")
        unknown = sorted(set(self.bands or ()) - bandnames.CANONICAL)
        if unknown:
            raise ConfigError(f"unknown band names {unknown}; use canonical names such as "
                              "blue, green, red, nir, swir16, swir22")
        if self.offset is not None and self.scale is None:
            raise ConfigError("--offset needs --scale as well")


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

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(b.path for b in self.bands))

    @property
    def band_names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.bands)

    def band(self, name: str) -> BandSource:
        for source in self.bands:
            if source.name == name:
                return source
        raise SceneError(f"{self.name}: no band {name!r} (has {', '.join(self.band_names)})")

    def read(self, window: Window, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Reflectance of ``names`` in ``window`` as float32 (bands, rows, cols), and the valid mask.

        A pixel is valid when every band read has data there (not nodata, inside the band's
        footprint, finite). Invalid pixels hold 0 in the returned array.
        """
        sources = [self.band(n) for n in names]
        data = np.empty((len(sources), int(window.height), int(window.width)), np.float32)
        valid = np.ones(data.shape[1:], bool)
        by_path: dict[str, list[int]] = defaultdict(list)
        for i, source in enumerate(sources):
            by_path[source.path].append(i)
        for path, positions in by_path.items():
            self._read_file(path, [sources[i] for i in positions], window, data, positions, valid)
        data[:, ~valid] = 0.0
        return data, valid

    def _read_file(self, path: str, sources: list[BandSource], window: Window,
                   out: np.ndarray, positions: list[int], valid: np.ndarray) -> None:
        indexes = [s.index for s in sources]
        try:
            with rasterio.open(path) as src:
                if sources[0].on_grid:
                    raw, masks = src.read(indexes, window=window), _masks(src, indexes, window)
                else:
                    resampling = Resampling.nearest if sources[0].name in bandnames.QUALITY_BANDS \
                        else Resampling.bilinear
                    with WarpedVRT(src, crs=self.grid.crs, transform=self.grid.transform,
                                   width=self.grid.width, height=self.grid.height,
                                   resampling=resampling) as vrt:
                        raw = vrt.read(indexes, window=window)
                        masks = vrt.read_masks(indexes, window=window)
        except RasterioError as exc:
            raise SceneError(f"{path}: read failed ({_first_line(exc)}); the file is corrupt or "
                             "truncated") from exc
        for k, (pos, source) in enumerate(zip(positions, sources, strict=True)):
            values = raw[k].astype(np.float32) * np.float32(source.scale) + np.float32(source.offset)
            out[pos] = values
            valid &= (masks[k] > 0) & np.isfinite(values)


def _masks(src: rasterio.DatasetReader, indexes: list[int], window: Window) -> np.ndarray:
    """Validity of each band in ``window``: GDAL's masks, skipped when every pixel is valid."""
    flags = [src.mask_flag_enums[i - 1] for i in indexes]
    if all(f == [MaskFlags.all_valid] for f in flags):
        return np.ones((len(indexes), int(window.height), int(window.width)), np.uint8)
    with warnings.catch_warnings():
        # A 4-band file with nodata: GDAL may call band 4 alpha; nodata is what counts here.
        warnings.simplefilter("ignore", NodataShadowWarning)
        return src.read_masks(indexes, window=window)


def find_scenes(path: str | Path) -> list[SceneSource]:
    """The scenes in a directory (or the one scene a file is), sorted by name.

    - a multi-band raster file is one scene, named after its stem;
    - files whose names carry a band code (``B04.tif``, ``T20LNR_..._B04_10m.tif``,
      ``LC08_..._SR_B4.TIF``, ``..._QA_PIXEL.TIF``) are grouped by the rest of their name into
      one scene per group; in a sub-folder the group takes the folder's name when it is alone;
    - sub-folders are searched one level down.
    """
    root = Path(path)
    if root.is_file():
        return [SceneSource(root.stem, (str(root),))]
    if not root.is_dir():
        raise ConfigError(f"{root}: no such scene file or directory")
    found = _scenes_in_folder(root, root.name)
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        found += _scenes_in_folder(sub, sub.name)
    return sorted(found, key=lambda s: s.name)


def _scenes_in_folder(folder: Path, folder_name: str) -> list[SceneSource]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in RASTER_SUFFIXES)
    groups: dict[str, list[str]] = defaultdict(list)
    scenes = []
    for file in files:
        label = bandnames.band_label_from_filename(file.stem)
        if label is None:
            scenes.append(SceneSource(file.stem, (str(file),)))
        else:
            groups[_group_key(file.stem, label)].append(str(file))
    for key, paths in groups.items():
        name = folder_name if (len(groups) == 1 or not key) else key
        scenes.append(SceneSource(name, tuple(paths)))
    return scenes


def _group_key(stem: str, label: str) -> str:
    """A per-band file's name without its band code and resolution suffix."""
    key = stem.replace(label, "")
    key = re.sub(r"[_\-.]?\d{2}m$", "", key)
    return key.strip("_-.")


def open_scene(source: SceneSource, options: SceneOptions = SceneOptions()) -> Scene:
    """Open and check a scene's files; every problem is a one-line ``SceneError``."""
    files = [_inspect(path) for path in source.paths]
    if source.per_band:
        labels = [bandnames.band_label_from_filename(Path(f.path).stem) or f.descriptions[0]
                  or Path(f.path).stem for f in files]
        if any(f.count != 1 for f in files):
            raise SceneError(f"{source.name}: per-band files must hold one band each")
    else:
        labels = [d or f"band{i + 1}" for i, d in enumerate(files[0].descriptions)]
    names_text = " ".join([source.name, *(Path(p).stem for p in source.paths)])
    tags = files[0].tags
    sensor = (options.sensor or bandnames.sensor_from_text(names_text)
              or bandnames.sensor_from_text(" ".join(map(str, tags.values())))
              or bandnames.sensor_from_codes(labels))
    names = _band_names(source, files[0], labels, sensor, options)
    grid = _finest_grid(source, files)
    scale, offset, scale_source = _reflectance_scale(files, labels, options)
    band_sources = []
    for k, name in enumerate(names):
        if name is None:
            continue
        f = files[k] if source.per_band else files[0]
        index = 1 if source.per_band else k + 1
        band_sources.append(BandSource(
            name=name, label=labels[k], path=f.path, index=index,
            scale=scale[k] if scale else f.scales[index - 1],
            offset=offset[k] if offset else f.offsets[index - 1],
            nodata=f.nodata, on_grid=f.grid.same_as(grid)))
    unmapped = tuple(lab for lab, n in zip(labels, names, strict=True) if n is None)
    if not band_sources:
        raise SceneError(f"{source.name}: no band could be named (labels {labels}); "
                         "pass --bands or --sensor")
    date, precision = acquisition_date(
        " ".join([names_text, *(str(tags[k]) for k in _DATE_TAGS if k in tags)]))
    return Scene(source.name, grid, tuple(band_sources), sensor, date, precision, scale_source,
                 unmapped)


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
    try:
        with rasterio.open(path) as src:
            if src.crs is None:
                raise SceneError(f"{path}: no CRS; assign one (gdal_edit.py -a_srs EPSG:...)")
            if not is_north_up(src.transform) or src.transform.is_identity:
                raise SceneError(f"{path}: not a north-up georeferenced grid "
                                 f"(transform {tuple(src.transform)[:6]}); warp it first")
            # Read the last pixel of every band: a truncated file fails here, not hours later.
            src.read(window=Window(src.width - 1, src.height - 1, 1, 1))
            tags = src.tags() | {k: v for i in range(1, src.count + 1) for k, v in src.tags(i).items()}
            return _FileInfo(path, src.count, src.dtypes[0],
                             Grid(src.crs, src.transform, src.width, src.height),
                             src.descriptions, src.scales, src.offsets, src.nodata, tags)
    except RasterioError as exc:
        raise SceneError(f"{path}: cannot read ({_first_line(exc)}); the file is corrupt, "
                         "truncated or not a raster") from exc


def _band_names(source: SceneSource, first: _FileInfo, labels: list[str], sensor: str | None,
                options: SceneOptions) -> list[str | None]:
    if options.bands is not None:
        if len(options.bands) != len(labels):
            raise SceneError(f"{source.name}: --bands names {len(options.bands)} bands but the "
                             f"scene has {len(labels)}")
        names: list[str | None] = list(options.bands)
    else:
        names = bandnames.canonical_names(labels, sensor)
        if all(n is None for n in names) and sensor is None and first.count > 1:
            raise SceneError(f"{source.name}: band names {labels} are ambiguous without a sensor; "
                             "pass --sensor or --bands")
    taken = [n for n in names if n is not None]
    duplicates = sorted({n for n in taken if taken.count(n) > 1})
    if duplicates:
        raise SceneError(f"{source.name}: several bands map to {duplicates}; pass --bands")
    return names


def _finest_grid(source: SceneSource, files: list[_FileInfo]) -> Grid:
    finest = min(files, key=lambda f: f.grid.resolution[0] * f.grid.resolution[1]).grid
    for f in files:
        if f.grid.crs != finest.crs:
            continue  # footprints in another CRS are checked by the warp itself
        if not bounds_intersect(f.grid.bounds, finest.bounds):
            raise SceneError(f"{source.name}: band file {Path(f.path).name} lies on a grid that "
                             "does not overlap the other bands")
    return finest


def _reflectance_scale(files: list[_FileInfo], labels: list[str], options: SceneOptions
                       ) -> tuple[list[float] | None, list[float] | None, str]:
    """Per-band (scale, offset) lists, or None to keep each file's metadata, and where they came from.

    Order: ``--scale/--offset``; band scale/offset metadata; Landsat Collection-2 SR
    (0.0000275, -0.2); Sentinel-2 BOA_QUANTIFICATION_VALUE / BOA_ADD_OFFSET tags; else by data type:
    uint8 → 1/255 (display-stretched composites), other integers → 1/10000, floats → 1.
    """
    n = len(labels)
    if options.scale is not None:
        return [options.scale] * n, [options.offset or 0.0] * n, "option"
    if any(s != 1.0 or o != 0.0 for f in files for s, o in zip(f.scales, f.offsets, strict=True)):
        return None, None, "metadata"
    if any(lab.upper().startswith("SR_B") for lab in labels):
        return [2.75e-5] * n, [-0.2] * n, "landsat-c2"
    tags = files[0].tags
    if "BOA_QUANTIFICATION_VALUE" in tags:
        quant = float(tags["BOA_QUANTIFICATION_VALUE"])
        add = float(tags.get("BOA_ADD_OFFSET", 0.0))
        return [1.0 / quant] * n, [add / quant] * n, "sentinel2-metadata"
    dtype = np.dtype(files[0].dtype)
    if dtype == np.uint8:
        return [1.0 / 255.0] * n, [0.0] * n, "default-uint8-stretch"
    if np.issubdtype(dtype, np.integer):
        return [1e-4] * n, [0.0] * n, "default-integer-1e4"
    return [1.0] * n, [0.0] * n, "default-float"


_DATE_TAGS = ("DATE_ACQUIRED", "ACQUISITION_DATE", "SENSING_TIME", "DATATAKE_SENSING_START",
              "date", "acquisition_date", "TIFFTAG_DATETIME", "year")
_DATE = re.compile(r"(?<!\d)(19[7-9]\d|20\d\d)-?(0[1-9]|1[0-2])-?(0[1-9]|[12]\d|3[01])(?!\d)")
_YEAR = re.compile(r"(?<!\d)(19[7-9]\d|20\d\d)(?!\d)")


def acquisition_date(text: str) -> tuple[dt.date | None, str | None]:
    """The first full date (``2021-05-27``, ``20210527``) in ``text``, else a lone year.

    Returns the date and its precision (``"day"`` or ``"year"``; a year becomes January 1st).
    """
    match = _DATE.search(text)
    if match:
        try:
            return dt.date(*map(int, match.groups())), "day"
        except ValueError:
            pass
    match = _YEAR.search(text)
    if match:
        return dt.date(int(match.group(1)), 1, 1), "year"
    return None, None


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def inspect_scenes(path: str | Path, options: SceneOptions = SceneOptions()
                   ) -> list[tuple[SceneSource, Scene | SceneError]]:
    """Open every scene under ``path``: the scene, or the error that stops it (nothing raised)."""
    found: list[tuple[SceneSource, Scene | SceneError]] = []
    for source in find_scenes(path):
        try:
            found.append((source, open_scene(source, options)))
        except SceneError as exc:
            found.append((source, exc))
    return found
