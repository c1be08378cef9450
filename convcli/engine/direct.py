"""The ``direct`` strategy: shift and accumulate, one axpy or gemm per tap."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .tilekit import TileKernel, accumulate, axpy_for, crop
from .tiling import Problem

__all__ = ["make_direct"]


def make_direct(
    problem: Problem, weight: np.ndarray, dtype: np.dtype, *, blas: bool = True
) -> TileKernel:
    """Make the ``direct`` tile kernel for ``weight`` (C_out, Cg, kh, kw).

    One channel pair: one axpy per nonzero tap (scipy's BLAS with ``blas``,
    else :func:`numpy_axpy`). Several: one BLAS gemm per tap, ``(C_out/groups
    x Cg) @ (Cg x tile)``, accumulated in place.
    """
    if problem.cg * problem.og > 1:
        return _make_direct_gemm(problem, weight, dtype)
    dh, dw = problem.dilation
    kw = weight.shape[3]
    w = weight.reshape(problem.c_out, problem.cg, -1)
    axpy = axpy_for(dtype, blas)

    def taps(o: int, c: int) -> Iterator[tuple[int, int, float]]:
        """(row, column, weight) of the nonzero taps of kernel slice (o, c)."""
        for t in np.flatnonzero(w[o, c]).tolist():
            i, j = divmod(t, kw)
            yield i, j, float(w[o, c, t])

    def run(block: np.ndarray, dest: np.ndarray) -> None:
        n, _, r, width = block.shape
        th, tw = dest.shape[-2:]
        flat = np.ascontiguousarray(block).reshape(n, block.shape[1], r * width)
        rows = (th - 1) * problem.stride[0] + 1
        length = (rows - 1) * width + (tw - 1) * problem.stride[1] + 1
        acc = np.empty((n, rows * width), dtype=dtype)
        for o in range(problem.c_out):
            g = o // problem.og
            first = True
            for c in range(problem.cg):
                src = flat[:, g * problem.cg + c]
                for i, j, wt in taps(o, c):
                    accumulate(axpy, acc[:, :length], src, i * dh * width + j * dw, wt, first)
                    first = False
            if first:
                acc[:, :length] = 0
            dest[:, o] = crop(acc, problem, width, th, tw)

    def interior(src: np.ndarray, base: int, dest: np.ndarray, left: int, right: int) -> None:
        """Rows of outputs straight from the flat input plane ``src`` into ``dest``.

        ``dest`` (th, W) is contiguous; output cell ``p`` (flat) reads
        ``src[base + p + i*dh*W + j*dw]``. Only the cells ``[left, th*W - right)``
        are written: the first and last columns would wrap around a row, and
        the caller computes them through the padded path.
        """
        th, width = dest.shape
        acc = dest.view()
        acc.shape = (1, th * width)  # raises rather than copy, so no result can be lost
        acc = acc[:, left : th * width - right]
        first = True
        for i, j, wt in taps(0, 0):
            accumulate(axpy, acc, src[None], base + left + i * dh * width + j * dw, wt, first)
            first = False
        if first:
            acc[:] = 0

    return TileKernel(run, interior)


def _make_direct_gemm(problem: Problem, weight: np.ndarray, dtype: np.dtype) -> TileKernel:
    """``direct`` for many channels: per tap, ``acc += W[:, :, i, j] @ shifted block``.

    The block of each image is laid out flat, channel after channel, with
    room after the last one; for tap (i, j) the shifted channels are then
    one contiguous ``(Cg, R*C)`` stretch starting ``i*dh*C + j*dw`` further
    on (the positions that run into the next channel only feed outputs
    outside the tile, which are dropped). BLAS gemm accumulates in place
    (``beta = 1``), so no patch matrix is built.
    """
    from scipy.linalg import blas

    gemm = blas.get_blas_funcs("gemm", dtype=dtype)
    kh, kw = problem.kernel_size
    dh, dw = problem.dilation
    sh, sw = problem.stride
    cg, og, groups = problem.cg, problem.og, problem.groups
    # per group, the taps used by any of its kernels, with their (og x cg) weights
    taps = []
    for g in range(groups):
        wg = weight[g * og : (g + 1) * og].astype(dtype)
        used = np.flatnonzero(np.any(wg != 0, axis=(0, 1)).reshape(-1)).tolist()
        taps.append(
            [(t // kw, t % kw, np.ascontiguousarray(wg[:, :, t // kw, t % kw])) for t in used]
        )

    def run(block: np.ndarray, dest: np.ndarray) -> None:
        n, c_in, r, width = block.shape
        th, tw = dest.shape[-2:]
        plane = r * width
        reach = (kh - 1) * dh * width + (kw - 1) * dw
        flat = np.empty(c_in * plane + reach, dtype=dtype)
        flat[c_in * plane :] = 0
        acc = np.empty((og, plane), dtype=dtype)
        rows = (th - 1) * sh + 1
        for k in range(n):
            flat[: c_in * plane].reshape(c_in, r, width)[...] = block[k]
            for g in range(groups):
                first = True
                for i, j, wmat in taps[g]:
                    off = g * cg * plane + i * dh * width + j * dw
                    shifted = flat[off : off + cg * plane].reshape(cg, plane)
                    # Fortran view: acc.T (plane x og) = shifted.T @ wmat.T, in place
                    gemm(1.0, shifted.T, wmat.T, beta=0.0 if first else 1.0, c=acc.T, overwrite_c=1)
                    first = False
                if first:
                    acc[:] = 0
                grid = acc.reshape(og, r, width)
                dest[k, g * og : (g + 1) * og] = grid[:, :rows:sh, : (tw - 1) * sw + 1 : sw]

    return TileKernel(run)
