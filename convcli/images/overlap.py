"""Filter a large JPEG photo with decoding, filtering and encoding overlapped.

The serial path (:func:`~convcli.images.io.read_image`, then
:func:`~convcli.images.filtering.filter_image`, then
:func:`~convcli.images.io.write_image`) leaves a core idle while Pillow
decodes (libjpeg-turbo runs on one). Here Pillow's JPEG decoder runs on a
thread of its own, fed the file a block at a time, and writes each row into
an array as soon as the row is decoded (Pillow releases the GIL meanwhile).
The main thread filters bands of rows as soon as the rows they reach are
there, and hands each finished strip of the result to the JPEG strip writer
(:class:`~convcli.images.jpegstrips.JpegStripWriter`), which encodes on
other threads while the next band filters. A PNG output is gathered and
written whole, as today.

The result is the serial path's, byte for byte (``tests/test_overlap.py``
checks it against that path and against scipy.ndimage): every band is
filtered with enough rows above and below it for its own rows to be exact,
and a row of the result is mapped to pixels on its own (the range modes
that need the whole result, ``normalize`` and a zero-sum chain's ``auto``,
keep the serial path).

Which rows are decoded: Pillow stores an RGB pixel in four bytes, the last
one 255. The array the decoder writes into starts as zeros, so after each
block, the rows whose last pixel has its fourth byte set are complete (the
decoder writes rows in order, each row once; a baseline JPEG row by row, a
progressive one all at the end). Should a Pillow store RGB otherwise, no row
is seen before the decoder ends, and the bands wait for the end: the same
bytes, without the overlap. The decoder and its image are Pillow's own
(``PIL.Image._getdecoder``, ``Image.frombuffer`` over the array), driven as
Pillow's ``ImageFile.load`` drives them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
import PIL.Image
import PIL.ImageFile

from ..engine.tiling import bands
from ..errors import ImageError

if TYPE_CHECKING:
    from ..kernels.kernel import Kernel
    from .filtering import FilterSettings

__all__ = ["OVERLAP_PIXELS", "BandedJpeg", "filter_overlapped", "overlap_applies"]

#: Images with fewer pixels than this take the serial path (threads do not pay).
OVERLAP_PIXELS = 4_000_000
#: Bytes of the file the decoder is fed at a time.
_BLOCK = 1 << 18
#: Pixels of a band of rows filtered at once, about.
_BAND_PIXELS = 1 << 21


class BandedJpeg:
    """An RGB JPEG decoded on a thread, row after row, into an array.

    Use as a context manager; :meth:`rows` waits until the rows it asks for
    are decoded. Leaving the ``with`` block stops the decoder (within one
    block of the file) and waits for its thread.

    Parameters
    ----------
    im : PIL.ImageFile.ImageFile
        An opened, not yet loaded, RGB JPEG (one ``jpeg`` tile).
    name : str
        The file's name in messages.
    """

    def __init__(self, im: PIL.ImageFile.ImageFile, name: str) -> None:
        self.name = name
        self.width, self.height = im.size
        self._im = im
        self._buffer = np.zeros((self.height, self.width, 4), np.uint8)
        self._target = PIL.Image.frombuffer(  # Pillow's RGBX image over the buffer
            "RGBX", (self.width, self.height), self._buffer, "raw", "RGBX", 0, 1
        )
        self._done = 0  # rows decoded
        self._error: BaseException | None = None
        self._stop = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._decode, name="convcli-decode", daemon=True)

    def __enter__(self) -> BandedJpeg:
        """Start decoding."""
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop decoding and wait for the decoder's thread."""
        with self._changed:
            self._stop = True
        self._thread.join()

    def rows(self, r0: int, r1: int, wait: float = 0.1) -> np.ndarray:
        """Return rows r0..r1-1 as an RGB array, waiting until they are decoded.

        The array is packed by Pillow, as :func:`~convcli.images.io.read_image`'s
        is (numpy's copy of three bytes in four is several times slower).
        Waits in steps of ``wait`` seconds, so that Ctrl-C stops the caller
        at once. Raises ImageError when the file is truncated or corrupt.
        """
        with self._changed:
            while self._done < r1 and self._error is None:
                self._changed.wait(wait)
            if self._done < r1 and self._error is not None:
                raise self._error
        packed = self._target.crop((0, r0, self.width, r1)).tobytes("raw", "RGB")
        return np.frombuffer(packed, np.uint8).reshape(r1 - r0, self.width, 3)

    def _decode(self) -> None:
        """Feed the file to Pillow's decoder a block at a time (the decoding thread)."""
        try:
            self._feed()
        except BaseException as exc:  # handed to the thread that waits for rows
            with self._changed:
                self._error = exc
                self._changed.notify_all()

    def _feed(self) -> None:
        """Decode the whole file, publishing the rows done after every block."""
        im = self._im
        tile = im.tile[0]
        decoder = PIL.Image._getdecoder(im.mode, tile.codec_name, tile.args, im.decoderconfig)
        fp = im.fp
        assert fp is not None  # an image that is opened, not loaded
        try:
            decoder.setimage(self._target.im, tile.extents)
            fp.seek(tile.offset)
            rest = b""
            while True:
                with self._changed:
                    if self._stop:
                        return
                block = fp.read(_BLOCK)
                if not block:
                    raise ImageError(f"{self.name}: truncated or corrupt image data")
                data = rest + block
                used, status = decoder.decode(data)
                rest = data[used:] if used >= 0 else b""
                self._publish()
                if used < 0:
                    break
            if status < 0:  # the decoder's error code, as Pillow's own load() reads it
                raise ImageError(f"{self.name}: truncated or corrupt image data")
        finally:
            decoder.cleanup()
        with self._changed:  # the decoder ended without an error: every row is there
            self._done = self.height
            self._changed.notify_all()

    def _publish(self) -> None:
        """Find the rows decoded so far (by the fourth byte of each row's last pixel)."""
        lo, hi = self._done, self.height
        marks = self._buffer[:, -1, 3]
        while lo < hi:  # the first row not yet written
            mid = (lo + hi) // 2
            if marks[mid] == 255:
                lo = mid + 1
            else:
                hi = mid
        with self._changed:
            self._done = lo
            self._changed.notify_all()


