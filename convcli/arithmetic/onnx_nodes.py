"""What each ONNX node does to shapes, parameters, MACs and the receptive field.

Pure Python at import time; the ``onnx`` package (and so numpy) is used
only through the arrays :mod:`.onnx_model` hands in. One function per kind
of node, chosen from :data:`HANDLERS`; each gets a :class:`Node` (its input
shapes, attributes, the field it inherits) and returns a :class:`NodeOut`.
Window nodes go through :func:`~convcli.arithmetic.effect.layer_effect`,
as every other reader's layers do.

Examples
--------
>>> node = Node("Relu", "node 1 (Relu)", ["x"], {}, {"x": (1, 3, 8, 8)}, {}, 13, ((1, 1), (1, 1)))
>>> HANDLERS["Relu"](node).shape
(1, 3, 8, 8)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..errors import ShapeError
from .counts import linear_macs
from .effect import layer_effect
from .geometry import Geometry
from .padding import split_total
from .spec_format import format_layer
from .spec_words import Layer
from .support import Field, Pair, effective_kernel_size, grow, product

__all__ = ["ELEMENTWISE", "ELEMENTWISE_WORDS", "HANDLERS", "Node", "NodeOut", "broadcast"]

ELEMENTWISE = {
    "Relu",
    "Sigmoid",
    "Tanh",
    "LeakyRelu",
    "Elu",
    "Selu",
    "Gelu",
    "HardSigmoid",
    "HardSwish",
    "Softplus",
    "Softmax",
    "LogSoftmax",
    "Clip",
    "Dropout",
    "Identity",
    "Cast",
    "PRelu",
    "LRN",
}
#: the spec language's words for ONNX's activations (others: the op in lower case)
ELEMENTWISE_WORDS = {
    "LeakyRelu": "leakyrelu",
    "HardSigmoid": "hardsigmoid",
    "HardSwish": "hardswish",
    "LogSoftmax": "logsoftmax",
    "PRelu": "prelu",
}
_BROADCAST = {"Add", "Sub", "Mul", "Div", "Sum", "Max", "Min"}


@dataclass
class Node:
    """One node as a handler sees it.

    Attributes
    ----------
    op, where : str
        The op type, and how messages name the node (``node 3 (Conv 'c1')``).
    ins : list of str
        The names of its (non-empty) inputs.
    attrs : dict
        Its attributes, as ``onnx.helper.get_attribute_value`` reads them.
    shapes, constants : dict
        Every known tensor's shape, and the arrays of initializers and
        constants, by name.
    opset : int
        The model's default-domain opset.
    field : (rf, jump)
        The receptive field the node inherits from its inputs.
    known : list of (rf, jump)
        The fields of each of its inputs that has one.
    raw : list of str
        All its inputs by position, an omitted optional one as ``""``.
    weights : set of str
        The names of the graph's initializers (and of names an ``Identity``
        passed them on as): an ``Add``/``Mul`` with one of them has a
        parameter (a bias, a scale); with a ``Constant`` it has none.
    """

    op: str
    where: str
    ins: list[str]
    attrs: dict[str, Any]
    shapes: dict[str, tuple[int, ...]]
    constants: dict[str, Any]
    opset: int
    field: Field
    known: list[Field] | None = None
    weights: set[str] | None = None
    raw: list[str] | None = None

    @property
    def x(self) -> tuple[int, ...]:
        """The first input's shape."""
        return self.shapes[self.ins[0]]

    def initializer_size(self, names: Sequence[str]) -> int:
        """The values of those of ``names`` that are initializers or constants."""
        return sum(product(self.shapes[name]) for name in names if name in self.constants)


