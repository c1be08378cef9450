"""``convcli shape --count-as TOOL``: MACs as torchinfo, fvcore, ptflops and thop count them.

The oracle is each tool itself, run on the same network built with the
pinned torch (each test skips when its tool is not installed: they are
test-only, ``pip install torchinfo fvcore ptflops thop``). convcli reads the
network from its source (.py) or its ONNX export and never runs it.
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings

import pytest
from click.testing import CliRunner

from convcli.arithmetic.conventions import CONVENTIONS, recount
from convcli.arithmetic.network import analyze_network
from convcli.arithmetic.spec import parse_layers
from convcli.cli import cli

torch = pytest.importorskip("torch")

PLAIN = '''
from torch import nn


class Plain(nn.Module):
    """conv+bias, bn, relu, max pool, conv (no bias), leaky relu, avg pool, gap, fc, sigmoid."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, bias=False),
            nn.LeakyReLU(0.1),
            nn.AvgPool2d(2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(16, 10),
            nn.Sigmoid(),
        )

    def forward(self, x):
        return self.body(x)
'''

UP = '''
from torch import nn


class Up(nn.Module):
    """conv s2, relu, transposed conv (bias), nearest upsample, 1×1 conv."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 4, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(4, 6, 4, stride=2, padding=1),
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(6, 2, 1),
        )

    def forward(self, x):
        return self.body(x)
'''

SIZE = (1, 3, 16, 16)


def _model(source: str, name: str):
    namespace: dict = {"__name__": f"count_{name}"}
    exec(compile(source, f"{name}.py", "exec"), namespace)
    return namespace[name]().eval()


def _tool_macs(tool: str, model) -> int:
    """What ``tool`` reports for ``model`` on a 1×3×16×16 input (its own name for MACs)."""
    pytest.importorskip(tool)
    x = torch.rand(*SIZE)
    quiet = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(quiet):
        warnings.simplefilter("ignore")
        if tool == "torchinfo":
            from torchinfo import summary

            return int(summary(model, input_size=SIZE, verbose=0).total_mult_adds)
        if tool == "fvcore":
            from fvcore.nn import FlopCountAnalysis

            analysis = FlopCountAnalysis(model, x)
            analysis.unsupported_ops_warnings(False)
            analysis.uncalled_modules_warnings(False)
            return int(analysis.total())
        if tool == "ptflops":
            from ptflops import get_model_complexity_info

            macs, _ = get_model_complexity_info(
                model, SIZE[1:], as_strings=False, print_per_layer_stat=False, backend="pytorch"
            )
            return int(macs)
        from thop import profile

        macs, _ = profile(model, inputs=(x,), verbose=False)
        return int(macs)


def _convcli_macs(args: list[str], way: str) -> int:
    result = CliRunner().invoke(cli, ["shape", *args, "--count-as", way, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["count_as"] == way
    return data["total_macs"]


@pytest.mark.parametrize("tool", CONVENTIONS[1:])
def test_plain_network_from_source_as_each_tool_counts(tool, tmp_path):
    """Bias adds, BN, activations and pools: each tool's total, from the .py source."""
    (tmp_path / "plain.py").write_text(PLAIN, encoding="utf-8")
    expected = _tool_macs(tool, _model(PLAIN, "Plain"))
    args = [str(tmp_path / "plain.py"), "--class", "Plain", "--in", "16", "--channels", "3"]
    assert _convcli_macs(args, tool) == expected


@pytest.mark.parametrize("tool", CONVENTIONS[1:])
def test_transposed_and_upsample_from_onnx_as_each_tool_counts(tool, tmp_path):
    """A transposed convolution (tools disagree on its cells) and a nearest upsample, via ONNX."""
    pytest.importorskip("onnx")
    model = _model(UP, "Up")
    expected = _tool_macs(tool, model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.rand(*SIZE),), str(tmp_path / "up.onnx"), dynamo=False)
    assert _convcli_macs([str(tmp_path / "up.onnx")], tool) == expected


def test_tools_disagree_where_the_docs_say():
    """A transposed conv: torchinfo and thop count its output cells, fvcore and convcli its input's."""
    summary = analyze_network(parse_layers("convt 4 k2 s2"), (2, 5, 5))
    weights = 2 * 4 * 2 * 2
    assert recount(summary, "convcli").total_macs == weights * 25
    assert recount(summary, "fvcore").total_macs == weights * 25
    assert recount(summary, "thop").total_macs == weights * 100
    assert recount(summary, "torchinfo").total_macs == (weights + 4) * 100
    assert recount(summary, "ptflops").total_macs == weights * 25 + 4 * 100
    with pytest.raises(ValueError, match="unknown count"):
        recount(summary, "flopco")


def test_default_is_unchanged_and_count_as_needs_a_network():
    runner = CliRunner()
    plain = runner.invoke(cli, ["shape", "--layers", "conv 8 k3 p1, bn", "--in", "8", "--json"])
    same = runner.invoke(
        cli,
        ["shape", "--layers", "conv 8 k3 p1, bn", "--in", "8", "--json", "--count-as", "convcli"],
    )
    assert json.loads(plain.stdout)["total_macs"] == json.loads(same.stdout)["total_macs"] == 13824
    result = runner.invoke(cli, ["shape", "--in", "8", "--k", "3", "--count-as", "thop"])
    assert result.exit_code == 2 and "--count-as describes a network" in result.stderr
    result = runner.invoke(
        cli, ["shape", "--layers", "conv 8 k3", "--in-range", "8..12", "--count-as", "thop"]
    )
    assert result.exit_code == 2 and "drop --in-range" in result.stderr
