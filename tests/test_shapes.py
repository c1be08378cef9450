"""Tests of convcli.arithmetic.sizes: the output-size formula and its relatives.

Oracles: the worked examples of d2l (section 7.3), the relationships of
Dumoulin & Visin, "A guide to convolution arithmetic for deep learning"
(arXiv:1603.07285) on the sizes of their own figures, and brute-force
enumeration of window positions.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from convcli.arithmetic import coverage
from convcli.arithmetic.sizes import (
    PaddingSyntaxError,
    conv_formula,
    output_size,
    padding_words,
    parse_padding,
    pool_formula,
    pool_output_size,
    resolve_padding,
    same_padding,
    solve_stride_padding,
    transposed_formula,
    transposed_output_size,
    uncovered_cells,
)
from convcli.errors import ShapeError


def _shape2d(size, kernel, stride=(1, 1), padding=((0, 0), (0, 0))):
    return tuple(
        output_size(n, k, s, p) for n, k, s, p in zip(size, kernel, stride, padding, strict=True)
    )


def _count_windows(n: int, k: int, s: int, before: int, after: int, d: int = 1) -> int:
    """Count window positions by walking a window across the padded input."""
    padded = n + before + after
    span = d * (k - 1) + 1
    count, start = 0, 0
    while start + span <= padded:
        count += 1
        start += s
    return count


# ---------------------------------------------------------------- textbook ---


def test_d2l_same_padding_keeps_8x8():
    """d2l 7.3: an 8×8 input with a 3×3 kernel and padding 1 stays 8×8."""
    assert _shape2d((8, 8), (3, 3), padding=((1, 1), (1, 1))) == (8, 8)


def test_d2l_rectangular_kernel_keeps_8x8():
    """d2l 7.3: a 5×3 kernel with padding 2×1 keeps an 8×8 input 8×8."""
    assert _shape2d((8, 8), (5, 3), padding=((2, 2), (1, 1))) == (8, 8)


def test_d2l_stride_two_halves():
    """d2l 7.3: a 3×3 kernel, padding 1, stride 2 turns 8×8 into 4×4."""
    assert _shape2d((8, 8), (3, 3), (2, 2), ((1, 1), (1, 1))) == (4, 4)


def test_d2l_mixed_strides():
    """d2l 7.3: kernel 3×5, padding 0×1, stride 3×4 turns 8×8 into 2×2."""
    assert _shape2d((8, 8), (3, 5), (3, 4), ((0, 0), (1, 1))) == (2, 2)


def test_alexnet_first_layer_is_55():
    """AlexNet's conv1 (k11, s4, p2) turns 224 into ⌊221/4⌋ = 55."""
    assert output_size(224, 11, stride=4, padding=2) == 55


