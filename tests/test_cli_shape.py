"""Tests of ``convcli shape`` through Click's CliRunner, and its import cost."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from convcli.cli import cli
from convcli.output import color_enabled

ENV = {"COLUMNS": "120", "NO_COLOR": "1"}


def run(*args: str):
    """Invoke ``convcli shape ARGS`` and return the result."""
    return CliRunner().invoke(cli, ["shape", *args], env=ENV)


def ok(*args: str):
    result = run(*args)
    assert result.exit_code == 0, result.output
    return result


def as_json(*args: str):
    result = ok(*args, "--json")
    return json.loads(result.stdout)


def usage_error(*args: str) -> str:
    """Run, check exit code 2 and an empty stdout, and return the error line."""
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


# ---------------------------------------------------------------- one layer ---


def test_alexnet_formula_line():
    """The issue's example prints ⌊(224 − 11 + 4 + 4)/4⌋ = ⌊55.25⌋ = 55 and nothing on stderr."""
    result = ok("--in", "224", "--k", "11", "--s", "4", "--p", "2")
    assert "⌊(224 − 11 + 4 + 4)/4⌋ = ⌊55.25⌋ = 55" in result.stdout
    assert result.stderr == ""


def test_long_option_names():
    """--input/--kernel/--stride/--padding/--dilation are the long forms."""
    result = ok("--input", "224", "--kernel", "11", "--stride", "4", "--padding", "2", "-q")
    assert result.stdout == "55\n"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--in", "8x8", "--k", "3", "--p", "1"], "8x8"),
        (["--in", "8x8", "--k", "5x3", "--p", "2x1"], "8x8"),
        (["--in", "8x8", "--k", "3", "--p", "1", "--s", "2"], "4x4"),
        (["--in", "8x8", "--k", "3x5", "--p", "0x1", "--s", "3x4"], "2x2"),
        (["--in", "8", "--k", "3", "--p", "1", "--s", "2"], "4"),
        (["--in", "8x6", "--k", "3"], "6x4"),
    ],
)
def test_textbook_cases_quiet(args, expected):
    """d2l 7.3's four cases (8×8 → 8, 8, 4, 2) and a non-square one print just the size,
    with as many axes as the input was given with."""
    assert ok(*args, "--quiet").stdout == expected + "\n"


def test_per_axis_json():
    """HxW options give per-axis numbers: 8x8, k5x3, p2x1 pads 2+2 rows, 1+1 columns."""
    (row,) = as_json("--in", "8x8", "--k", "5x3", "--p", "2x1")
    assert (row["kernel_h"], row["kernel_w"]) == (5, 3)
    assert (row["pad_top"], row["pad_bottom"], row["pad_left"], row["pad_right"]) == (2, 2, 1, 1)
    assert (row["out_h"], row["out_w"]) == (8, 8)
    assert row["formula_h"] == "⌊(8 − 5 + 4 + 1)/1⌋ = ⌊8⌋ = 8"
    assert row["formula_w"] == "⌊(8 − 3 + 2 + 1)/1⌋ = ⌊8⌋ = 8"


def test_before_after_padding():
    """--p 0:1 pads one cell after only: 5 with k2 stays 5."""
    (row,) = as_json("--in", "5", "--k", "2", "--p", "0:1")
    assert (row["pad_top"], row["pad_bottom"], row["out_h"]) == (0, 1, 5)


@pytest.mark.parametrize(
    ("word", "pads", "out"),
    [("same", (1, 2), 8), ("valid", (0, 0), 5), ("full", (3, 3), 11)],
)
def test_padding_words(word, pads, out):
    """k=4 on 8: same pads 1+2 (extra after) → 8, valid → 5, full pads 3+3 → 11."""
    (row,) = as_json("--in", "8", "--k", "4", "--p", word)
    assert (row["pad_top"], row["pad_bottom"]) == pads
    assert row["out_h"] == out


def test_same_with_stride_shows_the_split():
    """'same' at stride 4 with k11 on 224 pads 3 before and 4 after, giving 56."""
    result = ok("--in", "224", "--k", "11", "--s", "4", "--p", "same")
    assert "3+4" in result.stdout
    assert "⌊(224 − 11 + 7 + 4)/4⌋ = ⌊56⌋ = 56" in result.stdout


