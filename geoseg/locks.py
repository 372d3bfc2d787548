"""One run at a time per output folder: a lock file naming its holder.

Two runs writing one scene folder would delete each other's blocks and leave a manifest beside
the other run's outputs. The run (its client process) takes ``OUT/<scene>/.geoseg-lock`` before
it looks at the folder and gives it back when the scene is done or failed. A second run finds
the lock and reports the scene as in use. A lock left behind by a process that no longer runs on
this host (killed, or a job of this process that ended without giving it back) is taken over;
one held from another host is respected, since its process cannot be checked from here.
"""

import datetime as dt
import json
import os
import socket
from collections.abc import Generator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar
from uuid import uuid4

from geoseg.errors import OutputError

LOCK = ".geoseg-lock"
_FRESH_S = 10  # a lock file younger than this may be half-written by its taker: respected
_HELD: set[str] = set()  # tokens of the locks this process holds now
T = TypeVar("T")


@dataclass(frozen=True)
class Holder:
    """Who holds a folder's lock."""

    host: str
    pid: int
    since: str
    token: str


def acquire(folder: Path) -> Holder:
    """Take ``folder``'s lock (creating the folder), or raise ``OutputError`` naming who holds
    it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{folder}: output directory not writable ({exc.strerror})") from None
    path = folder / LOCK
    mine = Holder(
        socket.gethostname(),
        os.getpid(),
        dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        uuid4().hex,
    )
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _read(path)
            if holder is not None and not _stale(holder):
                raise OutputError(
                    f"{folder}: in use by another geoseg run (pid {holder.pid} on "
                    f"{holder.host} since {holder.since}); wait for it, or delete {path} if "
                    "that run is gone"
                ) from None
            if holder is None and _age(path) < _FRESH_S:
                raise OutputError(f"{folder}: in use by another geoseg run (starting)") from None
            path.unlink(missing_ok=True)  # stale: taken over
            continue
        except OSError as exc:
            raise OutputError(f"{folder}: output directory not writable ({exc.strerror})") from None
        with os.fdopen(fd, "w") as f:
            json.dump(asdict(mine), f)
        _HELD.add(mine.token)
        return mine
    raise OutputError(f"{folder}: in use by another geoseg run (its lock keeps changing)")


def holding(folder: Path, job: Generator[Any, Any, T]) -> Generator[Any, Any, T]:
    """``job`` (an engine job, a generator) run while holding ``folder``'s lock: taken before its
    first step, given back when it ends, fails or is closed."""
    holder = acquire(folder)
    try:
        return (yield from job)
    finally:
        release(folder, holder)


def release(folder: Path, holder: Holder) -> None:
    """Give ``folder``'s lock back, if it is still ``holder``'s."""
    _HELD.discard(holder.token)
    current = _read(folder / LOCK)
    if current is not None and current.token == holder.token:
        (folder / LOCK).unlink(missing_ok=True)


def _read(path: Path) -> Holder | None:
    try:
        return Holder(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _age(path: Path) -> float:
    try:
        return dt.datetime.now().timestamp() - path.stat().st_mtime
    except OSError:
        return _FRESH_S


def _stale(holder: Holder) -> bool:
    """Is the holder a process of this host that is gone (or this process, not holding it)?"""
    if holder.host != socket.gethostname():
        return False
    if holder.pid == os.getpid():
        return holder.token not in _HELD
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False
