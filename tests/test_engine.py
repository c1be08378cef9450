"""The engine (pad, im2col, conv2d, filter2d) against independent oracles."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import SCIPY_MODE, conv2d_loop, np_pad
from scipy import ndimage as ndi

import convcli
from convcli import ParameterError, ShapeError, conv2d, filter2d, im2col, pad
from convcli.engine.costs import choose_strategy
from convcli.engine.strategies import rank_one_factors
from convcli.engine.threads import default_threads
from convcli.engine.tiling import Problem

MODES = ["zeros", "reflect", "symmetric", "replicate", "circular"]

#: Every strategy runs the whole oracle suite; "separable" only applies to
#: rank-1 kernels and has its own tests below.
STRATEGIES = ["auto", "direct", "fft", "im2col"]
ALL_STRATEGIES = [*STRATEGIES, "separable"]
by_strategy = pytest.mark.parametrize("strategy", STRATEGIES)


def error_bound(
    scale: np.ndarray, strategy: str, rtol: float = 1e-5, whole: float = 0.0
) -> np.ndarray:
    """Allowed float32 error of each output, given ``scale`` = sum of |tap * input| there.

    Direct sums err in proportion to their own magnitudes. The FFT spreads its
    rounding over the whole tile, so its error is bounded by the largest
    magnitude instead (the accuracy scipy.signal.fftconvolve offers too), or
    by ``whole`` = max|input| * sum|taps| when larger: the transform multiplies
    every tap, also those that fall on padding (a 1-wide image under a 1x5
    kernel: each output sees one tap, the rounding all five).
    """
    if strategy == "fft":
        return np.full_like(scale, rtol * max(scale.max(), whole) + 1e-30)
    return rtol * scale + 1e-30


# --------------------------------------------------------------- textbook cases
@by_strategy
def test_textbook_single_channel(strategy):
    """X = [[0,1,2],[3,4,5],[6,7,8]] cross-correlated with K = [[0,1],[2,3]] is [[19,25],[37,43]]."""
    x = np.array([[0, 1, 2], [3, 4, 5], [6, 7, 8]], dtype=np.float32)
    k = np.array([[0, 1], [2, 3]], dtype=np.float32)
    np.testing.assert_array_equal(
        conv2d(x[None], k[None, None], strategy=strategy)[0], [[19, 25], [37, 43]]
    )
    np.testing.assert_array_equal(
        filter2d(x, k, padding="valid", strategy=strategy), [[19, 25], [37, 43]]
    )


@by_strategy
def test_textbook_two_input_channels(strategy):
    """The two-channel example sums over channels: [[56, 72], [104, 120]]."""
    x = np.array([[[0, 1, 2], [3, 4, 5], [6, 7, 8]], [[1, 2, 3], [4, 5, 6], [7, 8, 9]]])
    k = np.array([[[0, 1], [2, 3]], [[1, 2], [3, 4]]])
    np.testing.assert_array_equal(conv2d(x, k[None], strategy=strategy)[0], [[56, 72], [104, 120]])


@by_strategy
def test_one_by_one_convolution_is_a_per_pixel_matrix_product(strategy):
    """A 1x1 convolution multiplies each pixel's channel vector by the weight matrix."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 5, 4))
    w = rng.standard_normal((6, 3, 1, 1))
    expected = np.einsum("oc,nchw->nohw", w[:, :, 0, 0], x)
    np.testing.assert_allclose(conv2d(x, w, strategy=strategy), expected, rtol=1e-12)


@by_strategy
def test_impulse_orientation(strategy):
    """Correlating an impulse gives the kernel rotated by 180 degrees; convolving gives it upright."""
    img = np.zeros((5, 5))
    img[2, 2] = 1
    k = np.arange(1.0, 10.0).reshape(3, 3)
    np.testing.assert_allclose(
        filter2d(img, k, pad_mode="zeros", strategy=strategy)[1:4, 1:4], k[::-1, ::-1], atol=1e-12
    )
    np.testing.assert_allclose(
        filter2d(img, k, pad_mode="zeros", convolve=True, strategy=strategy)[1:4, 1:4],
        k,
        atol=1e-12,
    )


# ------------------------------------------------------------------ padding
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("width", [1, 2, 3, 7, 12])
def test_pad_matches_numpy_pad(mode, width):
    """pad() equals numpy.pad under the translation table, also wider than the input."""
    x = np.arange(12.0).reshape(3, 4)
    got = pad(x, ((width, width - 1), (width - 1, width)), mode)
    np.testing.assert_array_equal(got, np_pad(x, width, width - 1, width - 1, width, mode))


@settings(max_examples=200, deadline=None)
@given(
    h=st.integers(1, 6),
    w=st.integers(1, 6),
    pads=st.tuples(*[st.integers(0, 13)] * 4),
    mode=st.sampled_from(MODES),
)
def test_pad_property_matches_numpy_pad(h, w, pads, mode):
    """For any size and any (even many times wider) padding, pad() equals numpy.pad."""
    x = np.arange(h * w, dtype=np.float32).reshape(h, w) + 1
    got = pad(x, ((pads[0], pads[1]), (pads[2], pads[3])), mode)
    np.testing.assert_array_equal(got, np_pad(x, *pads, mode))


