"""Routing ``convcli filter`` and ``convcli pool`` to the tiled path for images larger than memory.

An input goes the tiled way (:mod:`convcli.images.tiled`, or
:mod:`convcli.cluster.tiled` with ``--scheduler``) when it is a ``.zarr``
array, a tiled or strip TIFF with more pixels than the whole-read limit
(``--max-pixels``, by default Pillow's), or when the output is a ``.zarr``
(:func:`convcli.images.route.stream_source`). Everything else keeps the
whole-image path. ``--plan`` prints the route without running it
(:mod:`convcli.cli.plan_route`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..suffixes import TIFF_SUFFIXES

if TYPE_CHECKING:
    from ..images.filtering import FilterSettings
    from ..kernels.kernel import Kernel
    from .scaling import Scaling


def chunk_option(f: Callable) -> Callable:
    """``--chunk``: the block side of an image filtered in tiles on a cluster."""
    return click.option(
        "--chunk",
        type=click.IntRange(min=1),
        default=None,
        help="With --scheduler, for a tiled TIFF or .zarr: block side in pixels, a multiple "
        "of the file's tile and at least 8x the kernel's halo (default about 2048).",
    )(f)


def is_streamed(source: str, output: str | None, max_pixels: int | None) -> bool:
    """Whether ``source`` (written to ``output``) takes the tiled path."""
    if source == "-":
        return False
    names = (source, output or "")
    if not any(n.rstrip("/\\").lower().endswith((".zarr", *TIFF_SUFFIXES)) for n in names):
        return False  # neither a TIFF nor a zarr array: no need to import the tiled machinery
    from ..images.route import stream_source

    return stream_source(source, output, max_pixels) is not None


def stream_target(
    source: str, output: str | None, out_dir: str | None, tags: list[str], create: bool = True
) -> str:
    """Return where an image filtered in tiles is written: -o, in --out-dir, or beside it.

    ``create`` makes ``out_dir`` when it is missing (not for ``--plan``).
    """
    from .jobs import derived_name

    if output:
        return output
    suffix = ".zarr" if source.rstrip("/").lower().endswith(".zarr") else ".tif"
    if out_dir:
        if create:
            Path(out_dir).mkdir(parents=True, exist_ok=True)
        return str(Path(out_dir) / (Path(source.rstrip("/")).stem + suffix))
    return derived_name(source.rstrip("/"), tags, suffix.lstrip("."))


def cluster_targets(targets: list[str], scaling: Scaling) -> bool:
    """Whether these outputs go to the cluster ``scaling`` names: all ``.zarr``.

    A cluster writes a ``.zarr``; another output is a usage error with
    ``--scheduler``, but with the cluster set only by ``$CONVCLI_SCHEDULER``
    the command line wins and the image is filtered here.
    """
    from ..images.tiled import is_zarr_path

    for target in targets:
        if not is_zarr_path(target):
            if scaling.from_environment:
                return False
            raise click.UsageError(
                f"{target}: with {scaling.origin} an image in tiles is written to a .zarr"
            )
    return True


def check_before_cluster(
    sources: list[str],
    kernel: Kernel,
    settings: FilterSettings,
    value_range: str,
    chunk: int | None,
) -> None:
    """Refuse what the cluster would refuse (options, --chunk), before it starts.

    Only headers are read; the ParameterError raised goes out of
    :func:`run_streamed` as a usage error (exit 2).
    """
    from ..cluster.tiled import prepare

    for source in sources:
        prepare(source, kernel, settings, value_range=value_range, chunk=chunk)


def _run_on_cluster(
    sources: list[str],
    targets: list[str],
    kernel: Kernel,
    settings: FilterSettings,
    rng: str,
    chunk: int | None,
    overwrite: bool,
    quiet: bool,
    scaling: Scaling,
    *,
    skip_existing: bool,
) -> None:
    """Filter each source on the cluster ``scaling`` names, into its ``.zarr`` target."""
    from ..cluster.connect import open_client
    from ..cluster.tiled import filter_on_cluster
    from ..images.urls import output_exists
    from .resume import skip_if_complete

    if not overwrite and not skip_existing:  # refused before a cluster starts for it
        for target in targets:
            if output_exists(target):
                raise click.ClickException(f"{target} exists; pass --overwrite to replace it")
    spec = scaling.spec()
    with open_client(spec) as client:
        if not quiet:
            click.echo(f"cluster: {spec.describe()}", err=True)
        for source, target in zip(sources, targets, strict=True):
            if skip_existing and skip_if_complete(target, quiet):
                continue
            _, side = filter_on_cluster(
                client,
                source,
                target,
                kernel,
                settings,
                value_range=rng,
                chunk=chunk,
                overwrite=overwrite,
            )
            if not quiet:
                click.echo(f"wrote {target} (blocks of {side}x{side})", err=True)


def usage_errors(run: Callable) -> Callable:
    """Report the library's ParameterError (options a tiled run cannot take) as exit 2."""

    @functools.wraps(run)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ..errors import ParameterError

        try:
            return run(*args, **kwargs)
        except ParameterError as exc:
            raise click.UsageError(str(exc)) from None

    return wrapper


