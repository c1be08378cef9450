"""Run an image-to-image job over one file, standard input, or a batch.

Shared by ``convcli filter`` and ``convcli pool``: each passes a picklable
``process(image) -> (image, notes)`` function; this module resolves the
outputs, refuses to overwrite inputs, shows progress on stderr, runs files in
parallel processes with ``--jobs``, and turns failures into one line each.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import ConvcliError, ImageError, LimitError
from ..output import is_terminal, stderr_console
from ..suffixes import IMAGE_FORMATS, IMAGE_SUFFIXES
from . import debug_enabled, error_text

if TYPE_CHECKING:
    from .resume import Resume


@dataclass(frozen=True)
class WriteOptions:
    """How results are encoded and where they may go."""

    format: str | None = None
    overwrite: bool = False
    png_compression: int = 1
    jpeg_quality: int = 90
    max_pixels: int | None = None
    threads: int | None = None  # the PNG writer's (--threads)


@dataclass(frozen=True)
class Job:
    """One input and the output it is written to."""

    source: str
    target: str
    #: written beside its input under a name convcli chose (so the path is shown)
    beside: bool = False
    #: the manifest's SHA-256 of an existing output (--skip-existing checks it)
    expect_sha256: str | None = None


#: The longest tag :func:`derived_name` puts between an input's stem and its suffix.
MAX_TAG = 40


def derived_name(source: str, tags: Sequence[str], fmt: str | None = None) -> str:
    """The file a result is written to when no -o or --out-dir is given: beside its input.

    ``<dir>/<stem>-<tag>.<suffix>``, where the tag joins ``tags`` (what was
    done: kernel names, ``max8``) with ``-``, keeps only ``[A-Za-z0-9._-]``
    (``gaussian:sigma=3`` -> ``gaussian-sigma3``), and is cut to
    :data:`MAX_TAG` characters. The suffix is the one ``fmt`` names, else the
    input's own (lower-cased).

    Examples
    --------
    >>> derived_name("photos/img.PNG", ["gaussian:sigma=3", "laplacian"])
    'photos/img-gaussian-sigma3-laplacian.png'
    >>> derived_name("img.png", ["max2x3"], "jpeg")
    'img-max2x3.jpg'
    """
    words = []
    for tag in tags:
        tag = tag.replace("=", "")  # sigma=3 -> sigma3
        tag = re.sub(r"[^A-Za-z0-9._-]+", "-", tag)  # every other character splits words
        words.append(tag)
    text = re.sub(r"-{2,}", "-", "-".join(words)).strip("-.")
    text = text[:MAX_TAG].rstrip("-.") or "out"
    from ..images.urls import is_url, url_stem

    if is_url(source):  # beside it at the same URL (s3://b/in/a.png -> s3://b/in/a-sobel.png)
        return f"{source.rpartition('/')[0]}/{url_stem(source)}-{text}{_suffix(source, fmt)}"
    path = Path(source)
    return str(path.with_name(f"{path.stem}-{text}{_suffix(source, fmt)}"))


def _suffix(source: str, fmt: str | None) -> str:
    """The extension of an output made from ``source``: ``fmt``'s, else the input's."""
    if fmt is not None:
        return "." + fmt.lower().lstrip(".").replace("jpeg", "jpg").replace("tiff", "tif")
    if source == "-":
        return ".png"
    return Path(source).suffix.lower()


def plan_jobs(
    inputs: tuple[str, ...],
    output: str | None,
    out_dir: str | None,
    fmt: str | None,
    tags: Sequence[str] = (),
    *,
    create: bool = True,
) -> list[Job]:
    """Pair each input with its output, or raise a click.UsageError saying what is missing.

    With -o or --out-dir the output is that (the folder is made unless
    ``create`` is False, as for ``--plan``). Without either, one input goes to
    standard output when that is not a terminal (``convcli filter a.png -k
    sobel > b.png``), and otherwise, like every input of a batch, to
    :func:`derived_name` ``(input, tags, fmt)`` beside it.
    """
    from ..images.atomic import check_stdin_data, stdout_is_terminal
    from ..images.urls import is_read_only_url, is_url, url_join, url_stem

    if output and out_dir:
        raise click.UsageError("give either -o/--output or --out-dir, not both")
    if fmt is not None and fmt.lower().lstrip(".") not in IMAGE_FORMATS:
        known = ", ".join(sorted(IMAGE_FORMATS))
        raise click.BadParameter(f"unknown format {fmt!r} (known: {known})", param_hint="--format")
    files: list[str] = []
    for item in inputs:
        if item != "-" and os.path.isdir(item):
            found = []
            for p in sorted(Path(item).iterdir()):
                if p.suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                if p.is_file():
                    found.append(str(p))
                else:  # said, never skipped in silence
                    click.echo(f"warning: skipping {p}: {_not_a_file(p)}", err=True)
            if not found:
                raise click.UsageError(f"{item}: directory holds no image files")
            files.extend(found)
        else:
            files.append(item)
    if files.count("-") > 1 or ("-" in files and len(files) > 1):
        raise click.UsageError("standard input ('-') can only be the single input")
    if files == ["-"]:
        check_stdin_data(error=click.UsageError)  # before any spinner: it would wait forever
    folders = [i for i in inputs if i != "-" and os.path.isdir(i)]
    batch = len(files) > 1 or bool(folders)
    if folders and not out_dir and not output:
        raise click.UsageError(
            f"{folders[0]} is a directory: give --out-dir DIR (results written into the "
            "directory itself would be read again as inputs by the next run)"
        )
    if output:
        if batch:
            raise click.UsageError(
                f"{len(files)} inputs: -o names one file; give --out-dir DIR, or neither "
                "to write each result beside its input"
            )
        return [Job(files[0], output)]
    if not out_dir:
        if not batch and not stdout_is_terminal():
            return [Job(files[0], "-")]
        if files == ["-"]:
            raise click.UsageError(
                "standard input has no file name to write beside: give -o FILE, or "
                "redirect standard output"
            )
    elif create and not is_url(out_dir):  # a URL's folders need no making
        try:
            Path(out_dir).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise click.UsageError(
                f"--out-dir {out_dir}: cannot create it ({exc.strerror})"
            ) from exc
    jobs = []
    seen: dict[str, str] = {}
    for src in files:
        if out_dir:
            stem = "stdin" if src == "-" else url_stem(src) if is_url(src) else Path(src).stem
            name = stem + _suffix(src, fmt)
            target = url_join(out_dir, name) if is_url(out_dir) else str(Path(out_dir) / name)
        elif is_read_only_url(src):
            raise click.UsageError(
                f"{src}: an {src.split('://', 1)[0].lower()}:// input cannot have its result "
                "written beside it (read-only): give -o FILE or --out-dir DIR"
            )
        else:
            target = derived_name(src, tags, fmt)
        if target in seen:
            raise click.UsageError(f"{seen[target]} and {src} would both be written to {target}")
        seen[target] = src
        jobs.append(Job(src, target, beside=not out_dir))
    return jobs


def _not_a_file(path: Path) -> str:
    """Why a folder entry with an image's name is not read."""
    if path.is_symlink() and not path.exists():
        return f"a symlink to {os.readlink(path)}, which does not exist"
    if path.is_dir():
        return "a directory"
    return "not a regular file"


