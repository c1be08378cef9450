"""What one window layer does to its input: THE layer-effect function (pure Python).

A convolution, a transposed convolution or a pooling window on a C×H×W
input, its :class:`~convcli.arithmetic.geometry.Geometry` resolved, gives
an output shape, parameters, multiply-accumulates and a receptive field:
:func:`layer_effect` answers all four, and the one-layer report
(:mod:`.layer`), the network analysis (:mod:`.network`) and the ONNX reader
(:mod:`.onnx_model`) ask it, as should every model reader.

Examples
--------
>>> geo = Geometry.resolve((224, 224), 11, stride=4, padding=2)
>>> e = layer_effect(3, geo, "conv", 64)
>>> e.shape, e.params, e.macs, e.field
((64, 55, 55), 23296, 70276800, ((11, 11), (4, 4)))
>>> layer_effect(64, Geometry.resolve((55, 55), 3, stride=2, pooling=True), "pool").shape
(64, 27, 27)
"""

from __future__ import annotations

from dataclasses import dataclass

from .counts import conv_macs, conv_params, transposed_conv_macs, transposed_conv_params
from .geometry import Geometry
from .support import Field, Pair, grow

__all__ = ["START_FIELD", "Effect", "layer_effect"]

#: The receptive field and jump of the input itself: one pixel, one pixel apart.
START_FIELD: Field = ((1, 1), (1, 1))


@dataclass(frozen=True)
class Effect:
    """One layer's effect on one input.

    Attributes
    ----------
    shape : (C, H, W)
        The output's channels (the filters, or the input's channels for a
        pool), height and width.
    params, macs : int
        Parameters and multiply-accumulates (for ``batch`` inputs).
    field : (rf, jump)
        The receptive field and jump after the layer, each (H, W) or None.
    """

    shape: tuple[int, int, int]
    params: int
    macs: int
    field: Field


def layer_effect(
    channels: int,
    geometry: Geometry,
    kind: str = "conv",
    filters: int | None = None,
    *,
    groups: int = 1,
    bias: bool = True,
    output_padding: Pair = (0, 0),
    field: Field = START_FIELD,
    batch: int = 1,
    out: Pair | None = None,
) -> Effect:
    """Compute the output shape, parameters, MACs and receptive field of one window layer.

    Parameters
    ----------
    channels : int
        The input's channels.
    geometry : Geometry
        The layer's resolved geometry on the input's (H, W).
    kind : {"conv", "transposed", "pool"}
        The layer's kind.
    filters : int, optional
        Output channels of a convolution; without them a convolution counts
        no parameters or MACs and keeps ``channels``.
    groups, bias, output_padding
        A convolution's groups, whether it has biases, and a transposed
        convolution's extra output cells.
    field : (rf, jump)
        The receptive field and jump of the input.
    batch : int
        Inputs in a batch: multiplies the MACs.
    out : (int, int), optional
        The output (H, W) when the caller's framework sizes it differently
        (an ONNX ``output_shape``, ONNX's ceil-mode pooling before opset 22).

    Raises
    ------
    ShapeError
        When the window does not fit, with the formula's numbers.
    """
    h, w = geometry.size
    f = filters or channels
    params = macs = 0
    if kind == "transposed":
        size = out or geometry.transposed_shape(output_padding)
        if filters:
            params = transposed_conv_params(channels, f, geometry.kernel, groups, bias)
            macs = batch * transposed_conv_macs((h, w), channels, f, geometry.kernel, groups)
        return Effect((f, *size), params, macs, (None, None))
    size = out or geometry.output_shape
    if kind == "conv" and filters:
        params = conv_params(channels, f, geometry.kernel, groups, bias)
        macs = batch * conv_macs(size, channels, f, geometry.kernel, groups)
    elif kind == "pool":
        f = channels
    return Effect((f, *size), params, macs, grow(field, geometry.span, geometry.stride))
