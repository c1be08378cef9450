"""The one ``.npy`` reader: a header trusted for nothing, data loaded without pickle.

Every command that reads ``.npy`` data (kernel files, ``conv``/``learn``
matrices, images) reads it here, in two steps so that a caller can check
the array before a byte of it is allocated:

1. :func:`read_npy_header` reads the magic string and the header (format
   versions 1.0, 2.0 and 3.0) and checks it: a known dtype without Python
   objects, a shape of non-negative integers, a boolean ``fortran_order``.
   The caller then checks the shape and dtype against its own rules (an
   image's pixel limit, a kernel's two dimensions).
2. :func:`read_npy_data` reads exactly the bytes the header promises:
   when the size of what is left is known (bytes, a file) a short file is
   refused before anything is allocated; otherwise no more memory is taken
   than the stream really holds, and never more than the machine has
   (:func:`~convcli.arithmetic.limits.check_allocation`).

:func:`load_npy_bytes` and :func:`read_npy` do both steps, with an optional
``check`` called between them. Arrays come back writable, in native byte
order, C- or Fortran-ordered as the file says (as :func:`numpy.load`
returns them). Problems with the data are :class:`NpyError`, a
:class:`ValueError`; callers add the file's name and their own error class.

Examples
--------
>>> import io
>>> buf = io.BytesIO()
>>> np.save(buf, np.arange(6, dtype=">i2").reshape(2, 3))
>>> load_npy_bytes(buf.getvalue()).tolist()
[[0, 1, 2], [3, 4, 5]]
>>> _ = buf.seek(0)
>>> read_npy_header(buf)
NpyHeader(version=(1, 0), shape=(2, 3), dtype=dtype('>i2'), fortran_order=False, offset=128)
"""

from __future__ import annotations

import ast
import io
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

from ..arithmetic.limits import check_allocation

__all__ = [
    "MAX_HEADER_BYTES",
    "NPY_MAGIC",
    "NpyError",
    "NpyHeader",
    "load_npy_bytes",
    "read_npy",
    "read_npy_data",
    "read_npy_header",
    "write_npy_header",
]

#: The first six bytes of every ``.npy`` file.
NPY_MAGIC = b"\x93NUMPY"
#: The longest header read: numpy's own default ``max_header_size`` (a header
#: is a short Python dict; a longer one is a generated or hostile file).
MAX_HEADER_BYTES = 10_000
#: How a header's length is stored, per major version.
_LENGTH_FORMAT = {1: "<H", 2: "<I", 3: "<I"}
#: Bytes read at a time from a stream whose length is not known: the first
#: read, and the most (each read asks for as much as is held so far).
_FIRST_CHUNK = 1 << 16
_CHUNK = 1 << 24


class NpyError(ValueError):
    """A ``.npy`` file that cannot be read: the message says what is wrong with it."""


@dataclass(frozen=True)
class NpyHeader:
    """What a ``.npy`` header promises.

    Attributes
    ----------
    version : tuple of int
        The format version, ``(1, 0)``, ``(2, 0)`` or ``(3, 0)``.
    shape : tuple of int
        The array's shape.
    dtype : numpy.dtype
        The array's dtype, in the file's byte order.
    fortran_order : bool
        True when the data is stored column-major.
    offset : int
        Bytes from the start of the file to the first data byte.
    """

    version: tuple[int, int]
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    offset: int

    @property
    def nbytes(self) -> int:
        """Bytes of data the header promises (exact, however large)."""
        return math.prod(self.shape) * self.dtype.itemsize

    def describe(self) -> str:
        """Name the shape and dtype for a message: ``shape (2, 2) of float64``."""
        return f"shape {self.shape} of {self.dtype}"


def _read_up_to(stream: BinaryIO, n: int) -> bytes:
    """Read ``n`` bytes, or fewer only at the end of the stream (a pipe hands out less)."""
    parts = []
    left = n
    while left > 0:
        part = stream.read(left)
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def _read_exactly(stream: BinaryIO, n: int, what: str) -> bytes:
    """Read ``n`` bytes of the header, or raise NpyError naming ``what``."""
    data = _read_up_to(stream, n)
    if len(data) != n:
        raise NpyError(f"truncated {what}")
    return data


def _parse_header_text(text: str) -> dict:
    """Turn the header's dict literal into a dict with exactly the three keys."""
    try:
        header = ast.literal_eval(text)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        raise NpyError(f"bad header {text[:60]!r}") from None
    keys = {"descr", "fortran_order", "shape"}
    if not isinstance(header, dict) or set(header) != keys:
        raise NpyError(f"bad header {text[:60]!r}: expected the keys descr, fortran_order, shape")
    return header


