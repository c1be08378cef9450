"""Box factors as running sums in the ``separable`` strategy, against scipy and windows.

A box factor (every tap equal) longer than ``RUNNING_SUM_PASSES`` and not
dilated is summed as a running window (engine/separable.py). The oracles
are ``scipy.ndimage.uniform_filter`` and ``correlate`` and a numpy.pad +
sliding-window sum (tests/reference.py), none of which share its code.
"""

from __future__ import annotations

import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
import scipy.ndimage as ndi
from reference import NUMPY_PAD, SCIPY_MODE, conv2d_windows

from convcli import conv2d, filter2d
from convcli.arithmetic.geometry import Geometry
from convcli.engine import separable
from convcli.engine.strategies import RUNNING_SUM_PASSES, make_separable
from convcli.engine.tiling import Problem, tile_shape
from convcli.errors import LimitError

MODES = sorted(SCIPY_MODE)


@pytest.fixture
def calls(monkeypatch):
    """Counts the running-sum passes taken, so a test knows the path it checks ran."""
    seen = {"rows": 0, "columns": 0}
    rows, columns = separable._running_rows, separable._running_columns

    def count_rows(*args, **kwargs):
        seen["rows"] += 1
        return rows(*args, **kwargs)

    def count_columns(*args, **kwargs):
        seen["columns"] += 1
        return columns(*args, **kwargs)

    monkeypatch.setattr(separable, "_running_rows", count_rows)
    monkeypatch.setattr(separable, "_running_columns", count_columns)
    return seen


@pytest.fixture
def small_chunks(monkeypatch):
    """A few cells per running-sum step, so the window is carried across many steps."""
    monkeypatch.setattr(separable, "RUNNING_SUM_CHUNK", 50)


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


@pytest.mark.usefixtures("numpy_engine")
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


# -- random problems (from a review of this path) -------------------------------


