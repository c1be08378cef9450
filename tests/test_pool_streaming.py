"""`convcli pool` streams what cannot be read whole, as `convcli filter` does (issue 19).

Run as a person types: the installed ``convcli`` in the image's own folder,
relative paths. ``--max-pixels`` lowers the whole-read limit for the fast
tests (the documented way); the slow test uses the true default on a file
above it. Oracles: the same command on the image read whole
(``--max-pixels`` raised), bit for bit, and pooling written here from
PyTorch's rules with explicit loops over the windows (a numpy reshape for
stride = size); the peak resident memory of the child process.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

tifffile = pytest.importorskip("tifffile")
zarr = pytest.importorskip("zarr")

from reference import pool2d_loop  # noqa: E402
from test_streaming import DEFAULT_LIMIT, _pattern, _write_tiled, run, run_measured  # noqa: E402


def _loop_pool(img: np.ndarray, k, s, pad, mode: str, ceil: bool) -> np.ndarray:
    """Each channel pooled by the explicit loops of ``tests/reference.py`` (PyTorch's rules),
    averages rounded back to the image's type."""
    (t, b), (left, right) = pad
    planes = img[..., None] if img.ndim == 2 else img
    out = np.stack(
        [
            pool2d_loop(planes[..., i], k, s, (t, b, left, right), mode, ceil_mode=ceil)
            for i in range(planes.shape[-1])
        ],
        axis=-1,
    )
    out = np.rint(out).astype(img.dtype)
    return out[..., 0] if img.ndim == 2 else out


def _reshape_pool(img: np.ndarray, k: int, mode: str) -> np.ndarray:
    """Stride = size, no padding: whole windows as reshaped axes."""
    h, w = img.shape[0] // k * k, img.shape[1] // k * k
    blocks = img[:h, :w].reshape(h // k, k, w // k, k, *img.shape[2:])
    if mode == "avg":
        return np.rint(blocks.mean((1, 3), dtype=np.float64)).astype(img.dtype)
    return getattr(blocks, mode)((1, 3))


def _image(shape: tuple[int, ...], dtype) -> np.ndarray:
    rng = np.random.default_rng(19)
    return rng.integers(0, np.iinfo(dtype).max, size=shape, dtype=dtype, endpoint=True)


def _streamed(path: Path) -> bool:
    """Written by the tiled path: a tiled BigTIFF (the whole path writes strips)."""
    with tifffile.TiffFile(path) as tif:
        return tif.is_bigtiff and tif.pages[0].is_tiled


CASES = [
    # (shape, dtype, options, oracle arguments: size, stride, padding)
    ((300, 520), np.uint8, ["--size", "2"], ((2, 2), (2, 2), ((0, 0), (0, 0)))),
    ((301, 517), np.uint8, ["--size", "3", "--mode", "avg"], ((3, 3), (3, 3), ((0, 0), (0, 0)))),
    ((299, 290, 4), np.uint8, ["--size", "2", "--mode", "min"], ((2, 2), (2, 2), ((0,) * 2,) * 2)),
    ((300, 290), np.uint16, ["--size", "4", "-m", "avg"], ((4, 4), (4, 4), ((0, 0), (0, 0)))),
    (
        (301, 517),
        np.uint8,
        ["--size", "3", "--stride", "2", "--padding", "1", "--ceil-mode", "-m", "avg"],
        ((3, 3), (2, 2), ((1, 1), (1, 1))),
    ),
    (
        (277, 263, 3),
        np.uint16,
        ["--size", "5x3", "-s", "1x3", "-p", "2:0", "--ceil-mode"],
        ((5, 3), (1, 3), ((2, 0), (2, 0))),
    ),
]


@pytest.mark.parametrize("layout", ["tiles", "strips"])
@pytest.mark.parametrize(("shape", "dtype", "options", "geometry"), CASES)
def test_pool_in_tiles_equals_the_whole_image_and_loops(
    tmp_path, layout, shape, dtype, options, geometry
):
    """A TIFF over --max-pixels is pooled in tiles (256-side blocks here, the image spans
    several), bit for bit as the same command reading it whole and as explicit loops."""
    img = _image(shape, dtype)
    if layout == "tiles":
        tifffile.imwrite(tmp_path / "in.tif", img, tile=(64, 64))
    else:
        tifffile.imwrite(tmp_path / "in.tif", img, rowsperstrip=5)
    small = run("pool", "in.tif", *options, "--max-pixels", "10000", "-o", "s.tif", cwd=tmp_path)
    assert small.returncode == 0, small.stderr
    assert "wrote s.tif" in small.stderr
    assert _streamed(tmp_path / "s.tif")
    whole = run("pool", "in.tif", *options, "-o", "w.tif", cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr
    assert not _streamed(tmp_path / "w.tif")
    got, want = tifffile.imread(tmp_path / "s.tif"), tifffile.imread(tmp_path / "w.tif")
    assert got.dtype == dtype
    if dtype == np.uint16 and len(shape) == 3:
        # read whole, 16-bit colour becomes 8 bits (Pillow); in tiles it keeps 16, as filter
        assert want.dtype == np.uint8 and "read as 8 bits" in whole.stderr
    else:
        np.testing.assert_array_equal(got, want)
    mode = (
        options[options.index("-m" if "-m" in options else "--mode") + 1]
        if ("-m" in options or "--mode" in options)
        else "max"
    )
    np.testing.assert_array_equal(got, _loop_pool(img, *geometry, mode, "--ceil-mode" in options))


@pytest.mark.parametrize("mode", ["max", "avg", "min"])
def test_a_zarr_image_is_pooled_in_tiles(tmp_path, mode):
    """A .zarr input always streams (no flag), to a .zarr or a tiled TIFF."""
    img = _image((600, 700, 3), np.uint8)
    arr = zarr.open_array(
        str(tmp_path / "in.zarr"), mode="w", shape=img.shape, chunks=(128, 128, 3), dtype=img.dtype
    )
    arr[:] = img
    want = _reshape_pool(img, 3, mode)
    for target in ("out.zarr", "out.tif"):
        proc = run("pool", "in.zarr", "--size", "3", "-m", mode, "-o", target, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        got = (
            zarr.open_array(str(tmp_path / target), mode="r")[:]
            if target.endswith(".zarr")
            else tifffile.imread(tmp_path / target)
        )
        np.testing.assert_array_equal(got, want)


def test_what_a_tiled_pool_cannot_do_exactly_is_refused(tmp_path):
    """Float pixels (converted when read whole) and a cluster: exit 2, nothing written."""
    tifffile.imwrite(tmp_path / "f.tif", np.ones((200, 200), np.float32), tile=(64, 64))
    proc = run("pool", "f.tif", "--size", "2", "--max-pixels", "1000", "-o", "o.tif", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "float32" in proc.stderr and "--max-pixels" in proc.stderr
    tifffile.imwrite(tmp_path / "u.tif", _image((200, 200), np.uint8), tile=(64, 64))
    proc = run(
        "pool", "u.tif", "--size", "2", "--max-pixels", "1000", "-o", "o.zarr",
        "--scheduler", "tcp://127.0.0.1:9", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "on this machine" in proc.stderr
    proc = run("pool", "u.tif", "--size", "2", "--max-pixels", "1000", "-o", "o.png", cwd=tmp_path)
    assert proc.returncode == 2 and "-o NAME.tif" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [
        "f.tif",
        "u.tif",
    ]


@pytest.mark.slow
def test_the_default_pool_streams_an_image_above_the_default_limit(tmp_path):
    """`convcli pool huge.tif --size 2 -o out.tif`, no other flag, on a tiled BigTIFF above
    Pillow's limit: pooled in tiles, in well under the memory of the whole read, and equal
    to it and to a reshape."""
    side = 9472  # 89 718 784 pixels > 89 478 485
    assert side * side > DEFAULT_LIMIT
    _write_tiled(tmp_path / "huge.tif", side)
    code, err, streamed = run_measured(
        "pool", "huge.tif", "--size", "2", "-o", "out.tif", cwd=tmp_path
    )
    assert code == 0, err
    assert "wrote out.tif" in err
    assert _streamed(tmp_path / "out.tif")
    code, err, whole = run_measured(
        "pool", "huge.tif", "--size", "2", "--max-pixels", "100000000", "-o", "w.tif", cwd=tmp_path
    )
    assert code == 0, err
    assert streamed < 0.5 * whole, (streamed, whole)
    got = tifffile.imread(tmp_path / "out.tif")
    np.testing.assert_array_equal(got, tifffile.imread(tmp_path / "w.tif"))
    rows = slice(4000, 4300)  # a band, against the pattern's formula
    band = _pattern(600, side, 8000)
    np.testing.assert_array_equal(got[rows], _reshape_pool(band, 2, "max"))
