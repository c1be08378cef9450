"""``convcli animate``: a convolution, step by step, as an animation or an explorer.

The animation is a GIF, PNG or WebP; the explorer an interactive HTML page.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import click

from .options import lasting_output, output_padding_option
from .params import INT_PAIR, PADDING

if TYPE_CHECKING:
    import numpy as np

#: An ``N|HxW`` option's value: (height, width).
Pair = tuple[int, int]


@click.command("animate")
@click.option("--in", "size", type=INT_PAIR, metavar="N|HxW", help="Input size (or give --input).")
@click.option(
    "--k",
    "--kernel-size",
    "kernel_size",
    type=INT_PAIR,
    metavar="N|HxW",
    help="Kernel (or pooling window) size (or give --kernel).",
)
@click.option(
    "--s",
    "--stride",
    "stride",
    type=INT_PAIR,
    metavar="N|HxW",
    help="Stride; default 1, or the window with --pool.",
)
@click.option(
    "--p",
    "--padding",
    "padding",
    type=PADDING,
    default="0",
    show_default=True,
    help="Padding per side: N, HxW, before:after, or same / valid / full. With "
    "--transposed, the padding of the forward convolution (PyTorch's padding).",
)
@click.option(
    "--d",
    "--dilation",
    "dilation",
    type=INT_PAIR,
    default="1",
    show_default=True,
    metavar="N|HxW",
    help="Spacing between kernel taps.",
)
@click.option(
    "--transposed",
    is_flag=True,
    help="Animate the transposed convolution: the input spread by the stride, zeros "
    "between, padding d(k-1) - p around, a stride-1 sweep.",
)
@output_padding_option
@click.option(
    "--pool",
    type=click.Choice(("max", "avg"), case_sensitive=False),
    help="Animate a pooling window instead (avg counts padding as zeros).",
)
@click.option(
    "--numbers",
    is_flag=True,
    help="Write the values in the cells: small random whole numbers (see --seed), or "
    "--input / --kernel.",
)
@click.option(
    "--input",
    "input_",
    metavar="MATRIX",
    help="The input's values, as `convcli conv` takes them ('0 1 2; 3 4 5; 6 7 8', JSON, "
    "a file); implies --numbers.",
)
@click.option(
    "--kernel",
    metavar="MATRIX",
    help="The kernel's values (or a built-in name such as sobel-x); implies --numbers.",
)
@click.option(
    "--channels",
    type=click.IntRange(min=1),
    help="Input channels, drawn as stacked planes (default 1, or the --input's).",
)
@click.option(
    "--filters",
    type=click.IntRange(min=1),
    help="Output channels: one filter of C/G planes each (default 1, or C with groups).",
)
@click.option(
    "--groups",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Split the channels into G groups (PyTorch's groups).",
)
@click.option("--depthwise", is_flag=True, help="One group per input channel (--groups C).")
@click.option(
    "--layout",
    type=click.Choice(("beside", "above"), case_sensitive=False),
    default="beside",
    show_default=True,
    help="The output beside the input, or above it (a layer's pictures: beside).",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Seed of the random numbers of --numbers.",
)
@click.option(
    "--sheet", is_flag=True, help="Write every frame on one PNG or SVG (a contact sheet) instead."
)
@click.option(
    "--delay",
    type=click.IntRange(min=10),
    default=800,
    show_default=True,
    metavar="MS",
    help="Milliseconds per frame (the last, whole output, stays three times as long).",
)
@click.option(
    "--cell",
    type=click.IntRange(8, 200),
    metavar="PX",
    help="Cell size in pixels (default: 32, or 44 with numbers; less for large grids).",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    callback=lasting_output,
    help="The file: .gif, .png (animated PNG), .webp, .svg (vector), or .html (an "
    "interactive explorer, one self-contained offline page); .png or .svg with --sheet.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
def animate_cmd(
    size: Pair | None,
    kernel_size: Pair | None,
    stride: Pair | None,
    padding: Any,
    dilation: Pair,
    transposed: bool,
    output_padding: Pair,
    pool: str | None,
    numbers: bool,
    input_: str | None,
    kernel: str | None,
    channels: int | None,
    filters: int | None,
    groups: int,
    depthwise: bool,
    layout: str,
    seed: int,
    sheet: bool,
    delay: int,
    cell: int | None,
    output: str,
    overwrite: bool,
) -> None:
    """Animate a convolution in the look of conv_arithmetic.

    One frame per output cell, row-major: the blue input grid (padding and
    inserted zeros as white dashed cells), the kernel's footprint shaded with
    dilation's holes, and the cyan output filling in with the current cell
    lit; the caption shows the output-size arithmetic. --numbers writes the
    values and each output's sum of products (or the pooled value). The
    output is deterministic: the same command writes the same bytes.

    -o NAME.html writes an explorer instead: one offline page with step
    buttons, a scrubber and play; hover an output cell for its window and
    sum of products, an input cell for every output it feeds; the output-size
    formula and the same layer in PyTorch, Keras and `convcli conv`.
    --channels, --filters and --groups (or --depthwise) explore a layer.

    \N{BACKSPACE}
    Example:
      convcli animate --in 5 --k 3 --s 2 --p 1 -o conv.gif
      convcli animate --in 7 --k 3 --d 2 -o dilation.webp
      convcli animate --in 2 --k 3 --s 2 --transposed -o up.png
      convcli animate --input "0 1 2; 3 4 5; 6 7 8" --kernel "0 1; 2 3" -o d2l.gif
      convcli animate --in 5 --k 3 --s 1 --pool max --numbers --sheet -o pool.png
      convcli animate --in 5 --k 3 --s 2 --p 1 -o explorer.html
      convcli animate --in 5 --k 3 --s 2 --p 1 --numbers --sheet -o sheet.svg
      convcli animate --in 4 --k 3 --channels 4 --groups 2 -o groups.html
    """
    from ..errors import ParameterError, ShapeError
    from ..teaching.animate import animate

    suffix = os.path.splitext(output)[1].lower()
    if kernel is not None and _looks_like_size(kernel):
        raise click.BadParameter(
            f"--kernel takes the kernel's values (like `convcli conv --kernel`); for a kernel "
            f"of size {kernel.strip()} use --k {kernel.strip()}",
            param_hint="--kernel",
        )
    if suffix in (".html", ".htm"):
        if sheet:
            raise click.BadParameter("--sheet writes a PNG, not a page", param_hint="-o")
        _explorer(locals())
        return
    if channels not in (None, 1) or filters not in (None, 1) or groups != 1 or depthwise:
        _explorer(locals())  # a layer: the explorer's pictures
        return
    _check_picture_output(output, suffix, sheet)
    if pool is not None and kernel is not None:
        raise click.UsageError("--pool has a window (--k), not a --kernel: give one of them")
    x, w = _operands(size, input_, kernel_size, kernel)
    try:
        animate(
            output,
            size,
            kernel_size,
            stride,
            padding,
            dilation,
            transposed=transposed,
            output_padding=output_padding,
            pool=pool,
            numbers=numbers,
            input=x,
            kernel=w,
            seed=seed,
            overwrite=overwrite,
            sheet=sheet,
            delay=delay,
            cell=cell,
            layout=layout.lower(),
        )
    except (ShapeError, ParameterError) as exc:  # a geometry that cannot be: a usage error
        raise click.UsageError(str(exc)) from None


def _check_picture_output(output: str, suffix: str, sheet: bool) -> None:
    """Refuse an output suffix the pictures (or the --sheet) cannot be written as."""
    from ..teaching.animate import ANIMATION_FORMATS

    if sheet and suffix not in (".png", ".svg"):
        raise click.BadParameter(
            "--sheet writes a PNG or an SVG: name the output .png or .svg", param_hint="-o"
        )
    if suffix not in ANIMATION_FORMATS:
        raise click.BadParameter(
            f"{output!r}: the suffix picks the format, one of {', '.join(ANIMATION_FORMATS)}",
            param_hint="-o",
        )


def _operands(
    size: Pair | None, input_: str | None, kernel_size: Pair | None, kernel: str | None
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Read --input and --kernel (each one 2-D matrix), checked against --in and --k."""
    from .conv_cmd import read_matrix

    if size is None and input_ is None:
        raise click.UsageError("give --in N|HxW (the input's size) or --input MATRIX")
    if kernel_size is None and kernel is None:
        raise click.UsageError("give --k N|HxW (the kernel's size) or --kernel MATRIX")
    x = read_matrix(input_, "--input") if input_ is not None else None
    w = read_matrix(kernel, "--kernel", kernel=True) if kernel is not None else None
    for matrix, hint in ((x, "--input"), (w, "--kernel")):
        if matrix is not None and matrix.ndim != 2:
            raise click.BadParameter(
                f"an animation shows one 2-D matrix, got shape {matrix.shape}", param_hint=hint
            )
    if x is not None and size is not None and tuple(x.shape) != tuple(size):
        raise click.UsageError(
            f"--in {size[0]}x{size[1]} does not match the --input's shape {x.shape[0]}x{x.shape[1]}"
        )
    if w is not None and kernel_size is not None and tuple(w.shape) != tuple(kernel_size):
        raise click.UsageError(
            f"--k {kernel_size[0]}x{kernel_size[1]} does not match the --kernel's shape {w.shape[0]}x{w.shape[1]}"
        )
    return x, w


