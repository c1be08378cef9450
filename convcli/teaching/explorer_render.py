"""Pictures of an explorer: its planes, filters and outputs, one frame per output cell.

The still pictures of a layer with channels and groups (for an animated
GIF, PNG or WebP, a contact sheet, and a notebook's PNG fallback), drawn
with Pillow from the same :class:`~convcli.teaching.explorer.Explorer` the
HTML page shows: the input planes stacked on the left (padding and inserted
zeros dashed), the filters in the middle, one output plane per filter on the
right; the current window lit, planes outside its group dimmed, and the
sum of products under the grids.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, Any

from .painter import Fonts

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image as PILImage

    from .explorer import Explorer

#: A Pillow fill: a colour name or an RGB triple.
Fill = str | tuple[int, int, int]

__all__ = ["render_explorer"]

_INPUT, _LIT, _LIT_EMPTY = (112, 160, 214), (36, 84, 160), (196, 210, 232)
_KERNEL, _KERNEL_LIT = (243, 233, 198), (224, 182, 64)
_DONE, _NOW, _TODO = (140, 221, 226), (18, 150, 165), (255, 255, 255)
_LINE, _DASH, _TEXT, _DIM = (40, 40, 40), (150, 150, 150), (20, 20, 20), (225, 225, 225)


def render_explorer(
    e: Explorer, *, cell: int | None = None, hold: bool = True
) -> list[PILImage.Image]:
    """One RGB image per step of ``e`` (and with ``hold`` a last one: the whole output).

    Parameters
    ----------
    e : Explorer
    cell : int, optional
        Cell side in pixels; by default chosen from the grids' size.
    hold : bool, optional
        Add the finished picture after the steps.

    Returns
    -------
    list of PIL.Image.Image
    """
    data = e.data()
    frames: list[int | None] = list(range(len(data["steps"])))
    return [_draw(data, i, cell) for i in ([*frames, None] if hold else frames)]


def _sizes(data: dict[str, Any], cell: int | None) -> dict[str, int]:
    gh, gw = len(data["grid"]), len(data["grid"][0])
    planes = len(data["inputs"])
    kh, kw = (
        (len(data["kernels"][0][0]), len(data["kernels"][0][0][0])) if data["kernels"] else (0, 0)
    )
    per = len(data["kernels"][0]) if data["kernels"] else 0
    oh, ow = len(data["outputs"][0]), len(data["outputs"][0][0])
    cols = gw + per * (kw + 1) + ow
    rows = max(planes * (gh + 1), len(data["kernels"]) * (kh + 1), len(data["outputs"]) * (oh + 1))
    c = cell or max(16, min(40, 760 // max(cols, 1), 900 // max(rows, 1)))
    return {"c": c, "gh": gh, "gw": gw, "kh": kh, "kw": kw, "per": per, "oh": oh, "ow": ow}


def _draw(data: dict[str, Any], index: int | None, cell: int | None) -> PILImage.Image:
    from PIL import Image, ImageDraw

    fonts = Fonts()
    z = _sizes(data, cell)
    c, gap, margin, label = z["c"], max(24, z["c"]), 16, 18
    step = None if index is None else data["steps"][index]
    lit = {tuple(x) for x in (step["cells"] + step["pad"])} if step else set()
    weights = {tuple(x): w for x, w in zip(step["cells"], step["w"], strict=False)} if step else {}
    planes_lit = set(step["planes"]) if step else None
    k_lit = set(step["k"]) if step else set()
    in_w, k_w = z["gw"] * c, z["per"] * (z["kw"] * c + 8)
    x_k = margin + in_w + gap
    x_out = x_k + (k_w + gap if k_w else 0)
    plane_h = z["gh"] * c + label
    top = margin + 2 * 22 + 8
    height_grids = max(
        len(data["inputs"]) * (plane_h + 8),
        len(data["kernels"]) * (z["kh"] * c + label + 8),
        len(data["outputs"]) * (z["oh"] * c + label + 8),
    )
    head = fonts.get(14)
    title_w = max(
        int(ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength(fonts.text(t), font=head))
        for t in (data["title"], data["formula"])
    )
    width = max(x_out + z["ow"] * c + margin, 640, title_w + 2 * margin)
    wrap = max(40, (width - 2 * margin) // 8)
    text = fonts.text(step["text"]) if step else ""
    lines = textwrap.wrap(text, wrap) or [""]
    img = Image.new("RGB", (width, top + height_grids + 22 * len(lines) + margin), "white")
    draw = ImageDraw.Draw(img)
    small = fonts.get(11)
    draw.text((margin, margin), fonts.text(data["title"]), font=head, fill=_TEXT)
    draw.text((margin, margin + 22), fonts.text(data["formula"]), font=head, fill=_TEXT)

    def number(box: tuple[int, int, int, int], value: str, fill: Fill) -> None:
        if value and c >= 16:
            size = max(7, int(c * (0.42 if len(value) <= 3 else 0.3)))
            centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
            draw.text(centre, value, font=fonts.get(size), fill=fill, anchor="mm")

    for p, rows in enumerate(data["inputs"]):
        y0 = top + p * (plane_h + 8)
        draw.text(
            (margin, y0), fonts.text(data["labels"]["planes"][p] or "input"), font=small, fill=_TEXT
        )
        dim = planes_lit is not None and p not in planes_lit
        for r, row in enumerate(rows):
            for q, value in enumerate(row):
                box = (
                    margin + q * c,
                    y0 + label + r * c,
                    margin + (q + 1) * c,
                    y0 + label + (r + 1) * c,
                )
                real = data["grid"][r][q] == "x"
                on = (p, r, q) in lit
                fill = (
                    (_LIT if on else _DIM if dim else _INPUT)
                    if real
                    else (_LIT_EMPTY if on else "white")
                )
                draw.rectangle(box, fill=fill, outline=_LINE if real else _DASH)
                number(
                    box,
                    value,
                    "white" if on and real else (150, 150, 150) if not real or dim else _TEXT,
                )
                if on and (p, r, q) in weights and c >= 24:
                    draw.text((box[2] - 2, box[3] - 1), fonts.text("×" + weights[(p, r, q)]),
                              font=fonts.get(max(7, int(c * 0.26))), anchor="rd",
                              fill=(255, 235, 120) if real else (30, 60, 140))  # fmt: skip
    for f, block in enumerate(data["kernels"]):
        y0 = top + f * (z["kh"] * c + label + 8)
        for p, rows in enumerate(block):
            x0 = x_k + p * (z["kw"] * c + 8)
            draw.text(
                (x0, y0),
                data["labels"]["kernels"][f][p].replace("filter ", "f"),
                font=small,
                fill=_TEXT,
            )
            for r, row in enumerate(rows):
                for q, value in enumerate(row):
                    box = (
                        x0 + q * c,
                        y0 + label + r * c,
                        x0 + (q + 1) * c,
                        y0 + label + (r + 1) * c,
                    )
                    on = f"{f}.{p},{r},{q}" in k_lit
                    draw.rectangle(box, fill=_KERNEL_LIT if on else _KERNEL, outline=_LINE)
                    number(box, value, _TEXT)
    order = {key: i for key, i in data["index"].items()}
    for f, rows in enumerate(data["outputs"]):
        y0 = top + f * (z["oh"] * c + label + 8)
        draw.text((x_out, y0), data["labels"]["outputs"][f] or "output", font=small, fill=_TEXT)
        for r, row in enumerate(rows):
            for q, value in enumerate(row):
                i = order[f"{f},{r},{q}"]
                box = (
                    x_out + q * c,
                    y0 + label + r * c,
                    x_out + (q + 1) * c,
                    y0 + label + (r + 1) * c,
                )
                done = index is None or i <= index
                fill = _NOW if i == index else _DONE if done else _TODO
                draw.rectangle(box, fill=fill, outline=_LINE)
                if done:
                    number(box, value, "white" if i == index else _TEXT)
    for n, line in enumerate(lines):
        draw.text((margin, top + height_grids + 22 * n), line, font=fonts.get(13), fill=_TEXT)
    return img


def png_bytes(image: PILImage.Image) -> bytes:
    """Encode an image as PNG bytes (for a notebook's ``_repr_png_``)."""
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
