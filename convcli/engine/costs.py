"""The cost model ``strategy="auto"`` picks a strategy by, and its calibrated constants.

Cost model
----------
:func:`choose_strategy` estimates the time per output pixel of each
applicable strategy and picks the cheapest. With ``T`` the kernel taps,
``Cg`` the input channels per group, ``Cout`` the output channels and
``S = stride_h * stride_w``:

==============  ==============================================================
strategy        estimated cost per output pixel (seconds)
==============  ==============================================================
``direct``      ``S * P(weight) * DIRECT_PASS`` (one channel pair per group)
..              ``S * U * (Cout/groups) * (GEMM_PASS + Cg * IM2COL_MAC)`` (more)
``separable``   ``S * (P(columns) + P(rows)) * DIRECT_PASS + S * Cout * Cg * SEPARABLE_PAIR``
``fft``         ``S * (Cin + Cout) * FFT_PIXEL * overlap + S * Cout * Cg * FFT_MAC``
``im2col``      ``Cin * T * IM2COL_COPY + Cout * Cg * T * IM2COL_MAC``
``native``      ``P(weight) * NATIVE_TAP + Cout * Cg * NATIVE_PIXEL`` (direct), or
..              ``(c * P(col) + P(row)) * NATIVE_TAP + 2 * Cout * Cg * NATIVE_PIXEL``
==============  ==============================================================

In the native separable form a box factor the core sums as a running sum
(:func:`~convcli.engine.factors.native_running_factor`) counts as
:data:`~convcli.engine.factors.NATIVE_RUNNING_TAPS` taps, whatever its length.

``native`` (the C core, when built and not turned off) computes only the
outputs a stride keeps, so ``S`` does not multiply its cost; its separable
form runs the column pass over whole padded rows (``c`` their length over
the output's width). It costs twice as much in float64 (half the vector
lanes), and is ruled out when its workspace overruns the budget.

``P(w)`` counts the nonzero taps of all kernels (one pass over the tile each;
a box factor run as a running sum counts ``RUNNING_SUM_PASSES``);
``U`` the tap positions any kernel of a group uses, summed over the groups
(one gemm each).
``overlap`` is the extra work done on the tile's halo, ``((t + kh - 1)(t +
kw - 1)) / t²`` for FFT tiles of side ``t``. Rank-1 factors are looked for
only when there are at most 64 kernel slices (an SVD each). The
constants were measured with ``benchmarks/bench_engine.py`` on the
project's 2-core machine (float32, both cores); only their ratios matter.

Large kernels
-------------
Given the memory budget, :func:`choose_strategy` prices the paths a large
kernel takes instead of the formulas above: ``fft`` for a kernel spanning
more than :data:`~convcli.engine.fftblocks.LARGE_SPAN` cells runs kernel
blocks (:mod:`convcli.engine.fftblocks`), priced by its plan's transform
cells per output pixel times ``FFT_PIXEL``; ``direct`` whose smallest tile
overruns the budget runs tap by tap (:mod:`convcli.engine.sparse`) at
``TAP_PASS`` a tap; ``im2col`` and ``separable`` tiles that cannot fit are
ruled out. A 1601x1601 Gaussian on 2000x2000 pixels goes to ``fft`` (one
block), a 3x3 Sobel dilated 10000 times to ``direct``, tap by tap, and a
1025x1025 box to ``separable``: a box factor runs as a running sum, priced
at :data:`~convcli.engine.strategies.RUNNING_SUM_PASSES` passes whatever
its length (see :func:`~convcli.engine.strategies.separable_passes`).

BLAS or numpy
-------------
``direct`` and ``separable`` (one channel pair) update the tile with axpy
passes. scipy's BLAS ``axpy`` does one for about ``NUMPY_PASS_EXTRA`` less per
output pixel than numpy's multiply-then-add, but importing ``scipy.linalg``
for it costs about ``SCIPY_BLAS_IMPORT`` seconds, several times the rest of a
small call. :func:`blas_repays` takes BLAS only when the passes of this call
save more than that (or scipy.linalg is loaded already, so it is free).
Likewise :func:`choose_strategy` adds the price of importing ``scipy.fft``,
spread over the call's output pixels, to ``fft`` until it is loaded, and
prices ``direct`` and ``separable`` at numpy's rate unless BLAS repays: a
25x25 Gaussian on a small photo runs ``separable`` in milliseconds rather
than waiting 0.2 s for ``fft`` to load.
"""

