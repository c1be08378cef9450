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

from .arithmetic.sizes import (
    output_size,
    pool_output_size,
    resolve_padding,
    same_padding,
    transposed_output_size,
)
from .compat import MOVED_MODULES, install
from .errors import (
    ArrayTypeError,
    ConvcliError,
    ImageError,
    KernelError,
    LimitError,
    ParameterError,
    ShapeError,
)

# name -> module that defines it; imported on first attribute access.
_LAZY: dict[str, str] = {
    # engine (numpy)
    "PAD_MODES": "engine.padding",
    "pad": "engine.padding",
    "im2col": "engine.convolution",
    "conv2d": "engine.convolution",
    "filter2d": "engine.convolution",
    "compute_dtype": "engine.arrays",
    "STRATEGIES": "engine.strategies",
    # pooling (numpy)
    "pool2d": "engine.pooling",
    # kernels (numpy)
    "Kernel": "kernels.kernel",
    "KERNELS": "kernels.catalogue",
    "get_kernel": "kernels.catalogue",
    "parse_kernel": "kernels.files",
    "load_kernel": "kernels.files",
    "kernel_names": "kernels.catalogue",
    "resolve_kernel": "kernels.files",
    "format_kernel_text": "kernels.files",
    # images (Pillow)
    "read_image": "images.io",
    "write_image": "images.io",
    "Image": "images.io",
    "output_format": "images.io",
    "same_file": "images.io",
    "stdout_is_terminal": "images.io",
    "DEFAULT_MAX_PIXELS": "images.io",
    # filtering images end to end
    "filter_image": "images.filtering",
    "FilterSettings": "images.filtering",
    "apply_kernels": "images.filtering",
    "map_range": "images.filtering",
    # pooling images, matrices, teaching, learning, galleries
    "pool_image": "images.pooling",
    "pool_tensor": "images.pooling",
    "parse_matrix": "teaching.matrices",
    "format_matrix": "teaching.matrices",
    "conv_operands": "teaching.steps",
    "conv_steps": "teaching.steps",
    "pool_steps": "teaching.steps",
    "learn_kernel": "teaching.learn",
    "LearnResult": "teaching.learn",
    "make_gallery": "teaching.gallery",
    "animate": "teaching.animate",
    "animation_frames": "teaching.animate",
    "render_frames": "teaching.animate",
    "Animation": "teaching.animate",
    # whole networks (pure Python)
    "Layer": "arithmetic.spec",
    "parse_layers": "arithmetic.spec",
    "load_spec": "arithmetic.spec",
    "analyze_network": "arithmetic.network",
    "NetworkSummary": "arithmetic.network",
    "ARCHITECTURES": "arithmetic.presets",
    # one call's geometry, resolved once (pure Python)
    "Geometry": "arithmetic.geometry",
    # more shape arithmetic (pure Python)
    "conv_formula": "arithmetic.sizes",
    "uncovered_cells": "arithmetic.sizes",
    "solve_stride_padding": "arithmetic.sizes",
    "solve_strides": "arithmetic.solve",
}

__all__ = [
    "ArrayTypeError",
    "ConvcliError",
    "ImageError",
    "KernelError",
    "LimitError",
    "ParameterError",
    "ShapeError",
    "__version__",
    "output_size",
    "pool_output_size",
    "resolve_padding",
    "same_padding",
    "transposed_output_size",
    *_LAZY,
]


install()  # `import convcli.imageio` (0.1's modules) finds the moved module, with a warning


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
        if name in MOVED_MODULES:  # convcli 0.1's flat modules: one more release, with a warning
            return importlib.import_module(f".{name}", __name__)
        raise AttributeError(f"module 'convcli' has no attribute {name!r}")
    # __import__, not importlib.import_module: -X importtime logs it (the start-up pins read it)
    value = getattr(__import__(f"{__name__}.{module}", fromlist=[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