def test_dilation():
    """Dilation 2 turns a 3-tap kernel into a 5-wide span: 7 → 3."""
    result = ok("--in", "7", "--k", "3", "--d", "2")
    assert "⌊(7 − 5 + 0 + 1)/1⌋ = ⌊3⌋ = 3" in result.stdout
    assert "3 (d2 → 5)" in result.stdout


def test_channels_filters_parameters():
    """AlexNet conv1: 64·(3·11·11 + 1) params, 55·55·64·3·121 MACs, and the dense equivalent."""
    (row,) = as_json(
        "--in", "224", "--k", "11", "--s", "4", "--p", "2", "--channels", "3", "--filters", "64"
    )
    assert row["params"] == 64 * (3 * 11 * 11 + 1) == 23_296
    assert row["macs"] == 55 * 55 * 64 * 3 * 11 * 11
    assert row["dense_equivalent_params"] == (3 * 224 * 224) * (64 * 55 * 55) + 64 * 55 * 55
    table = ok(
        "--in", "224", "--k", "11", "--s", "4", "--p", "2", "--channels", "3", "--filters", "64"
    ).stdout
    line = next(line for line in table.splitlines() if "64·(3·11·11 + 1)" in line)
    assert "23,296" in line
    line = next(line for line in table.splitlines() if "saves" in line)
    assert f"{(3 * 224 * 224 * 64 * 55 * 55 + 64 * 55 * 55) / 23_296:,.0f}×" in line


def test_no_bias():
    """--no-bias drops the +1: 64·3·11·11 parameters."""
    args = ["--in", "224", "--k", "11", "--s", "4", "--channels", "3", "--filters", "64"]
    (row,) = as_json(*args, "--no-bias")
    assert row["params"] == 64 * 3 * 121


def test_dense_photo_needs_3_6_billion():
    """d2l: a 12-megapixel RGB photo into 100 units needs 3000·4000·3·100 + 100 parameters."""
    (row,) = as_json("--in", "3000x4000", "--channels", "3", "--dense", "100")
    assert row["dense_params"] == 3000 * 4000 * 3 * 100 + 100 == 3_600_000_100
    table = ok("--in", "3000x4000", "--channels", "3", "--dense", "100").stdout
    assert "3,600,000,100" in table
    assert "3.60 G" in table


def test_transposed_gives_back_the_input():
    """Transposing AlexNet's conv1 (output_padding 1) maps 55 back to 224."""
    args = ["--in", "55", "--k", "11", "--s", "4", "--p", "2", "--transposed"]
    result = ok(*args, "--output-padding", "1")
    assert "(55 − 1)·4 − 4 + (11 − 1) + 1 + 1 = 224" in result.stdout
    assert ok(*args, "-q").stdout == "223\n"


def test_pool_stride_defaults_to_window():
    """--pool with k2 and no --s halves 8 to 4; AlexNet's 3/2 pool turns 55 into 27."""
    assert ok("--in", "8", "--k", "2", "--pool", "-q").stdout == "4\n"
    assert ok("--in", "55", "--k", "3", "--s", "2", "--pool", "-q").stdout == "27\n"


def test_pool_ceil_mode():
    """PyTorch ceil mode: 6, k3, s2 → 3 (floor gives 2); 5, k2, s2, p1 → 3, not 4."""
    assert ok("--in", "6", "--k", "3", "--s", "2", "--pool", "-q").stdout == "2\n"
    assert ok("--in", "6", "--k", "3", "--s", "2", "--pool", "--ceil-mode", "-q").stdout == "3\n"
    result = CliRunner().invoke(
        cli,
        ["shape", "--in", "5", "--k", "2", "--s", "2", "--p", "1", "--pool", "--ceil-mode"],
        env={**ENV, "COLUMNS": "160"},
    )
    assert result.exit_code == 0
    assert "= 4 − 1 = 3 (the last window would start in the padding)" in result.stdout


