"""Routing ``convcli filter`` to the tiled path for images larger than memory, and ``--plan``.

An input goes the tiled way (:mod:`convcli.images.tiled`, or
:mod:`convcli.cluster.tiled` with ``--scheduler``) when it is a ``.zarr``
array, a tiled or strip TIFF with more pixels than the whole-read limit
(``--max-pixels``, by default Pillow's), or when the output is a ``.zarr``
(:func:`convcli.images.route.stream_source`). Everything else keeps the
whole-image path.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable
from pathlib import Path

import click

from ..suffixes import TIFF_SUFFIXES


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


def _target(
    source: str, output: str | None, out_dir: str | None, tags: list[str], create: bool = True
) -> str:
    from .jobs import derived_name

    if output:
        return output
    suffix = ".zarr" if source.rstrip("/").lower().endswith(".zarr") else ".tif"
    if out_dir:
        if create:
            Path(out_dir).mkdir(parents=True, exist_ok=True)
        return str(Path(out_dir) / (Path(source.rstrip("/")).stem + suffix))
    return derived_name(source.rstrip("/"), tags, suffix.lstrip("."))


def cluster_targets(targets: list[str], scaling) -> bool:
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


def check_before_cluster(sources: list[str], kernel, settings, value_range: str, chunk) -> None:
    """Refuse what the cluster would refuse (options, --chunk), before it starts.

    Only headers are read; the ParameterError raised goes out of
    :func:`run_streamed` as a usage error (exit 2).
    """
    from ..cluster.tiled import prepare

    for source in sources:
        prepare(source, kernel, settings, value_range=value_range, chunk=chunk)


def _run_on_cluster(
    sources, targets, kernel, settings, rng, chunk, overwrite, quiet, scaling, *, skip_existing
):
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
    def wrapper(*args, **kwargs):
        from ..errors import ParameterError

        try:
            return run(*args, **kwargs)
        except ParameterError as exc:
            raise click.UsageError(str(exc)) from None

    return wrapper


def check_stream_targets(
    sources: list[str], output: str | None, out_dir: str | None, tags: list[str], verb="filtered"
) -> None:
    """Refuse outputs an image in tiles cannot go to: one -o for many, stdout, not TIFF/zarr."""
    from ..images.tiled import is_zarr_path

    if output and len(sources) > 1:
        raise click.UsageError(f"{len(sources)} inputs: -o names one file; give --out-dir DIR")
    if output == "-":
        raise click.UsageError(f"an image {verb} in tiles is written to a file: give -o FILE")
    for source in sources:
        target = _target(source, output, out_dir, tags, create=False)
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
    scaling,
    skip_existing: bool = False,
) -> None:
    """Pool each source in tiles on this machine (``pool(source, target, overwrite=...)``,
    :func:`convcli.images.pooling.pool_tiled` with the geometry bound).
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
        target = _target(source, output, out_dir, tags)
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
    kernels: tuple,
    settings,
    value_range: str | None,
    gray: bool,
    alpha: str,
    overwrite: bool,
    quiet: bool,
    scaling,
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
                f"output: writing {_target(sources[0], None, None, tags, create=False)} "
                "(-o FILE names it)",
                err=True,
            )
    rng = value_range or "auto"
    if scaling is not None and scaling.enabled:
        targets = [_target(s, output, out_dir, tags) for s in sources]
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
        target = _target(source, output, out_dir, tags)
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


def plan_option(f: Callable) -> Callable:
    """``--plan``: print how each input would be filtered, and filter nothing."""
    return click.option(
        "--plan",
        is_flag=True,
        help="Print the route of each input (whole image, tiles, or cluster), its block and "
        "halo sizes, number of tasks and expected peak memory, and stop.",
    )(f)


def _mib(n: int) -> str:
    return f"about {max(1, round(n / 2**20))} MiB"


def _halo_text(halo: tuple[int, int, int, int]) -> str:
    top, bottom, left, right = halo
    if top == bottom == left == right:
        return f"halo {top}"
    return f"halo {max(halo)} (top {top}, bottom {bottom}, left {left}, right {right})"


def _limit_text(pixels: int, limit: int | None) -> str:
    if limit is None:
        return f"{pixels} pixels, no whole-read limit"
    side = "above" if pixels > limit else "within"
    return f"{pixels} pixels, {side} the {limit} read whole (--max-pixels)"


