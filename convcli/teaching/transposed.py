"""A transposed convolution, written as the stride-1 cross-correlation it is.

:func:`transposed_kernel` reads a transposed kernel as typed into PyTorch's
layout; :func:`transposed_operands` spreads the input by the stride, pads it
by ``d·(k − 1) − p`` and rotates the kernel, so that
:func:`~convcli.teaching.steps.conv_steps` and :func:`convcli.conv2d` compute
``conv_transpose2d`` window by window (what ``convcli conv --transposed
--steps`` and the explorer show).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..engine.arrays import as_numeric, check_finite
from ..errors import ShapeError

__all__ = ["transposed_kernel", "transposed_operands"]


def transposed_kernel(c_in: int, kernel: np.ndarray, groups: int = 1) -> np.ndarray:
    """Check a transposed kernel as typed, in PyTorch's layout (C_in, C_out/groups, kh, kw).

    ``(kh, kw)`` for a one-channel input; ``(C_in, kh, kw)``: one output
    channel per group; ``(C_in, C_out/groups, kh, kw)`` as it is.

    Examples
    --------
    >>> transposed_kernel(2, np.ones((2, 3, 3))).shape
    (2, 1, 3, 3)
    """
    k = as_numeric(kernel, "kernel")
    check_finite(k, "kernel")
    if k.ndim == 2 and c_in == 1:
        k = k[None, None]
    elif k.ndim == 3 and k.shape[0] == c_in:
        k = k[:, None]
    if k.ndim != 4 or k.shape[0] != c_in:
        raise ShapeError(
            f"a transposed kernel for a {c_in}-channel input is ({c_in}, C_out/groups, kh, kw) "
            f"(or ({c_in}, kh, kw)), got shape {k.shape}"
        )
    if c_in % groups:
        raise ShapeError(f"groups {groups} does not divide the input's {c_in} channels")
    return k


def transposed_operands(
    x: np.ndarray,
    weight: np.ndarray,
    stride: Sequence[int],
    padding: tuple[tuple[int, int], tuple[int, int]],
    dilation: Sequence[int],
    output_padding: Sequence[int] = (0, 0),
    groups: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Rewrite a transposed convolution as the stride-1 cross-correlation it is.

    The input is spread by the stride (``s − 1`` zeros between cells) and
    padded by ``d·(k − 1) − p`` (plus ``output_padding`` after); the kernel is
    rotated by 180° and its channel axes swapped per group. Correlating the
    two with stride 1 and dilation ``d`` gives PyTorch's ``conv_transpose2d``.

    Parameters
    ----------
    x : ndarray, shape (C_in, H, W)
    weight : ndarray, shape (C_in, C_out/groups, kh, kw)
        PyTorch's layout of a transposed kernel.
    stride, dilation, output_padding : (int, int)
    padding : ((int, int), (int, int))
        The forward convolution's padding, at most ``d·(k − 1)`` per side.
    groups : int, optional

    Returns
    -------
    (ndarray, ndarray)
        The spread, padded input (C_in, H', W') and the correlation weights
        (C_out, C_in/groups, kh, kw).

    Examples
    --------
    >>> xs, w = transposed_operands(np.ones((1, 2, 2)), np.ones((1, 1, 3, 3)), (2, 2),
    ...                             ((0, 0), (0, 0)), (1, 1))
    >>> xs.shape, w.shape
    ((1, 7, 7), (1, 1, 3, 3))
    """
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(weight, dtype=np.float64)
    c_in, h, w_in = x.shape
    if w.ndim != 4 or w.shape[0] != c_in or c_in % groups:
        raise ShapeError(
            f"a transposed kernel is (C_in, C_out/groups, kh, kw) with C_in = {c_in} "
            f"divisible by groups {groups}, got shape {w.shape}"
        )
    kh, kw = w.shape[-2:]
    pads = []
    for axis, k in enumerate((kh, kw)):
        full = dilation[axis] * (k - 1)
        before, after = padding[axis]
        if max(before, after) > full:
            raise ShapeError(
                f"padding {max(before, after)} is more than d·(k − 1) = {full}: the transposed "
                "convolution would crop its spread input"
            )
        pads.append((full - before, full - after + output_padding[axis]))
    (top, bottom), (left, right) = pads
    spread = np.zeros(
        (c_in, top + (h - 1) * stride[0] + 1 + bottom, left + (w_in - 1) * stride[1] + 1 + right)
    )
    spread[
        :,
        top : top + (h - 1) * stride[0] + 1 : stride[0],
        left : left + (w_in - 1) * stride[1] + 1 : stride[1],
    ] = x
    per_in, per_out = c_in // groups, w.shape[1]
    corr = np.empty((per_out * groups, per_in, kh, kw))
    for g in range(groups):
        block = w[g * per_in : (g + 1) * per_in]  # (C_in/G, C_out/G, kh, kw)
        corr[g * per_out : (g + 1) * per_out] = block.transpose(1, 0, 2, 3)[..., ::-1, ::-1]
    return spread, corr
