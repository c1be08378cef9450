"""`convcli conv`: the textbook's numbers, channels, geometry, formats, steps and errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.signal
from helpers import run
from reference import conv2d_loop

TEXTBOOK_X = "0 1 2; 3 4 5; 6 7 8"
TEXTBOOK_K = "0 1; 2 3"
# the d2l two-channel example: X = [X0, X0 + 1], K = [K0, K0 + 1]
TWO_X = "[[[0,1,2],[3,4,5],[6,7,8]],[[1,2,3],[4,5,6],[7,8,9]]]"
TWO_K = "[[[0,1],[2,3]],[[1,2],[3,4]]]"


def test_textbook_aligned_matrix():
    """The textbook's 3x3 input and 2x2 kernel print [[19, 25], [37, 43]], aligned."""
    result = run("conv", "--input", TEXTBOOK_X, "--kernel", TEXTBOOK_K)
    assert result.exit_code == 0, result.output
    assert result.stdout == "[[19, 25],\n [37, 43]]\n"


def test_two_channel_textbook_example():
    """Summing over two input channels gives the textbook's [[56, 72], [104, 120]]."""
    result = run("conv", "-i", TWO_X, "-k", TWO_K, "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [[56, 72], [104, 120]]


def test_filter_bank_from_npy(tmp_path):
    """A (C_out, C_in, kh, kw) .npy kernel gives C_out channels, as the loop reference."""
    rng = np.random.default_rng(11)
    x = rng.integers(-5, 6, size=(3, 6, 7)).astype(float)
    w = rng.integers(-3, 4, size=(4, 3, 2, 3)).astype(float)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "w.npy", w)
    out = tmp_path / "y.npy"
    result = run("conv", "-i", tmp_path / "x.npy", "-k", tmp_path / "w.npy", "-f", "npy", "-o", out)
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(np.load(out), conv2d_loop(x[None], w)[0])


def test_one_by_one_kernel():
    """A 1x1 (C_out, C_in) kernel mixes channels pixel by pixel."""
    x = np.arange(18.0).reshape(2, 3, 3)
    w = np.array([[1.0, 2.0], [-1.0, 0.5]])
    result = run(
        "conv",
        "-i",
        json.dumps(x.tolist()),
        "-k",
        json.dumps(w[:, :, None, None].tolist()),
        "-f",
        "json",
    )
    assert result.exit_code == 0, result.output
    expected = np.einsum("oc,chw->ohw", w, x)
    np.testing.assert_allclose(json.loads(result.stdout), expected)


def test_one_by_one_on_a_matrix():
    """A [[2]] kernel doubles a one-channel matrix."""
    result = run("conv", "-i", "1 2; 3 4", "-k", "2", "-f", "csv")
    assert result.exit_code == 0, result.output
    assert result.stdout == "2,4\n6,8\n"


@pytest.mark.parametrize("mode", ["zeros", "reflect", "symmetric", "replicate", "circular"])
def test_geometry_matches_loop(tmp_path, mode):
    """Stride, padding, dilation and pad mode match the loop reference with numpy.pad."""
    rng = np.random.default_rng(12)
    x = rng.normal(size=(7, 9))
    k = rng.normal(size=(3, 2))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "k.npy", k)
    args = ["conv", "-i", tmp_path / "x.npy", "-k", tmp_path / "k.npy", "-f", "npy"]
    args += ["--stride", "2x1", "--padding", "2:1x1", "--dilation", "1x2", "--pad-mode", mode]
    result = run(*args, "-o", tmp_path / "y.npy")
    assert result.exit_code == 0, result.output
    expected = conv2d_loop(
        x[None, None], k[None, None], None, (2, 1), (2, 1, 1, 1), (1, 2), 1, mode
    )
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected[0, 0], atol=1e-12)


