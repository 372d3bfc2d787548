"""Where the work runs: connecting to (or starting) a Dask cluster, and streaming plans through it."""

from geoseg.cluster.connect import connect, has_gpu_workers
from geoseg.cluster.streaming import SceneOutcome, stream_plans

__all__ = ["SceneOutcome", "connect", "has_gpu_workers", "stream_plans"]
