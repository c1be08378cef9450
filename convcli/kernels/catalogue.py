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

import warnings

import numpy as np

from ..errors import KernelError
from .builders import (
    SMOOTH_PREWITT,
    SMOOTH_SCHARR,
    SMOOTH_SOBEL,
    build_box,
    build_diff,
    build_gaussian,
    build_identity,
    build_log,
    build_motion,
    build_unsharp,
    gradient_x,
    gradient_y,
)
from .factory import KernelFactory, Param, parse_params
from .kernel import Kernel

__all__ = [
    "KERNELS",
    "KernelFactory",
    "Param",
    "get_kernel",
    "kernel_names",
]


_GAUSS_PARAMS = (
    Param("size", int, None, "odd width and height; default 2·int(4σ + 0.5) + 1"),
    Param("sigma", float, None, "standard deviation in pixels; default from size, else 1"),
)

_FACTORIES: tuple[KernelFactory, ...] = (
    KernelFactory(
        "identity",
        "leaves the image unchanged: [[1]]",
        "the unit impulse δ",
        build_identity,
    ),
    KernelFactory(
        "box",
        "mean blur: size×size cells of 1/size²",
        "the moving average (uniform filter, scipy.ndimage.uniform_filter)",
        build_box,
        (Param("size", int, 3, "width and height in pixels"),),
        aliases=("blur",),
    ),
    KernelFactory(
        "gaussian",
        "Gaussian blur: exp(−r²/2σ²) normalised to sum 1, separable",
        "σ only: radius int(4σ + 0.5) as scipy.ndimage.gaussian_filter (truncate=4); "
        "size only: σ = 0.3·((size − 1)/2 − 1) + 0.8 as OpenCV (without its fixed tables)",
        build_gaussian,
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
        build_unsharp,
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
        build_log,
        _GAUSS_PARAMS,
    ),
    KernelFactory(
        "sobel-x",
        "Sobel x-gradient: positive where intensity rises to the right",
        "[1,2,1]ᵀ ⊗ [−1,0,1], unnormalised (a unit ramp gives 8) as OpenCV and "
        "scipy.ndimage.sobel; scikit-image divides by 4",
        lambda: gradient_x(SMOOTH_SOBEL),
    ),
    KernelFactory(
        "sobel-y",
        "Sobel y-gradient: positive where intensity rises downward",
        "[−1,0,1]ᵀ ⊗ [1,2,1], unnormalised as OpenCV and scipy.ndimage.sobel",
        lambda: gradient_y(SMOOTH_SOBEL),
    ),
    KernelFactory(
        "scharr-x",
        "Scharr x-gradient: positive where intensity rises to the right",
        "[3,10,3]ᵀ ⊗ [−1,0,1], unnormalised as OpenCV's Scharr (a unit ramp gives 32); "
        "scikit-image divides by 16",
        lambda: gradient_x(SMOOTH_SCHARR),
    ),
    KernelFactory(
        "scharr-y",
        "Scharr y-gradient: positive where intensity rises downward",
        "[−1,0,1]ᵀ ⊗ [3,10,3], unnormalised as OpenCV's Scharr",
        lambda: gradient_y(SMOOTH_SCHARR),
    ),
    KernelFactory(
        "prewitt-x",
        "Prewitt x-gradient: positive where intensity rises to the right",
        "[1,1,1]ᵀ ⊗ [−1,0,1], unnormalised as scipy.ndimage.prewitt; scikit-image divides by 3",
        lambda: gradient_x(SMOOTH_PREWITT),
    ),
    KernelFactory(
        "prewitt-y",
        "Prewitt y-gradient: positive where intensity rises downward",
        "[−1,0,1]ᵀ ⊗ [1,1,1], unnormalised as scipy.ndimage.prewitt",
        lambda: gradient_y(SMOOTH_PREWITT),
    ),
    KernelFactory(
        "sobel",
        "Sobel gradient magnitude sqrt(gx² + gy²) of sobel-x and sobel-y",
        "unscaled (scikit-image's sobel() divides by 4·√2)",
        lambda: (gradient_x(SMOOTH_SOBEL), gradient_y(SMOOTH_SOBEL)),
        combine="magnitude",
    ),
    KernelFactory(
        "scharr",
        "Scharr gradient magnitude sqrt(gx² + gy²) of scharr-x and scharr-y",
        "unscaled (scikit-image's scharr() divides by 16·√2)",
        lambda: (gradient_x(SMOOTH_SCHARR), gradient_y(SMOOTH_SCHARR)),
        combine="magnitude",
    ),
    KernelFactory(
        "prewitt",
        "Prewitt gradient magnitude sqrt(gx² + gy²) of prewitt-x and prewitt-y",
        "unscaled (scikit-image's prewitt() divides by 3·√2)",
        lambda: (gradient_x(SMOOTH_PREWITT), gradient_y(SMOOTH_PREWITT)),
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
        build_motion,
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
        build_diff,
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
    kwargs = parse_params(factory, arg_text)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # an overflow is refused, not warned
            return factory(**kwargs)
    except (MemoryError, ArithmeticError, RuntimeWarning) as exc:
        # a last line behind the parameter checks: never a bare MemoryError
        raise KernelError(
            f"kernel {spec!r}: its parameters are out of the range it can be computed for ({exc})"
        ) from None
