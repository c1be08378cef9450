"""The one ``.npy`` reader (convcli.kernels.npy) against numpy's own writer and reader.

Files are written by ``numpy.save`` / ``numpy.lib.format.write_array`` (every
format version, both memory orders, both byte orders) and read back with
``numpy.load`` as the oracle; hostile files are cut or forged by hand.
"""

from __future__ import annotations

import io
import os
import struct
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from convcli.errors import KernelError, LimitError, ShapeError
from convcli.kernels.files import load_kernel
from convcli.kernels.npy import (
    MAX_HEADER_BYTES,
    NpyError,
    NpyHeader,
    load_npy_bytes,
    read_npy,
    read_npy_header,
)
from convcli.teaching.matrices import parse_matrix

VERSIONS = [(1, 0), (2, 0), (3, 0)]
DTYPES = ["<f8", ">f8", "<f4", ">i4", "<u2", ">u2", "|u1", "|i1", "|b1", "<f2", ">c16"]


def saved(array: np.ndarray, version: tuple[int, int] | None = None) -> bytes:
    """Return ``array`` as numpy writes it (``numpy.save``, or a given format version)."""
    buf = io.BytesIO()
    if version is None:
        np.save(buf, array)
    else:
        np.lib.format.write_array(buf, array, version=version)
    return buf.getvalue()


def sample(dtype: str, shape: tuple[int, ...] = (3, 5)) -> np.ndarray:
    """Return a fixed-seed array of ``dtype`` whose values differ (so a transpose shows)."""
    rng = np.random.default_rng(7)
    values = rng.integers(0, 100, size=shape)
    if np.dtype(dtype).kind == "b":
        return (values % 2).astype(dtype)
    return values.astype(dtype)


class Unseekable(io.RawIOBase):
    """A stream that cannot seek or say its length, as a pipe is."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        """Say the stream can be read."""
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        """Read at most 7 bytes at a time, as a pipe hands over what it has."""
        data = self._inner.read(min(len(buffer), 7))
        buffer[: len(data)] = data
        return len(data)


def forged(shape: tuple[int, ...], descr: str = "<f8", data: bytes = b"") -> bytes:
    """Return a version 1.0 header promising ``shape`` of ``descr``, then ``data``."""
    text = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape!r}, }}"
    text += " " * (63 - (10 + len(text)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin-1") + data


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("order", ["C", "F"])
def test_reads_what_numpy_writes(version: tuple[int, int], dtype: str, order: str) -> None:
    """Every version, dtype, byte order and memory order reads back as numpy.load reads it."""
    array = np.asarray(sample(dtype), order=order)
    data = saved(array, version)
    expected = np.load(io.BytesIO(data))
    got = load_npy_bytes(data)
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == expected.dtype.newbyteorder("=")
    assert got.dtype.isnative
    assert got.flags.writeable
    assert got.flags.f_contiguous == expected.flags.f_contiguous
    assert read_npy_header(io.BytesIO(data)).version == version


def test_the_header_says_what_numpy_wrote() -> None:
    """The header's shape, dtype, order and data offset are the ones numpy wrote."""
    array = np.asfortranarray(sample(">i4", (2, 3, 4)))
    data = saved(array, (2, 0))
    stream = io.BytesIO(data)
    header = read_npy_header(stream)
    assert header == NpyHeader((2, 0), (2, 3, 4), np.dtype(">i4"), True, stream.tell())
    assert header.nbytes == len(data) - header.offset == 2 * 3 * 4 * 4


@pytest.mark.parametrize("shape", [(), (0,), (4, 0), (1,), (2, 1, 3, 1)])
def test_scalars_and_empty_arrays(shape: tuple[int, ...]) -> None:
    """A 0-d array and arrays with a zero-length axis read back with their shapes."""
    array = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    got = load_npy_bytes(saved(array))
    assert got.shape == shape
    np.testing.assert_array_equal(got, array)


