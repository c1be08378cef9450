"""An ONNX model file analysed layer by layer, as ``convcli shape model.onnx`` shows it.

This module imports nothing heavy at import time: the ``onnx`` package (an
extra, ``pip install '.[onnx]'``; it brings numpy) is imported inside
:func:`analyze_onnx`. Sizes come from :mod:`convcli.arithmetic.sizes` and
counts from :mod:`convcli.arithmetic.counts`, as for the spec language.

Supported nodes: ``Conv``, ``ConvTranspose``, ``MaxPool``, ``AveragePool``,
``GlobalAveragePool``, ``GlobalMaxPool``, ``Gemm``, ``MatMul``,
``BatchNormalization``, and shape-only nodes (activations, ``Dropout``,
``Identity``, ``Flatten``, ``Reshape``, ``Add``/``Sub``/``Mul``/``Div``,
``Concat``, ``Constant``). Parameters are the sizes of a node's
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

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ConvcliError, ShapeError, install_hint
from .counts import conv_macs, linear_macs, transposed_conv_macs
from .network import LayerRow, NetworkSummary
from .sizes import output_size, pool_output_size, transposed_output_size

__all__ = ["ONNX_MISSING", "analyze_onnx"]

#: The message when the onnx package is not installed.
ONNX_MISSING = f"reading an ONNX model needs the onnx package: {install_hint('onnx')}"

Pair = tuple[int, int]
_ELEMENTWISE = {
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
_BROADCAST = {"Add", "Sub", "Mul", "Div", "Sum", "Max", "Min"}


def _attrs(node: Any) -> dict[str, Any]:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _size(shape: Sequence[int]) -> int:
    return math.prod(shape)


def _broadcast(shapes: Sequence[tuple[int, ...]], where: str) -> tuple[int, ...]:
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
    span = d * (k - 1) + 1
    return -(-(n + pads[0] + pads[1] - span) // s) + 1


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
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise ConvcliError(ONNX_MISSING) from None
    dims = dict(dims or {})
    try:
        model = onnx.load(path)
    except (OSError, ValueError, onnx.onnx_cpp2py_export.checker.ValidationError) as exc:
        raise ConvcliError(f"{path}: cannot read the ONNX model: {exc}") from None
    except Exception as exc:  # protobuf's DecodeError and friends
        raise ConvcliError(f"{path}: not an ONNX model ({type(exc).__name__})") from None
    opset = next(
        (o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
        onnx.defs.onnx_opset_version(),
    )
    graph = model.graph
    constants: dict[str, Any] = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    shapes: dict[str, tuple[int, ...]] = {n: tuple(a.shape) for n, a in constants.items()}
    fields: dict[str, tuple[Pair | None, Pair | None]] = {}
    inputs = [i for i in graph.input if i.name not in constants]
    if not inputs:
        raise ShapeError(f"{path}: the graph has no input")
    unbound: list[str] = []
    for value in inputs:
        given: list[int] = []
        for d in value.type.tensor_type.shape.dim:
            if d.HasField("dim_value"):
                given.append(d.dim_value)
            elif d.dim_param in dims:
                given.append(dims[d.dim_param])
            else:
                unbound.append(d.dim_param or "?")
                given.append(1)
        shapes[value.name] = tuple(given)
        fields[value.name] = ((1, 1), (1, 1))
    if unbound:
        names = sorted(set(unbound))
        raise ShapeError(
            f"{path}: the input has symbolic dimension(s) {', '.join(names)}: "
            f"give --dim {names[0]}=1"
        )
    input_shape = shapes[inputs[0].name]
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
        x = shapes[ins[0]]
        known = [fields[name] for name in ins if name in fields]
        rf, jump = known[0] if known else (None, None)
        if any(f[0] is None for f in known):
            rf = jump = None
        elif len(known) > 1:
            rf = (max(f[0][0] for f in known), max(f[0][1] for f in known))  # type: ignore[index]
        params = macs = 0
        config = ""
        if op in ("Conv", "ConvTranspose", "MaxPool", "AveragePool"):
            if len(x) != 4:
                raise ShapeError(f"{where}: convcli reads 2-D {op} (an N×C×H×W input), got {x}")
            n, c, h, w = x
            kernel = tuple(attrs.get("kernel_shape") or shapes[ins[1]][2:])
            if len(kernel) != 2:
                raise ShapeError(f"{where}: a 2-D kernel is needed, got {kernel}")
            kh, kw = kernel
            strides = tuple(attrs.get("strides", (1, 1)))
            dil = tuple(attrs.get("dilations", (1, 1)))
            pads_attr = tuple(attrs.get("pads", (0, 0, 0, 0)))
            auto = attrs.get("auto_pad", b"NOTSET")
            auto = auto.decode() if isinstance(auto, bytes) else auto
            if auto in ("SAME_UPPER", "SAME_LOWER") and op != "ConvTranspose":
                pads_list = []
                for size, k, s, d in ((h, kh, strides[0], dil[0]), (w, kw, strides[1], dil[1])):
                    out = -(-size // s)
                    total = max((out - 1) * s + d * (k - 1) + 1 - size, 0)
                    small, big = total // 2, total - total // 2
                    pads_list.append((small, big) if auto == "SAME_UPPER" else (big, small))
                pads = (pads_list[0], pads_list[1])
            elif auto == "VALID":
                pads = ((0, 0), (0, 0))
            else:
                pads = ((pads_attr[0], pads_attr[2]), (pads_attr[1], pads_attr[3]))
            config = f"{_pair_text('k', (kh, kw))} {_pair_text('s', strides)} {_pads_text(pads)}"
            if dil != (1, 1):
                config += f" {_pair_text('d', dil)}"
            try:
                if op == "Conv":
                    weight = shapes[ins[1]]
                    group = attrs.get("group", 1)
                    f = weight[0]
                    if weight[1] * group != c:
                        raise ShapeError(
                            f"weight {weight} with group {group} expects {weight[1] * group} "
                            f"input channels, got {c}"
                        )
                    oh = output_size(h, kh, strides[0], pads[0], dil[0])
                    ow = output_size(w, kw, strides[1], pads[1], dil[1])
                    macs = n * conv_macs((oh, ow), c, f, (kh, kw), group)
                    params = sum(_size(shapes[name]) for name in ins[1:] if name in constants)
                    shape: tuple[int, ...] = (n, f, oh, ow)
                    config = f"{f} {config}" + (f" g{group}" if group != 1 else "")
                    span = (dil[0] * (kh - 1) + 1, dil[1] * (kw - 1) + 1)
                    rf, jump = _grow(rf, jump, span, (strides[0], strides[1]))
                elif op == "ConvTranspose":
                    weight = shapes[ins[1]]
                    group = attrs.get("group", 1)
                    f = weight[1] * group
                    extra = tuple(attrs.get("output_padding", (0, 0)))
                    if "output_shape" in attrs:
                        oh, ow = tuple(attrs["output_shape"])[-2:]
                    else:
                        oh = transposed_output_size(h, kh, strides[0], pads[0], dil[0], extra[0])
                        ow = transposed_output_size(w, kw, strides[1], pads[1], dil[1], extra[1])
                    macs = n * transposed_conv_macs((h, w), c, f, (kh, kw), group)
                    params = sum(_size(shapes[name]) for name in ins[1:] if name in constants)
                    shape = (n, f, oh, ow)
                    config = f"{f} {config}" + (f" op{extra[0]}x{extra[1]}" if any(extra) else "")
                    rf = jump = None
                else:
                    ceil = bool(attrs.get("ceil_mode", 0))
                    sizes = []
                    for size, k, s, p, d in (
                        (h, kh, strides[0], pads[0], dil[0]),
                        (w, kw, strides[1], pads[1], dil[1]),
                    ):
                        if ceil and opset < 22:
                            sizes.append(_onnx_ceil_pool_size(size, k, s, p, d))
                        elif d == 1:
                            sizes.append(pool_output_size(size, k, s, p, ceil))
                        else:
                            sizes.append(output_size(size, k, s, p, d))
                    if ceil:
                        ceil_pools = True
                        config += " ceil"
                    shape = (n, c, sizes[0], sizes[1])
                    span = (dil[0] * (kh - 1) + 1, dil[1] * (kw - 1) + 1)
                    rf, jump = _grow(rf, jump, span, (strides[0], strides[1]))
            except ShapeError as exc:
                raise ShapeError(f"{where}: {exc}") from None
        elif op in ("GlobalAveragePool", "GlobalMaxPool"):
            if len(x) != 4:
                raise ShapeError(f"{where}: needs an N×C×H×W input, got {x}")
            shape = (x[0], x[1], 1, 1)
            rf, jump = _grow(rf, jump, (x[2], x[3]), (x[2], x[3]))
        elif op == "Gemm":
            a, b = x, shapes[ins[1]]
            if attrs.get("transA", 0):
                a = a[::-1]
            if attrs.get("transB", 0):
                b = b[::-1]
            if len(a) != 2 or len(b) != 2 or a[1] != b[0]:
                raise ShapeError(f"{where}: cannot multiply {a} by {b}")
            shape = (a[0], b[1])
            macs = a[0] * linear_macs(a[1], b[1])
            params = sum(_size(shapes[name]) for name in ins if name in constants)
            config = f"{a[1]} → {b[1]}"
            rf = jump = None
        elif op == "MatMul":
            a, b = x, shapes[ins[1]]
            a2 = (1, *a) if len(a) == 1 else a
            b2 = (*b, 1) if len(b) == 1 else b
            if a2[-1] != b2[-2]:
                raise ShapeError(f"{where}: cannot multiply {a} by {b}")
            batch = _broadcast([a2[:-2] or (1,), b2[:-2] or (1,)], where)
            full = (*batch, a2[-2], b2[-1])
            macs = _size(batch) * a2[-2] * a2[-1] * b2[-1]
            shape = full[-len(max(a, b, key=len)) :] if len(a) > 1 and len(b) > 1 else full
            if len(a) == 1 or len(b) == 1:
                shape = tuple(v for v in full if v != 1) or (1,)
            params = sum(_size(shapes[name]) for name in ins if name in constants)
            config = f"{a2[-1]} → {b2[-1]}"
            rf = jump = None
        elif op == "BatchNormalization":
            shape = x
            params = sum(_size(shapes[name]) for name in ins[1:3] if name in constants)
        elif op in _ELEMENTWISE:
            shape = x
            if op == "PRelu":
                params = sum(_size(shapes[name]) for name in ins[1:] if name in constants)
        elif op == "Flatten":
            axis = attrs.get("axis", 1)
            axis = axis + len(x) if axis < 0 else axis
            shape = (_size(x[:axis]), _size(x[axis:]))
        elif op == "Reshape":
            if ins[1] not in constants:
                raise ShapeError(f"{where}: the target shape is computed at run time")
            target = [int(v) for v in constants[ins[1]].reshape(-1)]
            target = [
                x[i] if v == 0 and not attrs.get("allowzero", 0) else v
                for i, v in enumerate(target)
            ]
            if -1 in target:
                known_size = _size([v for v in target if v != -1])
                target[target.index(-1)] = _size(x) // max(known_size, 1)
            if _size(target) != _size(x):
                raise ShapeError(f"{where}: cannot reshape {x} to {tuple(target)}")
            shape = tuple(target)
        elif op in _BROADCAST:
            shape = _broadcast([shapes[name] for name in ins], where)
            if jump is not None and len(known) > 1 and len({f[1] for f in known}) > 1:
                rf = jump = None
        elif op == "Concat":
            axis = attrs["axis"]
            parts = [shapes[name] for name in ins]
            axis = axis + len(x) if axis < 0 else axis
            shape = tuple(sum(p[axis] for p in parts) if i == axis else v for i, v in enumerate(x))
        else:
            raise ShapeError(
                f"{where}: convcli does not know the {op} node (it reads Conv, ConvTranspose, "
                "pooling, Gemm, MatMul, BatchNormalization and shape-only nodes)"
            )
        for name in node.output[:1]:
            shapes[name] = shape
            fields[name] = (rf, jump)
        rows.append(
            LayerRow(
                str(number),
                0,
                op,
                f"{op} {config}".strip(),
                shape,
                params,
                macs,
                rf,
                jump,
                activations=_size(shape),
                param_activations=_size(shape) if params else 0,
            )
        )
    notes: list[str] = []
    if ceil_pools:
        rule = (
            "a last window starting in the right padding is kept (ONNX before opset 22)"
            if opset < 22
            else "a last window starting in the right padding is dropped (opset 22, as PyTorch)"
        )
        notes.append(f"opset {opset}: ceil_mode pooling sizes follow the model's opset: {rule}")
    return NetworkSummary(input_shape, tuple(rows), tuple(notes))


def _pair_text(prefix: str, value: Sequence[int]) -> str:
    """``k3`` or ``k5x3``, as the spec language writes it."""
    return f"{prefix}{value[0]}" if value[0] == value[1] else f"{prefix}{value[0]}x{value[1]}"


def _pads_text(pads: tuple[Pair, Pair]) -> str:
    """``p2``, ``p1x0`` or ``p0:1x0:1``, as the spec language writes it."""
    (top, bottom), (left, right) = pads
    if top == bottom and left == right:
        return _pair_text("p", (top, left))
    return f"p{top}:{bottom}x{left}:{right}"


def _grow(
    rf: Pair | None, jump: Pair | None, span: Sequence[int], stride: Sequence[int]
) -> tuple[Pair | None, Pair | None]:
    if rf is None or jump is None:
        return None, None
    return (
        (rf[0] + (span[0] - 1) * jump[0], rf[1] + (span[1] - 1) * jump[1]),
        (jump[0] * stride[0], jump[1] * stride[1]),
    )
