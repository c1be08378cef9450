"""uint8 pixels in, uint8 pixels out in one native pass (engine/fused.py, issue 20).

Oracles: an explicit sum over taps on an array padded by ``numpy.pad`` and
``scipy.ndimage.correlate``, then numpy's own ``rint(clip(v, 0, 255))``;
and ``filter_image`` on the numpy engine (``CONVCLI_ENGINE=numpy``). Kernels
with small integer or dyadic taps make every sum exact in float32, so the
pixels must agree bit for bit whatever the order of the sums; for any other
kernel the fused pixels must be those of the native float path rounded.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_native import SCIPY_MODES, oracle

from convcli.arithmetic.geometry import Geometry
from convcli.engine import native
from convcli.engine.convolution import filter2d
from convcli.engine.fused import filter2d_pixels
from convcli.errors import ParameterError
from convcli.images import native_pixels
from convcli.images.filtering import FilterSettings, filter_image
from convcli.images.io import Image
from convcli.kernels.catalogue import get_kernel

_native = pytest.importorskip("convcli.engine._native", reason="native extension not built")

MODES = sorted(SCIPY_MODES)


def to_u8(values: np.ndarray, value_range: str) -> np.ndarray:
    """numpy's mapping of filter responses to 8-bit pixels (the oracle's last step)."""
    v = np.abs(values) if value_range == "abs" else values
    return np.rint(np.clip(v, 0, 255)).astype(np.uint8)


@pytest.fixture
def native_variant(variant):
    if native.module() is None:
        pytest.skip(f"the native engine is off: {native.status().reason}")
    return variant


def exact_kernels() -> st.SearchStrategy[np.ndarray]:
    """Kernels whose sums over uint8 pixels are exact in float32: taps k/4, |k| <= 12."""
    shapes = st.tuples(st.integers(1, 6), st.integers(1, 6))
    return shapes.flatmap(
        lambda s: st.lists(st.integers(-12, 12), min_size=s[0] * s[1], max_size=s[0] * s[1]).map(
            lambda taps, s=s: np.array(taps, dtype=np.float64).reshape(s) / 4
        )
    )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kernel=exact_kernels(),
    size=st.tuples(st.integers(1, 40), st.integers(1, 90)),
    channels=st.sampled_from([0, 1, 3, 4]),
    layout=st.sampled_from(["c", "transposed", "strided"]),
    mode=st.sampled_from(MODES),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    value_range=st.sampled_from(["clip", "abs"]),
    seed=st.integers(0, 2**16),
)
def test_pixels_equal_the_padded_sum_rounded(
    native_variant, kernel, size, channels, layout, mode, stride, dilation, value_range, seed
):
    rng = np.random.default_rng(seed)
    h, w = size
    full = rng.integers(0, 256, (2 * h + 1, 2 * w + 1, max(channels, 1)), dtype=np.uint8)
    if layout == "strided":
        img = full[1::2, 1::2]
    elif layout == "transposed":
        img = np.ascontiguousarray(full[:h, :w].transpose(1, 0, 2)).transpose(1, 0, 2)
    else:
        img = np.ascontiguousarray(full[:h, :w])
    if channels == 0:
        img = img[..., 0]
    geo = Geometry.resolve((h, w), kernel.shape, stride=stride, padding="same", dilation=dilation)
    if min(geo.padding[0]) >= h or min(geo.padding[1]) >= w:
        return  # reflect needs padding narrower than the image
    got = filter2d_pixels(
        img,
        kernel,
        stride,
        "same",
        dilation,
        mode,
        value_range=value_range,
        strategy="native",
    )
    planes = img[..., None] if channels == 0 else img
    expected = np.stack(
        [
            to_u8(oracle(planes[..., c], kernel, geo.padding, stride, dilation, mode), value_range)
            for c in range(planes.shape[-1])
        ],
        axis=-1,
    )
    if channels == 0:
        expected = expected[..., 0]
    assert got is not None and got.dtype == np.uint8
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("value_range", ["clip", "abs"])
def test_a_photo_matches_scipy_correlate_rounded(native_variant, mode, value_range):
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (67, 301, 3), dtype=np.uint8)
    for kernel in (
        np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=float),  # separable
        np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=float),  # direct
        np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256.0,  # a blur, separable
        np.arange(49, dtype=float).reshape(7, 7) / 8 - 3,  # rank 2, 7x7
    ):
        got = filter2d_pixels(
            img, kernel, pad_mode=mode, value_range=value_range, strategy="native"
        )
        ref = ndi.correlate(img.astype(np.float64), kernel[..., None], mode=SCIPY_MODES[mode])
        np.testing.assert_array_equal(got, to_u8(ref, value_range))


def test_any_kernel_gives_the_native_float_path_rounded(native_variant):
    """Sums that are not exact: the fused store rounds exactly the float path's sums."""
    rng = np.random.default_rng(5)
    img = rng.integers(0, 256, (80, 130, 3), dtype=np.uint8)
    for shape in ((3, 3), (5, 5), (1, 9), (11, 11)):
        kernel = rng.standard_normal(shape) * 40
        for k in (kernel, np.outer(kernel[:, 0], kernel[0])):  # general and rank 1
            floats = filter2d(img, k, strategy="native")
            for value_range in ("clip", "abs"):
                got = filter2d_pixels(img, k, value_range=value_range, strategy="native")
                np.testing.assert_array_equal(got, to_u8(floats, value_range))