def test_pad_patterns_from_conventions():
    """On `a b c d` padded by 3, each mode gives the pattern CONVENTIONS.md shows."""
    x = np.array([[1, 2, 3, 4]])
    patterns = {
        "zeros": [0, 0, 0, 1, 2, 3, 4, 0, 0, 0],
        "replicate": [1, 1, 1, 1, 2, 3, 4, 4, 4, 4],
        "symmetric": [3, 2, 1, 1, 2, 3, 4, 4, 3, 2],
        "reflect": [4, 3, 2, 1, 2, 3, 4, 3, 2, 1],
        "circular": [2, 3, 4, 1, 2, 3, 4, 1, 2, 3],
    }
    for mode, expected in patterns.items():
        np.testing.assert_array_equal(pad(x, ((0, 0), (3, 3)), mode)[0], expected, err_msg=mode)


def test_pad_value_and_aliases():
    """zeros pads with pad_value; edge and wrap are aliases of replicate and circular."""
    x = np.array([[1.0, 2.0]])
    np.testing.assert_array_equal(pad(x, ((0, 0), (1, 1)), "zeros", pad_value=9)[0], [9, 1, 2, 9])
    np.testing.assert_array_equal(pad(x, 1, "edge"), pad(x, 1, "replicate"))
    np.testing.assert_array_equal(pad(x, 1, "wrap"), pad(x, 1, "circular"))


