"""The native shortcut of :func:`convcli.images.filtering.filter_image` for 8-bit photos.

One linear kernel on uint8 pixels with range ``clip`` or ``abs``: the
engine's :func:`convcli.engine.fused.filter2d_pixels` reads the pixels,
filters and stores uint8 pixels in one native pass, with the rounding and
clipping the float path applies (bit-identical to it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..kernels.kernel import Kernel
    from .chain import FilterSettings
    from .image import Image

__all__ = ["filter_natively"]


def filter_natively(
    image: Image, stages: Sequence[Kernel], s: FilterSettings, mode: str, gray: bool
) -> Image | None:
    """Filter ``image`` natively uint8 to uint8, or return None where this does not apply.

    It applies to one linear kernel (no magnitude, 1-D passes, offset or
    bias) on uint8 pixels of full range 255 without alpha, for ``mode``
    (concrete, see :func:`convcli.images.filtering.chain_range_mode`)
    ``clip`` or ``abs``, when the native core runs the call.
    """
    px = image.pixels
    if px.dtype != np.uint8 or image.alpha is not None or image.max_value != 255:
        return None
    if len(stages) != 1 or mode not in ("clip", "abs") or s.bias or (gray and px.ndim == 3):
        return None
    k = stages[0]
    if k.parts is not None or k.factors is not None or k.offset:
        return None
    from ..engine.fused import filter2d_pixels

    out = filter2d_pixels(
        px,
        k.weights,
        s.stride,
        s.padding,
        s.dilation,
        s.pad_mode,
        s.convolve,
        value_range=mode,
        memory_budget=s.memory_budget,
        strategy=s.strategy,
        threads=s.threads,
    )
    return None if out is None else replace(image, pixels=out, max_value=255.0, notes=[])
