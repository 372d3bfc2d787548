"""``run_workflow``: a workflow file's steps (process, change) on one Dask cluster."""

from dataclasses import dataclass
from pathlib import Path

from distributed import Client

from geoseg.cluster import connect
from geoseg.cluster.streaming import ProgressFn
from geoseg.errors import GeosegError
from geoseg.pipeline.change import ChangeResult, change, change_pairs
from geoseg.pipeline.process import SceneResult, process
from geoseg.workflows import change_options, load_workflow, process_config, scene_paths


@dataclass
class WorkflowResult:
    """Each step's results: scenes processed, and date pairs compared (or why they failed)."""

    name: str
    out_dir: Path
    scenes: list[SceneResult]
    changes: list[ChangeResult | tuple[str, str]]

    @property
    def failed(self) -> bool:
        return any(r.status == "failed" for r in self.scenes) or any(
            isinstance(c, tuple) for c in self.changes)


def run_workflow(path: str | Path, *, client: Client | None = None, scheduler: str | None = None,
                 n_workers: int | None = None, progress: ProgressFn | None = None
                 ) -> WorkflowResult:
    """Validate the workflow at ``path``, then run its steps; outputs go under ``outputs.dir``
    (``scenes/`` for process, ``change/`` for change)."""
    workflow, base = load_workflow(path)
    if client is None:
        workers = n_workers or workflow.resources.workers
        with connect(scheduler, workers) as own:
            return run_workflow(path, client=own, progress=progress)
    out = base / workflow.outputs.dir
    config = process_config(workflow, base)
    paths = scene_paths(workflow, base)
    result = WorkflowResult(workflow.name, out, [], [])
    if "process" in workflow.steps:
        for scenes in paths:
            result.scenes += process(scenes, out / "scenes", config, client=client,
                                     progress=progress)
    if "change" in workflow.steps and workflow.change is not None:
        options = change_options(workflow)
        if workflow.change.pairs == "consecutive":
            result.changes = change_pairs(paths, out / "change", config, options, client=client,
                                          progress=progress)
        else:
            for before, after in workflow.change.pairs:
                name = f"{Path(before).stem}__{Path(after).stem}"
                try:
                    result.changes.append(change(base / before, base / after,
                                                 out / "change" / name, config, options,
                                                 client=client, progress=progress))
                except GeosegError as exc:  # one bad pair does not stop the others
                    result.changes.append((name, str(exc)))
    return result