class OutputExistsError(ConvcliError):
    """A batch's output exists and ``--overwrite`` was not given."""


def check_target(job: Job, options: WriteOptions) -> None:
    """Refuse to write over an input, or over an existing file without --overwrite."""
    from ..images.io import same_file
    from ..images.urls import output_exists

    if same_file(job.source, job.target) or job.source == job.target != "-":
        raise ConvcliError(f"{job.target}: is the input; convcli never overwrites an input")
    if not options.overwrite and output_exists(job.target):
        raise OutputExistsError(f"{job.target} exists; pass --overwrite to replace it")


def _extension_format(path: str) -> str | None:
    """The format a file's extension names, or None if it names none."""
    from ..images.io import output_format

    try:
        return output_format(path)
    except ImageError:
        return None


def image_task(
    job: Job,
    *,
    process: Callable,
    options: WriteOptions,
    stream_npy: Callable[..., bool] | None = None,
) -> list[str]:
    """Read one image, ``process(image, fmt) -> (image, notes)`` it, and write it.

    The unit of work :func:`run_jobs` runs for ``filter`` and ``pool``; bind
    ``process`` and ``options`` with :func:`functools.partial` (module-level
    functions only, so that ``--jobs`` can send it to other processes).
    ``stream_npy(image, target, overwrite=...)``, when given, does both for a
    ``.npy`` file and returns True, or returns False having written nothing
    (``filter``'s :func:`convcli.images.npystream.write_filtered_npy`).
    Returns the notes for stderr; raises ConvcliError or OSError on failure.
    """
    from ..arithmetic.limits import output_pixel_limit
    from ..images.atomic import stdout_is_terminal
    from ..images.io import output_format, read_image, write_image
    from ..images.urls import is_url

    check_target(job, options)
    if job.source != "-" and not is_url(job.source) and not os.path.lexists(job.source):
        raise ImageError(f"{job.source}: no such file")  # before the output's format is judged
    fmt = output_format(job.target, options.format)
    notes = []
    if options.format and job.target != "-" and _extension_format(job.target) not in (None, fmt):
        notes.append(f"{job.target}: written as {fmt} (--format), whatever its extension says")
    if job.target == "-" and stdout_is_terminal():
        raise ConvcliError(
            "refusing to write image data to a terminal; redirect stdout or use -o FILE"
        )
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
    return not quiet and is_terminal(sys.stderr)


