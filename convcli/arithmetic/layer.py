"""One layer on one input, everything ``convcli shape`` reports about it.

Pure Python (no numpy). :func:`analyze_layer` resolves the layer's
:class:`~convcli.arithmetic.geometry.Geometry` once and answers, per axis,
the output size, the formula with the numbers put in and the input cells no
window reads; with channels and filters the parameters, multiply-accumulates
and the fully connected layer that would do the same job; with ``dense`` the
parameters of a fully connected layer on the input. The command line only
renders a :class:`LayerReport`.

Examples
--------
>>> r = analyze_layer((224, 224), (11, 11), stride=(4, 4), padding=2, channels=3, filters=64)
>>> r.out_h, r.formula_h, r.params, r.macs
(55, '⌊(224 − 11 + 4 + 4)/4⌋ = ⌊55.25⌋ = 55', 23296, 70276800)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from .counts import linear_params, weight_sharing_ratio
from .coverage import uncovered_cells
from .effect import layer_effect
from .formulas import conv_formula, pool_formula, transposed_formula
from .geometry import Geometry
from .padding import PaddingSpec

__all__ = ["LayerReport", "analyze_layer"]

Pair = tuple[int, int]


@dataclass(frozen=True)
class LayerReport:
    """What one layer does to one input size, flat, as ``shape --json`` prints it.

    Fields are None where they do not apply (no kernel: a ``dense`` row only;
    no filters: no parameters). :meth:`as_row` gives the fields that apply, in
    this order.

    Attributes
    ----------
    in_h, in_w : int
        The input size.
    layer : {"conv", "pool", "transposed"}, optional
        The window's kind (None without a kernel).
    kernel_h ... pad_right : int, optional
        The resolved geometry.
    output_padding_h, output_padding_w : int, optional
        A transposed convolution's extra output cells.
    out_h, out_w : int, optional
        The output size.
    formula_h, formula_w : str, optional
        The size formula with the numbers put in.
    uncovered_rows, uncovered_cols : int, optional
        Input rows and columns no window reads.
    channels, filters : int, optional
        Input channels and output channels.
    params, macs : int, optional
        The layer's parameters and multiply-accumulates.
    dense_equivalent_params : int, optional
        A fully connected layer from the same input to the same output.
    dense_units, dense_params : int, optional
        A fully connected layer of ``dense_units`` units on the input.
    bias : bool
        Whether biases were counted (not part of :meth:`as_row`).
    """

    in_h: int
    in_w: int
    layer: str | None = None
    kernel_h: int | None = None
    kernel_w: int | None = None
    stride_h: int | None = None
    stride_w: int | None = None
    dilation_h: int | None = None
    dilation_w: int | None = None
    pad_top: int | None = None
    pad_bottom: int | None = None
    pad_left: int | None = None
    pad_right: int | None = None
    output_padding_h: int | None = None
    output_padding_w: int | None = None
    out_h: int | None = None
    out_w: int | None = None
    formula_h: str | None = None
    formula_w: str | None = None
    uncovered_rows: int | None = None
    uncovered_cols: int | None = None
    channels: int | None = None
    filters: int | None = None
    params: int | None = None
    macs: int | None = None
    dense_equivalent_params: int | None = None
    dense_units: int | None = None
    dense_params: int | None = None
    bias: bool = True

    def as_row(self) -> dict[str, Any]:
        """Return the fields that apply (not None), in order, without ``bias``."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name != "bias" and getattr(self, f.name) is not None
        }

    @property
    def weight_sharing(self) -> float | None:
        """How many times more parameters the fully connected equivalent needs."""
        if self.params is None or self.dense_equivalent_params is None:
            return None
        return weight_sharing_ratio(self.params, self.dense_equivalent_params)