def check_stream_targets(
    sources: list[str],
    output: str | None,
    out_dir: str | None,
    tags: list[str],
    verb: str = "filtered",
) -> None:
    """Refuse outputs an image in tiles cannot go to: one -o for many, stdout, not TIFF/zarr."""
    from ..images.tiled import is_zarr_path

    if output and len(sources) > 1:
        raise click.UsageError(f"{len(sources)} inputs: -o names one file; give --out-dir DIR")
    if output == "-":
        raise click.UsageError(f"an image {verb} in tiles is written to a file: give -o FILE")
    for source in sources:
        target = stream_target(source, output, out_dir, tags, create=False)
        if not is_zarr_path(target) and Path(target).suffix.lower() not in TIFF_SUFFIXES:
            raise click.UsageError(
                f"{source} is {verb} in tiles, which are written to a tiled TIFF or a "
                f".zarr: give -o NAME.tif or -o NAME.zarr (not {target})"
            )


@usage_errors
def run_pool_streamed(
    sources: list[str],
    *,
    output: str | None,
    out_dir: str | None,
    tags: list[str],
    pool: Callable[..., tuple[int, ...]],
    overwrite: bool,
    quiet: bool,
    scaling: Scaling | None,
    skip_existing: bool = False,
) -> None:
    """Pool each source in tiles on this machine.

    ``pool(source, target, overwrite=...)`` is
    :func:`convcli.images.pooling.pool_tiled` with the geometry bound.
    """
    from .resume import check_skip_overwrite, skip_if_complete

    check_skip_overwrite(skip_existing, overwrite)
    check_stream_targets(sources, output, out_dir, tags, verb="pooled")
    if scaling is not None and scaling.enabled and not scaling.from_environment:
        raise click.UsageError(
            f"with {scaling.origin}, an image pooled in tiles runs on this machine only: "
            f"leave {scaling.origin} out for {sources[0]}"
        )
    for source in sources:
        target = stream_target(source, output, out_dir, tags)
        if skip_existing and skip_if_complete(target, quiet):
            continue
        pool(source, target, overwrite=overwrite)
        if not quiet:
            click.echo(f"wrote {target}", err=True)


@usage_errors
def run_streamed(
    sources: list[str],
    *,
    output: str | None,
    out_dir: str | None,
    tags: list[str],
    kernels: tuple[Kernel, ...],
    settings: FilterSettings,
    value_range: str | None,
    gray: bool,
    alpha: str,
    overwrite: bool,
    quiet: bool,
    scaling: Scaling | None,
    chunk: int | None,
    skip_existing: bool = False,
) -> None:
    """Filter each source in tiles (or on the cluster ``scaling`` names).

    With ``skip_existing``, a target that exists and is complete is skipped
    (:func:`convcli.cli.resume.skip_if_complete`).
    """
    from .resume import check_skip_overwrite, skip_if_complete

    check_skip_overwrite(skip_existing, overwrite)
    check_stream_targets(sources, output, out_dir, tags)
    if not output and not out_dir and len(sources) == 1 and not quiet:
        from ..images.atomic import stdout_is_terminal

        if not stdout_is_terminal():  # `convcli filter huge.tif -k sobel > out.tif`
            click.echo(
                f"note: {sources[0]} is filtered in tiles, which go to a file, not to standard "
                f"output: writing {stream_target(sources[0], None, None, tags, create=False)} "
                "(-o FILE names it)",
                err=True,
            )
    rng = value_range or "auto"
    if scaling is not None and scaling.enabled:
        targets = [stream_target(s, output, out_dir, tags) for s in sources]
        if cluster_targets(targets, scaling):
            if len(kernels) != 1:
                raise click.UsageError(
                    f"with {scaling.origin} an image filtered in tiles takes one --kernel "
                    "(leave the cluster out to chain kernels on this machine)"
                )
            if gray or alpha != "keep":
                raise click.UsageError(
                    f"with {scaling.origin}, --gray and --alpha are not available for an "
                    "image in tiles"
                )
            kernel = kernels[0]
            check_before_cluster(sources, kernel, settings, rng, chunk)
            _run_on_cluster(
                sources,
                targets,
                kernel,
                settings,
                rng,
                chunk,
                overwrite,
                quiet,
                scaling,
                skip_existing=skip_existing,
            )
            return
    if chunk is not None:
        raise click.UsageError("--chunk needs --scheduler (or --scheduler-file)")
    from ..images.tiled import filter_tiled

    for source in sources:
        target = stream_target(source, output, out_dir, tags)
        if skip_existing and skip_if_complete(target, quiet):
            continue
        filter_tiled(
            source,
            target,
            kernels,
            settings,
            value_range=rng,
            gray=gray,
            alpha=alpha,
            overwrite=overwrite,
        )
        if not quiet:
            click.echo(f"wrote {target}", err=True)


__all__ = [
    "check_before_cluster",
    "check_stream_targets",
    "chunk_option",
    "cluster_targets",
    "is_streamed",
    "run_pool_streamed",
    "run_streamed",
    "stream_target",
    "usage_errors",
]
