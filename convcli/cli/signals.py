"""SIGTERM and SIGHUP end a run as Ctrl-C does: cleanly, with exit status 128 + n.

``timeout``, systemd and docker stop a program with SIGTERM, and a closed
terminal sends SIGHUP. Python's default for both is to die on the spot,
leaving a half-written temporary file behind; here they raise
:class:`Terminated`, a :class:`KeyboardInterrupt`, so every clean-up that
already runs for Ctrl-C (the temporary file of an atomic write is removed)
runs for them too.

Worker processes of a ``--jobs`` batch use :func:`worker_signals` instead:
any of the three signals ends the worker with :class:`SystemExit`, which
also runs the clean-ups but, unlike an interrupt, prints no traceback.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

__all__ = ["HANDLED", "Terminated", "exit_status", "terminating_signals", "worker_signals"]

#: The signals a run turns into a clean stop (SIGINT keeps Python's own handler in the parent).
HANDLED = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when SIGTERM or SIGHUP arrives."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def exit_status(exc: KeyboardInterrupt) -> int:
    """128 + the signal's number: 130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP."""
    return 128 + getattr(exc, "signum", signal.SIGINT)


def _raise(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signum)


@contextlib.contextmanager
def terminating_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into :class:`Terminated` inside the block.

    Outside the main thread (where Python cannot set handlers) nothing
    changes. A signal its caller ignored (``nohup``) stays ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for signum in HANDLED:
        old = signal.getsignal(signum)
        if old is signal.SIG_IGN:
            continue
        previous[signum] = old
        signal.signal(signum, _raise)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def _exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def worker_signals() -> None:
    """The initializer of a batch's worker processes: SIGINT, SIGTERM, SIGHUP end them quietly."""
    for signum in (signal.SIGINT, *HANDLED):
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, _exit)
