"""Tap by tap: a convolution whose memory does not grow with the kernel's span.

Every strategy of :mod:`convcli.engine.strategies` gathers, for each tile,
the whole block of padded input its windows cover: the tile plus a halo of
``span - 1`` cells, where ``span = dilation * (k - 1) + 1``. With a large
dilation that halo dwarfs the tile (a 3x3 Sobel with dilation 10000 spans
20001 cells, so even a one-pixel tile gathers 20001 x 20001 cells, GBs),
although the kernel reads only ``kh * kw`` of those cells per output.

Here each tile is computed one kernel tap at a time instead: for tap
``(i, j)`` only the ``th x tw`` input cells that tap reads are gathered,
through the pad mode's index maps (a strided slice where they are inside
the image), and ``weight[:, :, i, j]`` times them is added to the output.
The working memory of a tile is a few ``th x tw`` arrays, whatever the
dilation. :func:`convcli.conv2d` and :func:`convcli.filter2d` take this
path when even the smallest tile of the chosen strategy would not fit the
memory budget (:func:`needs_taps`).

Examples
--------
>>> from convcli.arithmetic.geometry import Geometry
>>> from convcli.engine.tiling import Problem, Tiling
>>> geo = Tiling(Geometry.resolve((3, 3), 2, padding=0, dilation=2), "zeros")
>>> x = np.arange(9.0).reshape(1, 1, 3, 3)
>>> w = np.array([[[[1.0, 0.0], [0.0, 10.0]]]])
>>> out = np.empty((1, 1, 1, 1))
>>> run_taps(x, w, geo, Problem.of(geo.geometry, 1, 1, 1, 1), out, 0.0, 2**20, 1)
>>> out[0, 0].tolist()
[[80.0]]
"""

from __future__ import annotations

import numpy as np

from ..errors import LimitError
from .threads import check_cancelled, run_parallel
from .tiling import Problem, Tiling, fft_cache_bytes, working_memory

__all__ = ["needs_taps", "run_taps", "tap_memory"]

# output elements per tile (each tap is one pass over them; as for direct tiles)
_TAP_TILE_ELEMENTS = 1 << 18


def tap_memory(problem: Problem, th: int, tw: int, itemsize: int, in_itemsize: int) -> int:
    """Bytes one ``th x tw`` tile of :func:`run_taps` needs, besides the output array.

    The cells of one tap (as read, and in the compute dtype) and one
    product per output channel (here 128 * 2000 * (4 + 1 + 4) bytes); the span
    does not appear.

    Examples
    --------
    >>> from convcli.arithmetic.geometry import Geometry
    >>> geo = Geometry.resolve((2000, 2000), 3, padding="same", dilation=10000)
    >>> tap_memory(Problem.of(geo, 1, 1, 1, 1), 128, 2000, 4, 1)
    2304000
    """
    cells = problem.n * th * tw
    return cells * (problem.c_in * (itemsize + in_itemsize) + problem.c_out * itemsize)


