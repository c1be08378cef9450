"""Convolution arithmetic: the one output-size formula and its relatives.

Pure Python (no numpy), so that ``convcli shape`` starts instantly. The
engine, pooling and the ``shape`` command all take their sizes from here.

The formula, for one axis of length ``n``, a kernel of ``k`` taps with
dilation ``d``, stride ``s`` and ``p_before + p_after`` cells of padding::

    out = floor((n + p_before + p_after - d*(k - 1) - 1) / s) + 1

which, with ``p = p_before + p_after`` and ``d = 1``, is the textbook's
``floor((n - k + p + s) / s)``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import SupportsIndex

from ..errors import LimitError, ShapeError

__all__ = [
    "PAD_WORDS",
    "PaddingSpec",
    "PaddingSyntaxError",
    "conv_formula",
    "effective_kernel_size",
    "output_size",
    "padding_words",
    "pair",
    "parse_padding",
    "pool_formula",
    "pool_output_size",
    "resolve_padding",
    "same_padding",
    "solve_stride_padding",
    "transposed_formula",
    "transposed_output_size",
    "uncovered_cells",
]

#: Anything accepted as padding: an int (every side), a pair (per axis),
#: a 4-tuple (top, bottom, left, right), a pair of (before, after) pairs,
#: or one of the words "valid", "same", "full".
PaddingSpec = int | str | Sequence[int] | Sequence[Sequence[int]]

#: The padding words, resolved per axis by :func:`resolve_padding`.
PAD_WORDS = ("valid", "same", "full")


class PaddingSyntaxError(ShapeError):
    """Padding text that is not ``N``, ``HxW``, ``before:after``, ``t:bxl:r`` or a word."""


def _check_int(value: object, name: str, minimum: int) -> int:
    """Return ``value`` as an int, or raise a ShapeError naming ``name``."""
    # ints and numpy integers are fine; bools and floats (even integral ones) are not
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


def _signed(value: int) -> str:
    """An integer with a typographic minus, as the formulas print it."""
    return f"−{-value}" if value < 0 else str(value)


def pair(value: int | Sequence[int], name: str, minimum: int = 1) -> tuple[int, int]:
    """Return ``value`` as an (H, W) pair of ints, checking each is ``>= minimum``.

    Parameters
    ----------
    value : int or pair of int
        One value for both axes, or one per axis.
    name : str
        The argument's name, used in error messages.
    minimum : int, optional
        The smallest allowed value.

    Examples
    --------
    >>> pair(3, "stride")
    (3, 3)
    >>> pair((2, 1), "stride")
    (2, 1)
    """
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ShapeError(f"`{name}` must be an int or a pair of ints, got {tuple(value)!r}")
        return (_check_int(value[0], name, minimum), _check_int(value[1], name, minimum))
    v = _check_int(value, name, minimum)
    return (v, v)


def effective_kernel_size(k: int, dilation: int = 1) -> int:
    """Return the span of a dilated kernel, ``d*(k - 1) + 1``.

    Examples
    --------
    >>> effective_kernel_size(3, dilation=2)
    5
    """
    return dilation * (k - 1) + 1


def _split_padding(padding: int | Sequence[int], name: str = "padding") -> tuple[int, int]:
    if isinstance(padding, (list, tuple)):
        if len(padding) != 2:
            raise ShapeError(
                f"`{name}` must be an int or a (before, after) pair, got {tuple(padding)!r}"
            )
        return (_check_int(padding[0], name, 0), _check_int(padding[1], name, 0))
    p = _check_int(padding, name, 0)
    return (p, p)


def output_size(
    n: int,
    k: int,
    stride: int = 1,
    padding: int | Sequence[int] = 0,
    dilation: int = 1,
) -> int:
    """Return the number of outputs along one axis of a convolution.

    Parameters
    ----------
    n : int
        Input length (>= 1).
    k : int
        Kernel length (>= 1).
    stride : int, optional
        Step between windows (>= 1).
    padding : int or (int, int), optional
        Padding on *each* side (like PyTorch's ``padding``), or a
        ``(before, after)`` pair for uneven padding.
    dilation : int, optional
        Spacing between kernel taps (>= 1); the kernel spans ``d*(k-1)+1``.

    Returns
    -------
    int
        ``floor((n + p_before + p_after - d*(k-1) - 1) / stride) + 1``.

    Raises
    ------
    ShapeError
        If an argument is out of range or the kernel does not fit into the
        padded input; the message shows the formula with the numbers put in.

    Examples
    --------
    >>> output_size(224, 11, stride=4, padding=2)
    55
    >>> output_size(8, 3, stride=2, padding=1)
    4
    >>> output_size(5, 2, padding=(0, 1))
    5
    """
    n = _check_int(n, "n", 1)
    k = _check_int(k, "k", 1)
    stride = _check_int(stride, "stride", 1)
    dilation = _check_int(dilation, "dilation", 1)
    before, after = _split_padding(padding)
    span = effective_kernel_size(k, dilation)
    padded = n + before + after
    if span > padded:
        p = before + after
        numerator = n - span + p + stride
        value = numerator // stride
        kdesc = f"{k}-wide kernel" if dilation == 1 else f"{k}-wide kernel (dilated to {span})"
        raise ShapeError(
            f"⌊({n} − {span} + {p} + {stride})/{stride}⌋ = {_signed(value)}: "
            f"the {kdesc} is larger than the padded input ({padded})"
        )
    return (padded - span) // stride + 1


def transposed_output_size(
    n: int,
    k: int,
    stride: int = 1,
    padding: int | Sequence[int] = 0,
    dilation: int = 1,
    output_padding: int = 0,
) -> int:
    """Return the output length of a transposed convolution along one axis.

    Parameters
    ----------
    n, k, stride, padding, dilation
        As for :func:`output_size`; ``padding`` is what the matching forward
        convolution used (per side, or a ``(before, after)`` pair).
    output_padding : int, optional
        Extra cells added on one side to resolve the ambiguity of a strided
        forward convolution; must be smaller than ``stride`` or ``dilation``.

    Returns
    -------
    int
        ``(n - 1)*stride - p_total + dilation*(k - 1) + output_padding + 1``.

    Examples
    --------
    >>> transposed_output_size(55, 11, stride=4, padding=2)
    223
    >>> transposed_output_size(55, 11, stride=4, padding=2, output_padding=1)
    224
    """
    n = _check_int(n, "n", 1)
    k = _check_int(k, "k", 1)
    stride = _check_int(stride, "stride", 1)
    dilation = _check_int(dilation, "dilation", 1)
    output_padding = _check_int(output_padding, "output_padding", 0)
    before, after = _split_padding(padding)
    if output_padding >= max(stride, dilation):
        raise ShapeError(
            f"`output_padding` ({output_padding}) must be smaller than the stride ({stride}) "
            f"or the dilation ({dilation})"
        )
    out = (n - 1) * stride - (before + after) + dilation * (k - 1) + output_padding + 1
    if out < 1:
        raise ShapeError(
            f"({n} − 1)·{stride} − {before + after} + {dilation}·({k} − 1) + {output_padding} + 1"
            f" = {out}: the padding removes more than the transposed convolution produces"
        )
    return out


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
    n = _check_int(n, "n", 1)
    k = _check_int(k, "k", 1)
    stride = _check_int(stride, "stride", 1)
    dilation = _check_int(dilation, "dilation", 1)
    out = -(-n // stride)
    total = max((out - 1) * stride + effective_kernel_size(k, dilation) - n, 0)
    before = total // 2
    return (before, total - before)


def _axis_padding(word: str, n: int, k: int, stride: int, dilation: int) -> tuple[int, int]:
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
    split = _split_padding(padding)
    return [word for word in PAD_WORDS if _axis_padding(word, n, k, stride, dilation) == split]


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
            _axis_padding(word, size[0], kernel_size[0], stride[0], dilation[0]),
            _axis_padding(word, size[1], kernel_size[1], stride[1], dilation[1]),
        )
    if isinstance(padding, (list, tuple)):
        items = tuple(padding)
        if len(items) == 2 and all(isinstance(i, (list, tuple)) for i in items):
            return (_split_padding(items[0]), _split_padding(items[1]))
        if len(items) == 2:
            ph = _check_int(items[0], "padding", 0)
            pw = _check_int(items[1], "padding", 0)
            return ((ph, ph), (pw, pw))
        if len(items) == 4:
            t, b, left, r = (_check_int(i, "padding", 0) for i in items)
            return ((t, b), (left, r))
        raise ShapeError(
            f"`padding` must be an int, a pair, a (top, bottom, left, right) 4-tuple "
            f"or a word, got {items!r}"
        )
    p = _check_int(padding, "padding", 0)
    return ((p, p), (p, p))


def pool_output_size(
    n: int,
    k: int,
    stride: int | None = None,
    padding: int | Sequence[int] = 0,
    ceil_mode: bool = False,
) -> int:
    """Return the output length of a pooling window along one axis.

    Follows PyTorch: with ``ceil_mode`` the division rounds up, but a last
    window that would *start* inside the right padding is dropped. Unlike
    PyTorch, padding may exceed half the window, as long as every window
    still holds at least one real cell.

    Parameters
    ----------
    n : int
        Input length.
    k : int
        Window length.
    stride : int, optional
        Step between windows; defaults to ``k``.
    padding : int or (int, int), optional
        Padding per side, or a (before, after) pair.
    ceil_mode : bool, optional
        Round the division up instead of down.

    Examples
    --------
    >>> pool_output_size(4, 2)
    2
    >>> pool_output_size(5, 2, stride=2, padding=1, ceil_mode=True)
    3
    >>> pool_output_size(4, 3, stride=3, padding=2)
    2
    """
    n = _check_int(n, "n", 1)
    k = _check_int(k, "size", 1)
    stride = k if stride is None else _check_int(stride, "stride", 1)
    before, after = _split_padding(padding)
    padded = n + before + after
    if k > padded:
        raise ShapeError(
            f"⌊({n} − {k} + {before + after} + {stride})/{stride}⌋ = "
            f"{_signed((n - k + before + after + stride) // stride)}: the {k}-wide window is larger "
            f"than the padded input ({padded})"
        )
    if ceil_mode:
        out = -(-(padded - k) // stride) + 1
        if (out - 1) * stride >= n + before:
            out -= 1
    else:
        out = (padded - k) // stride + 1
    if before >= k:
        raise ShapeError(
            f"padding {before} before a {k}-wide window leaves the first window with no "
            f"real cell: padding must be smaller than the window"
        )
    if (out - 1) * stride - before > n - 1:
        raise ShapeError(
            f"the last {k}-wide window starts at {(out - 1) * stride - before}, past the end of "
            f"the input ({n}): reduce the padding after ({after})"
        )
    return out


# --------------------------------------------------------------------------
# Display, coverage and solving backwards (used by ``convcli shape``)
# --------------------------------------------------------------------------


def _quotient_text(numerator: int, denominator: int) -> str:
    """Write ``numerator / denominator`` as a short decimal.

    Exact when the decimal ends within four places (``55.25``); otherwise
    truncated (not rounded, so the floor stays visible) to two places and
    marked with an ellipsis (``3.33…``).
    """
    whole, rest = divmod(numerator, denominator)
    if rest == 0:
        return str(whole)
    digits = []
    for _ in range(4):
        rest *= 10
        digit, rest = divmod(rest, denominator)
        digits.append(str(digit))
        if rest == 0:
            return f"{whole}.{''.join(digits)}"
    return f"{whole}.{''.join(digits[:2])}…"


def conv_formula(
    n: int,
    k: int,
    stride: int = 1,
    padding: int | Sequence[int] = 0,
    dilation: int = 1,
) -> str:
    """Return the output-size formula of one axis with the numbers put in.

    The textbook's ``⌊(n − k + p + s)/s⌋`` with ``p`` the *total* padding and,
    with dilation, ``k`` replaced by ``d·(k − 1) + 1``. The result is the one
    :func:`output_size` returns (which raises if the kernel does not fit).

    Examples
    --------
    >>> conv_formula(224, 11, stride=4, padding=2)
    '⌊(224 − 11 + 4 + 4)/4⌋ = ⌊55.25⌋ = 55'
    >>> conv_formula(7, 3, dilation=2)
    '⌊(7 − 5 + 0 + 1)/1⌋ = ⌊3⌋ = 3'
    """
    out = output_size(n, k, stride, padding, dilation)
    before, after = _split_padding(padding)
    span = effective_kernel_size(k, dilation)
    p = before + after
    numerator = n - span + p + stride
    return (
        f"⌊({n} − {span} + {p} + {stride})/{stride}⌋ = "
        f"⌊{_quotient_text(numerator, stride)}⌋ = {out}"
    )


def pool_formula(
    n: int,
    k: int,
    stride: int | None = None,
    padding: int | Sequence[int] = 0,
    ceil_mode: bool = False,
) -> str:
    """Return a pooling layer's output-size formula with the numbers put in.

    With ``ceil_mode`` the brackets round up, and when PyTorch's rule drops a
    last window that would start inside the right padding, that is shown.

    Examples
    --------
    >>> pool_formula(55, 3, stride=2)
    '⌊(55 − 3 + 0 + 2)/2⌋ = ⌊27⌋ = 27'
    >>> pool_formula(6, 3, stride=2, ceil_mode=True)
    '⌈(6 − 3 + 0 + 2)/2⌉ = ⌈2.5⌉ = 3'
    >>> pool_formula(5, 2, stride=2, padding=1, ceil_mode=True)
    '⌈(5 − 2 + 2 + 2)/2⌉ = ⌈3.5⌉ = 4 − 1 = 3 (the last window would start in the padding)'
    """
    out = pool_output_size(n, k, stride, padding, ceil_mode)
    stride = k if stride is None else stride
    before, after = _split_padding(padding)
    p = before + after
    numerator = n - k + p + stride
    text = f"({n} − {k} + {p} + {stride})/{stride}"
    quotient = _quotient_text(numerator, stride)
    if not ceil_mode:
        return f"⌊{text}⌋ = ⌊{quotient}⌋ = {out}"
    rounded = -(-numerator // stride)
    if rounded == out:
        return f"⌈{text}⌉ = ⌈{quotient}⌉ = {out}"
    return (
        f"⌈{text}⌉ = ⌈{quotient}⌉ = {rounded} − 1 = {out} "
        "(the last window would start in the padding)"
    )


def transposed_formula(
    n: int,
    k: int,
    stride: int = 1,
    padding: int | Sequence[int] = 0,
    dilation: int = 1,
    output_padding: int = 0,
) -> str:
    """Return a transposed convolution's size formula with the numbers put in.

    ``(n − 1)·s − p + d·(k − 1) + output_padding + 1`` with ``p`` the total
    padding of the matching forward convolution.

    Examples
    --------
    >>> transposed_formula(55, 11, stride=4, padding=2, output_padding=1)
    '(55 − 1)·4 − 4 + (11 − 1) + 1 + 1 = 224'
    >>> transposed_formula(3, 3, dilation=2)
    '(3 − 1)·1 − 0 + 2·(3 − 1) + 0 + 1 = 7'
    """
    out = transposed_output_size(n, k, stride, padding, dilation, output_padding)
    before, after = _split_padding(padding)
    kpart = f"({k} − 1)" if dilation == 1 else f"{dilation}·({k} − 1)"
    return f"({n} − 1)·{stride} − {before + after} + {kpart} + {output_padding} + 1 = {out}"


def uncovered_cells(
    n: int,
    k: int,
    stride: int = 1,
    padding: int | Sequence[int] = 0,
    dilation: int = 1,
    out: int | None = None,
) -> int:
    """Count the input cells along one axis that no kernel tap ever reads.

    A stride larger than the kernel's span skips cells between windows, and
    a stride that does not divide the padded length leaves cells after the
    last window; a dilation larger than the stride skips cells inside the
    windows. Padding cells are not counted.

    Parameters
    ----------
    n, k, stride, padding, dilation
        As for :func:`output_size`.
    out : int, optional
        The number of windows, when it differs from :func:`output_size`
        (a pooling layer in ceil mode); computed when omitted.

    Examples
    --------
    >>> uncovered_cells(5, 3, stride=3)
    2
    >>> uncovered_cells(224, 11, stride=4)
    1
    >>> uncovered_cells(8, 3, padding=1)
    0
    """
    if out is None:
        out = output_size(n, k, stride, padding, dilation)
    before, _ = _split_padding(padding)
    if n > _MARKED_CELLS:  # arithmetic, not a mark per cell: n may be 10**400
        return n - _covered(before, before + n, (stride, out), (dilation, k))
    covered = bytearray(n)
    for tap in range(k):
        first = tap * dilation - before  # where this tap reads in window 0
        last = first + (out - 1) * stride
        if first < 0:  # skip the windows whose tap lies in the padding
            skipped = (stride - 1 - first) // stride  # ceil(-first / stride)
            first += skipped * stride
        last = min(last, n - 1)
        if first <= last:
            positions = range(first, last + 1, stride)
            covered[first : last + 1 : stride] = b"\x01" * len(positions)
    return n - covered.count(1)


#: up to this many cells an axis is counted cell by cell (a bytearray); beyond, in closed form
_MARKED_CELLS = 2**20


def _covered(lo: int, hi: int, windows: tuple[int, int], taps: tuple[int, int]) -> int:
    """How many y in ``[lo, hi)`` are ``j·s + t·d`` for some window j < out and tap t < k.

    ``windows`` is (s, out), ``taps`` (d, k); y counts from the first
    window's first tap (padding included). The set is symmetric in the two,
    so the closed form walks the residue classes of whichever has fewer.
    Within one class r (mod s) the taps t0, t0 + P, ... (P = s / gcd(s, d))
    each cover a run of ``out`` consecutive class positions, the runs
    ``d / gcd`` apart: either one merged run or equal disjoint ones.
    """
    import math

    (s, out), (d, k) = windows, taps
    g = math.gcd(s, d)
    if min(k, s // g) > min(out, d // g):
        (s, out), (d, k) = (d, k), (s, out)
    classes = min(k, s // g)
    from .limits import MAX_RESIDUE_CLASSES

    if classes > MAX_RESIDUE_CLASSES:
        raise LimitError(
            f"counting the cells no window reads along an axis of {hi - lo} cells "
            f"({out} windows {s} apart, {k} taps {d} apart) takes {classes} steps; the "
            f"limit is {MAX_RESIDUE_CLASSES} steps"
        )
    period = s // g  # taps t and t + period fall in the same class
    step = d // g  # ... one class position apart per period of taps
    total = 0
    for t0 in range(classes):
        start = t0 * d // s  # the class position tap t0 starts at
        runs = (k - 1 - t0) // period + 1  # taps t0, t0 + period, ... below k
        r = t0 * d % s
        # class positions m with lo <= r + m*s < hi
        first, end = -((r - lo) // s), -((r - hi) // s)
        total += _runs_below(end - start, runs, out, step)
        total -= _runs_below(first - start, runs, out, step)
    return total


def _runs_below(u: int, runs: int, length: int, step: int) -> int:
    """Positions below ``u`` covered by ``runs`` runs of ``length``, starting at 0, ``step`` apart."""
    if u <= 0:
        return 0
    if step <= length:  # the runs touch or overlap: one run
        return min(u, (runs - 1) * step + length)
    full, rest = divmod(u, step)
    return runs * length if full >= runs else full * length + min(rest, length)


def solve_stride_padding(
    n: int,
    out: int,
    k: int,
    dilation: int = 1,
    stride: int | None = None,
    padding: int | str | Sequence[int] | None = None,
    max_padding: int | None = None,
) -> list[tuple[int, int, int]]:
    """List the strides and paddings for which one axis yields ``out`` cells.

    Every stride and every total padding up to ``2 * max_padding``, a total
    padding split as "same" splits it (the extra cell after). Solved in
    closed form by :func:`.solve.solve_strides`, which this lists: the list
    can be long (``n = 10**6``, ``out = 7``: 119,047 rows), the solving is not.
    More than the memory budget's worth of rows (1,677,721) is a
    :class:`~convcli.errors.LimitError`, raised before listing.

    Parameters
    ----------
    n : int
        Input length.
    out : int
        The wanted output length.
    k : int
        Kernel length.
    dilation : int, optional
        Kernel dilation.
    stride : int, optional
        Only try this stride.
    padding : int, pair or word, optional
        Only try this padding (per side, a (before, after) pair, or
        "valid", "same", "full").
    max_padding : int, optional
        Largest padding per side to try; defaults to ``d*(k - 1)`` ("full").

    Returns
    -------
    list of (stride, before, after)
        Sorted by stride, then by total padding.

    Examples
    --------
    >>> solve_stride_padding(224, 112, 3)
    [(2, 0, 1), (2, 1, 1)]
    >>> solve_stride_padding(8, 8, 3)
    [(1, 1, 1)]
    """
    from ..errors import LimitError
    from .limits import MAX_SOLUTIONS
    from .solve import solve_strides

    found = solve_strides(n, out, k, dilation, stride, padding, max_padding)
    most = MAX_SOLUTIONS
    if found.count > most:
        raise LimitError(
            f"solve_stride_padding: {found.count:,} solutions would be listed, over the "
            f"limit of {most:,}; solve_strides() counts them and lists them lazily"
        )
    return list(found.choices())
