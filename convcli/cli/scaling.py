"""``--scheduler`` and its companions: running a batch on a Dask cluster.

:func:`scaling_options` adds the options to a command once and hands the
command one :class:`Scaling` value; :func:`run_scaled` runs the jobs either
as today (no scheduler: :func:`convcli.cli.batch.run_jobs`, and nothing of
dask is imported) or on the cluster through :mod:`convcli.cluster`.

Only ``--scheduler``, ``--scheduler-file`` or ``$CONVCLI_SCHEDULER`` turn a
cluster on; ``$DASK_SCHEDULER_ADDRESS`` is read only for ``--scheduler dask``.
Standard input and output, and a single image read whole, always run in
this process; a cluster set in the environment also yields to ``--jobs``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from .batch import progress_bar, run_jobs, say, summary_line
from .jobs import Job

if TYPE_CHECKING:
    from ..cluster.batch import FileResult
    from ..cluster.connect import SchedulerSpec
    from .resume import Resume

#: The environment variable that turns a cluster on when no option names one.
SCHEDULER_ENV = "CONVCLI_SCHEDULER"


@dataclass(frozen=True)
class Scaling:
    """What the scaling options asked for.

    ``origin`` says where the cluster setting came from, as messages name it
    (``--scheduler``, ``--scheduler-file`` or ``$CONVCLI_SCHEDULER``).
    """

    scheduler: str | None = None
    scheduler_file: str | None = None
    files_per_task: int | None = None
    retries: int = 0
    manifest: str | None = None
    origin: str = ""

    @property
    def enabled(self) -> bool:
        """Tell whether a cluster was named (a scheduler address or file)."""
        return bool(self.scheduler or self.scheduler_file)

    @property
    def from_environment(self) -> bool:
        """The cluster was set by an environment variable, not on the command line."""
        return self.origin.startswith("$")

    def spec(self) -> SchedulerSpec:
        """Return the :class:`convcli.cluster.connect.SchedulerSpec` (pure Python; a usage error)."""
        from ..cluster.connect import parse_scheduler
        from ..errors import ParameterError

        try:
            return parse_scheduler(self.scheduler, self.scheduler_file, origin=self.origin)
        except ParameterError as exc:
            raise click.UsageError(str(exc)) from None


def _origin(ctx: click.Context) -> str:
    """``--scheduler`` or ``$CONVCLI_SCHEDULER``: where the --scheduler value came from."""
    from click.core import ParameterSource

    if ctx.get_parameter_source("scheduler") is ParameterSource.ENVIRONMENT:
        return f"${SCHEDULER_ENV}"
    return "--scheduler"


def _check_scheduler(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Check --scheduler's value as it is read, so a malformed one is a usage error."""
    if not value:
        return None
    from ..cluster.connect import parse_scheduler  # pure Python: no dask here
    from ..errors import ParameterError

    origin = _origin(ctx)
    try:
        parse_scheduler(value, origin=origin)
    except ParameterError as exc:
        text = str(exc)
        if origin == "--scheduler":  # click names the option already
            text = text.replace(f"`--scheduler {value.strip()!r}`: ", "")
        raise click.BadParameter(text) from None
    return value


