"""Run the installed ``convcli`` as a person would: at a terminal, or with pipes.

:class:`click.testing.CliRunner` never has a terminal, so whatever depends
on one (the progress bar, what happens without -o, the refusal to write
image bytes to a screen) is tested here through a real pseudo-terminal.
"""

from __future__ import annotations

import contextlib
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
import threading
import time
from pathlib import Path


def convcli_executable() -> str:
    """The installed ``convcli`` script: the one beside this Python, else on PATH."""
    beside = Path(sys.executable).parent / "convcli"
    if beside.exists():
        return str(beside)
    found = shutil.which("convcli")
    if found is None:
        raise RuntimeError("the convcli command is not installed (pip install -e .)")
    return found


#: the other name the table tests use
convcli_path = convcli_executable

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


def strip_ansi(text: str) -> str:
    """Remove ANSI escape sequences (colours, cursor moves, hyperlinks)."""
    return _ANSI.sub("", text)


def _environment(env: dict[str, str] | None) -> dict[str, str]:
    merged = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    merged["TERM"] = "xterm"
    merged.update(env or {})
    return merged


def _feed(stream, data: bytes) -> None:
    with contextlib.suppress(BrokenPipeError):
        stream.write(data)
    with contextlib.suppress(BrokenPipeError):
        stream.close()


def run_in_pty(
    args,
    cwd,
    cols: int = 80,
    env: dict[str, str] | None = None,
    timeout: float = 60,
    input: bytes | None = None,
) -> tuple[int, str]:
    """Run ``convcli *args`` with a pseudo-terminal as stdin, stdout and stderr.

    Parameters
    ----------
    args : sequence
        The arguments after ``convcli`` (converted with ``str``).
    cwd : path
        The directory to run in.
    cols : int
        The terminal's width, set with ``TIOCSWINSZ`` (``COLUMNS`` and
        ``LINES`` are removed from the environment; ``TERM=xterm``).
    env : dict, optional
        Variables added to (or replacing) the current environment.
    timeout : float
        Seconds before the command is killed and ``TimeoutError`` raised.
    input : bytes, optional
        If given, standard input is a pipe holding these bytes instead of the
        terminal (stdout and stderr stay on the terminal).

    Returns
    -------
    (int, str)
        The exit code and everything the terminal received, decoded, with
        ``\\r\\n`` turned into ``\\n`` (escape sequences are kept).
    """
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, cols, 0, 0))
    try:
        proc = subprocess.Popen(
            [convcli_executable(), *map(str, args)],
            cwd=cwd,
            env=_environment(env),
            stdin=slave if input is None else subprocess.PIPE,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
        )
    except BaseException:
        os.close(master)
        os.close(slave)
        raise
    os.close(slave)
    if input is not None:
        threading.Thread(target=_feed, args=(proc.stdin, input), daemon=True).start()
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                proc.kill()
                proc.wait()
                text = b"".join(chunks).decode("utf-8", "replace")
                raise TimeoutError(
                    f"convcli {' '.join(map(str, args))} ran over {timeout} s:\n{text}"
                )
            ready, _, _ = select.select([master], [], [], min(left, 0.5))
            if not ready:
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every process holding the terminal has closed it
                break
            if not data:
                break
            chunks.append(data)
        code = proc.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        os.close(master)
    return code, b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")


def run_piped(
    args,
    cwd,
    env: dict[str, str] | None = None,
    timeout: float = 60,
    input: bytes | None = None,
) -> tuple[int, bytes, str]:
    """Run ``convcli *args`` with stdout and stderr as pipes (stdin: ``input`` or nothing).

    Returns
    -------
    (int, bytes, str)
        The exit code, standard output's bytes and standard error's text.
    """
    done = subprocess.run(
        [convcli_executable(), *map(str, args)],
        cwd=cwd,
        env=_environment(env),
        input=input,
        stdin=subprocess.DEVNULL if input is None else None,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr.decode("utf-8", "replace")


def run_with_terminal_stdin(
    args, cwd, env: dict[str, str] | None = None, timeout: float = 60
) -> tuple[int, bytes, str]:
    """Run ``convcli *args`` with a pseudo-terminal as standard input only.

    As at a prompt where a person typed ``convcli filter - ...`` without
    redirecting standard input; stdout and stderr are pipes. Nothing is typed.

    Returns
    -------
    (int, bytes, str)
        The exit code, standard output's bytes and standard error's text.

    Raises
    ------
    TimeoutError
        If the command is still waiting after ``timeout`` seconds (it is killed).
    """
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [convcli_executable(), *map(str, args)],
            cwd=cwd,
            env=_environment(env),
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    finally:
        os.close(slave)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise TimeoutError(f"convcli {' '.join(map(str, args))} waited over {timeout} s") from None
    finally:
        os.close(master)
    return proc.returncode, out, err.decode("utf-8", "replace")
