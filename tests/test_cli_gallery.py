"""`convcli gallery`: the sheet's size, its tiles and labels, and error paths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from helpers import run

from convcli.teaching.gallery import DEFAULT_GALLERY

BG = 255
ROOT = Path(__file__).resolve().parent.parent


def load(path):
    """Decode an image file into an array (closing the file)."""
    with PIL.Image.open(path) as im:
        im.load()
        return np.asarray(im)


def mode_of(path):
    with PIL.Image.open(path) as im:
        return im.mode


def bands(sheet, axis, gap=8):
    """Tiles along an axis: the blank (all-background) runs at least ``gap`` long, minus one."""
    blank = (sheet == BG).all(axis=axis).astype(int)
    edges = np.diff(np.concatenate([[0], blank, [0]]))
    starts, ends = np.where(edges == 1)[0], np.where(edges == -1)[0]
    return int(np.sum(ends - starts >= gap)) - 1


@pytest.fixture
def photo(tmp_path):
    """A 48x64 gray image with no pure-white pixel, so the background shows the layout."""
    x = np.random.default_rng(41).integers(0, 200, size=(48, 64), dtype=np.uint8)
    path = tmp_path / "p.png"
    PIL.Image.fromarray(x).save(path)
    return path


def expected_size(count, columns, tile, tile_h, gap=8):
    """The documented layout: columns·(tile + gap) + gap by rows·(tile_h + label + gap) + gap."""
    label = max(12, tile // 12) + 6
    rows = -(-count // columns)
    return rows * (tile_h + label + gap) + gap, columns * (tile + gap) + gap


def test_default_sheet_size_and_tile_count(photo, tmp_path):
    """The default set gives input + 11 tiles on a 4-column grid of the documented size."""
    out = tmp_path / "sheet.png"
    result = run("gallery", photo, "-o", out, "--tile", "64")
    assert result.exit_code == 0, result.output
    sheet = load(out)
    count = len(DEFAULT_GALLERY) + 1
    assert count == 12
    assert sheet.shape == expected_size(count, 4, 64, 48)
    # tiles are separated by blank gaps: 3 rows of 4
    assert bands(sheet, axis=1) == 3
    assert bands(sheet, axis=0) == 4


def test_chosen_kernels_and_identity_tile(photo, tmp_path):
    """Three -k give four tiles on 2 columns; the identity tile equals the input tile."""
    out = tmp_path / "sheet.png"
    result = run(
        "gallery", photo, "-o", out, "-k", "identity", "-k", "sobel-x", "-k", "1 -1", "--tile", "64"
    )
    assert result.exit_code == 0, result.output
    sheet = load(out)
    assert sheet.shape == expected_size(4, 2, 64, 48)
    assert (bands(sheet, axis=1), bands(sheet, axis=0)) == (2, 2)
    first, second = sheet[8 : 8 + 48, 8 : 8 + 64], sheet[8 : 8 + 48, 80 : 80 + 64]
    np.testing.assert_array_equal(first, second)
    # the input scaled to 64x48 is the tile (64x48 input: scale 1)
    np.testing.assert_array_equal(first, load(photo))


def test_labels_are_drawn(photo, tmp_path):
    """Each label band under a tile holds dark text pixels."""
    out = tmp_path / "sheet.png"
    run("gallery", photo, "-o", out, "-k", "box", "--tile", "64", "--columns", "2")
    sheet = load(out)
    band = sheet[8 + 48 : 8 + 48 + 17]
    assert (band[:, 8 : 8 + 64] < 128).any() and (band[:, 80 : 80 + 64] < 128).any()


def test_colour_input_gives_colour_sheet(tmp_path):
    """A colour input gives an RGB sheet; --gray a grayscale one."""
    x = np.random.default_rng(42).integers(0, 200, size=(20, 30, 3), dtype=np.uint8)
    PIL.Image.fromarray(x).save(tmp_path / "c.png")
    assert (
        run(
            "gallery", tmp_path / "c.png", "-o", tmp_path / "s.png", "-k", "blur", "--tile", "32"
        ).exit_code
        == 0
    )
    assert mode_of(tmp_path / "s.png") == "RGB"
    assert (
        run(
            "gallery", tmp_path / "c.png", "-o", tmp_path / "g.png", "-k", "blur", "--gray"
        ).exit_code
        == 0
    )
    assert mode_of(tmp_path / "g.png") == "L"


# ------------------------------------------------------------------ errors


def test_error_unknown_kernel(photo, tmp_path):
    """An unknown kernel is a usage error (exit 2)."""
    result = run("gallery", photo, "-o", tmp_path / "s.png", "-k", "blurr")
    assert result.exit_code == 2
    assert "unknown kernel 'blurr'" in result.stderr


def test_error_missing_input(tmp_path):
    """A missing input is named: a bad argument, as click's Path(exists=True) (exit 2)."""
    result = run("gallery", tmp_path / "nope.png", "-o", tmp_path / "s.png")
    assert result.exit_code == 2
    last = result.stderr.splitlines()[-1]
    assert last == f"Error: Invalid value for 'INPUT': {tmp_path / 'nope.png'}: no such file"
    assert not (tmp_path / "s.png").exists()


