"""The default command streams what cannot be read whole (issue 19, "Found" 2).

Run as a person types: the installed ``convcli`` in the image's own folder,
relative paths, no flag but the ones named. ``--max-pixels`` lowers the
whole-read limit for the fast tests (it is the documented way); the slow
test uses the true default on a real file above it. Oracles: scipy.ndimage
and ``np.percentile`` for the pixels, the same command on the image read
whole (``--max-pixels`` raised) for bit-for-bit equality, and the peak
resident memory of the command (``wait4``'s ``ru_maxrss``, from a small parent).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

tifffile = pytest.importorskip("tifffile")
pytest.importorskip("zarr")

from terminal import convcli_executable  # noqa: E402

from convcli.images.filtering import FilterSettings, filter_image  # noqa: E402
from convcli.images.io import Image, read_image  # noqa: E402
from convcli.images.tiled import (  # noqa: E402
    ResultStats,
    filter_tiled,
    percentile_of_ranks,
    percentile_ranks,
    read_window,
)
from convcli.kernels.catalogue import get_kernel  # noqa: E402

#: no cluster is picked up from the environment
ENV = {
    k: v for k, v in os.environ.items() if k not in ("CONVCLI_SCHEDULER", "DASK_SCHEDULER_ADDRESS")
}
ENV["COLUMNS"] = "80"
#: Pillow's default decompression-bomb limit, the default whole-read limit
DEFAULT_LIMIT = 89_478_485


def run(*args, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """The installed command run in ``cwd``, stdout and stderr captured apart."""
    return subprocess.run(
        [convcli_executable(), *map(str, args)],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


#: Runs its arguments and prints their peak resident KiB. A child forked straight from
#: pytest would report pytest's own size (Linux keeps the parent's high-water mark
#: across fork and exec), so the command is forked from this small process instead.
_MEASURE = (
    "import os, subprocess, sys;"
    "p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL);"
    "_, status, usage = os.wait4(p.pid, 0);"
    "print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)"
)


def run_measured(*args, cwd: Path) -> tuple[int, str, float]:
    """Return code, stderr and peak resident MiB of the installed command run in ``cwd``."""
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, convcli_executable(), *map(str, args)],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        check=False,
    )
    code, kib = done.stdout.split()[-2:]
    return int(code), done.stderr, int(kib) / 1024  # KiB on Linux


def _pattern(h: int, w: int, y0: int = 0) -> np.ndarray:
    """A uint8 image with edges of every strength (deterministic, no file needed)."""
    yy, xx = np.mgrid[y0 : y0 + h, :w]
    return ((xx * 7 + yy * 3 + (xx * yy) % 251) % 256).astype(np.uint8)


def _write_tiled(path: Path, side: int, tile: int = 256) -> None:
    """A side x side uint8 tiled BigTIFF written tile by tile (never whole in memory)."""

    def tiles():
        for y in range(0, side, tile):
            for x in range(0, side, tile):
                yy, xx = np.mgrid[y : y + tile, x : x + tile]
                yield ((xx * 7 + yy * 3 + (xx * yy) % 251) % 256).astype(np.uint8)

    tifffile.imwrite(
        path, tiles(), shape=(side, side), dtype=np.uint8, tile=(tile, tile), bigtiff=True
    )


def _oracle_log_auto(img: np.ndarray) -> np.ndarray:
    """``-k gaussian:3 -k laplacian --range auto`` by scipy: a 3-tap Gaussian of sigma 0.8
    (OpenCV's rule for size 3), the 4-neighbour Laplacian, both mirror-padded (convcli's
    reflect), then |x| scaled so its 99th percentile is 255, clipped and rounded."""
    blurred = ndimage.gaussian_filter(img.astype(np.float64), 0.8, mode="mirror", truncate=1.25)
    lap = np.abs(ndimage.laplace(blurred, mode="mirror"))
    top = np.percentile(lap, 99)
    return np.clip(np.rint(lap * (255 / top)), 0, 255).astype(np.uint8)


# --- the exact percentile, tile by tile -------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 7, 99, 100, 101, 1000, 4099, 65537])
def test_percentile_from_order_statistics_is_numpys(n):
    """The 99th percentile found from two order statistics is numpy's, to the last bit."""
    rng = np.random.default_rng(n)
    for values in (
        rng.random(n, dtype=np.float32) * 300,
        rng.integers(0, 5, n).astype(np.float32),  # ties
        np.exp(rng.normal(0, 8, n)).astype(np.float32),  # many magnitudes
    ):
        ordered = np.sort(values)
        prev, nxt, gamma = percentile_ranks(n)
        got = percentile_of_ranks(ordered[prev], ordered[nxt], gamma)
        assert got == np.percentile(values, 99), (n, got)


