"""``convcli shape`` on ONNX models as ``torch.onnx.export`` writes them (issue 24, Found 1-3).

Models are built and exported here with the pinned CPU torch; the oracle of
every shape is a real forward pass (forward hooks), of every parameter count
the torch modules' own tensors, and of the receptive field the input pixels
whose gradient is non-zero for one output cell (all weights and inputs
positive, so no ReLU or max hides a path). Never convcli itself.
"""

from __future__ import annotations

import json
import warnings

import pytest
from click.testing import CliRunner
from terminal import run_piped

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
from torch import nn  # noqa: E402

from convcli.arithmetic.onnx_model import UnboundDimensionError, analyze_onnx  # noqa: E402
from convcli.cli import cli  # noqa: E402


def export(model, shape, path, dynamic=None):
    """Export ``model`` (eval mode) with the TorchScript exporter, as most models out there were."""
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (torch.rand(*shape),),
            str(path),
            dynamo=False,
            input_names=["x"],
            output_names=["y"],
            dynamic_axes={"x": dynamic, "y": {0: dynamic[0]}} if dynamic else None,
        )
    return str(path)


def hooked_shapes(model, x, kinds):
    """The output shape of each module of ``kinds``, in the order a forward pass runs them."""
    shapes = []
    handles = [
        m.register_forward_hook(lambda _m, _i, out: shapes.append(tuple(out.shape)))
        for m in model.modules()
        if isinstance(m, kinds)
    ]
    with torch.no_grad():
        model(x)
    for handle in handles:
        handle.remove()
    return shapes


def lenet():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2),
        nn.Sigmoid(),
        nn.AvgPool2d(2, 2),
        nn.Conv2d(6, 16, 5),
        nn.Sigmoid(),
        nn.AvgPool2d(2, 2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120),
        nn.Sigmoid(),
        nn.Linear(120, 84),
        nn.Sigmoid(),
        nn.Linear(84, 10),
    )


def test_dynamic_batch_stays_symbolic(tmp_path):
    """An exported model with a dynamic batch N: read (exit 0), N shown, counted as 1 with a note."""
    model = lenet()
    path = export(model, (1, 1, 28, 28), tmp_path / "lenet.onnx", {0: "N"})
    summary = analyze_onnx(path)
    oracle = hooked_shapes(model, torch.rand(3, 1, 28, 28), (nn.Conv2d, nn.AvgPool2d, nn.Linear))
    kept = [row for row in summary.rows if row.kind in ("conv", "avgpool", "linear")]
    assert [row.shown_shape for row in kept] == [("N", *shape[1:]) for shape in oracle]
    assert summary.shown_input == ("N", 1, 28, 28) and summary.shown_output == ("N", 10)
    assert summary.total_params == sum(p.numel() for p in model.parameters())
    bound = analyze_onnx(path, {"N": 3})
    assert [row.shape for row in bound.rows if row.kind == "conv"] == oracle[:1] + oracle[2:3]
    assert bound.total_macs == 3 * summary.total_macs
    code, out, err = run_piped(["shape", "lenet.onnx"], tmp_path, env={"COLUMNS": "100"})
    text = out.decode()
    assert code == 0, err
    assert "lenet.onnx: N×1×28×28 → N×10" in text and "N×6×28×28" in text
    assert "N is symbolic (the batch): MACs and memory are counted for N = 1" in err
    data = json.loads(CliRunner().invoke(cli, ["shape", path, "--json"]).stdout)
    assert data["input"] == ["N", 1, 28, 28] and data["layers"][0]["output"] == ["N", 6, 28, 28]


