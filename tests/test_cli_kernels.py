"""`convcli kernels`: the list, `show`, and files that `filter -k FILE` reads back."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from helpers import run
from terminal import run_in_pty

from convcli.kernels.catalogue import kernel_names

CAMERA = Path(__file__).resolve().parent.parent / "sample_images" / "camera.png"


def test_list_json_has_every_builtin():
    """The JSON list names every built-in once, with hand-known facts for a few."""
    result = run("kernels", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert sorted(rows) == kernel_names(aliases=False)
    assert (rows["sobel-x"]["size"], rows["sobel-x"]["sum"], rows["sobel-x"]["separable"]) == (
        "3x3",
        0,
        True,
    )
    assert (rows["edge"]["sum"], rows["edge"]["separable"]) == (0, False)
    assert (rows["emboss"]["sum"], rows["emboss"]["separable"]) == (1, False)
    assert rows["box"]["aliases"] == ["blur"] and rows["box"]["size"] == "3x3"
    assert rows["sobel"]["sum"] is None  # a magnitude has no single sum
    assert rows["identity"]["description"]


def test_list_table_and_text():
    """The table and the text list show every name; `kernels list` is the same list."""
    table = run("kernels", env={"COLUMNS": "100"})
    assert table.exit_code == 0
    text = run("kernels", "list", "--format", "text")
    for name in kernel_names(aliases=False):
        assert name in table.stdout
        assert any(line.startswith(name) for line in text.stdout.splitlines())
    line = next(x for x in text.stdout.splitlines() if x.startswith("laplacian\t"))
    assert line.split("\t")[:4] == ["laplacian", "3×3", "0", "no"]


def test_list_csv_header():
    """CSV starts with its header line."""
    result = run("kernels", "--format", "csv")
    assert result.stdout.splitlines()[0] == "name,usage,aliases,size,sum,separable,description"


def test_show_gaussian_values():
    """`show gaussian:size=5,sigma=1` prints the values of exp(-x²/2) normalised, outer product."""
    result = run("kernels", "show", "gaussian:size=5,sigma=1")
    assert result.exit_code == 0, result.output
    g = np.exp(-0.5 * np.arange(-2, 3) ** 2)
    g /= g.sum()
    assert result.stdout.splitlines()[0] == "gaussian:size=5,sigma=1: 5×5, sum 1, separable"
    shown = [float(c) for line in result.stdout.splitlines() for c in _CELL.findall(line)]
    np.testing.assert_allclose(shown, np.outer(g, g).ravel(), rtol=0, atol=5e-9)  # 8 decimals


def test_show_magnitude_shows_both_parts():
    """`show sobel` prints the x and the y part."""
    result = run("kernels", "show", "sobel")
    assert "x part" in result.stdout and "y part" in result.stdout


def test_show_text_format_exact():
    """--format text is the kernel-file format: comment header, then rows."""
    result = run("kernels", "show", "laplacian", "--format", "text")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-3:] == ["0, 1, 0", "1, -4, 1", "0, 1, 0"]
    assert result.stdout.startswith("# laplacian: ")


@pytest.mark.parametrize("suffix", ["txt", "json", "npy"])
@pytest.mark.parametrize(
    "spec", ["gaussian:size=5,sigma=1", "log:size=7", "sobel-y", "motion:7,30"]
)
def test_round_trip_through_filter(tmp_path, spec, suffix):
    """A kernel written by `kernels show -o` filters exactly like the spec itself."""
    kfile = tmp_path / f"k.{suffix}"
    result = run("kernels", "show", spec, "-o", kfile)
    assert result.exit_code == 0, result.output
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    assert run("filter", CAMERA, "-k", spec, "-o", a).exit_code == 0
    assert run("filter", CAMERA, "-k", kfile, "-o", b).exit_code == 0
    np.testing.assert_array_equal(np.load(a), np.load(b))


def test_explicit_format_overrides_extension(tmp_path):
    """--format json writes JSON whatever the file is called."""
    out = tmp_path / "k.dat"
    assert run("kernels", "show", "edge-x", "--format", "json", "-o", out).exit_code == 0
    assert json.loads(out.read_text())["weights"] == [[1.0, -1.0]]


def test_npy_to_pipe():
    """--format npy goes to a pipe as .npy bytes."""
    import io

    result = run("kernels", "show", "edge-y", "--format", "npy")
    np.testing.assert_array_equal(np.load(io.BytesIO(result.stdout_bytes)), [[1.0], [-1.0]])


# ------------------------------------------------------------------ errors


def test_error_unknown_kernel():
    """An unknown name suggests close ones (exit 2)."""
    result = run("kernels", "show", "sobelx")
    assert result.exit_code == 2
    assert "unknown kernel 'sobelx'; did you mean" in result.stderr


def test_error_magnitude_as_file():
    """A gradient magnitude cannot be written as one matrix (exit 1)."""
    result = run("kernels", "show", "sobel", "--format", "text")
    assert result.exit_code == 1
    assert "write its parts (e.g. sobel-x and sobel-y) instead" in result.stderr


def test_error_npy_to_terminal(monkeypatch):
    """.npy is never written to a terminal (exit 1)."""
    monkeypatch.setattr("convcli.images.atomic.stdout_is_terminal", lambda: True)
    result = run("kernels", "show", "edge-x", "--format", "npy")
    assert result.exit_code == 1
    assert (
        result.stderr
        == "Error: refusing to write .npy data to a terminal; redirect stdout or use -o FILE\n"
    )


def test_error_existing_output(tmp_path):
    """An existing file is kept without --overwrite (exit 1)."""
    out = tmp_path / "k.txt"
    out.write_text("keep")
    result = run("kernels", "show", "edge-x", "-o", out)
    assert result.exit_code == 1
    assert out.read_text() == "keep"
    assert run("kernels", "show", "edge-x", "-o", out, "--overwrite").exit_code == 0


def test_error_table_to_file(tmp_path):
    """A table is for the terminal: --format table with -o is a usage error (exit 2)."""
    result = run("kernels", "show", "edge-x", "--format", "table", "-o", tmp_path / "k.txt")
    assert result.exit_code == 2


def test_error_bad_list_format():
    """An unknown list format is a usage error (exit 2)."""
    assert run("kernels", "--format", "xml").exit_code == 2


@pytest.mark.parametrize("args", [["kernels", "--help"], ["kernels", "show", "--help"]])
def test_help_has_example(args):
    """Both the list and `show` have help with an Example block."""
    result = run(*args)
    assert result.exit_code == 0
    assert "Example:\n    convcli kernels" in result.stdout


def _cell_styles(screen: str) -> dict[str, set[str]]:
    """The escape sequences each value of a shaded table is drawn with, by value."""
    styles: dict[str, set[str]] = {}
    for sgr, value in re.findall(r"\x1b\[([\d;]+)m(-?\d+)\x1b\[0m", screen):
        styles.setdefault(value, set()).add(sgr)
    return styles


def test_show_shades_sobel_weights_by_size_at_a_terminal(tmp_path):
    """At a terminal, sobel-x's -2 and -1 (and 2 and 1) are drawn differently, negatives
    apart from positives, and each value the same way wherever it stands."""
    code, screen = run_in_pty(["kernels", "show", "sobel-x"], tmp_path)
    assert code == 0, screen
    styles = _cell_styles(screen)
    assert set(styles) >= {"-2", "-1", "1", "2"}, screen
    assert all(len(s) == 1 for s in styles.values()), styles
    drawn = [next(iter(styles[v])) for v in ("-2", "-1", "1", "2")]
    assert len(set(drawn)) == 4, drawn


def _gaussian(size: int, sigma: float) -> np.ndarray:
    """The normalised 2-D Gaussian, computed here (the oracle)."""
    x = np.arange(size) - (size - 1) / 2
    g = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * sigma**2))
    return g / g.sum()


#: one cell of a boxed table
_CELL = re.compile(r"│\s*([^│]+?)\s*(?=│)")


@pytest.mark.parametrize(
    ("spec", "expected", "style"),
    [
        ("gaussian:size=9,sigma=1", _gaussian(9, 1.0), "scientific"),
        ("gaussian:size=3,sigma=1", _gaussian(3, 1.0), "fixed"),
        ("box:3", np.full((3, 3), 1 / 9), "fixed"),
        ("sobel-x", np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]), "integer"),
    ],
)
def test_show_writes_a_matrix_in_one_number_format(spec, expected, style):
    """As numpy prints an array: all fixed (one number of decimals), all scientific, or integers."""
    result = run("kernels", "show", spec, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    cells = [c for line in result.output.splitlines() for c in _CELL.findall(line)]
    assert len(cells) == expected.size
    np.testing.assert_allclose(
        np.array(cells, dtype=float).reshape(expected.shape), expected, rtol=5e-3, atol=1e-12
    )
    nonzero = [c for c in cells if c != "0"]
    if style == "scientific":
        assert all(re.fullmatch(r"-?\d\.\d\de[-+]\d\d", c) for c in nonzero), cells
    elif style == "integer":
        assert all(re.fullmatch(r"-?\d+", c) for c in nonzero), cells
    else:
        decimals = {len(c.partition(".")[2]) for c in nonzero}
        assert len(decimals) == 1 and "e" not in "".join(cells), cells