def test_result_stats_over_pieces_find_the_whole_arrays_percentile():
    """Counted in pieces of any shape, the exact 99th percentile of |x| is numpy's on the whole."""
    rng = np.random.default_rng(5)
    values = (rng.normal(0, 40, (301, 257)) ** 3).astype(np.float32)
    values[:50] = 0  # a run of zeros, and both signs
    pieces = [values[r : r + 64, c : c + 100] for r in range(0, 301, 64) for c in (0, 100, 200)]
    stats = ResultStats()
    for piece in pieces:
        stats.first(piece)
    for piece in pieces:
        stats.second(piece)
    prev, nxt, gamma = percentile_ranks(stats.count)
    got = percentile_of_ranks(stats.value_at(prev), stats.value_at(nxt), gamma)
    assert got == np.percentile(np.abs(values), 99)
    assert (stats.lo, stats.hi) == (values.min(), values.max())


def test_read_window_joins_colour_pieces_of_a_circular_border():
    """The two ends of a circular colour image are joined along rows and columns, not channels."""
    img = np.arange(5 * 6 * 3).reshape(5, 6, 3)
    rows, cols = np.array([4, 0, 1]), np.array([5, 0, 1])
    got = read_window(lambda r, c: img[r, c], rows, cols)
    np.testing.assert_array_equal(got, img[rows][:, cols])


# --- chains, gray, alpha, stride and ranges: the whole image's pixels ---------------------------


@pytest.fixture(scope="module")
def colour_tiffs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("colour")
    rng = np.random.default_rng(11)
    rgb = np.dstack(
        [_pattern(530, 610), _pattern(530, 610, 7)[::-1], rng.integers(0, 256, (530, 610))]
    )
    rgb = rgb.astype(np.uint8)
    alpha = rng.integers(0, 256, (530, 610)).astype(np.uint8)
    tifffile.imwrite(folder / "rgb.tif", rgb, tile=(128, 128), photometric="rgb")
    tifffile.imwrite(
        folder / "rgba.tif",
        np.dstack([rgb, alpha]),
        tile=(128, 128),
        photometric="rgb",
        extrasamples=("unassalpha",),
    )
    return folder


CHAIN = ["gaussian:3", "laplacian"]


@pytest.mark.parametrize("name", ["rgb.tif", "rgba.tif"])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"gray": True},
        {"alpha": "filter"},
        {"alpha": "premultiply", "value_range": "clip"},
        {"value_range": "normalize"},
        {"value_range": "offset"},
        {"settings": FilterSettings(stride=2)},
        {"settings": FilterSettings(padding="valid", pad_mode="circular", dilation=2)},
        {"settings": FilterSettings(pad_mode="zeros", repeat=2, bias=3.0)},
    ],
    ids=["auto", "gray", "alpha-filter", "premultiply", "normalize", "offset", "stride2",
         "valid-circular-d2", "zeros-repeat-bias"],
)  # fmt: skip
def test_streamed_chain_equals_the_whole_image(colour_tiffs, tmp_path, name, options):
    """Every option of a small image gives the same pixels on a streamed one, bit for bit."""
    options = dict(options)
    settings = options.pop("settings", FilterSettings(strategy="direct"))
    settings = FilterSettings(**{**settings.__dict__, "strategy": "direct"})
    kernels = [get_kernel(k) for k in CHAIN]
    image: Image = read_image(str(colour_tiffs / name))
    whole = filter_image(image, kernels, settings, **options)
    expected = whole.pixels if whole.alpha is None else np.dstack([whole.pixels, whole.alpha])
    out = tmp_path / "out.tif"
    filter_tiled(str(colour_tiffs / name), str(out), kernels, settings, block=256, **options)
    got = tifffile.imread(out)
    assert got.shape == expected.shape
    if "scipy.linalg" not in sys.modules:
        np.testing.assert_array_equal(got, expected)  # numpy's axpy: the same roundings
    else:  # BLAS's axpy rounds a block's tail apart: a float a hair across .5 at most
        diff = np.abs(got.astype(np.int64) - expected.astype(np.int64))
        assert diff.max() <= 1 and np.count_nonzero(diff) <= 1e-4 * diff.size


