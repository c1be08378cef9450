"""``conv --steps`` marks padding: every window shows its k×k taps.

Oracles: the window's taps listed by hand from the geometry (top-left at
(r·s, q·s) in the padded grid, k×k of them, a tap in the padding when it
lies outside the input's rows/columns), and PyTorch's ceil-mode rule for
where a pooling window stops (n = 5, k = 2, s = 2, pad 1 → 3 windows).
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from terminal import run_piped

from convcli.teaching.steps import conv_steps, pool_steps

X3 = "1 2 3; 4 5 6; 7 8 9"


def _window(r, q, k, s, dilation=1):
    return {(r * s + i * dilation, q * s + j * dilation) for i in range(k) for j in range(k)}


def _in_input(cell, pad, n):
    return pad <= cell[0] < pad + n and pad <= cell[1] < pad + n


@pytest.mark.parametrize(("k", "s", "p", "d"), [(3, 1, 1, 1), (3, 2, 2, 1), (2, 1, 1, 2)])
def test_conv_steps_name_the_taps_in_the_padding(k, s, p, d):
    """cells is the whole window; padding its taps outside the input, as counted by hand."""
    x = np.arange(1.0, 17.0).reshape(1, 4, 4)
    w = np.ones((1, 1, k, k))
    _, steps = conv_steps(x, w, stride=s, padding=p, dilation=d)
    for step in steps:
        _, r, q = step.index
        expected = _window(r, q, k, s, d)
        assert {(a, b) for _, a, b in step.cells} == expected
        assert {(a, b) for _, a, b in step.padding} == {
            cell for cell in expected if not _in_input(cell, p, 4)
        }


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pool_steps_window_is_cells_plus_padding(mode):
    """A 3×3 pool with padding 1: cells are the real taps, cells + padding all nine."""
    x = np.arange(1.0, 10.0).reshape(1, 3, 3)
    _, steps = pool_steps(x, 3, stride=1, padding=1, mode=mode)
    assert len(steps) == 9
    for step in steps:
        _, r, q = step.index
        window = _window(r, q, 3, 1)
        real = {cell for cell in window if _in_input(cell, 1, 3)}
        assert {(a, b) for _, a, b in step.cells} == real
        assert {(a, b) for _, a, b in step.padding} == window - real
        assert len(step.cells) + len(step.padding) == 9


def test_pool_ceil_mode_window_clipped_to_the_padded_input():
    """n 5, k 2, s 2, pad 1, ceil: 3 windows; the last covers padded columns 4, 5 only."""
    x = np.arange(25.0).reshape(1, 5, 5)
    padded, steps = pool_steps(x, 2, stride=2, padding=1, ceil_mode=True)
    assert padded.shape == (1, 7, 7)
    last = steps[-1]
    assert last.index == (0, 2, 2)
    window = {(a, b) for _, a, b in last.cells + last.padding}
    assert window == {(4, 4), (4, 5), (5, 4), (5, 5)}


def _grids(stdout: str) -> list[list[str]]:
    """The grids printed before each ``Y[...]`` line, as lists of rows."""
    grids, rows = [], []
    for line in stdout.splitlines():
        if line.startswith("Y["):
            grids.append(rows)
            rows = []
        elif line.strip() and re.fullmatch(r"[\s\[\]{}·\d.\-]+", line):
            rows.append(line)
    return grids


def _run(args, cwd):
    code, out, err = run_piped(args, cwd, env={"NO_COLOR": "1"})
    return code, out.decode("utf-8"), err


def _taps(grid: list[str]) -> int:
    return sum(row.count("[") + row.count("{") for row in grid)


def test_installed_pool_steps_show_three_by_three_over_padding(tmp_path):
    """convcli conv --pool max --size 3 --padding 1 --steps: every window shows 9 taps."""
    pool = ["--pool", "max", "--size", "3", "--stride", "1", "--padding", "1"]
    code, out, err = _run(["conv", "-i", X3, *pool, "--steps", "--max-steps", "9"], tmp_path)
    assert code == 0, err
    grids = _grids(out)
    assert len(grids) == 9
    assert all(_taps(grid) == 9 for grid in grids)
    # the corner window: 5 taps in the padding, drawn as {·}
    assert grids[0][0].split() == ["{·}{·}{·}", "·", "·"]
    assert grids[0][1].split() == ["{·}[1][2]", "3", "·"]
    assert "Y[0,0] = max(1, 2, 4, 5) = 5" in out
    assert "{ } its taps in the padding" in out


def test_installed_conv_steps_mark_zero_and_reflect_padding(tmp_path):
    """A 3×3 convolution over padding 1: 9 taps, padded ones in braces (· for zeros)."""
    args = ["conv", "-i", X3, "-k", "1 0 1; 0 1 0; 1 0 1", "--padding", "1", "--steps"]
    code, out, err = _run(args, tmp_path)
    assert code == 0, err
    grids = _grids(out)
    assert all(_taps(grid) == 9 for grid in grids)
    assert grids[0][1].split() == ["{·}[1][2]", "3", "·"]
    assert "Y[0,0] = 0×1 + 0×0 + 0×1 + 0×0 + 1×1 + 2×0 + 0×1 + 4×0 + 5×1 = 6" in out
    # reflect padding: the padded values are shown, still in braces
    code, out, err = _run([*args, "--pad-mode", "reflect"], tmp_path)
    assert code == 0, err
    first = _grids(out)[0]
    assert first[0].split()[0] == "{5}{4}{5}"
    assert "padding (reflect)" in out
    assert json.loads(out[out.index("[[") :].replace("\n", "")) == [
        [21, 22, 23],
        [24, 25, 26],
        [27, 28, 29],
    ]


def test_no_padding_no_legend(tmp_path):
    """Without padding the display is as before: no braces, no legend."""
    code, out, _ = _run(["conv", "-i", X3, "-k", "1 1; 1 1", "--steps"], tmp_path)
    assert code == 0
    assert "{" not in out and "padding" not in out
