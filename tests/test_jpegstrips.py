"""A JPEG encoded in strips on several threads decodes to the pixels of Pillow's one encode.

The oracle is Pillow's own ``Image.save(..., "JPEG")`` of the same pixels,
decoded by Pillow and, when it is installed, by OpenCV (another decoder).
"""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from terminal import convcli_executable

from convcli.images import io as imageio
from convcli.images import jpegstrips
from convcli.images.io import read_image, write_image

pytestmark = pytest.mark.skipif(
    not hasattr(os, "memfd_create"), reason="strips are encoded into memfd files (Linux)"
)


def _photo(h: int, w: int, channels: int | None = 3, seed: int = 0) -> np.ndarray:
    """Smooth gradients with noise: every 8×8 block differs, chroma included."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    base = (xx * 0.3 + yy * 0.2 + 40 * np.sin(xx / 37.0) * np.cos(yy / 23.0)) % 256
    shape = (h, w) if channels is None else (h, w, channels)
    noise = rng.normal(0, 6, shape)
    if channels is not None:
        base = np.stack([base, base[::-1], base[:, ::-1]], axis=2)
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def _pillow_jpeg(pixels: np.ndarray, quality: int) -> bytes:
    buf = io.BytesIO()
    PIL.Image.fromarray(pixels).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _decode(data: bytes) -> np.ndarray:
    with PIL.Image.open(io.BytesIO(data)) as im:
        assert im.format == "JPEG"
        return np.asarray(im)


@pytest.mark.parametrize(
    ("h", "w", "channels", "strip_pixels"),
    [
        (200, 150, 3, 16 * 150),  # 13 strips of 16 rows: RST0..RST7 wrap round
        (203, 157, 3, 48 * 157),  # width and height no multiple of 16; a short last strip
        (130, 97, None, 32 * 97),  # gray: 8×8 MCUs
        (64, 33, 3, 1),  # the smallest strip: one MCU row
    ],
)
def test_strips_decode_to_the_pixels_of_one_encode(monkeypatch, h, w, channels, strip_pixels):
    monkeypatch.setattr(jpegstrips, "STRIP_PIXELS", strip_pixels)
    pixels = _photo(h, w, channels)
    assert jpegstrips.can_write_strips(pixels, threads=2)
    for quality in (90, 50):
        buf = io.BytesIO()
        jpegstrips.write_jpeg_strips(buf, pixels, quality=quality, threads=2)
        data = buf.getvalue()
        assert b"\xff\xdd" in data and b"\xff\xd0" in data  # restart interval and markers
        expected = _decode(_pillow_jpeg(pixels, quality))
        got = _decode(data)
        assert got.shape == pixels.shape
        np.testing.assert_array_equal(got, expected)
        try:
            import cv2
        except ImportError:
            continue
        other = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(other if other.ndim == 2 else other[..., ::-1], expected)


def test_what_strips_do_not_take():
    """One thread, a small image, alpha, 16 bits: Pillow's own encoder."""
    big = np.zeros((2048, 1024, 3), np.uint8)
    assert jpegstrips.can_write_strips(big, threads=2)
    assert not jpegstrips.can_write_strips(big, threads=1)
    assert not jpegstrips.can_write_strips(big[:1024], threads=2)  # one strip
    assert not jpegstrips.can_write_strips(np.zeros((2048, 1024, 4), np.uint8), threads=2)
    assert not jpegstrips.can_write_strips(np.zeros((2048, 1024), np.uint16), threads=2)


def test_write_image_uses_strips_with_threads(tmp_path, monkeypatch):
    """write_image takes the strips for a large JPEG when it may use threads, and the file
    it leaves is the image, read back by convcli's reader."""
    monkeypatch.setattr(jpegstrips, "STRIP_PIXELS", 64 * 300)
    calls = []
    real = jpegstrips.write_jpeg_strips

    def spy(*args, **kwargs):
        calls.append(kwargs.get("threads"))
        return real(*args, **kwargs)

    monkeypatch.setattr(jpegstrips, "write_jpeg_strips", spy)
    pixels = _photo(400, 300)
    expected = _decode(_pillow_jpeg(pixels, 90))
    for threads, strips in ((2, [2]), (1, [])):
        calls.clear()
        target = tmp_path / f"out{threads}.jpg"
        write_image(target, pixels, threads=threads)
        assert calls == strips
        np.testing.assert_array_equal(read_image(target).pixels, expected)
    assert not list(tmp_path.glob(".*.part"))
    assert imageio.output_format(str(target)) == "JPEG"