from __future__ import annotations

import math
import sys

import numpy as np

from . import fftblocks, sparse
from .factors import (
    NATIVE_RUNNING_TAPS,
    Factors,
    has_running_sums,
    native_running_factor,
    separable_factors,
    separable_passes,
)
from .tiling import FFT_TILE, Problem, tile_shape, working_memory

__all__ = ["blas_repays", "choose_strategy", "estimate_costs", "native_costs", "native_factors"]

# cost-model constants, seconds per output pixel per unit (see the module docstring)
DIRECT_PASS = 0.28e-9
SEPARABLE_PAIR = 0.2e-9
FFT_PIXEL = 4.5e-9
FFT_MAC = 0.5e-9
IM2COL_COPY = 0.6e-9
IM2COL_MAC = 0.012e-9
GEMM_PASS = 1.3e-9
# one kernel tap of the tap-by-tap path (engine/sparse.py), per output pixel: gathering
# its cells, a multiply and an add (measured 4-5x a direct pass: 2000x2000, 3x3 and 5x5)
TAP_PASS = 1.5e-9
# copying one cell of a tile's block (tile plus halo), for kernels with a large span
GATHER_CELL = 0.5e-9

# numpy's axpy over BLAS's, per output pixel and pass (float32, 512x512, in cache:
# 0.26 vs 0.04 ns; float64 0.6 vs 0.13 ns), and the one-off price of scipy's BLAS
NUMPY_PASS_EXTRA = 0.3e-9
SCIPY_BLAS_IMPORT = 0.2
# importing scipy.fft (with scipy's shared base, as scipy.linalg's): seconds, once
SCIPY_FFT_IMPORT = 0.2

# beyond this many kernel slices, "auto" does not look for rank-1 kernels
_RANK_CHECK_LIMIT = 64

# the native core (float32; float64 costs twice: half the lanes): one kernel tap
# of one channel pair, and gathering and storing a cell, per output pixel
NATIVE_TAP = 0.03e-9
NATIVE_PIXEL = 0.3e-9


def _stride_factor(problem: Problem) -> int:
    """Count the stride-1 outputs computed per output kept: ``stride_h * stride_w``.

    Only axes with more than one output count (one output costs one, whatever the
    stride, which may be any size: 10**400 is a valid stride for a one-pixel output).
    """
    return math.prod(s if n > 1 else 1 for s, n in zip(problem.stride, problem.out, strict=True))


def _passes(taps: np.ndarray) -> float:
    """Count the passes over a tile that accumulating these taps takes: one per nonzero tap."""
    return float(np.count_nonzero(np.asarray(taps)))


def estimate_costs(
    problem: Problem, weight: np.ndarray, factors: Factors | None = None
) -> dict[str, float]:
    """Estimated seconds per output pixel and image of each applicable strategy.

    ``factors`` are the rank-1 factors from :func:`separable_factors`, if any.
    """
    kh, kw = problem.kernel_size
    s = _stride_factor(problem)
    taps = kh * kw
    pairs = problem.c_out * problem.cg
    span_h, span_w = problem.span
    t = FFT_TILE
    overlap = ((t + span_h - 1) * (t + span_w - 1)) / (t * t)
    if pairs // problem.groups > 1:  # one gemm per tap position used
        used = np.any(np.asarray(weight) != 0, axis=1)  # (C_out, kh, kw)
        positions = sum(
            int(np.count_nonzero(np.any(used[g * problem.og : (g + 1) * problem.og], axis=0)))
            for g in range(problem.groups)
        )
        direct = s * positions * (problem.og * GEMM_PASS + problem.og * problem.cg * IM2COL_MAC)
    else:
        direct = s * max(_passes(weight), 1.0) * DIRECT_PASS
    costs = {
        "direct": direct,
        "fft": s * (problem.c_in + problem.c_out) * FFT_PIXEL * overlap + s * pairs * FFT_MAC,
        "im2col": problem.c_in * taps * IM2COL_COPY + pairs * taps * IM2COL_MAC,
    }
    if factors is not None:
        passes = separable_passes(factors, problem.dilation)
        costs["separable"] = s * (passes * DIRECT_PASS + pairs * SEPARABLE_PAIR)
    return costs


