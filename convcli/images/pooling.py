"""Pooling whole images and channels-first tensors: the library behind ``convcli pool``.

:func:`pool_image` pools an :class:`convcli.images.io.Image` (each colour
channel on its own, alpha with the same rule) and keeps its pixel type;
:func:`pool_tensor` pools a ``(C, H, W)`` or ``(N, C, H, W)`` array as a CNN
layer sees it. Both stand on :func:`convcli.pool2d`. :func:`pool_tiled`
pools an image too large to read whole (a tiled or strip TIFF, a ``.zarr``)
block by block, with the same arithmetic on the same windows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial

import numpy as np

from ..arithmetic.sizes import PaddingSpec
from ..engine.arrays import as_numeric
from ..engine.pooling import pool2d
from ..errors import ShapeError
from .io import Image

__all__ = ["pool_image", "pool_tensor", "pool_tiled"]


def _pool(
    values: np.ndarray,
    size: int | Sequence[int],
    stride: int | Sequence[int] | None,
    padding: PaddingSpec,
    mode: str,
    ceil_mode: bool,
    threads: int | None,
) -> np.ndarray:
    """Pool an image's (H, W) or (H, W, C) values; pool2d takes channels first."""
    return _channels_last(
        values,
        mode,
        partial(
            pool2d,
            size=size,
            stride=stride,
            padding=padding,
            mode=mode,
            ceil_mode=ceil_mode,
            threads=threads,
        ),
    )


def _channels_last(values: np.ndarray, mode: str, pool: Callable) -> np.ndarray:
    """``pool`` (of channels-first planes) on (H, W[, C]) values, in the image's own type."""
    planes = np.moveaxis(values, -1, 0) if values.ndim == 3 else values
    out = pool(planes)
    if values.ndim == 3:
        out = np.moveaxis(out, 0, -1)
    if mode == "avg" and values.dtype.kind in "biu":
        # the average of integer pixels, rounded back to the image's own type
        out = np.rint(out).astype(values.dtype)
    return out


def pool_image(
    image: Image,
    size: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    padding: PaddingSpec = 0,
    mode: str = "max",
    ceil_mode: bool = False,
    *,
    threads: int | None = None,
) -> Image:
    """Pool every channel of an image, alpha included, with one rule.

    Parameters
    ----------
    image : Image
        As returned by :func:`convcli.read_image`.
    size : int or (int, int)
        Window (kh, kw).
    stride : int or (int, int), optional
        Step between windows; the window size by default.
    padding : int, pair, 4-tuple or ((top, bottom), (left, right))
        Cells added around the image; they never win a max or a min and
        count as 0 in an average (as PyTorch's ``count_include_pad``).
        May exceed half the window while every window holds a real pixel.
    mode : {"max", "avg", "min"}
        The reduction.
    ceil_mode : bool
        Round the number of windows up (PyTorch's rule).
    threads : int or None
        Bands of rows pooled at once, as for :func:`convcli.pool2d`.

    Returns
    -------
    Image
        Same dtype as the input (averages of integer pixels are rounded);
        alpha pooled with the same rule.

    Examples
    --------
    >>> img = Image(np.arange(16, dtype=np.uint8).reshape(4, 4))
    >>> pool_image(img, 2).pixels.tolist()
    [[5, 7], [13, 15]]
    """
    pixels = _pool(image.pixels, size, stride, padding, mode, ceil_mode, threads)
    alpha = None
    if image.alpha is not None:
        alpha = _pool(image.alpha, size, stride, padding, mode, ceil_mode, threads)
    return replace(image, pixels=pixels, alpha=alpha, notes=[])


def pool_tensor(
    x: np.ndarray,
    size: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    padding: PaddingSpec = 0,
    mode: str = "max",
    ceil_mode: bool = False,
    *,
    threads: int | None = None,
) -> np.ndarray:
    """Pool a channels-first tensor: ``(H, W)``, ``(C, H, W)`` or ``(N, C, H, W)``.

    Parameters are as for :func:`pool_image`; the result keeps the layout
    (and, for ``max`` and ``min``, the dtype; ``avg`` is floating point).

    Examples
    --------
    >>> pool_tensor(np.arange(32).reshape(2, 4, 4), 2)[1].tolist()
    [[21, 23], [29, 31]]
    """
    x = as_numeric(x, "x")
    if x.ndim not in (2, 3, 4):
        raise ShapeError(f"a tensor must be (H, W), (C, H, W) or (N, C, H, W), got shape {x.shape}")
    return pool2d(x, size, stride, padding, mode, ceil_mode, threads=threads)


