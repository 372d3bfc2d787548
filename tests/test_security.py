"""The embedded cluster is reachable by geoseg's client alone: every socket of it listens on
127.0.0.1, and the scheduler, the workers and the nannies speak TLS with a certificate made for
the run. Any local process (other users included) can connect to 127.0.0.1; one that could talk
to the scheduler, a worker or a nanny could run code as geoseg's user."""

import asyncio
import operator
import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from distributed import Client, Security
from distributed.comm import connect as comm_connect

from geoseg import ClusterOptions, ProcessConfig, process
from geoseg.cluster.connect import connect

from .conftest import BGRN, forest_scene, write_raster

Listener = tuple[int, str, int]  # pid, ip, port

# An intruder that gets no answer within this many seconds has been refused too.
REFUSED_WITHIN_S = 10


def listeners_of(root: psutil.Process) -> set[Listener]:
    """Every listening TCP socket (IPv4 and IPv6) of ``root`` and of all its descendants: the
    embedded scheduler lives in this process, nannies too; workers in child processes."""
    found = set()
    for proc in (root, *root.children(recursive=True)):
        try:
            sockets = proc.net_connections(kind="tcp")
        except psutil.NoSuchProcess:
            continue
        for sock in sockets:
            if sock.status == psutil.CONN_LISTEN:
                found.add((proc.pid, sock.laddr.ip, sock.laddr.port))
    return found


@pytest.fixture(scope="module")
def embedded() -> Iterator[tuple[Client, set[Listener]]]:
    """An embedded run's client, as ``geoseg process`` without ``--scheduler`` gets it (two
    worker processes), and the listeners the cluster opened (those of this process tree that
    did not exist before)."""
    me = psutil.Process()
    before = listeners_of(me)
    with connect(ClusterOptions(workers=2)) as client:
        client.wait_for_workers(2, timeout=60)
        yield client, listeners_of(me) - before


def cluster_addresses(client: Client) -> dict[str, str]:
    """The comm address of the scheduler, of each worker and of each nanny, by role."""
    workers = client.scheduler_info(n_workers=-1)["workers"]
    addresses = {"scheduler": client.scheduler.address}
    for number, (address, worker) in enumerate(sorted(workers.items())):
        addresses[f"worker {number}"] = address
        addresses[f"nanny {number}"] = worker["nanny"]
    return addresses


def test_every_embedded_service_listens_on_loopback_only(
    embedded: tuple[Client, set[Listener]],
) -> None:
    """What ``ss -ltnp`` shows during a run: no wildcard (0.0.0.0, ::) or outward listener."""
    client, opened = embedded
    assert opened, "no listening socket found in this process tree"
    assert {ip for _, ip, _ in opened} == {"127.0.0.1"}, sorted(opened)
    # Not vacuous: the scheduler's, every worker's and every nanny's port is among them.
    ports = {port for _, _, port in opened}
    for role, address in cluster_addresses(client).items():
        assert int(address.rsplit(":", 1)[1]) in ports, f"{role} {address} not seen listening"


def test_every_embedded_service_speaks_tls(embedded: tuple[Client, set[Listener]]) -> None:
    client, _ = embedded
    addresses = cluster_addresses(client)
    assert len(addresses) == 5  # a scheduler, two workers, two nannies
    assert all(a.startswith("tls://127.0.0.1:") for a in addresses.values()), addresses


def unverified_tls(certificate: Security | None = None) -> ssl.SSLContext:
    """A TLS client context that trusts any server (an intruder need not check who it talks
    to), presenting ``certificate``'s client certificate when given one."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if certificate is not None:
        # ssl loads a certificate and key from files only; Security.temporary's are PEM text.
        with tempfile.TemporaryDirectory() as folder:
            cert, key = Path(folder, "cert.pem"), Path(folder, "key.pem")
            cert.write_text(str(certificate.tls_client_cert))
            key.write_text(str(certificate.tls_client_key))
            context.load_cert_chain(cert, key)
    return context


# How another process might try each address the cluster advertises.
INTRUDERS = {
    "plain TCP": lambda address: ("tcp://" + address.split("://")[1], {}),
    "TLS, no certificate": lambda address: (address, {"ssl_context": unverified_tls()}),
    "TLS, another self-signed certificate": lambda address: (
        address,
        {"ssl_context": unverified_tls(Security.temporary())},
    ),
}


async def identity_reply(address: str, connection_args: dict[str, Any]) -> object:
    """What the server at ``address`` answers to Dask's ``identity`` request: the first message
    of any client, before it submits anything."""
    comm = await comm_connect(address, timeout=REFUSED_WITHIN_S, **connection_args)
    try:
        await comm.write({"op": "identity", "reply": True})
        return await asyncio.wait_for(comm.read(), REFUSED_WITHIN_S)
    finally:
        comm.abort()


def refused(address: str, connection_args: dict[str, Any]) -> bool:
    """Whether the server at ``address`` closes the connection, or never answers, instead of
    replying."""
    try:
        asyncio.run(
            asyncio.wait_for(identity_reply(address, connection_args), 2 * REFUSED_WITHIN_S)
        )
    except (OSError, TimeoutError):  # CommClosedError is an OSError
        return True
    return False


@pytest.mark.parametrize("intruder", list(INTRUDERS))
def test_a_process_without_the_runs_certificate_is_refused(
    embedded: tuple[Client, set[Listener]], intruder: str
) -> None:
    """By the scheduler, and by the workers and nannies, which run what they are sent too."""
    client, _ = embedded
    for role, address in cluster_addresses(client).items():
        target, connection_args = INTRUDERS[intruder](address)
        assert refused(target, connection_args), f"{role} at {target} answered {intruder}"


def test_a_plain_client_cannot_submit_but_geosegs_can(
    embedded: tuple[Client, set[Listener]],
) -> None:
    client, _ = embedded
    assert client.submit(operator.add, 1, 2).result(timeout=30) == 3
    plain = "tcp://" + client.scheduler.address.split("://")[1]
    # Refused while connecting: nothing is ever submitted.
    with (
        pytest.raises(OSError),
        Client(plain, timeout=f"{REFUSED_WITHIN_S}s") as intruder,
    ):
        intruder.submit(operator.add, 1, 2).result(timeout=REFUSED_WITHIN_S)


def test_a_run_on_the_tls_cluster(embedded: tuple[Client, set[Listener]], tmp_path: Path) -> None:
    """Arrays, the model and the remote-read settings (a worker plugin) all travel over TLS."""
    client, _ = embedded
    scene = write_raster(tmp_path / "in" / "forest.tif", forest_scene(), descriptions=BGRN)
    [result] = process(scene, tmp_path / "out", ProcessConfig(block_size=64), client=client)
    assert not result.failed, result.message
    assert (tmp_path / "out" / "forest" / "classes.tif").exists()
