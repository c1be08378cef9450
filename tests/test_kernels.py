"""Tests of convcli.kernels: built-in values, flags, spec parsing and user kernel files.

Oracles: matrices written out by hand from CONVENTIONS.md, scipy.ndimage
filters applied to the same pixels, numpy.diff, and hand-derived responses.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage as ndi
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import convcli
from convcli.errors import KernelError
from convcli.kernels.catalogue import KERNELS, get_kernel, kernel_names
from convcli.kernels.files import format_kernel_text, load_kernel, parse_kernel, resolve_kernel
from convcli.kernels.kernel import Kernel

KERNEL_DIR = Path(__file__).resolve().parent.parent / "kernels"


def correlate_interior(image: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Correlate with scipy and keep only the pixels the border cannot touch."""
    out = ndi.correlate(image, weights, mode="reflect")
    r = max(weights.shape) // 2 + 1
    return out[r:-r, r:-r]


def interior(image: np.ndarray, weights_shape: tuple[int, int]) -> np.ndarray:
    r = max(weights_shape) // 2 + 1
    return image[r:-r, r:-r]


def impulse_response(filt, size: int, **kwargs) -> np.ndarray:
    """The size×size centre of a scipy filter's response to a unit impulse."""
    n = size + 20
    img = np.zeros((n, n))
    img[n // 2, n // 2] = 1.0
    out = filt(img, mode="constant", **kwargs)
    lo = n // 2 - size // 2
    return out[lo : lo + size, lo : lo + size]


@pytest.fixture
def image() -> np.ndarray:
    return np.random.default_rng(3).uniform(0, 255, size=(40, 37))


# --------------------------------------------------------------------------
# Built-in values, written out
# --------------------------------------------------------------------------

WRITTEN_OUT = {
    "identity": [[1]],
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "edge": [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
    "edge-x": [[1, -1]],
    "edge-y": [[1], [-1]],
    "laplacian": [[0, 1, 0], [1, -4, 1], [0, 1, 0]],
    "laplacian8": [[1, 1, 1], [1, -8, 1], [1, 1, 1]],
    "emboss": [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]],
    "sobel-x": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "sobel-y": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    "scharr-x": [[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]],
    "scharr-y": [[-3, -10, -3], [0, 0, 0], [3, 10, 3]],
    "prewitt-x": [[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]],
    "prewitt-y": [[-1, -1, -1], [0, 0, 0], [1, 1, 1]],
    "box": np.full((3, 3), 1 / 9),
    "blur": np.full((3, 3), 1 / 9),
    "diff": [[1, -1]],
    "motion": np.full((1, 9), 1 / 9),
}


@pytest.mark.parametrize("name", sorted(WRITTEN_OUT))
def test_builtin_values_match_conventions(name):
    """Each fixed built-in (and each default) has exactly the values CONVENTIONS.md gives."""
    k = get_kernel(name)
    assert k.weights.dtype == np.float64
    np.testing.assert_array_equal(k.weights, np.array(WRITTEN_OUT[name], dtype=float))


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("sobel", ("sobel-x", "sobel-y")),
        ("scharr", ("scharr-x", "scharr-y")),
        ("prewitt", ("prewitt-x", "prewitt-y")),
    ],
)
def test_magnitudes_are_made_of_their_written_out_pair(name, parts):
    """sobel/scharr/prewitt are magnitudes whose parts are the x and y kernels, weights = x."""
    k = get_kernel(name)
    assert k.is_magnitude and k.combine == "magnitude"
    np.testing.assert_array_equal(k.parts[0], np.array(WRITTEN_OUT[parts[0]], dtype=float))
    np.testing.assert_array_equal(k.parts[1], np.array(WRITTEN_OUT[parts[1]], dtype=float))
    np.testing.assert_array_equal(k.weights, k.parts[0])


@pytest.mark.parametrize(
    ("name", "oracle"),
    [
        ("sobel-x", lambda im: ndi.sobel(im, axis=1, mode="reflect")),
        ("sobel-y", lambda im: ndi.sobel(im, axis=0, mode="reflect")),
        ("prewitt-x", lambda im: ndi.prewitt(im, axis=1, mode="reflect")),
        ("prewitt-y", lambda im: ndi.prewitt(im, axis=0, mode="reflect")),
        ("laplacian", lambda im: ndi.laplace(im, mode="reflect")),
        ("box:5", lambda im: ndi.uniform_filter(im, size=5, mode="reflect")),
    ],
)
def test_builtins_agree_with_scipy_filters(image, name, oracle):
    """Correlating with the kernel gives scipy.ndimage's own filter on the interior."""
    k = get_kernel(name)
    np.testing.assert_allclose(
        correlate_interior(image, k.weights), interior(oracle(image), k.shape), atol=1e-9
    )


