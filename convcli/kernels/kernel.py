"""The :class:`Kernel` value: a 2-D filter kernel in correlation form, with its provenance.

Every kernel is written in **correlation form** (see CONVENTIONS.md): the
array you would hand to ``cv2.filter2D`` or ``torch.conv2d`` to get the
stated sign. A kernel of even size is anchored at index ``(k - 1) // 2``,
the cell that ``same`` padding centres (the extra row or column lies
below / to the right).

A :class:`Kernel` only says what the kernel is (its weights, whether it sums
to zero, whether it separates, whether it is a gradient magnitude of two
parts); applying it is the engine's job (:func:`convcli.filter2d`). The
built-ins are in :mod:`convcli.kernels.catalogue`, the readers of inline
matrices and files in :mod:`convcli.kernels.files`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..arithmetic.limits import check_kernel_taps
from ..engine.strategies import rank_one_factors
from ..errors import KernelError

__all__ = ["ZERO_SUM_RTOL", "Kernel", "as_weights", "check_finite"]

#: Relative tolerance of :attr:`Kernel.is_zero_sum` (against the sum of |w|).
ZERO_SUM_RTOL = 1e-9


def as_weights(values: Any, what: str = "kernel") -> np.ndarray:
    """Return ``values`` as a read-only, finite, non-empty 2-D float64 array."""
    try:
        arr = np.array(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise KernelError(f"{what} is not an array of numbers: {exc}") from None
    if arr.ndim != 2:
        raise KernelError(f"{what} must be 2-D, got {arr.ndim}-D of shape {arr.shape}")
    if arr.size == 0:
        raise KernelError(f"empty {what}: shape {arr.shape}")
    check_finite(arr, what)
    arr.setflags(write=False)
    return arr


def check_finite(arr: np.ndarray, what: str) -> None:
    """Raise a KernelError naming the first NaN or infinite cell of ``arr``."""
    bad = np.argwhere(~np.isfinite(arr))
    if bad.size:
        r, c = (int(i) + 1 for i in bad[0])
        raise KernelError(
            f"{what}: row {r}, column {c} is {arr[r - 1, c - 1]}; kernel values must be finite"
        )


def _factor(values: Any, what: str) -> np.ndarray:
    """Check ``values`` as a read-only, finite, non-empty 1-D float64 array.

    At most :data:`~convcli.arithmetic.limits.MAX_KERNEL_TAPS` taps (a 2-D
    kernel of one row).
    """
    arr = as_weights([values], what)[0]
    check_kernel_taps(arr.size, 1, what)
    return arr


@dataclass(frozen=True, eq=False, init=False)
class Kernel:
    """A 2-D filter kernel in correlation form, with its provenance.

    Parameters
    ----------
    name : str
        Short name: the built-in's name (``"gaussian"``), a file's stem, or
        ``"inline"``.
    weights : numpy.ndarray, optional
        2-D float64 weights in correlation form (read-only). For a gradient
        magnitude (``sobel``, ``scharr``, ``prewitt``) this is the x part,
        ``parts[0]``, so that :attr:`shape` and friends still describe it.
        May be left out when ``factors`` are given: it is then built from
        them when first asked for, if it fits (:data:`MAX_KERNEL_TAPS`).
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
    factors : (numpy.ndarray, numpy.ndarray), optional
        ``(column, row)`` 1-D arrays with ``weights == outer(column, row)``:
        a separable kernel (``box``, ``gaussian``) known by its factors,
        which the filter uses without building the 2-D weights
        (:func:`convcli.engine.passes.filter2d_separable`), so a
        ``box:20001`` costs 20001 + 20001 numbers, not 20001².

    Examples
    --------
    >>> k = Kernel("diff", [[1.0, -1.0]])
    >>> k.shape, k.is_zero_sum, k.is_separable
    ((1, 2), True, True)
    >>> big = Kernel("box", factors=(np.full(20001, 1 / 20001), np.full(20001, 1 / 20001)))
    >>> big.shape, big.is_separable, round(big.sum, 9)
    ((20001, 20001), True, 1.0)
    """

    name: str
    description: str
    source: str
    parts: tuple[np.ndarray, np.ndarray] | None
    combine: str | None
    offset: float
    params: Mapping[str, Any]
    factors: tuple[np.ndarray, np.ndarray] | None

    def __init__(
        self,
        name: str,
        weights: Any = None,
        description: str = "",
        source: str = "",
        parts: tuple[Any, Any] | None = None,
        combine: str | None = None,
        offset: float = 0.0,
        params: Mapping[str, Any] | None = None,
        factors: tuple[Any, Any] | None = None,
    ) -> None:
        setattr_ = object.__setattr__
        for key, value in (
            ("name", name),
            ("description", description),
            ("source", source),
            ("parts", parts),
            ("combine", combine),
            ("offset", offset),
            ("params", dict(params or {})),
            ("factors", None),
        ):
            setattr_(self, key, value)
        if factors is not None:
            col, row = (_factor(f, f"a factor of kernel {name!r}") for f in factors)
            setattr_(self, "factors", (col, row))
            if weights is not None:
                raise KernelError(f"kernel {name!r}: give `weights` or `factors`, not both")
            if parts is not None:
                raise KernelError(f"kernel {name!r}: a magnitude has parts, not factors")
            setattr_(self, "_weights", None)
        elif weights is None:
            raise KernelError(f"kernel {name!r}: give its `weights` (or `factors`)")
        else:
            setattr_(self, "_weights", as_weights(weights, f"kernel {name!r}"))
        self.__post_init__()

    @property
    def weights(self) -> np.ndarray:
        """The 2-D float64 weights (read-only); built from :attr:`factors` on first use.

        Raises
        ------
        LimitError
            When a kernel known by its factors has more taps than
            :data:`MAX_KERNEL_TAPS` (the filter never needs them: it uses the factors).
        """
        found: np.ndarray | None = self._weights  # type: ignore[attr-defined]
        if found is None:
            assert self.factors is not None
            col, row = self.factors
            check_kernel_taps(
                col.size,
                row.size,
                f"the 2-D weights of kernel {self.name!r} (it filters "
                "through its two 1-D factors; only showing or exporting it builds them)",
            )
            found = np.outer(col, row)
            found.setflags(write=False)
            object.__setattr__(self, "_weights", found)
        return found

    def __post_init__(self) -> None:
        """Check that the weights, parts and factors describe one kernel."""
        if (self.parts is None) != (self.combine is None):
            raise KernelError("`parts` and `combine` must be given together")
        if self.parts is not None:
            if self.combine != "magnitude":
                raise KernelError(f"`combine` must be 'magnitude', got {self.combine!r}")
            if len(self.parts) != 2:
                raise KernelError(f"a magnitude needs 2 parts, got {len(self.parts)}")
            parts = tuple(as_weights(p, f"part of kernel {self.name!r}") for p in self.parts)
            if parts[0].shape != parts[1].shape:
                raise KernelError(
                    f"the parts of kernel {self.name!r} differ in shape: "
                    f"{parts[0].shape} and {parts[1].shape}"
                )
            object.__setattr__(self, "parts", parts)
        if not math.isfinite(self.offset):
            raise KernelError(f"kernel {self.name!r}: offset must be finite, got {self.offset}")
        object.__setattr__(self, "offset", float(self.offset))

    def _repr_html_(self) -> str:
        """Jupyter: the name, then the weights as a table (negative red, positive blue)."""
        import html

        from ..output import format_number

        top = float(np.max(np.abs(self.weights))) or 1.0

        def td(v: float) -> str:
            shade = int(255 - 120 * abs(v) / top)
            colour = f"rgb({shade},{shade},255)" if v > 0 else f"rgb(255,{shade},{shade})"
            return (
                f'<td style="background:{colour};text-align:right;padding:2px 6px">'
                f"{format_number(v)}</td>"
            )

        rows = "".join(f"<tr>{''.join(td(v) for v in row)}</tr>" for row in self.weights)
        title = html.escape(f"{self.name} {self.shape[0]}×{self.shape[1]}")
        if self.combine == "magnitude":
            title += " (x part of a gradient magnitude)"
        note = f"<br><small>{html.escape(self.description)}</small>" if self.description else ""
        return f"<b>{title}</b>{note}<table>{rows}</table>"

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the kernel."""
        if self.factors is not None:
            return (self.factors[0].size, self.factors[1].size)
        return (int(self.weights.shape[0]), int(self.weights.shape[1]))

    @property
    def sum(self) -> float:
        """Sum of the weights (of the x part for a magnitude); ±inf beyond float64."""
        with np.errstate(over="ignore"):
            if self.factors is not None:
                return float(self.factors[0].sum()) * float(self.factors[1].sum())
            return float(self.weights.sum())

    @property
    def absolute_sum(self) -> float:
        """The largest sum of absolute weights of a part: how much the kernel can amplify.

        A result is at most this times the largest input value; ``inf`` when
        the sum is beyond float64 (weights near 1e308).

        Examples
        --------
        >>> Kernel("k", [[1, -2], [0, 3]]).absolute_sum
        6.0
        """
        if self.factors is not None:
            col, row = self.factors
            with np.errstate(over="ignore"):
                return float(np.abs(col).sum()) * float(np.abs(row).sum())
        arrays = self.parts if self.parts is not None else (self.weights,)
        with np.errstate(over="ignore"):
            return max(float(np.abs(a).sum()) for a in arrays)

    def check_magnitude(self, white: float, dtype: Any = np.float32) -> None:
        """Refuse a kernel whose results on an image of white ``white`` could overflow ``dtype``.

        Images are filtered in float32 (:func:`convcli.compute_dtype`); a
        kernel whose absolute sum times white is beyond its largest number
        would turn pixels into infinities. Raised as a KernelError naming the
        kernel (it, not the image, is at fault).

        Examples
        --------
        >>> Kernel("k", [[1e36, 1e36]]).check_magnitude(65535.0)
        Traceback (most recent call last):
        ...
        convcli.errors.KernelError: kernel 'k': results on a 16-bit image (white 65535) could reach 1.31e+41 (the absolute sum of the weights is 2e+36), beyond float32's largest number (3.4e+38) that images are filtered in; scale the kernel down
        """
        total = self.absolute_sum
        limit = float(np.finfo(dtype).max)
        bound = total * white
        if not bound <= limit:
            image = {255.0: "an 8-bit image", 65535.0: "a 16-bit image"}.get(white, "an image")
            reach = f"{bound:.3g}" if math.isfinite(bound) else "more than float64 holds"
            summed = f"{total:.3g}" if math.isfinite(total) else "beyond float64"
            raise KernelError(
                f"kernel {self.name!r}: results on {image} (white {white:g}) could reach "
                f"{reach} (the absolute sum of the weights is {summed}), beyond "
                f"{np.dtype(dtype).name}'s largest number ({limit:.2g}) that images are "
                "filtered in; scale the kernel down"
            )

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
        if self.factors is not None:  # outer(c, r) sums to sum(c)·sum(r): zero if either is
            arrays: tuple[np.ndarray, ...] = self.factors
            with np.errstate(over="ignore", invalid="ignore"):
                return any(
                    abs(float(a.sum())) <= ZERO_SUM_RTOL * float(np.abs(a).sum()) for a in arrays
                )
        arrays = self.parts if self.parts is not None else (self.weights,)
        with np.errstate(over="ignore", invalid="ignore"):  # weights near 1e308: inf sums
            return all(
                abs(float(a.sum())) <= ZERO_SUM_RTOL * float(np.abs(a).sum()) for a in arrays
            )

    @property
    def is_separable(self) -> bool:
        """True when the weights have rank 1 (an outer product of two vectors).

        Rank 1 as the engine decides it for its separable strategy
        (:func:`convcli.engine.strategies.rank_one_factors` in float64: the
        second singular value at most ``10·max(kh, kw)·eps`` times the
        first), so a kernel listed as separable is one the engine runs as
        two 1-D passes. Always False for a gradient magnitude: sqrt(gx² +
        gy²) is not a linear filter, even though each of its parts separates.
        """
        if self.factors is not None:
            return True
        return not self.is_magnitude and rank_one_factors(self.weights) is not None

    def separable_factors(self) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(column, row)`` with ``np.outer(column, row) == weights``.

        The factors of :func:`convcli.engine.strategies.rank_one_factors`:
        the column through the largest weight (that weight made positive)
        and the row divided by it, so integer kernels keep integer factors.

        Raises
        ------
        KernelError
            If the kernel is a magnitude or its weights do not separate.

        Examples
        --------
        >>> col, row = Kernel("sobel-x", [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]).separable_factors()
        >>> col.tolist(), row.tolist()
        ([1.0, 2.0, 1.0], [-1.0, 0.0, 1.0])
        """
        if self.is_magnitude:
            raise KernelError(f"kernel {self.name!r} is a magnitude of two kernels, not one")
        if self.factors is not None:
            return self.factors[0].copy(), self.factors[1].copy()
        factors = rank_one_factors(self.weights)
        if factors is None:
            raise KernelError(f"kernel {self.name!r} is not separable (its rank is above 1)")
        return factors
