"""Running sums of box factors in the native core, against independent oracles.

``correlate_separable(..., running=n)`` sums a box factor (equal taps) of more
than ``n`` taps, along an axis of stride and dilation 1, as a running sum.
Oracles: the explicit sum over taps of the ``numpy.pad``-ed input (from
tests/test_native.py), and the numpy ``separable`` strategy, which has running
sums of its own. Every variant this CPU runs is forced in turn.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_native import index_map, make_source, oracle, tolerance

import convcli
from convcli.engine import costs, native
from convcli.engine.factors import NATIVE_RUNNING_TAPS
from convcli.engine.tiling import Problem

_native = pytest.importorskip("convcli.engine._native", reason="native extension not built")

MODES = ["zeros", "replicate", "symmetric", "reflect", "circular"]


@st.composite
def box_problems(draw):
    """A source, two factors (each a box or not, short or long), geometry and a band."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    h, w = draw(st.integers(1, 70)), draw(st.integers(1, 90))
    kh, kw = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    stride = (draw(st.sampled_from([1, 1, 2, 3])), draw(st.sampled_from([1, 1, 2, 3])))
    dilation = (draw(st.sampled_from([1, 1, 2])), draw(st.sampled_from([1, 1, 2])))
    mode = draw(st.sampled_from(MODES))
    pads = [draw(st.integers(0, 25)) for _ in range(4)]
    pads[1] += max(0, dilation[0] * (kh - 1) + 1 - (h + pads[0] + pads[1]))
    pads[3] += max(0, dilation[1] * (kw - 1) + 1 - (w + pads[2] + pads[3]))
    boxes = (draw(st.booleans()), draw(st.booleans()))
    running = draw(st.sampled_from([0, 1, 4, NATIVE_RUNNING_TAPS]))
    seed = draw(st.integers(0, 2**32 - 1))
    view = draw(st.sampled_from(["contiguous", "transposed", "strided", "reversed"]))
    band = (draw(st.floats(0, 1)), draw(st.floats(0, 1)))
    return dtype, (h, w), (kh, kw), stride, dilation, mode, pads, boxes, running, seed, view, band


def _factor(rng: np.random.Generator, n: int, box: bool, dtype: type) -> np.ndarray:
    """A box of ``n`` equal taps (a random nonzero value), or ``n`` random taps."""
    if box:
        return np.full(n, rng.uniform(0.1, 2.0) * rng.choice([-1, 1]), dtype=dtype)
    return rng.standard_normal(n).astype(dtype)


def _running_tolerance(dtype, col, row, x, out_shape) -> float:
    """How far two sums of the same terms may differ: the taps' tolerance, plus the
    first-order bound of sequential summation, eps · chain · Σ|terms|, for the chain of
    additions a value passes through (a column pass of len(col) taps, a row pass of
    len(row), and a running sum's steps along its column and row).

    A box gives terms of one sign and equal size, so its rounding adds up rather
    than cancelling: CI found a float64 7×1 image, replicate-padded to a 14×39 box,
    2.02e-12 (55 ulp of the 164.25 result) from the explicit sum on every variant,
    over the taps-only tolerance of 2.01e-12.
    """
    eps = float(np.finfo(dtype).eps)
    chain = col.size + row.size + out_shape[0] + out_shape[1]
    terms = float(np.abs(col).sum() * np.abs(row).sum()) * max(float(np.abs(x).max()), 1.0)
    return tolerance(dtype, np.outer(col, row), x) * 4 + 4 * eps * chain * terms


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(box_problems(), st.booleans())
@example(  # found by CI: 55 ulp from the explicit sum (see _running_tolerance)
    case=(np.float64, (7, 1), (14, 39), (1, 1), (1, 1), "replicate", [5, 2, 0, 38],
          (True, True), 0, 526572, "reversed", (0.0, 0.0)),
    accumulate=False,
)  # fmt: skip
def test_running_sums_match_the_explicit_sum(variant, case, accumulate):
    """Box factors summed as running sums, on any band of output rows, accumulated or
    not, give the explicit sum over taps; the scan they make reads every row read."""
    dtype, shape, (kh, kw), stride, dilation, mode, pads, boxes, running, seed, view, band = case
    x = make_source(shape, dtype, seed, view)
    rng = np.random.default_rng(seed + 3)
    col, row = _factor(rng, kh, boxes[0], dtype), _factor(rng, kw, boxes[1], dtype)
    top, bottom, left, right = pads
    value = 0.5 if mode == "zeros" else 0.0
    w = np.outer(col, row)
    expected = oracle(x, w, ((top, bottom), (left, right)), stride, dilation, mode, value)
    rows = index_map(shape[0], top, bottom, mode)
    cols = index_map(shape[1], left, right, mode)
    oh = expected.shape[0]
    r0 = min(int(band[0] * oh), oh - 1)
    r1 = r0 + 1 + int(band[1] * (oh - r0 - 1))
    start = rng.standard_normal(expected.shape).astype(dtype) if accumulate else None
    out = start.copy() if accumulate else np.full(expected.shape, np.nan, dtype=dtype)
    found = _native.correlate_separable(
        x, rows, cols, col, row, out, stride, dilation, value, r0, r1, accumulate, True, None,
        running,
    )  # fmt: skip
    want = expected[r0:r1] + (start[r0:r1] if accumulate else 0)
    np.testing.assert_allclose(
        out[r0:r1], want, rtol=0, atol=_running_tolerance(dtype, col, row, x, expected.shape)
    )
    if accumulate:  # rows outside the band are left alone
        np.testing.assert_array_equal(out[:r0], start[:r0])
        np.testing.assert_array_equal(out[r1:], start[r1:])
    read = rows[(np.arange(r0, r1)[:, None] * stride[0] + np.arange(kh) * dilation[0]).ravel()]
    used = x[np.unique(read[read >= 0])]
    assert found == ((float(np.abs(used).max()) if used.size else 0.0), True)


