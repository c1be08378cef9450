"""Bad inputs for the corpus tests, built with numpy, Pillow and struct, never with convcli.

:func:`build_images` writes, for every image suffix convcli reads, a valid
small file and its damaged relatives (truncated at the header, at half and
one byte short, random bytes, empty, another format under the suffix, a
0-pixel-wide image where the format can say so, a decompression-bomb
*header* whose pixels are absent) plus ``.npy`` files of every awkward
kind. :func:`build_kernels` writes malformed kernel files. Both return the
names they wrote, grouped so the tests can build their tables by product.

A pickled ``.npy`` holds a payload that creates :data:`PWNED` when
unpickled: a reader that unpickles leaves a file a test can see.
"""

from __future__ import annotations

import io
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np
import PIL.Image

#: created (in the working folder) by unpickling ``pickle.npy``
PWNED = "PWNED-by-pickle"

#: suffix -> Pillow format used to write the valid file
FORMATS = {
    "png": "PNG",
    "jpg": "JPEG",
    "gif": "GIF",
    "bmp": "BMP",
    "tif": "TIFF",
    "webp": "WEBP",
    "ppm": "PPM",
    "pgm": "PPM",
    "pbm": "PPM",
    "npy": "NPY",
}

HEIGHT, WIDTH = 20, 24


def _valid_bytes(suffix: str, rng: np.random.Generator) -> bytes:
    buf = io.BytesIO()
    if suffix == "npy":
        np.save(buf, rng.random((HEIGHT, WIDTH)))
        return buf.getvalue()
    gray = rng.integers(0, 256, (HEIGHT, WIDTH), dtype=np.uint8)
    if suffix == "pbm":
        PIL.Image.fromarray(gray > 127).save(buf, format="PPM")
    elif suffix in ("ppm", "jpg", "webp", "tif", "png", "bmp"):
        rgb = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
        kwargs = {"lossless": True} if suffix == "webp" else {}
        PIL.Image.fromarray(rgb).save(buf, format=FORMATS[suffix], **kwargs)
    else:
        PIL.Image.fromarray(gray).save(buf, format=FORMATS[suffix])
    return buf.getvalue()


def _header_length(suffix: str, data: bytes) -> int:
    """Bytes of the file's header: enough to learn the size, no pixel data."""
    if suffix == "png":
        return 8 + 25  # signature + IHDR
    if suffix == "gif":
        return 13
    if suffix == "bmp":
        return 54
    if suffix == "tif":
        return 8
    if suffix == "webp":
        return 30
    if suffix == "jpg":
        return data.index(b"\xff\xda") if b"\xff\xda" in data else 20  # up to the scan
    if suffix == "npy":
        return 10 + int.from_bytes(data[8:10], "little")
    # PNM: magic, size and (but for PBM) maxval lines
    lines = 2 if suffix == "pbm" else 3
    return len(b"\n".join(data.split(b"\n")[:lines])) + 1


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IEND", b"")


def _gif_header(width: int, height: int) -> bytes:
    screen = b"GIF89a" + struct.pack("<HHBBB", width, height, 0, 0, 0)
    image = b"," + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x08\x00"
    return screen + image + b";"


def _bmp_header(width: int, height: int) -> bytes:
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 54, 0, 0, 54) + info


def _tiff_header(width: int, height: int) -> bytes:
    entries = [
        (256, 4, 1, width),  # ImageWidth LONG
        (257, 4, 1, height),  # ImageLength
        (258, 3, 1, 8),  # BitsPerSample SHORT
        (259, 3, 1, 1),  # Compression: none
        (262, 3, 1, 1),  # Photometric: black is zero
        (273, 4, 1, 8 + 2 + 12 * 7 + 4),  # StripOffsets: just after the IFD
        (279, 4, 1, max(width * height, 1) & 0xFFFFFFFF),  # StripByteCounts
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        packed = struct.pack("<HI", value, 0)[:4] if kind == 3 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, kind, count) + packed
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0)


def _jpeg_header(width: int, height: int) -> bytes:
    sof = struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + b"\xff\xc0" + struct.pack(">H", 2 + len(sof)) + sof + b"\xff\xd9"


def _webp_header(width: int, height: int) -> bytes:
    body = b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little")
    body += (height - 1).to_bytes(3, "little")
    chunk = b"VP8X" + struct.pack("<I", len(body)) + body
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def _pnm_header(magic: bytes, width: int, height: int) -> bytes:
    return magic + f"\n{width} {height}\n".encode() + (b"" if magic == b"P4" else b"255\n")


def npy_header(shape: tuple[int, ...], descr: str = "<f8") -> bytes:
    """A .npy header for `shape` and `descr`, with no data after it."""
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode()


_PNM_MAGIC = {"ppm": b"P6", "pgm": b"P5", "pbm": b"P4"}

#: a bomb header (or None) and a zero-width header (or None) per suffix
BOMB_SIDE = 100_000


