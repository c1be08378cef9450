"""Every file a run reads is protected like the image input; special targets are never replaced.

Covers :mod:`convcli.guard` and the non-regular-target path of
:func:`convcli.images.atomic.atomic_write`, through the command line.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from helpers import run

from convcli.errors import ConvcliError
from convcli.guard import check_output, guarding, note_input
from convcli.images.atomic import atomic_write


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder (the working directory) with a small image, kernel files and matrices."""
    rng = np.random.default_rng(5)
    PIL.Image.fromarray(rng.integers(0, 256, (12, 16), dtype=np.uint8)).save(tmp_path / "in.png")
    np.save(tmp_path / "k.npy", np.ones((3, 3)) / 9)
    (tmp_path / "k.txt").write_text("0 1 0\n1 -4 1\n0 1 0\n")
    (tmp_path / "m.txt").write_text("1 2 3; 4 5 6; 7 8 9")
    (tmp_path / "kk.txt").write_text("1 0; 0 -1")
    (tmp_path / "x.txt").write_text("1 1 0 0 0 0 1 1; 1 1 0 0 0 0 1 1")
    (tmp_path / "y.txt").write_text("0 1 0 0 0 -1 0; 0 1 0 0 0 -1 0")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _kernel_links(folder: Path) -> None:
    os.symlink("k.npy", folder / "link.npy")
    os.link(folder / "k.npy", folder / "hard.npy")


@pytest.mark.parametrize(
    ("args", "victim"),
    [
        (["filter", "in.png", "-k", "k.npy", "-o", "k.npy", "--overwrite"], "k.npy"),
        (["filter", "in.png", "-k", "k.npy", "-o", "./k.npy", "--overwrite"], "k.npy"),
        (["filter", "in.png", "-k", "link.npy", "-o", "k.npy", "--overwrite"], "k.npy"),
        (["filter", "in.png", "-k", "k.npy", "-o", "hard.npy", "--overwrite"], "k.npy"),
        (
            [
                "filter",
                "k.png",
                "in.png",
                "-k",
                "k.npy",
                "--out-dir",
                ".",
                "-f",
                "npy",
                "--overwrite",
            ],
            "k.npy",
        ),
        (["gallery", "in.png", "-k", "k.npy", "-o", "k.npy", "--overwrite"], "k.npy"),
        (["kernels", "show", "k.txt", "-o", "k.txt", "--overwrite"], "k.txt"),
        (["kernels", "show", "k.npy", "-o", "./hard.npy", "--overwrite"], "k.npy"),
        (["conv", "--input", "m.txt", "--kernel", "kk.txt", "-o", "m.txt", "--overwrite"], "m.txt"),
        (
            ["conv", "--input", "m.txt", "--kernel", "kk.txt", "-o", "kk.txt", "--overwrite"],
            "kk.txt",
        ),
        (["learn", "x.txt", "y.txt", "--size", "1x2", "-o", "y.txt", "--overwrite"], "y.txt"),
        (["learn", "x.txt", "y.txt", "--size", "1x2", "-o", "./x.txt", "--overwrite"], "x.txt"),
    ],
)
def test_no_input_is_overwritten(folder, args, victim):
    _kernel_links(folder)
    os.link(folder / "in.png", folder / "k.png")
    before = {p.name: digest(p) for p in folder.iterdir() if p.is_file()}
    result = run(*args)
    assert result.exit_code == 1, result.output
    assert "never overwrites an input" in result.output
    assert "Traceback" not in result.output
    assert {name: digest(folder / name) for name in before} == before
    assert not list(folder.glob(".*.part"))
    assert (folder / victim).exists()


def test_a_batch_never_writes_over_a_later_input(folder):
    # in.png is written to in_out.png ... whose own source is the second file
    PIL.Image.fromarray(np.zeros((4, 4), np.uint8)).save(folder / "b.png")
    before = digest(folder / "b.png")
    result = run("filter", "in.png", "b.png", "-k", "box:3", "--out-dir", ".", "--format", "png")
    # in.png -> ./in.png and b.png -> ./b.png are each their own input: both refused
    assert result.exit_code == 1
    assert digest(folder / "b.png") == before


def test_the_library_outside_the_command_line_may_write_over_what_it_read(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("old")
    note_input(path)  # not guarding: nothing is recorded
    atomic_write(path, lambda fh: fh.write(b"new"), overwrite=True)
    assert path.read_text() == "new"


def test_guarding_knows_a_file_by_its_inode_not_its_name(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("x")
    os.link(path, tmp_path / "b.txt")
    with guarding():
        note_input(path)
        with pytest.raises(ConvcliError, match=r"is the input .*a\.txt"):
            check_output(tmp_path / "b.txt")
        check_output(tmp_path / "c.txt")  # does not exist: fine
    check_output(tmp_path / "b.txt")  # the run is over


def test_a_device_is_written_in_place_never_replaced(folder):
    os.symlink("/dev/null", folder / "null.png")
    result = run("filter", "in.png", "-k", "sobel", "-o", "null.png", "--overwrite")
    assert result.exit_code == 0, result.output
    assert os.path.islink(folder / "null.png")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert not list(folder.glob(".*.part"))


def test_a_device_still_needs_overwrite(folder):
    os.symlink("/dev/null", folder / "null.png")
    result = run("filter", "in.png", "-k", "sobel", "-o", "null.png")
    assert result.exit_code == 1
    assert "exists; pass --overwrite" in result.output


def test_a_fifo_is_written_to_and_stays_a_fifo(folder):
    fifo = folder / "pipe.npy"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = run("filter", "in.png", "-k", "box:3", "-o", "pipe.npy", "--overwrite")
    reader.join(10)
    assert result.exit_code == 0, result.output
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    written = np.load(__import__("io").BytesIO(got[0]))
    assert written.shape == (12, 16)


def test_a_write_error_names_the_output(folder):
    os.symlink("/dev/full", folder / "full.npy")
    result = run("filter", "in.png", "-k", "box:3", "-o", "full.npy", "--overwrite")
    assert result.exit_code == 1
    line = result.output.strip().splitlines()[-1]
    assert "full.npy" in line and "in.png" not in line
    assert "No space left" in line
