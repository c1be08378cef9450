"""solve_stride_padding solves for the strides instead of trying each one.

The oracle here is the plain enumeration the function used to do, written
out in this file: every stride and every total padding, kept when the
output-size formula floor(L / s) + 1 (L = n + padding - span) gives ``out``.
"""

from __future__ import annotations

import random

import pytest

from convcli.arithmetic.solve import solve_stride_padding


def enumerate_all(n, out, k, d, padding, max_padding):
    span = d * (k - 1) + 1
    if max_padding is None:
        max_padding = span - 1
    if padding is None:
        splits = [(t // 2, t - t // 2) for t in range(2 * max_padding + 1)]
    elif isinstance(padding, tuple):
        splits = [padding]
    else:
        splits = [(padding, padding)]
    found = []
    cap = max(n + 2 * max_padding - span, 0) + 1  # one output is listed up to here
    wide = max(b + a for b, a in splits)  # a fixed padding may reach further
    for s in range(1, max(cap, n + wide - span + 1) + 1):
        for before, after in splits:
            room = n + before + after - span
            if room >= 0 and room // s + 1 == out:
                if out == 1 and s > max(cap, room + 1):
                    continue
                found.append((s, before, after))
    return found


@pytest.mark.parametrize("seed", range(5))
def test_the_solution_is_the_enumeration(seed):
    rng = random.Random(seed)
    for _ in range(400):
        n, k, d, out = rng.randint(1, 50), rng.randint(1, 7), rng.randint(1, 3), rng.randint(1, 55)
        padding = rng.choice([None, rng.randint(0, 4), (rng.randint(0, 3), rng.randint(0, 3))])
        max_padding = rng.choice([None, rng.randint(0, 5)])
        assert solve_stride_padding(n, out, k, d, None, padding, max_padding) == enumerate_all(
            n, out, k, d, padding, max_padding
        )


def test_a_million_cells_is_answered_row_by_row():
    # the old enumeration made 3 million output_size calls here (about 2 minutes)
    rows = solve_stride_padding(1_000_000, 7, 3)
    assert len(rows) == 119047
    assert all((1_000_000 + b + a - 3) // s + 1 == 7 for s, b, a in rows)
