"""A huge dilation: tiles whose span overruns the budget run tap by tap (engine/sparse.py)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import scipy.ndimage as ndi

from convcli import conv2d, filter2d
from convcli.engine import sparse

SOBEL = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
# convcli pad mode -> scipy.ndimage mode (the table in convcli.engine.padding)
SCIPY_MODES = {
    "zeros": "constant",
    "reflect": "mirror",
    "symmetric": "reflect",
    "replicate": "nearest",
    "circular": "wrap",
}


def spread(kernel: np.ndarray, d: int) -> np.ndarray:
    """The dilated kernel, built by hand: taps ``d`` apart, zeros between."""
    kh, kw = kernel.shape
    out = np.zeros(((kh - 1) * d + 1, (kw - 1) * d + 1))
    for i in range(kh):
        for j in range(kw):
            out[i * d, j * d] = kernel[i, j]
    return out


def by_hand(img: np.ndarray, kernel: np.ndarray, d: int) -> np.ndarray:
    """A 3x3 kernel dilated ``d`` times, "same" with reflect padding, as shifted views.

    scipy.ndimage would visit every cell of the spread kernel (2001x2001 for d=1000).
    """
    h, w = img.shape
    padded = np.pad(img, d, mode="reflect")
    return sum(
        kernel[i, j] * padded[i * d : i * d + h, j * d : j * d + w]
        for i in range(3)
        for j in range(3)
    )


@pytest.fixture
def taps_calls(monkeypatch, numpy_engine):
    """Counts the calls that took the tap-by-tap path (a numpy path: the native core,
    where it is built, would take some of these problems in bands instead)."""
    calls = []
    real = sparse.run_taps

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(sparse, "run_taps", spy)
    return calls


@pytest.mark.parametrize("mode", sorted(SCIPY_MODES))
@pytest.mark.parametrize("strategy", ["auto", "direct", "fft", "im2col"])
def test_tap_path_equals_scipy_correlate_with_the_dilated_kernel(mode, strategy, taps_calls):
    rng = np.random.default_rng(5)
    img = rng.random((41, 37))
    kernel = rng.standard_normal((3, 4))
    d = 40  # span 81 x 121: the budget cannot hold one block (160 kB), but holds a tap
    dilated = spread(kernel, d)
    # "same" puts the odd cell of padding after: scipy's centre moves back one on even sides
    origin = tuple(-1 if side % 2 == 0 else 0 for side in dilated.shape)
    expected = ndi.correlate(img, dilated, mode=SCIPY_MODES[mode], origin=origin)
    got = filter2d(
        img,
        kernel,
        dilation=d,
        pad_mode=mode,
        strategy=strategy,
        threads=2,
        memory_budget=60_000,
    )
    assert taps_calls, "the tap-by-tap path was not taken"
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_tap_path_with_stride_channels_and_groups_matches_scipy(taps_calls):
    rng = np.random.default_rng(8)
    x = rng.random((2, 4, 30, 33)).astype(np.float32)
    w = rng.standard_normal((6, 2, 3, 3))
    w[1, :, 1, 1] = 0  # a tap one output channel skips
    d, s = 7, (2, 3)
    # a small layer runs as one tile (one thread): 40 kB leaves no im2col tile room
    out = conv2d(x, w, padding=5, stride=s, dilation=d, groups=2, memory_budget=40_000)
    assert taps_calls
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (5, 5), (5, 5)))
    for n in range(2):
        for o in range(6):
            g = o // 3
            full = sum(
                ndi.correlate(xp[n, g * 2 + c], spread(w[o, c], d), mode="constant", origin=-d)
                for c in range(2)
            )
            # scipy's output is anchored at the window's top-left corner (origin -d)
            expected = full[: out.shape[2] * s[0] : s[0], : out.shape[3] * s[1] : s[1]]
            np.testing.assert_allclose(out[n, o], expected, rtol=1e-5, atol=1e-5)


def test_default_budget_still_uses_the_strategies(taps_calls):
    filter2d(np.ones((64, 64)), SOBEL, dilation=3)
    assert not taps_calls


@pytest.mark.parametrize("strategy", ["auto", "direct", "separable", "fft", "im2col"])
def test_sobel_dilated_10000_stays_within_the_budget(strategy):
    """Before: each one-pixel tile gathered a 20001 x 20001 block (GBs)."""
    rng = np.random.default_rng(2)
    img = (rng.random((600, 700)) * 255).astype(np.uint8)
    budget = 16 * 2**20
    tracemalloc.start()
    try:
        out = filter2d(
            img, SOBEL, dilation=10000, pad_mode="reflect", strategy=strategy, memory_budget=budget
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert out.shape == img.shape
    assert peak <= budget + out.nbytes, (peak, budget, out.nbytes)
    # a few outputs against the definition: the taps read through numpy's reflect pad
    rows = np.pad(np.arange(600), 10000, mode="reflect")
    cols = np.pad(np.arange(700), 10000, mode="reflect")
    for r, c in [(0, 0), (17, 650), (599, 699), (300, 1)]:
        want = sum(
            SOBEL[i, j] * float(img[rows[r + i * 10000], cols[c + j * 10000]])
            for i in range(3)
            for j in range(3)
        )
        assert out[r, c] == pytest.approx(want, abs=1e-3)


def test_tap_memory_does_not_grow_with_the_span():
    from convcli.arithmetic.geometry import Geometry
    from convcli.engine.tiling import Problem

    sizes = {
        sparse.tap_memory(
            Problem.of(Geometry.resolve((500, 500), 3, padding="same", dilation=d), 1, 1, 1, 1),
            64,
            500,
            4,
            1,
        )
        for d in (1, 100, 10000)
    }
    assert len(sizes) == 1


@pytest.mark.usefixtures("numpy_engine")
def test_a_halo_that_dwarfs_the_tile_goes_tap_by_tap_though_it_fits(taps_calls):
    """200x200 pixels, a Sobel dilated 1000 times: blocks of 2000+ rows fit the
    budget but cost ~200 cells per output, so auto runs the 6 taps instead."""
    rng = np.random.default_rng(12)
    img = rng.random((200, 200))
    d = 1000
    got = filter2d(img, SOBEL, dilation=d, pad_mode="reflect")
    assert taps_calls, "auto did not take the tap-by-tap path"
    np.testing.assert_allclose(got, by_hand(img, SOBEL, d), rtol=1e-12, atol=1e-12)


def test_fft_on_a_sparse_kernel_over_a_large_span_runs_the_taps(taps_calls):
    """3x3 taps dilated 200 times: fft transforms none of the span, it gathers the taps."""
    rng = np.random.default_rng(13)
    img = rng.random((150, 160))
    kernel = rng.standard_normal((3, 3))
    d = 200
    got = filter2d(img, kernel, dilation=d, pad_mode="reflect", strategy="fft")
    assert taps_calls, "fft did not take the tap-by-tap path"
    np.testing.assert_allclose(got, by_hand(img, kernel, d), rtol=1e-12, atol=1e-12)
