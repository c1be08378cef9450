"""The ``unet`` preset and ``cat(...)`` blocks, against U-Net built in PyTorch (issue 24, item 3).

Oracles: the parameter count of the torch model, the shapes of a real
forward pass, and which input sizes torch accepts (a size whose skip
connection does not line up makes ``torch.cat`` raise), size by size.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from convcli.arithmetic.insizes import input_rule  # noqa: E402
from convcli.arithmetic.network import analyze_network  # noqa: E402
from convcli.arithmetic.presets import ARCHITECTURES  # noqa: E402
from convcli.cli import cli  # noqa: E402


def two_convs(cin, cout):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(cout, cout, 3, padding=1),
        nn.ReLU(),
    )


class Level(nn.Module):
    """Pool, two convolutions, the level below (if any), two convolutions, up-convolution."""

    def __init__(self, widths):
        super().__init__()
        cin, width = widths[0], widths[1]
        self.pool = nn.MaxPool2d(2)
        self.down = two_convs(cin, width)
        self.below = Level(widths[1:]) if len(widths) > 2 else None
        self.up_convs = two_convs(2 * width, width) if self.below else None
        self.up = nn.ConvTranspose2d(width, cin, 2, 2)

    def forward(self, x):
        y = self.down(self.pool(x))
        if self.below is not None:
            y = self.up_convs(torch.cat([y, self.below(y)], dim=1))
        return self.up(y)


class UNet(nn.Module):
    def __init__(self, widths=(64, 128, 256, 512, 1024), classes=2):
        super().__init__()
        self.first = two_convs(1, widths[0])
        self.level = Level(widths)
        self.last = two_convs(2 * widths[0], widths[0])
        self.out = nn.Conv2d(widths[0], classes, 1)

    def forward(self, x):
        x = self.first(x)
        return self.out(self.last(torch.cat([x, self.level(x)], dim=1)))


def test_unet_preset_matches_torch():
    """Parameters of the torch U-Net; the output shape of a forward pass."""
    preset = ARCHITECTURES["unet"]
    model = UNet()
    summary = analyze_network(preset.layers, (1, 32, 32))
    assert summary.total_params == sum(p.numel() for p in model.parameters()) == 31_030_658
    with torch.no_grad():
        out = model(torch.rand(1, 1, 32, 32))
    assert summary.output_shape == tuple(out.shape[1:])


def test_unet_sizes_that_work_match_torch():
    """The sizes convcli's rule accepts are those torch runs (narrow widths: same sizes)."""
    model = UNet(widths=(2, 2, 2, 2, 2)).eval()
    works = []
    for n in range(1, 70):
        try:
            with torch.no_grad():
                model(torch.rand(1, 1, n, n))
        except RuntimeError:
            continue
        works.append(n)
    rule = input_rule(ARCHITECTURES["unet"].layers, 1)
    assert list(rule.sizes(1, 69)) == works == [16, 32, 48, 64]
    assert rule.text() == "multiples of 16, from 16"


def test_unet_in_range_command():
    """One command answers the U-Net question, and --in 300 names where it breaks."""
    runner = CliRunner()
    result = runner.invoke(cli, ["shape", "--arch", "unet", "--in-range", "200..1100"])
    assert result.exit_code == 0
    assert result.stdout.startswith("unet: sizes 200..1100 that work: multiples of 16, from 16")
    bad = runner.invoke(cli, ["shape", "--arch", "unet", "--in", "300"])
    assert bad.exit_code == 2
    assert "(concat): the body gives 512×36×36 but the identity shortcut gives" in bad.stderr
    assert "nearest sizes that work: 288 and 304" in bad.stderr
