"""Every example a command's ``--help`` shows runs as printed, in a scratch folder.

The lines under each help's ``Example:`` heading are read from the help Click prints
(so what a user sees is what runs), continuation lines joined, and run in order in one
scratch folder per command, as a person at a terminal types them: the installed command
under a pseudo-terminal, or, for a line with a pipe or a redirection, under bash with
stdout a pipe, as :mod:`test_doc_examples` runs the docs. The folder holds a copy of ``sample_images/`` and
``kernels/`` and the stand-in inputs the examples name (``photo.png``, ``x.npy``, ...).
Each line must exit 0, every image it writes (``-o FILE`` or ``> FILE``) must decode
as the format its name says, and a ``# writes FILE`` comment must come true.
"""

from __future__ import annotations

import itertools
import re
import shlex
import shutil
from pathlib import Path

import click
import numpy as np
import PIL.Image
import pytest
from helpers import run, run_shell
from terminal import run_in_pty

from convcli.cli import cli

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
#: Pillow's format name for each image suffix an example may write
FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".gif": "GIF", ".webp": "WEBP"}


def _commands() -> list[list[str]]:
    """Every command and subcommand, as the words that name it (``["kernels", "show"]``)."""
    ctx = click.Context(cli)
    found: list[list[str]] = []
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        found.append([name])
        if isinstance(command, click.Group):
            sub = click.Context(command, parent=ctx)
            found += [[name, s] for s in command.list_commands(sub)]
    return found


def help_examples(words: list[str]) -> list[str]:
    """The example lines of ``convcli WORDS --help``, continuation lines joined."""
    result = run(*words, "--help", terminal_width=200, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    heading = next(i for i, line in enumerate(lines) if line.strip() == "Example:")
    examples: list[str] = []
    pending = ""
    for line in lines[heading + 1 :]:
        if not line.strip():
            break
        pending += line.strip()
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip() + " "
            continue
        examples.append(pending)
        pending = ""
    return examples


COMMANDS = _commands()
EXAMPLES = [(words, line) for words in COMMANDS for line in help_examples(words)]


def _stand_ins(folder: Path) -> None:
    """The inputs the examples name, each a small real file of its kind."""
    shutil.copytree(ROOT / "sample_images", folder / "sample_images")
    shutil.copytree(ROOT / "kernels", folder / "kernels")
    shutil.copy(ROOT / "sample_images" / "camera.png", folder / "photo.png")
    shutil.copy(ROOT / "sample_images" / "rocket.jpg", folder / "photo.jpg")
    shutil.copy(ROOT / "sample_images" / "rocket.jpg", folder / "a.jpg")
    (folder / "photos").mkdir()
    for name in ("coins.png", "horse.png"):
        shutil.copy(ROOT / "sample_images" / name, folder / "photos" / name)
    rng = np.random.default_rng(23)
    np.save(folder / "x.npy", rng.random((8, 8)))
    np.save(folder / "activations.npy", rng.random((2, 3, 8, 8)).astype(np.float32))
    # the textbook's edge example: Y is X correlated with [[1, -1]] (valid)
    x = np.ones((6, 8))
    x[:, 2:6] = 0
    np.savetxt(folder / "x.txt", x, fmt="%g")
    np.savetxt(folder / "y.txt", x[:, :-1] - x[:, 1:], fmt="%g")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """One scratch folder per command (its examples run in order in it)."""
    made: dict[str, Path] = {}

    def get(words: list[str]) -> Path:
        key = "-".join(words)
        if key not in made:
            made[key] = tmp_path_factory.mktemp(key)
            _stand_ins(made[key])
        return made[key]

    return get


def _written_images(line: str) -> list[str]:
    """The image files a line writes: each ``-o FILE``/``--output FILE`` and ``> FILE``."""
    words = shlex.split(line, comments=True)
    names = [b for a, b in itertools.pairwise(words) if a in ("-o", "--output", ">")]
    names += re.findall(r">\s*(\S+)", line.split("#")[0])
    return sorted({n for n in names if Path(n).suffix.lower() in FORMATS})


@pytest.mark.parametrize(
    ("words", "line"), EXAMPLES, ids=[f"{' '.join(w)}: {line}" for w, line in EXAMPLES]
)
def test_help_example_runs(words, line, folders):
    """The example exits 0 with no traceback, and the images it writes are what their
    names say (a PNG written into ``sheet.jpg`` fails here)."""
    folder = folders(words)
    if re.search(r"[|<>]", line.split("#")[0]):
        result = run_shell(line, folder)
        code, said = result.returncode, result.stdout + result.stderr
    else:  # at a terminal, where output without -o goes beside the input
        code, said = run_in_pty(shlex.split(line, comments=True)[1:], folder, timeout=300)
    assert code == 0 and "Traceback" not in said, f"$ {line}\n{said}"
    for name in _written_images(line):
        with PIL.Image.open(folder / name) as im:
            assert im.format == FORMATS[Path(name).suffix.lower()], f"$ {line}: {name}"
    promised = re.search(r"#\s*writes (\S+)", line)
    if promised:
        assert (folder / promised.group(1)).is_file(), f"$ {line}: no {promised.group(1)}"


def test_every_command_shows_examples():
    """Every command and subcommand has examples, so the test above sees them all."""
    names = {" ".join(words) for words in COMMANDS}
    assert {"filter", "pool", "shape", "conv", "learn", "kernels", "kernels show"} <= names
    assert {"gallery", "animate"} <= names
    for words in COMMANDS:
        assert help_examples(words), f"convcli {' '.join(words)} --help shows no example"


def test_written_images_are_found():
    """The check on written files sees ``-o``, ``--output`` and redirections."""
    assert _written_images("convcli gallery photo.jpg > sheet.jpg") == ["sheet.jpg"]
    assert _written_images("convcli f a.png -o b.png   # c.gif") == ["b.png"]
    assert _written_images("convcli f a.png -o x.npy") == []
