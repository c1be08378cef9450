"""``convcli pool``: max, average or min pooling of images and tensors."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import click

from .batch import image_task
from .batch_options import batch_output_options
from .jobs import Job, WriteOptions, check_target
from .options import existing_inputs, threads_option
from .params import INT_PAIR, PADDING

if TYPE_CHECKING:
    from ..images.io import Image
    from ..kernels.npy import NpyHeader
    from .batch_options import BatchOutput

POOL_MODE_CHOICES = ("max", "avg", "min")


def _pool_process(
    image: Image,
    fmt: str,
    *,
    size: tuple[int, int],
    stride: tuple[int, int] | None,
    padding: Any,
    mode: str,
    ceil_mode: bool,
    threads: int | None,
) -> tuple[Image, list[str]]:
    """Pool one image for the batch runner (module level, so --jobs can pickle it)."""
    from dataclasses import replace

    from ..images.pixels import to_pixels
    from ..images.pooling import pool_image

    result = pool_image(image, size, stride, padding, mode, ceil_mode, threads=threads)
    gray_tiff = fmt == "TIFF" and result.pixels.ndim == 2 and result.alpha is None
    if result.pixels.dtype.kind == "f" and fmt != "NPY" and not gray_tiff:
        # float pixels (a .npy image) go to 8 bits for formats that cannot hold floats
        alpha = None if result.alpha is None else to_pixels(result.alpha, result.max_value)
        result = replace(result, pixels=to_pixels(result.pixels, result.max_value), alpha=alpha)
        return result, [f"{image.source}: float values scaled to 8 bits for {fmt}"]
    return result, []


def _npy_target(job: Job, options: WriteOptions) -> bool:
    """Whether a job's output is .npy (by --format, else the extension; .npy for '-')."""
    from ..images.io import output_format

    return (
        output_format(job.target, options.format or ("npy" if job.target == "-" else None)) == "NPY"
    )


def _check_tensor(header: NpyHeader, source: str, limit: int | None) -> None:
    """Refuse a tensor that is not numbers, or over ``--max-pixels``, before its data is read."""
    import math

    from ..errors import ConvcliError, PixelLimitError

    if header.dtype.kind not in "biuf":
        raise ConvcliError(f"{source}: dtype {header.dtype} is not numeric")
    size = math.prod(header.shape)
    if limit is not None and len(header.shape) >= 2 and size > limit:
        raise PixelLimitError(
            f"{source}: {size} values in shape {header.shape} is over "
            f"--max-pixels {limit}; raise --max-pixels to read it"
        )


def _pool_tensor(job: Job, options: WriteOptions, pool: Callable) -> list[str]:
    """Pool one .npy tensor, (H, W), (C, H, W) or (N, C, H, W), into .npy of the same layout."""
    import numpy as np

    from ..errors import ConvcliError
    from ..images.atomic import write_bytes
    from ..kernels.npy import NpyError, read_npy
    from ..teaching.matrices import matrix_bytes

    check_target(job, options)
    from ..guard import note_input

    note_input(job.source)
    check = partial(_check_tensor, source=job.source, limit=options.max_pixels)
    try:
        # the one .npy reader: the header is checked before any allocation
        with open(job.source, "rb") as fh:
            array = read_npy(fh, check=check, what=job.source)
    except (NpyError, OSError) as exc:
        raise ConvcliError(f"{job.source}: not a readable .npy array ({exc})") from None
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise ConvcliError(
            f"{job.source}: the value at index {where} is {array[where]}; values must be "
            "finite (numpy.nan_to_num replaces them)"
        )
    write_bytes(
        job.target, matrix_bytes(pool(array), "npy"), overwrite=options.overwrite, what=".npy data"
    )
    return []


def _pool_task(
    job: Job,
    *,
    options: WriteOptions,
    tensor_pool: Callable,
    image_process: Callable,
) -> list[str]:
    """Run one job of `convcli pool`: a .npy file to .npy is a tensor; anything else an image.

    Both read a 3-D .npy as (C, H, W) (the one layout rule, docs/toolbox.md),
    so the two paths agree wherever both apply.
    """
    if job.source != "-" and job.source.lower().endswith(".npy") and _npy_target(job, options):
        return _pool_tensor(job, options, tensor_pool)
    return image_task(job, process=image_process, options=options)


