"""The API: ``process`` (scenes → COGs and polygons), ``vectorize`` (class raster → polygons),
``change`` / ``change_pairs`` (two dates → forest loss), ``run_workflow`` (a workflow file),
``evaluate`` (a class raster against reference labels). Each reads as find → describe → plan →
run: the jobs it hands to the engine (``geoseg.cluster``) hold the steps."""

from geoseg.pipeline.change import change, change_pairs
from geoseg.pipeline.evaluate import class_names, evaluate
from geoseg.pipeline.process import process
from geoseg.pipeline.vectorize import class_raster_options, vectorize
from geoseg.pipeline.workflow import WorkflowResult, run_workflow

__all__ = [
    "WorkflowResult",
    "change",
    "change_pairs",
    "class_names",
    "class_raster_options",
    "evaluate",
    "process",
    "run_workflow",
    "vectorize",
]
