"""Run an image-to-image job over one file, standard input, or a batch.

Shared by ``convcli filter`` and ``convcli pool``: each passes a picklable
``process(image) -> (image, notes)`` function; :func:`image_task` reads,
processes and writes one file, and :func:`run_jobs` runs the jobs
(:mod:`convcli.cli.jobs` plans them; :mod:`convcli.cli.processes` runs them
in parallel with ``--jobs``), shows progress on stderr and turns failures
into one line each.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from ..errors import ConvcliError, ImageError, LimitError
from ..output import is_terminal, stderr_console
from . import debug_enabled, error_text
from .jobs import (
    Job,
    OutputExistsError,
    WriteOptions,
    check_target,
    extension_format,
    reuse_freed_memory,
)

if TYPE_CHECKING:
    from .resume import Resume


def image_task(
    job: Job,
    *,
    process: Callable,
    options: WriteOptions,
    stream_npy: Callable[..., bool] | None = None,
    overlapped: Callable[..., list[str] | None] | None = None,
) -> list[str]:
    """Read one image, ``process(image, fmt) -> (image, notes)`` it, and write it.

    The unit of work :func:`run_jobs` runs for ``filter`` and ``pool``; bind
    ``process`` and ``options`` with :func:`functools.partial` (module-level
    functions only, so that ``--jobs`` can send it to other processes).
    ``stream_npy(image, target, overwrite=...)``, when given, does both for a
    ``.npy`` file and returns True, or returns False having written nothing
    (``filter``'s :func:`convcli.images.npystream.write_filtered_npy`).
    ``overlapped(source, target, fmt=..., options=...)``, when given, reads,
    processes and writes a local file at once and returns its notes, or
    returns None having written nothing (``filter``'s big JPEGs,
    :func:`convcli.images.overlap.filter_overlapped`).
    Returns the notes for stderr; raises ConvcliError or OSError on failure.
    """
    from ..arithmetic.limits import output_pixel_limit
    from ..images.atomic import refuse_terminal_stdout
    from ..images.io import output_format, read_image, write_image
    from ..images.urls import is_url

    check_target(job, options)
    if job.source != "-" and not is_url(job.source) and not os.path.lexists(job.source):
        raise ImageError(f"{job.source}: no such file")  # before the output's format is judged
    fmt = output_format(job.target, options.format)
    notes = []
    if options.format and job.target != "-" and extension_format(job.target) not in (None, fmt):
        notes.append(f"{job.target}: written as {fmt} (--format), whatever its extension says")
    if job.target == "-":
        refuse_terminal_stdout("image data")
    local = not (job.source == "-" or job.target == "-" or is_url(job.source) or is_url(job.target))
    if overlapped is not None and local:
        with output_pixel_limit(options.max_pixels):
            done = overlapped(job.source, job.target, fmt=fmt, options=options)
        if done is not None:
            return notes + done
    kwargs = {} if options.max_pixels is None else {"max_pixels": options.max_pixels}
    image = read_image(job.source, **kwargs)
    notes = list(image.notes) + notes
    if stream_npy is not None and fmt == "NPY" and job.target != "-" and not is_url(job.target):
        with output_pixel_limit(options.max_pixels):
            if stream_npy(image, job.target, overwrite=options.overwrite):
                return notes
    with output_pixel_limit(options.max_pixels):  # the limit --max-pixels names, for outputs too
        result, more = process(image, fmt)
    notes.extend(more)
    notes.extend(
        write_image(
            job.target,
            result.pixels,
            result.alpha,
            format=fmt,
            overwrite=options.overwrite,
            png_compression=options.png_compression,
            jpeg_quality=options.jpeg_quality,
            threads=options.threads,
        )
    )
    return notes


def _progress_wanted(quiet: bool) -> bool:
    """Return True when a progress bar or spinner belongs on stderr."""
    return not quiet and is_terminal(sys.stderr)


def progress_bar(quiet: bool, verb: str, total: int) -> tuple[Any, Any]:
    """Start a rich progress bar on stderr; return it and its task.

    Returns ``(None, None)`` when ``quiet`` or stderr is not a terminal.
    Stop it with ``progress.stop()``.
    """
    if not _progress_wanted(quiet):
        return None, None
    from rich.progress import Progress

    progress = Progress(console=stderr_console(), transient=True)
    progress.start()
    return progress, progress.add_task(verb, total=total)


def say(progress: Any, line: str) -> None:
    """Print one line on stderr, above the progress bar when there is one."""
    if progress is not None:
        progress.console.print(line, markup=False, highlight=False, soft_wrap=True)
    else:
        click.echo(line, err=True)


@contextmanager
def _delayed_status(enabled: bool, text: str, delay: float = 1.0) -> Iterator[None]:
    """Show a spinner on stderr only if the work takes longer than ``delay`` seconds."""
    if not enabled:
        yield
        return
    status = stderr_console().status(text)
    timer = threading.Timer(delay, status.start)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        status.stop()


class _Report:
    """What a run says on stderr and records in the manifest, file by file."""

    def __init__(self, total: int, quiet: bool, resume: Resume | None) -> None:
        self.total = total
        self.quiet = quiet
        self.resume = resume
        self.progress: Any = None
        self.failures: list[tuple[Job, BaseException]] = []
        self.skipped = 0

    def say(self, line: str) -> None:
        """Print a line on stderr, above the progress bar when there is one."""
        say(self.progress, line)

    def note(self, job: Job, lines: list[str]) -> None:
        """Record a finished job and print its notes (and its path when convcli chose it)."""
        if self.resume is not None:
            self.resume.done(job, lines)
        if getattr(lines, "skipped", False):
            self.skipped += 1
            if not self.quiet and self.total == 1:
                self.say(f"skipped {job.target}: it exists and is complete (--skip-existing)")
            return
        if not self.quiet:
            for line in lines:
                self.say(f"note: {line}")
            if job.beside:
                self.say(f"wrote {job.target}")

    def fail(self, job: Job, exc: BaseException) -> None:
        """Record a failed job and print its one line."""
        if self.resume is not None:
            self.resume.failed(job, _failure_text(job, exc))
        self.say(f"Error: {_failure_text(job, exc)}")
        self.failures.append((job, exc))


def run_jobs(
    jobs: list[Job],
    task: Callable[[Job], list[str]],
    *,
    workers: int = 1,
    quiet: bool = False,
    verb: str = "Filtering",
    resume: Resume | None = None,
) -> None:
    """Run ``task(job)`` for every job (in ``workers`` processes) and report each.

    Prints the notes, reports failures one line each, and exits 1 if any
    failed. A file written beside its input (:attr:`Job.beside`) has its path
    printed on stderr unless ``quiet``. With stderr a terminal, a batch shows
    a progress bar there, and the lines above print above the bar. With
    ``resume`` (``--skip-existing``, ``--manifest``), ``task`` returns
    :class:`convcli.images.resume.TaskNotes`; skipped files are counted in
    the summary and every file gets its manifest line as it finishes.
    """
    from ..guard import note_input

    for job in jobs:  # no job may write over another one's input
        note_input(job.source)
    report = _Report(len(jobs), quiet, resume)
    if len(jobs) == 1:
        _run_one(jobs[0], task, report, verb)
        return
    report.progress, bar = progress_bar(quiet, verb, len(jobs))
    started = time.monotonic()
    try:
        results = contextlib.closing(_results(jobs, task, workers))
        with results as finished:  # stopped early (Ctrl-C): the workers stop at once
            for job, ok, result in finished:
                if ok:
                    report.note(job, result)
                else:
                    report.fail(job, result)
                if report.progress is not None and bar is not None:
                    report.progress.advance(bar)
    finally:
        if report.progress is not None:
            report.progress.stop()
            report.progress = None
    if not quiet:
        done = len(jobs) - len(report.failures) - report.skipped
        skipped = report.skipped if resume and resume.skip_existing else None
        click.echo(
            summary_line(done, len(jobs), skipped) + f" in {time.monotonic() - started:.1f} s",
            err=True,
        )
    if report.failures:
        raise click.ClickException(failed_line(report.failures, len(jobs)))


def _run_one(job: Job, task: Callable[[Job], list[str]], report: _Report, verb: str) -> None:
    """Run a single job: a failure is the command's error (exit 1), not a batch line."""
    with _delayed_status(_progress_wanted(report.quiet), f"{verb} {job.source}"):
        try:
            notes = task(job)
        except (BrokenPipeError, LimitError):
            raise  # a quiet stop (the reader went away), or a usage error
        except (ConvcliError, OSError) as exc:
            if report.resume is not None:
                report.resume.failed(job, _failure_text(job, exc))
            if debug_enabled():
                raise
            raise click.ClickException(_failure_text(job, exc)) from exc
    report.note(job, notes)


def _results(
    jobs: list[Job], task: Callable[[Job], list[str]], workers: int
) -> Generator[tuple[Job, bool, Any], None, None]:
    """Yield ``(job, True, notes)`` or ``(job, False, exception)`` for every job as it ends."""
    if workers > 1:
        from .processes import in_processes

        with contextlib.closing(in_processes(jobs, task, workers)) as results:
            yield from results
        return
    reuse_freed_memory()  # as each worker process does
    for job in jobs:
        try:
            notes = task(job)
        except Exception as exc:
            yield job, False, exc
        else:
            yield job, True, notes


def failed_line(failures: list[tuple[Job, BaseException]], total: int) -> str:
    """Return the batch's closing error; when outputs existed, say how to rerun it.

    Rerunning a batch into the same ``--out-dir`` is the common way to get
    here: every file then fails with "exists", and the line says which
    option resumes the batch and which one replaces its files.
    """
    text = f"{len(failures)} of {total} files failed"
    if any(isinstance(exc, OutputExistsError) for _, exc in failures):
        text += (
            " (outputs that exist: --skip-existing keeps the complete ones,"
            " --overwrite replaces them)"
        )
    return text


def summary_line(written: int, total: int, skipped: int | None = None) -> str:
    """Return the batch summary (without its time); ``skipped`` is given with --skip-existing.

    Examples
    --------
    >>> summary_line(7, 8)
    '7 of 8 files written'
    >>> summary_line(3, 10, 7)
    '3 of 10 files written, 7 skipped (complete already)'
    """
    text = f"{written} of {total} files written"
    if skipped is not None:
        text += f", {skipped} skipped (complete already)"
    return text


def _failure_text(job: Job, exc: BaseException) -> str:
    """One line for a failed job, naming the file."""
    if isinstance(exc, (ConvcliError, OSError)):
        message = error_text(exc)
        shown = {job.source, job.target, "<stdin>", "<stdout>"}
        if not any(name in message for name in shown):
            message = f"{'<stdin>' if job.source == '-' else job.source}: {message}"
        return message
    return f"{job.source}: internal error: {type(exc).__name__}: {exc}"
