"""``convcli shape model.onnx``: models built here with onnx.helper.

Oracles: output shapes from ``onnx.shape_inference`` (the ONNX reference
implementation of each operator's shape rule, for the model's opset);
parameters from the sizes of each node's initializers; MACs from the
inferred output shapes and the weights' dimensions. Never convcli itself.
"""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from terminal import run_piped

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper, shape_inference  # noqa: E402

from convcli.arithmetic.onnx_model import ONNX_MISSING, analyze_onnx  # noqa: E402
from convcli.cli import cli  # noqa: E402
from convcli.errors import ConvcliError  # noqa: E402


def _init(name, *shape):
    rng = np.random.default_rng(len(name))
    return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)


def _model(nodes, inits, input_shape, opset, output="y"):
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, input_shape)],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    # the declared output takes the shape onnx infers (the checker wants one)
    inferred = shape_inference.infer_shapes(model)
    model.graph.output[0].CopyFrom(inferred.graph.output[0])
    return model


def lenet_like(opset=21):
    """Conv (padding) → Relu → MaxPool (ceil) → Conv (stride, dilation, groups) → BN →
    ConvTranspose → GlobalAveragePool → Flatten → Gemm."""
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], kernel_shape=[5, 5], pads=[2, 2, 2, 2]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node(
            "MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1
        ),
        helper.make_node(
            "Conv",
            ["p1", "w2", "b2"],
            ["c2"],
            kernel_shape=[3, 3],
            strides=[2, 2],
            dilations=[2, 2],
            group=2,
            pads=[1, 1, 1, 1],
        ),
        helper.make_node("BatchNormalization", ["c2", "s", "bb", "m", "v"], ["n2"]),
        helper.make_node("ConvTranspose", ["n2", "wt"], ["t"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("GlobalAveragePool", ["t"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], transB=1),
    ]
    inits = [
        _init("w1", 6, 1, 5, 5),
        _init("b1", 6),
        _init("w2", 16, 3, 3, 3),
        _init("b2", 16),
        _init("s", 16),
        _init("bb", 16),
        _init("m", 16),
        _init("v", 16),
        _init("wt", 16, 8, 2, 2),
        _init("wf", 10, 8),
        _init("bf", 10),
    ]
    return _model(nodes, inits, ["N", 1, 27, 27], opset)


def _inferred(model, n=1):
    """Every tensor's shape from onnx.shape_inference, the symbolic N set to ``n``."""
    inferred = shape_inference.infer_shapes(model, strict_mode=True)
    shapes = {}
    for value in list(inferred.graph.value_info) + list(inferred.graph.output):
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = tuple(d.dim_value if d.HasField("dim_value") else n for d in dims)
    return shapes


def _save(model, path):
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return str(path)


@pytest.mark.parametrize("opset", [21, 22])
def test_lenet_like_shapes_match_shape_inference(tmp_path, opset):
    """Each node's output shape equals onnx.shape_inference's, at opsets 21 and 22."""
    model = lenet_like(opset)
    path = _save(model, tmp_path / "lenet.onnx")
    oracle = _inferred(model)
    summary = analyze_onnx(path, {"N": 1})
    outputs = [node.output[0] for node in model.graph.node]
    assert [row.shape for row in summary.rows] == [oracle[name] for name in outputs]
    # 27 → conv p2 → 27 → pool k2 s2 ceil → 14 in both opsets (no window starts in padding)
    assert summary.rows[2].shape == (1, 6, 14, 14)


def test_lenet_like_params_from_the_initializers(tmp_path):
    """Parameters: each node's initializer sizes (BN: scale and bias; mean/var are buffers)."""
    model = lenet_like()
    path = _save(model, tmp_path / "lenet.onnx")
    size = {t.name: math.prod(t.dims) for t in model.graph.initializer}
    expected = []
    for node in model.graph.node:
        names = list(node.input[1:3]) if node.op_type == "BatchNormalization" else node.input
        expected.append(sum(size.get(name, 0) for name in names))
    summary = analyze_onnx(path, {"N": 1})
    assert [row.params for row in summary.rows] == expected
    assert summary.total_params == sum(size.values()) - 32


def test_lenet_like_macs_from_inferred_shapes(tmp_path):
    """MACs: conv = output cells × (C/g)·kh·kw; transposed = input cells × C·F/g·kh·kw; Gemm M·K·N."""
    model = lenet_like()
    path = _save(model, tmp_path / "lenet.onnx")
    shapes = _inferred(model)
    shapes["x"] = (1, 1, 27, 27)
    dims = {t.name: tuple(t.dims) for t in model.graph.initializer}
    expected = []
    for node in model.graph.node:
        if node.op_type == "Conv":
            _, cg, kh, kw = dims[node.input[1]]
            expected.append(math.prod(shapes[node.output[0]]) * cg * kh * kw)
        elif node.op_type == "ConvTranspose":
            _, fg, kh, kw = dims[node.input[1]]
            expected.append(math.prod(shapes[node.input[0]]) * fg * kh * kw)
        elif node.op_type == "Gemm":
            units, inputs = dims[node.input[1]]
            expected.append(shapes[node.input[0]][0] * inputs * units)
        else:
            expected.append(0)
    summary = analyze_onnx(path, {"N": 1})
    assert [row.macs for row in summary.rows] == expected
    assert all(row.flops == 2 * row.macs for row in summary.rows)


@pytest.mark.parametrize(("opset", "size"), [(21, 4), (22, 3)])
def test_ceil_mode_pooling_follows_the_opset(tmp_path, opset, size):
    """n 5, k 2, s 2, pad 1, ceil: 4 before opset 22, 3 from it (shape_inference agrees)."""
    node = helper.make_node(
        "MaxPool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1
    )
    model = _model([node], [], [1, 1, 5, 5], opset)
    assert _inferred(model)["y"] == (1, 1, size, size)
    summary = analyze_onnx(_save(model, tmp_path / f"pool{opset}.onnx"))
    assert summary.rows[0].shape == (1, 1, size, size)
    assert len(summary.notes) == 1 and f"opset {opset}" in summary.notes[0]
    assert ("kept" if opset < 22 else "dropped") in summary.notes[0]


def test_receptive_field_along_the_main_path(tmp_path):
    """Conv k3 → Conv k3 s2 → Add(skip from the first conv) → MaxPool k2: 3, 7, 7, 9."""
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["a"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["a", "w2"], ["b"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["b", "a"], ["c"]),
        helper.make_node("MaxPool", ["c"], ["y"], kernel_shape=[2, 2], strides=[2, 2]),
    ]
    model = _model(nodes, [_init("w1", 4, 1, 3, 3), _init("w2", 4, 4, 3, 3)], [1, 1, 8, 8], 21)
    summary = analyze_onnx(_save(model, tmp_path / "rf.onnx"))
    assert [row.rf for row in summary.rows] == [(3, 3), (5, 5), (5, 5), (6, 6)]
    assert [row.jump for row in summary.rows] == [(1, 1), (1, 1), (1, 1), (2, 2)]


def test_reshape_concat_matmul(tmp_path):
    """Shape-only nodes and MatMul against shape_inference."""
    shape = numpy_helper.from_array(np.array([1, -1], dtype=np.int64), "shape")
    nodes = [
        helper.make_node("Concat", ["x", "x"], ["c"], axis=1),
        helper.make_node("Reshape", ["c", "shape"], ["r"]),
        helper.make_node("MatMul", ["r", "w"], ["y"]),
    ]
    model = _model(nodes, [shape, _init("w", 32, 5)], [1, 2, 4, 2], 21)
    oracle = _inferred(model)
    summary = analyze_onnx(_save(model, tmp_path / "mm.onnx"))
    assert [row.shape for row in summary.rows] == [oracle["c"], oracle["r"], oracle["y"]]
    assert summary.rows[2].macs == 32 * 5 and summary.rows[2].params == 160


def test_symbolic_batch_is_counted_as_one(tmp_path):
    """An unbound batch N: counted as 1 and named in the shapes; --dim N=4 scales the MACs by 4."""
    path = _save(lenet_like(), tmp_path / "lenet.onnx")
    free = analyze_onnx(path)
    assert free.batch == "N" and free.shown_input == ("N", 1, 27, 27)
    assert free.total_macs == analyze_onnx(path, {"N": 1}).total_macs
    one, four = analyze_onnx(path, {"N": 1}), analyze_onnx(path, {"N": 4})
    assert one.batch is None and one.shown_output == (1, 10)
    assert four.total_macs == 4 * one.total_macs
    assert four.total_params == one.total_params
    assert four.input_shape == (4, 1, 27, 27)


def test_without_onnx_one_line_names_the_extra(tmp_path, monkeypatch):
    """No onnx package: ConvcliError (and exit 1) with pip install '.[onnx]'."""
    path = _save(lenet_like(), tmp_path / "lenet.onnx")
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ConvcliError, match=r"pip install '\.\[onnx\]'"):
        analyze_onnx(path, {"N": 1})
    result = CliRunner().invoke(cli, ["shape", path, "--dim", "N=1"])
    assert result.exit_code == 1
    assert result.stderr.strip() == f"Error: {ONNX_MISSING}"


