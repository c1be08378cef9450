"""convcli.images.filtering: value ranges, luminance and whole-image filtering from Python."""

from __future__ import annotations

import numpy as np
import pytest
from reference import SCIPY_MODE, conv2d_loop
from scipy import ndimage as ndi

from convcli import ParameterError
from convcli.images.bands import rows_per_band
from convcli.images.filtering import (
    FilterSettings,
    apply_kernels,
    filter_image,
    luminance,
    map_range,
)
from convcli.images.io import Image
from convcli.kernels.catalogue import get_kernel
from convcli.kernels.files import resolve_kernel
from convcli.kernels.kernel import Kernel


def test_map_range_modes_by_hand():
    """Each range mode maps [-20, 100, 300] on a 0..255 scale as its definition says."""
    v = np.array([-20.0, 100.0, 300.0])
    np.testing.assert_array_equal(map_range(v, "clip", 255), [0, 100, 255])
    np.testing.assert_array_equal(map_range(v, "abs", 255), [20, 100, 255])
    np.testing.assert_array_equal(map_range(v, "offset", 255), [108, 228, 255])
    np.testing.assert_allclose(map_range(v, "normalize", 255), [0, 120 * 255 / 320, 255])
    # zero-sum: |v| times 255 / its 99th percentile, by hand 100 + 0.98 * (300 - 100) = 296
    np.testing.assert_allclose(
        map_range(v, "auto", 255, zero_sum=True), [20 * 255 / 296, 100 * 255 / 296, 255]
    )
    # a gradient magnitude: the same stretch (magnitude= is kept, and changes nothing)
    np.testing.assert_allclose(
        map_range(v, "auto", 255, zero_sum=True, magnitude=True),
        [20 * 255 / 296, 100 * 255 / 296, 255],
    )
    np.testing.assert_array_equal(map_range(v, "auto", 255, zero_sum=False), [0, 100, 255])
    assert map_range(v, "raw", 255).dtype == np.float32


def test_map_range_constant_normalize_and_16bit_offset():
    """normalize of a constant result is black; offset on 16 bits starts at 32768."""
    np.testing.assert_array_equal(map_range(np.full(3, 7.0), "normalize", 255), [0, 0, 0])
    np.testing.assert_array_equal(map_range(np.array([0.0]), "offset", 65535), [32768])


def test_unknown_range_mode():
    """An unknown range mode names the known ones."""
    with pytest.raises(ParameterError, match="unknown range mode 'wrap'; known: auto, clip"):
        map_range(np.zeros(1), "wrap", 255)


def test_luminance_weights():
    """Luminance is 0.299 R + 0.587 G + 0.114 B."""
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]]], dtype=np.uint8)
    np.testing.assert_allclose(luminance(rgb)[0], [76.245, 149.685, 29.07], rtol=1e-5)


def test_laplacian_of_a_constant_image_is_zero():
    """The Laplacian of a constant image is zero everywhere, borders included (reflect)."""
    out = apply_kernels(np.full((6, 7), 42.0), [get_kernel("laplacian")])
    np.testing.assert_allclose(out, 0, atol=1e-12)


def test_offset_kernels_add_their_offset():
    """A kernel with a libvips-style offset adds it after the weighted sum."""
    k = Kernel("shift", [[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]], offset=10.0)
    np.testing.assert_allclose(apply_kernels(np.ones((4, 4)), [k]), 11.0)


def test_sixteen_bit_image_stays_sixteen_bit():
    """A uint16 image filters into uint16 on its own 0..65535 scale."""
    rng = np.random.default_rng(0)
    px = rng.integers(0, 65536, (9, 11), dtype=np.uint16)
    out = filter_image(Image(px, max_value=65535.0), [get_kernel("box:3")])
    assert out.pixels.dtype == np.uint16
    expected = ndi.correlate(px.astype(float), np.full((3, 3), 1 / 9), mode="mirror")
    np.testing.assert_allclose(out.pixels, np.rint(expected), atol=1)


