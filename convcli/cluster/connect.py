"""Which cluster ``--scheduler`` names, and a dask client for it.

``local`` or ``local:N`` starts a ``LocalCluster`` of N single-threaded
worker processes for one run (N defaults to the usable cores); an address
with a scheme (``tcp://HOST:PORT``, ``tls://...``) or a scheduler file (as
``dask worker --scheduler-file`` takes it) connects to a cluster started by
hand; ``dask`` takes the address from ``$DASK_SCHEDULER_ADDRESS``, which on
its own never turns a cluster on. Every spec remembers where its setting came
from (an option or an environment variable), and every message names it.
dask is imported only inside :func:`open_client`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConvcliError, ParameterError
from . import INSTALL_HINT

__all__ = [
    "DASK_ADDRESS_ENV",
    "ClusterError",
    "SchedulerSpec",
    "open_client",
    "parse_scheduler",
    "require_dask",
]

#: Where ``--scheduler dask`` finds the address (dask's own variable).
DASK_ADDRESS_ENV = "DASK_SCHEDULER_ADDRESS"


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
    origin : str
        Where the setting came from, as messages name it: ``--scheduler``,
        ``--scheduler-file``, ``$CONVCLI_SCHEDULER``,
        ``$DASK_SCHEDULER_ADDRESS via --scheduler dask`` ("" for none).
    """

    kind: str
    address: str = ""
    workers: int = 0
    origin: str = ""

    def describe(self) -> str:
        """How the spec is named in messages, with where its setting came from.

        Examples
        --------
        >>> SchedulerSpec("local", workers=2).describe()
        'a local cluster of 2 workers'
        >>> parse_scheduler("tcp://10.0.0.5:8786", origin="$CONVCLI_SCHEDULER").describe()
        'the dask scheduler at tcp://10.0.0.5:8786 (from $CONVCLI_SCHEDULER)'
        """
        if self.kind == "local":
            text = f"a local cluster of {self.workers} worker{'s' if self.workers != 1 else ''}"
        elif self.kind == "file":
            text = f"the dask scheduler named in {self.address}"
        else:
            text = f"the dask scheduler at {self.address}"
        return f"{text} (from {self.origin})" if self.origin else text


class _CancelRaceFilter(logging.Filter):
    """Drop the traceback distributed's ``sync`` prints when Ctrl-C beats its own setup.

    Interrupted early, ``distributed.utils.sync`` schedules a ``cancel``
    callback that reads a variable not yet set; the event loop logs the
    resulting NameError (through ``tornado.application``) beside convcli's
    one-line "Interrupted." The run stops either way: only that record goes.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep every record but that NameError from ``sync``'s cancel callback."""
        exc = record.exc_info[1] if record.exc_info else None
        return not (isinstance(exc, NameError) and "sync.<locals>.cancel" in record.getMessage())


def _where(origin: str, value: str) -> str:
    """How a message names a setting: `` `--scheduler 'x'` `` or `` `$CONVCLI_SCHEDULER='x'` ``.

    Examples
    --------
    >>> _where("", "lokal"), _where("$CONVCLI_SCHEDULER", "lokal")
    ("`--scheduler 'lokal'`", "`$CONVCLI_SCHEDULER='lokal'`")
    """
    if origin.startswith("$"):
        return f"`{origin}={value!r}`"
    return f"`{origin or '--scheduler'} {value!r}`"


