"""Filtering whole images: kernel chains, alpha, luminance and the value range.

This is the library behind ``convcli filter``: it takes an
:class:`convcli.imageio.Image` (or plain arrays) and a list of
:class:`convcli.kernels.Kernel`, runs them through :func:`convcli.filter2d`,
and maps the raw responses back into pixel values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from .engine import DEFAULT_MEMORY_BUDGET, filter2d
from .errors import ShapeError
from .imageio import Image
from .kernels import Kernel
from .shapes import PaddingSpec

__all__ = [
    "ALPHA_MODES",
    "RANGE_MODES",
    "FilterSettings",
    "apply_kernels",
    "filter_image",
    "luminance",
    "map_range",
]

#: How filter responses become pixels; see :func:`map_range`.
RANGE_MODES = ("auto", "clip", "abs", "normalize", "offset", "raw")
#: What happens to an alpha channel; see :func:`filter_image`.
ALPHA_MODES = ("keep", "filter", "premultiply")

# ITU-R BT.601 luma weights, as Pillow's convert("L") uses them
_LUMA = np.array([0.299, 0.587, 0.114])


@dataclass(frozen=True)
class FilterSettings:
    """The geometry and options every kernel of a chain is applied with.

    Attributes
    ----------
    stride, dilation : int or (int, int)
        As for :func:`convcli.filter2d`.
    padding : int, pair, 4-tuple or {"same", "valid", "full"}
        As for :func:`convcli.filter2d`; ``"same"`` by default.
    pad_mode : str
        ``reflect`` by default.
    convolve : bool
        Flip each kernel first (true convolution).
    bias : float
        Added to the result of the chain, in pixel units.
    repeat : int
        Apply the whole chain this many times.
    memory_budget : int
        Working-memory bound of the engine, in bytes.
    """

    stride: int | tuple[int, int] = 1
    padding: PaddingSpec = "same"
    dilation: int | tuple[int, int] = 1
    pad_mode: str = "reflect"
    convolve: bool = False
    bias: float = 0.0
    repeat: int = 1
    memory_budget: int = DEFAULT_MEMORY_BUDGET

    def __post_init__(self) -> None:
        if isinstance(self.repeat, bool) or not isinstance(self.repeat, int) or self.repeat < 1:
            raise ShapeError(f"`repeat` must be a positive integer, got {self.repeat!r}")


def _apply_one(values: np.ndarray, kernel: Kernel, s: FilterSettings) -> np.ndarray:
    def run(weights: np.ndarray) -> np.ndarray:
        return filter2d(
            values,
            weights,
            stride=s.stride,
            padding=s.padding,
            dilation=s.dilation,
            pad_mode=s.pad_mode,
            convolve=s.convolve,
            memory_budget=s.memory_budget,
        )

    if kernel.is_magnitude:
        gx, gy = (run(p) for p in kernel.parts)
        out = np.hypot(gx, gy)
    else:
        out = run(kernel.weights)
    if kernel.offset:
        out += kernel.offset
    return out


def apply_kernels(
    values: np.ndarray,
    kernels: Sequence[Kernel],
    settings: FilterSettings | None = None,
) -> np.ndarray:
    """Apply a chain of kernels, in order, to an (H, W) or (H, W, C) array.

    Parameters
    ----------
    values : ndarray, shape (H, W) or (H, W, C)
        Pixel values in any real dtype (integers are not rescaled).
    kernels : sequence of Kernel
        Applied one after the other; a gradient magnitude (``sobel``) gives
        ``sqrt(gx² + gy²)`` of its two parts.
    settings : FilterSettings, optional
        Geometry and options, applied to *every* kernel of the chain (a
        stride of 2 with two kernels therefore subsamples twice).

    Returns
    -------
    ndarray
        Raw responses in floating point (float32, or float64 for float64
        input), with ``settings.bias`` added at the end.

    Examples
    --------
    >>> from convcli.kernels import get_kernel
    >>> img = np.zeros((3, 5)); img[:, 2:] = 10
    >>> apply_kernels(img, [get_kernel("edge-x")], FilterSettings(padding="valid"))
    array([[  0., -10.,   0.,   0.],
           [  0., -10.,   0.,   0.],
           [  0., -10.,   0.,   0.]])
    """
    s = settings or FilterSettings()
    if not kernels:
        raise ShapeError("no kernel given: pass at least one")
    out = values
    for _ in range(s.repeat):
        for kernel in kernels:
            out = _apply_one(out, kernel, s)
    if s.bias:
        out = out + np.asarray(s.bias, dtype=out.dtype)
    return out


def _carry(alpha: np.ndarray, kernels: Sequence[Kernel], s: FilterSettings) -> np.ndarray:
    """Follow the chain's geometry with the pixel under each window's centre.

    With ``same`` padding and stride 1 this returns ``alpha`` unchanged; with
    ``valid`` padding or a stride it crops or subsamples alpha exactly as the
    colour channels are.
    """
    out = alpha
    for _ in range(s.repeat):
        for kernel in kernels:
            kh, kw = kernel.shape
            delta = np.zeros((kh, kw))
            # the centre a `same` window is aligned on: the extra cell goes after
            ch, cw = (kh - 1) // 2, (kw - 1) // 2
            delta[(kh - 1 - ch, kw - 1 - cw) if s.convolve else (ch, cw)] = 1.0
            out = filter2d(
                out,
                delta,
                stride=s.stride,
                padding=s.padding,
                dilation=s.dilation,
                pad_mode=s.pad_mode,
                convolve=s.convolve,
                memory_budget=s.memory_budget,
            )
    return out


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Return the BT.601 luma ``0.299 R + 0.587 G + 0.114 B`` of an (H, W, 3) array.

    Examples
    --------
    >>> luminance(np.array([[[255, 255, 255]]], dtype=np.uint8))
    array([[255.]], dtype=float32)
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ShapeError(f"luminance needs an (H, W, 3) array, got shape {rgb.shape}")
    dtype = np.float64 if rgb.dtype == np.float64 else np.float32
    return (rgb @ _LUMA).astype(dtype, copy=False)


def map_range(
    values: np.ndarray, mode: str, max_value: float, zero_sum: bool = False
) -> np.ndarray:
    """Map raw filter responses into ``[0, max_value]``.

    Parameters
    ----------
    values : ndarray
        Raw responses in pixel units.
    mode : {"auto", "clip", "abs", "normalize", "offset", "raw"}
        ``clip``: cut below 0 and above ``max_value``. ``abs``: absolute
        value, then clip (edges of both signs show). ``normalize``: stretch
        the smallest..largest response to the full range (a constant result
        becomes 0). ``offset``: mid-grey plus the value, then clip, for
        signed results. ``auto``: ``abs`` when the kernel sums to zero
        (``zero_sum``), ``clip`` otherwise. ``raw``: unchanged (float32).
    max_value : float
        The value of white (255 for 8-bit images, 65535 for 16-bit).
    zero_sum : bool, optional
        Whether the kernel (chain) sums to zero; used by ``auto``.

    Returns
    -------
    ndarray
        Floating-point values in ``[0, max_value]`` (any values for ``raw``).

    Examples
    --------
    >>> v = np.array([-20.0, 100.0, 300.0])
    >>> map_range(v, "clip", 255)
    array([  0., 100., 255.])
    >>> map_range(v, "abs", 255)
    array([ 20., 100., 255.])
    >>> map_range(v, "offset", 255)
    array([108., 228., 255.])
    >>> map_range(v, "normalize", 255)
    array([  0.   ,  95.625, 255.   ])
    """
    if mode not in RANGE_MODES:
        raise ShapeError(f"unknown range mode {mode!r}; known: {', '.join(RANGE_MODES)}")
    if mode == "auto":
        mode = "abs" if zero_sum else "clip"
    if mode == "raw":
        return values.astype(np.float32, copy=False)
    if mode == "abs":
        values = np.abs(values)
    elif mode == "offset":
        # mid-grey: 128 of 0..255, 32768 of 0..65535, 0.5 of 0..1
        mid = (max_value + 1) / 2 if max_value >= 255 else max_value / 2
        values = values + mid
    elif mode == "normalize":
        lo, hi = float(np.min(values)), float(np.max(values))
        if hi > lo:
            return (values - lo) * (max_value / (hi - lo))
        return np.zeros_like(values)
    return np.clip(values, 0, max_value)


def _to_pixels(values: np.ndarray, max_value: float, dtype: np.dtype) -> np.ndarray:
    """Scale ``[0, max_value]`` floats to the full range of an integer ``dtype``, rounded."""
    top = float(np.iinfo(dtype).max)
    scaled = values if max_value == top else values * (top / max_value)
    return np.rint(scaled).astype(dtype)


def filter_image(
    image: Image,
    kernels: Sequence[Kernel],
    settings: FilterSettings | None = None,
    *,
    value_range: str = "auto",
    alpha: str = "keep",
    gray: bool = False,
) -> Image:
    """Filter an :class:`~convcli.imageio.Image` and map the result back to pixels.

    Parameters
    ----------
    image : Image
        As returned by :func:`convcli.read_image`.
    kernels : sequence of Kernel
        The chain, applied in order (see :func:`apply_kernels`).
    settings : FilterSettings, optional
        Geometry and options for every kernel.
    value_range : {"auto", "clip", "abs", "normalize", "offset", "raw"}
        How responses become pixels (see :func:`map_range`). ``raw`` keeps
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
    """
    if alpha not in ALPHA_MODES:
        raise ShapeError(f"unknown alpha mode {alpha!r}; known: {', '.join(ALPHA_MODES)}")
    s = settings or FilterSettings()
    pixels = image.pixels
    notes: list[str] = []
    if gray and pixels.ndim == 3:
        pixels = luminance(pixels)
    a = image.alpha
    # a chain sums to the product of its sums: zero if any kernel is zero-sum (and
    # adds no offset, which would make `abs` fold values below the offset)
    zero_sum = any(k.is_zero_sum and not k.offset for k in kernels)
    max_value = float(image.max_value)

    if a is None:
        out = apply_kernels(pixels, kernels, s)
        out_alpha = None
    elif alpha == "keep":
        out = apply_kernels(pixels, kernels, s)
        out_alpha = _carry(a, kernels, s)
    elif alpha == "filter":
        stacked = np.dstack([pixels, a])
        both = apply_kernels(stacked, kernels, s)
        out, out_alpha = both[..., :-1], both[..., -1]
        if out.shape[-1] == 1:
            out = out[..., 0]
    else:  # premultiply
        weight = a.astype(np.float64) / max_value
        colour = pixels * (weight[..., None] if pixels.ndim == 3 else weight)
        stacked = np.dstack([colour, weight])
        both = apply_kernels(stacked, kernels, s)
        filtered_w = np.clip(both[..., -1], 0.0, 1.0)
        safe = np.where(filtered_w > 1e-12, filtered_w, 1.0)
        out = both[..., :-1] / safe[..., None]
        out[filtered_w <= 1e-12] = 0.0
        if out.shape[-1] == 1:
            out = out[..., 0]
        out_alpha = filtered_w * max_value

    if value_range == "raw":
        result = out.astype(np.float32, copy=False)
        res_alpha = None if out_alpha is None else out_alpha.astype(np.float32, copy=False)
    else:
        dtype = np.dtype(np.uint16) if image.pixels.dtype == np.uint16 else np.dtype(np.uint8)
        result = _to_pixels(map_range(out, value_range, max_value, zero_sum), max_value, dtype)
        res_alpha = None
        if out_alpha is not None:
            alpha_range = value_range if alpha == "filter" else "clip"
            res_alpha = _to_pixels(
                map_range(out_alpha, alpha_range, max_value, zero_sum), max_value, dtype
            )
    return replace(
        image,
        pixels=result,
        alpha=res_alpha,
        max_value=float(np.iinfo(result.dtype).max) if result.dtype.kind == "u" else max_value,
        notes=notes,
    )
