"""Real servers on 127.0.0.1 for tests and benchmarks of remote inputs (as Dask ships
``distributed.utils_test``): Debian's nginx for HTTP range reads, moto's standalone server for the
S3 protocol. Each starts on a free port, in a folder of its own, and stops on leaving."""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(port: int, proc: subprocess.Popen, what: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"{what} exited: {log.read_text()[-2000:]}") from None
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start on port {port}") from None
            time.sleep(0.1)


@dataclass
class Nginx:
    """A running nginx serving ``www`` at ``url``; requests are logged to ``access_log``."""

    url: str
    www: Path
    access_log: Path
    port: int
    _config: Path
    _proc: subprocess.Popen | None = None

    def start(self) -> None:
        """Start (or start again, on the same port) the server."""
        root = self._config.parent
        self._proc = subprocess.Popen(
            ["nginx", "-c", str(self._config), "-p", str(root)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for(self.port, self._proc, "nginx", root / "error.log")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(timeout=30)


@contextlib.contextmanager
def nginx(root: Path) -> Iterator[Nginx]:
    """nginx serving ``root/www`` (created) with range requests, configured and logging under
    ``root``. Needs Debian's nginx (``apt-get install nginx-light``)."""
    if shutil.which("nginx") is None:
        raise FileNotFoundError("nginx is not installed (apt-get install nginx-light)")
    www, port = root / "www", free_port()
    www.mkdir(parents=True, exist_ok=True)
    temp = " ".join(
        f"{kind}_temp_path {root / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # `user root`: the master runs as root in CI and here; workers need not drop to nobody.
    config = root / "nginx.conf"
    config.write_text(
        f"daemon off; user root; pid {root / 'nginx.pid'}; error_log {root / 'error.log'};\n"
        f"events {{}}\nhttp {{ access_log {root / 'access.log'}; {temp}\n"
        f"  server {{ listen 127.0.0.1:{port}; root {www}; }} }}\n"
    )
    server = Nginx(f"http://127.0.0.1:{port}", www, root / "access.log", port, config)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass(frozen=True)
class S3Server:
    """A running S3-protocol server and the GDAL/AWS settings that reach it."""

    endpoint: str  # host:port, as GDAL's AWS_S3_ENDPOINT takes it
    settings: dict[str, str]


@contextlib.contextmanager
def s3_server(root: Path, access_key: str, secret_key: str) -> Iterator[S3Server]:
    """moto's standalone S3 server (``moto[server]``) on a free port; ``settings`` are the
    environment variables that make GDAL and boto3 use it with these credentials."""
    port, log = free_port(), root / "moto.log"
    root.mkdir(parents=True, exist_ok=True)
    server = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [server, "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_for(port, proc, "moto_server", log)
        yield S3Server(
            f"127.0.0.1:{port}",
            {
                "AWS_S3_ENDPOINT": f"127.0.0.1:{port}",
                "AWS_HTTPS": "NO",
                "AWS_VIRTUAL_HOSTING": "FALSE",
                "AWS_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": access_key,
                "AWS_SECRET_ACCESS_KEY": secret_key,
            },
        )
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
