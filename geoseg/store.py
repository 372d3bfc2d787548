"""The block store: one small GeoTIFF per output block and layer, then one streamed COG per layer.

Many workers write blocks at once without a shared writer: each block is its own file, written
under a temporary name and renamed, so a block that exists is complete. That makes resume free
(a present block is not computed again) and keeps every worker's memory at one block.

``assemble`` mosaics a layer's blocks through a VRT (no pixels copied) into GDAL's COG driver,
which streams it block by block into a temporary file that is renamed onto the final path.

A segmentation's layers (``segmentation_layers``):
- ``probability``: one band per class; float32 with NaN = nodata, or (``probability_dtype``
  "uint8") ``round(p × 254)`` with 255 = nodata and the band scale 1/254 in the file's metadata,
  which GDAL, QGIS and ``read_probability`` apply. uint8 is a quarter of the bytes and compresses
  well: writing float32 probabilities was most of a run's serial tail (benchmarks/io_limit.py);
  the price is a resolution of 0.004;
- ``classes``: uint8 argmax class index, 255 = nodata; a tie goes to the class listed first (for
  the forest models non_forest: a probability of exactly 0.5 is not forest, as in ``change``).

A layer with ``categories`` is assembled with a colour table and class names, and a layer with a
``display_band`` with a QGIS style beside it (``geoseg.styles``): the COGs open in class colours.
"""

import errno
import json
import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from uuid import uuid4
from xml.sax.saxutils import escape

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.windows import Window

from geoseg.errors import OutputError
from geoseg.grid import Grid
from geoseg.styles import Category, categories, paletted_qml, pseudocolour_qml, vrt_palette
from geoseg.tiling import Block

CLASS_NODATA = 255
BLOCK_FILES_OPEN = 24
FULL_DISK_BYTES = 16 * 2**20  # less free space than this after a failed write: a full disk


@dataclass(frozen=True)
class Layer:
    """One output raster: its data type, nodata value, overview resampling and band names, and
    how it is shown: a class raster's classes (value, name, colour), or the band a multi-band
    raster is shown by (1-based)."""

    name: str
    dtype: str
    nodata: float
    resampling: str
    bands: tuple[str, ...]
    scale: float = 1.0  # value = stored × scale (metadata of every band)
    categories: tuple[Category, ...] = ()
    display_band: int | None = None

    def style(self) -> str | None:
        """The layer's QGIS style (QML), or None when QGIS's own default shows it well."""
        if self.categories:
            return paletted_qml(self.categories)
        if self.display_band is not None:
            return pseudocolour_qml(self.display_band)
        return None

    def encode(self, data: np.ndarray) -> np.ndarray:
        """Values (NaN = nodata) as stored: scaled and rounded for integer layers."""
        if self.scale == 1.0:
            return data.astype(self.dtype, copy=False)
        stored = np.full(data.shape, self.nodata, self.dtype)
        valid = np.isfinite(data)
        stored[valid] = np.rint(data[valid] / self.scale).astype(self.dtype)
        return stored


PROBABILITY_DTYPES = ("float32", "uint8")
PROBABILITY_STEPS = 254  # uint8 probabilities: 0 … 254 for 0 … 1, 255 = nodata


def segmentation_layers(
    class_names: tuple[str, ...], probability_dtype: str = "float32"
) -> tuple[Layer, Layer]:
    """A segmentation's probability and classes layers; probability is shown by its forest
    band (the class polygons and change are about), else its last class's."""
    shown = class_names.index("forest") + 1 if "forest" in class_names else len(class_names)
    probability = (
        Layer("probability", "float32", float("nan"), "AVERAGE", class_names)
        if probability_dtype == "float32"
        else Layer(
            "probability", "uint8", CLASS_NODATA, "AVERAGE", class_names, 1 / PROBABILITY_STEPS
        )
    )
    classes = Layer(
        "classes", "uint8", CLASS_NODATA, "NEAREST", ("class",), categories=categories(class_names)
    )
    return replace(probability, display_band=shown), classes


def read_probability(path: str | Path, band: int, window: Window) -> np.ndarray:
    """One band of a probability raster as float32 values in 0 … 1, NaN where nodata, whichever
    way it is stored (float32, or integers with a band scale)."""
    with rasterio.open(path) as src:
        data = src.read(band, window=window, masked=True)
        scale, offset = src.scales[band - 1], src.offsets[band - 1]
    values = data.astype(np.float32).filled(np.nan)
    return values if (scale, offset) == (1.0, 0.0) else values * np.float32(scale) + offset


