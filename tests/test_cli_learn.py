"""`convcli learn` end to end: the textbook, a photograph through `filter`, files and errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import run

from convcli.kernels.files import load_kernel

CAMERA = Path(__file__).resolve().parent.parent / "sample_images" / "camera.png"
SOBEL_X = [[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]


@pytest.fixture
def textbook(tmp_path):
    """X: 6x8 ones with columns 2..5 zero; Y = X ⋆ [[1, -1]] computed by hand, as text files."""
    x = np.ones((6, 8))
    x[:, 2:6] = 0
    y = x[:, :-1] - x[:, 1:]
    np.savetxt(tmp_path / "x.txt", x, fmt="%g")
    np.savetxt(tmp_path / "y.csv", y, fmt="%g", delimiter=",")
    return tmp_path / "x.txt", tmp_path / "y.csv"


def test_textbook_lstsq_text(textbook):
    """lstsq prints the textbook's kernel [[1, -1]] and a zero loss."""
    result = run("learn", *textbook, "--size", "1x2")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "kernel 1×2 (correlation form, lstsq):"
    assert lines[1] == "[[ 1, -1]]"
    assert lines[2].startswith("loss: ")
    assert "over 42 cells" in lines[2]


def test_textbook_lstsq_json(textbook):
    """--format json holds the kernel to 1e-6."""
    result = run("learn", *textbook, "--size", "1x2", "--format", "json")
    data = json.loads(result.stdout)
    np.testing.assert_allclose(data["kernel"], [[1, -1]], atol=1e-6)
    assert data["bias"] is None and data["method"] == "lstsq"


def test_textbook_gd(textbook):
    """gd with lr 0.03 for 10 seeded steps ends near [[1, -1]] with a falling loss."""
    result = run(
        "learn",
        *textbook,
        "--size",
        "1x2",
        "-m",
        "gd",
        "--lr",
        "0.03",
        "--steps",
        "10",
        "-f",
        "json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    history = data["history"]
    assert len(history) == 11
    assert np.all(np.diff(history) < 0)
    np.testing.assert_allclose(data["kernel"], [[1, -1]], atol=0.05)
    assert result.stderr == ""  # no progress display when stderr is not a terminal


def test_inline_matrices():
    """INPUT and TARGET may be inline matrices."""
    result = run(
        "learn", "1 1 0 0 1; 0 1 1 0 0", "0 1 0 -1; -1 0 1 0", "--size", "1x2", "-f", "json"
    )
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(json.loads(result.stdout)["kernel"], [[1, -1]], atol=1e-9)


def test_sobel_from_photo_through_filter(tmp_path):
    """`filter -k sobel-x` to raw .npy, then `learn --size 3x3` gives Sobel to 1e-4, and back."""
    gx = tmp_path / "gx.npy"
    assert run("filter", CAMERA, "-k", "sobel-x", "-o", gx).exit_code == 0
    kfile = tmp_path / "learned.txt"
    result = run("learn", CAMERA, gx, "--size", "3x3", "-o", kfile, "-f", "json", "-q")
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(json.loads(result.stdout)["kernel"], SOBEL_X, atol=1e-4)
    np.testing.assert_allclose(load_kernel(kfile).weights, SOBEL_X, atol=1e-4)
    again = tmp_path / "again.npy"
    assert run("filter", CAMERA, "-k", kfile, "-o", again).exit_code == 0
    np.testing.assert_allclose(np.load(again), np.load(gx), atol=1e-2)


def test_bias_written_as_offset(tmp_path):
    """A learned bias goes into the kernel file's offset= line."""
    rng = np.random.default_rng(31)
    x = rng.normal(size=(6, 7))
    y = 2 * x[:, :-1] - x[:, 1:] + 4
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    out = tmp_path / "k.txt"
    result = run(
        "learn", tmp_path / "x.npy", tmp_path / "y.npy", "--size", "1x2", "--bias", "-o", out
    )
    assert result.exit_code == 0, result.output
    assert "bias: 4" in result.stdout
    kernel = load_kernel(out)
    np.testing.assert_allclose(kernel.weights, [[2, -1]], atol=1e-9)
    assert kernel.offset == pytest.approx(4)


def test_explicit_padding_zeros(tmp_path):
    """--padding 1 --pad-mode zeros explains a zero-padded 'full'-size target."""
    x = np.array([[1.0, 3.0, 2.0, 5.0], [4.0, 0.0, 1.0, 2.0]])
    xp = np.pad(x, 1)
    y = np.array([[xp[i, j] - 2 * xp[i, j + 1] for j in range(5)] for i in range(4)])
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    result = run(
        "learn",
        tmp_path / "x.npy",
        tmp_path / "y.npy",
        "--size",
        "1x2",
        "--padding",
        "1",
        "--pad-mode",
        "zeros",
        "-f",
        "json",
    )
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(json.loads(result.stdout)["kernel"], [[1, -2]], atol=1e-9)


# ------------------------------------------------------------------ errors


def test_error_constant_input(tmp_path):
    """A constant image is ill-posed: one line, exit 1."""
    result = run("learn", "1 1 1; 1 1 1; 1 1 1", "4 4; 4 4", "--size", "2")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ill-posed: the input is constant")
    assert result.stderr.count("\n") == 1


def test_error_too_few_equations():
    """Fewer target cells than weights: exit 1."""
    result = run("learn", "1 2; 3 4", "5", "--size", "2")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: ill-posed: 1 equations (target cells) for 4 unknowns (2×2 weights); use a "
        "larger input or a smaller --size\n"
    )