def needs_taps(
    strategy: str,
    problem: Problem,
    th: int,
    tw: int,
    budget: int,
    threads: int,
    itemsize: int,
    in_itemsize: int,
) -> bool:
    """Whether to run :func:`run_taps` rather than ``strategy``'s ``th x tw`` tiles.

    True when those tiles (the smallest :func:`convcli.engine.tiling.tile_shape`
    found) overrun ``budget / threads`` while a one-pixel tile of
    :func:`run_taps` fits: the span, not the budget, is what is too big. A
    budget below even that (a test's few kB) keeps the strategy, as before.

    For ``fft`` the dilated kernel it builds (``span_h x span_w`` per channel
    pair) counts too, against the share of the budget its spectra may take.

    Examples
    --------
    >>> from convcli.arithmetic.geometry import Geometry
    >>> def problem(d):
    ...     return Problem.of(Geometry.resolve((2000, 2000), 3, padding="same", dilation=d), 1, 1, 1, 1)
    >>> needs_taps("direct", problem(1), 128, 2000, 2**28, 1, 4, 1)
    False
    >>> needs_taps("direct", problem(10000), 1, 1, 2**28, 1, 4, 1)
    True
    """
    per_thread = max(budget // max(threads, 1), 1)
    if tap_memory(problem, 1, 1, itemsize, in_itemsize) > per_thread:
        return False  # a budget too small for anything: every path runs one-pixel tiles
    if working_memory(strategy, problem, th, tw, itemsize, in_itemsize) > per_thread:
        return True
    if strategy == "fft":
        span_h, span_w = problem.span
        dilated = problem.c_out * problem.cg * span_h * span_w * itemsize
        return dilated > fft_cache_bytes(budget)
    return False


def _axis_index(index: np.ndarray, step: int) -> slice | np.ndarray:
    """Return a strided slice for ``index`` when it is one, else the index array (-1 read as 0)."""
    if index.size and index[0] >= 0:
        if index.size == 1:
            return slice(int(index[0]), int(index[0]) + 1)
        if (np.diff(index) == step).all():
            return slice(int(index[0]), int(index[-1]) + 1, step)
    return np.maximum(index, 0)


def _tap_cells(
    x: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    steps: tuple[int, int],
    dtype: np.dtype,
    pad_value: float,
) -> np.ndarray | None:
    """``x[..., rows, cols]`` in ``dtype`` with -1 cells set to ``pad_value``.

    None when every cell is padding of value 0 (the tap adds nothing).
    """
    outside_r, outside_c = rows < 0, cols < 0
    if pad_value == 0 and (outside_r.all() or outside_c.all()):
        return None
    r, c = _axis_index(rows, steps[0]), _axis_index(cols, steps[1])
    if isinstance(r, np.ndarray) and isinstance(c, np.ndarray):
        cells = x[..., r[:, None], c]
    else:
        cells = x[..., r, c]
    cells = cells.astype(dtype)  # always a copy: it is written below and owned here
    if outside_r.any():
        cells[..., outside_r, :] = pad_value
    if outside_c.any():
        cells[..., :, outside_c] = pad_value
    return cells


def _tap_tile(
    problem: Problem, budget: int, threads: int, itemsize: int, in_itemsize: int
) -> tuple[int, int]:
    """Size (rows, columns) the tiles of :func:`run_taps`; raise LimitError if none fits."""
    oh, ow = problem.out
    per_thread = max(budget // threads, 1)
    if tap_memory(problem, 1, 1, itemsize, in_itemsize) > per_thread:
        need = tap_memory(problem, 1, 1, itemsize, in_itemsize) * threads
        raise LimitError(
            f"a one-pixel tile of {problem.n} image(s) x {problem.c_in} channel(s) needs "
            f"{need} bytes; the memory budget is {budget} bytes (raise `memory_budget`)"
        )
    tw = ow
    th = max(1, min(oh, _TAP_TILE_ELEMENTS // max(problem.n * tw, 1)))
    if threads > 1 and th >= oh and oh >= threads:
        th = -(-oh // threads)
    while th > 1 and tap_memory(problem, th, tw, itemsize, in_itemsize) > per_thread:
        th = max(1, th // 2)
    while tw > 1 and tap_memory(problem, th, tw, itemsize, in_itemsize) > per_thread:
        tw = max(1, tw // 2)
    return th, tw


def run_taps(
    x: np.ndarray,
    weight: np.ndarray,
    geo: Tiling,
    problem: Problem,
    out: np.ndarray,
    pad_value: float,
    budget: int,
    threads: int,
) -> None:
    """Correlate ``x`` (N, C_in, H, W) with ``weight`` into ``out`` one tap at a time.

    ``out`` is (N, C_out, out_h, out_w) in the compute dtype. Tiles are
    bands of rows (and columns, if a row does not fit) sized so that the
    tiles in flight, one per thread, keep :func:`tap_memory` within
    ``budget``; only kernel taps that are nonzero for some channel are
    visited. Raises LimitError when even a one-pixel tile would not fit.
    """
    dtype = out.dtype
    oh, ow = problem.out
    th, tw = _tap_tile(problem, budget, max(threads, 1), dtype.itemsize, x.dtype.itemsize)

    sh, sw = problem.stride
    dh, dw = problem.dilation
    kw = problem.kernel_size[1]
    cg, og = problem.cg, problem.og
    w = np.asarray(weight, dtype=dtype)
    used = np.flatnonzero(np.any(w != 0, axis=(0, 1)).reshape(-1)).tolist()
    # per tap, per group: its (og x cg) weights, None for a group it does not touch
    taps = []
    for t in used:
        i, j = divmod(t, kw)
        mats = [w[g * og : (g + 1) * og, :, i, j] for g in range(problem.groups)]
        taps.append((i, j, [m if m.any() else None for m in mats]))

    def work(tile: tuple[int, int, int, int]) -> None:
        r0, r1, c0, c1 = tile
        dest = out[:, :, r0:r1, c0:c1]
        first = np.ones(problem.c_out, dtype=bool)
        for i, j, mats in taps:
            check_cancelled()  # a tile of a large kernel takes minutes: stop between taps
            rows = geo.rows[r0 * sh + i * dh : (r1 - 1) * sh + i * dh + 1 : sh]
            cols = geo.cols[c0 * sw + j * dw : (c1 - 1) * sw + j * dw + 1 : sw]
            cells = _tap_cells(x, rows, cols, (sh, sw), dtype, pad_value)
            if cells is None:
                continue
            for g, mat in enumerate(mats):
                if mat is None:
                    continue
                part = cells[:, g * cg : (g + 1) * cg]
                outs = slice(g * og, (g + 1) * og)
                if cg == 1 and og == 1:
                    term = part * mat[0, 0]
                else:
                    term = np.einsum("oc,nchw->nohw", mat, part)
                if first[g * og]:
                    dest[:, outs] = term
                    first[outs] = False
                else:
                    dest[:, outs] += term
        for o in np.flatnonzero(first).tolist():
            dest[:, o] = 0

    tiles = (
        (r0, min(r0 + th, oh), c0, min(c0 + tw, ow))
        for r0 in range(0, oh, th)
        for c0 in range(0, ow, tw)
    )
    count = len(range(0, oh, th)) * len(range(0, ow, tw))
    run_parallel(work, tiles, max(1, min(max(threads, 1), count)))