def native_costs(
    problem: Problem, weight: np.ndarray, dtype: np.dtype, factors: Factors | None = None
) -> tuple[float, float | None] | None:
    """Price the native core: (direct, separable) seconds per output pixel and image.

    The separable one is None without rank-1 ``factors``; the whole is None when
    the core is not available.
    """
    from . import native

    if native.module() is None:  # raises for a bad CONVCLI_ENGINE or CONVCLI_NATIVE_ISA
        return None
    if not native.takes(problem, dtype):
        return None
    scale = np.dtype(dtype).itemsize / 4
    pairs = problem.c_out * problem.cg
    direct = (max(_passes(weight), 1.0) * NATIVE_TAP + pairs * NATIVE_PIXEL) * scale
    if factors is None:
        return direct, None
    ow, sw = problem.out[1], problem.stride[1]
    width = ((ow - 1) * sw + problem.span[1] + 64) / ow
    col, row = (np.asarray(f).reshape(-1, f.shape[-1]) for f in factors)
    (sh, _), (dh, dw) = problem.stride, problem.dilation

    def passes(taps: np.ndarray, stride: int, dilation: int) -> float:
        """Taps of one factor; a box the core sums as a running sum counts as a few."""
        if native_running_factor(taps, stride, dilation):
            return float(NATIVE_RUNNING_TAPS)
        return _passes(taps)

    taps = sum(width * passes(c, sh, dh) + passes(r, sw, dw) for c, r in zip(col, row, strict=True))
    separable = (taps * NATIVE_TAP + 2 * pairs * NATIVE_PIXEL) * scale
    return direct, separable


def native_factors(problem: Problem, weight: np.ndarray, dtype: np.dtype) -> Factors | None:
    """Return the rank-1 factors the native core should use, or None for its direct form."""
    if problem.c_out * problem.cg > _RANK_CHECK_LIMIT:
        return None
    factors = separable_factors(weight, dtype)
    if factors is None:
        return None
    found = native_costs(problem, weight, dtype, factors)
    if found is None or found[1] is None or found[1] >= found[0]:
        return None
    return factors


def choose_strategy(
    problem: Problem,
    weight: np.ndarray,
    dtype: np.dtype,
    budget: int | None = None,
    threads: int = 1,
    in_itemsize: int | None = None,
) -> str:
    """Pick the strategy "auto" runs: the cheapest by :func:`estimate_costs`.

    The one-off price of the scipy module a strategy would import counts too
    (see the module docstring).

    Given the memory ``budget`` (and ``threads``, and the input's item size),
    the paths that large kernels take are priced too (see "Large kernels" in
    the module docstring).
    """
    factors = None
    if problem.c_out * problem.cg <= _RANK_CHECK_LIMIT:
        factors = separable_factors(weight, dtype)
    costs = estimate_costs(problem, weight, factors)
    if budget is not None:
        tall = factors is not None and has_running_sums(factors, problem.dilation)
        _price_large_kernels(
            costs, problem, weight, np.dtype(dtype), budget, threads, in_itemsize, tall
        )
    found = native_costs(problem, weight, dtype, factors)
    if found is not None:
        direct, by_passes = found
        separable = by_passes is not None and by_passes < direct
        costs["native"] = by_passes if by_passes is not None and separable else direct
        if budget is not None:
            from . import native

            convert = in_itemsize is not None and in_itemsize != np.dtype(dtype).itemsize
            fits = native.plan(
                problem,
                budget,
                threads,
                np.dtype(dtype).itemsize,
                in_itemsize or np.dtype(dtype).itemsize,
                convert,
                separable,
            )
            if fits is None:
                costs["native"] = float("inf")
    pixels = max(problem.n * problem.out[0] * problem.out[1], 1)
    if "scipy.fft" not in sys.modules:
        costs["fft"] += SCIPY_FFT_IMPORT / pixels
    s = _stride_factor(problem)
    for name in ("direct", "separable"):
        if name not in costs or blas_repays(problem, name, weight, factors):
            if name in costs and "scipy.linalg" not in sys.modules:
                costs[name] += SCIPY_BLAS_IMPORT / pixels
            continue
        if name == "separable":
            assert factors is not None  # numpy's extra is paid on axpy passes alone
            passes = separable_passes(factors, problem.dilation, running=0)
        else:
            passes = max(_passes(weight), 1.0)
        costs[name] += s * passes * NUMPY_PASS_EXTRA
    return min(costs, key=costs.__getitem__)


