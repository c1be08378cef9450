"""The Pillow boundary: read images into numpy arrays and write them back safely.

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

import contextlib
import io
import os
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
import PIL.Image

from ..arithmetic.limits import check_allocation, check_format_side
from ..errors import ImageError, PixelLimitError
from ..guard import note_input
from ..suffixes import IMAGE_FORMATS, IMAGE_WRITE_SUFFIXES
from .atomic import atomic_write, read_stdin, stdout_is_terminal, write_stdout
from .decoders import open_pillow
from .pixels import to_pixels
from .png import can_write as can_write_png
from .png import write_png
from .urls import is_url, open_url, write_url

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "EXTENSIONS",
    "FORMATS",
    "Image",
    "output_format",
    "read_image",
    "same_file",
    "stdout_is_terminal",
    "write_image",
]

#: Pillow's own decompression-bomb limit, read when convcli.images.io is imported:
#: the most pixels an image read whole may have (a tiled TIFF or .zarr above it
#: streams instead).
#: Raised by: `--max-pixels`; in Python, `read_image(max_pixels=)` (None: no limit
#: but the machine's memory)
DEFAULT_MAX_PIXELS: int | None = PIL.Image.MAX_IMAGE_PIXELS

#: Output formats convcli writes, by the name ``format=`` accepts (lower case);
#: :data:`convcli.suffixes.IMAGE_FORMATS`.
FORMATS: dict[str, str] = IMAGE_FORMATS

#: File extensions (lower case, with the dot) and the format they select;
#: :data:`convcli.suffixes.IMAGE_WRITE_SUFFIXES`.
EXTENSIONS: dict[str, str] = IMAGE_WRITE_SUFFIXES

Source = str | os.PathLike | BinaryIO

# Formats that hold 8 bits per channel only, and formats without alpha.
_EIGHT_BIT_ONLY = {"JPEG", "BMP", "GIF", "WEBP"}
_NO_ALPHA = {"JPEG", "BMP", "PPM"}

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


@dataclass
class Image:
    """An image read by :func:`read_image`: pixels, alpha and where they came from.

    Attributes
    ----------
    pixels : numpy.ndarray
        Colour channels only: ``(H, W)`` for grayscale or ``(H, W, 3)`` for
        RGB, in the file's native dtype: uint8, uint16 (16-bit grayscale
        PNG/TIFF/PGM), float32 (float TIFF) or whatever float dtype a ``.npy``
        holds.
    alpha : numpy.ndarray or None
        The alpha channel, ``(H, W)`` with the dtype of `pixels`, or None.
    max_value : float
        The value of full white: 255 for uint8, 65535 for uint16; for float
        data the smallest of 1, 255 and 65535 that is at least the largest
        finite value (the largest value itself above 65535, and 1 when
        there is no finite value).
    mode : str
        The Pillow mode of the file (``"P"``, ``"I;16"``, ...) or ``"npy"``.
    format : str
        The file format as Pillow names it (``"PNG"``, ``"JPEG"``, ...) or ``"NPY"``.
    source : str
        The path as given, ``"<stdin>"``, or the name of the stream.
    notes : list of str
        One line per thing the reader did that a person may want to know:
        ``"rocket.gif: GIF with 10 frames: used the first"``.
    """

    pixels: np.ndarray
    alpha: np.ndarray | None = None
    max_value: float = 255.0
    mode: str = ""
    format: str = ""
    source: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def is_gray(self) -> bool:
        """True for a single colour channel (alpha not counted)."""
        return self.pixels.ndim == 2

    @property
    def has_alpha(self) -> bool:
        """True when the image has an alpha channel."""
        return self.alpha is not None

    @property
    def bit_depth(self) -> int:
        """Bits per channel: 8, 16, 32 or 64."""
        return self.pixels.dtype.itemsize * 8

    @property
    def height(self) -> int:
        """Number of rows."""
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        """Number of columns."""
        return int(self.pixels.shape[1])


# --------------------------------------------------------------------- reading


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
            return _read_npy(stream, name, max_pixels)
        try:
            return _read_pillow(stream, name, max_pixels, head, disable_limit=False)
        except PIL.Image.DecompressionBombError:
            # Above twice Pillow's limit, Pillow refuses on its own; our own
            # check (against max_pixels) still runs before any decoding.
            stream.seek(0)
            return _read_pillow(stream, name, max_pixels, head, disable_limit=True)
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


#: Bytes per pixel a decode may hold at once, at most: Pillow's 4-byte pixel
#: (or a 4-channel float32 .npy) and the array made of it.
_DECODE_BYTES_PER_PIXEL = 2 * 16


def _check_pixels(name: str, width: int, height: int, max_pixels: int | None) -> None:
    pixels = int(width) * int(height)
    if max_pixels is not None and pixels > max_pixels:
        raise PixelLimitError(
            f"{name}: {pixels} pixels is above the limit of {max_pixels} "
            "(raise it with --max-pixels; for an image larger than memory, convert it to a "
            "tiled TIFF or a .zarr, which convcli filter reads in tiles)"
        )
    # with no limit (max_pixels=None) a bomb still must not reach the decoder
    check_allocation(
        pixels * _DECODE_BYTES_PER_PIXEL,
        f"{name}: {int(width)}×{int(height)} = {pixels} pixels",
        "for an image larger than memory, convert it to a tiled TIFF or a .zarr",
    )


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


def _read_pillow(
    stream: BinaryIO, name: str, max_pixels: int | None, head: bytes, *, disable_limit: bool
) -> Image:
    notes: list[str] = []
    with _pillow_limit_disabled(disable_limit), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", PIL.Image.DecompressionBombWarning)
        try:
            im: PIL.Image.Image = open_pillow(stream, head)
        except PIL.Image.DecompressionBombError:
            raise
        except PIL.UnidentifiedImageError:
            if head.startswith(_SIGNATURES):
                raise ImageError(f"{name}: truncated or corrupt image data") from None
            raise ImageError(f"{name}: not an image Pillow can read") from None
        except _DECODE_ERRORS:
            raise ImageError(f"{name}: truncated or corrupt image data") from None
        with im:
            _check_pixels(name, im.width, im.height, max_pixels)
            fmt = im.format or "?"
            frames = getattr(im, "n_frames", 1)
            if frames > 1:
                notes.append(f"{name}: {fmt} with {frames} frames: used the first")
            if im.mode in ("RGB", "RGBA", "LA") and any(
                _rawmode(tile).endswith((";16B", ";16L", ";16N", ";16"))
                for tile in getattr(im, "tile", ())
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
            mode = im.mode
            pixels, alpha = _pillow_to_arrays(im, name, fmt, notes)
    for warning in caught:
        if not issubclass(warning.category, PIL.Image.DecompressionBombWarning):
            notes.append(f"{name}: {warning.message}")
    check_finite_pixels(pixels, name)  # a float TIFF (mode F) can hold NaN
    return Image(
        pixels=pixels,
        alpha=alpha,
        max_value=_max_value(pixels),
        mode=mode,
        format=fmt,
        source=name,
        notes=notes,
    )


def _rawmode(tile: object) -> str:
    """The raw mode a Pillow tile decodes from ("RGB;16B"), or "" if it does not say."""
    args = getattr(tile, "args", None)
    if isinstance(args, tuple) and args:
        args = args[0]
    return args if isinstance(args, str) else ""


def _all_gray(rgb: np.ndarray) -> bool:
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
        if mode in ("P", "PA"):
            palette_mode = getattr(im.palette, "mode", "RGB")
            transparent = mode == "PA" or "transparency" in im.info or palette_mode == "RGBA"
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
    if mode == "RGBX":
        return np.ascontiguousarray(np.asarray(im)[..., :3]), None
    if mode.startswith("I;16"):
        if mode == "I;16S":
            return _int_to_array(np.asarray(im).astype(np.int32), name, notes), None
        return np.asarray(im).astype(np.uint16), None
    if mode == "I":
        return _int_to_array(np.asarray(im), name, notes), None
    if mode == "F":
        return np.asarray(im).astype(np.float32), None
    try:
        converted = im.convert("RGB")
    except (ValueError, OSError):
        raise ImageError(f"{name}: Pillow mode {mode!r} cannot be converted to RGB") from None
    notes.append(f"{name}: {mode} image converted to RGB")
    return np.asarray(converted), None


def _int_to_array(arr: np.ndarray, name: str, notes: list[str]) -> np.ndarray:
    """32-bit integer pixels: uint16 when they fit 0..65535, else float64."""
    if arr.size == 0 or (arr.min() >= 0 and arr.max() <= 65535):
        return arr.astype(np.uint16)
    notes.append(
        f"{name}: 32-bit integer values outside 0..65535 kept as float64 (values unchanged)"
    )
    return arr.astype(np.float64)


def check_finite_pixels(pixels: np.ndarray, name: str, what: str = "") -> None:
    """Refuse NaN and infinite pixel values up front, naming the file and the first one.

    Filtering would spread them over their neighbourhoods and the conversion
    to integers would turn them into arbitrary values (with a numpy
    RuntimeWarning), so an image file holding them is an error.

    Examples
    --------
    >>> try:
    ...     check_finite_pixels(np.array([[0.0, np.nan]]), "x.npy")
    ... except ImageError as exc:
    ...     print(str(exc).split(";")[0])
    x.npy: pixel at row 1, column 2 is nan
    """
    if pixels.dtype.kind != "f":
        return
    bad = np.argwhere(~np.isfinite(pixels))
    if bad.size:
        where = bad[0]
        place = f"row {where[0] + 1}, column {where[1] + 1}"
        if pixels.ndim == 3:
            place += f", channel {where[2] + 1}"
        raise ImageError(
            f"{name}: {what}pixel at {place} is {pixels[tuple(where)]}; pixel values must be "
            "finite (numpy.nan_to_num replaces them)"
        )


def _max_value(pixels: np.ndarray) -> float:
    """Full white for a dtype: 255, 65535, or the float rule of :class:`Image`."""
    if pixels.dtype == np.uint8:
        return 255.0
    if pixels.dtype == np.uint16:
        return 65535.0
    finite = pixels[np.isfinite(pixels)]
    if finite.size == 0:
        return 1.0
    top = float(finite.max())
    for limit in (1.0, 255.0, 65535.0):
        if top <= limit:
            return limit
    return top


def _read_npy(stream: BinaryIO, name: str, max_pixels: int | None) -> Image:
    notes: list[str] = []
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
    except (ValueError, OSError, EOFError):
        raise ImageError(f"{name}: truncated or corrupt .npy data") from None
    if len(shape) not in (2, 3) or (len(shape) == 3 and not 1 <= shape[0] <= 4):
        raise ImageError(
            f"{name}: array of shape {tuple(shape)} is not an image (.npy arrays are "
            "channels first: (H, W) or (C, H, W) with C from 1 to 4; "
            "np.moveaxis(a, -1, 0) turns an (H, W, C) array into one)"
        )
    if dtype.kind not in "buif":
        raise ImageError(f"{name}: dtype {dtype} is not an image type (use integers or floats)")
    if 0 in shape:
        raise ImageError(f"{name}: array of shape {tuple(shape)} holds no pixels")
    _check_pixels(name, shape[-1], shape[-2], max_pixels)
    stream.seek(0)
    try:
        arr = np.load(stream, allow_pickle=False)
    except (ValueError, OSError, EOFError):
        raise ImageError(f"{name}: truncated or corrupt .npy data") from None
    if dtype.kind == "b":
        arr = arr.astype(np.uint8) * np.uint8(255)
        notes.append(f"{name}: boolean array read as 0/255")
    elif dtype.kind in "iu" and dtype not in (np.uint8, np.uint16):
        arr = arr.astype(np.float64)
        notes.append(f"{name}: {dtype} array read as float64 (values unchanged)")
    elif dtype == np.float16:
        arr = arr.astype(np.float32)
    arr = arr.astype(arr.dtype.newbyteorder("="), copy=False)
    alpha = None
    if arr.ndim == 3:
        arr = np.moveaxis(arr, 0, -1)  # the file's (C, H, W) to the image's (H, W, C)
        channels = arr.shape[2]
        if channels in (2, 4):
            alpha = np.ascontiguousarray(arr[..., -1])
            arr = arr[..., :-1]
        if arr.shape[2] == 1:
            arr = arr[..., 0]
    pixels = np.ascontiguousarray(arr)
    check_finite_pixels(pixels, name)
    if alpha is not None:
        check_finite_pixels(alpha, name, "alpha ")
    return Image(
        pixels=pixels,
        alpha=alpha,
        max_value=_max_value(pixels),
        mode="npy",
        format="NPY",
        source=name,
        notes=notes,
    )


# --------------------------------------------------------------------- writing


def output_format(path_or_dash: str | os.PathLike, format: str | None = None) -> str:
    """The format an output will be written in: ``"PNG"``, ``"JPEG"``, ..., ``"NPY"``.

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
    """True when `a` and `b` name the same existing file.

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
    if fmt == "NPY":
        if pixels.dtype.kind not in "buif":
            raise ImageError(f"{name}: dtype {pixels.dtype} cannot be written as an image")
        return pixels, alpha
    dtype = pixels.dtype
    if dtype.kind == "f":
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
        return pixels.astype(np.float32), None
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
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(fh, header)
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
        if path == "-" and stdout_is_terminal():
            raise ImageError(
                "refusing to write image data to a terminal; redirect stdout or use -o FILE"
            )
        buffer = io.BytesIO()
        _encode_or_fail(buffer, pixels, alpha, fmt, name, png_compression, jpeg_quality, threads)
        if path == "-":
            write_stdout(buffer.getbuffer())
        else:
            assert not isinstance(target, (str, os.PathLike))  # path is None: a stream
            write_stdout(buffer.getbuffer(), target)
        return notes

    if is_url(path):  # a temporary key, then moved (see convcli.images.urls)
        write_url(
            path,
            lambda fh: _encode_or_fail(
                fh, pixels, alpha, fmt, path, png_compression, jpeg_quality, threads
            ),
            overwrite=overwrite,
        )
        return notes
    _write_atomic(path, overwrite, pixels, alpha, fmt, png_compression, jpeg_quality, threads)
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
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _encode(fh, pixels, alpha, fmt, png_compression, jpeg_quality, threads)
    except (ValueError, TypeError, KeyError) as exc:
        raise ImageError(f"{name}: could not encode {fmt}: {exc}") from exc
    except OSError as exc:
        raise ImageError(f"{name}: could not write {fmt}: {exc.strerror or exc}") from exc


def _write_atomic(
    path: str,
    overwrite: bool,
    pixels: np.ndarray,
    alpha: np.ndarray | None,
    fmt: str,
    png_compression: int,
    jpeg_quality: int,
    threads: int | None = None,
) -> None:
    atomic_write(
        path,
        lambda fh: _encode_or_fail(
            fh, pixels, alpha, fmt, path, png_compression, jpeg_quality, threads
        ),
        overwrite=overwrite,
        error=ImageError,
    )
