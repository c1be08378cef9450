"""Peak activation memory from tensor lifetimes, against a brute-force walk written here.

The oracle: at each step t of the schedule, add up every tensor made at or
before t whose last reader runs at or after t (a network output: until the
end; a tensor nothing reads: at its own step only); the peak is the largest
of those sums. Sizes come from the tests' own arithmetic or from onnx's
shape inference, never from the code under test.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from convcli.arithmetic.lifetimes import Step, peak_live
from convcli.arithmetic.network import analyze_network
from convcli.arithmetic.spec import parse_layers
from convcli.cli import cli


def brute_peak(tensors: list[tuple[str, int, tuple[str, ...]]], outputs: set[str]) -> int:
    """(name, size, inputs) in schedule order: max over t of the tensors live at step t."""
    order = {name: t for t, (name, _, _) in enumerate(tensors)}
    end = len(tensors) - 1
    best = 0
    for t in range(len(tensors)):
        live = 0
        for name, size, _ in tensors:
            readers = [u for u, (_, _, ins) in enumerate(tensors) if name in ins]
            last = end if name in outputs else max(readers, default=order[name])
            if order[name] <= t <= last:
                live += size
        best = max(best, live)
    return best


GRAPHS = {
    "chain": ([("x", 10, ()), ("a", 30, ("x",)), ("b", 5, ("a",)), ("c", 7, ("b",))], {"c"}),
    "residual": (
        [
            ("x", 8, ()),
            ("c1", 16, ("x",)),
            ("c2", 16, ("c1",)),
            ("down", 16, ("x",)),
            ("add", 16, ("c2", "down")),
            ("out", 4, ("add",)),
        ],
        {"out"},
    ),
    "dead_end_and_two_outputs": (
        [("x", 3, ()), ("side", 50, ("x",)), ("a", 6, ("x",)), ("b", 2, ("a",))],
        {"a", "b"},
    ),
    "long_skip": (
        [
            ("x", 2, ()),
            ("e1", 20, ("x",)),
            ("e2", 5, ("e1",)),
            ("e3", 5, ("e2",)),
            ("d", 20, ("e3",)),
            ("cat", 40, ("d", "e1")),
        ],
        {"cat"},
    ),
}


@pytest.mark.parametrize("key", sorted(GRAPHS))
def test_peak_of_hand_built_graphs(key):
    tensors, outputs = GRAPHS[key]
    steps = [Step(name, size, ins) for name, size, ins in tensors]
    assert peak_live(steps, outputs) == brute_peak(tensors, outputs)


def test_residual_peak_keeps_the_block_input():
    """The residual graph by hand: x lives until `down` reads it (8 + 16 + 16 at c2 and at
    down); at the add, c2, down and the sum: 48; never the sum of all (76)."""
    tensors, outputs = GRAPHS["residual"]
    assert brute_peak(tensors, outputs) == 48
    steps = [Step(n, s, i) for n, s, i in tensors]
    assert peak_live(steps, outputs) == 48


def test_spec_residual_block_peak_against_the_walk():
    """conv 8 k3 p1 → res(conv 8 k3 p1, relu | conv 8 k1) → relu on 3×8×8: by hand."""
    summary = analyze_network(
        parse_layers("conv 8 k3 p1, res(conv 8 k3 p1, relu | conv 8 k1), relu"), (3, 8, 8)
    )
    act = 8 * 8 * 8
    tensors = [
        ("input", 3 * 8 * 8, ()),
        ("conv", act, ("input",)),
        ("body_conv", act, ("conv",)),
        ("body_relu", act, ("body_conv",)),
        ("short_conv", act, ("conv",)),
        ("add", act, ("body_relu", "short_conv")),
        ("relu", act, ("add",)),
    ]
    assert summary.peak_activations == brute_peak(tensors, {"relu"}) == 3 * act
    assert summary.total_activations == 6 * act  # the sum: what the peak is not
    assert summary.collapse(1).peak_activations == summary.peak_activations


def test_identity_shortcut_and_groups():
    """res(conv | identity) inside a seq group, twice: the group's rows are walked in order."""
    summary = analyze_network(
        parse_layers(
            "conv 4 k1, seq g(res(conv 4 k3 p1, conv 4 k3 p1), res(conv 4 k1)), flatten, fc 2"
        ),
        (2, 6, 6),
    )
    a = 4 * 6 * 6
    tensors = [
        ("input", 72, ()),
        ("c", a, ("input",)),
        ("r1a", a, ("c",)),
        ("r1b", a, ("r1a",)),
        ("add1", a, ("r1b", "c")),
        ("r2a", a, ("add1",)),
        ("add2", a, ("r2a", "add1")),
        ("flat", a, ("add2",)),
        ("fc", 2, ("flat",)),
    ]
    assert summary.peak_activations == brute_peak(tensors, {"fc"})


def test_onnx_graph_peak_against_shape_inference(tmp_path):
    """An ONNX residual block: lifetimes from the graph's edges, sizes from onnx's inference."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper, shape_inference

    from convcli.arithmetic.onnx_model import analyze_onnx

    def init(name, *shape):
        return numpy_helper.from_array(np.zeros(shape, np.float32), name)

    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["a"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["a"], ["r"]),
        helper.make_node("Conv", ["r", "w2"], ["b"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["x", "w3"], ["s"], kernel_shape=[1, 1]),
        helper.make_node("Add", ["b", "s"], ["sum"]),
        helper.make_node("MaxPool", ["sum"], ["y"], kernel_shape=[2, 2], strides=[2, 2]),
    ]
    graph = helper.make_graph(
        nodes,
        "res",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 10, 10])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [init("w1", 6, 3, 3, 3), init("w2", 6, 6, 3, 3), init("w3", 6, 3, 1, 1)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "res.onnx"
    onnx.save(model, str(path))
    inferred = shape_inference.infer_shapes(model).graph
    sizes = {
        v.name: int(np.prod([d.dim_value for d in v.type.tensor_type.shape.dim]))
        for v in [*inferred.value_info, *inferred.output, *inferred.input]
    }
    weights = {"w1", "w2", "w3"}
    tensors = [("x", sizes["x"], ())] + [
        (n.output[0], sizes[n.output[0]], tuple(i for i in n.input if i not in weights))
        for n in nodes
    ]
    expected = brute_peak(tensors, {"y"})
    assert analyze_onnx(str(path)).peak_activations == expected
    assert expected < sum(size for _, size, _ in tensors)
    result = CliRunner().invoke(cli, ["shape", str(path), "--json"])
    data = json.loads(result.stdout)
    assert data["peak_activations"] == expected
    assert data["peak_activation_bytes"] == 4 * expected
