"""Copy the bundled sample scenes from ``../shared/data/real`` into ``samples/``.

Pixel values are copied unchanged. Only metadata is added where the source left it out, so that
geoseg's automatic band mapping and reflectance scaling find it (see SOURCES.md here):

- Aberystwyth Sentinel-2: reflectance x 1000 (inferred upstream) is declared as band scale 0.001.
- Costa Rica Landsat 5 SR: reflectance x 10000 (documented upstream) as band scale 0.0001.
- Pucallpa composites: uint8 display stretch, left without a scale (geoseg's uint8 default, 1/255).

Run from the repository root: ``python samples/make_samples.py [SHARED_REAL_DIR]``.
"""

import sys
from pathlib import Path

import rasterio

SAMPLES = {
    # sample name: (source file, band scale or None)
    "aberystwyth_s2_2021-05-27.tif": ("s2_msi_aberystwyth_wales_2021-05-27_rsgislib.tif", 0.001),
    "pucallpa_2000.tif": ("landsat_composite_pucallpa_peru_2000_opengeos.tif", None),
    "pucallpa_2020.tif": ("landsat_composite_pucallpa_peru_2020_opengeos.tif", None),
    "costarica_landsat5_1986-02-06.tif": (
        "landsat5_sr_costarica_p015r053_1986-02-06_teamlucc.tif", 0.0001),
    "costarica_landsat5_2001-01-14.tif": (
        "landsat5_sr_costarica_p015r053_2001-01-14_teamlucc.tif", 0.0001),
}


def copy_sample(src_path: Path, dst_path: Path, scale: float | None) -> None:
    with rasterio.open(src_path) as src:
        profile = src.profile | {"compress": "deflate", "predictor": 2}
        if src.width >= 256 and src.height >= 256:
            profile |= {"tiled": True, "blockxsize": 256, "blockysize": 256}
        with rasterio.open(dst_path, "w", **profile) as dst:
            for _, window in src.block_windows(1):
                dst.write(src.read(window=window), window=window)
            dst.descriptions = src.descriptions
            dst.update_tags(**src.tags())
            if scale is not None:
                dst.scales = (scale,) * src.count
                dst.offsets = (0.0,) * src.count


def main() -> None:
    shared = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("../shared/data/real")
    out = Path(__file__).parent
    for name, (source, scale) in SAMPLES.items():
        copy_sample(shared / source, out / name, scale)
        print(f"{name}  <-  {source}")


if __name__ == "__main__":
    main()