# --- the command, as a person types it ----------------------------------------------------------


@pytest.fixture(scope="module")
def scan(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """A 1100 x 1300 uint8 tiled BigTIFF (5 x 6 tiles of 256, the last ones partial)."""
    folder = tmp_path_factory.mktemp("scan")
    img = _pattern(1100, 1300)
    tifffile.imwrite(folder / "scan.tif", img, tile=(256, 256), bigtiff=True)
    return folder, img


def test_a_chain_with_range_auto_streams_like_the_whole_image(scan, tmp_path):
    """`-k gaussian:3 -k laplacian --range auto` in tiles: the whole image's pixels, bit for bit,
    and scipy's to one grey level."""
    folder, img = scan
    (tmp_path / "scan.tif").symlink_to(folder / "scan.tif")
    chain = ["-k", "gaussian:3", "-k", "laplacian", "--range", "auto"]
    streamed = run("filter", "scan.tif", *chain, "--max-pixels", "1000000", cwd=tmp_path)
    assert streamed.returncode == 0, streamed.stderr
    assert "wrote scan-gaussian-3-laplacian.tif" in streamed.stderr
    whole = run(
        "filter", "scan.tif", *chain, "--max-pixels", "100000000", "-o", "whole.png", cwd=tmp_path
    )
    assert whole.returncode == 0, whole.stderr
    import PIL.Image

    expected = np.asarray(PIL.Image.open(tmp_path / "whole.png"))
    got = tifffile.imread(tmp_path / "scan-gaussian-3-laplacian.tif")
    assert got.dtype == np.uint8 and got.shape == img.shape
    np.testing.assert_array_equal(got, expected)
    oracle = _oracle_log_auto(img)
    diff = np.abs(got.astype(int) - oracle)
    assert diff.max() <= 1 and np.mean(diff == 0) > 0.999


def test_a_strip_tiff_streams_through_its_strips(tmp_path):
    """A strip TIFF above the limit is read a band of strips at a time, not refused."""
    img = _pattern(900, 700)
    tifffile.imwrite(tmp_path / "strips.tif", img, rowsperstrip=16)
    plan = run(
        "filter", "strips.tif", "-k", "sobel", "--max-pixels", "100000", "--plan", cwd=tmp_path
    )
    assert plan.returncode == 0, plan.stderr
    assert "strips of 16 rows" in plan.stdout and "route: tiles" in plan.stdout
    res = run("filter", "strips.tif", "-k", "sobel", "--max-pixels", "100000", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    got = tifffile.imread(tmp_path / "strips-sobel.tif")
    f = img.astype(np.float64)
    gx = ndimage.correlate(f, [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], mode="mirror")
    gy = ndimage.correlate(f, [[-1, -2, -1], [0, 0, 0], [1, 2, 1]], mode="mirror")
    assert np.abs(got.astype(int) - _stretched(np.hypot(gx, gy))).max() <= 1


def _stretched(magnitude: np.ndarray) -> np.ndarray:
    """--range auto on an edge map: times 255 / its 99th percentile, rounded, clipped."""
    return np.clip(np.rint(magnitude * 255 / np.percentile(magnitude, 99)), 0, 255)


def test_max_pixels_raised_reads_a_tiled_tiff_whole(scan, tmp_path):
    """Under the limit a tiled TIFF is read whole: --max-pixels bounds what is read whole."""
    folder, _ = scan
    res = run(
        "filter", folder / "scan.tif", "-k", "sobel", "--max-pixels", "2000000", "--plan",
        cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "route: whole" in res.stdout
    assert "within the 2000000 read whole" in res.stdout


# --- --plan, for every route --------------------------------------------------------------------


def _fields(text: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in text.strip().splitlines() if ": " in line)


def test_plan_of_a_small_photo(tmp_path):
    """A small image: read whole, one task, a peak of tens of MiB; nothing is written."""
    import PIL.Image

    PIL.Image.fromarray(_pattern(300, 400)).save(tmp_path / "photo.png")
    res = run(
        "filter", "photo.png", "-k", "gaussian:sigma=2", "-k", "sobel", "--plan", cwd=tmp_path
    )
    assert res.returncode == 0, res.stderr
    fields = _fields(res.stdout)
    assert fields["input"] == (
        "photo.png (300 x 400, uint8; 120000 pixels, within the 89478485 read whole (--max-pixels))"
    )
    assert fields["route"].startswith("whole")
    assert fields["blocks"] == "the whole image, halo 9"  # gaussian radius 8, sobel 1
    assert fields["tasks"] == "1"
    assert fields["peak memory"].startswith("about ") and fields["peak memory"].endswith(" MiB")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]


def test_plan_of_a_streamed_image(scan, tmp_path):
    """Tiles: 1024 blocks (2 x 2 of them), halo 2, three passes for --range auto's stretch."""
    folder, _ = scan
    (tmp_path / "scan.tif").symlink_to(folder / "scan.tif")
    res = run(
        "filter", "scan.tif", "-k", "gaussian:3", "-k", "laplacian", "--max-pixels", "1000000",
        "--plan", cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    fields = _fields(res.stdout)
    assert fields["input"] == "scan.tif (1100 x 1300, uint8, tiles of 256x256)"
    assert fields["route"] == (
        "tiles (1430000 pixels, above the 1000000 read whole (--max-pixels)), "
        "written to scan-gaussian-3-laplacian.tif"
    )
    assert fields["blocks"] == "1024x1024 output pixels, halo 2"
    assert fields["tasks"] == (
        "4 blocks x 3 passes (--range auto: the exact 99th percentile of the result first)"
    )
    assert not (tmp_path / "scan-gaussian-3-laplacian.tif").exists()


def test_plan_of_the_cluster_routes_starts_no_cluster(scan, tmp_path):
    """With --scheduler: one image in blocks across the cluster, or a batch of files; --plan
    only describes them (it returns before any cluster could have started)."""
    folder, _ = scan
    (tmp_path / "scan.tif").symlink_to(folder / "scan.tif")
    start = time.monotonic()
    res = run(
        "filter", "scan.tif", "-k", "sobel", "-o", "out.zarr", "--scheduler", "local:2",
        "--chunk", "512", "--plan", cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    fields = _fields(res.stdout)
    assert (
        fields["route"]
        == "cluster (a local cluster of 2 workers (from --scheduler); a .zarr output), "
        "written to out.zarr"
    )
    assert fields["blocks"] == "512x512 input pixels, halo 1"
    assert fields["tasks"] == "9 blocks"  # 3 x 3 chunks of 512 over 1100 x 1300
    assert fields["peak memory"].endswith("MiB per worker thread")
    import PIL.Image

    for i in range(3):
        PIL.Image.fromarray(_pattern(50, 60, i)).save(tmp_path / f"p{i}.png")
    res = run(
        "filter", "p0.png", "p1.png", "p2.png", "-k", "sobel", "--out-dir", "edges",
        "--scheduler", "local:2", "--files-per-task", "2", "--plan", cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    fields = _fields(res.stdout)
    assert fields["inputs"] == "3 files"
    assert (
        fields["route"]
        == "cluster (a local cluster of 2 workers (from --scheduler)), each file read whole on a worker"
    )
    assert fields["tasks"] == "2 (groups of 2 files)"
    assert time.monotonic() - start < 30
    assert not (tmp_path / "out.zarr").exists() and not (tmp_path / "edges").exists()


# --- bounded memory -----------------------------------------------------------------------------


@pytest.mark.slow
def test_streaming_holds_a_fraction_of_a_whole_read(tmp_path):
    """A 4000² chain in tiles peaks well under the same command reading the image whole,
    and near what --plan said."""
    _write_tiled(tmp_path / "big.tif", 4096)
    chain = ["-k", "gaussian:3", "-k", "laplacian"]
    code, err, streamed = run_measured(
        "filter", "big.tif", *chain, "--max-pixels", "1000000", "-o", "s.tif", cwd=tmp_path
    )
    assert code == 0, err
    code, err, whole = run_measured(
        "filter", "big.tif", *chain, "--max-pixels", "100000000", "-o", "w.tif", cwd=tmp_path
    )
    assert code == 0, err
    np.testing.assert_array_equal(
        tifffile.imread(tmp_path / "s.tif"), tifffile.imread(tmp_path / "w.tif")
    )
    assert streamed < 0.6 * whole, (streamed, whole)
    plan = run("filter", "big.tif", *chain, "--max-pixels", "1000000", "--plan", cwd=tmp_path)
    said = float(_fields(plan.stdout)["peak memory"].split()[1])
    assert 0.6 * said < streamed < 1.5 * said, (said, streamed)


@pytest.mark.slow
def test_the_default_command_streams_an_image_above_the_default_limit(tmp_path):
    """`convcli filter huge.tif -k sobel -o out.tif`, no other flag, on a tiled BigTIFF just above
    Pillow's limit: written, in a fraction of the memory one float copy of it would take."""
    side = 9472  # 89 718 784 pixels > 89 478 485
    _write_tiled(tmp_path / "huge.tif", side)
    code, err, peak = run_measured(
        "filter", "huge.tif", "-k", "sobel", "-o", "out.tif", cwd=tmp_path
    )
    assert code == 0, err
    assert "wrote out.tif" in err
    assert side * side > DEFAULT_LIMIT
    float_copy = side * side * 4 / 2**20  # 342 MiB
    assert peak < 0.5 * float_copy, peak
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:
        assert tif.is_bigtiff and tif.pages[0].is_tiled
        assert tif.series[0].shape == (side, side)
        out = tifffile.imread(tmp_path / "out.tif", selection=(slice(5000, 5300), slice(None)))
    # scipy's Sobel magnitude on the same rows, with a one-pixel halo from the formula;
    # --range auto scales the whole image by one factor (255 / its 99th percentile, which
    # a band cannot know): every unsaturated pixel is that factor times the magnitude
    band = _pattern(302, side, 4999).astype(np.float64)
    gx = ndimage.correlate(band, [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], mode="mirror")
    gy = ndimage.correlate(band, [[-1, -2, -1], [0, 0, 0], [1, 2, 1]], mode="mirror")
    magnitude = np.hypot(gx, gy)[1:-1]
    shown = (magnitude > 100) & (out < 250)
    factor = np.median(out[shown] / magnitude[shown])
    expected = np.clip(np.rint(magnitude * factor), 0, 255)
    assert shown.sum() > 1000 and np.abs(out.astype(int) - expected).max() <= 1


def test_a_streamed_result_with_stdout_redirected_says_where_it_went(scan, tmp_path):
    """`convcli filter scan.tif -k sobel > out.tif`: a result in tiles cannot go to standard
    output, so it is written beside the input, and stderr says so (the shell's `out.tif` stays
    empty); at a terminal the same command needs no such note."""
    from terminal import run_in_pty, strip_ansi

    folder, img = scan
    (tmp_path / "scan.tif").symlink_to(folder / "scan.tif")
    args = ["filter", "scan.tif", "-k", "sobel", "--max-pixels", "1000000"]
    with open(tmp_path / "out.tif", "wb") as fh:
        res = subprocess.run(
            [convcli_executable(), *args], cwd=tmp_path, env=ENV, stdout=fh,
            stderr=subprocess.PIPE, text=True, timeout=300,
        )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert res.stderr.splitlines() == [
        "note: scan.tif is filtered in tiles, which go to a file, not to standard output: "
        "writing scan-sobel.tif (-o FILE names it)",
        "wrote scan-sobel.tif",
    ]
    assert (tmp_path / "out.tif").stat().st_size == 0
    expected = np.hypot(
        ndimage.sobel(img.astype(np.float64), axis=1, mode="mirror"),
        ndimage.sobel(img.astype(np.float64), axis=0, mode="mirror"),
    )
    got = tifffile.imread(tmp_path / "scan-sobel.tif")
    assert np.abs(got.astype(float) - _stretched(expected)).max() <= 1
    (tmp_path / "scan-sobel.tif").unlink()
    code, text = run_in_pty(args, cwd=tmp_path, env={"CONVCLI_SCHEDULER": ""})
    assert code == 0, text
    assert "note:" not in strip_ansi(text) and "wrote scan-sobel.tif" in strip_ansi(text)
