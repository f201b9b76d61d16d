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
import threading
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
#: guards ``_depth`` (the runs of a comparison may enter the block from two threads)
_lock = threading.Lock()


def _libc() -> Any | None:
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt  # noqa: B018 - glibc only
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


@contextmanager
def reuse_freed_memory() -> Iterator[None]:
    """Within the block, glibc keeps freed memory for the next allocation (nested or
    overlapping blocks share one setting); when the last block is left its defaults are
    restored and the freed memory is given back."""
    global _depth
    with _lock:
        if _depth == 0 and (libc := _libc()) is not None:
            libc.mallopt(M_MMAP_MAX, 0)
            libc.mallopt(M_TRIM_THRESHOLD, KEEP)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            # the last block to leave restores (blocks of two threads may overlap)
            if _depth == 0 and (libc := _libc()) is not None:
                libc.mallopt(M_MMAP_MAX, DEFAULT_MMAP_MAX)
                libc.mallopt(M_TRIM_THRESHOLD, DEFAULT_TRIM_THRESHOLD)
                libc.malloc_trim(0)  # freed memory back to the system (a few ms)


def share_main_heap() -> bool:
    """Threads that start from now on allocate from glibc's main heap, as the main thread
    does, instead of a heap (arena) of their own each; True if set. For runs side by side
    in threads (``model.compare``): with an arena each, the memory one run frees is kept for
    that run only; shared, the other reuses it. glibc fixes its limit of arenas when it
    first needs one, so the command line sets this as it starts and it holds for the rest
    of the process. Results never change. Elsewhere than glibc it does nothing."""
    libc = _libc()
    return libc is not None and bool(libc.mallopt(M_ARENA_MAX, 1))