def test_error_existing_output(photo, tmp_path):
    """An existing sheet is kept without --overwrite (exit 1)."""
    out = tmp_path / "s.png"
    out.write_bytes(b"keep")
    result = run("gallery", photo, "-o", out, "-k", "box")
    assert result.exit_code == 1
    assert result.stderr == f"Error: {out} exists; pass --overwrite to replace it\n"
    assert out.read_bytes() == b"keep"


def test_error_output_is_input(photo):
    """The input is never overwritten (exit 1)."""
    result = run("gallery", photo, "-o", photo, "--overwrite")
    assert result.exit_code == 1
    assert "is the input" in result.stderr


def test_error_unknown_extension(photo, tmp_path):
    """An output extension that names no format (exit 1)."""
    result = run("gallery", photo, "-o", tmp_path / "s.xyz")
    assert result.exit_code == 1
    assert "unknown image extension '.xyz'" in result.stderr


def test_error_tile_too_small(photo, tmp_path):
    """Tiles under 16 pixels are refused (exit 2)."""
    assert run("gallery", photo, "-o", tmp_path / "s.png", "--tile", "8").exit_code == 2


def test_help_has_example():
    """--help has an Example block."""
    result = run("gallery", "--help")
    assert "Example:\n    convcli gallery sample_images/camera.png -o sheet.png" in result.stdout


# ------------------------------------------------------------------ labels and tiles


def test_file_kernel_is_labelled_with_its_stem(photo, tmp_path):
    """`-k some/long/path/sobel_x.txt` draws the label "sobel_x", not a cut-off path."""
    from convcli.images.io import read_image
    from convcli.kernels.files import load_kernel
    from convcli.teaching.gallery import make_gallery

    folder = tmp_path / "a rather long folder name" / "with kernels in it"
    folder.mkdir(parents=True)
    kernel_file = folder / "sobel_x.txt"
    kernel_file.write_text((ROOT / "kernels" / "sobel_x.txt").read_text())
    out = tmp_path / "sheet.png"
    result = run("gallery", photo, "-o", out, "-k", kernel_file, "--tile", "64")
    assert result.exit_code == 0, result.output
    expected = make_gallery(
        read_image(str(photo)), [("sobel_x", load_kernel(kernel_file))], tile=64
    )
    assert expected.labels == ["input", "sobel_x"]
    np.testing.assert_array_equal(load(out), expected.pixels)


def test_gallery_labels_of_files_names_and_matrices(tmp_path):
    """A file is labelled with its stem; names and inline matrices with what was typed."""
    from convcli.teaching.gallery import gallery_kernels

    kernel_file = tmp_path / "deep" / "ridge.txt"
    kernel_file.parent.mkdir()
    kernel_file.write_text("-1 2 -1\n")
    labels = [label for label, _ in gallery_kernels([str(kernel_file), "box:3", "1 -1"])]
    assert labels == ["ridge", "box:3", "1 -1"]


@pytest.mark.parametrize("name", ["chelsea.png", "rocket.jpg"])
def test_edge_tiles_of_colour_photos_are_not_black(name, tmp_path):
    """On colour photos the edge, laplacian, sobel-x tiles show edges: 99th percentile >= 128."""
    out = tmp_path / "sheet.png"
    kernels = ["edge", "laplacian", "sobel-x"]
    args = ["gallery", ROOT / "sample_images" / name, "-o", out, "--columns", "4"]
    assert run(*args, *(a for k in kernels for a in ("-k", k))).exit_code == 0
    sheet = load(out)
    height, width = load(ROOT / "sample_images" / name).shape[:2]
    tile_h = round(256 * height / width)
    for i, kernel in enumerate(kernels, start=1):
        tile = sheet[8 : 8 + tile_h, 8 + i * 264 : 8 + i * 264 + 256]
        assert np.percentile(tile, 99) >= 128, kernel
