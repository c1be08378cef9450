"""``convcli shape`` network tables at 80 and 60 columns never wrap a row (issue 24, Found 4).

Run as a person runs it: the installed command on a pseudo-terminal of that
width (tests/terminal.py). The oracle of the rows is ``--json`` (every row
index, in order, with its full numbers): each must be exactly one line of
the table, and no line may be wider than the terminal.
"""

from __future__ import annotations

import json
import re
import warnings

import pytest
from click.testing import CliRunner
from rich.cells import cell_len
from terminal import run_in_pty, strip_ansi

from convcli.cli import cli

NETWORKS = [
    ["--arch", "resnet18"],
    ["--arch", "resnet50"],
    ["--arch", "resnet50", "--depth", "2"],
    ["--arch", "alexnet"],
    ["--in", "64", "--channels", "8", "--layers", "res(conv 8 k3 p1, relu | conv 8 k1), gap"],
    ["--arch", "unet"],
    ["--arch", "unet-valid"],
    ["--in", "32", "--channels", "8", "--layers", "conv 8 k3 p1, 100000*(conv 8 k3 p1, relu), gap"],
]


def table_indices(text: str) -> list[str]:
    """The first cell of each table row, one per line (a wrapped row shows up as a blank one)."""
    lines = strip_ansi(text).splitlines()
    if any(line.startswith("┏") for line in lines):  # a box: rows start with "│"
        return [line.split("│")[1].strip() for line in lines if line.startswith("│")]
    start = next(i for i, line in enumerate(lines) if line.startswith("#")) + 2
    rows = []
    for line in lines[start:]:
        if line.startswith("Total parameters"):
            break
        rows.append(line.split(" ")[0])
    return rows


def expected(args, cwd) -> list[dict]:
    result = CliRunner().invoke(cli, ["shape", *args, "--json"], catch_exceptions=False)
    return json.loads(result.stdout)["layers"]


@pytest.mark.parametrize("cols", [80, 60])
@pytest.mark.parametrize("args", NETWORKS, ids=lambda a: " ".join(a)[:30])
def test_network_tables_fit_without_wrapping(tmp_path, args, cols):
    """Every row on one line, every line within the terminal, full values still in --json."""
    code, text = run_in_pty(["shape", *args], tmp_path, cols=cols)
    assert code == 0, text
    rows = expected(args, tmp_path)
    assert table_indices(text) == [row["index"] for row in rows]
    too_wide = [line for line in strip_ansi(text).splitlines() if cell_len(line) > cols]
    assert not too_wide
    if any(re.search(r"\d[kMG]\b", line) for line in strip_ansi(text).splitlines()):
        assert "full values: --json, --csv" in strip_ansi(text)
    assert all(isinstance(row["params"], int) for row in rows)


def test_short_names_have_a_legend(tmp_path):
    """A shortened name is listed in the caption with its full form."""
    code, text = run_in_pty(["shape", "--arch", "resnet50"], tmp_path, cols=60)
    plain = strip_ansi(text)
    assert code == 0 and "btl 64" in plain and "btl = bottleneck" in plain
    assert "bottleneck 64" in json.dumps(expected(["--arch", "resnet50"], tmp_path))


def test_a_wide_terminal_keeps_the_full_numbers(tmp_path):
    """At 130 columns nothing is shortened: the full counts, as before."""
    code, text = run_in_pty(["shape", "--arch", "resnet18"], tmp_path, cols=130)
    plain = strip_ansi(text)
    assert code == 0 and "11,689,512" in plain and "9,408" in plain and "short names" not in plain


