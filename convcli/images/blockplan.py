"""One kernel filtered block by block: the whole image's geometry, read window by window.

:func:`make_plan` resolves a kernel, its settings and its value range for an
image read in blocks (:class:`BlockPlan`): the whole image's padding as index
maps (:func:`convcli.engine.padding.index_map`), so each block reads exactly
the cells its outputs reach (:func:`read_window`) and filters them with no
further padding. The cluster path (:mod:`convcli.cluster.tiled`) and the
pyramid levels (:mod:`.omezarr`) use it; the streamed chain builds on the
same pieces (:mod:`.streamplan`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from ..arithmetic.geometry import Geometry
from ..arithmetic.sizes import PaddingSpec
from ..engine.padding import index_map, normalize_pad_mode
from ..errors import ImageError, ParameterError
from ..kernels.kernel import Kernel
from .chain import FilterSettings, apply_kernels
from .pixels import to_pixels
from .ranges import chain_range_mode, map_range
from .tiledsource import TiledSource

__all__ = ["BlockPlan", "make_plan", "output_type", "plan_halo", "read_window"]


def plan_halo(
    shape: tuple[int, int],
    kernel_shape: tuple[int, int],
    stride: int | tuple[int, int],
    padding: PaddingSpec,
    dilation: int | tuple[int, int],
) -> Geometry:
    """Return the whole image's geometry: padding per side, output size, the windows' span."""
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

    def block(
        self, read: Callable[[slice, slice], np.ndarray], r0: int, r1: int, c0: int, c1: int
    ) -> np.ndarray:
        """Return output rows r0..r1-1, columns c0..c1-1, as output pixels (or raw float32)."""
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
    mode = chain_range_mode([kernel], value_range)
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
    out_dtype, max_value = output_type(src, mode)
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


def output_type(src: TiledSource, mode: str) -> tuple[np.dtype, float]:
    """Return the result's pixel type and the input's white, as for the whole image.

    Raises
    ------
    ParameterError
        A floating-point input with a range other than ``raw``.
    ImageError
        Pixels of a type the tiled path does not take.
    """
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
