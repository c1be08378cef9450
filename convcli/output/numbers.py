"""Numbers, counts and shapes written as a person reads them, for tables and messages."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

__all__ = [
    "format_count",
    "format_int",
    "format_number",
    "format_pair",
    "format_shape",
    "matrix_formatter",
    "short_count",
]


def format_int(value: int) -> str:
    """Write an integer with thousands separators.

    Examples
    --------
    >>> format_int(61100840)
    '61,100,840'
    """
    return f"{value:,}"


def format_count(value: int) -> str:
    """Write a large count briefly, with a unit: K, M, G or T (powers of 1000).

    Examples
    --------
    >>> format_count(714188480)
    '714.19 M'
    >>> format_count(3600000100)
    '3.60 G'
    >>> format_count(156)
    '156'
    >>> format_count(-2 * 10**400)[:8], len(format_count(10**400))
    ('-2000000', 394)

    Integers of any size: the hundredths are rounded in integer arithmetic
    (a float cannot hold 10**400).
    """
    for unit, scale in (("T", 10**12), ("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if abs(value) >= scale:
            hundredths = (abs(int(value)) * 100 + scale // 2) // scale
            whole, cents = divmod(hundredths, 100)
            return f"{'-' if value < 0 else ''}{whole}.{cents:02d} {unit}"
    return str(value)


def short_count(value: int) -> str:
    """Write a count in at most five characters, three significant digits: k, M, G, T.

    For narrow tables (the full number is in ``--json`` and ``--csv``).

    Examples
    --------
    >>> [short_count(v) for v in (156, 9408, 215808, 118013952, 4089184256)]
    ['156', '9.41k', '216k', '118M', '4.09G']
    >>> short_count(999_999)
    '1.00M'
    """
    units = ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "k"))
    if abs(value) < 1000:
        return str(value)
    sign = "-" if value < 0 else ""
    value = abs(int(value))
    for index, (scale, unit) in enumerate(units):
        if value < scale:
            continue
        digits = max(0, 3 - len(str(value // scale)))  # 9.41k, 21.6k, 216k
        rounded = (value * 10**digits + scale // 2) // scale
        if rounded >= 1000 and digits:  # 9,995 rounds to 10.00k: 10.0k
            digits -= 1
            rounded = (value * 10**digits + scale // 2) // scale
        elif rounded >= 1000 and index > 0:  # 999,500 rounds to 1000k: 1.00M
            scale, unit = units[index - 1]
            rounded, digits = (value * 100 + scale // 2) // scale, 2
        whole, frac = divmod(rounded, 10**digits)
        return f"{sign}{whole}.{frac:0{digits}d}{unit}" if digits else f"{sign}{whole}{unit}"
    return str(value)


def format_shape(shape: Iterable[int], sep: str = "×") -> str:
    """Join a shape's sizes: ``(64, 55, 55)`` → ``'64×55×55'``.

    Examples
    --------
    >>> format_shape((64, 55, 55))
    '64×55×55'
    >>> format_shape((3, 224, 224), sep="x")
    '3x224x224'
    """
    return sep.join(str(v) for v in shape)


def format_pair(value: Sequence[int] | None, sep: str = "×") -> str:
    """Write an (H, W) pair as one number when both are equal, ``—`` for None.

    Examples
    --------
    >>> format_pair((11, 11))
    '11'
    >>> format_pair((5, 3))
    '5×3'
    >>> format_pair(None)
    '—'
    """
    if value is None:
        return "—"
    if value[0] == value[1]:
        return str(value[0])
    return f"{value[0]}{sep}{value[1]}"


def format_number(value: float, paren: bool = False) -> str:
    """Write a number as a person does: ``3``, ``0.5``, and ``(-1)`` inside a product.

    Whole numbers without a point, others to 6 significant digits; ``-0``
    is ``0``. With ``paren``, a negative number is put in parentheses.

    Examples
    --------
    >>> format_number(3.0), format_number(0.5), format_number(-1, paren=True)
    ('3', '0.5', '(-1)')
    >>> format_number(1 / 3), format_number(-0.0)
    ('0.333333', '0')
    """
    v = float(value)
    text = str(int(v)) if v.is_integer() and abs(v) < 2**53 else f"{v:.6g}"
    if text == "-0":
        text = "0"
    return f"({text})" if paren and text.startswith("-") else text


#: Decimals a fixed-point matrix shows at most (numpy's default precision).
_MAX_DECIMALS = 8


def _decimals(value: float) -> int:
    """Return the decimals ``value`` needs when written to 6 significant digits."""
    text = f"{value:.6g}"
    return len(text.partition(".")[2]) if "e" not in text else _MAX_DECIMALS


def matrix_formatter(values: Iterable[float]) -> Callable[[float], str]:
    """Choose one way to write every value of a matrix, as :func:`numpy.array2string` does.

    Whole numbers are written as integers. Otherwise the whole matrix is
    fixed-point with one number of decimals, unless its nonzero magnitudes
    span more than 1000× or reach below 1e-4 or above 1e8: then it is all
    scientific, to 3 significant digits. Zero is ``0`` in every case.

    Examples
    --------
    >>> [matrix_formatter([-1, 0, 2])(v) for v in (-1, 0, 2)]
    ['-1', '0', '2']
    >>> [matrix_formatter([0.075, 0.125, 0.2])(v) for v in (0.075, 0.125, 0.2)]
    ['0.075', '0.125', '0.200']
    >>> [matrix_formatter([1.79e-08, 0.000239281])(v) for v in (1.79e-08, 0.000239281, 0.0)]
    ['1.79e-08', '2.39e-04', '0']
    """
    shown = [round(float(v), 12) for v in values]
    if all(v.is_integer() and abs(v) < 2**53 for v in shown):
        return format_number
    sizes = [abs(v) for v in shown if v != 0]
    big, small = max(sizes), min(sizes)
    if big >= 1e8 or small < 1e-4 or big / small > 1e3:
        return lambda v: "0" if v == 0 else f"{float(v):.2e}"
    decimals = min(_MAX_DECIMALS, max(_decimals(v) for v in shown))
    return lambda v: "0" if v == 0 else f"{round(float(v), 12):.{decimals}f}"
