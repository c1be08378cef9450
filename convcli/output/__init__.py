"""Rendering of results: rich tables, JSON and CSV from rows and headers.

Pure functions that return strings, so they are testable without Click and
without a terminal. rich is imported only inside the functions that draw
with it, so the JSON, CSV and quiet paths never load it; json and csv,
likewise, are imported only by the function that writes them.

- :mod:`.numbers`: numbers, counts and shapes as text (``61,100,840``,
  ``714.19 M``, ``64×55×55``);
- :mod:`.streams`: terminal or not, colour, the width to draw for, rich
  consoles on standard output and standard error;
- :mod:`.serial`: JSON and CSV text;
- :mod:`.wrapping`: cells wrapped at spaces and columns fitted to a width,
  never cutting a number;
- :mod:`.plain`: a table drawn exactly as rich draws it, without rich;
- :mod:`.tables`: :func:`render_table` (boxed) and :func:`render_columns`.

Everything listed in ``__all__`` is imported from here
(``from convcli.output import render_table``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .numbers import (
        format_count,
        format_int,
        format_number,
        format_pair,
        format_shape,
        short_count,
    )
    from .serial import to_csv, to_json
    from .streams import color_enabled, is_terminal, stderr_console, stdout_console, table_width
    from .tables import render_columns, render_table
    from .wrapping import column_widths, wrap_cell

#: name -> the module defining it, imported on first use (issue 22: a filter run asks
#: only whether stderr is a terminal, and pays for no table drawing)
_HOMES = {
    **dict.fromkeys(
        ("format_count", "format_int", "format_number", "format_pair", "format_shape"),
        "numbers",
    ),
    "short_count": "numbers",
    "to_csv": "serial",
    "to_json": "serial",
    **dict.fromkeys(
        ("color_enabled", "is_terminal", "stderr_console", "stdout_console", "table_width"),
        "streams",
    ),
    "render_columns": "tables",
    "render_table": "tables",
    "column_widths": "wrapping",
    "wrap_cell": "wrapping",
}

__all__ = [
    "color_enabled",
    "column_widths",
    "format_count",
    "format_int",
    "format_number",
    "format_pair",
    "format_shape",
    "is_terminal",
    "render_columns",
    "render_table",
    "short_count",
    "stderr_console",
    "stdout_console",
    "table_width",
    "to_csv",
    "to_json",
    "wrap_cell",
]


def __getattr__(name: str) -> Any:
    module = _HOMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # __import__, not importlib.import_module: -X importtime logs it (the start-up pins read it)
    value = getattr(__import__(f"{__name__}.{module}", fromlist=[name]), name)
    globals()[name] = value
    return value
