"""``.pt2`` archives and PyTorch source read without torch, checked against torch's forward pass.

Each model below is Python source. The test imports it with torch (the
oracle: forward hooks record every layer's output shape and parameter
count), exports it with ``torch.export.save``, and reads both the archive
and the source file with convcli, which imports neither torch nor the file.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner
from model_files import D2L_LENET, LENET

from convcli.cli import cli
from convcli.models.common import ModelError
from convcli.models.pt2 import read_pt2
from convcli.models.read import read_model

torch = pytest.importorskip("torch")


RESIDUAL = """
import torch
from torch import nn

WIDTH = 8


class Block(nn.Module):
    def __init__(self, c, stride=1):
        super().__init__()
        self.c1 = nn.Conv2d(c, 2 * c, 3, stride=stride, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(2 * c)
        self.act = nn.ReLU(inplace=True)
        self.c2 = nn.Conv2d(2 * c, 2 * c, 3, padding="same")
        self.down = nn.Conv2d(c, 2 * c, 1, stride=stride)
        self.out = nn.ReLU()

    def forward(self, x):
        y = self.act(self.bn(self.c1(x)))
        return self.out(self.c2(y) + self.down(x))


class Net(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.stem = nn.Conv2d(3, WIDTH, 3, stride=2, padding=1)
        self.pool = nn.MaxPool2d(3, 2, 1, ceil_mode=True)
        blocks = []
        for i in range(2):
            blocks.append(Block(WIDTH * 2**i, stride=2 if i else 1))
        self.blocks = nn.Sequential(*blocks)
        self.gap = nn.AdaptiveAvgPool2d((1, 1))
        self.flat = nn.Flatten()
        self.drop = nn.Dropout(0.25)
        self.fc = nn.Linear(WIDTH * 4, classes)

    def forward(self, x):
        x = self.pool(self.stem(x))
        x = self.blocks(x)
        return self.fc(self.drop(self.flat(self.gap(x))))
"""

ODD = '''
import torch
import torch.nn as nn


class Odd(nn.Module):
    """Strides, dilation, groups, uneven kernels, a transposed convolution, ceil pools."""

    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([
            nn.Conv2d(3, 12, (5, 3), stride=(2, 1), padding=(2, 0), dilation=(1, 2)),
            nn.Conv2d(12, 12, 3, groups=4, padding=2, dilation=2),
            nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True),
            nn.ConvTranspose2d(12, 6, 4, stride=2, padding=1, output_padding=1),
            nn.LeakyReLU(0.1),
            nn.MaxPool2d((2, 3)),
            nn.Tanh(),
        ])

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x
'''

MODELS = {
    "lenet": (LENET, "LeNet", (1, 1, 28, 28)),
    "residual": (RESIDUAL, "Net", (1, 3, 37, 29)),
    "odd": (ODD, "Odd", (2, 3, 23, 31)),
}


def _load(source: str, name: str, path: Path):
    """The model class, imported from the source file as a user would (the oracle's side)."""
    path.write_text(source, encoding="utf-8")
    namespace: dict = {"__name__": f"model_{name}"}
    exec(compile(source, str(path), "exec"), namespace)
    return namespace[name]


def _oracle(model, example) -> list[tuple[tuple[int, ...], int]]:
    """(output shape without the batch, own parameters) of every leaf module, in call order."""
    seen: list[tuple[tuple[int, ...], int]] = []

    def hook(module, _inputs, output):
        own = sum(p.numel() for p in module.parameters(recurse=False))
        seen.append((tuple(output.shape[1:]), own))

    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    with torch.no_grad():
        model(example)
    for handle in handles:
        handle.remove()
    return seen


def _rows(summary) -> list[tuple[tuple[int, ...], int]]:
    """The leaf rows but the residual additions (no module of their own), as the oracle sees them."""
    return [(r.shape[1:], r.params) for r in summary.rows if r.leaf and r.kind != "add"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Each model's source file, its .pt2 archive and torch's per-layer oracle."""
    folder = tmp_path_factory.mktemp("models")
    found = {}
    for key, (source, name, shape) in MODELS.items():
        cls = _load(source, name, folder / f"{key}.py")
        model = cls().eval()
        example = torch.randn(*shape)
        program = torch.export.export(model, (example,))
        torch.export.save(program, str(folder / f"{key}.pt2"))
        total = sum(p.numel() for p in model.parameters())
        found[key] = (folder, name, shape, _oracle(model, example), total)
    return found


@pytest.mark.parametrize("key", sorted(MODELS))
def test_pt2_rows_match_the_forward_pass(exported, key):
    """Every row of a .pt2 read as JSON has the shape and parameters torch's forward pass gives."""
    folder, _, shape, oracle, total = exported[key]
    summary = read_pt2(str(folder / f"{key}.pt2")).summary
    assert summary.input_shape == (1, *shape[1:])
    assert _rows(summary) == oracle
    assert summary.total_params == total


@pytest.mark.parametrize("key", sorted(MODELS))
def test_source_rows_match_the_forward_pass(exported, key):
    """The same model read from its .py with ast gives torch's shapes and parameters row by row."""
    folder, name, shape, oracle, total = exported[key]
    summary = read_model(
        str(folder / f"{key}.py"), name, given=shape[2:], channels=shape[1]
    ).summary
    assert _rows(summary) == oracle
    assert summary.total_params == total


def test_lenet_golden_shapes_from_every_torch_form(exported):
    """d2l's LeNet layer by layer, as the book prints it, from the archive, the file and --code."""
    folder = exported["lenet"][0]
    code = (
        "nn.Sequential(nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(),"
        " nn.AvgPool2d(kernel_size=2, stride=2), nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),"
        " nn.AvgPool2d(kernel_size=2, stride=2), nn.Flatten(), nn.Linear(16 * 5 * 5, 120),"
        " nn.Sigmoid(), nn.Linear(120, 84), nn.Sigmoid(), nn.Linear(84, 10))"
    )
    for summary in (
        read_pt2(str(folder / "lenet.pt2")).summary,
        read_model(str(folder / "lenet.py"), "LeNet", given=(28, 28), channels=1).summary,
        read_model(None, code=code, given=(28, 28), channels=1).summary,
    ):
        assert [(r.kind, r.shape[1:]) for r in summary.rows] == D2L_LENET
        assert summary.total_params == 61_706


D2L_SOURCE = '''
import torch
from torch import nn
from d2l import torch as d2l


class LeNet(d2l.Classifier):  #@save
    """The LeNet-5 model."""
    def __init__(self, lr=0.1, num_classes=10):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(
            nn.LazyConv2d(6, kernel_size=5, padding=2), nn.Sigmoid(),
            nn.AvgPool2d(kernel_size=2, stride=2),
            nn.LazyConv2d(16, kernel_size=5), nn.Sigmoid(),
            nn.AvgPool2d(kernel_size=2, stride=2),
            nn.Flatten(),
            nn.LazyLinear(120), nn.Sigmoid(),
            nn.LazyLinear(84), nn.Sigmoid(),
            nn.LazyLinear(num_classes))
'''


def test_d2l_lenet_as_the_book_writes_it(tmp_path):
    """d2l's own LeNet (Lazy layers, forward inherited from d2l.Module) gives the book's shapes."""
    path = tmp_path / "lenet.py"
    path.write_text(D2L_SOURCE, encoding="utf-8")
    model = read_model(str(path), "LeNet", given=(28, 28), channels=1)
    assert [(r.kind, r.shape[1:]) for r in model.summary.rows] == D2L_LENET
    assert any("d2l's Module" in note for note in model.summary.notes)


def test_the_tables_of_pt2_py_and_code_are_the_same(exported):
    """`convcli shape` prints the same table body for the archive, the file and --code."""
    folder = exported["lenet"][0]
    runner = CliRunner()
    env = {"COLUMNS": "100", "NO_COLOR": "1"}
    runs = [
        [str(folder / "lenet.pt2")],
        [str(folder / "lenet.py"), "--class", "LeNet", "--in", "28", "--channels", "1"],
    ]
    bodies = []
    for args in runs:
        result = runner.invoke(cli, ["shape", *args], env=env)
        assert result.exit_code == 0, result.output
        bodies.append(result.stdout.splitlines()[1:])  # the title names the file
    assert bodies[0] == bodies[1]
    assert "61,706" in "\n".join(bodies[0])


def test_reading_imports_no_framework(exported, tmp_path):
    """The installed command reads a .pt2 and a .py with neither torch nor the file imported."""
    import subprocess

    folder = exported["residual"][0]
    probe = (
        "import sys, runpy; sys.argv = ['convcli'] + sys.argv[1:]\n"
        "try:\n    runpy.run_module('convcli', run_name='__main__')\n"
        "except SystemExit as e:\n    code = e.code\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'model_residual', 'residual')]\n"
        "print('IMPORTED', bad, code, file=sys.stderr)\n"
    )
    for args in (
        [str(folder / "residual.pt2")],
        [str(folder / "residual.py"), "--in", "37x29", "--channels", "3", "--class", "Net"],
    ):
        proc = subprocess.run(
            [sys.executable, "-c", probe, "shape", *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            check=False,
        )
        assert "IMPORTED [] 0" in proc.stderr, proc.stderr


UNREADABLE = [
    (
        "if",
        "import torch\nfrom torch import nn\n\n\nclass M(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.c = nn.Conv2d(3, 4, 3)\n\n"
        "    def forward(self, x):\n        if x.sum() > 0:\n            x = self.c(x)\n        return x\n",
        "m.py:11: a condition on 'x.sum() > 0' decided at run time",
    ),
    (
        "cat",
        "import torch\nfrom torch import nn\n\n\nclass M(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.c = nn.Conv2d(3, 4, 3)\n\n"
        "    def forward(self, x):\n        return torch.cat([self.c(x), x], 1)\n",
        "m.py:11: a concatenation (torch.cat) has no row in convcli yet",
    ),
    (
        "unknown",
        "import torch\nfrom torch import nn\nfrom mylib import Fancy\n\n\nclass M(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.c = Fancy(3)\n\n"
        "    def forward(self, x):\n        return self.c(x)\n",
        "m.py:9: convcli does not know Fancy (mylib.Fancy)",
    ),
]


@pytest.mark.parametrize(
    ("source", "message"), [u[1:] for u in UNREADABLE], ids=[u[0] for u in UNREADABLE]
)
def test_unreadable_source_names_its_line_and_exits_2(tmp_path, monkeypatch, source, message):
    """A construct ast cannot settle stops with file:line and exit 2, never a guess."""
    (tmp_path / "m.py").write_text(source, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["shape", "m.py", "--in", "8", "--channels", "3"])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == f"Error: {message}"
    assert result.stdout == ""


def test_unreadable_pt2_node_names_the_source_line(tmp_path):
    """A .pt2 node with no row names its node, its module and the model's source line."""
    source = (
        "import torch\nfrom torch import nn\n\n\nclass M(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.c = nn.Conv2d(3, 4, 3)\n\n"
        "    def forward(self, x):\n        y = self.c(x)\n        return torch.cat([y, y], 1)\n"
    )
    cls = _load(source, "M", tmp_path / "cat_model.py")
    program = torch.export.export(cls(), (torch.randn(1, 3, 8, 8),))
    torch.export.save(program, str(tmp_path / "cat.pt2"))
    with pytest.raises(
        ModelError,
        match=r"node cat\b.*cat_model\.py:12: convcli has no row for torch\.ops\.aten\.cat",
    ):
        read_pt2(str(tmp_path / "cat.pt2"))
    result = CliRunner().invoke(cli, ["shape", str(tmp_path / "cat.pt2")])
    assert result.exit_code == 2


def test_stated_channels_are_checked(tmp_path):
    """A Conv2d built for 3 channels on a 1-channel input is refused at its line (torch would fail)."""
    (tmp_path / "m.py").write_text(
        LENET.replace("nn.Conv2d(1, 6", "nn.Conv2d(3, 6"), encoding="utf-8"
    )
    with pytest.raises(
        ModelError,
        match=r"m\.py:12: conv 6 k5 p2 was built for 3 input channels; its input is 1×28×28",
    ):
        read_model(str(tmp_path / "m.py"), "LeNet", given=(28, 28), channels=1)


def test_onnx_export_of_the_same_model_has_the_same_numbers(exported, tmp_path):
    """The ONNX table of the same LeNet has the .pt2's rows: shapes (but the batch), params, MACs, RF.

    The ONNX reader names rows in ONNX's words (``Conv``, ``Gemm``) and keeps the
    batch axis; every number agrees.
    """
    import json
    import warnings

    pytest.importorskip("onnx")
    folder, name, shape, _, _ = exported["lenet"]
    cls = _load(MODELS["lenet"][0], name, tmp_path / "again.py")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            cls().eval(), (torch.randn(*shape),), str(tmp_path / "lenet.onnx"), dynamo=False
        )
    runner = CliRunner()
    tables = {}
    for suffix in ("pt2", "onnx"):
        where = folder if suffix == "pt2" else tmp_path
        result = runner.invoke(cli, ["shape", str(where / f"lenet.{suffix}"), "--json"])
        assert result.exit_code == 0, result.output
        tables[suffix] = json.loads(result.stdout)
    keys = ("params", "macs", "rf_h", "rf_w", "jump_h", "jump_w")
    pt2 = [(row["output"][1:], *(row[k] for k in keys)) for row in tables["pt2"]["layers"]]
    onnx = [(row["output"][1:], *(row[k] for k in keys)) for row in tables["onnx"]["layers"]]
    assert pt2 == onnx
    assert tables["pt2"]["total_params"] == tables["onnx"]["total_params"] == 61_706


def test_dynamic_sizes_are_read_at_the_example_and_can_be_chosen(tmp_path):
    """A program exported with a dynamic batch and height: rows at the example, a note, --in works."""
    from torch import nn
    from torch.export import Dim

    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 4, 3, padding=1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 3),
    ).eval()
    example = torch.randn(2, 3, 40, 29)
    program = torch.export.export(
        model, (example,), dynamic_shapes=({0: Dim("batch"), 2: Dim("h", min=16, max=256)},)
    )
    torch.export.save(program, str(tmp_path / "dyn.pt2"))
    summary = read_pt2(str(tmp_path / "dyn.pt2")).summary
    assert _rows(summary) == _oracle(model, example)
    assert any("axis 2 is dynamic (16..256)" in note for note in summary.notes)
    other = torch.randn(1, 3, 64, 29)
    assert _rows(read_pt2(str(tmp_path / "dyn.pt2"), given=(64, 29)).summary) == _oracle(
        model, other
    )


CIFAR = """
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    # the PyTorch CIFAR-10 tutorial's network: one pool module used twice, functional ReLUs
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)  # flatten all dimensions except batch
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)
"""

VGG = """
import torch.nn as nn

cfg = {
    "VGG11": [16, "M", 32, "M", 64, 64, "M"],
    "VGG13": [16, 16, "M", 32, 32, "M", 64, 64, "M"],
}


class VGG(nn.Module):
    # a small kuangliu-style VGG: layers built in a helper method from a dict
    def __init__(self, vgg_name="VGG11", classes=10):
        super(VGG, self).__init__()
        self.features = self._make_layers(cfg[vgg_name])
        self.classifier = nn.Linear(64 * 4 * 4, classes)

    def forward(self, x):
        out = self.features(x)
        out = out.view(out.size(0), -1)
        return self.classifier(out)

    def _make_layers(self, cfg):
        layers = []
        in_channels = 3
        for x in cfg:
            if x == "M":
                layers += [nn.MaxPool2d(kernel_size=2, stride=2)]
            else:
                layers += [
                    nn.Conv2d(in_channels, x, kernel_size=3, padding=1),
                    nn.BatchNorm2d(x),
                    nn.ReLU(inplace=True),
                ]
                in_channels = x
        layers += [nn.AvgPool2d(kernel_size=1, stride=1)]
        return nn.Sequential(*layers)
"""


@pytest.mark.parametrize(
    ("source", "name", "code"),
    [(CIFAR, "Net", None), (VGG, "VGG", None), (VGG, "VGG", 'VGG("VGG13", classes=7)')],
    ids=["cifar", "vgg11", "vgg13"],
)
def test_functional_models_agree_with_their_archive_and_torch(tmp_path, source, name, code):
    """Models with functional calls: the .py rows equal the .pt2's; the output and parameters torch's."""
    cls = _load(source, name, tmp_path / "m.py")
    namespace: dict = {}
    exec(compile(source, str(tmp_path / "m.py"), "exec"), namespace)
    model = (eval(code, namespace) if code else cls()).eval()
    example = torch.randn(1, 3, 32, 32)
    torch.export.save(torch.export.export(model, (example,)), str(tmp_path / "m.pt2"))
    from_py = read_model(
        str(tmp_path / "m.py"), None if code else name, code, given=(32, 32), channels=3
    ).summary
    from_pt2 = read_pt2(str(tmp_path / "m.pt2")).summary
    assert [(r.kind, r.shape, r.params, r.macs) for r in from_py.rows] == [
        (r.kind, r.shape, r.params, r.macs) for r in from_pt2.rows
    ]
    with torch.no_grad():
        assert from_py.output_shape == (1, *model(example).shape[1:])
    assert from_py.total_params == sum(p.numel() for p in model.parameters())


def test_a_failed_module_statement_surfaces_at_its_own_line(tmp_path):
    """A module-level name whose statement cannot be read is an error at that line when used."""
    source = (
        "import keras\nfrom keras import layers\n\n"
        "inputs = keras.Input(shape=(8, 8, 3))\n"
        "x = layers.Conv2D(4, 3)(inputs)\n"
        "y = layers.Concatenate()([x, x])\n"
        "x = layers.Flatten()(y)\n"
        "model = keras.Model(inputs, x)\n"
    )
    (tmp_path / "m.py").write_text(source, encoding="utf-8")
    with pytest.raises(ModelError, match=r"^.*m\.py:6: a concatenation \(layers\.Concatenate\)"):
        read_model(str(tmp_path / "m.py"), code="model")


def test_a_rebound_name_whose_statement_fails_is_not_the_old_value(tmp_path):
    """`net = A` then `net = B` with B unreadable: an error at B's line, never A (a regression)."""
    source = (
        "from torch import nn\nfrom mylib import Fancy\n\n"
        "net = nn.Sequential(nn.Conv2d(3, 4, 3))\n"
        "net = nn.Sequential(nn.Conv2d(3, 4, 5), Fancy())\n"
    )
    (tmp_path / "m.py").write_text(source, encoding="utf-8")
    with pytest.raises(ModelError, match=r"m\.py:5: convcli does not know Fancy \(mylib\.Fancy\)"):
        read_model(str(tmp_path / "m.py"), code="net", given=(8, 8), channels=3)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("nn.Sequential(*([nn.ReLU()] * 10**9))", "--code:1: a list of 1,000,000,000 items"),
        ("nn.Conv2d(3, 2**10**9, 3)", "--code:1: a power of 1000000000: not a layer size"),
        ("nn.Sequential(*[nn.ReLU() for i in range(20000)])", "the model has 20,000 layers"),
    ],
    ids=["list", "power", "layers"],
)
def test_source_that_would_not_end_is_refused(code, message):
    """Sizes no model has stop the reading at once (exit 2), before any memory or time is spent."""
    result = CliRunner().invoke(cli, ["shape", "--code", code, "--in", "8", "--channels", "3"])
    assert result.exit_code == 2
    assert message in result.stderr


