"""The machine's other cores for passes over people whose rows do not depend on each other.

A pass whose row ``i`` depends only on row ``i`` of its inputs (a keyed draw, a Poisson
inversion, a rate, a person's practice) gives the same values whether it runs over all rows
at once or over contiguous chunks of them. ``rows`` runs such a pass over chunks in a pool
of threads, one chunk per thread; the compiled passes (``nogil``) and numpy's loops release
the interpreter while they work, so the chunks run at the same time. Every value is the one
a single thread gives, so results do not depend on the number of threads
(``tests/test_threads.py`` runs the model with one and with two). ``ahead`` starts a
function (a named stream's next draw, say) in the pool while the caller goes on;
``serial`` gives work the caller does not wait for (the ledger's full batches) to one
background thread that runs it in order. ``aside`` runs larger work (the next year's people
and demand, while this year's days run) on a thread of its own whose passes stay in that
thread, so that the caller keeps its core.

The number of threads is the number of cores this process may use (at most
``MAX_THREADS``), or the environment variable ``CARESCALE_THREADS``, divided among the
worker processes of a run with ``--workers`` (``share_between``), and 1 when there is one
core. Small passes (fewer than ``MIN_ROWS`` rows) run in the caller's thread.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

from model.errors import CarescaleError, show

T = TypeVar("T")

#: passes over fewer rows run in one thread (starting threads costs more than it saves)
MIN_ROWS = 1 << 15
#: at most this many threads, whatever the machine
MAX_THREADS = 8
#: the environment variable that sets the number of threads (1 to ``MAX_THREADS``), e.g. on
#: a machine shared with other work
ENVIRONMENT = "CARESCALE_THREADS"

#: the thread count set (None: the default) and each pool with the process that made it
_state: dict[str, Any] = {"count": None, "pool": None, "serial": None, "aside": None}
#: per thread: whether its passes run in that thread alone (the ``aside`` thread)
_local = threading.local()


def cores() -> int:
    """Cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def count() -> int:
    """Threads a pass uses (the cores, unless set by ``set_count`` or ``share_between``)."""
    if getattr(_local, "alone", False):
        return 1
    n = _state["count"]
    if n is None:
        n = from_environment()
    return min(cores(), MAX_THREADS) if n is None else int(n)


def from_environment() -> int | None:
    """The thread count set by the environment variable ``CARESCALE_THREADS`` (None when it
    is not set); a value that is not a whole number from 1 to ``MAX_THREADS`` is refused in
    one sentence (the command line checks it before any work starts)."""
    raw = os.environ.get(ENVIRONMENT)
    if raw is None or raw.strip() == "":
        return None
    text = raw.strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_THREADS:
        raise CarescaleError(
            f"the environment variable {ENVIRONMENT} is {show(raw)}; it must be a whole "
            f"number of threads from 1 to {MAX_THREADS}, or unset to use every core."
        )
    return int(text)


def set_count(n: int | None) -> None:
    """Use ``n`` threads (1: the caller's only; None: the default, one per core)."""
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"threads must be a whole number of at least 1, got {n!r}")
    _state["count"] = None if n is None else min(int(n), MAX_THREADS)