def test_unicode_field_names_need_version_3() -> None:
    """Version 3.0 headers are UTF-8 (numpy writes them for non-latin-1 field names)."""
    array = np.zeros(2, dtype=[("größe", "<f4"), ("σ", ">i2")])
    array["σ"] = [3, -4]
    data = saved(array, (3, 0))
    got = load_npy_bytes(data)
    assert got.dtype.names == ("größe", "σ")
    np.testing.assert_array_equal(got["σ"], [3, -4])


def test_object_arrays_are_refused_unread(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A pickled array is refused from its header; its payload never runs."""
    monkeypatch.chdir(tmp_path)

    class Payload:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (open, (str(tmp_path / "PWNED"), "w"))

    array = np.array([Payload(), 1], dtype=object)
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=True)
    with pytest.raises(NpyError, match=r"^holds Python objects \(pickled data\)"):
        load_npy_bytes(buf.getvalue())
    structured = np.zeros(1, dtype=[("a", "<f8"), ("b", object)])
    with pytest.raises(NpyError, match="pickled"):
        load_npy_bytes(saved(structured))
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("cut", [0, 3, 7, 9, 60, 127])
def test_a_cut_header_is_an_error(cut: int) -> None:
    """A file cut anywhere in its magic string or header is a one-line error."""
    data = saved(np.eye(3))[:cut]
    with pytest.raises(NpyError) as info:
        load_npy_bytes(data)
    assert str(info.value) in ("empty file", "truncated header") or str(info.value).startswith(
        "not .npy data"
    )


@pytest.mark.parametrize("wrap", [io.BytesIO, Unseekable], ids=["seekable", "pipe"])
def test_cut_data_is_truncated(wrap) -> None:  # type: ignore[no-untyped-def]
    """A file cut in its data says how many bytes it holds and how many the shape needs."""
    data = saved(np.arange(12.0).reshape(3, 4))[:-20]
    with pytest.raises(NpyError) as info:
        read_npy(wrap(data))
    assert str(info.value) == (
        "truncated: shape (3, 4) of float64 needs 96 bytes of data, the file holds 76"
    )


def test_bytes_after_the_data_stay_in_the_stream() -> None:
    """Two arrays saved one after the other read back one after the other."""
    buf = io.BytesIO()
    first, second = np.arange(3), np.ones((2, 2), dtype=np.uint8)
    np.save(buf, first)
    np.save(buf, second)
    buf.seek(0)
    np.testing.assert_array_equal(read_npy(buf), first)
    np.testing.assert_array_equal(read_npy(buf), second)


def test_a_real_pipe() -> None:
    """Data through an OS pipe, which cannot seek, reads in full."""
    array = sample("<f4", (300, 200))
    data = saved(array)
    read_fd, write_fd = os.pipe()

    def feed() -> None:
        with open(write_fd, "wb") as fh:
            fh.write(data)

    writer = threading.Thread(target=feed)
    writer.start()
    with open(read_fd, "rb") as fh:
        got = read_npy(fh)
    writer.join()
    np.testing.assert_array_equal(got, array)


@pytest.fixture
def traced() -> Iterator[None]:
    """Trace allocations (numpy's included) for the test."""
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("wrap", [io.BytesIO, Unseekable], ids=["seekable", "pipe"])
def test_a_huge_declared_shape_is_refused_before_allocation(wrap, traced) -> None:  # type: ignore[no-untyped-def]
    """A 200-byte file promising 128 MB of data is refused having allocated almost nothing."""
    data = forged((4096, 4096), data=b"\0" * 72)
    stream = wrap(data)
    tracemalloc.reset_peak()
    with pytest.raises(NpyError, match=r"needs 134217728 bytes of data, the file holds 72$"):
        read_npy(stream)
    _, peak = tracemalloc.get_traced_memory()
    assert peak < 2**20


def test_a_shape_beyond_the_machine_is_a_limit_error() -> None:
    """From a pipe, 8 TB of promised data is a LimitError before a byte is read."""
    stream = Unseekable(forged((10**6, 10**6), data=b"\0" * 64))
    with pytest.raises(LimitError, match=r"^k\.npy: shape \(1000000, 1000000\) of float64: needs"):
        read_npy(stream, what="k.npy")


def test_the_check_runs_before_the_data_is_read() -> None:
    """A check that refuses the header stops the read at the first data byte."""
    data = saved(np.zeros((5, 6, 7)))
    stream = io.BytesIO(data)
    seen: list[NpyHeader] = []

    def refuse(header: NpyHeader) -> None:
        seen.append(header)
        raise ShapeError("three dimensions")

    with pytest.raises(ShapeError, match="three dimensions"):
        read_npy(stream, check=refuse)
    assert seen[0].shape == (5, 6, 7)
    assert stream.tell() == seen[0].offset


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x93NUMPY\x04\x00" + b"\0" * 120, r"^format version 4\.0 is not 1\.0, 2\.0 or 3\.0$"),
        (b"PK\x03\x04" + b"\0" * 120, r"^not \.npy data"),
        (forged((2,), descr="<q9"), r"^bad dtype '<q9'$"),
        (forged((2, -1)), r"^bad shape \(2, -1\)"),
        (forged((2.0,)), r"^bad shape \(2\.0,\)"),
        (
            b"\x93NUMPY\x01\x00\x10\x00{'shape': (1,)} \n",
            "expected the keys descr, fortran_order, shape",
        ),
        (b"\x93NUMPY\x01\x00\x10\x00__import__('os')\n", r"^bad header"),
        (
            b"\x93NUMPY\x02\x00" + struct.pack("<I", MAX_HEADER_BYTES + 1),
            r"^header of 10001 bytes is longer than 10000$",
        ),
    ],
    ids=["version", "magic", "dtype", "negative", "float", "keys", "code", "long-header"],
)
def test_malformed_headers(data: bytes, message: str) -> None:
    """Each malformed header is refused with a message naming what is wrong."""
    with pytest.raises(NpyError, match=message):
        load_npy_bytes(data)


