"""Write arrays as image files, standard output or a stream, atomically: :func:`write_image`.

The format comes from ``format=`` or the extension (:func:`output_format`).
Arrays are first fitted to what the format can hold (16 bits in JPEG, alpha
in JPEG/BMP/PPM get the nearest thing, with a note; float data goes only to
``.npy`` and grayscale ``.tif``), then encoded: PNG by convcli's own writer
(:mod:`.png`), a large JPEG in strips (:mod:`.jpegstrips`), ``.npy`` band by
band, the rest by Pillow. A file is written to a temporary file beside it and
renamed into place (:mod:`.atomic`), so a failure never leaves a partial file.
"""

from __future__ import annotations

import io
import os
import warnings
from typing import BinaryIO

import numpy as np
import PIL.Image

from ..arithmetic.limits import check_format_side
from ..errors import ImageError
from ..suffixes import IMAGE_FORMATS, IMAGE_WRITE_SUFFIXES
from .atomic import atomic_write, refuse_terminal_stdout, write_stdout
from .pixels import to_pixels
from .png import can_write as can_write_png
from .png import write_png
from .urls import is_url, write_url

__all__ = ["EXTENSIONS", "FORMATS", "NPY_CHUNK", "output_format", "same_file", "write_image"]

#: Output formats convcli writes, by the name ``format=`` accepts (lower case);
#: :data:`convcli.suffixes.IMAGE_FORMATS`.
FORMATS: dict[str, str] = IMAGE_FORMATS

#: File extensions (lower case, with the dot) and the format they select;
#: :data:`convcli.suffixes.IMAGE_WRITE_SUFFIXES`.
EXTENSIONS: dict[str, str] = IMAGE_WRITE_SUFFIXES

# Formats that hold 8 bits per channel only, and formats without alpha.
_EIGHT_BIT_ONLY = {"JPEG", "BMP", "GIF", "WEBP"}
_NO_ALPHA = {"JPEG", "BMP", "PPM"}


