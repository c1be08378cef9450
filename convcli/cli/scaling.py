"""``--scheduler`` and its companions: running a batch on a Dask cluster.

:func:`scaling_options` adds the options to a command once and hands the
command one :class:`Scaling` value; :func:`run_scaled` runs the jobs either
as today (no scheduler: :func:`convcli.cli.batch.run_jobs`, and nothing of
dask is imported) or on the cluster through :mod:`convcli.cluster`.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import click

from .batch import Job, progress_bar, run_jobs, say

#: Where the scheduler comes from when --scheduler and --scheduler-file are not given.
SCHEDULER_ENV = ("CONVCLI_SCHEDULER", "DASK_SCHEDULER_ADDRESS")


@dataclass(frozen=True)
class Scaling:
    """What the scaling options asked for."""

    scheduler: str | None = None
    scheduler_file: str | None = None
    files_per_task: int | None = None
    retries: int = 0
    manifest: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.scheduler or self.scheduler_file)


def _check_scheduler(ctx: click.Context, param: click.Parameter, value: str | None):
    if not value:
        return None
    from ..cluster.connect import parse_scheduler  # pure Python: no dask here
    from ..errors import ParameterError

    try:
        parse_scheduler(value)
    except ParameterError as exc:
        raise click.BadParameter(str(exc).replace(f"`--scheduler {value!r}`: ", "")) from None
    return value


def scaling_options(f: Callable) -> Callable:
    """``--scheduler``, ``--scheduler-file``, ``--files-per-task``, ``--retries``, ``--manifest``.

    The command receives them as one keyword, ``scaling`` (a :class:`Scaling`).
    """

    @functools.wraps(f)
    def command(*args, scheduler, scheduler_file, files_per_task, retries, manifest, **kwargs):
        scaling = Scaling(scheduler, scheduler_file, files_per_task, retries, manifest)
        return f(*args, scaling=scaling, **kwargs)

    options = [
        click.option(
            "--scheduler",
            envvar=list(SCHEDULER_ENV),
            callback=_check_scheduler,
            metavar="local[:N]|tcp://HOST:PORT",
            help="Run the files on a Dask cluster: local:N starts N worker processes for this "
            "run; tcp://HOST:PORT uses a running scheduler (default: $CONVCLI_SCHEDULER, then "
            "$DASK_SCHEDULER_ADDRESS, else no cluster). Needs pip install 'convcli[cluster]'.",
        ),
        click.option(
            "--scheduler-file",
            type=click.Path(dir_okay=False),
            help="Use the running scheduler named in this file (dask scheduler --scheduler-file).",
        ),
        click.option(
            "--files-per-task",
            type=click.IntRange(min=1),
            default=None,
            help="Files each cluster task takes (default: about 4 tasks per worker thread, "
            "at most 32 files).",
        ),
        click.option(
            "--retries",
            type=click.IntRange(min=0),
            default=0,
            show_default=True,
            help="Re-run a cluster task this many times if it fails as a whole.",
        ),
        click.option(
            "--manifest",
            type=click.Path(dir_okay=False),
            help="With a cluster: write one JSON line per file (path, output, status, error, "
            "sha256 of the output) to this file.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def run_scaled(
    jobs: list[Job],
    task: Callable[[Job], list[str]],
    *,
    scaling: Scaling,
    workers: int = 1,
    quiet: bool = False,
    verb: str = "Filtering",
    overwrite: bool = False,
) -> None:
    """Run the jobs as :func:`run_jobs` does, or on the cluster ``scaling`` names.

    On a cluster: groups of files go to the workers, which write each output
    atomically as a local run does; lines for notes, written files and
    failures are printed as groups finish; a failed file does not stop the
    others, and any failure exits 1.
    """
    if not scaling.enabled:
        given = [
            name
            for name, value in (
                ("--files-per-task", scaling.files_per_task),
                ("--retries", scaling.retries),
                ("--manifest", scaling.manifest),
            )
            if value
        ]
        if given:
            verb = "needs" if len(given) == 1 else "need"
            raise click.UsageError(f"{', '.join(given)} {verb} --scheduler (or --scheduler-file)")
        run_jobs(jobs, task, workers=workers, quiet=quiet, verb=verb)
        return
    if workers > 1:
        raise click.UsageError("--jobs runs local processes; with --scheduler the workers run")
    if any(job.source == "-" or job.target == "-" for job in jobs):
        raise click.UsageError(
            "with --scheduler, give files: standard input and output stay on this machine"
        )
    if scaling.manifest and os.path.exists(scaling.manifest) and not overwrite:
        raise click.ClickException(f"{scaling.manifest} exists; pass --overwrite to replace it")

    from ..cluster.batch import run_batch
    from ..cluster.connect import open_client, parse_scheduler
    from ..images.atomic import write_bytes

    spec = parse_scheduler(scaling.scheduler, scaling.scheduler_file)
    started = time.monotonic()
    records = []
    failed = 0
    with open_client(spec) as client:
        if not quiet:
            n = len(client.nthreads())
            shown = "" if spec.kind == "local" else f" ({n} worker{'s' if n != 1 else ''})"
            click.echo(f"cluster: {spec.describe()}{shown}", err=True)
        beside = {job.target for job in jobs if job.beside}
        progress, bar = progress_bar(quiet, verb, len(jobs))
        try:
            for result in run_batch(
                client, jobs, task, files_per_task=scaling.files_per_task, retries=scaling.retries
            ):
                if result.ok:
                    if not quiet:
                        for line in result.notes:
                            say(progress, f"note: {line}")
                        if result.target in beside:
                            say(progress, f"wrote {result.target}")
                else:
                    failed += 1
                    say(progress, f"Error: {result.error}")
                records.append(result)
                if progress is not None:
                    progress.advance(bar)
        finally:
            if progress is not None:
                progress.stop()
    if scaling.manifest:
        import json

        order = {job.source: i for i, job in enumerate(jobs)}
        lines = [
            json.dumps(
                {
                    "path": r.source,
                    "output": r.target,
                    "status": r.status,
                    "error": r.error,
                    "sha256": r.sha256,
                }
            )
            + "\n"
            for r in sorted(records, key=lambda r: order.get(r.source, 0))
        ]
        write_bytes(
            scaling.manifest, "".join(lines).encode(), overwrite=overwrite, what="a manifest"
        )
    if not quiet:
        done = len(jobs) - failed
        click.echo(
            f"{done} of {len(jobs)} files written in {time.monotonic() - started:.1f} s", err=True
        )
    if failed:
        raise click.ClickException(f"{failed} of {len(jobs)} files failed")
