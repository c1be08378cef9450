"""How one call runs: strategy chosen, tiles planned and run on threads.

:func:`run_tiles` is the engine behind :func:`convcli.conv2d` and
:func:`convcli.filter2d` (steps 1-4 of :mod:`convcli.engine.convolution`):
it hands the call to the native core, to the large-kernel paths
(:mod:`convcli.engine.fftblocks`, :mod:`convcli.engine.sparse`) or to a
numpy strategy's tiles, and holds BLAS's threads while tiles run.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass

import numpy as np

from ..arithmetic.limits import check_weights_fit
from . import costs, fftblocks, sparse, strategies
from .factors import Factors
from .padding import gather
from .threads import check_threads, run_parallel, single_threaded_blas
from .tiling import (
    Problem,
    Tile,
    Tiling,
    band_count,
    bands,
    fft_cache_bytes,
    tile_shape,
    working_memory,
)

__all__ = ["SMALL_PROBLEM", "blas_threads", "call_budget", "run_tiles"]

# bytes of small per-call allocations (index maps, views) kept out of the tile plan
_OVERHEAD = 32 * 1024

#: Outputs below which BLAS threading is left as it is.
SMALL_PROBLEM = 1 << 15

# a band of rows computed in place: ("interior", image, first row, stop row)
_Band = tuple[str, int, int, int]


@dataclass(frozen=True)
class _Call:
    """One call's input, weights, geometry, compute dtype, pad value and tile budget."""

    x: np.ndarray
    weight: np.ndarray
    geo: Tiling
    problem: Problem
    dtype: np.dtype
    pad_value: float
    budget: int


def call_budget(memory_budget: int, weight: np.ndarray, geo: Tiling) -> int:
    """Return what ``memory_budget`` leaves for tiles or bands: not the weights, not the maps."""
    # the index maps (and their temporaries) are outside the tile plan
    maps = 4 * (geo.rows.nbytes + geo.cols.nbytes)
    return max(memory_budget - weight.nbytes - maps - _OVERHEAD, 1)


def run_tiles(
    x: np.ndarray,
    weight: np.ndarray,
    geo: Tiling,
    groups: int,
    dtype: np.dtype,
    pad_value: float,
    memory_budget: int,
    strategy: str,
    threads: int | None,
    check: Callable[..., None] | None = None,
) -> np.ndarray:
    """Correlate (N, C_in, H, W) with (C_out, C_in/groups, kh, kw) tile by tile; no bias.

    ``check``, if given, is the input's magnitude check (``check_magnitude`` with
    its arguments bound), called once the strategy is known: before any tile runs,
    or, where the native core reads every input row of an input in the compute
    dtype, after it, with the ``largest`` magnitude it found on the way (and
    called plainly, to name the cell, when it found a NaN or infinity).
    """
    n, c_in = x.shape[:2]
    problem = Problem.of(geo.geometry, n, c_in, weight.shape[0], groups)
    threads = check_threads(threads)
    name = strategies.check_strategy(strategy)
    shape = "x".join(map(str, weight.shape))
    check_weights_fit(weight.size * dtype.itemsize, memory_budget, f"{shape} {dtype}")
    budget = call_budget(memory_budget, weight, geo)
    if name == "auto":
        name = costs.choose_strategy(
            problem, weight, dtype, budget, threads, in_itemsize=x.dtype.itemsize
        )
    call = _Call(x, weight, geo, problem, dtype, pad_value, budget)
    if name == "native":
        return _run_native(call, threads, check)
    if check is not None:
        check()
    return _run_numpy(call, name, threads)


def _run_native(call: _Call, threads: int, check: Callable[..., None] | None) -> np.ndarray:
    """Run the C core: bands of output rows straight from ``x``, then ``check``."""
    from . import native

    x, weight, geo, problem, dtype, pad_value, budget = _fields(call)
    scanned: list[tuple[float, bool]] | None = None
    if check is not None and x.dtype == dtype and native.reads_every_row(geo, problem, x.shape[-2]):
        scanned = []  # the native core finds max|x| as it gathers each row
    elif check is not None:
        check()
    factors = costs.native_factors(problem, weight, dtype)
    out = native.run(x, weight, geo, problem, dtype, pad_value, budget, threads, factors, scanned)
    if check is not None and scanned is not None:
        if all(finite for _, finite in scanned):
            check(largest=max((big for big, _ in scanned), default=0.0))
        else:
            check()  # names the first NaN or infinity
    return out


def _fields(call: _Call) -> tuple[np.ndarray, np.ndarray, Tiling, Problem, np.dtype, float, int]:
    """Return the fields of ``call`` in order, for unpacking."""
    return (
        call.x,
        call.weight,
        call.geo,
        call.problem,
        call.dtype,
        call.pad_value,
        call.budget,
    )


