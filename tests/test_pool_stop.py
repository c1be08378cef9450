"""A --jobs batch stops even when its process pool cannot (issue 21: every signal within a second).

A worker that dies on Ctrl-C while it holds the result queue's lock leaves
that lock taken for good, and ``multiprocessing.Pool.terminate`` then waits
for it forever (seen about once in 30 Ctrl-C's on a loaded machine, as a
batch that never exited). Here the lock is taken on purpose, so that
``terminate`` blocks every time.
"""

from __future__ import annotations

import multiprocessing
import time

from convcli.cli.jobs import Job
from convcli.cli.processes import _terminate


def _square(x: int) -> int:
    return x * x


def test_a_pool_whose_terminate_blocks_is_left_behind(tmp_path):
    pool = multiprocessing.get_context("fork").Pool(1)
    assert pool.map(_square, [3]) == [9]
    workers = list(pool._pool)
    pool._outqueue._wlock.acquire()  # as a worker that died holding it would leave it
    target = tmp_path / "out.png"
    leftover = tmp_path / ".out.png.abcd1234.part"
    leftover.write_bytes(b"half a file")
    job = Job(source=str(tmp_path / "in.png"), target=str(target))
    start = time.monotonic()
    _terminate(pool, [job], wait=0.5)
    took = time.monotonic() - start
    assert took < 2.0, f"{took:.1f} s"
    time.sleep(0.2)
    assert all(not w.is_alive() for w in workers)
    assert not leftover.exists()


def test_distributed_s_cancel_race_is_not_printed_beside_interrupted():
    """Ctrl-C early in a cluster run: distributed's sync() logs a NameError from its cancel
    callback (seen in CI as a traceback under "Interrupted."); only that record is dropped."""
    import logging
    import sys

    from convcli.cluster.connect import _CancelRaceFilter

    def record(exc: BaseException, message: str) -> logging.LogRecord:
        try:
            raise exc
        except BaseException:
            info = sys.exc_info()
        return logging.LogRecord(
            "tornado.application", logging.ERROR, __file__, 1, message, (), info
        )

    race = record(
        NameError("cannot access free variable 'future'"),
        "Exception in callback functools.partial(<function sync.<locals>.cancel at 0x7f>)",
    )
    other = record(NameError("x"), "Exception in callback functools.partial(<function other>)")
    failure = record(RuntimeError("boom"), "Exception in callback sync.<locals>.cancel")
    keep = _CancelRaceFilter()
    assert not keep.filter(race)
    assert keep.filter(other) and keep.filter(failure)
