"""Writing files without ever leaving a partial one behind (pure Python).

Every file convcli writes, images and matrices alike, goes through
:func:`atomic_write`: the content is written to a temporary file in the
target's directory, which is renamed into place only once it is complete.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import sys
import tempfile
from collections.abc import Callable
from typing import BinaryIO

from ..errors import ConvcliError
from ..guard import check_output, note_input
from ..output import is_terminal

__all__ = [
    "atomic_write",
    "check_stdin_data",
    "read_stdin",
    "stdin_is_terminal",
    "stdout_error",
    "stdout_is_terminal",
    "write_bytes",
    "write_stdout",
]


def atomic_write(
    path: str | os.PathLike,
    write: Callable[[BinaryIO], object],
    *,
    overwrite: bool = False,
    error: type[ConvcliError] = ConvcliError,
) -> None:
    """Call ``write(fh)`` on a temporary file, then move it to ``path``.

    Parameters
    ----------
    path : str or path-like
        The target file.
    write : callable
        Writes the whole content to the binary file object it is given.
    overwrite : bool, optional
        Replace an existing file; without it an existing file (even one that
        appears while writing) is an error and stays untouched.
    error : ConvcliError subclass, optional
        The exception raised for an existing target or a bad directory.

    Notes
    -----
    On any exception, ``KeyboardInterrupt`` included, the temporary file is
    removed. A new file gets mode 0o666 minus the umask; a replaced file
    keeps its mode.

    A target that is an input of the run (:mod:`convcli.guard`) is refused.
    A target that exists and is not a regular file (a device such as
    ``/dev/null``, a FIFO, or a symlink to one) is never replaced: with
    ``overwrite`` it is opened and written in place, as ``cat > NODE`` would.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise error(f"{path}: is a directory")
    check_output(path, error)
    if os.path.lexists(path) and not overwrite:
        raise error(f"{path} exists; pass --overwrite to replace it")
    if _is_special(path):
        _write_in_place(path, write, error)
        return
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        raise error(f"{path}: directory {directory!r} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=_part_prefix(path), suffix=".part")
    except OSError as exc:
        reason = "permission denied" if isinstance(exc, PermissionError) else exc.strerror or exc
        raise error(f"{path}: cannot write in directory {directory!r} ({reason})") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.chmod(tmp, _new_file_mode(path))
        if overwrite:
            os.replace(tmp, path)
        else:
            _link_without_replacing(tmp, path, error)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):  # a full disk, a quota: name the output
            raise error(f"{path}: cannot write ({exc.strerror or exc})") from None
        raise


def _part_prefix(path: str) -> str:
    return f".{os.path.basename(path)}."


def remove_leftovers(path: str | os.PathLike) -> list[str]:
    """Remove the temporary files an interrupted write to ``path`` left beside it.

    A process killed outright (SIGKILL, the OOM killer) cannot clean up after
    itself; whoever ran it can: the temporaries are ``.NAME.XXXXXXXX.part``
    in the target's directory. Returns the paths removed.
    """
    import glob

    path = os.fspath(path)
    pattern = os.path.join(
        glob.escape(os.path.dirname(path) or "."), glob.escape(_part_prefix(path)) + "*.part"
    )
    removed = []
    for leftover in glob.glob(pattern):  # the pattern starts with ".": hidden files match
        with contextlib.suppress(OSError):
            os.unlink(leftover)
            removed.append(leftover)
    return removed


