"""Fitting a table's cells to a width: wrap text at spaces, never cut a number.

:func:`wrap_cell` wraps one cell, :func:`column_widths` shares the room among
columns; the measuring helpers are shared with :mod:`.tables` and
:mod:`.plain`. rich's ``cell_len`` (small: not its console) measures text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

__all__ = [
    "NUMBER_CELL",
    "cell_text",
    "column_widths",
    "number_width",
    "text_width",
    "word_width",
    "wrap_cell",
]

# a cell that is one number, shape or dash: "1,505,290", "(75,008)", "64×55×55", "1.79e-08"
NUMBER_CELL = re.compile(r"[\d.,:+\-−×x·()%eE—–]*\d[\d.,:+\-−×x·()%eE—–]*|[—–-]?")
# a number inside text, never split across lines: "1.0", "3·224·224", "−1", "2.5e-05"
_NUMBER = re.compile(r"[-−]?\d+(?:[.,×x·:]\d+)*(?:e[-+−]?\d+)?")


def cell_text(cell: Any) -> str:
    """Return the text of a cell: a str, or a rich ``Text`` (its ``plain``)."""
    return cell if isinstance(cell, str) else str(getattr(cell, "plain", cell))


def text_width(text: str) -> int:
    """Return the width of the widest line of ``text``."""
    from rich.cells import cell_len

    return max((cell_len(line) for line in text.split("\n")), default=0)


def word_width(text: str) -> int:
    """Return the width of the widest word of ``text``."""
    from rich.cells import cell_len

    return max((cell_len(word) for word in text.split()), default=0)


#: pieces of a word that end at a natural break: after , ; : [ or ( (a ``key=value``
#: stays whole: ``sigma=`` / ``auto]`` reads as two things)
_PARTS = re.compile(r"[^,;:\[(]+[,;:\[(]?|[,;:\[(]")
#: pieces of a part too long for its line: after = (``amount=`` / ``1.0,``)
_KEY_VALUE = re.compile(r"[^=]+=?|=")


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


def number_width(text: str) -> int:
    """Return the width of the longest number in ``text``."""
    from rich.cells import cell_len

    return max((cell_len(m.group()) for m in _NUMBER.finditer(text)), default=0)


def wrap_cell(text: str, width: int) -> str:
    """Wrap ``text`` to ``width`` at spaces, breaking a longer word but never a number.

    Continuation lines keep the first line's indentation.

    Examples
    --------
    >>> print(wrap_cell("  conv 256 k1 s1 p0 nobias", 14))
      conv 256 k1
      s1 p0 nobias
    >>> print(wrap_cell("unsharp[:amount=1.0,size=auto]", 17))
    unsharp[:
    amount=1.0,
    size=auto]
    >>> print(wrap_cell("log[:size=auto,sigma=auto]", 14))
    log[:
    size=auto,
    sigma=auto]
    >>> print(wrap_cell("gaussian[:size=auto,sigma=auto]", 24))
    gaussian[:size=auto,
    sigma=auto]
    >>> print(wrap_cell("⌊(224 − 3 + 1 + 2)/2⌋ = ⌊112⌋ = 112", 31))
    ⌊(224 − 3 + 1 + 2)/2⌋ = ⌊112⌋
    = 112
    """
    from rich.cells import cell_len

    lines_out: list[str] = []
    for line in text.split("\n"):
        body = line.lstrip(" ")
        indent = line[: len(line) - len(body)]
        if len(indent) >= width:
            indent = ""
        room = max(width - cell_len(indent), 1)
        lines_out.extend(indent + part for part in _wrap_words(body, room))
    return "\n".join(lines_out)


#: words a line does not end with when it can be helped: they go on with what follows
#: (``⌊112⌋`` / ``= 112``, not ``⌊112⌋ =`` / ``112``)
_OPERATORS = frozenset("=+−-×·→")


def _wrap_words(body: str, room: int) -> list[str]:
    """Wrap one line's words to ``room`` columns, breaking only words longer than that.

    An operator that would end a line starts the next one instead, when
    the word after it fits there too.
    """
    from rich.cells import cell_len

    current = ""
    done: list[str] = []
    for word in body.split():
        gap = " " if current else ""
        if cell_len(current + gap + word) <= room:
            current += gap + word
            continue
        head, _, last = current.rpartition(" ")
        if head and last in _OPERATORS and cell_len(f"{last} {word}") <= room:
            done.append(head)
            current = f"{last} {word}"
            continue
        if current:
            done.append(current)
        current = word if cell_len(word) <= room else _break_word(word, room, done)
    done.append(current)
    return done


def _break_word(word: str, room: int, done: list[str]) -> str:
    """Append the full lines of a word too long for ``room`` to ``done``; return the rest.

    The word breaks after its punctuation first (a parameter list stays
    readable: ``size=auto,`` / ``sigma=auto]``, a name whole), after a
    ``=`` only if it must, inside a part only if even that is too long,
    and never inside a number.
    """
    from rich.cells import cell_len

    current = ""
    for part in _PARTS.findall(word):
        pieces = [part] if cell_len(part) <= room else _KEY_VALUE.findall(part)
        for piece in pieces:
            if cell_len(current + piece) <= room:
                current += piece
                continue
            if current:
                done.append(current)
                current = ""
            if cell_len(piece) <= room:
                current = piece
                continue
            for atom in _atoms(piece):
                if current and cell_len(current + atom) > room:
                    done.append(current)
                    current = ""
                current += atom
    return current


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
