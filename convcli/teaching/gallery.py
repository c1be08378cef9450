"""A contact sheet: an image and what each kernel does to it, side by side.

:func:`make_gallery` filters the image with each kernel (through
:func:`convcli.images.filtering.filter_image`, with ``filter``'s defaults: ``same``
padding, ``reflect`` border, ``--range auto``, which stretches the absolute
response of a zero-sum kernel so that its 99th percentile is white; see
:func:`convcli.images.filtering.stretch_edges`), scales every result to a
tile, and lays the tiles out on a grid, each labelled under it with the
kernel's name, using Pillow's built-in font.

Layout (all in pixels): ``columns`` tiles per row, each tile ``tile`` wide
and as high as the image's aspect ratio makes it, with a label band of
``label_height`` under it and ``gap`` of background around every tile::

    width  = columns · (tile + gap) + gap
    height = rows · (tile_h + label_height + gap) + gap
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL.Image
import PIL.ImageDraw
import PIL.ImageFont

from ..arithmetic.limits import check_output_pixels
from ..errors import ParameterError
from ..images.filtering import FilterSettings, filter_image, luminance
from ..images.io import Image
from ..images.pixels import to_pixels
from ..kernels.catalogue import get_kernel
from ..kernels.kernel import Kernel

__all__ = ["DEFAULT_GALLERY", "GallerySheet", "gallery_kernels", "make_gallery"]

#: The representative set shown by default: smoothing, sharpening, edges, relief, motion.
DEFAULT_GALLERY = (
    "identity",
    "box:5",
    "gaussian:sigma=2",
    "sharpen",
    "edge",
    "sobel-x",
    "sobel-y",
    "sobel",
    "laplacian",
    "emboss",
    "motion:15,30",
)

BACKGROUND = 255
INK = 0


@dataclass(frozen=True)
class GallerySheet:
    """A contact sheet and where its tiles are.

    Attributes
    ----------
    pixels : numpy.ndarray
        uint8, (H, W) for a grayscale input or (H, W, 3) for colour.
    boxes : list of (int, int, int, int)
        (top, left, height, width) of each tile's picture, input first.
    labels : list of str
        The label under each tile (``"input"`` first).
    """

    pixels: np.ndarray
    boxes: list[tuple[int, int, int, int]]
    labels: list[str]


def gallery_kernels(specs: Sequence[str] | None = None) -> list[tuple[str, Kernel]]:
    """Resolve kernel specs (default :data:`DEFAULT_GALLERY`) into (label, Kernel) pairs.

    A spec is its own label (``"gaussian:sigma=2"``, an inline matrix), except
    a kernel file, which is labelled with the file's stem (``sobel_x`` for
    ``kernels/sobel_x.txt``) rather than a path cut short on the tile.
    """
    from ..kernels.files import resolve_kernel

    if not specs:
        return [(spec, get_kernel(spec)) for spec in DEFAULT_GALLERY]
    chosen = []
    for spec in specs:
        kernel = resolve_kernel(spec)
        label = Path(spec.strip()).stem if os.path.isfile(spec.strip()) else spec
        chosen.append((label, kernel))
    return chosen


def _fit(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize uint8 pixels to (height, width) with Pillow's area-averaging filter."""
    im = PIL.Image.fromarray(np.ascontiguousarray(pixels))
    return np.asarray(im.resize((width, height), PIL.Image.Resampling.BOX))


def _to_uint8(image: Image) -> np.ndarray:
    """Convert an image's colour pixels to uint8 (16-bit and float scaled by max_value)."""
    pixels = image.pixels
    if pixels.dtype == np.uint8:
        return pixels
    return to_pixels(pixels.astype(np.float64), image.max_value, np.uint8, in_place=True)


def _font(size: int) -> PIL.ImageFont.ImageFont | PIL.ImageFont.FreeTypeFont:
    try:
        return PIL.ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one fixed-size bitmap font
        return PIL.ImageFont.load_default()