def test_float_image_maps_to_8_bits():
    """A float image on a 0..1 scale becomes uint8 0..255 unless raw is asked for."""
    px = np.linspace(0, 1, 12).reshape(3, 4)
    out = filter_image(Image(px, max_value=1.0), [get_kernel("identity")])
    assert out.pixels.dtype == np.uint8
    np.testing.assert_array_equal(out.pixels, np.rint(px * 255))
    raw = filter_image(Image(px, max_value=1.0), [get_kernel("identity")], value_range="raw")
    np.testing.assert_allclose(raw.pixels, px, rtol=1e-6)


def test_settings_validation():
    """repeat below 1 and an empty chain are refused with a clear message."""
    with pytest.raises(ParameterError, match="`repeat` must be a positive integer"):
        FilterSettings(repeat=0)
    with pytest.raises(ParameterError, match="no kernel given"):
        apply_kernels(np.ones((3, 3)), [])


# ------------------------------------------------- bands of rows against scipy


def _correlate(values: np.ndarray, weights, s: FilterSettings) -> np.ndarray:
    """scipy.ndimage's correlation with convcli's `same` alignment, channel by channel."""
    w = np.asarray(weights, dtype=np.float64)
    if s.convolve:
        w = w[::-1, ::-1]
    d = s.dilation
    dilated = np.zeros((d * (w.shape[0] - 1) + 1, d * (w.shape[1] - 1) + 1))
    dilated[::d, ::d] = w
    # convcli puts the extra cell of an even window after: scipy's origin -1
    origin = [-1 if n % 2 == 0 else 0 for n in dilated.shape]
    mode = SCIPY_MODE[s.pad_mode]
    if values.ndim == 2:
        return ndi.correlate(values, dilated, mode=mode, origin=origin)
    channels = [values[..., c] for c in range(values.shape[2])]
    return np.stack(
        [ndi.correlate(c, dilated, mode=mode, origin=origin) for c in channels], axis=-1
    )


def _chain_oracle(values: np.ndarray, kernels, s: FilterSettings) -> np.ndarray:
    """The whole chain in float64 with scipy: magnitudes by hypot, offsets, then the bias."""
    out = np.asarray(values, dtype=np.float64)
    for _ in range(s.repeat):
        for k in kernels:
            if k.is_magnitude:
                out = np.hypot(_correlate(out, k.parts[0], s), _correlate(out, k.parts[1], s))
            else:
                out = _correlate(out, k.weights, s)
            out = out + k.offset
    return out + s.bias


CHAINS = {
    "sobel": ["sobel"],
    "sobel-x": ["sobel-x"],
    "gaussian then laplacian": ["gaussian:size=5,sigma=1", "laplacian"],
    "even box": ["box:4"],
    "tall and wide": ["diff:3,y", "motion:length=5,angle=0"],
    "sharpen twice": ["sharpen", "sharpen"],
}


def _settings(draw_seed: int, budget: int) -> FilterSettings:
    rng = np.random.default_rng(draw_seed)
    return FilterSettings(
        dilation=int(rng.integers(1, 3)),
        pad_mode=str(rng.choice(["reflect", "symmetric", "replicate", "zeros"])),
        convolve=bool(rng.integers(0, 2)),
        repeat=int(rng.integers(1, 3)),
        bias=float(rng.integers(-8, 8)),
        memory_budget=budget,
    )


