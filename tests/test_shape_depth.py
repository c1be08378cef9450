"""``convcli shape --depth`` and the FLOPs / memory fields of a network summary.

Oracles: torchvision's published totals for ResNet-50 (25,557,032
parameters, 4.09 "GFLOPS", which are multiply-accumulates), the memory
figures torchinfo prints for ``summary(resnet50(), (1, 3, 224, 224))``
(Params size 102.23 MB, Forward/backward pass size 177.83 MB, Input size
0.60 MB, Estimated Total Size 280.66 MB), and LeNet-5's layer shapes from
d2l §7.6 summed by hand. Collapsed totals are checked against the full
table's, which the other tests check against torchvision.
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner
from terminal import run_in_pty, strip_ansi

from convcli import ARCHITECTURES, analyze_network, parse_layers
from convcli.arithmetic.counts import DTYPE_BYTES, flops, memory_bytes
from convcli.arithmetic.spec import load_spec
from convcli.cli import cli
from convcli.errors import ShapeError

ENV = {"COLUMNS": "120", "NO_COLOR": "1"}


def _shape(*args: str):
    return CliRunner().invoke(cli, ["shape", *args], env=ENV)


def _json(*args: str) -> dict:
    result = _shape(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _summary(name):
    arch = ARCHITECTURES[name]
    return analyze_network(arch.layers, arch.input_shape)


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_collapsed_totals_equal_the_full_tables(name, depth):
    """Every preset at every depth: same parameters, MACs, FLOPs and activations."""
    full = _summary(name)
    shown = full.collapse(depth)
    leaves = [row for row in shown.rows if row.leaf]
    assert sum(row.params for row in leaves) == full.total_params
    assert sum(row.macs for row in leaves) == full.total_macs
    assert sum(row.flops for row in leaves) == full.total_flops == 2 * full.total_macs
    assert sum(row.activations for row in leaves) == full.total_activations
    assert all(row.depth < depth for row in shown.rows)
    assert shown.output_shape == full.output_shape


def test_resnet50_depth1_is_stem_four_stages_and_head():
    """torchvision's top-level modules: conv1, bn1, relu, maxpool, layer1-4, avgpool, (flatten), fc."""
    rows = _summary("resnet50").collapse(1).rows
    assert len(rows) == 11
    assert [row.config.split(":")[0] for row in rows[4:8]] == [
        "layer1",
        "layer2",
        "layer3",
        "layer4",
    ]
    assert [row.shape for row in rows[4:8]] == [
        (256, 56, 56),
        (512, 28, 28),
        (1024, 14, 14),
        (2048, 7, 7),
    ]


def test_resnet50_published_totals_and_torchinfo_memory():
    """torchvision: 25,557,032 params, 4.09 G MACs; torchinfo's MB figures at float32."""
    data = _json("--arch", "resnet50", "--depth", "1")
    assert data["total_params"] == 25_557_032
    assert round(data["total_macs"] / 1e9, 2) == 4.09
    assert data["total_flops"] == 2 * data["total_macs"]
    assert round(data["param_bytes"] / 1e6, 2) == 102.23
    assert round(data["forward_backward_bytes"] / 1e6, 2) == 177.83
    assert round(data["input_bytes"] / 1e6, 2) == 0.60
    assert round(data["total_bytes"] / 1e6, 2) == 280.66
    assert data["dtype"] == "float32" and data["bytes_per_value"] == 4
    assert len(data["layers"]) == 11


def test_lenet5_activations_summed_by_hand():
    """LeNet-5 (d2l §7.6) outputs, every layer once: 6×28×28 twice, 6×14×14, ..."""
    by_hand = (
        2 * 6 * 28 * 28  # conv, sigmoid
        + 6 * 14 * 14  # avgpool
        + 2 * 16 * 10 * 10  # conv, sigmoid
        + 16 * 5 * 5  # avgpool
        + 400  # flatten
        + 2 * 120
        + 2 * 84
        + 10
    )
    summary = _summary("lenet5")
    assert summary.total_activations == by_hand
    assert summary.activation_bytes() == 4 * by_hand
    assert summary.input_bytes("float64") == 8 * 28 * 28


