"""Long ``N*(...)`` repeats stay compressed (issue 21 item 15): no list of a million layers.

Oracles: the same layers written out one by one in the spec text (no repeat:
the analysis walks each), and the counts worked out by hand from the
textbook formulas (a k×k convolution of C to F channels has F·(C·k² + 1)
parameters and F·C·k²·H·W MACs; the receptive field grows by k − 1).
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from convcli.arithmetic.network import analyze_network
from convcli.arithmetic.spec import load_spec, parse_layers
from convcli.cli import cli
from convcli.errors import LimitError, ShapeError


def run(*args: str):
    return CliRunner().invoke(cli, list(args), env={"COLUMNS": "100"})


def test_a_million_relus_are_one_row():
    """``1000000*relu`` was refused ("expands to 1000000 layers"); it is one row."""
    result = run("shape", "--in", "224", "--layers", "1000000*relu", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    (row,) = data["layers"]
    assert row["index"] == "1–1000000"
    assert row["repeat"] == 1_000_000
    assert row["config"] == "relu ×1,000,000"
    assert data["total_activations"] == 1_000_000 * 3 * 224 * 224
    assert data["output"] == [3, 224, 224]


def test_the_table_shows_the_compressed_row():
    result = run("shape", "--in", "224", "--layers", "1000000*relu")
    assert result.exit_code == 0, result.output
    assert "relu ×1,000,000" in result.output
    assert "1–1000000" in result.output


def test_a_json_spec_repeat_of_a_million():
    """The JSON ``"repeat"`` key was refused over 10,000."""
    layers, _ = load_spec(
        '[{"type": "conv", "filters": 8, "kernel": 3, "padding": 1, "repeat": 1000000}]'
    )
    summary = analyze_network(layers, (8, 16, 16))
    per_conv = 8 * (8 * 9 + 1)
    assert summary.total_params == 1_000_000 * per_conv
    assert summary.total_macs == 1_000_000 * 8 * 8 * 9 * 16 * 16
    assert summary.rows[-1].rf == (1 + 2 * 1_000_000,) * 2


def test_counts_by_hand_for_a_steady_repeat():
    """1000 padded 3×3 convolutions of 8 channels on 32×32: counts from the formulas."""
    summary = analyze_network(parse_layers("1000*(conv 8 k3 p1, relu)"), (8, 32, 32))
    assert summary.total_params == 1000 * 8 * (8 * 9 + 1)
    assert summary.total_macs == 1000 * 8 * 8 * 9 * 32 * 32
    assert summary.total_activations == 2000 * 8 * 32 * 32
    assert summary.rows[-1].rf == (2001, 2001)
    # the first and last repetitions' rows, and one row for the 998 between
    assert [r.index for r in summary.rows] == ["1", "2", "3–1998", "1999", "2000"]
    assert summary.rows[2].repeat == 998
    assert summary.rows[2].params == 998 * 8 * (8 * 9 + 1)


def test_a_repeat_that_changes_the_size_is_walked():
    """Each valid 3×3 convolution takes 2 off; the 63rd of 100 finds a 2×2 input."""
    with pytest.raises(ShapeError, match=r"^layer 125 \(conv 8 k3\)"):
        analyze_network(parse_layers("100*(conv 8 k3, relu)"), (8, 126, 126))
    summary = analyze_network(parse_layers("100*(conv 8 k3, relu)"), (8, 300, 300))
    assert summary.output_shape == (8, 100, 100)
    assert summary.total_macs == sum(8 * 8 * 9 * (298 - 2 * i) ** 2 for i in range(100))


def test_nested_repeats_of_a_billion():
    summary = analyze_network(parse_layers("1000*(1000*(1000*relu))"), (3, 8, 8))
    assert summary.total_activations == 10**9 * 3 * 8 * 8
    assert len(summary.rows) <= 7


# ------------------------------------------------ compressed = written out, layer by layer

BODY = st.lists(
    st.sampled_from(
        [
            "conv 4 k3 p1",
            "conv 4 k3",
            "conv 4 k1",
            "conv 4 k3 p2",
            "relu",
            "bn",
            "maxpool k3 s1 p1",
            "maxpool k2 s1",
            "conv 4 k3 s2 p1",
            "res(conv 4 k3 p1)",
            "convt 4 k2 s2",
        ]
    ),
    min_size=1,
    max_size=3,
)


def _outcome(text: str, n: int):
    try:
        return analyze_network(parse_layers(text), (4, n, n)), None
    except ShapeError as exc:
        return None, str(exc)


@settings(max_examples=60, deadline=None)
@given(body=BODY, count=st.integers(65, 90), n=st.integers(1, 40))
def test_a_compressed_repeat_is_the_written_out_network(body, count, n):
    """Totals, output, field, error message and the kept rows agree with the layers one by one."""
    inner = ", ".join(body)
    compressed, error = _outcome(f"conv 4 k1, {count}*({inner})", n)
    written, written_error = _outcome(", ".join(["conv 4 k1", *[inner] * count]), n)
    assert error == written_error
    if written is None:
        return
    assert compressed is not None
    assert compressed.output_shape == written.output_shape
    assert compressed.total_params == written.total_params
    assert compressed.total_macs == written.total_macs
    assert compressed.total_activations == written.total_activations
    assert compressed.forward_backward_bytes() == written.forward_backward_bytes()
    top = [r for r in compressed.rows if r.depth == 0]
    top_written = [r for r in written.rows if r.depth == 0]
    assert (top[-1].rf, top[-1].jump) == (top_written[-1].rf, top_written[-1].jump)
    by_index = {r.index: r for r in written.rows}
    for row in compressed.rows:
        if row.kind != "repeat" and "–" not in row.index:
            assert row == by_index[row.index]


# ------------------------------------------------------------------ the limit that remains


def _deep(levels: int) -> str:
    return "1000*(" * levels + "relu, relu" + ")" * levels


def test_the_limit_counts_rows_held_and_names_its_option():
    """14 nested repeats of two layers hold 49,151 rows: refused, naming --max-layers."""
    with pytest.raises(LimitError, match=r"49,151 rows to hold.*--max-layers"):
        analyze_network(parse_layers(_deep(14)), (3, 8, 8))
    result = run("shape", "--in", "8", "--layers", _deep(14))
    assert result.exit_code == 2
    assert "raise it with --max-layers" in result.output
    # two levels hold 11 rows: over a limit of 10, within one of 11
    result = run("shape", "--in", "8", "--layers", _deep(2), "--max-layers", "10", "-q")
    assert result.exit_code == 2
    assert "11 rows to hold; the limit is 10 rows" in result.output
    result = run("shape", "--in", "8", "--layers", _deep(2), "--max-layers", "11", "--json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)["layers"]) == 11


def test_max_layers_needs_a_network():
    result = run("shape", "--in", "8", "--k", "3", "--max-layers", "5")
    assert result.exit_code == 2
    assert "--max-layers describes a network" in result.output
