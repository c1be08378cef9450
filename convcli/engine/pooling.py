"""Max, min and average pooling on strided slices.

Pad, then reduce the window's taps one strided slice at a time: for a
``kh x kw`` window that is ``kh*kw`` elementwise ``np.maximum`` (or
``minimum``, or ``add``) calls on output-sized slices, with no window view
materialised; or, for float planes when the native core runs
(:mod:`convcli.engine.native`), its pooling kernel over the same windows,
padded through index maps. Sizes come from :func:`convcli.pool_output_size`, through one
:class:`convcli.arithmetic.geometry.Geometry` resolved with ``pooling=True``;
bands of output rows run on threads (:mod:`convcli.engine.threads`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..arithmetic.geometry import Geometry
from ..arithmetic.sizes import PaddingSpec, pair
from ..errors import ParameterError, ShapeError
from . import native
from .arrays import as_numeric, check_finite, compute_dtype
from .threads import check_threads, run_parallel

__all__ = ["POOL_MODES", "pool2d", "pool_divisors", "pool_windows"]

POOL_MODES = ("max", "avg", "min")

# output elements per band of rows
_BAND_ELEMENTS = 1 << 18


def _threads(threads: int | None, rows: int, step: int) -> int:
    """Threads worth starting for ``rows`` output rows in bands of ``step``."""
    return min(check_threads(threads), -(-rows // step))


def _fill_value(dtype: np.dtype, mode: str) -> float:
    """Return the value padded cells take so that they never win a max or min."""
    if mode == "avg":
        return 0
    if dtype.kind == "f":
        return -np.inf if mode == "max" else np.inf
    info = np.iinfo(dtype) if dtype.kind in "iu" else None
    if info is None:  # bool
        return mode != "max"
    return info.min if mode == "max" else info.max


def _axis_counts(
    n: int, k: int, s: int, before: int, after: int, out: int, real_only: bool
) -> np.ndarray:
    """How many cells each window along one axis averages over (PyTorch's divisor)."""
    start = np.arange(out) * s - before
    end = start + k
    if real_only:
        return np.minimum(end, n) - np.maximum(start, 0)
    # count_include_pad: padding counts, the ceil-mode overhang past it does not
    return np.minimum(end, n + after) - start


def pool2d(
    x: np.ndarray,
    size: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    padding: PaddingSpec = 0,
    mode: str = "max",
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    *,
    threads: int | None = None,
) -> np.ndarray:
    """Pool the last two spatial axes of an image or a batch.

    Parameters
    ----------
    x : ndarray, shape (H, W), (C, H, W) or (N, C, H, W)
        Channels first, as in PyTorch (and every ``.npy`` convcli reads);
        each plane is pooled on its own. An image's (H, W, C) pixels go
        through :func:`convcli.pool_image`, or ``np.moveaxis(x, -1, 0)``.
    size : int or (int, int)
        Window (kh, kw).
    stride : int or (int, int), optional
        Step between windows; defaults to the window size.
    padding : int, pair, 4-tuple or ((top, bottom), (left, right)), optional
        Cells added around the input. Unlike PyTorch, padding may exceed half
        the window, as long as every window still holds a real cell.
    mode : {"max", "avg", "min"}, optional
        The reduction. Padded cells never win a max or a min.
    ceil_mode : bool, optional
        Round the number of windows up, as PyTorch does: a last window that
        would start inside the right padding is dropped.
    count_include_pad : bool, optional
        For ``avg``: divide by the window size including padded cells (but not
        the ceil-mode overhang past the padding), as PyTorch does; with False,
        divide by the number of real cells.
    threads : int, optional
        Bands of output rows reduced at once; default ``CONVCLI_THREADS`` or
        the number of usable cores (numpy releases the GIL while reducing).

    Returns
    -------
    ndarray
        Same layout as ``x``. ``max`` and ``min`` keep the input dtype;
        ``avg`` returns the compute dtype (float32, or float64 for float64
        input).

    Examples
    --------
    >>> x = np.arange(9).reshape(3, 3)
    >>> pool2d(x, 2, stride=1)
    array([[4, 5],
           [7, 8]])
    >>> pool2d(x, 2, stride=1, mode="avg")
    array([[2., 3.],
           [5., 6.]])
    """
    x = as_numeric(x, "x")
    check_finite(x, "x")  # as conv2d: NaN would win every max and spread through every mean
    if mode not in POOL_MODES:
        raise ParameterError(
            f"unknown pooling `mode` {mode!r}; known modes: {', '.join(POOL_MODES)}"
        )
    if x.ndim == 2:
        planes = x
    elif x.ndim in (3, 4):
        planes = x
    else:
        raise ShapeError(
            f"`x` must have shape (H, W), (C, H, W) or (N, C, H, W), got shape {x.shape}"
        )
    h, w = planes.shape[-2:]
    if h == 0 or w == 0:
        raise ShapeError(f"`x` is empty: shape {x.shape}")
    kh, kw = pair(size, "size")
    sh, sw = (kh, kw) if stride is None else pair(stride, "stride")
    if isinstance(padding, str) and padding.lower() != "valid":
        raise ShapeError(f"pooling takes numeric padding or 'valid', got {padding!r}")
    geometry = Geometry.resolve(
        (h, w), (kh, kw), stride=(sh, sw), padding=padding, pooling=True, ceil_mode=ceil_mode
    )
    (pt, _), (pl, _) = geometry.padding
    oh, ow = geometry.output_shape

    divisors = None
    if mode == "avg":
        divisors = pool_divisors(geometry, (h, w), (kh, kw), (sh, sw), not count_include_pad)
    return pool_windows(planes, (kh, kw), (sh, sw), (pt, pl), (oh, ow), mode, divisors, threads)


def pool_divisors(
    geometry: Geometry,
    shape: tuple[int, int],
    size: tuple[int, int],
    stride: tuple[int, int],
    real_only: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Count the cells each output row and column of an average divides by.

    For a ``shape`` input pooled with ``geometry`` (``real_only``: padding does
    not count).
    """
    (pt, pb), (pl, pr) = geometry.padding
    oh, ow = geometry.output_shape
    return (
        _axis_counts(shape[0], size[0], stride[0], pt, pb, oh, real_only),
        _axis_counts(shape[1], size[1], stride[1], pl, pr, ow, real_only),
    )


def pool_windows(
    planes: np.ndarray,
    size: tuple[int, int],
    stride: tuple[int, int],
    before: tuple[int, int],
    out_shape: tuple[int, int],
    mode: str,
    divisors: tuple[np.ndarray, np.ndarray] | None = None,
    threads: int | None = None,
) -> np.ndarray:
    """Pool ``out_shape`` windows whose first starts ``before`` cells above-left of ``planes``.

    The core of :func:`pool2d`, for a window of a larger image.

    Cells outside ``planes`` are padding (they never win a max or min and
    add 0 to a sum). For ``avg``, ``divisors`` are the cells each window
    row and column averages over (the whole image's, so a block of a
    larger image divides exactly as the whole does).

    Examples
    --------
    >>> x = np.arange(9, dtype=np.uint8).reshape(3, 3)
    >>> pool_windows(x, (2, 2), (2, 2), (1, 1), (1, 2), "max").tolist()
    [[0, 2]]
    """
    (kh, kw), (sh, sw) = size, stride
    oh, ow = out_shape
    work = compute_dtype(planes.dtype) if mode == "avg" else planes.dtype
    # padded extent actually read by the windows (ceil mode may overhang the padding)
    need_h = (oh - 1) * sh + kh
    need_w = (ow - 1) * sw + kw
    fill = _fill_value(np.dtype(work), mode)
    if (
        planes.dtype == work
        and native.takes_dtype(work)
        and max(*size, *stride, need_h, need_w) <= native.INDEX_MAX
        and native.module() is not None
    ):
        acc = _pool_native(planes, size, stride, before, (need_h, need_w), mode, fill, threads)
    else:
        acc = _pool_numpy(
            planes, size, stride, before, (need_h, need_w), (oh, ow), work, mode, fill, threads
        )
    if divisors is not None:
        acc /= np.outer(*divisors).astype(work)
    return acc


def _pool_native(
    planes: np.ndarray,
    size: tuple[int, int],
    stride: tuple[int, int],
    before: tuple[int, int],
    need: tuple[int, int],
    mode: str,
    fill: float,
    threads: int | None,
) -> np.ndarray:
    """Take the windows' max, min or sum by the native core, bands of rows on threads.

    Padded cells (and a ceil-mode overhang) are -1 in the index maps: the
    core reads ``fill`` there.
    """
    mod = native.module()
    h, w = planes.shape[-2:]
    (kh, kw), (sh, sw), (pt, pl), (need_h, need_w) = size, stride, before, need
    oh, ow = (need_h - kh) // sh + 1, (need_w - kw) // sw + 1

    def index(n: int, start: int, length: int) -> np.ndarray:
        i = np.arange(length, dtype=np.int64) - start
        i[(i < 0) | (i >= n)] = -1
        return i

    rows, cols = index(h, pt, need_h), index(w, pl, need_w)
    src = planes.reshape(-1, h, w)
    acc = np.empty((*planes.shape[:-2], oh, ow), dtype=planes.dtype)
    dest = acc.reshape(-1, oh, ow)
    op = "sum" if mode == "avg" else mode
    step = max(1, _BAND_ELEMENTS // max(1, ow))

    def band(task: tuple[int, int, int]) -> None:
        k, r0, r1 = task
        mod.pool(src[k], rows, cols, dest[k], (kh, kw), (sh, sw), op, float(fill), r0, r1)

    tasks = [(k, r, min(r + step, oh)) for k in range(src.shape[0]) for r in range(0, oh, step)]
    run_parallel(band, iter(tasks), min(check_threads(threads), len(tasks)))
    return acc


def _pool_numpy(
    planes: np.ndarray,
    size: tuple[int, int],
    stride: tuple[int, int],
    before: tuple[int, int],
    need: tuple[int, int],
    out: tuple[int, int],
    work: np.dtype,
    mode: str,
    fill: float,
    threads: int | None,
) -> np.ndarray:
    """Take the windows' max, min or sum by numpy: pad, then one strided slice per tap."""
    h, w = planes.shape[-2:]
    (kh, kw), (sh, sw), (pt, pl), (need_h, need_w), (oh, ow) = size, stride, before, need, out
    if pt == pl == 0 and need_h <= h and need_w <= w:
        # every window lies inside the input: reduce views of it, no padded copy
        padded = planes if planes.dtype == work else planes.astype(work)
    else:
        padded = np.full((*planes.shape[:-2], need_h, need_w), fill, dtype=work)
        # crop the input where the windows never reach it (floor mode at the far edge)
        padded[..., pt : pt + h, pl : pl + w][..., : need_h - pt, : need_w - pl] = planes[
            ..., : need_h - pt, : need_w - pl
        ]

    reduce = {"max": np.maximum, "min": np.minimum, "avg": np.add}[mode]
    acc = np.empty((*padded.shape[:-2], oh, ow), dtype=work)

    def band(rows: tuple[int, int]) -> None:
        r0, r1 = rows
        first = True
        for i in range(kh):
            top = i + r0 * sh
            for j in range(kw):
                tap = padded[
                    ..., top : top + (r1 - r0 - 1) * sh + 1 : sh, j : j + (ow - 1) * sw + 1 : sw
                ]
                if first:
                    acc[..., r0:r1, :] = tap
                    first = False
                else:
                    reduce(acc[..., r0:r1, :], tap, out=acc[..., r0:r1, :])

    # bands of rows small enough to stay in cache while the taps are reduced
    lead = int(np.prod(padded.shape[:-2], dtype=np.int64))
    step = max(1, _BAND_ELEMENTS // max(1, lead * ow))
    run_parallel(
        band,
        iter([(r, min(r + step, oh)) for r in range(0, oh, step)]),
        _threads(threads, oh, step),
    )
    return acc
