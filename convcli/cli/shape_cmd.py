"""``convcli shape``: convolution arithmetic for one layer and whole networks.

Pure Python: this module and everything it imports avoid numpy, scipy and
Pillow. The network machinery (:mod:`convcli.arithmetic.spec`, ``.network`` and
``.presets``) is imported only when a network is analysed (or ``--arch`` is
validated or listed in the help),
rich only when a table is printed: ``--json`` and ``--quiet`` on
one layer load little beyond Click.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from typing import Any

import click

from ..arithmetic.layer import LayerReport, analyze_layer
from ..arithmetic.sizes import conv_formula, padding_words
from ..errors import ShapeError
from .params import INT_PAIR, NONNEG_INT_PAIR, PADDING, IntPair

Pair = tuple[int, int]
Pads = tuple[Pair, Pair]

LAYER_HEADERS = [
    "layer",
    "in_h",
    "in_w",
    "kernel_h",
    "kernel_w",
    "stride_h",
    "stride_w",
    "dilation_h",
    "dilation_w",
    "pad_top",
    "pad_bottom",
    "pad_left",
    "pad_right",
    "output_padding_h",
    "output_padding_w",
    "out_h",
    "out_w",
    "formula_h",
    "formula_w",
    "uncovered_rows",
    "uncovered_cols",
    "channels",
    "filters",
    "params",
    "macs",
    "dense_equivalent_params",
    "dense_units",
    "dense_params",
]
SOLVE_HEADERS = [
    "axis",
    "n",
    "out",
    "kernel",
    "dilation",
    "stride",
    "pad_before",
    "pad_after",
    "padding",
    "total_padding",
    "note",
    "formula",
]
NETWORK_HEADERS = [
    "index",
    "depth",
    "layer",
    "config",
    "output",
    "params",
    "macs",
    "rf_h",
    "rf_w",
    "jump_h",
    "jump_w",
    "leaf",
    "flops",
    "output_size",
    "activations",
    "param_bytes",
    "activation_bytes",
]
#: the types --dtype knows (convcli.arithmetic.counts.DTYPE_BYTES, whose
#: module this one does not import for a single layer)
DTYPES = ("float32", "float16", "bfloat16", "float64", "int8")
#: from this width on, the network table also shows FLOPs and memory per row
WIDE = 130

HELP = """Output sizes, parameters and receptive fields of convolution layers.

\b
One layer: give --in and --k (and --s, --p, --d). The table shows each
axis with the formula floor((n - k + p + s)/s) filled in, p being the total
padding (2*pad) and k the dilated span d*(k-1)+1. --pool makes it a pooling
window (stride defaults to the window), --transposed a transposed
convolution, (n-1)*s - p + d*(k-1) + output_padding + 1. --channels and
--filters add parameters and multiply-accumulates, --dense N the parameters
of a fully connected layer of N units on the same input. --out solves
backwards for stride and padding, at any size: the table has a row per
padding with its run of strides (at most ten rows; --all for every row),
--json, --csv and --quiet list every choice (up to 1,000,000). Several
--in give one row each.

\b
Whole networks: --arch NAME (lenet5, alexnet, vgg11, vgg16, resnet18,
resnet50, as torchvision builds them), --layers SPEC or --spec FILE (JSON
or the same text). Input C x H x W from --channels and --in, or the
preset's default (3x224x224; 1x28x28 for lenet5). --depth N keeps the
first N levels of nesting (same totals). Each row has its parameters and
multiply-accumulates (MACs; FLOPs = 2 x MACs); the totals add the memory
of the parameters and activations at --dtype (float32: 4 bytes a value;
MB = 10^6 bytes). --json and --csv carry every field.

\b
ONNX models: convcli shape MODEL.onnx [--dim N=1] reads the model (needs
pip install 'convcli[onnx]') and prints the same table for its Conv,
ConvTranspose, pooling, Gemm/MatMul, BatchNormalization and shape-only
nodes; ceil_mode pooling follows the model's opset (a note says which rule).

\b
Other models, read without running them (no torch or TensorFlow needed):
MODEL.pt2 (torch.export.save), MODEL.keras and MODEL.h5 (Keras' saved
config; .h5 needs h5py), MODEL.py --class NAME or --code EXPR (PyTorch,
Keras or Flax source read with ast, never imported; give --in and
--channels when the model does not state its input). A construct that
cannot be read statically stops with its file:line (exit 2).