def _price_large_kernels(
    costs: dict[str, float],
    problem: Problem,
    weight: np.ndarray,
    dtype: np.dtype,
    budget: int,
    threads: int,
    in_itemsize: int | None,
    tall: bool = False,
) -> None:
    """Reprice, in ``costs``, the strategies a large kernel sends down other paths.

    ``tall``: ``separable`` runs running sums, in tall tiles.
    """
    itemsize = dtype.itemsize
    in_itemsize = itemsize if in_itemsize is None else in_itemsize
    s = _stride_factor(problem)
    if max(problem.span) > fftblocks.LARGE_SPAN:
        plan = fftblocks.plan(problem, budget, threads, itemsize, in_itemsize)
        if plan is None:
            costs["fft"] = float("inf")
        else:
            costs["fft"] = plan.cells * FFT_PIXEL + s * problem.c_out * problem.cg * FFT_MAC
        for name in ("direct", "separable", "im2col"):  # their passes run over the halo too
            if name in costs:
                t = tall and name == "separable"
                costs[name] *= halo_passes(problem, budget, itemsize, in_itemsize, name, tall=t)
                costs[name] += gather_cost(problem, budget, itemsize, in_itemsize, name, tall=t)
    if problem.cg * problem.og == 1 and "direct" in costs:
        taps = s * max(_passes(weight), 1.0) * TAP_PASS
        if direct_by_taps(problem, weight, budget, itemsize, in_itemsize):
            costs["direct"] = taps
    for name in ("im2col", "separable"):  # no path of their own for a span this large
        if name in costs:
            t = tall and name == "separable"
            th, tw = tile_shape(name, problem, budget, threads, itemsize, in_itemsize, tall=t)
            if working_memory(name, problem, th, tw, itemsize, in_itemsize) > budget:
                costs[name] = float("inf")


def fft_by_taps(problem: Problem, weight: np.ndarray, plan: fftblocks.Plan) -> bool:
    """Whether ``fft`` on a large span should run tap by tap rather than by ``plan``.

    A sparse kernel spread over a large span (a dilated Sobel) has few
    taps: gathering them costs less than transforming its blocks.

    Examples
    --------
    >>> from convcli.arithmetic.geometry import Geometry
    >>> geo = Geometry.resolve((600, 700), 3, padding="same", dilation=10000)
    >>> problem = Problem.of(geo, 1, 1, 1, 1)
    >>> fft_by_taps(problem, np.ones((1, 1, 3, 3)), fftblocks.plan(problem, 2**24, 1, 4, 1))
    True
    """
    s = _stride_factor(problem)
    taps = s * max(_passes(weight), 1.0) * problem.c_out * problem.cg * TAP_PASS
    return taps < plan.cells * FFT_PIXEL


def halo_passes(
    problem: Problem, budget: int, itemsize: int, in_itemsize: int, name: str, tall: bool = False
) -> float:
    """How much longer ``name``'s passes are than the tile's rows.

    ``direct`` and ``separable`` passes (and ``im2col``'s patch rows) run
    over whole block rows, ``(tw - 1) * sw + span_w`` cells for ``tw``
    outputs: the halo's share grows with the span.
    """
    _, tw = tile_shape(name, problem, budget, 1, itemsize, in_itemsize, tall=tall)
    sw, span_w = problem.stride[1], problem.span[1]
    return 1.0 + (span_w - 1) / ((tw - 1) * sw + 1)


