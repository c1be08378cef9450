"""Writing files without ever leaving a partial one behind (pure Python).

Every file convcli writes, images and matrices alike, goes through
:func:`atomic_write`: the content is written to a temporary file in the
target's directory, which is renamed into place only once it is complete.
A folder (a ``.zarr``) goes through :func:`atomic_folder` the same way.

Temporary paths are always absolute (a Dask worker resolves a relative path
in its own working directory, not ours), and what is written gets the
permissions of the user's umask: the process's own, or the one
:func:`using_umask` sets for this thread (a cluster worker writing for a
client whose umask differs from the worker's).
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import os
import stat
import sys
from collections.abc import Callable, Iterator
from typing import BinaryIO

from ..errors import ConvcliError
from ..guard import check_output, note_input
from ..output import is_terminal

__all__ = [
    "apply_umask",
    "atomic_folder",
    "atomic_write",
    "check_stdin_data",
    "current_umask",
    "read_stdin",
    "refuse_terminal_stdout",
    "stdin_is_terminal",
    "stdout_error",
    "stdout_is_terminal",
    "using_umask",
    "write_bytes",
    "write_stdout",
]

#: The umask :func:`using_umask` set for this thread or task (None: the process's).
_UMASK: contextvars.ContextVar[int | None] = contextvars.ContextVar("convcli_umask", default=None)


def current_umask() -> int:
    """Return the umask new files get here: the one :func:`using_umask` set, else the process's.

    Examples
    --------
    >>> with using_umask(0o027):
    ...     oct(current_umask())
    '0o27'
    """
    mask = _UMASK.get()
    if mask is not None:
        return mask
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def using_umask(mask: int | None) -> Iterator[None]:
    """Give what is written inside the block the permissions of ``mask`` (None: no change).

    Unlike :func:`os.umask` this holds for the current thread (context) only,
    so a Dask worker can write one client's files with that client's umask
    while other tasks run beside it.
    """
    if mask is None:
        yield
        return
    token = _UMASK.set(mask & 0o777)
    try:
        yield
    finally:
        _UMASK.reset(token)


def apply_umask(top: str | os.PathLike, mask: int | None = None) -> None:
    """Give a folder and everything in it the usual modes: 0o777 / 0o666 minus ``mask``.

    ``mask`` defaults to :func:`current_umask`. Files that cannot be changed
    (another user's) are left as they are.
    """
    mask = current_umask() if mask is None else mask
    folder_mode, file_mode = 0o777 & ~mask, 0o666 & ~mask
    top = os.fspath(top)
    with contextlib.suppress(OSError):
        os.chmod(top, folder_mode)
    for root, dirs, files in os.walk(top):
        for name in dirs:
            with contextlib.suppress(OSError):
                os.chmod(os.path.join(root, name), folder_mode)
        for name in files:
            with contextlib.suppress(OSError):
                os.chmod(os.path.join(root, name), file_mode)


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
        fd, tmp = _create_part(os.path.abspath(directory), _part_prefix(path))
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


def _create_part(directory: str, prefix: str) -> tuple[int, str]:
    """Create ``<directory>/<prefix>XXXXXXXX.part`` exclusively (mode 0600); (fd, absolute path).

    What ``tempfile.mkstemp`` does, without importing tempfile (with shutil
    and random, a few milliseconds of every small ``filter`` run).
    """
    directory = os.path.abspath(directory)
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    flags |= getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = os.path.join(directory, f"{prefix}{os.urandom(4).hex()}.part")
        try:
            return os.open(tmp, flags, 0o600), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {directory!r}")


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
    """Return whether ``path`` exists (after symlinks) and is not a regular file."""
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
    """Return a new file's mode (0o666 minus :func:`current_umask`), or the existing file's."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        pass
    return 0o666 & ~current_umask()


@contextlib.contextmanager
def atomic_folder(
    target: str | os.PathLike,
    *,
    overwrite: bool = False,
    error: type[ConvcliError] = ConvcliError,
) -> Iterator[str]:
    """Yield an empty temporary folder beside ``target``, renamed to it when the block succeeds.

    Parameters
    ----------
    target : str or path-like
        The folder to create (a ``.zarr``).
    overwrite : bool, optional
        Replace an existing ``target``, only once the new folder is complete.
    error : ConvcliError subclass, optional
        Raised for an existing target without ``overwrite`` or a missing directory.

    Yields
    ------
    str
        The temporary folder's absolute path, ``DIR/.NAME.XXXXXXXX.part``, on
        the target's filesystem, so that processes with another working
        directory (cluster workers) write to the same place.

    Notes
    -----
    The folder and everything in it get the modes of :func:`current_umask`
    when the block ends (whoever wrote them, and with whatever umask). On any
    exception, ``KeyboardInterrupt`` included, the temporary folder is
    removed and ``target`` is untouched.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = tempfile.mkdtemp()
    >>> with atomic_folder(f"{d}/out.zarr") as tmp:
    ...     _ = pathlib.Path(tmp, "zarr.json").write_text("{}")
    >>> sorted(os.listdir(d))
    ['out.zarr']
    """
    target = os.fspath(target).rstrip("/\\")
    if os.path.lexists(target) and not overwrite:
        raise error(f"{target} exists; pass --overwrite to replace it")
    check_output(target, error)
    directory = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(directory):
        shown = os.path.dirname(target) or "."
        raise error(f"{target}: directory {shown!r} does not exist")
    import shutil  # here, not at import: a small filter needs neither (issue 22)
    import tempfile

    try:
        tmp = tempfile.mkdtemp(dir=directory, prefix=_part_prefix(target), suffix=".part")
    except OSError as exc:
        reason = "permission denied" if isinstance(exc, PermissionError) else exc.strerror or exc
        raise error(f"{target}: cannot write in directory {directory!r} ({reason})") from None
    final = os.path.join(directory, os.path.basename(target))
    try:
        yield tmp
        apply_umask(tmp)
        if os.path.lexists(final):
            old = tmp + ".old"
            os.rename(final, old)
            os.rename(tmp, final)
            if os.path.isdir(old) and not os.path.islink(old):
                shutil.rmtree(old, ignore_errors=True)
            else:  # a file (or link) the folder replaced: rmtree would leave it behind
                with contextlib.suppress(OSError):
                    os.unlink(old)
        else:
            os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def refuse_terminal_stdout(what: str = "image data", error: type[Exception] = ConvcliError) -> None:
    """Raise ``error`` when standard output is a terminal: bytes never spray over a screen.

    The one wording of that refusal, for every writer of binary data to ``-``.
    """
    if stdout_is_terminal():
        raise error(f"refusing to write {what} to a terminal; redirect stdout or use -o FILE")


def stdout_is_terminal() -> bool:
    """Return whether standard output is a terminal (where binary data must not go).

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
        if binary:
            refuse_terminal_stdout(what)
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
    """Return the error for a write to standard output that failed with ``exc``, naming the output.

    Examples
    --------
    >>> import errno
    >>> str(stdout_error(OSError(errno.ENOSPC, "No space left on device")))
    '<stdout>: cannot write standard output: No space left on device'
    """
    return ConvcliError(f"<stdout>: cannot write standard output: {exc.strerror or exc}")


def stdin_is_terminal() -> bool:
    """Return whether standard input is a terminal (where binary data cannot come from).

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
