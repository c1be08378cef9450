"""Filtering whole images: kernel chains, alpha, luminance and the value range.

This is the library behind ``convcli filter``: it takes an
:class:`convcli.images.io.Image` (or plain arrays) and a list of
:class:`convcli.kernels.kernel.Kernel`, runs them through :func:`convcli.filter2d`,
and maps the raw responses back into pixel values.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from ..arithmetic.sizes import PaddingSpec, pair, same_padding
from ..engine.arrays import check_finite
from ..engine.convolution import DEFAULT_MEMORY_BUDGET, filter2d, normalize_pad_mode
from ..engine.threads import check_threads
from ..errors import ImageError, ParameterError, ShapeError
from ..kernels.kernel import Kernel
from .io import Image
from .native_pixels import filter_natively
from .pixels import copy_into, to_pixels

if TYPE_CHECKING:  # concurrent.futures (and logging) only for bands on threads
    from concurrent.futures import ThreadPoolExecutor

__all__ = [
    "ALPHA_MODES",
    "RANGE_MODES",
    "FilterSettings",
    "apply_kernels",
    "bandable",
    "centre_delta",
    "chain_input",
    "chain_range_mode",
    "edge_top",
    "filter_image",
    "luminance",
    "map_range",
    "scale_edges",
    "split_alpha",
    "store_tile",
    "stretch_edges",
]

#: How filter responses become pixels; see :func:`map_range`.
RANGE_MODES = ("auto", "clip", "abs", "normalize", "offset", "raw")
#: What happens to an alpha channel; see :func:`filter_image`.
ALPHA_MODES = ("keep", "filter", "premultiply")

# ITU-R BT.601 luma weights, as Pillow's convert("L") uses them
_LUMA = np.array([0.299, 0.587, 0.114])
# a band of rows filtered at once takes about 1/_BAND_SHARE of the memory budget per array
_BAND_SHARE = 16


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
        if isinstance(self.repeat, bool) or not isinstance(self.repeat, int) or self.repeat < 1:
            raise ParameterError(f"`repeat` must be a positive integer, got {self.repeat!r}")


def _fresh(out: np.ndarray, source: np.ndarray) -> np.ndarray:
    """`out`, or a copy of it if it shares memory with `source` (so it may be changed in place)."""
    return out.copy() if np.may_share_memory(out, source) else out


def _magnitude(gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """``sqrt(gx² + gy²)``, computed in the memory of `gx` (both arrays are changed).

    Squares and a square root are several times faster than ``np.hypot``; when
    a square could overflow (values above a square root of the dtype's
    largest number), ``np.hypot`` is used instead.
    """
    limit = np.sqrt(np.finfo(gx.dtype).max) / 2
    if gx.size and max(-gx.min(), gx.max(), -gy.min(), gy.max()) >= limit:
        return np.hypot(gx, gy, out=gx)
    np.multiply(gx, gx, out=gx)
    np.multiply(gy, gy, out=gy)
    gx += gy
    return np.sqrt(gx, out=gx)


def _apply_one(
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
        out = _magnitude(gx, gy)
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
            out = _apply_one(out, kernel, s)
    if s.bias:
        out += _bias(s.bias, out.dtype)
    return out


def _bias(bias: float, dtype: np.dtype) -> np.ndarray:
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


def _is_identity_geometry(s: FilterSettings) -> bool:
    """True when every output pixel sits on the input pixel of the same index.

    That is ``same`` padding with stride 1 (whatever the kernel, dilation or
    pad mode): the output has the input's size and each window is centred on
    its own pixel.
    """
    try:
        stride = pair(s.stride, "stride")
    except (ShapeError, ParameterError):
        return False
    return stride == (1, 1) and isinstance(s.padding, str) and s.padding.lower() == "same"


def _carry(alpha: np.ndarray, kernels: Sequence[Kernel], s: FilterSettings) -> np.ndarray:
    """Follow the chain's geometry with the pixel under each window's centre.

    With ``same`` padding and stride 1 this returns ``alpha`` itself; with
    ``valid`` padding or a stride it crops or subsamples alpha exactly as the
    colour channels are.
    """
    if _is_identity_geometry(s):
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
    """A kernel of `shape` with one 1 at the centre a ``same`` window is aligned on.

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


