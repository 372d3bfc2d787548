"""The API: ``process`` (scenes → COGs and polygons), ``vectorize`` (class raster → polygons),
``change`` / ``change_pairs`` (two dates → forest loss)."""

from geoseg.pipeline.change import ChangeResult, change, change_pairs
from geoseg.pipeline.process import SceneResult, describe_scenes, process, segment
from geoseg.pipeline.vectorize import class_raster_inputs, vectorize

__all__ = ["ChangeResult", "SceneResult", "change", "change_pairs", "class_raster_inputs",
           "describe_scenes", "process", "segment", "vectorize"]
