"""The arithmetic of a convolution written out, window by window, as on a blackboard.

:func:`conv_steps` lists, for every output cell, the input cells its window
covers, the products it sums and the result, in the textbook's form::

    Y[0,0] = 0×0 + 1×1 + 3×2 + 4×3 = 19

:func:`pool_steps` does the same for pooling (``Y[0,0] = max(0, 1, 3, 4) = 4``).
:func:`conv_operands` turns the shapes a person types (a 2-D matrix, a
``(C, H, W)`` tensor, a ``(C, kh, kw)`` or ``(C_out, C_in, kh, kw)`` kernel)
into the ``(C_in, H, W)`` input and ``(C_out, C_in, kh, kw)`` weights of
:func:`convcli.conv2d`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..arithmetic.geometry import Geometry
from ..arithmetic.sizes import PaddingSpec
from ..engine.arrays import as_numeric, check_finite
from ..engine.convolution import pad
from ..errors import ParameterError, ShapeError
from ..output import format_number

__all__ = [
    "Step",
    "conv_operands",
    "conv_steps",
    "pool_steps",
]


def conv_operands(
    x: np.ndarray, kernel: np.ndarray, groups: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Bring an input and a kernel to the shapes :func:`convcli.conv2d` takes.

    Parameters
    ----------
    x : ndarray, shape (H, W) or (C_in, H, W)
        The input; a 2-D matrix is one channel.
    kernel : ndarray, shape (kh, kw), (C, kh, kw) or (C_out, C_in, kh, kw)
        ``(kh, kw)``: one filter for a one-channel input. ``(C, kh, kw)``:
        one filter summing over C input channels when the input has C
        channels; C filters (C output channels) when the input has one.
        ``(C_out, C_in, kh, kw)``: a filter bank. With ``groups``,
        ``(C_out, C_in/groups, kh, kw)``, or ``(C_out, kh, kw)`` when each
        group holds one input channel (depthwise).
    groups : int, optional
        Split the channels into this many groups, as PyTorch's ``groups``.

    Returns
    -------
    (ndarray, ndarray)
        ``x`` as (C_in, H, W) and the weights as (C_out, C_in/groups, kh, kw).

    Raises
    ------
    ShapeError
        When the channel counts do not match, naming both shapes.

    Examples
    --------
    >>> x, w = conv_operands(np.zeros((2, 3, 3)), np.zeros((2, 2, 2)))
    >>> x.shape, w.shape
    ((2, 3, 3), (1, 2, 2, 2))
    """
    x = as_numeric(x, "x")
    k = as_numeric(kernel, "kernel")
    for arr, name in ((x, "x"), (k, "kernel")):
        if arr.size == 0:
            raise ShapeError(f"`{name}` is empty: shape {arr.shape}")
        check_finite(arr, name)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise ShapeError(f"the input must be (H, W) or (C, H, W), got shape {x.shape}")
    c_in = x.shape[0]
    if groups != 1:
        return x, _grouped_weights(x.shape, k, groups)
    if k.ndim == 1:
        k = k[None]
    if k.ndim == 2:
        if c_in != 1:
            raise ShapeError(
                f"a {k.shape[0]}×{k.shape[1]} kernel with a {c_in}-channel input {x.shape}: "
                f"give a ({c_in}, {k.shape[0]}, {k.shape[1]}) kernel, one slice per channel"
            )
        w = k[None, None]
    elif k.ndim == 3:
        if k.shape[0] == c_in:
            w = k[None]
        elif c_in == 1:
            w = k[:, None]
        else:
            raise ShapeError(
                f"kernel {k.shape} has {k.shape[0]} channels but the input {x.shape} has "
                f"{c_in}: they must match (or use a (C_out, C_in, kh, kw) kernel)"
            )
    elif k.ndim == 4:
        if k.shape[1] != c_in:
            raise ShapeError(
                f"kernel {k.shape} expects {k.shape[1]} input channels (its second axis), "
                f"but the input {x.shape} has {c_in}"
            )
        w = k
    else:
        raise ShapeError(
            f"the kernel must be (kh, kw), (C, kh, kw) or (C_out, C_in, kh, kw), got shape {k.shape}"
        )
    return x, w


