"""THE output-size formula and its transposed and pooling forms (pure Python).

For one axis of length ``n``, a kernel of ``k`` taps with dilation ``d``,
stride ``s`` and ``p_before + p_after`` cells of padding::

    out = floor((n + p_before + p_after - d*(k - 1) - 1) / s) + 1

which, with ``p = p_before + p_after`` and ``d = 1``, is the textbook's
``floor((n - k + p + s) / s)``. :mod:`convcli.arithmetic.sizes` re-exports
everything here for the engine, pooling and ``convcli shape``.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import ShapeError
from .padding import split_padding
from .support import check_int, effective_kernel_size, signed

__all__ = ["output_size", "pair", "pool_output_size", "transposed_output_size"]


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
        return (check_int(value[0], name, minimum), check_int(value[1], name, minimum))
    v = check_int(value, name, minimum)
    return (v, v)


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
    n = check_int(n, "n", 1)
    k = check_int(k, "k", 1)
    stride = check_int(stride, "stride", 1)
    dilation = check_int(dilation, "dilation", 1)
    before, after = split_padding(padding)
    span = effective_kernel_size(k, dilation)
    padded = n + before + after
    if span > padded:
        p = before + after
        numerator = n - span + p + stride
        value = numerator // stride
        kdesc = f"{k}-wide kernel" if dilation == 1 else f"{k}-wide kernel (dilated to {span})"
        raise ShapeError(
            f"⌊({n} − {span} + {p} + {stride})/{stride}⌋ = {signed(value)}: "
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
    n = check_int(n, "n", 1)
    k = check_int(k, "k", 1)
    stride = check_int(stride, "stride", 1)
    dilation = check_int(dilation, "dilation", 1)
    output_padding = check_int(output_padding, "output_padding", 0)
    before, after = split_padding(padding)
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
    n = check_int(n, "n", 1)
    k = check_int(k, "size", 1)
    stride = k if stride is None else check_int(stride, "stride", 1)
    before, after = split_padding(padding)
    padded = n + before + after
    if k > padded:
        raise ShapeError(
            f"⌊({n} − {k} + {before + after} + {stride})/{stride}⌋ = "
            f"{signed((n - k + before + after + stride) // stride)}: the {k}-wide window is larger "
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