def _header_dtype(descr: Any) -> np.dtype:
    """Return the dtype ``descr`` names, refusing object (pickled) dtypes."""
    try:
        dtype = np.lib.format.descr_to_dtype(descr)
    except (TypeError, ValueError):
        raise NpyError(f"bad dtype {descr!r}") from None
    if dtype.hasobject:
        raise NpyError("holds Python objects (pickled data); convcli never unpickles")
    return dtype


def _header_shape(shape: object) -> tuple[int, ...]:
    """Return the shape as a tuple of non-negative ints, or raise NpyError."""
    if not isinstance(shape, tuple) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
    ):
        raise NpyError(f"bad shape {shape!r}: expected a tuple of non-negative integers")
    if len(shape) > 64:
        raise NpyError(f"{len(shape)} dimensions; numpy allows 64")
    return shape


def read_npy_header(stream: BinaryIO) -> NpyHeader:
    """Read and check the magic string and header at the stream's position.

    Parameters
    ----------
    stream : binary file object
        Positioned at the start of the ``.npy`` data; left at its first data
        byte.

    Returns
    -------
    NpyHeader

    Raises
    ------
    NpyError
        Not ``.npy`` data, an unknown version, a header cut short, longer than
        :data:`MAX_HEADER_BYTES` or malformed, object dtype, a bad shape.
    """
    start = _read_up_to(stream, 8)
    if not start:
        raise NpyError("empty file")
    if len(start) < 8 or not start.startswith(NPY_MAGIC):
        raise NpyError("not .npy data (no \\x93NUMPY magic string)")
    version = (start[6], start[7])
    if version not in ((1, 0), (2, 0), (3, 0)):
        raise NpyError(f"format version {version[0]}.{version[1]} is not 1.0, 2.0 or 3.0")
    fmt = _LENGTH_FORMAT[version[0]]
    (length,) = struct.unpack(fmt, _read_exactly(stream, struct.calcsize(fmt), "header"))
    if length > MAX_HEADER_BYTES:
        raise NpyError(f"header of {length} bytes is longer than {MAX_HEADER_BYTES}")
    raw = _read_exactly(stream, length, "header")
    try:
        text = raw.decode("utf-8" if version == (3, 0) else "latin-1")
    except UnicodeDecodeError:
        raise NpyError("header is not UTF-8 text") from None
    header = _parse_header_text(text)
    if not isinstance(header["fortran_order"], bool):
        raise NpyError(f"bad fortran_order {header['fortran_order']!r}")
    return NpyHeader(
        version=version,
        shape=_header_shape(header["shape"]),
        dtype=_header_dtype(header["descr"]),
        fortran_order=header["fortran_order"],
        offset=8 + struct.calcsize(fmt) + length,
    )


def _remaining(stream: BinaryIO) -> int | None:
    """Bytes left after the stream's position, or None when it cannot say."""
    try:
        if not stream.seekable():
            return None
        here = stream.tell()
        end = stream.seek(0, io.SEEK_END)
        stream.seek(here)
    except (OSError, ValueError):
        return None
    return max(end - here, 0)


def _truncated(header: NpyHeader, held: int) -> NpyError:
    """Build the error for data shorter than the header's shape needs."""
    return NpyError(
        f"truncated: {header.describe()} needs {header.nbytes} bytes of data, the file holds {held}"
    )


def _read_into(stream: BinaryIO, view: memoryview) -> int:
    """Fill ``view`` from ``stream``; return how many bytes it got."""
    got = 0
    while got < len(view):
        n = stream.readinto(view[got:])  # type: ignore[attr-defined]
        if not n:
            break
        got += n
    return got


def _read_growing(stream: BinaryIO, header: NpyHeader) -> bytearray:
    """Read a stream of unknown length a chunk at a time, never past what it holds."""
    buffer = bytearray()
    while len(buffer) < header.nbytes:
        # a read allocates its whole request: ask for no more than is already held
        size = min(max(len(buffer), _FIRST_CHUNK), _CHUNK, header.nbytes - len(buffer))
        chunk = stream.read(size)
        if not chunk:
            raise _truncated(header, len(buffer))
        buffer += chunk
    return buffer


