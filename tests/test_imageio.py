"""Tests for convcli.images.io: reading every image kind, writing every format, never losing data.

The expected arrays come from the fixtures in conftest.py (built with numpy and
written with Pillow or byte by byte), or are written out by hand here. Images
are compared as decoded arrays, never as bytes.
"""

from __future__ import annotations

import io
import os
import re
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import PIL.Image
import pytest

import convcli
from convcli.errors import ImageError
from convcli.images.io import (
    DEFAULT_MAX_PIXELS,
    Image,
    output_format,
    read_image,
    same_file,
    stdout_is_terminal,
    write_image,
)

# fixture name -> (dtype, has alpha, format, a note that must appear or None)
READ_CASES = {
    "gray_png": (np.uint8, False, "PNG", None),
    "rgb_png": (np.uint8, False, "PNG", None),
    "rgba_png": (np.uint8, True, "PNG", None),
    "la_png": (np.uint8, True, "PNG", None),
    "palette_png": (np.uint8, False, "PNG", "palette image converted to RGB"),
    "palette_transparent_png": (np.uint8, True, "PNG", "palette image converted to RGBA"),
    "bilevel_png": (np.uint8, False, "PNG", "1-bit image converted to 8-bit grayscale"),
    "gray16_png": (np.uint16, False, "PNG", None),
    "gray16_tiff": (np.uint16, False, "TIFF", None),
    "float32_tiff": (np.float32, False, "TIFF", None),
    "rgb_jpeg": (np.uint8, False, "JPEG", None),
    "exif6_png": (np.uint8, False, "PNG", "EXIF orientation 6 applied"),
    "exif8_jpeg": (np.uint8, False, "JPEG", "EXIF orientation 8 applied"),
    "animated_gif": (np.uint8, False, "GIF", "GIF with 3 frames: used the first"),
    "rgb_webp": (np.uint8, False, "WEBP", None),
    "rgb_bmp": (np.uint8, False, "BMP", None),
    "gray_pgm": (np.uint8, False, "PPM", None),
    "gray16_pgm": (np.uint16, False, "PPM", None),
    "rgb_ppm": (np.uint8, False, "PPM", None),
    "gray_npy": (np.float32, False, "NPY", None),
    "rgb_npy": (np.uint8, False, "NPY", None),
    "rgba_npy": (np.uint16, True, "NPY", None),
}


def _assert_close(actual: np.ndarray, expected: np.ndarray, tolerance: int) -> None:
    assert actual.shape == expected.shape
    if tolerance == 0:
        np.testing.assert_array_equal(actual, expected)
    else:
        diff = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
        assert diff.max() <= tolerance


# ----------------------------------------------------------------- reading


@pytest.mark.parametrize("fixture", sorted(READ_CASES))
def test_read_every_kind(fixture: str, request: pytest.FixtureRequest) -> None:
    """Each image kind decodes to its own dtype, shape, pixel values and alpha."""
    sample = request.getfixturevalue(fixture)
    dtype, has_alpha, fmt, note = READ_CASES[fixture]
    img = read_image(sample.path)
    assert img.pixels.dtype == dtype
    assert img.format == fmt
    assert img.source == str(sample.path)
    _assert_close(img.pixels, sample.pixels, sample.tolerance)
    assert img.has_alpha is has_alpha
    if has_alpha:
        assert img.alpha.dtype == dtype
        np.testing.assert_array_equal(img.alpha, sample.alpha)
    if note is None:
        assert img.notes == []
    else:
        assert f"{sample.path}: {note}" in img.notes


def test_read_accepts_str_path_and_stream(rgb_png) -> None:
    """A str path and an open binary file give the same pixels as a Path."""
    from_str = read_image(str(rgb_png.path))
    with open(rgb_png.path, "rb") as fh:
        from_stream = read_image(fh)
    np.testing.assert_array_equal(from_str.pixels, rgb_png.pixels)
    np.testing.assert_array_equal(from_stream.pixels, rgb_png.pixels)
    assert from_stream.source == str(rgb_png.path)


def test_exif6_rotates_clockwise_hand_values(exif6_png) -> None:
    """Orientation 6 turns the stored [[10,20,30],[40,50,60]] to [[40,10],[50,20],[60,30]]."""
    img = read_image(exif6_png.path)
    assert img.pixels.tolist() == [[40, 10], [50, 20], [60, 30]]


def test_exif8_rotates_counter_clockwise(exif8_jpeg) -> None:
    """Orientation 8 shows the stored right column as the top row (24 rows by 16 columns)."""
    img = read_image(exif8_jpeg.path)
    assert img.pixels.shape == (24, 16)
    # block centres of the displayed 3×2 grid of 8×8 blocks
    centres = img.pixels[4::8, 4::8].astype(int)
    np.testing.assert_allclose(centres, [[30, 60], [20, 50], [10, 40]], atol=4)


def test_gif_uses_first_frame_and_says_so(animated_gif) -> None:
    """An animated GIF reads as its first frame, with a note naming the frame count."""
    img = read_image(animated_gif.path)
    np.testing.assert_array_equal(img.pixels, animated_gif.pixels)
    assert f"{animated_gif.path}: GIF with 3 frames: used the first" in img.notes


