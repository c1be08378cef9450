"""What a newcomer met running convcli as the README offers: models, titles, outputs.

Each test runs the installed ``convcli`` command from another working
folder, with a relative path, and compares with PyTorch's own forward pass
(the oracle; convcli itself never imports torch).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from terminal import run_in_pty, run_piped, strip_ansi

torch = pytest.importorskip("torch")

SAMPLES = Path(__file__).resolve().parent.parent / "sample_images"

UNET_LIKE = """
import torch
from torch import nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.near = nn.UpsamplingNearest2d(scale_factor=(2, 3))
        self.conv2 = nn.Conv2d(8, 4, 3)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.up(x)
        x = self.near(x)
        x = F.interpolate(x, scale_factor=2)
        return self.conv2(x)
"""


def _torch_shapes(source: str, name: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The output shape (without the batch) of the class in ``source``, run by torch."""
    namespace: dict = {"__name__": "walk_model"}
    exec(compile(source, "model.py", "exec"), namespace)
    with torch.no_grad():
        return tuple(namespace[name]()(torch.zeros(*shape)).shape[1:])


def test_upsampling_modules_and_interpolate_in_a_model_file(tmp_path):
    """nn.Upsample, nn.UpsamplingNearest2d and F.interpolate read as torch runs them."""
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "model.py").write_text(UNET_LIKE, encoding="utf-8")
    (tmp_path / "work").mkdir()
    args = [
        "shape",
        "../models/model.py",
        "--class",
        "Net",
        "--in",
        "20",
        "--channels",
        "3",
        "--json",
    ]
    code, out, err = run_piped(args, tmp_path / "work")
    assert code == 0, err
    data = json.loads(out)
    assert tuple(data["output"][1:]) == _torch_shapes(UNET_LIKE, "Net", (1, 3, 20, 20))
    kinds = [row["layer"] for row in data["layers"]]
    assert kinds.count("upsample") == 3


def test_an_upsample_to_a_fixed_size_is_refused_in_one_line(tmp_path):
    """``size=`` has no whole factor: one line naming the place, exit 2, no traceback."""
    code, out, err = run_piped(
        ["shape", "--code", "nn.Sequential(nn.Upsample(size=(7, 7)))", "--in", "5"], tmp_path
    )
    assert code == 2
    assert not out
    assert "--code:1" in err and "scale_factor" in err
    assert "Traceback" not in err


def test_code_takes_the_channels_from_its_first_convolution(tmp_path):
    """``nn.Conv2d(3, ...)`` states the input's channels: --channels is not needed."""
    code_text = "nn.Sequential(nn.ReLU(), nn.Conv2d(3, 16, 5), nn.MaxPool2d(2))"
    expected = _torch_shapes(
        f"import torch\nfrom torch import nn\nM = lambda: {code_text}", "M", (1, 3, 32, 32)
    )
    code, out, err = run_piped(["shape", "--code", code_text, "--in", "32", "--quiet"], tmp_path)
    assert code == 0, err
    assert out.decode().split() == ["Nx" + "x".join(map(str, expected))]


def test_code_without_a_stated_channel_count_still_asks_for_one(tmp_path):
    """A first layer that states no channels (a lazy convolution) keeps the message."""
    code, _, err = run_piped(
        ["shape", "--code", "nn.Sequential(nn.LazyConv2d(16, 5))", "--in", "32"], tmp_path
    )
    assert code == 2
    assert "--channels" in err


@pytest.mark.parametrize("cols", [60, 80])
def test_a_long_code_title_keeps_the_shapes_at_a_narrow_terminal(tmp_path, cols):
    """The table's title cuts the model's name, never its input → output shapes."""
    code_text = (
        "nn.Sequential(nn.Conv2d(3, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 8, 3))"
    )
    src = f"import torch\nfrom torch import nn\nM = lambda: {code_text}"
    out_shape = "×".join(map(str, _torch_shapes(src, "M", (1, 3, 32, 32))))
    code, text = run_in_pty(["shape", "--code", code_text, "--in", "32"], tmp_path, cols=cols)
    assert code == 0, text
    lines = strip_ansi(text).splitlines()
    assert any(line.rstrip().endswith(f"N×3×32×32 → N×{out_shape}") for line in lines), text
    assert max(len(line.rstrip()) for line in lines) <= cols


