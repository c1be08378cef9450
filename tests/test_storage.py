"""URLs through fsspec, and OME-Zarr pyramids read back with ome-zarr.

``memory://`` inputs run in this process (CliRunner: fsspec's memory
filesystem lives in the process that uses it); outputs go to ``file://``
URLs (the same temporary-key-then-move path as an object store), since a
``memory://`` output is refused: it would vanish with the command's
process. ``http://`` is a real ``python -m
http.server`` on 127.0.0.1 read by the installed command. The pyramid is
written by the installed command and read with ome-zarr's own reader and
checked against the NGFF 0.5 models of ome-zarr-models; every level is
compared with an oracle built here: scipy.ndimage for level 0 and, for each
level below, explicit strided sums over the level above, padded with numpy.
"""

from __future__ import annotations

import io
import math
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import PIL.Image
import pytest
from click.testing import CliRunner
from terminal import run_piped

from convcli.cli import cli

fsspec = pytest.importorskip("fsspec")


def run(*args, cwd: Path, timeout: float = 120) -> SimpleNamespace:
    code, out, err = run_piped(args, cwd, timeout=timeout)
    return SimpleNamespace(returncode=code, stdout=out, stderr=err)


def _png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    PIL.Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _decode(data: bytes) -> np.ndarray:
    with PIL.Image.open(io.BytesIO(data)) as im:
        return np.asarray(im)


def _sobel_oracle(pixels: np.ndarray) -> np.ndarray:
    """convcli's sobel with --range clip: |gradient| with reflect padding, clipped, rounded."""
    from scipy import ndimage

    x = pixels.astype(np.float64)
    gx = ndimage.correlate(x, [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], mode="mirror")
    gy = ndimage.correlate(x, [[-1, -2, -1], [0, 0, 0], [1, 2, 1]], mode="mirror")
    return np.clip(np.rint(np.hypot(gx, gy)), 0, 255).astype(np.uint8)


@pytest.fixture
def memory_fs():
    fs = fsspec.filesystem("memory")
    fs.rm("/", recursive=True) if fs.ls("/") else None
    yield fs
    if fs.ls("/"):
        fs.rm("/", recursive=True)


