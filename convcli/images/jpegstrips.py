"""A JPEG written as strips encoded at once on several threads, joined by restart markers.

Pillow's JPEG encoder (libjpeg-turbo) runs on one core: a 24-megapixel
photograph takes about 0.2 s, as long as filtering it on two. A baseline JPEG
can be cut into horizontal strips that are encoded independently, because a
restart marker (``RSTn``) resets everything an entropy-coded segment carries
over (the DC predictions): each strip is encoded by Pillow as a JPEG of its
own, with the same quality, tables and chroma subsampling; the entropy-coded
data of every strip is taken out of its file, and the pieces follow each
other in one file, separated by ``RST0``..``RST7`` in turn, under the first
strip's header with the whole height and a ``DRI`` segment giving the
restart interval (the MCUs of one strip).

Every strip but the last has a height that is a multiple of the MCU height
(16 rows), so no strip is padded inside the image, each 8×8 block is
transformed and quantised exactly as in one encode of the whole image, and
the file decodes to the same pixels as Pillow's own encode of it
(``tests/test_jpegstrips.py`` checks that with Pillow and OpenCV). The
strips are encoded in a thread pool: Pillow releases the GIL while encoding.
"""

from __future__ import annotations

import os
import struct
from typing import BinaryIO

import numpy as np
import PIL.Image

from ..engine.threads import check_threads

__all__ = ["STRIP_PIXELS", "can_write_strips", "write_jpeg_strips"]

#: Pixels of one strip, about (a strip is a multiple of 16 rows; smaller images are one piece).
STRIP_PIXELS = 1 << 20
#: Rows of a strip are a multiple of this: the MCU height of 4:2:0 colour (Pillow's
#: subsampling), twice that of gray, whose MCU is one 8×8 block.
_MCU_ROWS = 16
_MAX_RESTART = 0xFFFF  # the DRI field is 16 bits


def _mcu(pixels: np.ndarray) -> int:
    """Return the side of one MCU: 8 for gray, 16 for 4:2:0 colour."""
    return 8 if pixels.ndim == 2 else 16


def _strip_rows(height: int, width: int, mcu: int) -> int:
    """Rows per strip: about :data:`STRIP_PIXELS`, a multiple of 16, within the DRI field."""
    mcus_across = -(-width // mcu)
    most = max(1, _MAX_RESTART // mcus_across) * mcu // _MCU_ROWS * _MCU_ROWS
    rows = max(_MCU_ROWS, STRIP_PIXELS // max(width, 1) // _MCU_ROWS * _MCU_ROWS)
    return min(rows, most)


def can_write_strips(pixels: np.ndarray, threads: int | None) -> bool:
    """Return whether :func:`write_jpeg_strips` takes these pixels.

    It takes uint8 gray or RGB, wide enough for one MCU row to fit the
    restart field, at least two strips, and more than one thread.
    """
    if (
        not hasattr(os, "memfd_create")
        or pixels.dtype != np.uint8
        or not (pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] == 3))
    ):
        return False
    height, width = pixels.shape[:2]
    if -(-width // _mcu(pixels)) * _MCU_ROWS // _mcu(pixels) > _MAX_RESTART:
        return False
    return check_threads(threads) > 1 and height >= 2 * _strip_rows(height, width, _mcu(pixels))


def _segments(data: bytes) -> tuple[bytes, int, int]:
    """(header up to and including the SOS segment, offset of SOF's height, end of the scan).

    ``data`` is one baseline JPEG as Pillow writes it: markers up to SOS, then
    the entropy-coded data, then EOI.
    """
    pos = 2  # after SOI
    sof = -1
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise ValueError("not a JPEG segment")
        marker = data[pos + 1]
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in (0xC0, 0xC1):  # SOF0/SOF1: precision, then height
            sof = pos + 5
        elif marker in (0xC2, 0xC3) or (0xC5 <= marker <= 0xCF and marker != 0xC8):
            raise ValueError("not a baseline JPEG")
        elif marker == 0xDD:
            raise ValueError("the strip already has restart markers")
        if marker == 0xDA:  # SOS
            end = pos + 2 + length
            if sof < 0 or not data.endswith(b"\xff\xd9"):
                raise ValueError("unexpected JPEG layout")
            return data[:end], sof, len(data) - 2
        pos += 2 + length
    raise ValueError("no scan in the JPEG")


def _encode(pixels: np.ndarray, quality: int) -> bytes:
    """One strip as a JPEG of its own, encoded without holding the GIL.

    Pillow releases the GIL only when it encodes to a file descriptor (to a
    ``BytesIO`` it holds it), hence an anonymous file in memory.
    """
    im = PIL.Image.fromarray(np.ascontiguousarray(pixels))
    with open(os.memfd_create("convcli-jpeg-strip", os.MFD_CLOEXEC), "w+b") as fh:
        im.save(fh, format="JPEG", quality=quality)
        fh.seek(0)
        return fh.read()


def write_jpeg_strips(
    fh: BinaryIO, pixels: np.ndarray, *, quality: int = 90, threads: int | None = None
) -> None:
    """Write uint8 gray or RGB `pixels` to `fh` as one baseline JPEG, strips encoded at once.

    The file decodes to the pixels of ``PIL.Image.fromarray(pixels).save(fh,
    "JPEG", quality=quality)``'s. Check :func:`can_write_strips` first.
    """
    from concurrent.futures import ThreadPoolExecutor

    height, width = pixels.shape[:2]
    mcu = _mcu(pixels)
    rows = _strip_rows(height, width, mcu)
    starts = list(range(0, height, rows))
    restart = -(-width // mcu) * (rows // mcu)
    workers = min(check_threads(threads), len(starts))
    with ThreadPoolExecutor(workers) as pool:
        pieces = pool.map(lambda r0: _encode(pixels[r0 : r0 + rows], quality), starts)
        tables = b""
        for i, piece in enumerate(pieces):
            head, sof, end = _segments(piece)
            if i == 0:
                tables = head[:sof] + head[sof + 2 :]  # all but the strip's height
                sos = head.rfind(b"\xff\xda")
                dri = b"\xff\xdd" + struct.pack(">HH", 4, restart)
                fh.write(head[:sof] + struct.pack(">H", height) + head[sof + 2 : sos] + dri)
                fh.write(head[sos:])
            elif head[:sof] + head[sof + 2 :] != tables:
                raise ValueError("JPEG strips were encoded with different tables")
            else:
                fh.write(bytes((0xFF, 0xD0 + (i - 1) % 8)))
            fh.write(memoryview(piece)[len(head) : end])
    fh.write(b"\xff\xd9")