def scaling_options(f: Callable) -> Callable:
    """``--scheduler``, ``--scheduler-file``, ``--files-per-task``, ``--retries``, ``--manifest``.

    The command receives them as one keyword, ``scaling`` (a :class:`Scaling`).
    """

    @functools.wraps(f)
    def command(
        *args: Any,
        scheduler: str | None,
        scheduler_file: str | None,
        files_per_task: int | None,
        retries: int,
        manifest: str | None,
        **kwargs: Any,
    ) -> Any:
        origin = ""
        if scheduler_file:
            origin = "--scheduler-file"
            if scheduler and _origin(click.get_current_context()) != "--scheduler":
                scheduler = None  # the command line wins over $CONVCLI_SCHEDULER
        elif scheduler:
            origin = _origin(click.get_current_context())
        scaling = Scaling(scheduler, scheduler_file, files_per_task, retries, manifest, origin)
        return f(*args, scaling=scaling, **kwargs)

    options = [
        click.option(
            "--scheduler",
            envvar=SCHEDULER_ENV,
            callback=_check_scheduler,
            metavar="local[:N]|tcp://HOST:PORT|dask",
            help="Run the files on a Dask cluster: local:N starts N worker processes for this "
            "run; tcp://HOST:PORT uses a running scheduler; dask uses the one in "
            "$DASK_SCHEDULER_ADDRESS (which alone never turns a cluster on). Default: "
            "$CONVCLI_SCHEDULER, else no cluster. Standard input/output and a single image "
            "always run here. Needs pip install '.[cluster]'.",
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
            help="Append one JSON line per file (path, output, status, error, sha256 of the "
            "output) to this file as each finishes; with --skip-existing, resume from it.",
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
    skip_existing: bool = False,
) -> None:
    """Run the jobs as :func:`run_jobs` does, or on the cluster ``scaling`` names.

    On a cluster: groups of files go to the workers, which write each output
    atomically as a local run does; lines for notes, written files and
    failures are printed as groups finish; a failed file does not stop the
    others, and any failure exits 1. Either way, ``skip_existing`` and
    ``scaling.manifest`` go through :class:`convcli.cli.resume.Resume`.
    """
    from .resume import Resume

    resume = Resume(skip_existing, scaling.manifest, overwrite)
    if not scaling.enabled:
        given = [
            name
            for name, value in (
                ("--files-per-task", scaling.files_per_task),
                ("--retries", scaling.retries),
            )
            if value
        ]
        if given:
            verb = "needs" if len(given) == 1 else "need"
            raise click.UsageError(f"{', '.join(given)} {verb} --scheduler (or --scheduler-file)")
        _run_here(jobs, task, resume, workers=workers, quiet=quiet, verb=verb)
        return
    spec = scaling.spec()
    stdio = any(job.source == "-" or job.target == "-" for job in jobs)
    if workers > 1:
        if not scaling.from_environment or scaling.manifest:
            raise click.UsageError(
                f"--jobs runs local processes; with {scaling.origin} the workers run"
            )
    elif stdio and scaling.manifest:
        raise click.UsageError(
            "--manifest records files written on a cluster: standard input and output stay "
            "on this machine"
        )
    if workers > 1 or stdio or (len(jobs) == 1 and not scaling.manifest):
        # standard input/output, one image read whole, or --jobs over $CONVCLI_SCHEDULER:
        # this machine does it (a cluster could not read our stdin, and would only add a start)
        if not quiet and not scaling.from_environment:
            what = "standard input and output stay" if stdio else "one image runs"
            click.echo(f"note: {what} on this machine, not on {spec.describe()}", err=True)
        _run_here(jobs, task, resume, workers=workers, quiet=quiet, verb=verb)
        return
    resume.check(jobs)  # the manifest itself is opened once the cluster answers
    try:
        _run_on_cluster(jobs, resume.wrap(task), spec, scaling, resume, quiet, verb)
    finally:
        resume.close()


def _run_here(
    jobs: list[Job],
    task: Callable[[Job], list[str]],
    resume: Resume,
    *,
    workers: int,
    quiet: bool,
    verb: str,
) -> None:
    """Run the jobs on this machine, through ``resume`` when it is active."""
    if not resume.active:
        run_jobs(jobs, task, workers=workers, quiet=quiet, verb=verb)
        return
    jobs = resume.open(jobs)
    try:
        run_jobs(jobs, resume.wrap(task), workers=workers, quiet=quiet, verb=verb, resume=resume)
    finally:
        resume.close()


def _run_on_cluster(
    jobs: list[Job],
    task: Callable[[Job], list[str]],
    spec: SchedulerSpec,
    scaling: Scaling,
    resume: Resume,
    quiet: bool,
    verb: str,
) -> None:
    """Run the cluster half of :func:`run_scaled`.

    ``resume`` opens its manifest only once the cluster answers: a run that
    cannot start (no dask, no scheduler at the address) leaves no empty
    manifest behind and, with ``--overwrite``, the old one in place.
    """
    from ..cluster.batch import run_batch
    from ..cluster.connect import open_client

    started = time.monotonic()
    failed = 0
    skipped = 0
    by_target = {job.target: job for job in jobs}
    pending = set(by_target)
    try:
        with open_client(spec) as client:
            jobs = resume.open(jobs)
            by_target = {job.target: job for job in jobs}
            if not quiet:
                n = len(client.nthreads())
                shown = "" if spec.kind == "local" else f", {n} worker{'s' if n != 1 else ''}"
                click.echo(f"cluster: {spec.describe()}{shown}", err=True)
            beside = {job.target for job in jobs if job.beside}
            progress, bar = progress_bar(quiet, verb, len(jobs))
            try:
                for result in run_batch(
                    client,
                    jobs,
                    task,
                    files_per_task=scaling.files_per_task,
                    retries=scaling.retries,
                ):
                    job = by_target[result.target]
                    pending.discard(result.target)
                    ok = _record(result, job, resume, progress, quiet, result.target in beside)
                    failed += not ok
                    skipped += ok and result.skipped
                    if progress is not None:
                        progress.advance(bar)
            finally:
                if progress is not None:
                    progress.stop()
    except KeyboardInterrupt:  # the workers were killed (cluster/connect.py): their .part files
        from ..images.atomic import remove_leftovers

        for target in pending:
            if target != "-":
                remove_leftovers(target)
        raise
    if not quiet:
        done = len(jobs) - failed - skipped
        click.echo(
            summary_line(done, len(jobs), skipped if resume.skip_existing else None)
            + f" in {time.monotonic() - started:.1f} s",
            err=True,
        )
    if failed:
        raise click.ClickException(f"{failed} of {len(jobs)} files failed")


def _record(
    result: FileResult, job: Job, resume: Resume, progress: Any, quiet: bool, beside: bool
) -> bool:
    """Record one file's result in ``resume`` and say so; return whether it succeeded."""
    if not result.ok:
        resume.failed(job, result.error or "failed")
        say(progress, f"Error: {result.error}")
        return False
    resume.done(job, result.notes, result.sha256, skipped=result.skipped)
    if not quiet and not result.skipped:
        for line in result.notes:
            say(progress, f"note: {line}")
        if beside:
            say(progress, f"wrote {result.target}")
    return True
