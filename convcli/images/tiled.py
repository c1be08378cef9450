"""Images larger than memory: tiled TIFF / BigTIFF / OME-TIFF and zarr, filtered window by window.

A tiled TIFF (``tifffile``), a strip TIFF (a band of strips at a time) or a
``.zarr`` array (``zarr``) is never read in full. The output is cut into
blocks. A chain of kernels runs stage by stage on each block
(:class:`StreamPlan`): each stage asks the one before it for the rectangle
its windows reach (the block plus that stage's halo), and fills the border
of its own input through the engine's index maps
(:func:`convcli.engine.padding.index_map`) exactly as the whole image's
stage would be padded, then filters with no further padding
(:func:`convcli.images.filtering.apply_kernels`). Each output pixel
therefore runs the same arithmetic on the same cells as when the whole
image is filtered in memory: the result is identical, bit for bit, for the
same dtype and strategy ``direct`` or ``separable`` (``auto`` picks one per
kernel, whatever the image size) while their passes run in numpy; ``im2col``
and ``fft`` agree to float rounding, as BLAS and overlap-save blocks sum in
an order that depends on the block's size, and so do ``direct`` and
``separable`` when their axpy passes go to BLAS (once ``scipy.linalg`` is
loaded), whose kernels round a block's tail apart. ``--gray``, every ``--alpha`` mode, stride, padding and
``repeat`` follow the whole image's rules. Ranges that need numbers of the
whole result take them from first passes over the blocks: ``normalize``
its range, a stretching ``auto`` the exact 99th percentile
(:class:`ResultStats`). Blocks are written as they are done to a tiled
BigTIFF or a ``.zarr``, so peak memory follows the block size, not the
image size.

tifffile and zarr come with the ``cluster`` extra and are imported only
inside the functions that use them. The cluster path (:mod:`convcli.cluster.tiled`)
uses :class:`BlockPlan`: one kernel at a time, and no range that needs the
whole result.

This module runs a plan (:func:`filter_tiled`, :func:`stream_blocks`,
:class:`ResultStats`); the pieces live apart and are re-exported here:
:mod:`.tiledsource` (opening the input), :mod:`.blockplan` (one kernel's
blocks and windows), :mod:`.streamplan` (a chain's stages and blocks) and
:mod:`.tiledwrite` (writing the bands).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from ..kernels.kernel import Kernel
from .blockplan import BlockPlan, make_plan, plan_halo, read_window
from .chain import FilterSettings
from .ranges import edge_top, percentile_of_ranks, percentile_ranks
from .streamplan import (
    LATE_MODES,
    WINDOW_BYTES,
    Stage,
    StreamPlan,
    chain_halo,
    plan_stages,
    plan_stream,
)
from .tiledsource import (
    INSTALL_HINT,
    TiledSource,
    is_zarr_path,
    open_tiled,
    open_zarr_blocks,
    probe_tiff,
)
from .tiledwrite import (
    OUTPUT_TILE,
    WRITE_BUFFER_BYTES,
    assemble_bands,
    check_stream_target,
    write_bands,
    zarr_target,
)

__all__ = [
    "BASE_TILES_BYTES",
    "INSTALL_HINT",
    "LATE_MODES",
    "OUTPUT_TILE",
    "WINDOW_ARRAYS",
    "WINDOW_BYTES",
    "WRITE_BUFFER_BYTES",
    "BlockPlan",
    "ResultStats",
    "Stage",
    "StreamPlan",
    "TiledSource",
    "assemble_bands",
    "chain_halo",
    "check_stream_target",
    "filter_tiled",
    "is_zarr_path",
    "make_plan",
    "open_tiled",
    "open_zarr_blocks",
    "percentile_of_ranks",
    "percentile_ranks",
    "plan_halo",
    "plan_stages",
    "plan_stream",
    "probe_tiff",
    "read_window",
    "stream_blocks",
    "streamed_peak_bytes",
    "write_bands",
    "zarr_target",
]


#: Bins of the high (then low) 16 bits of a float32, for exact order statistics in two passes.
_BINS = 1 << 16


class ResultStats:
    """Exact numbers of a whole result gathered tile by tile: range and an order statistic.

    The 99th percentile of the absolute values that ``--range auto``
    stretches to white is found exactly, not estimated: a non-negative
    float32 orders as its bits do, so a first pass counts values by their
    high 16 bits, a second pass by the low 16 bits inside the one or two
    bins that hold the ranks numpy's ``linear`` percentile interpolates
    between, and :func:`percentile_of_ranks` interpolates as numpy does.
    """

    def __init__(self) -> None:
        """Start with nothing counted."""
        self.count = 0
        self.lo, self.hi, self.abs_max = float("inf"), float("-inf"), 0.0
        self.high = np.zeros(_BINS, np.int64)
        self.low: dict[int, np.ndarray] = {}

    def first(self, values: np.ndarray) -> None:
        """Pass 1 over one tile: count, range, high-bit counts of the absolute values."""
        if values.size == 0:
            return
        self.count += values.size
        self.lo, self.hi = min(self.lo, float(values.min())), max(self.hi, float(values.max()))
        bits = np.abs(values.astype(np.float32, copy=False)).view(np.uint32).ravel()
        self.abs_max = max(self.abs_max, float(bits.max().view(np.float32)))
        self.high += np.bincount(bits >> 16, minlength=_BINS)

    def wanted(self) -> list[int]:
        """Return the high-bit bins that hold the two ranks of the percentile."""
        ranks = percentile_ranks(self.count)[:2]
        cum = np.cumsum(self.high)
        return sorted({int(np.searchsorted(cum, r, side="right")) for r in ranks})

    def second(self, values: np.ndarray) -> None:
        """Pass 2 over one tile: low-bit counts of the values in the wanted bins."""
        bits = np.abs(values.astype(np.float32, copy=False)).view(np.uint32).ravel()
        high = bits >> 16
        for b in self.wanted():
            inside = bits[high == b] & 0xFFFF
            counts = np.bincount(inside, minlength=_BINS)
            self.low[b] = self.low.get(b, np.zeros(_BINS, np.int64)) + counts

    def value_at(self, rank: int) -> np.float32:
        """Return the value of 0-based ``rank`` among the sorted absolute values (after pass 2)."""
        cum = np.cumsum(self.high)
        b = int(np.searchsorted(cum, rank, side="right"))
        before = int(cum[b - 1]) if b else 0
        low = int(np.searchsorted(np.cumsum(self.low[b]), rank - before, side="right"))
        return np.uint32((b << 16) | low).view(np.float32)

    def edge_top(self, max_value: float) -> float:
        """Return what ``--range auto`` makes white, as :func:`stretch_edges` on the whole."""
        if self.count == 0:
            return 0.0
        prev, nxt, gamma = percentile_ranks(self.count)
        p = percentile_of_ranks(self.value_at(prev), self.value_at(nxt), gamma)
        return edge_top(float(p), lambda: self.abs_max, max_value)


def stream_blocks(plan: StreamPlan, arr: Any) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(first row, band)`` of written pixels, band by band, after any first passes."""
    readers = plan.readers(arr)
    known = _first_passes(plan, readers) if plan.passes > 1 else (None, None)

    def block(r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        colour, alpha = plan.compute(readers, r0, r1, c0, c1)
        return plan.to_pixels(colour, alpha, known)

    yield from assemble_bands(plan.output_shape, plan.out_dtype, plan.blocks(), block)


Known = tuple[float, ...] | None


def _first_passes(
    plan: StreamPlan, readers: tuple[Callable, Callable | None]
) -> tuple[Known, Known]:
    """Return what ``normalize`` or a stretching ``auto`` takes from the whole result.

    One pass over the blocks (``normalize``: the range) or two (``stretch``:
    the exact 99th percentile), for the colour and, with ``--alpha filter``,
    the alpha (see :class:`ResultStats`).
    """
    late_alpha = plan.alpha == "filter"
    stats = [ResultStats(), ResultStats() if late_alpha else None]
    for step in ("first", "second")[: plan.passes - 1]:
        for box in plan.blocks():
            for values, st in zip(plan.compute(readers, *box), stats, strict=True):
                if st is not None and values is not None:
                    getattr(st, step)(values)
    known: list[Known] = [None, None]
    for i, st in enumerate(stats):
        if st is None:
            continue
        if plan.mode == "stretch":
            known[i] = (st.edge_top(plan.max_value),)
        else:
            known[i] = (st.lo, st.hi)
    return known[0], known[1]


def filter_tiled(
    source: str,
    target: str,
    kernels: Kernel | Sequence[Kernel],
    settings: FilterSettings | None = None,
    *,
    value_range: str = "auto",
    gray: bool = False,
    alpha: str = "keep",
    overwrite: bool = False,
    block: int = 1024,
) -> TiledSource:
    """Filter a tiled TIFF or zarr image into a tiled BigTIFF or zarr, block by block.

    Parameters
    ----------
    source : str
        A TIFF (tiled, BigTIFF, OME-TIFF; a strip TIFF is read in bands of
        whole strips) or a ``.zarr`` array of shape (H, W) or (H, W, C).
    target : str
        ``.tif``/``.tiff`` (a tiled BigTIFF, 256² tiles, zlib) or ``.zarr``
        (256² chunks). Written to a temporary name beside it and renamed into
        place when complete.
    kernels : Kernel or sequence of Kernel
        The chain, applied in order as by
        :func:`convcli.images.filtering.filter_image`.
    settings : FilterSettings, optional
        Geometry (stride, padding, dilation apply to every kernel, as for
        the whole image), pad mode, strategy, bias, repeat.
    value_range, gray, alpha
        As for :func:`convcli.images.filtering.filter_image`. ``normalize``
        takes the result's range from a first pass over the blocks; a
        stretching ``auto`` the exact 99th percentile from two (see
        :class:`ResultStats`). The last channel of a TIFF with 2 or 4
        samples and an extra sample is its alpha.
    overwrite : bool
        Replace an existing target.
    block : int
        Largest output block side, rounded to the 256-pixel output tile;
        smaller for many channels, whole rows for a strip TIFF.

    Returns
    -------
    TiledSource
        What was read.

    Examples
    --------
    >>> import tempfile, tifffile
    >>> from convcli.kernels.catalogue import get_kernel
    >>> d = tempfile.mkdtemp()
    >>> img = np.arange(300 * 200, dtype=np.uint8).reshape(300, 200)
    >>> tifffile.imwrite(f"{d}/in.tif", img, tile=(64, 64))
    >>> _ = filter_tiled(f"{d}/in.tif", f"{d}/out.tif", get_kernel("box:3"), block=64)
    >>> tifffile.imread(f"{d}/out.tif").shape
    (300, 200)
    """
    s = settings or FilterSettings()
    chain = [kernels] if isinstance(kernels, Kernel) else list(kernels)
    check_stream_target(source, target, overwrite)
    with open_tiled(source) as (src, arr):
        plan = plan_stream(src, chain, s, value_range, gray=gray, alpha=alpha, block=block)
        _check_fits(plan, source, target)
        bands = stream_blocks(plan, arr)
        write_bands(target, plan.output_shape, plan.out_dtype, bands, overwrite, alpha=src.alpha)
    return src


#: Resident bytes of a streamed ``convcli filter`` before any pixel: the interpreter,
#: numpy, Pillow, tifffile and zarr. Measured on Linux, Python 3.11.
BASE_TILES_BYTES = 58 * 2**20
#: Float arrays of a window a chain holds at once (input, each part, result, the engine's tiles).
WINDOW_ARRAYS = 10


def streamed_peak_bytes(plan: StreamPlan, target: str = "out.tif") -> int:
    """Estimate the peak resident bytes of a streamed run into ``target``.

    That is one band of output pixels, the floating-point arrays of one
    block's window, and for a TIFF the tiles tifffile compresses at once
    (and their compressed copy).
    """
    out_shape = plan.output_shape
    out_channels = out_shape[2] if len(out_shape) == 3 else 1
    band = plan.block_rows * out_shape[1] * out_channels * plan.out_dtype.itemsize
    top, bottom, left, right = plan.halo
    in_channels = plan.source.shape[2] if len(plan.source.shape) == 3 else 1
    rows = min(plan.block_rows + top + bottom, plan.source.shape[0] + top + bottom)
    cols = min(plan.block_cols + left + right, plan.source.shape[1] + left + right)
    window = rows * cols * in_channels * 4
    writer = 0 if is_zarr_path(target) else 2 * min(band, WRITE_BUFFER_BYTES)
    return int(BASE_TILES_BYTES + band + WINDOW_ARRAYS * window + writer)


def _check_fits(plan: StreamPlan, source: str, target: str) -> None:
    """Refuse a streamed run whose one block could never be held here.

    A block's window is the block plus the halo a padding, dilation or
    kernel adds; this runs before anything is written (a 100000-cell padding
    asked for 386 GB per block, and ran until killed).
    """
    from ..arithmetic.limits import check_allocation

    check_allocation(
        streamed_peak_bytes(plan, target),
        f"{source}: filtering in tiles (one block of {plan.block_rows}x{plan.block_cols} "
        f"outputs with a halo of {max(plan.halo)})",
        "use a smaller padding, dilation or kernel",
    )
