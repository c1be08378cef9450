"""One small network as .onnx, .pt2, .keras and .py: ``convcli shape`` prints one table.

The networks are built here with the pinned torch (the tests skip without
it): the forward pass's output shapes are the oracle for every row. Each is
exported with ``torch.onnx.export`` (dynamic batch) and ``torch.export`` +
``torch.export.save`` (dynamic batch), its source written as a .py file,
and its Keras form written by hand as a .keras zip (no TensorFlow). The
installed command is run on each, piped, at 80 columns, with ``--in``: the
tables are byte-identical but for the file's name in the title.
"""

from __future__ import annotations

import json
import warnings

import pytest
from model_files import conv, dense, layer, pool, sequential, write_keras
from terminal import run_piped

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
SMALL = '''
from torch import nn


class Small(nn.Module):
    """conv, relu, pool, conv, flatten, linear."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 4, 3, padding=1)
        self.act = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.c2 = nn.Conv2d(4, 8, 3)
        self.flat = nn.Flatten()
        self.fc = nn.Linear(8 * 5 * 5, 10)

    def forward(self, x):
        return self.fc(self.flat(self.c2(self.pool(self.act(self.c1(x))))))
'''

WITH_BN = '''
from torch import nn


class WithBN(nn.Module):
    """conv (no bias), BatchNorm, relu, pool, conv, global pool, flatten, linear."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.act = nn.ReLU()
        self.pool = nn.AvgPool2d(2)
        self.c2 = nn.Conv2d(8, 16, 3, padding=1)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.flat = nn.Flatten()
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        x = self.pool(self.act(self.bn(self.c1(x))))
        return self.fc(self.flat(self.gap(self.c2(x))))
'''


def _keras_small() -> dict:
    return sequential(
        [
            conv("c1", 4, (3, 3), [None, 14, 14, 1], padding="same"),
            layer("ReLU", "act", [None, 14, 14, 4]),
            pool("MaxPooling2D", "pool", [None, 14, 14, 4]),
            conv("c2", 8, (3, 3), [None, 7, 7, 4]),
            layer("Flatten", "flat", [None, 5, 5, 8], data_format="channels_last"),
            dense("fc", 10, [None, 200]),
        ],
        [None, 14, 14, 1],
    )


def _keras_with_bn() -> dict:
    first = conv("c1", 8, (3, 3), [None, 20, 20, 3], padding="same")
    first["config"]["use_bias"] = False
    return sequential(
        [
            first,
            layer("BatchNormalization", "bn", [None, 20, 20, 8], axis=-1, center=True, scale=True),
            layer("ReLU", "act", [None, 20, 20, 8]),
            pool("AveragePooling2D", "pool", [None, 20, 20, 8]),
            conv("c2", 16, (3, 3), [None, 10, 10, 8], padding="same"),
            layer("GlobalAveragePooling2D", "gap", [None, 10, 10, 16], keepdims=False),
            dense("fc", 5, [None, 16]),
        ],
        [None, 20, 20, 3],
    )


#: name: (source, class, channels, size, the Keras config, ONNX exporter options)
NETWORKS = {
    "small": (SMALL, "Small", 1, 14, _keras_small, {}),
    # the TorchScript exporter keeps BatchNormalization (training=PRESERVE); the
    # dynamo exporter folds it into the convolution: another network
    "with_bn": (
        WITH_BN,
        "WithBN",
        3,
        20,
        _keras_with_bn,
        {"dynamo": False, "training": torch.onnx.TrainingMode.PRESERVE},
    ),
}


def _files(tmp_path, key):
    """The network's four files in ``tmp_path``, and the model (eval mode) for the oracle."""
    source, name, channels, size, keras, options = NETWORKS[key]
    (tmp_path / f"{key}.py").write_text(source, encoding="utf-8")
    namespace: dict = {"__name__": f"model_{key}"}
    exec(compile(source, str(tmp_path / f"{key}.py"), "exec"), namespace)
    model = namespace[name]().eval()
    example = (torch.rand(2, channels, size, size),)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            example,
            str(tmp_path / f"{key}.onnx"),
            input_names=["x"],
            dynamic_axes={"x": {0: "N"}},
            **options,
        )
        program = torch.export.export(model, example, dynamic_shapes=({0: torch.export.Dim("N")},))
    torch.export.save(program, str(tmp_path / f"{key}.pt2"))
    write_keras(tmp_path / f"{key}.keras", keras())
    return model, example[0]


def _oracle(model, x) -> list[tuple[int, ...]]:
    """Each leaf module's output shape without the batch, in the order the forward pass runs."""
    shapes: list[tuple[int, ...]] = []
    handles = [
        m.register_forward_hook(lambda _m, _i, out: shapes.append(tuple(out.shape[1:])))
        for m in model.modules()
        if not list(m.children())
    ]
    with torch.no_grad():
        model(x)
    for handle in handles:
        handle.remove()
    return shapes


@pytest.mark.parametrize("key", sorted(NETWORKS))
def test_four_forms_print_one_table(tmp_path, key):
    """.onnx, .pt2, .keras and .py: the same table (title's name aside), rows as torch runs them."""
    model, x = _files(tmp_path, key)
    _, name, channels, size, _, _ = NETWORKS[key]
    oracle = _oracle(model, x)
    tables, data = {}, {}
    for suffix in ("onnx", "pt2", "keras", "py"):
        args = ["shape", f"{key}.{suffix}", "--in", str(size)]
        if suffix == "py":
            args += ["--class", name, "--channels", str(channels)]
        code, out, err = run_piped(args, tmp_path, env={"COLUMNS": "80"})
        assert code == 0, (suffix, err)
        title, _, rest = out.decode().partition("\n")
        assert title.strip().endswith(f"N×{channels}×{size}×{size} → N×{oracle[-1][0]}"), title
        tables[suffix] = rest
        code, out, err = run_piped([*args, "--json"], tmp_path)
        assert code == 0, (suffix, err)
        data[suffix] = json.loads(out)
    assert tables["pt2"] == tables["onnx"]
    assert tables["keras"] == tables["onnx"]
    assert tables["py"] == tables["onnx"]
    for suffix, found in data.items():
        shapes = [tuple(row["output"]) for row in found["layers"]]
        assert shapes == [("N", *shape) for shape in oracle], suffix
        assert found["total_params"] == sum(p.numel() for p in model.parameters()), suffix
    # and the rows are the spec language's layers, as the network was written
    kinds = [row["layer"] for row in data["onnx"]["layers"]]
    assert kinds[0] == "conv" and kinds[-2:] == ["flatten", "linear"]


def test_in_binds_a_symbolic_size_and_refuses_another_fixed_one(tmp_path):
    """--in on an ONNX model: binds a symbolic H×W; a fixed one must agree (exit 2 otherwise)."""
    model, _ = _files(tmp_path, "small")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (torch.rand(1, 1, 14, 14),),
            str(tmp_path / "hw.onnx"),
            input_names=["x"],
            dynamic_axes={"x": {0: "N", 2: "H", 3: "W"}},
            dynamo=False,
        )
    code, out, err = run_piped(["shape", "hw.onnx", "--in", "14", "--json"], tmp_path)
    assert code == 0, err
    assert json.loads(out)["output"] == ["N", 10]
    code, out, err = run_piped(["shape", "small.onnx", "--in", "16"], tmp_path)
    assert code == 2 and "14×14" in err and "Traceback" not in err
    code, out, err = run_piped(["shape", "small.onnx", "--in", "14", "--in", "14"], tmp_path)
    assert code == 2