def gather_cost(
    problem: Problem, budget: int, itemsize: int, in_itemsize: int, name: str, tall: bool = False
) -> float:
    """Price gathering ``name``'s blocks (tile plus halo), in seconds per output pixel.

    ``tall`` as for :func:`~convcli.engine.tiling.tile_shape`.
    """
    th, tw = tile_shape(name, problem, budget, 1, itemsize, in_itemsize, tall=tall)
    (sh, sw), (span_h, span_w) = problem.stride, problem.span
    block = ((th - 1) * sh + span_h) * ((tw - 1) * sw + span_w)
    return problem.c_in * block / (th * tw) * GATHER_CELL


def direct_by_taps(
    problem: Problem, weight: np.ndarray, budget: int, itemsize: int, in_itemsize: int
) -> bool:
    """Whether ``direct`` should run tap by tap (:mod:`convcli.engine.sparse`).

    When its smallest tile overruns the budget, or, for a kernel spanning
    more than :data:`~convcli.engine.fftblocks.LARGE_SPAN` cells, when the
    taps cost less than passes over a halo that dwarfs the tile (a 3x3
    Sobel dilated 1000 times on a 200x200 image: blocks of 2119x2200 cells
    for 119x200 outputs).

    Examples
    --------
    >>> from convcli.arithmetic.geometry import Geometry
    >>> def problem(side, d):
    ...     geo = Geometry.resolve((side, side), 3, padding="same", dilation=d)
    ...     return Problem.of(geo, 1, 1, 1, 1)
    >>> sobel = np.array([[[[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]]])
    >>> direct_by_taps(problem(200, 1000), sobel, 2**28, 4, 1)
    True
    >>> direct_by_taps(problem(200, 1), sobel, 2**28, 4, 1)
    False
    """
    if problem.cg * problem.og != 1:
        return False
    th, tw = tile_shape("direct", problem, budget, 1, itemsize, in_itemsize)
    if sparse.needs_taps("direct", problem, th, tw, budget, 1, itemsize, in_itemsize):
        return True
    if max(problem.span) <= fftblocks.LARGE_SPAN:
        return False
    passes = max(_passes(weight), 1.0)
    tiles = passes * DIRECT_PASS * halo_passes(problem, budget, itemsize, in_itemsize, "direct")
    tiles += gather_cost(problem, budget, itemsize, in_itemsize, "direct")
    return passes * TAP_PASS < tiles


def blas_repays(
    problem: Problem, strategy: str, weight: np.ndarray, factors: Factors | None = None
) -> bool:
    """Whether ``strategy``'s axpy passes should use scipy's BLAS rather than numpy.

    True once ``scipy.linalg`` is imported (nothing more to pay), for the
    gemm form of ``direct`` (several channel pairs per group: numpy has no
    in-place gemm) and when the passes over every stride-1 output pixel save
    more than :data:`SCIPY_BLAS_IMPORT` at :data:`NUMPY_PASS_EXTRA` each
    (``direct``: one pass per nonzero tap; ``separable``: its axpy passes
    given its ``factors``, else at most ``kh + kw`` per kernel slice; a box
    factor run as a running sum takes none). Other strategies need no axpy.

    Examples
    --------
    >>> from convcli.arithmetic.geometry import Geometry
    >>> def problem(side):
    ...     return Problem.of(Geometry.resolve((side, side), 3, padding="same"), 1, 1, 1, 1)
    >>> blas_repays(problem(20000), "direct", np.ones((1, 1, 3, 3)))  # 3.6e9 pixel passes
    True
    >>> blas_repays(problem(512), "fft", np.ones((1, 1, 3, 3)))
    False
    """
    if strategy not in ("direct", "separable"):
        return False
    if "scipy.linalg" in sys.modules:
        return True
    if problem.cg * problem.og > 1:
        return True
    if strategy == "separable" and factors is not None:
        passes = separable_passes(factors, problem.dilation, running=0)
        if passes == 0:
            return False
    elif strategy == "separable":
        passes = float(problem.c_out * problem.cg * sum(problem.kernel_size))
    else:
        passes = max(_passes(weight), 1.0)
    oh, ow = problem.out
    pixels = problem.n * oh * ow * _stride_factor(problem)
    return pixels * passes * NUMPY_PASS_EXTRA > SCIPY_BLAS_IMPORT
