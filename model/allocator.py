"""The C allocator during a run: freed memory is reused instead of given back and faulted in
again.

A 1 M-person year allocates and frees arrays of tens to hundreds of megabytes (the year's
events, the survivors' arrays, each day's requests). glibc serves an allocation above its mmap
threshold (at most 32 MB) with fresh pages from the system and returns them when the array is
freed, so the next array of that size is zero-filled page by page again (a minor page fault
per 4 KB). During a run, ``reuse_freed_memory`` makes glibc take every allocation from its heap
and keep what is freed for the next one (``mallopt``: no mmap allocations, no trimming); on
leaving, the defaults come back and the freed memory is given back to the system
(``malloc_trim``), so a long-lived process (a notebook, the workshop app) does not keep a
run's peak. Elsewhere than glibc it does nothing. The allocator never changes a result.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: ``mallopt`` parameters (glibc ``malloc.h``) and their documented defaults
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
M_ARENA_MAX = -8
DEFAULT_TRIM_THRESHOLD = 128 * 1024
DEFAULT_MMAP_MAX = 65536
#: the largest trim threshold ``mallopt`` takes (an int): freed heap memory is kept
KEEP = 2**31 - 1

_depth = 0


def _libc() -> Any | None:
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt  # noqa: B018 - glibc only
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def one_heap() -> None:
    """Every thread of the process allocates from glibc's main heap (``mallopt``
    ``M_ARENA_MAX`` 1, as the environment variable ``MALLOC_ARENA_MAX=1`` would).

    By default each thread that allocates gets a heap (an arena) of its own, and with freed
    memory kept for reuse (``reuse_freed_memory``) each heap keeps its own peak: a thread
    making next year's people would hold a year's arrays apart from the main thread's.
    Called first thing by the command line, before any thread of the process has
    allocated; threads that already have a heap keep it. Elsewhere than glibc it does
    nothing."""
    libc = _libc()
    if libc is not None:
        libc.mallopt(M_ARENA_MAX, 1)


@contextmanager
def reuse_freed_memory() -> Iterator[None]:
    """Within the block, glibc keeps freed memory for the next allocation (nested blocks
    share the outermost one's setting); afterwards its defaults are restored and the freed
    memory is given back."""
    global _depth
    libc = _libc() if _depth == 0 else None
    if libc is not None:
        libc.mallopt(M_MMAP_MAX, 0)
        libc.mallopt(M_TRIM_THRESHOLD, KEEP)
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if libc is not None:
            libc.mallopt(M_MMAP_MAX, DEFAULT_MMAP_MAX)
            libc.mallopt(M_TRIM_THRESHOLD, DEFAULT_TRIM_THRESHOLD)
            libc.malloc_trim(0)  # freed memory back to the system (a few ms)