def analyze_layer(
    size: Sequence[int],
    kernel: Sequence[int] | None = None,
    *,
    stride: Sequence[int] | None = None,
    padding: PaddingSpec | None = None,
    dilation: Sequence[int] | None = None,
    channels: int | None = None,
    filters: int | None = None,
    bias: bool = True,
    dense: int | None = None,
    transposed: bool = False,
    output_padding: Sequence[int] | None = None,
    pool: bool = False,
    ceil_mode: bool = False,
) -> LayerReport:
    """Report one convolution, transposed convolution or pooling layer on one input.

    Parameters
    ----------
    size : (int, int)
        The input's height and width.
    kernel : (int, int), optional
        The window; None for a ``dense`` report only.
    stride, padding, dilation
        As for :meth:`Geometry.resolve` (stride defaults to the window with
        ``pool``; padding to 0).
    channels, filters : int, optional
        Input channels (1 when omitted) and filters: with ``filters`` the
        parameters, MACs and fully connected equivalent are counted.
    bias : bool
        Count biases.
    dense : int, optional
        Also count a fully connected layer of this many units on the input.
    transposed, output_padding, pool, ceil_mode
        The layer's kind and its options.

    Raises
    ------
    ShapeError
        When the window does not fit, with the formula's numbers.
    """
    h, w = int(size[0]), int(size[1])
    c = channels or 1
    report: dict[str, Any] = {"in_h": h, "in_w": w, "bias": bias}
    if kernel is not None:
        geo = Geometry.resolve(
            (h, w),
            (kernel[0], kernel[1]),
            stride=stride,
            padding=0 if padding is None else padding,
            dilation=dilation or (1, 1),
            pooling=pool,
            ceil_mode=ceil_mode,
        )
        op = (output_padding[0], output_padding[1]) if output_padding else (0, 0)
        kind = "pool" if pool else "transposed" if transposed else "conv"
        effect = layer_effect(c, geo, kind, filters, bias=bias, output_padding=op)
        report.update(_geometry_fields(geo, kind, op, effect.shape[1:]), channels=channels)
        if filters:
            out_cells = effect.shape[1] * effect.shape[2]
            report.update(
                filters=filters,
                params=effect.params,
                macs=effect.macs,
                dense_equivalent_params=linear_params(c * h * w, filters * out_cells, bias),
            )
    if dense is not None:
        report.update(
            channels=c, dense_units=dense, dense_params=linear_params(c * h * w, dense, bias)
        )
    return LayerReport(**report)


def _geometry_fields(geo: Geometry, kind: str, op: Pair, out: Sequence[int]) -> dict[str, Any]:
    """Return the report's per-axis fields: geometry, output, formula and uncovered cells."""
    formulas: list[str] = []
    uncovered: list[int] = []
    for n, k, st, pad, dil, opad, size in zip(
        geo.size, geo.kernel, geo.stride, geo.padding, geo.dilation, op, out, strict=True
    ):
        if kind == "pool":
            formulas.append(pool_formula(n, k, st, pad, geo.ceil_mode))
            uncovered.append(uncovered_cells(n, k, st, pad, 1, out=size))
        elif kind == "transposed":
            formulas.append(transposed_formula(n, k, st, pad, dil, opad))
            uncovered.append(0)
        else:
            formulas.append(conv_formula(n, k, st, pad, dil))
            uncovered.append(uncovered_cells(n, k, st, pad, dil))
    transposed = kind == "transposed"
    return {
        "layer": kind,
        "kernel_h": geo.kernel[0],
        "kernel_w": geo.kernel[1],
        "stride_h": geo.stride[0],
        "stride_w": geo.stride[1],
        "dilation_h": geo.dilation[0],
        "dilation_w": geo.dilation[1],
        "pad_top": geo.padding[0][0],
        "pad_bottom": geo.padding[0][1],
        "pad_left": geo.padding[1][0],
        "pad_right": geo.padding[1][1],
        "output_padding_h": op[0] if transposed else None,
        "output_padding_w": op[1] if transposed else None,
        "out_h": out[0],
        "out_w": out[1],
        "formula_h": formulas[0],
        "formula_w": formulas[1],
        "uncovered_rows": uncovered[0],
        "uncovered_cols": uncovered[1],
    }
