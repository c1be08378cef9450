"""`convcli filter` end to end: kernels, image kinds, ranges, pipelines, batches, errors.

Outputs are decoded with numpy / Pillow directly (never with convcli) and
compared with scipy.ndimage on the same pixels, with kernel matrices written
out here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from click.testing import CliRunner
from helpers import load, run
from scipy import ndimage as ndi

from convcli.cli import cli

ROOT = Path(__file__).resolve().parent.parent
CAMERA = ROOT / "sample_images" / "camera.png"


@pytest.fixture
def photo(tmp_path) -> tuple[Path, np.ndarray]:
    """A 40x50 float64 crop of camera.png saved as .npy, and its values."""
    with PIL.Image.open(CAMERA) as im:
        values = np.asarray(im, dtype=np.float64)[200:240, 200:250]
    path = tmp_path / "photo.npy"
    np.save(path, values)
    return path, values


# Kernels written out as CONVENTIONS.md defines them (correlation form).
WRITTEN_OUT = {
    "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "edge": [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
    "edge-x": [[1, -1]],
    "edge-y": [[1], [-1]],
    "laplacian": [[0, 1, 0], [1, -4, 1], [0, 1, 0]],
    "laplacian8": [[1, 1, 1], [1, -8, 1], [1, 1, 1]],
    "sobel-x": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "sobel-y": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    "scharr-x": [[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]],
    "scharr-y": [[-3, -10, -3], [0, 0, 0], [3, 10, 3]],
    "prewitt-x": [[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]],
    "prewitt-y": [[-1, -1, -1], [0, 0, 0], [1, 1, 1]],
    "emboss": [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]],
    "box:3": np.full((3, 3), 1 / 9),
    "blur:5": np.full((5, 5), 1 / 25),
    "diff:order=2,axis=x": [[1, -2, 1]],
    "diff:order=3,axis=y": [[1], [-3], [3], [-1]],
    "motion:length=5,angle=0": [[0.2, 0.2, 0.2, 0.2, 0.2]],
}


def _scipy_same(values, k):
    """scipy's 'same' correlation with reflect (its 'mirror') and convcli's even-kernel split."""
    k = np.asarray(k, dtype=np.float64)
    origin = [-1 if n % 2 == 0 else 0 for n in k.shape]
    return ndi.correlate(values, k, mode="mirror", origin=origin)


@pytest.mark.parametrize("name", sorted(WRITTEN_OUT))
def test_named_kernel_matches_scipy(name, photo, tmp_path):
    """Each fixed named kernel gives scipy.ndimage.correlate with its written-out matrix."""
    path, values = photo
    out = tmp_path / "out.npy"
    result = run("filter", path, "-k", name, "-o", out)
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(
        load(out), _scipy_same(values, WRITTEN_OUT[name]), rtol=1e-5, atol=1e-3
    )


@pytest.mark.parametrize(
    ("name", "pair"),
    [
        ("sobel", ("sobel-x", "sobel-y")),
        ("scharr", ("scharr-x", "scharr-y")),
        ("prewitt", ("prewitt-x", "prewitt-y")),
    ],
)
def test_gradient_magnitudes(name, pair, photo, tmp_path):
    """sobel/scharr/prewitt are sqrt(gx² + gy²) of their pair (scipy's sobel/prewitt for two)."""
    path, values = photo
    out = tmp_path / "out.npy"
    assert run("filter", path, "-k", name, "-o", out).exit_code == 0
    gx = _scipy_same(values, WRITTEN_OUT[pair[0]])
    gy = _scipy_same(values, WRITTEN_OUT[pair[1]])
    np.testing.assert_allclose(load(out), np.hypot(gx, gy), rtol=1e-5, atol=1e-3)
    if name in ("sobel", "prewitt"):
        func = getattr(ndi, name)
        magnitude = np.hypot(
            func(values, axis=1, mode="mirror"), func(values, axis=0, mode="mirror")
        )
        np.testing.assert_allclose(load(out), magnitude, rtol=1e-5, atol=1e-3)


def test_gaussian_matches_scipy_gaussian_filter(photo, tmp_path):
    """gaussian:sigma=1.5 equals scipy.ndimage.gaussian_filter (truncate 4, radius 6)."""
    path, values = photo
    out = tmp_path / "g.npy"
    assert run("filter", path, "-k", "gaussian:sigma=1.5", "-o", out).exit_code == 0
    np.testing.assert_allclose(
        load(out),
        ndi.gaussian_filter(values, 1.5, mode="mirror", truncate=4.0),
        rtol=1e-5,
        atol=1e-3,
    )


def test_gaussian_size_only_uses_opencv_sigma_rule(photo, tmp_path):
    """gaussian:size=7 has sigma = 0.3*((7-1)/2 - 1) + 0.8 = 1.4 and a 7-tap support."""
    path, values = photo
    out = tmp_path / "g.npy"
    assert run("filter", path, "-k", "gaussian:size=7", "-o", out).exit_code == 0
    x = np.arange(-3, 4)
    g = np.exp(-(x**2) / (2 * 1.4**2))
    g /= g.sum()
    np.testing.assert_allclose(load(out), _scipy_same(values, np.outer(g, g)), rtol=1e-5, atol=1e-3)


def test_unsharp_and_log(photo, tmp_path):
    """unsharp is x + amount*(x - G_sigma x); log has scipy gaussian_laplace's sign and sums to 0."""
    path, values = photo
    out = tmp_path / "u.npy"
    assert run("filter", path, "-k", "unsharp:amount=1.5,sigma=1", "-o", out).exit_code == 0
    blur = ndi.gaussian_filter(values, 1.0, mode="mirror", truncate=4.0)
    np.testing.assert_allclose(load(out), values + 1.5 * (values - blur), rtol=1e-5, atol=1e-3)
    out = tmp_path / "log.npy"
    assert run("filter", path, "-k", "log:sigma=2", "-o", out).exit_code == 0
    got = load(out)
    ref = ndi.gaussian_laplace(values, 2.0, mode="mirror")
    # same sign and nearly the same values (convcli shifts the kernel to sum exactly 0)
    inner = (slice(10, -10), slice(10, -10))
    assert np.corrcoef(got[inner].ravel(), ref[inner].ravel())[0, 1] > 0.99


def test_chain_applies_in_order(photo, tmp_path):
    """-k gaussian:5 -k laplacian equals the laplacian of the gaussian-blurred image."""
    path, values = photo
    out = tmp_path / "c.npy"
    assert run("filter", path, "-k", "box:3", "-k", "laplacian", "-o", out).exit_code == 0
    np.testing.assert_allclose(
        load(out),
        _scipy_same(_scipy_same(values, WRITTEN_OUT["box:3"]), WRITTEN_OUT["laplacian"]),
        rtol=1e-5,
        atol=1e-3,
    )


def test_user_kernels_inline_file_and_formats(photo, tmp_path):
    """Inline matrices, ImageMagick strings and text files with scale= give the same Sobel."""
    path, values = photo
    expected = _scipy_same(values, WRITTEN_OUT["sobel-x"])
    kfile = tmp_path / "k.txt"
    kfile.write_text("# sobel x, doubled then halved\nscale=1/2\n-2 0 2\n-4 0 4\n-2 0 2\n")
    for spec in [
        "-1,0,1;-2,0,2;-1,0,1",
        "[[-1,0,1],[-2,0,2],[-1,0,1]]",
        "3x3: -1,0,1,-2,0,2,-1,0,1",
        str(kfile),
    ]:
        out = tmp_path / "k.npy"
        result = run("filter", path, "-k", spec, "-o", out, "--overwrite")
        assert result.exit_code == 0, (spec, result.output)
        np.testing.assert_allclose(load(out), expected, rtol=1e-5, atol=1e-3, err_msg=spec)


def test_shipped_kernel_files_work(photo, tmp_path):
    """Every file in the repository's kernels/ folder filters an image."""
    path, _ = photo
    files = [
        p
        for p in (ROOT / "kernels").iterdir()
        if p.suffix in (".txt", ".csv", ".npy", ".json", ".mat")
    ]
    assert files
    for kfile in files:
        out = tmp_path / f"{kfile.stem}.npy"
        result = run("filter", path, "-k", kfile, "-o", out)
        assert result.exit_code == 0, (kfile, result.output)


def test_convolve_flips_and_options(photo, tmp_path):
    """--convolve equals scipy.ndimage.convolve; --stride, --padding valid, --bias, --repeat work."""
    path, values = photo
    k = "1,2,0;0,0,0;0,0,-1"
    kk = np.array([[1, 2, 0], [0, 0, 0], [0, 0, -1]], dtype=float)
    out = tmp_path / "a.npy"
    assert run("filter", path, "-k", k, "--convolve", "-o", out).exit_code == 0
    np.testing.assert_allclose(
        load(out), ndi.convolve(values, kk, mode="mirror"), rtol=1e-5, atol=1e-3
    )
    out = tmp_path / "b.npy"
    args = (
        "filter",
        path,
        "-k",
        k,
        "--padding",
        "valid",
        "--stride",
        "2",
        "--bias",
        "5",
        "-o",
        out,
    )
    assert run(*args).exit_code == 0
    np.testing.assert_allclose(
        load(out), _scipy_same(values, kk)[1:-1:2, 1:-1:2] + 5, rtol=1e-5, atol=1e-3
    )
    out = tmp_path / "c.npy"
    assert run("filter", path, "-k", "box:3", "--repeat", "2", "-o", out).exit_code == 0
    box = WRITTEN_OUT["box:3"]
    np.testing.assert_allclose(
        load(out), _scipy_same(_scipy_same(values, box), box), rtol=1e-5, atol=1e-3
    )


@pytest.mark.parametrize("mode", ["zeros", "symmetric", "replicate", "circular"])
def test_pad_modes(mode, photo, tmp_path):
    """--pad-mode maps onto scipy's modes: zeros=constant, symmetric=reflect, replicate=nearest."""
    path, values = photo
    scipy_mode = {
        "zeros": "constant",
        "symmetric": "reflect",
        "replicate": "nearest",
        "circular": "wrap",
    }[mode]
    out = tmp_path / "p.npy"
    assert run("filter", path, "-k", "sobel-x", "--pad-mode", mode, "-o", out).exit_code == 0
    expected = ndi.correlate(values, np.array(WRITTEN_OUT["sobel-x"], float), mode=scipy_mode)
    np.testing.assert_allclose(load(out), expected, rtol=1e-5, atol=1e-3)


# ----------------------------------------------------------------- value ranges
def test_ranges_on_uint8(gray_png, tmp_path):
    """auto stretches |r| of zero-sum kernels; abs, clip, offset and normalize map as documented."""
    raw = _scipy_same(gray_png.pixels.astype(float), WRITTEN_OUT["laplacian"])
    expect = {
        "auto": np.clip(np.abs(raw) * 255 / np.percentile(np.abs(raw), 99), 0, 255),
        "abs": np.clip(np.abs(raw), 0, 255),
        "clip": np.clip(raw, 0, 255),
        "offset": np.clip(raw + 128, 0, 255),
        "normalize": (raw - raw.min()) * 255 / (raw.max() - raw.min()),
    }
    for mode, expected in expect.items():
        out = tmp_path / f"{mode}.png"
        args = ["filter", gray_png.path, "-k", "laplacian", "-o", out]
        if mode != "auto":
            args += ["--range", mode]
        assert run(*args).exit_code == 0
        got = load(out)
        assert got.dtype == np.uint8
        assert got.shape == gray_png.pixels.shape
        np.testing.assert_allclose(got, np.rint(expected), atol=1, err_msg=mode)


def test_auto_clips_non_zero_sum_kernel(gray_png, tmp_path):
    """A blur (sum 1) under auto is clipped, i.e. just rounded: same as scipy's result."""
    out = tmp_path / "b.png"
    assert run("filter", gray_png.path, "-k", "box:3", "-o", out).exit_code == 0
    expected = _scipy_same(gray_png.pixels.astype(float), WRITTEN_OUT["box:3"])
    np.testing.assert_allclose(load(out), np.rint(expected), atol=1)


def test_raw_float_tiff(gray_png, tmp_path):
    """--range raw to .tif writes float32 values in pixel units, negatives kept."""
    out = tmp_path / "raw.tif"
    assert run("filter", gray_png.path, "-k", "sobel-x", "--range", "raw", "-o", out).exit_code == 0
    got = load(out)
    assert got.dtype == np.float32
    expected = _scipy_same(gray_png.pixels.astype(float), WRITTEN_OUT["sobel-x"])
    np.testing.assert_allclose(got, expected, atol=1e-3)
    assert got.min() < 0


# ----------------------------------------------------------------- image kinds
def test_rgb_is_filtered_per_channel(rgb_png, tmp_path):
    """Each RGB channel is filtered on its own with the same kernel."""
    out = tmp_path / "o.png"
    assert run("filter", rgb_png.path, "-k", "box:3", "-o", out).exit_code == 0
    got = load(out)
    assert got.shape == rgb_png.pixels.shape
    for c in range(3):
        expected = _scipy_same(rgb_png.pixels[..., c].astype(float), WRITTEN_OUT["box:3"])
        np.testing.assert_allclose(got[..., c], np.rint(expected), atol=1)


def test_rgba_alpha_carried_through(rgba_png, tmp_path):
    """Alpha is kept unfiltered by default and filtered with --alpha filter."""
    out = tmp_path / "o.png"
    assert run("filter", rgba_png.path, "-k", "box:3", "-o", out).exit_code == 0
    got = load(out)
    assert got.shape[-1] == 4
    np.testing.assert_array_equal(got[..., 3], rgba_png.alpha)
    out2 = tmp_path / "o2.png"
    assert (
        run("filter", rgba_png.path, "-k", "box:3", "--alpha", "filter", "-o", out2).exit_code == 0
    )
    expected = _scipy_same(rgba_png.alpha.astype(float), WRITTEN_OUT["box:3"])
    np.testing.assert_allclose(load(out2)[..., 3], np.rint(expected), atol=1)


def test_premultiply_stops_hidden_colour_bleeding(tmp_path):
    """With --alpha premultiply, red hidden under alpha 0 does not tint the visible blue."""
    rgba = np.zeros((9, 9, 4), dtype=np.uint8)
    rgba[:, :4] = (255, 0, 0, 0)  # invisible red
    rgba[:, 4:] = (0, 0, 255, 255)  # opaque blue
    src = tmp_path / "a.png"
    PIL.Image.fromarray(rgba, "RGBA").save(src)
    plain, pre = tmp_path / "plain.png", tmp_path / "pre.png"
    assert run("filter", src, "-k", "box:3", "--alpha", "filter", "-o", plain).exit_code == 0
    assert run("filter", src, "-k", "box:3", "--alpha", "premultiply", "-o", pre).exit_code == 0
    assert load(plain)[4, 4, 0] > 50  # red bled into the visible edge
    assert load(pre)[4, 4, 0] == 0
    assert load(pre)[4, 4, 2] == 255


def test_valid_padding_crops_alpha_with_colour(rgba_png, tmp_path):
    """Under valid padding alpha is cropped exactly like the colour channels."""
    out = tmp_path / "o.png"
    assert (
        run("filter", rgba_png.path, "-k", "box:3", "--padding", "valid", "-o", out).exit_code == 0
    )
    got = load(out)
    assert got.shape == (10, 14, 4)
    np.testing.assert_array_equal(got[..., 3], rgba_png.alpha[1:-1, 1:-1])


def test_gray_filters_luminance(rgb_png, tmp_path):
    """--gray filters the BT.601 luminance and writes a grayscale image."""
    out = tmp_path / "g.png"
    assert run("filter", rgb_png.path, "-k", "identity", "--gray", "-o", out).exit_code == 0
    got = load(out)
    assert got.ndim == 2
    luma = rgb_png.pixels.astype(float) @ [0.299, 0.587, 0.114]
    np.testing.assert_allclose(got, np.rint(luma), atol=1)


def test_palette_16bit_jpeg_exif(palette_png, gray16_png, rgb_jpeg, exif6_png, tmp_path):
    """Palette converts to RGB; 16-bit stays 16-bit; JPEG reads; EXIF rotation is applied."""
    out = tmp_path / "p.png"
    assert run("filter", palette_png.path, "-k", "identity", "-o", out).exit_code == 0
    np.testing.assert_array_equal(load(out), palette_png.pixels)
    out = tmp_path / "16.png"
    assert run("filter", gray16_png.path, "-k", "box:3", "-o", out).exit_code == 0
    got = load(out)
    assert got.dtype.itemsize == 2 or got.dtype == np.int32  # Pillow decodes I;16 as uint16
    expected = _scipy_same(gray16_png.pixels.astype(float), WRITTEN_OUT["box:3"])
    np.testing.assert_allclose(got.astype(float), np.rint(expected), atol=1)
    out = tmp_path / "j.png"
    assert run("filter", rgb_jpeg.path, "-k", "identity", "-o", out).exit_code == 0
    np.testing.assert_allclose(load(out), rgb_jpeg.pixels, atol=rgb_jpeg.tolerance)
    out = tmp_path / "e.png"
    assert run("filter", exif6_png.path, "-k", "identity", "-o", out).exit_code == 0
    np.testing.assert_array_equal(load(out), exif6_png.pixels)


def test_gif_first_frame_is_said_on_stderr(animated_gif, tmp_path):
    """An animated GIF filters its first frame and says so on stderr."""
    out = tmp_path / "g.png"
    result = run("filter", animated_gif.path, "-k", "identity", "-o", out)
    assert result.exit_code == 0
    assert "first" in result.stderr
    assert result.stdout == ""
    np.testing.assert_array_equal(load(out), animated_gif.pixels)


@pytest.mark.parametrize("fmt", ["png", "jpg", "tif", "bmp", "webp", "gif", "ppm", "npy"])
def test_output_formats_by_extension(fmt, rgb_png, tmp_path):
    """The output format follows the extension (or --format), and the result decodes."""
    out = tmp_path / f"o.{fmt}"
    result = run("filter", rgb_png.path, "-k", "identity", "-o", out)
    assert result.exit_code == 0, result.output
    got = load(out)
    assert got.shape[:2] == rgb_png.pixels.shape[:2]
    out2 = tmp_path / "o.bin"
    assert (
        run("filter", rgb_png.path, "-k", "identity", "-o", out2, "--format", "png").exit_code == 0
    )
    with PIL.Image.open(out2) as im:
        assert im.format == "PNG"


# ----------------------------------------------------------------- pipelines
def _cli(*args, stdin=None):
    return subprocess.run(
        [sys.executable, "-m", "convcli", *map(str, args)],
        input=stdin,
        capture_output=True,
        check=False,
        cwd=ROOT,
    )


def test_pipeline_through_stdin_and_stdout(tmp_path):
    """cat a.jpg | convcli filter - -k blur -o - | convcli filter - -k sobel -o out.png works."""
    src = (ROOT / "sample_images" / "rocket.jpg").read_bytes()
    first = _cli("filter", "-", "-k", "blur", "-o", "-", stdin=src)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(b"\x89PNG")
    out = tmp_path / "out.png"
    second = _cli("filter", "-", "-k", "sobel", "-o", out, stdin=first.stdout)
    assert second.returncode == 0, second.stderr
    with PIL.Image.open(ROOT / "sample_images" / "rocket.jpg") as im:
        assert load(out).shape == (im.height, im.width, 3)


def test_stdout_with_format_and_clirunner(gray_png):
    """-o - --format npy writes an .npy stream; stdout carries only the data."""
    result = CliRunner().invoke(
        cli, ["filter", str(gray_png.path), "-k", "identity", "-o", "-", "--format", "npy"]
    )
    assert result.exit_code == 0
    assert result.stdout_bytes.startswith(b"\x93NUMPY")
    assert result.stderr == ""


# ----------------------------------------------------------------- batches
def test_batch_with_one_broken_file(gray_png, rgb_png, truncated_png, tmp_path):
    """A batch writes every good file, reports the broken one, and exits 1."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    result = run(
        "filter", gray_png.path, truncated_png, rgb_png.path, "-k", "sobel", "--out-dir", out_dir
    )
    assert result.exit_code == 1
    assert sorted(p.name for p in out_dir.iterdir()) == ["gray.png", "rgb.png"]
    assert "truncated" in result.stderr
    assert "1 of 3 files failed" in result.stderr


def test_directory_input_and_jobs(tmp_path, gray_png, rgb_png):
    """A directory input filters every image in it, in parallel with --jobs 2."""
    out_dir = tmp_path / "out"
    result = run(
        "filter",
        gray_png.path.parent,
        "-k",
        "box",
        "--out-dir",
        out_dir,
        "--jobs",
        "2",
        "--format",
        "png",
    )
    assert result.exit_code == 0, result.output
    assert {"gray.png", "rgb.png"} <= {p.name for p in out_dir.iterdir()}


# ----------------------------------------------------------------- never lose data
def test_never_overwrites_input_even_with_overwrite(gray_png):
    """The output may not be the input, even with --overwrite."""
    before = gray_png.path.read_bytes()
    result = run("filter", gray_png.path, "-k", "sobel", "-o", gray_png.path, "--overwrite")
    assert result.exit_code == 1
    assert "never overwrites an input" in result.stderr
    assert gray_png.path.read_bytes() == before


def test_refuses_existing_output_without_overwrite(gray_png, tmp_path):
    """An existing output is kept unless --overwrite is given."""
    out = tmp_path / "o.png"
    out.write_bytes(b"keep me")
    result = run("filter", gray_png.path, "-k", "sobel", "-o", out)
    assert result.exit_code == 1
    assert result.stderr.strip() == f"Error: {out} exists; pass --overwrite to replace it"
    assert out.read_bytes() == b"keep me"
    assert run("filter", gray_png.path, "-k", "sobel", "-o", out, "--overwrite").exit_code == 0
    assert load(out).shape == gray_png.pixels.shape


def test_no_partial_file_after_failure(gray_png, tmp_path):
    """A failure while filtering (kernel too large under valid) leaves no file behind."""
    out = tmp_path / "o.png"
    result = run("filter", gray_png.path, "-k", "box:31", "--padding", "valid", "-o", out)
    assert result.exit_code == 1
    assert not out.exists()
    assert os.listdir(tmp_path) == [gray_png.path.name]


# ----------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["missing.png", "-k", "sobel", "-o", "o.png"], 2, "missing.png: no such file"),
        (["{gray}", "-k", "sobl", "-o", "o.png"], 2, "unknown kernel 'sobl'; did you mean sobel"),
        (["{gray}", "-k", "1,2;3", "-o", "o.png"], 2, "row 2 has 1 value"),
        (["{gray}", "-k", "1,nan", "-o", "o.png"], 2, "nan"),
        (["{gray}", "-k", "a,b", "-o", "o.png"], 2, "Invalid value for '--kernel'"),
        (["{gray}", "-k", "sobel", "--stride", "0", "-o", "o.png"], 2, "must be at least 1"),
        (["{gray}", "-k", "sobel", "--padding", "half", "-o", "o.png"], 2, "is not a padding"),
        (
            ["{gray}", "-k", "box:31", "--padding", "valid", "-o", "o.png"],
            1,
            "the 31-wide kernel is larger than the padded input (12)",
        ),
        (["{gray}", "{gray}", "-k", "sobel", "-o", "o.png"], 2, "--out-dir"),
        (["{gray}", "-k", "sobel", "-o", "o.xyz"], 1, "unknown image extension '.xyz'"),
        (["{gray}", "-k", "sobel", "-o", "nodir/o.png"], 1, "nodir"),
        (["{text}", "-k", "sobel", "-o", "o.png"], 1, "not an image"),
        (["{truncated}", "-k", "sobel", "-o", "o.png"], 1, "truncated"),
        (
            ["{gray}", "-k", "sobel", "--max-pixels", "100", "-o", "o.png"],
            2,
            "above the limit of 100",
        ),
        (["{gray}", "-k", "sobel", "--range", "raw", "-o", "o.png"], 2, "write .npy or .tif"),
    ],
)
def test_error_messages(args, code, message, gray_png, text_file, truncated_png, tmp_path):
    """Each error gets one line on stderr with the problem, the right exit code, no traceback."""
    subst = {
        "{gray}": str(gray_png.path),
        "{text}": str(text_file),
        "{truncated}": str(truncated_png),
    }
    args = [subst.get(a, a) for a in args]
    args = [str(tmp_path / a) if a.startswith(("o.", "nodir", "missing")) else a for a in args]
    result = run("filter", *args)
    assert result.exit_code == code, result.output
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_even_kernel_same_is_allowed(gray_png, tmp_path):
    """An even kernel under 'same' works, the extra padding going bottom/right."""
    out = tmp_path / "o.npy"
    assert run("filter", gray_png.path, "-k", "1,1;1,1", "-o", out).exit_code == 0
    x = gray_png.pixels.astype(float)
    xp = np.pad(x, ((0, 1), (0, 1)), mode="reflect")
    expected = xp[:-1, :-1] + xp[1:, :-1] + xp[:-1, 1:] + xp[1:, 1:]
    np.testing.assert_allclose(load(out), expected, atol=1e-3)


def test_refuses_image_bytes_on_a_terminal(gray_png, monkeypatch):
    """With stdout a terminal, -o - is refused instead of spraying bytes."""
    monkeypatch.setattr("convcli.images.atomic.stdout_is_terminal", lambda: True)
    result = run("filter", gray_png.path, "-k", "sobel", "-o", "-")
    assert result.exit_code == 1
    assert "refusing to write image data to a terminal" in result.stderr


def test_debug_shows_traceback(tmp_path):
    """--debug lets the exception through (a traceback) instead of one line."""
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")  # fails when read
    result = CliRunner().invoke(
        cli,
        [
            "--debug",
            "filter",
            str(tmp_path / "bad.png"),
            "-k",
            "sobel",
            "-o",
            str(tmp_path / "o.png"),
        ],
    )
    assert result.exit_code == 1
    assert result.exception is not None and not isinstance(result.exception, SystemExit)


def test_help_lists_options():
    """filter --help explains every option in one line and shows an example."""
    result = run("filter", "--help")
    assert result.exit_code == 0
    for option in [
        "--kernel",
        "--stride",
        "--padding",
        "--pad-mode",
        "--dilation",
        "--convolve",
        "--bias",
        "--repeat",
        "--gray",
        "--range",
        "--alpha",
        "--out-dir",
        "--format",
        "--overwrite",
        "--jobs",
        "--quiet",
        "--max-pixels",
    ]:
        assert option in result.stdout
    assert "Example:" in result.stdout


def test_quickstart_sobel_on_a_photo(tmp_path):
    """The README's first command gives camera.png's Sobel magnitude, stretched by
    --range auto so that its 99th percentile is white."""
    out = tmp_path / "edges.png"
    result = run("filter", CAMERA, "-k", "sobel", "-o", out)
    assert result.exit_code == 0
    edges = load(out)
    with PIL.Image.open(CAMERA) as im:
        photo = np.asarray(im, dtype=float)
    assert edges.shape == photo.shape
    expected = np.hypot(
        ndi.sobel(photo, axis=1, mode="mirror"), ndi.sobel(photo, axis=0, mode="mirror")
    )
    expected *= 255 / np.percentile(expected, 99)
    np.testing.assert_allclose(edges, np.rint(np.clip(expected, 0, 255)), atol=1)


@pytest.mark.parametrize(("alias", "scipy_mode"), [("edge", "nearest"), ("wrap", "wrap")])
def test_pad_mode_aliases(alias, scipy_mode, photo, tmp_path):
    """The README's aliases work on the command line: edge = replicate, wrap = circular."""
    path, values = photo
    out = tmp_path / "p.npy"
    assert run("filter", path, "-k", "sobel-x", "--pad-mode", alias, "-o", out).exit_code == 0
    expected = ndi.correlate(values, np.array(WRITTEN_OUT["sobel-x"], float), mode=scipy_mode)
    np.testing.assert_allclose(load(out), expected, rtol=1e-5, atol=1e-3)


def test_mirror_is_not_a_pad_mode(gray_png, tmp_path):
    """'mirror' is refused (peers disagree on it) with the list of modes."""
    result = run(
        "filter", gray_png.path, "-k", "sobel", "--pad-mode", "mirror", "-o", tmp_path / "o.png"
    )
    assert result.exit_code == 2
    assert "'mirror' is not one of" in result.stderr


def test_ctrl_c_exits_130_and_leaves_no_file(gray_png, tmp_path, monkeypatch):
    """Ctrl-C while filtering exits 130 (128 + SIGINT) and leaves no output file."""

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("convcli.images.filtering.filter_image", interrupted)
    out = tmp_path / "o.png"
    result = run("filter", gray_png.path, "-k", "sobel", "-o", out)
    assert result.exit_code == 130
    assert "Interrupted." in result.stderr
    assert not out.exists()


def test_format_that_disagrees_with_the_extension_is_noted(gray_png, tmp_path):
    """-o e.jpg --format png writes PNG and says so on stderr."""
    out = tmp_path / "e.jpg"
    result = run("filter", gray_png.path, "-k", "identity", "-o", out, "--format", "png")
    assert result.exit_code == 0
    assert "written as PNG (--format)" in result.stderr
    with PIL.Image.open(out) as im:
        assert im.format == "PNG"


def test_mistyped_command_gets_a_suggestion():
    """`convcli filtr` suggests filter (exit 2)."""
    result = run("filtr")
    assert result.exit_code == 2
    assert "No such command 'filtr'. Did you mean filter?" in result.stderr


def test_dilation_padding_forms_and_encoder_options(photo, tmp_path):
    """--dilation, --padding full / HxW, --png-compression and --jpeg-quality reach the output."""
    path, values = photo
    k = np.array(WRITTEN_OUT["sobel-x"], float)
    dilated = np.zeros((5, 5))
    dilated[::2, ::2] = k
    out = tmp_path / "d.npy"
    assert run("filter", path, "-k", "sobel-x", "--dilation", "2", "-o", out).exit_code == 0
    np.testing.assert_allclose(load(out), _scipy_same(values, dilated), rtol=1e-5, atol=1e-3)
    out = tmp_path / "f.npy"
    args = ("filter", path, "-k", "sobel-x", "--padding", "full", "--pad-mode", "zeros", "-o", out)
    assert run(*args).exit_code == 0
    full = ndi.correlate(np.pad(values, 2), k, mode="constant")[1:-1, 1:-1]
    np.testing.assert_allclose(load(out), full, rtol=1e-5, atol=1e-3)
    out = tmp_path / "p.npy"
    assert run("filter", path, "-k", "sobel-x", "--padding", "0x1", "-o", out).exit_code == 0
    assert load(out).shape == (values.shape[0] - 2, values.shape[1])
    small, big = tmp_path / "c9.png", tmp_path / "c0.png"
    for level, out in (("9", small), ("0", big)):
        args = ("filter", CAMERA, "-k", "identity", "--png-compression", level, "-o", out)
        assert run(*args).exit_code == 0
    assert small.stat().st_size < big.stat().st_size
    np.testing.assert_array_equal(load(small), load(big))
    lo, hi = tmp_path / "q10.jpg", tmp_path / "q95.jpg"
    assert run("filter", CAMERA, "-k", "identity", "--jpeg-quality", "10", "-o", lo).exit_code == 0
    assert run("filter", CAMERA, "-k", "identity", "--jpeg-quality", "95", "-o", hi).exit_code == 0
    assert lo.stat().st_size < hi.stat().st_size


def test_quiet_silences_notes(animated_gif, tmp_path):
    """--quiet drops the notes (here: GIF first frame) from stderr."""
    result = run("filter", animated_gif.path, "-k", "identity", "-o", tmp_path / "g.png", "--quiet")
    assert result.exit_code == 0
    assert result.stderr == ""


@pytest.mark.parametrize("strategy", ["auto", "direct", "separable", "fft", "im2col"])
@pytest.mark.parametrize("threads", ["1", "3"])
def test_every_strategy_and_thread_count_gives_scipys_result(strategy, threads, photo, tmp_path):
    """--strategy and --threads change how, not what: each gives scipy's Sobel-x."""
    path, values = photo
    out = tmp_path / "out.npy"
    result = run(
        "filter", path, "-k", "sobel-x", "--strategy", strategy, "--threads", threads, "-o", out
    )
    assert result.exit_code == 0, result.output
    expected = _scipy_same(values, WRITTEN_OUT["sobel-x"])
    np.testing.assert_allclose(load(out), expected, rtol=1e-5, atol=1e-3)


def test_separable_strategy_on_a_kernel_of_rank_two_is_one_clear_error(photo, tmp_path):
    """Forcing --strategy separable on a Laplacian names the kernel's rank and the way out."""
    path, _ = photo
    result = run(
        "filter", path, "-k", "laplacian", "--strategy", "separable", "-o", tmp_path / "o.npy"
    )
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {path}: strategy 'separable' needs kernels of rank 1; this 3x3 kernel is not "
        "(use 'auto', 'direct', 'fft' or 'im2col')\n"
    )
    assert not (tmp_path / "o.npy").exists()


