"""Checks on the arrays handed to the engine, and the dtype it computes in.

Every engine entry point (:func:`convcli.conv2d`, :func:`convcli.filter2d`,
:func:`convcli.im2col`, :func:`convcli.pool2d`) checks its inputs with these
functions, so a bad array is refused with the same words everywhere.

- :func:`as_numeric`: an array of real numbers, or an
  :class:`~convcli.errors.ArrayTypeError` (a ``TypeError``) naming it.
- :func:`check_finite`: no NaN or infinity, or a ``ShapeError`` with the index.
- :func:`compute_dtype`: float32 or float64, the policy for every result.
"""

from __future__ import annotations

import numpy as np

from ..errors import ArrayTypeError, ShapeError

__all__ = ["as_numeric", "check_finite", "compute_dtype"]


def as_numeric(a: object, name: str) -> np.ndarray:
    """``a`` as an array of real numbers (bool, integer or float); ArrayTypeError otherwise.

    ArrayTypeError is a ConvcliError and a TypeError; a ragged nested list
    is one too (numpy's own ValueError would name nothing).

    Examples
    --------
    >>> as_numeric([1, 2], "x").dtype.kind
    'i'
    >>> as_numeric(["a"], "x")
    Traceback (most recent call last):
    convcli.errors.ArrayTypeError: `x` must be a numeric array, got dtype <U1
    """
    try:
        arr = np.asarray(a)
    except ValueError:  # a ragged nested sequence
        raise ArrayTypeError(f"`{name}` must be a numeric array, got a ragged sequence") from None
    if arr.dtype.kind not in "biuf":
        raise ArrayTypeError(f"`{name}` must be a numeric array, got dtype {arr.dtype}")
    return arr


def check_finite(arr: np.ndarray, name: str) -> None:
    """Raise a ShapeError naming the first NaN or infinity of ``arr`` and its index."""
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ShapeError(
            f"`{name}` holds a non-finite value ({arr[tuple(bad)]}) at index {tuple(int(i) for i in bad)}"
        )


def compute_dtype(
    dtype: np.dtype | type, requested: np.dtype | type | str | None = None
) -> np.dtype:
    """Return the floating dtype convcli computes in for input of ``dtype``.

    The policy: float64 when the input is float64 (or an integer type wider
    than 16 bits, whose values float32 cannot hold exactly) or when
    ``requested`` says so; float32 otherwise (uint8, uint16, int8, int16,
    bool, float16, float32). Results are always floating point, so integer
    inputs never wrap around.

    Parameters
    ----------
    dtype : numpy dtype
        The input's dtype.
    requested : dtype or str, optional
        ``float32`` or ``float64`` to force one.

    Examples
    --------
    >>> compute_dtype(np.uint8)
    dtype('float32')
    >>> compute_dtype(np.float64)
    dtype('float64')
    >>> compute_dtype(np.uint8, "float64")
    dtype('float64')
    """
    dtype = np.dtype(dtype)
    if requested is not None:
        req = np.dtype(requested)
        if req not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise TypeError(f"`dtype` must be float32 or float64, got {req}")
        return req
    if dtype.kind == "c":
        raise TypeError(f"complex input ({dtype}) is not supported")
    if dtype.kind not in "biuf":
        raise TypeError(f"input must be numeric, got dtype {dtype}")
    if dtype == np.float64 or (dtype.kind in "iu" and dtype.itemsize > 2) or dtype.itemsize > 8:
        return np.dtype(np.float64)
    return np.dtype(np.float32)
