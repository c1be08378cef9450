"""Where output goes: terminal or not, colour, the width to draw for, rich consoles.

rich is imported only by the console functions, on first use.
"""

from __future__ import annotations

import os
from typing import IO, Any

__all__ = ["color_enabled", "is_terminal", "stderr_console", "stdout_console", "table_width"]


def is_terminal(stream: Any) -> bool:
    """Tell whether ``stream`` is an open terminal: the one check convcli makes.

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
    """Tell whether ``stream`` is a terminal and ``NO_COLOR`` is not set.

    Examples
    --------
    >>> import io
    >>> color_enabled(io.StringIO())
    False
    """
    if os.environ.get("NO_COLOR"):
        return False
    return is_terminal(stream)


def table_width(stream: IO[Any] | None = None) -> int:
    """Return the width to render a table for ``stream`` (standard output by default).

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


def stdout_console(**options: Any) -> Any:
    """Make a rich Console on standard output (``options`` as rich's) for a command's data.

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
    """Make the rich Console convcli draws progress and status on: stderr, NO_COLOR honoured.

    rich is imported here, on first use: only a command that draws needs it.
    """
    from rich.console import Console

    return Console(stderr=True, no_color=bool(os.environ.get("NO_COLOR")) or None)
