"""``convcli conv --steps``: each window printed on its grid, then its arithmetic.

The input is printed with the window's cells in [brackets] and its taps in
the padding in {braces} (in colour on a terminal, through rich; plain text
to a pipe or with ``NO_COLOR``), then the step's line ``Y[i,j] = x×k + ... = y``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from ..teaching.steps import Step

#: A run of text and the rich style it is printed in ("" for none).
Piece = tuple[str, str]
#: ``say(pieces, end)``: prints pieces, then ``end``.
Say = Callable[..., None]
#: ((top, bottom), (left, right)) padding.
PadBox = tuple[tuple[int, int], tuple[int, int]]

__all__ = ["show_steps"]


def _color() -> bool:
    """Tell whether standard output takes colour."""
    from ..output import color_enabled

    return color_enabled(sys.stdout)


def _grid(
    padded: np.ndarray,
    step: Step,
    channel: int,
    marked_style: str,
    pad_box: PadBox,
    dot_padding: bool = False,
) -> list[Piece]:
    """Draw the rows of a grid of one channel, as (text, rich style) pieces.

    The window's input cells are in [brackets], its taps in the padding in
    {braces} (so a window always shows all its k×k taps); padding is shown as
    ``·`` when ``dot_padding`` (zeros).
    """
    import numpy as np

    from ..output import format_number

    plane = padded[channel]
    marks = {(r, c) for ch, r, c in step.cells if ch == channel}
    pad_marks = {(r, c) for ch, r, c in step.padding if ch == channel}
    (top, bottom), (left, right) = pad_box
    h, w = plane.shape

    def in_pad(r: int, c: int) -> bool:
        return r < top or r >= h - bottom or c < left or c >= w - right

    shown = [
        [
            "·" if np.isnan(v) or (dot_padding and in_pad(r, c)) else format_number(v)
            for c, v in enumerate(row)
        ]
        for r, row in enumerate(plane)
    ]
    width = max(len(s) for row in shown for s in row)
    pieces: list[tuple[str, str]] = []
    for r, row in enumerate(shown):
        for c, value in enumerate(row):
            if (r, c) in pad_marks or ((r, c) in marks and in_pad(r, c)):
                pieces.append((f"{{{value:>{width}}}}", marked_style))
            elif (r, c) in marks:
                pieces.append((f"[{value:>{width}}]", marked_style))
            else:
                pieces.append((f" {value:>{width}} ", "dim" if in_pad(r, c) else ""))
        pieces.append(("\n", ""))
    return pieces


def _printer(color: bool) -> Say:
    """``say(pieces, end)``: print (text, style) pieces to standard output.

    With colour (a terminal), through rich; otherwise (a pipe, a file, or
    ``NO_COLOR``) the styles are dropped and the text is written as it is,
    which is what rich writes then, so rich is not imported for it.
    """
    if not color:

        def plain(pieces: Sequence[Piece] = (), end: str = "\n") -> None:
            sys.stdout.write("".join(text for text, _ in pieces) + end)
            sys.stdout.flush()  # in order with click.echo's output, as rich's console is

        return plain

    from rich.text import Text

    from ..output import stdout_console

    console = stdout_console(
        force_terminal=True,
        highlight=False,
        soft_wrap=True,
        width=200,
    )

    def rich_print(pieces: Sequence[Piece] = (), end: str = "\n") -> None:
        text = Text()
        for part, style in pieces:
            text.append(part, style=style)
        console.print(text, end=end)

    return rich_print


def show_steps(
    steps: Sequence[Step],
    padded: np.ndarray,
    pad_box: PadBox,
    max_steps: int,
    channels: bool,
    pad_word: str | None = None,
) -> None:
    """Print each window: the input with the window marked, then the arithmetic.

    ``pad_word`` says what the padding holds: ``"zeros"`` (shown as ``·``,
    worth 0), ``"ignored"`` (pooling: shown as ``·``, never taken), or a pad
    mode whose values are shown.
    """
    say = _printer(_color())
    shown = steps[:max_steps]
    small = padded.shape[-2] * padded.shape[-1] <= 16 * 16
    if small and any(any(side) for side in pad_box):
        legend = {
            "zeros": "· is padding (zeros)",
            "ignored": "· is padding (left out of the window's values)",
        }.get(pad_word or "", f"cells outside the input are padding ({pad_word})")
        say([(f"[ ] marks a window's input cells, {{ }} its taps in the padding; {legend}.", "")])
        say()
    for step in shown:
        if small:
            used = sorted({ch for ch, _, _ in step.cells + step.padding}) or [0]
            for ch in used:
                if padded.shape[0] > 1:
                    say([(f"X channel {ch}:", "dim")])
                say(
                    _grid(
                        padded,
                        step,
                        ch,
                        "bold black on yellow",
                        pad_box,
                        dot_padding=pad_word == "zeros",
                    ),
                    end="",
                )
        say([(step.text(channels), "bold")])
        if small:
            say()
    left = len(steps) - len(shown)
    if left > 0:
        more = (
            f"… {left} more window{'s' * (left != 1)} not shown "
            f"({len(steps)} in all; --max-steps {len(steps)} shows every one)"
        )
        say([(more, "")])
        say()