def output_format(path_or_dash: str | os.PathLike, format: str | None = None) -> str:
    """Return the format an output is written in: ``"PNG"``, ``"JPEG"``, ..., ``"NPY"``.

    Parameters
    ----------
    path_or_dash : str or os.PathLike
        The output path, or ``"-"`` for standard output.
    format : str or None
        A format name (case-insensitive; see :data:`FORMATS`). It wins over
        the extension.

    Returns
    -------
    str
        The format name: `format` if given, else the one the file extension
        selects; PNG for ``"-"`` without `format`.

    Raises
    ------
    ImageError
        An unknown format name, or an unknown or missing extension.

    Examples
    --------
    >>> output_format("edges.JPG")
    'JPEG'
    >>> output_format("-"), output_format("-", "tif"), output_format("a.png", "npy")
    ('PNG', 'TIFF', 'NPY')
    """
    if format is not None:
        key = format.lower().lstrip(".")
        if key not in FORMATS:
            known = ", ".join(sorted(FORMATS))
            raise ImageError(f"unknown image format {format!r} (known: {known})")
        return FORMATS[key]
    path = os.fspath(path_or_dash)
    if path == "-":
        return "PNG"
    ext = os.path.splitext(path)[1].lower()
    if ext in EXTENSIONS:
        return EXTENSIONS[ext]
    known = ", ".join(sorted(EXTENSIONS))
    if not ext:
        raise ImageError(f"{path}: no file extension to choose the image format (known: {known})")
    raise ImageError(f"{path}: unknown image extension {ext!r} (known: {known})")


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Return whether `a` and `b` name the same existing file.

    ``"-"`` and missing files are never the same file as anything, so an
    output that does not exist yet is never mistaken for an input.

    Examples
    --------
    >>> same_file("-", "-")
    False
    """
    if os.fspath(a) == "-" or os.fspath(b) == "-":
        return False
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def _prepare(
    pixels: np.ndarray, alpha: np.ndarray | None, fmt: str, name: str, notes: list[str]
) -> tuple[np.ndarray, np.ndarray | None]:
    """Validate the arrays and fit them to what `fmt` can hold."""
    pixels, alpha = _split_image(pixels, alpha, name)
    if fmt == "NPY":
        if pixels.dtype.kind not in "buif":
            raise ImageError(f"{name}: dtype {pixels.dtype} cannot be written as an image")
        return pixels, alpha
    dtype = pixels.dtype
    if dtype.kind == "f":
        return _float_for(pixels, alpha, fmt, name, notes), None
    if dtype not in (np.uint8, np.uint16):
        raise ImageError(
            f"{name}: {dtype} pixels cannot be written as {fmt}; "
            "map them to uint8 or uint16 first (or write .npy)"
        )
    if alpha is not None and fmt in _NO_ALPHA:
        notes.append(f"{name}: {fmt} has no alpha channel: alpha dropped")
        alpha = None
    if dtype == np.uint16:
        why = None
        if fmt in _EIGHT_BIT_ONLY:
            why = f"{fmt} holds 8 bits per channel"
        elif pixels.ndim == 3 or alpha is not None:
            why = "Pillow writes 16 bits for grayscale without alpha only"
        if why:
            notes.append(f"{name}: {why}: 16-bit values scaled to 8 bits")
            # the nearest value: round(v * 255 / 65535) = round(v / 257)
            pixels = to_pixels(pixels, 65535.0, np.uint8)
            alpha = None if alpha is None else to_pixels(alpha, 65535.0, np.uint8)
    return pixels, alpha


def _split_image(
    pixels: np.ndarray, alpha: np.ndarray | None, name: str
) -> tuple[np.ndarray, np.ndarray | None]:
    """(colour, alpha) of an image given whole or apart; an ImageError for other shapes."""
    pixels = np.asarray(pixels)
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[..., 0]
    if pixels.ndim == 3 and pixels.shape[2] in (2, 4) and alpha is None:
        alpha = pixels[..., -1]
        pixels = pixels[..., :-1]
        if pixels.shape[2] == 1:
            pixels = pixels[..., 0]
    if not (pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] == 3)):
        raise ImageError(
            f"{name}: pixels of shape {pixels.shape} are not an image "
            "(expected (H, W) or (H, W, 3), alpha apart)"
        )
    if alpha is not None:
        alpha = np.asarray(alpha)
        if alpha.shape != pixels.shape[:2]:
            raise ImageError(
                f"{name}: alpha of shape {alpha.shape} does not match pixels {pixels.shape[:2]}"
            )
        if alpha.dtype != pixels.dtype:
            raise ImageError(
                f"{name}: alpha dtype {alpha.dtype} differs from pixels dtype {pixels.dtype}"
            )
    return pixels, alpha


def _float_for(
    pixels: np.ndarray, alpha: np.ndarray | None, fmt: str, name: str, notes: list[str]
) -> np.ndarray:
    """Float pixels as `fmt` holds them: float32 grayscale TIFF, or an ImageError."""
    dtype = pixels.dtype
    if fmt != "TIFF":
        raise ImageError(
            f"{name}: {dtype} pixels can only be written to .npy or .tif "
            "(map them to uint8 or uint16 first)"
        )
    if pixels.ndim == 3 or alpha is not None:
        raise ImageError(
            f"{name}: TIFF holds float data for one grayscale channel only; write .npy instead"
        )
    if dtype != np.float32:
        notes.append(f"{name}: {dtype} pixels written as float32 (TIFF float)")
    return pixels.astype(np.float32)


#: Bytes of one step of :func:`_write_npy` (its only copy of the data).
NPY_CHUNK = 1 << 22


def _write_npy(fh: BinaryIO, pixels: np.ndarray, alpha: np.ndarray | None) -> None:
    """``pixels`` (and ``alpha``) as a channels-first .npy, a few MB of rows at a time.

    .npy holds tensors, channels first: (H, W) or (C, H, W), alpha the last
    plane. The planes are written one band of rows at a time, so the file is
    never built in memory (an 88-MP RGB float32 result would be another GB).
    """
    planes = [pixels] if pixels.ndim == 2 else [pixels[..., c] for c in range(pixels.shape[2])]
    if alpha is not None:
        planes.append(alpha)
    height, width = pixels.shape[:2]
    shape = (height, width) if len(planes) == 1 else (len(planes), height, width)
    dtype = np.dtype(pixels.dtype).newbyteorder("=")
    from ..kernels.npy import write_npy_header  # .npy only

    write_npy_header(fh, shape, dtype)
    rows = max(1, NPY_CHUNK // max(width * dtype.itemsize, 1))
    for plane in planes:
        for r0 in range(0, height, rows):
            fh.write(np.ascontiguousarray(plane[r0 : r0 + rows], dtype=dtype).data)


def _encode(
    fh: BinaryIO,
    pixels: np.ndarray,
    alpha: np.ndarray | None,
    fmt: str,
    png_compression: int,
    jpeg_quality: int,
    threads: int | None = None,
) -> None:
    """Write prepared arrays to an open binary file in `fmt` (`threads` for PNG and JPEG)."""
    if fmt == "NPY":
        _write_npy(fh, pixels, alpha)
        return
    data = pixels if alpha is None else np.dstack([pixels, alpha])
    if fmt == "PNG" and can_write_png(data):
        # numpy filters and threaded zlib: several times faster than Pillow
        write_png(fh, data, level=png_compression, threads=threads)
        return
    if fmt == "JPEG":
        from .jpegstrips import can_write_strips, write_jpeg_strips

        if can_write_strips(data, threads):  # strips on `threads` cores, same pixels
            write_jpeg_strips(fh, data, quality=jpeg_quality, threads=threads)
            return
    im = PIL.Image.fromarray(np.ascontiguousarray(data))
    options: dict[str, object] = {}
    if fmt == "PNG":
        options["compress_level"] = png_compression
    elif fmt == "JPEG":
        options["quality"] = jpeg_quality
    elif fmt == "WEBP":
        if im.mode == "LA":
            im = im.convert("RGBA")
        elif im.mode == "L":
            im = im.convert("RGB")
        options.update(lossless=True, exact=True)
    elif fmt == "GIF" and im.mode == "LA":
        im = im.convert("RGBA")
    im.save(fh, format=fmt, **options)


def write_image(
    target: str | os.PathLike | BinaryIO,
    pixels: np.ndarray,
    alpha: np.ndarray | None = None,
    *,
    format: str | None = None,
    overwrite: bool = False,
    png_compression: int = 1,
    jpeg_quality: int = 90,
    threads: int | None = None,
) -> list[str]:
    """Write pixels to a file, standard output or a stream, atomically.

    Parameters
    ----------
    target : str, os.PathLike or binary file object
        The output path, ``"-"`` for standard output, or an open binary stream.
    pixels : numpy.ndarray
        ``(H, W)`` or ``(H, W, 3)`` in uint8 or uint16, already mapped to the
        pixel range by the caller; float32/float64 only for ``.npy`` and
        (grayscale) ``.tif``. ``(H, W, 2)`` / ``(H, W, 4)`` with `alpha`
        None carry alpha as their last channel. ``.npy`` is written channels
        first, ``(H, W)`` or ``(C, H, W)`` with alpha the last plane.
    alpha : numpy.ndarray or None
        ``(H, W)`` alpha channel with the dtype of `pixels`.
    format : str or None
        Format name (see :func:`output_format`); else the file extension,
        and PNG for ``"-"`` and streams.
    overwrite : bool
        Replace an existing file. Without it an existing target is an error.
    png_compression : int
        0-9 for PNG: 0 stores, 1 (the default) is fast, 2-9 try harder (see
        :mod:`convcli.images.png`, which writes every PNG convcli produces).
    jpeg_quality : int
        JPEG quality 1-100. WebP is always written lossless.
    threads : int or None
        Threads of the PNG writer and of a large JPEG's strips
        (:mod:`convcli.images.jpegstrips`); None for ``CONVCLI_THREADS`` or
        the usable cores.

    Returns
    -------
    list of str
        Notes on what the format could not hold ("JPEG has no alpha channel:
        alpha dropped"); empty when the data was written as given.

    Raises
    ------
    ImageError
        Unknown format, pixels the format cannot take, an existing target
        without `overwrite`, a missing or unwritable directory, standard
        output that is a terminal, or an encoder failure. No partial file is
        left behind in any case, and an existing target stays intact.

    Notes
    -----
    A file is written to a temporary file in the target's directory and
    renamed into place; on any exception, ``KeyboardInterrupt`` included, the
    temporary file is removed. For ``"-"`` and streams the whole encoded image
    is built in memory first, so a failure writes nothing.

    Examples
    --------
    >>> import io
    >>> import numpy as np
    >>> buf = io.BytesIO()
    >>> write_image(buf, np.full((2, 2), 7, dtype=np.uint8), format="npy")
    []
    >>> _ = buf.seek(0)
    >>> from convcli.images.reading import read_image
    >>> read_image(buf).pixels.tolist()
    [[7, 7], [7, 7]]
    """
    if not 0 <= png_compression <= 9:
        raise ImageError(f"png_compression must be 0..9, got {png_compression}")
    if not 1 <= jpeg_quality <= 100:
        raise ImageError(f"jpeg_quality must be 1..100, got {jpeg_quality}")
    path: str | None = None
    if isinstance(target, (str, os.PathLike)):
        path = os.fspath(target)
    if path == "-":
        name = "<stdout>"
    elif path is not None:
        name = path
    else:
        name = str(getattr(target, "name", "<stream>"))
    fmt = output_format(path if path is not None else "-", format)
    notes: list[str] = []
    pixels, alpha = _prepare(pixels, alpha, fmt, name, notes)
    height, width = pixels.shape[:2]
    check_format_side(fmt, height, width, name)  # before any encoder sees it

    if path is None or path == "-":
        if path == "-":
            refuse_terminal_stdout("image data", ImageError)
        buffer = io.BytesIO()
        _encode_or_fail(buffer, pixels, alpha, fmt, name, png_compression, jpeg_quality, threads)
        if path == "-":
            write_stdout(buffer.getbuffer())
        else:
            assert not isinstance(target, (str, os.PathLike))  # path is None: a stream
            write_stdout(buffer.getbuffer(), target)
        return notes

    def encode(fh: BinaryIO) -> None:
        _encode_or_fail(fh, pixels, alpha, fmt, path, png_compression, jpeg_quality, threads)

    if is_url(path):  # a temporary key, then moved (see convcli.images.urls)
        write_url(path, encode, overwrite=overwrite)
    else:  # a temporary file beside it, renamed into place when complete
        atomic_write(path, encode, overwrite=overwrite, error=ImageError)
    return notes


def _encode_or_fail(
    fh: BinaryIO,
    pixels: np.ndarray,
    alpha: np.ndarray | None,
    fmt: str,
    name: str,
    png_compression: int,
    jpeg_quality: int,
    threads: int | None = None,
) -> None:
    """Encode as :func:`_encode` does; an encoder's failure becomes an ImageError naming `name`."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _encode(fh, pixels, alpha, fmt, png_compression, jpeg_quality, threads)
    except (ValueError, TypeError, KeyError) as exc:
        raise ImageError(f"{name}: could not encode {fmt}: {exc}") from exc
    except OSError as exc:
        raise ImageError(f"{name}: could not write {fmt}: {exc.strerror or exc}") from exc
