"""``run_workflow``: a workflow file's steps (process, change) on one Dask cluster."""

from dataclasses import dataclass
from pathlib import Path

from distributed import Client

from geoseg.cluster import using
from geoseg.cluster.streaming import ProgressFn
from geoseg.pipeline.change import change, change_pairs
from geoseg.pipeline.process import process
from geoseg.results import ChangeResult, SceneResult
from geoseg.workflows import change_options, load_workflow, process_config, scene_paths


@dataclass(frozen=True)
class WorkflowResult:
    """Each step's results: scenes processed, and date pairs compared."""

    name: str
    out_dir: Path
    scenes: list[SceneResult]
    changes: list[ChangeResult]

    @property
    def failed(self) -> bool:
        return any(r.failed for r in [*self.scenes, *self.changes])


def run_workflow(
    path: str | Path,
    *,
    client: Client | None = None,
    scheduler: str | None = None,
    n_workers: int | None = None,
    progress: ProgressFn | None = None,
) -> WorkflowResult:
    """Validate the workflow at ``path``, then run its steps; outputs go under ``outputs.dir``
    (``scenes/`` for process, ``change/`` for change)."""
    workflow, base = load_workflow(path)
    out = base / workflow.outputs.dir
    config = process_config(workflow, base)
    paths = scene_paths(workflow, base)
    scenes: list[SceneResult] = []
    changes: list[ChangeResult] = []
    with using(client, scheduler, n_workers or workflow.resources.workers) as own:
        if "process" in workflow.steps:
            for found in paths:
                scenes += process(found, out / "scenes", config, client=own, progress=progress)
        if "change" in workflow.steps and workflow.change is not None:
            options = change_options(workflow)
            if workflow.change.pairs == "consecutive":
                changes = change_pairs(
                    paths, out / "change", config, options, client=own, progress=progress
                )
            else:
                changes = [
                    change(
                        base / before,
                        base / after,
                        out / "change" / f"{Path(before).stem}__{Path(after).stem}",
                        config,
                        options,
                        client=own,
                        progress=progress,
                    )
                    for before, after in workflow.change.pairs
                ]
    return WorkflowResult(workflow.name, out, scenes, changes)
