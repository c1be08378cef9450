"""Small helpers every module of :mod:`convcli.arithmetic` shares (pure Python).

Kept public here, as scipy.ndimage keeps its ``_ni_support``, so that no
module copies another's private helper: checking an integer argument, the
typographic minus of the formulas, the dilated span of a kernel, the
product of a shape, and the receptive-field step of one window.

Examples
--------
>>> check_int(3, "k", 1), effective_kernel_size(3, dilation=2), product((3, 4, 5))
(3, 5, 60)
>>> grow(((3, 3), (2, 2)), (3, 3), (2, 2))
((7, 7), (4, 4))
>>> parse_pair("5x3"), parse_pair("7")
((5, 3), (7, 7))
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import SupportsIndex

from ..errors import ShapeError

__all__ = [
    "Field",
    "Pair",
    "PairSyntaxError",
    "check_int",
    "effective_kernel_size",
    "grow",
    "parse_pair",
    "product",
    "shape_text",
    "signed",
]

Pair = tuple[int, int]
#: A receptive field and its jump, (H, W) each, in input pixels; None where
#: they are not defined (after a transposed convolution, a fully connected layer).
Field = tuple[Pair | None, Pair | None]


def check_int(value: object, name: str, minimum: int) -> int:
    """Return ``value`` as an int, or raise a ShapeError naming ``name``.

    ints and numpy integers are accepted; bools and floats (even integral
    ones) are not.

    Examples
    --------
    >>> check_int(0, "padding", 0)
    0
    >>> check_int(0, "k", 1)
    Traceback (most recent call last):
    ...
    convcli.errors.ShapeError: `k` must be at least 1, got 0
    """
    if type(value) is int:  # the common case first: a Protocol check costs ~15 µs
        number = value
    elif isinstance(value, bool) or not isinstance(value, SupportsIndex):
        raise ShapeError(f"`{name}` must be an integer, got {value!r}")
    else:
        number = value.__index__()
    if number < minimum:
        if minimum == 1:
            raise ShapeError(f"`{name}` must be at least 1, got {number}")
        raise ShapeError(f"`{name}` must be {minimum} or more, got {number}")
    return int(number)


def signed(value: int) -> str:
    """Write an integer with a typographic minus, as the formulas print it."""
    return f"−{-value}" if value < 0 else str(value)


def effective_kernel_size(k: int, dilation: int = 1) -> int:
    """Return the span of a dilated kernel, ``d*(k - 1) + 1``: the one place it is written.

    Examples
    --------
    >>> effective_kernel_size(3, dilation=2)
    5
    """
    return dilation * (k - 1) + 1


def product(shape: Sequence[int]) -> int:
    """Count the values in a tensor of ``shape`` (1 for ``()``)."""
    return math.prod(shape)


def shape_text(shape: Sequence[int]) -> str:
    """``3×224×224``."""
    return "×".join(str(v) for v in shape)


def grow(field: Field, span: Sequence[int], stride: Sequence[int]) -> Field:
    """Grow the receptive field and jump by a window of ``span`` cells moved by ``stride``.

    ``r_out = r_in + (span − 1)·j_in`` and ``j_out = j_in·s`` per axis; an
    undefined field stays undefined.
    """
    rf, jump = field
    if rf is None or jump is None:
        return None, None
    return (
        (rf[0] + (span[0] - 1) * jump[0], rf[1] + (span[1] - 1) * jump[1]),
        (jump[0] * stride[0], jump[1] * stride[1]),
    )


#: The most digits a number in a pair may have (Python's int() reads 4300).
MAX_DIGITS = 4300


class PairSyntaxError(ShapeError):
    """``N|HxW`` text that cannot be read; the caller words the message.

    Attributes
    ----------
    reason : {"form", "number", "digits", "small"}
        Not one or two parts; a part not a whole number; a number too long
        to read; a number below the minimum.
    part : str
        The part at fault (the whole text for ``"form"``).
    value : int or None
        The number, for ``"small"``.
    minimum : int
        The smallest number allowed.
    """

    def __init__(self, reason: str, part: str, value: int | None = None, minimum: int = 1) -> None:
        super().__init__(f"{part!r}: {reason}")
        self.reason, self.part, self.value, self.minimum = reason, part, value, minimum


def parse_pair(text: str, minimum: int = 1) -> Pair:
    """Read ``N`` (both axes) or ``HxW``: the one parser of ``N|HxW`` text.

    ``x``, ``×`` and ``,`` separate the axes, with spaces around them or
    not; each part is a whole number (an optional sign, ASCII digits).
    Used by the command line's sizes (``--in``, ``--k``) and the spec
    language's ``k5x3``, ``adaptiveavgpool 7``.

    Raises
    ------
    PairSyntaxError
        Saying why, for the caller to word.

    Examples
    --------
    >>> parse_pair("224 x 200"), parse_pair("3,2")
    ((224, 200), (3, 2))
    >>> try:
    ...     parse_pair("3x")
    ... except PairSyntaxError as exc:
    ...     print(exc.reason, repr(exc.part))
    number ''
    """
    parts = re.split(r"\s*[x×,]\s*", text.strip().lower())
    if len(parts) > 2:
        raise PairSyntaxError("form", text)
    numbers = []
    for part in parts:
        if not re.fullmatch(r"[+-]?[0-9]+", part):
            raise PairSyntaxError("number", part)
        if len(part.lstrip("+-")) > MAX_DIGITS:
            raise PairSyntaxError("digits", part)
        number = int(part)
        if number < minimum:
            raise PairSyntaxError("small", part, number, minimum)
        numbers.append(number)
    return (numbers[0], numbers[-1])
