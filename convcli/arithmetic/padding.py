"""Padding: the words, the text people write, and the (before, after) split (pure Python).

One home for each padding fact: :func:`split_total` splits a total padding
as "same" does (the extra cell after, as PyTorch and TensorFlow do),
:func:`same_padding` is "same" along one axis, :func:`parse_padding` reads
padding text (``--padding`` and the spec language's ``pPAD``) and
:func:`resolve_padding` turns any accepted padding into
``((top, bottom), (left, right))``.

Examples
--------
>>> split_total(7)
(3, 4)
>>> resolve_padding("same", (224, 224), (11, 11), (4, 4))
((3, 4), (3, 4))
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..errors import ShapeError
from .support import check_int, effective_kernel_size

__all__ = [
    "PAD_WORDS",
    "PaddingSpec",
    "PaddingSyntaxError",
    "axis_padding",
    "padding_words",
    "parse_padding",
    "resolve_padding",
    "same_padding",
    "split_padding",
    "split_total",
]

#: Anything accepted as padding: an int (every side), a pair (per axis),
#: a 4-tuple (top, bottom, left, right), a pair of (before, after) pairs,
#: or one of the words "valid", "same", "full".
PaddingSpec = int | str | Sequence[int] | Sequence[Sequence[int]]

#: The padding words, resolved per axis by :func:`resolve_padding`.
PAD_WORDS = ("valid", "same", "full")


class PaddingSyntaxError(ShapeError):
    """Padding text that is not ``N``, ``HxW``, ``before:after``, ``t:bxl:r`` or a word."""


def split_padding(padding: int | Sequence[int], name: str = "padding") -> tuple[int, int]:
    """One axis's padding, an int (both sides) or a (before, after) pair, as a checked pair."""
    if isinstance(padding, (list, tuple)):
        if len(padding) != 2:
            raise ShapeError(
                f"`{name}` must be an int or a (before, after) pair, got {tuple(padding)!r}"
            )
        return (check_int(padding[0], name, 0), check_int(padding[1], name, 0))
    p = check_int(padding, name, 0)
    return (p, p)


def split_total(total: int) -> tuple[int, int]:
    """Split a total padding as "same" does: ``total // 2`` before, the rest (the extra cell) after.

    Examples
    --------
    >>> split_total(3), split_total(4)
    ((1, 2), (2, 2))
    """
    before = total // 2
    return (before, total - before)


