"""How one call is cut into tiles: its resolved problem, index maps and tile sizes.

:func:`convcli.conv2d` resolves its geometry once
(:class:`convcli.arithmetic.geometry.Geometry`) and describes the call as a
:class:`Problem` (geometry plus batch and channels), which the cost model
and the tile kernels read. :class:`Tiling` adds the pad mode's index maps
and cuts the output into tiles: for each one, which outputs it holds and
which padded input cells (the tile plus its halo) it reads.
:func:`tile_shape` sizes the tiles so the working memory of the tiles in
flight, one per thread, stays within the memory budget
(:func:`working_memory` is one tile's).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..arithmetic.geometry import Geometry
from ..arithmetic.limits import DEFAULT_MEMORY_BUDGET as LIMITS_BUDGET
from ..errors import ParameterError
from .padding import index_map, normalize_pad_mode

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "FFT_TILE",
    "LARGE_SPAN",
    "RUNNING_SUM_CHUNK",
    "Problem",
    "Tiling",
    "check_budget",
    "fft_cache_bytes",
    "tile_shape",
    "working_memory",
]

#: Default working-memory budget of conv2d and filter2d, in bytes (256 MiB).
DEFAULT_MEMORY_BUDGET = LIMITS_BUDGET  # one number: convcli.arithmetic.limits

# elements of one tile's accumulator for the direct and separable strategies
# (measured on 4096² images: 1<<16 to 1<<19 within 10 %, smaller ones slower)
_DIRECT_TILE_ELEMENTS = 1 << 18
#: Output side of an FFT tile before the halo is added (the cost model's overlap too).
FFT_TILE = 256
#: A kernel spanning more than this many cells on an axis is "large": ``fft``
#: cuts it into blocks (:mod:`convcli.engine.fftblocks`) and running sums take
#: tiles at least four spans tall (:func:`tile_shape`'s ``tall``).
LARGE_SPAN = 64
#: Elements of the float64 scratch one step of a running sum uses (``separable``
#: on a box factor: :func:`convcli.engine.strategies.running_sum_factor`).
RUNNING_SUM_CHUNK = 1 << 16

Pair = tuple[int, int]
#: One tile: (output rows, output columns, source row map, source column map, interior runs)
Tile = tuple[slice, slice, np.ndarray, np.ndarray, tuple[Pair, Pair]]


@dataclass(frozen=True)
class Problem:
    """What the cost model and the tile kernels need to know about one call."""

    n: int
    c_in: int
    c_out: int
    groups: int
    kernel_size: Pair
    stride: Pair
    dilation: Pair
    out: Pair

    @classmethod
    def of(cls, geometry: Geometry, n: int, c_in: int, c_out: int, groups: int) -> Problem:
        """The problem of a call with this resolved geometry, batch and channels."""
        return cls(
            n,
            c_in,
            c_out,
            groups,
            geometry.kernel,
            geometry.stride,
            geometry.dilation,
            geometry.output_shape,
        )

    @property
    def cg(self) -> int:
        """Input channels per group."""
        return self.c_in // self.groups

    @property
    def og(self) -> int:
        """Output channels per group."""
        return self.c_out // self.groups

    @property
    def span(self) -> Pair:
        """The dilated kernel's extent per axis."""
        return (
            self.dilation[0] * (self.kernel_size[0] - 1) + 1,
            self.dilation[1] * (self.kernel_size[1] - 1) + 1,
        )