def _looks_like_size(text: str) -> bool:
    """Tell whether the text is ``3`` or ``3x3``: a kernel's size where its values belong."""
    import re

    return re.fullmatch(r"\s*\d+(\s*[xX×]\s*\d+)?\s*", text) is not None


def _explorer(opts: dict[str, Any]) -> None:
    """``-o NAME.html``: write the interactive explorer."""
    from ..errors import ParameterError, ShapeError
    from ..teaching.explorer import explore
    from .conv_cmd import read_matrix

    x = read_matrix(opts["input_"], "--input") if opts["input_"] is not None else None
    w = read_matrix(opts["kernel"], "--kernel", kernel=True) if opts["kernel"] else None
    if opts["size"] is None and x is None:
        raise click.UsageError("give --in N|HxW (the input's size) or --input MATRIX")
    if opts["kernel_size"] is None and w is None:
        raise click.UsageError("give --k N|HxW (the kernel's size) or --kernel MATRIX")
    page_out = os.path.splitext(opts["output"])[1].lower() in (".html", ".htm")
    if page_out and (opts["delay"] != 800 or opts["cell"] is not None):
        raise click.UsageError("--delay and --cell apply to pictures; the page has its own speed")
    try:
        page = explore(
            opts["size"],
            opts["kernel_size"],
            opts["stride"],
            opts["padding"],
            opts["dilation"],
            transposed=opts["transposed"],
            output_padding=opts["output_padding"],
            pool=opts["pool"],
            input=x,
            kernel=w,
            seed=opts["seed"],
            channels=opts["channels"],
            filters=opts["filters"],
            groups=opts["groups"],
            depthwise=opts["depthwise"],
            layout=opts["layout"].lower(),
        )
    except (ShapeError, ParameterError) as exc:  # a geometry that cannot be: a usage error
        raise click.UsageError(str(exc)) from None
    if not page_out:
        if opts["layout"].lower() != "beside":
            raise click.UsageError("a layer's pictures put the output beside: drop --layout")
        try:
            page.pictures(
                opts["output"],
                sheet=opts["sheet"],
                delay=opts["delay"],
                cell=opts["cell"],
                overwrite=opts["overwrite"],
            )
        except ParameterError as exc:
            raise click.BadParameter(str(exc), param_hint="-o") from None
        return
    if os.path.lexists(opts["output"]) and not opts["overwrite"]:
        from ..errors import ConvcliError

        raise ConvcliError(f"{opts['output']} exists; pass --overwrite to replace it")
    page.write(opts["output"], overwrite=opts["overwrite"])