@pytest.mark.parametrize(("name", "slope"), [("sobel-x", 8), ("scharr-x", 32), ("prewitt-x", 6)])
def test_gradient_of_a_unit_ramp(name, slope):
    """A ramp rising by 1 per pixel to the right gives 2·sum(smoothing) (8 for Sobel)."""
    ramp = np.tile(np.arange(12.0), (9, 1))
    out = ndi.correlate(ramp, get_kernel(name).weights)[2:-2, 2:-2]
    np.testing.assert_array_equal(out, np.full_like(out, slope))
    y = name.replace("-x", "-y")
    out_y = ndi.correlate(ramp.T.copy(), get_kernel(y).weights)[2:-2, 2:-2]
    np.testing.assert_array_equal(out_y, np.full_like(out_y, slope))


def test_magnitude_parts_give_scipy_gradient_magnitude(image):
    """hypot of the sobel parts' responses equals hypot of scipy's sobel on both axes."""
    k = get_kernel("sobel")
    gx, gy = (correlate_interior(image, p) for p in k.parts)
    expected = np.hypot(ndi.sobel(image, axis=1), ndi.sobel(image, axis=0))
    np.testing.assert_allclose(np.hypot(gx, gy), interior(expected, k.shape), atol=1e-9)


def test_edge_x_is_positive_on_a_bright_to_dark_step():
    """edge-x gives +1 where a white pixel is followed by a black one (the textbook's sign)."""
    row = np.array([[1.0, 1.0, 0.0, 0.0]])
    # valid correlation with [[1, -1]]: out[i] = x[i] - x[i+1]
    k = get_kernel("edge-x").weights[0]
    out = [row[0, i] * k[0] + row[0, i + 1] * k[1] for i in range(3)]
    assert out == [0.0, 1.0, 0.0]


def test_box_sizes_and_alias():
    """box:N is N×N of 1/N² (even N too), and blur is the same kernel under another name."""
    np.testing.assert_array_equal(get_kernel("box:5").weights, np.full((5, 5), 1 / 25))
    np.testing.assert_array_equal(get_kernel("box:2").weights, np.full((2, 2), 0.25))
    np.testing.assert_array_equal(get_kernel("blur:4").weights, get_kernel("box:4").weights)
    assert KERNELS["blur"] is KERNELS["box"]


# --------------------------------------------------------------------------
# Gaussian family
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sigma", "size"), [(0.5, 5), (0.9, 9), (1.0, 9), (1.2, 11), (1.5, 13), (2.3, 19)]
)
def test_gaussian_sigma_only_matches_scipy(image, sigma, size):
    """gaussian:sigma=s is 2·int(4s+0.5)+1 wide and equals gaussian_filter(s) inside."""
    k = get_kernel(f"gaussian:sigma={sigma}")
    assert k.shape == (size, size)
    assert k.params == {"size": size, "sigma": sigma}
    expected = interior(ndi.gaussian_filter(image, sigma, mode="reflect"), k.shape)
    np.testing.assert_allclose(correlate_interior(image, k.weights), expected, atol=1e-9)


