"""convcli.filtering: value ranges, luminance and whole-image filtering from Python."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from convcli import ShapeError
from convcli.filtering import FilterSettings, apply_kernels, filter_image, luminance, map_range
from convcli.imageio import Image
from convcli.kernels import Kernel, get_kernel


def test_map_range_modes_by_hand():
    """Each range mode maps [-20, 100, 300] on a 0..255 scale as its definition says."""
    v = np.array([-20.0, 100.0, 300.0])
    np.testing.assert_array_equal(map_range(v, "clip", 255), [0, 100, 255])
    np.testing.assert_array_equal(map_range(v, "abs", 255), [20, 100, 255])
    np.testing.assert_array_equal(map_range(v, "offset", 255), [108, 228, 255])
    np.testing.assert_allclose(map_range(v, "normalize", 255), [0, 120 * 255 / 320, 255])
    np.testing.assert_array_equal(map_range(v, "auto", 255, zero_sum=True), [20, 100, 255])
    np.testing.assert_array_equal(map_range(v, "auto", 255, zero_sum=False), [0, 100, 255])
    assert map_range(v, "raw", 255).dtype == np.float32


def test_map_range_constant_normalize_and_16bit_offset():
    """normalize of a constant result is black; offset on 16 bits starts at 32768."""
    np.testing.assert_array_equal(map_range(np.full(3, 7.0), "normalize", 255), [0, 0, 0])
    np.testing.assert_array_equal(map_range(np.array([0.0]), "offset", 65535), [32768])


def test_unknown_range_mode():
    """An unknown range mode names the known ones."""
    with pytest.raises(ShapeError, match="unknown range mode 'wrap'; known: auto, clip"):
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
    with pytest.raises(ShapeError, match="`repeat` must be a positive integer"):
        FilterSettings(repeat=0)
    with pytest.raises(ShapeError, match="no kernel given"):
        apply_kernels(np.ones((3, 3)), [])
