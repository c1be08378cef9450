"""A :class:`~.spec_words.Layer` written back in the spec language: :func:`format_layer`.

Pure Python; the config column of ``convcli shape``'s network table.

Examples
--------
>>> format_layer(Layer("conv", 64, (11, 11), (4, 4), 2), ((2, 2), (2, 2)))
'conv 64 k11 s4 p2'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from .padding import resolve_padding
from .spec_words import Layer
from .support import Pair

__all__ = ["body_text", "format_layer", "padding_text", "pair_text"]


def pair_text(prefix: str, value: Sequence[int]) -> str:
    """``k3`` or ``k5x3``, as the spec language writes a pair."""
    return f"{prefix}{value[0]}" if value[0] == value[1] else f"{prefix}{value[0]}x{value[1]}"


def padding_text(pads: tuple[Pair, Pair]) -> str:
    """``p2``, ``p1x0``, ``p0:1`` or ``p0:1x1:0``, as the spec language writes a padding."""
    (top, bottom), (left, right) = pads
    if top == bottom and left == right:
        return pair_text("p", (top, left))
    if (top, bottom) == (left, right):
        return f"p{top}:{bottom}"
    return f"p{top}:{bottom}x{left}:{right}"


def _seq_text(layer: Layer) -> str:
    """A group in a few words: ``layer2: 4 × bottleneck 128``."""
    children = [
        (child.body[0], child.count)
        if child.kind == "repeat" and len(child.body) == 1
        else (child, 1)
        for child in layer.body
    ]
    words = {
        format_layer(replace(child, stride=None)) if child.kind in ("basic", "bottleneck") else ""
        for child, _ in children
    }
    count = sum(times for _, times in children)
    if len(words) == 1 and "" not in words:
        text = f"{count} × {words.pop()}"
    else:
        text = f"seq of {count}"
    return f"{layer.name}: {text}" if layer.name else text


def body_text(layers: Sequence[Layer]) -> str:
    """Layers in the spec language: ``relu``, or ``(conv 8 k3, relu)`` for several.

    Examples
    --------
    >>> body_text([Layer("relu")]), body_text([Layer("conv", 8, (3, 3)), Layer("relu")])
    ('relu', '(conv 8 k3, relu)')
    """
    text = ", ".join(format_layer(layer) for layer in layers)
    return text if len(layers) == 1 else f"({text})"


def format_layer(layer: Layer, pads: tuple[Pair, Pair] | None = None) -> str:
    """Write a layer back in the spec language.

    Parameters
    ----------
    layer : Layer
    pads : ((int, int), (int, int)), optional
        The resolved padding, shown instead of a word such as ``same``.

    Examples
    --------
    >>> from convcli.arithmetic.spec_text import parse_layers
    >>> format_layer(parse_layers("conv 64 k11 s4 p2")[0], ((2, 2), (2, 2)))
    'conv 64 k11 s4 p2'
    >>> format_layer(parse_layers("maxpool k3 s2 ceil")[0], ((0, 0), (0, 0)))
    'maxpool k3 s2 p0 ceil'
    """
    parts = ["fc" if layer.kind == "linear" else layer.kind]
    if layer.kind == "residual":
        return "res"
    if layer.kind == "concat":
        return "cat"
    if layer.kind == "seq":
        return _seq_text(layer)
    if layer.kind == "repeat":
        return f"{layer.count}*{body_text(layer.body)}"
    if layer.out is not None:
        parts.append(str(layer.out))
    if layer.output_size is not None:
        parts.append(f"{layer.output_size[0]}x{layer.output_size[1]}")
    for pair in (layer.scale, layer.crop):
        if pair is not None:
            parts.append(pair_text("", pair))
    if layer.mode is not None and layer.mode != "nearest":
        parts.append(layer.mode)
    if layer.kernel is not None:
        parts.append(pair_text("k", layer.kernel))
    if layer.stride is not None and layer.stride != (1, 1):
        parts.append(pair_text("s", layer.stride))
    elif pads is not None and layer.kind in ("conv", "convt"):
        parts.append("s1")
    if pads is not None:
        parts.append(padding_text(pads))
    elif isinstance(layer.padding, str):
        parts.append(f"p{layer.padding}")
    elif layer.padding != 0:
        parts.append(padding_text(resolve_padding(layer.padding, (1, 1), (1, 1))))
    if layer.dilation != (1, 1):
        parts.append(pair_text("d", layer.dilation))
    if layer.groups != 1:
        parts.append(f"g{layer.groups}")
    if layer.output_padding != (0, 0):
        parts.append(pair_text("op", layer.output_padding))
    if not layer.bias and layer.kind in ("conv", "convt", "linear"):
        parts.append("nobias")
    if layer.ceil_mode:
        parts.append("ceil")
    if layer.dropout is not None:
        parts.append(f"{layer.dropout:g}")
    return " ".join(parts)
