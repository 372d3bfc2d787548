"""``manifest.json``: what produced a folder of outputs, written last so its presence means complete.

One ``Manifest`` model for every command that writes outputs (a scene of ``process``, a date pair
of ``change``, the report of ``evaluate``): the inputs, scenes, model and parameters that made
them, the files written, and, for each class raster among them, its class names and the
probability raster that goes with it — which is all ``vectorize`` needs to read any of them.

A manifest is trusted only as written: it carries a checksum of its own content and the size and
SHA-256 of every output file, and names its outputs as plain file names in its own folder. An
edited manifest, or outputs replaced by another run's, make it "not up to date", never followed.
"""

import datetime as dt
import hashlib
import json
import math
import os
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any, Literal
from uuid import uuid4

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from geoseg.errors import ConfigError
from geoseg.locations import FileStamp
from geoseg.scenes import Scene

MANIFEST = "manifest.json"
_PACKAGES = (
    "geoseg",
    "numpy",
    "rasterio",
    "dask",
    "distributed",
    "torch",
    "segmentation-models-pytorch",
)


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _plain_name(name: str) -> str:
    """A file name inside the manifest's folder: no folders, no way out of it."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise ValueError(f"{name!r} is not a file name inside the output folder")
    return name


FileName = Annotated[str, AfterValidator(_plain_name)]


class FileDigest(_Record):
    """What an output file was when its manifest was written."""

    size: int
    sha256: str

    @classmethod
    def of(cls, path: Path) -> "FileDigest":
        with open(path, "rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        return cls(size=path.stat().st_size, sha256=digest)


class BandRecord(_Record):
    label: str
    path: str
    index: int
    scale: float
    offset: float


class SceneRecord(_Record):
    """A scene as read: sensor, date, grid, and each band's file, index and reflectance scaling."""

    name: str
    sensor: str | None
    date: str | None
    date_precision: str | None
    crs: str
    transform: tuple[float, ...]
    width: int
    height: int
    bands: dict[str, BandRecord]
    bands_used: tuple[str, ...]
    reflectance_scale_source: str

    @classmethod
    def of(cls, scene: Scene, bands_used: tuple[str, ...]) -> "SceneRecord":
        return cls(
            name=scene.name,
            sensor=scene.sensor,
            date=scene.date.isoformat() if scene.date else None,
            date_precision=scene.date_precision,
            crs=scene.grid.crs.to_string(),
            transform=tuple(scene.grid.transform)[:6],
            width=scene.grid.width,
            height=scene.grid.height,
            bands_used=bands_used,
            bands={
                b.name: BandRecord(
                    label=b.label,
                    path=Path(b.path).name,
                    index=b.index,
                    scale=b.scale,
                    offset=b.offset,
                )
                for b in scene.bands
            },
            reflectance_scale_source=scene.scale_source,
        )


class ClassRaster(_Record):
    """A class raster among the outputs: its class names (value = index), and the raster whose
    band per class gives polygons their mean (``probability_bands``: class → 1-based band)."""

    classes: tuple[str, ...]
    probability: FileName | None = None
    probability_bands: dict[str, int] = {}
    mean_column: str = "mean_probability"


class ModelRecord(_Record):
    id: str
    card: dict[str, Any]


class TileCounts(_Record):
    total: int
    predicted: int
    skipped_nodata: int
    blocks_total: int
    blocks_reused: int


class ClassCount(_Record):
    pixels: int
    area_crs_units2: float


