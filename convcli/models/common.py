"""What every model reader shares: located layers, the input shape, the analysis.

A reader turns a model into :class:`Located` layers: a spec-language
:class:`~convcli.arithmetic.spec.Layer` with the place it came from
(``model.py:12`` or ``config.json: layer 'conv2d'``) and, where the model
states it, the input channels or features the layer was built for. The
analysis itself is :func:`convcli.arithmetic.network.analyze_network`'s: this
module only checks the stated input sizes against the shapes it computes and
puts the place in front of its messages.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..arithmetic.limits import MAX_LAYERS
from ..arithmetic.network import NetworkSummary, analyze_network
from ..arithmetic.spec import Layer, format_layer
from ..errors import ShapeError

__all__ = [
    "Located",
    "ModelError",
    "ModelSummary",
    "first_channels",
    "flat_layers",
    "input_shape",
    "join_residual",
    "pair_of",
    "summarize",
    "with_batch",
]

Pair = tuple[int, int]


class ModelError(ShapeError):
    """A model, or a construct in it, that convcli cannot read without running it.

    The message starts with the place (``model.py:14:``, ``model.keras:
    layer 'conv2d':``) and says what was found. The command line exits 2.
    """


@dataclass(frozen=True)
class Located:
    """A layer, where it was written, and the input size its weights were built for.

    Attributes
    ----------
    layer : Layer
        The layer in the spec language; a ``seq`` or ``residual`` keeps its
        children in ``body``, ``shortcut`` and ``post`` (as plain Layers)
        and their places in the fields of the same names here.
    where : str
        ``file:line`` or ``file: layer 'name'``.
    expect_in : int, optional
        Input channels (convolution, batch norm) or features (linear) the
        model states; checked against the computed shapes.
    body, shortcut, post : tuple of Located
        The located children of a ``seq`` or ``residual`` layer.
    """

    layer: Layer
    where: str
    expect_in: int | None = None
    body: tuple[Located, ...] = ()
    shortcut: tuple[Located, ...] = ()
    post: tuple[Located, ...] = ()


@dataclass(frozen=True)
class ModelSummary:
    """A model read and analysed: its name, the kind of source, the summary."""

    name: str
    source: str
    summary: NetworkSummary


def pair_of(value: Any, where: str, what: str) -> Pair:
    """Read an int or a pair of ints (list, tuple, Keras 2's ``__tuple__``) as (H, W).

    Examples
    --------
    >>> pair_of(3, "m.py:1", "kernel_size"), pair_of([5, 3], "m.py:1", "kernel_size")
    ((3, 3), (5, 3))
    """
    if isinstance(value, dict) and value.get("class_name") == "__tuple__":
        value = value.get("items")
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        return (value[0], value[1])
    raise ModelError(f"{where}: {what} {value!r} is not an int or a pair of ints")


def flat_layers(items: Sequence[Located]) -> list[Layer]:
    """Return the plain layers of ``items`` (children rebuilt from their Located forms)."""
    out = []
    for item in items:
        layer = item.layer
        if item.body or item.shortcut or item.post:
            layer = Layer(
                layer.kind,
                body=tuple(flat_layers(item.body)),
                shortcut=tuple(flat_layers(item.shortcut)),
                post=tuple(flat_layers(item.post)),
                name=layer.name,
            )
        out.append(layer)
    return out


def input_shape(
    stated: Sequence[int | None] | None,
    given: Pair | None,
    channels: int | None,
    where: str,
) -> tuple[int, int, int]:
    """Return the (C, H, W) to analyse: the model's, completed or replaced by the user's.

    Parameters
    ----------
    stated : (C, H, W) with None for unknown sizes, or None
        What the model file says (a Keras input's ``batch_shape`` without
        the batch, a ``.pt2``'s example input).
    given : (H, W), optional
        ``--in``: replaces the stated height and width.
    channels : int, optional
        ``--channels``: replaces the stated channels.
    where : str
        The model, for the message when a size is missing.

    Examples
    --------
    >>> input_shape((1, None, None), (28, 28), None, "m.keras")
    (1, 28, 28)
    >>> input_shape(None, (32, 32), None, "m.py")
    Traceback (most recent call last):
    ...
    convcli.models.common.ModelError: m.py: give the input's channels with --channels (and its size with --in)
    """
    c, h, w = stated if stated is not None else (None, None, None)
    if given is not None:
        h, w = given
    if channels is not None:
        c = channels
    if c is None:
        raise ModelError(
            f"{where}: give the input's channels with --channels (and its size with --in)"
        )
    if h is None or w is None:
        raise ModelError(f"{where}: the input's height and width are not stated: give --in")
    return (c, h, w)


def first_channels(items: Sequence[Located]) -> int | None:
    """Return the input channels the first convolution or batch norm states, if any.

    Layers that keep the channels (activations, pools, dropout, resizing)
    may come first; a layer that changes them without stating its input
    (a lazy convolution, a linear layer, a flatten, a residual block's end)
    stops the search.

    Examples
    --------
    >>> from convcli.arithmetic.spec import parse_layers
    >>> relu, conv = parse_layers("relu, conv 6 k5")
    >>> first_channels([Located(relu, "m.py:2"), Located(conv, "m.py:3", expect_in=3)])
    3
    >>> print(first_channels([Located(conv, "m.py:3")]))
    None
    """
    for item in _leaves_in_order(items):
        kind = item.layer.kind
        if kind in ("conv", "convt", "bn"):
            return item.expect_in
        if item.expect_in is not None or kind in ("linear", "flatten", "residual", "repeat"):
            return None
    return None


def _leaves_in_order(items: Sequence[Located]) -> Iterator[Located]:
    """Yield the layers as the input meets them: into groups, a residual block's body, then it."""
    for item in items:
        if item.layer.kind in ("seq", "residual"):
            yield from _leaves_in_order(item.body)
        if item.layer.kind != "seq":
            yield item


def _located_indices(
    items: Sequence[Located], prefix: str, shape: tuple[int, ...], shapes: dict[str, tuple]
) -> list[tuple[Located, tuple[int, ...], str]]:
    """(item, its input shape, its row index), walking the layers as the analysis numbers them."""
    found = []
    for number, item in enumerate(items, 1):
        index = f"{prefix}{number}"
        found.append((item, shape, index))
        kind = item.layer.kind
        if kind == "seq":
            found += _located_indices(item.body, f"{index}.", shape, shapes)
        elif kind == "residual":
            found += _located_indices(item.body, f"{index}.", shape, shapes)
            found += _located_indices(item.shortcut, f"{index}.s", shape, shapes)
            found += _located_indices(item.post, f"{index}.p", shapes[f"{index}.+"], shapes)
        shape = shapes.get(index, shape)
    return found


_LAYER_INDEX = re.compile(r"layer ([\w.+]+) \(")


def summarize(
    items: Sequence[Located], shape: tuple[int, int, int], notes: Sequence[str] = ()
) -> NetworkSummary:
    """Analyse the located layers on a (C, H, W) input and check their stated input sizes.

    Raises
    ------
    ShapeError
        A layer that does not fit, its place in front of the analysis' message;
        a :class:`ModelError` when a layer was built for other input channels
        or features than the layer before it gives.

    Examples
    --------
    >>> from convcli.arithmetic.spec import parse_layers
    >>> conv, = parse_layers("conv 6 k5 p2")
    >>> summarize([Located(conv, "m.py:3", expect_in=3)], (1, 28, 28))
    Traceback (most recent call last):
    ...
    convcli.models.common.ModelError: m.py:3: conv 6 k5 p2 was built for 3 input channels; its input is 1×28×28
    """
    count = _count(items)
    if count > MAX_LAYERS:
        raise ModelError(f"the model has {count:,} layers; the limit is {MAX_LAYERS:,}")
    try:
        summary = analyze_network(flat_layers(items), shape)
    except ShapeError as exc:
        text = str(exc)
        match = _LAYER_INDEX.match(text)
        if match:
            places = {index: item.where for item, _, index in _walk(items, shape)}
            if match.group(1) in places:
                raise ShapeError(f"{places[match.group(1)]}: {text}") from None
        raise
    shapes = {row.index: row.shape for row in summary.rows}
    for item, given, _ in _located_indices(items, "", shape, shapes):
        if item.expect_in is not None:
            _check_input(item, given)
    return with_batch(summary, notes)


#: the name of a model's batch axis, as the ONNX exporters name a dynamic one
BATCH = "N"
BATCH_NOTE = f"{BATCH} is the batch: MACs and memory are counted for {BATCH} = 1"


def with_batch(summary: NetworkSummary, notes: Sequence[str] = ()) -> NetworkSummary:
    """Put a batch axis ``N`` (counted as 1) in front of every shape of ``summary``; add notes.

    A model takes batches: its table shows ``N×6×24×24`` as an ONNX
    model's with a dynamic batch does, so that the same network reads the
    same from every kind of file.

    Examples
    --------
    >>> from convcli.arithmetic.spec import parse_layers
    >>> summary = with_batch(analyze_network(parse_layers("conv 6 k5"), (1, 28, 28)))
    >>> summary.rows[0].shown_shape, summary.shown_input
    (('N', 6, 24, 24), ('N', 1, 28, 28))
    """
    rows = tuple(
        replace(row, shape=(1, *row.shape), batch=BATCH) if row.shape else row
        for row in summary.rows
    )
    return NetworkSummary(
        (1, *summary.input_shape), rows, (BATCH_NOTE, *notes), BATCH, peak=summary.peak_activations
    )


def _count(items: Sequence[Located]) -> int:
    return sum(1 + _count(i.body) + _count(i.shortcut) + _count(i.post) for i in items)


def _check_input(item: Located, given: tuple[int, ...]) -> None:
    """Refuse a layer built for other input channels (or features, or a flatten's size)."""
    kind = item.layer.kind
    found: int | None
    if kind == "flatten":
        found, what = math.prod(given), "values (a view to -1 × N)"
    elif kind == "linear":
        found, what = given[0] if len(given) == 1 else None, "input features"
    else:
        found, what = given[0] if len(given) == 3 else None, "input channels"
    if found == item.expect_in:
        return
    raise ModelError(
        f"{item.where}: {format_layer(item.layer)} was built for {item.expect_in} {what}; "
        f"its input is {'×'.join(str(v) for v in given)}"
    )


def _walk(
    items: Sequence[Located], shape: tuple[int, int, int]
) -> list[tuple[Located, tuple[int, ...], str]]:
    """Return the layers' row indices before any analysis (shapes unknown), for messages."""
    return _located_indices(items, "", shape, _AnyShape(shape))


class _AnyShape(dict):
    """A shapes mapping that answers every index with one shape (indices only matter)."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = shape

    def __getitem__(self, key: str) -> tuple[int, ...]:
        return self.shape

    def get(self, key: str, default: Any = None) -> tuple[int, ...]:
        """Answer every index with the one shape."""
        return self.shape


@dataclass
class Notes:
    """Notes gathered while reading a model, each said once."""

    items: list[str] = field(default_factory=list)

    def add(self, text: str) -> None:
        """Add ``text`` unless it is already there."""
        if text not in self.items:
            self.items.append(text)


#: a tensor as the layers applied to the model's input, in order
Path = tuple[Located, ...]


def join_residual(a: Path, b: Path, where: str) -> Path:
    """Join ``a + b`` of two paths from the input: their common start, then a residual block.

    The branch that adds layers of its own is the body; the other, the
    shortcut (the identity when it adds none).

    Examples
    --------
    >>> from convcli.arithmetic.spec import parse_layers
    >>> stem, conv = (Located(layer, f"m.py:{i}") for i, layer in enumerate(parse_layers(
    ...     "conv 8 k3, conv 8 k3 p1")))
    >>> [item.layer.kind for item in join_residual((stem,), (stem, conv), "m.py:9")]
    ['conv', 'residual']
    """
    common = 0
    while common < min(len(a), len(b)) and a[common] is b[common]:
        common += 1
    tail_a, tail_b = a[common:], b[common:]
    if not tail_a and not tail_b:
        raise ModelError(f"{where}: a tensor added to itself (x + x) is not a residual block")
    if not tail_a:
        tail_a, tail_b = tail_b, tail_a
    block = Located(Layer("residual"), where, body=tail_a, shortcut=tail_b)
    return (*a[:common], block)