@click.command("pool")
@click.argument(
    "inputs", nargs=-1, required=True, type=click.Path(allow_dash=True), callback=existing_inputs
)
@click.option("--size", type=INT_PAIR, required=True, help="Window size: N or HxW (e.g. 2 or 2x3).")
@click.option(
    "--stride",
    "-s",
    type=INT_PAIR,
    default=None,
    help="Step between windows: N or HxW [default: the size].",
)
@click.option(
    "--padding",
    "-p",
    type=PADDING,
    default="0",
    show_default=True,
    help="Padding per side: N, HxW or before:after; may exceed half the window while "
    "every window holds a real pixel.",
)
@click.option(
    "--mode",
    "-m",
    type=click.Choice(POOL_MODE_CHOICES, case_sensitive=False),
    default="max",
    show_default=True,
    help="Reduction: max, avg (padding counts as 0, as in PyTorch) or min.",
)
@click.option("--ceil-mode", is_flag=True, help="Round the output size up (PyTorch's ceil_mode).")
@click.option(
    "--channels-first",
    is_flag=True,
    hidden=True,
    help="No effect: every 3-D .npy is (C, H, W) now (kept so old scripts still run).",
)
@threads_option
@batch_output_options
def pool_cmd(
    inputs: tuple[str, ...],
    size: tuple[int, int],
    stride: tuple[int, int] | None,
    padding: Any,
    mode: str,
    ceil_mode: bool,
    channels_first: bool,
    threads: int | None,
    batch: BatchOutput,
) -> None:
    """Pool images: the largest, mean or smallest value of each window.

    INPUT is an image file, a .npy array, a directory of them, or '-' for
    standard input, handled as in `convcli filter` (pipelines, batches with
    --out-dir, --overwrite, inputs never overwritten).

    Without -o or --out-dir, one result goes to standard output when that is
    redirected or piped, and otherwise (as for every file of a batch) beside
    its input as STEM-MODESIZE.EXT (img.png --size 8: img-max8.png), printed
    on stderr; an existing file is only replaced with --overwrite. A
    directory needs --out-dir.

    Each colour channel is
    pooled on its own, and alpha with the same rule; 8- and 16-bit images
    keep their type (averages are rounded). A .npy array is a tensor, channels
    first, as in every convcli command: (H, W), (C, H, W) or (N, C, H, W),
    any number of channels, each pooled on its own and written as .npy in the
    same layout (to an image format: (H, W) or (C, H, W) with C 1..4).

    \b
    Example:
      convcli pool sample_images/camera.png --size 4 -o small.png
      convcli pool photo.png --size 2x3 --padding 1x2 --mode avg -o p.png
      convcli pool activations.npy --size 2 -o pooled.npy     # (N, C, H, W)
      convcli pool x.npy --size 3 --padding 1 --stride 2 -o x-pooled.npy
      convcli filter photo.png -k sobel | convcli pool - --size 2 > edges.png
    """  # noqa: D301 - click's \b (no-rewrap marker) is a real backspace
    if isinstance(padding, str) and padding != "valid":
        raise click.BadParameter(
            f"pooling takes numeric padding (N, HxW, before:after), not {padding!r}",
            param_hint="--padding",
        )
    from .tiled_route import is_streamed

    size_text = str(size[0]) if size[0] == size[1] else f"{size[0]}x{size[1]}"
    tags = [f"{mode.lower()}{size_text}"]
    geometry = {"stride": stride, "padding": padding, "mode": mode.lower(), "ceil_mode": ceil_mode}
    # too large to read whole, readable in windows: pooled in tiles (images.route)
    streamed = [i for i in inputs if is_streamed(i, batch.output, batch.max_pixels)]
    if streamed:
        from ..images.pooling import pool_tiled
        from .tiled_route import run_pool_streamed

        run_pool_streamed(
            streamed,
            output=batch.output,
            out_dir=batch.out_dir,
            tags=tags,
            pool=partial(pool_tiled, size=size, threads=threads, **geometry),
            overwrite=batch.overwrite,
            quiet=batch.quiet,
            scaling=batch.scaling,
            skip_existing=batch.skip_existing,
        )
        inputs = tuple(i for i in inputs if i not in streamed)
        if not inputs:
            return
    from ..images.pooling import pool_tensor

    task = partial(
        _pool_task,
        options=batch.write_options(threads),
        tensor_pool=partial(pool_tensor, size=size, threads=threads, **geometry),
        image_process=partial(_pool_process, size=size, threads=threads, **geometry),
    )
    batch.run(batch.plan(inputs, tags), task, "Pooling")