@pytest.mark.parametrize(
    "args",
    [
        ["gallery", "camera.png"],
        ["kernels", "show", "gaussian"],
        ["animate", "--in", "5", "--k", "3"],
        ["conv", "--input", "0 1; 2 3", "--kernel", "1"],
        ["learn", "camera.png", "camera.png", "--size", "3"],
    ],
    ids=lambda a: a[0],
)
def test_every_output_refuses_memory_urls_in_one_line(tmp_path, args):
    """-o memory://... would vanish with the process: exit 2 and say so, as filter does."""
    shutil.copy(SAMPLES / "camera.png", tmp_path / "camera.png")
    code, out, err = run_piped([*args, "-o", "memory://x.png"], tmp_path)
    assert (code, out) == (2, b""), err
    assert "memory:// lives only as long as this process" in err
    assert "Traceback" not in err and "wrote" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["camera.png"]


def test_an_exported_program_with_upsampling_reads_as_torch_runs_it(tmp_path):
    """torch.export of nn.Upsample (nearest and bilinear) reads to torch's output shape."""
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3),
        nn.Upsample(scale_factor=2),
        nn.Upsample(scale_factor=(2, 3), mode="bilinear"),
    ).eval()
    example = torch.zeros(1, 3, 10, 10)
    torch.export.save(torch.export.export(model, (example,)), str(tmp_path / "up.pt2"))
    code, out, err = run_piped(["shape", "up.pt2", "--json"], tmp_path)
    assert code == 0, err
    with torch.no_grad():
        expected = tuple(model(example).shape[1:])
    assert tuple(json.loads(out)["output"][1:]) == expected


def test_an_exported_upsampling_to_a_fixed_size_is_refused(tmp_path):
    """A size= upsampling has no whole factor: one line, exit 2."""
    model = torch.nn.Sequential(torch.nn.Upsample(size=(7, 9))).eval()
    example = torch.zeros(1, 3, 4, 4)
    torch.export.save(torch.export.export(model, (example,)), str(tmp_path / "size.pt2"))
    code, out, err = run_piped(["shape", "size.pt2"], tmp_path)
    assert (code, out) == (2, b""), err
    assert "fixed size" in err and "Traceback" not in err


def test_keras_upsampling_and_cropping_read_as_keras_documents_them(tmp_path):
    """UpSampling2D multiplies H and W by ``size``; Cropping2D cuts its widths from each end.

    The expected sizes are worked out by hand from Keras' documentation:
    16 → valid 3×3 conv 14 → ×2 28 → crop 1 and 2 from each end 26×24 →
    ×(1, 2) 26×48 → crop 1 24×46, 8 channels.
    """
    code_text = (
        "keras.Sequential([keras.Input(shape=(16, 16, 3)), layers.Conv2D(8, 3), "
        "layers.UpSampling2D(2), layers.Cropping2D(((1, 1), (2, 2))), "
        "layers.UpSampling2D((1, 2), interpolation='bilinear'), layers.Cropping2D(1)])"
    )
    code, out, err = run_piped(["shape", "--code", code_text, "--quiet"], tmp_path)
    assert code == 0, err
    assert out.decode().split() == ["Nx8x24x46"]
    uneven = "keras.Sequential([keras.Input(shape=(8, 8, 1)), layers.Cropping2D(((1, 2), (0, 0)))])"
    code, out, err = run_piped(["shape", "--code", uneven], tmp_path)
    assert (code, out) == (2, b""), err
    assert "Cropping2D" in err and "Traceback" not in err


def test_a_second_dash_meant_as_the_output_says_how_to_write_stdout(tmp_path):
    """``convcli filter - -k sobel -`` (a dash for stdout, as many tools take it): exit 2, the way."""
    data = (SAMPLES / "coins.png").read_bytes()
    code, out, err = run_piped(["filter", "-", "-k", "sobel", "-"], tmp_path, input=data)
    assert (code, out) == (2, b""), err
    assert "-o -" in err and "Traceback" not in err
