"""Recover a kernel from an input and its filtered output.

If ``Y = X ⋆ K (+ b)``, every output cell is a linear equation in the
kernel's weights: the window of X under it, dotted with K. Stacking the
windows as the rows of the im2col patch matrix ``A`` (one row per output
cell, one column per kernel tap, plus a column of ones for the bias) gives
the linear system ``A·k = y``, which :func:`learn_kernel` solves

* exactly in the least-squares sense (``method="lstsq"``, the default), or
* by plain gradient descent on the textbook's loss ``Σ (ŷ − y)²``
  (``method="gd"``), as a convolutional layer is trained.

The system is checked first: fewer equations than unknowns, or a patch
matrix without full column rank (a constant image, a pattern that never
changes along an axis), means that many kernels explain the output equally
well, and that is reported instead of an arbitrary answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..arithmetic.geometry import Geometry
from ..arithmetic.limits import DEFAULT_MEMORY_BUDGET, check_learn_unknowns, check_learn_work
from ..arithmetic.sizes import PaddingSpec, pair
from ..engine.arrays import as_numeric
from ..engine.convolution import normalize_pad_mode
from ..engine.tiling import check_budget
from ..errors import ParameterError, ShapeError
from .learn_system import (
    EARLY_CHECK_WORK,
    check_rank,
    factor_system,
    factor_work,
    lambda_max_floor,
)

__all__ = [
    "LEARN_METHODS",
    "LearnResult",
    "UnstableLearningRate",
    "learn_kernel",
    "stable_learning_rates",
    "target_geometry",
    "target_padding",
]

LEARN_METHODS = ("lstsq", "gd")


@dataclass(frozen=True)
class LearnResult:
    """A learned kernel and how well it explains the target.

    Attributes
    ----------
    kernel : numpy.ndarray
        (kh, kw) float64, in correlation form (or convolution form when
        learned with ``convolve=True``).
    bias : float or None
        The learned bias, None when it was not learned.
    loss : float
        Sum of squared errors ``Σ (ŷ − y)²`` over every target cell.
    mse : float
        The mean squared error, ``loss`` divided by the number of cells.
    history : list of float
        The loss before the first step and after each gradient step
        (``gd``); just the final loss for ``lstsq``.
    padding : ((int, int), (int, int))
        The (top, bottom), (left, right) padding the target was explained with.
    equations : int
        Number of equations (target cells) the kernel was fitted to.
    method : str
        ``"lstsq"`` or ``"gd"``.
    lr : float or None
        The learning rate gradient descent used (None for ``lstsq``).
    max_lr : float or None
        The rate it had to stay below (see :func:`stable_learning_rates`;
        None for ``lstsq``).
    """

    kernel: np.ndarray
    bias: float | None
    loss: float
    mse: float
    history: list[float] = field(default_factory=list)
    padding: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0))
    equations: int = 0
    method: str = "lstsq"
    lr: float | None = None
    max_lr: float | None = None


class UnstableLearningRate(ParameterError):
    """A gradient-descent learning rate at or above the stable bound, refused before any step.

    Attributes
    ----------
    lr : float
        The rate asked for.
    max_lr : float
        The bound it must stay below: ``2 / λmax`` of the loss's Hessian.
    lambda_max : float
        λmax, the largest eigenvalue of the Hessian ``2·AᵀA``.
    rows, unknowns : int
        The shape of the patch matrix A.
    """

    def __init__(
        self,
        lr: float,
        max_lr: float,
        lambda_max: float,
        rows: int,
        unknowns: int,
        *,
        bound: bool = False,
    ):
        self.lr = lr
        self.max_lr = max_lr
        self.lambda_max = lambda_max
        self.rows = rows
        self.unknowns = unknowns
        # bound: found before the factorisation, from λmax >= |A·1|²/n; the exact
        # stable bound is lower still
        below, equals = ("at most ", "≥") if bound else ("", "=")
        super().__init__(
            f"learning rate {lr:g} makes gradient descent diverge: it must stay below "
            f"{below}{max_lr:.6g} here (2/λmax, λmax {equals} {lambda_max:.6g} the largest "
            f"eigenvalue of the loss's Hessian 2·AᵀA, A the {rows}×{unknowns} patch matrix)"
        )


def stable_learning_rates(singular: np.ndarray) -> tuple[float, float]:
    """Compute the stable bound and the default rate of gradient descent on ``L = |Aw − y|²``.

    L's Hessian is ``H = 2·AᵀA``, whose eigenvalues are ``2·σᵢ²`` for the
    singular values σᵢ of the patch matrix A. A step ``w ← w − lr·∇L``
    multiplies the error along each eigenvector by ``1 − lr·2σᵢ²``, so it
    converges exactly when ``lr < 2/λmax(H) = 1/σmax²``. The default rate
    ``2/(λmin + λmax) = 1/(σmin² + σmax²)`` shrinks the slowest direction
    fastest (every direction by at most ``(κ − 1)/(κ + 1)``, κ = λmax/λmin).

    Parameters
    ----------
    singular : ndarray
        The singular values of A, largest first (all positive: full rank).

    Returns
    -------
    (float, float)
        ``(max_lr, default_lr)``.

    Examples
    --------
    >>> stable_learning_rates(np.sqrt([30.0, 6.0]))
    (0.03333333333333333, 0.027777777777777776)
    """
    top = float(singular[0]) ** 2
    low = float(singular[-1]) ** 2
    return 1.0 / top, 1.0 / (top + low)


def _as_planes(a: np.ndarray, name: str) -> np.ndarray:
    arr = as_numeric(a, name)  # an ArrayTypeError for strings, objects, ragged lists
    arr = arr.astype(np.float64, copy=False)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ShapeError(f"`{name}` must be (H, W) or (C, H, W), got shape {np.shape(a)}")
    if 0 in arr.shape:
        raise ShapeError(f"`{name}` is empty: shape {np.shape(a)}")
    if not np.all(np.isfinite(arr)):
        raise ShapeError(f"`{name}` holds NaN or infinite values")
    peak = max(float(arr.max()), -float(arr.min()))  # no |arr| copy: memory is budgeted
    if peak > _LARGEST:  # the normal equations hold sums of products of values
        role = {"x": "the input ", "y": "the target "}.get(name, "")
        raise ShapeError(
            f"{role}`{name}` holds values up to {peak:.3g}: their products overflow float64 "
            f"(the limit is {_LARGEST:.0e}); scale the data down"
        )
    return arr


#: the largest magnitude learn accepts: products of two values, summed over
#: many cells, stay far from float64's 1.8e308
_LARGEST = 1e150


def target_padding(
    input_size: Sequence[int],
    target_size: Sequence[int],
    kernel_size: Sequence[int],
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
    padding: PaddingSpec | None = None,
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Find the padding that makes ``kernel_size`` windows over the input give the target's size.

    The padding of :func:`target_geometry`, which see.

    Parameters
    ----------
    input_size, target_size, kernel_size : (int, int)
        (H, W) of the input, of the target and of the kernel.
    stride, dilation : int or (int, int)
        As for :func:`convcli.conv2d`.
    padding : padding spec, optional
        The padding to check. None chooses: ``"same"`` when the target has
        the input's size (``ceil(n / stride)``), ``"valid"`` otherwise.

    Returns
    -------
    ((int, int), (int, int))
        (top, bottom), (left, right).

    Raises
    ------
    ShapeError
        When the padding does not produce the target's size, with the
        formula's numbers.

    Examples
    --------
    >>> target_padding((6, 8), (6, 7), (1, 2))
    ((0, 0), (0, 0))
    >>> target_padding((8, 8), (8, 8), (3, 3))
    ((1, 1), (1, 1))
    """
    return target_geometry(input_size, target_size, kernel_size, stride, dilation, padding).padding


