"""The named parts and builders of the built-in kernels (the values; the table is the catalogue).

Each builder takes a kernel's parameters (already converted) and returns its
weights in correlation form, or :class:`Factors` for a large separable one,
or both the weights and the parameters it resolved (a Gaussian's size from
its sigma). :mod:`.catalogue` names them, with their provenance.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..arithmetic.limits import check_kernel_taps
from ..errors import KernelError, ParameterError

__all__ = [
    "DIFFERENCE",
    "FACTORED_ABOVE",
    "SMOOTH_PREWITT",
    "SMOOTH_SCHARR",
    "SMOOTH_SOBEL",
    "Factors",
    "build_box",
    "build_diff",
    "build_gaussian",
    "build_identity",
    "build_log",
    "build_motion",
    "build_unsharp",
    "gaussian_1d",
    "gradient_x",
    "gradient_y",
]


# The 1-D pieces the 3×3 gradient operators are made of: each operator is
# (smoothing across the derivative) ⊗ (central difference along it), as
# scikit-image builds them. Unnormalised, like OpenCV and scipy.ndimage:
# a unit ramp gives 2 × sum(smoothing) (8 for Sobel).
DIFFERENCE = np.array([-1.0, 0.0, 1.0])  # central difference, rises to the right
SMOOTH_SOBEL = np.array([1.0, 2.0, 1.0])  # Sobel & Feldman (1968): binomial
SMOOTH_SCHARR = np.array([3.0, 10.0, 3.0])  # Scharr (2000): rotation-optimised
SMOOTH_PREWITT = np.array([1.0, 1.0, 1.0])  # Prewitt (1970): box


def gradient_x(smooth: np.ndarray) -> np.ndarray:
    """Difference along x (columns), smoothing along y (rows)."""
    return np.outer(smooth, DIFFERENCE)


def gradient_y(smooth: np.ndarray) -> np.ndarray:
    """Difference along y (rows, rising downward), smoothing along x."""
    return np.outer(DIFFERENCE, smooth)


def gaussian_1d(sigma: float, radius: int) -> np.ndarray:
    """exp(−x²/2σ²) on −radius..radius, normalised to sum 1 (scipy's kernel)."""
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-0.5 * (x / sigma) ** 2)
    return g / g.sum()


def _size_to_sigma(size: int) -> float:
    """OpenCV's rule for a Gaussian of ``size`` taps: 0.3·((size − 1)/2 − 1) + 0.8."""
    return 0.3 * ((size - 1) / 2 - 1) + 0.8


def _sigma_to_radius(sigma: float) -> int:
    """Scipy's rule with ``truncate=4``: radius = int(4σ + 0.5)."""
    return int(4.0 * sigma + 0.5)


def _gaussian_size_sigma(
    size: int | None, sigma: float | None, kernel: str, separable: bool = False
) -> tuple[int, float]:
    """Resolve the (size, sigma) pair of a Gaussian-based kernel.

    Its taps are bounded as any kernel's: ``size`` of them if it is
    ``separable`` (used through its factors), else ``size²``.
    """
    if size is not None and (size < 1 or size % 2 == 0):
        raise KernelError(f"kernel {kernel!r}: `size` must be odd and at least 1, got {size}")
    if sigma is not None and not sigma > 0:
        raise KernelError(f"kernel {kernel!r}: `sigma` must be positive, got {sigma}")
    if size is None and sigma is None:
        sigma = 1.0
    if size is None:
        assert sigma is not None
        size = 2 * _sigma_to_radius(sigma) + 1
        name, value = "sigma", f"{sigma:g}"
    else:
        name, value = "size", str(size)
        if sigma is None:
            sigma = _size_to_sigma(size)
    try:  # sized from sigma or given, the weights are bounded like any kernel's
        check_kernel_taps(size, 1 if separable else size, f"kernel {kernel!r} `{name}` {value}")
    except ParameterError as exc:
        raise KernelError(str(exc)) from None
    return size, float(sigma)