@pytest.mark.parametrize(("size", "sigma"), [(3, 0.8), (5, 1.1), (7, 1.4), (1, 0.5)])
def test_gaussian_size_only_uses_the_opencv_sigma(size, sigma):
    """gaussian:size=k has σ = 0.3((k−1)/2 − 1) + 0.8 and the scipy kernel of that σ, radius."""
    k = get_kernel(f"gaussian:{size}")
    assert k.shape == (size, size)
    assert k.params["sigma"] == pytest.approx(sigma)
    expected = impulse_response(ndi.gaussian_filter, size, sigma=sigma, radius=size // 2)
    np.testing.assert_allclose(k.weights, expected, atol=1e-15)


def test_gaussian_both_given_and_default():
    """size and sigma together are both used; no parameters means σ = 1 (9×9)."""
    k = get_kernel("gaussian:size=7,sigma=2.5")
    expected = impulse_response(ndi.gaussian_filter, 7, sigma=2.5, radius=3)
    np.testing.assert_allclose(k.weights, expected, atol=1e-15)
    default = get_kernel("gaussian")
    assert default.params == {"size": 9, "sigma": 1.0}
    np.testing.assert_allclose(
        default.weights, impulse_response(ndi.gaussian_filter, 9, sigma=1.0), atol=1e-15
    )


def test_gaussian_sums_to_one_and_separates():
    """A Gaussian kernel sums to 1, is symmetric and has rank 1."""
    k = get_kernel("gaussian:size=7,sigma=1.5")
    assert k.sum == pytest.approx(1.0, abs=1e-14)
    np.testing.assert_allclose(k.weights, k.weights.T, atol=0)
    assert k.is_separable and not k.is_zero_sum


@pytest.mark.parametrize("spec", ["unsharp", "unsharp:2.5", "unsharp:amount=0.5,size=5"])
def test_unsharp_is_identity_plus_amount_of_detail(spec):
    """unsharp = (1+a)·δ − a·G_σ, with G from scipy's gaussian_filter, and sums to 1."""
    k = get_kernel(spec)
    a, size, sigma = k.params["amount"], k.params["size"], k.params["sigma"]
    g = impulse_response(ndi.gaussian_filter, size, sigma=sigma, radius=size // 2)
    delta = np.zeros((size, size))
    delta[size // 2, size // 2] = 1.0
    np.testing.assert_allclose(k.weights, (1 + a) * delta - a * g, atol=1e-15)
    assert k.sum == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("spec", ["log", "log:sigma=2", "log:size=7", "log:size=5,sigma=0.8"])
def test_log_is_scipy_gaussian_laplace_minus_its_mean(spec):
    """log equals gaussian_laplace's impulse response shifted to sum to 0; centre negative."""
    k = get_kernel(spec)
    size, sigma = k.params["size"], k.params["sigma"]
    ref = impulse_response(ndi.gaussian_laplace, size, sigma=sigma, radius=size // 2)
    np.testing.assert_allclose(k.weights, ref - ref.mean(), atol=1e-14)
    assert abs(k.weights.sum()) < 1e-15
    assert k.weights[size // 2, size // 2] < 0
    assert k.is_zero_sum and not k.is_separable


# --------------------------------------------------------------------------
# motion and diff
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("motion:length=5,angle=0", np.full((1, 5), 0.2)),
        ("motion:5,180", np.full((1, 5), 0.2)),
        ("motion:length=5,angle=90", np.full((5, 1), 0.2)),
        ("motion:5,45", np.fliplr(np.eye(5)) / 5),  # bottom-left to top-right on screen
        ("motion:5,135", np.eye(5) / 5),
        ("motion:4,0", np.full((1, 4), 0.25)),
    ],
)
def test_motion_lines_at_simple_angles(spec, expected):
    """motion draws `length` cells of 1/length along the given angle."""
    np.testing.assert_allclose(get_kernel(spec).weights, expected, atol=1e-15)


@pytest.mark.parametrize("angle", [10, 30, 60, 100, 160, -25])
def test_motion_cells_lie_on_the_line(angle):
    """Every cell of motion:9 lies within half a pixel of the line through the anchor."""
    k = get_kernel(f"motion:length=9,angle={angle}")
    assert k.sum == pytest.approx(1.0)
    cells = np.argwhere(k.weights > 0)
    assert len(cells) == 9
    np.testing.assert_allclose(k.weights[k.weights > 0], 1 / 9)
    ar, ac = (k.shape[0] - 1) // 2, (k.shape[1] - 1) // 2
    t = math.radians(angle)
    for r, c in cells:
        x, y = c - ac, -(r - ar)  # y up, as on screen
        assert abs(-math.sin(t) * x + math.cos(t) * y) <= 0.5 + 1e-9


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
def test_diff_is_signed_numpy_diff(order):
    """diff:d correlated (valid) along a row is (−1)ᵈ·numpy.diff(row, d); y is its transpose."""
    row = np.random.default_rng(order).normal(size=20)
    k = get_kernel(f"diff:{order}")
    assert k.shape == (1, order + 1)
    taps = k.weights[0]
    valid = np.array([np.dot(taps, row[i : i + order + 1]) for i in range(20 - order)])
    np.testing.assert_allclose(valid, (-1) ** order * np.diff(row, n=order), atol=1e-12)
    np.testing.assert_array_equal(get_kernel(f"diff:order={order},axis=y").weights, k.weights.T)


def test_diff_taps_written_out():
    """diff of orders 1, 2, 3 has taps [1,−1], [1,−2,1], [1,−3,3,−1]."""
    assert get_kernel("diff:1").weights.tolist() == [[1, -1]]
    assert get_kernel("diff:2,x").weights.tolist() == [[1, -2, 1]]
    assert get_kernel("diff:order=3").weights.tolist() == [[1, -3, 3, -1]]
    assert get_kernel("diff:2,y").weights.tolist() == [[1], [-2], [1]]


# --------------------------------------------------------------------------
# Flags and the registry
# --------------------------------------------------------------------------

ZERO_SUM = {"edge", "edge-x", "edge-y", "laplacian", "laplacian8", "log", "diff"}
ZERO_SUM |= {f"{g}{s}" for g in ("sobel", "scharr", "prewitt") for s in ("", "-x", "-y")}
# the magnitudes are not linear filters, so not separable, though their parts are
NOT_SEPARABLE = {
    "sharpen",
    "edge",
    "laplacian",
    "laplacian8",
    "emboss",
    "log",
    "unsharp",
    "sobel",
    "scharr",
    "prewitt",
}


@pytest.mark.parametrize("name", kernel_names())
def test_zero_sum_and_separable_flags(name):
    """is_zero_sum and is_separable hold exactly for the kernels known to have them."""
    k = get_kernel(name)
    assert k.is_zero_sum == (name in ZERO_SUM)
    assert k.is_separable == (name not in NOT_SEPARABLE)
    assert k.is_magnitude == (name in {"sobel", "scharr", "prewitt"})


def test_zero_sum_ignores_rounding_and_magnitude_sees_its_parts():
    """Rounding (0.1 + 0.2 − 0.3) counts as zero sum; a real bias of 1e-6 does not."""
    assert Kernel("k", [[0.1, 0.2, -0.3]]).is_zero_sum
    assert not Kernel("k", [[1.0, -1.0 + 1e-6]]).is_zero_sum
    assert Kernel("zero", [[0.0, 0.0]]).is_zero_sum


def test_separable_factors_rebuild_the_kernel():
    """The column and row factors of sobel-x and a Gaussian multiply back to the kernel."""
    for spec in ("sobel-x", "gaussian:5", "box:3", "edge-x"):
        k = get_kernel(spec)
        col, row = k.separable_factors()
        np.testing.assert_allclose(np.outer(col, row), k.weights, atol=1e-12)
    col, row = get_kernel("sobel-x").separable_factors()
    np.testing.assert_allclose(col / col[0], [1, 2, 1])
    with pytest.raises(KernelError, match="kernel 'laplacian' is not separable"):
        get_kernel("laplacian").separable_factors()
    with pytest.raises(KernelError, match="magnitude"):
        get_kernel("sobel").separable_factors()


ISSUE_NAMES = """identity box blur gaussian sharpen unsharp edge edge-x edge-y laplacian
laplacian8 log sobel-x sobel-y scharr-x scharr-y prewitt-x prewitt-y sobel scharr prewitt
emboss motion diff""".split()


def test_registry_has_every_issue_kernel_sorted():
    """kernel_names() is sorted and holds exactly the names issue 3 lists."""
    names = kernel_names()
    assert names == sorted(names)
    assert set(names) == set(ISSUE_NAMES)
    assert "blur" not in kernel_names(aliases=False)


@pytest.mark.parametrize("name", ISSUE_NAMES)
def test_every_builtin_has_a_one_line_description_and_source(name):
    """Each kernel carries a one-line description and a source note, and a float64 array."""
    k = get_kernel(name)
    assert k.description and "\n" not in k.description
    assert k.source and "\n" not in k.source
    assert k.weights.ndim == 2 and not k.weights.flags.writeable


def test_lazy_public_names():
    """The kernel API is reachable from the convcli package."""
    assert convcli.resolve_kernel is resolve_kernel
    assert convcli.get_kernel is get_kernel
    assert convcli.format_kernel_text is format_kernel_text


# --------------------------------------------------------------------------
# Spec strings and their errors
# --------------------------------------------------------------------------


def test_spec_forms_are_equivalent():
    """Positional, keyword, mixed, upper-case and underscore spellings give the same kernel."""
    a = get_kernel("gaussian:size=7,sigma=1.5").weights
    for spec in ("gaussian:7,1.5", "gaussian:7,sigma=1.5", "Gaussian: size = 7 , sigma=1.5"):
        np.testing.assert_array_equal(get_kernel(spec).weights, a)
    np.testing.assert_array_equal(get_kernel("SOBEL_X").weights, get_kernel("sobel-x").weights)
    np.testing.assert_array_equal(get_kernel("diff:axis=Y").weights, [[1], [-1]])


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("sobl", "unknown kernel 'sobl'; did you mean sobel, sobel-x, sobel-y? "),
        ("gausian", "unknown kernel 'gausian'; did you mean gaussian? "),
        ("zzz", "unknown kernel 'zzz'; `convcli kernels` lists them all"),
        ("gaussian:sigm=2", "kernel 'gaussian' has no parameter 'sigm'; its parameters are "),
        ("sobel:3", "kernel 'sobel' takes no parameters, got '3'"),
        ("box:3,4", "kernel 'box' takes at most 1 parameter(s) (size), got 2"),
        ("box:x", "kernel 'box': `size` must be a whole number, got 'x' (usage: box[:size=3])"),
        ("box:2.5", "`size` must be a whole number, got '2.5'"),
        ("box:0", "kernel 'box': `size` must be at least 1, got 0"),
        ("gaussian:sigma=abc", "kernel 'gaussian': `sigma` must be a finite number, got 'abc'"),
        ("gaussian:sigma=nan", "`sigma` must be a finite number, got 'nan'"),
        ("gaussian:4", "kernel 'gaussian': `size` must be odd and at least 1, got 4"),
        ("log:sigma=0", "kernel 'log': `sigma` must be positive, got 0.0"),
        ("unsharp:size=2", "kernel 'unsharp': `size` must be odd"),
        ("diff:0", "kernel 'diff': `order` must be at least 1, got 0"),
        ("diff:axis=z", "kernel 'diff': `axis` must be one of x, y, got 'z'"),
        ("motion:length=0", "kernel 'motion': `length` must be at least 1, got 0"),
        ("box:size=3,size=5", "kernel 'box': `size` is given twice"),
        ("box:3,size=5", "kernel 'box': `size` is given twice"),
        ("diff:order=2,y", "kernel 'diff': positional value 'y' after a key=value parameter"),
    ],
)
def test_spec_errors(spec, message):
    """Each bad spec raises a one-line KernelError naming the kernel, parameter and value."""
    with pytest.raises(KernelError) as info:
        get_kernel(spec)
    text = str(info.value)
    assert text.startswith(message) or message in text
    assert "\n" not in text
    assert isinstance(info.value, ValueError)


def test_unknown_name_message_in_full():
    """The unknown-name error is the exact sentence the CLI shows."""
    with pytest.raises(KernelError) as info:
        get_kernel("sobl")
    assert str(info.value) == (
        "unknown kernel 'sobl'; did you mean sobel, sobel-x, sobel-y? "
        "`convcli kernels` lists them all"
    )


# --------------------------------------------------------------------------
# Inline matrices
# --------------------------------------------------------------------------

SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=float)


