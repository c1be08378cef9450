"""The default ``--range auto`` of a gradient magnitude, bit for bit (issue 22, throughput).

The fast paths (the 99th percentile found without partitioning a whole
image, no bound check where the input's dtype bounds the responses, no
copy of a single band) must give the pixels the plain computation gives.
Oracles: numpy's ``np.percentile`` and ``np.partition``, and scipy.ndimage
with the float32 arithmetic the docs state, written out here.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from convcli.images.chain import FilterSettings
from convcli.images.filtering import edge_percentile, filter_image
from convcli.images.io import Image
from convcli.images.ranges import select_ranks
from convcli.kernels.catalogue import get_kernel

SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64)


def _arrays(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Value sets that a strided sample describes well, badly, or not at all."""
    periodic = np.tile(np.arange(16, dtype=np.float32), n // 16 + 1)[:n]
    # the sample is every 16th value: here the largest ones, so its 99th percentile is far
    # above the whole array's and the threshold it gives is too high (the fallback runs)
    periodic[::16] = rng.uniform(50, 100, periodic[::16].size)
    few = rng.integers(0, 3, n).astype(np.float32)
    spikes = np.zeros(n, np.float32)
    spikes[rng.integers(0, n, 50)] = 9  # the percentile is 0, the top a few spikes
    return {
        "normal": np.abs(rng.standard_normal(n)).astype(np.float32),
        "periodic": periodic,
        "few values": few,
        "spikes": spikes,
        "sorted": np.sort(rng.random(n).astype(np.float32)),
        "reversed": np.sort(rng.random(n).astype(np.float32))[::-1].copy(),
    }


@pytest.mark.parametrize("n", [65535, 65536, 70001, 3 * 512 * 512])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_edge_percentile_of_large_arrays_is_numpys(n, dtype):
    """Above the size where only the top values are partitioned, still np.percentile's."""
    rng = np.random.default_rng(n)
    for name, values in _arrays(n, rng).items():
        values = values.astype(dtype)
        assert edge_percentile(values.copy()) == float(np.percentile(values, 99)), name


def test_edge_percentile_of_a_channel_first_view():
    """An (H, W, C) view of (C, H, W) memory, as the engine returns: no copy, the same value."""
    rng = np.random.default_rng(5)
    planes = (rng.random((3, 300, 256)) * 1000).astype(np.float32)
    view = np.moveaxis(planes, 0, -1)
    assert edge_percentile(view) == float(np.percentile(view, 99))
    np.testing.assert_array_equal(np.moveaxis(planes, 0, -1), view)  # left as it was


@pytest.mark.parametrize("ranks", [(0, 0), (10, 11), (69_000, 69_001), (69_999, 69_999)])
def test_select_ranks_is_partitions(ranks):
    """The values np.partition puts at two ranks, NaN (sorted last) and ties included."""
    rng = np.random.default_rng(7)
    values = rng.integers(0, 500, 70_000).astype(np.float64)
    values[rng.integers(0, 70_000, 300)] = np.nan
    prev, nxt = ranks
    want = np.partition(values.copy(), (prev, nxt))
    got = select_ranks(values, prev, nxt)
    np.testing.assert_array_equal(np.array(got), want[[prev, nxt]])


def _stretched_sobel(pixels: np.ndarray) -> np.ndarray:
    """`--range auto` of ``-k sobel`` on uint8 pixels, written out (float32, as documented).

    scipy's float64 sums of integers are exact, so float32 of them is the
    engine's float32 sum; then sqrt(gx² + gy²), the 99th percentile of all
    channels, the factor 255 / it in float32, clip, round half to even.
    """
    values = pixels.astype(np.float64)
    axes = (1, 0) if values.ndim == 2 else (1, 0, 2)
    kx = SOBEL_X if values.ndim == 2 else SOBEL_X[..., None]
    gx = ndi.correlate(values, kx, mode="mirror").astype(np.float32)
    gy = ndi.correlate(values, np.transpose(kx, axes), mode="mirror").astype(np.float32)
    magnitude = np.sqrt(gx * gx + gy * gy)
    factor = np.float32(255 / float(np.percentile(magnitude, 99)))
    return np.rint(np.clip(magnitude * factor, 0, 255)).astype(np.uint8)


@pytest.mark.parametrize("shape", [(512, 512, 3), (301, 257, 3), (200, 700), (4, 300, 3)], ids=str)
@pytest.mark.parametrize("budget", [None, 1 << 20], ids=["one band", "bands"])
def test_default_sobel_is_the_written_out_stretch(shape, budget):
    """Every pixel, in one band and in many: the fast path changes no byte."""
    rng = np.random.default_rng(sum(shape))
    pixels = rng.integers(0, 256, shape, dtype=np.uint8)
    pixels[: shape[0] // 2] //= 8  # a dark half: the stretch is not a plain clip
    settings = FilterSettings() if budget is None else FilterSettings(memory_budget=budget)
    got = filter_image(Image(pixels), [get_kernel("sobel")], settings).pixels
    np.testing.assert_array_equal(got, _stretched_sobel(pixels))


def test_magnitude_of_float_input_still_checks_for_overflow():
    """Float input has no bound from its dtype: responses near float32's limit stay finite."""
    pixels = np.zeros((20, 20), np.float32)
    pixels[:, 10:] = 3e37
    out = filter_image(Image(pixels, max_value=1.0), [get_kernel("sobel")], value_range="raw")
    assert np.isfinite(out.pixels).all() and out.pixels.max() > 1e38