def make_gallery(
    image: Image,
    kernels: Sequence[tuple[str, Kernel]] | None = None,
    *,
    tile: int = 256,
    columns: int | None = None,
    gap: int = 8,
    gray: bool = False,
    settings: FilterSettings | None = None,
) -> GallerySheet:
    """Filter ``image`` with each kernel and lay the results out on one labelled sheet.

    Parameters
    ----------
    image : Image
        As returned by :func:`convcli.read_image`; alpha is ignored.
    kernels : sequence of (label, Kernel), optional
        The kernels and the label each tile gets; by default
        :data:`DEFAULT_GALLERY` (see :func:`gallery_kernels`).
    tile : int
        Width of each tile in pixels; its height keeps the image's aspect ratio.
    columns : int, optional
        Tiles per row; by default about the square root of the tile count
        (at most 4).
    gap : int
        Background pixels between and around tiles.
    gray : bool
        Show the luminance of a colour image (a grayscale sheet).
    settings : FilterSettings, optional
        Geometry of every filter (``filter``'s defaults if omitted). A
        stride shrinks the result, which is then scaled up to the tile.

    Returns
    -------
    GallerySheet
        The uint8 sheet (grayscale or RGB like the input) and the tiles' boxes.

    Examples
    --------
    >>> img = Image(np.tile(np.arange(64, dtype=np.uint8) * 4, (64, 1)))
    >>> sheet = make_gallery(img, [("sobel-x", get_kernel("sobel-x"))], tile=64, columns=2)
    >>> sheet.pixels.shape, sheet.labels
    ((98, 152), ['input', 'sobel-x'])
    """
    if isinstance(tile, bool) or not isinstance(tile, int) or tile < 16:
        raise ParameterError(f"`tile` must be an integer of at least 16 pixels, got {tile!r}")
    if isinstance(gap, bool) or not isinstance(gap, int) or gap < 0:
        raise ParameterError(f"`gap` must be a non-negative integer, got {gap!r}")
    chosen = list(gallery_kernels() if kernels is None else kernels)
    if not chosen:
        raise ParameterError("no kernel given: a gallery needs at least one")
    if gray and image.pixels.ndim == 3:
        image = Image(
            luminance(image.pixels),
            max_value=image.max_value,
            source=image.source,
        )
    image = Image(image.pixels, None, image.max_value, image.mode, image.format, image.source)
    count = len(chosen) + 1
    if columns is None:
        columns = min(4, math.ceil(math.sqrt(count)))
    if isinstance(columns, bool) or not isinstance(columns, int) or columns < 1:
        raise ParameterError(f"`columns` must be a positive integer, got {columns!r}")
    columns = min(columns, count)
    rows = math.ceil(count / columns)
    check_output_pixels(1, tile, f"`tile` {tile}")  # before any float of it
    tile_h = max(1, round(tile * image.height / image.width))
    label_h = max(12, tile // 12) + 6
    font = _font(label_h - 6)
    colour = image.pixels.ndim == 3
    width = columns * (tile + gap) + gap
    height = rows * (tile_h + label_h + gap) + gap
    check_output_pixels(height, width, f"`tile` {tile}")  # before filtering or drawing
    sheet = PIL.Image.new("RGB" if colour else "L", (width, height), _fill(BACKGROUND, colour))
    draw = PIL.ImageDraw.Draw(sheet)

    tiles = [("input", _to_uint8(image))]
    for label, kernel in chosen:
        filtered = filter_image(image, [kernel], settings, value_range="auto")
        tiles.append((label, _to_uint8(filtered)))
    boxes = []
    for i, (label, pixels) in enumerate(tiles):
        r, c = divmod(i, columns)
        top = gap + r * (tile_h + label_h + gap)
        left = gap + c * (tile + gap)
        sheet.paste(PIL.Image.fromarray(_fit(pixels, tile, tile_h)), (left, top))
        boxes.append((top, left, tile_h, tile))
        text = _shorten(draw, label, font, tile)
        draw.text(
            (left + tile / 2, top + tile_h + label_h / 2),
            text,
            fill=_fill(INK, colour),
            font=font,
            anchor="mm",
        )
    return GallerySheet(np.asarray(sheet), boxes, [label for label, _ in tiles])


def _fill(value: int, colour: bool) -> int | tuple[int, int, int]:
    return (value, value, value) if colour else value


def _shorten(
    draw: PIL.ImageDraw.ImageDraw,
    text: str,
    font: PIL.ImageFont.ImageFont | PIL.ImageFont.FreeTypeFont,
    width: int,
) -> str:
    """Cut ``text`` with an ellipsis until it fits ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while len(text) > 1 and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"