def test_installed_command_prints_the_table(tmp_path):
    """convcli shape lenet.onnx --dim N=1: the table with the initializers' total, at 80 columns."""
    model = lenet_like()
    _save(model, tmp_path / "lenet.onnx")
    total = sum(math.prod(t.dims) for t in model.graph.initializer) - 32
    code, out, err = run_piped(
        ["shape", "lenet.onnx", "--dim", "N=1"], tmp_path, env={"COLUMNS": "80"}
    )
    text = out.decode()
    assert code == 0, err
    assert "lenet.onnx: 1×1×27×27 → 1×10" in text
    assert f"Total parameters: {total:,}" in text
    for op in ("conv ", "convt ", "maxpool ", " bn ", "fc "):
        assert op in text
    assert "opset 21" in err
    code, out, err = run_piped(["shape", "lenet.onnx"], tmp_path)
    assert code == 0 and "lenet.onnx: N×1×27×27 → N×10" in out.decode()
    assert "N is symbolic (the batch)" in err and "Traceback" not in err


def test_json_and_csv(tmp_path):
    """--json carries the totals and rows; --csv one row per node."""
    path = _save(lenet_like(), tmp_path / "lenet.onnx")
    runner = CliRunner()
    data = json.loads(runner.invoke(cli, ["shape", path, "--dim", "N=1", "--json"]).stdout)
    assert data["source"] == "onnx" and data["input"] == [1, 1, 27, 27]
    assert len(data["layers"]) == 9 and data["output"] == [1, 10]
    assert data["total_flops"] == 2 * data["total_macs"]
    lines = runner.invoke(cli, ["shape", path, "--dim", "N=1", "--csv"]).stdout.splitlines()
    assert len(lines) == 10 and lines[0].startswith("index,depth,layer")


