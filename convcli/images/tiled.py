"""Images larger than memory: tiled TIFF / BigTIFF / OME-TIFF and zarr, filtered window by window.

A tiled TIFF (``tifffile``) or a ``.zarr`` array (``zarr``) is never read in
full. The output is cut into blocks; for each block the input cells its
windows reach (the block plus the kernel's halo) are read from the file, the
image's outer border is filled through the engine's own index maps
(:func:`convcli.engine.padding.index_map`, so every pad mode means what it
means for the whole image), and the block is filtered by
:func:`convcli.images.filtering.apply_kernels` with no further padding. Each
output pixel therefore runs the same arithmetic on the same input cells as
when the whole image is filtered in memory: the result is identical, bit for
bit, for the same dtype and strategy ``direct`` or ``separable`` (``auto``
picks one per kernel, whatever the image size); ``im2col`` and ``fft`` agree
to float rounding, as BLAS and overlap-save blocks sum in an order that
depends on the block's size). Blocks are
written as they are done to a tiled BigTIFF or a ``.zarr``, so peak memory
follows the block size, not the image size.

tifffile and zarr come with the ``cluster`` extra and are imported only
inside the functions here.

One kernel at a time (a chain would need each stage's own border); ranges
that need the whole result (``normalize``, ``auto`` on a zero-sum kernel
that is not a gradient magnitude) are refused with a way forward.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..arithmetic.geometry import Geometry
from ..arithmetic.sizes import PaddingSpec
from ..engine.padding import index_map, normalize_pad_mode
from ..errors import ImageError, ParameterError
from ..kernels.kernel import Kernel
from .filtering import FilterSettings, apply_kernels, map_range
from .pixels import to_pixels

__all__ = [
    "INSTALL_HINT",
    "BlockPlan",
    "TiledSource",
    "filter_tiled",
    "is_zarr_path",
    "make_plan",
    "open_tiled",
    "plan_halo",
    "probe_tiff",
    "read_window",
    "zarr_target",
]

#: What a person without tifffile/zarr is told to run.
INSTALL_HINT = "pip install 'convcli[cluster]'"
#: Output tiles of a written BigTIFF and chunks of a written zarr (rows, columns).
OUTPUT_TILE = 256
#: Bytes a band of output pixels may take, by default (one band is held while its tiles are written).
DEFAULT_BAND_BYTES = 64 * 1024 * 1024


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
    """

    path: str
    kind: str
    shape: tuple[int, ...]
    dtype: np.dtype
    tile: tuple[int, int] | None

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
    except Exception:  # not a TIFF tifffile understands: the whole-image reader decides
        return None
    kept = [(a, n) for a, n in zip(axes, shape, strict=True) if n != 1 or a in "YX"]
    axes2 = "".join(a for a, _ in kept)
    if axes2 not in ("YX", "YXS"):
        return None
    return TiledSource(path, "tiff", tuple(n for _, n in kept), dtype, tile)


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
    compact = np.block(pieces) if len(pieces) * len(pieces[0]) > 1 else pieces[0][0]
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
        mode = "clip" if not zero_sum else ("abs" if kernel.is_magnitude else "stretch")
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
    if src.dtype.kind == "f" and mode != "raw":
        raise ParameterError(
            f"{src.path}: a floating-point image filtered in tiles has no known white: "
            "give --range raw"
        )
    if src.dtype.kind not in "uif" or (src.dtype.kind in "ui" and src.dtype.itemsize > 2):
        raise ImageError(f"{src.path}: pixels of type {src.dtype} are not supported")
    out_dtype: np.dtype
    if mode == "raw":
        out_dtype, max_value = np.dtype(np.float32), 1.0
    elif src.dtype == np.uint16 or src.dtype == np.int16:
        out_dtype, max_value = np.dtype(np.uint16), 65535.0
    else:
        out_dtype, max_value = np.dtype(np.uint8), 255.0
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


