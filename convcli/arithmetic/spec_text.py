"""The layer-spec language read from text: :func:`parse_layers` (pure Python).

The grammar is described in :mod:`convcli.arithmetic.spec`; the words it
knows are in :mod:`.spec_words`.

Examples
--------
>>> [layer.kind for layer in parse_layers("conv 6 k5 p2, sigmoid, avgpool k2 s2")]
['conv', 'sigmoid', 'avgpool']
"""

from __future__ import annotations

import re

from ..errors import ParameterError, ShapeError
from .jsontext import check_digits
from .limits import check_nesting
from .padding import PaddingSpec, parse_padding
from .spec_words import ALLOWED, EXAMPLES, KIND_OF, POSITIONAL, UPSAMPLE_MODES, Layer, repeated
from .support import Pair, PairSyntaxError, parse_pair

__all__ = ["parse_layers", "split_top"]


def split_top(text: str, separators: str) -> list[str]:
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
    """``N`` or ``HxW`` by :func:`~convcli.arithmetic.support.parse_pair`, worded for a layer."""
    try:
        return parse_pair(text, minimum)
    except PairSyntaxError as exc:
        if exc.reason == "form":
            raise ShapeError(f"layer {item!r}: {what} {text!r} is not N or HxW") from None
        if exc.reason == "small":
            raise ShapeError(
                f"layer {item!r}: {what} must be at least {minimum}, got {exc.value}"
            ) from None
        raise ShapeError(f"layer {item!r}: {what} {exc.part!r} is not a whole number") from None


def _padding(text: str, item: str) -> PaddingSpec:
    """``pPAD``: read by :func:`~convcli.arithmetic.sizes.parse_padding`, kept in its
    shortest form (``2``, ``(2, 1)`` or ``((top, bottom), (left, right))``).
    """
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
_ARGEXAMPLES = {
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
    kind = KIND_OF.get(word)
    if kind is None:
        known = sorted(set(KIND_OF) - {"conv2d", "maxpool2d", "avgpool2d", "batchnorm2d"})
        raise ShapeError(f"unknown layer {word!r} in {item!r}: expected one of {', '.join(known)}")
    if kind == "seq":
        raise ShapeError(f"layer {item!r}: a seq holds layers: write 'seq(conv 8 k3, relu)'")
    allowed = ALLOWED.get(kind, frozenset())
    fields: dict[str, object] = {}
    positional: list[str] = []
    for arg in words[1:]:
        low = arg.lower()
        if low in UPSAMPLE_MODES:
            if low not in allowed:
                raise ShapeError(f"layer {item!r}: {kind} takes no {low!r}")
            fields["mode"] = low
            continue
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
            forms = [example for key, example in _ARGEXAMPLES.items() if key in allowed]
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
    if kind in POSITIONAL:
        if len(positional) != 1:
            raise ShapeError(
                f"layer {item!r}: {kind} needs {POSITIONAL[kind]}, e.g. {EXAMPLES[kind]!r}"
            )
        if kind.startswith("adaptive"):
            fields["output_size"] = _pair(positional[0], "output size", item)
        elif kind == "upsample":
            fields["scale"] = _pair(positional[0], "scale factor", item)
        elif kind == "crop":
            fields["crop"] = _pair(positional[0], "crop", item, 0)
        else:
            fields["out"] = _int(positional[0], POSITIONAL[kind], item, 1)
    elif positional:
        raise ShapeError(f"layer {item!r}: {kind} takes no number ({positional[0]!r})")
    if kind in ("conv", "convt", "maxpool", "avgpool") and "kernel" not in fields:
        raise ShapeError(f"layer {item!r}: {kind} needs a kernel, e.g. {EXAMPLES[kind]!r}")
    if kind == "gap":
        return Layer("adaptiveavgpool", output_size=(1, 1))
    return Layer(kind, **fields)  # type: ignore[arg-type]


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
        return repeated(group, count)
    residual = re.fullmatch(
        r"(res|residual|cat|concat)\s*\((.*)\)", text, flags=re.DOTALL | re.IGNORECASE
    )
    if residual:
        kind = KIND_OF[residual.group(1).lower()]
        branches = split_top(residual.group(2), "|")
        if len(branches) > 2:
            raise ShapeError(f"{text!r}: a {kind} block has one '|' at most (body | shortcut)")
        body = tuple(parse_layers(branches[0]))
        shortcut = tuple(parse_layers(branches[1])) if len(branches) == 2 else ()
        return [Layer(kind, body=body, shortcut=shortcut)]
    seq = re.fullmatch(
        r"(seq|sequential|stage)(?:\s+([A-Za-z_][\w.-]*))?\s*\((.*)\)",
        text,
        flags=re.DOTALL | re.IGNORECASE,
    )
    if seq:
        return [Layer("seq", body=tuple(parse_layers(seq.group(3))), name=seq.group(2))]
    if "(" in text or ")" in text:
        raise ShapeError(
            f"cannot read {text!r}: parentheses belong to 'res(...)', 'cat(...)', 'seq(...)' or 'N*(...)'"
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
    for item in split_top(joined, ","):
        if item.strip():
            layers.extend(_parse_item(item))
    if not layers:
        raise ShapeError(f"no layers in spec {text.strip()!r}")
    return layers
