"""Which way ``convcli filter`` takes an input, and what that costs: the numbers of ``--plan``.

An input is read whole (:mod:`convcli.images.io`) unless it has more pixels
than the whole-read limit (``--max-pixels``, by default Pillow's) and can be
read in windows: a tiled TIFF, a strip TIFF whose strips are small, or a
``.zarr`` array (always). Those are filtered in tiles
(:mod:`convcli.images.tiled`). The limit bounds what is read whole, never
what streams.

The peak-memory figures are estimates from a model fitted to measured runs
(``benchmarks/bench_huge.py``): the interpreter with its imports, the
pixels held, and the floating-point arrays a chain works on.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..kernels.kernel import Kernel
from ..suffixes import TIFF_SUFFIXES
from .filtering import FilterSettings, bandable, chain_range_mode
from .tiled import (
    LATE_MODES,
    TiledSource,
    is_zarr_path,
    probe_tiff,
    streamed_peak_bytes,
)

__all__ = [
    "MAX_STRIP_BYTES",
    "TIFF_SUFFIXES",
    "WholeImage",
    "probe_whole",
    "stream_source",
    "streamed_peak_bytes",
    "whole_limit",
    "whole_peak_bytes",
    "windowed",
]

#: A strip TIFF is read in windows when one strip takes at most this many bytes
#: (a strip is the least that can be read of it).
MAX_STRIP_BYTES = 64 * 2**20
#: Resident bytes of ``convcli filter`` before any pixel, read whole: the interpreter,
#: numpy and Pillow (streamed: ``tiled.BASE_TILES_BYTES``). Measured on Linux, Python 3.11.
_BASE_WHOLE = 47 * 2**20
#: What the whole-image path's bands take at most (four float arrays of 1/16 of the budget).
_BAND_FLOATS = 4


def windowed(src: TiledSource) -> bool:
    """Whether ``src`` can be read a window at a time (tiles, chunks, or small strips)."""
    if src.tile is not None:
        return True
    channels = src.shape[2] if len(src.shape) == 3 else 1
    rows = src.strip_rows or src.shape[0]
    return rows * src.shape[1] * channels * src.dtype.itemsize <= MAX_STRIP_BYTES


def whole_limit(max_pixels: int | None) -> int | None:
    """Return the whole-read limit: ``max_pixels``, or Pillow's default when it is None."""
    if max_pixels is not None:
        return max_pixels
    from .io import DEFAULT_MAX_PIXELS

    return DEFAULT_MAX_PIXELS


def stream_source(source: str, output: str | None, max_pixels: int | None) -> TiledSource | None:
    """Return the input as read in windows when it is filtered in tiles, else None (read whole).

    A ``.zarr`` input or output always streams; a TIFF streams when it has
    more pixels than :func:`whole_limit` and :func:`windowed` holds. A
    ``.zarr`` input that does not exist streams too (the tiled path says
    what is wrong with it).
    """
    if source == "-":
        return None
    zarr_io = is_zarr_path(source) or (output is not None and is_zarr_path(output))
    if is_zarr_path(source):
        return TiledSource(source, "zarr", (0, 0), np.dtype(np.uint8), None)
    if not os.path.isfile(source) or os.path.splitext(source)[1].lower() not in TIFF_SUFFIXES:
        return TiledSource(source, "tiff", (0, 0), np.dtype(np.uint8), None) if zarr_io else None
    src = probe_tiff(source)
    if src is None:
        return None
    if zarr_io:
        return src
    limit = whole_limit(max_pixels)
    return src if limit is not None and src.pixels > limit and windowed(src) else None


@dataclass(frozen=True)
class WholeImage:
    """What an image read whole holds, from its header: (H, W[, C]) and the pixel type."""

    shape: tuple[int, ...]
    dtype: np.dtype


def probe_whole(source: str) -> WholeImage | None:
    """Return the size and pixel type of an image from its header, or None when unknown (stdin)."""
    if source == "-" or not os.path.isfile(source):
        return None
    if source.lower().endswith(".npy"):
        from ..kernels.npy import NpyError, read_npy_header

        try:
            with open(source, "rb") as fh:
                header = read_npy_header(fh)
        except (NpyError, OSError):
            return None
        shape = header.shape
        if len(shape) == 3 and shape[0] <= 4 < shape[2]:  # (C, H, W)
            shape = (shape[1], shape[2], shape[0])
        return WholeImage(shape, header.dtype)
    import PIL.Image

    try:
        with PIL.Image.open(source) as im:
            bands = len(im.getbands())
            mode = im.mode
            w, h = im.size
    except (OSError, ValueError, PIL.Image.DecompressionBombError):
        return None
    dtype = np.dtype(np.float32 if mode == "F" else np.uint16 if mode.startswith("I") else np.uint8)
    return WholeImage((h, w) if bands == 1 else (h, w, bands), dtype)


def whole_peak_bytes(
    image: WholeImage, kernels: Sequence[Kernel], settings: FilterSettings, value_range: str
) -> int:
    """About the peak resident bytes of filtering ``image`` read whole.

    The decoded pixels and the result's pixels, one floating-point copy of
    the whole result when the range needs the whole (``normalize``, a
    stretching ``auto``) or the geometry cannot run in bands, and the bands'
    floats, at most a quarter of the engine's memory budget.
    """
    h, w = image.shape[:2]
    channels = image.shape[2] if len(image.shape) == 3 else 1
    pixels = h * w * channels
    out_itemsize = 4 if value_range == "raw" else (2 if image.dtype == np.uint16 else 1)
    floats = 4 * pixels
    mode = chain_range_mode(kernels, value_range)
    whole_floats = mode in LATE_MODES or not bandable(settings)
    work = min(_BAND_FLOATS * settings.memory_budget // 16, 4 * floats)
    return int(
        _BASE_WHOLE
        + pixels * image.dtype.itemsize
        + pixels * out_itemsize
        + (1.25 * floats if whole_floats else 0)
        + work
    )