def test_threads_option_is_passed_and_leaves_convcli_threads_alone(photo, tmp_path, monkeypatch):
    """--threads reaches the filter settings as an argument; CONVCLI_THREADS is not
    changed while the command runs, nor after it."""
    import os

    import convcli.images.filtering

    seen = []
    real = convcli.images.filtering.filter_image

    def spy(*args, **kwargs):
        seen.append((os.environ.get("CONVCLI_THREADS"), args[2].threads))
        return real(*args, **kwargs)

    monkeypatch.setattr(convcli.images.filtering, "filter_image", spy)
    monkeypatch.setenv("CONVCLI_THREADS", "5")
    path, _ = photo
    result = run("filter", path, "-k", "box:3", "--threads", "2", "-o", tmp_path / "o.png")
    assert result.exit_code == 0, result.output
    assert seen == [("5", 2)]
    assert os.environ["CONVCLI_THREADS"] == "5"


def test_strategy_choices_are_the_engines():
    """The CLI's --strategy choices (kept numpy-free for a fast --help) match the library's."""
    from convcli.cli.options import STRATEGY_CHOICES
    from convcli.engine.strategies import STRATEGIES

    assert STRATEGY_CHOICES == ("auto", *STRATEGIES)


def test_pad_mode_choices_are_the_engines_modes_and_aliases():
    """The CLI's --pad-mode choices (numpy-free) are the engine's modes plus its aliases."""
    from convcli.cli.options import PAD_MODE_CHOICES
    from convcli.engine.convolution import PAD_MODE_ALIASES, PAD_MODES

    assert len(set(PAD_MODE_CHOICES)) == len(PAD_MODE_CHOICES)
    assert set(PAD_MODE_CHOICES) == set(PAD_MODES) | set(PAD_MODE_ALIASES)
    assert PAD_MODE_CHOICES[0] == "reflect"


