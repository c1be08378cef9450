"""convcli.images.png: every file it writes decodes, with Pillow and with zlib, to the exact pixels.

Oracles: Pillow's PNG decoder (it undoes the row filters), ``zlib.decompress``
(which checks the Adler-32 of the whole stream), ``zlib.crc32`` for each
chunk and ``zlib.adler32`` for the checksum arithmetic. Arrays are compared,
never encoded bytes.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import PIL.Image
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convcli.images import png as pngwrite
from convcli.images.png import adler32_combine, can_write, write_png

# (numpy dtype, channels or None for 2-D) -> the Pillow mode it must decode as
MODES = {
    (np.uint8, None): "L",
    (np.uint8, 1): "L",
    (np.uint8, 2): "LA",
    (np.uint8, 3): "RGB",
    (np.uint8, 4): "RGBA",
    (np.uint16, None): "I;16",
}


def _encode(pixels: np.ndarray, **kwargs) -> bytes:
    buf = io.BytesIO()
    write_png(buf, pixels, **kwargs)
    return buf.getvalue()


def _decode(data: bytes) -> tuple[str, np.ndarray]:
    with PIL.Image.open(io.BytesIO(data)) as im:
        im.load()
        return im.mode, np.asarray(im)


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of every chunk, checking each CRC with zlib.crc32."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, out = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body), f"bad CRC in {kind!r}"
        out.append((kind, body))
        pos += 12 + length
    assert out[0][0] == b"IHDR" and out[-1] == (b"IEND", b"")
    return out


def _image(draw, dtype, channels, h, w) -> np.ndarray:
    """Random, constant or smooth pixels: each exercises the filters differently."""
    shape = (h, w) if channels is None else (h, w, channels)
    top = int(np.iinfo(dtype).max)
    kind = draw(st.sampled_from(["noise", "constant", "ramp"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "noise":
        return rng.integers(0, top + 1, shape, dtype=dtype)
    if kind == "constant":
        return np.full(shape, draw(st.integers(0, top)), dtype=dtype)
    ramp = np.add.outer(np.arange(h) * 7, np.arange(w) * 3) % (top + 1)
    if channels is not None:
        ramp = np.repeat(ramp[..., None], channels, axis=2) + np.arange(channels) * 40
    return (ramp % (top + 1)).astype(dtype)


@st.composite
def images(draw):
    dtype, channels = draw(st.sampled_from(sorted(MODES, key=str)))
    h = draw(st.integers(1, 40))
    w = draw(st.integers(1, 40))
    return _image(draw, dtype, channels, h, w), MODES[(dtype, channels)]


@settings(max_examples=150, deadline=None)
@given(
    case=images(),
    level=st.integers(0, 9),
    threads=st.integers(1, 3),
    block=st.sampled_from([1, 50, 300, 1 << 20]),
)
def test_fuzz_decodes_to_the_same_pixels(case, level, threads, block):
    """Any size, mode, level, thread count and block size decodes to the written pixels."""
    pixels, mode = case
    old = pngwrite.BLOCK_BYTES
    pngwrite.BLOCK_BYTES = block  # small blocks: many IDAT chunks and flush points
    try:
        data = _encode(pixels, level=level, threads=threads)
    finally:
        pngwrite.BLOCK_BYTES = old
    got_mode, got = _decode(data)
    assert got_mode == mode
    np.testing.assert_array_equal(got, pixels.reshape(got.shape))
    idat = b"".join(body for kind, body in _chunks(data) if kind == b"IDAT")
    stride = pixels.shape[1] * pixels.itemsize * (1 if pixels.ndim == 2 else pixels.shape[2])
    raw = zlib.decompress(idat)  # checks the combined Adler-32
    assert len(raw) == pixels.shape[0] * (stride + 1)
    assert set(raw[:: stride + 1]) <= {0, 1, 2, 3, 4}  # a valid filter type on every row


@pytest.mark.parametrize("ftype", range(5), ids=["none", "sub", "up", "average", "paeth"])
@pytest.mark.parametrize(
    "shape, dtype",
    [
        ((17, 23), np.uint8),
        ((9, 31, 2), np.uint8),
        ((12, 5, 3), np.uint8),
        ((8, 7, 4), np.uint8),
        ((11, 13), np.uint16),
    ],
)
def test_each_filter_type_round_trips(monkeypatch, ftype, shape, dtype):
    """Every PNG filter, forced on every block, is undone exactly by Pillow's decoder."""
    rng = np.random.default_rng(ftype)
    pixels = rng.integers(0, np.iinfo(dtype).max + 1, shape, dtype=dtype)
    pixels[: shape[0] // 2] //= 9  # small differences too, not only noise
    monkeypatch.setattr(pngwrite, "_choose_filter", lambda *args: ftype)
    monkeypatch.setattr(pngwrite, "BLOCK_BYTES", 40)
    data = _encode(pixels, level=1, threads=2)
    idat = b"".join(body for kind, body in _chunks(data) if kind == b"IDAT")
    row = pixels.nbytes // shape[0] + 1
    assert set(zlib.decompress(idat)[::row]) == {ftype}
    np.testing.assert_array_equal(_decode(data)[1], pixels)


def test_paeth_ties_follow_the_specification(monkeypatch):
    """Paeth's tie order (left, then up, then upper left) on bytes built to tie."""
    # rows chosen so that pa == pb, pb == pc and pa == pc all occur
    pixels = np.array(
        [[10, 20, 10, 20, 30, 0], [20, 10, 30, 10, 20, 255], [0, 255, 128, 127, 1, 2]],
        dtype=np.uint8,
    )
    monkeypatch.setattr(pngwrite, "_choose_filter", lambda *args: 4)
    np.testing.assert_array_equal(_decode(_encode(pixels))[1], pixels)


def test_header_and_chunks():
    """IHDR says size, depth and colour type; IDAT chunks are contiguous; one zlib stream."""
    pixels = np.zeros((300, 200, 4), dtype=np.uint8)
    chunks = _chunks(_encode(pixels, level=6))
    w, h, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (w, h, depth, colour, compression, filtering, interlace) == (200, 300, 8, 6, 0, 0, 0)
    kinds = [kind for kind, _ in chunks]
    assert kinds == [b"IHDR"] + [b"IDAT"] * (len(kinds) - 2) + [b"IEND"]
    header = chunks[1][1][:2]
    assert header[0] == 0x78 and (header[0] * 256 + header[1]) % 31 == 0


def test_sixteen_bit_is_big_endian_and_exact():
    """16-bit gray keeps every value, high byte first as PNG stores it."""
    pixels = np.array([[0, 1, 255, 256], [65535, 4660, 43981, 32768]], dtype=np.uint16)
    mode, got = _decode(_encode(pixels))
    assert mode == "I;16"
    np.testing.assert_array_equal(got, pixels)
    idat = b"".join(body for kind, body in _chunks(_encode(pixels, level=0)) if kind == b"IDAT")
    # level 0 stores rows unfiltered: filter byte 0, then each value high byte first
    assert zlib.decompress(idat)[:9] == b"\x00\x00\x00\x00\x01\x00\xff\x01\x00"


def test_non_contiguous_input():
    """Views (crops, channel slices, reversed axes) are written as their values."""
    base = np.random.default_rng(3).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    for view in (base[5:25, 3:33], base[::-1, ::2], base[..., 1], base.transpose(1, 0, 2)):
        np.testing.assert_array_equal(_decode(_encode(view))[1], view)


def _photo_like(h: int, w: int) -> np.ndarray:
    """A smooth colour gradient with noise, like a photograph."""
    rng = np.random.default_rng(6)
    ramp = np.add.outer(np.arange(h), np.arange(w))[..., None] * np.array([0.5, 0.3, 0.2])
    return np.clip(ramp + rng.normal(0, 4, (h, w, 3)), 0, 255).astype(np.uint8)


def _drawing(h: int, w: int) -> np.ndarray:
    """A random 8-row tile repeated: only string matching finds the repetition."""
    tile = np.random.default_rng(5).integers(0, 256, (8, 64, 3), dtype=np.uint8)
    return np.tile(tile, (h // 8, w // 64, 1))


def test_level_one_probes_each_block(monkeypatch):
    """Level 1 deflates a photograph run-length only and a repetitive drawing with matching."""
    used = []
    deflate = pngwrite._deflate

    def spy(data, level, strategy, last):
        if data.nbytes > 2 * pngwrite._PROBE_BYTES:  # probed blocks, not probes or small ones
            used.append(strategy)
        return deflate(data, level, strategy, last)

    monkeypatch.setattr(pngwrite, "_deflate", spy)
    monkeypatch.setattr(pngwrite, "BLOCK_BYTES", 200_000)
    for pixels, strategy in ((_photo_like(240, 320), zlib.Z_RLE), (_drawing(240, 320), 0)):
        used.clear()
        np.testing.assert_array_equal(_decode(_encode(pixels, level=1))[1], pixels)
        assert used and set(used) == {strategy}


def test_levels_mean_what_the_docs_say():
    """0 stores; 1 finds the drawing's repetition; 6 and 9 are no larger than 1."""
    for pixels in (_photo_like(240, 320), _drawing(240, 320)):
        sizes = {level: len(_encode(pixels, level=level)) for level in (0, 1, 6, 9)}
        assert sizes[0] > pixels.nbytes  # stored: the data plus filter bytes and headers
        assert sizes[6] <= sizes[1] and sizes[9] <= sizes[1]
    assert len(_encode(_drawing(240, 320), level=1)) < _drawing(240, 320).nbytes / 20


@settings(max_examples=200, deadline=None)
@given(a=st.binary(max_size=3000), b=st.binary(max_size=3000))
def test_adler32_combine_matches_zlib(a, b):
    """Combining the checksums of two pieces gives zlib's checksum of the whole."""
    assert adler32_combine(zlib.adler32(a), zlib.adler32(b), len(b)) == zlib.adler32(a + b)


def test_adler32_combine_long_pieces():
    """Sums that wrap the modulus many times (pieces of 1 MB of 0xFF)."""
    a, b = b"\xff" * 1_000_003, b"\xfe" * 999_999
    assert adler32_combine(zlib.adler32(a), zlib.adler32(b), len(b)) == zlib.adler32(a + b)


@pytest.mark.parametrize(
    "pixels",
    [
        np.zeros((0, 4), np.uint8),
        np.zeros((4, 0, 3), np.uint8),
        np.zeros((4, 4), np.float32),
        np.zeros((4, 4), np.int16),
        np.zeros((4, 4, 5), np.uint8),
        np.zeros((4, 4, 3), np.uint16),
        np.zeros(4, np.uint8),
        [[1, 2], [3, 4]],
    ],
    ids=["no rows", "no columns", "float", "int16", "5 channels", "16-bit RGB", "1-D", "list"],
)
def test_can_write_refuses_what_it_does_not_cover(pixels):
    """Anything but 8-bit gray/LA/RGB/RGBA and 16-bit gray is left to Pillow."""
    assert not can_write(pixels)


def test_errors_are_exact():
    """A bad level and pixels it cannot write raise ValueError with one clear line."""
    px = np.zeros((2, 2), np.uint8)
    for level in (-1, 10, True, 1.0):
        with pytest.raises(ValueError) as info:
            _encode(px, level=level)
        assert str(info.value) == f"PNG compression level must be 0..9, got {level!r}"
    with pytest.raises(ValueError) as info:
        _encode(np.zeros((2, 3), np.float32))
    assert str(info.value) == (
        "cannot write float32 pixels of shape (2, 3) as PNG here "
        "(uint8 with 1 to 4 channels or uint16 grayscale)"
    )


def test_threads_follow_convcli_threads(monkeypatch):
    """CONVCLI_THREADS sets how many blocks are deflated at once (1: no thread pool at all)."""
    pools = []

    import concurrent.futures  # the writer imports its pool only when it uses one

    class Recording(concurrent.futures.ThreadPoolExecutor):
        def __init__(self, max_workers):
            pools.append(max_workers)
            super().__init__(max_workers)

    monkeypatch.setattr(concurrent.futures, "ThreadPoolExecutor", Recording)
    monkeypatch.setattr(pngwrite, "BLOCK_BYTES", 1000)
    pixels = np.random.default_rng(4).integers(0, 256, (60, 50, 3), dtype=np.uint8)
    for env, expected in (("1", []), ("3", [3])):
        pools.clear()
        monkeypatch.setenv("CONVCLI_THREADS", env)
        np.testing.assert_array_equal(_decode(_encode(pixels))[1], pixels)
        assert pools == expected


# --------------------------------------------------------- --threads reaches the writer


def _spy_threads(monkeypatch, module, name, seen):
    """Record (the threads= a function gets, CONVCLI_THREADS at that moment) on each call."""
    import importlib
    import os

    target = importlib.import_module(module)
    real = getattr(target, name)

    def spy(*args, **kwargs):
        seen.append((name, kwargs.get("threads"), os.environ.get("CONVCLI_THREADS")))
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, spy)


@pytest.mark.parametrize(
    ("args", "computes"),
    [
        # an 8-bit photo goes to the one-pass uint8 path where the native core runs,
        # to filter2d otherwise: either must get the threads
        (
            ["filter", "-k", "box:3", "--threads", "1"],
            [("convcli.images.chain", "filter2d"), ("convcli.engine.fused", "filter2d_pixels")],
        ),
        (["pool", "--size", "2", "--threads", "2"], [("convcli.images.pooling", "pool2d")]),
    ],
)
def test_threads_option_is_passed_not_put_in_the_environment(tmp_path, monkeypatch, args, computes):
    """`--threads N` reaches the engine and the PNG writer as threads=N, and the command
    never touches os.environ (CONVCLI_THREADS stays what the caller set)."""
    import os

    from click.testing import CliRunner

    from convcli.cli import cli

    src = tmp_path / "in.png"
    PIL.Image.fromarray(np.arange(64 * 48, dtype=np.uint32).reshape(64, 48).astype(np.uint8)).save(
        src
    )
    monkeypatch.setenv("CONVCLI_THREADS", "5")
    before = dict(os.environ)
    seen: list = []
    for module, name in computes:
        _spy_threads(monkeypatch, module, name, seen)
    _spy_threads(monkeypatch, "convcli.images.writing", "write_png", seen)
    command, *options = args
    out = tmp_path / "out.png"
    result = CliRunner().invoke(cli, [command, str(src), *options, "-o", str(out)])
    assert result.exit_code == 0, result.output
    threads = int(options[options.index("--threads") + 1])
    called = {name for name, _, _ in seen}
    assert "write_png" in called and called - {"write_png"} <= {name for _, name in computes}
    assert called - {"write_png"}, "the engine was not called"
    assert all(got == threads and env == "5" for _, got, env in seen), seen
    assert dict(os.environ) == before


def test_jobs_workers_get_threads_through_the_pickled_task(tmp_path, monkeypatch):
    """With --jobs, the task sent to worker processes carries --threads in its bound
    arguments (the filter settings and the write options), not in the environment."""
    import pickle

    from click.testing import CliRunner

    import convcli.cli.scaling
    from convcli.cli import cli

    src = tmp_path / "in.png"
    PIL.Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(src)
    tasks = []
    monkeypatch.setattr(
        convcli.cli.scaling, "run_jobs", lambda jobs, task, **kw: tasks.append(task)
    )
    result = CliRunner().invoke(
        cli,
        [
            "filter",
            str(src),
            "-k",
            "box:3",
            "--threads",
            "3",
            "--jobs",
            "2",
            "-o",
            str(tmp_path / "x.png"),
        ],
    )
    assert result.exit_code == 0, result.output
    task = pickle.loads(pickle.dumps(tasks[0]))
    assert task.keywords["options"].threads == 3
    assert task.keywords["process"].keywords["settings"].threads == 3
