"""Filtering whole images: kernel chains, alpha, luminance and the value range.

This is the library behind ``convcli filter``: :func:`filter_image` takes an
:class:`convcli.images.io.Image` (or plain arrays) and a list of
:class:`convcli.kernels.kernel.Kernel`, runs them through :func:`convcli.filter2d`,
and maps the raw responses back into pixel values. The parts live apart:
:mod:`.chain` (settings, kernel chains, alpha, luminance), :mod:`.ranges`
(responses back into pixels) and :mod:`.bands` (a whole image in bands of
rows); their public names are re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from ..errors import ParameterError
from ..kernels.kernel import Kernel
from .bands import filter_in_bands, rows_per_band
from .chain import (
    ALPHA_MODES,
    FilterSettings,
    ImageChain,
    apply_kernels,
    apply_one,
    bandable,
    bias_value,
    carry_alpha,
    centre_delta,
    chain_input,
    check_alpha_mode,
    luminance,
    split_alpha,
)
from .image import Image
from .native_pixels import filter_natively
from .ranges import (
    EDGE_PERCENTILE,
    FLAT_RESPONSE,
    RANGE_MODES,
    chain_range_mode,
    check_range_mode,
    edge_percentile,
    edge_top,
    map_range,
    percentile_of_ranks,
    percentile_ranks,
    scale_edges,
    store_pixels,
    store_tile,
    stretch_edges,
)

__all__ = [
    "ALPHA_MODES",
    "EDGE_PERCENTILE",
    "FLAT_RESPONSE",
    "RANGE_MODES",
    "FilterSettings",
    "apply_kernels",
    "bandable",
    "centre_delta",
    "chain_input",
    "chain_range_mode",
    "edge_percentile",
    "edge_top",
    "filter_image",
    "luminance",
    "map_range",
    "percentile_of_ranks",
    "percentile_ranks",
    "scale_edges",
    "split_alpha",
    "store_tile",
    "stretch_edges",
]


def filter_image(
    image: Image,
    kernels: Sequence[Kernel],
    settings: FilterSettings | None = None,
    *,
    value_range: str = "auto",
    alpha: str = "keep",
    gray: bool = False,
) -> Image:
    """Filter an :class:`~convcli.images.io.Image` and map the result back to pixels.

    Parameters
    ----------
    image : Image
        As returned by :func:`convcli.read_image`.
    kernels : sequence of Kernel
        The chain, applied in order (see :func:`apply_kernels`).
    settings : FilterSettings, optional
        Geometry and options for every kernel.
    value_range : {"auto", "clip", "abs", "normalize", "offset", "raw"}
        How responses become pixels (see :func:`map_range`; ``auto`` stretches
        a zero-sum chain's absolute response, :func:`stretch_edges`, a gradient
        magnitude's too; ``clip`` keeps a magnitude's exact values). ``raw`` keeps
        float32 values in pixel units (a uint8 image's on its 0..255 scale).
    alpha : {"keep", "filter", "premultiply"}
        ``keep``: alpha is carried through unfiltered (cropped or subsampled
        with the colour when the geometry changes). ``filter``: alpha is
        filtered like a colour channel. ``premultiply``: colour is weighted
        by alpha before filtering and divided by the filtered alpha after,
        so colour hidden under transparent pixels cannot bleed into visible
        ones (meant for blurs; alpha is filtered too).
    gray : bool
        Filter the BT.601 luminance of a colour image; the result is gray.

    Returns
    -------
    Image
        uint8 pixels for 8-bit and floating-point input, uint16 for 16-bit
        input, float32 for ``raw``; alpha likewise.

    Notes
    -----
    Integer pixels go to the engine as they are; it converts them to float32
    tile by tile. With ``same`` padding and stride 1 (the default) the image
    is filtered in bands of rows that overlap by the kernels' reach, and
    each band is mapped to pixels as soon as it is done, so no
    floating-point copy of the whole image is made (except for
    ``value_range="normalize"``, which needs the whole result's range,
    ``auto`` with a zero-sum chain, which needs the whole result's 99th
    percentile (see :func:`stretch_edges`), and ``raw``, whose result is
    floating point).
    """
    check_alpha_mode(alpha)
    check_range_mode(value_range)
    if not kernels:
        raise ParameterError("no kernel given: pass at least one")
    s = settings or FilterSettings()
    pixels = image.pixels
    to_gray = gray and pixels.ndim == 3
    max_value = float(image.max_value)
    chain = ImageChain(pixels, image.alpha, alpha, to_gray, max_value, tuple(kernels), s)
    mode = chain_range_mode(kernels, value_range)
    dtype: np.dtype  # of the result's pixels
    if value_range == "raw":
        dtype = np.dtype(np.float32)
    else:
        dtype = np.dtype(np.uint16) if pixels.dtype == np.uint16 else np.dtype(np.uint8)
    stages = [k for _ in range(s.repeat) for k in kernels]
    fast = filter_natively(image, stages, s, mode, gray)  # one pass for 8-bit photos
    if fast is not None:
        return fast
    itemsize = 8 if pixels.dtype == np.float64 else 4
    h = pixels.shape[0]
    shape = (h, pixels.shape[1]) + (() if pixels.ndim == 2 or to_gray else pixels.shape[2:])
    rows = rows_per_band(shape, itemsize, kernels, s)
    if rows is None:
        result, res_alpha = _filter_whole(chain, mode, dtype)
    else:
        floats = np.dtype(np.float64 if itemsize == 8 else np.float32)
        result, res_alpha = filter_in_bands(chain, rows, shape, floats, mode, dtype)
    return replace(
        image,
        pixels=result,
        alpha=res_alpha,
        max_value=float(np.iinfo(result.dtype).max) if result.dtype.kind == "u" else max_value,
        notes=[],
    )


def _filter_whole(
    chain: ImageChain, mode: str, dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray | None]:
    """Filter `chain` on the whole image at once into pixels of `dtype`: (colour, alpha)."""
    s = chain.settings
    a = chain.alpha_values
    out = chain.prepare(0, chain.pixels.shape[0])
    for kernel in chain.stages:
        out = apply_one(out, kernel, s)
    if s.bias:
        out += bias_value(s.bias, out.dtype)
    if chain.keeps_alpha:
        colour = out
        out_alpha = None if a is None else carry_alpha(a, chain.kernels, s)
    else:
        colour, out_alpha = chain.split(out)
    result: np.ndarray = np.empty(colour.shape, dtype)
    store_pixels(colour, result, mode, chain.max_value, owned=True)
    if out_alpha is None:
        return result, None
    alpha_range = mode if chain.alpha == "filter" else "clip"
    res_alpha = np.empty(out_alpha.shape, dtype)
    store_pixels(out_alpha, res_alpha, alpha_range, chain.max_value, owned=out_alpha is not a)
    return result, res_alpha
