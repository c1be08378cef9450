"""An ONNX model file analysed layer by layer, as ``convcli shape model.onnx`` shows it.

This module imports nothing heavy at import time: the ``onnx`` package (an
extra, ``pip install '.[onnx]'``; it brings numpy) is imported inside
:func:`analyze_onnx`. Sizes come from :mod:`convcli.arithmetic.sizes` and
counts from :mod:`convcli.arithmetic.counts`, as for the spec language; what
each node does is in :mod:`.onnx_nodes`.

Supported nodes: ``Conv``, ``ConvTranspose``, ``MaxPool``, ``AveragePool``,
``GlobalAveragePool``, ``GlobalMaxPool``, ``ReduceMean`` over H and W, ``Gemm``, ``MatMul``,
``BatchNormalization``, ``Pad``, ``Resize``/``Upsample``, and shape-only
nodes (activations, ``Dropout``, ``Identity``, ``Flatten``, ``Reshape``,
``Add``/``Sub``/``Mul``/``Div``, ``Concat``, ``Constant``); the exporters'
shape plumbing (``Shape``, ``Gather``, ``Unsqueeze``, ``Concat``,
``Slice``, ``Cast``... of known values) is folded to constants
(:mod:`.onnx_fold`) and shows no row. Parameters are the sizes of a node's
initializer inputs, except BatchNormalization's running mean and variance
(buffers, as PyTorch counts). Shapes keep the model's axes (N, C, H, W).
The receptive field follows the main path: a node with several inputs takes
the largest field of its inputs.

Pooling with ``ceil_mode`` depends on the opset: ONNX before opset 22 keeps a
last window that starts in the right padding (n = 5, k = 2, s = 2, pad 1 →
4); opset 22 drops it, as PyTorch does (→ 3). The model's opset decides, and
the summary's ``notes`` say which rule was used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ConvcliError, ShapeError, install_hint
from .onnx_fold import FOLDABLE, fold
from .onnx_nodes import HANDLERS, Node
from .summary import LayerRow, NetworkSummary
from .support import Field

__all__ = ["ONNX_MISSING", "UnboundDimensionError", "analyze_onnx"]

#: The message when the onnx package is not installed.
ONNX_MISSING = f"reading an ONNX model needs the onnx package: {install_hint('onnx')}"


class UnboundDimensionError(ShapeError):
    """A symbolic dimension other than the batch axis, not bound by ``dims``: a usage problem."""


#: Nodes that only pass a value on: on an initializer or constant they are
#: plumbing (the exporter's way of sharing a tensor), not a layer.
_PASS_THROUGH = ("Identity", "Cast")


def _attrs(node: Any) -> dict[str, Any]:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _load(path: str) -> Any:
    """The model, or a ConvcliError saying why it cannot be read."""
    try:
        import onnx
    except ImportError:
        raise ConvcliError(ONNX_MISSING) from None
    try:
        return onnx.load(path)
    except (OSError, ValueError, onnx.onnx_cpp2py_export.checker.ValidationError) as exc:
        raise ConvcliError(f"{path}: cannot read the ONNX model: {exc}") from None
    except Exception as exc:  # protobuf's DecodeError and friends
        raise ConvcliError(f"{path}: not an ONNX model ({type(exc).__name__})") from None


def _bind_inputs(
    path: str, inputs: list[Any], dims: Mapping[str, int], shapes: dict[str, tuple[int, ...]]
) -> str | None:
    """Put each graph input's shape in ``shapes``, its symbolic dimensions bound by ``dims``.

    A symbolic leading (batch) axis that ``dims`` does not bind is counted
    as 1; its name is returned. Any other unbound symbolic dimension is an
    :class:`UnboundDimensionError`.
    """
    unbound: list[str] = []
    batch: str | None = None
    for value in inputs:
        given: list[int] = []
        for axis, d in enumerate(value.type.tensor_type.shape.dim):
            if d.HasField("dim_value"):
                given.append(d.dim_value)
            elif d.dim_param in dims:
                given.append(dims[d.dim_param])
            elif axis == 0:
                batch = batch or d.dim_param or "N"
                given.append(1)
            else:
                unbound.append(d.dim_param or "?")
                given.append(1)
        shapes[value.name] = tuple(given)
    if unbound:
        names = sorted(set(unbound))
        raise UnboundDimensionError(
            f"{path}: the input has symbolic dimension(s) {', '.join(names)}: "
            f"give --dim {names[0]}=N (e.g. --dim {names[0]}=224)"
        )
    return batch


def _inherited(known: list[Field]) -> Field:
    """The field a node takes from its inputs: the first one's, the largest rf of several."""
    rf, jump = known[0] if known else (None, None)
    if any(f[0] is None for f in known):
        return None, None
    if len(known) > 1:
        rf = (max(f[0][0] for f in known), max(f[0][1] for f in known))  # type: ignore[index]
    return rf, jump


def _notes(opset: int, ceil_pools: bool, batch: str | None) -> tuple[str, ...]:
    notes = []
    if batch is not None:
        notes.append(
            f"{batch} is symbolic (the batch): MACs and memory are counted for {batch} = 1 "
            f"(--dim {batch}=8 counts a batch of 8)"
        )
    if ceil_pools:
        rule = (
            "a last window starting in the right padding is kept (ONNX before opset 22)"
            if opset < 22
            else "a last window starting in the right padding is dropped (opset 22, as PyTorch)"
        )
        notes.append(f"opset {opset}: ceil_mode pooling sizes follow the model's opset: {rule}")
    return tuple(notes)


