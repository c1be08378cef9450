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

A result is complete or it is not written: the temporary folder's path is
absolute (workers resolve paths in their own working directory), each block
is one zarr chunk written by one task that reports it back, and before the
rename :func:`check_blocks` compares the chunks on disk and the reports with
the block grid; any block missing (a task lost with its worker, a worker that
wrote elsewhere) fails the run with the blocks named, and nothing is left.
All checks of the options run in :func:`prepare` before any cluster starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ParameterError
from ..images.filtering import FilterSettings
from ..images.tiled import (
    BlockPlan,
    TiledSource,
    make_plan,
    open_tiled,
    open_zarr_blocks,
    read_window,
    zarr_target,
)
from ..kernels.kernel import Kernel
from .connect import ClusterError

__all__ = [
    "ClusterJob",
    "IncompleteResultError",
    "check_blocks",
    "choose_chunk",
    "filter_on_cluster",
    "prepare",
    "stored_chunks",
]


class IncompleteResultError(ClusterError):
    """Blocks of a cluster result were not written: the result is refused."""


#: Chunk side aimed at when --chunk is not given (rounded to the file's tile).
DEFAULT_CHUNK = 2048
#: A chunk is at least this many times the halo.
MIN_CHUNK_HALOS = 8


def choose_chunk(tile: tuple[int, int] | None, halo: int, chunk: int | None = None) -> int:
    """Return the chunk side: ``chunk`` checked, or about :data:`DEFAULT_CHUNK` on the tile grid.

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
    """Read the rectangle of the file this block covers, by path (runs on a worker)."""
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
    """Filter one overlapped block through the one-machine block code (runs on a worker)."""
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


@dataclass(frozen=True)
class ClusterJob:
    """One image checked for the cluster (by :func:`prepare`), before any cluster starts.

    Attributes
    ----------
    path : str
        The input's absolute path (workers open it by this path).
    src : TiledSource
    plan : BlockPlan
    depth : (int, int)
        The halo rows and columns each block borrows from its neighbours.
    side : int
        The block (and zarr chunk) side.
    """

    path: str
    src: TiledSource
    plan: BlockPlan
    depth: tuple[int, int]
    side: int


def prepare(
    source: str,
    kernel: Kernel,
    settings: FilterSettings,
    *,
    value_range: str = "auto",
    chunk: int | None = None,
) -> ClusterJob:
    """Check that ``source`` can be filtered on a cluster with these options, without dask.

    Reads the file's header only; raises :class:`ParameterError` for the
    options (padding, stride, range, ``--chunk``) and ``ImageError`` for the
    file, so that a command can refuse them before it starts a cluster.
    """
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
    return ClusterJob(os.path.abspath(source), src, plan, depth, side)


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

    Raises
    ------
    IncompleteResultError
        A block was not written (its task was lost, or its chunk is not on
        disk); ``target`` is then not created (nor replaced) and no
        temporary folder is left.
    """
    import dask.array as da

    from .batch import check_workers_see

    job = prepare(source, kernel, settings, value_range=value_range, chunk=chunk)
    src, plan, side = job.src, job.plan, job.side
    h, w = src.shape[:2]
    extra = tuple(src.shape[2:])
    chunks = (side, side, *extra)
    arr = da.map_blocks(
        _read_block,
        job.path,
        chunks=da.core.normalize_chunks(chunks, src.shape),
        dtype=src.dtype,
        meta=np.empty((0,) * len(src.shape), src.dtype),
    )
    periodic = settings.pad_mode.lower() in ("circular", "wrap")
    out = da.map_overlap(
        _filter_block,
        arr,
        depth={0: job.depth[0], 1: job.depth[1], **({2: 0} if extra else {})},
        boundary="periodic" if periodic else "none",
        trim=False,
        dtype=plan.out_dtype,
        chunks=arr.chunks,
        meta=np.empty((0,) * len(src.shape), plan.out_dtype),
        plan=plan,
        shape=(h, w),
        halo=job.depth,
        periodic=bool(periodic),
    )
    with zarr_target(target, overwrite) as tmp:
        open_zarr_blocks(tmp, "w", shape=src.shape, chunks=chunks, dtype=plan.out_dtype)
        check_workers_see(client, [job.path, tmp])
        reports, failures = _write_blocks(client, out, tmp)
        grid = (int(out.numblocks[0]), int(out.numblocks[1]))
        check_blocks(target, tmp, grid, (side, side), (h, w), reports, failures)
    return src, side


def _store_block(
    block: np.ndarray, path: str, index: tuple[int, ...], start: tuple[int, ...]
) -> tuple[tuple[int, ...], str]:
    """Write one block (one chunk) of the output; report it and the worker (runs on a worker).

    A temporary folder that is gone (the run was stopped) is not recreated.
    """
    if not any(os.path.isfile(os.path.join(path, m)) for m in ("zarr.json", ".zarray")):
        raise ClusterError(f"{path}: the output's temporary folder is gone")
    arr = open_zarr_blocks(path, "r+")
    arr[tuple(slice(a, a + n) for a, n in zip(start, block.shape, strict=True))] = block
    try:
        from distributed import get_worker

        worker = str(get_worker().address)
    except (ImportError, ValueError):  # pragma: no cover - run outside a worker
        worker = "this process"
    return index, worker


