"""The Pillow boundary: read images into numpy arrays and write them back safely.

This module is the one import path for both sides; the work is done in
:mod:`.reading` (with :mod:`.pillowread` and :mod:`.npyread`), :mod:`.writing`
and :mod:`.image` (the :class:`Image` record and the checks every reader makes).

Everything convcli knows about image files lives here; the rest of the
library sees only numpy arrays. :func:`read_image` turns any file Pillow can
decode (and ``.npy`` arrays) into an :class:`Image`: colour channels in the
file's own dtype, the alpha channel apart, EXIF orientation applied, palette
and exotic modes converted, and a note for everything a person would want to
be told. :func:`write_image` writes arrays back through a temporary file that
is renamed into place, so a failure never leaves a partial file and an
existing file is only replaced on request.

The rules in brief (``docs/images.md`` has the full table):

- uint8 and 16-bit grayscale stay as they are; 16-bit *colour* PNG/TIFF are
  read as 8 bits per channel, because Pillow has no 16-bit colour mode (a
  note says so).
- Float images (float TIFF, ``.npy``) keep their values; :attr:`Image.max_value`
  is the smallest of 1, 255 and 65535 that holds the largest value.
- ``.npy`` files are tensors, channels first, as every convcli command reads
  and writes them: ``(H, W)`` or ``(C, H, W)`` (C from 1 to 4, the last plane
  alpha when C is 2 or 4). In memory an :class:`Image` is ``(H, W, C)``; the
  axes are moved at the file boundary only.
- Formats that cannot hold what they are given (16 bits in JPEG, alpha in
  JPEG/BMP/PPM) get the nearest thing they can hold, with a note; float data
  goes only to ``.npy`` and (grayscale) ``.tif``, and anything else is an
  :class:`~convcli.errors.ImageError`.
"""

from __future__ import annotations

from .atomic import stdout_is_terminal
from .image import Image, check_finite_pixels
from .reading import DEFAULT_MAX_PIXELS, Source, read_image
from .writing import EXTENSIONS, FORMATS, output_format, same_file, write_image

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "EXTENSIONS",
    "FORMATS",
    "Image",
    "Source",
    "check_finite_pixels",
    "output_format",
    "read_image",
    "same_file",
    "stdout_is_terminal",
    "write_image",
]
