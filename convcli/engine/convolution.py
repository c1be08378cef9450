"""The convolution engine: padding, im2col and tiled conv2d / filter2d.

Arrays in, arrays out (numpy; scipy for BLAS wrappers and FFTs). Every
output size comes from :mod:`convcli.arithmetic.sizes`.

How it works
------------
1. The output is cut into tiles (bands of rows, and columns if a row is
   too big) sized so the working memory of the tiles in flight, one per
   thread, stays below ``memory_budget`` bytes.
2. For each tile, the input cells it needs (the tile plus its halo) are
   gathered through precomputed index maps that implement the pad mode,
   so the padded image is never built in full, and an integer image is
   converted to floating point one tile at a time. For a float plane
   filtered with stride 1, rows whose windows lie inside the image skip
   this step: they are read in place, and only their border columns are
   gathered.
3. A strategy from :mod:`convcli.engine.strategies` computes the tile: ``direct``
   (shift and accumulate), ``separable`` (two 1-D passes), ``fft``
   (overlap-save) or ``im2col`` (a patch matrix and one matrix product),
   picked by a cost model unless ``strategy=`` names one.
4. Tiles run on ``threads`` threads (numpy, ``np.matmul`` and scipy.fft
   release the GIL; the strategies that call scipy's BLAS wrappers run on
   one thread, as those hold it).

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

import contextlib
import itertools
import sys
import threading
from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..arithmetic.sizes import PaddingSpec, output_size, pair, resolve_padding
from ..errors import ShapeError

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

# outputs below which BLAS threading is left as it is
_SMALL_PROBLEM = 1 << 15

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
    runs: tuple[tuple[int, int], tuple[int, int]] | None = None,
) -> np.ndarray:
    """Return ``x[..., rows, cols]`` in ``dtype``, with -1 indices set to ``pad_value``.

    The interior is copied with one slice (or returned as a view of ``x``
    when nothing needs padding or converting); only the border cells are
    gathered through the index maps. ``runs`` gives the interior stretch
    of each axis when the caller knows it (else the longest one is found).
    """
    (r0, r1), (c0, c1) = runs if runs is not None else (_longest_run(rows), _longest_run(cols))
    inner = x[..., rows[r0] : rows[r1 - 1] + 1, cols[c0] : cols[c1 - 1] + 1] if r1 and c1 else None
    if inner is not None and r1 - r0 == rows.size and c1 - c0 == cols.size:
        return inner.astype(dtype, copy=False)
    block = np.empty((*x.shape[:-2], rows.size, cols.size), dtype=dtype)
    if inner is not None:
        block[..., r0:r1, c0:c1] = inner
    if r1 - r0 < rows.size:
        edge_r = np.concatenate((np.arange(r0), np.arange(r1, rows.size)))
        block[..., edge_r, :] = x[..., np.maximum(rows[edge_r], 0)[:, None], np.maximum(cols, 0)]
    if c1 - c0 < cols.size and r1 > r0:
        edge_c = np.concatenate((np.arange(c0), np.arange(c1, cols.size)))
        block[..., r0:r1, edge_c] = x[..., rows[r0] : rows[r1 - 1] + 1, np.maximum(cols[edge_c], 0)]
    if (rows < 0).any():
        block[..., rows < 0, :] = pad_value
    if (cols < 0).any():
        block[..., :, cols < 0] = pad_value
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

    def tile(self, r0: int, r1: int, c0: int, c1: int):
        """(out_row_slice, out_col_slice, src_row_index, src_col_index, runs) of one tile.

        ``runs`` holds, per axis, the stretch ``[start, stop)`` of the block that
        lies inside the input (copied with one slice by :func:`_gather`).
        """
        sh, sw = self.stride
        (top, _), (left, _) = self.padding
        h, w = self.size

        def run(before: int, n: int, start: int, length: int) -> tuple[int, int]:
            a, b = max(before - start, 0), min(before + n - start, length)
            return (a, b) if a < b else (0, 0)

        rows_needed = self.input_extent(0, r1 - r0)
        cols_needed = self.input_extent(1, c1 - c0)
        rows = self.rows[r0 * sh : r0 * sh + rows_needed]
        cols = self.cols[c0 * sw : c0 * sw + cols_needed]
        runs = (run(top, h, r0 * sh, rows_needed), run(left, w, c0 * sw, cols_needed))
        return slice(r0, r1), slice(c0, c1), rows, cols, runs

    def tiles(self, th: int, tw: int, rows: tuple[int, int] | None = None):
        """Tiles of ``th x tw`` outputs covering the output rows ``[start, stop)`` (all)."""
        start, stop = rows if rows is not None else (0, self.out[0])
        for r0 in range(start, stop, th):
            for c0 in range(0, self.out[1], tw):
                yield self.tile(r0, min(r0 + th, stop), c0, min(c0 + tw, self.out[1]))

    def interior_rows(self) -> tuple[int, int] | None:
        """Output rows ``[a, b)`` that can be read straight from the input, or None.

        With stride 1 and an output as wide as the input, an output row whose
        window rows all lie inside the image needs padding only at its two
        ends: the interior of a band of such rows is computed from the input
        in place (see ``interior`` in :mod:`convcli.engine.strategies`), and only
        the ``left`` and ``right`` border columns go through the index maps.
        """
        (top, _), (left, right) = self.padding
        h, w = self.size
        if self.stride != (1, 1) or self.out[1] != w or left + right != self.span[1] - 1:
            return None
        a, b = top, min(h - self.span[0] + top + 1, self.out[0])
        if b - a < 1 or w <= left + right:
            return None
        return a, b

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


def _run_tiles(
    x: np.ndarray,
    weight: np.ndarray,
    geo: _Geometry,
    groups: int,
    dtype: np.dtype,
    pad_value: float,
    memory_budget: int,
    strategy: str,
    threads: int | None,
) -> np.ndarray:
    """Correlate (N, C_in, H, W) with (C_out, C_in/groups, kh, kw) tile by tile; no bias."""
    from . import strategies as st

    n, c_in = x.shape[:2]
    c_out = weight.shape[0]
    problem = st.Problem(
        n, c_in, c_out, groups, weight.shape[-2:], geo.stride, geo.dilation, geo.out
    )
    threads = _check_threads(threads)
    name = _check_strategy(strategy)
    if name == "auto":
        name = st.choose_strategy(problem, weight, dtype)
    # the index maps (and their temporaries) are outside the tile plan
    maps = 4 * (geo.rows.nbytes + geo.cols.nbytes)
    budget = max(memory_budget - weight.nbytes - maps - _OVERHEAD, 1)
    if name == "direct":
        kernel = st.make_direct(problem, weight, dtype)
    elif name == "separable":
        kernel = st.make_separable(problem, weight, dtype)
    elif name == "fft":
        kernel = st.make_fft(problem, weight, dtype, budget)
        budget = max(budget - st.fft_cache_bytes(budget), 1)  # the cached kernel spectra
    else:
        kernel = st.make_im2col(problem, weight, dtype)
    if name in SERIAL:
        # scipy's BLAS wrappers (axpy, gemm) hold the GIL: more threads only add contention
        threads = 1
    th, tw = st.tile_shape(name, problem, budget, threads, dtype.itemsize, x.dtype.itemsize)
    out = np.empty((n, c_out, *geo.out), dtype=dtype)
    (top, _), (left, right) = geo.padding
    span_h = geo.span[0]

    def work(tile) -> None:
        if tile[0] == "interior":
            _, k, r0, r1 = tile
            # only the input rows the band reads, so no wrapper can copy more
            src = x[k, 0, r0 - top : r1 - top + span_h - 1].reshape(-1)
            kernel.interior(src, -left, out[k, 0, r0:r1], left, right)
            return
        rs, cs, rows, cols, runs = tile
        kernel(_gather(x, rows, cols, dtype, pad_value, runs), out[:, :, rs, cs])

    band = _interior_band(x, geo, kernel, dtype, c_in, c_out)
    edges = []
    if band is None:
        tiles = geo.tiles(th, tw)
        count = len(range(0, geo.out[0], th)) * len(range(0, geo.out[1], tw))
    else:
        a, b = band
        ow = geo.out[1]
        # generated as the workers pull them: a list of thousands of small tuples
        # would itself take a noticeable share of a small budget
        interior = (
            ("interior", k, r0, min(r0 + th, b)) for k in range(n) for r0 in range(a, b, th)
        )
        # the border columns, in tall strips (a few tall tiles cost less than many
        # small ones), as tall as the budget allows
        tall = max(th, 1024)
        per_thread = max(budget // threads, 1)
        edge_width = max(left, right)

        def strip_memory(rows: int) -> int:
            return st.working_memory(
                name, problem, rows, edge_width, dtype.itemsize, x.dtype.itemsize
            )

        while tall > th and strip_memory(tall) > per_thread:
            tall //= 2
        edges = [geo.tile(r0, min(r0 + tall, b), 0, left) for r0 in range(a, b, tall) if left]
        edges += [
            geo.tile(r0, min(r0 + tall, b), ow - right, ow) for r0 in range(a, b, tall) if right
        ]
        tiles = itertools.chain(
            geo.tiles(th, tw, (0, a)), interior, geo.tiles(th, tw, (b, geo.out[0]))
        )
        count = (
            n * len(range(a, b, th))
            + len(edges)
            + len(range(0, ow, tw)) * (len(range(0, a, th)) + len(range(b, geo.out[0], th)))
        )
    threads = max(1, min(threads, count))
    with _blas_threads(name, threads, out.size):
        _run_parallel(work, tiles, threads)
        if edges:
            # only once every interior band is done: those wrote scratch values into
            # the border columns, which these tiles now overwrite with the real ones
            _run_parallel(work, iter(edges), min(threads, len(edges)))
    return out


#: Strategies whose tiles run on one thread: their BLAS calls (through scipy's
#: wrappers) hold the GIL, so a second thread only waits.
SERIAL = ("direct", "separable")


def _interior_band(x, geo, kernel, dtype, c_in: int, c_out: int):
    """Output rows to compute straight from ``x`` (see ``_Geometry.interior_rows``), or None."""
    if not hasattr(kernel, "interior") or c_in != 1 or c_out != 1 or x.dtype != dtype:
        return None
    if not x.flags.aligned:  # BLAS wrappers would copy an unaligned plane on every call
        return None
    plane = x.shape[-1] * x.itemsize
    if x.strides[-1] != x.itemsize or x.strides[-2] != plane:
        return None
    return geo.interior_rows()


def _blas_threads(strategy: str, threads: int, size: int):
    """A context in which BLAS runs single-threaded, when that is faster.

    When our own tile threads use the cores, or for the ``axpy`` calls of the
    direct and separable strategies (OpenBLAS would wake its threads for each
    of them), BLAS is held to one thread through threadpoolctl. Small
    problems are left alone. Overlapping calls from several user threads
    share one limit, lifted when the last of them leaves.
    """
    import contextlib

    if size < _SMALL_PROBLEM or (threads == 1 and strategy in ("im2col", "fft")):
        return contextlib.nullcontext()
    return _single_threaded_blas()


@contextlib.contextmanager
def _single_threaded_blas():
    global _BLAS_CONTROLLER, _BLAS_LIMITER, _BLAS_USERS
    with _BLAS_LOCK:
        if _BLAS_USERS == 0:
            if _BLAS_CONTROLLER is None or _BLAS_CONTROLLER[0] != ("scipy.linalg" in sys.modules):
                from threadpoolctl import ThreadpoolController

                # finds the BLAS libraries loaded now: rebuilt once scipy's own is loaded
                _BLAS_CONTROLLER = ("scipy.linalg" in sys.modules, ThreadpoolController())
            _BLAS_LIMITER = _BLAS_CONTROLLER[1].limit(limits=1, user_api="blas")
        _BLAS_USERS += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS_USERS -= 1
            if _BLAS_USERS == 0:
                _BLAS_LIMITER.restore_original_limits()
                _BLAS_LIMITER = None


_BLAS_CONTROLLER = None
_BLAS_LIMITER = None
_BLAS_USERS = 0
_BLAS_LOCK = threading.Lock()


def _run_parallel(work, tiles, threads: int) -> None:
    """Call ``work`` on every tile, from ``threads`` threads; the first error stops them all."""
    if threads == 1:
        for tile in tiles:
            work(tile)
        return
    from concurrent.futures import ThreadPoolExecutor

    lock = threading.Lock()
    stop = threading.Event()

    def worker() -> None:
        # each worker pulls the next tile, so only `threads` tiles are ever in flight
        try:
            while not stop.is_set():
                with lock:
                    tile = next(tiles, None)
                if tile is None:
                    return
                work(tile)
        except BaseException:
            stop.set()
            raise

    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(worker) for _ in range(threads)]
        try:
            for future in futures:
                future.result()
        except BaseException:  # an error, or Ctrl-C in the main thread: stop the others
            stop.set()
            raise


def _check_threads(threads: int | None) -> int:
    from .strategies import default_threads

    if threads is None:
        return default_threads()
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise ShapeError(f"`threads` must be a positive integer, got {threads!r}")
    return int(threads)


def _check_strategy(strategy: str) -> str:
    from .strategies import STRATEGIES

    if not isinstance(strategy, str) or strategy.lower() not in ("auto", *STRATEGIES):
        known = ", ".join(("auto", *STRATEGIES))
        raise ShapeError(f"unknown `strategy` {strategy!r}; known: {known}")
    return strategy.lower()


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
    strategy: str = "auto",
    threads: int | None = None,
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
        Bytes of working memory (gathered input, patch matrix or spectra,
        and product of the tiles in flight, one per thread) not to exceed;
        256 MiB by default. The output itself is not counted.
    strategy : {"auto", "direct", "separable", "fft", "im2col"}, optional
        How each tile is computed (see :mod:`convcli.engine.strategies`); "auto"
        (default) picks the cheapest by a cost model. All give the same
        result up to rounding; "separable" needs kernels of rank 1.
    threads : int, optional
        Tiles computed at once; default ``CONVCLI_THREADS`` or the number of
        usable cores.

    Returns
    -------
    ndarray, shape (N, C_out, out_h, out_w) or (C_out, out_h, out_w)
        In the compute dtype; sizes from :func:`convcli.output_size`.

    Raises
    ------
    ShapeError
        For mismatched shapes or channels, out-of-range stride/dilation,
        non-finite weights, an unknown pad mode, a kernel larger than the
        padded input, an unknown strategy, a kernel of rank above 1 with
        ``strategy="separable"``, or a thread count (``threads`` or
        ``CONVCLI_THREADS``) that is not a positive integer.

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
    out = _run_tiles(
        x,
        weight,
        geo,
        int(groups),
        ct,
        pad_value,
        _check_budget(memory_budget),
        strategy,
        threads,
    )
    if bias is not None:
        out += bias.astype(ct).reshape(1, -1, 1, 1)
    return out[0] if squeeze else out


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
    strategy: str = "auto",
    threads: int | None = None,
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
    strategy : {"auto", "direct", "separable", "fft", "im2col"}, optional
        As for :func:`conv2d`. For a kernel of rank 1 (Gaussian, box,
        Sobel, ...) "auto" usually picks "separable": a column pass then a
        row pass inside each tile, ``kh + kw`` taps per pixel instead of
        ``kh * kw``; for a large kernel of higher rank, "fft".
    threads : int, optional
        As for :func:`conv2d`.

    Returns
    -------
    ndarray, shape (out_h, out_w) or (out_h, out_w, C)
        Raw filter responses in the compute dtype (not clipped or rounded).

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
    x = image[None] if image.ndim == 2 else np.moveaxis(image, -1, 0)  # (C, H, W) view
    budget = _check_budget(memory_budget)
    planes = x.size * ct.itemsize
    if (x.dtype != ct or not x.flags.c_contiguous) and planes <= budget // 2:
        # one conversion to contiguous float planes (counted in the budget) lets each
        # plane's interior rows be read in place instead of gathered tile by tile
        x = np.ascontiguousarray(x, dtype=ct)
        budget -= planes
    out = conv2d(
        x[:, None],
        kernel[None, None],
        stride=stride,
        padding=padding,
        dilation=dilation,
        pad_mode=pad_mode,
        pad_value=pad_value,
        dtype=ct,
        memory_budget=budget,
        strategy=strategy,
        threads=threads,
    )[:, 0]
    return out[0] if image.ndim == 2 else np.moveaxis(out, 0, -1)