def test_convolve_flips_the_kernel():
    """--convolve gives scipy.signal.convolve2d's valid result."""
    x = np.arange(20.0).reshape(4, 5) ** 1.5
    k = np.array([[1.0, 2.0], [0.0, -1.0]])
    result = run(
        "conv", "-i", json.dumps(x.tolist()), "-k", "1 2; 0 -1", "--convolve", "-f", "json"
    )
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(json.loads(result.stdout), scipy.signal.convolve2d(x, k, "valid"))


def test_bias_per_output_channel():
    """--bias adds one value per output channel."""
    result = run(
        "conv", "-i", "1 2; 3 4", "-k", "[[[1]], [[10]]]", "--bias", "0.5,-1", "-f", "json"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [[[1.5, 2.5], [3.5, 4.5]], [[9, 19], [29, 39]]]


def test_builtin_kernel_name():
    """A built-in name works as --kernel: sobel-x on a ramp gives 8 per unit step."""
    result = run("conv", "-i", "0 1 2 3; 0 1 2 3; 0 1 2 3", "-k", "sobel-x", "-f", "csv")
    assert result.exit_code == 0, result.output
    assert result.stdout == "8,8\n"


def test_stdin_input():
    """--input - reads the matrix from standard input."""
    result = run("conv", "-i", "-", "-k", TEXTBOOK_K, "-f", "json", input="0 1 2\n3 4 5\n6 7 8\n")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [[19, 25], [37, 43]]


def test_text_file_with_channels(tmp_path):
    """A text file with a blank line between blocks is a (C, H, W) input."""
    (tmp_path / "x.txt").write_text("0 1 2\n3 4 5\n6 7 8\n\n1 2 3\n4 5 6\n7 8 9\n")
    (tmp_path / "k.json").write_text(TWO_K)
    result = run("conv", "-i", tmp_path / "x.txt", "-k", tmp_path / "k.json")
    assert result.exit_code == 0, result.output
    assert result.stdout == "[[ 56,  72],\n [104, 120]]\n"


def test_csv_output_channels_round_trip(tmp_path):
    """CSV of a multi-channel result separates channels by a blank line and reads back."""
    result = run(
        "conv", "-i", "1 2; 3 4", "-k", "[[[1]], [[-1]]]", "-f", "csv", "-o", tmp_path / "y.csv"
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "y.csv").read_text() == "1,2\n3,4\n\n-1,-2\n-3,-4\n"
    back = run("conv", "-i", tmp_path / "y.csv", "-k", "[[[1]], [[1]]]", "-f", "json")
    assert json.loads(back.stdout) == [[0, 0], [0, 0]]


def test_float_values_aligned():
    """Non-integral results print right-aligned with six significant digits."""
    result = run("conv", "-i", "1 2; 3 4", "-k", "0.5")
    assert result.stdout == "[[0.5,   1],\n [1.5,   2]]\n"


def test_steps_textbook():
    """--steps writes each window as Y[i,j] = x×k + ... with the window in brackets."""
    result = run("conv", "-i", TEXTBOOK_X, "-k", TEXTBOOK_K, "--steps")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for line in (
        "Y[0,0] = 0×0 + 1×1 + 3×2 + 4×3 = 19",
        "Y[0,1] = 1×0 + 2×1 + 4×2 + 5×3 = 25",
        "Y[1,0] = 3×0 + 4×1 + 6×2 + 7×3 = 37",
        "Y[1,1] = 4×0 + 5×1 + 7×2 + 8×3 = 43",
    ):
        assert line in out
    assert "[0][1] 2 \n[3][4] 5 \n 6  7  8 \n" in out
    assert out.endswith("[[19, 25],\n [37, 43]]\n")


def test_steps_are_capped():
    """A summary line replaces windows past --max-steps."""
    x = json.dumps(np.arange(36).reshape(6, 6).tolist())
    result = run("conv", "-i", x, "-k", "1 1; 1 1", "--steps", "--max-steps", "3")
    assert result.exit_code == 0
    assert (
        "… 22 more windows not shown (25 in all; --max-steps 25 shows every one)" in result.stdout
    )
    assert result.stdout.count("Y[") == 3


def test_steps_negative_weights_and_bias():
    """Negative kernel values are parenthesised, and the bias is the last term."""
    result = run("conv", "-i", "1 2", "-k", "1 -1", "--bias", "3", "--steps")
    assert "Y[0,0] = 1×1 + 2×(-1) + 3 = 2" in result.stdout


@pytest.mark.parametrize(
    ("mode", "expected"), [("max", [[4, 5], [7, 8]]), ("avg", [[2, 3], [5, 6]])]
)
def test_pool(mode, expected):
    """--pool with --size 2 --stride 1 gives the textbook's pooled matrices."""
    result = run(
        "conv", "-i", TEXTBOOK_X, "--pool", mode, "--size", "2", "--stride", "1", "-f", "json"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == expected


def test_pool_stride_defaults_to_size_and_steps():
    """--pool without --stride steps by the window; --steps shows max(...) lines."""
    x = json.dumps(np.arange(16).reshape(4, 4).tolist())
    result = run("conv", "-i", x, "--pool", "max", "--size", "2", "--steps")
    assert result.exit_code == 0, result.output
    assert "Y[0,0] = max(0, 1, 4, 5) = 5" in result.stdout
    assert result.stdout.endswith("[[ 5,  7],\n [13, 15]]\n")


def test_npy_to_pipe():
    """--format npy writes .npy bytes when stdout is not a terminal."""
    import io

    result = run("conv", "-i", TEXTBOOK_X, "-k", TEXTBOOK_K, "-f", "npy")
    assert result.exit_code == 0
    np.testing.assert_array_equal(np.load(io.BytesIO(result.stdout_bytes)), [[19, 25], [37, 43]])


# ------------------------------------------------------------------ errors


def test_error_npy_to_terminal(monkeypatch):
    """.npy data is never written to a terminal (exit 1)."""
    monkeypatch.setattr("convcli.images.atomic.stdout_is_terminal", lambda: True)
    result = run("conv", "-i", TEXTBOOK_X, "-k", TEXTBOOK_K, "-f", "npy")
    assert result.exit_code == 1
    assert (
        result.stderr
        == "Error: refusing to write .npy data to a terminal; redirect stdout or use -o FILE\n"
    )


def test_error_ragged_rows():
    """Ragged rows name the row (usage error, exit 2)."""
    result = run("conv", "-i", "0 1 2; 3 4", "-k", TEXTBOOK_K)
    assert result.exit_code == 2
    assert (
        "Invalid value for --input: --input '0 1 2; 3 4': row 2 has 2 values, expected 3"
        in result.stderr
    )


def test_error_not_a_number():
    """A non-number names its row (exit 2)."""
    result = run("conv", "-i", TEXTBOOK_X, "-k", "0 1; 2 x")
    assert result.exit_code == 2
    assert "row 2: 'x' is not a number" in result.stderr


def test_error_both_stdin():
    """Only one of --input and --kernel may read standard input (exit 2)."""
    result = run("conv", "-i", "-", "-k", "-", input="1")
    assert result.exit_code == 2
    assert "only one of --input and --kernel can be '-'" in result.stderr


def test_error_no_kernel():
    """Without --kernel or --pool there is nothing to do (exit 2)."""
    result = run("conv", "-i", TEXTBOOK_X)
    assert result.exit_code == 2
    assert "give --kernel MATRIX (or --pool max|avg|min with --size)" in result.stderr


def test_error_pool_and_kernel():
    """--pool and --kernel exclude each other (exit 2)."""
    result = run("conv", "-i", TEXTBOOK_X, "-k", TEXTBOOK_K, "--pool", "max", "--size", "2")
    assert result.exit_code == 2
    assert "not both" in result.stderr


def test_error_pool_without_size():
    """--pool needs --size (exit 2)."""
    result = run("conv", "-i", TEXTBOOK_X, "--pool", "max")
    assert result.exit_code == 2
    assert "--pool needs --size" in result.stderr


def test_error_pool_with_dilation():
    """--dilation does not apply to pooling (exit 2)."""
    result = run("conv", "-i", TEXTBOOK_X, "--pool", "max", "--size", "2", "--dilation", "2")
    assert result.exit_code == 2
    assert "--dilation does not apply to --pool" in result.stderr


def test_error_channel_mismatch():
    """A 2-D kernel with a two-channel input says which kernel shape is needed (exit 2)."""
    result = run("conv", "-i", TWO_X, "-k", TEXTBOOK_K)
    assert result.exit_code == 2
    assert "give a (2, 2, 2) kernel, one slice per channel" in result.stderr


def test_error_kernel_larger_than_input():
    """A kernel larger than the input prints the size formula (exit 1)."""
    result = run("conv", "-i", "1 2; 3 4", "-k", "1 1 1; 1 1 1; 1 1 1")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: ⌊(2 − 3 + 0 + 1)/1⌋ = 0: the 3-wide kernel is larger than the padded input (2)\n"
    )


def test_error_bias_count():
    """--bias with the wrong number of values is a usage error (exit 2)."""
    result = run("conv", "-i", TEXTBOOK_X, "-k", TEXTBOOK_K, "--bias", "1,2")
    assert result.exit_code == 2
    assert "2 value(s) given for 1 output channel(s)" in result.stderr


def test_error_missing_file(tmp_path):
    """A missing matrix file is named: a bad argument, like a missing image (exit 2)."""
    result = run("conv", "-i", tmp_path / "x.npy", "-k", TEXTBOOK_K)
    assert result.exit_code == 2
    assert "x.npy': no such file" in result.stderr


def test_error_magnitude_kernel():
    """A gradient magnitude is not one matrix (exit 2)."""
    result = run("conv", "-i", TEXTBOOK_X, "-k", "sobel")
    assert result.exit_code == 2
    assert "use sobel-x or sobel-y" in result.stderr


def test_error_existing_output(tmp_path):
    """An existing -o file is kept unless --overwrite (exit 1)."""
    out = tmp_path / "y.txt"
    out.write_text("keep")
    result = run("conv", "-i", TEXTBOOK_X, "-k", TEXTBOOK_K, "-o", out)
    assert result.exit_code == 1
    assert result.stderr == f"Error: {out} exists; pass --overwrite to replace it\n"
    assert run("conv", "-i", TEXTBOOK_X, "-k", TEXTBOOK_K, "-o", out, "--overwrite").exit_code == 0
    assert out.read_text() == "[[19, 25],\n [37, 43]]\n"


def test_help_has_example():
    """--help shows every option and an Example block."""
    result = run("conv", "--help")
    assert result.exit_code == 0
    assert (
        'Example:\n    convcli conv --input "0 1 2; 3 4 5; 6 7 8" --kernel "0 1; 2 3"'
        in result.stdout
    )
    for option in (
        "--stride",
        "--padding",
        "--dilation",
        "--pad-mode",
        "--bias",
        "--convolve",
        "--pool",
        "--steps",
        "--format",
    ):
        assert option in result.stdout


@pytest.mark.parametrize(
    ("name", "check"),
    [
        ("r.npy", lambda p: np.load(p).tolist() == [[19, 25], [37, 43]]),
        ("r.json", lambda p: json.loads(p.read_text()) == [[19, 25], [37, 43]]),
        ("r.csv", lambda p: p.read_text().split() == ["19,25", "37,43"]),
    ],
)
def test_output_format_follows_extension(name, check, tmp_path):
    """Without --format, -o's extension picks the format (.npy, .json, .csv)."""
    out = tmp_path / name
    result = run("conv", "-i", TEXTBOOK_X, "-k", TEXTBOOK_K, "-o", out)
    assert result.exit_code == 0, result.output
    assert check(out)


def test_format_and_extension_must_agree(tmp_path):
    """--format text with -o r.npy is a usage error, not a corrupt .npy."""
    result = run("conv", "-i", TEXTBOOK_X, "-k", TEXTBOOK_K, "-f", "text", "-o", tmp_path / "r.npy")
    assert result.exit_code == 2
    assert "--format text does not match the output file" in result.stderr
    assert not (tmp_path / "r.npy").exists()