def _check_range_mode(mode: str) -> None:
    if mode not in RANGE_MODES:
        raise ParameterError(f"unknown range mode {mode!r}; known: {', '.join(RANGE_MODES)}")


#: The percentile of the absolute response that ``auto`` makes white for a zero-sum kernel.
EDGE_PERCENTILE = 99.0
#: Responses up to this fraction of white count as zero in :func:`stretch_edges`: float
#: rounding leaves about 1e-7 of white where a kernel like ``log`` meets a flat image.
FLAT_RESPONSE = 1e-4


def chain_range_mode(kernels: Sequence[Kernel], value_range: str) -> str:
    """The concrete mode `value_range` stands for with this chain (see :func:`_auto_mode`).

    A chain sums to the product of its sums: zero if any kernel is zero-sum
    (and adds no offset, which would make ``abs`` fold values below the offset).
    """
    zero_sum = any(k.is_zero_sum and not k.offset for k in kernels)
    return _auto_mode(value_range, zero_sum)


def _auto_mode(mode: str, zero_sum: bool) -> str:
    """The concrete mode ``auto`` stands for; other modes are returned as they are.

    ``"stretch"`` (see :func:`stretch_edges`) for a zero-sum chain, gradient
    magnitudes (``sobel``) included: their raw strengths are near black on a
    low-contrast photo and saturated on a textured one; ``"clip"`` otherwise.
    """
    if mode != "auto":
        return mode
    return "stretch" if zero_sum else "clip"


def stretch_edges(values: np.ndarray, max_value: float) -> np.ndarray:
    """Make the edges of a zero-sum kernel's response visible, in place: ``--range auto``'s rule.

    Takes the absolute value, then multiplies every value by one factor so
    that the 99th percentile (:data:`EDGE_PERCENTILE`) of the absolute values
    of the whole array, all colour channels together, becomes `max_value`;
    the top 1 % are clipped to `max_value`. One factor for all channels keeps
    the colours' balance. If that percentile is 0 (more than 99 % of the
    responses are zero) the largest value becomes `max_value` instead; if
    that is 0 too (a flat image's response), the result is all 0. Here
    "0" means at most `max_value` × :data:`FLAT_RESPONSE` (1/10 000 of
    white), so the rounding residue of a flat image is not stretched into
    noise.

    Parameters
    ----------
    values : ndarray of float
        Raw responses in pixel units; overwritten with the result.
    max_value : float
        The value of white (255 for 8-bit images, 65535 for 16-bit).

    Returns
    -------
    ndarray
        `values`, now in ``[0, max_value]``.

    Examples
    --------
    The 99th percentile of 0, 10, 20 is 19.8 (numpy's linear interpolation),
    so the factor is 255 / 19.8:

    >>> stretch_edges(np.array([0.0, -10.0, 20.0]), 255).round(2)
    array([  0.  , 128.79, 255.  ])
    >>> stretch_edges(np.zeros(3), 255)
    array([0., 0., 0.])
    """
    np.abs(values, out=values)
    if values.size == 0:
        return values
    top = edge_top(edge_percentile(values), lambda: float(values.max()), max_value)
    return scale_edges(values, max_value, top)


def percentile_ranks(n: int, q: float = EDGE_PERCENTILE) -> tuple[int, int, float]:
    """The two 0-based ranks numpy's ``linear`` percentile ``q`` of ``n`` values interpolates
    between, and the weight of the second.

    Examples
    --------
    >>> prev, nxt, weight = percentile_ranks(3)  # 0.99 * (3 - 1) = 1.98
    >>> prev, nxt, round(weight, 12)
    (1, 2, 0.98)
    """
    quantile = q / 100
    virtual = n * quantile + (1 + quantile * -1) - 1  # (n - 1) q, in numpy's order of operations
    if virtual >= n - 1:
        return n - 1, n - 1, 0.0
    prev = max(0, math.floor(virtual))
    return prev, prev + 1, virtual - prev


