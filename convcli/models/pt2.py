"""A ``torch.export`` archive (``.pt2``) read as JSON: no torch, nothing run.

``torch.export.save`` writes a zip whose ``<name>/models/model.json`` (older
releases: ``serialized_exported_program.json``) holds the exported graph:
ATen operator calls with their arguments, every tensor's sizes, and which
graph inputs are parameters and buffers (``torch/_export/serde/schema.py``
defines the format). Each call becomes a spec-language layer: convolutions
and linear layers take their sizes from their weights' recorded shapes,
pools their windows from their arguments (ATen's defaults where an argument
was left out: stride = the window, no padding, no dilation). ``aten.add`` of
two branches of the input becomes a residual block. An operator with no
row (``cat``, an arbitrary ``view``...) stops the reading with its node, its
module (``block.c1: Conv2d``) and the line of the model's source that the
archive recorded.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from ..arithmetic.spec import Layer
from ..errors import ConvcliError
from .common import (
    Located,
    ModelError,
    ModelSummary,
    Notes,
    Pair,
    Path,
    input_shape,
    join_residual,
)
from .common import summarize as analyze

__all__ = ["read_pt2"]

#: ATen activations (and their in-place forms) and the spec word of each
_ACTIVATIONS = {
    "relu": "relu",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "gelu": "gelu",
    "silu": "silu",
    "leaky_relu": "leakyrelu",
    "hardtanh": "hardtanh",
    "elu": "elu",
    "selu": "selu",
    "celu": "celu",
    "mish": "mish",
    "softplus": "softplus",
    "hardswish": "hardswish",
    "hardsigmoid": "hardsigmoid",
    "softmax": "softmax",
    "_softmax": "softmax",
    "log_softmax": "logsoftmax",
    "_log_softmax": "logsoftmax",
}
#: operators that pass a tensor on unchanged (no row)
_PASS = {"clone", "contiguous", "alias", "detach", "_to_copy", "lift_fresh_copy", "getitem"}
_DROPOUT = {"dropout", "native_dropout", "feature_dropout"}
_CONV = {"conv2d", "convolution", "_convolution", "conv_transpose2d"}
_MAXPOOL = {"max_pool2d", "max_pool2d_with_indices"}
_ADAPTIVE = {"adaptive_avg_pool2d", "_adaptive_avg_pool2d", "adaptive_max_pool2d"}
_BATCHNORM = {
    "batch_norm",
    "_native_batch_norm_legit_no_training",
    "_native_batch_norm_legit",
    "native_batch_norm",
    "_native_batch_norm_legit_functional",
}
_RESHAPE = {"view", "reshape", "_unsafe_view", "flatten"}
#: the archive's JSON is read whole; past this it is not a model we can show
MAX_JSON_BYTES = 256 << 20


def _program(path: str) -> dict[str, Any]:
    """Read the serialized ExportedProgram from the archive at ``path``."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ConvcliError(f"{path}: not a torch.export archive (a zip file): {exc}") from None
    with archive:
        names = archive.namelist()
        found = [n for n in names if re.search(r"(^|/)models/[^/]+\.json$", n)]
        found = found or [n for n in names if n.endswith("serialized_exported_program.json")]
        if len(found) > 1:
            found = [n for n in found if n.endswith("/model.json")] or found
        if len(found) != 1:
            what = "no exported program" if not found else f"{len(found)} exported programs"
            raise ModelError(f"{path}: the archive holds {what} (models/*.json)")
        info = archive.getinfo(found[0])
        if info.file_size > MAX_JSON_BYTES:
            raise ModelError(f"{path}: {found[0]} is over {MAX_JSON_BYTES >> 20} MiB")
        try:
            return json.loads(archive.read(found[0]))
        except (ValueError, zipfile.BadZipFile) as exc:
            raise ConvcliError(f"{path}: {found[0]} is not JSON: {exc}") from None