@pytest.mark.parametrize("alias", ["zero", "constant"])
def test_pad_mode_aliases_work_as_zeros(tmp_path, alias):
    """--pad-mode zero / constant are accepted and pad like zeros."""
    outs = []
    for mode in (alias, "zeros"):
        out = tmp_path / f"{mode}.npy"
        result = run(
            "filter", CAMERA, "-k", "box:5", "--pad-mode", mode, "--range", "raw", "-o", out
        )
        assert result.exit_code == 0, result.output
        outs.append(np.load(out))
    np.testing.assert_array_equal(outs[0], outs[1])


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--png-compression", "10", "'--png-compression': 10 is not in the range 0<=x<=9."),
        ("--png-compression", "-1", "'--png-compression': -1 is not in the range 0<=x<=9."),
        ("--jpeg-quality", "0", "'--jpeg-quality': 0 is not in the range 1<=x<=100."),
        ("--jpeg-quality", "101", "'--jpeg-quality': 101 is not in the range 1<=x<=100."),
        ("--jpeg-quality", "high", "'--jpeg-quality': 'high' is not a valid integer range."),
    ],
)
def test_encoder_option_out_of_range_is_a_usage_error(tmp_path, option, value, message):
    """Bad encoder values exit 2 with Click's one line naming the option and the range."""
    out = tmp_path / ("o.png" if "png" in option else "o.jpg")
    result = run("filter", CAMERA, "-k", "sobel", option, value, "-o", out)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == f"Error: Invalid value for {message}"
    assert not out.exists()


