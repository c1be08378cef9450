"""Separable kernels as two 1-D passes over the whole image: ``filter2d_separable``.

A separable kernel ``outer(column, row)`` of ``kh x kw`` taps need never be
built: filtering with it is a pass of ``column`` down the rows, then a pass
of ``row`` along them (as ``scipy.ndimage.uniform_filter`` and
``gaussian_filter`` do, one axis at a time). What such a call holds and does
is counted from the factors, not from ``kh * kw``:

memory
    the factors (``kh + kw`` numbers), the output (whose buffer also holds
    the intermediate image of the first pass) and, within ``memory_budget``,
    a chunk of padded lines at a time with its scratch
    (:data:`LINE_BYTES` bytes a padded cell); at least one line, whose
    length the padded-axis limit bounds (``--max-pixels``, in Python
    :func:`~convcli.arithmetic.limits.output_pixel_limit`).
work
    per output cell and pass, whichever is cheapest: a running sum for a box
    factor (every tap equal, undilated; its cost does not grow with its
    length), one multiply-add per nonzero tap, or an FFT of the padded line
    (``O(L log L)`` for a line of ``L`` padded cells).

So ``box:20001`` or ``gaussian:sigma=1000`` on a photo costs a few passes
over it, where the 2-D kernel would take gigabytes. A kernel small beside
the image goes to :func:`convcli.filter2d` (its tiles and cost model)
unchanged: see :func:`use_passes`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..arithmetic.geometry import Geometry
from ..arithmetic.limits import check_allocation, check_kernel_taps, check_output_pixels
from ..arithmetic.sizes import PaddingSpec, pair
from ..errors import LimitError, ShapeError
from .arrays import as_numeric, check_finite, check_magnitude, check_pad_value, compute_dtype
from .padding import index_map, normalize_pad_mode
from .strategies import check_strategy
from .threads import check_threads
from .tiling import DEFAULT_MEMORY_BUDGET, check_budget

__all__ = ["LINE_BYTES", "PASSES_HALO", "filter2d_separable", "pass_cost", "use_passes"]

#: The passes run when the padded image has more than this many times the cells of
#: the image: tiles would then spend most of their work on the halo. Below it the
#: 2-D kernel goes to ``filter2d`` (its tiles, the native core, its cost model),
#: which won on 1500x2000 float32 up to a box of 2049 or a Gaussian of sigma 128
#: (halo 4.8 and 2.5; benchmarks/bench_passes.py).
PASSES_HALO = 4
#: Bytes of scratch per padded cell of a line in flight: the line in float64, its
#: spectrum (complex128) or prefix sums, the inverse and the result, with room.
LINE_BYTES = 48
# per cell of a padded line: one FFT costs about this many multiply-adds per log2(L)
_FFT_WORK = 4.0


def use_passes(size: Sequence[int], spans: Sequence[int], taps: int, budget: int) -> bool:
    """Whether a separable kernel runs as passes rather than as a 2-D kernel in tiles.

    When its 2-D weights (``taps`` float64, as built) would take more than a
    quarter of the ``budget``, or when padding the ``size`` image by the
    kernel's ``spans`` multiplies its cells by more than :data:`PASSES_HALO`.

    Examples
    --------
    >>> use_passes((1500, 2000), (1025, 1025), 1025**2, 2**28)  # halo 2.5: tiles
    False
    >>> use_passes((300, 400), (1025, 1025), 1025**2, 2**28)  # halo 15: passes
    True
    >>> use_passes((20000, 20000), (6001, 6001), 6001**2, 2**28)  # 288 MB of weights
    True
    """
    (h, w), (sh, sw) = size, spans
    return 8 * taps > budget // 4 or (h + sh - 1) * (w + sw - 1) > PASSES_HALO * h * w


def _factor(values: object, name: str) -> np.ndarray:
    """``values`` as a finite, non-empty 1-D float64 array."""
    arr = np.asarray(as_numeric(values, name), dtype=np.float64)
    if arr.ndim != 1:
        raise ShapeError(f"`{name}` must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ShapeError(f"`{name}` is empty")
    check_kernel_taps(arr.size, 1, f"`{name}`")
    check_finite(arr, name)
    return arr


def _is_box(f: np.ndarray, dilation: int) -> bool:
    return dilation == 1 and f[0] != 0 and bool(np.all(f == f[0]))


def pass_cost(f: np.ndarray, dilation: int, length: int, n_out: int) -> str:
    """How one pass runs: "box" (a running sum), "taps" (multiply-adds) or "fft".

    By the work per line: ``n_out`` outputs times the nonzero taps, against an
    FFT of the ``length`` padded cells (or its next fast length).

    Examples
    --------
    >>> pass_cost(np.full(20001, 1 / 20001), 1, 20300, 300)
    'box'
    >>> pass_cost(np.array([1.0, 2.0, 1.0]), 1, 302, 300)
    'taps'
    >>> pass_cost(np.exp(-np.linspace(-4, 4, 8001) ** 2), 1, 8300, 300)
    'fft'
    """
    if _is_box(f, dilation):
        return "box"
    taps = np.count_nonzero(f) * n_out
    fft = _FFT_WORK * length * max(math.log2(max(length, 2)), 1.0)
    return "fft" if taps > fft else "taps"


def _correlate_lines(
    lines: np.ndarray, f: np.ndarray, dilation: int, stride: int, n_out: int, how: str, workers: int
) -> np.ndarray:
    """``out[t] = sum_i f[i] * lines[t*stride + i*dilation]`` along axis 0, in float64."""
    span = (f.size - 1) * dilation + 1
    last = (n_out - 1) * stride + 1  # positions of the kept outputs: ::stride below last
    if how == "box":
        sums = np.empty((lines.shape[0] + 1, *lines.shape[1:]))
        sums[0] = 0
        np.cumsum(lines, axis=0, out=sums[1:])
        return f[0] * (sums[span : span + last : stride] - sums[:last:stride])
    if how == "taps":
        out = np.zeros((n_out, *lines.shape[1:]))
        for i in np.flatnonzero(f).tolist():
            start = i * dilation
            out += f[i] * lines[start : start + last : stride]
        return out
    import scipy.fft as sfft

    size = sfft.next_fast_len(lines.shape[0], real=True)
    taps = np.zeros(span)
    taps[::dilation] = f
    spectrum = sfft.rfft(lines, n=size, axis=0, workers=workers)
    spectrum *= np.conj(sfft.rfft(taps, n=size)).reshape(-1, *(1,) * (lines.ndim - 1))
    full = sfft.irfft(spectrum, n=size, axis=0, workers=workers)
    return full[:last:stride]


def _chunk(length: int, budget: int, what: str) -> int:
    """Lines of ``length`` padded cells one step may hold within ``budget`` (at least one).

    One line longer than the budget allows is still run, alone, if this machine
    can hold it: its length is bounded by the padded-axis limit (``--max-pixels``).
    """
    need = LINE_BYTES * length
    if need > budget:
        check_allocation(need, what, "use a smaller kernel, padding or dilation")
    return max(1, budget // need)


def _pass(
    src: np.ndarray,
    dest: np.ndarray,
    index: np.ndarray,
    f: np.ndarray,
    geo: tuple[int, int, int],
    pad_value: float,
    budget: int,
    workers: int,
) -> None:
    """One 1-D pass along axis 1 of ``src`` (C, L_in, M) into ``dest`` (C, n_out, M).

    ``index`` maps each padded position to a row of ``src`` (-1: ``pad_value``);
    ``geo`` is (dilation, stride, n_out). ``dest`` may share memory with ``src``
    when every chunk is read before it is written (see the caller).
    """
    dilation, stride, n_out = geo
    how = pass_cost(f, dilation, index.size, n_out)
    step = _chunk(index.size, budget, f"a {f.size}-tap pass over {index.size} padded cells")
    outside = index < 0
    rows = np.maximum(index, 0)
    for c in range(src.shape[0]):
        for m0 in range(0, src.shape[2], step):
            m1 = min(m0 + step, src.shape[2])
            lines = np.asarray(src[c, :, m0:m1][rows], dtype=np.float64)
            if outside.any():
                lines[outside] = pad_value
            res = _correlate_lines(lines, f, dilation, stride, n_out, how, workers)
            dest[c, :, m0:m1] = res


def filter2d_separable(
    image: np.ndarray,
    column: object,
    row: object,
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
    """Filter an image with the separable kernel ``outer(column, row)``, never built whole.

    The same result as ``filter2d(image, np.outer(column, row), ...)`` up to
    rounding (every parameter means what it means there), at the cost of
    the factors: a ``box`` factor of any length is a running sum, others
    are multiply-adds or an FFT of each padded line, whichever is cheaper
    (see the module docstring). Unless :func:`use_passes` says the passes
    pay, the kernel is built and handed to :func:`convcli.filter2d`.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
        Any real dtype.
    column, row : 1-D array_like
        The factors: the kernel's column (``kh`` taps, down the rows) and row
        (``kw`` taps, along them), in correlation form.
    strategy : {"auto", "separable", "direct", "fft", "im2col", "native"}, optional
        "auto" and "separable" run the passes; the others need the 2-D
        kernel, and are refused (a LimitError) when it would not fit in
        ``memory_budget``.

    Returns
    -------
    ndarray, shape (out_h, out_w) or (out_h, out_w, C)
        Raw responses in the compute dtype.

    Examples
    --------
    >>> img = np.arange(12.0).reshape(3, 4)
    >>> filter2d_separable(img, [1.0, 1.0, 1.0], [1.0], padding="valid")
    array([[12., 15., 18., 21.]])
    """
    image = as_numeric(image, "image")
    col, rw = _factor(column, "column"), _factor(row, "row")
    if image.ndim not in (2, 3):
        raise ShapeError(f"`image` must have shape (H, W) or (H, W, C), got shape {image.shape}")
    if 0 in image.shape[:2]:
        raise ShapeError(f"`image` is empty: shape {image.shape}")
    if convolve:
        col, rw = col[::-1], rw[::-1]
    name = check_strategy(strategy)
    budget = check_budget(memory_budget)
    workers = check_threads(threads)
    ct = compute_dtype(image.dtype, dtype)
    pad_value = check_pad_value(pad_value)
    total = float(np.abs(col).sum()) * float(np.abs(rw).sum())  # |outer| sums to this
    check_magnitude(image, np.full((1, 1, 1, 1), total), ct, "image", pad_value, workers)
    dh, dw = pair(dilation, "dilation")
    spans = ((col.size - 1) * dh + 1, (rw.size - 1) * dw + 1)
    dense = col.size * rw.size * ct.itemsize
    passes = use_passes(image.shape[:2], spans, col.size * rw.size, budget)
    if (name in ("auto", "separable") and not passes) or (
        name not in ("auto", "separable") and 2 * dense <= budget
    ):
        from .convolution import filter2d

        return filter2d(
            image,
            np.outer(col, rw),
            stride,
            padding,
            dilation,
            pad_mode,
            pad_value=pad_value,
            dtype=ct,
            memory_budget=budget,
            strategy=strategy,
            threads=threads,
        )
    if name not in ("auto", "separable"):
        raise LimitError(
            f"strategy {name!r} needs the whole {col.size}×{rw.size} kernel "
            f"({dense / 2**20:.1f} MiB of {ct}), more than the memory budget of "
            f"{budget / 2**20:.1f} MiB: use strategy 'auto' or 'separable' (--strategy), "
            "which run it as two 1-D passes"
        )
    return _passes(
        image, col, rw, (stride, padding, dilation, pad_mode), pad_value, ct, budget, workers
    )


def _passes(
    image: np.ndarray,
    col: np.ndarray,
    rw: np.ndarray,
    geometry: tuple[int | Sequence[int], PaddingSpec, int | Sequence[int], str],
    pad_value: float,
    ct: np.dtype,
    budget: int,
    workers: int,
) -> np.ndarray:
    """Run the two passes; ``geometry`` is (stride, padding, dilation, pad_mode)."""
    stride, padding, dilation, pad_mode = geometry
    mode = normalize_pad_mode(pad_mode)
    geo = Geometry.resolve(
        image.shape[:2],
        (col.size, rw.size),
        stride=pair(stride, "stride"),
        padding=padding,
        dilation=pair(dilation, "dilation"),
    )
    oh, ow = geo.output_shape
    check_output_pixels(oh, ow, "padding, stride and dilation")
    rows = index_map(image.shape[0], *geo.padding[0], mode)
    cols = index_map(image.shape[1], *geo.padding[1], mode)
    x = image[None] if image.ndim == 2 else np.moveaxis(image, -1, 0)  # (C, H, W)
    c, w = x.shape[0], x.shape[2]
    # one buffer holds the first pass's (C, oh, W) and the result (C, oh, ow)
    # (channel by channel, a band of rows at a time, the second pass reads a band whole
    # before writing it: results of channel k's rows [a, b) land below where its mid row
    # b starts when ow <= W, going up, or at or above where its row a starts, going down)
    buf = np.empty(c * oh * max(w, ow), dtype=ct)
    mid = buf[: c * oh * w].reshape(c, oh, w)
    (sh, sw), (dh, dw) = geo.stride, geo.dilation
    _pass(x, mid, rows, col, (dh, sh, oh), pad_value, budget, workers)
    out = buf[: c * oh * ow].reshape(c, oh, ow)
    # outside the image, every padded column of the first pass's result is the
    # constant times the column's sum (other modes: the index map repeats columns)
    edge = pad_value * float(col.sum()) if mode == "zeros" else 0.0
    step = _chunk(cols.size, budget, f"a {rw.size}-tap pass over {cols.size} padded cells")
    bands = [(k, r0) for k in range(c) for r0 in range(0, oh, step)]
    for k, r0 in bands if ow <= w else reversed(bands):
        r1 = min(r0 + step, oh)
        band = np.array(mid[k : k + 1, r0:r1].transpose(0, 2, 1))  # (1, W, rows): read whole
        res = np.empty((1, ow, r1 - r0))
        _pass(band, res, cols, rw, (dw, sw, ow), edge, budget, workers)
        out[k, r0:r1] = res[0].T
    return out[0] if image.ndim == 2 else np.moveaxis(out, 0, -1)
