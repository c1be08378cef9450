"""What an image read whole is: the :class:`Image` record and the checks every reader makes.

:class:`Image` holds colour pixels and alpha apart, in the file's own dtype,
with the value of full white and notes for a person. The checks here are the
ones every reader (:mod:`.pillowread`, :mod:`.npyread`) runs before or after
decoding: the pixel count against the limit (:func:`check_pixel_count`, from
the header, before any pixel is decoded), finite values
(:func:`check_finite_pixels`) and full white (:func:`max_value_for`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..arithmetic.limits import check_allocation
from ..errors import ImageError, PixelLimitError

__all__ = ["Image", "check_finite_pixels", "check_pixel_count", "max_value_for"]


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


#: Bytes per pixel a decode may hold at once, at most: Pillow's 4-byte pixel
#: (or a 4-channel float32 .npy) and the array made of it.
_DECODE_BYTES_PER_PIXEL = 2 * 16


def check_pixel_count(name: str, width: int, height: int, max_pixels: int | None) -> None:
    """Refuse an image of more than `max_pixels` pixels, or one the machine cannot decode.

    Raises
    ------
    PixelLimitError
        More pixels than `max_pixels` (None: no limit but the machine's memory).
    """
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


def max_value_for(pixels: np.ndarray) -> float:
    """Return full white for a dtype: 255, 65535, or the float rule of :class:`Image`.

    Examples
    --------
    >>> max_value_for(np.zeros(2, np.uint16)), max_value_for(np.array([0.5, 300.0]))
    (65535.0, 65535.0)
    """
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
