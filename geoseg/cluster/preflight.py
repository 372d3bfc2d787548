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

from distributed import Client, Worker

from geoseg.errors import ConfigError

PROBE = ".geoseg-preflight"
STORAGE = (
    "inputs and outputs must be on storage every worker sees: a shared filesystem at the same "
    "path, HTTP(S) or S3"
)


def readable(paths: Iterable[str]) -> list[str]:
    """The paths this process can read: the ones a worker must read too. A file nobody can read
    is a bad scene, which fails alone later, not a storage problem."""
    return [path for path in paths if os.access(path, os.R_OK)]


def probe(folder: Path, token: str, who: str) -> Path:
    """The empty file ``who`` (the client, or a worker's address) writes into ``folder``."""
    return folder / f"{PROBE}-{token}-{re.sub(r'[^A-Za-z0-9]+', '_', who)}"


def check_worker(
    inputs: list[str], outputs: list[str], token: str, dask_worker: Worker
) -> list[str]:
    """On a worker: the problems it has with ``inputs`` and ``outputs`` (none: an empty list).
    Leaves its own probe file in each output folder it can write."""
    problems = [f"cannot read {path}" for path in inputs if not os.access(path, os.R_OK)]
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
