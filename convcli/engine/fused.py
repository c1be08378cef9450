"""uint8 pixels in, uint8 pixels out: one native pass for the common photo filter.

:func:`filter2d_pixels` is :func:`convcli.filter2d` followed by what
:func:`convcli.images.filtering.filter_image` does with the result for
range ``clip`` (or ``abs``) on 8-bit pixels: clip to 0..255 (of the
absolute value), round half to even, store uint8. The native core does all
of it in one pass: each padded source row is converted to float as it
enters the core's ring of rows, every tap is summed in registers, and the
sums go straight to uint8, so no float image is ever made. The sums are
those of the ``native`` strategy, so the pixels are bit-identical to the
float path's when that runs natively.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..arithmetic.geometry import Geometry
from ..arithmetic.sizes import PaddingSpec
from ..errors import ParameterError
from . import costs, native
from .arrays import check_magnitude
from .convolution import check_filter_call, native_reads_pixels
from .strategies import check_strategy
from .tilerun import call_budget
from .tiling import DEFAULT_MEMORY_BUDGET, Problem, Tiling

__all__ = ["PIXEL_RANGES", "filter2d_pixels"]

#: The ranges :func:`filter2d_pixels` maps sums to pixels by.
PIXEL_RANGES = ("clip", "abs")


def filter2d_pixels(
    image: np.ndarray,
    kernel: np.ndarray,
    stride: int | Sequence[int] = 1,
    padding: PaddingSpec = "same",
    dilation: int | Sequence[int] = 1,
    pad_mode: str = "reflect",
    convolve: bool = False,
    *,
    value_range: str = "clip",
    pad_value: float = 0.0,
    dtype: np.dtype | str | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    strategy: str = "auto",
    threads: int | None = None,
) -> np.ndarray | None:
    """Filter uint8 pixels into uint8 pixels natively, or return None to leave it to numpy.

    Parameters
    ----------
    image : ndarray of uint8, shape (H, W) or (H, W, C)
        Any strides; read as it is.
    kernel, stride, padding, dilation, pad_mode, convolve, pad_value, dtype, memory_budget
        As for :func:`convcli.filter2d`.
    value_range : {"clip", "abs"}
        ``clip``: each response ``v`` becomes ``rint(clip(v, 0, 255))``
        (``numpy.rint``: halves to even); ``abs``: the same of ``|v|``.
    strategy : {"auto", "native", ...}
        "auto" runs natively only where :func:`convcli.filter2d` would;
        "native" always (raising when the core is not available); any
        other strategy returns None.
    threads : int, optional
        As for :func:`convcli.filter2d`.

    Returns
    -------
    ndarray of uint8 or None
        The pixels, shape of :func:`convcli.filter2d`'s result; None when the
        native core does not run this call (the caller filters in float).

    Raises
    ------
    ParameterError
        For a non-uint8 image, an unknown ``value_range`` or strategy, and as
        :func:`convcli.filter2d` does.
    ShapeError
        As :func:`convcli.filter2d` does.

    Examples
    --------
    >>> img = np.array([[0, 100, 200]], dtype=np.uint8)
    >>> out = filter2d_pixels(img, np.array([[-1.0, 0.0, 1.0]]), pad_mode="replicate")
    >>> out is None or out.tolist() == [[100, 200, 100]]
    True
    """
    if value_range not in PIXEL_RANGES:
        raise ParameterError(
            f"unknown `value_range` {value_range!r}; known: {', '.join(PIXEL_RANGES)}"
        )
    call = check_filter_call(
        image,
        kernel,
        (stride, padding, dilation, pad_mode),
        convolve,
        dtype,
        pad_value,
        memory_budget,
        threads,
    )
    image, kernel, geo = call.image, call.kernel, call.geo
    if image.dtype != np.uint8:
        raise ParameterError(f"`image` must hold uint8 pixels, got {image.dtype}")
    name = check_strategy(strategy)
    if name != "native" and not native_reads_pixels(call, name):
        return None
    ct, pad_value, workers = call.dtype, call.pad_value, call.threads
    check_magnitude(image, kernel[None], ct, "image", pad_value, workers)
    x = call.planes
    weight = kernel[None, None]
    problem = Problem.of(geo.geometry, x.shape[0], 1, 1, 1)
    budget = call_budget(call.budget, weight, geo)
    out = np.empty((*geo.out, *image.shape[2:]), dtype=np.uint8)
    planes = out[None, None] if image.ndim == 2 else np.moveaxis(out, -1, 0)[:, None]
    maps: Tiling | _Maps = geo
    wide = _interleaved(image, geo) if image.ndim == 3 else None
    if wide is not None:  # every channel in one pass over contiguous rows
        x, maps, problem = wide
        planes = out.reshape(1, 1, geo.out[0], -1)
    factors = costs.native_factors(problem, weight, ct)
    native.run(
        x[:, None],
        weight,
        maps,
        problem,
        ct,
        pad_value,
        budget,
        workers,
        factors,
        out=planes,
        value_range=value_range,
    )
    return out


@dataclass
class _Maps:
    """What :func:`convcli.engine.native.run` reads of a :class:`Tiling`."""

    rows: np.ndarray
    cols: np.ndarray
    out: tuple[int, int]


def _interleaved(image: np.ndarray, geo: Tiling) -> tuple[np.ndarray, _Maps, Problem] | None:
    """View (H, W, C) pixels as one (1, H, W*C) plane whose kernel columns lie C apart.

    Padded column ``p`` of channel ``c`` becomes column ``C*p + c`` of the
    wide plane, read from ``C*cols[p] + c``; output ``(r, q)`` of channel
    ``c`` is then output ``(r, C*q + c)`` of the wide plane, so the result
    (H', W', C) is written as it lies in memory. None when the pixels of a
    row are not consecutive bytes, or a column stride would mix channels.
    """
    h, w, c = image.shape
    if geo.stride[1] != 1 or image.strides[2] != 1 or image.strides[1] != c:
        return None
    plane = np.lib.stride_tricks.as_strided(
        image, (1, h, w * c), (0, image.strides[0], 1), writeable=False
    )
    (top, bottom), (left, right) = geo.padding
    wide = Geometry.resolve(
        (h, w * c),
        geo.kernel_size,
        stride=geo.stride,
        padding=(top, bottom, c * left, c * right),
        dilation=(geo.dilation[0], c * geo.dilation[1]),
    )
    cols = (np.repeat(geo.cols, c) * c + np.tile(np.arange(c), geo.cols.size)).astype(np.int64)
    cols[np.repeat(geo.cols < 0, c)] = -1
    maps = _Maps(np.asarray(geo.rows, dtype=np.int64), cols, wide.output_shape)
    return plane, maps, Problem.of(wide, 1, 1, 1, 1)