def print_plan(
    streamed: list[str],
    inputs: tuple[str, ...],
    *,
    output: str | None,
    out_dir: str | None,
    format_: str | None,
    tags: list[str],
    kernels: tuple,
    settings,
    value_range: str | None,
    gray: bool,
    alpha: str,
    max_pixels: int | None,
    scaling,
    chunk: int | None,
    jobs: int,
) -> None:
    """Print, for ``--plan``, the route each input takes and what it costs; run nothing.

    One block of ``key: value`` lines per input (a batch read whole: one
    block for all its files) on standard output.
    """
    from ..errors import ConvcliError
    from ..images.route import (
        probe_whole,
        stream_source,
        streamed_peak_bytes,
        whole_limit,
        whole_peak_bytes,
    )
    from ..images.tiled import chain_halo, open_tiled, plan_stages, plan_stream
    from .jobs import plan_jobs

    cluster = scaling is not None and scaling.enabled
    where = ""
    if cluster:
        where = scaling.spec().describe()
    limit = whole_limit(max_pixels)
    rng = value_range or "auto"
    blocks: list[list[str]] = []
    for source in streamed:
        target = _target(source, output, out_dir, tags, create=False)
        try:
            with open_tiled(source) as (src, _):
                plan = plan_stream(src, kernels, settings, rng, gray=gray, alpha=alpha)
        except ConvcliError as exc:
            raise click.ClickException(str(exc)) from None
        if src.kind == "zarr":
            reason = "a .zarr array"
        elif stream_source(source, None, max_pixels) is None:
            reason = "a .zarr output"
        else:
            reason = _limit_text(src.pixels, limit)
        layout = (
            f"tiles of {src.tile[0]}x{src.tile[1]}"
            if src.tile
            else f"strips of {src.strip_rows or src.shape[0]} rows"
        )
        size = " x ".join(str(n) for n in src.shape)
        lines = [f"input: {source} ({size}, {src.dtype}, {layout})"]
        if cluster:
            from ..cluster.tiled import choose_chunk

            reach = plan.halo
            try:
                side = choose_chunk(src.tile, max(reach), chunk)
            except ConvcliError as exc:
                raise click.UsageError(str(exc)) from None
            n = math.ceil(src.shape[0] / side) * math.ceil(src.shape[1] / side)
            channels = src.shape[2] if len(src.shape) == 3 else 1
            window = (side + reach[0] + reach[1]) * (side + reach[2] + reach[3]) * channels * 4
            lines += [
                f"route: cluster ({where}; {reason}), written to {target}",
                f"blocks: {side}x{side} input pixels, {_halo_text(reach)}",
                f"tasks: {n} blocks",
                f"peak memory: {_mib(10 * window)} per worker thread",
            ]
        else:
            n = len(list(plan.blocks()))
            passes = plan.passes
            why = {
                2: " (--range normalize: the result's range first)",
                3: " (--range auto: the exact 99th percentile of the result first)",
            }.get(passes, "")
            tasks = f"{n} blocks" if passes == 1 else f"{n} blocks x {passes} passes{why}"
            lines += [
                f"route: tiles ({reason}), written to {target}",
                f"blocks: {plan.block_rows}x{plan.block_cols} output pixels, "
                f"{_halo_text(plan.halo)}",
                f"tasks: {tasks}",
                f"peak memory: {_mib(streamed_peak_bytes(plan, target))}",
            ]
        blocks.append(lines)
    if inputs:
        job_list = plan_jobs(inputs, output, out_dir, format_, tags, create=False)
        images = [(job, probe_whole(job.source)) for job in job_list]
        known = [img for _, img in images if img is not None]
        peak = max((whole_peak_bytes(img, kernels, settings, rng) for img in known), default=0)
        halo: tuple[int, int, int, int] | None = None
        if len(job_list) == 1:
            job, img = images[0]
            if img is None:
                lines = [f"input: {job.source} (size known once read)"]
            else:
                size = " x ".join(str(n) for n in img.shape)
                pixels = img.shape[0] * img.shape[1]
                lines = [f"input: {job.source} ({size}, {img.dtype}; {_limit_text(pixels, limit)})"]
                with contextlib.suppress(ConvcliError):  # the run says what is wrong
                    halo = chain_halo(plan_stages(img.shape[:2], kernels, settings))
        else:
            lines = [f"inputs: {len(job_list)} files"]
        if cluster:
            per = scaling.files_per_task
            tasks = (
                f"{math.ceil(len(job_list) / per)} (groups of {per} files)"
                if per
                else f"{len(job_list)} files in groups (about 4 per worker thread)"
            )
            lines += [
                f"route: cluster ({where}), each file read whole on a worker",
                "blocks: one per file" + (f", {_halo_text(halo)}" if halo else ""),
                f"tasks: {tasks}",
                f"peak memory: {_mib(peak)} per worker process"
                if known
                else "peak memory: unknown",
            ]
        else:
            workers = max(1, min(jobs, len(job_list)))
            lines += [
                "route: whole (each image read whole, filtered in bands of rows)",
                "blocks: the whole image" + (f", {_halo_text(halo)}" if halo else ""),
                f"tasks: {len(job_list)}" + (f" on {workers} processes" if workers > 1 else ""),
                (f"peak memory: {_mib(peak * workers)}" if known else "peak memory: unknown"),
            ]
        blocks.append(lines)
    click.echo("\n\n".join("\n".join(b) for b in blocks))


__all__ = [
    "check_before_cluster",
    "check_stream_targets",
    "chunk_option",
    "cluster_targets",
    "is_streamed",
    "plan_option",
    "print_plan",
    "run_pool_streamed",
    "run_streamed",
    "usage_errors",
]
