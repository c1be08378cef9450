"""Numeric matrices and tensors in and out: what ``convcli conv`` and ``learn`` read and print.

A matrix is given inline (``"0 1 2; 3 4 5"``: rows by ``;``, values by
spaces or commas; or JSON ``"[[0, 1], [2, 3]]"``), as a file (``.txt``,
``.csv``, ``.npy``, ``.json``) or as ``"-"`` for standard input. Text files
hold one row per line; a blank line starts the next channel, so a
``(C, H, W)`` tensor is C blocks of rows. JSON and ``.npy`` hold any number
of dimensions.

Row parsing reuses the kernel text helpers of :mod:`convcli.kernels.files`, so a
kernel and a matrix are written the same way and fail with the same
messages ("row 2 has 2 values, expected 3").
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
from collections.abc import Callable
from typing import Any, BinaryIO

import numpy as np

from ..arithmetic.jsontext import load_json
from ..errors import ConvcliError, ParameterError, ShapeError
from ..guard import note_input
from ..images.atomic import atomic_write, read_stdin
from ..kernels.files import parse_number_rows
from ..kernels.npy import NPY_MAGIC, NpyError, NpyHeader, load_npy_bytes
from ..kernels.reading import read_bounded
from ..suffixes import MATRIX_SUFFIXES

__all__ = [
    "MATRIX_FORMATS",
    "format_matrix",
    "matrix_bytes",
    "parse_matrix",
    "write_output",
]

#: Output formats of :func:`format_matrix` / :func:`matrix_bytes`.
MATRIX_FORMATS = ("text", "csv", "json", "npy")


def _as_array(values: Any, what: str) -> np.ndarray:
    """Convert to a real, finite, non-empty float64 array, or raise a ShapeError naming ``what``."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        reason = "rows of different lengths" if "inhomogeneous" in str(exc) else str(exc)
        raise ShapeError(f"{what}: not a regular array of numbers ({reason})") from None
    if arr.size == 0:
        raise ShapeError(f"{what} holds no numbers (shape {arr.shape})")
    bad = np.argwhere(~np.isfinite(arr))
    if bad.size:
        where = ", ".join(str(int(i)) for i in bad[0])
        raise ShapeError(
            f"{what}: the value at index ({where}) is {arr[tuple(bad[0])]}; values must be finite"
        )
    return arr


def _parse_rows(text: str, what: str) -> np.ndarray:
    """Rows separated by ``;`` or newlines; a blank line separates channels."""
    blocks = [b for b in re.split(r"\n[ \t]*\r?\n", text.strip()) if b.strip()]
    if not blocks:
        raise ShapeError(f"{what} holds no numbers")
    arrays = []
    for b, block in enumerate(blocks, 1):
        lines = [line.partition("#")[0] for line in re.split(r"[;\n]", block)]
        lines = [line for line in lines if line.strip()]
        label = "row {}" if len(blocks) == 1 else f"channel {b}, row {{}}"
        rows = [(label.format(i), line) for i, line in enumerate(lines, 1)]
        if not rows:
            continue
        arrays.append(parse_number_rows(rows, what, ShapeError))
    if not arrays:
        raise ShapeError(f"{what} holds no numbers")
    if len(arrays) == 1:
        return arrays[0]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        listed = ", ".join(f"{a.shape[0]}×{a.shape[1]}" for a in arrays)
        raise ShapeError(f"{what}: channels differ in shape ({listed}); they must all match")
    return np.stack(arrays)


def _parse_json(text: str, what: str) -> np.ndarray:
    data = load_json(text, what, ShapeError)
    if isinstance(data, dict):
        if "weights" not in data:
            raise ShapeError(f'{what}: a JSON object needs a "weights" key with the nested list')
        data = data["weights"]
    if not isinstance(data, list):
        raise ShapeError(f"{what}: expected a nested list of numbers like [[0, 1], [2, 3]]")
    if data and not any(isinstance(r, list) for r in data):
        data = [data]  # a flat list is one row
    _check_json_numbers(data, what)
    return _as_array(data, what)


