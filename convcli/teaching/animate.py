"""Convolution animations in the look of Dumoulin & Visin's *conv_arithmetic*.

Two steps, kept apart so that the arithmetic can be tested without pixels:

- :func:`animation_frames` lists the frames: for each output cell, in
  row-major order, the input-grid cells the kernel's taps read (its
  footprint, with dilation's holes), the output cell, and with numbers the
  value and its terms. The grid is the *drawn* input: the padding around it,
  and for a transposed convolution the input spread by the stride with zero
  cells between and the full padding ``d·(k − 1) − p`` around, swept at
  stride 1 as conv_arithmetic draws it. Sizes come from
  :mod:`convcli.arithmetic.sizes`, and so does the caption's formula.
- :func:`render_frames` draws each frame with Pillow (a blue input grid,
  padding and inserted zeros as white dashed cells, the footprint shaded,
  the cyan output filling in with the current cell lit), and
  :func:`animate` writes them as a GIF, an animated PNG or an animated WebP
  (by the file's suffix), or as one PNG contact sheet.

Everything is deterministic: the random numbers come from a fixed seed and
no file carries a timestamp, so two runs write identical bytes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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
from ..errors import ConvcliError, ParameterError, ShapeError
from ..images.atomic import atomic_write

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image as PILImage

__all__ = [
    "ANIMATION_FORMATS",
    "MAX_FRAMES",
    "Animation",
    "AnimationFrame",
    "animate",
    "animation_frames",
    "render_frames",
    "render_sheet",
]

#: File suffixes :func:`animate` writes, and the Pillow format of each.
ANIMATION_FORMATS = {".gif": "GIF", ".png": "PNG", ".webp": "WEBP"}

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
        from .explorer_render import png_bytes

        return png_bytes(render_frames(self, hold=True)[-1])

    def output_values(self) -> list[list[float | None]]:
        """The output as rows of values (None without numbers)."""
        rows: list[list[float | None]] = [
            [None] * self.output_shape[1] for _ in range(self.output_shape[0])
        ]
        for frame in self.frames:
            rows[frame.output[0]][frame.output[1]] = frame.value
        return rows


# ---------------------------------------------------------------------------
# Frames: pure arithmetic
# ---------------------------------------------------------------------------


def _num(value: float) -> str:
    """A value as the frames print it: whole numbers without a point."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.4g}"


