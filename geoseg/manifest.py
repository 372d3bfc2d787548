"""``manifest.json``: what produced a scene's outputs, written last so its presence means complete."""

import datetime as dt
import json
import math
import os
from importlib import metadata
from pathlib import Path
from typing import Any

from geoseg.cluster.streaming import SceneOutcome

MANIFEST = "manifest.json"
_PACKAGES = ("geoseg", "numpy", "rasterio", "dask", "distributed", "torch",
             "segmentation-models-pytorch")


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


def is_up_to_date(out_dir: Path, fingerprint: str) -> bool:
    """Do ``out_dir``'s outputs come from exactly these inputs and parameters?"""
    path = out_dir / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    outputs = manifest.get("outputs", {}).values()
    return manifest.get("fingerprint") == fingerprint and all(
        (out_dir / name).exists() for name in outputs)


def build_manifest(outcome: SceneOutcome, class_pixels: list[int], config: dict) -> dict:
    plan = outcome.plan
    scene, card = plan.scene, plan.info.card
    res_x, res_y = scene.grid.resolution
    return {
        "scene": scene.name,
        "fingerprint": plan.fingerprint,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "inputs": [_file_entry(p) for p in scene.paths],
        "scene_info": {
            "sensor": scene.sensor,
            "date": scene.date.isoformat() if scene.date else None,
            "date_precision": scene.date_precision,
            "crs": scene.grid.crs.to_string(),
            "transform": list(scene.grid.transform)[:6],
            "width": scene.grid.width,
            "height": scene.grid.height,
            "bands": {b.name: {"label": b.label, "path": Path(b.path).name, "index": b.index,
                               "scale": b.scale, "offset": b.offset} for b in scene.bands},
            "bands_used": list(plan.info.bands),
            "reflectance_scale_source": scene.scale_source,
        },
        "model": {"id": plan.model.id, "card": card.model_dump(mode="json")},
        "parameters": config | {"tile_size": plan.tiling.tile_size,
                                "overlap": plan.tiling.overlap,
                                "block_size": plan.tiling.block_size,
                                "edge_margin": card.edge_margin, "blend": plan.blend},
        "tiles": {"total": plan.tiling.n_tiles, "predicted": outcome.tiles_done,
                  "skipped_nodata": outcome.tiles_skipped,
                  "blocks_total": len(plan.tiling.blocks()),
                  "blocks_reused": outcome.blocks_reused},
        "classes": {name: {"pixels": n, "area_crs_units2": n * res_x * res_y}
                    for name, n in zip(card.classes, class_pixels, strict=True)},
        "outputs": {layer: path.name for layer, path in outcome.outputs.items()},
        "timings": {"seconds": round(outcome.seconds, 3)},
        "versions": package_versions(),
    }


def write_manifest(out_dir: Path, manifest: dict) -> Path:
    return write_json(out_dir / MANIFEST, manifest)


def write_json(path: Path, value: dict) -> Path:
    """Write JSON under a temporary name, then rename: the file is whole or absent. Undefined
    scores (NaN) become ``null``: NaN is not JSON, and strict readers reject it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(_nan_to_none(value), indent=2, allow_nan=False) + "\n")
    os.replace(tmp, path)
    return path


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_nan_to_none(v) for v in value]
    return value


def _file_entry(path: str) -> dict:
    stat = os.stat(path)
    return {"path": str(Path(path).resolve()), "size": stat.st_size,
            "mtime": dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC).isoformat()}
