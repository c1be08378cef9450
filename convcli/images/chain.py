"""Kernel chains on arrays: the settings, one kernel, a whole chain, alpha and luminance.

:class:`FilterSettings` holds what every kernel of a chain is applied with;
:func:`apply_kernels` runs a chain through :func:`convcli.filter2d` (a
gradient magnitude as ``sqrt(gx² + gy²)`` of its parts, a large box or
Gaussian as two 1-D passes). :func:`chain_input` and :func:`split_alpha`
turn colour and alpha into what a chain filters and back, for every
``--alpha`` mode; :func:`carry_alpha` follows a chain's geometry with a kept
alpha channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..arithmetic.sizes import PaddingSpec, pair
from ..engine.convolution import DEFAULT_MEMORY_BUDGET, filter2d, normalize_pad_mode
from ..errors import ParameterError, ShapeError
from ..kernels.kernel import Kernel

__all__ = [
    "ALPHA_MODES",
    "FilterSettings",
    "ImageChain",
    "apply_kernels",
    "apply_one",
    "bandable",
    "bias_value",
    "carry_alpha",
    "centre_delta",
    "chain_input",
    "check_alpha_mode",
    "luminance",
    "same_grid",
    "split_alpha",
]

#: What happens to an alpha channel; see :func:`convcli.images.filtering.filter_image`.
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
    strategy : str
        How the engine computes each tile: ``auto`` (default), ``direct``,
        ``separable``, ``fft`` or ``im2col`` (see :mod:`convcli.engine.strategies`).
    threads : int or None
        Threads for the engine and the pixel mapping; None for
        ``CONVCLI_THREADS`` or the number of usable cores.
    """

    stride: int | tuple[int, int] = 1
    padding: PaddingSpec = "same"
    dilation: int | tuple[int, int] = 1
    pad_mode: str = "reflect"
    convolve: bool = False
    bias: float = 0.0
    repeat: int = 1
    memory_budget: int = DEFAULT_MEMORY_BUDGET
    strategy: str = "auto"
    threads: int | None = None

    def __post_init__(self) -> None:
        """Refuse a `repeat` that is not a positive integer."""
        if isinstance(self.repeat, bool) or not isinstance(self.repeat, int) or self.repeat < 1:
            raise ParameterError(f"`repeat` must be a positive integer, got {self.repeat!r}")


def _fresh(out: np.ndarray, source: np.ndarray) -> np.ndarray:
    """`out`, or a copy of it if it shares memory with `source` (so it may be changed in place)."""
    return out.copy() if np.may_share_memory(out, source) else out


def _magnitude(gx: np.ndarray, gy: np.ndarray, bound: float | None = None) -> np.ndarray:
    """``sqrt(gx² + gy²)``, computed in the memory of `gx` (both arrays are changed).

    Squares and a square root are several times faster than ``np.hypot``; when
    a square could overflow (values above a square root of the dtype's
    largest number), ``np.hypot`` is used instead. `bound`, when known, is
    at least every ``|gx|`` and ``|gy|`` (see :func:`_response_bound`), and
    spares looking at them.
    """
    limit = np.sqrt(np.finfo(gx.dtype).max) / 2
    if bound is not None and 2 * bound < limit:
        pass  # no square can overflow
    elif gx.size and max(-gx.min(), gx.max(), -gy.min(), gy.max()) >= limit:
        return np.hypot(gx, gy, out=gx)
    np.multiply(gx, gx, out=gx)
    np.multiply(gy, gy, out=gy)
    gx += gy
    return np.sqrt(gx, out=gx)


def _response_bound(values: np.ndarray, parts: Sequence[np.ndarray]) -> float | None:
    """Return a bound of every response of `parts` to integer `values`, else None.

    No response exceeds the largest magnitude the dtype holds times the sum
    of a kernel's absolute weights (every pad mode repeats pixels or adds 0).
    """
    if values.dtype.kind not in "ui":
        return None
    info = np.iinfo(values.dtype)
    largest = max(abs(int(info.min)), int(info.max))
    return largest * max(float(np.abs(p).sum()) for p in parts)


