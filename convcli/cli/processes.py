"""Run a batch's jobs in a pool of worker processes (``--jobs N``).

:func:`in_processes` starts at most N processes that each receive the task
once (:func:`start_worker`), hands them the jobs in chunks, yields results as
they finish, and stops the workers at once when the caller stops early.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator
from typing import Any

from ..errors import ConvcliError
from .jobs import Job

#: The task a worker process runs, installed once by :func:`start_worker`.
_WORKER_TASK: Callable[[Job], list[str]] | None = None


def start_worker(task: Callable[[Job], list[str]], threads: int) -> None:
    """Initialize a batch's worker process: signals, memory, the task, the default threads.

    The task (kernels, settings, write options) reaches each worker once
    here, not pickled again with every file. With several workers on the
    cores, each computes on its share of them by default (``CONVCLI_THREADS``
    in the worker only; an explicit ``--threads`` is bound in the task and wins),
    so two workers on two cores do not each start two engine threads.
    Freed arrays are kept for the next file (:func:`.jobs.reuse_freed_memory`).
    """
    global _WORKER_TASK
    from .jobs import reuse_freed_memory
    from .signals import worker_signals

    worker_signals()
    reuse_freed_memory()
    _WORKER_TASK = task
    if not os.environ.get("CONVCLI_THREADS", "").strip():
        os.environ["CONVCLI_THREADS"] = str(threads)


def _call(items: list[tuple[int, Job]]) -> list[tuple[int, bool, Any]]:
    """Run a chunk of jobs in a worker: (index, True, notes) or (index, False, the exception) each."""
    assert _WORKER_TASK is not None  # installed by start_worker
    done: list[tuple[int, bool, Any]] = []
    for index, job in items:
        try:
            done.append((index, True, _WORKER_TASK(job)))
        except Exception as exc:
            done.append((index, False, exc))
    return done


def batch_chunksize(files: int, workers: int) -> int:
    """Return the files a worker takes at a time: few round trips, every worker busy to the end.

    About 16 chunks per worker, at most 8 files each (a progress bar still moves).

    Examples
    --------
    >>> batch_chunksize(120, 2), batch_chunksize(10_000, 2), batch_chunksize(3, 2)
    (3, 8, 1)
    """
    return max(1, min(8, files // (16 * max(1, workers))))


def in_processes(
    jobs: list[Job], task: Callable[[Job], list[str]], workers: int
) -> Generator[tuple[Job, bool, Any], None, None]:
    """Run the jobs in at most ``workers`` processes, yielding results as they finish.

    The pool never has more processes than jobs. When the caller stops early
    (Ctrl-C, SIGTERM: an exception at the ``yield``), the queued jobs are
    dropped and the running ones are stopped at once: each worker gets
    SIGTERM, which :func:`convcli.cli.signals.worker_signals` turns into a
    clean exit that removes its temporary file.
    """
    import multiprocessing

    from ..engine.threads import default_threads

    size = min(workers, len(jobs))
    share = max(1, default_threads() // size)
    from .signals import blocked_while_forking

    with blocked_while_forking():  # a worker's signals wait for its own handlers
        pool = multiprocessing.Pool(size, initializer=start_worker, initargs=(task, share))
    try:
        workers_at_start = {p.pid for p in multiprocessing.active_children()}
        step = batch_chunksize(len(jobs), size)
        chunks = (
            [(i, jobs[i]) for i in range(lo, min(lo + step, len(jobs)))]
            for lo in range(0, len(jobs), step)
        )
        results = pool.imap_unordered(_call, chunks)
        pending = set(range(len(jobs)))
        while pending:
            chunk = _next_chunk(results, workers_at_start)
            for index, ok, result in chunk:
                pending.discard(index)
                yield jobs[index], ok, result
        pool.close()
    except BaseException:
        _terminate(pool, [jobs[i] for i in pending])
        raise
    pool.join()


def _terminate(pool: Any, unfinished: list[Job], wait: float = 3.0) -> None:
    """Stop the workers at once (``Pool.terminate``), but never wait on it for long.

    ``Pool.terminate`` takes the result queue's lock to post its sentinel; a
    worker that died while holding that lock (on a signal, or killed
    outright mid-result) leaves it taken for good, and the call blocks
    forever (seen about once in 30 Ctrl-C's on a loaded machine, and on a
    SIGKILL'ed worker). It runs on a daemon thread: after ``wait`` seconds
    the workers still alive are killed, and the run goes on stopping
    without the pool. Either way, once the workers are gone, the unfinished
    jobs' temporary files are removed for them (a worker killed outright
    could not remove its own).
    """
    import threading

    from ..images.atomic import remove_leftovers

    stopper = threading.Thread(target=pool.terminate, name="convcli-pool-stop", daemon=True)
    stopper.start()
    stopper.join(wait)
    if stopper.is_alive():
        for process in list(getattr(pool, "_pool", ())):
            if process.exitcode is None:
                process.kill()
        for process in list(getattr(pool, "_pool", ())):
            process.join(wait)
    for job in unfinished:
        remove_leftovers(job.target)


def _next_chunk(results: Any, workers_at_start: set[int | None]) -> list[tuple[int, bool, Any]]:
    """Wait for the next finished chunk; raise ConvcliError when a worker died instead."""
    import multiprocessing

    while True:
        try:
            chunk: list[tuple[int, bool, Any]] = results.next(timeout=0.5)
            return chunk
        except multiprocessing.TimeoutError:
            # a worker killed outright (SIGKILL, the OOM killer) takes its job with
            # it and the pool would wait for it forever: the pool replaces the dead
            # process, so a pid that vanished from the children says so
            # (the caller stops the pool, bounded, and removes the dead worker's .part)
            if not workers_at_start <= {p.pid for p in multiprocessing.active_children()}:
                raise ConvcliError(
                    "a worker process died (killed, or out of memory?); the files "
                    "it was writing were not written"
                ) from None