def test_image_properties(rgba_png, gray16_png, float32_tiff) -> None:
    """is_gray, has_alpha, bit_depth, width and height describe the pixels."""
    rgba = read_image(rgba_png.path)
    assert (rgba.is_gray, rgba.has_alpha, rgba.bit_depth) == (False, True, 8)
    assert (rgba.height, rgba.width) == (12, 16)
    g16 = read_image(gray16_png.path)
    assert (g16.is_gray, g16.has_alpha, g16.bit_depth, g16.max_value) == (True, False, 16, 65535)
    f32 = read_image(float32_tiff.path)
    assert (f32.bit_depth, f32.mode) == (32, "F")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0.0, 0.5, 1.0], 1.0),
        ([-3.0, 0.2], 1.0),
        ([0.0, 1.5], 255.0),
        ([-400.0, 255.0], 255.0),
        ([0.0, 256.0], 65535.0),
        ([0.0, 70000.0], 70000.0),
        # NaN and inf are refused since issue 12 (tests/test_nonfinite.py)
    ],
)
def test_float_max_value_rule(values: list[float], expected: float) -> None:
    """Float max_value is the smallest of 1, 255, 65535 holding the largest finite value."""
    buf = io.BytesIO()
    np.save(buf, np.array([values], dtype=np.float64))
    buf.seek(0)
    img = read_image(buf)
    assert img.max_value == expected
    np.testing.assert_array_equal(img.pixels, np.array([values]))


def test_npy_bool_and_int_arrays(tmp_path: Path) -> None:
    """A bool .npy reads as 0/255 uint8; an int32 .npy as float64 with the same values."""
    np.save(tmp_path / "b.npy", np.array([[True, False]]))
    np.save(tmp_path / "i.npy", np.array([[-5, 300]], dtype=np.int32))
    b = read_image(tmp_path / "b.npy")
    assert b.pixels.dtype == np.uint8 and b.pixels.tolist() == [[255, 0]]
    i = read_image(tmp_path / "i.npy")
    assert i.pixels.dtype == np.float64 and i.pixels.tolist() == [[-5.0, 300.0]]
    assert any("int32 array read as float64" in n for n in i.notes)