def read_npy_data(stream: BinaryIO, header: NpyHeader, *, what: str = ".npy data") -> np.ndarray:
    """Read the array ``header`` describes from a stream at its first data byte.

    Parameters
    ----------
    stream : binary file object
        As :func:`read_npy_header` left it. Bytes after the data are ignored
        (as :func:`numpy.load` does).
    header : NpyHeader
        From :func:`read_npy_header`.
    what : str
        How a :class:`~convcli.errors.LimitError` names the data.

    Returns
    -------
    numpy.ndarray
        Writable, native byte order, in the file's memory order.

    Raises
    ------
    NpyError
        Fewer data bytes than the shape needs.
    LimitError
        More bytes than this machine could allocate (checked before reading).
    """
    need = header.nbytes
    held = _remaining(stream)
    if held is not None and held < need:
        raise _truncated(header, held)
    check_allocation(need, f"{what}: {header.describe()}")
    if held is None:
        buffer = _read_growing(stream, header)
        try:
            flat = np.frombuffer(buffer, dtype=header.dtype, count=math.prod(header.shape))
        except ValueError as exc:  # a dtype of no bytes (``V0``) cannot be viewed
            raise NpyError(f"cannot read {header.describe()} ({exc})") from None
    else:
        # np.empty, not a zeroed buffer: the bytes are written once, by the read
        flat = np.empty(math.prod(header.shape), dtype=header.dtype)
        if need:
            got = _read_into(stream, flat.view(np.uint8).data)
            if got < need:
                raise _truncated(header, got)
    return _as_array(flat, header)


def _as_array(flat: np.ndarray, header: NpyHeader) -> np.ndarray:
    """Shape the data read as the header's array, swapped to native byte order in place."""
    if not header.dtype.isnative:
        flat = flat.byteswap(inplace=True).view(header.dtype.newbyteorder("="))
    if header.fortran_order:
        return flat.reshape(header.shape[::-1]).transpose()
    return flat.reshape(header.shape)


def read_npy(
    stream: BinaryIO,
    *,
    check: Callable[[NpyHeader], None] | None = None,
    what: str = ".npy data",
) -> np.ndarray:
    """Read a whole ``.npy`` array from a stream, checking its header first.

    Parameters
    ----------
    stream : binary file object
        Positioned at the magic string.
    check : callable, optional
        Called with the :class:`NpyHeader` before any data is read: it raises
        to refuse the array (a shape or dtype the caller cannot use, a size
        over its limit).
    what : str
        How a :class:`~convcli.errors.LimitError` names the data.

    Returns
    -------
    numpy.ndarray
        As :func:`read_npy_data`.

    Raises
    ------
    NpyError
        As :func:`read_npy_header` and :func:`read_npy_data`.
    """
    header = read_npy_header(stream)
    if check is not None:
        check(header)
    return read_npy_data(stream, header, what=what)


def load_npy_bytes(
    data: bytes,
    *,
    check: Callable[[NpyHeader], None] | None = None,
    what: str = ".npy data",
) -> np.ndarray:
    """Load a whole ``.npy`` file's bytes, trusting its header for nothing.

    A header can promise any shape (a 128-byte file can ask for 74.5 GiB);
    the bytes it needs are compared with the bytes there before anything is
    allocated, and object (pickled) arrays are refused unread.

    Parameters
    ----------
    data : bytes
        The file's bytes.
    check, what
        As for :func:`read_npy`, which this calls on the bytes; it returns
        the array and raises :class:`NpyError` for an empty file, a bad
        header, object dtype, or fewer data bytes than the header's shape
        needs (the message says which).

    Examples
    --------
    >>> import io
    >>> buf = io.BytesIO()
    >>> np.save(buf, np.eye(2))
    >>> load_npy_bytes(buf.getvalue()).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    >>> load_npy_bytes(buf.getvalue()[:-8])
    Traceback (most recent call last):
    ...
    convcli.kernels.npy.NpyError: truncated: shape (2, 2) of float64 needs 32 bytes of data, the file holds 24
    """
    return read_npy(io.BytesIO(data), check=check, what=what)


def write_npy_header(fh: BinaryIO, shape: tuple[int, ...], dtype: np.dtype) -> None:
    """Write the header of a C-order ``.npy`` array of ``shape`` and ``dtype`` to ``fh``.

    The data (``prod(shape)`` items in native byte order, row by row) is the
    caller's to write after it, in as many pieces as it likes.

    Examples
    --------
    >>> import io
    >>> fh = io.BytesIO()
    >>> write_npy_header(fh, (2, 3), np.dtype(np.uint8))
    >>> _ = fh.write(bytes(range(6)))
    >>> _ = fh.seek(0)
    >>> read_npy(fh).tolist()
    [[0, 1, 2], [3, 4, 5]]
    """
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False}
    np.lib.format.write_array_header_1_0(fh, {**header, "shape": tuple(shape)})
