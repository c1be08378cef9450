"""What every numpy tile kernel shares: :class:`TileKernel`, axpy and cropping."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .tiling import Problem

__all__ = ["AXPY_CHUNK", "Axpy", "TileKernel", "accumulate", "axpy_for", "crop", "numpy_axpy"]

#: ``axpy(x, y, n=, a=, offx=)``: scipy's BLAS axpy or :func:`numpy_axpy`.
Axpy = Callable[..., Any]


@dataclass
class TileKernel:
    """A strategy made ready for one call's weights: ``kernel(block, dest)``.

    ``run(block, dest)`` takes the gathered block (n, C_in, R, C) in the
    compute dtype and writes the tile's outputs into ``dest``, a view of
    shape (n, C_out, th, tw). ``interior(src, base, dest, left, right)``,
    where a strategy has it, computes a band of rows straight from the flat
    input plane ``src`` (see :meth:`convcli.engine.tiling.Tiling.interior_rows`).
    """

    run: Callable[[np.ndarray, np.ndarray], None]
    interior: Callable[[np.ndarray, int, np.ndarray, int, int], None] | None = None
    #: whether its tiles should be tall (running sums: see ``tile_shape``)
    tall: bool = False

    def __call__(self, block: np.ndarray, dest: np.ndarray) -> None:
        """Compute the tile of ``block`` into ``dest``."""
        self.run(block, dest)


#: Elements per step of :func:`numpy_axpy`: its scratch product stays in cache.
AXPY_CHUNK = 1 << 15


def numpy_axpy(x: np.ndarray, y: np.ndarray, n: int, a: float, offx: int = 0) -> np.ndarray:
    """``y[:n] += a * x[offx : offx + n]`` in place, in numpy alone: BLAS ``axpy`` without scipy.

    The product is formed :data:`AXPY_CHUNK` elements at a time in a scratch
    buffer that stays in cache, so the update streams ``x`` and ``y`` once, as
    BLAS does; it rounds twice (product, then sum) where BLAS may fuse them.

    Examples
    --------
    >>> y = np.ones(3)
    >>> numpy_axpy(np.arange(5.0), y, n=3, a=2.0, offx=1).tolist()
    [3.0, 5.0, 7.0]
    """
    step = max(1, min(n, AXPY_CHUNK))
    scratch = np.empty(step, dtype=y.dtype)
    for start in range(0, n, step):
        stop = min(start + step, n)
        part = scratch[: stop - start]
        np.multiply(x[offx + start : offx + stop], a, out=part)
        np.add(y[start:stop], part, out=y[start:stop])
    return y


def axpy_for(dtype: np.dtype, blas: bool = True) -> Axpy:
    """``axpy(x, y, n=, a=, offx=)``: ``y += a * x[offx : offx + n]`` in place on 1-D ``y``.

    With ``blas``, scipy's BLAS ``axpy``: one fused pass per tap, 2-4x faster
    than numpy's multiply-then-add on this machine, but importing
    ``scipy.linalg`` costs about 0.2 s, which only a large image repays (see
    :func:`convcli.engine.costs.blas_repays`); scipy's wrapper holds the GIL,
    so tiles using it run on one thread (see :data:`SERIAL`). Without,
    :func:`numpy_axpy`.
    """
    if not blas:
        return numpy_axpy
    from scipy.linalg import blas as scipy_blas

    return scipy_blas.get_blas_funcs("axpy", dtype=dtype)


def accumulate(
    axpy: Axpy, acc: np.ndarray, src: np.ndarray, off: int, w: float, first: bool
) -> None:
    """``acc = w * src[off:]`` (first) or ``acc += w * src[off:]``, row by row.

    ``acc`` is (n, length) and ``src`` (n, at least off + length), both with
    contiguous rows; the update is one fused BLAS axpy pass per row.
    """
    length = acc.shape[-1]
    if first:
        np.multiply(src[:, off : off + length], w, out=acc)
        return
    for k in range(acc.shape[0]):
        axpy(src[k], acc[k], n=length, a=w, offx=off)


def crop(flat: np.ndarray, problem: Problem, width: int, th: int, tw: int) -> np.ndarray:
    """Rows of ``width`` cells laid out flat -> the strided (th, tw) outputs."""
    sh, sw = problem.stride
    rows = (th - 1) * sh + 1
    grid = flat[..., : rows * width].reshape(*flat.shape[:-1], rows, width)
    return grid[..., ::sh, : (tw - 1) * sw + 1 : sw]