class Manifest(_Record):
    """The manifest of one output folder."""

    kind: Literal["scene", "change", "evaluation"]
    name: str
    fingerprint: str | None = None
    created: str
    inputs: tuple[FileStamp, ...]
    scenes: tuple[SceneRecord, ...] = ()
    model: ModelRecord | None = None
    parameters: dict[str, Any] = {}
    outputs: dict[str, FileName]
    class_rasters: dict[str, ClassRaster] = {}
    polygon_attributes: tuple[tuple[str, str | None], ...] = ()
    tiles: TileCounts | None = None
    classes: dict[str, ClassCount] = {}
    summary: dict[str, Any] | None = None
    timings: dict[str, float] = {}
    versions: dict[str, str]
    files: dict[FileName, FileDigest] = {}  # every output file: size and SHA-256
    checksum: str | None = None  # SHA-256 of everything above, as written

    @classmethod
    def new(cls, **fields: Any) -> "Manifest":
        """A manifest created now, with this environment's package versions."""
        return cls(
            created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            versions=package_versions(),
            **fields,
        )

    @classmethod
    def read(cls, folder: Path) -> "Manifest | None":
        """The manifest in ``folder``, or None when there is none; ``ConfigError`` when the file
        is not a manifest this geoseg reads (another program's, or an older layout)."""
        path = folder / MANIFEST
        try:
            manifest = cls.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValidationError) as exc:
            problem = exc.strerror if isinstance(exc, OSError) else _first_problem(exc)
            raise ConfigError(
                f"{path}: not a manifest this geoseg reads ({problem}); write "
                "the outputs again (--overwrite)"
            ) from None
        if manifest.checksum is None or manifest.checksum != manifest.own_checksum():
            raise ConfigError(
                f"{path}: edited or damaged (its checksum does not match its content); write "
                "the outputs again (--overwrite)"
            )
        return manifest

    def own_checksum(self) -> str:
        """SHA-256 of the manifest's content without its checksum."""
        content = json.dumps(self.model_dump(mode="json", exclude={"checksum"}), sort_keys=True)
        return hashlib.sha256(content.encode()).hexdigest()

    def write(self, folder: Path) -> Path:
        """Write the manifest into ``folder`` with the digests of its output files (which must
        all be there) and its own checksum."""
        files = {name: FileDigest.of(folder / name) for name in self.outputs.values()}
        sealed = self.model_copy(update={"files": files, "checksum": None})
        sealed = sealed.model_copy(update={"checksum": sealed.own_checksum()})
        return write_json(folder / MANIFEST, sealed.model_dump(mode="json"))

    def output_paths(self, folder: Path) -> dict[str, Path]:
        return {name: folder / file for name, file in self.outputs.items()}

    def is_complete(
        self, folder: Path, fingerprint: str, outputs: dict[str, str] | None = None
    ) -> bool:
        """Do the outputs in ``folder`` come from exactly these inputs and parameters, are they
        the very files this manifest was written for (sizes, then SHA-256), and (given
        ``outputs``: key → file name) exactly the outputs this run would write? An option that
        only adds or drops a file (a quicklook) is out of the fingerprint, not out of this."""
        if self.fingerprint != fingerprint or set(self.files) != set(self.outputs.values()):
            return False
        if outputs is not None and dict(self.outputs) != outputs:
            return False
        paths = [(folder / name, digest) for name, digest in self.files.items()]
        return all(p.is_file() and p.stat().st_size == d.size for p, d in paths) and all(
            FileDigest.of(p) == d for p, d in paths
        )

    def class_raster(self, path: Path) -> ClassRaster:
        """What this manifest says of the class raster ``path`` (a file in its folder)."""
        for name, file in self.outputs.items():
            if file == path.name and name in self.class_rasters:
                return self.class_rasters[name]
        raise ConfigError(
            f"{path}: not a class raster of the manifest beside it (class "
            f"rasters: {', '.join(self.class_rasters) or 'none'})"
        )


def _first_problem(error: ValidationError) -> str:
    """The first thing a manifest gets wrong, in a few words (``outputs.probability: ...``)."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    more = f" and {error.error_count() - 1} more" if error.error_count() > 1 else ""
    return f"{where}: {first['msg']}{more}"


def manifest_kind(folder: Path) -> str | None:
    """The kind of run whose manifest is in ``folder`` ("scene", "change", "evaluation"; "other"
    for a manifest.json this geoseg cannot tell), or None when there is none. Read loosely, so
    that a run may replace its own kind's manifest of an older layout."""
    try:
        data = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return "other"
    kind = data.get("kind") if isinstance(data, dict) else None
    return kind if kind in ("scene", "change", "evaluation") else "other"


def listed_outputs(folder: Path) -> set[str]:
    """The file names the manifest in ``folder`` lists as outputs, read loosely (any layout, no
    checksum): what an earlier run wrote there, which a run that writes less removes (only names
    it writes itself: see ``geoseg.pipeline.process.remove_earlier_outputs``). Empty without a
    readable manifest."""
    try:
        data = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return set()
    outputs = data.get("outputs") if isinstance(data, dict) else None
    if not isinstance(outputs, dict):
        return set()
    return {name for name in outputs.values() if isinstance(name, str) and _is_plain(name)}


def _is_plain(name: str) -> bool:
    try:
        _plain_name(name)
    except ValueError:
        return False
    return True


def package_versions() -> dict[str, str]:
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    import rasterio

    versions["gdal"] = rasterio.__gdal_version__
    return versions


def write_json(path: Path, value: dict[str, Any]) -> Path:
    """Write JSON under a temporary name, then rename: the file is whole or absent. Undefined
    scores (NaN) become ``null``: NaN is not JSON, and strict readers reject it."""
    tmp = path.with_name(f".{path.name}.{uuid4().hex[:12]}.tmp")
    try:
        tmp.write_text(json.dumps(_nan_to_none(value), indent=2, allow_nan=False) + "\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_nan_to_none(v) for v in value]
    return value
