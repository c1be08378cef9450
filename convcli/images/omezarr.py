"""OME-Zarr multiscale images: a filter result and its pyramid, with NGFF 0.5 metadata.

Level 0 is the filter result (written by
:func:`convcli.images.tiled.filter_tiled`, block by block); level *i+1* is
level *i* as written, filtered by a smoothing kernel (``box:2`` by default,
or a Gaussian) at stride 2 with ``same`` padding, so each level has
``ceil(n / 2)`` rows and columns of the one above. Every level is computed
in blocks (:class:`convcli.images.tiled.BlockPlan`), so memory follows the
block size, never the image size.

The layout follows OME-NGFF 0.5 (zarr v3; https://ngff.openmicroscopy.org/0.5/):
the group's ``zarr.json`` holds ``attributes.ome = {"version": "0.5",
"multiscales": [...]}``; axes are ``y, x`` for a grayscale image and
``c, y, x`` for colour (channels come before space in NGFF, so colour levels
are stored channels first); each dataset has one ``scale`` then one
``translation`` transformation. Level *i* has scale ``2**i`` on ``y`` and
``x``; its translation puts each pixel where the centre of the window it was
averaged from lies in level 0's pixel grid (half a level-0 pixel per level
for ``box:2``: pixel *j* of level 1 averages level-0 pixels *2j* and *2j+1*).

The whole image is written to a temporary folder beside the target and
renamed into place when every level is complete.
"""

from __future__ import annotations

import math
import os
import shutil
from typing import Any

import numpy as np

from ..engine.tiling import boxes
from ..errors import ImageError, ParameterError
from ..kernels.kernel import Kernel
from .filtering import FilterSettings
from .tiled import INSTALL_HINT, OUTPUT_TILE, TiledSource, filter_tiled, make_plan, zarr_target

__all__ = [
    "NGFF_VERSION",
    "level_shapes",
    "plan_levels",
    "pyramid_transforms",
    "write_pyramid",
    "write_pyramid_array",
]

#: The OME-NGFF version written.
NGFF_VERSION = "0.5"
#: Output rows and columns computed at once for levels 1..N.
LEVEL_BLOCK = 4 * OUTPUT_TILE


def level_shapes(shape: tuple[int, int], levels: int) -> list[tuple[int, int]]:
    """``(rows, columns)`` of levels 0..``levels``: each ``ceil(n / 2)`` of the one above.

    Raises ParameterError when a level would be downsampled from fewer than 2
    rows or columns.

    Examples
    --------
    >>> level_shapes((5, 8), 2)
    [(5, 8), (3, 4), (2, 2)]
    """
    shapes = [tuple(int(n) for n in shape)]
    for level in range(1, levels + 1):
        h, w = shapes[-1]
        if min(h, w) < 2:
            raise ParameterError(
                f"--pyramid {levels}: level {level - 1} is already {h}x{w}; this image "
                f"takes at most --pyramid {level - 1}"
            )
        shapes.append((math.ceil(h / 2), math.ceil(w / 2)))
    return shapes  # type: ignore[return-value]


def plan_levels(
    source: str,
    kernel: Kernel,
    settings: FilterSettings,
    value_range: str,
    levels: int,
) -> list[tuple[int, int]]:
    """Return the rows and columns of each level, from ``source``'s header alone (nothing filtered).

    Raises ParameterError for more levels than the image has, and whatever
    :func:`convcli.images.tiled.make_plan` raises for the level-0 filter.
    """
    from .tiled import open_tiled

    with open_tiled(source) as (src, _):
        shape = make_plan(src, kernel, settings, value_range).geometry.output_shape
    return level_shapes(shape, levels)


def _offsets(kernel: Kernel, shape: tuple[int, int], pad_mode: str) -> tuple[float, float]:
    """Where output pixel 0 of a stride-2 'same' pass sits in its input's pixel grid."""
    from .tiled import plan_halo

    geo = plan_halo(shape, kernel.shape, 2, "same", 1)
    (top, _), (left, _) = geo.padding
    kh, kw = kernel.shape
    return ((kh - 1) / 2 - top, (kw - 1) / 2 - left)


def pyramid_transforms(
    shapes: list[tuple[int, int]], kernel: Kernel, pad_mode: str = "reflect", channels: bool = False
) -> list[list[dict[str, Any]]]:
    """Return the NGFF ``coordinateTransformations`` of each level (scale, then translation).

    Level 0 has scale 1 and translation 0; level *i+1* has twice level *i*'s
    scale, and its translation adds level *i*'s scale times the offset of the
    window centre of its first pixel (``(k - 1) / 2 - pad_before`` per axis).

    Examples
    --------
    >>> from convcli.kernels.catalogue import get_kernel
    >>> t = pyramid_transforms([(4, 4), (2, 2), (1, 1)], get_kernel("box:2"))
    >>> [(d[0]["scale"], d[1]["translation"]) for d in t]
    [([1.0, 1.0], [0.0, 0.0]), ([2.0, 2.0], [0.5, 0.5]), ([4.0, 4.0], [1.5, 1.5])]
    """
    scale = [1.0, 1.0]
    shift = [0.0, 0.0]
    lead = [1.0] if channels else []
    zero = [0.0] if channels else []
    out = []
    for level, shape in enumerate(shapes):
        out.append(
            [
                {"type": "scale", "scale": lead + list(scale)},
                {"type": "translation", "translation": zero + list(shift)},
            ]
        )
        if level + 1 < len(shapes):
            oy, ox = _offsets(kernel, shape, pad_mode)
            shift = [shift[0] + scale[0] * oy, shift[1] + scale[1] * ox]
            scale = [scale[0] * 2, scale[1] * 2]
    return out


