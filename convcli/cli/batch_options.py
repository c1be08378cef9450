"""The options every image batch command shares, and the one value a command gets from them.

``convcli filter`` and ``convcli pool`` both write image results, run a
batch locally, with ``--jobs`` or on a cluster, and resume it: the options
for that (:func:`~convcli.cli.options.image_output_options`,
:func:`~convcli.cli.scaling.scaling_options`,
:func:`~convcli.cli.resume.skip_existing_option`) are added by
:func:`batch_output_options`, which hands the command one
:class:`BatchOutput` instead of eleven keywords. The command plans its jobs
and runs them through it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from .jobs import Job, WriteOptions
from .options import image_output_options
from .resume import skip_existing_option
from .scaling import Scaling, run_scaled, scaling_options

__all__ = ["BatchOutput", "batch_output_options"]


@dataclass(frozen=True)
class BatchOutput:
    """Where a batch's results go, how they are encoded, and how the batch runs."""

    output: str | None
    out_dir: str | None
    format_: str | None
    overwrite: bool
    jobs: int
    quiet: bool
    max_pixels: int | None
    png_compression: int
    jpeg_quality: int
    scaling: Scaling
    skip_existing: bool

    def write_options(self, threads: int | None) -> WriteOptions:
        """Return how each result is encoded (``threads``: the PNG writer's)."""
        return WriteOptions(
            self.format_,
            self.overwrite,
            self.png_compression,
            self.jpeg_quality,
            self.max_pixels,
            threads=threads,
        )

    def plan(self, inputs: tuple[str, ...], tags: list[str]) -> list[Job]:
        """Return one job per input file: where each result is written."""
        from .jobs import plan_jobs

        return plan_jobs(inputs, self.output, self.out_dir, self.format_, tags)

    def run(self, jobs: list[Job], task: Callable[[Job], list[str]], verb: str) -> None:
        """Run ``task`` for every job, here, in ``--jobs`` processes or on the cluster.

        Off a cluster, a bad ``CONVCLI_ENGINE`` or ``CONVCLI_NATIVE_ISA`` is
        refused first, once, as a usage error (exit 2): it is the user's
        setting, not a fault of each file.
        """
        if not self.scaling.enabled:
            check_engine()
        run_scaled(
            jobs,
            task,
            scaling=self.scaling,
            workers=self.jobs,
            quiet=self.quiet,
            verb=verb,
            overwrite=self.overwrite,
            skip_existing=self.skip_existing,
        )


def check_engine() -> None:
    """Raise a usage error for an engine variable this process cannot honour.

    ``CONVCLI_ENGINE``, ``CONVCLI_NATIVE_ISA`` and ``CONVCLI_THREADS``, checked
    before the first file, so a batch says it once, not once per file.
    """
    from ..engine import native
    from ..engine.threads import default_threads
    from ..errors import SettingError

    try:
        native.status()
        default_threads()
    except SettingError as exc:
        raise click.UsageError(str(exc)) from exc


def batch_output_options(f: Callable) -> Callable:
    """Add the output, batch, cluster and resume options; pass them on as ``batch=``.

    The options stand in ``--help`` in this order: where and how results are
    written, the cluster, ``--skip-existing``.
    """

    @functools.wraps(f)
    def command(
        *args: Any,
        output: str | None,
        out_dir: str | None,
        format_: str | None,
        overwrite: bool,
        jobs: int,
        quiet: bool,
        max_pixels: int | None,
        png_compression: int,
        jpeg_quality: int,
        scaling: Scaling,
        skip_existing: bool,
        **kwargs: Any,
    ) -> Any:
        batch = BatchOutput(
            output,
            out_dir,
            format_,
            overwrite,
            jobs,
            quiet,
            max_pixels,
            png_compression,
            jpeg_quality,
            scaling,
            skip_existing,
        )
        return f(*args, batch=batch, **kwargs)

    return image_output_options(scaling_options(skip_existing_option(command)))