def test_npy_single_channel_and_gray_alpha(tmp_path: Path) -> None:
    """(1, H, W) reads as (H, W); (2, H, W) as gray plus alpha (channels first)."""
    np.save(tmp_path / "one.npy", np.array([[[1, 2]]], dtype=np.uint8))
    np.save(tmp_path / "two.npy", np.array([[[1, 2]], [[9, 8]]], dtype=np.uint8))
    assert read_image(tmp_path / "one.npy").pixels.tolist() == [[1, 2]]
    two = read_image(tmp_path / "two.npy")
    assert two.pixels.tolist() == [[1, 2]] and two.alpha.tolist() == [[9, 8]]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _png_bytes(width: int, height: int, bit_depth: int, colour_type: int, rows: bytes) -> bytes:
    """A PNG built by hand (filter type 0 on every row)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(rows))
        + _png_chunk(b"IEND", b"")
    )


def test_16bit_colour_png_reads_as_8bit_with_note(tmp_path: Path) -> None:
    """A 16-bit RGB PNG reads as its high bytes (Pillow's limit), with a note saying so."""
    values = np.array([[[0, 256, 65535], [2000, 40000, 511]]], dtype=np.uint16)
    rows = b"\x00" + values[0].astype(">u2").tobytes()
    path = tmp_path / "rgb16.png"
    path.write_bytes(_png_bytes(2, 1, 16, 2, rows))
    img = read_image(path)
    assert img.pixels.dtype == np.uint8
    assert img.pixels.tolist() == [[[0, 1, 255], [7, 156, 1]]]
    assert any("16-bit colour PNG read as 8 bits per channel" in n for n in img.notes)


def _tiff_rgb16_bytes(values: np.ndarray) -> bytes:
    """An uncompressed little-endian 16-bit RGB TIFF built by hand (one strip)."""
    h, w, _ = values.shape
    data = values.astype("<u2").tobytes()
    n_tags = 10
    bps_offset = 8 + 2 + n_tags * 12 + 4
    data_offset = bps_offset + 6

    def short(tag: int, value: int) -> bytes:
        return struct.pack("<HHIHH", tag, 3, 1, value, 0)

    def long(tag: int, count: int, value: int, kind: int = 4) -> bytes:
        return struct.pack("<HHII", tag, kind, count, value)

    tags = [
        short(256, w),
        short(257, h),
        long(258, 3, bps_offset, kind=3),  # BitsPerSample: 3 shorts stored after the IFD
        short(259, 1),  # no compression
        short(262, 2),  # RGB
        long(273, 1, data_offset),
        short(277, 3),
        short(278, h),
        long(279, 1, len(data)),
        short(284, 1),  # chunky
    ]
    return (
        b"II*\x00"
        + struct.pack("<IH", 8, n_tags)
        + b"".join(tags)
        + b"\x00\x00\x00\x00"
        + struct.pack("<HHH", 16, 16, 16)
        + data
    )


def test_16bit_colour_tiff_reads_as_8bit_with_note(tmp_path: Path) -> None:
    """A 16-bit RGB TIFF reads as its high bytes (Pillow's limit), with a note saying so."""
    values = np.array([[[0, 256, 65535], [2000, 40000, 511]]], dtype=np.uint16)
    path = tmp_path / "rgb16.tif"
    path.write_bytes(_tiff_rgb16_bytes(values))
    img = read_image(path)
    assert img.pixels.tolist() == [[[0, 1, 255], [7, 156, 1]]]
    assert any("16-bit colour TIFF read as 8 bits per channel" in n for n in img.notes)


def test_32bit_int_tiff_outside_16_bits_becomes_float(tmp_path: Path) -> None:
    """A 32-bit integer TIFF with values above 65535 keeps them, as float64."""
    path = tmp_path / "int32.tif"
    PIL.Image.new("I", (2, 1), 70000).save(path)
    img = read_image(path)
    assert img.pixels.dtype == np.float64 and img.pixels.tolist() == [[70000.0, 70000.0]]


def test_32bit_int_tiff_within_16_bits_becomes_uint16(tmp_path: Path) -> None:
    """A 32-bit integer TIFF with values in 0..65535 reads as uint16."""
    path = tmp_path / "int32.tif"
    PIL.Image.new("I", (2, 1), 1234).save(path)
    img = read_image(path)
    assert img.pixels.dtype == np.uint16 and img.pixels.tolist() == [[1234, 1234]]


def test_cmyk_jpeg_converts_to_rgb(tmp_path: Path) -> None:
    """A CMYK JPEG reads as RGB with a note (pure cyan is (0, 255, 255))."""
    path = tmp_path / "cmyk.jpg"
    PIL.Image.new("CMYK", (8, 8), (255, 0, 0, 0)).save(path, quality=95)
    img = read_image(path)
    assert img.pixels.shape == (8, 8, 3)
    np.testing.assert_allclose(img.pixels[4, 4], [0, 255, 255], atol=3)
    assert any("CMYK image converted to RGB" in n for n in img.notes)


# ----------------------------------------------------------------- stdin, stdout, streams


class _FakeStdout:
    def __init__(self, tty: bool) -> None:
        self.buffer = io.BytesIO()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def test_read_from_stdin(monkeypatch: pytest.MonkeyPatch, rgba_png) -> None:
    """'-' reads the whole of standard input."""
    fake = io.TextIOWrapper(io.BytesIO(rgba_png.path.read_bytes()))
    monkeypatch.setattr(sys, "stdin", fake)
    img = read_image("-")
    assert img.source == "<stdin>"
    np.testing.assert_array_equal(img.pixels, rgba_png.pixels)
    np.testing.assert_array_equal(img.alpha, rgba_png.alpha)


def test_npy_from_stdin(monkeypatch: pytest.MonkeyPatch, rgb_npy) -> None:
    """.npy data is recognised by its content, so it works from standard input."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(rgb_npy.path.read_bytes())))
    np.testing.assert_array_equal(read_image("-").pixels, rgb_npy.pixels)


def test_empty_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    """Empty standard input is an error that says so."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    with pytest.raises(ImageError, match=r"^<stdin>: no data on standard input$"):
        read_image("-")


def test_write_stdout_png_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """'-' without a format writes PNG bytes to standard output."""
    fake = _FakeStdout(tty=False)
    monkeypatch.setattr(sys, "stdout", fake)
    pixels = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert write_image("-", pixels) == []
    data = fake.buffer.getvalue()
    assert data.startswith(b"\x89PNG")
    with PIL.Image.open(io.BytesIO(data)) as im:
        np.testing.assert_array_equal(np.asarray(im), pixels)


def test_write_stdout_with_format(monkeypatch: pytest.MonkeyPatch) -> None:
    """'-' with format='npy' writes a .npy array to standard output."""
    fake = _FakeStdout(tty=False)
    monkeypatch.setattr(sys, "stdout", fake)
    pixels = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    write_image("-", pixels, format="NPY")
    np.testing.assert_array_equal(np.load(io.BytesIO(fake.buffer.getvalue())), pixels)


def test_refuse_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Image bytes are never written to a terminal."""
    fake = _FakeStdout(tty=True)
    monkeypatch.setattr(sys, "stdout", fake)
    assert stdout_is_terminal()
    with pytest.raises(ImageError) as info:
        write_image("-", np.zeros((2, 2), dtype=np.uint8))
    assert str(info.value) == (
        "refusing to write image data to a terminal; redirect stdout or use -o FILE"
    )
    assert fake.buffer.getvalue() == b""


def test_stdout_is_terminal_false_for_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    """stdout_is_terminal is False for a non-terminal stdout and for one without isatty."""
    monkeypatch.setattr(sys, "stdout", _FakeStdout(tty=False))
    assert stdout_is_terminal() is False
    monkeypatch.setattr(sys, "stdout", object())
    assert stdout_is_terminal() is False


def test_pipeline_through_bytesio(rgb_png) -> None:
    """write_image to a BytesIO and read_image from it round-trip the pixels."""
    buf = io.BytesIO()
    write_image(buf, rgb_png.pixels, format="png")
    buf.seek(0)
    np.testing.assert_array_equal(read_image(buf).pixels, rgb_png.pixels)


def test_read_non_seekable_stream(rgb_png) -> None:
    """A stream that cannot seek (a pipe) is read fully first."""

    class Pipe(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._inner = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, b) -> int:
            chunk = self._inner.read(len(b))
            b[: len(chunk)] = chunk
            return len(chunk)

    img = read_image(io.BufferedReader(Pipe(rgb_png.path.read_bytes())))
    np.testing.assert_array_equal(img.pixels, rgb_png.pixels)


# ----------------------------------------------------------------- writing round trips

_RNG = np.random.default_rng(42)
GRAY8 = _RNG.integers(0, 256, size=(10, 14), dtype=np.uint8)
RGB8 = _RNG.integers(0, 256, size=(10, 14, 3), dtype=np.uint8)
ALPHA8 = _RNG.integers(0, 256, size=(10, 14), dtype=np.uint8)
GRAY16 = _RNG.integers(0, 65536, size=(10, 14), dtype=np.uint16)


@pytest.mark.parametrize("ext", [".png", ".tif", ".tiff", ".bmp", ".webp", ".pgm", ".npy"])
def test_gray8_round_trip_exact(tmp_path: Path, ext: str) -> None:
    """Lossless formats give back 8-bit grayscale exactly, still grayscale."""
    path = tmp_path / f"out{ext}"
    write_image(path, GRAY8)
    img = read_image(path)
    assert img.pixels.dtype == np.uint8
    np.testing.assert_array_equal(img.pixels, GRAY8)


@pytest.mark.parametrize("ext", [".png", ".tif", ".bmp", ".webp", ".ppm", ".npy"])
def test_rgb8_round_trip_exact(tmp_path: Path, ext: str) -> None:
    """Lossless formats give back 8-bit RGB exactly."""
    path = tmp_path / f"out{ext}"
    write_image(path, RGB8)
    np.testing.assert_array_equal(read_image(path).pixels, RGB8)


@pytest.mark.parametrize("ext", [".png", ".tif", ".webp", ".npy"])
def test_rgba8_round_trip_exact(tmp_path: Path, ext: str) -> None:
    """Formats with alpha give back colour and alpha exactly (WebP with exact=True)."""
    path = tmp_path / f"out{ext}"
    write_image(path, RGB8, ALPHA8)
    img = read_image(path)
    np.testing.assert_array_equal(img.pixels, RGB8)
    np.testing.assert_array_equal(img.alpha, ALPHA8)


@pytest.mark.parametrize("ext", [".png", ".tif", ".webp", ".npy"])
def test_gray_alpha_round_trip_exact(tmp_path: Path, ext: str) -> None:
    """Grayscale plus alpha comes back as grayscale plus alpha."""
    path = tmp_path / f"out{ext}"
    write_image(path, GRAY8, ALPHA8)
    img = read_image(path)
    np.testing.assert_array_equal(img.pixels, GRAY8)
    np.testing.assert_array_equal(img.alpha, ALPHA8)


@pytest.mark.parametrize("ext", [".png", ".tif", ".pgm", ".npy"])
def test_gray16_round_trip_stays_16bit(tmp_path: Path, ext: str) -> None:
    """16-bit grayscale stays 16-bit and exact in PNG, TIFF, PGM and .npy."""
    path = tmp_path / f"out{ext}"
    assert write_image(path, GRAY16) == []
    img = read_image(path)
    assert img.pixels.dtype == np.uint16 and img.max_value == 65535
    np.testing.assert_array_equal(img.pixels, GRAY16)


def test_gray16_png_file_round_trip(gray16_png, tmp_path: Path) -> None:
    """A 16-bit PNG read and written again is the same 16-bit image."""
    img = read_image(gray16_png.path)
    write_image(tmp_path / "again.png", img.pixels)
    np.testing.assert_array_equal(read_image(tmp_path / "again.png").pixels, gray16_png.pixels)


def test_jpeg_round_trip_within_tolerance(tmp_path: Path) -> None:
    """JPEG at quality 95 gives back a smooth RGB image within a few levels."""
    y, x = np.mgrid[0:32, 0:48]
    pixels = np.dstack([x * 4 + 20, y * 6 + 10, 200 - x * 2]).astype(np.uint8)
    path = tmp_path / "out.jpg"
    write_image(path, pixels, jpeg_quality=95)
    got = read_image(path).pixels
    assert np.abs(got.astype(int) - pixels.astype(int)).max() <= 6


def test_gif_round_trip_gray_exact(tmp_path: Path) -> None:
    """GIF holds up to 256 grays exactly and they come back as grayscale."""
    path = tmp_path / "out.gif"
    write_image(path, GRAY8)
    img = read_image(path)
    assert img.is_gray
    np.testing.assert_array_equal(img.pixels, GRAY8)


def test_gif_round_trip_few_colours_exact(tmp_path: Path) -> None:
    """An RGB image of 4 colours survives GIF's palette exactly."""
    colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [20, 40, 60]], dtype=np.uint8)
    pixels = colours[np.random.default_rng(5).integers(0, 4, size=(10, 14))]
    path = tmp_path / "out.gif"
    write_image(path, pixels)
    np.testing.assert_array_equal(read_image(path).pixels, pixels)


