"""``convcli filter ... -o OUT.ome.zarr --pyramid N``: the filter result as an OME-Zarr pyramid.

The options and the checks are here; the writing is
:func:`convcli.images.omezarr.write_pyramid`.
"""

from __future__ import annotations

from collections.abc import Callable

import click

from .params import KernelSpec


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
    kernels: tuple,
    settings,
    value_range: str | None,
    gray: bool,
    alpha: str,
    levels: int,
    pyramid_kernel,
    overwrite: bool,
    skip_existing: bool,
    quiet: bool,
) -> None:
    """Filter one input into ``output`` as an OME-Zarr multiscale image of ``levels`` more levels."""
    from ..images.tiled import is_zarr_path

    if skip_existing and overwrite:
        raise click.UsageError(
            "--skip-existing keeps complete outputs and --overwrite replaces them: give one"
        )
    if not output or not is_zarr_path(output):
        raise click.UsageError("--pyramid writes an OME-Zarr image: give -o OUT.ome.zarr")
    if len(inputs) != 1 or inputs[0] == "-":
        raise click.UsageError("--pyramid takes one input file (a TIFF or a .zarr)")
    if len(kernels) != 1:
        raise click.UsageError("--pyramid filters level 0 with one --kernel")
    if gray or alpha != "keep":
        raise click.UsageError("--gray and --alpha are not available with --pyramid")
    if abs(float(pyramid_kernel.weights.sum()) - 1.0) > 1e-6 or pyramid_kernel.offset:
        raise click.BadParameter(
            f"{pyramid_kernel.name}: a pyramid level is an average, so the kernel's weights "
            "must sum to 1 (box:2, gaussian:sigma=1)",
            param_hint="--pyramid-kernel",
        )
    from ..errors import ParameterError
    from ..images.omezarr import plan_levels, write_pyramid
    from .resume import skip_if_complete

    try:
        plan_levels(inputs[0], kernels[0], settings, value_range or "auto", levels)
    except ParameterError as exc:
        if not str(exc).startswith("--pyramid"):
            raise
        raise click.BadParameter(str(exc).partition(": ")[2], param_hint="--pyramid") from None

    if skip_existing and skip_if_complete(output, quiet):
        return
    shapes = write_pyramid(
        inputs[0],
        output,
        kernels[0],
        settings,
        levels=levels,
        pyramid_kernel=pyramid_kernel,
        value_range=value_range or "auto",
        overwrite=overwrite,
    )
    if not quiet:
        sizes = ", ".join("x".join(str(n) for n in shape[-2:]) for shape in shapes)
        click.echo(f"wrote {output} ({len(shapes)} levels: {sizes})", err=True)


__all__ = ["pyramid_options", "run_pyramid"]
