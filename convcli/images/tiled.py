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
inside the functions here. The cluster path (:mod:`convcli.cluster.tiled`)
uses :class:`BlockPlan`: one kernel at a time, and no range that needs the
whole result.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..arithmetic.geometry import Geometry
from ..arithmetic.sizes import PaddingSpec
from ..engine.padding import index_map, normalize_pad_mode
from ..errors import ImageError, ParameterError, install_hint
from ..kernels.kernel import Kernel
from .filtering import (
    ALPHA_MODES,
    FilterSettings,
    apply_kernels,
    centre_delta,
    chain_input,
    chain_range_mode,
    edge_top,
    map_range,
    percentile_of_ranks,
    percentile_ranks,
    split_alpha,
    store_tile,
)
from .pixels import to_pixels

__all__ = [
    "INSTALL_HINT",
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

#: What a person without tifffile/zarr is told to run.
INSTALL_HINT = install_hint("cluster")
#: Output tiles of a written BigTIFF and chunks of a written zarr (rows, columns).
OUTPUT_TILE = 256
#: Bytes of tiles tifffile compresses in one pass (its threads hold them, and their output).
WRITE_BUFFER_BYTES = 16 * 2**20


def _require(module: str) -> Any:
    try:
        return __import__(module)
    except ImportError:
        raise ImageError(
            f"images read in tiles need {module}, which is not installed: {INSTALL_HINT}"
        ) from None


def is_zarr_path(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a zarr array (by its ``.zarr`` suffix).

    Examples
    --------
    >>> is_zarr_path("scan.zarr"), is_zarr_path("scan.zarr/"), is_zarr_path("scan.tif")
    (True, True, False)
    """
    return os.fspath(path).rstrip("/\\").lower().endswith(".zarr")


@dataclass(frozen=True)
class TiledSource:
    """What is known of a large input without reading its pixels.

    Attributes
    ----------
    path : str
    kind : {"tiff", "zarr"}
    shape : tuple of int
        ``(H, W)`` or ``(H, W, C)``.
    dtype : numpy.dtype
    tile : (int, int) or None
        The file's tile (TIFF) or chunk (zarr) rows and columns; None for a
        strip TIFF.
    alpha : bool
        The last channel is alpha (a TIFF with 2 or 4 samples, one extra).
    strip_rows : int or None
        Rows per strip of a strip TIFF (a strip is the least it reads).
    """

    path: str
    kind: str
    shape: tuple[int, ...]
    dtype: np.dtype
    tile: tuple[int, int] | None
    alpha: bool = False
    strip_rows: int | None = None

    @property
    def pixels(self) -> int:
        return int(self.shape[0]) * int(self.shape[1])


def probe_tiff(path: str) -> TiledSource | None:
    """The first series of a TIFF file, or None when tifffile is missing or cannot read it.

    Only the header is read. A planar ``(C, H, W)`` series with C > 1 and
    anything beyond ``(H, W)`` / ``(H, W, S)`` after dropping length-1 axes
    give None (the whole-image reader then handles the file).
    """
    try:
        import tifffile
    except ImportError:
        return None
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            page = series.pages[0] if series.pages else tif.pages[0]
            axes = series.axes
            shape = series.shape
            dtype = np.dtype(series.dtype)
            tiled = bool(getattr(page, "is_tiled", False))
            tile = (int(page.tilelength), int(page.tilewidth)) if tiled else None
            strip_rows = None if tiled else int(getattr(page, "rowsperstrip", 0) or 0) or None
            extra = len(getattr(page, "extrasamples", ()) or ())
    except Exception:  # not a TIFF tifffile understands: the whole-image reader decides
        return None
    kept = [(a, n) for a, n in zip(axes, shape, strict=True) if n != 1 or a in "YX"]
    axes2 = "".join(a for a, _ in kept)
    if axes2 not in ("YX", "YXS"):
        return None
    shape2 = tuple(n for _, n in kept)
    alpha = len(shape2) == 3 and shape2[2] in (2, 4) and extra == 1
    if strip_rows is not None:
        strip_rows = min(strip_rows, shape2[0])
    return TiledSource(path, "tiff", shape2, dtype, tile, alpha, strip_rows)


def open_zarr_blocks(path: str, mode: str, **kwargs: Any) -> Any:
    """The zarr array at ``path``, storing every chunk (an all-zero one too, so that
    the chunks on disk can be counted: ``--skip-existing`` and the cluster's check).
    """
    import zarr

    if int(zarr.__version__.split(".")[0]) >= 3:
        return zarr.open_array(path, mode=mode, config={"write_empty_chunks": True}, **kwargs)
    return zarr.open_array(path, mode=mode, write_empty_chunks=True, **kwargs)  # pragma: no cover


def _open_zarr_array(path: str, mode: str = "r") -> Any:
    zarr = _require("zarr")
    try:
        return zarr.open_array(path, mode=mode)
    except Exception as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ImageError(f"{path}: not a zarr array ({text})") from None


@contextlib.contextmanager
def open_tiled(path: str) -> Iterator[tuple[TiledSource, Any]]:
    """Open a tiled TIFF or a zarr array: ``(source, array)``, where slicing ``array`` reads.

    The array reads only the tiles (chunks) a slice touches. For a TIFF it
    is tifffile's zarr view of the first series; length-1 axes are dropped
    (so slices are ``[rows, cols]`` or ``[rows, cols, :]``).

    Raises
    ------
    ImageError
        Missing file, or not a readable tiled TIFF / zarr array.
    """
    if not os.path.exists(path):
        raise ImageError(f"{path}: no such file")
    if is_zarr_path(path):
        arr = _open_zarr_array(path)
        if arr.ndim not in (2, 3):
            raise ImageError(f"{path}: a zarr image must be (H, W) or (H, W, C), got {arr.shape}")
        chunks = tuple(int(c) for c in arr.chunks[:2])
        src = TiledSource(path, "zarr", tuple(arr.shape), np.dtype(arr.dtype), chunks)  # type: ignore[arg-type]
        yield src, arr
        return
    _require("tifffile")
    zarr = _require("zarr")
    import tifffile

    src0 = probe_tiff(path)
    if src0 is None:
        raise ImageError(f"{path}: not a TIFF of shape (H, W) or (H, W, channels)")
    with tifffile.TiffFile(path) as tif:
        store = tif.series[0].aszarr()
        try:
            arr = zarr.open_array(store, mode="r")
            keep = tuple(
                slice(None) if n != 1 or i >= arr.ndim - 2 else 0 for i, n in enumerate(arr.shape)
            )
            yield src0, _Squeezed(arr, keep, len(src0.shape))
        finally:
            store.close()


class _Squeezed:
    """A view of a zarr array with its leading length-1 axes taken away."""

    def __init__(self, arr: Any, lead: tuple, ndim: int) -> None:
        self.arr, self.ndim = arr, ndim
        self.lead = lead[: arr.ndim - ndim] if arr.ndim > ndim else ()

    def __getitem__(self, key: tuple) -> np.ndarray:
        return np.asarray(self.arr[self.lead + tuple(key)])


def plan_halo(
    shape: tuple[int, int],
    kernel_shape: tuple[int, int],
    stride: int | tuple[int, int],
    padding: PaddingSpec,
    dilation: int | tuple[int, int],
) -> Geometry:
    """The whole image's geometry: padding per side, output size and the windows' span."""
    return Geometry.resolve(shape, kernel_shape, stride=stride, padding=padding, dilation=dilation)


def _runs(index: np.ndarray) -> list[tuple[int, int]]:
    """Sorted distinct valid indices as ``[(start, stop), ...]`` of consecutive stretches."""
    values = np.unique(index[index >= 0])
    if values.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(values) != 1) + 1
    return [(int(p[0]), int(p[-1]) + 1) for p in np.split(values, breaks)]


def read_window(
    read: Callable[[slice, slice], np.ndarray],
    rows: np.ndarray,
    cols: np.ndarray,
    pad_value: float = 0.0,
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
    if len(row_runs) == 1 and len(col_runs) == 1:
        (r0, r1), (c0, c1) = row_runs[0], col_runs[0]
        if (
            rows.size == r1 - r0
            and cols.size == c1 - c0
            and rows[0] == r0
            and cols[0] == c0
            and np.all(np.diff(rows) == 1)
            and np.all(np.diff(cols) == 1)
        ):
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


@dataclass(frozen=True)
class BlockPlan:
    """How one image is filtered in blocks: geometry, pad maps, value mapping."""

    geometry: Geometry
    row_map: np.ndarray
    col_map: np.ndarray
    kernel: Kernel
    settings: FilterSettings
    mode: str  # the concrete range mode, or "raw"
    max_value: float
    out_dtype: np.dtype

    def block(self, read: Callable[[slice, slice], np.ndarray], r0: int, r1: int, c0: int, c1: int):
        """Output rows r0..r1-1, columns c0..c1-1, as output pixels (or raw float32)."""
        (sh, sw), (eh, ew) = self.geometry.stride, self.geometry.span
        rows = self.row_map[r0 * sh : (r1 - 1) * sh + eh]
        cols = self.col_map[c0 * sw : (c1 - 1) * sw + ew]
        return self.filter_window(read_window(read, rows, cols))

    def filter_window(self, window: np.ndarray) -> np.ndarray:
        """Filter a window that holds every cell its outputs reach (no more padding)."""
        values = apply_kernels(window, [self.kernel], self.settings)
        if self.mode == "raw":
            return values.astype(np.float32, copy=False)
        mapped = map_range(values, self.mode, self.max_value)
        return to_pixels(mapped, self.max_value, self.out_dtype, clip=False, in_place=True)


def make_plan(
    src: TiledSource,
    kernel: Kernel,
    settings: FilterSettings,
    value_range: str = "auto",
) -> BlockPlan:
    """Check that ``kernel`` and ``value_range`` can run block by block and resolve them.

    Raises
    ------
    ParameterError
        ``repeat`` > 1, a range that needs the whole result, or a
        floating-point input with a range other than ``raw``.
    """
    if settings.repeat != 1:
        raise ParameterError(
            "--repeat needs the whole image: an image filtered in tiles takes one kernel "
            "at a time (run filter again on the .zarr it writes)"
        )
    mode = value_range
    if mode == "auto":
        zero_sum = kernel.is_zero_sum and not kernel.offset
        mode = "stretch" if zero_sum else "clip"
        if mode == "stretch":
            raise ParameterError(
                f"--range auto stretches {kernel.name}'s response by its 99th percentile over "
                "the whole image, which a tiled run cannot know: give --range abs, clip, "
                "offset or raw"
            )
    if mode == "normalize":
        raise ParameterError(
            "--range normalize needs the whole result's range: with an image filtered in "
            "tiles give --range abs, clip, offset or raw"
        )
    out_dtype, max_value = _output_type(src, mode)
    h, w = src.shape[:2]
    geo = plan_halo((h, w), kernel.shape, settings.stride, settings.padding, settings.dilation)
    pad = normalize_pad_mode(settings.pad_mode)
    (top, bottom), (left, right) = geo.padding
    out_h, out_w = geo.output_shape
    if out_h < 1 or out_w < 1:
        raise ParameterError(f"{src.path}: the output would be empty ({out_h} x {out_w})")
    block_settings = replace(settings, padding=0)
    return BlockPlan(
        geo,
        index_map(h, top, bottom, pad),
        index_map(w, left, right, pad),
        kernel,
        block_settings,
        mode,
        max_value,
        out_dtype,
    )


#: Bytes of one channel-stack of floats a block's window may take (a few such arrays live
#: at once while a chain runs); sets the block side of a streamed image.
WINDOW_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Stage:
    """One kernel of a streamed chain, with its input's geometry and border maps.

    ``row_map`` / ``col_map`` take each padded position of this stage's
    input (the image for the first kernel, the previous kernel's whole
    result after that) to the index it reads (:func:`index_map`).
    """

    kernel: Kernel
    geometry: Geometry
    row_map: np.ndarray
    col_map: np.ndarray

    def reader(
        self, previous: Callable[[slice, slice], np.ndarray], settings: FilterSettings
    ) -> Callable[[slice, slice], np.ndarray]:
        """A reader of this stage's output rectangles, built on a reader of its input."""
        (sh, sw), (eh, ew) = self.geometry.stride, self.geometry.span

        def read(r: slice, c: slice) -> np.ndarray:
            rows = self.row_map[r.start * sh : (r.stop - 1) * sh + eh]
            cols = self.col_map[c.start * sw : (c.stop - 1) * sw + ew]
            window = read_window(previous, rows, cols)
            return apply_kernels(window, [self.kernel], settings)

        return read


def plan_stages(
    shape: tuple[int, ...], kernels: Sequence[Kernel], settings: FilterSettings
) -> tuple[Stage, ...]:
    """Each kernel of a chain (``repeat`` times) with the geometry of the image it filters.

    Raises
    ------
    ParameterError
        A stage's output would be empty.
    """
    pad = normalize_pad_mode(settings.pad_mode)
    h, w = shape[:2]
    stages = []
    for kernel in [k for _ in range(settings.repeat) for k in kernels]:
        geo = plan_halo((h, w), kernel.shape, settings.stride, settings.padding, settings.dilation)
        (top, bottom), (left, right) = geo.padding
        out_h, out_w = geo.output_shape
        if out_h < 1 or out_w < 1:
            raise ParameterError(f"the output of {kernel.name} would be empty ({out_h} x {out_w})")
        stages.append(
            Stage(kernel, geo, index_map(h, top, bottom, pad), index_map(w, left, right, pad))
        )
        h, w = out_h, out_w
    return tuple(stages)


def chain_halo(stages: Sequence[Stage]) -> tuple[int, int, int, int]:
    """Input pixels the outputs of a chain reach beyond their own: top, bottom, left, right.

    Examples
    --------
    >>> from convcli.kernels.catalogue import get_kernel
    >>> k = [get_kernel("gaussian:sigma=1"), get_kernel("laplacian")]
    >>> chain_halo(plan_stages((100, 100), k, FilterSettings()))
    (5, 5, 5, 5)
    """
    top = bottom = left = right = 0
    for stage in reversed(stages):
        (t, _), (lft, _) = stage.geometry.padding
        (sh, sw), (eh, ew) = stage.geometry.stride, stage.geometry.span
        top, bottom = top * sh + t, bottom * sh + max(0, eh - sh - t)
        left, right = left * sw + lft, right * sw + max(0, ew - sw - lft)
    return top, bottom, left, right


def _output_type(src: TiledSource, mode: str) -> tuple[np.dtype, float]:
    """The result's pixel type and the input's white, as for the whole image."""
    if src.dtype.kind == "f" and mode != "raw":
        raise ParameterError(
            f"{src.path}: a floating-point image filtered in tiles has no known white: "
            "give --range raw"
        )
    if src.dtype.kind not in "uif" or (src.dtype.kind in "ui" and src.dtype.itemsize > 2):
        raise ImageError(f"{src.path}: pixels of type {src.dtype} are not supported")
    if mode == "raw":
        return np.dtype(np.float32), 1.0
    if src.dtype == np.uint16 or src.dtype == np.int16:
        return np.dtype(np.uint16), 65535.0
    return np.dtype(np.uint8), 255.0


#: Ranges whose mapping needs numbers of the whole result, found by a first pass over the tiles.
LATE_MODES = ("stretch", "normalize")


@dataclass(frozen=True)
class StreamPlan:
    """How one image is filtered window by window: the chain's stages, alpha, value mapping.

    Build it with :func:`plan_stream`; :meth:`blocks` gives the output
    blocks in order and :meth:`compute` one block's (colour, alpha) values.
    """

    source: TiledSource
    stages: tuple[Stage, ...]
    carry: tuple[Stage, ...] | None  # a kept alpha through a geometry that moves pixels
    settings: FilterSettings  # what each block is filtered with: no padding, bias or repeat
    bias: float
    gray: bool
    alpha: str  # "keep", "filter", "premultiply", or "none" without an alpha channel
    mode: str  # concrete: see chain_range_mode
    max_value: float
    out_dtype: np.dtype
    block_rows: int
    block_cols: int

    @property
    def output_shape(self) -> tuple[int, ...]:
        """(H, W) or (H, W, C) of the written result, alpha included."""
        h, w = self.stages[-1].geometry.output_shape
        channels = self.source.shape[2] if len(self.source.shape) == 3 else 1
        if self.gray and channels - (self.alpha != "none") == 3:
            channels -= 2
        return (h, w) if channels == 1 else (h, w, channels)

    @property
    def halo(self) -> tuple[int, int, int, int]:
        """Input pixels a block reaches beyond its own: top, bottom, left, right."""
        return chain_halo(self.stages)

    @property
    def passes(self) -> int:
        """Passes over the image: 1, 2 with ``normalize`` (its range first), 3 with a
        stretching ``auto`` (counts, then the exact 99th percentile, then the pixels).
        """
        return {"normalize": 2, "stretch": 3}.get(self.mode, 1)

    def blocks(self) -> Iterator[tuple[int, int, int, int]]:
        """Output rectangles ``(r0, r1, c0, c1)`` in row-major order of bands."""
        out_h, out_w = self.output_shape[:2]
        for r0 in range(0, out_h, self.block_rows):
            for c0 in range(0, out_w, self.block_cols):
                yield r0, min(out_h, r0 + self.block_rows), c0, min(out_w, c0 + self.block_cols)

    def readers(self, arr: Any) -> tuple[Callable, Callable | None]:
        """Readers of the chain's result and of the alpha to write, over the array ``arr``."""
        has_alpha = self.alpha != "none"
        alpha = "keep" if not has_alpha else self.alpha
        max_value = self.max_value

        def first(r: slice, c: slice) -> np.ndarray:
            px = arr[r, c]
            _check_finite_pixels(px, self.source.path, r.start or 0, c.start or 0)
            if not has_alpha:
                return chain_input(px, None, "keep", self.gray and px.ndim == 3, max_value)
            colour, a = px[..., :-1], px[..., -1]
            if colour.shape[-1] == 1:
                colour = colour[..., 0]
            return chain_input(colour, a, alpha, self.gray and colour.ndim == 3, max_value)

        read: Callable[[slice, slice], np.ndarray] = first
        for stage in self.stages:
            read = stage.reader(read, self.settings)
        if alpha != "keep":
            return read, None

        def raw_alpha(r: slice, c: slice) -> np.ndarray:
            return arr[r, c][..., -1]

        read_alpha: Callable = raw_alpha
        for stage in self.carry or ():
            read_alpha = stage.reader(read_alpha, replace(self.settings, strategy="direct"))
        return read, read_alpha if has_alpha else None

    def compute(
        self, readers: tuple[Callable, Callable | None], r0: int, r1: int, c0: int, c1: int
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Block ``(r0, r1, c0, c1)`` of the chain's result (floats, bias added) and its alpha."""
        read, read_alpha = readers
        out = read(slice(r0, r1), slice(c0, c1))
        if self.bias:
            out = out + np.asarray(self.bias, dtype=out.dtype)
        if self.alpha in ("filter", "premultiply"):
            return split_alpha(out, self.alpha, self.max_value)
        if read_alpha is None:
            return out, None
        return out, read_alpha(slice(r0, r1), slice(c0, c1))

    def to_pixels(
        self,
        colour: np.ndarray,
        alpha: np.ndarray | None,
        known: tuple[tuple[float, ...] | None, tuple[float, ...] | None] = (None, None),
    ) -> np.ndarray:
        """One block's values as the written pixels (colour and alpha stacked)."""
        dst = np.empty(colour.shape, self.out_dtype)
        store_tile(colour, dst, self.mode, self.max_value, known[0])
        if alpha is None:
            return dst
        alpha_mode = self.mode if self.alpha == "filter" else "clip"
        dst_alpha = np.empty(alpha.shape, self.out_dtype)
        store_tile(alpha, dst_alpha, alpha_mode, self.max_value, known[1])
        return np.dstack([dst, dst_alpha])


def plan_stream(
    src: TiledSource,
    kernels: Sequence[Kernel],
    settings: FilterSettings,
    value_range: str = "auto",
    *,
    gray: bool = False,
    alpha: str = "keep",
    block: int = 1024,
) -> StreamPlan:
    """Resolve a chain, its value range and its alpha for an image read in windows.

    Raises
    ------
    ParameterError
        An empty output, or a floating-point input with a range other than ``raw``.
    """
    if not kernels:
        raise ParameterError("no kernel given: pass at least one")
    if alpha not in ALPHA_MODES:
        raise ParameterError(f"unknown alpha mode {alpha!r}; known: {', '.join(ALPHA_MODES)}")
    mode = chain_range_mode(kernels, value_range)
    out_dtype, max_value = _output_type(src, mode)
    h, w = src.shape[:2]
    stages = plan_stages((h, w), kernels, settings)
    carry = None
    if src.alpha and alpha == "keep" and not _same_grid(settings):
        deltas = [Kernel("centre", centre_delta(k.shape, settings.convolve)) for k in kernels]
        carry = plan_stages((h, w), deltas, settings)
    channels = src.shape[2] if len(src.shape) == 3 else 1
    width = src.shape[1]
    if src.tile is None:  # strips: whole rows, as many as a window's budget holds
        rows = max(OUTPUT_TILE, WINDOW_BYTES // (4 * channels * width) // OUTPUT_TILE * OUTPUT_TILE)
        cols = stages[-1].geometry.output_shape[1]
    else:
        side = int((WINDOW_BYTES // (4 * channels)) ** 0.5) // OUTPUT_TILE * OUTPUT_TILE
        rows = cols = max(OUTPUT_TILE, min(block // OUTPUT_TILE * OUTPUT_TILE, side))
    return StreamPlan(
        src,
        stages,
        carry,
        replace(settings, padding=0, repeat=1, bias=0.0),
        settings.bias,
        gray,
        alpha if src.alpha else "none",
        mode,
        max_value,
        out_dtype,
        rows,
        cols,
    )


def _same_grid(settings: FilterSettings) -> bool:
    """Stride 1 and ``same`` padding: every output pixel sits on its input pixel."""
    padding = settings.padding
    return settings.stride in (1, (1, 1)) and isinstance(padding, str) and padding == "same"


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
        """The high-bit bins that hold the two ranks of the percentile."""
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
        """The value of 0-based ``rank`` among the sorted absolute values (after pass 2)."""
        cum = np.cumsum(self.high)
        b = int(np.searchsorted(cum, rank, side="right"))
        before = int(cum[b - 1]) if b else 0
        low = int(np.searchsorted(np.cumsum(self.low[b]), rank - before, side="right"))
        return np.uint32((b << 16) | low).view(np.float32)

    def edge_top(self, max_value: float) -> float:
        """What ``--range auto`` makes white, exactly as :func:`stretch_edges` on the whole."""
        if self.count == 0:
            return 0.0
        prev, nxt, gamma = percentile_ranks(self.count)
        p = percentile_of_ranks(self.value_at(prev), self.value_at(nxt), gamma)
        return edge_top(float(p), lambda: self.abs_max, max_value)


def _check_finite_pixels(px: np.ndarray, path: str, row: int, col: int) -> None:
    """Raise ImageError naming ``path`` and the pixel (in the whole image) of the first NaN
    or infinity of the rectangle ``px`` read at (``row``, ``col``): the engine would name
    "`image`" and an index in the block's padded window instead.
    """
    if px.dtype.kind != "f":
        return
    bad = np.argwhere(~np.isfinite(px))
    if bad.size:
        y, x = int(bad[0][0]) + row, int(bad[0][1]) + col
        raise ImageError(
            f"{path}: pixel (row {y}, column {x}) is {px[tuple(bad[0])]}; values must be finite"
        )


def stream_blocks(plan: StreamPlan, arr: Any) -> Iterator[tuple[int, np.ndarray]]:
    """``(first row, band)`` of written pixels, band by band, after any first passes."""
    readers = plan.readers(arr)
    known: list[tuple[float, ...] | None] = [None, None]
    if plan.passes > 1:
        late_alpha = plan.alpha == "filter"
        stats = [ResultStats(), ResultStats() if late_alpha else None]
        for box in plan.blocks():
            for values, st in zip(plan.compute(readers, *box), stats, strict=True):
                if st is not None and values is not None:
                    st.first(values)
        if plan.passes == 3:
            for box in plan.blocks():
                for values, st in zip(plan.compute(readers, *box), stats, strict=True):
                    if st is not None and values is not None:
                        st.second(values)
        for i, st in enumerate(stats):
            if st is None:
                continue
            if plan.mode == "stretch":
                known[i] = (st.edge_top(plan.max_value),)
            else:
                known[i] = (st.lo, st.hi)

    def block(r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        colour, alpha = plan.compute(readers, r0, r1, c0, c1)
        return plan.to_pixels(colour, alpha, (known[0], known[1]))

    yield from assemble_bands(plan.output_shape, plan.out_dtype, plan.blocks(), block)


def assemble_bands(
    out_shape: tuple[int, ...],
    dtype: np.dtype,
    boxes: Iterator[tuple[int, int, int, int]],
    block: Callable[[int, int, int, int], np.ndarray],
) -> Iterator[tuple[int, np.ndarray]]:
    """``(first row, band)`` of an output made block by block, for the writers here.

    ``boxes`` are output rectangles ``(r0, r1, c0, c1)`` in row-major order
    of bands (as :meth:`StreamPlan.blocks`); ``block`` computes one.
    """
    band: np.ndarray | None = None
    band_r0 = 0
    for r0, r1, c0, c1 in boxes:
        if band is None or r0 != band_r0:
            if band is not None:
                yield band_r0, band
            band_r0 = r0
            band = np.empty((r1 - r0, *out_shape[1:]), dtype)
        band[:, c0:c1] = block(r0, r1, c0, c1).reshape((r1 - r0, c1 - c0, *out_shape[2:]))
    if band is not None:
        yield band_r0, band


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
    """About the peak resident bytes of a streamed run into ``target``: one band of output
    pixels, the floating-point arrays of one block's window, and for a TIFF the tiles
    tifffile compresses at once (and their compressed copy).
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
    """Refuse a streamed run whose one block (its window: the block plus the halo a
    padding, dilation or kernel adds) could never be held here, before anything is
    written (a 100000-cell padding asked for 386 GB per block, and ran until killed).
    """
    from ..arithmetic.limits import check_allocation

    check_allocation(
        streamed_peak_bytes(plan, target),
        f"{source}: filtering in tiles (one block of {plan.block_rows}x{plan.block_cols} "
        f"outputs with a halo of {max(plan.halo)})",
        "use a smaller padding, dilation or kernel",
    )


def check_stream_target(source: str, target: str, overwrite: bool) -> None:
    """Refuse an existing ``target`` without ``overwrite``, and the input as the target.

    Raises
    ------
    ImageError
    """
    if os.path.lexists(target) and not overwrite:
        raise ImageError(f"{target} exists; pass --overwrite to replace it")
    if os.path.abspath(source).rstrip("/") == os.path.abspath(target).rstrip("/"):
        raise ImageError(f"{target}: is the input; convcli never overwrites an input")


def write_bands(
    target: str,
    out_shape: tuple[int, ...],
    dtype: np.dtype,
    bands: Iterator[tuple[int, np.ndarray]],
    overwrite: bool,
    alpha: bool = False,
) -> None:
    """Write ``(first row, band)`` bands, as they come, to a tiled BigTIFF or a ``.zarr``
    (by ``target``'s suffix), atomically; ``alpha``: the last channel is alpha.
    """
    if is_zarr_path(target):
        _write_zarr(target, out_shape, dtype, bands, overwrite)
    else:
        _write_bigtiff(target, out_shape, dtype, bands, overwrite, alpha=alpha)


def _tiles(
    out_shape: tuple[int, ...], bands: Iterator[tuple[int, np.ndarray]]
) -> Iterator[np.ndarray]:
    """The 256² tiles of the output in TIFF order (row-major), padded at the right and bottom."""
    t = OUTPUT_TILE
    for _, band in bands:
        for y in range(0, band.shape[0], t):
            for x in range(0, band.shape[1], t):
                piece = band[y : y + t, x : x + t]
                if piece.shape[:2] != (t, t):
                    full = np.zeros((t, t, *piece.shape[2:]), piece.dtype)
                    full[: piece.shape[0], : piece.shape[1]] = piece
                    piece = full
                yield piece


def _write_bigtiff(
    target: str,
    out_shape: tuple[int, ...],
    dtype: np.dtype,
    bands: Iterator[tuple[int, np.ndarray]],
    overwrite: bool,
    alpha: bool = False,
) -> None:
    import tifffile

    from .atomic import atomic_write

    photometric = "rgb" if len(out_shape) == 3 and out_shape[2] in (3, 4) else "minisblack"
    extrasamples = ("unassalpha",) if alpha and len(out_shape) == 3 else None

    def write(fh) -> None:
        handle = tifffile.FileHandle(fh, mode="wb", name=os.path.basename(target))
        tifffile.imwrite(
            handle,
            _tiles(out_shape, bands),
            shape=out_shape,
            dtype=dtype,
            tile=(OUTPUT_TILE, OUTPUT_TILE),
            bigtiff=True,
            photometric=photometric,
            compression="zlib",
            extrasamples=extrasamples,
            # tifffile's threads take up to 512 MB of tiles at once by default
            buffersize=WRITE_BUFFER_BYTES,
        )

    atomic_write(target, write, overwrite=overwrite, error=ImageError)


def _write_zarr(
    target: str,
    out_shape: tuple[int, ...],
    dtype: np.dtype,
    bands: Iterator[tuple[int, np.ndarray]],
    overwrite: bool,
) -> None:
    _require("zarr")  # the install hint, before any work
    chunks = (OUTPUT_TILE, OUTPUT_TILE, *tuple(out_shape[2:]))
    with zarr_target(target, overwrite) as tmp:
        out = open_zarr_blocks(tmp, "w", shape=out_shape, chunks=chunks, dtype=dtype)
        for r0, band in bands:
            out[r0 : r0 + band.shape[0]] = band


@contextlib.contextmanager
def zarr_target(target: str, overwrite: bool) -> Iterator[str]:
    """A temporary directory beside ``target``, renamed to it when the block succeeds.

    :func:`convcli.images.atomic.atomic_folder`: an absolute path (workers
    with another working directory write to the same place), the umask's
    modes, and nothing left behind on an error.
    """
    from .atomic import atomic_folder

    with atomic_folder(target, overwrite=overwrite, error=ImageError) as tmp:
        yield tmp