def parse_scheduler(
    text: str | None = None,
    scheduler_file: str | None = None,
    *,
    origin: str = "",
    environ: Mapping[str, str] | None = None,
) -> SchedulerSpec:
    """Return the cluster that ``--scheduler TEXT`` or ``--scheduler-file PATH`` names.

    Parameters
    ----------
    text : str, optional
        ``local``, ``local:N`` (N worker processes), a scheduler address
        with its scheme (``tcp://HOST:PORT``, ``tls://HOST:PORT``), or
        ``dask``: the address in ``$DASK_SCHEDULER_ADDRESS``.
    scheduler_file : str, optional
        A scheduler file written by ``dask scheduler --scheduler-file``.
    origin : str, optional
        Where the setting came from, for messages (``--scheduler``,
        ``$CONVCLI_SCHEDULER``); ``dask`` adds the variable it reads.
    environ : mapping, optional
        The environment ``dask`` reads (default ``os.environ``).

    Raises
    ------
    ParameterError
        For anything else, both given, or ``dask`` with the variable unset.

    Examples
    --------
    >>> parse_scheduler("local:2")
    SchedulerSpec(kind='local', address='', workers=2, origin='')
    >>> parse_scheduler("tcp://127.0.0.1:8786").kind
    'address'
    >>> parse_scheduler(scheduler_file="sched.json").address
    'sched.json'
    >>> spec = parse_scheduler("dask", origin="--scheduler",
    ...                        environ={"DASK_SCHEDULER_ADDRESS": "tcp://10.0.0.5:8786"})
    >>> spec.describe()
    'the dask scheduler at tcp://10.0.0.5:8786 (from $DASK_SCHEDULER_ADDRESS via --scheduler dask)'
    """
    if text and scheduler_file:
        raise ParameterError("give either `--scheduler` or `--scheduler-file`, not both")
    if scheduler_file:
        return SchedulerSpec("file", scheduler_file, origin=origin)
    value = (text or "").strip()
    where = _where(origin, value)
    if value.lower() == "dask":
        address = (os.environ if environ is None else environ).get(DASK_ADDRESS_ENV, "").strip()
        if not address:
            raise ParameterError(
                f"{where}: dask means the address in ${DASK_ADDRESS_ENV}, which is not set"
            )
        setting = f"{origin}=dask" if origin.startswith("$") else f"{origin or '--scheduler'} dask"
        via = f"${DASK_ADDRESS_ENV} via {setting}"
        if not re.fullmatch(r"\S+", address):
            raise ParameterError(f"{via}: not a scheduler address: {address!r}")
        return SchedulerSpec("address", address, origin=via)
    match = re.fullmatch(r"local(?::(\d+))?", value, flags=re.I)
    if match:
        from ..engine.threads import usable_cores

        workers = int(match.group(1)) if match.group(1) else usable_cores()
        if workers < 1:
            raise ParameterError(f"{where}: a local cluster needs at least 1 worker")
        return SchedulerSpec("local", workers=workers, origin=origin)
    if re.fullmatch(r"[a-z][a-z0-9+.-]*://\S+", value, flags=re.I):
        return SchedulerSpec("address", value, origin=origin)
    raise ParameterError(
        f"{where}: expected local, local:N, dask (the address in ${DASK_ADDRESS_ENV}) or a "
        "scheduler address such as tcp://HOST:8786"
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


#: Seconds a local cluster's worker is given to stop when the run is interrupted, before
#: its nanny kills it: its task is computing a file whose result is not wanted any more.
INTERRUPTED_STOP = 0.2


def _stop_workers_now(cluster: Any) -> None:
    """Close every nanny of a local ``cluster``, killing its worker process at once.

    A cluster closed gracefully asks each worker to finish its task first
    (``executor_wait``), waiting up to 4 s before killing it (measured: 3-7 s
    from a signal to the exit); an interrupted run wants no result, so each
    nanny is closed with :data:`INTERRUPTED_STOP` seconds for its worker.
    Closing the nanny (dask's own ``Nanny.close``), not just its worker,
    keeps it from starting a new worker in the dead one's place; the
    cluster's close that follows finds them all closed. The ``.part`` file
    of a killed worker's atomic write is left to the caller's clean-up (see
    ``convcli.cli.scaling``).
    """
    import asyncio

    nannies = [w for w in cluster.workers.values() if hasattr(w, "close_gracefully")]

    async def kill_all() -> None:
        await asyncio.gather(
            *(n.close(timeout=INTERRUPTED_STOP, reason="convcli-interrupted") for n in nannies),
            return_exceptions=True,
        )

    with contextlib.suppress(Exception):
        cluster.sync(kill_all, callback_timeout=5 * INTERRUPTED_STOP + 1)


#: Seconds a scheduler file that is empty or half-written is read again (a scheduler
#: starting alongside this run may still be writing it), before it is refused.
SCHEDULER_FILE_WAIT = 5.0


def _check_scheduler_file(path: str, wait: float = SCHEDULER_FILE_WAIT) -> None:
    """Raise ClusterError unless ``path`` holds what ``dask scheduler --scheduler-file`` writes.

    distributed reads it with a bare ``assert`` (an empty file, ``/dev/null``
    gave "internal error: AssertionError"): a file that is not a scheduler's
    is named here instead. An empty or unreadable JSON file is read again for
    ``wait`` seconds, as distributed does, in case it is being written.
    """
    import json
    import time

    deadline = time.monotonic() + wait
    while True:
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read(1 << 20)
            found = json.loads(text) if text.strip() else None
        except OSError as exc:
            raise ClusterError(f"{path}: not a scheduler file ({exc.strerror or exc})") from None
        except (UnicodeDecodeError, ValueError) as exc:
            found, problem = None, type(exc).__name__
        else:
            problem = "empty"
            if found is not None:
                break
        if time.monotonic() > deadline:
            raise ClusterError(f"{path}: not a scheduler file ({problem})")
        time.sleep(0.1)
    if not isinstance(found, dict) or not isinstance(found.get("address"), str):
        raise ClusterError(
            f'{path}: not a scheduler file (no "address"; `dask scheduler '
            f"--scheduler-file {path}` writes one)"
        )


@contextlib.contextmanager
def open_client(spec: SchedulerSpec, timeout: float | None = None) -> Iterator[Any]:
    """Yield a ``distributed.Client`` for ``spec``, closed (a local cluster stopped) at the end.

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
        dask is missing, or the scheduler cannot be reached (one line). A
        ClusterError raised while the client is in use gets the cluster and
        where its setting came from added to its message.
    """
    require_dask()

    import dask.config
    from dask.utils import parse_timedelta
    from distributed import Client, LocalCluster

    if timeout is None:
        timeout = parse_timedelta(dask.config.get("distributed.comm.timeouts.connect"))
    stack = contextlib.ExitStack()
    local = None
    with stack:
        try:
            if spec.kind == "local":
                with _workers_ignore_ctrl_c():
                    local = LocalCluster(
                        n_workers=spec.workers,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=None,
                        # the scheduler's HTTP server (health, metrics) still starts;
                        # on a free loopback port, not 8787, which another run may hold
                        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
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
                _check_scheduler_file(spec.address)
                client = stack.enter_context(Client(scheduler_file=spec.address, timeout=timeout))
            else:
                client = stack.enter_context(Client(spec.address, timeout=timeout))
        except ClusterError:
            raise
        except (OSError, TimeoutError, ValueError) as exc:
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ClusterError(f"cannot reach {spec.describe()}: {text}") from None
        quiet = _CancelRaceFilter()
        tornado_log = logging.getLogger("tornado.application")
        tornado_log.addFilter(quiet)
        stack.callback(tornado_log.removeFilter, quiet)
        try:
            yield client
        except ClusterError as exc:
            if spec.origin and spec.origin not in str(exc):  # name where the cluster came from
                raise type(exc)(f"{exc} (cluster: {spec.describe()})") from exc
            raise
        except KeyboardInterrupt:  # Ctrl-C, SIGTERM, SIGHUP (cli/signals.py): stop at once
            if local is not None:
                _stop_workers_now(local)
            raise
