"""The image commands as a person meets them: at a terminal, redirected, in pipes.

Everything here runs the installed ``convcli`` (see tests/terminal.py), in a
temporary directory outside the repository, on small images made with numpy.
Expected pixels come from numpy written here (identity filter, block maxima),
or from the same command run with ``-o FILE``.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from terminal import convcli_executable, run_in_pty, run_piped

ROOT = Path(__file__).resolve().parent.parent


def load(source) -> np.ndarray:
    """Decode a file or PNG bytes without convcli."""
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    with PIL.Image.open(source) as im:
        im.load()
        return np.asarray(im)


def make_png(path: Path, seed: int, shape=(12, 16)) -> np.ndarray:
    values = np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)
    PIL.Image.fromarray(values).save(path)
    return values


def block_max(x: np.ndarray, k: int) -> np.ndarray:
    h, w = x.shape[0] // k * k, x.shape[1] // k * k
    return x[:h, :w].reshape(h // k, k, w // k, k).max(axis=(1, 3))


# ----------------------------------------------------------------- batches at a terminal
@pytest.mark.parametrize("jobs", ["1", "2"])
@pytest.mark.parametrize("command", ["filter", "pool"])
def test_batch_at_a_terminal_writes_every_file(tmp_path, command, jobs):
    """With the progress bar on (stderr a terminal), every file of a batch is written."""
    src = tmp_path / "in"
    src.mkdir()
    inputs = {f"p{i}.png": make_png(src / f"p{i}.png", i) for i in range(3)}
    how = ["-k", "identity"] if command == "filter" else ["--size", "2"]
    code, screen = run_in_pty([command, "in", *how, "--out-dir", "out", "--jobs", jobs], tmp_path)
    assert code == 0, screen
    assert "3 of 3 files written" in screen
    assert "Error" not in screen
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(inputs)
    for name, values in inputs.items():
        expected = values if command == "filter" else block_max(values, 2)
        np.testing.assert_array_equal(load(tmp_path / "out" / name), expected)


def test_batch_beside_inputs_at_a_terminal(tmp_path):
    """Several inputs without -o or --out-dir: each result lands beside its input."""
    a, b = make_png(tmp_path / "a.png", 1), make_png(tmp_path / "b.png", 2)
    code, screen = run_in_pty(["pool", "a.png", "b.png", "--size", "2", "-j", "2"], tmp_path)
    assert code == 0, screen
    np.testing.assert_array_equal(load(tmp_path / "a-max2.png"), block_max(a, 2))
    np.testing.assert_array_equal(load(tmp_path / "b-max2.png"), block_max(b, 2))
    assert "wrote a-max2.png" in screen and "wrote b-max2.png" in screen


def test_batch_beside_inputs_with_stdout_a_pipe(tmp_path):
    """...whatever standard output is: it stays empty."""
    a, b = make_png(tmp_path / "a.png", 1), make_png(tmp_path / "b.png", 2)
    code, out, err = run_piped(["filter", "a.png", "b.png", "-k", "identity"], tmp_path)
    assert code == 0, err
    assert out == b""
    np.testing.assert_array_equal(load(tmp_path / "a-identity.png"), a)
    np.testing.assert_array_equal(load(tmp_path / "b-identity.png"), b)


# ----------------------------------------------------------------- no -o at a terminal
def test_no_output_at_a_terminal_writes_beside_the_input(tmp_path):
    """No -o with stdout a terminal: img-identity.png beside the input, named on stderr;
    a second run is refused without --overwrite and accepted with it."""
    values = make_png(tmp_path / "img.png", 3)
    code, screen = run_in_pty(["filter", "img.png", "-k", "identity"], tmp_path)
    assert code == 0, screen
    assert "wrote img-identity.png" in screen
    target = tmp_path / "img-identity.png"
    np.testing.assert_array_equal(load(target), values)

    target.write_bytes(b"keep me")
    code, screen = run_in_pty(["filter", "img.png", "-k", "identity"], tmp_path)
    assert code == 1
    assert screen.strip() == "Error: img-identity.png exists; pass --overwrite to replace it"
    assert target.read_bytes() == b"keep me"

    code, screen = run_in_pty(["filter", "img.png", "-k", "identity", "--overwrite"], tmp_path)
    assert code == 0, screen
    np.testing.assert_array_equal(load(target), values)

    # explicit -o - is still refused at a terminal
    code, screen = run_in_pty(["filter", "img.png", "-k", "identity", "-o", "-"], tmp_path)
    assert code == 1
    assert "refusing to write image data to a terminal" in screen


def test_no_output_names_chains_files_and_matrices(tmp_path):
    """The name says what was done, in safe characters; --format picks the suffix."""
    make_png(tmp_path / "img.png", 4)
    (tmp_path / "my kernel.txt").write_text("0 0 0\n0 1 0\n0 0 0\n")
    runs = [
        (["-k", "gaussian:sigma=3", "-k", "laplacian"], "img-gaussian-sigma3-laplacian.png"),
        (["-k", "my kernel.txt"], "img-my-kernel.png"),
        (["-k", "0,0,0;0,1,0;0,0,0", "--format", "jpeg"], "img-custom.jpg"),
    ]
    for how, name in runs:
        code, screen = run_in_pty(["filter", "img.png", *how, "-q"], tmp_path)
        assert code == 0, screen
        assert (tmp_path / name).is_file()
        assert screen == ""  # --quiet: not even the path
    code, screen = run_in_pty(["pool", "img.png", "--size", "2x3", "--mode", "avg"], tmp_path)
    assert code == 0, screen
    assert "wrote img-avg2x3.png" in screen


def test_sample_image_from_a_directory_outside_the_repo(tmp_path):
    """camera.png copied elsewhere: `convcli pool camera.png --size 8` writes camera-max8.png."""
    shutil.copy(ROOT / "sample_images" / "camera.png", tmp_path)
    code, screen = run_in_pty(["pool", "camera.png", "--size", "8"], tmp_path)
    assert code == 0, screen
    got = load(tmp_path / "camera-max8.png")
    np.testing.assert_array_equal(got, block_max(load(tmp_path / "camera.png"), 8))


def test_standard_input_at_a_terminal_needs_o(tmp_path):
    """`convcli filter - -k sobel` with stdout a terminal: a usage error, not a file named '-'."""
    code, screen = run_in_pty(["filter", "-", "-k", "sobel"], tmp_path, input=_png_bytes(5))
    assert code == 2
    assert "standard input has no file name to write beside" in screen
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def _png_bytes(seed: int) -> bytes:
    buf = io.BytesIO()
    PIL.Image.fromarray(
        np.random.default_rng(seed).integers(0, 256, (12, 16), dtype=np.uint8)
    ).save(buf, format="PNG")
    return buf.getvalue()


# ----------------------------------------------------------------- redirected and piped
def test_redirected_stdout_gets_the_image(tmp_path):
    """`convcli filter img.png -k sobel > edges.png` is the same image as `-o x.png`."""
    make_png(tmp_path / "img.png", 6)
    assert run_piped(["filter", "img.png", "-k", "sobel", "-o", "x.png"], tmp_path)[0] == 0
    with open(tmp_path / "edges.png", "wb") as fh:
        done = subprocess.run(
            [convcli_executable(), "filter", "img.png", "-k", "sobel"],
            cwd=tmp_path,
            stdout=fh,
            stderr=subprocess.PIPE,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "edges.png").read_bytes().startswith(b"\x89PNG")
    np.testing.assert_array_equal(load(tmp_path / "edges.png"), load(tmp_path / "x.png"))
    assert not (tmp_path / "img-sobel.png").exists()


def test_pipe_filter_into_filter(tmp_path):
    """`convcli filter img.png -k sobel | convcli filter - -k identity > out.png`."""
    make_png(tmp_path / "img.png", 7)
    assert run_piped(["filter", "img.png", "-k", "sobel", "-o", "x.png"], tmp_path)[0] == 0
    code, first, err = run_piped(["filter", "img.png", "-k", "sobel"], tmp_path)
    assert code == 0, err
    code, second, err = run_piped(["filter", "-", "-k", "identity"], tmp_path, input=first)
    assert code == 0, err
    np.testing.assert_array_equal(load(second), load(tmp_path / "x.png"))
    code, pooled, err = run_piped(["pool", "-", "--size", "2"], tmp_path, input=second)
    assert code == 0, err
    np.testing.assert_array_equal(load(pooled), block_max(load(tmp_path / "x.png"), 2))


# ----------------------------------------------------------------- --debug and --help
@pytest.mark.parametrize(
    "args",
    [
        ["filter", "bad.png", "-k", "sobel", "-o", "o.png", "--debug"],
        ["pool", "--debug", "bad.png", "--size", "2", "-o", "o.png"],
    ],
)
def test_debug_after_the_command(tmp_path, args):
    """--debug after the command's name shows the traceback, as before it does."""
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")  # fails when read
    code, _out, err = run_piped(args, tmp_path)
    assert code == 1
    assert "Traceback" in err
    assert "bad.png: " in err


