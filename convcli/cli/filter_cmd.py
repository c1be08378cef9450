"""``convcli filter``: apply named or user-supplied kernels to images."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import click

from .batch import image_task
from .batch_options import batch_output_options
from .jobs import WriteOptions
from .options import engine_options, existing_inputs, geometry_options
from .params import PIXEL_FLOAT, KernelSpec
from .plan_route import plan_option, print_plan
from .pyramid_route import pyramid_options, run_pyramid
from .tiled_route import chunk_option, is_streamed, run_streamed

if TYPE_CHECKING:
    from ..images.filtering import FilterSettings
    from ..images.io import Image
    from ..kernels.kernel import Kernel
    from .batch_options import BatchOutput
    from .jobs import Job

RANGE_CHOICES = ("auto", "clip", "abs", "normalize", "offset", "raw")
ALPHA_CHOICES = ("keep", "filter", "premultiply")


class _KernelWithSpec(KernelSpec):
    """A ``--kernel`` value kept with the text it was given as: ``(spec, Kernel)``."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Return ``(text, Kernel)``; a pair already converted stays as it is."""
        if isinstance(value, tuple):
            return value
        return (value, super().convert(value, param, ctx))


def kernel_tag(spec: str, kernel: Kernel) -> str:
    """Return what a kernel adds to an output's name.

    A built-in as given (``gaussian:sigma=3``), a file kernel its file's
    stem, an inline matrix ``custom``.
    """
    from ..kernels.catalogue import kernel_names

    if spec.partition(":")[0].strip().lower().replace("_", "-") in kernel_names():
        return spec
    return "custom" if kernel.name == "inline" else kernel.name


def _filter_process(
    image: Image,
    fmt: str,
    *,
    kernels: tuple[Kernel, ...],
    settings: FilterSettings,
    value_range: str | None,
    alpha: str,
    gray: bool,
) -> tuple[Image, list[str]]:
    """Filter one image for the batch runner (module level, so --jobs can pickle it)."""
    from ..images.filtering import filter_image

    rng = value_range or ("raw" if fmt == "NPY" else "auto")
    return filter_image(image, kernels, settings, value_range=rng, alpha=alpha, gray=gray), []


def _filter_npy(image: Image, target: str, *, overwrite: bool, **how: Any) -> bool:
    """Filter one image into a .npy file strip by strip (module level, for --jobs)."""
    from ..images.npystream import write_filtered_npy

    return write_filtered_npy(image, target, overwrite=overwrite, **how)


#: Smaller files take the serial path: a JPEG of
#: :data:`convcli.images.overlap.OVERLAP_PIXELS` is larger.
_OVERLAP_MIN_BYTES = 1 << 18


def _filter_overlapped(
    source: str,
    target: str,
    *,
    fmt: str,
    options: WriteOptions,
    kernels: tuple[Kernel, ...],
    settings: FilterSettings,
    value_range: str | None,
    alpha: str,
    gray: bool,
) -> list[str] | None:
    """Filter a big JPEG with its stages overlapped, or return None (module level, for --jobs).

    A file under :data:`_OVERLAP_MIN_BYTES` is left to the serial path
    without importing anything.
    """
    import os

    try:
        if os.path.getsize(source) < _OVERLAP_MIN_BYTES:
            return None
    except OSError:
        return None  # the serial path says what is wrong
    from ..images.overlap import filter_overlapped
    from ..images.reading import DEFAULT_MAX_PIXELS

    return filter_overlapped(
        source,
        target,
        kernels,
        settings,
        fmt=fmt,
        value_range=value_range or "auto",
        alpha=alpha,
        gray=gray,
        overwrite=options.overwrite,
        jpeg_quality=options.jpeg_quality,
        png_compression=options.png_compression,
        threads=options.threads,
        max_pixels=DEFAULT_MAX_PIXELS if options.max_pixels is None else options.max_pixels,
    )


def _check_raw_targets(jobs: list[Job], format_: str | None) -> None:
    """--range raw keeps float values: say so before filtering when a target cannot hold them."""
    from ..errors import ImageError
    from ..images.io import output_format

    for job in jobs:
        try:
            fmt = output_format(job.target, format_ or ("png" if job.target == "-" else None))
        except ImageError:
            continue  # the write says what is wrong with that name
        if fmt not in ("NPY", "TIFF"):
            raise click.BadParameter(
                f"raw keeps float values, which {job.target} ({fmt}) cannot hold: write "
                ".npy or .tif, or leave --range out (auto maps values to pixels)",
                param_hint="--range",
            )