# ------------------------------------------------------------------ im2col
def test_im2col_matches_explicit_loop():
    """Row c*kh*kw + i*kw + j, column r*out_w + q holds x[c, r*s + i*d, q*s + j*d] (padded)."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 7, 6))
    kh, kw, s, d, p = 3, 2, 2, 1, 1
    cols = im2col(x, (kh, kw), stride=s, padding=p, dilation=d)
    xp = np_pad(x, p, p, p, p, "zeros")
    oh = (7 + 2 * p - d * (kh - 1) - 1) // s + 1
    ow = (6 + 2 * p - d * (kw - 1) - 1) // s + 1
    assert cols.shape == (2, 3 * kh * kw, oh * ow)
    for n in range(2):
        for c in range(3):
            for i in range(kh):
                for j in range(kw):
                    for r in range(oh):
                        for q in range(ow):
                            assert (
                                cols[n, c * kh * kw + i * kw + j, r * ow + q]
                                == xp[n, c, r * s + i * d, q * s + j * d]
                            )


# ------------------------------------------------------------------ conv2d vs loops
CONV_CASES = [
    # (N, C_in, H, W, C_out, kh, kw, stride, padding(t,b,l,r), dilation, groups, bias, mode)
    (1, 1, 5, 5, 1, 3, 3, (1, 1), (0, 0, 0, 0), (1, 1), 1, False, "zeros"),
    (2, 3, 7, 6, 4, 3, 2, (2, 1), (1, 1, 0, 0), (1, 1), 1, True, "zeros"),
    (1, 4, 8, 9, 6, 3, 3, (1, 2), (2, 2, 1, 1), (2, 1), 2, True, "reflect"),
    (2, 6, 6, 6, 6, 2, 3, (3, 2), (1, 2, 0, 3), (1, 2), 3, False, "symmetric"),
    (1, 2, 9, 5, 2, 4, 1, (1, 1), (3, 3, 2, 2), (1, 1), 2, True, "replicate"),
    (1, 3, 6, 7, 3, 3, 3, (2, 2), (4, 4, 4, 4), (1, 1), 1, False, "circular"),
]


@by_strategy
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_matches_loop_reference(case, strategy):
    """conv2d equals a plain loop over output pixels on a numpy.pad-ed input."""
    n, cin, h, w, cout, kh, kw, s, p, d, g, use_bias, mode = case
    rng = np.random.default_rng(hash(case) % 2**32)
    x = rng.standard_normal((n, cin, h, w))
    wt = rng.standard_normal((cout, cin // g, kh, kw))
    b = rng.standard_normal(cout) if use_bias else None
    got = conv2d(
        x, wt, b, stride=s, padding=p, dilation=d, groups=g, pad_mode=mode, strategy=strategy
    )
    expected = conv2d_loop(x, wt, b, s, p, d, g, mode)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@st.composite
def conv_problems(draw):
    """Random small conv2d problems that fit (kernel within the padded input)."""
    groups = draw(st.integers(1, 3))
    cin = groups * draw(st.integers(1, 2))
    cout = groups * draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    pad = tuple(draw(st.integers(0, 3)) for _ in range(4))
    h = draw(st.integers(max(1, dh * (kh - 1) + 1 - pad[0] - pad[1]), 10))
    w = draw(st.integers(max(1, dw * (kw - 1) + 1 - pad[2] - pad[3]), 10))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    mode = draw(st.sampled_from(MODES))
    # at least the weights (up to 6x2x4x4 float32: 768 bytes; a smaller budget is a
    # LimitError): 1000 leaves the tiles 1 byte (one-pixel tiles), 40_000 a few kB
    budget = draw(st.sampled_from([1000, 40_000, 2**20]))
    return cin, cout, kh, kw, (dh, dw), pad, h, w, stride, groups, mode, budget


@by_strategy
@settings(max_examples=150, deadline=None)
@given(problem=conv_problems(), seed=st.integers(0, 2**32 - 1))
def test_conv2d_property_float32(problem, seed, strategy):
    """In float32, conv2d agrees with the float64 loop reference to 1e-5 relative, any budget."""
    cin, cout, kh, kw, d, p, h, w, s, g, mode, budget = problem
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, cin, h, w)).astype(np.float32)
    wt = rng.standard_normal((cout, cin // g, kh, kw)).astype(np.float32)
    b = rng.standard_normal(cout).astype(np.float32)
    got = conv2d(x, wt, b, s, p, d, g, mode, memory_budget=budget, strategy=strategy)
    expected = conv2d_loop(x, wt, b, s, p, d, g, mode)
    assert got.dtype == np.float32
    assert got.shape == expected.shape
    # each output is a sum of |taps| products: scale the tolerance by the summed magnitudes
    scale = conv2d_loop(np.abs(x), np.abs(wt), np.abs(b), s, p, d, g, mode)
    assert np.all(np.abs(got - expected) <= error_bound(scale, strategy))


@settings(max_examples=60, deadline=None)
@given(problem=conv_problems())
def test_output_shape_follows_the_formula(problem):
    """Every conv2d result has the size output_size predicts, per axis."""
    cin, cout, kh, kw, d, p, h, w, s, g, _mode, _ = problem
    out = conv2d(np.ones((1, cin, h, w)), np.ones((cout, cin // g, kh, kw)), None, s, p, d, g)
    assert out.shape[-2:] == (
        convcli.output_size(h, kh, s[0], (p[0], p[1]), d[0]),
        convcli.output_size(w, kw, s[1], (p[2], p[3]), d[1]),
    )


@by_strategy
def test_conv2d_3d_input_and_padding_forms(strategy):
    """(C, H, W) input drops the batch axis; int, pair, 4-tuple and words agree with explicit pads."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 6, 7))
    wt = rng.standard_normal((3, 2, 3, 4))
    ref = conv2d_loop(x[None], wt, pad=(1, 1, 2, 2))[0]
    np.testing.assert_allclose(conv2d(x, wt, padding=(1, 2), strategy=strategy), ref, rtol=1e-12)
    np.testing.assert_allclose(
        conv2d(x, wt, padding=(1, 1, 2, 2), strategy=strategy), ref, rtol=1e-12
    )
    # same, stride 1, kw = 4: (1, 2) split, extra cell after
    ref_same = conv2d_loop(x[None], wt, pad=(1, 1, 1, 2))[0]
    np.testing.assert_allclose(
        conv2d(x, wt, padding="same", strategy=strategy), ref_same, rtol=1e-12
    )
    ref_full = conv2d_loop(x[None], wt, pad=(2, 2, 3, 3))[0]
    np.testing.assert_allclose(
        conv2d(x, wt, padding="full", strategy=strategy), ref_full, rtol=1e-12
    )
    np.testing.assert_allclose(
        conv2d(x, wt, padding="valid", strategy=strategy), conv2d_loop(x[None], wt)[0]
    )


@by_strategy
def test_same_with_stride_uses_ceil_and_extra_cell_after(strategy):
    """'same' with stride 2 on n=7, k=3 gives ceil(7/2)=4 outputs; total pad 2 split (1, 1).

    With n=8, k=3, s=2: out 4, total pad max(3*2+3-8, 0) = 1, split (0, 1).
    """
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 1, 8, 7))
    wt = rng.standard_normal((1, 1, 3, 3))
    got = conv2d(x, wt, stride=2, padding="same", strategy=strategy)
    assert got.shape == (1, 1, 4, 4)
    np.testing.assert_allclose(got, conv2d_loop(x, wt, stride=(2, 2), pad=(0, 1, 1, 1)))


# ------------------------------------------------------------------ filter2d vs scipy
@by_strategy
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", [(3, 3), (5, 3), (4, 4), (1, 2), (7, 7)])
def test_filter2d_matches_scipy_correlate(mode, shape, strategy):
    """filter2d 'same' equals scipy.ndimage.correlate in every pad mode (mapped via SCIPY_MODE).

    scipy centres an even kernel at k//2 (extra cell *before*); convcli puts the
    extra cell after, which is scipy's origin -1 on that axis.
    """
    rng = np.random.default_rng(4)
    img = rng.random((23, 17, 3))
    k = rng.standard_normal(shape)
    origin = [-1 if n % 2 == 0 else 0 for n in shape] + [0]
    expected = ndi.correlate(img, k[:, :, None], mode=SCIPY_MODE[mode], origin=origin)
    got = filter2d(img, k, pad_mode=mode, strategy=strategy)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