def test_uncovered_warning():
    """n=5, k=3, s=3 leaves 2 rows and 2 columns unread: a warning on stderr only."""
    result = ok("--in", "5", "--k", "3", "--s", "3")
    assert result.stderr == (
        "Warning: 5×5: no window covers 2 input rows and 2 input columns (kernel 3×3, stride 3×3)\n"
    )
    assert "Warning" not in result.stdout


def test_uncovered_warning_one_axis():
    """On 5x6 with k3 s3 only the rows are left over (6 columns divide evenly)."""
    result = ok("--in", "5x6", "--k", "3", "--s", "3", "-q")
    assert result.stdout == "1x2\n"
    assert "no window covers 2 input rows (" in result.stderr


def test_several_inputs_one_row_each():
    """Three --in give three rows: 32, 64, 128 with k3 s2 p1 → 16, 32, 64."""
    rows = as_json("--in", "32", "--in", "64", "--in", "128", "--k", "3", "--s", "2", "--p", "1")
    assert [(r["in_h"], r["out_h"]) for r in rows] == [(32, 16), (64, 32), (128, 64)]
    assert ok("--in", "32", "--in", "64", "--k", "3", "--s", "2", "--p", "1", "-q").stdout == (
        "16\n32\n"
    )


def test_csv_parses_back():
    """--csv gives a header and one row per input with the same numbers."""
    result = ok("--in", "32", "--in", "64x48", "--k", "3", "--s", "2", "--p", "1", "--csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["in_h"], r["in_w"], r["out_h"], r["out_w"]) for r in rows] == [
        ("32", "32", "16", "16"),
        ("64", "48", "32", "24"),
    ]
    assert rows[0]["formula_h"] == "⌊(32 − 3 + 2 + 2)/2⌋ = ⌊16.5⌋ = 16"
    assert result.stderr == ""


def test_json_is_the_only_output():
    """--json prints nothing but JSON on stdout."""
    result = ok("--in", "224", "--k", "11", "--s", "4", "--p", "2", "--json")
    data = json.loads(result.stdout)
    assert data[0]["out_h"] == 55 and data[0]["layer"] == "conv"
    assert result.stderr == ""


# ------------------------------------------------------------------- solver ---


def test_out_solver():
    """224 → 112 with k3: stride 2 with padding 0:1 ('same') or 1 per side."""
    rows = as_json("--in", "224", "--out", "112", "--k", "3")
    assert [(r["stride"], r["pad_before"], r["pad_after"]) for r in rows] == [(2, 0, 1), (2, 1, 1)]
    assert rows[0]["note"] == "same"
    assert ok("--in", "224", "--out", "112", "--k", "3", "-q").stdout == "2 0:1\n2 1\n"
    table = ok("--in", "224", "--out", "112", "--k", "3").stdout
    assert "⌊(224 − 3 + 2 + 2)/2⌋ = ⌊112.5⌋ = 112" in table


