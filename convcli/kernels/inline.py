"""Inline matrices: what a person types after ``-k`` (``"1,0,-1;2,0,-2;1,0,-1"``).

:func:`parse_kernel` reads rows (``;`` or newlines between rows, commas or
spaces between values), a JSON nested list or an ImageMagick kernel string.
The row parser (:func:`parse_number_rows`) and the cell and list parsers
are shared with the kernel files (:mod:`.loading`) and the matrices of
``convcli conv`` (:mod:`convcli.teaching.matrices`), so all fail with the
same messages ("row 2 has 2 values, expected 3").
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..arithmetic.jsontext import load_json
from ..errors import KernelError
from .kernel import Kernel

__all__ = [
    "looks_like_matrix",
    "match_magick",
    "parse_fraction",
    "parse_kernel",
    "parse_magick",
    "parse_nested",
    "parse_number_rows",
    "rows_to_array",
    "split_row",
]


# patterns compile on first use (re caches them): a kernel name compiles only the first
_ROW_SPLIT = r"[\s,]+"
_NUMBER_START = r"^\s*[-+.\d\[]"
_MAGICK = r"^\s*(\d+)(?:\s*x\s*(\d+))?\s*(?:([+-]\d+)([+-]\d+))?\s*:(.*)$"


def match_magick(text: str) -> re.Match[str] | None:
    """Match an ImageMagick kernel string (``3x3: ...``, ``3x3+1+1: ...``), or return None.

    Examples
    --------
    >>> match_magick("3x1: 1, 0, -1").groups()
    ('3', '1', None, None, ' 1, 0, -1')
    """
    return re.match(_MAGICK, text, re.DOTALL | re.IGNORECASE)


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


def parse_fraction(text: str, key: str, where: str) -> float:
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


def rows_to_array(rows: Sequence[tuple[str, Sequence[str]]], what: str) -> np.ndarray:
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


def split_row(text: str) -> list[str]:
    """Split one row of text into its cells, at commas and/or whitespace."""
    return [t for t in re.split(_ROW_SPLIT, text.strip()) if t]


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
        return rows_to_array([(label, split_row(line)) for label, line in rows], what)
    except KernelError as exc:
        if error is KernelError:
            raise
        raise error(str(exc)) from None


def looks_like_matrix(text: str) -> bool:
    """Tell whether ``text`` starts like an inline matrix (a number or ``[``), not a name.

    Examples
    --------
    >>> looks_like_matrix("1,0;-1,2"), looks_like_matrix("sobel")
    (True, False)
    """
    return bool(re.match(_NUMBER_START, text))


def parse_nested(data: Any, what: str) -> np.ndarray:
    """Read a JSON nested list (or a flat list: one row) as a 2-D array."""
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
    return rows_to_array(rows, what)


def parse_magick(match: re.Match[str], what: str) -> np.ndarray:
    """Read an ImageMagick kernel string (matched by :func:`match_magick`) as a 2-D array."""
    width = int(match.group(1))
    height = int(match.group(2) or width)
    if width < 1 or height < 1:
        raise KernelError(f"{what}: ImageMagick size {width}x{height} must be at least 1x1")
    tokens = split_row(match.group(5))
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
    return rows_to_array(rows, what)


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
        weights = parse_nested(data, what)
        source = "inline nested list"
    elif (match := match_magick(stripped)) is not None:
        weights = parse_magick(match, what)
        source = "inline ImageMagick kernel"
    else:
        # Rows end at ';' or a newline (';' then a newline is one break);
        # a trailing ';' is allowed.
        lines = re.split(r";[ \t]*\r?\n|[;\n]", stripped.rstrip(";").rstrip())
        rows = [(f"row {i}", split_row(line)) for i, line in enumerate(lines, 1)]
        if all(not tokens for _, tokens in rows):
            raise KernelError(f"empty kernel: {what} holds no numbers")
        for label, tokens in rows:
            if not tokens:
                raise KernelError(f"{what}: {label} is empty")
        weights = rows_to_array(rows, what)
        source = "inline matrix"
    return Kernel(name, weights, f"user kernel {weights.shape[0]}×{weights.shape[1]}", source)
