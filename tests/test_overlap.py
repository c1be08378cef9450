"""A big JPEG filtered with decoding, filtering and encoding overlapped (issue 22, item 2).

Oracles: the serial path (read_image → filter_image → write_image) for the
exact bytes, and scipy.ndimage's correlation of Pillow's own decode of the
input for the pixels.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from click.testing import CliRunner
from scipy import ndimage as ndi

from convcli.errors import ImageError
from convcli.images import overlap
from convcli.images.filtering import FilterSettings, filter_image
from convcli.images.io import read_image, write_image
from convcli.kernels.files import resolve_kernel

pytestmark = pytest.mark.skipif(
    not hasattr(os, "memfd_create"), reason="JPEG strips are encoded into memfd files (Linux)"
)

H, W = 403, 611  # no multiple of the 16-row MCU or of a band


@pytest.fixture(autouse=True)
def small_bands(monkeypatch):
    """Take the overlapped path for a small photo, in many bands and strips."""
    monkeypatch.setattr(overlap, "OVERLAP_PIXELS", 1)
    monkeypatch.setattr("convcli.cli.filter_cmd._OVERLAP_MIN_BYTES", 1)
    monkeypatch.setattr(overlap, "_BAND_PIXELS", 40 * W)
    monkeypatch.setattr(overlap, "_BLOCK", 4096)  # many decoder steps
    monkeypatch.setattr("convcli.images.jpegstrips.STRIP_PIXELS", 32 * W)


def _photo(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:H, :W]
    base = (xx * 0.3 + yy * 0.2 + 40 * np.sin(xx / 37.0) * np.cos(yy / 23.0)) % 256
    rgb = np.stack([base, base[::-1], base[:, ::-1]], axis=2) + rng.normal(0, 6, (H, W, 3))
    return np.clip(rgb, 0, 255).astype(np.uint8)


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.jpg"
    PIL.Image.fromarray(_photo()).save(path, quality=90)
    return path


def _serial(src: Path, dst: Path, kernels, settings, **how) -> None:
    result = filter_image(read_image(str(src)), kernels, settings, **how)
    write_image(str(dst), result.pixels, result.alpha, threads=2)


CASES = [
    (["sobel-x"], {"value_range": "clip"}, FilterSettings()),
    (["gaussian:sigma=2"], {}, FilterSettings()),  # auto on a blur: each value on its own
    (["sharpen"], {"value_range": "clip", "gray": True}, FilterSettings()),
    (["box:5", "sobel-y"], {"value_range": "abs"}, FilterSettings(repeat=2)),
    (["laplacian"], {"value_range": "offset"}, FilterSettings(dilation=3, pad_mode="edge")),
]


@pytest.mark.parametrize(("names", "how", "settings"), CASES)
@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_overlapped_bytes_are_the_serial_paths(photo, tmp_path, names, how, settings, ext):
    kernels = [resolve_kernel(n) for n in names]
    fmt = "JPEG" if ext == ".jpg" else "PNG"
    got = tmp_path / f"overlapped{ext}"
    notes = overlap.filter_overlapped(
        str(photo), str(got), kernels, settings, fmt=fmt, threads=2, **how
    )
    assert notes is not None, "the overlapped path was not taken"
    want = tmp_path / f"serial{ext}"
    _serial(photo, want, kernels, settings, **how)
    assert got.read_bytes() == want.read_bytes()


def test_overlapped_pixels_match_scipy(photo, tmp_path):
    """Sobel x, clipped, per channel: scipy.ndimage on Pillow's decode (reflect = 'mirror')."""
    out = tmp_path / "s.png"
    kernel = resolve_kernel("sobel-x")
    notes = overlap.filter_overlapped(
        str(photo), str(out), [kernel], FilterSettings(), fmt="PNG", value_range="clip"
    )
    assert notes is not None
    with PIL.Image.open(photo) as im:
        x = np.asarray(im).astype(np.float64)
    kx = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], float)
    want = np.stack([ndi.correlate(x[..., c], kx, mode="mirror") for c in range(3)], axis=2)
    want = np.clip(np.rint(want), 0, 255).astype(np.uint8)
    got = np.asarray(PIL.Image.open(out))
    np.testing.assert_array_equal(got, want)


