"""Thread counts, running work on a pool of threads, and the shared BLAS limit.

Every thread count in convcli is passed explicitly (``threads=`` in Python,
``--threads`` on the command line). When none is given, :func:`default_threads`
decides, and it is the only place that reads the ``CONVCLI_THREADS``
environment variable; convcli never sets it.

- :func:`default_threads`: ``CONVCLI_THREADS``, else the usable cores.
- :func:`check_threads`: a caller's ``threads=`` checked, None -> the default.
- :func:`run_parallel`: call a function on every item, from a pool of threads.
- :func:`check_cancelled`: where a long work item lets a stopped run end it.
- :func:`single_threaded_blas`: hold BLAS to one thread while tiles run.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from ..errors import ParameterError, SettingError

if TYPE_CHECKING:
    import queue

__all__ = [
    "check_cancelled",
    "check_threads",
    "default_threads",
    "run_parallel",
    "single_threaded_blas",
    "usable_cores",
]

T = TypeVar("T")


def default_threads() -> int:
    """Worker threads to use when none are given: ``CONVCLI_THREADS``, else the usable cores.

    Raises
    ------
    SettingError
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
            raise SettingError(f"CONVCLI_THREADS must be a positive integer, got {env!r}") from None
        if value < 1:
            raise SettingError(f"CONVCLI_THREADS must be a positive integer, got {env!r}")
        return value
    return usable_cores()


def usable_cores() -> int:
    """Return how many cores this process may run on (its CPU affinity where the OS has one).

    Examples
    --------
    >>> usable_cores() >= 1
    True
    """
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


class _Stopped(Exception):
    """Raised by :func:`check_cancelled` in a worker whose run was stopped."""


_worker = threading.local()


def check_cancelled() -> None:
    """Stop the calling worker thread early if its :func:`run_parallel` was stopped.

    Long work items call this between their steps (a kernel tap, a band of
    rows), so Ctrl-C, SIGTERM or another thread's error ends a run within one
    step rather than after every tile in flight has finished. Outside a
    worker of :func:`run_parallel` it does nothing: the main thread gets
    signals itself, between any two Python steps.

    Examples
    --------
    >>> check_cancelled()  # not in a worker: nothing to stop
    """
    stop = getattr(_worker, "stop", None)
    if stop is not None and stop.is_set():
        raise _Stopped


#: Seconds a stopped run waits for its workers to reach a :func:`check_cancelled`.
STOP_GRACE = 0.5


def run_parallel(work: Callable[[T], Any], items: Iterator[T], threads: int) -> None:
    """Call ``work`` on every item, from ``threads`` threads; the first error stops them all.

    Each thread pulls the next item when it is free, so only ``threads``
    items are in flight and a lazy iterator is never drawn ahead. An error in
    a worker, or Ctrl-C (any exception) in the waiting caller, stops the
    others at their next :func:`check_cancelled`; the caller waits at most
    :data:`STOP_GRACE` seconds for them, never for a long tile to finish (the
    workers are daemon threads, so a process leaving does not wait either).

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
    lock = threading.Lock()
    stop = threading.Event()
    errors: list[BaseException] = []
    end = object()

    def worker() -> None:
        _worker.stop = stop
        try:
            while not stop.is_set():
                with lock:
                    item = next(items, end)
                if item is end:
                    return
                work(item)  # type: ignore[arg-type]
        except _Stopped:
            pass
        except BaseException as exc:
            errors.append(exc)
            stop.set()
        finally:
            _worker.stop = None

    jobs = [_POOL.submit(worker) for _ in range(threads)]  # kept threads (_WorkerCache)
    try:
        for job in jobs:
            job.done.wait()
    except BaseException:  # Ctrl-C or SIGTERM in the main thread: stop the others
        stop.set()
        deadline = time.monotonic() + STOP_GRACE
        for job in jobs:
            job.done.wait(max(0.0, deadline - time.monotonic()))
        raise
    if errors:
        raise errors[0]


class _Job:
    """One function's run on a kept thread: done when it returns, with the error it raised."""

    __slots__ = ("done", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.error: BaseException | None = None

    def exception(self) -> BaseException | None:
        """Wait for the run to end; the error it raised, or None."""
        self.done.wait()
        return self.error

    def result(self) -> None:
        """Wait for the run to end; raise the error it raised."""
        if self.exception() is not None:
            raise self.error  # type: ignore[misc]


class _WorkerCache:
    """Idle worker threads kept for the next :func:`run_parallel` call.

    Starting threads cost every parallel call a pool's start (a tenth of a
    millisecond a thread, far more on a loaded machine); these threads live
    on, idle, between calls. A call takes as many idle threads as it needs
    and starts the missing ones, so concurrent and nested calls never wait
    for one another's threads and each call still runs on exactly its
    ``threads`` threads. A thread goes back to the cache when its job ends,
    and ends after :attr:`idle_seconds` without work (so a process that
    stops filtering, or forks later, is left with no engine threads).
    The threads are daemons, blocked on their queue while idle, so they hold
    up neither interpreter exit nor a signal's handling in the main thread;
    a forked child starts with an empty cache (its parent's threads do not
    exist there).
    """

    #: an idle thread ends after this many seconds without work
    idle_seconds = 30.0
    #: idle threads kept at most (a call on more threads starts the rest)
    max_idle = 64

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.idle: list[queue.SimpleQueue[Any]] = []
        self.started = 0  # threads started in this process (for tests)

    def forget(self) -> None:
        """In a forked child: drop the parent's threads and a lock one of them may hold."""
        self.lock = threading.Lock()
        self.idle = []
        self.started = 0

    def submit(self, fn: Callable[[], Any]) -> _Job:
        """Run ``fn`` on an idle thread, or a new one; the job holds its outcome."""
        import queue  # imported when a call first runs in parallel (fast start)

        future = _Job()
        with self.lock:
            inbox = self.idle.pop() if self.idle else None
            if inbox is None:
                self.started += 1
        if inbox is None:
            inbox = queue.SimpleQueue()
            threading.Thread(
                target=self._serve, args=(inbox,), name="convcli-engine", daemon=True
            ).start()
        inbox.put((fn, future))
        return future

    def _serve(self, inbox: queue.SimpleQueue[Any]) -> None:
        import queue

        while True:
            try:
                fn, future = inbox.get(timeout=self.idle_seconds)
            except queue.Empty:
                with self.lock:
                    if inbox in self.idle:  # nobody took it meanwhile: end this thread
                        self.idle.remove(inbox)
                        return
                continue  # a caller took it and is handing over its job
            try:
                fn()
            except BaseException as exc:  # handed to the caller as is
                future.error = exc
            with self.lock:  # back in the cache before the caller hears: its next call reuses it
                keep = len(self.idle) < self.max_idle
                if keep:
                    self.idle.append(inbox)
            future.done.set()
            del fn, future  # hold nothing of a finished call while idle
            if not keep:
                return

    def idle_count(self) -> int:
        """Threads waiting for work (for tests)."""
        with self.lock:
            return len(self.idle)


_POOL = _WorkerCache()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_POOL.forget)


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