def _run_fft_blocks(call: _Call, threads: int) -> np.ndarray | None:
    """Run a large kernel's ``fft`` cut into blocks too; None when no plan fits."""
    x, weight, geo, problem, dtype, pad_value, budget = _fields(call)
    plan = fftblocks.plan(problem, budget, threads, dtype.itemsize, x.dtype.itemsize)
    if plan is None:
        return None
    out = np.empty((problem.n, problem.c_out, *geo.out), dtype=dtype)
    if costs.fft_by_taps(problem, weight, plan):  # a sparse kernel over a large span
        sparse.run_taps(x, weight, geo, problem, out, pad_value, budget, threads)
    else:
        fftblocks.run(x, weight, geo, problem, out, pad_value, plan)
    return out


def _make_kernel(
    name: str,
    problem: Problem,
    weight: np.ndarray,
    dtype: np.dtype,
    blas: bool,
    factors: Factors | None,
) -> strategies.TileKernel | None:
    """Make the tile kernel of a numpy strategy; None for ``fft``, built once it fits."""
    if name == "direct":
        return strategies.make_direct(problem, weight, dtype, blas=blas)
    if name == "separable":  # raises for a kernel of rank above 1
        return strategies.make_separable(problem, weight, dtype, blas=blas, factors=factors)
    if name == "im2col":
        return strategies.make_im2col(problem, weight, dtype)
    return None


def _tile_threads(name: str, problem: Problem, threads: int) -> int:
    """Return the tile threads a numpy strategy runs on."""
    if name in strategies.SERIAL:
        # scipy's BLAS wrappers (axpy, gemm) hold the GIL: more threads only add contention;
        # the numpy axpy's steps are too short to gain from them either
        return 1
    if name == "im2col" and problem.n * problem.c_out * problem.out[0] * problem.out[1] < (
        SMALL_PROBLEM
    ):
        # a small layer: one tile, whose product BLAS shares out as it sees fit; tile
        # threads would cost a pool's start and, beside BLAS's, more threads than cores
        return 1
    return threads


def _run_numpy(call: _Call, name: str, requested: int) -> np.ndarray:
    """Run a numpy strategy's tiles (or its large-kernel path) on threads."""
    x, weight, geo, problem, dtype, pad_value, budget = _fields(call)
    # rank-1 factors once, for BLAS's price (a running sum takes no axpy) and the kernel
    factors = strategies.separable_factors(weight, dtype) if name == "separable" else None
    blas = costs.blas_repays(problem, name, weight, factors)
    tile_budget = budget
    if name == "fft":
        tile_budget = max(budget - fft_cache_bytes(budget), 1)  # the cached kernel spectra
    if name == "fft" and max(problem.span) > fftblocks.LARGE_SPAN:
        # a large kernel: cut it into blocks too, so no tile's halo dwarfs the tile
        done = _run_fft_blocks(call, requested)
        if done is not None:
            return done
    threads = _tile_threads(name, problem, requested)
    kernel = _make_kernel(name, problem, weight, dtype, blas, factors)
    sizes = (dtype.itemsize, x.dtype.itemsize)
    tall = kernel is not None and kernel.tall
    th, tw = tile_shape(name, problem, tile_budget, threads, *sizes, tall=tall)
    out = np.empty((problem.n, problem.c_out, *geo.out), dtype=dtype)
    by_taps = name == "direct" and costs.direct_by_taps(problem, weight, tile_budget, *sizes)
    if by_taps or sparse.needs_taps(name, problem, th, tw, tile_budget, threads, *sizes):
        # even the smallest tile's block (tile plus the dilated span) overruns the
        # budget, or its halo costs more than the taps: gather only the cells each
        # tap reads (nothing of the span is built)
        sparse.run_taps(x, weight, geo, problem, out, pad_value, budget, requested)
        return out
    if kernel is None:  # fft: its dilated kernel is built only now that it fits
        kernel = strategies.make_fft(problem, weight, dtype, budget)
    band = _interior_band(x, geo, kernel, dtype, problem)
    tiles, edges, count = _schedule(geo, problem, band, (th, tw), tile_budget, threads, name, sizes)
    work = _worker(x, geo, kernel, out, dtype, pad_value)
    threads = max(1, min(threads, count))
    with blas_threads(name, threads, out.size, blas, requested):
        run_parallel(work, tiles, threads)
        if edges:
            # only once every interior band is done: those wrote scratch values into
            # the border columns, which these tiles now overwrite with the real ones
            run_parallel(work, iter(edges), min(threads, len(edges)))
    return out


