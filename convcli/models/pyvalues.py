"""The values the source evaluator works with: imports, modules, objects, tensors.

Pure Python; shared by :mod:`.pysource` (expressions), :mod:`.pystatements`
(statements) and :mod:`.pycalls` (calls).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from .common import Located, ModelError, Path

__all__ = [
    "Batch",
    "Bound",
    "Failed",
    "Instance",
    "Module",
    "Ref",
    "Return",
    "Tensor",
    "TensorMethod",
]


@dataclass
class Ref:
    """A name from an import (``torch.nn.Conv2d``), not yet called."""

    qual: str


@dataclass
class Module:
    """A layer or container built in the source: its layers, or a user class' instance."""

    items: list[Located] = field(default_factory=list)
    keras: bool = False
    children: list[Any] | None = None  # a Sequential's or ModuleList's modules
    instance: Instance | None = None
    adds: bool = False  # Keras' Add layer: called on a list of two tensors


@dataclass
class Instance:
    """An object of a class of the file: its attributes and its class."""

    cls: ast.ClassDef
    attrs: dict[str, Any]


@dataclass
class Tensor:
    """The model's input after the layers of ``path``."""

    path: Path


class Batch:
    """``x.size(0)`` / ``x.shape[0]``: the batch size, only good for a view."""


class Return(Exception):
    """A ``return`` statement reached: its value, up to the call that ran the body."""

    def __init__(self, value: Any) -> None:
        self.value = value


@dataclass
class Failed:
    """A module-level name whose statement could not be read: the error, raised at its use."""

    error: ModelError


@dataclass
class Bound:
    """A method of an object of the file, not yet called."""

    instance: Instance
    method: ast.FunctionDef


@dataclass
class TensorMethod:
    """A tensor's attribute (``x.view``, ``x.shape``), not yet called or indexed."""

    tensor: Tensor
    name: str
