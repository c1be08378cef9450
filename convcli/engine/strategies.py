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

Where each lives: ``direct`` in :mod:`convcli.engine.direct`, ``separable``
in :mod:`convcli.engine.separable` (its factors in
:mod:`convcli.engine.factors`), ``fft`` and ``im2col`` in
:mod:`convcli.engine.transforms`, what they share in
:mod:`convcli.engine.tilekit`; this module names them and re-exports them.
"""

from __future__ import annotations

from ..errors import ParameterError
from .direct import make_direct
from .factors import (
    RUNNING_SUM_PASSES,
    has_running_sums,
    rank_one_factors,
    running_sum_factor,
    separable_factors,
    separable_passes,
)
from .separable import make_separable
from .tilekit import TileKernel, numpy_axpy
from .transforms import make_fft, make_im2col

__all__ = [
    "RUNNING_SUM_PASSES",
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
