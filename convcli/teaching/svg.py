"""Convolution animations as SVG: vector frames for slides and papers that cannot hold GIFs.

:func:`svg_document` draws the frames of :func:`~convcli.teaching.frames.animation_frames`
in the look of :func:`~convcli.teaching.animate.render_frames` (the blue input
grid, padding and inserted zeros dashed, the footprint shaded, the cyan output
filling in), as text: either one animated SVG (each frame a group shown in
turn by SMIL ``<set>``, looping; a viewer without SMIL shows the whole
output) or, with ``sheet``, every frame side by side. No script, no external
font or link, no timestamp: the same call writes the same bytes.
"""

from __future__ import annotations

from html import escape

from .frames import Animation, AnimationFrame, cell_text, number_text, size_text

__all__ = ["svg_document"]

_INPUT, _LIT, _LIT_EMPTY = "#70a0d6", "#2454a0", "#c4d2e8"
_DONE, _NOW, _LINE, _DASH, _TEXT = "#8cdde2", "#1296a5", "#282828", "#969696", "#141414"
_FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"


def _text(x: float, y: float, text: str, size: float, fill: str = _TEXT, **extra: str) -> str:
    attrs = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in extra.items())
    return (
        f'<text x="{x:g}" y="{y:g}" font-size="{size:g}" fill="{fill}"{attrs}>{escape(text)}</text>'
    )


def _frame(anim: Animation, frame: AnimationFrame | None, c: int, layout: dict) -> list[str]:
    """Draw the SVG elements of one frame (``None``: the whole output, no footprint)."""
    out = []
    x0, in_y, out_x, out_y = layout["x0"], layout["in_y"], layout["out_x"], layout["out_y"]
    under = {} if frame is None else dict(zip(frame.footprint, frame.taps, strict=True))
    numbers = anim.grid_values is not None and c >= 24
    for r, row in enumerate(anim.grid):
        for q, kind in enumerate(row):
            x, y, tap = x0 + q * c, in_y + r * c, under.get((r, q))
            if kind == "x":
                fill = _LIT if tap else _INPUT
                out.append(
                    f'<rect x="{x}" y="{y}" width="{c}" height="{c}" fill="{fill}" stroke="{_LINE}"/>'
                )
            else:
                fill = _LIT_EMPTY if tap else "white"
                out.append(f'<rect x="{x}" y="{y}" width="{c}" height="{c}" fill="{fill}" '
                           f'stroke="{_DASH}" stroke-dasharray="3 3"/>')  # fmt: skip
            if numbers and anim.grid_values is not None and (kind == "x" or tap):
                weighted = tap is not None and anim.kernel is not None
                light = kind == "x" and tap is not None
                cy = y + c * (0.36 if weighted else 0.5)
                out.append(_text(x + c / 2, cy, cell_text(anim.grid_values[r][q]), round(c * 0.38, 1),
                                 "white" if light else _TEXT, text_anchor="middle",
                                 dominant_baseline="central"))  # fmt: skip
                if weighted:
                    assert tap is not None and anim.kernel is not None
                    out.append(_text(x + c - 2, y + c - 3, "×" + number_text(anim.kernel[tap[0]][tap[1]]),
                                     round(c * 0.26, 1), "#ffeb78" if light else "#1e3c8c",
                                     text_anchor="end"))  # fmt: skip
    if frame is not None:
        rows = [p[0] for p in frame.footprint]
        cols = [p[1] for p in frame.footprint]
        out.append(f'<rect x="{x0 + min(cols) * c}" y="{in_y + min(rows) * c}" '
                   f'width="{(max(cols) - min(cols) + 1) * c}" height="{(max(rows) - min(rows) + 1) * c}" '
                   f'fill="none" stroke="#0a1e5a" stroke-width="2"/>')  # fmt: skip
    done = len(anim.frames) if frame is None else frame.index
    values = anim.output_values()
    for r in range(anim.output_shape[0]):
        for q in range(anim.output_shape[1]):
            i = r * anim.output_shape[1] + q
            now = frame is not None and i == frame.index
            fill = _NOW if now else _DONE if i < done else "white"
            x, y = out_x + q * c, out_y + r * c
            out.append(
                f'<rect x="{x}" y="{y}" width="{c}" height="{c}" fill="{fill}" stroke="{_LINE}"/>'
            )
            value = values[r][q]
            if numbers and value is not None and i <= done:
                out.append(_text(x + c / 2, y + c / 2, cell_text(value), round(c * 0.38, 1),
                                 "white" if now else _TEXT, text_anchor="middle",
                                 dominant_baseline="central"))  # fmt: skip
    line = "" if frame is None else frame.text
    out.append(_text(16, layout["base"] + 40, line, 15))
    return out