def _grouped_weights(x_shape: tuple[int, ...], k: np.ndarray, groups: int) -> np.ndarray:
    """Check a grouped kernel as (C_out, C_in/groups, kh, kw), or raise a ShapeError naming the shapes."""
    c_in = x_shape[0]
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ShapeError(f"`groups` must be a positive integer, got {groups!r}")
    if c_in % groups:
        raise ShapeError(f"groups {groups} does not divide the input's {c_in} channels")
    per_group = c_in // groups
    if k.ndim == 3 and per_group == 1:
        k = k[:, None]
    if k.ndim != 4 or k.shape[1] != per_group:
        raise ShapeError(
            f"with {groups} groups of a {c_in}-channel input the kernel must be "
            f"(C_out, {per_group}, kh, kw), got shape {k.shape}"
        )
    if k.shape[0] % groups:
        raise ShapeError(f"groups {groups} does not divide the kernel's {k.shape[0]} filters")
    return k


@dataclass(frozen=True)
class Step:
    """One output cell and the arithmetic that made it.

    Attributes
    ----------
    index : tuple of int
        ``(c_out, row, col)`` of the output cell.
    cells : tuple of (int, int, int)
        ``(channel, row, col)`` of every window tap in the *padded* input
        (subtract the top and left padding for input coordinates; a tap in
        the padding lies outside ``0..H-1`` / ``0..W-1`` of the input).
    inputs : tuple of float
        The input value under each tap.
    weights : tuple of float
        The kernel value of each tap (empty for pooling).
    bias : float
        Added after the sum (0 when there is none).
    value : float
        The result: the sum of ``inputs × weights`` plus ``bias``, or the
        pooled value.
    op : str
        ``"conv"``, ``"max"``, ``"min"`` or ``"avg"``.
    divisor : int
        What an average divides by (0 otherwise).
    padding : tuple of (int, int, int)
        The window's taps that lie in the padding, in padded coordinates: a
        convolution's are among ``cells`` (they read the padded values); a
        pooling window's are not (padding never takes part), so that
        ``cells + padding`` is always the whole window (clipped to the
        padded input: a ceil-mode window may overhang it).
    """

    index: tuple[int, int, int]
    cells: tuple[tuple[int, int, int], ...]
    inputs: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    value: float
    op: str = "conv"
    divisor: int = 0
    padding: tuple[tuple[int, int, int], ...] = ()

    def text(self, channels: bool = False) -> str:
        """Write the step in the textbook's form: ``Y[0,0] = 0×0 + 1×1 + 3×2 + 4×3 = 19``.

        Parameters
        ----------
        channels : bool
            Name the output channel too: ``Y[1,0,0]``.
        """
        c, r, q = self.index
        name = f"Y[{c},{r},{q}]" if channels else f"Y[{r},{q}]"
        if self.op == "conv":
            terms = [
                f"{format_number(a)}×{format_number(w, paren=True)}"
                for a, w in zip(self.inputs, self.weights, strict=True)
            ]
            expr = " + ".join(terms)
            if self.bias:
                expr += f" + {format_number(self.bias, paren=True)}"
        elif self.op == "avg":
            divisor = self.divisor or len(self.inputs)
            expr = f"({' + '.join(format_number(v) for v in self.inputs)})/{divisor}"
        else:
            expr = f"{self.op}({', '.join(format_number(v) for v in self.inputs)})"
        return f"{name} = {expr} = {format_number(self.value)}"


