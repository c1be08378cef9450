"""Helpers every test file may share: run a command, decode what it wrote, run a shell line.

``run`` invokes the command in-process through Click's :class:`~click.testing.CliRunner`
(stdout and stderr apart, no terminal); tests that need the installed command, a
pseudo-terminal or real pipes use :mod:`terminal` instead. ``load`` decodes an output
file without convcli, so a test never checks convcli with itself. ``run_shell`` runs
one line of a doc or a ``--help`` example in bash, as a person pastes it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import PIL.Image
from click.testing import CliRunner, Result
from terminal import convcli_executable

from convcli.cli import cli

#: What a run stopped by a signal says last, by exit status: the words shells print
#: (``kill -HUP`` shows "Hangup").
SAID = {130: "Interrupted.", 129: "Hangup.", 143: "Terminated."}


def run(*args: object, **kwargs) -> Result:
    """``convcli ARGS`` in-process; every argument turned into a string (paths welcome).

    Keyword arguments go to :meth:`CliRunner.invoke` (``input``, ``env``, ...).
    """
    return CliRunner().invoke(cli, [str(a) for a in args], **kwargs)


def load(path: str | os.PathLike) -> np.ndarray:
    """Decode an output file without convcli: a ``.npy`` tensor channels first, as
    convcli writes it, is turned back to the image's (H, W, C); an image through Pillow."""
    path = Path(path)
    if path.suffix == ".npy":
        data = np.load(path)
        return data if data.ndim == 2 else np.moveaxis(data, 0, -1)
    with PIL.Image.open(path) as im:
        im.load()
        return np.asarray(im)


def run_shell(code: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """One shell line in bash (``pipefail``) in ``cwd``, with the installed ``convcli``
    first on PATH, stdout a pipe, no colour, and no terminal size or debug setting
    inherited from the test run."""
    dropped = ("COLUMNS", "LINES", "CONVCLI_DEBUG")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env["PATH"] = f"{Path(convcli_executable()).parent}{os.pathsep}{env.get('PATH', '')}"
    env["NO_COLOR"] = "1"
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", code],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