def _zarr() -> Any:
    try:
        import zarr
    except ImportError:
        raise ImageError(
            f"an OME-Zarr image needs zarr, which is not installed: {INSTALL_HINT}"
        ) from None
    if int(zarr.__version__.split(".")[0]) < 3:
        raise ImageError(
            f"an OME-Zarr image (NGFF {NGFF_VERSION}) needs zarr 3, not {zarr.__version__}: "
            "pip install 'zarr>=3'"
        )
    return zarr


def _create(zarr: Any, group: Any, name: str, shape: tuple, dtype: np.dtype, channels: bool) -> Any:
    chunks = (shape[0], OUTPUT_TILE, OUTPUT_TILE) if channels else (OUTPUT_TILE, OUTPUT_TILE)
    return group.create_array(
        name,
        shape=shape,
        chunks=chunks,
        dtype=dtype,
        dimension_names=["c", "y", "x"] if channels else ["y", "x"],
        config={"write_empty_chunks": True},  # every chunk on disk: completeness is countable
    )


def _reader(arr: Any, channels: bool) -> Any:
    """``read(rows, cols)`` of a level as (rows, cols[, C]), the layout the block plans take."""
    if channels:
        return lambda r, c: np.moveaxis(np.asarray(arr[:, r, c]), 0, -1)
    return lambda r, c: np.asarray(arr[r, c])


def _check_kernel(levels: int, pyramid_kernel: Kernel) -> None:
    if levels < 1:
        raise ParameterError(f"--pyramid must be at least 1, got {levels}")
    if abs(float(pyramid_kernel.weights.sum()) - 1.0) > 1e-6 or pyramid_kernel.offset:
        raise ParameterError(
            f"--pyramid-kernel {pyramid_kernel.name}: a pyramid level is an average, so the "
            "kernel's weights must sum to 1 (box:2, gaussian:sigma=1)"
        )


def _down_settings(settings: FilterSettings | None) -> FilterSettings:
    """Stride 2, 'same' padding, in the pad mode, strategy and threads of ``settings``."""
    s = settings or FilterSettings()
    return FilterSettings(
        stride=(2, 2), padding="same", pad_mode=s.pad_mode, strategy=s.strategy, threads=s.threads
    )


def write_pyramid(
    source: str,
    target: str,
    kernel: Kernel,
    settings: FilterSettings | None = None,
    *,
    levels: int,
    pyramid_kernel: Kernel,
    value_range: str = "auto",
    overwrite: bool = False,
) -> list[tuple[int, ...]]:
    """Filter ``source`` in tiles into an OME-Zarr multiscale image with ``levels`` levels below it.

    Parameters
    ----------
    source : str
        What :func:`convcli.images.tiled.filter_tiled` reads (a tiled TIFF
        or a ``.zarr`` array).
    target : str
        The ``.ome.zarr`` (or ``.zarr``) folder to write.
    kernel, settings, value_range
        The filter of level 0, as for :func:`~convcli.images.tiled.filter_tiled`.
    levels : int
        Levels below level 0 (``levels + 1`` arrays, ``"0"`` .. ``str(levels)``).
    pyramid_kernel : Kernel
        The smoothing kernel between levels; its weights must sum to 1.
    overwrite : bool
        Replace an existing target (only once the new image is complete).

    Returns
    -------
    list of tuple
        The shape of each level's array.

    Examples
    --------
    >>> import tempfile, tifffile
    >>> from convcli.kernels.catalogue import get_kernel
    >>> d = tempfile.mkdtemp()
    >>> tifffile.imwrite(f"{d}/in.tif", np.zeros((40, 30), np.uint8), tile=(16, 16))
    >>> write_pyramid(f"{d}/in.tif", f"{d}/out.ome.zarr", get_kernel("box:3"),
    ...               levels=2, pyramid_kernel=get_kernel("box:2"))
    [(40, 30), (20, 15), (10, 8)]
    """
    _check_kernel(levels, pyramid_kernel)
    zarr = _zarr()
    s = settings or FilterSettings()
    plan_levels(source, kernel, s, value_range, levels)  # refuse before any pixel is filtered
    with zarr_target(target.rstrip("/\\"), overwrite) as tmp:
        group = zarr.open_group(tmp, mode="w", zarr_format=3)
        first = os.path.join(tmp, "level0.zarr")  # (H, W[, C]) as filter_tiled writes it
        with zarr.config.set({"array.write_empty_chunks": True}):
            filter_tiled(source, first, kernel, s, value_range=value_range)
        base = zarr.open_array(first, mode="r")
        shapes = _write_levels(zarr, group, base, levels, pyramid_kernel, _down_settings(s))
        del base
        shutil.rmtree(first)
        _write_metadata(group, target, shapes, pyramid_kernel, s.pad_mode)
    return shapes