@by_strategy
@pytest.mark.parametrize("mode", MODES)
def test_filter2d_convolve_matches_scipy_convolve(mode, strategy):
    """convolve=True (kernel flipped) equals scipy.ndimage.convolve for odd kernels."""
    rng = np.random.default_rng(5)
    img = rng.random((20, 25))
    k = rng.standard_normal((5, 3))
    np.testing.assert_allclose(
        filter2d(img, k, pad_mode=mode, convolve=True, strategy=strategy),
        ndi.convolve(img, k, mode=SCIPY_MODE[mode]),
        rtol=1e-10,
        atol=1e-12,
    )


@by_strategy
def test_filter2d_stride_and_dilation(strategy):
    """A strided, dilated filter2d equals scipy's dense result with a dilated kernel, subsampled."""
    rng = np.random.default_rng(6)
    img = rng.random((30, 31))
    k = rng.standard_normal((3, 3))
    dilated = np.zeros((5, 5))
    dilated[::2, ::2] = k
    dense = ndi.correlate(img, dilated, mode="mirror")
    got = filter2d(img, k, stride=(1, 1), dilation=2, pad_mode="reflect", strategy=strategy)
    np.testing.assert_allclose(got, dense, rtol=1e-10, atol=1e-12)
    # explicit padding 2 with stride 3: windows start at 0, 3, 6, ... of the padded image
    got = filter2d(img, k, stride=3, padding=2, dilation=2, pad_mode="reflect", strategy=strategy)
    np.testing.assert_allclose(got, dense[::3, ::3], rtol=1e-10, atol=1e-12)


@by_strategy
@settings(max_examples=80, deadline=None)
@given(
    h=st.integers(1, 20),
    w=st.integers(1, 20),
    kh=st.sampled_from([1, 3, 5]),
    kw=st.sampled_from([1, 3, 5]),
    mode=st.sampled_from(MODES),
    seed=st.integers(0, 2**32 - 1),
)
def test_filter2d_property_against_scipy_float32(h, w, kh, kw, mode, seed, strategy):
    """float32 filter2d agrees with scipy (float64) to 1e-5 relative for any image size."""
    rng = np.random.default_rng(seed)
    img = rng.random((h, w)).astype(np.float32)
    k = rng.standard_normal((kh, kw))
    got = filter2d(img, k, pad_mode=mode, strategy=strategy)
    assert got.dtype == np.float32
    ref = ndi.correlate(img.astype(np.float64), k, mode=SCIPY_MODE[mode])
    scale = ndi.correlate(img.astype(np.float64), np.abs(k), mode=SCIPY_MODE[mode])
    whole = float(img.max()) * float(np.abs(k).sum())
    assert np.all(np.abs(got - ref) <= error_bound(scale, strategy, whole=whole) + 1e-12)


# ------------------------------------------------------------------ dtypes
@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        (np.uint8, np.float32),
        (np.uint16, np.float32),
        (np.int16, np.float32),
        (np.float32, np.float32),
        (np.float64, np.float64),
        (np.int32, np.float64),
        (np.bool_, np.float32),
    ],
)
def test_dtype_policy(dtype, expected):
    """Results are float32, or float64 for float64 (and wide integer) input: never the input int."""
    img = (np.arange(20) % 2).reshape(4, 5).astype(dtype)
    assert filter2d(img, np.ones((3, 3))).dtype == expected
    assert convcli.compute_dtype(dtype) == expected


@by_strategy
def test_integer_results_do_not_wrap(strategy):
    """A uint8 image of 255s filtered by a 3x3 box of ones gives 9*255, and -255 for a difference."""
    img = np.full((5, 5), 255, dtype=np.uint8)
    np.testing.assert_array_equal(
        filter2d(img, np.ones((3, 3)), strategy=strategy), np.full((5, 5), 2295.0)
    )
    img16 = np.zeros((3, 4), dtype=np.uint16)
    img16[:, 2:] = 65535
    out = filter2d(img16, np.array([[1.0, -1.0]]), padding="valid", strategy=strategy)
    np.testing.assert_array_equal(out[0], [0, -65535, 0])


def test_float64_on_request():
    """dtype='float64' computes a uint8 image in double precision."""
    img = np.arange(16, dtype=np.uint8).reshape(4, 4)
    assert filter2d(img, np.ones((3, 3)), dtype="float64").dtype == np.float64


