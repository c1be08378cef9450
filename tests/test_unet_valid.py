"""The paper's U-Net (valid convolutions, cropped skips), ``upsample`` and ``crop`` (issue 24).

Oracles: a U-Net with valid convolutions and centre-cropped skip connections
built in PyTorch (its parameters, the shape of a real forward pass), and the
paper's own rule written out here as a loop over the layers ("select the
input tile size such that all 2×2 max-pooling operations are applied to a
layer with an even x- and y-size"), not convcli's analysis.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from convcli.arithmetic.insizes import input_rule
from convcli.arithmetic.network import analyze_network
from convcli.arithmetic.presets import ARCHITECTURES, _unet
from convcli.arithmetic.spec import format_layer, load_spec, parse_layers
from convcli.cli import cli
from convcli.errors import ShapeError


def run(*args: str):
    return CliRunner().invoke(cli, list(args), env={"COLUMNS": "100"})


def paper_works(n: int, valid: bool = True, levels: int = 4) -> bool:
    """Whether an n×n tile runs through the U-Net with every 2×2 pool on an even size."""
    cut = 4 if valid else 0  # two 3×3 convolutions
    s = n
    for _ in range(levels):
        if s - cut < 2:  # each convolution needs 3 rows, the pool 2
            return False
        s -= cut
        if s % 2:
            return False
        s //= 2
    s -= cut  # the bottom's two convolutions
    if s < 1:
        return False
    for _ in range(levels):
        s = 2 * s - cut  # up-convolution, then two convolutions
        if s < 1:
            return False
    return True


def test_the_paper_rule_by_hand():
    """572 → 388 works (the paper's figure); 570 and 574 do not; the smallest is 188."""
    assert paper_works(572)
    assert not paper_works(570) and not paper_works(574)
    assert min(n for n in range(1, 600) if paper_works(n)) == 188


@settings(max_examples=40, deadline=None)
@given(low=st.integers(1, 3000), width=st.integers(0, 2000))
def test_valid_unet_sizes_match_the_paper_rule(low, width):
    """The closed-form rule answers any range as the loop over sizes does."""
    high = low + width
    rule = input_rule(ARCHITECTURES["unet-valid"].layers, 1)
    assert rule is not None
    assert list(rule.sizes(low, high)) == [n for n in range(low, high + 1) if paper_works(n)]
    assert rule.count(low, high) == sum(paper_works(n) for n in range(low, high + 1))


@settings(max_examples=20, deadline=None)
@given(low=st.integers(1, 3000), width=st.integers(0, 2000))
def test_padded_unet_sizes_match_the_rule(low, width):
    high = low + width
    rule = input_rule(ARCHITECTURES["unet"].layers, 1)
    assert rule is not None
    expected = [n for n in range(low, high + 1) if paper_works(n, valid=False)]
    assert list(rule.sizes(low, high)) == expected


def test_the_rules_in_words():
    valid = input_rule(ARCHITECTURES["unet-valid"].layers, 1)
    padded = input_rule(ARCHITECTURES["unet"].layers, 1)
    assert valid is not None and padded is not None
    assert valid.text() == "n ≡ 12 (mod 16), from 188"
    assert padded.text() == "multiples of 16, from 16"


def test_valid_unet_cli_default_and_a_size_that_breaks():
    result = run("shape", "--arch", "unet-valid", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["input"] == [1, 572, 572]
    assert data["output"] == [2, 388, 388]
    assert data["total_params"] == 31_030_658
    result = run("shape", "--arch", "unet-valid", "--in", "570")
    assert result.exit_code == 2
    assert "nearest sizes that work: 556 and 572" in result.output


# ------------------------------------------------------------------ against torch

torch = pytest.importorskip("torch")
nn = torch.nn


def two_convs(cin: int, cout: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(cin, cout, 3), nn.ReLU(), nn.Conv2d(cout, cout, 3), nn.ReLU())


def centre_crop(x, size: int):
    cut = (x.shape[-1] - size) // 2
    return x[..., cut : cut + size, cut : cut + size]


class Level(nn.Module):
    """Pool, two valid convolutions, the level below, two convolutions, up-convolution."""

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
            z = self.below(y)
            y = self.up_convs(torch.cat([centre_crop(y, z.shape[-1]), z], dim=1))
        return self.up(y)


class PaperUNet(nn.Module):
    def __init__(self, widths=(64, 128, 256, 512, 1024), classes=2):
        super().__init__()
        self.first = two_convs(1, widths[0])
        self.level = Level(widths)
        self.last = two_convs(2 * widths[0], widths[0])
        self.out = nn.Conv2d(widths[0], classes, 1)

    def forward(self, x):
        x = self.first(x)
        z = self.level(x)
        return self.out(self.last(torch.cat([centre_crop(x, z.shape[-1]), z], dim=1)))


def test_valid_unet_parameters_match_torch():
    model = PaperUNet()
    summary = analyze_network(ARCHITECTURES["unet-valid"].layers, (1, 572, 572))
    assert summary.total_params == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("n", [188, 252, 572])
def test_valid_unet_shapes_match_a_forward_pass(n):
    """Narrow widths (the sizes do not depend on them): every row of the top level."""
    widths = (2, 2, 2, 2, 2)
    model = PaperUNet(widths).eval()
    summary = analyze_network(parse_layers(_unet(widths, valid=True)), (1, n, n))
    with torch.no_grad():
        x = model.first(torch.rand(1, 1, n, n))
        skip = model.level(x)
        out = model.out(model.last(torch.cat([centre_crop(x, skip.shape[-1]), skip], dim=1)))
    top = [row.shape for row in summary.rows if row.depth == 0]
    assert top[3] == tuple(x.shape[1:])
    assert top[4] == (4, *skip.shape[2:])  # the concatenation
    assert summary.output_shape == tuple(out.shape[1:])


@pytest.mark.parametrize(("scale", "mode"), [(2, "nearest"), (3, "bilinear")])
def test_upsample_shape_matches_torch(scale, mode):
    layers = parse_layers(f"upsample {scale} {mode}, crop 1x2")
    summary = analyze_network(layers, (3, 7, 9))
    up = nn.Upsample(scale_factor=scale, mode=mode)(torch.rand(1, 3, 7, 9))
    assert summary.rows[0].shape == tuple(up.shape[1:])
    assert summary.output_shape == (3, 7 * scale - 2, 9 * scale - 4)


# ------------------------------------------------------------------ the words


def test_upsample_and_crop_round_trip():
    for text in ("upsample 2", "upsample 2x1 bilinear", "crop 4", "crop 3x0"):
        (layer,) = parse_layers(text)
        assert format_layer(layer) == text
    layers, _ = load_spec(
        '[{"type": "upsample", "scale_factor": 2, "mode": "bilinear"}, {"type": "crop", "crop": 1}]'
    )
    assert [format_layer(layer) for layer in layers] == ["upsample 2 bilinear", "crop 1"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("upsample", "needs a scale factor"),
        ("upsample 0", "at least 1"),
        ("crop", "needs the cells cut"),
        ("conv 8 k3 bilinear", "takes no 'bilinear'"),
    ],
)
def test_upsample_and_crop_errors(text, message):
    with pytest.raises(ShapeError, match=message):
        parse_layers(text)


def test_a_crop_larger_than_its_input_names_the_layer():
    with pytest.raises(ShapeError, match=r"layer 2 \(crop 3\): cutting 3 rows"):
        analyze_network(parse_layers("relu, crop 3"), (1, 6, 6))