def test_float32_tiff_round_trip_exact(tmp_path: Path) -> None:
    """Raw float32 grayscale round-trips exactly through TIFF, negatives included."""
    pixels = np.random.default_rng(3).normal(0, 300, size=(6, 7)).astype(np.float32)
    write_image(tmp_path / "raw.tif", pixels)
    img = read_image(tmp_path / "raw.tif")
    assert img.pixels.dtype == np.float32
    np.testing.assert_array_equal(img.pixels, pixels)


def test_float64_npy_round_trip_exact(tmp_path: Path) -> None:
    """Raw float64 RGB round-trips exactly through .npy."""
    pixels = np.random.default_rng(4).normal(0, 300, size=(6, 7, 3))
    write_image(tmp_path / "raw.npy", pixels)
    img = read_image(tmp_path / "raw.npy")
    assert img.pixels.dtype == np.float64
    np.testing.assert_array_equal(img.pixels, pixels)


def test_alpha_in_last_channel(tmp_path: Path) -> None:
    """(H, W, 4) pixels without an alpha argument carry alpha in the last channel."""
    write_image(tmp_path / "a.png", np.dstack([RGB8, ALPHA8]))
    img = read_image(tmp_path / "a.png")
    np.testing.assert_array_equal(img.pixels, RGB8)
    np.testing.assert_array_equal(img.alpha, ALPHA8)


@pytest.mark.parametrize(("ext", "fmt"), [(".jpg", "JPEG"), (".bmp", "BMP"), (".ppm", "PPM")])
def test_alpha_dropped_where_format_has_none(tmp_path: Path, ext: str, fmt: str) -> None:
    """JPEG, BMP and PPM drop alpha (colour kept as is) and say so."""
    path = tmp_path / f"out{ext}"
    y, x = np.mgrid[0:16, 0:24]
    smooth = np.dstack([x * 8 + 20, y * 10 + 30, 220 - x * 4]).astype(np.uint8)
    alpha = np.random.default_rng(9).integers(0, 256, size=(16, 24), dtype=np.uint8)
    notes = write_image(path, smooth, alpha, jpeg_quality=95)
    assert notes == [f"{path}: {fmt} has no alpha channel: alpha dropped"]
    img = read_image(path)
    assert img.alpha is None
    _assert_close(img.pixels, smooth, 8 if fmt == "JPEG" else 0)


def test_16bit_scaled_to_8bit_for_jpeg(tmp_path: Path) -> None:
    """16-bit into JPEG becomes round(v/257) with a note."""
    pixels = np.full((16, 16), 257 * 100 + 100, dtype=np.uint16)  # 100.39 -> 100
    path = tmp_path / "out.jpg"
    notes = write_image(path, pixels)
    assert notes == [f"{path}: JPEG holds 8 bits per channel: 16-bit values scaled to 8 bits"]
    _assert_close(read_image(path).pixels, np.full((16, 16), 100, dtype=np.uint8), 1)