def _check_json_numbers(data: Any, what: str) -> None:
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, bool) or not isinstance(item, (int, float)):
            raise ShapeError(f"{what}: {item!r} is not a number")


def _check_npy_matrix(header: NpyHeader, what: str) -> None:
    """Refuse a ``.npy`` header whose values are not real numbers, before its data is read."""
    if header.dtype.kind not in "biuf":
        raise ShapeError(f"{what}: holds {header.dtype} values; a matrix needs real numbers")


def _parse_npy(data: bytes, what: str) -> np.ndarray:
    try:
        arr = load_npy_bytes(data, check=lambda h: _check_npy_matrix(h, what), what=what)
    except NpyError as exc:
        raise ShapeError(f"{what}: not a readable .npy array ({exc})") from None
    return _as_array(arr, what)


def _parse_text(text: str, what: str) -> np.ndarray:
    stripped = text.strip()
    if not stripped:
        raise ShapeError(f"{what} holds no numbers")
    if stripped.startswith(("[", "{")):
        return _parse_json(stripped, what)
    return _parse_rows(text, what)


def parse_matrix(spec: str, what: str = "matrix", *, stdin: BinaryIO | None = None) -> np.ndarray:
    """Read a numeric matrix or tensor from an inline string, a file or standard input.

    Parameters
    ----------
    spec : str
        * inline rows: ``"0 1 2; 3 4 5"`` (rows by ``;`` or newlines, values
          by spaces and/or commas);
        * inline JSON: ``"[[0, 1], [2, 3]]"`` (any depth: ``[[[...]]]`` is
          (C, H, W));
        * a file: ``.npy`` (any shape), ``.json`` (a nested list, or an
          object with a ``"weights"`` key as ``convcli kernels show`` writes),
          anything else is text: rows of numbers, ``#`` comments, and a blank
          line between channels;
        * ``"-"``: standard input, in any of the file forms (``.npy`` data is
          recognised by its first bytes).
    what : str
        How errors name the value (``"--input"``).
    stdin : binary file, optional
        Read instead of ``sys.stdin.buffer`` for ``"-"``.

    Returns
    -------
    numpy.ndarray
        float64, at least 1-D; a single row of numbers is 2-D (1, W).

    Raises
    ------
    ShapeError
        Ragged rows, non-numbers, NaN or infinite values, no numbers, a
        missing or unreadable file.

    Examples
    --------
    >>> parse_matrix("0 1 2; 3 4 5").tolist()
    [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    >>> parse_matrix("[[[1, 2]], [[3, 4]]]").shape
    (2, 1, 2)
    """
    text = spec.strip()
    if not text:
        raise ShapeError(f"{what} is empty: give a matrix such as '0 1; 2 3', a file or '-'")
    if text == "-":
        name = f"{what} (standard input)"
        data = stdin.read() if stdin is not None else read_stdin(name)
        if not data.strip():
            raise ShapeError(f"{name}: no data on standard input")
        if data.startswith(NPY_MAGIC):
            return _parse_npy(data, name)
        return _parse_text(_decode(data, name), name)
    if (
        os.path.isfile(text)
        or "/" in text
        or os.sep in text
        or text.lower().endswith(MATRIX_SUFFIXES)
    ):
        return _load_file(text, what)
    return _parse_text(text, f"{what} {text!r}" if len(text) <= 40 else what)


