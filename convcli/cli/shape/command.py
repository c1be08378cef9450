"""The ``convcli shape`` command: its options, checked, and which part answers.

Pure Python: this module and everything it imports avoid numpy, scipy and
Pillow. The network machinery (:mod:`convcli.arithmetic.spec`, ``.network``
and ``.presets``) is imported only when a network is analysed (or ``--arch``
is validated or listed in the help), rich only when a table is printed:
``--json`` and ``--quiet`` on one layer load little beyond Click.
"""

from __future__ import annotations

from typing import Any

import click

from ...arithmetic.conventions import CONVENTIONS
from ..params import INT_PAIR, NONNEG_INT_PAIR, PADDING, IntPair
from .checks import check_in_range, check_layer, check_network, refuse_with_model
from .common import TwoAxes
from .layer import show_layers

Pair = tuple[int, int]

#: the types --dtype knows (convcli.arithmetic.counts.DTYPE_BYTES, whose
#: module this one does not import for a single layer)
DTYPES = ("float32", "float16", "bfloat16", "float64", "int8")

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
resnet50, as torchvision builds them; unet, padded, and unet-valid, the
paper's), --layers SPEC or --spec FILE (JSON or the same text). Input
C x H x W from --channels and --in, or the preset's default (3x224x224;
1x28x28 for lenet5; 1x512x512 for unet; 1x572x572 for unet-valid).
--depth N keeps the first N levels of nesting (same totals). Each row has
its parameters and multiply-accumulates (MACs; FLOPs = 2 x MACs); the
totals add the memory of the parameters and activations at --dtype
(float32: 4 bytes a value; MB = 10^6 bytes). --json and --csv carry every
field. --in-range LOW..HIGH lists the input sizes (n x n) for which every
layer fits and every residual block's branches agree, as a rule (e.g.
"multiples of 32, from 32") and a list; an --in that breaks names the
layer and the nearest sizes that work.

\b
ONNX models: convcli shape MODEL.onnx [--dim N=1] reads the model (needs
pip install '.[onnx]') and prints the same table for its Conv,
ConvTranspose, pooling, Gemm/MatMul, BatchNormalization, Pad, Resize and
shape-only nodes (shape plumbing folded away); a symbolic batch stays N,
counted as 1; ceil_mode pooling follows the model's opset (a note says so).

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
  cat(BODY | SHORTCUT)             the same, concatenated (U-Net skip)
  upsample N|HxW [bilinear]        nearest (or bilinear) upsampling by N
  crop N|HxW                       cut N cells from each side (a skip)
  N*LAYER, N*(A, B, ...)           repetition (any N: long ones compressed)
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
  convcli shape --arch alexnet --in-range 1..70
  convcli shape --arch unet-valid --in-range 500..700