def test_16bit_colour_png_scaled_exactly(tmp_path: Path) -> None:
    """16-bit RGB into PNG is scaled to round(v * 255 / 65535) per value, with a note."""
    pixels = np.random.default_rng(6).integers(0, 65536, size=(5, 6, 3), dtype=np.uint16)
    path = tmp_path / "out.png"
    notes = write_image(path, pixels)
    assert len(notes) == 1 and "16-bit values scaled to 8 bits" in notes[0]
    expected = np.rint(pixels.astype(np.float64) * 255 / 65535).astype(np.uint8)
    np.testing.assert_array_equal(read_image(path).pixels, expected)


def test_16bit_colour_npy_stays_16bit(tmp_path: Path) -> None:
    """.npy keeps 16-bit colour and alpha exactly."""
    rgb = np.random.default_rng(7).integers(0, 65536, size=(5, 6, 3), dtype=np.uint16)
    alpha = np.random.default_rng(8).integers(0, 65536, size=(5, 6), dtype=np.uint16)
    assert write_image(tmp_path / "o.npy", rgb, alpha) == []
    img = read_image(tmp_path / "o.npy")
    np.testing.assert_array_equal(img.pixels, rgb)
    np.testing.assert_array_equal(img.alpha, alpha)


# ----------------------------------------------------------------- never lose data


def _listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


class _Boom(RuntimeError):
    pass


def _failing_save(exc: BaseException):
    def save(self, fp, format=None, **params):  # writes half an image, then fails
        fp.write(b"\x89PNG\r\n\x1a\npartial")
        raise exc

    return save