def test_out_solver_with_fixed_stride_csv():
    """With --s 4, 224 → 55 needs 3 to 6 cells of padding with an 11-wide kernel."""
    result = ok("--in", "224", "--out", "55", "--k", "11", "--s", "4", "--csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["total_padding"] for r in rows] == ["3", "4", "5", "6"]


# ----------------------------------------------------------------- networks ---


def test_arch_alexnet_json_total():
    """--arch alexnet --json reports torchvision's 61,100,840 parameters."""
    data = as_json("--arch", "alexnet")
    assert data["total_params"] == 61_100_840
    assert data["input"] == [3, 224, 224]
    assert data["output"] == [1000]
    assert data["layers"][0]["output"] == [64, 55, 55]


@pytest.mark.parametrize(
    ("arch", "total"),
    [("vgg16", "138,357,544"), ("resnet18", "11,689,512"), ("lenet5", "61,706")],
)
def test_arch_table_totals(arch, total):
    """The table's caption shows the preset's parameter total."""
    assert f"Total parameters: {total}" in ok("--arch", arch).stdout


def test_small_total_is_not_repeated():
    """80 parameters read "Total parameters: 80", not "80 (80)"; 61,706 keeps "(61.71 K)"."""
    small = ok("--in", "28", "--channels", "1", "--layers", "conv 8 k3").stdout
    assert "Total parameters: 80  ·" in small and "(80)" not in small
    assert "Total parameters: 61,706 (61.71 K)" in ok("--arch", "lenet5").stdout


def test_arch_quiet_and_other_input():
    """--quiet prints the output shape; --in 512 makes ResNet-50's layer4 16×16."""
    assert ok("--arch", "resnet50", "-q").stdout == "1000\n"
    data = as_json("--arch", "resnet50", "--in", "512")
    block_shapes = [row["output"] for row in data["layers"] if row["layer"] == "block"]
    assert block_shapes[-1] == [2048, 16, 16]


def test_layers_spec_with_channels():
    """--layers on 3×32×32: conv 32 k3 p1 + pool + fc 10 = 32·28 + 32·16·16·10 + 10 params."""
    data = as_json(
        "--in",
        "32",
        "--channels",
        "3",
        "--layers",
        "conv 32 k3 p1, relu, maxpool k2, flatten, fc 10",
    )
    assert data["output"] == [10]
    assert data["total_params"] == 32 * (3 * 9 + 1) + 32 * 16 * 16 * 10 + 10


def test_network_csv_parses_back():
    """The network CSV has one row per layer with the output shape written CxHxW."""
    result = ok("--arch", "lenet5", "--csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["output"] for r in rows[:3]] == ["6x28x28", "6x28x28", "6x14x14"]
    assert sum(int(r["params"]) for r in rows if r["leaf"] == "True") == 61_706


def test_spec_file_json_and_text(tmp_path):
    """--spec reads JSON (with its input) or the text language."""
    json_spec = tmp_path / "net.json"
    json_spec.write_text(
        json.dumps({"input": [1, 28, 28], "layers": "conv 6 k5 p2, sigmoid, avgpool k2"}),
        encoding="utf-8",
    )
    assert ok("--spec", str(json_spec), "-q").stdout == "6x14x14\n"
    text_spec = tmp_path / "net.txt"
    text_spec.write_text("# a tiny net\nconv 8 k3\nrelu\n", encoding="utf-8")
    assert ok("--spec", str(text_spec), "--in", "10", "-q").stdout == "8x8x8\n"


# ------------------------------------------------------------------- errors ---


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--in", "5", "--k", "7"],
            "Error: ⌊(5 − 7 + 0 + 1)/1⌋ = −1: the 7-wide kernel is larger than the padded input (5)",
        ),
        (
            ["--in", "8", "--k", "3", "--s", "0"],
            "Error: Invalid value for '--s' / '--stride' / '-s': 0 is too small: it must be at least 1",
        ),
        (
            ["--in", "-3", "--k", "3"],
            "Error: Invalid value for '--in' / '--input': -3 is too small: it must be at least 1",
        ),
        (
            ["--in", "8", "--k", "3", "--p", "-1"],
            "Error: Invalid value for '--p' / '--padding' / '-p': -1 is too small: it must be at least 0",
        ),
        (
            ["--in", "8", "--k", "3x3x3"],
            "Error: Invalid value for '--k' / '--kernel' / '-k': '3x3x3'",
        ),
        (["--k", "3"], "Error: give --in (with --k for a layer, or --dense), or a network"),
        (["--in", "8"], "Error: give --k (the kernel size), or --dense N"),
        (["--in", "8", "--k", "3", "--json", "--csv"], "Error: use only one of --json, --csv"),
        (
            ["--in", "8", "--channels", "3", "--filters", "4", "--dense", "10"],
            "Error: --filters describes a layer's window: it needs --k",
        ),
        (
            ["--in", "8", "--k", "3", "--output-padding", "1"],
            "Error: --output-padding needs --transposed",
        ),
        (["--in", "8", "--k", "3", "--ceil-mode"], "Error: --ceil-mode needs --pool"),
        (
            ["--in", "8", "--k", "3", "--pool", "--transposed"],
            "Error: use only one of --pool and --transposed",
        ),
        (["--in", "8", "--k", "3", "--pool", "--d", "2"], "Error: --d (dilation) does not apply"),
        (
            ["--in", "8", "--k", "3", "--filters", "4"],
            "Error: --filters needs --channels (the input channels C)",
        ),
        (["--in", "8", "--k", "3", "--no-bias"], "Error: --no-bias needs --filters or --dense"),
        (
            ["--in", "8", "--k", "3", "--transposed", "--p", "same"],
            "Error: --p same does not apply to --transposed",
        ),
        (
            ["--in", "8", "--k", "3", "--s", "2", "--transposed", "--output-padding", "2"],
            "Error: `output_padding` (2) must be smaller than the stride (2) or the dilation (1)",
        ),
        (["--in", "224", "--out", "112"], "Error: --out needs --k (the kernel size)"),
        (
            ["--in", "8", "--out", "20", "--k", "3"],
            "Error: no stride and padding turn 8 into 20 with a 3-wide kernel",
        ),
        (
            ["--in", "8", "--out", "4", "--k", "3", "--transposed"],
            "Error: --out cannot be combined with --transposed",
        ),
        (
            ["--in", "8", "--in", "2", "--k", "3"],
            "Error: --in 2x2: ⌊(2 − 3 + 0 + 1)/1⌋ = 0: the 3-wide kernel is larger",
        ),
        (
            ["--arch", "alexnet", "--k", "3"],
            "Error: --k describes a single layer; it cannot be used with --arch",
        ),
        (
            ["--arch", "alexnet", "--layers", "relu"],
            "Error: use only one of --layers, --arch",
        ),
        (["--arch", "alexnet", "--in", "32", "--in", "64"], "Error: --arch takes one --in (got 2)"),
        (["--arch", "nope"], "Error: Invalid value for '--arch': 'nope' is not one of"),
        (
            ["--arch", "alexnet", "--in", "32"],
            "Error: layer 13 (maxpool k3 s2): ⌊(1 − 3 + 0 + 2)/2⌋ = 0: the 3-wide window",
        ),
        (["--layers", "conv 8 k3"], "Error: give the input size with --in"),
        (
            ["--in", "8", "--layers", "conv k3"],
            "Error: --layers: layer 'conv k3': conv needs a number of filters",
        ),
    ],
)
def test_errors_exit_2_with_one_line(args, message):
    """Each invalid combination exits with code 2 and one 'Error:' line saying why."""
    assert usage_error(*args).startswith(message)


