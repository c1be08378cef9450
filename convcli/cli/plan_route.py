"""``convcli filter --plan``: the route each input would take and what it costs; nothing runs.

One block of ``key: value`` lines per input goes to standard output: an
image filtered in tiles (:mod:`convcli.cli.tiled_route`) or on a cluster
gets its blocks, halo, tasks and peak memory from the plan the run would
make (:func:`convcli.images.tiled.plan_stream`); a batch read whole gets
one block for all its files.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

from .tiled_route import stream_target

if TYPE_CHECKING:
    from ..images.filtering import FilterSettings
    from ..kernels.kernel import Kernel
    from .scaling import Scaling

__all__ = ["plan_option", "print_plan"]


def plan_option(f: Callable) -> Callable:
    """``--plan``: print how each input would be filtered, and filter nothing."""
    return click.option(
        "--plan",
        is_flag=True,
        help="Print the route of each input (whole image, tiles, or cluster), its block and "
        "halo sizes, number of tasks and expected peak memory, and stop.",
    )(f)


def _mib(n: int) -> str:
    """Write a byte count as the MiB a person reads."""
    return f"about {max(1, round(n / 2**20))} MiB"


def _halo_text(halo: tuple[int, int, int, int]) -> str:
    """Write a halo as one number, with its four sides when they differ."""
    top, bottom, left, right = halo
    if top == bottom == left == right:
        return f"halo {top}"
    return f"halo {max(halo)} (top {top}, bottom {bottom}, left {left}, right {right})"


def _limit_text(pixels: int, limit: int | None) -> str:
    """Say where ``pixels`` stands against the whole-read limit."""
    if limit is None:
        return f"{pixels} pixels, no whole-read limit"
    side = "above" if pixels > limit else "within"
    return f"{pixels} pixels, {side} the {limit} read whole (--max-pixels)"


@dataclass(frozen=True)
class _Request:
    """What every input of one ``--plan`` is filtered with, and where."""

    kernels: tuple[Kernel, ...]
    settings: FilterSettings
    value_range: str
    gray: bool
    alpha: str
    max_pixels: int | None
    limit: int | None
    scaling: Scaling | None
    chunk: int | None

    @property
    def cluster(self) -> bool:
        """True when the inputs go to a cluster."""
        return self.scaling is not None and self.scaling.enabled

    @property
    def where(self) -> str:
        """The cluster, as ``--plan`` names it ("" without one)."""
        return self.scaling.spec().describe() if self.cluster and self.scaling else ""


def print_plan(
    streamed: list[str],
    inputs: tuple[str, ...],
    *,
    output: str | None,
    out_dir: str | None,
    format_: str | None,
    tags: list[str],
    kernels: tuple[Kernel, ...],
    settings: FilterSettings,
    value_range: str | None,
    gray: bool,
    alpha: str,
    max_pixels: int | None,
    scaling: Scaling | None,
    chunk: int | None,
    jobs: int,
) -> None:
    """Print, for ``--plan``, the route each input takes and what it costs; run nothing.

    One block of ``key: value`` lines per input (a batch read whole: one
    block for all its files) on standard output.
    """
    from ..images.route import whole_limit

    request = _Request(
        kernels, settings, value_range or "auto", gray, alpha, max_pixels,
        whole_limit(max_pixels), scaling, chunk,
    )  # fmt: skip
    where = request.where
    blocks = [
        _streamed_block(source, stream_target(source, output, out_dir, tags, create=False),
                        request, where)
        for source in streamed
    ]  # fmt: skip
    if inputs:
        from .jobs import plan_jobs

        job_list = plan_jobs(inputs, output, out_dir, format_, tags, create=False)
        blocks.append(_whole_block([job.source for job in job_list], request, where, jobs))
    click.echo("\n\n".join("\n".join(b) for b in blocks))


def _streamed_block(source: str, target: str, request: _Request, where: str) -> list[str]:
    """Return the ``--plan`` lines of one input filtered in tiles (or on the cluster)."""
    from ..errors import ConvcliError
    from ..images.route import stream_source, streamed_peak_bytes
    from ..images.tiled import open_tiled, plan_stream

    try:
        with open_tiled(source) as (src, _):
            plan = plan_stream(
                src, request.kernels, request.settings, request.value_range,
                gray=request.gray, alpha=request.alpha,
            )  # fmt: skip
    except ConvcliError as exc:
        raise click.ClickException(str(exc)) from None
    if src.kind == "zarr":
        reason = "a .zarr array"
    elif stream_source(source, None, request.max_pixels) is None:
        reason = "a .zarr output"
    else:
        reason = _limit_text(src.pixels, request.limit)
    layout = (
        f"tiles of {src.tile[0]}x{src.tile[1]}"
        if src.tile
        else f"strips of {src.strip_rows or src.shape[0]} rows"
    )
    size = " x ".join(str(n) for n in src.shape)
    lines = [f"input: {source} ({size}, {src.dtype}, {layout})"]
    if request.cluster:
        from ..cluster.tiled import choose_chunk

        reach = plan.halo
        try:
            side = choose_chunk(src.tile, max(reach), request.chunk)
        except ConvcliError as exc:
            raise click.UsageError(str(exc)) from None
        n = math.ceil(src.shape[0] / side) * math.ceil(src.shape[1] / side)
        channels = src.shape[2] if len(src.shape) == 3 else 1
        window = (side + reach[0] + reach[1]) * (side + reach[2] + reach[3]) * channels * 4
        return [
            *lines,
            f"route: cluster ({where}; {reason}), written to {target}",
            f"blocks: {side}x{side} input pixels, {_halo_text(reach)}",
            f"tasks: {n} blocks",
            f"peak memory: {_mib(10 * window)} per worker thread",
        ]
    n = len(list(plan.blocks()))
    passes = plan.passes
    why = {
        2: " (--range normalize: the result's range first)",
        3: " (--range auto: the exact 99th percentile of the result first)",
    }.get(passes, "")
    tasks = f"{n} blocks" if passes == 1 else f"{n} blocks x {passes} passes{why}"
    return [
        *lines,
        f"route: tiles ({reason}), written to {target}",
        f"blocks: {plan.block_rows}x{plan.block_cols} output pixels, {_halo_text(plan.halo)}",
        f"tasks: {tasks}",
        f"peak memory: {_mib(streamed_peak_bytes(plan, target))}",
    ]


def _whole_block(sources: list[str], request: _Request, where: str, jobs: int) -> list[str]:
    """Return the ``--plan`` lines of the inputs read whole (one block for a batch)."""
    from ..errors import ConvcliError
    from ..images.route import probe_whole, whole_peak_bytes
    from ..images.tiled import chain_halo, plan_stages

    images = [(source, probe_whole(source)) for source in sources]
    known = [img for _, img in images if img is not None]
    peak = max(
        (whole_peak_bytes(img, request.kernels, request.settings, request.value_range)
         for img in known),
        default=0,
    )  # fmt: skip
    halo: tuple[int, int, int, int] | None = None
    if len(sources) == 1:
        source, img = images[0]
        if img is None:
            lines = [f"input: {source} (size known once read)"]
        else:
            size = " x ".join(str(n) for n in img.shape)
            pixels = img.shape[0] * img.shape[1]
            lines = [f"input: {source} ({size}, {img.dtype}; {_limit_text(pixels, request.limit)})"]
            with contextlib.suppress(ConvcliError):  # the run says what is wrong
                halo = chain_halo(plan_stages(img.shape[:2], request.kernels, request.settings))
    else:
        lines = [f"inputs: {len(sources)} files"]
    halo_text = f", {_halo_text(halo)}" if halo else ""
    if request.cluster and request.scaling is not None:
        per = request.scaling.files_per_task
        tasks = (
            f"{math.ceil(len(sources) / per)} (groups of {per} files)"
            if per
            else f"{len(sources)} files in groups (about 4 per worker thread)"
        )
        return [
            *lines,
            f"route: cluster ({where}), each file read whole on a worker",
            "blocks: one per file" + halo_text,
            f"tasks: {tasks}",
            f"peak memory: {_mib(peak)} per worker process" if known else "peak memory: unknown",
        ]
    workers = max(1, min(jobs, len(sources)))
    return [
        *lines,
        "route: whole (each image read whole, filtered in bands of rows)",
        "blocks: the whole image" + halo_text,
        f"tasks: {len(sources)}" + (f" on {workers} processes" if workers > 1 else ""),
        f"peak memory: {_mib(peak * workers)}" if known else "peak memory: unknown",
    ]
