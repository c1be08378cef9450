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
from .lifetimes import Step, peak_live
from .onnx_fold import FOLDABLE, fold
from .onnx_nodes import HANDLERS, Node, NodeOut
from .summary import LayerRow, NetworkSummary
from .support import Field, product

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
    path: str,
    inputs: list[Any],
    dims: Mapping[str, int],
    shapes: dict[str, tuple[int, ...]],
    size: tuple[int, int] | None = None,
) -> str | None:
    """Put each graph input's shape in ``shapes``, its symbolic dimensions bound by ``dims``.

    ``size`` (``--in``) gives the first input's height and width: it binds
    them where they are symbolic and must agree where the model fixes them.
    A symbolic leading (batch) axis that ``dims`` does not bind is counted
    as 1; its name is returned. Any other unbound symbolic dimension is an
    :class:`UnboundDimensionError`.
    """
    unbound: list[str] = []
    batch: str | None = None
    for number, value in enumerate(inputs):
        given: list[int] = []
        axes = value.type.tensor_type.shape.dim
        for axis, d in enumerate(axes):
            wanted = (
                size[axis - 2] if size and number == 0 and len(axes) == 4 and axis >= 2 else None
            )
            fixed_size = size or (0, 0)
            if d.HasField("dim_value"):
                if wanted is not None and wanted != d.dim_value:
                    fixed = "×".join(str(v.dim_value or v.dim_param) for v in axes[2:])
                    raise UnboundDimensionError(
                        f"{path}: the model's input is {fixed}; --in {fixed_size[0]} {fixed_size[1]} "
                        "cannot change it (its layers were exported for that size)"
                    )
                given.append(d.dim_value)
            elif wanted is not None:
                given.append(wanted)
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
            f"give --in H W or --dim {names[0]}=N (e.g. --dim {names[0]}=224)"
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