def percentile_of_ranks(a: np.floating, b: np.floating, gamma: float) -> np.floating:
    """Numpy's linear interpolation between sorted neighbours ``a`` <= ``b``, in their
    float type (float32 stays float32).

    numpy computes ``a + (b - a) * g``, or ``b - (b - a) * (1 - g)`` from
    ``g >= 0.5`` on (so the ends are exact); the same order of operations
    gives the same float32.

    Examples
    --------
    >>> float(percentile_of_ranks(np.float32(10), np.float32(20), 0.98))
    19.799999237060547
    """
    kind = np.result_type(a, b, np.float32).type
    a, b = kind(a), kind(b)
    diff = b - a
    if gamma >= 0.5:
        return kind(b - diff * (1 - gamma))
    return kind(a + diff * gamma)


def edge_percentile(values: np.ndarray) -> float:
    """The :data:`EDGE_PERCENTILE` of ``values``, as ``np.percentile`` computes it (linear).

    Found with one ``np.partition`` (``np.percentile`` would import ``numpy.ma``,
    20 ms of a small run's start-up, through ``np.unique``).

    >>> edge_percentile(np.array([0.0, 10.0, 20.0]))
    19.8
    """
    flat = values.reshape(-1)
    if flat.dtype == np.float32:
        prev, nxt, gamma = percentile_ranks(flat.size)
    else:  # numpy's float64 path: the virtual index (n - 1) q
        virtual = (flat.size - 1) * (EDGE_PERCENTILE / 100)
        prev = max(0, math.floor(virtual))
        nxt, gamma = min(prev + 1, flat.size - 1), virtual - prev
    part = np.partition(flat, (prev, nxt) if nxt != prev else prev)
    return float(percentile_of_ranks(part[prev], part[nxt], gamma))


def edge_top(percentile: float, largest: Callable[[], float], max_value: float) -> float:
    """The response :func:`stretch_edges` makes white: the 99th percentile of the absolute
    responses, their largest value (``largest()``) when that is 0, or 0 for a flat response.

    Examples
    --------
    >>> edge_top(19.8, lambda: 20.0, 255), edge_top(0.0, lambda: 20.0, 255)
    (19.8, 20.0)
    """
    flat = max_value * FLAT_RESPONSE
    top = percentile
    if top <= flat:
        top = largest()
    return top if top > flat else 0.0


def scale_edges(values: np.ndarray, max_value: float, top: float) -> np.ndarray:
    """Absolute responses scaled, in place, so that `top` (from :func:`edge_top`) is white,
    the rest clipped; all 0 when `top` is 0. One rule for whole images and tiles.
    """
    if top <= 0:
        values[...] = 0
        return values
    values *= np.asarray(max_value / top, dtype=values.dtype)
    return np.clip(values, 0, max_value, out=values)


def _map_range_inplace(
    values: np.ndarray, mode: str, max_value: float, known: tuple[float, ...] | None = None
) -> np.ndarray:
    """:func:`map_range` on a floating-point array the caller owns, in its own memory.

    `mode` is concrete (see :func:`_auto_mode`): ``auto`` is already resolved.
    `known` gives what ``stretch`` and ``normalize`` would take from `values`
    when `values` is a tile of a larger result: ``(top,)`` of :func:`edge_top`,
    or the result's ``(smallest, largest)``.
    """
    if mode == "raw":
        return values
    if mode == "stretch":
        if known is None:
            return stretch_edges(values, max_value)
        np.abs(values, out=values)
        return scale_edges(values, max_value, known[0])
    if mode == "abs":
        np.abs(values, out=values)
    elif mode == "offset":
        # mid-grey: 128 of 0..255, 32768 of 0..65535, 0.5 of 0..1
        values += (max_value + 1) / 2 if max_value >= 255 else max_value / 2
    elif mode == "normalize":
        lo, hi = known if known is not None else (float(np.min(values)), float(np.max(values)))
        if hi > lo:
            values -= lo
            values *= max_value / (hi - lo)
        else:
            values[...] = 0
        return values
    return np.clip(values, 0, max_value, out=values)