def _bomb(suffix: str) -> bytes:
    side = BOMB_SIDE
    if suffix == "png":
        return _png_header(side, side)
    if suffix == "gif":
        return _gif_header(65535, 65535)
    if suffix == "bmp":
        return _bmp_header(side, side)
    if suffix == "tif":
        return _tiff_header(side, side)
    if suffix == "jpg":
        return _jpeg_header(65500, 65500)
    if suffix == "webp":
        return _webp_header(16384, 16384)
    if suffix == "npy":
        return npy_header((side, side))
    return _pnm_header(_PNM_MAGIC[suffix], side, side)


def _zero_width(suffix: str) -> bytes | None:
    if suffix == "npy":
        buf = io.BytesIO()
        np.save(buf, np.zeros((5, 0)))
        return buf.getvalue()
    if suffix == "png":
        return _png_header(0, 5)
    if suffix == "gif":
        return _gif_header(0, 5)
    if suffix == "bmp":
        return _bmp_header(0, 5)
    if suffix == "tif":
        return _tiff_header(0, 5)
    if suffix == "jpg":
        return _jpeg_header(0, 5)
    if suffix in _PNM_MAGIC:
        return _pnm_header(_PNM_MAGIC[suffix], 0, 5)
    return None  # WebP cannot say 0 (it stores width - 1)


class _Pwn:
    """Unpickling this creates the file PWNED: proof that a reader unpickled."""

    def __reduce__(self):
        return (open, (PWNED, "w"))


def _pickle_npy() -> bytes:
    return npy_header((1,), "|O") + pickle.dumps(_Pwn(), protocol=2)