@dataclass
class NodeOut:
    """A node's output shape, parameters, MACs, receptive field, and its row's words.

    ``kind`` and ``config`` name the node as the spec language names the
    layer it is (``conv``, ``conv 8 k3 s1 p1 nobias``), so that a model's
    table reads the same from ONNX as from its other forms; empty, the row
    takes the op's name in lower case.
    """

    shape: tuple[int, ...]
    params: int = 0
    macs: int = 0
    field: Field = (None, None)
    config: str = ""
    ceil_pool: bool = False
    kind: str = ""


def broadcast(shapes: Sequence[tuple[int, ...]], where: str) -> tuple[int, ...]:
    """NumPy's broadcasting of ``shapes``, or a ShapeError naming ``where``."""
    rank = max(len(s) for s in shapes)
    out = []
    for axis in range(rank):
        sizes = {s[axis - rank + len(s)] for s in shapes if axis - rank + len(s) >= 0} - {1}
        if len(sizes) > 1:
            raise ShapeError(f"{where}: shapes {list(shapes)} do not broadcast")
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def _onnx_ceil_pool_size(n: int, k: int, s: int, pads: Pair, d: int) -> int:
    """ONNX's ceil-mode pooling size before opset 22: round up, keep every window."""
    return -(-(n + pads[0] + pads[1] - effective_kernel_size(k, d)) // s) + 1


def _window_geometry(node: Node) -> tuple[Geometry, Layer]:
    """A Conv/ConvTranspose/pool node's geometry on its input, and its window as a Layer."""
    x, attrs = node.x, node.attrs
    if len(x) != 4:
        raise ShapeError(f"{node.where}: convcli reads 2-D {node.op} (an N×C×H×W input), got {x}")
    _, _, h, w = x
    kernel = tuple(attrs.get("kernel_shape") or node.shapes[node.ins[1]][2:])
    if len(kernel) != 2:
        raise ShapeError(f"{node.where}: a 2-D kernel is needed, got {kernel}")
    kh, kw = kernel
    strides = tuple(attrs.get("strides", (1, 1)))
    dil = tuple(attrs.get("dilations", (1, 1)))
    pads = _pads(node, (h, w), (kh, kw), strides, dil)
    pooling = node.op in ("MaxPool", "AveragePool")
    geo = Geometry(
        (h, w), (kh, kw), (strides[0], strides[1]), (dil[0], dil[1]), pads, pooling=pooling
    )
    window = Layer(
        "window", kernel=(kh, kw), stride=(strides[0], strides[1]), dilation=(dil[0], dil[1])
    )
    return geo, window


def _pads(
    node: Node, size: Pair, kernel: Pair, strides: tuple[int, ...], dil: tuple[int, ...]
) -> tuple[Pair, Pair]:
    """The node's ((top, bottom), (left, right)) padding: ``pads``, or ``auto_pad``'s."""
    auto = node.attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto in ("SAME_UPPER", "SAME_LOWER") and node.op != "ConvTranspose":
        found = []
        for n, k, s, d in zip(size, kernel, strides, dil, strict=True):
            out = -(-n // s)
            small, big = split_total(max((out - 1) * s + effective_kernel_size(k, d) - n, 0))
            found.append((small, big) if auto == "SAME_UPPER" else (big, small))
        return (found[0], found[1])
    if auto == "VALID":
        return ((0, 0), (0, 0))
    p = tuple(node.attrs.get("pads", (0, 0, 0, 0)))
    return ((p[0], p[2]), (p[1], p[3]))


def _text(layer: Layer, geo: Geometry | None = None) -> str:
    """The layer in the spec language, its padding as resolved on its input."""
    return format_layer(layer, None if geo is None else geo.padding)


def _conv(node: Node) -> NodeOut:
    geo, window = _window_geometry(node)
    n, c, _, _ = node.x
    weight = node.shapes[node.ins[1]]
    group = node.attrs.get("group", 1)
    f = weight[0]
    if weight[1] * group != c:
        raise ShapeError(
            f"weight {weight} with group {group} expects {weight[1] * group} "
            f"input channels, got {c}"
        )
    effect = layer_effect(c, geo, "conv", f, groups=group, field=node.field, batch=n)
    layer = replace(window, kind="conv", out=f, groups=group, bias=len(node.ins) > 2)
    params = node.initializer_size(node.ins[1:])
    return NodeOut(
        (n, *effect.shape), params, effect.macs, effect.field, _text(layer, geo), kind="conv"
    )


def _conv_transpose(node: Node) -> NodeOut:
    geo, window = _window_geometry(node)
    n, c, _, _ = node.x
    weight = node.shapes[node.ins[1]]
    group = node.attrs.get("group", 1)
    f = weight[1] * group
    extra = tuple(node.attrs.get("output_padding", (0, 0)))
    out = tuple(node.attrs["output_shape"])[-2:] if "output_shape" in node.attrs else None
    effect = layer_effect(
        c,
        geo,
        "transposed",
        f,
        groups=group,
        output_padding=(extra[0], extra[1]),
        batch=n,
        out=None if out is None else (out[0], out[1]),
    )
    layer = replace(
        window,
        kind="convt",
        out=f,
        groups=group,
        bias=len(node.ins) > 2,
        output_padding=(extra[0], extra[1]),
    )
    params = node.initializer_size(node.ins[1:])
    return NodeOut(
        (n, *effect.shape), params, effect.macs, effect.field, _text(layer, geo), kind="convt"
    )


def _pool(node: Node) -> NodeOut:
    geo, window = _window_geometry(node)
    n, c, _, _ = node.x
    ceil = bool(node.attrs.get("ceil_mode", 0))
    out = None
    if ceil:
        if node.opset < 22:
            out = tuple(
                _onnx_ceil_pool_size(size, k, s, p, d)
                for size, k, s, p, d in zip(
                    geo.size, geo.kernel, geo.stride, geo.padding, geo.dilation, strict=True
                )
            )
        else:
            geo = Geometry(geo.size, geo.kernel, geo.stride, geo.dilation, geo.padding, True, True)
    effect = layer_effect(
        c, geo, "pool", field=node.field, out=None if out is None else (out[0], out[1])
    )
    kind = "maxpool" if node.op == "MaxPool" else "avgpool"
    text = _text(replace(window, kind=kind, ceil_mode=ceil), geo)
    return NodeOut((n, *effect.shape), 0, 0, effect.field, text, ceil_pool=ceil, kind=kind)


def _windowed(node: Node) -> NodeOut:
    try:
        return _WINDOW_OPS[node.op](node)
    except ShapeError as exc:
        if str(exc).startswith(node.where):
            raise
        raise ShapeError(f"{node.where}: {exc}") from None


_WINDOW_OPS: dict[str, Callable[[Node], NodeOut]] = {
    "Conv": _conv,
    "ConvTranspose": _conv_transpose,
    "MaxPool": _pool,
    "AveragePool": _pool,
}


def _global_pool(node: Node) -> NodeOut:
    x = node.x
    if len(x) != 4:
        raise ShapeError(f"{node.where}: needs an N×C×H×W input, got {x}")
    kind = "adaptiveavgpool" if node.op == "GlobalAveragePool" else "adaptivemaxpool"
    field = grow(node.field, (x[2], x[3]), (x[2], x[3]))
    text = _text(Layer(kind, output_size=(1, 1)))
    return NodeOut((x[0], x[1], 1, 1), field=field, config=text, kind=kind)


def _reduce_mean(node: Node) -> NodeOut:
    """``ReduceMean`` over H and W (``x.mean((2, 3))``): a global average pool."""
    x = node.x
    axes = node.attrs.get("axes")
    if node.opset >= 18:
        axes = _constant_input(node, 1, "axes")
    spatial = sorted(a % len(x) for a in axes or []) == [2, 3] and len(x) == 4
    if not spatial:
        raise ShapeError(
            f"{node.where}: reads a mean over H and W of N×C×H×W only, got axes {axes}"
        )
    field = grow(node.field, (x[2], x[3]), (x[2], x[3]))
    if node.attrs.get("keepdims", 1):  # as GlobalAveragePool
        text = _text(Layer("adaptiveavgpool", output_size=(1, 1)))
        return NodeOut((x[0], x[1], 1, 1), field=field, config=text, kind="adaptiveavgpool")
    return NodeOut((x[0], x[1]), field=field, config="mean HxW", kind="mean")


def _gemm(node: Node) -> NodeOut:
    a, b = node.x, node.shapes[node.ins[1]]
    if node.attrs.get("transA", 0):
        a = a[::-1]
    if node.attrs.get("transB", 0):
        b = b[::-1]
    if len(a) != 2 or len(b) != 2 or a[1] != b[0]:
        raise ShapeError(f"{node.where}: cannot multiply {a} by {b}")
    macs = a[0] * linear_macs(a[1], b[1])
    params = node.initializer_size(node.ins)
    text = _text(Layer("linear", b[1], bias=len(node.ins) > 2))
    return NodeOut((a[0], b[1]), params, macs, (None, None), text, kind="linear")


def _matmul(node: Node) -> NodeOut:
    a, b = node.x, node.shapes[node.ins[1]]
    a2 = (1, *a) if len(a) == 1 else a
    b2 = (*b, 1) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        raise ShapeError(f"{node.where}: cannot multiply {a} by {b}")
    batch = broadcast([a2[:-2] or (1,), b2[:-2] or (1,)], node.where)
    full = (*batch, a2[-2], b2[-1])
    macs = product(batch) * a2[-2] * a2[-1] * b2[-1]
    shape = full[-len(max(a, b, key=len)) :] if len(a) > 1 and len(b) > 1 else full
    if len(a) == 1 or len(b) == 1:
        shape = tuple(v for v in full if v != 1) or (1,)
    params = node.initializer_size(node.ins)
    if len(b) == 2 and node.ins[1] in node.constants:  # x @ W: a linear layer without bias
        text = _text(Layer("linear", b[1], bias=False))
        return NodeOut(shape, params, macs, (None, None), text, kind="linear")
    return NodeOut(shape, params, macs, (None, None), "matmul", kind="matmul")


def _batchnorm(node: Node) -> NodeOut:
    return NodeOut(node.x, node.initializer_size(node.ins[1:3]), field=node.field, kind="bn")


def _elementwise(node: Node) -> NodeOut:
    params = node.initializer_size(node.ins[1:]) if node.op == "PRelu" else 0
    return NodeOut(node.x, params, field=node.field, kind=ELEMENTWISE_WORDS.get(node.op, ""))


def _flatten(node: Node) -> NodeOut:
    x = node.x
    axis = node.attrs.get("axis", 1)
    axis = axis + len(x) if axis < 0 else axis
    return NodeOut((product(x[:axis]), product(x[axis:])), field=node.field, kind="flatten")


def _reshape(node: Node) -> NodeOut:
    x = node.x
    if node.ins[1] not in node.constants:
        raise ShapeError(f"{node.where}: the target shape is computed at run time")
    target = [int(v) for v in node.constants[node.ins[1]].reshape(-1)]
    allowzero = node.attrs.get("allowzero", 0)
    target = [x[i] if v == 0 and not allowzero else v for i, v in enumerate(target)]
    if -1 in target:
        known_size = product([v for v in target if v != -1])
        target[target.index(-1)] = product(x) // max(known_size, 1)
    if product(target) != product(x):
        raise ShapeError(f"{node.where}: cannot reshape {x} to {tuple(target)}")
    flat = len(x) > 2 and len(target) == 2 and target[0] == x[0]  # x.view(N, -1)
    return NodeOut(tuple(target), field=node.field, kind="flatten" if flat else "reshape")


def _broadcast_op(node: Node) -> NodeOut:
    shape = broadcast([node.shapes[name] for name in node.ins], node.where)
    field = node.field
    known = node.known or []
    if field[1] is not None and len(known) > 1 and len({f[1] for f in known}) > 1:
        field = (None, None)
    weights = node.weights or set()
    params = sum(product(node.shapes[name]) for name in node.ins if name in weights)
    kind = node.op.lower()
    if params and node.op in ("Add", "Mul"):
        kind = "bias" if node.op == "Add" else "scale"
    return NodeOut(shape, params, field=field, kind=kind)


def _concat(node: Node) -> NodeOut:
    x = node.x
    axis = node.attrs["axis"]
    parts = [node.shapes[name] for name in node.ins]
    axis = axis + len(x) if axis < 0 else axis
    shape = tuple(sum(p[axis] for p in parts) if i == axis else v for i, v in enumerate(x))
    return NodeOut(shape, field=node.field, kind="concat")


def _constant_input(node: Node, index: int, what: str) -> list[Any] | None:
    """The values of input ``index`` when it is given; a ShapeError when computed at run time."""
    raw = node.raw if node.raw is not None else node.ins
    if len(raw) <= index or not raw[index]:
        return None
    name = raw[index]
    if name not in node.constants:
        raise ShapeError(f"{node.where}: the {what} is computed at run time")
    return [v.item() for v in node.constants[name].reshape(-1)]


def _pad(node: Node) -> NodeOut:
    """``Pad``: each axis grows by its (before, after); the field is unchanged."""
    x = node.x
    pads = _constant_input(node, 1, "padding")
    if pads is None:
        pads = list(node.attrs.get("pads", [0] * 2 * len(x)))
    axes = _constant_input(node, 3, "axes") or list(range(len(x)))
    half = len(pads) // 2
    shape = list(x)
    for i, axis in enumerate(axes):
        shape[axis] += int(pads[i]) + int(pads[i + half])
    mode = node.attrs.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    config = f"pad {mode} " + ",".join(str(int(p)) for p in pads)
    return NodeOut(tuple(shape), field=node.field, config=config, kind="pad")


def _resize(node: Node) -> NodeOut:
    """``Resize``/``Upsample``: sizes given, or each axis times its scale, rounded down."""
    x = node.x
    scales: list[Any] | None
    sizes: list[Any] | None = None
    if node.op == "Upsample":
        scales = _constant_input(node, 1, "scale") or list(node.attrs.get("scales", []))
    else:
        scales = _constant_input(node, 1 if node.opset < 11 else 2, "scale")
        sizes = None if node.opset < 11 else _constant_input(node, 3, "size")
    if sizes:
        shape = tuple(int(v) for v in sizes)
    elif scales:
        shape = tuple(int(n * s) for n, s in zip(x, scales, strict=True))
    else:
        raise ShapeError(f"{node.where}: no scales and no sizes")
    mode = node.attrs.get("mode", b"nearest")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    factor = "x".join(f"{s:g}" for s in scales[2:]) if scales and not sizes else ""
    return NodeOut(
        shape, field=(None, None), config=f"resize {mode} {factor}".strip(), kind="resize"
    )


HANDLERS: dict[str, Callable[[Node], NodeOut]] = {
    "Pad": _pad,
    "Resize": _resize,
    "Upsample": _resize,
    **dict.fromkeys(_WINDOW_OPS, _windowed),
    "GlobalAveragePool": _global_pool,
    "GlobalMaxPool": _global_pool,
    "ReduceMean": _reduce_mean,
    "Gemm": _gemm,
    "MatMul": _matmul,
    "BatchNormalization": _batchnorm,
    **dict.fromkeys(ELEMENTWISE, _elementwise),
    "Flatten": _flatten,
    "Reshape": _reshape,
    **dict.fromkeys(_BROADCAST, _broadcast_op),
    "Concat": _concat,
}
