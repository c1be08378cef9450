"""The built-in kernels, with their provenance, and the spec strings that name them.

:data:`KERNELS` maps every name (aliases included) to a
:class:`KernelFactory`, which knows the kernel's parameters, where its
values come from and how to build it; :func:`get_kernel` turns a spec such
as ``"gaussian:size=7"`` into a :class:`~convcli.kernels.kernel.Kernel`, and
:func:`kernel_names` lists the names. Each built-in is written in
correlation form (see :mod:`convcli.kernels.kernel`), with the convention of
the library it matches named in its ``source``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ..arithmetic.limits import check_kernel_taps
from ..errors import KernelError, ParameterError
from .kernel import Kernel

__all__ = [
    "KERNELS",
    "KernelFactory",
    "Param",
    "get_kernel",
    "kernel_names",
]


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


def _identity() -> np.ndarray:
    return np.ones((1, 1))


def _box(size: int) -> np.ndarray | Factors:
    _check_positive_int(size, "size", "box", separable=True)
    if size > FACTORED_ABOVE:  # used through its factors, never built (see Kernel.factors)
        return Factors(np.full(size, 1.0 / size), np.full(size, 1.0 / size))
    return np.full((size, size), 1.0 / (size * size))


def _gaussian(size: int | None, sigma: float | None) -> tuple[np.ndarray | Factors, dict]:
    size, sigma = _gaussian_size_sigma(size, sigma, "gaussian", separable=True)
    g = _gaussian_1d(sigma, size // 2)
    params = {"size": size, "sigma": sigma}
    if size > FACTORED_ABOVE:
        return Factors(g, g.copy()), params
    return np.outer(g, g), params


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
        if isinstance(built, tuple) and not isinstance(built, Factors):
            built, params = built  # builders with derived parameters return them too
        if isinstance(built, Factors):
            return Kernel(
                self.name, None, self.description, self.source, params=params, factors=built
            )
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
    choice = text.lower()
    if param.choices and choice not in param.choices:
        raise KernelError(
            f"kernel {factory.name!r}: `{param.name}` must be one of "
            f"{', '.join(param.choices)}, got {text!r}"
        )
    return choice


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
        import difflib

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
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # an overflow is refused, not warned
            return factory(**kwargs)
    except (MemoryError, ArithmeticError, RuntimeWarning) as exc:
        # a last line behind the parameter checks: never a bare MemoryError
        raise KernelError(
            f"kernel {spec!r}: its parameters are out of the range it can be computed for ({exc})"
        ) from None
