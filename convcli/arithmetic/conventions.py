"""MACs as torchinfo, fvcore, ptflops and thop count them: ``convcli shape --count-as``.

Pure Python. convcli's own count (the default) is torchvision's: one MAC per
multiply-accumulate of a convolution, a transposed convolution (one scatter
per *input* cell) and a fully connected layer; no bias adds, nothing for
other layers. The tools differ, each by its own rules, read from their
source (torchinfo 1.8.0 ``layer_info.py``, fvcore 0.1.5 ``flop_count.py``
and ``jit_handles.py``, ptflops 0.7.5 ``pytorch_ops.py`` (its default
PyTorch backend), thop 0.1.1 ``vision/basic_hooks.py`` and ``calc_func.py``):

=================  =========  ========  ===========  ===========
layer              torchinfo  fvcore    ptflops      thop
=================  =========  ========  ===========  ===========
conv               (W + b)·S  W·S       W·S + b·S    W·S
transposed conv    (W + b)·S  W·Sin     W·Sin + b·S  W·S
linear             W + b      W         W + b        W
batch norm         2C         2·X       2·X          4·X
relu, relu6, elu,  0          0         2·Y          0
prelu, gelu
leakyrelu          0          0         Y            0
softmax            0          0         Y            0
max pool           0          0         2·X          0
avg pool           0          0         2·X          Y
adaptive avg pool  0          X         2·X          (X/Y + 1)·Y
resize (nearest)   0          Y         2·Y          Y
=================  =========  ========  ===========  ===========

ptflops' doubles are what its default (``count_functional=True``) reports:
the module's hook counts the layer, and the ``F.relu``, ``F.max_pool2d``,
``F.avg_pool2d``, ``F.adaptive_avg_pool2d`` or ``F.interpolate`` the module
calls is counted again (``F.leaky_relu`` and ``F.linear`` are not patched,
``nn.Softmax`` has no hook but ``F.softmax`` is patched). thop counts a
batch norm with affine weights as 4 operations a value (2 without).

W: the weights, b: the bias (one per output channel) of a layer, S: its
output's H·W (Sin: its input's), X and Y: its input's and output's
values, C: channels. Everything else (sigmoid, tanh, flatten, dropout, a
residual ``+``) counts 0 in all four. A batch of 1 throughout.

Examples
--------
>>> from convcli.arithmetic.network import analyze_network
>>> from convcli.arithmetic.spec import parse_layers
>>> net = analyze_network(parse_layers("conv 8 k3 p1, bn, relu, maxpool k2"), (3, 8, 8))
>>> [recount(net, way).total_macs for way in CONVENTIONS]
[13824, 14352, 14848, 17408, 15872]
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .lifetimes import row_steps
from .summary import NetworkSummary
from .support import product

__all__ = ["CONVENTIONS", "recount"]

#: the ways of counting ``--count-as`` offers; the first is convcli's own
CONVENTIONS = ("convcli", "torchinfo", "fvcore", "ptflops", "thop")
#: activations ptflops counts twice (module hook and patched functional), once, and not at all
_PTFLOPS_TWICE = ("relu", "relu6", "elu", "prelu", "gelu", "resize")
_PTFLOPS_ONCE = ("leakyrelu", "softmax")


def _spatial(shape: tuple[int, ...]) -> int:
    """Return H·W of a (N,) C, H, W shape; 1 for a flat one."""
    return shape[-1] * shape[-2] if len(shape) >= 3 else 1


def _row_macs(way: str, row: Any, in_size: int, in_shape: tuple[int, ...] | None) -> int:
    """Count one leaf row's MACs as ``way`` counts them."""
    kind, out_size, out_cells = row.kind, row.output_size, _spatial(row.shape)
    bias = "nobias" not in row.config.split()
    if kind in ("conv", "convt"):
        biases = row.shape[-3] if bias else 0
        if way == "torchinfo":
            return row.params * out_cells
        if way == "ptflops":
            return row.macs + biases * out_cells
        if way == "thop":  # weights × output cells: a transposed one's too
            return (row.params - biases) * out_cells
        return row.macs
    if kind == "linear":
        units = row.shape[-1]
        return row.macs + (units if bias and way in ("torchinfo", "ptflops") else 0)
    if kind == "bn":
        return {"torchinfo": row.params, "thop": 4 * out_size}.get(way, 2 * out_size)
    if way == "ptflops" and kind in _PTFLOPS_TWICE + _PTFLOPS_ONCE:
        return out_size * (2 if kind in _PTFLOPS_TWICE else 1)
    if kind in ("maxpool", "avgpool", "adaptiveavgpool", "adaptivemaxpool"):
        return _pool_macs(way, kind, in_size, out_size, in_shape, row.shape)
    if kind == "resize" and way in ("fvcore", "thop") and "nearest" in row.config:
        return out_size
    return 0


def _pool_macs(
    way: str,
    kind: str,
    in_size: int,
    out_size: int,
    in_shape: tuple[int, ...] | None,
    out_shape: tuple[int, ...],
) -> int:
    """Count a pool: ptflops its input twice, thop an average's output, fvcore an adaptive one's input."""
    if way == "ptflops":
        return 2 * in_size
    if way == "fvcore":
        return in_size if kind == "adaptiveavgpool" else 0
    if way == "thop" and kind == "avgpool":
        return out_size
    if way == "thop" and kind == "adaptiveavgpool" and in_shape is not None:
        window = _spatial(in_shape) / _spatial(out_shape)
        return int((window + 1) * out_size)
    return 0


def recount(summary: NetworkSummary, way: str) -> NetworkSummary:
    """Return ``summary`` with each row's MACs as ``way`` (one of :data:`CONVENTIONS`) counts them.

    A block's MACs are its layers' sum again; the notes say which count was used.

    Raises
    ------
    ValueError
        For a way not in :data:`CONVENTIONS`.
    """
    if way not in CONVENTIONS:
        raise ValueError(f"unknown count {way!r}: expected one of {', '.join(CONVENTIONS)}")
    if way == "convcli":
        return summary
    steps = row_steps(summary.rows, product(summary.input_shape))
    sizes = {step.name: step.size for step in steps}
    inputs = {step.name: step.inputs for step in steps}
    shapes = {row.index: row.shape for row in summary.rows}
    shapes["input"] = summary.input_shape
    leaves = {}
    for row in summary.rows:
        if row.leaf:
            src = inputs.get(row.index, ("input",))[0]
            leaves[row.index] = _row_macs(way, row, sizes.get(src, 0), shapes.get(src))
    rows = tuple(
        replace(row, macs=leaves[row.index])
        if row.leaf
        else replace(row, macs=sum(m for i, m in leaves.items() if i.startswith(f"{row.index}.")))
        for row in summary.rows
    )
    note = f"MACs are counted as {way} counts them (--count-as; docs/shape.md has the rules)"
    return replace(summary, rows=rows, notes=(*summary.notes, note))