def svg_document(anim: Animation, *, delay: int = 800, sheet: bool = False) -> str:
    """Draw the frames of ``anim`` as one SVG document.

    Parameters
    ----------
    anim : Animation
    delay : int, optional
        Milliseconds per frame of the animated SVG (the last, whole output,
        three times as long).
    sheet : bool, optional
        Every frame side by side, a row per output row, instead of an animation.

    Returns
    -------
    str

    Examples
    --------
    >>> from convcli.teaching.frames import animation_frames
    >>> doc = svg_document(animation_frames(4, 3))
    >>> doc.startswith('<svg xmlns="http://www.w3.org/2000/svg"'), doc.count('<g ')
    (True, 5)
    """
    gh, gw = len(anim.grid), len(anim.grid[0])
    oh, ow = anim.output_shape
    c = max(26 if anim.numbers else 12, min(44 if anim.numbers else 32, 900 // (gw + ow + 2)))
    gap = max(2 * c, 48)
    top = 16 + 22 + 22
    grids_h = max(gh, oh) * c
    width = max(16 * 2 + gw * c + gap + ow * c, 8 * max(len(anim.title), len(anim.formula)) + 32)
    height = top + grids_h + 12 + 2 * 22 + 8
    layout = {"x0": 16, "in_y": top + (grids_h - gh * c) // 2, "out_x": 16 + gw * c + gap,
              "out_y": top + (grids_h - oh * c) // 2, "base": top + grids_h + 12}  # fmt: skip
    head = [
        _text(16, 30, anim.title, 14),
        _text(16, top - 8, f"input {size_text(anim.size)}", 13),
        _text(layout["out_x"], top - 8, f"output {size_text(anim.output_shape)}", 13),
        _text(16, layout["base"] + 18, anim.formula, 15),
    ]
    frames: list[AnimationFrame | None] = [*anim.frames, None]
    if sheet:
        frames = list(anim.frames)
    groups = []
    total = (len(anim.frames) + 3) * delay
    for i, frame in enumerate(frames):
        body = "".join(_frame(anim, frame, c, layout))
        if sheet:
            r, q = divmod(i, ow)
            groups.append(f'<g transform="translate({q * (width + 8)},{r * (height + 8)})">'
                          f'<rect width="{width}" height="{height}" fill="white"/>{"".join(head)}{body}</g>')  # fmt: skip
        else:
            start = i * delay
            if frame is None:  # the whole output: shown without SMIL, and last with it
                toggle = 'visibility="visible"><set attributeName="visibility" to="hidden" '
                toggle += f'begin="0ms;loop.end" dur="{start}ms"/>'
            else:
                toggle = 'visibility="hidden"><set attributeName="visibility" to="visible" '
                toggle += f'begin="{start}ms;loop.end+{start}ms" dur="{delay}ms"/>'
            groups.append(f"<g {toggle}{body}</g>")
    if sheet:
        rows = -(-len(frames) // ow)
        w, h = ow * (width + 8) - 8, rows * (height + 8) - 8
        content = "".join(groups)
    else:
        w, h = width, height
        clock = f'<animate id="loop" attributeName="x" from="0" to="0" begin="0ms;loop.end" dur="{total}ms"/>'
        content = f'<rect width="{w}" height="{h}" fill="white">{clock}</rect>{"".join(head)}{"".join(groups)}'
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" font-family="{_FONT}">{content}</svg>\n'
    )