def _sizes(meta: Mapping[str, Any], name: str) -> list[int | str]:
    """Return a tensor's recorded sizes: ints, or the symbol of a dynamic size (``s16``)."""
    sizes: list[int | str] = []
    for size in meta.get("sizes", []):
        if "as_int" in size:
            sizes.append(size["as_int"])
            continue
        text = str(size.get("as_expr", {}).get("expr_str", size))
        symbol = re.fullmatch(r"Symbol\('(\w+)'.*\)", text)
        if symbol is None:
            raise ModelError(f"{name}: a size computed from dynamic sizes ({text})")
        sizes.append(symbol.group(1))
    return sizes


def _hints(meta: Mapping[str, Any]) -> list[int | None]:
    """Return the example value of each size (None where the archive has none)."""
    return [
        size["as_int"] if "as_int" in size else (size["as_expr"].get("hint") or {}).get("as_int")
        for size in meta.get("sizes", [])
    ]


class _Reader:
    def __init__(self, path: str, program: dict[str, Any]) -> None:
        self.path = path
        module = program["graph_module"]
        self.graph = module["graph"]
        self.notes = Notes()
        self.meta: dict[str, Any] = self.graph.get("tensor_values", {})
        signature = module.get("signature", {})
        # the model's own outputs (a training program also returns its buffers' updates)
        self.user_outputs = [
            spec["user_output"]["arg"].get("as_tensor", {}).get("name")
            for spec in signature.get("output_specs", [])
            if "user_output" in spec
        ]
        specs = signature.get("input_specs", [])
        self.weights: dict[str, list[int]] = {}
        self.user: list[str] = []
        for spec in specs:
            (kind, body), *_ = spec.items()
            arg = body.get("arg", {})
            name = arg.get("name") or arg.get("as_tensor", {}).get("name")
            if kind == "user_input":
                if "as_tensor" in arg:
                    self.user.append(arg["as_tensor"]["name"])
            elif name:
                self.weights[name] = self.sizes(name)
        self.values: dict[str, Path] = {}
        self.ranges: Mapping[str, Any] = program.get("range_constraints") or {}

    def sizes(self, name: str) -> list[int]:
        """Return the sizes recorded for tensor ``name`` at the example input."""
        hints = _hints(self.meta.get(name, {}))
        if any(h is None for h in hints):
            raise ModelError(f"{self.path}: tensor {name} has dynamic sizes with no example value")
        return [h for h in hints if h is not None]

    def input_sizes(self, name: str, ranges: Mapping[str, Any]) -> tuple[int, ...]:
        """Return the input's example sizes, noting each dynamic height, width or channel count."""
        symbols = _sizes(self.meta.get(name, {}), f"{self.path}: input {name}")
        shape = tuple(self.sizes(name))
        self.dynamic_batch = bool(symbols) and isinstance(symbols[0], str)
        for axis, symbol in enumerate(symbols):
            if isinstance(symbol, str) and axis > 0:
                span = ranges.get(symbol, {})
                low, high = span.get("min_val"), span.get("max_val")
                self.notes.add(
                    f"the input's axis {axis} is dynamic ({low if low is not None else 0}.."
                    f"{high if high is not None else '∞'}): read at the example's "
                    f"{shape[axis]}; --in chooses another size"
                )
        return shape

    def where(self, node: Mapping[str, Any]) -> str:
        meta = node.get("metadata", {})
        text = f"{self.path}: node {node.get('name', '?')}"
        stack = meta.get("nn_module_stack", "")
        if stack:
            last = stack.split(";")[-1].split(",")
            if len(last) >= 3 and last[1]:
                text += f" ({last[1]}: {last[-1].rsplit('.', 1)[-1]})"
        frames = re.findall(r'File "([^"]+)", line (\d+)', meta.get("stack_trace", ""))
        own = [f for f in frames if "site-packages" not in f[0] and "/torch/" not in f[0]]
        if own:
            text += f", {own[-1][0].rsplit('/', 1)[-1]}:{own[-1][1]}"
        return text

    def run(self) -> tuple[Path, tuple[int, ...]]:
        if len(self.user) != 1:
            raise ModelError(
                f"{self.path}: the program takes {len(self.user)} tensor inputs; "
                "convcli reads models of one image input"
            )
        first = self.user[0]
        shape = self.input_sizes(first, self.ranges)
        self.values[first] = ()
        for node in self.graph["nodes"]:
            self.node(node)
        names = self.user_outputs or [
            o["as_tensor"]["name"] for o in self.graph.get("outputs", []) if "as_tensor" in o
        ]
        if len(names) != 1 or names[0] not in self.values:
            raise ModelError(
                f"{self.path}: the program has {len(names)} outputs; convcli reads one tensor"
            )
        return self.values[names[0]], shape

    def node(self, node: Mapping[str, Any]) -> None:
        target = node["target"]
        op = target.split(".")[-2] if target.startswith("torch.ops.") else target.split(".")[-1]
        op = op[:-1] if op.endswith("_") and op[:-1] in _ACTIVATIONS else op
        args = {a["name"]: a["arg"] for a in node.get("inputs", [])}
        outputs = [o["as_tensor"]["name"] for o in node.get("outputs", []) if "as_tensor" in o]
        where = self.where(node)
        tensors = [a["as_tensor"]["name"] for a in args.values() if "as_tensor" in a]
        tensors += [t["name"] for a in args.values() for t in a.get("as_tensors", [])]
        from_input = [t for t in tensors if t in self.values]
        if not from_input:
            # weights and buffers only (a transposed weight, a training step's buffer
            # update): no row; the result may serve as a later layer's weight
            for name in outputs:
                if name in self.meta:
                    self.weights[name] = self.sizes(name)
            return
        x = self.values[from_input[0]]
        path = self.layer(op, target, args, x, from_input, outputs, where)
        for name in outputs[:1]:
            self.values[name] = path

    def weight(self, arg: Mapping[str, Any] | None, where: str, what: str) -> list[int] | None:
        if arg is None or "as_none" in arg:
            return None
        name = arg.get("as_tensor", {}).get("name")
        if name not in self.weights:
            raise ModelError(f"{where}: the {what} is computed, not a parameter")
        return self.weights[name]

    def layer(
        self,
        op: str,
        target: str,
        args: Mapping[str, Any],
        x: Path,
        inputs: list[str],
        outputs: list[str],
        where: str,
    ) -> Path:
        """Return ``x`` followed by the row (or rows) of the call ``op``."""
        if op in _PASS:
            return x
        read = _LAYERS.get(op)
        if read is None:
            raise ModelError(f"{where}: convcli has no row for {target}")
        return read(self, _Call(op, args, x, inputs, outputs, where))

    def conv(self, call: _Call) -> Path:
        """Return the row of a 2-D convolution or transposed convolution."""
        args, where = call.args, call.where
        w = self.weight(args.get("weight"), where, "weight")
        if w is None or len(w) != 4:
            raise ModelError(f"{where}: convcli reads 2-D convolutions (a 4-D weight), got {w}")
        groups = args.get("groups", {}).get("as_int", 1)
        transposed = call.op == "conv_transpose2d" or _flag(args, "transposed")
        pad_arg = args.get("padding", {})
        padding: Any = (
            pad_arg["as_string"]
            if "as_string" in pad_arg
            else _ints(args, "padding", (0, 0), where)
        )
        fields: dict[str, Any] = dict(
            kernel=(w[2], w[3]),
            stride=_ints(args, "stride", (1, 1), where),
            padding=padding,
            dilation=_ints(args, "dilation", (1, 1), where),
            groups=groups,
            bias=self.weight(args.get("bias"), where, "bias") is not None,
        )
        if transposed:
            output_padding = _ints(args, "output_padding", (0, 0), where)
            layer = Layer("convt", w[1] * groups, output_padding=output_padding, **fields)
            return call.add(layer, w[0])
        return call.add(Layer("conv", w[0], **fields), w[1] * groups)

    def linear(self, call: _Call) -> Path:
        """Return the row of ``linear``, or of ``addmm``/``mm`` with a weight."""
        op, args, where = call.op, call.args, call.where
        key = {"linear": "weight", "addmm": "mat2", "mm": "mat2"}[op]
        w = self.weight(args.get(key), where, "weight")
        if w is None or len(w) != 2:
            raise ModelError(f"{where}: a linear layer needs a 2-D weight, got {w}")
        units, features = (w[0], w[1]) if op == "linear" else (w[1], w[0])
        bias_arg = args.get("bias") if op == "linear" else args.get("self")
        bias = op != "mm" and self.weight(bias_arg, where, "bias") is not None
        return call.add(Layer("linear", units, bias=bias), features)

    def mean(self, call: _Call) -> Path:
        """Return the rows of a mean over height and width: a global average pool."""
        dims = call.args.get("dim", {}).get("as_ints", [])
        rank = len(self.sizes(call.inputs[0]))
        if rank == 4 and sorted(d % 4 for d in dims) == [2, 3]:
            path = call.add(Layer("adaptiveavgpool", output_size=(1, 1)))
            if not _flag(call.args, "keepdim"):
                path = (*path, Located(Layer("flatten"), call.where))
            return path
        raise ModelError(f"{call.where}: a mean over dims {dims} has no row in convcli")

    def batchnorm(self, call: _Call) -> Path:
        """Return the row of a batch norm with affine weights."""
        w = self.weight(call.args.get("weight"), call.where, "weight")
        if w is None:
            raise ModelError(f"{call.where}: a batch norm without affine weights has no row")
        return call.add(Layer("bn"), w[0])

    def reshape(self, call: _Call) -> Path:
        """Return ``x`` for a view that keeps the sizes, a flatten row for N×C×H×W → N×F."""
        before, after = self.sizes(call.inputs[0]), self.sizes(call.outputs[0])
        if before == after:
            return call.x
        if len(before) == 4 and len(after) == 2 and after[0] == before[0]:
            return call.add(Layer("flatten"))
        raise ModelError(f"{call.where}: {call.op} {before} → {after} is not a flatten")

    def residual(self, call: _Call) -> Path:
        """Return the residual block that joins the two added branches."""
        inputs, where = call.inputs, call.where
        if len(inputs) != 2:
            raise ModelError(f"{where}: an addition of a tensor and a constant has no row")
        alpha = call.args.get("alpha", {})
        if alpha and alpha.get("as_int", alpha.get("as_float", 1)) != 1:
            raise ModelError(f"{where}: an addition with alpha {alpha} has no row")
        return join_residual(self.values[inputs[0]], self.values[inputs[1]], where)


