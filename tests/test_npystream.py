"""A filtered image written to .npy in strips: the values of one pass, in bounded memory.

Issue 21 item 13: an 88-MP image written to ``.npy`` with ``identity`` peaked
at 2.3 GiB, because ``--range raw`` (the .npy default) made the whole float32
result before writing it.
"""

from __future__ import annotations

import numpy as np
import PIL.Image
import pytest
from scipy import ndimage

from convcli.images import npystream
from convcli.images.filtering import FilterSettings, filter_image
from convcli.images.io import Image, read_image
from convcli.kernels.catalogue import get_kernel
from convcli.kernels.kernel import Kernel


def _image(h: int, w: int, alpha: bool = False) -> Image:
    yy, xx = np.mgrid[:h, :w]
    rgb = np.stack([(xx * 7 + yy * 3) % 256, (xx * yy) % 251, (xx ^ yy) % 256], axis=2)
    a = ((xx + 2 * yy) % 256).astype(np.uint8) if alpha else None
    return Image(
        pixels=rgb.astype(np.uint8),
        alpha=a,
        max_value=255.0,
        mode="RGBA" if alpha else "RGB",
        format="PNG",
        source="test",
        notes=[],
    )


def test_raw_strips_match_an_independent_correlation(tmp_path):
    """Raw values, in strips of a few rows, equal scipy's float64 correlation (reflect)."""
    image = _image(97, 61)
    weights = np.arange(25, dtype=np.float64).reshape(5, 5) - 12
    kernel = Kernel("test", weights)
    settings = FilterSettings(memory_budget=16 * 61 * 3 * 4 * 9)  # strips of 9 rows
    target = tmp_path / "out.npy"
    assert npystream.write_filtered_npy(
        image, str(target), kernels=[kernel], settings=settings,
        value_range="raw", alpha="keep", gray=False,
    )  # fmt: skip
    got = np.load(target)
    assert got.shape == (3, 97, 61) and got.dtype == np.float32
    for c in range(3):
        oracle = ndimage.correlate(image.pixels[..., c].astype(np.float64), weights, mode="mirror")
        np.testing.assert_allclose(got[c], oracle, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize(
    ("names", "how", "alpha", "value_range"),
    [
        (["gaussian:sigma=1.5", "sobel-x"], {"repeat": 2, "dilation": 2}, "filter", "raw"),
        (["box:3"], {"bias": 3.0}, "keep", "clip"),
        (["laplacian"], {}, "premultiply", "abs"),
    ],
)
def test_strips_give_what_one_pass_gives(tmp_path, names, how, alpha, value_range):
    """Chains, dilation, repeats, every alpha mode, per-pixel ranges: the same file."""
    image = _image(83, 40, alpha=True)
    kernels = [get_kernel(n) for n in names]
    settings = FilterSettings(memory_budget=16 * 40 * 4 * 4 * 12, **how)
    target = tmp_path / "out.npy"
    assert npystream.write_filtered_npy(
        image, str(target), kernels=kernels, settings=settings,
        value_range=value_range, alpha=alpha, gray=False,
    )  # fmt: skip
    whole = filter_image(image, kernels, settings, value_range=value_range, alpha=alpha)
    expected = np.concatenate([np.moveaxis(whole.pixels, -1, 0), whole.alpha[None]])
    got = np.load(target)
    assert got.dtype == expected.dtype
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)


def test_what_cannot_go_in_strips_is_left_alone(tmp_path):
    """A stride, circular padding, a range that needs the whole result, one strip: False,
    and no file."""
    image = _image(64, 32)
    target = tmp_path / "out.npy"
    small = FilterSettings(memory_budget=16 * 32 * 3 * 4 * 8)
    cases = [
        ("box:3", FilterSettings(stride=2, memory_budget=small.memory_budget), "raw"),
        ("box:3", FilterSettings(pad_mode="circular", memory_budget=small.memory_budget), "raw"),
        ("box:3", small, "normalize"),
        ("laplacian", small, "auto"),  # zero-sum: stretched by its 99th percentile
        ("box:3", FilterSettings(), "raw"),  # one strip
    ]
    for name, settings, rng in cases:
        done = npystream.write_filtered_npy(
            image, str(target), kernels=[get_kernel(name)], settings=settings,
            value_range=rng, alpha="keep", gray=False,
        )  # fmt: skip
        assert not done and not target.exists(), (name, settings, rng)


def test_identity_to_npy_peaks_like_the_png_path(tmp_path):
    """`convcli filter big.png -k identity -o out.npy` (raw float32, 12 bytes a pixel)
    peaks no higher than the same image written to .png; before, the whole float result
    made it 1.6 times that. The values are the input's."""
    test_streaming = pytest.importorskip("test_streaming")  # its measuring helpers (tifffile, zarr)
    h, w = 3000, 3000
    yy, xx = np.mgrid[:h, :w]
    rgb = np.stack([(xx * 7 + yy * 3) % 256, (xx * yy) % 251, (xx ^ yy) % 256], axis=2)
    PIL.Image.fromarray(rgb.astype(np.uint8)).save(tmp_path / "big.png", compress_level=1)
    code, err, png_peak = test_streaming.run_measured(
        "filter", "big.png", "-k", "identity", "-o", "out.png", cwd=tmp_path
    )
    assert code == 0, err
    code, err, npy_peak = test_streaming.run_measured(
        "filter", "big.png", "-k", "identity", "-o", "out.npy", cwd=tmp_path
    )
    assert code == 0, err
    assert npy_peak <= 1.15 * png_peak, (npy_peak, png_peak)
    got = np.load(tmp_path / "out.npy", mmap_mode="r")
    assert got.shape == (3, h, w) and got.dtype == np.float32
    np.testing.assert_array_equal(got[:, ::97, ::89], np.moveaxis(rgb, -1, 0)[:, ::97, ::89])
    assert read_image(tmp_path / "out.png").pixels.shape == (h, w, 3)