def test_bad_spec_file(tmp_path):
    """A spec file with broken JSON is a usage error naming the file."""
    path = tmp_path / "bad.json"
    path.write_text("{oops", encoding="utf-8")
    assert usage_error("--spec", str(path)).startswith(
        f"Error: --spec {path}: JSON spec: not valid JSON"
    )


def test_missing_spec_file(tmp_path):
    """A spec file that does not exist is a usage error naming it."""
    line = usage_error("--spec", str(tmp_path / "missing.json"))
    assert "missing.json" in line


# -------------------------------------------------------------- help, colour ---


def test_help_has_example_and_grammar():
    """--help shows an Example: block and the spec grammar."""
    result = ok("--help")
    assert "Example:" in result.stdout
    assert "convcli shape --in 224 --k 11 --s 4 --p 2" in result.stdout
    assert "res(BODY | SHORTCUT)" in result.stdout


class _FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_color_is_honoured(monkeypatch):
    """A terminal gets colour unless NO_COLOR is set; a pipe never does."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert color_enabled(_FakeTTY()) is True
    assert color_enabled(io.StringIO()) is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert color_enabled(_FakeTTY()) is False


# --------------------------------------------------------------- import cost ---

HEAVY = ("numpy", "scipy", "PIL")
ARGS_55 = ["--in", "224", "--k", "11", "--s", "4", "--p", "2"]


def _heavy_modules(names) -> list[str]:
    return sorted({name for name in names if name.split(".")[0] in HEAVY})


# What the single-layer --json / --quiet paths must not load: the scientific
# stack, rich (tables only), importlib.metadata (the version, only for
# --version; ~50 ms of email/zipfile) and the network code.
NETWORK_MODULES = (
    "convcli.arithmetic.network",
    "convcli.arithmetic.spec",
    "convcli.arithmetic.presets",
)
NOT_ON_FAST_PATH = ("rich", "importlib.metadata", *NETWORK_MODULES)


def _loaded(names, prefixes) -> list[str]:
    return sorted(
        {name for name in names for p in prefixes if name == p or name.startswith(p + ".")}
    )


@pytest.mark.parametrize(
    ("flag", "check"),
    [
        ("--json", lambda out: json.loads(out)[0]["out_h"] == 55),
        ("--quiet", lambda out: out == "55\n"),
    ],
)
def test_shape_fast_paths_import_no_numpy_nor_rich(flag, check):
    """`python -X importtime -m convcli shape ... --json|--quiet` imports no numpy,
    scipy, PIL or rich, nor importlib.metadata or the network modules."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "convcli", "shape", *ARGS_55, flag],
        capture_output=True,
        text=True,
        check=True,
    )
    assert check(proc.stdout), proc.stdout
    imported = [line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()]
    assert "convcli.arithmetic.sizes" in imported  # the log is really there
    assert "click" in imported
    assert _heavy_modules(imported) == []
    assert _loaded(imported, NOT_ON_FAST_PATH) == []


