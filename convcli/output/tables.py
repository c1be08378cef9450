"""Tables as text: boxed (:func:`render_table`, drawn by rich or :mod:`.plain`) or bare columns.

rich is imported only when a table needs it (colour, or cells rich must fold).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import Any

from .plain import draw_plain
from .wrapping import (
    NUMBER_CELL,
    cell_text,
    column_widths,
    number_width,
    text_width,
    word_width,
    wrap_cell,
)

__all__ = ["render_columns", "render_table"]


def render_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    title: str | None = None,
    caption: str | None = None,
    right: Iterable[str] = (),
    no_wrap: Iterable[str] = (),
    styles: Sequence[str | None] | None = None,
    width: int = 80,
    color: bool = False,
    show_header: bool = True,
) -> str:
    """Render a table with rich and return it as text; never cut a number.

    Columns are either *whole* or *text*. A whole column is as wide as its
    widest cell and never wraps or shrinks: the columns named in ``right``
    or ``no_wrap``, and any column whose cells are all numbers, shapes or
    dashes. Text columns wrap at spaces and give way, the widest first, when
    the table is wider than ``width``; a word is folded onto the next line
    (never cut with ``…``) only when it is longer than 12 characters and
    the column must be narrower. When even that does not fit, the table is
    wider than ``width``.

    Parameters
    ----------
    headers : sequence of str
        Column titles.
    rows : iterable of sequences of str or rich Text
        The cells, already formatted (plain text: ``[`` is not markup).
    title, caption : str, optional
        Shown above and below the table.
    right : iterable of str
        Headers of the columns to align right (numbers); they are kept whole.
    no_wrap : iterable of str
        Headers of other columns to keep whole, on one line.
    styles : sequence of str or None, optional
        A rich style per row (``"dim"`` for subtotals).
    width : int
        Width to fit in characters; the table is only as wide as it needs.
    color : bool
        Emit ANSI colour and bold codes.
    show_header : bool
        Print the header row (the column titles still name the columns).

    Examples
    --------
    >>> text = render_table(["n", "out"], [["224", "55"]], right=["out"])
    >>> "224" in text and "55" in text
    True
    >>> wide = render_table(["n"], [["123,456,789,012"]], width=10)
    >>> "123,456,789,012" in wide and "…" not in wide
    True
    """
    right = set(right)
    keep = set(no_wrap) | right
    rows = [list(row) for row in rows]
    plain = [[cell_text(cell) for cell in row] for row in rows]
    columns = list(zip(*plain, strict=True)) if plain else [() for _ in headers]
    natural, floor, whole = [], [], []
    for header, cells in zip(headers, columns, strict=True):
        head = text_width(header) if show_header else 0
        widest = max([head, *(text_width(c) for c in cells)])
        is_whole = header in keep or all(NUMBER_CELL.fullmatch(c) for c in cells)
        # a text column may be narrower than its longest word (over 12
        # characters), but never than its header's words or a number
        word = max([word_width(header) if show_header else 0, 1])
        longest = max([0, *(word_width(c) for c in cells)])
        number = max([0, *(number_width(c) for c in cells)])
        natural.append(max(widest, 1))
        whole.append(is_whole)
        floor.append(min(max(widest, 1), max(word, number, min(longest, 12))))
    # a rounded table: 2 edges, a rule between columns, 1 space each side of a cell
    extra = 3 * len(headers) + 1
    widths = column_widths(natural, floor, whole, width - extra)
    texts = [
        [
            text if is_whole else wrap_cell(text, size)
            for text, size, is_whole in zip(line, widths, whole, strict=True)
        ]
        for line in plain
    ]
    if not color:
        drawn = draw_plain(headers, texts, widths, right, title, caption, show_header)
        if drawn is not None:
            return drawn

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # Text, not str: a "[" in a title, caption or header is a character, not markup
    table = Table(
        title=Text(title, style="bold") if title is not None else None,
        caption=Text(caption, style="table.caption") if caption is not None else None,
        header_style="bold",
        title_style="bold",
        show_header=show_header,
    )
    for header, size, is_whole in zip(headers, widths, whole, strict=True):
        table.add_column(
            Text(header),
            justify="right" if header in right else "left",
            no_wrap=is_whole,
            overflow="fold",
            width=size,
        )
    for i, (row, wrapped) in enumerate(zip(rows, texts, strict=True)):
        # text cells are wrapped above, so that rich never has to break a word itself
        line = [
            Text(text) if isinstance(cell, str) else Text(text, style=cell.style)
            for cell, text in zip(row, wrapped, strict=True)
        ]
        style = styles[i] if styles is not None and i < len(styles) else None
        table.add_row(*line, style=style)
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=max(width, sum(widths) + extra),
        force_terminal=color,
        no_color=not color,
        color_system="standard" if color else None,
        highlight=False,
        soft_wrap=False,
    )
    console.print(table)
    return buffer.getvalue()


def render_columns(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    title: str | None = None,
    caption: str | None = None,
    right: Iterable[str] = (),
    gap: int = 2,
) -> str:
    """Render a table without a box: columns ``gap`` spaces apart, one line per row.

    For a terminal too narrow for :func:`render_table`'s box: nothing is
    wrapped, the caller has made every cell short enough. The header is
    underlined; the title and the caption are left as given.

    Examples
    --------
    >>> print(render_columns(["#", "out"], [["1", "55"], ["12", "7"]], right=["out"]), end="")
    #   out
    ──  ───
    1    55
    12    7
    """
    from rich.cells import cell_len

    right = set(right)
    widths = [
        max([cell_len(header), *(cell_len(row[i]) for row in rows)])
        for i, header in enumerate(headers)
    ]

    def line(cells: Sequence[str]) -> str:
        parts = []
        for cell, size, header in zip(cells, widths, headers, strict=True):
            pad = " " * (size - cell_len(cell))
            parts.append(pad + cell if header in right else cell + pad)
        return (" " * gap).join(parts).rstrip()

    lines = [title] if title else []
    lines += [line(headers), (" " * gap).join("─" * size for size in widths)]
    lines += [line(row) for row in rows]
    if caption:
        lines.append(caption)
    return "\n".join(lines) + "\n"
