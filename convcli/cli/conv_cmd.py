"""``convcli conv``: cross-correlate (or pool) small matrices and show the arithmetic."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from ..suffixes import MATRIX_SUFFIXES, MATRIX_WRITE_SUFFIXES
from .options import geometry_options, lasting_output, output_padding_option
from .params import INT_PAIR

if TYPE_CHECKING:
    import numpy as np

    from ..arithmetic.geometry import Geometry
    from ..teaching.steps import Step

#: An ``N|HxW`` option's value: (height, width).
Pair = tuple[int, int]
#: ((top, bottom), (left, right)) padding, as the steps draw it.
PadBox = tuple[tuple[int, int], tuple[int, int]]

FORMAT_CHOICES = ("text", "csv", "json", "npy")


def read_matrix(spec: str, hint: str, *, kernel: bool = False) -> np.ndarray:
    """Parse a matrix option, or raise a usage error (exit 2) naming the option.

    With ``kernel``, a built-in kernel name (``sobel-x``, ``gaussian:size=5``)
    is accepted too.
    """
    from ..errors import KernelError, ShapeError
    from ..kernels.catalogue import get_kernel
    from ..kernels.files import looks_like_matrix
    from ..teaching.matrices import parse_matrix

    text = spec.strip()
    try:
        looks_named = (
            kernel
            and text
            and text != "-"
            and not looks_like_matrix(text)
            and not os.path.isfile(text)
            and not text.lower().endswith(MATRIX_SUFFIXES)
            and "/" not in text
        )
        if looks_named:
            found = get_kernel(text)
            if found.is_magnitude:
                raise click.BadParameter(
                    f"{found.name!r} is the magnitude of two kernels, not one matrix; "
                    f"use {found.name}-x or {found.name}-y",
                    param_hint=hint,
                )
            return found.weights
        return parse_matrix(text, hint)
    except (ShapeError, KernelError) as exc:  # a bad value; unreadable files fail with exit 1
        raise click.BadParameter(str(exc), param_hint=hint) from None


def _parse_bias(text: str | None, c_out: int) -> np.ndarray | None:
    """Read --bias: one value for every output channel, or one per channel."""
    import numpy as np

    if text is None:
        return None
    try:
        values = np.array([float(v) for v in text.replace(",", " ").split()], dtype=np.float64)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a number or a list of numbers", param_hint="--bias"
        ) from None
    if not np.all(np.isfinite(values)):
        raise click.BadParameter(
            f"{text!r}: every value must be a finite number", param_hint="--bias"
        )
    if values.size == 1:
        values = np.repeat(values, c_out)
    if values.size != c_out:
        raise click.BadParameter(
            f"{values.size} value(s) given for {c_out} output channel(s): give one, or one per "
            "channel",
            param_hint="--bias",
        )
    return values


def emit(
    values: np.ndarray, fmt: str, output: str | None, overwrite: bool, precision: int = 6
) -> None:
    """Write a result matrix to a file or standard output in ``fmt``."""
    from ..images.atomic import write_bytes
    from ..teaching.matrices import matrix_bytes

    data = matrix_bytes(values, fmt, precision=precision)
    write_bytes(output, data, overwrite=overwrite, binary=fmt == "npy", what=".npy data")


def result_format(fmt: str | None, output: str | None) -> str:
    """Choose the result format: --format, else -o's extension, else text; they must agree."""
    ext = os.path.splitext(output or "")[1].lower()
    implied = MATRIX_WRITE_SUFFIXES.get(ext)
    if fmt is None:
        return implied or "text"
    fmt = fmt.lower()
    if implied is not None and implied != fmt:
        raise click.UsageError(f"--format {fmt} does not match the output file {output}")
    return fmt


