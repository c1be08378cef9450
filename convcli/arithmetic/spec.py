"""The layer-spec language: a network written as text or JSON, and back.

Pure Python (no numpy). :func:`parse_layers` reads the text language,
:func:`load_spec` a spec file (JSON or text), and :func:`format_layer` writes
a :class:`Layer` back as text. The analysis lives in
:mod:`convcli.arithmetic.network`, the built-in networks in
:mod:`convcli.arithmetic.presets`.

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
``seq [NAME](A, B, ...)``          a group of layers (torchvision's ``layer1``),
                                   one level of nesting for ``shape --depth``
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
``output_padding``, ``output_size``, ``body``, ``shortcut``, ``repeat``;
a ``seq`` takes ``layers`` and an optional ``name``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ..errors import ParameterError, ShapeError
from .jsontext import check_digits, load_json
from .limits import MAX_LAYERS, check_layers, check_nesting
from .padding import PaddingSpec, parse_padding, resolve_padding

__all__ = ["ACTIVATIONS", "Layer", "format_layer", "load_spec", "parse_layers"]

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
    "seq": ("seq", "sequential", "stage"),
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
        ``bn``, ``dropout``, ``basic``, ``bottleneck``, ``residual``, ``seq``
        or an activation (``relu``, ``sigmoid``, ...).
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
    name : str, optional
        A ``seq`` group's name (``layer1``).
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
    name: str | None = None


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
    """``pPAD``: read by :func:`~convcli.arithmetic.sizes.parse_padding`, kept in its
    shortest form (``2``, ``(2, 1)`` or ``((top, bottom), (left, right))``)."""
    try:
        pads = parse_padding(text)
    except ShapeError as exc:
        raise ShapeError(f"layer {item!r}: {exc}") from None
    if isinstance(pads, str):
        return pads
    (top, bottom), (left, right) = pads
    if top == bottom and left == right:
        return top if top == left else (top, left)
    return pads


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
    if kind == "seq":
        raise ShapeError(f"layer {item!r}: a seq holds layers: write 'seq(conv 8 k3, relu)'")
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
        try:
            check_layers(len(group) * count, f"layer spec {text[:40]!r}")
        except ParameterError as exc:
            raise ShapeError(str(exc)) from None
        return group * count
    residual = re.fullmatch(r"(res|residual)\s*\((.*)\)", text, flags=re.DOTALL | re.IGNORECASE)
    if residual:
        branches = _split_top(residual.group(2), "|")
        if len(branches) > 2:
            raise ShapeError(f"{text!r}: a residual block has one '|' at most (body | shortcut)")
        body = tuple(parse_layers(branches[0]))
        shortcut = tuple(parse_layers(branches[1])) if len(branches) == 2 else ()
        return [Layer("residual", body=body, shortcut=shortcut)]
    seq = re.fullmatch(
        r"(seq|sequential|stage)(?:\s+([A-Za-z_][\w.-]*))?\s*\((.*)\)",
        text,
        flags=re.DOTALL | re.IGNORECASE,
    )
    if seq:
        return [Layer("seq", body=tuple(parse_layers(seq.group(3))), name=seq.group(2))]
    if "(" in text or ")" in text:
        raise ShapeError(
            f"cannot read {text!r}: parentheses belong to 'res(...)', 'seq(...)' or 'N*(...)'"
        )
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
    try:
        check_nesting(joined, "layer spec")
    except ParameterError as exc:
        raise ShapeError(str(exc)) from None
    check_digits(joined, "layer spec", ShapeError)
    layers: list[Layer] = []
    for item in _split_top(joined, ","):
        if item.strip():
            layers.extend(_parse_item(item))
            if len(layers) > MAX_LAYERS:
                raise ShapeError(
                    f"layer spec: expands to more than {MAX_LAYERS} layers; "
                    f"the limit is {MAX_LAYERS} layers"
                )
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
    if kind == "seq":
        if "layers" not in data:
            raise ShapeError(f'{where}: a seq needs "layers"')
        fields["body"] = tuple(_layers_from_json(data.pop("layers"), f"{where}.layers"))
        if "name" in data:
            name = data.pop("name")
            if not isinstance(name, str) or not name:
                raise ShapeError(f"{where}: 'name' must be a non-empty string, got {name!r}")
            fields["name"] = name
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
    if repeat > MAX_LAYERS:
        raise ShapeError(f'{where}: "repeat" {repeat} is over the limit of {MAX_LAYERS} layers')
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
    data = load_json(stripped, "JSON spec", ShapeError)
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


def _seq_text(layer: Layer) -> str:
    """A group in a few words: ``layer2: 4 × bottleneck 128``."""
    words = {
        format_layer(replace(child, stride=None)) if child.kind in ("basic", "bottleneck") else ""
        for child in layer.body
    }
    count = len(layer.body)
    if len(words) == 1 and "" not in words:
        text = f"{count} × {words.pop()}"
    else:
        text = f"seq of {count}"
    return f"{layer.name}: {text}" if layer.name else text


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
    if layer.kind == "seq":
        return _seq_text(layer)
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