def _openable(source: str, max_pixels: int | None) -> PIL.ImageFile.ImageFile | None:
    """Open ``source`` when it is a large RGB JPEG the overlapped path takes."""
    try:
        im = PIL.Image.open(source)
    except (OSError, ValueError, PIL.Image.DecompressionBombError):
        return None  # the serial path says what is wrong
    pixels = im.width * im.height
    ok = (
        isinstance(im, PIL.ImageFile.ImageFile)
        and im.format == "JPEG"
        and im.mode == "RGB"
        and len(im.tile) == 1
        and im.tile[0].codec_name == "jpeg"
        and pixels >= OVERLAP_PIXELS
        and (max_pixels is None or pixels <= max_pixels)
        and im.getexif().get(0x0112, 1) not in range(2, 9)  # no orientation to apply
        and getattr(im, "n_frames", 1) == 1
    )
    if not ok or not isinstance(im, PIL.ImageFile.ImageFile):
        im.close()
        return None
    return im


def _reach(kernels: Sequence[Kernel], settings: FilterSettings) -> int:
    """Rows a chain's output row depends on above (and below) it."""
    from ..arithmetic.sizes import pair

    dilation = pair(settings.dilation, "dilation")[0]
    return settings.repeat * sum(dilation * (k.shape[0] - 1) for k in kernels)


def overlap_applies(kernels: Sequence[Kernel], settings: FilterSettings, value_range: str) -> bool:
    """Return whether a chain can be filtered band by band into the serial path's pixels.

    It can with the geometry that keeps the size (``same``, stride 1, not
    ``circular``) and a range mode that maps each value on its own.
    """
    from .chain import bandable
    from .ranges import chain_range_mode

    mode = chain_range_mode(kernels, value_range)
    return bandable(settings) and mode not in ("normalize", "stretch", "raw")


