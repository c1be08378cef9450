"""What every part of ``convcli shape`` shares: the terminal width, messages, small texts.

Pure Python; rich is imported only when a table is printed.
"""

from __future__ import annotations

import sys

import click

from ...errors import ShapeError

__all__ = ["TwoAxes", "echo_table", "fail", "pad_text", "plural", "warn", "width"]

Pair = tuple[int, int]


class TwoAxes(tuple):
    """An (H, W) input size given as HxW: ``--quiet`` prints both output sizes."""


def fail(exc: ShapeError, prefix: str = "") -> click.UsageError:
    return click.UsageError(f"{prefix}{exc}")


def width() -> int:
    """The terminal's (or ``COLUMNS``') width; 80 when stdout is not a terminal."""
    from ...output import table_width

    return table_width(sys.stdout)


def echo_table(text: str) -> None:
    click.echo(text, nl=False)


def warn(message: str) -> None:
    from ...output import color_enabled

    if color_enabled(sys.stderr):
        click.secho(f"Warning: {message}", fg="yellow", err=True)
    else:
        click.echo(f"Warning: {message}", err=True)


def pad_text(pads: Pair) -> str:
    return f"{pads[0]}+{pads[1]}"


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"