def _check_positive_int(value: int, name: str, kernel: str, separable: bool = False) -> None:
    """Refuse a size below 1, or one whose taps are over the limit."""
    if value < 1:
        raise KernelError(f"kernel {kernel!r}: `{name}` must be at least 1, got {value}")
    try:
        check_kernel_taps(value, 1 if separable else value, f"kernel {kernel!r} `{name}` {value}")
    except ParameterError as exc:
        raise KernelError(str(exc)) from None


#: A box or Gaussian wider than this is kept as its two 1-D factors (Kernel.factors):
#: filtering need never build its 2-D weights (0.5 MB at this size, 3.2 GB for box:20001).
FACTORED_ABOVE = 256


class Factors(NamedTuple):
    """What a builder returns for a kernel known by its factors (see Kernel.factors)."""

    column: np.ndarray
    row: np.ndarray


def build_identity() -> np.ndarray:
    """Build the unit impulse [[1]]."""
    return np.ones((1, 1))


def build_box(size: int) -> np.ndarray | Factors:
    """Build the size×size mean, as factors above FACTORED_ABOVE."""
    _check_positive_int(size, "size", "box", separable=True)
    if size > FACTORED_ABOVE:  # used through its factors, never built (see Kernel.factors)
        return Factors(np.full(size, 1.0 / size), np.full(size, 1.0 / size))
    return np.full((size, size), 1.0 / (size * size))


def build_gaussian(size: int | None, sigma: float | None) -> tuple[np.ndarray | Factors, dict]:
    """Build the normalised Gaussian and the (size, sigma) it resolved to."""
    size, sigma = _gaussian_size_sigma(size, sigma, "gaussian", separable=True)
    g = gaussian_1d(sigma, size // 2)
    params = {"size": size, "sigma": sigma}
    if size > FACTORED_ABOVE:
        return Factors(g, g.copy()), params
    return np.outer(g, g), params


def build_unsharp(amount: float, size: int | None, sigma: float | None) -> tuple[np.ndarray, dict]:
    """Build x + amount·(x − G ⋆ x) as one kernel, with its resolved parameters."""
    size, sigma = _gaussian_size_sigma(size, sigma, "unsharp")
    g = gaussian_1d(sigma, size // 2)
    weights = -amount * np.outer(g, g)
    weights[size // 2, size // 2] += 1.0 + amount
    return weights, {"amount": amount, "size": size, "sigma": sigma}


def build_log(size: int | None, sigma: float | None) -> tuple[np.ndarray, dict]:
    """Build the Laplacian of a Gaussian, summing to 0, with its resolved parameters."""
    size, sigma = _gaussian_size_sigma(size, sigma, "log")
    x = np.arange(-(size // 2), size // 2 + 1, dtype=np.float64)
    g0 = gaussian_1d(sigma, size // 2)
    # Second derivative of the (sum-normalised) Gaussian, as
    # scipy.ndimage.gaussian_filter(order=2) builds it: (x²/σ⁴ − 1/σ²)·g.
    g2 = (x**2 / sigma**4 - 1.0 / sigma**2) * g0
    weights = np.outer(g0, g2) + np.outer(g2, g0)  # ∂²/∂x² + ∂²/∂y²
    # Truncation leaves a small non-zero sum: remove it evenly (as MATLAB's
    # fspecial('log') does), then put the rounding residue on the centre.
    weights -= weights.mean()
    weights[size // 2, size // 2] -= weights.sum()
    return weights, {"size": size, "sigma": sigma}


def build_motion(length: int, angle: float) -> tuple[np.ndarray, dict]:
    """Build a line of ``length`` cells at ``angle`` degrees, summing to 1."""
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


def build_diff(order: int, axis: str) -> tuple[np.ndarray, dict]:
    """Build the finite difference of ``order`` along ``axis``."""
    _check_positive_int(order, "order", "diff")
    taps = np.array([(-1.0) ** k * math.comb(order, k) for k in range(order + 1)])
    weights = taps[np.newaxis, :] if axis == "x" else taps[:, np.newaxis]
    return weights, {"order": order, "axis": axis}
