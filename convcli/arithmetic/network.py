"""Whole networks: a small layer spec language, shape analysis and presets.

Pure Python (no numpy): ``convcli shape --arch resnet50`` answers instantly.
Every size comes from :mod:`convcli.arithmetic.sizes`.

The spec language
-----------------
A network is a list of layers separated by commas (or new lines); ``#``
starts a comment. Each layer is a word followed by arguments::

    conv 64 k11 s4 p2, relu, maxpool k3 s2, conv 192 k5 p2, relu

=================================  =============================================
``conv F``                         2-D convolution with ``F`` filters
                                   (``k s p d g nobias``); alias ``conv2d``
``convt F``                        transposed convolution (``k s p d g op
                                   nobias``); aliases ``deconv``, ``convtranspose``
``maxpool``, ``avgpool``           pooling (``k s p ceil``); the stride
                                   defaults to the window
``adaptiveavgpool N|HxW``          adaptive pooling to a fixed output size;
``adaptivemaxpool N|HxW``          ``gap`` is ``adaptiveavgpool 1``
``fc N``                           fully connected layer of ``N`` units
                                   (``nobias``); alias ``linear``
``flatten``                        C×H×W → C·H·W
``bn``                             batch normalisation, 2 parameters per
                                   channel; alias ``batchnorm``
``relu`` ``sigmoid`` ``tanh``      activations (also ``gelu``, ``silu``,
                                   ``leakyrelu``, ``softmax``); no parameters
``dropout [P]``                    no parameters, shape unchanged
``basic F [sN]``                   torchvision's ResNet BasicBlock
``bottleneck W [sN]``              torchvision's ResNet Bottleneck (``4·W`` out)
``res(BODY | SHORTCUT)``           a residual block: BODY and SHORTCUT (layers,
                                   identity when omitted) are added
``N*LAYER``, ``N*(A, B, ...)``     repeat a layer, or a group of layers
=================================  =============================================

Arguments: ``kN`` or ``kHxW`` kernel, ``sN`` stride, ``pN`` padding per side,
``pHxW`` per axis, ``pB:A`` before:after, ``pT:BxL:R`` per side, or ``psame``,
``pvalid``, ``pfull``; ``dN`` dilation; ``gN`` groups; ``opN`` output padding;
``nobias``; ``ceil`` (ceil mode).

A JSON spec is a list of layers, or an object ``{"input": [C, H, W],
"layers": [...]}`` whose ``layers`` may also be a string in the text language.
A layer is a string in the text language, or an object such as
``{"type": "conv", "filters": 64, "kernel": 11, "stride": 4, "padding": 2}``
(keys: ``type``, ``filters``/``units``/``out``, ``kernel``, ``stride``,
``padding``, ``dilation``, ``groups``, ``bias``, ``ceil_mode``,
``output_padding``, ``output_size``, ``body``, ``shortcut``, ``repeat``).

Counting rules
--------------
Parameters are those of PyTorch's ``model.parameters()``: weights and biases,
BatchNorm's scale and shift (its running statistics are buffers). Multiply-
accumulates (MACs) count the convolutions and fully connected layers only,
as torchvision's published GFLOPS figures do. The receptive field and its
jump (the distance in input pixels between neighbouring outputs) follow
``r_out = r_in + (d·(k − 1))·j_in`` and ``j_out = j_in·s``; a residual block
takes the larger field of its two branches. After a transposed convolution,
an adaptive pool whose input is not a multiple of its output, or a fully
connected layer, they are not defined and are reported as ``None``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from ..errors import ShapeError
from .sizes import (
    PaddingSpec,
    effective_kernel_size,
    output_size,
    pool_output_size,
    resolve_padding,
    transposed_output_size,
)

__all__ = [
    "ARCHITECTURES",
    "Architecture",
    "Layer",
    "LayerRow",
    "NetworkSummary",
    "analyze_network",
    "format_layer",
    "load_spec",
    "parse_layers",
]

Pair = tuple[int, int]

# canonical kind -> the words that name it
_ALIASES: dict[str, tuple[str, ...]] = {
    "conv": ("conv", "conv2d"),
    "convt": ("convt", "deconv", "convtranspose", "convtranspose2d"),
    "maxpool": ("maxpool", "maxpool2d"),
    "avgpool": ("avgpool", "avgpool2d"),
    "adaptiveavgpool": ("adaptiveavgpool", "adaptiveavgpool2d"),
    "adaptivemaxpool": ("adaptivemaxpool", "adaptivemaxpool2d"),
    "gap": ("gap",),
    "linear": ("fc", "linear", "dense"),
    "flatten": ("flatten",),
    "bn": ("bn", "batchnorm", "batchnorm2d", "batchnorm1d"),
    "dropout": ("dropout",),
    "basic": ("basic", "basicblock"),
    "bottleneck": ("bottleneck",),
    "residual": ("res", "residual"),
}
ACTIVATIONS = ("relu", "sigmoid", "tanh", "gelu", "silu", "leakyrelu", "softmax", "identity")
_KIND_OF = {word: kind for kind, words in _ALIASES.items() for word in words}
_KIND_OF.update({word: word for word in ACTIVATIONS})

# which keyword arguments each kind accepts
_ALLOWED: dict[str, frozenset[str]] = {
    "conv": frozenset("kspdg") | {"nobias", "bias"},
    "convt": frozenset("kspdg") | {"op", "nobias", "bias"},
    "maxpool": frozenset("ksp") | {"ceil"},
    "avgpool": frozenset("ksp") | {"ceil"},
    "linear": frozenset({"nobias", "bias"}),
    "basic": frozenset("s"),
    "bottleneck": frozenset("s"),
}
# kinds that need a positional number, and what it means
_POSITIONAL = {
    "conv": "a number of filters",
    "convt": "a number of filters",
    "linear": "a number of units",
    "adaptiveavgpool": "an output size",
    "adaptivemaxpool": "an output size",
    "basic": "a number of channels",
    "bottleneck": "a bottleneck width",
}


@dataclass(frozen=True)
class Layer:
    """One layer of a network, as written in the spec language.

    Attributes
    ----------
    kind : str
        Canonical kind: ``conv``, ``convt``, ``maxpool``, ``avgpool``,
        ``adaptiveavgpool``, ``adaptivemaxpool``, ``linear``, ``flatten``,
        ``bn``, ``dropout``, ``basic``, ``bottleneck``, ``residual`` or an
        activation (``relu``, ``sigmoid``, ...).
    out : int, optional
        Filters of a convolution, units of a linear layer, channels of a
        ``basic`` block, width of a ``bottleneck``.
    kernel, stride, dilation, output_padding : (int, int), optional
        Per axis; a pooling layer's stride defaults to its kernel.
    padding : int, str or sequence
        Anything :func:`convcli.arithmetic.sizes.resolve_padding` accepts.
    groups : int
        Convolution groups.
    bias : bool
        Whether a convolution or linear layer has a bias.
    ceil_mode : bool
        Pooling rounds up (PyTorch's ``ceil_mode``).
    output_size : (int, int), optional
        Output H and W of an adaptive pool.
    body, shortcut : tuple of Layer
        The two branches of a residual block (an empty shortcut is the
        identity).
    post : tuple of Layer
        Layers applied after a residual block's addition (the ReLU of
        torchvision's blocks).
    """

    kind: str
    out: int | None = None
    kernel: Pair | None = None
    stride: Pair | None = None
    padding: PaddingSpec = 0
    dilation: Pair = (1, 1)
    groups: int = 1
    bias: bool = True
    ceil_mode: bool = False
    output_padding: Pair = (0, 0)
    output_size: Pair | None = None
    dropout: float | None = None
    body: tuple[Layer, ...] = ()
    shortcut: tuple[Layer, ...] = ()
    post: tuple[Layer, ...] = ()


@dataclass(frozen=True)
class LayerRow:
    """One row of a network summary.

    Attributes
    ----------
    index : str
        Position, ``"3"`` at the top level, ``"5.2"`` inside block 5,
        ``"5.s1"`` in its shortcut.
    depth : int
        Nesting level (0 at the top).
    kind : str
        The layer's kind; ``"add"`` for the addition closing a residual block.
    config : str
        The layer's arguments in the spec language, with the padding resolved
        to (top:bottom x left:right) when it is not the same on every side.
    shape : tuple of int
        Output shape: (C, H, W), or (N,) after ``flatten`` / ``fc``.
    params : int
        Parameters of this layer (of the whole block for a block row).
    macs : int
        Multiply-accumulates (of the whole block for a block row).
    rf, jump : (int, int) or None
        Receptive field and jump (H, W) in input pixels.
    leaf : bool
        False for a block row, whose numbers repeat those of its children;
        the totals add up the leaf rows.
    """

    index: str
    depth: int
    kind: str
    config: str
    shape: tuple[int, ...]
    params: int
    macs: int
    rf: Pair | None
    jump: Pair | None
    leaf: bool = True


@dataclass(frozen=True)
class NetworkSummary:
    """The analysis of a network: its rows and totals."""

    input_shape: tuple[int, int, int]
    rows: tuple[LayerRow, ...]

    @property
    def output_shape(self) -> tuple[int, ...]:
        """The shape after the last layer."""
        top = [row for row in self.rows if row.depth == 0]
        return top[-1].shape if top else self.input_shape

    @property
    def total_params(self) -> int:
        """Sum of the parameters of the leaf layers."""
        return sum(row.params for row in self.rows if row.leaf)

    @property
    def total_macs(self) -> int:
        """Sum of the multiply-accumulates of the leaf layers."""
        return sum(row.macs for row in self.rows if row.leaf)


# --------------------------------------------------------------------------
# parsing
# --------------------------------------------------------------------------


def _split_top(text: str, separators: str) -> list[str]:
    """Split ``text`` at ``separators`` outside parentheses."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise ShapeError(f"unbalanced ')' in layer spec {text.strip()!r}")
        elif char in separators and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth != 0:
        raise ShapeError(f"unbalanced '(' in layer spec {text.strip()!r}")
    parts.append(text[start:])
    return parts


def _int(text: str, what: str, item: str, minimum: int) -> int:
    if not re.fullmatch(r"\d+", text):
        raise ShapeError(f"layer {item!r}: {what} {text!r} is not a whole number")
    value = int(text)
    if value < minimum:
        raise ShapeError(f"layer {item!r}: {what} must be at least {minimum}, got {value}")
    return value


def _pair(text: str, what: str, item: str, minimum: int = 1) -> Pair:
    parts = re.split(r"[x×]", text)
    if len(parts) == 1:
        value = _int(parts[0], what, item, minimum)
        return (value, value)
    if len(parts) == 2:
        return (_int(parts[0], what, item, minimum), _int(parts[1], what, item, minimum))
    raise ShapeError(f"layer {item!r}: {what} {text!r} is not N or HxW")


def _padding(text: str, item: str) -> PaddingSpec:
    if text in ("same", "valid", "full"):
        return text
    axes = re.split(r"[x×]", text)
    if len(axes) > 2:
        raise ShapeError(
            f"layer {item!r}: padding {text!r} is not N, HxW, before:after, "
            "top:bottomxleft:right, same, valid or full"
        )
    result = []
    for axis in axes:
        sides = axis.split(":")
        if len(sides) > 2:
            raise ShapeError(f"layer {item!r}: padding {text!r} has more than 2 sides per axis")
        nums = [_int(side, "padding", item, 0) for side in sides]
        result.append((nums[0], nums[-1]))
    if len(result) == 1:
        result.append(result[0])
    (top, bottom), (left, right) = result
    if top == bottom and left == right:
        return top if top == left else (top, left)
    return ((top, bottom), (left, right))


# a key and its value, which starts with a digit (or is a padding word): k3, s2, psame
_ARG = re.compile(r"(op|k|s|p|d|g)(\d.*|same|valid|full)")
_ARG_EXAMPLES = {
    "k": "k3 (kernel)",
    "s": "s2 (stride)",
    "p": "p1 (padding)",
    "d": "d2 (dilation)",
    "g": "g2 (groups)",
    "op": "op1 (output padding)",
}


def _parse_simple(item: str) -> Layer:
    words = item.split()
    word = words[0].lower()
    kind = _KIND_OF.get(word)
    if kind is None:
        known = sorted(set(_KIND_OF) - {"conv2d", "maxpool2d", "avgpool2d", "batchnorm2d"})
        raise ShapeError(f"unknown layer {word!r} in {item!r}: expected one of {', '.join(known)}")
    allowed = _ALLOWED.get(kind, frozenset())
    fields: dict[str, object] = {}
    positional: list[str] = []
    for arg in words[1:]:
        low = arg.lower()
        if low in ("nobias", "bias", "ceil"):
            if low not in allowed:
                raise ShapeError(f"layer {item!r}: {kind} takes no {low!r}")
            if low == "ceil":
                fields["ceil_mode"] = True
            else:
                fields["bias"] = low == "bias"
            continue
        if re.fullmatch(r"[\d.x×]+", low):
            positional.append(low)
            continue
        match = _ARG.fullmatch(low)
        if match is None:
            forms = [example for key, example in _ARG_EXAMPLES.items() if key in allowed]
            hint = f": write {', '.join(forms)}" if forms else ""
            raise ShapeError(f"layer {item!r}: cannot read argument {arg!r}{hint}")
        key, value = match.groups()
        if key not in allowed:
            raise ShapeError(f"layer {item!r}: {kind} takes no {key!r} argument ({arg!r})")
        if key == "k":
            fields["kernel"] = _pair(value, "kernel", item)
        elif key == "s":
            fields["stride"] = _pair(value, "stride", item)
        elif key == "p":
            fields["padding"] = _padding(value, item)
        elif key == "d":
            fields["dilation"] = _pair(value, "dilation", item)
        elif key == "g":
            fields["groups"] = _int(value, "groups", item, 1)
        else:
            fields["output_padding"] = _pair(value, "output padding", item, 0)
    if kind == "dropout":
        if len(positional) > 1:
            raise ShapeError(f"layer {item!r}: dropout takes at most one probability")
        if positional:
            try:
                rate = float(positional[0])
            except ValueError:
                rate = -1.0
            if not 0 <= rate <= 1:
                raise ShapeError(
                    f"layer {item!r}: dropout probability {positional[0]!r} is not in [0, 1]"
                )
            fields["dropout"] = rate
        return Layer(kind, **fields)  # type: ignore[arg-type]
    if kind in _POSITIONAL:
        if len(positional) != 1:
            raise ShapeError(
                f"layer {item!r}: {kind} needs {_POSITIONAL[kind]}, e.g. {_EXAMPLES[kind]!r}"
            )
        if kind.startswith("adaptive"):
            fields["output_size"] = _pair(positional[0], "output size", item)
        else:
            fields["out"] = _int(positional[0], _POSITIONAL[kind], item, 1)
    elif positional:
        raise ShapeError(f"layer {item!r}: {kind} takes no number ({positional[0]!r})")
    if kind in ("conv", "convt", "maxpool", "avgpool") and "kernel" not in fields:
        raise ShapeError(f"layer {item!r}: {kind} needs a kernel, e.g. {_EXAMPLES[kind]!r}")
    if kind == "gap":
        return Layer("adaptiveavgpool", output_size=(1, 1))
    return Layer(kind, **fields)  # type: ignore[arg-type]


_EXAMPLES = {
    "conv": "conv 64 k3 p1",
    "convt": "convt 64 k4 s2 p1",
    "maxpool": "maxpool k2",
    "avgpool": "avgpool k2",
    "linear": "fc 1000",
    "adaptiveavgpool": "adaptiveavgpool 7",
    "adaptivemaxpool": "adaptivemaxpool 7",
    "basic": "basic 128 s2",
    "bottleneck": "bottleneck 64",
}


def _parse_item(item: str) -> list[Layer]:
    text = item.strip()
    repeat = re.fullmatch(r"(\d+)\s*\*\s*(.+)", text, flags=re.DOTALL)
    if repeat:
        count = int(repeat.group(1))
        if count < 1:
            raise ShapeError(f"repeat count in {text!r} must be at least 1")
        inner = repeat.group(2).strip()
        if inner.startswith("(") and inner.endswith(")"):
            group = parse_layers(inner[1:-1])
        else:
            group = _parse_item(inner)
        return group * count
    residual = re.fullmatch(r"(res|residual)\s*\((.*)\)", text, flags=re.DOTALL | re.IGNORECASE)
    if residual:
        branches = _split_top(residual.group(2), "|")
        if len(branches) > 2:
            raise ShapeError(f"{text!r}: a residual block has one '|' at most (body | shortcut)")
        body = tuple(parse_layers(branches[0]))
        shortcut = tuple(parse_layers(branches[1])) if len(branches) == 2 else ()
        return [Layer("residual", body=body, shortcut=shortcut)]
    if "(" in text or ")" in text:
        raise ShapeError(f"cannot read {text!r}: parentheses belong to 'res(...)' or 'N*(...)'")
    return [_parse_simple(text)]


def parse_layers(text: str) -> list[Layer]:
    """Parse a network written in the spec language (see the module docstring).

    Parameters
    ----------
    text : str
        Layers separated by commas or new lines; ``#`` starts a comment.

    Returns
    -------
    list of Layer

    Raises
    ------
    ShapeError
        For an unknown layer, a missing or malformed argument; the message
        quotes the layer.

    Examples
    --------
    >>> [layer.kind for layer in parse_layers("conv 6 k5 p2, sigmoid, avgpool k2 s2")]
    ['conv', 'sigmoid', 'avgpool']
    >>> parse_layers("conv 64 k11 s4 p2")[0].stride
    (4, 4)
    >>> len(parse_layers("2*(conv 64 k3 p1, relu), maxpool k2"))
    5
    """
    lines = [line.split("#", 1)[0] for line in text.splitlines()]
    joined = ",".join(lines)
    layers: list[Layer] = []
    for item in _split_top(joined, ","):
        if item.strip():
            layers.extend(_parse_item(item))
    if not layers:
        raise ShapeError(f"no layers in spec {text.strip()!r}")
    return layers


def _layer_from_json(obj: object, where: str) -> list[Layer]:
    if isinstance(obj, str):
        return parse_layers(obj)
    if not isinstance(obj, dict):
        raise ShapeError(f"{where}: a layer must be a string or an object, got {obj!r}")
    data = dict(obj)
    kind_word = data.pop("type", None)
    if not isinstance(kind_word, str):
        raise ShapeError(f'{where}: a layer object needs a "type", got {obj!r}')
    kind = _KIND_OF.get(kind_word.lower())
    if kind is None:
        raise ShapeError(f"{where}: unknown layer type {kind_word!r}")
    repeat = data.pop("repeat", 1)
    fields: dict[str, object] = {}

    def pair_of(value: object, name: str, minimum: int = 1) -> Pair:
        if isinstance(value, int) and not isinstance(value, bool):
            value = [value, value]
        if (
            isinstance(value, list)
            and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            and all(v >= minimum for v in value)
        ):
            return (value[0], value[1])
        raise ShapeError(f"{where}: {name!r} must be an int >= {minimum} or a pair, got {value!r}")

    for key in ("filters", "units", "out", "channels", "out_channels", "out_features"):
        if key in data:
            value = data.pop(key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ShapeError(f"{where}: {key!r} must be a positive int, got {value!r}")
            fields["out"] = value
    for key, name, minimum in (
        ("kernel", "kernel", 1),
        ("kernel_size", "kernel", 1),
        ("stride", "stride", 1),
        ("dilation", "dilation", 1),
        ("output_padding", "output_padding", 0),
        ("output_size", "output_size", 1),
    ):
        if key in data:
            fields[name] = pair_of(data.pop(key), key, minimum)
    if "padding" in data:
        padding = data.pop("padding")
        if isinstance(padding, list):
            padding = tuple(tuple(p) if isinstance(p, list) else p for p in padding)
        fields["padding"] = padding
    if "groups" in data:
        groups = data.pop("groups")
        if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
            raise ShapeError(f"{where}: 'groups' must be a positive int, got {groups!r}")
        fields["groups"] = groups
    for key in ("bias", "ceil_mode"):
        if key in data:
            value = data.pop(key)
            if not isinstance(value, bool):
                raise ShapeError(f"{where}: {key!r} must be true or false, got {value!r}")
            fields[key] = value
    if "p" in data and kind == "dropout":
        rate = data.pop("p")
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
            raise ShapeError(f"{where}: dropout 'p' must be in [0, 1], got {rate!r}")
        fields["dropout"] = float(rate)
    for key in ("body", "shortcut"):
        if key in data:
            fields[key] = tuple(_layers_from_json(data.pop(key), f"{where}.{key}"))
    if data:
        raise ShapeError(f"{where}: unknown keys {sorted(data)} for a {kind} layer")
    if kind in ("conv", "convt", "linear", "basic", "bottleneck") and "out" not in fields:
        raise ShapeError(f'{where}: {kind} needs {_POSITIONAL[kind]} ("filters"/"units")')
    if kind in ("conv", "convt", "maxpool", "avgpool") and "kernel" not in fields:
        raise ShapeError(f'{where}: {kind} needs a "kernel"')
    if kind.startswith("adaptive") and "output_size" not in fields:
        raise ShapeError(f'{where}: {kind} needs an "output_size"')
    if kind == "gap":
        kind, fields["output_size"] = "adaptiveavgpool", (1, 1)
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        raise ShapeError(f'{where}: "repeat" must be a positive int, got {repeat!r}')
    return [Layer(kind, **fields)] * repeat  # type: ignore[arg-type]


def _layers_from_json(obj: object, where: str) -> list[Layer]:
    if isinstance(obj, str):
        return parse_layers(obj)
    if not isinstance(obj, list):
        raise ShapeError(f"{where}: expected a list of layers or a string, got {obj!r}")
    layers: list[Layer] = []
    for i, item in enumerate(obj, 1):
        layers.extend(_layer_from_json(item, f"{where}[{i}]"))
    return layers


def load_spec(text: str) -> tuple[list[Layer], tuple[int, int, int] | None]:
    """Read a network spec: JSON, or the text language.

    Parameters
    ----------
    text : str
        The content of a spec file. Text starting with ``{`` or ``[`` is
        read as JSON.

    Returns
    -------
    layers : list of Layer
    input_shape : (C, H, W) or None
        The ``"input"`` of a JSON object, if it has one.

    Examples
    --------
    >>> layers, shape = load_spec('{"input": [1, 28, 28], "layers": "conv 6 k5, relu"}')
    >>> [layer.kind for layer in layers], shape
    (['conv', 'relu'], (1, 28, 28))
    """
    stripped = text.strip()
    if not stripped.startswith(("{", "[")):
        return parse_layers(text), None
    import json  # only for JSON specs: the text language and presets do without

    try:
        data = json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise ShapeError(f"invalid JSON spec: {exc}") from exc
    input_shape = None
    if isinstance(data, dict):
        unknown = set(data) - {"input", "layers", "name"}
        if unknown:
            raise ShapeError(f"unknown keys {sorted(unknown)} in JSON spec")
        if "layers" not in data:
            raise ShapeError('a JSON spec object needs "layers"')
        if "input" in data:
            shape = data["input"]
            if (
                not isinstance(shape, list)
                or len(shape) != 3
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in shape)
                or min(shape) < 1
            ):
                raise ShapeError(f'"input" must be [C, H, W] of positive ints, got {shape!r}')
            input_shape = (shape[0], shape[1], shape[2])
        data = data["layers"]
    return _layers_from_json(data, "layers"), input_shape


# --------------------------------------------------------------------------
# analysis
# --------------------------------------------------------------------------


def _text_pair(prefix: str, value: Pair) -> str:
    return f"{prefix}{value[0]}" if value[0] == value[1] else f"{prefix}{value[0]}x{value[1]}"


def _text_padding(pads: tuple[Pair, Pair]) -> str:
    (top, bottom), (left, right) = pads
    if top == bottom and left == right:
        return _text_pair("p", (top, left))
    if (top, bottom) == (left, right):
        return f"p{top}:{bottom}"
    return f"p{top}:{bottom}x{left}:{right}"


def format_layer(layer: Layer, pads: tuple[Pair, Pair] | None = None) -> str:
    """Write a layer back in the spec language.

    Parameters
    ----------
    layer : Layer
    pads : ((int, int), (int, int)), optional
        The resolved padding, shown instead of a word such as ``same``.

    Examples
    --------
    >>> format_layer(parse_layers("conv 64 k11 s4 p2")[0], ((2, 2), (2, 2)))
    'conv 64 k11 s4 p2'
    >>> format_layer(parse_layers("maxpool k3 s2 ceil")[0], ((0, 0), (0, 0)))
    'maxpool k3 s2 p0 ceil'
    """
    parts = ["fc" if layer.kind == "linear" else layer.kind]
    if layer.kind == "residual":
        return "res"
    if layer.out is not None:
        parts.append(str(layer.out))
    if layer.output_size is not None:
        parts.append(f"{layer.output_size[0]}x{layer.output_size[1]}")
    if layer.kernel is not None:
        parts.append(_text_pair("k", layer.kernel))
    if layer.stride is not None and layer.stride != (1, 1):
        parts.append(_text_pair("s", layer.stride))
    elif pads is not None and layer.kind in ("conv", "convt"):
        parts.append("s1")
    if pads is not None:
        parts.append(_text_padding(pads))
    elif isinstance(layer.padding, str):
        parts.append(f"p{layer.padding}")
    elif layer.padding != 0:
        parts.append(_text_padding(resolve_padding(layer.padding, (1, 1), (1, 1))))
    if layer.dilation != (1, 1):
        parts.append(_text_pair("d", layer.dilation))
    if layer.groups != 1:
        parts.append(f"g{layer.groups}")
    if layer.output_padding != (0, 0):
        parts.append(_text_pair("op", layer.output_padding))
    if not layer.bias and layer.kind in ("conv", "convt", "linear"):
        parts.append("nobias")
    if layer.ceil_mode:
        parts.append("ceil")
    if layer.dropout is not None:
        parts.append(f"{layer.dropout:g}")
    return " ".join(parts)


@dataclass
class _State:
    shape: tuple[int, ...]
    rf: Pair | None = (1, 1)
    jump: Pair | None = (1, 1)

    @property
    def spatial(self) -> bool:
        return len(self.shape) == 3


def _grow(state: _State, span: Pair, stride: Pair) -> tuple[Pair | None, Pair | None]:
    if state.rf is None or state.jump is None:
        return None, None
    rf = (
        state.rf[0] + (span[0] - 1) * state.jump[0],
        state.rf[1] + (span[1] - 1) * state.jump[1],
    )
    return rf, (state.jump[0] * stride[0], state.jump[1] * stride[1])


def _shape_text(shape: Sequence[int]) -> str:
    return "×".join(str(v) for v in shape)


def _expand_block(layer: Layer, channels: int) -> Layer:
    """torchvision's BasicBlock / Bottleneck as a residual Layer."""
    stride = layer.stride or (1, 1)
    width = layer.out or 1
    if layer.kind == "basic":
        out = width
        body: tuple[Layer, ...] = (
            Layer("conv", width, (3, 3), stride, 1, bias=False),
            Layer("bn"),
            Layer("relu"),
            Layer("conv", width, (3, 3), (1, 1), 1, bias=False),
            Layer("bn"),
        )
    else:
        out = 4 * width
        body = (
            Layer("conv", width, (1, 1), (1, 1), 0, bias=False),
            Layer("bn"),
            Layer("relu"),
            Layer("conv", width, (3, 3), stride, 1, bias=False),
            Layer("bn"),
            Layer("relu"),
            Layer("conv", out, (1, 1), (1, 1), 0, bias=False),
            Layer("bn"),
        )
    shortcut: tuple[Layer, ...] = ()
    if stride != (1, 1) or channels != out:
        shortcut = (Layer("conv", out, (1, 1), stride, 0, bias=False), Layer("bn"))
    return Layer("residual", body=body, shortcut=shortcut, post=(Layer("relu"),))


class _Analyzer:
    def __init__(self) -> None:
        self.rows: list[LayerRow] = []

    def run(self, layers: Iterable[Layer], state: _State, prefix: str, depth: int) -> _State:
        for i, layer in enumerate(layers, 1):
            state = self.one(layer, state, f"{prefix}{i}", depth)
        return state

    def fail(self, index: str, layer: Layer, message: str) -> ShapeError:
        return ShapeError(f"layer {index} ({format_layer(layer)}): {message}")

    def one(self, layer: Layer, state: _State, index: str, depth: int) -> _State:
        try:
            return self._one(layer, state, index, depth)
        except ShapeError as exc:
            if str(exc).startswith("layer "):
                raise
            raise self.fail(index, layer, str(exc)) from None

    def _one(self, layer: Layer, state: _State, index: str, depth: int) -> _State:
        kind = layer.kind
        if kind in ("basic", "bottleneck"):
            if not state.spatial:
                raise ShapeError(f"a {kind} block needs a C×H×W input, got {state.shape[0]}")
            block = _expand_block(layer, state.shape[0])
            return self.residual(block, state, index, depth, format_layer(layer))
        if kind == "residual":
            return self.residual(layer, state, index, depth, "res")
        params = macs = 0
        config = format_layer(layer)
        rf, jump = state.rf, state.jump
        if kind in ("conv", "convt", "maxpool", "avgpool", "adaptiveavgpool", "adaptivemaxpool"):
            if not state.spatial:
                raise ShapeError(f"{kind} needs a C×H×W input, got a flat {state.shape[0]}")
        c, *hw = state.shape
        if kind in ("conv", "convt"):
            assert layer.kernel is not None and layer.out is not None
            h, w = hw
            stride = layer.stride or (1, 1)
            f, g = layer.out, layer.groups
            if c % g or f % g:
                raise ShapeError(
                    f"groups ({g}) must divide the input channels ({c}) and the filters ({f})"
                )
            kh, kw = layer.kernel
            if kind == "conv":
                pads = resolve_padding(layer.padding, (h, w), layer.kernel, stride, layer.dilation)
                oh = output_size(h, kh, stride[0], pads[0], layer.dilation[0])
                ow = output_size(w, kw, stride[1], pads[1], layer.dilation[1])
                params = f * (c // g) * kh * kw + (f if layer.bias else 0)
                macs = oh * ow * f * (c // g) * kh * kw
                span = (
                    effective_kernel_size(kh, layer.dilation[0]),
                    effective_kernel_size(kw, layer.dilation[1]),
                )
                rf, jump = _grow(state, span, stride)
            else:
                if isinstance(layer.padding, str) and layer.padding != "valid":
                    raise ShapeError(
                        f"a transposed convolution takes a numeric padding, not {layer.padding!r}"
                    )
                pads = resolve_padding(layer.padding, (h, w), layer.kernel, stride, layer.dilation)
                oh = transposed_output_size(
                    h, kh, stride[0], pads[0], layer.dilation[0], layer.output_padding[0]
                )
                ow = transposed_output_size(
                    w, kw, stride[1], pads[1], layer.dilation[1], layer.output_padding[1]
                )
                params = c * (f // g) * kh * kw + (f if layer.bias else 0)
                macs = h * w * c * (f // g) * kh * kw
                rf = jump = None
            config = format_layer(layer, pads)
            shape: tuple[int, ...] = (f, oh, ow)
        elif kind in ("maxpool", "avgpool"):
            assert layer.kernel is not None
            h, w = hw
            stride = layer.stride or layer.kernel
            pads = resolve_padding(layer.padding, (h, w), layer.kernel, stride)
            oh = pool_output_size(h, layer.kernel[0], stride[0], pads[0], layer.ceil_mode)
            ow = pool_output_size(w, layer.kernel[1], stride[1], pads[1], layer.ceil_mode)
            rf, jump = _grow(state, layer.kernel, stride)
            config = format_layer(replace(layer, stride=stride), pads)
            shape = (c, oh, ow)
        elif kind in ("adaptiveavgpool", "adaptivemaxpool"):
            assert layer.output_size is not None
            h, w = hw
            oh, ow = layer.output_size
            if h % oh == 0 and w % ow == 0:
                window = (h // oh, w // ow)
                rf, jump = _grow(state, window, window)
            else:
                rf = jump = None
            shape = (c, oh, ow)
        elif kind == "flatten":
            size = 1
            for v in state.shape:
                size *= v
            shape = (size,)
        elif kind == "linear":
            assert layer.out is not None
            if state.spatial:
                raise ShapeError(
                    f"fc needs a flat input, got {_shape_text(state.shape)}: "
                    "put 'flatten' before it"
                )
            params = c * layer.out + (layer.out if layer.bias else 0)
            macs = c * layer.out
            rf = jump = None
            shape = (layer.out,)
        elif kind == "bn":
            params = 2 * c
            shape = state.shape
        else:  # activations, dropout: shape unchanged
            shape = state.shape
        self.rows.append(LayerRow(index, depth, kind, config, shape, params, macs, rf, jump))
        return _State(shape, rf, jump)

    def residual(self, layer: Layer, state: _State, index: str, depth: int, config: str) -> _State:
        if not state.spatial:
            raise ShapeError(f"a residual block needs a C×H×W input, got {state.shape[0]}")
        header = len(self.rows)
        self.rows.append(LayerRow(index, depth, "block", config, (), 0, 0, None, None))
        first = len(self.rows)
        main = self.run(layer.body, state, f"{index}.", depth + 1)
        side = self.run(layer.shortcut, state, f"{index}.s", depth + 1)
        if main.shape != side.shape:
            branch = "the shortcut" if layer.shortcut else "the identity shortcut"
            raise ShapeError(
                f"layer {index} (residual): the body gives {_shape_text(main.shape)} but {branch} "
                f"gives {_shape_text(side.shape)}"
            )
        rf = jump = None
        if main.rf is not None and side.rf is not None and main.jump is not None:
            rf = (max(main.rf[0], side.rf[0]), max(main.rf[1], side.rf[1]))
            jump = main.jump
        self.rows.append(LayerRow(f"{index}.+", depth + 1, "add", "", main.shape, 0, 0, rf, jump))
        out = _State(main.shape, rf, jump)
        out = self.run(layer.post, out, f"{index}.p", depth + 1)
        inner = [row for row in self.rows[first:] if row.leaf]
        self.rows[header] = LayerRow(
            index,
            depth,
            "block",
            config,
            out.shape,
            sum(row.params for row in inner),
            sum(row.macs for row in inner),
            out.rf,
            out.jump,
            leaf=False,
        )
        return out


def analyze_network(layers: Sequence[Layer], input_shape: Sequence[int]) -> NetworkSummary:
    """Compute each layer's output shape, parameters, MACs and receptive field.

    Parameters
    ----------
    layers : sequence of Layer
        From :func:`parse_layers`, :func:`load_spec` or an
        :class:`Architecture`.
    input_shape : (C, H, W)
        The input's channels, height and width.

    Returns
    -------
    NetworkSummary
        One :class:`LayerRow` per layer (blocks add a row for themselves and
        for their addition), the totals as properties.

    Raises
    ------
    ShapeError
        When a layer does not fit its input; the message names the layer.

    Examples
    --------
    >>> summary = analyze_network(parse_layers("conv 6 k5 p2, avgpool k2"), (1, 28, 28))
    >>> [row.shape for row in summary.rows], summary.total_params
    ([(6, 28, 28), (6, 14, 14)], 156)
    """
    shape = tuple(input_shape)
    if len(shape) != 3 or not all(isinstance(v, int) and v >= 1 for v in shape):
        raise ShapeError(f"`input_shape` must be (C, H, W) of positive ints, got {shape!r}")
    analyzer = _Analyzer()
    analyzer.run(layers, _State(shape), "", 0)
    return NetworkSummary((shape[0], shape[1], shape[2]), tuple(analyzer.rows))


# --------------------------------------------------------------------------
# presets
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Architecture:
    """A built-in network: its spec text, default input (C, H, W) and source."""

    name: str
    spec: str
    input_shape: tuple[int, int, int]
    source: str

    @property
    def layers(self) -> tuple[Layer, ...]:
        """The parsed layers (parsed on first use, then cached)."""
        return _parse_preset(self.spec)


@functools.cache
def _parse_preset(spec: str) -> tuple[Layer, ...]:
    return tuple(parse_layers(spec))


def _vgg(config: str) -> str:
    layers = []
    for item in config.split():
        layers.append("maxpool k2 s2" if item == "M" else f"conv {item} k3 p1, relu")
    head = "adaptiveavgpool 7, flatten, fc 4096, relu, dropout 0.5, fc 4096, relu, dropout 0.5"
    return ", ".join([*layers, head, "fc 1000"])


def _resnet(block: str, counts: Sequence[int]) -> str:
    stages = []
    for i, (width, count) in enumerate(zip((64, 128, 256, 512), counts, strict=True)):
        first = f"{block} {width}" if i == 0 else f"{block} {width} s2"
        stages.append(first)
        if count > 1:
            stages.append(f"{count - 1}*{block} {width}")
    return ", ".join(
        ["conv 64 k7 s2 p3 nobias, bn, relu, maxpool k3 s2 p1", *stages, "gap, flatten, fc 1000"]
    )


#: Built-in networks, by name. The ImageNet models follow torchvision's
#: definitions (``torchvision.models``: AlexNet, VGG without BatchNorm, ResNet
#: v1.5 with the stride on the 3×3 convolution), 1000 classes; LeNet-5 is the
#: one of *Dive into Deep Learning* §7.6 (sigmoid, average pooling, 28×28).
ARCHITECTURES: dict[str, Architecture] = {
    arch.name: arch
    for arch in (
        Architecture(
            "lenet5",
            "conv 6 k5 p2, sigmoid, avgpool k2 s2, conv 16 k5, sigmoid, avgpool k2 s2, "
            "flatten, fc 120, sigmoid, fc 84, sigmoid, fc 10",
            (1, 28, 28),
            "LeNet-5 as built in Dive into Deep Learning, section 7.6",
        ),
        Architecture(
            "alexnet",
            "conv 64 k11 s4 p2, relu, maxpool k3 s2, conv 192 k5 p2, relu, maxpool k3 s2, "
            "conv 384 k3 p1, relu, conv 256 k3 p1, relu, conv 256 k3 p1, relu, maxpool k3 s2, "
            "adaptiveavgpool 6, flatten, dropout 0.5, fc 4096, relu, dropout 0.5, fc 4096, "
            "relu, fc 1000",
            (3, 224, 224),
            "torchvision.models.alexnet",
        ),
        Architecture(
            "vgg11",
            _vgg("64 M 128 M 256 256 M 512 512 M 512 512 M"),
            (3, 224, 224),
            "torchvision.models.vgg11 (configuration A, no BatchNorm)",
        ),
        Architecture(
            "vgg16",
            _vgg("64 64 M 128 128 M 256 256 256 M 512 512 512 M 512 512 512 M"),
            (3, 224, 224),
            "torchvision.models.vgg16 (configuration D, no BatchNorm)",
        ),
        Architecture(
            "resnet18",
            _resnet("basic", (2, 2, 2, 2)),
            (3, 224, 224),
            "torchvision.models.resnet18",
        ),
        Architecture(
            "resnet50",
            _resnet("bottleneck", (3, 4, 6, 3)),
            (3, 224, 224),
            "torchvision.models.resnet50 (v1.5: stride on the 3×3 convolution)",
        ),
    )
}