@pytest.mark.parametrize(
    "text",
    [
        "-1,0,1;-2,0,2;-1,0,1",
        "-1 0 1; -2 0 2; -1 0 1",
        " -1, 0, 1 ;\n-2 ,0, 2;-1,0,1; ",
        "-1 0 1\n-2 0 2\n-1 0 1\n",
        "[[-1,0,1],[-2,0,2],[-1,0,1]]",
        "3x3: -1,0,1,-2,0,2,-1,0,1",
        "3: -1 0 1  -2 0 2  -1 0 1",
        "3x3+1+1: -1,0,1,-2,0,2,-1,0,1",
    ],
)
def test_inline_matrix_forms(text):
    """Semicolon rows, spaces, a nested list and ImageMagick strings all give sobel-x."""
    k = parse_kernel(text)
    np.testing.assert_array_equal(k.weights, SOBEL_X)
    assert k.name == "inline"


def test_inline_small_forms():
    """'0 1; 2 3', a flat JSON list (one row) and a wide ImageMagick kernel read correctly."""
    np.testing.assert_array_equal(parse_kernel("0 1; 2 3").weights, [[0, 1], [2, 3]])
    np.testing.assert_array_equal(parse_kernel("[1, -1]").weights, [[1, -1]])
    np.testing.assert_array_equal(parse_kernel("[[1],[-1]]").weights, [[1], [-1]])
    np.testing.assert_array_equal(parse_kernel("2x1: 1,-1").weights, [[1, -1]])
    np.testing.assert_array_equal(parse_kernel("1x2: 1,-1").weights, [[1], [-1]])
    np.testing.assert_array_equal(parse_kernel("4x1+1+0: 1,2,3,4").weights, [[1, 2, 3, 4]])
    np.testing.assert_array_equal(parse_kernel("0.5,1e-1,-.25").weights, [[0.5, 0.1, -0.25]])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1,2,3;4,5", "row 2 has 2 values, expected 3"),
        ("1,2;3,4,5", "row 2 has 3 values, expected 2"),
        ("1,2;3", "row 2 has 1 value, expected 2"),
        ("1,a,3", "row 1: 'a' is not a number"),
        ("1,nan,3", "row 1 holds 'nan'; kernel values must be finite"),
        ("1;inf", "row 2 holds 'inf'; kernel values must be finite"),
        ("[[1,2],[3]]", "row 2 has 1 value, expected 2"),
        ("[[1,2],[3,NaN]]", "kernel values must be finite"),
        ("[[1, 2]", "not valid JSON"),
        ("[[]]", "empty kernel"),
        ("[]", "expected a nested list of numbers"),
        ('[["a"]]', "'a' is not a number"),
        ("[[true]]", "True is not a number"),
        ("   ", "empty kernel: no numbers given"),
        (";;", "empty kernel"),
        ("1,2;;3,4", "row 2 is empty"),
        ("3x3: 1,2,3", "ImageMagick kernel 3x3 needs 9 values, got 3"),
        ("3x3: 1,1,1,1,nan,1,1,1,1", "value 5 is 'nan', ImageMagick's 'not part of the"),
        ("3x3: 1,1,1,1,-,1,1,1,1", "value 5 is '-'"),
        ("3x3+0+0: 1,2,3,4,5,6,7,8,9", "ImageMagick origin +0+0 is not the kernel centre (+1+1)"),
        ("0x3:", "ImageMagick size 0x3 must be at least 1x1"),
    ],
)
def test_inline_errors(text, message):
    """Each malformed inline kernel raises one KernelError line naming the bad element."""
    with pytest.raises(KernelError) as info:
        parse_kernel(text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_text_file_with_comments_blank_lines_and_scale(tmp_path):
    """A .txt with comments, blank lines and scale=1/16 reads rows times the scale."""
    p = write(
        tmp_path / "blur.txt",
        "# binomial blur\n\n1 2 1   # top\n2 4 2\n\nscale = 1/16\n1 2 1\n",
    )
    k = load_kernel(p)
    np.testing.assert_array_equal(k.weights, np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16)
    assert k.name == "blur"
    assert k.description == "binomial blur"


def test_csv_file_and_decimal_scale(tmp_path):
    """A .csv with commas (and spaces) and scale=0.5 reads as rows of numbers halved."""
    p = write(tmp_path / "k.csv", "scale=0.5\n1, 2,3\n4,5 ,6\n")
    np.testing.assert_array_equal(load_kernel(p).weights, [[0.5, 1, 1.5], [2, 2.5, 3]])


def test_text_offset_line(tmp_path):
    """An offset= line is kept in Kernel.offset, not added to the weights."""
    p = write(tmp_path / "k.txt", "offset=128\n-1 1\n")
    k = load_kernel(p)
    assert k.offset == 128.0
    np.testing.assert_array_equal(k.weights, [[-1, 1]])


def test_npy_file(tmp_path):
    """A 2-D .npy (integers too) loads as float64."""
    p = tmp_path / "k.npy"
    np.save(p, np.array([[1, 2], [3, 4]], dtype=np.int16))
    k = load_kernel(p)
    assert k.weights.dtype == np.float64
    np.testing.assert_array_equal(k.weights, [[1, 2], [3, 4]])


def test_json_list_and_object(tmp_path):
    """A .json nested list, and an object with weights, scale, offset and description."""
    a = write(tmp_path / "a.json", "[[1, 0, -1]]")
    np.testing.assert_array_equal(load_kernel(a).weights, [[1, 0, -1]])
    b = write(
        tmp_path / "b.json",
        json.dumps({"weights": [[1, 2], [3, 4]], "scale": "1/4", "offset": 2, "description": "d"}),
    )
    k = load_kernel(b)
    np.testing.assert_array_equal(k.weights, [[0.25, 0.5], [0.75, 1.0]])
    assert (k.offset, k.description) == (2.0, "d")
    c = write(tmp_path / "c.json", json.dumps({"weights": [[2]], "scale": 0.5}))
    np.testing.assert_array_equal(load_kernel(c).weights, [[1.0]])


def test_libvips_file_divides_by_scale_and_keeps_offset(tmp_path):
    """A libvips .mat: header width height scale offset; weights / scale; offset kept."""
    p = write(tmp_path / "k.mat", "3 2 4 10\n1 2 3\n4 5 6\n")
    k = load_kernel(p)
    np.testing.assert_array_equal(k.weights, np.array([[1, 2, 3], [4, 5, 6]]) / 4)
    assert k.offset == 10.0
    q = write(tmp_path / "short.mat", '2 1\n"1", -1\n')
    np.testing.assert_array_equal(load_kernel(q).weights, [[1, -1]])


def test_libvips_detected_by_content_not_extension(tmp_path):
    """A .txt whose first line is a matching 'width height scale' header is read as libvips."""
    p = write(tmp_path / "k.txt", "3 1 2\n2 4 6\n")
    np.testing.assert_array_equal(load_kernel(p).weights, [[1, 2, 3]])
    # The same numbers after a comment are plain rows (libvips has no comments),
    # and a first line that does not match the rows below is a plain row too.
    q = write(tmp_path / "q.txt", "# plain\n3 1 2\n2 4 6\n")
    np.testing.assert_array_equal(load_kernel(q).weights, [[3, 1, 2], [2, 4, 6]])
    r = write(tmp_path / "r.txt", "2 1\n1 1\n1 1\n")
    np.testing.assert_array_equal(load_kernel(r).weights, [[2, 1], [1, 1], [1, 1]])


def test_imagemagick_string_in_a_file(tmp_path):
    """A file holding an ImageMagick kernel string over several lines reads as that kernel."""
    p = write(tmp_path / "k.txt", "# a comment\n2x2:\n 1, 2\n 3, 4\n")
    np.testing.assert_array_equal(load_kernel(p).weights, [[1, 2], [3, 4]])


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("ragged.txt", "1 2 3\n4 5\n", "row 2 (line 2) has 2 values, expected 3"),
        ("ragged2.csv", "# c\n1,2\n\n3,4,5\n", "row 2 (line 4) has 3 values, expected 2"),
        ("words.txt", "1 2\n3 x\n", "row 2 (line 2): 'x' is not a number"),
        ("nan.txt", "1 nan\n", "row 1 (line 1) holds 'nan'; kernel values must be finite"),
        ("inf.csv", "1,-inf\n", "holds '-inf'; kernel values must be finite"),
        ("empty.txt", "", "empty kernel: kernel file"),
        ("comments.txt", "# only\n\n# comments\n", "holds no numbers"),
        ("scale.txt", "scale=1/0\n1\n", "line 1: bad scale '1/0'"),
        ("scale2.txt", "scale=abc\n1\n", "bad scale 'abc': expected a number like 0.0625 or 1/16"),
        ("scale3.txt", "scale=0\n1\n", "line 1: scale must be non-zero"),
        ("scale4.txt", "scale=2\nscale=3\n1\n", "line 2: scale is given twice"),
        ("bad.json", "[[1, 2]", "not valid JSON"),
        ("key.json", '{"weights": [[1]], "scal": 2}', "unknown key 'scal'"),
        ("now.json", '{"scale": 2}', 'no "weights" key'),
        ("ragged.json", "[[1, 2], [3]]", "row 2 has 1 value, expected 2"),
        ("zero.json", '{"weights": [[1]], "scale": 0}', "scale must be non-zero"),
        ("rows.mat", "2 3\n1 2\n3 4\n", "the header says 3 rows, the file has 2"),
        ("cols.mat", "3 2\n1 2\n3 4\n", "row 1 has 2 values, expected 3"),
        ("head.mat", "a b\n1 2\n", "the first line 'a b' is not a libvips header"),
        ("scale.mat", "2 1 0\n1 2\n", "bad scale 0.0: libvips scale must be non-zero"),
        ("ragged.mat", "2 2\n1 2\n3\n", "row 2 has 1 value, expected 2"),
        ("magick.txt", "3x3: 1 2 3\n", "ImageMagick kernel 3x3 needs 9 values, got 3"),
    ],
)
def test_file_errors(tmp_path, name, content, message):
    """Each malformed kernel file raises one KernelError line naming the file and element."""
    p = write(tmp_path / name, content)
    with pytest.raises(KernelError) as info:
        load_kernel(p)
    text = str(info.value)
    assert message in text
    assert name in text
    assert "\n" not in text


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.ones(3), "holds a 1-D array of shape (3,); a kernel must be 2-D"),
        (np.ones((2, 2, 2)), "holds a 3-D array of shape (2, 2, 2)"),
        (np.ones((0, 3)), "empty kernel"),
        (np.array([[1.0, np.nan]]), "row 1, column 2 is nan; kernel values must be finite"),
        (np.ones((2, 2), dtype=complex), "holds complex128 values"),
    ],
)
def test_npy_errors(tmp_path, array, message):
    """A .npy that is not a finite real 2-D array is refused, naming the file."""
    p = tmp_path / "bad.npy"
    np.save(p, array)
    with pytest.raises(KernelError, match=r"bad\.npy") as info:
        load_kernel(p)
    assert message in str(info.value)