def _cell_num(value: float) -> str:
    """A value inside a cell: at most three significant digits."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.3g}"


def _size_text(pair_: Pair) -> str:
    return f"{pair_[0]}×{pair_[1]}"


def _one_or_two(pair_: Pair) -> str:
    return str(pair_[0]) if pair_[0] == pair_[1] else _size_text(pair_)


def _pad_text(pads: tuple[Pair, Pair]) -> str:
    (t, b), (left, r) = pads
    if t == b == left == r:
        return str(t)
    if t == b and left == r:
        return f"{t}×{left}"
    return f"{t}:{b}×{left}:{r}"


def _matrix(values: Any, what: str) -> list[list[float]]:
    """A 2-D list of finite floats from an array-like, or a ShapeError."""
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
        raise ShapeError(f"the input matrix is {len(x)}×{len(x[0])}, not {_size_text(n)}")
    if w is not None and (len(w), len(w[0])) != k:
        raise ShapeError(f"the kernel matrix is {len(w)}×{len(w[0])}, not {_size_text(k)}")
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
                    shown = " + ".join(f"{_num(v)}·{_num(wt)}" for v, wt in terms)
                else:
                    real = tuple(
                        (values[gr][gc], 1.0) for gr, gc in footprint if kinds[gr][gc] == "x"
                    )
                    terms = real
                    reals = [v for v, _ in real]
                    if mode == "max":
                        value = max(reals)
                        shown = f"max({', '.join(_num(v) for v in reals)})"
                    else:
                        value = sum(reals) / len(footprint)
                        shown = f"({' + '.join(_num(v) for v in reals)})/{len(footprint)}"
                value = float(value)
                if len(terms) > 9:
                    shown = f"{len(terms)} terms" if mode != "max" else f"max of {len(terms)}"
                text = f"{label} = {shown} = {_num(value)}"
            frames.append(AnimationFrame(len(frames), (r, c), footprint, taps, value, terms, text))

    names = {
        "conv": "convolution",
        "transposed": "transposed convolution",
        "max": "max pooling",
        "avg": "average pooling",
    }
    parts = [f"{names[mode]}: input {_size_text(n)}", f"kernel {_size_text(k)}"]
    if pool is not None:
        parts[1] = f"window {_size_text(k)}"
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


# ---------------------------------------------------------------------------
# Pictures: Pillow
# ---------------------------------------------------------------------------

# conv_arithmetic's palette: blue input, cyan output
_INPUT = (112, 160, 214)
_FOOTPRINT = (36, 84, 160)
_FOOTPRINT_EMPTY = (196, 210, 232)
_SPAN = (
    10,
    30,
    90,
)  # the outline of the kernel's (dilated) span  # the footprint over padding or inserted zeros
_OUTPUT_DONE = (140, 221, 226)
_OUTPUT_NOW = (18, 150, 165)
_OUTPUT_TODO = (255, 255, 255)
_LINE = (40, 40, 40)
_DASH = (150, 150, 150)
_TEXT = (20, 20, 20)
_BACKGROUND = (255, 255, 255)

#: Text that a font without these glyphs gets instead.
_ASCII = str.maketrans(
    {"⌊": "floor(", "⌋": ")", "⌈": "ceil(", "⌉": ")", "−": "-", "·": "*", "×": "x", "→": "->"}
)


class Fonts:
    """DejaVu Sans when the system has it (it draws ⌊ ⌋ − ·), else Pillow's own font."""

    def __init__(self) -> None:
        from PIL import ImageFont

        self._cache: dict[int, Any] = {}
        try:
            ImageFont.truetype("DejaVuSans.ttf", 12)
            self.ascii_only = False
        except OSError:
            self.ascii_only = True

    def get(self, size: int):
        from PIL import ImageFont

        if size not in self._cache:
            if self.ascii_only:
                self._cache[size] = ImageFont.load_default(size)
            else:
                self._cache[size] = ImageFont.truetype("DejaVuSans.ttf", size)
        return self._cache[size]

    def text(self, text: str) -> str:
        return text.translate(_ASCII) if self.ascii_only else text


def _dashed_rect(draw, box: tuple[int, int, int, int], color, dash: int = 3) -> None:
    x0, y0, x1, y1 = box
    for x in range(x0, x1, 2 * dash):
        draw.line([(x, y0), (min(x + dash - 1, x1), y0)], fill=color)
        draw.line([(x, y1), (min(x + dash - 1, x1), y1)], fill=color)
    for y in range(y0, y1, 2 * dash):
        draw.line([(x0, y), (x0, min(y + dash - 1, y1))], fill=color)
        draw.line([(x1, y), (x1, min(y + dash - 1, y1))], fill=color)


