"""Pooling whole images and channels-first tensors: the library behind ``convcli pool``.

:func:`pool_image` pools an :class:`convcli.images.io.Image` (each colour
channel on its own, alpha with the same rule) and keeps its pixel type;
:func:`pool_tensor` pools a ``(C, H, W)`` or ``(N, C, H, W)`` array as a CNN
layer sees it. Both stand on :func:`convcli.pool2d`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from ..arithmetic.sizes import PaddingSpec
from ..engine.arrays import as_numeric
from ..engine.pooling import pool2d
from ..errors import ShapeError
from .io import Image

__all__ = ["pool_image", "pool_tensor"]


def _pool(values: np.ndarray, size, stride, padding, mode, ceil_mode, threads) -> np.ndarray:
    """Pool an image's (H, W) or (H, W, C) values; pool2d takes channels first."""
    planes = np.moveaxis(values, -1, 0) if values.ndim == 3 else values
    out = pool2d(
        planes,
        size,
        stride=stride,
        padding=padding,
        mode=mode,
        ceil_mode=ceil_mode,
        threads=threads,
    )
    if values.ndim == 3:
        out = np.moveaxis(out, 0, -1)
    if mode == "avg" and values.dtype.kind in "biu":
        # the average of integer pixels, rounded back to the image's own type
        out = np.rint(out).astype(values.dtype)
    return out


def pool_image(
    image: Image,
    size: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    padding: PaddingSpec = 0,
    mode: str = "max",
    ceil_mode: bool = False,
    *,
    threads: int | None = None,
) -> Image:
    """Pool every channel of an image, alpha included, with one rule.

    Parameters
    ----------
    image : Image
        As returned by :func:`convcli.read_image`.
    size : int or (int, int)
        Window (kh, kw).
    stride : int or (int, int), optional
        Step between windows; the window size by default.
    padding : int, pair, 4-tuple or ((top, bottom), (left, right))
        Cells added around the image; they never win a max or a min and
        count as 0 in an average (as PyTorch's ``count_include_pad``).
        May exceed half the window while every window holds a real pixel.
    mode : {"max", "avg", "min"}
        The reduction.
    ceil_mode : bool
        Round the number of windows up (PyTorch's rule).
    threads : int or None
        Bands of rows pooled at once, as for :func:`convcli.pool2d`.

    Returns
    -------
    Image
        Same dtype as the input (averages of integer pixels are rounded);
        alpha pooled with the same rule.

    Examples
    --------
    >>> img = Image(np.arange(16, dtype=np.uint8).reshape(4, 4))
    >>> pool_image(img, 2).pixels.tolist()
    [[5, 7], [13, 15]]
    """
    pixels = _pool(image.pixels, size, stride, padding, mode, ceil_mode, threads)
    alpha = None
    if image.alpha is not None:
        alpha = _pool(image.alpha, size, stride, padding, mode, ceil_mode, threads)
    return replace(image, pixels=pixels, alpha=alpha, notes=[])


def pool_tensor(
    x: np.ndarray,
    size: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    padding: PaddingSpec = 0,
    mode: str = "max",
    ceil_mode: bool = False,
    *,
    threads: int | None = None,
) -> np.ndarray:
    """Pool a channels-first tensor: ``(H, W)``, ``(C, H, W)`` or ``(N, C, H, W)``.

    Parameters are as for :func:`pool_image`; the result keeps the layout
    (and, for ``max`` and ``min``, the dtype; ``avg`` is floating point).

    Examples
    --------
    >>> pool_tensor(np.arange(32).reshape(2, 4, 4), 2)[1].tolist()
    [[21, 23], [29, 31]]
    """
    x = as_numeric(x, "x")
    if x.ndim not in (2, 3, 4):
        raise ShapeError(f"a tensor must be (H, W), (C, H, W) or (N, C, H, W), got shape {x.shape}")
    return pool2d(x, size, stride, padding, mode, ceil_mode, threads=threads)
