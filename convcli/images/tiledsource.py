"""Large images opened without reading their pixels: tiled TIFF / BigTIFF / OME-TIFF and zarr.

:func:`open_tiled` gives a :class:`TiledSource` (what is known from the
header) and an array whose slices read only the tiles (chunks) they touch.
tifffile and zarr come with the ``cluster`` extra and are imported only
inside the functions here.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ImageError, install_hint

__all__ = [
    "INSTALL_HINT",
    "TiledSource",
    "is_zarr_path",
    "open_tiled",
    "open_zarr_blocks",
    "probe_tiff",
    "require",
]

#: What a person without tifffile/zarr is told to run.
INSTALL_HINT = install_hint("cluster")


def require(module: str) -> Any:
    """Import `module` (tifffile, zarr), or say how to install it.

    Raises
    ------
    ImageError
        The module is not installed.
    """
    try:
        return __import__(module)
    except ImportError:
        raise ImageError(
            f"images read in tiles need {module}, which is not installed: {INSTALL_HINT}"
        ) from None


def is_zarr_path(path: str | os.PathLike) -> bool:
    """Return whether ``path`` names a zarr array (by its ``.zarr`` suffix).

    Examples
    --------
    >>> is_zarr_path("scan.zarr"), is_zarr_path("scan.zarr/"), is_zarr_path("scan.tif")
    (True, True, False)
    """
    return os.fspath(path).rstrip("/\\").lower().endswith(".zarr")


@dataclass(frozen=True)
class TiledSource:
    """What is known of a large input without reading its pixels.

    Attributes
    ----------
    path : str
    kind : {"tiff", "zarr"}
    shape : tuple of int
        ``(H, W)`` or ``(H, W, C)``.
    dtype : numpy.dtype
    tile : (int, int) or None
        The file's tile (TIFF) or chunk (zarr) rows and columns; None for a
        strip TIFF.
    alpha : bool
        The last channel is alpha (a TIFF with 2 or 4 samples, one extra).
    strip_rows : int or None
        Rows per strip of a strip TIFF (a strip is the least it reads).
    """

    path: str
    kind: str
    shape: tuple[int, ...]
    dtype: np.dtype
    tile: tuple[int, int] | None
    alpha: bool = False
    strip_rows: int | None = None

    @property
    def pixels(self) -> int:
        """Rows times columns."""
        return int(self.shape[0]) * int(self.shape[1])


def probe_tiff(path: str) -> TiledSource | None:
    """Return the first series of a TIFF file, or None when tifffile cannot read it.

    Only the header is read. A planar ``(C, H, W)`` series with C > 1 and
    anything beyond ``(H, W)`` / ``(H, W, S)`` after dropping length-1 axes
    give None (the whole-image reader then handles the file).
    """
    try:
        import tifffile
    except ImportError:
        return None
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            page = series.pages[0] if series.pages else tif.pages[0]
            axes = series.axes
            shape = series.shape
            dtype = np.dtype(series.dtype)
            tiled = bool(getattr(page, "is_tiled", False))
            tile = (int(page.tilelength), int(page.tilewidth)) if tiled else None
            strip_rows = None if tiled else int(getattr(page, "rowsperstrip", 0) or 0) or None
            extra = len(getattr(page, "extrasamples", ()) or ())
    except Exception:  # not a TIFF tifffile understands: the whole-image reader decides
        return None
    kept = [(a, n) for a, n in zip(axes, shape, strict=True) if n != 1 or a in "YX"]
    axes2 = "".join(a for a, _ in kept)
    if axes2 not in ("YX", "YXS"):
        return None
    shape2 = tuple(n for _, n in kept)
    alpha = len(shape2) == 3 and shape2[2] in (2, 4) and extra == 1
    if strip_rows is not None:
        strip_rows = min(strip_rows, shape2[0])
    return TiledSource(path, "tiff", shape2, dtype, tile, alpha, strip_rows)


def open_zarr_blocks(path: str, mode: str, **kwargs: Any) -> Any:
    """Open the zarr array at ``path`` so that it stores every chunk.

    An all-zero chunk is stored too, so that the chunks on disk can be
    counted (``--skip-existing`` and the cluster's check).
    """
    import zarr

    if int(zarr.__version__.split(".")[0]) >= 3:
        return zarr.open_array(path, mode=mode, config={"write_empty_chunks": True}, **kwargs)
    return zarr.open_array(path, mode=mode, write_empty_chunks=True, **kwargs)  # pragma: no cover


def _open_zarr_array(path: str, mode: str = "r") -> Any:
    """Open the zarr array at `path`, or raise an ImageError that says why not."""
    zarr = require("zarr")
    try:
        return zarr.open_array(path, mode=mode)
    except Exception as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ImageError(f"{path}: not a zarr array ({text})") from None


@contextlib.contextmanager
def open_tiled(path: str) -> Iterator[tuple[TiledSource, Any]]:
    """Open a tiled TIFF or a zarr array: ``(source, array)``, where slicing ``array`` reads.

    The array reads only the tiles (chunks) a slice touches. For a TIFF it
    is tifffile's zarr view of the first series; length-1 axes are dropped
    (so slices are ``[rows, cols]`` or ``[rows, cols, :]``).

    Raises
    ------
    ImageError
        Missing file, or not a readable tiled TIFF / zarr array.
    """
    if not os.path.exists(path):
        raise ImageError(f"{path}: no such file")
    if is_zarr_path(path):
        arr = _open_zarr_array(path)
        if arr.ndim not in (2, 3):
            raise ImageError(f"{path}: a zarr image must be (H, W) or (H, W, C), got {arr.shape}")
        chunks = tuple(int(c) for c in arr.chunks[:2])
        src = TiledSource(path, "zarr", tuple(arr.shape), np.dtype(arr.dtype), chunks)  # type: ignore[arg-type]
        yield src, arr
        return
    require("tifffile")
    zarr = require("zarr")
    import tifffile

    src0 = probe_tiff(path)
    if src0 is None:
        raise ImageError(f"{path}: not a TIFF of shape (H, W) or (H, W, channels)")
    with tifffile.TiffFile(path) as tif:
        store = tif.series[0].aszarr()
        try:
            arr = zarr.open_array(store, mode="r")
            keep = tuple(
                slice(None) if n != 1 or i >= arr.ndim - 2 else 0 for i, n in enumerate(arr.shape)
            )
            yield src0, _Squeezed(arr, keep, len(src0.shape))
        finally:
            store.close()


class _Squeezed:
    """A view of a zarr array with its leading length-1 axes taken away."""

    def __init__(self, arr: Any, lead: tuple, ndim: int) -> None:
        """View `arr` as `ndim` axes, indexing the leading ones with `lead`."""
        self.arr, self.ndim = arr, ndim
        self.lead = lead[: arr.ndim - ndim] if arr.ndim > ndim else ()

    def __getitem__(self, key: tuple) -> np.ndarray:
        """Read the rectangle `key` of the trailing axes."""
        return np.asarray(self.arr[self.lead + tuple(key)])
