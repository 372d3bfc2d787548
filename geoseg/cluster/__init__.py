"""Where the work runs: connecting to (or starting) a Dask cluster, and the engine that runs
geoseg's jobs on it (the only module that talks to Dask's futures)."""

from geoseg.cluster.connect import RunArgs, connect, using
from geoseg.cluster.engine import (
    Done,
    Failed,
    Handle,
    Job,
    Outcome,
    Slot,
    Spawn,
    Task,
    Wait,
    call,
    error_line,
    run_jobs,
    share,
)

__all__ = [
    "Done",
    "Failed",
    "Handle",
    "Job",
    "Outcome",
    "RunArgs",
    "Slot",
    "Spawn",
    "Task",
    "Wait",
    "call",
    "connect",
    "error_line",
    "run_jobs",
    "share",
    "using",
]