def test_memory_inputs_to_file_url_outputs(memory_fs, tmp_path):
    """A memory:// input is filtered into a file:// URL with no temporary key left, an
    existing output is refused without --overwrite, and a batch goes to an --out-dir URL."""
    rng = np.random.default_rng(5)
    images = {f"m{i}.png": rng.integers(0, 256, (20, 30), dtype=np.uint8) for i in range(3)}
    for name, pixels in images.items():
        memory_fs.pipe_file(f"/in/{name}", _png_bytes(pixels))
    (tmp_path / "out").mkdir()
    url = f"file://{tmp_path}"
    runner = CliRunner()
    one = runner.invoke(cli, ["filter", "memory://in/m0.png", "-k", "sobel", "--range", "clip", "-o",
                              f"{url}/out/m0.png"])  # fmt: skip
    assert one.exit_code == 0, one.output
    got = _decode((tmp_path / "out" / "m0.png").read_bytes())
    assert np.array_equal(got, _sobel_oracle(images["m0.png"]))
    assert os.listdir(tmp_path / "out") == ["m0.png"]  # no .part key left

    again = runner.invoke(cli, ["filter", "memory://in/m0.png", "-k", "sobel", "--range", "clip", "-o",
                                f"{url}/out/m0.png"])  # fmt: skip
    assert again.exit_code == 1
    assert f"{url}/out/m0.png exists; pass --overwrite to replace it" in again.output

    (tmp_path / "batch").mkdir()
    batch = runner.invoke(cli, ["filter", "memory://in/m0.png", "memory://in/m1.png",
                                "memory://in/m2.png", "-k", "sobel", "--range", "clip", "--out-dir",
                                f"{url}/batch", "--manifest", str(tmp_path / "m.jsonl")])  # fmt: skip
    assert batch.exit_code == 0, batch.output
    for name, pixels in images.items():
        assert np.array_equal(
            _decode((tmp_path / "batch" / name).read_bytes()), _sobel_oracle(pixels)
        )
    (tmp_path / "batch" / "m1.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # cut short
    resumed = runner.invoke(cli, ["filter", "memory://in/m0.png", "memory://in/m1.png",
                                  "memory://in/m2.png", "-k", "sobel", "--range", "clip", "--out-dir",
                                  f"{url}/batch", "--skip-existing"])  # fmt: skip
    assert resumed.exit_code == 0, resumed.output
    assert "1 of 3 files written, 2 skipped (complete already)" in resumed.output
    assert np.array_equal(
        _decode((tmp_path / "batch" / "m1.png").read_bytes()), _sobel_oracle(images["m1.png"])
    )

    missing = runner.invoke(cli, ["filter", "memory://in/nope.png", "-k", "sobel", "-o",
                                  str(tmp_path / "x.png")])  # fmt: skip
    assert missing.exit_code == 1
    assert "memory://in/nope.png: no such file" in missing.output


def test_a_pyramid_written_to_a_file_url(tmp_path):
    """-o file://...ome.zarr --pyramid: built in a local temporary folder, uploaded whole
    under a temporary prefix and moved; its levels are those of the same run to a folder."""
    pytest.importorskip("zarr")
    pixels = np.random.default_rng(9).integers(0, 256, (40, 50), dtype=np.uint8)
    PIL.Image.fromarray(pixels).save(tmp_path / "a.png")
    args = ["filter", str(tmp_path / "a.png"), "-k", "box:3", "--pyramid", "2", "-o"]
    runner = CliRunner()
    local = runner.invoke(cli, [*args, str(tmp_path / "a.ome.zarr")])
    assert local.exit_code == 0, local.output
    (tmp_path / "pyr").mkdir()
    target = f"file://{tmp_path}/pyr/a.ome.zarr"
    remote = runner.invoke(cli, [*args, target])
    assert remote.exit_code == 0, remote.output
    assert os.listdir(tmp_path / "pyr") == ["a.ome.zarr"]  # no .part prefix left
    back = tmp_path / "pyr" / "a.ome.zarr"
    for level in ("0", "1", "2"):
        a = (tmp_path / "a.ome.zarr" / level).rglob("*")
        files = sorted(p.relative_to(tmp_path / "a.ome.zarr") for p in a if p.is_file())
        assert files, level
        for name in files:
            assert (back / name).read_bytes() == (tmp_path / "a.ome.zarr" / name).read_bytes(), name
    (back / "2" / "c" / "0" / "0").unlink()
    resumed = runner.invoke(cli, [*args, target, "--skip-existing"])
    assert resumed.exit_code == 0, resumed.output
    assert "incomplete (level 2: 0 of 1 chunks written); written again" in resumed.output
    assert (back / "2" / "c" / "0" / "0").exists()


@pytest.mark.parametrize(
    ("command", "option"),
    [("filter", "-o"), ("filter", "--out-dir"), ("pool", "-o"), ("pool", "--out-dir")],
)
def test_a_memory_output_is_refused_by_the_installed_command(command, option, tmp_path):
    """The installed command refuses -o/--out-dir memory:// (exit 2, one line): its memory
    filesystem ends with the process, so the result would vanish after exit 0."""
    PIL.Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(tmp_path / "a.png")
    extra = ["-k", "box:3"] if command == "filter" else []
    done = run(command, "a.png", *extra, option, "memory://out/b.png", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == (
        f"Error: {option} memory://out/b.png: memory:// lives only as long as this process, so "
        "the result would vanish when convcli exits; write to a file or to an s3://, gs:// or "
        "file:// URL\n"
    )
    assert done.stdout == b""
    assert os.listdir(tmp_path) == ["a.png"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def http_root(tmp_path):
    """A folder served by ``python -m http.server`` on 127.0.0.1: (folder, base URL)."""
    pytest.importorskip("aiohttp")
    folder = tmp_path / "served"
    folder.mkdir()
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "no http server"
                time.sleep(0.05)
        yield folder, f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_http_input_read_by_the_installed_command(http_root, tmp_path):
    """An http:// input is read by the installed command like a file; a missing one and a
    write to http:// fail with one line naming the URL."""
    folder, base = http_root
    pixels = np.random.default_rng(6).integers(0, 256, (24, 18), dtype=np.uint8)
    (folder / "cat.png").write_bytes(_png_bytes(pixels))
    work = tmp_path / "work"
    work.mkdir()
    done = run(
        "filter", f"{base}/cat.png", "-k", "sobel", "--range", "clip", "-o", "edges.png", cwd=work
    )
    assert done.returncode == 0, done.stderr
    assert np.array_equal(_decode((work / "edges.png").read_bytes()), _sobel_oracle(pixels))
    code, data, err = run_piped(["pool", f"{base}/cat.png", "--size", "2"], work)
    assert code == 0, err
    expected = pixels.reshape(12, 2, 9, 2).max(axis=(1, 3))
    assert np.array_equal(_decode(data), expected)

    missing = run("filter", f"{base}/nope.png", "-k", "sobel", "-o", "x.png", cwd=work)
    assert missing.returncode == 1
    assert missing.stderr.splitlines() == [f"Error: {base}/nope.png: no such file"]
    assert not (work / "x.png").exists()
    upload = run("filter", f"{base}/cat.png", "-k", "sobel", "-o", f"{base}/up.png", cwd=work)
    assert upload.returncode == 1
    assert "cannot write to http:// (read-only)" in upload.stderr
    assert not (folder / "up.png").exists()


# --- OME-Zarr pyramids -------------------------------------------------------------------


def _same_pad(n: int, k: int, s: int = 2) -> tuple[int, int, int]:
    """(output size, pad before, pad after) of 'same' padding at stride s (TensorFlow's rule)."""
    out = math.ceil(n / s)
    total = max((out - 1) * s + k - n, 0)
    return out, total // 2, total - total // 2


def _downsample_oracle(level: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """One pyramid step by explicit strided sums over a reflect-padded copy (numpy 'reflect')."""
    kh, kw = weights.shape
    h, w = level.shape[:2]
    oh, top, bottom = _same_pad(h, kh)
    ow, left, right = _same_pad(w, kw)
    pad = [(top, bottom), (left, right)] + [(0, 0)] * (level.ndim - 2)
    padded = np.pad(level.astype(np.float64), pad, mode="reflect")
    out = np.zeros((oh, ow, *level.shape[2:]))
    for a in range(kh):
        for b in range(kw):
            out += weights[a, b] * padded[a : a + 2 * oh : 2, b : b + 2 * ow : 2]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _gaussian_weights(sigma: float) -> np.ndarray:
    radius = int(4 * sigma + 0.5)
    x = np.arange(-radius, radius + 1)
    g = np.exp(-(x**2) / (2 * sigma**2))
    g /= g.sum()
    return np.outer(g, g)


def _translation_oracle(shapes: list[tuple[int, int]], k: int) -> list[list[float]]:
    """Each level's translation: the centre of the window of its first pixel, in level 0's grid."""
    shift, scale, out = [0.0, 0.0], 1.0, [[0.0, 0.0]]
    for h, w in shapes[:-1]:
        offsets = [(k - 1) / 2 - _same_pad(n, k)[1] for n in (h, w)]
        shift = [shift[i] + scale * offsets[i] for i in range(2)]
        scale *= 2
        out.append(list(shift))
    return out


@pytest.mark.parametrize(
    ("shape", "pyramid_kernel", "weights"),
    [
        ((301, 250), "box:2", np.full((2, 2), 0.25)),
        ((180, 203, 3), "gaussian:sigma=1", _gaussian_weights(1.0)),
    ],
)
def test_pyramid_read_back_with_ome_zarr(tmp_path, shape, pyramid_kernel, weights):
    """Each level of the written pyramid is the level above filtered at stride 2, and the
    NGFF metadata is what ome-zarr's reader and the NGFF 0.5 models accept."""
    tifffile = pytest.importorskip("tifffile")
    zarr = pytest.importorskip("zarr")
    pytest.importorskip("ome_zarr")
    from ome_zarr.format import FormatV05
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader
    from ome_zarr_models.v05.image import Image as NgffImage
    from scipy import ndimage

    pixels = np.random.default_rng(7).integers(0, 256, shape, dtype=np.uint8)
    tifffile.imwrite(tmp_path / "scan.tif", pixels, tile=(64, 64),
                     photometric="rgb" if len(shape) == 3 else "minisblack")  # fmt: skip
    done = run("filter", "scan.tif", "-k", "gaussian:sigma=2", "-o", "scan.ome.zarr",
               "--pyramid", "3", "--pyramid-kernel", pyramid_kernel, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("wrote scan.ome.zarr (4 levels: ")
    assert sorted(os.listdir(tmp_path)) == ["scan.ome.zarr", "scan.tif"]  # nothing left over

    nodes = list(Reader(parse_url(str(tmp_path / "scan.ome.zarr")))())
    assert nodes, "ome-zarr found no image"
    image = nodes[0]
    colour = len(shape) == 3
    names = [a["name"] for a in image.metadata["axes"]]
    assert names == (["c", "y", "x"] if colour else ["y", "x"])
    levels = [np.asarray(level) for level in image.data]
    assert len(levels) == 4
    transforms = image.metadata["coordinateTransformations"]
    FormatV05().validate_coordinate_transformations(len(names), 4, transforms)
    NgffImage.from_zarr(zarr.open_group(tmp_path / "scan.ome.zarr", mode="r"))

    # level 0: convcli's gaussian is scipy's gaussian_filter (truncate 4) with scipy 'mirror'
    sigma = (0, 2, 2) if colour else 2
    as_stored = np.moveaxis(pixels, -1, 0) if colour else pixels
    oracle0 = ndimage.gaussian_filter(as_stored.astype(np.float64), sigma, mode="mirror")
    diff = np.abs(levels[0].astype(int) - np.clip(np.rint(oracle0), 0, 255))
    assert diff.max() <= 1 and (diff > 0).mean() < 0.01  # float32 engine vs float64 scipy

    rows_cols = [lv.shape[-2:] for lv in levels]
    for i in range(3):
        above = np.moveaxis(levels[i], 0, -1) if colour else levels[i]
        expected = _downsample_oracle(above, weights)
        got = np.moveaxis(levels[i + 1], 0, -1) if colour else levels[i + 1]
        assert got.shape == expected.shape
        diff = np.abs(got.astype(int) - expected)
        if pyramid_kernel == "box:2":  # quarters of integers: exact in float32 too
            assert diff.max() == 0, i
        else:
            assert diff.max() <= 1 and (diff > 0).mean() < 0.01, i
    k = weights.shape[0]
    for i, (level_transforms, shift) in enumerate(
        zip(transforms, _translation_oracle(rows_cols, k), strict=True)
    ):
        scale, translation = level_transforms
        assert scale["scale"][-2:] == [2.0**i, 2.0**i]
        assert translation["translation"][-2:] == pytest.approx(shift)


def test_a_png_and_a_kernel_chain_make_a_pyramid(tmp_path):
    """The first command a person would type, on a small PNG with a chain of kernels: level
    0 is what the same filter writes to a PNG, the levels below are box:2 steps."""
    pytest.importorskip("ome_zarr")
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    pixels = np.random.default_rng(8).integers(0, 256, (90, 77), dtype=np.uint8)
    PIL.Image.fromarray(pixels).save(tmp_path / "small.png")
    chain = ["-k", "gaussian:sigma=1", "-k", "laplacian", "--range", "offset"]
    ref = run("filter", "small.png", *chain, "-o", "ref.png", cwd=tmp_path)
    assert ref.returncode == 0, ref.stderr
    done = run("filter", "small.png", *chain, "-o", "small.ome.zarr", "--pyramid", "2",
               cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == "wrote small.ome.zarr (3 levels: 90x77, 45x39, 23x20)\n"
    levels = [
        np.asarray(a)
        for a in next(iter(Reader(parse_url(str(tmp_path / "small.ome.zarr")))())).data
    ]
    assert np.array_equal(levels[0], _decode((tmp_path / "ref.png").read_bytes()))
    for i in range(2):
        assert np.array_equal(levels[i + 1], _downsample_oracle(levels[i], np.full((2, 2), 0.25)))


def test_pyramid_usage_errors_exit_2(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    tifffile.imwrite(tmp_path / "s.tif", np.zeros((40, 40), np.uint8), tile=(16, 16))
    for args, message in [
        (["--pyramid", "7"], "Invalid value for --pyramid: level 6 is already 1x1; this "
                             "image takes at most --pyramid 6"),
        (["--pyramid", "2", "--pyramid-kernel", "sobel"], "the kernel's weights must sum to 1"),
        (["--pyramid", "2", "--overwrite", "--skip-existing"], "give one"),
    ]:  # fmt: skip
        out = run("filter", "s.tif", "-k", "box:3", "-o", "s.ome.zarr", *args, cwd=tmp_path)
        assert out.returncode == 2, out.stderr
        assert message in out.stderr
        assert not (tmp_path / "s.ome.zarr").exists()
    first = run("filter", "s.tif", "-k", "box:3", "-o", "s.ome.zarr", "--pyramid", "2",
                cwd=tmp_path)  # fmt: skip
    assert first.returncode == 0, first.stderr
    chunk = next((tmp_path / "s.ome.zarr" / "2").rglob("c/*/*"))
    chunk.unlink()  # a level with a chunk missing: incomplete
    resumed = run("filter", "s.tif", "-k", "box:3", "-o", "s.ome.zarr", "--pyramid", "2",
                  "--skip-existing", cwd=tmp_path)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert "note: s.ome.zarr: incomplete (level 2: 0 of 1 chunks written); written again" in (
        resumed.stderr
    )
    skipped = run("filter", "s.tif", "-k", "box:3", "-o", "s.ome.zarr", "--pyramid", "2",
                  "--skip-existing", cwd=tmp_path)  # fmt: skip
    assert skipped.stderr == "skipped s.ome.zarr: it exists and is complete (--skip-existing)\n"


@pytest.mark.parametrize("scheme", ["http", "https", "s3", "gs"])
def test_a_missing_backend_names_the_extra_that_installs_it(monkeypatch, scheme):
    """The hint for a scheme whose package is missing is `pip install '.[EXTRA]'` (what works
    from a clone) with an extra pyproject.toml really defines, the one the docs name for
    that scheme."""
    import re

    tomllib = pytest.importorskip("tomllib")
    from convcli.errors import ImageError
    from convcli.images.urls import open_url

    def missing(url, **kwargs):
        raise ImportError(f"no backend for {url}")

    monkeypatch.setattr(fsspec.core, "url_to_fs", missing)
    with pytest.raises(ImageError) as info:
        open_url(f"{scheme}://host/a.png")
    hint = re.search(r"pip install '\.\[(\w+)\]' \(in convcli's folder\)$", str(info.value))
    assert hint, str(info.value)
    root = Path(__file__).resolve().parent.parent
    extras = tomllib.loads((root / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert hint.group(1) in extras
    docs = "".join(p.read_text() for p in [root / "README.md", *(root / "docs").glob("*.md")])
    assert f"'.[{hint.group(1)}]'" in docs
    wanted = {"http": "http", "https": "http", "s3": "s3", "gs": "gcs"}[scheme]
    assert hint.group(1) == wanted


def test_http_inputs_without_an_output_are_refused_before_reading(http_root, tmp_path):
    """`convcli filter http://.../a.png http://.../b.png -k sobel` (or one at a terminal) would
    write beside each input, on a read-only server: exit 2 at once, saying what to give,
    rather than reading and filtering every image to fail at each write."""
    from terminal import run_in_pty, strip_ansi

    folder, base = http_root
    pixels = np.random.default_rng(6).integers(0, 256, (24, 18), dtype=np.uint8)
    for name in ("a.png", "b.png"):
        (folder / name).write_bytes(_png_bytes(pixels))
    work = tmp_path / "work"
    work.mkdir()
    batch = run("filter", f"{base}/a.png", f"{base}/b.png", "-k", "sobel", cwd=work)
    assert batch.returncode == 2, batch.stderr
    assert batch.stderr.splitlines()[-1] == (
        f"Error: {base}/a.png: an http:// input cannot have its result written beside it "
        "(read-only): give -o FILE or --out-dir DIR"
    )
    code, text = run_in_pty(["filter", f"{base}/a.png", "-k", "sobel"], cwd=work)
    assert code == 2, text
    assert "give -o FILE or --out-dir DIR" in strip_ansi(text).replace("\n", " ")
    assert sorted(p.name for p in folder.iterdir()) == ["a.png", "b.png"]
    assert list(work.iterdir()) == []
