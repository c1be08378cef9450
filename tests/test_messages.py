"""Messages name the right file: the output on a write error, the input on a read error,
the kernel file for kernel errors; a batch says which folder entries it skips."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from click.testing import CliRunner
from helpers import run

from convcli.cli import cli


@pytest.fixture
def folder(tmp_path, monkeypatch):
    rng = np.random.default_rng(4)
    PIL.Image.fromarray(rng.integers(0, 256, (64, 64), dtype=np.uint8)).save(tmp_path / "in.png")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def full_disk(tmp_path):
    """A 64 KiB tmpfs (needs root and mount rights; skipped otherwise)."""
    small = tmp_path / "small"
    small.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here")
    try:
        yield small
    finally:
        subprocess.run(["umount", str(small)], check=False)


@pytest.mark.parametrize("name", ["out.npy", "out.png", "out.tif"])
def test_a_full_disk_names_the_output_and_leaves_nothing(folder, full_disk, name):
    big = np.random.default_rng(0).integers(0, 256, (400, 400, 3), dtype=np.uint8)
    PIL.Image.fromarray(big).save(folder / "big.png")
    target = full_disk / name
    result = run("filter", "big.png", "-k", "box:3", "-o", target)
    assert result.exit_code == 1
    line = result.output.strip().splitlines()[-1]
    assert str(target) in line and "big.png" not in line
    assert os.listdir(full_disk) == []


def test_a_read_error_names_the_input(folder):
    (folder / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    result = run("filter", "bad.png", "-k", "box:3", "-o", "o.png")
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].startswith("Error: bad.png:")


def test_a_kernel_error_names_the_kernel_file(folder):
    (folder / "k.txt").write_text("1 2\n3\n")
    result = run("filter", "in.png", "-k", "k.txt", "-o", "o.png")
    assert result.exit_code == 2
    assert "k.txt" in result.output.strip().splitlines()[-1]


def test_a_batch_says_which_entries_it_skips(folder):
    images = folder / "images"
    images.mkdir()
    os.replace(folder / "in.png", images / "a.png")
    os.symlink("gone.png", images / "dangling.png")
    (images / "folder.png").mkdir()
    result = CliRunner().invoke(cli, ["filter", "images", "-k", "box:3", "--out-dir", "out"])
    assert result.exit_code == 0, result.output
    said = result.output
    assert "skipping images/dangling.png: a symlink to gone.png, which does not exist" in said
    assert "skipping images/folder.png: a directory" in said
    assert sorted(p.name for p in Path("out").iterdir()) == ["a.png"]