@pytest.mark.parametrize("level", ["0", "1", "9"])
def test_png_levels_write_the_same_pixels(rgba_png, tmp_path, level):
    """Every PNG level writes the Sobel magnitude scipy computes (clipped), with alpha kept."""
    out = tmp_path / f"l{level}.png"
    args = ["-k", "sobel", "--range", "clip", "--png-compression", level, "-o", out]
    result = run("filter", rgba_png.path, *args)
    assert result.exit_code == 0, result.output
    got = load(out)
    assert got.shape == (*rgba_png.alpha.shape, 4)
    np.testing.assert_array_equal(got[..., 3], rgba_png.alpha)
    values = rgba_png.pixels.astype(np.float64)
    magnitude = np.stack(
        [
            np.hypot(
                _scipy_same(values[..., c], WRITTEN_OUT["sobel-x"]),
                _scipy_same(values[..., c], WRITTEN_OUT["sobel-y"]),
            )
            for c in range(3)
        ],
        axis=-1,
    )
    expected = np.rint(np.clip(magnitude, 0, 255))
    assert np.abs(got[..., :3].astype(int) - expected).max() <= 1


def test_help_shows_no_empty_range():
    """--bias (a finite float with no bounds) showed '[x<=None]' in --help."""
    import subprocess

    from terminal import convcli_executable

    for command in ("filter", "learn", "conv", "pool", "gallery"):
        done = subprocess.run(
            [convcli_executable(), command, "--help"], capture_output=True, text=True, check=True
        )
        assert "None" not in done.stdout, (command, done.stdout)


