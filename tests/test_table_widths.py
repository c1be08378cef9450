"""Tables never cut a number: at 80 columns in a terminal, on a pipe, and at COLUMNS=40.

Each command runs as a person runs it: the installed ``convcli`` under a
pseudo-terminal of 80 columns, and with stdout a pipe. The numbers a table
must show are computed here independently (the formulas written out, numpy,
torchvision's published totals), then looked for whole in the cells.
"""

from __future__ import annotations

import math
import os
import re
import subprocess

import numpy as np
from terminal import convcli_path, run_in_pty, strip_ansi


def _piped(args: list[str], columns: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    if columns is not None:
        env["COLUMNS"] = columns
    result = subprocess.run(
        [convcli_path(), *args],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode("utf-8")


WAYS = ["pty-80", "pipe", "pipe-COLUMNS=40"]


def output(args: list[str], way: str, tmp_path) -> str:
    """The command's output in one of the three ways."""
    if way == "pty-80":
        code, screen = run_in_pty(args, tmp_path, cols=80)
        assert code == 0, screen
        return strip_ansi(screen)
    return _piped(args, "40" if way.endswith("40") else None)


def rows_of(text: str) -> list[list[str]]:
    """The table body's lines split into stripped cells (header and rules left out)."""
    return [
        [c.strip() for c in line.strip().strip("│").split("│")]
        for line in text.splitlines()
        if line.lstrip().startswith("│")
    ]


def side_by_side(text: str) -> list[list[str]]:
    """The rows of a table printed in blocks of columns (one box each), joined back."""
    blocks: list[list[list[str]]] = []
    for line in text.splitlines():
        if line.lstrip().startswith("┌"):
            blocks.append([])
        elif blocks and line.lstrip().startswith("│"):
            blocks[-1].append([c.strip() for c in line.strip().strip("│").split("│")])
    return [[cell for part in parts for cell in part] for parts in zip(*blocks, strict=True)]


def assert_nothing_cut(text: str) -> None:
    assert "…" not in text, text


def check_kernels_show_gaussian_values_whole(way, tmp_path):
    text = output(["kernels", "show", "gaussian"], way, tmp_path)
    assert_nothing_cut(text)
    x = np.arange(-4, 5, dtype=float)
    g = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / 2)
    g /= g.sum()
    grid = side_by_side(text)
    assert len(grid) == 9, text
    values = np.array([[float(cell) for cell in row] for row in grid])
    assert values.shape == (9, 9)
    # printed with at least 3 significant digits
    np.testing.assert_allclose(values, g, rtol=5e-3)


def check_shape_pool_ceil_mode_columns_whole(way, tmp_path):
    n, k, s, p = 5, 2, 2, 1
    text = output(
        [
            "shape",
            "--in",
            str(n),
            "--k",
            str(k),
            "--s",
            str(s),
            "--p",
            str(p),
            "--pool",
            "--ceil-mode",
        ],
        way,
        tmp_path,
    )
    assert_nothing_cut(text)
    # PyTorch's ceil mode: ⌈(n + 2p − k)/s⌉ + 1, less one if the last window starts in the padding
    out = math.ceil((n + 2 * p - k) / s) + 1
    if (out - 1) * s >= n + p:
        out -= 1
    assert out == 3
    first = rows_of(text)[0]
    assert first[:6] == ["H, W", str(n), str(k), str(s), f"{p}+{p}", str(2 * p)], text
    assert first[-1] == str(out), text


def _bottleneck_macs(size: int, inplanes: int, width: int) -> int:
    """MACs of torchvision's first Bottleneck (stride 1, with a projection shortcut)."""
    cells = size * size
    return (
        cells * inplanes * width  # 1×1 reduce
        + cells * width * width * 9  # 3×3
        + cells * width * width * 4  # 1×1 expand
        + cells * inplanes * width * 4  # 1×1 projection shortcut
    )


def check_shape_resnet50_numbers_whole(way, tmp_path):
    """Counts whole with separators, or (a table too narrow for them) with k/M/G units;
    a name shortened only after a whole word."""
    text = output(["shape", "--arch", "resnet50"], way, tmp_path)
    block = _bottleneck_macs(56, 64, 64)
    assert block == 231_211_008
    assert "(231,211,008)" in text or "(231M)" in text, text  # 231,211,008 in 3 digits
    assert "25,557,032" in text  # torchvision's resnet50 parameter count
    assert all(cut.startswith(" …") for cut in re.findall(r".…", text)), text
    for group in re.findall(r"\([^()]*\)", text):
        if re.fullmatch(r"\([\d.,]+[kMGT]?\)", group):  # a block's params or MACs
            assert re.fullmatch(r"\((\d{1,3}(,\d{3})*|\d+(\.\d+)?[kMGT])\)", group), group


def check_kernels_list_sizes_whole_and_description_readable(way, tmp_path):
    text = output(["kernels"], way, tmp_path)
    assert_nothing_cut(text)
    header = next(line for line in text.splitlines() if "description" in line)
    description = header.strip().strip("┃").split("┃")[-1]
    if way != "pipe-COLUMNS=40":
        assert len(description) >= 20, header
    kernels = [row for row in rows_of(text) if row[1]]  # a kernel's first line
    named = {row[0].split("[")[0].split()[0]: row for row in kernels}
    # sizes by definition: Sobel 3×3, motion's 9-cell line, Gaussian σ=1 truncated at 4σ
    assert named["sobel-x"][1:3] == ["3×3", "0"]
    assert named["motion"][1:3] == ["1×9", "1"]
    assert named["gaussian"][1:3] == [f"{2 * 4 + 1}×{2 * 4 + 1}", "1"]
    assert len(kernels) >= 20
    for row in kernels:
        assert re.fullmatch(r"\d+×\d+", row[1]), row
        assert re.fullmatch(r"-?\d+(\.\d+)?|—", row[2]), row


def check_shape_parameters_and_solve_numbers_whole(way, tmp_path):
    c, n, k, s, p, f = 3, 224, 11, 4, 2, 64
    text = output(
        [
            "shape",
            "--in",
            str(n),
            "--k",
            str(k),
            "--s",
            str(s),
            "--p",
            str(p),
            "--channels",
            str(c),
            "--filters",
            str(f),
            "--dense",
            "10",
        ],
        way,
        tmp_path,
    )
    assert_nothing_cut(text)
    out = (n - k + 2 * p) // s + 1
    cells = [cell for row in rows_of(text) for cell in row]
    assert str(out) in cells
    assert f"{f * (c * k * k + 1):,}" in cells
    assert f"{out * out * f * c * k * k:,}" in cells
    assert f"{c * n * n * f * out * out + f * out * out:,}" in cells
    assert f"{c * n * n * 10 + 10:,}" in cells
    solved = output(["shape", "--in", "224", "--out", "112", "--k", "3"], way, tmp_path)
    assert_nothing_cut(solved)
    # one problem: "224 → 112, k 3" in the title, the stride and padding columns first
    assert "224 → 112, k 3" in " ".join(solved.split())
    assert ["2", "0:1", "1"] == rows_of(solved)[0][:3]
    several = output(["shape", "--in", "224x222", "--out", "112", "--k", "3"], way, tmp_path)
    assert_nothing_cut(several)
    assert ["H", "224 → 112", "3", "2", "0:1", "1"] == rows_of(several)[0][:6]


# each command in the three ways: a pty of 80 columns, a pipe, a pipe with COLUMNS=40


def test_kernels_show_gaussian_values_whole(tmp_path):
    """Every value of the 9×9 Gaussian (σ = 1) is printed whole, as numpy computes it."""
    for way in WAYS:
        check_kernels_show_gaussian_values_whole(way, tmp_path)


def test_shape_pool_ceil_mode_columns_whole(tmp_path):
    """Every column of the ceil-mode pooling row shows its number, `out` included."""
    for way in WAYS:
        check_shape_pool_ceil_mode_columns_whole(way, tmp_path)


def test_shape_resnet50_numbers_whole(tmp_path):
    """resnet50's table shows the first block's MACs whole, and torchvision's total."""
    for way in WAYS:
        check_shape_resnet50_numbers_whole(way, tmp_path)


def test_kernels_list_sizes_whole_and_description_readable(tmp_path):
    """The kernel list keeps sizes and sums whole and gives the description room."""
    for way in WAYS:
        check_kernels_list_sizes_whole_and_description_readable(way, tmp_path)


def test_shape_parameters_and_solve_numbers_whole(tmp_path):
    """AlexNet's first layer: counts, formulas' numbers and the solved stride stay whole."""
    for way in WAYS:
        check_shape_parameters_and_solve_numbers_whole(way, tmp_path)