def test_kernel_files_use_the_reader(tmp_path: Path) -> None:
    """A Fortran-ordered big-endian kernel file loads as numpy.load reads it."""
    weights = np.asfortranarray(np.array([[1, 2, 3], [4, 5, 6]], dtype=">i4"))
    path = tmp_path / "k.npy"
    np.save(path, weights)
    np.testing.assert_array_equal(load_kernel(path).weights, np.load(path))


def test_a_kernel_file_of_the_wrong_shape_is_refused_from_its_header(tmp_path: Path) -> None:
    """A 3-D kernel file is refused by its header, even when its data is cut."""
    path = tmp_path / "k.npy"
    path.write_bytes(saved(np.zeros((2, 3, 3)))[:-40])
    with pytest.raises(KernelError) as info:
        load_kernel(path)
    assert str(info.value) == (
        f"kernel file {str(path)!r} holds a 3-D array of shape (2, 3, 3); a kernel must be 2-D"
    )


def test_a_truncated_kernel_file(tmp_path: Path) -> None:
    """A cut kernel file says it is not readable, with the byte counts."""
    path = tmp_path / "k.npy"
    path.write_bytes(saved(np.eye(2))[:-8])
    with pytest.raises(KernelError) as info:
        load_kernel(path)
    assert str(info.value) == (
        f"kernel file {str(path)!r} is not a readable .npy array: truncated: shape (2, 2) "
        "of float64 needs 32 bytes of data, the file holds 24"
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_matrices_use_the_reader(tmp_path: Path, version: tuple[int, int]) -> None:
    """conv's matrices read every version and both byte orders, from a file and stdin."""
    array = np.asfortranarray(sample(">f4", (2, 3, 4)))
    path = tmp_path / "x.npy"
    path.write_bytes(saved(array, version))
    np.testing.assert_array_equal(parse_matrix(str(path)), np.load(path))
    stdin = io.BytesIO(path.read_bytes())
    np.testing.assert_array_equal(parse_matrix("-", stdin=stdin), np.load(path))


def test_a_complex_matrix_is_refused_from_its_header() -> None:
    """Complex values are refused before the (cut) data is read."""
    data = saved(np.ones((2, 2), dtype=np.complex64))[:-5]
    with pytest.raises(ShapeError) as info:
        parse_matrix("-", "--input", stdin=io.BytesIO(data))
    assert str(info.value) == (
        "--input (standard input): holds complex64 values; a matrix needs real numbers"
    )