def share_between(processes: int) -> None:
    """This process is one of ``processes`` running at once: its share of the threads."""
    set_count(max(1, count() // max(1, processes)))


def _made_here(name: str) -> ThreadPoolExecutor | None:
    """The pool ``name`` if this process made it (a pool made before a fork has no threads
    in the child)."""
    made = _state[name]
    return None if made is None or made[1] != os.getpid() else made[0]


def _executor(name: str, workers: int) -> ThreadPoolExecutor:
    """The process's pool ``name`` of ``workers`` threads, made on first use."""
    pool = _made_here(name)
    if pool is None:
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"carescale-{name}")
        _state[name] = (pool, os.getpid())
    return pool


def _pool() -> ThreadPoolExecutor:
    """The threads that run chunks of passes and work started ahead."""
    return _executor("pool", MAX_THREADS - 1)


def chunks(n: int, min_rows: int | None = None) -> list[tuple[int, int]]:
    """Contiguous row ranges ``[lo, hi)`` covering ``0..n``, one per thread, each of at
    least ``min_rows`` rows (``MIN_ROWS`` by default; one range for a small pass)."""
    least = max(1, MIN_ROWS if min_rows is None else min_rows)
    if n < 2 * least:  # one range whatever the threads (most calls: no count asked)
        return [(0, n)]
    parts = min(count(), n // least)
    if parts <= 1:
        return [(0, n)]
    edges = [n * j // parts for j in range(parts + 1)]
    return [(edges[j], edges[j + 1]) for j in range(parts)]


def rows(n: int, fn: Callable[[int, int], None], min_rows: int | None = None) -> None:
    """``fn(lo, hi)`` for the chunks of ``0..n``, at the same time; the last chunk in the
    caller's thread. ``fn`` writes its rows' results; an error in any chunk is raised."""
    parts = chunks(n, min_rows)
    if len(parts) == 1:
        fn(0, n)
        return
    pool = _pool()
    futures = [pool.submit(fn, lo, hi) for lo, hi in parts[:-1]]
    try:
        fn(*parts[-1])
    finally:
        for future in futures:
            future.result()


def each(n: int, fn: Callable[[int], None]) -> None:
    """``fn(c)`` for ``c`` in ``0..n - 1`` (the chunks of a pass made by ``chunks``, say),
    spread over the threads as ``rows`` spreads rows."""

    def some(lo: int, hi: int) -> None:
        for c in range(lo, hi):
            fn(c)

    rows(n, some, min_rows=1)


def ahead(fn: Callable[..., T], *args: Any) -> Future[T]:
    """``fn(*args)`` started in the pool (or run now with one thread); ``.result()`` gives it."""
    if count() <= 1:
        return _done(fn, *args)
    return _pool().submit(fn, *args)


def serial(fn: Callable[..., T], *args: Any) -> Future[T]:
    """``fn(*args)`` started on the process's one background thread, after everything given
    to it before (one at a time, in order), or run now with one thread; ``.result()`` gives
    it. For work the caller does not wait for, such as counting a full batch of records into
    their histograms while the day goes on."""
    if count() > 1:
        return _executor("serial", 1).submit(fn, *args)
    given = _made_here("serial")
    if given is not None:  # what it was given before goes first
        return _done(lambda: given.submit(fn, *args).result())
    return _done(fn, *args)


def aside(fn: Callable[..., T], *args: Any) -> Future[T]:
    """``fn(*args)`` started on a thread of its own, or run now with one thread;
    ``.result()`` gives it. Its passes over people (``rows``, ``ahead``) run in that thread
    alone, so that the caller, which goes on with its own work, keeps its core. Work given
    to it before goes first."""
    if count() <= 1:
        return _done(fn, *args)
    return _executor("aside", 1).submit(_alone, fn, *args)


def _alone(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` with this thread's passes in this thread alone."""
    _local.alone = True
    try:
        return fn(*args)
    finally:
        _local.alone = False


def _done(fn: Callable[..., T], *args: Any) -> Future[T]:
    """A finished future of ``fn(*args)``: its result, or the error it raised."""
    done: Future[T] = Future()
    try:
        done.set_result(fn(*args))
    except BaseException as exc:  # raised where the result is asked for, as the pool does
        done.set_exception(exc)
    return done


def elementwise(fn: Callable[..., Any], x: np.ndarray, dtype: Any = np.float64) -> np.ndarray:
    """``fn(x)`` of a 1-D array for a function of each element alone (a ufunc such as
    scipy's ``ndtri``), written chunk by chunk into one array of ``dtype``."""
    out = np.empty(x.shape[0], dtype=dtype)
    rows(x.shape[0], lambda lo, hi: fn(x[lo:hi], out=out[lo:hi]))
    return out
