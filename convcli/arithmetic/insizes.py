"""Which input sizes a network accepts: every layer fits and every residual's branches agree.

Pure Python. Adding ``P`` (the product of every stride in the network) to
the input adds ``P/S`` to the output of a layer whose strides multiply to
``S``, so once every layer fits (sizes only grow with the input), whether
the branches agree repeats with period ``P``. :func:`input_rule` finds the
smallest size that fits, reads one period, checks it against the next, and
reduces it to the shortest period: a rule such as "multiples of 4 plus 3,
from 3" that answers any range at once. When the pattern does not repeat
(a block whose branches' strides differ: they agree at isolated sizes),
:func:`input_rule` says so (None) and the caller checks each size.

Examples
--------
>>> from convcli.arithmetic.spec import parse_layers
>>> rule = input_rule(parse_layers("conv 8 k3 s2 p1, res(conv 8 k3 p1 | maxpool k2, convt 8 k2 s2)"), 3)
>>> rule.text(), list(rule.sizes(1, 12))
('n ≡ 0, 3 (mod 4), from 3', [3, 4, 7, 8, 11, 12])
>>> rule.nearest(10), rule.count(1, 12), rule.count(1, 10**18)
((8, 11), 6, 500000000000000000)
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction

from .network import check_network
from .spec_words import Layer

__all__ = ["MAX_PERIOD", "SizeRule", "input_rule", "size_works", "strides_product"]

#: The longest period read size by size (each size is one walk of the network).
MAX_PERIOD = 4096
#: The largest input size searched for the first one that fits.
MAX_FIRST = 1 << 20
#: More repetitions of a stride than any period can hold (2**13 > MAX_PERIOD).
_TOO_LONG = 13


def size_works(layers: Sequence[Layer], channels: int, n: int) -> bool:
    """Whether an n×n input fits every layer and every residual's branches agree."""
    fits, mismatches = check_network(layers, (channels, n, n))
    return fits and not mismatches


def strides_product(layers: Sequence[Layer], axis: int = 0) -> int:
    """A period of the pattern along one axis: the strides' product along every path.

    A sequence multiplies its layers' strides, a residual block takes the
    least common multiple of its branches'. A product over
    :data:`MAX_PERIOD` (too long to read) is returned as ``MAX_PERIOD + 1``.
    """
    product = 1
    for layer in layers:
        if layer.kind in ("conv", "maxpool", "avgpool"):
            stride = layer.stride or (layer.kernel if layer.kind != "conv" else None) or (1, 1)
            product *= stride[axis]
        elif layer.kind in ("basic", "bottleneck"):
            product *= (layer.stride or (1, 1))[axis]
        elif layer.kind in ("residual", "concat"):
            body = strides_product(layer.body, axis)
            product *= math.lcm(body, strides_product(layer.shortcut, axis))
            product *= strides_product(layer.post, axis)
        elif layer.kind == "seq":
            product *= strides_product(layer.body, axis)
        elif layer.kind == "repeat":
            inner = strides_product(layer.body, axis)
            product *= inner ** min(layer.count, _TOO_LONG) if inner > 1 else 1
        if product > MAX_PERIOD:  # too long to read anyway: stop before it grows huge
            return MAX_PERIOD + 1
    return product


def _scale(layers: Sequence[Layer], axis: int) -> Fraction | None:
    """How much a layer sequence's output grows per input cell; None if a block's branches differ.

    A stride s divides by s, a transposed convolution multiplies by its
    stride, an adaptive pool gives 0. Branches that grow alike keep their
    difference as the input grows by the period: the pattern repeats.
    """
    scale = Fraction(1)
    for layer in layers:
        kind = layer.kind
        if kind in ("conv", "maxpool", "avgpool", "basic", "bottleneck"):
            stride = layer.stride or (layer.kernel if kind.endswith("pool") else None) or (1, 1)
            scale /= stride[axis]
        elif kind == "convt":
            scale *= (layer.stride or (1, 1))[axis]
        elif kind == "upsample":
            scale *= (layer.scale or (1, 1))[axis]
        elif kind.startswith("adaptive"):
            scale = Fraction(0)
        elif kind in ("residual", "concat"):
            body, side = _scale(layer.body, axis), _scale(layer.shortcut, axis)
            if body is None or side is None or body != side:
                return None
            after = _scale(layer.post, axis)
            if after is None:
                return None
            scale *= body * after
        elif kind in ("seq", "repeat"):
            inner = _scale(layer.body, axis)
            if inner is None:
                return None
            times = layer.count if kind == "repeat" else 1
            if inner not in (0, 1) and times > _TOO_LONG:
                return None  # grows or shrinks past any period: check each size
            scale *= inner**times
    return scale