def _fail_encoders(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    """Make both PNG writers (convcli.images.png and Pillow's) write half a file, then fail."""

    def write_png(fh, pixels, **kwargs):
        fh.write(b"\x89PNG\r\n\x1a\npartial")
        raise exc

    monkeypatch.setattr(PIL.Image.Image, "save", _failing_save(exc))
    monkeypatch.setattr("convcli.images.writing.write_png", write_png)


# PNG goes through convcli.images.png, TIFF through Pillow
ENCODED = pytest.mark.parametrize("suffix", [".png", ".tif"])


@ENCODED
def test_failed_write_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    """An encoder failure mid-way leaves neither the target nor a temporary file."""
    _fail_encoders(monkeypatch, _Boom("disk on fire"))
    with pytest.raises(_Boom):
        write_image(tmp_path / f"out{suffix}", GRAY8)
    assert _listing(tmp_path) == []


@ENCODED
def test_failed_write_keeps_existing_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    """A failed overwrite leaves the existing file byte for byte as it was."""
    target = tmp_path / f"out{suffix}"
    write_image(target, GRAY8)
    before = target.read_bytes()
    _fail_encoders(monkeypatch, OSError(28, "No space left"))
    fmt = "PNG" if suffix == ".png" else "TIFF"
    message = rf"out\{suffix}: could not write {fmt}: No space left"
    with pytest.raises(ImageError, match=message):
        write_image(target, RGB8, overwrite=True)
    assert target.read_bytes() == before
    assert _listing(tmp_path) == [f"out{suffix}"]


@ENCODED
def test_interrupted_write_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    """Ctrl-C (KeyboardInterrupt) during encoding propagates and leaves no file."""
    _fail_encoders(monkeypatch, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        write_image(tmp_path / f"out{suffix}", GRAY8)
    assert _listing(tmp_path) == []


def test_failed_npy_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure while writing .npy leaves no file either."""

    def broken_header(fh, header):
        fh.write(b"\x93NUMPY half")
        raise _Boom("broken")

    monkeypatch.setattr(np.lib.format, "write_array_header_1_0", broken_header)
    with pytest.raises(_Boom):
        write_image(tmp_path / "out.npy", GRAY8)
    assert _listing(tmp_path) == []


def test_failed_stream_write_writes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure while encoding for a stream writes no bytes to it."""
    _fail_encoders(monkeypatch, _Boom("x"))
    for fmt in ("png", "tiff"):
        buf = io.BytesIO()
        with pytest.raises(_Boom):
            write_image(buf, GRAY8, format=fmt)
        assert buf.getvalue() == b""


def test_refuse_existing_output(tmp_path: Path) -> None:
    """An existing target is refused without overwrite=True and left unchanged."""
    target = tmp_path / "out.png"
    target.write_bytes(b"precious")
    with pytest.raises(ImageError) as info:
        write_image(target, GRAY8)
    assert str(info.value) == f"{target} exists; pass --overwrite to replace it"
    assert target.read_bytes() == b"precious"


def test_overwrite_replaces(tmp_path: Path) -> None:
    """overwrite=True replaces an existing file with the new image."""
    target = tmp_path / "out.png"
    target.write_bytes(b"old")
    write_image(target, GRAY8, overwrite=True)
    np.testing.assert_array_equal(read_image(target).pixels, GRAY8)
    assert _listing(tmp_path) == ["out.png"]


def test_new_file_has_normal_permissions(tmp_path: Path) -> None:
    """A new file gets 0o666 minus the umask, not the temporary file's 0o600."""
    mask = os.umask(0o022)
    try:
        write_image(tmp_path / "out.png", GRAY8)
    finally:
        os.umask(mask)
    assert (tmp_path / "out.png").stat().st_mode & 0o777 == 0o644


def test_same_file(tmp_path: Path, rgb_png) -> None:
    """same_file is True for two names of one file, False for others, missing files and '-'."""
    link = tmp_path / "link.png"
    link.symlink_to(rgb_png.path)
    other = tmp_path / "other.png"
    other.write_bytes(rgb_png.path.read_bytes())
    assert same_file(rgb_png.path, link)
    assert same_file(str(rgb_png.path), tmp_path / "." / "rgb.png")
    assert not same_file(rgb_png.path, other)
    assert not same_file(rgb_png.path, tmp_path / "missing.png")
    assert not same_file("-", "-")


# ----------------------------------------------------------------- output_format


@pytest.mark.parametrize(
    ("target", "fmt", "expected"),
    [
        ("a.png", None, "PNG"),
        ("a.JPG", None, "JPEG"),
        ("a.jpeg", None, "JPEG"),
        ("a.tif", None, "TIFF"),
        ("a.tiff", None, "TIFF"),
        ("a.bmp", None, "BMP"),
        ("a.webp", None, "WEBP"),
        ("a.gif", None, "GIF"),
        ("a.pgm", None, "PPM"),
        ("a.ppm", None, "PPM"),
        ("a.pnm", None, "PPM"),
        ("a.npy", None, "NPY"),
        ("-", None, "PNG"),
        ("-", "JPG", "JPEG"),
        ("a.png", "tiff", "TIFF"),
        ("noext", "webp", "WEBP"),
    ],
)
def test_output_format(target: str, fmt: str | None, expected: str) -> None:
    """The format follows --format, else the extension, else PNG for '-'."""
    assert output_format(target, fmt) == expected


def test_format_overrides_extension(tmp_path: Path) -> None:
    """format='npy' writes a .npy array even to a .png name."""
    write_image(tmp_path / "x.png", GRAY8, format="npy")
    np.testing.assert_array_equal(np.load(tmp_path / "x.png"), GRAY8)


# ----------------------------------------------------------------- bombs


def _png_header_only(width: int, height: int) -> bytes:
    """A grayscale PNG header claiming width × height, with one empty IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 10))
        + _png_chunk(b"IEND", b"")
    )


def test_bomb_limit_small(gray_png) -> None:
    """An image above max_pixels is refused with its pixel count and the limit."""
    with pytest.raises(ImageError) as info:
        read_image(gray_png.path, max_pixels=100)
    assert str(info.value) == (
        f"{gray_png.path}: 192 pixels is above the limit of 100 (raise it with --max-pixels; "
        "for an image larger than memory, convert it to a tiled TIFF or a .zarr, which "
        "convcli filter reads in tiles)"
    )


def test_bomb_at_limit_is_accepted(gray_png) -> None:
    """An image of exactly max_pixels pixels is read."""
    assert read_image(gray_png.path, max_pixels=192).pixels.shape == (12, 16)


@pytest.mark.parametrize("size", [(10000, 10000), (20000, 10000)])
def test_bomb_default_limit(tmp_path: Path, size: tuple[int, int]) -> None:
    """Pillow's limit applies by default, above it (warning) and above twice it (error)."""
    path = tmp_path / "x.png"
    path.write_bytes(_png_header_only(*size))
    with pytest.raises(ImageError) as info:
        read_image(path)
    assert str(info.value) == (
        f"{path}: {size[0] * size[1]} pixels is above the limit of {DEFAULT_MAX_PIXELS} "
        "(raise it with --max-pixels; for an image larger than memory, convert it to a "
        "tiled TIFF or a .zarr, which convcli filter reads in tiles)"
    )
    assert DEFAULT_MAX_PIXELS == 89478485


@pytest.mark.parametrize("size", [(10000, 10000), (20000, 10000)])
def test_bomb_limit_raised(tmp_path: Path, size: tuple[int, int]) -> None:
    """With the limit raised the header passes (decoding then finds the data missing),
    no warning escapes, and Pillow's global limit is unchanged afterwards."""
    path = tmp_path / "x.png"
    path.write_bytes(_png_header_only(*size))
    before = PIL.Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageError, match=r"truncated or corrupt image data$"):
        read_image(path, max_pixels=300_000_000)
    with pytest.raises(ImageError, match=r"truncated or corrupt image data$"):
        read_image(path, max_pixels=None)
    assert PIL.Image.MAX_IMAGE_PIXELS == before


def test_npy_bomb_limit(tmp_path: Path) -> None:
    """The pixel limit applies to .npy arrays too, from their header."""
    np.save(tmp_path / "a.npy", np.zeros((20, 30), dtype=np.uint8))
    with pytest.raises(ImageError, match=r"a\.npy: 600 pixels is above the limit of 599 "):
        read_image(tmp_path / "a.npy", max_pixels=599)


# ----------------------------------------------------------------- read errors


def test_error_missing_file(tmp_path: Path) -> None:
    """A missing file is named."""
    path = tmp_path / "nope.png"
    with pytest.raises(ImageError) as info:
        read_image(path)
    assert str(info.value) == f"{path}: no such file"


def test_error_directory(tmp_path: Path) -> None:
    """A directory is not an image."""
    with pytest.raises(ImageError) as info:
        read_image(tmp_path)
    assert str(info.value) == f"{tmp_path}: is a directory, not an image"


def test_error_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gray_png) -> None:
    """An unreadable file says permission denied."""

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(gray_png.path))

    monkeypatch.setattr("convcli.images.reading.open", denied, raising=False)
    with pytest.raises(ImageError) as info:
        read_image(gray_png.path)
    assert str(info.value) == f"{gray_png.path}: permission denied"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads anything")
def test_error_permission_denied_real(gray_png) -> None:
    """A file with mode 000 cannot be read (real permissions)."""
    gray_png.path.chmod(0)
    with pytest.raises(ImageError, match=r": permission denied$"):
        read_image(gray_png.path)


def test_error_not_an_image(text_file: Path) -> None:
    """A text file is not an image Pillow can read."""
    with pytest.raises(ImageError) as info:
        read_image(text_file)
    assert str(info.value) == f"{text_file}: not an image Pillow can read"


def test_error_truncated(truncated_png: Path) -> None:
    """A PNG cut in half is reported as truncated."""
    with pytest.raises(ImageError) as info:
        read_image(truncated_png)
    assert str(info.value) == f"{truncated_png}: truncated or corrupt image data"