def progress_bar(quiet: bool, verb: str, total: int) -> tuple[Any, Any]:
    """A started rich progress bar on stderr and its task, or ``(None, None)`` when
    ``quiet`` or stderr is not a terminal. Stop it with ``progress.stop()``.
    """
    if not _progress_wanted(quiet):
        return None, None
    from rich.progress import Progress

    progress = Progress(console=stderr_console(), transient=True)
    progress.start()
    return progress, progress.add_task(verb, total=total)


def say(progress: Any, line: str) -> None:
    """One line on stderr, above the progress bar when there is one."""
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


def run_jobs(
    jobs: list[Job],
    task: Callable[[Job], list[str]],
    *,
    workers: int = 1,
    quiet: bool = False,
    verb: str = "Filtering",
    resume: Resume | None = None,
) -> None:
    """Run ``task(job)`` for every job (in ``workers`` processes); print its notes,
    report failures one line each, and exit 1 if any failed.

    A file written beside its input (:attr:`Job.beside`) has its path printed
    on stderr unless ``quiet``. With stderr a terminal, a batch shows a
    progress bar there, and the lines above print above the bar. With
    ``resume`` (``--skip-existing``, ``--manifest``), ``task`` returns
    :class:`convcli.images.resume.TaskNotes`; skipped files are counted in
    the summary and every file gets its manifest line as it finishes.
    """
    from ..guard import note_input

    for job in jobs:  # no job may write over another one's input
        note_input(job.source)
    show = _progress_wanted(quiet)
    failures: list[tuple[Job, BaseException]] = []
    skipped = 0
    progress = None

    def say_(line: str) -> None:
        say(progress, line)

    def note(job: Job, lines: list[str]) -> None:
        nonlocal skipped
        if resume is not None:
            resume.done(job, lines)
        if getattr(lines, "skipped", False):
            skipped += 1
            if not quiet and len(jobs) == 1:
                say_(f"skipped {job.target}: it exists and is complete (--skip-existing)")
            return
        if not quiet:
            for line in lines:
                say_(f"note: {line}")
            if job.beside:
                say_(f"wrote {job.target}")

    def fail(job: Job, exc: BaseException) -> None:
        if resume is not None:
            resume.failed(job, _failure_text(job, exc))
        say_(f"Error: {_failure_text(job, exc)}")
        failures.append((job, exc))

    if len(jobs) == 1:
        job = jobs[0]
        with _delayed_status(show, f"{verb} {job.source}"):
            try:
                notes = task(job)
            except (BrokenPipeError, LimitError):
                raise  # a quiet stop (the reader went away), or a usage error
            except (ConvcliError, OSError) as exc:
                if resume is not None:
                    resume.failed(job, _failure_text(job, exc))
                if debug_enabled():
                    raise
                raise click.ClickException(_failure_text(job, exc)) from exc
        note(job, notes)
        return
    progress, bar = progress_bar(quiet, verb, len(jobs))
    started = time.monotonic()
    try:
        if workers > 1:
            with contextlib.closing(_in_processes(jobs, task, workers)) as results:
                for job, ok, result in results:
                    if ok:
                        note(job, result)
                    else:
                        fail(job, result)
                    if progress is not None and bar is not None:
                        progress.advance(bar)
        else:
            for job in jobs:
                try:
                    note(job, task(job))
                except Exception as exc:
                    fail(job, exc)
                if progress is not None and bar is not None:
                    progress.advance(bar)
    finally:
        if progress is not None:
            progress.stop()
            progress = None
    if not quiet:
        done = len(jobs) - len(failures) - skipped
        click.echo(
            summary_line(done, len(jobs), skipped if resume and resume.skip_existing else None)
            + f" in {time.monotonic() - started:.1f} s",
            err=True,
        )
    if failures:
        raise click.ClickException(failed_line(failures, len(jobs)))