def test_usage_errors(tmp_path):
    """A model with --arch, a bad --dim, a non-.onnx file: exit 2."""
    path = _save(lenet_like(), tmp_path / "lenet.onnx")
    runner = CliRunner()
    for args in (
        [path, "--arch", "lenet5"],
        [path, "--dim", "N"],
        [str(tmp_path / "model.txt")],
        ["--dim", "N=1", "--arch", "lenet5"],
    ):
        assert runner.invoke(cli, ["shape", *args]).exit_code == 2, args


@pytest.mark.parametrize("opset", [13, 21])
@pytest.mark.parametrize("keepdims", [0, 1])
def test_reduce_mean_over_h_and_w_is_a_global_pool(tmp_path, opset, keepdims):
    """``x.mean((2, 3))`` as torch exports it (axes an attribute before opset 18, an input
    from 18): the shape is onnx.shape_inference's, the field the whole input."""
    inits = [_init("w", 4, 3, 3, 3)]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"])]
    if opset < 18:
        mean = helper.make_node("ReduceMean", ["c"], ["y"], axes=[2, 3], keepdims=keepdims)
    else:
        inits.append(numpy_helper.from_array(np.array([-2, -1], dtype=np.int64), "axes"))
        mean = helper.make_node("ReduceMean", ["c", "axes"], ["y"], keepdims=keepdims)
    model = _model([*nodes, mean], inits, [1, 3, 10, 10], opset)
    path = _save(model, tmp_path / "mean.onnx")
    summary = analyze_onnx(path, {})
    assert summary.rows[-1].shape == _inferred(model)["y"]
    assert summary.rows[-1].shape == ((1, 4, 1, 1) if keepdims else (1, 4))
    assert summary.total_params == 4 * 3 * 3 * 3


def test_reduce_mean_over_channels_is_refused(tmp_path):
    """A mean over any other axes is not a pooling layer: exit 1 as for an unknown node."""
    nodes = [helper.make_node("ReduceMean", ["x"], ["y"], axes=[1], keepdims=1)]
    path = _save(_model(nodes, [], [1, 3, 10, 10], 13), tmp_path / "m.onnx")
    result = CliRunner().invoke(cli, ["shape", path])
    assert result.exit_code == 1
    assert "ReduceMean" in result.stderr and "axes [1]" in result.stderr
