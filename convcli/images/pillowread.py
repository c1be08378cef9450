"""Decode an image file with Pillow into an :class:`~convcli.images.image.Image`.

:func:`read_pillow` opens a stream (a PNG with the PNG plugin alone,
:mod:`.decoders`), checks its pixel count from the header before decoding,
applies the EXIF orientation, and splits Pillow's modes into colour pixels
and alpha in the file's own dtype, with a note for every conversion a person
would want to be told of (palette, 1-bit, 16-bit colour, frames).
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np
import PIL.Image

from ..errors import ImageError
from .decoders import open_pillow
from .image import Image, check_finite_pixels, check_pixel_count, max_value_for

__all__ = ["read_pillow"]

# First bytes of the formats convcli reads, to tell a damaged image from a
# file that is not an image at all.
_SIGNATURES = (
    b"\x89PNG",
    b"\xff\xd8",
    b"GIF8",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
    b"RIFF",
    b"P1",
    b"P2",
    b"P3",
    b"P4",
    b"P5",
    b"P6",
    b"\x93NUMPY",
)

# Everything Pillow raises while decoding damaged data.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError)

_LIMIT_LOCK = threading.Lock()


@contextlib.contextmanager
def _pillow_limit_disabled(disable: bool) -> Iterator[None]:
    """Turn Pillow's global bomb limit off for one read, under a lock."""
    if not disable:
        yield
        return
    with _LIMIT_LOCK:
        saved = PIL.Image.MAX_IMAGE_PIXELS
        PIL.Image.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            PIL.Image.MAX_IMAGE_PIXELS = saved


def read_pillow(
    stream: BinaryIO, name: str, max_pixels: int | None, head: bytes, *, disable_limit: bool
) -> Image:
    """Decode `stream` (whose first bytes are `head`) with Pillow.

    Parameters
    ----------
    stream : binary file object
        Seekable, at its start.
    name : str
        The name errors and notes give.
    max_pixels : int or None
        As for :func:`convcli.images.reading.read_image`.
    head : bytes
        The stream's first bytes (the format's signature).
    disable_limit : bool
        Turn Pillow's own bomb limit off for this read (`max_pixels` still holds).

    Raises
    ------
    ImageError
        Not an image Pillow can read, truncated or corrupt data, too many pixels.
    PIL.Image.DecompressionBombError
        Above twice Pillow's own limit while it is on.
    """
    notes: list[str] = []
    with _pillow_limit_disabled(disable_limit), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", PIL.Image.DecompressionBombWarning)
        im = _open(stream, name, head)
        with im:
            fmt = im.format or "?"
            im = _load(im, name, fmt, max_pixels, notes)
            mode = im.mode
            pixels, alpha = _pillow_to_arrays(im, name, fmt, notes)
    for warning in caught:
        if not issubclass(warning.category, PIL.Image.DecompressionBombWarning):
            notes.append(f"{name}: {warning.message}")
    check_finite_pixels(pixels, name)  # a float TIFF (mode F) can hold NaN
    return Image(
        pixels=pixels,
        alpha=alpha,
        max_value=max_value_for(pixels),
        mode=mode,
        format=fmt,
        source=name,
        notes=notes,
    )


def _open(stream: BinaryIO, name: str, head: bytes) -> PIL.Image.Image:
    """Open `stream` with Pillow (header only), or say why it is not an image."""
    try:
        return open_pillow(stream, head)
    except PIL.Image.DecompressionBombError:
        raise
    except PIL.UnidentifiedImageError:
        if head.startswith(_SIGNATURES):
            raise ImageError(f"{name}: truncated or corrupt image data") from None
        raise ImageError(f"{name}: not an image Pillow can read") from None
    except _DECODE_ERRORS:
        raise ImageError(f"{name}: truncated or corrupt image data") from None


def _load(
    im: PIL.Image.Image, name: str, fmt: str, max_pixels: int | None, notes: list[str]
) -> PIL.Image.Image:
    """Check the size, decode the pixels and apply the EXIF orientation, with notes."""
    check_pixel_count(name, im.width, im.height, max_pixels)
    frames = getattr(im, "n_frames", 1)
    if frames > 1:
        notes.append(f"{name}: {fmt} with {frames} frames: used the first")
    if im.mode in ("RGB", "RGBA", "LA") and any(
        _rawmode(tile).endswith((";16B", ";16L", ";16N", ";16")) for tile in getattr(im, "tile", ())
    ):
        notes.append(
            f"{name}: 16-bit colour {fmt} read as 8 bits per channel "
            "(Pillow keeps 16 bits for grayscale only)"
        )
    try:
        im.load()
        orientation = im.getexif().get(0x0112, 1)
        if orientation in range(2, 9):
            from PIL import ImageOps

            im = ImageOps.exif_transpose(im)
            notes.append(f"{name}: EXIF orientation {orientation} applied")
    except PIL.Image.DecompressionBombError:
        raise
    except _DECODE_ERRORS:
        raise ImageError(f"{name}: truncated or corrupt image data") from None
    return im