def same_padding(n: int, k: int, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """Return the ``(before, after)`` padding of "same" along one axis.

    With stride 1 the output has ``n`` cells; with stride ``s`` it has
    ``ceil(n / s)`` (TensorFlow's rule). The total padding is
    ``max((out - 1)*s + d*(k - 1) + 1 - n, 0)``, and when it is odd the extra
    cell goes *after* (bottom/right), as in PyTorch and TensorFlow.

    Examples
    --------
    >>> same_padding(8, 3)
    (1, 1)
    >>> same_padding(8, 4)
    (1, 2)
    >>> same_padding(224, 11, stride=4)
    (3, 4)
    """
    n = check_int(n, "n", 1)
    k = check_int(k, "k", 1)
    stride = check_int(stride, "stride", 1)
    dilation = check_int(dilation, "dilation", 1)
    out = -(-n // stride)
    return split_total(max((out - 1) * stride + effective_kernel_size(k, dilation) - n, 0))


def axis_padding(word: str, n: int, k: int, stride: int, dilation: int) -> tuple[int, int]:
    """Split the padding a word (``valid``, ``same``, ``full``) gives on one axis: (before, after)."""
    if word == "valid":
        return (0, 0)
    if word == "same":
        return same_padding(n, k, stride, dilation)
    # full: every partial overlap of kernel and input produces an output
    full = dilation * (k - 1)
    return (full, full)


def padding_words(
    n: int, k: int, stride: int, padding: Sequence[int], dilation: int = 1
) -> list[str]:
    """Name the padding words ("valid", "same", "full") that give ``padding`` on one axis.

    Parameters
    ----------
    n, k, stride, dilation : int
        As for :func:`output_size`.
    padding : (int, int)
        The (before, after) padding.

    Examples
    --------
    >>> padding_words(224, 3, 2, (0, 1))
    ['same']
    >>> padding_words(8, 1, 1, (0, 0))
    ['valid', 'same', 'full']
    """
    split = split_padding(padding)
    return [word for word in PAD_WORDS if axis_padding(word, n, k, stride, dilation) == split]


def parse_padding(text: str) -> str | tuple[tuple[int, int], tuple[int, int]]:
    """Read padding as people write it: the one parser of padding text.

    ``N`` (every side), ``HxW`` (per axis), ``before:after`` (both axes),
    ``top:bottomxleft:right`` (per side), or a word (``same``, ``valid``,
    ``full``). Case and spaces around the ``x`` do not matter; ``×`` is an
    ``x``. Used by the command line's ``--padding`` and by the layer-spec
    language's ``pPAD``.

    Returns
    -------
    str or ((int, int), (int, int))
        The word, lower-case, or ``((top, bottom), (left, right))``.

    Raises
    ------
    PaddingSyntaxError
        (a ShapeError) When the text has none of these forms.
    ShapeError
        When a number is negative.

    Examples
    --------
    >>> parse_padding("2")
    ((2, 2), (2, 2))
    >>> parse_padding("2x1")
    ((2, 2), (1, 1))
    >>> parse_padding("0:1")
    ((0, 1), (0, 1))
    >>> parse_padding("1:2x0:1")
    ((1, 2), (0, 1))
    >>> parse_padding("Same")
    'same'
    """
    cleaned = text.strip().lower()
    if cleaned in PAD_WORDS:
        return cleaned
    axes = re.split(r"\s*[x×]\s*", cleaned)
    if len(axes) > 2:
        raise PaddingSyntaxError(
            f"padding {text!r} is not N, HxW, before:after, top:bottomxleft:right, "
            "same, valid or full"
        )
    result: list[tuple[int, int]] = []
    for axis in axes:
        sides = axis.split(":")
        if len(sides) > 2:
            raise PaddingSyntaxError(f"padding {text!r} has more than 2 sides per axis")
        for side in sides:
            if not re.fullmatch(r"-?\d+", side):
                raise PaddingSyntaxError(f"padding {side!r} is not a whole number")
        nums = [int(side) for side in sides]
        for num in nums:
            if num < 0:
                raise ShapeError(f"{num} is too small: it must be at least 0")
        result.append((nums[0], nums[-1]))
    if len(result) == 1:
        result.append(result[0])
    return (result[0], result[1])


def resolve_padding(
    padding: PaddingSpec,
    size: Sequence[int],
    kernel_size: Sequence[int],
    stride: Sequence[int] = (1, 1),
    dilation: Sequence[int] = (1, 1),
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Turn any accepted padding spec into ``((top, bottom), (left, right))``.

    Parameters
    ----------
    padding : int, str or sequence
        ``int``: that many cells on every side. ``(ph, pw)``: per axis, both
        sides. ``(top, bottom, left, right)``: per side.
        ``((top, bottom), (left, right))``: per side, grouped by axis.
        ``"valid"``: none. ``"same"``: output ``ceil(n / stride)``, extra cell
        after. ``"full"``: ``dilation*(k - 1)`` on every side.
    size, kernel_size, stride, dilation : (int, int)
        The input's (H, W) and the kernel's, stride's and dilation's, needed
        for the words.

    Returns
    -------
    ((int, int), (int, int))
        The (before, after) padding of the H axis and of the W axis.

    Examples
    --------
    >>> resolve_padding("same", (8, 8), (4, 4))
    ((1, 2), (1, 2))
    >>> resolve_padding((1, 2, 3, 4), (8, 8), (3, 3))
    ((1, 2), (3, 4))
    >>> resolve_padding((2, 1), (8, 8), (5, 3))
    ((2, 2), (1, 1))
    """
    if isinstance(padding, str):
        word = padding.lower()
        if word not in PAD_WORDS:
            raise ShapeError(
                f"unknown `padding` {padding!r}: expected an int, a pair, a 4-tuple "
                f"or one of {', '.join(PAD_WORDS)}"
            )
        return (
            axis_padding(word, size[0], kernel_size[0], stride[0], dilation[0]),
            axis_padding(word, size[1], kernel_size[1], stride[1], dilation[1]),
        )
    if isinstance(padding, (list, tuple)):
        items = tuple(padding)
        if len(items) == 2 and all(isinstance(i, (list, tuple)) for i in items):
            return (split_padding(items[0]), split_padding(items[1]))
        if len(items) == 2:
            ph = check_int(items[0], "padding", 0)
            pw = check_int(items[1], "padding", 0)
            return ((ph, ph), (pw, pw))
        if len(items) == 4:
            t, b, left, r = (check_int(i, "padding", 0) for i in items)
            return ((t, b), (left, r))
        raise ShapeError(
            f"`padding` must be an int, a pair, a (top, bottom, left, right) 4-tuple "
            f"or a word, got {items!r}"
        )
    p = check_int(padding, "padding", 0)
    return ((p, p), (p, p))
