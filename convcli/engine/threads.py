"""Thread counts, running work on a pool of threads, and the shared BLAS limit.

Every thread count in convcli is passed explicitly (``threads=`` in Python,
``--threads`` on the command line). When none is given, :func:`default_threads`
decides, and it is the only place that reads the ``CONVCLI_THREADS``
environment variable; convcli never sets it.

- :func:`default_threads`: ``CONVCLI_THREADS``, else the usable cores.
- :func:`check_threads`: a caller's ``threads=`` checked, None -> the default.
- :func:`run_parallel`: call a function on every item, from a pool of threads.
- :func:`single_threaded_blas`: hold BLAS to one thread while tiles run.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import numpy as np

from ..errors import ParameterError

__all__ = ["check_threads", "default_threads", "run_parallel", "single_threaded_blas"]

T = TypeVar("T")


def default_threads() -> int:
    """Worker threads to use when none are given: ``CONVCLI_THREADS``, else the usable cores.

    Raises
    ------
    ParameterError
        ``CONVCLI_THREADS`` is set but is not a positive integer.

    Examples
    --------
    >>> default_threads() >= 1
    True
    """
    env = os.environ.get("CONVCLI_THREADS", "").strip()
    if env:
        try:
            value = int(env)
        except ValueError:
            raise ParameterError(
                f"CONVCLI_THREADS must be a positive integer, got {env!r}"
            ) from None
        if value < 1:
            raise ParameterError(f"CONVCLI_THREADS must be a positive integer, got {env!r}")
        return value
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def check_threads(threads: int | None) -> int:
    """``threads`` as a positive int, or :func:`default_threads` for None.

    Examples
    --------
    >>> check_threads(2)
    2
    >>> check_threads(0)
    Traceback (most recent call last):
    convcli.errors.ParameterError: `threads` must be a positive integer, got 0
    """
    if threads is None:
        return default_threads()
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise ParameterError(f"`threads` must be a positive integer, got {threads!r}")
    return int(threads)


def run_parallel(work: Callable[[T], Any], items: Iterator[T], threads: int) -> None:
    """Call ``work`` on every item, from ``threads`` threads; the first error stops them all.

    Each thread pulls the next item when it is free, so only ``threads``
    items are in flight and a lazy iterator is never drawn ahead.

    Examples
    --------
    >>> done = []
    >>> run_parallel(done.append, iter(range(5)), 2)
    >>> sorted(done)
    [0, 1, 2, 3, 4]
    """
    if threads == 1:
        for item in items:
            work(item)
        return
    from concurrent.futures import ThreadPoolExecutor

    lock = threading.Lock()
    stop = threading.Event()
    end = object()

    def worker() -> None:
        try:
            while not stop.is_set():
                with lock:
                    item = next(items, end)
                if item is end:
                    return
                work(item)  # type: ignore[arg-type]
        except BaseException:
            stop.set()
            raise

    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(worker) for _ in range(threads)]
        try:
            for future in futures:
                future.result()
        except BaseException:  # an error, or Ctrl-C in the main thread: stop the others
            stop.set()
            raise


class _BlasLimit:
    """The process-wide state of :func:`single_threaded_blas`."""

    lock = threading.Lock()
    users = 0
    controller: tuple[bool, Any] | None = None
    limiter: Any = None


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Hold BLAS to one thread (through threadpoolctl) while the body runs.

    Overlapping calls from several user threads share one limit, lifted
    when the last of them leaves.
    """
    state = _BlasLimit
    with state.lock:
        if state.users == 0:
            scipy_loaded = "scipy.linalg" in sys.modules
            if state.controller is None or state.controller[0] != scipy_loaded:
                from threadpoolctl import ThreadpoolController

                # finds the BLAS libraries loaded now: rebuilt once scipy's own is loaded
                state.controller = (scipy_loaded, ThreadpoolController())
            state.limiter = state.controller[1].limit(limits=1, user_api="blas")
        state.users += 1
    try:
        yield
    finally:
        with state.lock:
            state.users -= 1
            if state.users == 0:
                state.limiter.restore_original_limits()
                state.limiter = None
