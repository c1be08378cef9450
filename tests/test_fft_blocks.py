"""Large kernels by FFT over kernel blocks (engine/fftblocks.py), against scipy and loops."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import scipy.ndimage as ndi
from reference import NUMPY_PAD, conv2d_windows

from convcli import conv2d, filter2d
from convcli.arithmetic.geometry import Geometry
from convcli.engine import fftblocks
from convcli.engine.costs import choose_strategy
from convcli.engine.tiling import Problem, Tiling

NUMPY_MODES = NUMPY_PAD
oracle = conv2d_windows


@pytest.mark.parametrize("mode", sorted(NUMPY_MODES))
@pytest.mark.parametrize(
    "plan",
    [
        fftblocks.Plan((2, 3), (4, 5), (16, 16), 1, 0.0),
        fftblocks.Plan((5, 7), (9, 2), (24, 20), 2, 0.0),
        fftblocks.Plan((1, 1), (3, 3), (8, 8), 2, 0.0),
        fftblocks.Plan((9, 11), (40, 40), (64, 64), 1, 0.0),  # one block, one tile
    ],
    ids=["2x3", "5x7", "taps", "whole"],
)
def test_any_plan_equals_the_sliding_window_oracle(mode, plan):
    rng = np.random.default_rng(3)
    x = rng.random((2, 4, 19, 23))
    w = rng.standard_normal((6, 2, 9, 11))
    w[1, :, 2:5, :] = 0  # a block one channel skips
    padding, stride, dilation = ((3, 5), (6, 2)), (2, 1), (1, 2)
    geo = Tiling(
        Geometry.resolve((19, 23), (9, 11), padding=padding, stride=stride, dilation=dilation),
        mode,
    )
    problem = Problem.of(geo.geometry, 2, 4, 6, 2)
    # the transform must hold a tile plus its block's span (shapes above are large enough)
    out = np.full((2, 6, *geo.out), np.nan)
    fftblocks.run(x, w, geo, problem, out, 0.0, plan)
    expected = oracle(x, w, padding, stride, dilation, groups=2, mode=mode)
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-10)


@pytest.fixture
def plans(monkeypatch):
    """The plans the block path ran with."""
    seen = []
    real = fftblocks.run

    def spy(*args):
        seen.append(args[-1])
        return real(*args)

    monkeypatch.setattr(fftblocks, "run", spy)
    return seen


@pytest.mark.parametrize("mode", sorted(NUMPY_MODES))
def test_a_kernel_larger_than_the_budget_allows_runs_in_blocks(mode, plans):
    rng = np.random.default_rng(11)
    img = rng.random((120, 90))
    kernel = rng.random((101, 77))
    got = filter2d(img, kernel, pad_mode=mode, strategy="fft", threads=2, memory_budget=1 << 20)
    assert plans and plans[0].blocks < (101, 77), plans
    (t, b), (left, r) = (50, 50), (38, 38)
    expected = oracle(img[None, None], kernel[None, None], ((t, b), (left, r)), mode=mode)
    np.testing.assert_allclose(got, expected[0, 0], rtol=1e-10, atol=1e-9)


@pytest.mark.usefixtures("numpy_engine")
def test_scipy_correlate_agrees_on_a_large_gaussian_with_auto(plans):
    rng = np.random.default_rng(2)
    img = rng.random((300, 260)).astype(np.float32)
    r = 150
    g = np.exp(-0.5 * (np.arange(-r, r + 1) / 40.0) ** 2)
    kernel = np.outer(g, g) / np.outer(g, g).sum()
    got = filter2d(img, kernel, pad_mode="reflect", memory_budget=8 << 20)
    assert plans, "auto did not take the FFT block path for a 301x301 kernel"
    # the kernel is g g^T: two 1-D correlations are the oracle
    expected = ndi.correlate1d(img.astype(np.float64), g / g.sum(), axis=0, mode="mirror")
    expected = ndi.correlate1d(expected, g / g.sum(), axis=1, mode="mirror")
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("k", [65, 257, 1025, 1601, 4001])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("budget", [1 << 22, 1 << 26, 1 << 28])
def test_every_plan_fits_its_budget(k, threads, budget):
    problem = Problem.of(Geometry.resolve((2000, 1500), k, padding="same"), 1, 3, 3, 1)
    plan = fftblocks.plan(problem, budget, threads, 4, 1)
    assert plan is not None
    assert fftblocks.plan_memory(problem, plan, 4, 1) <= budget
    assert 1 <= plan.threads <= threads
    bh, bw = plan.blocks
    th, tw = plan.tile
    assert plan.shape[0] >= th + bh - 1 and plan.shape[1] >= tw + bw - 1


def test_the_block_path_stays_within_its_budget():
    rng = np.random.default_rng(4)
    img = rng.random((400, 400)).astype(np.float32)
    kernel = rng.random((301, 301)).astype(np.float32)
    budget = 8 << 20
    tracemalloc.start()
    try:
        out = filter2d(img, kernel, strategy="fft", memory_budget=budget, threads=2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # the budget, plus the output and the float copies of image and kernel outside it
    assert peak <= budget + 2 * out.nbytes + 2 * kernel.nbytes + img.nbytes, peak


def problem_of(size, k, dilation=1, c=1):
    return Problem.of(Geometry.resolve(size, k, padding="same", dilation=dilation), 1, c, c, 1)


@pytest.mark.parametrize(
    ("k", "dilation", "expected"),
    [
        (1025, 1, "fft"),  # box:1025: one block of the whole kernel
        (1601, 1, "fft"),  # gaussian:sigma=200
        (4001, 1, "fft"),  # a kernel that fits in blocks only
        (3, 10000, "direct"),  # sobel --dilation 10000: tap by tap
        (3, 1, "direct"),
    ],
)
@pytest.mark.usefixtures("numpy_engine")
def test_the_cost_model_sends_large_kernels_down_their_paths(k, dilation, expected):
    weight = np.ones((1, 1, k, k), dtype=np.float32)
    weight[0, 0, 0, 0] = 2.0  # not rank 1 unless the case says so
    problem = problem_of((2000, 2000), k, dilation)
    got = choose_strategy(problem, weight, np.dtype(np.float32), 1 << 28, 2, in_itemsize=1)
    assert got == expected


@pytest.mark.usefixtures("numpy_engine")
def test_a_box_of_1025_goes_to_separable_running_sums_a_gaussian_to_fft():
    """box:1025 is two running sums (cost independent of its length); a 1601-tap
    Gaussian is rank 1 too, but its passes are axpys, so fft; a dilated box has no
    running sum, so fft."""
    box = np.ones((1, 1, 1025, 1025), dtype=np.float32) / 1025**2
    problem = problem_of((2000, 2000), 1025)
    assert choose_strategy(problem, box, np.dtype(np.float32), 1 << 28, 2, 1) == "separable"
    g = np.exp(-0.5 * (np.arange(-800, 801) / 200.0) ** 2)
    gauss = np.outer(g, g)[None, None] / g.sum() ** 2
    problem = problem_of((2000, 2000), 1601)
    assert choose_strategy(problem, gauss, np.dtype(np.float32), 1 << 28, 2, 1) == "fft"
    box = np.ones((1, 1, 513, 513), dtype=np.float32) / 513**2
    problem = problem_of((2000, 2000), 513, dilation=2)
    assert choose_strategy(problem, box, np.dtype(np.float32), 1 << 28, 2, 1) == "fft"


def test_conv2d_with_channels_and_a_large_kernel_matches_the_oracle(plans):
    rng = np.random.default_rng(6)
    x = rng.random((1, 3, 70, 80))
    w = rng.standard_normal((2, 3, 70, 69))
    got = conv2d(x, w, padding=10, stride=3, memory_budget=1 << 21, strategy="fft")
    assert plans
    expected = oracle(x, w, ((10, 10), (10, 10)), stride=(3, 3))
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)