def _is_special(path: str) -> bool:
    """True when ``path`` exists (after symlinks) and is not a regular file."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode)


def _write_in_place(
    path: str, write: Callable[[BinaryIO], object], error: type[ConvcliError]
) -> None:
    """Open a device or FIFO and write to it (there is nothing to rename over).

    The content is made in memory first: writers may seek, and a FIFO cannot.
    """
    buffer = io.BytesIO()
    write(buffer)
    try:
        fh = open(path, "wb")  # closed below, where write errors are named
    except OSError as exc:
        raise error(f"{path}: cannot open for writing ({exc.strerror or exc})") from None
    try:
        with fh:
            fh.write(buffer.getbuffer())
    except OSError as exc:
        raise error(f"{path}: cannot write ({exc.strerror or exc})") from None


def _link_without_replacing(tmp: str, path: str, error: type[ConvcliError]) -> None:
    """Move ``tmp`` to ``path``, failing if ``path`` appeared in the meantime."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise error(f"{path} exists; pass --overwrite to replace it") from None
    except OSError:  # no hard links on this file system: accept the tiny race
        if os.path.lexists(path):
            raise error(f"{path} exists; pass --overwrite to replace it") from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def _new_file_mode(path: str) -> int:
    """The mode a new file gets (0o666 minus the umask), or the existing file's."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        pass
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def stdout_is_terminal() -> bool:
    """True when standard output is a terminal (where binary data must not go).

    :func:`convcli.output.is_terminal` of ``sys.stdout``, looked up at call time.
    """
    return is_terminal(sys.stdout)


def write_bytes(
    target: str | os.PathLike | None,
    data: bytes,
    *,
    overwrite: bool = False,
    binary: bool = True,
    what: str = "binary data",
) -> None:
    """Write ``data`` to a file atomically, or to standard output for ``None``/``"-"``.

    With ``binary``, standard output that is a terminal is refused, so that
    bytes never spray over a person's screen.
    """
    if target is None or os.fspath(target) == "-":
        if binary and stdout_is_terminal():
            raise ConvcliError(f"refusing to write {what} to a terminal; use -o FILE or a pipe")
        write_stdout(data)
        return
    atomic_write(target, lambda fh: fh.write(data), overwrite=overwrite)


def write_stdout(data: bytes | bytearray | memoryview, stream: BinaryIO | None = None) -> None:
    """Write all of ``data`` to standard output (or ``stream``), or fail.

    A buffered write to a pipe whose reader has gone can stop part-way and
    report success; here every byte is accounted for, so a reader that goes
    away (``| head -c 10``) is a :class:`BrokenPipeError`, never a truncated
    output with exit status 0. A closed standard output (``>&-``) is a
    :class:`ConvcliError`.

    Examples
    --------
    >>> import io
    >>> out = io.BytesIO()
    >>> write_stdout(b"abc", out)
    >>> out.getvalue()
    b'abc'
    """
    if stream is None:
        if sys.stdout is None:
            raise ConvcliError("standard output is closed; give -o FILE")
        stream = sys.stdout.buffer
    view = memoryview(data).cast("B")
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (tests, a BytesIO)
        fd = None
    try:
        if fd is None:
            while view:
                written = stream.write(view)
                if not written:
                    raise BrokenPipeError("standard output took no more data")
                view = view[written:]
            stream.flush()
            return
        stream.flush()
        while view:
            view = view[os.write(fd, view) :]
    except BrokenPipeError:
        raise  # the reader went away: the command line exits 141, quietly
    except OSError as exc:  # a full disk behind `> file`, /dev/full, an I/O error
        raise stdout_error(exc) from None


def stdout_error(exc: OSError) -> ConvcliError:
    """The error for a write to standard output that failed with ``exc``: it names the output.

    Examples
    --------
    >>> import errno
    >>> str(stdout_error(OSError(errno.ENOSPC, "No space left on device")))
    '<stdout>: cannot write standard output: No space left on device'
    """
    return ConvcliError(f"<stdout>: cannot write standard output: {exc.strerror or exc}")


def stdin_is_terminal() -> bool:
    """True when standard input is a terminal (where binary data cannot come from).

    :func:`convcli.output.is_terminal` of ``sys.stdin``, looked up at call time.
    """
    return is_terminal(sys.stdin)


def check_stdin_data(
    what: str = "image data", error: Callable[[str], Exception] = ConvcliError
) -> None:
    """Raise ``error`` when standard input is a terminal: ``what`` cannot be typed.

    The twin of the refusal to write binary data to a terminal: without it,
    ``convcli filter - -k sobel`` at a prompt waits forever for bytes.
    """
    if stdin_is_terminal():
        raise error(
            f"refusing to read {what} from a terminal; redirect standard input "
            "(< FILE or a pipe) or give a file name instead of -"
        )


def read_stdin(what: str = "standard input", *, binary: bool = False) -> bytes:
    """All of standard input's bytes; a closed standard input (``<&-``) is a ConvcliError.

    With ``binary``, a terminal is refused (:func:`check_stdin_data`). A
    file redirected to standard input is an input of the run
    (:func:`convcli.guard.note_input`), which no output may replace.
    """
    stream = sys.stdin
    if stream is None:
        raise ConvcliError(f"{what}: standard input is closed; give a file name instead of -")
    if binary:
        check_stdin_data()
    note_input("-")
    try:
        return stream.buffer.read()
    except OSError as exc:  # EBADF: closed after Python started
        raise ConvcliError(f"{what}: cannot read standard input ({exc.strerror or exc})") from None