#: Largest output block side of a tiled input pooled in tiles (a strip TIFF: whole rows).
POOL_BLOCK = 1024


def pool_tiled(
    source: str,
    target: str,
    size: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    padding: PaddingSpec = 0,
    mode: str = "max",
    ceil_mode: bool = False,
    *,
    overwrite: bool = False,
    threads: int | None = None,
    block: int = POOL_BLOCK,
) -> tuple[int, ...]:
    """Pool a tiled or strip TIFF or a ``.zarr`` image into a tiled BigTIFF or ``.zarr``.

    The image is pooled block by block.

    Each output block covers whole windows: it reads the input rows and
    columns its windows reach (a halo past the block's own cells when the
    windows overlap), pools them with the whole image's padding at the
    image's edges and the whole image's divisors, and is written as it is
    done (:func:`convcli.images.tiled.write_bands`). The result equals
    :func:`pool_image` on the image read whole, bit for bit; memory follows
    the block size.

    Parameters
    ----------
    source, target : str
        As for :func:`convcli.images.tiled.filter_tiled`.
    size, stride, padding, mode, ceil_mode, threads
        As for :func:`pool_image`.
    overwrite : bool
        Replace an existing target.
    block : int
        Largest output block side, a multiple of 256 (the written tile).

    Returns
    -------
    tuple of int
        The result's shape.

    Raises
    ------
    ParameterError
        Pixels other than 8- or 16-bit unsigned (they are converted when
        read whole, which a tiled read cannot repeat), or a geometry the
        whole image would refuse.

    Examples
    --------
    >>> import tempfile, tifffile
    >>> d = tempfile.mkdtemp()
    >>> img = np.arange(300 * 200, dtype=np.uint16).reshape(300, 200)
    >>> tifffile.imwrite(f"{d}/in.tif", img, tile=(64, 64))
    >>> pool_tiled(f"{d}/in.tif", f"{d}/out.tif", 3, mode="avg", block=256)
    (100, 66)
    """
    from ..arithmetic.geometry import Geometry
    from ..arithmetic.sizes import pair
    from ..engine.pooling import POOL_MODES, pool_divisors, pool_windows
    from ..engine.tiling import boxes
    from ..errors import ParameterError
    from .tiled import OUTPUT_TILE, assemble_bands, check_stream_target, open_tiled, write_bands

    if mode not in POOL_MODES:
        raise ParameterError(f"unknown pooling mode {mode!r}; known: {', '.join(POOL_MODES)}")
    kh, kw = pair(size, "size")
    sh, sw = (kh, kw) if stride is None else pair(stride, "stride")
    check_stream_target(source, target, overwrite)
    with open_tiled(source) as (src, arr):
        if src.dtype not in (np.dtype(np.uint8), np.dtype(np.uint16)):
            raise ParameterError(
                f"{source}: pixels of type {src.dtype} are pooled only when read whole: "
                "raise --max-pixels to read it whole"
            )
        h, w = src.shape[:2]
        geo = Geometry.resolve(
            (h, w), (kh, kw), stride=(sh, sw), padding=padding, pooling=True, ceil_mode=ceil_mode
        )
        (pt, _), (pl, _) = geo.padding
        out_h, out_w = geo.output_shape
        divisors = pool_divisors(geo, (h, w), (kh, kw), (sh, sw)) if mode == "avg" else None
        out_shape = (out_h, out_w, *src.shape[2:])
        if src.tile is None:  # strips: bands of whole rows
            rows, cols = OUTPUT_TILE, out_w
        else:
            rows = cols = max(OUTPUT_TILE, block // max(sh, sw) // OUTPUT_TILE * OUTPUT_TILE)

        def pool_block(r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
            # the windows' reach in padded coordinates, cut to the real cells
            y0, x0 = r0 * sh - pt, c0 * sw - pl
            a, b = max(0, y0), min(h, (r1 - 1) * sh + kh + y0 - r0 * sh)
            c, d = max(0, x0), min(w, (c1 - 1) * sw + kw + x0 - c0 * sw)
            part = None if divisors is None else (divisors[0][r0:r1], divisors[1][c0:c1])
            pool = partial(
                pool_windows,
                size=(kh, kw),
                stride=(sh, sw),
                before=(a - y0, c - x0),
                out_shape=(r1 - r0, c1 - c0),
                mode=mode,
                divisors=part,
                threads=threads,
            )
            return _channels_last(np.asarray(arr[a:b, c:d]), mode, pool)

        bands = assemble_bands(out_shape, src.dtype, boxes((out_h, out_w), rows, cols), pool_block)
        write_bands(target, out_shape, src.dtype, bands, overwrite, alpha=src.alpha)
    return out_shape
