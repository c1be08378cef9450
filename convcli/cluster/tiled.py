"""One huge image across a Dask cluster: ``map_overlap`` over the file's tiles, written to zarr.

The input is a dask array whose blocks are read by the workers themselves:
each task opens the file by its path and reads its own rectangle (a
tifffile zarr store does not pickle, and no pixel travels through the task
graph). ``map_overlap`` adds the kernel's halo from the neighbouring blocks
(``depth`` = the reach ``d·(k − 1)`` split as the padding is, taken as the
larger side on both), with ``boundary='none'``: at the image's outer edge
the engine's own index maps fill the border in convcli's pad-mode vocabulary,
except ``circular``, whose wrap-around rows dask brings (``'periodic'``).
Each block is then filtered by exactly the code of the one-machine tiled path
(:class:`convcli.images.tiled.BlockPlan`), so the pixels are the same, bit for
bit, and the blocks are written to a zarr array in parallel, under a
temporary name renamed into place at the end.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..errors import ParameterError
from ..images.filtering import FilterSettings
from ..images.tiled import BlockPlan, TiledSource, make_plan, open_tiled, read_window, zarr_target
from ..kernels.kernel import Kernel

__all__ = ["choose_chunk", "filter_on_cluster"]

#: Chunk side aimed at when --chunk is not given (rounded to the file's tile).
DEFAULT_CHUNK = 2048
#: A chunk is at least this many times the halo.
MIN_CHUNK_HALOS = 8


def choose_chunk(tile: tuple[int, int] | None, halo: int, chunk: int | None = None) -> int:
    """The chunk side: ``chunk`` checked, or about :data:`DEFAULT_CHUNK` on the tile grid.

    Raises
    ------
    ParameterError
        ``chunk`` not a multiple of the file's tile, or under 8× the halo.

    Examples
    --------
    >>> choose_chunk((256, 256), 2)
    2048
    >>> choose_chunk((500, 500), 2)
    2000
    """
    step = max(tile) if tile else 256
    if chunk is None:
        chunk = max(step, DEFAULT_CHUNK // step * step)
        while chunk < MIN_CHUNK_HALOS * halo:
            chunk += step
        return chunk
    if tile and (chunk % tile[0] or chunk % tile[1]):
        raise ParameterError(
            f"--chunk {chunk} is not a multiple of the file's {tile[0]}x{tile[1]} tiles"
        )
    if chunk < MIN_CHUNK_HALOS * halo:
        raise ParameterError(
            f"--chunk {chunk} is under {MIN_CHUNK_HALOS}x the kernel's halo of {halo}: "
            f"give at least {MIN_CHUNK_HALOS * halo}"
        )
    return chunk


def _read_block(path: str, block_info: dict | None = None) -> np.ndarray:
    """Runs on a worker: the rectangle of the file this block covers, read by path."""
    assert block_info is not None
    (r0, r1), (c0, c1) = block_info[None]["array-location"][:2]
    with open_tiled(path) as (_, arr):
        return np.ascontiguousarray(arr[r0:r1, c0:c1])


def _filter_block(
    block: np.ndarray,
    plan: BlockPlan,
    shape: tuple[int, int],
    halo: tuple[int, int],
    periodic: bool,
    block_info: dict | None = None,
) -> np.ndarray:
    """Runs on a worker: one overlapped block through the one-machine block code."""
    assert block_info is not None
    (r0, r1), (c0, c1) = block_info[None]["array-location"][:2]
    loc = block_info[None]["chunk-location"]
    maps = []
    for axis, (a, b) in enumerate(((r0, r1), (c0, c1))):
        n = shape[axis]
        before, _ = plan.geometry.padding[axis]
        span = plan.geometry.span[axis]
        ghost = halo[axis] if (periodic or loc[axis] > 0) else 0
        start, stop = a - before, b - 1 + span - before  # padded positions, in image rows
        full = plan.row_map if axis == 0 else plan.col_map
        block_start = a - ghost
        positions = np.arange(start, stop)
        if periodic:
            local = positions - block_start
        else:
            src = full[positions + before]
            inside = (positions >= 0) & (positions < n)
            local = np.where(inside, positions - block_start, src - block_start)
            local = np.where(~inside & (src < 0), -1, local)
        maps.append(local)
    window = read_window(lambda r, c: block[r, c], maps[0], maps[1])
    return plan.filter_window(window)


def filter_on_cluster(
    client: Any,
    source: str,
    target: str,
    kernel: Kernel,
    settings: FilterSettings,
    *,
    value_range: str = "auto",
    chunk: int | None = None,
    overwrite: bool = False,
) -> tuple[TiledSource, int]:
    """Filter a tiled TIFF or zarr image on the cluster of ``client`` into the zarr ``target``.

    Parameters
    ----------
    client : distributed.Client
    source : str
        A path every worker can open (a shared filesystem).
    target : str
        A ``.zarr`` path every worker can write.
    kernel, settings, value_range
        As for :func:`convcli.images.tiled.filter_tiled`; stride 1 and
        ``same`` padding only.
    chunk : int, optional
        Block side: a multiple of the file's tile, at least 8× the halo
        (default about 2048).

    Returns
    -------
    (TiledSource, int)
        What was read and the chunk side used.
    """
    import dask.array as da

    if not isinstance(settings.padding, str) or settings.padding.lower() != "same":
        raise ParameterError("with --scheduler an image in tiles is filtered with --padding same")
    if settings.stride not in (1, (1, 1)):
        raise ParameterError("with --scheduler an image in tiles is filtered with --stride 1")
    with open_tiled(source) as (src, _):
        pass
    plan = make_plan(src, kernel, settings, value_range)
    (top, bottom), (left, right) = plan.geometry.padding
    depth = (max(top, bottom), max(left, right))
    side = choose_chunk(src.tile, max(depth), chunk)
    h, w = src.shape[:2]
    extra = tuple(src.shape[2:])
    chunks = (side, side, *extra)
    path = os.path.abspath(source)
    arr = da.map_blocks(
        _read_block,
        path,
        chunks=da.core.normalize_chunks(chunks, src.shape),
        dtype=src.dtype,
        meta=np.empty((0,) * len(src.shape), src.dtype),
    )
    periodic = settings.pad_mode.lower() in ("circular", "wrap")
    out = da.map_overlap(
        _filter_block,
        arr,
        depth={0: depth[0], 1: depth[1], **({2: 0} if extra else {})},
        boundary="periodic" if periodic else "none",
        trim=False,
        dtype=plan.out_dtype,
        chunks=arr.chunks,
        meta=np.empty((0,) * len(src.shape), plan.out_dtype),
        plan=plan,
        shape=(h, w),
        halo=depth,
        periodic=bool(periodic),
    )
    with zarr_target(target, overwrite) as tmp:
        da.to_zarr(out, tmp, compute=False).compute()
    return src, side
