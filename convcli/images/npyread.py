"""Read a ``.npy`` tensor as an :class:`~convcli.images.image.Image`.

``.npy`` files are tensors, channels first, as every convcli command reads
and writes them: ``(H, W)`` or ``(C, H, W)`` (C from 1 to 4, the last plane
alpha when C is 2 or 4). In memory an :class:`Image` is ``(H, W, C)``; the
axes are moved here, at the file boundary only. The header is checked (shape,
dtype, pixel count) before any data is read.
"""

from __future__ import annotations

from typing import BinaryIO

import numpy as np

from ..errors import ImageError
from .image import Image, check_finite_pixels, check_pixel_count, max_value_for

__all__ = ["read_npy"]


def read_npy(stream: BinaryIO, name: str, max_pixels: int | None) -> Image:
    """Read the ``.npy`` data of `stream` (at its start) as an image.

    Booleans become 0/255, integers other than uint8/uint16 float64 and
    float16 float32, each with a note.

    Raises
    ------
    ImageError
        A corrupt header or data, a shape that is not an image, a dtype that
        is not a number, no pixels, NaN or infinite values, too many pixels.
    """
    notes: list[str] = []
    dtype = _check_header(stream, name, max_pixels)
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
    pixels, alpha = _split_planes(arr)
    check_finite_pixels(pixels, name)
    if alpha is not None:
        check_finite_pixels(alpha, name, "alpha ")
    return Image(
        pixels=pixels,
        alpha=alpha,
        max_value=max_value_for(pixels),
        mode="npy",
        format="NPY",
        source=name,
        notes=notes,
    )


def _check_header(stream: BinaryIO, name: str, max_pixels: int | None) -> np.dtype:
    """Read and check the header of `stream`; return the array's dtype."""
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
    check_pixel_count(name, shape[-1], shape[-2], max_pixels)
    return np.dtype(dtype)


def _split_planes(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(colour ``(H, W)`` or ``(H, W, 3)``, alpha or None) of a channels-first array."""
    alpha = None
    if arr.ndim == 3:
        arr = np.moveaxis(arr, 0, -1)  # the file's (C, H, W) to the image's (H, W, C)
        channels = arr.shape[2]
        if channels in (2, 4):
            alpha = np.ascontiguousarray(arr[..., -1])
            arr = arr[..., :-1]
        if arr.shape[2] == 1:
            arr = arr[..., 0]
    return np.ascontiguousarray(arr), alpha