def test_error_unexplained_target_size():
    """A target size no padding gives: exit 1 naming both sizes."""
    result = run("learn", "1 2 3; 4 5 6; 7 8 9", "1 2 3 4", "--size", "2")
    assert result.exit_code == 1
    assert "turns the 3×3 input into 2×2, but the target is 1×4" in result.stderr


def test_error_missing_file(tmp_path):
    """A missing input file is named: a bad argument, as in filter (exit 2)."""
    result = run("learn", tmp_path / "nope.png", "1", "--size", "1")
    assert result.exit_code == 2
    assert "nope.png: no such file" in result.stderr


def test_error_bad_lr():
    """A learning rate of 0 is refused (exit 2)."""
    result = run("learn", "1 2", "1 2", "--size", "1", "--lr", "0")
    assert result.exit_code == 2
    assert "--lr" in result.stderr


def test_error_both_stdin():
    """INPUT and TARGET cannot both be standard input (exit 2)."""
    result = run("learn", "-", "-", "--size", "1", input="1 2")
    assert result.exit_code == 2
    assert "only one of INPUT and TARGET can be '-'" in result.stderr


def test_error_existing_output(tmp_path, textbook):
    """An existing -o file is refused before any work (exit 1)."""
    out = tmp_path / "k.txt"
    out.write_text("keep")
    result = run("learn", *textbook, "--size", "1x2", "-o", out)
    assert result.exit_code == 1
    assert result.stderr == f"Error: {out} exists; pass --overwrite to replace it\n"
    assert out.read_text() == "keep"


def test_error_diverging_gd(textbook):
    """The user's --lr 0.1 is a usage error before any step: the rate and the bound 2/λmax."""
    x = np.ones((6, 8))
    x[:, 2:6] = 0
    a = np.array([[x[i, j], x[i, j + 1]] for i in range(6) for j in range(7)])  # the patch matrix
    bound = 2.0 / np.linalg.eigvalsh(2.0 * a.T @ a)[-1]  # 1/30
    result = run("learn", *textbook, "--size", "1x2", "-m", "gd", "--lr", "0.1", "--every", "1")
    assert result.exit_code == 2
    assert result.stdout == ""
    error = result.stderr.splitlines()[-1]
    assert error.startswith("Error: Invalid value for --lr: learning rate 0.1 ")
    assert f"must stay below {bound:.6g}" in error and "Hessian 2·AᵀA" in error
    assert "step" not in result.stderr  # refused before the first step


def test_default_lr_is_below_the_bound(textbook):
    """Without --lr, gd takes a rate below the bound and the loss falls every step."""
    result = run("learn", *textbook, "--size", "1x2", "-m", "gd", "-f", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["max_lr"] == pytest.approx(1 / 30) and data["lr"] < data["max_lr"]
    assert np.all(np.diff(data["history"]) < 0)


def test_every_prints_when_piped(textbook):
    """--every K writes one line per K steps to stderr when it is a pipe, not a terminal."""
    import subprocess
    import sys

    args = ["learn", *map(str, textbook), "--size", "1x2", "-m", "gd", "--lr", "0.03"]
    proc = subprocess.run(
        [sys.executable, "-m", "convcli", *args, "--steps", "6", "--every", "2", "-f", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    history = json.loads(proc.stdout)["history"]
    assert proc.stderr.splitlines() == [f"step {s}: loss {history[s]:.6g}" for s in (2, 4, 6)]


def test_help_has_example():
    """--help shows the options and an Example block."""
    result = run("learn", "--help")
    assert result.exit_code == 0
    assert "Example:\n    convcli learn" in result.stdout
    for option in (
        "--size",
        "--method",
        "--steps",
        "--lr",
        "--bias",
        "--convolve",
        "--padding",
        "-o",
    ):
        assert option in result.stdout


def test_image_target_gets_a_note(tmp_path):
    """A target read from an image file gets a note that its pixels were clipped (use .npy)."""
    from PIL import Image as PILImage

    rng = np.random.default_rng(5)
    x = rng.integers(0, 256, (12, 14), dtype=np.uint8)
    src, tgt = tmp_path / "x.png", tmp_path / "y.png"
    PILImage.fromarray(x).save(src)
    PILImage.fromarray(x).save(tgt)
    result = run("learn", src, tgt, "--size", "1")
    assert result.exit_code == 0, result.output
    assert "note: " in result.stderr and "-o target.npy" in result.stderr
    quiet = run("learn", src, tgt, "--size", "1", "--quiet")
    assert "note:" not in quiet.stderr


def test_written_kernel_drops_rounding_noise(tmp_path):
    """-o writes the textbook kernel as 1, -1 (noise below 1e-10 rounded away)."""
    x = np.ones((6, 8))
    x[:, 2:6] = 0
    y = x[:, :-1] - x[:, 1:]
    xi, yi = tmp_path / "x.npy", tmp_path / "y.npy"
    np.save(xi, x)
    np.save(yi, y)
    out = tmp_path / "k.txt"
    assert run("learn", xi, yi, "--size", "1x2", "-o", out).exit_code == 0
    rows = [line for line in out.read_text().splitlines() if not line.startswith("#")]
    assert rows == ["1, -1"]