def test_shape_table_loads_rich_but_not_numpy():
    """The table path does load rich (so the check above can see it), still no numpy.

    For a pipe only ``rich.cells`` (to measure the cells): the table is drawn
    without rich's console and table (see tests/test_plain_table.py)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "convcli", "shape", *ARGS_55],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "120"},
    )
    assert "55" in proc.stdout
    imported = [line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()]
    assert "rich.cells" in imported
    assert "rich.table" not in imported and "rich.console" not in imported
    assert _heavy_modules(imported) == []
    assert _loaded(imported, ("importlib.metadata", *NETWORK_MODULES)) == []


def test_shape_arch_choice_checked_and_listed():
    """--arch names come from convcli.arithmetic.presets lazily: listed in --help, checked on use."""
    from convcli.arithmetic.presets import ARCHITECTURES

    help_text = ok("--help").stdout
    assert "[" + "|".join(sorted(ARCHITECTURES)) + "]" in help_text.replace("\n", "").replace(
        " ", ""
    )
    message = usage_error("--arch", "resnet19")
    assert "resnet19" in message and "resnet18" in message


def test_shape_network_imports_no_numpy_sys_modules():
    """Running shape (one layer, a preset table, help) leaves numpy, scipy, PIL out of sys.modules."""
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from convcli.cli import cli\n"
        "r = CliRunner()\n"
        "for args in (['shape', '--in', '224', '--k', '11', '--s', '4', '--p', '2'],\n"
        "             ['shape', '--arch', 'resnet50'], ['shape', '--help'], ['--help']):\n"
        "    assert r.invoke(cli, args).exit_code == 0, args\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "convcli.arithmetic.network" in proc.stdout.split()
    assert _heavy_modules(proc.stdout.split()) == []


def test_quiet_keeps_the_input_axes():
    """--quiet prints one size per axis given: ⌊(224 − 11 + 2·2)/4⌋ + 1 = 55, (200 − 7)/4 + 1 = 49."""
    h, w = (224 - 11 + 2 * 2) // 4 + 1, (200 - 11 + 2 * 2) // 4 + 1
    for size, expected in [
        ("224x224", f"{h}x{h}"),
        ("224×224", f"{h}x{h}"),
        ("224", f"{h}"),
        ("224x200", f"{h}x{w}"),
    ]:
        result = ok("--in", size, "--k", "11", "--s", "4", "--p", "2", "--quiet")
        assert result.stdout == expected + "\n", size


@pytest.mark.parametrize(
    ("spec", "token"),
    [
        ("conv 6 kernel=5", "'kernel=5'"),
        ("maxpool k=2", "'k=2'"),
        ("conv 6 stride2 k3", "'stride2'"),
    ],
)
def test_layer_spec_error_quotes_the_whole_argument(spec, token):
    """A misspelt argument is quoted whole, with the forms that are accepted."""
    result = run("--layers", spec)
    assert result.exit_code == 2
    assert f"cannot read argument {token}" in result.output
    assert "k3 (kernel)" in result.output
    assert "Traceback" not in result.output