class Tiling:
    """A resolved geometry with its pad mode's index maps, cut into tiles.

    Examples
    --------
    >>> t = Tiling(Geometry.resolve((4, 5), 3, padding="same"), "zeros")
    >>> t.out, t.rows.tolist()
    ((4, 5), [-1, 0, 1, 2, 3, -1])
    >>> [(rs, cs) for rs, cs, *_ in t.tiles(3, 5)]
    [(slice(0, 3, None), slice(0, 5, None)), (slice(3, 4, None), slice(0, 5, None))]
    """

    def __init__(self, geometry: Geometry, pad_mode: str) -> None:
        self.geometry = geometry
        self.pad_mode = normalize_pad_mode(pad_mode)
        self.size = geometry.size
        self.kernel_size = geometry.kernel
        self.stride = geometry.stride
        self.dilation = geometry.dilation
        self.padding = geometry.padding
        self.out = geometry.output_shape
        self.span = geometry.span
        self.rows = index_map(self.size[0], *self.padding[0], self.pad_mode)
        self.cols = index_map(self.size[1], *self.padding[1], self.pad_mode)

    def input_extent(self, axis: int, n_out: int) -> int:
        """Padded input cells needed for ``n_out`` consecutive outputs along ``axis``."""
        return (n_out - 1) * self.stride[axis] + self.span[axis]

    def tile(self, r0: int, r1: int, c0: int, c1: int) -> Tile:
        """(out_row_slice, out_col_slice, src_row_index, src_col_index, runs) of one tile.

        ``runs`` holds, per axis, the stretch ``[start, stop)`` of the block that
        lies inside the input (copied with one slice by
        :func:`convcli.engine.padding.gather`).
        """
        sh, sw = self.stride
        (top, _), (left, _) = self.padding
        h, w = self.size

        def run(before: int, n: int, start: int, length: int) -> Pair:
            a, b = max(before - start, 0), min(before + n - start, length)
            return (a, b) if a < b else (0, 0)

        rows_needed = self.input_extent(0, r1 - r0)
        cols_needed = self.input_extent(1, c1 - c0)
        rows = self.rows[r0 * sh : r0 * sh + rows_needed]
        cols = self.cols[c0 * sw : c0 * sw + cols_needed]
        runs = (run(top, h, r0 * sh, rows_needed), run(left, w, c0 * sw, cols_needed))
        return slice(r0, r1), slice(c0, c1), rows, cols, runs

    def tiles(self, th: int, tw: int, rows: Pair | None = None) -> Iterator[Tile]:
        """Tiles of ``th x tw`` outputs covering the output rows ``[start, stop)`` (all)."""
        start, stop = rows if rows is not None else (0, self.out[0])
        for r0 in range(start, stop, th):
            for c0 in range(0, self.out[1], tw):
                yield self.tile(r0, min(r0 + th, stop), c0, min(c0 + tw, self.out[1]))

    def interior_rows(self) -> Pair | None:
        """Output rows ``[a, b)`` that can be read straight from the input, or None.

        With stride 1 and an output as wide as the input, an output row whose
        window rows all lie inside the image needs padding only at its two
        ends: the interior of a band of such rows is computed from the input
        in place (see ``interior`` in :mod:`convcli.engine.strategies`), and only
        the ``left`` and ``right`` border columns go through the index maps.
        """
        (top, _), (left, right) = self.padding
        h, w = self.size
        if self.stride != (1, 1) or self.out[1] != w or left + right != self.span[1] - 1:
            return None
        a, b = top, min(h - self.span[0] + top + 1, self.out[0])
        if b - a < 1 or w <= left + right:
            return None
        return a, b

    def windows(self, block: np.ndarray) -> np.ndarray:
        """A (..., out_h, out_w, kh, kw) view of every window of a gathered block."""
        view = sliding_window_view(block, self.span, axis=(-2, -1))
        sh, sw = self.stride
        dh, dw = self.dilation
        return view[..., ::sh, ::sw, ::dh, ::dw]


def check_budget(memory_budget: int) -> int:
    """``memory_budget`` as a positive int, or a ParameterError naming it."""
    if isinstance(memory_budget, bool) or not isinstance(memory_budget, (int, np.integer)):
        raise ParameterError(
            f"`memory_budget` must be an integer number of bytes, got {memory_budget!r}"
        )
    if memory_budget < 1:
        raise ParameterError(f"`memory_budget` must be positive, got {memory_budget}")
    return int(memory_budget)


