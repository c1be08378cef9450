"""The convolution engine: padding, im2col and tiled conv2d / filter2d.

numpy only: arrays in, arrays out. Every output size comes from
:mod:`convcli.shapes`.

How it works
------------
A convolution is computed as *im2col plus one matrix product per tile*:

1. The output is cut into tiles of rows (and, if one row is already too
   big, of columns) such that the tile's working memory stays below
   ``memory_budget`` bytes.
2. For each tile, the input cells it needs (the tile plus its halo) are
   gathered through precomputed index maps that implement the pad mode,
   so the padded image is never built in full, and an integer image is
   converted to floating point one tile at a time.
3. ``numpy.lib.stride_tricks.sliding_window_view`` turns that block into a
   view of every (strided, dilated) window without copying; the view is
   copied once into a contiguous patch matrix of shape
   ``(tile pixels, C_in/groups * kh * kw)`` and multiplied by the weights,
   reshaped to ``(C_in/groups * kh * kw, C_out/groups)``.

Pad modes
---------
One vocabulary, translated explicitly (on ``a b c d`` padded by 3):

=============  ===========================  ==========  =============  ==============  ===========
convcli        pattern                      numpy.pad   scipy.ndimage  OpenCV          PyTorch
=============  ===========================  ==========  =============  ==============  ===========
``zeros``      ``0 0 0 | a b c d | 0 0 0``  constant    constant       CONSTANT        zeros
``reflect``    ``d c b | a b c d | c b a``  reflect     mirror         REFLECT_101     reflect
``symmetric``  ``c b a | a b c d | d c b``  symmetric   reflect        REFLECT         --
``replicate``  ``a a a | a b c d | d d d``  edge        nearest        REPLICATE       replicate
``circular``   ``b c d | a b c d | a b c``  wrap        wrap           WRAP            circular
=============  ===========================  ==========  =============  ==============  ===========

Reflection keeps going when the padding is wider than the input, as
numpy's does (PyTorch refuses). ``zeros`` pads with ``pad_value``
(default 0).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .errors import ShapeError
from .shapes import PaddingSpec, output_size, pair, resolve_padding

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "PAD_MODES",
    "compute_dtype",
    "conv2d",
    "filter2d",
    "im2col",
    "pad",
]

#: Default working-memory budget of conv2d and filter2d, in bytes (256 MiB).
DEFAULT_MEMORY_BUDGET = 256 * 2**20

# bytes of small per-call allocations (index maps, views) kept out of the tile plan
_OVERHEAD = 32 * 1024

#: convcli pad mode -> (numpy.pad mode, scipy.ndimage mode)
PAD_MODES: dict[str, tuple[str, str]] = {
    "zeros": ("constant", "constant"),
    "reflect": ("reflect", "mirror"),
    "symmetric": ("symmetric", "reflect"),
    "replicate": ("edge", "nearest"),
    "circular": ("wrap", "wrap"),
}

#: Accepted alternative names. ``mirror`` is deliberately absent: it means
#: ``reflect`` in scipy but ``symmetric`` in ImageMagick and libvips.
PAD_MODE_ALIASES: dict[str, str] = {
    "zero": "zeros",
    "constant": "zeros",
    "edge": "replicate",
    "wrap": "circular",
}


def normalize_pad_mode(pad_mode: str) -> str:
    """Return the canonical name of ``pad_mode``, or raise a ValueError listing them.

    Examples
    --------
    >>> normalize_pad_mode("edge")
    'replicate'
    """
    if not isinstance(pad_mode, str):
        raise ShapeError(f"`pad_mode` must be a string, got {pad_mode!r}")
    mode = pad_mode.lower()
    mode = PAD_MODE_ALIASES.get(mode, mode)
    if mode not in PAD_MODES:
        known = ", ".join(PAD_MODES)
        hint = " (ambiguous between peers: use reflect or symmetric)" if mode == "mirror" else ""
        raise ShapeError(f"unknown `pad_mode` {pad_mode!r}{hint}; known modes: {known}")
    return mode


def compute_dtype(
    dtype: np.dtype | type, requested: np.dtype | type | str | None = None
) -> np.dtype:
    """Return the floating dtype convcli computes in for input of ``dtype``.

    The policy: float64 when the input is float64 (or an integer type wider
    than 16 bits, whose values float32 cannot hold exactly) or when
    ``requested`` says so; float32 otherwise (uint8, uint16, int8, int16,
    bool, float16, float32). Results are always floating point, so integer
    inputs never wrap around.

    Parameters
    ----------
    dtype : numpy dtype
        The input's dtype.
    requested : dtype or str, optional
        ``float32`` or ``float64`` to force one.

    Examples
    --------
    >>> compute_dtype(np.uint8)
    dtype('float32')
    >>> compute_dtype(np.float64)
    dtype('float64')
    >>> compute_dtype(np.uint8, "float64")
    dtype('float64')
    """
    dtype = np.dtype(dtype)
    if requested is not None:
        req = np.dtype(requested)
        if req not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise TypeError(f"`dtype` must be float32 or float64, got {req}")
        return req
    if dtype.kind == "c":
        raise TypeError(f"complex input ({dtype}) is not supported")
    if dtype.kind not in "biuf":
        raise TypeError(f"input must be numeric, got dtype {dtype}")
    if dtype == np.float64 or (dtype.kind in "iu" and dtype.itemsize > 2) or dtype.itemsize > 8:
        return np.dtype(np.float64)
    return np.dtype(np.float32)


def _index_map(n: int, before: int, after: int, mode: str) -> np.ndarray:
    """Map each padded position of an axis of length ``n`` to a source index.

    Positions that take the constant value (``zeros`` mode) map to -1.
    """
    i = np.arange(-before, n + after)
    if mode == "zeros":
        return np.where((i >= 0) & (i < n), i, -1)
    if mode == "replicate":
        return np.clip(i, 0, n - 1)
    if mode == "circular":
        return np.mod(i, n)
    if mode == "symmetric":
        j = np.mod(i, 2 * n)
        return np.where(j < n, j, 2 * n - 1 - j)
    # reflect: the edge cell is not repeated; period 2(n - 1)
    if n == 1:
        return np.zeros_like(i)
    j = np.mod(i, 2 * n - 2)
    return np.where(j < n, j, 2 * n - 2 - j)


def _longest_run(index: np.ndarray) -> tuple[int, int]:
    """Positions ``[start, stop)`` of the longest stretch of consecutive valid indices.

    Along a padded axis that is the interior, which is copied with one slice;
    only the positions outside it (the border) need gathering.

    Examples
    --------
    >>> _longest_run(np.array([1, 0, 1, 2, 3, 2]))
    (1, 5)
    """
    if index.size == 0:
        return (0, 0)
    valid = index >= 0
    follows = np.zeros(index.size, dtype=bool)  # continues the previous position's run
    follows[1:] = valid[1:] & valid[:-1] & (np.diff(index) == 1)
    starts = np.flatnonzero(valid & ~follows)
    if starts.size == 0:
        return (0, 0)
    ends = np.flatnonzero(valid & ~np.append(follows[1:], False)) + 1
    best = int(np.argmax(ends - starts))
    return (int(starts[best]), int(ends[best]))


def _gather(
    x: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    dtype: np.dtype,
    pad_value: float,
) -> np.ndarray:
    """Return ``x[..., rows, cols]`` in ``dtype``, with -1 indices set to ``pad_value``.

    The interior is copied with one slice (or returned as a view of ``x``
    when nothing needs padding or converting); only the border cells are
    gathered through the index maps.
    """
    r0, r1 = _longest_run(rows)
    c0, c1 = _longest_run(cols)
    inner = x[..., rows[r0] : rows[r1 - 1] + 1, cols[c0] : cols[c1 - 1] + 1] if r1 and c1 else None
    if inner is not None and r1 - r0 == rows.size and c1 - c0 == cols.size:
        return inner.astype(dtype, copy=False)
    block = np.empty((*x.shape[:-2], rows.size, cols.size), dtype=dtype)
    if inner is not None:
        block[..., r0:r1, c0:c1] = inner
    edge_r = np.r_[0:r0, r1 : rows.size]
    edge_c = np.r_[0:c0, c1 : cols.size]
    safe_r = np.maximum(rows, 0)
    safe_c = np.maximum(cols, 0)
    if edge_r.size:
        block[..., edge_r, :] = x[..., safe_r[edge_r][:, None], safe_c]
    if edge_c.size and r1 > r0:
        block[..., r0:r1, edge_c] = x[..., rows[r0] : rows[r1 - 1] + 1, :][..., safe_c[edge_c]]
    bad_r = rows < 0
    bad_c = cols < 0
    if bad_r.any():
        block[..., bad_r, :] = pad_value
    if bad_c.any():
        block[..., :, bad_c] = pad_value
    return block


def pad(
    x: np.ndarray,
    padding: PaddingSpec,
    pad_mode: str = "zeros",
    pad_value: float = 0.0,
) -> np.ndarray:
    """Pad the last two axes of ``x``.

    Parameters
    ----------
    x : ndarray
        An array with at least two dimensions; the last two are padded.
    padding : int, pair, 4-tuple or ((top, bottom), (left, right))
        Cells to add; see :func:`convcli.resolve_padding` (words need a
        kernel and are not accepted here).
    pad_mode : str, optional
        ``zeros``, ``reflect``, ``symmetric``, ``replicate`` or ``circular``
        (see the module docstring for the translation to other libraries).
    pad_value : float, optional
        The constant of ``zeros`` mode.

    Returns
    -------
    ndarray
        The padded array, same dtype as ``x``.

    Examples
    --------
    >>> pad(np.array([[1, 2, 3]]), ((0, 0), (2, 2)), "reflect")
    array([[3, 2, 1, 2, 3, 2, 1]])
    >>> pad(np.array([[1, 2, 3]]), ((0, 0), (2, 2)), "symmetric")
    array([[2, 1, 1, 2, 3, 3, 2]])
    """
    x = np.asarray(x)
    if x.ndim < 2:
        raise ShapeError(f"`x` must have at least 2 dimensions, got shape {x.shape}")
    if isinstance(padding, str):
        raise ShapeError("`pad` needs explicit padding, not a word such as 'same'")
    (t, b), (left, r) = resolve_padding(padding, x.shape[-2:], (1, 1))
    mode = normalize_pad_mode(pad_mode)
    if x.shape[-2] == 0 or x.shape[-1] == 0:
        raise ShapeError(f"cannot pad an empty array of shape {x.shape}")
    rows = _index_map(x.shape[-2], t, b, mode)
    cols = _index_map(x.shape[-1], left, r, mode)
    return _gather(x, rows, cols, x.dtype, pad_value)


def _check_finite(arr: np.ndarray, name: str) -> None:
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ShapeError(
            f"`{name}` holds a non-finite value ({arr[tuple(bad)]}) at index {tuple(int(i) for i in bad)}"
        )


def _as_numeric(a: object, name: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"`{name}` must be a numeric array, got dtype {arr.dtype}")
    return arr


class _Geometry:
    """Sizes, paddings and index maps of one 2-D convolution."""

    def __init__(
        self,
        size: tuple[int, int],
        kernel_size: tuple[int, int],
        stride: int | Sequence[int],
        padding: PaddingSpec,
        dilation: int | Sequence[int],
        pad_mode: str,
    ) -> None:
        self.size = size
        self.kernel_size = kernel_size
        self.stride = pair(stride, "stride")
        self.dilation = pair(dilation, "dilation")
        self.pad_mode = normalize_pad_mode(pad_mode)
        self.padding = resolve_padding(padding, size, kernel_size, self.stride, self.dilation)
        self.out = tuple(
            output_size(size[a], kernel_size[a], self.stride[a], self.padding[a], self.dilation[a])
            for a in (0, 1)
        )
        self.span = tuple(self.dilation[a] * (kernel_size[a] - 1) + 1 for a in (0, 1))
        self.rows = _index_map(size[0], *self.padding[0], self.pad_mode)
        self.cols = _index_map(size[1], *self.padding[1], self.pad_mode)

    def input_extent(self, axis: int, n_out: int) -> int:
        """Padded input cells needed for ``n_out`` consecutive outputs along ``axis``."""
        return (n_out - 1) * self.stride[axis] + self.span[axis]

    def tile_plan(self, per_window: int, per_output: int, per_input: int, budget: int):
        """Choose (tile_rows, tile_cols) whose working memory fits ``budget``.

        ``per_window`` bytes per output position of the patch matrix,
        ``per_output`` bytes per output position of the product and
        ``per_input`` bytes per gathered input cell.
        """

        def cost(th: int, tw: int) -> int:
            return (
                th * tw * (per_window + per_output)
                + self.input_extent(0, th) * self.input_extent(1, tw) * per_input
            )

        oh, ow = self.out
        if cost(1, ow) <= budget:
            lo, hi = 1, oh  # largest th with cost(th, ow) <= budget
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if cost(mid, ow) <= budget:
                    lo = mid
                else:
                    hi = mid - 1
            return lo, ow
        lo, hi = 1, ow
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if cost(1, mid) <= budget:
                lo = mid
            else:
                hi = mid - 1
        return 1, lo

    def tiles(self, th: int, tw: int):
        """Yield (out_row_slice, out_col_slice, src_row_index, src_col_index)."""
        oh, ow = self.out
        sh, sw = self.stride
        for r0 in range(0, oh, th):
            r1 = min(r0 + th, oh)
            rows = self.rows[r0 * sh : r0 * sh + self.input_extent(0, r1 - r0)]
            for c0 in range(0, ow, tw):
                c1 = min(c0 + tw, ow)
                cols = self.cols[c0 * sw : c0 * sw + self.input_extent(1, c1 - c0)]
                yield slice(r0, r1), slice(c0, c1), rows, cols

    def windows(self, block: np.ndarray) -> np.ndarray:
        """A (..., out_h, out_w, kh, kw) view of every window of a gathered block."""
        view = sliding_window_view(block, self.span, axis=(-2, -1))
        sh, sw = self.stride
        dh, dw = self.dilation
        return view[..., ::sh, ::sw, ::dh, ::dw]


def im2col(
    x: np.ndarray,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] = 1,
    padding: PaddingSpec = 0,
    dilation: int | Sequence[int] = 1,
    pad_mode: str = "zeros",
    pad_value: float = 0.0,
) -> np.ndarray:
    """Unfold every window of ``x`` into the columns of a patch matrix.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
        The batch of inputs.
    kernel_size : int or (int, int)
        Window size (kh, kw).
    stride, dilation : int or (int, int), optional
        Step between windows and spacing between taps.
    padding : int, pair, 4-tuple or word, optional
        See :func:`convcli.resolve_padding`.
    pad_mode : str, optional
        How the border is filled; see :func:`pad`.
    pad_value : float, optional
        The constant of ``zeros`` mode.

    Returns
    -------
    ndarray, shape (N, C*kh*kw, out_h*out_w)
        The layout of ``torch.nn.functional.unfold``: row ``c*kh*kw + i*kw + j``
        holds tap (i, j) of channel c; column ``r*out_w + q`` is the window of
        output pixel (r, q). Same dtype as ``x``.

    Notes
    -----
    The result is materialised: it takes ``kh*kw`` times the memory of the
    (padded, strided) input, e.g. 31 GB for an 11x11 kernel on an 8000x8000
    float32 image. :func:`conv2d` and :func:`filter2d` never build it in full;
    they build it one tile at a time within their ``memory_budget``.

    Examples
    --------
    >>> x = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> im2col(x, 2)[0]
    array([[0., 1., 3., 4.],
           [1., 2., 4., 5.],
           [3., 4., 6., 7.],
           [4., 5., 7., 8.]])
    """
    x = _as_numeric(x, "x")
    if x.ndim != 4:
        raise ShapeError(f"`x` must have shape (N, C, H, W), got shape {x.shape}")
    kernel = pair(kernel_size, "kernel_size")
    geo = _Geometry(x.shape[-2:], kernel, stride, padding, dilation, pad_mode)
    block = _gather(x, geo.rows, geo.cols, x.dtype, pad_value)
    win = geo.windows(block)  # (N, C, oh, ow, kh, kw)
    n, c = x.shape[:2]
    oh, ow = geo.out
    return win.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * kernel[0] * kernel[1], oh * ow)


def _conv_tiled(
    x: np.ndarray,
    weight: np.ndarray,
    geo: _Geometry,
    groups: int,
    dtype: np.dtype,
    pad_value: float,
    memory_budget: int,
) -> np.ndarray:
    """Correlate (N, C_in, H, W) with (C_out, C_in/groups, kh, kw); no bias."""
    n = x.shape[0]
    c_out, cg, kh, kw = weight.shape
    og = c_out // groups
    oh, ow = geo.out
    itemsize = dtype.itemsize
    taps = cg * kh * kw
    # (groups, og, taps): the left-hand side of each group's product
    wmat = np.ascontiguousarray(weight.reshape(groups, og, taps), dtype=dtype)
    plan = geo.tile_plan(
        per_window=n * taps * itemsize,
        per_output=n * og * itemsize,
        # gathered block in the input dtype, its float copy, and the broadcast indices
        per_input=n * cg * (itemsize + x.dtype.itemsize) + 2 * np.dtype(np.intp).itemsize,
        budget=max(memory_budget - wmat.nbytes - _OVERHEAD, 1),
    )
    out = np.empty((n, c_out, oh, ow), dtype=dtype)
    (sh, sw), (dh, dw) = geo.stride, geo.dilation
    for rs, cs, rows, cols in geo.tiles(*plan):
        th, tw = rs.stop - rs.start, cs.stop - cs.start
        # the tile's patch matrix in unfold layout: row c*kh*kw + i*kw + j, one
        # column per (image, output pixel); filled one kernel tap at a time, so
        # each copy moves whole strided rows instead of 3x3 windows
        patches = np.empty((cg, kh, kw, n, th, tw), dtype=dtype)
        for g in range(groups):
            block = _gather(x[:, g * cg : (g + 1) * cg], rows, cols, dtype, pad_value)
            block = block.transpose(1, 0, 2, 3)  # (cg, n, rows, cols)
            for i in range(kh):
                for j in range(kw):
                    r0, c0 = i * dh, j * dw
                    patches[:, i, j] = block[
                        ..., r0 : r0 + (th - 1) * sh + 1 : sh, c0 : c0 + (tw - 1) * sw + 1 : sw
                    ]
            res = wmat[g] @ patches.reshape(taps, n * th * tw)  # (og, n*th*tw)
            out[:, g * og : (g + 1) * og, rs, cs] = res.reshape(og, n, th, tw).transpose(1, 0, 2, 3)
            del block, res
        del patches
    return out


def _check_budget(memory_budget: int) -> int:
    if isinstance(memory_budget, bool) or not isinstance(memory_budget, (int, np.integer)):
        raise ShapeError(
            f"`memory_budget` must be an integer number of bytes, got {memory_budget!r}"
        )
    if memory_budget < 1:
        raise ShapeError(f"`memory_budget` must be positive, got {memory_budget}")
    return int(memory_budget)


def conv2d(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: int | Sequence[int] = 1,
    padding: PaddingSpec = 0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    pad_mode: str = "zeros",
    *,
    pad_value: float = 0.0,
    dtype: np.dtype | str | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> np.ndarray:
    """2-D cross-correlation of a batch with a bank of filters, as in a CNN layer.

    Gives the same result as ``torch.nn.functional.conv2d`` (no kernel flip).

    Parameters
    ----------
    x : ndarray, shape (N, C_in, H, W) or (C_in, H, W)
        Input; uint8, uint16, float32 or float64 (any real dtype works).
    weight : ndarray, shape (C_out, C_in/groups, kh, kw)
        Filters.
    bias : ndarray, shape (C_out,), optional
        Added to each output channel.
    stride, dilation : int or (int, int), optional
        Step between windows; spacing between kernel taps.
    padding : int, pair, 4-tuple or {"valid", "same", "full"}, optional
        Per side (int), per axis (pair), per side (top, bottom, left, right),
        or a word; "same" gives ``ceil(n / stride)`` outputs with the odd
        cell of padding after (see :func:`convcli.same_padding`).
    groups : int, optional
        Split input and output channels into this many independent groups.
    pad_mode : str, optional
        ``zeros`` (default, with ``pad_value``), ``reflect``, ``symmetric``,
        ``replicate`` or ``circular``.
    pad_value : float, optional
        The constant of ``zeros`` mode.
    dtype : {None, "float32", "float64"}, optional
        Force the compute dtype; by default see :func:`compute_dtype`.
    memory_budget : int, optional
        Bytes of working memory (patch matrix, product and gathered input of
        one tile) not to exceed; 256 MiB by default. The output itself is
        not counted.

    Returns
    -------
    ndarray, shape (N, C_out, out_h, out_w) or (C_out, out_h, out_w)
        In the compute dtype; sizes from :func:`convcli.output_size`.

    Raises
    ------
    ShapeError
        For mismatched shapes or channels, out-of-range stride/dilation,
        non-finite weights, an unknown pad mode, or a kernel larger than the
        padded input.

    Examples
    --------
    >>> x = np.arange(9.0).reshape(1, 3, 3)
    >>> w = np.arange(4.0).reshape(1, 1, 2, 2)
    >>> conv2d(x, w)[0]
    array([[19., 25.],
           [37., 43.]])
    """
    x = _as_numeric(x, "x")
    weight = _as_numeric(weight, "weight")
    squeeze = x.ndim == 3
    if x.ndim not in (3, 4):
        raise ShapeError(
            f"`x` must have shape (N, C_in, H, W) or (C_in, H, W), got shape {x.shape}"
        )
    if squeeze:
        x = x[None]
    if weight.ndim != 4:
        raise ShapeError(
            f"`weight` must have shape (C_out, C_in/groups, kh, kw), got shape {weight.shape}"
        )
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ShapeError(f"`groups` must be a positive integer, got {groups!r}")
    c_in = x.shape[1]
    c_out = weight.shape[0]
    if c_in % groups or c_out % groups:
        raise ShapeError(
            f"`groups`={groups} must divide both the input channels ({c_in}) and the "
            f"output channels ({c_out})"
        )
    if weight.shape[1] * groups != c_in:
        raise ShapeError(
            f"`weight` of shape {weight.shape} expects {weight.shape[1] * groups} input channels "
            f"(C_in/groups = {weight.shape[1]}, groups = {groups}), but `x` of shape "
            f"{x.shape} has {c_in}"
        )
    if 0 in weight.shape:
        raise ShapeError(f"`weight` is empty: shape {weight.shape}")
    if x.shape[-1] == 0 or x.shape[-2] == 0:
        raise ShapeError(f"`x` is empty: shape {x.shape}")
    _check_finite(weight, "weight")
    ct = compute_dtype(x.dtype, dtype)
    if bias is not None:
        bias = _as_numeric(bias, "bias")
        if bias.shape != (c_out,):
            raise ShapeError(f"`bias` must have shape ({c_out},), got shape {bias.shape}")
        _check_finite(bias, "bias")
    geo = _Geometry(x.shape[-2:], weight.shape[-2:], stride, padding, dilation, pad_mode)
    out = _conv_tiled(x, weight, geo, int(groups), ct, pad_value, _check_budget(memory_budget))
    if bias is not None:
        out += bias.astype(ct).reshape(1, -1, 1, 1)
    return out[0] if squeeze else out


#: Kernels of rank 1 with at least this many taps are applied as two 1-D passes.
SEPARABLE_MIN_TAPS = 25


def _rank_one_factors(
    kernel: np.ndarray, dtype: np.dtype | type = np.float64
) -> tuple[np.ndarray, np.ndarray] | None:
    """``(column, row)`` with ``outer(column, row) == kernel`` for a large rank-1 kernel.

    None for kernels that are already 1-D, small, non-finite or of rank above 1
    (second singular value above ``10·max(kh, kw)·eps`` of the first, with
    ``eps`` that of the compute ``dtype``).
    """
    if min(kernel.shape) == 1 or kernel.size < SEPARABLE_MIN_TAPS:
        return None
    k = kernel.astype(np.float64)
    if not np.all(np.isfinite(k)):
        return None
    u, s, vt = np.linalg.svd(k)
    # rank 1 up to the precision of the computation (a float32 Gaussian is an
    # outer product only to float32 rounding; splitting it then changes the
    # result by no more than float32 arithmetic does anyway)
    eps = np.finfo(dtype).eps
    if s[0] == 0 or s[1] > 10 * max(kernel.shape) * eps * s[0]:
        return None
    scale = np.sqrt(s[0])
    return u[:, 0] * scale, vt[0] * scale


def filter2d(
    image: np.ndarray,
    kernel: np.ndarray,
    stride: int | Sequence[int] = 1,
    padding: PaddingSpec = "same",
    dilation: int | Sequence[int] = 1,
    pad_mode: str = "reflect",
    convolve: bool = False,
    *,
    pad_value: float = 0.0,
    dtype: np.dtype | str | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> np.ndarray:
    """Filter an image with one 2-D kernel, each channel on its own.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
        Any real dtype; integer images are converted to float tile by tile.
    kernel : ndarray, shape (kh, kw)
        The kernel in correlation form (as handed to ``cv2.filter2D`` or
        ``torch.conv2d``).
    stride, dilation : int or (int, int), optional
        Step between windows; spacing between kernel taps.
    padding : int, pair, 4-tuple or {"same", "valid", "full"}, optional
        ``"same"`` by default (output the size of the input for stride 1).
    pad_mode : str, optional
        ``reflect`` by default (no dark frame around a blurred photo); see
        :func:`pad` for all modes.
    convolve : bool, optional
        Flip the kernel in both axes first: true convolution, as
        ``scipy.ndimage.convolve``. The default is cross-correlation.
    pad_value : float, optional
        The constant of ``zeros`` mode.
    dtype : {None, "float32", "float64"}, optional
        Force the compute dtype; by default see :func:`compute_dtype`.
    memory_budget : int, optional
        Working-memory bound in bytes, as for :func:`conv2d`.

    Returns
    -------
    ndarray, shape (out_h, out_w) or (out_h, out_w, C)
        Raw filter responses in the compute dtype (not clipped or rounded).

    Notes
    -----
    A kernel of rank 1 (Gaussian, box, Sobel, ...) with at least
    ``SEPARABLE_MIN_TAPS`` taps is applied as two 1-D passes, a column
    ``kh x 1`` then a row ``1 x kw`` (factors from its SVD), each through the
    same tiled im2col engine: ``kh + kw`` multiplications per pixel instead
    of ``kh * kw``. Padding modes act on each axis independently, so the
    result is the same up to rounding; the intermediate image (``out_h x W``
    per channel) is the one allocation outside ``memory_budget``.

    Examples
    --------
    >>> img = np.zeros((3, 3)); img[1, 1] = 1
    >>> filter2d(img, np.arange(9.0).reshape(3, 3), padding="same", pad_mode="zeros")
    array([[8., 7., 6.],
           [5., 4., 3.],
           [2., 1., 0.]])
    """
    image = _as_numeric(image, "image")
    kernel = _as_numeric(kernel, "kernel")
    if image.ndim not in (2, 3):
        raise ShapeError(f"`image` must have shape (H, W) or (H, W, C), got shape {image.shape}")
    if kernel.ndim != 2:
        raise ShapeError(f"`kernel` must be 2-D (kh, kw), got shape {kernel.shape}")
    if kernel.size == 0:
        raise ShapeError(f"`kernel` is empty: shape {kernel.shape}")
    if convolve:
        kernel = kernel[::-1, ::-1]
    ct = compute_dtype(image.dtype, dtype)
    factors = _rank_one_factors(kernel, ct)
    if factors is not None and (normalize_pad_mode(pad_mode) != "zeros" or pad_value == 0):
        # two 1-D passes; padding acts per axis, so split it between them
        sh, sw = pair(stride, "stride")
        dh, dw = pair(dilation, "dilation")
        (t, b), (left, r) = resolve_padding(
            padding, image.shape[:2], kernel.shape, (sh, sw), (dh, dw)
        )
        common = {"pad_mode": pad_mode, "dtype": ct, "memory_budget": memory_budget}
        column = filter2d(image, factors[0][:, None], (sh, 1), ((t, b), (0, 0)), (dh, 1), **common)
        return filter2d(
            column, factors[1][None, :], (1, sw), ((0, 0), (left, r)), (1, dw), **common
        )
    x = image[None] if image.ndim == 2 else np.moveaxis(image, -1, 0)  # (C, H, W) view
    out = conv2d(
        x[:, None],
        kernel[None, None],
        stride=stride,
        padding=padding,
        dilation=dilation,
        pad_mode=pad_mode,
        pad_value=pad_value,
        dtype=ct,
        memory_budget=memory_budget,
    )[:, 0]
    return out[0] if image.ndim == 2 else np.moveaxis(out, 0, -1)
