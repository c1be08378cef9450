"""The suffix table (convcli.suffixes) says what the readers and writers really accept.

Each suffix is tried end to end with a tiny file: every image suffix is
written and read back, ``.pbm`` is read but refused as an output, every
matrix and kernel suffix is read, and the command line's users of the table
(directory scans, ``learn``'s image operands, ``conv -o``) follow it.
"""

from __future__ import annotations

import numpy as np
import PIL.Image
import pytest
from click.testing import CliRunner

from convcli.cli import cli
from convcli.errors import ConvcliError, ImageError, KernelError
from convcli.images import io as imageio
from convcli.images.io import output_format, read_image, write_image
from convcli.kernels.files import load_kernel, resolve_kernel
from convcli.suffixes import (
    IMAGE_FORMATS,
    IMAGE_SUFFIXES,
    IMAGE_WRITE_SUFFIXES,
    KERNEL_SUFFIXES,
    MATRIX_SUFFIXES,
    MATRIX_WRITE_SUFFIXES,
    PIXEL_SUFFIXES,
)
from convcli.teaching.matrices import parse_matrix

PIXELS = (np.arange(48, dtype=np.uint8).reshape(6, 8) * 5).astype(np.uint8)


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_the_sets_derive_from_each_other():
    """Each set is the one before it plus what only its reader accepts."""
    assert imageio.EXTENSIONS is IMAGE_WRITE_SUFFIXES
    assert imageio.FORMATS is IMAGE_FORMATS
    assert set(IMAGE_FORMATS.values()) == set(IMAGE_WRITE_SUFFIXES.values())
    assert set(IMAGE_SUFFIXES) == set(IMAGE_WRITE_SUFFIXES) | {".pbm"}
    assert set(PIXEL_SUFFIXES) == set(IMAGE_SUFFIXES) - {".npy"}
    assert set(MATRIX_SUFFIXES) == set(MATRIX_WRITE_SUFFIXES) | {".tsv", ".dat"}
    assert set(KERNEL_SUFFIXES) == set(MATRIX_SUFFIXES) | {".mat", ".kernel"}
    for table in (IMAGE_SUFFIXES, MATRIX_SUFFIXES, KERNEL_SUFFIXES):
        assert len(set(table)) == len(table)
        assert all(s.startswith(".") and s == s.lower() for s in table)


@pytest.mark.parametrize("suffix", sorted(IMAGE_WRITE_SUFFIXES))
def test_every_written_image_suffix_round_trips(tmp_path, suffix):
    """write_image writes each suffix in its format, and read_image reads it back."""
    path = tmp_path / f"a{suffix}"
    write_image(path, PIXELS)
    image = read_image(path)
    assert image.pixels.shape == PIXELS.shape
    assert image.format == IMAGE_WRITE_SUFFIXES[suffix]
    assert output_format(path) == IMAGE_WRITE_SUFFIXES[suffix]


def test_pbm_is_read_but_never_written(tmp_path):
    """Pillow decodes .pbm (1-bit) files; convcli writes no .pbm (it would be a PGM)."""
    path = tmp_path / "a.pbm"
    PIL.Image.fromarray(PIXELS > 100).save(path)
    assert read_image(path).pixels.shape == PIXELS.shape
    with pytest.raises(ImageError, match=r"unknown image extension '\.pbm'"):
        output_format(tmp_path / "b.pbm")


def test_a_directory_scan_finds_every_image_suffix(tmp_path):
    """`convcli filter DIR` picks up each readable suffix (.jpe and .pbm too)."""
    src = tmp_path / "in"
    src.mkdir()
    for suffix in IMAGE_SUFFIXES:
        if suffix == ".pbm":
            PIL.Image.fromarray(PIXELS > 100).save(src / "a.pbm")
        else:
            write_image(src / f"a{suffix[1:]}{suffix}", PIXELS)
    (src / "notes.txt").write_text("not an image\n")
    result = run("filter", src, "-k", "box", "--out-dir", tmp_path / "out", "--format", "png")
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "out").iterdir())) == len(IMAGE_SUFFIXES)


@pytest.mark.parametrize("suffix", PIXEL_SUFFIXES)
def test_learn_reads_every_pixel_suffix_as_an_image(tmp_path, suffix):
    """`convcli learn` takes an operand with a pixel suffix as an image, not a matrix."""
    path = tmp_path / f"a{suffix}"
    if suffix == ".pbm":
        PIL.Image.fromarray(PIXELS > 100).save(path)
    else:
        write_image(path, PIXELS)
    result = run("learn", path, path, "--size", "1", "--quiet")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("suffix", MATRIX_SUFFIXES)
def test_every_matrix_suffix_is_read(tmp_path, suffix):
    """parse_matrix reads each suffix, and a missing one is a missing file, not a matrix."""
    path = tmp_path / f"m{suffix}"
    if suffix == ".npy":
        np.save(path, np.array([[1.0, 2.0], [3.0, 4.0]]))
    elif suffix == ".json":
        path.write_text("[[1, 2], [3, 4]]")
    else:
        sep = "\t" if suffix == ".tsv" else ("," if suffix == ".csv" else " ")
        path.write_text(f"1{sep}2\n3{sep}4\n")
    assert parse_matrix(str(path)).tolist() == [[1.0, 2.0], [3.0, 4.0]]
    with pytest.raises(ConvcliError, match="no such file"):
        parse_matrix(f"missing{suffix}")


@pytest.mark.parametrize("suffix", sorted(MATRIX_WRITE_SUFFIXES))
def test_conv_output_suffix_selects_its_format(tmp_path, suffix):
    """`convcli conv -o m.<suffix>` writes the format that suffix names."""
    out = tmp_path / f"m{suffix}"
    result = run("conv", "-i", "1 2; 3 4", "-k", "1", "-o", out)
    assert result.exit_code == 0, result.output
    assert parse_matrix(str(out)).tolist() == [[1.0, 2.0], [3.0, 4.0]]


@pytest.mark.parametrize("suffix", KERNEL_SUFFIXES)
def test_every_kernel_suffix_is_read(tmp_path, suffix):
    """load_kernel reads each suffix; resolve_kernel takes a missing one for a file."""
    path = tmp_path / f"k{suffix}"
    if suffix == ".npy":
        np.save(path, np.array([[1.0, -1.0]]))
    elif suffix == ".json":
        path.write_text("[[1, -1]]")
    elif suffix == ".mat":
        path.write_text("2 1\n1 -1\n")
    else:
        sep = "\t" if suffix == ".tsv" else ", "
        path.write_text(f"1{sep}-1\n")
    assert load_kernel(path).weights.tolist() == [[1.0, -1.0]]
    assert resolve_kernel(str(path)).weights.tolist() == [[1.0, -1.0]]
    with pytest.raises(KernelError, match="cannot read kernel file"):
        resolve_kernel(f"missing{suffix}")
