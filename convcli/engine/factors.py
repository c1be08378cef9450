"""Rank-1 factors of kernels and when a factor runs as a running sum.

The ``separable`` strategy (:mod:`convcli.engine.separable`), the native
core and the cost model all ask the same questions of a kernel: is it an
outer product, and which of its 1-D factors are long boxes that run as
running sums. The answers live here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = [
    "FACTORS_CACHE_TAPS",
    "NATIVE_RUNNING_TAPS",
    "RUNNING_SUM_PASSES",
    "has_running_sums",
    "native_running_factor",
    "rank_one_factors",
    "running_sum_factor",
    "separable_factors",
    "separable_passes",
]

#: A pair of factor arrays: columns (C_out, Cg, kh) and rows (C_out, Cg, kw).
Factors = tuple[np.ndarray, np.ndarray]

#: Kernel entries per step of :func:`rank_one_factors` (its scratch stays in cache).
RANK_ONE_CHUNK = 1 << 16


def _row_blocks(k: np.ndarray) -> Iterator[slice]:
    """Slices of ``k``'s rows, about :data:`RANK_ONE_CHUNK` entries each."""
    step = max(1, RANK_ONE_CHUNK // k.shape[1])
    for start in range(0, k.shape[0], step):
        yield slice(start, min(start + step, k.shape[0]))


def rank_one_factors(
    kernel: np.ndarray, dtype: np.dtype | type = np.float64
) -> tuple[np.ndarray, np.ndarray] | None:
    """``(column, row)`` with ``outer(column, row) == kernel`` up to ``dtype`` rounding, or None.

    The factors are the kernel's column and row through its largest-magnitude
    entry (the pivot), the row divided by that entry, so integer kernels keep
    integer factors. The kernel counts as rank 1 when what their outer
    product leaves over is small: ``||kernel - outer(column, row)||`` at most
    ``10 * max(kh, kw) * eps`` times ``||kernel||`` (Frobenius norms; ``eps``
    of the compute ``dtype``: a Gaussian rounded to float32 is an outer
    product only to float32 precision). As the residual of any rank-1 matrix
    bounds the second singular value from above, this is the rule "second
    singular value at most that tolerance times the first" up to a factor
    near 1 -- without an SVD: one pass to find the pivot and one to measure
    the residual, ``O(kh * kw)`` in time and ``O(kh + kw)`` in extra
    memory, less than one filtered tile costs.

    Examples
    --------
    >>> col, row = rank_one_factors(np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]))
    >>> col.tolist(), (row + 0.0).tolist()
    ([1.0, 2.0, 1.0], [-1.0, 0.0, 1.0])
    >>> rank_one_factors(np.eye(3)) is None
    True
    """
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim != 2 or k.size == 0:
        return None
    # Pass 1: finiteness and the pivot, a block of rows at a time.
    pivot_abs, i, j = -1.0, 0, 0
    for rows in _row_blocks(k):
        block = np.abs(k[rows])
        if not np.isfinite(block).all():
            return None
        at = int(np.argmax(block))
        if block.flat[at] > pivot_abs:
            pivot_abs = float(block.flat[at])
            i, j = rows.start + at // k.shape[1], at % k.shape[1]
    if min(k.shape) == 1:
        if k.shape[0] == 1:
            return np.ones(1), k[0].copy()
        return k[:, 0].copy(), np.ones(1)
    if pivot_abs == 0:
        return np.zeros(k.shape[0]), np.zeros(k.shape[1])
    col = k[:, j].copy()
    if col[i] < 0:  # keep the column's pivot positive
        col = -col
    row = k[i, :] / col[i]
    # Pass 2: the residual and the kernel's norm, both scaled by the pivot
    # (entries at most 1, so squares neither overflow nor underflow).
    scaled_row = row / pivot_abs
    residual2 = norm2 = 0.0
    for rows in _row_blocks(k):
        block = k[rows] / pivot_abs
        norm2 += float(np.einsum("ij,ij->", block, block))
        block -= np.outer(col[rows], scaled_row)
        residual2 += float(np.einsum("ij,ij->", block, block))
    tol = 10 * max(k.shape) * np.finfo(dtype).eps
    if residual2 > tol * tol * norm2:
        return None
    return col, row


#: Kernels of at most this many taps have their factors remembered (see
#: :func:`separable_factors`): a call prices, then runs, the same small kernel.
FACTORS_CACHE_TAPS = 4096
_FACTORS_CACHE_SIZE = 16
_factors_lock = threading.Lock()
_factors_cache: dict[tuple[bytes, tuple[int, ...], str], Any] = {}


def separable_factors(weight: np.ndarray, dtype: np.dtype) -> Factors | None:
    """Factors of every ``weight[o, c]`` slice, shape (C_out, Cg, kh) and (C_out, Cg, kw), or None.

    The factors of the last few small kernels (up to :data:`FACTORS_CACHE_TAPS`
    taps) are remembered by their bytes, shape and ``dtype``, so choosing a
    strategy and running it find them once; each caller gets its own copies.
    """
    if weight.size > FACTORS_CACHE_TAPS:
        return _separable_factors(weight, dtype)
    w = np.asarray(weight)
    key = (w.tobytes(), w.shape, f"{w.dtype.str}/{np.dtype(dtype).str}")
    with _factors_lock:
        found = _factors_cache.get(key, key)
    if found is key:
        found = _separable_factors(w, dtype)  # outside the lock: others look up meanwhile
        with _factors_lock:
            if len(_factors_cache) >= _FACTORS_CACHE_SIZE:
                _factors_cache.pop(next(iter(_factors_cache)))  # the oldest
            _factors_cache[key] = found
    if found is None:
        return None
    cols: np.ndarray = found[0]
    rows: np.ndarray = found[1]
    return cols.copy(), rows.copy()


def _separable_factors(weight: np.ndarray, dtype: np.dtype) -> Factors | None:
    """Find :func:`separable_factors` without the cache."""
    c_out, cg = weight.shape[:2]
    cols = np.empty((c_out, cg, weight.shape[2]))
    rows = np.empty((c_out, cg, weight.shape[3]))
    for o in range(c_out):
        for c in range(cg):
            f = rank_one_factors(weight[o, c], dtype)
            if f is None:
                return None
            cols[o, c], rows[o, c] = f
    return cols, rows


#: A box factor longer than this runs as a running sum, whose cost is about that
#: of this many axpy passes (measured: 2000x3024 float32 cells, both passes of
#: a 1025-tap box in 57 ms, about 25 passes each at the cost model's rate).
RUNNING_SUM_PASSES = 24


#: The native core sums a box factor of more taps than this as a running sum
#: (in float64), along an axis of stride and dilation 1. Measured on the
#: project's 2-core machine, 1024² float32, both factors boxes: the running
#: sums took 1.9-2.3 ms whatever the box's length, the taps 1.8 ms at 17 and
#: 3.4 ms at 33; the cost model prices such a factor at this many taps.
NATIVE_RUNNING_TAPS = 20


def _box_longer_than(factor: np.ndarray, taps: int) -> bool:
    """Tell whether ``factor`` has more than ``taps`` taps, all equal and nonzero (a box)."""
    f = np.asarray(factor).reshape(-1)
    return bool(f.size > taps and f[0] != 0 and np.all(f == f[0]))


def running_sum_factor(factor: np.ndarray, dilation: int) -> bool:
    """Whether ``separable`` runs this 1-D factor as a running sum.

    When its taps are all equal and nonzero (a box), there are more than
    :data:`RUNNING_SUM_PASSES` of them, and they are not dilated.

    Examples
    --------
    >>> running_sum_factor(np.full(1025, 1 / 1025), 1), running_sum_factor(np.ones(5), 1)
    (True, False)
    >>> running_sum_factor(np.full(101, 2.0), 3)
    False
    """
    return dilation == 1 and _box_longer_than(factor, RUNNING_SUM_PASSES)


def native_running_factor(factor: np.ndarray, stride: int, dilation: int) -> bool:
    """Whether the native core sums this 1-D factor as a running sum.

    When it is a box of more than :data:`NATIVE_RUNNING_TAPS` taps, with
    stride and dilation 1 along its axis (the rule of ``correlate_separable``'s
    ``running`` argument, src/native/module.c).

    Examples
    --------
    >>> native_running_factor(np.full(31, 1 / 31), 1, 1)
    True
    >>> native_running_factor(np.full(31, 1 / 31), 2, 1), native_running_factor(np.ones(9), 1, 1)
    (False, False)
    """
    return stride == 1 and dilation == 1 and _box_longer_than(factor, NATIVE_RUNNING_TAPS)


def has_running_sums(factors: Factors, dilation: tuple[int, int]) -> bool:
    """Tell whether ``separable`` runs any of these factors as a running sum.

    ``factors`` come from :func:`separable_factors`; with a running sum the tiles
    are tall (see :func:`convcli.engine.tiling.tile_shape`).
    """
    return any(
        running_sum_factor(taps, dilation[axis])
        for axis, factor in enumerate(factors)
        for taps in np.asarray(factor).reshape(-1, factor.shape[-1])
    )


def separable_passes(
    factors: Factors, dilation: tuple[int, int], running: float = RUNNING_SUM_PASSES
) -> float:
    """Count the passes over a tile ``separable`` makes with these factors.

    ``factors`` come from :func:`separable_factors`: one axpy pass per nonzero
    tap, or ``running`` for a factor run as a running sum (0 counts the axpy
    passes alone).
    """
    total = 0.0
    for axis, factor in enumerate(factors):
        for taps in np.asarray(factor).reshape(-1, factor.shape[-1]):
            if running_sum_factor(taps, dilation[axis]):
                total += running
            else:
                total += np.count_nonzero(taps)
    return total
