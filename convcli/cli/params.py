"""Click parameter types shared by the commands (pure Python, no numpy).

Parsing happens here so that a malformed value is a usage error (exit 2)
whose message shows the accepted syntax.
"""

from __future__ import annotations

from typing import Any

import click

from ..arithmetic.sizes import PaddingSyntaxError, parse_padding
from ..arithmetic.support import PairSyntaxError, parse_pair
from ..errors import ShapeError


def pair_message(exc: PairSyntaxError, typed: str) -> str:
    """Write the usage message for ``N|HxW`` text that :func:`parse_pair` refused.

    A part is quoted with the whole value typed when it is only part of it
    (``'3x': '' is not a whole number``).
    """
    if exc.reason == "form":
        return f"{typed!r} is not N or HxW (e.g. 3 or 5x3)"
    if exc.reason == "digits":
        return f"a number of {len(exc.part.lstrip('+-'))} digits is too large"
    if exc.reason == "small":
        return f"{exc.value} is too small: it must be at least {exc.minimum}"
    where = f"{typed!r}: " if exc.part != typed.strip().lower() else ""
    return f"{where}{exc.part!r} is not a whole number"


class IntPair(click.ParamType):
    """``N`` for both axes or ``HxW`` per axis: ``3`` -> (3, 3), ``5x3`` -> (5, 3)."""

    name = "N|HxW"

    def __init__(self, minimum: int = 1) -> None:
        self.minimum = minimum

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        """Show ``N|HxW`` in the help, keeping the lower-case x."""
        return self.name

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[int, int]:
        """Parse ``N`` or ``HxW``; a malformed value is a usage error showing the syntax."""
        if isinstance(value, tuple):
            return value
        try:
            return parse_pair(str(value), self.minimum)
        except PairSyntaxError as exc:
            self.fail(pair_message(exc, str(value)), param, ctx)


class Padding(click.ParamType):
    """Padding per side: ``N``, ``HxW``, ``before:after``, ``t:bxl:r`` or a word.

    Read by :func:`convcli.arithmetic.sizes.parse_padding` into a word
    (``same``, ``valid``, ``full``) or ``((top, bottom), (left, right))``.
    """

    name = "PADDING"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Parse a padding; a malformed value is a usage error listing the forms."""
        if not isinstance(value, str):
            return value
        try:
            return parse_padding(value)
        except PaddingSyntaxError:
            self.fail(
                f"{value!r} is not a padding: use N, HxW (e.g. 2x1), before:after (e.g. 0:1), "
                "top:bottomxleft:right, or one of same, valid, full",
                param,
                ctx,
            )
        except ShapeError as exc:
            self.fail(str(exc), param, ctx)


INT_PAIR = IntPair(1)
NONNEG_INT_PAIR = IntPair(0)
PADDING = Padding()


class KernelSpec(click.ParamType):
    """A kernel: a built-in name with parameters, an inline matrix, or a file.

    Resolved with :func:`convcli.kernels.files.resolve_kernel`; a bad spec is a usage
    error whose message lists the closest names or shows the syntax.
    """

    name = "KERNEL"

    def __init__(self, images: bool = False) -> None:
        #: the kernel filters images: refuse one whose results could overflow
        #: (Kernel.check_magnitude against a 16-bit white), as a usage error
        self.images = images

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Resolve a kernel; a bad spec is a usage error naming the closest names."""
        if not isinstance(value, str):
            return value
        from ..errors import KernelError
        from ..kernels.files import resolve_kernel

        try:
            kernel = resolve_kernel(value)
            if self.images:
                kernel.check_magnitude(65535.0)
        except KernelError as exc:
            self.fail(str(exc), param, ctx)
        return kernel


KERNEL = KernelSpec()


class FiniteFloat(click.FloatRange):
    """A float that must be finite: ``nan`` and ``inf`` are usage errors, not silent black images.

    ``float()`` accepts them, and a range check lets ``nan`` through (every
    comparison with it is false), so they are refused here by name.
    """

    name = "finite float"

    def _describe_range(self) -> str:
        # Click's help shows "[x<=None]" for a range with no bounds; show nothing
        if self.min is None and self.max is None:
            return ""
        return super()._describe_range()

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Convert to a float, refusing ``nan`` and ``inf`` as a usage error."""
        import math

        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


FINITE_FLOAT = FiniteFloat()

#: float32's largest number (numpy.finfo(numpy.float32).max; this module avoids numpy)
FLOAT32_MAX = 3.4028234663852886e38


class PixelFloat(FiniteFloat):
    """A finite float that images are filtered in: float32, so at most ±3.4e38.

    ``--bias 1e308`` turned every pixel into infinity (an all-white image,
    exit 0, and a RuntimeWarning); it is a usage error here.
    """

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Convert to a finite float, refusing one beyond float32's range as a usage error."""
        number = super().convert(value, param, ctx)
        if abs(number) > FLOAT32_MAX:
            self.fail(
                f"{value!r} is beyond float32's largest number (3.4e+38), which images are "
                "filtered in",
                param,
                ctx,
            )
        return number


PIXEL_FLOAT = PixelFloat()
