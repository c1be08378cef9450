"""The convolution API: ``conv2d``, ``filter2d`` and ``im2col``.

Arrays in, arrays out (numpy; scipy for BLAS wrappers and FFTs). Every
output size comes from :mod:`convcli.arithmetic.sizes`, through one
:class:`convcli.arithmetic.geometry.Geometry` resolved per call.

How a call runs
---------------
1. The output is cut into tiles (bands of rows, and columns if a row is
   too big) sized so the working memory of the tiles in flight, one per
   thread, stays below ``memory_budget`` bytes (:mod:`convcli.engine.tiling`).
2. For each tile, the input cells it needs (the tile plus its halo) are
   gathered through precomputed index maps that implement the pad mode
   (:mod:`convcli.engine.padding`), so the padded image is never built in
   full, and an integer image is converted to floating point one tile at a
   time. For a float plane filtered with stride 1, rows whose windows lie
   inside the image skip this step: they are read in place, and only their
   border columns are gathered.
3. A strategy from :mod:`convcli.engine.strategies` computes the tile: ``direct``
   (shift and accumulate), ``separable`` (two 1-D passes), ``fft``
   (overlap-save) or ``im2col`` (a patch matrix and one matrix product),
   or the C core (``native``, :mod:`convcli.engine.native`: bands of output
   rows read straight from the input through the index maps, no tiles),
   picked by the cost model of :mod:`convcli.engine.costs` unless
   ``strategy=`` names one.
   When the dilated span makes even a one-pixel tile's block overrun the
   budget, the call runs tap by tap instead (:mod:`convcli.engine.sparse`).
4. Tiles run on ``threads`` threads (:mod:`convcli.engine.threads`; numpy,
   ``np.matmul`` and scipy.fft release the GIL; the strategies that call
   scipy's BLAS wrappers run on one thread, as those hold it). While they
   run, BLAS is held to one thread, so a call never uses more cores than
   ``threads`` (see :func:`convcli.engine.tilerun.blas_threads` for why BLAS's
   own threads lose here). :mod:`convcli.engine.tilerun` runs these steps.

Pad modes are described in :mod:`convcli.engine.padding`; ``PAD_MODES``,
``normalize_pad_mode``, ``pad`` and ``compute_dtype`` are importable from
here too.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..arithmetic.geometry import Geometry
from ..arithmetic.limits import check_allocation, check_output_pixels, check_weights_fit
from ..arithmetic.sizes import PaddingSpec, pair
from ..errors import ShapeError
from . import costs
from .arrays import (
    as_numeric,
    check_finite,
    check_magnitude,
    check_pad_value,
    compute_dtype,
)
from .padding import PAD_MODE_ALIASES, PAD_MODES, gather, normalize_pad_mode, pad
from .threads import check_threads
from .tilerun import call_budget, run_tiles
from .tiling import (
    DEFAULT_MEMORY_BUDGET,
    Problem,
    Tiling,
    check_budget,
)

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "PAD_MODES",
    "PAD_MODE_ALIASES",
    "FilterCall",
    "check_filter_call",
    "compute_dtype",
    "conv2d",
    "filter2d",
    "im2col",
    "native_reads_pixels",
    "normalize_pad_mode",
    "pad",
]


def resolve_tiling(
    size: Sequence[int],
    kernel: Sequence[int],
    stride: int | Sequence[int],
    padding: PaddingSpec,
    dilation: int | Sequence[int],
    pad_mode: str,
) -> Tiling:
    """Resolve one call's geometry (once) and its pad mode's index maps."""
    stride, dilation = pair(stride, "stride"), pair(dilation, "dilation")
    mode = normalize_pad_mode(pad_mode)
    geometry = Geometry.resolve(size, kernel, stride=stride, padding=padding, dilation=dilation)
    check_output_pixels(*geometry.output_shape, "padding, stride and dilation")
    return Tiling(geometry, mode)


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
    x = as_numeric(x, "x")
    if x.ndim != 4:
        raise ShapeError(f"`x` must have shape (N, C, H, W), got shape {x.shape}")
    kernel = pair(kernel_size, "kernel_size")
    geo = resolve_tiling(x.shape[-2:], kernel, stride, padding, dilation, pad_mode)
    n, c = x.shape[:2]
    oh, ow = geo.out
    # the padded block, then the patch matrix: both whole, so both must fit
    need = n * c * (len(geo.rows) * len(geo.cols) + kernel[0] * kernel[1] * oh * ow)
    check_allocation(
        need * x.dtype.itemsize,
        f"im2col of a {tuple(x.shape)} {x.dtype} input with a {kernel[0]}×{kernel[1]} kernel",
        "conv2d and filter2d build it tile by tile",
    )
    block = gather(x, geo.rows, geo.cols, x.dtype, pad_value)
    win = geo.windows(block)  # (N, C, oh, ow, kh, kw)
    return win.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * kernel[0] * kernel[1], oh * ow)


def native_reads_pixels(call: FilterCall, strategy: str) -> bool:
    """Tell whether the native core will filter ``call``'s planes of pixels as they are.

    uint8 or uint16 planes, converted as the core gathers each row (no float
    copy is made): when ``strategy`` is "native", or "auto" and the cost model
    picks the core.
    """
    from . import native

    if not native.reads_pixels(call.planes.dtype) or not isinstance(strategy, str):
        return False
    if strategy.lower() not in ("auto", "native") or native.module() is None:
        return False
    if strategy.lower() == "native":
        return True
    planes, kernel = call.planes, call.kernel[None, None]
    problem = Problem.of(call.geo.geometry, planes.shape[0], 1, 1, 1)
    budget = call_budget(call.budget, kernel, call.geo)
    picked = costs.choose_strategy(
        problem, kernel, call.dtype, budget, call.threads, planes.dtype.itemsize
    )
    return picked == "native"


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
        256 MiB by default. The output itself is not counted; the weights
        (in the compute dtype) are, and must fit in it.
    strategy : {"auto", "direct", "separable", "fft", "im2col", "native"}, optional
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
        non-finite weights, an unknown pad mode, or a kernel larger than the
        padded input.
    ParameterError
        For an unknown strategy, a kernel of rank above 1 with
        ``strategy="separable"``, a memory budget that is not a positive
        integer, or a thread count (``threads`` or ``CONVCLI_THREADS``) that
        is not a positive integer.
    LimitError
        (a ParameterError) When the weights alone take more than
        ``memory_budget``, or a dilated span's one-pixel tile would.

    Examples
    --------
    >>> x = np.arange(9.0).reshape(1, 3, 3)
    >>> w = np.arange(4.0).reshape(1, 1, 2, 2)
    >>> conv2d(x, w)[0]
    array([[19., 25.],
           [37., 43.]])
    """
    x = as_numeric(x, "x")
    weight = as_numeric(weight, "weight")
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
    check_finite(weight, "weight")
    ct = compute_dtype(x.dtype, dtype)
    pad_value = check_pad_value(pad_value)
    check_magnitude(x, weight, ct, pad_value=pad_value)  # NaN would spread through an FFT tile
    if bias is not None:
        bias = as_numeric(bias, "bias")
        if bias.shape != (c_out,):
            raise ShapeError(f"`bias` must have shape ({c_out},), got shape {bias.shape}")
        check_finite(bias, "bias")
    geo = resolve_tiling(x.shape[-2:], weight.shape[-2:], stride, padding, dilation, pad_mode)
    out = run_tiles(
        x,
        weight,
        geo,
        int(groups),
        ct,
        pad_value,
        check_budget(memory_budget),
        strategy,
        threads,
    )
    if bias is not None:
        out += bias.astype(ct).reshape(1, -1, 1, 1)
    return out[0] if squeeze else out


