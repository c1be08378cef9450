"""solve_strides against brute force: every stride and every padding, tried one by one.

The oracle below is written out here with explicit loops and the output-size
formula floor((n + t - span) / s) + 1; "same" is TensorFlow's rule (ceil(n/s)
outputs, total padding max((ceil(n/s) - 1)*s + span - n, 0), the extra cell
after), also written out here. Nothing in it comes from the code under test.
"""

from __future__ import annotations

import random
from collections import defaultdict

import pytest

from convcli.arithmetic.solve import solve_stride_padding, solve_strides
from convcli.errors import LimitError

KINDS = [None, "same", "valid", "full"]


def same_split(n, s, span):
    windows = -(-n // s)
    total = max((windows - 1) * s + span - n, 0)
    return (total // 2, total - total // 2)


def oracle_words(n, s, span, split):
    words = []
    if split == (0, 0):
        words.append("valid")
    if split == same_split(n, s, span):
        words.append("same")
    if split == (span - 1, span - 1):
        words.append("full")
    return tuple(words)


def brute_force(n, k, d=1, stride=None, padding=None, max_padding=None):
    """{out: [(stride, before, after), ...]} in the order stride, then total padding."""
    span = d * (k - 1) + 1
    most = span - 1 if max_padding is None else max_padding
    cap = max(n + 2 * most - span, 0) + 1
    # a fixed padding wider than max_padding reaches further for two or more outputs;
    # one output (any stride from the first) is listed up to the cap
    wide = {"full": 2 * (span - 1)}.get(padding, 0) if isinstance(padding, str) else 0
    if isinstance(padding, tuple):
        wide = sum(padding)
    elif isinstance(padding, int):
        wide = 2 * padding
    reach = max(cap, n + wide - span + 1)
    strides = range(1, reach + 1) if stride is None else [stride]
    found = defaultdict(list)
    for s in strides:
        if padding is None:
            splits = [(t // 2, t - t // 2) for t in range(2 * most + 1)]
        elif padding == "same":
            splits = [same_split(n, s, span)]
        elif padding == "valid":
            splits = [(0, 0)]
        elif padding == "full":
            splits = [(span - 1, span - 1)]
        elif isinstance(padding, tuple):
            splits = [padding]
        else:
            splits = [(padding, padding)]
        for before, after in splits:
            padded = n + before + after
            if padded >= span:
                got = (padded - span) // s + 1
                if got == 1 and s > max(cap, padded - span + 1) and stride is None:
                    continue
                found[got].append((s, before, after))
    return found


def check(n, out, k, d, stride, padding, max_padding, expected):
    span = d * (k - 1) + 1
    found = solve_strides(n, out, k, d, stride, padding, max_padding)
    assert list(found.choices()) == expected, (n, out, k, d, stride, padding, max_padding)
    assert found.count == len(expected)
    assert bool(found) == bool(expected)
    # the runs hold every choice once, each with the words that name its padding
    listed = []
    previous = -1
    for run in found.ranges():
        assert run.first <= run.last
        assert run.total >= previous  # in the order of their padding
        previous = run.total
        for choice in run.choices():
            assert oracle_words(n, choice[0], span, choice[1:]) == run.words, (choice, run)
            listed.append(choice)
    assert sorted(listed, key=lambda c: (c[0], c[1] + c[2])) == expected


@pytest.mark.parametrize("k", range(1, 8))
def test_every_small_case_is_the_brute_force(k):
    """Exhaustive: n <= 60, k <= 7, every out up to n (and beyond, where padding reaches)."""
    for n in range(1, 61):
        for padding in KINDS:
            table = brute_force(n, k, padding=padding)
            for out in range(1, n + 2 * k + 1):
                check(n, out, k, 1, None, padding, None, table.get(out, []))


@pytest.mark.parametrize("seed", range(4))
def test_random_dilations_strides_paddings_and_limits(seed):
    rng = random.Random(seed)
    for _ in range(300):
        n, k, d = rng.randint(1, 60), rng.randint(1, 7), rng.randint(1, 4)
        padding = rng.choice(
            [
                None,
                "same",
                "valid",
                "full",
                rng.randint(0, 6),
                (rng.randint(0, 5), rng.randint(0, 5)),
            ]
        )
        stride = rng.choice([None, None, rng.randint(1, 20)])
        max_padding = rng.choice([None, rng.randint(0, 6)])
        table = brute_force(n, k, d, stride, padding, max_padding)
        for out in range(1, n + 2 * d * k + 2):
            check(n, out, k, d, stride, padding, max_padding, table.get(out, []))


def test_solve_stride_padding_lists_the_solutions():
    assert solve_stride_padding(224, 112, 3) == brute_force(224, 3)[112]
    assert solve_stride_padding(224, 56, 11, padding="same") == [(4, 3, 4)]


def test_solve_stride_padding_refuses_a_list_over_the_budget():
    with pytest.raises(LimitError, match="solve_strides"):
        solve_stride_padding(10**18, 7, 3)
    assert len(solve_stride_padding(10**6, 7, 3)) == 119047


def per_padding_count(n, out, k, totals):
    """Count by padding instead (the code counts by stride): for each total t,
    the strides s with (out-1)*s <= n + t - k <= out*s - 1."""
    count = 0
    for t in totals:
        reach = n + t - k
        count += max(0, reach // (out - 1) - reach // out)
    return count


@pytest.mark.parametrize("n", [10**6, 10**9, 10**18])
def test_huge_inputs_are_counted_and_listed_without_a_loop_over_strides(n):
    found = solve_strides(n, 7, 3)
    assert found.count == per_padding_count(n, 7, 3, range(5))
    runs = list(found.ranges())
    assert sum(run.count for run in runs) == found.count
    assert len(runs) <= 8
    for run in runs:
        for stride in (run.first, run.last):
            before, after = run.padding_at(stride)
            assert (n + before + after - 3) // stride + 1 == 7
            assert oracle_words(n, stride, 3, (before, after)) == run.words
    head = [c for _, c in zip(range(20), found.choices(), strict=False)]
    assert head[0][0] == found.first == -(-(n - 2) // 7)
    assert all((n + b + a - 3) // s + 1 == 7 for s, b, a in head)

    same = solve_strides(n, 7, 3, padding="same")
    # ceil(n/s) = 7 exactly for s from ceil(n/7) to floor((n-1)/6)
    assert (same.first, same.last) == (-(-n // 7), (n - 1) // 6)
    assert same.count == same.last - same.first + 1
    for run in same.ranges():
        for stride in (run.first, run.last):
            assert run.padding_at(stride) == same_split(n, stride, 3)

    # a huge kernel: the padding runs are many, but listed lazily
    k = 100_001
    big = solve_strides(n, 7, k)
    assert big.count == per_padding_count(n, 7, k, range(2 * (k - 1) + 1))
    runs = [run for _, run in zip(range(50), big.ranges(), strict=False)]
    assert len(runs) == 50
    for run in runs:
        assert (n + run.total - k) // run.first + 1 == 7
        assert (n + run.total - k) // run.last + 1 == 7
    # a kernel as long as the input: counted without a loop over its paddings
    assert solve_strides(n, 7, n // 10).count > 0

    # a huge output: only a few strides, whatever the padding
    many = solve_strides(n, n // 3, 5, padding="same")
    for run in many.ranges():
        assert -(-n // run.first) == n // 3


def test_huge_same_with_growing_padding():
    """`same` padding that grows with the stride is one run (plus where it is `full`)."""
    n, k = 10**12, 10**11 + 1
    found = solve_strides(n, 7, k, padding="same")
    runs = list(found.ranges())
    assert sum(run.count for run in runs) == found.count == found.last - found.first + 1
    for run in runs:
        for stride in (run.first, (run.first + run.last) // 2, run.last):
            assert run.padding_at(stride) == same_split(n, stride, k)
            assert oracle_words(n, stride, k, run.padding_at(stride)) == run.words


def test_a_fixed_padding_beyond_max_padding_keeps_every_answer():
    """`--p 10` on n=5, k=3: strides 12-22 give 2 outputs; the stride cap once used the
    default max_padding (k-1) instead of the padding given and found none."""
    from convcli.arithmetic.sizes import output_size

    for n in range(1, 10):
        for k in range(1, 4):
            for before in range(0, 14, 3):
                for after in (before, before + 1):
                    for out in range(1, 8):
                        reach = n + before + after - k
                        top = n + before + after + 5  # beyond reach + 1: one window only
                        expected = [
                            (s, before, after)
                            for s in range(1, top + 1)
                            if reach >= 0 and output_size(n, k, s, (before, after)) == out
                        ]
                        got = list(solve_strides(n, out, k, padding=(before, after)).choices())
                        if out == 1:  # every stride from the first works: listed to a cap
                            assert got == expected[: len(got)] and bool(got) == (reach >= 0)
                        else:
                            assert got == expected, (n, k, before, after, out)
    assert [c[0] for c in solve_strides(5, 2, 3, padding=10).choices()] == list(range(12, 23))