@pytest.mark.parametrize("chain", CHAINS, ids=list(CHAINS))
@pytest.mark.parametrize("seed", range(3))
def test_bands_match_scipy(chain, seed):
    """Filtered band by band (a few rows each), the chain equals scipy on the whole image.

    The raw values agree to float32 precision; mapped to 8 bits, no pixel is
    off by more than one (float32 against float64 rounding at a half).
    """
    rng = np.random.default_rng(100 + seed)
    shape = (int(rng.integers(30, 70)), int(rng.integers(5, 30)))
    if seed % 2:
        shape += (3,)
    px = rng.integers(0, 256, shape, dtype=np.uint8)
    kernels = [resolve_kernel(name) for name in CHAINS[chain]]
    row_bytes = 4 * int(np.prod(shape[1:]))
    s = _settings(seed, budget=16 * row_bytes * 5)  # about five rows per band
    rows = rows_per_band(shape, 4, kernels, s)
    assert rows is not None and 3 * rows <= shape[0]  # really in bands, several of them
    expected = _chain_oracle(px, kernels, s)
    raw = filter_image(Image(px), kernels, s, value_range="raw")
    assert raw.pixels.dtype == np.float32 and raw.pixels.shape == shape
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(raw.pixels, expected, rtol=1e-5, atol=1e-5 * scale)
    zero_sum = any(k.is_zero_sum and not k.offset for k in kernels)
    magnitude = any(k.is_magnitude for k in kernels)
    # every range mode on one chain; the mode that matters (auto) on all of them
    modes = ("auto", "clip", "abs", "offset", "normalize") if chain == "sobel" else ("auto",)
    for mode in modes:
        got = filter_image(Image(px), kernels, s, value_range=mode).pixels
        want = np.rint(map_range(expected, mode, 255, zero_sum, magnitude))
        assert got.dtype == np.uint8
        assert np.abs(got.astype(int) - want).max() <= 1, mode


@pytest.mark.parametrize("alpha", ["keep", "filter", "premultiply"])
def test_bands_with_alpha_match_scipy(alpha):
    """Alpha modes in bands: kept as is, filtered as a channel, or premultiplied."""
    rng = np.random.default_rng(7)
    px = rng.integers(0, 256, (48, 20, 3), dtype=np.uint8)
    a = rng.integers(0, 256, (48, 20), dtype=np.uint8)
    a[:, :5] = 0  # fully transparent columns
    k = resolve_kernel("box:3")
    s = FilterSettings(memory_budget=16 * 4 * 20 * 3 * 4)
    assert rows_per_band(px.shape, 4, [k], s) is not None
    out = filter_image(Image(px, alpha=a), [k], s, alpha=alpha, value_range="raw")
    if alpha == "keep":
        np.testing.assert_array_equal(out.alpha, a)
        np.testing.assert_allclose(out.pixels, _chain_oracle(px, [k], s), rtol=1e-5, atol=1e-3)
        return
    if alpha == "filter":
        np.testing.assert_allclose(out.alpha, _chain_oracle(a, [k], s), rtol=1e-5, atol=1e-3)
        np.testing.assert_allclose(out.pixels, _chain_oracle(px, [k], s), rtol=1e-5, atol=1e-3)
        return
    w = a / 255.0
    fw = np.clip(_chain_oracle(w, [k], s), 0, 1)
    colour = _chain_oracle(px * w[..., None], [k], s)
    expected = np.where(fw[..., None] > 1e-12, colour / np.maximum(fw, 1e-12)[..., None], 0)
    np.testing.assert_allclose(out.alpha, fw * 255, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(out.pixels, expected, rtol=1e-4, atol=1e-2)


def test_bands_gray_and_sixteen_bit_match_scipy():
    """--gray filters the luminance; 16-bit stays 16-bit; both in bands."""
    rng = np.random.default_rng(8)
    rgb = rng.integers(0, 256, (40, 16, 3), dtype=np.uint8)
    k = get_kernel("sobel")
    s = FilterSettings(memory_budget=16 * 4 * 16 * 3)
    assert rows_per_band(rgb.shape[:2], 4, [k], s) is not None
    got = filter_image(Image(rgb), [k], s, gray=True, value_range="raw").pixels
    lum = rgb @ np.array([0.299, 0.587, 0.114])
    np.testing.assert_allclose(got, _chain_oracle(lum, [k], s), rtol=1e-5, atol=1e-3)
    px16 = rng.integers(0, 65536, (40, 16), dtype=np.uint16)
    out = filter_image(Image(px16, max_value=65535.0), [get_kernel("sharpen")], s)
    assert out.pixels.dtype == np.uint16 and out.max_value == 65535
    want = np.rint(np.clip(_chain_oracle(px16, [get_kernel("sharpen")], s), 0, 65535))
    assert np.abs(out.pixels.astype(np.int64) - want).max() <= 1


@pytest.mark.parametrize(
    "geometry",
    [
        {"pad_mode": "circular"},
        {"stride": 2},
        {"padding": "valid"},
        {"padding": "full", "pad_mode": "zeros"},
    ],
    ids=["circular", "stride 2", "valid", "full"],
)
def test_whole_image_geometries_are_not_banded_and_stay_right(geometry):
    """Geometries bands cannot do run on the whole image and still match the reference."""
    rng = np.random.default_rng(9)
    px = rng.integers(0, 256, (40, 30), dtype=np.uint8)
    k = get_kernel("sobel-x")
    s = FilterSettings(memory_budget=16 * 4 * 30 * 2, **geometry)
    assert rows_per_band(px.shape, 4, [k], s) is None
    got = filter_image(Image(px), [k], s, value_range="raw").pixels
    w = np.asarray(k.weights)
    pad_mode = geometry.get("pad_mode", "reflect")
    padding = geometry.get("padding", "same")
    pad = {"same": (1, 1, 1, 1), "valid": (0, 0, 0, 0), "full": (2, 2, 2, 2)}[padding]
    stride = geometry.get("stride", 1)
    if stride == 2:  # `same` with stride 2: ceil(n / 2) outputs, the one extra cell after
        pad = (0, 1, 0, 1)
    expected = conv2d_loop(
        px[None, None], w[None, None], pad=pad, stride=(stride, stride), mode=pad_mode
    )[0, 0]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-3)


