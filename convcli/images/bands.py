"""Whole images filtered in bands of rows, each mapped to pixels as soon as it is done.

With ``same`` padding and stride 1 (:func:`convcli.images.chain.bandable`)
a chain runs band by band: each band reads the rows its kernels reach above
and below (bands overlap by the chain's reach) and is padded only at the
image's top and bottom edge, exactly as the whole image would be, so the
result is the whole image's. No floating-point copy of the whole image is
made unless the range needs the whole result (``normalize``, a stretching
``auto``) or the result is floating point (``raw``).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from ..arithmetic.sizes import pair, same_padding
from ..engine.threads import check_threads
from ..engine.tiling import band_height, bands, chain_band
from ..errors import ParameterError, ShapeError
from ..kernels.kernel import Kernel
from .chain import FilterSettings, ImageChain, apply_one, bandable, bias_value
from .pixels import copy_into
from .ranges import store_pixels

if TYPE_CHECKING:  # concurrent.futures (and logging) only for bands on threads
    from concurrent.futures import ThreadPoolExecutor

__all__ = ["filter_in_bands", "rows_per_band", "run_band"]

# a band of rows filtered at once takes about 1/_BAND_SHARE of the memory budget per array
_BAND_SHARE = 16


def rows_per_band(
    shape: tuple[int, ...], itemsize: int, kernels: Sequence[Kernel], s: FilterSettings
) -> int | None:
    """Return rows per band for a chain run band by band, or None to run it whole.

    Bands need the geometry of :func:`convcli.images.chain.same_grid` and a
    pad mode that looks only at the nearest rows (not ``circular``). A
    band's floating-point arrays take about 1/16 of the memory budget, and a
    band is never thinner than the rows the chain reaches above and below a
    pixel.
    """
    if not bandable(s):
        return None
    try:
        dilation = pair(s.dilation, "dilation")[0]
    except (ShapeError, ParameterError):
        return None
    reach = s.repeat * sum(dilation * (k.shape[0] - 1) for k in kernels)
    row_bytes = itemsize * int(np.prod(shape[1:]))
    return band_height(shape[0], reach, row_bytes, s.memory_budget, _BAND_SHARE)


def run_band(
    prepare: Callable[[int, int], np.ndarray],
    r0: int,
    r1: int,
    h: int,
    stages: Sequence[Kernel],
    s: FilterSettings,
) -> np.ndarray:
    """Return output rows r0..r1-1 of a chain with ``same`` padding and stride 1.

    The band is planned by :func:`convcli.engine.tiling.chain_band`: each
    kernel reads the rows its window reaches above and below the rows it
    must produce from the image (the band overlaps its neighbours), and pads
    only at the image's top and bottom edge, with the pad mode, exactly as
    the whole image would be.
    """
    dh, dw = pair(s.dilation, "dilation")
    # each kernel's "same" split of the rows, by the one rule (the extra cell after)
    plan = chain_band(h, [same_padding(h, k.shape[0], 1, dh) for k in stages], r0, r1)
    values = prepare(*plan[0][0])
    w = values.shape[1]
    for kernel, (_, (top, bottom)) in zip(stages, plan, strict=True):
        left, right = same_padding(w, kernel.shape[1], 1, dw)
        values = apply_one(values, kernel, s, (top, bottom, left, right))
    return values


def _by_rows(
    pool: ThreadPoolExecutor | None, parts: int, func: Callable, *arrays: np.ndarray
) -> None:
    """Run ``func(*arrays)`` in `parts` slices of rows in `pool` (numpy releases the GIL)."""
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


def _keep_floats(
    result: np.ndarray, colour: np.ndarray, r0: int, shape: tuple[int, ...], floats: np.dtype
) -> np.ndarray:
    """Keep a band's floats for a range that needs the whole result; return that result.

    A band that is the whole image is kept as it is (a band's colour is the
    caller's to change), with no copy; otherwise `result` (made on the
    first band) gets the band's rows.
    """
    if colour.shape == shape and colour.dtype == floats:
        return colour
    if result.shape != shape:
        result = np.empty(shape, floats)
    copy_into(result[r0 : r0 + colour.shape[0]], colour)
    return result


def filter_in_bands(
    chain: ImageChain,
    rows: int,
    shape: tuple[int, ...],
    floats: np.dtype,
    mode: str,
    dtype: np.dtype,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Filter `chain` in bands of `rows` rows into pixels of `dtype`: (colour, alpha).

    `shape` is the result's colour shape, `floats` the dtype the chain
    computes in, `mode` the concrete range (``normalize`` and ``stretch``
    keep the floats of the whole result and map them at the end).
    """
    s = chain.settings
    h = shape[0]
    late = mode in ("normalize", "stretch")
    alpha_range = mode if chain.alpha == "filter" else "clip"
    # late: the floats of the whole result (see _keep_floats)
    result = np.empty(shape, dtype) if not late else np.empty((0,) * len(shape), floats)
    late_alpha = late and chain.alpha == "filter"
    a = chain.alpha_values
    res_alpha = None if a is None else np.empty(shape[:2], floats if late_alpha else dtype)
    stages = chain.stages
    threads = check_threads(s.threads)
    if threads > 1:
        from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(threads) if threads > 1 else contextlib.nullcontext() as pool:
        for r0, r1 in bands(h, rows):
            out = run_band(chain.prepare, r0, r1, h, stages, s)
            if s.bias:
                out += bias_value(s.bias, out.dtype)
            if chain.keeps_alpha:
                colour, out_alpha = out, None if a is None else a[r0:r1]
            else:
                colour, out_alpha = chain.split(out)
            if late:
                result = _keep_floats(result, colour, r0, shape, floats)
            else:
                store = partial(store_pixels, mode=mode, max_value=chain.max_value, owned=True)
                _by_rows(pool, threads, store, colour, result[r0:r1])
            if out_alpha is not None:
                assert res_alpha is not None  # out_alpha is None without an alpha
                if late_alpha:
                    res_alpha[r0:r1] = out_alpha
                else:
                    owned = chain.alpha != "keep"
                    store_pixels(out_alpha, res_alpha[r0:r1], alpha_range, chain.max_value, owned)
    if late:
        if result.shape != shape:  # no rows: no band ran
            result = np.empty(shape, floats)
        mapped = np.empty(shape, dtype)
        store_pixels(result, mapped, mode, chain.max_value, owned=True)
        result = mapped
    if late_alpha and res_alpha is not None:
        mapped = np.empty(shape[:2], dtype)
        store_pixels(res_alpha, mapped, alpha_range, chain.max_value, owned=True)
        res_alpha = mapped
    return result, res_alpha
