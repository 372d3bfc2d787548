"""The API: ``process`` (scenes → COGs and polygons), ``vectorize`` (class raster → polygons),
``change`` / ``change_pairs`` (two dates → forest loss), ``run_workflow`` (a workflow file),
``evaluate`` (a class raster against reference labels)."""

from geoseg.pipeline.change import ChangeResult, change, change_pairs
from geoseg.pipeline.evaluate import evaluate
from geoseg.pipeline.process import SceneResult, describe_scenes, process, segment
from geoseg.pipeline.vectorize import class_raster_inputs, class_raster_names, vectorize
from geoseg.pipeline.workflow import WorkflowResult, run_workflow

__all__ = ["ChangeResult", "SceneResult", "WorkflowResult", "change", "change_pairs",
           "class_raster_inputs", "class_raster_names", "describe_scenes", "evaluate", "process",
           "run_workflow", "segment", "vectorize"]
