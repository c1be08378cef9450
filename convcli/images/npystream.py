"""A filtered image written to ``.npy`` strip by strip, never whole in floating point.

``--range raw`` (the default for a ``.npy`` output) keeps float32 values:
12 bytes a pixel for RGB, three times the 8-bit image. Written the plain way,
an 88-megapixel photograph's result was a gigabyte in memory before its first
byte reached the file (issue 21). Here the image is filtered in strips of rows,
each with the rows the chain reaches above and below it (so every output row
is computed from the same input rows as in one pass over the image), and
each strip's rows go straight to their place in each channel's plane of the
file, which is written atomically like every other output.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from typing import BinaryIO

import numpy as np

from ..arithmetic.sizes import pair
from ..engine.tiling import bands
from ..errors import ImageError
from ..kernels.kernel import Kernel
from ..kernels.npy import write_npy_header
from .atomic import atomic_write
from .filtering import FilterSettings, bandable, chain_range_mode, filter_image
from .io import Image

__all__ = ["write_filtered_npy"]

#: A strip's floating-point result takes about 1/this of the memory budget.
_STRIP_SHARE = 16


def _reach(kernels: Sequence[Kernel], settings: FilterSettings) -> int:
    """Rows an output row of the chain depends on, above or below it (at most)."""
    dilation = pair(settings.dilation, "dilation")[0]
    return settings.repeat * sum(dilation * (k.shape[0] - 1) for k in kernels)


def write_filtered_npy(
    image: Image,
    target: str,
    *,
    kernels: Sequence[Kernel],
    settings: FilterSettings,
    value_range: str | None,
    alpha: str,
    gray: bool,
    overwrite: bool = False,
) -> bool:
    """Filter `image` into the ``.npy`` file `target` in strips, as filter_image would.

    The result is :func:`~convcli.images.filtering.filter_image`'s; returns
    False, with nothing written, when the chain cannot go in strips.

    It cannot when the geometry changes the size (a stride, ``valid`` or
    ``full`` padding, ``circular`` padding) or when the value range needs the
    whole result (``normalize``, ``auto`` on a zero-sum chain), and it does not
    bother when the image is one strip anyway. The file is the one
    :func:`~convcli.images.io.write_image` writes: channels first, alpha the
    last plane.
    """
    rng = value_range or "raw"
    if not bandable(settings) or chain_range_mode(kernels, rng) in ("normalize", "stretch"):
        return False
    height, width = image.pixels.shape[:2]
    channels = 1 if image.pixels.ndim == 2 or gray else image.pixels.shape[2]
    row_bytes = 4 * width * (channels + (image.alpha is not None))
    reach = _reach(kernels, settings)
    rows = max(reach + 1, settings.memory_budget // (_STRIP_SHARE * max(row_bytes, 1)))
    if rows >= height:
        return False

    def strip(r0: int) -> Image:
        """Output rows r0..r0+rows-1, from the input rows they depend on."""
        r1 = min(height, r0 + rows)
        lo, hi = max(0, r0 - reach), min(height, r1 + reach)
        part = replace(
            image,
            pixels=image.pixels[lo:hi],
            alpha=None if image.alpha is None else image.alpha[lo:hi],
        )
        out = filter_image(part, kernels, settings, value_range=rng, alpha=alpha, gray=gray)
        keep = slice(r0 - lo, r0 - lo + (r1 - r0))
        return replace(
            out,
            pixels=out.pixels[keep],
            alpha=None if out.alpha is None else out.alpha[keep],
        )

    def write(fh: BinaryIO) -> None:
        first = strip(0)
        dtype = np.dtype(first.pixels.dtype).newbyteorder("=")
        planes = 1 if first.pixels.ndim == 2 else first.pixels.shape[2]
        planes += first.alpha is not None
        shape = (height, width) if planes == 1 else (planes, height, width)
        write_npy_header(fh, shape, dtype)
        start = fh.tell()
        plane_bytes = height * width * dtype.itemsize
        fh.truncate(start + planes * plane_bytes)  # the size it will have; holes until written
        for r0, _ in bands(height, rows):
            done = first if r0 == 0 else strip(r0)
            arrays = (
                [done.pixels]
                if done.pixels.ndim == 2
                else [done.pixels[..., c] for c in range(done.pixels.shape[2])]
            )
            if done.alpha is not None:
                arrays.append(done.alpha)
            for c, plane in enumerate(arrays):
                fh.seek(start + c * plane_bytes + r0 * width * dtype.itemsize)
                fh.write(np.ascontiguousarray(plane, dtype=dtype).data)

    atomic_write(os.fspath(target), write, overwrite=overwrite, error=ImageError)
    return True
