"""Rendering of results: rich tables, JSON and CSV from rows and headers.

Pure functions that return strings, so they are testable without Click and
without a terminal. rich is imported only inside :func:`render_table`, so
the JSON, CSV and quiet paths never load it; json and csv, likewise, are
imported only by the function that writes them.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any

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
    "table_width",
    "to_csv",
    "to_json",
    "wrap_cell",
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
    >>> format_count(-2 * 10**400)[:8], len(format_count(10**400))
    ('-2000000', 394)

    Integers of any size: the hundredths are rounded in integer arithmetic
    (a float cannot hold 10**400).
    """
    for unit, scale in (("T", 10**12), ("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if abs(value) >= scale:
            hundredths = (abs(int(value)) * 100 + scale // 2) // scale
            whole, cents = divmod(hundredths, 100)
            return f"{'-' if value < 0 else ''}{whole}.{cents:02d} {unit}"
    return str(value)


def short_count(value: int) -> str:
    """A count in at most five characters, three significant digits: k, M, G, T.

    For narrow tables (the full number is in ``--json`` and ``--csv``).

    Examples
    --------
    >>> [short_count(v) for v in (156, 9408, 215808, 118013952, 4089184256)]
    ['156', '9.41k', '216k', '118M', '4.09G']
    >>> short_count(999_999)
    '1.00M'
    """
    units = ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "k"))
    if abs(value) < 1000:
        return str(value)
    sign = "-" if value < 0 else ""
    value = abs(int(value))
    for index, (scale, unit) in enumerate(units):
        if value < scale:
            continue
        digits = max(0, 3 - len(str(value // scale)))  # 9.41k, 21.6k, 216k
        rounded = (value * 10**digits + scale // 2) // scale
        if rounded >= 1000 and digits:  # 9,995 rounds to 10.00k: 10.0k
            digits -= 1
            rounded = (value * 10**digits + scale // 2) // scale
        elif rounded >= 1000 and index > 0:  # 999,500 rounds to 1000k: 1.00M
            scale, unit = units[index - 1]
            rounded, digits = (value * 100 + scale // 2) // scale, 2
        whole, frac = divmod(rounded, 10**digits)
        return f"{sign}{whole}.{frac:0{digits}d}{unit}" if digits else f"{sign}{whole}{unit}"
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


def format_number(value: float, paren: bool = False) -> str:
    """Write a number as a person does: ``3``, ``0.5``, and ``(-1)`` inside a product.

    Whole numbers without a point, others to 6 significant digits; ``-0``
    is ``0``. With ``paren``, a negative number is put in parentheses.

    Examples
    --------
    >>> format_number(3.0), format_number(0.5), format_number(-1, paren=True)
    ('3', '0.5', '(-1)')
    >>> format_number(1 / 3), format_number(-0.0)
    ('0.333333', '0')
    """
    v = float(value)
    text = str(int(v)) if v.is_integer() and abs(v) < 2**53 else f"{v:.6g}"
    if text == "-0":
        text = "0"
    return f"({text})" if paren and text.startswith("-") else text


def is_terminal(stream: Any) -> bool:
    """True when ``stream`` is an open terminal: the one check convcli makes.

    False for pipes, files, closed streams and objects without ``isatty``
    (a test's stand-in). Binary output refuses a terminal stdout, progress
    bars need a terminal stderr, colour and table width follow it.

    Examples
    --------
    >>> import io
    >>> is_terminal(io.StringIO()), is_terminal(None)
    (False, False)
    """
    isatty = getattr(stream, "isatty", None)
    if isatty is None:
        return False
    try:
        return bool(isatty())
    except (ValueError, OSError):  # a closed or detached stream
        return False


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
    return is_terminal(stream)


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


# a cell that is one number, shape or dash: "1,505,290", "(75,008)", "64×55×55", "1.79e-08"
_NUMBER_CELL = re.compile(r"[\d.,:+\-−×x·()%eE—–]*\d[\d.,:+\-−×x·()%eE—–]*|[—–-]?")
# a number inside text, never split across lines: "1.0", "3·224·224", "−1", "2.5e-05"
_NUMBER = re.compile(r"[-−]?\d+(?:[.,×x·:]\d+)*(?:e[-+−]?\d+)?")


def table_width(stream: IO[Any] | None = None) -> int:
    """The width to render a table for ``stream`` (standard output by default).

    ``COLUMNS`` when it is set to a positive number, else the terminal's width
    when ``stream`` is a terminal, else 80 (as rich does for a pipe).

    Examples
    --------
    >>> import io, os
    >>> saved = os.environ.pop("COLUMNS", None)
    >>> table_width(io.StringIO())
    80
    >>> if saved is not None:
    ...     os.environ["COLUMNS"] = saved
    """
    import sys

    columns = os.environ.get("COLUMNS", "")
    if columns.strip().isdigit() and int(columns) > 0:
        return int(columns)
    stream = sys.stdout if stream is None else stream
    if is_terminal(stream):
        try:
            return os.get_terminal_size(stream.fileno()).columns or 80
        except (AttributeError, OSError, ValueError):
            pass
    return 80


def _plain(cell: Any) -> str:
    """The text of a cell: a str, or a rich ``Text`` (its ``plain``)."""
    return cell if isinstance(cell, str) else str(getattr(cell, "plain", cell))


def _text_width(text: str) -> int:
    from rich.cells import cell_len

    return max((cell_len(line) for line in text.split("\n")), default=0)


def _word_width(text: str) -> int:
    from rich.cells import cell_len

    return max((cell_len(word) for word in text.split()), default=0)


#: pieces of a word that end at a natural break: after , ; : [ ( or =
_PARTS = re.compile(r"[^,;:\[(=]+[,;:\[(=]?|[,;:\[(=]")


def _atoms(word: str) -> list[str]:
    """Split a word where it may break: numbers whole, other characters one by one."""
    atoms: list[str] = []
    at = 0
    for match in _NUMBER.finditer(word):
        atoms.extend(word[at : match.start()])
        atoms.append(match.group())
        at = match.end()
    atoms.extend(word[at:])
    return atoms


def _number_width(text: str) -> int:
    """The width of the longest number in ``text``."""
    from rich.cells import cell_len

    return max((cell_len(m.group()) for m in _NUMBER.finditer(text)), default=0)


def stdout_console(**options: Any) -> Any:
    """A rich Console on standard output (``options`` as rich's) for a command's data.

    rich answers a closed pipe (``| head -n 1``) by exiting with status 1
    and no message; this console raises the BrokenPipeError instead, so the
    command line ends as every other command does (141, quietly).
    """
    import sys

    from rich.console import Console

    class _PipeConsole(Console):
        def on_broken_pipe(self) -> None:
            raise BrokenPipeError(32, "Broken pipe")

    return _PipeConsole(file=sys.stdout, **options)


def stderr_console() -> Any:
    """The rich Console convcli draws progress and status on: stderr, NO_COLOR honoured.

    rich is imported here, on first use: only a command that draws needs it.
    """
    from rich.console import Console

    return Console(stderr=True, no_color=bool(os.environ.get("NO_COLOR")) or None)


def wrap_cell(text: str, width: int) -> str:
    """Wrap ``text`` to ``width`` at spaces, breaking a longer word but never a number.

    Continuation lines keep the first line's indentation.

    Examples
    --------
    >>> print(wrap_cell("  conv 256 k1 s1 p0 nobias", 14))
      conv 256 k1
      s1 p0 nobias
    >>> print(wrap_cell("unsharp[:amount=1.0,size=auto]", 17))
    unsharp[:amount=
    1.0,size=auto]
    >>> print(wrap_cell("gaussian[:size=auto,sigma=auto]", 24))
    gaussian[:size=auto,
    sigma=auto]
    """
    from rich.cells import cell_len

    lines_out: list[str] = []
    for line in text.split("\n"):
        body = line.lstrip(" ")
        indent = line[: len(line) - len(body)]
        if len(indent) >= width:
            indent = ""
        room = max(width - cell_len(indent), 1)
        current = ""
        done: list[str] = []
        for word in body.split():
            gap = " " if current else ""
            if cell_len(current + gap + word) <= room:
                current += gap + word
                continue
            if current:
                done.append(current)
                current = ""
            if cell_len(word) <= room:
                current = word
                continue
            # a long word breaks after its punctuation first (a parameter list stays
            # readable: "size=auto," / "sigma=auto]"), inside a part only if it must
            for part in _PARTS.findall(word):
                if cell_len(current + part) <= room:
                    current += part
                    continue
                if current:
                    done.append(current)
                    current = ""
                if cell_len(part) <= room:
                    current = part
                    continue
                for atom in _atoms(part):
                    if current and cell_len(current + atom) > room:
                        done.append(current)
                        current = ""
                    current += atom
        done.append(current)
        lines_out.extend(indent + part for part in done)
    return "\n".join(lines_out)


def column_widths(
    natural: Sequence[int], floor: Sequence[int], whole: Sequence[bool], available: int
) -> list[int]:
    """Share ``available`` characters among columns without cutting a whole one.

    Whole columns (numbers, shapes) keep their natural width. The others
    (text, which wraps) give way, the widest first, down to their floor; if
    that is still too wide the result is wider than ``available``.

    Examples
    --------
    >>> column_widths([5, 40, 30], [5, 10, 10], [True, False, False], 50)
    [5, 23, 22]
    >>> column_widths([5, 40], [5, 10], [True, False], 10)
    [5, 10]
    """
    widths = list(natural)
    text = [i for i, w in enumerate(whole) if not w]
    room = available - sum(natural[i] for i, w in enumerate(whole) if w)
    if not text or sum(natural[i] for i in text) <= room:
        return widths

    # the highest level L such that sum(max(floor, min(natural, L))) fits
    def total(level: int) -> int:
        return sum(max(floor[i], min(natural[i], level)) for i in text)

    level = max(natural[i] for i in text)
    while level > 0 and total(level) > room:
        level -= 1
    for i in text:
        widths[i] = max(floor[i], min(natural[i], level))
    spare = room - sum(widths[i] for i in text)
    for i in text:
        if spare <= 0:
            break
        if widths[i] == level and natural[i] > level:
            widths[i] += 1
            spare -= 1
    return widths


def _draw_plain(
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
    >>> print(_draw_plain(["n", "out"], [["224", "55"]], [3, 3], ["out"]), end="")
    ┏━━━━━┳━━━━━┓
    ┃ n   ┃ out ┃
    ┡━━━━━╇━━━━━┩
    │ 224 │  55 │
    └─────┴─────┘
    >>> _draw_plain(["n"], [["a" + chr(9) + "b"]], [3]) is None  # a tab: rich expands it
    True
    """
    from rich.cells import cell_len  # small: not rich's console

    to_right = [header in set(right) for header in headers]
    total = sum(widths) + 3 * len(widths) + 1

    def fits(text: str, size: int) -> bool:
        return all(line.isprintable() and cell_len(line) <= size for line in text.split("\n"))

    def draw_row(cells: Sequence[str], edge: str) -> list[str]:
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

    def centred(text: str) -> str | None:
        """The title or caption centred, wrapped at spaces as rich wraps it."""
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

    if not headers:
        return None
    if show_header and not all(
        "\n" not in h and fits(h, size) for h, size in zip(headers, widths, strict=True)
    ):
        return None
    if not all(fits(c, size) for row in rows for c, size in zip(row, widths, strict=True)):
        return None
    above = centred(title) if title else ""
    below = centred(caption) if caption else ""
    if above is None or below is None:
        return None
    lines = [above] if above else []
    if show_header:
        lines.append("┏" + "┳".join("━" * (size + 2) for size in widths) + "┓")
        lines.extend(draw_row(headers, "┃"))
        lines.append("┡" + "╇".join("━" * (size + 2) for size in widths) + "┩")
    else:
        lines.append("┌" + "┬".join("─" * (size + 2) for size in widths) + "┐")
    for row in rows:
        lines.extend(draw_row(row, "│"))
    lines.append("└" + "┴".join("─" * (size + 2) for size in widths) + "┘")
    if below:
        lines.append(below)
    return "\n".join(lines) + "\n"


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
    plain = [[_plain(cell) for cell in row] for row in rows]
    columns = list(zip(*plain, strict=True)) if plain else [() for _ in headers]
    natural, floor, whole = [], [], []
    for header, cells in zip(headers, columns, strict=True):
        head = _text_width(header) if show_header else 0
        widest = max([head, *(_text_width(c) for c in cells)])
        is_whole = header in keep or all(_NUMBER_CELL.fullmatch(c) for c in cells)
        # a text column may be narrower than its longest word (over 12
        # characters), but never than its header's words or a number
        word = max([_word_width(header) if show_header else 0, 1])
        longest = max([0, *(_word_width(c) for c in cells)])
        number = max([0, *(_number_width(c) for c in cells)])
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
        drawn = _draw_plain(headers, texts, widths, right, title, caption, show_header)
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
