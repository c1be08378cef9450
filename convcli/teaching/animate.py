"""Convolution animations in the look of Dumoulin & Visin's *conv_arithmetic*.

The frames come from :func:`convcli.teaching.frames.animation_frames` (pure
arithmetic, testable without pixels); here :func:`render_frames` draws each
frame with Pillow (a blue input grid, padding and inserted zeros as white
dashed cells, the footprint shaded, the cyan output filling in with the
current cell lit), and :func:`animate` writes them as a GIF, an animated PNG
or an animated WebP (by the file's suffix), or as one PNG contact sheet.

Everything is deterministic: the random numbers come from a fixed seed and
no file carries a timestamp, so two runs write identical bytes.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..errors import ConvcliError, ParameterError
from ..images.atomic import atomic_write
from .frames import (
    MAX_FRAMES,
    Animation,
    AnimationFrame,
    animation_frames,
    cell_text,
    number_text,
    size_text,
)

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image as PILImage

__all__ = [
    "ANIMATION_FORMATS",
    "MAX_FRAMES",
    "Animation",
    "AnimationFrame",
    "animate",
    "animation_frames",
    "check_target",
    "contact_sheet",
    "render_frames",
    "render_sheet",
    "write_images",
]

#: File suffixes :func:`animate` writes, and the Pillow format of each.
ANIMATION_FORMATS = {".gif": "GIF", ".png": "PNG", ".webp": "WEBP", ".svg": "SVG"}


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
    from PIL import Image, ImageDraw

    fonts = Fonts()
    if layout not in ("beside", "above"):
        raise ParameterError(f"unknown layout {layout!r}: expected beside or above")
    c = _cell_size(anim, cell, layout)
    in_label = fonts.text(f"input {size_text(anim.size)}")
    if anim.grid_padding != ((0, 0), (0, 0)):
        what = "spread, zeros between, padded" if anim.mode == "transposed" else "padded"
        in_label += fonts.text(f" ({what}: {len(anim.grid)}×{len(anim.grid[0])})")
    out_label = fonts.text(f"output {size_text(anim.output_shape)}")
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
    beside = layout == "beside"
    grids_w = gw * c + gap + ow * c if beside else max(gw, ow) * c
    text_w = max(
        [width(texts[0], title_font), width(texts[1], text_font)]
        + [width(t, text_font) for t in frame_texts]
    )
    img_w = 2 * margin + max(grids_w, text_w)
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

    fitted: dict[tuple[str, float], Any] = {}

    def fit(text: str, share: float = 0.42):
        """Pick the cell font (``share`` of the cell), smaller for a number too wide for it."""
        if (text, share) not in fitted:
            size = max(8, int(c * share))
            while size > 7 and probe.textlength(text, font=fonts.get(size)) > c - 4:
                size -= 1
            fitted[text, share] = fonts.get(size)
        return fitted[text, share]

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
        draw.text((x0, in_y - 20), in_label, font=label_font, fill=_TEXT)
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
                weighted = tap is not None and anim.kernel is not None
                if kind == "x" or tap is not None:
                    # with a weight label, the value keeps to the cell's upper part
                    where = (b[0], b[1], b[2], b[1] + int(c * 0.64)) if weighted else b
                    text = cell_text(value)
                    font = fit(text, 0.36 if weighted else 0.42)
                    centred(draw, where, text, font, (255, 255, 255) if light else _TEXT)
                if weighted:
                    assert tap is not None and anim.kernel is not None
                    weight = number_text(anim.kernel[tap[0]][tap[1]])
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
                        cell_text(result),
                        fit(cell_text(result)),
                        (255, 255, 255) if current else _TEXT,
                    )
        base = top_y + grids_h + 12
        draw.text((margin, base), texts[1], font=text_font, fill=_TEXT)
        line = frame_texts[frame.index] if frame is not None else ""
        draw.text((margin, base + line_h), line, font=text_font, fill=_TEXT)
        images.append(img)
    return images


def render_sheet(
    anim: Animation, *, cell: int | None = None, columns: int | None = None, layout: str = "beside"
):
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
    images = render_frames(anim, cell=cell, hold=False, layout=layout)
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
    """Quantise the frames to palette images sharing one palette (from the first and last)."""
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
    layout: str = "beside",
    **kwargs: Any,
) -> Animation:
    """Write a convolution animation (or a contact sheet) to ``path``.

    Parameters
    ----------
    path : str or path-like
        The file: ``.gif``, ``.png`` (an animated PNG; with ``sheet``, one
        still image), ``.webp`` (lossless) or ``.svg`` (vector; animated with
        SMIL, or with ``sheet`` every frame side by side).
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
    layout : {"beside", "above"}, optional
        The output right of the input, or above it.

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
    if os.fspath(path).lower().endswith(".svg"):
        if layout != "beside":
            raise ParameterError("an SVG puts the output beside the input: drop the layout")
        from .svg import svg_document

        data = svg_document(anim, delay=delay, sheet=sheet).encode("utf-8")
        atomic_write(path, lambda fh: fh.write(data), overwrite=overwrite)
        return anim
    if sheet:
        write_images(path, [render_sheet(anim, cell=cell, layout=layout)], overwrite=overwrite)
    else:
        images = render_frames(anim, cell=cell, hold=True, layout=layout)
        write_images(path, images, delay, overwrite=overwrite)
    return anim


def check_target(path: str | os.PathLike, sheet: bool, delay: int, overwrite: bool) -> None:
    """Refuse a suffix that names no picture format, a short delay, or an existing file."""
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if sheet and suffix not in (".png", ".svg"):
        raise ParameterError(
            f"a contact sheet is a PNG or an SVG: name the output .png or .svg, not {suffix!r}"
        )
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
