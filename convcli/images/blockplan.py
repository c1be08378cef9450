"""One kernel filtered block by block: the whole image's geometry, read window by window.

:func:`make_plan` resolves a kernel, its settings and its value range for an
image read in blocks (:class:`BlockPlan`): the whole image's padding as index
maps (a :class:`convcli.engine.tiling.Tiling`, the one planner of tiles), so
each block reads exactly the cells its outputs reach
(:meth:`~convcli.engine.tiling.Tiling.window`) and filters them with no
further padding. The cluster path (:mod:`convcli.cluster.tiled`) and the
pyramid levels (:mod:`.omezarr`) use it; the streamed chain builds on the
same pieces (:mod:`.streamplan`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..arithmetic.geometry import Geometry
from ..arithmetic.sizes import PaddingSpec
from ..engine.tiling import Reader, Tiling, read_window
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


@dataclass(frozen=True)
class BlockPlan:
    """How one image is filtered in blocks: its tiling (geometry, pad maps), value mapping."""

    tiling: Tiling
    kernel: Kernel
    settings: FilterSettings
    mode: str  # the concrete range mode, or "raw"
    max_value: float
    out_dtype: np.dtype

    @property
    def geometry(self) -> Geometry:
        """The whole image's geometry: padding per side, output size, the windows' span."""
        return self.tiling.geometry

    @property
    def row_map(self) -> np.ndarray:
        """The input row each padded row reads (-1: a constant)."""
        return self.tiling.rows

    @property
    def col_map(self) -> np.ndarray:
        """The input column each padded column reads (-1: a constant)."""
        return self.tiling.cols

    def block(self, read: Reader, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        """Return output rows r0..r1-1, columns c0..c1-1, as output pixels (or raw float32)."""
        return self.filter_window(self.tiling.window(read, r0, r1, c0, c1))

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
    out_h, out_w = geo.output_shape
    if out_h < 1 or out_w < 1:
        raise ParameterError(f"{src.path}: the output would be empty ({out_h} x {out_w})")
    block_settings = replace(settings, padding=0)
    return BlockPlan(
        Tiling(geo, settings.pad_mode), kernel, block_settings, mode, max_value, out_dtype
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