def _rawmode(tile: object) -> str:
    """Return the raw mode a Pillow tile decodes from ("RGB;16B"), or "" if it does not say."""
    args = getattr(tile, "args", None)
    if isinstance(args, tuple) and args:
        args = args[0]
    return args if isinstance(args, str) else ""


def _all_gray(rgb: np.ndarray) -> bool:
    """Whether the three channels of `rgb` are equal everywhere."""
    return bool(
        np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2])
    )


def _pillow_to_arrays(
    im: PIL.Image.Image, name: str, fmt: str, notes: list[str]
) -> tuple[np.ndarray, np.ndarray | None]:
    """Split a loaded Pillow image into (colour pixels, alpha or None)."""
    mode = im.mode
    if mode in ("L", "RGB"):
        arr = np.asarray(im)
        if fmt == "WEBP" and arr.ndim == 3 and _all_gray(arr):
            return np.ascontiguousarray(arr[..., 0]), None
        return arr, None
    if mode == "1":
        notes.append(f"{name}: 1-bit image converted to 8-bit grayscale")
        return np.asarray(im.convert("L")), None
    if mode in ("LA", "La"):
        arr = np.asarray(im.convert("LA"))
        return np.ascontiguousarray(arr[..., 0]), np.ascontiguousarray(arr[..., 1])
    if mode in ("RGBA", "RGBa", "P", "PA"):
        return _with_alpha(im, name, fmt, notes)
    if mode == "RGBX":
        return np.ascontiguousarray(np.asarray(im)[..., :3]), None
    if mode.startswith("I;16") or mode in ("I", "F"):
        return _numeric(im, name, notes), None
    try:
        converted = im.convert("RGB")
    except (ValueError, OSError):
        raise ImageError(f"{name}: Pillow mode {mode!r} cannot be converted to RGB") from None
    notes.append(f"{name}: {mode} image converted to RGB")
    return np.asarray(converted), None


def _with_alpha(
    im: PIL.Image.Image, name: str, fmt: str, notes: list[str]
) -> tuple[np.ndarray, np.ndarray | None]:
    """(colour, alpha) of an RGBA or palette image; a palette of grays becomes gray."""
    if im.mode in ("P", "PA"):
        palette_mode = getattr(im.palette, "mode", "RGB")
        transparent = im.mode == "PA" or "transparency" in im.info or palette_mode == "RGBA"
        target = "RGBA" if transparent else "RGB"
        arr = np.asarray(im.convert(target))
        if _all_gray(arr[..., :3]):
            notes.append(f"{name}: palette image of grays converted to grayscale")
            gray = np.ascontiguousarray(arr[..., 0])
            return gray, (np.ascontiguousarray(arr[..., 3]) if transparent else None)
        notes.append(f"{name}: palette image converted to {target}")
        if not transparent:
            return arr, None
    else:
        arr = np.asarray(im.convert("RGBA"))
    if fmt == "WEBP" and _all_gray(arr[..., :3]):
        return np.ascontiguousarray(arr[..., 0]), np.ascontiguousarray(arr[..., 3])
    return np.ascontiguousarray(arr[..., :3]), np.ascontiguousarray(arr[..., 3])


def _numeric(im: PIL.Image.Image, name: str, notes: list[str]) -> np.ndarray:
    """Pixels of Pillow's integer and float modes (``I;16*``, ``I``, ``F``)."""
    mode = im.mode
    if mode == "I;16S":
        return _int_to_array(np.asarray(im).astype(np.int32), name, notes)
    if mode.startswith("I;16"):
        return np.asarray(im).astype(np.uint16)
    if mode == "I":
        return _int_to_array(np.asarray(im), name, notes)
    return np.asarray(im).astype(np.float32)


def _int_to_array(arr: np.ndarray, name: str, notes: list[str]) -> np.ndarray:
    """32-bit integer pixels: uint16 when they fit 0..65535, else float64."""
    if arr.size == 0 or (arr.min() >= 0 and arr.max() <= 65535):
        return arr.astype(np.uint16)
    notes.append(
        f"{name}: 32-bit integer values outside 0..65535 kept as float64 (values unchanged)"
    )
    return arr.astype(np.float64)