class _Call(NamedTuple):
    """One ATen call whose first tensor argument comes from the input."""

    op: str
    args: Mapping[str, Any]
    x: Path
    inputs: list[str]
    outputs: list[str]
    where: str

    def add(self, layer: Layer, expect: int | None = None) -> Path:
        """Return ``x`` followed by ``layer``, expecting ``expect`` input channels."""
        return (*self.x, Located(layer, self.where, expect))


def _ints(args: Mapping[str, Any], name: str, default: Pair, where: str) -> Pair:
    """Return argument ``name`` as a (height, width) pair; ``default`` where it is left out."""
    arg = args.get(name)
    if arg is None or "as_none" in arg:
        return default
    value = arg.get("as_ints", arg.get("as_int"))
    if isinstance(value, int):
        return (value, value)
    if not isinstance(value, list) or len(value) not in (0, 1, 2):
        raise ModelError(f"{where}: {name} {arg} is not a 2-D size")
    if not value:
        return default
    return (value[0], value[-1])


def _flag(args: Mapping[str, Any], name: str) -> bool:
    """Return boolean argument ``name`` (False where it is left out)."""
    return bool(args.get(name, {}).get("as_bool", False))


def _activation(reader: _Reader, call: _Call) -> Path:
    """Return the row of an activation."""
    return call.add(Layer(_ACTIVATIONS[call.op]))


