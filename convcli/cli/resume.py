"""``--skip-existing`` and ``--manifest`` for batches run locally, with ``--jobs`` or on a cluster.

:class:`Resume` is what :func:`convcli.cli.scaling.run_scaled` hands the
runners: it wraps the task in :func:`convcli.images.resume.resumable` (so
the completeness check runs where the file is written), gives each job the
manifest's digest of its output, and appends each file's manifest line as
it finishes.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import click

from .jobs import Job


def skip_existing_option(f: Callable) -> Callable:
    """``--skip-existing``: resume a batch, skipping outputs that exist and are complete."""
    return click.option(
        "--skip-existing",
        is_flag=True,
        help="Skip outputs that exist and are complete (they decode in full, or match "
        "their SHA-256 in --manifest); write the rest, replacing incomplete ones. "
        "Resumes an interrupted batch. Not with --overwrite.",
    )(f)


def check_skip_overwrite(skip_existing: bool, overwrite: bool) -> None:
    """``--skip-existing`` with ``--overwrite`` is a usage error (exit 2)."""
    if skip_existing and overwrite:
        raise click.UsageError(
            "--skip-existing keeps complete outputs and --overwrite replaces them: give one"
        )


def skip_if_complete(target: str, quiet: bool) -> bool:
    """Return True (said on stderr) when an output of ``--skip-existing`` is complete.

    An incomplete one is removed (and said) so that it is written again.
    """
    from ..images.resume import output_problem, remove_output
    from ..images.urls import output_exists

    if not output_exists(target):
        return False
    problem = output_problem(target)
    if problem is None:
        if not quiet:
            click.echo(f"skipped {target}: it exists and is complete (--skip-existing)", err=True)
        return True
    if not quiet:
        click.echo(f"note: {target}: incomplete ({problem}); written again", err=True)
    remove_output(target)
    return False


def _check_not_a_file_of(manifest: str, jobs: list[Job]) -> None:
    """Refuse a --manifest that is an input or an output of the batch (exit 1).

    The manifest is opened (and, with --overwrite, emptied) before any input is
    read, so the run's input guard (:mod:`convcli.guard`) has not seen them yet:
    ``--manifest a.png --overwrite`` replaced the input a.png with JSON lines.
    """
    try:
        st = os.stat(manifest)
    except OSError:
        return
    for job in jobs:
        for name, what in ((job.source, "an input"), (job.target, "an output")):
            if name == "-":
                continue
            try:
                other = os.stat(name)
            except (OSError, ValueError):
                continue
            if (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino):
                why = " (convcli never overwrites an input)" if what == "an input" else ""
                raise click.ClickException(
                    f"{manifest}: is {what} of this batch ({name}); --manifest needs a file "
                    f"of its own{why}"
                )


class Resume:
    """How a run treats outputs that exist, and the manifest it keeps.

    Parameters
    ----------
    skip_existing : bool
        ``--skip-existing``.
    manifest : str or None
        ``--manifest FILE``: appended to when resuming, else created anew
        (an existing one only with ``--overwrite``).
    overwrite : bool
        ``--overwrite``; a usage error together with ``skip_existing``.
    """

    def __init__(self, skip_existing: bool, manifest: str | None, overwrite: bool) -> None:
        check_skip_overwrite(skip_existing, overwrite)
        self.skip_existing = skip_existing
        self.manifest_path = manifest
        self.overwrite = overwrite
        self._manifest: Any = None

    @property
    def active(self) -> bool:
        """Whether ``--skip-existing`` or ``--manifest`` was given."""
        return self.skip_existing or self.manifest_path is not None

    def check(self, jobs: list[Job]) -> None:
        """Refuse, before anything starts, a manifest :meth:`open` would refuse.

        Raises a ClickException (exit 1) for an existing manifest that is
        neither resumed nor to be overwritten.
        """
        path = self.manifest_path
        if path is None:
            return
        _check_not_a_file_of(path, jobs)
        if os.path.exists(path) and not (self.skip_existing or self.overwrite):
            raise click.ClickException(
                f"{path} exists; pass --skip-existing to resume the batch it records, or "
                "--overwrite to replace it"
            )

    def open(self, jobs: list[Job]) -> list[Job]:
        """Open the manifest and return the jobs with the manifest's digests of their outputs.

        Checks it first (:meth:`check`).
        """
        from ..errors import ConvcliError
        from ..images.resume import Manifest, read_manifest

        path = self.manifest_path
        if path is None:
            return jobs
        self.check(jobs)
        digests = read_manifest(path) if self.skip_existing else {}
        try:
            self._manifest = Manifest(path, append=self.skip_existing, overwrite=self.overwrite)
        except ConvcliError as exc:
            raise click.ClickException(str(exc)) from None
        if not digests:
            return jobs
        return [replace(job, expect_sha256=digests.get(job.target)) for job in jobs]

    def wrap(self, task: Callable[[Job], list[str]]) -> Callable[[Job], list[str]]:
        """``task`` with the completeness check before it and the digest after it."""
        from ..images.resume import resumable

        return functools.partial(
            resumable,
            task=task,
            skip_existing=self.skip_existing,
            digest=self.manifest_path is not None,
        )

    def done(
        self, job: Job, notes: Any, sha256: str | None = None, *, skipped: bool = False
    ) -> None:
        """Record a file written (or skipped as complete)."""
        if self._manifest is None:
            return
        status = "skipped" if skipped or getattr(notes, "skipped", False) else "ok"
        sha = sha256 if sha256 is not None else getattr(notes, "sha256", None)
        self._manifest.record(job.source, job.target, status, None, sha)

    def failed(self, job: Job, error: str) -> None:
        """Record a file that failed."""
        if self._manifest is not None:
            self._manifest.record(job.source, job.target, "failed", error, None)

    def close(self) -> None:
        """Close the manifest (synced to disk)."""
        if self._manifest is not None:
            self._manifest.close()
            self._manifest = None


__all__ = ["Resume", "check_skip_overwrite", "skip_existing_option", "skip_if_complete"]
