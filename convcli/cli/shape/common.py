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
    """Turn a ShapeError into a usage error (exit 2), its message after ``prefix``."""
    return click.UsageError(f"{prefix}{exc}")


def width() -> int:
    """Return the terminal's (or ``COLUMNS``') width; 80 when stdout is not a terminal."""
    from ...output import table_width

    return table_width(sys.stdout)


def echo_table(text: str) -> None:
    """Print a rendered table as it is (it ends with its own new line)."""
    click.echo(text, nl=False)


def warn(message: str) -> None:
    """Print ``Warning: message`` on stderr, yellow on a colour terminal."""
    from ...output import color_enabled

    if color_enabled(sys.stderr):
        click.secho(f"Warning: {message}", fg="yellow", err=True)
    else:
        click.echo(f"Warning: {message}", err=True)


def pad_text(pads: Pair) -> str:
    """Write a (before, after) padding as ``1+2``."""
    return f"{pads[0]}+{pads[1]}"


def plural(count: int, word: str) -> str:
    """Write ``1 row`` or ``3 rows``."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"
