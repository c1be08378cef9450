"""FFT over kernel blocks: large kernels at FFT speed within the memory budget.

The ``fft`` strategy's tiles (:func:`convcli.engine.strategies.make_fft`)
each transform the tile plus a halo of ``span - 1`` cells. With a large
kernel the halo dwarfs the tile: a 1601x1601 Gaussian (``sigma=200``) on
two threads with a 256 MiB budget left room for one-row tiles of a
1601-row halo, and a 4001x4001 kernel did not fit at all.

Here the kernel is cut into blocks of ``bh x bw`` taps as well, and the
output into tiles of ``th x tw``. For each kernel block in turn, every
tile gathers the input its taps read (tile plus that block's halo only),
correlates it with the block by FFT at one transform size ``(S0, S1)``,
and adds the result into the output; the block's spectrum is computed once
and shared by the threads. :func:`plan` picks the block and tile sizes
(and how many threads) that do the fewest transform cells per output pixel
while the tiles in flight, the block's spectrum and its dilated taps fit
the memory budget: one block (the whole kernel) when it fits well.

Examples
--------
>>> from convcli.arithmetic.geometry import Geometry
>>> from convcli.engine.tiling import Tiling
>>> geo = Tiling(Geometry.resolve((6, 7), 5, padding="same"), "zeros")
>>> problem = Problem.of(geo.geometry, 1, 1, 1, 1)
>>> x = np.arange(42.0).reshape(1, 1, 6, 7)
>>> w = np.ones((1, 1, 5, 5))
>>> out = np.empty((1, 1, 6, 7))
>>> p = Plan(blocks=(2, 3), tile=(4, 4), shape=(8, 8), threads=1, cells=0.0)
>>> run(x, w, geo, problem, out, 0.0, p)
>>> bool(np.isclose(out[0, 0, 2, 3], x[0, 0, :5, 1:6].sum()))
True
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from ..arithmetic.support import effective_kernel_size
from .padding import gather
from .threads import check_cancelled, run_parallel
from .tiling import LARGE_SPAN, Problem, Tiling

__all__ = ["LARGE_SPAN", "Plan", "plan", "plan_memory", "run"]

# Kernels spanning more than LARGE_SPAN cells on an axis (defined in tiling) go
# through run() when ``fft`` is chosen (below it, one block and the plain tiles do
# as well).

Pair = tuple[int, int]

# splits of the kernel per axis that :func:`plan` tries
_SPLITS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 48, 64)
# tiles per axis that :func:`plan` tries: the output cut into 1, 2, ... equal parts
_PARTS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 24, 32, 48, 64, 96, 128)


@dataclass(frozen=True)
class Plan:
    """Kernel blocks, output tiles and transform size of one :func:`run`.

    ``cells`` is the transform cells per output pixel the plan costs
    (forward and inverse, every channel), as wall time times the threads
    asked for (so plans that leave threads
    idle compare fairly).
    """

    blocks: Pair
    tile: Pair
    shape: Pair
    threads: int
    cells: float


def _fast_len(n: int) -> int:
    import scipy.fft as sfft

    return int(sfft.next_fast_len(n, real=True))


def plan_memory(problem: Problem, plan: Plan, itemsize: int, in_itemsize: int) -> int:
    """Bytes :func:`run` needs with ``plan``, besides the output array.

    Per thread: the gathered block (as read and in the compute dtype), its
    spectrum, one product (and one channel's term of it), the inverse and
    the tile's result; once: the
    block's dilated taps and their spectrum, for every channel pair.

    Examples
    --------
    >>> from convcli.arithmetic.geometry import Geometry
    >>> problem = Problem.of(Geometry.resolve((2000, 2000), 1601, padding="same"), 1, 1, 1, 1)
    >>> plan_memory(problem, Plan((801, 801), (1000, 1000), (1800, 1800), 1, 0.0), 4, 1) < 2**27
    True
    """
    n, cin, cout, cg = problem.n, problem.c_in, problem.c_out, problem.cg
    sh, sw = problem.stride
    dh, dw = problem.dilation
    (bh, bw), (th, tw), (s0, s1) = plan.blocks, plan.tile, plan.shape
    span_h, span_w = effective_kernel_size(bh, dh), effective_kernel_size(bw, dw)
    r, c = (th - 1) * sh + span_h, (tw - 1) * sw + span_w
    spec = s0 * (s1 // 2 + 1) * 2 * itemsize
    tile = n * cin * r * c * (itemsize + in_itemsize) + n * (cin + 3) * spec
    tile += n * (s0 * s1 + cout * th * tw) * itemsize
    shared = cout * cg * (spec + span_h * span_w * itemsize)
    return plan.threads * tile + shared


@functools.lru_cache(maxsize=64)
def plan(
    problem: Problem, budget: int, threads: int, itemsize: int, in_itemsize: int
) -> Plan | None:
    """Find the kernel blocks and tiles with the fewest transform cells per output pixel.

    Tries kernels cut into 1, 2, 3, ... blocks per axis, outputs cut into
    1, 2, 3, ... tiles per axis and 1 to ``threads`` threads; keeps the
    cheapest plan whose :func:`plan_memory` fits ``budget``. None when not
    even the smallest fits. Plans are remembered (the cost model and the
    call ask for the same one).

    Examples
    --------
    >>> from convcli.arithmetic.geometry import Geometry
    >>> def problem(k):
    ...     return Problem.of(Geometry.resolve((2000, 2000), k, padding="same"), 1, 1, 1, 1)
    >>> plan(problem(1025), 2**28, 2, 4, 1).blocks   # the whole kernel, in one block
    (1025, 1025)
    >>> p = plan(problem(4001), 2**28, 2, 4, 1)      # too big for one: in blocks
    >>> p.blocks < (4001, 4001)
    True
    """
    oh, ow = problem.out
    kh, kw = problem.kernel_size
    sh, sw = problem.stride
    dh, dw = problem.dilation
    pixels = oh * ow
    pairs = problem.c_out * problem.cg
    best: Plan | None = None
    seen = set()
    for m in _SPLITS:
        bh, bw = -(-kh // min(m, kh)), -(-kw // min(m, kw))
        if (bh, bw) in seen:
            continue
        seen.add((bh, bw))
        blocks = -(-kh // bh) * -(-kw // bw)
        span_h, span_w = effective_kernel_size(bh, dh), effective_kernel_size(bw, dw)
        for parts in _PARTS:
            th, tw = -(-oh // min(parts, oh)), -(-ow // min(parts, ow))
            shape = (_fast_len((th - 1) * sh + span_h), _fast_len((tw - 1) * sw + span_w))
            tiles = -(-oh // th) * -(-ow // tw)
            for t in range(min(threads, tiles), 0, -1):
                candidate = Plan((bh, bw), (th, tw), shape, t, 0.0)
                if plan_memory(problem, candidate, itemsize, in_itemsize) > budget:
                    continue
                # per block: its tiles, t at a time, then its spectrum (one thread);
                # times the threads asked for, so plans on fewer threads compare fairly
                transforms = problem.c_in + problem.c_out
                rounds = blocks * (math.ceil(tiles / t) * transforms + pairs) * threads
                cells = rounds * shape[0] * shape[1] / pixels
                if best is None or cells < best.cells:
                    best = Plan((bh, bw), (th, tw), shape, t, cells)
                break  # fewer threads only idle more
    return best


def run(
    x: np.ndarray,
    weight: np.ndarray,
    geo: Tiling,
    problem: Problem,
    out: np.ndarray,
    pad_value: float,
    plan: Plan,
) -> None:
    """Correlate ``x`` (N, C_in, H, W) with ``weight`` into ``out``, block by block.

    ``out`` is (N, C_out, out_h, out_w) in the compute dtype; ``plan`` comes
    from :func:`plan`. Kernel blocks run one after another; the tiles of a
    block run on ``plan.threads`` threads, each adding into its own part of
    ``out``.
    """
    import scipy.fft as sfft

    dtype = out.dtype
    oh, ow = problem.out
    kh, kw = problem.kernel_size
    sh, sw = problem.stride
    dh, dw = problem.dilation
    cg, og = problem.cg, problem.og
    (bh, bw), (th, tw), shape = plan.blocks, plan.tile, plan.shape
    w = np.asarray(weight, dtype=dtype)
    out[...] = 0
    tiles = [
        (r0, min(r0 + th, oh), c0, min(c0 + tw, ow))
        for r0 in range(0, oh, th)
        for c0 in range(0, ow, tw)
    ]
    for i0 in range(0, kh, bh):
        for j0 in range(0, kw, bw):
            taps = w[:, :, i0 : i0 + bh, j0 : j0 + bw]
            if not taps.any():
                continue
            span_h = dh * (taps.shape[2] - 1) + 1
            span_w = dw * (taps.shape[3] - 1) + 1
            dilated = np.zeros((*taps.shape[:2], span_h, span_w), dtype=dtype)
            dilated[..., ::dh, ::dw] = taps
            spectrum = sfft.rfft2(dilated, s=shape, axes=(-2, -1))
            np.conj(spectrum, out=spectrum)  # in place: one spectrum in memory, not two
            del dilated

            def work(
                tile: tuple[int, int, int, int],
                i0: int = i0,
                j0: int = j0,
                k: np.ndarray = spectrum,
                sp: tuple[int, int] = (span_h, span_w),
            ) -> None:
                r0, r1, c0, c1 = tile
                rows = (r1 - r0 - 1) * sh + 1
                cols = (c1 - c0 - 1) * sw + 1
                src_r = geo.rows[r0 * sh + i0 * dh : r0 * sh + i0 * dh + rows + sp[0] - 1]
                src_c = geo.cols[c0 * sw + j0 * dw : c0 * sw + j0 * dw + cols + sp[1] - 1]
                block = gather(x, src_r, src_c, dtype, pad_value)
                spec = sfft.rfft2(block, s=shape, axes=(-2, -1))
                del block
                dest = out[:, :, r0:r1, c0:c1]
                y = np.empty(spec.shape[:1] + spec.shape[2:], dtype=spec.dtype)
                term = np.empty_like(y) if cg > 1 else None
                for o in range(problem.c_out):
                    check_cancelled()
                    g = o // og
                    np.multiply(spec[:, g * cg], k[o, 0], out=y)
                    for c in range(1, cg):  # one channel at a time: no (n, cg, ...) product
                        y += np.multiply(spec[:, g * cg + c], k[o, c], out=term)
                    res = sfft.irfft2(y, s=shape, axes=(-2, -1))
                    dest[:, o] += res[:, :rows:sh, :cols:sw]

            run_parallel(work, iter(tiles), max(1, min(plan.threads, len(tiles))))
            del spectrum, work  # before the next block's spectrum is built