@pytest.mark.parametrize(
    ("dtype", "size"),
    [("float16", 2), ("bfloat16", 2), ("float32", 4), ("float64", 8), ("int8", 1)],
)
def test_dtype_sets_the_bytes_per_value(dtype, size):
    """--dtype scales parameter and activation memory by the type's size."""
    data = _json("--arch", "lenet5", "--dtype", dtype)
    assert data["bytes_per_value"] == size
    assert data["param_bytes"] == 61_706 * size
    assert data["activation_bytes"] == data["total_activations"] * size
    for row in data["layers"]:
        assert row["param_bytes"] == row["params"] * size
        assert row["activation_bytes"] == row["activations"] * size


def test_memory_helpers():
    """The counts module: FLOPs = 2 × MACs; bytes = values × size; unknown types refused."""
    assert flops(21) == 42
    assert memory_bytes(10, "bfloat16") == 20
    assert set(DTYPE_BYTES) == {"float16", "bfloat16", "float32", "float64", "int8"}
    with pytest.raises(ValueError, match="float8"):
        memory_bytes(1, "float8")


def test_json_rows_carry_flops_and_sizes():
    """Each JSON row: flops = 2 × macs; output_size = product of the output shape."""
    data = _json("--arch", "resnet18", "--depth", "2")
    for row in data["layers"]:
        assert row["flops"] == 2 * row["macs"]
        size = 1
        for v in row["output"]:
            size *= v
        assert row["output_size"] == size
    assert data["depth"] == 2
    assert {row["depth"] for row in data["layers"]} == {0, 1}


def test_csv_at_depth_sums_to_the_totals():
    """The collapsed CSV's leaf rows add up to the full network's totals."""
    result = _shape("--arch", "resnet50", "--depth", "1", "--csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 11
    assert sum(int(r["params"]) for r in rows if r["leaf"] == "True") == 25_557_032
    assert sum(int(r["flops"]) for r in rows) == 2 * _summary("resnet50").total_macs
    assert {"flops", "output_size", "activations", "param_bytes", "activation_bytes"} <= set(
        rows[0]
    )


def test_resnet50_depth1_fits_one_80x24_screen(tmp_path):
    """At an 80-column terminal the installed command prints at most 24 lines, totals intact."""
    code, text = run_in_pty(
        ["shape", "--arch", "resnet50", "--depth", "1"], tmp_path, cols=80, env={"NO_COLOR": "1"}
    )
    text = strip_ansi(text)
    assert code == 0, text
    lines = text.rstrip("\n").split("\n")
    assert len(lines) <= 24, text
    assert max(len(line.rstrip()) for line in lines) <= 80, text
    assert "25,557,032" in text and "MACs: 4.09 G" in text and "FLOPs: 8.18 G" in text
    assert "params 102.23" in text


def test_wide_terminal_adds_flops_and_memory_columns():
    """From 130 columns on, each row also shows its FLOPs and activation MB."""
    result = CliRunner().invoke(
        cli, ["shape", "--arch", "lenet5"], env={"COLUMNS": "140", "NO_COLOR": "1"}
    )
    assert result.exit_code == 0, result.output
    assert "FLOPs" in result.stdout.splitlines()[2] and "act. MB" in result.stdout
    assert "235,200" in result.stdout  # the first conv: 2 × 117,600


def test_depth_and_dtype_need_a_network():
    """--depth / --dtype on one layer: a usage error, exit 2."""
    for args in (["--depth", "1"], ["--dtype", "float16"]):
        result = _shape("--in", "32", "--k", "3", *args)
        assert result.exit_code == 2
        assert "describes a network" in result.stderr
    assert _shape("--arch", "lenet5", "--depth", "0").exit_code == 2


def test_seq_groups_in_text_and_json():
    """seq NAME(...) nests one level; JSON {"type": "seq"} does the same."""
    layers = parse_layers("conv 8 k3 p1, seq block(conv 8 k3 p1, relu, conv 8 k3 p1), fc 2")
    assert [layer.kind for layer in layers] == ["conv", "seq", "linear"]
    summary = analyze_network(parse_layers("seq b(conv 8 k3, relu), flatten"), (1, 8, 8))
    assert [(r.index, r.depth, r.leaf) for r in summary.rows] == [
        ("1", 0, False),
        ("1.1", 1, True),
        ("1.2", 1, True),
        ("2", 0, True),
    ]
    assert summary.rows[0].params == 8 * 9 + 8
    assert summary.rows[0].config == "b: seq of 2"
    json_layers, _ = load_spec('[{"type": "seq", "name": "s", "layers": "conv 4 k3, relu"}]')
    assert json_layers[0].name == "s" and len(json_layers[0].body) == 2
    with pytest.raises(ShapeError, match="seq holds layers"):
        parse_layers("seq")