def build_images(folder: Path) -> dict[str, list[str]]:
    """Write the image corpus into `folder`; return file names by family.

    Families: ``valid`` (one good file per suffix), ``damaged`` (truncated,
    random, empty, wrong format: must fail or decode to a valid image),
    ``zero`` (0 pixels wide), ``bomb`` (headers promising gigapixels),
    ``npy`` (awkward arrays that are not images), ``tiny`` (1×1 images that
    must work).
    """
    rng = np.random.default_rng(12)
    out: dict[str, list[str]] = {k: [] for k in ("valid", "damaged", "zero", "bomb", "npy", "tiny")}

    def put(family: str, name: str, data: bytes) -> None:
        (folder / name).write_bytes(data)
        out[family].append(name)

    png = _valid_bytes("png", rng)
    jpg = _valid_bytes("jpg", rng)
    for suffix in FORMATS:
        data = _valid_bytes(suffix, rng)
        put("valid", f"ok.{suffix}", data)
        head = _header_length(suffix, data)
        put("damaged", f"head.{suffix}", data[:head])
        put("damaged", f"half.{suffix}", data[: len(data) // 2])
        put("damaged", f"short.{suffix}", data[:-1])
        put("damaged", f"random.{suffix}", rng.integers(0, 256, 300, dtype=np.uint8).tobytes())
        put("damaged", f"empty.{suffix}", b"")
        put("damaged", f"text.{suffix}", b"this is not an image\n")
        put("damaged", f"wrong.{suffix}", jpg if suffix == "png" else png)
        put("bomb", f"bomb.{suffix}", _bomb(suffix))
        zero = _zero_width(suffix)
        if zero is not None:
            put("zero", f"zero.{suffix}", zero)

    def npy(name: str, arr: np.ndarray, family: str = "npy") -> None:
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        put(family, name, buf.getvalue())

    put("npy", "pickle.npy", _pickle_npy())
    npy("complex.npy", rng.random((6, 7)) + 1j)
    npy("struct.npy", np.zeros((6, 7), dtype=[("a", "<f4"), ("b", "<i2")]))
    npy("unicode.npy", np.full((6, 7), "x"))
    npy("datetime.npy", np.zeros((6, 7), dtype="datetime64[s]"))
    npy("d0.npy", np.array(3.0))
    npy("d1.npy", np.arange(7.0))
    npy("d4.npy", rng.random((1, 2, 6, 7)))
    npy("d5.npy", rng.random((1, 1, 2, 6, 7)))
    npy("c9.npy", rng.random((9, 6, 7)))
    npy("nan.npy", np.where(rng.random((6, 7)) > 0.5, np.nan, 1.0))
    npy("inf.npy", np.where(rng.random((6, 7)) > 0.5, np.inf, 1.0))
    npy("big-values.npy", np.full((6, 7), 1e308))
    put("npy", "bad-header.npy", b"\x93NUMPY\x01\x00\x10\x00{'descr': 'zz'}\n")
    put("npy", "huge-header.npy", b"\x93NUMPY\x02\x00" + b"\xff\xff\xff\x7f" + b"{" * 64)
    put("npy", "neg-shape.npy", npy_header((-5, 7)))
    put("npy", "fortran-bomb.npy", npy_header((BOMB_SIDE, BOMB_SIDE)).replace(b"False", b"True "))
    npy("bool.npy", rng.random((6, 7)) > 0.5, "tiny")
    npy("f16.npy", rng.random((6, 7)).astype(np.float16), "tiny")
    npy("i64.npy", rng.integers(-5, 5, (6, 7)), "tiny")
    npy("u16.npy", rng.integers(0, 65535, (6, 7)).astype(np.uint16), "tiny")
    npy("fortran.npy", np.asfortranarray(rng.random((6, 7))), "tiny")
    npy("bigendian.npy", rng.random((6, 7)).astype(">f8"), "tiny")
    npy("one.npy", np.ones((1, 1)), "tiny")
    for suffix in ("png", "bmp", "tif", "gif", "ppm"):
        buf = io.BytesIO()
        PIL.Image.fromarray(np.full((1, 1), 200, np.uint8)).save(buf, format=FORMATS[suffix])
        put("tiny", f"one.{suffix}", buf.getvalue())
    return out


def build_kernels(folder: Path) -> dict[str, list[str]]:
    """Write malformed kernel files; return their names (all must be refused)."""
    names: list[str] = []

    def put(name: str, data: bytes | str) -> None:
        (folder / name).write_bytes(data.encode() if isinstance(data, str) else data)
        names.append(name)

    def npy(name: str, arr: np.ndarray) -> None:
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        put(name, buf.getvalue())

    for suffix in ("npy", "txt", "csv", "json", "mat", "tsv"):
        put(f"kempty.{suffix}", "")
    put("kblank.txt", "\n\n   \n")
    put("kragged.txt", "1 2 3\n4 5\n")
    put("kragged.csv", "1,2,3\n4,5\n")
    put("kragged.json", "[[1, 2, 3], [4, 5]]")
    put("k3d.json", "[[[1, 2], [3, 4]], [[5, 6], [7, 8]]]")
    npy("k3d.npy", np.ones((2, 3, 3)))
    npy("k4d.npy", np.ones((1, 1, 3, 3)))
    npy("k0d.npy", np.array(1.0))
    npy("kempty2.npy", np.zeros((0, 3)))
    npy("knan.npy", np.array([[1.0, np.nan], [0.0, 1.0]]))
    npy("kinf.npy", np.array([[1.0, np.inf], [0.0, 1.0]]))
    npy("kcomplex.npy", np.ones((3, 3)) * 1j)
    npy("kstr.npy", np.full((3, 3), "a"))
    put("kpickle.npy", _pickle_npy())
    put("kbomb.npy", npy_header((BOMB_SIDE, BOMB_SIDE)))
    put("ktrunc.npy", npy_header((3, 3)) + b"\x00" * 20)
    put("knan.txt", "1 nan\n0 1\n")
    put("kinf.csv", "1,inf\n0,1\n")
    put("kwords.txt", "one two\nthree four\n")
    put("kwords.csv", "a,b\nc,d\n")
    put("kjunk.json", "{not json")
    put("kobject.json", '{"kernel": [[1, 2], [3, 4]]}')
    put("kstring.json", '"sobel"')
    put("kstrings.json", '[["1", "2"], ["3", "4"]]')
    put("knull.json", "[[null, 1], [1, 1]]")
    put("knested.json", "[" * 5000 + "]" * 5000)
    put("kbig.json", "[[1e400, 1], [1, 1]]")
    put("kbinary.txt", bytes(range(256)))
    put("klatin1.txt", "1 2\n3 \xe9\n".encode("latin-1"))
    put("kmat-bad.mat", "3 3\n1 2 3\n")
    put("kmat-count.mat", "2 2 1 0\n1 1 1\n1 1\n")
    put("kpng.npy", _valid_bytes("png", np.random.default_rng(1)))
    return {"files": names}


def build_issue21b(folder: Path) -> dict[str, list[str]]:
    """Issue 21's kernels and specs (items 5 to 7): huge values, long numbers, deep or binary specs.

    Returns the names by kind: ``huge`` (kernels of values near 1e308, whose
    results no float32 image holds), ``digits`` (a number of 5000 digits, over
    Python's 4300-digit limit), ``specs`` (network specs nested 3000 deep, in
    brackets and in braces, binary and with NUL bytes).
    """
    names: dict[str, list[str]] = {"huge": [], "digits": [], "specs": []}

    def put(kind: str, name: str, data: bytes | str) -> None:
        (folder / name).write_bytes(data.encode() if isinstance(data, str) else data)
        names[kind].append(name)

    buf = io.BytesIO()
    np.save(buf, np.full((3, 3), 1e308), allow_pickle=False)
    put("huge", "khuge.npy", buf.getvalue())
    put("huge", "khuge.txt", "1e308 1e308\n1e308 1e308\n")
    put("huge", "khuge.json", "[[1e308, -1e308], [1e308, 1e308]]")
    put("huge", "ker_e308.csv", "1.5e308,0\n0,1.5e308\n")
    digits = "7" * 5000
    put("digits", "kdigits.json", f"[[{digits}, 1], [1, 1]]")
    put("digits", "kdigits.txt", f"{digits} 1\n1 1\n")
    put("specs", "deep-spec.json", "[" * 3000 + "]" * 3000)
    put("specs", "deep-braces.json", '{"layers": ' * 3000 + "[]" + "}" * 3000)
    put("specs", "digits-spec.json", '[{"type": "conv", "filters": ' + digits + "}]")
    put("specs", "binary.spec", bytes(range(256)) * 4)
    put("specs", "nul.spec", b"conv 8 k3\x00\x00, relu\n")
    return names
