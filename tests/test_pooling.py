"""pool2d against a window-by-window loop reference (and PyTorch when installed)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import pool2d_loop

from convcli import ParameterError, ShapeError, pool2d


def test_textbook_two_by_two_stride_one():
    """2x2 pooling of [[0,1,2],[3,4,5],[6,7,8]] with stride 1: max [[4,5],[7,8]], avg [[2,3],[5,6]]."""
    x = np.arange(9).reshape(3, 3)
    np.testing.assert_array_equal(pool2d(x, 2, stride=1), [[4, 5], [7, 8]])
    np.testing.assert_array_equal(pool2d(x, 2, stride=1, mode="avg"), [[2, 3], [5, 6]])
    np.testing.assert_array_equal(pool2d(x, 2, stride=1, mode="min"), [[0, 1], [3, 4]])


def test_stride_defaults_to_window():
    """Without a stride, 2x2 windows tile a 4x4 input into 2x2 outputs."""
    x = np.arange(16).reshape(4, 4)
    np.testing.assert_array_equal(pool2d(x, 2), [[5, 7], [13, 15]])


def test_padding_never_wins_a_max_or_min():
    """Padded cells are -inf for max and +inf for min: all-negative input keeps its values."""
    x = -np.arange(1.0, 10.0).reshape(3, 3)
    out = pool2d(x, 2, stride=2, padding=1)
    np.testing.assert_array_equal(out, [[-1, -2], [-4, -5]])
    out = pool2d(-x, 2, stride=2, padding=1, mode="min")
    np.testing.assert_array_equal(out, [[1, 2], [4, 5]])
    u8 = np.full((3, 3), 7, dtype=np.uint8)
    assert pool2d(u8, 2, stride=2, padding=1, mode="min").min() == 7
    assert pool2d(u8, 2, stride=2, padding=1).dtype == np.uint8


def test_padding_wider_than_half_the_window():
    """A 2x3 window with padding 1x2 and stride 2x3 on a 4x4 input: every window holds a real
    cell, so it is allowed (PyTorch refuses pad > k/2); values from the loop reference."""
    x = np.arange(16.0).reshape(4, 4)
    got = pool2d(x, (2, 3), stride=(2, 3), padding=(1, 2))
    np.testing.assert_array_equal(got, pool2d_loop(x, (2, 3), (2, 3), (1, 1, 2, 2), "max"))
    assert got.shape == (3, 2)


def test_ceil_mode_drops_a_window_starting_in_the_padding():
    """n=5, k=2, s=2, pad 1, ceil mode: 3 windows (not 4), as in PyTorch."""
    x = np.arange(5.0)[None, :]
    got = pool2d(x, (1, 2), stride=(1, 2), padding=((0, 0), (1, 1)), ceil_mode=True, mode="avg")
    # windows [-1, 0], [1, 2], [3, 4]; count_include_pad divides each by 2
    np.testing.assert_array_equal(got, [[0.0, 1.5, 3.5]])


@st.composite
def pool_problems(draw):
    """Random pooling problems in which every window holds a real cell."""
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    t, b = draw(st.integers(0, kh - 1)), draw(st.integers(0, kh - 1))
    left, r = draw(st.integers(0, kw - 1)), draw(st.integers(0, kw - 1))
    h = draw(st.integers(max(1, kh - t - b), 12))
    w = draw(st.integers(max(1, kw - left - r), 12))
    return (h, w), (kh, kw), (sh, sw), (t, b, left, r)


def _fits(n, k, s, before, after, ceil_mode):
    span = n + before + after - k
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= n + before:
        out -= 1
    return (out - 1) * s - before <= n - 1


@settings(max_examples=200, deadline=None)
@given(
    problem=pool_problems(),
    mode=st.sampled_from(["max", "avg", "min"]),
    ceil_mode=st.booleans(),
    count_include_pad=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_pool2d_matches_loop_reference(problem, mode, ceil_mode, count_include_pad, seed):
    """pool2d equals the window-by-window reference for any size, stride, padding and mode."""
    (h, w), k, s, p = problem
    if not (
        _fits(h, k[0], s[0], p[0], p[1], ceil_mode) and _fits(w, k[1], s[1], p[2], p[3], ceil_mode)
    ):
        with pytest.raises(ShapeError):
            pool2d(np.zeros((h, w)), k, s, ((p[0], p[1]), (p[2], p[3])), mode, ceil_mode)
        return
    x = np.random.default_rng(seed).standard_normal((h, w)).astype(np.float32)
    got = pool2d(x, k, s, ((p[0], p[1]), (p[2], p[3])), mode, ceil_mode, count_include_pad)
    expected = pool2d_loop(x, k, s, p, mode, ceil_mode, count_include_pad)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_layouts():
    """(C, H, W) and (N, C, H, W) pool each plane on its own, channels first as in PyTorch."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 6, 8))
    got = pool2d(x, 2)
    assert got.shape == (3, 3, 4)
    for c in range(3):
        np.testing.assert_array_equal(got[c], pool2d_loop(x[c], (2, 2), (2, 2), (0,) * 4, "max"))
    batch = rng.standard_normal((2, 3, 6, 8))
    got = pool2d(batch, 3, stride=2, padding=1, mode="avg")
    np.testing.assert_allclose(
        got[1, 2], pool2d_loop(batch[1, 2], (3, 3), (2, 2), (1,) * 4, "avg"), rtol=1e-12
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size": 0}, r"`size` must be at least 1, got 0"),
        ({"size": 2, "stride": 0}, r"`stride` must be at least 1, got 0"),
        ({"size": 7}, r"the 7-wide window is larger than the padded input \(4\)"),
        ({"size": 2, "padding": 2}, r"padding 2 before a 2-wide window leaves the first window"),
    ],
)
def test_bad_input_messages(kwargs, message):
    """Bad pooling arguments raise a ShapeError naming the problem."""
    with pytest.raises(ShapeError, match=message):
        pool2d(np.zeros((4, 4)), **kwargs)