def _band_rows(block: int, row_bytes: int, budget: int, tile: int) -> int:
    """Output rows per band: ``block`` rounded to the output tile, fewer if the band's
    output pixels would take more than ``budget`` bytes (never fewer than one tile)."""
    rows = min(max(tile, block // tile * tile), budget // max(1, row_bytes) // tile * tile)
    return max(tile, rows)


def filter_tiled(
    source: str,
    target: str,
    kernel: Kernel,
    settings: FilterSettings | None = None,
    *,
    value_range: str = "auto",
    overwrite: bool = False,
    block: int = 1024,
    memory_budget: int = DEFAULT_BAND_BYTES,
) -> TiledSource:
    """Filter a tiled TIFF or zarr image into a tiled BigTIFF or zarr, block by block.

    Parameters
    ----------
    source : str
        A TIFF (tiled, BigTIFF, OME-TIFF; a strip TIFF works too, read in
        strips) or a ``.zarr`` array of shape (H, W) or (H, W, C).
    target : str
        ``.tif``/``.tiff`` (a tiled BigTIFF, 256² tiles, zlib) or ``.zarr``
        (256² chunks). Written to a temporary name beside it and renamed into
        place when complete.
    kernel : Kernel
        One kernel (a gradient magnitude such as ``sobel`` counts as one).
    settings : FilterSettings, optional
        Geometry, pad mode, strategy; ``repeat`` must be 1.
    value_range : str
        As for :func:`convcli.images.filtering.filter_image`, except
        ``normalize`` and a stretching ``auto``, which need the whole result.
    overwrite : bool
        Replace an existing target.
    block : int
        Output rows and columns per block, rounded to the 256-pixel output
        tile; each block's window (block plus halo) is read and filtered at once.
    memory_budget : int
        Bytes the output pixels of one band of ``block`` rows may take
        (fewer rows for a very wide image).

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
    if os.path.lexists(target) and not overwrite:
        raise ImageError(f"{target} exists; pass --overwrite to replace it")
    if os.path.abspath(source).rstrip("/") == os.path.abspath(target).rstrip("/"):
        raise ImageError(f"{target}: is the input; convcli never overwrites an input")
    with open_tiled(source) as (src, arr):
        plan = make_plan(src, kernel, s, value_range)
        out_h, out_w = plan.geometry.output_shape
        channels = src.shape[2] if len(src.shape) == 3 else 1
        out_shape = (out_h, out_w, *tuple(src.shape[2:]))
        row_bytes = out_w * channels * plan.out_dtype.itemsize
        rows_per_band = _band_rows(block, row_bytes, memory_budget, OUTPUT_TILE)
        step = max(OUTPUT_TILE, block // OUTPUT_TILE * OUTPUT_TILE)

        def read(r: slice, c: slice) -> np.ndarray:
            return arr[r, c]

        def bands() -> Iterator[tuple[int, np.ndarray]]:
            for r0 in range(0, out_h, rows_per_band):
                r1 = min(out_h, r0 + rows_per_band)
                band = np.empty((r1 - r0, *out_shape[1:]), plan.out_dtype)
                for c0 in range(0, out_w, step):
                    c1 = min(out_w, c0 + step)
                    band[:, c0:c1] = plan.block(read, r0, r1, c0, c1)
                yield r0, band

        if is_zarr_path(target):
            _write_zarr(target, out_shape, plan.out_dtype, bands(), overwrite)
        else:
            _write_bigtiff(target, out_shape, plan.out_dtype, bands(), overwrite)
    return src


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
) -> None:
    import tifffile

    from .atomic import atomic_write

    photometric = "rgb" if len(out_shape) == 3 and out_shape[2] in (3, 4) else "minisblack"

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
        )

    atomic_write(target, write, overwrite=overwrite, error=ImageError)


def _write_zarr(
    target: str,
    out_shape: tuple[int, ...],
    dtype: np.dtype,
    bands: Iterator[tuple[int, np.ndarray]],
    overwrite: bool,
) -> None:
    zarr = _require("zarr")
    chunks = (OUTPUT_TILE, OUTPUT_TILE, *tuple(out_shape[2:]))
    with zarr_target(target, overwrite) as tmp:
        out = zarr.open_array(tmp, mode="w", shape=out_shape, chunks=chunks, dtype=dtype)
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