@click.command("filter")
@click.argument(
    "inputs", nargs=-1, required=True, type=click.Path(allow_dash=True), callback=existing_inputs
)
@click.option(
    "--kernel",
    "-k",
    "kernels",
    type=_KernelWithSpec(images=True),
    multiple=True,
    required=True,
    help="Kernel: a name (sobel, gaussian:size=7,sigma=1.5, box:5), an inline matrix "
    "('1,0,-1;2,0,-2;1,0,-1'), or a file (.txt .csv .npy .json, libvips .mat). "
    "Repeat to chain kernels in order.",
)
@geometry_options(default_padding="same", default_pad_mode="reflect")
@click.option("--convolve", is_flag=True, help="Flip the kernel first (true convolution).")
@click.option(
    "--bias", type=PIXEL_FLOAT, default=0.0, help="Add this value (pixel units) to the result."
)
@click.option(
    "--repeat",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Apply the kernel chain this many times.",
)
@click.option("--gray", is_flag=True, help="Filter the luminance of a colour image only.")
@click.option(
    "--range",
    "value_range",
    type=click.Choice(RANGE_CHOICES, case_sensitive=False),
    default=None,
    help="Map results to pixels: clip, abs, normalize (stretch min..max), offset (mid-grey + "
    "value), raw (float values; .npy or .tif). Default: raw for .npy, else auto: for "
    "zero-sum kernels (edges) the absolute value times one factor that makes its 99th "
    "percentile over all channels white (the top 1% clip; a flat image stays black), "
    "gradient magnitudes (sobel) too; clip for other kernels. clip and raw keep exact "
    "values.",
)
@click.option(
    "--alpha",
    type=click.Choice(ALPHA_CHOICES, case_sensitive=False),
    default="keep",
    show_default=True,
    help="Alpha channel: keep it unfiltered, filter it like a colour, or premultiply colour "
    "by it so hidden colour cannot bleed (for blurs).",
)
@engine_options
@batch_output_options
@pyramid_options
@chunk_option
@plan_option
def filter_cmd(
    inputs: tuple[str, ...],
    kernels: tuple[tuple[str, Kernel], ...],
    stride: Any,
    padding: Any,
    dilation: Any,
    pad_mode: str,
    convolve: bool,
    bias: float,
    repeat: int,
    gray: bool,
    value_range: str | None,
    alpha: str,
    strategy: str,
    threads: int | None,
    batch: BatchOutput,
    pyramid: int | None,
    pyramid_kernel: Any,
    chunk: int | None,
    plan: bool,
) -> None:
    """Filter images with named or your own kernels.

    INPUT is an image file (PNG, JPEG, TIFF, BMP, WebP, GIF, PGM/PPM), a .npy
    array, a directory of them, or '-' for standard input.

    Without -o or --out-dir, one result goes to standard output when that is
    redirected or piped, and otherwise (as for every file of a batch) beside
    its input as STEM-KERNEL.EXT (img.png -k sobel: img-sobel.png), printed on
    stderr; an existing file is only replaced with --overwrite. A directory
    needs --out-dir.

    Colour channels are filtered one by one, grayscale stays grayscale, 16-bit stays 16-bit. The
    default is cross-correlation with 'same' output size and reflect padding;
    `convcli kernels` lists the named kernels.

    \b
    Example:
      convcli filter sample_images/camera.png -k sobel -o edges.png
      convcli filter photo.png -k sobel              # writes photo-sobel.png
      convcli filter photo.png -k sobel > edges.png
      convcli filter photo.jpg -k gaussian:sigma=2 -k laplacian -o log.png
      convcli filter photos/ -k sharpen --out-dir sharpened/ --jobs 2
      cat a.jpg | convcli filter - -k blur | convcli filter - -k sobel > out.png

    A tiled or strip TIFF with more pixels than --max-pixels (by default
    Pillow's limit, ~89 MP), a .zarr array, or any input written to -o
    OUT.zarr is filtered in tiles, without a flag: the same chain, range
    and options, written to a tiled BigTIFF or a .zarr (a file, beside the
    input without -o, even when standard output is redirected), in bounded memory;
    with --scheduler its blocks are filtered across the cluster and written
    to a .zarr. --plan prints which way each input goes and what it costs.
    """  # noqa: D301 - click's \b (no-rewrap marker) is a real backspace
    from ..images.filtering import FilterSettings

    tags = [kernel_tag(spec, kernel) for spec, kernel in kernels]
    chain = tuple(kernel for _, kernel in kernels)
    output, out_dir, quiet = batch.output, batch.out_dir, batch.quiet
    overwrite, skip_existing = batch.overwrite, batch.skip_existing
    streamed = [i for i in inputs if is_streamed(i, output, batch.max_pixels)]
    inputs = tuple(i for i in inputs if i not in streamed)
    settings = FilterSettings(
        stride=stride,
        padding=padding,
        dilation=dilation,
        pad_mode=pad_mode,
        convolve=convolve,
        bias=bias,
        repeat=repeat,
        strategy=strategy.lower(),
        threads=threads,
    )
    how: dict[str, Any] = {"value_range": value_range, "gray": gray, "alpha": alpha}
    if plan:
        print_plan(
            streamed,
            inputs,
            output=output,
            out_dir=out_dir,
            format_=batch.format_,
            tags=tags,
            kernels=chain,
            settings=settings,
            **how,
            max_pixels=batch.max_pixels,
            scaling=batch.scaling,
            chunk=chunk,
            jobs=batch.jobs,
        )
        return
    if pyramid is not None:
        run_pyramid(
            (*streamed, *inputs),
            output=output,
            kernels=chain,
            settings=settings,
            **how,
            levels=pyramid,
            pyramid_kernel=pyramid_kernel,
            overwrite=overwrite,
            skip_existing=skip_existing,
            quiet=quiet,
            max_pixels=batch.max_pixels,
        )
        return
    if streamed:
        run_streamed(
            streamed,
            output=output,
            out_dir=out_dir,
            tags=tags,
            kernels=chain,
            settings=settings,
            **how,
            overwrite=overwrite,
            quiet=quiet,
            scaling=batch.scaling,
            chunk=chunk,
            skip_existing=skip_existing,
        )
        if not inputs:
            return
    elif chunk is not None:
        raise click.UsageError("--chunk is for a tiled TIFF or a .zarr filtered in tiles")
    job_list = batch.plan(inputs, tags)
    if value_range is not None and value_range.lower() == "raw":
        _check_raw_targets(job_list, batch.format_)
    process = partial(_filter_process, kernels=chain, settings=settings, **how)
    task = partial(
        image_task,
        process=process,
        options=batch.write_options(threads),
        stream_npy=partial(_filter_npy, **process.keywords),  # the same kernels and settings
        overlapped=partial(_filter_overlapped, **process.keywords),
    )
    batch.run(job_list, task, "Filtering")
