"""Tests of convcli.arithmetic.geometry.Geometry: resolved once, sizes by the formula.

Each output size is checked against the formula written out here and
against explicit loops that place every window (no torch).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convcli.arithmetic.geometry import Geometry
from convcli.errors import ShapeError

small = st.integers(1, 6)


def _formula(n, k, s, before, after, d):
    """floor((n + p_before + p_after - d*(k - 1) - 1) / s) + 1, written out."""
    return (n + before + after - d * (k - 1) - 1) // s + 1


def _windows(n, k, s, before, after, d):
    """Count the windows by placing them one by one in the padded input."""
    count, start = 0, 0
    while start + d * (k - 1) <= n + before + after - 1:
        count += 1
        start += s
    return count


def _pool_windows(n, k, s, before, after, ceil_mode):
    """Pooling windows, placed one by one: whole windows (floor), or with ceil mode
    also a last partial one overhanging by less than a stride, never one that starts
    in the right padding (PyTorch's rule)."""
    padded = n + before + after
    count, start = 0, 0
    while True:
        if ceil_mode:
            ok = start < n + before and start + k - padded < s
        else:
            ok = start + k <= padded
        if not ok:
            return count
        count += 1
        start += s


@given(
    n=st.tuples(st.integers(1, 40), st.integers(1, 40)),
    k=st.tuples(small, small),
    s=st.tuples(small, small),
    d=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    p=st.tuples(*(st.integers(0, 4) for _ in range(4))),
)
def test_conv_output_shape_matches_formula_and_loops(n, k, s, d, p):
    """Explicit per-side padding: output_shape is the formula and the window count."""
    top, bottom, left, right = p
    geo = Geometry.resolve(n, k, stride=s, padding=p, dilation=d)
    assert geo.padding == ((top, bottom), (left, right))
    fits = all(n[a] + sum(geo.padding[a]) >= d[a] * (k[a] - 1) + 1 for a in (0, 1))
    if not fits:
        with pytest.raises(ShapeError):
            geo.output_shape  # noqa: B018
        return
    expected = tuple(_formula(n[a], k[a], s[a], *geo.padding[a], d[a]) for a in (0, 1))
    assert geo.output_shape == expected
    assert expected == tuple(_windows(n[a], k[a], s[a], *geo.padding[a], d[a]) for a in (0, 1))
    assert geo.span == (d[0] * (k[0] - 1) + 1, d[1] * (k[1] - 1) + 1)


@given(
    n=st.tuples(st.integers(1, 40), st.integers(1, 40)),
    k=st.tuples(small, small),
    s=st.tuples(small, small),
    d=st.tuples(st.integers(1, 3), st.integers(1, 3)),
)
def test_same_padding_gives_ceil_n_over_s(n, k, s, d):
    """'same': ceil(n / s) outputs, the extra padding cell after (bottom/right)."""
    geo = Geometry.resolve(n, k, stride=s, padding="same", dilation=d)
    assert geo.output_shape == (-(-n[0] // s[0]), -(-n[1] // s[1]))
    for a in (0, 1):
        before, after = geo.padding[a]
        assert after - before in (0, 1)
        total = max((-(-n[a] // s[a]) - 1) * s[a] + d[a] * (k[a] - 1) + 1 - n[a], 0)
        assert before + after == total


@given(n=st.tuples(st.integers(1, 30), st.integers(1, 30)), k=st.tuples(small, small))
def test_valid_and_full(n, k):
    """'valid' pads nothing; 'full' pads k - 1 each side, giving n + k - 1 outputs."""
    full = Geometry.resolve(n, k, padding="full")
    assert full.padding == ((k[0] - 1, k[0] - 1), (k[1] - 1, k[1] - 1))
    assert full.output_shape == (n[0] + k[0] - 1, n[1] + k[1] - 1)
    valid = Geometry.resolve(n, k, padding="valid")
    assert valid.padding == ((0, 0), (0, 0))
    if n[0] >= k[0] and n[1] >= k[1]:
        assert valid.output_shape == (n[0] - k[0] + 1, n[1] - k[1] + 1)


@given(
    n=st.integers(1, 30),
    k=small,
    s=small,
    before=st.integers(0, 5),
    after=st.integers(0, 5),
    ceil_mode=st.booleans(),
)
def test_pooling_matches_window_loop(n, k, s, before, after, ceil_mode):
    """Pooling geometry against the explicit window loop (when the padding is legal)."""
    geo = Geometry.resolve(
        (n, n),
        k,
        stride=s,
        padding=((before, after), (before, after)),
        pooling=True,
        ceil_mode=ceil_mode,
    )
    try:
        out = geo.output_shape
    except ShapeError:
        return  # padding too wide for the window: refused, not counted
    expected = _pool_windows(n, k, s, before, after, ceil_mode)
    assert out == (expected, expected)


def test_pooling_stride_defaults_to_window_and_conv_to_one():
    """stride=None: the window for pooling, 1 for a convolution."""
    assert Geometry.resolve((8, 8), (2, 3), pooling=True).stride == (2, 3)
    assert Geometry.resolve((8, 8), (2, 3)).stride == (1, 1)


def test_resolve_names_the_bad_argument():
    """Errors name the argument: size for pooling, kernel_size otherwise, stride, padding."""
    with pytest.raises(ShapeError, match="`size` must be at least 1"):
        Geometry.resolve((4, 4), 0, pooling=True)
    with pytest.raises(ShapeError, match="`kernel_size` must be at least 1"):
        Geometry.resolve((4, 4), 0)
    with pytest.raises(ShapeError, match="`stride`"):
        Geometry.resolve((4, 4), 2, stride=0)
    with pytest.raises(ShapeError, match="unknown `padding` 'half'"):
        Geometry.resolve((4, 4), 2, padding="half")


def test_geometry_is_a_frozen_value():
    """Resolved once, then passed down unchanged."""
    geo = Geometry.resolve((224, 224), 11, stride=4, padding="same")
    with pytest.raises(AttributeError):
        geo.stride = (1, 1)  # type: ignore[misc]
    assert geo == Geometry((224, 224), (11, 11), (4, 4), (1, 1), ((3, 4), (3, 4)))
