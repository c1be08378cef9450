"""Long repeats (``N*(...)``) analysed without listing them: the helpers of :mod:`.network`.

Pure Python. A repeat of more than
:data:`~convcli.arithmetic.spec_words.REPEAT_EXPANDED` layers stays one
:class:`~convcli.arithmetic.spec_words.Layer` (kind ``repeat``). The
analysis walks its repetitions one at a time, keeping the rows of the first
and the last and one row (:func:`elided_row`) for those between; as soon as
a repetition gives back the shape and jump it was given (a *steady* state),
every later one gives the same counts and moves the receptive field by the
same step, so the rest is multiplied out (:func:`advance`) instead of
walked: ``1000000*relu`` or ``100000*(conv 64 k3 p1, relu)`` cost two walks.
Repetitions that change the size are walked one by one, each one's rows
dropped once summed, so memory stays that of one repetition.

:func:`count_rows` counts, before any is made, the rows an analysis will
hold, for :func:`~convcli.arithmetic.limits.check_layers`.

Examples
--------
>>> from convcli.arithmetic.spec import parse_layers
>>> count_rows(parse_layers("conv 8 k3, 1000000*relu, 1000*(conv 8 k3 p1, relu)"))
9
>>> index_span(parse_layers("1000*(conv 8 k3 p1, relu)")[0])
2000
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .spec_words import Layer
from .summary import LayerRow
from .support import Pair

__all__ = [
    "BLOCKS",
    "Sums",
    "advance",
    "count_rows",
    "elided_row",
    "index_span",
    "leaf_sums",
    "shift",
    "subtract",
]

#: kinds whose analysis adds rows of their own besides their layers'
BLOCKS = ("basic", "bottleneck", "residual", "concat", "seq", "repeat")


def index_span(layer: Layer) -> int:
    """Count the positions a layer takes in its sequence's numbering (N·… for a repeat)."""
    if layer.kind != "repeat":
        return 1
    return layer.count * sum(index_span(child) for child in layer.body)


def _block_rows(kind: str) -> int:
    """Count a torchvision block's rows: header, body, shortcut (at most 2), addition, ReLU."""
    return 1 + (5 if kind == "basic" else 8) + 2 + 1 + 1


def count_rows(layers: Iterable[Layer]) -> int:
    """Count the rows an analysis of ``layers`` holds at most (a repeat: first, last, one between)."""
    total = 0
    for layer in layers:
        kind = layer.kind
        if kind in ("basic", "bottleneck"):
            total += _block_rows(kind)
        elif kind in ("residual", "concat"):
            total += 2 + count_rows(layer.body) + count_rows(layer.shortcut)
            total += count_rows(layer.post)
        elif kind == "seq":
            total += 1 + count_rows(layer.body)
        elif kind == "repeat":
            inner = count_rows(layer.body)
            total += inner * layer.count if layer.count <= 2 else 2 * inner + 1
        else:
            total += 1
    return total


@dataclass(frozen=True)
class Sums:
    """What the leaf rows of some repetitions add up to."""

    params: int = 0
    macs: int = 0
    activations: int = 0
    param_activations: int = 0

    def __add__(self, other: Sums) -> Sums:
        """Add two sums field by field."""
        return Sums(
            self.params + other.params,
            self.macs + other.macs,
            self.activations + other.activations,
            self.param_activations + other.param_activations,
        )

    def times(self, count: int) -> Sums:
        """Return these sums ``count`` times over."""
        return Sums(
            self.params * count,
            self.macs * count,
            self.activations * count,
            self.param_activations * count,
        )


def leaf_sums(rows: Sequence[LayerRow]) -> Sums:
    """Add up the leaf rows among ``rows``."""
    total = Sums()
    for row in rows:
        if row.leaf:
            total += Sums(row.params, row.macs, row.activations, row.param_activations)
    return total


def advance(rf_before: Pair | None, rf_after: Pair | None, times: int) -> Pair | None:
    """Move the receptive field on by ``times`` steady repetitions after ``rf_after``.

    A repetition that keeps the shape and the jump adds the same step to
    the field each time: ``rf_after − rf_before``.

    Examples
    --------
    >>> advance((3, 3), (5, 5), 10)
    (25, 25)
    """
    if rf_before is None or rf_after is None:
        return rf_after
    return (
        rf_after[0] + times * (rf_after[0] - rf_before[0]),
        rf_after[1] + times * (rf_after[1] - rf_before[1]),
    )


def subtract(a: Pair, b: Pair) -> Pair:
    """Subtract ``b`` from ``a`` per axis: how far a walk moved the receptive field."""
    return (a[0] - b[0], a[1] - b[1])


def shift(rf: Pair | None, moved: Pair | None) -> Pair | None:
    """Move ``rf`` by ``moved`` (undefined when either is)."""
    if rf is None or moved is None:
        return None
    return (rf[0] + moved[0], rf[1] + moved[1])


def elided_row(
    index: str,
    depth: int,
    config: str,
    shape: tuple[int, ...],
    field: tuple[Pair | None, Pair | None],
    sums: Sums,
    repeat: int,
) -> LayerRow:
    """Build the row standing for ``repeat`` repetitions: their sums, shape and field after them."""
    return LayerRow(
        index,
        depth,
        "repeat",
        config,
        shape,
        sums.params,
        sums.macs,
        field[0],
        field[1],
        activations=sums.activations,
        param_activations=sums.param_activations,
        repeat=repeat,
    )
