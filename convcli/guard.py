"""The files a run reads, which no output of the same run may replace (pure Python).

Every reader of a file (images, kernel files, matrices for ``conv`` and
``learn``) calls :func:`note_input`; every writer
(:func:`convcli.images.atomic.atomic_write`) calls :func:`check_output`
before it writes. A file is known by its device and inode, so ``./in.png``,
a symlink to it and a hard link to it are all the same input.

Recording happens only inside :func:`guarding`, which the command line
enters for each run: a Python program that reads a file and then
deliberately writes over it with the library keeps that freedom.

Examples
--------
>>> import os, pathlib, tempfile
>>> from convcli.errors import ConvcliError
>>> folder = tempfile.mkdtemp()
>>> src = os.path.join(folder, "k.txt")
>>> _ = pathlib.Path(src).write_text("1 2")
>>> with guarding():
...     note_input(src)
...     try:
...         check_output(os.path.join(folder, ".", "k.txt"))
...     except ConvcliError as exc:
...         print(str(exc).endswith("convcli never overwrites an input"))
True
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from .errors import ConvcliError

__all__ = ["STDIN_NAME", "check_output", "guarding", "note_input"]

#: (st_dev, st_ino) -> the path it was read as; None when not guarding
_inputs: dict[tuple[int, int], str] | None = None


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino)


@contextlib.contextmanager
def guarding() -> Iterator[None]:
    """Record the inputs read inside the block, and protect them from writes.

    Nested blocks share the outer record.
    """
    global _inputs
    if _inputs is not None:
        yield
        return
    _inputs = {}
    try:
        yield
    finally:
        _inputs = None


#: how an input read as ``-`` is named: the file redirected to standard input
STDIN_NAME = "the file on standard input"


def _stdin_identity() -> tuple[int, int] | None:
    """(st_dev, st_ino) of a regular file redirected to standard input, else None."""
    import stat
    import sys

    try:
        st = os.fstat(sys.stdin.fileno())
    except (AttributeError, OSError, ValueError):  # closed, or not a real file (tests)
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISREG(st.st_mode) else None


def note_input(path: str | os.PathLike | None) -> None:
    """Remember that ``path`` is an input of this run (no-op outside :func:`guarding`).

    ``"-"`` is standard input: a regular file redirected to it (``< in.png``)
    is remembered as :data:`STDIN_NAME`; a pipe or terminal is nothing to
    protect. ``None`` and files that do not exist are ignored.
    """
    if _inputs is None or path is None:
        return
    name = os.fspath(path)
    if isinstance(name, bytes):
        return
    if name == "-":
        key, name = _stdin_identity(), STDIN_NAME
    else:
        key = _identity(name)
    if key is not None:
        _inputs.setdefault(key, name)


def check_output(path: str | os.PathLike, error: type[ConvcliError] = ConvcliError) -> None:
    """Raise ``error`` when ``path`` is (the same file as) an input of this run."""
    if not _inputs:
        return
    name = os.fspath(path)
    if isinstance(name, bytes) or name == "-":
        return
    key = _identity(name)
    if key is not None and key in _inputs:
        source = _inputs[key]
        what = (
            source
            if source == STDIN_NAME
            else "the input"
            if source == name
            else f"the input {source}"
        )
        raise error(f"{name}: is {what}; convcli never overwrites an input")
