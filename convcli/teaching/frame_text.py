"""The words and numbers of an animation's frames: values, sizes, formulas and titles."""

from __future__ import annotations

__all__ = [
    "cell_text",
    "formula_text",
    "number_text",
    "one_or_two",
    "pad_text",
    "size_text",
    "title_text",
]

Pair = tuple[int, int]
Pairs = tuple[Pair, Pair]


def number_text(value: float) -> str:
    """Write a value as the frames print it: whole numbers without a point.

    Examples
    --------
    >>> number_text(3.0), number_text(0.125)
    ('3', '0.125')
    """
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.4g}"


def cell_text(value: float) -> str:
    """Write a value inside a cell: three significant digits at most.

    At most four characters where two digits do (``0.56``, not ``0.556``).

    Examples
    --------
    >>> cell_text(3.0), cell_text(1.3333), cell_text(0.5556)
    ('3', '1.33', '0.56')
    """
    if float(value).is_integer():
        return str(int(value))
    text = f"{value:.3g}"
    return f"{value:.2g}" if len(text) > 4 else text


def size_text(pair_: Pair) -> str:
    """``H×W``."""
    return f"{pair_[0]}×{pair_[1]}"


def one_or_two(pair_: Pair) -> str:
    """Write a pair as one number when both are equal, else ``H×W``."""
    return str(pair_[0]) if pair_[0] == pair_[1] else size_text(pair_)


def pad_text(pads: tuple[Pair, Pair]) -> str:
    """Write a padding as briefly as it goes: ``1``, ``1×2`` or ``0:1×0:1``."""
    (t, b), (left, r) = pads
    if t == b == left == r:
        return str(t)
    if t == b and left == r:
        return f"{t}×{left}"
    return f"{t}:{b}×{left}:{r}"


def formula_text(texts: tuple[str, str]) -> str:
    """Write the caption's formula: one for both axes when they agree."""
    if texts[0] == texts[1]:
        return texts[0]
    return f"H: {texts[0]};  W: {texts[1]}"


def title_text(
    mode: str,
    pooling: bool,
    n: tuple[int, int],
    k: tuple[int, int],
    s: tuple[int, int],
    pads: Pairs,
    d: tuple[int, int],
    op: tuple[int, int],
) -> str:
    """Write the animation's title: what it is, its sizes and its geometry."""
    names = {
        "conv": "convolution",
        "transposed": "transposed convolution",
        "max": "max pooling",
        "avg": "average pooling",
    }
    parts = [f"{names[mode]}: input {size_text(n)}", f"kernel {size_text(k)}"]
    if pooling:
        parts[1] = f"window {size_text(k)}"
    parts.append(f"stride {one_or_two(s)}")
    parts.append(f"padding {pad_text(pads)}")
    if d != (1, 1):
        parts.append(f"dilation {one_or_two(d)}")
    if op != (0, 0):
        parts.append(f"output padding {one_or_two(op)}")
    return ", ".join(parts)
