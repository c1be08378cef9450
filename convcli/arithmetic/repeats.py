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
dropped once summed, so memory stays that of one repetition; once four in a
row have grown the size by the same cells (:func:`drift`: every stride 1),
the rest are summed in closed form.

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
from dataclasses import astuple, dataclass

from .spec_words import Layer
from .summary import LayerRow
from .support import Pair

__all__ = [
    "BLOCKS",
    "Step",
    "Sums",
    "advance",
    "count_rows",
    "drift",
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


@dataclass(frozen=True)
class Step:
    """One repetition walked: the shape, field and jump it was given and gave, and its sums."""

    shape_in: tuple[int, ...]
    shape_out: tuple[int, ...]
    rf_in: Pair | None
    rf_out: Pair | None
    jump_in: Pair | None
    jump_out: Pair | None
    sums: Sums


def _series(values: Sequence[int], left: int) -> int:
    """Add up the next ``left`` terms of a quadratic sequence whose last three are ``values``.

    With f(0), f(1), f(2) the last three, f(i) = f(0) + i·Δ + C(i, 2)·Δ², and
    the sum of f(0)..f(m − 1) is m·f(0) + C(m, 2)·Δ + C(m, 3)·Δ²: the next
    ``left`` terms are that sum to m = left + 3 less its first three.
    """
    f0, f1, f2 = values
    first, second = f1 - f0, f2 - 2 * f1 + f0

    def upto(m: int) -> int:
        return m * f0 + m * (m - 1) // 2 * first + m * (m - 1) * (m - 2) // 6 * second

    return upto(left + 3) - upto(3)


def drift(steps: Sequence[Step], left: int) -> tuple[tuple[int, ...], Pair, Sums] | None:
    """Multiply out ``left`` more repetitions that grow the size by a fixed step, if they do.

    The last four repetitions must each keep the jump (every window's stride
    is 1, so each layer adds a fixed number of cells), keep the channels,
    grow H and W by the same cells and the field by the same step, and their
    sums must follow one quadratic (constant second differences: MACs grow
    with H·W). Returns the shape and field after the ``left`` more and their
    sums; None when the repetitions do not drift so (then each is walked).
    Shrinking repetitions are walked too: one of them will not fit.
    """
    if len(steps) < 4:
        return None
    last = steps[-4:]
    for step in last:
        if step.jump_in is None or step.jump_in != step.jump_out:
            return None
        if step.rf_in is None or step.rf_out is None or len(step.shape_in) != 3:
            return None
    grows = {tuple(b - a for a, b in zip(s.shape_in, s.shape_out, strict=True)) for s in last}
    moves = {subtract(s.rf_out, s.rf_in) for s in last if s.rf_out and s.rf_in}
    if len(grows) != 1 or len(moves) != 1:
        return None
    (grow,), (move,) = grows, moves
    if grow[0] != 0 or min(grow) < 0 or not any(grow):
        return None
    columns = list(zip(*(astuple(s.sums) for s in last), strict=True))
    for values in columns:
        if values[2] - 2 * values[1] + values[0] != values[3] - 2 * values[2] + values[1]:
            return None
    total = Sums(*(_series(values[1:], left) for values in columns))
    end = last[-1]
    assert end.rf_out is not None
    shape = tuple(v + left * g for v, g in zip(end.shape_out, grow, strict=True))
    rf = (end.rf_out[0] + left * move[0], end.rf_out[1] + left * move[1])
    return shape, rf, total


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