\b
Spec grammar (layers separated by commas or new lines, # comments):
  conv F [kN|kHxW] [sN] [pPAD] [dN] [gN] [nobias]   convolution, F filters
  convt F ... [opN]                transposed convolution
  maxpool|avgpool kN [sN] [pPAD] [ceil]   pooling (stride = window)
  adaptiveavgpool N|HxW, gap       adaptive / global average pooling
  fc N [nobias]                    fully connected (alias linear)
  flatten, bn, dropout [P]         bn counts 2 parameters per channel
  relu, sigmoid, tanh, gelu, silu, leakyrelu, softmax
  basic F [sN], bottleneck W [sN]  torchvision ResNet blocks
  res(BODY | SHORTCUT)             residual block (identity if no |)
  N*LAYER, N*(A, B, ...)           repetition
  seq [NAME](A, B, ...)            a group (one level for --depth)
  PAD: N, HxW, before:after, t:bxl:r, same, valid, full

\b
Example:
  convcli shape --in 224 --k 11 --s 4 --p 2
  convcli shape --in 8x8 --k 5x3 --p 2x1
  convcli shape --in 224 --k 3 --p same --s 2 --channels 64 --filters 128
  convcli shape --in 3000x4000 --channels 3 --dense 100
  convcli shape --in 224 --out 112 --k 3
  convcli shape --in 32 --in 64 --in 128 --k 3 --s 2 --p 1 --csv
  convcli shape --arch resnet18
  convcli shape --in 28 --layers "conv 6 k5, maxpool k2, flatten, fc 10"
"""


class _TwoAxes(tuple):
    """An (H, W) input size given as HxW: ``--quiet`` prints both output sizes."""


class _InputSize(IntPair):
    """``--in``: N or HxW, remembering whether the user gave two axes."""

    def convert(self, value, param, ctx) -> tuple[int, int]:
        pair = super().convert(value, param, ctx)
        if isinstance(value, str) and len(pair) == 2 and any(c in value for c in "xX×,"):
            return _TwoAxes(pair)
        return pair


def _fail(exc: ShapeError, prefix: str = "") -> click.UsageError:
    return click.UsageError(f"{prefix}{exc}")


def _width() -> int:
    """The terminal's (or ``COLUMNS``') width; 80 when stdout is not a terminal."""
    from ..output import table_width

    return table_width(sys.stdout)


def _echo_table(text: str) -> None:
    click.echo(text, nl=False)


def _warn(message: str) -> None:
    from ..output import color_enabled

    if color_enabled(sys.stderr):
        click.secho(f"Warning: {message}", fg="yellow", err=True)
    else:
        click.echo(f"Warning: {message}", err=True)


def _pad_text(pads: Pair) -> str:
    return f"{pads[0]}+{pads[1]}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


class _ArchChoice(click.Choice):
    """``click.Choice`` of the preset names, read from :mod:`convcli.arithmetic.presets`
    only when Click needs them (to check a value, or for the help), so that a
    single layer does not pay for importing the network code."""

    def __init__(self) -> None:
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        from ..arithmetic.presets import ARCHITECTURES

        return tuple(sorted(ARCHITECTURES))

    @choices.setter
    def choices(self, value) -> None:  # Choice.__init__ assigns; the names are fixed
        pass


@click.command("shape", help=HELP, short_help="Output sizes, parameters and receptive fields.")
@click.argument("model", required=False, metavar="[MODEL]")
@click.option(
    "--class",
    "model_class",
    metavar="NAME",
    help="The model class of a .py file (read with ast, never imported).",
)
@click.option(
    "--code",
    metavar="EXPR",
    help='A Python expression that builds the model: "nn.Sequential(...)", "LeNet(10)".',
)
@click.option(
    "--dim",
    "dims",
    multiple=True,
    metavar="NAME=N",
    help="Bind a symbolic dimension of an ONNX model's input (repeatable).",
)
@click.option(
    "--in",
    "--input",
    "inputs",
    type=_InputSize(),
    multiple=True,
    metavar="N|HxW",
    help="Input size; repeat for one row per size.",
)
@click.option(
    "--k", "--kernel", "-k", "kernel", type=INT_PAIR, metavar="N|HxW", help="Kernel size."
)
@click.option(
    "--s",
    "--stride",
    "-s",
    "stride",
    type=INT_PAIR,
    metavar="N|HxW",
    help="Stride (default 1; the window with --pool).",
)
@click.option(
    "--p",
    "--padding",
    "-p",
    "padding",
    type=PADDING,
    metavar="PAD",
    help="Padding per side: N, HxW, before:after, same, valid or full (default 0).",
)
@click.option(
    "--d",
    "--dilation",
    "-d",
    "dilation",
    type=INT_PAIR,
    metavar="N|HxW",
    help="Dilation (default 1).",
)
@click.option("--channels", type=click.IntRange(min=1), metavar="C", help="Input channels.")
@click.option(
    "--filters", type=click.IntRange(min=1), metavar="F", help="Output channels (filters)."
)
@click.option("--no-bias", is_flag=True, help="Count no bias parameters.")
@click.option(
    "--dense",
    type=click.IntRange(min=1),
    metavar="N",
    help="Parameters of a fully connected layer of N units on the input (C defaults to 1).",
)
@click.option("--transposed", is_flag=True, help="A transposed convolution.")
@click.option(
    "--output-padding",
    type=NONNEG_INT_PAIR,
    metavar="N|HxW",
    help="Extra output cells of a transposed convolution (default 0).",
)
@click.option("--pool", is_flag=True, help="A pooling window instead of a convolution.")
@click.option("--ceil-mode", is_flag=True, help="Pooling rounds up, as PyTorch's ceil_mode.")
@click.option(
    "--out",
    "target",
    type=INT_PAIR,
    metavar="N|HxW",
    help="Solve for the strides and paddings that give this output size.",
)
@click.option(
    "--all",
    "show_all",
    is_flag=True,
    help="With --out: every row of the table (JSON, CSV and --quiet list every choice, up "
    "to 1,000,000).",
)
@click.option("--layers", metavar="SPEC", help="A network in the spec language (see above).")
@click.option("--arch", type=_ArchChoice(), help="A built-in network preset.")
@click.option(
    "--depth",
    type=click.IntRange(min=1),
    metavar="N",
    help="Show a network's first N levels of nesting (totals unchanged).",
)
@click.option(
    "--dtype",
    type=click.Choice(DTYPES),
    help="Value type for a network's memory (default float32).",
)
@click.option(
    "--spec",
    type=click.File("r", encoding="utf-8"),
    metavar="FILE",
    help="A network spec file: JSON or the text language ('-' for stdin).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="Print only the output size.")
def shape_cmd(
    model: str | None,
    model_class: str | None,
    code: str | None,
    dims: tuple[str, ...],
    inputs: tuple[Pair, ...],
    kernel: Pair | None,
    stride: Pair | None,
    padding: Any,
    dilation: Pair | None,
    channels: int | None,
    filters: int | None,
    no_bias: bool,
    dense: int | None,
    transposed: bool,
    output_padding: Pair | None,
    pool: bool,
    ceil_mode: bool,
    target: Pair | None,
    show_all: bool,
    layers: str | None,
    arch: str | None,
    depth: int | None,
    dtype: str | None,
    spec: Any,
    as_json: bool,
    as_csv: bool,
    quiet: bool,
) -> None:
    if sum((as_json, as_csv, quiet)) > 1:
        raise click.UsageError("use only one of --json, --csv and --quiet")
    fmt = "json" if as_json else "csv" if as_csv else "quiet" if quiet else "table"
    if show_all and target is None:
        raise click.UsageError("--all shows every choice of --out: give --out")
    if model_class or code or (model and not model.lower().endswith(".onnx")):
        from .model_route import read_model_options  # .pt2 .keras .h5 .py: convcli.models

        name, summary, source = read_model_options(click.get_current_context().params)
        _show_network(name, summary, fmt, depth, dtype or "float32", source=source)
        return
    if model is not None:
        given = [
            name
            for name, value in (
                ("--in", inputs),
                ("--k", kernel),
                ("--s", stride),
                ("--p", padding),
                ("--d", dilation),
                ("--channels", channels),
                ("--filters", filters),
                ("--no-bias", no_bias),
                ("--dense", dense),
                ("--transposed", transposed),
                ("--output-padding", output_padding),
                ("--pool", pool),
                ("--ceil-mode", ceil_mode),
                ("--out", target),
                ("--layers", layers),
                ("--arch", arch),
                ("--spec", spec),
            )
            if value
        ]
        if given:
            raise click.UsageError(f"{given[0]} cannot be used with a model file ({model})")
        _onnx(model, dims, fmt, depth, dtype or "float32")
        return
    if dims:
        raise click.UsageError("--dim binds a dimension of a model file: give MODEL.onnx")
    sources = [name for name, v in (("--layers", layers), ("--arch", arch), ("--spec", spec)) if v]
    if sources:
        if len(sources) > 1:
            raise click.UsageError(f"use only one of {', '.join(sources)}")
        single = {
            "--k": kernel,
            "--s": stride,
            "--p": padding,
            "--d": dilation,
            "--filters": filters,
            "--no-bias": no_bias,
            "--dense": dense,
            "--transposed": transposed,
            "--output-padding": output_padding,
            "--pool": pool,
            "--ceil-mode": ceil_mode,
            "--out": target,
        }
        for name, value in single.items():
            if value:
                raise click.UsageError(
                    f"{name} describes a single layer; it cannot be used with {sources[0]}"
                )
        if len(inputs) > 1:
            raise click.UsageError(f"{sources[0]} takes one --in (got {len(inputs)})")
        _network(inputs[0] if inputs else None, channels, layers, arch, spec, fmt, depth, dtype)
        return
    for name, value in (("--depth", depth), ("--dtype", dtype)):
        if value:
            raise click.UsageError(f"{name} describes a network: give --arch, --layers or --spec")
    if not inputs:
        raise click.UsageError(
            "give --in (with --k for a layer, or --dense), or a network with --arch, "
            "--layers or --spec"
        )
    if output_padding is not None and not transposed:
        raise click.UsageError("--output-padding needs --transposed")
    if ceil_mode and not pool:
        raise click.UsageError("--ceil-mode needs --pool")
    if pool and transposed:
        raise click.UsageError("use only one of --pool and --transposed")
    if pool and dilation is not None:
        raise click.UsageError("--d (dilation) does not apply to --pool")
    if pool and (filters or no_bias):
        raise click.UsageError("a pooling layer has no filters or bias: drop --filters/--no-bias")
    if filters and channels is None:
        raise click.UsageError("--filters needs --channels (the input channels C)")
    if no_bias and not (filters or dense):
        raise click.UsageError("--no-bias needs --filters or --dense")
    if transposed and isinstance(padding, str) and padding != "valid":
        raise click.UsageError(
            f"--p {padding} does not apply to --transposed: give the forward convolution's "
            "padding as a number"
        )
    if target is not None:
        if kernel is None:
            raise click.UsageError("--out needs --k (the kernel size)")
        for name, value in (
            ("--transposed", transposed),
            ("--ceil-mode", ceil_mode),
            ("--filters", filters),
            ("--dense", dense),
        ):
            if value:
                raise click.UsageError(f"--out cannot be combined with {name}")
        _solve(inputs, target, kernel, stride, padding, dilation, pool, fmt, show_all)
        return
    if kernel is None:
        if dense is None:
            raise click.UsageError("give --k (the kernel size), or --dense N")
        for name, value in (
            ("--s", stride),
            ("--p", padding),
            ("--d", dilation),
            ("--filters", filters),
            ("--transposed", transposed),
            ("--pool", pool),
        ):
            if value:
                raise click.UsageError(f"{name} describes a layer's window: it needs --k")
    _layer(
        inputs,
        kernel,
        stride,
        padding,
        dilation,
        channels,
        filters,
        not no_bias,
        dense,
        transposed,
        output_padding,
        pool,
        ceil_mode,
        fmt,
    )


# --------------------------------------------------------------------------
# one layer
# --------------------------------------------------------------------------


def _layer(
    inputs: Sequence[Pair],
    kernel: Pair | None,
    stride: Pair | None,
    padding: Any,
    dilation: Pair | None,
    channels: int | None,
    filters: int | None,
    bias: bool,
    dense: int | None,
    transposed: bool,
    output_padding: Pair | None,
    pool: bool,
    ceil_mode: bool,
    fmt: str,
) -> None:
    reports: list[LayerReport] = []
    for size in inputs:
        try:
            report = analyze_layer(
                size,
                kernel,
                stride=stride,
                padding=padding,
                dilation=dilation,
                channels=channels,
                filters=filters,
                bias=bias,
                dense=dense,
                transposed=transposed,
                output_padding=output_padding,
                pool=pool,
                ceil_mode=ceil_mode,
            )
        except ShapeError as exc:
            prefix = f"--in {size[0]}x{size[1]}: " if len(inputs) > 1 else ""
            raise _fail(exc, prefix) from None
        reports.append(report)
    rows = [report.as_row() for report in reports]
    if kernel is not None:
        for row in rows:
            parts = []
            if row["uncovered_rows"]:
                parts.append(_plural(row["uncovered_rows"], "input row"))
            if row["uncovered_cols"]:
                parts.append(_plural(row["uncovered_cols"], "input column"))
            if parts:
                _warn(
                    f"{row['in_h']}×{row['in_w']}: no window covers {' and '.join(parts)} "
                    f"(kernel {row['kernel_h']}×{row['kernel_w']}, "
                    f"stride {row['stride_h']}×{row['stride_w']})"
                )
    if fmt == "json":
        from ..output import to_json

        click.echo(to_json(rows))
    elif fmt == "csv":
        from ..output import to_csv

        headers = [h for h in LAYER_HEADERS if any(r.get(h) is not None for r in rows)]
        click.echo(to_csv(rows, headers), nl=False)
    elif fmt == "quiet":
        for size, row in zip(inputs, rows, strict=True):
            if kernel is None:
                click.echo(row["dense_params"])
            elif row["out_h"] == row["out_w"] and not isinstance(size, _TwoAxes):
                click.echo(row["out_h"])
            else:
                click.echo(f"{row['out_h']}x{row['out_w']}")
    else:
        _layer_tables(reports, kernel is not None, bool(filters), dense is not None)


def _layer_tables(reports: list[LayerReport], sizes: bool, params: bool, dense: bool) -> None:
    from ..output import color_enabled, format_count, format_int, render_table

    rows = [report.as_row() for report in reports]

    color = color_enabled(sys.stdout)
    width = _width()
    if sizes:
        kind = rows[0]["layer"]
        title = {
            "conv": "Convolution: ⌊(n − k + p + s)/s⌋",
            "pool": "Pooling: ⌈(n − k + p + s)/s⌉ (ceil mode)"
            if any("⌈" in r["formula_h"] + r["formula_w"] for r in rows)
            else "Pooling: ⌊(n − k + p + s)/s⌋",
            "transposed": "Transposed convolution: (n − 1)·s − p + d·(k − 1) + output_padding + 1",
        }[kind]
        table_rows = []
        for r in rows:
            axes = [
                (
                    "H",
                    r["in_h"],
                    r["kernel_h"],
                    r["dilation_h"],
                    r["stride_h"],
                    (r["pad_top"], r["pad_bottom"]),
                    r["formula_h"],
                    r["out_h"],
                ),
                (
                    "W",
                    r["in_w"],
                    r["kernel_w"],
                    r["dilation_w"],
                    r["stride_w"],
                    (r["pad_left"], r["pad_right"]),
                    r["formula_w"],
                    r["out_w"],
                ),
            ]
            if axes[0][1:] == axes[1][1:]:
                axes = [("H, W", *axes[0][1:])]
            for axis, n, k, d, s, pads, formula, out in axes:
                ktext = str(k) if d == 1 else f"{k} (d{d} → {d * (k - 1) + 1})"
                table_rows.append(
                    [
                        axis,
                        str(n),
                        ktext,
                        str(s),
                        _pad_text(pads),
                        str(sum(pads)),
                        formula,
                        str(out),
                    ]
                )
        _echo_table(
            render_table(
                ["axis", "n", "k", "s", "pad", "p", "formula", "out"],
                table_rows,
                title=title,
                right=["n", "k", "s", "p", "out"],
                width=width,
                color=color,
            )
        )
    if params:
        for report, r in zip(reports, rows, strict=True):
            c, f = r["channels"], r["filters"]
            kh, kw = r["kernel_h"], r["kernel_w"]
            h, w, oh, ow = r["in_h"], r["in_w"], r["out_h"], r["out_w"]
            has_bias = report.bias
            positions = f"{h}·{w}" if r["layer"] == "transposed" else f"{oh}·{ow}"
            fc_bias = f" + {f}·{oh}·{ow}" if has_bias else ""
            # integer arithmetic: both counts may be beyond a float (--in 10**400)
            dense_params, conv_params = r["dense_equivalent_params"], r["params"]
            ratio = (dense_params + conv_params // 2) // conv_params
            table_rows = [
                [
                    "parameters",
                    f"{f}·({c}·{kh}·{kw}{' + 1' if has_bias else ''})",
                    format_int(r["params"]),
                    format_count(r["params"]),
                ],
                [
                    "multiply-accumulates",
                    f"{positions}·{f}·{c}·{kh}·{kw}",
                    format_int(r["macs"]),
                    format_count(r["macs"]),
                ],
                [
                    "fully connected instead",
                    f"({c}·{h}·{w})·({f}·{oh}·{ow}){fc_bias}",
                    format_int(r["dense_equivalent_params"]),
                    format_count(r["dense_equivalent_params"]),
                ],
                ["weight sharing saves", "", f"{ratio:,}×", ""],
            ]
            _echo_table(
                render_table(
                    ["quantity", "formula", "count", "≈"],
                    table_rows,
                    title=f"Parameters: {c}×{h}×{w} → {f}×{oh}×{ow}",
                    right=["count", "≈"],
                    width=width,
                    color=color,
                )
            )
    if dense:
        table_rows = []
        for report, r in zip(reports, rows, strict=True):
            c, n = r["channels"], r["dense_units"]
            bias = f" + {n}" if report.bias else ""
            table_rows.append(
                [
                    f"{c}×{r['in_h']}×{r['in_w']}",
                    str(n),
                    f"{c}·{r['in_h']}·{r['in_w']}·{n}{bias}",
                    format_int(r["dense_params"]),
                    format_count(r["dense_params"]),
                ]
            )
        _echo_table(
            render_table(
                ["input", "units", "weights + biases", "parameters", ""],
                table_rows,
                title="Fully connected layer on the same input",
                right=["units", "parameters", ""],
                width=width,
                color=color,
            )
        )


# --------------------------------------------------------------------------
# solving backwards
# --------------------------------------------------------------------------


def _solve(
    inputs: Sequence[Pair],
    target: Pair,
    kernel: Pair,
    stride: Pair | None,
    padding: Any,
    dilation: Pair | None,
    pool: bool,
    fmt: str,
    show_all: bool = False,
) -> None:
    """Solve each input and axis for stride and padding, in closed form.

    The table shows runs of strides (one padding each), at most
    :data:`SOLVE_ROWS` in all unless ``show_all``; JSON, CSV and ``--quiet``
    list every choice, streamed as they are made.
    """
    from ..arithmetic.solve import solve_strides

    d = dilation or (1, 1)
    solved: list[tuple[str, Any]] = []
    for size in inputs:
        problems = []
        for axis in (0, 1):
            pad_axis = padding
            if isinstance(padding, tuple):
                pad_axis = padding[axis]
            problems.append(
                (
                    size[axis],
                    target[axis],
                    kernel[axis],
                    d[axis],
                    None if stride is None else stride[axis],
                    pad_axis,
                )
            )
        labels = ["H", "W"]
        if problems[0] == problems[1]:
            problems, labels = problems[:1], ["H, W"]
        for label, (n, out, k, dil, st, pad) in zip(labels, problems, strict=True):
            max_padding = k // 2 if pool else None
            try:
                found = solve_strides(n, out, k, dil, st, pad, max_padding)
            except ShapeError as exc:
                raise _fail(exc) from None
            if not found:
                raise click.UsageError(
                    f"no stride and padding turn {n} into {out} with a {k}-wide "
                    f"{'window' if pool else 'kernel'}"
                    + (f" (dilation {dil})" if dil != 1 else "")
                    + (f" and stride {st}" if st is not None else "")
                )
            solved.append((label, found))
    if fmt == "table":
        _solve_table(solved, show_all)
    else:
        from ..arithmetic.limits import check_listed_choices

        check_listed_choices(sum(found.count for _, found in solved), f"--{fmt}")
        _stream(_solve_lines(solved, fmt))


def _solve_rows(solved: Sequence[tuple[str, Any]]) -> Iterator[dict[str, Any]]:
    """One row per choice, in order (lazily: there may be billions)."""
    for label, found in solved:
        n, out, k, dil = found.n, found.out, found.k, found.dilation
        for s, before, after in found.choices():
            yield {
                "axis": label,
                "n": n,
                "out": out,
                "kernel": k,
                "dilation": dil,
                "stride": s,
                "pad_before": before,
                "pad_after": after,
                "padding": str(before) if before == after else f"{before}:{after}",
                "total_padding": before + after,
                "note": ", ".join(padding_words(n, k, s, (before, after), dil)),
                "formula": conv_formula(n, k, s, (before, after), dil),
            }


def _solve_lines(solved: Sequence[tuple[str, Any]], fmt: str) -> Iterator[str]:
    """The choices as JSON (a list, as ``to_json`` writes it), CSV or ``stride padding`` lines."""
    if fmt == "quiet":
        for _, found in solved:
            for s, before, after in found.choices():
                yield f"{s} {before}\n" if before == after else f"{s} {before}:{after}\n"
        return
    rows = _solve_rows(solved)
    if fmt == "csv":
        from ..output import to_csv

        yield to_csv([], SOLVE_HEADERS)
        for row in rows:
            yield to_csv([row], SOLVE_HEADERS).partition("\n")[2]
    else:
        from ..output import to_json

        yield "["
        for index, row in enumerate(rows):
            item = to_json(row).replace("\n", "\n  ")
            yield f"{',' if index else ''}\n  {item}"
        yield "\n]\n"


def _stream(pieces: Iterator[str], chunk: int = 1 << 16) -> None:
    """Write ``pieces`` to stdout in chunks of about ``chunk`` characters."""
    buffer: list[str] = []
    size = 0
    for piece in pieces:
        buffer.append(piece)
        size += len(piece)
        if size >= chunk:
            click.echo("".join(buffer), nl=False)
            buffer, size = [], 0
    click.echo("".join(buffer), nl=False)


#: the table of --out shows at most this many rows (runs of strides) for one
#: problem (one --in, both axes alike); several share about 6
SOLVE_ROWS = 10


def _solve_table(solved: Sequence[tuple[str, Any]], show_all: bool) -> None:
    """The choices as runs of strides: at most :data:`SOLVE_ROWS` rows unless ``show_all``.

    One problem (one input, both axes alike) names itself in the title; several
    get the ``axis`` and ``n → out`` columns. A run of strides is checked with
    the formula in ``s`` (and ``p``, for ``same`` padding that grows with ``s``).
    """
    from itertools import islice

    from ..output import color_enabled, render_table

    one = len(solved) == 1
    # several problems have four more columns, so their rows are taller
    limit = None if show_all else SOLVE_ROWS if one else max(2, 6 // len(solved))
    rows = []
    counts = []
    cut = ranged = False
    for label, found in solved:
        n, out, k, dil = found.n, found.out, found.k, found.dilation
        span = dil * (k - 1) + 1
        runs = list(islice(found.ranges(), None if limit is None else limit + 1))
        if limit is not None and len(runs) > limit:
            runs, cut = runs[:limit], True
        for run in runs:
            before, after = run.before, run.after
            growing = run.step and run.count > 1
            if run.count == 1:
                check = conv_formula(n, k, run.first, (before, after), dil)
            else:
                ranged = True
                p = "p" if growing else str(run.total)
                check = f"⌊({n} − {span} + {p} + s)/s⌋ = {out}"
            strides = str(run.first) if run.count == 1 else f"{run.first}–{run.last}"
            if len(strides) > 20:  # two lines rather than a table wider than the screen
                strides = strides.replace("–", "–\n")
            cells = [
                strides,
                "same" if growing else str(before) if before == after else f"{before}:{after}",
                f"{run.total}–{run.last_total}" if growing else str(run.total),
                ", ".join(run.words),
                check,
            ]
            if not one:
                kernel = str(k) if dil == 1 else f"{k} d{dil}"
                cells = [label, f"{n} → {out}", kernel, *cells]
            rows.append(cells)
        if found.count > len(runs):
            where = "" if one else f"{label} {n} → {out}: "
            counts.append(f"{where}{found.count:,} choices in all")
    headers = ["--s", "--p", "p", "note", "check"]
    title = "Stride and padding choices"
    if one:
        label, found = solved[0]
        kernel = f"k {found.k}" + ("" if found.dilation == 1 else f" d{found.dilation}")
        axes = "both axes" if label == "H, W" else f"axis {label}"
        title = f"{title}: {found.n} → {found.out}, {kernel}, {axes}"
    else:
        headers = ["axis", "n → out", "k", *headers]
    caption = None
    if counts or cut:
        notes = [*counts, "s: any stride of the row's range"] if ranged else counts
        if cut:
            notes.append("the first rows shown, --all shows every row")
        notes.append("--csv, --json or --quiet list every choice")
        caption = "; ".join(notes)
    _echo_table(
        render_table(
            headers,
            rows,
            title=title,
            caption=caption,
            right=["k", "--s", "p"],
            no_wrap=["n → out"],
            width=_width(),
            color=color_enabled(sys.stdout),
        )
    )


# --------------------------------------------------------------------------
# whole networks
# --------------------------------------------------------------------------


def _network(
    size: Pair | None,
    channels: int | None,
    layers_text: str | None,
    arch: str | None,
    spec: Any,
    fmt: str,
    depth: int | None = None,
    dtype: str | None = None,
) -> None:
    from ..arithmetic.network import analyze_network
    from ..arithmetic.presets import ARCHITECTURES
    from ..arithmetic.spec import load_spec, parse_layers

    default: tuple[int, int, int] | None = None
    name = "network"
    if arch:
        preset = ARCHITECTURES[arch]
        layers, default, name = list(preset.layers), preset.input_shape, arch
    elif spec is not None:
        name = getattr(spec, "name", "spec")
        try:
            layers, default = load_spec(_read_spec(spec, name))
        except ShapeError as exc:
            raise _fail(exc, f"--spec {name}: ") from None
    else:
        try:
            layers = parse_layers(layers_text or "")
        except ShapeError as exc:
            raise _fail(exc, "--layers: ") from None
    if size is None:
        if default is None:
            raise click.UsageError("give the input size with --in (and --channels, default 3)")
        c, h, w = default
        if channels:
            c = channels
    else:
        c = channels or (default[0] if default else 3)
        h, w = size
    try:
        summary = analyze_network(layers, (c, h, w))
    except ShapeError as exc:
        raise _fail(exc) from None

    _show_network(name, summary, fmt, depth, dtype or "float32")


def _read_spec(spec: Any, name: str) -> str:
    """The text of a ``--spec`` file: UTF-8, at most the size of a file read whole."""
    from ..arithmetic.limits import MAX_READ_BYTES
    from ..errors import LimitError

    try:
        text = spec.read(MAX_READ_BYTES + 1)
    except UnicodeDecodeError as exc:
        raise click.UsageError(
            f"--spec {name}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset "
            f"{exc.start}); a spec is JSON or the layer language"
        ) from None
    if len(text) > MAX_READ_BYTES:
        raise LimitError(
            f"--spec {name}: more than {MAX_READ_BYTES} characters; the limit for a file "
            "convcli reads whole is 256 MiB"
        )
    if "\0" in text:
        raise click.UsageError(
            f"--spec {name}: holds NUL bytes (a binary file?); a spec is JSON or the layer language"
        )
    return text


def _show_network(
    name: str, summary: Any, fmt: str, depth: int | None, dtype: str, source: str = "network"
) -> None:
    """Print a :class:`~convcli.arithmetic.network.NetworkSummary` as a table, JSON or CSV.

    ``depth`` collapses it to its first levels of nesting; the totals come
    from the whole network either way.
    """
    from ..arithmetic.counts import memory_bytes

    shown = summary.collapse(depth) if depth else summary
    if fmt == "quiet":
        click.echo("x".join(str(v) for v in summary.output_shape))
        return
    for note in summary.notes:
        click.echo(f"Note: {note}", err=True)
    data_rows: list[dict[str, Any]] = [
        {
            "index": r.index,
            "depth": r.depth,
            "layer": r.kind,
            "config": r.config,
            "output": "x".join(str(v) for v in r.shape),
            "params": r.params,
            "macs": r.macs,
            "rf_h": r.rf[0] if r.rf else None,
            "rf_w": r.rf[1] if r.rf else None,
            "jump_h": r.jump[0] if r.jump else None,
            "jump_w": r.jump[1] if r.jump else None,
            "leaf": r.leaf,
            "flops": r.flops,
            "output_size": r.output_size,
            "activations": r.activations,
            "param_bytes": memory_bytes(r.params, dtype),
            "activation_bytes": memory_bytes(r.activations, dtype),
        }
        for r in shown.rows
    ]
    totals = {
        "total_params": summary.total_params,
        "total_macs": summary.total_macs,
        "total_flops": summary.total_flops,
        "total_activations": summary.total_activations,
        "dtype": dtype,
        "bytes_per_value": memory_bytes(1, dtype),
        "param_bytes": summary.param_bytes(dtype),
        "activation_bytes": summary.activation_bytes(dtype),
        "forward_backward_bytes": summary.forward_backward_bytes(dtype),
        "input_bytes": summary.input_bytes(dtype),
    }
    totals["total_bytes"] = (
        totals["input_bytes"] + totals["param_bytes"] + totals["forward_backward_bytes"]
    )
    if fmt == "json":
        from ..output import to_json

        for row, r in zip(data_rows, shown.rows, strict=True):
            row["output"] = list(r.shape)
        click.echo(
            to_json(
                {
                    "name": name,
                    "source": source,
                    "input": list(summary.input_shape),
                    "output": list(summary.output_shape),
                    **totals,
                    "depth": depth,
                    "notes": list(summary.notes),
                    "layers": data_rows,
                }
            )
        )
        return
    if fmt == "csv":
        from ..output import to_csv

        click.echo(to_csv(data_rows, NETWORK_HEADERS), nl=False)
        return

    from ..output import (
        color_enabled,
        format_count,
        format_int,
        format_pair,
        format_shape,
        render_table,
    )

    width = _width()
    wide = width >= WIDE
    table_rows = []
    styles: list[str | None] = []
    for r in shown.rows:
        label = r.config if r.kind != "add" else "+ shortcut"
        params = format_int(r.params) if r.leaf else f"({format_int(r.params)})"
        macs = format_int(r.macs) if r.leaf else f"({format_int(r.macs)})"
        cells = [
            r.index,
            "  " * r.depth + label,
            format_shape(r.shape),
            params if r.params or not r.leaf else "—",
            macs if r.macs or not r.leaf else "—",
        ]
        if wide:
            flops = format_int(r.flops) if r.leaf else f"({format_int(r.flops)})"
            cells.append(flops if r.flops or not r.leaf else "—")
            cells.append(_megabytes(memory_bytes(r.activations, dtype)))
        cells += [format_pair(r.rf), format_pair(r.jump)]
        table_rows.append(cells)
        styles.append("bold" if not r.leaf else None)
    headers = ["#", "layer", "output", "params", "MACs"]
    if wide:
        headers += ["FLOPs", "act. MB"]
    headers += ["RF", "jump"]
    parts = [
        f"Total parameters: {format_int(summary.total_params)} "
        f"({format_count(summary.total_params)})",
        f"MACs: {format_count(summary.total_macs)}",
        f"FLOPs: {format_count(summary.total_flops)}",
        "",
        f"{dtype}, MB = 10⁶ bytes: params {_megabytes(totals['param_bytes'])}",
        f"activations {_megabytes(totals['activation_bytes'])}",
        f"input {_megabytes(totals['input_bytes'])}",
    ]
    color = color_enabled(sys.stdout)
    title = f"{name}: {format_shape(summary.input_shape)} → {format_shape(summary.output_shape)}"

    def render(caption: str | None, color: bool = color) -> str:
        return render_table(
            headers,
            table_rows,
            title=title,
            caption=caption,
            right=headers[2:],
            styles=styles,
            width=width,
            color=color,
        )

    table_width = max(len(line) for line in render(None, color=False).splitlines())
    _echo_table(render(_join_lines(parts, table_width)))


def _join_lines(parts: list[str], width: int) -> str:
    """Join ``parts`` with `` · `` into lines of at most ``width``; ``""`` starts a new line."""
    lines: list[str] = []
    line = ""
    for part in parts:
        if not part:
            if line:
                lines.append(line)
            line = ""
        elif line and len(line) + 5 + len(part) > width:
            lines.append(line)
            line = part
        else:
            line = f"{line}  ·  {part}" if line else part
    if line:
        lines.append(line)
    return "\n".join(lines)


def _onnx(path: str, dims: Sequence[str], fmt: str, depth: int | None, dtype: str) -> None:
    import os

    from ..arithmetic.onnx_model import analyze_onnx
    from ..errors import ConvcliError

    if not path.lower().endswith(".onnx"):
        raise click.UsageError(f"{path!r}: shape reads ONNX models (a .onnx file)")
    bound: dict[str, int] = {}
    for item in dims:
        name, _, value = item.partition("=")
        if not name or not value.isdigit() or int(value) < 1:
            raise click.UsageError(f"--dim {item!r}: write NAME=N with N >= 1, e.g. --dim N=1")
        bound[name.strip()] = int(value)
    if not os.path.isfile(path):
        raise click.UsageError(f"{path!r}: no such file")
    try:
        summary = analyze_onnx(path, bound)
    except ShapeError as exc:
        raise click.ClickException(str(exc)) from None
    except ConvcliError as exc:
        raise click.ClickException(str(exc)) from None
    _show_network(os.path.basename(path), summary, fmt, depth, dtype, source="onnx")


def _megabytes(size: int) -> str:
    """Bytes as decimal megabytes (10^6 bytes): two decimals, two digits under 0.1 MB.

    Examples
    --------
    >>> _megabytes(102_228_128), _megabytes(3136)
    ('102.23', '0.0031')
    """
    if size >= 10**5 or size == 0:  # in integers: a size may be beyond a float
        whole, cents = divmod((size + 5000) // 10**4, 100)
        return f"{whole:,}.{cents:02d}"
    return f"{size / 1e6:.2g}"
