"""convcli.arithmetic.limits: each limit is checked before anything is allocated."""

from __future__ import annotations

import numpy as np
import pytest

from convcli.arithmetic import limits
from convcli.errors import LimitError, ParameterError
from convcli.kernels.reading import read_bounded


def test_the_budget_is_the_engines():
    from convcli.engine.tiling import DEFAULT_MEMORY_BUDGET

    assert limits.DEFAULT_MEMORY_BUDGET == DEFAULT_MEMORY_BUDGET == 256 * 2**20
    assert limits.MAX_KERNEL_TAPS * 8 == DEFAULT_MEMORY_BUDGET


def test_kernel_taps_at_and_over_the_limit():
    limits.check_kernel_taps(1, limits.MAX_KERNEL_TAPS, "k")
    with pytest.raises(ParameterError, match=r"k: 2×16777217 = 33554434 taps .* limit of 33554432"):
        limits.check_kernel_taps(2, limits.MAX_KERNEL_TAPS // 2 + 1, "k")


@pytest.mark.parametrize(
    ("text", "depth"),
    [("1 2", 0), ("[[1, 2]]", 2), ('{"name": "[[[[", "weights": [[1]]}', 3), ("(conv 3)", 1)],
)
def test_nesting_depth_ignores_brackets_in_strings(text, depth):
    assert limits.check_nesting(text, "x") == depth


def test_nesting_over_the_limit_is_refused_without_recursion():
    with pytest.raises(ParameterError, match="nested more than 64 deep"):
        limits.check_nesting("[" * 100000, "x")


def test_read_bounded_stops_at_the_limit_on_an_endless_file():
    with pytest.raises(ParameterError, match="more than 1000 bytes"):
        read_bounded("/dev/zero", "x", limit=1000)


def test_read_bounded_reads_a_small_file(tmp_path):
    path = tmp_path / "a"
    path.write_bytes(b"abc")
    assert read_bounded(path, "x", limit=3) == b"abc"


@pytest.mark.parametrize("spec", ["1000*(1000*(1000*relu))", "10001*relu"])
def test_a_long_repeat_is_parsed_without_expanding(spec):
    """A repeat stays one layer, however many times it applies (issue 21 item 15)."""
    from convcli.arithmetic.spec import parse_layers

    assert len(parse_layers(spec)) == 1


def test_a_spec_nested_too_deep_is_refused():
    from convcli.arithmetic.spec import parse_layers
    from convcli.errors import ShapeError

    with pytest.raises(ShapeError, match="limit"):
        parse_layers("2*(" * 100 + "relu" + ")" * 100)


def test_the_rows_an_analysis_holds_are_bounded_before_any_is_made():
    """14 nested repeats of two layers would hold 49,151 rows: refused up front."""
    from convcli.arithmetic.network import analyze_network
    from convcli.arithmetic.spec import parse_layers

    layers = parse_layers("1000*(" * 14 + "relu, relu" + ")" * 14)
    with pytest.raises(LimitError, match="49,151 rows to hold; the limit is 10,000"):
        analyze_network(layers, (3, 8, 8))
    written = parse_layers(", ".join(["relu"] * limits.MAX_LAYERS))
    assert len(analyze_network(written, (3, 8, 8)).rows) == limits.MAX_LAYERS


def test_limit_error_is_public():
    """`convcli.LimitError` is exported (in __all__, so the README's table lists it) and is the
    ParameterError the library raises for an absurd size."""
    import convcli

    assert "LimitError" in convcli.__all__
    assert convcli.LimitError is LimitError
    with pytest.raises(convcli.LimitError, match="over the limit"):
        convcli.filter2d(np.ones((3, 3)), np.ones((1, 1)), padding=100_000)


def test_weights_larger_than_the_memory_budget_are_refused_at_once():
    """16x16x81x81 float64 weights (13.4 MB) under an 8 MiB budget ran past 300 s in
    one-pixel tiles; now a LimitError names the weights, the budget and the way out."""
    from convcli import conv2d

    x = np.zeros((1, 16, 100, 100))
    w = np.ones((16, 16, 81, 81))
    with pytest.raises(LimitError) as info:
        conv2d(x, w, padding="same", memory_budget=8 << 20)
    assert str(info.value) == (
        "the kernel weights (16x16x81x81 float64) take 13.4 MB, more than the memory "
        "budget of 8.4 MB: use a smaller kernel, or (in Python) a larger `memory_budget`"
    )
