"""Named kernels with their provenance, and the parsers for user kernels.

Every kernel is written in **correlation form** (see CONVENTIONS.md): the
array you would hand to ``cv2.filter2D`` or ``torch.conv2d`` to get the
stated sign. A kernel of even size is anchored at index ``(k - 1) // 2``,
the cell that ``same`` padding centres (the extra row or column lies
below / to the right).

Four ways to get a :class:`Kernel`:

* :func:`get_kernel` builds a built-in from a spec such as ``"gaussian:size=7"``;
* :func:`parse_kernel` reads an inline matrix (``"1,0,-1;2,0,-2;1,0,-1"``,
  ``"[[1,-1]]"`` or ImageMagick's ``"3x3: ..."``);
* :func:`load_kernel` reads a file (text/CSV, ``.npy``, ``.json``, libvips ``.mat``);
* :func:`resolve_kernel` picks one of the three, as ``--kernel`` does.

Applying a kernel is the engine's job (:func:`convcli.filter2d`); this module
only says what the kernel is (its weights, whether it sums to zero, whether
it separates, whether it is a gradient magnitude of two parts).
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import KernelError

__all__ = [
    "KERNELS",
    "Kernel",
    "KernelFactory",
    "Param",
    "format_kernel_text",
    "get_kernel",
    "kernel_names",
    "load_kernel",
    "parse_kernel",
    "resolve_kernel",
]

#: Relative tolerance of :attr:`Kernel.is_zero_sum` (against the sum of |w|).
ZERO_SUM_RTOL = 1e-9
#: Relative tolerance of :attr:`Kernel.is_separable` (second singular value
#: against the first).
SEPARABLE_RTOL = 1e-10


# --------------------------------------------------------------------------
# The Kernel value
# --------------------------------------------------------------------------


def _as_weights(values: Any, what: str = "kernel") -> np.ndarray:
    """Return ``values`` as a read-only, finite, non-empty 2-D float64 array."""
    try:
        arr = np.array(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise KernelError(f"{what} is not an array of numbers: {exc}") from None
    if arr.ndim != 2:
        raise KernelError(f"{what} must be 2-D, got {arr.ndim}-D of shape {arr.shape}")
    if arr.size == 0:
        raise KernelError(f"empty {what}: shape {arr.shape}")
    _check_finite(arr, what)
    arr.setflags(write=False)
    return arr


def _check_finite(arr: np.ndarray, what: str) -> None:
    """Raise a KernelError naming the first NaN or infinite cell of ``arr``."""
    bad = np.argwhere(~np.isfinite(arr))
    if bad.size:
        r, c = (int(i) + 1 for i in bad[0])
        raise KernelError(
            f"{what}: row {r}, column {c} is {arr[r - 1, c - 1]}; kernel values must be finite"
        )


@dataclass(frozen=True, eq=False)
class Kernel:
    """A 2-D filter kernel in correlation form, with its provenance.

    Parameters
    ----------
    name : str
        Short name: the built-in's name (``"gaussian"``), a file's stem, or
        ``"inline"``.
    weights : numpy.ndarray
        2-D float64 weights in correlation form (read-only). For a gradient
        magnitude (``sobel``, ``scharr``, ``prewitt``) this is the x part,
        ``parts[0]``, so that :attr:`shape` and friends still describe it.
    description : str
        One line saying what the kernel does.
    source : str
        Where its values come from and which convention they follow.
    parts : tuple of numpy.ndarray, optional
        For ``combine="magnitude"``: the pair ``(gx, gy)``; the filter is
        ``sqrt((image ⋆ gx)² + (image ⋆ gy)²)``, not a single correlation.
    combine : {"magnitude"}, optional
        How ``parts`` combine; ``None`` for an ordinary (linear) kernel.
    offset : float
        A constant added after the weighted sum (libvips' ``offset``);
        0 for everything but user files that set one.
    params : Mapping
        The parameters a built-in was made with, after defaults were resolved.

    Examples
    --------
    >>> k = Kernel("diff", [[1.0, -1.0]])
    >>> k.shape, k.is_zero_sum, k.is_separable
    ((1, 2), True, True)
    """

    name: str
    weights: np.ndarray
    description: str = ""
    source: str = ""
    parts: tuple[np.ndarray, np.ndarray] | None = None
    combine: str | None = None
    offset: float = 0.0
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "weights", _as_weights(self.weights, f"kernel {self.name!r}"))
        if (self.parts is None) != (self.combine is None):
            raise KernelError("`parts` and `combine` must be given together")
        if self.parts is not None:
            if self.combine != "magnitude":
                raise KernelError(f"`combine` must be 'magnitude', got {self.combine!r}")
            if len(self.parts) != 2:
                raise KernelError(f"a magnitude needs 2 parts, got {len(self.parts)}")
            parts = tuple(_as_weights(p, f"part of kernel {self.name!r}") for p in self.parts)
            if parts[0].shape != parts[1].shape:
                raise KernelError(
                    f"the parts of kernel {self.name!r} differ in shape: "
                    f"{parts[0].shape} and {parts[1].shape}"
                )
            object.__setattr__(self, "parts", parts)
        if not math.isfinite(self.offset):
            raise KernelError(f"kernel {self.name!r}: offset must be finite, got {self.offset}")
        object.__setattr__(self, "offset", float(self.offset))
        object.__setattr__(self, "params", dict(self.params))

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the kernel."""
        return (int(self.weights.shape[0]), int(self.weights.shape[1]))

    @property
    def sum(self) -> float:
        """Sum of the weights (of the x part for a magnitude)."""
        return float(self.weights.sum())

    @property
    def is_magnitude(self) -> bool:
        """True for a gradient magnitude sqrt(gx² + gy²) of two parts."""
        return self.combine == "magnitude"

    @property
    def is_zero_sum(self) -> bool:
        """True when the weights (every part, for a magnitude) sum to zero.

        Zero up to ``ZERO_SUM_RTOL`` times the sum of the absolute weights, so
        rounding does not matter. A zero-sum kernel responds to change only
        (edges, gradients), and ``--range auto`` maps its results with ``abs``.
        """
        arrays = self.parts if self.parts is not None else (self.weights,)
        return all(abs(float(a.sum())) <= ZERO_SUM_RTOL * float(np.abs(a).sum()) for a in arrays)

    @property
    def is_separable(self) -> bool:
        """True when the weights have rank 1 (an outer product of two vectors).

        Always False for a gradient magnitude: sqrt(gx² + gy²) is not a linear
        filter, even though each of its parts separates.
        """
        return not self.is_magnitude and _rank_one(self.weights)

    def separable_factors(self) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(column, row)`` with ``np.outer(column, row) == weights``.

        Raises
        ------
        KernelError
            If the kernel is a magnitude or its weights do not separate.

        Examples
        --------
        >>> col, row = get_kernel("sobel-x").separable_factors()
        >>> np.allclose(np.outer(col, row), get_kernel("sobel-x").weights)
        True
        """
        if self.is_magnitude:
            raise KernelError(f"kernel {self.name!r} is a magnitude of two kernels, not one")
        if not _rank_one(self.weights):
            raise KernelError(f"kernel {self.name!r} is not separable (its rank is above 1)")
        u, s, vt = np.linalg.svd(self.weights)
        scale = math.sqrt(s[0])
        col, row = u[:, 0] * scale, vt[0] * scale
        # Put the sign on the row so that a smoothing column stays positive.
        if col.sum() < 0 or (col.sum() == 0 and col[np.argmax(np.abs(col))] < 0):
            col, row = -col, -row
        return col, row


def _rank_one(a: np.ndarray) -> bool:
    if min(a.shape) == 1:
        return True
    s = np.linalg.svd(a, compute_uv=False)
    return bool(s[0] == 0 or s[1] <= SEPARABLE_RTOL * s[0])


# --------------------------------------------------------------------------
# Named parts and builders of the built-ins
# --------------------------------------------------------------------------

# The 1-D pieces the 3×3 gradient operators are made of: each operator is
# (smoothing across the derivative) ⊗ (central difference along it), as
# scikit-image builds them. Unnormalised, like OpenCV and scipy.ndimage:
# a unit ramp gives 2 × sum(smoothing) (8 for Sobel).
DIFFERENCE = np.array([-1.0, 0.0, 1.0])  # central difference, rises to the right
SMOOTH_SOBEL = np.array([1.0, 2.0, 1.0])  # Sobel & Feldman (1968): binomial
SMOOTH_SCHARR = np.array([3.0, 10.0, 3.0])  # Scharr (2000): rotation-optimised
SMOOTH_PREWITT = np.array([1.0, 1.0, 1.0])  # Prewitt (1970): box


def _gradient_x(smooth: np.ndarray) -> np.ndarray:
    """Difference along x (columns), smoothing along y (rows)."""
    return np.outer(smooth, DIFFERENCE)


def _gradient_y(smooth: np.ndarray) -> np.ndarray:
    """Difference along y (rows, rising downward), smoothing along x."""
    return np.outer(DIFFERENCE, smooth)


def _gaussian_1d(sigma: float, radius: int) -> np.ndarray:
    """exp(−x²/2σ²) on −radius..radius, normalised to sum 1 (scipy's kernel)."""
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-0.5 * (x / sigma) ** 2)
    return g / g.sum()


def _size_to_sigma(size: int) -> float:
    """OpenCV's rule for a Gaussian of ``size`` taps: 0.3·((size − 1)/2 − 1) + 0.8."""
    return 0.3 * ((size - 1) / 2 - 1) + 0.8


def _sigma_to_radius(sigma: float) -> int:
    """scipy's rule with ``truncate=4``: radius = int(4σ + 0.5)."""
    return int(4.0 * sigma + 0.5)


def _gaussian_size_sigma(size: int | None, sigma: float | None, kernel: str) -> tuple[int, float]:
    """Resolve the (size, sigma) pair of a Gaussian-based kernel."""
    if size is not None and (size < 1 or size % 2 == 0):
        raise KernelError(f"kernel {kernel!r}: `size` must be odd and at least 1, got {size}")
    if sigma is not None and not sigma > 0:
        raise KernelError(f"kernel {kernel!r}: `sigma` must be positive, got {sigma}")
    if size is None and sigma is None:
        sigma = 1.0
    if size is None:
        assert sigma is not None
        size = 2 * _sigma_to_radius(sigma) + 1
    elif sigma is None:
        sigma = _size_to_sigma(size)
    return size, float(sigma)


def _check_positive_int(value: int, name: str, kernel: str) -> None:
    if value < 1:
        raise KernelError(f"kernel {kernel!r}: `{name}` must be at least 1, got {value}")


def _identity() -> np.ndarray:
    return np.ones((1, 1))


def _box(size: int) -> np.ndarray:
    _check_positive_int(size, "size", "box")
    return np.full((size, size), 1.0 / (size * size))


def _gaussian(size: int | None, sigma: float | None) -> tuple[np.ndarray, dict]:
    size, sigma = _gaussian_size_sigma(size, sigma, "gaussian")
    g = _gaussian_1d(sigma, size // 2)
    return np.outer(g, g), {"size": size, "sigma": sigma}


def _unsharp(amount: float, size: int | None, sigma: float | None) -> tuple[np.ndarray, dict]:
    size, sigma = _gaussian_size_sigma(size, sigma, "unsharp")
    g = _gaussian_1d(sigma, size // 2)
    weights = -amount * np.outer(g, g)
    weights[size // 2, size // 2] += 1.0 + amount
    return weights, {"amount": amount, "size": size, "sigma": sigma}


def _log(size: int | None, sigma: float | None) -> tuple[np.ndarray, dict]:
    size, sigma = _gaussian_size_sigma(size, sigma, "log")
    x = np.arange(-(size // 2), size // 2 + 1, dtype=np.float64)
    g0 = _gaussian_1d(sigma, size // 2)
    # Second derivative of the (sum-normalised) Gaussian, as
    # scipy.ndimage.gaussian_filter(order=2) builds it: (x²/σ⁴ − 1/σ²)·g.
    g2 = (x**2 / sigma**4 - 1.0 / sigma**2) * g0
    weights = np.outer(g0, g2) + np.outer(g2, g0)  # ∂²/∂x² + ∂²/∂y²
    # Truncation leaves a small non-zero sum: remove it evenly (as MATLAB's
    # fspecial('log') does), then put the rounding residue on the centre.
    weights -= weights.mean()
    weights[size // 2, size // 2] -= weights.sum()
    return weights, {"size": size, "sigma": sigma}


def _motion(length: int, angle: float) -> tuple[np.ndarray, dict]:
    _check_positive_int(length, "length", "motion")
    theta = math.radians(angle)
    dx, dy = math.cos(theta), -math.sin(theta)  # image rows grow downward
    # One cell per step along the major axis (a DDA line, not anti-aliased):
    # offsets -(length-1)//2 .. length//2, so an even line has its extra
    # cell below/right, where `same` padding puts the extra row/column.
    steps = np.arange(length) - (length - 1) // 2
    if abs(dx) >= abs(dy):
        cols = steps
        rows = np.floor(steps * (dy / dx) + 0.5).astype(int)
    else:
        rows = steps
        cols = np.floor(steps * (dx / dy) + 0.5).astype(int)
    shape = []
    for offsets in (rows, cols):
        lo, hi = int(offsets.min()), int(offsets.max())
        # The anchor sits at (k - 1) // 2; make the axis just long enough.
        if lo == -((length - 1) // 2) and hi == length // 2:
            shape.append(length)
        else:
            shape.append(2 * max(-lo, hi) + 1)
    weights = np.zeros(shape)
    anchor_r, anchor_c = (shape[0] - 1) // 2, (shape[1] - 1) // 2
    weights[rows + anchor_r, cols + anchor_c] = 1.0 / length
    return weights, {"length": length, "angle": angle}


def _diff(order: int, axis: str) -> tuple[np.ndarray, dict]:
    _check_positive_int(order, "order", "diff")
    taps = np.array([(-1.0) ** k * math.comb(order, k) for k in range(order + 1)])
    weights = taps[np.newaxis, :] if axis == "x" else taps[:, np.newaxis]
    return weights, {"order": order, "axis": axis}


# --------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """One parameter of a built-in kernel.

    ``default=None`` means "derived from the other parameters" (Gaussian size
    and sigma); ``choices`` restricts a ``str`` parameter.
    """

    name: str
    type: type
    default: Any
    help: str
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class KernelFactory:
    """A built-in kernel: how to build it, its parameters and provenance.

    Call it with keyword arguments (already converted to the parameter
    types) to get a :class:`Kernel`; :func:`get_kernel` parses a spec string
    into that call.
    """

    name: str
    description: str
    source: str
    build: Callable[..., Any]
    params: tuple[Param, ...] = ()
    aliases: tuple[str, ...] = ()
    combine: str | None = None

    @property
    def param_names(self) -> tuple[str, ...]:
        """The parameter names, in positional order."""
        return tuple(p.name for p in self.params)

    @property
    def usage(self) -> str:
        """The spec syntax with defaults, e.g. ``box[:size=3]``."""
        if not self.params:
            return self.name
        parts = [f"{p.name}={'auto' if p.default is None else p.default}" for p in self.params]
        return f"{self.name}[:{','.join(parts)}]"

    def __call__(self, **kwargs: Any) -> Kernel:
        unknown = sorted(set(kwargs) - set(self.param_names))
        if unknown:
            raise KernelError(_unknown_params_message(self, unknown[0]))
        values = {p.name: kwargs.get(p.name, p.default) for p in self.params}
        built = self.build(**values)
        if self.combine == "magnitude":
            gx, gy = built
            return Kernel(
                self.name,
                gx,
                self.description,
                self.source,
                parts=(gx, gy),
                combine="magnitude",
            )
        params = values
        if isinstance(built, tuple):  # builders with derived parameters return them too
            built, params = built
        return Kernel(self.name, built, self.description, self.source, params=params)


_GAUSS_PARAMS = (
    Param("size", int, None, "odd width and height; default 2·int(4σ + 0.5) + 1"),
    Param("sigma", float, None, "standard deviation in pixels; default from size, else 1"),
)

_FACTORIES: tuple[KernelFactory, ...] = (
    KernelFactory(
        "identity",
        "leaves the image unchanged: [[1]]",
        "the unit impulse δ",
        _identity,
    ),
    KernelFactory(
        "box",
        "mean blur: size×size cells of 1/size²",
        "the moving average (uniform filter, scipy.ndimage.uniform_filter)",
        _box,
        (Param("size", int, 3, "width and height in pixels"),),
        aliases=("blur",),
    ),
    KernelFactory(
        "gaussian",
        "Gaussian blur: exp(−r²/2σ²) normalised to sum 1, separable",
        "σ only: radius int(4σ + 0.5) as scipy.ndimage.gaussian_filter (truncate=4); "
        "size only: σ = 0.3·((size − 1)/2 − 1) + 0.8 as OpenCV (without its fixed tables)",
        _gaussian,
        _GAUSS_PARAMS,
    ),
    KernelFactory(
        "sharpen",
        "sharpen: 5 at the centre, −1 at the 4 neighbours (sums to 1)",
        "the classic 4-neighbour sharpening kernel δ − laplacian",
        lambda: np.array([[0.0, -1.0, 0.0], [-1.0, 5.0, -1.0], [0.0, -1.0, 0.0]]),
    ),
    KernelFactory(
        "unsharp",
        "unsharp mask: (1 + amount)·δ − amount·gaussian, sums to 1",
        "x + amount·(x − G_σ ⋆ x); the Gaussian follows the `gaussian` rules",
        _unsharp,
        (Param("amount", float, 1.0, "strength: how much of (x − blur) to add"), *_GAUSS_PARAMS),
    ),
    KernelFactory(
        "edge",
        "8-neighbour edge detector: 8 at the centre, −1 around (sums to 0)",
        "Pillow's FIND_EDGES and ImageMagick's Laplacian:0 (the negated laplacian8)",
        lambda: np.array([[-1.0, -1.0, -1.0], [-1.0, 8.0, -1.0], [-1.0, -1.0, -1.0]]),
    ),
    KernelFactory(
        "edge-x",
        "horizontal difference [[1, −1]]: positive at a bright→dark step left to right",
        "the textbook's finite difference (= diff:1,x); even width, anchored on the left tap",
        lambda: np.array([[1.0, -1.0]]),
    ),
    KernelFactory(
        "edge-y",
        "vertical difference [[1], [−1]]: positive at a bright→dark step top to bottom",
        "the transpose of edge-x (= diff:1,y); even height, anchored on the top tap",
        lambda: np.array([[1.0], [-1.0]]),
    ),
    KernelFactory(
        "laplacian",
        "4-neighbour Laplacian: −4 at the centre, 1 at the 4 neighbours",
        "scipy.ndimage.laplace and OpenCV Laplacian(ksize=1); scikit-image and "
        "ImageMagick use the opposite sign",
        lambda: np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]),
    ),
    KernelFactory(
        "laplacian8",
        "8-neighbour Laplacian: −8 at the centre, 1 around",
        "the 8-neighbour discrete Laplacian with scipy's sign (negative centre); "
        "OpenCV's ksize=3 Laplacian is a different kernel",
        lambda: np.array([[1.0, 1.0, 1.0], [1.0, -8.0, 1.0], [1.0, 1.0, 1.0]]),
    ),
    KernelFactory(
        "log",
        "Laplacian of Gaussian: negative centre, sums to exactly 0",
        "the sign and kernel of scipy.ndimage.gaussian_laplace (∂²G/∂x² + ∂²G/∂y² "
        "of the sum-normalised Gaussian), minus its mean so that it sums to 0; size "
        "and sigma follow the `gaussian` rules",
        _log,
        _GAUSS_PARAMS,
    ),
    KernelFactory(
        "sobel-x",
        "Sobel x-gradient: positive where intensity rises to the right",
        "[1,2,1]ᵀ ⊗ [−1,0,1], unnormalised (a unit ramp gives 8) as OpenCV and "
        "scipy.ndimage.sobel; scikit-image divides by 4",
        lambda: _gradient_x(SMOOTH_SOBEL),
    ),
    KernelFactory(
        "sobel-y",
        "Sobel y-gradient: positive where intensity rises downward",
        "[−1,0,1]ᵀ ⊗ [1,2,1], unnormalised as OpenCV and scipy.ndimage.sobel",
        lambda: _gradient_y(SMOOTH_SOBEL),
    ),
    KernelFactory(
        "scharr-x",
        "Scharr x-gradient: positive where intensity rises to the right",
        "[3,10,3]ᵀ ⊗ [−1,0,1], unnormalised as OpenCV's Scharr (a unit ramp gives 32); "
        "scikit-image divides by 16",
        lambda: _gradient_x(SMOOTH_SCHARR),
    ),
    KernelFactory(
        "scharr-y",
        "Scharr y-gradient: positive where intensity rises downward",
        "[−1,0,1]ᵀ ⊗ [3,10,3], unnormalised as OpenCV's Scharr",
        lambda: _gradient_y(SMOOTH_SCHARR),
    ),
    KernelFactory(
        "prewitt-x",
        "Prewitt x-gradient: positive where intensity rises to the right",
        "[1,1,1]ᵀ ⊗ [−1,0,1], unnormalised as scipy.ndimage.prewitt; scikit-image divides by 3",
        lambda: _gradient_x(SMOOTH_PREWITT),
    ),
    KernelFactory(
        "prewitt-y",
        "Prewitt y-gradient: positive where intensity rises downward",
        "[−1,0,1]ᵀ ⊗ [1,1,1], unnormalised as scipy.ndimage.prewitt",
        lambda: _gradient_y(SMOOTH_PREWITT),
    ),
    KernelFactory(
        "sobel",
        "Sobel gradient magnitude sqrt(gx² + gy²) of sobel-x and sobel-y",
        "unscaled (scikit-image's sobel() divides by 4·√2)",
        lambda: (_gradient_x(SMOOTH_SOBEL), _gradient_y(SMOOTH_SOBEL)),
        combine="magnitude",
    ),
    KernelFactory(
        "scharr",
        "Scharr gradient magnitude sqrt(gx² + gy²) of scharr-x and scharr-y",
        "unscaled (scikit-image's scharr() divides by 16·√2)",
        lambda: (_gradient_x(SMOOTH_SCHARR), _gradient_y(SMOOTH_SCHARR)),
        combine="magnitude",
    ),
    KernelFactory(
        "prewitt",
        "Prewitt gradient magnitude sqrt(gx² + gy²) of prewitt-x and prewitt-y",
        "unscaled (scikit-image's prewitt() divides by 3·√2)",
        lambda: (_gradient_x(SMOOTH_PREWITT), _gradient_y(SMOOTH_PREWITT)),
        combine="magnitude",
    ),
    KernelFactory(
        "emboss",
        "emboss: relief along the diagonal, brighter where the image brightens "
        "toward the bottom right (sums to 1, no offset needed)",
        "the common 3×3 emboss kernel [[−2,−1,0],[−1,1,1],[0,1,2]]",
        lambda: np.array([[-2.0, -1.0, 0.0], [-1.0, 1.0, 1.0], [0.0, 1.0, 2.0]]),
    ),
    KernelFactory(
        "motion",
        "motion blur: a line of `length` cells at `angle` degrees, sums to 1",
        "one cell per step along the line's major axis (not anti-aliased); angle "
        "counter-clockwise from the +x axis as seen on screen",
        _motion,
        (
            Param("length", int, 9, "number of cells on the line"),
            Param("angle", float, 0.0, "degrees counter-clockwise from horizontal"),
        ),
    ),
    KernelFactory(
        "diff",
        "finite difference of order d along x or y: d + 1 taps (−1)ᵏ·C(d, k)",
        "[1,−1], [1,−2,1], [1,−3,3,−1], …: (−1)ᵈ times numpy.diff's sign; "
        "even orders are anchored as `same` padding splits",
        _diff,
        (
            Param("order", int, 1, "the order d (number of differences)"),
            Param("axis", str, "x", "x (along rows) or y (along columns)", ("x", "y")),
        ),
    ),
)

#: Built-in kernels by name, aliases included (``blur`` → the ``box`` factory).
KERNELS: dict[str, KernelFactory] = {}
for _factory in _FACTORIES:
    KERNELS[_factory.name] = _factory
    for _alias in _factory.aliases:
        KERNELS[_alias] = _factory
del _factory, _alias


def kernel_names(aliases: bool = True) -> list[str]:
    """Return the names of the built-in kernels, sorted.

    Parameters
    ----------
    aliases : bool
        Include aliases such as ``blur`` (default).

    Examples
    --------
    >>> kernel_names()[:3]
    ['blur', 'box', 'diff']
    """
    return sorted(n for n, f in KERNELS.items() if aliases or f.name == n)


# --------------------------------------------------------------------------
# Spec strings: "gaussian:size=7,sigma=1.5"
# --------------------------------------------------------------------------


def _unknown_params_message(factory: KernelFactory, given: str) -> str:
    if not factory.params:
        return f"kernel {factory.name!r} takes no parameters, got {given!r}"
    return (
        f"kernel {factory.name!r} has no parameter {given!r}; "
        f"its parameters are {', '.join(factory.param_names)}"
    )


def _convert_param(factory: KernelFactory, param: Param, text: str) -> Any:
    valid = f"(usage: {factory.usage})"
    if param.type is int:
        try:
            return int(text)
        except ValueError:
            raise KernelError(
                f"kernel {factory.name!r}: `{param.name}` must be a whole number, "
                f"got {text!r} {valid}"
            ) from None
    if param.type is float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise KernelError(
                f"kernel {factory.name!r}: `{param.name}` must be a finite number, "
                f"got {text!r} {valid}"
            )
        return value
    value = text.lower()
    if param.choices and value not in param.choices:
        raise KernelError(
            f"kernel {factory.name!r}: `{param.name}` must be one of "
            f"{', '.join(param.choices)}, got {text!r}"
        )
    return value


def _normalise_name(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def get_kernel(spec: str) -> Kernel:
    """Build a built-in kernel from a spec such as ``"gaussian:size=7,sigma=1.5"``.

    Parameters
    ----------
    spec : str
        ``name`` or ``name:params``, where params are comma-separated values,
        positional (in the order :attr:`KernelFactory.param_names` lists them)
        and/or ``key=value``: ``"box:5"``, ``"diff:2,y"``,
        ``"diff:order=2,axis=y"``, ``"motion:length=9,angle=30"``. Names are
        case-insensitive and ``_`` may stand for ``-``.

    Returns
    -------
    Kernel

    Raises
    ------
    KernelError
        For an unknown name (listing the closest names), an unknown parameter
        (listing the valid ones) or a bad value.

    Examples
    --------
    >>> get_kernel("box:2").weights
    array([[0.25, 0.25],
           [0.25, 0.25]])
    >>> get_kernel("diff:2,y").weights.ravel().tolist()
    [1.0, -2.0, 1.0]
    """
    name, _, arg_text = spec.partition(":")
    name = _normalise_name(name)
    factory = KERNELS.get(name)
    if factory is None:
        close = sorted(
            difflib.get_close_matches(name, kernel_names(), n=3, cutoff=0.6),
            key=lambda c: (-difflib.SequenceMatcher(None, name, c).ratio(), c),
        )
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise KernelError(
            f"unknown kernel {name or spec!r}; {hint}`convcli kernels` lists them all"
        )
    kwargs: dict[str, Any] = {}
    items = [item.strip() for item in arg_text.split(",")] if arg_text.strip() else []
    positional_done = False
    for position, item in enumerate(items):
        if "=" in item:
            key, _, value = item.partition("=")
            key = key.strip().lower()
            positional_done = True
            param = next((p for p in factory.params if p.name == key), None)
            if param is None:
                raise KernelError(_unknown_params_message(factory, key))
        else:
            if positional_done:
                raise KernelError(
                    f"kernel {factory.name!r}: positional value {item!r} after a "
                    f"key=value parameter (usage: {factory.usage})"
                )
            if position >= len(factory.params):
                if not factory.params:
                    raise KernelError(_unknown_params_message(factory, item))
                raise KernelError(
                    f"kernel {factory.name!r} takes at most {len(factory.params)} "
                    f"parameter(s) ({', '.join(factory.param_names)}), got {len(items)}"
                )
            param, value = factory.params[position], item
        if param.name in kwargs:
            raise KernelError(f"kernel {factory.name!r}: `{param.name}` is given twice")
        kwargs[param.name] = _convert_param(factory, param, value.strip())
    return factory(**kwargs)


# --------------------------------------------------------------------------
# Matrices: inline text, files
# --------------------------------------------------------------------------

_ROW_SPLIT = re.compile(r"[\s,]+")
_NUMBER_START = re.compile(r"^\s*[-+.\d\[]")
_MAGICK = re.compile(
    r"^\s*(\d+)(?:\s*x\s*(\d+))?\s*(?:([+-]\d+)([+-]\d+))?\s*:(.*)$", re.DOTALL | re.IGNORECASE
)


def _number(token: str, where: str) -> float:
    """Parse one cell; ``where`` names it in the error ("row 2")."""
    try:
        value = float(token)
    except ValueError:
        raise KernelError(f"{where}: {token!r} is not a number") from None
    if not math.isfinite(value):
        raise KernelError(f"{where} holds {token!r}; kernel values must be finite")
    return value


def _fraction(text: str, key: str, where: str) -> float:
    """Parse ``0.0625`` or ``1/16``; errors name ``key`` and ``where`` it is."""
    num, slash, den = text.partition("/")
    try:
        value = float(num) / float(den) if slash else float(text)
    except (ValueError, ZeroDivisionError):
        raise KernelError(
            f"{where}: bad {key} {text.strip()!r}: expected a number like 0.0625 or 1/16"
        ) from None
    if not math.isfinite(value):
        raise KernelError(f"{where}: bad {key} {text.strip()!r}: it must be finite")
    return value


def _rows_to_array(rows: Sequence[tuple[str, Sequence[str]]], what: str) -> np.ndarray:
    """Turn ``(label, tokens)`` rows into a 2-D array, checking raggedness."""
    if not rows:
        raise KernelError(f"{what} holds no numbers")
    width = len(rows[0][1])
    values = []
    for label, tokens in rows:
        if len(tokens) != width:
            raise KernelError(
                f"{what}: {label} has {len(tokens)} value{'s' * (len(tokens) != 1)}, "
                f"expected {width}"
            )
        values.append([_number(t, f"{what}: {label}") for t in tokens])
    return np.array(values, dtype=np.float64)


def _split_row(text: str) -> list[str]:
    return [t for t in _ROW_SPLIT.split(text.strip()) if t]


def parse_number_rows(
    rows: Sequence[tuple[str, str]], what: str, error: type[Exception] = KernelError
) -> np.ndarray:
    """Parse labelled text rows of numbers into a 2-D float64 array.

    The row parser of kernel files, public so that other matrix readers (the
    ``conv`` command's ``--input``) word their errors as their own.

    Parameters
    ----------
    rows : sequence of (label, line)
        Each line holds numbers separated by spaces and/or commas (fractions
        like ``1/16`` too); the label names it in messages (``"row 2"``).
    what : str
        What is being read, for messages (``"kernel"``, ``"--input"``).
    error : exception class, optional
        Raised for ragged rows, bad numbers or no rows at all.

    Examples
    --------
    >>> parse_number_rows([("row 1", "0 1"), ("row 2", "2, 3")], "--input").tolist()
    [[0.0, 1.0], [2.0, 3.0]]
    """
    try:
        return _rows_to_array([(label, _split_row(line)) for label, line in rows], what)
    except KernelError as exc:
        if error is KernelError:
            raise
        raise error(str(exc)) from None


def looks_like_matrix(text: str) -> bool:
    """True when ``text`` starts like an inline matrix (a number or ``[``), not a name.

    Examples
    --------
    >>> looks_like_matrix("1,0;-1,2"), looks_like_matrix("sobel")
    (True, False)
    """
    return bool(_NUMBER_START.match(text))


def _parse_nested(data: Any, what: str) -> np.ndarray:
    """A JSON nested list (or a flat list: one row) as a 2-D array."""
    if not isinstance(data, list) or not data:
        raise KernelError(f"{what}: expected a nested list of numbers like [[1, -1]]")
    if not any(isinstance(r, list) for r in data):
        data = [data]
    rows = []
    for i, row in enumerate(data, 1):
        if not isinstance(row, list):
            raise KernelError(f"{what}: row {i} is {row!r}, not a list of numbers")
        for value in row:
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise KernelError(f"{what}: row {i}: {value!r} is not a number")
        rows.append((f"row {i}", [str(v) for v in row]))
    if all(len(tokens) == 0 for _, tokens in rows):
        raise KernelError(f"empty kernel: {what} holds no numbers")
    return _rows_to_array(rows, what)


def _parse_magick(match: re.Match[str], what: str) -> np.ndarray:
    width = int(match.group(1))
    height = int(match.group(2) or width)
    if width < 1 or height < 1:
        raise KernelError(f"{what}: ImageMagick size {width}x{height} must be at least 1x1")
    tokens = _split_row(match.group(5))
    for i, token in enumerate(tokens, 1):
        if token.lower() in ("nan", "-"):
            raise KernelError(
                f"{what}: value {i} is {token!r}, ImageMagick's 'not part of the "
                "neighbourhood' mark; convcli kernels are full rectangles (use 0)"
            )
    if len(tokens) != width * height:
        raise KernelError(
            f"{what}: ImageMagick kernel {width}x{height} needs {width * height} values, "
            f"got {len(tokens)}"
        )
    if match.group(3) is not None:
        x, y = int(match.group(3)), int(match.group(4))
        cx, cy = (width - 1) // 2, (height - 1) // 2
        if (x, y) != (cx, cy):
            raise KernelError(
                f"{what}: ImageMagick origin {match.group(3)}{match.group(4)} is not the "
                f"kernel centre (+{cx}+{cy}); convcli anchors every kernel at its centre"
            )
    rows = [(f"row {r + 1}", tokens[r * width : (r + 1) * width]) for r in range(height)]
    return _rows_to_array(rows, what)


def parse_kernel(text: str, name: str = "inline") -> Kernel:
    """Parse an inline matrix into a :class:`Kernel`.

    Parameters
    ----------
    text : str
        One of

        * rows separated by ``;`` (or newlines), values by commas and/or
          spaces: ``"1,0,-1;2,0,-2;1,0,-1"``, ``"0 1; 2 3"``;
        * a JSON nested list: ``"[[1,-1]]"`` (a flat list is one row);
        * an ImageMagick kernel ``"WxH: v,v,..."`` (row by row; ``"3: ..."``
          means 3x3); ``"WxH+X+Y: ..."`` is accepted when ``+X+Y`` is the
          centre ``+(W-1)//2+(H-1)//2``.
    name : str
        The name of the returned kernel.

    Raises
    ------
    KernelError
        For ragged rows, non-numbers, NaN or infinite values, no numbers, an
        off-centre ImageMagick origin or ImageMagick's ``nan`` cells.

    Examples
    --------
    >>> parse_kernel("1,0,-1;2,0,-2;1,0,-1").weights[1].tolist()
    [2.0, 0.0, -2.0]
    >>> parse_kernel("2x1: 1,-1").shape
    (1, 2)
    """
    what = f"kernel {text.strip()!r}" if len(text) <= 40 else "inline kernel"
    stripped = text.strip()
    if not stripped:
        raise KernelError("empty kernel: no numbers given")
    if stripped.startswith("["):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise KernelError(f"{what}: not a valid nested list ({exc.msg})") from None
        weights = _parse_nested(data, what)
        source = "inline nested list"
    elif (match := _MAGICK.match(stripped)) is not None:
        weights = _parse_magick(match, what)
        source = "inline ImageMagick kernel"
    else:
        # Rows end at ';' or a newline (';' then a newline is one break);
        # a trailing ';' is allowed.
        lines = re.split(r";[ \t]*\r?\n|[;\n]", stripped.rstrip(";").rstrip())
        rows = [(f"row {i}", _split_row(line)) for i, line in enumerate(lines, 1)]
        if all(not tokens for _, tokens in rows):
            raise KernelError(f"empty kernel: {what} holds no numbers")
        for label, tokens in rows:
            if not tokens:
                raise KernelError(f"{what}: {label} is empty")
        weights = _rows_to_array(rows, what)
        source = "inline matrix"
    return Kernel(name, weights, f"user kernel {weights.shape[0]}×{weights.shape[1]}", source)


def _vips_header(tokens: Sequence[str]) -> tuple[int, int, float, float] | None:
    """(width, height, scale, offset) if ``tokens`` can be a libvips header."""
    if not 2 <= len(tokens) <= 4:
        return None
    try:
        numbers = [float(t) for t in tokens]
    except ValueError:
        return None
    width, height = numbers[0], numbers[1]
    if not (width.is_integer() and height.is_integer() and width >= 1 and height >= 1):
        return None
    scale = numbers[2] if len(numbers) > 2 else 1.0
    offset = numbers[3] if len(numbers) > 3 else 0.0
    return int(width), int(height), scale, offset


def _vips_split(line: str) -> list[str]:
    # libvips separates numbers by any mix of spaces, tabs, commas and quotes.
    return [t for t in re.split(r"[\s,\"]+", line.strip()) if t]


def _load_vips(lines: list[str], what: str) -> tuple[np.ndarray, float]:
    """Parse a libvips matrix file: header line, then ``height`` rows."""
    body = [line for line in lines if line.strip()]
    if not body:
        raise KernelError(f"{what} holds no numbers")
    header = _vips_header(_vips_split(body[0]))
    if header is None:
        raise KernelError(
            f"{what}: the first line {body[0].strip()!r} is not a libvips header "
            "'width height [scale [offset]]'"
        )
    width, height, scale, offset = header
    if scale == 0 or not math.isfinite(scale):
        raise KernelError(f"{what}: bad scale {scale}: libvips scale must be non-zero")
    if not math.isfinite(offset):
        raise KernelError(f"{what}: bad offset {offset}: it must be finite")
    rows = body[1:]
    if len(rows) != height:
        raise KernelError(f"{what}: the header says {height} rows, the file has {len(rows)}")
    array = _rows_to_array(
        [(f"row {i}", _vips_split(line)) for i, line in enumerate(rows, 1)], what
    )
    if array.shape[1] != width:
        raise KernelError(f"{what}: row 1 has {array.shape[1]} values, expected {width}")
    return array / scale, offset


def _looks_like_vips(lines: list[str]) -> bool:
    """True when the file's first line is a libvips header matching the rows below.

    Only the very first line counts (libvips has no comments), so a file
    that starts with a ``#`` comment, as :func:`format_kernel_text` writes,
    is always read as plain text.
    """
    if not lines:
        return False
    header = _vips_header(_vips_split(lines[0]))
    if header is None:
        return False
    rows = [line for line in lines[1:] if line.strip()]
    return len(rows) == header[1] and all(len(_vips_split(r)) == header[0] for r in rows)


_SETTING = re.compile(r"^\s*(scale|offset)\s*[=:]\s*(.*?)\s*$", re.IGNORECASE)


def _load_text(lines: list[str], what: str) -> tuple[np.ndarray, float, str]:
    """Parse rows of numbers with comments and ``scale=`` / ``offset=`` lines."""
    rows: list[tuple[str, list[str]]] = []
    scale, offset, description = 1.0, 0.0, ""
    seen: set[str] = set()
    for lineno, raw in enumerate(lines, 1):
        line, hash_, comment = raw.partition("#")
        if hash_ and not description and not rows and comment.strip():
            description = comment.strip()
        if not line.strip():
            continue
        setting = _SETTING.match(line)
        if setting:
            key = setting.group(1).lower()
            if key in seen:
                raise KernelError(f"{what}: line {lineno}: {key} is given twice")
            seen.add(key)
            value = _fraction(setting.group(2), key, f"{what}: line {lineno}")
            if key == "scale":
                if value == 0:
                    raise KernelError(f"{what}: line {lineno}: scale must be non-zero")
                scale = value
            else:
                offset = value
            continue
        rows.append((f"row {len(rows) + 1} (line {lineno})", _split_row(line)))
    if not rows:
        raise KernelError(f"empty kernel: {what} holds no numbers")
    return _rows_to_array(rows, what) * scale, offset, description


def load_kernel(path: str | os.PathLike[str]) -> Kernel:
    """Read a kernel file.

    Parameters
    ----------
    path : str or path-like
        * ``.npy``: a 2-D numeric array;
        * ``.json``: a nested list ``[[1, 0, -1], ...]`` or an object
          ``{"weights": [[...]], "scale": 0.0625, "offset": 0}`` (``scale``
          multiplies);
        * ``.mat``: a libvips matrix file: a first line ``width height [scale
          [offset]]``, then the rows; the weights are *divided* by ``scale``
          and ``offset`` is kept in :attr:`Kernel.offset`;
        * anything else (``.txt``, ``.csv``, ...): rows of numbers separated
          by spaces and/or commas, ``#`` comments, blank lines, optional
          ``scale=1/16`` (multiplies) and ``offset=`` lines. A file whose
          very first line is a libvips header that matches the rows below is
          read as a libvips file whatever its extension, and a file holding
          an ImageMagick kernel string (``3x3: ...``, over several lines if
          you like) as that.

    Returns
    -------
    Kernel
        Named after the file's stem; its description is the first comment
        of a text file, if any.

    Raises
    ------
    KernelError
        For a missing or unreadable file, no numbers, ragged rows, non-numbers,
        NaN or infinite values, a bad scale, or an array that is not 2-D.
    """
    path = Path(path)
    what = f"kernel file {str(path)!r}"
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            try:
                array = np.load(path, allow_pickle=False)
            except ValueError as exc:
                raise KernelError(f"{what} is not a readable .npy array: {exc}") from None
            return _from_npy(array, path, what)
        raw = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise KernelError(f"cannot read {what}: {reason}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise KernelError(f"{what} is not a text file (not UTF-8)") from None
    if suffix == ".json":
        return _from_json(text, path, what)
    lines = text.splitlines()
    source = f"file {path.name}"
    if suffix == ".mat" or _looks_like_vips(lines):
        weights, offset = _load_vips(lines, what)
        return Kernel(path.stem, weights, "libvips matrix", f"libvips {source}", offset=offset)
    content = " ".join(line.partition("#")[0] for line in lines)
    if (match := _MAGICK.match(content)) is not None:
        # An ImageMagick kernel string kept in a file (what `@file` reads).
        weights = _parse_magick(match, what)
        return Kernel(path.stem, weights, "ImageMagick kernel", f"ImageMagick {source}")
    weights, offset, description = _load_text(lines, what)
    return Kernel(path.stem, weights, description or "user kernel", source, offset=offset)


def _from_npy(array: np.ndarray, path: Path, what: str) -> Kernel:
    if array.ndim != 2:
        raise KernelError(
            f"{what} holds a {array.ndim}-D array of shape {array.shape}; a kernel must be 2-D"
        )
    if array.size == 0:
        raise KernelError(f"empty kernel: {what} has shape {array.shape}")
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise KernelError(f"{what} holds {array.dtype} values; a kernel needs real numbers")
    weights = array.astype(np.float64)
    _check_finite(weights, what)
    return Kernel(path.stem, weights, "user kernel", f"file {path.name}")


def _from_json(text: str, path: Path, what: str) -> Kernel:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise KernelError(f"{what} is not valid JSON: {exc.msg} (line {exc.lineno})") from None
    scale, offset, description = 1.0, 0.0, "user kernel"
    if isinstance(data, dict):
        unknown = sorted(set(data) - {"weights", "scale", "offset", "name", "description"})
        if unknown:
            raise KernelError(
                f"{what}: unknown key {unknown[0]!r}; expected weights, scale, offset, "
                "name, description"
            )
        if "weights" not in data:
            raise KernelError(f'{what}: no "weights" key with the nested list of values')
        scale = _fraction(str(data.get("scale", 1.0)), "scale", what)
        if scale == 0:
            raise KernelError(f"{what}: scale must be non-zero")
        offset = _fraction(str(data.get("offset", 0.0)), "offset", what)
        description = str(data.get("description", description))
        data = data["weights"]
    weights = _parse_nested(data, what) * scale
    return Kernel(path.stem, weights, description, f"file {path.name}", offset=offset)


# --------------------------------------------------------------------------
# Choosing among the three, and writing kernels back
# --------------------------------------------------------------------------

_FILE_SUFFIXES = (".txt", ".csv", ".npy", ".json", ".mat", ".kernel")


def resolve_kernel(spec: str) -> Kernel:
    """Turn a ``--kernel`` value into a :class:`Kernel`: file, matrix or name.

    In order: an existing file is loaded with :func:`load_kernel`; so is a
    value with a path separator or a kernel-file extension (``.txt``,
    ``.csv``, ``.npy``, ``.json``, ``.mat``, ``.kernel``), so that a missing
    file says "cannot read"; a value that starts like a number or ``[``
    (``"1,0,-1;..."``, ``"[[1,-1]]"``, ``"3x3: ..."``) is parsed with
    :func:`parse_kernel`; anything else is a built-in name for
    :func:`get_kernel`.

    Examples
    --------
    >>> resolve_kernel("laplacian").weights[1].tolist()
    [1.0, -4.0, 1.0]
    >>> resolve_kernel("[[1,-1]]").shape
    (1, 2)
    """
    text = spec.strip()
    if not text:
        raise KernelError("empty kernel: give a name, a matrix or a file")
    if os.path.isfile(text):
        return load_kernel(text)
    if "/" in text or os.sep in text or text.lower().endswith(_FILE_SUFFIXES):
        return load_kernel(text)
    if _NUMBER_START.match(text):
        return parse_kernel(text)
    return get_kernel(text)


def _format_number(value: float) -> str:
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def format_kernel_text(kernel: Kernel) -> str:
    """Write ``kernel`` as text that :func:`load_kernel` reads back exactly.

    A ``# name: description`` header (and ``# source:`` when known), an
    ``offset=`` line when the offset is not 0, then one line per row with
    values separated by ``", "`` at full (repr) precision.

    Raises
    ------
    KernelError
        For a gradient magnitude, which is two kernels, not one matrix.

    Examples
    --------
    >>> print(format_kernel_text(get_kernel("edge-x")), end="")
    # edge-x: horizontal difference [[1, −1]]: positive at a bright→dark step left to right
    # source: the textbook's finite difference (= diff:1,x); even width, anchored on the left tap
    1, -1
    """
    if kernel.is_magnitude:
        raise KernelError(
            f"kernel {kernel.name!r} is the magnitude of two kernels and has no single "
            "matrix; write its parts (e.g. sobel-x and sobel-y) instead"
        )
    lines = [f"# {kernel.name}: {kernel.description}".rstrip()]
    if kernel.source:
        lines.append(f"# source: {kernel.source}")
    if kernel.offset:
        lines.append(f"offset={kernel.offset!r}")
    for row in kernel.weights:
        lines.append(", ".join(_format_number(float(v)) for v in row))
    return "\n".join(line.replace("\n", " ") for line in lines) + "\n"
