"""ONNX shape plumbing folded to constants: ``Shape``, ``Gather``, ``Concat``, ``Unsqueeze``...

Exporters compute a ``Reshape``'s target or a ``Pad``'s widths with small
graphs of integer nodes (``x.view(x.size(0), -1)`` becomes Shape → Gather →
Unsqueeze → Concat → Reshape). When every input of such a node is known (a
constant, or for ``Shape`` a tensor whose shape is known), :func:`fold`
computes its value with numpy and the node is plumbing, not a layer. Used
only by :mod:`.onnx_model`, which has imported the ``onnx`` package (and so
numpy) by then.

Examples
--------
>>> import numpy as np
>>> fold("Shape", ["x"], {}, {"x": (1, 8, 4, 4)}, {}).tolist()
[1, 8, 4, 4]
>>> fold("Gather", ["s", "i"], {"axis": 0}, {}, {"s": np.array([1, 8]), "i": np.array(0)}).tolist()
1
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["FOLDABLE", "fold"]


def _ints(value: Any) -> list[int]:
    return [int(v) for v in value.reshape(-1)]


def _axes(attrs: dict[str, Any], ins: Sequence[str], constants: dict[str, Any]) -> list[int]:
    if "axes" in attrs:
        return [int(a) for a in attrs["axes"]]
    return _ints(constants[ins[1]]) if len(ins) > 1 else []


def _unsqueeze(a: Any, axes: list[int]) -> Any:
    import numpy as np

    rank = a.ndim + len(axes)
    for axis in sorted(ax + rank if ax < 0 else ax for ax in axes):
        a = np.expand_dims(a, axis)
    return a


def _slice(v: list[Any], attrs: dict[str, Any]) -> Any:
    data = v[0]
    starts, ends = (_ints(v[1]), _ints(v[2])) if len(v) > 2 else (attrs["starts"], attrs["ends"])
    axes = _ints(v[3]) if len(v) > 3 else list(attrs.get("axes", range(len(starts))))
    steps = _ints(v[4]) if len(v) > 4 else [1] * len(starts)
    index = [slice(None)] * data.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        index[axis] = slice(start, end, step)
    return data[tuple(index)]


def _reshape(v: list[Any], attrs: dict[str, Any]) -> Any:
    target = _ints(v[1])
    if not attrs.get("allowzero", 0):
        target = [v[0].shape[i] if t == 0 else t for i, t in enumerate(target)]
    return v[0].reshape(target)


def _arith(op: str) -> Callable[[list[Any], dict[str, Any]], Any]:
    import numpy as np

    def run(v: list[Any], attrs: dict[str, Any]) -> Any:
        a, b = v
        if op == "Div" and np.issubdtype(a.dtype, np.integer):
            return np.trunc(a / b).astype(a.dtype)
        return {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op](a, b)

    return run


def _constant_of_shape(v: list[Any], attrs: dict[str, Any]) -> Any:
    import numpy as np
    from onnx import numpy_helper

    value = attrs.get("value")
    fill = numpy_helper.to_array(value).reshape(-1)[0] if value is not None else np.float32(0)
    return np.full(_ints(v[0]), fill)


def _cast(v: list[Any], attrs: dict[str, Any]) -> Any:
    from onnx import helper

    return v[0].astype(helper.tensor_dtype_to_np_dtype(attrs["to"]))


def _numpy(name: str) -> Callable[..., Any]:
    import numpy as np

    function: Callable[..., Any] = getattr(np, name)
    return function


_FOLDERS: dict[str, Callable[[list[Any], dict[str, Any]], Any]] = {
    "Gather": lambda v, a: _numpy("take")(v[0], v[1], axis=a.get("axis", 0)),
    "Concat": lambda v, a: _numpy("concatenate")(v, axis=a["axis"]),
    "Transpose": lambda v, a: _numpy("transpose")(v[0], a.get("perm")),
    "Slice": _slice,
    "Reshape": _reshape,
    "Cast": _cast,
    "ConstantOfShape": _constant_of_shape,
    "Add": _arith("Add"),
    "Sub": _arith("Sub"),
    "Mul": _arith("Mul"),
    "Div": _arith("Div"),
}
#: The ops :func:`fold` computes (``Shape`` and ``Unsqueeze``/``Squeeze`` too).
FOLDABLE = frozenset(_FOLDERS) | {"Shape", "Unsqueeze", "Squeeze"}


def fold(
    op: str,
    ins: Sequence[str],
    attrs: dict[str, Any],
    shapes: dict[str, tuple[int, ...]],
    constants: dict[str, Any],
) -> Any | None:
    """Compute a plumbing node whose inputs are all known; None when it is a layer.

    ``Shape`` needs only its input's shape; the others need every input
    constant (an initializer, a ``Constant``, or a node folded before).
    """
    import numpy as np

    if op == "Shape":
        start, end = attrs.get("start", 0), attrs.get("end")
        return np.array(shapes[ins[0]][start:end], dtype=np.int64)
    if op not in FOLDABLE or not ins or any(name not in constants for name in ins):
        return None
    values = [constants[name] for name in ins]
    if op == "Unsqueeze":
        return _unsqueeze(values[0], _axes(attrs, ins, constants))
    if op == "Squeeze":
        axes = _axes(attrs, ins, constants)
        return np.squeeze(values[0], axis=tuple(axes) if axes else None)
    return np.asarray(_FOLDERS[op](values, attrs))
