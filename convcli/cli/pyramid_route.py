"""``convcli filter ... -o OUT.ome.zarr --pyramid N``: the filter result as an OME-Zarr pyramid.

The options and the checks are here; the writing is
:func:`convcli.images.omezarr.write_pyramid`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import click

from .params import KernelSpec

if TYPE_CHECKING:
    from ..images.filtering import FilterSettings
    from ..kernels.kernel import Kernel

#: Writes the pyramid to a target folder (``replace``: an existing one may go); its shapes.
Writer = Callable[[str, bool], list[tuple[int, ...]]]


def pyramid_options(f: Callable) -> Callable:
    """``--pyramid N`` and ``--pyramid-kernel KERNEL``."""
    f = click.option(
        "--pyramid-kernel",
        type=KernelSpec(),
        default="box:2",
        show_default=True,
        help="With --pyramid: the smoothing kernel between levels, applied at stride 2 "
        "(box:2 averages 2x2 pixels; gaussian:sigma=1 is smoother). Its weights sum to 1.",
    )(f)
    return click.option(
        "--pyramid",
        type=click.IntRange(min=1),
        default=None,
        metavar="N",
        help="With -o OUT.ome.zarr: write an OME-Zarr multiscale image, the result and N "
        "levels below it, each half the size of the one above (NGFF 0.5).",
    )(f)


def run_pyramid(
    inputs: tuple[str, ...],
    *,
    output: str | None,
    kernels: tuple[Kernel, ...],
    settings: FilterSettings,
    value_range: str | None,
    gray: bool,
    alpha: str,
    levels: int,
    pyramid_kernel: Kernel,
    overwrite: bool,
    skip_existing: bool,
    quiet: bool,
    max_pixels: int | None = None,
) -> None:
    """Filter one input into ``output`` as an OME-Zarr multiscale image of ``levels`` more levels."""
    from ..errors import ParameterError
    from ..images.urls import output_exists
    from .resume import skip_if_complete

    output = _check_request(inputs, output, pyramid_kernel, skip_existing, overwrite)
    source = inputs[0]
    if output_exists(output) and not (overwrite or skip_existing):
        raise click.ClickException(f"{output} exists; pass --overwrite to replace it")
    try:
        request = _Pyramid(
            source, kernels, settings, value_range or "auto", gray, alpha, levels,
            pyramid_kernel, max_pixels,
        )  # fmt: skip
        write = _writer(request)
        if skip_existing and skip_if_complete(output, quiet):
            return
        shapes = _write_to(output, write, overwrite)
    except ParameterError as exc:
        if not str(exc).startswith("--pyramid "):
            raise
        raise click.BadParameter(str(exc).partition(": ")[2], param_hint="--pyramid") from None
    if not quiet:
        sizes = ", ".join("x".join(str(n) for n in shape[-2:]) for shape in shapes)
        click.echo(f"wrote {output} ({len(shapes)} levels: {sizes})", err=True)


def _check_request(
    inputs: tuple[str, ...],
    output: str | None,
    pyramid_kernel: Kernel,
    skip_existing: bool,
    overwrite: bool,
) -> str:
    """Refuse what ``--pyramid`` cannot do, before anything is read; return the output."""
    from ..images.tiled import is_zarr_path
    from .resume import check_skip_overwrite

    check_skip_overwrite(skip_existing, overwrite)
    if not output or not is_zarr_path(output):
        raise click.UsageError("--pyramid writes an OME-Zarr image: give -o OUT.ome.zarr")
    if len(inputs) != 1 or inputs[0] == "-":
        raise click.UsageError("--pyramid takes one input file")
    if abs(float(pyramid_kernel.weights.sum()) - 1.0) > 1e-6 or pyramid_kernel.offset:
        raise click.BadParameter(
            f"{pyramid_kernel.name}: a pyramid level is an average, so the kernel's weights "
            "must sum to 1 (box:2, gaussian:sigma=1)",
            param_hint="--pyramid-kernel",
        )
    return output


@dataclass(frozen=True)
class _Pyramid:
    """One ``--pyramid`` request: the input, its chain, and the levels below the result."""

    source: str
    kernels: tuple[Kernel, ...]
    settings: FilterSettings
    value_range: str
    gray: bool
    alpha: str
    levels: int
    pyramid_kernel: Kernel
    max_pixels: int | None


def _writer(req: _Pyramid) -> Writer:
    """Return ``write(target, overwrite)`` for the request's input: in tiles, or read whole.

    In tiles the levels are planned (and refused) here, before anything is written.
    """
    from ..images.omezarr import plan_levels, write_pyramid

    if not _in_tiles(req.source, req.max_pixels):
        return partial(_whole_image, req)
    if len(req.kernels) != 1 or req.gray or req.alpha != "keep":
        raise click.UsageError(
            f"{req.source} is filtered in tiles: one --kernel, without --gray or --alpha"
        )
    plan_levels(req.source, req.kernels[0], req.settings, req.value_range, req.levels)

    def tiles(target: str, replace: bool) -> list[tuple[int, ...]]:
        return write_pyramid(
            req.source,
            target,
            req.kernels[0],
            req.settings,
            levels=req.levels,
            pyramid_kernel=req.pyramid_kernel,
            value_range=req.value_range,
            overwrite=replace,
        )

    return tiles


def _write_to(output: str, write: Writer, overwrite: bool) -> list[tuple[int, ...]]:
    """Run ``write(target, overwrite)`` to ``output``.

    For a URL, it writes to a local temporary folder first (in $TMPDIR), then
    uploads it whole (:func:`convcli.images.urls.upload_folder`).
    """
    import os
    import tempfile

    from ..images.urls import is_url, upload_folder, url_basename

    if not is_url(output):
        return write(output, overwrite)
    with tempfile.TemporaryDirectory(prefix="convcli-pyramid-") as local:
        folder = os.path.join(local, url_basename(output))
        shapes = write(folder, False)
        upload_folder(folder, output, overwrite=overwrite)
    return shapes


def _in_tiles(source: str, max_pixels: int | None) -> bool:
    """Return whether ``source`` is filtered in tiles (:func:`convcli.images.route.stream_source`)."""
    from ..images.route import stream_source

    return stream_source(source, None, max_pixels) is not None


def _whole_image(req: _Pyramid, output: str, overwrite: bool) -> list[tuple[int, ...]]:
    """Read and filter the input in memory (any chain of kernels), then write its pyramid."""
    import numpy as np

    from ..images.filtering import filter_image
    from ..images.io import read_image
    from ..images.omezarr import write_pyramid_array

    kwargs = {} if req.max_pixels is None else {"max_pixels": req.max_pixels}
    image = read_image(req.source, **kwargs)
    result = filter_image(
        image, req.kernels, req.settings, value_range=req.value_range, alpha=req.alpha,
        gray=req.gray,
    )  # fmt: skip
    pixels = result.pixels
    if result.alpha is not None:  # alpha is the last channel, as in an RGBA or LA image
        colour = pixels if pixels.ndim == 3 else pixels[..., None]
        pixels = np.concatenate([colour, result.alpha[..., None]], axis=-1)
    return write_pyramid_array(
        pixels,
        output,
        levels=req.levels,
        pyramid_kernel=req.pyramid_kernel,
        settings=req.settings,
        overwrite=overwrite,
    )


__all__ = ["pyramid_options", "run_pyramid"]
