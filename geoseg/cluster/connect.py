"""Connect to a Dask scheduler, or start an embedded ``LocalCluster`` sized to the machine."""

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import TypedDict

import dask
from dask.system import CPU_COUNT
from distributed import Client, LocalCluster, Security, Worker, WorkerPlugin

from geoseg.errors import ConfigError
from geoseg.locations import remote_settings
from geoseg.options import ClusterOptions

# Worker processes read rasters with GDAL: bound its block cache so memory stays predictable.
# One malloc arena: the threads of a worker share one heap, which keeps freed torch activations
# for the next batch (see ``torch_models.prepare_process``).
WORKER_ENV = {
    "GDAL_CACHEMAX": "128",
    "GDAL_MAX_DATASET_POOL_SIZE": "24",
    "HF_HUB_OFFLINE": "1",
    "OMP_NUM_THREADS": "1",
    "MALLOC_ARENA_MAX": "1",
    # Inputs over HTTP(S): no directory listing before opening a file, and transient errors
    # retried before a read fails.
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_HTTP_MAX_RETRY": "3",
    "GDAL_HTTP_RETRY_DELAY": "1",
    # /vsicurl's in-memory cache (GDAL's default: 16 MiB per process) must hold the strips a
    # worker's threads read at once: at 16 MiB neighbouring strips were downloaded twice (up to
    # 1.22x the full-resolution tiles' bytes, 2 threads, 8,192² COG); at 32 or 64 MiB 1.004x
    # (benchmarks/remote_io.py). GDAL reads it once per process, before the first remote read.
    "CPL_VSIL_CURL_CACHE_SIZE": str(64 * 2**20),
}


# Threads of one worker process share its imports and its copy of a model (torch and a U-Net are
# ~0.7 GB per process), and ran two single-threaded forward passes side by side as fast as two
# processes did (measured on 2 cores); past this many threads a process is split.
THREADS_PER_PROCESS = 8


def cluster_shape(
    cores: int, n_workers: int | None = None, threads_per_worker: int | None = None
) -> tuple[int, int]:
    """``(worker processes, threads each)`` that give every core a thread: as few processes as
    ``THREADS_PER_PROCESS`` allows unless ``n_workers`` says how many; the threads of ``cores``
    not divisible by the processes are rounded up (one thread too many beats an idle core)."""
    if n_workers is None:
        n_workers = -(-cores // (threads_per_worker or THREADS_PER_PROCESS))
    return n_workers, threads_per_worker or max(1, -(-cores // n_workers))


# The embedded cluster's scheduler, workers and nannies listen here only: whoever can talk to them
# can run code as this user, so they are never offered to the network (and TLS keeps out the
# other processes of this machine).
LOOPBACK = "127.0.0.1"


def embedded_security(tls: bool) -> Security:
    """A self-signed certificate and key made in memory for this cluster alone
    (``Security.temporary``), required of every connection: another local process can reach
    127.0.0.1 too, and without them it cannot submit work. ``tls=False`` gives plain TCP, for
    tests whose subprocesses connect by address with no certificate."""
    return Security.temporary() if tls else Security(require_encryption=False)


def local_cluster(
    n_workers: int | None = None,
    threads_per_worker: int | None = None,
    dashboard_address: str = ClusterOptions().dashboard_address,
    *,
    tls: bool = True,
) -> LocalCluster:
    """Worker processes with a thread per core of this machine (``cluster_shape``) listening on
    127.0.0.1 over TLS with this cluster's own certificate (``embedded_security``), and the
    dashboard at ``dashboard_address``. ``Client(cluster)`` gets the certificate from the
    cluster."""
    n, threads = cluster_shape(CPU_COUNT, n_workers, threads_per_worker)
    environ = dask.config.get("distributed.nanny.pre-spawn-environ", {}) | WORKER_ENV
    # Dask's statistical profiler samples every worker thread's stack each 10 ms, holding the
    # GIL: a U-Net run on 2 cores took 7 % longer with it (14.1 vs 15.2 s, 3 alternating pairs).
    settings = {
        "distributed.nanny.pre-spawn-environ": environ,
        "distributed.worker.profile.enabled": False,
    }
    # Task errors reach the caller as one-line results; the workers need not log them too.
    with dask.config.set(settings), _children_ignore_ctrl_c():
        return LocalCluster(
            n_workers=n,
            threads_per_worker=threads,
            processes=True,
            host=LOOPBACK,
            protocol="tls://" if tls else "tcp://",
            security=embedded_security(tls),
            dashboard_address=dashboard_address,
            silence_logs=logging.CRITICAL,
        )


@contextlib.contextmanager
def _children_ignore_ctrl_c() -> Iterator[None]:
    """Processes started here (the embedded nannies, and the workers they start) ignore the
    terminal's Ctrl-C: Python keeps a SIGINT ignored by its parent. Only the client is
    interrupted then, and it says what was saved; workers would each print a traceback."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def connect(options: ClusterOptions | None = None) -> Iterator[Client]:
    """A client for ``options.scheduler`` (``tcp://host:8786``), or for a new local cluster of
    ``options.workers`` processes when there is no scheduler (``local_cluster``: TLS on
    127.0.0.1, a certificate known only to this client and the workers)."""
    options = options or ClusterOptions()
    if options.scheduler is None:
        with (
            local_cluster(options.workers, dashboard_address=options.dashboard_address) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    try:
        client = Client(options.scheduler, timeout="20s")
    except OSError as exc:
        raise ConfigError(
            f"cannot reach the Dask scheduler at {options.scheduler} ({exc})",
            options=("scheduler",),
        ) from exc
    with client:
        yield client


ProgressFn = Callable[[str, int, int], None]  # item (a scene), tiles done, tiles total


class RunArgs(TypedDict, total=False):
    """How an API call runs, as keyword arguments: on ``client``, else on the cluster that
    ``cluster`` describes (default: an embedded one for the call), reporting to ``progress``
    (item, done, total)."""

    client: Client
    cluster: ClusterOptions
    progress: ProgressFn


class RemoteSettings(WorkerPlugin):
    """The client's settings for remote reads (``geoseg.locations.REMOTE_SETTINGS``: S3
    endpoint and credentials, HTTP retries...) put in each worker's environment, where GDAL reads
    them; workers that join or restart later get them too."""

    name = "geoseg-remote-settings"

    def __init__(self, settings: dict[str, str]) -> None:
        self.settings = settings

    def setup(self, worker: Worker) -> None:
        os.environ.update(self.settings)


def send_remote_settings(client: Client) -> None:
    """Give every worker of ``client`` geoseg's defaults for remote reads, overridden by this
    process's own settings."""
    client.register_plugin(RemoteSettings(remote_settings(WORKER_ENV) | remote_settings()))


@contextlib.contextmanager
def using(run: RunArgs) -> Iterator[Client]:
    """``run``'s client when it has one; else a client of ``connect(run's cluster)``, closed on
    leaving. Every API function finds its cluster this way."""
    if unknown := sorted(set(run) - set(RunArgs.__annotations__)):
        raise TypeError(
            f"unexpected keyword arguments {unknown}: a call runs on client=, or on "
            "cluster=ClusterOptions(scheduler=..., workers=...), with progress="
        )
    if "client" in run:
        send_remote_settings(run["client"])
        yield run["client"]
        return
    with connect(run.get("cluster")) as own:
        send_remote_settings(own)
        yield own