JOBS2 = ("--out-dir", "out", "--jobs", "2", "-q")


def test_jobs_batch_in_chunks_writes_every_file_right(tmp_path):
    """70 files through 2 workers in chunks: each output is its own input's Sobel x, one broken file
    is reported by name, and no result lands under another file's name."""
    from convcli.cli.processes import batch_chunksize

    assert batch_chunksize(70, 2) == 2  # so the workers really take chunks here
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(22)
    images = {}
    for i in range(70):
        px = rng.integers(0, 256, (9, 11), dtype=np.uint8)
        images[f"f{i:02d}.png"] = px
        PIL.Image.fromarray(px).save(src / f"f{i:02d}.png")
    (src / "f35.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)  # broken
    del images["f35.png"]
    out = tmp_path / "out"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "convcli",
            "filter",
            "in",
            "-k",
            "sobel-x",
            "--range",
            "clip",
            *JOBS2,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "f35.png" in result.stderr and "1 of 70 files failed" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(images)
    kx = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], float)
    for name, px in images.items():
        want = np.clip(np.rint(ndi.correlate(px.astype(float), kx, mode="mirror")), 0, 255)
        got = np.asarray(PIL.Image.open(out / name))
        np.testing.assert_array_equal(got, want.astype(np.uint8), err_msg=name)


