"""How a tile of a convolution is computed: the four numpy strategies (and ``native``).

:func:`convcli.conv2d` and :func:`convcli.filter2d` cut the output into
tiles, gather each tile's input block (the tile plus its halo, padded and
converted to the compute dtype) and hand the block to one of these
strategies, all computing the same cross-correlation:

``direct``
    Shift and accumulate: for every nonzero kernel tap, add ``weight *
    shifted block`` to the output. The block is laid out flat (row after
    row), so each tap is one contiguous stretch, and the update is one fused
    BLAS ``axpy`` pass (``y += a * x``) over the whole tile; taps equal to 0
    are skipped. With several channels, each tap is one BLAS ``gemm``
    (``C_out/groups x Cg`` weights times the shifted channels), accumulated
    in place. For a float plane, rows whose windows lie inside the image are
    read straight from the input into the output.
``separable``
    For kernels of rank 1 (box, Gaussian, Sobel, Prewitt, Scharr, ...):
    a column pass then a row pass, ``kh + kw`` taps instead of ``kh * kw``,
    both inside the tile, so the intermediate image never exists in full.
    Factors come from the kernel's own column and row through its largest
    entry, so Sobel splits into ``[1, 2, 1]`` and ``[-1, 0, 1]`` exactly.
    A box factor (every tap equal) longer than :data:`RUNNING_SUM_PASSES`,
    undilated, is a running sum instead, as in ``scipy.ndimage.uniform_filter``:
    each window is the last one plus the cell entering minus the cell
    leaving, summed in float64 one chunk at a time, so its cost does not
    grow with its length. Its rounding grows with the tile instead, about
    ``eps(float64) * tile rows * sum|k| * max|x|``, as ``fft``'s grows with
    the kernel.
``fft``
    Overlap-save with ``scipy.fft``: the block's spectrum times the
    kernel's (conjugated, for correlation), the valid part of the inverse
    kept. Cost hardly depends on the kernel size, so it wins for large,
    non-separable kernels. Rounding is spread over the whole tile, so
    results differ from the direct sum by about ``eps * sum|k| * max|x|``.
``im2col``
    The teaching model: the tile's patch matrix (one column per output
    pixel, one row per tap and input channel) filled one tap at a time,
    then one matrix product (BLAS) per tile and group. Best for many
    input and output channels, as in a CNN layer.
``native``
    The optional C core (:mod:`convcli.engine.native`): direct or
    separable correlation with every tap summed in vector registers, one
    pass over memory, computing only the outputs a stride keeps. Available
    when the extension is built and ``CONVCLI_ENGINE`` is not ``numpy``;
    the strategies above stay the reference and the fallback.

Stride and dilation: ``direct``, ``separable`` and ``fft`` compute every
stride-1 output inside the tile and keep every ``stride``-th, so their cost
grows with ``stride_h * stride_w``; dilation only spaces the taps out.

Which one ``strategy="auto"`` runs is decided by the cost model in
:mod:`convcli.engine.costs`; how large the tiles are, by
:mod:`convcli.engine.tiling`. Every kernel is a :class:`TileKernel`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ParameterError
from .tiling import RUNNING_SUM_CHUNK, Problem, fft_cache_bytes

__all__ = [
    "SERIAL",
    "STRATEGIES",
    "TileKernel",
    "check_strategy",
    "has_running_sums",
    "make_direct",
    "make_fft",
    "make_im2col",
    "make_separable",
    "numpy_axpy",
    "rank_one_factors",
    "running_sum_factor",
    "separable_factors",
    "separable_passes",
]

#: The strategies :func:`convcli.conv2d` and :func:`convcli.filter2d` accept, besides "auto".
STRATEGIES: tuple[str, ...] = ("direct", "separable", "fft", "im2col", "native")

#: Strategies whose tiles run on one thread: their BLAS calls (through scipy's
#: wrappers) hold the GIL, so a second thread only waits.
SERIAL: tuple[str, ...] = ("direct", "separable")


def check_strategy(strategy: str) -> str:
    """``strategy`` in lower case if it is "auto" or one of :data:`STRATEGIES`.

    Examples
    --------
    >>> check_strategy("FFT")
    'fft'
    """
    if not isinstance(strategy, str) or strategy.lower() not in ("auto", *STRATEGIES):
        known = ", ".join(("auto", *STRATEGIES))
        raise ParameterError(f"unknown `strategy` {strategy!r}; known: {known}")
    return strategy.lower()


@dataclass
class TileKernel:
    """A strategy made ready for one call's weights: ``kernel(block, dest)``.

    ``run(block, dest)`` takes the gathered block (n, C_in, R, C) in the
    compute dtype and writes the tile's outputs into ``dest``, a view of
    shape (n, C_out, th, tw). ``interior(src, base, dest, left, right)``,
    where a strategy has it, computes a band of rows straight from the flat
    input plane ``src`` (see :meth:`convcli.engine.tiling.Tiling.interior_rows`).
    """

    run: Callable[[np.ndarray, np.ndarray], None]
    interior: Callable[[np.ndarray, int, np.ndarray, int, int], None] | None = None
    #: whether its tiles should be tall (running sums: see ``tile_shape``)
    tall: bool = False

    def __call__(self, block: np.ndarray, dest: np.ndarray) -> None:
        self.run(block, dest)


#: Kernel entries per step of :func:`rank_one_factors` (its scratch stays in cache).
RANK_ONE_CHUNK = 1 << 16


def _row_blocks(k: np.ndarray):
    """Slices of ``k``'s rows, about :data:`RANK_ONE_CHUNK` entries each."""
    step = max(1, RANK_ONE_CHUNK // k.shape[1])
    for start in range(0, k.shape[0], step):
        yield slice(start, min(start + step, k.shape[0]))


def rank_one_factors(kernel: np.ndarray, dtype: np.dtype | type = np.float64):
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


def separable_factors(weight: np.ndarray, dtype: np.dtype):
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


def _separable_factors(weight: np.ndarray, dtype: np.dtype):
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
    f = np.asarray(factor).reshape(-1)
    return bool(dilation == 1 and f.size > RUNNING_SUM_PASSES and f[0] != 0 and np.all(f == f[0]))


def has_running_sums(factors, dilation: tuple[int, int]) -> bool:
    """Whether ``separable`` runs any of these factors (from :func:`separable_factors`)
    as a running sum; its tiles are then tall (see :func:`convcli.engine.tiling.tile_shape`).
    """
    return any(
        running_sum_factor(taps, dilation[axis])
        for axis, factor in enumerate(factors)
        for taps in np.asarray(factor).reshape(-1, factor.shape[-1])
    )


def separable_passes(
    factors, dilation: tuple[int, int], running: float = RUNNING_SUM_PASSES
) -> float:
    """Passes over a tile ``separable`` makes with these factors (from
    :func:`separable_factors`): one axpy pass per nonzero tap, or ``running``
    for a factor run as a running sum (0 counts the axpy passes alone).
    """
    total = 0.0
    for axis, factor in enumerate(factors):
        for taps in np.asarray(factor).reshape(-1, factor.shape[-1]):
            if running_sum_factor(taps, dilation[axis]):
                total += running
            else:
                total += np.count_nonzero(taps)
    return total


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


# ------------------------------------------------------------------ tile kernels
# Each takes the gathered block (n, C_in, R, C) in the compute dtype and
# writes the tile's outputs into ``dest``, a view of shape (n, C_out, th, tw).


#: Elements per step of :func:`numpy_axpy`: its scratch product stays in cache.
AXPY_CHUNK = 1 << 15


def numpy_axpy(x: np.ndarray, y: np.ndarray, n: int, a: float, offx: int = 0) -> np.ndarray:
    """``y[:n] += a * x[offx : offx + n]`` in place, in numpy alone: BLAS ``axpy`` without scipy.

    The product is formed :data:`AXPY_CHUNK` elements at a time in a scratch
    buffer that stays in cache, so the update streams ``x`` and ``y`` once, as
    BLAS does; it rounds twice (product, then sum) where BLAS may fuse them.

    Examples
    --------
    >>> y = np.ones(3)
    >>> numpy_axpy(np.arange(5.0), y, n=3, a=2.0, offx=1).tolist()
    [3.0, 5.0, 7.0]
    """
    step = max(1, min(n, AXPY_CHUNK))
    scratch = np.empty(step, dtype=y.dtype)
    for start in range(0, n, step):
        stop = min(start + step, n)
        part = scratch[: stop - start]
        np.multiply(x[offx + start : offx + stop], a, out=part)
        np.add(y[start:stop], part, out=y[start:stop])
    return y


def _axpy(dtype: np.dtype, blas: bool = True):
    """``axpy(x, y, n=, a=, offx=)``: ``y += a * x[offx : offx + n]`` in place on 1-D ``y``.

    With ``blas``, scipy's BLAS ``axpy``: one fused pass per tap, 2-4x faster
    than numpy's multiply-then-add on this machine, but importing
    ``scipy.linalg`` costs about 0.2 s, which only a large image repays (see
    :func:`convcli.engine.costs.blas_repays`); scipy's wrapper holds the GIL,
    so tiles using it run on one thread (see :data:`SERIAL`). Without,
    :func:`numpy_axpy`.
    """
    if not blas:
        return numpy_axpy
    from scipy.linalg import blas as scipy_blas

    return scipy_blas.get_blas_funcs("axpy", dtype=dtype)


def _accumulate(axpy, acc: np.ndarray, src: np.ndarray, off: int, w: float, first: bool) -> None:
    """``acc = w * src[off:]`` (first) or ``acc += w * src[off:]``, row by row.

    ``acc`` is (n, length) and ``src`` (n, at least off + length), both with
    contiguous rows; the update is one fused BLAS axpy pass per row.
    """
    length = acc.shape[-1]
    if first:
        np.multiply(src[:, off : off + length], w, out=acc)
        return
    for k in range(acc.shape[0]):
        axpy(src[k], acc[k], n=length, a=w, offx=off)


def _crop(flat: np.ndarray, problem: Problem, width: int, th: int, tw: int) -> np.ndarray:
    """Rows of ``width`` cells laid out flat -> the strided (th, tw) outputs."""
    sh, sw = problem.stride
    rows = (th - 1) * sh + 1
    grid = flat[..., : rows * width].reshape(*flat.shape[:-1], rows, width)
    return grid[..., ::sh, : (tw - 1) * sw + 1 : sw]


def make_direct(
    problem: Problem, weight: np.ndarray, dtype: np.dtype, *, blas: bool = True
) -> TileKernel:
    """The ``direct`` tile kernel for ``weight`` (C_out, Cg, kh, kw).

    One channel pair: one axpy per nonzero tap (scipy's BLAS with ``blas``,
    else :func:`numpy_axpy`). Several: one BLAS gemm per tap, ``(C_out/groups
    x Cg) @ (Cg x tile)``, accumulated in place.
    """
    if problem.cg * problem.og > 1:
        return _make_direct_gemm(problem, weight, dtype)
    dh, dw = problem.dilation
    kw = weight.shape[3]
    w = weight.reshape(problem.c_out, problem.cg, -1)
    axpy = _axpy(dtype, blas)

    def taps(o: int, c: int):
        """(row, column, weight) of the nonzero taps of kernel slice (o, c)."""
        for t in np.flatnonzero(w[o, c]).tolist():
            i, j = divmod(t, kw)
            yield i, j, float(w[o, c, t])

    def run(block: np.ndarray, dest: np.ndarray) -> None:
        n, _, r, width = block.shape
        th, tw = dest.shape[-2:]
        flat = np.ascontiguousarray(block).reshape(n, block.shape[1], r * width)
        rows = (th - 1) * problem.stride[0] + 1
        length = (rows - 1) * width + (tw - 1) * problem.stride[1] + 1
        acc = np.empty((n, rows * width), dtype=dtype)
        for o in range(problem.c_out):
            g = o // problem.og
            first = True
            for c in range(problem.cg):
                src = flat[:, g * problem.cg + c]
                for i, j, wt in taps(o, c):
                    _accumulate(axpy, acc[:, :length], src, i * dh * width + j * dw, wt, first)
                    first = False
            if first:
                acc[:, :length] = 0
            dest[:, o] = _crop(acc, problem, width, th, tw)

    def interior(src: np.ndarray, base: int, dest: np.ndarray, left: int, right: int) -> None:
        """Rows of outputs straight from the flat input plane ``src`` into ``dest``.

        ``dest`` (th, W) is contiguous; output cell ``p`` (flat) reads
        ``src[base + p + i*dh*W + j*dw]``. Only the cells ``[left, th*W - right)``
        are written: the first and last columns would wrap around a row, and
        the caller computes them through the padded path.
        """
        th, width = dest.shape
        acc = dest.view()
        acc.shape = (1, th * width)  # raises rather than copy, so no result can be lost
        acc = acc[:, left : th * width - right]
        first = True
        for i, j, wt in taps(0, 0):
            _accumulate(axpy, acc, src[None], base + left + i * dh * width + j * dw, wt, first)
            first = False
        if first:
            acc[:] = 0

    return TileKernel(run, interior)


def _make_direct_gemm(problem: Problem, weight: np.ndarray, dtype: np.dtype) -> TileKernel:
    """``direct`` for many channels: per tap, ``acc += W[:, :, i, j] @ shifted block``.

    The block of each image is laid out flat, channel after channel, with
    room after the last one; for tap (i, j) the shifted channels are then
    one contiguous ``(Cg, R*C)`` stretch starting ``i*dh*C + j*dw`` further
    on (the positions that run into the next channel only feed outputs
    outside the tile, which are dropped). BLAS gemm accumulates in place
    (``beta = 1``), so no patch matrix is built.
    """
    from scipy.linalg import blas

    gemm = blas.get_blas_funcs("gemm", dtype=dtype)
    kh, kw = problem.kernel_size
    dh, dw = problem.dilation
    sh, sw = problem.stride
    cg, og, groups = problem.cg, problem.og, problem.groups
    # per group, the taps used by any of its kernels, with their (og x cg) weights
    taps = []
    for g in range(groups):
        wg = weight[g * og : (g + 1) * og].astype(dtype)
        used = np.flatnonzero(np.any(wg != 0, axis=(0, 1)).reshape(-1)).tolist()
        taps.append(
            [(t // kw, t % kw, np.ascontiguousarray(wg[:, :, t // kw, t % kw])) for t in used]
        )

    def run(block: np.ndarray, dest: np.ndarray) -> None:
        n, c_in, r, width = block.shape
        th, tw = dest.shape[-2:]
        plane = r * width
        reach = (kh - 1) * dh * width + (kw - 1) * dw
        flat = np.empty(c_in * plane + reach, dtype=dtype)
        flat[c_in * plane :] = 0
        acc = np.empty((og, plane), dtype=dtype)
        rows = (th - 1) * sh + 1
        for k in range(n):
            flat[: c_in * plane].reshape(c_in, r, width)[...] = block[k]
            for g in range(groups):
                first = True
                for i, j, wmat in taps[g]:
                    off = g * cg * plane + i * dh * width + j * dw
                    shifted = flat[off : off + cg * plane].reshape(cg, plane)
                    # Fortran view: acc.T (plane x og) = shifted.T @ wmat.T, in place
                    gemm(1.0, shifted.T, wmat.T, beta=0.0 if first else 1.0, c=acc.T, overwrite_c=1)
                    first = False
                if first:
                    acc[:] = 0
                grid = acc.reshape(og, r, width)
                dest[k, g * og : (g + 1) * og] = grid[:, :rows:sh, : (tw - 1) * sw + 1 : sw]

    return TileKernel(run)


def make_separable(
    problem: Problem, weight: np.ndarray, dtype: np.dtype, *, blas: bool = True, factors=None
) -> TileKernel:
    """The ``separable`` tile kernel; raises ParameterError unless every slice has rank 1.

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
    # per kernel slice, whether each pass is a running sum (a long box factor)
    running = [
        [
            (running_sum_factor(cols[o, c], dh), running_sum_factor(rows_f[o, c], dw))
            for c in range(problem.cg)
        ]
        for o in range(problem.c_out)
    ]
    # BLAS only for passes that take axpy steps (importing it costs about 0.2 s)
    every_pass_runs = all(all(pair) for row in running for pair in row)
    axpy = _axpy(dtype, blas and not every_pass_runs)

    def run(block: np.ndarray, dest: np.ndarray) -> None:
        n, _, r, width = block.shape
        th, tw = dest.shape[-2:]
        flat = np.ascontiguousarray(block).reshape(n, block.shape[1], r * width)
        rows = (th - 1) * problem.stride[0] + 1
        mid_len = rows * width
        length = (rows - 1) * width + (tw - 1) * problem.stride[1] + 1
        mid = np.empty((n, mid_len), dtype=dtype)
        acc = np.empty((n, mid_len), dtype=dtype)
        part = np.empty((n, mid_len), dtype=dtype)
        for o in range(problem.c_out):
            g = o // problem.og
            target = acc if problem.cg == 1 else part
            for c in range(problem.cg):
                src = flat[:, g * problem.cg + c]
                down, across = running[o][c]
                first = True
                if down:
                    plane = src.reshape(n, r, width)
                    kh = cols.shape[-1]
                    _running_rows(plane, kh, mid.reshape(n, rows, width), cols[o, c, 0])
                    first = False
                else:
                    for i, wt in enumerate(cols[o, c].tolist()):
                        if wt != 0.0:
                            _accumulate(axpy, mid, src, i * dh * width, wt, first)
                            first = False
                if first:
                    mid[:] = 0
                first = True
                if across:
                    kw = rows_f.shape[-1]
                    grid = target.reshape(n, rows, width)
                    _running_columns(
                        mid.reshape(n, rows, width),
                        kw,
                        grid[..., : width - kw + 1],
                        rows_f[o, c, 0],
                    )
                    grid[..., width - kw + 1 :] = 0  # cropped, but never garbage
                    first = False
                else:
                    for j, wt in enumerate(rows_f[o, c].tolist()):
                        if wt != 0.0:
                            _accumulate(axpy, target[:, :length], mid, j * dw, wt, first)
                            first = False
                if first:
                    target[:, :length] = 0
                if problem.cg > 1:
                    if c == 0:
                        acc[:, :length] = part[:, :length]
                    else:
                        acc[:, :length] += part[:, :length]
            dest[:, o] = _crop(acc, problem, width, th, tw)

    if any(any(pair) for row in running for pair in row):
        return TileKernel(run, tall=True)  # running sums work on tiles, not on flat bands

    def interior(src: np.ndarray, base: int, dest: np.ndarray, left: int, right: int) -> None:
        """As for ``direct``: the column pass over whole rows of ``src``, the row pass
        into ``dest`` except its ``left`` and ``right`` border columns.
        """
        th, width = dest.shape
        size = th * width
        mid = np.empty((1, size), dtype=dtype)
        first = True
        for i, wt in enumerate(cols[0, 0].tolist()):
            if wt != 0.0:
                _accumulate(axpy, mid, src[None], base + left + i * dh * width, wt, first)
                first = False
        if first:
            mid[:] = 0
        acc = dest.view()
        acc.shape = (1, size)  # raises rather than copy, so no result can be lost
        acc = acc[:, left : size - right]
        first = True
        for j, wt in enumerate(rows_f[0, 0].tolist()):
            if wt != 0.0:
                _accumulate(axpy, acc, mid, j * dw, wt, first)
                first = False
        if first:
            acc[:] = 0

    return TileKernel(run, interior)


def make_fft(problem: Problem, weight: np.ndarray, dtype: np.dtype, budget: int) -> TileKernel:
    """The ``fft`` tile kernel: overlap-save with scipy.fft."""
    import scipy.fft as sfft

    dh, dw = problem.dilation
    span_h, span_w = problem.span
    c_out, cg = weight.shape[:2]
    # the dilated kernel, taps spread out with zeros in between
    dilated = np.zeros((c_out, cg, span_h, span_w), dtype=dtype)
    dilated[..., ::dh, ::dw] = weight
    cdtype = np.result_type(dtype, np.complex64)
    spectra: dict[tuple[int, int], np.ndarray] = {}
    lock = threading.Lock()
    room = [fft_cache_bytes(budget)]  # what the cached spectra may still take, in total

    def kernel_spectrum(shape: tuple[int, int], o: int | None) -> np.ndarray | None:
        """conj(FFT) of the kernels at transform size ``shape`` (all, or output channel o).

        Spectra are kept (one per transform size) while their total fits
        ``fft_cache_bytes(budget)``; otherwise None is returned for all
        channels and each channel's spectrum is computed when needed.
        """
        with lock:  # one thread computes a spectrum; the others wait for it
            if shape not in spectra:
                nbytes = c_out * cg * shape[0] * (shape[1] // 2 + 1) * cdtype.itemsize
                if nbytes <= room[0]:
                    spectra[shape] = np.conj(sfft.rfft2(dilated, s=shape, axes=(-2, -1)))
                    room[0] -= nbytes
            full = spectra.get(shape)
        if full is not None:
            return full if o is None else full[o]
        if o is None:
            return None
        return np.conj(sfft.rfft2(dilated[o], s=shape, axes=(-2, -1)))

    def run(block: np.ndarray, dest: np.ndarray) -> None:
        r, width = block.shape[-2:]
        th, tw = dest.shape[-2:]
        shape = (sfft.next_fast_len(r, real=True), sfft.next_fast_len(width, real=True))
        spec = sfft.rfft2(block, s=shape, axes=(-2, -1))  # (n, C_in, s0, s1//2+1)
        sh, sw = problem.stride
        rows = (th - 1) * sh + 1
        cols = (tw - 1) * sw + 1
        full = kernel_spectrum(shape, None)
        for o in range(c_out):
            g = o // problem.og
            k = full[o] if full is not None else kernel_spectrum(shape, o)
            assert k is not None  # one channel's spectrum is always computed
            if cg == 1 and c_out == 1:  # the common image filter: multiply in place
                y = np.multiply(spec[:, 0], k[0], out=spec[:, 0])
            else:
                y = (spec[:, g * cg : (g + 1) * cg] * k).sum(axis=1)  # (n, s0, s1')
            res = sfft.irfft2(y, s=shape, axes=(-2, -1), overwrite_x=True)
            dest[:, o] = res[:, :rows:sh, :cols:sw]

    return TileKernel(run)


def make_im2col(problem: Problem, weight: np.ndarray, dtype: np.dtype) -> TileKernel:
    """The ``im2col`` tile kernel: a patch matrix per group, one matrix product each."""
    kh, kw = problem.kernel_size
    sh, sw = problem.stride
    dh, dw = problem.dilation
    cg, og, groups = problem.cg, problem.og, problem.groups
    taps = cg * kh * kw
    wmat = np.ascontiguousarray(weight.reshape(groups, og, taps), dtype=dtype)

    def run_flat(block: np.ndarray, dest: np.ndarray) -> None:
        """Stride 1: each patch-matrix row is one contiguous stretch of the flat block.

        Laid out flat (row after row), the block shifted by tap (i, j) is the
        block read ``i*dh*C + j*dw`` cells further on, so each row of the
        patch matrix is one plain copy; the product then holds every output
        position of the block's rows, and the tile is cut out of it.
        """
        n, c_in, r, width = block.shape
        th, tw = dest.shape[-2:]
        length = (th - 1) * width + tw
        flat = np.ascontiguousarray(block).reshape(n, c_in, r * width)
        patches = np.empty((cg, kh * kw, length), dtype=dtype)
        res = np.empty((og, th * width), dtype=dtype)
        for k in range(n):
            for g in range(groups):
                src = flat[k, g * cg : (g + 1) * cg]
                for i in range(kh):
                    for j in range(kw):
                        off = i * dh * width + j * dw
                        patches[:, i * kw + j] = src[:, off : off + length]
                np.matmul(wmat[g], patches.reshape(taps, length), out=res[:, :length])
                grid = res.reshape(og, th, width)
                dest[k, g * og : (g + 1) * og] = grid[:, :, :tw]

    def run(block: np.ndarray, dest: np.ndarray) -> None:
        n = block.shape[0]
        th, tw = dest.shape[-2:]
        # the tile's patch matrix in unfold layout: row c*kh*kw + i*kw + j, one
        # column per (image, output pixel); filled one kernel tap at a time, so
        # each copy moves whole strided rows instead of kh x kw windows
        patches = np.empty((cg, kh, kw, n, th, tw), dtype=dtype)
        for g in range(groups):
            part = block[:, g * cg : (g + 1) * cg].transpose(1, 0, 2, 3)  # (cg, n, rows, cols)
            for i in range(kh):
                for j in range(kw):
                    r0, c0 = i * dh, j * dw
                    patches[:, i, j] = part[
                        ..., r0 : r0 + (th - 1) * sh + 1 : sh, c0 : c0 + (tw - 1) * sw + 1 : sw
                    ]
            res = wmat[g] @ patches.reshape(taps, n * th * tw)  # (og, n*th*tw)
            dest[:, g * og : (g + 1) * og] = res.reshape(og, n, th, tw).transpose(1, 0, 2, 3)

    return TileKernel(run_flat if (sh, sw) == (1, 1) else run)