@dataclass(frozen=True)
class BlockStore:
    """Blocks of one run's output layers under ``root`` (``OUT/<scene>/.geoseg-work``).

    The last layer is written last, so its presence marks a complete block; its tags keep the
    block's count of valid pixels.
    """

    root: Path
    grid: Grid
    layers: tuple[Layer, ...]

    def layer(self, name: str) -> Layer:
        return next(layer for layer in self.layers if layer.name == name)

    def path(self, layer: str, block: Block) -> Path:
        return self.root / layer / f"{block.key}.tif"

    def has(self, block: Block) -> bool:
        return self.path(self.layers[-1].name, block).exists()

    def write_segmentation(self, block: Block, probs: np.ndarray) -> int:
        """Store a block's blended probabilities ``(classes, h, w)`` (NaN = nodata) and its classes.

        Returns the block's count of valid pixels, also kept in the classes block's tags.
        """
        valid = ~np.isnan(probs).any(axis=0)
        classes = np.full(valid.shape, CLASS_NODATA, np.uint8)
        if valid.any():
            classes[valid] = np.argmax(probs[:, valid], axis=0).astype(np.uint8)
        n_valid = int(valid.sum())
        self.write_layer("probability", block, self.layer("probability").encode(probs))
        self.write_layer("classes", block, classes[None], VALID_PIXELS=n_valid)
        return n_valid

    def valid_pixels(self, block: Block) -> int:
        """Valid pixels of a stored block (from its tags: no pixels read)."""
        with rasterio.open(self.path(self.layers[-1].name, block)) as src:
            return int(src.tags()["VALID_PIXELS"])

    def write_layer(self, name: str, block: Block, data: np.ndarray, **tags: int) -> None:
        """Write one layer of one block ``(bands, h, w)`` under a temporary name, then rename."""
        layer = self.layer(name)
        dtype, nodata = layer.dtype, layer.nodata
        final = self.path(name, block)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{final.stem}.{uuid4().hex[:12]}.tmp.tif")
        profile = {
            "driver": "GTiff",
            "width": data.shape[2],
            "height": data.shape[1],
            "count": data.shape[0],
            "dtype": dtype,
            "nodata": nodata,
            "crs": self.grid.crs,
            "transform": self.grid.window_transform(block.window),
            "compress": "zstd",
            "zstd_level": 1,
            "tiled": data.shape[1] >= 256 and data.shape[2] >= 256,
        }
        try:
            with rasterio.open(tmp, "w", **profile) as dst:
                dst.write(data.astype(dtype, copy=False))
                dst.update_tags(**tags)
                if layer.scale != 1.0:
                    dst.scales = (layer.scale,) * data.shape[0]
            os.replace(tmp, final)
        except (rasterio.errors.RasterioError, OSError) as exc:
            raise OutputError(f"{final}: cannot write ({write_problem(exc, final)})") from None
        finally:
            tmp.unlink(missing_ok=True)

    def vrt_xml(self, name: str, blocks: list[Block]) -> str:
        """A VRT mosaic of a layer's block files over the scene grid (paths relative to the VRT)."""
        layer = self.layer(name)
        vrt_type = {"float32": "Float32", "uint8": "Byte"}[layer.dtype]
        names, nodata = layer.bands, layer.nodata
        bands = []
        for band in range(1, len(names) + 1):
            sources = "".join(
                f'<SimpleSource><SourceFilename relativeToVRT="1">{name}/{b.key}.tif'
                f"</SourceFilename><SourceBand>{band}</SourceBand>"
                f'<SrcRect xOff="0" yOff="0" xSize="{int(b.window.width)}" '
                f'ySize="{int(b.window.height)}"/><DstRect xOff="{int(b.window.col_off)}" '
                f'yOff="{int(b.window.row_off)}" xSize="{int(b.window.width)}" '
                f'ySize="{int(b.window.height)}"/></SimpleSource>'
                for b in blocks
            )
            bands.append(
                f'<VRTRasterBand dataType="{vrt_type}" band="{band}">'
                f"<Description>{escape(names[band - 1])}</Description>"
                f"<NoDataValue>{nodata}</NoDataValue>"
                f"{f'<Scale>{layer.scale!r}</Scale>' if layer.scale != 1.0 else ''}"
                f"{vrt_palette(layer.categories) if layer.categories else ''}"
                f"{sources}</VRTRasterBand>"
            )
        t = self.grid.transform
        return (
            f'<VRTDataset rasterXSize="{self.grid.width}" rasterYSize="{self.grid.height}">'
            f"<SRS>{escape(self.grid.crs.to_wkt())}</SRS>"
            f"<GeoTransform>{t.c!r}, {t.a!r}, {t.b!r}, {t.f!r}, {t.d!r}, {t.e!r}</GeoTransform>"
            f"{''.join(bands)}</VRTDataset>"
        )

    def assemble(self, name: str, blocks: list[Block], final: Path, threads: int = 1) -> Path:
        """Stream a layer's blocks into a COG at ``final`` (temporary name, then rename), and
        write its QGIS style beside it (``final`` with ``.qml``) when it has one."""
        vrt = self.root / f"{name}.vrt"
        vrt.write_text(self.vrt_xml(name, blocks))
        tmp = self.root / f".{final.name}.{uuid4().hex[:12]}.tmp"
        resampling = self.layer(name).resampling
        try:
            # GDAL keeps up to this many block files open while it reads the VRT, each holding
            # decoded blocks (~2 MB): the default 100 made memory grow with scene size up to
            # 100 blocks. Without PAM, nothing GDAL cannot store in the TIFF itself lands in a
            # stray .aux.xml beside the temporary file.
            with rasterio.Env(GDAL_MAX_DATASET_POOL_SIZE=BLOCK_FILES_OPEN, GDAL_PAM_ENABLED="NO"):
                rasterio.shutil.copy(
                    vrt,
                    tmp,
                    driver="COG",
                    compress="DEFLATE",
                    predictor="YES",
                    blocksize=512,
                    resampling=resampling,
                    overviews="AUTO",
                    bigtiff="IF_SAFER",
                    num_threads=str(threads),
                )
            os.replace(tmp, final)
            write_style(self.layer(name), final)
        except (rasterio.errors.RasterioError, OSError) as exc:
            raise OutputError(f"{final}: cannot write ({write_problem(exc, final)})") from None
        finally:
            tmp.unlink(missing_ok=True)
        return final

    def read_meta(self) -> dict | None:
        """The plan fingerprint the blocks were computed for, if any."""
        meta = self.root / "plan.json"
        return json.loads(meta.read_text()) if meta.exists() else None

    def reset(self, fingerprint: str, blocks: int, keep: bool = True) -> None:
        """Keep the blocks if ``keep`` and they were computed for ``fingerprint``, else start
        empty. ``blocks``: how many the plan has (for ``saved_blocks``)."""
        meta = self.read_meta()
        if not keep or meta is None or meta.get("fingerprint") != fingerprint:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root.mkdir(parents=True)
            plan = {"fingerprint": fingerprint, "blocks": blocks}
            (self.root / "plan.json").write_text(json.dumps(plan))

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def write_style(layer: Layer, raster: Path) -> Path | None:
    """Write ``layer``'s QGIS style, if it has one, as ``<raster>.qml``: QGIS loads a same-name
    QML as the layer's default style."""
    qml = layer.style()
    if qml is None:
        return None
    path = raster.with_suffix(".qml")
    tmp = path.with_name(f".{path.name}.{uuid4().hex[:12]}.tmp")
    try:
        tmp.write_text(qml)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def saved_blocks(folder: Path) -> tuple[int, int]:
    """(blocks saved, blocks planned) over every unfinished block store under ``folder``: what an
    interrupted run leaves for the next one to reuse."""
    saved = planned = 0
    for meta in folder.glob("**/.geoseg-work/plan.json"):
        try:
            planned += int(json.loads(meta.read_text()).get("blocks", 0))
        except (OSError, ValueError):
            continue
        # A block is saved once every layer has it: the layer with fewest files counts.
        layers = [p for p in meta.parent.iterdir() if p.is_dir()]
        saved += min((len(list(p.glob("r*_c*.tif"))) for p in layers), default=0)
    return saved, planned


def class_counts(path: Path, n_classes: int) -> list[int]:
    """Pixels per class in a finished classes raster, read block by block."""
    counts = np.zeros(n_classes + 1, np.int64)
    with rasterio.open(path) as src:
        for _, window in src.block_windows(1):
            values = src.read(1, window=window)
            counts += np.bincount(np.minimum(values.ravel(), n_classes), minlength=n_classes + 1)
    return [int(c) for c in counts[:n_classes]]


def write_problem(exc: BaseException, path: Path) -> str:
    """Why writing ``path`` failed, in a few words. GDAL reports a full disk as "Write failed",
    so a failed write on a nearly full filesystem is called what it is."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if getattr(exc, "errno", None) == errno.ENOSPC or "No space left" in text:
        return "no space left on device"
    try:
        if shutil.disk_usage(path.parent).free < FULL_DISK_BYTES:
            return "no space left on device"
    except OSError:
        pass
    return text[:200]
