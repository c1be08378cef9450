"""Parameters and multiply-accumulates of single layers: each count defined once.

Pure Python (no numpy). The network analysis
(:mod:`convcli.arithmetic.network`) and the one-layer report of
``convcli shape`` (:mod:`convcli.arithmetic.layer`) both count with these.

Parameters are those of PyTorch's ``model.parameters()``: weights and biases,
BatchNorm's scale and shift (its running statistics are buffers).
Multiply-accumulates (MACs) count the convolutions and fully connected layers
only, as torchvision's published GFLOPS figures do.

Examples
--------
>>> conv_params(3, 64, (11, 11))
23296
>>> conv_macs((55, 55), 3, 64, (11, 11))
70276800
>>> linear_params(9216, 4096)
37752832
"""

from __future__ import annotations

from collections.abc import Sequence

#: Bytes per value of the types ``convcli shape --dtype`` knows.
DTYPE_BYTES: dict[str, int] = {
    "float16": 2,
    "bfloat16": 2,
    "float32": 4,
    "float64": 8,
    "int8": 1,
}

__all__ = [
    "DTYPE_BYTES",
    "batchnorm_params",
    "conv_macs",
    "conv_params",
    "flops",
    "linear_macs",
    "linear_params",
    "memory_bytes",
    "transposed_conv_macs",
    "transposed_conv_params",
    "weight_sharing_ratio",
]


def conv_params(
    channels: int, filters: int, kernel: Sequence[int], groups: int = 1, bias: bool = True
) -> int:
    """Weights and biases of a convolution: ``F·(C/g)·kh·kw (+ F)``.

    Examples
    --------
    >>> conv_params(64, 128, (3, 3), bias=False)
    73728
    """
    return filters * (channels // groups) * kernel[0] * kernel[1] + (filters if bias else 0)


def conv_macs(
    out_size: Sequence[int], channels: int, filters: int, kernel: Sequence[int], groups: int = 1
) -> int:
    """Multiply-accumulates of a convolution: one window per output cell, ``oh·ow·F·(C/g)·kh·kw``.

    Examples
    --------
    >>> conv_macs((112, 112), 3, 64, (7, 7))
    118013952
    """
    return out_size[0] * out_size[1] * filters * (channels // groups) * kernel[0] * kernel[1]


def transposed_conv_params(
    channels: int, filters: int, kernel: Sequence[int], groups: int = 1, bias: bool = True
) -> int:
    """Weights and biases of a transposed convolution: ``C·(F/g)·kh·kw (+ F)``.

    Examples
    --------
    >>> transposed_conv_params(64, 32, (4, 4))
    32800
    """
    return channels * (filters // groups) * kernel[0] * kernel[1] + (filters if bias else 0)


def transposed_conv_macs(
    in_size: Sequence[int], channels: int, filters: int, kernel: Sequence[int], groups: int = 1
) -> int:
    """Multiply-accumulates of a transposed convolution: one scatter per *input* cell.

    ``h·w·C·(F/g)·kh·kw``.

    Examples
    --------
    >>> transposed_conv_macs((8, 8), 64, 32, (4, 4))
    2097152
    """
    return in_size[0] * in_size[1] * channels * (filters // groups) * kernel[0] * kernel[1]


def linear_params(inputs: int, units: int, bias: bool = True) -> int:
    """Weights and biases of a fully connected layer: ``inputs·units (+ units)``.

    Examples
    --------
    >>> linear_params(84, 10)
    850
    """
    return inputs * units + (units if bias else 0)


def linear_macs(inputs: int, units: int) -> int:
    """Multiply-accumulates of a fully connected layer: ``inputs·units``.

    Examples
    --------
    >>> linear_macs(84, 10)
    840
    """
    return inputs * units


def batchnorm_params(channels: int) -> int:
    """BatchNorm's scale and shift: 2 per channel (running statistics are buffers).

    Examples
    --------
    >>> batchnorm_params(64)
    128
    """
    return 2 * channels


def weight_sharing_ratio(conv: int, dense: int) -> float:
    """How many times more parameters a fully connected layer needs than a convolution.

    ``dense / conv``: the convolution's parameters against those of a fully
    connected layer from the same input to the same output; ``inf`` when the
    ratio is beyond a float (an input of 10**400 cells).

    Examples
    --------
    >>> weight_sharing_ratio(1792, 3 * 32 * 32 * 64 * 32 * 32 + 64 * 32 * 32)
    112384.0
    >>> weight_sharing_ratio(10, 10**400)
    inf
    """
    try:
        return dense / conv
    except OverflowError:
        return float("inf")


def flops(macs: int) -> int:
    """Floating-point operations of ``macs`` multiply-accumulates: one multiply and one add each.

    fvcore calls MACs "flops" and torchinfo says "Mult-Adds"; convcli keeps
    the two names apart: FLOPs = 2 × MACs.

    Examples
    --------
    >>> flops(4_089_184_256)
    8178368512
    """
    return 2 * macs


def memory_bytes(values: int, dtype: str = "float32") -> int:
    """Bytes taken by ``values`` numbers of type ``dtype`` (a key of :data:`DTYPE_BYTES`).

    Examples
    --------
    >>> memory_bytes(25_557_032)
    102228128
    >>> memory_bytes(1000, "bfloat16")
    2000

    Raises
    ------
    ValueError
        For a type not in :data:`DTYPE_BYTES`.
    """
    try:
        size = DTYPE_BYTES[dtype]
    except KeyError:
        raise ValueError(
            f"unknown dtype {dtype!r}: expected one of {', '.join(DTYPE_BYTES)}"
        ) from None
    return values * size
