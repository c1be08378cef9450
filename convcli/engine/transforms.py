"""The ``fft`` and ``im2col`` strategies: a transform of the whole block, then a product."""

from __future__ import annotations

import threading

import numpy as np

from .tilekit import TileKernel
from .tiling import Problem, fft_cache_bytes

__all__ = ["make_fft", "make_im2col"]


def make_fft(problem: Problem, weight: np.ndarray, dtype: np.dtype, budget: int) -> TileKernel:
    """Make the ``fft`` tile kernel: overlap-save with scipy.fft."""
    import scipy.fft as sfft

    dh, dw = problem.dilation
    span_h, span_w = problem.span
    c_out, cg = weight.shape[:2]
    # the dilated kernel, taps spread out with zeros in between
    dilated = np.zeros((c_out, cg, span_h, span_w), dtype=dtype)
    dilated[..., ::dh, ::dw] = weight
    cdtype = np.result_type(dtype, np.complex64)
    spectra: dict[tuple[int, int], np.ndarray] = {}
    lock = threading.Lock()
    room = [fft_cache_bytes(budget)]  # what the cached spectra may still take, in total

    def kernel_spectrum(shape: tuple[int, int], o: int | None) -> np.ndarray | None:
        """conj(FFT) of the kernels at transform size ``shape`` (all, or output channel o).

        Spectra are kept (one per transform size) while their total fits
        ``fft_cache_bytes(budget)``; otherwise None is returned for all
        channels and each channel's spectrum is computed when needed.
        """
        with lock:  # one thread computes a spectrum; the others wait for it
            if shape not in spectra:
                nbytes = c_out * cg * shape[0] * (shape[1] // 2 + 1) * cdtype.itemsize
                if nbytes <= room[0]:
                    spectra[shape] = np.conj(sfft.rfft2(dilated, s=shape, axes=(-2, -1)))
                    room[0] -= nbytes
            full = spectra.get(shape)
        if full is not None:
            return full if o is None else full[o]
        if o is None:
            return None
        return np.conj(sfft.rfft2(dilated[o], s=shape, axes=(-2, -1)))

    def run(block: np.ndarray, dest: np.ndarray) -> None:
        r, width = block.shape[-2:]
        th, tw = dest.shape[-2:]
        shape = (sfft.next_fast_len(r, real=True), sfft.next_fast_len(width, real=True))
        spec = sfft.rfft2(block, s=shape, axes=(-2, -1))  # (n, C_in, s0, s1//2+1)
        sh, sw = problem.stride
        rows = (th - 1) * sh + 1
        cols = (tw - 1) * sw + 1
        full = kernel_spectrum(shape, None)
        for o in range(c_out):
            g = o // problem.og
            k = full[o] if full is not None else kernel_spectrum(shape, o)
            assert k is not None  # one channel's spectrum is always computed
            if cg == 1 and c_out == 1:  # the common image filter: multiply in place
                y = np.multiply(spec[:, 0], k[0], out=spec[:, 0])
            else:
                y = (spec[:, g * cg : (g + 1) * cg] * k).sum(axis=1)  # (n, s0, s1')
            res = sfft.irfft2(y, s=shape, axes=(-2, -1), overwrite_x=True)
            dest[:, o] = res[:, :rows:sh, :cols:sw]

    return TileKernel(run)


def make_im2col(problem: Problem, weight: np.ndarray, dtype: np.dtype) -> TileKernel:
    """Make the ``im2col`` tile kernel: a patch matrix per group, one matrix product each."""
    kh, kw = problem.kernel_size
    sh, sw = problem.stride
    dh, dw = problem.dilation
    cg, og, groups = problem.cg, problem.og, problem.groups
    taps = cg * kh * kw
    wmat = np.ascontiguousarray(weight.reshape(groups, og, taps), dtype=dtype)

    def run_flat(block: np.ndarray, dest: np.ndarray) -> None:
        """Stride 1: each patch-matrix row is one contiguous stretch of the flat block.

        Laid out flat (row after row), the block shifted by tap (i, j) is the
        block read ``i*dh*C + j*dw`` cells further on, so each row of the
        patch matrix is one plain copy; the product then holds every output
        position of the block's rows, and the tile is cut out of it.
        """
        n, c_in, r, width = block.shape
        th, tw = dest.shape[-2:]
        length = (th - 1) * width + tw
        flat = np.ascontiguousarray(block).reshape(n, c_in, r * width)
        patches = np.empty((cg, kh * kw, length), dtype=dtype)
        res = np.empty((og, th * width), dtype=dtype)
        for k in range(n):
            for g in range(groups):
                src = flat[k, g * cg : (g + 1) * cg]
                for i in range(kh):
                    for j in range(kw):
                        off = i * dh * width + j * dw
                        patches[:, i * kw + j] = src[:, off : off + length]
                np.matmul(wmat[g], patches.reshape(taps, length), out=res[:, :length])
                grid = res.reshape(og, th, width)
                dest[k, g * og : (g + 1) * og] = grid[:, :, :tw]

    def run(block: np.ndarray, dest: np.ndarray) -> None:
        n = block.shape[0]
        th, tw = dest.shape[-2:]
        # the tile's patch matrix in unfold layout: row c*kh*kw + i*kw + j, one
        # column per (image, output pixel); filled one kernel tap at a time, so
        # each copy moves whole strided rows instead of kh x kw windows
        patches = np.empty((cg, kh, kw, n, th, tw), dtype=dtype)
        for g in range(groups):
            part = block[:, g * cg : (g + 1) * cg].transpose(1, 0, 2, 3)  # (cg, n, rows, cols)
            for i in range(kh):
                for j in range(kw):
                    r0, c0 = i * dh, j * dw
                    patches[:, i, j] = part[
                        ..., r0 : r0 + (th - 1) * sh + 1 : sh, c0 : c0 + (tw - 1) * sw + 1 : sw
                    ]
            res = wmat[g] @ patches.reshape(taps, n * th * tw)  # (og, n*th*tw)
            dest[:, g * og : (g + 1) * og] = res.reshape(og, n, th, tw).transpose(1, 0, 2, 3)

    return TileKernel(run_flat if (sh, sw) == (1, 1) else run)
