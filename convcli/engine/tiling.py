"""How work is cut into tiles and bands: the one planner of the engine and the images.

:func:`convcli.conv2d` resolves its geometry once
(:class:`convcli.arithmetic.geometry.Geometry`) and describes the call as a
:class:`Problem` (geometry plus batch and channels), which the cost model
and the tile kernels read. :class:`Tiling` adds the pad mode's index maps
and cuts the output into tiles: for each one, which outputs it holds and
which padded input cells (the tile plus its halo) it reads, from an array
(:meth:`Tiling.tile`) or from a reader of file windows
(:meth:`Tiling.window`, :func:`read_window`). :func:`tile_shape` sizes the
tiles so the working memory of the tiles in flight, one per thread, stays
within the memory budget (:func:`working_memory` is one tile's).

The same cuts serve the images: :func:`bands` and :func:`boxes` are every
loop over output rows and rectangles (the engine's tiles, a streamed
image's blocks, a pooled file's blocks); :func:`chain_halo` is what a chain
of stages reaches; :func:`chain_band` and :func:`band_height` plan a whole
image filtered in bands of rows (:mod:`convcli.images.bands`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
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
    "Box",
    "Problem",
    "Tiling",
    "band_height",
    "bands",
    "boxes",
    "chain_band",
    "chain_halo",
    "check_budget",
    "fft_cache_bytes",
    "read_window",
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
#: An output rectangle: rows ``[r0, r1)``, columns ``[c0, c1)``.
Box = tuple[int, int, int, int]
#: A reader of input rectangles: ``read(rows, cols)`` gives ``image[rows, cols]``.
Reader = Callable[[slice, slice], np.ndarray]


def bands(stop: int, size: int, start: int = 0) -> Iterator[Pair]:
    """Yield ``[a, b)`` cuts of ``size`` (the last one shorter) covering ``[start, stop)``.

    Examples
    --------
    >>> list(bands(7, 3)), list(bands(7, 3, start=5))
    ([(0, 3), (3, 6), (6, 7)], [(5, 7)])
    """
    if size < 1:
        raise ParameterError(f"a band must be at least 1 long, got {size}")
    for a in range(start, stop, size):
        yield a, min(a + size, stop)


def band_count(stop: int, size: int, start: int = 0) -> int:
    """Return how many cuts :func:`bands` makes of ``[start, stop)``.

    Examples
    --------
    >>> band_count(7, 3), band_count(7, 3, start=5), band_count(0, 3)
    (3, 1, 0)
    """
    if size < 1:
        raise ParameterError(f"a band must be at least 1 long, got {size}")
    return max(0, -(-(stop - start) // size))


def boxes(out: Pair, th: int, tw: int, rows: Pair | None = None) -> Iterator[Box]:
    """Yield ``th x tw`` output rectangles covering ``out``, row-major by bands of rows.

    ``rows`` limits them to output rows ``[start, stop)``; every column is covered.

    Examples
    --------
    >>> list(boxes((3, 5), 2, 4))
    [(0, 2, 0, 4), (0, 2, 4, 5), (2, 3, 0, 4), (2, 3, 4, 5)]
    """
    start, stop = rows if rows is not None else (0, out[0])
    for r0, r1 in bands(stop, th, start):
        for c0, c1 in bands(out[1], tw):
            yield r0, r1, c0, c1


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
        """Describe a call with this resolved geometry, batch and channels."""
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
        """Return the padded input cells ``n_out`` consecutive outputs need along ``axis``."""
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
        """Yield tiles of ``th x tw`` outputs covering the output rows ``[start, stop)`` (all)."""
        for box in boxes(self.out, th, tw, rows):
            yield self.tile(*box)

    def window(
        self, read: Reader, r0: int, r1: int, c0: int, c1: int, pad_value: float = 0.0
    ) -> np.ndarray:
        """Gather the padded input cells outputs ``[r0, r1) x [c0, c1)`` read, from a reader.

        ``read(rows, cols)`` returns a rectangle of the input (an array's
        slice, or a file's window read from disk); only the rectangles the
        tile and its halo touch are read, and the border is filled by the
        pad mode exactly as the whole input would be padded.
        """
        _, _, rows, cols, _ = self.tile(r0, r1, c0, c1)
        return read_window(read, rows, cols, pad_value)

    @property
    def halo(self) -> tuple[int, int, int, int]:
        """Input cells a tile reaches beyond its own: top, bottom, left, right."""
        return chain_halo([self.geometry])

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
        """Return a (..., out_h, out_w, kh, kw) view of every window of a gathered block."""
        view = sliding_window_view(block, self.span, axis=(-2, -1))
        sh, sw = self.stride
        dh, dw = self.dilation
        return view[..., ::sh, ::sw, ::dh, ::dw]


def _runs(index: np.ndarray) -> list[Pair]:
    """Sorted distinct valid indices as ``[(start, stop), ...]`` of consecutive stretches."""
    values = np.unique(index[index >= 0])
    if values.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(values) != 1) + 1
    return [(int(p[0]), int(p[-1]) + 1) for p in np.split(values, breaks)]


def read_window(
    read: Reader, rows: np.ndarray, cols: np.ndarray, pad_value: float = 0.0
) -> np.ndarray:
    """Gather ``image[rows][:, cols]`` from a reader of rectangles, ``-1`` giving ``pad_value``.

    ``rows`` and ``cols`` are positions of the padded image mapped to input
    indices by :func:`convcli.engine.padding.index_map`; only the distinct
    rectangles they touch are read (the two ends of a ``circular`` image are
    two reads, not the whole height).

    Examples
    --------
    >>> img = np.arange(12).reshape(3, 4)
    >>> read = lambda r, c: img[r, c]
    >>> read_window(read, np.array([1, 0, 1]), np.array([-1, 0, 3]))
    array([[0, 4, 7],
           [0, 0, 3],
           [0, 4, 7]])
    """
    row_runs, col_runs = _runs(rows), _runs(cols)
    if len(row_runs) == 1 and len(col_runs) == 1 and _straight(rows, row_runs[0]):
        if _straight(cols, col_runs[0]):
            (r0, r1), (c0, c1) = row_runs[0], col_runs[0]
            return np.ascontiguousarray(read(slice(r0, r1), slice(c0, c1)))
    pieces = [[read(slice(a, b), slice(c, d)) for c, d in col_runs] for a, b in row_runs]
    if not pieces or not pieces[0]:  # every position is padding
        return np.full((rows.size, cols.size), pad_value)
    # np.block would join colour pieces on the wrong axes: rows and columns by hand
    compact = np.concatenate([np.concatenate(row, axis=1) for row in pieces], axis=0)
    r_have = np.concatenate([np.arange(a, b) for a, b in row_runs])
    c_have = np.concatenate([np.arange(a, b) for a, b in col_runs])
    r_pos = np.searchsorted(r_have, np.maximum(rows, 0))
    c_pos = np.searchsorted(c_have, np.maximum(cols, 0))
    out = compact[r_pos][:, c_pos]
    if (rows < 0).any() or (cols < 0).any():
        fill = int(pad_value) if float(pad_value).is_integer() else pad_value
        out = out.astype(np.result_type(out.dtype, np.min_scalar_type(fill)), copy=False)
        out[rows < 0] = pad_value
        out[:, cols < 0] = pad_value
    return out


def _straight(index: np.ndarray, run: Pair) -> bool:
    """Return whether ``index`` is exactly ``start, start + 1, ..., stop - 1`` of ``run``."""
    start, stop = run
    return bool(index.size == stop - start and index[0] == start and np.all(np.diff(index) == 1))


def chain_halo(geometries: Sequence[Geometry]) -> tuple[int, int, int, int]:
    """Return the input cells a chain's outputs reach beyond their own: (t, b, l, r).

    Each geometry is one stage's, on the previous stage's output; a block of
    the last stage's outputs reads that many more input cells above, below,
    left and right of the input cells its own outputs sit on (a stage whose
    windows reach fewer adds 0).

    Examples
    --------
    >>> g = Geometry.resolve((100, 100), 9, padding="same")
    >>> chain_halo([g, Geometry.resolve((100, 100), 3, padding="same")])
    (5, 5, 5, 5)
    """
    top = bottom = left = right = 0
    for geo in reversed(geometries):
        (t, _), (lft, _) = geo.padding
        (sh, sw), (eh, ew) = geo.stride, geo.span
        top, bottom = top * sh + t, bottom * sh + max(0, eh - sh - t)
        left, right = left * sw + lft, right * sw + max(0, ew - sw - lft)
    return top, bottom, left, right


def chain_band(h: int, splits: Sequence[Pair], r0: int, r1: int) -> list[tuple[Pair, Pair]]:
    """Plan output rows ``[r0, r1)`` of a chain of stride-1 stages on ``h`` rows, as a band.

    ``splits[i]`` is stage i's padding (top, bottom) of its ``h`` rows (its
    ``same`` split). Going back from the last stage, each stage needs the
    rows its windows reach above and below the rows it must produce; where
    those rows exist the band takes them from the image (it overlaps its
    neighbours), and only at the image's top and bottom edge does the stage
    pad, exactly as the whole image's stage would.

    Returns
    -------
    list of ((lo, hi), (top, bottom))
        Per stage: the rows ``[lo, hi)`` of its input the band holds, and the
        padding it still adds above and below them.

    Examples
    --------
    >>> chain_band(10, [(1, 1), (2, 2)], 0, 4)
    [((0, 7), (1, 0)), ((0, 6), (2, 0))]
    """
    n = len(splits)
    lo, hi = [r0] * (n + 1), [r1] * (n + 1)
    for i in reversed(range(n)):
        top, bottom = splits[i]
        lo[i] = max(0, lo[i + 1] - top)
        hi[i] = min(h, hi[i + 1] + bottom)
    return [
        ((lo[i], hi[i]), (top - (lo[i + 1] - lo[i]), bottom - (hi[i] - hi[i + 1])))
        for i, (top, bottom) in enumerate(splits)
    ]


def band_height(h: int, reach: int, row_bytes: int, budget: int, share: int = 16) -> int | None:
    """Return the rows of a band, or None when the image is too short to cut.

    A band's arrays of ``row_bytes`` per row take about ``budget / share``,
    and a band is never thinner than ``reach + 1`` rows (the rows a chain
    reaches above and below a pixel); an image shorter than two bands is
    not cut.

    Examples
    --------
    >>> band_height(1000, 4, 100, 16 * 100 * 50), band_height(60, 4, 100, 16 * 100 * 50)
    (50, None)
    """
    rows = max(reach + 1, budget // (share * max(row_bytes, 1)))
    return rows if 2 * rows <= h else None


def check_budget(memory_budget: int) -> int:
    """Return ``memory_budget`` as a positive int, or raise a ParameterError naming it."""
    if isinstance(memory_budget, bool) or not isinstance(memory_budget, (int, np.integer)):
        raise ParameterError(
            f"`memory_budget` must be an integer number of bytes, got {memory_budget!r}"
        )
    if memory_budget < 1:
        raise ParameterError(f"`memory_budget` must be positive, got {memory_budget}")
    return int(memory_budget)


def fft_cache_bytes(budget: int) -> int:
    """Return the share of ``budget`` the FFT strategy may keep spectra in (a quarter)."""
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
