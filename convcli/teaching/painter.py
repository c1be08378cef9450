"""Drawing an animation's frames with Pillow, in the look of *conv_arithmetic*.

A blue input grid, padding and inserted zeros as white dashed cells, the
footprint shaded, the cyan output filling in with the current cell lit.
:func:`render_frames` draws every frame of an
:class:`~convcli.teaching.frames.Animation`; :class:`Fonts` is shared with
the explorer's pictures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ParameterError
from .frames import Animation, AnimationFrame, cell_text, number_text, size_text

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image as PILImage
    from PIL import ImageDraw, ImageFont

    #: A font Pillow draws with: a TrueType font or its built-in one.
    Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

#: A Pillow fill: an RGB triple.
Colour = tuple[int, int, int]
#: A cell's (left, top, right, bottom) in pixels.
Box = tuple[int, int, int, int]

__all__ = ["Fonts", "render_frames"]

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

    def get(self, size: int) -> Font:
        """Return the font at ``size`` points (loaded once)."""
        from PIL import ImageFont

        if size not in self._cache:
            if self.ascii_only:
                self._cache[size] = ImageFont.load_default(size)
            else:
                self._cache[size] = ImageFont.truetype("DejaVuSans.ttf", size)
        return self._cache[size]

    def text(self, text: str) -> str:
        """Return ``text`` as this font can draw it (ASCII stand-ins without DejaVu)."""
        return text.translate(_ASCII) if self.ascii_only else text


def _dashed_rect(draw: ImageDraw.ImageDraw, box: Box, color: Colour, dash: int = 3) -> None:
    """Outline ``box`` with a dashed line (padding and inserted zeros)."""
    x0, y0, x1, y1 = box
    for x in range(x0, x1, 2 * dash):
        draw.line([(x, y0), (min(x + dash - 1, x1), y0)], fill=color)
        draw.line([(x, y1), (min(x + dash - 1, x1), y1)], fill=color)
    for y in range(y0, y1, 2 * dash):
        draw.line([(x0, y), (x0, min(y + dash - 1, y1))], fill=color)
        draw.line([(x1, y), (x1, min(y + dash - 1, y1))], fill=color)


def _cell_size(anim: Animation, cell: int | None, layout: str = "beside") -> int:
    """Choose the cell side: numbers get at least 26 pixels, other grids at least 10.

    26 pixels: a 16×16 grid with padding still shows its numbers.
    """
    if cell is not None:
        return cell
    gh, gw = len(anim.grid), len(anim.grid[0])
    oh, ow = anim.output_shape
    cols, rows = (gw + ow, max(gh, oh)) if layout == "beside" else (max(gw, ow), gh + oh + 1)
    if anim.numbers:
        return max(26, min(44, 1100 // cols, 860 // rows))
    return max(10, min(32, 720 // cols, 560 // rows))


@dataclass(frozen=True)
class _Layout:
    """Where everything of a frame goes, in pixels, the same for every frame."""

    c: int  # a cell's side
    margin: int
    line_h: int
    img_w: int
    img_h: int
    top_y: int
    grids_h: int
    x0: int  # the input grid's left edge
    in_y: int
    out_x: int
    out_y: int


def _layout(anim: Animation, c: int, layout: str, widest: int, label_w: int) -> _Layout:
    """Place the grids and the text lines of every frame of ``anim``."""
    margin, line_h = 16, 22
    gap = max(2 * c, 48, label_w - len(anim.grid[0]) * c + 24)
    gh, gw = len(anim.grid), len(anim.grid[0])
    oh, ow = anim.output_shape
    beside = layout == "beside"
    grids_w = gw * c + gap + ow * c if beside else max(gw, ow) * c
    img_w = 2 * margin + max(grids_w, widest)
    top_y = margin + line_h + 22  # title, then the grid labels
    grids_h = max(gh, oh) * c if beside else (gh + oh) * c + 28
    img_h = top_y + grids_h + 12 + 2 * line_h + margin
    x0 = margin + (img_w - 2 * margin - grids_w) // 2
    if beside:
        in_y = top_y + (grids_h - gh * c) // 2
        out_x = x0 + gw * c + gap
        out_y = top_y + (grids_h - oh * c) // 2
    else:  # the output on top, the input under it, both centred
        out_x, out_y = x0 + (grids_w - ow * c) // 2, top_y
        in_y = top_y + oh * c + 28
        x0 += (grids_w - gw * c) // 2
    return _Layout(c, margin, line_h, img_w, img_h, top_y, grids_h, x0, in_y, out_x, out_y)


class _Painter:
    """Draw the frames of one animation: the fonts, texts and layout they share."""

    def __init__(self, anim: Animation, cell: int | None, layout: str) -> None:
        from PIL import Image, ImageDraw

        self.anim = anim
        self.fonts = fonts = Fonts()
        c = _cell_size(anim, cell, layout)
        in_label = fonts.text(f"input {size_text(anim.size)}")
        if anim.grid_padding != ((0, 0), (0, 0)):
            what = "spread, zeros between, padded" if anim.mode == "transposed" else "padded"
            in_label += fonts.text(f" ({what}: {len(anim.grid)}×{len(anim.grid[0])})")
        self.in_label = in_label
        self.out_label = fonts.text(f"output {size_text(anim.output_shape)}")
        self.probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
        self.title_font, self.text_font = fonts.get(14), fonts.get(15)
        self.label_font = fonts.get(13)
        self.small = fonts.get(max(7, int(c * 0.26)))
        self.show_numbers = anim.numbers and c >= 24
        self.texts = [fonts.text(anim.title), fonts.text(anim.formula)]
        self.frame_texts = [fonts.text(f.text) for f in anim.frames]
        widest = max(
            [
                self._width(self.texts[0], self.title_font),
                self._width(self.texts[1], self.text_font),
            ]
            + [self._width(t, self.text_font) for t in self.frame_texts]
        )
        label_w = int(self.probe.textlength(in_label, font=fonts.get(13)))
        self.at = _layout(anim, c, layout, widest, label_w)
        self.outputs = anim.output_values()
        self._fitted: dict[tuple[str, float], Font] = {}

    def _width(self, text: str, font: Font) -> int:
        """Return the width of ``text`` in pixels (0 for no text)."""
        return int(self.probe.textlength(text, font=font)) if text else 0

    def fit(self, text: str, share: float = 0.42) -> Font:
        """Pick the cell font (``share`` of the cell), smaller for a number too wide for it."""
        c = self.at.c
        if (text, share) not in self._fitted:
            size = max(8, int(c * share))
            while size > 7 and self.probe.textlength(text, font=self.fonts.get(size)) > c - 4:
                size -= 1
            self._fitted[text, share] = self.fonts.get(size)
        return self._fitted[text, share]

    def box(self, x: int, y: int, r: int, col: int) -> Box:
        """Return the box of cell (r, col) of a grid whose corner is (x, y)."""
        c = self.at.c
        return (x + col * c, y + r * c, x + (col + 1) * c, y + (r + 1) * c)

    @staticmethod
    def centred(
        draw: ImageDraw.ImageDraw, b: Box, text: str, font: Font, fill: Colour = _TEXT
    ) -> None:
        """Write ``text`` centred in box ``b``."""
        draw.text(((b[0] + b[2]) / 2, (b[1] + b[3]) / 2), text, font=font, fill=fill, anchor="mm")

    def draw(self, frame: AnimationFrame | None) -> PILImage.Image:
        """Draw one frame (None: the whole output, no footprint)."""
        from PIL import Image, ImageDraw

        at = self.at
        img = Image.new("RGB", (at.img_w, at.img_h), _BACKGROUND)
        draw = ImageDraw.Draw(img)
        draw.text((at.margin, at.margin), self.texts[0], font=self.title_font, fill=_TEXT)
        draw.text((at.x0, at.in_y - 20), self.in_label, font=self.label_font, fill=_TEXT)
        draw.text((at.out_x, at.top_y - 20), self.out_label, font=self.label_font, fill=_TEXT)
        self.input_grid(draw, frame)
        if frame is not None:
            self.span(draw, frame)
        self.output_grid(draw, frame)
        base = at.top_y + at.grids_h + 12
        draw.text((at.margin, base), self.texts[1], font=self.text_font, fill=_TEXT)
        line = self.frame_texts[frame.index] if frame is not None else ""
        draw.text((at.margin, base + at.line_h), line, font=self.text_font, fill=_TEXT)
        return img

    def input_grid(self, draw: ImageDraw.ImageDraw, frame: AnimationFrame | None) -> None:
        """Draw the input grid: padding and inserted zeros white and dashed, real cells blue."""
        anim, at = self.anim, self.at
        under = {} if frame is None else dict(zip(frame.footprint, frame.taps, strict=True))
        cells = [(r, col, kind) for r, row in enumerate(anim.grid) for col, kind in enumerate(row)]
        cells.sort(key=lambda cell: cell[2] == "x")
        for r, col, kind in cells:
            b = self.box(at.x0, at.in_y, r, col)
            tap = under.get((r, col))
            if kind == "x":
                draw.rectangle(b, fill=_FOOTPRINT if tap else _INPUT, outline=_LINE)
            else:
                inner = (b[0] + 1, b[1] + 1, b[2] - 1, b[3] - 1)
                if tap:
                    draw.rectangle(inner, fill=_FOOTPRINT_EMPTY)
                _dashed_rect(draw, b, _DASH)
            if self.show_numbers and anim.grid_values is not None:
                self.input_numbers(draw, b, anim.grid_values[r][col], kind, tap)

    def input_numbers(
        self,
        draw: ImageDraw.ImageDraw,
        b: Box,
        value: float,
        kind: str,
        tap: tuple[int, int] | None,
    ) -> None:
        """Write an input cell's value and, under the footprint, the weight it meets."""
        anim = self.anim
        light = kind == "x" and tap is not None
        weighted = tap is not None and anim.kernel is not None
        if kind == "x" or tap is not None:
            # with a weight label, the value keeps to the cell's upper part
            where = (b[0], b[1], b[2], b[1] + int(self.at.c * 0.64)) if weighted else b
            text = cell_text(value)
            font = self.fit(text, 0.36 if weighted else 0.42)
            self.centred(draw, where, text, font, (255, 255, 255) if light else _TEXT)
        if weighted:
            assert tap is not None and anim.kernel is not None
            weight = number_text(anim.kernel[tap[0]][tap[1]])
            draw.text(
                (b[2] - 3, b[3] - 2),
                self.fonts.text("×" + weight),
                font=self.small,
                fill=(255, 235, 120) if light else (30, 60, 140),
                anchor="rd",
            )

    def span(self, draw: ImageDraw.ImageDraw, frame: AnimationFrame) -> None:
        """Outline the footprint's extent: the kernel's dilated span."""
        at = self.at
        rows = [p[0] for p in frame.footprint]
        cols = [p[1] for p in frame.footprint]
        span = (
            at.x0 + min(cols) * at.c,
            at.in_y + min(rows) * at.c,
            at.x0 + (max(cols) + 1) * at.c,
            at.in_y + (max(rows) + 1) * at.c,
        )
        draw.rectangle(span, outline=_SPAN, width=2)

    def output_grid(self, draw: ImageDraw.ImageDraw, frame: AnimationFrame | None) -> None:
        """Draw the output grid: done cells cyan, the current one lit."""
        anim, at = self.anim, self.at
        oh, ow = anim.output_shape
        done = len(anim.frames) if frame is None else frame.index
        for r in range(oh):
            for col in range(ow):
                b = self.box(at.out_x, at.out_y, r, col)
                order = r * ow + col
                current = frame is not None and order == frame.index
                fill = _OUTPUT_NOW if current else _OUTPUT_DONE if order < done else _OUTPUT_TODO
                draw.rectangle(b, fill=fill, outline=_LINE)
                result = self.outputs[r][col]
                if self.show_numbers and result is not None and order <= done:
                    text = cell_text(result)
                    self.centred(
                        draw, b, text, self.fit(text), (255, 255, 255) if current else _TEXT
                    )


def render_frames(
    anim: Animation, *, cell: int | None = None, hold: bool = True, layout: str = "beside"
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
    layout : {"beside", "above"}, optional
        The output grid right of the input, or above it.

    Returns
    -------
    list of PIL.Image.Image

    Examples
    --------
    >>> images = render_frames(animation_frames(4, 3))
    >>> len(images), images[0].mode
    (5, 'RGB')
    """
    if layout not in ("beside", "above"):
        raise ParameterError(f"unknown layout {layout!r}: expected beside or above")
    painter = _Painter(anim, cell, layout)
    frames: list[AnimationFrame | None] = [*anim.frames, *([None] if hold else [])]
    return [painter.draw(frame) for frame in frames]