def filter_overlapped(
    source: str,
    target: str,
    kernels: Sequence[Kernel],
    settings: FilterSettings,
    *,
    fmt: str,
    value_range: str = "auto",
    alpha: str = "keep",
    gray: bool = False,
    overwrite: bool = False,
    jpeg_quality: int = 90,
    png_compression: int = 1,
    threads: int | None = None,
    max_pixels: int | None = None,
) -> list[str] | None:
    """Filter the JPEG ``source`` into ``target`` with the stages overlapped, if it can.

    Returns None, having written nothing, when the overlapped path does not
    apply: a small, gray-scale, CMYK or rotated JPEG, another format; a
    chain :func:`overlap_applies` refuses; an output that is neither JPEG
    nor PNG, or a JPEG the serial path would not write in strips. Otherwise
    writes ``target`` atomically, as :func:`~convcli.images.io.write_image`
    would (``overwrite`` likewise), and returns its notes.
    """
    if fmt not in ("JPEG", "PNG") or not overlap_applies(kernels, settings, value_range):
        return None
    im = _openable(source, max_pixels)
    if im is None:
        return None
    from .jpegstrips import can_write_strips

    with im:
        channels = 1 if gray else 3
        shape = (im.height, im.width) + (() if gray else (3,))
        shaped = np.broadcast_to(np.zeros((), np.uint8), shape)  # no memory: a shape to check
        if fmt == "JPEG" and not can_write_strips(shaped, threads):
            return None  # the serial path encodes in one piece: other bytes
        run = _Run(im, kernels, settings, value_range, alpha, gray, source)
        if fmt == "JPEG":
            from .atomic import atomic_write
            from .jpegstrips import JpegStripWriter

            def write(fh: BinaryIO) -> None:
                writer = JpegStripWriter(
                    fh, im.height, im.width, channels, quality=jpeg_quality, threads=threads
                )
                try:
                    run.bands(writer.rows, writer.add)
                except BaseException:
                    writer.abort()
                    raise
                writer.close()

            atomic_write(target, write, overwrite=overwrite, error=ImageError)
            return []
        from .writing import write_image

        result = np.empty(shape, np.uint8)
        row = [0]

        def keep(band: np.ndarray) -> None:
            result[row[0] : row[0] + band.shape[0]] = band
            row[0] += band.shape[0]

        run.bands(1, keep)
        return write_image(
            target,
            result,
            format="PNG",
            overwrite=overwrite,
            png_compression=png_compression,
            threads=threads,
        )


class _Run:
    """One chain over one banded JPEG: bands filtered as the rows they reach are decoded."""

    def __init__(
        self,
        im: PIL.ImageFile.ImageFile,
        kernels: Sequence[Kernel],
        settings: FilterSettings,
        value_range: str,
        alpha: str,
        gray: bool,
        name: str,
    ) -> None:
        self.im = im
        self.name = name
        self.kernels = kernels
        self.settings = settings
        self.value_range = value_range
        self.alpha = alpha
        self.gray = gray
        self.reach = _reach(kernels, settings)

    def bands(self, multiple: int, sink: Callable[[np.ndarray], Any]) -> None:
        """Filter the image in bands of a multiple of ``multiple`` rows; ``sink(band)`` each."""
        from .filtering import filter_image
        from .image import Image

        height, width = self.im.height, self.im.width
        step = max(1, _BAND_PIXELS // max(width, 1) // multiple) * multiple
        step = max(step, multiple)
        with BandedJpeg(self.im, self.name) as decoded:
            for r0, r1 in bands(height, step):
                lo, hi = max(0, r0 - self.reach), min(height, r1 + self.reach)
                pixels = decoded.rows(lo, hi)
                band = Image(pixels, None, 255.0, "RGB", "JPEG", self.name)
                out = filter_image(
                    band,
                    self.kernels,
                    self.settings,
                    value_range=self.value_range,
                    alpha=self.alpha,
                    gray=self.gray,
                )
                rows = out.pixels[r0 - lo : r0 - lo + (r1 - r0)]
                for s0, s1 in bands(rows.shape[0], multiple):
                    sink(rows[s0:s1])