def test_unreadable_files_are_named(tmp_path):
    """A missing file, a directory, a pickled .npy and binary junk each name the file."""
    with pytest.raises(KernelError, match=r"cannot read kernel file '.*nope\.txt'"):
        load_kernel(tmp_path / "nope.txt")
    with pytest.raises(KernelError, match="cannot read kernel file"):
        load_kernel(tmp_path)
    p = tmp_path / "obj.npy"
    np.save(p, np.array([{"a": 1}], dtype=object))
    with pytest.raises(KernelError, match=r"obj\.npy' is not a readable \.npy array"):
        load_kernel(p)
    junk = tmp_path / "junk.txt"
    junk.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(KernelError, match=r"junk\.txt' is not a text file"):
        load_kernel(junk)


# --------------------------------------------------------------------------
# The shipped kernels/ folder
# --------------------------------------------------------------------------

BINOMIAL5 = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256
SHIPPED = {
    "sobel_x.txt": (SOBEL_X / 8, 0.0),
    "gaussian5.csv": (BINOMIAL5, 0.0),
    "sharpen.json": (np.array([[-1, -1, -1], [-1, 9, -1], [-1, -1, -1]]), 0.0),
    "ridge.npy": (np.array([[-1, -1, -1], [2, 2, 2], [-1, -1, -1]]), 0.0),
    "gaussian3.mat": (np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16, 0.0),
    "emboss.mat": (np.array([[-1, -1, 0], [-1, 0, 1], [0, 1, 1]]), 128.0),
    "edge_magick.txt": (np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]), 0.0),
}