def test_error_truncated_header(tmp_path: Path) -> None:
    """A PNG cut inside its header is truncated, not 'not an image'."""
    path = tmp_path / "stub.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    with pytest.raises(ImageError) as info:
        read_image(path)
    assert str(info.value) == f"{path}: truncated or corrupt image data"


def test_error_empty_file(tmp_path: Path) -> None:
    """An empty file says it is empty."""
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ImageError) as info:
        read_image(path)
    assert str(info.value) == f"{path}: empty file, not an image"


def test_error_npy_not_an_image(tmp_path: Path) -> None:
    """A 4-D array and a complex array are not images."""
    np.save(tmp_path / "four.npy", np.zeros((2, 2, 2, 2)))
    np.save(tmp_path / "cplx.npy", np.zeros((2, 2), dtype=complex))
    with pytest.raises(ImageError, match=r"four\.npy: array of shape \(2, 2, 2, 2\) is not an"):
        read_image(tmp_path / "four.npy")
    with pytest.raises(ImageError, match=r"cplx\.npy: dtype complex128 is not an image type"):
        read_image(tmp_path / "cplx.npy")


def test_error_npy_truncated(tmp_path: Path) -> None:
    """A .npy file cut short is reported as truncated."""
    np.save(tmp_path / "a.npy", np.zeros((20, 30)))
    data = (tmp_path / "a.npy").read_bytes()
    (tmp_path / "a.npy").write_bytes(data[:200])
    with pytest.raises(ImageError, match=r"a\.npy: truncated or corrupt \.npy data$"):
        read_image(tmp_path / "a.npy")


# ----------------------------------------------------------------- write errors


def test_error_unknown_extension(tmp_path: Path) -> None:
    """An unknown extension lists the known ones."""
    path = tmp_path / "out.xyz"
    with pytest.raises(ImageError) as info:
        write_image(path, GRAY8)
    assert str(info.value).startswith(f"{path}: unknown image extension '.xyz' (known: .bmp,")
    assert ".npy" in str(info.value) and ".webp" in str(info.value)


def test_error_no_extension(tmp_path: Path) -> None:
    """A name without extension and no format is refused."""
    with pytest.raises(ImageError, match=r"out: no file extension to choose the image format"):
        write_image(tmp_path / "out", GRAY8)


def test_error_unknown_format() -> None:
    """An unknown format name lists the known ones."""
    with pytest.raises(ImageError, match=r"^unknown image format 'exr' \(known: bmp, gif, "):
        output_format("a.png", "exr")


def test_error_float_into_png(tmp_path: Path) -> None:
    """Float pixels into PNG are refused with a hint to .npy or .tif."""
    path = tmp_path / "out.png"
    with pytest.raises(ImageError) as info:
        write_image(path, np.zeros((2, 2), dtype=np.float32))
    assert str(info.value) == (
        f"{path}: float32 pixels can only be written to .npy or .tif "
        "(map them to uint8 or uint16 first)"
    )
    assert _listing(tmp_path) == []


def test_error_float_colour_into_tiff(tmp_path: Path) -> None:
    """Float colour pixels into TIFF are refused with a hint to .npy."""
    with pytest.raises(ImageError, match=r"grayscale channel only; write \.npy instead$"):
        write_image(tmp_path / "o.tif", np.zeros((2, 2, 3), dtype=np.float32))


def test_error_bad_shape_and_dtype(tmp_path: Path) -> None:
    """Pixels that are not (H, W) or (H, W, 3), or of an odd dtype, are refused."""
    with pytest.raises(ImageError, match=r"pixels of shape \(2, 2, 5\) are not an image"):
        write_image(tmp_path / "o.png", np.zeros((2, 2, 5), dtype=np.uint8))
    with pytest.raises(ImageError, match=r"int32 pixels cannot be written as PNG"):
        write_image(tmp_path / "o.png", np.zeros((2, 2), dtype=np.int32))
    with pytest.raises(ImageError, match=r"alpha of shape \(3, 3\) does not match"):
        write_image(tmp_path / "o.png", GRAY8, np.zeros((3, 3), dtype=np.uint8))


def test_error_missing_directory(tmp_path: Path) -> None:
    """A missing output directory is named."""
    path = tmp_path / "nodir" / "out.png"
    with pytest.raises(ImageError) as info:
        write_image(path, GRAY8)
    assert str(info.value) == f"{path}: directory '{tmp_path / 'nodir'}' does not exist"


def test_error_unwritable_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A directory where no file can be created is named."""

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("convcli.images.atomic._create_part", denied)
    path = tmp_path / "out.png"
    with pytest.raises(ImageError) as info:
        write_image(path, GRAY8)
    assert str(info.value) == f"{path}: cannot write in directory '{tmp_path}' (permission denied)"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_error_unwritable_directory_real(tmp_path: Path) -> None:
    """A read-only directory cannot take a new file (real permissions)."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(ImageError, match=r"cannot write in directory .*permission denied"):
            write_image(locked / "out.png", GRAY8)
    finally:
        locked.chmod(0o700)


def test_error_target_is_directory(tmp_path: Path) -> None:
    """A directory as the target is refused even with overwrite."""
    (tmp_path / "d.png").mkdir()
    with pytest.raises(ImageError, match=r"d\.png: is a directory$"):
        write_image(tmp_path / "d.png", GRAY8, overwrite=True)


def test_error_bad_quality_settings(tmp_path: Path) -> None:
    """png_compression outside 0..9 and jpeg_quality outside 1..100 are refused."""
    with pytest.raises(ImageError, match=r"png_compression must be 0\.\.9, got 10"):
        write_image(tmp_path / "o.png", GRAY8, png_compression=10)
    with pytest.raises(ImageError, match=r"jpeg_quality must be 1\.\.100, got 0"):
        write_image(tmp_path / "o.jpg", GRAY8, jpeg_quality=0)


# ----------------------------------------------------------------- package wiring


