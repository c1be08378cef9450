"""`convcli pool` end to end: images, tensors, pipelines, batches and every error path."""

from __future__ import annotations

import io

import numpy as np
import PIL.Image
import pytest
from click.testing import CliRunner
from helpers import run
from reference import pool2d_loop

from convcli.cli import cli


def load(path):
    """Decode an image file into an array (closing the file)."""
    with PIL.Image.open(path) as im:
        im.load()
        return np.asarray(im)


def mode_of(path):
    with PIL.Image.open(path) as im:
        return im.mode


def save_png(path, array):
    PIL.Image.fromarray(array).save(path)
    return path


def blocks(x, kh, kw, reduce):
    """Non-overlapping kh x kw windows reduced with numpy (an independent oracle)."""
    h, w = x.shape[-2] // kh * kh, x.shape[-1] // kw * kw
    x = x[..., :h, :w]
    shaped = x.reshape(*x.shape[:-2], h // kh, kh, w // kw, kw)
    return reduce(shaped, axis=(-3, -1))


def test_textbook_window_padding_and_stride(tmp_path):
    """The textbook's 4x4 input, max-pooled with a 2x3 window, padding 1x2 and stride 2x3."""
    x = np.arange(16, dtype=np.float64).reshape(4, 4)
    src = tmp_path / "x.npy"
    np.save(src, x)
    out = tmp_path / "y.npy"
    result = run("pool", src, "--size", "2x3", "--padding", "1x2", "--stride", "2x3", "-o", out)
    assert result.exit_code == 0, result.output
    # windows rows {-1,0},{1,2},{3,4}; cols {-2..0},{1..3}: maxima written out by hand
    np.testing.assert_array_equal(np.load(out), [[0, 3], [8, 11], [12, 15]])


@pytest.mark.parametrize("mode", ["max", "avg", "min"])
@pytest.mark.parametrize(
    ("size", "stride", "padding", "ceil"),
    [
        ("2", None, "0", False),
        ("3", "2", "1", False),
        ("3", "2", "1", True),
        ("2x3", "1x2", "1:0x2:1", True),
        ("2", "2", "1", True),
    ],
)
def test_matches_loop_reference(tmp_path, mode, size, stride, padding, ceil):
    """Float .npy images pool exactly as the window-by-window loop reference says."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(9, 11))
    np.save(tmp_path / "x.npy", x)
    args = ["pool", tmp_path / "x.npy", "--size", size, "--padding", padding, "--mode", mode]
    args += ["-o", tmp_path / "y.npy"]
    if stride:
        args += ["--stride", stride]
    if ceil:
        args.append("--ceil-mode")
    result = run(*args)
    assert result.exit_code == 0, result.output
    kh, kw = (int(v) for v in (size.split("x") * 2)[:2])
    sh, sw = (kh, kw) if stride is None else (int(v) for v in (stride.split("x") * 2)[:2])
    axes = [a.split(":") for a in (padding.split("x") * 2)[:2]]
    pads = (int(axes[0][0]), int(axes[0][-1]), int(axes[1][0]), int(axes[1][-1]))
    expected = pool2d_loop(x, (kh, kw), (sh, sw), pads, mode, ceil_mode=ceil)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, rtol=1e-6, atol=1e-6)


def test_gray_png_max_and_avg(tmp_path):
    """8-bit gray stays 8-bit: max is the block maximum, avg the rounded block mean."""
    x = np.random.default_rng(1).integers(0, 256, size=(12, 16), dtype=np.uint8)
    src = save_png(tmp_path / "g.png", x)
    assert run("pool", src, "--size", "2", "-o", tmp_path / "max.png").exit_code == 0
    got = load(tmp_path / "max.png")
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, blocks(x, 2, 2, np.max))
    assert (
        run("pool", src, "--size", "4x2", "--mode", "avg", "-o", tmp_path / "a.png").exit_code == 0
    )
    got = load(tmp_path / "a.png")
    np.testing.assert_array_equal(got, np.rint(blocks(x.astype(float), 4, 2, np.mean)))


def test_rgba_channels_and_alpha_pooled_alike(tmp_path):
    """Each colour channel and the alpha channel are min-pooled on their own."""
    x = np.random.default_rng(2).integers(0, 256, size=(8, 10, 4), dtype=np.uint8)
    src = save_png(tmp_path / "c.png", x)
    result = run("pool", src, "--size", "2", "--mode", "min", "-o", tmp_path / "o.png")
    assert result.exit_code == 0, result.output
    got = load(tmp_path / "o.png")
    assert got.shape == (4, 5, 4)
    for c in range(4):
        np.testing.assert_array_equal(got[..., c], blocks(x[..., c], 2, 2, np.min))


@pytest.mark.parametrize("shape", [(6, 8, 10), (2, 3, 8, 6)])
def test_channels_first_tensors(tmp_path, shape):
    """(C, H, W) with C > 4 and (N, C, H, W) .npy keep their layout, each plane pooled."""
    x = np.random.default_rng(3).normal(size=shape).astype(np.float32)
    np.save(tmp_path / "t.npy", x)
    result = run("pool", tmp_path / "t.npy", "--size", "2", "-o", tmp_path / "p.npy")
    assert result.exit_code == 0, result.output
    got = np.load(tmp_path / "p.npy")
    np.testing.assert_array_equal(got, blocks(x, 2, 2, np.max))


@pytest.mark.parametrize("flag", [[], ["--channels-first"]])
def test_every_3d_npy_is_channels_first(tmp_path, flag):
    """A (3, 8, 4) array is (C, H, W), as every 3-D .npy; the old flag changes nothing."""
    x = np.random.default_rng(4).normal(size=(3, 8, 4))
    np.save(tmp_path / "t.npy", x)
    result = run("pool", tmp_path / "t.npy", "--size", "2", *flag, "-o", tmp_path / "p.npy")
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), blocks(x, 2, 2, np.max))


def test_pipeline_stdin_to_stdout():
    """PNG bytes on stdin come out pooled as PNG bytes on stdout."""
    x = np.random.default_rng(5).integers(0, 256, size=(6, 6), dtype=np.uint8)
    buf = io.BytesIO()
    PIL.Image.fromarray(x).save(buf, format="PNG")
    result = run("pool", "-", "--size", "3", "-o", "-", input=buf.getvalue())
    assert result.exit_code == 0, result.stderr
    got = load(io.BytesIO(result.stdout_bytes))
    np.testing.assert_array_equal(got, blocks(x, 3, 3, np.max))


def test_batch_to_out_dir(tmp_path):
    """Two inputs with --out-dir give two outputs named after them."""
    rng = np.random.default_rng(6)
    a = save_png(tmp_path / "a.png", rng.integers(0, 256, (4, 4), dtype=np.uint8))
    b = save_png(tmp_path / "b.png", rng.integers(0, 256, (4, 4), dtype=np.uint8))
    result = run("pool", a, b, "--size", "2", "--out-dir", tmp_path / "out", "-q")
    assert result.exit_code == 0, result.output
    for src in (a, b):
        got = load(tmp_path / "out" / src.name)
        np.testing.assert_array_equal(got, blocks(load(src), 2, 2, np.max))


def test_float_npy_image_to_png_scaled(tmp_path):
    """A float image in 0..1 written to PNG is scaled to 0..255."""
    x = np.array([[0.0, 0.2], [1.0, 0.4]])
    np.save(tmp_path / "f.npy", x)
    result = run("pool", tmp_path / "f.npy", "--size", "2", "-o", tmp_path / "f.png")
    assert result.exit_code == 0, result.output
    assert load(tmp_path / "f.png").tolist() == [[255]]


# ------------------------------------------------------------------ errors


@pytest.fixture
def png(tmp_path):
    return save_png(tmp_path / "in.png", np.zeros((4, 4), dtype=np.uint8))


def test_error_existing_output(tmp_path, png):
    """An existing output is refused without --overwrite (exit 1) and replaced with it."""
    out = tmp_path / "o.png"
    out.write_bytes(b"keep")
    result = run("pool", png, "--size", "2", "-o", out)
    assert result.exit_code == 1
    assert result.stderr == f"Error: {out} exists; pass --overwrite to replace it\n"
    assert out.read_bytes() == b"keep"
    assert run("pool", png, "--size", "2", "-o", out, "--overwrite").exit_code == 0


def test_error_output_is_input(png):
    """Writing over the input is refused (exit 1)."""
    result = run("pool", png, "--size", "2", "-o", png, "--overwrite")
    assert result.exit_code == 1
    assert "is the input; convcli never overwrites an input" in result.stderr


def test_error_missing_size(png, tmp_path):
    """--size is required (usage error, exit 2)."""
    result = run("pool", png, "-o", tmp_path / "o.png")
    assert result.exit_code == 2
    assert "Missing option '--size'" in result.stderr


@pytest.mark.parametrize("word", ["same", "full"])
def test_error_padding_word(png, tmp_path, word):
    """Pooling takes numeric padding only (exit 2)."""
    result = run("pool", png, "--size", "2", "--padding", word, "-o", tmp_path / "o.png")
    assert result.exit_code == 2
    assert f"pooling takes numeric padding (N, HxW, before:after), not '{word}'" in result.stderr


def test_error_padding_leaves_window_empty(png, tmp_path):
    """Padding as wide as the window leaves a window without a real cell (exit 1)."""
    result = run("pool", png, "--size", "2", "--padding", "2", "-o", tmp_path / "o.png")
    assert result.exit_code == 1
    assert "leaves the first window with no real cell" in result.stderr


def test_error_window_larger_than_input(png, tmp_path):
    """A window larger than the padded input is an error with the formula (exit 1)."""
    result = run("pool", png, "--size", "9", "-o", tmp_path / "o.png")
    assert result.exit_code == 1
    assert "the 9-wide window is larger than the padded input (4)" in result.stderr


def test_error_bad_size(png, tmp_path):
    """A malformed --size is a usage error (exit 2)."""
    result = run("pool", png, "--size", "2y3", "-o", tmp_path / "o.png")
    assert result.exit_code == 2
    assert "'2y3' is not a whole number" in result.stderr


def test_error_tensor_to_image_format(tmp_path):
    """A 6-channel tensor cannot become a PNG (exit 1), and the error says why."""
    np.save(tmp_path / "t.npy", np.zeros((6, 4, 8)))
    result = run("pool", tmp_path / "t.npy", "--size", "2", "-o", tmp_path / "t.png")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"Error: {tmp_path / 't.npy'}: array of shape (6, 4, 8) is not an image (.npy arrays "
        "are channels first: (H, W) or (C, H, W) with C from 1 to 4"
    )
    assert len(result.stderr.splitlines()) == 1


def test_error_missing_input(tmp_path):
    """A missing input names the file: a bad argument, as click's Path(exists=True) (exit 2)."""
    result = run("pool", tmp_path / "nope.png", "--size", "2", "-o", tmp_path / "o.png")
    assert result.exit_code == 2
    assert "nope.png: no such file" in result.stderr


def test_error_batch_without_out_dir(tmp_path, png):
    """Several inputs need --out-dir (exit 2)."""
    result = run("pool", png, png, "--size", "2", "-o", tmp_path / "o.png")
    assert result.exit_code == 2


def test_help_has_example():
    """--help explains the command and shows an Example block."""
    result = run("pool", "--help")
    assert result.exit_code == 0
    assert (
        "Example:\n    convcli pool sample_images/camera.png --size 4 -o small.png" in result.stdout
    )
    for option in ("--size", "--stride", "--padding", "--mode", "--ceil-mode", "--out-dir"):
        assert option in result.stdout


@pytest.mark.parametrize("threads", ["1", "3"])
def test_threads_option_changes_nothing_but_the_cores(threads, tmp_path):
    """--threads N pools exactly as the default does (max pooling is exact)."""
    x = np.random.default_rng(20).standard_normal((1, 2, 40, 30)).astype(np.float32)
    src = tmp_path / "x.npy"
    np.save(src, x)
    out = tmp_path / "o.npy"
    result = CliRunner().invoke(
        cli, ["pool", str(src), "--size", "2", "--threads", threads, "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    expected = x.reshape(1, 2, 20, 2, 15, 2).max(axis=(3, 5))
    np.testing.assert_array_equal(np.load(out), expected)


def test_error_half_a_pair_quotes_the_whole_value(png, tmp_path):
    """``--size 3x`` names the value typed, not only its empty half (it said ``''``)."""
    result = run("pool", png, "--size", "3x", "-o", tmp_path / "o.png")
    assert result.exit_code == 2
    assert "'3x': '' is not a whole number" in result.stderr


def test_a_tensor_is_read_by_the_one_npy_reader(tmp_path):
    """A short file, a big-endian one and a Fortran-ordered one, as kernels/npy.py reads them."""
    x = np.arange(48, dtype=">f4").reshape(2, 4, 6)
    np.save(tmp_path / "be.npy", x)
    result = run("pool", tmp_path / "be.npy", "--size", "2", "-o", tmp_path / "be-p.npy")
    assert result.exit_code == 0, result.output
    expected = blocks(x.astype(np.float32), 2, 2, np.max)
    np.testing.assert_array_equal(np.load(tmp_path / "be-p.npy"), expected)
    np.save(tmp_path / "f.npy", np.asfortranarray(x[0]))
    result = run("pool", tmp_path / "f.npy", "--size", "2", "-o", tmp_path / "f-p.npy")
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(np.load(tmp_path / "f-p.npy"), expected[0])
    (tmp_path / "short.npy").write_bytes((tmp_path / "be.npy").read_bytes()[:-8])
    result = run("pool", tmp_path / "short.npy", "--size", "2", "-o", tmp_path / "s.npy")
    assert result.exit_code == 1
    assert "short.npy: not a readable .npy array (truncated: shape (2, 4, 6)" in result.output
    assert not (tmp_path / "s.npy").exists()