def test_cases_it_does_not_take_write_nothing(photo, tmp_path):
    sobel = [resolve_kernel("sobel")]
    out = tmp_path / "o.jpg"
    # sobel's auto range stretches by the whole result's percentile
    assert (
        overlap.filter_overlapped(str(photo), str(out), sobel, FilterSettings(), fmt="JPEG") is None
    )
    gray = tmp_path / "gray.jpg"
    PIL.Image.fromarray(_photo()[..., 0]).save(gray)
    assert (
        overlap.filter_overlapped(
            str(gray), str(out), sobel, FilterSettings(), fmt="JPEG", value_range="clip"
        )
        is None
    )
    png = tmp_path / "in.png"
    PIL.Image.fromarray(_photo()).save(png)
    assert (
        overlap.filter_overlapped(
            str(png), str(out), sobel, FilterSettings(), fmt="JPEG", value_range="clip"
        )
        is None
    )
    strided = FilterSettings(stride=2)
    assert (
        overlap.filter_overlapped(
            str(photo), str(out), sobel, strided, fmt="JPEG", value_range="clip"
        )
        is None
    )
    assert not out.exists()


def _sobel_x_to_jpeg(src: Path, out: Path) -> list[str] | None:
    """Sobel x, clipped, from ``src`` to the JPEG ``out`` on two threads, overlapped."""
    kernels = [resolve_kernel("sobel-x")]
    return overlap.filter_overlapped(
        str(src), str(out), kernels, FilterSettings(), fmt="JPEG", value_range="clip", threads=2
    )


def test_without_the_row_marks_the_bands_wait_for_the_end(photo, tmp_path, monkeypatch):
    """Rows never seen as done before the decoder ends: the same bytes, only later."""
    monkeypatch.setattr(overlap.BandedJpeg, "_publish", lambda self: None)
    assert _sobel_x_to_jpeg(photo, tmp_path / "late.jpg") == []
    kernels = [resolve_kernel("sobel-x")]
    _serial(photo, tmp_path / "serial.jpg", kernels, FilterSettings(), value_range="clip")
    assert (tmp_path / "late.jpg").read_bytes() == (tmp_path / "serial.jpg").read_bytes()


def test_a_truncated_jpeg_is_an_error_and_leaves_nothing(photo, tmp_path):
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(photo.read_bytes()[: photo.stat().st_size // 2])
    out = tmp_path / "o.jpg"
    with pytest.raises(ImageError, match="truncated or corrupt"):
        _sobel_x_to_jpeg(cut, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.jpg", "photo.jpg"]


def test_an_interrupt_stops_the_decoder_and_removes_the_part_file(photo, tmp_path, monkeypatch):
    """Ctrl-C while bands are filtered: the decoding thread ends, no .part file stays."""
    import threading

    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        raise KeyboardInterrupt

    monkeypatch.setattr("convcli.images.filtering.filter_image", interrupted)
    out = tmp_path / "o.jpg"
    with pytest.raises(KeyboardInterrupt):
        _sobel_x_to_jpeg(photo, out)
    assert calls == [1]
    assert not any(t.name == "convcli-decode" for t in threading.enumerate())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.jpg"]


def test_the_filter_command_takes_the_overlapped_path(photo, tmp_path, monkeypatch):
    """`convcli filter big.jpg ... -o out.jpg` goes through it, with the serial path's bytes."""
    from convcli.cli import cli

    taken = []
    real = overlap.filter_overlapped

    def spy(*args, **kwargs):
        result = real(*args, **kwargs)
        taken.append(result is not None)
        return result

    monkeypatch.setattr(overlap, "filter_overlapped", spy)
    monkeypatch.chdir(tmp_path)
    args = ["filter", "photo.jpg", "-k", "sobel-x", "--range", "clip", "--threads", "2"]
    res = CliRunner().invoke(cli, [*args, "-o", "out.jpg"])
    assert res.exit_code == 0, res.output
    assert taken == [True]
    _serial(
        photo,
        tmp_path / "serial.jpg",
        [resolve_kernel("sobel-x")],
        FilterSettings(),
        value_range="clip",
    )
    assert (tmp_path / "out.jpg").read_bytes() == (tmp_path / "serial.jpg").read_bytes()
    # an existing output is refused as before, and the input is never written
    res = CliRunner().invoke(cli, [*args, "-o", "out.jpg"])
    assert res.exit_code == 1 and "exists" in res.output
