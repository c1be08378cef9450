"""One layout rule: a .npy file is a channels-first tensor for every command.

(H, W), (C, H, W) or (N, C, H, W), read and written that way by `filter`,
`pool`, `conv` and `learn`; image files are images. The oracles are written
here: explicit-loop pooling and scipy.ndimage.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import scipy.ndimage
from helpers import run

POOL_ARGS = ("--size", "3", "--padding", "1", "--stride", "2")


def loop_max_pool(x, k, pad, stride):
    """Max pooling of each (H, W) plane of a (C, H, W) array, padding never winning: loops."""
    c, h, w = x.shape
    oh = (h + 2 * pad - k) // stride + 1
    ow = (w + 2 * pad - k) // stride + 1
    out = np.empty((c, oh, ow))
    for ch in range(c):
        for i in range(oh):
            for j in range(ow):
                best = -np.inf
                for u in range(k):
                    for v in range(k):
                        r, q = i * stride + u - pad, j * stride + v - pad
                        if 0 <= r < h and 0 <= q < w:
                            best = max(best, x[ch, r, q])
                out[ch, i, j] = best
    return out


@pytest.fixture
def d2l(tmp_path):
    """The textbook's two-channel input: X = arange(16) as 4x4, stacked with X + 1: (2, 4, 4)."""
    x = np.arange(16, dtype=np.float32).reshape(4, 4)
    data = np.stack([x, x + 1])
    path = tmp_path / "x.npy"
    np.save(path, data)
    return path, data


def test_d2l_two_channel_pool_npy(tmp_path, d2l):
    """`pool x.npy` on the (2, 4, 4) example: two 2x2 planes, [[5, 7], [13, 15]] and [[6, 8], ...]."""
    path, data = d2l
    out = tmp_path / "y.npy"
    result = run("pool", path, "--size", "3", "--padding", "1", "--stride", "2", "-o", out)
    assert result.exit_code == 0, result.output
    got = np.load(out)
    expected = loop_max_pool(data, 3, 1, 2)
    assert got.shape == (2, 2, 2)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(expected, [[[5, 7], [13, 15]], [[6, 8], [14, 16]]])


def test_d2l_two_channel_pool_printed(tmp_path, d2l):
    """The same example printed as numbers: `pool -o -` piped into `conv --pool max --size 1`."""
    path, data = d2l
    pooled = subprocess.run(
        [sys.executable, "-m", "convcli", "pool", str(path), "-o", "-", *POOL_ARGS],
        capture_output=True,
        timeout=60,
    )
    assert pooled.returncode == 0, pooled.stderr
    printed = run("conv", "-i", "-", "--pool", "max", "--size", "1", input=pooled.stdout)
    assert printed.exit_code == 0, printed.output
    expected = loop_max_pool(data, 3, 1, 2).astype(int)
    assert printed.stdout == (
        f"[[[ {expected[0, 0, 0]},  {expected[0, 0, 1]}],\n"
        f"  [{expected[0, 1, 0]}, {expected[0, 1, 1]}]],\n\n"
        f" [[ {expected[1, 0, 0]},  {expected[1, 0, 1]}],\n"
        f"  [{expected[1, 1, 0]}, {expected[1, 1, 1]}]]]\n"
    )


@pytest.mark.parametrize("command", ["pool", "conv"])
def test_one_channel_tensor_pools_to_one_channel(tmp_path, command):
    """A (1, 3, 3) tensor max-pooled 2x2 at stride 1 is (1, 2, 2), by pool and by conv --pool."""
    x = np.arange(9, dtype=np.float64).reshape(1, 3, 3)
    np.save(tmp_path / "t.npy", x)
    out = tmp_path / "p.npy"
    if command == "pool":
        args = ["pool", tmp_path / "t.npy", "-o", out]
    else:
        args = ["conv", "-i", tmp_path / "t.npy", "--pool", "max", "-o", out]
    result = run(*args, "--size", "2", "--stride", "1")
    assert result.exit_code == 0, result.output
    got = np.load(out)
    assert got.shape == (1, 2, 2)
    np.testing.assert_array_equal(got, loop_max_pool(x, 2, 0, 1))


def test_filter_npy_then_pool_keeps_the_layout(tmp_path):
    """filter -> .npy -> pool: a colour (H, W, 3) image comes out (3, H', W'), scipy's numbers."""
    import PIL.Image

    rgb = np.random.default_rng(7).integers(0, 256, size=(12, 10, 3), dtype=np.uint8)
    PIL.Image.fromarray(rgb).save(tmp_path / "c.png")
    result = run(
        "filter", tmp_path / "c.png", "-k", "1 0 -1; 2 0 -2; 1 0 -1", "-o", tmp_path / "f.npy"
    )
    assert result.exit_code == 0, result.output
    kernel = np.array([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]])
    planes = np.stack(
        [
            scipy.ndimage.correlate(rgb[..., c].astype(float), kernel, mode="mirror")
            for c in range(3)
        ]
    )
    filtered = np.load(tmp_path / "f.npy")
    assert filtered.shape == (3, 12, 10)
    np.testing.assert_allclose(filtered, planes, atol=1e-9)

    result = run("pool", tmp_path / "f.npy", "--size", "2", "-o", tmp_path / "p.npy")
    assert result.exit_code == 0, result.output
    pooled = np.load(tmp_path / "p.npy")
    expected = scipy.ndimage.maximum_filter(planes, size=(1, 2, 2), origin=(0, -1, -1))[:, ::2, ::2]
    assert pooled.shape == (3, 6, 5)
    np.testing.assert_allclose(pooled, expected, atol=1e-9)

    # conv and learn read the same file the same way: channel c is colour c
    result = run(
        "conv",
        "-i",
        tmp_path / "f.npy",
        "--pool",
        "max",
        "--size",
        "2",
        "-f",
        "npy",
        "-o",
        tmp_path / "q.npy",
    )
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(np.load(tmp_path / "q.npy"), expected, atol=1e-9)
