"""`--range auto`, the default: every edge map is visible, gradient magnitudes included.

Oracles are scipy.ndimage and numpy written here: the stretch is
``clip(|r| · white / percentile(|r|, 99), 0, white)`` over all channels at once.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from helpers import load, run
from scipy import ndimage as ndi

from convcli.images.filtering import filter_image
from convcli.images.io import Image, read_image
from convcli.kernels.catalogue import get_kernel

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = sorted(
    p
    for folder in (ROOT / "sample_images", Path("/work/shared/sample_images"))
    if folder.is_dir()
    for p in folder.iterdir()
    if p.suffix.lower() in (".png", ".jpg", ".jpeg")
)
EDGE_KERNELS = ("laplacian", "log", "edge")
SOBEL_X = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
LAPLACIAN = np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def _id(path: Path) -> str:
    return f"{path.parent.parent.name}/{path.name}"


def _pixels(path: Path) -> np.ndarray:
    """The photo's pixels as convcli filters them (gray stays 2-D, RGB is 3-D)."""
    return read_image(str(path)).pixels


def _correlate(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """scipy's 'same' correlation of each channel; convcli's reflect is scipy's mirror."""
    values = values.astype(np.float64)
    if values.ndim == 2:
        return ndi.correlate(values, weights, mode="mirror")
    return np.stack(
        [ndi.correlate(values[..., c], weights, mode="mirror") for c in range(values.shape[2])],
        axis=-1,
    )


@pytest.mark.skipif(not PHOTOS, reason="no sample photos")
@pytest.mark.parametrize("kernel", EDGE_KERNELS)
@pytest.mark.parametrize("photo", PHOTOS, ids=_id)
def test_edge_kernels_are_visible_on_every_photo(photo, kernel, tmp_path):
    """By default, 1 % of a photo's laplacian / log / edge pixels are at least mid-grey."""
    out = tmp_path / "out.png"
    result = run("filter", photo, "-k", kernel, "-o", out)
    assert result.exit_code == 0, result.output
    pixels = _pixels(photo)
    got = load(out)[..., : pixels.shape[2]] if pixels.ndim == 3 else load(out)  # alpha aside
    assert got.dtype == np.uint8 and got.shape == pixels.shape
    assert np.percentile(got, 99) >= 128, (kernel, float(np.percentile(got, 99)))


@pytest.mark.parametrize("kernel", EDGE_KERNELS)
def test_sixteen_bit_photos_use_their_own_range(kernel, tmp_path):
    """A 16-bit photo's edges reach the 16-bit range: the 99th percentile is at least 128·257."""
    src = tmp_path / "photo16.png"
    with PIL.Image.open(ROOT / "sample_images" / "chelsea.png") as im:
        gray = im.convert("L")
    PIL.Image.fromarray(np.asarray(gray).astype(np.uint16) * 257).save(src)
    out = tmp_path / "out.png"
    assert run("filter", src, "-k", kernel, "-o", out).exit_code == 0
    got = load(out)
    assert got.dtype == np.uint16
    assert np.percentile(got, 99) >= 128 * 257


@pytest.mark.parametrize("name", ["camera.png", "chelsea.png"])
def test_laplacian_default_is_the_stretched_magnitude(name, tmp_path):
    """Pixel for pixel: |laplacian| times 255 / its 99th percentile over all channels, clipped."""
    photo = ROOT / "sample_images" / name
    out = tmp_path / "out.png"
    assert run("filter", photo, "-k", "laplacian", "-o", out).exit_code == 0
    magnitude = np.abs(_correlate(_pixels(photo), LAPLACIAN))
    expected = np.clip(magnitude * 255 / np.percentile(magnitude, 99), 0, 255)
    np.testing.assert_allclose(load(out), np.rint(expected), atol=1)


def _sobel(photo: Path) -> np.ndarray:
    """sqrt(gx² + gy²) of each channel, by scipy."""
    values = _pixels(photo)
    return np.hypot(_correlate(values, SOBEL_X), _correlate(values, SOBEL_X.T))


@pytest.mark.parametrize("name", ["camera.png", "chelsea.png", "rocket.jpg"])
def test_sobel_default_is_the_stretched_magnitude(name, tmp_path):
    """`-k sobel` is sqrt(gx² + gy²) times 255 / its 99th percentile, clipped (scipy oracle),
    as every zero-sum kernel's response is."""
    photo = ROOT / "sample_images" / name
    out = tmp_path / "out.png"
    assert run("filter", photo, "-k", "sobel", "-o", out).exit_code == 0
    magnitude = _sobel(photo)
    expected = np.clip(magnitude * 255 / np.percentile(magnitude, 99), 0, 255)
    np.testing.assert_allclose(load(out), np.rint(expected), atol=1)


@pytest.mark.parametrize("name", ["camera.png", "rocket.jpg"])
def test_clip_keeps_sobel_exact_values(name, tmp_path):
    """`--range clip` keeps sqrt(gx² + gy²) as it is, cut at white; `raw` as floats."""
    photo = ROOT / "sample_images" / name
    out, raw = tmp_path / "out.png", tmp_path / "out.npy"
    assert run("filter", photo, "-k", "sobel", "--range", "clip", "-o", out).exit_code == 0
    assert run("filter", photo, "-k", "sobel", "-o", raw).exit_code == 0
    magnitude = _sobel(photo)
    np.testing.assert_allclose(load(out), np.rint(np.clip(magnitude, 0, 255)), atol=1)
    np.testing.assert_allclose(load(raw), magnitude, rtol=1e-5, atol=1e-3)


@pytest.mark.skipif(not PHOTOS, reason="no sample photos")
@pytest.mark.parametrize("kernel", ["sobel", "scharr", "prewitt", "sobel-x"])
@pytest.mark.parametrize("photo", PHOTOS, ids=_id)
def test_every_edge_map_shows_well(photo, kernel, tmp_path):
    """By default an edge map is neither near black (1 % of its pixels at least mid-grey)
    nor saturated (at most 2 % white): a gradient magnitude as well as a single gradient.
    Before, sobel left a blurred photo near black and whitened 4-7 % of a textured one."""
    out = tmp_path / "out.png"
    assert run("filter", photo, "-k", kernel, "-o", out).exit_code == 0
    got = load(out).astype(np.float64)
    if _pixels(photo).ndim == 3:
        got = got[..., :3]
    if np.percentile(_sobel(photo), 99) == 0:
        pytest.skip("a photo without edges")
    assert np.percentile(got, 99) >= 128, float(np.percentile(got, 99))
    assert np.mean(got >= 255) <= 0.02, float(np.mean(got >= 255))


@pytest.mark.parametrize("kernel", [*EDGE_KERNELS, "sobel-x"])
@pytest.mark.parametrize("shape", [(40, 30), (40, 30, 3)])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_constant_image_stays_black(kernel, shape, dtype):
    """A flat image has no edges: black, without a division by zero or a warning."""
    image = Image(np.full(shape, 77, dtype=dtype), max_value=float(np.iinfo(dtype).max))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = filter_image(image, [get_kernel(kernel)])
    assert out.pixels.dtype == dtype and out.pixels.shape == shape
    assert not out.pixels.any()


def test_mostly_flat_image_uses_its_largest_response():
    """Fewer than 1 % edge pixels (the 99th percentile is 0): the largest response is white."""
    px = np.zeros((200, 200), dtype=np.uint8)
    px[100, 100] = 10  # one dot: its laplacian touches 5 of 40 000 pixels
    out = filter_image(Image(px), [get_kernel("laplacian")]).pixels
    assert out[100, 100] == 255 and out[99, 100] == round(10 * 255 / 40)
    assert np.count_nonzero(out) == 5


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_edge_percentile_is_numpys_linear_percentile(dtype):
    """The 99th percentile ``auto`` stretches by is np.percentile's, bit for bit, for every
    count of values (it is found with np.partition, which imports no numpy.ma)."""
    from convcli.images.filtering import edge_percentile

    rng = np.random.default_rng(99)
    for n in [*range(1, 300), 1000, 4097, 65536]:
        values = np.abs(rng.standard_normal(n)).astype(dtype)
        assert edge_percentile(values.copy()) == float(np.percentile(values, 99)), n