def conv_steps(
    x: np.ndarray,
    weight: np.ndarray,
    bias: Sequence[float] | np.ndarray | None = None,
    stride: int | Sequence[int] = 1,
    padding: PaddingSpec = 0,
    dilation: int | Sequence[int] = 1,
    pad_mode: str = "zeros",
    *,
    pad_value: float = 0.0,
    geometry: Geometry | None = None,
    groups: int = 1,
) -> tuple[np.ndarray, list[Step]]:
    """Every window of a cross-correlation, written out.

    Parameters
    ----------
    x : ndarray, shape (C_in, H, W)
        The input (see :func:`conv_operands`).
    weight : ndarray, shape (C_out, C_in/groups, kh, kw)
        The filters, in correlation form (flip them first for a convolution).
    bias : sequence of float, optional
        One per output channel.
    stride, padding, dilation, pad_mode, pad_value
        As for :func:`convcli.conv2d`.
    geometry : Geometry, optional
        The call's geometry, already resolved (by a caller that also runs
        :func:`convcli.conv2d` with it); then ``stride``, ``padding`` and
        ``dilation`` are not read. It must describe ``x`` and ``weight``.
    groups : int, optional
        Output channel ``o`` reads only the input channels of its group, as
        PyTorch's ``groups``.

    Returns
    -------
    (ndarray, list of Step)
        The padded input (C_in, H + pads, W + pads) the windows read, and one
        :class:`Step` per output cell, channel by channel, row by row.

    Examples
    --------
    >>> x = np.arange(9.0).reshape(1, 3, 3)
    >>> w = np.arange(4.0).reshape(1, 1, 2, 2)
    >>> _, steps = conv_steps(x, w)
    >>> steps[0].text()
    'Y[0,0] = 0×0 + 1×1 + 3×2 + 4×3 = 19'
    """
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(weight, dtype=np.float64)
    if x.ndim != 3 or w.ndim != 4 or w.shape[1] * groups != x.shape[0] or w.shape[0] % groups:
        raise ShapeError(
            f"conv_steps needs x (C_in, H, W) and weight (C_out, C_in/groups, kh, kw) with "
            f"matching C_in, got {x.shape} and {w.shape} with groups {groups}"
        )
    c_out, c_in, kh, kw = w.shape  # c_in: the channels of one group
    b = np.zeros(c_out) if bias is None else np.asarray(bias, dtype=np.float64).reshape(-1)
    if b.shape != (c_out,):
        raise ShapeError(f"`bias` must hold {c_out} value(s), one per output channel, got {b.size}")
    if geometry is None:
        geometry = Geometry.resolve(
            x.shape[-2:], (kh, kw), stride=stride, padding=padding, dilation=dilation
        )
    _check_geometry(geometry, x.shape[-2:], (kh, kw), pooling=False)
    (sh, sw), (dh, dw) = geometry.stride, geometry.dilation
    padded = pad(x, geometry.padding, pad_mode, pad_value)
    out_h, out_w = geometry.output_shape
    h, w_in = geometry.size
    (pt, _), (pl, _) = geometry.padding
    steps = []
    for o in range(c_out):
        first = (o // (c_out // groups)) * c_in  # the group's first input channel
        for r in range(out_h):
            for q in range(out_w):
                cells = tuple(
                    (c, r * sh + i * dh, q * sw + j * dw)
                    for c in range(first, first + c_in)
                    for i in range(kh)
                    for j in range(kw)
                )
                inputs = tuple(float(padded[cell]) for cell in cells)
                weights = tuple(float(v) for v in w[o].ravel())
                value = sum(a * k for a, k in zip(inputs, weights, strict=True)) + float(b[o])
                in_pad = tuple(
                    cell
                    for cell in cells
                    if not (pt <= cell[1] < pt + h and pl <= cell[2] < pl + w_in)
                )
                steps.append(
                    Step((o, r, q), cells, inputs, weights, float(b[o]), value, padding=in_pad)
                )
    return padded, steps


def _check_geometry(
    geometry: Geometry, size: Sequence[int], kernel: Sequence[int] | None, *, pooling: bool
) -> None:
    """Raise a ShapeError when a caller's ``geometry`` does not describe these operands."""
    what = "pooling" if pooling else "convolution"
    if geometry.pooling != pooling:
        raise ShapeError(f"`geometry` is not a {what} geometry: {geometry}")
    if geometry.size != tuple(size) or (kernel is not None and geometry.kernel != tuple(kernel)):
        shown = f"a {size[0]}×{size[1]} input"
        if kernel is not None:
            shown += f" and a {kernel[0]}×{kernel[1]} kernel"
        raise ShapeError(f"`geometry` {geometry} does not describe {shown}")


def pool_steps(
    x: np.ndarray,
    size: int | Sequence[int] | None = None,
    stride: int | Sequence[int] | None = None,
    padding: PaddingSpec = 0,
    mode: str = "max",
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    *,
    geometry: Geometry | None = None,
) -> tuple[np.ndarray, list[Step]]:
    """Every window of a pooling, written out (``Y[0,0] = max(0, 1, 3, 4) = 4``).

    Padded cells are left out of each window's list (they never win a max
    or a min); each step names them in ``padding``, so that a display can
    show the whole k×k window. ``avg`` divides as :func:`convcli.pool2d` does: by the
    window's cells including the padding (but not a ceil-mode overhang past
    it) with ``count_include_pad``, else by the real cells.

    Parameters
    ----------
    x : ndarray, shape (C, H, W)
        The input.
    size, stride, padding, ceil_mode, count_include_pad
        As for :func:`convcli.pool2d`.
    mode : {"max", "min", "avg"}
        The reduction.
    geometry : Geometry, optional
        The pooling geometry, already resolved (``Geometry.resolve(...,
        pooling=True)``); then ``size``, ``stride``, ``padding`` and
        ``ceil_mode`` are not read. It must describe ``x``.

    Returns
    -------
    (ndarray, list of Step)
        The padded input (padding as NaN) and one step per output cell, with
        ``index`` ``(channel, row, col)``.

    Examples
    --------
    >>> _, steps = pool_steps(np.arange(9.0).reshape(1, 3, 3), 2, stride=1)
    >>> steps[0].text()
    'Y[0,0] = max(0, 1, 3, 4) = 4'
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3:
        raise ShapeError(f"pool_steps needs x of shape (C, H, W), got {x.shape}")
    if mode not in ("max", "min", "avg"):
        raise ParameterError(f"unknown pooling mode {mode!r}; known: max, avg, min")
    if geometry is None:
        if size is None:
            raise ShapeError("pool_steps needs the window `size` (or a `geometry`)")
        geometry = Geometry.resolve(
            x.shape[-2:], size, stride=stride, padding=padding, pooling=True, ceil_mode=ceil_mode
        )
    _check_geometry(geometry, x.shape[-2:], None, pooling=True)
    (kh, kw), (sh, sw) = geometry.kernel, geometry.stride
    h, w = geometry.size
    (pt, pb), (pl, pr) = geometry.padding
    oh, ow = geometry.output_shape
    padded = np.full((x.shape[0], h + pt + pb, w + pl + pr), np.nan)
    padded[:, pt : pt + h, pl : pl + w] = x
    steps = []
    for c in range(x.shape[0]):
        for r in range(oh):
            for q in range(ow):
                window = [
                    (c, r * sh + i, q * sw + j)
                    for i in range(kh)
                    for j in range(kw)
                    if r * sh + i < pt + h + pb and q * sw + j < pl + w + pr
                ]
                cells = tuple(
                    cell for cell in window if pt <= cell[1] < pt + h and pl <= cell[2] < pl + w
                )
                in_pad = tuple(cell for cell in window if cell not in cells)
                inputs = tuple(float(padded[cell]) for cell in cells)
                value: float = (
                    max(inputs) if mode == "max" else min(inputs) if mode == "min" else sum(inputs)
                )
                divisor = 0
                if mode == "avg":
                    divisor = len(cells)
                    if count_include_pad:  # the window clipped to the padded extent
                        rows = min(r * sh + kh, pt + h + pb) - r * sh
                        cols = min(q * sw + kw, pl + w + pr) - q * sw
                        divisor = rows * cols
                    value /= divisor
                steps.append(Step((c, r, q), cells, inputs, (), 0.0, value, mode, divisor, in_pad))
    return padded, steps