@pytest.mark.parametrize("size", [(21, 21), (31, 7), (5, 45), (41, 41)])
@pytest.mark.parametrize("mode", ["reflect", "zeros", "circular"])
def test_filter2d_of_a_box_matches_the_numpy_strategy(native_engine, size, mode):
    """A box through the native core agrees with the numpy ``separable`` strategy's
    running sums (and with scipy's uniform filter where the modes match)."""
    rng = np.random.default_rng(sum(size))
    img = rng.standard_normal((150, 170)).astype(np.float32) * 100
    box = np.full(size, 1.0 / (size[0] * size[1]))
    got = convcli.filter2d(img, box, pad_mode=mode, strategy="native")
    ref = convcli.filter2d(img, box, pad_mode=mode, strategy="separable")
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-4)
    if mode == "reflect":
        from scipy import ndimage

        odd = size[0] % 2 and size[1] % 2  # scipy centres even boxes elsewhere
        if odd:
            want = ndimage.uniform_filter(img.astype(np.float64), size, mode="mirror")
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)


@pytest.fixture
def native_engine(variant):
    """``variant``, for tests through the engine: skipped when it runs on numpy."""
    if native.module() is None:
        pytest.skip(f"the native engine is off: {native.status().reason}")
    return variant


def test_the_cost_model_prices_a_long_box_as_a_few_taps(native_engine):
    """The native separable form of a long box costs about what a short one costs, and
    far less than the same length of unequal taps (which it sums tap by tap)."""
    from convcli.arithmetic.geometry import Geometry

    def priced(col: np.ndarray, row: np.ndarray) -> float:
        w = np.outer(col, row)[None, None]
        geo = Geometry.resolve((2000, 2000), w.shape[-2:], padding="same")
        problem = Problem.of(geo, 1, 1, 1, 1)
        found = costs.native_costs(
            problem, w, np.dtype(np.float32), (col[None, None], row[None, None])
        )
        assert found is not None and found[1] is not None
        return found[1]

    box = np.full(101, 1 / 101)
    ramp = np.linspace(0.5, 1.5, 101) / 101
    short = np.full(NATIVE_RUNNING_TAPS, 1 / NATIVE_RUNNING_TAPS)
    assert priced(box, box) < priced(ramp, ramp) / 3
    assert priced(box, box) == pytest.approx(priced(short, short), rel=0.2)


def test_a_bad_running_argument_is_refused():
    """``running`` must be an integer."""
    x = np.zeros((4, 4), np.float32)
    maps = np.arange(4, dtype=np.int64)
    taps = np.ones(1, np.float32)
    out = np.empty((4, 4), np.float32)
    with pytest.raises(TypeError):
        _native.correlate_separable(
            x, maps, maps, taps, taps, out, (1, 1), (1, 1), 0.0, 0, 4, False, False, None, "x"
        )
