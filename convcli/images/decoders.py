"""Opening a file with Pillow without loading every plugin Pillow would try.

``PIL.Image.open`` on a stream (convcli opens files itself) imports Pillow's
BMP, GIF, JPEG, PPM and PNG plugins before it looks at the data: about 6 ms of
a small ``convcli filter`` run, most of it the JPEG plugin's ``subprocess``.
:func:`open_pillow` opens a PNG with the PNG plugin alone and leaves every
other file, and any PNG the plugin refuses, to ``PIL.Image.open`` (so errors
read exactly as before).
"""

from __future__ import annotations

from typing import BinaryIO

import PIL.Image

__all__ = ["PNG_SIGNATURE", "open_pillow"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def open_pillow(stream: BinaryIO, head: bytes) -> PIL.Image.Image:
    """``PIL.Image.open(stream)``, with the PNG plugin alone when ``head`` is a PNG's.

    Pillow's decompression-bomb check runs as in ``PIL.Image.open``.
    ``stream`` must be seekable; ``head`` is its first bytes.
    """
    bomb_check = getattr(PIL.Image, "_decompression_bomb_check", None)
    if head.startswith(PNG_SIGNATURE) and bomb_check is not None:
        from PIL import PngImagePlugin

        try:
            stream.seek(0)
            im = PngImagePlugin.PngImageFile(stream)
        except (SyntaxError, IndexError, TypeError, ValueError, EOFError, OSError):
            stream.seek(0)  # let Pillow say what is wrong, in its own words
            return PIL.Image.open(stream)
        bomb_check(im.size)
        return im
    stream.seek(0)
    return PIL.Image.open(stream)