def test_a_worker_computes_on_its_share_of_the_cores(monkeypatch):
    """A batch worker sets CONVCLI_THREADS to its share unless the user set it."""
    from convcli.cli import processes

    monkeypatch.setattr("convcli.cli.signals.worker_signals", lambda: None)
    monkeypatch.delenv("CONVCLI_THREADS", raising=False)
    monkeypatch.setattr(processes, "_WORKER_TASK", None)
    processes.start_worker(len, 1)
    assert os.environ["CONVCLI_THREADS"] == "1"
    assert processes._WORKER_TASK is len
    monkeypatch.setenv("CONVCLI_THREADS", "3")
    processes.start_worker(len, 1)
    assert os.environ["CONVCLI_THREADS"] == "3"


def test_batch_rerun_names_skip_existing_and_overwrite(gray_png, rgb_png, tmp_path):
    """Rerunning a batch into the same --out-dir says how to resume or replace it."""
    out_dir = tmp_path / "out"
    args = ["filter", gray_png.path, rgb_png.path, "-k", "sobel", "--out-dir", out_dir]
    assert run(*args).exit_code == 0
    before = {p.name: p.read_bytes() for p in out_dir.iterdir()}
    for jobs in ("1", "2"):
        result = run(*args, "--jobs", jobs)
        assert result.exit_code == 1
        assert "2 of 2 files failed" in result.stderr
        assert "--skip-existing keeps the complete ones" in result.stderr
        assert "--overwrite replaces them" in result.stderr
    assert {p.name: p.read_bytes() for p in out_dir.iterdir()} == before
    assert run(*args, "--skip-existing").exit_code == 0