def _keeps_batch(op: str, info: Node, shape: tuple[int, ...]) -> bool:
    """Whether a node's output keeps its first input's leading (batch) axis."""
    if not shape or not info.x or shape[0] != info.x[0]:
        return False
    if op == "Reshape":
        target = info.constants.get(info.ins[1])
        return target is not None and int(target.reshape(-1)[0]) in (0, -1)
    if op == "Concat":
        axis = info.attrs.get("axis", 0)
        return (axis + len(info.x) if axis < 0 else axis) != 0
    return True


def analyze_onnx(path: str, dims: Mapping[str, int] | None = None) -> NetworkSummary:
    """Read an ONNX model and analyse each node: shapes, parameters, MACs, receptive field.

    Parameters
    ----------
    path : str
        The ``.onnx`` file.
    dims : mapping of str to int, optional
        Values for the input's symbolic dimensions (``{"N": 1}``).

    Returns
    -------
    NetworkSummary
        One row per node (Constant nodes excepted), in the graph's order;
        ``input_shape`` is the first graph input's shape; ``notes`` name the
        opset and the pooling rule it implies when a pool uses ``ceil_mode``.

    Raises
    ------
    ConvcliError
        Without the onnx package (:data:`ONNX_MISSING`), or for a file onnx
        cannot read.
    ShapeError
        For an unbound symbolic dimension, an unsupported node, or shapes
        that do not fit; the message names the node.

    Examples
    --------
    >>> analyze_onnx("lenet.onnx", {"N": 1}).total_params  # doctest: +SKIP
    61706
    """
    model = _load(path)
    import onnx
    from onnx import numpy_helper

    opset = next(
        (o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
        onnx.defs.onnx_opset_version(),
    )
    graph = model.graph
    constants: dict[str, Any] = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    shapes: dict[str, tuple[int, ...]] = {n: tuple(a.shape) for n, a in constants.items()}
    inputs = [i for i in graph.input if i.name not in constants]
    if not inputs:
        raise ShapeError(f"{path}: the graph has no input")
    batch = _bind_inputs(path, inputs, dict(dims or {}), shapes)
    fields: dict[str, Field] = {value.name: ((1, 1), (1, 1)) for value in inputs}
    batched = {value.name for value in inputs} if batch else set()
    weights = set(constants)  # the graph's initializers, and names passed them on
    sized: set[str] = set()  # constants computed from a batched tensor's Shape
    rows: list[LayerRow] = []
    ceil_pools = False
    for number, node in enumerate(graph.node, 1):
        op = node.op_type
        where = f"node {number} ({op} {node.name!r})" if node.name else f"node {number} ({op})"
        attrs = _attrs(node)
        if op == "Constant":
            value = attrs.get("value")
            if value is not None:
                array = numpy_helper.to_array(value)
                constants[node.output[0]] = array
                shapes[node.output[0]] = tuple(array.shape)
            continue
        ins = [name for name in node.input if name]
        missing = [name for name in ins if name not in shapes]
        if missing:
            raise ShapeError(f"{where}: unknown input {missing[0]!r}")
        if op in FOLDABLE and (value := fold(op, ins, attrs, shapes, constants)) is not None:
            for name in node.output[:1]:  # shape plumbing: a constant, not a layer
                constants[name], shapes[name] = value, tuple(value.shape)
                if op == "Cast" and ins[0] in weights:
                    weights.add(name)
                if (op == "Shape" and ins[0] in batched) or any(i in sized for i in ins):
                    sized.add(name)  # holds the batch's size: a Reshape to it keeps N
            continue
        if op in _PASS_THROUGH and ins and ins[0] in constants:
            for name in node.output[:1]:  # a shared initializer passed on: no layer
                constants[name], shapes[name] = constants[ins[0]], shapes[ins[0]]
                if ins[0] in weights:
                    weights.add(name)
            continue
        handler = HANDLERS.get(op)
        if handler is None:
            raise ShapeError(
                f"{where}: convcli does not know the {op} node (it reads Conv, ConvTranspose, "
                "pooling, Gemm, MatMul, BatchNormalization and shape-only nodes)"
            )
        known = [fields[name] for name in ins if name in fields]
        info = Node(op, where, ins, attrs, shapes, constants, opset, _inherited(known), known)
        info.weights, info.raw = weights, list(node.input)
        out = handler(info)
        ceil_pools |= out.ceil_pool
        keeps = _keeps_batch(op, info, out.shape) or (op == "Reshape" and ins[1] in sized)
        label = batch if ins[0] in batched and keeps else None
        for name in node.output[:1]:
            shapes[name] = out.shape
            fields[name] = out.field
            if label:
                batched.add(name)
        config = f"{op} {out.config}".strip()
        rows.append(
            LayerRow.of_layer(
                str(number), 0, op, config, out.shape, out.params, out.macs, out.field, label
            )
        )
    input_shape = shapes[inputs[0].name]
    return NetworkSummary(input_shape, tuple(rows), _notes(opset, ceil_pools, batch), batch)
