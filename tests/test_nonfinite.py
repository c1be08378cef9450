"""NaN and infinity in an image, a kernel or an option: refused up front, naming where.

Before, ``filter nan.npy`` and ``--bias nan`` exited 0 with an all-black
image and a raw numpy RuntimeWarning.
"""

from __future__ import annotations

import numpy as np
import PIL.Image
import pytest
from helpers import run

from convcli.errors import ImageError
from convcli.images.io import read_image


@pytest.fixture
def folder(tmp_path, monkeypatch):
    rng = np.random.default_rng(2)
    a = rng.random((8, 9))
    a[2, 3] = np.nan
    np.save(tmp_path / "nan.npy", a)
    b = rng.random((3, 8, 9))
    b[1, 1, 5] = -np.inf
    np.save(tmp_path / "inf.npy", b)
    f = rng.random((8, 9)).astype(np.float32)
    f[0, 7] = np.nan
    PIL.Image.fromarray(f).save(tmp_path / "nan.tif")
    PIL.Image.fromarray(rng.integers(0, 256, (8, 9), dtype=np.uint8)).save(tmp_path / "ok.png")
    np.save(tmp_path / "knan.npy", np.array([[1.0, np.nan], [0.0, 1.0]]))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["filter", "nan.npy", "-k", "box:3", "-o", "o.png"], 1, ["nan.npy", "row 3, column 4"]),
        (["filter", "inf.npy", "-k", "box:3", "-o", "o.npy"], 1, ["inf.npy", "channel 2", "-inf"]),
        (["filter", "nan.tif", "-k", "box:3", "-o", "o.png"], 1, ["nan.tif", "row 1, column 8"]),
        (["gallery", "nan.npy", "-o", "o.png"], 1, ["nan.npy"]),
        (["filter", "ok.png", "-k", "knan.npy", "-o", "o.png"], 2, ["knan.npy", "finite"]),
        (["filter", "ok.png", "-k", "box:3", "--bias", "nan", "-o", "o.png"], 2, ["--bias", "nan"]),
        (["filter", "ok.png", "-k", "box:3", "--bias", "inf", "-o", "o.png"], 2, ["--bias", "inf"]),
        (["conv", "--input", "1 2 3", "--kernel", "1 0", "--bias", "nan"], 2, ["--bias", "finite"]),
        (
            ["learn", "1 2 3 4", "1 2 3", "--size", "1x2", "--method", "gd", "--lr", "nan"],
            2,
            ["--lr", "finite"],
        ),
    ],
)
def test_non_finite_values_are_refused_by_name(folder, args, code, words):
    result = run(*args)
    assert result.exit_code == code, result.output
    line = result.output.strip().splitlines()[-1]
    for word in words:
        assert word in line
    assert not (folder / "o.png").exists() and not (folder / "o.npy").exists()


def test_read_image_refuses_nan_from_the_library_too(folder):
    with pytest.raises(ImageError, match="row 3, column 4 is nan"):
        read_image(folder / "nan.npy")


def test_a_finite_float_image_still_reads(folder):
    np.save(folder / "fine.npy", np.linspace(0, 1, 12).reshape(3, 4))
    assert read_image(folder / "fine.npy").pixels.shape == (3, 4)
