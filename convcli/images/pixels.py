"""Numbers to pixels: the one conversion from values on a 0..max scale to integer pixels.

:func:`to_pixels` is how every result becomes uint8 or uint16 pixels:
filtered images (:mod:`convcli.images.filtering`), gallery tiles
(:mod:`convcli.teaching.gallery`), pooled float images (``convcli pool``) and
16-bit pixels written to an 8-bit-only format (:mod:`convcli.images.io`).
The value ``max_value`` (full white on the input's scale) becomes the
target's full white (255 or 65535), values are rounded to the nearest
integer (``numpy.rint``: halves to even) and clipped to the target's range.

:func:`copy_into` is the cast-and-copy it ends with, fast for the
channel-first views the engine returns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # numpy.typing costs a millisecond of every start
    from numpy.typing import ArrayLike, DTypeLike

__all__ = ["copy_into", "to_pixels"]


def copy_into(dst: np.ndarray, values: np.ndarray) -> None:
    """``dst[...] = values`` with any cast; channel by channel for channel-first memory.

    The engine returns (H, W, C) results that are views of (C, H, W) arrays;
    numpy copies those into an interleaved array about 2.5 times faster one
    channel at a time than in one call.

    Examples
    --------
    >>> dst = np.zeros(3, dtype=np.uint8)
    >>> copy_into(dst, np.array([1.0, 2.0, 3.0]))
    >>> dst.tolist()
    [1, 2, 3]
    """
    if values.ndim == 3 and not values.flags.c_contiguous:
        for c in range(values.shape[2]):
            np.copyto(dst[..., c], values[..., c], casting="unsafe")
    else:
        np.copyto(dst, values, casting="unsafe")


def to_pixels(
    values: ArrayLike,
    max_value: float,
    dtype: DTypeLike = np.uint8,
    *,
    out: np.ndarray | None = None,
    clip: bool = True,
    in_place: bool = False,
) -> np.ndarray:
    """Scale values on ``0..max_value`` to integer pixels, rounded to the nearest and clipped.

    Parameters
    ----------
    values : array_like
        The values; ``max_value`` is full white. Floating-point arrays are
        computed in their own precision (float32 stays float32), anything
        else in float64.
    max_value : float
        The value that becomes the target's full white.
    dtype : {numpy.uint8, numpy.uint16}
        The pixel type; ignored when ``out`` is given (its dtype is used).
    out : numpy.ndarray, optional
        Where to write the pixels (returned).
    clip : bool
        Clip to ``0..top`` after scaling. Pass False only for values already
        within ``0..max_value`` (the filtering pipeline maps them there first).
    in_place : bool
        ``values`` is a floating-point array that may be overwritten (saves a copy).

    Returns
    -------
    numpy.ndarray
        The pixels.

    Examples
    --------
    >>> to_pixels(np.array([-0.2, 0.0, 0.5, 1.0, 1.7]), 1.0).tolist()
    [0, 0, 128, 255, 255]
    >>> to_pixels(np.array([0, 128, 385, 65535], dtype=np.uint16), 65535).tolist()
    [0, 0, 1, 255]
    >>> to_pixels(np.array([0.0, 127.5, 255.0]), 255, np.uint16).tolist()
    [0, 32768, 65535]
    """
    target = np.dtype(out.dtype if out is not None else dtype)
    top = float(np.iinfo(target).max)
    arr = np.asarray(values)
    if not (in_place and arr.dtype.kind == "f"):
        arr = arr.astype(arr.dtype if arr.dtype.kind == "f" else np.float64)
    if max_value != top:
        arr *= top / max_value
    if clip:
        np.clip(arr, 0.0, top, out=arr)
    np.rint(arr, out=arr)
    if out is None:
        out = np.empty(arr.shape, target)
    copy_into(out, arr)
    return out