def fft_cache_bytes(budget: int) -> int:
    """The share of ``budget`` the FFT strategy may keep kernel spectra in (a quarter)."""
    return budget // 4


def working_memory(
    strategy: str, problem: Problem, th: int, tw: int, itemsize: int, in_itemsize: int
) -> int:
    """Bytes one tile of ``th x tw`` outputs needs, besides the output array."""
    n, cin, cout, cg = problem.n, problem.c_in, problem.c_out, problem.cg
    sh, sw = problem.stride
    span_h, span_w = problem.span
    r = (th - 1) * sh + span_h
    c = (tw - 1) * sw + span_w
    block = n * cin * r * c * (itemsize + in_itemsize)  # gathered block and its float copy
    result = n * cout * th * tw * itemsize
    rows = (th - 1) * sh + 1
    if strategy == "direct":
        if problem.cg * problem.og > 1:  # the flat copy of one image and the accumulator
            return block + result + (cin + problem.og) * r * c * itemsize
        return block + result + 2 * n * rows * c * itemsize
    if strategy == "separable":
        # mid, acc, part and a spare; a running sum's float64 chunk and carried row
        chunk_rows = min(rows, max(1, RUNNING_SUM_CHUNK // max(n * c, 1)))
        return block + result + 4 * n * rows * c * itemsize + 8 * n * c * (chunk_rows + 1)
    if strategy == "fft":
        import scipy.fft as sfft

        s0, s1 = sfft.next_fast_len(r, real=True), sfft.next_fast_len(c, real=True)
        spec = s0 * (s1 // 2 + 1) * 2 * itemsize
        return block + result + n * (cin + 2 * cg + 2) * spec
    kh, kw = problem.kernel_size
    if (sh, sw) == (1, 1):  # the flat patch matrix spans whole block rows
        return (
            block + result + (cg * kh * kw * ((th - 1) * c + tw) + problem.og * th * c) * itemsize
        )
    return block + result + n * th * tw * (cg * kh * kw + problem.og) * itemsize


def tile_shape(
    strategy: str,
    problem: Problem,
    budget: int,
    threads: int,
    itemsize: int,
    in_itemsize: int,
    *,
    tall: bool = False,
) -> tuple[int, int]:
    """(th, tw) for ``strategy``: cache-sized or FFT-sized, within ``budget / threads``.

    With ``tall`` (``separable`` with running sums, each tile of which starts
    from a whole window), tiles of a span over :data:`LARGE_SPAN` rows are at
    least four spans tall, so that first window is a small share of the tile.
    """
    oh, ow = problem.out
    per_thread = max(budget // max(threads, 1), 1)

    def fits(th: int, tw: int) -> bool:
        return working_memory(strategy, problem, th, tw, itemsize, in_itemsize) <= per_thread

    if strategy in ("direct", "separable"):
        sh = problem.stride[0]
        width = (ow - 1) * problem.stride[1] + problem.span[1]
        per_row = problem.n * sh * width
        th = max(1, min(oh, _DIRECT_TILE_ELEMENTS // max(per_row, 1)))
        if tall and problem.span[0] > LARGE_SPAN:
            th = max(th, min(oh, 4 * problem.span[0]))
        tw = ow
    elif strategy == "fft":
        import scipy.fft as sfft

        # tiles whose block (tile + halo) is exactly a fast transform length
        sides = []
        for a in (0, 1):
            halo = problem.span[a] - 1
            target = max(FFT_TILE, 4 * max(problem.span))
            sides.append(sfft.next_fast_len(target + halo, real=True) - halo)
        th, tw = min(oh, sides[0]), min(ow, sides[1])
    else:
        th, tw = oh, ow
    # enough tiles for every thread
    if threads > 1 and th >= oh and tw >= ow and oh >= threads:
        th = -(-oh // threads)
    while not fits(th, tw) and th > 1:
        th = max(1, th // 2)
    while not fits(th, tw) and tw > 1:
        tw = max(1, tw // 2)
    return th, tw