def _factor_oracle(x, factors, groups, padding, stride, dilation, mode, value):
    """numpy.pad, then scipy's correlate1d down and across with the factors the test
    built (float64): the sum of every (o, c) slice's two 1-D passes."""
    (t, b), (left, r) = padding
    widths = [(0, 0), (0, 0), (t, b), (left, r)]
    kw = {"constant_values": value} if mode == "zeros" else {}
    xp = np.pad(np.asarray(x, np.float64), widths, mode=NUMPY_PAD[mode], **kw)
    c_out, cg = len(factors), len(factors[0])
    kh, kwid = len(factors[0][0][0]), len(factors[0][0][1])
    (dh, dw), (sh, sw) = dilation, stride
    span_h, span_w = (kh - 1) * dh + 1, (kwid - 1) * dw + 1
    vh, vw = xp.shape[2] - span_h + 1, xp.shape[3] - span_w + 1
    og = c_out // groups
    out = np.zeros((xp.shape[0], c_out, (vh - 1) // sh + 1, (vw - 1) // sw + 1))
    for o in range(c_out):
        g = o // og
        for c in range(cg):
            col, row = factors[o][c]
            cd, rd = np.zeros(span_h), np.zeros(span_w)
            cd[::dh], rd[::dw] = col, row
            m = ndi.correlate1d(xp[:, g * cg + c], cd, axis=1, mode="constant")
            m = m[:, span_h // 2 : span_h // 2 + vh]
            m = ndi.correlate1d(m, rd, axis=2, mode="constant")
            out[:, o] += m[:, :, span_w // 2 : span_w // 2 + vw][:, ::sh, ::sw]
    return out


def _factor(rng, n, box):
    if box:
        return np.full(n, rng.choice([1.0, 1.0 / n, -0.7, rng.uniform(-2, 2)]))
    return rng.standard_normal(n)


@pytest.mark.parametrize("seed", range(40))
def test_random_box_problems_match_an_independent_oracle(seed):
    """Box x box, box x any, any x box slices at sizes on both sides of the threshold,
    with groups, a batch, dilation on one axis, stride, every pad mode and pad value,
    non-contiguous input, small and large budgets, 1-3 threads; forced and "auto"."""
    rng = np.random.default_rng(1300 + seed)
    groups = int(rng.choice([1, 2]))
    cg, og, n = int(rng.integers(1, 3)), int(rng.integers(1, 3)), int(rng.integers(1, 3))
    kh, kw = (int(rng.choice([rng.integers(2, 24), rng.integers(25, 70)])) for _ in range(2))
    factors = []
    for _ in range(og * groups):
        row = []
        for _ in range(cg):
            kind = rng.integers(0, 3)  # box x box, box x any, any x box
            row.append((_factor(rng, kh, kind in (0, 1)), _factor(rng, kw, kind in (0, 2))))
        factors.append(row)
    w = np.array([[np.outer(a, b) for a, b in row] for row in factors])
    dilation = [(1, 1), (2, 1), (1, 3)][rng.integers(0, 3)]
    stride = (int(rng.integers(1, 3)), int(rng.integers(1, 4)))
    mode = str(rng.choice(sorted(NUMPY_PAD)))
    h, wd = int(rng.integers(20, 110)), int(rng.integers(20, 110))
    span = ((kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1)
    padding = tuple(
        (int(rng.integers(0, s + 1)), int(rng.integers(0, s + 1)) + max(0, s - n_))
        for s, n_ in zip(span, (h, wd), strict=True)
    )
    x = rng.standard_normal((n, cg * groups, h, wd))
    if rng.random() < 0.5:
        x = x[..., ::-1]  # not contiguous
    value = float(rng.uniform(-2, 2)) if mode == "zeros" else 0.0
    budget = int(rng.choice([w.nbytes + (1 << 21), 1 << 26]))
    for strategy in ("separable", "auto"):
        got = conv2d(
            x,
            w,
            None,
            stride,
            padding,
            dilation,
            groups,
            mode,
            pad_value=value,
            memory_budget=budget,
            strategy=strategy,
            threads=int(rng.integers(1, 4)),
        )
        expected = _factor_oracle(x, factors, groups, padding, stride, dilation, mode, value)
        scale = np.abs(w).sum(axis=(1, 2, 3)).max() * max(np.abs(x).max(), abs(value))
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10 * scale)


# -- tiles, budget and imports ----------------------------------------------------


def test_only_running_sums_take_tall_tiles():
    """Tiles of four spans amortise a running sum's first window; a 201-tap Gaussian's
    axpy passes keep cache-sized tiles (the floor made them 1.2-1.7x slower)."""
    geo = Geometry.resolve((1500, 2000), 201, padding="same")
    problem = Problem.of(geo, 1, 1, 1, 1)
    g = np.exp(-0.5 * (np.arange(-100, 101) / 30.0) ** 2)
    gauss = make_separable(problem, np.outer(g, g)[None, None], np.dtype(np.float32))
    box = make_separable(problem, np.ones((1, 1, 201, 201)), np.dtype(np.float32))
    assert (gauss.tall, box.tall) == (False, True)
    assert tile_shape("separable", problem, 1 << 28, 1, 4, 4, tall=False)[0] < 4 * 201
    assert tile_shape("separable", problem, 1 << 28, 1, 4, 4, tall=True)[0] == 4 * 201


def test_filter2d_keeps_room_for_the_weights_it_was_given():
    """Weights of 1.04 MB fit a 1.5 MB budget: filter2d skips its float copy of the
    image rather than refuse (it named a budget of 806 kB the caller never set). Under
    1 MB the refusal names the caller's budget, in bytes where MB would round alike."""
    img = np.random.default_rng(0).random((170, 170, 3))
    kernel = np.full((361, 361), 1 / 361**2)
    got = filter2d(img, kernel, memory_budget=1_500_000)
    expected = np.stack(
        [ndi.uniform_filter(img[..., c], 361, mode="mirror") for c in range(3)], axis=-1
    )
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    with pytest.raises(LimitError) as info:
        filter2d(img, kernel, memory_budget=1_000_000)
    assert str(info.value) == (
        "the kernel weights (361x361 float64) take 1042568 bytes, more than the memory "
        "budget of 1000000 bytes: use a smaller kernel, or (in Python) a larger `memory_budget`"
    )


def test_a_box_column_with_a_short_row_loads_no_blas():
    """outer(box 301, Gaussian 9) on 2000x2000: the cost model prices the 9 axpy passes
    in numpy (cheaper than importing scipy.linalg) and the call must not import it."""
    code = (
        "import sys, numpy as np; from convcli import filter2d; "
        "g = np.exp(-0.5 * (np.arange(-4, 5) / 2.0) ** 2); "
        "k = np.outer(np.full(301, 1 / 301), g / g.sum()); "
        "filter2d(np.zeros((2000, 2000), np.float32), k, threads=1); "
        "print('scipy.linalg' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
