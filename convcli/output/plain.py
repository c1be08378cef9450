"""A table drawn without rich, exactly as rich draws it, for pipes and files (no colour).

Importing rich's console and table is about a third of ``convcli shape``'s
start-up; a table without styles is only box characters and padded text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

__all__ = ["draw_plain"]


def draw_plain(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    widths: Sequence[int],
    right: Iterable[str] = (),
    title: str | None = None,
    caption: str | None = None,
    show_header: bool = True,
) -> str | None:
    """Draw a table without colour as rich draws it, or None when rich is needed.

    For a pipe or a file (no colour, so no styles) a table is only box
    characters and padded text, and importing rich's console and table for
    it is about a third of ``convcli shape``'s start-up. This draws what
    rich draws for :func:`render_table`'s table: rich's ``HEAVY_HEAD`` box
    (a light one without a header row), one space each side of a cell,
    cells at the top of their row, numbers right-aligned, title and caption
    centred and wrapped at spaces; tests/test_plain_table.py checks it
    against rich itself. When rich would do more (fold a line wider than
    its column or a title's word wider than the table, strip a title's
    spaces, expand a tab, pass on a control character), it returns None
    and rich draws the table.

    Examples
    --------
    >>> print(draw_plain(["n", "out"], [["224", "55"]], [3, 3], ["out"]), end="")
    ┏━━━━━┳━━━━━┓
    ┃ n   ┃ out ┃
    ┡━━━━━╇━━━━━┩
    │ 224 │  55 │
    └─────┴─────┘
    >>> draw_plain(["n"], [["a" + chr(9) + "b"]], [3]) is None  # a tab: rich expands it
    True
    """
    to_right = [header in set(right) for header in headers]
    total = sum(widths) + 3 * len(widths) + 1
    if not headers or not _cells_fit(headers, rows, widths, show_header):
        return None
    above = _centred(title, total) if title else ""
    below = _centred(caption, total) if caption else ""
    if above is None or below is None:
        return None
    lines = [above] if above else []
    if show_header:
        lines.append("┏" + "┳".join("━" * (size + 2) for size in widths) + "┓")
        lines.extend(_draw_row(headers, "┃", widths, to_right))
        lines.append("┡" + "╇".join("━" * (size + 2) for size in widths) + "┩")
    else:
        lines.append("┌" + "┬".join("─" * (size + 2) for size in widths) + "┐")
    for row in rows:
        lines.extend(_draw_row(row, "│", widths, to_right))
    lines.append("└" + "┴".join("─" * (size + 2) for size in widths) + "┘")
    if below:
        lines.append(below)
    return "\n".join(lines) + "\n"


def _fits(text: str, size: int) -> bool:
    """Tell whether every line of ``text`` is printable and at most ``size`` wide."""
    from rich.cells import cell_len  # small: not rich's console

    return all(line.isprintable() and cell_len(line) <= size for line in text.split("\n"))


def _cells_fit(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    widths: Sequence[int],
    show_header: bool,
) -> bool:
    """Tell whether every header (one line) and cell fits its column as it is."""
    if show_header and not all(
        "\n" not in h and _fits(h, size) for h, size in zip(headers, widths, strict=True)
    ):
        return False
    return all(_fits(c, size) for row in rows for c, size in zip(row, widths, strict=True))


def _draw_row(
    cells: Sequence[str], edge: str, widths: Sequence[int], to_right: Sequence[bool]
) -> list[str]:
    """Draw one row's lines: cells padded to their widths, at the top of the row."""
    from rich.cells import cell_len

    split = [cell.split("\n") for cell in cells]
    out = []
    for k in range(max(len(lines) for lines in split)):
        parts = []
        for lines, size, rightward in zip(split, widths, to_right, strict=True):
            text = lines[k] if k < len(lines) else ""
            if rightward:
                text = text.rstrip()  # as rich's right justification does
            pad = " " * (size - cell_len(text))
            parts.append(f" {pad}{text} " if rightward else f" {text}{pad} ")
        out.append(edge + edge.join(parts) + edge)
    return out


def _centred(text: str, total: int) -> str | None:
    """Centre a title or caption on ``total`` columns, wrapped at spaces as rich wraps it."""
    from rich.cells import cell_len

    if not text.isprintable() or text != text.strip():
        return None
    lines, offset = [""], 0
    for match in re.finditer(r"\s*\S+\s*", text):
        word = match.group()
        length = cell_len(word.rstrip())
        if length > total:
            return None  # rich would fold the word
        if total - offset >= length:
            lines[-1] += word
            offset += cell_len(word)
        else:
            lines.append(word)
            offset = cell_len(word)
    out = []
    for line in lines:
        line = line.rstrip()
        room = total - cell_len(line)
        out.append(" " * (room // 2) + line + " " * (room - room // 2))
    return "\n".join(out)