def test_shipped_folder_is_fully_covered():
    """Every file in kernels/ (but its README) is checked below."""
    files = {p.name for p in KERNEL_DIR.iterdir() if p.name != "README.md"}
    assert files == set(SHIPPED)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_kernel_files(name):
    """Each shipped example kernel file loads (via resolve_kernel) to its written-out values."""
    weights, offset = SHIPPED[name]
    k = resolve_kernel(str(KERNEL_DIR / name))
    np.testing.assert_array_equal(k.weights, weights)
    assert k.offset == offset
    assert k.name == Path(name).stem


def test_shipped_magick_edge_equals_builtin_edge():
    """ImageMagick's Laplacian:0 in kernels/ is convcli's built-in edge."""
    k = load_kernel(KERNEL_DIR / "edge_magick.txt")
    np.testing.assert_array_equal(k.weights, get_kernel("edge").weights)


# --------------------------------------------------------------------------
# resolve_kernel and the text format
# --------------------------------------------------------------------------


def test_resolve_picks_file_matrix_or_name(tmp_path):
    """An existing file is loaded, a matrix is parsed, anything else is a built-in name."""
    p = write(tmp_path / "laplacian", "1 2\n")  # a file wins over the built-in name
    np.testing.assert_array_equal(resolve_kernel(str(p)).weights, [[1, 2]])
    np.testing.assert_array_equal(resolve_kernel("1,-1").weights, [[1, -1]])
    np.testing.assert_array_equal(resolve_kernel("-1 1").weights, [[-1, 1]])
    np.testing.assert_array_equal(resolve_kernel(".5").weights, [[0.5]])
    np.testing.assert_array_equal(resolve_kernel("[[1],[-1]]").weights, [[1], [-1]])
    np.testing.assert_array_equal(resolve_kernel("2x1: 1,-1").weights, [[1, -1]])
    np.testing.assert_array_equal(resolve_kernel("box:2").weights, np.full((2, 2), 0.25))