def _worker(
    x: np.ndarray,
    geo: Tiling,
    kernel: strategies.TileKernel,
    out: np.ndarray,
    dtype: np.dtype,
    pad_value: float,
) -> Callable[[Tile | _Band], None]:
    """Return the function a tile thread runs on each tile or interior band."""
    (top, _), (left, right) = geo.padding
    span_h = geo.span[0]

    def work(tile: Tile | _Band) -> None:
        if isinstance(tile[0], str):
            _, k, r0, r1 = tile
            assert kernel.interior is not None
            # only the input rows the band reads, so no wrapper can copy more
            src = x[k, 0, r0 - top : r1 - top + span_h - 1].reshape(-1)
            kernel.interior(src, -left, out[k, 0, r0:r1], left, right)
            return
        rs, cs, rows, cols, runs = tile
        kernel(gather(x, rows, cols, dtype, pad_value, runs), out[:, :, rs, cs])

    return work


def _schedule(
    geo: Tiling,
    problem: Problem,
    band: tuple[int, int] | None,
    tile: tuple[int, int],
    budget: int,
    threads: int,
    name: str,
    sizes: tuple[int, int],
) -> tuple[Iterator[Tile | _Band], list[Tile], int]:
    """Plan the tiles: (tiles and interior bands, border strips to run after, count)."""
    th, tw = tile
    if band is None:
        count = band_count(geo.out[0], th) * band_count(geo.out[1], tw)
        return geo.tiles(th, tw), [], count
    a, b = band
    ow = geo.out[1]
    (_, _), (left, right) = geo.padding
    # generated as the workers pull them: a list of thousands of small tuples
    # would itself take a noticeable share of a small budget
    interior: Iterator[Tile | _Band] = (
        ("interior", k, r0, r1) for k in range(problem.n) for r0, r1 in bands(b, th, a)
    )
    # the border columns, in tall strips (a few tall tiles cost less than many
    # small ones), as tall as the budget allows
    tall = max(th, 1024)
    per_thread = max(budget // threads, 1)
    edge_width = max(left, right)
    while tall > th and working_memory(name, problem, tall, edge_width, *sizes) > per_thread:
        tall //= 2
    edges = [geo.tile(r0, r1, 0, left) for r0, r1 in bands(b, tall, a) if left]
    edges += [geo.tile(r0, r1, ow - right, ow) for r0, r1 in bands(b, tall, a) if right]
    tiles = itertools.chain(geo.tiles(th, tw, (0, a)), interior, geo.tiles(th, tw, (b, geo.out[0])))
    count = (
        problem.n * band_count(b, th, a)
        + len(edges)
        + band_count(ow, tw) * (band_count(a, th) + band_count(geo.out[0], th, b))
    )
    return tiles, edges, count


def _interior_band(
    x: np.ndarray, geo: Tiling, kernel: strategies.TileKernel, dtype: np.dtype, problem: Problem
) -> tuple[int, int] | None:
    """Return the output rows to compute straight from ``x`` (``Tiling.interior_rows``), or None."""
    if kernel.interior is None or problem.c_in != 1 or problem.c_out != 1 or x.dtype != dtype:
        return None
    if not x.flags.aligned:  # BLAS wrappers would copy an unaligned plane on every call
        return None
    plane = x.shape[-1] * x.itemsize
    if x.strides[-1] != x.itemsize or x.strides[-2] != plane:
        return None
    return geo.interior_rows()


def blas_threads(
    strategy: str, threads: int, size: int, blas: bool = True, requested: int | None = None
) -> AbstractContextManager[object]:
    """Return a context in which BLAS runs single-threaded, when that is faster.

    When our own tile threads use the cores, or for the ``axpy`` calls of the
    direct and separable strategies (OpenBLAS would wake its threads for each
    of them), BLAS is held to one thread through threadpoolctl; so it is for
    ``im2col`` when the caller asked for one thread (``requested``), which
    then means one core. Only ``im2col`` or ``fft`` running a single tile for
    a caller who asked for more threads leave BLAS its own threads. Small
    problems are left alone. Overlapping calls from several user threads
    share one limit, lifted when the last of them leaves.

    BLAS's own threads are the last resort because OpenBLAS's workers keep
    spinning for a while after each call (measured: about 30 ms of CPU within
    0.2 s), on the cores the next call (convcli's tiles, or torch's OpenMP
    threads in the same process) needs; convcli's tile threads sleep when idle.
    """
    if size < SMALL_PROBLEM:
        return contextlib.nullcontext()
    if threads == 1 and strategy in ("im2col", "fft"):
        if requested == 1 and strategy == "im2col":
            return single_threaded_blas()
        return contextlib.nullcontext()
    if strategy in strategies.SERIAL and not blas:  # numpy's axpy: no BLAS call to hold
        return contextlib.nullcontext()
    return single_threaded_blas()