def test_public_names_reachable_from_package() -> None:
    """The public names are importable from convcli itself."""
    assert convcli.read_image is read_image
    assert convcli.write_image is write_image
    assert convcli.Image is Image
    assert convcli.output_format is output_format


@pytest.mark.parametrize("level", [0, 1, 6, 9])
def test_png_goes_through_convcli_writer(tmp_path: Path, monkeypatch, level: int) -> None:
    """Every array write_image makes into a PNG is written by convcli.images.png, exactly."""
    monkeypatch.setattr(PIL.Image.Image, "save", _failing_save(_Boom("Pillow was used")))
    rng = np.random.default_rng(level)
    alpha = rng.integers(0, 256, (20, 30), dtype=np.uint8)
    cases = {
        "L": (rng.integers(0, 256, (20, 30), dtype=np.uint8), None),
        "LA": (rng.integers(0, 256, (20, 30), dtype=np.uint8), alpha),
        "RGB": (rng.integers(0, 256, (20, 30, 3), dtype=np.uint8), None),
        "RGBA": (rng.integers(0, 256, (20, 30, 3), dtype=np.uint8), alpha),
        "I;16": (rng.integers(0, 65536, (20, 30), dtype=np.uint16), None),
    }
    for mode, (pixels, alpha) in cases.items():
        path = tmp_path / f"{mode.replace(';', '')}.png"
        assert write_image(path, pixels, alpha, png_compression=level) == []
        with PIL.Image.open(path) as im:
            assert im.mode == mode
            got = np.asarray(im)
        expected = pixels if alpha is None else np.dstack([pixels, alpha])
        np.testing.assert_array_equal(got, expected)


def test_to_pixels_16_to_8_bits_is_the_nearest_value() -> None:
    """Every uint16 value goes to round(v * 255 / 65535), the integer formula (v + 128) // 257."""
    from convcli.images.pixels import to_pixels

    v = np.arange(65536, dtype=np.uint16)
    expected = ((v.astype(np.uint32) + 128) // 257).astype(np.uint8)
    np.testing.assert_array_equal(to_pixels(v, 65535.0, np.uint8), expected)


def test_to_pixels_scales_rounds_and_clips() -> None:
    """Floats on 0..max go to the target's full range, rounded half to even, clipped."""
    from convcli.images.pixels import to_pixels

    values = np.array([-3.0, 0.0, 0.5, 1.5, 2.5, 254.6, 300.0], dtype=np.float32)
    np.testing.assert_array_equal(to_pixels(values, 255.0), [0, 0, 0, 2, 2, 255, 255])
    out = np.empty(2, dtype=np.uint16)
    assert to_pixels(np.array([0.5, 1.0]), 1.0, out=out) is out
    assert out.tolist() == [32768, 65535]


def test_temporary_part_is_exclusive_hidden_and_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The temporary file beside an output is new (O_EXCL), hidden, mode 0600, by absolute path."""
    from convcli.images.atomic import _create_part

    monkeypatch.chdir(tmp_path)
    fd, name = _create_part(".", ".out.png.")
    os.close(fd)
    assert os.path.isabs(name) and os.path.dirname(name) == str(tmp_path)
    assert re.fullmatch(r"\.out\.png\.[0-9a-f]{8}\.part", os.path.basename(name))
    if os.name == "posix":
        assert os.stat(name).st_mode & 0o777 == 0o600
    fd2, other = _create_part(str(tmp_path), ".out.png.")
    os.close(fd2)
    assert other != name


def test_png_opens_with_its_plugin_alone_and_keeps_pillows_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """open_pillow decodes a PNG as PIL.Image.open does, bomb check and errors included."""
    import io as _io

    import PIL.Image

    from convcli.images.decoders import open_pillow

    rng = np.random.default_rng(3)
    rgba = rng.integers(0, 256, (5, 7, 4), dtype=np.uint8)
    buf = _io.BytesIO()
    PIL.Image.fromarray(rgba).save(buf, format="PNG")
    data = buf.getvalue()
    with open_pillow(_io.BytesIO(data), data[:8]) as im:
        assert im.format == "PNG"
        np.testing.assert_array_equal(np.asarray(im), rgba)
    monkeypatch.setattr(PIL.Image, "MAX_IMAGE_PIXELS", 10)  # 35 pixels > 2 x 10
    with pytest.raises(PIL.Image.DecompressionBombError):
        open_pillow(_io.BytesIO(data), data[:8])
    monkeypatch.undo()
    bad = data[:8] + b"\x00" * 30  # a PNG signature, then no IHDR
    with pytest.raises(PIL.UnidentifiedImageError):
        open_pillow(_io.BytesIO(bad), bad[:8])
    path = tmp_path / "bad.png"
    path.write_bytes(bad)
    with pytest.raises(ImageError, match="truncated or corrupt"):
        read_image(path)


def test_npy_is_written_in_bands_not_copied_whole(tmp_path: Path, monkeypatch) -> None:
    """An RGB + alpha .npy is written plane by plane in bands (issue 21 item 13: an
    88-MP result took 2.3 GiB): the extra memory is a band, not a copy of the image."""
    import tracemalloc

    import convcli.images.writing as imageio

    monkeypatch.setattr(imageio, "NPY_CHUNK", 1 << 16, raising=False)
    rng = np.random.default_rng(13)
    rgb = rng.random((600, 500, 3)).astype(np.float32)
    alpha = rng.random((600, 500)).astype(np.float32)
    tracemalloc.start()
    try:
        write_image(tmp_path / "out.npy", rgb, alpha)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < rgb.nbytes // 4, f"{peak} bytes at the peak for a {rgb.nbytes}-byte image"
    back = np.load(tmp_path / "out.npy")
    assert back.shape == (4, 600, 500)
    np.testing.assert_array_equal(back[:3], np.moveaxis(rgb, -1, 0))
    np.testing.assert_array_equal(back[3], alpha)
