"""Separable kernels run as two 1-D passes, counted by their factors (issue 21 item 15).

The oracle is numpy's own padding (``np.pad`` in the mode convcli's name
translates to, CONVENTIONS.md) followed by ``scipy.ndimage.correlate1d``
down the rows and along them on the padded array, the valid part kept and
subsampled by the stride: nothing of convcli but the call under test.
"""

from __future__ import annotations

import subprocess

import numpy as np
import PIL.Image
import pytest
import scipy.ndimage as ndi
from terminal import convcli_executable

from convcli import LimitError, ShapeError, get_kernel
from convcli.engine.passes import filter2d_separable, pass_cost

#: convcli's pad mode -> numpy.pad's
NP_MODES = {
    "zeros": "constant",
    "reflect": "reflect",
    "symmetric": "symmetric",
    "replicate": "edge",
    "circular": "wrap",
}


def _oracle(img, col, row, stride, pad, dilation, mode, value=0.0):
    """Correlate with outer(col, row) by np.pad + correlate1d twice; pad = (t, b, l, r)."""
    (sh, sw), (dh, dw) = stride, dilation
    t, b, left, right = pad
    kwargs = {"constant_values": value} if mode == "zeros" else {}
    padded = np.pad(img.astype(np.float64), ((t, b), (left, right)), NP_MODES[mode], **kwargs)
    taps_c = np.zeros((len(col) - 1) * dh + 1)
    taps_c[::dh] = col
    taps_r = np.zeros((len(row) - 1) * dw + 1)
    taps_r[::dw] = row
    # origin puts tap 0 on the output cell: correlate1d centres the kernel
    a = ndi.correlate1d(padded, taps_c, axis=0, mode="constant", origin=-(len(taps_c) // 2))
    a = ndi.correlate1d(a, taps_r, axis=1, mode="constant", origin=-(len(taps_r) // 2))
    oh = (padded.shape[0] - len(taps_c)) // sh + 1
    ow = (padded.shape[1] - len(taps_r)) // sw + 1
    return a[: (oh - 1) * sh + 1 : sh, : (ow - 1) * sw + 1 : sw]


CASES = [
    # (kh, kw, stride, padding 4-tuple, dilation, mode, box?)
    (301, 5, (1, 1), (150, 150, 2, 2), (1, 1), "reflect", True),
    (5, 401, (2, 3), (0, 0, 200, 200), (1, 1), "zeros", False),
    (301, 301, (1, 1), (300, 300, 300, 300), (1, 1), "zeros", True),
    (300, 7, (1, 1), (149, 150, 3, 3), (1, 2), "circular", False),
    (401, 3, (3, 1), (200, 200, 1, 1), (1, 1), "symmetric", True),
    (260, 261, (1, 1), (250, 250, 400, 140), (2, 2), "replicate", False),
]


@pytest.mark.parametrize("kh,kw,stride,pad,dilation,mode,box", CASES)
@pytest.mark.parametrize("value", [0.0, 2.5])
def test_passes_match_numpy_padding_and_correlate1d(
    kh, kw, stride, pad, dilation, mode, box, value
):
    """Filtering by the factors equals correlating the np.pad-ed image with both of them."""
    rng = np.random.default_rng(7)
    img = rng.random((37, 53))
    col = np.full(kh, 1 / kh) if box else rng.random(kh) - 0.3
    row = rng.random(kw)
    got = filter2d_separable(
        img, col, row, stride, pad, dilation, mode, pad_value=value, dtype="float64"
    )
    want = _oracle(img, col, row, stride, pad, dilation, mode, value)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10 * np.abs(want).max())


def test_colour_planes_and_convolve_flip_both_factors():
    """Each channel is filtered on its own, and convolve flips column and row (scipy's convolve)."""
    rng = np.random.default_rng(8)
    img = rng.random((30, 40, 3)).astype(np.float32)
    col, row = rng.random(301), rng.random(3)
    got = filter2d_separable(img, col, row, padding="same", pad_mode="zeros", convolve=True)
    assert got.dtype == np.float32 and got.shape == img.shape
    for c in range(3):
        want = ndi.convolve(img[..., c].astype(np.float64), np.outer(col, row), mode="constant")
        np.testing.assert_allclose(got[..., c], want, rtol=2e-5, atol=2e-5 * np.abs(want).max())


def test_each_pass_takes_its_cheapest_form():
    """A box is a running sum, whatever its length; a short factor multiply-adds; a long one FFTs."""
    assert pass_cost(np.full(20001, 0.5), 1, 20300, 300) == "box"
    assert pass_cost(np.full(20001, 0.5), 2, 40301, 300) == "fft"  # dilated: not a window sum
    assert pass_cost(np.array([1.0, 2.0, 1.0]), 1, 1002, 1000) == "taps"
    assert pass_cost(np.ones(8001) + np.arange(8001), 1, 8300, 300) == "fft"


def test_a_kernel_the_tiles_need_whole_is_refused_naming_the_strategy():
    """--strategy direct cannot run a 20001² box without its 3.2 GB: a LimitError saying what can."""
    f = np.full(20001, 1 / 20001)
    with pytest.raises(
        LimitError, match=r"strategy 'direct' needs the whole 20001×20001.*--strategy"
    ):
        filter2d_separable(np.ones((30, 30)), f, f, strategy="direct")


def test_bad_factors_are_shape_errors():
    with pytest.raises(ShapeError, match="`column` must be 1-D"):
        filter2d_separable(np.ones((5, 5)), np.ones((3, 3)), [1.0])
    with pytest.raises(ShapeError, match="`row` is empty"):
        filter2d_separable(np.ones((5, 5)), [1.0], [])
    with pytest.raises(ShapeError, match="non-finite"):
        filter2d_separable(np.ones((5, 5)), [1.0, np.nan], [1.0])


def test_large_built_ins_are_known_by_their_factors():
    """box:20001 and gaussian:sigma=1000 hold 2·k numbers; showing them whole is refused."""
    box = get_kernel("box:20001")
    assert box.factors is not None and box.shape == (20001, 20001)
    assert box.is_separable and not box.is_zero_sum
    assert box.sum == pytest.approx(1.0)
    gauss = get_kernel("gaussian:sigma=1000")
    assert gauss.shape == (8001, 8001)
    g = gauss.factors[0]
    x = np.arange(-4000, 4001)
    want = np.exp(-0.5 * (x / 1000.0) ** 2)
    np.testing.assert_allclose(g, want / want.sum(), rtol=1e-12)
    with pytest.raises(LimitError, match="2-D weights of kernel 'box'"):
        _ = box.weights
    small = get_kernel("box:301")  # factors too, and small enough to build
    np.testing.assert_allclose(small.weights, np.full((301, 301), 1 / 301**2), rtol=1e-15)


def _png(path, rng, shape=(120, 160)):
    PIL.Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(path)


def _filter(folder, *args: str) -> subprocess.CompletedProcess:
    """The installed ``convcli filter in.png ARGS`` run in ``folder``."""
    return subprocess.run(
        [convcli_executable(), "filter", "in.png", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    "spec,oracle",
    [
        ("box:20001", lambda a: ndi.uniform_filter(a, 20001, mode="mirror")),
        ("gaussian:sigma=1000", lambda a: ndi.gaussian_filter(a, 1000, mode="mirror", truncate=4)),
    ],
)
def test_the_command_filters_with_a_huge_separable_kernel(tmp_path, spec, oracle):
    """Was exit 2 ("20001×20001 = 400040001 taps … over the limit"): now the blur, as scipy's."""
    rng = np.random.default_rng(9)
    _png(tmp_path / "in.png", rng)
    done = _filter(tmp_path, "-k", spec, "-o", "out.npy")
    assert done.returncode == 0, done.stderr
    got = np.load(tmp_path / "out.npy")
    src = np.asarray(PIL.Image.open(tmp_path / "in.png"), dtype=np.float64)
    np.testing.assert_allclose(got, oracle(src), rtol=1e-4, atol=1e-3)


def test_the_command_names_the_option_for_a_strategy_that_needs_the_whole_kernel(tmp_path):
    _png(tmp_path / "in.png", np.random.default_rng(10))
    done = _filter(tmp_path, "-k", "box:20001", "--strategy", "fft", "-o", "out.png")
    assert done.returncode == 2, done.stderr
    (last,) = done.stderr.strip().splitlines()
    assert last.startswith("Error: strategy 'fft' needs the whole 20001×20001 kernel")
    assert "--strategy" in last
    assert not (tmp_path / "out.png").exists()
