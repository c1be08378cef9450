"""Solving backwards for stride and padding, in closed form.

Pure Python (no numpy). Along one axis, ``n`` cells, a kernel spanning
``span = d*(k - 1) + 1`` cells, stride ``s`` and ``t`` cells of padding in all
give ``out = floor((n + t - span) / s) + 1`` outputs (:func:`.sizes.output_size`).
With ``R = n - span`` that is::

    (out - 1)*s  <=  R + t  <=  out*s - 1

so for one stride the paddings that work are one interval of ``t`` (at most
``s`` long), and for one padding the strides that work are one interval of
``s``. The solutions form a band in the (stride, padding) plane:
:class:`Solutions` holds its bounds, counts it with arithmetic series and
lists it lazily, so that the work grows with what is looked at, never with
``n`` (``n = 10**18`` is answered as fast as ``n = 8``).

Examples
--------
>>> found = solve_strides(1_000_000, 7, 3)
>>> found.count, found.first, found.last
(119047, 142857, 166666)
>>> [(r.first, r.last, r.before, r.after, r.words) for r in found.ranges()][:3]
[(142857, 142857, 0, 0, ('valid',)), (142858, 166666, 0, 0, ('valid', 'same')), (142857, 166666, 0, 1, ())]
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import pairwise

from ..errors import LimitError, ShapeError
from .limits import MAX_SOLUTIONS
from .padding import PAD_WORDS, padding_words, split_total
from .support import check_int, effective_kernel_size

__all__ = ["Solutions", "StrideRange", "solve_stride_padding", "solve_strides"]


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _series(slope: int, offset: int, low: int, high: int) -> int:
    """``sum(slope*s + offset for s in range(low, high + 1))``, in closed form."""
    if high < low:
        return 0
    count = high - low + 1
    return slope * (low + high) * count // 2 + offset * count


@dataclass(frozen=True)
class StrideRange:
    """Strides ``first`` to ``last`` (consecutive) that all give the wanted output.

    The padding at stride ``s`` is ``(before, after)`` when ``step`` is 0;
    otherwise (``same`` padding, which grows with the stride) its total is
    ``before + after + step*(s - first)``, split as ``same`` splits it (the
    extra cell after). ``words`` are the padding words (``valid``, ``same``,
    ``full``) that give this padding at every stride of the range.

    Examples
    --------
    >>> run = StrideRange(150_000, 150_002, 0, 1, 6, ("same",))
    >>> run.count, run.last_total, list(run.choices())
    (3, 13, [(150000, 0, 1), (150001, 3, 4), (150002, 6, 7)])
    """

    first: int
    last: int
    before: int
    after: int
    step: int
    words: tuple[str, ...]

    @property
    def count(self) -> int:
        """The number of strides (one choice each)."""
        return self.last - self.first + 1

    @property
    def total(self) -> int:
        """The total padding at the first stride."""
        return self.before + self.after

    @property
    def last_total(self) -> int:
        """The total padding at the last stride."""
        return self.total + self.step * (self.last - self.first)

    def padding_at(self, stride: int) -> tuple[int, int]:
        """Return the (before, after) padding at ``stride``."""
        if not self.step:
            return (self.before, self.after)
        return split_total(self.total + self.step * (stride - self.first))

    def choices(self) -> Iterator[tuple[int, int, int]]:
        """Each (stride, before, after) of the range, by stride."""
        for stride in range(self.first, self.last + 1):
            yield (stride, *self.padding_at(stride))


@dataclass(frozen=True)
class Solutions:
    """Every (stride, before, after) for which one axis of ``n`` cells gives ``out``.

    Build it with :func:`solve_strides`. The strides run from ``first`` to
    ``last`` (every one of them has at least one padding); at stride ``s`` the
    total paddings ``low(s)`` to ``high(s)`` work. ``kind`` is ``"any"`` (every
    total padding up to ``max_total``, split as ``same`` splits it),
    ``"fixed"`` (the one padding ``split``) or ``"same"``.

    Examples
    --------
    >>> found = solve_strides(8, 4, 3)  # floor((8 + t - 3)/s) + 1 = 4
    >>> found.count, found.first, found.last, [found.low(2), found.high(2)]
    (3, 2, 3, [1, 2])
    >>> list(found.choices())
    [(2, 0, 1), (2, 1, 1), (3, 2, 2)]
    """

    n: int
    out: int
    k: int
    dilation: int
    kind: str
    first: int
    last: int
    max_total: int = 0
    split: tuple[int, int] = (0, 0)

    @property
    def span(self) -> int:
        """The dilated kernel's span, ``d*(k - 1) + 1``."""
        return effective_kernel_size(self.k, self.dilation)

    @property
    def _room(self) -> int:
        return self.n - self.span

    def low(self, stride: int) -> int:
        """Return the smallest total padding that works at ``stride``."""
        if self.kind == "fixed":
            return sum(self.split)
        return max(0, (self.out - 1) * stride - self._room)

    def high(self, stride: int) -> int:
        """Return the largest total padding that works at ``stride``."""
        if self.kind == "any":
            return min(self.max_total, self.out * stride - 1 - self._room)
        return self.low(stride)

    def padding(self, total: int) -> tuple[int, int]:
        """Split a total padding into (before, after)."""
        if self.kind == "fixed":
            return self.split
        return split_total(total)

    def __bool__(self) -> bool:
        """Whether the run holds any stride."""
        return self.first <= self.last

    @cached_property
    def count(self) -> int:
        """How many (stride, padding) choices there are (arithmetic series, no loop)."""
        first, last = self.first, self.last
        if last < first:
            return 0
        if self.kind != "any":
            return last - first + 1
        out, room = self.out, self._room
        # high(s) = out*s - 1 - room up to the stride where it reaches max_total
        bend = (self.max_total + 1 + room) // out
        highs = _series(out, -1 - room, first, min(last, bend))
        highs += self.max_total * max(0, last - max(first, bend + 1) + 1)
        # low(s) = (out - 1)*s - room once that is positive
        if out == 1:
            lows = max(0, -room) * (last - first + 1)
        else:
            lows = _series(out - 1, -room, max(first, room // (out - 1) + 1), last)
        return highs - lows + (last - first + 1)

    def choices(self) -> Iterator[tuple[int, int, int]]:
        """Each (stride, before, after), by stride and then by total padding (lazily)."""
        for stride in range(self.first, self.last + 1):
            for total in range(self.low(stride), self.high(stride) + 1):
                yield (stride, *self.padding(total))

    def ranges(self) -> Iterator[StrideRange]:
        """Group the choices as runs of consecutive strides, by total padding (lazily).

        Each run has one padding (or, for ``same``, one rule) and one set of
        padding words. Runs come in the order of their padding, which is also
        the order of their first strides.
        """
        if not self:
            return
        if self.kind == "fixed":
            yield from self._with_words(self.first, self.last, sum(self.split))
        elif self.kind == "same":
            yield from self._same_ranges()
        else:
            yield from self._any_ranges()

    # ------------------------------------------------------------------ runs

    def _any_ranges(self) -> Iterator[StrideRange]:
        out, room = self.out, self._room
        total, end = self.low(self.first), self.high(self.last)
        while total <= end:
            # strides whose highest padding reaches `total` and whose lowest does not pass it
            lo = max(self.first, _ceil_div(total + 1 + room, out))
            hi = self.last if out == 1 else min(self.last, (total + room) // (out - 1))
            if lo <= hi:
                yield from self._with_words(lo, hi, total)
                total += 1
            elif lo > self.last:
                return
            else:  # no stride takes this padding: jump to the next one that some stride takes
                total = self.low(lo)

    def _same_ranges(self) -> Iterator[StrideRange]:
        out, room = self.out, self._room
        first, last = self.first, self.last
        if out > 1:
            flat = min(last, room // (out - 1))  # the strides whose `same` padding is 0
            if flat >= first:
                yield from self._with_words(first, flat, 0)
                first = flat + 1
        if first > last:
            return
        if out == 1:
            yield from self._with_words(first, last, self.low(first))
            return
        # the total grows by out - 1 a stride; it equals `full` at most once
        cuts = {first, last + 1}
        full, rest = divmod(2 * (self.span - 1) + room, out - 1)
        if not rest and first <= full <= last:
            cuts |= {full, full + 1}
        edges = sorted(cuts)
        for lo, stop in pairwise(edges):
            total = self.low(lo)
            step = out - 1 if stop - 1 > lo else 0
            yield StrideRange(lo, stop - 1, *split_total(total), step, self._words(lo, total))

    def _with_words(self, lo: int, hi: int, total: int) -> Iterator[StrideRange]:
        """Strides lo..hi at one padding, cut where the padding words change."""
        before, after = self.padding(total)
        cuts = {lo, hi + 1}
        if (before, after) == split_total(total):
            # `same` gives this padding where ceil(n/s) = out and max(0, (out-1)s - room) = total
            out, room, n = self.out, self._room, self.n
            same_lo = _ceil_div(n, out)
            same_hi = hi if out == 1 else (n - 1) // (out - 1)
            if out == 1:
                if total != max(0, -room):
                    same_hi = same_lo - 1
            elif total == 0:
                same_hi = min(same_hi, room // (out - 1))
            elif (total + room) % (out - 1):
                same_hi = same_lo - 1
            else:
                stride = (total + room) // (out - 1)
                same_lo, same_hi = max(same_lo, stride), min(same_hi, stride)
            same_lo, same_hi = max(same_lo, lo), min(same_hi, hi)
            if same_lo <= same_hi:
                cuts |= {same_lo, same_hi + 1}
        edges = sorted(cuts)
        for start, stop in pairwise(edges):
            yield StrideRange(start, stop - 1, before, after, 0, self._words(start, total))

    def _words(self, stride: int, total: int) -> tuple[str, ...]:
        return tuple(padding_words(self.n, self.k, stride, self.padding(total), self.dilation))


def _padding_kind(
    padding: int | str | Sequence[int] | None, span: int
) -> tuple[str, tuple[int, int]]:
    """Classify a padding for :func:`solve_strides`: ``any``, ``same`` or ``fixed`` with its split."""
    if padding is None:
        return "any", (0, 0)
    if isinstance(padding, str):
        word = padding.lower()
        if word not in PAD_WORDS:
            raise ShapeError(
                f"unknown `padding` {padding!r}: expected one of {', '.join(PAD_WORDS)}"
            )
        if word == "same":
            return "same", (0, 0)
        return "fixed", (span - 1, span - 1) if word == "full" else (0, 0)
    if isinstance(padding, (list, tuple)):
        if len(padding) != 2:
            raise ShapeError(
                f"`padding` must be an int or a (before, after) pair, got {tuple(padding)!r}"
            )
        return "fixed", (check_int(padding[0], "padding", 0), check_int(padding[1], "padding", 0))
    return "fixed", (check_int(padding, "padding", 0),) * 2


def solve_strides(
    n: int,
    out: int,
    k: int,
    dilation: int = 1,
    stride: int | None = None,
    padding: int | str | Sequence[int] | None = None,
    max_padding: int | None = None,
) -> Solutions:
    """Solve one axis for the strides and paddings that give ``out`` cells, in closed form.

    The same question as :func:`solve_stride_padding`, answered as a
    :class:`Solutions` band that is counted and listed lazily: the cost does
    not grow with ``n``.

    Parameters
    ----------
    n : int
        Input length.
    out : int
        The wanted output length.
    k : int
        Kernel length.
    dilation : int, optional
        Kernel dilation.
    stride : int, optional
        Only this stride.
    padding : int, pair or word, optional
        Only this padding (per side, a (before, after) pair, or "valid",
        "same", "full"); by default every total padding up to
        ``2 * max_padding``, split as ``same`` splits it (the extra cell after).
    max_padding : int, optional
        Largest padding per side; defaults to ``d*(k - 1)`` ("full"). Without
        ``stride``, strides run up to ``n + 2*max_padding - span + 1`` (beyond
        it there is only ever one window).

    Returns
    -------
    Solutions

    Examples
    --------
    >>> found = solve_strides(224, 112, 3)
    >>> found.count, list(found.choices())
    (2, [(2, 0, 1), (2, 1, 1)])
    >>> solve_strides(10**18, 7, 3).count
    119047619047619047
    >>> [(r.first, r.last, r.words) for r in solve_strides(224, 56, 11, padding="same").ranges()]
    [(4, 4, ('same',))]
    """
    n = check_int(n, "n", 1)
    out = check_int(out, "out", 1)
    k = check_int(k, "k", 1)
    dilation = check_int(dilation, "dilation", 1)
    span = effective_kernel_size(k, dilation)
    max_padding = span - 1 if max_padding is None else check_int(max_padding, "max_padding", 0)
    room = n - span
    kind, split = _padding_kind(padding, span)
    # the strides of the band, before any cap
    if kind == "any":
        first = max(1, _ceil_div(room + 1, out))
        last = None if out == 1 else (room + 2 * max_padding) // (out - 1)
        if out == 1 and -room > 2 * max_padding:  # too little padding for one window
            last = 0
    elif kind == "same":
        first = max(1, _ceil_div(n, out))
        last = None if out == 1 else (n - 1) // (out - 1)
    else:
        reach = room + sum(split)  # R + t
        first = max(1, _ceil_div(reach + 1, out))
        last = None if out == 1 else reach // (out - 1)
        if reach < 0:
            last = 0
    if stride is None:
        cap = max(room + 2 * max_padding, 0) + 1  # beyond it there is only ever one window
        if last is None:  # one output: every stride from `first` on; listed up to the cap
            last = max(cap, first) if kind == "fixed" else cap
        elif kind != "fixed":  # a fixed padding wider than max_padding keeps its answers
            last = min(last, cap)
    else:
        stride = check_int(stride, "stride", 1)
        first = max(first, stride)
        last = stride if last is None else min(last, stride)
    return Solutions(n, out, k, dilation, kind, first, last, 2 * max_padding, split)


def solve_stride_padding(
    n: int,
    out: int,
    k: int,
    dilation: int = 1,
    stride: int | None = None,
    padding: int | str | Sequence[int] | None = None,
    max_padding: int | None = None,
) -> list[tuple[int, int, int]]:
    """List the strides and paddings for which one axis yields ``out`` cells.

    Every stride and every total padding up to ``2 * max_padding``, a total
    padding split as "same" splits it (the extra cell after). Solved in
    closed form by :func:`solve_strides`, which this lists: the list
    can be long (``n = 10**6``, ``out = 7``: 119,047 rows), the solving is not.
    More than the memory budget's worth of rows (1,677,721) is a
    :class:`~convcli.errors.LimitError`, raised before listing.

    Parameters
    ----------
    n : int
        Input length.
    out : int
        The wanted output length.
    k : int
        Kernel length.
    dilation : int, optional
        Kernel dilation.
    stride : int, optional
        Only try this stride.
    padding : int, pair or word, optional
        Only try this padding (per side, a (before, after) pair, or
        "valid", "same", "full").
    max_padding : int, optional
        Largest padding per side to try; defaults to ``d*(k - 1)`` ("full").

    Returns
    -------
    list of (stride, before, after)
        Sorted by stride, then by total padding.

    Examples
    --------
    >>> solve_stride_padding(224, 112, 3)
    [(2, 0, 1), (2, 1, 1)]
    >>> solve_stride_padding(8, 8, 3)
    [(1, 1, 1)]
    """
    found = solve_strides(n, out, k, dilation, stride, padding, max_padding)
    most = MAX_SOLUTIONS
    if found.count > most:
        raise LimitError(
            f"solve_stride_padding: {found.count:,} solutions would be listed, over the "
            f"limit of {most:,}; solve_strides() counts them and lists them lazily"
        )
    return list(found.choices())
