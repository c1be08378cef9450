"""convcli: image filtering and convolution arithmetic, from Python and the shell.

The public API lives here. The pure-Python shape arithmetic is imported
eagerly; everything that needs numpy, scipy or Pillow is imported on first
use, so ``import convcli`` (and ``convcli shape``) stays instant.

Examples
--------
>>> import convcli
>>> convcli.output_size(224, 11, stride=4, padding=2)
55
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import ConvcliError, ImageError, KernelError, ShapeError
from .shapes import (
    output_size,
    pool_output_size,
    resolve_padding,
    same_padding,
    transposed_output_size,
)

# name -> module that defines it; imported on first attribute access.
_LAZY: dict[str, str] = {
    # engine (numpy)
    "PAD_MODES": "engine",
    "pad": "engine",
    "im2col": "engine",
    "conv2d": "engine",
    "filter2d": "engine",
    "compute_dtype": "engine",
    "STRATEGIES": "strategies",
    # pooling (numpy)
    "pool2d": "pooling",
    # kernels (numpy)
    "Kernel": "kernels",
    "KERNELS": "kernels",
    "get_kernel": "kernels",
    "parse_kernel": "kernels",
    "load_kernel": "kernels",
    "kernel_names": "kernels",
    "resolve_kernel": "kernels",
    "format_kernel_text": "kernels",
    # images (Pillow)
    "read_image": "imageio",
    "write_image": "imageio",
    "Image": "imageio",
    "output_format": "imageio",
    "same_file": "imageio",
    "stdout_is_terminal": "imageio",
    "DEFAULT_MAX_PIXELS": "imageio",
    # filtering images end to end
    "filter_image": "filtering",
    "FilterSettings": "filtering",
    "apply_kernels": "filtering",
    "map_range": "filtering",
    # pooling images, matrices, teaching, learning, galleries
    "pool_image": "pool_image",
    "pool_tensor": "pool_image",
    "parse_matrix": "matrices",
    "format_matrix": "matrices",
    "conv_operands": "teaching",
    "conv_steps": "teaching",
    "pool_steps": "teaching",
    "learn_kernel": "learn",
    "LearnResult": "learn",
    "make_gallery": "gallery",
    # whole networks (pure Python)
    "Layer": "network",
    "parse_layers": "network",
    "analyze_network": "network",
    "ARCHITECTURES": "network",
    "load_spec": "network",
    "NetworkSummary": "network",
    # more shape arithmetic (pure Python)
    "conv_formula": "shapes",
    "uncovered_cells": "shapes",
    "solve_stride_padding": "shapes",
}

__all__ = [
    "ConvcliError",
    "ImageError",
    "KernelError",
    "ShapeError",
    "__version__",
    "output_size",
    "pool_output_size",
    "resolve_padding",
    "same_padding",
    "transposed_output_size",
    *_LAZY,
]


def _version() -> str:
    # importlib.metadata costs ~50 ms to import (email, zipfile, ...): only on demand
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("convcli")
    except PackageNotFoundError:  # a source tree that is not installed
        return "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":  # read from the installed metadata on first use
        globals()[name] = value = _version()
        return value
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'convcli' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