def test_magnitude_does_not_overflow_float32():
    """sqrt(gx² + gy²) of responses near float32's limit stays finite (hypot fallback)."""
    px = np.zeros((5, 5), dtype=np.float32)
    px[:, 3:] = 1e20
    out = apply_kernels(px, [get_kernel("sobel")], FilterSettings(padding="valid"))
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out.max(), 4e20, rtol=1e-6)


def test_luminance_stays_in_float32():
    """Luminance of uint8 and uint16 is float32, within float32 rounding of the float64 formula."""
    rgb = np.random.default_rng(10).integers(0, 65536, (30, 40, 3)).astype(np.uint16)
    got = luminance(rgb)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, rgb @ np.array([0.299, 0.587, 0.114]), rtol=1e-6)
    assert luminance(rgb.astype(np.float64)).dtype == np.float64


def test_map_range_leaves_its_input_alone():
    """map_range returns a new array and never changes the one it is given."""
    v = np.array([-20.0, 100.0, 300.0], dtype=np.float32)
    for mode in ("clip", "abs", "offset", "normalize", "raw"):
        out = map_range(v, mode, 255)
        assert out is not v and not np.shares_memory(out, v)
        np.testing.assert_array_equal(v, [-20.0, 100.0, 300.0])
    assert map_range(np.array([3, 300], dtype=np.uint16), "clip", 255).tolist() == [3, 255]


def test_unknown_modes_are_refused_before_any_work():
    """filter_image names the known range and alpha modes."""
    img = Image(np.zeros((4, 4), np.uint8))
    with pytest.raises(ParameterError, match="unknown range mode 'wrap'; known: auto, clip"):
        filter_image(img, [get_kernel("identity")], value_range="wrap")
    with pytest.raises(ParameterError, match="unknown alpha mode 'drop'; known: keep, filter"):
        filter_image(img, [get_kernel("identity")], alpha="drop")
    with pytest.raises(ParameterError, match="no kernel given"):
        filter_image(img, [])
