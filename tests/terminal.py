"""Run the installed ``convcli`` under a pseudo-terminal, as a person would.

CliRunner never has a terminal, so anything that depends on one (table
widths, colours, progress bars, what happens with no ``-o``) is tested by
running the real command with a pty as its stdin, stdout and stderr.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Mapping, Sequence

__all__ = ["convcli_path", "run_in_pty", "strip_ansi"]

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


def strip_ansi(text: str) -> str:
    """Remove ANSI escape sequences (colours, cursor moves, hyperlinks)."""
    return _ANSI.sub("", text)


def convcli_path() -> str:
    """The ``convcli`` script installed next to the running Python, else on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "convcli")
    if os.path.exists(beside):
        return beside
    found = shutil.which("convcli")
    if found is None:
        raise FileNotFoundError("convcli is not installed (pip install -e .)")
    return found


def run_in_pty(
    args: Sequence[str],
    cwd: str | os.PathLike[str],
    cols: int = 80,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
    input: str | bytes | None = None,
) -> tuple[int, str]:
    """Run ``convcli ARGS`` with a pseudo-terminal of ``cols`` columns.

    Parameters
    ----------
    args : sequence of str
        The arguments after ``convcli`` (a leading ``"convcli"`` is accepted
        and replaced by the installed script).
    cwd : path
        Working directory.
    cols : int
        Terminal width, set with TIOCSWINSZ; ``COLUMNS`` and ``LINES`` are
        removed from the environment so the program must ask the terminal.
    env : mapping, optional
        Extra environment variables (added to a copy of ``os.environ``).
    timeout : float
        Seconds before the process is killed and ``TimeoutError`` raised.
    input : str or bytes, optional
        Typed into the terminal after start (followed by end-of-file).

    Returns
    -------
    (int, str)
        The exit code and everything written to the terminal, with ``\\r\\n``
        made ``\\n`` and ANSI escape sequences removed.
    """
    argv = list(args)
    if argv and os.path.basename(argv[0]) == "convcli":
        argv = argv[1:]
    full_env = dict(os.environ)
    for name in ("COLUMNS", "LINES"):
        full_env.pop(name, None)
    full_env["TERM"] = full_env.get("TERM") or "xterm-256color"
    if full_env["TERM"] == "dumb":
        full_env["TERM"] = "xterm-256color"
    if env:
        full_env.update(env)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, cols, 0, 0))
    proc = subprocess.Popen(
        [convcli_path(), *argv],
        cwd=os.fspath(cwd),
        env=full_env,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        close_fds=True,
    )
    os.close(slave)
    if input is not None:
        data = input.encode("utf-8") if isinstance(input, str) else input
        os.write(master, data + b"\x04")
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                proc.kill()
                proc.wait()
                raise TimeoutError(f"convcli {' '.join(argv)} ran over {timeout} s")
            ready, _, _ = select.select([master], [], [], min(remaining, 0.5))
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            elif proc.poll() is not None:
                # exited; drain what is left without blocking
                while select.select([master], [], [], 0.05)[0]:
                    try:
                        chunk = os.read(master, 65536)
                    except OSError:
                        break
                    if not chunk:
                        break
                    chunks.append(chunk)
                break
    finally:
        os.close(master)
    code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    text = b"".join(chunks).decode("utf-8", errors="replace").replace("\r\n", "\n")
    return code, strip_ansi(text)