def test_batch_failure_without_existing_outputs_has_no_rerun_hint(
    gray_png, truncated_png, tmp_path
):
    """A file that fails for another reason gets no hint about existing outputs."""
    result = run("filter", gray_png.path, truncated_png, "-k", "sobel", "--out-dir", tmp_path / "o")
    assert result.exit_code == 1
    assert "1 of 2 files failed" in result.stderr
    assert "--skip-existing" not in result.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CONVCLI_ENGINE", "bogus"),
        ("CONVCLI_NATIVE_ISA", "sse9"),
        ("CONVCLI_THREADS", "0"),
        ("CONVCLI_THREADS", "abc"),
    ],
)
def test_a_bad_engine_variable_is_one_usage_error_before_any_file(
    tmp_path, monkeypatch, name, value
):
    """A mistyped engine variable is the user's setting, not each image's fault:
    one message, exit 2, and nothing read or written (not N "files failed")."""
    from convcli.engine import native

    pytest.importorskip("convcli.engine._native", reason="native extension not built")
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        PIL.Image.fromarray(np.full((8, 9), 40 * i, np.uint8)).save(folder / f"{i}.png")
    monkeypatch.setenv(name, value)
    native.reset()
    try:
        result = run("filter", folder, "-k", "sobel", "--out-dir", tmp_path / "out")
    finally:
        monkeypatch.delenv(name)
        native.reset()
    assert result.exit_code == 2, result.output
    assert result.output.count(name) == 1, result.output
    assert "failed" not in result.output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize(
    ("name", "value"),
    [("CONVCLI_ENGINE", "bogus"), ("CONVCLI_NATIVE_ISA", "sse9"), ("CONVCLI_THREADS", "0")],
)
@pytest.mark.parametrize("command", ["filter", "pool", "gallery"])
def test_a_bad_engine_variable_is_a_usage_error_for_one_image_too(
    tmp_path, monkeypatch, name, value, command
):
    """The installed command, one image: exit 2, the variable named, not blamed on the file."""
    pytest.importorskip("convcli.engine._native", reason="native extension not built")
    from terminal import convcli_executable

    src = tmp_path / "in.png"
    PIL.Image.fromarray(np.full((16, 17), 90, np.uint8)).save(src)
    args = {
        "filter": ["filter", "in.png", "-k", "sobel", "-o", "out.png"],
        "pool": ["pool", "in.png", "--size", "2", "-o", "out.png"],
        "gallery": ["gallery", "in.png", "-o", "out.png"],
    }[command]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVCLI_")}
    env[name] = value
    proc = subprocess.run(
        [convcli_executable(), *args], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert proc.returncode == 2, proc.stderr
    assert name in proc.stderr
    assert "in.png:" not in proc.stderr
    assert not (tmp_path / "out.png").exists()