def test_resolve_errors(tmp_path):
    """A missing path says 'cannot read', a misspelt name suggests names, '' is refused."""
    with pytest.raises(KernelError, match=r"cannot read kernel file 'missing\.csv'"):
        resolve_kernel("missing.csv")
    with pytest.raises(KernelError, match="cannot read kernel file"):
        resolve_kernel(str(tmp_path / "sub" / "k"))
    with pytest.raises(KernelError, match=r"cannot read kernel file 'k': "):
        resolve_kernel("./k")
    with pytest.raises(KernelError, match="did you mean laplacian"):
        resolve_kernel("laplacain")
    with pytest.raises(KernelError, match="empty kernel"):
        resolve_kernel("  ")


def test_format_text_exact_layout():
    """The text format has a '# name: description' header, a source line and the rows."""
    k = Kernel("mine", [[1.0, -0.5], [0.1, 2.0]], "two by two", "hand-made", offset=3.0)
    assert format_kernel_text(k) == (
        "# mine: two by two\n# source: hand-made\noffset=3.0\n1, -0.5\n0.1, 2\n"
    )


@pytest.mark.parametrize("name", [n for n in kernel_names() if not get_kernel(n).is_magnitude])
def test_builtins_round_trip_through_text(tmp_path, name):
    """Every linear built-in written by format_kernel_text reads back bit for bit."""
    k = get_kernel(name)
    p = write(tmp_path / "k.txt", format_kernel_text(k))
    np.testing.assert_array_equal(load_kernel(p).weights, k.weights)