def _cell_size(anim: Animation, cell: int | None) -> int:
    if cell is not None:
        return cell
    cols = len(anim.grid[0]) + anim.output_shape[1]
    rows = max(len(anim.grid), anim.output_shape[0])
    base = 44 if anim.numbers else 32
    return max(10, min(base, 720 // cols, 560 // rows))


def render_frames(
    anim: Animation, *, cell: int | None = None, hold: bool = True
) -> list[PILImage.Image]:
    """Draw each frame of an animation as an RGB image, all the same size.

    Parameters
    ----------
    anim : Animation
        From :func:`animation_frames`.
    cell : int, optional
        Side of a grid cell in pixels; by default 32 (44 with numbers),
        smaller for large grids.
    hold : bool, optional
        Add a last frame showing the whole output, no footprint.

    Returns
    -------
    list of PIL.Image.Image

    Examples
    --------
    >>> images = render_frames(animation_frames(4, 3))
    >>> len(images), images[0].mode
    (5, 'RGB')
    """
    from PIL import Image, ImageDraw

    fonts = Fonts()
    c = _cell_size(anim, cell)
    in_label = fonts.text(f"input {_size_text(anim.size)}")
    if anim.grid_padding != ((0, 0), (0, 0)):
        what = "spread, zeros between, padded" if anim.mode == "transposed" else "padded"
        in_label += fonts.text(f" ({what}: {len(anim.grid)}×{len(anim.grid[0])})")
    out_label = fonts.text(f"output {_size_text(anim.output_shape)}")
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    label_w = int(probe.textlength(in_label, font=fonts.get(13)))
    margin, gap = 16, max(2 * c, 48, label_w - len(anim.grid[0]) * c + 24)
    gh, gw = len(anim.grid), len(anim.grid[0])
    oh, ow = anim.output_shape
    title_font, text_font = fonts.get(14), fonts.get(15)
    label_font = fonts.get(13)
    small = fonts.get(max(7, int(c * 0.26)))
    show_numbers = anim.numbers and c >= 24

    texts = [fonts.text(anim.title), fonts.text(anim.formula)]
    frame_texts = [fonts.text(f.text) for f in anim.frames]

    def width(text: str, font) -> int:
        return int(probe.textlength(text, font=font)) if text else 0

    line_h = 22
    grids_w = gw * c + gap + ow * c
    text_w = max(
        [width(texts[0], title_font), width(texts[1], text_font)]
        + [width(t, text_font) for t in frame_texts]
    )
    img_w = 2 * margin + max(grids_w, text_w)
    top_y = margin + line_h + 22  # title, then the grid labels
    grids_h = max(gh, oh) * c
    img_h = top_y + grids_h + 12 + 2 * line_h + margin
    x0 = margin + (img_w - 2 * margin - grids_w) // 2
    in_y = top_y + (grids_h - gh * c) // 2
    out_x = x0 + gw * c + gap
    out_y = top_y + (grids_h - oh * c) // 2

    fitted: dict[str, Any] = {}

    def fit(text: str):
        """The cell font, smaller for a number too wide for its cell."""
        if text not in fitted:
            size = max(8, int(c * 0.42))
            while size > 7 and probe.textlength(text, font=fonts.get(size)) > c - 4:
                size -= 1
            fitted[text] = fonts.get(size)
        return fitted[text]

    def box(x: int, y: int, r: int, col: int) -> tuple[int, int, int, int]:
        return (x + col * c, y + r * c, x + (col + 1) * c, y + (r + 1) * c)

    def centred(draw, b, text: str, font, fill=_TEXT) -> None:
        draw.text(((b[0] + b[2]) / 2, (b[1] + b[3]) / 2), text, font=font, fill=fill, anchor="mm")

    outputs = anim.output_values()

    frames = list(anim.frames) + ([None] if hold else [])
    images = []
    for frame in frames:
        img = Image.new("RGB", (img_w, img_h), _BACKGROUND)
        draw = ImageDraw.Draw(img)
        draw.text((margin, margin), texts[0], font=title_font, fill=_TEXT)
        draw.text((x0, top_y - 20), in_label, font=label_font, fill=_TEXT)
        draw.text((out_x, top_y - 20), out_label, font=label_font, fill=_TEXT)
        under = {} if frame is None else dict(zip(frame.footprint, frame.taps, strict=True))
        # the input grid: padding and inserted zeros white and dashed, then the real cells blue
        cells = [(r, col, kind) for r, row in enumerate(anim.grid) for col, kind in enumerate(row)]
        cells.sort(key=lambda cell: cell[2] == "x")
        for r, col, kind in cells:
            b = box(x0, in_y, r, col)
            tap = under.get((r, col))
            if kind == "x":
                draw.rectangle(b, fill=_FOOTPRINT if tap else _INPUT, outline=_LINE)
            else:
                inner = (b[0] + 1, b[1] + 1, b[2] - 1, b[3] - 1)
                if tap:
                    draw.rectangle(inner, fill=_FOOTPRINT_EMPTY)
                _dashed_rect(draw, b, _DASH)
            if show_numbers and anim.grid_values is not None:
                value = anim.grid_values[r][col]
                light = kind == "x" and tap is not None
                if kind == "x" or tap is not None:
                    centred(
                        draw,
                        b,
                        _cell_num(value),
                        fit(_cell_num(value)),
                        (255, 255, 255) if light else _TEXT,
                    )
                if tap is not None and anim.kernel is not None:
                    weight = _num(anim.kernel[tap[0]][tap[1]])
                    draw.text(
                        (b[2] - 3, b[3] - 2),
                        fonts.text("×" + weight),
                        font=small,
                        fill=(255, 235, 120) if light else (30, 60, 140),
                        anchor="rd",
                    )
        if frame is not None:  # the footprint's outline: the dilated span
            rows = [p[0] for p in frame.footprint]
            cols = [p[1] for p in frame.footprint]
            span = (
                x0 + min(cols) * c,
                in_y + min(rows) * c,
                x0 + (max(cols) + 1) * c,
                in_y + (max(rows) + 1) * c,
            )
            draw.rectangle(span, outline=_SPAN, width=2)
        # the output grid: done cells cyan, the current one lit
        done = len(anim.frames) if frame is None else frame.index
        for r in range(oh):
            for col in range(ow):
                b = box(out_x, out_y, r, col)
                order = r * ow + col
                current = frame is not None and order == frame.index
                fill = _OUTPUT_NOW if current else _OUTPUT_DONE if order < done else _OUTPUT_TODO
                draw.rectangle(b, fill=fill, outline=_LINE)
                result = outputs[r][col]
                if show_numbers and result is not None and order <= done:
                    centred(
                        draw,
                        b,
                        _cell_num(result),
                        fit(_cell_num(result)),
                        (255, 255, 255) if current else _TEXT,
                    )
        base = top_y + grids_h + 12
        draw.text((margin, base), texts[1], font=text_font, fill=_TEXT)
        line = frame_texts[frame.index] if frame is not None else ""
        draw.text((margin, base + line_h), line, font=text_font, fill=_TEXT)
        images.append(img)
    return images


def render_sheet(anim: Animation, *, cell: int | None = None, columns: int | None = None):
    """All the frames of an animation on one image (a contact sheet for handouts).

    Parameters
    ----------
    anim : Animation
        From :func:`animation_frames`.
    cell : int, optional
        As for :func:`render_frames`.
    columns : int, optional
        Frames per row; by default the output's width (so the sheet is laid
        out like the output), or fewer for wide outputs.

    Returns
    -------
    PIL.Image.Image
    """
    images = render_frames(anim, cell=cell, hold=False)
    return contact_sheet(images, columns or anim.output_shape[1])


def contact_sheet(images: list[PILImage.Image], columns: int) -> PILImage.Image:
    """Frames on one image, ``columns`` a row (fewer when that would pass 2400 pixels)."""
    from PIL import Image

    fw, fh = images[0].size
    while columns > 1 and columns * fw > 2400:
        columns = (columns + 1) // 2
    rows = -(-len(images) // columns)
    pad = 8
    sheet = Image.new("RGB", (columns * (fw + pad) + pad, rows * (fh + pad) + pad), (200, 200, 200))
    for i, img in enumerate(images):
        r, col = divmod(i, columns)
        sheet.paste(img, (pad + col * (fw + pad), pad + r * (fh + pad)))
    return sheet


def _shared_palette(images: list[PILImage.Image]) -> list[PILImage.Image]:
    """The frames as palette images sharing one palette (from the first and last frames)."""
    from PIL import Image

    first, last = images[0], images[-1]
    both = Image.new("RGB", (first.width, first.height * 2))
    both.paste(first, (0, 0))
    both.paste(last, (0, first.height))
    palette = both.quantize(colors=255, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    return [im.quantize(palette=palette, dither=Image.Dither.NONE) for im in images]


def animate(
    path: str | os.PathLike,
    *args: Any,
    overwrite: bool = False,
    sheet: bool = False,
    delay: int = 800,
    cell: int | None = None,
    **kwargs: Any,
) -> Animation:
    """Write a convolution animation (or a contact sheet) to ``path``.

    Parameters
    ----------
    path : str or path-like
        The file: ``.gif``, ``.png`` (an animated PNG; with ``sheet``, one
        still image) or ``.webp`` (lossless).
    *args, **kwargs
        Passed to :func:`animation_frames` (size, kernel_size, stride, ...).
    overwrite : bool, optional
        Replace an existing file (never replaced otherwise).
    sheet : bool, optional
        Write every frame on one PNG instead of an animation.
    delay : int, optional
        Milliseconds per frame; the last (whole output) frame stays three times
        as long.
    cell : int, optional
        Cell size in pixels (see :func:`render_frames`).

    Returns
    -------
    Animation
        What was drawn.

    Examples
    --------
    >>> import os, tempfile
    >>> target = os.path.join(tempfile.mkdtemp(), "conv.gif")
    >>> len(animate(target, 5, 3, stride=2, padding=1).frames)
    9
    """
    check_target(path, sheet, delay, overwrite)
    anim = animation_frames(*args, **kwargs)
    if sheet:
        write_images(path, [render_sheet(anim, cell=cell)], overwrite=overwrite)
    else:
        write_images(path, render_frames(anim, cell=cell, hold=True), delay, overwrite=overwrite)
    return anim


def check_target(path: str | os.PathLike, sheet: bool, delay: int, overwrite: bool) -> None:
    """Refuse a suffix that names no picture format, a short delay, or an existing file."""
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if sheet and suffix != ".png":
        raise ParameterError(f"a contact sheet is a PNG: name the output .png, not {suffix!r}")
    if suffix not in ANIMATION_FORMATS:
        raise ParameterError(
            f"cannot tell the format from {suffix or 'no suffix'!r}: use "
            f"{', '.join(ANIMATION_FORMATS)}"
        )
    if delay < 10:
        raise ParameterError(f"the delay is {delay} ms: give 10 ms or more")
    if os.path.lexists(path) and not overwrite:  # before drawing; atomic_write checks again
        raise ConvcliError(f"{os.fspath(path)} exists; pass --overwrite to replace it")


def write_images(
    path: str | os.PathLike,
    images: list[PILImage.Image],
    delay: int = 800,
    *,
    overwrite: bool = False,
) -> None:
    """Write one image as a PNG, or several as an animation (format by ``path``'s suffix).

    The last frame stays three times as long; a GIF's frames share one palette.
    """
    if len(images) == 1:
        image = images[0]
        atomic_write(
            path, lambda fh: image.save(fh, format="PNG", optimize=True), overwrite=overwrite
        )
        return
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    durations = [delay] * (len(images) - 1) + [3 * delay]
    fmt = ANIMATION_FORMATS[suffix]
    options: dict[str, Any] = {
        "format": fmt,
        "save_all": True,
        "append_images": images[1:],
        "duration": durations,
        "loop": 0,
    }
    if fmt == "WEBP":
        options.update(lossless=True, method=4)
    elif fmt == "PNG":
        options.update(optimize=True)
    else:
        images = _shared_palette(images)
        options.update(append_images=images[1:], optimize=True, disposal=1)
    atomic_write(path, lambda fh: images[0].save(fh, **options), overwrite=overwrite)