def write_pyramid_array(
    pixels: np.ndarray,
    target: str,
    *,
    levels: int,
    pyramid_kernel: Kernel,
    settings: FilterSettings | None = None,
    overwrite: bool = False,
) -> list[tuple[int, ...]]:
    """Write ``pixels`` (a filter result in memory) as level 0 of an OME-Zarr image, and its levels.

    Parameters
    ----------
    pixels : numpy.ndarray
        ``(H, W)`` or ``(H, W, C)``, uint8, uint16 or float32.
    target : str
        The ``.ome.zarr`` folder to write.
    levels, pyramid_kernel, overwrite
        As for :func:`write_pyramid`.
    settings : FilterSettings, optional
        Its pad mode, strategy and threads are used between levels.

    Examples
    --------
    >>> import tempfile
    >>> from convcli.kernels.catalogue import get_kernel
    >>> d = tempfile.mkdtemp()
    >>> write_pyramid_array(np.zeros((9, 6, 3), np.uint8), f"{d}/a.ome.zarr", levels=1,
    ...                     pyramid_kernel=get_kernel("box:2"))
    [(3, 9, 6), (3, 5, 3)]
    """
    _check_kernel(levels, pyramid_kernel)
    zarr = _zarr()
    level_shapes(pixels.shape[:2], levels)  # refuse before anything is written
    s = settings or FilterSettings()
    with zarr_target(target.rstrip("/\\"), overwrite) as tmp:
        group = zarr.open_group(tmp, mode="w", zarr_format=3)
        shapes = _write_levels(zarr, group, pixels, levels, pyramid_kernel, _down_settings(s))
        _write_metadata(group, target, shapes, pyramid_kernel, s.pad_mode)
    return shapes


def _write_levels(
    zarr: Any,
    group: Any,
    base: Any,
    levels: int,
    pyramid_kernel: Kernel,
    down: FilterSettings,
) -> list[tuple[int, ...]]:
    """Level 0 copied from ``base`` (H, W[, C]; sliced block by block), then each level below."""
    channels = base.ndim == 3
    shapes = level_shapes(tuple(base.shape[:2]), levels)
    lead = (int(base.shape[2]),) if channels else ()
    where = (slice(None),) * channels
    level0 = _create(zarr, group, "0", (*lead, *shapes[0]), np.dtype(base.dtype), channels)
    for r0, r1, c0, c1 in boxes(shapes[0], LEVEL_BLOCK, LEVEL_BLOCK):
        block = np.asarray(base[r0:r1, c0:c1])
        key = (*where, slice(r0, r1), slice(c0, c1))
        level0[key] = np.moveaxis(block, -1, 0) if channels else block
    arrays = [level0]
    for level in range(1, levels + 1):
        above = arrays[-1]
        src = TiledSource(
            f"level {level - 1}",
            "zarr",
            (*shapes[level - 1], *lead),
            np.dtype(above.dtype),
            (OUTPUT_TILE, OUTPUT_TILE),
        )
        plan = make_plan(src, pyramid_kernel, down, "raw" if src.dtype.kind == "f" else "clip")
        if plan.out_dtype != src.dtype:
            raise ImageError(f"pixels of type {src.dtype} cannot make a pyramid")
        out = _create(zarr, group, str(level), (*lead, *shapes[level]), src.dtype, channels)
        read = _reader(above, channels)
        for r0, r1, c0, c1 in boxes(shapes[level], LEVEL_BLOCK, LEVEL_BLOCK):
            block = plan.block(read, r0, r1, c0, c1)
            key = (*where, slice(r0, r1), slice(c0, c1))
            out[key] = np.moveaxis(block, -1, 0) if channels else block
        arrays.append(out)
    return [tuple(int(n) for n in a.shape) for a in arrays]


def _write_metadata(
    group: Any,
    target: str,
    shapes: list[tuple[int, ...]],
    pyramid_kernel: Kernel,
    pad_mode: str,
) -> None:
    """Return the group's NGFF 0.5 ``ome`` attributes."""
    channels = len(shapes[0]) == 3
    rows_cols = [(s[-2], s[-1]) for s in shapes]
    transforms = pyramid_transforms(rows_cols, pyramid_kernel, pad_mode, channels)
    axes = [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
    if channels:
        axes.insert(0, {"name": "c", "type": "channel"})
    group.attrs["ome"] = {
        "version": NGFF_VERSION,
        "multiscales": [
            {
                "name": os.path.basename(target.rstrip("/\\")),
                "axes": axes,
                "datasets": [
                    {"path": str(i), "coordinateTransformations": t}
                    for i, t in enumerate(transforms)
                ],
                "type": pyramid_kernel.name,
                "metadata": {
                    "description": f"level i+1 is level i filtered by {pyramid_kernel.name} "
                    "at stride 2 ('same' padding)",
                    "method": "convcli.images.omezarr",
                    "pad_mode": pad_mode,
                },
            }
        ],
    }
