"""Read an image file, standard input or a stream whole: :func:`read_image`.

The source is opened here (a path, ``-``, an fsspec URL or a binary
stream); its first bytes choose the decoder: ``.npy`` data
(:mod:`.npyread`) or Pillow (:mod:`.pillowread`). The rules of what comes
back are in :mod:`convcli.images.io`'s docstring and ``docs/images.md``.
"""

from __future__ import annotations

import io
import os
from typing import BinaryIO

import PIL.Image

from ..errors import ImageError
from ..guard import note_input
from .atomic import read_stdin
from .image import Image
from .pillowread import read_pillow
from .urls import is_url, open_url

__all__ = ["DEFAULT_MAX_PIXELS", "Source", "read_image"]

#: Pillow's own decompression-bomb limit, read when convcli.images.io is imported:
#: the most pixels an image read whole may have (a tiled TIFF or .zarr above it
#: streams instead).
#: Raised by: `--max-pixels`; in Python, `read_image(max_pixels=)` (None: no limit
#: but the machine's memory)
DEFAULT_MAX_PIXELS: int | None = PIL.Image.MAX_IMAGE_PIXELS

#: What :func:`read_image` reads from: a path (``"-"``: standard input) or a binary stream.
Source = str | os.PathLike | BinaryIO


def read_image(source: Source, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Image:
    """Read an image file, standard input or a binary stream into an :class:`Image`.

    Parameters
    ----------
    source : str, os.PathLike or binary file object
        A path, ``"-"`` for standard input (read fully into memory), or an
        open binary stream. ``.npy`` data is recognised by its content, so it
        works from standard input too; it is channels first, ``(H, W)`` or
        ``(C, H, W)`` (see the module's rules).
    max_pixels : int or None
        Refuse images with more pixels than this (decompression bombs). The
        default is Pillow's own limit; None removes the limit. The size is
        checked from the header, before any pixel is decoded. Pillow's global
        limit is never changed, except for the duration of one read when
        `max_pixels` is above twice Pillow's limit.

    Returns
    -------
    Image
        Colour pixels in the file's dtype, alpha apart, EXIF orientation
        applied, with notes on every conversion.

    Raises
    ------
    ImageError
        One line naming the file: missing, a directory, unreadable, empty,
        not an image, truncated or corrupt, or too large.

    Examples
    --------
    >>> import io
    >>> import numpy as np
    >>> buf = io.BytesIO()
    >>> np.save(buf, np.zeros((2, 3), dtype=np.uint8))
    >>> _ = buf.seek(0)
    >>> img = read_image(buf)
    >>> img.pixels.shape, img.max_value, img.format
    ((2, 3), 255.0, 'NPY')
    """
    name, stream, close = _open_source(source)
    try:
        head = stream.read(8)
        stream.seek(0)
        if not head:
            if name == "<stdin>":
                raise ImageError("<stdin>: no data on standard input")
            raise ImageError(f"{name}: empty file, not an image")
        if head.startswith(b"\x93NUMPY"):
            from .npyread import read_npy  # .npy only: an image file needs no .npy reader

            return read_npy(stream, name, max_pixels)
        try:
            return read_pillow(stream, name, max_pixels, head, disable_limit=False)
        except PIL.Image.DecompressionBombError:
            # Above twice Pillow's limit, Pillow refuses on its own; our own
            # check (against max_pixels) still runs before any decoding.
            stream.seek(0)
            return read_pillow(stream, name, max_pixels, head, disable_limit=True)
    finally:
        if close:
            stream.close()


def _open_source(source: Source) -> tuple[str, BinaryIO, bool]:
    """Return (display name, seekable binary stream, whether to close it)."""
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if path == "-":
            data = read_stdin("<stdin>", binary=True)
            return "<stdin>", io.BytesIO(data), True
        if is_url(path):  # s3://, http://, memory:// ... through fsspec
            return path, open_url(path), True
        try:
            stream = open(path, "rb")  # closed by read_image
        except FileNotFoundError:
            raise ImageError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise ImageError(f"{path}: is a directory, not an image") from None
        except PermissionError:
            raise ImageError(f"{path}: permission denied") from None
        except OSError as exc:
            raise ImageError(f"{path}: cannot open: {exc.strerror or exc}") from None
        if os.path.isdir(path):  # some platforms open directories
            stream.close()
            raise ImageError(f"{path}: is a directory, not an image")
        note_input(path)
        return path, stream, True
    name = str(getattr(source, "name", "<stream>"))
    try:
        seekable = source.seekable()
    except (AttributeError, ValueError):
        seekable = False
    if seekable:
        return name, source, False
    return name, io.BytesIO(source.read()), True