JPEG = ("--format", "jpeg")  # standard output is PNG unless told


def test_the_command_writes_strips_through_a_pipe(tmp_path):
    """`convcli filter in.jpg -k sobel-x > out.jpg`, a 2-megapixel photo, two threads: the
    bytes on standard output decode to Pillow's one encode of the same filtered pixels."""
    src = tmp_path / "in.jpg"
    PIL.Image.fromarray(_photo(1400, 1500, seed=3)).save(src, quality=92)
    env = dict(os.environ, CONVCLI_THREADS="2", COLUMNS="80")
    with open(tmp_path / "out.jpg", "wb") as out:
        done = subprocess.run(
            [convcli_executable(), "filter", "in.jpg", "-k", "sobel-x", "--range", "clip", *JPEG],
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.PIPE,
            env=env,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    data = Path(tmp_path / "out.jpg").read_bytes()
    assert data.startswith(b"\xff\xd8") and b"\xff\xdd" in data  # a JPEG written in strips
    env1 = dict(env, CONVCLI_THREADS="1")
    one = subprocess.run(
        [convcli_executable(), "filter", "in.jpg", "-k", "sobel-x", "--range", "clip", *JPEG],
        cwd=tmp_path,
        capture_output=True,
        env=env1,
        check=False,
    )
    assert one.returncode == 0 and one.stdout.startswith(b"\xff\xd8")
    assert b"\xff\xdd" not in one.stdout  # Pillow's one encode
    np.testing.assert_array_equal(_decode(data), _decode(one.stdout))


@pytest.mark.parametrize("suffix", [".jpg", ".npy"])
def test_ctrl_c_mid_batch_leaves_only_complete_files(tmp_path, suffix):
    """Ctrl-C (SIGINT to the process group) while a batch writes JPEG strips or .npy strips,
    relative paths: exit 130, no temporary file, and every output there is whole."""
    import signal

    from test_signals import finish, leftovers, start, wait_for, written

    (tmp_path / "in").mkdir()
    for i in range(12):
        PIL.Image.fromarray(_photo(1200, 1800, seed=i)).save(tmp_path / "in" / f"p{i:02d}.jpg")
    fmt = suffix.lstrip(".")
    args = ["filter", "in", "-k", "gaussian:sigma=4", "--out-dir", "out", "--format", fmt]
    if suffix == ".npy":
        args += ["--range", "clip"]
    proc = start(args, tmp_path)
    out = tmp_path / "out"
    wait_for(lambda: out.is_dir() and len(written(out)) >= 1)
    os.killpg(proc.pid, signal.SIGINT)
    code, err, _ = finish(proc)
    assert code == 130, err
    assert leftovers(out) == [] and "Traceback" not in err
    names = written(out)
    assert 1 <= len(names) < 12
    for name in names:
        if suffix == ".jpg":
            with PIL.Image.open(out / name) as im:
                im.load()  # a cut JPEG raises here (or warns of a truncated file)
                assert im.size == (1800, 1200)
        else:
            assert np.load(out / name).shape == (3, 1200, 1800)


def test_at_a_terminal_with_relative_paths(tmp_path):
    """At an 80-column terminal, in its own folder: a large JPEG in, a JPEG in strips out,
    nothing on the screen but the prompt's silence, and no temporary file left."""
    from terminal import run_in_pty

    (tmp_path / "photos").mkdir()
    PIL.Image.fromarray(_photo(1300, 1700, seed=5)).save(tmp_path / "photos" / "a.jpg")
    code, screen = run_in_pty(
        ["filter", "photos/a.jpg", "-k", "gaussian:sigma=2", "-o", "photos/b.jpg"],
        tmp_path,
        env={"CONVCLI_THREADS": "2"},  # strips whatever the cores of the machine
    )
    assert code == 0, screen
    assert "Traceback" not in screen and "Error" not in screen
    data = (tmp_path / "photos" / "b.jpg").read_bytes()
    assert b"\xff\xdd" in data  # written in strips
    with PIL.Image.open(tmp_path / "photos" / "b.jpg") as im:
        im.load()
        assert im.size == (1700, 1300)
    assert sorted(p.name for p in (tmp_path / "photos").iterdir()) == ["a.jpg", "b.jpg"]