def apply_one(
    values: np.ndarray, kernel: Kernel, s: FilterSettings, padding: PaddingSpec | None = None
) -> np.ndarray:
    """One kernel of a chain; `padding` overrides ``s.padding`` (used for bands)."""

    def run(weights: np.ndarray) -> np.ndarray:
        out = filter2d(
            values,
            weights,
            stride=s.stride,
            padding=s.padding if padding is None else padding,
            dilation=s.dilation,
            pad_mode=s.pad_mode,
            convolve=s.convolve,
            memory_budget=s.memory_budget,
            strategy=s.strategy,
            threads=s.threads,
        )
        return _fresh(out, values)

    if kernel.parts is not None:  # a magnitude
        gx, gy = (run(p) for p in kernel.parts)
        out = _magnitude(gx, gy, _response_bound(values, kernel.parts))
    elif kernel.factors is not None:  # a large box or Gaussian: two 1-D passes
        from ..engine.passes import filter2d_separable

        out = _fresh(
            filter2d_separable(
                values,
                *kernel.factors,
                s.stride,
                s.padding if padding is None else padding,
                s.dilation,
                s.pad_mode,
                s.convolve,
                memory_budget=s.memory_budget,
                strategy=s.strategy,
                threads=s.threads,
            ),
            values,
        )
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
    >>> from convcli.kernels.catalogue import get_kernel
    >>> img = np.zeros((3, 5)); img[:, 2:] = 10
    >>> apply_kernels(img, [get_kernel("edge-x")], FilterSettings(padding="valid"))
    array([[  0., -10.,   0.,   0.],
           [  0., -10.,   0.,   0.],
           [  0., -10.,   0.,   0.]])
    """
    s = settings or FilterSettings()
    if not kernels:
        raise ParameterError("no kernel given: pass at least one")
    out = values
    for _ in range(s.repeat):
        for kernel in kernels:
            out = apply_one(out, kernel, s)
    if s.bias:
        out += bias_value(s.bias, out.dtype)
    return out


def bias_value(bias: float, dtype: np.dtype) -> np.ndarray:
    """``bias`` as a ``dtype`` scalar; a ParameterError when ``dtype`` cannot hold it.

    A bias beyond the type's largest number would make every value infinite
    (an all-white image and a RuntimeWarning).
    """
    limit = float(np.finfo(dtype).max)
    if not abs(bias) <= limit:
        raise ParameterError(
            f"`bias` {bias:g} is beyond {np.dtype(dtype).name}'s largest number ({limit:.2g}), "
            "which the result is computed in"
        )
    return np.asarray(bias, dtype=dtype)


def same_grid(s: FilterSettings) -> bool:
    """Return whether every output pixel sits on the input pixel of the same index.

    That is ``same`` padding with stride 1 (whatever the kernel, dilation or
    pad mode): the output has the input's size and each window is centred on
    its own pixel.
    """
    try:
        stride = pair(s.stride, "stride")
    except (ShapeError, ParameterError):
        return False
    return stride == (1, 1) and isinstance(s.padding, str) and s.padding.lower() == "same"


def carry_alpha(alpha: np.ndarray, kernels: Sequence[Kernel], s: FilterSettings) -> np.ndarray:
    """Follow the chain's geometry with the pixel under each window's centre.

    With ``same`` padding and stride 1 this returns ``alpha`` itself; with
    ``valid`` padding or a stride it crops or subsamples alpha exactly as the
    colour channels are.
    """
    if same_grid(s):
        return alpha
    out = alpha
    for _ in range(s.repeat):
        for kernel in kernels:
            out = filter2d(
                out,
                centre_delta(kernel.shape, s.convolve),
                stride=s.stride,
                padding=s.padding,
                dilation=s.dilation,
                pad_mode=s.pad_mode,
                convolve=s.convolve,
                memory_budget=s.memory_budget,
                strategy="direct",  # a shifted copy: one tap
                threads=s.threads,
            )
    return out


def centre_delta(shape: tuple[int, int], convolve: bool) -> np.ndarray:
    """Return a kernel of `shape` with one 1 at the centre a ``same`` window is aligned on.

    Filtering with it follows a kernel's geometry with the pixel under each
    window's centre (how a kept alpha channel is cropped or subsampled).
    The extra cell of an even size goes after the centre, as for padding.

    Examples
    --------
    >>> centre_delta((2, 3), convolve=False)
    array([[0., 1., 0.],
           [0., 0., 0.]])
    """
    kh, kw = shape
    delta = np.zeros((kh, kw))
    ch, cw = (kh - 1) // 2, (kw - 1) // 2
    delta[(kh - 1 - ch, kw - 1 - cw) if convolve else (ch, cw)] = 1.0
    return delta


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Return the BT.601 luma ``0.299 R + 0.587 G + 0.114 B`` of an (H, W, 3) array.

    Computed in float32 (float64 for float64 input), without a float copy of
    the whole colour image.

    Examples
    --------
    >>> luminance(np.array([[[255, 255, 255]]], dtype=np.uint8))
    array([[255.]], dtype=float32)
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ShapeError(f"luminance needs an (H, W, 3) array, got shape {rgb.shape}")
    dtype = np.float64 if rgb.dtype == np.float64 else np.float32
    weights = _LUMA.astype(dtype)
    out = np.multiply(rgb[..., 0], weights[0], dtype=dtype)
    term = np.multiply(rgb[..., 1], weights[1], dtype=dtype)
    out += term
    np.multiply(rgb[..., 2], weights[2], out=term, dtype=dtype)
    out += term
    return out


def check_alpha_mode(alpha: str) -> None:
    """Refuse an `alpha` that is not one of :data:`ALPHA_MODES`."""
    if alpha not in ALPHA_MODES:
        raise ParameterError(f"unknown alpha mode {alpha!r}; known: {', '.join(ALPHA_MODES)}")


def chain_input(
    px: np.ndarray, a: np.ndarray | None, alpha: str, to_gray: bool, max_value: float
) -> np.ndarray:
    """Return what a chain filters, from colour pixels `px` and alpha `a` (any rectangle).

    The luminance with `to_gray`; colour and alpha stacked for ``alpha="filter"``;
    colour weighted by alpha on a 0..1 scale, and that weight, for ``premultiply``.
    """
    if to_gray:
        px = luminance(px)
    if a is None or alpha == "keep":
        return px
    if alpha == "filter":
        return np.dstack([px, a])
    float64 = np.float64 in (px.dtype, a.dtype)
    weight = a.astype(np.float64 if float64 else np.float32)
    np.divide(weight, max_value, out=weight)
    colour = px * (weight[..., None] if px.ndim == 3 else weight)
    return np.dstack([colour, weight])


def split_alpha(
    out: np.ndarray, alpha: str, max_value: float
) -> tuple[np.ndarray, np.ndarray | None]:
    """(colour, alpha) of a filtered :func:`chain_input`, for ``filter`` and ``premultiply``."""
    if alpha == "filter":
        colour, out_alpha = out[..., :-1], out[..., -1]
    else:
        filtered_w = np.clip(out[..., -1], 0.0, 1.0)
        safe = np.where(filtered_w > 1e-12, filtered_w, 1.0)
        colour = out[..., :-1] / safe[..., None]
        colour[filtered_w <= 1e-12] = 0.0
        out_alpha = filtered_w
        out_alpha *= max_value
    if colour.shape[-1] == 1:
        colour = colour[..., 0]
    return colour, out_alpha


def bandable(s: FilterSettings) -> bool:
    """Return whether a chain with these settings can run in bands of rows.

    Bands (:func:`convcli.images.bands.run_band`) need the geometry of
    :func:`same_grid` and a pad mode that looks only at the nearest rows
    (not ``circular``).
    """
    if not same_grid(s):
        return False
    try:
        return normalize_pad_mode(s.pad_mode) != "circular"
    except (ShapeError, ParameterError):
        return False


@dataclass(frozen=True)
class ImageChain:
    """One image's chain as :func:`convcli.images.filtering.filter_image` runs it.

    Attributes
    ----------
    pixels : numpy.ndarray
        The colour pixels, ``(H, W)`` or ``(H, W, 3)``.
    alpha_values : numpy.ndarray or None
        The alpha channel, ``(H, W)``.
    alpha : str
        One of :data:`ALPHA_MODES`.
    to_gray : bool
        Filter the luminance of a colour image.
    max_value : float
        The value of white.
    kernels : tuple of Kernel
        The chain, once (``settings.repeat`` says how often it runs).
    settings : FilterSettings
        Geometry and options for every kernel.
    """

    pixels: np.ndarray
    alpha_values: np.ndarray | None
    alpha: str
    to_gray: bool
    max_value: float
    kernels: tuple[Kernel, ...]
    settings: FilterSettings

    @property
    def stages(self) -> list[Kernel]:
        """Every kernel in the order it runs, ``repeat`` times over."""
        return [k for _ in range(self.settings.repeat) for k in self.kernels]

    @property
    def keeps_alpha(self) -> bool:
        """True when alpha is not filtered (there is none, or it is kept)."""
        return self.alpha_values is None or self.alpha == "keep"

    def prepare(self, lo: int, hi: int) -> np.ndarray:
        """Return rows lo..hi-1 of what the chain filters (see :func:`chain_input`)."""
        a = self.alpha_values
        return chain_input(
            self.pixels[lo:hi],
            None if a is None else a[lo:hi],
            self.alpha,
            self.to_gray,
            self.max_value,
        )

    def split(self, out: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Return (colour, alpha) of a filtered :meth:`prepare` (see :func:`split_alpha`)."""
        return split_alpha(out, self.alpha, self.max_value)
