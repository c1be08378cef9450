"""Box factors as running sums in the ``separable`` strategy, against scipy and windows.

A box factor (every tap equal) longer than ``RUNNING_SUM_PASSES`` and not
dilated is summed as a running window (engine/strategies.py). The oracles
are ``scipy.ndimage.uniform_filter`` and ``correlate`` and a numpy.pad +
sliding-window sum (tests/reference.py), none of which share its code.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import scipy.ndimage as ndi
from reference import SCIPY_MODE, conv2d_windows

from convcli import conv2d, filter2d
from convcli.engine import strategies
from convcli.engine.strategies import RUNNING_SUM_PASSES

MODES = sorted(SCIPY_MODE)


@pytest.fixture
def calls(monkeypatch):
    """Counts the running-sum passes taken, so a test knows the path it checks ran."""
    seen = {"rows": 0, "columns": 0}
    rows, columns = strategies._running_rows, strategies._running_columns

    def count_rows(*args, **kwargs):
        seen["rows"] += 1
        return rows(*args, **kwargs)

    def count_columns(*args, **kwargs):
        seen["columns"] += 1
        return columns(*args, **kwargs)

    monkeypatch.setattr(strategies, "_running_rows", count_rows)
    monkeypatch.setattr(strategies, "_running_columns", count_columns)
    return seen


@pytest.fixture
def small_chunks(monkeypatch):
    """A few cells per running-sum step, so the window is carried across many steps."""
    monkeypatch.setattr(strategies, "RUNNING_SUM_CHUNK", 50)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size", [RUNNING_SUM_PASSES + 1, 41, 101])
def test_a_box_equals_uniform_filter_in_every_pad_mode(mode, size, calls, small_chunks):
    rng = np.random.default_rng(size)
    img = rng.random((130, 117))
    got = filter2d(img, np.ones((size, size)) / size**2, pad_mode=mode, strategy="separable")
    expected = ndi.uniform_filter(img, size, mode=SCIPY_MODE[mode])
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    assert calls["rows"] > 0 and calls["columns"] > 0


def test_a_box_no_longer_than_the_threshold_takes_axpy_passes(calls):
    img = np.random.default_rng(1).random((60, 60))
    size = RUNNING_SUM_PASSES
    kernel = np.ones((size, size))
    got = filter2d(img, kernel, strategy="separable")
    pad = ((size - 1) // 2, size // 2)  # "same" for an even kernel: the extra row below
    expected = conv2d_windows(img[None, None], kernel[None, None], (pad, pad), mode="reflect")
    np.testing.assert_allclose(got, expected[0, 0], rtol=1e-12)
    assert calls == {"rows": 0, "columns": 0}


def test_an_even_box_and_a_lone_box_axis_match_the_window_oracle(calls, small_chunks):
    """An even box (its 'same' padding is uneven) and kernels where only one factor
    is a box: outer(box, Gaussian) runs the columns alone, a 1 x 60 box the rows alone."""
    rng = np.random.default_rng(2)
    img = rng.random((90, 110))
    g = np.exp(-0.5 * (np.arange(-4, 5) / 2.0) ** 2)
    for kernel in (np.ones((30, 30)), np.outer(np.full(40, 0.5), g), np.ones((1, 60))):
        for mode in MODES:
            got = filter2d(img, kernel, pad_mode=mode, strategy="separable")
            kh, kw = kernel.shape
            pad = (((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2))
            expected = conv2d_windows(img[None, None], kernel[None, None], pad, mode=mode)[0, 0]
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    assert calls["rows"] > 0 and calls["columns"] > 0


@pytest.mark.parametrize("groups", [1, 3])
def test_a_layer_of_boxes_with_stride_dilation_and_a_batch(groups, calls, small_chunks):
    """Channels, groups, a batch, stride and a dilated row factor (which stays axpy),
    with boxes of several weights and one slice that is not a box; a small budget
    makes many tiles."""
    rng = np.random.default_rng(3)
    x = rng.random((2, 3, 80, 75))
    w = np.empty((6, 3 // groups, 33, 27))
    for o in range(6):
        for c in range(3 // groups):
            w[o, c] = rng.uniform(-2, 2)  # a box of its own weight
    w[4, 0] = np.outer(np.full(33, 0.3), rng.random(27))  # a box column, any row
    padding, stride, dilation = ((7, 9), (4, 2)), (2, 3), (1, 2)
    got = conv2d(
        x,
        w,
        None,
        stride,
        padding,
        dilation,
        groups,
        "symmetric",
        strategy="separable",
        memory_budget=1 << 20,
    )
    expected = conv2d_windows(x, w, padding, stride, dilation, groups, mode="symmetric")
    np.testing.assert_allclose(got, expected, rtol=1e-11, atol=1e-11)
    assert calls["rows"] > 0 and calls["columns"] == 0  # dw = 2: no running rows


def test_float32_is_as_close_as_its_own_rounding():
    """The sums run in float64, so a float32 result is within float32 rounding of the
    exact box mean, even on data far from zero (1e4 plus noise)."""
    rng = np.random.default_rng(4)
    img = (1e4 + rng.random((300, 280))).astype(np.float32)
    got = filter2d(img, np.ones((151, 151), np.float32) / 151**2, strategy="separable")
    assert got.dtype == np.float32
    expected = ndi.uniform_filter(img.astype(np.float64), 151, mode="mirror")
    np.testing.assert_allclose(got, expected, rtol=2 * np.finfo(np.float32).eps)


def test_auto_takes_running_sums_for_a_large_box_on_a_photo(calls):
    """uint8 in, as at the command line: "auto" picks them, and agrees with scipy."""
    rng = np.random.default_rng(5)
    img = rng.integers(0, 256, (700, 650), dtype=np.uint8)
    got = filter2d(img, np.ones((301, 301)) / 301**2)
    assert calls["rows"] > 0 and calls["columns"] > 0
    expected = ndi.uniform_filter(img.astype(np.float64), 301, mode="mirror")
    np.testing.assert_allclose(got, expected, rtol=0, atol=256 * 4 * np.finfo(np.float32).eps)


def test_running_sums_stay_within_the_budget():
    rng = np.random.default_rng(6)
    img = rng.random((1200, 1100)).astype(np.float32)
    kernel = np.ones((301, 301), np.float32) / 301**2
    budget = 16 << 20
    tracemalloc.start()
    try:
        out = filter2d(img, kernel, strategy="separable", memory_budget=budget)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # the budget, plus the output and the float copies of image and kernel outside it
    assert peak <= budget + 2 * out.nbytes + 2 * kernel.nbytes + img.nbytes, peak
