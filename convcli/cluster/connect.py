"""Which cluster ``--scheduler`` names, and a dask client for it.

``local`` or ``local:N`` starts a ``LocalCluster`` of N single-threaded
worker processes for one run (N defaults to the usable cores); an address
with a scheme (``tcp://HOST:PORT``, ``tls://...``) or a scheduler file (as
``dask worker --scheduler-file`` takes it) connects to a cluster started by
hand. dask is imported only inside :func:`open_client`.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import ConvcliError, ParameterError
from . import INSTALL_HINT

__all__ = ["ClusterError", "SchedulerSpec", "open_client", "parse_scheduler", "require_dask"]


class ClusterError(ConvcliError):
    """The cluster cannot be used: dask is missing, or the scheduler cannot be reached."""


@dataclass(frozen=True)
class SchedulerSpec:
    """A cluster to run on.

    Attributes
    ----------
    kind : {"local", "address", "file"}
        Start a ``LocalCluster``, connect to ``address``, or read the address
        from the scheduler file ``address``.
    address : str
        The scheduler's address or scheduler file ("" for local).
    workers : int
        Worker processes of a local cluster (0 elsewhere).
    """

    kind: str
    address: str = ""
    workers: int = 0

    def describe(self) -> str:
        """How the spec is named in messages.

        Examples
        --------
        >>> SchedulerSpec("local", workers=2).describe()
        'a local cluster of 2 workers'
        >>> parse_scheduler("tcp://10.0.0.5:8786").describe()
        'the dask scheduler at tcp://10.0.0.5:8786'
        """
        if self.kind == "local":
            return f"a local cluster of {self.workers} worker{'s' if self.workers != 1 else ''}"
        if self.kind == "file":
            return f"the dask scheduler named in {self.address}"
        return f"the dask scheduler at {self.address}"


def _usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def parse_scheduler(text: str | None = None, scheduler_file: str | None = None) -> SchedulerSpec:
    """The cluster that ``--scheduler TEXT`` or ``--scheduler-file PATH`` names.

    Parameters
    ----------
    text : str, optional
        ``local``, ``local:N`` (N worker processes), or a scheduler address
        with its scheme (``tcp://HOST:PORT``, ``tls://HOST:PORT``).
    scheduler_file : str, optional
        A scheduler file written by ``dask scheduler --scheduler-file``.

    Raises
    ------
    ParameterError
        For anything else, or both given.

    Examples
    --------
    >>> parse_scheduler("local:2")
    SchedulerSpec(kind='local', address='', workers=2)
    >>> parse_scheduler("tcp://127.0.0.1:8786").kind
    'address'
    >>> parse_scheduler(scheduler_file="sched.json")
    SchedulerSpec(kind='file', address='sched.json', workers=0)
    """
    if text and scheduler_file:
        raise ParameterError("give either `--scheduler` or `--scheduler-file`, not both")
    if scheduler_file:
        return SchedulerSpec("file", scheduler_file)
    value = (text or "").strip()
    match = re.fullmatch(r"local(?::(\d+))?", value, flags=re.I)
    if match:
        workers = int(match.group(1)) if match.group(1) else _usable_cores()
        if workers < 1:
            raise ParameterError(f"`--scheduler {value}`: a local cluster needs at least 1 worker")
        return SchedulerSpec("local", workers=workers)
    if re.fullmatch(r"[a-z][a-z0-9+.-]*://\S+", value, flags=re.I):
        return SchedulerSpec("address", value)
    raise ParameterError(
        f"`--scheduler {value!r}`: expected local, local:N or a scheduler address "
        "such as tcp://HOST:8786"
    )


def require_dask() -> None:
    """Import dask.distributed, or raise :class:`ClusterError` naming the extra to install."""
    try:
        import dask.array  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as exc:
        missing = exc.name or "dask"
        raise ClusterError(
            f"--scheduler needs dask ({missing} is not installed): {INSTALL_HINT}"
        ) from None


@contextlib.contextmanager
def _workers_ignore_ctrl_c() -> Iterator[None]:
    """Start processes with SIGINT ignored (they inherit it), then restore this one's.

    Ctrl-C reaches every process of the terminal's foreground group; the run's
    own worker processes would each print a KeyboardInterrupt traceback. With
    SIGINT ignored they leave stopping to this process, which closes the
    cluster on its way out (exit 130, one line).
    """
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def open_client(spec: SchedulerSpec, timeout: float | None = None) -> Iterator[Any]:
    """A ``distributed.Client`` for ``spec``, closed (and a local cluster stopped) at the end.

    Parameters
    ----------
    spec : SchedulerSpec
    timeout : float, optional
        Seconds to wait for the scheduler; default dask's
        ``distributed.comm.timeouts.connect`` (30 s; set
        ``DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT=5s`` to change it).

    Raises
    ------
    ClusterError
        dask is missing, or the scheduler cannot be reached (one line).
    """
    require_dask()
    import logging

    import dask.config
    from dask.utils import parse_timedelta
    from distributed import Client, LocalCluster

    if timeout is None:
        timeout = parse_timedelta(dask.config.get("distributed.comm.timeouts.connect"))
    stack = contextlib.ExitStack()
    with stack:
        try:
            if spec.kind == "local":
                with _workers_ignore_ctrl_c():
                    local = LocalCluster(
                        n_workers=spec.workers,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=None,
                        silence_logs=logging.ERROR,
                    )
                cluster = stack.enter_context(local)
                client = stack.enter_context(Client(cluster))
            elif spec.kind == "file":
                if not os.path.exists(spec.address):
                    raise ClusterError(
                        f"{spec.address}: no such scheduler file (start `dask scheduler "
                        f"--scheduler-file {spec.address}` first)"
                    )
                client = stack.enter_context(Client(scheduler_file=spec.address, timeout=timeout))
            else:
                client = stack.enter_context(Client(spec.address, timeout=timeout))
        except ClusterError:
            raise
        except (OSError, TimeoutError, ValueError) as exc:
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ClusterError(f"cannot reach {spec.describe()}: {text}") from None
        yield client