def test_unknown_mode_is_a_parameter_error():
    """An unknown reduction is a ParameterError naming the known ones."""
    with pytest.raises(
        ParameterError, match=r"unknown pooling `mode` 'median'; known modes: max, avg, min"
    ):
        pool2d(np.zeros((4, 4)), 2, mode="median")


def test_pool2d_matches_torch():
    """pool2d equals torch max_pool2d / avg_pool2d on random cases (skipped without torch)."""
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    rng = np.random.default_rng(2)
    for _ in range(60):
        k = tuple(int(v) for v in rng.integers(1, 4, 2))
        s = tuple(int(v) for v in rng.integers(1, 4, 2))
        p = (int(rng.integers(0, k[0] // 2 + 1)), int(rng.integers(0, k[1] // 2 + 1)))
        ceil = bool(rng.integers(0, 2))
        cip = bool(rng.integers(0, 2))
        x = rng.standard_normal((2, 3, int(rng.integers(4, 12)), int(rng.integers(4, 12))))
        xt = torch.from_numpy(x)
        mx = functional.max_pool2d(xt, k, s, p, ceil_mode=ceil).numpy()
        av = functional.avg_pool2d(xt, k, s, p, ceil_mode=ceil, count_include_pad=cip).numpy()
        np.testing.assert_array_equal(pool2d(x, k, s, p, "max", ceil), mx)
        np.testing.assert_allclose(pool2d(x, k, s, p, "avg", ceil, cip), av, rtol=1e-12)


@pytest.mark.parametrize("mode", ["max", "avg", "min"])
def test_input_is_left_unchanged(mode):
    """Pooling reads views of its input when no padding is needed, and never writes to it."""
    x = np.random.default_rng(3).standard_normal((2, 3, 8, 8))
    before = x.copy()
    pool2d(x, 2, mode=mode)
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("mode", ["max", "avg", "min"])
def test_bands_of_rows_in_threads_match_the_loop(monkeypatch, threads, mode):
    """Reduced in many one-row bands by several threads, pooling still equals the loop."""
    import convcli.engine.pooling

    monkeypatch.setattr(convcli.engine.pooling, "_BAND_ELEMENTS", 1)
    x = np.random.default_rng(18).standard_normal((23, 17)).astype(np.float32)
    got = pool2d(x, (3, 2), (2, 1), ((1, 1), (0, 1)), mode, True, threads=threads)
    expected = pool2d_loop(x, (3, 2), (2, 1), (1, 1, 0, 1), mode, True)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_textbook_two_channel_example():
    """d2l's pooling of np.stack([X, X + 1]) (X = arange(16) as 4x4), window 3, padding 1,
    stride 2: [[5, 7], [13, 15]] and [[6, 8], [14, 16]]; and a (1, 3, 3) tensor 2x2 stride 1."""
    X = np.arange(16, dtype=np.float32).reshape(4, 4)
    got = pool2d(np.stack([X, X + 1]), 3, stride=2, padding=1)
    np.testing.assert_array_equal(got, [[[5, 7], [13, 15]], [[6, 8], [14, 16]]])
    one = np.arange(9.0).reshape(1, 3, 3)
    np.testing.assert_array_equal(pool2d(one, 2, stride=1), [[[4, 5], [7, 8]]])
