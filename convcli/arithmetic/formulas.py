"""The size formulas as text, with the numbers put in (used by ``convcli shape``).

Pure Python. Each function returns the size its counterpart in
:mod:`convcli.arithmetic.outputs` returns (and raises as it does).

Examples
--------
>>> conv_formula(224, 11, stride=4, padding=2)
'⌊(224 − 11 + 4 + 4)/4⌋ = ⌊55.25⌋ = 55'
"""

from __future__ import annotations

from collections.abc import Sequence

from .outputs import output_size, pool_output_size, transposed_output_size
from .padding import split_padding
from .support import effective_kernel_size

__all__ = ["conv_formula", "pool_formula", "quotient_text", "transposed_formula"]


def quotient_text(numerator: int, denominator: int) -> str:
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
    before, after = split_padding(padding)
    span = effective_kernel_size(k, dilation)
    p = before + after
    numerator = n - span + p + stride
    return (
        f"⌊({n} − {span} + {p} + {stride})/{stride}⌋ = ⌊{quotient_text(numerator, stride)}⌋ = {out}"
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
    before, after = split_padding(padding)
    p = before + after
    numerator = n - k + p + stride
    text = f"({n} − {k} + {p} + {stride})/{stride}"
    quotient = quotient_text(numerator, stride)
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
    before, after = split_padding(padding)
    kpart = f"({k} − 1)" if dilation == 1 else f"{dilation}·({k} − 1)"
    return f"({n} − 1)·{stride} − {before + after} + {kpart} + {output_padding} + 1 = {out}"
