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
)
from .painter import render_frames

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


def render_sheet(
    anim: Animation, *, cell: int | None = None, columns: int | None = None, layout: str = "beside"
) -> PILImage.Image:
    """Draw all the frames of an animation on one image (a contact sheet for handouts).

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
