"""Checks on the arrays handed to the engine, and the dtype it computes in.

Every engine entry point (:func:`convcli.conv2d`, :func:`convcli.filter2d`,
:func:`convcli.im2col`, :func:`convcli.pool2d`) checks its inputs with these
functions, so a bad array is refused with the same words everywhere.

- :func:`as_numeric`: an array of real numbers, or an
  :class:`~convcli.errors.ArrayTypeError` (a ``TypeError``) naming it.
- :func:`check_finite`: no NaN or infinity, or a ``ShapeError`` with the index.
- :func:`check_magnitude`: that too, and no result beyond the dtype's range.
- :func:`check_pad_value`: a finite number.
- :func:`compute_dtype`: float32 or float64, the policy for every result.
"""

from __future__ import annotations

import numpy as np

from ..errors import ArrayTypeError, ParameterError, ShapeError

__all__ = ["as_numeric", "check_finite", "check_magnitude", "check_pad_value", "compute_dtype"]


def as_numeric(a: object, name: str) -> np.ndarray:
    """Return ``a`` as an array of real numbers (bool, integer or float), else raise ArrayTypeError.

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


# elements checked at a time (no temporary the size of a large input)
_CHUNK = 1 << 20


def _native_scan(arr: np.ndarray, threads: int = 1) -> tuple[float, bool] | None:
    """``(max|x|, finite)`` in one pass by the native core, or None where it cannot.

    The C side reads each cell once (GIL released) where numpy's ``max`` and
    ``min`` read it twice; a contiguous float32/float64 array only. A large
    array is read in ``threads`` parts at once.
    """
    if arr.dtype not in (np.float32, np.float64) or not arr.flags.c_contiguous:
        return None
    if not arr.dtype.isnative:
        return None
    from . import native

    try:
        mod = native.module()
    except ParameterError:  # a bad CONVCLI_ENGINE/ISA setting: numpy's reading checks alike
        return None
    if mod is None:
        return None
    flat = arr.reshape(-1)
    parts = max(1, min(threads, flat.size // _CHUNK))
    if parts == 1:
        largest, finite = mod.scan(flat)
        return float(largest), bool(finite)
    from .threads import run_parallel

    step = -(-flat.size // parts)
    found: list[tuple[float, bool]] = []
    run_parallel(
        lambda start: found.append(mod.scan(flat[start : start + step])),
        iter(range(0, flat.size, step)),
        parts,
    )
    return max(f[0] for f in found), all(f[1] for f in found)


def _bounds(arr: np.ndarray, name: str, threads: int = 1) -> float:
    """Return the largest magnitude in ``arr``; raise a ShapeError naming a NaN or infinity."""
    if arr.size == 0:
        return 0.0
    scanned = _native_scan(arr, threads)
    if scanned is not None and scanned[1]:
        return scanned[0]
    # numpy's reading (no native core, another layout), or a non-finite cell to name
    flat = arr.reshape(-1)  # a view when contiguous
    largest = 0.0
    for start in range(0, flat.size, _CHUNK):
        part = flat[start : start + _CHUNK]
        hi, lo = float(part.max()), float(part.min())
        if not (np.isfinite(hi) and np.isfinite(lo)):
            bad = np.argwhere(~np.isfinite(arr))[0]
            raise ShapeError(
                f"`{name}` holds a non-finite value ({arr[tuple(bad)]}) at index "
                f"{tuple(int(i) for i in bad)}"
            )
        largest = max(largest, hi, -lo)
    return largest


def check_finite(arr: np.ndarray, name: str) -> None:
    """Raise a ShapeError naming the first NaN or infinity of ``arr`` and its index.

    Checked a million elements at a time; integers always pass.

    Examples
    --------
    >>> check_finite(np.array([1.0, np.inf]), "x")
    Traceback (most recent call last):
    convcli.errors.ShapeError: `x` holds a non-finite value (inf) at index (1,)
    """
    if arr.dtype.kind == "f":
        _bounds(arr, name)


def check_pad_value(pad_value: object) -> float:
    """``pad_value`` as a float, or a ParameterError unless it is a finite real number.

    Examples
    --------
    >>> check_pad_value(float("nan"))
    Traceback (most recent call last):
    convcli.errors.ParameterError: `pad_value` must be a finite number, got nan
    """
    if isinstance(pad_value, bool) or not isinstance(
        pad_value, (int, float, np.integer, np.floating)
    ):
        raise ParameterError(f"`pad_value` must be a finite number, got {pad_value!r}")
    try:
        value = float(pad_value)
    except OverflowError:  # an int beyond float
        value = float("inf")
    if not np.isfinite(value):
        raise ParameterError(f"`pad_value` must be a finite number, got {pad_value!r}")
    return value


def check_magnitude(
    x: np.ndarray,
    weight: np.ndarray,
    dtype: np.dtype,
    name: str = "x",
    pad_value: float = 0.0,
    threads: int = 1,
    largest: float | None = None,
) -> None:
    """Refuse inputs whose correlation could overflow ``dtype``, and any NaN or infinity.

    A large float input is read on ``threads`` threads where the native core runs;
    ``largest``, when given, is ``max|x|`` found already (every cell finite), and
    ``x`` is not read again.

    An output is at most ``max|x|`` times the largest absolute sum of one
    output channel's weights; when that bound is beyond ``dtype``'s largest
    number a ShapeError says so (and, in float32, to compute in float64),
    rather than a result of infinities and a raw numpy warning.

    Examples
    --------
    >>> check_magnitude(np.full((2, 2), 1e30), np.full((1, 1, 3, 3), 1e9), np.dtype(np.float32))
    Traceback (most recent call last):
    convcli.errors.ShapeError: `x` reaches 1e+30 and the kernel's absolute sum 9e+09: results could reach 9e+39, beyond float32's largest number (3.4e+38); compute in float64 (dtype='float64') or scale the input
    """
    if largest is None and x.dtype.kind == "f":
        largest = _bounds(x, name, threads)
    elif largest is None:
        # integers and bools: no NaN; the extremes as Python floats (no wrap-around)
        largest = max(float(x.max()), -float(x.min()), 0.0) if x.size else 0.0
    largest = max(largest, abs(pad_value))  # padding cells are read like pixels
    with np.errstate(over="ignore"):
        w = np.abs(np.asarray(weight, dtype=np.float64)).reshape(weight.shape[0], -1)
        total = float(w.sum(axis=1).max()) if w.size else 0.0
        bound = largest * total
    limit = float(np.finfo(dtype).max)
    if bound > limit:
        fix = "compute in float64 (dtype='float64') or scale" if dtype == np.float32 else "scale"
        raise ShapeError(
            f"`{name}` reaches {largest:.3g} and the kernel's absolute sum {total:.3g}: results "
            f"could reach {bound:.3g}, beyond {dtype}'s largest number ({limit:.2g}); "
            f"{fix} the input"
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
        try:
            req = np.dtype(requested)
        except TypeError:
            raise ArrayTypeError(f"`dtype` must be float32 or float64, got {requested!r}") from None
        if req not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ArrayTypeError(f"`dtype` must be float32 or float64, got {req}")
        return req
    if dtype.kind == "c":
        raise ArrayTypeError(f"complex input ({dtype}) is not supported")
    if dtype.kind not in "biuf":
        raise ArrayTypeError(f"input must be numeric, got dtype {dtype}")
    if dtype == np.float64 or (dtype.kind in "iu" and dtype.itemsize > 2) or dtype.itemsize > 8:
        return np.dtype(np.float64)
    return np.dtype(np.float32)