def _decode(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ShapeError(f"{what}: not text (not UTF-8) and not .npy data") from None


def _load_file(path: str, what: str) -> np.ndarray:
    name = f"{what} file {path!r}"
    note_input(path)
    try:
        data = read_bounded(path, name)
    # a file that is not there is a bad argument (exit 2, as click's Path(exists=True));
    # one that cannot be read is a failure at run time (as for images)
    except FileNotFoundError:
        raise ParameterError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise ConvcliError(f"{name}: is a directory") from None
    except OSError as exc:
        raise ConvcliError(f"{name}: cannot read ({exc.strerror or exc})") from None
    if path.lower().endswith(".npy") or data.startswith(NPY_MAGIC):
        return _parse_npy(data, name)
    text = _decode(data, name)
    if path.lower().endswith(".json"):
        return _parse_json(text, name)
    return _parse_text(text, name)


# ---------------------------------------------------------------------- output


def _cell_text(arr: np.ndarray, precision: int) -> Callable[[float], str]:
    """Make a function writing one value: whole numbers without a point, others to ``precision``."""
    whole = bool(np.all(arr == np.round(arr)) and np.all(np.abs(arr) < 2**53))

    def cell(v: float) -> str:
        text = str(int(v)) if whole else f"{v:.{precision}g}"
        return "0" if text == "-0" else text

    return cell


def format_matrix(values: np.ndarray, fmt: str = "text", *, precision: int = 6) -> str:
    """Write a matrix or tensor as text, CSV or JSON.

    Parameters
    ----------
    values : numpy.ndarray
        1-D to 3-D (or more for ``text`` and ``json``).
    fmt : {"text", "csv", "json"}
        ``text``: aligned nested brackets, as numpy prints with ``", "``
        between values. ``csv``: one line per row, values by commas; the
        channels of a 3-D array one after another with a blank line between
        (the form :func:`parse_matrix` reads back). ``json``: a nested list.
        Whole numbers are written without a decimal point.
    precision : int
        Significant digits of non-integral values in ``text`` and ``csv``
        (JSON keeps full precision).

    Examples
    --------
    >>> print(format_matrix(np.array([[19.0, 25.0], [37.0, 43.0]])))
    [[19, 25],
     [37, 43]]
    >>> print(format_matrix(np.array([[0.5, -1.0]]), "csv"), end="")
    0.5,-1
    """
    arr = np.asarray(values, dtype=np.float64)
    if fmt == "json":
        data = arr.tolist()
        return json.dumps(_whole(data))
    cell = _cell_text(arr, precision)
    if fmt == "text":
        width = max(len(cell(v)) for v in arr.ravel())
        return np.array2string(
            arr,
            separator=", ",
            formatter={"float_kind": lambda v: f"{cell(float(v)):>{width}}"},
            threshold=sys.maxsize,
            max_line_width=10**9,
        )
    if fmt == "csv":
        if arr.ndim > 3:
            raise ShapeError(
                f"CSV holds up to 3 dimensions, got shape {arr.shape}: use json or npy"
            )
        planes = arr.reshape((-1, *arr.shape[-2:])) if arr.ndim >= 2 else arr.reshape(1, 1, -1)
        blocks = ["\n".join(",".join(cell(v) for v in row) for row in plane) for plane in planes]
        return "\n\n".join(blocks) + "\n"
    raise ParameterError(f"unknown matrix format {fmt!r}; known: {', '.join(MATRIX_FORMATS)}")


def _whole(data: Any) -> Any:
    if isinstance(data, list):
        return [_whole(v) for v in data]
    if float(data).is_integer() and abs(data) < 2**53:
        return int(data)
    return data


def matrix_bytes(values: np.ndarray, fmt: str = "text", *, precision: int = 6) -> bytes:
    r"""Encode ``values`` in ``fmt``: as :func:`format_matrix`, or ``.npy`` data.

    Examples
    --------
    >>> matrix_bytes(np.eye(2), "json")
    b'[[1, 0], [0, 1]]\n'
    """
    if fmt == "npy":
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(values), allow_pickle=False)
        return buffer.getvalue()
    text = format_matrix(values, fmt, precision=precision)
    return (text if text.endswith("\n") else text + "\n").encode("utf-8")


def write_output(path: str | os.PathLike, data: bytes, *, overwrite: bool = False) -> None:
    """Write ``data`` to a file through a temporary file renamed into place.

    Parameters
    ----------
    path : str or path-like
        The file; an existing one is replaced only with ``overwrite``.
    data : bytes
        The whole content.
    overwrite : bool
        Replace an existing file.

    Raises
    ------
    ConvcliError
        When ``path`` exists and ``overwrite`` is false, or its directory is
        missing or not writable.
    """
    atomic_write(path, lambda fh: fh.write(data), overwrite=overwrite)
