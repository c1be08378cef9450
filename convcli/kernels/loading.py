"""Kernel files: text/CSV, ``.npy``, ``.json`` and libvips ``.mat`` in, a :class:`Kernel` out.

:func:`load_kernel` picks the reader from the suffix (and, for text, from
the first line: a libvips header or an ImageMagick kernel string).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..arithmetic.jsontext import load_json
from ..errors import KernelError, ParameterError
from ..guard import note_input
from .inline import (
    match_magick,
    parse_fraction,
    parse_magick,
    parse_nested,
    rows_to_array,
    split_row,
)
from .kernel import Kernel, check_finite
from .npy import NpyError, NpyHeader, load_npy_bytes
from .reading import read_bounded

__all__ = ["load_kernel"]


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
    array = rows_to_array([(f"row {i}", _vips_split(line)) for i, line in enumerate(rows, 1)], what)
    if array.shape[1] != width:
        raise KernelError(f"{what}: row 1 has {array.shape[1]} values, expected {width}")
    return array / scale, offset


def _looks_like_vips(lines: list[str]) -> bool:
    """Tell whether the file's first line is a libvips header matching the rows below.

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
            value = parse_fraction(setting.group(2), key, f"{what}: line {lineno}")
            if key == "scale":
                if value == 0:
                    raise KernelError(f"{what}: line {lineno}: scale must be non-zero")
                scale = value
            else:
                offset = value
            continue
        rows.append((f"row {len(rows) + 1} (line {lineno})", split_row(line)))
    if not rows:
        raise KernelError(f"empty kernel: {what} holds no numbers")
    return rows_to_array(rows, what) * scale, offset, description


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
    if (match := match_magick(content)) is not None:
        # An ImageMagick kernel string kept in a file (what `@file` reads).
        weights = parse_magick(match, what)
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
        scale = parse_fraction(str(data.get("scale", 1.0)), "scale", what)
        if scale == 0:
            raise KernelError(f"{what}: scale must be non-zero")
        offset = parse_fraction(str(data.get("offset", 0.0)), "offset", what)
        description = str(data.get("description", description))
        data = data["weights"]
    weights = parse_nested(data, what) * scale
    return Kernel(path.stem, weights, description, f"file {path.name}", offset=offset)