# ------------------------------------------------------------------ memory
@by_strategy
def test_peak_memory_stays_under_budget(strategy):
    """With a 1 MiB budget, an 11x11 filter of a 400x400 float32 image (untiled im2col:
    400*400*121*4 B = 74 MiB, 74x the budget) allocates at most the output plus the budget."""
    budget = 2**20
    rng = np.random.default_rng(7)
    img = rng.random((400, 400)).astype(np.float32)
    k = rng.standard_normal((11, 11)).astype(np.float32)
    untiled = 400 * 400 * 121 * 4
    assert untiled >= 50 * budget
    # warm up: the first call imports modules (scipy.fft, threadpoolctl), which is not working memory
    filter2d(img[:40, :40], k, pad_mode="reflect", memory_budget=budget, strategy=strategy)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        out = filter2d(img, k, pad_mode="reflect", memory_budget=budget, strategy=strategy)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= out.nbytes + budget, (peak, out.nbytes, budget)
    # and the result is still right
    np.testing.assert_allclose(
        out, ndi.correlate(img.astype(np.float64), k, mode="mirror"), rtol=1e-4, atol=1e-3
    )


@by_strategy
def test_conv2d_peak_memory_with_channels(strategy):
    """A 16->8 channel 5x5 layer stays within output + budget (untiled: 65x the budget)."""
    budget = 100_000
    rng = np.random.default_rng(8)
    x = rng.standard_normal((1, 16, 64, 64)).astype(np.float32)
    w = rng.standard_normal((8, 16, 5, 5)).astype(np.float32)
    assert 64 * 64 * 16 * 25 * 4 >= 50 * budget
    conv2d(x, w, padding=2, memory_budget=budget, strategy=strategy)  # warm up: imports
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        out = conv2d(x, w, padding=2, memory_budget=budget, strategy=strategy)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= out.nbytes + budget, (peak, out.nbytes, budget)


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: conv2d(np.ones((4, 4)), np.ones((1, 1, 3, 3))), r"`x` must have shape .*\(4, 4\)"),
        (
            lambda: conv2d(np.ones((1, 3, 5, 5)), np.ones((2, 2, 3, 3))),
            r"expects 2 input channels .* \(1, 3, 5, 5\) has 3",
        ),
        (
            lambda: conv2d(np.ones((1, 4, 5, 5)), np.ones((3, 2, 3, 3)), groups=2),
            r"`groups`=2 must divide both the input channels \(4\) and the output channels \(3\)",
        ),
        (lambda: conv2d(np.ones((1, 1, 5, 5)), np.ones((1, 1, 3))), r"`weight` must have shape"),
        (
            lambda: filter2d(np.ones((5, 5)), np.ones((7, 7)), padding="valid"),
            r"⌊\(5 − 7 \+ 0 \+ 1\)/1⌋ = −1: the 7-wide kernel is larger than the padded input \(5\)",
        ),
        (
            lambda: filter2d(np.ones((5, 5)), np.ones((3, 3)), stride=0),
            r"`stride` must be at least 1, got 0",
        ),
        (
            lambda: filter2d(np.ones((5, 5)), np.ones((3, 3)), dilation=0),
            r"`dilation` must be at least 1",
        ),
        (
            lambda: filter2d(np.ones((5, 5)), np.array([[1.0, np.nan]])),
            r"`kernel` holds a non-finite value \(nan\) at index \(0, 1\)",
        ),
        (lambda: filter2d(np.ones((5, 5)), np.array([[np.inf]])), r"non-finite value \(inf\)"),
        (
            lambda: filter2d(np.ones((5, 5)), np.ones((3, 3)), pad_mode="mirror"),
            r"unknown `pad_mode` 'mirror'.*known modes: zeros, reflect, symmetric, replicate, circular",
        ),
        (
            lambda: filter2d(np.ones((5, 5, 3, 1)), np.ones((3, 3))),
            r"`image` must have shape \(H, W\)",
        ),
        (
            lambda: filter2d(np.ones((5, 5)), np.ones((3, 3, 3))),
            r"`kernel` must be 2-D \(kh, kw\), got shape \(3, 3, 3\)",
        ),
        (
            lambda: conv2d(np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3)), bias=np.ones(2)),
            r"`bias` must have shape \(1,\)",
        ),
        (
            lambda: filter2d(np.ones((5, 5)), np.ones((3, 3)), padding="half"),
            r"unknown `padding` 'half'",
        ),
        (
            lambda: filter2d(np.ones((5, 5)), np.ones((3, 3)), padding=-1),
            r"`padding` must be 0 or more",
        ),
    ],
)
def test_bad_input_messages(call, message):
    """Each kind of bad input raises a ShapeError (a ValueError) whose message names the problem."""
    with pytest.raises(ValueError, match=message) as info:
        call()
    assert isinstance(info.value, ShapeError)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: filter2d(np.ones((5, 5)), np.ones((3, 3)), memory_budget=0),
            r"`memory_budget` must be positive",
        ),
        (
            lambda: filter2d(np.ones((5, 5)), np.ones((3, 3)), memory_budget=1.5),
            r"`memory_budget` must be an integer number of bytes, got 1.5",
        ),
    ],
)
def test_bad_parameter_messages(call, message):
    """A bad parameter that is not a shape raises a ParameterError (a ValueError) naming it."""
    with pytest.raises(ValueError, match=message) as info:
        call()
    assert isinstance(info.value, ParameterError)


