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
==============  ==============================================================

``P(w)`` counts the nonzero taps of all kernels (one pass over the tile each);
``U`` the tap positions any kernel of a group uses, summed over the groups
(one gemm each).
``overlap`` is the extra work done on the tile's halo, ``((t + kh - 1)(t +
kw - 1)) / t²`` for FFT tiles of side ``t``. Rank-1 factors are looked for
only when there are at most 64 kernel slices (an SVD each). The
constants were measured with ``benchmarks/bench_engine.py`` on the
project's 2-core machine (float32, both cores); only their ratios matter.
"""

from __future__ import annotations

import numpy as np

from .strategies import separable_factors
from .tiling import FFT_TILE, Problem

__all__ = ["choose_strategy", "estimate_costs"]

# cost-model constants, seconds per output pixel per unit (see the module docstring)
DIRECT_PASS = 0.28e-9
SEPARABLE_PAIR = 0.2e-9
FFT_PIXEL = 4.5e-9
FFT_MAC = 0.5e-9
IM2COL_COPY = 0.6e-9
IM2COL_MAC = 0.012e-9
GEMM_PASS = 1.3e-9

# beyond this many kernel slices, "auto" does not look for rank-1 kernels
_RANK_CHECK_LIMIT = 64


def _passes(taps: np.ndarray) -> float:
    """Passes over a tile that accumulating these taps takes: one per nonzero tap."""
    return float(np.count_nonzero(np.asarray(taps)))


def estimate_costs(problem: Problem, weight: np.ndarray, factors=None) -> dict[str, float]:
    """Estimated seconds per output pixel and image of each applicable strategy.

    ``factors`` are the rank-1 factors from :func:`separable_factors`, if any.
    """
    kh, kw = problem.kernel_size
    s = problem.stride[0] * problem.stride[1]
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
        passes = _passes(factors[0]) + _passes(factors[1])
        costs["separable"] = s * (passes * DIRECT_PASS + pairs * SEPARABLE_PAIR)
    return costs


def choose_strategy(problem: Problem, weight: np.ndarray, dtype: np.dtype) -> str:
    """The strategy "auto" runs: the cheapest by :func:`estimate_costs`."""
    factors = None
    if problem.c_out * problem.cg <= _RANK_CHECK_LIMIT:
        factors = separable_factors(weight, dtype)
    costs = estimate_costs(problem, weight, factors)
    return min(costs, key=costs.__getitem__)