def _write_blocks(
    client: Any, out: Any, path: str
) -> tuple[dict[tuple[int, int], str], dict[tuple[int, int], str]]:
    """Store every block of ``out`` on the workers and wait for all of them.

    Returns ``(reports, failures)``: the worker that wrote each block, and
    one line for each block whose task failed. Every task has ended when this
    returns (none can write after the temporary folder is removed); on
    KeyboardInterrupt the tasks are cancelled.
    """
    import dask
    from distributed import wait

    delayed = out.to_delayed()
    starts = [np.concatenate([[0], np.cumsum(c[:-1])]).astype(int) for c in out.chunks]
    indices = list(np.ndindex(delayed.shape))
    tasks = [
        dask.delayed(_store_block, pure=False)(
            delayed[idx], path, idx, tuple(int(starts[a][i]) for a, i in enumerate(idx))
        )
        for idx in indices
    ]
    futures = client.compute(tasks)
    try:
        wait(futures)
    except BaseException:
        client.cancel(futures)
        raise
    reports: dict[tuple[int, int], str] = {}
    failures: dict[tuple[int, int], str] = {}
    for idx, future in zip(indices, futures, strict=True):
        key = (int(idx[0]), int(idx[1]))
        if future.status == "finished":
            index, worker = future.result()
            if tuple(index)[:2] == key:
                reports[key] = worker
        else:
            try:
                exc = future.exception()
                text = str(exc).splitlines()[0] if str(exc) else ""
                failures[key] = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
            except Exception as exc:  # cancelled or lost
                failures[key] = f"task {future.status} ({type(exc).__name__})"
        future.release()
    return reports, failures


#: zarr's own files in an array's folder (v3 and v2), which are not chunks.
_METADATA = frozenset({"zarr.json", ".zarray", ".zattrs", ".zgroup", ".zmetadata"})


def stored_chunks(path: str) -> set[tuple[int, ...]]:
    """Return the grid indices of the chunks on disk in the zarr array folder ``path``.

    Read from the file names (``c/0/1`` in zarr v3, ``0.1`` in v2), not
    through zarr, as an independent count.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = tempfile.mkdtemp()
    >>> for key in ("zarr.json", "c/0/0/0", "c/1/2/0"):
    ...     p = pathlib.Path(d, key); p.parent.mkdir(parents=True, exist_ok=True); p.touch()
    >>> sorted(stored_chunks(d))
    [(0, 0, 0), (1, 2, 0)]
    """
    found = set()
    for root, _, files in os.walk(path):
        for name in files:
            if name in _METADATA:
                continue
            key = os.path.relpath(os.path.join(root, name), path).replace(os.sep, "/")
            parts = key.replace(".", "/").split("/")
            if parts and parts[0] == "c":
                parts = parts[1:]
            if parts and all(p.isdigit() for p in parts):
                found.add(tuple(int(p) for p in parts))
    return found


def check_blocks(
    target: str,
    path: str,
    grid: tuple[int, int],
    block: tuple[int, int],
    shape: tuple[int, int],
    reports: dict[tuple[int, int], str],
    failures: dict[tuple[int, int], str] | None = None,
) -> None:
    """Raise :class:`IncompleteResultError` unless every block of the grid is on disk and reported.

    Parameters
    ----------
    target : str
        The output as the user named it (for the message).
    path : str
        The zarr folder written (the temporary one).
    grid : (int, int)
        Blocks down and across.
    block, shape : (int, int)
        The block side and the image's rows and columns (to name pixels).
    reports : dict
        ``(row, col)`` of each block a worker reported written.
    failures : dict, optional
        ``(row, col)`` → one line, for blocks whose task failed.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = tempfile.mkdtemp()
    >>> for key in ("c/0/0", "c/0/1", "c/1/0"):
    ...     p = pathlib.Path(d, key); p.parent.mkdir(parents=True, exist_ok=True); p.touch()
    >>> reports = {(0, 0): "w1", (0, 1): "w1", (1, 0): "w2", (1, 1): "w2"}
    >>> check_blocks("o.zarr", d, (2, 2), (256, 256), (400, 300), reports)
    Traceback (most recent call last):
    ...
    convcli.cluster.tiled.IncompleteResultError: o.zarr: 1 of 4 blocks not written, so not written at all: block (1, 1) (rows 256-399, columns 256-299): reported written by w2 but not on disk
    """
    failures = failures or {}
    stored = {key[:2] for key in stored_chunks(path)}
    expected = [(i, j) for i in range(grid[0]) for j in range(grid[1])]
    missing = [key for key in expected if key not in stored or key not in reports]
    if not missing:
        return

    def name(key: tuple[int, int]) -> str:
        (i, j), (bh, bw) = key, block
        rows = f"rows {i * bh}-{min(shape[0], (i + 1) * bh) - 1}"
        cols = f"columns {j * bw}-{min(shape[1], (j + 1) * bw) - 1}"
        if key in failures:
            why = failures[key]
        elif key in reports:
            why = f"reported written by {reports[key]} but not on disk"
        else:
            why = "no worker reported it"
        return f"block {key} ({rows}, {cols}): {why}"

    shown = "; ".join(name(key) for key in missing[:3])
    more = f"; and {len(missing) - 3} more" if len(missing) > 3 else ""
    raise IncompleteResultError(
        f"{target}: {len(missing)} of {len(expected)} blocks not written, so not written at "
        f"all: {shown}{more}"
    )
