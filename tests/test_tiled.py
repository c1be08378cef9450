"""Images larger than memory: tiled TIFF and zarr filtered block by block, on one machine
and across a real Dask cluster.

The oracle is always :func:`convcli.filter2d` on the whole array in memory
(the engine every other path is checked against); inputs are written with
tifffile and zarr directly, never with convcli. The images are larger than
one tile and one block, with odd sizes, so halos cross block edges on every
side.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

tifffile = pytest.importorskip("tifffile")
zarr = pytest.importorskip("zarr")

from test_cluster import run, scheduler_file  # noqa: E402, F401  (the real-cluster fixture)

from convcli.engine.convolution import filter2d  # noqa: E402
from convcli.errors import ParameterError  # noqa: E402
from convcli.images.filtering import FilterSettings  # noqa: E402
from convcli.images.tiled import filter_tiled, read_window  # noqa: E402
from convcli.kernels.kernel import Kernel  # noqa: E402

MODES = ["zeros", "reflect", "symmetric", "replicate", "circular"]
#: odd, even, rectangular (wide and tall) kernels, with their dilations
KERNELS = {
    "odd3x5": (np.arange(15.0).reshape(3, 5) - 7, 1),
    "even4x4-d2": (np.arange(16.0).reshape(4, 4) - 7.5, 2),
    "wide1x2-d3": (np.array([[1.0, -1.0]]), 3),
    "tall5x2": (np.arange(10.0).reshape(5, 2) ** 1.5, 1),
}
#: a rank-1 kernel, so the separable strategy applies
SEPARABLE = np.outer([1.0, 2.0, 1.0], [1.0, 0.0, -1.0, 3.0])


def _image(shape=(301, 517), seed=1, dtype=np.uint8) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape).astype(dtype)


@pytest.fixture(scope="module")
def tiled_tiff(tmp_path_factory) -> tuple[Path, np.ndarray]:
    folder = tmp_path_factory.mktemp("tiled")
    img = _image()
    path = folder / "in.tif"
    tifffile.imwrite(path, img, tile=(64, 128))  # 5 x 5 tiles, the last ones partial
    with tifffile.TiffFile(path) as tif:
        assert tif.pages[0].is_tiled
    return path, img


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(KERNELS))
@pytest.mark.parametrize("strategy", ["direct", "im2col"])
def test_tiled_tiff_matches_the_whole_image_bit_for_bit(tiled_tiff, tmp_path, mode, name, strategy):
    path, img = tiled_tiff
    weights, dilation = KERNELS[name]
    settings = FilterSettings(pad_mode=mode, dilation=dilation, strategy=strategy)
    out = tmp_path / "out.tif"
    filter_tiled(str(path), str(out), Kernel("k", weights), settings, value_range="raw", block=256)
    got = tifffile.imread(out)
    expected = filter2d(img, weights, dilation=dilation, pad_mode=mode, strategy=strategy)
    assert got.dtype == expected.dtype == np.float32
    if strategy == "direct" and "scipy.linalg" not in sys.modules:
        np.testing.assert_array_equal(got, expected)  # numpy's axpy: the same roundings
    else:
        # BLAS may sum a dot product in another order for another matrix width, and
        # its axpy (direct's, once scipy.linalg is loaded) rounds a block's tail apart
        np.testing.assert_allclose(got, expected, rtol=2e-7, atol=0)


@pytest.mark.parametrize("mode", MODES)
def test_separable_strategy_and_float64_are_exact(tmp_path, mode):
    img = _image((203, 389), seed=3).astype(np.float64) / 7
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, img, tile=(32, 64))
    out = tmp_path / "out.tif"
    settings = FilterSettings(pad_mode=mode, strategy="separable")
    filter_tiled(str(src), str(out), Kernel("k", SEPARABLE), settings, value_range="raw", block=64)
    expected = filter2d(img, SEPARABLE, pad_mode=mode, strategy="separable")
    # raw output is float32: the float64 responses rounded once
    np.testing.assert_array_equal(tifffile.imread(out), expected.astype(np.float32))


def test_zarr_in_and_zarr_out(tmp_path):
    img = _image((333, 271), seed=5)
    src = tmp_path / "in.zarr"
    z = zarr.open_array(str(src), mode="w", shape=img.shape, chunks=(100, 90), dtype=img.dtype)
    z[:] = img
    out = tmp_path / "out.zarr"
    weights = np.array([[1.0, 2.0, 0.0], [-1.0, 0.0, 4.0]])
    settings = FilterSettings(pad_mode="symmetric", dilation=(2, 1))
    filter_tiled(str(src), str(out), Kernel("k", weights), settings, value_range="raw", block=256)
    got = zarr.open_array(str(out), mode="r")[:]
    np.testing.assert_array_equal(
        got, filter2d(img, weights, dilation=(2, 1), pad_mode="symmetric")
    )
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


def test_read_window_reads_both_ends_of_a_circular_axis():
    img = np.arange(20).reshape(4, 5)
    calls = []

    def read(r, c):
        calls.append((r, c))
        return img[r, c]

    rows, cols = np.array([3, 0, 1]), np.array([4, 0, 1, 2])
    np.testing.assert_array_equal(read_window(read, rows, cols), img[rows][:, cols])
    assert len(calls) == 4  # two row stretches x two column stretches, not the whole image


def test_a_float_image_in_tiles_needs_range_raw(tmp_path):
    src = tmp_path / "f.tif"
    tifffile.imwrite(src, _image((70, 90)).astype(np.float32), tile=(32, 32))
    lap = Kernel("laplacian", np.array([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]))
    with pytest.raises(ParameterError, match="give --range raw"):
        filter_tiled(str(src), str(tmp_path / "o.tif"), lap, value_range="clip")


# --- the command line -------------------------------------------------------------------------


def _rgb_tiff(folder: Path) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(7)
    img = (np.add.outer(np.arange(301), np.arange(389)) % 256).astype(np.uint8)
    rgb = np.stack([img, img[::-1], rng.integers(0, 256, img.shape).astype(np.uint8)], axis=-1)
    path = folder / "rgb.tif"
    tifffile.imwrite(path, rgb, tile=(64, 64), photometric="rgb")
    return path, rgb


def test_cli_streams_a_tiled_tiff_above_max_pixels_like_the_whole_image_path(tmp_path):
    path, _ = _rgb_tiff(tmp_path)
    streamed = run("filter", path.name, "-k", "sobel", "--max-pixels", "1000", cwd=tmp_path)
    assert streamed.returncode == 0, streamed.stderr
    assert "wrote rgb-sobel.tif" in streamed.stderr
    whole = run("filter", path.name, "-k", "sobel", "-o", "whole.png", cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr
    import PIL.Image

    expected = np.asarray(PIL.Image.open(tmp_path / "whole.png"))
    got = tifffile.imread(tmp_path / "rgb-sobel.tif")
    assert got.shape == expected.shape == (301, 389, 3)
    np.testing.assert_array_equal(got, expected)
    with tifffile.TiffFile(tmp_path / "rgb-sobel.tif") as tif:
        assert tif.is_bigtiff and tif.pages[0].is_tiled
    again = run("filter", path.name, "-k", "sobel", "--max-pixels", "1000", cwd=tmp_path)
    assert again.returncode == 1 and "exists; pass --overwrite" in again.stderr


def test_cli_raw_zarr_output_matches_filter2d(tiled_tiff, tmp_path):
    path, img = tiled_tiff
    res = run(
        "filter", path, "-k", "1,2,3,4;5,6,7,8", "--dilation", "2", "--pad-mode", "circular",
        "--range", "raw", "-o", "out.zarr", cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    weights = np.arange(1.0, 9.0).reshape(2, 4)
    expected = filter2d(img, weights, dilation=2, pad_mode="circular")
    np.testing.assert_array_equal(
        zarr.open_array(str(tmp_path / "out.zarr"), mode="r")[:], expected
    )


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["big.png", "-k", "sobel", "--max-pixels", "1000"], 2, "convert it to a tiled TIFF or a .zarr"),
        (["big.tif", "-k", "sobel", "-k", "box", "--max-pixels", "1000", "-o", "o.zarr", "--scheduler", "local:1"], 2, "one --kernel"),
        (["big.tif", "-k", "sobel", "--max-pixels", "1000", "-o", "o.png"], 2, "give -o NAME.tif or -o NAME.zarr"),
        (["big.tif", "-k", "sobel", "--chunk", "512", "--max-pixels", "1000"], 2, "--chunk needs --scheduler"),
    ],
)  # fmt: skip
def test_cli_messages(tmp_path, args, code, message):
    img = _image((120, 130))
    tifffile.imwrite(tmp_path / "big.tif", img, tile=(64, 64))
    import PIL.Image

    PIL.Image.fromarray(img).save(tmp_path / "big.png")
    res = run("filter", *args, cwd=tmp_path)
    assert res.returncode == code, res.stderr
    assert message in res.stderr
    assert "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith("Error: ")


# --- across a cluster -------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    "mode, kernel, dilation, weights",
    [
        ("reflect", "1,2,3,4;5,6,7,8", 2, np.arange(1.0, 9.0).reshape(2, 4)),
        ("circular", "1,0,-1;2,0,-2;1,0,-1", 1, np.array([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]])),
        ("zeros", "1,-1", 3, np.array([[1.0, -1.0]])),
        ("symmetric", "1;2;3;4;5", 1, np.arange(1.0, 6.0).reshape(5, 1)),
        ("replicate", "0,1,0;1,-4,1;0,1,0", 2, np.array([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]])),
    ],
)
def test_one_image_across_a_running_cluster(
    scheduler_file,  # noqa: F811
    tiled_tiff,
    tmp_path,
    mode,
    kernel,
    dilation,
    weights,
):
    path, img = tiled_tiff
    res = run(
        "filter", path, "-k", kernel, "--dilation", dilation, "--pad-mode", mode, "--range",
        "raw", "-o", tmp_path / "out.zarr", "--scheduler-file", scheduler_file, "--chunk", "128",
        cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "blocks of 128x128" in res.stderr
    expected = filter2d(img, weights, dilation=dilation, pad_mode=mode)
    got = zarr.open_array(str(tmp_path / "out.zarr"), mode="r")[:]
    np.testing.assert_array_equal(got, expected)


@pytest.mark.slow
def test_one_image_on_a_local_cluster_matches_the_one_machine_path(tmp_path):
    path, _ = _rgb_tiff(tmp_path)
    res = run(
        "filter", path.name, "-k", "sobel", "--range", "clip", "-o", "cluster.zarr",
        "--scheduler", "local:2", "--chunk", "128", cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    one = run("filter", path.name, "-k", "sobel", "--range", "clip", "-o", "one.zarr", cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    a = zarr.open_array(str(tmp_path / "cluster.zarr"), mode="r")[:]
    b = zarr.open_array(str(tmp_path / "one.zarr"), mode="r")[:]
    assert a.dtype == np.uint8 and a.shape == (301, 389, 3)
    np.testing.assert_array_equal(a, b)


def test_chunk_must_be_a_multiple_of_the_tile_and_8_halos(tiled_tiff, tmp_path):
    path, _ = tiled_tiff
    res = run(
        "filter", path, "-k", "box:5", "-o", "o.zarr", "--scheduler", "local:1", "--chunk", "100",
        cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 2 and "not a multiple of the file's 64x128 tiles" in res.stderr
    res = run(
        "filter", path, "-k", "box:65", "-o", "o.zarr", "--scheduler", "local:1", "--chunk", "128",
        cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 2 and "under 8x the kernel's halo" in res.stderr
