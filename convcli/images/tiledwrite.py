"""Results made block by block, written as they come to a tiled BigTIFF or a ``.zarr``.

:func:`assemble_bands` joins output blocks into bands of rows;
:func:`write_bands` writes the bands, atomically (a temporary file or folder
beside the target, renamed when complete), so peak memory follows the band,
not the image. tifffile and zarr are imported only inside the functions here.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from ..engine.tiling import boxes
from ..errors import ImageError
from .tiledsource import is_zarr_path, open_zarr_blocks, require

__all__ = [
    "OUTPUT_TILE",
    "WRITE_BUFFER_BYTES",
    "assemble_bands",
    "check_stream_target",
    "write_bands",
    "zarr_target",
]

#: Output tiles of a written BigTIFF and chunks of a written zarr (rows, columns).
OUTPUT_TILE = 256
#: Bytes of tiles tifffile compresses in one pass (its threads hold them, and their output).
WRITE_BUFFER_BYTES = 16 * 2**20


def assemble_bands(
    out_shape: tuple[int, ...],
    dtype: np.dtype,
    boxes: Iterator[tuple[int, int, int, int]],
    block: Callable[[int, int, int, int], np.ndarray],
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(first row, band)`` of an output made block by block, for the writers here.

    ``boxes`` are output rectangles ``(r0, r1, c0, c1)`` in row-major order
    of bands (as :meth:`StreamPlan.blocks`); ``block`` computes one.
    """
    band: np.ndarray | None = None
    band_r0 = 0
    for r0, r1, c0, c1 in boxes:
        if band is None or r0 != band_r0:
            if band is not None:
                yield band_r0, band
            band_r0 = r0
            band = np.empty((r1 - r0, *out_shape[1:]), dtype)
        band[:, c0:c1] = block(r0, r1, c0, c1).reshape((r1 - r0, c1 - c0, *out_shape[2:]))
    if band is not None:
        yield band_r0, band


def check_stream_target(source: str, target: str, overwrite: bool) -> None:
    """Refuse an existing ``target`` without ``overwrite``, and the input as the target.

    Raises
    ------
    ImageError
    """
    if os.path.lexists(target) and not overwrite:
        raise ImageError(f"{target} exists; pass --overwrite to replace it")
    if os.path.abspath(source).rstrip("/") == os.path.abspath(target).rstrip("/"):
        raise ImageError(f"{target}: is the input; convcli never overwrites an input")


def write_bands(
    target: str,
    out_shape: tuple[int, ...],
    dtype: np.dtype,
    bands: Iterator[tuple[int, np.ndarray]],
    overwrite: bool,
    alpha: bool = False,
) -> None:
    """Write ``(first row, band)`` bands, as they come, to a tiled BigTIFF or a ``.zarr``.

    The format follows ``target``'s suffix; the file is written atomically.
    ``alpha``: the last channel is alpha.
    """
    out = _Output(target, out_shape, dtype, overwrite, alpha)
    (_write_zarr if is_zarr_path(target) else _write_bigtiff)(out, bands)


@dataclass(frozen=True)
class _Output:
    """What :func:`write_bands` writes: the file, the array's shape and type."""

    target: str
    shape: tuple[int, ...]
    dtype: np.dtype
    overwrite: bool
    alpha: bool


def _tiles(
    out_shape: tuple[int, ...], bands: Iterator[tuple[int, np.ndarray]]
) -> Iterator[np.ndarray]:
    """Yield the 256² tiles of the output in TIFF order (row-major), padded right and bottom."""
    t = OUTPUT_TILE
    for _, band in bands:
        for y0, y1, x0, x1 in boxes(band.shape[:2], t, t):
            piece = band[y0:y1, x0:x1]
            if piece.shape[:2] != (t, t):
                full = np.zeros((t, t, *piece.shape[2:]), piece.dtype)
                full[: piece.shape[0], : piece.shape[1]] = piece
                piece = full
            yield piece


def _write_bigtiff(out: _Output, bands: Iterator[tuple[int, np.ndarray]]) -> None:
    """Write the bands as a zlib-compressed tiled BigTIFF, atomically."""
    import tifffile

    from .atomic import atomic_write

    photometric = "rgb" if len(out.shape) == 3 and out.shape[2] in (3, 4) else "minisblack"
    extrasamples = ("unassalpha",) if out.alpha and len(out.shape) == 3 else None

    def write(fh: BinaryIO) -> None:
        handle = tifffile.FileHandle(fh, mode="wb", name=os.path.basename(out.target))
        tifffile.imwrite(
            handle,
            _tiles(out.shape, bands),
            shape=out.shape,
            dtype=out.dtype,
            tile=(OUTPUT_TILE, OUTPUT_TILE),
            bigtiff=True,
            photometric=photometric,
            compression="zlib",
            extrasamples=extrasamples,
            # tifffile's threads take up to 512 MB of tiles at once by default
            buffersize=WRITE_BUFFER_BYTES,
        )

    atomic_write(out.target, write, overwrite=out.overwrite, error=ImageError)


def _write_zarr(out: _Output, bands: Iterator[tuple[int, np.ndarray]]) -> None:
    """Write the bands into a ``.zarr`` of 256² chunks, built beside the target and renamed."""
    require("zarr")  # the install hint, before any work
    chunks = (OUTPUT_TILE, OUTPUT_TILE, *tuple(out.shape[2:]))
    with zarr_target(out.target, out.overwrite) as tmp:
        arr = open_zarr_blocks(tmp, "w", shape=out.shape, chunks=chunks, dtype=out.dtype)
        for r0, band in bands:
            arr[r0 : r0 + band.shape[0]] = band


@contextlib.contextmanager
def zarr_target(target: str, overwrite: bool) -> Iterator[str]:
    """Yield a temporary directory beside ``target``, renamed to it when the block succeeds.

    :func:`convcli.images.atomic.atomic_folder`: an absolute path (workers
    with another working directory write to the same place), the umask's
    modes, and nothing left behind on an error.
    """
    from .atomic import atomic_folder

    with atomic_folder(target, overwrite=overwrite, error=ImageError) as tmp:
        yield tmp
