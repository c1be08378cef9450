"""User kernels: inline matrices and kernel files in, kernel text files out.

Four ways to get a :class:`~convcli.kernels.kernel.Kernel` from what a
person types:

* :func:`parse_kernel` reads an inline matrix (``"1,0,-1;2,0,-2;1,0,-1"``,
  ``"[[1,-1]]"`` or ImageMagick's ``"3x3: ..."``);
* :func:`load_kernel` reads a file (text/CSV, ``.npy``, ``.json``, libvips ``.mat``);
* :func:`resolve_kernel` picks a file, an inline matrix or a built-in name
  (:func:`convcli.kernels.catalogue.get_kernel`), as ``--kernel`` does;
* :func:`format_kernel_text` writes a kernel back as text that
  :func:`load_kernel` reads exactly.

:func:`parse_number_rows` and :func:`looks_like_matrix` are the row parser
and the "is this a matrix?" test, shared with the matrix reader of
``convcli conv`` (:mod:`convcli.teaching.matrices`).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..arithmetic.jsontext import load_json
from ..errors import KernelError, ParameterError
from ..guard import note_input
from ..suffixes import KERNEL_SUFFIXES
from .catalogue import get_kernel
from .kernel import Kernel, check_finite
from .npy import NpyError, NpyHeader, load_npy_bytes
from .reading import read_bounded

__all__ = [
    "format_kernel_text",
    "load_kernel",
    "load_npy_bytes",
    "looks_like_matrix",
    "parse_kernel",
    "parse_number_rows",
    "resolve_kernel",
]


# --------------------------------------------------------------------------
# Matrices: inline text, files
# --------------------------------------------------------------------------


_ROW_SPLIT = re.compile(r"[\s,]+")
_NUMBER_START = re.compile(r"^\s*[-+.\d\[]")
_MAGICK = re.compile(
    r"^\s*(\d+)(?:\s*x\s*(\d+))?\s*(?:([+-]\d+)([+-]\d+))?\s*:(.*)$", re.DOTALL | re.IGNORECASE
)


def _shown(token: str, most: int = 24) -> str:
    """``token`` quoted for a message, its middle cut when it is long (5000 digits)."""
    if len(token) <= most:
        return repr(token)
    return repr(f"{token[: most // 2]}…{token[-most // 2 :]}") + f" ({len(token)} characters)"


def _number(token: str, where: str) -> float:
    """Parse one cell; ``where`` names it in the error ("row 2")."""
    try:
        value = float(token)
    except ValueError:
        raise KernelError(f"{where}: {_shown(token)} is not a number") from None
    if not math.isfinite(value):
        raise KernelError(f"{where} holds {_shown(token)}; kernel values must be finite")
    return value


def _fraction(text: str, key: str, where: str) -> float:
    """Parse ``0.0625`` or ``1/16``; errors name ``key`` and ``where`` it is."""
    num, slash, den = text.partition("/")
    try:
        value = float(num) / float(den) if slash else float(text)
    except (ValueError, ZeroDivisionError):
        raise KernelError(
            f"{where}: bad {key} {text.strip()!r}: expected a number like 0.0625 or 1/16"
        ) from None
    if not math.isfinite(value):
        raise KernelError(f"{where}: bad {key} {text.strip()!r}: it must be finite")
    return value


def _rows_to_array(rows: Sequence[tuple[str, Sequence[str]]], what: str) -> np.ndarray:
    """Turn ``(label, tokens)`` rows into a 2-D array, checking raggedness."""
    if not rows:
        raise KernelError(f"{what} holds no numbers")
    width = len(rows[0][1])
    values = []
    for label, tokens in rows:
        if len(tokens) != width:
            raise KernelError(
                f"{what}: {label} has {len(tokens)} value{'s' * (len(tokens) != 1)}, "
                f"expected {width}"
            )
        values.append([_number(t, f"{what}: {label}") for t in tokens])
    return np.array(values, dtype=np.float64)


def _split_row(text: str) -> list[str]:
    return [t for t in _ROW_SPLIT.split(text.strip()) if t]


def parse_number_rows(
    rows: Sequence[tuple[str, str]], what: str, error: type[Exception] = KernelError
) -> np.ndarray:
    """Parse labelled text rows of numbers into a 2-D float64 array.

    The row parser of kernel files, public so that other matrix readers (the
    ``conv`` command's ``--input``) word their errors as their own.

    Parameters
    ----------
    rows : sequence of (label, line)
        Each line holds numbers separated by spaces and/or commas (fractions
        like ``1/16`` too); the label names it in messages (``"row 2"``).
    what : str
        What is being read, for messages (``"kernel"``, ``"--input"``).
    error : exception class, optional
        Raised for ragged rows, bad numbers or no rows at all.

    Examples
    --------
    >>> parse_number_rows([("row 1", "0 1"), ("row 2", "2, 3")], "--input").tolist()
    [[0.0, 1.0], [2.0, 3.0]]
    """
    try:
        return _rows_to_array([(label, _split_row(line)) for label, line in rows], what)
    except KernelError as exc:
        if error is KernelError:
            raise
        raise error(str(exc)) from None


def looks_like_matrix(text: str) -> bool:
    """True when ``text`` starts like an inline matrix (a number or ``[``), not a name.

    Examples
    --------
    >>> looks_like_matrix("1,0;-1,2"), looks_like_matrix("sobel")
    (True, False)
    """
    return bool(_NUMBER_START.match(text))


def _parse_nested(data: Any, what: str) -> np.ndarray:
    """A JSON nested list (or a flat list: one row) as a 2-D array."""
    if not isinstance(data, list) or not data:
        raise KernelError(f"{what}: expected a nested list of numbers like [[1, -1]]")
    if not any(isinstance(r, list) for r in data):
        data = [data]
    rows = []
    for i, row in enumerate(data, 1):
        if not isinstance(row, list):
            raise KernelError(f"{what}: row {i} is {row!r}, not a list of numbers")
        for value in row:  # JSON numbers only, as `conv`'s matrices take (not "1")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise KernelError(f"{what}: row {i}: {value!r} is not a number")
        rows.append((f"row {i}", [str(v) for v in row]))
    if all(len(tokens) == 0 for _, tokens in rows):
        raise KernelError(f"empty kernel: {what} holds no numbers")
    return _rows_to_array(rows, what)


def _parse_magick(match: re.Match[str], what: str) -> np.ndarray:
    width = int(match.group(1))
    height = int(match.group(2) or width)
    if width < 1 or height < 1:
        raise KernelError(f"{what}: ImageMagick size {width}x{height} must be at least 1x1")
    tokens = _split_row(match.group(5))
    for i, token in enumerate(tokens, 1):
        if token.lower() in ("nan", "-"):
            raise KernelError(
                f"{what}: value {i} is {token!r}, ImageMagick's 'not part of the "
                "neighbourhood' mark; convcli kernels are full rectangles (use 0)"
            )
    if len(tokens) != width * height:
        raise KernelError(
            f"{what}: ImageMagick kernel {width}x{height} needs {width * height} values, "
            f"got {len(tokens)}"
        )
    if match.group(3) is not None:
        x, y = int(match.group(3)), int(match.group(4))
        cx, cy = (width - 1) // 2, (height - 1) // 2
        if (x, y) != (cx, cy):
            raise KernelError(
                f"{what}: ImageMagick origin {match.group(3)}{match.group(4)} is not the "
                f"kernel centre (+{cx}+{cy}); convcli anchors every kernel at its centre"
            )
    rows = [(f"row {r + 1}", tokens[r * width : (r + 1) * width]) for r in range(height)]
    return _rows_to_array(rows, what)


def parse_kernel(text: str, name: str = "inline") -> Kernel:
    """Parse an inline matrix into a :class:`Kernel`.

    Parameters
    ----------
    text : str
        One of

        * rows separated by ``;`` (or newlines), values by commas and/or
          spaces: ``"1,0,-1;2,0,-2;1,0,-1"``, ``"0 1; 2 3"``;
        * a JSON nested list: ``"[[1,-1]]"`` (a flat list is one row);
        * an ImageMagick kernel ``"WxH: v,v,..."`` (row by row; ``"3: ..."``
          means 3x3); ``"WxH+X+Y: ..."`` is accepted when ``+X+Y`` is the
          centre ``+(W-1)//2+(H-1)//2``.
    name : str
        The name of the returned kernel.

    Raises
    ------
    KernelError
        For ragged rows, non-numbers, NaN or infinite values, no numbers, an
        off-centre ImageMagick origin or ImageMagick's ``nan`` cells.

    Examples
    --------
    >>> parse_kernel("1,0,-1;2,0,-2;1,0,-1").weights[1].tolist()
    [2.0, 0.0, -2.0]
    >>> parse_kernel("2x1: 1,-1").shape
    (1, 2)
    """
    what = f"kernel {text.strip()!r}" if len(text) <= 40 else "inline kernel"
    stripped = text.strip()
    if not stripped:
        raise KernelError("empty kernel: no numbers given")
    if stripped.startswith("["):
        data = load_json(stripped, what, KernelError)
        weights = _parse_nested(data, what)
        source = "inline nested list"
    elif (match := _MAGICK.match(stripped)) is not None:
        weights = _parse_magick(match, what)
        source = "inline ImageMagick kernel"
    else:
        # Rows end at ';' or a newline (';' then a newline is one break);
        # a trailing ';' is allowed.
        lines = re.split(r";[ \t]*\r?\n|[;\n]", stripped.rstrip(";").rstrip())
        rows = [(f"row {i}", _split_row(line)) for i, line in enumerate(lines, 1)]
        if all(not tokens for _, tokens in rows):
            raise KernelError(f"empty kernel: {what} holds no numbers")
        for label, tokens in rows:
            if not tokens:
                raise KernelError(f"{what}: {label} is empty")
        weights = _rows_to_array(rows, what)
        source = "inline matrix"
    return Kernel(name, weights, f"user kernel {weights.shape[0]}×{weights.shape[1]}", source)


def _vips_header(tokens: Sequence[str]) -> tuple[int, int, float, float] | None:
    """(width, height, scale, offset) if ``tokens`` can be a libvips header."""
    if not 2 <= len(tokens) <= 4:
        return None
    try:
        numbers = [float(t) for t in tokens]
    except ValueError:
        return None
    width, height = numbers[0], numbers[1]
    if not (width.is_integer() and height.is_integer() and width >= 1 and height >= 1):
        return None
    scale = numbers[2] if len(numbers) > 2 else 1.0
    offset = numbers[3] if len(numbers) > 3 else 0.0
    return int(width), int(height), scale, offset


def _vips_split(line: str) -> list[str]:
    # libvips separates numbers by any mix of spaces, tabs, commas and quotes.
    return [t for t in re.split(r"[\s,\"]+", line.strip()) if t]


def _load_vips(lines: list[str], what: str) -> tuple[np.ndarray, float]:
    """Parse a libvips matrix file: header line, then ``height`` rows."""
    body = [line for line in lines if line.strip()]
    if not body:
        raise KernelError(f"{what} holds no numbers")
    header = _vips_header(_vips_split(body[0]))
    if header is None:
        raise KernelError(
            f"{what}: the first line {body[0].strip()!r} is not a libvips header "
            "'width height [scale [offset]]'"
        )
    width, height, scale, offset = header
    if scale == 0 or not math.isfinite(scale):
        raise KernelError(f"{what}: bad scale {scale}: libvips scale must be non-zero")
    if not math.isfinite(offset):
        raise KernelError(f"{what}: bad offset {offset}: it must be finite")
    rows = body[1:]
    if len(rows) != height:
        raise KernelError(f"{what}: the header says {height} rows, the file has {len(rows)}")
    array = _rows_to_array(
        [(f"row {i}", _vips_split(line)) for i, line in enumerate(rows, 1)], what
    )
    if array.shape[1] != width:
        raise KernelError(f"{what}: row 1 has {array.shape[1]} values, expected {width}")
    return array / scale, offset


def _looks_like_vips(lines: list[str]) -> bool:
    """True when the file's first line is a libvips header matching the rows below.

    Only the very first line counts (libvips has no comments), so a file
    that starts with a ``#`` comment, as :func:`format_kernel_text` writes,
    is always read as plain text.
    """
    if not lines:
        return False
    header = _vips_header(_vips_split(lines[0]))
    if header is None:
        return False
    rows = [line for line in lines[1:] if line.strip()]
    return len(rows) == header[1] and all(len(_vips_split(r)) == header[0] for r in rows)


_SETTING = re.compile(r"^\s*(scale|offset)\s*[=:]\s*(.*?)\s*$", re.IGNORECASE)


def _load_text(lines: list[str], what: str) -> tuple[np.ndarray, float, str]:
    """Parse rows of numbers with comments and ``scale=`` / ``offset=`` lines."""
    rows: list[tuple[str, list[str]]] = []
    scale, offset, description = 1.0, 0.0, ""
    seen: set[str] = set()
    for lineno, raw in enumerate(lines, 1):
        line, hash_, comment = raw.partition("#")
        if hash_ and not description and not rows and comment.strip():
            description = comment.strip()
        if not line.strip():
            continue
        setting = _SETTING.match(line)
        if setting:
            key = setting.group(1).lower()
            if key in seen:
                raise KernelError(f"{what}: line {lineno}: {key} is given twice")
            seen.add(key)
            value = _fraction(setting.group(2), key, f"{what}: line {lineno}")
            if key == "scale":
                if value == 0:
                    raise KernelError(f"{what}: line {lineno}: scale must be non-zero")
                scale = value
            else:
                offset = value
            continue
        rows.append((f"row {len(rows) + 1} (line {lineno})", _split_row(line)))
    if not rows:
        raise KernelError(f"empty kernel: {what} holds no numbers")
    return _rows_to_array(rows, what) * scale, offset, description


def load_kernel(path: str | os.PathLike[str]) -> Kernel:
    """Read a kernel file.

    Parameters
    ----------
    path : str or path-like
        * ``.npy``: a 2-D numeric array;
        * ``.json``: a nested list ``[[1, 0, -1], ...]`` or an object
          ``{"weights": [[...]], "scale": 0.0625, "offset": 0}`` (``scale``
          multiplies);
        * ``.mat``: a libvips matrix file: a first line ``width height [scale
          [offset]]``, then the rows; the weights are *divided* by ``scale``
          and ``offset`` is kept in :attr:`Kernel.offset`;
        * anything else (``.txt``, ``.csv``, ...): rows of numbers separated
          by spaces and/or commas, ``#`` comments, blank lines, optional
          ``scale=1/16`` (multiplies) and ``offset=`` lines. A file whose
          very first line is a libvips header that matches the rows below is
          read as a libvips file whatever its extension, and a file holding
          an ImageMagick kernel string (``3x3: ...``, over several lines if
          you like) as that.

    Returns
    -------
    Kernel
        Named after the file's stem; its description is the first comment
        of a text file, if any.

    Raises
    ------
    KernelError
        For a missing or unreadable file, no numbers, ragged rows, non-numbers,
        NaN or infinite values, a bad scale, or an array that is not 2-D.
    """
    path = Path(path)
    what = f"kernel file {str(path)!r}"
    suffix = path.suffix.lower()
    note_input(path)
    try:
        if suffix == ".npy":
            try:
                array = load_npy_bytes(
                    read_bounded(path, what), check=lambda h: _check_npy_kernel(h, what), what=what
                )
            except NpyError as exc:
                raise KernelError(f"{what} is not a readable .npy array: {exc}") from None
            return _from_npy(array, path, what)
        raw = read_bounded(path, what)
    except ParameterError as exc:
        raise KernelError(str(exc)) from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise KernelError(f"cannot read {what}: {reason}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise KernelError(f"{what} is not a text file (not UTF-8)") from None
    if suffix == ".json":
        return _from_json(text, path, what)
    lines = text.splitlines()
    source = f"file {path.name}"
    if suffix == ".mat" or _looks_like_vips(lines):
        weights, offset = _load_vips(lines, what)
        return Kernel(path.stem, weights, "libvips matrix", f"libvips {source}", offset=offset)
    content = " ".join(line.partition("#")[0] for line in lines)
    if (match := _MAGICK.match(content)) is not None:
        # An ImageMagick kernel string kept in a file (what `@file` reads).
        weights = _parse_magick(match, what)
        return Kernel(path.stem, weights, "ImageMagick kernel", f"ImageMagick {source}")
    weights, offset, description = _load_text(lines, what)
    return Kernel(path.stem, weights, description or "user kernel", source, offset=offset)


def _check_npy_kernel(header: NpyHeader, what: str) -> None:
    """Refuse a ``.npy`` header that cannot hold a kernel, before its data is read."""
    shape, dtype = header.shape, header.dtype
    if len(shape) != 2:
        raise KernelError(
            f"{what} holds a {len(shape)}-D array of shape {shape}; a kernel must be 2-D"
        )
    if 0 in shape:
        raise KernelError(f"empty kernel: {what} has shape {shape}")
    if not (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)):
        raise KernelError(f"{what} holds {dtype} values; a kernel needs real numbers")


def _from_npy(array: np.ndarray, path: Path, what: str) -> Kernel:
    weights = array.astype(np.float64)
    check_finite(weights, what)
    return Kernel(path.stem, weights, "user kernel", f"file {path.name}")


def _from_json(text: str, path: Path, what: str) -> Kernel:
    data = load_json(text, what, KernelError)
    scale, offset, description = 1.0, 0.0, "user kernel"
    if isinstance(data, dict):
        unknown = sorted(set(data) - {"weights", "scale", "offset", "name", "description"})
        if unknown:
            raise KernelError(
                f"{what}: unknown key {unknown[0]!r}; expected weights, scale, offset, "
                "name, description"
            )
        if "weights" not in data:
            raise KernelError(f'{what}: no "weights" key with the nested list of values')
        scale = _fraction(str(data.get("scale", 1.0)), "scale", what)
        if scale == 0:
            raise KernelError(f"{what}: scale must be non-zero")
        offset = _fraction(str(data.get("offset", 0.0)), "offset", what)
        description = str(data.get("description", description))
        data = data["weights"]
    weights = _parse_nested(data, what) * scale
    return Kernel(path.stem, weights, description, f"file {path.name}", offset=offset)


# --------------------------------------------------------------------------
# Choosing among the three, and writing kernels back
# --------------------------------------------------------------------------


def resolve_kernel(spec: str) -> Kernel:
    """Turn a ``--kernel`` value into a :class:`Kernel`: file, matrix or name.

    In order: an existing file is loaded with :func:`load_kernel`; so is a
    value with a path separator or a kernel-file extension
    (:data:`convcli.suffixes.KERNEL_SUFFIXES`: ``.txt``, ``.csv``, ``.json``,
    ``.npy``, ``.tsv``, ``.dat``, ``.mat``, ``.kernel``), so that a missing
    file says "cannot read"; a value that starts like a number or ``[``
    (``"1,0,-1;..."``, ``"[[1,-1]]"``, ``"3x3: ..."``) is parsed with
    :func:`parse_kernel`; anything else is a built-in name for
    :func:`get_kernel`.

    Examples
    --------
    >>> resolve_kernel("laplacian").weights[1].tolist()
    [1.0, -4.0, 1.0]
    >>> resolve_kernel("[[1,-1]]").shape
    (1, 2)
    """
    text = spec.strip()
    if not text:
        raise KernelError("empty kernel: give a name, a matrix or a file")
    if os.path.isfile(text):
        return load_kernel(text)
    if "/" in text or os.sep in text or text.lower().endswith(KERNEL_SUFFIXES):
        return load_kernel(text)
    if _NUMBER_START.match(text):
        return parse_kernel(text)
    return get_kernel(text)


def _format_number(value: float) -> str:
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def format_kernel_text(kernel: Kernel) -> str:
    """Write ``kernel`` as text that :func:`load_kernel` reads back exactly.

    A ``# name: description`` header (and ``# source:`` when known), an
    ``offset=`` line when the offset is not 0, then one line per row with
    values separated by ``", "`` at full (repr) precision.

    Raises
    ------
    KernelError
        For a gradient magnitude, which is two kernels, not one matrix.

    Examples
    --------
    >>> print(format_kernel_text(get_kernel("edge-x")), end="")
    # edge-x: horizontal difference [[1, −1]]: positive at a bright→dark step left to right
    # source: the textbook's finite difference (= diff:1,x); even width, anchored on the left tap
    1, -1
    """
    if kernel.is_magnitude:
        raise KernelError(
            f"kernel {kernel.name!r} is the magnitude of two kernels and has no single "
            "matrix; write its parts (e.g. sobel-x and sobel-y) instead"
        )
    lines = [f"# {kernel.name}: {kernel.description}".rstrip()]
    if kernel.source:
        lines.append(f"# source: {kernel.source}")
    if kernel.offset:
        lines.append(f"offset={kernel.offset!r}")
    for row in kernel.weights:
        lines.append(", ".join(_format_number(float(v)) for v in row))
    return "\n".join(line.replace("\n", " ") for line in lines) + "\n"
