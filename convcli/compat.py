"""Names convcli 0.1 had that moved in 0.2's layout, kept for one release with a warning.

0.2 moved the flat modules into folders that name the layers
(``convcli.imageio`` became :mod:`convcli.images.io`, ``convcli.shapes``
:mod:`convcli.arithmetic.sizes`, ...) and gave no alias, so
``import convcli.imageio`` failed. Until 0.4 every old module name imports
its new module (the same module object) and the old modules that became
packages (``convcli.engine``, ``convcli.kernels``, ``convcli.teaching``)
still give their old names, each with a :class:`DeprecationWarning` naming
the new place. The public API, ``convcli.<name>``, never moved.

Examples
--------
>>> MOVED_MODULES["imageio"], MOVED_NAMES["engine"]["conv2d"]
('images.io', 'engine.convolution')

``import convcli.imageio`` then warns "convcli.imageio is deprecated and
will be removed in 0.4; use convcli.images.io (or the same names from
convcli)" and gives :mod:`convcli.images.io` itself.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from types import ModuleType
from typing import Any

__all__ = ["MOVED_MODULES", "MOVED_NAMES", "install", "moved_name"]

#: convcli 0.1's flat modules -> the module each became (under convcli.)
MOVED_MODULES: dict[str, str] = {
    "atomic": "images.atomic",
    "filtering": "images.filtering",
    "gallery": "teaching.gallery",
    "imageio": "images.io",
    "learn": "teaching.learn",
    "matrices": "teaching.matrices",
    "network": "arithmetic.network",
    "pngwrite": "images.png",
    "pool_image": "images.pooling",
    "pooling": "engine.pooling",
    "shapes": "arithmetic.sizes",
    "strategies": "engine.strategies",
}

#: 0.1's modules that are packages now -> {old public name: module that defines it}
MOVED_NAMES: dict[str, dict[str, str]] = {
    "engine": {
        "DEFAULT_MEMORY_BUDGET": "engine.convolution",
        "PAD_MODES": "engine.padding",
        "compute_dtype": "engine.arrays",
        "conv2d": "engine.convolution",
        "filter2d": "engine.convolution",
        "im2col": "engine.convolution",
        "pad": "engine.padding",
    },
    "kernels": {
        "KERNELS": "kernels.catalogue",
        "Kernel": "kernels.kernel",
        "KernelFactory": "kernels.catalogue",
        "Param": "kernels.catalogue",
        "format_kernel_text": "kernels.files",
        "get_kernel": "kernels.catalogue",
        "kernel_names": "kernels.catalogue",
        "load_kernel": "kernels.files",
        "parse_kernel": "kernels.files",
        "resolve_kernel": "kernels.files",
    },
    "teaching": {
        "Step": "teaching.steps",
        "conv_operands": "teaching.steps",
        "conv_steps": "teaching.steps",
        "pool_steps": "teaching.steps",
    },
}

_PACKAGE = __name__.rpartition(".")[0]  # "convcli"


def _warn(old: str, new: str, stacklevel: int) -> None:
    warnings.warn(
        f"{old} is deprecated and will be removed in 0.4; use {new} "
        "(or the same names from convcli)",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


class _MovedLoader:
    """Loads an old module name as the new module itself (no second copy)."""

    def __init__(self, target: str) -> None:
        self.target = target
        self._spec: Any = None

    def create_module(self, spec: Any) -> ModuleType:
        # 3: the importing line (warnings skips importlib's own frames)
        _warn(spec.name, self.target, stacklevel=3)
        module = importlib.import_module(self.target)
        self._spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        module.__spec__ = self._spec  # the import system set the old name's spec on it


class _MovedFinder:
    """Finds ``convcli.<old module>`` (after every real finder: a real module wins)."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        package, _, name = fullname.rpartition(".")
        if package != _PACKAGE or name not in MOVED_MODULES:
            return None
        import importlib.util

        loader: Any = _MovedLoader(f"{_PACKAGE}.{MOVED_MODULES[name]}")  # a Loader by protocol
        return importlib.util.spec_from_loader(fullname, loader)


def install() -> None:
    """Let ``import convcli.<old module>`` find the moved module (idempotent)."""
    if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
        sys.meta_path.append(_MovedFinder())


def moved_name(package: str, name: str) -> Any:
    """``package.name`` of convcli 0.1 (``convcli.engine.conv2d``), with a DeprecationWarning.

    For a package's module ``__getattr__``; raises AttributeError for a name
    that never was there.
    """
    short = package.rpartition(".")[2]
    module = MOVED_NAMES.get(short, {}).get(name)
    if module is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    _warn(f"{package}.{name}", f"{_PACKAGE}.{module}.{name}", stacklevel=4)
    value = getattr(importlib.import_module(f"{_PACKAGE}.{module}"), name)
    setattr(sys.modules[package], name, value)  # warned once: `from ... import` looks twice
    return value
