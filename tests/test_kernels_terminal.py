"""``convcli kernels`` at a real terminal of 80 and 60 columns: no line wraps, no value is cut.

The installed command runs under a pseudo-terminal (tests/terminal.py) of
the given width, as a person at that terminal runs it. The values a table
must show are computed here with numpy, independently of convcli.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from terminal import run_in_pty, strip_ansi

WIDTHS = [80, 60]


def screen(args: list[str], cols: int, tmp_path) -> list[str]:
    """Run ``convcli *args`` at a terminal of ``cols`` columns; return its lines, uncoloured."""
    code, out = run_in_pty(args, tmp_path, cols=cols)
    assert code == 0, out
    return strip_ansi(out).splitlines()


def boxes(lines: list[str]) -> list[list[list[str]]]:
    """The cells of each boxed table in ``lines`` (a box starts at a ┌ or ┏ line)."""
    found: list[list[list[str]]] = []
    for line in lines:
        stripped = line.strip()
        if stripped[:1] in ("┌", "┏"):
            found.append([])
        elif found and stripped.startswith("│"):
            found[-1].append([c.strip() for c in stripped.strip("│").split("│")])
    return found


@pytest.mark.parametrize("cols", WIDTHS)
def test_the_list_fits_the_terminal(cols, tmp_path):
    """Every line fits; each kernel's size and sum stay whole on its first line."""
    lines = screen(["kernels"], cols, tmp_path)
    assert max(len(line) for line in lines) <= cols, "\n".join(lines)
    (table,) = boxes(lines)
    first = [row for row in table if row[1]]  # a kernel's first line has its size
    named = {row[0].split("[")[0].split()[0]: row for row in first}
    assert named["sobel-x"][1:3] == ["3×3", "0"]
    assert named["box"][1:3] == ["3×3", "1"]
    assert named["gaussian"][1:3] == ["9×9", "1"]  # σ = 1, radius int(4σ + 0.5)
    for row in first:
        assert re.fullmatch(r"\d+×\d+", row[1]), row
        assert re.fullmatch(r"-?\d+(\.\d+)?|—", row[2]), row


@pytest.mark.parametrize("cols", WIDTHS)
def test_a_wide_kernel_is_shown_in_blocks_of_whole_columns(cols, tmp_path):
    """The 9×9 Gaussian (σ = 1) fits in blocks, every value whole and in its place."""
    lines = screen(["kernels", "show", "gaussian"], cols, tmp_path)
    assert max(len(line) for line in lines) <= cols, "\n".join(lines)
    found = boxes(lines)
    assert len(found) > 1  # 9 columns of up to 11 characters need 118 columns in one box
    grid = [[cell for part in parts for cell in part] for parts in zip(*found, strict=True)]
    x = np.arange(-4, 5, dtype=float)
    g = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / 2)
    np.testing.assert_allclose([[float(v) for v in row] for row in grid], g / g.sum(), rtol=5e-3)
    titles = [line.strip() for line in lines if line.strip().startswith("column")]
    assert titles[0].startswith("columns 0–") and titles[-1].endswith("8")


def test_a_small_kernel_is_one_box(tmp_path):
    """A kernel that fits is one box with no column titles, as before."""
    lines = screen(["kernels", "show", "sobel-x"], 60, tmp_path)
    assert boxes(lines) == [[["-1", "0", "1"], ["-2", "0", "2"], ["-1", "0", "1"]]]
    assert not any(line.strip().startswith("column") for line in lines)


def kernel_cells(table: list[list[str]]) -> list[list[str]]:
    """The lines of each kernel's first cell (a kernel's first line has its size)."""
    cells: list[list[str]] = []
    for row in table:
        if row[1]:
            cells.append([])
        if cells and row[0]:
            cells[-1].append(row[0])
    return cells


@pytest.mark.parametrize("cols", WIDTHS)
@pytest.mark.parametrize("how", ["pty", "COLUMNS"])
def test_no_kernel_name_or_parameter_is_broken(cols, how, tmp_path):
    """``log[:size=auto,sigma=auto]`` may wrap after a comma, never inside ``sigma=auto``."""
    import json

    from helpers import run

    listed = json.loads(run("kernels", "--format", "json").output)
    if how == "pty":
        lines = screen(["kernels"], cols, tmp_path)
    else:
        result = run("kernels", env={"COLUMNS": str(cols)})
        lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= cols, "\n".join(lines)
    (table,) = boxes(lines)
    cells = kernel_cells(table)
    assert len(cells) == len(listed)
    for entry, cell in zip(listed, cells, strict=True):
        assert "".join(cell).replace(" ", "").startswith(entry["usage"].replace(" ", ""))
        assert cell[0].startswith(entry["name"]), cell
        for param in re.findall(r"\w+=[^,\]]+", entry["usage"]):
            assert any(param in line for line in cell), (param, cell)