def test_exported_onnx_model_fits(tmp_path):
    """A model exported by torch (symbolic batch, long op names) fits 80 and 60 columns too."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from torch import nn

    model = nn.Sequential(
        nn.Conv2d(3, 64, 7, 2, 3),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.MaxPool2d(3, 2, 1),
        nn.ConvTranspose2d(64, 32, 2, 2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 1000),
    ).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (torch.rand(1, 3, 224, 224),),
            str(tmp_path / "m.onnx"),
            dynamo=False,
            training=torch.onnx.TrainingMode.TRAINING,
            do_constant_folding=False,
            input_names=["x"],
            dynamic_axes={"x": {0: "batch"}},
        )
    for cols in (80, 60):
        code, text = run_in_pty(["shape", "m.onnx"], tmp_path, cols=cols)
        assert code == 0, text
        rows = expected([str(tmp_path / "m.onnx")], tmp_path)
        assert table_indices(text) == [row["index"] for row in rows]
        assert all(cell_len(line) <= cols for line in strip_ansi(text).splitlines())


#: one layer, --out and --in-range: (arguments, texts that must each be whole on one line)
LAYER_CASES = [
    (
        ["--in", "224", "--k", "11", "--s", "4", "--p", "2"],
        ["⌊(224 − 11 + 4 + 4)/4⌋ = ⌊55.25⌋ = 55"],
    ),
    (
        [
            "--in",
            "224",
            "--k",
            "3",
            "--p",
            "same",
            "--s",
            "2",
            "--channels",
            "64",
            "--filters",
            "128",
        ],
        ["5,156,109,844,480", "924,844,032", "112·112·128·64·3·3", "128·(64·3·3 + 1)"],
    ),
    (["--in", "3000x4000", "--channels", "3", "--dense", "100"], ["3,600,000,100", "+ 100"]),
    (["--in", "224", "--out", "112", "--k", "3"], ["0:1", "⌊112.5⌋"]),
    (["--arch", "unet", "--in-range", "200..1100"], ["multiples of 16", "(56 sizes)", "1088"]),
    (["--arch", "unet-valid", "--in-range", "500..700"], ["n ≡ 12 (mod 16), from 188", "700"]),
]


@pytest.mark.parametrize("cols", [80, 60])
@pytest.mark.parametrize(("args", "whole"), LAYER_CASES, ids=lambda a: " ".join(a)[:30])
def test_layer_solve_and_range_tables_fit(tmp_path, args, whole, cols):
    """No line wider than the terminal, and each formula and number whole on one line."""
    code, text = run_in_pty(["shape", *args], tmp_path, cols=cols)
    assert code == 0, text
    lines = strip_ansi(text).splitlines()
    assert [line for line in lines if cell_len(line) > cols] == []
    for piece in whole:
        assert any(piece in line for line in lines), (piece, text)


#: the check of a solved row: ⌊(n − k + p + s)/s⌋ = ⌊value⌋ = out
_CHECK = re.compile(r"⌊\((\d+) − (\d+) \+ (\d+) \+ (\d+)\)/(\d+)⌋ = ⌊([\d.]+)⌋ = (\d+)")


@pytest.mark.parametrize("cols", [80, 60])
@pytest.mark.parametrize(
    "args",
    [["--in", "224", "--out", "112", "--k", "3"], ["--in", "225", "--out", "112", "--k", "7"]],
)
def test_an_out_check_wraps_before_an_operator(cols, args, tmp_path):
    """``shape --out``'s check column never ends a line with ``=`` and its sums are right."""
    code, out = run_in_pty(["shape", *args], tmp_path, cols=cols)
    assert code == 0, out
    lines = strip_ansi(out).splitlines()
    assert max(cell_len(line) for line in lines) <= cols, out
    checks: list[list[str]] = []
    for line in lines:
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip("│").split("│")]
            if cells[0]:
                checks.append([])
            checks[-1].append(cells[-1])
    assert checks, out
    n = int(args[1])
    for parts in checks:
        assert not any(part.endswith(("=", "+", "−")) for part in parts), parts
        found = _CHECK.fullmatch(" ".join(parts))
        assert found, parts
        size, k, p, s, s2, value, result = found.groups()
        assert (int(size), int(k), int(s)) == (n, int(args[5]), int(s2))
        assert float(value) == (n - int(k) + int(p) + int(s)) / int(s)
        assert int(result) == (n + int(p) - int(k)) // int(s) + 1 == 112