@dataclass(frozen=True)
class SizeRule:
    """The input sizes n (n×n) that work: ``first + offset + k·period`` for k ≥ 0.

    ``offsets`` start at 0 and are below ``period``; no size works when
    ``offsets`` is empty.
    """

    first: int
    period: int
    offsets: tuple[int, ...]

    def works(self, n: int) -> bool:
        """Whether size ``n`` works."""
        return n >= self.first and (n - self.first) % self.period in self.offsets

    def sizes(self, low: int, high: int) -> Iterator[int]:
        """The sizes from ``low`` to ``high`` (both included) that work, in order (lazily)."""
        if not self.offsets:
            return
        start = max(low, self.first)
        base = start - (start - self.first) % self.period
        while base <= high:
            for offset in self.offsets:
                if start <= base + offset <= high:
                    yield base + offset
            base += self.period

    def count(self, low: int, high: int) -> int:
        """How many sizes from ``low`` to ``high`` work (arithmetic, not a loop over them)."""
        if not self.offsets or high < max(low, self.first):
            return 0

        def upto(m: int) -> int:  # working sizes <= m
            if m < self.first:
                return 0
            whole, rest = divmod(m - self.first, self.period)
            return whole * len(self.offsets) + sum(1 for o in self.offsets if o <= rest)

        return upto(high) - upto(low - 1)

    def nearest(self, n: int) -> tuple[int | None, int | None]:
        """The largest working size below ``n`` and the smallest above it."""
        if not self.offsets:
            return None, None
        below = None
        if n > self.first:
            low = max(self.first, n - self.period)
            below = max((m for m in self.sizes(low, n - 1)), default=None)
        above = next(self.sizes(n + 1, n + self.period + self.first), None)
        return below, above

    def text(self) -> str:
        """The rule in words: ``multiples of 32, from 32``, ``n ≡ 0, 3 (mod 4), from 3``."""
        if not self.offsets:
            return "no size works"
        if self.period == 1:
            return f"every size from {self.first}"
        residues = sorted((self.first + o) % self.period for o in self.offsets)
        if residues == [0]:
            return f"multiples of {self.period}, from {self.first}"
        listed = ", ".join(str(r) for r in residues)
        return f"n ≡ {listed} (mod {self.period}), from {self.first}"


def _first_fit(layers: Sequence[Layer], channels: int) -> int | None:
    n = 1
    while n <= MAX_FIRST:
        if check_network(layers, (channels, n, n))[0]:
            return n
        n += 1 if n < 1024 else n // 8
    return None


def _shortest(offsets: list[int], period: int) -> tuple[int, tuple[int, ...]]:
    """The same pattern with the shortest period that divides ``period``."""
    have = set(offsets)
    for q in sorted(d for d in range(1, period + 1) if period % d == 0):
        small = [o for o in offsets if o < q]
        if all(((o % q) in small) for o in have) and all(
            (o + q * k) in have for o in small for k in range(period // q)
        ):
            return q, tuple(small)
    return period, tuple(offsets)


def input_rule(layers: Sequence[Layer], channels: int = 3) -> SizeRule | None:
    """The rule of the input sizes that work, or None when none is found (check each size).

    None when a block's branches grow differently (they agree at isolated
    sizes) or when the strides multiply to more than :data:`MAX_PERIOD`
    (a period too long to read).
    """
    period = math.lcm(strides_product(layers, 0), strides_product(layers, 1))
    if period > MAX_PERIOD:
        return None
    if _scale(layers, 0) is None or _scale(layers, 1) is None:
        return None  # a block's branches grow differently: they agree at isolated sizes
    first = _first_fit(layers, channels)
    if first is None:
        return SizeRule(1, 1, ())
    pattern = [size_works(layers, channels, first + i) for i in range(2 * period)]
    if pattern[:period] != pattern[period:]:
        return None
    offsets = [i for i in range(period) if pattern[i]]
    if not offsets:
        return SizeRule(first, period, ())
    start = first + offsets[0]
    shifted = sorted((o - offsets[0]) % period for o in offsets)
    q, small = _shortest(shifted, period)
    return SizeRule(start, q, small)
