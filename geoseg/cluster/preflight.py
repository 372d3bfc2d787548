"""Preflight: before any tile, can every worker read the inputs and share the output folders?

Workers never share the client's working directory, and on a real cluster not its disk either.
One small function runs on every worker (``Client.run``): it checks that each input file is
readable there, that it sees a file the client has just written into each output folder (the
folder is the same storage, not a folder of the same name), and that it can write there itself;
the client then checks it sees each worker's file. Every problem becomes one line naming the
worker and the path, and nothing is computed.
"""

import os
import re
from collections.abc import Iterable
from pathlib import Path
from uuid import uuid4

import rasterio
from distributed import Client, Worker
from rasterio.errors import RasterioError

from geoseg.errors import ConfigError
from geoseg.locations import gdal_path, is_remote, redact

PROBE = ".geoseg-preflight"
STORAGE = (
    "inputs and outputs must be on storage every worker sees: a shared filesystem at the same "
    "path, HTTP(S) or S3"
)


def readable(paths: Iterable[str]) -> list[str]:
    """The inputs a worker must read too: the local files this process can read, and for each
    server or bucket of remote files, one file this process can open (a worker's problem with a
    server is access or settings, the same for all its files). A file nobody can read is a bad
    scene, which fails alone later, not a storage problem."""
    found, servers = [], set()
    for path in paths:
        if is_remote(path):
            server = _server(path)
            if server not in servers and open_problem(path) is None:
                servers.add(server)
                found.append(path)
        elif os.access(path, os.R_OK):
            found.append(path)
    return found


def _server(location: str) -> str:
    """``scheme://host`` of a URL, ``s3://bucket`` of an object."""
    scheme, _, rest = location.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def open_problem(location: str) -> str | None:
    """None when GDAL opens ``location`` (its header only), else why not."""
    try:
        with rasterio.open(gdal_path(location)):
            return None
    except RasterioError as exc:
        return redact(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


def probe(folder: Path, token: str, who: str) -> Path:
    """The empty file ``who`` (the client, or a worker's address) writes into ``folder``."""
    return folder / f"{PROBE}-{token}-{re.sub(r'[^A-Za-z0-9]+', '_', who)}"


def check_worker(
    inputs: list[str], outputs: list[str], token: str, dask_worker: Worker
) -> list[str]:
    """On a worker: the problems it has with ``inputs`` and ``outputs`` (none: an empty list).
    Leaves its own probe file in each output folder it can write."""
    problems = [
        f"cannot read {path}"
        for path in inputs
        if not is_remote(path) and not os.access(path, os.R_OK)
    ]
    problems += [
        f"cannot open {path} ({why}); check the AWS_*/GDAL_HTTP_* settings the workers get"
        for path in inputs
        if is_remote(path) and (why := open_problem(path)) is not None
    ]
    for folder in map(Path, outputs):
        if not probe(folder, token, "client").exists():
            problems.append(f"does not see the client's files in {folder}")
            continue
        try:
            probe(folder, token, dask_worker.address).write_bytes(b"")
        except OSError as exc:
            problems.append(f"cannot write {folder} ({exc.strerror})")
    return problems


def preflight(client: Client, inputs: list[str], outputs: list[Path]) -> None:
    """Raise ``ConfigError`` with one line per problem any worker has with the inputs or the
    output folders (created here); return when there is none."""
    token = uuid4().hex[:12]
    for folder in outputs:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe(folder, token, "client").write_bytes(b"")
        except OSError as exc:
            raise ConfigError(f"{folder}: cannot write ({exc.strerror})") from None
    try:
        found: dict[str, list[str]] = client.run(
            check_worker, inputs, [str(f) for f in outputs], token
        )
        for address, problems in found.items():
            if not problems:
                problems += [
                    f"writes {folder} where the client does not see it"
                    for folder in outputs
                    if not probe(folder, token, address).exists()
                ]
    finally:
        for folder in outputs:
            for written in folder.glob(f"{PROBE}-{token}-*"):
                written.unlink(missing_ok=True)
    lines = [f"{address}: {p}" for address, problems in sorted(found.items()) for p in problems]
    if lines:
        raise ConfigError("\n".join([f"the workers cannot run this job ({STORAGE}):", *lines]))
