"""A batch of files on a Dask cluster: groups of files per task, gathered as they finish.

The function that runs on the workers, :func:`run_group`, lives here (not in
the command line): it calls the very task a local run calls for each file
(``convcli.cli.batch.image_task`` bound to the command's settings, which
reads the file, filters or pools it and writes the result atomically with
:mod:`convcli.images` writers), catches each file's failure so the rest of
its group goes on, and hashes what it wrote for the manifest.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from ..errors import ConvcliError
from .connect import ClusterError

__all__ = [
    "FileResult",
    "check_workers_see",
    "default_files_per_task",
    "describe_failure",
    "groups",
    "missing_paths",
    "run_batch",
    "run_group",
    "sha256_file",
]


class JobLike(Protocol):
    """What a job must have: the file read and the file written (``"-"`` for none)."""

    source: str
    target: str


@dataclass(frozen=True)
class FileResult:
    """How one file of a batch went.

    Attributes
    ----------
    source, target : str
        The input and the output, as the job named them.
    ok : bool
    error : str or None
        One line naming the file, for a failure.
    sha256 : str or None
        Hex digest of the output file's bytes, once written.
    notes : list of str
        What the task said about the file (as a local run prints them).
    """

    source: str
    target: str
    ok: bool
    error: str | None = None
    sha256: str | None = None
    notes: list[str] = field(default_factory=list)
    #: the output existed and was complete (--skip-existing): nothing was written
    skipped: bool = False

    @property
    def status(self) -> str:
        """``ok`` or ``failed``, as the manifest writes it."""
        return "ok" if self.ok else "failed"


def sha256_file(path: str) -> str:
    """Return the SHA-256 of a file's bytes, read in blocks.

    Examples
    --------
    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile(delete=False) as fh:
    ...     _ = fh.write(b"abc")
    >>> sha256_file(fh.name)[:16]
    'ba7816bf8f01cfea'
    >>> os.unlink(fh.name)
    """
    from ..images.resume import sha256_output

    digest = sha256_output(path)
    if digest is None:
        raise IsADirectoryError(21, "Is a directory", path)
    return digest


def describe_failure(source: str, exc: BaseException) -> str:
    """One line for a file that failed: convcli's and OS errors as they are, naming the file.

    Examples
    --------
    >>> describe_failure("a.png", FileNotFoundError(2, "No such file or directory", "a.png"))
    'a.png: No such file or directory'
    >>> describe_failure("b.png", ConvcliError("not an image"))
    'b.png: not an image'
    >>> describe_failure("c.png", ZeroDivisionError("division by zero"))
    'c.png: internal error: ZeroDivisionError: division by zero'
    """
    if isinstance(exc, (ConvcliError, OSError)):
        if isinstance(exc, OSError) and exc.filename is not None:
            message = f"{exc.filename}: {exc.strerror or exc}"
        else:
            message = str(exc)
        if source not in message:
            message = f"{source}: {message}"
        return message
    return f"{source}: internal error: {type(exc).__name__}: {exc}"


def run_group(
    jobs: Sequence[JobLike], task: Callable[[Any], list[str]], umask: int | None = None
) -> list[FileResult]:
    """Run ``task(job)`` for each job of a group, on a worker; never raises for one file.

    ``task`` writes the job's output (atomically) and returns its notes, as
    for a local run; a failure becomes that file's :class:`FileResult` and
    the group goes on. With ``umask`` (the client's), new files get the
    modes it gives, whatever the worker's own umask
    (:func:`convcli.images.atomic.using_umask`).
    """
    from ..images.atomic import using_umask

    results = []
    for job in jobs:
        try:
            with using_umask(umask):
                said = task(job)  # TaskNotes (convcli.images.resume) may carry the digest
            digest = getattr(said, "sha256", None)
            if digest is None and job.target != "-":
                digest = sha256_file(job.target)
            skipped = bool(getattr(said, "skipped", False))
            results.append(
                FileResult(
                    job.source, job.target, True, sha256=digest, notes=list(said), skipped=skipped
                )
            )
        except Exception as exc:
            results.append(
                FileResult(job.source, job.target, False, describe_failure(job.source, exc))
            )
    return results


def missing_paths(paths: Sequence[str]) -> list[str]:
    """Return the paths not visible here (run on each worker by :func:`check_workers_see`)."""
    return [p for p in paths if not os.path.exists(p)]


def check_workers_see(client: Any, paths: Sequence[str]) -> None:
    """Raise :class:`ClusterError` unless every worker sees every path (``client.run``).

    Parameters
    ----------
    client : distributed.Client
    paths : sequence of str
        Absolute paths that exist here: some inputs, and the output folders.
    """
    answers = client.run(missing_paths, list(paths))
    if not answers:
        raise ClusterError("the cluster has no workers")
    for worker, missing in sorted(answers.items()):
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise ClusterError(
                f"worker {worker} cannot see {missing[0]}{more}: the workers need the inputs "
                "and output folders at the same paths as here (a shared filesystem)"
            )


def groups(items: Sequence[Any], size: int) -> list[list[Any]]:
    """``items`` in consecutive groups of ``size`` (the last may be shorter).

    Examples
    --------
    >>> groups([1, 2, 3, 4, 5], 2)
    [[1, 2], [3, 4], [5]]
    """
    if size < 1:
        raise ValueError(f"group size must be positive, got {size}")
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


#: Most files one task takes by default (see :func:`default_files_per_task`).
MAX_DEFAULT_GROUP = 32


def default_files_per_task(n_files: int, n_workers: int) -> int:
    """Files per task when ``--files-per-task`` is not given.

    About four tasks per worker thread, so that the load evens out and the
    progress moves, but at most :data:`MAX_DEFAULT_GROUP` files a task
    (a lost worker costs one group) and at least one.

    Examples
    --------
    >>> default_files_per_task(1000, 2)
    32
    >>> default_files_per_task(40, 2)
    5
    >>> default_files_per_task(3, 8)
    1
    """
    per = n_files // max(1, 4 * n_workers)
    return max(1, min(MAX_DEFAULT_GROUP, per))


def _absolute(job: Any) -> Any:
    """Return the job with absolute paths (workers need not share our working directory)."""
    from ..images.urls import is_url

    def absolute(name: str) -> str:
        return name if name == "-" or is_url(name) else os.path.abspath(name)

    return replace(job, source=absolute(job.source), target=absolute(job.target))


def _restore(result: FileResult, job: Any, sent: Any) -> FileResult:
    """Return a result with the paths written as the job gave them (and in its messages)."""

    def back(text: str) -> str:
        return text.replace(sent.source, job.source).replace(sent.target, job.target)

    return replace(
        result,
        source=job.source,
        target=job.target,
        error=None if result.error is None else back(result.error),
        notes=[back(n) for n in result.notes],
    )


def run_batch(
    client: Any,
    jobs: Sequence[Any],
    task: Callable[[Any], list[str]],
    *,
    files_per_task: int | None = None,
    retries: int = 0,
) -> Iterator[FileResult]:
    """Run ``task`` over ``jobs`` on the cluster, yielding results as groups finish.

    Jobs must be dataclasses with ``source`` and ``target`` (such as
    ``convcli.cli.batch.Job``). Outputs get the modes of this process's
    umask on every worker. Paths are made absolute for the workers, and
    first checked to be visible there (:func:`check_workers_see`). A group
    whose task is lost even after ``retries`` re-runs (its worker died) yields
    a failure for each of its files.

    Yields
    ------
    FileResult
        One per job, in the order groups complete.
    """
    from distributed import as_completed

    from ..images.atomic import current_umask

    if any(job.source == "-" for job in jobs):
        raise ClusterError("standard input cannot go to a cluster: give files")
    sent = [_absolute(job) for job in jobs]
    from ..images.urls import is_url

    folders = sorted({os.path.dirname(j.target) for j in sent if j.target != "-"} - {""})
    folders = [f for f in folders if not is_url(f)]  # workers reach URLs as we do
    sample = [j.source for j in sent[:: max(1, len(sent) // 16)] if os.path.exists(j.source)]
    check_workers_see(client, sample + folders)
    n_workers = max(1, sum(client.nthreads().values()))
    size = files_per_task or default_files_per_task(len(jobs), n_workers)
    index = {id(s): (job, s) for job, s in zip(jobs, sent, strict=True)}
    batches = groups(sent, size)
    umask = current_umask()  # this user's permissions, on every worker
    futures = {
        client.submit(run_group, batch, task, umask, retries=retries, pure=False): batch
        for batch in batches
    }
    for future in as_completed(futures):
        batch = futures[future]
        try:
            results = future.result()
        except Exception as exc:
            text = str(exc).splitlines()[0] if str(exc) else ""
            results = [
                FileResult(
                    s.source,
                    s.target,
                    False,
                    f"{s.source}: lost on the cluster: {type(exc).__name__}: {text}",
                )
                for s in batch
            ]
        finally:
            future.release()
        for s, result in zip(batch, results, strict=True):
            job, _ = index[id(s)]
            yield _restore(result, job, s)
