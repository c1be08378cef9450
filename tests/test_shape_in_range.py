"""``shape --in-range`` and the nearest working sizes (issue 24, item 3).

The oracle is a brute-force loop over sizes with the textbook's formulas
written out here (⌊(n + 2p − k)/s⌋ + 1, a pool's ⌊(n − k)/s⌋ + 1, a
transposed convolution's (n − 1)·s − 2p + k), not convcli's analysis.
"""

from __future__ import annotations

import json

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from convcli.arithmetic.insizes import input_rule, size_works
from convcli.arithmetic.spec import parse_layers
from convcli.cli import cli

# a layer: (text, function of n → output size or None when it does not fit)
conv = st.builds(
    lambda k, s, p: (
        f"conv 2 k{k} s{s} p{p}",
        lambda n: (n + 2 * p - k) // s + 1 if n + 2 * p >= k else None,
    ),
    st.integers(1, 4),
    st.integers(1, 3),
    st.integers(0, 2),
)
pool = st.builds(
    lambda k, s: (f"maxpool k{k} s{s}", lambda n: (n - k) // s + 1 if n >= k else None),
    st.integers(1, 3),
    st.integers(1, 3),
)
convt = st.builds(
    lambda k, s: (f"convt 2 k{k} s{s}", lambda n: (n - 1) * s + k),
    st.integers(1, 3),
    st.integers(1, 3),
)
plain = st.one_of(conv, pool, convt)


def chain(layers):
    def run(n):
        for _, step in layers:
            if n is None:
                return None
            n = step(n)
        return n

    return run


def residual(body, shortcut):
    def run(n):
        a, b = chain(body)(n), chain(shortcut)(n)
        return a if a is not None and a == b else None

    text = f"res({', '.join(t for t, _ in body)} | {', '.join(t for t, _ in shortcut)})"
    return (text, run)


block = st.one_of(
    plain,
    st.builds(
        residual, st.lists(plain, min_size=1, max_size=3), st.lists(plain, min_size=1, max_size=2)
    ),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(block, min_size=1, max_size=4))
def test_in_range_matches_a_brute_force_loop(layers):
    """The rule's sizes from 1 to 150 are those a loop over the sizes finds, one by one."""
    spec = ", ".join(text for text, _ in layers)
    run = chain(layers)
    # a size works when every layer fits (output >= 1) and every residual's branches agree
    expected = [n for n in range(1, 151) if (out := run(n)) is not None and out >= 1]
    layers_ = parse_layers(spec)
    rule = input_rule(layers_, 2)
    if rule is None:  # no rule (branches of different strides): the command checks each size
        assert [n for n in range(1, 151) if size_works(layers_, 2, n)] == expected, spec
    else:
        assert list(rule.sizes(1, 150)) == expected, (spec, rule)


def test_cli_rule_list_and_json():
    """One command answers which sizes work: the rule, then the list; --json carries both."""
    spec = "conv 8 k3 s2 p1, res(conv 8 k3 p1 | maxpool k2, convt 8 k2 s2)"
    runner = CliRunner()
    result = runner.invoke(cli, ["shape", "--layers", spec, "--in-range", "200..216"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "network: sizes 200..216 that work: n ≡ 0, 3 (mod 4), from 3 (9 sizes)",
        "200 203 204 207 208 211 212 215 216",
    ]
    data = json.loads(
        runner.invoke(cli, ["shape", "--layers", spec, "--in-range", "1..9", "--json"]).stdout
    )
    assert data["sizes"] == [3, 4, 7, 8] and data["period"] == 4
    quiet = runner.invoke(cli, ["shape", "--layers", spec, "--in-range", "1..9", "--quiet"]).stdout
    assert quiet == "3\n4\n7\n8\n"


def test_a_size_that_breaks_names_the_layer_and_the_nearest_sizes():
    """--in 202: the residual block that disagrees, and 200 and 203 that work; exit 2."""
    spec = "conv 8 k3 s2 p1, res(conv 8 k3 p1 | maxpool k2, convt 8 k2 s2)"
    result = CliRunner().invoke(cli, ["shape", "--layers", spec, "--in", "202"])
    assert result.exit_code == 2
    assert (
        "layer 2 (residual): the body gives 8×101×101 but the shortcut gives 8×100×100"
        in result.stderr
    )
    assert "nearest sizes that work: 200 and 203" in result.stderr


def test_presets_and_usage_errors():
    """Presets take every size from their smallest; bad ranges and combinations exit 2."""
    runner = CliRunner()
    out = runner.invoke(cli, ["shape", "--arch", "lenet5", "--in-range", "1..14"]).stdout
    assert out.splitlines()[0] == "lenet5: sizes 1..14 that work: every size from 12 (3 sizes)"
    for args in (
        ["--arch", "lenet5", "--in-range", "5..3"],
        ["--arch", "lenet5", "--in-range", "x"],
        ["--arch", "lenet5", "--in-range", "1..9", "--in", "28"],
        ["--in", "28", "--k", "3", "--in-range", "1..9"],
    ):
        assert runner.invoke(cli, ["shape", *args]).exit_code == 2, args


def test_a_huge_range_is_counted_not_listed():
    """1..10**12: the table counts the sizes with arithmetic; --json refuses before writing."""
    runner = CliRunner()
    result = runner.invoke(cli, ["shape", "--arch", "resnet50", "--in-range", "1..1000000000000"])
    assert result.exit_code == 0
    assert "every size from 1 (1,000,000,000,000 sizes)" in result.stdout
    refused = runner.invoke(
        cli, ["shape", "--arch", "resnet50", "--in-range", "1..10000000", "--json"]
    )
    assert refused.exit_code == 2 and refused.stdout == ""
    assert "over the limit of 1,000,000" in refused.stderr