def _dropout(reader: _Reader, call: _Call) -> Path:
    """Return the row of a dropout at its rate."""
    rate = call.args.get("p", {}).get("as_float")
    return call.add(Layer("dropout", dropout=rate))


def _pool(reader: _Reader, call: _Call) -> Path:
    """Return the row of a max or average pool (ATen's defaults for what is left out)."""
    args, where = call.args, call.where
    kernel = _ints(args, "kernel_size", (1, 1), where)
    if call.op in _MAXPOOL and _ints(args, "dilation", (1, 1), where) != (1, 1):
        raise ModelError(f"{where}: a dilated max pool has no row in convcli")
    kind = "avgpool" if call.op == "avg_pool2d" else "maxpool"
    return call.add(
        Layer(
            kind,
            kernel=kernel,
            stride=_ints(args, "stride", kernel, where),
            padding=_ints(args, "padding", (0, 0), where),
            ceil_mode=_flag(args, "ceil_mode"),
        )
    )


def _adaptive(reader: _Reader, call: _Call) -> Path:
    """Return the row of an adaptive max or average pool."""
    kind = "adaptivemaxpool" if "max" in call.op else "adaptiveavgpool"
    return call.add(Layer(kind, output_size=_ints(call.args, "output_size", (1, 1), call.where)))