def analyze_onnx(
    path: str, dims: Mapping[str, int] | None = None, size: tuple[int, int] | None = None
) -> NetworkSummary:
    """Read an ONNX model and analyse each node: shapes, parameters, MACs, receptive field.

    Parameters
    ----------
    path : str
        The ``.onnx`` file.
    dims : mapping of str to int, optional
        Values for the input's symbolic dimensions (``{"N": 1}``).
    size : (H, W), optional
        The input's height and width (``--in``), where the model leaves
        them symbolic; a model that fixes them must agree.

    Returns
    -------
    NetworkSummary
        One row per layer in the graph's order, numbered from 1 and named in
        the spec language (``conv 8 k3 s1 p1``, ``fc 10``, ``relu``), as
        every other model reader names them; a ``MatMul`` by a weight and
        the ``Add`` of its bias make one ``fc`` row. ``input_shape`` is the
        first graph input's shape; ``notes`` name the opset and the pooling
        rule it implies when a pool uses ``ceil_mode``; ``peak`` is the
        activation memory from the tensors' lifetimes in the graph.

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
    reading = _Reading(opset, constants)
    inputs = [i for i in graph.input if i.name not in constants]
    if not inputs:
        raise ShapeError(f"{path}: the graph has no input")
    batch = _bind_inputs(path, inputs, dict(dims or {}), reading.shapes, size)
    reading.start([value.name for value in inputs], batch, graph.node)
    for number, node in enumerate(graph.node, 1):
        reading.node(number, node)
    outputs = [value.name for value in graph.output]
    peak = peak_live(reading.steps, outputs)
    notes = _notes(opset, reading.ceil_pools, batch)
    return NetworkSummary(
        reading.shapes[inputs[0].name], tuple(reading.rows), notes, batch, peak=peak
    )


class _Reading:
    """The graph read node by node: known shapes and constants, rows, tensor lifetimes."""

    def __init__(self, opset: int, constants: dict[str, Any]) -> None:
        self.opset = opset
        self.constants = constants
        self.shapes: dict[str, tuple[int, ...]] = {n: tuple(a.shape) for n, a in constants.items()}
        self.weights = set(constants)  # the graph's initializers, and names passed them on
        self.sized: set[str] = set()  # constants computed from a batched tensor's Shape
        self.fields: dict[str, Field] = {}
        self.batched: set[str] = set()
        self.batch: str | None = None
        self.rows: list[LayerRow] = []
        self.row_outputs: list[str] = []
        self.steps: list[Step] = []
        self.uses: dict[str, int] = {}
        self.ceil_pools = False

    def start(self, inputs: list[str], batch: str | None, nodes: Any) -> None:
        """Take the graph inputs (the receptive field starts there) and count each value's uses."""
        self.batch = batch
        for name in inputs:
            self.fields[name] = ((1, 1), (1, 1))
            self.steps.append(Step(name, product(self.shapes[name]), ()))
        self.batched = set(inputs) if batch else set()
        for node in nodes:
            for name in node.input:
                self.uses[name] = self.uses.get(name, 0) + 1

    def node(self, number: int, node: Any) -> None:
        """Read one node: a constant, shape plumbing, a value passed on, or a row."""
        op = node.op_type
        where = f"node {number} ({op} {node.name!r})" if node.name else f"node {number} ({op})"
        attrs = _attrs(node)
        if op == "Constant":
            value = attrs.get("value")
            if value is not None:
                self.constant(node.output[0], value)
            return
        ins = [name for name in node.input if name]
        missing = [name for name in ins if name not in self.shapes]
        if missing:
            raise ShapeError(f"{where}: unknown input {missing[0]!r}")
        if self.folded(op, ins, attrs, node.output[:1]):
            return
        handler = HANDLERS.get(op)
        if handler is None:
            raise ShapeError(
                f"{where}: convcli does not know the {op} node (it reads Conv, ConvTranspose, "
                "pooling, Gemm, MatMul, BatchNormalization and shape-only nodes)"
            )
        known = [self.fields[name] for name in ins if name in self.fields]
        info = Node(
            op, where, ins, attrs, self.shapes, self.constants, self.opset, _inherited(known)
        )
        info.known = known
        info.weights, info.raw = self.weights, list(node.input)
        self.row(op, info, handler(info), node.output[:1])

    def constant(self, name: str, value: Any) -> None:
        """A ``Constant`` node's value."""
        from onnx import numpy_helper

        array = numpy_helper.to_array(value)
        self.constants[name], self.shapes[name] = array, tuple(array.shape)

    def folded(self, op: str, ins: list[str], attrs: dict[str, Any], outs: Any) -> bool:
        """Fold shape plumbing and shared initializers passed on: True when the node makes no row."""
        if (
            op in FOLDABLE
            and (value := fold(op, ins, attrs, self.shapes, self.constants)) is not None
        ):
            for name in outs:  # shape plumbing: a constant, not a layer
                self.constants[name], self.shapes[name] = value, tuple(value.shape)
                if op == "Cast" and ins[0] in self.weights:
                    self.weights.add(name)
                if (op == "Shape" and ins[0] in self.batched) or any(i in self.sized for i in ins):
                    self.sized.add(name)  # holds the batch's size: a Reshape to it keeps N
            return True
        if op in _PASS_THROUGH and ins and ins[0] in self.constants:
            for name in outs:  # a shared initializer passed on: no layer
                self.constants[name], self.shapes[name] = (
                    self.constants[ins[0]],
                    self.shapes[ins[0]],
                )
                if ins[0] in self.weights:
                    self.weights.add(name)
            return True
        return False

    def row(self, op: str, info: Node, out: NodeOut, outs: Any) -> None:
        """Record a node's output and its row (a bias joins the ``fc`` row of its MatMul)."""
        ins = info.ins
        self.ceil_pools |= out.ceil_pool
        keeps = _keeps_batch(op, info, out.shape) or (op == "Reshape" and ins[1] in self.sized)
        label = self.batch if ins[0] in self.batched and keeps else None
        for name in outs:
            self.shapes[name] = out.shape
            self.fields[name] = out.field
            if label:
                self.batched.add(name)
            live = tuple(i for i in ins if i in self.fields)
            self.steps.append(Step(name, product(out.shape), live))
        if self.bias_of_last(out, ins):
            last = self.rows[-1]
            config = last.config.removesuffix(" nobias")
            self.rows[-1] = LayerRow.of_layer(
                last.index, 0, last.kind, config, out.shape, last.params + out.params,
                last.macs, (last.rf, last.jump), label,
            )  # fmt: skip
            self.row_outputs[-1] = outs[0] if outs else ""
            return
        kind = out.kind or op.lower()
        index = str(len(self.rows) + 1)
        self.rows.append(
            LayerRow.of_layer(
                index,
                0,
                kind,
                out.config or kind,
                out.shape,
                out.params,
                out.macs,
                out.field,
                label,
            )
        )
        self.row_outputs.append(outs[0] if outs else "")

    def bias_of_last(self, out: NodeOut, ins: list[str]) -> bool:
        """Whether this node adds a bias to the last row's ``x @ W`` alone (and nothing else uses it)."""
        if out.kind != "bias" or not self.rows or len(ins) != 2:
            return False
        last = self.rows[-1]
        made = self.row_outputs[-1]
        if not last.config.endswith(" nobias") or last.kind != "linear" or made not in ins:
            return False
        other = ins[1] if ins[0] == made else ins[0]
        return self.uses.get(made) == 1 and product(self.shapes[other]) == out.shape[-1]
