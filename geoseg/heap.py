"""glibc heap controls for long-lived worker processes (no-ops where glibc is not the C library).

Two opposite needs, each measured: a worker that wrote a COG stayed ~250 MB larger for the rest of
a run unless its freed heap went back to the system (``release``); a worker running a network
page-faulted every activation in again unless freed memory stayed (``keep_freed``).
"""

import ctypes
import functools

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # glibc's mallopt parameters


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim, libc.mallopt  # noqa: B018 (both exist only in glibc)
    except (OSError, AttributeError):
        return None
    return libc


def release() -> None:
    """Hand the freed heap back to the system now."""
    if (libc := _libc()) is not None:
        libc.malloc_trim(0)


def keep_freed(trim_threshold: int = 1 << 30) -> None:
    """Serve every allocation from the heap (no ``mmap``) and keep up to ``trim_threshold`` bytes
    of freed memory at its top for the next allocations."""
    if (libc := _libc()) is not None:
        libc.mallopt(M_MMAP_MAX, 0)
        libc.mallopt(M_TRIM_THRESHOLD, trim_threshold)