@dataclass(frozen=True)
class FilterCall:
    """One :func:`filter2d` call's arguments, checked.

    ``kernel`` is in correlation form; ``planes`` is the image as (C, H, W)
    (a view); ``budget`` the memory budget and ``threads`` the thread count,
    both checked.
    """

    image: np.ndarray
    kernel: np.ndarray
    dtype: np.dtype
    pad_value: float
    planes: np.ndarray
    geo: Tiling
    budget: int
    threads: int


def check_filter_call(
    image: np.ndarray,
    kernel: np.ndarray,
    geometry: tuple[int | Sequence[int], PaddingSpec, int | Sequence[int], str],
    convolve: bool,
    dtype: np.dtype | str | None,
    pad_value: float,
    memory_budget: int,
    threads: int | None,
) -> FilterCall:
    """Check :func:`filter2d`'s arguments (``geometry``: stride, padding, dilation, pad mode).

    Raises ShapeError, ArrayTypeError, ParameterError or LimitError as
    :func:`filter2d` documents; the image's values are not read here.
    """
    image = as_numeric(image, "image")
    kernel = as_numeric(kernel, "kernel")
    if image.ndim not in (2, 3):
        raise ShapeError(f"`image` must have shape (H, W) or (H, W, C), got shape {image.shape}")
    if kernel.ndim != 2:
        raise ShapeError(f"`kernel` must be 2-D (kh, kw), got shape {kernel.shape}")
    if kernel.size == 0:
        raise ShapeError(f"`kernel` is empty: shape {kernel.shape}")
    if convolve:
        kernel = kernel[::-1, ::-1]
    if 0 in image.shape[:2]:
        raise ShapeError(f"`image` is empty: shape {image.shape}")
    ct = compute_dtype(image.dtype, dtype)
    check_finite(kernel, "kernel")
    pad_value = check_pad_value(pad_value)
    workers = check_threads(threads)
    budget = check_budget(memory_budget)
    check_weights_fit(
        kernel.size * ct.itemsize, budget, f"{kernel.shape[0]}x{kernel.shape[1]} {ct}"
    )
    planes = image[None] if image.ndim == 2 else np.moveaxis(image, -1, 0)  # (C, H, W) view
    stride, padding, dilation, pad_mode = geometry
    geo = resolve_tiling(planes.shape[-2:], kernel.shape, stride, padding, dilation, pad_mode)
    return FilterCall(image, kernel, ct, pad_value, planes, geo, budget, workers)


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
    strategy : {"auto", "direct", "separable", "fft", "im2col", "native"}, optional
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
    call = check_filter_call(
        image,
        kernel,
        (stride, padding, dilation, pad_mode),
        convolve,
        dtype,
        pad_value,
        memory_budget,
        threads,
    )
    image, kernel, ct = call.image, call.kernel, call.dtype
    # the NaN and magnitude check: here for an image the native core would convert, else
    # once the strategy is known (the native core reads max|x| as it gathers each row)
    check = functools.partial(
        check_magnitude, image, kernel[None], ct, "image", call.pad_value, call.threads
    )
    if image.dtype != ct:
        check()
    x, budget = call.planes, call.budget
    planes = x.size * ct.itemsize
    if (
        (x.dtype != ct or not x.flags.c_contiguous)
        and planes <= (budget - kernel.size * ct.itemsize) // 2
        and not native_reads_pixels(call, strategy)
    ):
        # one conversion to contiguous float planes (counted in the budget) lets each
        # plane's interior rows be read in place instead of gathered tile by tile
        x = np.ascontiguousarray(x, dtype=ct)
        budget -= planes
    out = run_tiles(
        x[:, None],
        kernel[None, None],
        call.geo,
        1,
        ct,
        call.pad_value,
        budget,
        strategy,
        call.threads,
        None if image.dtype != ct else check,
    )[:, 0]
    return out[0] if image.ndim == 2 else np.moveaxis(out, 0, -1)