def test_format_refuses_a_magnitude():
    """A gradient magnitude has no single matrix, so writing it as text is refused."""
    with pytest.raises(KernelError, match="kernel 'sobel' is the magnitude of two kernels"):
        format_kernel_text(get_kernel("sobel"))


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=150, deadline=None)
@given(
    weights=st.tuples(st.integers(1, 5), st.integers(1, 5)).flatmap(
        lambda shape: arrays(np.float64, shape, elements=finite)
    ),
    offset=finite,
)
def test_text_format_round_trips_any_matrix(weights, offset):
    """format_kernel_text → load_kernel returns exactly the weights and offset written."""
    k = Kernel("random", weights, "hypothesis", offset=offset)
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "k.txt"
        p.write_text(format_kernel_text(k), encoding="utf-8")
        back = load_kernel(p)
    np.testing.assert_array_equal(back.weights, weights)
    assert back.offset == offset


@settings(max_examples=100, deadline=None)
@given(
    st.tuples(st.integers(1, 4), st.integers(1, 4)).flatmap(
        lambda shape: arrays(np.float64, shape, elements=finite)
    )
)
def test_inline_matrix_round_trips(weights):
    """Rows joined with ';' and repr-formatted values parse back to the same matrix."""
    text = ";".join(",".join(repr(float(v)) for v in row) for row in weights)
    np.testing.assert_array_equal(parse_kernel(text).weights, weights)


# --------------------------------------------------------------------------
# The Kernel value itself
# --------------------------------------------------------------------------


def test_kernel_validates_its_weights():
    """Kernel refuses 1-D, empty and non-finite weights and keeps its array read-only."""
    with pytest.raises(KernelError, match="must be 2-D, got 1-D"):
        Kernel("k", [1.0, 2.0])
    with pytest.raises(KernelError, match="empty kernel"):
        Kernel("k", np.ones((0, 2)))
    with pytest.raises(KernelError, match="row 2, column 1 is inf"):
        Kernel("k", [[1.0], [np.inf]])
    with pytest.raises(KernelError, match="not an array of numbers"):
        Kernel("k", [["a"]])
    source = np.ones((2, 2))
    k = Kernel("k", source)
    source[0, 0] = 5.0  # the kernel holds its own copy
    assert k.weights[0, 0] == 1.0
    with pytest.raises(ValueError, match="read-only"):
        k.weights[0, 0] = 2.0
    assert k.shape == (2, 2) and k.sum == 4.0


def test_kernel_validates_its_parts():
    """A magnitude needs two same-shape parts and combine='magnitude'."""
    with pytest.raises(KernelError, match="must be given together"):
        Kernel("k", [[1.0]], parts=([[1.0]], [[1.0]]))
    with pytest.raises(KernelError, match="differ in shape"):
        Kernel("k", [[1.0]], parts=([[1.0]], [[1.0, 2.0]]), combine="magnitude")
    with pytest.raises(KernelError, match="must be 'magnitude'"):
        Kernel("k", [[1.0]], parts=([[1.0]], [[1.0]]), combine="sum")
    with pytest.raises(KernelError, match="offset must be finite"):
        Kernel("k", [[1.0]], offset=math.nan)


def test_docs_describe_every_builtin():
    """docs/kernels.md has a section for every built-in and mentions every shipped file."""
    docs = (KERNEL_DIR.parent / "docs" / "kernels.md").read_text(encoding="utf-8")
    headings = [line for line in docs.splitlines() if line.startswith("### ")]
    for name in kernel_names():
        assert any(name in re.split(r"[\s,()]+", h) for h in headings), name
    for name in SHIPPED:
        assert f"kernels/{name}" in docs, name


def test_json_weights_are_json_numbers_for_filter_as_for_conv(tmp_path):
    """A JSON kernel of digit strings was a kernel to `filter` and refused by `conv`;
    both refuse it now, naming the string (the docs: a nested list of numbers)."""
    from convcli.errors import ConvcliError
    from convcli.teaching.matrices import parse_matrix

    path = tmp_path / "k.json"
    path.write_text('[["1", "2"], ["3", "4"]]')
    with pytest.raises(KernelError, match="row 1: '1' is not a number"):
        load_kernel(path)
    with pytest.raises(ConvcliError, match=r"'\d' is not a number"):
        parse_matrix(str(path), "--kernel")