def test_a_loop_without_end_in_a_constructor_stops(tmp_path):
    """A constructor that would loop 10¹² times stops after the statement budget, at its line."""
    from convcli.models.pysource import MAX_STEPS

    source = (
        "from torch import nn\n\n\nclass M(nn.Module):\n    def __init__(self):\n"
        "        super().__init__()\n        n = 0\n        for i in range(10**12):\n"
        "            n = n + 1\n        self.c = nn.Conv2d(3, 4, 3)\n"
    )
    (tmp_path / "m.py").write_text(source, encoding="utf-8")
    with pytest.raises(ModelError, match=rf"m\.py:9: more than {MAX_STEPS:,} statements run"):
        read_model(str(tmp_path / "m.py"), given=(8, 8), channels=3)


@pytest.mark.parametrize("decomposed", [False, True], ids=["training-ir", "core-aten"])
def test_a_training_mode_export_reads_like_eval(tmp_path, decomposed):
    """Exported in train mode (buffer updates in the graph and outputs), optionally decomposed to
    core ATen (convolution, addmm of a permuted weight, functional batch norm): torch's rows."""
    cls = _load(MODELS["residual"][0], "Net", tmp_path / "net.py")
    model = cls().train()
    example = torch.randn(2, 3, 37, 29)
    program = torch.export.export(model, (example,))
    if decomposed:
        with warnings.catch_warnings():  # torch's own deprecation inside run_decompositions
            warnings.simplefilter("ignore", FutureWarning)
            program = program.run_decompositions()
    torch.export.save(program, str(tmp_path / "net.pt2"))
    summary = read_pt2(str(tmp_path / "net.pt2")).summary
    assert _rows(summary) == _oracle(model.eval(), example)