def test_halves_round_to_even(native_variant):
    img = np.array([[1, 3, 5, 7, 255, 0]], dtype=np.uint8)
    got = filter2d_pixels(img, np.array([[0.5]]), value_range="clip", strategy="native")
    assert got.tolist() == [[0, 2, 2, 4, 128, 0]]  # 0.5, 1.5, 2.5, 3.5, 127.5, 0
    neg = filter2d_pixels(img, np.array([[-0.5]]), value_range="abs", strategy="native")
    assert neg.tolist() == [[0, 2, 2, 4, 128, 0]]
    assert filter2d_pixels(img, np.array([[-0.5]]), strategy="native").tolist() == [[0] * 6]
    big = filter2d_pixels(img, np.array([[300.0]]), strategy="native")
    assert big.tolist() == [[255, 255, 255, 255, 255, 0]]


@pytest.mark.parametrize(
    "name, value_range", [("sobel-x", "clip"), ("sobel-y", "abs"), ("laplacian", "clip")]
)
@pytest.mark.parametrize("channels", [0, 3])
def test_filter_image_matches_the_numpy_engine(monkeypatch, name, value_range, channels):
    """The CLI's path: bit-identical pixels with the native shortcut and on numpy alone."""
    if native.module() is None:
        pytest.skip("the native engine is off")
    rng = np.random.default_rng(9)
    px = rng.integers(0, 256, (150, 97, 3) if channels else (150, 97), dtype=np.uint8)
    image = Image(pixels=px)
    kernel = get_kernel(name)
    taken = []
    real = native_pixels.filter_natively

    def spy(*args, **kwargs):
        out = real(*args, **kwargs)
        taken.append(out is not None)
        return out

    monkeypatch.setattr("convcli.images.filtering.filter_natively", spy)
    fused = filter_image(image, [kernel], FilterSettings(), value_range=value_range)
    assert taken == [True]
    monkeypatch.setenv("CONVCLI_ENGINE", "numpy")
    native.reset()
    try:
        plain = filter_image(image, [kernel], FilterSettings(), value_range=value_range)
    finally:
        monkeypatch.delenv("CONVCLI_ENGINE")
        native.reset()
    assert taken == [True, False]
    assert fused.pixels.dtype == plain.pixels.dtype == np.uint8
    np.testing.assert_array_equal(fused.pixels, plain.pixels)
    assert fused.max_value == plain.max_value == 255.0


def test_filter_image_leaves_other_calls_to_the_float_path():
    """Alpha, 16-bit pixels, bias, magnitudes, chains and other ranges take the old path."""
    px = np.random.default_rng(2).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    sobel = get_kernel("sobel-x")
    s = FilterSettings()
    img = Image(pixels=px)
    assert native_pixels.filter_natively(img, [sobel, sobel], s, "clip", False) is None
    assert native_pixels.filter_natively(img, [sobel], s, "stretch", False) is None
    assert native_pixels.filter_natively(img, [get_kernel("sobel")], s, "clip", False) is None
    assert native_pixels.filter_natively(img, [sobel], s, "clip", True) is None
    with_alpha = Image(pixels=px, alpha=px[..., 0])
    assert native_pixels.filter_natively(with_alpha, [sobel], s, "clip", False) is None
    wide = Image(pixels=px.astype(np.uint16) * 257, max_value=65535.0)
    assert native_pixels.filter_natively(wide, [sobel], s, "clip", False) is None
    biased = FilterSettings(bias=3.0)
    assert native_pixels.filter_natively(img, [sobel], biased, "clip", False) is None


def test_other_strategies_and_the_numpy_engine_return_none(numpy_engine):
    img = np.zeros((5, 5), dtype=np.uint8)
    assert filter2d_pixels(img, np.ones((3, 3))) is None
    with pytest.raises(ParameterError, match="not available"):
        filter2d_pixels(img, np.ones((3, 3)), strategy="native")


def test_bad_calls_raise():
    img = np.zeros((5, 6), dtype=np.uint8)
    with pytest.raises(ParameterError, match="value_range"):
        filter2d_pixels(img, np.ones((3, 3)), value_range="offset")
    with pytest.raises(ParameterError, match="uint8"):
        filter2d_pixels(img.astype(np.uint16), np.ones((3, 3)))
    with pytest.raises(ParameterError, match="strategy"):
        filter2d_pixels(img, np.ones((3, 3)), strategy="nope")
    assert filter2d_pixels(img, np.ones((3, 3)), strategy="fft") is None


def test_the_extension_checks_uint8_outputs():
    src = np.zeros((4, 5), dtype=np.uint8)
    rows = np.arange(6, dtype=np.int64) - 1
    rows[0], rows[-1] = 0, 3
    cols = np.clip(np.arange(7, dtype=np.int64) - 1, 0, 4)
    w = np.ones((3, 3), dtype=np.float32)
    out = np.zeros((4, 5), dtype=np.uint8)
    args = (src, rows, cols, w, out, (1, 1), (1, 1), 0.0, 0, 4)
    _native.correlate(*args, False, False, "abs")  # a good call
    with pytest.raises(ValueError, match="accumulate"):
        _native.correlate(*args, True)
    with pytest.raises(ValueError, match="value_range"):
        _native.correlate(*args, False, False, "offset")
    with pytest.raises(ValueError, match="uint8 `out` only"):
        _native.correlate(*args[:4], out.astype(np.float32), *args[5:], False, False, "clip")
    with pytest.raises(TypeError, match="float32 or float64"):
        _native.correlate(*args[:3], w.astype(np.int32), *args[4:], False)
    with pytest.raises(TypeError, match="float32"):  # row taps of another float type
        _native.correlate_separable(
            src, rows, cols, w[0], w[0].astype(np.float64), out, *args[5:], False
        )
    read_only = out.copy()
    read_only.setflags(write=False)
    with pytest.raises(TypeError, match="writable"):
        _native.correlate(*args[:4], read_only, *args[5:], False)