# ----------------------------------------------------- Dumoulin & Visin ---
# Each case: (relationship, i, k, s, p, d, o), with the sizes of their figure.
DUMOULIN_FORWARD = [
    ("1: no padding, unit strides (fig 2.1)", 4, 3, 1, 0, 1, 4 - 3 + 1),
    ("2: zero padding, unit strides (fig 2.2)", 5, 4, 1, 2, 1, 5 - 4 + 2 * 2 + 1),
    ("3: half padding (fig 2.3)", 5, 3, 1, 1, 1, 5),
    ("4: full padding (fig 2.4)", 5, 3, 1, 2, 1, 5 + (3 - 1)),
    ("5: no padding, stride 2 (fig 2.5)", 5, 3, 2, 0, 1, (5 - 3) // 2 + 1),
    ("6: padding, stride 2 (fig 2.6)", 5, 3, 2, 1, 1, (5 + 2 - 3) // 2 + 1),
    ("6: padding, stride 2, odd (fig 2.7)", 6, 3, 2, 1, 1, (6 + 2 - 3) // 2 + 1),
    ("15: dilation 2 (fig 5.1)", 7, 3, 1, 0, 2, 7 - 3 - (3 - 1) * (2 - 1) + 1),
]


@pytest.mark.parametrize(("name", "i", "k", "s", "p", "d", "o"), DUMOULIN_FORWARD)
def test_dumoulin_forward_relationships(name, i, k, s, p, d, o):
    """Each forward relationship of Dumoulin & Visin holds on its figure's sizes."""
    assert output_size(i, k, s, p, d) == o


def test_dumoulin_figure_sizes_written_out():
    """Their figures show outputs 2, 6, 5, 7, 2, 3, 3 and 3 cells wide."""
    assert [case[-1] for case in DUMOULIN_FORWARD] == [2, 6, 5, 7, 2, 3, 3, 3]


# Transposed: (relationship, i, k, s, p, a, o') where i, k, s, p describe the
# *forward* convolution, i' = its output and o' = the transposed output.
DUMOULIN_TRANSPOSED = [
    ("8: no padding, unit strides (fig 4.1)", 4, 3, 1, 0, 0, 2 + (3 - 1)),
    ("9: zero padding, unit strides (fig 4.2)", 5, 4, 1, 2, 0, 6 + (4 - 1) - 2 * 2),
    ("10: half padding (fig 4.3)", 5, 3, 1, 1, 0, 5),
    ("11: full padding (fig 4.4)", 5, 3, 1, 2, 0, 7 - (3 - 1)),
    ("12: no padding, stride 2 (fig 4.5)", 5, 3, 2, 0, 0, 2 * (2 - 1) + 3),
    ("13: padding, stride 2 (fig 4.6)", 5, 3, 2, 1, 0, 2 * (3 - 1) + 3 - 2 * 1),
    ("14: padding, stride 2, a = 1 (fig 4.7)", 6, 3, 2, 1, 1, 2 * (3 - 1) + 1 + 3 - 2 * 1),
]


@pytest.mark.parametrize(("name", "i", "k", "s", "p", "a", "o_t"), DUMOULIN_TRANSPOSED)
def test_dumoulin_transposed_relationships(name, i, k, s, p, a, o_t):
    """Each transposed relationship gives back the forward input size i."""
    i_t = output_size(i, k, s, p)
    assert transposed_output_size(i_t, k, s, p, output_padding=a) == o_t
    assert o_t == i


def test_dumoulin_relationship_14_ambiguity():
    """Inputs 5 and 6 both give 3 (fig 2.6/2.7); output_padding a picks which."""
    assert output_size(5, 3, 2, 1) == output_size(6, 3, 2, 1) == 3
    assert transposed_output_size(3, 3, 2, 1, output_padding=0) == 5
    assert transposed_output_size(3, 3, 2, 1, output_padding=1) == 6


def test_dilated_transposed():
    """A dilated transposed convolution inverts the size of the dilated one (7 → 3 → 7)."""
    assert transposed_output_size(output_size(7, 3, dilation=2), 3, dilation=2) == 7


# ------------------------------------------------------ brute force ---


@given(
    n=st.integers(1, 60),
    k=st.integers(1, 9),
    s=st.integers(1, 6),
    before=st.integers(0, 6),
    after=st.integers(0, 6),
    d=st.integers(1, 4),
)
def test_output_size_counts_window_positions(n, k, s, before, after, d):
    """output_size equals the number of positions a walking window takes."""
    span = d * (k - 1) + 1
    assume(span <= n + before + after)
    assert output_size(n, k, s, (before, after), d) == _count_windows(n, k, s, before, after, d)


@given(k=st.integers(2, 9), s=st.integers(1, 5), d=st.integers(1, 3), data=st.data())
def test_kernel_too_large_raises(k, s, d, data):
    """A kernel wider than the (unpadded) input raises ShapeError, never returns <= 0."""
    n = data.draw(st.integers(1, d * (k - 1)), label="n")  # always narrower than the span
    with pytest.raises(ShapeError):
        output_size(n, k, s, 0, d)


@given(
    n=st.integers(1, 40),
    k=st.integers(1, 7),
    s=st.integers(1, 5),
    p=st.integers(0, 4),
    d=st.integers(1, 3),
    data=st.data(),
)
def test_transposed_inverts_forward_size(n, k, s, p, d, data):
    """A forward convolution of the transposed output size gives back its input size."""
    a = data.draw(st.integers(0, s - 1))
    try:
        out = transposed_output_size(n, k, s, p, d, a)
    except ShapeError:
        assume(False)
    assume(d * (k - 1) + 1 <= out + 2 * p)
    assert output_size(out, k, s, p, d) == n


@given(
    n=st.integers(1, 50),
    k=st.integers(1, 7),
    s=st.integers(1, 7),
    before=st.integers(0, 3),
    after=st.integers(0, 3),
    ceil=st.booleans(),
)
def test_pool_output_size_counts_windows(n, k, s, before, after, ceil):
    """Pooling counts windows starting in the input or left padding (ceil: may overhang)."""
    assume(before <= k // 2 and after <= k // 2 and k <= n + before + after)
    padded = n + before + after
    overhang = s - 1 if ceil else 0
    count, start = 0, 0
    while start + k <= padded + overhang and start < n + before:
        count += 1
        start += s
    assert pool_output_size(n, k, s, (before, after), ceil) == count


def test_pool_ceil_mode_drops_window_in_padding():
    """PyTorch: n=5, k=2, s=2, pad 1 in ceil mode gives 3, not 4."""
    assert pool_output_size(5, 2, 2, 1, ceil_mode=True) == 3
    assert pool_output_size(5, 2, 2, 1, ceil_mode=False) == 3
    assert pool_output_size(6, 3, 2, 0, ceil_mode=True) == 3


@given(
    n=st.integers(1, 40),
    k=st.integers(1, 6),
    s=st.integers(1, 8),
    before=st.integers(0, 3),
    after=st.integers(0, 3),
    d=st.integers(1, 3),
)
def test_uncovered_cells_by_enumeration(n, k, s, before, after, d):
    """uncovered_cells equals n minus the cells some tap of some window reads."""
    span = d * (k - 1) + 1
    assume(span <= n + before + after)
    out = output_size(n, k, s, (before, after), d)
    read = {w * s - before + t * d for w in range(out) for t in range(k)}
    expected = n - len(read & set(range(n)))
    assert uncovered_cells(n, k, s, (before, after), d) == expected
    # the closed form that counts axes above 2**20 cells, on the same small axes
    assert n - coverage._covered(before, before + n, (s, out), (d, k)) == expected


def test_uncovered_cells_of_a_huge_axis_without_a_cell_array():
    """10**400 cells (issue 21 item 6: a MemoryError/OverflowError before): counted by hand.

    k 2, stride 5 on n = 5m + 2: m + 1 windows of 2 cells each; k 3 stride 2
    on an even n: the windows tile all but the last cell; k 3, d 2, s 1:
    every cell is read; k 3, d 2, s 4 on 10**12: windows 4j read 4j, 4j + 2,
    4j + 4 for 4j <= n - 5, so no odd cell and not the last even one.
    """
    m = 10**400
    assert uncovered_cells(5 * m + 2, 2, stride=5) == 5 * m + 2 - 2 * (m + 1)
    assert uncovered_cells(10**400, 3, stride=2) == 1
    assert uncovered_cells(10**12, 3, stride=1, dilation=2) == 0
    assert uncovered_cells(10**12, 3, stride=4, dilation=2) == 10**12 // 2 + 1


def test_uncovered_cells_refuses_an_axis_too_irregular_to_count():
    """Huge axis, kernel, stride and dilation alike: a LimitError naming the limit, not hours."""
    from convcli.errors import LimitError

    with pytest.raises(LimitError, match=r"takes 100001 steps; the limit is 65536 steps"):
        uncovered_cells(10**400, 100001, stride=100003, dilation=100019)


def test_uncovered_cells_issue_example():
    """n=5, k=3, s=3: one window covers cells 0-2, leaving 2 cells."""
    assert uncovered_cells(5, 3, stride=3) == 2
    assert uncovered_cells(8, 3, stride=1, padding=1) == 0


# ---------------------------------------------------------- padding ---


def test_same_padding_splits_extra_after():
    """'same' with an even kernel puts the extra cell after: k=4 → 1 before, 2 after."""
    assert same_padding(8, 4) == (1, 2)
    assert same_padding(8, 3) == (1, 1)


def test_same_padding_with_stride_follows_tensorflow():
    """'same' with stride s gives ceil(n/s) outputs: 224, k11, s4 → 3 before, 4 after, 56 out."""
    assert same_padding(224, 11, stride=4) == (3, 4)
    assert output_size(224, 11, 4, same_padding(224, 11, stride=4)) == 56


@given(n=st.integers(1, 80), k=st.integers(1, 9), s=st.integers(1, 5), d=st.integers(1, 3))
def test_same_padding_gives_ceil_n_over_s(n, k, s, d):
    """'same' padding always yields ceil(n / s) outputs."""
    assert output_size(n, k, s, same_padding(n, k, s, d), d) == -(-n // s)


def test_resolve_padding_words():
    """valid is no padding and full pads d·(k − 1) on each side."""
    assert resolve_padding("valid", (8, 8), (3, 3)) == ((0, 0), (0, 0))
    assert resolve_padding("full", (8, 8), (3, 5), dilation=(2, 1)) == ((4, 4), (4, 4))


def test_full_padding_output():
    """Full padding gives n + d·(k − 1) outputs (Dumoulin & Visin relationship 4)."""
    pads = resolve_padding("full", (5, 5), (3, 3))
    assert _shape2d((5, 5), (3, 3), padding=pads) == (7, 7)


# ---------------------------------------------------------- errors ---


def test_error_kernel_larger_than_input():
    """The error shows the formula with the numbers and names the kernel and input."""
    with pytest.raises(ShapeError) as info:
        output_size(5, 7)
    assert str(info.value) == (
        "⌊(5 − 7 + 0 + 1)/1⌋ = −1: the 7-wide kernel is larger than the padded input (5)"
    )


def test_error_dilated_kernel():
    """A dilated kernel's error names the span it is dilated to."""
    with pytest.raises(ShapeError, match=r"3-wide kernel \(dilated to 5\)"):
        output_size(4, 3, dilation=2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 8, "k": 3, "stride": 0}, "`stride` must be at least 1, got 0"),
        ({"n": -3, "k": 3}, "`n` must be at least 1, got -3"),
        ({"n": 8, "k": 0}, "`k` must be at least 1, got 0"),
        ({"n": 8, "k": 3, "padding": -1}, "`padding` must be 0 or more, got -1"),
        ({"n": 8, "k": 3, "dilation": 0}, "`dilation` must be at least 1, got 0"),
        ({"n": 8.0, "k": 3}, "`n` must be an integer, got 8.0"),
    ],
)
def test_error_bad_arguments(kwargs, message):
    """Each out-of-range argument is named in a one-line ShapeError."""
    with pytest.raises(ShapeError) as info:
        output_size(**kwargs)
    assert str(info.value) == message


def test_error_output_padding_too_large():
    """output_padding must be smaller than the stride or the dilation."""
    with pytest.raises(ShapeError) as info:
        transposed_output_size(3, 3, stride=2, output_padding=2)
    assert str(info.value) == (
        "`output_padding` (2) must be smaller than the stride (2) or the dilation (1)"
    )


def test_shape_error_is_value_error():
    """ShapeError is a ValueError, so `except ValueError` catches it."""
    with pytest.raises(ValueError):
        output_size(3, 5)


# --------------------------------------------------------- display ---


def test_conv_formula_alexnet_line():
    """The issue's formula line for 224, k11, s4, p2."""
    assert conv_formula(224, 11, 4, 2) == "⌊(224 − 11 + 4 + 4)/4⌋ = ⌊55.25⌋ = 55"


def test_conv_formula_repeating_decimal_is_truncated():
    """5/3 shows as 1.66… (truncated, so the floor is visible), not 1.67."""
    assert conv_formula(5, 3, 3) == "⌊(5 − 3 + 0 + 3)/3⌋ = ⌊1.66…⌋ = 1"


def test_conv_formula_uneven_padding_and_dilation():
    """Padding 0:1 counts 1 in p; dilation 2 turns k=3 into a span of 5."""
    assert conv_formula(8, 3, 1, (0, 1), 2) == "⌊(8 − 5 + 1 + 1)/1⌋ = ⌊5⌋ = 5"


def test_pool_formula_ceil():
    """Ceil mode: ⌈(6 − 3 + 0 + 2)/2⌉ = ⌈2.5⌉ = 3."""
    assert pool_formula(6, 3, 2, ceil_mode=True) == "⌈(6 − 3 + 0 + 2)/2⌉ = ⌈2.5⌉ = 3"


def test_transposed_formula():
    """The transposed formula with numbers: (55 − 1)·4 − 4 + (11 − 1) + 1 + 1 = 224."""
    assert transposed_formula(55, 11, 4, 2, 1, 1) == "(55 − 1)·4 − 4 + (11 − 1) + 1 + 1 = 224"


# ----------------------------------------------------------- solver ---


def test_solver_224_to_112():
    """224 → 112 with k=3: stride 2 with padding 0:1 (same) or 1 per side."""
    assert solve_stride_padding(224, 112, 3) == [(2, 0, 1), (2, 1, 1)]


def test_solver_respects_given_stride_and_padding():
    """'same' reaches 56 = ⌈224/4⌉ only with stride 4; stride 4 reaches 55 with p = 3 to 6."""
    assert solve_stride_padding(224, 56, 11, padding="same") == [(4, 3, 4)]
    assert solve_stride_padding(224, 55, 11, stride=4) == [
        (4, 1, 2),
        (4, 2, 2),
        (4, 2, 3),
        (4, 3, 3),
    ]


def test_solver_unreachable_is_empty():
    """No stride or padding turns 8 into 20 with a 3-wide kernel."""
    assert solve_stride_padding(8, 20, 3) == []


@given(
    n=st.integers(1, 60),
    k=st.integers(1, 7),
    s=st.integers(1, 6),
    p=st.integers(0, 12),
)
def test_solver_finds_every_forward_layer(n, k, s, p):
    """For any layer, solving for its own output lists its stride and padding."""
    before, after = p // 2, p - p // 2
    assume(max(before, after) <= k - 1 and k <= n + p)
    out = output_size(n, k, s, (before, after))
    solutions = solve_stride_padding(n, out, k)
    assert (s, before, after) in solutions or (
        out == 1 and any(sol[1:] == (before, after) for sol in solutions)
    )
    assert all(output_size(n, k, st_, (b, a)) == out for st_, b, a in solutions)


# ------------------------------------------------------- padding as text ---


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2", ((2, 2), (2, 2))),
        ("2x1", ((2, 2), (1, 1))),
        ("2 × 1", ((2, 2), (1, 1))),
        ("0:1", ((0, 1), (0, 1))),
        ("1:2x0:1", ((1, 2), (0, 1))),
        (" SAME ", "same"),
        ("valid", "valid"),
        ("full", "full"),
    ],
)
def test_parse_padding_forms(text, expected):
    """Every written form of padding reads as ((top, bottom), (left, right)) or a word."""
    assert parse_padding(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1x2x3", "padding '1x2x3' is not N, HxW"),
        ("1:2:3", "padding '1:2:3' has more than 2 sides per axis"),
        ("1:a", "padding 'a' is not a whole number"),
        ("", "padding '' is not a whole number"),
        ("half", "padding 'half' is not a whole number"),
    ],
)
def test_parse_padding_syntax_errors(text, message):
    """Malformed text is a PaddingSyntaxError (a ShapeError) saying what is wrong."""
    with pytest.raises(PaddingSyntaxError, match="^" + re.escape(message)):
        parse_padding(text)


def test_parse_padding_negative_is_a_range_error():
    """A negative number parses but is refused, not as a syntax error."""
    with pytest.raises(ShapeError) as info:
        parse_padding("1:-2")
    assert not isinstance(info.value, PaddingSyntaxError)
    assert str(info.value) == "-2 is too small: it must be at least 0"


def test_padding_words_match_resolve_padding():
    """The words named for a padding are exactly those resolve_padding turns into it."""
    for n in range(1, 12):
        for k in range(1, 5):
            for s in range(1, 4):
                for d in range(1, 3):
                    for pad in [(a, b) for a in range(5) for b in range(5)]:
                        words = padding_words(n, k, s, pad, d)
                        expected = [
                            w
                            for w in ("valid", "same", "full")
                            if resolve_padding(w, (n, n), (k, k), (s, s), (d, d))[0] == pad
                        ]
                        assert words == expected
