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
from dataclasses import dataclass, field
from typing import Any

import numpy as np

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
        object.__setattr__(self, "weights", as_weights(self.weights, f"kernel {self.name!r}"))
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
        object.__setattr__(self, "params", dict(self.params))

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
        return (int(self.weights.shape[0]), int(self.weights.shape[1]))

    @property
    def sum(self) -> float:
        """Sum of the weights (of the x part for a magnitude); ±inf beyond float64."""
        with np.errstate(over="ignore"):
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
        factors = rank_one_factors(self.weights)
        if factors is None:
            raise KernelError(f"kernel {self.name!r} is not separable (its rank is above 1)")
        return factors
