"""SIGTERM and SIGHUP end a run as Ctrl-C does: cleanly, with exit status 128 + n.

``timeout``, systemd and docker stop a program with SIGTERM, and a closed
terminal sends SIGHUP. Python's default for both is to die on the spot,
leaving a half-written temporary file behind; here they raise
:class:`Terminated`, a :class:`KeyboardInterrupt`, so every clean-up that
already runs for Ctrl-C (the temporary file of an atomic write is removed)
runs for them too.

Worker processes of a ``--jobs`` batch use :func:`worker_signals` instead:
any of the three signals ends the worker with :class:`SystemExit`, which
also runs the clean-ups but, unlike an interrupt, prints no traceback. A
signal that lands in a finalizer (where Python can only print "Exception
ignored in ...") is delivered again instead, so it still ends the worker,
silently.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

__all__ = [
    "HANDLED",
    "Terminated",
    "blocked_while_forking",
    "exit_status",
    "ignore",
    "install",
    "last_signal",
    "restore",
    "stopped_message",
    "terminating_signals",
    "worker_signals",
]

#: The signals a run turns into a clean stop (SIGINT keeps Python's own handler in the parent).
HANDLED = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when SIGTERM or SIGHUP arrives."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


#: What a stopped run says on stderr, by exit status: the words shells use.
STOPPED = {130: "Interrupted.", 129: "Hangup.", 143: "Terminated."}


def stopped_message(status: int) -> str:
    """Return the line a run stopped by a signal prints: ``Hangup.`` for SIGHUP (129), ...

    Examples
    --------
    >>> stopped_message(129), stopped_message(130), stopped_message(143)
    ('Hangup.', 'Interrupted.', 'Terminated.')
    """
    return STOPPED.get(status, "Terminated.")


def exit_status(exc: KeyboardInterrupt) -> int:
    """128 + the signal's number: 130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP."""
    return 128 + getattr(exc, "signum", signal.SIGINT)


#: The signals the handlers below received, in order (a run that saw one exits 128 + n).
_received: list[int] = []


def last_signal() -> int | None:
    """Return the last signal :func:`terminating_signals` turned into an exception, or None."""
    return _received[-1] if _received else None


def _raise(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    raise Terminated(signum)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    raise KeyboardInterrupt


def install() -> dict[int, Any]:
    """Turn SIGINT, SIGTERM and SIGHUP into exceptions (the program's entry point).

    The console command never undoes this: the process ends when its command
    does, and a signal in its last moments must still be noted
    (:func:`last_signal`), not kill it. A caller that goes on afterwards (a
    notebook or a test calling the command with its arguments) puts the
    handlers this returns back with :func:`restore`.
    """
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {}
    for signum in (signal.SIGINT, *HANDLED):
        old = signal.getsignal(signum)
        if old is not signal.SIG_IGN:
            previous[signum] = old
            signal.signal(signum, _interrupt if signum == signal.SIGINT else _raise)
    return previous


def restore(previous: dict[int, Any]) -> None:
    """Put back the handlers :func:`install` (and :func:`ignore`) replaced."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def ignore() -> None:
    """Ignore SIGINT, SIGTERM and SIGHUP from now on (a finished run is leaving)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGINT, *HANDLED):
        signal.signal(signum, signal.SIG_IGN)


@contextlib.contextmanager
def terminating_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into :class:`Terminated` inside the block (and note SIGINT).

    Outside the main thread (where Python cannot set handlers) nothing
    changes. A signal its caller ignored (``nohup``) stays ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for signum in (signal.SIGINT, *HANDLED):
        old = signal.getsignal(signum)
        if old is signal.SIG_IGN:
            continue
        previous[signum] = old
        # SIGINT still raises KeyboardInterrupt, as Python's own handler does; both
        # are remembered, so a signal caught on the way out still sets the status
        signal.signal(signum, _interrupt if signum == signal.SIGINT else _raise)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


class _WorkerExit(SystemExit):
    """What a worker's signal handler raises: ends the worker, with no traceback."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum


def _exit(signum: int, frame: FrameType | None) -> None:
    raise _WorkerExit(signum)


def _redeliver(unraisable: sys.UnraisableHookArgs) -> None:
    """``sys.unraisablehook`` of a worker: a signal swallowed by a finalizer is sent again.

    Python runs signal handlers between any two steps, a ``__del__`` or a
    weakref callback included; what they raise there cannot propagate and
    would be printed as "Exception ignored in ...". Raising it again
    lets the handler run once the finalizer has returned (SIGALRM, 10 ms later).
    """
    exc = unraisable.exc_value
    if isinstance(exc, _WorkerExit):
        # not now (this hook runs inside the finalizer too): in 10 ms, from SIGALRM
        signum = exc.signum
        signal.signal(signal.SIGALRM, lambda *_: _exit(signum, None))
        signal.setitimer(signal.ITIMER_REAL, 0.01)
        return
    sys.__unraisablehook__(unraisable)


def worker_signals() -> None:
    """Set up a batch's worker processes: SIGINT, SIGTERM, SIGHUP end them quietly.

    A worker starts with these signals blocked (:func:`blocked_while_forking`),
    so one sent before its handlers are set waits for them instead of
    running the parent's; they are unblocked here, once the handlers are set.
    """
    sys.unraisablehook = _redeliver
    for signum in (signal.SIGINT, *HANDLED):
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, _exit)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, *HANDLED})


@contextlib.contextmanager
def blocked_while_forking() -> Iterator[None]:
    """Block SIGINT, SIGTERM and SIGHUP in this thread inside the block.

    Worker processes forked inside it, and threads started inside it (a
    process pool's, which fork replacement workers later), inherit the
    mask; :func:`worker_signals` unblocks them in each worker. A signal sent
    to this process meanwhile is delivered when the block ends.
    """
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, *HANDLED})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