def target_geometry(
    input_size: Sequence[int],
    target_size: Sequence[int],
    kernel_size: Sequence[int],
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
    padding: PaddingSpec | None = None,
) -> Geometry:
    """Resolve once the geometry that turns the input into the target's size.

    Parameters and errors as for :func:`target_padding`.

    Examples
    --------
    >>> target_geometry((8, 8), (4, 4), (3, 3), stride=2).padding
    ((0, 1), (0, 1))
    """
    k = pair(kernel_size, "size")
    s = pair(stride, "stride")
    d = pair(dilation, "dilation")
    n = (int(input_size[0]), int(input_size[1]))
    t = (int(target_size[0]), int(target_size[1]))
    if padding is None:
        same = all(t[a] == -(-n[a] // s[a]) for a in (0, 1))
        padding = "same" if same else "valid"
    geo = Geometry.resolve(n, k, stride=s, padding=padding, dilation=d)
    try:
        got = geo.output_shape
    except ShapeError as exc:
        raise ShapeError(f"a {k[0]}×{k[1]} kernel does not fit the input: {exc}") from None
    if got != t:
        shown = padding if isinstance(padding, str) else f"{geo.padding}"
        raise ShapeError(
            f"a {k[0]}×{k[1]} kernel with padding {shown} and stride {s[0]}×{s[1]} turns the "
            f"{n[0]}×{n[1]} input into {got[0]}×{got[1]}, but the target is {t[0]}×{t[1]}: "
            f"no padding explains it (valid needs {n[0] - (k[0] - 1) * d[0]}×"
            f"{n[1] - (k[1] - 1) * d[1]} at stride 1; same needs the input's size)"
        )
    return geo


def learn_kernel(
    x: np.ndarray,
    y: np.ndarray,
    size: int | Sequence[int],
    *,
    method: str = "lstsq",
    bias: bool = False,
    convolve: bool = False,
    stride: int | Sequence[int] = 1,
    padding: PaddingSpec | None = None,
    dilation: int | Sequence[int] = 1,
    pad_mode: str = "reflect",
    steps: int = 10,
    lr: float | None = None,
    seed: int = 0,
    init: np.ndarray | None = None,
    callback: Callable[[int, float, np.ndarray], None] | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> LearnResult:
    """Find the kernel K (and bias b) with ``y ≈ x ⋆ K + b``.

    Parameters
    ----------
    x : ndarray, shape (H, W) or (C, H, W)
        The input. Channels are independent samples of one kernel (a colour
        photo and its per-channel filtered output give three times the
        equations).
    y : ndarray, shape (H', W') or (C, H', W')
        The output: smaller than ``x`` (valid correlation) or its size
        (``same`` padding), or whatever ``padding`` and ``stride`` give.
    size : int or (int, int)
        The kernel's (kh, kw).
    method : {"lstsq", "gd"}
        ``lstsq``: the exact least-squares solution. ``gd``: ``steps`` steps
        of gradient descent ``w ← w − lr·∇L`` on ``L = Σ (ŷ − y)²``,
        starting from ``init`` or from standard normal weights drawn with
        ``seed`` (bias from 0).
    bias : bool
        Learn a constant added to every output cell too.
    convolve : bool
        Return the kernel in convolution form (flipped), the one to use with
        ``convolve=True``.
    stride, dilation : int or (int, int)
        The geometry the target was made with.
    padding : padding spec, optional
        How the target was padded; None: ``same`` when the target has the
        input's size, ``valid`` otherwise (see :func:`target_padding`).
    pad_mode : str
        How that padding was filled: ``reflect`` by default, as
        ``convcli filter`` does.
    lr : float, optional
        Gradient descent's learning rate. It must be below ``2/λmax`` of the
        loss's Hessian ``2·AᵀA`` (see :func:`stable_learning_rates`), checked
        before the first step; None (the default) takes ``2/(λmin + λmax)``,
        the fastest fixed rate.
    steps, seed, init
        Gradient descent only.
    callback : callable, optional
        ``callback(step, loss, weights)`` after every gradient step, for
        progress displays; ``weights`` is the flat vector (bias last).
    memory_budget : int
        Bytes of working memory: the patch matrix is folded in a band of
        target rows at a time (a QR update of the ``(n + 1)²`` factor of the
        normal equations), so memory does not grow with the image; the
        unknowns ``n`` are bounded by :func:`convcli.arithmetic.limits.check_learn_unknowns`.

    Returns
    -------
    LearnResult

    Raises
    ------
    ShapeError
        Shapes that do not fit, a target size no padding explains, fewer
        equations than unknowns, or a patch matrix without full rank (e.g. a
        constant input).
    ParameterError
        An unknown ``method``, a bad ``steps`` or ``lr``, or gradient descent
        diverging.
    LimitError
        (a ParameterError) A kernel with more unknowns than the resource
        policy allows, before anything is allocated.
    UnstableLearningRate
        (a ParameterError) An ``lr`` at or above the stable bound, before any
        step, with the bound and how it was computed.

    Examples
    --------
    >>> x = np.ones((6, 8)); x[:, 2:6] = 0
    >>> y = x[:, :-1] - x[:, 1:]
    >>> learn_kernel(x, y, (1, 2)).kernel.round(6).tolist()
    [[1.0, -1.0]]
    """
    if method not in LEARN_METHODS:
        raise ParameterError(f"unknown `method` {method!r}; known: {', '.join(LEARN_METHODS)}")
    xs = _as_planes(x, "x")
    ys = _as_planes(y, "y")
    if xs.shape[0] != ys.shape[0]:
        raise ShapeError(
            f"input has {xs.shape[0]} channel(s) {np.shape(x)} but the target has "
            f"{ys.shape[0]} {np.shape(y)}: they must match"
        )
    k = pair(size, "size")
    pad_mode = normalize_pad_mode(pad_mode)
    geo = target_geometry(xs.shape[-2:], ys.shape[-2:], k, stride, dilation, padding)
    n = k[0] * k[1] + int(bias)
    check_learn_unknowns(n, f"`size` {k[0]}×{k[1]}{' with bias' if bias else ''}")
    budget = check_budget(memory_budget)
    rows = ys.size
    if rows < n:
        raise ShapeError(
            f"ill-posed: {rows} equations (target cells) for {n} unknowns ({k[0]}×{k[1]} "
            f"weights{' + bias' if bias else ''}); use a larger input or a smaller --size"
        )
    work = factor_work(xs.shape[0], geo, n, budget)
    check_learn_work(work, f"`size` {k[0]}×{k[1]} on {xs.shape[0]}×{xs.shape[1]}×{xs.shape[2]}")
    if method == "gd" and work > EARLY_CHECK_WORK and lr is not None and np.isfinite(lr) and lr > 0:
        # a factorisation of seconds or more: refused before it when even a lower
        # bound of λmax rules the rate out (the exact bound comes from the factor)
        floor = lambda_max_floor(xs, geo, pad_mode, bias, budget)
        if floor > 0 and lr >= 1.0 / floor:
            raise UnstableLearningRate(float(lr), 1.0 / floor, 2.0 * floor, rows, n, bound=True)
    system = factor_system(xs, ys, geo, pad_mode, bias, budget)
    singular = check_rank(system, k, bias)
    loss_of = system.loss

    max_lr = None
    w: np.ndarray
    if method == "lstsq":
        w = np.linalg.lstsq(system.r, system.qb, rcond=None)[0]
        history = [loss_of(w)]
        lr = None
    else:
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
            raise ParameterError(f"`steps` must be a positive integer, got {steps!r}")
        max_lr, default_lr = stable_learning_rates(singular)
        if lr is None:
            lr = default_lr
        if not (np.isfinite(lr) and lr > 0):
            raise ParameterError(f"`lr` must be a positive number, got {lr!r}")
        if lr >= max_lr:
            raise UnstableLearningRate(float(lr), max_lr, 2.0 * float(singular[0]) ** 2, rows, n)
        if init is not None:
            w = np.array(init, dtype=np.float64).reshape(-1)
            if bias and w.size == n - 1:
                w = np.append(w, 0.0)
            if w.size != n:
                raise ShapeError(f"`init` must hold {n} values, got {w.size}")
        else:
            w = np.asarray(np.random.default_rng(seed).standard_normal(n), dtype=np.float64)
            if bias:
                w[-1] = 0.0
        history = [loss_of(w)]
        # L(w) = |Aw − y|² has gradient 2Aᵀ(Aw − y); lr < max_lr keeps it stable
        for step in range(1, int(steps) + 1):
            w = w - lr * system.gradient(w)
            current = loss_of(w)
            if not np.isfinite(current) or current > 1e300:
                raise ParameterError(
                    f"gradient descent diverged at step {step} (loss {current:.3g}): "
                    f"learning rate {lr:g} is too large; it must stay below {max_lr:.6g} here"
                )
            history.append(current)
            if callback is not None:
                callback(step, current, w.copy())
    weights = w[: k[0] * k[1]].reshape(k)
    if convolve:
        weights = weights[::-1, ::-1]
    loss = history[-1]
    return LearnResult(
        kernel=np.ascontiguousarray(weights),
        bias=float(w[-1]) if bias else None,
        loss=loss,
        mse=loss / rows,
        history=history,
        padding=geo.padding,
        equations=int(rows),
        method=method,
        lr=None if lr is None else float(lr),
        max_lr=max_lr,
    )
