"""Rendering of results: rich tables, JSON and CSV from rows and headers.

Pure functions that return strings, so they are testable without Click and
without a terminal. rich is imported only inside :func:`render_table`, so
the JSON, CSV and quiet paths never load it; json and csv, likewise, are
imported only by the function that writes them.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any

__all__ = [
    "color_enabled",
    "format_count",
    "format_int",
    "format_pair",
    "format_shape",
    "render_table",
    "to_csv",
    "to_json",
]


def format_int(value: int) -> str:
    """Write an integer with thousands separators.

    Examples
    --------
    >>> format_int(61100840)
    '61,100,840'
    """
    return f"{value:,}"


def format_count(value: int) -> str:
    """Write a large count briefly, with a unit: K, M, G or T (powers of 1000).

    Examples
    --------
    >>> format_count(714188480)
    '714.19 M'
    >>> format_count(3600000100)
    '3.60 G'
    >>> format_count(156)
    '156'
    """
    for unit, scale in (("T", 10**12), ("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if abs(value) >= scale:
            return f"{value / scale:.2f} {unit}"
    return str(value)


def format_shape(shape: Iterable[int], sep: str = "×") -> str:
    """Join a shape's sizes: ``(64, 55, 55)`` → ``'64×55×55'``.

    Examples
    --------
    >>> format_shape((64, 55, 55))
    '64×55×55'
    >>> format_shape((3, 224, 224), sep="x")
    '3x224x224'
    """
    return sep.join(str(v) for v in shape)


def format_pair(value: Sequence[int] | None, sep: str = "×") -> str:
    """Write an (H, W) pair as one number when both are equal, ``—`` for None.

    Examples
    --------
    >>> format_pair((11, 11))
    '11'
    >>> format_pair((5, 3))
    '5×3'
    >>> format_pair(None)
    '—'
    """
    if value is None:
        return "—"
    if value[0] == value[1]:
        return str(value[0])
    return f"{value[0]}{sep}{value[1]}"


def color_enabled(stream: IO[Any] | None) -> bool:
    """True when ``stream`` is a terminal and ``NO_COLOR`` is not set.

    Examples
    --------
    >>> import io
    >>> color_enabled(io.StringIO())
    False
    """
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def to_json(data: Any) -> str:
    """Serialise ``data`` as indented JSON (UTF-8 text, not ASCII-escaped).

    Examples
    --------
    >>> print(to_json({"out": [55, 55]}))
    {
      "out": [
        55,
        55
      ]
    }
    """
    import json

    return json.dumps(data, indent=2, ensure_ascii=False)


def to_csv(rows: Iterable[Mapping[str, Any]], headers: Sequence[str]) -> str:
    """Write rows (mappings) as CSV with a header line; missing keys are empty.

    ``None`` becomes an empty cell; lines end with ``\\n``.

    Examples
    --------
    >>> print(to_csv([{"a": 1, "b": None}], ["a", "b"]), end="")
    a,b
    1,
    """
    import csv

    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=list(headers), lineterminator="\n", extrasaction="ignore"
    )
    writer.writeheader()
    for row in rows:
        writer.writerow({key: ("" if row.get(key) is None else row.get(key)) for key in headers})
    return buffer.getvalue()


def render_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    title: str | None = None,
    caption: str | None = None,
    right: Iterable[str] = (),
    no_wrap: Iterable[str] = (),
    styles: Sequence[str | None] | None = None,
    width: int = 100,
    color: bool = False,
) -> str:
    """Render a table with rich and return it as text.

    Parameters
    ----------
    headers : sequence of str
        Column titles.
    rows : iterable of sequences of str
        The cells, already formatted.
    title, caption : str, optional
        Shown above and below the table.
    right : iterable of str
        Headers of the columns to align right (numbers).
    no_wrap : iterable of str
        Headers of the columns that must stay on one line (formulas).
    styles : sequence of str or None, optional
        A rich style per row (``"dim"`` for subtotals).
    width : int
        Maximum width in characters; the table is only as wide as it needs.
    color : bool
        Emit ANSI colour and bold codes.

    Examples
    --------
    >>> text = render_table(["n", "out"], [["224", "55"]], right=["out"])
    >>> "224" in text and "55" in text
    True
    """
    from rich.console import Console
    from rich.table import Table

    right = set(right)
    no_wrap = set(no_wrap)
    table = Table(title=title, caption=caption, header_style="bold", title_style="bold")
    for header in headers:
        table.add_column(
            header,
            justify="right" if header in right else "left",
            no_wrap=header in no_wrap,
        )
    for i, row in enumerate(rows):
        style = styles[i] if styles is not None and i < len(styles) else None
        table.add_row(*row, style=style)
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        force_terminal=color,
        no_color=not color,
        color_system="standard" if color else None,
        highlight=False,
        soft_wrap=False,
    )
    console.print(table)
    return buffer.getvalue()
