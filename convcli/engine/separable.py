"""The ``separable`` strategy: a column pass then a row pass (or running sums)."""

from __future__ import annotations

import numpy as np

from ..errors import ParameterError
from .factors import Factors, running_sum_factor, separable_factors
from .tilekit import Axpy, TileKernel, accumulate, axpy_for, crop
from .tiling import RUNNING_SUM_CHUNK, Problem

__all__ = ["make_separable"]


def _store(dest: np.ndarray, sums: np.ndarray, weight: float) -> None:
    """``dest = weight * sums``, cast to dest's dtype."""
    if weight == 1:
        np.copyto(dest, sums, casting="same_kind")
    else:
        np.multiply(sums, weight, out=dest, casting="same_kind")


def _running_rows(src: np.ndarray, taps: int, out: np.ndarray, w: float) -> None:
    """``out[:, t] = w * src[:, t : t + taps].sum(axis=1)`` for every row ``t`` of ``out``.

    ``src`` is (n, R, W), ``out`` (n, T, W) with ``T <= R - taps + 1``. Window
    ``t + 1`` is window ``t`` plus row ``t + taps`` minus row ``t``: the
    differences are summed cumulatively in float64, a chunk of rows at a time.
    """
    n, rows, width = out.shape
    step = max(1, RUNNING_SUM_CHUNK // max(n * width, 1))
    carry = src[:, :taps].sum(axis=1, dtype=np.float64)  # window 0
    for t0 in range(0, rows, step):
        t1 = min(rows, t0 + step)
        buf = np.empty((n, t1 - t0, width))
        buf[:, 0] = carry
        np.subtract(
            src[:, t0 + taps : t1 - 1 + taps], src[:, t0 : t1 - 1], out=buf[:, 1:], dtype=np.float64
        )
        np.cumsum(buf, axis=1, out=buf)
        if t1 < rows:  # window t1, where the next chunk starts
            carry = buf[:, -1] + src[:, t1 - 1 + taps] - src[:, t1 - 1]
        _store(out[:, t0:t1], buf, w)


def _running_columns(src: np.ndarray, taps: int, out: np.ndarray, w: float) -> None:
    """``out[..., t] = w * src[..., t : t + taps].sum(-1)`` for every column ``t`` of ``out``.

    ``src`` is (n, R, W), ``out`` (n, R, T) with ``T <= W - taps + 1``; as
    :func:`_running_rows`, along the rows, a chunk of rows at a time.
    """
    n, rows, cols = out.shape
    step = max(1, RUNNING_SUM_CHUNK // max(n * cols, 1))
    for r0 in range(0, rows, step):
        r1 = min(rows, r0 + step)
        buf = np.empty((n, r1 - r0, cols))
        buf[..., 0] = src[:, r0:r1, :taps].sum(axis=-1, dtype=np.float64)
        np.subtract(
            src[:, r0:r1, taps : cols - 1 + taps],
            src[:, r0:r1, : cols - 1],
            out=buf[..., 1:],
            dtype=np.float64,
        )
        np.cumsum(buf, axis=-1, out=buf)
        _store(out[:, r0:r1], buf, w)


def _tap_pass(
    axpy: Axpy, acc: np.ndarray, src: np.ndarray, taps: np.ndarray, off: int, step: int
) -> None:
    """Set ``acc`` to the sum over nonzero taps ``t`` of ``taps[t] * src[off + t*step:]``.

    ``acc`` is (n, length), ``src`` (n, ...); with no nonzero tap, ``acc`` is 0.
    """
    first = True
    for t, wt in enumerate(taps.tolist()):
        if wt != 0.0:
            accumulate(axpy, acc, src, off + t * step, wt, first)
            first = False
    if first:
        acc[:] = 0


def _column_pass(
    axpy: Axpy,
    mid: np.ndarray,
    src: np.ndarray,
    col: np.ndarray,
    down: bool,
    shape: tuple[int, int, int, int],
    dh: int,
) -> None:
    """Filter the flat block rows ``src`` down the columns into ``mid``.

    ``shape`` is (n, block rows r, width, output rows); ``down`` runs ``col``
    (a box) as a running sum.
    """
    n, r, width, rows = shape
    if down:
        _running_rows(src.reshape(n, r, width), col.size, mid.reshape(n, rows, width), col[0])
    else:
        _tap_pass(axpy, mid, src, col, 0, dh * width)


def _row_pass(
    axpy: Axpy,
    target: np.ndarray,
    mid: np.ndarray,
    row: np.ndarray,
    across: bool,
    shape: tuple[int, int, int, int],
    dw: int,
) -> None:
    """Filter ``mid`` along the rows into ``target``'s first ``length`` cells.

    ``shape`` is (n, output rows, width, length); ``across`` runs ``row``
    (a box) as a running sum.
    """
    n, rows, width, length = shape
    if across:
        kw = row.size
        grid = target.reshape(n, rows, width)
        _running_columns(mid.reshape(n, rows, width), kw, grid[..., : width - kw + 1], row[0])
        grid[..., width - kw + 1 :] = 0  # cropped, but never garbage
    else:
        _tap_pass(axpy, target[:, :length], mid, row, 0, dw)


def _slice_passes(factors: Factors, problem: Problem) -> list[list[tuple[bool, bool]]]:
    """Tell, per kernel slice (o, c), whether each pass is a running sum (a long box)."""
    cols, rows_f = factors
    dh, dw = problem.dilation
    return [
        [
            (running_sum_factor(cols[o, c], dh), running_sum_factor(rows_f[o, c], dw))
            for c in range(problem.cg)
        ]
        for o in range(problem.c_out)
    ]


def make_separable(
    problem: Problem,
    weight: np.ndarray,
    dtype: np.dtype,
    *,
    blas: bool = True,
    factors: Factors | None = None,
) -> TileKernel:
    """Make the ``separable`` tile kernel; raise ParameterError unless every slice has rank 1.

    Its passes are axpy updates (scipy's BLAS with ``blas``, else
    :func:`numpy_axpy`) or running sums. ``factors``, if given, are
    :func:`separable_factors` of ``weight``, found already.
    """
    if factors is None:
        factors = separable_factors(weight, dtype)
    if factors is None:
        raise ParameterError(
            f"strategy 'separable' needs kernels of rank 1; this {weight.shape[-2]}x"
            f"{weight.shape[-1]} kernel is not (use 'auto', 'direct', 'fft' or 'im2col')"
        )
    cols, rows_f = factors
    dh, dw = problem.dilation
    running = _slice_passes(factors, problem)
    # BLAS only for passes that take axpy steps (importing it costs about 0.2 s)
    every_pass_runs = all(all(pair) for row in running for pair in row)
    axpy = axpy_for(dtype, blas and not every_pass_runs)

    def run(block: np.ndarray, dest: np.ndarray) -> None:
        n, _, r, width = block.shape
        th, tw = dest.shape[-2:]
        flat = np.ascontiguousarray(block).reshape(n, block.shape[1], r * width)
        rows = (th - 1) * problem.stride[0] + 1
        length = (rows - 1) * width + (tw - 1) * problem.stride[1] + 1
        mid, acc, part = (np.empty((n, rows * width), dtype=dtype) for _ in range(3))
        for o in range(problem.c_out):
            g = o // problem.og
            target = acc if problem.cg == 1 else part
            for c in range(problem.cg):
                down, across = running[o][c]
                src = flat[:, g * problem.cg + c]
                _column_pass(axpy, mid, src, cols[o, c], down, (n, r, width, rows), dh)
                _row_pass(axpy, target, mid, rows_f[o, c], across, (n, rows, width, length), dw)
                if problem.cg > 1 and c == 0:
                    acc[:, :length] = part[:, :length]
                elif problem.cg > 1:
                    acc[:, :length] += part[:, :length]
            dest[:, o] = crop(acc, problem, width, th, tw)

    if any(any(pair) for row in running for pair in row):
        return TileKernel(run, tall=True)  # running sums work on tiles, not on flat bands

    def interior(src: np.ndarray, base: int, dest: np.ndarray, left: int, right: int) -> None:
        """Compute rows straight from ``src``, as ``direct`` does.

        The column pass runs over whole rows of ``src``, the row pass into
        ``dest`` except its ``left`` and ``right`` border columns.
        """
        th, width = dest.shape
        size = th * width
        mid = np.empty((1, size), dtype=dtype)
        _tap_pass(axpy, mid, src[None], cols[0, 0], base + left, dh * width)
        acc = dest.view()
        acc.shape = (1, size)  # raises rather than copy, so no result can be lost
        _tap_pass(axpy, acc[:, left : size - right], mid, rows_f[0, 0], 0, dw)

    return TileKernel(run, interior)