"""


class _InputSize(IntPair):
    """``--in``: N or HxW, remembering whether the user gave two axes."""

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[int, int]:
        """Read N or HxW; an HxW value comes back as :class:`TwoAxes`."""
        pair = super().convert(value, param, ctx)
        if isinstance(value, str) and len(pair) == 2 and any(c in value for c in "xX×,"):
            return TwoAxes(pair)
        return pair


class _SizeRange(click.ParamType):
    """``LOW..HIGH``: two whole numbers, 1 <= LOW <= HIGH."""

    name = "LOW..HIGH"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[int, int]:
        """Read ``LOW..HIGH``, or fail with the form to write."""
        if isinstance(value, tuple):
            return value
        import re

        match = re.fullmatch(r"\s*(\d{1,18})\s*\.\.\s*(\d{1,18})\s*", str(value))
        if match is None:
            self.fail(f"{value!r} is not LOW..HIGH (e.g. 200..1100)", param, ctx)
        low, high = int(match.group(1)), int(match.group(2))
        if not 1 <= low <= high:
            self.fail(f"{value!r}: LOW must be at least 1 and at most HIGH", param, ctx)
        return (low, high)


class _ArchChoice(click.Choice):
    """Offer the preset names as a ``click.Choice``, read only when Click needs them.

    They come from :mod:`convcli.arithmetic.presets` when Click checks a
    value or writes the help, so that a single layer does not pay for
    importing the network code.
    """

    def __init__(self) -> None:
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        from ...arithmetic.presets import ARCHITECTURES

        return tuple(sorted(ARCHITECTURES))

    @choices.setter
    def choices(self, value: Any) -> None:  # Choice.__init__ assigns; the names are fixed
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
    "--in-range",
    "in_range",
    type=_SizeRange(),
    metavar="LOW..HIGH",
    help="A network's input sizes (n×n) from LOW to HIGH that work, as a rule and a list.",
)
@click.option(
    "--depth",
    type=click.IntRange(min=1),
    metavar="N",
    help="Show a network's first N levels of nesting (totals unchanged).",
)
@click.option(
    "--max-layers",
    type=click.IntRange(min=1),
    metavar="N",
    help="The most rows a network's analysis may hold (default 10,000; a long N*(...) "
    "holds its first and last repetitions and one row between).",
)
@click.option(
    "--dtype",
    type=click.Choice(DTYPES),
    help="Value type for a network's memory (default float32).",
)
@click.option(
    "--count-as",
    "count_as",
    type=click.Choice(CONVENTIONS),
    help="Count a network's MACs as this tool does (default convcli's: convolutions and "
    "fully connected layers, no bias).",
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
    in_range: Pair | None,
    depth: int | None,
    max_layers: int | None,
    dtype: str | None,
    count_as: str | None,
    spec: Any,
    as_json: bool,
    as_csv: bool,
    quiet: bool,
) -> None:
    """Run ``convcli shape``: check the options, then hand over to the part that answers."""
    if sum((as_json, as_csv, quiet)) > 1:
        raise click.UsageError("use only one of --json, --csv and --quiet")
    fmt = "json" if as_json else "csv" if as_csv else "quiet" if quiet else "table"
    if show_all and target is None:
        raise click.UsageError("--all shows every choice of --out: give --out")
    if model_class or code or (model and not model.lower().endswith(".onnx")):
        from ..model_route import read_model_options  # .pt2 .keras .h5 .py: convcli.models
        from .model import show_network

        name, summary, source = read_model_options(click.get_current_context().params)
        show_network(name, summary, fmt, depth, dtype or "float32", source=source)
        return
    window = {
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
    sources = {"--layers": layers, "--arch": arch, "--spec": spec}
    if model is not None:
        items = list(window.items())  # in the order the message names the first one
        options = dict(
            [
                ("--in", inputs[1:]),  # one --in binds the input's height and width
                *items[:4],
                ("--channels", channels),
                *items[4:],
                *sources.items(),
                ("--in-range", in_range),
            ]
        )
        refuse_with_model(model, options)
        from .model import show_onnx

        show_onnx(model, dims, fmt, depth, dtype or "float32", inputs[0] if inputs else None)
        return
    if dims:
        raise click.UsageError("--dim binds a dimension of a model file: give MODEL.onnx")
    given = [name for name, value in sources.items() if value]
    if given:
        check_network(given, window, inputs)
        check_in_range(in_range, inputs, depth, dtype, count_as)
        from ...arithmetic.limits import layer_limit
        from .network import show_spec_network

        size = inputs[0] if inputs else None

        with layer_limit(max_layers):
            show_spec_network(size, channels, layers, arch, spec, fmt, depth, dtype, in_range)
        return
    network_only = (
        ("--depth", depth),
        ("--dtype", dtype),
        ("--in-range", in_range),
        ("--max-layers", max_layers),
        ("--count-as", count_as),
    )
    for name, value in network_only:
        if value:
            raise click.UsageError(f"{name} describes a network: give --arch, --layers or --spec")
    if not inputs:
        raise click.UsageError(
            "give --in (with --k for a layer, or --dense), or a network with --arch, "
            "--layers or --spec"
        )
    check_layer(window, channels)
    if target is not None:
        assert kernel is not None
        from .solve import solve

        solve(inputs, target, kernel, stride, padding, dilation, pool, fmt, show_all)
        return
    show_layers(
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