def test_non_numeric_input_is_a_type_error():
    """Strings and complex numbers are refused with a TypeError naming the argument."""
    with pytest.raises(TypeError, match="`image` must be a numeric array"):
        filter2d(np.array([["a"]]), np.ones((1, 1)))
    with pytest.raises(TypeError, match="complex"):
        filter2d(np.ones((3, 3), dtype=complex), np.ones((1, 1)))


# ------------------------------------------------------------------ torch (optional oracle)
@by_strategy
def test_conv2d_matches_torch(strategy):
    """conv2d equals torch.nn.functional.conv2d on random layers (skipped without torch)."""
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    rng = np.random.default_rng(9)
    torch_mode = {
        "zeros": "constant",
        "reflect": "reflect",
        "replicate": "replicate",
        "circular": "circular",
    }
    for trial in range(40):
        g = int(rng.integers(1, 3))
        cin, cout = g * int(rng.integers(1, 3)), g * int(rng.integers(1, 4))
        kh, kw = (int(v) for v in rng.integers(1, 4, 2))
        s = tuple(int(v) for v in rng.integers(1, 3, 2))
        d = tuple(int(v) for v in rng.integers(1, 3, 2))
        p = tuple(int(v) for v in rng.integers(0, 2, 2))
        mode = list(torch_mode)[trial % 4]
        x = rng.standard_normal((2, cin, 9, 8)).astype(np.float32)
        w = rng.standard_normal((cout, cin // g, kh, kw)).astype(np.float32)
        b = rng.standard_normal(cout).astype(np.float32)
        xt = functional.pad(torch.from_numpy(x), (p[1], p[1], p[0], p[0]), mode=torch_mode[mode])
        expected = functional.conv2d(xt, torch.from_numpy(w), torch.from_numpy(b), s, 0, d, g)
        got = conv2d(x, w, b, s, p, d, g, mode, strategy=strategy)
        np.testing.assert_allclose(got, expected.numpy(), rtol=1e-5, atol=1e-5)


def test_im2col_matches_torch_unfold():
    """im2col has the layout of torch.nn.functional.unfold (skipped without torch)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 3, 9, 7))
    expected = torch.nn.functional.unfold(
        torch.from_numpy(x), (3, 2), dilation=(1, 2), padding=(1, 0), stride=(2, 1)
    )
    got = im2col(x, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2))
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-12)


# ------------------------------------------------------------------ separable kernels
@pytest.mark.parametrize("strategy", ALL_STRATEGIES)
@settings(max_examples=40, deadline=None)
@given(
    kh=st.integers(1, 9),
    kw=st.integers(5, 9),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    pads=st.one_of(st.just("same"), st.just("full"), st.tuples(*[st.integers(0, 4)] * 4)),
    mode=st.sampled_from(MODES),
    convolve=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_rank_one_kernels_match_the_loop_reference(
    kh, kw, stride, dilation, pads, mode, convolve, seed, strategy
):
    """A rank-1 kernel gives the dense 2-D result in every strategy (separable: two 1-D passes)."""
    rng = np.random.default_rng(seed)
    img = rng.random((23, 19, 2))
    kernel = np.outer(rng.standard_normal(kh), rng.standard_normal(kw))
    got = filter2d(img, kernel, stride, pads, dilation, mode, convolve, strategy=strategy)
    applied = kernel[::-1, ::-1] if convolve else kernel
    (t, b), (left, r) = convcli.resolve_padding(pads, (23, 19), (kh, kw), stride, dilation)
    x = np.moveaxis(img, -1, 0)[:, None]
    expected = conv2d_loop(x, applied[None, None], None, stride, (t, b, left, r), dilation, 1, mode)
    np.testing.assert_allclose(got, np.moveaxis(expected[:, 0], 0, -1), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("strategy", ALL_STRATEGIES)
def test_gaussian_blur_matches_scipy_gaussian_filter(strategy):
    """A sigma=4 Gaussian (33x33, separable) on a uint8 photo equals scipy's gaussian_filter."""
    rng = np.random.default_rng(11)
    img = rng.integers(0, 256, (60, 70), dtype=np.uint8)
    x = np.arange(-16, 17)
    g = np.exp(-(x**2) / (2 * 4.0**2))
    g /= g.sum()
    got = filter2d(img, np.outer(g, g), strategy=strategy)
    expected = ndi.gaussian_filter(img.astype(np.float64), 4.0, mode="mirror", truncate=4.0)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("strategy", ALL_STRATEGIES)
def test_rank_one_with_constant_padding_value(strategy):
    """zeros mode with a non-zero pad_value is exact in every strategy."""
    img = np.random.default_rng(12).random((12, 13))
    kernel = np.ones((5, 5))
    got = filter2d(img, kernel, pad_mode="zeros", pad_value=3.0, strategy=strategy)
    padded = np.pad(img, 2, constant_values=3.0)
    expected = ndi.correlate(padded, kernel, mode="constant")[2:-2, 2:-2]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_float32_gaussian_counts_as_rank_one():
    """A Gaussian rounded to float32 is split when computing in float32, not in float64;
    random kernels never are."""
    g = np.exp(-(np.arange(-7, 8) ** 2) / 8.0)
    k32 = np.outer(g, g).astype(np.float32)
    col, row = rank_one_factors(k32.astype(np.float64), np.float32)
    np.testing.assert_allclose(np.outer(col, row), k32, rtol=1e-6, atol=1e-7)
    assert rank_one_factors(k32.astype(np.float64), np.float64) is None
    full_rank = np.random.default_rng(13).standard_normal((5, 5)).astype(np.float32)
    assert rank_one_factors(full_rank, np.float32) is None


@pytest.mark.parametrize(
    ("name", "kernel", "column", "row"),
    [
        ("sobel", [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], [1, 2, 1], [-1, 0, 1]),
        ("prewitt", [[1, 1, 1], [0, 0, 0], [-1, -1, -1]], [1, 0, -1], [1, 1, 1]),
        ("box", np.ones((3, 5)), [1, 1, 1], [1, 1, 1, 1, 1]),
        ("row", [[1, -2, 1]], [1], [1, -2, 1]),
    ],
)
def test_integer_kernels_split_into_integer_factors(name, kernel, column, row):
    """Sobel is [1, 2, 1] (column) times [-1, 0, 1] (row): factors through the largest entry."""
    col, r = rank_one_factors(np.array(kernel, dtype=float))
    np.testing.assert_array_equal(col, column)
    np.testing.assert_array_equal(r, row)
    np.testing.assert_array_equal(np.outer(col, r), kernel)


def test_separable_refuses_a_kernel_of_higher_rank():
    """Forcing 'separable' on a rank-3 kernel is a ParameterError that names the way out."""
    with pytest.raises(
        ParameterError, match=r"strategy 'separable' needs kernels of rank 1; this 3x3"
    ):
        filter2d(np.ones((5, 5)), np.eye(3), strategy="separable")


def test_unknown_strategy_and_bad_threads():
    """Unknown strategy names and non-positive thread counts are refused by name."""
    with pytest.raises(ParameterError, match=r"unknown `strategy` 'gpu'; known: auto, direct"):
        filter2d(np.ones((5, 5)), np.ones((3, 3)), strategy="gpu")
    with pytest.raises(ParameterError, match=r"`threads` must be a positive integer, got 0"):
        filter2d(np.ones((5, 5)), np.ones((3, 3)), threads=0)


def test_convcli_threads_environment_variable(monkeypatch):
    """CONVCLI_THREADS sets the default thread count; garbage in it is named."""
    monkeypatch.setenv("CONVCLI_THREADS", "3")
    assert default_threads() == 3
    monkeypatch.setenv("CONVCLI_THREADS", "many")
    with pytest.raises(
        ParameterError, match="CONVCLI_THREADS must be a positive integer, got 'many'"
    ):
        filter2d(np.ones((5, 5)), np.ones((3, 3)))
    monkeypatch.delenv("CONVCLI_THREADS")
    assert default_threads() >= 1


@pytest.mark.parametrize("strategy", ALL_STRATEGIES)
@pytest.mark.parametrize("threads", [1, 2, 5])
def test_threads_and_tiny_tiles_give_the_scipy_result(strategy, threads):
    """Many small tiles computed by several threads still give scipy's result (uint8 input)."""
    rng = np.random.default_rng(14)
    img = rng.integers(0, 256, (37, 41, 3), dtype=np.uint8)
    k = np.outer([1.0, 2.0, 1.0], [-1.0, 0.0, 1.0, 0.5])
    expected = ndi.correlate(
        img.astype(np.float64), k[:, :, None], mode="mirror", origin=[0, -1, 0]
    )
    got = filter2d(img, k, strategy=strategy, threads=threads, memory_budget=20_000)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize(
    ("kernel", "expected"),
    [
        (np.random.default_rng(15).standard_normal((3, 3)), "direct"),  # small, full rank
        (np.ones((7, 7)), "separable"),  # a box blur: 14 taps instead of 49
        (np.random.default_rng(15).standard_normal((31, 31)), "fft"),  # large, full rank
    ],
)
@pytest.mark.usefixtures("numpy_engine")
def test_auto_picks_by_the_cost_model(kernel, expected):
    """The cost model keeps a small kernel direct, splits a box blur and sends a large
    random kernel to the FFT."""
    problem = _problem(1, 1, 1, kernel.shape)
    assert choose_strategy(problem, kernel[None, None], np.float32) == expected


def test_auto_picks_im2col_for_a_wide_layer():
    """A 64 -> 128 channel 3x3 layer goes to im2col + BLAS."""
    w = np.random.default_rng(16).standard_normal((128, 64, 3, 3))
    assert choose_strategy(_problem(1, 64, 128, (3, 3)), w, np.float32) == "im2col"


def _problem(n, c_in, c_out, kernel_size):
    return Problem(n, c_in, c_out, 1, kernel_size, (1, 1), (1, 1), (512, 512))


@pytest.mark.parametrize("strategy", ["direct", "separable"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", [(50, 61), (7, 9), (3, 40), (40, 3)])
def test_rows_read_straight_from_the_input_match_the_loop(strategy, mode, shape):
    """float32 planes take the in-place path for interior rows (only border columns
    padded); with small bands, dilation and an even kernel it still equals the loop."""
    rng = np.random.default_rng(17)
    img = rng.random(shape).astype(np.float32)
    for kernel in (np.outer([1.0, 2.0, 1.0], [-1.0, 0.0, 1.0]), np.outer([1.0, -2.0], [3.0, 1.0])):
        for d in (1, 2):
            got = filter2d(
                img, kernel, dilation=d, pad_mode=mode, strategy=strategy, memory_budget=3000
            )
            (t, b), (left, r) = convcli.resolve_padding("same", shape, kernel.shape, (1, 1), (d, d))
            expected = conv2d_loop(
                img[None, None], kernel[None, None], None, (1, 1), (t, b, left, r), (d, d), 1, mode
            )[0, 0]
            scale = conv2d_loop(
                img[None, None],
                np.abs(kernel)[None, None],
                None,
                (1, 1),
                (t, b, left, r),
                (d, d),
                1,
                mode,
            )[0, 0]
            assert np.all(np.abs(got - expected) <= 1e-5 * scale + 1e-12)


@pytest.mark.parametrize("strategy", ["direct", "separable"])
def test_border_columns_are_not_lost_to_a_race_between_threads(strategy, monkeypatch):
    """Interior bands scribble on their border columns, which edge tiles then fix: the
    edges must wait for every band, even when a band is slow and another thread is free."""
    import time

    import convcli.engine.strategies

    maker = {"direct": "make_direct", "separable": "make_separable"}[strategy]
    real = getattr(convcli.engine.strategies, maker)

    def slow(*args, **kwargs):
        run = real(*args, **kwargs)
        inner = run.interior

        def interior(*a):
            time.sleep(0.05)  # the other thread is free meanwhile
            inner(*a)

        run.interior = interior
        return run

    monkeypatch.setattr(convcli.engine.strategies, maker, slow)
    monkeypatch.setattr(convcli.engine.strategies, "SERIAL", ())  # let these strategies use threads
    rng = np.random.default_rng(19)
    img = rng.random((60, 64)).astype(np.float32)
    k = np.outer([1.0, 2.0, 1.0], [-1.0, 0.0, 1.0])
    expected = ndi.correlate(img.astype(np.float64), k, mode="mirror")
    got = filter2d(img, k, strategy=strategy, threads=2, memory_budget=60_000)  # 9-row bands
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("strategy", "shape", "kernel", "padding", "budget"),
    [
        ("direct", (8, 1, 3000, 40), (1, 1, 9, 9), "same", 200_000),  # tall border strips
        ("fft", (1, 4, 700, 700), (4, 4, 15, 15), "same", 4_000_000),  # spectra of 4 tile sizes
        ("im2col", (1, 1, 600, 40), (1, 1, 31, 31), "valid", 400_000),  # flat patch rows
    ],
)
def test_budget_holds_for_strips_spectra_and_flat_patches(strategy, shape, kernel, padding, budget):
    """The allocations a first plan missed (border strips of many images, cached kernel
    spectra, patch rows spanning whole block rows) stay within output + budget."""
    rng = np.random.default_rng(21)
    x = rng.random(shape).astype(np.float32)
    w = rng.standard_normal(kernel).astype(np.float32)

    def call():
        return conv2d(
            x,
            w,
            padding=padding,
            pad_mode="reflect",
            memory_budget=budget,
            strategy=strategy,
            threads=2,
        )

    call()  # warm up: imports are not working memory
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        out = call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= out.nbytes + budget, (peak, out.nbytes, budget)


@pytest.mark.parametrize("groups", [1, 2])
def test_separable_conv_layer_with_channels_matches_the_loop(groups):
    """A layer whose every kernel slice has rank 1 (summed over input channels) is exact
    through the separable strategy, with stride, dilation and reflect padding."""
    rng = np.random.default_rng(22)
    cols = rng.standard_normal((4, 2, 3))
    rows = rng.standard_normal((4, 2, 4))
    w = np.einsum("oci,ocj->ocij", cols, rows)  # (4, 2, 3, 4): each slice rank 1
    x = rng.standard_normal((2, 2 * groups, 11, 13))
    got = conv2d(x, w, None, (2, 1), (1, 2), (1, 2), groups, "reflect", strategy="separable")
    expected = conv2d_loop(x, w, None, (2, 1), (1, 1, 2, 2), (1, 2), groups, "reflect")
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)