def failed_line(failures: list[tuple[Job, BaseException]], total: int) -> str:
    """The batch's closing error; when outputs existed, how to rerun it.

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
    """The batch summary (without its time); ``skipped`` is given with --skip-existing.

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


#: The task a worker process runs, installed once by :func:`_start_worker`.
_WORKER_TASK: Callable[[Job], list[str]] | None = None


def _start_worker(task: Callable[[Job], list[str]], threads: int) -> None:
    """Initializer of a batch's worker processes: signals, the task, the default threads.

    The task (kernels, settings, write options) reaches each worker once
    here, not pickled again with every file. With several workers on the
    cores, each computes on its share of them by default (``CONVCLI_THREADS``
    in the worker only; an explicit ``--threads`` is bound in the task and wins),
    so two workers on two cores do not each start two engine threads.
    """
    global _WORKER_TASK
    from .signals import worker_signals

    worker_signals()
    _WORKER_TASK = task
    if not os.environ.get("CONVCLI_THREADS", "").strip():
        os.environ["CONVCLI_THREADS"] = str(threads)


def _call(items: list[tuple[int, Job]]) -> list[tuple[int, bool, Any]]:
    """Run a chunk of jobs in a worker: (index, True, notes) or (index, False, the exception) each."""
    assert _WORKER_TASK is not None  # installed by _start_worker
    done: list[tuple[int, bool, Any]] = []
    for index, job in items:
        try:
            done.append((index, True, _WORKER_TASK(job)))
        except Exception as exc:
            done.append((index, False, exc))
    return done


def batch_chunksize(files: int, workers: int) -> int:
    """Files a worker takes at a time: fewer round trips, yet every worker busy to the end.

    About 16 chunks per worker, at most 8 files each (a progress bar still moves).

    Examples
    --------
    >>> batch_chunksize(120, 2), batch_chunksize(10_000, 2), batch_chunksize(3, 2)
    (3, 8, 1)
    """
    return max(1, min(8, files // (16 * max(1, workers))))


def _in_processes(
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
    pool = multiprocessing.Pool(size, initializer=_start_worker, initargs=(task, share))
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
            while True:
                try:
                    chunk = results.next(timeout=0.5)
                    break
                except multiprocessing.TimeoutError:
                    # a worker killed outright (SIGKILL, the OOM killer) takes its job with
                    # it and the pool would wait for it forever: the pool replaces the dead
                    # process, so a pid that vanished from the children says so
                    if not workers_at_start <= {p.pid for p in multiprocessing.active_children()}:
                        from ..images.atomic import remove_leftovers

                        pool.terminate()
                        pool.join()
                        for left in pending:  # the dead worker could not remove its .part
                            remove_leftovers(jobs[left].target)
                        raise ConvcliError(
                            "a worker process died (killed, or out of memory?); the files "
                            "it was writing were not written"
                        ) from None
            for index, ok, result in chunk:
                pending.discard(index)
                yield jobs[index], ok, result
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()


def _failure_text(job: Job, exc: BaseException) -> str:
    """One line for a failed job, naming the file."""
    if isinstance(exc, (ConvcliError, OSError)):
        message = error_text(exc)
        shown = {job.source, job.target, "<stdin>", "<stdout>"}
        if not any(name in message for name in shown):
            message = f"{'<stdin>' if job.source == '-' else job.source}: {message}"
        return message
    return f"{job.source}: internal error: {type(exc).__name__}: {exc}"