def test_debug_for_every_command(tmp_path):
    """Every command, subcommands too, accepts --debug."""
    for args in (["shape", "--in", "8", "--k", "3"], ["kernels", "show", "sobel"]):
        code, _out, err = run_piped([*args, "--debug"], tmp_path)
        assert code == 0, err


@pytest.mark.parametrize("command", ["filter", "pool"])
def test_help_describes_no_output(tmp_path, command):
    code, out, _err = run_piped([command, "--help"], tmp_path)
    assert code == 0
    text = " ".join(out.decode().split())
    assert "redirected or piped" in text
    assert "beside its input" in text
    assert "--debug" in text


# ------------------------------------------------------- directories and missing inputs
@pytest.mark.parametrize("command", [["filter", "-k", "identity"], ["pool", "--size", "2"]])
def test_a_directory_without_out_dir_is_refused(tmp_path, command):
    """Results written into the input folder would be read again next run: ask for --out-dir."""
    folder = tmp_path / "photos"
    folder.mkdir()
    make_png(folder / "a.png", 1)
    code, screen = run_in_pty([command[0], "photos", *command[1:]], tmp_path)
    assert code == 2, screen
    assert "photos is a directory: give --out-dir DIR" in screen
    assert sorted(p.name for p in folder.iterdir()) == ["a.png"]


def test_a_missing_input_is_named_as_missing_with_out_dir(tmp_path):
    """A missing file without an extension is 'no such file', not a complaint about formats."""
    code, _out, err = run_piped(["filter", "nonexist", "-k", "sobel", "--out-dir", "o"], tmp_path)
    assert code == 2  # a bad argument, as click's Path(exists=True)
    last = err.strip().splitlines()[-1]
    assert last == "Error: Invalid value for 'INPUTS...': nonexist: no such file", err


def test_gallery_without_o_follows_the_filter_rule(tmp_path):
    """gallery without -o: the sheet goes to a redirected stdout, else beside the input."""
    make_png(tmp_path / "img.png", 3, shape=(40, 60))
    code, out, err = run_piped(["gallery", "img.png", "-k", "box:3", "--tile", "32"], tmp_path)
    assert code == 0, err
    assert load(out).shape[1] == 8 + 2 * (32 + 8)  # input and one kernel: two tiles
    code, screen = run_in_pty(["gallery", "img.png", "-k", "box:3", "--tile", "32"], tmp_path)
    assert code == 0, screen
    assert "wrote img-gallery.png" in screen
    assert load(tmp_path / "img-gallery.png").shape == load(out).shape