def _upsample(reader: _Reader, call: _Call) -> Path:
    """Return the row of a nearest or bilinear upsampling by whole factors."""
    args = call.args
    scales = (args.get("scale_factors") or {}).get("as_floats") or [
        (args.get(name) or {}).get("as_float") for name in ("scales_h", "scales_w")
    ]
    if len(scales) != 2 or not all(isinstance(f, float) and f.is_integer() for f in scales):
        raise ModelError(
            f"{call.where}: an upsampling to a fixed size or by {scales} has no row in "
            "convcli (a whole scale_factor has)"
        )
    mode = "bilinear" if "bilinear" in call.op else None
    return call.add(Layer("upsample", scale=(int(scales[0]), int(scales[1])), mode=mode))


#: the reader of each ATen operator that has a row (``_PASS`` has none)
_LAYERS: dict[str, Callable[[_Reader, _Call], Path]] = {
    **dict.fromkeys(_ACTIVATIONS, _activation),
    **dict.fromkeys(_DROPOUT, _dropout),
    **dict.fromkeys(_CONV, _Reader.conv),
    **dict.fromkeys(("linear", "addmm", "mm"), _Reader.linear),
    **dict.fromkeys((*_MAXPOOL, "avg_pool2d"), _pool),
    **dict.fromkeys(_ADAPTIVE, _adaptive),
    **dict.fromkeys(("upsample_nearest2d", "upsample_bilinear2d"), _upsample),
    "mean": _Reader.mean,
    **dict.fromkeys(_BATCHNORM, _Reader.batchnorm),
    **dict.fromkeys(_RESHAPE, _Reader.reshape),
    **dict.fromkeys(("add", "add_"), _Reader.residual),
}


def read_pt2(
    path: str,
    given: tuple[int, int] | None = None,
    channels: int | None = None,
) -> ModelSummary:
    """Read a ``torch.export`` archive and analyse its graph.

    Parameters
    ----------
    path : str
        The ``.pt2`` file.
    given : (H, W), optional
        Analyse at this input size instead of the example input's.
    channels : int, optional
        Input channels instead of the example input's.

    Returns
    -------
    ModelSummary
        Rows for one sample (N×C×H×W, N = 1): a fixed batch is noted.

    Raises
    ------
    ModelError
        For an operator convcli has no row for; the message names the node,
        its module and the source line the archive recorded.
    """
    program = _program(path)
    reader = _Reader(path, program)
    path_layers, shape = reader.run()
    if len(shape) != 4:
        raise ModelError(f"{path}: the input is {list(shape)}; convcli reads N×C×H×W images")
    if shape[0] != 1 and not getattr(reader, "dynamic_batch", False):
        reader.notes.add(
            f"the model was exported for a batch of {shape[0]}: rows are for one sample (N = 1)"
        )
    stated = (shape[1], shape[2], shape[3])
    summary = analyze(path_layers, input_shape(stated, given, channels, path), reader.notes.items)
    return ModelSummary(path.replace("\\", "/").rsplit("/", 1)[-1], "pt2", summary)