def test_symbolic_spatial_size_is_a_usage_error(tmp_path):
    """A symbolic H and W cannot be counted as 1: exit 2 (a usage problem), naming --dim."""
    path = export(lenet(), (1, 1, 28, 28), tmp_path / "hw.onnx", {0: "N", 2: "H", 3: "W"})
    with pytest.raises(UnboundDimensionError, match="--dim H="):
        analyze_onnx(path)
    assert analyze_onnx(path, {"H": 28, "W": 28}).shown_output == ("N", 10)
    result = CliRunner().invoke(cli, ["shape", path])
    assert result.exit_code == 2
    assert "give --in H W or --dim H=N" in result.stderr and "Traceback" not in result.stderr
    result = CliRunner().invoke(cli, ["shape", path, "--in", "28", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["layers"][0]["output"] == ["N", 6, 28, 28]


def test_matmul_add_bias_is_counted(tmp_path):
    """nn.Linear on a 3-D input exports as MatMul + Add: the Add's bias initializer is counted."""
    model = nn.Sequential(nn.Linear(16, 120), nn.ReLU(), nn.Linear(120, 10))
    path = export(model, (2, 5, 16), tmp_path / "mlp.onnx")
    import onnx

    ops = [node.op_type for node in onnx.load(path).graph.node]
    assert ops.count("MatMul") == 2 and ops.count("Add") == 2  # the form this test is about
    summary = analyze_onnx(path)
    assert summary.total_params == sum(p.numel() for p in model.parameters()) == 3250
    # each MatMul and the Add of its bias make one fc row, as nn.Linear is one layer
    assert [(row.config, row.params) for row in summary.rows] == [
        ("fc 120", 16 * 120 + 120),
        ("relu", 0),
        ("fc 10", 120 * 10 + 10),
    ]
    shapes = hooked_shapes(model, torch.rand(2, 5, 16), nn.Linear)
    assert [row.shape for row in summary.rows if row.kind == "linear"] == shapes


class Basic(nn.Module):
    """torchvision's BasicBlock, written out."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x):
        y = self.b2(self.c2(torch.relu(self.b1(self.c1(x)))))
        return torch.relu(y + (x if self.down is None else self.down(x)))


def small_resnet():
    """resnet18's stem and one stage of each kind (stride 1 identity, stride 2 projection)."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 7, 2, 3, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(3, 2, 1),
        Basic(8, 8, 1),
        Basic(8, 8, 1),
        Basic(8, 16, 2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 10),
    )


def gradient_field(body, size):
    """Receptive field and jump of ``body``'s output cells, from the gradient's support."""
    body = body.eval()
    with torch.no_grad():
        for p in body.parameters():
            p.abs_()
            p.add_(0.01)
    x = torch.rand(1, 3, size, size) + 0.1
    x.requires_grad_(True)
    out = body(x)
    h = out.shape[2] // 2
    starts = []
    for col in (h, h + 1):
        x.grad = None
        out[0, :, h, col].sum().backward(retain_graph=True)
        cols = torch.nonzero(x.grad[0].abs().sum(dim=(0, 1)) > 0).flatten()
        starts.append((int(cols.min()), int(cols.max()) - int(cols.min()) + 1))
    return starts[0][1], starts[1][0] - starts[0][0]


def test_folded_resnet_identity_nodes_bias_and_field(tmp_path):
    """BatchNorm folded by the exporter: no Identity rows, convs with their bias, RF through blocks."""
    model = small_resnet()
    path = export(model, (1, 3, 64, 64), tmp_path / "resnet.onnx", {0: "batch"})
    summary = analyze_onnx(path)
    assert "identity" not in [row.kind for row in summary.rows]
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    conv_rows = [row for row in summary.rows if row.kind == "conv"]
    # folded: each conv gains a bias of one value per filter (the BatchNorm's shift)
    assert [row.params for row in conv_rows] == [m.weight.numel() + m.out_channels for m in convs]
    fc = model[-1]
    assert summary.total_params == sum(r.params for r in conv_rows) + fc.weight.numel() + 10
    oracle = hooked_shapes(model, torch.rand(2, 3, 64, 64), nn.Conv2d)
    assert [row.shown_shape for row in conv_rows] == [("batch", *s[1:]) for s in oracle]
    # the field of the last block's output, against the gradient's support
    last = next(row for row in summary.rows if row.kind == "adaptiveavgpool")
    before = summary.rows[summary.rows.index(last) - 1]
    rf, jump = gradient_field(model[:7], 160)
    assert before.rf == (rf, rf) and before.jump == (jump, jump)
    assert all(row.rf is not None for row in summary.rows[: summary.rows.index(last) + 1])


class View(nn.Module):
    """``x.view(x.size(0), -1)``: the exporter writes Shape → Gather → Unsqueeze → Concat."""

    def forward(self, x):
        return x.view(x.size(0), -1)


class UpCat(nn.Module):
    """A U-Net step: upsample the deep branch, concatenate it with the skip, convolve."""

    def __init__(self, size=None):
        super().__init__()
        self.down = nn.Conv2d(4, 8, 3, 2, 1)
        self.up = nn.Upsample(scale_factor=2) if size is None else nn.Upsample(size=size)
        self.conv = nn.Conv2d(12, 4, 3, padding=1)

    def forward(self, x):
        return self.conv(torch.cat([x, self.up(self.down(x))], dim=1)) + x


def test_exporter_plumbing_pad_resize_concat(tmp_path):
    """Shape/Gather/Concat/Unsqueeze plumbing folded (no rows), Pad, Resize, Concat, residual Add."""
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.ZeroPad2d((1, 1, 0, 0)),
        UpCat(),
        nn.Upsample(size=(30, 40)),
        UpCat(size=(30, 40)),
        nn.Conv2d(4, 2, 3),
        View(),
        nn.Linear(2 * 28 * 38, 5),
    )
    path = export(model, (1, 3, 16, 16), tmp_path / "plumb.onnx", {0: "N"})
    summary = analyze_onnx(path)
    kinds = [row.kind for row in summary.rows]
    assert not {"shape", "gather", "unsqueeze", "constant", "constantofshape", "slice"} & set(kinds)
    kinds_seen = {"pad", "resize", "concat", "add", "flatten"}
    assert kinds_seen <= set(kinds)
    x = torch.rand(3, 3, 16, 16)
    oracle = hooked_shapes(model, x, (nn.ZeroPad2d, nn.Upsample, nn.Conv2d, UpCat, nn.Linear))
    shown = [
        row.shown_shape
        for row in summary.rows
        if row.kind in ("pad", "resize", "conv", "add", "linear")
    ]
    assert shown == [("N", *shape[1:]) for shape in oracle]
    assert summary.shown_output == ("N", 5)
    assert summary.total_params == sum(p.numel() for p in model.parameters())
