"""A kernel chain planned for an image read in windows: stages, halos, blocks, alpha.

:func:`plan_stream` resolves a chain, its value range and its alpha for an
image larger than memory (:class:`StreamPlan`). Each kernel is a
:class:`Stage` with the geometry of the image it filters (the previous
stage's whole result); a stage asks the one before it for the rectangle its
windows reach and fills the border of its own input through the engine's
index maps exactly as the whole image's stage would be padded, so each
output pixel runs the same arithmetic on the same cells as in memory. The
execution (passes over the blocks, writing) is :mod:`.tiled`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..arithmetic.geometry import Geometry
from ..engine.padding import index_map, normalize_pad_mode
from ..errors import ImageError, ParameterError
from ..kernels.kernel import Kernel
from .blockplan import output_type, plan_halo, read_window
from .chain import (
    FilterSettings,
    apply_kernels,
    centre_delta,
    chain_input,
    check_alpha_mode,
    same_grid,
    split_alpha,
)
from .ranges import chain_range_mode, store_tile
from .tiledsource import TiledSource
from .tiledwrite import OUTPUT_TILE

__all__ = [
    "LATE_MODES",
    "WINDOW_BYTES",
    "Stage",
    "StreamPlan",
    "chain_halo",
    "plan_stages",
    "plan_stream",
]


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
        """Return a reader of this stage's output rectangles, built on a reader of its input."""
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
    """Plan each kernel of a chain (``repeat`` times) with the geometry of its input.

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
    """Return the input pixels a chain's outputs reach beyond their own (t, b, l, r).

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
        """Passes over the image: 1, 2 with ``normalize``, 3 with a stretching ``auto``.

        ``normalize`` takes its range first; a stretching ``auto`` counts,
        then finds the exact 99th percentile, then writes the pixels.
        """
        return {"normalize": 2, "stretch": 3}.get(self.mode, 1)

    def blocks(self) -> Iterator[tuple[int, int, int, int]]:
        """Yield output rectangles ``(r0, r1, c0, c1)`` in row-major order of bands."""
        out_h, out_w = self.output_shape[:2]
        for r0 in range(0, out_h, self.block_rows):
            for c0 in range(0, out_w, self.block_cols):
                yield r0, min(out_h, r0 + self.block_rows), c0, min(out_w, c0 + self.block_cols)

    def readers(self, arr: Any) -> tuple[Callable, Callable | None]:
        """Return readers of the chain's result and of the alpha to write, over ``arr``."""
        has_alpha = self.alpha != "none"
        alpha = "keep" if not has_alpha else self.alpha
        max_value = self.max_value

        def first(r: slice, c: slice) -> np.ndarray:
            px = arr[r, c]
            _check_window_finite(px, self.source.path, r.start or 0, c.start or 0)
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
        """Return block ``(r0, r1, c0, c1)`` of the chain's result (floats, biased) and alpha."""
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
        """Return one block's values as the written pixels (colour and alpha stacked)."""
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
    check_alpha_mode(alpha)
    mode = chain_range_mode(kernels, value_range)
    out_dtype, max_value = output_type(src, mode)
    h, w = src.shape[:2]
    stages = plan_stages((h, w), kernels, settings)
    carry = None
    if src.alpha and alpha == "keep" and not same_grid(settings):
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


def _check_window_finite(px: np.ndarray, path: str, row: int, col: int) -> None:
    """Refuse a NaN or infinity in the rectangle ``px`` read at (``row``, ``col``).

    The ImageError names ``path`` and the first such pixel in the whole
    image: the engine would name "`image`" and an index in the block's
    padded window instead.
    """
    if px.dtype.kind != "f":
        return
    bad = np.argwhere(~np.isfinite(px))
    if bad.size:
        y, x = int(bad[0][0]) + row, int(bad[0][1]) + col
        raise ImageError(
            f"{path}: pixel (row {y}, column {x}) is {px[tuple(bad[0])]}; values must be finite"
        )
