"""The input cells no window reads, counted per axis (pure Python).

Cell by cell up to :data:`MARKED_CELLS` cells, in closed form beyond (an
axis may be ``10**400`` cells long).

Examples
--------
>>> uncovered_cells(224, 11, stride=4)
1
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..errors import LimitError
from .limits import MAX_RESIDUE_CLASSES
from .outputs import output_size
from .padding import split_padding

__all__ = ["MARKED_CELLS", "uncovered_cells"]


def uncovered_cells(
    n: int,
    k: int,
    stride: int = 1,
    padding: int | Sequence[int] = 0,
    dilation: int = 1,
    out: int | None = None,
) -> int:
    """Count the input cells along one axis that no kernel tap ever reads.

    A stride larger than the kernel's span skips cells between windows, and
    a stride that does not divide the padded length leaves cells after the
    last window; a dilation larger than the stride skips cells inside the
    windows. Padding cells are not counted.

    Parameters
    ----------
    n, k, stride, padding, dilation
        As for :func:`output_size`.
    out : int, optional
        The number of windows, when it differs from :func:`output_size`
        (a pooling layer in ceil mode); computed when omitted.

    Examples
    --------
    >>> uncovered_cells(5, 3, stride=3)
    2
    >>> uncovered_cells(224, 11, stride=4)
    1
    >>> uncovered_cells(8, 3, padding=1)
    0
    """
    if out is None:
        out = output_size(n, k, stride, padding, dilation)
    before, _ = split_padding(padding)
    if n > MARKED_CELLS:  # arithmetic, not a mark per cell: n may be 10**400
        return n - _covered(before, before + n, (stride, out), (dilation, k))
    covered = bytearray(n)
    for tap in range(k):
        first = tap * dilation - before  # where this tap reads in window 0
        last = first + (out - 1) * stride
        if first < 0:  # skip the windows whose tap lies in the padding
            skipped = (stride - 1 - first) // stride  # ceil(-first / stride)
            first += skipped * stride
        last = min(last, n - 1)
        if first <= last:
            positions = range(first, last + 1, stride)
            covered[first : last + 1 : stride] = b"\x01" * len(positions)
    return n - covered.count(1)


#: up to this many cells an axis is counted cell by cell (a bytearray); beyond, in closed form
MARKED_CELLS = 2**20


def _covered(lo: int, hi: int, windows: tuple[int, int], taps: tuple[int, int]) -> int:
    """How many y in ``[lo, hi)`` are ``j·s + t·d`` for some window j < out and tap t < k.

    ``windows`` is (s, out), ``taps`` (d, k); y counts from the first
    window's first tap (padding included). The set is symmetric in the two,
    so the closed form walks the residue classes of whichever has fewer.
    Within one class r (mod s) the taps t0, t0 + P, ... (P = s / gcd(s, d))
    each cover a run of ``out`` consecutive class positions, the runs
    ``d / gcd`` apart: either one merged run or equal disjoint ones.
    """
    (s, out), (d, k) = windows, taps
    g = math.gcd(s, d)
    if min(k, s // g) > min(out, d // g):
        (s, out), (d, k) = (d, k), (s, out)
    classes = min(k, s // g)
    if classes > MAX_RESIDUE_CLASSES:
        raise LimitError(
            f"counting the cells no window reads along an axis of {hi - lo} cells "
            f"({out} windows {s} apart, {k} taps {d} apart) takes {classes} steps; the "
            f"limit is {MAX_RESIDUE_CLASSES} steps"
        )
    period = s // g  # taps t and t + period fall in the same class
    step = d // g  # ... one class position apart per period of taps
    total = 0
    for t0 in range(classes):
        start = t0 * d // s  # the class position tap t0 starts at
        runs = (k - 1 - t0) // period + 1  # taps t0, t0 + period, ... below k
        r = t0 * d % s
        # class positions m with lo <= r + m*s < hi
        first, end = -((r - lo) // s), -((r - hi) // s)
        total += _runs_below(end - start, runs, out, step)
        total -= _runs_below(first - start, runs, out, step)
    return total


def _runs_below(u: int, runs: int, length: int, step: int) -> int:
    """Positions below ``u`` covered by ``runs`` runs of ``length``, starting at 0, ``step`` apart."""
    if u <= 0:
        return 0
    if step <= length:  # the runs touch or overlap: one run
        return min(u, (runs - 1) * step + length)
    full, rest = divmod(u, step)
    return runs * length if full >= runs else full * length + min(rest, length)