@click.command("conv")
@click.option(
    "--input",
    "-i",
    "input_",
    required=True,
    metavar="MATRIX",
    help="The input: inline rows ('0 1 2; 3 4 5'), JSON ('[[0,1],[2,3]]', or 3-D for "
    "channels), a .txt/.csv/.npy/.json file, or '-' for standard input.",
)
@click.option(
    "--kernel",
    "-k",
    metavar="MATRIX",
    help="The kernel, in the same forms (or a built-in name such as sobel-x); "
    "(C, kh, kw) sums over C input channels, (C_out, C_in, kh, kw) gives C_out outputs.",
)
@geometry_options(default_padding="0", default_pad_mode="zeros")
@click.option(
    "--bias",
    "-b",
    metavar="B",
    help="Add this value (or one per output channel: '1,2') to the result.",
)
@click.option("--convolve", is_flag=True, help="Flip the kernel first (true convolution).")
@click.option(
    "--groups",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Split the channels into G groups (PyTorch's groups): the kernel is "
    "(C_out, C_in/G, kh, kw); each output reads its group's inputs only.",
)
@click.option(
    "--transposed",
    is_flag=True,
    help="The transposed convolution (PyTorch's conv_transpose2d, kernel (C_in, "
    "C_out/G, kh, kw)): --steps shows the input spread by the stride, zeros between.",
)
@output_padding_option
@click.option(
    "--pool",
    type=click.Choice(("max", "avg", "min"), case_sensitive=False),
    help="Pool the input instead of convolving it (needs --size; stride defaults to it).",
)
@click.option("--size", type=INT_PAIR, help="Pooling window: N or HxW.")
@click.option("--ceil-mode", is_flag=True, help="Pooling: round the output size up.")
@click.option(
    "--steps", "show", is_flag=True, help="Show every window's arithmetic, window marked."
)
@click.option(
    "--max-steps",
    type=click.IntRange(min=0),
    default=16,
    show_default=True,
    help="With --steps: list at most this many windows, then a summary line "
    "(--format json lists every one).",
)
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(FORMAT_CHOICES, case_sensitive=False),
    default=None,
    help="Result as an aligned matrix (text), CSV (channels separated by a blank line), "
    "JSON, or .npy (to a file or a pipe only). Default: from -o's extension (.csv, .json, "
    ".npy), else text.",
)
@click.option(
    "--precision",
    type=click.IntRange(1, 17),
    default=6,
    show_default=True,
    help="Significant digits of non-integral values in text and CSV.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    callback=lasting_output,
    help="Write the result to this file instead of standard output.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@click.pass_context
def conv_cmd(
    ctx: click.Context,
    input_: str,
    kernel: str | None,
    stride: Pair,
    padding: Any,
    dilation: Pair,
    pad_mode: str,
    bias: str | None,
    convolve: bool,
    groups: int,
    transposed: bool,
    output_padding: Pair,
    pool: str | None,
    size: Pair | None,
    ceil_mode: bool,
    show: bool,
    max_steps: int,
    fmt: str | None,
    precision: int,
    output: str | None,
    overwrite: bool,
) -> None:
    """Cross-correlate a matrix with a kernel and print the result.

    Numbers in, numbers out: the textbook's convolution arithmetic, on
    matrices small enough to check by hand (or any size from .npy). The
    defaults are those of a CNN layer and the textbook: no padding, zeros
    when padding is asked for, cross-correlation (no flip). A (C, H, W)
    input with a (C, kh, kw) kernel sums over the channels. --steps writes
    out each window as Y[i,j] = x×k + ... = y with the window marked in
    [brackets] (in colour on a terminal); with --format json, one JSON
    document {"result": ..., "steps": [...]} instead.

    \N{BACKSPACE}
    Example:
      convcli conv --input "0 1 2; 3 4 5; 6 7 8" --kernel "0 1; 2 3"
      convcli conv -i "0 1 2; 3 4 5; 6 7 8" -k "0 1; 2 3" --steps
      convcli conv -i "[[[0,1,2],[3,4,5],[6,7,8]],[[1,2,3],[4,5,6],[7,8,9]]]" \N{REVERSE SOLIDUS}
                   -k "[[[0,1],[2,3]],[[1,2],[3,4]]]"
      convcli conv -i x.npy -k "1 0 -1" --padding 1 --stride 2 --format json
      convcli conv -i "0 1 2; 3 4 5; 6 7 8" --pool max --size 2 --stride 1 --steps
      convcli conv -i "1 2; 3 4" -k "1 1; 1 1" --transposed --stride 2 --steps
    """
    import numpy as np

    if input_.strip() == "-" and kernel is not None and kernel.strip() == "-":
        raise click.UsageError("only one of --input and --kernel can be '-' (standard input)")
    fmt = result_format(fmt, output)
    if fmt == "npy" and show and (output is None or output == "-"):
        raise click.UsageError("--steps prints text: write the .npy result with -o FILE")
    if pool is not None:
        _check_pool_options(ctx, kernel, size, padding)
    else:
        _check_conv_options(ctx, kernel, size, ceil_mode, transposed, output_padding)
    x = read_matrix(input_, "--input")
    steps_shown = max_steps if show and fmt != "json" else None
    if pool is not None:
        assert size is not None
        pool_stride = None if _default(ctx, "stride") else stride
        result, steps = _pool(
            x, pool.lower(), size, pool_stride, padding, ceil_mode, show, steps_shown
        )
        out = result if x.ndim == 3 else result[0]  # pooling keeps the input's layout
    else:
        assert kernel is not None
        k = read_matrix(kernel, "--kernel", kernel=True)
        if x.ndim not in (2, 3):  # the input's fault, whatever the kernel
            raise click.BadParameter(
                f"the input must be (H, W) or (C, H, W), got shape {x.shape}", param_hint="--input"
            )
        operands = _conv_operands(
            x, k, groups, transposed, stride, padding, dilation, output_padding, convolve
        )
        result, steps = _conv(operands, bias, groups, pad_mode, show, steps_shown)
        out = result[0] if result.shape[0] == 1 else result
    out = np.asarray(out, dtype=np.float64)
    if show and fmt == "json":
        _emit_steps_json(out, steps, output, overwrite)
        return
    emit(out, fmt, output, overwrite, precision)


def _default(ctx: click.Context, name: str) -> bool:
    """Tell whether option ``name`` kept its default (it was not given)."""
    return ctx.get_parameter_source(name) == click.core.ParameterSource.DEFAULT


def _check_pool_options(
    ctx: click.Context, kernel: str | None, size: Pair | None, padding: Any
) -> None:
    """Refuse what --pool cannot take: a kernel, no --size, convolution options, words."""
    if kernel is not None:
        raise click.UsageError("give either --kernel (convolve) or --pool (pool), not both")
    if size is None:
        raise click.UsageError("--pool needs --size N or HxW (the window)")
    for name in ("dilation", "convolve", "bias", "groups", "transposed", "output_padding"):
        if not _default(ctx, name):
            raise click.UsageError(f"--{name} does not apply to --pool")
    if isinstance(padding, str) and padding != "valid":
        raise click.BadParameter(
            f"pooling takes numeric padding, not {padding!r}", param_hint="--padding"
        )


def _check_conv_options(
    ctx: click.Context,
    kernel: str | None,
    size: Pair | None,
    ceil_mode: bool,
    transposed: bool,
    output_padding: Pair,
) -> None:
    """Refuse what a convolution cannot take: no kernel, pooling or transposed-only options."""
    if kernel is None:
        raise click.UsageError("give --kernel MATRIX (or --pool max|avg|min with --size)")
    if size is not None or ceil_mode:
        raise click.UsageError("--size and --ceil-mode apply to --pool only")
    if transposed and not _default(ctx, "pad_mode"):
        raise click.UsageError("--transposed pads with zeros: drop --pad-mode")
    if not transposed and tuple(output_padding) != (0, 0):
        raise click.UsageError("--output-padding applies to --transposed only")


def _pool(
    x: np.ndarray,
    mode: str,
    size: Pair,
    stride: Pair | None,
    padding: Any,
    ceil_mode: bool,
    show: bool,
    max_steps: int | None,
) -> tuple[np.ndarray, list[Step]]:
    """Pool ``x`` (and list its steps with ``show``, printing them unless ``max_steps`` is None)."""
    from ..arithmetic.geometry import Geometry
    from ..engine.pooling import pool2d
    from ..teaching.steps import pool_steps

    xs = x[None] if x.ndim == 2 else x
    if xs.ndim != 3:
        raise click.BadParameter(
            f"the input must be (H, W) or (C, H, W), got shape {x.shape}", param_hint="--input"
        )
    # the call's geometry, resolved once: the engine and the steps both follow it
    geo = Geometry.resolve(
        xs.shape[-2:], size, stride=stride, padding=padding, pooling=True, ceil_mode=ceil_mode
    )
    result = pool2d(xs[None], geo.kernel, geo.stride, geo.padding, mode, ceil_mode)[0]
    steps: list[Step] = []
    if show:
        padded, steps = pool_steps(xs, mode=mode, geometry=geo)
        if max_steps is not None:
            from .steps_print import show_steps

            show_steps(steps, padded, geo.padding, max_steps, xs.shape[0] > 1, "ignored")
    return result, steps


def _conv(
    operands: tuple[np.ndarray, np.ndarray, Geometry, PadBox],
    bias: str | None,
    groups: int,
    pad_mode: str,
    show: bool,
    max_steps: int | None,
) -> tuple[np.ndarray, list[Step]]:
    """Correlate (and list the steps with ``show``, printing them unless ``max_steps`` is None)."""
    from ..engine.convolution import conv2d
    from ..teaching.steps import conv_steps

    xs, w, geo, box = operands
    b = _parse_bias(bias, w.shape[0])
    result = conv2d(
        xs,
        w,
        b,
        geo.stride,
        geo.padding,
        geo.dilation,
        groups=groups,
        pad_mode=pad_mode,
        dtype="float64",
    )
    steps: list[Step] = []
    if show:
        padded, steps = conv_steps(xs, w, b, pad_mode=pad_mode, geometry=geo, groups=groups)
        if max_steps is not None:
            from .steps_print import show_steps

            show_steps(steps, padded, box, max_steps, w.shape[0] > 1, pad_mode)
    return result, steps


def _conv_operands(
    x: np.ndarray,
    k: np.ndarray,
    groups: int,
    transposed: bool,
    stride: Pair,
    padding: Any,
    dilation: Pair,
    output_padding: Pair,
    convolve: bool,
) -> tuple[np.ndarray, np.ndarray, Geometry, PadBox]:
    """Resolve the (C_in, H, W) input, correlation weights, geometry and drawn padding of a call.

    A transposed convolution becomes the stride-1 correlation of the spread,
    padded input (:func:`convcli.teaching.steps.transposed_operands`); its
    drawn padding is that full padding.
    """
    from ..arithmetic.geometry import Geometry
    from ..arithmetic.sizes import pair, resolve_padding
    from ..teaching.steps import conv_operands
    from ..teaching.transposed import transposed_kernel, transposed_operands

    try:
        if not transposed:
            xs, w = conv_operands(x, k, groups)
            if convolve:
                w = w[..., ::-1, ::-1]
            geo = Geometry.resolve(
                xs.shape[-2:], w.shape[-2:], stride=stride, padding=padding, dilation=dilation
            )
            return xs, w, geo, geo.padding
        xs = x[None] if x.ndim == 2 else x
        w = transposed_kernel(xs.shape[0], k, groups)
        if convolve:
            w = w[..., ::-1, ::-1]
        if isinstance(padding, str) and padding.lower() != "valid":
            raise click.BadParameter(
                f"a transposed convolution takes numeric padding, not {padding!r}",
                param_hint="--padding",
            )
        d = pair(dilation, "dilation")
        pads = resolve_padding(padding, xs.shape[-2:], w.shape[-2:])
        op = pair(output_padding, "output padding", 0)
        spread, wc = transposed_operands(xs, w, pair(stride, "stride"), pads, d, op, groups)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--kernel") from None
    geo = Geometry.resolve(spread.shape[-2:], wc.shape[-2:], stride=1, padding=0, dilation=d)
    reach = [d[a] * (w.shape[2 + a] - 1) for a in (0, 1)]
    box = (
        (reach[0] - pads[0][0], reach[0] - pads[0][1] + op[0]),
        (reach[1] - pads[1][0], reach[1] - pads[1][1] + op[1]),
    )
    return spread, wc, geo, box


def _emit_steps_json(
    out: np.ndarray, steps: Sequence[Step], output: str | None, overwrite: bool
) -> None:
    """Write ``--steps --format json``: the result and every step as one JSON document."""
    import json

    from ..images.atomic import write_bytes

    doc = {
        "result": out.tolist(),
        "steps": [
            {
                "index": list(step.index),
                "cells": [list(cell) for cell in step.cells],
                "padding": [list(cell) for cell in step.padding],
                "inputs": list(step.inputs),
                "weights": list(step.weights),
                "bias": step.bias,
                "value": step.value,
                "op": step.op,
                "text": step.text(len({s.index[0] for s in steps}) > 1),
            }
            for step in steps
        ],
    }
    data = (json.dumps(doc, ensure_ascii=False) + "\n").encode()
    write_bytes(output, data, overwrite=overwrite, binary=False, what="JSON")
