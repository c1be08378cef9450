"""Independent reference implementations used as test oracles.

Plain Python loops over output pixels, on arrays padded with ``numpy.pad``:
slow and obvious, sharing no code with convcli's engine (which gathers
through index maps and multiplies patch matrices).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

# convcli pad mode -> numpy.pad mode (CONVENTIONS.md's table)
NUMPY_PAD = {
    "zeros": "constant",
    "reflect": "reflect",
    "symmetric": "symmetric",
    "replicate": "edge",
    "circular": "wrap",
}

# convcli pad mode -> scipy.ndimage mode. scipy's "reflect" is numpy's
# "symmetric" (edge repeated) and scipy's "mirror" is numpy's "reflect".
SCIPY_MODE = {
    "zeros": "constant",
    "reflect": "mirror",
    "symmetric": "reflect",
    "replicate": "nearest",
    "circular": "wrap",
}


def np_pad(x, top, bottom, left, right, mode, value=0.0):
    """Pad the last two axes of ``x`` with numpy.pad."""
    widths = [(0, 0)] * (x.ndim - 2) + [(top, bottom), (left, right)]
    if mode == "zeros":
        return np.pad(x, widths, mode="constant", constant_values=value)
    return np.pad(x, widths, mode=NUMPY_PAD[mode])


def conv2d_windows(x, w, padding, stride=(1, 1), dilation=(1, 1), groups=1, mode="zeros"):
    """conv2d by numpy.pad and a sliding window: (N, C, H, W) with (O, C/g, kh, kw).

    ``padding`` is ((top, bottom), (left, right)). Faster than
    :func:`conv2d_loop`, for larger cases; as obvious: each output is the
    sum of its window times the kernel (``einsum``, in float64).
    """
    (t, b), (left, r) = padding
    xp = np_pad(np.asarray(x, dtype=np.float64), t, b, left, r, mode)
    w = np.asarray(w, dtype=np.float64)
    o, cg, kh, kw = w.shape
    dh, dw = dilation
    span = ((kh - 1) * dh + 1, (kw - 1) * dw + 1)
    win = sliding_window_view(xp, span, axis=(2, 3))[..., ::dh, ::dw]
    win = win[:, :, :: stride[0], :: stride[1]]
    og = o // groups
    outs = []
    for c in range(o):
        g = c // og
        outs.append(np.einsum("nchwij,cij->nhw", win[:, g * cg : (g + 1) * cg], w[c]))
    return np.stack(outs, axis=1)


def conv2d_loop(
    x, w, b=None, stride=(1, 1), pad=(0, 0, 0, 0), dilation=(1, 1), groups=1, mode="zeros"
):
    """Cross-correlate (N, C_in, H, W) with (C_out, C_in/g, kh, kw), one output at a time."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    xp = np_pad(x, *pad, mode)
    n, _c_in, hp, wp = xp.shape
    c_out, cg, kh, kw = w.shape
    sh, sw = stride
    dh, dw = dilation
    oh = (hp - dh * (kh - 1) - 1) // sh + 1
    ow = (wp - dw * (kw - 1) - 1) // sw + 1
    og = c_out // groups
    out = np.zeros((n, c_out, oh, ow))
    for b_i in range(n):
        for o in range(c_out):
            g = o // og
            for r in range(oh):
                for q in range(ow):
                    total = 0.0
                    for c in range(cg):
                        for i in range(kh):
                            for j in range(kw):
                                total += (
                                    xp[b_i, g * cg + c, r * sh + i * dh, q * sw + j * dw]
                                    * w[o, c, i, j]
                                )
                    out[b_i, o, r, q] = total + (0.0 if b is None else b[o])
    return out


def pool2d_loop(x, k, s, pad, mode, ceil_mode=False, count_include_pad=True):
    """Pool a 2-D array window by window, as PyTorch defines it.

    ``pad`` is (top, bottom, left, right); windows are clipped to the real
    cells for max/min, and the avg divisor follows PyTorch.
    """
    x = np.asarray(x, dtype=np.float64)
    h, w = x.shape
    kh, kw = k
    sh, sw = s
    t, b, left, r = pad

    def count(n, kk, ss, before, after):
        span = n + before + after - kk
        out = (-(-span // ss) if ceil_mode else span // ss) + 1
        if ceil_mode and (out - 1) * ss >= n + before:
            out -= 1
        return out

    oh = count(h, kh, sh, t, b)
    ow = count(w, kw, sw, left, r)
    out = np.zeros((oh, ow))
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * sh - t, j * sw - left
            r1, c1 = r0 + kh, c0 + kw
            cells = x[max(r0, 0) : min(r1, h), max(c0, 0) : min(c1, w)]
            if mode == "max":
                out[i, j] = cells.max()
            elif mode == "min":
                out[i, j] = cells.min()
            else:
                if count_include_pad:
                    div = (min(r1, h + b) - r0) * (min(c1, w + r) - c0)
                else:
                    div = cells.size
                out[i, j] = cells.sum() / div
    return out