def map_range(
    values: np.ndarray,
    mode: str,
    max_value: float,
    zero_sum: bool = False,
    magnitude: bool = False,
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
        signed results. ``auto``: for a kernel (chain) that sums to zero
        (``zero_sum``), the absolute value scaled so that its 99th
        percentile is white (:func:`stretch_edges`), gradient magnitudes
        (``sobel``, ``scharr``, ``prewitt``) included; ``clip`` otherwise.
        ``raw``: unchanged (float32). ``clip`` and ``raw`` keep a magnitude's
        exact values.
    max_value : float
        The value of white (255 for 8-bit images, 65535 for 16-bit).
    zero_sum : bool, optional
        Whether the kernel (chain) sums to zero; used by ``auto``.
    magnitude : bool, optional
        Whether the chain has a gradient magnitude. Kept for callers of
        convcli 0.2, where ``auto`` meant ``abs`` for one; it changes nothing.

    Returns
    -------
    ndarray
        A new array: values in ``[0, max_value]`` (any values for ``raw``),
        float32 for float32 and ``raw``, else float64.

    Raises
    ------
    ShapeError
        If ``values`` holds a NaN or an infinity (its first one and its
        index named), as the engine refuses them in its inputs: no mode has
        a pixel for "not a number" (clipping turned NaN into 0, black,
        without a word).

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
    >>> map_range(np.array([0.0, 10.0, 20.0]), "auto", 255, zero_sum=True).round(2)
    array([  0.  , 128.79, 255.  ])
    >>> map_range(np.array([1.0, np.nan]), "clip", 255)
    Traceback (most recent call last):
    ...
    convcli.errors.ShapeError: `values` holds a non-finite value (nan) at index (1,)
    """
    _check_range_mode(mode)
    try:
        usable = 0 < float(max_value) < float("inf")
    except (TypeError, ValueError):
        usable = False
    if not usable:
        raise ParameterError(f"`max_value` must be a positive finite number, got {max_value!r}")
    values = np.asarray(values)
    check_finite(values, "values")
    if mode == "raw":
        return values.astype(np.float32)
    dtype = np.float32 if values.dtype == np.float32 else np.float64
    return _map_range_inplace(values.astype(dtype), _auto_mode(mode, zero_sum), max_value)


def _check_fits(values: np.ndarray, dtype: np.dtype) -> None:
    """Refuse finite values a narrower float type would turn into infinity (raw output)."""
    if values.dtype.kind != "f" or values.dtype.itemsize <= dtype.itemsize or not values.size:
        return
    top = float(np.finfo(dtype).max)
    peak = float(np.max(np.abs(values)))
    if peak > top:
        raise ImageError(
            f"filtered values reach {peak:.3g}, beyond the {top:.3g} that --range raw's "
            f"{dtype} can hold; scale the input down (or use another --range)"
        )


def _store(
    values: np.ndarray,
    dst: np.ndarray,
    mode: str,
    max_value: float,
    owned: bool,
    known: tuple[float, ...] | None = None,
) -> None:
    """Map `values` into pixels of `dst`'s dtype and write them to `dst`.

    `mode` is concrete (``auto`` resolved by :func:`_auto_mode`). `owned`
    says whether `values` may be changed in place; integer pixels that
    already have `dst`'s dtype and range are copied as they are. `known`:
    as for :func:`_map_range_inplace`, for a tile of a larger result.
    """
    if dst.dtype.kind == "f":  # raw
        _check_fits(values, dst.dtype)
        copy_into(dst, values)
        return
    if mode == "clip" and values.dtype == dst.dtype and max_value == np.iinfo(dst.dtype).max:
        copy_into(dst, values)  # integer pixels of the output's own range: nothing to map
        return
    if not owned or values.dtype.kind != "f":
        values = values.astype(np.float64 if values.dtype == np.float64 else np.float32)
    # map_range has put the values in 0..max_value already: no second clip
    mapped = _map_range_inplace(values, mode, max_value, known)
    to_pixels(mapped, max_value, out=dst, clip=False, in_place=True)


def _by_rows(
    pool: ThreadPoolExecutor | None, parts: int, func: Callable, *arrays: np.ndarray
) -> None:
    """``func(*arrays)``, in `parts` slices of rows run in `pool` (numpy releases the GIL)."""
    n = arrays[0].shape[0]
    if pool is None or parts < 2 or n < 2 * parts:
        func(*arrays)
        return
    bounds = [n * i // parts for i in range(parts + 1)]
    futures = [
        pool.submit(func, *(a[lo:hi] for a in arrays)) for lo, hi in itertools.pairwise(bounds)
    ]
    for future in futures:
        future.result()


def bandable(s: FilterSettings) -> bool:
    """Whether a chain with these settings can run in bands of rows (:func:`_run_band`):
    the geometry of :func:`_is_identity_geometry` and a pad mode that looks only at
    the nearest rows (not ``circular``).
    """
    if not _is_identity_geometry(s):
        return False
    try:
        return normalize_pad_mode(s.pad_mode) != "circular"
    except (ShapeError, ParameterError):
        return False


def _band_rows(
    shape: tuple[int, ...], itemsize: int, kernels: Sequence[Kernel], s: FilterSettings
) -> int | None:
    """Rows per band for a chain run band by band, or None to run it on the whole image.

    Bands need the geometry of :func:`_is_identity_geometry` and a pad mode
    that looks only at the nearest rows (not ``circular``). A band's
    floating-point arrays take about 1/16 of the memory budget, and a band is
    never thinner than the rows the chain reaches above and below a pixel.
    """
    if not bandable(s):
        return None
    try:
        dilation = pair(s.dilation, "dilation")[0]
    except (ShapeError, ParameterError):
        return None
    reach = s.repeat * sum(dilation * (k.shape[0] - 1) for k in kernels)
    h = shape[0]
    row_bytes = itemsize * int(np.prod(shape[1:]))
    rows = max(reach + 1, s.memory_budget // (_BAND_SHARE * max(row_bytes, 1)))
    return rows if 2 * rows <= h else None


def _run_band(
    prepare: Callable[[int, int], np.ndarray],
    r0: int,
    r1: int,
    h: int,
    stages: Sequence[Kernel],
    s: FilterSettings,
) -> np.ndarray:
    """Output rows r0..r1-1 of a chain with ``same`` padding and stride 1.

    Going back from the last kernel, each kernel needs the rows its window
    reaches above and below the rows it must produce. Where those rows exist
    they are taken from the image (the band overlaps its neighbours); only
    at the image's top and bottom edge is the band padded, with the pad mode,
    exactly as the whole image would be.
    """
    dh, dw = pair(s.dilation, "dilation")
    # each kernel's "same" split of the rows, by the one rule (the extra cell after)
    rows = [same_padding(h, k.shape[0], 1, dh) for k in stages]
    lo, hi = [r0] * (len(stages) + 1), [r1] * (len(stages) + 1)
    for i in reversed(range(len(stages))):
        top, bottom = rows[i]
        lo[i] = max(0, lo[i + 1] - top)
        hi[i] = min(h, hi[i + 1] + bottom)
    values = prepare(lo[0], hi[0])
    w = values.shape[1]
    for i, kernel in enumerate(stages):
        top, bottom = rows[i]
        left, right = same_padding(w, kernel.shape[1], 1, dw)
        padding = (top - (lo[i + 1] - lo[i]), bottom - (hi[i] - hi[i + 1]), left, right)
        values = _apply_one(values, kernel, s, padding)
    return values


def chain_input(
    px: np.ndarray, a: np.ndarray | None, alpha: str, to_gray: bool, max_value: float
) -> np.ndarray:
    """What a chain filters, from colour pixels `px` and alpha `a` (any rectangle of them).

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
    if alpha not in ALPHA_MODES:
        raise ParameterError(f"unknown alpha mode {alpha!r}; known: {', '.join(ALPHA_MODES)}")
    _check_range_mode(value_range)
    if not kernels:
        raise ParameterError("no kernel given: pass at least one")
    s = settings or FilterSettings()
    pixels = image.pixels
    a = image.alpha
    to_gray = gray and pixels.ndim == 3
    mode = chain_range_mode(kernels, value_range)
    max_value = float(image.max_value)
    dtype: np.dtype  # of the result's pixels
    if value_range == "raw":
        dtype = np.dtype(np.float32)
    else:
        dtype = np.dtype(np.uint16) if pixels.dtype == np.uint16 else np.dtype(np.uint8)
    alpha_range = mode if alpha == "filter" else "clip"
    stages = [k for _ in range(s.repeat) for k in kernels]
    fast = filter_natively(image, stages, s, mode, gray)  # one pass for 8-bit photos
    if fast is not None:
        return fast

    def prepare(lo: int, hi: int) -> np.ndarray:
        """Rows lo..hi-1 of what the chain filters."""
        return chain_input(
            pixels[lo:hi], None if a is None else a[lo:hi], alpha, to_gray, max_value
        )

    split = partial(split_alpha, alpha=alpha, max_value=max_value)

    h = pixels.shape[0]
    itemsize = 8 if pixels.dtype == np.float64 else 4
    shape = (h, pixels.shape[1]) + (() if pixels.ndim == 2 or to_gray else pixels.shape[2:])
    rows = _band_rows(shape, itemsize, kernels, s)
    if rows is None:
        out = prepare(0, h)
        for kernel in stages:
            out = _apply_one(out, kernel, s)
        if s.bias:
            out += _bias(s.bias, out.dtype)
        if a is None or alpha == "keep":
            colour = out
            out_alpha = None if a is None else _carry(a, kernels, s)
        else:
            colour, out_alpha = split(out)
        result: np.ndarray = np.empty(colour.shape, dtype)
        _store(colour, result, mode, max_value, owned=True)
        res_alpha = None
        if out_alpha is not None:
            res_alpha = np.empty(out_alpha.shape, dtype)
            owned = out_alpha is not a
            _store(out_alpha, res_alpha, alpha_range, max_value, owned=owned)
    else:
        # normalize and stretch need the whole result's range: keep floats, map at the end
        late = mode in ("normalize", "stretch")
        floats = np.dtype(np.float64 if itemsize == 8 else np.float32)
        result = np.empty(shape, floats if late else dtype)
        late_alpha = late and alpha == "filter"
        res_alpha = None if a is None else np.empty(shape[:2], floats if late_alpha else dtype)
        threads = check_threads(s.threads)
        if threads > 1:
            from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(threads) if threads > 1 else contextlib.nullcontext() as pool:
            for r0 in range(0, h, rows):
                r1 = min(h, r0 + rows)
                out = _run_band(prepare, r0, r1, h, stages, s)
                if s.bias:
                    out += _bias(s.bias, out.dtype)
                if a is None or alpha == "keep":
                    colour, out_alpha = out, None if a is None else a[r0:r1]
                else:
                    colour, out_alpha = split(out)
                if late:
                    copy_into(result[r0:r1], colour)
                else:
                    store = partial(_store, mode=mode, max_value=max_value, owned=True)
                    _by_rows(pool, threads, store, colour, result[r0:r1])
                if out_alpha is not None:
                    assert res_alpha is not None  # out_alpha is None without an alpha
                    if late_alpha:
                        res_alpha[r0:r1] = out_alpha
                    else:
                        owned = alpha != "keep"
                        _store(out_alpha, res_alpha[r0:r1], alpha_range, max_value, owned)
        if late:
            mapped = np.empty(shape, dtype)
            _store(result, mapped, mode, max_value, owned=True)
            result = mapped
        if late_alpha and res_alpha is not None:
            mapped = np.empty(shape[:2], dtype)
            _store(res_alpha, mapped, alpha_range, max_value, owned=True)
            res_alpha = mapped
    return replace(
        image,
        pixels=result,
        alpha=res_alpha,
        max_value=float(np.iinfo(result.dtype).max) if result.dtype.kind == "u" else max_value,
        notes=[],
    )


def store_tile(
    values: np.ndarray,
    dst: np.ndarray,
    mode: str,
    max_value: float,
    known: tuple[float, ...] | None = None,
) -> None:
    """Map one tile of a larger result into `dst`'s pixels, as the whole result would be.

    `mode` is concrete (see :func:`chain_range_mode`); `values` may be
    changed in place. ``stretch`` and ``normalize`` take `known` from a
    first pass over the tiles: ``(top,)`` of :func:`edge_top`, or the
    result's ``(smallest, largest)``.
    """
    _store(values, dst, mode, max_value, owned=True, known=known)
