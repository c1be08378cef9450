"""Filter responses back into pixels: the value ranges of ``--range``.

:func:`map_range` maps raw responses into ``[0, max_value]`` by one of
:data:`RANGE_MODES`; ``auto`` stands for ``stretch`` with a zero-sum chain
(:func:`stretch_edges`: the 99th percentile of the absolute response becomes
white) and ``clip`` otherwise (:func:`chain_range_mode`). :func:`store_pixels`
and :func:`store_tile` write mapped values into uint8/uint16 (or raw float)
pixels, for a whole result or one tile of a larger one whose numbers
(range, percentile) came from first passes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from ..engine.arrays import check_finite
from ..errors import ImageError, ParameterError
from ..kernels.kernel import Kernel
from .pixels import copy_into, to_pixels

__all__ = [
    "EDGE_PERCENTILE",
    "FLAT_RESPONSE",
    "RANGE_MODES",
    "chain_range_mode",
    "check_range_mode",
    "edge_percentile",
    "edge_top",
    "map_range",
    "percentile_of_ranks",
    "percentile_ranks",
    "scale_edges",
    "select_ranks",
    "store_pixels",
    "store_tile",
    "stretch_edges",
]

#: How filter responses become pixels; see :func:`map_range`.
RANGE_MODES = ("auto", "clip", "abs", "normalize", "offset", "raw")


def check_range_mode(mode: str) -> None:
    """Refuse a `mode` that is not one of :data:`RANGE_MODES`."""
    if mode not in RANGE_MODES:
        raise ParameterError(f"unknown range mode {mode!r}; known: {', '.join(RANGE_MODES)}")


#: The percentile of the absolute response that ``auto`` makes white for a zero-sum kernel.
EDGE_PERCENTILE = 99.0
#: Responses up to this fraction of white count as zero in :func:`stretch_edges`: float
#: rounding leaves about 1e-7 of white where a kernel like ``log`` meets a flat image.
FLAT_RESPONSE = 1e-4


def chain_range_mode(kernels: Sequence[Kernel], value_range: str) -> str:
    """Return the concrete mode `value_range` stands for with this chain.

    A chain sums to the product of its sums: zero if any kernel is zero-sum
    (and adds no offset, which would make ``abs`` fold values below the offset).
    """
    zero_sum = any(k.is_zero_sum and not k.offset for k in kernels)
    return _auto_mode(value_range, zero_sum)


def _auto_mode(mode: str, zero_sum: bool) -> str:
    """Return the concrete mode ``auto`` stands for; other modes as they are.

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
    """Return the two ranks numpy's ``linear`` percentile interpolates between.

    The 0-based ranks among ``n`` sorted values that percentile ``q`` lies
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
    """Interpolate between sorted neighbours ``a`` <= ``b`` as numpy's ``linear`` does.

    The result has their float type (float32 stays float32).

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
    """Return the :data:`EDGE_PERCENTILE` of ``values`` as ``np.percentile`` (linear) would.

    Found with one ``np.partition`` (``np.percentile`` would import ``numpy.ma``,
    20 ms of a small run's start-up, through ``np.unique``).

    >>> edge_percentile(np.array([0.0, 10.0, 20.0]))
    19.8
    """
    flat = values.ravel(order="K")  # a view in memory order where there is one (the rank
    # of a value does not depend on the order)
    if flat.dtype == np.float32:
        prev, nxt, gamma = percentile_ranks(flat.size)
    else:  # numpy's float64 path: the virtual index (n - 1) q
        virtual = (flat.size - 1) * (EDGE_PERCENTILE / 100)
        prev = max(0, math.floor(virtual))
        nxt, gamma = min(prev + 1, flat.size - 1), virtual - prev
    a, b = select_ranks(flat, prev, nxt)
    return float(percentile_of_ranks(a, b, gamma))


#: :func:`select_ranks` partitions only the largest values from this many values up.
_SELECT_FROM = 1 << 16
#: ... taking every this-many-th value as the sample that finds them
_SAMPLE_STEP = 16


def select_ranks(flat: np.ndarray, prev: int, nxt: int) -> tuple[np.floating, np.floating]:
    """Return the values of 0-based ranks `prev` <= `nxt` among `flat` sorted ascending.

    What ``np.partition(flat, (prev, nxt))`` puts at those places (NaN
    sorts last), found without partitioning the whole array when the ranks
    lie near its top (the 99th percentile of a large image): a strided
    sample gives a threshold ``t`` a little below them, and only the values
    not below ``t`` are partitioned. The values below ``t`` take the first
    ranks; when fewer than ``prev + 1`` values are, the sample misled and
    the whole array is partitioned as before, so the result never depends
    on the sample.

    Examples
    --------
    >>> [float(v) for v in select_ranks(np.array([5.0, 1.0, 3.0]), 1, 2)]
    [3.0, 5.0]
    """
    n = flat.size
    if n >= _SELECT_FROM and n - prev <= n // 8:
        sample = flat[::_SAMPLE_STEP]
        # the sample's rank of prev, lowered by four standard deviations of a sampled rank
        rank = int(sample.size * prev / n - 4 * math.sqrt(sample.size) - 1)
        if rank > 0:
            threshold = np.partition(sample, rank)[rank]
            top = flat[~(flat < threshold)]  # NaN stays with the top, as it sorts last
            below = n - top.size
            if below <= prev:
                i, j = prev - below, nxt - below
                part = np.partition(top, (i, j) if j != i else i)
                return part[i], part[j]
    part = np.partition(flat, (prev, nxt) if nxt != prev else prev)
    return part[prev], part[nxt]


def edge_top(percentile: float, largest: Callable[[], float], max_value: float) -> float:
    """Return the response :func:`stretch_edges` makes white.

    That is the 99th percentile of the absolute responses, their largest
    value (``largest()``) when that is 0, or 0 for a flat response.

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
    """Scale absolute responses in place so that `top` (from :func:`edge_top`) is white.

    The rest is clipped; all 0 when `top` is 0. One rule for whole images and tiles.
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
    check_range_mode(mode)
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


def store_pixels(
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
    store_pixels(values, dst, mode, max_value, owned=True, known=known)
