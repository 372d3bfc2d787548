"""``run_workflow``: a workflow file's steps (process, change) on one Dask cluster."""

from dataclasses import dataclass
from pathlib import Path
from typing import Unpack

from geoseg.cluster import RunArgs, using
from geoseg.options import ProcessConfig
from geoseg.pipeline.change import change, change_pairs
from geoseg.pipeline.process import process
from geoseg.results import ChangeResult, SceneResult
from geoseg.workflows import (
    change_options,
    cluster_options,
    load_workflow,
    process_config,
    scene_paths,
)


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
    allow_outside: bool = False,
    overwrite: bool = False,
    out_dir: str | Path | None = None,
    **run: Unpack[RunArgs],
) -> WorkflowResult:
    """Validate the workflow at ``path``, then run its steps; outputs go under ``outputs.dir``
    (``scenes/`` for process, ``change/`` for change). The workflow's ``cluster`` section says
    where, unless ``run`` gives a client, or cluster options that override it. A workflow whose
    local scenes or outputs lead outside its project root (``geoseg.workflows.project_root``) is
    refused, before anything is read or written, unless ``allow_outside``.

    ``overwrite`` redoes scenes whose outputs are up to date, as ``process``'s does (the
    workflow's own ``process.overwrite`` still counts). ``out_dir`` replaces ``outputs.dir``:
    the caller's choice, so it is not held to the project root (tests and notebooks write into
    a temporary folder instead of the user's ``out/``)."""
    workflow, base = load_workflow(path, allow_outside=allow_outside)
    out = Path(out_dir).absolute() if out_dir is not None else base / workflow.outputs.dir
    config = with_overwrite(process_config(workflow, base), overwrite)
    paths = scene_paths(workflow, base)
    cluster = cluster_options(workflow, run.get("cluster"))
    scenes: list[SceneResult] = []
    changes: list[ChangeResult] = []
    with using(RunArgs(**{**run, "cluster": cluster})) as own:
        on = RunArgs(client=own, **({"progress": run["progress"]} if "progress" in run else {}))
        if "process" in workflow.steps:
            for found in paths:
                scenes += process(found, out / "scenes", config, **on)
        if "change" in workflow.steps and workflow.change is not None:
            options = change_options(workflow)
            if workflow.change.pairs == "consecutive":
                changes = change_pairs(paths, out / "change", config, options, **on)
            else:
                changes = [
                    change(
                        base / before,
                        base / after,
                        out / "change" / f"{Path(before).stem}__{Path(after).stem}",
                        config,
                        options,
                        **on,
                    )
                    for before, after in workflow.change.pairs
                ]
    return WorkflowResult(workflow.name, out, scenes, changes)


def with_overwrite(config: ProcessConfig, overwrite: bool) -> ProcessConfig:
    """``config``, redoing up-to-date scenes when ``overwrite`` (never the reverse: a workflow
    that says ``overwrite: true`` keeps it)."""
    return config.replace(overwrite=True) if overwrite else config
