"""The frames of a convolution animation: pure arithmetic, no pixels.

:func:`animation_frames` lists, for each output cell in row-major order, the
input-grid cells the kernel's taps read (its footprint, with dilation's
holes), the output cell, and with numbers the value and its terms. The grid
is the *drawn* input: the padding around it, and for a transposed
convolution the input spread by the stride with zero cells between and the
full padding ``d·(k − 1) − p`` around, swept at stride 1 as conv_arithmetic
draws it. Sizes come from :mod:`convcli.arithmetic.sizes`, and so does the
caption's formula. :mod:`.animate` draws the frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..arithmetic.sizes import (
    PaddingSpec,
    conv_formula,
    output_size,
    pair,
    pool_formula,
    pool_output_size,
    resolve_padding,
    transposed_formula,
    transposed_output_size,
)
from ..errors import ParameterError, ShapeError

__all__ = [
    "MAX_FRAMES",
    "Animation",
    "AnimationFrame",
    "animation_frames",
    "cell_text",
    "number_text",
    "size_text",
]

#: The most output cells (frames) one animation may have.
#: Raised by: none (fixed: a larger grid is no longer readable as an animation)
MAX_FRAMES = 1024

Pair = tuple[int, int]
Cell = tuple[int, int]


@dataclass(frozen=True)
class AnimationFrame:
    """One output cell being computed.

    Attributes
    ----------
    index : int
        The frame's position (row-major over the output).
    output : (int, int)
        The output cell's (row, column).
    footprint : tuple of (int, int)
        The (row, column) of the input-grid cell under each kernel tap, in
        the kernel's row-major order; with dilation, the cells between are
        holes. For pooling, the window's cells.
    taps : tuple of (int, int)
        The kernel tap, (row, column), that reads each footprint cell.
    value : float or None
        The output value (with numbers), else None.
    terms : tuple of (float, float)
        With numbers: (input value, weight) of each tap for a convolution,
        (input value, 1) of each real (not padding) cell for pooling.
    text : str
        The frame's line of arithmetic, e.g. ``Y[0,1] = 1·0 + 2·1 + 4·2 + 5·3 = 25``.
    """

    index: int
    output: Cell
    footprint: tuple[Cell, ...]
    taps: tuple[Cell, ...]
    value: float | None
    terms: tuple[tuple[float, float], ...]
    text: str


@dataclass(frozen=True)
class Animation:
    """Everything needed to draw an animation: the grids and the frames.

    Attributes
    ----------
    mode : {"conv", "transposed", "max", "avg"}
        What is animated.
    size, kernel_size, stride, dilation, output_padding : (int, int)
        The geometry, per axis (H, W).
    padding : ((int, int), (int, int))
        (before, after) padding of the H and W axes (for ``transposed``, that
        of the forward convolution, as PyTorch's ``padding``).
    grid_padding : ((int, int), (int, int))
        The padding drawn around the input grid (for ``transposed``, the
        full padding ``d·(k − 1) − p``, plus ``output_padding`` after).
    grid : tuple of str
        One string per grid row, one letter per cell: ``x`` an input cell,
        ``p`` padding, ``z`` a zero inserted between spread inputs.
    grid_values : tuple of tuple of float, or None
        The drawn grid's values (padding and inserted zeros are 0).
    kernel : tuple of tuple of float, or None
        The weights each tap multiplies (for ``transposed`` the kernel
        rotated by 180°, which is what the stride-1 sweep multiplies).
    output_shape : (int, int)
        The output's (H, W), as :mod:`convcli.arithmetic.sizes` computes it.
    formula : str
        The output-size arithmetic, one axis (``⌊(5 − 3 + 2 + 2)/2⌋ = ⌊2⌋ =
        3``) or both (``H: …; W: …``).
    title : str
        One line naming the operation and its geometry.
    frames : tuple of AnimationFrame
        One per output cell, row-major.
    """

    mode: str
    size: Pair
    kernel_size: Pair
    stride: Pair
    padding: tuple[Pair, Pair]
    dilation: Pair
    output_padding: Pair
    grid_padding: tuple[Pair, Pair]
    grid: tuple[str, ...]
    grid_values: tuple[tuple[float, ...], ...] | None
    kernel: tuple[tuple[float, ...], ...] | None
    output_shape: Pair
    formula: str
    title: str
    frames: tuple[AnimationFrame, ...]

    @property
    def numbers(self) -> bool:
        """True when the frames carry values."""
        return self.grid_values is not None

    def _repr_html_(self) -> str:
        """Jupyter: the interactive explorer of this animation (a sandboxed iframe)."""
        from .explorer import explorer_of

        return explorer_of(self)._repr_html_()

    def _repr_png_(self) -> bytes:
        """Jupyter's fallback where scripts are stripped: the last frame, whole output shown."""
        from .animate import render_frames
        from .explorer_render import png_bytes

        return png_bytes(render_frames(self, hold=True)[-1])

    def output_values(self) -> list[list[float | None]]:
        """Return the output as rows of values (None without numbers)."""
        rows: list[list[float | None]] = [
            [None] * self.output_shape[1] for _ in range(self.output_shape[0])
        ]
        for frame in self.frames:
            rows[frame.output[0]][frame.output[1]] = frame.value
        return rows


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


def _one_or_two(pair_: Pair) -> str:
    return str(pair_[0]) if pair_[0] == pair_[1] else size_text(pair_)


def _pad_text(pads: tuple[Pair, Pair]) -> str:
    (t, b), (left, r) = pads
    if t == b == left == r:
        return str(t)
    if t == b and left == r:
        return f"{t}×{left}"
    return f"{t}:{b}×{left}:{r}"


def _matrix(values: Any, what: str) -> list[list[float]]:
    """Convert an array-like to a 2-D list of finite floats, or raise a ShapeError."""
    import numpy as np

    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 2 or arr.size == 0:
        raise ShapeError(f"the {what} must be a 2-D matrix, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ShapeError(f"the {what} holds a value that is not finite")
    return [[float(v) for v in row] for row in arr]


def _random_matrix(shape: Pair, high: int, seed: int) -> list[list[float]]:
    """Small whole numbers 0..high from a fixed seed (numpy's PCG64: stable across versions)."""
    import numpy as np

    rng = np.random.Generator(np.random.PCG64(seed))
    return [[float(v) for v in row] for row in rng.integers(0, high + 1, size=shape)]


def _formula(texts: tuple[str, str]) -> str:
    if texts[0] == texts[1]:
        return texts[0]
    return f"H: {texts[0]};  W: {texts[1]}"


def animation_frames(
    size: int | Sequence[int] | None = None,
    kernel_size: int | Sequence[int] | None = None,
    stride: int | Sequence[int] | None = None,
    padding: PaddingSpec = 0,
    dilation: int | Sequence[int] = 1,
    *,
    transposed: bool = False,
    output_padding: int | Sequence[int] = 0,
    pool: str | None = None,
    numbers: bool = False,
    input: Any = None,
    kernel: Any = None,
    seed: int = 0,
) -> Animation:
    """List the frames of a convolution (or pooling) animation.

    Parameters
    ----------
    size : int or (int, int), optional
        The input's size (H, W); taken from ``input`` when omitted.
    kernel_size : int or (int, int), optional
        The kernel's (or pooling window's) size; taken from ``kernel`` when
        omitted.
    stride : int or (int, int), optional
        Default 1, or the window for pooling.
    padding : int, pair, 4-tuple, ((t, b), (l, r)) or word, optional
        As :func:`convcli.resolve_padding` takes it. For ``transposed``, the
        padding of the forward convolution (PyTorch's ``padding``).
    dilation : int or (int, int), optional
        Spacing between taps (convolutions only).
    transposed : bool, optional
        Animate the transposed convolution: the input spread by the stride,
        zero cells between, padding ``d·(k − 1) − p`` around, stride-1 sweep.
    output_padding : int or (int, int), optional
        Transposed only: extra cells after (bottom, right).
    pool : {"max", "avg"}, optional
        Animate a pooling window instead (``avg`` counts padding as zeros,
        as PyTorch's default ``count_include_pad``).
    numbers : bool, optional
        Carry values: ``input`` and ``kernel``, or small random whole numbers
        drawn with ``seed``. Implied by ``input`` or ``kernel``.
    input, kernel : array-like, optional
        2-D matrices to animate with.
    seed : int, optional
        Seed of the random numbers.

    Returns
    -------
    Animation
        With one frame per output cell, row-major.

    Raises
    ------
    ShapeError
        If the kernel does not fit into the padded input (the message shows
        the formula), or a matrix does not match the sizes given.
    ParameterError
        For options that do not go together, or more than :data:`MAX_FRAMES`
        output cells.

    Examples
    --------
    The d2l example: a 3×3 input, a 2×2 kernel.

    >>> a = animation_frames(input=[[0, 1, 2], [3, 4, 5], [6, 7, 8]], kernel=[[0, 1], [2, 3]])
    >>> a.output_shape, [f.value for f in a.frames]
    ((2, 2), [19.0, 25.0, 37.0, 43.0])
    >>> a.frames[1].text
    'Y[0,1] = 1·0 + 2·1 + 4·2 + 5·3 = 25'
    >>> a.formula
    '⌊(3 − 2 + 0 + 1)/1⌋ = ⌊2⌋ = 2'

    conv_arithmetic's "padding, strides": nine frames.

    >>> a = animation_frames(5, 3, stride=2, padding=1)
    >>> len(a.frames), a.frames[0].footprint[:3], a.grid[0]
    (9, ((0, 0), (0, 1), (0, 2)), 'ppppppp')
    """
    mode = "transposed" if transposed else "conv"
    if pool is not None:
        mode = pool.lower()
        if mode not in ("max", "avg"):
            raise ParameterError(f"unknown pooling {pool!r}: expected max or avg")
        if transposed:
            raise ParameterError("a transposed convolution has no pooling: drop one of them")
        if kernel is not None:
            raise ParameterError("pooling has a window, not a kernel: give its size only")
        if pair(dilation, "dilation") != (1, 1):
            raise ParameterError("pooling takes no dilation")
        if isinstance(padding, str) and padding.lower() != "valid":
            raise ParameterError(f"pooling takes numeric padding, not {padding!r}")
    if not transposed and pair(output_padding, "output_padding", 0) != (0, 0):
        raise ParameterError("output padding applies to a transposed convolution only")
    numbers = numbers or input is not None or kernel is not None

    x = _matrix(input, "input") if input is not None else None
    w = _matrix(kernel, "kernel") if kernel is not None else None
    if size is None:
        if x is None:
            raise ParameterError("give the input's size (or an input matrix)")
        size = (len(x), len(x[0]))
    if kernel_size is None:
        if w is None:
            raise ParameterError("give the kernel's size (or a kernel matrix)")
        kernel_size = (len(w), len(w[0]))
    n = pair(size, "size")
    k = pair(kernel_size, "kernel_size")
    d = pair(dilation, "dilation")
    s = pair(
        k if stride is None and pool is not None else (1 if stride is None else stride), "stride"
    )
    op = pair(output_padding, "output_padding", 0)
    if x is not None and (len(x), len(x[0])) != n:
        raise ShapeError(f"the input matrix is {len(x)}×{len(x[0])}, not {size_text(n)}")
    if w is not None and (len(w), len(w[0])) != k:
        raise ShapeError(f"the kernel matrix is {len(w)}×{len(w[0])}, not {size_text(k)}")
    pads = resolve_padding(padding, n, k, s, d)

    # sizes, the caption, and the drawn grid's padding, per axis
    if mode == "transposed":
        out = tuple(transposed_output_size(n[a], k[a], s[a], pads[a], d[a], op[a]) for a in (0, 1))
        texts = tuple(transposed_formula(n[a], k[a], s[a], pads[a], d[a], op[a]) for a in (0, 1))
        grid_pads = []
        for a in (0, 1):
            full = d[a] * (k[a] - 1)
            if max(pads[a]) > full:
                raise ParameterError(
                    f"padding {max(pads[a])} is more than d·(k − 1) = {full}: the transposed "
                    "convolution would crop its spread input, which this animation does not draw"
                )
            grid_pads.append((full - pads[a][0], full - pads[a][1] + op[a]))
        spread = tuple((n[a] - 1) * s[a] + 1 for a in (0, 1))
    elif mode == "conv":
        out = tuple(output_size(n[a], k[a], s[a], pads[a], d[a]) for a in (0, 1))
        texts = tuple(conv_formula(n[a], k[a], s[a], pads[a], d[a]) for a in (0, 1))
        grid_pads = list(pads)
        spread = n
    else:
        out = tuple(pool_output_size(n[a], k[a], s[a], pads[a]) for a in (0, 1))
        texts = tuple(pool_formula(n[a], k[a], s[a], pads[a]) for a in (0, 1))
        grid_pads = list(pads)
        spread = n
    oh, ow = out
    if oh * ow > MAX_FRAMES:
        raise ParameterError(
            f"{oh}×{ow} = {oh * ow} output cells: an animation has at most {MAX_FRAMES} frames"
        )
    (top, bottom), (left, right) = grid_pads
    gh, gw = top + spread[0] + bottom, left + spread[1] + right
    step = (1, 1) if mode == "transposed" else s

    # the drawn grid: which cell is what, and its value
    kinds = [["p"] * gw for _ in range(gh)]
    for i in range(n[0]):
        for j in range(n[1]):
            r, c = (
                (top + i * s[0], left + j * s[1]) if mode == "transposed" else (top + i, left + j)
            )
            kinds[r][c] = "x"
    if mode == "transposed":
        for r in range(top, top + spread[0]):
            for c in range(left, left + spread[1]):
                if kinds[r][c] == "p":
                    kinds[r][c] = "z"
    grid = tuple("".join(row) for row in kinds)

    values: list[list[float]] | None = None
    weights: list[list[float]] | None = None
    if numbers:
        if x is None:
            x = _random_matrix(n, 3, seed)
        if w is None and mode in ("conv", "transposed"):
            w = _random_matrix(k, 2, seed + 1)
        values = [[0.0] * gw for _ in range(gh)]
        for i in range(n[0]):
            for j in range(n[1]):
                if mode == "transposed":
                    values[top + i * s[0]][left + j * s[1]] = x[i][j]
                else:
                    values[top + i][left + j] = x[i][j]
        if w is not None:
            # the stride-1 sweep of a transposed convolution multiplies the kernel rotated 180°
            weights = [row[::-1] for row in w[::-1]] if mode == "transposed" else w

    frames: list[AnimationFrame] = []
    for r in range(oh):
        for c in range(ow):
            taps = tuple((a, b) for a in range(k[0]) for b in range(k[1]))
            footprint = tuple((r * step[0] + a * d[0], c * step[1] + b * d[1]) for a, b in taps)
            value: float | None = None
            terms: tuple[tuple[float, float], ...] = ()
            label = f"Y[{r},{c}]"
            text = label
            if values is not None:
                if mode in ("conv", "transposed"):
                    assert weights is not None
                    terms = tuple(
                        (values[gr][gc], weights[a][b])
                        for (gr, gc), (a, b) in zip(footprint, taps, strict=True)
                    )
                    value = sum(v * wt for v, wt in terms)
                    shown = " + ".join(f"{number_text(v)}·{number_text(wt)}" for v, wt in terms)
                else:
                    real = tuple(
                        (values[gr][gc], 1.0) for gr, gc in footprint if kinds[gr][gc] == "x"
                    )
                    terms = real
                    reals = [v for v, _ in real]
                    if mode == "max":
                        value = max(reals)
                        shown = f"max({', '.join(number_text(v) for v in reals)})"
                    else:
                        value = sum(reals) / len(footprint)
                        shown = f"({' + '.join(number_text(v) for v in reals)})/{len(footprint)}"
                value = float(value)
                if len(terms) > 9:
                    shown = f"{len(terms)} terms" if mode != "max" else f"max of {len(terms)}"
                text = f"{label} = {shown} = {number_text(value)}"
            frames.append(AnimationFrame(len(frames), (r, c), footprint, taps, value, terms, text))

    names = {
        "conv": "convolution",
        "transposed": "transposed convolution",
        "max": "max pooling",
        "avg": "average pooling",
    }
    parts = [f"{names[mode]}: input {size_text(n)}", f"kernel {size_text(k)}"]
    if pool is not None:
        parts[1] = f"window {size_text(k)}"
    parts.append(f"stride {_one_or_two(s)}")
    parts.append(f"padding {_pad_text(pads)}")
    if d != (1, 1):
        parts.append(f"dilation {_one_or_two(d)}")
    if op != (0, 0):
        parts.append(f"output padding {_one_or_two(op)}")
    title = ", ".join(parts) + f" → {oh}×{ow}"
    return Animation(
        mode=mode,
        size=n,
        kernel_size=k,
        stride=s,
        padding=pads,
        dilation=d,
        output_padding=op,
        grid_padding=(grid_pads[0], grid_pads[1]),
        grid=grid,
        grid_values=None if values is None else tuple(tuple(row) for row in values),
        kernel=None if weights is None else tuple(tuple(row) for row in weights),
        output_shape=(oh, ow),
        formula=_formula((texts[0], texts[1])),
        title=title,
        frames=tuple(frames),
    )
